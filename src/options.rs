//! Connection options, with nats.c's defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{Identity, JwtSource, Signer};
use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result, err};

/// The default server URL, as nats.c's `NATS_DEFAULT_URL`.
pub const DEFAULT_URL: &str = "nats://localhost:4222";

/// A connection event callback (closed, disconnected, reconnected).
pub type ConnCallback = Arc<dyn Fn(&Connection) + Send + Sync>;

/// A custom reconnect delay: given the connection and the number of full
/// passes over the server list so far (from 1), how long to wait.
pub type ReconnectDelayCallback = Arc<dyn Fn(&Connection, u32) -> Duration + Send + Sync>;

/// Opens the TCP connection to a server (host, port) in the application's
/// own way, e.g. through a proxy; see [`Options::proxy_connect_handler`].
pub type ProxyConnectHandler =
    Arc<dyn Fn(&str, u16) -> crate::error::Result<std::net::TcpStream> + Send + Sync>;

/// An asynchronous error callback: the connection, the id of the subscription
/// concerned (if any; compare with [`crate::Subscription::sid`]) and the error.
pub type ErrorCallback = Arc<dyn Fn(&Connection, Option<u64>, &Error) + Send + Sync>;

/// An application's event loop that polls the connection's socket instead
/// of the library's io loop (nats.c's `natsOptions_SetEventLoop`); see
/// [`Options::event_loop`].
///
/// `data` is the loop's own value for this connection: 0 before the first
/// [`EventLoop::attach`], which may set it; the same value is passed back
/// to every later call, across reconnects. The calls may come from any
/// thread; they must not call [`Connection::process_read_event`] or
/// [`Connection::process_write_event`] themselves (schedule them instead).
pub trait EventLoop: Send + Sync {
    /// A connected socket to poll for reading from now on (every
    /// (re)connection): when it is readable, call
    /// [`Connection::process_read_event`]. The first call runs on the thread
    /// that connects, before the connect returns; an error fails the connect.
    fn attach(&self, data: &mut usize, conn: &Connection, socket: i32) -> Result<()>;
    /// Add or remove read polling. Removing it means the socket is being
    /// dropped: once the loop has stopped polling it, call
    /// [`crate::process_close_event`] with it.
    fn read(&self, data: usize, add: bool) -> Result<()>;
    /// Add or remove write polling: while it is on, call
    /// [`Connection::process_write_event`] whenever the socket is writable.
    fn write(&self, data: usize, add: bool) -> Result<()>;
    /// The connection is closed: release what was kept for it (called once,
    /// after the socket's polling was removed).
    fn detach(&self, data: usize) -> Result<()>;
}

/// Options for a connection. Build with the chained setters, then call
/// [`Options::connect`].
///
/// Defaults are nats.c's: connect timeout 2 s, ping every 2 min with 2 pings
/// outstanding, reconnect allowed (60 attempts per server, 2 s apart, jitter
/// 100 ms), 8 MiB reconnect buffer, 65536 messages / 64 MiB pending per
/// subscription, 32 KiB I/O buffer.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// let nc = nats::Options::new()
///     .url("nats://127.0.0.1:4222")
///     .name("demo")
///     .ping_interval(Duration::from_secs(30))
///     .connect()?;
/// # Ok::<(), nats::Error>(())
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) url: Option<String>,
    pub(crate) servers: Vec<String>,
    pub(crate) no_randomize: bool,
    pub(crate) timeout: Duration,
    pub(crate) name: Option<String>,
    pub(crate) verbose: bool,
    pub(crate) pedantic: bool,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) max_pings_out: i32,
    pub(crate) allow_reconnect: bool,
    pub(crate) max_reconnect: i32,
    pub(crate) reconnect_wait: Duration,
    pub(crate) reconnect_jitter: Duration,
    pub(crate) reconnect_jitter_tls: Duration,
    pub(crate) reconnect_delay_cb: Option<ReconnectDelayCallback>,
    pub(crate) proxy_connect: Option<ProxyConnectHandler>,
    pub(crate) retry_on_failed_connect: bool,
    pub(crate) ignore_discovered_servers: bool,
    pub(crate) ignore_auth_error_abort: bool,
    pub(crate) reconnect_on_protocol_error: bool,
    pub(crate) fail_requests_on_disconnect: bool,
    pub(crate) global_message_delivery: bool,
    pub(crate) write_deadline: Option<Duration>,
    /// Zero bytes after each received payload (C API).
    pub(crate) message_padding: usize,
    pub(crate) old_request_style: bool,
    pub(crate) ip_order: u8,
    pub(crate) reconnect_buf_size: usize,
    pub(crate) max_pending_msgs: usize,
    pub(crate) max_pending_bytes: usize,
    pub(crate) io_buf_size: usize,
    pub(crate) no_echo: bool,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) tls: crate::tls::TlsOptions,
    pub(crate) auth: crate::auth::AuthOptions,
    pub(crate) inbox_prefix: String,
    pub(crate) disable_no_responders: bool,
    pub(crate) error_cb: Option<ErrorCallback>,
    pub(crate) closed_cb: Option<ConnCallback>,
    pub(crate) disconnected_cb: Option<ConnCallback>,
    pub(crate) reconnected_cb: Option<ConnCallback>,
    pub(crate) connected_cb: Option<ConnCallback>,
    pub(crate) discovered_servers_cb: Option<ConnCallback>,
    pub(crate) lame_duck_cb: Option<ConnCallback>,
    pub(crate) event_loop: Option<Arc<dyn EventLoop>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            url: None,
            servers: Vec::new(),
            no_randomize: false,
            timeout: Duration::from_millis(2000),
            name: None,
            verbose: false,
            pedantic: false,
            ping_interval: Some(Duration::from_millis(120_000)),
            max_pings_out: 2,
            allow_reconnect: true,
            max_reconnect: 60,
            reconnect_wait: Duration::from_millis(2000),
            reconnect_jitter: Duration::from_millis(100),
            reconnect_jitter_tls: Duration::from_millis(1000),
            proxy_connect: None,
            reconnect_delay_cb: None,
            retry_on_failed_connect: false,
            ignore_discovered_servers: false,
            ignore_auth_error_abort: false,
            reconnect_on_protocol_error: false,
            fail_requests_on_disconnect: false,
            global_message_delivery: false,
            write_deadline: None,
            message_padding: 0,
            old_request_style: false,
            ip_order: 0,
            reconnect_buf_size: 8 * 1024 * 1024,
            max_pending_msgs: 65536,
            max_pending_bytes: 64 * 1024 * 1024,
            io_buf_size: 32 * 1024,
            no_echo: false,
            user: None,
            password: None,
            token: None,
            tls: Default::default(),
            auth: Default::default(),
            inbox_prefix: "_INBOX.".to_string(),
            disable_no_responders: false,
            error_cb: None,
            closed_cb: None,
            disconnected_cb: None,
            reconnected_cb: None,
            connected_cb: None,
            discovered_servers_cb: None,
            lame_duck_cb: None,
            event_loop: None,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("url", &self.url)
            .field("servers", &self.servers)
            .field("timeout", &self.timeout)
            .field("name", &self.name)
            .field("ping_interval", &self.ping_interval)
            .field("max_pings_out", &self.max_pings_out)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Options with nats.c's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connects with these options (they are copied: later changes do not affect
    /// the connection).
    ///
    /// # Errors
    /// `NoServer` if no server could be reached, `AuthFailed` if the server refused
    /// the credentials, `InvalidArg` for a malformed URL, `Timeout` never: a server
    /// that does not complete the handshake within the timeout counts as unreachable.
    pub fn connect(&self) -> Result<Connection> {
        Connection::connect_with(self.clone())
    }

    /// The server URL tried first (a comma-separated list is accepted).
    pub fn url(mut self, url: &str) -> Self {
        self.set_url(Some(url));
        self
    }

    pub(crate) fn set_url(&mut self, url: Option<&str>) {
        self.url = url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
    }

    /// The list of servers to try (after the `url`, if set).
    pub fn servers<S: AsRef<str>>(mut self, servers: &[S]) -> Self {
        self.servers = servers
            .iter()
            .map(|s| s.as_ref().trim().to_string())
            .collect();
        self
    }

    /// Try servers in the given order instead of shuffling them.
    pub fn no_randomize(mut self, yes: bool) -> Self {
        self.no_randomize = yes;
        self
    }

    /// Deadline for one connection attempt: DNS, TCP connect and handshake.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The connection name shown by the server's monitoring.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// Ask the server to acknowledge every protocol message with `+OK`.
    pub fn verbose(mut self, yes: bool) -> Self {
        self.verbose = yes;
        self
    }

    /// Ask the server for extra protocol checks.
    pub fn pedantic(mut self, yes: bool) -> Self {
        self.pedantic = yes;
        self
    }

    /// How often the client pings the server; `Duration::ZERO` disables pings.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = (!interval.is_zero()).then_some(interval);
        self
    }

    /// How many pings may go unanswered before the connection is declared stale.
    pub fn max_pings_out(mut self, n: i32) -> Self {
        self.max_pings_out = n;
        self
    }

    /// Whether to reconnect after losing the connection.
    pub fn allow_reconnect(mut self, yes: bool) -> Self {
        self.allow_reconnect = yes;
        self
    }

    /// Reconnect attempts per server (negative: unlimited).
    pub fn max_reconnect(mut self, n: i32) -> Self {
        self.max_reconnect = n;
        self
    }

    /// Wait between two passes over the server list when reconnecting.
    pub fn reconnect_wait(mut self, wait: Duration) -> Self {
        self.reconnect_wait = wait;
        self
    }

    /// Random extra wait added to `reconnect_wait`.
    pub fn reconnect_jitter(mut self, jitter: Duration) -> Self {
        self.reconnect_jitter = jitter;
        self
    }

    /// Random extra wait after a full pass when the connection uses TLS.
    pub fn reconnect_jitter_tls(mut self, jitter: Duration) -> Self {
        self.reconnect_jitter_tls = jitter;
        self
    }

    /// Replaces the reconnect wait and jitter: `f(connection, pass)` returns
    /// how long to wait after full pass number `pass` (from 1) over the servers.
    pub fn reconnect_delay_callback<F>(mut self, f: F) -> Self
    where
        F: Fn(&Connection, u32) -> Duration + Send + Sync + 'static,
    {
        self.reconnect_delay_cb = Some(Arc::new(f));
        self
    }

    /// Connect to each server with `f(host, port)` instead of a direct TCP
    /// connection, e.g. through a proxy: it returns a connected stream, which
    /// the library then uses as is (with `TCP_NODELAY` set). It runs on a
    /// short-lived helper thread, within the connect timeout; an error fails
    /// that attempt (the next server is tried).
    pub fn proxy_connect_handler<F>(mut self, f: F) -> Self
    where
        F: Fn(&str, u16) -> crate::error::Result<std::net::TcpStream> + Send + Sync + 'static,
    {
        self.proxy_connect = Some(Arc::new(f));
        self
    }

    /// Let the application's event loop poll the socket (see [`EventLoop`]):
    /// the library then reads and writes only when the loop calls
    /// [`Connection::process_read_event`] and
    /// [`Connection::process_write_event`]. Connecting, reconnecting, pings
    /// and timeouts stay with the library's io loop, which hands each new
    /// socket over once its handshake is done.
    pub fn event_loop(mut self, l: Arc<dyn EventLoop>) -> Self {
        self.event_loop = Some(l);
        self
    }

    /// If the first connect finds no server, keep trying in the background
    /// (as reconnecting does): [`Options::connect`] then returns a connection
    /// that buffers publishes and subscriptions until a server answers.
    /// Without a `connected_callback`, connect instead retries in place (up to
    /// `max_reconnect` passes, `reconnect_wait` apart) before failing.
    pub fn retry_on_failed_connect(mut self, yes: bool) -> Self {
        self.retry_on_failed_connect = yes;
        self
    }

    /// Callback invoked when a connection made with `retry_on_failed_connect`
    /// finally connects in the background.
    pub fn connected_callback<F>(mut self, f: F) -> Self
    where
        F: Fn(&Connection) + Send + Sync + 'static,
    {
        self.connected_cb = Some(Arc::new(f));
        self
    }

    /// Do not add the servers announced by the cluster to the server list.
    pub fn ignore_discovered_servers(mut self, yes: bool) -> Self {
        self.ignore_discovered_servers = yes;
        self
    }

    /// Callback invoked when the cluster announces servers not seen before.
    pub fn discovered_servers_callback<F>(mut self, f: F) -> Self
    where
        F: Fn(&Connection) + Send + Sync + 'static,
    {
        self.discovered_servers_cb = Some(Arc::new(f));
        self
    }

    /// Callback invoked when the server announces it is entering lame-duck
    /// mode (it will soon close connections; the client reconnects then).
    pub fn lame_duck_callback<F>(mut self, f: F) -> Self
    where
        F: Fn(&Connection) + Send + Sync + 'static,
    {
        self.lame_duck_cb = Some(Arc::new(f));
        self
    }

    /// Keep reconnecting to a server that refused the credentials twice in a
    /// row (by default the connection closes then).
    pub fn ignore_auth_error_abort(mut self, yes: bool) -> Self {
        self.ignore_auth_error_abort = yes;
        self
    }

    /// Reconnect after a fatal server error (e.g. a protocol violation)
    /// instead of closing.
    pub fn reconnect_on_protocol_error(mut self, yes: bool) -> Self {
        self.reconnect_on_protocol_error = yes;
        self
    }

    /// Make requests waiting for a reply fail with `ConnectionDisconnected` as
    /// soon as the connection is lost (by default they wait until their own
    /// timeout, and may still get the reply after a reconnection).
    pub fn fail_requests_on_disconnect(mut self, yes: bool) -> Self {
        self.fail_requests_on_disconnect = yes;
        self
    }

    /// Run the handlers of this connection's asynchronous subscriptions on
    /// the process-wide delivery pool (see [`crate::set_delivery_pool_size`];
    /// one thread unless enlarged) instead of one thread per subscription.
    /// Handlers of subscriptions served by the same pool thread never run
    /// at the same time, so a slow handler delays the others.
    pub fn global_message_delivery(mut self, yes: bool) -> Self {
        self.global_message_delivery = yes;
        self
    }

    /// Give up on a server that stops reading: when nothing could be written
    /// to the socket for `deadline`, the connection is dropped (and
    /// reconnects, if allowed), and publishes waiting for room in the full
    /// output buffer fail with `Timeout`. `None` (the default): no deadline;
    /// such a connection is still found stale by the pings, and publishing
    /// waits while the output buffer (8 MiB) is full.
    pub fn write_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.write_deadline = deadline.filter(|d| !d.is_zero());
        self
    }

    /// Give each request its own inbox subscription (created, used for one
    /// reply, removed) instead of the connection's shared request inbox.
    pub fn old_request_style(mut self, yes: bool) -> Self {
        self.old_request_style = yes;
        self
    }

    /// Which IP addresses of a server name to use, in which order: 0 any (as
    /// resolved), 4 IPv4 only, 6 IPv6 only, 46 IPv4 then IPv6, 64 IPv6 then IPv4.
    ///
    /// # Errors
    /// `InvalidArg` for any other value.
    pub fn ip_resolution_order(mut self, order: u8) -> Result<Self> {
        if !matches!(order, 0 | 4 | 6 | 46 | 64) {
            return err(
                ErrorKind::InvalidArg,
                format!("IP resolution order must be 0, 4, 6, 46 or 64, got {order}"),
            );
        }
        self.ip_order = order;
        Ok(self)
    }

    /// Bytes of publishes kept while disconnected; beyond that publish fails
    /// with `InsufficientBuffer`.
    pub fn reconnect_buffer_size(mut self, bytes: usize) -> Self {
        self.reconnect_buf_size = bytes;
        self
    }

    /// Messages a subscription may hold undelivered before dropping (slow consumer).
    pub fn max_pending_msgs(mut self, n: usize) -> Self {
        self.max_pending_msgs = n.max(1);
        self
    }

    /// Bytes a subscription may hold undelivered before dropping (slow consumer).
    pub fn max_pending_bytes(mut self, n: usize) -> Self {
        self.max_pending_bytes = n.max(1);
        self
    }

    /// Size of the read and write buffers (0 means the default, 32 KiB).
    pub fn io_buf_size(mut self, bytes: usize) -> Self {
        self.io_buf_size = if bytes == 0 { 32 * 1024 } else { bytes };
        self
    }

    /// Do not deliver this connection's own publishes to its subscriptions.
    pub fn no_echo(mut self, yes: bool) -> Self {
        self.no_echo = yes;
        self
    }

    /// User and password (those in a URL take precedence).
    pub fn user_info(mut self, user: &str, password: &str) -> Self {
        self.user = Some(user.to_string());
        self.password = Some(password.to_string());
        self
    }

    /// Authentication token (one in a URL takes precedence).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// Requires TLS (also implied by a `tls://` URL, and by a server whose
    /// INFO requires it). The server's certificate chain is verified against
    /// the system's CAs (or those set with `tls_ca_*`), and its name against
    /// the URL's host (or [`Options::tls_expected_hostname`]).
    pub fn secure(mut self, yes: bool) -> Self {
        self.tls.secure = yes;
        self
    }

    /// Performs the TLS handshake before the server's INFO (the server must
    /// be configured with `handshake_first`). Implies [`Options::secure`].
    pub fn tls_handshake_first(mut self, yes: bool) -> Self {
        self.tls.handshake_first = yes;
        if yes {
            self.tls.secure = true;
        }
        self
    }

    /// Trusts the CA certificates of a PEM file instead of the system's.
    ///
    /// # Errors
    /// `SslError` if the file cannot be read or holds no usable certificate.
    pub fn tls_ca_file(mut self, path: &str) -> Result<Self> {
        self.tls.load_ca_file(path)?;
        Ok(self)
    }

    /// Trusts the CA certificates of the PEM files in a directory.
    ///
    /// # Errors
    /// `SslError` if the directory holds no usable certificate.
    pub fn tls_ca_dir(mut self, dir: &str) -> Result<Self> {
        self.tls.load_ca_dir(dir)?;
        Ok(self)
    }

    /// Trusts the CA certificates given as PEM text.
    ///
    /// # Errors
    /// `SslError` if the text holds no usable certificate.
    pub fn tls_ca_pem(mut self, pem: &str) -> Result<Self> {
        self.tls.set_ca_pem(pem)?;
        Ok(self)
    }

    /// The client's certificate chain and private key (PEM files, read now).
    ///
    /// # Errors
    /// `SslError` if a file cannot be read or parsed.
    pub fn tls_client_cert_files(mut self, cert: &str, key: &str) -> Result<Self> {
        self.tls.load_client_cert(cert, key)?;
        Ok(self)
    }

    /// The client's certificate chain and private key, read from these PEM
    /// files at every TLS handshake (for certificates that are rotated).
    pub fn tls_client_cert_files_dynamic(mut self, cert: &str, key: &str) -> Self {
        self.tls.client_cert_dynamic(cert, key);
        self
    }

    /// The client's certificate chain and private key as PEM text.
    ///
    /// # Errors
    /// `SslError` if the text cannot be parsed.
    pub fn tls_client_cert_pem(mut self, cert: &str, key: &str) -> Result<Self> {
        self.tls.set_client_cert_pem(cert, key)?;
        Ok(self)
    }

    /// The name the server's certificate must carry (instead of the URL's host).
    pub fn tls_expected_hostname(mut self, name: &str) -> Self {
        self.tls.set_expected_hostname(Some(name));
        self
    }

    /// Accepts any server certificate (no chain nor name verification).
    /// For tests only: it defeats TLS's protection against impostors.
    pub fn tls_skip_verify(mut self, yes: bool) -> Self {
        self.tls.set_skip_verify(yes);
        self
    }

    /// The TLS 1.2 cipher suites offered, as an OpenSSL-style list
    /// (`ECDHE-RSA-AES128-GCM-SHA256:...`; IANA names work too).
    ///
    /// # Errors
    /// `SslError` naming a cipher that rustls does not implement.
    pub fn tls_ciphers(mut self, list: &str) -> Result<Self> {
        self.tls.set_ciphers(list)?;
        Ok(self)
    }

    /// The TLS 1.3 cipher suites offered (`TLS_AES_128_GCM_SHA256:...`).
    ///
    /// # Errors
    /// `SslError` naming a suite that rustls does not implement.
    pub fn tls_cipher_suites(mut self, list: &str) -> Result<Self> {
        self.tls.set_cipher_suites(list)?;
        Ok(self)
    }

    /// Authenticates as an NKey user: `public` is the user's public key,
    /// `sign` signs the server's nonce (raw Ed25519 signature). Replaces
    /// user JWT credentials.
    pub fn nkey(
        mut self,
        public: &str,
        sign: impl Fn(&[u8]) -> Result<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        self.auth.identity = Identity::NKey {
            public: public.to_string(),
            signer: Signer::Callback(Arc::new(sign)),
        };
        self
    }

    /// Authenticates as an NKey user whose seed is in `seed_file` (read at
    /// each connection attempt, wiped after use). Replaces user JWT credentials.
    pub fn nkey_from_seed_file(mut self, public: &str, seed_file: &str) -> Self {
        self.auth.identity = Identity::NKey {
            public: public.to_string(),
            signer: Signer::SeedFile(seed_file.to_string()),
        };
        self
    }

    /// Authenticates with a credentials file (user JWT and NKey seed, as
    /// written by `nsc`), read at each connection attempt. Replaces an NKey.
    pub fn credentials_file(self, path: &str) -> Self {
        self.credentials_files(path, None)
    }

    /// Authenticates with the user JWT of `jwt_file` (a credentials file or a
    /// bare JWT) and the seed of `seed_file` (or of `jwt_file` if `None`).
    pub fn credentials_files(mut self, jwt_file: &str, seed_file: Option<&str>) -> Self {
        self.auth.identity = Identity::User {
            jwt: JwtSource::File(jwt_file.to_string()),
            signer: Signer::SeedFile(seed_file.unwrap_or(jwt_file).to_string()),
        };
        self
    }

    /// Authenticates with the content of a credentials file (user JWT and
    /// NKey seed).
    ///
    /// # Errors
    /// `NotFound` if the text holds no JWT or no seed.
    pub fn credentials_memory(mut self, content: &str) -> Result<Self> {
        crate::auth::jwt_in(content, "the credentials given")?;
        crate::auth::seed_in(content, "the credentials given")?;
        let text = Arc::new(zeroize::Zeroizing::new(content.to_string()));
        self.auth.identity = Identity::User {
            jwt: JwtSource::Memory(text.clone()),
            signer: Signer::Memory(text),
        };
        Ok(self)
    }

    /// Authenticates with a user JWT and a nonce signature computed by the
    /// application at each connection attempt.
    pub fn user_jwt_callbacks(
        mut self,
        jwt: impl Fn() -> Result<String> + Send + Sync + 'static,
        sign: impl Fn(&[u8]) -> Result<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        self.auth.identity = Identity::User {
            jwt: JwtSource::Callback(Arc::new(jwt)),
            signer: Signer::Callback(Arc::new(sign)),
        };
        self
    }

    /// A token computed at each connection attempt.
    ///
    /// # Errors
    /// `IllegalState` if a token is set (the two are exclusive, as in nats.c).
    pub fn token_handler(
        mut self,
        handler: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) -> Result<Self> {
        if self.token.is_some() {
            return err(
                ErrorKind::IllegalState,
                "cannot set a token handler when a token is set",
            );
        }
        self.auth.token_handler = Some(Arc::new(handler));
        Ok(self)
    }

    /// Prefix of inbox subjects (default `_INBOX.`); a trailing `.` is added.
    ///
    /// # Errors
    /// `InvalidArg` if the prefix has wildcards, whitespace or empty tokens.
    pub fn inbox_prefix(mut self, prefix: &str) -> Result<Self> {
        let p = prefix.strip_suffix('.').unwrap_or(prefix);
        if p.is_empty()
            || p.contains(['*', '>'])
            || crate::subject::check_subscribe_subject(p).is_err()
        {
            return err(
                ErrorKind::InvalidArg,
                format!("invalid inbox prefix {prefix:?}"),
            );
        }
        self.inbox_prefix = format!("{p}.");
        Ok(self)
    }

    /// Do not ask the server for "no responders" replies to requests.
    pub fn disable_no_responders(mut self, yes: bool) -> Self {
        self.disable_no_responders = yes;
        self
    }

    /// Callback for asynchronous errors (slow consumer, permission violation...).
    /// Without one, errors are printed to stderr as nats.c does.
    pub fn error_callback<F>(mut self, f: F) -> Self
    where
        F: Fn(&Connection, Option<u64>, &Error) + Send + Sync + 'static,
    {
        self.error_cb = Some(Arc::new(f));
        self
    }

    /// Callback invoked once when the connection is closed.
    pub fn closed_callback<F>(mut self, f: F) -> Self
    where
        F: Fn(&Connection) + Send + Sync + 'static,
    {
        self.closed_cb = Some(Arc::new(f));
        self
    }

    /// Callback invoked when the connection to the server is lost.
    pub fn disconnected_callback<F>(mut self, f: F) -> Self
    where
        F: Fn(&Connection) + Send + Sync + 'static,
    {
        self.disconnected_cb = Some(Arc::new(f));
        self
    }

    /// Callback invoked when the connection is re-established.
    pub fn reconnected_callback<F>(mut self, f: F) -> Self
    where
        F: Fn(&Connection) + Send + Sync + 'static,
    {
        self.reconnected_cb = Some(Arc::new(f));
        self
    }

    /// The servers to try, in order: the URL first, then the list (shuffled
    /// unless `no_randomize`); the default URL if both are empty.
    pub(crate) fn server_list(&self) -> Vec<String> {
        let mut list: Vec<String> = Vec::new();
        let mut rest: Vec<String> = Vec::new();
        if let Some(u) = &self.url {
            for (i, part) in u
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .enumerate()
            {
                if i == 0 {
                    list.push(part.to_string());
                } else {
                    rest.push(part.to_string());
                }
            }
        }
        rest.extend(self.servers.iter().filter(|s| !s.is_empty()).cloned());
        if !self.no_randomize {
            shuffle(&mut rest);
        }
        list.extend(rest);
        if list.is_empty() {
            list.push(DEFAULT_URL.to_string());
        }
        list
    }
}

pub(crate) fn shuffle<T>(v: &mut [T]) {
    let mut seed = [0u8; 8];
    crate::nuid::random_bytes(&mut seed);
    let mut x = u64::from_le_bytes(seed) | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// A parsed server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `tls://`: this server must be reached over TLS.
    pub tls: bool,
}

impl ServerUrl {
    /// Parses `[scheme://][user[:pass]@]host[:port][/path]`; defaults are
    /// `nats`, `localhost`, 4222.
    pub(crate) fn parse(url: &str) -> Result<ServerUrl> {
        let bad = |why: &str| Error::new(ErrorKind::InvalidArg, format!("{why} in URL {url:?}"));
        let s = url.trim();
        let mut tls = false;
        let s = match s.find("://") {
            Some(i) => {
                let scheme = &s[..i];
                if !matches!(
                    scheme.to_ascii_lowercase().as_str(),
                    "nats" | "tcp" | "tls" | "ws" | "wss"
                ) {
                    return Err(bad("unsupported scheme"));
                }
                tls = scheme.eq_ignore_ascii_case("tls");
                &s[i + 3..]
            }
            None => s,
        };
        let s = s.split('/').next().unwrap_or("");
        let (auth, hostport) = match s.rfind('@') {
            Some(i) => (Some(&s[..i]), &s[i + 1..]),
            None => (None, s),
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u, url)?), Some(percent_decode(p, url)?)),
                None => (Some(percent_decode(a, url)?), None),
            },
        };
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| bad("unterminated IPv6 address"))?;
            let host = &rest[..end];
            let after = &rest[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("garbage after IPv6 address")),
            };
            (host.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = match port {
            None | Some("") => 4222,
            Some(p) => {
                if !p.bytes().all(|b| b.is_ascii_digit()) {
                    return err(ErrorKind::InvalidArg, format!("invalid port '{p}'"));
                }
                p.parse::<u16>()
                    .map_err(|_| Error::new(ErrorKind::InvalidArg, format!("invalid port '{p}'")))?
            }
        };
        let host = if host.is_empty() {
            "localhost".to_string()
        } else {
            host
        };
        Ok(ServerUrl {
            host,
            port,
            user,
            password,
            tls,
        })
    }

    /// `nats://host:port` (`tls://` for a TLS URL), without credentials.
    pub(crate) fn display(&self) -> String {
        let scheme = if self.tls { "tls" } else { "nats" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

fn percent_decode(s: &str, url: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => {
                    return err(
                        ErrorKind::Other,
                        format!("invalid percent encoding in URL: {url}"),
                    );
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        Error::new(
            ErrorKind::Other,
            format!("invalid percent encoding in URL: {url}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let u = ServerUrl::parse("nats://127.0.0.1:4333").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 4333));
        let u = ServerUrl::parse("localhost").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("localhost", 4222));
        let u = ServerUrl::parse("tcp://:").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("localhost", 4222));
        let u = ServerUrl::parse("nats://a%40b:p:w@h:1").unwrap();
        assert_eq!(u.user.as_deref(), Some("a@b"));
        assert_eq!(u.password.as_deref(), Some("p:w"));
        let u = ServerUrl::parse("nats://[::1]:4222").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.display(), "nats://[::1]:4222");
        for bad in ["nats://h: 4222", "nats://h:a4222", "nats://h:2147483648"] {
            assert_eq!(
                ServerUrl::parse(bad).unwrap_err().kind(),
                ErrorKind::InvalidArg,
                "{bad}"
            );
        }
        assert_eq!(
            ServerUrl::parse("nats://u%zz@h").unwrap_err().kind(),
            ErrorKind::Other
        );
    }

    #[test]
    fn server_list_order() {
        let o = Options::new()
            .url("nats://a:1, nats://b:2")
            .servers(&["nats://c:3", "nats://d:4"])
            .no_randomize(true);
        assert_eq!(
            o.server_list(),
            vec!["nats://a:1", "nats://b:2", "nats://c:3", "nats://d:4"]
        );
        assert_eq!(Options::new().server_list(), vec![DEFAULT_URL]);
    }

    #[test]
    fn inbox_prefix_validation() {
        assert_eq!(
            Options::new()
                .inbox_prefix("my.inbox")
                .unwrap()
                .inbox_prefix,
            "my.inbox."
        );
        for bad in ["", "a b", "a..b", "a.*", "a.>", "a.."] {
            assert!(Options::new().inbox_prefix(bad).is_err(), "{bad}");
        }
    }
}
