//! A scripted hostile NATS server for the integration tests: it speaks just
//! enough of the protocol to get a client connected, then misbehaves as the
//! test says (garbage, truncated or endless lines, floods, refusals).
//!
//! ```ignore
//! #[path = "common/hostile.rs"]
//! mod hostile;
//! let peer = hostile::Peer::start(|n, c| {
//!     c.handshake(hostile::INFO); // INFO, read CONNECT + PING, answer PONG
//!     c.send(b"GARBAGE\r\n");
//!     c.expect_close() // the client must drop the connection
//! });
//! // connect a client to peer.url() ...
//! let results = peer.finish(); // one script result per accepted connection
//! ```
//!
//! Accepted connections are served one at a time, in order, by one thread,
//! with the script given the connection's index (0 for the first). Every
//! blocking call polls a stop flag at least every [`TICK`] and gives up after
//! [`LIMIT`], so a misbehaving client cannot hang a test; the thread is
//! joined by [`Peer::finish`] or on drop.
#![allow(dead_code)] // a fixture: not every test uses every helper

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Socket timeout, and how often the stop flag is polled.
pub const TICK: Duration = Duration::from_millis(20);
/// How long one connection's script may block in total.
pub const LIMIT: Duration = Duration::from_secs(10);

/// A well-formed INFO line (headers, protocol 1, max_payload 1 MiB).
pub const INFO: &[u8] = concat!(
    "INFO {\"server_id\":\"hostile\",\"version\":\"2.10.0\",\"proto\":1,",
    "\"headers\":true,\"max_payload\":1048576}\r\n"
)
.as_bytes();

/// A scripted server on `127.0.0.1:<free port>`.
pub struct Peer<T> {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<T>>>,
}

impl<T: Send + 'static> Peer<T> {
    /// Starts serving; `script(index, conn)` runs for each accepted
    /// connection, its result is kept for [`Peer::finish`]. The socket is
    /// closed when the script returns.
    pub fn start<F>(mut script: F) -> Peer<T>
    where
        F: FnMut(usize, &mut Conn) -> T + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("local_addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (acc, stp) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut results = Vec::new();
            while !stp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let n = acc.fetch_add(1, Ordering::SeqCst);
                        let mut c = Conn::new(s, stp.clone());
                        results.push(script(n, &mut c));
                    }
                    // Nothing to accept: poll the stop flag again soon.
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(TICK / 4),
                    Err(e) => panic!("accept: {e}"),
                }
            }
            results
        });
        Peer {
            port,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops accepting, ends the script in progress (its blocking calls
    /// return) and returns every script's result, in order.
    pub fn finish(mut self) -> Vec<T> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(results)) => results,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Vec::new(),
        }
    }
}

impl<T> Drop for Peer<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How an attempt to write a lot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flood {
    /// Bytes the kernel accepted.
    pub written: usize,
    /// The client closed or reset the connection (else: the limit, the
    /// time limit or the stop flag ended the flood).
    pub client_gone: bool,
}

/// How a flood of whole lines went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineFlood {
    /// Batches sent.
    pub batches: usize,
    /// When the client's first PING arrived, from the start of the flood.
    pub first_ping: Option<Duration>,
    /// PINGs answered with a PONG.
    pub answered: usize,
}

/// One accepted connection, seen from the server side.
pub struct Conn {
    s: TcpStream,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    /// What the client sent and no `read_until` consumed yet.
    pending: Vec<u8>,
    /// The client closed its side (EOF or reset).
    gone: bool,
}

impl Conn {
    fn new(s: TcpStream, stop: Arc<AtomicBool>) -> Conn {
        s.set_nonblocking(false).expect("blocking socket");
        s.set_read_timeout(Some(TICK)).expect("read timeout");
        s.set_write_timeout(Some(TICK)).expect("write timeout");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            s,
            stop,
            deadline: Instant::now() + LIMIT,
            pending: Vec::new(),
            gone: false,
        }
    }

    fn may_go_on(&self) -> bool {
        !self.stop.load(Ordering::SeqCst) && self.before_deadline()
    }

    /// The client is still there and the time limit not reached (the stop
    /// flag aside: for the calls that wait for the client to leave).
    fn before_deadline(&self) -> bool {
        !self.gone && Instant::now() < self.deadline
    }

    /// Reads what is available (waiting up to [`TICK`]); false once the
    /// client is gone.
    fn read_some(&mut self) -> bool {
        let mut buf = [0u8; 16 * 1024];
        match self.s.read(&mut buf) {
            Ok(0) => self.gone = true,
            Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => self.gone = true,
        }
        !self.gone
    }

    /// Writes all of `bytes`, resuming partial writes; false if the client
    /// is gone (or the time limit ended the attempt).
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.write_counted(bytes) == bytes.len()
    }

    /// Writes as much of `bytes` as possible; returns how much was written.
    fn write_counted(&mut self, bytes: &[u8]) -> usize {
        let mut done = 0;
        while done < bytes.len() && self.before_deadline() {
            match self.s.write(&bytes[done..]) {
                Ok(0) => self.gone = true,
                Ok(n) => done += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.gone = true,
            }
        }
        done
    }

    /// Reads until the client sent `pat`; consumes everything up to and
    /// including it. False if the client went away first (or time ran out).
    pub fn read_until(&mut self, pat: &[u8]) -> bool {
        if pat.is_empty() {
            return true;
        }
        loop {
            if let Some(i) = self.pending.windows(pat.len()).position(|w| w == pat) {
                self.pending.drain(..i + pat.len());
                return true;
            }
            if !self.may_go_on() || !self.read_some() {
                return false;
            }
        }
    }

    /// Sends `info`, reads the client's CONNECT and PING, answers PONG.
    /// False if the client went away.
    pub fn handshake(&mut self, info: &[u8]) -> bool {
        self.send(info) && self.read_until(b"PING\r\n") && self.send(b"PONG\r\n")
    }

    /// Waits for the client to close the connection, discarding what it
    /// sends; true if it did (false: it did not within the time limit).
    /// The stop flag does not end the wait: the client decides.
    pub fn expect_close(&mut self) -> bool {
        while self.before_deadline() {
            self.pending.clear();
            self.read_some();
        }
        self.gone
    }

    /// A well-behaved server until the client leaves: answers every PING
    /// with PONG. Returns how many PINGs it answered.
    pub fn serve(&mut self) -> usize {
        let mut pongs = 0;
        while self.read_until(b"PING\r\n") {
            if !self.send(b"PONG\r\n") {
                break;
            }
            pongs += 1;
        }
        pongs
    }

    /// Closes the connection now (FIN), as a server that gives up.
    pub fn close(&mut self) {
        let _ = self.s.shutdown(Shutdown::Both);
        self.gone = true;
    }

    /// Writes `head`, then `body` again and again, up to `limit` bytes in
    /// all, without ever ending the line; stops early when the client
    /// closes the connection (or at the time limit; not on the stop flag).
    pub fn flood(&mut self, head: &[u8], body: &[u8], limit: usize) -> Flood {
        let mut written = self.write_counted(head);
        while written < limit && self.before_deadline() {
            let n = body.len().min(limit - written);
            written += self.write_counted(&body[..n]);
        }
        Flood {
            written,
            client_gone: self.gone,
        }
    }

    /// Sends `batch` (whole protocol lines) over and over for up to `time`,
    /// answering every PING the client sends meanwhile with a PONG between
    /// two batches. A reader thread watches for the PINGs (joined before
    /// returning).
    pub fn flood_lines(&mut self, batch: &[u8], time: Duration) -> LineFlood {
        let reader = self.s.try_clone().expect("clone socket");
        let start = Instant::now();
        let pings = Arc::new(AtomicUsize::new(0));
        let first_ping = Arc::new(Mutex::new(None));
        let done = Arc::new(AtomicBool::new(false));
        let (p, f, d, stop) = (
            pings.clone(),
            first_ping.clone(),
            done.clone(),
            self.stop.clone(),
        );
        let watcher = std::thread::spawn(move || {
            let mut r = reader;
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !d.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(i) = seen.windows(6).position(|w| w == b"PING\r\n") {
                            seen.drain(..i + 6);
                            f.lock().unwrap().get_or_insert_with(|| start.elapsed());
                            p.fetch_add(1, Ordering::SeqCst);
                        }
                        let keep = seen.len().saturating_sub(5);
                        seen.drain(..keep);
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                        ) => {}
                    Err(_) => break,
                }
            }
        });
        let end = start + time;
        let (mut batches, mut answered) = (0, 0);
        while Instant::now() < end && self.may_go_on() {
            if !self.send(batch) {
                break;
            }
            batches += 1;
            let due = pings.load(Ordering::SeqCst);
            while answered < due && self.send(b"PONG\r\n") {
                answered += 1;
            }
        }
        done.store(true, Ordering::SeqCst);
        watcher.join().expect("PING watcher");
        let first_ping = *first_ping.lock().unwrap();
        LineFlood {
            batches,
            first_ping,
            answered,
        }
    }
}
