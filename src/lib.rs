//! libnats-rs: a NATS client written in Rust.
//!
//! It is two things at once:
//! - a drop-in replacement for the official C client, nats.c: the library builds
//!   as `libnats.so`/`libnats.a` with nats.c's API (`#include <nats/nats.h>`);
//! - a plain blocking Rust client: [`Options`], [`Connection`],
//!   [`Subscription`], [`Message`], [`Headers`] and one [`Error`] type.
//!
//! Sockets are served by a small pool of mio event loops shared by all
//! connections (no threads per connection); the connection logic is a sans-I/O
//! state machine; callbacks run on dedicated threads, never on an io loop, so
//! a busy application never looks stale to the server.
//!
//! # Quick start
//! ```no_run
//! use std::time::Duration;
//!
//! let nc = nats::Connection::connect("nats://127.0.0.1:4222")?;
//! let sub = nc.subscribe("greet.*")?;
//! nc.publish("greet.joe", b"hello")?;
//! let msg = sub.next_msg(Duration::from_secs(1))?;
//! println!("{}: {}", msg.subject(), String::from_utf8_lossy(msg.payload()));
//!
//! // Request/reply
//! let _responder = nc.subscribe_with_handler("time", {
//!     let nc = nc.clone();
//!     move |m| {
//!         if let Some(r) = m.reply() {
//!             let _ = nc.publish(r, b"noon");
//!         }
//!     }
//! })?;
//! let answer = nc.request("time", b"", Duration::from_secs(1))?;
//! assert_eq!(answer.payload(), b"noon");
//! # Ok::<(), nats::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]

mod auth;
mod connection;
mod delivery;
mod dispatch;
mod driver;
mod engine;
pub mod error;
mod evloop;
pub mod ffi;
mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod headers;
mod message;
mod msgq;
mod nuid;
mod options;
mod pool;
pub(crate) mod proto;
mod subject;
mod threads;
mod tls;

pub use auth::{SignatureHandler, TokenHandler, UserJwtHandler};
pub use connection::{ConnStatus, Connection, Health, Iter, Subscription, TimeoutIter};
pub use delivery::{pool_size as delivery_pool_size, set_pool_size as set_delivery_pool_size};
pub use driver::set_io_threads;
pub use engine::Statistics;
pub use error::{Error, ErrorKind, Result};
pub use evloop::process_close_event;
pub use headers::Headers;
pub use message::Message;
pub use options::{
    ConnCallback, DEFAULT_URL, ErrorCallback, EventLoop, Options, ReconnectDelayCallback,
};
pub use proto::ServerInfo;

/// Signs `data` with an encoded NKey seed (`SU...`): the raw 64-byte
/// Ed25519 signature, as `nats_Sign`.
///
/// # Errors
/// `InvalidArg` if the seed is not a valid NKey seed.
pub fn sign(seed: &str, data: &[u8]) -> Result<Vec<u8>> {
    auth::sign_with_seed(seed, data)
}

/// A new unique inbox subject (`_INBOX.` followed by a unique id).
pub fn new_inbox() -> String {
    format!("_INBOX.{}", nuid::next())
}
