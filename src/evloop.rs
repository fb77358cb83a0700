//! External event loops (nats.c's `natsOptions_SetEventLoop`): the
//! application's loop polls a connected socket and calls
//! `process_read_event` / `process_write_event`; the library's io loop
//! keeps everything else (connecting, handshakes, reconnects, pings,
//! timeouts) and hands each socket over once its handshake is done.
//!
//! A handed-over socket lives in [`Ext`] (shared by the io loop and the
//! application's loop thread). When it is lost, the io loop takes it back:
//! write and read polling are removed, the socket is shut down, and its
//! descriptor is kept open until the application's loop has stopped
//! polling it and calls [`process_close_event`] (a descriptor closed under
//! a poller could be reused by the next socket while the poller still
//! watches it). At close, `detach` is called once. Descriptors whose close
//! event never came are closed when the connection is freed.
//!
//! Lock order: `Ext::st` before the connection's state lock. The loop's
//! callbacks are called with `Ext::st` held (as nats.c holds its connection
//! lock), so their calls stay in order; they must not call back into
//! `process_*_event` synchronously.

use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::connection::ConnInner;
use crate::driver::{self, Cmd, Outcome, Scratch, Sock, Step};
use crate::error::{Error, Result};
use crate::options::EventLoop;

/// Descriptors handed to an application's loop and not yet closed, with the
/// connection they belonged to.
static HANDED: Mutex<Vec<(RawFd, usize)>> = Mutex::new(Vec::new());

/// Closes `socket` if it is a descriptor this library handed to an event
/// loop and has not been closed yet (any other value is ignored). The loop
/// calls it once it stopped polling a socket whose read polling was removed
/// (nats.c's `natsConnection_ProcessCloseEvent`).
pub fn process_close_event(socket: RawFd) -> bool {
    let mut h = HANDED.lock();
    let Some(i) = h.iter().position(|(fd, _)| *fd == socket) else {
        return false;
    };
    h.swap_remove(i);
    drop(h);
    // SAFETY: the descriptor was ours (into_raw_fd) and is closed once: it
    // left the registry above.
    unsafe { libc::close(socket) };
    true
}

/// Closes the descriptors of connection `id` still waiting for their close
/// event, once the connection is gone (its loop was detached and reported
/// it: the loop no longer polls them).
fn close_leftovers(id: usize) {
    let fds: Vec<RawFd> = {
        let mut h = HANDED.lock();
        let (theirs, rest): (Vec<_>, Vec<_>) = h.drain(..).partition(|(_, c)| *c == id);
        *h = rest;
        theirs.into_iter().map(|(fd, _)| fd).collect()
    };
    for fd in fds {
        // SAFETY: as in `process_close_event`.
        unsafe { libc::close(fd) };
    }
}

/// A connection's side of the external loop.
pub(crate) struct Ext {
    cbs: Arc<dyn EventLoop>,
    st: Mutex<ExtState>,
    exported: Condvar,
}

#[derive(Default)]
struct ExtState {
    /// The loop's value for this connection.
    data: usize,
    /// The socket handed over (or waiting for its first attach).
    sock: Option<Sock>,
    /// `attach` succeeded for `sock`.
    attached: bool,
    /// The first attach was done (or given up) by the connecting thread;
    /// later sockets are attached by the io loop.
    first_done: bool,
    /// `attach` ever succeeded: `detach` is owed at close.
    ever_attached: bool,
    write_added: bool,
    /// Being destroyed: nothing is attached any more.
    sealed: bool,
    /// `sock` failed on the application's side; the io loop takes it back.
    dead: bool,
    detached: bool,
    scratch: Scratch,
}

impl Ext {
    pub(crate) fn new(cbs: Arc<dyn EventLoop>) -> Ext {
        Ext {
            cbs,
            st: Mutex::new(ExtState::default()),
            exported: Condvar::new(),
        }
    }

    /// Io loop: the handshake on `sock` is done; hand it over. Returns a
    /// step for the loop (a failed attach loses the socket).
    pub(crate) fn export(&self, conn: &Arc<ConnInner>, sock: Sock) -> Step {
        let mut st = self.st.lock();
        if st.sealed {
            return Step::None; // Dropping `sock` closes it: never handed over.
        }
        // Older sockets stay open until their close events: the loop may
        // still watch them (a busy loop can be behind by a reconnect or two).
        st.sock = Some(sock);
        st.attached = false;
        st.dead = false;
        st.write_added = false;
        if !st.first_done {
            self.exported.notify_all();
            return Step::None;
        }
        match self.attach(&mut st, conn) {
            Ok(()) => Step::None,
            Err(e) => Step::Lose(e),
        }
    }

    /// Connecting thread, after the connect succeeded: the first attach, on
    /// this thread (adapters require the loop's thread for it). Waits for
    /// the io loop to hand the socket over, at most until `deadline`.
    pub(crate) fn first_attach(&self, conn: &Arc<ConnInner>, deadline: Instant) -> Result<()> {
        let mut st = self.st.lock();
        while st.sock.is_none() && !conn.is_closed() {
            if self.exported.wait_until(&mut st, deadline).timed_out() {
                break;
            }
        }
        st.first_done = true;
        if st.sock.is_none() || st.sealed {
            // Lost meanwhile: the io loop attaches the next socket.
            return Ok(());
        }
        self.attach(&mut st, conn)
    }

    /// Connecting thread, when the connect returns without a connection
    /// (retrying in the background): sockets are attached by the io loop.
    pub(crate) fn no_first_attach(&self) {
        self.st.lock().first_done = true;
    }

    fn attach(&self, st: &mut ExtState, conn: &Arc<ConnInner>) -> Result<()> {
        let Some(fd) = st.sock.as_ref().map(|s| s.stream.as_raw_fd()) else {
            return Ok(());
        };
        let view = ConnInner::view_of(conn);
        let mut data = st.data;
        let r = self.cbs.attach(&mut data, &view, fd);
        st.data = data;
        r?;
        st.attached = true;
        st.ever_attached = true;
        self.want_write_locked(st, conn)
    }

    /// Io loop: the connection has output (or a timer ran). Asks the loop
    /// for write events if the socket is handed over; a failing callback
    /// loses the socket.
    pub(crate) fn want_write(&self, conn: &ConnInner) -> Step {
        let mut st = self.st.lock();
        match self.want_write_locked(&mut st, conn) {
            Ok(()) => Step::None,
            Err(e) => {
                st.dead = true;
                Step::Lose(e)
            }
        }
    }

    fn want_write_locked(&self, st: &mut ExtState, conn: &ConnInner) -> Result<()> {
        // Cleared first: output added after the check signals again.
        conn.clear_write_signal();
        if !st.attached || st.dead || st.write_added || !conn.has_output() {
            return Ok(());
        }
        self.cbs.write(st.data, true)?;
        st.write_added = true;
        Ok(())
    }

    /// True while a socket is handed over (or waiting for its first attach).
    pub(crate) fn has_socket(&self) -> bool {
        self.st.lock().sock.is_some()
    }

    /// Application's loop: the socket is readable. One read, as nats.c
    /// does: a busy connection cannot starve others on the same loop.
    pub(crate) fn read_event(&self, conn: &Arc<ConnInner>) {
        let mut st = self.st.lock();
        let st = &mut *st;
        if !st.attached || st.dead {
            return;
        }
        let Some(sock) = st.sock.as_mut() else {
            return;
        };
        match driver::read_once(sock, conn, &mut st.scratch) {
            None | Some(Step::None) => {}
            Some(Step::Lose(e)) => return self.fail(st, conn, e),
            // After the handshake the connection asks for nothing else.
            Some(_) => {}
        }
        // Answers (PONG to a server PING) and flushes produced by reading.
        if let Err(e) = self.want_write_locked(st, conn) {
            self.fail(st, conn, e);
        }
    }

    /// Application's loop: the socket is writable.
    pub(crate) fn write_event(&self, conn: &Arc<ConnInner>) {
        let mut st = self.st.lock();
        let st = &mut *st;
        if !st.attached || st.dead {
            return;
        }
        let Some(sock) = st.sock.as_mut() else {
            return;
        };
        if let Outcome::Lost(e) = driver::write_out(conn, sock) {
            return self.fail(st, conn, e);
        }
        if sock.drained() && st.write_added {
            st.write_added = false;
            if let Err(e) = self.cbs.write(st.data, false) {
                self.fail(st, conn, e);
            }
        }
    }

    /// The socket failed on the application's side: the io loop takes it
    /// back (no more reads or writes meanwhile).
    fn fail(&self, st: &mut ExtState, conn: &ConnInner, e: Error) {
        st.dead = true;
        conn.send_io(Cmd::Kill {
            id: conn.id(),
            cause: e,
        });
    }

    /// Io loop: takes the socket back (lost, or the connection closes):
    /// polling removed, socket shut down, descriptor kept for the close
    /// event. Returns its generation and the output the loop took but did
    /// not write (with the offset written so far), for the loss accounting.
    /// With `flush` (closing), what is queued is handed to the kernel first
    /// (best effort).
    pub(crate) fn take_back(&self, conn: &ConnInner, flush: bool) -> Option<(u64, Vec<u8>, usize)> {
        let mut st = self.st.lock();
        let mut sock = st.sock.take()?;
        let attached = std::mem::take(&mut st.attached);
        st.write_added = false;
        let dead = std::mem::take(&mut st.dead);
        if attached && flush && !dead {
            let _ = driver::write_out(conn, &mut sock);
        }
        let (generation, stream, wbuf, wpos) = sock.into_parts();
        if attached {
            // Registered before the loop hears of it: its close event may
            // come at once, from its own thread.
            let _ = stream.shutdown(std::net::Shutdown::Both);
            HANDED.lock().push((stream.into_raw_fd(), conn.id()));
            // Write first, then read: read removed = closing (nats.c's order).
            let _ = self.cbs.write(st.data, false);
            let _ = self.cbs.read(st.data, false);
        }
        Some((generation, wbuf, wpos))
    }

    /// No attach from now on; true if one ever succeeded.
    pub(crate) fn seal(&self) -> bool {
        let mut st = self.st.lock();
        st.sealed = true;
        st.ever_attached
    }

    /// Io loop, at close: `detach`, once, if the loop ever had a socket.
    pub(crate) fn detach(&self) {
        let mut st = self.st.lock();
        if st.ever_attached && !st.detached {
            st.detached = true;
            let _ = self.cbs.detach(st.data);
        }
    }

    /// The connection is gone: descriptors still waiting for their close
    /// event are closed (the loop was detached).
    pub(crate) fn release(&self, id: usize) {
        close_leftovers(id);
    }
}
