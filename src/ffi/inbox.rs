//! `natsInbox_*`.

use std::ffi::c_char;

use super::natsStatus;
use crate::error::{Error, ErrorKind};

/// An inbox subject: a NUL-terminated string (`typedef char natsInbox;`).
///
/// Methods: `natsInbox_Create`, `natsInbox_Destroy`.
pub type natsInbox = c_char;

/// Creates a new unique inbox subject, `_INBOX.` followed by a unique id.
///
/// NULL: `newInbox` NULL → `NATS_INVALID_ARG` (nats.c crashes).
///
/// Ownership: on success `*newInbox` receives a string allocated with
/// `malloc`, which the caller releases with `natsInbox_Destroy` (or `free`);
/// on failure it is left unchanged.
///
/// # Safety
/// `newInbox` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsInbox_Create(newInbox: *mut *mut natsInbox) -> natsStatus {
    super::run("natsInbox_Create", || {
        if newInbox.is_null() {
            return Err(super::invalid("newInbox"));
        }
        let inbox = crate::new_inbox();
        // SAFETY: malloc with a non-zero size; the result is checked for NULL.
        let p = unsafe { libc::malloc(inbox.len() + 1) }.cast::<c_char>();
        if p.is_null() {
            return Err(Error::new(ErrorKind::NoMemory, "out of memory"));
        }
        // SAFETY: `p` has room for the inbox bytes plus a NUL; the regions
        // do not overlap; `newInbox` is non-NULL and writable per the contract.
        unsafe {
            std::ptr::copy_nonoverlapping(inbox.as_ptr(), p.cast::<u8>(), inbox.len());
            *p.add(inbox.len()) = 0;
            *newInbox = p;
        }
        Ok(())
    })
}

/// Destroys an inbox created by `natsInbox_Create`.
///
/// NULL: `inbox` NULL does nothing.
///
/// # Safety
/// `inbox` must be NULL or an inbox from `natsInbox_Create` not yet destroyed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsInbox_Destroy(inbox: *mut natsInbox) {
    super::guard("natsInbox_Destroy", (), || {
        // SAFETY: NULL or a malloc'd inbox owned by the caller (free(NULL) is
        // a no-op).
        unsafe { libc::free(inbox.cast()) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn create_and_destroy() {
        let mut a: *mut natsInbox = std::ptr::null_mut();
        let mut b: *mut natsInbox = std::ptr::null_mut();
        // SAFETY: valid out-pointers; the inboxes are destroyed at the end.
        unsafe {
            assert_eq!(natsInbox_Create(&mut a), natsStatus::NATS_OK);
            assert_eq!(natsInbox_Create(&mut b), natsStatus::NATS_OK);
            let sa = CStr::from_ptr(a).to_str().unwrap().to_owned();
            let sb = CStr::from_ptr(b).to_str().unwrap().to_owned();
            assert!(sa.starts_with("_INBOX."), "{sa}");
            assert!(sa.len() > "_INBOX.".len());
            assert_ne!(sa, sb);
            natsInbox_Destroy(a);
            libc::free(b.cast());
            natsInbox_Destroy(std::ptr::null_mut());
        }
    }

    #[test]
    fn null_out_pointer() {
        // SAFETY: NULL is accepted.
        let s = unsafe { natsInbox_Create(std::ptr::null_mut()) };
        assert_eq!(s, natsStatus::NATS_INVALID_ARG);
    }
}
