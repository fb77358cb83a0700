//! `natsSubscription_*`.

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::conn::{SubRegistry, natsConnection, natsMsgHandler};
use super::msg::natsMsg;
use super::{SendPtr, arg_mut, arg_ref, guard, millis, natsStatus, run};
use crate::connection::Subscription;
use crate::error::{Error, ErrorKind, Result};

/// A subscription (`natsSubscription`), created by the `natsConnection_*Subscribe*`
/// functions, destroyed by `natsSubscription_Destroy` (which unsubscribes).
///
/// Methods: natsSubscription_NextMsg, natsSubscription_Unsubscribe,
/// natsSubscription_AutoUnsubscribe, natsSubscription_IsValid,
/// natsSubscription_GetSubject, natsSubscription_GetID,
/// natsSubscription_SetPendingLimits, natsSubscription_GetPendingLimits,
/// natsSubscription_GetPending, natsSubscription_GetMaxPending,
/// natsSubscription_ClearMaxPending, natsSubscription_GetStats,
/// natsSubscription_GetDelivered, natsSubscription_GetDropped,
/// natsSubscription_Destroy, ...
pub struct natsSubscription {
    /// Set right after the subscription is registered; a callback that runs
    /// before (it cannot: delivery waits for registration) would wait for it.
    sub: OnceLock<Subscription>,
    nc: SendPtr<natsConnection>,
    subject: CString,
    registry: SubRegistry,
}

impl natsSubscription {
    fn get(&self) -> &Subscription {
        self.sub.wait()
    }
}

/// Creates the C subscription object (shared by every subscribe variant).
pub(crate) fn subscribe(
    c: &natsConnection,
    nc: *mut natsConnection,
    subject: &str,
    queue: Option<&str>,
    cb: Option<(natsMsgHandler, *mut c_void, Option<Duration>)>,
) -> Result<*mut natsSubscription> {
    let subj = CString::new(subject)
        .map_err(|_| Error::new(ErrorKind::InvalidSubject, "subject contains NUL"))?;
    let boxed = Box::into_raw(Box::new(natsSubscription {
        sub: OnceLock::new(),
        nc: SendPtr(nc),
        subject: subj,
        registry: c.subs.clone(),
    }));
    let sp = SendPtr(boxed);
    let result = match cb {
        None => match queue {
            None => c.conn.subscribe(subject),
            Some(q) => c.conn.queue_subscribe(subject, q),
        },
        Some((handler, closure, idle)) => {
            let Some(f) = handler else {
                // SAFETY: boxed came from Box::into_raw above and was not shared.
                drop(unsafe { Box::from_raw(boxed) });
                return Err(super::invalid("cb"));
            };
            let closure = SendPtr(closure);
            let me = c.me.clone();
            c.conn.subscribe_async(
                subject,
                queue,
                idle,
                Box::new(move |m| {
                    let (sp, closure) = (&sp, &closure);
                    let nc = me.load(Ordering::Acquire);
                    let msg = m.map_or(ptr::null_mut(), natsMsg::into_raw);
                    // SAFETY: C callback with the connection, this subscription
                    // (alive until natsSubscription_Destroy, which stops
                    // delivery first) and a message the callback now owns.
                    unsafe { f(nc, sp.0, msg, closure.0) };
                }),
            )
        }
    };
    match result {
        Ok(s) => {
            let sid = s.sid();
            // SAFETY: boxed is live; only this thread initializes `sub`.
            let b = unsafe { &*boxed };
            let _ = b.sub.set(s);
            c.subs.lock().insert(sid, sp);
            Ok(boxed)
        }
        Err(e) => {
            // SAFETY: registration failed, so no delivery thread uses boxed.
            drop(unsafe { Box::from_raw(boxed) });
            Err(e)
        }
    }
}

fn sub_ref<'a>(sub: *mut natsSubscription) -> Result<&'a natsSubscription> {
    // SAFETY: subscription pointers come from subscribe and stay valid until Destroy.
    unsafe { arg_ref(sub, "subscription") }
}

/// Waits up to `timeout` ms for the next message of a synchronous subscription.
///
/// On any failure `*nextMsg` is set to NULL (nats.c leaves it unchanged on timeout).
/// Ownership: the caller destroys the message with `natsMsg_Destroy`.
///
/// # Safety
/// `nextMsg` writable; `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_NextMsg(
    nextMsg: *mut *mut natsMsg,
    sub: *mut natsSubscription,
    timeout: i64,
) -> natsStatus {
    run("natsSubscription_NextMsg", || {
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(nextMsg, "nextMsg") }?;
        *out = ptr::null_mut();
        let s = sub_ref(sub)?;
        let m = s
            .get()
            .next_msg(millis(timeout).unwrap_or(Duration::ZERO))?;
        *out = natsMsg::into_raw(m);
        Ok(())
    })
}

/// Unsubscribes (the object stays valid until `natsSubscription_Destroy`).
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_Unsubscribe(sub: *mut natsSubscription) -> natsStatus {
    run("natsSubscription_Unsubscribe", || {
        sub_ref(sub)?.get().unsubscribe()
    })
}

/// Unsubscribes automatically after `max` messages in total.
///
/// `max` 0 unsubscribes now, as `natsSubscription_Unsubscribe` does (nats.c).
/// A negative `max` does the same: nats.c returns `NATS_OK` for it and sends a
/// plain UNSUB, so the server stops delivering while nats.c still reports the
/// subscription valid; here it is unsubscribed and reported so.
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_AutoUnsubscribe(
    sub: *mut natsSubscription,
    max: c_int,
) -> natsStatus {
    run("natsSubscription_AutoUnsubscribe", || {
        let s = sub_ref(sub)?;
        match u64::try_from(max).ok().filter(|&m| m > 0) {
            Some(m) => s.get().auto_unsubscribe(m),
            None => s.get().unsubscribe(),
        }
    })
}

/// True while the subscription can deliver messages.
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_IsValid(sub: *mut natsSubscription) -> bool {
    guard("natsSubscription_IsValid", false, || {
        sub_ref(sub).is_ok_and(|s| s.get().is_valid())
    })
}

/// The subject of the subscription (owned by the subscription; NULL for NULL).
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetSubject(sub: *mut natsSubscription) -> *const c_char {
    guard("natsSubscription_GetSubject", ptr::null(), || {
        sub_ref(sub).map_or(ptr::null(), |s| s.subject.as_ptr())
    })
}

/// The subscription id (0 for NULL).
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetID(sub: *mut natsSubscription) -> i64 {
    guard("natsSubscription_GetID", 0, || {
        sub_ref(sub).map_or(0, |s| s.get().sid() as i64)
    })
}

/// The connection of the subscription (NULL for NULL).
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetConnection(
    sub: *mut natsSubscription,
) -> *mut natsConnection {
    guard("natsSubscription_GetConnection", ptr::null_mut(), || {
        sub_ref(sub).map_or(ptr::null_mut(), |s| s.nc.0)
    })
}

/// Messages queued and not yet delivered.
///
/// NULL: `queuedMsgs` or `sub` NULL returns `NATS_INVALID_ARG`. A closed
/// subscription returns `NATS_INVALID_SUBSCRIPTION`.
///
/// # Safety
/// `sub` NULL or valid; `queuedMsgs` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_QueuedMsgs(
    sub: *mut natsSubscription,
    queuedMsgs: *mut u64,
) -> natsStatus {
    run("natsSubscription_QueuedMsgs", || {
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(queuedMsgs, "queuedMsgs") }?;
        let s = stats_ref(sub)?;
        *out = s.pending().0 as u64;
        Ok(())
    })
}

/// Messages dropped because of the pending limits.
///
/// NULL: `sub` or `msgs` NULL returns `NATS_INVALID_ARG`. A closed
/// subscription returns `NATS_INVALID_SUBSCRIPTION`.
///
/// # Safety
/// `sub` NULL or valid; `msgs` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetDropped(
    sub: *mut natsSubscription,
    msgs: *mut i64,
) -> natsStatus {
    run("natsSubscription_GetDropped", || {
        let s = sub_ref(sub)?;
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(msgs, "msgs") }?;
        let s = valid(s)?;
        *out = to_i64(s.dropped());
        Ok(())
    })
}

/// Messages delivered to the application.
///
/// NULL: `sub` or `msgs` NULL returns `NATS_INVALID_ARG`. A closed
/// subscription returns `NATS_INVALID_SUBSCRIPTION`.
///
/// # Safety
/// `sub` NULL or valid; `msgs` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetDelivered(
    sub: *mut natsSubscription,
    msgs: *mut i64,
) -> natsStatus {
    run("natsSubscription_GetDelivered", || {
        let s = sub_ref(sub)?;
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(msgs, "msgs") }?;
        let s = valid(s)?;
        *out = to_i64(s.delivered());
        Ok(())
    })
}

/// Sets the pending limits: a message that would take the pending count over
/// `msgLimit` or the pending size over `bytesLimit` is dropped (slow consumer).
/// A negative limit means no limit and is read back unchanged by
/// `natsSubscription_GetPendingLimits`.
///
/// NULL: `sub` NULL returns `NATS_INVALID_ARG`; so does a limit of 0. A closed
/// subscription returns `NATS_INVALID_SUBSCRIPTION`.
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_SetPendingLimits(
    sub: *mut natsSubscription,
    msgLimit: c_int,
    bytesLimit: c_int,
) -> natsStatus {
    run("natsSubscription_SetPendingLimits", || {
        let s = sub_ref(sub)?;
        if msgLimit == 0 || bytesLimit == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArg,
                "limits must be either > 0 or negative to specify no limit",
            ));
        }
        valid(s)?.set_pending_limits_raw(i64::from(msgLimit), i64::from(bytesLimit));
        Ok(())
    })
}

/// Reads the pending limits (negative: no limit). Each out-param may be NULL.
/// The defaults come from `natsOptions_SetMaxPendingMsgs` /
/// `natsOptions_SetMaxPendingBytes` (65536 messages, 64 MiB).
///
/// NULL: `sub` NULL returns `NATS_INVALID_ARG`. A closed subscription returns
/// `NATS_INVALID_SUBSCRIPTION`.
///
/// # Safety
/// `sub` NULL or valid; `msgLimit`, `bytesLimit` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetPendingLimits(
    sub: *mut natsSubscription,
    msgLimit: *mut c_int,
    bytesLimit: *mut c_int,
) -> natsStatus {
    run("natsSubscription_GetPendingLimits", || {
        let s = stats_ref(sub)?;
        let (m, b) = s.pending_limits_raw();
        // SAFETY: each is NULL or writable per the contract.
        unsafe {
            put(msgLimit, to_c_int_signed(m));
            put(bytesLimit, to_c_int_signed(b));
        }
        Ok(())
    })
}

/// Reads the number and size (headers plus payload) of the messages queued
/// and not yet delivered. Each out-param may be NULL.
///
/// NULL: `sub` NULL returns `NATS_INVALID_ARG`. A closed subscription returns
/// `NATS_INVALID_SUBSCRIPTION`.
///
/// # Safety
/// `sub` NULL or valid; `msgs`, `bytes` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetPending(
    sub: *mut natsSubscription,
    msgs: *mut c_int,
    bytes: *mut c_int,
) -> natsStatus {
    run("natsSubscription_GetPending", || {
        let (m, b) = stats_ref(sub)?.pending();
        // SAFETY: each is NULL or writable per the contract.
        unsafe {
            put(msgs, to_c_int(m));
            put(bytes, to_c_int(b));
        }
        Ok(())
    })
}

/// Reads the highest pending message count and size reached since the
/// subscription was created or `natsSubscription_ClearMaxPending` was called.
/// Each out-param may be NULL.
///
/// NULL: `sub` NULL returns `NATS_INVALID_ARG`. A closed subscription returns
/// `NATS_INVALID_SUBSCRIPTION`.
///
/// # Safety
/// `sub` NULL or valid; `msgs`, `bytes` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetMaxPending(
    sub: *mut natsSubscription,
    msgs: *mut c_int,
    bytes: *mut c_int,
) -> natsStatus {
    run("natsSubscription_GetMaxPending", || {
        let (m, b) = stats_ref(sub)?.max_pending();
        // SAFETY: each is NULL or writable per the contract.
        unsafe {
            put(msgs, to_c_int(m));
            put(bytes, to_c_int(b));
        }
        Ok(())
    })
}

/// Resets the values `natsSubscription_GetMaxPending` reports to 0.
///
/// NULL: `sub` NULL returns `NATS_INVALID_ARG`. A closed subscription returns
/// `NATS_INVALID_SUBSCRIPTION`.
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_ClearMaxPending(
    sub: *mut natsSubscription,
) -> natsStatus {
    run("natsSubscription_ClearMaxPending", || {
        stats_ref(sub)?.clear_max_pending();
        Ok(())
    })
}

/// Reads all statistics at once: pending messages and bytes, their maximums
/// (see `natsSubscription_GetMaxPending`), delivered and dropped messages.
/// Each out-param may be NULL.
///
/// NULL: `sub` NULL returns `NATS_INVALID_ARG`. A closed subscription returns
/// `NATS_INVALID_SUBSCRIPTION`.
///
/// # Safety
/// `sub` NULL or valid; every out-param NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetStats(
    sub: *mut natsSubscription,
    pendingMsgs: *mut c_int,
    pendingBytes: *mut c_int,
    maxPendingMsgs: *mut c_int,
    maxPendingBytes: *mut c_int,
    deliveredMsgs: *mut i64,
    droppedMsgs: *mut i64,
) -> natsStatus {
    run("natsSubscription_GetStats", || {
        let s = stats_ref(sub)?;
        let (pm, pb) = s.pending();
        let (mm, mb) = s.max_pending();
        // SAFETY: each is NULL or writable per the contract.
        unsafe {
            put(pendingMsgs, to_c_int(pm));
            put(pendingBytes, to_c_int(pb));
            put(maxPendingMsgs, to_c_int(mm));
            put(maxPendingBytes, to_c_int(mb));
            put(deliveredMsgs, to_i64(s.delivered()));
            put(droppedMsgs, to_i64(s.dropped()));
        }
        Ok(())
    })
}

/// Does nothing and returns `NATS_OK`: kept for compatibility (nats.c
/// deprecated it; messages are always delivered as soon as they arrive).
///
/// NULL: `sub` NULL returns `NATS_INVALID_ARG`. Any other subscription,
/// even a closed one, returns `NATS_OK`, as in nats.c.
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_NoDeliveryDelay(
    sub: *mut natsSubscription,
) -> natsStatus {
    run("natsSubscription_NoDeliveryDelay", || {
        sub_ref(sub).map(|_| ())
    })
}

/// The subscription for a statistics call: NULL is `NATS_INVALID_ARG`, a
/// closed one `NATS_INVALID_SUBSCRIPTION`.
fn stats_ref<'a>(sub: *mut natsSubscription) -> Result<&'a Subscription> {
    valid(sub_ref(sub)?)
}

fn valid(s: &natsSubscription) -> Result<&Subscription> {
    let s = s.get();
    s.check_stats()?;
    Ok(s)
}

/// Writes `v` to `*p` unless `p` is NULL.
///
/// # Safety
/// `p` NULL or writable.
unsafe fn put<T>(p: *mut T, v: T) {
    // SAFETY: NULL or writable per the caller's contract.
    if let Some(p) = unsafe { p.as_mut() } {
        *p = v;
    }
}

fn to_c_int(v: usize) -> c_int {
    c_int::try_from(v).unwrap_or(c_int::MAX)
}

fn to_c_int_signed(v: i64) -> c_int {
    c_int::try_from(v).unwrap_or(if v < 0 { -1 } else { c_int::MAX })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Unsubscribes if still valid and frees the subscription. After this returns
/// its callback is no longer invoked for new messages.
///
/// # Safety
/// `sub` NULL or valid; not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_Destroy(sub: *mut natsSubscription) {
    guard("natsSubscription_Destroy", (), || {
        if sub.is_null() {
            return;
        }
        // SAFETY: from Box::into_raw in subscribe; ownership returns here.
        let b = unsafe { Box::from_raw(sub) };
        if let Some(s) = b.sub.get() {
            // As nats.c: destroying stops delivery, a drain included (the
            // callback must not see this freed object).
            let _ = s.unsubscribe();
            b.registry.lock().remove(&s.sid());
        }
        drop(b);
    })
}

/// Starts draining the subscription, with nats.c's default limit of 30 s:
/// it stops receiving, delivers what it already has, then closes.
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_Drain(sub: *mut natsSubscription) -> natsStatus {
    run("natsSubscription_Drain", || sub_ref(sub)?.get().drain())
}

/// Starts draining with a limit of `timeout` ms (≤ 0: no limit); past it the
/// subscription closes and its drain status is `NATS_TIMEOUT`.
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_DrainTimeout(
    sub: *mut natsSubscription,
    timeout: i64,
) -> natsStatus {
    run("natsSubscription_DrainTimeout", || {
        sub_ref(sub)?.get().drain_timeout(positive_millis(timeout))
    })
}

/// Waits up to `timeout` ms (≤ 0: forever) for the drain to complete:
/// `NATS_OK`, `NATS_TIMEOUT`, or `NATS_ILLEGAL_STATE` if no drain started.
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_WaitForDrainCompletion(
    sub: *mut natsSubscription,
    timeout: i64,
) -> natsStatus {
    run("natsSubscription_WaitForDrainCompletion", || {
        sub_ref(sub)?.get().wait_drained(positive_millis(timeout))
    })
}

/// How the drain ended: `NATS_ILLEGAL_STATE` until it completed, then
/// `NATS_OK`, `NATS_TIMEOUT`, `NATS_CONNECTION_CLOSED`,
/// `NATS_INVALID_SUBSCRIPTION` (unsubscribed meanwhile) or a flush error.
/// The status is a result: the thread's last error is not changed by it.
///
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_DrainCompletionStatus(
    sub: *mut natsSubscription,
) -> natsStatus {
    if sub.is_null() {
        return run("natsSubscription_DrainCompletionStatus", || {
            Err(super::invalid("sub"))
        });
    }
    guard(
        "natsSubscription_DrainCompletionStatus",
        natsStatus::NATS_ERR,
        || match sub_ref(sub).map(|s| s.get().drain_status()) {
            Ok(Some(Ok(()))) => natsStatus::NATS_OK,
            Ok(Some(Err(e))) => natsStatus::from(e.kind()),
            Ok(None) => natsStatus::NATS_ILLEGAL_STATE,
            Err(e) => natsStatus::from(e.kind()),
        },
    )
}

/// Called once when an asynchronous subscription stops delivering.
pub type natsOnCompleteCB = Option<unsafe extern "C" fn(closure: *mut c_void)>;

/// Sets (or with a NULL `cb`, clears) the callback run once, on the delivery
/// thread, after the last message callback of this asynchronous
/// subscription, when it is unsubscribed, drained or its connection closed:
/// the point from which the closure may be freed.
///
/// # Safety
/// `sub` NULL or valid; `closure` is the user's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_SetOnCompleteCB(
    sub: *mut natsSubscription,
    cb: natsOnCompleteCB,
    closure: *mut c_void,
) -> natsStatus {
    run("natsSubscription_SetOnCompleteCB", || {
        let s = sub_ref(sub)?.get();
        let closure = SendPtr(closure);
        let f = cb.map(|f| {
            Box::new(move || {
                let c = &closure;
                // SAFETY: the user's callback with the user's closure, as
                // nats.c calls it.
                unsafe { f(c.0) }
            }) as crate::connection::OnComplete
        });
        s.set_on_complete(f)
    })
}

/// A C timeout in ms where ≤ 0 means none.
fn positive_millis(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms.unsigned_abs()))
}

#[allow(dead_code)]
fn _assert_send(p: SendPtr<natsSubscription>) -> impl Send {
    p
}
