//! The blocking client: [`Connection`] and [`Subscription`].
//!
//! Lock order (never take them the other way round, never call user code while
//! holding either):
//! 1. `ConnInner::state` (the engine and connect bookkeeping)
//! 2. `Mux::waiters`
//!
//! User threads never wait on the network while holding a lock: they wait on
//! `ConnInner::cond` (with the state lock released by the wait) or on a channel.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::delivery::{self, PoolSub, PoolTx};
use crate::dispatch::{self, InFlight};
use crate::driver::{self, Cmd, LoopHandle, Step};
use crate::engine::{Delivery, Engine, EngineConfig, Event, FlushTicket, Statistics, SubSink};
use crate::error::{Error, ErrorKind, Result, err};
use crate::headers::Headers;
use crate::message::Message;
use crate::msgq::{self, MsgQueue, QueueTx, RecvTimeoutError, TryRecvError};
use crate::options::{Options, ServerUrl};
use crate::pool::{Backoff, ServerPool, Wait, pass_delay};
use crate::proto::{ConnectInfo, MsgFrame, ServerInfo, ServerOp};
use crate::subject;
use crate::tls::TlsStart;

static NEXT_CONN_ID: AtomicUsize = AtomicUsize::new(1);

/// Connections not yet freed (their last handle, subscription or callback
/// is still around), and a condition signalled when one is freed.
static LIVE_CONNS: Mutex<usize> = Mutex::new(0);
static CONN_FREED: Condvar = Condvar::new();

/// Waits until every connection is freed, or `deadline` passes (false).
pub(crate) fn wait_connections_freed(deadline: Option<Instant>) -> bool {
    let mut n = LIVE_CONNS.lock();
    while *n > 0 {
        match deadline {
            Some(d) => {
                if CONN_FREED.wait_until(&mut n, d).timed_out() {
                    return *n == 0;
                }
            }
            None => CONN_FREED.wait(&mut n),
        }
    }
    true
}

impl Drop for ConnInner {
    fn drop(&mut self) {
        if let Some(x) = &self.ext {
            x.release(self.id);
        }
        *LIVE_CONNS.lock() -= 1;
        CONN_FREED.notify_all();
    }
}

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
    /// Round-trip time of the last PING answered by the server.
    pub last_rtt: Option<Duration>,
    /// Time since the last byte from the server.
    pub since_last_read: Option<Duration>,
    /// Successful reconnections so far.
    pub reconnects: u64,
    /// Publishes that may have been lost with a dead connection (written to
    /// the socket, never confirmed by the server) and that no flush has
    /// reported yet; the next flush fails if this is not 0.
    pub unconfirmed_lost: u64,
    /// URL of the server connected to.
    pub server: Option<String>,
    /// The last error recorded on the connection.
    pub last_error: Option<Error>,
    /// The connection is idle (no subscription; at the last ping, everything
    /// the application sent had been answered, and it sent nothing since;
    /// pings every 10 s or more often), so the io loop reads it only at its
    /// pings: a PONG costs no wake-up of its own, `since_last_read` moves in
    /// steps of the ping interval, and a closed socket is still seen at once.
    /// Ends with the application's next write.
    pub lazy_reads: bool,
}

struct State {
    engine: Engine<Sink>,
    /// The engine asked for this attempt's credentials (the server's nonce).
    need_creds: Option<String>,
    /// The servers to connect to.
    pool: ServerPool,
    /// Id (in `pool`) of the server of the current connection or attempt.
    cur: Option<u64>,
    link: Link,
    mode: Mode,
    /// Result of the first connect, for the thread waiting in `connect`.
    initial: Option<Result<()>>,
    /// Why the last attempt failed.
    attempt_error: Option<Error>,
    /// The server sent an error after which the connection must close.
    fatal: bool,
    /// Identifies the current socket (or resolution, or custom-delay wait):
    /// reports about older ones are ignored.
    generation: u64,
    last_read: Option<Instant>,
    local_addr: Option<SocketAddr>,
    /// Subscriptions being drained.
    drains: Vec<SubDrain>,
    /// The connection's drain, once started.
    conn_drain: Option<ConnDrain>,
    /// Publishers waiting for room in the output buffer.
    out_waiters: usize,
    /// Since when the socket accepts nothing (tracked with a write deadline).
    stall: Option<Instant>,
    /// The gate of the current socket (plain TCP), for direct writes.
    direct: Option<(u64, Arc<crate::driver::Gate>)>,
    /// The reader of the current socket (plain TCP), for direct reads.
    reader: Option<(u64, Arc<crate::driver::Reader>)>,
    /// A thread other than the io loop is writing output it took.
    direct_busy: bool,
    /// The io loop took output for the socket of this generation and may
    /// not have written all of it: nobody else writes until it has.
    io_holding: Option<u64>,
    /// A direct writer's buffer, kept between writes.
    spare: Vec<u8>,
    /// [`Engine::quiet_mark`] at the last ping tick.
    quiet_mark: Option<(u64, u64, u64)>,
    /// At the last ping tick, before its PING, the server had answered
    /// everything the application sent ([`Engine::all_answered`]).
    quiet_calm: bool,
}

/// A subscription being drained: its UNSUB is sent, then a PING; once the
/// PONG shows the server processed it, the engine forgets the subscription
/// (it is sealed) and the subscription delivers what it has queued.
struct SubDrain {
    sid: u64,
    shared: Arc<SubShared>,
    step: DrainStep,
    deadline: Option<Instant>,
    /// Started by the connection's drain (its flush errors are reported once).
    by_conn: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DrainStep {
    /// Waiting to be connected to send the PING.
    NeedFlush,
    Flushing(FlushTicket),
    /// Done with the server.
    Sealed,
}

/// The connection's drain: subscriptions first, then the request inbox,
/// then a last flush of publishes, then close.
struct ConnDrain {
    phase: DrainPhase,
    deadline: Option<Instant>,
    /// The request multiplexer's subscription, drained after the others.
    mux_sid: Option<u64>,
    /// The outcome, once the drain ended.
    result: Option<Result<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DrainPhase {
    Subs,
    Mux(DrainStep),
    Pubs(DrainStep),
    Done,
}

impl ConnDrain {
    fn draining_pubs(&self) -> bool {
        matches!(self.phase, DrainPhase::Pubs(_))
    }
}

impl State {
    /// The io loop reads the socket of `generation` lazily (see
    /// `driver::Reader`).
    fn reads_lazily(&self, generation: u64) -> bool {
        self.reader
            .as_ref()
            .is_some_and(|(g, r)| *g == generation && r.is_quiet())
    }

    /// New subscriptions are refused while the connection drains.
    fn check_not_draining(&self) -> Result<()> {
        if self.mode != Mode::Closed && self.conn_drain.is_some() {
            return err(ErrorKind::Draining, "the connection is draining");
        }
        Ok(())
    }

    fn current_server(&self) -> Option<&crate::pool::Server> {
        self.cur.and_then(|id| self.pool.get(id))
    }
}

/// Where the connection's socket stands.
#[derive(Debug)]
enum Link {
    /// No socket, nothing scheduled.
    Idle,
    /// Waiting until `at` (`None`: until the custom delay callback answers),
    /// then trying server `then` (`None`: the next one of the first connect).
    Wait {
        at: Option<Instant>,
        then: Option<u64>,
    },
    /// Resolving the server's name on a helper thread.
    Resolving { generation: u64, deadline: Instant },
    /// Socket open: TCP connect and handshake in progress; `rest` are the
    /// server's other addresses.
    Handshake {
        deadline: Instant,
        rest: Vec<SocketAddr>,
    },
    /// Connected.
    Up,
}

/// What the connection is doing.
#[derive(Debug, PartialEq, Eq)]
enum Mode {
    /// The first connect: each server once, in order (`next` is the position
    /// of the next one); `passes` counts retries (retry on failed connect).
    Initial {
        next: usize,
        passes: i32,
    },
    /// Reconnecting; `initial` when retrying a failed first connect in the
    /// background.
    Reconnect {
        backoff: Backoff,
        initial: bool,
    },
    Connected,
    Closed,
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
    /// Asynchronous errors queued for the error callback (bounded).
    err_backlog: Arc<Mutex<ErrBacklog>>,
    /// The application's event loop, if it polls the socket.
    ext: Option<crate::evloop::Ext>,
}

/// What a connection may queue for its error callback: a server that sends
/// `-ERR`s faster than the callback returns must not grow memory without
/// bound. Over the bound an error is dropped and counted; once the backlog
/// is delivered, one more call reports how many were dropped, and the last.
#[derive(Default)]
struct ErrBacklog {
    /// Estimated bytes held by the queued errors.
    bytes: usize,
    dropped: u64,
    last_dropped: Option<Error>,
}

/// [`ErrBacklog`]'s bound, and what one queued error is counted for beyond
/// its text (the job, the error, the connection handle).
const ERR_BACKLOG_MAX: usize = 4 << 20;
const ERR_BACKLOG_OVERHEAD: usize = 256;

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

/// How long a delivery thread (or `next_msg`) that ran out of messages, the
/// last of which asked for a reply, reads the socket itself
/// ([`ConnInner::wait_reading`])
/// before it leaves that to the io loop and sleeps: long enough to serve a
/// steady exchange (a responder's next request) without a hand-off, short
/// enough that an idle subscription costs nothing.
const DIRECT_IDLE: Duration = Duration::from_millis(50);

/// How long a request reads the socket itself for its reply before it
/// leaves that to the io loop (a slow responder then costs no polling).
const DIRECT_REQUEST: Duration = Duration::from_millis(250);

/// What the application side of a subscription shares with the engine side.
pub(crate) struct SubShared {
    sid: AtomicU64,
    subject: String,
    queue: Option<String>,
    rx: Arc<MsgQueue>,
    pending_msgs: AtomicUsize,
    pending_bytes: AtomicUsize,
    /// High-water marks of `pending_msgs` / `pending_bytes` since creation or
    /// the last `clear_max_pending`.
    max_pending_msgs: AtomicUsize,
    max_pending_bytes: AtomicUsize,
    /// Pending limits as set; a negative value means unlimited (kept as given
    /// so the C API reads back what was set, as nats.c does).
    limit_msgs: AtomicI64,
    limit_bytes: AtomicI64,
    dropped: AtomicU64,
    delivered: AtomicU64,
    slow: AtomicBool,
    slow_report: AtomicBool,
    max: AtomicU64,
    state: AtomicU8,
    is_async: bool,
    /// The last message `next_msg` returned asked for a reply: the next
    /// call reads the socket itself while it waits (see `DIRECT_IDLE`).
    answering: AtomicBool,
    /// Drain progress (`Subscription::drain`).
    drain: Mutex<SubDrainState>,
    drain_done: Condvar,
    /// Run once when an asynchronous subscription stops delivering.
    on_complete: Mutex<Option<OnComplete>>,
}

/// A callback run once when an asynchronous subscription's delivery ends.
pub(crate) type OnComplete = Box<dyn FnOnce() + Send>;

/// Where a subscription's drain stands.
#[derive(Default)]
struct SubDrainState {
    started: bool,
    /// The engine forgot the subscription: nothing more will be queued.
    sealed: bool,
    complete: bool,
    /// The first failure of the drain (`None`: it went fine).
    status: Option<Error>,
}

impl SubShared {
    fn close_with(&self, state: u8) {
        let _ = self
            .state
            .compare_exchange(SUB_OPEN, state, Ordering::AcqRel, Ordering::Acquire);
    }

    /// True if queueing one more message of `size` bytes on top of `msgs` /
    /// `bytes` pending would exceed a limit (negative limits never do).
    fn over_limit(&self, msgs: usize, bytes: usize, size: usize) -> bool {
        let exceeds =
            |limit: i64, value: usize| u64::try_from(limit).is_ok_and(|l| value as u64 > l);
        exceeds(self.limit_msgs.load(Ordering::Relaxed), msgs + 1)
            || exceeds(self.limit_bytes.load(Ordering::Relaxed), bytes + size)
    }

    fn drain_started(&self) -> bool {
        self.drain.lock().started
    }

    /// Records why the drain failed, unless a cause is already recorded.
    fn set_drain_status(&self, e: Error) {
        let mut d = self.drain.lock();
        if d.status.is_none() {
            d.status = Some(e);
        }
    }

    /// Ends a drain in progress: records how (if it went fine so far: closed
    /// connection, or unsubscribed meanwhile), closes the subscription and
    /// wakes the waiters. Returns true if this call completed it.
    fn complete_drain(&self) -> bool {
        let mut d = self.drain.lock();
        if !d.started || d.complete {
            return false;
        }
        if d.status.is_none() {
            d.status = match self.state.load(Ordering::Acquire) {
                SUB_CONN_CLOSED => Some(Error::new(
                    ErrorKind::ConnectionClosed,
                    "the connection closed before the drain completed",
                )),
                SUB_UNSUBSCRIBED => Some(Error::new(
                    ErrorKind::InvalidSubscription,
                    "the subscription was closed before the drain completed",
                )),
                _ => None,
            };
        }
        d.complete = true;
        drop(d);
        self.close_with(SUB_UNSUBSCRIBED);
        self.drain_done.notify_all();
        true
    }

    /// The engine no longer queues messages for this subscription. A
    /// synchronous one with nothing left to read completes its drain now
    /// (otherwise `next_msg` completes it with the last message; an
    /// asynchronous one completes when its delivery thread ends).
    fn seal(&self) -> bool {
        let mut d = self.drain.lock();
        d.sealed = true;
        let done = !self.is_async && self.rx.is_empty();
        drop(d);
        done && self.complete_drain()
    }

    /// After a synchronous read: completes a sealed drain once the queue is empty.
    fn read_one(&self) -> bool {
        let d = self.drain.lock();
        let done = d.started && d.sealed && !d.complete && self.rx.is_empty();
        drop(d);
        done && self.complete_drain()
    }

    /// An asynchronous subscription's delivery is over (after its last
    /// message callback): a drain completes, then the completion callback runs.
    fn delivery_ended(&self, conn: &Weak<ConnInner>) {
        if self.complete_drain()
            && let Some(c) = conn.upgrade()
        {
            c.drain_progress();
        }
        self.close_with(SUB_UNSUBSCRIBED);
        if let Some(f) = self.on_complete.lock().take() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        }
    }

    /// Reads `conn`'s socket on this thread ([`ConnInner::wait_reading`])
    /// until a message is queued here, the queue closes or the subscription
    /// ends, or `until`.
    fn read_while_idle(&self, conn: &Arc<ConnInner>, until: Instant) {
        conn.wait_reading(until, &mut || {
            self.rx.has_news() || self.state.load(Ordering::Acquire) != SUB_OPEN
        });
    }

    fn consumed(&self, m: &Message) {
        self.pending_msgs.fetch_sub(1, Ordering::AcqRel);
        self.pending_bytes.fetch_sub(m.size(), Ordering::AcqRel);
        self.delivered.fetch_add(1, Ordering::AcqRel);
    }
}

/// A pending limit as stored: `None` (unlimited) is -1.
fn limit_of(n: Option<usize>) -> i64 {
    n.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// A stored pending limit as the Rust API reports it (negative: `None`).
fn limit_from(v: i64) -> Option<usize> {
    u64::try_from(v)
        .ok()
        .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
}

/// Request multiplexer: one wildcard inbox subscription per connection.
pub(crate) struct Mux {
    prefix: String,
    next: AtomicU64,
    /// Each request waiting for its reply, by token; gets the reply, or an
    /// error when the connection drops (`fail_requests_on_disconnect`).
    waiters: Mutex<HashMap<String, Sender<Result<Message>>>>,
}

/// The engine-side end of a subscription.
pub(crate) enum Sink {
    Sub(Arc<SubShared>, SubTx),
    Mux(Arc<Mux>),
}

/// Where a subscription's messages go: its own queue (read by `next_msg` or
/// by its delivery thread), or its worker of the shared delivery pool.
pub(crate) enum SubTx {
    Own(QueueTx),
    Pool(PoolTx),
}

impl SubSink for Sink {
    fn deliver(&self, frame: MsgFrame) -> Delivery {
        match self {
            Sink::Sub(s, tx) => {
                let size = frame.header_len() + frame.payload_len();
                let pm = s.pending_msgs.load(Ordering::Acquire);
                let pb = s.pending_bytes.load(Ordering::Acquire);
                if s.over_limit(pm, pb, size) {
                    s.dropped.fetch_add(1, Ordering::AcqRel);
                    s.slow_report.store(true, Ordering::Release);
                    let first = !s.slow.swap(true, Ordering::AcqRel);
                    return Delivery::Dropped { first };
                }
                s.slow.store(false, Ordering::Release);
                let msg = Message::from_frame_lenient(frame);
                let msgs = s.pending_msgs.fetch_add(1, Ordering::AcqRel) + 1;
                let bytes = s.pending_bytes.fetch_add(size, Ordering::AcqRel) + size;
                s.max_pending_msgs.fetch_max(msgs, Ordering::AcqRel);
                s.max_pending_bytes.fetch_max(bytes, Ordering::AcqRel);
                let sent = match tx {
                    SubTx::Own(tx) => {
                        tx.send(msg);
                        true
                    }
                    SubTx::Pool(p) => p.send(msg),
                };
                if !sent {
                    s.pending_msgs.fetch_sub(1, Ordering::AcqRel);
                    s.pending_bytes.fetch_sub(size, Ordering::AcqRel);
                }
                Delivery::Queued
            }
            Sink::Mux(m) => {
                let token = frame.subject().get(m.prefix.len()..).unwrap_or("");
                let waiter = m.waiters.lock().remove(token);
                if let Some(tx) = waiter {
                    let _ = tx.try_send(Ok(Message::from_frame_lenient(frame)));
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

/// The addresses of `host` when no DNS lookup is needed.
fn literal_addrs(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(vec![SocketAddr::new(ip, port)]);
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Some(vec![
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
        ]);
    }
    None
}

/// Orders a server's addresses as nats.c does: shuffled unless `no_randomize`,
/// then filtered or grouped by family per `IPResolutionOrder` (0 any, 4, 6,
/// 46 IPv4 first, 64 IPv6 first).
fn order_addrs(mut addrs: Vec<SocketAddr>, order: u8, shuffle: bool) -> Vec<SocketAddr> {
    if shuffle {
        crate::options::shuffle(&mut addrs);
    }
    match order {
        4 => addrs.retain(SocketAddr::is_ipv4),
        6 => addrs.retain(SocketAddr::is_ipv6),
        46 => addrs.sort_by_key(|a| a.is_ipv6()),
        64 => addrs.sort_by_key(|a| a.is_ipv4()),
        _ => {}
    }
    addrs
}

/// Resolves `host` on a helper thread (getaddrinfo cannot be cancelled or
/// polled) and reports to the io loop; the attempt's deadline is enforced by
/// the loop whatever DNS does.
fn spawn_resolver(
    io: Arc<LoopHandle>,
    id: usize,
    generation: u64,
    host: String,
    port: u16,
) -> std::io::Result<()> {
    crate::threads::spawn("nats-resolve", move || {
        let result = match (host.as_str(), port).to_socket_addrs() {
            Ok(a) => {
                let addrs: Vec<SocketAddr> = a.collect();
                if addrs.is_empty() {
                    err(ErrorKind::NoServer, format!("no address for {host}"))
                } else {
                    Ok(addrs)
                }
            }
            Err(e) => err(ErrorKind::NoServer, format!("cannot resolve {host}: {e}")),
        };
        io.send(Cmd::Resolved {
            id,
            generation,
            result,
        });
    })
    .map(|_| ())
}

/// The deadline of attempt `generation` if it is still resolving (a name, or
/// through the proxy handler); `None` for a stale report.
fn resolving_deadline(st: &State, generation: u64) -> Option<Instant> {
    match st.link {
        Link::Resolving {
            generation: current,
            deadline,
        } if current == generation => Some(deadline),
        _ => None,
    }
}

/// The error a failed first connect reports: the server's refusal as is,
/// anything else as `NoServer`.
fn initial_error(e: Error) -> Error {
    match e.kind() {
        ErrorKind::AuthFailed
        | ErrorKind::SslError
        | ErrorKind::SecureConnectionWanted
        | ErrorKind::SecureConnectionRequired
        | ErrorKind::IllegalState
        | ErrorKind::NotFound
        | ErrorKind::NoServerSupport
        | ErrorKind::Other
        | ErrorKind::InvalidArg
        | ErrorKind::NoServer => e,
        _ => Error::new(ErrorKind::NoServer, e.text().to_string()),
    }
}

impl ConnInner {
    pub(crate) fn id(&self) -> usize {
        self.id
    }

    /// The application's event loop side, if it polls the socket.
    pub(crate) fn ext(&self) -> Option<&crate::evloop::Ext> {
        self.ext.as_ref()
    }

    /// The engine has output to write.
    pub(crate) fn has_output(&self) -> bool {
        self.lock().engine.has_output()
    }

    /// Sends a command to this connection's io loop.
    pub(crate) fn send_io(&self, cmd: Cmd) {
        self.io.send(cmd);
    }

    /// A handle for callbacks (does not keep the connection open).
    pub(crate) fn view_of(inner: &Arc<ConnInner>) -> Connection {
        Connection {
            inner: inner.clone(),
            _guard: None,
        }
    }

    pub(crate) fn io_buf_size(&self) -> usize {
        self.opts.io_buf_size
    }

    /// Zero bytes the parser adds after each received payload.
    pub(crate) fn message_padding(&self) -> usize {
        self.opts.message_padding
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Asks the io loop to read the socket (a direct reader let go of it).
    pub(crate) fn kick_read(&self) {
        self.io.send(Cmd::Read(self.id));
    }

    /// Asks the io loop to re-arm the connection's timer (a direct read
    /// moved its deadline earlier).
    pub(crate) fn rearm(&self) {
        self.io.send(Cmd::Timer(self.id));
    }

    /// Waits until `done()` or `deadline` reading and handling the socket's
    /// input on this thread ([`crate::driver::read_direct`]) when the
    /// connection is up on plain TCP and no other thread reads it. False,
    /// at once, otherwise: the caller waits as usual.
    pub(crate) fn wait_reading(
        self: &Arc<Self>,
        deadline: Instant,
        done: &mut dyn FnMut() -> bool,
    ) -> bool {
        let reader = {
            let st = self.lock();
            match &st.reader {
                Some((g, r)) if *g == st.generation && st.mode == Mode::Connected => r.clone(),
                _ => return false,
            }
        };
        crate::driver::read_direct(self, &reader, deadline, done)
    }

    /// Wakes the io loop if it is not already due to write.
    fn kick(&self) {
        if !self.write_signaled.swap(true, Ordering::AcqRel) {
            self.io.send(Cmd::Write(self.id));
        }
    }

    /// Called by the io loop when there is no socket to write to.
    pub(crate) fn clear_write_signal(&self) {
        self.write_signaled.store(false, Ordering::Release);
    }

    /// Called by the io loop: hands over pending output for the socket of
    /// `generation`. Returns false (and clears the write signal) when there
    /// is none.
    pub(crate) fn take_output(&self, generation: u64, dst: &mut Vec<u8>) -> bool {
        let mut st = self.lock();
        if st.generation == generation && st.engine.has_output() && !st.direct_busy {
            st.engine.take_output(dst);
            st.io_holding = Some(generation);
            if st.out_waiters > 0 {
                self.cond.notify_all();
            }
            true
        } else {
            // Everything taken was written (or a direct writer is at work:
            // it wakes the loop again if output is left when it is done).
            st.io_holding = None;
            self.write_signaled.store(false, Ordering::Release);
            false
        }
    }

    /// [`ConnInner::write_now`] if output is waiting for the io loop.
    pub(crate) fn write_before_wait(&self) {
        if self.write_signaled.load(Ordering::Acquire) {
            self.write_now();
        }
    }

    /// Writes the pending output from the calling thread, which is about to
    /// wait (for a reply, a PONG, the next message): this saves waking the
    /// io loop. Leaves the work to the loop when the socket is not plain TCP,
    /// the connection is not up, or the loop or another thread is writing;
    /// what the socket does not take at once is put back for the loop.
    pub(crate) fn write_now(&self) {
        let mut st = self.lock();
        if !st.engine.has_output() {
            return;
        }
        let generation = st.generation;
        let gate = match &st.direct {
            Some((g, gate))
                if *g == generation
                    && st.mode == Mode::Connected
                    && !st.direct_busy
                    && st.io_holding != Some(generation) =>
            {
                gate.clone()
            }
            _ => {
                drop(st);
                self.kick();
                return;
            }
        };
        let Some(entry) = gate.enter() else {
            drop(st);
            self.kick();
            return;
        };
        st.direct_busy = true;
        let mut buf = std::mem::take(&mut st.spare);
        st.engine.take_output(&mut buf);
        if st.out_waiters > 0 {
            self.cond.notify_all();
        }
        drop(st);
        let mut pos = 0;
        while pos < buf.len() {
            match entry.send(&buf[pos..]) {
                Ok(0) => break,
                Ok(n) => pos += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // Would block, or the socket failed: the loop carries on
                // (and finds the failure itself).
                Err(_) => break,
            }
        }
        // Still holding the gate: the loop cannot report the socket lost
        // before the rest is back in the engine (see `driver::Gate`).
        let mut st = self.lock();
        st.direct_busy = false;
        if pos < buf.len() && st.generation == generation {
            st.engine.restore_output(&buf[pos..]);
        }
        drop(entry);
        buf.clear();
        if buf.capacity() <= SPARE_MAX {
            st.spare = buf;
        }
        let more = st.engine.has_output();
        // The loop reads this socket lazily: it must look again (what was
        // just written may well be answered).
        let quiet = st.reads_lazily(generation);
        drop(st);
        if quiet {
            self.kick_read();
        } else if more {
            self.kick();
        }
    }

    /// When the io loop must call [`ConnInner::on_timer`] next.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let st = self.lock();
        let link = match &st.link {
            Link::Wait { at, .. } => *at,
            Link::Resolving { deadline, .. } => Some(*deadline),
            Link::Handshake { .. } => st.engine.next_deadline(),
            Link::Up => {
                let stall = st.stall.zip(self.opts.write_deadline).map(|(t, d)| t + d);
                match (st.engine.next_deadline(), stall) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Link::Idle => None,
        };
        let drains = st
            .drains
            .iter()
            .filter_map(|d| d.deadline)
            .chain(st.conn_drain.as_ref().and_then(|c| match c.phase {
                DrainPhase::Done => None,
                _ => c.deadline,
            }))
            .min();
        match (link, drains) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Called by the io loop when a write to the socket of `generation` would
    /// block: the write deadline (if any) starts.
    pub(crate) fn write_stalled(&self, generation: u64) {
        if self.opts.write_deadline.is_none() {
            return;
        }
        let mut st = self.lock();
        if st.generation == generation && st.stall.is_none() {
            st.stall = Some(Instant::now());
            drop(st);
            self.io.send(Cmd::Timer(self.id));
        }
    }

    /// Called by the io loop when the socket of `generation` accepts data again.
    pub(crate) fn write_resumed(&self, generation: u64) {
        if self.opts.write_deadline.is_none() {
            return;
        }
        let mut st = self.lock();
        if st.generation == generation {
            st.stall = None;
        }
    }

    /// Called by the io loop when the TCP connection of `generation` is up.
    pub(crate) fn tcp_established(
        &self,
        generation: u64,
        local: Option<SocketAddr>,
        gate: Option<(Arc<crate::driver::Gate>, Arc<crate::driver::Reader>)>,
    ) {
        let mut st = self.lock();
        if st.generation == generation {
            st.local_addr = local;
            st.reader = gate.as_ref().map(|(_, r)| (generation, r.clone()));
            st.direct = gate.map(|(g, _)| (generation, g));
        }
    }

    /// Whether the io loop may read the socket lazily, only at ping ticks
    /// (see `driver::Reader`): the connection is up, has no subscription and
    /// pings often enough ([`Engine::quiet_mark`]); at the last ping tick the
    /// server had answered everything the application sent (so no `-ERR`
    /// about it can still be on its way), and the application did nothing
    /// since. If so, sets `quiet` under the lock: [`ConnInner::write_now`],
    /// which checks it under the same lock, then sees it.
    pub(crate) fn may_read_lazily(&self, quiet: &AtomicBool) -> bool {
        if !cfg!(target_os = "linux") {
            return false;
        }
        let st = self.lock();
        let ok = st.quiet_calm
            && st.quiet_mark.is_some()
            && matches!(st.link, Link::Up)
            && st.mode == Mode::Connected
            && st.conn_drain.is_none()
            && st.drains.is_empty()
            && st.stall.is_none()
            && st.engine.quiet_mark() == st.quiet_mark;
        if ok {
            quiet.store(true, Ordering::SeqCst);
        }
        ok
    }

    /// Called by the io loop with parsed ops.
    pub(crate) fn process(&self, ops: &mut Vec<ServerOp>, events: &mut Vec<Event>) -> Step {
        let now = Instant::now();
        let mut st = self.lock();
        st.last_read = Some(now);
        for op in ops.drain(..) {
            st.engine.handle(op, now);
        }
        st.engine.drain_events(events);
        let step = self.on_events(&mut st, events);
        let (mut st, step) = self.settle_credentials(st, step, events);
        self.advance_drains(&mut st, now);
        step
    }

    /// Called by the io loop when [`ConnInner::next_deadline`] passed.
    pub(crate) fn on_timer(&self, now: Instant, events: &mut Vec<Event>) -> Step {
        let mut st = self.lock();
        let step = self.on_link_timer(&mut st, now, events);
        self.advance_drains(&mut st, now);
        step
    }

    fn on_link_timer(&self, st: &mut State, now: Instant, events: &mut Vec<Event>) -> Step {
        match st.link {
            Link::Wait { at: Some(at), then } if now >= at => {
                st.link = Link::Idle;
                match then {
                    Some(server) => self.begin_attempt(st, server, now),
                    None => self.next_attempt(st, now),
                }
            }
            Link::Resolving { deadline, .. } if now >= deadline => {
                st.generation += 1; // The resolver's answer is now stale.
                let e = Error::new(ErrorKind::NoServer, "resolving the server name timed out");
                self.attempt_failed(st, e, now)
            }
            Link::Up
                if st
                    .stall
                    .zip(self.opts.write_deadline)
                    .is_some_and(|(t, d)| now >= t + d) =>
            {
                let d = self.opts.write_deadline.unwrap_or_default();
                st.stall = None;
                Step::Lose(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "write deadline of {} ms exceeded: the server is not reading",
                        d.as_millis()
                    ),
                ))
            }
            Link::Handshake { .. } | Link::Up => {
                let pinged = st.engine.pings_sent();
                let calm = st.engine.all_answered();
                st.engine.tick(now);
                if st.engine.pings_sent() != pinged {
                    // A ping tick: from here on, lazy reads are possible
                    // until the application does something.
                    st.quiet_calm = calm;
                    st.quiet_mark = st.engine.quiet_mark();
                }
                st.engine.drain_events(events);
                self.on_events(st, events)
            }
            _ => Step::None,
        }
    }

    /// Called by the io loop when the proxy connection handler of attempt
    /// `generation` returned.
    pub(crate) fn on_proxied(&self, generation: u64, result: Result<std::net::TcpStream>) -> Step {
        let mut st = self.lock();
        let Some(deadline) = resolving_deadline(&st, generation) else {
            return Step::None;
        };
        let now = Instant::now();
        match result {
            Ok(stream) => {
                let tls_first = match self.tls_first(&st) {
                    Ok(t) => t,
                    Err(e) => return self.attempt_failed(&mut st, e, now),
                };
                st.generation += 1;
                st.stall = None;
                let generation = st.generation;
                st.engine.start_handshake(deadline, tls_first.is_some());
                st.link = Link::Handshake {
                    deadline,
                    rest: Vec::new(),
                };
                Step::Adopt {
                    stream,
                    generation,
                    tls_first,
                }
            }
            Err(e) => {
                let e = Error::new(
                    ErrorKind::NoServer,
                    format!("the proxy connection handler failed: {}", e.text()),
                );
                self.attempt_failed(&mut st, e, now)
            }
        }
    }

    /// Called by the io loop when name resolution for `generation` finished.
    pub(crate) fn on_resolved(&self, generation: u64, result: Result<Vec<SocketAddr>>) -> Step {
        let mut st = self.lock();
        let Some(deadline) = resolving_deadline(&st, generation) else {
            return Step::None;
        };
        let now = Instant::now();
        match result {
            Ok(addrs) => {
                let addrs = order_addrs(addrs, self.opts.ip_order, !self.opts.no_randomize);
                self.open_next(&mut st, deadline, addrs, now)
            }
            Err(e) => self.attempt_failed(&mut st, e, now),
        }
    }

    /// Called by the io loop when the socket of `generation` is gone: an
    /// attempt failed, or the connection was lost. `unsent` is output the
    /// loop took but could not write, from byte `from`.
    pub(crate) fn socket_lost(
        &self,
        generation: u64,
        cause: Error,
        unsent: &[u8],
        from: usize,
    ) -> Step {
        let mut st = self.lock();
        if st.generation != generation {
            return Step::None;
        }
        let now = Instant::now();
        st.local_addr = None;
        match std::mem::replace(&mut st.link, Link::Idle) {
            Link::Handshake { deadline, rest, .. } => {
                st.engine.attempt_failed();
                // Refused or unreachable: the server may answer on another address.
                if cause.kind() == ErrorKind::NoServer && !rest.is_empty() && now < deadline {
                    self.open_next(&mut st, deadline, rest, now)
                } else {
                    self.attempt_failed(&mut st, cause, now)
                }
            }
            Link::Up => self.connection_lost(&mut st, cause, unsent, from, now),
            other => {
                st.link = other;
                Step::None
            }
        }
    }

    /// The io loop died: close the connection so nobody waits forever.
    pub(crate) fn abandon(&self, cause: Error) {
        let mut st = self.lock();
        if st.mode == Mode::Closed {
            return;
        }
        st.engine.set_last_error(cause.clone());
        if st.initial.is_none() {
            st.initial = Some(Err(cause));
        }
        let sinks = self.shut(&mut st);
        drop(st);
        self.cond.notify_all();
        self.finish_close(sinks);
    }

    fn on_events(&self, st: &mut State, events: &mut Vec<Event>) -> Step {
        let mut lose = None;
        let mut step = Step::None;
        for ev in events.drain(..) {
            match ev {
                Event::Connected { .. } => {
                    self.on_connected(st);
                    if self.ext.is_some() {
                        step = Step::Attach {
                            generation: st.generation,
                        };
                    }
                }
                Event::Pong => {
                    self.cond.notify_all();
                }
                Event::HandshakeFailed(e) | Event::Disconnect(e) => lose = Some(e),
                Event::Fatal(e) => {
                    st.fatal = true;
                    lose = Some(e);
                }
                Event::AsyncError(sid, e) => {
                    if e.kind() == ErrorKind::AuthFailed && self.repeated_auth_error(st, &e) {
                        st.fatal = true;
                        lose = Some(e.clone());
                    }
                    self.post_error(sid, e);
                }
                Event::Discovered(urls) => {
                    if self.opts.ignore_discovered_servers {
                        continue;
                    }
                    let added = st.pool.add_discovered(&urls, st.cur);
                    let initial = matches!(
                        st.mode,
                        Mode::Initial { .. } | Mode::Reconnect { initial: true, .. }
                    );
                    if added && !initial {
                        self.post_conn_cb(&self.opts.discovered_servers_cb);
                    }
                }
                Event::LameDuck => self.post_conn_cb(&self.opts.lame_duck_cb),
                Event::StartTls => match self.tls_start(st) {
                    Ok(start) => {
                        step = Step::StartTls {
                            generation: st.generation,
                            start,
                        }
                    }
                    Err(e) => lose = Some(e),
                },
                Event::NeedCredentials { nonce } => st.need_creds = Some(nonce),
            }
        }
        match lose {
            Some(e) => Step::Lose(e),
            None => step,
        }
    }

    /// Records an authentication error of the current server; true if it is
    /// the same as the previous one (nats.c then stops retrying that server).
    fn repeated_auth_error(&self, st: &mut State, e: &Error) -> bool {
        let text = e.text().to_ascii_lowercase();
        let Some(s) = st.cur.and_then(|id| st.pool.get_mut(id)) else {
            return false;
        };
        let repeated = s.last_auth_error.as_deref() == Some(text.as_str());
        s.last_auth_error = Some(text);
        repeated && !self.opts.ignore_auth_error_abort
    }

    fn on_connected(&self, st: &mut State) {
        if let Link::Handshake { .. } = st.link {
            st.link = Link::Up;
        }
        if let Some(s) = st.cur.and_then(|id| st.pool.get_mut(id)) {
            s.reconnects = 0;
            s.did_connect = true;
            s.last_auth_error = None;
        }
        st.attempt_error = None;
        match std::mem::replace(&mut st.mode, Mode::Connected) {
            Mode::Initial { .. } => st.initial = Some(Ok(())),
            Mode::Reconnect { initial: true, .. } => {
                self.post_conn_cb(&self.opts.connected_cb);
            }
            Mode::Reconnect { initial: false, .. } => {
                st.engine.count_reconnect();
                self.post_conn_cb(&self.opts.reconnected_cb);
            }
            other => st.mode = other,
        }
        // Replayed subscriptions and buffered publishes are written by the
        // loop right after this; flushes waiting for the reconnection go on.
        self.cond.notify_all();
    }

    /// The established connection is gone: reconnect, or close.
    fn connection_lost(
        &self,
        st: &mut State,
        cause: Error,
        unsent: &[u8],
        from: usize,
        now: Instant,
    ) -> Step {
        let fatal = std::mem::take(&mut st.fatal);
        let reconnect = self.opts.allow_reconnect && !fatal;
        let sinks = st.engine.disconnected(Some(cause), reconnect, unsent, from);
        self.cond.notify_all();
        self.post_conn_cb(&self.opts.disconnected_cb);
        if reconnect && self.opts.fail_requests_on_disconnect {
            self.fail_requests();
        }
        if reconnect {
            st.mode = Mode::Reconnect {
                backoff: Backoff::default(),
                initial: false,
            };
            self.next_attempt(st, now)
        } else {
            st.mode = Mode::Closed;
            st.generation += 1;
            self.io.send(Cmd::Remove(self.id));
            self.finish_close(sinks);
            Step::None
        }
    }

    /// Fails every request waiting for a reply (`fail_requests_on_disconnect`).
    fn fail_requests(&self) {
        if let Some(m) = self.mux.get() {
            for (_, tx) in m.waiters.lock().drain() {
                let _ = tx.try_send(err(
                    ErrorKind::ConnectionDisconnected,
                    "the connection was lost while waiting for the reply",
                ));
            }
        }
    }

    /// An attempt failed (before its handshake completed).
    fn attempt_failed(&self, st: &mut State, cause: Error, now: Instant) -> Step {
        st.link = Link::Idle;
        st.engine.attempt_failed();
        if cause.kind() == ErrorKind::AuthFailed
            && matches!(st.mode, Mode::Reconnect { .. })
            && self.repeated_auth_error(st, &cause)
        {
            st.engine.set_last_error(cause);
            return self.close_from_loop(st);
        }
        st.attempt_error = Some(cause);
        self.next_attempt(st, now)
    }

    /// Chooses the next attempt (now, or after a wait) or gives up.
    fn next_attempt(&self, st: &mut State, now: Instant) -> Step {
        match &mut st.mode {
            Mode::Initial { next, passes } => {
                if let Some(id) = st.pool.at(*next).map(|s| s.id) {
                    *next += 1;
                    return self.begin_attempt(st, id, now);
                }
                if self.opts.retry_on_failed_connect {
                    if self.opts.connected_cb.is_some() {
                        // Keep trying in the background; connect returns now.
                        st.initial = Some(err(
                            ErrorKind::NotYetConnected,
                            "no server available yet; still trying in the background",
                        ));
                        self.cond.notify_all();
                        st.mode = Mode::Reconnect {
                            backoff: Backoff::default(),
                            initial: true,
                        };
                        return self.next_attempt(st, now);
                    }
                    *passes += 1;
                    if self.opts.max_reconnect < 0 || *passes <= self.opts.max_reconnect {
                        *next = 0;
                        let wait = pass_delay(self.opts.reconnect_wait, self.jitter(st), random());
                        st.link = Link::Wait {
                            at: Some(now + wait),
                            then: None,
                        };
                        return Step::None;
                    }
                }
                let e = st.attempt_error.take().unwrap_or_else(|| {
                    Error::new(ErrorKind::NoServer, "no server available for connection")
                });
                st.initial = Some(Err(initial_error(e)));
                let _ = self.shut(st);
                self.cond.notify_all();
                Step::None
            }
            Mode::Reconnect { backoff, .. } => {
                let Some(id) = st.pool.next_server(st.cur, self.opts.max_reconnect) else {
                    return self.give_up(st);
                };
                st.cur = Some(id);
                match backoff.next(st.pool.len()) {
                    Wait::NextServer => {
                        st.link = Link::Wait {
                            at: Some(now + Duration::from_millis(1)),
                            then: Some(id),
                        };
                    }
                    Wait::Pass(n) => match self.opts.reconnect_delay_cb.clone() {
                        None => {
                            let wait =
                                pass_delay(self.opts.reconnect_wait, self.jitter(st), random());
                            st.link = Link::Wait {
                                at: Some(now + wait),
                                then: Some(id),
                            };
                        }
                        Some(cb) => {
                            // User code runs on the callback thread, never on
                            // the io loop; it then arms the wait.
                            st.generation += 1;
                            let token = st.generation;
                            st.link = Link::Wait {
                                at: None,
                                then: Some(id),
                            };
                            if let Some(view) = self.view() {
                                dispatch::post(&self.callbacks, move || {
                                    let d = cb(&view, n);
                                    view.inner.arm_wait(token, d);
                                });
                            }
                        }
                    },
                }
                Step::None
            }
            Mode::Connected | Mode::Closed => Step::None,
        }
    }

    /// The random extra wait after a pass: larger when TLS is used.
    fn jitter(&self, st: &State) -> Duration {
        if self.attempt_secure(st) {
            self.opts.reconnect_jitter_tls
        } else {
            self.opts.reconnect_jitter
        }
    }

    /// Whether the current server must be reached over TLS.
    fn attempt_secure(&self, st: &State) -> bool {
        self.opts.tls.secure
            || st
                .cur
                .and_then(|id| st.pool.get(id))
                .is_some_and(|s| s.url.tls)
    }

    /// What the io loop needs to start TLS with the current server.
    fn tls_start(&self, st: &State) -> Result<TlsStart> {
        let host = st
            .cur
            .and_then(|id| st.pool.get(id))
            .map(|s| s.url.host.clone())
            .unwrap_or_default();
        Ok(TlsStart {
            config: self.opts.tls.client_config()?,
            name: self.opts.tls.server_name(&host)?,
        })
    }

    /// The TLS session of a handshake-first attempt, if this one is.
    fn tls_first(&self, st: &State) -> Result<Option<TlsStart>> {
        if self.opts.tls.handshake_first && self.attempt_secure(st) {
            self.tls_start(st).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Computes the credentials the engine asked for, without holding the
    /// lock (files are read, application callbacks run), then hands them
    /// over if the attempt is still the same.
    fn settle_credentials<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        mut step: Step,
        events: &mut Vec<Event>,
    ) -> (MutexGuard<'a, State>, Step) {
        while let Some(nonce) = st.need_creds.take() {
            let generation = st.generation;
            let url = st.cur.and_then(|id| st.pool.get(id)).map(|s| s.url.clone());
            drop(st);
            let creds = match url {
                Some(url) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    crate::auth::connect_credentials(&self.opts, &url, &nonce)
                }))
                .unwrap_or_else(|_| err(ErrorKind::Other, "an authentication callback panicked")),
                None => err(ErrorKind::IllegalState, "no current server"),
            };
            st = self.lock();
            if st.generation != generation {
                break;
            }
            st.engine.provide_credentials(creds, Instant::now());
            st.engine.drain_events(events);
            let next = self.on_events(&mut st, events);
            if matches!(step, Step::None) {
                step = next;
            }
        }
        (st, step)
    }

    /// Called by the io loop when the TLS handshake of `generation` is done.
    pub(crate) fn tls_established(&self, generation: u64, events: &mut Vec<Event>) -> Step {
        let mut st = self.lock();
        if st.generation != generation {
            return Step::None;
        }
        st.engine.tls_ready(Instant::now());
        st.engine.drain_events(events);
        let step = self.on_events(&mut st, events);
        let (_st, step) = self.settle_credentials(st, step, events);
        step
    }

    /// Arms the wait of a custom reconnect delay (if still current).
    fn arm_wait(&self, token: u64, delay: Duration) {
        let mut st = self.lock();
        if st.generation != token {
            return;
        }
        if let Link::Wait { at, .. } = &mut st.link
            && at.is_none()
        {
            *at = Some(Instant::now() + delay);
            drop(st);
            self.io.send(Cmd::Timer(self.id));
        }
    }

    /// Starts an attempt at server `server`.
    fn begin_attempt(&self, st: &mut State, server: u64, now: Instant) -> Step {
        let Some(s) = st.pool.get_mut(server) else {
            return self.next_attempt(st, now);
        };
        s.reconnects += 1;
        let url = s.url.clone();
        st.cur = Some(server);
        let (user, pass, token) = credentials(&self.opts, &url);
        st.engine.set_credentials(user, pass, token);
        st.engine.set_secure(self.opts.tls.secure || url.tls);
        st.need_creds = None;
        let deadline = now + self.opts.timeout;
        if let Some(cb) = self.opts.proxy_connect.clone() {
            st.generation += 1;
            let generation = st.generation;
            st.link = Link::Resolving {
                generation,
                deadline,
            };
            let (io, id, host, port) = (self.io.clone(), self.id, url.host.clone(), url.port);
            let spawned = crate::threads::spawn("nats-proxy", move || {
                let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    cb(&host, port)
                })) {
                    Ok(r) => r,
                    Err(_) => err(ErrorKind::NoServer, "the proxy connection handler panicked"),
                };
                io.send(Cmd::Proxied {
                    id,
                    generation,
                    result,
                });
            });
            return match spawned {
                Ok(_) => Step::None,
                Err(e) => self.attempt_failed(st, Error::from(e), now),
            };
        }
        match literal_addrs(&url.host, url.port) {
            Some(addrs) => {
                let addrs = order_addrs(addrs, self.opts.ip_order, !self.opts.no_randomize);
                self.open_next(st, deadline, addrs, now)
            }
            None => {
                st.generation += 1;
                let generation = st.generation;
                st.link = Link::Resolving {
                    generation,
                    deadline,
                };
                let spawned = spawn_resolver(
                    self.io.clone(),
                    self.id,
                    generation,
                    url.host.clone(),
                    url.port,
                );
                match spawned {
                    Ok(()) => Step::None,
                    Err(e) => self.attempt_failed(st, Error::from(e), now),
                }
            }
        }
    }

    /// Opens a socket to the first of `addrs`; the others are kept for when
    /// that one is refused. The attempt's time is split between addresses.
    fn open_next(
        &self,
        st: &mut State,
        deadline: Instant,
        mut addrs: Vec<SocketAddr>,
        now: Instant,
    ) -> Step {
        if addrs.is_empty() {
            let e = Error::new(
                ErrorKind::NoServer,
                "no address to connect to (of the IP family asked for)",
            );
            return self.attempt_failed(st, e, now);
        }
        let tls_first = match self.tls_first(st) {
            Ok(t) => t,
            Err(e) => return self.attempt_failed(st, e, now),
        };
        let addr = addrs.remove(0);
        let left = deadline.saturating_duration_since(now);
        let share = (left / (addrs.len() as u32 + 1)).max(Duration::from_millis(10));
        let addr_deadline = (now + share).min(deadline);
        st.generation += 1;
        st.stall = None;
        let generation = st.generation;
        st.engine
            .start_handshake(addr_deadline, tls_first.is_some());
        st.link = Link::Handshake {
            deadline,
            rest: addrs,
        };
        Step::Open {
            addr,
            generation,
            tls_first,
        }
    }

    /// No server left to reconnect to: close.
    fn give_up(&self, st: &mut State) -> Step {
        let cause = st
            .engine
            .last_error()
            .map(|e| format!(" (disconnected by: {e})"))
            .unwrap_or_default();
        let e = Error::new(
            ErrorKind::NoServer,
            format!("no server left to reconnect to{cause}"),
        );
        st.engine.set_last_error(e);
        self.close_from_loop(st)
    }

    /// Closes from the io loop's side (reconnect exhausted, fatal error).
    fn close_from_loop(&self, st: &mut State) -> Step {
        let sinks = self.shut(st);
        self.io.send(Cmd::Remove(self.id));
        self.cond.notify_all();
        self.finish_close(sinks);
        Step::None
    }

    /// Marks the connection closed; returns the subscriptions' sinks.
    fn shut(&self, st: &mut State) -> Vec<Sink> {
        st.mode = Mode::Closed;
        st.link = Link::Idle;
        st.generation += 1;
        st.local_addr = None;
        // Drains still going on end now; a synchronous subscription ends here,
        // an asynchronous one when its delivery thread stops.
        for d in st.drains.drain(..) {
            d.shared.close_with(SUB_CONN_CLOSED);
            if !d.shared.is_async {
                d.shared.complete_drain();
            }
        }
        if let Some(cd) = st.conn_drain.as_mut() {
            cd.phase = DrainPhase::Done;
            if cd.result.is_none() {
                cd.result = Some(err(
                    ErrorKind::ConnectionClosed,
                    "the connection closed before the drain completed",
                ));
            }
        }
        st.engine.close()
    }

    // -- Drains ------------------------------------------------------------

    /// Starts draining subscription `shared` (`timeout`: `None` for no limit).
    fn start_sub_drain(&self, shared: &Arc<SubShared>, timeout: Option<Duration>) -> Result<()> {
        let mut st = self.lock();
        if st.mode == Mode::Closed {
            return err(ErrorKind::ConnectionClosed, "connection closed");
        }
        match shared.state.load(Ordering::Acquire) {
            SUB_OPEN => {}
            SUB_CONN_CLOSED => return err(ErrorKind::ConnectionClosed, "connection closed"),
            _ => return err(ErrorKind::InvalidSubscription, "subscription is not valid"),
        }
        if st.conn_drain.is_some() {
            return err(
                ErrorKind::Draining,
                "cannot drain a subscription while its connection is draining",
            );
        }
        if shared.drain_started() {
            return Ok(());
        }
        let sid = shared.sid.load(Ordering::Acquire);
        let in_engine = st.engine.has_sub(sid);
        if !in_engine && shared.pending_msgs.load(Ordering::Acquire) == 0 {
            return err(ErrorKind::InvalidSubscription, "subscription is not valid");
        }
        shared.drain.lock().started = true;
        let now = Instant::now();
        let step = if in_engine {
            st.engine.drain_sub(sid)?;
            DrainStep::NeedFlush
        } else {
            // Auto-unsubscribed at its maximum: only the queue is left.
            shared.seal();
            DrainStep::Sealed
        };
        st.drains.push(SubDrain {
            sid,
            shared: shared.clone(),
            step,
            deadline: timeout.map(|t| now + t),
            by_conn: false,
        });
        self.advance_drains(&mut st, now);
        drop(st);
        self.kick();
        self.io.send(Cmd::Timer(self.id));
        Ok(())
    }

    /// Starts draining the connection (`timeout`: `None` for no limit).
    fn start_conn_drain(&self, timeout: Option<Duration>) -> Result<()> {
        let mut st = self.lock();
        match st.mode {
            Mode::Closed => return err(ErrorKind::ConnectionClosed, "connection closed"),
            Mode::Connected => {}
            _ => {
                return err(
                    ErrorKind::IllegalState,
                    "cannot drain while the connection is connecting or reconnecting",
                );
            }
        }
        if st.conn_drain.is_some() {
            return Ok(());
        }
        let now = Instant::now();
        let mut mux_sid = None;
        let mut subs = Vec::new();
        for (sid, sink) in st.engine.subs() {
            match sink {
                Sink::Sub(shared, _) => subs.push((sid, shared.clone())),
                Sink::Mux(_) => mux_sid = Some(sid),
            }
        }
        subs.sort_unstable_by_key(|(sid, _)| *sid);
        for (sid, shared) in subs {
            let mut d = shared.drain.lock();
            if d.started {
                continue; // Its own drain goes on; the connection waits for it.
            }
            d.started = true;
            drop(d);
            st.engine.drain_sub(sid)?;
            st.drains.push(SubDrain {
                sid,
                shared,
                step: DrainStep::NeedFlush,
                deadline: None,
                by_conn: true,
            });
        }
        st.conn_drain = Some(ConnDrain {
            phase: DrainPhase::Subs,
            deadline: timeout.map(|t| now + t),
            mux_sid,
            result: None,
        });
        self.advance_drains(&mut st, now);
        drop(st);
        self.kick();
        self.io.send(Cmd::Timer(self.id));
        Ok(())
    }

    /// A subscription's drain completed outside the io loop (its last message
    /// was delivered): let the connection's drain move on.
    fn drain_progress(&self) {
        let mut st = self.lock();
        if st.drains.is_empty() && st.conn_drain.is_none() {
            return;
        }
        self.advance_drains(&mut st, Instant::now());
        drop(st);
        self.kick();
    }

    /// Moves every drain as far as it can go now: PINGs once connected,
    /// sealing once their PONG came, deadlines, the connection's phases.
    fn advance_drains(&self, st: &mut State, now: Instant) {
        if st.drains.is_empty() && st.conn_drain.is_none() {
            return;
        }
        let mut ticket: Option<FlushTicket> = None;
        let mut flush_error: Option<Error> = None;
        let State { drains, engine, .. } = st;
        for d in drains.iter_mut() {
            if d.deadline.is_some_and(|dl| now >= dl) {
                d.shared.set_drain_status(Error::new(
                    ErrorKind::Timeout,
                    "the subscription did not drain in time",
                ));
                drop(engine.remove_sub(d.sid));
                d.step = DrainStep::Sealed;
                d.shared.drain.lock().sealed = true;
                // Nothing more is delivered.
                d.shared.close_with(SUB_UNSUBSCRIBED);
                if !d.shared.is_async {
                    d.shared.complete_drain();
                }
                continue;
            }
            if d.step == DrainStep::NeedFlush {
                if ticket.is_none() {
                    ticket = engine.ping_ticket(now);
                }
                if let Some(t) = ticket {
                    d.step = DrainStep::Flushing(t);
                }
            }
            if let DrainStep::Flushing(t) = d.step {
                match engine.flush_status(t) {
                    None => continue,
                    Some(Ok(())) => {}
                    Some(Err(e)) => {
                        d.shared.set_drain_status(e.clone());
                        if d.by_conn {
                            flush_error.get_or_insert(e);
                        }
                    }
                }
                drop(engine.remove_sub(d.sid));
                d.step = DrainStep::Sealed;
                d.shared.seal();
            }
        }
        drains.retain(|d| !d.shared.drain.lock().complete);
        if let Some(e) = flush_error {
            self.post_drain_error("unable to flush all subscriptions UNSUB protocols", &e);
        }
        if ticket.is_some() {
            self.kick();
        }
        self.advance_conn_drain(st, now);
    }

    fn advance_conn_drain(&self, st: &mut State, now: Instant) {
        let Some(cd) = st.conn_drain.as_mut() else {
            return;
        };
        loop {
            let late = cd.deadline.is_some_and(|dl| now >= dl);
            match cd.phase {
                DrainPhase::Done => return,
                DrainPhase::Subs | DrainPhase::Mux(_) if late => {
                    let e = Error::new(
                        ErrorKind::Timeout,
                        "timeout waiting for subscriptions to drain",
                    );
                    for d in &st.drains {
                        d.shared.set_drain_status(e.clone());
                    }
                    cd.result = Some(Err(e.clone()));
                    cd.phase = DrainPhase::Done;
                    self.post_drain_error("timeout waiting for subscriptions to drain", &e);
                    self.close_drained(st);
                    return;
                }
                DrainPhase::Subs => {
                    if !st.drains.is_empty() {
                        return;
                    }
                    cd.phase = match cd.mux_sid {
                        Some(sid) if st.engine.has_sub(sid) => {
                            let _ = st.engine.drain_sub(sid);
                            DrainPhase::Mux(DrainStep::NeedFlush)
                        }
                        _ => DrainPhase::Pubs(DrainStep::NeedFlush),
                    };
                }
                DrainPhase::Mux(step) | DrainPhase::Pubs(step) => {
                    let pubs = matches!(cd.phase, DrainPhase::Pubs(_));
                    if pubs && late {
                        let e = Error::new(ErrorKind::Timeout, "drain timed out");
                        self.post_drain_error("unable to flush publish calls", &e);
                        cd.result.get_or_insert(Err(e));
                        cd.phase = DrainPhase::Done;
                        self.close_drained(st);
                        return;
                    }
                    let step = match step {
                        DrainStep::NeedFlush => match st.engine.ping_ticket(now) {
                            Some(t) => {
                                self.kick();
                                DrainStep::Flushing(t)
                            }
                            None => return, // Not connected: wait (or time out).
                        },
                        other => other,
                    };
                    let outcome = match step {
                        DrainStep::Flushing(t) => st.engine.flush_status(t),
                        _ => Some(Ok(())),
                    };
                    let Some(outcome) = outcome else {
                        cd.phase = if pubs {
                            DrainPhase::Pubs(step)
                        } else {
                            DrainPhase::Mux(step)
                        };
                        return;
                    };
                    if pubs {
                        if let Err(e) = &outcome {
                            self.post_drain_error("unable to flush publish calls", e);
                        }
                        cd.result.get_or_insert(outcome);
                        cd.phase = DrainPhase::Done;
                        self.close_drained(st);
                        return;
                    }
                    if let Err(e) = &outcome {
                        self.post_drain_error("unable to flush the request inbox UNSUB", e);
                    }
                    if let Some(sid) = cd.mux_sid {
                        drop(st.engine.remove_sub(sid));
                    }
                    cd.phase = DrainPhase::Pubs(DrainStep::NeedFlush);
                }
            }
        }
    }

    /// Reports a drain failure to the error callback, as nats.c words it.
    fn post_drain_error(&self, what: &str, e: &Error) {
        let code = crate::ffi::status_code(e.kind());
        self.post_error(
            None,
            Error::new(
                e.kind(),
                format!("Drain error: {what}: {code} ({})", e.kind().text()),
            ),
        );
    }

    /// The connection's drain is over: close (everything was flushed).
    fn close_drained(&self, st: &mut State) {
        if st.mode == Mode::Closed {
            return;
        }
        if matches!(st.link, Link::Up) {
            self.post_conn_cb(&self.opts.disconnected_cb);
        }
        self.close_from_loop(st);
    }

    fn post_error(&self, sid: Option<u64>, e: Error) {
        let Some(view) = self.view() else {
            return;
        };
        let cost = e.text().len() + ERR_BACKLOG_OVERHEAD;
        {
            let mut b = self.err_backlog.lock();
            if b.bytes + cost > ERR_BACKLOG_MAX {
                b.dropped += 1;
                b.last_dropped = Some(e);
                return;
            }
            b.bytes += cost;
        }
        let backlog = self.err_backlog.clone();
        let report: crate::options::ErrorCallback = match self.opts.error_cb.clone() {
            Some(cb) => cb,
            None => Arc::new(|nc: &Connection, sid: Option<u64>, e: &Error| {
                let on = sid.map(|s| format!(" (sid {s})")).unwrap_or_default();
                eprintln!(
                    "Error {} - {} on connection [{}]{on}",
                    crate::ffi::status_code(e.kind()),
                    e,
                    nc.inner.id
                );
            }),
        };
        dispatch::post(&self.callbacks, move || {
            // A panicking callback must not leave the backlog counted.
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| report(&view, sid, &e)));
            // The backlog is delivered: say what could not be queued.
            let missed = {
                let mut b = backlog.lock();
                b.bytes -= cost;
                match b.last_dropped.take() {
                    Some(last) if b.bytes == 0 => Some((std::mem::take(&mut b.dropped), last)),
                    other => {
                        b.last_dropped = other;
                        None
                    }
                }
            };
            if let Some((n, last)) = missed {
                let summary = Error::new(
                    last.kind(),
                    format!(
                        "{n} asynchronous error(s) not reported: the error callback did not keep up; the last: {}",
                        last.text()
                    ),
                );
                report(&view, None, &summary);
            }
        });
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

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().mode == Mode::Closed
    }

    fn check_connected(&self) -> Result<()> {
        match self.lock().mode {
            Mode::Closed => err(ErrorKind::ConnectionClosed, "connection closed"),
            Mode::Connected => Ok(()),
            _ => err(ErrorKind::ConnectionDisconnected, "not connected"),
        }
    }

    /// Waits while the output buffer is full (the server reads slower than
    /// we publish): until there is room, the connection is lost, or the
    /// write deadline passes (`Timeout`; nothing of this publish is queued).
    fn wait_for_room(&self, st: &mut MutexGuard<'_, State>) -> Result<()> {
        let deadline = self.opts.write_deadline.map(|d| Instant::now() + d);
        let generation = st.generation;
        st.out_waiters += 1;
        let r = loop {
            if st.mode != Mode::Connected || st.generation != generation {
                // Dropped for not reading: this publish was not queued.
                let timed_out = st
                    .engine
                    .last_error()
                    .is_some_and(|e| e.kind() == ErrorKind::Timeout);
                break if deadline.is_some() && timed_out {
                    err(
                        ErrorKind::Timeout,
                        "the server stopped reading: write deadline exceeded",
                    )
                } else {
                    Ok(())
                };
            }
            if st.engine.out_len() < OUT_LIMIT {
                break Ok(());
            }
            match deadline {
                Some(d) => {
                    if self.cond.wait_until(st, d).timed_out() && st.engine.out_len() >= OUT_LIMIT {
                        break err(
                            ErrorKind::Timeout,
                            "the server stopped reading: write deadline exceeded",
                        );
                    }
                }
                None => self.cond.wait(st),
            }
        };
        st.out_waiters -= 1;
        r
    }

    /// Closes the connection (idempotent): flushes for up to 500 ms, fails
    /// waiters, closes subscriptions, runs disconnected and closed callbacks.
    pub(crate) fn close(&self) {
        let connected = self.lock().mode == Mode::Connected;
        if connected {
            let _ = self.flush_timeout(Duration::from_millis(500));
        }
        let (sinks, was_up) = {
            let mut st = self.lock();
            if st.mode == Mode::Closed {
                return;
            }
            let was_up = matches!(st.link, Link::Up);
            (self.shut(&mut st), was_up)
        };
        self.cond.notify_all();
        self.io.send(Cmd::Remove(self.id));
        if was_up {
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
        let (ticket, deadline) = self.flush_start(timeout)?;
        self.flush_wait(ticket, deadline)
    }

    /// A flush's PING, queued and written from this thread (after waiting
    /// for a reconnection in progress): its ticket and deadline.
    fn flush_start(&self, timeout: Duration) -> Result<(FlushTicket, Instant)> {
        if timeout.is_zero() {
            return err(ErrorKind::InvalidTimeout, "flush timeout must be positive");
        }
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        // While reconnecting, wait for the connection to come back first.
        while matches!(st.mode, Mode::Reconnect { .. }) {
            if self.cond.wait_until(&mut st, deadline).timed_out() {
                return err(ErrorKind::Timeout, "flush timed out while reconnecting");
            }
        }
        let (ticket, _) = st.engine.flush_ping(Instant::now())?;
        drop(st);
        self.write_now();
        Ok((ticket, deadline))
    }

    /// Waits for a flush's PONG (or its failure) until `deadline`.
    fn flush_wait(&self, ticket: FlushTicket, deadline: Instant) -> Result<()> {
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

/// How long the first connect may take at most: every server's attempt, and
/// the waits between passes when retrying (`None`: unbounded retries).
fn first_connect_bound(opts: &Options, servers: usize) -> Option<Duration> {
    let pass = (opts.timeout + Duration::from_secs(1)) * servers.max(1) as u32;
    let passes = if opts.retry_on_failed_connect && opts.connected_cb.is_none() {
        if opts.max_reconnect < 0 {
            return None;
        }
        opts.max_reconnect as u32 + 1
    } else {
        1
    };
    let per = pass + opts.reconnect_wait + opts.reconnect_jitter;
    Some(per.saturating_mul(passes) + Duration::from_secs(2))
}

fn random() -> u64 {
    let mut b = [0u8; 8];
    crate::nuid::random_bytes(&mut b);
    u64::from_le_bytes(b)
}

// ---------------------------------------------------------------------------
// The public API.

/// Output queued for the socket beyond which publishing waits for the server
/// to read (back-pressure instead of unbounded memory).
const OUT_LIMIT: usize = 8 << 20;
/// Largest direct-write buffer kept for the next direct write.
const SPARE_MAX: usize = 1 << 20;

/// How long `drain` may take by default (nats.c's 30 s).
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

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
        let (c, connected) = Self::connect_inner(opts)?;
        c.first_attach(connected)?;
        Ok(c)
    }

    /// With an application's event loop ([`Options::event_loop`]): the
    /// first `attach`, on this (the connecting) thread. An error closes the
    /// connection and is returned. `connected`: false when the connect
    /// returned while retrying in the background (later sockets are
    /// attached from the library's io thread).
    pub(crate) fn first_attach(&self, connected: bool) -> Result<()> {
        let Some(x) = self.inner.ext() else {
            return Ok(());
        };
        if !connected {
            x.no_first_attach();
            return Ok(());
        }
        let deadline = Instant::now() + self.inner.opts.timeout.max(Duration::from_secs(1));
        if let Err(e) = x.first_attach(&self.inner, deadline) {
            self.close();
            return Err(e);
        }
        Ok(())
    }

    /// With an application's event loop ([`Options::event_loop`]): the
    /// socket is readable. Reads once and handles what was read. Does
    /// nothing without an event loop, or once the socket was taken back
    /// (lost, closed). nats.c: `natsConnection_ProcessReadEvent`.
    pub fn process_read_event(&self) {
        if let Some(x) = self.inner.ext() {
            x.read_event(&self.inner);
        }
    }

    /// With an application's event loop: the socket is writable. Writes
    /// what is pending; removes write polling once everything is written.
    /// nats.c: `natsConnection_ProcessWriteEvent`.
    pub fn process_write_event(&self) {
        if let Some(x) = self.inner.ext() {
            x.write_event(&self.inner);
        }
    }

    /// Connects; the flag is false when no server answered yet and the
    /// connection keeps trying in the background (`retry_on_failed_connect`
    /// with a connected callback: nats.c's `NATS_NOT_YET_CONNECTED`).
    pub(crate) fn connect_inner(opts: Options) -> Result<(Connection, bool)> {
        let pool = ServerPool::new(&opts)?;
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
            reconnect_on_protocol_error: opts.reconnect_on_protocol_error,
            secure: opts.tls.secure,
            credentials_step: opts.auth.needs_step(),
        };
        let bound = first_connect_bound(&opts, pool.len());
        let opts_event_loop = opts.event_loop.clone();
        *LIVE_CONNS.lock() += 1;
        let inner = Arc::new_cyclic(|me| ConnInner {
            id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
            opts,
            state: Mutex::new(State {
                engine: Engine::new(cfg),
                need_creds: None,
                pool,
                cur: None,
                link: Link::Wait {
                    at: Some(Instant::now()),
                    then: None,
                },
                mode: Mode::Initial { next: 0, passes: 0 },
                initial: None,
                attempt_error: None,
                fatal: false,
                generation: 0,
                last_read: None,
                quiet_mark: None,
                quiet_calm: false,
                local_addr: None,
                drains: Vec::new(),
                conn_drain: None,
                out_waiters: 0,
                stall: None,
                direct: None,
                reader: None,
                direct_busy: false,
                io_holding: None,
                spare: Vec::new(),
            }),
            cond: Condvar::new(),
            io,
            write_signaled: AtomicBool::new(false),
            mux: OnceLock::new(),
            me: me.clone(),
            callbacks: Arc::new(InFlight::default()),
            err_backlog: Arc::default(),
            ext: opts_event_loop.map(crate::evloop::Ext::new),
        });
        inner.io.send(Cmd::Add(inner.clone()));
        let result = {
            let mut st = inner.lock();
            let deadline = bound.map(|b| Instant::now() + b);
            while st.initial.is_none() {
                match deadline {
                    Some(d) => {
                        if inner.cond.wait_until(&mut st, d).timed_out() {
                            break;
                        }
                    }
                    None => inner.cond.wait(&mut st),
                }
            }
            let r = st.initial.take();
            if r.is_none() {
                // Only if the io loop stalled: never leave the caller hanging.
                let _ = inner.shut(&mut st);
            }
            r
        };
        match result {
            Some(Ok(())) => Ok((Connection::owning(inner), true)),
            Some(Err(e)) if e.kind() == ErrorKind::NotYetConnected => {
                Ok((Connection::owning(inner), false))
            }
            other => {
                // Never connected: no callbacks for a failed connect.
                inner.io.send(Cmd::Remove(inner.id));
                Err(other.and_then(Result::err).unwrap_or_else(|| {
                    Error::new(ErrorKind::NoServer, "connect did not complete in time")
                }))
            }
        }
    }

    fn owning(inner: Arc<ConnInner>) -> Connection {
        Connection {
            _guard: Some(Arc::new(CloseGuard(inner.clone()))),
            inner,
        }
    }

    /// Publishes `payload` on `subject`.
    ///
    /// # Errors
    /// `InvalidSubject` (empty, whitespace), `MaxPayload`, `ConnectionClosed`,
    /// `InsufficientBuffer` (reconnect buffer full while disconnected).
    pub fn publish(&self, subject: &str, payload: &[u8]) -> Result<()> {
        subject::check_publish_subject(subject)?;
        self.publish_checked(subject, payload)
    }

    /// [`Connection::publish`] for a subject the caller already checked.
    ///
    /// Inlined into its callers (the C publish among them): the usual case
    /// is [`Connection::try_publish_plain`], and only the rest makes a call.
    #[inline]
    pub(crate) fn publish_checked(&self, subject: &str, payload: &[u8]) -> Result<()> {
        debug_assert!(subject::check_publish_subject(subject).is_ok());
        if self.try_publish_plain(subject, payload) {
            return Ok(());
        }
        self.publish_general(subject, None, &[], payload)
    }

    /// The usual publish in one step under the lock: connected, not draining,
    /// room in the buffer, within max_payload. False when any of that does
    /// not hold; nothing was queued then, and the general path decides.
    #[inline]
    fn try_publish_plain(&self, subject: &str, payload: &[u8]) -> bool {
        let mut st = self.inner.lock();
        if st.conn_drain.is_none()
            && st.engine.out_len() < OUT_LIMIT
            && st.engine.try_publish_plain(subject, payload)
        {
            drop(st);
            self.inner.kick();
            return true;
        }
        false
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
        if reply.is_none() && headers.is_empty() && self.try_publish_plain(subject, payload) {
            return Ok(());
        }
        self.publish_general(subject, reply, headers, payload)
    }

    /// Every publish that [`Connection::try_publish_plain`] does not take:
    /// waits for room, reports draining, closed and size errors.
    #[inline(never)]
    fn publish_general(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: &[u8],
        payload: &[u8],
    ) -> Result<()> {
        self.queue_publish(subject, reply, headers, payload)?;
        self.inner.kick();
        Ok(())
    }

    /// Queues a publish without waking the io loop (the caller does).
    fn queue_publish(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: &[u8],
        payload: &[u8],
    ) -> Result<()> {
        let mut st = self.inner.lock();
        if st.mode != Mode::Closed && st.conn_drain.as_ref().is_some_and(ConnDrain::draining_pubs) {
            return err(ErrorKind::Draining, "the connection is draining");
        }
        if st.engine.out_len() >= OUT_LIMIT && st.mode == Mode::Connected {
            self.inner.wait_for_room(&mut st)?;
        }
        st.engine.publish(subject, reply, headers, payload)?;
        Ok(())
    }

    fn new_sub(
        &self,
        subject: &str,
        queue: Option<&str>,
        is_async: bool,
    ) -> Result<(Arc<SubShared>, QueueTx)> {
        subject::check_subscribe_subject(subject)?;
        if let Some(q) = queue {
            subject::check_queue(q)?;
        }
        let (tx, rx) = msgq::queue();
        let shared = Arc::new(SubShared {
            sid: AtomicU64::new(0),
            subject: subject.to_string(),
            queue: queue.map(str::to_string),
            rx,
            pending_msgs: AtomicUsize::new(0),
            pending_bytes: AtomicUsize::new(0),
            max_pending_msgs: AtomicUsize::new(0),
            max_pending_bytes: AtomicUsize::new(0),
            limit_msgs: AtomicI64::new(limit_of(Some(self.inner.opts.max_pending_msgs))),
            limit_bytes: AtomicI64::new(limit_of(Some(self.inner.opts.max_pending_bytes))),
            dropped: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            slow: AtomicBool::new(false),
            slow_report: AtomicBool::new(false),
            max: AtomicU64::new(0),
            state: AtomicU8::new(SUB_OPEN),
            is_async,
            answering: AtomicBool::new(false),
            drain: Mutex::new(SubDrainState::default()),
            drain_done: Condvar::new(),
            on_complete: Mutex::new(None),
        });
        Ok((shared, tx))
    }

    fn register(&self, shared: &Arc<SubShared>, tx: SubTx) -> Result<()> {
        {
            let mut st = self.inner.lock();
            st.check_not_draining()?;
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
        self.register(&shared, SubTx::Own(tx))?;
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
        if self.inner.opts.global_message_delivery {
            drop(tx);
            return self.subscribe_pooled(shared, idle, handler);
        }
        let worker = shared.clone();
        let conn = Arc::downgrade(&self.inner);
        let (ready_tx, ready_rx) = crossbeam_channel::bounded::<bool>(1);
        crate::threads::spawn("nats-delivery", move || {
            // Wait until the subscription is registered (or failed to be).
            if !ready_rx.recv().unwrap_or(false) {
                return;
            }
            // Messages taken from the queue in one go, handled in order.
            let mut batch = VecDeque::new();
            // The last message handled asked for a reply.
            let mut answering = false;
            loop {
                let next = match batch.pop_front() {
                    Some(m) => Ok(m),
                    None => match worker.rx.take_all(&mut batch) {
                        Ok(0) => {
                            // About to wait: write what the handlers published
                            // (replies) without waking the io loop, then
                            // read the next messages here for a while.
                            let start = Instant::now();
                            if let Some(c) = conn.upgrade() {
                                c.write_before_wait();
                                // A subscription answering requests reads
                                // its next request itself; one consuming a
                                // stream leaves reading to the io loop.
                                if answering {
                                    let until = idle.map_or(DIRECT_IDLE, |d| d.min(DIRECT_IDLE));
                                    worker.read_while_idle(&c, start + until);
                                }
                            }
                            let rest = idle.map(|d| d.saturating_sub(start.elapsed()));
                            worker.rx.recv_timeout(rest)
                        }
                        // Not empty: `take_all` moved at least one.
                        Ok(_) => batch.pop_front().ok_or(RecvTimeoutError::Timeout),
                        // Only ever `Disconnected`.
                        Err(_) => Err(RecvTimeoutError::Disconnected),
                    },
                };
                match next {
                    Ok(m) => {
                        if worker.state.load(Ordering::Acquire) != SUB_OPEN {
                            break;
                        }
                        worker.consumed(&m);
                        answering = m.reply().is_some();
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
                        // A draining subscription gets no idle calls.
                        if worker.drain_started() {
                            continue;
                        }
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            handler(None)
                        }));
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            drop(handler);
            worker.delivery_ended(&conn);
        })
        .map_err(|e| {
            Error::new(
                ErrorKind::SysError,
                format!("cannot start delivery thread: {e}"),
            )
        })?;
        match self.register(&shared, SubTx::Own(tx)) {
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

    /// An asynchronous subscription served by the shared delivery pool.
    fn subscribe_pooled(
        &self,
        shared: Arc<SubShared>,
        idle: Option<Duration>,
        mut handler: RawHandler,
    ) -> Result<Subscription> {
        let tx = delivery::assign()?;
        let worker = shared.clone();
        let deliver = Box::new(move |m: Option<Message>| {
            if worker.state.load(Ordering::Acquire) != SUB_OPEN {
                return;
            }
            match m {
                Some(m) => {
                    worker.consumed(&m);
                    handler(Some(m));
                }
                // A draining subscription gets no idle calls.
                None if worker.drain_started() => {}
                None => handler(None),
            }
        });
        let (ender, conn) = (shared.clone(), Arc::downgrade(&self.inner));
        let end = Box::new(move || ender.delivery_ended(&conn));
        let writer = Arc::downgrade(&self.inner);
        let before_wait = Box::new(move || {
            if let Some(c) = writer.upgrade() {
                c.write_before_wait();
            }
        });
        let psub = PoolSub::new(deliver, end, idle, before_wait);
        let ptx = PoolTx {
            tx: tx.clone(),
            sub: psub.clone(),
        };
        self.register(&shared, SubTx::Pool(ptx))?;
        let _ = tx.send(delivery::Job::Start(psub));
        Ok(Subscription {
            shared,
            conn: self.inner.clone(),
        })
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
        if self.inner.opts.old_request_style {
            return self.request_own_inbox(subject, headers, payload, timeout);
        }
        let mux = self.mux()?;
        let token = base62(mux.next.fetch_add(1, Ordering::Relaxed));
        let reply = format!("{}{}", mux.prefix, token);
        let (tx, rx) = crossbeam_channel::bounded(1);
        mux.waiters.lock().insert(token.clone(), tx);
        if let Err(e) = self.queue_publish(subject, Some(&reply), headers, payload) {
            mux.waiters.lock().remove(&token);
            return Err(e);
        }
        // This thread waits for the reply next: it writes the request itself,
        // and reads the reply itself where it can.
        self.inner.write_now();
        let mut reply = None;
        let direct_until = deadline.min(Instant::now() + DIRECT_REQUEST);
        self.inner.wait_reading(direct_until, &mut || {
            if reply.is_none() {
                match rx.try_recv() {
                    Ok(r) => reply = Some(Ok(r)),
                    Err(TryRecvError::Disconnected) => {
                        reply = Some(Err(RecvTimeoutError::Disconnected));
                    }
                    Err(TryRecvError::Empty) => {}
                }
            }
            reply.is_some()
        });
        let got = match reply {
            Some(r) => r,
            None => rx.recv_deadline(deadline),
        };
        match got {
            Ok(Err(e)) => Err(e),
            Ok(Ok(m)) if m.is_no_responders() => err(
                ErrorKind::NoResponders,
                format!("no responders for {subject:?}"),
            ),
            Ok(Ok(m)) => Ok(m),
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

    /// A request with its own inbox subscription (`old_request_style`).
    fn request_own_inbox(
        &self,
        subject: &str,
        headers: &[u8],
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Message> {
        let inbox = self.new_inbox();
        // Dropping `sub` on return unsubscribes it, whatever the outcome.
        let sub = self.subscribe(&inbox)?;
        self.queue_publish(subject, Some(&inbox), headers, payload)?;
        self.inner.write_now();
        match sub.next_msg_reading(timeout, Some(DIRECT_REQUEST)) {
            Ok(m) if m.is_no_responders() => err(
                ErrorKind::NoResponders,
                format!("no responders for {subject:?}"),
            ),
            Ok(m) => Ok(m),
            Err(e) if e.kind() == ErrorKind::Timeout => err(
                ErrorKind::Timeout,
                format!("no reply on {subject:?} within {timeout:?}"),
            ),
            Err(e) => Err(e),
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
        st.check_not_draining()?;
        let wildcard = format!("{}*", m.prefix);
        let (sid, _) = st.engine.subscribe(&wildcard, None, Sink::Mux(m.clone()))?;
        st.engine.set_replay_last(sid);
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
        let (ticket, deadline) = self.inner.flush_start(timeout)?;
        // The PONG is read on this thread where it can be.
        let inner = &self.inner;
        inner.wait_reading(deadline.min(Instant::now() + DIRECT_REQUEST), &mut || {
            inner.lock().engine.flush_status(ticket).is_some()
        });
        inner.flush_wait(ticket, deadline)
    }

    /// Round-trip time to the server, measured with a PING/PONG.
    ///
    /// # Errors
    /// `ConnectionClosed`, `ConnectionDisconnected`, `Timeout`.
    pub fn rtt(&self) -> Result<Duration> {
        self.inner.check_connected()?;
        let start = Instant::now();
        self.flush_timeout(Duration::from_secs(10))?;
        Ok(start.elapsed())
    }

    /// Closes the connection: pending publishes are flushed (up to 500 ms),
    /// subscriptions end, the closed callback runs once. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Starts draining the connection, with a limit of 30 s: every
    /// subscription stops receiving and delivers what it already has (the
    /// request inbox last, so replies still arrive), then publishes are
    /// flushed and the connection closes. Returns at once; see
    /// [`Connection::wait_drained`]. Publishing is allowed until the
    /// subscriptions are drained; subscribing is not.
    ///
    /// # Errors
    /// `ConnectionClosed`; `IllegalState` while connecting or reconnecting.
    ///
    /// # Examples
    /// ```no_run
    /// # let nc = nats::Connection::connect("nats://127.0.0.1:4222")?;
    /// let sub = nc.subscribe_with_handler("work", |m| println!("{:?}", m.payload()))?;
    /// nc.drain()?;
    /// nc.wait_drained(None)?; // every queued message was handled; closed
    /// # Ok::<(), nats::Error>(())
    /// ```
    pub fn drain(&self) -> Result<()> {
        self.drain_timeout(Some(DEFAULT_DRAIN_TIMEOUT))
    }

    /// [`Connection::drain`] with a limit (`None`: no limit). When the limit
    /// passes, the subscriptions still draining end with `Timeout`, the error
    /// callback is told, and the connection closes.
    ///
    /// # Errors
    /// As [`Connection::drain`].
    pub fn drain_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        self.inner.start_conn_drain(timeout)
    }

    /// True while the connection drains.
    pub fn is_draining(&self) -> bool {
        let st = self.inner.lock();
        st.mode != Mode::Closed && st.conn_drain.is_some()
    }

    /// Waits until the drain started by [`Connection::drain`] ended and the
    /// connection closed (`timeout`: `None` waits as long as it takes), and
    /// returns how the drain went.
    ///
    /// # Errors
    /// `IllegalState` if no drain was started; `Timeout` if the wait timed
    /// out; otherwise the drain's failure (`Timeout` when subscriptions did
    /// not drain in time, `ConnectionClosed` when closed meanwhile...).
    pub fn wait_drained(&self, timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.inner.lock();
        if st.conn_drain.is_none() {
            return err(ErrorKind::IllegalState, "the connection is not draining");
        }
        while st.mode != Mode::Closed {
            match deadline {
                Some(d) => {
                    if self.inner.cond.wait_until(&mut st, d).timed_out() && st.mode != Mode::Closed
                    {
                        return err(ErrorKind::Timeout, "the drain is still in progress");
                    }
                }
                None => self.inner.cond.wait(&mut st),
            }
        }
        st.conn_drain
            .as_ref()
            .and_then(|d| d.result.clone())
            .unwrap_or(Ok(()))
    }

    /// Drops the current socket as if the server had gone: the connection
    /// reconnects (to the next server of the list), or closes if reconnecting
    /// is not allowed. Returns at once.
    ///
    /// # Errors
    /// `ConnectionClosed`.
    pub fn reconnect(&self) -> Result<()> {
        if self.inner.is_closed() {
            return err(ErrorKind::ConnectionClosed, "connection closed");
        }
        self.inner.io.send(Cmd::Kill {
            id: self.inner.id,
            cause: Error::new(
                ErrorKind::ConnectionDisconnected,
                "reconnection requested by the application",
            ),
        });
        Ok(())
    }

    /// Waits until every callback already queued for this connection has run
    /// (returns at once when called from a callback).
    pub(crate) fn wait_callbacks(&self) {
        self.inner.callbacks.wait_idle();
    }

    /// With an event loop: no socket is attached from now on (the
    /// connection is being destroyed). True if the loop ever had one: its
    /// `detach` is then owed (or done).
    pub(crate) fn seal_event_loop(&self) -> bool {
        self.inner.ext().is_some_and(|x| x.seal())
    }

    /// The connection status.
    pub fn status(&self) -> ConnStatus {
        let st = self.inner.lock();
        match st.mode {
            Mode::Closed => ConnStatus::Closed,
            Mode::Connected => match st.conn_drain.as_ref().map(|d| d.phase) {
                Some(DrainPhase::Pubs(_)) => ConnStatus::DrainingPubs,
                Some(DrainPhase::Subs | DrainPhase::Mux(_)) => ConnStatus::DrainingSubs,
                _ => ConnStatus::Connected,
            },
            Mode::Reconnect { .. } => ConnStatus::Reconnecting,
            Mode::Initial { .. } => ConnStatus::Connecting,
        }
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.status() == ConnStatus::Closed
    }

    /// True while trying to reconnect (publishes are being buffered).
    pub fn is_reconnecting(&self) -> bool {
        self.status() == ConnStatus::Reconnecting
    }

    /// The latest INFO of the server (`None` once closed or before connecting).
    pub fn server_info(&self) -> Option<ServerInfo> {
        let st = self.inner.lock();
        (st.mode != Mode::Closed && st.engine.ever_connected()).then(|| st.engine.info().clone())
    }

    /// URL of the server connected to (`None` when not connected).
    pub fn connected_url(&self) -> Option<String> {
        let st = self.inner.lock();
        st.current_server()
            .filter(|_| matches!(st.link, Link::Up))
            .map(|s| s.url.display())
    }

    /// Id of the server connected to (`None` when not connected).
    pub fn connected_server_id(&self) -> Option<String> {
        let st = self.inner.lock();
        matches!(st.link, Link::Up).then(|| st.engine.info().server_id.clone())
    }

    /// Every server the connection may use, as `nats://host:port` (those
    /// given in the options and those the cluster announced).
    pub fn servers(&self) -> Vec<String> {
        self.inner.lock().pool.urls()
    }

    /// The servers the cluster announced (not given in the options).
    pub fn discovered_servers(&self) -> Vec<String> {
        self.inner.lock().pool.discovered()
    }

    /// Signs `data` with the NKey seed of this connection's credentials (a
    /// credentials file, credentials in memory, or an NKey seed file), as
    /// `natsConnection_Sign`. Returns the raw 64-byte Ed25519 signature.
    ///
    /// # Errors
    /// `Other` if the connection has no such credentials; the errors of
    /// reading the seed.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        use crate::auth::{Identity, Signer};
        match &self.inner.opts.auth.identity {
            Identity::User { signer, .. } | Identity::NKey { signer, .. }
                if !matches!(signer, Signer::Callback(_)) =>
            {
                signer.sign(data)
            }
            _ => err(
                ErrorKind::Other,
                "unable to sign: no user credentials or seed file were set",
            ),
        }
    }

    /// The id the server gave this client.
    ///
    /// # Errors
    /// `ConnectionClosed`; `NoServerSupport` if the server gave none.
    pub fn client_id(&self) -> Result<u64> {
        let st = self.inner.lock();
        if st.mode == Mode::Closed {
            return err(ErrorKind::ConnectionClosed, "connection closed");
        }
        match st.engine.info().client_id {
            0 => err(ErrorKind::NoServerSupport, "the server gave no client id"),
            id => Ok(id),
        }
    }

    /// This client's IP address as the server sees it.
    ///
    /// # Errors
    /// `ConnectionClosed`; `NoServerSupport` if the server did not say.
    pub fn client_ip(&self) -> Result<String> {
        let st = self.inner.lock();
        if st.mode == Mode::Closed {
            return err(ErrorKind::ConnectionClosed, "connection closed");
        }
        match st.engine.info().client_ip.as_str() {
            "" => err(ErrorKind::NoServerSupport, "the server gave no client IP"),
            ip => Ok(ip.to_string()),
        }
    }

    /// The local address of the socket.
    ///
    /// # Errors
    /// `ConnectionClosed`, `ConnectionDisconnected` (no socket right now).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.inner.check_connected()?;
        self.inner
            .lock()
            .local_addr
            .ok_or_else(|| Error::new(ErrorKind::ConnectionDisconnected, "not connected"))
    }

    /// The largest payload (headers included) the server accepts.
    pub fn max_payload(&self) -> i64 {
        self.inner.lock().engine.info().max_payload
    }

    /// The last error recorded on the connection: a server `-ERR`, or why the
    /// connection was lost (kept until a reconnection succeeds), or why it closed.
    pub fn last_error(&self) -> Option<Error> {
        self.inner.lock().engine.last_error().cloned()
    }

    /// Message and byte counters.
    pub fn statistics(&self) -> Statistics {
        self.inner.lock().engine.stats()
    }

    /// Changes the ping interval of the live connection (`Duration::ZERO`
    /// disables pings); it also applies after reconnections. An extension
    /// over nats.c's options-only setting.
    pub fn set_ping_interval(&self, interval: Duration) {
        let interval = (!interval.is_zero()).then_some(interval);
        self.inner
            .lock()
            .engine
            .set_ping_interval(interval, Instant::now());
        // Re-arms the timer, and reads at once if the socket was read lazily
        // (see `ConnInner::may_read_lazily`).
        self.inner.io.send(Cmd::Read(self.inner.id));
    }

    /// Connection health: pings outstanding, last round trip, time since the
    /// server last sent anything, reconnections, last error.
    pub fn health(&self) -> Health {
        let status = self.status();
        let st = self.inner.lock();
        let up = matches!(st.link, Link::Up);
        Health {
            status,
            pings_out: st.engine.pings_out(),
            ping_interval: st.engine.ping_interval(),
            max_pings_out: st.engine.max_pings_out(),
            last_rtt: st.engine.last_rtt(),
            since_last_read: st.last_read.map(|t| t.elapsed()),
            reconnects: st.engine.stats().reconnects,
            unconfirmed_lost: st.engine.unconfirmed_lost(),
            server: st.current_server().filter(|_| up).map(|s| s.url.display()),
            last_error: st.engine.last_error().cloned(),
            lazy_reads: up && st.reads_lazily(st.generation),
        }
    }

    /// Bytes queued and not yet handed to the socket, including publishes
    /// buffered while reconnecting (`None` once closed).
    pub fn buffered(&self) -> Option<usize> {
        let st = self.inner.lock();
        (st.mode != Mode::Closed).then(|| st.engine.buffered())
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
        // A thread answering requests reads its next request itself.
        let direct = self
            .shared
            .answering
            .load(Ordering::Relaxed)
            .then_some(DIRECT_IDLE);
        self.next_msg_reading(timeout, direct)
    }

    /// [`Subscription::next_msg`], reading the socket on this thread for up
    /// to `direct` (when given) while nothing is queued.
    fn next_msg_reading(&self, timeout: Duration, direct: Option<Duration>) -> Result<Message> {
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
        let next = self.shared.rx.try_recv().or_else(|_| {
            // About to wait: write what this thread published (a reply).
            let start = Instant::now();
            self.conn.write_before_wait();
            if let Some(d) = direct {
                self.shared
                    .read_while_idle(&self.conn, start + d.min(timeout));
            }
            self.shared
                .rx
                .recv_timeout(Some(timeout.saturating_sub(start.elapsed())))
        });
        match next {
            Ok(m) => {
                self.shared
                    .answering
                    .store(m.reply().is_some(), Ordering::Relaxed);
                self.shared.consumed(&m);
                if self.shared.read_one() {
                    self.conn.drain_progress();
                }
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
                if self.shared.drain_started()
                    && !self.shared.is_async
                    && self.shared.complete_drain()
                {
                    self.conn.drain_progress();
                }
                self.conn.kick();
                Ok(())
            }
            Err(e) => {
                if e.kind() == ErrorKind::InvalidSubscription {
                    self.shared.close_with(SUB_UNSUBSCRIBED);
                    // A drained subscription still delivering its queue: it
                    // stops now, and its drain ends as interrupted.
                    if self.shared.drain_started() {
                        if !self.shared.is_async && self.shared.complete_drain() {
                            self.conn.drain_progress();
                        }
                        return Ok(());
                    }
                }
                Err(e)
            }
        }
    }

    /// Starts draining the subscription, with a limit of 30 s: it stops
    /// receiving (UNSUB, then a PING to be sure the server processed it),
    /// delivers what it already has, then closes. Returns at once; see
    /// [`Subscription::wait_drained`] and [`Subscription::drain_status`]. A
    /// synchronous subscription completes its drain when [`Subscription::next_msg`]
    /// has returned its last message.
    ///
    /// # Errors
    /// `InvalidSubscription` if closed; `ConnectionClosed`; `Draining` while
    /// the connection drains.
    ///
    /// # Examples
    /// ```no_run
    /// # let nc = nats::Connection::connect("nats://127.0.0.1:4222")?;
    /// let sub = nc.subscribe_with_handler("jobs", |m| println!("{:?}", m.payload()))?;
    /// sub.drain()?;
    /// sub.wait_drained(None)?;
    /// assert!(sub.drain_status().unwrap().is_ok());
    /// # Ok::<(), nats::Error>(())
    /// ```
    pub fn drain(&self) -> Result<()> {
        self.drain_timeout(Some(DEFAULT_DRAIN_TIMEOUT))
    }

    /// [`Subscription::drain`] with a limit (`None`: no limit); when it
    /// passes, the subscription closes with what is left undelivered and its
    /// drain status is `Timeout`. A second call does nothing.
    ///
    /// # Errors
    /// As [`Subscription::drain`].
    pub fn drain_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        self.conn.start_sub_drain(&self.shared, timeout)
    }

    /// Waits until the drain completes (`timeout`: `None` waits as long as
    /// it takes). This is the wait's result; the drain's own is
    /// [`Subscription::drain_status`].
    ///
    /// # Errors
    /// `IllegalState` if no drain was started, `Timeout`.
    pub fn wait_drained(&self, timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut d = self.shared.drain.lock();
        if !d.started {
            return err(ErrorKind::IllegalState, "the subscription is not draining");
        }
        while !d.complete {
            match deadline {
                Some(at) => {
                    if self.shared.drain_done.wait_until(&mut d, at).timed_out() && !d.complete {
                        return err(ErrorKind::Timeout, "the drain is still in progress");
                    }
                }
                None => self.shared.drain_done.wait(&mut d),
            }
        }
        Ok(())
    }

    /// How the drain ended: `None` until it completed, then `Ok`, or why it
    /// did not complete normally (`Timeout`, `ConnectionClosed`,
    /// `InvalidSubscription` when unsubscribed meanwhile, a flush error).
    pub fn drain_status(&self) -> Option<Result<()>> {
        let d = self.shared.drain.lock();
        d.complete.then(|| d.status.clone().map_or(Ok(()), Err))
    }

    /// Sets a callback run once when this asynchronous subscription stops
    /// delivering (unsubscribed, drained, closed...), after its last message
    /// callback returned.
    ///
    /// # Errors
    /// `InvalidSubscription` for a synchronous or closed subscription.
    pub fn on_complete<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<()> {
        self.set_on_complete(Some(Box::new(f)))
    }

    /// Sets or (`None`) clears the completion callback.
    pub(crate) fn set_on_complete(&self, f: Option<OnComplete>) -> Result<()> {
        if !self.shared.is_async || self.shared.state.load(Ordering::Acquire) != SUB_OPEN {
            return err(
                ErrorKind::InvalidSubscription,
                "the subscription is closed or synchronous",
            );
        }
        *self.shared.on_complete.lock() = f;
        Ok(())
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
        self.conn.lock().engine.has_sub(self.sid())
            || self.shared.pending_msgs.load(Ordering::Acquire) > 0
    }

    /// Fails unless the subscription is still valid: the check the statistics
    /// calls of the C API make first (nats.c reports a closed subscription,
    /// whatever closed it, as `InvalidSubscription`).
    pub(crate) fn check_stats(&self) -> Result<()> {
        if self.is_valid() {
            Ok(())
        } else {
            err(ErrorKind::InvalidSubscription, "subscription is not valid")
        }
    }

    /// Messages received but not yet handed to the application, and their
    /// size in bytes (headers plus payload): `(messages, bytes)`.
    ///
    /// # Examples
    /// ```no_run
    /// # let nc = nats::Connection::connect("nats://127.0.0.1:4222")?;
    /// let sub = nc.subscribe("updates")?;
    /// let (msgs, bytes) = sub.pending();
    /// println!("{msgs} messages ({bytes} bytes) waiting");
    /// # Ok::<(), nats::Error>(())
    /// ```
    pub fn pending(&self) -> (usize, usize) {
        (
            self.shared.pending_msgs.load(Ordering::Acquire),
            self.shared.pending_bytes.load(Ordering::Acquire),
        )
    }

    /// The highest [`Subscription::pending`] values reached since the
    /// subscription was created or [`Subscription::clear_max_pending`] was
    /// last called: `(messages, bytes)`.
    ///
    /// # Examples
    /// ```no_run
    /// # let nc = nats::Connection::connect("nats://127.0.0.1:4222")?;
    /// let sub = nc.subscribe("updates")?;
    /// let (msgs, bytes) = sub.max_pending();
    /// println!("at most {msgs} messages ({bytes} bytes) were waiting");
    /// # Ok::<(), nats::Error>(())
    /// ```
    pub fn max_pending(&self) -> (usize, usize) {
        (
            self.shared.max_pending_msgs.load(Ordering::Acquire),
            self.shared.max_pending_bytes.load(Ordering::Acquire),
        )
    }

    /// Resets the high-water marks of [`Subscription::max_pending`] to 0; the
    /// next queued message sets them again.
    ///
    /// # Examples
    /// ```no_run
    /// # let nc = nats::Connection::connect("nats://127.0.0.1:4222")?;
    /// let sub = nc.subscribe("updates")?;
    /// sub.clear_max_pending();
    /// assert_eq!(sub.max_pending(), (0, 0));
    /// # Ok::<(), nats::Error>(())
    /// ```
    pub fn clear_max_pending(&self) {
        self.shared.max_pending_msgs.store(0, Ordering::Release);
        self.shared.max_pending_bytes.store(0, Ordering::Release);
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
    /// A message that would take the pending count or size over a limit is
    /// dropped (see [`Subscription::dropped`]) and reported as a slow consumer.
    ///
    /// # Examples
    /// ```no_run
    /// # let nc = nats::Connection::connect("nats://127.0.0.1:4222")?;
    /// let sub = nc.subscribe("updates")?;
    /// sub.set_pending_limits(Some(1000), None);
    /// assert_eq!(sub.pending_limits(), (Some(1000), None));
    /// # Ok::<(), nats::Error>(())
    /// ```
    pub fn set_pending_limits(&self, msgs: Option<usize>, bytes: Option<usize>) {
        self.set_pending_limits_raw(limit_of(msgs), limit_of(bytes));
    }

    /// The pending limits (messages, bytes); `None` means unlimited. They
    /// start as the options' `max_pending_msgs` / `max_pending_bytes`.
    ///
    /// # Examples
    /// ```no_run
    /// # let nc = nats::Connection::connect("nats://127.0.0.1:4222")?;
    /// let sub = nc.subscribe("updates")?;
    /// let (msgs, bytes) = sub.pending_limits();
    /// println!("limits: {msgs:?} messages, {bytes:?} bytes");
    /// # Ok::<(), nats::Error>(())
    /// ```
    pub fn pending_limits(&self) -> (Option<usize>, Option<usize>) {
        let (m, b) = self.pending_limits_raw();
        (limit_from(m), limit_from(b))
    }

    /// Sets the limits as nats.c stores them: any negative value means
    /// unlimited and is read back unchanged by `pending_limits_raw`.
    pub(crate) fn set_pending_limits_raw(&self, msgs: i64, bytes: i64) {
        self.shared.limit_msgs.store(msgs, Ordering::Release);
        self.shared.limit_bytes.store(bytes, Ordering::Release);
    }

    /// The limits as stored (negative: unlimited).
    pub(crate) fn pending_limits_raw(&self) -> (i64, i64) {
        (
            self.shared.limit_msgs.load(Ordering::Acquire),
            self.shared.limit_bytes.load(Ordering::Acquire),
        )
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
        // An asynchronous subscription being drained finishes its drain; any
        // other is unsubscribed (a synchronous drain ends: nobody reads on).
        if self.shared.is_async && self.shared.drain_started() {
            return;
        }
        if self.shared.state.load(Ordering::Acquire) == SUB_OPEN {
            let _ = self.unsubscribe();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_ip_resolution_order() {
        let v4 = SocketAddr::from(([127, 0, 0, 1], 1));
        let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 1));
        let v4b = SocketAddr::from(([10, 0, 0, 1], 1));
        let all = vec![v6, v4, v4b];
        assert_eq!(order_addrs(all.clone(), 0, false), all);
        assert_eq!(order_addrs(all.clone(), 4, false), vec![v4, v4b]);
        assert_eq!(order_addrs(all.clone(), 6, false), vec![v6]);
        assert_eq!(order_addrs(all.clone(), 46, false), vec![v4, v4b, v6]);
        assert_eq!(order_addrs(all.clone(), 64, false), vec![v6, v4, v4b]);
        // Shuffled, the families still come in the order asked for.
        for _ in 0..20 {
            let got = order_addrs(all.clone(), 46, true);
            assert_eq!(got.len(), 3);
            assert_eq!(got[2], v6);
        }
        assert!(order_addrs(vec![v6], 4, true).is_empty());
    }
}
