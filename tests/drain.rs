//! Drain of subscriptions and connections, against a real nats-server.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{NatsServer, wait_for};
use nats::{ConnStatus, Connection, ErrorKind, Options};

const T: Duration = Duration::from_secs(5);

/// A gate a handler waits on until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cond: Condvar,
}

impl Gate {
    fn wait(&self) {
        let g = self.open.lock().unwrap();
        let (_g, r) = self.cond.wait_timeout_while(g, T, |o| !*o).unwrap();
        assert!(!r.timed_out(), "gate never opened");
    }
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cond.notify_all();
    }
}

#[test]
fn async_subscription_drain_delivers_what_was_sent_before_and_nothing_after() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let gate = Arc::new(Gate::default());
    let got = Arc::new(AtomicUsize::new(0));
    let (g, n) = (gate.clone(), got.clone());
    let sub = nc
        .subscribe_with_handler("drain.a", move |_| {
            g.wait();
            n.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let completed = Arc::new(AtomicUsize::new(0));
    let c = completed.clone();
    sub.on_complete(move || {
        c.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    assert_eq!(
        sub.wait_drained(Some(T)).unwrap_err().kind(),
        ErrorKind::IllegalState
    );
    assert!(sub.drain_status().is_none());
    nc.publish("drain.a", b"1").unwrap();
    nc.publish("drain.a", b"2").unwrap();
    nc.flush().unwrap();
    sub.drain_timeout(None).unwrap();
    sub.drain().unwrap(); // a second call is fine
    assert_eq!(
        sub.wait_drained(Some(Duration::from_millis(20)))
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    nc.publish("drain.a", b"3").unwrap(); // after the UNSUB: not delivered
    nc.flush().unwrap();
    gate.open();
    sub.wait_drained(None).unwrap();
    assert_eq!(sub.drain_status(), Some(Ok(())));
    assert_eq!(got.load(Ordering::SeqCst), 2);
    wait_for("completion callback", || {
        completed.load(Ordering::SeqCst) == 1
    });
    assert!(!sub.is_valid());
    assert_eq!(
        sub.drain().unwrap_err().kind(),
        ErrorKind::InvalidSubscription
    );
    // The connection stays usable.
    let again = nc.subscribe("drain.a").unwrap();
    nc.publish("drain.a", b"4").unwrap();
    assert_eq!(again.next_msg(T).unwrap().payload(), b"4");
    assert_eq!(got.load(Ordering::SeqCst), 2);
    assert_eq!(completed.load(Ordering::SeqCst), 1);
}

#[test]
fn sync_subscription_drain_completes_with_its_last_read() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let sub = nc.subscribe("drain.s").unwrap();
    let capped = nc.subscribe("drain.s").unwrap();
    capped.auto_unsubscribe(2).unwrap();
    for i in 0..2 {
        nc.publish("drain.s", format!("{i}").as_bytes()).unwrap();
    }
    nc.flush().unwrap();
    sub.drain().unwrap();
    capped.drain().unwrap(); // auto-unsubscribed at its max, still has 2 queued
    assert_eq!(
        sub.wait_drained(Some(Duration::from_millis(50)))
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    nc.publish("drain.s", b"late").unwrap();
    nc.flush().unwrap();
    for s in [&sub, &capped] {
        assert_eq!(s.next_msg(T).unwrap().payload(), b"0");
        assert!(s.drain_status().is_none());
        assert_eq!(s.next_msg(T).unwrap().payload(), b"1");
        s.wait_drained(Some(T)).unwrap();
        assert_eq!(s.drain_status(), Some(Ok(())));
        assert_eq!(
            s.next_msg(Duration::from_millis(10)).unwrap_err().kind(),
            ErrorKind::InvalidSubscription
        );
        assert_eq!(s.pending(), (0, 0));
        assert_eq!(s.delivered(), 2);
    }
}

#[test]
fn subscription_drain_limit_closes_it_with_timeout() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let sub = nc.subscribe("drain.t").unwrap();
    for _ in 0..3 {
        nc.publish("drain.t", b"x").unwrap();
    }
    nc.flush().unwrap();
    let start = Instant::now();
    sub.drain_timeout(Some(Duration::from_millis(100))).unwrap();
    sub.wait_drained(Some(T)).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(
        sub.drain_status().unwrap().unwrap_err().kind(),
        ErrorKind::Timeout
    );
    assert!(!sub.is_valid());
}

#[test]
fn unsubscribe_during_drain_stops_it() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let sub = nc.subscribe("drain.u").unwrap();
    for _ in 0..3 {
        nc.publish("drain.u", b"x").unwrap();
    }
    nc.flush().unwrap();
    sub.drain().unwrap();
    sub.next_msg(T).unwrap();
    sub.unsubscribe().unwrap();
    sub.wait_drained(Some(T)).unwrap();
    assert_eq!(
        sub.drain_status().unwrap().unwrap_err().kind(),
        ErrorKind::InvalidSubscription
    );
}

#[test]
fn connection_drain_delivers_everything_then_closes_once() {
    let srv = NatsServer::start();
    let closed = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let (c, e) = (closed.clone(), errors.clone());
    let opts = Options::new()
        .url(&srv.url())
        .closed_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .error_callback(move |_, _, _| {
            e.fetch_add(1, Ordering::SeqCst);
        });
    let nc = Connection::connect_with(opts).unwrap();
    // Idle: a drain just closes.
    let idle = Connection::connect(&srv.url()).unwrap();
    idle.drain().unwrap();
    idle.wait_drained(Some(T)).unwrap();
    assert!(idle.is_closed());

    let gate = Arc::new(Gate::default());
    let handled = Arc::new(AtomicUsize::new(0));
    let (g, h, me) = (gate.clone(), handled.clone(), nc.clone());
    let sub = nc
        .subscribe_with_handler("drain.c", move |m| {
            g.wait();
            h.fetch_add(1, Ordering::SeqCst);
            // Replies are published while draining the subscriptions.
            if let Some(reply) = m.reply() {
                me.publish(reply, m.payload()).unwrap();
            }
        })
        .unwrap();
    for _ in 0..10 {
        nc.publish("drain.c", b"job").unwrap();
    }
    // A request in flight while draining still gets its reply (the request
    // inbox is drained last).
    let requester = {
        let nc = nc.clone();
        std::thread::spawn(move || nc.request("drain.c", b"ping", T))
    };
    wait_for("the request to go out", || nc.statistics().out_msgs >= 11);
    nc.flush().unwrap();
    nc.drain_timeout(None).unwrap();
    assert!(nc.is_draining());
    assert_eq!(nc.status(), ConnStatus::DrainingSubs);
    nc.drain().unwrap(); // a second call is fine
    assert_eq!(
        nc.subscribe("drain.new").unwrap_err().kind(),
        ErrorKind::Draining
    );
    assert_eq!(sub.drain().unwrap_err().kind(), ErrorKind::Draining);
    nc.publish("drain.other", b"still fine").unwrap();
    gate.open();
    nc.wait_drained(Some(T)).unwrap();
    assert_eq!(requester.join().unwrap().unwrap().payload(), b"ping");
    assert_eq!(handled.load(Ordering::SeqCst), 11);
    assert_eq!(sub.drain_status(), Some(Ok(())));
    assert!(nc.is_closed());
    assert!(!nc.is_draining());
    wait_for("closed callback", || closed.load(Ordering::SeqCst) == 1);
    nc.close();
    assert_eq!(closed.load(Ordering::SeqCst), 1);
    assert_eq!(errors.load(Ordering::SeqCst), 0);
    assert_eq!(nc.drain().unwrap_err().kind(), ErrorKind::ConnectionClosed);
    assert_eq!(
        nc.publish("x", b"").unwrap_err().kind(),
        ErrorKind::ConnectionClosed
    );
}

#[test]
fn connection_drain_limit_reports_timeout_and_closes() {
    let srv = NatsServer::start();
    let texts = Arc::new(Mutex::new(Vec::new()));
    let t = texts.clone();
    let opts = Options::new()
        .url(&srv.url())
        .error_callback(move |_, _, e| t.lock().unwrap().push((e.kind(), e.text().to_string())));
    let nc = Connection::connect_with(opts).unwrap();
    let gate = Arc::new(Gate::default());
    let g = gate.clone();
    let sub = nc
        .subscribe_with_handler("drain.slow", move |_| g.wait())
        .unwrap();
    for _ in 0..3 {
        nc.publish("drain.slow", b"x").unwrap();
    }
    nc.flush().unwrap();
    nc.drain_timeout(Some(Duration::from_millis(100))).unwrap();
    assert_eq!(
        nc.wait_drained(Some(T)).unwrap_err().kind(),
        ErrorKind::Timeout
    );
    assert!(nc.is_closed());
    gate.open();
    sub.wait_drained(Some(T)).unwrap();
    assert_eq!(
        sub.drain_status().unwrap().unwrap_err().kind(),
        ErrorKind::Timeout
    );
    wait_for("the drain error", || !texts.lock().unwrap().is_empty());
    let texts = texts.lock().unwrap();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].0, ErrorKind::Timeout);
    assert_eq!(
        texts[0].1,
        "Drain error: timeout waiting for subscriptions to drain: 26 (Timeout)"
    );
}

#[test]
fn drain_refused_while_reconnecting() {
    let mut srv = NatsServer::start();
    let opts = Options::new()
        .url(&srv.url())
        .reconnect_wait(Duration::from_millis(50));
    let nc = Connection::connect_with(opts).unwrap();
    srv.stop();
    wait_for("reconnecting", || nc.status() == ConnStatus::Reconnecting);
    assert_eq!(nc.drain().unwrap_err().kind(), ErrorKind::IllegalState);
}
