//! `natsMsg_*` and `natsMsgHeader_*`.

use crate::message::Message;

/// A message (`natsMsg`). Created by `natsMsg_Create` or received; destroyed
/// with `natsMsg_Destroy`.
pub struct natsMsg {
    pub(crate) msg: Message,
}

impl natsMsg {
    /// Moves a message to the heap for C, which now owns it.
    pub(crate) fn into_raw(msg: Message) -> *mut natsMsg {
        Box::into_raw(Box::new(natsMsg { msg }))
    }
}
