//! Tests of the fault-injection proxy in `tests/common/proxy.rs`, against a
//! plain TCP echo server (no nats-server needed).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::proxy::Proxy;

/// Upper bound for anything that is expected to happen.
const T: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is observed.
const SILENCE: Duration = Duration::from_millis(300);
const TICK: Duration = Duration::from_millis(20);

/// Echo server on 127.0.0.1:0; stops and joins its threads on drop.
struct Echo {
    addr: SocketAddr,
    stats: Arc<EchoStats>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct EchoStats {
    stop: AtomicBool,
    accepted: AtomicUsize,
    active: AtomicUsize,
    received: AtomicU64,
}

impl Echo {
    fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(EchoStats::default());
        let st = Arc::clone(&stats);
        let acceptor = thread::spawn(move || {
            let mut conns = Vec::new();
            while !st.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        st.accepted.fetch_add(1, Ordering::SeqCst);
                        st.active.fetch_add(1, Ordering::SeqCst);
                        let st = Arc::clone(&st);
                        conns.push(thread::spawn(move || {
                            echo_conn(s, &st);
                            st.active.fetch_sub(1, Ordering::SeqCst);
                        }));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2))
                    }
                    Err(e) => panic!("echo accept: {e}"),
                }
            }
            for h in conns {
                h.join().unwrap();
            }
        });
        Echo {
            addr,
            stats,
            acceptor: Some(acceptor),
        }
    }

    fn accepted(&self) -> usize {
        self.stats.accepted.load(Ordering::SeqCst)
    }

    fn active(&self) -> usize {
        self.stats.active.load(Ordering::SeqCst)
    }

    fn received(&self) -> u64 {
        self.stats.received.load(Ordering::SeqCst)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stats.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let r = h.join();
            if !thread::panicking() {
                r.unwrap();
            }
        }
    }
}

/// Echoes until EOF, an error or stop; handles partial writes and timeouts.
fn echo_conn(mut s: TcpStream, st: &EchoStats) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(TICK)).unwrap();
    s.set_write_timeout(Some(TICK)).unwrap();
    let mut buf = vec![0u8; 32 * 1024];
    while !st.stop.load(Ordering::SeqCst) {
        let n = match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if transient(&e) => continue,
            Err(_) => return,
        };
        st.received.fetch_add(n as u64, Ordering::SeqCst);
        let mut off = 0;
        while off < n {
            if st.stop.load(Ordering::SeqCst) {
                return;
            }
            match s.write(&buf[off..n]) {
                Ok(0) => return,
                Ok(k) => off += k,
                Err(e) if transient(&e) => {}
                Err(_) => return,
            }
        }
    }
}

fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// Waits (bounded) until `cond` holds.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// A client connection to the proxy with a bounded read timeout.
fn connect(proxy: &Proxy) -> TcpStream {
    let s = TcpStream::connect_timeout(&proxy.addr(), T).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s
}

/// Reads exactly `n` bytes, each read bounded by the socket timeout.
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
    buf
}

/// Sends `msg` and expects it echoed back.
fn roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    assert_eq!(read_n(s, msg.len()), msg);
}

/// Asserts that nothing arrives on `s` for [`SILENCE`] (and the connection
/// stays open).
fn expect_silence(s: &mut TcpStream) {
    s.set_read_timeout(Some(SILENCE)).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
        Ok(0) => panic!("connection closed, expected silence"),
        Ok(n) => panic!("received {:?}, expected silence", &buf[..n]),
        Err(e) => panic!("read error {e}, expected silence"),
    }
    assert!(start.elapsed() >= SILENCE - Duration::from_millis(10));
    s.set_read_timeout(Some(T)).unwrap();
}

/// Asserts that `s` reports EOF or an error (not a timeout) within [`T`].
fn expect_closed(s: &mut TcpStream) {
    s.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("received {:?}, expected the connection closed", &buf[..n]),
        Err(e) if transient(&e) => panic!("connection still open after {T:?}"),
        Err(_) => {}
    }
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

#[test]
fn bytes_pass_both_ways() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    assert_eq!(proxy.url(), format!("nats://127.0.0.1:{}", proxy.port()));
    assert_eq!(proxy.addr().port(), proxy.port());
    assert!(proxy.addr().ip().is_loopback());
    assert_eq!(proxy.bytes_forwarded(), (0, 0));

    let mut c = connect(&proxy);
    roundtrip(&mut c, b"hello proxy\r\n");
    assert!(proxy.wait_connections(1, T));
    assert_eq!(echo.accepted(), 1);

    // 1 MiB each way, written on one thread while read on another.
    let len = 1 << 20;
    let data: Vec<u8> = (0..len).map(pattern).collect();
    let mut w = c.try_clone().unwrap();
    let writer = thread::spawn(move || w.write_all(&data));
    let got = read_n(&mut c, len);
    writer.join().unwrap().unwrap();
    assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(i)));

    let total = (13 + len) as u64;
    wait_for("byte counters", || {
        proxy.bytes_forwarded() == (total, total)
    });
    assert_eq!(echo.received(), total);
}

#[test]
fn freeze_holds_data_until_thaw() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut c = connect(&proxy);
    roundtrip(&mut c, b"before");
    assert!(proxy.wait_connections(1, T));

    proxy.freeze();
    assert!(proxy.is_frozen());
    let before = proxy.bytes_forwarded();
    assert_eq!(before, (6, 6));
    c.write_all(b"held while frozen").unwrap();
    expect_silence(&mut c);
    assert_eq!(proxy.bytes_forwarded(), before, "forwarded while frozen");
    assert_eq!(echo.received(), 6, "upstream got data while frozen");
    assert_eq!(proxy.connections(), 1, "freeze must not close anything");
    assert_eq!(echo.active(), 1, "freeze must not close anything");

    proxy.thaw();
    assert!(!proxy.is_frozen());
    assert_eq!(read_n(&mut c, 17), b"held while frozen");
    roundtrip(&mut c, b"after");
}

#[test]
fn freeze_applies_to_new_connections() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    proxy.freeze();
    let mut c = connect(&proxy);
    assert!(proxy.wait_connections(1, T));
    c.write_all(b"new while frozen").unwrap();
    expect_silence(&mut c);
    assert_eq!(proxy.bytes_forwarded(), (0, 0));
    assert_eq!(echo.received(), 0);

    proxy.thaw();
    assert_eq!(read_n(&mut c, 16), b"new while frozen");
}

#[test]
fn freeze_does_not_read_so_a_client_close_is_not_seen() {
    // While frozen the proxy must not read the client socket at all, so not
    // even the client's FIN is noticed (a pump that read and only held the
    // data back would see EOF and pass the close on upstream).
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut c = connect(&proxy);
    roundtrip(&mut c, b"x");
    assert!(proxy.wait_connections(1, T));

    proxy.freeze();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    thread::sleep(SILENCE);
    assert_eq!(echo.active(), 1, "client close passed on while frozen");
    assert_eq!(proxy.connections(), 1);

    // After the thaw the close goes through: upstream closes, and so does
    // the client side.
    proxy.thaw();
    wait_for("upstream side closed", || echo.active() == 0);
    expect_closed(&mut c);
    assert!(proxy.wait_connections(0, T));
}

#[test]
fn freeze_backs_up_client_writes_and_thaw_loses_nothing() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut c = connect(&proxy);
    roundtrip(&mut c, b"x");

    proxy.freeze();
    // freeze() returns once the pumps are parked, after their counting.
    let before = proxy.bytes_forwarded();
    assert_eq!(before, (1, 1));
    // Write without blocking until the kernel buffers are full.
    c.set_nonblocking(true).unwrap();
    let limit = 256 << 20;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    let deadline = Instant::now() + T;
    let mut blocked = false;
    while total < limit && Instant::now() < deadline {
        for (i, b) in chunk.iter_mut().enumerate() {
            *b = pattern(total + i);
        }
        match c.write(&chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // Still blocked a moment later: nobody reads the socket.
                thread::sleep(Duration::from_millis(100));
                match c.write(&chunk[..1]) {
                    Ok(n) => total += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        blocked = true;
                        break;
                    }
                    Err(e) => panic!("write: {e}"),
                }
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(
        blocked,
        "client writes never blocked ({total} bytes written while frozen)"
    );
    assert_eq!(proxy.bytes_forwarded(), before, "forwarded while frozen");
    assert_eq!(echo.received(), 1);

    // Everything written while frozen comes back, in order.
    proxy.thaw();
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(T)).unwrap();
    let got = read_n(&mut c, total);
    if let Some(i) = (0..total).find(|&i| got[i] != pattern(i)) {
        panic!("byte {i} of {total} corrupted");
    }
    let expected = (1 + total as u64, 1 + total as u64);
    wait_for("byte counters", || proxy.bytes_forwarded() == expected);
}

#[test]
fn cut_closes_both_sides_and_new_connections_work() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut c1 = connect(&proxy);
    let mut c2 = connect(&proxy);
    roundtrip(&mut c1, b"one");
    roundtrip(&mut c2, b"two");
    assert!(proxy.wait_connections(2, T));
    assert_eq!(echo.active(), 2);

    proxy.cut();
    assert_eq!(proxy.connections(), 0);
    expect_closed(&mut c1);
    expect_closed(&mut c2);
    wait_for("upstream sides closed", || echo.active() == 0);

    let mut c3 = connect(&proxy);
    roundtrip(&mut c3, b"three");
    assert!(proxy.wait_connections(1, T));
    assert_eq!(echo.accepted(), 3);
}

#[test]
fn cut_while_frozen_closes_and_stays_frozen() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut c1 = connect(&proxy);
    roundtrip(&mut c1, b"one");
    proxy.freeze();
    c1.write_all(b"lost").unwrap();
    proxy.cut();
    expect_closed(&mut c1);
    wait_for("upstream side closed", || echo.active() == 0);
    assert_eq!(echo.received(), 3);

    // New connections are accepted but still frozen.
    let mut c2 = connect(&proxy);
    assert!(proxy.wait_connections(1, T));
    c2.write_all(b"two").unwrap();
    expect_silence(&mut c2);
    proxy.thaw();
    assert_eq!(read_n(&mut c2, 3), b"two");
}

#[test]
fn set_upstream_affects_new_connections_only() {
    let a = Echo::start();
    let b = Echo::start();
    let proxy = Proxy::start(a.addr);
    let mut c1 = connect(&proxy);
    roundtrip(&mut c1, b"to a");

    proxy.set_upstream(b.addr);
    let mut c2 = connect(&proxy);
    roundtrip(&mut c2, b"to b");
    roundtrip(&mut c1, b"still a");
    assert_eq!((a.accepted(), b.accepted()), (1, 1));
    assert_eq!(a.received(), 4 + 7);
    assert_eq!(b.received(), 4);
}

#[test]
fn upstream_connect_failure_closes_client() {
    // A port nobody listens on (bound and released).
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let proxy = Proxy::start(dead);
    let mut c = connect(&proxy);
    expect_closed(&mut c);
    assert_eq!(proxy.connections(), 0);

    let echo = Echo::start();
    proxy.set_upstream(echo.addr);
    let mut c = connect(&proxy);
    roundtrip(&mut c, b"recovered");
}

#[test]
fn drop_closes_everything_promptly() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut c1 = connect(&proxy);
    let mut c2 = connect(&proxy);
    roundtrip(&mut c1, b"one");
    roundtrip(&mut c2, b"two");
    proxy.freeze();

    let start = Instant::now();
    drop(proxy);
    let took = start.elapsed();
    assert!(took < Duration::from_millis(500), "drop took {took:?}");
    expect_closed(&mut c1);
    expect_closed(&mut c2);
    wait_for("upstream sides closed", || echo.active() == 0);
}
