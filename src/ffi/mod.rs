//! The C API: nats.c's functions, names, statuses and ownership rules.
//!
//! This layer holds no logic. Each function checks its pointers, converts the
//! types, calls the Rust API, maps [`crate::Error`] to `natsStatus`, records the
//! thread's last error, and catches panics so that nothing unwinds into C.
//! One file per C type: `library.rs` (nats_*), `options.rs`, `conn.rs`,
//! `sub.rs`, `msg.rs` (natsMsg_*, natsMsgHeader_*), `inbox.rs`, `stats.rs`.
#![allow(non_camel_case_types, non_snake_case)]

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Error, ErrorKind, Result};

pub mod auth;
pub mod conn;
pub mod evloop;
mod header;
pub mod inbox;
pub mod library;
pub mod msg;
pub mod msglist;
pub mod options;
pub mod stats;
pub(crate) mod status;
pub mod sub;
pub mod tls;

pub(crate) use status::status_code;
pub use status::{natsConnStatus, natsStatus};

/// Most frames an error stack keeps (as nats.c).
#[cfg_attr(not(test), allow(dead_code))]
const MAX_FRAMES: usize = 50;

/// The calling thread's last error, as nats.c keeps it.
pub(crate) struct LastError {
    pub status: natsStatus,
    pub text: CString,
    pub frames: Vec<&'static str>,
    pub more: usize,
}

thread_local! {
    pub(crate) static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError {
        status: natsStatus::NATS_OK,
        text: CString::default(),
        frames: Vec::new(),
        more: 0,
    });
}

fn to_cstring_lossy(s: &str) -> CString {
    let cleaned: Vec<u8> = s.bytes().filter(|&b| b != 0).take(1024).collect();
    CString::new(cleaned).unwrap_or_default()
}

/// Records `e` as this thread's last error, raised in `func`; returns its status.
pub(crate) fn raise(func: &'static str, e: &Error) -> natsStatus {
    let status = natsStatus::from(e.kind());
    let _ = LAST_ERROR.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            l.status = status;
            l.text = to_cstring_lossy(e.text());
            l.frames.clear();
            l.frames.push(func);
            l.more = 0;
        }
    });
    status
}

/// Shorthand: raise an error of `kind` with `text`.
pub(crate) fn raise_kind(func: &'static str, kind: ErrorKind, text: &str) -> natsStatus {
    raise(func, &Error::new(kind, text))
}

/// Adds a frame to the last error's stack (an error passing through `func`).
/// No wrapper calls another wrapper yet, so only the tests use it today.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn push_frame(func: &'static str) {
    let _ = LAST_ERROR.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            if l.frames.len() < MAX_FRAMES {
                l.frames.push(func);
            } else {
                l.more += 1;
            }
        }
    });
}

/// Runs `f`; a panic becomes `default` plus a `NATS_ERR` last error.
///
/// Inlined: the call is on every C entry, publish included, and an outlined
/// guard costs a frame and a closure environment per call.
#[inline(always)]
pub(crate) fn guard<T>(func: &'static str, default: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            raise_kind(
                func,
                ErrorKind::Other,
                "internal error (panic caught at the C boundary)",
            );
            default
        }
    }
}

/// Runs `f` for a status-returning function: `Ok` → `NATS_OK`, `Err` → raised.
#[inline(always)]
pub(crate) fn run(func: &'static str, f: impl FnOnce() -> Result<()>) -> natsStatus {
    guard(func, natsStatus::NATS_ERR, || match f() {
        Ok(()) => natsStatus::NATS_OK,
        Err(e) => raise(func, &e),
    })
}

/// An `InvalidArg` error naming the argument.
pub(crate) fn invalid(what: &str) -> Error {
    Error::new(ErrorKind::InvalidArg, format!("{what} must not be NULL"))
}

/// Borrows `*p` mutably, or `InvalidArg` for NULL.
///
/// # Safety
/// `p` must be NULL or point to a live `T` not aliased mutably elsewhere.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T> {
    // SAFETY: guaranteed by the caller for non-NULL pointers.
    unsafe { p.as_mut() }.ok_or_else(|| invalid(what))
}

/// Borrows `*p`, or `InvalidArg` for NULL.
///
/// # Safety
/// `p` must be NULL or point to a live `T`.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: guaranteed by the caller for non-NULL pointers.
    unsafe { p.as_ref() }.ok_or_else(|| invalid(what))
}

/// Reads an optional C string (NULL → `None`); non-UTF-8 → `InvalidArg`.
///
/// # Safety
/// `p` must be NULL or a valid NUL-terminated string.
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    let b = c.to_bytes();
    if b.is_ascii() {
        // SAFETY: ASCII is valid UTF-8 (the common case, checked a word at
        // a time; subjects are on every publish's hot path).
        return Ok(Some(unsafe { std::str::from_utf8_unchecked(b) }));
    }
    c.to_str()
        .map(Some)
        .map_err(|_| Error::new(ErrorKind::InvalidArg, format!("{what} is not valid UTF-8")))
}

/// Reads a required C string (NULL → error of `kind`).
///
/// # Safety
/// `p` must be NULL or a valid NUL-terminated string.
pub(crate) unsafe fn req_str<'a>(p: *const c_char, what: &str, kind: ErrorKind) -> Result<&'a str> {
    // SAFETY: forwarded contract.
    match unsafe { opt_str(p, what) }? {
        Some(s) => Ok(s),
        None => Err(Error::new(kind, format!("{what} must not be NULL"))),
    }
}

/// Borrows `len` bytes at `data`; a zero length is empty (data may be NULL);
/// NULL data with a positive length, or a negative length, is `InvalidArg`.
///
/// # Safety
/// If `data` is non-NULL and `len > 0`, `data` must point to `len` readable bytes.
pub(crate) unsafe fn bytes<'a>(data: *const std::ffi::c_void, len: i32) -> Result<&'a [u8]> {
    if len < 0 {
        return Err(Error::new(
            ErrorKind::InvalidArg,
            "data length must not be negative",
        ));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Error::new(
            ErrorKind::InvalidArg,
            "data is NULL but its length is not 0",
        ));
    }
    // SAFETY: the caller guarantees `len` readable bytes at `data`.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) })
}

/// Copies `s` plus a NUL into a C buffer; `InsufficientBuffer` if it does not fit.
///
/// # Safety
/// `buf` must point to `size` writable bytes.
pub(crate) unsafe fn copy_out(s: &str, buf: *mut c_char, size: usize) -> Result<()> {
    if buf.is_null() {
        return Err(invalid("buffer"));
    }
    if s.len() + 1 > size {
        if size > 0 {
            // SAFETY: size >= 1 writable bytes.
            unsafe { *buf = 0 };
        }
        return Err(Error::new(
            ErrorKind::InsufficientBuffer,
            format!(
                "buffer of {size} bytes is too small for {} bytes",
                s.len() + 1
            ),
        ));
    }
    // SAFETY: s.len() + 1 <= size writable bytes at buf; regions do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
        *buf.add(s.len()) = 0;
    }
    Ok(())
}

/// Converts C milliseconds to a `Duration`; negative → `None`.
pub(crate) fn millis(ms: i64) -> Option<std::time::Duration> {
    u64::try_from(ms).ok().map(std::time::Duration::from_millis)
}

/// A raw pointer that may cross threads: what it points to is the C caller's
/// responsibility (the same contract nats.c has for closures).
pub(crate) struct SendPtr<T>(pub *mut T);

impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SendPtr<T> {}

// SAFETY: the pointer is only handed back to C code, which owns the pointee and
// its thread-safety, exactly as with nats.c's `void *closure` arguments.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

/// Allocates a C array (with `malloc`, freed by the caller with `free`) holding
/// the given pointers.
pub(crate) fn c_array<T>(items: &[*const T]) -> Result<*mut *const T> {
    let n = items.len().max(1);
    // SAFETY: malloc with a non-zero size; the result is checked for NULL.
    let p = unsafe { libc::malloc(n * std::mem::size_of::<*const T>()) }.cast::<*const T>();
    if p.is_null() {
        return Err(Error::new(ErrorKind::NoMemory, "out of memory"));
    }
    // SAFETY: p has room for `n >= items.len()` pointers.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), p, items.len()) };
    Ok(p)
}

/// Copies `s` into a NUL-terminated string allocated with `malloc` (the C
/// caller frees it with `free`). Interior NULs cut the string short.
pub(crate) fn c_strdup(s: &str) -> Result<*mut c_char> {
    let bytes = s.as_bytes();
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    // SAFETY: malloc with a non-zero size; the result is checked for NULL.
    let p = unsafe { libc::malloc(len + 1) }.cast::<u8>();
    if p.is_null() {
        return Err(Error::new(ErrorKind::NoMemory, "out of memory"));
    }
    // SAFETY: p has room for len + 1 bytes; the regions do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, len);
        *p.add(len) = 0;
    }
    Ok(p.cast::<c_char>())
}

/// Copies `items` into a `malloc`ed array of `malloc`ed C strings (the C
/// caller frees each string, then the array, with `free`). An empty list is
/// `(NULL, 0)`.
pub(crate) fn c_string_array(items: &[String]) -> Result<(*mut *mut c_char, std::ffi::c_int)> {
    if items.is_empty() {
        return Ok((std::ptr::null_mut(), 0));
    }
    let count = std::ffi::c_int::try_from(items.len())
        .map_err(|_| Error::new(ErrorKind::NoMemory, "too many strings"))?;
    let mut strings: Vec<*const c_char> = Vec::with_capacity(items.len());
    for s in items {
        match c_strdup(s) {
            Ok(p) => strings.push(p.cast_const()),
            Err(e) => {
                for p in strings {
                    // SAFETY: each came from malloc in c_strdup and is freed once.
                    unsafe { libc::free(p.cast_mut().cast()) };
                }
                return Err(e);
            }
        }
    }
    match c_array(&strings) {
        Ok(arr) => Ok((arr.cast::<*mut c_char>(), count)),
        Err(e) => {
            for p in strings {
                // SAFETY: as above.
                unsafe { libc::free(p.cast_mut().cast()) };
            }
            Err(e)
        }
    }
}
