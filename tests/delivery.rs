//! The shared delivery pool and the write deadline, against a real
//! nats-server (and, for the write deadline, a peer that stops reading).
//! This file owns the process-wide pool of its test binary.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{NatsServer, wait_for};
use nats::{Connection, ErrorKind, Options};

const T: Duration = Duration::from_secs(5);

#[test]
fn pool_serves_every_subscription_with_a_bounded_number_of_threads() {
    let srv = NatsServer::start();
    assert_eq!(
        nats::set_delivery_pool_size(0).unwrap_err().kind(),
        ErrorKind::InvalidArg
    );
    nats::set_delivery_pool_size(2).unwrap();
    nats::set_delivery_pool_size(1).unwrap(); // never shrinks
    assert_eq!(nats::delivery_pool_size().0, 2);
    let nc = Options::new()
        .url(&srv.url())
        .global_message_delivery(true)
        .connect()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let completed = Arc::new(AtomicUsize::new(0));
    let mut subs = Vec::new();
    for i in 0..5 {
        let (seen, threads) = (seen.clone(), threads.clone());
        let sub = nc
            .subscribe_with_handler("pool.x", move |m| {
                threads.lock().unwrap().insert(std::thread::current().id());
                seen.lock().unwrap().push((i, m.payload().to_vec()));
            })
            .unwrap();
        let c = completed.clone();
        sub.on_complete(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        subs.push(sub);
    }
    assert_eq!(
        nats::delivery_pool_size(),
        (2, 2),
        "workers start lazily up to the size"
    );
    for n in 0..20u8 {
        nc.publish("pool.x", &[n]).unwrap();
    }
    wait_for("100 deliveries", || seen.lock().unwrap().len() == 100);
    let seen = seen.lock().unwrap().clone();
    for i in 0..5 {
        let got: Vec<u8> = seen
            .iter()
            .filter(|(s, _)| *s == i)
            .map(|(_, p)| p[0])
            .collect();
        assert_eq!(
            got,
            (0..20).collect::<Vec<u8>>(),
            "subscription {i} in order"
        );
    }
    assert_eq!(threads.lock().unwrap().len(), 2);
    // Drained, unsubscribed and dropped subscriptions all complete once.
    subs[0].drain().unwrap();
    subs[0].wait_drained(Some(T)).unwrap();
    assert_eq!(subs[0].drain_status(), Some(Ok(())));
    subs[1].unsubscribe().unwrap();
    drop(subs.remove(2));
    wait_for("3 completions", || completed.load(Ordering::SeqCst) == 3);
    nc.close();
    wait_for("5 completions", || completed.load(Ordering::SeqCst) == 5);
    assert_eq!(nats::delivery_pool_size().1, 2);
}

/// Accepts one client, completes its handshake, then never reads again.
fn deaf_server() -> (u16, std::thread::JoinHandle<()>, Arc<Mutex<bool>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let stop = Arc::new(Mutex::new(false));
    let stop2 = stop.clone();
    let h = std::thread::spawn(move || {
        let _s = common::fake_handshake(
            &l,
            b"INFO {\"server_id\":\"deaf\",\"max_payload\":1048576,\"proto\":1}\r\n",
        );
        // Keep the socket open, unread, until the test is done (bounded).
        let deadline = Instant::now() + Duration::from_secs(20);
        while !*stop2.lock().unwrap() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (port, h, stop)
}

#[test]
fn write_deadline_fails_a_publish_and_drops_a_server_that_does_not_read() {
    let (port, server, stop) = deaf_server();
    let closed = Arc::new(AtomicUsize::new(0));
    let c = closed.clone();
    let nc = Options::new()
        .url(&format!("nats://127.0.0.1:{port}"))
        .write_deadline(Some(Duration::from_millis(200)))
        .allow_reconnect(false)
        .closed_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .connect()
        .unwrap();
    let payload = vec![b'x'; 64 * 1024];
    let mut failure = None;
    let mut sent = 0usize;
    // Bounded: 64 MiB is far more than the socket buffers plus our 8 MiB.
    for _ in 0..1024 {
        match nc.publish("deaf", &payload) {
            Ok(()) => sent += 1,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let e = failure.expect("a publish must fail against a server that does not read");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(sent > 0);
    wait_for("closed callback", || closed.load(Ordering::SeqCst) == 1);
    assert!(nc.is_closed());
    assert_eq!(nc.last_error().unwrap().kind(), ErrorKind::Timeout);
    *stop.lock().unwrap() = true;
    server.join().unwrap();
}

#[test]
fn without_write_deadline_a_full_buffer_makes_publish_wait_not_grow() {
    let (port, server, stop) = deaf_server();
    let nc = Connection::connect(&format!("nats://127.0.0.1:{port}")).unwrap();
    let publisher = {
        let nc = nc.clone();
        std::thread::spawn(move || {
            let payload = vec![b'y'; 64 * 1024];
            let mut n = 0usize;
            while n < 1024 && nc.publish("deaf", &payload).is_ok() {
                n += 1;
            }
            n
        })
    };
    // The publisher blocks once 8 MiB are queued: the buffer stays bounded.
    wait_for("the output buffer to fill", || {
        nc.buffered().is_some_and(|b| b >= 8 << 20)
    });
    let b = nc.buffered().unwrap();
    assert!(b < (8 << 20) + 128 * 1024, "buffered {b}");
    nc.close();
    let n = publisher.join().unwrap();
    assert!(n < 1024, "the publisher was released by close after {n}");
    *stop.lock().unwrap() = true;
    server.join().unwrap();
}
