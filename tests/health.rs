//! Connection health against real servers and real faults: stale detection
//! through a frozen proxy and a SIGSTOPped server, kill and restart, failover,
//! discovered servers, lame duck, server PINGs while the application sleeps,
//! the reconnect buffer, retry on failed connect, the two-strike auth rule,
//! and no publish lost silently.
//!
//! Measured figures are printed and appended to
//! `target/tmp/health-figures.txt` (shown by `scripts/test.sh`).

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::NatsServer;
use common::proxy::Proxy;
use nats::{ConnStatus, Connection, ErrorKind, Options, Subscription};

/// Upper bound for any single wait in these tests.
const T: Duration = Duration::from_secs(10);

fn report(line: &str) {
    eprintln!("FIGURE {line}");
    let path = common::artifacts_dir().join("health-figures.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Connection events seen by the callbacks, with when they happened and the
/// connection's last error at that moment.
/// One callback: when, which, the connection's last error kind and text.
type Seen = (Instant, &'static str, Option<ErrorKind>, String);

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Seen>>,
    cond: Condvar,
}

impl Recorder {
    fn push(&self, what: &'static str, nc: &Connection) {
        let e = nc.last_error();
        let text = e.as_ref().map(|e| e.to_string()).unwrap_or_default();
        self.events
            .lock()
            .unwrap()
            .push((Instant::now(), what, e.map(|e| e.kind()), text));
        self.cond.notify_all();
    }

    /// Waits for the `n`-th (from 1) event named `what`; returns its time,
    /// the last error kind and text recorded with it.
    fn wait(&self, what: &str, n: usize) -> (Instant, Option<ErrorKind>, String) {
        let deadline = Instant::now() + T;
        let mut ev = self.events.lock().unwrap();
        loop {
            if let Some(e) = ev.iter().filter(|e| e.1 == what).nth(n - 1) {
                return (e.0, e.2, e.3.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what} #{n}");
            ev = self.cond.wait_timeout(ev, left).unwrap().0;
        }
    }

    fn count(&self, what: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.1 == what)
            .count()
    }

    fn options(self: &Arc<Self>, o: Options) -> Options {
        let (a, b, c, d, e) = (
            self.clone(),
            self.clone(),
            self.clone(),
            self.clone(),
            self.clone(),
        );
        o.disconnected_callback(move |nc| a.push("disconnected", nc))
            .reconnected_callback(move |nc| b.push("reconnected", nc))
            .closed_callback(move |nc| c.push("closed", nc))
            .lame_duck_callback(move |nc| d.push("lame_duck", nc))
            .discovered_servers_callback(move |nc| e.push("discovered", nc))
            .error_callback(|_, _, _| {})
    }
}

/// Reads messages carrying a decimal sequence number until `want` distinct
/// ones arrived or nothing came for `quiet`; returns how often each arrived.
fn collect(sub: &Subscription, want: usize, quiet: Duration) -> HashMap<u64, u32> {
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let deadline = Instant::now() + T;
    while seen.len() < want && Instant::now() < deadline {
        match sub.next_msg(quiet) {
            Ok(m) => {
                let n: u64 = std::str::from_utf8(m.payload())
                    .expect("utf8")
                    .parse()
                    .expect("number");
                *seen.entry(n).or_insert(0) += 1;
            }
            Err(e) if e.kind() == ErrorKind::Timeout => break,
            Err(e) => panic!("next_msg: {e}"),
        }
    }
    seen
}

fn ping_opts(iv: Duration) -> Options {
    Options::new()
        .ping_interval(iv)
        .max_pings_out(2)
        .reconnect_wait(Duration::from_millis(50))
        .reconnect_jitter(Duration::ZERO)
        .timeout(Duration::from_millis(500))
        .no_randomize(true)
}

/// The seed's story: the network to server A dies silently (a proxy freezes
/// both ways, sockets stay open) while the application publishes. Pings
/// detect it within the interval arithmetic, the cause is visible in the
/// disconnected callback, the client fails over to B, every publish made
/// while reconnecting is delivered exactly once, and every publish that
/// returned OK is either delivered or reported by the next flush.
#[test]
fn frozen_network_is_detected_and_nothing_is_lost_silently() {
    let a = NatsServer::start();
    let b = NatsServer::start();
    let proxy = Proxy::start(([127, 0, 0, 1], a.port()).into());
    let watcher = Connection::connect(&b.url()).expect("subscriber on B");
    let sub = watcher.subscribe("seed.seq").expect("subscribe");
    watcher.flush().expect("flush");

    let iv = Duration::from_millis(100);
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(ping_opts(iv).servers(&[proxy.url(), b.url()]))
        .connect()
        .expect("connect through the proxy");
    assert_eq!(nc.connected_url(), Some(proxy.url()));
    nc.flush().expect("flush before the freeze");

    proxy.freeze();
    let frozen_at = Instant::now();
    // B is slow to take over: paused until 300 ms after the detection, so
    // the client buffers what is published while it reconnects.
    b.pause();
    let mut b_paused = true;
    let mut ok: Vec<u64> = Vec::new();
    let mut while_reconnecting: Vec<u64> = Vec::new();
    let mut seq = 0u64;
    let mut after_reconnect = 0;
    let deadline = frozen_at + T;
    while after_reconnect < 50 {
        assert!(Instant::now() < deadline, "no reconnection to B");
        seq += 1;
        let reconnecting = nc.is_reconnecting();
        match nc.publish("seed.seq", seq.to_string().as_bytes()) {
            Ok(()) => {
                ok.push(seq);
                if reconnecting {
                    while_reconnecting.push(seq);
                }
            }
            Err(e) => panic!("publish #{seq} failed: {e}"),
        }
        if rec.count("reconnected") > 0 {
            after_reconnect += 1;
        }
        if b_paused
            && rec.count("disconnected") > 0
            && rec.wait("disconnected", 1).0.elapsed() >= Duration::from_millis(300)
        {
            b.resume();
            b_paused = false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let (t_disc, cause, cause_text) = rec.wait("disconnected", 1);
    let (t_reco, _, _) = rec.wait("reconnected", 1);
    let detection = t_disc - frozen_at;
    let reconnect = t_reco - frozen_at;
    assert_eq!(
        cause,
        Some(ErrorKind::StaleConnection),
        "cause in the disconnected callback: {cause_text}"
    );
    assert_eq!(nc.connected_url(), Some(b.url()));
    // Stale on the tick after max_pings_out unanswered PINGs: between 2 and 3
    // intervals after the freeze (plus scheduling noise).
    assert!(
        detection >= iv * 2 - Duration::from_millis(20) && detection <= iv * 3 + iv * 4,
        "detection after {detection:?} with a {iv:?} interval"
    );

    // The first flush reports publishes that may have died with the socket.
    let lost = nc.health().unconfirmed_lost;
    let first = nc.flush();
    if lost > 0 {
        assert_eq!(
            first
                .expect_err("flush must report the lost publishes")
                .kind(),
            ErrorKind::ConnectionDisconnected
        );
        nc.flush().expect("second flush");
    } else {
        first.expect("flush");
    }
    assert_eq!(nc.health().unconfirmed_lost, 0);

    let want = ok.len() - lost as usize;
    let seen = collect(&sub, want, Duration::from_millis(500));
    let dups = seen.values().filter(|&&n| n > 1).count();
    let missing_reconnecting: Vec<u64> = while_reconnecting
        .iter()
        .copied()
        .filter(|s| !seen.contains_key(s))
        .collect();
    report(&format!(
        "frozen-proxy: ping={iv:?} max_out=2 detection_ms={} reconnect_ms={} published_ok={} \
         while_reconnecting={} delivered={} duplicates={dups} reported_lost={lost}",
        detection.as_millis(),
        reconnect.as_millis(),
        ok.len(),
        while_reconnecting.len(),
        seen.len()
    ));
    assert_eq!(dups, 0, "duplicates");
    assert!(while_reconnecting.len() > 50, "B was paused for 300 ms");
    assert!(
        missing_reconnecting.is_empty(),
        "publishes made while reconnecting were lost: {missing_reconnecting:?}"
    );
    assert_eq!(
        seen.len() + lost as usize,
        ok.len(),
        "every publish that returned OK is delivered or reported"
    );
    assert_eq!(nc.statistics().reconnects, 1);
    assert_eq!(nc.health().reconnects, 1);
}

/// A SIGSTOPped server is detected as stale; after SIGCONT the client is
/// back on the same server with its subscriptions.
#[test]
fn sigstopped_server_is_stale_then_recovers() {
    let server = NatsServer::start();
    let iv = Duration::from_millis(100);
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(ping_opts(iv).url(&server.url()))
        .connect()
        .expect("connect");
    let sub = nc.subscribe("stop.x").expect("subscribe");
    nc.flush().expect("flush");

    server.pause();
    let paused = Instant::now();
    let (t, cause, text) = rec.wait("disconnected", 1);
    assert_eq!(cause, Some(ErrorKind::StaleConnection), "{text}");
    assert_eq!(nc.status(), ConnStatus::Reconnecting);
    // The cause stays visible while reconnecting (nats.c clears it).
    assert_eq!(
        nc.last_error().map(|e| e.kind()),
        Some(ErrorKind::StaleConnection)
    );
    let h = nc.health();
    assert_eq!(h.status, ConnStatus::Reconnecting);
    server.resume();
    let (t2, _, _) = rec.wait("reconnected", 1);
    report(&format!(
        "sigstop: ping={iv:?} detection_ms={} reconnect_after_sigcont_ms={}",
        (t - paused).as_millis(),
        t2.saturating_duration_since(paused).as_millis()
    ));
    assert_eq!(nc.last_error(), None, "cleared once reconnected");
    nc.publish("stop.x", b"after").expect("publish");
    assert_eq!(
        sub.next_msg(T).expect("message after recovery").payload(),
        b"after"
    );
    assert_eq!(nc.statistics().reconnects, 1);
}

/// SIGKILL and restart on the same port: publishes made during the outage
/// are buffered and delivered exactly once, after the subscriptions are
/// replayed.
#[test]
fn restart_on_same_port_delivers_outage_publishes_exactly_once() {
    let mut server = NatsServer::start();
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(ping_opts(Duration::from_secs(60)).url(&server.url()))
        .connect()
        .expect("connect");
    let sub = nc.subscribe("restart.x").expect("subscribe");
    nc.flush().expect("flush");

    server.stop();
    let down = Instant::now();
    let (t, cause, text) = rec.wait("disconnected", 1);
    assert_eq!(cause, Some(ErrorKind::ConnectionClosed), "{text}");
    for i in 0..200u64 {
        assert!(nc.is_reconnecting());
        nc.publish("restart.x", i.to_string().as_bytes())
            .expect("buffered publish");
    }
    assert!(nc.buffered().unwrap_or(0) > 0);
    server.restart();
    let (t2, _, _) = rec.wait("reconnected", 1);
    nc.flush().expect("flush after reconnect");
    let seen = collect(&sub, 200, Duration::from_millis(500));
    report(&format!(
        "kill-restart: detection_ms={} reconnect_ms={} buffered=200 delivered={} duplicates={}",
        (t - down).as_millis(),
        (t2 - down).as_millis(),
        seen.len(),
        seen.values().filter(|&&n| n > 1).count()
    ));
    assert_eq!(seen.len(), 200);
    assert!(seen.values().all(|&n| n == 1), "duplicates");
    assert_eq!(nc.statistics().reconnects, 1);
}

/// Two servers: when the first dies, the client moves to the second.
#[test]
fn failover_to_the_second_server() {
    let mut a = NatsServer::start();
    let b = NatsServer::start();
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(ping_opts(Duration::from_secs(60)).servers(&[a.url(), b.url()]))
        .connect()
        .expect("connect");
    assert_eq!(nc.connected_url(), Some(a.url()));
    assert_eq!(nc.servers(), vec![a.url(), b.url()]);
    a.stop();
    rec.wait("reconnected", 1);
    assert_eq!(nc.connected_url(), Some(b.url()));
    assert!(nc.rtt().is_ok());
    assert_eq!(nc.health().server, Some(b.url()));
}

/// A server configured to PING every 250 ms, 2 outstanding at most (stale
/// after 500-750 ms), keeps a client whose application thread sleeps and
/// whose only handler blocks for 2 s: the io thread answers the PINGs.
/// (100 ms proved too tight beside the flat-out publishing test on 2 cores:
/// the server itself was late.)
#[test]
fn server_pings_are_answered_while_the_application_sleeps() {
    let conf = common::artifacts_dir().join(format!("ping-{}.conf", std::process::id()));
    std::fs::write(&conf, "ping_interval: \"250ms\"\nping_max: 2\n").expect("write conf");
    let server = NatsServer::start_with_args(&["-c", conf.to_str().expect("utf8 path")]);
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(
            Options::new()
                .url(&server.url())
                .ping_interval(Duration::ZERO),
        )
        .connect()
        .expect("connect");
    let (tx, rx) = std::sync::mpsc::channel();
    let _sub = nc
        .subscribe_with_handler("block", move |_| {
            // Blocks the delivery thread well past the server's stale limit.
            std::thread::sleep(Duration::from_millis(2000));
            let _ = tx.send(());
        })
        .expect("subscribe");
    nc.publish("block", b"x").expect("publish");
    std::thread::sleep(Duration::from_millis(2500));
    rx.recv_timeout(T).expect("handler finished");
    assert_eq!(rec.count("disconnected"), 0, "the server dropped us");
    assert_eq!(nc.status(), ConnStatus::Connected);
    assert_eq!(nc.statistics().reconnects, 0);
    assert!(nc.health().since_last_read.expect("server PINGs read") < Duration::from_secs(1));
    assert!(
        !server.log_contents().contains("Stale"),
        "server log mentions a stale client"
    );
}

/// Publishing flat out with a 100 ms ping interval never trips stale
/// detection: PONGs are read while the socket is busy writing.
#[test]
fn no_false_stale_detection_while_publishing_flat_out() {
    let server = NatsServer::start();
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(ping_opts(Duration::from_millis(100)).url(&server.url()))
        .connect()
        .expect("connect");
    let start = Instant::now();
    let payload = [b'x'; 128];
    let mut n = 0u64;
    let mut max_out = 0;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..1000 {
            nc.publish("flat.out", &payload).expect("publish");
        }
        n += 1000;
        max_out = max_out.max(nc.health().pings_out);
        // Keep the backlog bounded so this measures pings, not memory.
        if nc.buffered().unwrap_or(0) > 8 << 20 {
            nc.flush().expect("flush");
        }
    }
    nc.flush().expect("final flush");
    let secs = start.elapsed().as_secs_f64();
    report(&format!(
        "flat-out: ping=100ms published={n} rate_msgs_per_s={:.0} max_pings_out_seen={max_out} \
         disconnects={}",
        n as f64 / secs,
        rec.count("disconnected")
    ));
    assert_eq!(rec.count("disconnected"), 0);
    assert_eq!(nc.statistics().reconnects, 0);
    assert!(max_out <= 2);
}

/// While disconnected, publishes fill the reconnect buffer; when it is full
/// a publish fails with InsufficientBuffer instead of dropping or blocking.
#[test]
fn reconnect_buffer_full_is_reported_not_dropped() {
    let mut server = NatsServer::start();
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(
            ping_opts(Duration::from_secs(60))
                .url(&server.url())
                .reconnect_buffer_size(2000),
        )
        .connect()
        .expect("connect");
    let sub = nc.subscribe("buf.x").expect("subscribe");
    nc.flush().expect("flush");
    server.stop();
    rec.wait("disconnected", 1);
    let mut ok = 0u64;
    let failed = loop {
        let t = Instant::now();
        match nc.publish("buf.x", ok.to_string().as_bytes()) {
            Ok(()) => ok += 1,
            Err(e) => break e,
        }
        assert!(t.elapsed() < Duration::from_millis(100), "publish blocked");
        assert!(ok < 10_000, "the buffer never filled");
    };
    assert_eq!(failed.kind(), ErrorKind::InsufficientBuffer);
    server.restart();
    rec.wait("reconnected", 1);
    nc.flush().expect("flush");
    let seen = collect(&sub, ok as usize, Duration::from_millis(500));
    report(&format!(
        "reconnect-buffer: size=2000 accepted={ok} delivered={}",
        seen.len()
    ));
    assert_eq!(seen.len() as u64, ok);
}

/// Servers announced by the cluster join the pool (with the callback) and
/// the client fails over to one it only knows from the announcement.
#[test]
fn discovered_servers_join_the_pool() {
    let ca = common::free_port();
    let cluster_a = format!("nats://127.0.0.1:{ca}");
    let mut a = NatsServer::start_with_args(&["--cluster_name", "hc", "--cluster", &cluster_a]);
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(ping_opts(Duration::from_secs(60)).url(&a.url()))
        .connect()
        .expect("connect");
    assert!(nc.discovered_servers().is_empty());
    let cb = common::free_port();
    let cluster_b = format!("nats://127.0.0.1:{cb}");
    let b = NatsServer::start_with_args(&[
        "--cluster_name",
        "hc",
        "--cluster",
        &cluster_b,
        "--routes",
        &cluster_a,
    ]);
    rec.wait("discovered", 1);
    assert_eq!(nc.discovered_servers(), vec![b.url()]);
    assert!(nc.servers().contains(&b.url()));
    a.stop();
    rec.wait("reconnected", 1);
    assert_eq!(nc.connected_url(), Some(b.url()));
}

/// A server entering lame-duck mode is announced to the application.
#[test]
fn lame_duck_mode_is_announced() {
    let server = NatsServer::start();
    let rec = Arc::new(Recorder::default());
    let _nc = rec
        .options(Options::new().url(&server.url()))
        .connect()
        .expect("connect");
    server.lame_duck();
    rec.wait("lame_duck", 1);
}

/// With retry on failed connect and a connected callback, connect returns
/// at once, buffers, and connects when a server appears.
#[test]
fn retry_on_failed_connect_connects_later() {
    let port = common::free_port();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    let t0 = Instant::now();
    let nc = Options::new()
        .url(&format!("nats://127.0.0.1:{port}"))
        .retry_on_failed_connect(true)
        .connected_callback(move |_| {
            let _ = tx.lock().unwrap().send(());
        })
        .max_reconnect(-1)
        .reconnect_wait(Duration::from_millis(20))
        .connect()
        .expect("connect returns a connection still trying");
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(nc.status(), ConnStatus::Reconnecting);
    let sub = nc
        .subscribe("later")
        .expect("subscribe while not connected");
    nc.publish("later", b"buffered").expect("buffered publish");
    let _server = NatsServer::start_on(port, &[]);
    rx.recv_timeout(T).expect("connected callback");
    assert_eq!(nc.status(), ConnStatus::Connected);
    assert_eq!(
        sub.next_msg(T).expect("buffered message").payload(),
        b"buffered"
    );
    assert_eq!(nc.statistics().reconnects, 0);

    // Without a callback, connect retries in place and then fails.
    let t0 = Instant::now();
    let e = Options::new()
        .url(&format!("nats://127.0.0.1:{}", common::free_port()))
        .retry_on_failed_connect(true)
        .max_reconnect(2)
        .reconnect_wait(Duration::from_millis(30))
        .connect()
        .expect_err("nothing listens");
    assert_eq!(e.kind(), ErrorKind::NoServer);
    assert!(
        t0.elapsed() >= Duration::from_millis(60),
        "{:?}",
        t0.elapsed()
    );
}

/// Flush and close never hang on a frozen peer.
#[test]
fn flush_and_close_are_bounded_with_a_frozen_peer() {
    let server = NatsServer::start();
    let proxy = Proxy::start(([127, 0, 0, 1], server.port()).into());
    let nc = Options::new()
        .url(&proxy.url())
        .error_callback(|_, _, _| {})
        .connect()
        .expect("connect");
    proxy.freeze();
    for _ in 0..1000 {
        nc.publish("frozen", &[0u8; 1024]).expect("publish");
    }
    let t = Instant::now();
    assert_eq!(
        nc.flush_timeout(Duration::from_millis(200))
            .expect_err("no PONG from a frozen peer")
            .kind(),
        ErrorKind::Timeout
    );
    let flush = t.elapsed();
    let t = Instant::now();
    nc.close();
    let close = t.elapsed();
    report(&format!(
        "frozen-peer: flush_timeout_200ms_took_ms={} close_took_ms={}",
        flush.as_millis(),
        close.as_millis()
    ));
    assert!(flush < Duration::from_millis(700));
    assert!(close < Duration::from_millis(1500));
    assert_eq!(nc.status(), ConnStatus::Closed);
}

/// A server that refuses the credentials twice in a row while reconnecting
/// closes the connection (nats.c's rule), with the server's reason.
#[test]
fn repeated_authorization_violation_closes() {
    let mut server = NatsServer::start_with_args(&["--user", "u", "--pass", "p"]);
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(
            ping_opts(Duration::from_secs(60))
                .url(&server.url())
                .user_info("u", "p")
                .max_reconnect(-1),
        )
        .connect()
        .expect("connect");
    server.restart_with_args(&["--user", "u", "--pass", "other"]);
    let (_, kind, text) = rec.wait("closed", 1);
    assert_eq!(kind, Some(ErrorKind::AuthFailed), "{text}");
    assert!(text.contains("Authorization Violation"), "{text}");
    assert_eq!(nc.status(), ConnStatus::Closed);
    assert_eq!(rec.count("disconnected"), 1);
    assert_eq!(rec.count("closed"), 1);
}

/// `reconnect()` drops the socket; the connection comes back with its
/// subscriptions, and the reason is visible while it does.
#[test]
fn application_requested_reconnect() {
    let server = NatsServer::start();
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(ping_opts(Duration::from_secs(60)).url(&server.url()))
        .connect()
        .expect("connect");
    let sub = nc.subscribe("again").expect("subscribe");
    nc.reconnect().expect("reconnect");
    let (_, kind, _) = rec.wait("disconnected", 1);
    assert_eq!(kind, Some(ErrorKind::ConnectionDisconnected));
    rec.wait("reconnected", 1);
    nc.publish("again", b"1").expect("publish");
    assert_eq!(sub.next_msg(T).expect("message").payload(), b"1");
    nc.close();
    assert_eq!(
        nc.reconnect().expect_err("closed").kind(),
        ErrorKind::ConnectionClosed
    );
}

/// When every server has used its attempts, the connection closes: closed
/// fires once, and the last error says no server is left and why the
/// connection was lost in the first place.
#[test]
fn exhausted_reconnect_attempts_close_with_the_cause() {
    let mut server = NatsServer::start();
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(
            ping_opts(Duration::from_secs(60))
                .url(&server.url())
                .max_reconnect(3)
                .reconnect_wait(Duration::from_millis(20)),
        )
        .connect()
        .expect("connect");
    server.stop();
    let (t0, _, _) = rec.wait("disconnected", 1);
    let (t1, kind, text) = rec.wait("closed", 1);
    report(&format!(
        "exhausted: max_reconnect=3 wait=20ms closed_after_ms={}",
        (t1 - t0).as_millis()
    ));
    assert_eq!(kind, Some(ErrorKind::NoServer), "{text}");
    assert!(text.contains("closed by the server"), "{text}");
    assert_eq!(nc.status(), ConnStatus::Closed);
    assert_eq!(rec.count("disconnected"), 1);
    assert_eq!(rec.count("closed"), 1);
    assert_eq!(
        nc.publish("x", b"").expect_err("closed").kind(),
        ErrorKind::ConnectionClosed
    );
}

/// With `fail_requests_on_disconnect`, a request waiting for its reply fails
/// as soon as the connection drops instead of waiting out its timeout.
#[test]
fn requests_fail_fast_on_disconnect_when_asked() {
    let mut server = NatsServer::start();
    let silent = Connection::connect(&server.url()).expect("responder");
    let seen = silent.subscribe("never.answered").expect("subscribe");
    silent.flush().expect("flush");
    let rec = Arc::new(Recorder::default());
    let nc = rec
        .options(
            ping_opts(Duration::from_secs(60))
                .url(&server.url())
                .fail_requests_on_disconnect(true),
        )
        .connect()
        .expect("connect");
    nc.flush().expect("flush");
    let requester = nc.clone();
    let pending = std::thread::spawn(move || {
        let t = Instant::now();
        let r = requester.request("never.answered", b"?", Duration::from_secs(8));
        (r.map(|_| ()), t.elapsed())
    });
    // Once the (silent) responder has the request, drop the server.
    seen.next_msg(T).expect("the request reached the responder");
    server.stop();
    let (r, took) = pending.join().expect("request thread");
    assert_eq!(
        r.expect_err("the connection dropped").kind(),
        ErrorKind::ConnectionDisconnected
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
}

/// An idle connection (no subscription, nothing sent, pings every 10 s or
/// more often) is read only at its pings. It stays connected, its pings are
/// answered, and a SIGSTOPped server is still found stale; with its next
/// ping 9 s away, a subscription still gets its message at once (the write
/// ends lazy reads), a killed server is still seen at once (the poller
/// reports the peer's close), and a flush still completes at once.
#[test]
fn idle_connection_is_read_lazily_at_its_pings() {
    let mut server = NatsServer::start();
    let iv = Duration::from_millis(50);
    let (rec_a, rec_b, rec_c) = (
        Arc::new(Recorder::default()),
        Arc::new(Recorder::default()),
        Arc::new(Recorder::default()),
    );
    let connect = |rec: &Arc<Recorder>| {
        rec.options(ping_opts(iv).url(&server.url()))
            .connect()
            .expect("connect")
    };
    let (a, b, c) = (connect(&rec_a), connect(&rec_b), connect(&rec_c));
    for nc in [&a, &b, &c] {
        common::wait_for("lazy reads", || nc.health().lazy_reads);
    }
    // Lazily read, pings still answered: the round-trip time is renewed.
    let rtt_seen = c.health().last_rtt;
    let mut answered = 0;
    common::wait_for("five answered pings", || {
        let h = c.health();
        assert!(h.lazy_reads, "stays lazy while idle");
        assert!(h.pings_out <= 1, "pings answered at the next ping: {h:?}");
        if h.last_rtt != rtt_seen {
            answered += 1;
        }
        answered >= 5
    });
    assert_eq!(rec_c.count("disconnected"), 0);

    // A frozen server is found stale as before (two pings unanswered).
    server.pause();
    let paused = Instant::now();
    let (t, cause, text) = rec_c.wait("disconnected", 1);
    assert_eq!(cause, Some(ErrorKind::StaleConnection), "{text}");
    server.resume();
    report(&format!(
        "lazy reads: ping={iv:?} stale_detection_ms={}",
        (t - paused).as_millis()
    ));
    rec_a.wait("disconnected", 1);
    rec_a.wait("reconnected", 1);
    rec_b.wait("disconnected", 1);
    rec_b.wait("reconnected", 1);

    // Lazy reads with the next ping 9 s away.
    let make_lazy = |nc: &Connection| {
        nc.set_ping_interval(iv);
        common::wait_for("lazy reads again", || nc.health().lazy_reads);
        nc.set_ping_interval(Duration::from_secs(9));
        // The loop takes the new interval within this; lazy reads go on
        // (still idle, still pinging every 10 s or more often).
        std::thread::sleep(Duration::from_millis(100));
        assert!(nc.health().lazy_reads);
    };
    make_lazy(&a);
    make_lazy(&b);

    // The subscription's SUB wakes the loop, which reads at once again.
    let other = Connection::connect(&server.url()).expect("connect");
    let t0 = Instant::now();
    let sub = a.subscribe("lazy.sub").expect("subscribe");
    loop {
        other.publish("lazy.sub", b"x").expect("publish");
        other.flush().expect("flush");
        match sub.next_msg(Duration::from_millis(200)) {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::Timeout => {
                assert!(t0.elapsed() < Duration::from_secs(3), "no message");
            }
            Err(e) => panic!("next_msg: {e}"),
        }
    }
    assert!(!a.health().lazy_reads);

    // A flush on a lazily read connection completes at once.
    let t0 = Instant::now();
    b.flush_timeout(Duration::from_secs(5)).expect("flush");
    let flushed = t0.elapsed();
    assert!(flushed < Duration::from_secs(3), "flush took {flushed:?}");
    make_lazy(&b);

    // The server dies: the closed socket is seen at once.
    server.stop();
    let killed = Instant::now();
    let (t, _, text) = rec_b.wait("disconnected", 2);
    let seen = t - killed;
    report(&format!(
        "lazy reads: server killed, disconnect seen after {} ms (next ping 9 s away)",
        seen.as_millis()
    ));
    assert!(seen < Duration::from_secs(3), "{seen:?}: {text}");
}
