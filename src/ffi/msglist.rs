//! `natsMsgList`: a list of messages (filled by JetStream fetches in nats.c).

use std::ffi::c_int;

use super::msg::natsMsg;

/// A list of messages: `Msgs` holds `Count` entries, each NULL or owned.
#[repr(C)]
pub struct natsMsgList {
    /// The messages.
    pub Msgs: *mut *mut natsMsg,
    /// How many entries `Msgs` holds.
    pub Count: c_int,
}

/// Destroys every non-NULL message of the list and frees the array (with
/// `free`), but not the list structure itself.
///
/// # Safety
/// `list` NULL or valid; `Msgs` NULL or a `malloc`ed array of `Count` entries.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsMsgList_Destroy(list: *mut natsMsgList) {
    super::guard("natsMsgList_Destroy", (), || {
        // SAFETY: NULL or valid per the contract.
        let Some(l) = (unsafe { list.as_mut() }) else {
            return;
        };
        if !l.Msgs.is_null() {
            for i in 0..usize::try_from(l.Count).unwrap_or(0) {
                // SAFETY: the array holds Count entries.
                let m = unsafe { *l.Msgs.add(i) };
                if !m.is_null() {
                    // SAFETY: each non-NULL entry is an owned message.
                    drop(unsafe { natsMsg::take(m) });
                }
            }
            // SAFETY: the array was allocated with malloc.
            unsafe { libc::free(l.Msgs.cast()) };
        }
        l.Msgs = std::ptr::null_mut();
        l.Count = 0;
    })
}
