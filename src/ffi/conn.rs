//! `natsConnection_*`: connecting, publishing, requests, subscribing, status.

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::msg::natsMsg;
use super::options::natsOptions;
use super::sub::natsSubscription;
use super::{
    SendPtr, arg_mut, arg_ref, bytes, c_strdup, c_string_array, copy_out, guard, invalid, millis,
    natsConnStatus, natsStatus, opt_str, req_str, run,
};
use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;
use crate::options::Options;

/// Callback for connection events (closed, disconnected, reconnected).
pub type natsConnectionHandler =
    Option<unsafe extern "C" fn(nc: *mut natsConnection, closure: *mut c_void)>;

/// Callback for asynchronous errors (slow consumer, permissions...).
pub type natsErrHandler = Option<
    unsafe extern "C" fn(
        nc: *mut natsConnection,
        subscription: *mut natsSubscription,
        err: natsStatus,
        closure: *mut c_void,
    ),
>;

/// Callback for messages of an asynchronous subscription. `msg` is owned by
/// the callback (destroy it with `natsMsg_Destroy`); it is NULL for the idle
/// timeout of `natsConnection_SubscribeTimeout`.
pub type natsMsgHandler = Option<
    unsafe extern "C" fn(
        nc: *mut natsConnection,
        sub: *mut natsSubscription,
        msg: *mut natsMsg,
        closure: *mut c_void,
    ),
>;

/// Subscriptions of a connection by id, so the error callback can name the
/// `natsSubscription*` concerned.
pub(crate) type SubRegistry = Arc<Mutex<HashMap<u64, SendPtr<natsSubscription>>>>;

/// A connection (`natsConnection`), created by `natsConnection_Connect` or
/// `natsConnection_ConnectTo`, destroyed by `natsConnection_Destroy`.
///
/// Methods: natsConnection_Connect, natsConnection_ConnectTo,
/// natsConnection_Publish, natsConnection_Request, natsConnection_Subscribe,
/// natsConnection_Flush, natsConnection_Close, natsConnection_Destroy, ...
pub struct natsConnection {
    pub(crate) conn: Connection,
    /// This object's own address, for callbacks; NULL once destroyed.
    pub(crate) me: Arc<AtomicPtr<natsConnection>>,
    pub(crate) subs: SubRegistry,
    last_error_text: Mutex<CString>,
    /// The name from the options, returned by `natsConnection_GetName`
    /// (kept here so the pointer lives as long as the connection).
    name: Option<CString>,
    /// With an event loop: `DESTROYED` and `DETACHED` as they happen; the
    /// memory is freed by whichever of `natsConnection_Destroy` and
    /// `natsConnection_ProcessDetachedEvent` comes second.
    loop_state: std::sync::atomic::AtomicU8,
}

const DESTROYED: u8 = 1;
const DETACHED: u8 = 2;

/// `natsConnection_ProcessDetachedEvent`: frees the connection if it was
/// destroyed already.
///
/// # Safety
/// `nc` from Connect, not freed (freeing needs both calls).
pub(crate) unsafe fn loop_detached(nc: *mut natsConnection) {
    // SAFETY: per the contract, not freed yet.
    let prev = unsafe { &*nc }
        .loop_state
        .fetch_or(DETACHED, Ordering::AcqRel);
    if prev & DESTROYED != 0 && prev & DETACHED == 0 {
        // SAFETY: from Box::into_raw in connect; both calls came: ours now.
        drop(unsafe { Box::from_raw(nc) });
    }
}

/// Tells callbacks when `natsConnection_Connect` has published the handle.
///
/// A callback may be posted before `connect` has stored the connection's
/// address in `me` (with retry-on-failed-connect the background attempts
/// start while `Connect` is still returning); its trampoline waits here so
/// that it gets the handle instead of being skipped.
#[derive(Default)]
pub(crate) struct Published {
    done: Mutex<bool>,
    cond: Condvar,
}

impl Published {
    pub(crate) fn set(&self) {
        *self.done.lock() = true;
        self.cond.notify_all();
    }

    /// The connection for a callback: waits until `connect` has finished,
    /// then returns the handle (NULL if connect failed or it was destroyed).
    pub(crate) fn handle(&self, me: &AtomicPtr<natsConnection>) -> *mut natsConnection {
        let mut done = self.done.lock();
        while !*done {
            self.cond.wait(&mut done);
        }
        drop(done);
        me.load(Ordering::Acquire)
    }
}

/// Marks `Published` done when dropped, so no path out of `connect` (error or
/// panic) leaves a callback waiting.
struct PublishOnDrop(Arc<Published>);

impl Drop for PublishOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Builds the Rust options with trampolines to the C callbacks.
fn rust_options(
    o: Option<&natsOptions>,
    me: &Arc<AtomicPtr<natsConnection>>,
    published: &Arc<Published>,
    subs: &SubRegistry,
) -> Options {
    let Some(o) = o else {
        return super::library::default_options();
    };
    let mut opts = o.opts.clone();
    let conn_cb = |cb: Option<super::options::ConnCb>| {
        cb.map(|cb| {
            let me = me.clone();
            let published = published.clone();
            Arc::new(move |_: &Connection| {
                let nc = published.handle(&me);
                if !nc.is_null() {
                    // SAFETY: nc is live until natsConnection_Destroy, which waits
                    // for queued callbacks before freeing it; the closure is the
                    // user's, passed back as nats.c does.
                    unsafe { cb.call(nc) };
                }
            }) as crate::options::ConnCallback
        })
    };
    opts.closed_cb = conn_cb(o.closed);
    opts.disconnected_cb = conn_cb(o.disconnected);
    opts.reconnected_cb = conn_cb(o.reconnected);
    opts.connected_cb = conn_cb(o.connected);
    opts.discovered_servers_cb = conn_cb(o.discovered);
    opts.lame_duck_cb = conn_cb(o.lame_duck);
    opts.reconnect_delay_cb = o.reconnect_delay.map(|cb| {
        let me = me.clone();
        let published = published.clone();
        Arc::new(move |_: &Connection, passes: u32| {
            let nc = published.handle(&me);
            if nc.is_null() {
                // Destroyed (or never returned to C): the wait no longer matters.
                return Duration::ZERO;
            }
            // SAFETY: as for the connection callbacks above.
            unsafe { cb.call(nc, passes) }
        }) as crate::options::ReconnectDelayCallback
    });
    if let Some(cb) = o.err {
        let me = me.clone();
        let published = published.clone();
        let subs = subs.clone();
        opts.error_cb = Some(Arc::new(
            move |_: &Connection, sid: Option<u64>, e: &Error| {
                let nc = published.handle(&me);
                if nc.is_null() {
                    return;
                }
                let sub = sid
                    .and_then(|s| subs.lock().get(&s).copied())
                    .map_or(ptr::null_mut(), |p| p.0);
                // SAFETY: as for the connection callbacks above.
                unsafe { cb.call(nc, sub, natsStatus::from(e.kind())) };
            },
        ));
    }
    if let Some(cb) = o.ev_loop {
        opts.event_loop = Some(Arc::new(super::evloop::CEventLoop::new(
            cb,
            me.clone(),
            published.clone(),
        )));
    }
    opts
}

fn connect(
    out: *mut *mut natsConnection,
    o: Option<&natsOptions>,
    url: Option<&str>,
) -> Result<()> {
    // SAFETY: NULL-checked; writable per the contract.
    let out = unsafe { arg_mut(out, "nc") }?;
    *out = ptr::null_mut();
    let me = Arc::new(AtomicPtr::new(ptr::null_mut()));
    let published = Arc::new(Published::default());
    let _publish = PublishOnDrop(published.clone());
    let subs: SubRegistry = Arc::default();
    let mut opts = rust_options(o, &me, &published, &subs);
    if let Some(u) = url {
        opts = opts.url(u);
    }
    let (conn, connected) = Connection::connect_inner(opts)?;
    let name = conn.name().and_then(|n| CString::new(n).ok());
    let p = Box::into_raw(Box::new(natsConnection {
        conn,
        me: me.clone(),
        subs,
        last_error_text: Mutex::new(CString::default()),
        name,
        loop_state: std::sync::atomic::AtomicU8::new(0),
    }));
    me.store(p, Ordering::Release);
    // Callbacks (and the event loop's first attach, below) may use it now.
    published.set();
    // SAFETY: just made above; not yet given to the caller.
    if let Err(e) = unsafe { &*p }.conn.first_attach(connected) {
        // SAFETY: as above; never given out.
        unsafe { destroy(p) };
        return Err(e);
    }
    *out = p;
    if connected {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::NotYetConnected,
            "no server available yet; still trying in the background",
        ))
    }
}

/// Connects with the given options (NULL: defaults, `nats://localhost:4222`).
/// The options are copied.
///
/// With `natsOptions_SetRetryOnFailedConnect(opts, true, cb, closure)` and no
/// server reachable, returns `NATS_NOT_YET_CONNECTED` and still sets `*nc`:
/// the connection keeps trying in the background (destroy it as usual).
///
/// NULL: `nc` NULL returns `NATS_INVALID_ARG` before any I/O (nats.c connects first).
/// Ownership: the caller destroys `*nc` with `natsConnection_Destroy`.
///
/// # Safety
/// `nc` must be NULL or writable; `options` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Connect(
    nc: *mut *mut natsConnection,
    options: *mut natsOptions,
) -> natsStatus {
    run("natsConnection_Connect", || {
        // SAFETY: NULL or a valid options object.
        let o = unsafe { options.as_ref() };
        connect(nc, o, None)
    })
}

/// Connects to `urls` (comma-separated; NULL: the default URL) with default options.
///
/// NULL: `nc` NULL returns `NATS_INVALID_ARG` before any I/O.
/// Ownership: the caller destroys `*nc` with `natsConnection_Destroy`.
///
/// # Safety
/// `nc` must be NULL or writable; `urls` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_ConnectTo(
    nc: *mut *mut natsConnection,
    urls: *const c_char,
) -> natsStatus {
    run("natsConnection_ConnectTo", || {
        // SAFETY: NULL or a C string.
        let url = unsafe { opt_str(urls, "urls") }?;
        connect(nc, None, Some(url.unwrap_or(crate::DEFAULT_URL)))
    })
}

/// Borrows the connection (NULL → `NATS_INVALID_ARG`).
pub(crate) fn conn<'a>(nc: *mut natsConnection) -> Result<&'a natsConnection> {
    // SAFETY: natsConnection pointers come from Connect and stay valid until Destroy.
    unsafe { arg_ref(nc, "connection") }
}

/// Reads a subject argument: NULL or empty → `NATS_INVALID_SUBJECT`.
fn subject<'a>(s: *const c_char) -> Result<&'a str> {
    // SAFETY: NULL or a C string per every caller's contract.
    unsafe { req_str(s, "subject", ErrorKind::InvalidSubject) }
}

/// Reads a reply argument: NULL or empty → `NATS_INVALID_ARG`.
fn reply<'a>(s: *const c_char) -> Result<&'a str> {
    // SAFETY: as above.
    let r = unsafe { req_str(s, "reply", ErrorKind::InvalidArg) }?;
    if r.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArg, "reply must not be empty"));
    }
    Ok(r)
}

fn string_payload<'a>(s: *const c_char) -> &'a [u8] {
    if s.is_null() {
        return &[];
    }
    // SAFETY: non-NULL C string per the contract.
    unsafe { std::ffi::CStr::from_ptr(s) }.to_bytes()
}

/// Publishes `dataLen` bytes at `data` on `subj`.
///
/// Subjects with whitespace or control characters are rejected with
/// `NATS_INVALID_SUBJECT` (nats.c sends them, which injects protocol).
///
/// # Safety
/// `nc` NULL or valid; `subj` NULL or a C string; `data` NULL or `dataLen` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Publish(
    nc: *mut natsConnection,
    subj: *const c_char,
    data: *const c_void,
    dataLen: c_int,
) -> natsStatus {
    // SAFETY: forwarded contract.
    run("natsConnection_Publish", || unsafe {
        publish(nc, subj, data, dataLen)
    })
}

/// The body of `natsConnection_Publish` / `natsConnection_Send`.
///
/// # Safety
/// As `natsConnection_Publish`.
#[inline(always)]
unsafe fn publish(
    nc: *mut natsConnection,
    subj: *const c_char,
    data: *const c_void,
    dataLen: c_int,
) -> Result<()> {
    let c = conn(nc)?;
    // SAFETY: NULL or a C string per the contract.
    if let Some(s) = unsafe { plain_subject(subj) } {
        // SAFETY: per the contract.
        return c.conn.publish_checked(s, unsafe { bytes(data, dataLen) }?);
    }
    let s = subject(subj)?;
    // SAFETY: per the contract.
    c.conn.publish(s, unsafe { bytes(data, dataLen) }?)
}

/// The usual publish subject, non-empty printable ASCII without blanks,
/// measured and checked in one pass: it needs no other check. `None` for
/// anything else (NULL included): the general checks then give the error.
///
/// # Safety
/// `s` must be NULL or a valid NUL-terminated string.
unsafe fn plain_subject<'a>(s: *const c_char) -> Option<&'a str> {
    if s.is_null() {
        return None;
    }
    // SAFETY: a non-NULL C string per the contract; the caller keeps it for
    // the call. (`strlen` finds the end a word or more at a time.)
    let b = unsafe { std::ffi::CStr::from_ptr(s) }.to_bytes();
    if b.is_empty() || !all_plain(b) {
        return None;
    }
    // SAFETY: printable ASCII (checked just above) is UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(b) })
}

/// True when every byte of `b` is printable ASCII other than blank
/// (0x21..=0x7e). Eight bytes per step: a byte below 0x21 borrows into its
/// top bit when 0x21 is taken from it (and had that bit clear), a byte
/// above 0x7e reaches or has its top bit when 1 is added. Carries and
/// borrows between bytes start only at a byte that is itself caught, so
/// the whole-word answer is exact. (A yes/no per word is all this needs; it
/// costs half of [`crate::proto::byte_classes`], which tells each byte
/// apart, and runs on every publish.)
fn all_plain(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let bad = |w: u64| ((w.wrapping_sub(0x21 * ONES) & !w) | w.wrapping_add(ONES) | w) & TOPS != 0;
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
    if b.len() < 8 {
        return b.iter().all(|&c| c.wrapping_sub(0x21) < 0x5e);
    }
    let mut chunks = b.chunks_exact(8);
    if chunks.by_ref().any(|c| bad(word(c))) {
        return false;
    }
    // The last (overlapping) eight bytes cover the rest.
    chunks.remainder().is_empty() || !bad(word(&b[b.len() - 8..]))
}

/// Publishes the C string `str` (without its NUL; NULL: empty) on `subj`.
///
/// # Safety
/// `nc` NULL or valid; strings NULL or C strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_PublishString(
    nc: *mut natsConnection,
    subj: *const c_char,
    str: *const c_char,
) -> natsStatus {
    run("natsConnection_PublishString", || {
        let c = conn(nc)?;
        c.conn.publish(subject(subj)?, string_payload(str))
    })
}

/// Publishes a message (subject, reply, headers, payload). The message is not
/// destroyed.
///
/// NULL: `msg` NULL returns `NATS_INVALID_ARG` (nats.c 3.4 crashes).
///
/// # Safety
/// `nc` and `msg` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_PublishMsg(
    nc: *mut natsConnection,
    msg: *mut natsMsg,
) -> natsStatus {
    // SAFETY: forwarded contract.
    run("natsConnection_PublishMsg", || unsafe {
        publish_msg(nc, msg)
    })
}

/// The body of `natsConnection_PublishMsg` / `natsConnection_SendMsg`.
///
/// # Safety
/// `msg` NULL or valid.
unsafe fn publish_msg(nc: *mut natsConnection, msg: *mut natsMsg) -> Result<()> {
    let c = conn(nc)?;
    // SAFETY: NULL or a valid message.
    let m = unsafe { natsMsg::arg(msg, "msg") }?;
    c.conn.publish_message(&m)
}

/// Publishes with a reply subject (NULL or empty reply: `NATS_INVALID_ARG`).
///
/// # Safety
/// As `natsConnection_Publish`; `reply` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_PublishRequest(
    nc: *mut natsConnection,
    subj: *const c_char,
    reply: *const c_char,
    data: *const c_void,
    dataLen: c_int,
) -> natsStatus {
    // SAFETY: forwarded contract.
    run("natsConnection_PublishRequest", || unsafe {
        publish_request(nc, subj, reply, data, dataLen)
    })
}

/// The body of `natsConnection_PublishRequest` / `natsConnection_SendRequest`.
///
/// # Safety
/// As `natsConnection_PublishRequest`.
unsafe fn publish_request(
    nc: *mut natsConnection,
    subj: *const c_char,
    reply: *const c_char,
    data: *const c_void,
    dataLen: c_int,
) -> Result<()> {
    // nats.c checks the reply (NULL or empty) before anything else.
    let r = self::reply(reply)?;
    let c = conn(nc)?;
    let s = subject(subj)?;
    // SAFETY: per the contract.
    c.conn
        .publish_request(s, r, unsafe { bytes(data, dataLen) }?)
}

/// Publishes a C string with a reply subject.
///
/// # Safety
/// As `natsConnection_PublishString`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_PublishRequestString(
    nc: *mut natsConnection,
    subj: *const c_char,
    reply: *const c_char,
    str: *const c_char,
) -> natsStatus {
    run("natsConnection_PublishRequestString", || {
        // nats.c checks the reply (NULL or empty) before anything else.
        let r = self::reply(reply)?;
        let c = conn(nc)?;
        let s = subject(subj)?;
        c.conn.publish_request(s, r, string_payload(str))
    })
}

/// Publishes `dataLen` bytes at `data` on `subj`, like `natsConnection_Publish`.
///
/// nats.c writes the message to the socket in place instead of leaving it to
/// its flusher thread. Here every publish already wakes the I/O thread to
/// write at once, so this is the same call as `natsConnection_Publish`, with
/// the same checks and statuses.
///
/// # Safety
/// As `natsConnection_Publish`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Send(
    nc: *mut natsConnection,
    subj: *const c_char,
    data: *const c_void,
    dataLen: c_int,
) -> natsStatus {
    // SAFETY: forwarded contract.
    run("natsConnection_Send", || unsafe {
        publish(nc, subj, data, dataLen)
    })
}

/// Publishes a message, like `natsConnection_PublishMsg` (the same call here:
/// see `natsConnection_Send`). The message is not destroyed.
///
/// NULL: `nc` or `msg` NULL returns `NATS_INVALID_ARG`.
///
/// # Safety
/// `nc` and `msg` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_SendMsg(
    nc: *mut natsConnection,
    msg: *mut natsMsg,
) -> natsStatus {
    // SAFETY: forwarded contract.
    run("natsConnection_SendMsg", || unsafe { publish_msg(nc, msg) })
}

/// Publishes with a reply subject, like `natsConnection_PublishRequest` (the
/// same call here: see `natsConnection_Send`). NULL or empty reply:
/// `NATS_INVALID_ARG`.
///
/// # Safety
/// As `natsConnection_PublishRequest`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_SendRequest(
    nc: *mut natsConnection,
    subj: *const c_char,
    reply: *const c_char,
    data: *const c_void,
    dataLen: c_int,
) -> natsStatus {
    // SAFETY: forwarded contract.
    run("natsConnection_SendRequest", || unsafe {
        publish_request(nc, subj, reply, data, dataLen)
    })
}

fn request_timeout(timeout: i64) -> Duration {
    // nats.c waits 0 ms for a non-positive timeout, i.e. times out at once.
    millis(timeout)
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_micros(1))
}

fn do_request(replyMsg: *mut *mut natsMsg, f: impl FnOnce() -> Result<Message>) -> Result<()> {
    // SAFETY: NULL-checked; writable per the contract.
    let out = unsafe { arg_mut(replyMsg, "replyMsg") }?;
    *out = ptr::null_mut();
    *out = natsMsg::into_raw(f()?);
    Ok(())
}

/// Sends a request and waits up to `timeout` ms for the reply. All requests of
/// a connection share one wildcard inbox subscription.
///
/// Ownership: the caller destroys `*replyMsg` with `natsMsg_Destroy`. On failure
/// `*replyMsg` is NULL.
///
/// # Safety
/// `replyMsg` writable; others as `natsConnection_Publish`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Request(
    replyMsg: *mut *mut natsMsg,
    nc: *mut natsConnection,
    subj: *const c_char,
    data: *const c_void,
    dataLen: c_int,
    timeout: i64,
) -> natsStatus {
    run("natsConnection_Request", || {
        do_request(replyMsg, || {
            let c = conn(nc)?;
            let s = subject(subj)?;
            // SAFETY: per the contract.
            let d = unsafe { bytes(data, dataLen) }?;
            c.conn.request(s, d, request_timeout(timeout))
        })
    })
}

/// Sends a C string as a request and waits for the reply.
///
/// # Safety
/// As `natsConnection_Request`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_RequestString(
    replyMsg: *mut *mut natsMsg,
    nc: *mut natsConnection,
    subj: *const c_char,
    str: *const c_char,
    timeout: i64,
) -> natsStatus {
    run("natsConnection_RequestString", || {
        do_request(replyMsg, || {
            let c = conn(nc)?;
            c.conn.request(
                subject(subj)?,
                string_payload(str),
                request_timeout(timeout),
            )
        })
    })
}

/// Sends a message (with its headers) as a request and waits for the reply.
///
/// # Safety
/// As `natsConnection_Request`; `requestMsg` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_RequestMsg(
    replyMsg: *mut *mut natsMsg,
    nc: *mut natsConnection,
    requestMsg: *mut natsMsg,
    timeout: i64,
) -> natsStatus {
    run("natsConnection_RequestMsg", || {
        do_request(replyMsg, || {
            let c = conn(nc)?;
            // SAFETY: NULL or a valid message.
            let m = unsafe { natsMsg::arg(requestMsg, "requestMsg") }?;
            c.conn.request_message(&m, request_timeout(timeout))
        })
    })
}

/// Flushes and waits up to 10 s for the server to confirm (PING/PONG).
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Flush(nc: *mut natsConnection) -> natsStatus {
    run("natsConnection_Flush", || conn(nc)?.conn.flush())
}

/// Flushes and waits up to `timeout` ms (<= 0: `NATS_INVALID_TIMEOUT`).
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_FlushTimeout(
    nc: *mut natsConnection,
    timeout: i64,
) -> natsStatus {
    run("natsConnection_FlushTimeout", || {
        let c = conn(nc)?;
        let d = millis(timeout)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::new(ErrorKind::InvalidTimeout, "timeout must be positive"))?;
        c.conn.flush_timeout(d)
    })
}

/// Closes the connection (idempotent): buffered publishes are flushed (up to
/// 500 ms), subscriptions end, the closed callback is invoked once.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Close(nc: *mut natsConnection) {
    guard("natsConnection_Close", (), || {
        if let Ok(c) = conn(nc) {
            c.conn.close();
        }
    })
}

/// Closes and frees the connection. No callback of this connection runs after
/// this returns (unless called from such a callback).
///
/// # Safety
/// `nc` NULL or from Connect; not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Destroy(nc: *mut natsConnection) {
    guard("natsConnection_Destroy", (), || {
        if nc.is_null() {
            return;
        }
        // SAFETY: from Connect, destroyed once (the contract).
        unsafe { destroy(nc) };
    })
}

/// Closes the connection, waits for its callbacks, and frees it, unless an
/// event loop adapter still holds it (then `ProcessDetachedEvent` frees it).
///
/// # Safety
/// `nc` from Connect, destroyed once.
unsafe fn destroy(nc: *mut natsConnection) {
    // SAFETY: live until freed below (or by ProcessDetachedEvent).
    let b = unsafe { &*nc };
    b.conn.close();
    b.conn.wait_callbacks();
    b.me.store(ptr::null_mut(), Ordering::Release);
    // No attach after this; if the loop ever had the socket, it holds `nc`
    // until it reports the detach.
    if b.conn.seal_event_loop() {
        let prev = b.loop_state.fetch_or(DESTROYED, Ordering::AcqRel);
        if prev & DETACHED == 0 {
            return;
        }
    }
    // SAFETY: from Box::into_raw in connect; nobody else frees it.
    drop(unsafe { Box::from_raw(nc) });
}

/// The connection status (`NATS_CONN_STATUS_CLOSED` for NULL).
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Status(nc: *mut natsConnection) -> natsConnStatus {
    guard(
        "natsConnection_Status",
        natsConnStatus::NATS_CONN_STATUS_CLOSED,
        || {
            conn(nc).map_or(natsConnStatus::NATS_CONN_STATUS_CLOSED, |c| {
                c.conn.status().into()
            })
        },
    )
}

/// True if closed (or NULL).
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_IsClosed(nc: *mut natsConnection) -> bool {
    guard("natsConnection_IsClosed", true, || {
        conn(nc).map_or(true, |c| c.conn.is_closed())
    })
}

/// True while the connection drains. Always false for now: draining
/// (`natsConnection_Drain`) is not implemented yet. False for NULL.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_IsDraining(nc: *mut natsConnection) -> bool {
    guard("natsConnection_IsDraining", false, || {
        conn(nc).is_ok_and(|c| c.conn.is_draining())
    })
}

/// Starts draining the connection, with nats.c's default limit of 30 s:
/// subscriptions stop receiving and deliver what they have (the request
/// inbox last), publishes are flushed, then the connection closes (the
/// closed callback runs). Returns at once.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Drain(nc: *mut natsConnection) -> natsStatus {
    run("natsConnection_Drain", || conn(nc)?.conn.drain())
}

/// Starts draining with a limit of `timeout` ms (≤ 0: no limit). Past it,
/// subscriptions still draining end with `NATS_TIMEOUT`, the error handler
/// gets `NATS_TIMEOUT`, and the connection closes.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_DrainTimeout(
    nc: *mut natsConnection,
    timeout: i64,
) -> natsStatus {
    run("natsConnection_DrainTimeout", || {
        let t = (timeout > 0).then(|| Duration::from_millis(timeout.unsigned_abs()));
        conn(nc)?.conn.drain_timeout(t)
    })
}

/// The connection's name, as set with `natsOptions_SetName`; NULL for a NULL
/// connection or when no name was set.
///
/// Ownership: the string belongs to the connection and stays valid until
/// `natsConnection_Destroy`; do not free it.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetName(nc: *mut natsConnection) -> *const c_char {
    guard("natsConnection_GetName", ptr::null(), || {
        conn(nc)
            .ok()
            .and_then(|c| c.name.as_ref())
            .map_or(ptr::null(), |n| n.as_ptr())
    })
}

/// True while reconnecting.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_IsReconnecting(nc: *mut natsConnection) -> bool {
    guard("natsConnection_IsReconnecting", false, || {
        conn(nc).is_ok_and(|c| c.conn.is_reconnecting())
    })
}

/// Copies the URL of the connected server into `buffer` (empty when not
/// connected); too small a buffer gives `NATS_INSUFFICIENT_BUFFER`.
///
/// # Safety
/// `buffer` must hold `bufferSize` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetConnectedUrl(
    nc: *mut natsConnection,
    buffer: *mut c_char,
    bufferSize: usize,
) -> natsStatus {
    run("natsConnection_GetConnectedUrl", || {
        let c = conn(nc)?;
        let url = c.conn.connected_url().unwrap_or_default();
        // SAFETY: per the contract.
        unsafe { copy_out(&url, buffer, bufferSize) }
    })
}

/// Copies the id of the connected server into `buffer` (empty when not connected).
///
/// # Safety
/// `buffer` must hold `bufferSize` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetConnectedServerId(
    nc: *mut natsConnection,
    buffer: *mut c_char,
    bufferSize: usize,
) -> natsStatus {
    run("natsConnection_GetConnectedServerId", || {
        let c = conn(nc)?;
        let id = c.conn.connected_server_id().unwrap_or_default();
        // SAFETY: per the contract.
        unsafe { copy_out(&id, buffer, bufferSize) }
    })
}

/// The largest payload the server accepts (0 for NULL).
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetMaxPayload(nc: *mut natsConnection) -> i64 {
    guard("natsConnection_GetMaxPayload", 0, || {
        conn(nc).map_or(0, |c| c.conn.max_payload())
    })
}

/// The text nats.c reports for a connection error: its own text, else the
/// status text.
fn error_text(e: &Error) -> String {
    let t = if e.text().is_empty() {
        e.kind().text()
    } else {
        e.text()
    };
    t.replace('\0', "")
}

/// The connection's last error: its status, and its text in `*lastError`
/// (valid until the next call on this connection; empty when the status is
/// `NATS_OK`). Prefer `natsConnection_ReadLastError`, which copies the text.
///
/// Differs from nats.c: the cause of a disconnection (stale connection,
/// server `-ERR` text, EOF) stays readable, from the disconnected callback
/// on, until a reconnection succeeds; nats.c clears it as the reconnection
/// starts.
///
/// # Safety
/// `nc` NULL or valid; `lastError` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetLastError(
    nc: *mut natsConnection,
    lastError: *mut *const c_char,
) -> natsStatus {
    guard(
        "natsConnection_GetLastError",
        natsStatus::NATS_INVALID_ARG,
        || {
            let Ok(c) = conn(nc) else {
                return super::raise("natsConnection_GetLastError", &invalid("connection"));
            };
            let e = c.conn.last_error();
            let mut text = c.last_error_text.lock();
            *text =
                CString::new(e.as_ref().map(error_text).unwrap_or_default()).unwrap_or_default();
            if !lastError.is_null() {
                // SAFETY: non-NULL and writable per the contract; the text lives in
                // the connection until the next call.
                unsafe { *lastError = text.as_ptr() };
            }
            e.map_or(natsStatus::NATS_OK, |e| natsStatus::from(e.kind()))
        },
    )
}

/// Returns the connection's last error status and copies its text into `buf`
/// (`n` bytes, NUL-terminated; a longer text is cut and ends with `...`
/// when `n > 4`). The text is empty when the status is `NATS_OK`. A NULL
/// `buf` or `n == 0` only returns the status.
///
/// NULL: `nc` NULL gives `NATS_INVALID_ARG`.
///
/// Differs from nats.c: the cause of a disconnection (stale connection,
/// server `-ERR` text, EOF) stays readable, from the disconnected callback
/// on, until a reconnection succeeds; nats.c clears it as the reconnection
/// starts.
///
/// # Safety
/// `nc` NULL or valid; `buf` NULL or `n` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_ReadLastError(
    nc: *mut natsConnection,
    buf: *mut c_char,
    n: usize,
) -> natsStatus {
    guard(
        "natsConnection_ReadLastError",
        natsStatus::NATS_INVALID_ARG,
        || {
            let Ok(c) = conn(nc) else {
                return super::raise("natsConnection_ReadLastError", &invalid("connection"));
            };
            let e = c.conn.last_error();
            let text = e.as_ref().map(error_text).unwrap_or_default();
            if !buf.is_null() && n > 0 {
                let bytes = text.as_bytes();
                let len = bytes.len().min(n - 1);
                // SAFETY: `buf` holds `n` writable bytes and len + 1 <= n; the
                // regions do not overlap.
                unsafe {
                    ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), len);
                    *buf.add(len) = 0;
                }
                if bytes.len() >= n && n > 4 {
                    // SAFETY: n > 4, so n-4..n-2 are within the buffer.
                    unsafe { ptr::copy_nonoverlapping(b"...".as_ptr(), buf.add(n - 4).cast(), 3) };
                }
            }
            e.map_or(natsStatus::NATS_OK, |e| natsStatus::from(e.kind()))
        },
    )
}

/// Round-trip time to the server in nanoseconds.
///
/// # Safety
/// `nc` NULL or valid; `rtt` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetRTT(
    nc: *mut natsConnection,
    rtt: *mut i64,
) -> natsStatus {
    run("natsConnection_GetRTT", || {
        let c = conn(nc)?;
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(rtt, "rtt") }?;
        *out = i64::try_from(c.conn.rtt()?.as_nanos()).unwrap_or(i64::MAX);
        Ok(())
    })
}

fn set_ping_interval(func: &'static str, nc: *mut natsConnection, ms: i64) -> natsStatus {
    run(func, || {
        let c = conn(nc)?;
        if c.conn.is_closed() {
            return Err(Error::new(ErrorKind::ConnectionClosed, "connection closed"));
        }
        c.conn
            .set_ping_interval(millis(ms).unwrap_or(Duration::ZERO));
        Ok(())
    })
}

/// Extension (not in nats.c): changes the ping interval of a live connection,
/// in **seconds**; a value <= 0 disables pings. The new interval is kept
/// across reconnections. nats.c only has `natsOptions_SetPingInterval`
/// (milliseconds, fixed at connect time); see also
/// `natsConnection_SetPingIntervalMs`.
///
/// NULL: `NATS_INVALID_ARG`. Closed: `NATS_CONNECTION_CLOSED`.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_SetPingInterval(
    nc: *mut natsConnection,
    interval: i64,
) -> natsStatus {
    set_ping_interval(
        "natsConnection_SetPingInterval",
        nc,
        interval.saturating_mul(1000),
    )
}

/// Extension (not in nats.c): as `natsConnection_SetPingInterval`, in
/// milliseconds; a value <= 0 disables pings.
///
/// NULL: `NATS_INVALID_ARG`. Closed: `NATS_CONNECTION_CLOSED`.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_SetPingIntervalMs(
    nc: *mut natsConnection,
    ms: i64,
) -> natsStatus {
    set_ping_interval("natsConnection_SetPingIntervalMs", nc, ms)
}

/// Drops the current socket as if the server had gone, and returns at once:
/// the disconnected callback runs, then the connection reconnects (to the
/// next server of the list; reconnected callback) or, if reconnecting is not
/// allowed, closes.
///
/// NULL: `NATS_INVALID_ARG`. Closed: `NATS_CONNECTION_CLOSED`.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Reconnect(nc: *mut natsConnection) -> natsStatus {
    run("natsConnection_Reconnect", || conn(nc)?.conn.reconnect())
}

fn server_list(
    nc: *mut natsConnection,
    servers: *mut *mut *mut c_char,
    count: *mut c_int,
    discovered: bool,
) -> Result<()> {
    let c = conn(nc)?;
    // SAFETY: NULL-checked; writable per the contract.
    let servers = unsafe { arg_mut(servers, "servers") }?;
    // SAFETY: as above.
    let count = unsafe { arg_mut(count, "count") }?;
    let list = if discovered {
        c.conn.discovered_servers()
    } else {
        c.conn.servers()
    };
    let (arr, n) = c_string_array(&list)?;
    *servers = arr;
    *count = n;
    Ok(())
}

/// Returns every server the connection may use, as `nats://host:port`: those
/// of the options and those the cluster announced. Works on a closed
/// connection too (as nats.c).
///
/// Ownership: the array and each string are allocated with `malloc`; the
/// caller frees each string, then the array, with `free`. With no server,
/// `*servers` is NULL and `*count` 0.
/// NULL: any NULL argument gives `NATS_INVALID_ARG`.
///
/// # Safety
/// `nc` NULL or valid; `servers` and `count` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetServers(
    nc: *mut natsConnection,
    servers: *mut *mut *mut c_char,
    count: *mut c_int,
) -> natsStatus {
    run("natsConnection_GetServers", || {
        server_list(nc, servers, count, false)
    })
}

/// Returns the servers the cluster announced (not those of the options), as
/// `natsConnection_GetServers` does. With none, `*servers` is NULL and
/// `*count` 0 (nats.c may return an empty allocated array; `free(NULL)` is
/// harmless either way).
///
/// # Safety
/// `nc` NULL or valid; `servers` and `count` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetDiscoveredServers(
    nc: *mut natsConnection,
    servers: *mut *mut *mut c_char,
    count: *mut c_int,
) -> natsStatus {
    run("natsConnection_GetDiscoveredServers", || {
        server_list(nc, servers, count, true)
    })
}

/// The id the server gave this client (from its INFO).
///
/// NULL: `NATS_INVALID_ARG`. Closed: `NATS_CONNECTION_CLOSED`. A server that
/// gave no id: `NATS_NO_SERVER_SUPPORT`.
///
/// # Safety
/// `nc` NULL or valid; `cid` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetClientID(
    nc: *mut natsConnection,
    cid: *mut u64,
) -> natsStatus {
    run("natsConnection_GetClientID", || {
        let c = conn(nc)?;
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(cid, "cid") }?;
        *out = 0;
        *out = c.conn.client_id()?;
        Ok(())
    })
}

/// This client's IP address as the server sees it (from its INFO).
///
/// Ownership: `*ip` is allocated with `malloc`; the caller frees it with
/// `free`. It is NULL on failure.
/// NULL: `NATS_INVALID_ARG`. Closed: `NATS_CONNECTION_CLOSED`. A server that
/// did not say: `NATS_NO_SERVER_SUPPORT`.
///
/// # Safety
/// `nc` NULL or valid; `ip` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetClientIP(
    nc: *mut natsConnection,
    ip: *mut *mut c_char,
) -> natsStatus {
    run("natsConnection_GetClientIP", || {
        let c = conn(nc)?;
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(ip, "ip") }?;
        *out = ptr::null_mut();
        *out = c_strdup(&c.conn.client_ip()?)?;
        Ok(())
    })
}

/// The local IP address and port of the connection's socket.
///
/// Ownership: `*ip` is allocated with `malloc`; the caller frees it with
/// `free`. On failure `*ip` is NULL and `*port` 0.
/// NULL: `NATS_INVALID_ARG`. Closed: `NATS_CONNECTION_CLOSED`. No socket right
/// now (reconnecting): `NATS_CONNECTION_DISCONNECTED`.
///
/// # Safety
/// `nc` NULL or valid; `ip` and `port` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetLocalIPAndPort(
    nc: *mut natsConnection,
    ip: *mut *mut c_char,
    port: *mut c_int,
) -> natsStatus {
    run("natsConnection_GetLocalIPAndPort", || {
        let c = conn(nc)?;
        // SAFETY: NULL-checked; writable per the contract.
        let ip = unsafe { arg_mut(ip, "ip") }?;
        // SAFETY: as above.
        let port = unsafe { arg_mut(port, "port") }?;
        *ip = ptr::null_mut();
        *port = 0;
        let addr = c.conn.local_addr()?;
        *ip = c_strdup(&addr.ip().to_string())?;
        *port = c_int::from(addr.port());
        Ok(())
    })
}

// --- subscribing -----------------------------------------------------------

/// Reads an optional idle timeout for *SubscribeTimeout (must be > 0).
fn idle(timeout: i64) -> Result<Duration> {
    millis(timeout)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::new(ErrorKind::InvalidArg, "timeout must be positive"))
}

fn queue<'a>(q: *const c_char) -> Result<&'a str> {
    // SAFETY: NULL or a C string per the contract.
    let q = unsafe { req_str(q, "queueGroup", ErrorKind::InvalidArg) }?;
    if q.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArg,
            "queue group must not be empty",
        ));
    }
    Ok(q)
}

fn subscribe_common(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subj: *const c_char,
    queue_group: Option<&str>,
    cb: Option<(natsMsgHandler, *mut c_void, Option<Duration>)>,
) -> Result<()> {
    // SAFETY: NULL or writable per the contract.
    if let Some(out) = unsafe { sub.as_mut() } {
        *out = ptr::null_mut();
    }
    // nats.c's order: connection, subject, queue name; only then the
    // out-pointer (which nats.c dereferences without a check).
    let c = conn(nc)?;
    let s = subject(subj)?;
    crate::subject::check_subscribe_subject(s)?;
    if let Some(q) = queue_group {
        crate::subject::check_queue(q)?;
    }
    // SAFETY: NULL-checked; writable per the contract.
    let out = unsafe { arg_mut(sub, "sub") }?;
    let p = super::sub::subscribe(c, nc, s, queue_group, cb)?;
    *out = p;
    Ok(())
}

/// Subscribes with a callback, run on this subscription's delivery thread.
///
/// # Safety
/// `sub` writable; `nc` valid; `subject` a C string; `cbClosure` is the user's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Subscribe(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    cb: natsMsgHandler,
    cbClosure: *mut c_void,
) -> natsStatus {
    run("natsConnection_Subscribe", || {
        if cb.is_none() {
            return Err(invalid("cb"));
        }
        subscribe_common(sub, nc, subject, None, Some((cb, cbClosure, None)))
    })
}

/// Subscribes with a callback that also gets NULL after `timeout` ms without messages.
///
/// # Safety
/// As `natsConnection_Subscribe`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_SubscribeTimeout(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    timeout: i64,
    cb: natsMsgHandler,
    cbClosure: *mut c_void,
) -> natsStatus {
    run("natsConnection_SubscribeTimeout", || {
        if cb.is_none() {
            return Err(invalid("cb"));
        }
        let d = idle(timeout)?;
        subscribe_common(sub, nc, subject, None, Some((cb, cbClosure, Some(d))))
    })
}

/// Subscribes synchronously: read with `natsSubscription_NextMsg`.
///
/// # Safety
/// `sub` writable; `nc` valid; `subject` a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_SubscribeSync(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
) -> natsStatus {
    run("natsConnection_SubscribeSync", || {
        subscribe_common(sub, nc, subject, None, None)
    })
}

/// Joins queue group `queueGroup` with a callback.
///
/// # Safety
/// As `natsConnection_Subscribe`; `queueGroup` a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_QueueSubscribe(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    queueGroup: *const c_char,
    cb: natsMsgHandler,
    cbClosure: *mut c_void,
) -> natsStatus {
    run("natsConnection_QueueSubscribe", || {
        if cb.is_none() {
            return Err(invalid("cb"));
        }
        let q = queue(queueGroup)?;
        subscribe_common(sub, nc, subject, Some(q), Some((cb, cbClosure, None)))
    })
}

/// Joins a queue group with a callback and an idle timeout.
///
/// # Safety
/// As `natsConnection_QueueSubscribe`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_QueueSubscribeTimeout(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    queueGroup: *const c_char,
    timeout: i64,
    cb: natsMsgHandler,
    cbClosure: *mut c_void,
) -> natsStatus {
    run("natsConnection_QueueSubscribeTimeout", || {
        if cb.is_none() {
            return Err(invalid("cb"));
        }
        let q = queue(queueGroup)?;
        let d = idle(timeout)?;
        subscribe_common(sub, nc, subject, Some(q), Some((cb, cbClosure, Some(d))))
    })
}

/// Joins a queue group synchronously.
///
/// # Safety
/// As `natsConnection_SubscribeSync`; `queueGroup` a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_QueueSubscribeSync(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    queueGroup: *const c_char,
) -> natsStatus {
    run("natsConnection_QueueSubscribeSync", || {
        let q = queue(queueGroup)?;
        subscribe_common(sub, nc, subject, Some(q), None)
    })
}

/// Bytes buffered and not yet written to the socket (-1 if NULL or closed).
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_Buffered(nc: *mut natsConnection) -> c_int {
    guard("natsConnection_Buffered", -1, || {
        conn(nc).map_or(-1, |c| {
            c.conn
                .buffered()
                .map_or(-1, |n| c_int::try_from(n).unwrap_or(c_int::MAX))
        })
    })
}

/// `NATS_OK` if the server supports headers, else `NATS_NO_SERVER_SUPPORT`.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_HasHeaderSupport(nc: *mut natsConnection) -> natsStatus {
    guard(
        "natsConnection_HasHeaderSupport",
        natsStatus::NATS_NO_SERVER_SUPPORT,
        || match conn(nc) {
            Ok(c) if c.conn.server_info().is_some_and(|i| i.headers) => natsStatus::NATS_OK,
            Ok(_) => natsStatus::NATS_NO_SERVER_SUPPORT,
            // nats.c: NATS_INVALID_ARG for NULL (the sweep's null call).
            Err(e) => super::raise("natsConnection_HasHeaderSupport", &e),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::{all_plain, plain_subject};

    #[test]
    fn all_plain_agrees_with_the_byte_test() {
        let simple = |b: &[u8]| b.iter().all(|&c| (0x21..=0x7e).contains(&c));
        // Every byte value at every position of every length up to 24, in a
        // field of valid bytes at both ends of the range.
        for len in 1..=24usize {
            for fill in [b'!', b'~', b'a'] {
                for pos in 0..len {
                    for v in 0..=255u8 {
                        let mut b = vec![fill; len];
                        b[pos] = v;
                        assert_eq!(all_plain(&b), simple(&b), "len {len} pos {pos} byte {v:#x}");
                    }
                }
            }
        }
        // Pairs of bad bytes next to each other (borrows and carries
        // between bytes).
        for len in 8..=17usize {
            for pos in 0..len - 1 {
                for (x, y) in [
                    (0x00, 0xff),
                    (0xff, 0x00),
                    (0x20, 0x7f),
                    (0x7f, 0x20),
                    (0xff, 0xff),
                ] {
                    let mut b = vec![b'k'; len];
                    b[pos] = x;
                    b[pos + 1] = y;
                    assert!(!all_plain(&b), "len {len} pos {pos}");
                }
            }
        }
    }

    #[test]
    fn plain_subject_takes_printable_ascii_only() {
        let take = |s: &std::ffi::CStr| {
            // SAFETY: a valid C string.
            unsafe { plain_subject(s.as_ptr()) }
        };
        assert_eq!(take(c"bench.pub"), Some("bench.pub"));
        assert_eq!(take(c"!~"), Some("!~"));
        assert_eq!(take(c"a.*.>"), Some("a.*.>"));
        for other in [
            c"",
            c"a b",
            c"a\tb",
            c"a\x7f",
            c"\x1f",
            c"caf\xc3\xa9",
            c"a\x80",
        ] {
            assert_eq!(take(other), None, "{other:?}");
        }
        // SAFETY: NULL is allowed.
        assert_eq!(unsafe { plain_subject(std::ptr::null()) }, None);
    }
}
