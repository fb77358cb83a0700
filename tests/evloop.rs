//! External event loops (`Options::event_loop`, nats.c's
//! `natsOptions_SetEventLoop`) through the Rust API, with a small poll(2)
//! loop written here: pub/sub through the loop, a server restart (a new
//! socket attached, the old one closed by the loop), a frozen server
//! detected as stale, close (detach once, every socket closed), and a loop
//! that is never run (nothing hangs).
//!
//! The C adapters (libuv, libevent) are tested by ffi-tests/evloop_*.c.

mod common;

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::NatsServer;
use nats::{Connection, ErrorKind, EventLoop, Options};

const T: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Entry {
    conn: Option<Connection>,
    fd: RawFd,
    read: bool,
    write: bool,
}

#[derive(Default)]
struct State {
    entries: HashMap<usize, Entry>,
    next: usize,
    /// Sockets whose read polling was removed: closed by the loop thread.
    closing: Vec<RawFd>,
}

/// A poll(2) loop on its own thread, woken through a pipe.
struct PollLoop {
    st: Mutex<State>,
    wake_r: RawFd,
    wake_w: RawFd,
    stop: AtomicBool,
    attaches: AtomicUsize,
    detaches: AtomicUsize,
    /// Sockets the library closed at our close event.
    closed: AtomicUsize,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

impl PollLoop {
    fn new() -> Arc<PollLoop> {
        let mut p = [0 as RawFd; 2];
        // SAFETY: p has room for two descriptors.
        assert_eq!(unsafe { libc::pipe(p.as_mut_ptr()) }, 0);
        Arc::new(PollLoop {
            st: Mutex::default(),
            wake_r: p[0],
            wake_w: p[1],
            stop: AtomicBool::new(false),
            attaches: AtomicUsize::new(0),
            detaches: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
        })
    }

    fn wake(&self) {
        // SAFETY: writes one byte from a valid buffer to our pipe.
        unsafe { libc::write(self.wake_w, b"x".as_ptr().cast(), 1) };
    }

    /// Runs the loop on a new thread until `stop`.
    fn run(self: &Arc<Self>) -> std::thread::JoinHandle<()> {
        let me = self.clone();
        std::thread::spawn(move || me.serve())
    }

    fn serve(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            let (mut fds, conns) = {
                let mut st = self.st.lock().unwrap();
                for fd in st.closing.drain(..) {
                    if nats::process_close_event(fd) {
                        self.closed.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let mut fds = vec![libc::pollfd {
                    fd: self.wake_r,
                    events: libc::POLLIN,
                    revents: 0,
                }];
                let mut conns = Vec::new();
                for e in st.entries.values() {
                    let mut ev = 0;
                    if e.read {
                        ev |= libc::POLLIN;
                    }
                    if e.write {
                        ev |= libc::POLLOUT;
                    }
                    if ev != 0 && e.fd >= 0 {
                        fds.push(libc::pollfd {
                            fd: e.fd,
                            events: ev,
                            revents: 0,
                        });
                        conns.push(e.conn.clone());
                    }
                }
                (fds, conns)
            };
            // SAFETY: fds is a valid array of pollfd; bounded wait so that
            // `stop` is seen even without a wake-up.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 500) };
            if n <= 0 {
                continue;
            }
            if fds[0].revents != 0 {
                let mut b = [0u8; 64];
                // SAFETY: reads into a valid buffer from our pipe.
                unsafe { libc::read(self.wake_r, b.as_mut_ptr().cast(), b.len()) };
            }
            for (p, c) in fds[1..].iter().zip(conns) {
                let Some(c) = c else { continue };
                if p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0 {
                    self.reads.fetch_add(1, Ordering::SeqCst);
                    c.process_read_event();
                }
                if p.revents & libc::POLLOUT != 0 {
                    self.writes.fetch_add(1, Ordering::SeqCst);
                    c.process_write_event();
                }
            }
        }
    }

    fn live_entries(&self) -> usize {
        self.st.lock().unwrap().entries.len()
    }
}

/// The `EventLoop` the library calls.
struct Adapter(Arc<PollLoop>);

impl EventLoop for Adapter {
    fn attach(&self, data: &mut usize, conn: &Connection, socket: i32) -> nats::Result<()> {
        let l = &self.0;
        let mut st = l.st.lock().unwrap();
        if *data == 0 {
            st.next += 1;
            *data = st.next;
        }
        let e = st.entries.entry(*data).or_default();
        e.conn = Some(conn.clone());
        e.fd = socket;
        e.read = true;
        e.write = false;
        l.attaches.fetch_add(1, Ordering::SeqCst);
        drop(st);
        l.wake();
        Ok(())
    }

    fn read(&self, data: usize, add: bool) -> nats::Result<()> {
        let l = &self.0;
        let mut st = l.st.lock().unwrap();
        let Some(e) = st.entries.get_mut(&data) else {
            return Ok(());
        };
        e.read = add;
        if !add && e.fd >= 0 {
            // Stop polling it, then (on the loop thread) the close event.
            let fd = std::mem::replace(&mut e.fd, -1);
            st.closing.push(fd);
        }
        drop(st);
        l.wake();
        Ok(())
    }

    fn write(&self, data: usize, add: bool) -> nats::Result<()> {
        let l = &self.0;
        if let Some(e) = l.st.lock().unwrap().entries.get_mut(&data) {
            e.write = add;
        }
        l.wake();
        Ok(())
    }

    fn detach(&self, data: usize) -> nats::Result<()> {
        let l = &self.0;
        l.st.lock().unwrap().entries.remove(&data);
        l.detaches.fetch_add(1, Ordering::SeqCst);
        l.wake();
        Ok(())
    }
}

fn opts(l: &Arc<PollLoop>, url: &str) -> Options {
    Options::new()
        .url(url)
        .event_loop(Arc::new(Adapter(l.clone())))
}

fn round_trip(nc: &Connection, subject: &str, n: usize) {
    let sub = nc.subscribe(subject).expect("subscribe");
    for i in 0..n {
        nc.publish(subject, format!("{i}").as_bytes())
            .expect("publish");
    }
    nc.flush_timeout(T).expect("flush through the loop");
    for i in 0..n {
        let m = sub.next_msg(T).expect("message through the loop");
        assert_eq!(m.payload(), format!("{i}").as_bytes());
    }
}

#[test]
fn pub_sub_through_the_loop_then_close_detaches_once() {
    let server = NatsServer::start();
    let l = PollLoop::new();
    let t = l.run();
    let nc = opts(&l, &server.url()).connect().expect("connect");
    assert_eq!(l.attaches.load(Ordering::SeqCst), 1);
    round_trip(&nc, "ev.a", 1000);
    assert!(
        l.reads.load(Ordering::SeqCst) > 0,
        "reads came from the loop"
    );
    assert!(
        l.writes.load(Ordering::SeqCst) > 0,
        "writes came from the loop"
    );
    nc.close();
    common::wait_for("detach", || l.detaches.load(Ordering::SeqCst) == 1);
    common::wait_for("the socket closed by the loop", || {
        l.closed.load(Ordering::SeqCst) == 1
    });
    assert_eq!(l.live_entries(), 0);
    l.stop.store(true, Ordering::SeqCst);
    l.wake();
    t.join().unwrap();
    assert_eq!(l.detaches.load(Ordering::SeqCst), 1, "detach exactly once");
}

#[test]
fn server_restart_attaches_a_new_socket() {
    let mut server = NatsServer::start();
    let l = PollLoop::new();
    let t = l.run();
    let reconnected = Arc::new(AtomicUsize::new(0));
    let r = reconnected.clone();
    let nc = opts(&l, &server.url())
        .reconnect_wait(Duration::from_millis(50))
        .reconnected_callback(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .connect()
        .expect("connect");
    round_trip(&nc, "ev.b", 10);
    server.restart();
    common::wait_for("reconnected", || reconnected.load(Ordering::SeqCst) == 1);
    assert_eq!(l.attaches.load(Ordering::SeqCst), 2, "attached again");
    common::wait_for("the old socket closed by the loop", || {
        l.closed.load(Ordering::SeqCst) == 1
    });
    round_trip(&nc, "ev.b", 10);
    nc.close();
    common::wait_for("detach", || l.detaches.load(Ordering::SeqCst) == 1);
    common::wait_for("both sockets closed", || {
        l.closed.load(Ordering::SeqCst) == 2
    });
    l.stop.store(true, Ordering::SeqCst);
    l.wake();
    t.join().unwrap();
}

#[test]
fn frozen_server_is_detected_as_stale() {
    let server = NatsServer::start();
    let l = PollLoop::new();
    let t = l.run();
    let causes = Arc::new(Mutex::new(Vec::new()));
    let reconnected = Arc::new(AtomicUsize::new(0));
    let (c, r) = (causes.clone(), reconnected.clone());
    let nc = opts(&l, &server.url())
        .ping_interval(Duration::from_millis(100))
        .max_pings_out(2)
        .reconnect_wait(Duration::from_millis(50))
        .disconnected_callback(move |nc| {
            c.lock().unwrap().push(nc.last_error().map(|e| e.kind()));
        })
        .reconnected_callback(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .connect()
        .expect("connect");
    round_trip(&nc, "ev.c", 10);
    server.pause();
    common::wait_for("disconnected", || !causes.lock().unwrap().is_empty());
    server.resume();
    assert_eq!(
        causes.lock().unwrap()[0],
        Some(ErrorKind::StaleConnection),
        "stale detected while the loop owns the socket"
    );
    common::wait_for("reconnected", || reconnected.load(Ordering::SeqCst) == 1);
    round_trip(&nc, "ev.c", 10);
    nc.close();
    l.stop.store(true, Ordering::SeqCst);
    l.wake();
    t.join().unwrap();
}

/// A loop that is attached but never run: nothing hangs, the flush times
/// out, close returns and detaches.
#[test]
fn a_loop_that_never_runs_breaks_nothing() {
    let server = NatsServer::start();
    let l = PollLoop::new();
    let nc = opts(&l, &server.url()).connect().expect("connect");
    nc.publish("ev.d", b"x").expect("publish is buffered");
    let e = nc
        .flush_timeout(Duration::from_millis(200))
        .expect_err("nothing is written");
    assert_eq!(e.kind(), ErrorKind::Timeout);
    nc.close();
    common::wait_for("detach", || l.detaches.load(Ordering::SeqCst) == 1);
}
