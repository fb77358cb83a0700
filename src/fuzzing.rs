//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not API).
