//! A NATS message: subject, optional reply subject, optional headers, payload.

use std::ffi::CStr;

use crate::error::{ErrorKind, Result, err};
use crate::headers::Headers;
use crate::proto::MsgFrame;
use crate::subject;

/// A message, received or to be published.
///
/// A message lives in one allocation (subject, reply and payload, each
/// followed by a NUL byte so the C API can hand out pointers without copying,
/// and the decoded headers); moving a `Message` moves one pointer.
#[derive(Debug, Clone)]
pub struct Message {
    frame: MsgFrame,
}

impl Message {
    /// A new message for `subject` carrying `payload`.
    ///
    /// # Errors
    /// `InvalidArg` if the subject is empty or holds whitespace.
    ///
    /// # Examples
    /// ```
    /// let m = nats::Message::new("greet", b"hello").unwrap();
    /// assert_eq!(m.payload(), b"hello");
    /// ```
    pub fn new(subject: &str, payload: &[u8]) -> Result<Message> {
        Self::build(subject, None, payload)
    }

    /// A new message with a reply subject.
    ///
    /// # Errors
    /// `InvalidArg` if the subject or reply is empty or holds whitespace.
    pub fn with_reply(subject: &str, reply: &str, payload: &[u8]) -> Result<Message> {
        Self::build(subject, Some(reply), payload)
    }

    pub(crate) fn build(subject: &str, reply: Option<&str>, payload: &[u8]) -> Result<Message> {
        if subject::check_publish_subject(subject).is_err() {
            return err(
                ErrorKind::InvalidArg,
                format!("invalid subject {subject:?}"),
            );
        }
        if let Some(r) = reply {
            subject::check_reply(r)?;
        }
        Ok(Message {
            frame: MsgFrame::build(0, subject, reply, &[], payload),
        })
    }

    /// Wraps a frame received from the server, decoding its header block if
    /// any. A malformed header block leaves the message without headers (the
    /// payload is still delivered).
    pub(crate) fn from_frame_lenient(mut frame: MsgFrame) -> Message {
        if frame.header_len() > 0 {
            *frame.headers_slot() = Headers::decode(frame.header_bytes()).ok();
        }
        Message { frame }
    }

    /// Gives the message up as a raw pointer (the C API's `natsMsg *`).
    pub(crate) fn into_raw(self) -> std::ptr::NonNull<u8> {
        self.frame.into_raw()
    }

    /// Takes back a message given up by [`Message::into_raw`].
    ///
    /// # Safety
    /// As [`MsgFrame::from_raw`].
    pub(crate) unsafe fn from_raw(p: std::ptr::NonNull<u8>) -> Message {
        // SAFETY: forwarded contract.
        Message {
            frame: unsafe { MsgFrame::from_raw(p) },
        }
    }

    /// The subject.
    pub fn subject(&self) -> &str {
        self.frame.subject()
    }

    /// The reply subject, if any.
    pub fn reply(&self) -> Option<&str> {
        self.frame.reply()
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.frame.payload()
    }

    /// The headers, if the message has any.
    pub fn headers(&self) -> Option<&Headers> {
        self.frame.headers()
    }

    /// The headers, created empty on first use, for adding or changing entries.
    pub fn headers_mut(&mut self) -> &mut Headers {
        self.frame.headers_slot().get_or_insert_with(Headers::new)
    }

    /// The headers for changing or removing entries, without creating them.
    pub(crate) fn headers_opt_mut(&mut self) -> Option<&mut Headers> {
        self.frame.headers_slot().as_mut()
    }

    /// True if this is the server's "no responders" status message (503, empty payload).
    pub fn is_no_responders(&self) -> bool {
        self.frame.payload_len() == 0 && self.headers().and_then(|h| h.status()) == Some(503)
    }

    /// The subject as a NUL-terminated C string (borrowed from the message).
    pub(crate) fn subject_cstr(&self) -> &CStr {
        cstr_at(self.frame.buf(), 0)
    }

    /// The reply as a NUL-terminated C string, if any.
    pub(crate) fn reply_cstr(&self) -> Option<&CStr> {
        self.frame
            .reply_len()
            .map(|_| cstr_at(self.frame.buf(), self.frame.subject_len() + 1))
    }

    /// The payload followed by a NUL byte (for `natsMsg_GetData`).
    pub(crate) fn payload_with_nul(&self) -> &[u8] {
        let start = self.frame.payload_offset();
        let end = start + self.frame.payload_len() + 1;
        self.frame.buf().get(start..end).unwrap_or(b"\0")
    }

    /// Bytes the message counts for pending limits: headers + payload.
    pub(crate) fn size(&self) -> usize {
        self.frame.header_len() + self.frame.payload_len()
    }

    /// Encodes the headers (if any, and non-empty) into `out`.
    pub(crate) fn encode_headers(&self, out: &mut Vec<u8>) {
        if let Some(h) = self.headers()
            && (!h.is_empty() || h.status().is_some())
        {
            h.encode(out);
        }
    }
}

fn cstr_at(buf: &[u8], start: usize) -> &CStr {
    buf.get(start..)
        .and_then(|s| CStr::from_bytes_until_nul(s).ok())
        .unwrap_or(c"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_message_layout() {
        let m = Message::with_reply("foo", "bar", b"hi").unwrap();
        assert_eq!(m.subject(), "foo");
        assert_eq!(m.reply(), Some("bar"));
        assert_eq!(m.subject_cstr().to_str().unwrap(), "foo");
        assert_eq!(m.reply_cstr().unwrap().to_str().unwrap(), "bar");
        assert_eq!(m.payload_with_nul(), b"hi\0");
        let e = Message::new("", b"").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        assert_eq!(
            Message::with_reply("a", "", b"").unwrap_err().kind(),
            ErrorKind::InvalidArg
        );
        let empty = Message::new("x", b"").unwrap();
        assert_eq!(empty.payload_with_nul(), b"\0");
        assert!(empty.reply_cstr().is_none());
    }
}
