//! One message in one heap block: a fixed head (subscription id, lengths,
//! decoded headers) followed by the message bytes.
//!
//! A delivered message costs one allocation, made by the parser when the
//! control line arrives; the message then moves from the io loop to the
//! subscription and to the application as this one pointer, and the C API
//! hands the same pointer out as a `natsMsg *` (no second allocation for
//! C). The bytes are laid out for zero-copy use from C: subject, `0`,
//! reply (empty if none), `0`, raw header block (`header_len` bytes,
//! `NATS/1.0...\r\n\r\n` included), payload, `0`, then padding zeros. The
//! block is zeroed when allocated, so the NUL bytes and the padding need no
//! writing.
//!
//! This module is one of the few places with `unsafe` outside `src/ffi/`:
//! it allocates and frees the block; everything else reads it through safe
//! accessors.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use crate::headers::Headers;

/// The fixed part of a block.
struct Head {
    sid: u64,
    subject_len: usize,
    reply_len: Option<usize>,
    header_len: usize,
    payload_len: usize,
    /// Decoded headers (set by the receiving connection, or by the user).
    headers: Option<Headers>,
    /// Number of bytes after the head.
    len: usize,
    /// Size of the allocation (a size class when recycled; see `recycle`).
    size: usize,
}

/// Where the bytes start: right after the head (bytes need no alignment).
const DATA: usize = std::mem::size_of::<Head>();

/// The block's layout for `len` bytes; `None` if too large. Blocks small
/// enough to be recycled are rounded up to their size class.
fn layout(len: usize) -> Option<Layout> {
    let (l, off) = Layout::new::<Head>()
        .extend(Layout::array::<u8>(len).ok()?)
        .ok()?;
    debug_assert_eq!(off, DATA);
    let l = l.pad_to_align();
    match recycle::class_of(l.size()) {
        Some(c) => Layout::from_size_align(recycle::size_of_class(c), l.align()).ok(),
        None => Some(l),
    }
}

/// A message block (see the module documentation); owns its allocation.
///
/// The accessors never panic, even on lengths that do not match the bytes
/// (they then return empty values).
pub struct MsgFrame {
    ptr: NonNull<Head>,
}

// SAFETY: a MsgFrame is the only owner of its block (like a `Box`), and the
// head's fields (integers, `Option<Headers>`) are `Send` and `Sync`.
unsafe impl Send for MsgFrame {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for MsgFrame {}

/// The lengths of a message's parts (the bytes needed follow from them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts {
    pub(crate) sid: u64,
    pub(crate) subject_len: usize,
    pub(crate) reply_len: Option<usize>,
    pub(crate) header_len: usize,
    pub(crate) payload_len: usize,
    /// Zero bytes after the payload's NUL.
    pub(crate) padding: usize,
}

impl Parts {
    /// The bytes a block for these parts holds; `None` on overflow.
    fn len(&self) -> Option<usize> {
        self.subject_len
            .checked_add(self.reply_len.unwrap_or(0))?
            .checked_add(self.header_len)?
            .checked_add(self.payload_len)?
            .checked_add(3)?
            .checked_add(self.padding)
    }
}

impl MsgFrame {
    /// A zeroed block for a message made of `parts`; `None` if it is too
    /// large or cannot be allocated.
    pub(crate) fn alloc(parts: Parts) -> Option<MsgFrame> {
        let len = parts.len()?;
        let layout = layout(len)?;
        let ptr = match recycle::take(layout.size()) {
            Some(block) => {
                // A recycled block: every byte was initialized when it was
                // first allocated; zero the ones this message uses (its NUL
                // bytes and padding are zeros, as in a new block).
                // SAFETY: the block has `layout.size()` bytes, DATA + len of
                // them at most (the class holds the layout), and nothing
                // else uses it.
                unsafe { block.as_ptr().add(DATA).write_bytes(0, len) };
                block.cast::<Head>()
            }
            None => {
                // SAFETY: the layout's size is not zero (it holds a `Head`).
                let raw = unsafe { alloc::alloc_zeroed(layout) }.cast::<Head>();
                NonNull::new(raw)?
            }
        };
        let head = Head {
            sid: parts.sid,
            subject_len: parts.subject_len,
            reply_len: parts.reply_len,
            header_len: parts.header_len,
            payload_len: parts.payload_len,
            headers: None,
            len,
            size: layout.size(),
        };
        // SAFETY: `ptr` is valid for writing a `Head` and aligned for it (the
        // layout starts with one); a recycled block's old head was dropped.
        unsafe { ptr.as_ptr().write(head) };
        Some(MsgFrame { ptr })
    }

    /// A block for `parts` with `subject` and `reply` written (their lengths
    /// must be the ones in `parts`); the body goes at
    /// [`MsgFrame::body_offset`]. `None` as [`MsgFrame::alloc`].
    pub(crate) fn with_subjects(
        parts: Parts,
        subject: &[u8],
        reply: Option<&[u8]>,
    ) -> Option<MsgFrame> {
        let mut f = MsgFrame::alloc(parts)?;
        f.write_at(0, subject);
        if let Some(r) = reply {
            f.write_at(subject.len() + 1, r);
        }
        Some(f)
    }

    /// Where the body (header block, then payload) starts in
    /// [`MsgFrame::buf`].
    pub(crate) fn body_offset(&self) -> usize {
        self.subject_len()
            .saturating_add(self.reply_len().unwrap_or(0))
            .saturating_add(2)
    }

    /// Builds a frame from its parts (for locally created messages). `reply`
    /// `None` means no reply. The caller makes sure that `subject` and
    /// `reply` contain no NUL byte (the C view would be cut).
    pub fn build(
        sid: u64,
        subject: &str,
        reply: Option<&str>,
        header: &[u8],
        payload: &[u8],
    ) -> MsgFrame {
        let parts = Parts {
            sid,
            subject_len: subject.len(),
            reply_len: reply.map(str::len),
            header_len: header.len(),
            payload_len: payload.len(),
            padding: 0,
        };
        let Some(mut f) =
            MsgFrame::with_subjects(parts, subject.as_bytes(), reply.map(str::as_bytes))
        else {
            // As `Vec` does when memory runs out.
            alloc::handle_alloc_error(Layout::new::<Head>());
        };
        let body = f.body_offset();
        f.write_at(body, header);
        f.write_at(body + header.len(), payload);
        f
    }

    fn head(&self) -> &Head {
        // SAFETY: `ptr` points to the initialized head of the block this
        // frame owns; shared access through `&self`.
        unsafe { self.ptr.as_ref() }
    }

    fn head_mut(&mut self) -> &mut Head {
        // SAFETY: as in `head`; exclusive access through `&mut self`.
        unsafe { self.ptr.as_mut() }
    }

    /// All the bytes of the block (layout in the module documentation).
    pub fn buf(&self) -> &[u8] {
        let len = self.head().len;
        // SAFETY: the block holds `len` initialized (zeroed at allocation)
        // bytes at `DATA`, owned by this frame; the pointer comes from the
        // allocation, so it may reach past the head.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>().add(DATA), len) }
    }

    /// The bytes, for filling in.
    fn buf_mut(&mut self) -> &mut [u8] {
        let len = self.head().len;
        // SAFETY: as in `buf`, with exclusive access through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().cast::<u8>().add(DATA), len) }
    }

    /// Copies `bytes` to `at`; what does not fit is left out.
    pub(crate) fn write_at(&mut self, at: usize, bytes: &[u8]) {
        let buf = self.buf_mut();
        let end = at.saturating_add(bytes.len()).min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(at..end), bytes.get(..end.saturating_sub(at)))
        {
            dst.copy_from_slice(src);
        }
    }

    /// Subscription id the server delivered the message for.
    pub fn sid(&self) -> u64 {
        self.head().sid
    }

    /// Length of the subject.
    pub fn subject_len(&self) -> usize {
        self.head().subject_len
    }

    /// Length of the reply subject, `None` when the message has no reply.
    pub fn reply_len(&self) -> Option<usize> {
        self.head().reply_len
    }

    /// Length of the raw header block (0 for a `MSG`).
    pub fn header_len(&self) -> usize {
        self.head().header_len
    }

    /// Length of the payload.
    pub fn payload_len(&self) -> usize {
        self.head().payload_len
    }

    /// The subject. The parser only produces frames with a UTF-8 subject;
    /// otherwise this is `""`.
    pub fn subject(&self) -> &str {
        self.slice_str(0, self.subject_len())
    }

    /// The reply subject, if the message has one.
    pub fn reply(&self) -> Option<&str> {
        self.reply_len()
            .map(|len| self.slice_str(self.subject_len().saturating_add(1), len))
    }

    /// The raw header block (empty for a message without headers).
    pub fn header_bytes(&self) -> &[u8] {
        self.slice(self.body_offset(), self.header_len())
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.slice(self.payload_offset(), self.payload_len())
    }

    /// Index of the payload in [`MsgFrame::buf`]; the byte after the payload
    /// is a NUL.
    pub fn payload_offset(&self) -> usize {
        self.body_offset().saturating_add(self.header_len())
    }

    /// The decoded headers, if set.
    pub(crate) fn headers(&self) -> Option<&Headers> {
        self.head().headers.as_ref()
    }

    /// The decoded headers' place, for setting or changing them.
    pub(crate) fn headers_slot(&mut self) -> &mut Option<Headers> {
        &mut self.head_mut().headers
    }

    /// Gives the block up as a raw pointer (for C); [`MsgFrame::from_raw`]
    /// takes it back.
    pub(crate) fn into_raw(self) -> NonNull<u8> {
        let p = self.ptr.cast::<u8>();
        std::mem::forget(self);
        p
    }

    /// Takes back a block given up by [`MsgFrame::into_raw`].
    ///
    /// # Safety
    /// `p` must come from [`MsgFrame::into_raw`], and nothing else may own it
    /// (it is freed when the returned frame is dropped).
    pub(crate) unsafe fn from_raw(p: NonNull<u8>) -> MsgFrame {
        MsgFrame { ptr: p.cast() }
    }

    fn slice(&self, start: usize, len: usize) -> &[u8] {
        start
            .checked_add(len)
            .and_then(|end| self.buf().get(start..end))
            .unwrap_or_default()
    }

    fn slice_str(&self, start: usize, len: usize) -> &str {
        std::str::from_utf8(self.slice(start, len)).unwrap_or_default()
    }
}

impl Drop for MsgFrame {
    fn drop(&mut self) {
        let size = self.head().size;
        // SAFETY: the head is initialized and dropped here once; nothing
        // uses the block after this.
        unsafe { std::ptr::drop_in_place(self.ptr.as_ptr()) };
        let block = self.ptr.cast::<u8>();
        if !recycle::give(block, size) {
            // SAFETY: allocated in `alloc` with `size` bytes (recycled blocks
            // keep their size) and owned by this frame alone.
            unsafe { free_block(block, size) };
        }
    }
}

/// Frees a block.
///
/// # Safety
/// `block` must come from `alloc` (or the recycling pool) with `size` bytes,
/// and nothing may use it afterwards.
unsafe fn free_block(block: NonNull<u8>, size: usize) {
    // SAFETY: blocks are allocated with `size` bytes aligned for `Head`
    // (see `layout`), per the contract.
    unsafe {
        alloc::dealloc(
            block.as_ptr(),
            Layout::from_size_align_unchecked(size, std::mem::align_of::<Head>()),
        );
    }
}

/// Recycling of small message blocks. The io loop allocates message blocks
/// and the application's threads free them, a pattern `malloc` serves
/// slowly (each free goes back to the arena of the allocating thread). Freed
/// blocks of up to `CLASSES` * `STEP` bytes go to a cache of the freeing
/// thread, whole batches of which move to a shared pool; an allocating
/// thread refills its cache from there a batch at a time. Bounded: at most
/// `LOCAL_MAX` blocks per class and thread, `GLOBAL_BYTES` per class shared.
/// Blocks keep their size class, so a recycled block is freed with the
/// layout it was allocated with. The shared pool is only ever `try_lock`ed:
/// contention (or a lock held across `fork` by a thread that is gone) falls
/// back to `malloc`/`free`. `LIBNATS_RS_RECYCLE=0` turns recycling off
/// (memory checkers then see every block freed).
mod recycle {
    use std::cell::RefCell;
    use std::ptr::NonNull;
    use std::sync::OnceLock;

    use parking_lot::Mutex;

    const STEP: usize = 64;
    const CLASSES: usize = 8;
    const LOCAL_MAX: usize = 128;
    const BATCH: usize = 64;
    /// Bytes of blocks the shared pool keeps per class.
    const GLOBAL_BYTES: usize = 512 << 10;

    /// A block owned by the pool (never touched until taken out).
    struct Block(NonNull<u8>);
    // SAFETY: a pooled block is owned by the pool alone; it moves between
    // threads as an inert allocation.
    unsafe impl Send for Block {}

    static SHARED: [Mutex<Vec<Block>>; CLASSES] = [const { Mutex::new(Vec::new()) }; CLASSES];

    fn enabled() -> bool {
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| std::env::var("LIBNATS_RS_RECYCLE").map_or(true, |v| v != "0"))
    }

    /// The class of a block of `size` bytes, if small enough.
    pub(super) fn class_of(size: usize) -> Option<usize> {
        let c = size.div_ceil(STEP).checked_sub(1)?;
        (c < CLASSES).then_some(c)
    }

    pub(super) fn size_of_class(c: usize) -> usize {
        (c + 1) * STEP
    }

    struct Local {
        classes: [Vec<Block>; CLASSES],
    }

    impl Drop for Local {
        fn drop(&mut self) {
            for (c, blocks) in self.classes.iter_mut().enumerate() {
                for b in blocks.drain(..) {
                    release(b, c);
                }
            }
        }
    }

    thread_local! {
        static LOCAL: RefCell<Local> = const {
            RefCell::new(Local { classes: [const { Vec::new() }; CLASSES] })
        };
    }

    /// Frees a block for good.
    fn release(b: Block, c: usize) {
        // SAFETY: a pooled block has its class's size, and the pool owned
        // it alone.
        unsafe { super::free_block(b.0, size_of_class(c)) };
    }

    /// A recycled block of `size` bytes (a class size), if one is at hand.
    pub(super) fn take(size: usize) -> Option<NonNull<u8>> {
        let c = class_of(size)?;
        if !enabled() {
            return None;
        }
        LOCAL
            .try_with(|l| {
                let mut l = l.try_borrow_mut().ok()?;
                let mine = l.classes.get_mut(c)?;
                if mine.is_empty() {
                    let mut shared = SHARED.get(c)?.try_lock()?;
                    let keep = shared.len().saturating_sub(BATCH);
                    mine.extend(shared.drain(keep..));
                }
                mine.pop().map(|b| b.0)
            })
            .ok()
            .flatten()
    }

    /// Keeps a freed block of `size` bytes for reuse; false if the caller
    /// must free it.
    pub(super) fn give(block: NonNull<u8>, size: usize) -> bool {
        let Some(c) = class_of(size).filter(|&c| size == size_of_class(c)) else {
            return false;
        };
        if !enabled() {
            return false;
        }
        LOCAL
            .try_with(|l| {
                let Ok(mut l) = l.try_borrow_mut() else {
                    return false;
                };
                let Some(mine) = l.classes.get_mut(c) else {
                    return false;
                };
                if mine.len() >= LOCAL_MAX {
                    // Hand a batch to the shared pool (or free it).
                    let batch: Vec<Block> = mine.drain(..BATCH).collect();
                    let rest = match SHARED.get(c).and_then(|m| m.try_lock()) {
                        Some(mut shared) => {
                            let max = GLOBAL_BYTES / size_of_class(c);
                            let room = max.saturating_sub(shared.len());
                            let mut batch = batch;
                            let over = batch.split_off(room.min(batch.len()));
                            shared.extend(batch);
                            over
                        }
                        None => batch,
                    };
                    for b in rest {
                        release(b, c);
                    }
                }
                mine.push(Block(block));
                true
            })
            .unwrap_or(false)
    }
}

impl Clone for MsgFrame {
    fn clone(&self) -> MsgFrame {
        let h = self.head();
        let parts = Parts {
            sid: h.sid,
            subject_len: h.subject_len,
            reply_len: h.reply_len,
            header_len: h.header_len,
            payload_len: h.payload_len,
            padding: 0,
        };
        // Same byte count: the padding is whatever the original has beyond
        // the parts.
        let padding = h.len.saturating_sub(parts.len().unwrap_or(h.len));
        let Some(mut f) = MsgFrame::alloc(Parts { padding, ..parts }) else {
            alloc::handle_alloc_error(Layout::new::<Head>());
        };
        f.write_at(0, self.buf());
        *f.headers_slot() = h.headers.clone();
        f
    }
}

impl PartialEq for MsgFrame {
    fn eq(&self, other: &MsgFrame) -> bool {
        let (a, b) = (self.head(), other.head());
        a.sid == b.sid
            && a.subject_len == b.subject_len
            && a.reply_len == b.reply_len
            && a.header_len == b.header_len
            && a.payload_len == b.payload_len
            && a.headers == b.headers
            && self.buf() == other.buf()
    }
}

impl Eq for MsgFrame {}

impl std::fmt::Debug for MsgFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgFrame")
            .field("sid", &self.sid())
            .field("subject", &self.subject())
            .field("reply", &self.reply())
            .field("header_len", &self.header_len())
            .field("payload_len", &self.payload_len())
            .field("headers", &self.headers())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_a_built_frame() {
        let f = MsgFrame::build(7, "foo", Some("bar"), b"NATS/1.0\r\n\r\n", b"hi");
        assert_eq!(f.sid(), 7);
        assert_eq!(f.subject(), "foo");
        assert_eq!(f.reply(), Some("bar"));
        assert_eq!(f.header_bytes(), b"NATS/1.0\r\n\r\n");
        assert_eq!(f.payload(), b"hi");
        assert_eq!(f.buf(), b"foo\0bar\0NATS/1.0\r\n\r\nhi\0");
        let g = f.clone();
        assert_eq!(f, g);
        let none = MsgFrame::build(0, "x", None, b"", b"");
        assert_eq!(none.reply(), None);
        assert_eq!(none.buf(), b"x\0\0\0");
    }

    #[test]
    fn padding_is_zero_and_survives_a_clone() {
        let parts = Parts {
            sid: 1,
            subject_len: 1,
            reply_len: None,
            header_len: 0,
            payload_len: 2,
            padding: 5,
        };
        let mut f = MsgFrame::alloc(parts).unwrap();
        f.write_at(0, b"s");
        f.write_at(f.payload_offset(), b"ok");
        assert_eq!(f.buf(), b"s\0\0ok\0\0\0\0\0\0");
        assert_eq!(f.payload(), b"ok");
        let g = f.clone();
        assert_eq!(g.buf(), f.buf());
        // Writes past the end are cut, never out of bounds.
        f.write_at(10, b"xyz");
        assert_eq!(f.buf().len(), 11);
        assert_eq!(f.buf().last(), Some(&b'x'));
    }

    #[test]
    fn raw_round_trip_keeps_headers() {
        let mut f = MsgFrame::build(1, "a", None, b"", b"p");
        let mut h = Headers::new();
        h.insert("k", "v").unwrap();
        *f.headers_slot() = Some(h.clone());
        let p = f.into_raw();
        // SAFETY: from into_raw just above, owned by nobody else.
        let g = unsafe { MsgFrame::from_raw(p) };
        assert_eq!(g.headers(), Some(&h));
        assert_eq!(g.payload(), b"p");
    }

    #[test]
    fn recycled_blocks_come_back_zeroed() {
        let old = MsgFrame::build(1, "subject", Some("reply"), b"", &[0xAB; 40]);
        let at = old.buf().as_ptr();
        drop(old);
        let parts = Parts {
            sid: 2,
            subject_len: 7,
            reply_len: Some(5),
            header_len: 0,
            payload_len: 30,
            padding: 3,
        };
        let f = MsgFrame::alloc(parts).unwrap();
        if std::env::var("LIBNATS_RS_RECYCLE").as_deref() != Ok("0") {
            // Same thread, same size class: the block just freed.
            assert_eq!(f.buf().as_ptr(), at, "block not recycled");
        }
        assert_eq!(f.buf().len(), 7 + 5 + 30 + 3 + 3);
        assert!(
            f.buf().iter().all(|&b| b == 0),
            "stale bytes in a recycled block"
        );
        assert_eq!(f.sid(), 2);
        assert!(f.headers().is_none());
        // Big blocks are not recycled, and are freed with their own layout.
        drop(MsgFrame::build(1, "s", None, b"", &vec![1; 100_000]));
    }

    #[test]
    fn absurd_sizes_are_refused() {
        let parts = Parts {
            sid: 1,
            subject_len: usize::MAX - 2,
            reply_len: None,
            header_len: 0,
            payload_len: 10,
            padding: 0,
        };
        assert!(MsgFrame::alloc(parts).is_none());
        let parts = Parts {
            subject_len: isize::MAX as usize,
            payload_len: 0,
            ..parts
        };
        assert!(MsgFrame::alloc(parts).is_none());
    }
}
