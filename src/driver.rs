//! The io driver: a small pool of mio event loops, shared by every connection
//! of the process. A loop owns the sockets of the connections assigned to it,
//! reads and parses (outside any lock), feeds the engines, writes their output
//! in batches, and runs their timers from the poll timeout. Thread count does
//! not grow with the number of connections.
//!
//! Fork safety: the pool records the pid that created it; a forked child that
//! touches the library gets a fresh pool (threads do not survive `fork`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;

use crate::connection::ConnInner;
use crate::error::{Error, ErrorKind};
use crate::proto::{Parser, ServerOp};
use crate::tls::{TlsStart, handshake_error};

const WAKER: Token = Token(usize::MAX);
const READ_BUF: usize = 64 * 1024;
/// Reads of one socket per turn of the loop, and the time they may take (a
/// read whose operations are costly to handle counts too). A socket with
/// more to read is served again on the next turn, after the loop has
/// written, run its timers and served the other sockets and the waker: a
/// peer that keeps its socket readable cannot hold the loop (hostile test
/// `info_flood_...`).
const READ_BUDGET: usize = 16;
const READ_TIME_BUDGET: std::time::Duration = std::time::Duration::from_millis(5);

/// Commands sent to a loop.
pub(crate) enum Cmd {
    /// Serve this connection from now on: its timers, connection attempts
    /// and sockets.
    Add(Arc<ConnInner>),
    /// The connection has output to write.
    Write(usize),
    /// Read the connection's socket (a direct reader let go of it).
    Read(usize),
    /// The connection's deadline may have changed (new ping interval, wait).
    Timer(usize),
    /// Name resolution for attempt `generation` finished.
    Resolved {
        id: usize,
        generation: u64,
        result: Result<Vec<SocketAddr>, Error>,
    },
    /// The application's proxy connection handler for attempt `generation`
    /// finished.
    Proxied {
        id: usize,
        generation: u64,
        result: Result<std::net::TcpStream, Error>,
    },
    /// Drop the connection's socket as lost (the application asked for a
    /// reconnection).
    Kill { id: usize, cause: Error },
    /// Write what is pending (best effort) and forget the connection.
    Remove(usize),
    /// End the loop's thread if it serves no connection
    /// (`nats_CloseAndWait`).
    Exit,
}

/// What a connection asks its loop to do next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Nothing.
    None,
    /// Open a TCP connection to `addr` for attempt `generation` (with a TLS
    /// handshake first, before the server's INFO, if `tls_first`).
    Open {
        addr: SocketAddr,
        generation: u64,
        tls_first: Option<TlsStart>,
    },
    /// Use this already connected socket (made by the application's proxy
    /// connection handler) for attempt `generation`.
    Adopt {
        stream: std::net::TcpStream,
        generation: u64,
        tls_first: Option<TlsStart>,
    },
    /// Upgrade the socket of `generation` to TLS (the INFO asked for it).
    StartTls { generation: u64, start: TlsStart },
    /// The handshake on the socket of `generation` is done: hand it over to
    /// the application's event loop (`Options::event_loop`).
    Attach { generation: u64 },
    /// Drop the current socket with this cause.
    Lose(Error),
}

/// A handle to one loop.
pub(crate) struct LoopHandle {
    tx: Sender<Cmd>,
    waker: Waker,
}

impl LoopHandle {
    /// Sends a command and wakes the loop.
    pub(crate) fn send(&self, cmd: Cmd) {
        if self.tx.send(cmd).is_ok() {
            // A failed wake means the loop is gone; nothing else to do.
            let _ = self.waker.wake();
        }
    }
}

struct Pool {
    pid: u32,
    loops: Vec<Arc<LoopHandle>>,
    next: usize,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);
static POOL_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Sets how many io loops the process uses (0: one per CPU core, at most 4).
/// Takes effect for loops not yet started.
pub fn set_io_threads(n: usize) {
    POOL_SIZE.store(n, Ordering::Relaxed);
}

/// Asks every loop of this process's pool to end (each ends once it serves
/// no connection); the next connection starts a new pool. The caller keeps
/// what this returns until the loops have ended: dropping a loop's waker
/// closes its eventfd, which would cancel the wake-up not yet seen.
pub(crate) fn shutdown() -> Vec<Arc<LoopHandle>> {
    let Some(pool) = POOL.lock().take() else {
        return Vec::new();
    };
    if pool.pid != std::process::id() {
        std::mem::forget(pool); // A forked child: not our threads.
        return Vec::new();
    }
    for l in &pool.loops {
        l.send(Cmd::Exit);
    }
    pool.loops
}

/// Picks a loop for a new connection (round-robin), starting the pool lazily.
pub(crate) fn assign() -> io::Result<Arc<LoopHandle>> {
    let mut guard = POOL.lock();
    let pid = std::process::id();
    if guard.as_ref().is_some_and(|p| p.pid != pid) {
        // Forked child: the parent's loop threads do not exist here. The old
        // handles are leaked on purpose: dropping them would touch state that
        // belongs to threads of another process.
        if let Some(old) = guard.take() {
            std::mem::forget(old);
        }
    }
    let pool = guard.get_or_insert_with(|| Pool {
        pid,
        loops: Vec::new(),
        next: 0,
    });
    let want = match POOL_SIZE.load(Ordering::Relaxed) {
        0 => cores().min(4),
        n => n,
    };
    if pool.loops.len() < want && pool.next >= pool.loops.len() {
        pool.loops.push(spawn_loop()?);
    }
    let i = pool.next % pool.loops.len().max(1);
    pool.next = pool.next.wrapping_add(1);
    pool.loops
        .get(i)
        .cloned()
        .ok_or_else(|| io::Error::other("no io loop"))
}

/// The cores this process may use, asked once: the lookup reads several
/// files under /proc and /sys, too costly for every connection.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn spawn_loop() -> io::Result<Arc<LoopHandle>> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKER)?;
    let registry = Arc::new(poll.registry().try_clone()?);
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = Arc::new(LoopHandle { tx, waker });
    crate::threads::spawn("nats-io", move || {
        let mut lp = Loop {
            poll,
            registry,
            rx,
            conns: HashMap::new(),
            timers: BinaryHeap::new(),
            armed: HashMap::new(),
            scratch: Scratch::default(),
            unread: Vec::new(),
        };
        // A panic here must not unwind further: every connection on this
        // loop is closed with an error instead.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
        if r.is_err() {
            for (_, e) in lp.conns.drain() {
                e.conn
                    .abandon(Error::new(ErrorKind::Other, "internal error in io loop"));
            }
        }
    })?;
    Ok(handle)
}

/// Lets threads other than the io loop write to a plain TCP socket: a
/// thread about to wait (a request, a flush, a delivery thread that ran out
/// of messages) writes the connection's pending output itself instead of
/// waking the loop, which saves one thread hand-off per round trip.
///
/// The loop owns the socket; the gate holds its descriptor while it is open.
/// A direct writer holds the gate's lock across its write (and across putting
/// back what the kernel did not take), and the loop closes the gate before it
/// reports the socket lost or closes it, so the descriptor a writer uses is
/// always the connection's current one, and bytes the writer could not write
/// are back in the engine's output before the loss is handled. Lock order:
/// the connection's state, then the gate; the loop takes the gate alone.
pub(crate) struct Gate {
    fd: Mutex<Option<std::os::fd::RawFd>>,
}

impl Gate {
    fn new(fd: std::os::fd::RawFd) -> Arc<Gate> {
        Arc::new(Gate {
            fd: Mutex::new(Some(fd)),
        })
    }

    /// No direct write from now on (waits for one in progress).
    pub(crate) fn close(&self) {
        *self.fd.lock() = None;
    }

    /// The gate's lock if it is open and free; `None` otherwise (the caller
    /// lets the io loop write instead).
    pub(crate) fn enter(&self) -> Option<GateEntry<'_>> {
        let g = self.fd.try_lock()?;
        g.is_some().then_some(GateEntry(g))
    }
}

/// An open gate, locked: writes go to its socket.
pub(crate) struct GateEntry<'a>(parking_lot::MutexGuard<'a, Option<std::os::fd::RawFd>>);

impl GateEntry<'_> {
    /// One non-blocking send (no SIGPIPE).
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let Some(fd) = *self.0 else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        // SAFETY: `fd` is the io loop's open socket: the loop closes the
        // gate (which needs this lock, held here) before the socket is
        // dropped, so the descriptor cannot be closed or reused during this
        // call; `buf` is a valid slice of `buf.len()` bytes.
        let n = unsafe {
            libc::send(
                fd,
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

/// Closes a socket's gate (direct writes) and its reader's direct side
/// (direct reads) when the socket goes (declared first in [`Sock`] so that
/// it is dropped before the stream).
#[derive(Default)]
struct GateGuard(Option<Arc<Gate>>, Option<Arc<Reader>>);

impl GateGuard {
    fn close(&mut self) {
        if let Some(g) = self.0.take() {
            g.close();
        }
        if let Some(r) = self.1.take() {
            r.close_direct();
        }
    }
}

impl Drop for GateGuard {
    fn drop(&mut self) {
        self.close();
    }
}

/// A socket's parser, and what lets a thread other than the io loop read
/// the socket (plain TCP only): a thread about to wait for a reply, or a
/// responder about to wait for its next request, reads and handles the
/// connection's input itself ([`read_direct`]) instead of being woken by
/// the loop, which saves one thread hand-off per message.
///
/// Whoever reads holds `side`'s lock while reading, parsing and handling
/// (never while waiting for data). A direct reader first claims the reader
/// (`claimed`); the loop does not read a claimed socket and notes that it
/// found it claimed (`missed`), and the direct reader asks the loop to read
/// again when it lets go. While claimed, the loop's poller is not told of
/// readable data (the socket is registered for nothing, or writable only
/// while the loop waits to write), so the data wakes the waiting thread
/// alone. Lock order: `side`, then the connection's state.
///
/// An idle connection is read lazily (`quiet`): when it has no subscription,
/// everything the application sent had been answered at the last ping tick,
/// and it did nothing since ([`ConnInner::may_read_lazily`]), the poller
/// reports only the peer's close or a socket error, and the loop reads the
/// socket at each ping tick, before the stale check. The PONG to a PING then
/// costs no wake-up of its own. The loop leaves this state as soon as the
/// application writes (every write wakes the loop or, for a direct write,
/// asks it to read) or a direct reader claims the socket.
pub(crate) struct Reader {
    side: Mutex<ReadSide>,
    claimed: AtomicBool,
    missed: AtomicBool,
    /// Mirrors `DirectFd::quiet`, for checks without the lock.
    quiet: AtomicBool,
}

struct ReadSide {
    parser: Parser,
    /// The socket, while direct reads are possible.
    direct: Option<DirectFd>,
    /// What a direct read could not carry out itself (the socket failed,
    /// the input was bad...): the loop's next read of the socket does.
    step: Option<Step>,
}

struct DirectFd {
    fd: std::os::fd::RawFd,
    registry: Arc<mio::Registry>,
    token: Token,
    /// What the socket is registered for with the loop's poller now.
    current: Reg,
    /// The loop's last write would have blocked: it waits to be told the
    /// socket is writable again.
    want_write: bool,
    /// A direct reader has the socket: the poller must not report it
    /// readable (that would wake the loop for nothing).
    elsewhere: bool,
    /// The loop reads the socket lazily (see [`Reader`]).
    quiet: bool,
}

/// A socket's registration with the loop's poller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    Off,
    On(Interest),
    /// Registered for nothing (epoll still reports errors and hang-ups): a
    /// direct reader has the socket. Cheaper to enter and leave than a
    /// deregistration (one `EPOLL_CTL_MOD` each way, where removing and
    /// adding the socket back costs the kernel more).
    Parked,
    /// The peer's close and socket errors only (and writable when `write`):
    /// incoming data wakes nobody.
    Quiet {
        write: bool,
    },
}

impl DirectFd {
    /// Brings the poller's registration in line with who reads and whether
    /// the loop waits to write. Taking interest away (parking, a
    /// deregistration) reports nothing; adding interest reports what is
    /// ready now (data left unread, room to write), which is what the loop
    /// then needs.
    fn sync(&mut self) {
        let want = wanted(self.current, self.elsewhere, self.want_write, self.quiet);
        if want == self.current {
            return;
        }
        let mut src = mio::unix::SourceFd(&self.fd);
        let add = self.current == Reg::Off;
        let done = match want {
            Reg::Off => self.registry.deregister(&mut src),
            Reg::On(i) if add => self.registry.register(&mut src, self.token, i),
            Reg::On(i) => self.registry.reregister(&mut src, self.token, i),
            Reg::Parked => self.raw_registration(add, false, false),
            Reg::Quiet { write } => self.raw_registration(add, true, write),
        };
        if done.is_ok() {
            self.current = want;
        }
    }

    /// Registers the socket for what mio's interests cannot say: the peer's
    /// close (`hup`) and writability (`write`), or nothing at all. Epoll
    /// then reports no incoming data, and always reports errors and
    /// hang-ups.
    #[cfg(target_os = "linux")]
    fn raw_registration(&self, add: bool, hup: bool, write: bool) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut flags = libc::EPOLLET;
        if hup {
            flags |= libc::EPOLLRDHUP;
        }
        if write {
            flags |= libc::EPOLLOUT;
        }
        // The token travels as mio expects it: the event's 64-bit data.
        let mut ev = libc::epoll_event {
            events: flags as u32,
            u64: self.token.0 as u64,
        };
        let op = if add {
            libc::EPOLL_CTL_ADD
        } else {
            libc::EPOLL_CTL_MOD
        };
        // SAFETY: `ev` is a valid epoll_event for the call's duration; the
        // registry's descriptor is the loop's epoll instance, alive as long
        // as the registry this holds; `fd` is the loop's open socket (the
        // loop takes `direct` away, under the lock held by our caller,
        // before it closes the socket).
        let rc = unsafe { libc::epoll_ctl(self.registry.as_raw_fd(), op, self.fd, &mut ev) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn raw_registration(&self, _add: bool, _hup: bool, _write: bool) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// The registration a socket needs: nothing (parked; deregistered where
/// epoll is not available) or writable only while a direct reader has it
/// (writable when the loop waits to write); the peer's close
/// only while the loop reads it lazily (plus writable when it waits to
/// write); readable otherwise, plus writable when the loop waits to write.
/// Writable interest is left in place once added while the loop reads
/// (spurious writable reports cost the loop little; a re-registration per
/// blocked write would cost more).
fn wanted(current: Reg, elsewhere: bool, want_write: bool, quiet: bool) -> Reg {
    if elsewhere {
        return if want_write {
            Reg::On(Interest::WRITABLE)
        } else if cfg!(target_os = "linux") {
            Reg::Parked
        } else {
            Reg::Off
        };
    }
    if quiet {
        return Reg::Quiet { write: want_write };
    }
    match current {
        Reg::On(c) if c.is_readable() && (c.is_writable() || !want_write) => current,
        _ if want_write => Reg::On(Interest::READABLE | Interest::WRITABLE),
        _ => Reg::On(Interest::READABLE),
    }
}

impl Reader {
    fn new(parser: Parser) -> Arc<Reader> {
        Arc::new(Reader {
            side: Mutex::new(ReadSide {
                parser,
                direct: None,
                step: None,
            }),
            claimed: AtomicBool::new(false),
            missed: AtomicBool::new(false),
            quiet: AtomicBool::new(false),
        })
    }

    /// No direct read from now on (waits for one in progress to finish its
    /// current read; a direct reader waiting for data finds out within
    /// [`DIRECT_SLICE`]).
    fn close_direct(&self) {
        if let Some(mut d) = self.side.lock().direct.take() {
            // Registered as the loop registers a socket, which carries on
            // with it (a TLS upgrade) or deregisters it next.
            d.elsewhere = false;
            d.want_write = true;
            self.leave_quiet(&mut d);
            d.sync();
        }
    }

    /// The loop's writes would block (true) or went through again (false).
    fn set_want_write(&self, blocked: bool) {
        let mut side = self.side.lock();
        if let Some(d) = side.direct.as_mut()
            && d.want_write != blocked
        {
            d.want_write = blocked;
            if blocked {
                d.sync();
            }
        }
    }

    /// Ends lazy reads in `d` (this reader's socket) and in the mirror; the
    /// caller brings the registration in line (`sync`).
    fn leave_quiet(&self, d: &mut DirectFd) {
        d.quiet = false;
        self.quiet.store(false, Ordering::SeqCst);
    }

    /// The loop reads the socket lazily (see [`Reader`]).
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet.load(Ordering::SeqCst)
    }

    /// The loop's side: reads the socket lazily from now on if `conn`
    /// allows it ([`ConnInner::may_read_lazily`]), and `may_start` or it
    /// already does; as before otherwise.
    fn update_quiet(&self, conn: &ConnInner, may_start: bool) {
        let mut side = self.side.lock();
        let Some(d) = side.direct.as_mut() else {
            return;
        };
        let quiet = (d.quiet || may_start) && !d.elsewhere && conn.may_read_lazily(&self.quiet);
        if !quiet {
            self.quiet.store(false, Ordering::SeqCst);
        }
        if d.quiet != quiet {
            d.quiet = quiet;
            d.sync();
            if quiet
                && d.current
                    != (Reg::Quiet {
                        write: d.want_write,
                    })
            {
                // The poller refused: read as before.
                self.leave_quiet(d);
                d.sync();
            }
        }
    }

    /// The loop's side: false when a direct reader has the socket (the
    /// loop then leaves it alone; the reader hands it back).
    fn loop_may_read(&self) -> bool {
        if !self.claimed.load(Ordering::Acquire) {
            return true;
        }
        self.missed.store(true, Ordering::SeqCst);
        // Let go meanwhile: read after all.
        !self.claimed.load(Ordering::SeqCst)
    }
}

/// The longest a direct reader waits for data before it checks again that
/// the socket is still the connection's (the loop does not wait for it).
const DIRECT_SLICE: std::time::Duration = std::time::Duration::from_millis(20);
/// Bytes a direct reader reads at a time.
const DIRECT_BUF: usize = 16 * 1024;

/// Reads and handles `conn`'s input on this thread until `done()` is true or
/// `deadline` passes, if the socket allows it (plain TCP, no other reader).
/// Returns false at once, having done nothing, if it does not: the caller
/// then waits as usual (the loop reads).
pub(crate) fn read_direct(
    conn: &Arc<ConnInner>,
    reader: &Reader,
    deadline: Instant,
    done: &mut dyn FnMut() -> bool,
) -> bool {
    if reader.claimed.swap(true, Ordering::SeqCst) {
        return false;
    }
    let fd = {
        let mut side = reader.side.lock();
        let clear = side.step.is_none();
        match side.direct.as_mut() {
            Some(d) if clear => {
                d.elsewhere = true;
                reader.leave_quiet(d);
                d.sync();
                Some(d.fd)
            }
            _ => None,
        }
    };
    let Some(fd) = fd else {
        reader.claimed.store(false, Ordering::SeqCst);
        if reader.missed.swap(false, Ordering::SeqCst) {
            conn.kick_read();
        }
        return false;
    };
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut ops = Vec::new();
    let mut events = Vec::new();
    let mut hand_back = false;
    BUF.with(|buf| {
        let Ok(mut buf) = buf.try_borrow_mut() else {
            return;
        };
        if buf.len() < DIRECT_BUF {
            buf.resize(DIRECT_BUF, 0);
        }
        while !done() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let wait = (deadline - now).min(DIRECT_SLICE);
            let ms = wait.as_micros().div_ceil(1000).clamp(1, 1000) as libc::c_int;
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd. The descriptor may have been closed
            // by the loop meanwhile (it is checked again under the lock
            // before any read); polling a stale descriptor number is
            // harmless and lasts one slice at most.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break;
            }
            let mut side = reader.side.lock();
            if side.direct.is_none() {
                break; // The socket went.
            }
            if rc <= 0 {
                continue;
            }
            // Read what is there (the socket is non-blocking).
            let before = conn.next_deadline();
            let mut stop = false;
            // A bounded number of reads, then `done()` is asked again.
            for _ in 0..READ_BUDGET {
                // SAFETY: `fd` is the loop's open socket: the lock is held
                // and `direct` is still set, and the loop clears it (under
                // this lock) before it closes the socket; `buf` is valid
                // for `buf.len()` bytes.
                let n = unsafe {
                    libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
                };
                let step = match n {
                    0 => Some(Step::Lose(Error::new(
                        ErrorKind::ConnectionClosed,
                        "connection closed by the server",
                    ))),
                    n if n < 0 => {
                        let e = io::Error::last_os_error();
                        match e.kind() {
                            io::ErrorKind::WouldBlock => break,
                            io::ErrorKind::Interrupted => continue,
                            _ => Some(Step::Lose(Error::from(e))),
                        }
                    }
                    n => {
                        let n = n as usize;
                        let parsed = side.parser.parse(&buf[..n], &mut |op| ops.push(op));
                        let step = conn.process(&mut ops, &mut events);
                        match parsed {
                            Err(e) => Some(Step::Lose(e)),
                            Ok(()) if !matches!(step, Step::None) => Some(step),
                            Ok(()) if n < buf.len() => {
                                // A short read emptied the socket.
                                break;
                            }
                            Ok(()) => None,
                        }
                    }
                };
                if let Some(step) = step {
                    side.step = Some(step);
                    stop = true;
                    break;
                }
            }
            drop(side);
            let after = conn.next_deadline();
            if after != before && after.is_some_and(|a| before.is_none_or(|b| a < b)) {
                conn.rearm();
            }
            // Replies, PONGs: written now, from this thread.
            conn.write_now();
            if stop {
                hand_back = true;
                break;
            }
        }
    });
    {
        let mut side = reader.side.lock();
        if let Some(d) = side.direct.as_mut() {
            d.elsewhere = false;
            d.sync();
        }
    }
    reader.claimed.store(false, Ordering::SeqCst);
    if reader.missed.swap(false, Ordering::SeqCst) || hand_back {
        conn.kick_read();
    }
    true
}

/// A socket of a connection, with its parser and write buffer.
pub(crate) struct Sock {
    /// Direct writes by other threads (plain TCP only); first field: closed
    /// before `stream` is dropped.
    gate: GateGuard,
    pub(crate) stream: TcpStream,
    /// The TLS session over `stream`, once started.
    tls: Option<Box<rustls::ClientConnection>>,
    /// TLS to start as soon as the TCP connection is up (handshake first).
    tls_first: Option<TlsStart>,
    /// The TLS handshake is going on: the connection is told when it ends.
    tls_handshaking: bool,
    generation: u64,
    /// The parser, shared with direct readers.
    reader: Arc<Reader>,
    tcp_up: bool,
    wbuf: Vec<u8>,
    wpos: usize,
    /// The last write would have blocked: the server is not reading (the
    /// connection's write deadline runs from then).
    blocked: bool,
    /// The poller reported the peer's close (or an error): read until the
    /// end instead of stopping after a short read.
    hup: bool,
}

impl Sock {
    /// Everything taken from the connection was written.
    pub(crate) fn drained(&self) -> bool {
        self.wpos >= self.wbuf.len() && self.tls.as_ref().is_none_or(|t| !t.wants_write())
    }

    /// Generation, stream, write buffer and what of it was written.
    pub(crate) fn into_parts(mut self) -> (u64, TcpStream, Vec<u8>, usize) {
        self.gate.close();
        (self.generation, self.stream, self.wbuf, self.wpos)
    }
}

/// Buffers for reading: bytes, parsed operations, connection events.
pub(crate) struct Scratch {
    rbuf: Vec<u8>,
    ops: Vec<ServerOp>,
    events: Vec<crate::engine::Event>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            rbuf: vec![0u8; READ_BUF],
            ops: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// A connection served by the loop; `sock` is `None` between attempts.
struct Entry {
    conn: Arc<ConnInner>,
    sock: Option<Sock>,
}

struct Loop {
    poll: Poll,
    /// The poller's registry, for direct readers (see [`Reader`]).
    registry: Arc<mio::Registry>,
    rx: Receiver<Cmd>,
    conns: HashMap<usize, Entry>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Each connection's current deadline: heap entries that differ are
    /// stale (the deadline moved) and are dropped without waking up.
    armed: HashMap<usize, Instant>,
    scratch: Scratch,
    /// Sockets that used up their read budget with data left: served again
    /// on the next turn (mio is edge-triggered: no new event would come).
    unread: Vec<usize>,
}

pub(crate) enum Outcome {
    Ok,
    Lost(Error),
}

/// Steps one connection may chain without waiting for I/O (an attempt that
/// fails at once leads to the next one): a bound, not an expected count.
const MAX_STEPS: usize = 64;

impl Loop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            self.drop_stale_timers();
            let timeout = if self.unread.is_empty() {
                self.timers
                    .peek()
                    .map(|Reverse((t, _))| t.saturating_duration_since(now))
            } else {
                Some(std::time::Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            for ev in events.iter() {
                if ev.token() == WAKER {
                    if !self.commands() {
                        return;
                    }
                    continue;
                }
                let id = ev.token().0;
                // Nothing mio names: the peer's close on a socket read
                // lazily (registered for that alone, see `Reader`).
                let closed =
                    ev.is_read_closed() || ev.is_error() || !(ev.is_readable() || ev.is_writable());
                if closed && let Some(s) = self.conns.get_mut(&id).and_then(|e| e.sock.as_mut()) {
                    s.hup = true;
                }
                let readable = ev.is_readable() || closed;
                let writable = ev.is_writable();
                self.serve(id, readable, writable);
            }
            for id in std::mem::take(&mut self.unread) {
                self.serve(id, true, false);
            }
            self.fire_timers();
        }
    }

    /// Drains the command queue; false when the loop should stop.
    fn commands(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(Cmd::Add(conn)) => {
                    let id = conn.id();
                    self.conns.insert(id, Entry { conn, sock: None });
                    self.schedule(id);
                }
                Ok(Cmd::Write(id)) => self.serve(id, false, true),
                Ok(Cmd::Read(id)) => self.serve(id, true, true),
                Ok(Cmd::Timer(id)) => self.schedule(id),
                Ok(Cmd::Resolved {
                    id,
                    generation,
                    result,
                }) => {
                    if let Some(e) = self.conns.get(&id) {
                        let step = e.conn.clone().on_resolved(generation, result);
                        self.apply(id, step);
                    }
                }
                Ok(Cmd::Proxied {
                    id,
                    generation,
                    result,
                }) => {
                    if let Some(e) = self.conns.get(&id) {
                        let step = e.conn.clone().on_proxied(generation, result);
                        self.apply(id, step);
                    }
                }
                Ok(Cmd::Kill { id, cause }) => {
                    if self.conns.get(&id).is_some_and(|e| {
                        e.sock.is_some() || e.conn.ext().is_some_and(|x| x.has_socket())
                    }) {
                        self.apply(id, Step::Lose(cause));
                    }
                }
                Ok(Cmd::Remove(id)) => {
                    self.armed.remove(&id);
                    let Some(mut e) = self.conns.remove(&id) else {
                        continue;
                    };
                    if let Some(mut s) = e.sock.take() {
                        if s.tcp_up {
                            // Best effort: hand what is queued to the kernel.
                            let _ = write_out(&e.conn, &mut s);
                        }
                        s.gate.close();
                        let _ = self.poll.registry().deregister(&mut s.stream);
                    }
                    if let Some(x) = e.conn.ext() {
                        let _ = x.take_back(&e.conn, true);
                        x.detach();
                    }
                }
                Ok(Cmd::Exit) => {
                    if self.conns.is_empty() {
                        return false;
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    return !self.conns.is_empty();
                }
            }
        }
    }

    /// Carries out what a connection asked for, then re-arms its timer.
    fn apply(&mut self, id: usize, mut step: Step) {
        for _ in 0..MAX_STEPS {
            step = match step {
                Step::None => break,
                Step::Lose(e) => self.lose(id, e),
                Step::Open {
                    addr,
                    generation,
                    tls_first,
                } => self.open(id, addr, generation, tls_first),
                Step::Adopt {
                    stream,
                    generation,
                    tls_first,
                } => self.adopt(id, stream, generation, tls_first),
                Step::StartTls { generation, start } => self.start_tls(id, generation, start),
                Step::Attach { generation } => self.export(id, generation),
            };
        }
        self.schedule(id);
    }

    /// Drops the connection's socket and tells the connection why.
    fn lose(&mut self, id: usize, e: Error) -> Step {
        let Some(entry) = self.conns.get_mut(&id) else {
            return Step::None;
        };
        let conn = entry.conn.clone();
        let Some(mut s) = entry.sock.take() else {
            // Handed over to the application's loop: take it back.
            return match conn.ext().and_then(|x| x.take_back(&conn, false)) {
                Some((generation, wbuf, wpos)) => {
                    conn.socket_lost(generation, e, &wbuf, wpos.min(wbuf.len()))
                }
                None => Step::None,
            };
        };
        // A direct writer puts back what it could not write before the loss
        // is handled (see `Gate`).
        s.gate.close();
        let _ = self.poll.registry().deregister(&mut s.stream);
        let from = s.wpos.min(s.wbuf.len());
        conn.socket_lost(s.generation, e, &s.wbuf, from)
    }

    /// Hands the connection's socket (its handshake done) over to the
    /// application's event loop.
    fn export(&mut self, id: usize, generation: u64) -> Step {
        let Some(entry) = self.conns.get_mut(&id) else {
            return Step::None;
        };
        let conn = entry.conn.clone();
        let Some(x) = conn.ext() else {
            return Step::None;
        };
        let Some(mut s) = entry.sock.take_if(|s| s.generation == generation) else {
            return Step::None;
        };
        let _ = self.poll.registry().deregister(&mut s.stream);
        x.export(&conn, s)
    }

    fn open(
        &mut self,
        id: usize,
        addr: SocketAddr,
        generation: u64,
        tls_first: Option<TlsStart>,
    ) -> Step {
        let Some(entry) = self.conns.get_mut(&id) else {
            return Step::None;
        };
        if let Some(mut old) = entry.sock.take() {
            old.gate.close();
            let _ = self.poll.registry().deregister(&mut old.stream);
        }
        let conn = entry.conn.clone();
        match TcpStream::connect(addr) {
            Ok(stream) => self.attach(id, stream, generation, tls_first),
            Err(e) => conn.socket_lost(
                generation,
                Error::new(ErrorKind::NoServer, format!("connect to {addr}: {e}")),
                &[],
                0,
            ),
        }
    }

    /// Takes over a socket the application's proxy handler connected.
    fn adopt(
        &mut self,
        id: usize,
        stream: std::net::TcpStream,
        generation: u64,
        tls_first: Option<TlsStart>,
    ) -> Step {
        let Some(entry) = self.conns.get_mut(&id) else {
            return Step::None;
        };
        if let Some(mut old) = entry.sock.take() {
            old.gate.close();
            let _ = self.poll.registry().deregister(&mut old.stream);
        }
        let conn = entry.conn.clone();
        if let Err(e) = stream.set_nonblocking(true) {
            let e = Error::new(ErrorKind::NoServer, format!("proxy socket: {e}"));
            return conn.socket_lost(generation, e, &[], 0);
        }
        self.attach(id, TcpStream::from_std(stream), generation, tls_first)
    }

    /// Starts the TLS handshake on the connection's socket and sends the
    /// first flight.
    fn start_tls(&mut self, id: usize, generation: u64, start: TlsStart) -> Step {
        let Some(entry) = self.conns.get_mut(&id) else {
            return Step::None;
        };
        let Some(s) = entry.sock.as_mut().filter(|s| s.generation == generation) else {
            return Step::None;
        };
        s.gate.close();
        match rustls::ClientConnection::new(start.config, start.name) {
            Ok(c) => {
                s.tls = Some(Box::new(c));
                s.tls_handshaking = true;
            }
            Err(e) => return Step::Lose(handshake_error(&e)),
        }
        match write_out(&entry.conn, s) {
            Outcome::Ok => Step::None,
            Outcome::Lost(e) => Step::Lose(e),
        }
    }

    /// Serves `stream` (connected or connecting) as the connection's socket.
    fn attach(
        &mut self,
        id: usize,
        mut stream: TcpStream,
        generation: u64,
        tls_first: Option<TlsStart>,
    ) -> Step {
        let Some(entry) = self.conns.get_mut(&id) else {
            return Step::None;
        };
        let conn = entry.conn.clone();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            let e = Error::new(ErrorKind::NoServer, format!("cannot poll the socket: {e}"));
            return conn.socket_lost(generation, e, &[], 0);
        }
        let mut parser = Parser::new();
        parser.set_padding(conn.message_padding());
        entry.sock = Some(Sock {
            gate: GateGuard::default(),
            reader: Reader::new(parser),
            stream,
            tls: None,
            tls_first,
            tls_handshaking: false,
            generation,
            tcp_up: false,
            wbuf: Vec::with_capacity(conn.io_buf_size()),
            wpos: 0,
            blocked: false,
            hup: false,
        });
        Step::None
    }

    fn serve(&mut self, id: usize, readable: bool, writable: bool) {
        let Some(entry) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(s) = entry.sock.as_mut() else {
            if let Some(x) = entry.conn.ext() {
                // Handed over: the application's loop writes.
                let conn = entry.conn.clone();
                let step = x.want_write(&conn);
                // Also re-arms the connection's timer (pings).
                self.apply(id, step);
                return;
            }
            // No socket: output waits in the engine for the next connection.
            entry.conn.clear_write_signal();
            return;
        };
        if !s.tcp_up {
            if !(writable || readable) {
                return;
            }
            match tcp_connected(&s.stream) {
                Ok(true) => {
                    s.tcp_up = true;
                    let _ = s.stream.set_nodelay(true);
                    let direct = s.tls_first.is_none() && entry.conn.ext().is_none();
                    let gate = direct.then(|| {
                        let fd = std::os::fd::AsRawFd::as_raw_fd(&s.stream);
                        let g = Gate::new(fd);
                        s.reader.side.lock().direct = Some(DirectFd {
                            fd,
                            registry: self.registry.clone(),
                            token: Token(id),
                            current: Reg::On(Interest::READABLE | Interest::WRITABLE),
                            want_write: false,
                            elsewhere: false,
                            quiet: false,
                        });
                        s.gate = GateGuard(Some(g.clone()), Some(s.reader.clone()));
                        (g, s.reader.clone())
                    });
                    entry
                        .conn
                        .tcp_established(s.generation, s.stream.local_addr().ok(), gate);
                    if let Some(start) = s.tls_first.take() {
                        let generation = s.generation;
                        let step = self.start_tls(id, generation, start);
                        if !matches!(step, Step::None) {
                            self.apply(id, step);
                            return;
                        }
                    }
                }
                Ok(false) => return,
                Err(e) => {
                    let e = Error::new(ErrorKind::NoServer, format!("connect failed: {e}"));
                    self.apply(id, Step::Lose(e));
                    return;
                }
            }
        }
        let mut step = Step::None;
        if readable {
            step = self.read(id);
        }
        if let Step::None = step
            && let Some(entry) = self.conns.get_mut(&id)
            && let Some(s) = entry.sock.as_mut()
            && let Outcome::Lost(e) = write_out(&entry.conn, s)
        {
            step = Step::Lose(e);
        }
        self.apply(id, step);
        // Read lazily only while the connection stays idle.
        if let Some(e) = self.conns.get(&id)
            && let Some(s) = e.sock.as_ref()
            && s.reader.is_quiet()
        {
            s.reader.update_quiet(&e.conn, false);
        }
    }

    fn read(&mut self, id: usize) -> Step {
        let start = Instant::now();
        for _ in 0..READ_BUDGET {
            if start.elapsed() > READ_TIME_BUDGET {
                break;
            }
            let Some(entry) = self.conns.get_mut(&id) else {
                return Step::None;
            };
            let Some(s) = entry.sock.as_mut() else {
                return Step::None;
            };
            let conn = entry.conn.clone();
            if let Some(step) = read_once(s, &conn, &mut self.scratch) {
                return step;
            }
        }
        if !self.unread.contains(&id) {
            self.unread.push(id);
        }
        Step::None
    }

    fn schedule(&mut self, id: usize) {
        match self.conns.get(&id).and_then(|e| e.conn.next_deadline()) {
            Some(t) => {
                if self.armed.insert(id, t) != Some(t) {
                    self.timers.push(Reverse((t, id)));
                }
            }
            None => {
                self.armed.remove(&id);
            }
        }
    }

    /// Pops heap entries that are no longer a connection's deadline.
    fn drop_stale_timers(&mut self) {
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if self.armed.get(&id) == Some(&t) {
                break;
            }
            self.timers.pop();
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.armed.get(&id) == Some(&t) {
                self.armed.remove(&id);
                due.push(id);
            }
        }
        due.sort_unstable();
        due.dedup();
        for id in due {
            let Some(e) = self.conns.get(&id) else {
                continue;
            };
            let conn = e.conn.clone();
            if e.sock.as_ref().is_some_and(|s| s.reader.is_quiet()) {
                // Read lazily: what came since the last tick (the PONG to
                // its PING) is handled before the stale check.
                let step = self.read(id);
                if !matches!(step, Step::None) {
                    self.apply(id, step);
                    continue;
                }
            }
            match conn.on_timer(now, &mut self.scratch.events) {
                Step::None => {
                    self.serve(id, false, true);
                    // serve() may return before re-arming (socket still
                    // connecting): the next deadline must not be lost.
                    self.schedule(id);
                }
                step => self.apply(id, step),
            }
            if let Some(e) = self.conns.get(&id)
                && let Some(s) = e.sock.as_ref()
            {
                s.reader.update_quiet(&e.conn, true);
            }
        }
    }
}

/// One read from `s` (plain, or TLS records and the plaintext they hold),
/// its operations handled by `conn`. `None`: data was read, there may be
/// more; `Some(Step::None)`: nothing more to read now; `Some(step)`: stop
/// reading and carry out `step`.
pub(crate) fn read_once(s: &mut Sock, conn: &Arc<ConnInner>, sc: &mut Scratch) -> Option<Step> {
    if !s.reader.loop_may_read() {
        return Some(Step::None);
    }
    let reader = s.reader.clone();
    let mut side = reader.side.lock();
    if let Some(step) = side.step.take() {
        return Some(step);
    }
    if s.tls.is_some() {
        return read_tls(s, &mut side.parser, conn, sc);
    }
    let n = match s.stream.read(&mut sc.rbuf) {
        Ok(0) => {
            return Some(Step::Lose(Error::new(
                ErrorKind::ConnectionClosed,
                "connection closed by the server",
            )));
        }
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Step::None),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return None,
        Err(e) => return Some(Step::Lose(Error::from(e))),
    };
    let ops = &mut sc.ops;
    let parsed = side.parser.parse(&sc.rbuf[..n], &mut |op| ops.push(op));
    // Ops parsed before a parse error still count.
    let step = conn.process(&mut sc.ops, &mut sc.events);
    if let Err(e) = parsed {
        return Some(Step::Lose(e));
    }
    if !matches!(step, Step::None) {
        return Some(step);
    }
    // A short read emptied the socket: bytes arriving later raise a new
    // edge, so the read that would say WouldBlock is saved (one syscall per
    // wake-up). Not after the peer's close: its EOF raises no new edge.
    (n < sc.rbuf.len() && !s.hup).then_some(Step::None)
}

/// [`read_once`] for a TLS socket.
fn read_tls(
    s: &mut Sock,
    parser: &mut Parser,
    conn: &Arc<ConnInner>,
    sc: &mut Scratch,
) -> Option<Step> {
    let tls = s.tls.as_mut()?;
    match tls.read_tls(&mut s.stream) {
        Ok(0) => {
            return Some(Step::Lose(Error::new(
                ErrorKind::ConnectionClosed,
                "connection closed by the server",
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Step::None),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return None,
        Err(e) => return Some(Step::Lose(Error::from(e))),
    }
    let state = match tls.process_new_packets() {
        Ok(st) => st,
        Err(e) => {
            // Let the server know why (best effort: the alert is queued).
            let _ = tls.write_tls(&mut s.stream);
            return Some(Step::Lose(handshake_error(&e)));
        }
    };
    let closed = state.peer_has_closed();
    let mut step = Step::None;
    if s.tls_handshaking && !tls.is_handshaking() {
        s.tls_handshaking = false;
        step = conn.tls_established(s.generation, &mut sc.events);
    }
    loop {
        let n = match tls.reader().read(&mut sc.rbuf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Some(Step::Lose(Error::from(e))),
        };
        let ops = &mut sc.ops;
        let parsed = parser.parse(&sc.rbuf[..n], &mut |op| ops.push(op));
        let st = conn.process(&mut sc.ops, &mut sc.events);
        if let Err(e) = parsed {
            return Some(Step::Lose(e));
        }
        if matches!(step, Step::None) {
            step = st;
        }
        if !matches!(step, Step::None) {
            return Some(step);
        }
    }
    if closed {
        return Some(Step::Lose(Error::new(
            ErrorKind::ConnectionClosed,
            "connection closed by the server",
        )));
    }
    if !matches!(step, Step::None) {
        return Some(step);
    }
    None
}

/// Writes the connection's output until done or the socket would block.
pub(crate) fn write_out(conn: &ConnInner, c: &mut Sock) -> Outcome {
    if !c.tcp_up {
        return Outcome::Ok;
    }
    if c.tls.is_some() {
        return write_tls(conn, c);
    }
    let was_blocked = c.blocked;
    let outcome = loop {
        if c.wpos >= c.wbuf.len() {
            c.wbuf.clear();
            c.wpos = 0;
            if !conn.take_output(c.generation, &mut c.wbuf) {
                break Outcome::Ok;
            }
        }
        let r = c.stream.write(&c.wbuf[c.wpos..]);
        match wrote(conn, c.generation, &mut c.blocked, r) {
            Ok(n) => c.wpos += n,
            Err(Some(outcome)) => break outcome,
            Err(None) => {}
        }
    };
    if c.blocked != was_blocked {
        c.reader.set_want_write(c.blocked);
    }
    outcome
}

/// Accounts for one socket write: `Ok(n)` bytes went out; `Err(None)` try
/// again; `Err(Some(..))` stop writing (would block: the write deadline
/// starts; or the socket is lost).
fn wrote(
    conn: &ConnInner,
    generation: u64,
    blocked: &mut bool,
    r: io::Result<usize>,
) -> std::result::Result<usize, Option<Outcome>> {
    match r {
        Ok(0) => Err(Some(Outcome::Lost(Error::new(
            ErrorKind::IoError,
            "socket write returned 0",
        )))),
        Ok(n) => {
            if *blocked {
                *blocked = false;
                conn.write_resumed(generation);
            }
            Ok(n)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            if !*blocked {
                *blocked = true;
                conn.write_stalled(generation);
            }
            Err(Some(Outcome::Ok))
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(None),
        Err(e) => Err(Some(Outcome::Lost(Error::from(e)))),
    }
}

/// Writes the connection's output through its TLS session: plaintext goes
/// into the session (once the handshake is done), records to the socket,
/// until done or the socket would block.
fn write_tls(conn: &ConnInner, c: &mut Sock) -> Outcome {
    let Some(tls) = c.tls.as_mut() else {
        return Outcome::Ok;
    };
    loop {
        let mut more = false;
        if !tls.is_handshaking() {
            loop {
                if c.wpos >= c.wbuf.len() {
                    c.wbuf.clear();
                    c.wpos = 0;
                    if !conn.take_output(c.generation, &mut c.wbuf) {
                        break;
                    }
                }
                match tls.writer().write(&c.wbuf[c.wpos..]) {
                    Ok(0) => {
                        // The session's buffer is full: send records first.
                        more = true;
                        break;
                    }
                    Ok(n) => c.wpos += n,
                    Err(e) => return Outcome::Lost(Error::from(e)),
                }
            }
        }
        if !tls.wants_write() {
            if more {
                continue;
            }
            return Outcome::Ok;
        }
        let r = tls.write_tls(&mut c.stream);
        if let Err(Some(outcome)) = wrote(conn, c.generation, &mut c.blocked, r) {
            return outcome;
        }
    }
}

/// Whether a non-blocking connect has completed (Ok(false): still in progress).
fn tcp_connected(s: &TcpStream) -> io::Result<bool> {
    if let Some(e) = s.take_error()? {
        return Err(e);
    }
    match s.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_follows_who_reads_and_who_waits_to_write() {
        let off = Reg::Off;
        let parked = if cfg!(target_os = "linux") {
            Reg::Parked
        } else {
            Reg::Off
        };
        let r = Reg::On(Interest::READABLE);
        let w = Reg::On(Interest::WRITABLE);
        let rw = Reg::On(Interest::READABLE | Interest::WRITABLE);
        let q = Reg::Quiet { write: false };
        let qw = Reg::Quiet { write: true };
        // A direct reader has the socket: nothing, or writable for the loop
        // (whether or not the loop read lazily before).
        for cur in [off, parked, r, w, rw, q, qw] {
            for quiet in [false, true] {
                assert_eq!(wanted(cur, true, false, quiet), parked);
                assert_eq!(wanted(cur, true, true, quiet), w);
            }
            // Lazy reads: the peer's close, and writable when waiting.
            assert_eq!(wanted(cur, false, false, true), q);
            assert_eq!(wanted(cur, false, true, true), qw);
        }
        // The loop reads: readable always, writable added when it waits.
        assert_eq!(wanted(off, false, false, false), r);
        assert_eq!(wanted(parked, false, false, false), r);
        assert_eq!(wanted(parked, false, true, false), rw);
        assert_eq!(wanted(w, false, false, false), r);
        assert_eq!(wanted(q, false, false, false), r);
        assert_eq!(wanted(qw, false, false, false), r);
        assert_eq!(wanted(off, false, true, false), rw);
        assert_eq!(wanted(w, false, true, false), rw);
        assert_eq!(wanted(r, false, true, false), rw);
        assert_eq!(wanted(q, false, true, false), rw);
        assert_eq!(wanted(r, false, false, false), r);
        // Writable interest stays once there.
        assert_eq!(wanted(rw, false, false, false), rw);
        assert_eq!(wanted(rw, false, true, false), rw);
    }
}
