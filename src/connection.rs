//! The blocking client: [`Connection`] and [`Subscription`].
//!
//! Lock order (never take them the other way round, never call user code while
//! holding either):
//! 1. `ConnInner::state` (the engine and connect bookkeeping)
//! 2. `Mux::waiters`
//!
//! User threads never wait on the network while holding a lock: they wait on
//! `ConnInner::cond` (with the state lock released by the wait) or on a channel.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::dispatch::{self, InFlight};
use crate::driver::{self, Cmd, LoopHandle};
use crate::engine::{Delivery, Engine, EngineConfig, Event, Phase, Statistics, SubSink};
use crate::error::{Error, ErrorKind, Result, err};
use crate::headers::Headers;
use crate::message::Message;
use crate::options::{Options, ServerUrl};
use crate::proto::{ConnectInfo, MsgFrame, ServerInfo, ServerOp};
use crate::subject;

static NEXT_CONN_ID: AtomicUsize = AtomicUsize::new(1);

/// Connection status, as nats.c's `natsConnStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStatus {
    /// Not connected.
    Disconnected,
    /// Connecting for the first time.
    Connecting,
    /// Connected.
    Connected,
    /// Closed for good.
    Closed,
    /// Lost the server, trying to reconnect.
    Reconnecting,
    /// Draining subscriptions.
    DrainingSubs,
    /// Draining publishes.
    DrainingPubs,
}

/// Connection health, for monitoring (an extension over nats.c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Current status.
    pub status: ConnStatus,
    /// Pings sent that have had no PONG yet.
    pub pings_out: i32,
    /// Configured ping interval (`None`: pings disabled).
    pub ping_interval: Option<Duration>,
    /// Unanswered pings that make the connection stale.
    pub max_pings_out: i32,
    /// Time since the last byte from the server.
    pub since_last_read: Option<Duration>,
    /// Successful reconnections so far.
    pub reconnects: u64,
    /// The last error recorded on the connection.
    pub last_error: Option<Error>,
}

struct State {
    engine: Engine<Sink>,
    /// Result of the handshake in progress (None while waiting).
    connect_result: Option<Result<()>>,
    url: Option<ServerUrl>,
    socket_gen: u64,
    socket_active: bool,
    last_read: Option<Instant>,
}

/// Shared state of one connection; owned by the user handles, the io loop,
/// delivery and reconnect threads.
pub(crate) struct ConnInner {
    id: usize,
    opts: Options,
    state: Mutex<State>,
    cond: Condvar,
    io: Arc<LoopHandle>,
    write_signaled: AtomicBool,
    mux: OnceLock<Arc<Mux>>,
    me: std::sync::Weak<ConnInner>,
    callbacks: Arc<InFlight>,
    reconnecting: AtomicBool,
}

/// A connection to a NATS server. Cheap to clone; all clones share the
/// connection, which is closed when the last clone is dropped (or by
/// [`Connection::close`]).
///
/// # Examples
/// ```no_run
/// let nc = nats::Connection::connect("nats://127.0.0.1:4222")?;
/// let sub = nc.subscribe("greet")?;
/// nc.publish("greet", b"hello")?;
/// let msg = sub.next_msg(std::time::Duration::from_secs(1))?;
/// assert_eq!(msg.payload(), b"hello");
/// # Ok::<(), nats::Error>(())
/// ```
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnInner>,
    _guard: Option<Arc<CloseGuard>>,
}

struct CloseGuard(Arc<ConnInner>);

impl Drop for CloseGuard {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("status", &self.status())
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Subscriptions' shared state and sinks.

const SUB_OPEN: u8 = 0;
const SUB_UNSUBSCRIBED: u8 = 1;
const SUB_CONN_CLOSED: u8 = 2;

/// What the application side of a subscription shares with the engine side.
pub(crate) struct SubShared {
    sid: AtomicU64,
    subject: String,
    queue: Option<String>,
    rx: Receiver<Message>,
    pending_msgs: AtomicUsize,
    pending_bytes: AtomicUsize,
    limit_msgs: AtomicUsize,
    limit_bytes: AtomicUsize,
    dropped: AtomicU64,
    delivered: AtomicU64,
    slow: AtomicBool,
    slow_report: AtomicBool,
    max: AtomicU64,
    state: AtomicU8,
    is_async: bool,
}

impl SubShared {
    fn close_with(&self, state: u8) {
        let _ = self
            .state
            .compare_exchange(SUB_OPEN, state, Ordering::AcqRel, Ordering::Acquire);
    }

    fn consumed(&self, m: &Message) {
        self.pending_msgs.fetch_sub(1, Ordering::AcqRel);
        self.pending_bytes.fetch_sub(m.size(), Ordering::AcqRel);
        self.delivered.fetch_add(1, Ordering::AcqRel);
    }
}

/// Request multiplexer: one wildcard inbox subscription per connection.
pub(crate) struct Mux {
    prefix: String,
    next: AtomicU64,
    waiters: Mutex<HashMap<String, Sender<Message>>>,
}

/// The engine-side end of a subscription.
#[derive(Clone)]
pub(crate) enum Sink {
    Sub(Arc<SubShared>, Sender<Message>),
    Mux(Arc<Mux>),
}

impl SubSink for Sink {
    fn deliver(&self, frame: MsgFrame) -> Delivery {
        match self {
            Sink::Sub(s, tx) => {
                let size = frame.header_len + frame.payload_len;
                let pm = s.pending_msgs.load(Ordering::Acquire);
                let pb = s.pending_bytes.load(Ordering::Acquire);
                if pm >= s.limit_msgs.load(Ordering::Relaxed)
                    || pb + size > s.limit_bytes.load(Ordering::Relaxed)
                {
                    s.dropped.fetch_add(1, Ordering::AcqRel);
                    s.slow_report.store(true, Ordering::Release);
                    let first = !s.slow.swap(true, Ordering::AcqRel);
                    return Delivery::Dropped { first };
                }
                s.slow.store(false, Ordering::Release);
                let msg = Message::from_frame_lenient(frame);
                s.pending_msgs.fetch_add(1, Ordering::AcqRel);
                s.pending_bytes.fetch_add(size, Ordering::AcqRel);
                if tx.send(msg).is_err() {
                    s.pending_msgs.fetch_sub(1, Ordering::AcqRel);
                    s.pending_bytes.fetch_sub(size, Ordering::AcqRel);
                }
                Delivery::Queued
            }
            Sink::Mux(m) => {
                let token = frame.subject().get(m.prefix.len()..).unwrap_or("");
                let waiter = m.waiters.lock().remove(token);
                if let Some(tx) = waiter {
                    let _ = tx.try_send(Message::from_frame_lenient(frame));
                }
                Delivery::Queued
            }
        }
    }
}

/// A subscription. Synchronous ones are read with [`Subscription::next_msg`] or
/// by iterating; asynchronous ones call their handler on a delivery thread.
/// Dropping the handle unsubscribes.
pub struct Subscription {
    shared: Arc<SubShared>,
    conn: Arc<ConnInner>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("sid", &self.sid())
            .field("subject", &self.shared.subject)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Connecting.

fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(vec![
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
        ]);
    }
    // getaddrinfo cannot be cancelled: run it on a helper thread so the
    // connect deadline holds even when DNS hangs.
    let (tx, rx) = crossbeam_channel::bounded(1);
    let target = format!("{host}:{port}");
    std::thread::Builder::new()
        .name("nats-resolve".into())
        .spawn(move || {
            let r = target.to_socket_addrs().map(|a| a.collect::<Vec<_>>());
            let _ = tx.send(r);
        })
        .map_err(Error::from)?;
    match rx.recv_deadline(deadline) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => err(ErrorKind::NoServer, format!("no address for {host}")),
        Ok(Err(e)) => err(ErrorKind::NoServer, format!("cannot resolve {host}: {e}")),
        Err(_) => err(ErrorKind::NoServer, format!("resolving {host} timed out")),
    }
}

impl ConnInner {
    pub(crate) fn id(&self) -> usize {
        self.id
    }

    pub(crate) fn io_buf_size(&self) -> usize {
        self.opts.io_buf_size
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Wakes the io loop if it is not already due to write.
    fn kick(&self) {
        if !self.write_signaled.swap(true, Ordering::AcqRel) {
            self.io.send(Cmd::Write(self.id));
        }
    }

    /// Called by the io loop: hands over pending output. Returns false (and
    /// clears the write signal) when there is none.
    pub(crate) fn take_output(&self, dst: &mut Vec<u8>) -> bool {
        let mut st = self.lock();
        if st.engine.has_output() {
            st.engine.take_output(dst);
            true
        } else {
            self.write_signaled.store(false, Ordering::Release);
            false
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.lock().engine.next_deadline()
    }

    /// Called by the io loop with parsed ops; returns an error if the socket must go.
    pub(crate) fn process(
        &self,
        ops: &mut Vec<ServerOp>,
        events: &mut Vec<Event>,
    ) -> Option<Error> {
        let now = Instant::now();
        {
            let mut st = self.lock();
            st.last_read = Some(now);
            for op in ops.drain(..) {
                st.engine.handle(op, now);
            }
            st.engine.drain_events(events);
        }
        self.on_events(events)
    }

    /// Called by the io loop when the engine's deadline passed.
    pub(crate) fn tick(&self, now: Instant, events: &mut Vec<Event>) -> Option<Error> {
        {
            let mut st = self.lock();
            st.engine.tick(now);
            st.engine.drain_events(events);
        }
        self.on_events(events)
    }

    fn on_events(&self, events: &mut Vec<Event>) -> Option<Error> {
        let mut lost = None;
        for ev in events.drain(..) {
            match ev {
                Event::Connected { .. } => {
                    self.lock().connect_result = Some(Ok(()));
                    self.cond.notify_all();
                }
                Event::Pong => {
                    self.cond.notify_all();
                }
                Event::HandshakeFailed(e) => {
                    self.lock().connect_result = Some(Err(e.clone()));
                    self.cond.notify_all();
                    lost = Some(e);
                }
                Event::Disconnect(e) => lost = Some(e),
                Event::AsyncError(sid, e) => self.post_error(sid, e),
                Event::LameDuck => {}
            }
        }
        lost
    }

    fn post_error(&self, sid: Option<u64>, e: Error) {
        let Some(view) = self.view() else {
            return;
        };
        match self.opts.error_cb.clone() {
            Some(cb) => dispatch::post(&self.callbacks, move || cb(&view, sid, &e)),
            None => dispatch::post(&self.callbacks, move || {
                let on = sid.map(|s| format!(" (sid {s})")).unwrap_or_default();
                eprintln!(
                    "Error {} - {} on connection [{}]{on}",
                    crate::ffi::status_code(e.kind()),
                    e,
                    view.inner.id
                );
            }),
        }
    }

    fn post_conn_cb(&self, cb: &Option<crate::options::ConnCallback>) {
        if let (Some(cb), Some(view)) = (cb.clone(), self.view()) {
            dispatch::post(&self.callbacks, move || cb(&view));
        }
    }

    /// A connection handle that does not keep the connection open (given to callbacks).
    fn view(&self) -> Option<Connection> {
        // Callbacks get a handle without the close guard; see `Connection::_guard`.
        self.self_arc().map(|inner| Connection {
            inner,
            _guard: None,
        })
    }

    /// The `Arc` this inner lives in. Methods run through an `Arc`, so the
    /// upgrade only fails during the final drop, when nothing calls them.
    fn self_arc(&self) -> Option<Arc<ConnInner>> {
        self.me.upgrade()
    }

    /// Called by the io loop when the socket is gone (EOF, error, stale...).
    pub(crate) fn socket_lost(&self, cause: Error) {
        let mut st = self.lock();
        if st.connect_result.is_none() {
            // Lost during a handshake that somebody is waiting for.
            st.connect_result = Some(Err(cause.clone()));
            st.engine.disconnected(Some(cause), true);
            drop(st);
            self.cond.notify_all();
            return;
        }
        if !st.socket_active || st.engine.phase() == Phase::Closed {
            return;
        }
        st.socket_active = false;
        let reconnect = self.opts.allow_reconnect && st.engine.ever_connected();
        let sinks = st.engine.disconnected(Some(cause), reconnect);
        drop(st);
        self.cond.notify_all();
        self.post_conn_cb(&self.opts.disconnected_cb);
        if reconnect {
            self.start_reconnect();
        } else {
            self.finish_close(sinks);
        }
    }

    fn start_reconnect(&self) {
        if self.reconnecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(me) = self.self_arc() else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("nats-reconnect".into())
            .spawn(move || {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    me.reconnect_loop();
                }));
                me.reconnecting.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.reconnecting.store(false, Ordering::Release);
            let sinks = self.lock().engine.close();
            self.finish_close(sinks);
        }
    }

    fn reconnect_loop(&self) {
        let servers = self.opts.server_list();
        let mut attempts: HashMap<String, i32> = HashMap::new();
        let mut order = servers.clone();
        // Start with the server after the one we lost.
        let first = 1.min(order.len());
        order.rotate_left(first);
        loop {
            let mut tried_any = false;
            for url in &order {
                if self.is_closed() {
                    return;
                }
                let n = attempts.entry(url.clone()).or_insert(0);
                if self.opts.max_reconnect >= 0 && *n >= self.opts.max_reconnect {
                    continue;
                }
                *n += 1;
                tried_any = true;
                if self.try_server(url).is_ok() {
                    self.lock().engine.count_reconnect();
                    self.post_conn_cb(&self.opts.reconnected_cb);
                    return;
                }
            }
            if !tried_any {
                break;
            }
            // Wait between passes; close interrupts the wait.
            let jitter = jitter(self.opts.reconnect_jitter);
            let deadline = Instant::now() + self.opts.reconnect_wait + jitter;
            let mut st = self.lock();
            while st.engine.phase() != Phase::Closed {
                if self.cond.wait_until(&mut st, deadline).timed_out() {
                    break;
                }
            }
        }
        let sinks = {
            let mut st = self.lock();
            if st.engine.phase() == Phase::Closed {
                return;
            }
            if st.engine.last_error().is_none() {
                st.engine.disconnected(
                    Some(Error::new(
                        ErrorKind::NoServer,
                        "reconnect attempts exhausted",
                    )),
                    true,
                );
            }
            st.engine.close()
        };
        self.cond.notify_all();
        self.finish_close(sinks);
    }

    fn is_closed(&self) -> bool {
        self.lock().engine.phase() == Phase::Closed
    }

    /// One attempt at one server: resolve, TCP connect and handshake on the
    /// io loop, all within the connect timeout.
    fn try_server(&self, url: &str) -> Result<()> {
        let deadline = Instant::now() + self.opts.timeout;
        let su = ServerUrl::parse(url)?;
        let addrs = resolve(&su.host, su.port, deadline)?;
        let mut last = Error::new(ErrorKind::NoServer, format!("no server available at {url}"));
        for addr in addrs {
            let stream = match mio::net::TcpStream::connect(addr) {
                Ok(s) => s,
                Err(e) => {
                    last = Error::new(ErrorKind::NoServer, format!("connect to {addr}: {e}"));
                    continue;
                }
            };
            let generation = {
                let mut st = self.lock();
                if st.engine.phase() == Phase::Closed {
                    return err(ErrorKind::ConnectionClosed, "connection closed");
                }
                st.socket_gen += 1;
                st.connect_result = None;
                st.url = Some(su.clone());
                let (user, pass, token) = credentials(&self.opts, &su);
                st.engine.set_credentials(user, pass, token);
                st.engine.start_handshake();
                st.socket_gen
            };
            let Some(conn) = self.self_arc() else {
                return err(ErrorKind::ConnectionClosed, "connection closed");
            };
            self.io.send(Cmd::Attach {
                conn,
                stream,
                generation,
            });
            let mut st = self.lock();
            while st.connect_result.is_none() {
                if self.cond.wait_until(&mut st, deadline).timed_out() {
                    break;
                }
            }
            let result = st.connect_result.take().unwrap_or_else(|| {
                err(
                    ErrorKind::NoServer,
                    format!("no handshake from {addr} within {:?}", self.opts.timeout),
                )
            });
            match result {
                Ok(()) => {
                    st.socket_active = true;
                    // Signal "not waiting" for later socket losses.
                    st.connect_result = Some(Ok(()));
                    drop(st);
                    // Replayed subscriptions and buffered publishes must go out.
                    self.kick();
                    return Ok(());
                }
                Err(e) => {
                    if st.engine.phase() != Phase::Closed {
                        st.engine.disconnected(None, true);
                    }
                    // Keep `connect_result` unset-equivalent for the next try.
                    st.connect_result = Some(Err(e.clone()));
                    drop(st);
                    self.io.send(Cmd::Detach {
                        id: self.id,
                        generation,
                    });
                    if e.kind() == ErrorKind::AuthFailed
                        || e.kind() == ErrorKind::NoServerSupport
                        || e.kind() == ErrorKind::Other
                    {
                        return Err(e);
                    }
                    last = if e.kind() == ErrorKind::NoServer {
                        e
                    } else {
                        Error::new(ErrorKind::NoServer, e.text().to_string())
                    };
                }
            }
        }
        Err(last)
    }

    /// Closes the connection (idempotent): flushes for up to 500 ms, fails
    /// waiters, closes subscriptions, runs disconnected and closed callbacks.
    pub(crate) fn close(&self) {
        let connected = self.lock().engine.phase() == Phase::Connected;
        if connected {
            let _ = self.flush_timeout(Duration::from_millis(500));
        }
        let (sinks, had_socket, generation) = {
            let mut st = self.lock();
            if st.engine.phase() == Phase::Closed {
                return;
            }
            let had = st.socket_active;
            st.socket_active = false;
            (st.engine.close(), had, st.socket_gen)
        };
        self.cond.notify_all();
        self.io.send(Cmd::Detach {
            id: self.id,
            generation,
        });
        if had_socket {
            self.post_conn_cb(&self.opts.disconnected_cb);
        }
        self.finish_close(sinks);
    }

    fn finish_close(&self, sinks: Vec<Sink>) {
        for s in &sinks {
            if let Sink::Sub(shared, _) = s {
                shared.close_with(SUB_CONN_CLOSED);
            }
        }
        drop(sinks);
        if let Some(m) = self.mux.get() {
            m.waiters.lock().clear();
        }
        self.post_conn_cb(&self.opts.closed_cb);
    }

    fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        if timeout.is_zero() {
            return err(ErrorKind::InvalidTimeout, "flush timeout must be positive");
        }
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        // While reconnecting, wait for the connection to come back first.
        while matches!(
            st.engine.phase(),
            Phase::AwaitInfo | Phase::AwaitPong | Phase::Disconnected
        ) && st.engine.ever_connected()
        {
            if self.cond.wait_until(&mut st, deadline).timed_out() {
                return err(ErrorKind::Timeout, "flush timed out");
            }
        }
        let (ticket, _) = st.engine.flush_ping()?;
        drop(st);
        self.kick();
        let mut st = self.lock();
        loop {
            if let Some(r) = st.engine.flush_status(ticket) {
                return r;
            }
            if self.cond.wait_until(&mut st, deadline).timed_out() {
                return st
                    .engine
                    .flush_status(ticket)
                    .unwrap_or_else(|| err(ErrorKind::Timeout, "flush timed out"));
            }
        }
    }
}

fn credentials(
    opts: &Options,
    url: &ServerUrl,
) -> (Option<String>, Option<String>, Option<String>) {
    match (&url.user, &url.password) {
        (Some(u), Some(p)) => (Some(u.clone()), Some(p.clone()), None),
        (Some(t), None) => (None, None, Some(t.clone())),
        _ => (opts.user.clone(), opts.password.clone(), opts.token.clone()),
    }
}

fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut b = [0u8; 8];
    crate::nuid::random_bytes(&mut b);
    Duration::from_nanos(u64::from_le_bytes(b) % (max.as_nanos() as u64).max(1))
}

// ---------------------------------------------------------------------------
// The public API.

/// Handler of an asynchronous subscription: `Some(msg)`, or `None` when a
/// subscription created with an idle timeout saw nothing for that long.
pub(crate) type RawHandler = Box<dyn FnMut(Option<Message>) + Send>;

impl Connection {
    /// Connects to `url` (a comma-separated list is accepted) with default options.
    ///
    /// # Errors
    /// `NoServer` if no server could be reached, `AuthFailed` if the server
    /// refused the credentials, `InvalidArg` for a malformed URL.
    pub fn connect(url: &str) -> Result<Connection> {
        Options::new().url(url).connect()
    }

    /// Connects with `opts` (see [`Options::connect`]).
    ///
    /// # Errors
    /// As [`Connection::connect`].
    pub fn connect_with(opts: Options) -> Result<Connection> {
        let io = driver::assign().map_err(|e| {
            Error::new(
                ErrorKind::FailedToInitialize,
                format!("cannot start io loop: {e}"),
            )
        })?;
        let cfg = EngineConfig {
            ping_interval: opts.ping_interval,
            max_pings_out: opts.max_pings_out,
            reconnect_buf_size: opts.reconnect_buf_size,
            connect: ConnectInfo {
                verbose: opts.verbose,
                pedantic: opts.pedantic,
                name: opts.name.clone(),
                lang: "rust".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                protocol: 1,
                echo: !opts.no_echo,
                ..Default::default()
            },
            no_echo: opts.no_echo,
            disable_no_responders: opts.disable_no_responders,
        };
        let servers = opts.server_list();
        let inner = Arc::new_cyclic(|me| ConnInner {
            id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
            opts,
            state: Mutex::new(State {
                engine: Engine::new(cfg),
                connect_result: Some(Ok(())),
                url: None,
                socket_gen: 0,
                socket_active: false,
                last_read: None,
            }),
            cond: Condvar::new(),
            io,
            write_signaled: AtomicBool::new(false),
            mux: OnceLock::new(),
            me: me.clone(),
            callbacks: Arc::new(InFlight::default()),
            reconnecting: AtomicBool::new(false),
        });
        let mut last = Error::new(ErrorKind::NoServer, "no server available for connection");
        for url in &servers {
            match inner.try_server(url) {
                Ok(()) => {
                    return Ok(Connection {
                        _guard: Some(Arc::new(CloseGuard(inner.clone()))),
                        inner,
                    });
                }
                Err(e) => {
                    let fatal = e.kind() == ErrorKind::InvalidArg;
                    last = e;
                    if fatal {
                        break;
                    }
                }
            }
        }
        // Never connected: close quietly (no callbacks for a failed connect).
        inner.lock().engine.close();
        Err(last)
    }

    /// Publishes `payload` on `subject`.
    ///
    /// # Errors
    /// `InvalidSubject` (empty, whitespace), `MaxPayload`, `ConnectionClosed`,
    /// `InsufficientBuffer` (reconnect buffer full while disconnected).
    pub fn publish(&self, subject: &str, payload: &[u8]) -> Result<()> {
        subject::check_publish_subject(subject)?;
        self.publish_raw(subject, None, &[], payload)
    }

    /// Publishes with a reply subject.
    ///
    /// # Errors
    /// As [`Connection::publish`], plus `InvalidArg` for a bad reply subject.
    pub fn publish_request(&self, subject: &str, reply: &str, payload: &[u8]) -> Result<()> {
        subject::check_publish_subject(subject)?;
        subject::check_reply(reply)?;
        self.publish_raw(subject, Some(reply), &[], payload)
    }

    /// Publishes a message, with its reply subject and headers if it has them.
    ///
    /// # Errors
    /// As [`Connection::publish`], plus `NoServerSupport` for headers on a
    /// server without header support.
    pub fn publish_message(&self, msg: &Message) -> Result<()> {
        subject::check_publish_subject(msg.subject())?;
        if let Some(r) = msg.reply() {
            subject::check_reply(r)?;
        }
        let mut hdr = Vec::new();
        msg.encode_headers(&mut hdr);
        self.publish_raw(msg.subject(), msg.reply(), &hdr, msg.payload())
    }

    /// Publishes with headers.
    ///
    /// # Errors
    /// As [`Connection::publish_message`].
    pub fn publish_with_headers(
        &self,
        subject: &str,
        headers: &Headers,
        payload: &[u8],
    ) -> Result<()> {
        subject::check_publish_subject(subject)?;
        let mut hdr = Vec::new();
        headers.encode(&mut hdr);
        self.publish_raw(subject, None, &hdr, payload)
    }

    fn publish_raw(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: &[u8],
        payload: &[u8],
    ) -> Result<()> {
        self.inner
            .lock()
            .engine
            .publish(subject, reply, headers, payload)?;
        self.inner.kick();
        Ok(())
    }

    fn new_sub(
        &self,
        subject: &str,
        queue: Option<&str>,
        is_async: bool,
    ) -> Result<(Arc<SubShared>, Sender<Message>)> {
        subject::check_subscribe_subject(subject)?;
        if let Some(q) = queue {
            subject::check_queue(q)?;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(SubShared {
            sid: AtomicU64::new(0),
            subject: subject.to_string(),
            queue: queue.map(str::to_string),
            rx,
            pending_msgs: AtomicUsize::new(0),
            pending_bytes: AtomicUsize::new(0),
            limit_msgs: AtomicUsize::new(self.inner.opts.max_pending_msgs),
            limit_bytes: AtomicUsize::new(self.inner.opts.max_pending_bytes),
            dropped: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            slow: AtomicBool::new(false),
            slow_report: AtomicBool::new(false),
            max: AtomicU64::new(0),
            state: AtomicU8::new(SUB_OPEN),
            is_async,
        });
        Ok((shared, tx))
    }

    fn register(&self, shared: &Arc<SubShared>, tx: Sender<Message>) -> Result<()> {
        {
            let mut st = self.inner.lock();
            let (sid, _) = st.engine.subscribe(
                &shared.subject,
                shared.queue.as_deref(),
                Sink::Sub(shared.clone(), tx),
            )?;
            shared.sid.store(sid, Ordering::Release);
        }
        self.inner.kick();
        Ok(())
    }

    /// Subscribes to `subject` (wildcards allowed); read with [`Subscription::next_msg`].
    ///
    /// # Errors
    /// `InvalidSubject`, `ConnectionClosed`.
    pub fn subscribe(&self, subject: &str) -> Result<Subscription> {
        self.subscribe_sync_inner(subject, None)
    }

    /// Subscribes as a member of queue group `queue`: each message goes to one member.
    ///
    /// # Errors
    /// `InvalidSubject`, `InvalidQueueName`, `InvalidArg` (empty queue), `ConnectionClosed`.
    pub fn queue_subscribe(&self, subject: &str, queue: &str) -> Result<Subscription> {
        self.subscribe_sync_inner(subject, Some(queue))
    }

    fn subscribe_sync_inner(&self, subject: &str, queue: Option<&str>) -> Result<Subscription> {
        let (shared, tx) = self.new_sub(subject, queue, false)?;
        self.register(&shared, tx)?;
        Ok(Subscription {
            shared,
            conn: self.inner.clone(),
        })
    }

    /// Subscribes with a handler called for each message on a delivery thread
    /// of this subscription (one message at a time, in order).
    ///
    /// # Errors
    /// As [`Connection::subscribe`].
    pub fn subscribe_with_handler<F>(&self, subject: &str, mut handler: F) -> Result<Subscription>
    where
        F: FnMut(Message) + Send + 'static,
    {
        self.subscribe_async(
            subject,
            None,
            None,
            Box::new(move |m| {
                if let Some(m) = m {
                    handler(m)
                }
            }),
        )
    }

    /// Queue-group version of [`Connection::subscribe_with_handler`].
    ///
    /// # Errors
    /// As [`Connection::queue_subscribe`].
    pub fn queue_subscribe_with_handler<F>(
        &self,
        subject: &str,
        queue: &str,
        mut handler: F,
    ) -> Result<Subscription>
    where
        F: FnMut(Message) + Send + 'static,
    {
        self.subscribe_async(
            subject,
            Some(queue),
            None,
            Box::new(move |m| {
                if let Some(m) = m {
                    handler(m)
                }
            }),
        )
    }

    /// Asynchronous subscription; `idle` makes the handler get `None` after
    /// that long without a message.
    pub(crate) fn subscribe_async(
        &self,
        subject: &str,
        queue: Option<&str>,
        idle: Option<Duration>,
        mut handler: RawHandler,
    ) -> Result<Subscription> {
        let (shared, tx) = self.new_sub(subject, queue, true)?;
        let worker = shared.clone();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded::<bool>(1);
        std::thread::Builder::new()
            .name("nats-delivery".into())
            .spawn(move || {
                // Wait until the subscription is registered (or failed to be).
                if !ready_rx.recv().unwrap_or(false) {
                    return;
                }
                loop {
                    let next = match idle {
                        Some(d) => worker.rx.recv_timeout(d),
                        None => worker.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    };
                    match next {
                        Ok(m) => {
                            if worker.state.load(Ordering::Acquire) != SUB_OPEN {
                                break;
                            }
                            worker.consumed(&m);
                            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                handler(Some(m))
                            }))
                            .is_err()
                            {
                                eprintln!("nats: message handler panicked; delivery continues");
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {
                            if worker.state.load(Ordering::Acquire) != SUB_OPEN {
                                break;
                            }
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                handler(None)
                            }));
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::SysError,
                    format!("cannot start delivery thread: {e}"),
                )
            })?;
        match self.register(&shared, tx) {
            Ok(()) => {
                let _ = ready_tx.send(true);
                Ok(Subscription {
                    shared,
                    conn: self.inner.clone(),
                })
            }
            Err(e) => {
                let _ = ready_tx.send(false);
                Err(e)
            }
        }
    }

    /// Sends a request and waits up to `timeout` for the reply. All requests of
    /// a connection share one wildcard inbox subscription.
    ///
    /// # Errors
    /// `Timeout`, `NoResponders` (nobody subscribed to `subject`),
    /// `ConnectionClosed`, and the errors of [`Connection::publish`].
    pub fn request(&self, subject: &str, payload: &[u8], timeout: Duration) -> Result<Message> {
        self.request_inner(subject, &[], payload, timeout)
    }

    /// Sends a request message (its headers included) and waits for the reply.
    ///
    /// # Errors
    /// As [`Connection::request`].
    pub fn request_message(&self, msg: &Message, timeout: Duration) -> Result<Message> {
        let mut hdr = Vec::new();
        msg.encode_headers(&mut hdr);
        self.request_inner(msg.subject(), &hdr, msg.payload(), timeout)
    }

    fn request_inner(
        &self,
        subject: &str,
        headers: &[u8],
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Message> {
        subject::check_publish_subject(subject)?;
        if timeout.is_zero() {
            return err(
                ErrorKind::InvalidTimeout,
                "request timeout must be positive",
            );
        }
        let deadline = Instant::now() + timeout;
        let mux = self.mux()?;
        let token = base62(mux.next.fetch_add(1, Ordering::Relaxed));
        let reply = format!("{}{}", mux.prefix, token);
        let (tx, rx) = crossbeam_channel::bounded(1);
        mux.waiters.lock().insert(token.clone(), tx);
        if let Err(e) = self.publish_raw(subject, Some(&reply), headers, payload) {
            mux.waiters.lock().remove(&token);
            return Err(e);
        }
        match rx.recv_deadline(deadline) {
            Ok(m) if m.is_no_responders() => err(
                ErrorKind::NoResponders,
                format!("no responders for {subject:?}"),
            ),
            Ok(m) => Ok(m),
            Err(RecvTimeoutError::Timeout) => {
                mux.waiters.lock().remove(&token);
                err(
                    ErrorKind::Timeout,
                    format!("no reply on {subject:?} within {timeout:?}"),
                )
            }
            Err(RecvTimeoutError::Disconnected) => err(
                ErrorKind::ConnectionClosed,
                "connection closed during the request",
            ),
        }
    }

    fn mux(&self) -> Result<Arc<Mux>> {
        if let Some(m) = self.inner.mux.get() {
            return Ok(m.clone());
        }
        let prefix = format!("{}{}.", self.inner.opts.inbox_prefix, crate::nuid::next());
        let m = Arc::new(Mux {
            prefix,
            next: AtomicU64::new(1),
            waiters: Mutex::new(HashMap::new()),
        });
        let mut st = self.inner.lock();
        // Another thread may have won the race while we built ours.
        if let Some(existing) = self.inner.mux.get() {
            return Ok(existing.clone());
        }
        let wildcard = format!("{}*", m.prefix);
        st.engine.subscribe(&wildcard, None, Sink::Mux(m.clone()))?;
        let _ = self.inner.mux.set(m.clone());
        drop(st);
        self.inner.kick();
        Ok(m)
    }

    /// A new unique inbox subject (with this connection's inbox prefix).
    pub fn new_inbox(&self) -> String {
        format!("{}{}", self.inner.opts.inbox_prefix, crate::nuid::next())
    }

    /// Waits up to 10 s until the server has processed everything sent so far.
    ///
    /// # Errors
    /// As [`Connection::flush_timeout`].
    pub fn flush(&self) -> Result<()> {
        self.flush_timeout(Duration::from_secs(10))
    }

    /// Waits up to `timeout` until the server has processed everything sent so far
    /// (a PING/PONG round trip).
    ///
    /// # Errors
    /// `InvalidTimeout` (zero), `Timeout`, `ConnectionClosed`,
    /// `ConnectionDisconnected` (the connection dropped while waiting).
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        self.inner.flush_timeout(timeout)
    }

    /// Round-trip time to the server, measured with a PING/PONG.
    ///
    /// # Errors
    /// `ConnectionClosed`, `ConnectionDisconnected`, `Timeout`.
    pub fn rtt(&self) -> Result<Duration> {
        let phase = self.inner.lock().engine.phase();
        match phase {
            Phase::Closed => return err(ErrorKind::ConnectionClosed, "connection closed"),
            Phase::Connected => {}
            _ => return err(ErrorKind::ConnectionDisconnected, "not connected"),
        }
        let start = Instant::now();
        self.flush_timeout(Duration::from_secs(10))?;
        Ok(start.elapsed())
    }

    /// Closes the connection: pending publishes are flushed (up to 500 ms),
    /// subscriptions end, the closed callback runs once. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Waits until every callback already queued for this connection has run
    /// (returns at once when called from a callback).
    pub(crate) fn wait_callbacks(&self) {
        self.inner.callbacks.wait_idle();
    }

    /// The connection status.
    pub fn status(&self) -> ConnStatus {
        let st = self.inner.lock();
        match st.engine.phase() {
            Phase::Closed => ConnStatus::Closed,
            Phase::Connected => ConnStatus::Connected,
            _ if st.engine.ever_connected() => ConnStatus::Reconnecting,
            Phase::AwaitInfo | Phase::AwaitPong => ConnStatus::Connecting,
            Phase::Disconnected => ConnStatus::Disconnected,
        }
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.status() == ConnStatus::Closed
    }

    /// True while trying to reconnect.
    pub fn is_reconnecting(&self) -> bool {
        self.status() == ConnStatus::Reconnecting
    }

    /// The latest INFO of the server (`None` once closed or before connecting).
    pub fn server_info(&self) -> Option<ServerInfo> {
        let st = self.inner.lock();
        (st.engine.phase() != Phase::Closed).then(|| st.engine.info().clone())
    }

    /// URL of the server connected to (`None` when not connected).
    pub fn connected_url(&self) -> Option<String> {
        let st = self.inner.lock();
        match st.engine.phase() {
            Phase::Connected | Phase::AwaitInfo | Phase::AwaitPong => {
                st.url.as_ref().map(ServerUrl::display)
            }
            _ => None,
        }
    }

    /// Id of the server connected to (`None` when not connected).
    pub fn connected_server_id(&self) -> Option<String> {
        let st = self.inner.lock();
        match st.engine.phase() {
            Phase::Connected | Phase::AwaitPong => Some(st.engine.info().server_id.clone()),
            _ => None,
        }
    }

    /// The largest payload (headers included) the server accepts.
    pub fn max_payload(&self) -> i64 {
        self.inner.lock().engine.info().max_payload
    }

    /// The last error recorded on the connection (server `-ERR`, stale, I/O...).
    pub fn last_error(&self) -> Option<Error> {
        self.inner.lock().engine.last_error().cloned()
    }

    /// Message and byte counters.
    pub fn statistics(&self) -> Statistics {
        self.inner.lock().engine.stats()
    }

    /// Changes the ping interval of the live connection (`Duration::ZERO`
    /// disables pings). An extension over nats.c's options-only setting.
    pub fn set_ping_interval(&self, interval: Duration) {
        let interval = (!interval.is_zero()).then_some(interval);
        self.inner
            .lock()
            .engine
            .set_ping_interval(interval, Instant::now());
        self.inner.io.send(Cmd::Timer(self.inner.id));
    }

    /// Connection health: pings outstanding, time since the server last sent
    /// anything, reconnections, last error.
    pub fn health(&self) -> Health {
        let status = self.status();
        let st = self.inner.lock();
        Health {
            status,
            pings_out: st.engine.pings_out(),
            ping_interval: st.engine.ping_interval(),
            max_pings_out: st.engine.max_pings_out(),
            since_last_read: st.last_read.map(|t| t.elapsed()),
            reconnects: st.engine.stats().reconnects,
            last_error: st.engine.last_error().cloned(),
        }
    }

    /// Bytes queued for the socket and not yet handed to it (`None` once closed).
    pub fn buffered(&self) -> Option<usize> {
        let st = self.inner.lock();
        (st.engine.phase() != Phase::Closed).then(|| st.engine.buffered())
    }

    /// The connection's name from the options.
    pub fn name(&self) -> Option<&str> {
        self.inner.opts.name.as_deref()
    }

    /// True if both handles are the same connection.
    pub fn same(&self, other: &Connection) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

fn base62(mut n: u64) -> String {
    const D: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(11);
    loop {
        out.push(D[(n % 62) as usize]);
        n /= 62;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    out.into_iter().map(char::from).collect()
}

impl Subscription {
    /// The subscription id.
    pub fn sid(&self) -> u64 {
        self.shared.sid.load(Ordering::Acquire)
    }

    /// The subject subscribed to.
    pub fn subject(&self) -> &str {
        &self.shared.subject
    }

    /// The queue group, if any.
    pub fn queue(&self) -> Option<&str> {
        self.shared.queue.as_deref()
    }

    fn check_state(&self) -> Result<()> {
        match self.shared.state.load(Ordering::Acquire) {
            SUB_OPEN => Ok(()),
            SUB_CONN_CLOSED => err(ErrorKind::ConnectionClosed, "connection closed"),
            _ => err(ErrorKind::InvalidSubscription, "subscription is not valid"),
        }
    }

    /// The next message, waiting up to `timeout`.
    ///
    /// # Errors
    /// `Timeout`; `InvalidSubscription` after unsubscribe; `ConnectionClosed`;
    /// `MaxDeliveredMsgs` once an auto-unsubscribe limit was delivered;
    /// `SlowConsumer` once after messages were dropped; `IllegalState` on an
    /// asynchronous subscription.
    pub fn next_msg(&self, timeout: Duration) -> Result<Message> {
        if self.shared.is_async {
            return err(
                ErrorKind::IllegalState,
                "next_msg is not valid on an asynchronous subscription",
            );
        }
        self.check_state()?;
        let max = self.shared.max.load(Ordering::Acquire);
        if max > 0 && self.shared.delivered.load(Ordering::Acquire) >= max {
            return err(ErrorKind::MaxDeliveredMsgs, "maximum messages delivered");
        }
        if self.shared.slow_report.swap(false, Ordering::AcqRel) {
            return err(ErrorKind::SlowConsumer, "messages were dropped");
        }
        match self.shared.rx.recv_timeout(timeout) {
            Ok(m) => {
                self.shared.consumed(&m);
                Ok(m)
            }
            Err(RecvTimeoutError::Timeout) => err(ErrorKind::Timeout, "no message"),
            Err(RecvTimeoutError::Disconnected) => {
                self.check_state()?;
                if max > 0 {
                    return err(ErrorKind::MaxDeliveredMsgs, "maximum messages delivered");
                }
                err(ErrorKind::InvalidSubscription, "subscription is not valid")
            }
        }
    }

    /// Unsubscribes; the subscription delivers nothing more.
    ///
    /// # Errors
    /// `InvalidSubscription` if already unsubscribed, `ConnectionClosed`.
    pub fn unsubscribe(&self) -> Result<()> {
        self.check_state()?;
        let r = self.conn.lock().engine.unsubscribe(self.sid(), None);
        match r {
            Ok(_) => {
                self.shared.close_with(SUB_UNSUBSCRIBED);
                self.conn.kick();
                Ok(())
            }
            Err(e) => {
                if e.kind() == ErrorKind::InvalidSubscription {
                    self.shared.close_with(SUB_UNSUBSCRIBED);
                }
                Err(e)
            }
        }
    }

    /// Unsubscribes automatically after `max` messages in total; if that many
    /// were already received, unsubscribes now.
    ///
    /// # Errors
    /// `InvalidArg` for 0, and those of [`Subscription::unsubscribe`].
    pub fn auto_unsubscribe(&self, max: u64) -> Result<()> {
        if max == 0 {
            return err(ErrorKind::InvalidArg, "max must be positive");
        }
        self.check_state()?;
        self.shared.max.store(max, Ordering::Release);
        let (_, gone) = self.conn.lock().engine.unsubscribe(self.sid(), Some(max))?;
        if gone && self.shared.delivered.load(Ordering::Acquire) >= max {
            self.shared.close_with(SUB_UNSUBSCRIBED);
        }
        self.conn.kick();
        Ok(())
    }

    /// True while the subscription can still deliver.
    pub fn is_valid(&self) -> bool {
        if self.shared.state.load(Ordering::Acquire) != SUB_OPEN {
            return false;
        }
        let max = self.shared.max.load(Ordering::Acquire);
        if max > 0 && self.shared.delivered.load(Ordering::Acquire) >= max {
            return false;
        }
        self.conn.lock().engine.has_sub(self.sid()) || !self.shared.rx.is_empty()
    }

    /// Messages received but not yet handed to the application.
    pub fn pending(&self) -> (usize, usize) {
        (
            self.shared.pending_msgs.load(Ordering::Acquire),
            self.shared.pending_bytes.load(Ordering::Acquire),
        )
    }

    /// Messages dropped because of the pending limits.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Acquire)
    }

    /// Messages handed to the application.
    pub fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Acquire)
    }

    /// Sets the pending limits (messages, bytes); `None` means unlimited.
    pub fn set_pending_limits(&self, msgs: Option<usize>, bytes: Option<usize>) {
        self.shared
            .limit_msgs
            .store(msgs.unwrap_or(usize::MAX), Ordering::Release);
        self.shared
            .limit_bytes
            .store(bytes.unwrap_or(usize::MAX), Ordering::Release);
    }

    /// An iterator over messages; it ends when the subscription or connection closes.
    pub fn iter(&self) -> Iter<'_> {
        Iter { sub: self }
    }

    /// An iterator that yields messages as long as they arrive within `timeout`.
    pub fn timeout_iter(&self, timeout: Duration) -> TimeoutIter<'_> {
        TimeoutIter { sub: self, timeout }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.shared.state.load(Ordering::Acquire) == SUB_OPEN {
            let _ = self.conn.lock().engine.unsubscribe(self.sid(), None);
            self.shared.close_with(SUB_UNSUBSCRIBED);
            self.conn.kick();
        }
    }
}

/// Blocking iterator over a subscription's messages.
pub struct Iter<'a> {
    sub: &'a Subscription,
}

impl Iterator for Iter<'_> {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        loop {
            match self.sub.next_msg(Duration::from_secs(3600)) {
                Ok(m) => return Some(m),
                Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::SlowConsumer) => {}
                Err(_) => return None,
            }
        }
    }
}

impl<'a> IntoIterator for &'a Subscription {
    type Item = Message;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator that stops at the first gap longer than its timeout.
pub struct TimeoutIter<'a> {
    sub: &'a Subscription,
    timeout: Duration,
}

impl Iterator for TimeoutIter<'_> {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        self.sub.next_msg(self.timeout).ok()
    }
}
