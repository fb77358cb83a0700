//! Library-wide functions: `nats_*` and `natsStatus_GetText`.
