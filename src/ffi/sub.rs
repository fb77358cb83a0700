//! `natsSubscription_*`.
