//! The one error type of the crate: an [`ErrorKind`] (which maps one-to-one onto
//! nats.c's `natsStatus` values) plus a human-readable text.

use std::fmt;

/// What went wrong. Each kind corresponds to one nats.c `natsStatus` value
/// (the C layer maps them with an exhaustive `match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Generic error (`NATS_ERR`), e.g. an unknown `-ERR` from the server.
    Other,
    /// The server sent something that is not the NATS protocol (`NATS_PROTOCOL_ERROR`).
    ProtocolError,
    /// A socket error (`NATS_IO_ERROR`).
    IoError,
    /// A protocol line exceeded the limit (`NATS_LINE_TOO_LONG`).
    LineTooLong,
    /// The connection is closed (`NATS_CONNECTION_CLOSED`).
    ConnectionClosed,
    /// No server could be reached (`NATS_NO_SERVER`).
    NoServer,
    /// The connection was detected stale (`NATS_STALE_CONNECTION`).
    StaleConnection,
    /// TLS wanted but the server has none (`NATS_SECURE_CONNECTION_WANTED`).
    SecureConnectionWanted,
    /// The server requires TLS (`NATS_SECURE_CONNECTION_REQUIRED`).
    SecureConnectionRequired,
    /// The connection dropped while the operation was in progress (`NATS_CONNECTION_DISCONNECTED`).
    ConnectionDisconnected,
    /// Authentication failed (`NATS_CONNECTION_AUTH_FAILED`).
    AuthFailed,
    /// Permission violation reported by the server (`NATS_NOT_PERMITTED`).
    NotPermitted,
    /// Something looked up was not there (`NATS_NOT_FOUND`).
    NotFound,
    /// Address missing (`NATS_ADDRESS_MISSING`).
    AddressMissing,
    /// The subject is invalid (`NATS_INVALID_SUBJECT`).
    InvalidSubject,
    /// An argument is invalid (`NATS_INVALID_ARG`).
    InvalidArg,
    /// The subscription is no longer valid (`NATS_INVALID_SUBSCRIPTION`).
    InvalidSubscription,
    /// The timeout value is invalid (`NATS_INVALID_TIMEOUT`).
    InvalidTimeout,
    /// The call is not valid in the current state (`NATS_ILLEGAL_STATE`).
    IllegalState,
    /// Messages were dropped because a subscriber is too slow (`NATS_SLOW_CONSUMER`).
    SlowConsumer,
    /// The message is bigger than the server's `max_payload` (`NATS_MAX_PAYLOAD`).
    MaxPayload,
    /// The subscription has delivered its maximum (`NATS_MAX_DELIVERED_MSGS`).
    MaxDeliveredMsgs,
    /// A buffer is too small (`NATS_INSUFFICIENT_BUFFER`).
    InsufficientBuffer,
    /// Out of memory (`NATS_NO_MEMORY`).
    NoMemory,
    /// An operating-system call failed (`NATS_SYS_ERROR`).
    SysError,
    /// The operation timed out (`NATS_TIMEOUT`).
    Timeout,
    /// The library could not initialize (`NATS_FAILED_TO_INITIALIZE`).
    FailedToInitialize,
    /// The library is not initialized (`NATS_NOT_INITIALIZED`).
    NotInitialized,
    /// TLS error (`NATS_SSL_ERROR`).
    SslError,
    /// The server does not support the feature (`NATS_NO_SERVER_SUPPORT`).
    NoServerSupport,
    /// Not connected yet (`NATS_NOT_YET_CONNECTED`).
    NotYetConnected,
    /// The connection or subscription is draining (`NATS_DRAINING`).
    Draining,
    /// The queue group name is invalid (`NATS_INVALID_QUEUE_NAME`).
    InvalidQueueName,
    /// Nobody is subscribed to the request subject (`NATS_NO_RESPONDERS`).
    NoResponders,
    /// Mismatch (`NATS_MISMATCH`).
    Mismatch,
    /// A heartbeat was missed (`NATS_MISSED_HEARTBEAT`).
    MissedHeartbeat,
    /// A limit was reached (`NATS_LIMIT_REACHED`).
    LimitReached,
    /// JetStream pin id mismatch (`NATS_PIN_ID_MISMATCH`).
    PinIdMismatch,
    /// Invalid configuration (`NATS_INVALID_CONFIG`).
    InvalidConfig,
}

impl ErrorKind {
    /// The fixed English text nats.c's `natsStatus_GetText` gives for this kind.
    pub fn text(self) -> &'static str {
        use ErrorKind::*;
        match self {
            Other => "Error",
            ProtocolError => "Protocol Error",
            IoError => "IO Error",
            LineTooLong => "Line too long",
            ConnectionClosed => "Connection Closed",
            NoServer => "No server available for connection",
            StaleConnection => "Stale Connection",
            SecureConnectionWanted => "Secure Connection not available",
            SecureConnectionRequired => "Secure Connection Required",
            ConnectionDisconnected => "Connection Disconnected",
            AuthFailed => "Authentication Violation",
            NotPermitted => "Not Permitted",
            NotFound => "Not Found",
            AddressMissing => "TCP Address missing",
            InvalidSubject => "Invalid Subject",
            InvalidArg => "Invalid Argument",
            InvalidSubscription => "Invalid Subscription",
            InvalidTimeout => "Invalid Timeout",
            IllegalState => "Illegal State",
            SlowConsumer => "Slow Consumer, messages dropped",
            MaxPayload => "Maximum Payload Exceeded",
            MaxDeliveredMsgs => "Maximum Messages Delivered",
            InsufficientBuffer => "Insufficient Buffer",
            NoMemory => "No Memory",
            SysError => "System Error",
            Timeout => "Timeout",
            FailedToInitialize => "Initialization Failed",
            NotInitialized => "Not Initialized",
            SslError => "SSL Error",
            NoServerSupport => "Not Supported By Server",
            NotYetConnected => "Not Yet Connected",
            Draining => "Draining in progress",
            InvalidQueueName => "Invalid queue name",
            NoResponders => "No responders available for request",
            Mismatch => "Mismatch",
            MissedHeartbeat => "Missed Server Heartbeat",
            LimitReached => "Limit reached",
            PinIdMismatch => "Jetstream Consumer PinID Mismatch",
            InvalidConfig => "Invalid Configuration",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// An error: its [`ErrorKind`] (the nats.c status) and a text saying what happened.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    text: String,
}

impl Error {
    /// An error of `kind` with a descriptive `text` (may be empty).
    pub fn new(kind: ErrorKind, text: impl Into<String>) -> Self {
        Error {
            kind,
            text: text.into(),
        }
    }

    /// The kind, i.e. the nats.c status this error maps to.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The descriptive text (empty when there is nothing to add to the kind).
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error {
            kind,
            text: String::new(),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => ErrorKind::Timeout,
            _ => ErrorKind::IoError,
        };
        Error::new(kind, e.to_string())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}, {:?})", self.kind, self.text)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            f.write_str(self.kind.text())
        } else {
            write!(f, "{}: {}", self.kind.text(), self.text)
        }
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for `Err(Error::new(kind, text))`.
pub(crate) fn err<T>(kind: ErrorKind, text: impl Into<String>) -> Result<T> {
    Err(Error::new(kind, text))
}
