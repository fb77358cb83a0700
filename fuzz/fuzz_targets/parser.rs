//! The protocol parser on arbitrary server bytes, split in several ways
//! (see `nats::fuzzing::parse`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nats::fuzzing::parse(data));
