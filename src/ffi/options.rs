//! `natsOptions_*`.
