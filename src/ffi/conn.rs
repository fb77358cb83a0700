//! `natsConnection_*`: connecting, publishing, requests, subscribing, status.

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::msg::natsMsg;
use super::options::natsOptions;
use super::sub::natsSubscription;
use super::{
    SendPtr, arg_mut, arg_ref, bytes, copy_out, guard, invalid, millis, natsConnStatus, natsStatus,
    opt_str, req_str, run,
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
}

/// Builds the Rust options with trampolines to the C callbacks.
fn rust_options(
    o: Option<&natsOptions>,
    me: &Arc<AtomicPtr<natsConnection>>,
    subs: &SubRegistry,
) -> Options {
    let Some(o) = o else {
        return Options::new();
    };
    let mut opts = o.opts.clone();
    let conn_cb = |cb: Option<super::options::ConnCb>| {
        cb.map(|cb| {
            let me = me.clone();
            Arc::new(move |_: &Connection| {
                let nc = me.load(Ordering::Acquire);
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
    if let Some(cb) = o.err {
        let me = me.clone();
        let subs = subs.clone();
        opts.error_cb = Some(Arc::new(
            move |_: &Connection, sid: Option<u64>, e: &Error| {
                let nc = me.load(Ordering::Acquire);
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
    let subs: SubRegistry = Arc::default();
    let mut opts = rust_options(o, &me, &subs);
    if let Some(u) = url {
        opts = opts.url(u);
    }
    let conn = Connection::connect_with(opts)?;
    let p = Box::into_raw(Box::new(natsConnection {
        conn,
        me: me.clone(),
        subs,
        last_error_text: Mutex::new(CString::default()),
    }));
    me.store(p, Ordering::Release);
    *out = p;
    Ok(())
}

/// Connects with the given options (NULL: defaults, `nats://localhost:4222`).
/// The options are copied.
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
fn conn<'a>(nc: *mut natsConnection) -> Result<&'a natsConnection> {
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
    unsafe { req_str(s, "reply", ErrorKind::InvalidArg) }
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
    run("natsConnection_Publish", || {
        let c = conn(nc)?;
        let s = subject(subj)?;
        // SAFETY: per the contract.
        c.conn.publish(s, unsafe { bytes(data, dataLen) }?)
    })
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
    run("natsConnection_PublishMsg", || {
        let c = conn(nc)?;
        // SAFETY: NULL or a valid message.
        let m = unsafe { arg_ref(msg, "msg") }?;
        c.conn.publish_message(&m.msg)
    })
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
    run("natsConnection_PublishRequest", || {
        let c = conn(nc)?;
        let s = subject(subj)?;
        let r = self::reply(reply)?;
        // SAFETY: per the contract.
        c.conn
            .publish_request(s, r, unsafe { bytes(data, dataLen) }?)
    })
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
        let c = conn(nc)?;
        let s = subject(subj)?;
        let r = self::reply(reply)?;
        c.conn.publish_request(s, r, string_payload(str))
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
            let m = unsafe { arg_ref(requestMsg, "requestMsg") }?;
            c.conn.request_message(&m.msg, request_timeout(timeout))
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
        // SAFETY: from Box::into_raw in connect; ownership returns here.
        let b = unsafe { Box::from_raw(nc) };
        b.conn.close();
        b.conn.wait_callbacks();
        b.me.store(ptr::null_mut(), Ordering::Release);
        drop(b);
    })
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

/// The connection's last error: its status, and its text in `*lastError`
/// (valid until the next call on this connection). The cause of a disconnect
/// (stale connection, server `-ERR`...) stays visible while reconnecting.
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
                return natsStatus::NATS_INVALID_ARG;
            };
            let e = c.conn.last_error();
            let mut text = c.last_error_text.lock();
            *text = CString::new(
                e.as_ref()
                    .map(|e| e.text().replace('\0', ""))
                    .unwrap_or_default(),
            )
            .unwrap_or_default();
            if !lastError.is_null() {
                // SAFETY: non-NULL and writable per the contract; the text lives in
                // the connection until the next call.
                unsafe { *lastError = text.as_ptr() };
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

/// Extension (not in nats.c): changes the ping interval of a live connection,
/// in milliseconds (<= 0 disables pings). nats.c only has
/// `natsOptions_SetPingInterval`, fixed at connect time.
///
/// # Safety
/// `nc` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_SetPingInterval(
    nc: *mut natsConnection,
    interval: i64,
) -> natsStatus {
    run("natsConnection_SetPingInterval", || {
        let c = conn(nc)?;
        if c.conn.is_closed() {
            return Err(Error::new(ErrorKind::ConnectionClosed, "connection closed"));
        }
        c.conn
            .set_ping_interval(millis(interval).unwrap_or(Duration::ZERO));
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
    // SAFETY: NULL-checked; writable per the contract.
    let out = unsafe { arg_mut(sub, "sub") }?;
    *out = ptr::null_mut();
    let c = conn(nc)?;
    let s = subject(subj)?;
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
            _ => natsStatus::NATS_NO_SERVER_SUPPORT,
        },
    )
}
