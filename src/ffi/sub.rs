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
/// natsSubscription_GetSubject, natsSubscription_GetID, natsSubscription_Destroy, ...
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
/// # Safety
/// `sub` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_AutoUnsubscribe(
    sub: *mut natsSubscription,
    max: c_int,
) -> natsStatus {
    run("natsSubscription_AutoUnsubscribe", || {
        let s = sub_ref(sub)?;
        let m = u64::try_from(max)
            .ok()
            .filter(|&m| m > 0)
            .ok_or_else(|| Error::new(ErrorKind::InvalidArg, "max must be positive"))?;
        s.get().auto_unsubscribe(m)
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
/// # Safety
/// `sub` NULL or valid; `queuedMsgs` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_QueuedMsgs(
    sub: *mut natsSubscription,
    queuedMsgs: *mut u64,
) -> natsStatus {
    run("natsSubscription_QueuedMsgs", || {
        let s = sub_ref(sub)?;
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(queuedMsgs, "queuedMsgs") }?;
        *out = s.get().pending().0 as u64;
        Ok(())
    })
}

/// Messages dropped because of the pending limits.
///
/// # Safety
/// `sub` NULL or valid; `msgs` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetDropped(
    sub: *mut natsSubscription,
    msgs: *mut i64,
) -> natsStatus {
    run("natsSubscription_GetDropped", || {
        let s = sub_ref(sub)?;
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(msgs, "msgs") }?;
        *out = s.get().dropped() as i64;
        Ok(())
    })
}

/// Messages delivered to the application.
///
/// # Safety
/// `sub` NULL or valid; `msgs` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsSubscription_GetDelivered(
    sub: *mut natsSubscription,
    msgs: *mut i64,
) -> natsStatus {
    run("natsSubscription_GetDelivered", || {
        let s = sub_ref(sub)?;
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(msgs, "msgs") }?;
        *out = s.get().delivered() as i64;
        Ok(())
    })
}

/// Sets the pending limits (0 is invalid; negative means unlimited).
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
            return Err(Error::new(ErrorKind::InvalidArg, "limits must not be 0"));
        }
        let m = usize::try_from(msgLimit).ok();
        let b = usize::try_from(bytesLimit).ok();
        s.get().set_pending_limits(m, b);
        Ok(())
    })
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
            b.registry.lock().remove(&s.sid());
        }
        drop(b);
    })
}

#[allow(dead_code)]
fn _assert_send(p: SendPtr<natsSubscription>) -> impl Send {
    p
}
