//! Memory stays bounded when a subscriber cannot keep up: its pending
//! limits drop what does not fit (reported once per slow-consumer episode),
//! whatever the publisher sends. (The reconnect buffer's bound is checked in
//! tests/health.rs.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{NatsServer, rss, wait_for};
use nats::{ErrorKind, Options};

#[test]
fn slow_subscriber_is_bounded_by_its_pending_limits() {
    let server = NatsServer::start();
    let slow = Arc::new(AtomicUsize::new(0));
    let s2 = slow.clone();
    let nc = Options::new()
        .url(&server.url())
        .error_callback(move |_, _, e| {
            if e.kind() == ErrorKind::SlowConsumer {
                s2.fetch_add(1, Ordering::SeqCst);
            }
        })
        .connect()
        .expect("connect");
    let sub = nc.subscribe("flood").expect("subscribe");
    sub.set_pending_limits(Some(1000), Some(1 << 20));
    let publisher = Options::new()
        .url(&server.url())
        .connect()
        .expect("publisher");
    let payload = vec![7u8; 1024];
    // Warm up allocations, then measure: 200 MiB sent to a subscriber that
    // reads nothing must not grow the process by more than a few MiB.
    for _ in 0..2_000 {
        publisher.publish("flood", &payload).expect("publish");
    }
    publisher.flush().expect("flush");
    wait_for("the first messages", || sub.pending().0 > 0);
    let before = rss();
    for _ in 0..200_000 {
        publisher.publish("flood", &payload).expect("publish");
    }
    publisher.flush().expect("flush");
    nc.flush_timeout(Duration::from_secs(10))
        .expect("all delivered or dropped");
    let grown = rss().saturating_sub(before);
    let (msgs, bytes) = sub.pending();
    assert!(
        msgs <= 1000 && bytes <= 1 << 20,
        "pending {msgs} msgs / {bytes} bytes"
    );
    let dropped = sub.dropped();
    assert!(dropped > 100_000, "dropped {dropped}");
    assert!(grown < 48 << 20, "RSS grew by {} MiB", grown >> 20);
    assert_eq!(slow.load(Ordering::SeqCst), 1, "one report per episode");
    // As nats.c: the next read reports the drops once, then messages follow.
    let e = sub
        .next_msg(Duration::from_secs(1))
        .expect_err("drops reported");
    assert_eq!(e.kind(), ErrorKind::SlowConsumer);
    let m = sub
        .next_msg(Duration::from_secs(1))
        .expect("a pending message");
    assert_eq!(m.payload().len(), 1024);
    eprintln!(
        "bounded: sent 202000 x 1 KiB, pending {msgs} msgs, dropped {dropped}, RSS +{} KiB",
        grown >> 10
    );
}
