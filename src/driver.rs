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
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;

use crate::connection::ConnInner;
use crate::error::{Error, ErrorKind};
use crate::proto::{Parser, ServerOp};

const WAKER: Token = Token(usize::MAX);
const READ_BUF: usize = 64 * 1024;

/// Commands sent to a loop.
pub(crate) enum Cmd {
    /// Serve this socket for this connection (replacing any older one).
    Attach {
        conn: Arc<ConnInner>,
        stream: TcpStream,
        generation: u64,
    },
    /// The connection has output to write.
    Write(usize),
    /// The engine's deadline may have changed (e.g. new ping interval).
    Timer(usize),
    /// Write what is pending (best effort), then drop the socket of generation `generation`.
    Detach { id: usize, generation: u64 },
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
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4),
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

fn spawn_loop() -> io::Result<Arc<LoopHandle>> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKER)?;
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = Arc::new(LoopHandle { tx, waker });
    std::thread::Builder::new()
        .name("nats-io".into())
        .spawn(move || {
            let mut lp = Loop {
                poll,
                rx,
                conns: HashMap::new(),
                timers: BinaryHeap::new(),
                rbuf: vec![0u8; READ_BUF],
                ops: Vec::new(),
                events: Vec::new(),
            };
            // A panic here must not unwind further: every connection on this
            // loop is closed with an error instead.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
            if r.is_err() {
                for (_, c) in lp.conns.drain() {
                    c.conn
                        .socket_lost(Error::new(ErrorKind::Other, "internal error in io loop"));
                }
            }
        })?;
    Ok(handle)
}

struct ConnIo {
    conn: Arc<ConnInner>,
    stream: TcpStream,
    generation: u64,
    parser: Parser,
    tcp_up: bool,
    wbuf: Vec<u8>,
    wpos: usize,
}

struct Loop {
    poll: Poll,
    rx: Receiver<Cmd>,
    conns: HashMap<usize, ConnIo>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    rbuf: Vec<u8>,
    ops: Vec<ServerOp>,
    events: Vec<crate::engine::Event>,
}

enum Outcome {
    Ok,
    Lost(Error),
}

impl Loop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            let timeout = self
                .timers
                .peek()
                .map(|Reverse((t, _))| t.saturating_duration_since(now));
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
                let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                let writable = ev.is_writable();
                self.serve(id, readable, writable);
            }
            self.fire_timers();
        }
    }

    /// Drains the command queue; false when the loop should stop.
    fn commands(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(Cmd::Attach {
                    conn,
                    mut stream,
                    generation,
                }) => {
                    let id = conn.id();
                    if let Some(mut old) = self.conns.remove(&id) {
                        let _ = self.poll.registry().deregister(&mut old.stream);
                    }
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) = self
                        .poll
                        .registry()
                        .register(&mut stream, Token(id), interest)
                    {
                        conn.socket_lost(Error::from(e));
                        continue;
                    }
                    let io_buf = conn.io_buf_size();
                    self.conns.insert(
                        id,
                        ConnIo {
                            conn,
                            stream,
                            generation,
                            parser: Parser::new(),
                            tcp_up: false,
                            wbuf: Vec::with_capacity(io_buf),
                            wpos: 0,
                        },
                    );
                }
                Ok(Cmd::Write(id)) => self.serve(id, false, true),
                Ok(Cmd::Timer(id)) => self.schedule(id),
                Ok(Cmd::Detach { id, generation }) => {
                    if self
                        .conns
                        .get(&id)
                        .is_some_and(|c| c.generation == generation)
                        && let Some(mut c) = self.conns.remove(&id)
                    {
                        if c.tcp_up {
                            // Best effort: hand what is queued to the kernel.
                            let _ = c.stream.set_nodelay(true);
                            let _ = write_out(&mut c);
                        }
                        let _ = self.poll.registry().deregister(&mut c.stream);
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    return !self.conns.is_empty();
                }
            }
        }
    }

    fn serve(&mut self, id: usize, readable: bool, writable: bool) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if !c.tcp_up {
            if !(writable || readable) {
                return;
            }
            match tcp_connected(&c.stream) {
                Ok(true) => {
                    c.tcp_up = true;
                    let _ = c.stream.set_nodelay(true);
                }
                Ok(false) => return,
                Err(e) => {
                    let e = Error::new(ErrorKind::NoServer, format!("connect failed: {e}"));
                    self.lose(id, e);
                    return;
                }
            }
        }
        let mut outcome = Outcome::Ok;
        if readable {
            outcome = self.read(id);
        }
        if let Outcome::Ok = outcome
            && let Some(c) = self.conns.get_mut(&id)
        {
            outcome = write_out(c);
        }
        if let Outcome::Lost(e) = outcome {
            self.lose(id, e);
        } else {
            self.schedule(id);
        }
    }

    fn read(&mut self, id: usize) -> Outcome {
        loop {
            let Some(c) = self.conns.get_mut(&id) else {
                return Outcome::Ok;
            };
            let n = match c.stream.read(&mut self.rbuf) {
                Ok(0) => {
                    return Outcome::Lost(Error::new(
                        ErrorKind::ConnectionClosed,
                        "connection closed by the server",
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Outcome::Ok,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Outcome::Lost(Error::from(e)),
            };
            let ops = &mut self.ops;
            if let Err(e) = c.parser.parse(&self.rbuf[..n], &mut |op| ops.push(op)) {
                // Ops parsed before the error still count.
                let conn = c.conn.clone();
                conn.process(&mut self.ops, &mut self.events);
                return Outcome::Lost(e);
            }
            let conn = c.conn.clone();
            if let Some(lost) = conn.process(&mut self.ops, &mut self.events) {
                return Outcome::Lost(lost);
            }
        }
    }

    fn lose(&mut self, id: usize, e: Error) {
        if let Some(mut c) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut c.stream);
            c.conn.socket_lost(e);
        }
    }

    fn schedule(&mut self, id: usize) {
        if let Some(c) = self.conns.get(&id)
            && let Some(t) = c.conn.next_deadline()
        {
            self.timers.push(Reverse((t, id)));
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
            due.push(id);
        }
        due.sort_unstable();
        due.dedup();
        for id in due {
            let Some(c) = self.conns.get(&id) else {
                continue;
            };
            let conn = c.conn.clone();
            if let Some(lost) = conn.tick(now, &mut self.events) {
                self.lose(id, lost);
                continue;
            }
            self.serve(id, false, true);
        }
    }
}

/// Writes the connection's output until done or the socket would block.
fn write_out(c: &mut ConnIo) -> Outcome {
    if !c.tcp_up {
        return Outcome::Ok;
    }
    loop {
        if c.wpos >= c.wbuf.len() {
            c.wbuf.clear();
            c.wpos = 0;
            if !c.conn.take_output(&mut c.wbuf) {
                return Outcome::Ok;
            }
        }
        match c.stream.write(&c.wbuf[c.wpos..]) {
            Ok(0) => {
                return Outcome::Lost(Error::new(ErrorKind::IoError, "socket write returned 0"));
            }
            Ok(n) => c.wpos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Outcome::Ok,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Outcome::Lost(Error::from(e)),
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
