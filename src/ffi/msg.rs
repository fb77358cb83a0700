//! `natsMsg_*` and `natsMsgHeader_*`.
//!
//! Header lookups that find nothing return `NATS_NOT_FOUND` without touching
//! the thread's last error: as in nats.c, "not there" is a normal answer, not
//! a failure worth a stack.

use std::ffi::{c_char, c_int};
use std::ptr;

use super::{c_array, guard, natsStatus, opt_str, raise, req_str};
use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;

/// A message (`natsMsg`). Created by `natsMsg_Create` or received; destroyed
/// with `natsMsg_Destroy`.
///
/// Methods: `natsMsg_Create`, `natsMsg_GetSubject`, `natsMsg_GetReply`,
/// `natsMsg_GetData`, `natsMsg_GetDataLength`, `natsMsg_IsNoResponders`,
/// `natsMsg_Destroy`, `natsMsgHeader_Set`, `natsMsgHeader_Add`,
/// `natsMsgHeader_Get`, `natsMsgHeader_Values`, `natsMsgHeader_Keys`,
/// `natsMsgHeader_Delete`.
///
/// A `natsMsg *` is the message's own block (see `crate::frame`): handing a
/// received message to C allocates nothing.
pub struct natsMsg {
    _opaque: [u8; 0],
}

/// A message seen through its C pointer; C still owns it.
pub(crate) struct MsgView<'a> {
    msg: std::mem::ManuallyDrop<Message>,
    _c: std::marker::PhantomData<&'a mut natsMsg>,
}

impl std::ops::Deref for MsgView<'_> {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.msg
    }
}

impl std::ops::DerefMut for MsgView<'_> {
    fn deref_mut(&mut self) -> &mut Message {
        &mut self.msg
    }
}

impl natsMsg {
    /// Hands a message to C, which now owns it.
    pub(crate) fn into_raw(msg: Message) -> *mut natsMsg {
        msg.into_raw().as_ptr().cast()
    }

    /// The message at `p` (NULL: `None`), left owned by C.
    ///
    /// # Safety
    /// `p` must be NULL or a live message from [`natsMsg::into_raw`], not
    /// changed by anyone else while the view is used.
    pub(crate) unsafe fn view<'a>(p: *const natsMsg) -> Option<MsgView<'a>> {
        let p = std::ptr::NonNull::new(p.cast_mut())?;
        // SAFETY: per the contract; `ManuallyDrop` leaves it to C to free.
        let msg = unsafe { Message::from_raw(p.cast()) };
        Some(MsgView {
            msg: std::mem::ManuallyDrop::new(msg),
            _c: std::marker::PhantomData,
        })
    }

    /// As [`natsMsg::view`], NULL being `InvalidArg` naming `what`.
    ///
    /// # Safety
    /// As [`natsMsg::view`].
    pub(crate) unsafe fn arg<'a>(p: *const natsMsg, what: &str) -> Result<MsgView<'a>> {
        // SAFETY: forwarded contract.
        unsafe { natsMsg::view(p) }.ok_or_else(|| super::invalid(what))
    }

    /// Takes back ownership of the message at `p` (NULL: `None`).
    ///
    /// # Safety
    /// `p` must be NULL or a live message from [`natsMsg::into_raw`] that
    /// the caller gives up (nothing uses it afterwards).
    pub(crate) unsafe fn take(p: *mut natsMsg) -> Option<Message> {
        let p = std::ptr::NonNull::new(p)?;
        // SAFETY: per the contract.
        Some(unsafe { Message::from_raw(p.cast()) })
    }
}

/// Runs a header function whose `Ok` value is the status to return, so that
/// `NATS_NOT_FOUND` can be answered without recording a last error.
pub(super) fn run_lookup(func: &'static str, f: impl FnOnce() -> Result<natsStatus>) -> natsStatus {
    guard(func, natsStatus::NATS_ERR, || match f() {
        Ok(s) => s,
        Err(e) => raise(func, &e),
    })
}

/// A header key given to a function that stores it: NULL, empty or not UTF-8
/// is `InvalidArg`.
///
/// # Safety
/// `key` must be NULL or a valid NUL-terminated string.
pub(super) unsafe fn store_key<'a>(key: *const c_char) -> Result<&'a str> {
    // SAFETY: forwarded contract.
    let k = unsafe { req_str(key, "key", ErrorKind::InvalidArg) }?;
    if k.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArg, "key must not be empty"));
    }
    Ok(k)
}

/// A header key given to a lookup (here and in `natsHeader_*`): NULL or empty is `InvalidArg`; a key that
/// is not UTF-8 cannot be stored, so it is simply absent (`None`).
///
/// # Safety
/// `key` must be NULL or a valid NUL-terminated string.
pub(super) unsafe fn lookup_key<'a>(key: *const c_char) -> Result<Option<&'a str>> {
    if key.is_null() {
        return Err(Error::new(ErrorKind::InvalidArg, "key must not be NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let k = unsafe { std::ffi::CStr::from_ptr(key) };
    if k.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArg, "key must not be empty"));
    }
    Ok(k.to_str().ok())
}

/// Creates a message for `subj`, with an optional `reply` and payload.
///
/// The payload is copied; the message adds a NUL byte after it so that
/// `natsMsg_GetData` can be read as a C string.
///
/// NULL: `newMsg` NULL, `subj` NULL or empty, or `reply` empty (not NULL) →
/// `NATS_INVALID_ARG`; `reply` NULL means no reply subject. `data` NULL with
/// `dataLen` 0 is an empty payload; `data` NULL with a positive `dataLen`
/// gives that many zero bytes (nats.c leaves them uninitialized). A negative
/// `dataLen` is `NATS_INVALID_ARG`. Unlike nats.c, a subject or reply holding
/// whitespace or control characters is rejected with `NATS_INVALID_ARG`
/// (protocol injection), and so is one that is not UTF-8.
///
/// Ownership: on success `*newMsg` receives a new message that the caller
/// destroys with `natsMsg_Destroy`; on failure `*newMsg` is left unchanged.
///
/// # Safety
/// `newMsg` must be NULL or writable; `subj` and `reply` NULL or
/// NUL-terminated; `data` NULL or pointing to `dataLen` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsg_Create(
    newMsg: *mut *mut natsMsg,
    subj: *const c_char,
    reply: *const c_char,
    data: *const c_char,
    dataLen: c_int,
) -> natsStatus {
    super::run("natsMsg_Create", || {
        if newMsg.is_null() {
            return Err(super::invalid("newMsg"));
        }
        // SAFETY: NULL or NUL-terminated per the contract.
        let subject = unsafe { req_str(subj, "subject", ErrorKind::InvalidArg) }?;
        if subject.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidArg,
                "subject must not be empty",
            ));
        }
        // SAFETY: NULL or NUL-terminated per the contract.
        let reply = unsafe { opt_str(reply, "reply") }?;
        let zeros;
        let payload = if data.is_null() && dataLen > 0 {
            let mut v = Vec::new();
            v.try_reserve_exact(dataLen as usize)
                .map_err(|_| Error::new(ErrorKind::NoMemory, "out of memory"))?;
            v.resize(dataLen as usize, 0u8);
            zeros = v;
            zeros.as_slice()
        } else {
            // SAFETY: `dataLen` readable bytes at `data` when non-NULL, per
            // the contract; a negative length is rejected by `bytes`.
            unsafe { super::bytes(data.cast(), dataLen) }?
        };
        let msg = Message::build(subject, reply, payload)?;
        // SAFETY: `newMsg` is non-NULL and writable per the contract.
        unsafe { *newMsg = natsMsg::into_raw(msg) };
        Ok(())
    })
}

/// Returns the message's subject.
///
/// NULL: `msg` NULL → NULL.
///
/// Ownership: the string belongs to the message and lives as long as it.
///
/// # Safety
/// `msg` must be NULL or a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsg_GetSubject(msg: *const natsMsg) -> *const c_char {
    guard("natsMsg_GetSubject", ptr::null(), || {
        // SAFETY: NULL or a live message per the contract.
        match unsafe { natsMsg::view(msg) } {
            Some(m) => m.subject_cstr().as_ptr(),
            None => ptr::null(),
        }
    })
}

/// Returns the message's reply subject, or NULL if it has none.
///
/// NULL: `msg` NULL → NULL.
///
/// Ownership: the string belongs to the message and lives as long as it.
///
/// # Safety
/// `msg` must be NULL or a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsg_GetReply(msg: *const natsMsg) -> *const c_char {
    guard("natsMsg_GetReply", ptr::null(), || {
        // SAFETY: NULL or a live message per the contract.
        unsafe { natsMsg::view(msg) }
            .and_then(|m| m.reply_cstr().map(std::ffi::CStr::as_ptr))
            .unwrap_or(ptr::null())
    })
}

/// Returns the message's payload, followed by a NUL byte.
///
/// The payload may itself hold NUL bytes: use `natsMsg_GetDataLength` for its
/// size. An empty payload gives "" (never NULL).
///
/// NULL: `msg` NULL → NULL.
///
/// Ownership: the bytes belong to the message and live as long as it.
///
/// # Safety
/// `msg` must be NULL or a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsg_GetData(msg: *const natsMsg) -> *const c_char {
    guard("natsMsg_GetData", ptr::null(), || {
        // SAFETY: NULL or a live message per the contract.
        match unsafe { natsMsg::view(msg) } {
            Some(m) => m.payload_with_nul().as_ptr().cast(),
            None => ptr::null(),
        }
    })
}

/// Returns the size of the message's payload in bytes.
///
/// NULL: `msg` NULL → 0.
///
/// # Safety
/// `msg` must be NULL or a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsg_GetDataLength(msg: *const natsMsg) -> c_int {
    guard("natsMsg_GetDataLength", 0, || {
        // SAFETY: NULL or a live message per the contract.
        match unsafe { natsMsg::view(msg) } {
            Some(m) => c_int::try_from(m.payload().len()).unwrap_or(c_int::MAX),
            None => 0,
        }
    })
}

/// Tells whether the message is the server's "no responders" answer (an
/// empty payload with the header `Status: 503`).
///
/// NULL: `msg` NULL → false.
///
/// # Safety
/// `msg` must be NULL or a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsg_IsNoResponders(msg: *mut natsMsg) -> bool {
    guard("natsMsg_IsNoResponders", false, || {
        // SAFETY: NULL or a live message per the contract.
        unsafe { natsMsg::view(msg) }.is_some_and(|m| m.is_no_responders())
    })
}

/// Destroys a message, freeing its memory.
///
/// NULL: `msg` NULL does nothing.
///
/// Ownership: every pointer obtained from the message (subject, data, header
/// strings) becomes invalid.
///
/// # Safety
/// `msg` must be NULL or a message not yet destroyed, used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsg_Destroy(msg: *mut natsMsg) {
    guard("natsMsg_Destroy", (), || {
        if !msg.is_null() {
            // SAFETY: a live message created by `natsMsg::into_raw`, owned
            // by the caller, who gives it up here.
            drop(unsafe { natsMsg::take(msg) });
        }
    })
}

/// Sets the header `key` to the single value `value`, replacing any values it
/// had.
///
/// Keys are case-sensitive. CR and LF in `value` are sent as spaces.
///
/// NULL: `msg` NULL, or `key` NULL or empty → `NATS_INVALID_ARG`. `value`
/// NULL is stored as the empty string, so `natsMsgHeader_Get` then returns ""
/// (nats.c returns NULL for it until the message is sent). Unlike nats.c, a
/// key holding `:`, blanks, control or non-ASCII characters, and a key or
/// value that is not UTF-8, are rejected with `NATS_INVALID_ARG` (they would
/// corrupt the header block).
///
/// Ownership: `key` and `value` are copied. Strings previously returned for
/// this message's headers become invalid.
///
/// Thread-safety: a message's headers must not be used from several threads
/// at once.
///
/// # Safety
/// `msg` must be NULL or a live message; `key` and `value` NULL or
/// NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsgHeader_Set(
    msg: *mut natsMsg,
    key: *const c_char,
    value: *const c_char,
) -> natsStatus {
    super::run("natsMsgHeader_Set", || {
        // SAFETY: NULL or a live message not used elsewhere, per the contract.
        let mut m = unsafe { natsMsg::arg(msg, "message") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let key = unsafe { store_key(key) }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let value = unsafe { opt_str(value, "value") }?.unwrap_or("");
        m.headers_mut().insert(key, value)
    })
}

/// Adds `value` to the values of the header `key` (creating the key if
/// needed).
///
/// Keys are case-sensitive. CR and LF in `value` are sent as spaces.
///
/// NULL: as for `natsMsgHeader_Set` (a NULL `value` is stored as "").
///
/// Ownership: `key` and `value` are copied. Strings previously returned for
/// this message's headers become invalid.
///
/// Thread-safety: a message's headers must not be used from several threads
/// at once.
///
/// # Safety
/// `msg` must be NULL or a live message; `key` and `value` NULL or
/// NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsgHeader_Add(
    msg: *mut natsMsg,
    key: *const c_char,
    value: *const c_char,
) -> natsStatus {
    super::run("natsMsgHeader_Add", || {
        // SAFETY: NULL or a live message not used elsewhere, per the contract.
        let mut m = unsafe { natsMsg::arg(msg, "message") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let key = unsafe { store_key(key) }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let value = unsafe { opt_str(value, "value") }?.unwrap_or("");
        m.headers_mut().append(key, value)
    })
}

/// Gets the first value of the header `key` (keys are case-sensitive).
///
/// Returns `NATS_NOT_FOUND` if the message has no such key (the thread's last
/// error is then left as it was, as in nats.c).
///
/// NULL: `msg` NULL, `key` NULL or empty, or `value` NULL →
/// `NATS_INVALID_ARG`. `*value` is set to NULL unless a value is found.
///
/// Ownership: the string belongs to the message; it stays valid until the
/// message's headers are changed or the message is destroyed.
///
/// # Safety
/// `msg` must be NULL or a live message; `key` NULL or NUL-terminated;
/// `value` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsgHeader_Get(
    msg: *mut natsMsg,
    key: *const c_char,
    value: *mut *const c_char,
) -> natsStatus {
    run_lookup("natsMsgHeader_Get", || {
        if !value.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *value = ptr::null() };
        }
        // SAFETY: NULL or a live message per the contract.
        let m = unsafe { natsMsg::arg(msg, "message") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let key = unsafe { lookup_key(key) }?;
        if value.is_null() {
            return Err(super::invalid("value"));
        }
        let found = key.and_then(|k| m.headers().and_then(|h| h.get_cstr(k)));
        match found {
            Some(v) => {
                // SAFETY: non-NULL and writable per the contract.
                unsafe { *value = v.as_ptr() };
                Ok(natsStatus::NATS_OK)
            }
            None => Ok(natsStatus::NATS_NOT_FOUND),
        }
    })
}

/// Gets all values of the header `key`, in the order they were added.
///
/// Returns `NATS_NOT_FOUND` if the message has no such key (the thread's last
/// error is then left as it was, as in nats.c).
///
/// NULL: `msg` NULL, `key` NULL or empty, `values` or `count` NULL →
/// `NATS_INVALID_ARG`. `*values` is set to NULL and `*count` to 0 unless
/// values are found.
///
/// Ownership: the caller frees the array `*values` with `free()`, but not the
/// strings, which belong to the message and stay valid until its headers are
/// changed or it is destroyed.
///
/// # Safety
/// `msg` must be NULL or a live message; `key` NULL or NUL-terminated;
/// `values` and `count` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsgHeader_Values(
    msg: *mut natsMsg,
    key: *const c_char,
    values: *mut *mut *const c_char,
    count: *mut c_int,
) -> natsStatus {
    run_lookup("natsMsgHeader_Values", || {
        // SAFETY: each is NULL or writable per the contract.
        unsafe { clear_outputs(values, count) };
        // SAFETY: NULL or a live message per the contract.
        let m = unsafe { natsMsg::arg(msg, "message") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let key = unsafe { lookup_key(key) }?;
        if values.is_null() || count.is_null() {
            return Err(Error::new(
                ErrorKind::InvalidArg,
                "values and count must not be NULL",
            ));
        }
        let ptrs: Vec<*const c_char> = match (key, m.headers()) {
            (Some(k), Some(h)) => h.values_cstr(k).iter().map(|v| v.as_ptr()).collect(),
            _ => Vec::new(),
        };
        // SAFETY: both outputs are non-NULL and writable per the contract.
        unsafe { hand_out(&ptrs, values, count) }
    })
}

/// Gets all header keys of the message, in the order they were added.
///
/// Returns `NATS_NOT_FOUND` if the message has no headers (the thread's last
/// error is then left as it was, as in nats.c).
///
/// NULL: `msg`, `keys` or `count` NULL → `NATS_INVALID_ARG`. `*keys` is set
/// to NULL and `*count` to 0 unless keys are found.
///
/// Ownership: the caller frees the array `*keys` with `free()`, but not the
/// strings, which belong to the message and stay valid until its headers are
/// changed or it is destroyed.
///
/// # Safety
/// `msg` must be NULL or a live message; `keys` and `count` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsgHeader_Keys(
    msg: *mut natsMsg,
    keys: *mut *mut *const c_char,
    count: *mut c_int,
) -> natsStatus {
    run_lookup("natsMsgHeader_Keys", || {
        // SAFETY: each is NULL or writable per the contract.
        unsafe { clear_outputs(keys, count) };
        // SAFETY: NULL or a live message per the contract.
        let m = unsafe { natsMsg::arg(msg, "message") }?;
        if keys.is_null() || count.is_null() {
            return Err(Error::new(
                ErrorKind::InvalidArg,
                "keys and count must not be NULL",
            ));
        }
        let ptrs: Vec<*const c_char> = match m.headers() {
            Some(h) => h.keys_cstr().iter().map(|k| k.as_ptr()).collect(),
            None => Vec::new(),
        };
        // SAFETY: both outputs are non-NULL and writable per the contract.
        unsafe { hand_out(&ptrs, keys, count) }
    })
}

/// Removes the header `key` and all its values (keys are case-sensitive).
///
/// Returns `NATS_NOT_FOUND` if the message has no such key (the thread's last
/// error is then left as it was, as in nats.c).
///
/// NULL: `msg` NULL, or `key` NULL or empty → `NATS_INVALID_ARG`.
///
/// Ownership: strings previously returned for this message's headers become
/// invalid.
///
/// # Safety
/// `msg` must be NULL or a live message; `key` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsgHeader_Delete(msg: *mut natsMsg, key: *const c_char) -> natsStatus {
    run_lookup("natsMsgHeader_Delete", || {
        // SAFETY: NULL or a live message not used elsewhere, per the contract.
        let mut m = unsafe { natsMsg::arg(msg, "message") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let key = unsafe { lookup_key(key) }?;
        let removed = match (key, m.headers_opt_mut()) {
            (Some(k), Some(h)) => h.remove(k),
            _ => false,
        };
        Ok(if removed {
            natsStatus::NATS_OK
        } else {
            natsStatus::NATS_NOT_FOUND
        })
    })
}

/// Sets the array and count outputs to NULL and 0 where they are non-NULL.
///
/// # Safety
/// Each pointer must be NULL or writable.
unsafe fn clear_outputs(array: *mut *mut *const c_char, count: *mut c_int) {
    if !array.is_null() {
        // SAFETY: non-NULL and writable per the caller's contract.
        unsafe { *array = ptr::null_mut() };
    }
    if !count.is_null() {
        // SAFETY: non-NULL and writable per the caller's contract.
        unsafe { *count = 0 };
    }
}

/// Hands `ptrs` to C as a malloc'd array plus its length; nothing is
/// `NATS_NOT_FOUND`.
///
/// # Safety
/// `array` and `count` must be non-NULL and writable.
pub(super) unsafe fn hand_out(
    ptrs: &[*const c_char],
    array: *mut *mut *const c_char,
    count: *mut c_int,
) -> Result<natsStatus> {
    if ptrs.is_empty() {
        return Ok(natsStatus::NATS_NOT_FOUND);
    }
    let n = c_int::try_from(ptrs.len())
        .map_err(|_| Error::new(ErrorKind::Other, "too many header entries"))?;
    let arr = c_array(ptrs)?;
    // SAFETY: non-NULL and writable per the caller's contract.
    unsafe {
        *array = arr;
        *count = n;
    }
    Ok(natsStatus::NATS_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn create(subj: &CStr, reply: Option<&CStr>, data: &[u8]) -> *mut natsMsg {
        let mut m: *mut natsMsg = ptr::null_mut();
        let r = reply.map_or(ptr::null(), CStr::as_ptr);
        // SAFETY: valid strings and `data.len()` readable bytes.
        let s = unsafe {
            natsMsg_Create(
                &mut m,
                subj.as_ptr(),
                r,
                data.as_ptr().cast(),
                data.len() as c_int,
            )
        };
        assert_eq!(s, natsStatus::NATS_OK);
        assert!(!m.is_null());
        m
    }

    /// Reads a C string returned by the library.
    fn text<'a>(p: *const c_char) -> &'a str {
        assert!(!p.is_null());
        // SAFETY: the library returned a NUL-terminated string.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    /// Collects and frees an array handed out by Values/Keys.
    fn collect(arr: *mut *const c_char, count: c_int) -> Vec<String> {
        assert!(!arr.is_null());
        // SAFETY: `arr` holds `count` string pointers; it was malloc'd.
        unsafe {
            let v = std::slice::from_raw_parts(arr, count as usize)
                .iter()
                .map(|&p| text(p).to_owned())
                .collect();
            libc::free(arr.cast());
            v
        }
    }

    #[test]
    fn create_and_read() {
        let m = create(c"foo", Some(c"bar"), b"hello");
        // SAFETY: `m` is a live message, destroyed at the end.
        unsafe {
            assert_eq!(text(natsMsg_GetSubject(m)), "foo");
            assert_eq!(text(natsMsg_GetReply(m)), "bar");
            assert_eq!(text(natsMsg_GetData(m)), "hello");
            assert_eq!(natsMsg_GetDataLength(m), 5);
            assert!(!natsMsg_IsNoResponders(m));
            natsMsg_Destroy(m);
        }
        let m = create(c"foo", None, b"");
        // SAFETY: `m` is a live message, destroyed at the end.
        unsafe {
            assert!(natsMsg_GetReply(m).is_null());
            assert_eq!(text(natsMsg_GetData(m)), "");
            assert_eq!(natsMsg_GetDataLength(m), 0);
            natsMsg_Destroy(m);
        }
    }

    #[test]
    fn create_null_data() {
        let mut m: *mut natsMsg = ptr::null_mut();
        // SAFETY: valid arguments; NULL data is allowed.
        unsafe {
            assert_eq!(
                natsMsg_Create(&mut m, c"a".as_ptr(), ptr::null(), ptr::null(), 0),
                natsStatus::NATS_OK
            );
            assert_eq!(natsMsg_GetDataLength(m), 0);
            natsMsg_Destroy(m);
            assert_eq!(
                natsMsg_Create(&mut m, c"a".as_ptr(), ptr::null(), ptr::null(), 3),
                natsStatus::NATS_OK
            );
            assert_eq!(natsMsg_GetDataLength(m), 3);
            let d = std::slice::from_raw_parts(natsMsg_GetData(m).cast::<u8>(), 4);
            assert_eq!(d, &[0, 0, 0, 0]);
            natsMsg_Destroy(m);
        }
    }

    #[test]
    fn create_invalid_args() {
        let mut m: *mut natsMsg = ptr::null_mut();
        let inv = natsStatus::NATS_INVALID_ARG;
        // SAFETY: every pointer is NULL or valid.
        unsafe {
            let d = c"x".as_ptr();
            assert_eq!(
                natsMsg_Create(ptr::null_mut(), c"a".as_ptr(), ptr::null(), d, 1),
                inv
            );
            assert_eq!(natsMsg_Create(&mut m, ptr::null(), ptr::null(), d, 1), inv);
            assert_eq!(natsMsg_Create(&mut m, c"".as_ptr(), ptr::null(), d, 1), inv);
            assert_eq!(
                natsMsg_Create(&mut m, c"a".as_ptr(), c"".as_ptr(), d, 1),
                inv
            );
            assert_eq!(
                natsMsg_Create(&mut m, c"a b".as_ptr(), ptr::null(), d, 1),
                inv
            );
            assert_eq!(
                natsMsg_Create(&mut m, c"a".as_ptr(), c"r x".as_ptr(), d, 1),
                inv
            );
            assert_eq!(
                natsMsg_Create(&mut m, c"a".as_ptr(), ptr::null(), d, -1),
                inv
            );
            assert!(m.is_null(), "*newMsg is only set on success");
        }
    }

    #[test]
    fn null_message_getters() {
        // SAFETY: NULL is accepted everywhere.
        unsafe {
            assert!(natsMsg_GetSubject(ptr::null()).is_null());
            assert!(natsMsg_GetReply(ptr::null()).is_null());
            assert!(natsMsg_GetData(ptr::null()).is_null());
            assert_eq!(natsMsg_GetDataLength(ptr::null()), 0);
            assert!(!natsMsg_IsNoResponders(ptr::null_mut()));
            natsMsg_Destroy(ptr::null_mut());
        }
    }

    #[test]
    fn headers_set_add_get() {
        let m = create(c"foo", None, b"");
        // SAFETY: `m` is live; strings are valid; arrays are freed in `collect`.
        unsafe {
            let mut v: *const c_char = c"junk".as_ptr();
            assert_eq!(
                natsMsgHeader_Get(m, c"k".as_ptr(), &mut v),
                natsStatus::NATS_NOT_FOUND
            );
            assert!(v.is_null());

            assert_eq!(
                natsMsgHeader_Set(m, c"k".as_ptr(), c"v1".as_ptr()),
                natsStatus::NATS_OK
            );
            assert_eq!(
                natsMsgHeader_Add(m, c"k".as_ptr(), c"v2".as_ptr()),
                natsStatus::NATS_OK
            );
            assert_eq!(
                natsMsgHeader_Add(m, c"K".as_ptr(), c"upper".as_ptr()),
                natsStatus::NATS_OK
            );
            assert_eq!(
                natsMsgHeader_Get(m, c"k".as_ptr(), &mut v),
                natsStatus::NATS_OK
            );
            assert_eq!(text(v), "v1");
            assert_eq!(
                natsMsgHeader_Get(m, c"K".as_ptr(), &mut v),
                natsStatus::NATS_OK
            );
            assert_eq!(text(v), "upper");

            let mut arr: *mut *const c_char = ptr::null_mut();
            let mut n: c_int = -1;
            assert_eq!(
                natsMsgHeader_Values(m, c"k".as_ptr(), &mut arr, &mut n),
                natsStatus::NATS_OK
            );
            assert_eq!(collect(arr, n), ["v1", "v2"]);
            assert_eq!(
                natsMsgHeader_Values(m, c"missing".as_ptr(), &mut arr, &mut n),
                natsStatus::NATS_NOT_FOUND
            );
            assert!(arr.is_null());
            assert_eq!(n, 0);

            assert_eq!(natsMsgHeader_Keys(m, &mut arr, &mut n), natsStatus::NATS_OK);
            assert_eq!(collect(arr, n), ["k", "K"]);

            // Set replaces all values; a NULL value is stored as "".
            assert_eq!(
                natsMsgHeader_Set(m, c"k".as_ptr(), ptr::null()),
                natsStatus::NATS_OK
            );
            assert_eq!(
                natsMsgHeader_Get(m, c"k".as_ptr(), &mut v),
                natsStatus::NATS_OK
            );
            assert_eq!(text(v), "");
            assert_eq!(
                natsMsgHeader_Values(m, c"k".as_ptr(), &mut arr, &mut n),
                natsStatus::NATS_OK
            );
            assert_eq!(collect(arr, n), [""]);
            assert_eq!(
                natsMsgHeader_Add(m, c"n".as_ptr(), ptr::null()),
                natsStatus::NATS_OK
            );

            assert_eq!(natsMsgHeader_Delete(m, c"k".as_ptr()), natsStatus::NATS_OK);
            assert_eq!(
                natsMsgHeader_Delete(m, c"k".as_ptr()),
                natsStatus::NATS_NOT_FOUND
            );
            assert_eq!(
                natsMsgHeader_Get(m, c"k".as_ptr(), &mut v),
                natsStatus::NATS_NOT_FOUND
            );
            assert_eq!(
                natsMsgHeader_Get(m, c"K".as_ptr(), &mut v),
                natsStatus::NATS_OK
            );
            assert_eq!(natsMsgHeader_Delete(m, c"K".as_ptr()), natsStatus::NATS_OK);
            assert_eq!(natsMsgHeader_Delete(m, c"n".as_ptr()), natsStatus::NATS_OK);
            assert_eq!(
                natsMsgHeader_Keys(m, &mut arr, &mut n),
                natsStatus::NATS_NOT_FOUND
            );
            assert!(arr.is_null());
            natsMsg_Destroy(m);
        }
    }

    #[test]
    fn headers_without_any() {
        let m = create(c"foo", None, b"x");
        // SAFETY: `m` is live; outputs are valid.
        unsafe {
            let mut arr: *mut *const c_char = ptr::null_mut();
            let mut n: c_int = 0;
            assert_eq!(
                natsMsgHeader_Keys(m, &mut arr, &mut n),
                natsStatus::NATS_NOT_FOUND
            );
            assert_eq!(
                natsMsgHeader_Values(m, c"a".as_ptr(), &mut arr, &mut n),
                natsStatus::NATS_NOT_FOUND
            );
            assert_eq!(
                natsMsgHeader_Delete(m, c"a".as_ptr()),
                natsStatus::NATS_NOT_FOUND
            );
            natsMsg_Destroy(m);
        }
    }

    #[test]
    fn headers_invalid_args() {
        let m = create(c"foo", None, b"");
        let inv = natsStatus::NATS_INVALID_ARG;
        // SAFETY: every pointer is NULL or valid.
        unsafe {
            let mut v: *const c_char = ptr::null();
            let mut arr: *mut *const c_char = ptr::null_mut();
            let mut n: c_int = 0;
            let k = c"k".as_ptr();
            let nul = ptr::null_mut::<natsMsg>();
            assert_eq!(natsMsgHeader_Set(nul, k, k), inv);
            assert_eq!(natsMsgHeader_Set(m, ptr::null(), k), inv);
            assert_eq!(natsMsgHeader_Set(m, c"".as_ptr(), k), inv);
            assert_eq!(natsMsgHeader_Set(m, c"a:b".as_ptr(), k), inv);
            assert_eq!(natsMsgHeader_Add(nul, k, k), inv);
            assert_eq!(natsMsgHeader_Add(m, ptr::null(), k), inv);
            assert_eq!(natsMsgHeader_Add(m, c"".as_ptr(), k), inv);
            assert_eq!(natsMsgHeader_Get(nul, k, &mut v), inv);
            assert_eq!(natsMsgHeader_Get(m, ptr::null(), &mut v), inv);
            assert_eq!(natsMsgHeader_Get(m, c"".as_ptr(), &mut v), inv);
            assert_eq!(natsMsgHeader_Get(m, k, ptr::null_mut()), inv);
            assert_eq!(natsMsgHeader_Values(nul, k, &mut arr, &mut n), inv);
            assert_eq!(natsMsgHeader_Values(m, ptr::null(), &mut arr, &mut n), inv);
            assert_eq!(natsMsgHeader_Values(m, c"".as_ptr(), &mut arr, &mut n), inv);
            assert_eq!(natsMsgHeader_Values(m, k, ptr::null_mut(), &mut n), inv);
            assert_eq!(natsMsgHeader_Values(m, k, &mut arr, ptr::null_mut()), inv);
            assert_eq!(natsMsgHeader_Keys(nul, &mut arr, &mut n), inv);
            assert_eq!(natsMsgHeader_Keys(m, ptr::null_mut(), &mut n), inv);
            assert_eq!(natsMsgHeader_Keys(m, &mut arr, ptr::null_mut()), inv);
            assert_eq!(natsMsgHeader_Delete(nul, k), inv);
            assert_eq!(natsMsgHeader_Delete(m, ptr::null()), inv);
            assert_eq!(natsMsgHeader_Delete(m, c"".as_ptr()), inv);
            natsMsg_Destroy(m);
        }
    }

    #[test]
    fn not_found_keeps_last_error() {
        let m = create(c"foo", None, b"");
        // SAFETY: every pointer is NULL or valid.
        unsafe {
            let mut v: *const c_char = ptr::null();
            assert_eq!(
                natsMsgHeader_Get(m, ptr::null(), &mut v),
                natsStatus::NATS_INVALID_ARG
            );
            assert_eq!(
                natsMsgHeader_Get(m, c"nope".as_ptr(), &mut v),
                natsStatus::NATS_NOT_FOUND
            );
            natsMsg_Destroy(m);
        }
        super::super::LAST_ERROR.with(|l| {
            let l = l.borrow();
            assert_eq!(l.status, natsStatus::NATS_INVALID_ARG);
            assert_eq!(l.frames, ["natsMsgHeader_Get"]);
        });
    }

    #[test]
    fn no_responders() {
        let frame = crate::proto::MsgFrame::build(1, "inbox", None, b"NATS/1.0 503\r\n\r\n", b"");
        let m = natsMsg::into_raw(Message::from_frame_lenient(frame));
        // SAFETY: `m` is live, destroyed at the end.
        unsafe {
            assert!(natsMsg_IsNoResponders(m));
            let mut v: *const c_char = ptr::null();
            assert_eq!(
                natsMsgHeader_Get(m, c"Status".as_ptr(), &mut v),
                natsStatus::NATS_OK
            );
            assert_eq!(text(v), "503");
            natsMsg_Destroy(m);
        }
    }
}
