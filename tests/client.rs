//! Integration tests of the Rust API against a real nats-server.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{NatsServer, wait_for};
use nats::{ConnStatus, Connection, ErrorKind, Headers, Message, Options};

const T: Duration = Duration::from_secs(5);

#[test]
fn publish_subscribe_and_wildcards() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    assert_eq!(nc.status(), ConnStatus::Connected);
    let sub = nc.subscribe("a.*.c").unwrap();
    let all = nc.subscribe("a.>").unwrap();
    nc.publish("a.b.c", b"one").unwrap();
    nc.publish("a.x", b"two").unwrap();
    nc.publish_request("a.y.c", "reply.here", b"").unwrap();
    let m = sub.next_msg(T).unwrap();
    assert_eq!((m.subject(), m.payload()), ("a.b.c", &b"one"[..]));
    let m = sub.next_msg(T).unwrap();
    assert_eq!(m.subject(), "a.y.c");
    assert_eq!(m.reply(), Some("reply.here"));
    assert!(m.payload().is_empty());
    let got: Vec<String> = all
        .timeout_iter(T)
        .take(3)
        .map(|m| m.subject().to_string())
        .collect();
    assert_eq!(got, ["a.b.c", "a.x", "a.y.c"]);
    assert_eq!(
        sub.next_msg(Duration::from_millis(50)).unwrap_err().kind(),
        ErrorKind::Timeout
    );
}

#[test]
fn queue_group_delivers_each_message_once() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let q1 = nc.queue_subscribe("jobs", "workers").unwrap();
    let q2 = nc.queue_subscribe("jobs", "workers").unwrap();
    nc.flush().unwrap();
    for i in 0..200 {
        nc.publish("jobs", format!("{i}").as_bytes()).unwrap();
    }
    nc.flush().unwrap();
    let mut seen = Vec::new();
    for q in [&q1, &q2] {
        seen.extend(
            q.timeout_iter(Duration::from_millis(300))
                .map(|m| String::from_utf8(m.payload().to_vec()).unwrap()),
        );
    }
    seen.sort_by_key(|s| s.parse::<u32>().unwrap());
    let want: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    assert_eq!(seen, want);
    assert_eq!(
        nc.queue_subscribe("jobs", "bad queue").unwrap_err().kind(),
        ErrorKind::InvalidQueueName
    );
}

#[test]
fn request_reply_shares_one_inbox_subscription() {
    let mport = common::free_port();
    let srv = NatsServer::start_with_args(&["-m", &mport.to_string()]);
    let nc = Connection::connect(&srv.url()).unwrap();
    let responder = nc
        .subscribe_with_handler("echo", {
            let nc = nc.clone();
            move |m: Message| {
                let _ = nc.publish(m.reply().unwrap(), m.payload());
            }
        })
        .unwrap();
    for i in 0..20 {
        let body = format!("req {i}");
        let r = nc.request("echo", body.as_bytes(), T).unwrap();
        assert_eq!(r.payload(), body.as_bytes());
    }
    // Concurrent requests from several threads.
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let nc = nc.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let body = format!("t{t} {i}");
                    let r = nc.request("echo", body.as_bytes(), T).unwrap();
                    assert_eq!(r.payload(), body.as_bytes());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // One SUB for the responder, one for the request inbox: the server agrees.
    let subs = connz_subscriptions(mport);
    assert_eq!(
        subs,
        Some(2),
        "expected exactly 2 subscriptions on the server"
    );
    drop(responder);
    nc.flush().unwrap();
    assert_eq!(
        nc.request("echo", b"x", T).unwrap_err().kind(),
        ErrorKind::NoResponders
    );
}

/// Number of subscriptions the server reports for its only client, read
/// from its monitoring port.
fn connz_subscriptions(port: u16) -> Option<u64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET /connz HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let json = body.split("\r\n\r\n").nth(1)?;
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["connections"][0]["subscriptions"].as_u64()
}

#[test]
fn request_timeout_when_responder_is_silent() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let _silent = nc.subscribe("silent").unwrap();
    nc.flush().unwrap();
    let e = nc
        .request("silent", b"?", Duration::from_millis(100))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
}

#[test]
fn auto_unsubscribe_and_unsubscribe() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let sub = nc.subscribe("au").unwrap();
    sub.auto_unsubscribe(3).unwrap();
    for _ in 0..10 {
        nc.publish("au", b"x").unwrap();
    }
    nc.flush().unwrap();
    for _ in 0..3 {
        sub.next_msg(T).unwrap();
    }
    assert_eq!(
        sub.next_msg(T).unwrap_err().kind(),
        ErrorKind::MaxDeliveredMsgs
    );
    assert!(!sub.is_valid());

    let s2 = nc.subscribe("un").unwrap();
    s2.unsubscribe().unwrap();
    assert!(!s2.is_valid());
    assert_eq!(
        s2.unsubscribe().unwrap_err().kind(),
        ErrorKind::InvalidSubscription
    );
    assert_eq!(
        s2.next_msg(T).unwrap_err().kind(),
        ErrorKind::InvalidSubscription
    );
}

#[test]
fn async_handler_gets_messages_in_order() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let sub = nc
        .subscribe_with_handler("ord", move |m| {
            g.lock()
                .unwrap()
                .push(String::from_utf8(m.payload().to_vec()).unwrap())
        })
        .unwrap();
    for i in 0..500 {
        nc.publish("ord", i.to_string().as_bytes()).unwrap();
    }
    wait_for("500 messages", || got.lock().unwrap().len() == 500);
    let want: Vec<String> = (0..500).map(|i| i.to_string()).collect();
    assert_eq!(*got.lock().unwrap(), want);
    assert_eq!(sub.next_msg(T).unwrap_err().kind(), ErrorKind::IllegalState);
}

#[test]
fn pending_limits_and_max_pending() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let sub = nc.subscribe("pend").unwrap();
    assert_eq!(sub.pending_limits(), (Some(65536), Some(64 * 1024 * 1024)));
    sub.set_pending_limits(None, None);
    assert_eq!(sub.pending_limits(), (None, None));
    sub.set_pending_limits(Some(5), None);
    assert_eq!(sub.pending_limits(), (Some(5), None));
    for _ in 0..8 {
        nc.publish("pend", b"hello").unwrap();
    }
    nc.flush().unwrap();
    wait_for("8 messages seen", || {
        sub.pending().0 as u64 + sub.dropped() == 8
    });
    assert_eq!(sub.pending(), (5, 25));
    assert_eq!(sub.max_pending(), (5, 25));
    assert_eq!(sub.dropped(), 3);
    assert_eq!(sub.next_msg(T).unwrap_err().kind(), ErrorKind::SlowConsumer);
    for _ in 0..2 {
        sub.next_msg(T).unwrap();
    }
    assert_eq!((sub.pending(), sub.max_pending()), ((3, 15), (5, 25)));
    sub.clear_max_pending();
    assert_eq!(sub.max_pending(), (0, 0));
    nc.publish("pend", b"hello").unwrap();
    nc.flush().unwrap();
    wait_for("one more queued", || sub.pending().0 == 4);
    assert_eq!(sub.max_pending(), (4, 20));
    assert_eq!(sub.delivered(), 2);
}

#[test]
fn headers_round_trip() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let sub = nc.subscribe("h").unwrap();
    let mut h = Headers::new();
    h.insert("Key", "v1").unwrap();
    h.append("Key", "v2").unwrap();
    h.insert("key", "lower").unwrap();
    nc.publish_with_headers("h", &h, b"body").unwrap();
    let mut m = Message::new("h", b"msg body").unwrap();
    m.headers_mut().insert("X", "y").unwrap();
    nc.publish_message(&m).unwrap();
    let r = sub.next_msg(T).unwrap();
    let rh = r.headers().unwrap();
    assert_eq!(rh.get_all("Key").collect::<Vec<_>>(), ["v1", "v2"]);
    assert_eq!(rh.get("key"), Some("lower"));
    assert_eq!(r.payload(), b"body");
    let r2 = sub.next_msg(T).unwrap();
    assert_eq!(r2.headers().unwrap().get("X"), Some("y"));
    assert_eq!(r2.payload(), b"msg body");
}

#[test]
fn bad_input_gets_clear_errors() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    assert_eq!(
        nc.publish("", b"").unwrap_err().kind(),
        ErrorKind::InvalidSubject
    );
    assert_eq!(
        nc.publish("foo bar", b"x").unwrap_err().kind(),
        ErrorKind::InvalidSubject
    );
    assert_eq!(
        nc.publish("foo\r\nPUB x 1", b"x").unwrap_err().kind(),
        ErrorKind::InvalidSubject
    );
    assert_eq!(
        nc.publish_request("foo", "a b", b"").unwrap_err().kind(),
        ErrorKind::InvalidArg
    );
    for bad in ["", "foo..bar", "foo.", ".foo", "foo.>.bar", ">.foo"] {
        assert_eq!(
            nc.subscribe(bad).unwrap_err().kind(),
            ErrorKind::InvalidSubject,
            "{bad:?}"
        );
    }
    let max = nc.max_payload() as usize;
    assert!(max > 0);
    let big = vec![0u8; max + 1];
    let e = nc.publish("big", &big).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MaxPayload);
    assert!(!e.text().is_empty());
    // Still connected and working after all that.
    let sub = nc.subscribe("ok").unwrap();
    nc.publish("ok", &vec![1u8; max]).unwrap();
    assert_eq!(sub.next_msg(T).unwrap().payload().len(), max);
    assert_eq!(
        nc.flush_timeout(Duration::ZERO).unwrap_err().kind(),
        ErrorKind::InvalidTimeout
    );
}

#[test]
fn close_flushes_and_fires_closed_callback_once() {
    let srv = NatsServer::start();
    let receiver = Connection::connect(&srv.url()).unwrap();
    let sub = receiver.subscribe("cf").unwrap();
    receiver.flush().unwrap();
    let closed = Arc::new(AtomicUsize::new(0));
    let c = closed.clone();
    let nc = Options::new()
        .url(&srv.url())
        .closed_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .connect()
        .unwrap();
    for i in 0..1000 {
        nc.publish("cf", i.to_string().as_bytes()).unwrap();
    }
    nc.close();
    nc.close();
    assert_eq!(sub.timeout_iter(T).take(1000).count(), 1000);
    wait_for("closed callback", || closed.load(Ordering::SeqCst) == 1);
    assert_eq!(nc.status(), ConnStatus::Closed);
    assert_eq!(
        nc.publish("x", b"").unwrap_err().kind(),
        ErrorKind::ConnectionClosed
    );
    assert_eq!(nc.flush().unwrap_err().kind(), ErrorKind::ConnectionClosed);
    assert_eq!(
        nc.subscribe("x").unwrap_err().kind(),
        ErrorKind::ConnectionClosed
    );
    assert_eq!(
        nc.request("x", b"", T).unwrap_err().kind(),
        ErrorKind::ConnectionClosed
    );
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}

#[test]
fn closing_wakes_blocked_next_msg() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    let sub = Arc::new(nc.subscribe("never").unwrap());
    let s = sub.clone();
    let t = std::thread::spawn(move || s.next_msg(Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(50));
    nc.close();
    let r = t.join().unwrap();
    assert_eq!(r.unwrap_err().kind(), ErrorKind::ConnectionClosed);
}

#[test]
fn no_server_is_reported_quickly() {
    let port = common::free_port();
    let start = Instant::now();
    let e = Connection::connect(&format!("nats://127.0.0.1:{port}")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoServer);
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn connect_timeout_is_a_hard_deadline() {
    // A peer that accepts TCP but never sends INFO.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let start = Instant::now();
    let e = Options::new()
        .url(&format!("nats://127.0.0.1:{port}"))
        .timeout(Duration::from_millis(300))
        .connect()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoServer);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(290), "{took:?}");
    drop(l);
}

/// Serves one scripted client: sends INFO, reads CONNECT+PING, answers PONG,
/// then sends `garbage`, and reports whether the client closed its socket.
fn fake_server(garbage: &'static [u8]) -> (u16, std::thread::JoinHandle<bool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut s = common::fake_handshake(
            &l,
            b"INFO {\"server_id\":\"fake\",\"max_payload\":1024,\"proto\":1,\"headers\":true}\r\n",
        );
        s.write_all(garbage).unwrap();
        let mut buf = [0u8; 4096];
        // The client must drop the connection: read until EOF (bounded by the timeout).
        loop {
            match s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    });
    (port, h)
}

#[test]
fn garbage_from_the_socket_closes_cleanly() {
    for garbage in [
        &b"NOT A PROTOCOL LINE\r\n"[..],
        b"MSG foo 1 notanumber\r\n",
        b"MSG foo 1 99999999999999999999\r\n",
        b"\x00\xff\xfe garbage \x01\r\n",
        b"-ERR 'Unknown Protocol Operation'\r\n",
    ] {
        let (port, server) = fake_server(garbage);
        let closed = Arc::new(AtomicUsize::new(0));
        let c = closed.clone();
        let nc = Options::new()
            .url(&format!("nats://127.0.0.1:{port}"))
            .allow_reconnect(false)
            .closed_callback(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            })
            .error_callback(|_, _, _| {})
            .connect()
            .unwrap();
        if garbage.starts_with(b"-ERR") {
            // A server error is reported, not fatal by itself; this fake
            // server keeps the socket, so close it from our side.
            wait_for("last error", || nc.last_error().is_some());
            assert_eq!(nc.last_error().unwrap().kind(), ErrorKind::Other);
            nc.close();
        } else {
            wait_for("close on garbage", || nc.is_closed());
            let e = nc.last_error().unwrap();
            assert!(
                matches!(e.kind(), ErrorKind::ProtocolError | ErrorKind::LineTooLong),
                "{e:?}"
            );
        }
        assert!(server.join().unwrap(), "client did not close its socket");
        wait_for("closed callback", || closed.load(Ordering::SeqCst) == 1);
    }
}

#[test]
fn reconnects_after_server_restart_and_keeps_subscriptions() {
    let mut srv = NatsServer::start();
    let reconnected = Arc::new(AtomicUsize::new(0));
    let r = reconnected.clone();
    let nc = Options::new()
        .url(&srv.url())
        .reconnect_wait(Duration::from_millis(50))
        .max_reconnect(-1)
        .reconnected_callback(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .connect()
        .unwrap();
    let sub = nc.subscribe("rc").unwrap();
    nc.flush().unwrap();
    srv.stop();
    wait_for("reconnecting", || nc.status() == ConnStatus::Reconnecting);
    // Published while disconnected: buffered and sent after the reconnect.
    nc.publish("rc", b"while down").unwrap();
    srv.restart();
    wait_for("reconnected", || reconnected.load(Ordering::SeqCst) == 1);
    assert_eq!(sub.next_msg(T).unwrap().payload(), b"while down");
    nc.publish("rc", b"after").unwrap();
    assert_eq!(sub.next_msg(T).unwrap().payload(), b"after");
    assert_eq!(nc.statistics().reconnects, 1);
}

#[test]
fn stale_connection_is_detected_by_pings() {
    let srv = NatsServer::start();
    let nc = Options::new()
        .url(&srv.url())
        .ping_interval(Duration::from_millis(50))
        .max_pings_out(2)
        .allow_reconnect(false)
        .connect()
        .unwrap();
    srv.pause();
    wait_for("stale close", || nc.is_closed());
    srv.resume();
    assert_eq!(
        nc.last_error().map(|e| e.kind()),
        Some(ErrorKind::StaleConnection)
    );
}

#[test]
fn live_ping_interval_and_health() {
    let srv = NatsServer::start();
    let nc = Connection::connect(&srv.url()).unwrap();
    nc.set_ping_interval(Duration::from_millis(20));
    let h = nc.health();
    assert_eq!(h.ping_interval, Some(Duration::from_millis(20)));
    assert_eq!(h.status, ConnStatus::Connected);
    // With max 2 pings out, unanswered pings would make the connection stale
    // after 3 intervals; after 10 it is still healthy, so PONGs are processed.
    std::thread::sleep(Duration::from_millis(200));
    let h = nc.health();
    assert_eq!(h.status, ConnStatus::Connected);
    assert!(h.pings_out <= 1, "{h:?}");
    assert!(h.last_error.is_none(), "{h:?}");
    assert!(
        h.since_last_read.unwrap() < Duration::from_millis(200),
        "{h:?}"
    );
    assert!(nc.rtt().unwrap() < T);
}

/// `old_request_style`: each request gets its own inbox subscription, removed
/// after the reply; the shared request inbox is never created.
#[test]
fn old_style_requests_use_their_own_inbox() {
    let mport = common::free_port();
    let srv = NatsServer::start_with_args(&["-m", &mport.to_string()]);
    let nc = Options::new()
        .url(&srv.url())
        .old_request_style(true)
        .connect()
        .unwrap();
    let replies = Arc::new(Mutex::new(Vec::new()));
    let _responder = nc
        .subscribe_with_handler("old.echo", {
            let nc = nc.clone();
            let replies = replies.clone();
            move |m: Message| {
                let reply = m.reply().unwrap().to_string();
                // Recorded before the reply goes out: the requester checks
                // the record as soon as it has its last reply.
                replies.lock().unwrap().push(reply.clone());
                let _ = nc.publish(&reply, m.payload());
            }
        })
        .unwrap();
    for i in 0..5 {
        let body = format!("old {i}");
        let r = nc.request("old.echo", body.as_bytes(), T).unwrap();
        assert_eq!(r.payload(), body.as_bytes());
    }
    let replies = replies.lock().unwrap().clone();
    assert_eq!(replies.len(), 5);
    for r in &replies {
        // `_INBOX.<nuid>`: a fresh inbox, not `_INBOX.<nuid>.<token>`.
        assert_eq!(r.split('.').count(), 2, "{r}");
    }
    let mut distinct = replies.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5);
    assert_eq!(
        nc.request("old.nobody", b"?", T).unwrap_err().kind(),
        ErrorKind::NoResponders
    );
    // Only the responder's subscription is left on the server.
    nc.flush().unwrap();
    assert_eq!(connz_subscriptions(mport), Some(1));
}
