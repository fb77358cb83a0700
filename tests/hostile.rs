//! A hostile server: garbage, truncated and oversized lines, absurd message
//! sizes, endless INFO, -ERR floods, half-written messages, refusals. The
//! client must never panic, hang or grow without bound; it reports what
//! nats.c reports (the connect error, or a disconnection followed by a
//! reconnection to the next attempt), except where our documented behaviour
//! differs (natsc-defects.md, README "Where we differ").
//!
//! The scripted server is `common/hostile.rs`. The tests run one at a time
//! (they share the process's event thread, and one measures memory).

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hostile::{Conn, Flood, INFO, Peer};
use nats::{ConnStatus, Connection, Error, ErrorKind, Options};

/// Upper bound for any single wait in these tests.
const T: Duration = Duration::from_secs(10);
/// More than the kernel can buffer on a loopback connection (send plus
/// receive buffers are a few MiB): a flood this long only ends early if the
/// client closes.
const FLOOD: usize = 64 << 20;
/// What a peer may write before the client's close stops it: the client's
/// line limit (1 MiB at most) plus the kernel's buffers, with margin.
const FLOOD_BOUND: usize = 24 << 20;

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the tests one at a time (a failed test must not stop the others).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Connection callbacks seen, with the connection's last error kind at that
/// moment, and the async errors.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(&'static str, Option<ErrorKind>)>>,
    errors: Mutex<Vec<Error>>,
    cond: Condvar,
}

impl Recorder {
    fn push(&self, what: &'static str, nc: &Connection) {
        let kind = nc.last_error().map(|e| e.kind());
        self.events.lock().unwrap().push((what, kind));
        self.cond.notify_all();
    }

    /// Waits until `what` happened `n` times; returns the error kinds
    /// recorded with each.
    fn wait(&self, what: &str, n: usize) -> Vec<Option<ErrorKind>> {
        let deadline = Instant::now() + T;
        let mut ev = self.events.lock().unwrap();
        loop {
            let seen: Vec<_> = ev.iter().filter(|e| e.0 == what).map(|e| e.1).collect();
            if seen.len() >= n {
                return seen;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what} #{n}: {ev:?}");
            ev = self.cond.wait_timeout(ev, left).unwrap().0;
        }
    }

    fn count(&self, what: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.0 == what)
            .count()
    }

    fn error_count(&self) -> usize {
        self.errors.lock().unwrap().len()
    }

    fn options(self: &Arc<Self>, url: &str) -> Options {
        let (a, b, c, d) = (self.clone(), self.clone(), self.clone(), self.clone());
        Options::new()
            .url(url)
            .timeout(Duration::from_secs(2))
            .reconnect_wait(Duration::from_millis(10))
            .reconnect_jitter(Duration::ZERO)
            .max_reconnect(20)
            .ping_interval(Duration::from_secs(60))
            .disconnected_callback(move |nc| a.push("disconnected", nc))
            .reconnected_callback(move |nc| b.push("reconnected", nc))
            .closed_callback(move |nc| c.push("closed", nc))
            .error_callback(move |_, _, e| {
                d.errors.lock().unwrap().push(e.clone());
                d.cond.notify_all();
            })
    }
}

/// What a scripted connection ended with.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// The client closed the connection.
    client_closed: bool,
    /// The outcome of a flood, if the script flooded.
    flood: Option<Flood>,
}

fn closed(client_closed: bool) -> Seen {
    Seen {
        client_closed,
        flood: None,
    }
}

/// A first connect to a peer that does `script` on every connection fails
/// quickly with `kind`; returns the error and the scripts' results.
fn failed_connect(
    timeout: Duration,
    script: impl FnMut(usize, &mut Conn) -> Seen + Send + 'static,
) -> (Error, Duration, Vec<Seen>) {
    let peer = Peer::start(script);
    let t0 = Instant::now();
    let err = Options::new()
        .url(&peer.url())
        .timeout(timeout)
        .connect()
        .expect_err("the connect must fail");
    let took = t0.elapsed();
    let seen = peer.finish();
    (err, took, seen)
}

/// A well-formed server after `n` misbehaving connections: the script for
/// connection `i < n` runs `bad(i, conn)` (after the handshake and after the
/// client's `SUB`s, if `subs` is given), later connections get `welcome`
/// (if any) and are then served properly. Each connection after the first waits for the client to have
/// reported the previous disconnection, so the cause it saw is still the
/// one we caused (no reconnection clears it yet).
fn misbehave_then_serve(
    rec: &Arc<Recorder>,
    n: usize,
    subs: &'static [u8],
    welcome: &'static [u8],
    mut bad: impl FnMut(usize, &mut Conn) -> Seen + Send + 'static,
) -> Peer<Seen> {
    let rec = rec.clone();
    Peer::start(move |i, c| {
        if i > 0 {
            rec.wait("disconnected", i);
        }
        if !c.handshake(INFO) || !c.read_until(subs) {
            return Seen::default();
        }
        if i < n {
            bad(i, c)
        } else {
            if !welcome.is_empty() {
                c.send(welcome);
            }
            c.serve();
            closed(true)
        }
    })
}

/// The message a well-behaved connection sends first in some tests.
const DONE: &[u8] = b"MSG foo 1 4\r\ndone\r\n";

/// The client reported `n` disconnections caused by `kind` and reconnected
/// each time; it is connected and usable now.
fn assert_reconnected_after(rec: &Recorder, nc: &Connection, n: usize, kind: ErrorKind) {
    let causes = rec.wait("disconnected", n);
    rec.wait("reconnected", n);
    assert_eq!(causes, vec![Some(kind); n], "disconnection causes");
    nc.flush_timeout(T).expect("flush after the reconnections");
    assert_eq!(nc.status(), ConnStatus::Connected);
    assert_eq!(rec.count("closed"), 0);
}

// ---------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------

/// A peer that sends `first` instead of INFO: the first connect fails
/// with `NoServer` well within 2 s, after one attempt, and the client
/// closes the socket. Returns the error.
fn first_bytes_fail_the_connect(first: &'static [u8], timeout: Duration) -> Error {
    let (err, took, seen) = failed_connect(timeout, move |_, c| {
        c.send(first);
        closed(c.expect_close())
    });
    assert_eq!(err.kind(), ErrorKind::NoServer, "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(seen.len(), 1, "one attempt");
    assert!(seen[0].client_closed, "the client closed the socket");
    err
}

/// Garbage where INFO should be: the connect fails at once, the socket is
/// dropped. nats.c returns NATS_PROTOCOL_ERROR; we report a failed first
/// connect as `NoServer` (Options::connect docs) with the parser's reason.
#[test]
fn garbage_instead_of_info_fails_the_connect() {
    let _s = serial();
    for garbage in [
        &b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\r\n",
    ] {
        let err = first_bytes_fail_the_connect(garbage, Duration::from_secs(5));
        assert!(err.text().contains("unknown operation"), "{err}");
    }
}

/// A valid operation other than INFO first (PONG, +OK, PING, a MSG): the
/// connect fails within its timeout, never hangs.
#[test]
fn other_operation_instead_of_info_fails_within_the_timeout() {
    let _s = serial();
    for first in [
        &b"PONG\r\n"[..],
        b"+OK\r\n",
        b"PING\r\n",
        b"MSG a 1 2\r\nhi\r\n",
    ] {
        first_bytes_fail_the_connect(first, Duration::from_millis(300));
    }
}

/// nats.c fails at once with NATS_PROTOCOL_ERROR; so does the attempt
/// here (the first connect reports it as `NoServer` with that reason),
/// without waiting out the connect timeout.
#[test]
fn other_operation_instead_of_info_fails_fast() {
    let _s = serial();
    let (err, took, _) = failed_connect(Duration::from_secs(5), |_, c| {
        c.send(b"PONG\r\n");
        closed(c.expect_close())
    });
    assert!(took < Duration::from_secs(1), "took {took:?}: {err}");
    assert!(!err.text().contains("timed out"), "{err}");
    assert!(err.text().contains("expected INFO"), "{err}");
}

/// A truncated INFO, then the server closes: the connect fails at once.
#[test]
fn truncated_info_then_close_fails_the_connect() {
    let _s = serial();
    for partial in [&b"INFO {\"server_id\":\"x\""[..], b"INF", b"INFO {}\r"] {
        let (err, took, _) = failed_connect(Duration::from_secs(5), move |_, c| {
            c.send(partial);
            c.close();
            closed(true)
        });
        assert_eq!(err.kind(), ErrorKind::NoServer, "{err}");
        assert!(err.text().contains("closed"), "{err}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }
}

/// An INFO line that never ends: cut off at the 1 MiB INFO limit; the peer
/// cannot push more than that plus the socket buffers.
#[test]
fn endless_info_at_handshake_is_cut_off() {
    let _s = serial();
    let (err, took, seen) = failed_connect(Duration::from_secs(5), |_, c| Seen {
        client_closed: true,
        flood: Some(c.flood(b"INFO {\"server_id\":\"", &[b'a'; 64 * 1024], FLOOD)),
    });
    assert_eq!(err.kind(), ErrorKind::NoServer, "{err}");
    assert!(err.text().contains("too long"), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let flood = seen[0].flood.expect("flooded");
    assert!(flood.client_gone, "the client never closed: {flood:?}");
    assert!(flood.written < FLOOD_BOUND, "{flood:?}");
    assert!(
        flood.written > 1 << 20,
        "cut before the INFO limit: {flood:?}"
    );
}

/// `-ERR 'Authorization Violation'` in answer to CONNECT: `AuthFailed` with
/// the server's text, at once, even if the server keeps the socket open.
#[test]
fn authorization_violation_at_handshake_is_auth_failed() {
    let _s = serial();
    for close_after in [true, false] {
        let (err, took, seen) = failed_connect(Duration::from_secs(5), move |_, c| {
            c.send(INFO);
            c.read_until(b"PING\r\n");
            c.send(b"-ERR 'Authorization Violation'\r\n");
            if close_after {
                c.close();
                closed(true)
            } else {
                closed(c.expect_close())
            }
        });
        assert_eq!(err.kind(), ErrorKind::AuthFailed, "{err}");
        assert!(err.text().contains("Authorization Violation"), "{err}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert_eq!(seen.len(), 1, "one attempt");
        assert!(seen[0].client_closed);
    }
}

// ---------------------------------------------------------------------------
// After the handshake
// ---------------------------------------------------------------------------

/// Garbage from a connected server: protocol error, disconnection, and a
/// reconnection (nats.c: `_processOpError` on a parse error).
#[test]
fn garbage_after_the_handshake_reconnects() {
    let _s = serial();
    let rec = Arc::new(Recorder::default());
    let peer = misbehave_then_serve(&rec, 2, b"", b"", |i, c| {
        c.send(if i == 0 {
            &b"\x00\xffGARBAGE\r\n"[..]
        } else {
            b"PING\r\nPONG extra\r\n"
        });
        closed(c.expect_close())
    });
    let nc = rec.options(&peer.url()).connect().expect("connect");
    assert_reconnected_after(&rec, &nc, 2, ErrorKind::ProtocolError);
    nc.close();
    let seen = peer.finish();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.client_closed));
}

/// A control line cut short, then the server closes: the cause is the EOF
/// (`ConnectionClosed`), the client reconnects.
#[test]
fn truncated_control_lines_then_close_reconnect() {
    const CUT: [&[u8]; 6] = [
        b"MSG foo 1",
        b"INFO {\"server_id\":\"x\"",
        b"PIN",
        b"-ERR 'Stale Conn",
        b"HMSG foo 1 12",
        b"PONG\r",
    ];
    let _s = serial();
    let rec = Arc::new(Recorder::default());
    let peer = misbehave_then_serve(&rec, CUT.len(), b"", b"", |i, c| {
        c.send(CUT[i]);
        c.close();
        closed(true)
    });
    let nc = rec.options(&peer.url()).connect().expect("connect");
    assert_reconnected_after(&rec, &nc, CUT.len(), ErrorKind::ConnectionClosed);
    nc.close();
    assert_eq!(peer.finish().len(), CUT.len() + 1);
}

/// Several MiB without a newline after the handshake: cut off at the 4 KiB
/// control-line limit (`LineTooLong`), then a reconnection.
#[test]
fn oversized_control_line_is_cut_off() {
    const HEADS: [&[u8]; 3] = [b"-ERR '", b"MSG foo 1 ", b"PING"];
    let _s = serial();
    let rec = Arc::new(Recorder::default());
    let peer = misbehave_then_serve(&rec, HEADS.len(), b"", b"", |i, c| {
        let body: &[u8] = if i == 1 {
            &[b'9'; 64 * 1024]
        } else {
            &[b' '; 64 * 1024]
        };
        Seen {
            client_closed: true,
            flood: Some(c.flood(HEADS[i], body, FLOOD)),
        }
    });
    let nc = rec.options(&peer.url()).connect().expect("connect");
    assert_reconnected_after(&rec, &nc, HEADS.len(), ErrorKind::LineTooLong);
    nc.close();
    for s in peer.finish().iter().take(HEADS.len()) {
        let f = s.flood.expect("flooded");
        assert!(f.client_gone, "the client never closed: {f:?}");
        assert!(f.written < FLOOD_BOUND, "{f:?}");
    }
}

/// One INFO that never ends after the handshake: cut off at the 1 MiB INFO
/// limit, then a reconnection.
#[test]
fn one_info_that_never_ends_is_cut_off() {
    let _s = serial();
    let rec = Arc::new(Recorder::default());
    let peer = misbehave_then_serve(&rec, 1, b"", b"", |_, c| Seen {
        client_closed: true,
        flood: Some(c.flood(b"INFO {\"connect_urls\":[\"", &[b'x'; 64 * 1024], FLOOD)),
    });
    let nc = rec.options(&peer.url()).connect().expect("connect");
    assert_reconnected_after(&rec, &nc, 1, ErrorKind::LineTooLong);
    nc.close();
    let f = peer.finish()[0].flood.expect("flooded");
    assert!(f.client_gone, "{f:?}");
    assert!(f.written > 1 << 20 && f.written < FLOOD_BOUND, "{f:?}");
}

/// MSG/HMSG sizes far beyond max_payload, negative, not numbers, or a
/// header larger than the total: protocol errors, nothing allocated for
/// them, nothing delivered; after reconnecting, a real message arrives on
/// the replayed subscription.
#[test]
fn absurd_message_sizes_are_protocol_errors() {
    const BAD: [&[u8]; 6] = [
        b"MSG foo 1 4000000000\r\n",
        b"MSG foo 1 18446744073709551616\r\n",
        b"MSG foo 1 -1\r\nx\r\n",
        b"MSG foo 1 12x\r\n",
        b"HMSG foo 1 5 4000000000\r\n",
        b"HMSG foo 1 10 5\r\nNATS/1.0\r\n",
    ];
    let _s = serial();
    let rec = Arc::new(Recorder::default());
    let peer = misbehave_then_serve(&rec, BAD.len(), b"SUB foo 1\r\n", DONE, |i, c| {
        c.send(BAD[i]);
        closed(c.expect_close())
    });
    let nc = rec.options(&peer.url()).connect().expect("connect");
    let sub = nc.subscribe("foo").expect("subscribe");
    assert_eq!(sub.sid(), 1);
    assert_reconnected_after(&rec, &nc, BAD.len(), ErrorKind::ProtocolError);
    let m = sub.next_msg(T).expect("the good message");
    assert_eq!(m.payload(), b"done");
    assert_eq!(sub.delivered(), 1, "only the good message was delivered");
    nc.close();
    assert_eq!(peer.finish().len(), BAD.len() + 1);
}

/// Half-written MSG/HMSG frames, then the server closes: nothing is
/// delivered from them, the client reconnects (cause: EOF), and a complete
/// message on the next connection arrives.
#[test]
fn half_written_messages_then_close_deliver_nothing() {
    const HALF: [&[u8]; 5] = [
        b"MSG foo 1 10\r\nhal",
        b"MSG foo 1 5\r\nhello",
        b"MSG foo 1 5\r\nhello\r",
        b"HMSG foo 1 12 20\r\nNATS/1.0\r\n",
        b"MSG foo 1 3\r\nabc\r\nMSG foo 1 3\r\nab",
    ];
    let _s = serial();
    let rec = Arc::new(Recorder::default());
    let peer = misbehave_then_serve(&rec, HALF.len(), b"SUB foo 1\r\n", DONE, |i, c| {
        c.send(HALF[i]);
        c.close();
        closed(true)
    });
    let nc = rec.options(&peer.url()).connect().expect("connect");
    let sub = nc.subscribe("foo").expect("subscribe");
    assert_reconnected_after(&rec, &nc, HALF.len(), ErrorKind::ConnectionClosed);
    // The last half-written stream started with one complete message.
    let first = sub.next_msg(T).expect("the complete message");
    assert_eq!(first.payload(), b"abc");
    let m = sub.next_msg(T).expect("the message after reconnecting");
    assert_eq!(m.payload(), b"done");
    assert_eq!(sub.delivered(), 2);
    nc.close();
    assert_eq!(peer.finish().len(), HALF.len() + 1);
}

/// Thousands of valid INFO lines, each announcing a different server: the
/// connection stays up and the server list does not grow (servers no longer
/// announced are dropped, as nats.c does).
#[test]
fn many_info_lines_keep_the_connection_and_a_bounded_pool() {
    const N: usize = 20_000;
    let _s = serial();
    let rec = Arc::new(Recorder::default());
    let peer = Peer::start(|_, c| {
        if !c.handshake(INFO) {
            return Seen::default();
        }
        let mut lines = Vec::new();
        for i in 0..N {
            lines.extend_from_slice(
                format!(
                    "INFO {{\"server_id\":\"hostile\",\"proto\":1,\"headers\":true,\
                     \"connect_urls\":[\"10.9.{}.{}:4222\"]}}\r\n",
                    i / 250,
                    i % 250
                )
                .as_bytes(),
            );
            if lines.len() > 60_000 || i == N - 1 {
                if !c.send(&lines) {
                    return Seen::default();
                }
                lines.clear();
            }
        }
        c.serve();
        closed(true)
    });
    let nc = rec.options(&peer.url()).connect().expect("connect");
    // The PONG comes after every INFO: once flushed, all were read.
    nc.flush_timeout(T).expect("flush after the INFO lines");
    assert_eq!(nc.status(), ConnStatus::Connected);
    let servers = nc.servers();
    assert!(servers.len() <= 2, "{} servers kept", servers.len());
    assert_eq!(nc.server_info().expect("info").connect_urls.len(), 1);
    assert_eq!(rec.count("disconnected"), 0);
    nc.close();
    peer.finish();
}

/// A server that floods INFO lines without pause while the application
/// flushes: the flush's PING must still go out during the flood (the io
/// loop must not spend all its time reading one socket: meanwhile nothing
/// is written, no timer fires, for every connection served by that loop,
/// and server PINGs go unanswered). The loop reads a socket at most
/// `READ_BUDGET` times a turn (`driver.rs`); here the INFO lines are costly
/// to handle (200 servers announced in each).
#[test]
fn info_flood_does_not_hold_back_a_flush() {
    let _s = serial();
    let rec = Arc::new(Recorder::default());
    let peer = Peer::start(move |_, c| {
        if !c.handshake(INFO) {
            return None;
        }
        // 16 different lists in turn: each INFO changes the pool.
        let batch: String = (0..16)
            .map(|j| {
                let urls: Vec<String> =
                    (0..200).map(|i| format!("\"10.8.{j}.{i}:4222\"")).collect();
                format!(
                    "INFO {{\"server_id\":\"hostile\",\"proto\":1,\"headers\":true,\
                     \"connect_urls\":[{}]}}\r\n",
                    urls.join(",")
                )
            })
            .collect();
        let flood = c.flood_lines(batch.as_bytes(), Duration::from_secs(4));
        c.serve();
        Some(flood)
    });
    let nc = rec.options(&peer.url()).connect().expect("connect");
    // The answer queues behind what the server already sent: only the
    // PING's departure is checked.
    let _ = nc.flush_timeout(Duration::from_secs(3));
    nc.close();
    let flood = peer.finish()[0].expect("flooded");
    eprintln!("FIGURE info flood: first PING after {:?}", flood.first_ping);
    assert!(
        flood.first_ping.is_some_and(|t| t < Duration::from_secs(1)),
        "the flush's PING left the client at {:?} ({} batches of 16 INFO sent)",
        flood.first_ping,
        flood.batches
    );
}

/// Thousands of `-ERR`s the server keeps the connection open after (unknown
/// texts): each is reported through the error callback, the connection
/// stays up and works. (nats.c closes on an unknown -ERR: natsc-defects.md
/// #5.)
#[test]
fn err_flood_is_reported_and_the_connection_stays_up() {
    const N: usize = 5_000;
    let _s = serial();
    let rec = Arc::new(Recorder::default());
    let peer = Peer::start(|_, c| {
        if !c.handshake(INFO) {
            return Seen::default();
        }
        let mut lines = Vec::new();
        for i in 0..N {
            lines.extend_from_slice(format!("-ERR 'hostile noise {i}'\r\n").as_bytes());
        }
        if !c.send(&lines) {
            return Seen::default();
        }
        c.serve();
        closed(true)
    });
    let nc = rec.options(&peer.url()).connect().expect("connect");
    nc.flush_timeout(T).expect("flush after the flood");
    common::wait_for("every -ERR reported", || rec.error_count() >= N);
    assert_eq!(rec.error_count(), N);
    let errors = rec.errors.lock().unwrap();
    assert!(errors.iter().all(|e| e.kind() == ErrorKind::Other));
    assert_eq!(errors[N - 1].text(), format!("hostile noise {}", N - 1));
    drop(errors);
    assert_eq!(nc.status(), ConnStatus::Connected);
    assert_eq!(rec.count("disconnected"), 0);
    nc.flush_timeout(T).expect("flush");
    nc.close();
    peer.finish();
}

/// A -ERR flood while the application's error callback is blocked: what
/// the client keeps for the callback stays bounded (not one queued error
/// per line the server sends: 78 MiB here before the bound). Once the
/// callback catches up, one more call says how many errors were dropped.
#[test]
fn err_flood_with_a_blocked_callback_has_bounded_memory() {
    const LINES: usize = 20_000;
    const BATCH: usize = 16;
    let _s = serial();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let summary = Arc::new(Mutex::new(None::<Error>));
    let peer = Peer::start(|_, c| {
        if !c.handshake(INFO) {
            return Seen::default();
        }
        // 4 KiB lines, sent from one small buffer (the peer shares our RSS).
        let mut line = b"-ERR 'hostile noise ".to_vec();
        line.resize(4000, b'z');
        line.extend_from_slice(b"'\r\n");
        let batch = line.repeat(BATCH);
        for _ in 0..LINES / BATCH {
            if !c.send(&batch) {
                return Seen::default();
            }
        }
        c.serve();
        closed(true)
    });
    let base = common::rss();
    let (g, n, sum) = (gate.clone(), count.clone(), summary.clone());
    let nc = Options::new()
        .url(&peer.url())
        .error_callback(move |_, _, e| {
            if e.text().contains("not reported") {
                *sum.lock().unwrap() = Some(e.clone());
                return;
            }
            n.fetch_add(1, Ordering::SeqCst);
            let (open, cv) = &*g;
            let deadline = Instant::now() + T;
            let mut o = open.lock().unwrap();
            while !*o && Instant::now() < deadline {
                o = cv.wait_timeout(o, T).unwrap().0;
            }
        })
        .connect()
        .expect("connect");
    nc.flush_timeout(T).expect("flush after the flood");
    let grown = common::rss().saturating_sub(base);
    {
        let (open, cv) = &*gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
    common::wait_for("the dropped errors reported", || {
        summary.lock().unwrap().is_some()
    });
    let reported = count.load(Ordering::SeqCst);
    nc.close();
    peer.finish();
    assert!(
        grown < 32 << 20,
        "memory grew by {} MiB for {LINES} -ERR lines of 4 KiB ({reported} reported so far)",
        grown >> 20
    );
    let summary = summary.lock().unwrap().take().expect("summary");
    let dropped: usize = summary
        .text()
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("count first");
    assert_eq!(
        reported + dropped,
        LINES,
        "every -ERR reported or counted: {summary}"
    );
    assert!(
        dropped > 0 && reported > 0,
        "{reported} reported, {dropped} dropped"
    );
    assert_eq!(summary.kind(), ErrorKind::Other);
    assert!(summary.text().contains("hostile noise"), "{summary}");
}
