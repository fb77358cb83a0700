//! `natsConnection_*`.
