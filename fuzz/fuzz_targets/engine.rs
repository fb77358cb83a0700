//! The connection engine driven by a program of server bytes, writes,
//! socket losses, timer ticks and API calls (see `nats::fuzzing::engine`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nats::fuzzing::engine(data));
