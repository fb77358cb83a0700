//! The NATS client protocol, sans-I/O: an incremental [`Parser`] for what a
//! server sends, and encoders for what a client sends.
//!
//! Nothing here touches a socket. The connection reads bytes, hands them to
//! [`Parser::parse`] (in chunks of any size, split anywhere) and gets back
//! [`ServerOp`]s; it writes the bytes produced by [`encode_pub`],
//! [`encode_sub`], [`encode_unsub`], [`encode_connect`], [`PING`] and [`PONG`].
//!
//! # Wire rules enforced by the parser
//!
//! * Every control line ends with `\r\n`; a bare `\n` (or a `\r` anywhere else
//!   in the line) is a protocol error.
//! * Operation names are case-insensitive; arguments are separated by one or
//!   more spaces or tabs. `PING`, `PONG` and `+OK` take no arguments (trailing
//!   blanks are tolerated, anything else is an error).
//! * A control line (not counting its `\r\n`) may be at most
//!   `max_control_line` bytes ([`MAX_CONTROL_LINE`] by default), except `INFO`
//!   lines, which may be up to [`MAX_INFO_LINE`] bytes; longer lines give
//!   [`ErrorKind::LineTooLong`].
//! * A `MSG`/`HMSG` payload larger than the parser's `max_payload` is a
//!   protocol error, as is a payload not followed by `\r\n`.
//! * Subjects and reply subjects must be UTF-8 without control characters.
//!
//! After the first error the parser is poisoned and returns that error from
//! every later call: the connection must be dropped. The operations emitted
//! and the kind of error do not depend on how the input was split (checked
//! by the `parser` fuzz target, `scripts/fuzz.sh`).

use crate::error::{Error, ErrorKind, Result};

/// Default limit for the length of a control line (without its `\r\n`).
pub const MAX_CONTROL_LINE: usize = 4096;

/// Limit for the length of an `INFO` line (without its `\r\n`); `INFO` can
/// legitimately be long because of `connect_urls`.
pub const MAX_INFO_LINE: usize = 1 << 20;

/// Default limit for the size of a message (headers plus payload) accepted by
/// the parser, until the connection sets one with [`Parser::set_max_payload`].
pub const DEFAULT_MAX_PAYLOAD: usize = 64 << 20;

/// How many bytes of offending input an error text quotes.
const QUOTE_LIMIT: usize = 64;

/// Server information sent in `INFO`. Every field defaults when absent;
/// unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct ServerInfo {
    /// Unique id of the server.
    pub server_id: String,
    /// Configured name of the server.
    pub server_name: String,
    /// Server version, e.g. `2.10.7`.
    pub version: String,
    /// Go version the server was built with.
    pub go: String,
    /// Host the server listens on.
    pub host: String,
    /// Port the server listens on.
    pub port: u16,
    /// Protocol level the server speaks.
    pub proto: i32,
    /// Largest message (headers plus payload) the server accepts.
    pub max_payload: i64,
    /// Whether the server supports headers (`HPUB`/`HMSG`).
    pub headers: bool,
    /// Whether the server requires authentication.
    pub auth_required: bool,
    /// Whether the server requires TLS.
    pub tls_required: bool,
    /// Whether the server offers TLS.
    pub tls_available: bool,
    /// Other servers of the cluster a client may connect to.
    pub connect_urls: Vec<String>,
    /// Id the server gave this client.
    pub client_id: u64,
    /// This client's IP address as seen by the server.
    pub client_ip: String,
    /// Nonce to sign for NKey/JWT authentication.
    pub nonce: String,
    /// The server is entering lame duck mode.
    pub ldm: bool,
    /// Whether JetStream is enabled on the server.
    pub jetstream: bool,
    /// Name of the server's cluster.
    pub cluster: String,
}

pub use crate::frame::MsgFrame;
use crate::frame::Parts;

/// One operation received from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerOp {
    /// `INFO {json}\r\n`: server information.
    Info(Box<ServerInfo>),
    /// `MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n` or
    /// `HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>\r\n<headers+payload>\r\n`:
    /// a message for a subscription.
    Msg(MsgFrame),
    /// `PING\r\n`: the server wants a `PONG`.
    Ping,
    /// `PONG\r\n`: answer to our `PING`.
    Pong,
    /// `+OK\r\n`: acknowledgement in verbose mode.
    Ok,
    /// `-ERR <text>\r\n`: an error; the text has surrounding blanks and one
    /// pair of single quotes removed (`-ERR 'Stale Connection'` gives
    /// `Stale Connection`).
    Err(String),
}

/// A message whose control line has been read and whose body is being read.
#[derive(Debug)]
struct PendingMsg {
    /// Subject, NUL, reply and NUL written; the body goes at `at`.
    frame: MsgFrame,
    at: usize,
    /// Body bytes (headers plus payload) still to come.
    remaining: usize,
    /// How many bytes of the `\r\n` after the body have been seen (0..=2).
    trailer: u8,
}

impl PendingMsg {
    /// Takes what belongs to this message from `rest`; returns how many bytes
    /// were used and whether the message is complete.
    fn feed(&mut self, rest: &[u8]) -> Result<(usize, bool)> {
        let mut used = self.remaining.min(rest.len());
        if let Some(body) = rest.get(..used) {
            self.frame.write_at(self.at, body);
            self.at += used;
        }
        self.remaining -= used;
        if self.remaining > 0 {
            return Ok((used, false));
        }
        while self.trailer < 2 {
            let Some(&b) = rest.get(used) else {
                return Ok((used, false));
            };
            let expected = if self.trailer == 0 { b'\r' } else { b'\n' };
            if b != expected {
                return Err(proto_err(
                    "message payload not followed by CRLF",
                    rest.get(used..).unwrap_or_default(),
                ));
            }
            self.trailer += 1;
            used += 1;
        }
        Ok((used, true))
    }

    /// The message (its NUL and padding are zeros from the allocation).
    fn into_frame(self) -> MsgFrame {
        self.frame
    }
}

#[derive(Debug)]
enum State {
    /// Reading a control line (partial bytes, if any, are in `Parser::line`).
    Line,
    /// Reading the body of a `MSG`/`HMSG`.
    Msg(PendingMsg),
}

/// Incremental parser for the server-to-client protocol.
///
/// Feed it bytes as they arrive with [`Parser::parse`]; input may be split at
/// any byte. Only an unfinished control line is buffered (bounded by the line
/// limits) and an unfinished message body (bounded by `max_payload`).
#[derive(Debug)]
pub struct Parser {
    state: State,
    /// Bytes of an unfinished control line.
    pub(crate) line: Vec<u8>,
    max_control_line: usize,
    max_payload: usize,
    /// Zero bytes added after each message's payload (beyond its NUL).
    padding: usize,
    poisoned: Option<Error>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl Parser {
    /// A parser with the default limits: [`MAX_CONTROL_LINE`] and
    /// [`DEFAULT_MAX_PAYLOAD`].
    pub fn new() -> Self {
        Parser::with_max_control_line(MAX_CONTROL_LINE)
    }

    /// A parser whose non-`INFO` control lines may be at most
    /// `max_control_line` bytes (without `\r\n`). `INFO` lines may be up to
    /// the larger of this and [`MAX_INFO_LINE`].
    pub fn with_max_control_line(max_control_line: usize) -> Self {
        Parser {
            state: State::Line,
            line: Vec::new(),
            max_control_line,
            max_payload: DEFAULT_MAX_PAYLOAD,
            padding: 0,
            poisoned: None,
        }
    }

    /// Sets the largest message body (headers plus payload) accepted; bigger
    /// announced sizes are a protocol error. Applies to messages whose control
    /// line is parsed after this call.
    #[allow(dead_code)] // the default (64 MiB) is the server's own hard limit
    pub fn set_max_payload(&mut self, n: usize) {
        self.max_payload = n;
    }

    /// Makes every message's payload followed by `n` more zero bytes (after
    /// its terminating NUL), for readers that scan past the end
    /// (`natsOptions_SetMessageBufferPadding`).
    pub fn set_padding(&mut self, n: usize) {
        self.padding = n;
    }

    /// Feeds bytes; every complete operation is passed to `emit`, in order.
    ///
    /// # Errors
    /// [`ErrorKind::ProtocolError`] on anything that is not the protocol,
    /// [`ErrorKind::LineTooLong`] on an over-long control line,
    /// [`ErrorKind::NoMemory`] if a message buffer cannot be allocated. After
    /// an error the parser is poisoned: every later call returns the same
    /// error without looking at its input. Operations completed before the
    /// error in the same call have already been emitted.
    pub fn parse(&mut self, input: &[u8], emit: &mut dyn FnMut(ServerOp)) -> Result<()> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let res = self.run(input, emit);
        if let Err(e) = &res {
            self.poisoned = Some(e.clone());
            self.state = State::Line;
            self.line = Vec::new();
        }
        res
    }

    fn run(&mut self, input: &[u8], emit: &mut dyn FnMut(ServerOp)) -> Result<()> {
        let mut rest = input;
        while !rest.is_empty() {
            let used = match &mut self.state {
                State::Msg(pending) => {
                    let (used, done) = pending.feed(rest)?;
                    if done
                        && let State::Msg(pending) = std::mem::replace(&mut self.state, State::Line)
                    {
                        emit(ServerOp::Msg(pending.into_frame()));
                    }
                    used
                }
                State::Line => match self.fast_msg(rest) {
                    Some((used, frame)) => {
                        emit(ServerOp::Msg(frame));
                        used
                    }
                    None => self.feed_line(rest, emit)?,
                },
            };
            rest = rest.get(used..).unwrap_or_default();
        }
        Ok(())
    }

    /// The usual case, in one pass: `rest` starts with a whole, plain
    /// `MSG <subject> <sid> [reply] <size>\r\n` (single spaces; subject and
    /// reply printable ASCII) followed by its whole payload and `\r\n`.
    /// Returns the bytes used and the message; `None` for anything else (an
    /// unfinished line or body, other spacing, non-ASCII, errors...), which
    /// the general path then handles from the same byte, so both give the
    /// same result.
    fn fast_msg(&self, rest: &[u8]) -> Option<(usize, MsgFrame)> {
        if !self.line.is_empty() || !rest.starts_with(b"MSG ") {
            return None;
        }
        // The `\r` ends a line of at most `max_control_line` bytes.
        let scan = rest.get(4..self.max_control_line.saturating_add(1).min(rest.len()))?;
        let (toks, n, cr) = split_line(scan)?;
        let cr = cr + 4;
        if rest.get(cr + 1) != Some(&b'\n') {
            return None;
        }
        let tok = |k: usize| toks.get(k).and_then(|&(a, b)| scan.get(a..b));
        let (subject, sid, reply, size) = match n {
            3 => (tok(0)?, tok(1)?, None, tok(2)?),
            4 => (tok(0)?, tok(1)?, Some(tok(2)?), tok(3)?),
            _ => return None,
        };
        let sid = parse_num(sid)?;
        let size = usize::try_from(parse_num(size)?).ok()?;
        if size > self.max_payload {
            return None;
        }
        let body = cr + 2;
        let end = body.checked_add(size)?;
        if rest.get(end..end + 2) != Some(b"\r\n") {
            return None;
        }
        let payload = rest.get(body..end)?;
        let parts = Parts {
            sid,
            subject_len: subject.len(),
            reply_len: reply.map(<[u8]>::len),
            header_len: 0,
            payload_len: size,
            padding: self.padding,
        };
        let mut frame = MsgFrame::with_subjects(parts, subject, reply)?;
        frame.write_at(frame.body_offset(), payload);
        Some((end + 2, frame))
    }

    /// The length limit for the control line starting with the buffered bytes
    /// followed by `rest`.
    fn line_limit(&self, rest: &[u8]) -> usize {
        let mut head = self.line.iter().chain(rest).take(4).peekable();
        let is_info =
            head.peek().is_some() && head.zip(b"INFO").all(|(b, i)| b.eq_ignore_ascii_case(i));
        if is_info {
            self.max_control_line.max(MAX_INFO_LINE)
        } else {
            self.max_control_line
        }
    }

    /// Reads (part of) a control line from `rest`; returns the bytes used.
    fn feed_line(&mut self, rest: &[u8], emit: &mut dyn FnMut(ServerOp)) -> Result<usize> {
        // Garbage is reported as such before any length check, so that the
        // error does not depend on how the input was split (found by fuzzing:
        // a long unknown line was LineTooLong whole, ProtocolError in pieces).
        if !op_prefix_ok(self.line.iter().chain(rest).copied()) {
            return Err(self.line_err(ErrorKind::ProtocolError, "unknown operation", rest));
        }
        let limit = self.line_limit(rest);
        // The line, `\r\n` included, may take at most limit + 2 bytes: look no further.
        let window = limit.saturating_add(2).saturating_sub(self.line.len());
        let searched = rest.get(..window).unwrap_or(rest);
        let Some(nl) = searched.iter().position(|&b| b == b'\n') else {
            if self.line.len().saturating_add(rest.len()) > limit.saturating_add(1) {
                return Err(self.line_err(ErrorKind::LineTooLong, "control line too long", rest));
            }
            self.line.extend_from_slice(rest);
            return Ok(rest.len());
        };
        let before_nl = match nl.checked_sub(1) {
            Some(i) => rest.get(i).copied(),
            None => self.line.last().copied(),
        };
        if before_nl != Some(b'\r') {
            return Err(self.line_err(
                ErrorKind::ProtocolError,
                "control line not terminated by CRLF",
                rest,
            ));
        }
        if (self.line.len() + nl).saturating_sub(1) > limit {
            return Err(self.line_err(ErrorKind::LineTooLong, "control line too long", rest));
        }
        if self.line.is_empty() {
            // The whole line is in `rest` (nl >= 1 here): no copy.
            let content = rest.get(..nl.saturating_sub(1)).unwrap_or_default();
            self.process_line(content, emit)?;
        } else {
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(rest.get(..nl).unwrap_or_default());
            line.pop(); // the '\r'
            self.process_line(&line, emit)?;
            if line.capacity() <= 2 * MAX_CONTROL_LINE {
                line.clear();
                self.line = line;
            }
        }
        Ok(nl + 1)
    }

    /// An error quoting the start of the current line.
    fn line_err(&self, kind: ErrorKind, what: &str, rest: &[u8]) -> Error {
        let mut head = Vec::with_capacity(QUOTE_LIMIT + 1);
        head.extend(self.line.iter().chain(rest).take(QUOTE_LIMIT + 1));
        Error::new(kind, format!("{what}: {}", quote(&head)))
    }

    /// Handles one complete control line (without its `\r\n`).
    fn process_line(&mut self, line: &[u8], emit: &mut dyn FnMut(ServerOp)) -> Result<()> {
        if line.contains(&b'\r') {
            return Err(proto_err("unexpected CR in control line", line));
        }
        let op_end = line.iter().position(|&b| is_blank(b)).unwrap_or(line.len());
        let (op, args) = line.split_at(op_end);
        let args = trim_blanks(args);
        if op.eq_ignore_ascii_case(b"MSG") {
            self.begin_msg(args, false, line)
        } else if op.eq_ignore_ascii_case(b"HMSG") {
            self.begin_msg(args, true, line)
        } else if op.eq_ignore_ascii_case(b"PING") {
            no_args(args, line)?;
            emit(ServerOp::Ping);
            Ok(())
        } else if op.eq_ignore_ascii_case(b"PONG") {
            no_args(args, line)?;
            emit(ServerOp::Pong);
            Ok(())
        } else if op.eq_ignore_ascii_case(b"+OK") {
            no_args(args, line)?;
            emit(ServerOp::Ok);
            Ok(())
        } else if op.eq_ignore_ascii_case(b"-ERR") {
            let text = args
                .strip_prefix(b"'")
                .and_then(|t| t.strip_suffix(b"'"))
                .unwrap_or(args);
            emit(ServerOp::Err(String::from_utf8_lossy(text).into_owned()));
            Ok(())
        } else if op.eq_ignore_ascii_case(b"INFO") {
            if args.is_empty() {
                return Err(proto_err("INFO without arguments", line));
            }
            match serde_json::from_slice::<ServerInfo>(args) {
                Ok(info) => {
                    emit(ServerOp::Info(Box::new(info)));
                    Ok(())
                }
                Err(e) => {
                    // serde's text quotes the offending value whole: cut it
                    // (found by fuzzing: a 1 MiB INFO string gave a ~6 MB error).
                    let why = e.to_string();
                    let why = cut_text(&why, QUOTE_LIMIT);
                    Err(proto_err(&format!("invalid INFO ({why})"), line))
                }
            }
        } else {
            Err(proto_err("unknown operation", line))
        }
    }

    /// Parses the arguments of `MSG`/`HMSG` and switches to reading the body.
    fn begin_msg(&mut self, args: &[u8], hdr: bool, line: &[u8]) -> Result<()> {
        // Split on blanks by hand, in one pass (this runs for every message).
        let mut toks: [&[u8]; 5] = [&[]; 5];
        let mut n = 0;
        let mut start = usize::MAX; // start of the current token, if any
        for (i, &b) in args.iter().enumerate() {
            if is_blank(b) {
                if start != usize::MAX {
                    let slot = toks
                        .get_mut(n)
                        .ok_or_else(|| proto_err("too many arguments", line))?;
                    *slot = args.get(start..i).unwrap_or_default();
                    n += 1;
                    start = usize::MAX;
                }
            } else if start == usize::MAX {
                start = i;
            }
        }
        if start != usize::MAX {
            let slot = toks
                .get_mut(n)
                .ok_or_else(|| proto_err("too many arguments", line))?;
            *slot = args.get(start..).unwrap_or_default();
            n += 1;
        }
        let toks = toks.get(..n).unwrap_or_default();
        let (subject, sid, reply, hlen, total) = match (hdr, toks) {
            (false, &[s, i, t]) => (s, i, None, None, t),
            (false, &[s, i, r, t]) => (s, i, Some(r), None, t),
            (true, &[s, i, h, t]) => (s, i, None, Some(h), t),
            (true, &[s, i, r, h, t]) => (s, i, Some(r), Some(h), t),
            _ => return Err(proto_err("wrong number of arguments", line)),
        };
        check_subject(subject, line)?;
        if let Some(r) = reply {
            check_subject(r, line)?;
        }
        let sid = parse_num(sid).ok_or_else(|| proto_err("invalid sid", line))?;
        let total = parse_num(total).ok_or_else(|| proto_err("invalid size", line))?;
        let hlen = match hlen {
            Some(h) => parse_num(h).ok_or_else(|| proto_err("invalid header size", line))?,
            None => 0,
        };
        if hlen > total {
            return Err(proto_err("header size larger than total size", line));
        }
        let total = usize::try_from(total)
            .ok()
            .filter(|&t| t <= self.max_payload)
            .ok_or_else(|| proto_err("message larger than maximum payload", line))?;
        // hlen <= total, so it fits.
        let hlen = usize::try_from(hlen).unwrap_or(total);
        let parts = Parts {
            sid,
            subject_len: subject.len(),
            reply_len: reply.map(<[u8]>::len),
            header_len: hlen,
            payload_len: total - hlen,
            padding: self.padding,
        };
        let Some(frame) = MsgFrame::with_subjects(parts, subject, reply) else {
            return Err(Error::new(
                ErrorKind::NoMemory,
                format!("cannot allocate a message of {total} bytes"),
            ));
        };
        self.state = State::Msg(PendingMsg {
            at: frame.body_offset(),
            frame,
            remaining: total,
            trailer: 0,
        });
        Ok(())
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_blanks(mut s: &[u8]) -> &[u8] {
    while let [first, tail @ ..] = s {
        if !is_blank(*first) {
            break;
        }
        s = tail;
    }
    while let [head @ .., last] = s {
        if !is_blank(*last) {
            break;
        }
        s = head;
    }
    s
}

fn no_args(args: &[u8], line: &[u8]) -> Result<()> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(proto_err("unexpected arguments", line))
    }
}

/// Whether the bytes so far of an unfinished line can still start a known
/// operation (used to reject garbage before buffering it).
fn op_prefix_ok(bytes: impl Iterator<Item = u8>) -> bool {
    const OPS: [&[u8]; 7] = [b"INFO", b"MSG", b"HMSG", b"PING", b"PONG", b"+OK", b"-ERR"];
    let mut tok = [0u8; 4];
    let mut len = 0;
    for b in bytes {
        if is_blank(b) || b == b'\r' || b == b'\n' {
            // The operation name is complete.
            let tok = tok.get(..len).unwrap_or_default();
            return OPS.iter().any(|op| op.eq_ignore_ascii_case(tok));
        }
        match tok.get_mut(len) {
            Some(slot) => *slot = b,
            None => return false, // longer than any operation name
        }
        len += 1;
    }
    let tok = tok.get(..len).unwrap_or_default();
    OPS.iter().any(|op| {
        op.get(..len)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(tok))
    })
}

/// Subjects and replies: UTF-8, no control characters (they must stay usable
/// as C strings and on the wire).
fn check_subject(s: &[u8], line: &[u8]) -> Result<()> {
    // Printable ASCII (the usual case) is valid UTF-8 without a second look.
    if s.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Ok(());
    }
    if s.iter().any(|&b| b < 0x20 || b == 0x7f) || std::str::from_utf8(s).is_err() {
        return Err(proto_err("invalid subject", line));
    }
    Ok(())
}

/// Classifies the eight bytes of `w` (little-endian: byte `i` is bits
/// `8i..8i+8`): in the first mask the top bit of each byte outside 0x20..=0x7e
/// (control bytes, DEL, non-ASCII) is set, in the second that of each blank
/// (0x20). Exact per byte: the additions act on the low seven bits of each
/// byte and cannot carry into the next.
#[inline(always)]
pub(crate) fn byte_classes(w: u64) -> (u64, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOWS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let low = w & LOWS;
    let control = !((low + 0x60 * ONES) | w) & TOPS; // below 0x20
    let high = (w | (low + ONES)) & TOPS; // 0x7f and up
    let x = w ^ (0x20 * ONES);
    let blanks = !(((x & LOWS) + LOWS) | x) & TOPS;
    (control | high, blanks)
}

/// Token bounds, token count and the position of the `\r`.
type SplitLine = ([(usize, usize); 4], usize, usize);

/// Splits the control line at the start of `scan` (printable ASCII tokens
/// separated by single blanks, ended by `\r`) into at most four tokens:
/// their bounds, their count and where the `\r` is. `None` for anything
/// else, or when the `\r` is not within `scan`; the general parser then
/// decides.
///
/// Eight bytes at a time, with [`byte_classes`].
#[inline(always)]
fn split_line(scan: &[u8]) -> Option<SplitLine> {
    let mut toks = [(0usize, 0usize); 4];
    let mut n = 0;
    let mut start = 0;
    let mut at = 0;
    loop {
        let mut word = [0u8; 8];
        let chunk = scan.get(at..)?;
        if chunk.is_empty() {
            return None;
        }
        let take = chunk.len().min(8);
        word[..take].copy_from_slice(&chunk[..take]);
        // Zero padding past the end of `scan` reads as a stop byte, which is
        // then not a `\r`.
        let (stop, blanks) = byte_classes(u64::from_le_bytes(word));
        let (mut marks, end) = if stop == 0 {
            (blanks, None)
        } else {
            let bit = stop.trailing_zeros();
            let pos = (bit / 8) as usize;
            if word[pos] != b'\r' {
                return None;
            }
            // The blanks before the `\r`, and the `\r` itself.
            let below = (1u64 << bit) - 1;
            ((blanks & below) | (1u64 << bit), Some(at + pos))
        };
        while marks != 0 {
            let i = at + (marks.trailing_zeros() / 8) as usize;
            marks &= marks - 1;
            if i == start || n == 4 {
                return None; // empty token, or too many
            }
            toks[n] = (start, i);
            n += 1;
            start = i + 1;
        }
        if let Some(cr) = end {
            return Some((toks, n, cr));
        }
        at += 8;
    }
}

/// A non-empty decimal number without sign; `None` on anything else or overflow.
#[inline]
fn parse_num(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    // Up to 19 digits cannot overflow a u64: no checked arithmetic then.
    let mut acc = 0u64;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        acc = if s.len() < 20 {
            acc * 10 + u64::from(d)
        } else {
            acc.checked_mul(10)?.checked_add(u64::from(d))?
        };
    }
    Some(acc)
}

fn proto_err(what: &str, input: &[u8]) -> Error {
    Error::new(
        ErrorKind::ProtocolError,
        format!("{what}: {}", quote(input)),
    )
}

/// `text` cut to at most `max` bytes (at a character boundary), with `...`
/// appended when cut.
fn cut_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", text.get(..end).unwrap_or_default())
}

/// `input` quoted for an error text: at most [`QUOTE_LIMIT`] bytes, with
/// non-printable bytes escaped, `...` appended when cut.
fn quote(input: &[u8]) -> String {
    let shown = input.get(..QUOTE_LIMIT).unwrap_or(input);
    let mut s = String::with_capacity(shown.len() + 8);
    s.push('\'');
    for &b in shown {
        s.extend(std::ascii::escape_default(b).map(char::from));
    }
    s.push('\'');
    if shown.len() < input.len() {
        s.push_str("...");
    }
    s
}

// ---------------------------------------------------------------------------
// Encoders
// ---------------------------------------------------------------------------

/// `PING\r\n`.
pub const PING: &[u8] = b"PING\r\n";
/// `PONG\r\n`.
pub const PONG: &[u8] = b"PONG\r\n";

/// Appends `n` in decimal.
fn push_num(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut n = n;
    let mut len = 0;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(digits.len() - len..).unwrap_or_default());
}

/// The number of decimal digits of `n`.
#[inline]
fn digit_count(n: usize) -> usize {
    if n < 10 {
        return 1;
    }
    if n < 100 {
        return 2;
    }
    let mut count = 3;
    let mut v = n / 1000;
    while v > 0 {
        v /= 10;
        count += 1;
    }
    count
}

/// Copies `src` to `dst`, the usual short lengths without a call.
///
/// # Safety
/// `dst` must be valid for `src.len()` byte writes and not overlap `src`.
#[inline(always)]
unsafe fn copy_to(src: &[u8], dst: *mut u8) {
    let n = src.len();
    let s = src.as_ptr();
    // SAFETY: the reads stay within `src` (each window starts at 0 or ends
    // at `n`, and is taken only when `n` is at least its width); the writes
    // mirror them within the `n` bytes at `dst` the caller vouches for.
    unsafe {
        if (8..=16).contains(&n) {
            let head = s.cast::<u64>().read_unaligned();
            let tail = s.add(n - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(head);
            dst.add(n - 8).cast::<u64>().write_unaligned(tail);
        } else if (4..8).contains(&n) {
            let head = s.cast::<u32>().read_unaligned();
            let tail = s.add(n - 4).cast::<u32>().read_unaligned();
            dst.cast::<u32>().write_unaligned(head);
            dst.add(n - 4).cast::<u32>().write_unaligned(tail);
        } else {
            std::ptr::copy_nonoverlapping(s, dst, n);
        }
    }
}

/// Appends `PUB <subject> <#bytes>\r\n<payload>\r\n`, written in place into
/// `out`'s spare room: one capacity check, no intermediate buffer (this runs
/// once per publish).
#[inline]
pub(crate) fn encode_plain_pub(out: &mut Vec<u8>, subject: &[u8], payload: &[u8]) {
    let digits = digit_count(payload.len());
    let total = 4 + subject.len() + 1 + digits + 2 + payload.len() + 2;
    out.reserve(total);
    let start = out.len();
    // SAFETY: `reserve` made room for `total` bytes after `start`. The writes
    // below are 4 + subject + 1 + digits + 2 + payload + 2 = `total` bytes,
    // one after the other from `start`, from slices that cannot overlap
    // `out` (it is borrowed mutably); `set_len` then covers exactly them.
    unsafe {
        let mut p = out.as_mut_ptr().add(start);
        p.cast::<[u8; 4]>().write_unaligned(*b"PUB ");
        p = p.add(4);
        copy_to(subject, p);
        p = p.add(subject.len());
        p.write(b' ');
        p = p.add(1);
        let mut v = payload.len();
        for i in (0..digits).rev() {
            p.add(i).write(b'0' + (v % 10) as u8);
            v /= 10;
        }
        p = p.add(digits);
        p.cast::<[u8; 2]>().write_unaligned(*b"\r\n");
        p = p.add(2);
        copy_to(payload, p);
        p = p.add(payload.len());
        p.cast::<[u8; 2]>().write_unaligned(*b"\r\n");
        out.set_len(start + total);
    }
}

fn push_len(out: &mut Vec<u8>, n: usize) {
    push_num(out, u64::try_from(n).unwrap_or(u64::MAX));
}

/// Appends a publish: `PUB <subject> [reply] <#bytes>\r\n<payload>\r\n` when
/// `headers` is empty, else
/// `HPUB <subject> [reply] <#header bytes> <#total bytes>\r\n<headers><payload>\r\n`.
///
/// The input is not validated: the caller has checked the subjects (no
/// blanks or control characters) and that `headers`, if any, is a complete
/// `NATS/1.0` header block.
pub fn encode_pub(
    out: &mut Vec<u8>,
    subject: &str,
    reply: Option<&str>,
    headers: &[u8],
    payload: &[u8],
) {
    if headers.is_empty() && reply.is_none() {
        encode_plain_pub(out, subject.as_bytes(), payload);
        return;
    }
    let reply_len = reply.map_or(0, |r| r.len() + 1);
    out.reserve(subject.len() + reply_len + headers.len() + payload.len() + 56);
    if headers.is_empty() {
        out.extend_from_slice(b"PUB ");
    } else {
        out.extend_from_slice(b"HPUB ");
    }
    out.extend_from_slice(subject.as_bytes());
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r.as_bytes());
        out.push(b' ');
    }
    if !headers.is_empty() {
        push_len(out, headers.len());
        out.push(b' ');
    }
    push_len(out, headers.len().saturating_add(payload.len()));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(headers);
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends `SUB <subject> [queue] <sid>\r\n`. The caller has validated the
/// subject and the queue name.
pub fn encode_sub(out: &mut Vec<u8>, subject: &str, queue: Option<&str>, sid: u64) {
    out.extend_from_slice(b"SUB ");
    out.extend_from_slice(subject.as_bytes());
    out.push(b' ');
    if let Some(q) = queue {
        out.extend_from_slice(q.as_bytes());
        out.push(b' ');
    }
    push_num(out, sid);
    out.extend_from_slice(b"\r\n");
}

/// Appends `UNSUB <sid> [max]\r\n`.
pub fn encode_unsub(out: &mut Vec<u8>, sid: u64, max: Option<u64>) {
    out.extend_from_slice(b"UNSUB ");
    push_num(out, sid);
    if let Some(max) = max {
        out.push(b' ');
        push_num(out, max);
    }
    out.extend_from_slice(b"\r\n");
}

/// The options sent in `CONNECT`. `None` fields are left out of the JSON;
/// all others (notably `verbose`, `pedantic` and `echo`) are always written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ConnectInfo {
    /// Ask the server to acknowledge every operation with `+OK`.
    pub verbose: bool,
    /// Ask the server for strict checking.
    pub pedantic: bool,
    /// Whether the client requires TLS.
    pub tls_required: bool,
    /// Optional client name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Client implementation language.
    pub lang: String,
    /// Client version.
    pub version: String,
    /// Protocol level (1 for dynamic cluster discovery).
    pub protocol: i32,
    /// Whether the server may send this client's own messages back to it.
    pub echo: bool,
    /// Whether the client supports headers.
    pub headers: bool,
    /// Whether the client wants no-responders (503) status messages.
    pub no_responders: bool,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Authentication token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// User JWT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// Public NKey.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// Signature of the server's nonce.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

/// Appends `CONNECT {json}\r\n`.
pub fn encode_connect(out: &mut Vec<u8>, info: &ConnectInfo) {
    out.extend_from_slice(b"CONNECT ");
    let json_start = out.len();
    if serde_json::to_writer(&mut *out, info).is_err() {
        // Cannot happen for this plain struct; keep the line well formed.
        out.truncate(json_start);
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(p: &mut Parser, input: &[u8]) -> Result<Vec<ServerOp>> {
        let mut ops = Vec::new();
        p.parse(input, &mut |op| ops.push(op))?;
        Ok(ops)
    }

    fn ops_of(input: &[u8]) -> Vec<ServerOp> {
        parse_all(&mut Parser::new(), input).expect("valid input")
    }

    fn err_of(input: &[u8]) -> Error {
        let mut p = Parser::new();
        parse_all(&mut p, input).expect_err("invalid input")
    }

    fn msg(ops: &[ServerOp]) -> &MsgFrame {
        match ops {
            [ServerOp::Msg(m)] => m,
            other => panic!("expected one MSG, got {other:?}"),
        }
    }

    /// Every op must come out the same whatever the split.
    const FIXTURES: &[&[u8]] = &[
        b"PING\r\n",
        b"PONG\r\n",
        b"+OK\r\n",
        b"ping\r\npong\r\n+ok\r\n",
        b"-ERR 'Stale Connection'\r\n",
        b"-ERR 'Authorization Violation'\r\nPING\r\n",
        b"INFO {\"server_id\":\"ABC\",\"port\":4222,\"max_payload\":1048576,\"headers\":true,\"connect_urls\":[\"a:1\",\"b:2\"]}\r\n",
        b"MSG FOO.BAR 9 11\r\nHello World\r\n",
        b"MSG FOO.BAR 9 INBOX.34 11\r\nHello World\r\n",
        b"MSG foo 1 0\r\n\r\n",
        b"MSG foo 1 4\r\n\r\n\r\n\r\n",
        b"msg\tfoo  \t 12\t\t5  \r\nhello\r\n",
        b"HMSG FOO.BAR 9 34 45\r\nNATS/1.0\r\nFoodGroup: vegetable\r\n\r\nHello World\r\n",
        b"HMSG FOO.BAR 9 _INBOX.1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
        b"HMSG x 7 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
        b"PING\r\nMSG a 1 3\r\nabc\r\nHMSG b 2 r 12 14\r\nNATS/1.0\r\n\r\nxy\r\nPONG\r\n-ERR x\r\n+OK\r\nINFO {}\r\n",
    ];

    #[test]
    fn ping_pong_ok() {
        assert_eq!(ops_of(b"PING\r\n"), vec![ServerOp::Ping]);
        assert_eq!(ops_of(b"PONG\r\n"), vec![ServerOp::Pong]);
        assert_eq!(ops_of(b"+OK\r\n"), vec![ServerOp::Ok]);
        assert_eq!(
            ops_of(b"pInG\r\nPONG \t\r\n+ok\r\n"),
            vec![ServerOp::Ping, ServerOp::Pong, ServerOp::Ok]
        );
    }

    #[test]
    fn err_text() {
        assert_eq!(
            ops_of(b"-ERR 'Stale Connection'\r\n"),
            vec![ServerOp::Err("Stale Connection".into())]
        );
        assert_eq!(
            ops_of(b"-err \t  'Unknown Protocol Operation'  \r\n"),
            vec![ServerOp::Err("Unknown Protocol Operation".into())]
        );
        assert_eq!(
            ops_of(b"-ERR plain text\r\n"),
            vec![ServerOp::Err("plain text".into())]
        );
        assert_eq!(ops_of(b"-ERR\r\n"), vec![ServerOp::Err(String::new())]);
        assert_eq!(ops_of(b"-ERR ''x''\r\n"), vec![ServerOp::Err("'x'".into())]);
    }

    #[test]
    fn info() {
        let ops = ops_of(
            b"INFO {\"server_id\":\"ID\",\"version\":\"2.10.0\",\"port\":4222,\"proto\":1,\"max_payload\":1048576,\"headers\":true,\"connect_urls\":[\"10.0.0.1:4222\"],\"client_id\":7,\"nonce\":\"n\",\"unknown\":{\"a\":[1]}}\r\n",
        );
        let [ServerOp::Info(info)] = ops.as_slice() else {
            panic!("expected INFO, got {ops:?}");
        };
        assert_eq!(info.server_id, "ID");
        assert_eq!(info.version, "2.10.0");
        assert_eq!(info.port, 4222);
        assert_eq!(info.proto, 1);
        assert_eq!(info.max_payload, 1_048_576);
        assert!(info.headers);
        assert!(!info.auth_required);
        assert_eq!(info.connect_urls, vec!["10.0.0.1:4222".to_string()]);
        assert_eq!(info.client_id, 7);
        assert_eq!(info.nonce, "n");
        assert_eq!(
            ops_of(b"info \t{}\r\n"),
            vec![ServerOp::Info(Box::default())]
        );
    }

    #[test]
    fn msg_without_reply() {
        let ops = ops_of(b"MSG FOO.BAR 9 11\r\nHello World\r\n");
        let m = msg(&ops);
        assert_eq!(m.sid(), 9);
        assert_eq!(m.subject(), "FOO.BAR");
        assert_eq!(m.reply(), None);
        assert_eq!(m.header_bytes(), b"");
        assert_eq!(m.payload(), b"Hello World");
        assert_eq!(m.buf(), b"FOO.BAR\0\0Hello World\0");
        assert_eq!(m.payload_offset(), 9);
        assert_eq!(m.buf().get(m.payload_offset() + m.payload_len()), Some(&0));
    }

    #[test]
    fn msg_with_reply() {
        let ops = ops_of(b"MSG FOO.BAR 9 INBOX.34 11\r\nHello World\r\n");
        let m = msg(&ops);
        assert_eq!(m.subject(), "FOO.BAR");
        assert_eq!(m.reply(), Some("INBOX.34"));
        assert_eq!(m.payload(), b"Hello World");
        assert_eq!(m.buf(), b"FOO.BAR\0INBOX.34\0Hello World\0");
    }

    #[test]
    fn hmsg() {
        let ops = ops_of(
            b"HMSG FOO.BAR 9 INBOX.1 34 45\r\nNATS/1.0\r\nFoodGroup: vegetable\r\n\r\nHello World\r\n",
        );
        let m = msg(&ops);
        assert_eq!(m.sid(), 9);
        assert_eq!(m.reply(), Some("INBOX.1"));
        assert_eq!(m.header_len(), 34);
        assert_eq!(
            m.header_bytes(),
            b"NATS/1.0\r\nFoodGroup: vegetable\r\n\r\n"
        );
        assert_eq!(m.payload(), b"Hello World");
        let ops = ops_of(b"hmsg s 1 12 12\r\nNATS/1.0\r\n\r\n\r\n");
        let m = msg(&ops);
        assert_eq!(m.header_bytes(), b"NATS/1.0\r\n\r\n");
        assert_eq!(m.payload(), b"");
        assert_eq!(m.reply(), None);
    }

    #[test]
    fn zero_payload_and_crlf_payload() {
        let ops = ops_of(b"MSG foo 1 0\r\n\r\n");
        let m = msg(&ops);
        assert_eq!(m.payload(), b"");
        assert_eq!(m.buf(), b"foo\0\0\0");
        let ops = ops_of(b"MSG foo 1 8\r\n\r\nPING\r\n\r\n");
        assert_eq!(msg(&ops).payload(), b"\r\nPING\r\n");
    }

    #[test]
    fn many_ops_in_one_buffer() {
        let ops = ops_of(FIXTURES.last().copied().unwrap_or_default());
        assert_eq!(ops.len(), 7);
        assert_eq!(ops.first(), Some(&ServerOp::Ping));
        assert!(matches!(ops.get(1), Some(ServerOp::Msg(m)) if m.payload() == b"abc"));
        assert!(
            matches!(ops.get(2), Some(ServerOp::Msg(m)) if m.payload() == b"xy" && m.reply() == Some("r"))
        );
        assert_eq!(ops.get(3), Some(&ServerOp::Pong));
        assert_eq!(ops.get(4), Some(&ServerOp::Err("x".into())));
        assert_eq!(ops.get(5), Some(&ServerOp::Ok));
        assert_eq!(ops.get(6), Some(&ServerOp::Info(Box::default())));
    }

    #[test]
    fn every_split_gives_same_ops() {
        let all: Vec<u8> = FIXTURES.concat();
        for &fixture in FIXTURES.iter().chain([all.as_slice()].iter()) {
            let whole = ops_of(fixture);
            assert!(!whole.is_empty());
            for cut in 0..=fixture.len() {
                let (a, b) = fixture.split_at(cut);
                let mut p = Parser::new();
                let mut ops = parse_all(&mut p, a).expect("first part");
                ops.extend(parse_all(&mut p, b).expect("second part"));
                assert_eq!(ops, whole, "split at {cut} of {:?}", quote(fixture));
            }
            let mut p = Parser::new();
            let mut ops = Vec::new();
            for byte in fixture.chunks(1) {
                ops.extend(parse_all(&mut p, byte).expect("byte"));
            }
            assert_eq!(ops, whole, "byte at a time: {:?}", quote(fixture));
        }
    }

    #[test]
    fn split_message_buffers_only_what_is_needed() {
        let mut p = Parser::new();
        assert_eq!(parse_all(&mut p, b"MSG a 1 5\r\nhe"), Ok(vec![]));
        assert!(p.line.is_empty());
        let ops = parse_all(&mut p, b"llo\r\n").expect("rest");
        let m = msg(&ops);
        assert_eq!(m.payload(), b"hello");
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        const ALPHABET: &[&[u8]] = &[
            b"MSG ",
            b"HMSG ",
            b"INFO ",
            b"PING",
            b"PONG",
            b"+OK",
            b"-ERR ",
            b"\r\n",
            b"\r",
            b"\n",
            b" ",
            b"\t",
            b"1",
            b"0",
            b"12",
            b"99999999999999999999",
            b"foo",
            b"{}",
            b"'",
            b"\0",
            b"\xff",
        ];
        let valid: Vec<u8> = FIXTURES.concat();
        let mut emitted = 0usize;
        for iter in 0..10_000 {
            let mut input = Vec::new();
            let len = (next() % 200) as usize;
            if iter % 3 == 0 {
                input.extend((0..len).map(|_| next() as u8));
            } else if iter % 3 == 1 {
                // A valid stream with a few bytes changed, to reach deep states.
                input = valid.clone();
                for _ in 0..(next() % 3 + 1) {
                    let at = (next() % input.len() as u64) as usize;
                    let byte = match next() % 4 {
                        0 => b' ',
                        1 => b'\r',
                        2 => b'9',
                        _ => next() as u8,
                    };
                    if let Some(slot) = input.get_mut(at) {
                        *slot = byte;
                    }
                }
            } else {
                while input.len() < len {
                    let pick = (next() % ALPHABET.len() as u64) as usize;
                    input.extend_from_slice(ALPHABET.get(pick).copied().unwrap_or_default());
                }
            }
            let mut p = Parser::new();
            if iter % 5 == 0 {
                p.set_max_payload(64);
            }
            let mut rest = input.as_slice();
            let mut failed = None;
            while !rest.is_empty() {
                let n = ((next() % 17) as usize + 1).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                if let Err(e) = p.parse(chunk, &mut |_| emitted += 1) {
                    failed = Some(e);
                    break;
                }
            }
            if let Some(e) = failed {
                assert!(matches!(
                    e.kind(),
                    ErrorKind::ProtocolError | ErrorKind::LineTooLong
                ));
                assert!(e.text().len() < 200, "error text too long: {e:?}");
                assert_eq!(p.parse(b"PING\r\n", &mut |_| {}), Err(e));
            }
        }
        // The mutated streams do get parsed part of the way.
        assert!(emitted > 10_000, "only {emitted} ops emitted");
    }

    #[test]
    fn line_too_long() {
        let mut line = b"-ERR ".to_vec();
        line.resize(MAX_CONTROL_LINE + 10, b'x');
        line.extend_from_slice(b"\r\n");
        assert_eq!(err_of(&line).kind(), ErrorKind::LineTooLong);
        // Split too: detected while buffering, before the end of the line.
        let mut p = Parser::new();
        let mut res = Ok(vec![]);
        for chunk in line.chunks(100) {
            res = parse_all(&mut p, chunk);
            if res.is_err() {
                break;
            }
        }
        assert_eq!(res.map_err(|e| e.kind()), Err(ErrorKind::LineTooLong));
        assert!(p.line.capacity() <= MAX_CONTROL_LINE + 200);

        // Exactly at the limit is fine.
        let mut ok = b"-ERR ".to_vec();
        ok.resize(MAX_CONTROL_LINE, b'y');
        ok.extend_from_slice(b"\r\n");
        assert_eq!(ops_of(&ok).len(), 1);
        let mut over = b"-ERR ".to_vec();
        over.resize(MAX_CONTROL_LINE + 1, b'y');
        over.extend_from_slice(b"\r\n");
        assert_eq!(err_of(&over).kind(), ErrorKind::LineTooLong);

        // Custom limit.
        let mut p = Parser::with_max_control_line(10);
        assert_eq!(
            parse_all(&mut p, b"MSG foo 1 0\r\n\r\n").map_err(|e| e.kind()),
            Err(ErrorKind::LineTooLong)
        );
        let mut p = Parser::with_max_control_line(11);
        assert_eq!(
            parse_all(&mut p, b"MSG foo 1 0\r\n\r\n").map(|v| v.len()),
            Ok(1)
        );
    }

    #[test]
    fn long_info_allowed() {
        let urls: Vec<String> = (0..2000)
            .map(|i| format!("10.0.{}.{}:4222", i / 256, i % 256))
            .collect();
        let json =
            serde_json::to_string(&serde_json::json!({ "connect_urls": urls })).expect("json");
        assert!(json.len() > MAX_CONTROL_LINE);
        let line = format!("INFO {json}\r\n");
        let whole = ops_of(line.as_bytes());
        let [ServerOp::Info(info)] = whole.as_slice() else {
            panic!("expected INFO");
        };
        assert_eq!(info.connect_urls.len(), 2000);
        let mut p = Parser::new();
        let mut ops = Vec::new();
        for chunk in line.as_bytes().chunks(7) {
            ops.extend(parse_all(&mut p, chunk).expect("chunk"));
        }
        assert_eq!(ops, whole);

        let mut huge = b"INFO {\"server_id\":\"".to_vec();
        huge.resize(MAX_INFO_LINE + 1, b'a');
        huge.extend_from_slice(b"\"}\r\n");
        assert_eq!(err_of(&huge).kind(), ErrorKind::LineTooLong);
    }

    #[test]
    fn bad_input_is_protocol_error() {
        let bad: &[&[u8]] = &[
            b"FOO\r\n",
            b"\r\n",
            b" PING\r\n",
            b"PING\n",
            b"PINGX\r\n",
            b"PING x\r\n",
            b"PONG\r\r\n",
            b"+OK ok\r\n",
            b"INFO\r\n",
            b"INFO {\r\n",
            b"INFO {\"port\":\"x\"}\r\n",
            b"MSG\r\n",
            b"MSG foo\r\n",
            b"MSG foo 1\r\n",
            b"MSG foo 1 2 3 4\r\n",
            b"MSG foo x 1\r\nx\r\n",
            b"MSG foo 1 x\r\nx\r\n",
            b"MSG foo 1 -1\r\nx\r\n",
            b"MSG foo 1 +1\r\nx\r\n",
            b"MSG foo 1 99999999999999999999999\r\n",
            b"MSG foo 1 2\r\nabc\r\n",
            b"MSG foo 1 2\r\nab\n",
            b"MSG foo 1 2\r\nab\r\r",
            b"MSG foo 1 2\nab\r\n",
            b"MSG f\xffo 1 2\r\nab\r\n",
            b"MSG foo 1 r\xc3 2\r\nab\r\n",
            b"MSG f\x01o 1 2\r\nab\r\n",
            b"HMSG foo 1 2\r\nab\r\n",
            b"HMSG foo 1 3 2\r\nab\r\n",
            b"HMSG foo 1 r 1 2 3\r\nab\r\n",
            b"HMSG foo 1 x 2\r\nab\r\n",
            b"GARBAGE",
            b"MSGX",
        ];
        for &input in bad {
            let e = err_of(input);
            assert_eq!(
                e.kind(),
                ErrorKind::ProtocolError,
                "{:?}: {e:?}",
                quote(input)
            );
            assert!(e.text().contains('\''), "error quotes input: {e:?}");
        }
    }

    #[test]
    fn numbers_at_the_u64_limit() {
        assert_eq!(parse_num(b"0"), Some(0));
        assert_eq!(
            parse_num(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(parse_num(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_num(b"18446744073709551616"), None);
        assert_eq!(parse_num(b"99999999999999999999"), None);
        assert_eq!(parse_num(b"000000000000000000000001"), Some(1));
        assert_eq!(parse_num(b""), None);
        assert_eq!(parse_num(b"1a"), None);
        assert_eq!(parse_num(b"-1"), None);
        assert_eq!(parse_num(b"/"), None);
        assert_eq!(parse_num(b":"), None);
    }

    #[test]
    fn msg_arguments_split_on_any_run_of_blanks() {
        let mut p = Parser::new();
        let ops = parse_all(&mut p, b"MSG \t foo\t 7  bar \t3 \t\r\nabc\r\n").unwrap();
        match ops.as_slice() {
            [ServerOp::Msg(m)] => {
                assert_eq!(m.sid(), 7);
                assert_eq!(m.subject(), "foo");
                assert_eq!(m.reply(), Some("bar"));
                assert_eq!(m.payload(), b"abc");
            }
            other => panic!("unexpected {other:?}"),
        }
        for bad in [
            &b"MSG a 1 b c 3\r\n"[..],
            b"MSG a 1\r\n",
            b"MSG a x 3\r\n",
            b"HMSG a 1 b 2 3 4\r\n",
        ] {
            assert_eq!(err_of(bad).kind(), ErrorKind::ProtocolError, "{bad:?}");
        }
    }

    #[test]
    fn payload_too_big() {
        let mut p = Parser::new();
        p.set_max_payload(10);
        assert_eq!(
            parse_all(&mut p, b"MSG foo 1 10\r\n0123456789\r\n").map(|v| v.len()),
            Ok(1)
        );
        assert_eq!(
            parse_all(&mut p, b"MSG foo 1 11\r\n01234567890\r\n").map_err(|e| e.kind()),
            Err(ErrorKind::ProtocolError)
        );
        let e = err_of(b"MSG foo 1 67108865\r\n");
        assert_eq!(e.kind(), ErrorKind::ProtocolError);
        assert!(e.text().contains("MSG foo 1 67108865"), "{e:?}");
    }

    #[test]
    fn error_text_is_quoted_and_truncated() {
        let mut input = b"BAD\x01\x02".to_vec();
        input.resize(300, b'z');
        input.extend_from_slice(b"\r\n");
        let e = err_of(&input);
        assert_eq!(e.kind(), ErrorKind::ProtocolError);
        assert!(e.text().contains("'BAD\\x01\\x02zz"), "{e:?}");
        assert!(e.text().ends_with("'..."), "{e:?}");
        assert!(e.text().len() < 120, "{e:?}");
    }

    #[test]
    fn padding_follows_the_payload_nul() {
        let mut p = Parser::new();
        p.set_padding(4);
        let mut ops = Vec::new();
        // Split inside the body: the padding is added when the message completes.
        p.parse(b"MSG a 1 3\r\nab", &mut |op| ops.push(op)).unwrap();
        p.parse(b"c\r\n", &mut |op| ops.push(op)).unwrap();
        let ServerOp::Msg(f) = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(f.payload(), b"abc");
        let end = f.payload_offset() + f.payload_len();
        assert_eq!(&f.buf()[end..], &[0u8; 5]);
    }

    #[test]
    fn poisoned_after_error() {
        let mut p = Parser::new();
        let mut ops = Vec::new();
        let e = p
            .parse(b"PING\r\nBOGUS\r\nPONG\r\n", &mut |op| ops.push(op))
            .expect_err("bogus");
        assert_eq!(ops, vec![ServerOp::Ping]);
        assert_eq!(e.kind(), ErrorKind::ProtocolError);
        assert_eq!(parse_all(&mut p, b"PONG\r\n"), Err(e.clone()));
        assert_eq!(parse_all(&mut p, b""), Err(e));
    }

    #[test]
    fn invalid_info_error_text_is_bounded() {
        // serde quotes the wrong-typed string in its error.
        let mut line = b"INFO {\"port\":\"".to_vec();
        line.extend_from_slice("é".repeat(50_000).as_bytes());
        line.extend_from_slice(b"\"}\r\n");
        let e = err_of(&line);
        assert_eq!(e.kind(), ErrorKind::ProtocolError);
        assert!(e.text().starts_with("invalid INFO ("), "{e:?}");
        assert!(e.text().len() < 400, "{} bytes", e.text().len());
        assert_eq!(cut_text("héllo", 2), "h...");
        assert_eq!(cut_text("héllo", 3), "hé...");
        assert_eq!(cut_text("hi", 2), "hi");
    }

    #[test]
    fn error_kind_does_not_depend_on_the_split() {
        let mut long_garbage = b"MSG)a 1 ".to_vec();
        long_garbage.resize(MAX_CONTROL_LINE + 100, b'9');
        long_garbage.extend_from_slice(b"\r\n");
        let mut long_msg = b"MSG a 1 ".to_vec();
        long_msg.resize(MAX_CONTROL_LINE + 100, b'9');
        long_msg.extend_from_slice(b"\r\n");
        for (input, kind) in [
            (&long_garbage[..], ErrorKind::ProtocolError),
            (&long_garbage[..20], ErrorKind::ProtocolError),
            (&long_msg[..], ErrorKind::LineTooLong),
            (b"PING\n", ErrorKind::ProtocolError),
        ] {
            assert_eq!(err_of(input).kind(), kind, "whole {:?}", quote(input));
            let mut p = Parser::new();
            let res = input.chunks(1).try_for_each(|b| p.parse(b, &mut |_| {}));
            assert_eq!(
                res.map_err(|e| e.kind()),
                Err(kind),
                "bytes {:?}",
                quote(input)
            );
        }
        assert!(err_of(b"PING\n").text().contains("CRLF"));
    }

    #[test]
    fn garbage_rejected_before_buffering() {
        let mut p = Parser::new();
        assert_eq!(
            parse_all(&mut p, b"HTTP/1.1 200 OK").map_err(|e| e.kind()),
            Err(ErrorKind::ProtocolError)
        );
        let mut p = Parser::new();
        assert_eq!(parse_all(&mut p, b"MS"), Ok(vec![]));
        assert_eq!(
            parse_all(&mut p, b"x").map_err(|e| e.kind()),
            Err(ErrorKind::ProtocolError)
        );
    }

    /// Turns `PUB subj [reply] n` / `HPUB subj [reply] h n` into a MSG/HMSG
    /// line with `sid` and parses it back.
    fn round_trip(subject: &str, reply: Option<&str>, headers: &[u8], payload: &[u8]) {
        let mut out = Vec::new();
        encode_pub(&mut out, subject, reply, headers, payload);
        let nl = out.iter().position(|&b| b == b'\n').expect("line end");
        let (line, body) = out.split_at(nl + 1);
        let line = std::str::from_utf8(line).expect("utf8");
        let mut words = line.trim_end().split(' ');
        let op = words.next().expect("op");
        let args: Vec<&str> = words.collect();
        let expected_op = if headers.is_empty() { "PUB" } else { "HPUB" };
        assert_eq!(op, expected_op);
        let mut server = Vec::new();
        server.extend_from_slice(if headers.is_empty() {
            b"MSG "
        } else {
            b"HMSG "
        });
        let (subj, rest) = args.split_first().expect("subject");
        server.extend_from_slice(format!("{subj} 42 {}\r\n", rest.join(" ")).as_bytes());
        server.extend_from_slice(body);
        let ops = ops_of(&server);
        let m = msg(&ops);
        assert_eq!(m.sid(), 42);
        assert_eq!(m.subject(), subject);
        assert_eq!(m.reply(), reply);
        assert_eq!(m.header_bytes(), headers);
        assert_eq!(m.payload(), payload);
        assert_eq!(*m, MsgFrame::build(42, subject, reply, headers, payload));
    }

    /// `split_line` done one byte at a time.
    fn split_line_bytewise(scan: &[u8]) -> Option<SplitLine> {
        let mut toks = [(0usize, 0usize); 4];
        let (mut n, mut start) = (0, 0);
        for (i, &b) in scan.iter().enumerate() {
            if b == b' ' || b == b'\r' {
                if i == start || n == 4 {
                    return None;
                }
                toks[n] = (start, i);
                n += 1;
                start = i + 1;
                if b == b'\r' {
                    return Some((toks, n, i));
                }
            } else if !(0x21..0x7f).contains(&b) {
                return None;
            }
        }
        None
    }

    #[test]
    fn split_line_agrees_with_bytewise() {
        // Every line of up to 6 bytes over an alphabet of the interesting
        // bytes, then in longer lines at every offset.
        let alphabet = [b'a', b' ', b'\r', 0, 0x1f, 0x7f, 0x80, 0xff, b'~', b'!'];
        let mut checked = 0;
        for len in 0..=6u32 {
            for mut code in 0..alphabet.len().pow(len) {
                let mut line = Vec::new();
                for _ in 0..len {
                    line.push(alphabet[code % alphabet.len()]);
                    code /= alphabet.len();
                }
                for prefix in [&b""[..], b"subj.x 12 ", b"abcdefgh"] {
                    let mut scan = prefix.to_vec();
                    scan.extend_from_slice(&line);
                    assert_eq!(split_line(&scan), split_line_bytewise(&scan), "{scan:?}");
                    scan.extend_from_slice(b"\r\nmore bytes after");
                    assert_eq!(split_line(&scan), split_line_bytewise(&scan), "{scan:?}");
                    checked += 2;
                }
            }
        }
        assert!(checked > 3_000_000);
        for line in [
            &b"bench.ps 1 16\r\n"[..],
            b"a.very.long.subject.name.here 123456 _INBOX.abcdefghijklmnop.qrstuv 99999\r\n",
            b"a b c d e\r\n",
            b"a  b 1\r\n",
        ] {
            for cut in 0..=line.len() {
                let scan = &line[..cut];
                assert_eq!(split_line(scan), split_line_bytewise(scan), "{scan:?}");
            }
        }
    }

    #[test]
    fn plain_pub_every_short_length() {
        // Subject and payload lengths across the copy widths (0-3, 4-7,
        // 8-16, longer) and the digit counts, appended after existing bytes
        // into buffers with no spare room and with plenty.
        let lens = (0..=40).chain([99, 100, 999, 1000, 9999, 10_000, 123_456, 1 << 20]);
        for plen in lens {
            let payload: Vec<u8> = (0..plen).map(|i| (i % 251) as u8).collect();
            for slen in 1..=40usize {
                let subject: Vec<u8> = (0..slen).map(|i| b'a' + (i % 26) as u8).collect();
                let mut want = b"xyz".to_vec();
                want.extend_from_slice(b"PUB ");
                want.extend_from_slice(&subject);
                want.extend_from_slice(format!(" {plen}\r\n").as_bytes());
                want.extend_from_slice(&payload);
                want.extend_from_slice(b"\r\n");
                for spare in [0, 1 << 21] {
                    let mut out = Vec::with_capacity(3 + spare);
                    out.extend_from_slice(b"xyz");
                    encode_plain_pub(&mut out, &subject, &payload);
                    assert!(out == want, "subject {slen} payload {plen} spare {spare}");
                }
            }
        }
        assert_eq!(digit_count(0), 1);
        assert_eq!(digit_count(usize::MAX), usize::MAX.to_string().len());
    }

    #[test]
    fn encode_pub_round_trip() {
        let mut out = Vec::new();
        encode_pub(&mut out, "FOO.BAR", None, b"", b"Hello World");
        assert_eq!(out, b"PUB FOO.BAR 11\r\nHello World\r\n");
        out.clear();
        encode_pub(&mut out, "FOO", Some("INBOX.1"), b"NATS/1.0\r\n\r\n", b"hi");
        assert_eq!(out, b"HPUB FOO INBOX.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");

        round_trip("FOO.BAR", None, b"", b"Hello World");
        round_trip("FOO.BAR", Some("_INBOX.x.y"), b"", b"");
        round_trip("a", None, b"", b"with\r\ncrlf\r\n");
        round_trip("a.b", Some("r"), b"NATS/1.0\r\nK: v\r\n\r\n", b"payload");
        round_trip("a.b", None, b"NATS/1.0 503\r\n\r\n", b"");
        round_trip("big", None, b"", &vec![7u8; 100_000]);
    }

    #[test]
    fn encode_sub_unsub() {
        let mut out = Vec::new();
        encode_sub(&mut out, "foo.*", None, 1);
        encode_sub(
            &mut out,
            "foo.>",
            Some("workers"),
            18_446_744_073_709_551_615,
        );
        encode_unsub(&mut out, 0, None);
        encode_unsub(&mut out, 7, Some(10));
        assert_eq!(
            out,
            b"SUB foo.* 1\r\nSUB foo.> workers 18446744073709551615\r\nUNSUB 0\r\nUNSUB 7 10\r\n"
        );
        assert_eq!(PING, b"PING\r\n");
        assert_eq!(PONG, b"PONG\r\n");
    }

    #[test]
    fn encode_connect_json() {
        let info = ConnectInfo {
            lang: "C".into(),
            version: "3.4.1".into(),
            protocol: 1,
            echo: true,
            headers: true,
            no_responders: true,
            user: Some("me".into()),
            ..ConnectInfo::default()
        };
        let mut out = Vec::new();
        encode_connect(&mut out, &info);
        let text = std::str::from_utf8(&out).expect("utf8");
        let json = text
            .strip_prefix("CONNECT ")
            .and_then(|t| t.strip_suffix("\r\n"))
            .expect("CONNECT framing");
        assert!(
            json.contains("\"verbose\":false,\"pedantic\":false"),
            "{json}"
        );
        assert!(json.contains("\"echo\":true"), "{json}");
        assert!(!json.contains("pass"), "{json}");
        let v: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(v["user"], "me");
        assert_eq!(v["lang"], "C");
        assert_eq!(v["protocol"], 1);
        assert_eq!(v["headers"], true);
        assert!(v.get("name").is_none());
    }

    #[test]
    fn push_num_digits() {
        for n in [0u64, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_num(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn frame_layout() {
        let f = MsgFrame::build(1, "subj", Some("rep"), b"HDR", b"data");
        assert_eq!(f.buf(), b"subj\0rep\0HDRdata\0");
        assert_eq!(f.payload_offset(), 12);
        assert_eq!(f.header_bytes(), b"HDR");
        assert_eq!(f.payload(), b"data");
    }
}
