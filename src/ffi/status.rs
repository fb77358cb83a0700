//! `natsStatus`, `natsConnStatus`, status texts, and the mapping from
//! [`ErrorKind`].

use crate::error::ErrorKind;

/// Status returned by most functions (nats.c's values, unchanged).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum natsStatus {
    /// Success.
    NATS_OK = 0,
    /// Generic error.
    NATS_ERR = 1,
    /// Error when parsing a protocol message, or not getting the expected message.
    NATS_PROTOCOL_ERROR = 2,
    /// IO Error (network communication).
    NATS_IO_ERROR = 3,
    /// The protocol message read from the socket does not fit in the read buffer.
    NATS_LINE_TOO_LONG = 4,
    /// Operation on this connection failed because the connection is closed.
    NATS_CONNECTION_CLOSED = 5,
    /// Unable to connect, the server could not be reached or is not running.
    NATS_NO_SERVER = 6,
    /// The server closed our connection because it did not receive PINGs at the expected interval.
    NATS_STALE_CONNECTION = 7,
    /// The client is configured to use TLS, but the server is not.
    NATS_SECURE_CONNECTION_WANTED = 8,
    /// The server expects a TLS connection.
    NATS_SECURE_CONNECTION_REQUIRED = 9,
    /// The connection was disconnected.
    NATS_CONNECTION_DISCONNECTED = 10,
    /// The connection failed due to authentication error.
    NATS_CONNECTION_AUTH_FAILED = 11,
    /// The action is not permitted.
    NATS_NOT_PERMITTED = 12,
    /// An action could not complete because something was not found.
    NATS_NOT_FOUND = 13,
    /// Incorrect URL. For instance no host specified in the URL.
    NATS_ADDRESS_MISSING = 14,
    /// Invalid subject, for instance NULL or empty string.
    NATS_INVALID_SUBJECT = 15,
    /// An invalid argument is passed to a function.
    NATS_INVALID_ARG = 16,
    /// The call to a subscription function fails because the subscription has previously been closed.
    NATS_INVALID_SUBSCRIPTION = 17,
    /// Timeout must be positive numbers.
    NATS_INVALID_TIMEOUT = 18,
    /// An unexpected state, for instance calling natsSubscription_NextMsg() on an asynchronous subscriber.
    NATS_ILLEGAL_STATE = 19,
    /// The maximum number of messages waiting to be delivered has been reached. Messages are dropped.
    NATS_SLOW_CONSUMER = 20,
    /// Attempt to send a payload larger than the maximum allowed by the NATS Server.
    NATS_MAX_PAYLOAD = 21,
    /// Attempt to receive more messages than allowed, for instance because of natsSubscription_AutoUnsubscribe().
    NATS_MAX_DELIVERED_MSGS = 22,
    /// A buffer is not large enough to accommodate the data.
    NATS_INSUFFICIENT_BUFFER = 23,
    /// An operation could not complete because of insufficient memory.
    NATS_NO_MEMORY = 24,
    /// Some system function returned an error.
    NATS_SYS_ERROR = 25,
    /// An operation timed-out. For instance natsSubscription_NextMsg().
    NATS_TIMEOUT = 26,
    /// The library failed to initialize.
    NATS_FAILED_TO_INITIALIZE = 27,
    /// The library is not yet initialized.
    NATS_NOT_INITIALIZED = 28,
    /// An SSL error occurred when trying to establish a connection.
    NATS_SSL_ERROR = 29,
    /// The server does not support this action.
    NATS_NO_SERVER_SUPPORT = 30,
    /// A connection could not be immediately established and natsOptions_SetRetryOnFailedConnect() specified a connected callback.
    NATS_NOT_YET_CONNECTED = 31,
    /// A connection and/or subscription entered the draining mode.
    NATS_DRAINING = 32,
    /// An invalid queue name was passed when creating a queue subscription.
    NATS_INVALID_QUEUE_NAME = 33,
    /// No responders were running when the server received the request.
    NATS_NO_RESPONDERS = 34,
    /// For JetStream subscriptions, it means that a consumer sequence mismatch was discovered.
    NATS_MISMATCH = 35,
    /// For JetStream subscriptions, it means that the library detected that server heartbeats have been missed.
    NATS_MISSED_HEARTBEAT = 36,
    /// A limit was reached.
    NATS_LIMIT_REACHED = 37,
    /// JetStream consumer pin id mismatch.
    NATS_PIN_ID_MISMATCH = 38,
    /// Invalid configuration.
    NATS_INVALID_CONFIG = 39,
    /// Sentinel: one past the last status value.
    NATS_MAX_STATUS_VALUE = 40,
}

/// The status of a connection (nats.c's values).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum natsConnStatus {
    /// The connection has been disconnected.
    NATS_CONN_STATUS_DISCONNECTED = 0,
    /// The connection is in the process of connecting.
    NATS_CONN_STATUS_CONNECTING = 1,
    /// The connection is connected.
    NATS_CONN_STATUS_CONNECTED = 2,
    /// The connection is closed.
    NATS_CONN_STATUS_CLOSED = 3,
    /// The connection is in the process of reconnecting.
    NATS_CONN_STATUS_RECONNECTING = 4,
    /// The connection is draining subscriptions.
    NATS_CONN_STATUS_DRAINING_SUBS = 5,
    /// The connection is draining publishers.
    NATS_CONN_STATUS_DRAINING_PUBS = 6,
}

impl From<crate::ConnStatus> for natsConnStatus {
    fn from(s: crate::ConnStatus) -> Self {
        use crate::ConnStatus as C;
        use natsConnStatus::*;
        match s {
            C::Disconnected => NATS_CONN_STATUS_DISCONNECTED,
            C::Connecting => NATS_CONN_STATUS_CONNECTING,
            C::Connected => NATS_CONN_STATUS_CONNECTED,
            C::Closed => NATS_CONN_STATUS_CLOSED,
            C::Reconnecting => NATS_CONN_STATUS_RECONNECTING,
            C::DrainingSubs => NATS_CONN_STATUS_DRAINING_SUBS,
            C::DrainingPubs => NATS_CONN_STATUS_DRAINING_PUBS,
        }
    }
}

impl From<ErrorKind> for natsStatus {
    fn from(k: ErrorKind) -> Self {
        use ErrorKind as K;
        use natsStatus::*;
        // Exhaustive on purpose: a new ErrorKind does not compile until mapped.
        match k {
            K::Other => NATS_ERR,
            K::ProtocolError => NATS_PROTOCOL_ERROR,
            K::IoError => NATS_IO_ERROR,
            K::LineTooLong => NATS_LINE_TOO_LONG,
            K::ConnectionClosed => NATS_CONNECTION_CLOSED,
            K::NoServer => NATS_NO_SERVER,
            K::StaleConnection => NATS_STALE_CONNECTION,
            K::SecureConnectionWanted => NATS_SECURE_CONNECTION_WANTED,
            K::SecureConnectionRequired => NATS_SECURE_CONNECTION_REQUIRED,
            K::ConnectionDisconnected => NATS_CONNECTION_DISCONNECTED,
            K::AuthFailed => NATS_CONNECTION_AUTH_FAILED,
            K::NotPermitted => NATS_NOT_PERMITTED,
            K::NotFound => NATS_NOT_FOUND,
            K::AddressMissing => NATS_ADDRESS_MISSING,
            K::InvalidSubject => NATS_INVALID_SUBJECT,
            K::InvalidArg => NATS_INVALID_ARG,
            K::InvalidSubscription => NATS_INVALID_SUBSCRIPTION,
            K::InvalidTimeout => NATS_INVALID_TIMEOUT,
            K::IllegalState => NATS_ILLEGAL_STATE,
            K::SlowConsumer => NATS_SLOW_CONSUMER,
            K::MaxPayload => NATS_MAX_PAYLOAD,
            K::MaxDeliveredMsgs => NATS_MAX_DELIVERED_MSGS,
            K::InsufficientBuffer => NATS_INSUFFICIENT_BUFFER,
            K::NoMemory => NATS_NO_MEMORY,
            K::SysError => NATS_SYS_ERROR,
            K::Timeout => NATS_TIMEOUT,
            K::FailedToInitialize => NATS_FAILED_TO_INITIALIZE,
            K::NotInitialized => NATS_NOT_INITIALIZED,
            K::SslError => NATS_SSL_ERROR,
            K::NoServerSupport => NATS_NO_SERVER_SUPPORT,
            K::NotYetConnected => NATS_NOT_YET_CONNECTED,
            K::Draining => NATS_DRAINING,
            K::InvalidQueueName => NATS_INVALID_QUEUE_NAME,
            K::NoResponders => NATS_NO_RESPONDERS,
            K::Mismatch => NATS_MISMATCH,
            K::MissedHeartbeat => NATS_MISSED_HEARTBEAT,
            K::LimitReached => NATS_LIMIT_REACHED,
            K::PinIdMismatch => NATS_PIN_ID_MISMATCH,
            K::InvalidConfig => NATS_INVALID_CONFIG,
        }
    }
}

/// The error kind of a status a C callback returned (`NATS_OK`: `None`).
pub(crate) fn kind_of(status: natsStatus) -> Option<ErrorKind> {
    use ErrorKind as K;
    use natsStatus::*;
    Some(match status {
        NATS_OK => return None,
        NATS_MAX_STATUS_VALUE => K::Other,
        NATS_ERR => K::Other,
        NATS_PROTOCOL_ERROR => K::ProtocolError,
        NATS_IO_ERROR => K::IoError,
        NATS_LINE_TOO_LONG => K::LineTooLong,
        NATS_CONNECTION_CLOSED => K::ConnectionClosed,
        NATS_NO_SERVER => K::NoServer,
        NATS_STALE_CONNECTION => K::StaleConnection,
        NATS_SECURE_CONNECTION_WANTED => K::SecureConnectionWanted,
        NATS_SECURE_CONNECTION_REQUIRED => K::SecureConnectionRequired,
        NATS_CONNECTION_DISCONNECTED => K::ConnectionDisconnected,
        NATS_CONNECTION_AUTH_FAILED => K::AuthFailed,
        NATS_NOT_PERMITTED => K::NotPermitted,
        NATS_NOT_FOUND => K::NotFound,
        NATS_ADDRESS_MISSING => K::AddressMissing,
        NATS_INVALID_SUBJECT => K::InvalidSubject,
        NATS_INVALID_ARG => K::InvalidArg,
        NATS_INVALID_SUBSCRIPTION => K::InvalidSubscription,
        NATS_INVALID_TIMEOUT => K::InvalidTimeout,
        NATS_ILLEGAL_STATE => K::IllegalState,
        NATS_SLOW_CONSUMER => K::SlowConsumer,
        NATS_MAX_PAYLOAD => K::MaxPayload,
        NATS_MAX_DELIVERED_MSGS => K::MaxDeliveredMsgs,
        NATS_INSUFFICIENT_BUFFER => K::InsufficientBuffer,
        NATS_NO_MEMORY => K::NoMemory,
        NATS_SYS_ERROR => K::SysError,
        NATS_TIMEOUT => K::Timeout,
        NATS_FAILED_TO_INITIALIZE => K::FailedToInitialize,
        NATS_NOT_INITIALIZED => K::NotInitialized,
        NATS_SSL_ERROR => K::SslError,
        NATS_NO_SERVER_SUPPORT => K::NoServerSupport,
        NATS_NOT_YET_CONNECTED => K::NotYetConnected,
        NATS_DRAINING => K::Draining,
        NATS_INVALID_QUEUE_NAME => K::InvalidQueueName,
        NATS_NO_RESPONDERS => K::NoResponders,
        NATS_MISMATCH => K::Mismatch,
        NATS_MISSED_HEARTBEAT => K::MissedHeartbeat,
        NATS_LIMIT_REACHED => K::LimitReached,
        NATS_PIN_ID_MISMATCH => K::PinIdMismatch,
        NATS_INVALID_CONFIG => K::InvalidConfig,
    })
}

/// The numeric nats.c status of an error kind.
pub(crate) fn status_code(k: ErrorKind) -> i32 {
    natsStatus::from(k) as i32
}

/// nats.c's fixed text for a status value (by number, so any int is safe).
pub(crate) fn status_text(code: i64) -> &'static std::ffi::CStr {
    match code {
        0 => c"OK",
        1 => c"Error",
        2 => c"Protocol Error",
        3 => c"IO Error",
        4 => c"Line too long",
        5 => c"Connection Closed",
        6 => c"No server available for connection",
        7 => c"Stale Connection",
        8 => c"Secure Connection not available",
        9 => c"Secure Connection Required",
        10 => c"Connection Disconnected",
        11 => c"Authentication Violation",
        12 => c"Not Permitted",
        13 => c"Not Found",
        14 => c"TCP Address missing",
        15 => c"Invalid Subject",
        16 => c"Invalid Argument",
        17 => c"Invalid Subscription",
        18 => c"Invalid Timeout",
        19 => c"Illegal State",
        20 => c"Slow Consumer, messages dropped",
        21 => c"Maximum Payload Exceeded",
        22 => c"Maximum Messages Delivered",
        23 => c"Insufficient Buffer",
        24 => c"No Memory",
        25 => c"System Error",
        26 => c"Timeout",
        27 => c"Initialization Failed",
        28 => c"Not Initialized",
        29 => c"SSL Error",
        30 => c"Not Supported By Server",
        31 => c"Not Yet Connected",
        32 => c"Draining in progress",
        33 => c"Invalid queue name",
        34 => c"No responders available for request",
        35 => c"Mismatch",
        36 => c"Missed Server Heartbeat",
        37 => c"Limit reached",
        38 => c"Jetstream Consumer PinID Mismatch",
        39 => c"Invalid Configuration",
        _ => c"Unknown Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_error_kinds() {
        // Every ErrorKind's text equals the C text of its status number.
        let kinds = [
            ErrorKind::Other,
            ErrorKind::NoServer,
            ErrorKind::StaleConnection,
            ErrorKind::AuthFailed,
            ErrorKind::InvalidConfig,
            ErrorKind::SlowConsumer,
            ErrorKind::NoResponders,
        ];
        for k in kinds {
            assert_eq!(
                status_text(status_code(k) as i64).to_str().unwrap(),
                k.text()
            );
        }
        assert_eq!(status_text(-1).to_str().unwrap(), "Unknown Status");
        assert_eq!(status_text(40).to_str().unwrap(), "Unknown Status");
    }
}
