//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not API).
//!
//! Each function takes the fuzzer's bytes and returns normally whatever they
//! are: a panic is a broken invariant (a finding), never a rejected input.
//! `scripts/fuzz.sh` builds the targets with libFuzzer and runs them.
//!
//! * [`parse`]: the protocol parser must give the same operations (and the
//!   same kind of error) whatever way its input is split, buffer a bounded
//!   amount, and produce well-formed message frames.
//! * [`engine`]: the connection state machine, driven the way the io loop
//!   drives it (sockets opened, read, written in part, lost; timers; API
//!   calls) with a fake clock, must keep its output well-formed, its
//!   reconnect buffer bounded and its bookkeeping consistent.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::engine::{Credentials, Delivery, Engine, EngineConfig, Event, FlushTicket, SubSink};
use crate::error::{Error, ErrorKind};
use crate::proto::{self, ConnectInfo, MAX_INFO_LINE, MsgFrame, Parser, ServerOp};

/// A small deterministic generator seeded from the input: split points and
/// settings vary with the input without costing input bytes.
struct Rng(u64);

impl Rng {
    fn from_data(data: &[u8]) -> Rng {
        // FNV-1a; xorshift needs a non-zero state.
        let h = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

/// Parser settings for one fuzz input (all parsers of a run use the same).
#[derive(Debug, Clone, Copy)]
struct ParserCfg {
    max_control_line: usize,
    max_payload: usize,
    padding: usize,
}

impl ParserCfg {
    fn parser(&self) -> Parser {
        let mut p = Parser::with_max_control_line(self.max_control_line);
        p.set_max_payload(self.max_payload);
        p.set_padding(self.padding);
        p
    }

    /// The most a parser may hold of an unfinished control line: the longest
    /// line allowed plus its `\r`.
    fn line_bound(&self) -> usize {
        self.max_control_line.max(MAX_INFO_LINE) + 1
    }
}

/// What one parser made of the whole input.
struct ParseRun {
    ops: Vec<ServerOp>,
    err: Option<ErrorKind>,
}

/// Parses `data` whole, one byte at a time, and cut at up to four points
/// derived from it; the three runs must agree on the operations and on the
/// kind of error, if any. Frames, error texts and the parser's buffering are
/// checked on the way.
pub fn parse(data: &[u8]) {
    let mut rng = Rng::from_data(data);
    let cfg = ParserCfg {
        max_control_line: match rng.below(4) {
            0 => 8 + rng.below(64) as usize,
            _ => proto::MAX_CONTROL_LINE,
        },
        max_payload: match rng.below(4) {
            0 => rng.below(300) as usize,
            _ => proto::DEFAULT_MAX_PAYLOAD,
        },
        padding: rng.below(3) as usize,
    };
    let whole = run_parser(&cfg, [data].into_iter());
    let bytes = run_parser(&cfg, data.chunks(1));
    let mut cuts: Vec<usize> = (0..=rng.below(4))
        .map(|_| rng.below(data.len() as u64 + 1) as usize)
        .collect();
    cuts.push(0);
    cuts.push(data.len());
    cuts.sort_unstable();
    let pieces = cuts
        .windows(2)
        .map(|w| data.get(w[0]..w[1]).unwrap_or_default());
    let split = run_parser(&cfg, pieces);
    for (name, other) in [("byte at a time", &bytes), ("split", &split)] {
        assert_eq!(whole.err, other.err, "{name}: error kind differs");
        assert_eq!(whole.ops, other.ops, "{name}: operations differ");
    }
    // Every message read back from its canonical encoding is the same message.
    for op in &whole.ops {
        if let ServerOp::Msg(f) = op {
            let wire = encode_msg(f);
            let again = run_parser(&cfg, [wire.as_slice()].into_iter());
            assert_eq!(
                again.err,
                None,
                "re-encoded {:?}",
                String::from_utf8_lossy(&wire)
            );
            assert_eq!(
                again.ops,
                std::slice::from_ref(op),
                "re-encoded message differs"
            );
        }
    }
}

fn run_parser<'a>(cfg: &ParserCfg, chunks: impl Iterator<Item = &'a [u8]>) -> ParseRun {
    let mut p = cfg.parser();
    let mut ops = Vec::new();
    for chunk in chunks {
        let res = p.parse(chunk, &mut |op| {
            check_op(&op, cfg);
            ops.push(op);
        });
        if let Err(e) = res {
            check_parse_error(&mut p, &e);
            return ParseRun {
                ops,
                err: Some(e.kind()),
            };
        }
        assert!(
            p.line.len() <= cfg.line_bound(),
            "{} bytes of an unfinished line buffered",
            p.line.len()
        );
    }
    ParseRun { ops, err: None }
}

fn check_parse_error(p: &mut Parser, e: &Error) {
    assert!(
        matches!(
            e.kind(),
            ErrorKind::ProtocolError | ErrorKind::LineTooLong | ErrorKind::NoMemory
        ),
        "unexpected error kind: {e:?}"
    );
    assert!(e.text().len() < 400, "error text too long: {e:?}");
    // Poisoned: the same error again, whatever comes next, and nothing emitted.
    let mut emitted = false;
    let again = p.parse(b"PING\r\n", &mut |_| emitted = true);
    assert_eq!(again.as_ref(), Err(e), "not poisoned");
    assert!(!emitted, "emitted after an error");
    assert!(p.line.is_empty(), "line kept after an error");
}

fn check_op(op: &ServerOp, cfg: &ParserCfg) {
    match op {
        ServerOp::Msg(f) => check_frame(f, cfg),
        ServerOp::Err(text) => {
            assert!(!text.contains(['\r', '\n']), "line break in -ERR text");
        }
        ServerOp::Info(_) | ServerOp::Ping | ServerOp::Pong | ServerOp::Ok => {}
    }
}

/// A frame's buffer holds exactly subject, NUL, reply, NUL, headers,
/// payload, NUL and the padding, and its accessors see those parts.
fn check_frame(f: &MsgFrame, cfg: &ParserCfg) {
    let reply_len = f.reply_len().unwrap_or(0);
    let expected =
        f.subject_len() + reply_len + 2 + f.header_len() + f.payload_len() + 1 + cfg.padding;
    assert_eq!(f.buf().len(), expected, "frame buffer size");
    assert!(
        f.header_len() + f.payload_len() <= cfg.max_payload,
        "over max_payload"
    );
    assert_eq!(f.subject().len(), f.subject_len(), "subject not UTF-8");
    assert!(!f.subject().is_empty(), "empty subject");
    if let Some(r) = f.reply() {
        assert_eq!(r.len(), reply_len, "reply not UTF-8");
        assert!(!r.is_empty(), "empty reply");
    }
    for s in [f.subject(), f.reply().unwrap_or_default()] {
        assert!(
            !s.bytes().any(|b| b <= b' ' || b == 0x7f),
            "blank or control byte in {s:?}"
        );
    }
    assert_eq!(f.buf().get(f.subject_len()), Some(&0));
    assert_eq!(f.buf().get(f.subject_len() + 1 + reply_len), Some(&0));
    assert_eq!(f.header_bytes().len(), f.header_len());
    assert_eq!(f.payload().len(), f.payload_len());
    let end = f.payload_offset() + f.payload_len();
    assert!(
        f.buf()
            .get(end..)
            .is_some_and(|t| t.iter().all(|&b| b == 0)),
        "payload not followed by NUL and zero padding"
    );
}

/// The `MSG`/`HMSG` wire form of a frame (single spaces, plain numbers).
fn encode_msg(f: &MsgFrame) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(if f.header_len() > 0 {
        b"HMSG "
    } else {
        b"MSG "
    });
    out.extend_from_slice(f.subject().as_bytes());
    out.extend_from_slice(format!(" {}", f.sid()).as_bytes());
    if let Some(r) = f.reply() {
        out.push(b' ');
        out.extend_from_slice(r.as_bytes());
    }
    if f.header_len() > 0 {
        out.extend_from_slice(format!(" {}", f.header_len()).as_bytes());
    }
    out.extend_from_slice(format!(" {}\r\n", f.header_len() + f.payload_len()).as_bytes());
    out.extend_from_slice(f.header_bytes());
    out.extend_from_slice(f.payload());
    out.extend_from_slice(b"\r\n");
    out
}

// ---------------------------------------------------------------------------
// Engine
// ---------------------------------------------------------------------------

/// Reads the fuzzer's bytes as a program; every read past the end is `None`.
struct Program<'a> {
    data: &'a [u8],
}

impl<'a> Program<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    /// Up to `n` bytes (fewer at the end of the input).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> Option<T> {
        let b = usize::from(self.byte()?);
        from.get(b % from.len().max(1)).copied()
    }
}

/// What one subscription's sink saw; shared with the harness.
#[derive(Debug, Default)]
struct SinkState {
    sid: u64,
    /// Messages handed to the sink (queued or dropped).
    delivered: u64,
    /// Queue capacity (0: unlimited) and how many are queued.
    cap: u64,
    queued: u64,
    dropping: bool,
    first_drops: u64,
    /// Auto-unsubscribe limit the engine accepted (0: none).
    max: u64,
    /// The engine no longer has this subscription.
    gone: bool,
}

#[derive(Clone, Default)]
struct Sink(Rc<RefCell<SinkState>>);

impl SubSink for Sink {
    fn deliver(&self, frame: MsgFrame) -> Delivery {
        let mut s = self.0.borrow_mut();
        assert!(!s.gone, "message for removed subscription {}", s.sid);
        assert_eq!(frame.sid(), s.sid, "message for the wrong subscription");
        s.delivered += 1;
        assert!(
            s.max == 0 || s.delivered <= s.max,
            "subscription {} got {} messages past its limit of {}",
            s.sid,
            s.delivered,
            s.max
        );
        if s.max > 0 && s.delivered == s.max {
            // The engine forgets a subscription at its limit.
            s.gone = true;
        }
        if s.cap > 0 && s.queued >= s.cap {
            let first = !s.dropping;
            s.dropping = true;
            s.first_drops += u64::from(first);
            return Delivery::Dropped { first };
        }
        s.dropping = false;
        s.queued += 1;
        Delivery::Queued
    }
}

/// The io loop's view of the connection's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// No socket (between attempts, or closed).
    Idle,
    /// Socket open, handshake running until `deadline`.
    Handshake { deadline: Instant },
    /// Handshake done.
    Up,
}

/// One socket: its parser, the last output taken from the engine and how
/// much of it was written.
struct Socket {
    parser: Parser,
    /// Nothing was taken from the engine yet on this socket.
    fresh: bool,
    wbuf: Vec<u8>,
    wpos: usize,
}

struct Harness {
    engine: Engine<Sink>,
    now: Instant,
    link: Link,
    sock: Option<Socket>,
    allow_reconnect: bool,
    reconnect_buf_size: usize,
    closed: bool,
    connected_before: bool,
    /// The engine asked for a TLS handshake / for credentials.
    awaiting_tls: bool,
    awaiting_creds: bool,
    sinks: Vec<Sink>,
    tickets: Vec<FlushTicket>,
    /// Publishes the engine accepted.
    published: u64,
    /// Reconnect-buffer bytes after the last disconnection (they may exceed
    /// the limit: publishes salvaged from the socket's output).
    salvaged: usize,
    /// The largest publish frame buffered (the limit is checked before it
    /// is added).
    max_frame: usize,
    slow_consumer_events: u64,
    events: Vec<Event>,
}

/// Subjects the program can use (all valid).
const SUBJECTS: [&str; 4] = ["foo", "a.b", "_INBOX.x.1", "a.*"];
/// Server errors the program can send.
const SERVER_ERRORS: [&str; 7] = [
    "Stale Connection",
    "Authorization Violation",
    "Permissions Violation for Publish to \"x\"",
    "Unknown Protocol Operation",
    "maximum subscriptions exceeded",
    "Maximum Payload Violation",
    "something new",
];
/// INFO lines the program can send.
const INFOS: [&[u8]; 7] = [
    b"INFO {\"server_id\":\"S\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n",
    b"INFO {\"proto\":0,\"max_payload\":64}\r\n",
    b"INFO {\"proto\":1,\"headers\":false,\"connect_urls\":[\"10.0.0.1:4222\"]}\r\n",
    b"INFO {\"proto\":1,\"headers\":true,\"ldm\":true,\"max_payload\":200}\r\n",
    b"INFO {}\r\n",
    b"INFO {\"proto\":1,\"headers\":true,\"tls_available\":true,\"nonce\":\"n\"}\r\n",
    b"INFO {\"proto\":1,\"tls_required\":true,\"auth_required\":true}\r\n",
];
const HEADERS: &[u8] = b"NATS/1.0\r\nK: v\r\n\r\n";

/// Drives the connection engine with a program decoded from `data`: server
/// bytes (raw or canned frames) read on the current socket, partial writes,
/// socket losses, handshakes, timer ticks with the fake clock advancing,
/// and publish/subscribe/unsubscribe/drain/flush calls. Checks after every
/// step: the bytes the engine asks to write are well-formed client
/// protocol starting with CONNECT, the reconnect buffer stays within its
/// limit (plus what a disconnection saved), subscriptions and counters
/// match what the sinks saw, and a closed engine stays closed.
pub fn engine(data: &[u8]) {
    run_engine(data);
}

/// Runs [`engine`]'s program; returns the final harness (`None` for an
/// input too short to hold the settings).
fn run_engine(data: &[u8]) -> Option<Harness> {
    let mut prog = Program { data };
    let (a, b, c) = (prog.byte()?, prog.byte()?, prog.byte()?);
    let reconnect_buf_size = usize::from(c) * 8;
    let cfg = EngineConfig {
        ping_interval: (a & 1 == 0).then(|| Duration::from_millis(u64::from(a >> 1) * 20)),
        max_pings_out: i32::from(b & 3) - 1,
        reconnect_buf_size,
        connect: ConnectInfo {
            lang: "rust".into(),
            version: "0".into(),
            protocol: 1,
            ..ConnectInfo::default()
        },
        no_echo: b & 4 != 0,
        disable_no_responders: b & 8 != 0,
        reconnect_on_protocol_error: b & 16 != 0,
        secure: b & 64 != 0,
        credentials_step: b & 128 != 0,
    };
    let mut h = Harness {
        engine: Engine::new(cfg),
        now: Instant::now(),
        link: Link::Idle,
        sock: None,
        allow_reconnect: b & 32 == 0,
        reconnect_buf_size,
        closed: false,
        connected_before: false,
        awaiting_tls: false,
        awaiting_creds: false,
        sinks: Vec::new(),
        tickets: Vec::new(),
        published: 0,
        salvaged: 0,
        max_frame: 0,
        slow_consumer_events: 0,
        events: Vec::new(),
    };
    while let Some(op) = prog.byte() {
        if h.step(op, &mut prog).is_none() {
            break;
        }
        h.check();
    }
    h.finish();
    Some(h)
}

impl Harness {
    /// Runs one operation; `None` when the program ran out of bytes.
    ///
    /// The program: 3 bytes of settings (ping interval, max pings out and
    /// flags, reconnect buffer size), then operations, `op % 21`:
    /// 0 raw server bytes (length, bytes); 1 a canned INFO; 2 PONG; 3 PING;
    /// 4 a canned -ERR; 5 a MSG/HMSG for a subscription; 6 write up to n
    /// bytes (u16); 7 socket lost; 8 open a socket (u16: timeout, TLS
    /// first); 9 tick after a time step (u16); 10, 11 publish; 12 subscribe;
    /// 13 unsubscribe (with a limit); 14 flush; 15 drain a subscription;
    /// 16 remove it; 17 library PING; 18 set the ping interval; 19 finish
    /// the TLS handshake or the credentials asked for; 20 close, mark the
    /// request inbox, or let the application read a subscription's queue.
    fn step(&mut self, op: u8, prog: &mut Program<'_>) -> Option<()> {
        match op % 21 {
            0 => {
                let n = usize::from(prog.byte()?);
                let bytes = prog.take(n).to_vec();
                self.read(&bytes);
            }
            1 => {
                let info = prog.pick(&INFOS)?;
                self.read(info);
            }
            2 => self.read(b"PONG\r\n"),
            3 => self.read(b"PING\r\n"),
            4 => {
                let text = prog.pick(&SERVER_ERRORS)?;
                self.read(format!("-ERR '{text}'\r\n").as_bytes());
            }
            5 => {
                // A message for a known (or unknown) subscription.
                let sel = prog.byte()?;
                let sid = self
                    .sinks
                    .get(usize::from(sel >> 1))
                    .map_or(u64::from(sel), |s| s.0.borrow().sid);
                let len = usize::from(prog.byte()?);
                let mut frame = if sel & 1 == 0 {
                    format!("MSG foo {sid} {len}\r\n").into_bytes()
                } else {
                    let total = HEADERS.len() + len;
                    let mut f = format!("HMSG foo {sid} r {} {total}\r\n", HEADERS.len());
                    f.push_str(std::str::from_utf8(HEADERS).unwrap_or_default());
                    f.into_bytes()
                };
                frame.resize(frame.len() + len, b'x');
                frame.extend_from_slice(b"\r\n");
                self.read(&frame);
            }
            6 => {
                let n = usize::from(prog.u16()?);
                self.write(n);
            }
            7 => {
                let code = prog.byte()?;
                let kinds = [
                    ErrorKind::ConnectionClosed,
                    ErrorKind::IoError,
                    ErrorKind::StaleConnection,
                    ErrorKind::Timeout,
                ];
                let kind = kinds[usize::from(code) % kinds.len()];
                self.lose(Error::new(kind, "socket lost"), code & 4 != 0);
            }
            8 => {
                let ms = prog.u16()?;
                self.open(Duration::from_millis(u64::from(ms >> 1)), ms & 1 != 0);
            }
            9 => {
                let step = prog.u16()?;
                let ms = if step & 0x8000 != 0 {
                    u64::from(step & 0x7fff) * 1000
                } else {
                    u64::from(step)
                };
                self.now += Duration::from_millis(ms);
                self.engine.tick(self.now);
                self.after_tick();
            }
            10 | 11 => {
                let sel = prog.byte()?;
                let subject = SUBJECTS[usize::from(sel) % SUBJECTS.len()];
                let reply = (sel & 8 != 0).then_some("_INBOX.r");
                let headers = if sel & 16 != 0 { HEADERS } else { b"" };
                let len = usize::from(prog.byte()?) * if sel & 32 != 0 { 64 } else { 1 };
                self.publish(subject, reply, headers, &vec![b'p'; len]);
            }
            12 => {
                let sel = prog.byte()?;
                let subject = SUBJECTS[usize::from(sel) % SUBJECTS.len()];
                let queue = (sel & 4 != 0).then_some("q");
                let cap = u64::from(sel >> 4);
                self.subscribe(subject, queue, cap);
            }
            13 => {
                let sel = prog.byte()?;
                let max = prog.byte()?;
                self.unsubscribe(sel, (max != 0).then_some(u64::from(max % 8)));
            }
            14 => {
                let r = self.engine.flush_ping(self.now);
                match r {
                    Ok((t, _)) => self.add_ticket(t),
                    Err(e) => {
                        self.expect_kinds(
                            &e,
                            &[
                                ErrorKind::ConnectionClosed,
                                ErrorKind::ConnectionDisconnected,
                            ],
                        );
                    }
                }
            }
            15 => {
                let sel = prog.byte()?;
                self.drain_sub(sel);
            }
            16 => {
                let sel = prog.byte()?;
                self.remove_sub(sel);
            }
            17 => {
                let t = self.engine.ping_ticket(self.now);
                assert_eq!(t.is_some(), self.link == Link::Up && !self.closed);
                if let Some(t) = t {
                    self.add_ticket(t);
                }
            }
            18 => {
                let ms = prog.byte()?;
                let iv = (ms != 0).then(|| Duration::from_millis(u64::from(ms) * 10));
                self.engine.set_ping_interval(iv, self.now);
                assert_eq!(self.engine.ping_interval(), iv);
            }
            19 => {
                let sel = prog.byte()?;
                self.auth_step(sel);
            }
            _ => {
                let sel = prog.byte()?;
                let sink = self.sinks.get(usize::from(sel >> 3)).cloned();
                match (sel & 7, sink) {
                    (0, _) => self.close(),
                    (1, Some(s)) => {
                        let sid = s.0.borrow().sid;
                        self.engine.set_replay_last(sid);
                    }
                    // The application reads what is queued.
                    (_, Some(s)) => s.0.borrow_mut().queued = 0,
                    (_, None) => {}
                }
            }
        }
        Some(())
    }

    /// Keeps the most recent flush tickets (older ones add nothing).
    fn add_ticket(&mut self, t: FlushTicket) {
        if self.tickets.len() >= 64 {
            self.tickets.remove(0);
        }
        self.tickets.push(t);
    }

    fn expect_kinds(&self, e: &Error, allowed: &[ErrorKind]) {
        assert!(allowed.contains(&e.kind()), "unexpected error {e:?}");
        if self.closed {
            assert_eq!(e.kind(), ErrorKind::ConnectionClosed, "{e:?}");
        }
    }

    /// The TLS handshake or the credentials the engine asked for complete
    /// (or fail: the attempt is lost).
    fn auth_step(&mut self, sel: u8) {
        if self.awaiting_tls {
            self.awaiting_tls = false;
            if sel & 1 == 0 {
                self.engine.tls_ready(self.now);
                self.on_events();
            } else {
                self.lose(
                    Error::new(ErrorKind::SslError, "handshake"),
                    self.allow_reconnect,
                );
            }
        } else if self.awaiting_creds {
            self.awaiting_creds = false;
            let creds = if sel & 1 == 0 {
                Ok(Credentials {
                    user: Some("u".into()),
                    pass: Some("p".into()),
                    ..Credentials::default()
                })
            } else {
                Err(Error::new(ErrorKind::AuthFailed, "no credentials"))
            };
            self.engine.provide_credentials(creds, self.now);
            self.on_events();
        }
    }

    /// The io loop opens a socket: only between attempts.
    fn open(&mut self, timeout: Duration, tls_first: bool) {
        if self.closed || self.link != Link::Idle {
            return;
        }
        let deadline = self.now + timeout;
        self.engine.start_handshake(deadline, tls_first);
        assert_eq!(self.engine.out_len(), 0, "output left from the last socket");
        self.link = Link::Handshake { deadline };
        self.sock = Some(Socket {
            parser: Parser::new(),
            fresh: true,
            wbuf: Vec::new(),
            wpos: 0,
        });
    }

    /// Bytes arrive on the socket, as the io loop handles a read.
    fn read(&mut self, bytes: &[u8]) {
        let Some(sock) = self.sock.as_mut() else {
            return;
        };
        let mut ops = Vec::new();
        let parsed = sock.parser.parse(bytes, &mut |op| ops.push(op));
        for op in ops {
            self.engine.handle(op, self.now);
        }
        self.on_events();
        if let Err(e) = parsed {
            self.lose(e, self.allow_reconnect);
        }
    }

    /// The io loop writes up to `n` bytes, taking more output when the last
    /// take is written (as `write_out`).
    fn write(&mut self, mut n: usize) {
        if self.closed {
            return;
        }
        let Some(sock) = self.sock.as_mut() else {
            return;
        };
        loop {
            if sock.wpos >= sock.wbuf.len() {
                sock.wbuf.clear();
                sock.wpos = 0;
                if !self.engine.has_output() {
                    return;
                }
                self.engine.take_output(&mut sock.wbuf);
                check_client_stream(&sock.wbuf, sock.fresh);
                sock.fresh = false;
            }
            let k = n.min(sock.wbuf.len() - sock.wpos);
            sock.wpos += k;
            n -= k;
            if n == 0 {
                return;
            }
        }
    }

    /// The socket is gone, as `ConnInner::socket_lost`: a failed attempt, or
    /// a lost connection (reconnecting or closing).
    fn lose(&mut self, cause: Error, reconnect: bool) {
        let Some(sock) = self.sock.take() else {
            return;
        };
        let link = std::mem::replace(&mut self.link, Link::Idle);
        self.awaiting_tls = false;
        self.awaiting_creds = false;
        match link {
            Link::Handshake { .. } => self.engine.attempt_failed(),
            Link::Up => {
                let pending_before = self.pending();
                let unsent = sock.wbuf.len().saturating_sub(sock.wpos) + self.engine.out_len();
                let sinks = self
                    .engine
                    .disconnected(Some(cause), reconnect, &sock.wbuf, sock.wpos);
                if reconnect {
                    let pending = self.pending();
                    assert!(
                        pending <= pending_before + unsent,
                        "disconnect kept {pending} bytes from {pending_before} + {unsent}"
                    );
                    self.salvaged = pending;
                } else {
                    self.mark_closed(sinks);
                }
            }
            Link::Idle => {}
        }
    }

    fn close(&mut self) {
        let sinks = self.engine.close();
        self.sock = None;
        self.link = Link::Idle;
        self.mark_closed(sinks);
    }

    fn mark_closed(&mut self, sinks: Vec<Sink>) {
        self.closed = true;
        self.sock = None;
        self.link = Link::Idle;
        for s in sinks {
            s.0.borrow_mut().gone = true;
        }
        for s in &self.sinks {
            s.0.borrow_mut().gone = true;
        }
    }

    fn after_tick(&mut self) {
        let handshake_expired =
            matches!(self.link, Link::Handshake { deadline } if self.now >= deadline);
        self.engine.drain_events(&mut self.events);
        if handshake_expired {
            assert!(
                self.events.iter().any(|e| matches!(e,
                    Event::HandshakeFailed(err) if err.kind() == ErrorKind::Timeout)),
                "handshake past its deadline did not fail: {:?}",
                self.events
            );
        }
        self.on_events();
    }

    /// Acts on the engine's events, as `ConnInner::on_events`.
    fn on_events(&mut self) {
        self.engine.drain_events(&mut self.events);
        let mut lose = None;
        for ev in std::mem::take(&mut self.events) {
            match ev {
                Event::Connected { reconnect } => {
                    assert!(
                        matches!(self.link, Link::Handshake { .. }),
                        "connected while {:?}",
                        self.link
                    );
                    assert_eq!(reconnect, self.connected_before, "reconnect flag");
                    self.connected_before = true;
                    self.link = Link::Up;
                    self.salvaged = 0;
                    self.max_frame = 0;
                }
                Event::HandshakeFailed(e) | Event::Disconnect(e) => {
                    lose = Some((e, self.allow_reconnect));
                }
                Event::Fatal(e) => lose = Some((e, false)),
                Event::AsyncError(sid, e) => {
                    if e.kind() == ErrorKind::SlowConsumer {
                        assert!(sid.is_some(), "slow consumer without a subscription");
                        self.slow_consumer_events += 1;
                    }
                }
                Event::StartTls => {
                    assert!(
                        matches!(self.link, Link::Handshake { .. }),
                        "TLS while {:?}",
                        self.link
                    );
                    self.awaiting_tls = true;
                }
                Event::NeedCredentials { .. } => {
                    assert!(
                        matches!(self.link, Link::Handshake { .. }),
                        "credentials while {:?}",
                        self.link
                    );
                    self.awaiting_creds = true;
                }
                Event::Pong | Event::Discovered(_) | Event::LameDuck => {}
            }
        }
        if let Some((e, reconnect)) = lose {
            self.lose(e, reconnect);
        }
    }

    fn publish(&mut self, subject: &str, reply: Option<&str>, headers: &[u8], payload: &[u8]) {
        let up = self.link == Link::Up;
        let pending_before = self.pending();
        let mut frame = Vec::new();
        proto::encode_pub(&mut frame, subject, reply, headers, payload);
        match self.engine.publish(subject, reply, headers, payload) {
            Ok(_) => {
                assert!(!self.closed, "publish on a closed engine");
                self.published += 1;
                if !up {
                    assert!(
                        pending_before < self.reconnect_buf_size,
                        "buffered a publish over the reconnect buffer limit"
                    );
                    assert_eq!(self.pending(), pending_before + frame.len());
                    self.max_frame = self.max_frame.max(frame.len());
                }
            }
            Err(e) => {
                self.expect_kinds(
                    &e,
                    &[
                        ErrorKind::ConnectionClosed,
                        ErrorKind::MaxPayload,
                        ErrorKind::NoServerSupport,
                        ErrorKind::InsufficientBuffer,
                    ],
                );
                if e.kind() == ErrorKind::InsufficientBuffer {
                    assert!(!up);
                    assert!(pending_before >= self.reconnect_buf_size);
                }
                assert_eq!(self.pending(), pending_before);
            }
        }
    }

    fn subscribe(&mut self, subject: &str, queue: Option<&str>, cap: u64) {
        let sink = Sink::default();
        sink.0.borrow_mut().cap = cap;
        match self.engine.subscribe(subject, queue, sink.clone()) {
            Ok((sid, _)) => {
                assert!(!self.closed);
                assert!(
                    self.sinks.iter().all(|s| s.0.borrow().sid != sid),
                    "sid {sid} reused"
                );
                sink.0.borrow_mut().sid = sid;
                self.sinks.push(sink);
            }
            Err(e) => self.expect_kinds(&e, &[ErrorKind::ConnectionClosed]),
        }
    }

    /// The sid of the `sel`-th subscription made, or an unknown one.
    fn sid(&self, sel: u8) -> (u64, Option<Sink>) {
        match self.sinks.get(usize::from(sel)) {
            Some(s) => (s.0.borrow().sid, Some(s.clone())),
            None => (u64::MAX - u64::from(sel), None),
        }
    }

    fn unsubscribe(&mut self, sel: u8, max: Option<u64>) {
        let (sid, sink) = self.sid(sel);
        match self.engine.unsubscribe(sid, max) {
            Ok((_, gone)) => {
                let sink = sink.expect("unsubscribed an unknown sid");
                let mut s = sink.0.borrow_mut();
                assert!(!s.gone, "unsubscribed a removed subscription");
                if gone {
                    s.gone = true;
                } else {
                    let m = max.expect("kept without a limit");
                    assert!(m > s.delivered, "kept at its limit");
                    s.max = m;
                }
            }
            Err(e) => {
                self.expect_kinds(
                    &e,
                    &[ErrorKind::ConnectionClosed, ErrorKind::InvalidSubscription],
                );
                if e.kind() == ErrorKind::InvalidSubscription {
                    assert!(sink.is_none_or(|s| s.0.borrow().gone));
                }
            }
        }
    }

    fn drain_sub(&mut self, sel: u8) {
        let (sid, sink) = self.sid(sel);
        match self.engine.drain_sub(sid) {
            Ok(_) => assert!(sink.is_some_and(|s| !s.0.borrow().gone)),
            Err(e) => {
                self.expect_kinds(
                    &e,
                    &[ErrorKind::ConnectionClosed, ErrorKind::InvalidSubscription],
                );
                if e.kind() == ErrorKind::InvalidSubscription {
                    assert!(sink.is_none_or(|s| s.0.borrow().gone));
                }
            }
        }
    }

    fn remove_sub(&mut self, sel: u8) {
        let (sid, sink) = self.sid(sel);
        let removed = self.engine.remove_sub(sid);
        let known = sink.as_ref().is_some_and(|s| !s.0.borrow().gone);
        assert_eq!(removed.is_some(), known, "remove_sub({sid})");
        if let Some(s) = sink {
            s.0.borrow_mut().gone = true;
        }
    }

    /// Bytes in the reconnect buffer (the engine's buffered output that is
    /// not queued for the socket).
    fn pending(&self) -> usize {
        self.engine.buffered() - self.engine.out_len()
    }

    /// Invariants that hold between any two steps.
    fn check(&mut self) {
        let e = &self.engine;
        if self.closed {
            assert_eq!(e.buffered(), 0, "closed engine holds output");
            assert_eq!(e.next_deadline(), None, "closed engine wants a timer");
            assert_eq!(e.subs().count(), 0, "closed engine has subscriptions");
            for t in &self.tickets {
                let status = e.flush_status(*t).map(|r| r.map_err(|x| x.kind()));
                assert_eq!(status, Some(Err(ErrorKind::ConnectionClosed)));
            }
        } else {
            for t in &self.tickets {
                if let Some(Err(x)) = e.flush_status(*t) {
                    assert_eq!(x.kind(), ErrorKind::ConnectionDisconnected, "{x:?}");
                }
            }
        }
        let live = self.sinks.iter().filter(|s| !s.0.borrow().gone).count();
        assert_eq!(e.subs().count(), live, "subscription table out of step");
        for s in &self.sinks {
            let s = s.0.borrow();
            assert_eq!(e.has_sub(s.sid), !s.gone, "has_sub({})", s.sid);
        }
        let limit = self
            .salvaged
            .max(self.reconnect_buf_size + self.max_frame.saturating_sub(1));
        assert!(
            self.pending() <= limit,
            "reconnect buffer at {} bytes (limit {}, salvaged {}, largest frame {})",
            self.pending(),
            self.reconnect_buf_size,
            self.salvaged,
            self.max_frame
        );
        if self.link == Link::Up {
            assert_eq!(self.pending(), 0, "reconnect buffer kept while connected");
        }
        let stats = e.stats();
        assert_eq!(stats.out_msgs, self.published, "published count");
        let delivered: u64 = self.sinks.iter().map(|s| s.0.borrow().delivered).sum();
        assert_eq!(stats.in_msgs, delivered, "received count");
        let first_drops: u64 = self.sinks.iter().map(|s| s.0.borrow().first_drops).sum();
        assert_eq!(
            self.slow_consumer_events, first_drops,
            "slow consumer reports"
        );
        assert!(
            e.pings_out() <= e.max_pings_out().max(0),
            "{} pings out, max {}",
            e.pings_out(),
            e.max_pings_out()
        );
        if self.link == Link::Up && e.ping_interval().is_some() {
            assert!(
                e.next_deadline().is_some(),
                "connected without a ping timer"
            );
        }
        if let Link::Handshake { deadline } = self.link {
            assert!(e.next_deadline().is_some_and(|d| d <= deadline));
        }
    }

    /// Everything still queued is written: the stream stays well-formed.
    fn finish(&mut self) {
        self.write(usize::MAX);
    }
}

/// Checks that `s` is a sequence of complete, well-formed client operations;
/// on a `fresh` socket the first is `CONNECT`, followed by its `PING`.
fn check_client_stream(s: &[u8], fresh: bool) {
    let mut rest = s;
    let mut first = fresh;
    while !rest.is_empty() {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or_else(|| panic!("unterminated line: {:?}", String::from_utf8_lossy(rest)));
        let line = std::str::from_utf8(&rest[..eol])
            .unwrap_or_else(|_| panic!("non-UTF-8 line: {:?}", &rest[..eol]));
        rest = &rest[eol + 2..];
        let (op, args) = line.split_once(' ').unwrap_or((line, ""));
        if first {
            assert_eq!(op, "CONNECT", "first operation on a socket");
            assert!(
                rest.starts_with(b"PING\r\n"),
                "CONNECT not followed by PING"
            );
            first = false;
        }
        let words: Vec<&str> = args.split(' ').filter(|w| !w.is_empty()).collect();
        let num = |w: &str| -> usize {
            assert!(
                !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()),
                "bad number {w:?} in {line:?}"
            );
            w.parse().unwrap_or_else(|_| panic!("number {w:?}"))
        };
        let body = match (op, words.as_slice()) {
            ("CONNECT", _) => {
                let v: serde_json::Value = serde_json::from_str(args)
                    .unwrap_or_else(|e| panic!("CONNECT JSON {args:?}: {e}"));
                assert!(v.is_object());
                0
            }
            ("PING" | "PONG", []) => 0,
            ("SUB", [_, sid] | [_, _, sid]) => {
                num(sid);
                0
            }
            ("UNSUB", [sid] | [sid, _]) => {
                num(sid);
                words.get(1).map(|m| num(m));
                0
            }
            ("PUB", [_, n] | [_, _, n]) => num(n) + 2,
            ("HPUB", [_, hn, n] | [_, _, hn, n]) => {
                let (hn, n) = (num(hn), num(n));
                assert!(hn <= n, "header size over total in {line:?}");
                n + 2
            }
            _ => panic!("malformed client operation {line:?}"),
        };
        if body > 0 {
            assert!(rest.len() >= body, "truncated body after {line:?}");
            assert_eq!(
                &rest[body - 2..body],
                b"\r\n",
                "body not CRLF-terminated after {line:?}"
            );
            rest = &rest[body..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_the_seed_shapes() {
        for input in [
            &b""[..],
            b"PING\r\nPONG\r\n+OK\r\n-ERR 'x'\r\n",
            concat!(
                "INFO {\"max_payload\":10}\r\nMSG a 1 r 3\r\nabc\r\n",
                "HMSG b 2 12 14\r\nNATS/1.0\r\n\r\nxy\r\n"
            )
            .as_bytes(),
            b"MSG a 1 4000000000\r\n",
            b"GARBAGE\r\n",
        ] {
            parse(input);
        }
    }

    #[test]
    fn engine_runs_a_handshake_and_traffic() {
        // open, INFO, write, PONG, subscribe, message, publish, tick, lose, reopen.
        let prog: &[u8] = &[
            1, 2, 255, // no ping timer, max_pings_out 1, reconnect buffer 2040 bytes
            8, 0xe8, 0x03, // open, 1 s handshake
            1, 0, // INFO #0
            6, 0xff, 0xff, // write everything
            2,    // PONG: connected
            12, 0, // subscribe foo
            5, 0, 3, // MSG for sub #0, 3 bytes
            10, 1, 4, // publish
            9, 10, 0, // tick +10 ms
            7, 4, // lose, reconnecting
            10, 0, 5, // publish while disconnected
            8, 0xe8, 0x03, 1, 0, 2, 6, 0xff, 0xff,
        ];
        let h = run_engine(prog).expect("settings");
        assert_eq!(h.link, Link::Up);
        assert!(h.connected_before);
        assert_eq!(h.published, 2);
        assert_eq!(h.engine.stats().in_msgs, 1);
        assert_eq!(h.engine.stats().out_msgs, 2);
    }

    #[test]
    fn client_stream_checker() {
        let good = concat!(
            "CONNECT {}\r\nPING\r\nPUB a 2\r\nhi\r\nHPUB a r 1 2\r\nxy\r\n",
            "SUB a q 1\r\nUNSUB 1 5\r\n"
        );
        check_client_stream(good.as_bytes(), true);
        check_client_stream(b"PUB a 1\r\nh\r\n", false);
        let bad: &[&[u8]] = &[
            b"PUB a 1\r\nh\r\n",
            b"CONNECT {}\r\nPING\r\nPUB a 3\r\nhi\r\n",
        ];
        for b in bad {
            assert!(std::panic::catch_unwind(|| check_client_stream(b, true)).is_err());
        }
    }
}
