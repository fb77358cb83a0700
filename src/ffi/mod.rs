//! The C API: nats.c's functions, names, statuses and ownership rules.
//!
//! This layer holds no logic. Each function checks its pointers, converts the
//! types, calls the Rust API, maps [`crate::Error`] to `natsStatus`, records the
//! thread's last error, and catches panics so that nothing unwinds into C.
#![allow(non_camel_case_types, non_snake_case)]

pub(crate) mod status;

pub use status::natsStatus;
pub(crate) use status::status_code;
