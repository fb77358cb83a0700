//! `natsHeader_*`: a standalone header map (nats.c added it after 3.4.1 for
//! the object store's metadata), backed by the same [`Headers`] type as a
//! message's headers.
//!
//! As in nats.c, lookups that find nothing return `NATS_NOT_FOUND` without
//! touching the thread's last error, while NULL or empty arguments are
//! `NATS_INVALID_ARG` with a last error recorded.

use std::ffi::{CStr, c_char, c_int};
use std::ptr;

use super::msg::{hand_out, lookup_key, run_lookup, store_key};
use super::{arg_mut, arg_ref, guard, natsStatus, req_str};
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;

/// A header map (`natsHeader`): keys mapped to one or more string values.
///
/// Keys are case-sensitive and kept in the order they were first set.
/// Created by `natsHeader_New`, destroyed with `natsHeader_Destroy`. Not
/// thread-safe: one header must not be used from several threads at once.
///
/// Methods: `natsHeader_New`, `natsHeader_Set`, `natsHeader_Add`,
/// `natsHeader_Get`, `natsHeader_Values`, `natsHeader_Keys`,
/// `natsHeader_KeysCount`, `natsHeader_Delete`, `natsHeader_Destroy`.
pub struct natsHeader {
    headers: Headers,
}

/// `InvalidArg` unless every pointer in `outs` is non-NULL.
fn require_outputs(outs: &[bool], what: &str) -> Result<()> {
    if outs.iter().all(|&ok| ok) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidArg,
            format!("{what} must not be NULL"),
        ))
    }
}

/// The key and value given to `natsHeader_Set`/`natsHeader_Add`: each must
/// be non-NULL UTF-8 and the key non-empty, else `InvalidArg`.
///
/// # Safety
/// `key` and `value` must be NULL or valid NUL-terminated strings.
unsafe fn entry_args<'a>(key: *const c_char, value: *const c_char) -> Result<(&'a str, &'a str)> {
    // SAFETY: forwarded contract.
    let key = unsafe { store_key(key) }?;
    // SAFETY: forwarded contract.
    let value = unsafe { req_str(value, "value", ErrorKind::InvalidArg) }?;
    Ok((key, value))
}

/// Creates an empty header map.
///
/// NULL: `new_header` NULL → `NATS_INVALID_ARG`.
///
/// Ownership: on success `*new_header` receives a new header map that the
/// caller destroys with `natsHeader_Destroy`; on failure it is left unchanged.
///
/// # Safety
/// `new_header` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsHeader_New(new_header: *mut *mut natsHeader) -> natsStatus {
    super::run("natsHeader_New", || {
        if new_header.is_null() {
            return Err(super::invalid("new_header"));
        }
        let h = Box::into_raw(Box::new(natsHeader {
            headers: Headers::new(),
        }));
        // SAFETY: non-NULL and writable per the contract.
        unsafe { *new_header = h };
        Ok(())
    })
}

/// Sets `key` to the single value `value`, replacing any values it had (a
/// key already present keeps its place in `natsHeader_Keys`).
///
/// Keys are case-sensitive. CR and LF in `value` are stored as spaces (so the
/// map can become message headers without corrupting the header block).
///
/// NULL: `h` NULL, `key` NULL or empty, or `value` NULL → `NATS_INVALID_ARG`
/// (as nats.c's code does; an empty `value` is fine). Unlike nats.c, a key
/// holding `:`, blanks, control or non-ASCII characters, and a key or value
/// that is not UTF-8, are rejected with `NATS_INVALID_ARG`, as for
/// `natsMsgHeader_Set`.
///
/// Ownership: `key` and `value` are copied. Strings previously returned for
/// this key become invalid.
///
/// Thread-safety: a header map must not be used from several threads at once.
///
/// # Safety
/// `h` must be NULL or a live header map; `key` and `value` NULL or
/// NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsHeader_Set(
    h: *mut natsHeader,
    key: *const c_char,
    value: *const c_char,
) -> natsStatus {
    super::run("natsHeader_Set", || {
        // SAFETY: NULL or a live header map not used elsewhere, per the contract.
        let h = unsafe { arg_mut(h, "header") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let (key, value) = unsafe { entry_args(key, value) }?;
        h.headers.insert(key, value)
    })
}

/// Appends `value` to the values of `key`, creating the key if needed.
///
/// Keys are case-sensitive; values keep the order in which they were added.
/// CR and LF in `value` are stored as spaces.
///
/// NULL: as for `natsHeader_Set` (`value` NULL → `NATS_INVALID_ARG`).
///
/// Ownership: `key` and `value` are copied.
///
/// Thread-safety: a header map must not be used from several threads at once.
///
/// # Safety
/// `h` must be NULL or a live header map; `key` and `value` NULL or
/// NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsHeader_Add(
    h: *mut natsHeader,
    key: *const c_char,
    value: *const c_char,
) -> natsStatus {
    super::run("natsHeader_Add", || {
        // SAFETY: NULL or a live header map not used elsewhere, per the contract.
        let h = unsafe { arg_mut(h, "header") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let (key, value) = unsafe { entry_args(key, value) }?;
        h.headers.append(key, value)
    })
}

/// Gets the first value of `key` (keys are case-sensitive).
///
/// Returns `NATS_NOT_FOUND` if there is no such key (the thread's last error
/// is then left as it was, as in nats.c).
///
/// NULL: `h` NULL, `key` NULL or empty, or `value` NULL → `NATS_INVALID_ARG`
/// (and `*value` is left unchanged). Otherwise `*value` is set to NULL unless
/// a value is found.
///
/// Ownership: the string belongs to the header map and must not be freed or
/// altered; it stays valid until the map is modified or destroyed.
///
/// # Safety
/// `h` must be NULL or a live header map; `key` NULL or NUL-terminated;
/// `value` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsHeader_Get(
    h: *mut natsHeader,
    key: *const c_char,
    value: *mut *const c_char,
) -> natsStatus {
    run_lookup("natsHeader_Get", || {
        // SAFETY: NULL or a live header map per the contract.
        let h = unsafe { arg_ref(h.cast_const(), "header") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let key = unsafe { lookup_key(key) }?;
        require_outputs(&[!value.is_null()], "value")?;
        let found = key.and_then(|k| h.headers.get_cstr(k));
        // SAFETY: non-NULL and writable per the contract.
        unsafe { *value = found.map_or(ptr::null(), CStr::as_ptr) };
        Ok(if found.is_some() {
            natsStatus::NATS_OK
        } else {
            natsStatus::NATS_NOT_FOUND
        })
    })
}

/// Gets all values of `key`, in the order they were added.
///
/// Returns `NATS_NOT_FOUND` if there is no such key (the thread's last error
/// is then left as it was, as in nats.c).
///
/// NULL: `h` NULL, `key` NULL or empty, `values` or `count` NULL →
/// `NATS_INVALID_ARG` (outputs left unchanged). Otherwise `*values` is set to
/// NULL and `*count` to 0 unless values are found.
///
/// Ownership: the caller frees the array `*values` with `free()`, but not the
/// strings, which belong to the header map and stay valid until it is
/// modified or destroyed.
///
/// # Safety
/// `h` must be NULL or a live header map; `key` NULL or NUL-terminated;
/// `values` and `count` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsHeader_Values(
    h: *mut natsHeader,
    key: *const c_char,
    values: *mut *mut *const c_char,
    count: *mut c_int,
) -> natsStatus {
    run_lookup("natsHeader_Values", || {
        // SAFETY: NULL or a live header map per the contract.
        let h = unsafe { arg_ref(h.cast_const(), "header") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let key = unsafe { lookup_key(key) }?;
        require_outputs(&[!values.is_null(), !count.is_null()], "values and count")?;
        // SAFETY: both non-NULL and writable per the contract.
        unsafe {
            *values = ptr::null_mut();
            *count = 0;
        }
        let ptrs: Vec<*const c_char> = key
            .map(|k| {
                h.headers
                    .values_cstr(k)
                    .iter()
                    .map(|v| v.as_ptr())
                    .collect()
            })
            .unwrap_or_default();
        // SAFETY: both non-NULL and writable per the contract.
        unsafe { hand_out(&ptrs, values, count) }
    })
}

/// Gets all keys, in the order they were first set (nats.c gives them in its
/// hash table's order, which is unspecified).
///
/// Returns `NATS_NOT_FOUND` if the map is empty (the thread's last error is
/// then left as it was, as in nats.c).
///
/// NULL: `h`, `keys` or `count` NULL → `NATS_INVALID_ARG` (outputs left
/// unchanged). Otherwise `*keys` is set to NULL and `*count` to 0 unless keys
/// are found.
///
/// Ownership: the caller frees the array `*keys` with `free()`, but not the
/// strings, which belong to the header map and stay valid until it is
/// modified or destroyed.
///
/// # Safety
/// `h` must be NULL or a live header map; `keys` and `count` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsHeader_Keys(
    h: *mut natsHeader,
    keys: *mut *mut *const c_char,
    count: *mut c_int,
) -> natsStatus {
    run_lookup("natsHeader_Keys", || {
        // SAFETY: NULL or a live header map per the contract.
        let h = unsafe { arg_ref(h.cast_const(), "header") }?;
        require_outputs(&[!keys.is_null(), !count.is_null()], "keys and count")?;
        // SAFETY: both non-NULL and writable per the contract.
        unsafe {
            *keys = ptr::null_mut();
            *count = 0;
        }
        let ptrs: Vec<*const c_char> = h.headers.keys_cstr().iter().map(|k| k.as_ptr()).collect();
        // SAFETY: both non-NULL and writable per the contract.
        unsafe { hand_out(&ptrs, keys, count) }
    })
}

/// Returns the number of keys (a key with several values counts once).
///
/// NULL: `h` NULL → 0.
///
/// # Safety
/// `h` must be NULL or a live header map.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsHeader_KeysCount(h: *mut natsHeader) -> c_int {
    guard("natsHeader_KeysCount", 0, || {
        // SAFETY: NULL or a live header map per the contract.
        match unsafe { h.cast_const().as_ref() } {
            Some(h) => c_int::try_from(h.headers.len()).unwrap_or(c_int::MAX),
            None => 0,
        }
    })
}

/// Removes `key` and all its values (keys are case-sensitive).
///
/// Returns `NATS_NOT_FOUND` if there is no such key (the thread's last error
/// is then left as it was, as in nats.c).
///
/// NULL: `h` NULL, or `key` NULL or empty → `NATS_INVALID_ARG`.
///
/// Ownership: strings previously returned for this key become invalid.
///
/// Thread-safety: a header map must not be used from several threads at once.
///
/// # Safety
/// `h` must be NULL or a live header map; `key` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsHeader_Delete(h: *mut natsHeader, key: *const c_char) -> natsStatus {
    run_lookup("natsHeader_Delete", || {
        // SAFETY: NULL or a live header map not used elsewhere, per the contract.
        let h = unsafe { arg_mut(h, "header") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let key = unsafe { lookup_key(key) }?;
        Ok(if key.is_some_and(|k| h.headers.remove(k)) {
            natsStatus::NATS_OK
        } else {
            natsStatus::NATS_NOT_FOUND
        })
    })
}

/// Destroys a header map and every string it handed out.
///
/// NULL: `h` NULL does nothing. Must not be called twice for the same map.
///
/// # Safety
/// `h` must be NULL or a header map from `natsHeader_New` not yet destroyed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsHeader_Destroy(h: *mut natsHeader) {
    guard("natsHeader_Destroy", (), || {
        if !h.is_null() {
            // SAFETY: created by Box::into_raw in natsHeader_New, destroyed once.
            drop(unsafe { Box::from_raw(h) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new() -> *mut natsHeader {
        let mut h = ptr::null_mut();
        // SAFETY: `h` is writable.
        assert_eq!(unsafe { natsHeader_New(&mut h) }, natsStatus::NATS_OK);
        assert!(!h.is_null());
        h
    }

    fn text<'a>(p: *const c_char) -> &'a str {
        // SAFETY: p is a NUL-terminated string from the header map.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("<bad>")
    }

    /// Copies a malloc'd array of `count` strings and frees the array.
    fn collect(arr: *mut *const c_char, count: c_int) -> Vec<String> {
        let n = usize::try_from(count).unwrap_or(0);
        // SAFETY: `arr` holds `count` string pointers; it was malloc'd.
        let out = (0..n)
            .map(|i| text(unsafe { *arr.add(i) }).to_owned())
            .collect();
        // SAFETY: the array came from malloc and is freed once.
        unsafe { libc::free(arr.cast()) };
        out
    }

    #[test]
    fn set_add_get_values_keys_delete() {
        let h = new();
        let mut v: *const c_char = ptr::null();
        let mut arr: *mut *const c_char = ptr::null_mut();
        let mut n: c_int = -1;
        // SAFETY: `h` is live; all pointers are valid.
        unsafe {
            assert_eq!(
                natsHeader_Get(h, c"k".as_ptr(), &mut v),
                natsStatus::NATS_NOT_FOUND
            );
            assert_eq!(
                natsHeader_Keys(h, &mut arr, &mut n),
                natsStatus::NATS_NOT_FOUND
            );
            assert!(arr.is_null());
            assert_eq!(n, 0);
            assert_eq!(
                natsHeader_Set(h, c"k".as_ptr(), c"v1".as_ptr()),
                natsStatus::NATS_OK
            );
            assert_eq!(
                natsHeader_Add(h, c"k".as_ptr(), c"v2".as_ptr()),
                natsStatus::NATS_OK
            );
            assert_eq!(
                natsHeader_Add(h, c"K".as_ptr(), c"".as_ptr()),
                natsStatus::NATS_OK
            );
            assert_eq!(natsHeader_KeysCount(h), 2);
            assert_eq!(
                natsHeader_Get(h, c"k".as_ptr(), &mut v),
                natsStatus::NATS_OK
            );
            assert_eq!(text(v), "v1");
            assert_eq!(
                natsHeader_Get(h, c"K".as_ptr(), &mut v),
                natsStatus::NATS_OK
            );
            assert_eq!(text(v), "");
            assert_eq!(
                natsHeader_Values(h, c"k".as_ptr(), &mut arr, &mut n),
                natsStatus::NATS_OK
            );
            assert_eq!(collect(arr, n), ["v1", "v2"]);
            assert_eq!(natsHeader_Keys(h, &mut arr, &mut n), natsStatus::NATS_OK);
            assert_eq!(collect(arr, n), ["k", "K"]);
            assert_eq!(natsHeader_Delete(h, c"k".as_ptr()), natsStatus::NATS_OK);
            assert_eq!(
                natsHeader_Delete(h, c"k".as_ptr()),
                natsStatus::NATS_NOT_FOUND
            );
            assert_eq!(natsHeader_KeysCount(h), 1);
            natsHeader_Destroy(h);
        }
    }

    #[test]
    fn null_arguments() {
        let h = new();
        let mut v: *const c_char = ptr::null();
        let mut arr: *mut *const c_char = ptr::null_mut();
        let mut n: c_int = 0;
        let bad = natsStatus::NATS_INVALID_ARG;
        // SAFETY: `h` is live; the NULLs are what is being tested.
        unsafe {
            assert_eq!(natsHeader_New(ptr::null_mut()), bad);
            assert_eq!(
                natsHeader_Set(ptr::null_mut(), c"k".as_ptr(), c"v".as_ptr()),
                bad
            );
            assert_eq!(natsHeader_Set(h, ptr::null(), c"v".as_ptr()), bad);
            assert_eq!(natsHeader_Set(h, c"".as_ptr(), c"v".as_ptr()), bad);
            assert_eq!(natsHeader_Set(h, c"k".as_ptr(), ptr::null()), bad);
            assert_eq!(natsHeader_Add(h, c"k".as_ptr(), ptr::null()), bad);
            assert_eq!(natsHeader_Get(h, c"k".as_ptr(), ptr::null_mut()), bad);
            assert_eq!(natsHeader_Get(h, c"".as_ptr(), &mut v), bad);
            assert_eq!(
                natsHeader_Values(h, c"k".as_ptr(), ptr::null_mut(), &mut n),
                bad
            );
            assert_eq!(
                natsHeader_Values(h, c"k".as_ptr(), &mut arr, ptr::null_mut()),
                bad
            );
            assert_eq!(natsHeader_Keys(ptr::null_mut(), &mut arr, &mut n), bad);
            assert_eq!(natsHeader_Delete(h, ptr::null()), bad);
            assert_eq!(natsHeader_KeysCount(ptr::null_mut()), 0);
            assert_eq!(natsHeader_KeysCount(h), 0);
            natsHeader_Destroy(ptr::null_mut());
            natsHeader_Destroy(h);
        }
    }
}
