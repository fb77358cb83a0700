//! The sans-I/O connection state machine.
//!
//! The engine never touches a socket, a thread or the clock: the driver feeds it
//! parsed server operations and the current time, takes the bytes it wants
//! written from [`Engine::take_output`], and acts on the [`Event`]s it returns.
//! Everything timing-related (stale detection, flush bookkeeping) is therefore
//! testable deterministically with a fake clock.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result, err};
use crate::proto::{self, ConnectInfo, MsgFrame, ServerInfo, ServerOp};

/// The longest ping interval with which an idle connection is read lazily,
/// only at its pings. A server PING then waits for our next ping to be
/// answered; nats-server closes a client after two of its own ping intervals
/// without an answer, so our interval must stay well under twice the
/// server's (2 minutes by default, rarely under 10 seconds). Idle input
/// other than PING and PONG (a lame-duck INFO, an `-ERR`) is seen at most
/// this late; a closed socket is seen at once.
pub(crate) const QUIET_MAX_PING: Duration = Duration::from_secs(10);

/// What happened to a message handed to a subscription's sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Queued for the application.
    Queued,
    /// Dropped because the subscription is over its pending limits; `first` is
    /// true for the first drop of a slow-consumer episode.
    Dropped {
        /// First drop since the subscription was last able to queue.
        first: bool,
    },
}

/// Where a subscription's messages go (a channel in the client, a `Vec` in tests).
pub(crate) trait SubSink {
    /// Hands a message over without blocking.
    fn deliver(&self, frame: MsgFrame) -> Delivery;
}

/// Connection phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Socket open (or opening), waiting for the server's INFO.
    AwaitInfo,
    /// INFO received; the TLS handshake must complete before CONNECT.
    AwaitTls,
    /// Waiting for the credentials of this attempt (user callbacks, files).
    AwaitCreds,
    /// CONNECT and PING sent, waiting for PONG.
    AwaitPong,
    /// Handshake complete.
    Connected,
    /// Socket lost; waiting for a new one (publishes are buffered).
    Disconnected,
    /// Closed for good.
    Closed,
}

/// Something the driver or client must act on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// The handshake completed; `reconnect` is true after a reconnection.
    Connected {
        /// True if this is not the first connection.
        reconnect: bool,
    },
    /// The server refused the handshake, or it could not proceed.
    HandshakeFailed(Error),
    /// A PONG arrived: flush waiters may be done.
    Pong,
    /// Report through the error callback (subscription id, if any).
    AsyncError(Option<u64>, Error),
    /// The connection must be dropped and may be re-established (stale...).
    Disconnect(Error),
    /// The server reported an error after which the connection must not be
    /// re-established (nats.c closes on these, unless told to reconnect).
    Fatal(Error),
    /// An INFO listed these other servers of the cluster (`connect_urls`).
    Discovered(Vec<String>),
    /// The server announced it is entering lame-duck mode.
    LameDuck,
    /// Start the TLS handshake on the socket (then call [`Engine::tls_ready`]).
    StartTls,
    /// Compute this attempt's credentials (signing the server's `nonce`),
    /// then call [`Engine::provide_credentials`].
    NeedCredentials {
        /// The nonce of the server's INFO (empty if none).
        nonce: String,
    },
}

/// What a CONNECT carries to authenticate, computed for each attempt.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Credentials {
    pub user: Option<String>,
    pub pass: Option<String>,
    pub token: Option<String>,
    pub jwt: Option<String>,
    pub nkey: Option<String>,
    pub sig: Option<String>,
}

/// Counters, as `natsStatistics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Messages received (once per delivering subscription).
    pub in_msgs: u64,
    /// Payload and header bytes received.
    pub in_bytes: u64,
    /// Messages published.
    pub out_msgs: u64,
    /// Payload and header bytes published.
    pub out_bytes: u64,
    /// Successful reconnections.
    pub reconnects: u64,
}

/// Engine settings taken from the options.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    pub ping_interval: Option<Duration>,
    pub max_pings_out: i32,
    pub reconnect_buf_size: usize,
    pub connect: ConnectInfo,
    pub no_echo: bool,
    pub disable_no_responders: bool,
    /// Reconnect after a fatal server error instead of closing.
    pub reconnect_on_protocol_error: bool,
    /// The client requires TLS (`SetSecure`, a `tls://` URL).
    pub secure: bool,
    /// Credentials are computed per attempt ([`Event::NeedCredentials`])
    /// instead of being set with [`Engine::set_credentials`].
    pub credentials_step: bool,
}

struct SubEntry<S> {
    subject: String,
    queue: Option<String>,
    /// Auto-unsubscribe limit (0: none).
    max: u64,
    received: u64,
    /// Re-sent after the other subscriptions on reconnect (the request inbox).
    replay_last: bool,
    /// Draining: its UNSUB was sent; it still delivers what the server sent
    /// before that, and is not re-subscribed on reconnect.
    draining: bool,
    sink: S,
}

/// The connection state machine. `S` is the per-subscription sink.
pub(crate) struct Engine<S> {
    cfg: EngineConfig,
    phase: Phase,
    ever_connected: bool,
    /// The socket of this attempt speaks TLS (handshake done or first).
    tls_active: bool,
    out: Vec<u8>,
    pending: Vec<u8>,
    /// Publishes in `pending`.
    pending_msgs: u64,
    info: ServerInfo,
    pings_out: i32,
    /// Send time of each PING without its PONG yet, and how many publishes had
    /// been queued before it (a PONG confirms them).
    ping_marks: VecDeque<(Instant, u64)>,
    /// Publishes queued for the socket on the current connection.
    pub_seq: u64,
    /// Publishes the server confirmed (with a PONG) on the current connection.
    confirmed_seq: u64,
    /// Publishes possibly lost with a dead connection, not yet reported.
    unconfirmed_lost: u64,
    last_rtt: Option<Duration>,
    handshake_deadline: Option<Instant>,
    pings_sent: u64,
    pongs_received: u64,
    epoch: u64,
    next_ping: Option<Instant>,
    /// PINGs queued for flushes (not the timer's): part of
    /// [`Engine::quiet_mark`].
    flushes: u64,
    subs: HashMap<u64, SubEntry<S>, SidHash>,
    next_sid: u64,
    stats: Statistics,
    last_error: Option<Error>,
    events: Vec<Event>,
}

/// What a server `-ERR` means for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrClass {
    /// The connection is dead; reconnect (stale, too many connections).
    Reconnect,
    /// Authentication refused or expired: the server closes the socket.
    Auth,
    /// The server closes the connection and retrying cannot help (nats.c
    /// closes for good; `reconnect_on_protocol_error` reconnects instead).
    Fatal,
    /// The server keeps the connection open: report it, stay connected.
    /// Unknown texts are treated this way too: if the server does close the
    /// socket, the client sees it and reconnects.
    KeepsOpen,
}

/// Classifies the text of a server `-ERR` (quotes already removed) as
/// nats-server 2.x sends them.
pub(crate) fn classify_server_error(text: &str) -> (ErrorKind, ErrClass) {
    let t = text.trim().to_ascii_lowercase();
    let has = |p: &str| t.contains(p);
    if t == "stale connection" {
        (ErrorKind::StaleConnection, ErrClass::Reconnect)
    } else if has("permissions violation") {
        (ErrorKind::NotPermitted, ErrClass::KeepsOpen)
    } else if has("authorization violation")
        || has("authentication expired")
        || has("authentication revoked")
        || has("authentication timeout")
    {
        (ErrorKind::AuthFailed, ErrClass::Auth)
    } else if t == "maximum connections exceeded"
        || t == "maximum account active connections exceeded"
    {
        (ErrorKind::Other, ErrClass::Reconnect)
    } else if t.starts_with("maximum subscriptions exceeded")
        || t == "invalid subject"
        || t == "invalid publish subject"
    {
        (ErrorKind::Other, ErrClass::KeepsOpen)
    } else if has("maximum payload violation")
        || has("maximum control line exceeded")
        || has("unknown protocol operation")
        || has("invalid client protocol")
        || has("requires headers support")
        || has("tls required")
        || has("connection throttling")
        || has("failed account registration")
        || has("parser error")
    {
        (ErrorKind::Other, ErrClass::Fatal)
    } else {
        (ErrorKind::Other, ErrClass::KeepsOpen)
    }
}

/// A flush in progress: completes when PONG number `target` of `epoch` arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlushTicket {
    epoch: u64,
    target: u64,
}

impl<S: SubSink> Engine<S> {
    /// A new engine, waiting for a socket.
    pub(crate) fn new(cfg: EngineConfig) -> Self {
        Engine {
            cfg,
            phase: Phase::Disconnected,
            ever_connected: false,
            tls_active: false,
            out: Vec::new(),
            pending: Vec::new(),
            pending_msgs: 0,
            info: ServerInfo::default(),
            pings_out: 0,
            flushes: 0,
            ping_marks: VecDeque::new(),
            pub_seq: 0,
            confirmed_seq: 0,
            unconfirmed_lost: 0,
            last_rtt: None,
            handshake_deadline: None,
            pings_sent: 0,
            pongs_received: 0,
            epoch: 0,
            next_ping: None,
            subs: HashMap::default(),
            next_sid: 1,
            stats: Statistics::default(),
            last_error: None,
            events: Vec::new(),
        }
    }

    /// The current phase.
    #[cfg(test)]
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// True once a handshake has completed at least once.
    pub(crate) fn ever_connected(&self) -> bool {
        self.ever_connected
    }

    /// The latest INFO from the server.
    pub(crate) fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// Counters.
    pub(crate) fn stats(&self) -> Statistics {
        self.stats
    }

    /// The last error the connection recorded (server `-ERR`, stale, I/O...).
    pub(crate) fn last_error(&self) -> Option<&Error> {
        self.last_error.as_ref()
    }

    /// Pings sent without a PONG yet (for health reporting).
    pub(crate) fn pings_out(&self) -> i32 {
        self.pings_out
    }

    /// Takes the events produced so far.
    pub(crate) fn drain_events(&mut self, into: &mut Vec<Event>) {
        into.append(&mut self.events);
    }

    /// Bytes waiting to be written (or buffered while disconnected).
    pub(crate) fn buffered(&self) -> usize {
        self.out.len() + self.pending.len()
    }

    /// Bytes queued for the current socket.
    pub(crate) fn out_len(&self) -> usize {
        self.out.len()
    }

    /// True if there are bytes waiting to be written.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Swaps the pending output into `dst` (which must be empty).
    pub(crate) fn take_output(&mut self, dst: &mut Vec<u8>) {
        debug_assert!(dst.is_empty());
        std::mem::swap(&mut self.out, dst);
    }

    /// Puts back, in front of the pending output, the end of what
    /// [`Engine::take_output`] handed out and was not written.
    pub(crate) fn restore_output(&mut self, rest: &[u8]) {
        let mut v = Vec::with_capacity(rest.len() + self.out.len());
        v.extend_from_slice(rest);
        v.extend_from_slice(&self.out);
        self.out = v;
    }

    /// A new socket is being opened: start the handshake, which must complete
    /// by `deadline` (TCP connect included). `tls_first`: the socket starts
    /// with a TLS handshake, before the server's INFO.
    pub(crate) fn start_handshake(&mut self, deadline: Instant, tls_first: bool) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::AwaitInfo;
        self.tls_active = tls_first;
        self.out.clear();
        self.pings_out = 0;
        self.pings_sent = 0;
        self.pongs_received = 0;
        self.ping_marks.clear();
        self.pub_seq = 0;
        self.confirmed_seq = 0;
        self.next_ping = None;
        self.handshake_deadline = Some(deadline);
    }

    /// When the engine next needs [`Engine::tick`].
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Connected => self.next_ping,
            Phase::AwaitInfo | Phase::AwaitTls | Phase::AwaitCreds | Phase::AwaitPong => {
                self.handshake_deadline
            }
            _ => None,
        }
    }

    /// Round-trip time of the last PING answered.
    pub(crate) fn last_rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    /// Publishes that may have been lost with a dead connection and that no
    /// flush has reported yet.
    pub(crate) fn unconfirmed_lost(&self) -> u64 {
        self.unconfirmed_lost
    }

    fn queue_ping(&mut self, now: Instant) {
        self.out.extend_from_slice(proto::PING);
        self.pings_sent += 1;
        self.ping_marks.push_back((now, self.pub_seq));
    }

    /// Changes the ping interval of a live connection (`None` disables pings).
    pub(crate) fn set_ping_interval(&mut self, interval: Option<Duration>, now: Instant) {
        self.cfg.ping_interval = interval;
        self.next_ping = match (self.phase, interval) {
            (Phase::Connected, Some(d)) => Some(now + d),
            _ => None,
        };
    }

    /// What the application has done on this connection so far (messages
    /// published, subscriptions made, flushes), when the connection could be
    /// read lazily: connected, no subscription, and pings every
    /// [`QUIET_MAX_PING`] or more often. `None` otherwise. The io loop reads
    /// a connection lazily from a ping tick at which the server had answered
    /// everything ([`Engine::all_answered`]) until this changes (see
    /// `driver::Reader`).
    pub(crate) fn quiet_mark(&self) -> Option<(u64, u64, u64)> {
        let pings_often = self.cfg.ping_interval.is_some_and(|d| d <= QUIET_MAX_PING);
        (self.phase == Phase::Connected && self.subs.is_empty() && pings_often).then_some((
            self.stats.out_msgs,
            self.next_sid,
            self.flushes,
        ))
    }

    /// Connected, no PING without its PONG, and every publish confirmed by
    /// a PONG: the server has answered everything sent so far (a PONG comes
    /// after whatever the server had to say about what preceded its PING).
    pub(crate) fn all_answered(&self) -> bool {
        self.phase == Phase::Connected
            && self.ping_marks.is_empty()
            && self.confirmed_seq >= self.pub_seq
    }

    /// PINGs sent on this connection (timer and flushes).
    pub(crate) fn pings_sent(&self) -> u64 {
        self.pings_sent
    }

    /// The configured ping interval.
    pub(crate) fn ping_interval(&self) -> Option<Duration> {
        self.cfg.ping_interval
    }

    /// The configured maximum of unanswered pings.
    pub(crate) fn max_pings_out(&self) -> i32 {
        self.cfg.max_pings_out
    }

    /// Timer work: send a PING, declare the connection stale, or give up on a
    /// handshake that missed its deadline.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.in_handshake() {
            if self.handshake_deadline.is_some_and(|d| now >= d) {
                let what = match self.phase {
                    Phase::AwaitInfo => "no INFO from the server",
                    Phase::AwaitTls => "the TLS handshake did not complete",
                    Phase::AwaitCreds => "no credentials",
                    _ => "no PONG to the CONNECT",
                };
                self.fail_handshake(Error::new(
                    ErrorKind::Timeout,
                    format!("handshake timed out: {what}"),
                ));
            }
            return;
        }
        if self.phase != Phase::Connected {
            return;
        }
        let (Some(due), Some(interval)) = (self.next_ping, self.cfg.ping_interval) else {
            return;
        };
        if now < due {
            return;
        }
        if self.pings_out >= self.cfg.max_pings_out {
            let e = Error::new(
                ErrorKind::StaleConnection,
                format!(
                    "no PONG for {} PING(s) sent every {:?}",
                    self.pings_out, interval
                ),
            );
            self.last_error = Some(e.clone());
            self.next_ping = None;
            self.events.push(Event::Disconnect(e));
            return;
        }
        self.pings_out += 1;
        self.queue_ping(now);
        self.next_ping = Some(now + interval);
    }

    /// Processes one operation from the server.
    pub(crate) fn handle(&mut self, op: ServerOp, now: Instant) {
        if self.phase == Phase::AwaitInfo {
            // A server speaks INFO first; anything else (but -ERR, which
            // fails the attempt with the server's text) is not a NATS
            // server: fail now rather than wait out the handshake deadline.
            let got = match &op {
                ServerOp::Info(_) | ServerOp::Err(_) => None,
                ServerOp::Msg(_) => Some("MSG"),
                ServerOp::Ping => Some("PING"),
                ServerOp::Pong => Some("PONG"),
                ServerOp::Ok => Some("+OK"),
            };
            if let Some(got) = got {
                self.fail_handshake(Error::new(
                    ErrorKind::ProtocolError,
                    format!("expected INFO from the server, got {got}"),
                ));
                return;
            }
        }
        match op {
            ServerOp::Msg(frame) => self.on_msg(frame),
            ServerOp::Ping => {
                if matches!(self.phase, Phase::AwaitPong | Phase::Connected) {
                    self.out.extend_from_slice(proto::PONG);
                }
            }
            ServerOp::Pong => self.on_pong(now),
            ServerOp::Info(info) => self.on_info(*info, now),
            ServerOp::Ok => {}
            ServerOp::Err(text) => self.on_err(text),
        }
    }

    /// True between a new socket and the PONG to CONNECT.
    fn in_handshake(&self) -> bool {
        matches!(
            self.phase,
            Phase::AwaitInfo | Phase::AwaitTls | Phase::AwaitCreds | Phase::AwaitPong
        )
    }

    fn on_info(&mut self, info: ServerInfo, now: Instant) {
        if matches!(self.phase, Phase::Disconnected | Phase::Closed) {
            return;
        }
        // The server repeats its INFO (cluster changes, lame duck...): the
        // same list again changes nothing in the pool, so it is not merged.
        if !info.connect_urls.is_empty() && info.connect_urls != self.info.connect_urls {
            self.events
                .push(Event::Discovered(info.connect_urls.clone()));
        }
        match self.phase {
            Phase::AwaitInfo => {
                if self.cfg.no_echo && info.proto < 1 {
                    self.fail_handshake(Error::new(
                        ErrorKind::NoServerSupport,
                        "no_echo is not supported by this server",
                    ));
                    return;
                }
                // As nats.c: a client that wants TLS needs a server that
                // offers it; a server that requires it upgrades the client.
                if self.cfg.secure && !info.tls_required && !info.tls_available {
                    self.fail_handshake(Error::new(
                        ErrorKind::SecureConnectionWanted,
                        "the client requires TLS and the server does not offer it",
                    ));
                    return;
                }
                let tls = self.cfg.secure || info.tls_required;
                self.info = info;
                if tls && !self.tls_active {
                    self.phase = Phase::AwaitTls;
                    self.events.push(Event::StartTls);
                } else {
                    self.after_tls(now);
                }
            }
            Phase::Connected | Phase::AwaitPong | Phase::AwaitTls | Phase::AwaitCreds => {
                let ldm = info.ldm && !self.info.ldm;
                self.info = info;
                if ldm {
                    self.events.push(Event::LameDuck);
                }
            }
            Phase::Disconnected | Phase::Closed => {}
        }
    }

    /// The TLS handshake of this socket completed.
    pub(crate) fn tls_ready(&mut self, now: Instant) {
        self.tls_active = true;
        if self.phase == Phase::AwaitTls {
            self.after_tls(now);
        }
    }

    fn after_tls(&mut self, now: Instant) {
        if self.cfg.credentials_step {
            self.phase = Phase::AwaitCreds;
            self.events.push(Event::NeedCredentials {
                nonce: self.info.nonce.clone(),
            });
        } else {
            self.send_connect(now);
        }
    }

    /// The credentials asked for with [`Event::NeedCredentials`] (or the
    /// error that prevents computing them: the attempt fails).
    pub(crate) fn provide_credentials(&mut self, creds: Result<Credentials>, now: Instant) {
        if self.phase != Phase::AwaitCreds {
            return;
        }
        match creds {
            Ok(c) => {
                let connect = &mut self.cfg.connect;
                connect.user = c.user;
                connect.pass = c.pass;
                connect.auth_token = c.token;
                connect.jwt = c.jwt;
                connect.nkey = c.nkey;
                connect.sig = c.sig;
                self.send_connect(now);
            }
            Err(e) => self.fail_handshake(e),
        }
    }

    fn send_connect(&mut self, now: Instant) {
        let mut c = self.cfg.connect.clone();
        c.echo = !self.cfg.no_echo;
        c.headers = true;
        c.no_responders = self.info.headers && !self.cfg.disable_no_responders;
        c.tls_required = self.tls_active;
        proto::encode_connect(&mut self.out, &c);
        self.queue_ping(now);
        self.phase = Phase::AwaitPong;
    }

    fn on_pong(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::AwaitPong | Phase::Connected) {
            return;
        }
        if let Some((sent, seq)) = self.ping_marks.pop_front() {
            self.last_rtt = Some(now.saturating_duration_since(sent));
            self.confirmed_seq = self.confirmed_seq.max(seq);
        }
        self.pongs_received += 1;
        self.pings_out = 0;
        if self.phase == Phase::AwaitPong {
            self.phase = Phase::Connected;
            self.handshake_deadline = None;
            let reconnect = self.ever_connected;
            self.ever_connected = true;
            self.last_error = None;
            self.replay_subscriptions();
            let pending = std::mem::take(&mut self.pending);
            self.out.extend_from_slice(&pending);
            self.pub_seq += std::mem::take(&mut self.pending_msgs);
            self.next_ping = self.cfg.ping_interval.map(|d| now + d);
            self.events.push(Event::Connected { reconnect });
        } else {
            self.events.push(Event::Pong);
        }
    }

    fn on_err(&mut self, text: String) {
        let (kind, class) = classify_server_error(&text);
        let e = Error::new(kind, text);
        match self.phase {
            Phase::AwaitInfo | Phase::AwaitTls | Phase::AwaitCreds | Phase::AwaitPong => {
                self.fail_handshake(e)
            }
            Phase::Connected => {
                self.last_error = Some(e.clone());
                match class {
                    ErrClass::Reconnect => self.events.push(Event::Disconnect(e)),
                    ErrClass::Fatal if self.cfg.reconnect_on_protocol_error => {
                        self.events.push(Event::Disconnect(e))
                    }
                    ErrClass::Fatal => self.events.push(Event::Fatal(e)),
                    // The server closes the socket after an auth error: the
                    // client drops it now, with that error as the cause, and
                    // reconnects (or gives up, see ConnInner).
                    ErrClass::Auth => {
                        self.events.push(Event::AsyncError(None, e.clone()));
                        self.events.push(Event::Disconnect(e));
                    }
                    ErrClass::KeepsOpen => self.events.push(Event::AsyncError(None, e)),
                }
            }
            Phase::Disconnected | Phase::Closed => {}
        }
    }

    fn fail_handshake(&mut self, e: Error) {
        // While reconnecting, the cause of the disconnection stays the last
        // error (natsc-defects.md #4); the attempt's error goes in the event.
        if !self.ever_connected {
            self.last_error = Some(e.clone());
        }
        self.phase = Phase::Disconnected;
        self.events.push(Event::HandshakeFailed(e));
    }

    fn on_msg(&mut self, frame: MsgFrame) {
        if self.phase != Phase::Connected {
            return;
        }
        let sid = frame.sid();
        let Some(entry) = self.subs.get_mut(&sid) else {
            return; // Unsubscribed: the server may still have had some in flight.
        };
        if entry.max > 0 && entry.received >= entry.max {
            return;
        }
        entry.received += 1;
        self.stats.in_msgs += 1;
        self.stats.in_bytes += (frame.header_len() + frame.payload_len()) as u64;
        let reached_max = entry.max > 0 && entry.received >= entry.max;
        let outcome = entry.sink.deliver(frame);
        if reached_max {
            self.subs.remove(&sid);
        }
        if let Delivery::Dropped { first: true } = outcome {
            let e = Error::new(
                ErrorKind::SlowConsumer,
                format!("subscription {sid} is over its pending limits, messages dropped"),
            );
            self.last_error = Some(e.clone());
            self.events.push(Event::AsyncError(Some(sid), e));
        }
    }

    fn replay_subscriptions(&mut self) {
        let mut sids: Vec<u64> = self.subs.keys().copied().collect();
        // Subscriptions in creation order, the request inbox last.
        sids.sort_unstable_by_key(|sid| (self.subs[sid].replay_last, *sid));
        for sid in sids {
            let Some(e) = self.subs.get(&sid) else {
                continue;
            };
            if e.draining {
                continue;
            }
            proto::encode_sub(&mut self.out, &e.subject, e.queue.as_deref(), sid);
            if e.max > 0 {
                proto::encode_unsub(&mut self.out, sid, Some(e.max - e.received));
            }
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.phase == Phase::Closed {
            return err(ErrorKind::ConnectionClosed, "connection closed");
        }
        Ok(())
    }

    /// The usual publish (no reply, no headers) on a connected engine, within
    /// the server's max_payload: queued, and true. False (nothing done) in
    /// every other case, which [`Engine::publish`] handles.
    #[inline]
    pub(crate) fn try_publish_plain(&mut self, subject: &str, payload: &[u8]) -> bool {
        if self.phase != Phase::Connected
            || (self.info.max_payload > 0 && payload.len() as i64 > self.info.max_payload)
        {
            return false;
        }
        self.stats.out_msgs += 1;
        self.stats.out_bytes += payload.len() as u64;
        proto::encode_plain_pub(&mut self.out, subject.as_bytes(), payload);
        self.pub_seq += 1;
        true
    }

    /// Queues a publish. Returns true if the output buffer was empty before (the
    /// driver must be woken).
    ///
    /// Subject and reply must already be validated.
    pub(crate) fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: &[u8],
        payload: &[u8],
    ) -> Result<bool> {
        self.check_open()?;
        if !headers.is_empty() && self.ever_connected && !self.info.headers {
            return err(
                ErrorKind::NoServerSupport,
                "the server does not support headers",
            );
        }
        let size = headers.len() + payload.len();
        if self.info.max_payload > 0 && size as i64 > self.info.max_payload {
            return err(
                ErrorKind::MaxPayload,
                format!(
                    "message of {size} bytes is over the server's max_payload of {}",
                    self.info.max_payload
                ),
            );
        }
        self.stats.out_msgs += 1;
        self.stats.out_bytes += size as u64;
        if self.phase == Phase::Connected {
            let was_empty = self.out.is_empty();
            proto::encode_pub(&mut self.out, subject, reply, headers, payload);
            self.pub_seq += 1;
            Ok(was_empty)
        } else {
            if self.pending.len() >= self.cfg.reconnect_buf_size {
                self.stats.out_msgs -= 1;
                self.stats.out_bytes -= size as u64;
                return err(
                    ErrorKind::InsufficientBuffer,
                    format!(
                        "reconnect buffer full ({} bytes)",
                        self.cfg.reconnect_buf_size
                    ),
                );
            }
            proto::encode_pub(&mut self.pending, subject, reply, headers, payload);
            self.pending_msgs += 1;
            Ok(false)
        }
    }

    /// Adds a subscription; returns its id and whether the driver must be woken.
    pub(crate) fn subscribe(
        &mut self,
        subject: &str,
        queue: Option<&str>,
        sink: S,
    ) -> Result<(u64, bool)> {
        self.check_open()?;
        let sid = self.next_sid;
        self.next_sid += 1;
        self.subs.insert(
            sid,
            SubEntry {
                subject: subject.to_string(),
                queue: queue.map(str::to_string),
                max: 0,
                received: 0,
                replay_last: false,
                draining: false,
                sink,
            },
        );
        let was_empty = self.out.is_empty();
        if self.phase == Phase::Connected {
            proto::encode_sub(&mut self.out, subject, queue, sid);
        }
        Ok((sid, was_empty && self.phase == Phase::Connected))
    }

    /// Removes a subscription now (`max == None`), or after `max` messages in
    /// total. Returns whether the driver must be woken and whether the
    /// subscription is now gone.
    pub(crate) fn unsubscribe(&mut self, sid: u64, max: Option<u64>) -> Result<(bool, bool)> {
        self.check_open()?;
        let Some(entry) = self.subs.get_mut(&sid) else {
            return err(ErrorKind::InvalidSubscription, "subscription is not valid");
        };
        let was_empty = self.out.is_empty();
        let connected = self.phase == Phase::Connected;
        let gone = match max {
            Some(m) if m > entry.received => {
                entry.max = m;
                if connected {
                    proto::encode_unsub(&mut self.out, sid, Some(m));
                }
                false
            }
            _ => {
                self.subs.remove(&sid);
                if connected {
                    proto::encode_unsub(&mut self.out, sid, None);
                }
                true
            }
        };
        Ok((was_empty && connected, gone))
    }

    /// Makes `sid` be re-sent after the other subscriptions on reconnect.
    pub(crate) fn set_replay_last(&mut self, sid: u64) {
        if let Some(e) = self.subs.get_mut(&sid) {
            e.replay_last = true;
        }
    }

    /// Starts draining `sid`: sends its UNSUB now (or never, when not
    /// connected: it is then simply not re-subscribed); messages the server
    /// sent before the UNSUB are still delivered until [`Engine::remove_sub`].
    /// Returns whether the driver must be woken.
    pub(crate) fn drain_sub(&mut self, sid: u64) -> Result<bool> {
        self.check_open()?;
        let Some(entry) = self.subs.get_mut(&sid) else {
            return err(ErrorKind::InvalidSubscription, "subscription is not valid");
        };
        if entry.draining {
            return Ok(false);
        }
        entry.draining = true;
        let wake = self.phase == Phase::Connected && self.out.is_empty();
        if self.phase == Phase::Connected {
            proto::encode_unsub(&mut self.out, sid, None);
        }
        Ok(wake)
    }

    /// Forgets `sid` without telling the server (its UNSUB was sent by
    /// [`Engine::drain_sub`]); returns its sink.
    pub(crate) fn remove_sub(&mut self, sid: u64) -> Option<S> {
        self.subs.remove(&sid).map(|e| e.sink)
    }

    /// Every subscription's id and sink.
    pub(crate) fn subs(&self) -> impl Iterator<Item = (u64, &S)> {
        self.subs.iter().map(|(sid, e)| (*sid, &e.sink))
    }

    /// Queues a PING for the library's own use (drains): unlike
    /// [`Engine::flush_ping`], it leaves a pending report of lost publishes
    /// for the application's next flush. `None` when not connected.
    pub(crate) fn ping_ticket(&mut self, now: Instant) -> Option<FlushTicket> {
        if self.phase != Phase::Connected {
            return None;
        }
        self.queue_ping(now);
        self.flushes += 1;
        Some(FlushTicket {
            epoch: self.epoch,
            target: self.pings_sent,
        })
    }

    /// True if `sid` is a live subscription.
    pub(crate) fn has_sub(&self, sid: u64) -> bool {
        self.subs.contains_key(&sid)
    }

    /// Starts a flush: queues a PING. Returns the ticket to wait on and whether
    /// the driver must be woken. Fails if the connection is not connected, and
    /// once after a disconnection that may have lost publishes (see
    /// [`Engine::disconnected`]).
    pub(crate) fn flush_ping(&mut self, now: Instant) -> Result<(FlushTicket, bool)> {
        self.check_open()?;
        if self.phase != Phase::Connected {
            return err(ErrorKind::ConnectionDisconnected, "not connected");
        }
        let lost = std::mem::take(&mut self.unconfirmed_lost);
        if lost > 0 {
            return err(
                ErrorKind::ConnectionDisconnected,
                format!(
                    "the connection was lost with {lost} published message(s) the server had \
                     not confirmed; they may not have been delivered"
                ),
            );
        }
        let was_empty = self.out.is_empty();
        self.queue_ping(now);
        self.flushes += 1;
        Ok((
            FlushTicket {
                epoch: self.epoch,
                target: self.pings_sent,
            },
            was_empty,
        ))
    }

    /// Where a flush stands: `None` while waiting, then its result.
    pub(crate) fn flush_status(&self, t: FlushTicket) -> Option<Result<()>> {
        if self.phase == Phase::Closed {
            return Some(err(ErrorKind::ConnectionClosed, "connection closed"));
        }
        if t.epoch != self.epoch {
            return Some(err(
                ErrorKind::ConnectionDisconnected,
                "connection lost before the flush completed",
            ));
        }
        (self.pongs_received >= t.target).then_some(Ok(()))
    }

    /// The connected socket is gone. Pending flushes fail. With
    /// `reconnecting`, publishes are buffered until the next handshake;
    /// otherwise the engine closes. Returns the sinks dropped when it closes.
    ///
    /// `unsent` is what the driver took but could not write, from byte
    /// `unsent_from` on. Publishes that never reached the socket (there and in
    /// the output buffer) are kept for the next connection. Those the kernel
    /// accepted but the server never confirmed with a PONG may be lost: they
    /// are counted, and the next flush reports them (natsc-defects.md #13).
    pub(crate) fn disconnected(
        &mut self,
        cause: Option<Error>,
        reconnecting: bool,
        unsent: &[u8],
        unsent_from: usize,
    ) -> Vec<S> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        if let Some(e) = cause {
            self.last_error = Some(e);
        }
        self.epoch += 1;
        self.next_ping = None;
        self.handshake_deadline = None;
        if self.phase == Phase::Connected {
            let mut kept = Vec::new();
            let mut n = salvage_publishes(unsent, unsent_from, &mut kept);
            n += salvage_publishes(&self.out, 0, &mut kept);
            let at_risk = self.pub_seq.saturating_sub(self.confirmed_seq);
            self.unconfirmed_lost += at_risk.saturating_sub(n);
            kept.extend_from_slice(&self.pending);
            self.pending = kept;
            self.pending_msgs += n;
        }
        self.out.clear();
        self.ping_marks.clear();
        self.pub_seq = 0;
        self.confirmed_seq = 0;
        if reconnecting {
            self.phase = Phase::Disconnected;
            Vec::new()
        } else {
            self.close()
        }
    }

    /// A connection attempt failed before its handshake completed: back to
    /// waiting for a socket, keeping the buffered publishes and the last error.
    pub(crate) fn attempt_failed(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Disconnected;
        self.out.clear();
        self.ping_marks.clear();
        self.handshake_deadline = None;
        self.next_ping = None;
    }

    /// Records `e` as the connection's last error.
    pub(crate) fn set_last_error(&mut self, e: Error) {
        self.last_error = Some(e);
    }

    /// Credentials sent in the next CONNECT.
    pub(crate) fn set_credentials(
        &mut self,
        user: Option<String>,
        pass: Option<String>,
        token: Option<String>,
    ) {
        self.cfg.connect.user = user;
        self.cfg.connect.pass = pass;
        self.cfg.connect.auth_token = token;
    }

    /// Whether the next attempts require TLS (options, or a `tls://` URL).
    pub(crate) fn set_secure(&mut self, secure: bool) {
        self.cfg.secure = secure;
    }

    /// Counts a successful reconnection (TCP connected to a server again).
    pub(crate) fn count_reconnect(&mut self) {
        self.stats.reconnects += 1;
    }

    /// Closes for good; returns every subscription's sink (for the caller to
    /// mark closed and drop).
    pub(crate) fn close(&mut self) -> Vec<S> {
        self.phase = Phase::Closed;
        self.epoch += 1;
        self.pending.clear();
        self.pending_msgs = 0;
        self.out.clear();
        self.next_ping = None;
        self.subs.drain().map(|(_, e)| e.sink).collect()
    }
}

/// Copies the complete PUB and HPUB frames of `buf` (our own output, which
/// starts at a frame boundary) that start at or after `from` into `dst`;
/// returns how many. Frames started before `from` were partly written and
/// cannot be resent; other operations (SUB, PING...) are not copied.
fn salvage_publishes(buf: &[u8], from: usize, dst: &mut Vec<u8>) -> u64 {
    let mut n = 0;
    let mut pos = 0;
    while pos < buf.len() {
        let Some(eol) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let line = &buf[pos..pos + eol];
        let body = if line.starts_with(b"PUB ") || line.starts_with(b"HPUB ") {
            // The last argument is the total size of headers and payload.
            let total = line
                .rsplit(|&b| b == b' ')
                .next()
                .and_then(|t| std::str::from_utf8(t).ok())
                .and_then(|t| t.parse::<usize>().ok());
            match total {
                Some(t) => Some(t + 2),
                None => break, // Not our framing: stop rather than guess.
            }
        } else {
            None
        };
        let end = pos + eol + 2 + body.unwrap_or(0);
        if end > buf.len() {
            break;
        }
        if body.is_some() && pos >= from {
            dst.extend_from_slice(&buf[pos..end]);
            n += 1;
        }
        pos = end;
    }
    n
}

/// Hashing for subscription ids: they are small sequential numbers chosen
/// by us (never by the server), so a multiplicative mix is enough and much
/// cheaper than SipHash on every delivered message.
#[derive(Clone, Copy, Default)]
pub(crate) struct SidHash;

impl std::hash::BuildHasher for SidHash {
    type Hasher = SidHasher;
    fn build_hasher(&self) -> SidHasher {
        SidHasher(0)
    }
}

/// See [`SidHash`].
pub(crate) struct SidHasher(u64);

impl std::hash::Hasher for SidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Clone, Default)]
    struct VecSink {
        got: Rc<RefCell<Vec<MsgFrame>>>,
        cap: usize,
        dropping: Rc<RefCell<bool>>,
    }

    impl SubSink for VecSink {
        fn deliver(&self, frame: MsgFrame) -> Delivery {
            let mut got = self.got.borrow_mut();
            if self.cap > 0 && got.len() >= self.cap {
                let first = !*self.dropping.borrow();
                *self.dropping.borrow_mut() = true;
                return Delivery::Dropped { first };
            }
            got.push(frame);
            Delivery::Queued
        }
    }

    fn cfg() -> EngineConfig {
        EngineConfig {
            ping_interval: Some(Duration::from_secs(10)),
            max_pings_out: 2,
            reconnect_buf_size: 64,
            connect: ConnectInfo::default(),
            no_echo: false,
            disable_no_responders: false,
            reconnect_on_protocol_error: false,
            secure: false,
            credentials_step: false,
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    fn out(e: &mut Engine<VecSink>) -> String {
        let mut v = Vec::new();
        e.take_output(&mut v);
        String::from_utf8(v).unwrap()
    }

    fn info(max_payload: i64) -> ServerOp {
        ServerOp::Info(Box::new(ServerInfo {
            max_payload,
            headers: true,
            proto: 1,
            ..Default::default()
        }))
    }

    fn connected(now: Instant) -> Engine<VecSink> {
        let mut e = Engine::new(cfg());
        e.start_handshake(far(), false);
        e.handle(info(1024), now);
        let o = out(&mut e);
        assert!(o.starts_with("CONNECT {"), "{o}");
        assert!(o.ends_with("}\r\nPING\r\n"), "{o}");
        assert!(o.contains("\"verbose\":false"));
        assert!(o.contains("\"pedantic\":false"));
        assert!(o.contains("\"echo\":true"));
        e.handle(ServerOp::Pong, now);
        assert_eq!(e.phase(), Phase::Connected);
        let mut ev = Vec::new();
        e.drain_events(&mut ev);
        assert_eq!(ev, vec![Event::Connected { reconnect: false }]);
        e
    }

    fn frame(sid: u64, payload: &[u8]) -> ServerOp {
        ServerOp::Msg(MsgFrame::build(sid, "foo", None, &[], payload))
    }

    #[test]
    fn handshake_and_server_ping() {
        let now = Instant::now();
        let mut e = connected(now);
        e.handle(ServerOp::Ping, now);
        assert_eq!(out(&mut e), "PONG\r\n");
    }

    #[test]
    fn handshake_error_is_auth_failure() {
        let mut e: Engine<VecSink> = Engine::new(cfg());
        e.start_handshake(far(), false);
        e.handle(info(1024), Instant::now());
        e.handle(
            ServerOp::Err("Authorization Violation".into()),
            Instant::now(),
        );
        let mut ev = Vec::new();
        e.drain_events(&mut ev);
        assert!(
            matches!(&ev[..], [Event::HandshakeFailed(err)] if err.kind() == ErrorKind::AuthFailed)
        );
    }

    #[test]
    fn anything_but_info_first_fails_the_attempt() {
        for (op, got) in [
            (ServerOp::Pong, "PONG"),
            (ServerOp::Ping, "PING"),
            (ServerOp::Ok, "+OK"),
            (frame(1, b"x"), "MSG"),
        ] {
            let mut e: Engine<VecSink> = Engine::new(cfg());
            e.start_handshake(far(), false);
            e.handle(op, Instant::now());
            assert_eq!(e.phase(), Phase::Disconnected);
            assert_eq!(out(&mut e), "", "nothing answered");
            let mut ev = Vec::new();
            e.drain_events(&mut ev);
            match &ev[..] {
                [Event::HandshakeFailed(err)] => {
                    assert_eq!(err.kind(), ErrorKind::ProtocolError);
                    assert!(err.text().ends_with(got), "{err}");
                }
                other => panic!("{got}: {other:?}"),
            }
        }
    }

    #[test]
    fn lazy_reads_need_everything_answered_and_no_subscription() {
        let t0 = Instant::now();
        let iv = Duration::from_secs(10);
        let mut e = connected(t0);
        assert!(e.all_answered(), "nothing sent yet");
        let m0 = e.quiet_mark();
        assert!(m0.is_some(), "10 s pings, no subscription");

        // A publish: unconfirmed until a PONG comes after it.
        assert!(e.try_publish_plain("a", b"x"));
        assert!(!e.all_answered());
        assert_ne!(e.quiet_mark(), m0, "the publish shows in the mark");
        e.tick(t0 + iv);
        assert_eq!(out(&mut e), "PUB a 1\r\nx\r\nPING\r\n");
        assert!(!e.all_answered(), "PING without its PONG");
        e.handle(ServerOp::Pong, t0 + iv);
        assert!(e.all_answered(), "the PONG confirms the publish");

        // A flush: its PING must be answered too.
        let m1 = e.quiet_mark();
        e.flush_ping(t0 + iv).unwrap();
        assert!(!e.all_answered());
        assert_ne!(e.quiet_mark(), m1, "the flush shows in the mark");
        e.handle(ServerOp::Pong, t0 + iv);
        assert!(e.all_answered());

        // A subscription, or pings less often than every 10 s: never.
        let (sid, _) = e.subscribe("s", None, VecSink::default()).unwrap();
        assert_eq!(e.quiet_mark(), None);
        e.unsubscribe(sid, None).unwrap();
        assert!(e.quiet_mark().is_some());
        e.set_ping_interval(Some(iv + Duration::from_millis(1)), t0);
        assert_eq!(e.quiet_mark(), None);
        e.set_ping_interval(None, t0);
        assert_eq!(e.quiet_mark(), None);
    }

    #[test]
    fn stale_after_max_pings_out() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let iv = Duration::from_secs(10);
        assert_eq!(e.next_deadline(), Some(t0 + iv));
        e.tick(t0 + iv / 2);
        assert_eq!(out(&mut e), "", "no ping before the interval");
        e.tick(t0 + iv);
        assert_eq!(out(&mut e), "PING\r\n");
        e.tick(t0 + iv * 2);
        assert_eq!(out(&mut e), "PING\r\n");
        assert_eq!(e.pings_out(), 2);
        e.tick(t0 + iv * 3);
        let mut ev = Vec::new();
        e.drain_events(&mut ev);
        assert!(
            matches!(&ev[..], [Event::Disconnect(err)] if err.kind() == ErrorKind::StaleConnection)
        );
        assert_eq!(
            e.last_error().map(|e| e.kind()),
            Some(ErrorKind::StaleConnection)
        );
    }

    #[test]
    fn pong_resets_pings_out() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let iv = Duration::from_secs(10);
        for i in 1..=10 {
            e.tick(t0 + iv * i);
            assert_eq!(out(&mut e), "PING\r\n");
            e.handle(ServerOp::Pong, t0 + iv * i);
        }
        let mut ev = Vec::new();
        e.drain_events(&mut ev);
        assert!(ev.iter().all(|x| *x == Event::Pong));
    }

    #[test]
    fn negative_max_pings_out_is_stale_at_first_tick() {
        let t0 = Instant::now();
        let mut e: Engine<VecSink> = Engine::new(EngineConfig {
            max_pings_out: -1,
            ..cfg()
        });
        e.start_handshake(far(), false);
        e.handle(info(10), t0);
        e.handle(ServerOp::Pong, t0);
        e.tick(t0 + Duration::from_secs(10));
        let mut ev = Vec::new();
        e.drain_events(&mut ev);
        assert!(matches!(ev.last(), Some(Event::Disconnect(_))));
    }

    #[test]
    fn live_ping_interval_change() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        e.set_ping_interval(Some(Duration::from_millis(50)), t0);
        assert_eq!(e.next_deadline(), Some(t0 + Duration::from_millis(50)));
        e.set_ping_interval(None, t0);
        assert_eq!(e.next_deadline(), None);
    }

    #[test]
    fn flush_tickets_count_pongs_including_timer_pings() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        e.tick(t0 + Duration::from_secs(10)); // timer PING #2
        let (t, _) = e.flush_ping(t0).unwrap(); // PING #3
        assert_eq!(e.flush_status(t), None);
        e.handle(ServerOp::Pong, t0); // answers the timer ping
        assert_eq!(e.flush_status(t), None);
        e.handle(ServerOp::Pong, t0);
        assert_eq!(e.flush_status(t), Some(Ok(())));
    }

    #[test]
    fn flush_fails_on_disconnect_and_close() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let (t, _) = e.flush_ping(t0).unwrap();
        e.disconnected(None, true, &[], 0);
        assert_eq!(
            e.flush_status(t).unwrap().unwrap_err().kind(),
            ErrorKind::ConnectionDisconnected
        );
        e.close();
        assert_eq!(
            e.flush_status(t).unwrap().unwrap_err().kind(),
            ErrorKind::ConnectionClosed
        );
        assert_eq!(
            e.flush_ping(t0).unwrap_err().kind(),
            ErrorKind::ConnectionClosed
        );
    }

    #[test]
    fn publish_limits_and_wake_flag() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        assert!(e.publish("foo", None, &[], b"hi").unwrap());
        assert!(!e.publish("foo", Some("r"), &[], b"hi").unwrap());
        assert_eq!(out(&mut e), "PUB foo 2\r\nhi\r\nPUB foo r 2\r\nhi\r\n");
        let big = vec![0u8; 1025];
        assert_eq!(
            e.publish("foo", None, &[], &big).unwrap_err().kind(),
            ErrorKind::MaxPayload
        );
        assert_eq!(e.stats().out_msgs, 2);
        e.close();
        assert_eq!(
            e.publish("foo", None, &[], b"").unwrap_err().kind(),
            ErrorKind::ConnectionClosed
        );
    }

    #[test]
    fn disconnected_publishes_are_buffered_and_replayed_after_subs() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let sink = VecSink::default();
        let (sid, _) = e.subscribe("foo", Some("q"), sink.clone()).unwrap();
        e.unsubscribe(sid, Some(5)).unwrap();
        out(&mut e);
        e.handle(frame(sid, b"1"), t0);
        e.disconnected(None, true, &[], 0);
        e.publish("a", None, &[], b"0123456789").unwrap();
        e.publish("b", None, &[], &[1u8; 40]).unwrap();
        // 64-byte buffer now holds > 64 bytes: the next publish fails.
        assert_eq!(
            e.publish("c", None, &[], b"x").unwrap_err().kind(),
            ErrorKind::InsufficientBuffer
        );
        e.start_handshake(far(), false);
        e.handle(info(1024), t0);
        out(&mut e);
        e.handle(ServerOp::Pong, t0);
        let o = out(&mut e);
        assert!(
            o.starts_with("SUB foo q 1\r\nUNSUB 1 4\r\nPUB a 10\r\n0123456789\r\nPUB b 40\r\n"),
            "{o}"
        );
        let mut ev = Vec::new();
        e.drain_events(&mut ev);
        assert!(ev.contains(&Event::Connected { reconnect: true }));
    }

    #[test]
    fn draining_sub_unsubscribes_delivers_until_removed_and_is_not_replayed() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let sink = VecSink::default();
        let (a, _) = e.subscribe("foo", None, sink.clone()).unwrap();
        let (b, _) = e.subscribe("bar", None, VecSink::default()).unwrap();
        out(&mut e);
        assert!(e.drain_sub(a).unwrap());
        assert!(!e.drain_sub(a).unwrap(), "a second drain sends nothing");
        let t = e.ping_ticket(t0).unwrap();
        assert_eq!(out(&mut e), "UNSUB 1\r\nPING\r\n");
        // What the server sent before the UNSUB still arrives.
        e.handle(frame(a, b"in flight"), t0);
        assert_eq!(sink.got.borrow().len(), 1);
        e.handle(ServerOp::Pong, t0);
        assert_eq!(e.flush_status(t), Some(Ok(())));
        assert!(e.remove_sub(a).is_some());
        e.handle(frame(a, b"late"), t0);
        assert_eq!(sink.got.borrow().len(), 1);
        // A draining subscription is not re-subscribed on reconnect.
        let (c, _) = e.subscribe("baz", None, VecSink::default()).unwrap();
        e.drain_sub(c).unwrap();
        e.disconnected(None, true, &[], 0);
        assert!(e.ping_ticket(t0).is_none());
        e.start_handshake(far(), false);
        e.handle(info(1024), t0);
        out(&mut e);
        e.handle(ServerOp::Pong, t0);
        let o = out(&mut e);
        assert!(o.contains(&format!("SUB bar {b}\r\n")), "{o}");
        assert!(!o.contains("baz"), "{o}");
        assert_eq!(e.subs().count(), 2);
        assert_eq!(
            e.drain_sub(a).unwrap_err().kind(),
            ErrorKind::InvalidSubscription
        );
    }

    #[test]
    fn auto_unsubscribe_stops_at_max() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let sink = VecSink::default();
        let (sid, _) = e.subscribe("foo", None, sink.clone()).unwrap();
        e.unsubscribe(sid, Some(2)).unwrap();
        for _ in 0..5 {
            e.handle(frame(sid, b"x"), t0);
        }
        assert_eq!(sink.got.borrow().len(), 2);
        assert!(!e.has_sub(sid));
        assert_eq!(
            e.unsubscribe(sid, None).unwrap_err().kind(),
            ErrorKind::InvalidSubscription
        );
    }

    #[test]
    fn slow_consumer_reported_once_per_episode() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let sink = VecSink {
            cap: 1,
            ..Default::default()
        };
        let (sid, _) = e.subscribe("foo", None, sink.clone()).unwrap();
        for _ in 0..4 {
            e.handle(frame(sid, b"x"), t0);
        }
        let mut ev = Vec::new();
        e.drain_events(&mut ev);
        let slow: Vec<_> = ev
            .iter()
            .filter(|x| matches!(x, Event::AsyncError(Some(s), err) if *s == sid && err.kind() == ErrorKind::SlowConsumer))
            .collect();
        assert_eq!(slow.len(), 1);
    }

    #[test]
    fn server_errors() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        e.handle(
            ServerOp::Err("Permissions Violation for Publish to \"x\"".into()),
            t0,
        );
        e.handle(ServerOp::Err("Stale Connection".into()), t0);
        let mut ev = Vec::new();
        e.drain_events(&mut ev);
        assert!(
            matches!(&ev[0], Event::AsyncError(None, err) if err.kind() == ErrorKind::NotPermitted)
        );
        assert!(
            matches!(&ev[1], Event::Disconnect(err) if err.kind() == ErrorKind::StaleConnection)
        );
    }

    fn tls_info(required: bool, available: bool, nonce: &str) -> ServerOp {
        ServerOp::Info(Box::new(ServerInfo {
            max_payload: 1024,
            headers: true,
            proto: 1,
            tls_required: required,
            tls_available: available,
            nonce: nonce.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn tls_is_negotiated_before_connect() {
        let t0 = Instant::now();
        // The client wants TLS, the server offers none.
        let mut e: Engine<VecSink> = Engine::new(EngineConfig {
            secure: true,
            ..cfg()
        });
        e.start_handshake(far(), false);
        e.handle(tls_info(false, false, ""), t0);
        assert!(matches!(&drain(&mut e)[..],
            [Event::HandshakeFailed(err)] if err.kind() == ErrorKind::SecureConnectionWanted));
        // The server offers TLS (available): the client upgrades.
        e.start_handshake(far(), false);
        e.handle(tls_info(false, true, ""), t0);
        assert_eq!(drain(&mut e), vec![Event::StartTls]);
        assert_eq!(out(&mut e), "", "no CONNECT before the TLS handshake");
        e.tls_ready(t0);
        let o = out(&mut e);
        assert!(
            o.starts_with("CONNECT {") && o.contains("\"tls_required\":true"),
            "{o}"
        );
        assert!(o.ends_with("PING\r\n"));
        // A server that requires TLS upgrades a client that did not ask.
        let mut e: Engine<VecSink> = Engine::new(cfg());
        e.start_handshake(far(), false);
        e.handle(tls_info(true, false, ""), t0);
        assert_eq!(drain(&mut e), vec![Event::StartTls]);
        // Handshake first: TLS is already up when INFO arrives.
        e.start_handshake(far(), true);
        e.handle(tls_info(true, false, ""), t0);
        assert!(drain(&mut e).is_empty());
        assert!(out(&mut e).contains("\"tls_required\":true"));
    }

    #[test]
    fn tls_handshake_is_inside_the_deadline() {
        let t0 = Instant::now();
        let mut e: Engine<VecSink> = Engine::new(cfg());
        e.start_handshake(t0 + Duration::from_millis(100), false);
        e.handle(tls_info(true, false, ""), t0);
        drain(&mut e);
        assert_eq!(e.next_deadline(), Some(t0 + Duration::from_millis(100)));
        e.tick(t0 + Duration::from_millis(100));
        assert!(matches!(&drain(&mut e)[..],
            [Event::HandshakeFailed(err)] if err.kind() == ErrorKind::Timeout && err.text().contains("TLS")));
    }

    #[test]
    fn credentials_are_asked_for_with_the_nonce() {
        let t0 = Instant::now();
        let mut e: Engine<VecSink> = Engine::new(EngineConfig {
            credentials_step: true,
            ..cfg()
        });
        e.start_handshake(far(), false);
        e.handle(tls_info(false, false, "n0nce"), t0);
        assert_eq!(
            drain(&mut e),
            vec![Event::NeedCredentials {
                nonce: "n0nce".into()
            }]
        );
        assert_eq!(out(&mut e), "");
        e.provide_credentials(
            Ok(Credentials {
                jwt: Some("a.b.c".into()),
                sig: Some("c2ln".into()),
                ..Default::default()
            }),
            t0,
        );
        let o = out(&mut e);
        assert!(
            o.contains("\"jwt\":\"a.b.c\"") && o.contains("\"sig\":\"c2ln\""),
            "{o}"
        );
        // Failing to compute them fails the attempt with that error.
        e.start_handshake(far(), false);
        e.handle(tls_info(false, false, "n"), t0);
        drain(&mut e);
        e.provide_credentials(Err(Error::new(ErrorKind::NotFound, "no seed")), t0);
        assert!(matches!(&drain(&mut e)[..],
            [Event::HandshakeFailed(err)] if err.kind() == ErrorKind::NotFound));
        // Late credentials for an attempt that is over are ignored.
        e.provide_credentials(Ok(Credentials::default()), t0);
        assert_eq!(out(&mut e), "");
    }

    #[test]
    fn auth_error_while_connected_reports_and_drops_with_that_cause() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        e.handle(ServerOp::Err("User Authentication Expired".into()), t0);
        let ev = drain(&mut e);
        assert!(matches!(&ev[..],
            [Event::AsyncError(None, a), Event::Disconnect(d)]
                if a.kind() == ErrorKind::AuthFailed && d.text() == "User Authentication Expired"));
    }

    #[test]
    fn no_echo_needs_proto_1() {
        let mut e: Engine<VecSink> = Engine::new(EngineConfig {
            no_echo: true,
            ..cfg()
        });
        e.start_handshake(far(), false);
        e.handle(
            ServerOp::Info(Box::new(ServerInfo {
                proto: 0,
                ..Default::default()
            })),
            Instant::now(),
        );
        let mut ev = Vec::new();
        e.drain_events(&mut ev);
        assert!(
            matches!(&ev[..], [Event::HandshakeFailed(err)] if err.kind() == ErrorKind::NoServerSupport)
        );
    }

    fn drain(e: &mut Engine<VecSink>) -> Vec<Event> {
        let mut ev = Vec::new();
        e.drain_events(&mut ev);
        ev
    }

    #[test]
    fn busy_traffic_does_not_mask_a_dead_peer() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let sink = VecSink::default();
        let (sid, _) = e.subscribe("foo", None, sink).unwrap();
        let iv = Duration::from_secs(10);
        for tick in 1..=3u32 {
            // Heavy publishing and incoming messages between ticks: neither
            // counts as an answer to the PINGs.
            for _ in 0..100 {
                e.publish("foo", None, &[], b"data").unwrap();
                e.handle(frame(sid, b"in"), t0 + iv * tick - Duration::from_millis(1));
            }
            out(&mut e);
            drain(&mut e);
            e.tick(t0 + iv * tick);
            let ev = drain(&mut e);
            if tick < 3 {
                assert!(ev.is_empty(), "tick {tick}: {ev:?}");
                assert_eq!(e.pings_out(), tick as i32);
            } else {
                assert!(
                    matches!(&ev[..], [Event::Disconnect(err)] if err.kind() == ErrorKind::StaleConnection),
                    "{ev:?}"
                );
            }
        }
    }

    #[test]
    fn not_stale_one_tick_early() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let iv = Duration::from_secs(10);
        e.tick(t0 + iv);
        e.tick(t0 + iv * 2);
        // Just before the third tick: still alive.
        e.tick(t0 + iv * 3 - Duration::from_millis(1));
        assert!(drain(&mut e).is_empty());
        // A PONG now answers everything outstanding.
        e.handle(ServerOp::Pong, t0 + iv * 3 - Duration::from_millis(1));
        assert_eq!(e.pings_out(), 0);
        e.tick(t0 + iv * 3);
        assert_eq!(drain(&mut e), vec![Event::Pong]);
        assert_eq!(e.pings_out(), 1);
    }

    #[test]
    fn handshake_times_out_at_its_deadline() {
        let t0 = Instant::now();
        let mut e: Engine<VecSink> = Engine::new(cfg());
        let deadline = t0 + Duration::from_secs(2);
        e.start_handshake(deadline, false);
        assert_eq!(e.next_deadline(), Some(deadline));
        e.tick(deadline - Duration::from_millis(1));
        assert!(drain(&mut e).is_empty());
        e.tick(deadline);
        assert!(
            matches!(&drain(&mut e)[..], [Event::HandshakeFailed(err)] if err.kind() == ErrorKind::Timeout)
        );
    }

    #[test]
    fn round_trip_time_is_measured_from_pings() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let iv = Duration::from_secs(10);
        e.tick(t0 + iv);
        e.handle(ServerOp::Pong, t0 + iv + Duration::from_millis(7));
        assert_eq!(e.last_rtt(), Some(Duration::from_millis(7)));
    }

    #[test]
    fn unwritten_publishes_survive_a_disconnect_and_unconfirmed_ones_are_reported() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        // Confirmed by a PONG: never reported.
        e.publish("a", None, &[], b"1").unwrap();
        let (t, _) = e.flush_ping(t0).unwrap();
        out(&mut e);
        e.handle(ServerOp::Pong, t0);
        assert_eq!(e.flush_status(t), Some(Ok(())));
        // Written to the socket, never confirmed: at risk.
        e.publish("b", None, &[], b"2").unwrap();
        e.publish("c", None, &[], b"3").unwrap();
        let mut taken = Vec::new();
        e.take_output(&mut taken);
        assert_eq!(taken, b"PUB b 1\r\n2\r\nPUB c 1\r\n3\r\n");
        // The driver wrote "PUB b" and 3 bytes of "PUB c": c was cut short.
        let written = b"PUB b 1\r\n2\r\n".len() + 3;
        // Never handed to the driver: kept.
        e.publish("d", None, &[], b"4").unwrap();
        e.subscribe("s", None, VecSink::default()).unwrap();
        e.disconnected(
            Some(Error::new(ErrorKind::StaleConnection, "stale")),
            true,
            &taken,
            written,
        );
        assert_eq!(e.unconfirmed_lost(), 2, "b was written, c was cut");
        e.publish("e", None, &[], b"5").unwrap();
        e.start_handshake(far(), false);
        e.handle(info(1024), t0);
        out(&mut e);
        e.handle(ServerOp::Pong, t0);
        let o = out(&mut e);
        assert_eq!(o, "SUB s 1\r\nPUB d 1\r\n4\r\nPUB e 1\r\n5\r\n");
        // The first flush reports the loss, once.
        let err = e.flush_ping(t0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionDisconnected);
        assert!(err.text().contains("2 published"), "{err}");
        assert_eq!(e.unconfirmed_lost(), 0);
        assert!(e.flush_ping(t0).is_ok());
    }

    #[test]
    fn salvage_copies_only_whole_unsent_publishes() {
        let mut buf = Vec::new();
        proto::encode_pub(&mut buf, "a", None, &[], b"xx");
        proto::encode_sub(&mut buf, "s", None, 1);
        let hpub_at = buf.len();
        proto::encode_pub(&mut buf, "h", Some("r"), b"NATS/1.0\r\n\r\n", b"p\r\nq");
        buf.extend_from_slice(proto::PING);
        proto::encode_pub(&mut buf, "b", None, &[], b"");
        let mut dst = Vec::new();
        assert_eq!(salvage_publishes(&buf, 0, &mut dst), 3);
        dst.clear();
        assert_eq!(salvage_publishes(&buf, 1, &mut dst), 2);
        assert!(dst.starts_with(b"HPUB h r 12 16\r\n"));
        dst.clear();
        assert_eq!(salvage_publishes(&buf, hpub_at + 1, &mut dst), 1);
        assert_eq!(dst, b"PUB b 0\r\n\r\n");
        // A truncated frame at the end is not copied.
        dst.clear();
        assert_eq!(salvage_publishes(&buf[..buf.len() - 1], 0, &mut dst), 2);
    }

    #[test]
    fn cause_survives_failed_reconnect_attempts() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let stale = Error::new(ErrorKind::StaleConnection, "no PONG");
        e.disconnected(Some(stale), true, &[], 0);
        e.start_handshake(far(), false);
        e.handle(ServerOp::Err("Authorization Violation".into()), t0);
        assert!(
            matches!(&drain(&mut e)[..], [Event::HandshakeFailed(err)] if err.kind() == ErrorKind::AuthFailed)
        );
        e.attempt_failed();
        assert_eq!(
            e.last_error().map(|e| e.kind()),
            Some(ErrorKind::StaleConnection)
        );
        e.start_handshake(far(), false);
        e.handle(info(1024), t0);
        e.handle(ServerOp::Pong, t0);
        assert_eq!(e.last_error(), None, "cleared once reconnected");
    }

    #[test]
    fn request_inbox_is_replayed_after_the_other_subscriptions() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        let (mux, _) = e.subscribe("_INBOX.x.*", None, VecSink::default()).unwrap();
        e.set_replay_last(mux);
        e.subscribe("later", None, VecSink::default()).unwrap();
        out(&mut e);
        e.disconnected(None, true, &[], 0);
        e.start_handshake(far(), false);
        e.handle(info(1024), t0);
        out(&mut e);
        e.handle(ServerOp::Pong, t0);
        assert_eq!(out(&mut e), "SUB later 2\r\nSUB _INBOX.x.* 1\r\n");
    }

    #[test]
    fn server_errors_are_classified_as_the_server_behaves() {
        use ErrClass::*;
        let cases = [
            ("Stale Connection", ErrorKind::StaleConnection, Reconnect),
            ("Authorization Violation", ErrorKind::AuthFailed, Auth),
            ("User Authentication Expired", ErrorKind::AuthFailed, Auth),
            (
                "Account Authentication Expired",
                ErrorKind::AuthFailed,
                Auth,
            ),
            ("User Authentication Revoked", ErrorKind::AuthFailed, Auth),
            ("Authentication Timeout", ErrorKind::AuthFailed, Auth),
            ("maximum connections exceeded", ErrorKind::Other, Reconnect),
            (
                "maximum account active connections exceeded",
                ErrorKind::Other,
                Reconnect,
            ),
            (
                "Permissions Violation for Publish to \"x\"",
                ErrorKind::NotPermitted,
                KeepsOpen,
            ),
            (
                "Permissions Violation for Subscription to \"y\" using queue \"q\"",
                ErrorKind::NotPermitted,
                KeepsOpen,
            ),
            (
                "maximum subscriptions exceeded",
                ErrorKind::Other,
                KeepsOpen,
            ),
            ("Invalid Subject", ErrorKind::Other, KeepsOpen),
            ("Invalid Publish Subject", ErrorKind::Other, KeepsOpen),
            ("Maximum Payload Violation", ErrorKind::Other, Fatal),
            ("maximum control line exceeded", ErrorKind::Other, Fatal),
            ("Unknown Protocol Operation", ErrorKind::Other, Fatal),
            ("invalid client protocol", ErrorKind::Other, Fatal),
            ("Secure Connection - TLS Required", ErrorKind::Other, Fatal),
            ("something new", ErrorKind::Other, KeepsOpen),
        ];
        for (text, kind, class) in cases {
            assert_eq!(classify_server_error(text), (kind, class), "{text}");
        }
        // And what the engine does with them once connected.
        let t0 = Instant::now();
        let mut e = connected(t0);
        e.handle(ServerOp::Err("maximum subscriptions exceeded".into()), t0);
        assert!(matches!(&drain(&mut e)[..], [Event::AsyncError(None, _)]));
        assert_eq!(e.phase(), Phase::Connected);
        e.handle(ServerOp::Err("Maximum Payload Violation".into()), t0);
        assert!(matches!(&drain(&mut e)[..], [Event::Fatal(_)]));
        let mut e: Engine<VecSink> = Engine::new(EngineConfig {
            reconnect_on_protocol_error: true,
            ..cfg()
        });
        e.start_handshake(far(), false);
        e.handle(info(10), t0);
        e.handle(ServerOp::Pong, t0);
        drain(&mut e);
        e.handle(ServerOp::Err("Unknown Protocol Operation".into()), t0);
        assert!(matches!(&drain(&mut e)[..], [Event::Disconnect(_)]));
    }

    #[test]
    fn connect_urls_and_lame_duck_are_reported() {
        let t0 = Instant::now();
        let mut e = connected(t0);
        e.handle(
            ServerOp::Info(Box::new(ServerInfo {
                connect_urls: vec!["10.0.0.1:4222".into()],
                ldm: true,
                ..Default::default()
            })),
            t0,
        );
        assert_eq!(
            drain(&mut e),
            vec![
                Event::Discovered(vec!["10.0.0.1:4222".into()]),
                Event::LameDuck
            ]
        );
    }
}
