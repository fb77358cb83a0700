//! Message headers: the `NATS/1.0` header block carried by `HPUB`/`HMSG`.
//!
//! The wire form is
//!
//! ```text
//! NATS/1.0[ <3-digit status>[ <description>]]\r\n
//! Key: value\r\n
//! ...
//! \r\n
//! ```
//!
//! As in nats.c, an inline status found by [`Headers::decode`] is stored as
//! the header `Status` (e.g. `503`) and its description, if any, as the
//! header `Description`; [`Headers::status`] and [`Headers::description`]
//! read them back.
//!
//! Every key and value is stored with a trailing NUL byte so that the C layer
//! can hand out `const char*` pointers ([`Headers::get_cstr`] and friends)
//! without allocating; they stay valid until the headers are modified or
//! dropped.

use std::ffi::CStr;

use crate::error::{Error, ErrorKind, Result, err};

/// The header key under which a decoded inline status (e.g. `503`) is stored.
pub const STATUS_HDR: &str = "Status";
/// The header key under which a decoded inline status description is stored.
pub const DESCRIPTION_HDR: &str = "Description";

/// Start of every header block.
const PREFIX: &[u8] = b"NATS/1.0";

/// How many bytes of offending input an error text quotes.
const QUOTE_LIMIT: usize = 64;

/// A string stored with a trailing NUL byte. Invariant: the last char is
/// `'\0'` and there is no other NUL.
#[derive(Clone, PartialEq, Eq, Hash)]
struct NulString(Box<str>);

impl NulString {
    /// `s` must not contain a NUL (checked by the callers).
    fn new(s: &str) -> NulString {
        let mut buf = String::with_capacity(s.len() + 1);
        buf.push_str(s);
        buf.push('\0');
        NulString(buf.into_boxed_str())
    }

    fn as_str(&self) -> &str {
        self.0.strip_suffix('\0').unwrap_or(&self.0)
    }

    fn as_cstr(&self) -> Option<&CStr> {
        CStr::from_bytes_with_nul(self.0.as_bytes()).ok()
    }
}

impl std::fmt::Debug for NulString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: NulString,
    /// Never empty.
    values: Vec<NulString>,
}

/// Message headers.
///
/// Keys are case-sensitive (as in nats.c) and kept in insertion order; a key
/// may have several values. Equality compares keys, values and their order.
/// Lookups are linear, which is the fastest choice for the handful of keys a
/// message carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<Entry>,
}

impl Headers {
    /// Empty headers.
    pub fn new() -> Self {
        Headers::default()
    }

    /// Sets `key` to `value`, replacing all its values (the key keeps its
    /// place if it was present).
    ///
    /// CR and LF in `value` are replaced by spaces, as nats.c sends them.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`] if `key` is empty or contains anything but
    /// printable ASCII other than `:` (no blanks, control characters or
    /// non-ASCII), or if `value` contains a NUL.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<()> {
        check_key(key)?;
        let value = make_value(value)?;
        match self.entry_mut(key) {
            Some(entry) => {
                entry.values.clear();
                entry.values.push(value);
            }
            None => self.entries.push(Entry {
                key: NulString::new(key),
                values: vec![value],
            }),
        }
        Ok(())
    }

    /// Adds `value` to the values of `key` (creating the key if needed).
    ///
    /// # Errors
    /// As for [`Headers::insert`].
    pub fn append(&mut self, key: &str, value: &str) -> Result<()> {
        check_key(key)?;
        let value = make_value(value)?;
        self.push_value(key, value);
        Ok(())
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.first(key).map(NulString::as_str)
    }

    /// All values of `key`, in order (none if the key is absent).
    pub fn get_all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        self.entry(key)
            .into_iter()
            .flat_map(|e| e.values.iter().map(NulString::as_str))
    }

    /// Removes `key` and all its values; returns whether it was present.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.key.as_str() != key);
        self.entries.len() != before
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.key.as_str())
    }

    /// The number of distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The status code, e.g. 503 for a block starting with `NATS/1.0 503`
    /// (read from the `Status` header; `None` unless it is three digits).
    pub fn status(&self) -> Option<u16> {
        let code = self.get(STATUS_HDR)?;
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) {
            code.parse().ok()
        } else {
            None
        }
    }

    /// The status description, e.g. `No Messages` for a block starting with
    /// `NATS/1.0 404 No Messages` (the `Description` header).
    pub fn description(&self) -> Option<&str> {
        self.get(DESCRIPTION_HDR)
    }

    /// Appends the header block: `NATS/1.0\r\n`, one `Key: value\r\n` line
    /// per value, then `\r\n`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let size: usize = self
            .entries
            .iter()
            .map(|e| {
                e.values
                    .iter()
                    .map(|v| e.key.as_str().len() + v.as_str().len() + 4)
                    .sum::<usize>()
            })
            .sum();
        out.reserve(PREFIX.len() + 4 + size);
        out.extend_from_slice(PREFIX);
        out.extend_from_slice(b"\r\n");
        for e in &self.entries {
            for v in &e.values {
                out.extend_from_slice(e.key.as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(v.as_str().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Parses a raw header block (as found in an `HMSG`).
    ///
    /// Values are trimmed of surrounding spaces and tabs (empty values are
    /// allowed); a line starting with a space or tab continues the previous
    /// value (joined with one space); keys keep their case. An inline status
    /// becomes the `Status`/`Description` headers. CR or LF alone inside a
    /// line become spaces.
    ///
    /// # Errors
    /// [`ErrorKind::ProtocolError`] if the `NATS/1.0` prefix is missing, the
    /// status is not three digits, a line has no `:`, the first line starts
    /// with a blank, a key is empty, a key or value is not UTF-8 or contains a
    /// NUL, the block ends before its terminating empty line, or anything
    /// follows that line.
    pub fn decode(raw: &[u8]) -> Result<Headers> {
        let Some(after_prefix) = raw.strip_prefix(PREFIX) else {
            return Err(proto_err("header prefix missing", raw));
        };
        let (status_line, mut rest) = next_line(after_prefix, raw)?;
        let (code, desc) = parse_status(status_line, raw)?;

        let mut headers = Headers::new();
        // Index of the entry that received the last value (for folding).
        let mut last: Option<usize> = None;
        loop {
            let (line, next) = next_line(rest, raw)?;
            rest = next;
            let Some(&first) = line.first() else {
                if !rest.is_empty() {
                    return Err(proto_err("data after end of headers", raw));
                }
                break;
            };
            if is_blank(first) {
                let Some(idx) = last else {
                    return Err(proto_err("key cannot start with a space", raw));
                };
                let more = decoded_value(trim_blanks(line), raw)?;
                if !more.is_empty() {
                    let value = headers
                        .entries
                        .get_mut(idx)
                        .and_then(|e| e.values.last_mut());
                    if let Some(value) = value {
                        let joined = format!("{} {}", value.as_str(), more);
                        *value = NulString::new(&joined);
                    }
                }
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(proto_err("missing ':' in header line", line));
            };
            let (key, value) = line.split_at(colon);
            let value = value.get(1..).unwrap_or_default();
            let key = match std::str::from_utf8(key) {
                Ok(k)
                    if !k.is_empty() && !k.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n') =>
                {
                    k
                }
                _ => return Err(proto_err("invalid header key", line)),
            };
            let value = decoded_value(trim_blanks(value), line)?;
            last = Some(headers.push_value(key, NulString::new(&value)));
        }

        if let Some(code) = code {
            headers.set_at_front(0, STATUS_HDR, code);
            if let Some(desc) = desc {
                headers.set_at_front(1, DESCRIPTION_HDR, &desc);
            }
        }
        Ok(headers)
    }

    /// The first value of `key` as a C string, valid while the headers are
    /// not modified or dropped.
    pub fn get_cstr(&self, key: &str) -> Option<&CStr> {
        self.first(key).and_then(NulString::as_cstr)
    }

    /// All values of `key` as C strings (empty if the key is absent), valid
    /// while the headers are not modified or dropped.
    pub fn values_cstr(&self, key: &str) -> Vec<&CStr> {
        self.entry(key)
            .map(|e| e.values.iter().filter_map(NulString::as_cstr).collect())
            .unwrap_or_default()
    }

    /// The keys as C strings, in insertion order, valid while the headers are
    /// not modified or dropped.
    pub fn keys_cstr(&self) -> Vec<&CStr> {
        self.entries
            .iter()
            .filter_map(|e| e.key.as_cstr())
            .collect()
    }

    fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key.as_str() == key)
    }

    fn entry_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.key.as_str() == key)
    }

    fn first(&self, key: &str) -> Option<&NulString> {
        self.entry(key).and_then(|e| e.values.first())
    }

    /// Adds a value to `key`; returns the index of its entry.
    fn push_value(&mut self, key: &str, value: NulString) -> usize {
        if let Some(idx) = self.entries.iter().position(|e| e.key.as_str() == key) {
            if let Some(entry) = self.entries.get_mut(idx) {
                entry.values.push(value);
            }
            return idx;
        }
        self.entries.push(Entry {
            key: NulString::new(key),
            values: vec![value],
        });
        self.entries.len() - 1
    }

    /// Sets `key` to the single `value`; a new key goes to position `pos`.
    fn set_at_front(&mut self, pos: usize, key: &str, value: &str) {
        let value = NulString::new(value);
        match self.entry_mut(key) {
            Some(entry) => {
                entry.values.clear();
                entry.values.push(value);
            }
            None => {
                let pos = pos.min(self.entries.len());
                self.entries.insert(
                    pos,
                    Entry {
                        key: NulString::new(key),
                        values: vec![value],
                    },
                );
            }
        }
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

/// Keys: non-empty printable ASCII without `:` (no header injection).
fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return err(ErrorKind::InvalidArg, "header key cannot be empty");
    }
    if key.bytes().any(|b| !b.is_ascii_graphic() || b == b':') {
        return err(
            ErrorKind::InvalidArg,
            format!(
                "invalid header key {key:?}: only printable ASCII without ':' or blanks is allowed"
            ),
        );
    }
    Ok(())
}

/// A value to store: no NUL, CR and LF become spaces.
fn make_value(value: &str) -> Result<NulString> {
    if value.contains('\0') {
        return err(
            ErrorKind::InvalidArg,
            "header value cannot contain a NUL byte",
        );
    }
    if !value.contains(['\r', '\n']) {
        return Ok(NulString::new(value));
    }
    Ok(NulString::new(&value.replace(['\r', '\n'], " ")))
}

/// A received value: UTF-8 without NUL; lone CR/LF become spaces.
fn decoded_value(value: &[u8], line: &[u8]) -> Result<String> {
    match std::str::from_utf8(value) {
        Ok(v) if !v.contains('\0') => Ok(v.replace(['\r', '\n'], " ")),
        _ => Err(proto_err("invalid header value", line)),
    }
}

/// Splits off the line up to the first `\r\n`: (line, rest after `\r\n`).
fn next_line<'a>(data: &'a [u8], raw: &[u8]) -> Result<(&'a [u8], &'a [u8])> {
    match data.windows(2).position(|w| w == b"\r\n") {
        Some(end) => Ok((
            data.get(..end).unwrap_or_default(),
            data.get(end + 2..).unwrap_or_default(),
        )),
        None => Err(proto_err("early termination of headers", raw)),
    }
}

/// Parses what follows `NATS/1.0` on the first line: nothing, or blanks, a
/// 3-digit status and an optional description.
fn parse_status<'a>(line: &'a [u8], raw: &[u8]) -> Result<(Option<&'a str>, Option<String>)> {
    match line.first() {
        None => return Ok((None, None)),
        Some(&b) if is_blank(b) => {}
        Some(_) => return Err(proto_err("header prefix missing", raw)),
    }
    let line = trim_blanks(line);
    if line.is_empty() {
        return Ok((None, None));
    }
    let (code, desc) = line.split_at(line.len().min(3));
    let code = match std::str::from_utf8(code) {
        Ok(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()) => c,
        _ => return Err(proto_err("invalid status", raw)),
    };
    match desc.first() {
        None => Ok((Some(code), None)),
        Some(&b) if is_blank(b) => {
            let desc = decoded_value(trim_blanks(desc), raw)?;
            Ok((Some(code), Some(desc).filter(|d| !d.is_empty())))
        }
        Some(_) => Err(proto_err("invalid status", raw)),
    }
}

fn proto_err(what: &str, input: &[u8]) -> Error {
    let shown = input.get(..QUOTE_LIMIT).unwrap_or(input);
    let mut text = format!("{what}: '");
    for &b in shown {
        text.extend(std::ascii::escape_default(b).map(char::from));
    }
    text.push('\'');
    if shown.len() < input.len() {
        text.push_str("...");
    }
    Error::new(ErrorKind::ProtocolError, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(h: &Headers) -> Vec<u8> {
        let mut out = Vec::new();
        h.encode(&mut out);
        out
    }

    fn decode_kind(raw: &[u8]) -> std::result::Result<Headers, ErrorKind> {
        Headers::decode(raw).map_err(|e| e.kind())
    }

    #[test]
    fn empty() {
        let h = Headers::new();
        assert!(h.is_empty());
        assert_eq!(h.len(), 0);
        assert_eq!(encoded(&h), b"NATS/1.0\r\n\r\n");
        assert_eq!(Headers::decode(b"NATS/1.0\r\n\r\n"), Ok(Headers::new()));
        assert_eq!(h.status(), None);
        assert_eq!(h.description(), None);
    }

    #[test]
    fn insert_get_append_remove() {
        let mut h = Headers::new();
        h.insert("Foo", "bar").expect("insert");
        h.append("Foo", "baz").expect("append");
        h.append("Other", "1").expect("append new");
        assert_eq!(h.len(), 2);
        assert_eq!(h.get("Foo"), Some("bar"));
        assert_eq!(h.get_all("Foo").collect::<Vec<_>>(), vec!["bar", "baz"]);
        assert_eq!(h.get_all("Missing").count(), 0);
        assert_eq!(h.keys().collect::<Vec<_>>(), vec!["Foo", "Other"]);
        h.insert("Foo", "only").expect("replace");
        assert_eq!(h.get_all("Foo").collect::<Vec<_>>(), vec!["only"]);
        assert_eq!(h.keys().collect::<Vec<_>>(), vec!["Foo", "Other"]);
        assert!(h.remove("Foo"));
        assert!(!h.remove("Foo"));
        assert_eq!(h.get("Foo"), None);
        assert_eq!(h.len(), 1);
        assert!(h.remove("Other"));
        assert!(h.is_empty());
    }

    #[test]
    fn keys_are_case_sensitive() {
        let mut h = Headers::new();
        h.insert("key", "lower").expect("insert");
        h.insert("KEY", "upper").expect("insert");
        assert_eq!(h.len(), 2);
        assert_eq!(h.get("key"), Some("lower"));
        assert_eq!(h.get("KEY"), Some("upper"));
        assert_eq!(h.get("Key"), None);
        assert!(!h.remove("Key"));
        let d = Headers::decode(b"NATS/1.0\r\nmy-Key: a\r\nMY-KEY: b\r\n\r\n").expect("decode");
        assert_eq!(d.keys().collect::<Vec<_>>(), vec!["my-Key", "MY-KEY"]);
        assert_eq!(d.get("my-Key"), Some("a"));
    }

    #[test]
    fn round_trip() {
        let mut h = Headers::new();
        h.insert("A", "1").expect("insert");
        h.append("B", "x y z").expect("append");
        h.append("A", "2").expect("append");
        h.insert("Empty", "").expect("empty value");
        h.insert("Nats-Msg-Id", "abc-123").expect("insert");
        let raw = encoded(&h);
        assert_eq!(
            raw,
            b"NATS/1.0\r\nA: 1\r\nA: 2\r\nB: x y z\r\nEmpty: \r\nNats-Msg-Id: abc-123\r\n\r\n"
        );
        assert_eq!(Headers::decode(&raw), Ok(h));
    }

    #[test]
    fn decode_trims_and_folds() {
        let h = Headers::decode(
            b"NATS/1.0\r\nK:v\r\nSpaced: \t padded \t\r\nLong: first\r\n  second\r\n\tthird \r\nE:\r\n\r\n",
        )
        .expect("decode");
        assert_eq!(h.get("K"), Some("v"));
        assert_eq!(h.get("Spaced"), Some("padded"));
        assert_eq!(h.get("Long"), Some("first second third"));
        assert_eq!(h.get("E"), Some(""));
        assert_eq!(h.len(), 4);
        let h = Headers::decode(b"NATS/1.0\r\nK: a\r\nK: b\r\n c\r\n\r\n").expect("decode");
        assert_eq!(h.get_all("K").collect::<Vec<_>>(), vec!["a", "b c"]);
    }

    #[test]
    fn status_lines() {
        let h = Headers::decode(b"NATS/1.0 503\r\n\r\n").expect("503");
        assert_eq!(h.status(), Some(503));
        assert_eq!(h.description(), None);
        assert_eq!(h.get(STATUS_HDR), Some("503"));
        assert_eq!(h.len(), 1);

        let h = Headers::decode(b"NATS/1.0 404 No Messages\r\n\r\n").expect("404");
        assert_eq!(h.status(), Some(404));
        assert_eq!(h.description(), Some("No Messages"));
        assert_eq!(h.keys().collect::<Vec<_>>(), vec!["Status", "Description"]);

        let h = Headers::decode(
            b"NATS/1.0 100 Idle Heartbeat \r\nNats-Last-Consumer: 12\r\nNats-Last-Stream: 40\r\n\r\n",
        )
        .expect("100");
        assert_eq!(h.status(), Some(100));
        assert_eq!(h.description(), Some("Idle Heartbeat"));
        assert_eq!(h.get("Nats-Last-Stream"), Some("40"));
        assert_eq!(h.len(), 4);

        let h = Headers::decode(b"NATS/1.0 \r\nA: b\r\n\r\n").expect("blank status");
        assert_eq!(h.status(), None);

        let mut user = Headers::new();
        user.insert(STATUS_HDR, "abc").expect("insert");
        assert_eq!(user.status(), None);
    }

    #[test]
    fn bad_inputs() {
        let bad: &[&[u8]] = &[
            b"",
            b"NATS/1.",
            b"NATS/2.0\r\n\r\n",
            b"nats/1.0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"NATS/1.0",
            b"NATS/1.0\r\n",
            b"NATS/1.0\r\nA: b\r\n",
            b"NATS/1.0\r\nA: b",
            b"NATS/1.0\r\nNoColon\r\n\r\n",
            b"NATS/1.0\r\n Leading: space\r\n\r\n",
            b"NATS/1.0\r\n: empty key\r\n\r\n",
            b"NATS/1.0x\r\n\r\n",
            b"NATS/1.0 50\r\n\r\n",
            b"NATS/1.0 5034\r\n\r\n",
            b"NATS/1.0 abc\r\n\r\n",
            b"NATS/1.0\r\nA: \xff\r\n\r\n",
            b"NATS/1.0\r\nA: x\0y\r\n\r\n",
            b"NATS/1.0\r\nA\0: x\r\n\r\n",
            b"NATS/1.0\r\n\r\nextra",
        ];
        for &raw in bad {
            let e = Headers::decode(raw).expect_err(&format!("{raw:?} must fail"));
            assert_eq!(e.kind(), ErrorKind::ProtocolError, "{raw:?}: {e:?}");
        }
        let mut long = b"NATS/1.0\r\n".to_vec();
        long.resize(1000, b'x');
        let e = Headers::decode(&long).expect_err("no end");
        assert!(e.text().len() < 150, "{e:?}");
    }

    #[test]
    fn invalid_keys_and_values() {
        let mut h = Headers::new();
        for key in [
            "",
            "a:b",
            "a b",
            "a\tb",
            "a\r\nb",
            "\u{e9}t\u{e9}",
            "a\0",
            "\u{7f}",
        ] {
            assert_eq!(
                h.insert(key, "v").map_err(|e| e.kind()),
                Err(ErrorKind::InvalidArg),
                "{key:?}"
            );
            assert_eq!(
                h.append(key, "v").map_err(|e| e.kind()),
                Err(ErrorKind::InvalidArg),
                "{key:?}"
            );
        }
        assert_eq!(
            h.insert("k", "a\0b").map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArg)
        );
        assert!(h.is_empty());
        h.insert("Unicode-Value", "h\u{e9}llo")
            .expect("non-ASCII value");
        assert_eq!(h.get("Unicode-Value"), Some("h\u{e9}llo"));
    }

    #[test]
    fn crlf_in_values_become_spaces() {
        let mut h = Headers::new();
        h.insert("K", "a\r\nInjected: yes").expect("insert");
        h.append("K", "x\ry\nz").expect("append");
        assert_eq!(
            h.get_all("K").collect::<Vec<_>>(),
            vec!["a  Injected: yes", "x y z"]
        );
        let raw = encoded(&h);
        assert_eq!(raw, b"NATS/1.0\r\nK: a  Injected: yes\r\nK: x y z\r\n\r\n");
        let d = Headers::decode(&raw).expect("decode");
        assert_eq!(d.get("Injected"), None);
        assert_eq!(d, h);
        let d = Headers::decode(b"NATS/1.0\r\nK: a\nb\rc\r\n\r\n").expect("lone CR/LF");
        assert_eq!(d.get("K"), Some("a b c"));
    }

    #[test]
    fn cstr_views() {
        let mut h = Headers::new();
        h.insert("Key", "value").expect("insert");
        h.append("Key", "second").expect("append");
        h.insert("Other", "").expect("insert");
        let c = h.get_cstr("Key").expect("present");
        assert_eq!(c.to_str(), Ok("value"));
        assert_eq!(c.to_bytes_with_nul(), b"value\0");
        // The C view points at the same bytes as the &str view: no copy.
        assert_eq!(
            c.as_ptr().cast::<u8>(),
            h.get("Key").expect("present").as_ptr()
        );
        assert_eq!(h.get_cstr("Missing"), None);
        let values: Vec<&str> = h
            .values_cstr("Key")
            .iter()
            .map(|c| c.to_str().expect("utf8"))
            .collect();
        assert_eq!(values, vec!["value", "second"]);
        assert!(h.values_cstr("Missing").is_empty());
        assert_eq!(h.get_cstr("Other").map(CStr::to_bytes), Some(&b""[..]));
        let keys: Vec<&[u8]> = h.keys_cstr().iter().map(|c| c.to_bytes()).collect();
        assert_eq!(keys, vec![&b"Key"[..], &b"Other"[..]]);
        let key_ptrs: Vec<*const u8> = h.keys().map(str::as_ptr).collect();
        let cstr_ptrs: Vec<*const u8> = h.keys_cstr().iter().map(|c| c.as_ptr().cast()).collect();
        assert_eq!(key_ptrs, cstr_ptrs);
    }

    #[test]
    fn decoded_status_re_encodes_like_nats_c() {
        let h = Headers::decode(b"NATS/1.0 404 No Messages\r\n\r\n").expect("decode");
        let raw = encoded(&h);
        assert_eq!(
            raw,
            b"NATS/1.0\r\nStatus: 404\r\nDescription: No Messages\r\n\r\n"
        );
        let again = Headers::decode(&raw).expect("decode again");
        assert_eq!(again.status(), Some(404));
        assert_eq!(again.description(), Some("No Messages"));
        assert_eq!(
            decode_kind(b"NATS/1.0 404 \r\n\r\n").map(|h| h.len()),
            Ok(1)
        );
    }
}
