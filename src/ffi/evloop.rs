//! External event loops: `natsOptions_SetEventLoop` and the
//! `natsConnection_Process*Event` calls an adapter makes (nats.c's contract;
//! `include/nats/adapters/libuv.h` and `libevent.h` are our adapters).

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::AtomicPtr;

use super::conn::{Published, conn, natsConnection};
use super::options::{natsOptions, with_opts};
use super::{SendPtr, guard, natsStatus};
use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::options::EventLoop;

/// The descriptor of a connection's socket, as handed to an event loop
/// (`typedef int natsSock;` in the header, as nats.c).
pub type natsSock = std::ffi::c_int;

/// Attaches a (re)connected socket to the event loop: start polling it for
/// reading. `*userData` is NULL the first time (store your state there);
/// after a reconnect it holds what you stored. The first call runs on the
/// thread calling `natsConnection_Connect`.
pub type natsEvLoop_Attach = Option<
    unsafe extern "C" fn(
        userData: *mut *mut c_void,
        r#loop: *mut c_void,
        nc: *mut natsConnection,
        socket: natsSock,
    ) -> natsStatus,
>;

/// Adds (`add` true) or removes read polling. Removal means the socket is
/// being closed: once no longer polled, call
/// `natsConnection_ProcessCloseEvent` with it.
pub type natsEvLoop_ReadAddRemove =
    Option<unsafe extern "C" fn(userData: *mut c_void, add: bool) -> natsStatus>;

/// Adds (`add` true) or removes write polling; while added, call
/// `natsConnection_ProcessWriteEvent` when the socket is writable.
pub type natsEvLoop_WriteAddRemove =
    Option<unsafe extern "C" fn(userData: *mut c_void, add: bool) -> natsStatus>;

/// The connection is closed: release the state kept for it, then call
/// `natsConnection_ProcessDetachedEvent`.
pub type natsEvLoop_Detach = Option<unsafe extern "C" fn(userData: *mut c_void) -> natsStatus>;

/// The event loop and its callbacks, as set on the options.
#[derive(Clone, Copy)]
pub(crate) struct EvLoopCb {
    loop_: SendPtr<c_void>,
    attach: unsafe extern "C" fn(
        *mut *mut c_void,
        *mut c_void,
        *mut natsConnection,
        natsSock,
    ) -> natsStatus,
    read: unsafe extern "C" fn(*mut c_void, bool) -> natsStatus,
    write: unsafe extern "C" fn(*mut c_void, bool) -> natsStatus,
    detach: unsafe extern "C" fn(*mut c_void) -> natsStatus,
}

fn from_status(s: natsStatus, what: &str) -> Result<()> {
    match super::status::kind_of(s) {
        None => Ok(()),
        Some(kind) => Err(Error::new(
            kind,
            format!("the event loop's {what} callback failed"),
        )),
    }
}

/// The C callbacks behind the Rust [`EventLoop`] of one connection.
pub(crate) struct CEventLoop {
    cb: EvLoopCb,
    me: Arc<AtomicPtr<natsConnection>>,
    published: Arc<Published>,
}

impl CEventLoop {
    pub(crate) fn new(
        cb: EvLoopCb,
        me: Arc<AtomicPtr<natsConnection>>,
        published: Arc<Published>,
    ) -> CEventLoop {
        CEventLoop { cb, me, published }
    }
}

impl EventLoop for CEventLoop {
    fn attach(&self, data: &mut usize, _conn: &Connection, socket: i32) -> Result<()> {
        let nc = self.published.handle(&self.me);
        if nc.is_null() {
            return Err(Error::new(
                ErrorKind::ConnectionClosed,
                "the connection was destroyed",
            ));
        }
        let mut ud = *data as *mut c_void;
        // SAFETY: the user's callback with the user's loop; `ud` is what it
        // stored before (or NULL), `nc` is live (not destroyed: checked).
        let s = unsafe { (self.cb.attach)(&mut ud, self.cb.loop_.0, nc, socket) };
        *data = ud as usize;
        from_status(s, "attach")
    }

    fn read(&self, data: usize, add: bool) -> Result<()> {
        // SAFETY: the user's callback with the data its attach stored.
        from_status(unsafe { (self.cb.read)(data as *mut c_void, add) }, "read")
    }

    fn write(&self, data: usize, add: bool) -> Result<()> {
        // SAFETY: as above.
        from_status(
            unsafe { (self.cb.write)(data as *mut c_void, add) },
            "write",
        )
    }

    fn detach(&self, data: usize) -> Result<()> {
        // SAFETY: as above.
        from_status(unsafe { (self.cb.detach)(data as *mut c_void) }, "detach")
    }
}

/// Sets the application's event loop that polls the connection's socket
/// (all arguments must be non-NULL, else `NATS_INVALID_ARG`). The library
/// keeps connecting, reconnecting, pings and timeouts on its own io thread
/// and hands each connected socket to the loop with `attachCb`.
///
/// Contract (nats.c's current one): the first `attachCb` runs on the thread
/// calling `natsConnection_Connect`; later ones (after a reconnect) and the
/// read/write/detach callbacks may run on a library thread. When a socket
/// is dropped, write then read polling are removed; the adapter calls
/// `natsConnection_ProcessCloseEvent` once it stopped polling it (the
/// library never closes an attached socket under the loop). At close,
/// `detachCb` runs once; the adapter calls
/// `natsConnection_ProcessDetachedEvent` when done, and the connection's
/// memory is kept until then (also after `natsConnection_Destroy`), so events
/// already queued in the loop are harmless. Adapters written for nats.c 3.4
/// never call the two: with them, as with nats.c 3.5 and later, the sockets
/// of dropped connections and the connection itself are never freed.
///
/// # Safety
/// `opts` NULL or valid; the callbacks callable as described, with `loop`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetEventLoop(
    opts: *mut natsOptions,
    r#loop: *mut c_void,
    attachCb: natsEvLoop_Attach,
    readCb: natsEvLoop_ReadAddRemove,
    writeCb: natsEvLoop_WriteAddRemove,
    detachCb: natsEvLoop_Detach,
) -> natsStatus {
    with_opts("natsOptions_SetEventLoop", opts, |o| {
        match (r#loop.is_null(), attachCb, readCb, writeCb, detachCb) {
            (false, Some(attach), Some(read), Some(write), Some(detach)) => {
                o.ev_loop = Some(EvLoopCb {
                    loop_: SendPtr(r#loop),
                    attach,
                    read,
                    write,
                    detach,
                });
                Ok(())
            }
            _ => Err(Error::new(
                ErrorKind::InvalidArg,
                "the loop and all four callbacks are required",
            )),
        }
    })
}

/// The connection's socket is readable (called by the event loop adapter):
/// reads once and handles what came. Does nothing for NULL, without an
/// event loop, or once the socket was dropped or the connection closed.
///
/// # Safety
/// `nc` NULL or a connection not yet freed (see `natsOptions_SetEventLoop`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_ProcessReadEvent(nc: *mut natsConnection) {
    guard("natsConnection_ProcessReadEvent", (), || {
        if let Ok(c) = conn(nc) {
            c.conn.process_read_event();
        }
    })
}

/// The connection's socket is writable (called by the event loop adapter):
/// writes what is pending, and removes write polling once all is written.
///
/// # Safety
/// As `natsConnection_ProcessReadEvent`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_ProcessWriteEvent(nc: *mut natsConnection) {
    guard("natsConnection_ProcessWriteEvent", (), || {
        if let Ok(c) = conn(nc) {
            c.conn.process_write_event();
        }
    })
}

/// The event loop stopped polling `*socket` after its read polling was
/// removed: the socket is closed and `*socket` set to -1. Only a socket
/// this library handed to a loop and has not closed is closed; anything
/// else (NULL, -1, another descriptor) is left alone (nats.c would close
/// whatever descriptor it is given).
///
/// # Safety
/// `socket` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_ProcessCloseEvent(socket: *mut natsSock) {
    guard("natsConnection_ProcessCloseEvent", (), || {
        // SAFETY: NULL or writable per the contract.
        if let Some(s) = unsafe { socket.as_mut() }
            && crate::evloop::process_close_event(*s)
        {
            *s = -1;
        }
    })
}

/// The event loop adapter released what it kept for the connection (after
/// `detachCb`): the library may now free it if `natsConnection_Destroy` was
/// called.
///
/// # Safety
/// `nc` NULL or a connection whose detach callback ran.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_ProcessDetachedEvent(nc: *mut natsConnection) {
    guard("natsConnection_ProcessDetachedEvent", (), || {
        if !nc.is_null() {
            // SAFETY: not freed until both Destroy and this have run.
            unsafe { super::conn::loop_detached(nc) };
        }
    })
}
