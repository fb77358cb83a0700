//! A fault-injection TCP proxy for the integration tests.
//!
//! ```ignore
//! let server = common::NatsServer::start();
//! let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.port()));
//! let proxy = common::proxy::Proxy::start(addr);
//! // connect the client to proxy.url() instead of server.url(), then:
//! proxy.freeze(); // dead network: nothing moves, sockets stay open
//! proxy.thaw(); // everything held meanwhile is delivered
//! proxy.cut(); // every current connection is closed (FIN both sides)
//! ```
//!
//! Every accepted client connection gets its own upstream connection and two
//! pumps (client->server and server->client). While frozen the pumps do not
//! call `read()` at all, so the kernel buffers fill up and the client's
//! writes eventually block, exactly as with a peer that stopped reading.
//!
//! All threads poll their flags at least every [`TICK`] and are joined on
//! drop, which also closes every socket.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Socket read/write timeout and flag polling interval of every thread.
pub const TICK: Duration = Duration::from_millis(20);
/// Timeout for connecting to the upstream (loopback: immediate in practice).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// How long [`Proxy::freeze`] waits for the pumps to park.
const PARK_TIMEOUT: Duration = Duration::from_secs(2);
/// Pump buffer size.
const BUF_SIZE: usize = 16 * 1024;

/// A TCP proxy on `127.0.0.1:<random port>` in front of one upstream.
/// Stops its threads and closes every socket on drop.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// State shared by the proxy handle, the accept thread and the pumps.
struct Shared {
    /// Set on drop: every thread exits.
    stop: AtomicBool,
    /// Freeze state, guarded together with the pump counters.
    pumps: Mutex<PumpState>,
    /// Signalled on freeze/thaw/cut/stop and when a pump parks or exits.
    cv: Condvar,
    upstream: Mutex<SocketAddr>,
    /// Open proxied connections by id.
    conns: Mutex<HashMap<u64, Conn>>,
    /// Bytes written to the upstream (client->server).
    c2s: AtomicU64,
    /// Bytes written to the client (server->client).
    s2c: AtomicU64,
}

#[derive(Default)]
struct PumpState {
    frozen: bool,
    /// Pumps currently running.
    running: usize,
    /// Pumps currently waiting for a thaw (not touching their sockets).
    parked: usize,
}

/// Registry entry of one proxied connection (clones of its sockets).
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    closed: Arc<AtomicBool>,
}

impl Conn {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

/// Why a pump ended.
enum PumpEnd {
    /// The source sent FIN: half-close the destination and let the other
    /// direction continue.
    Eof,
    /// An I/O error, a cut or the proxy stopping: close the connection.
    Close,
}

impl Proxy {
    /// Starts a proxy on `127.0.0.1:0` that forwards every connection it
    /// accepts to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("proxy: local_addr");
        listener
            .set_nonblocking(true)
            .expect("proxy: set_nonblocking");
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            pumps: Mutex::new(PumpState::default()),
            cv: Condvar::new(),
            upstream: Mutex::new(upstream),
            conns: Mutex::new(HashMap::new()),
            c2s: AtomicU64::new(0),
            s2c: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("proxy-accept-{}", addr.port()))
                .spawn(move || accept_loop(listener, shared))
                .expect("proxy: spawn accept thread")
        };
        Proxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.addr.port())
    }

    /// The proxy's listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops forwarding in both directions, on current and new connections,
    /// without closing anything. Returns once no pump is inside a socket
    /// call any more (normally within one [`TICK`]): from then on nothing is
    /// read from or written to any proxied socket until [`thaw`](Self::thaw).
    pub fn freeze(&self) {
        let mut st = self.shared.lock_pumps();
        st.frozen = true;
        self.shared.cv.notify_all();
        let deadline = Instant::now() + PARK_TIMEOUT;
        while st.frozen && st.parked < st.running {
            let now = Instant::now();
            assert!(
                now < deadline,
                "proxy: pumps did not park within {PARK_TIMEOUT:?} ({} of {})",
                st.parked,
                st.running
            );
            st = self.shared.wait(st, (deadline - now).min(TICK));
        }
    }

    /// Resumes forwarding; data held while frozen is delivered.
    pub fn thaw(&self) {
        let mut st = self.shared.lock_pumps();
        st.frozen = false;
        self.shared.cv.notify_all();
    }

    /// Whether the proxy is frozen.
    pub fn is_frozen(&self) -> bool {
        self.shared.lock_pumps().frozen
    }

    /// Closes every current connection: both directions of both the client
    /// and the upstream socket are shut down (the peers see EOF). New
    /// connections are accepted and proxied as before (still frozen if the
    /// proxy is frozen).
    pub fn cut(&self) {
        for conn in self.shared.lock_conns().values() {
            conn.close();
        }
        // Wake parked pumps so they notice the closed flag at once.
        let _st = self.shared.lock_pumps();
        self.shared.cv.notify_all();
    }

    /// Sends connections accepted from now on to `addr`.
    pub fn set_upstream(&self, addr: SocketAddr) {
        *self
            .shared
            .upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = addr;
    }

    /// The upstream new connections go to.
    pub fn upstream(&self) -> SocketAddr {
        *self
            .shared
            .upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Number of proxied connections currently open (accepted, connected
    /// upstream and not closed).
    pub fn connections(&self) -> usize {
        self.shared
            .lock_conns()
            .values()
            .filter(|c| !c.closed.load(Ordering::SeqCst))
            .count()
    }

    /// Waits up to `timeout` until [`connections`](Self::connections) equals
    /// `n`; returns whether it did.
    pub fn wait_connections(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.connections() == n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Bytes forwarded so far: (client->server, server->client).
    pub fn bytes_forwarded(&self) -> (u64, u64) {
        (
            self.shared.c2s.load(Ordering::SeqCst),
            self.shared.s2c.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _st = self.shared.lock_pumps();
            self.shared.cv.notify_all();
        }
        for conn in self.shared.lock_conns().values() {
            conn.close();
        }
        // The accept thread joins every connection thread, which joins its
        // second pump; the listener is closed when the accept thread ends.
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        // Anything registered in a race with the stop flag.
        for (_, conn) in self.shared.lock_conns().drain() {
            conn.close();
        }
    }
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn lock_pumps(&self) -> MutexGuard<'_, PumpState> {
        self.pumps.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_conns(&self) -> MutexGuard<'_, HashMap<u64, Conn>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(
        &self,
        guard: MutexGuard<'a, PumpState>,
        timeout: Duration,
    ) -> MutexGuard<'a, PumpState> {
        match self.cv.wait_timeout(guard, timeout) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        }
    }

    /// Called by a pump before every socket call: waits (without touching
    /// any socket) while the proxy is frozen. Returns false when the pump
    /// must end (proxy stopped or connection closed).
    fn may_proceed(&self, closed: &AtomicBool) -> bool {
        let must_end = || self.stopped() || closed.load(Ordering::SeqCst);
        let mut st = self.lock_pumps();
        if st.frozen && !must_end() {
            st.parked += 1;
            self.cv.notify_all();
            while st.frozen && !must_end() {
                st = self.wait(st, TICK);
            }
            st.parked -= 1;
        }
        !must_end()
    }

    fn pump_started(&self) {
        self.lock_pumps().running += 1;
    }

    fn pump_ended(&self) {
        let mut st = self.lock_pumps();
        st.running -= 1;
        self.cv.notify_all();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id: u64 = 0;
    while !shared.stopped() {
        match listener.accept() {
            Ok((client, _)) => {
                next_id += 1;
                let id = next_id;
                let shared = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name(format!("proxy-conn-{id}"))
                    .spawn(move || run_connection(id, client, shared));
                // On spawn failure the closure (and the client socket) is
                // dropped, which closes the connection.
                if let Ok(h) = spawned {
                    workers.push(h);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(_) => thread::sleep(TICK),
        }
        // Reap finished connection threads.
        let (done, alive): (Vec<_>, Vec<_>) = workers.into_iter().partition(|h| h.is_finished());
        for h in done {
            let _ = h.join();
        }
        workers = alive;
    }
    drop(listener);
    for h in workers {
        let _ = h.join();
    }
}

/// Connects `client` to the upstream and pumps until both directions end.
fn run_connection(id: u64, client: TcpStream, shared: Arc<Shared>) {
    let upstream_addr = *shared.upstream.lock().unwrap_or_else(|e| e.into_inner());
    let upstream = match TcpStream::connect_timeout(&upstream_addr, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(_) => {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    };
    if configure(&client).is_err() || configure(&upstream).is_err() {
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    }
    // Clones: two for the registry (cut/drop), two for the s2c pump.
    let clones = (|| {
        Ok::<_, std::io::Error>((
            client.try_clone()?,
            upstream.try_clone()?,
            upstream.try_clone()?,
            client.try_clone()?,
        ))
    })();
    let Ok((client_reg, upstream_reg, s2c_src, s2c_dst)) = clones else {
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    };
    let closed = Arc::new(AtomicBool::new(false));
    let conn = Conn {
        client: client_reg,
        upstream: upstream_reg,
        closed: Arc::clone(&closed),
    };
    {
        let mut conns = shared.lock_conns();
        if shared.stopped() {
            conn.close();
            return;
        }
        conns.insert(id, conn);
    }

    // server->client runs on a second thread, client->server on this one.
    let s2c = {
        let shared = Arc::clone(&shared);
        let closed = Arc::clone(&closed);
        thread::Builder::new()
            .name(format!("proxy-s2c-{id}"))
            .spawn(move || {
                pump_and_finish(
                    &shared,
                    s2c_src,
                    s2c_dst,
                    &closed,
                    Direction::ServerToClient,
                )
            })
    };
    match s2c {
        Ok(h) => {
            pump_and_finish(
                &shared,
                client,
                upstream,
                &closed,
                Direction::ClientToServer,
            );
            let _ = h.join();
        }
        Err(_) => {
            closed.store(true, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
    // Both pumps are done: make sure both sockets are closed both ways
    // (the registry holds the last clones, dropped here).
    if let Some(conn) = shared.lock_conns().remove(&id) {
        conn.close();
    }
}

fn configure(s: &TcpStream) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(TICK))?;
    s.set_write_timeout(Some(TICK))?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Direction {
    ClientToServer,
    ServerToClient,
}

/// Runs one pump and applies its outcome: on EOF half-close the
/// destination, otherwise close the whole connection.
fn pump_and_finish(
    shared: &Shared,
    mut src: TcpStream,
    mut dst: TcpStream,
    closed: &AtomicBool,
    dir: Direction,
) {
    shared.pump_started();
    let end = pump(shared, &mut src, &mut dst, closed, dir);
    match end {
        PumpEnd::Eof => {
            let _ = dst.shutdown(Shutdown::Write);
        }
        PumpEnd::Close => {
            closed.store(true, Ordering::SeqCst);
            let _ = src.shutdown(Shutdown::Both);
            let _ = dst.shutdown(Shutdown::Both);
        }
    }
    shared.pump_ended();
}

fn pump(
    shared: &Shared,
    src: &mut TcpStream,
    dst: &mut TcpStream,
    closed: &AtomicBool,
    dir: Direction,
) -> PumpEnd {
    let counter = match dir {
        Direction::ClientToServer => &shared.c2s,
        Direction::ServerToClient => &shared.s2c,
    };
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        if !shared.may_proceed(closed) {
            return PumpEnd::Close;
        }
        let n = match src.read(&mut buf) {
            Ok(0) => return PumpEnd::Eof,
            Ok(n) => n,
            Err(e) if is_transient(&e) => continue,
            Err(_) => return PumpEnd::Close,
        };
        let mut off = 0;
        while off < n {
            if !shared.may_proceed(closed) {
                return PumpEnd::Close;
            }
            match dst.write(&buf[off..n]) {
                Ok(0) => return PumpEnd::Close,
                Ok(k) => {
                    off += k;
                    counter.fetch_add(k as u64, Ordering::SeqCst);
                }
                Err(e) if is_transient(&e) => {}
                Err(_) => return PumpEnd::Close,
            }
        }
    }
}

/// A read/write timeout or an interrupted call: retry after checking flags.
fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}
