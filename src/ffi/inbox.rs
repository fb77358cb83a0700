//! `natsInbox_*`.
