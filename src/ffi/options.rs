//! `natsOptions_*`: connection options.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::conn::{natsConnection, natsConnectionHandler, natsErrHandler};
use super::{SendPtr, arg_mut, invalid, millis, natsStatus, opt_str, run};
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;

/// A C connection callback and its closure.
#[derive(Clone, Copy)]
pub(crate) struct ConnCb {
    pub f: unsafe extern "C" fn(*mut natsConnection, *mut c_void),
    pub closure: SendPtr<c_void>,
}

/// Callback that chooses the wait before the next pass over the server list
/// while reconnecting: it gets the number of full passes made so far (from 1)
/// and returns milliseconds to wait (a negative value counts as 0).
pub type natsCustomReconnectDelayHandler = Option<
    unsafe extern "C" fn(nc: *mut natsConnection, attempts: c_int, closure: *mut c_void) -> i64,
>;

/// A C custom reconnect delay callback and its closure.
#[derive(Clone, Copy)]
pub(crate) struct DelayCb {
    pub f: unsafe extern "C" fn(*mut natsConnection, c_int, *mut c_void) -> i64,
    pub closure: SendPtr<c_void>,
}

impl DelayCb {
    /// Invokes the C callback; a negative result is 0.
    ///
    /// # Safety
    /// `nc` must be a live connection; the closure is the user's.
    pub(crate) unsafe fn call(&self, nc: *mut natsConnection, attempts: u32) -> Duration {
        let attempts = c_int::try_from(attempts).unwrap_or(c_int::MAX);
        // SAFETY: forwarded contract.
        let ms = unsafe { (self.f)(nc, attempts, self.closure.0) };
        millis(ms).unwrap_or(Duration::ZERO)
    }
}

/// A C error callback and its closure.
#[derive(Clone, Copy)]
pub(crate) struct ErrCb {
    pub f: unsafe extern "C" fn(
        *mut natsConnection,
        *mut super::sub::natsSubscription,
        natsStatus,
        *mut c_void,
    ),
    pub closure: SendPtr<c_void>,
}

impl ConnCb {
    /// Invokes the C callback.
    ///
    /// # Safety
    /// `nc` must be a live connection; the closure is the user's.
    pub(crate) unsafe fn call(&self, nc: *mut natsConnection) {
        // SAFETY: forwarded contract.
        unsafe { (self.f)(nc, self.closure.0) }
    }
}

impl ErrCb {
    /// Invokes the C callback.
    ///
    /// # Safety
    /// `nc` must be a live connection and `sub` NULL or live.
    pub(crate) unsafe fn call(
        &self,
        nc: *mut natsConnection,
        sub: *mut super::sub::natsSubscription,
        status: natsStatus,
    ) {
        // SAFETY: forwarded contract.
        unsafe { (self.f)(nc, sub, status, self.closure.0) }
    }
}

/// Options for a connection (`natsOptions`), created by `natsOptions_Create`,
/// destroyed by `natsOptions_Destroy`. `natsConnection_Connect` copies them, so
/// they may be changed or destroyed once the connection exists.
///
/// Methods: natsOptions_Create, natsOptions_Destroy, natsOptions_SetURL,
/// natsOptions_SetServers, natsOptions_SetTimeout, natsOptions_SetName, ...
#[derive(Clone, Default)]
pub struct natsOptions {
    pub(crate) opts: Options,
    pub(crate) closed: Option<ConnCb>,
    pub(crate) disconnected: Option<ConnCb>,
    pub(crate) reconnected: Option<ConnCb>,
    pub(crate) connected: Option<ConnCb>,
    pub(crate) discovered: Option<ConnCb>,
    pub(crate) lame_duck: Option<ConnCb>,
    pub(crate) reconnect_delay: Option<DelayCb>,
    pub(crate) err: Option<ErrCb>,
    pub(crate) ev_loop: Option<super::evloop::EvLoopCb>,
}

/// Runs `f` on the options behind `opts` (NULL → `NATS_INVALID_ARG`).
pub(crate) fn with_opts(
    func: &'static str,
    opts: *mut natsOptions,
    f: impl FnOnce(&mut natsOptions) -> Result<()>,
) -> natsStatus {
    run(func, || {
        // SAFETY: natsOptions pointers come from natsOptions_Create; the C API
        // requires callers not to use one from two threads at once.
        let o = unsafe { arg_mut(opts, "options") }?;
        f(o)
    })
}

pub(crate) fn update(o: &mut natsOptions, f: impl FnOnce(Options) -> Options) {
    let cur = std::mem::take(&mut o.opts);
    o.opts = f(cur);
}

fn bad(text: &str) -> Error {
    Error::new(ErrorKind::InvalidArg, text)
}

/// Creates an options object with nats.c's defaults.
///
/// NULL: `newOpts` NULL returns `NATS_INVALID_ARG` (nats.c crashes).
/// Ownership: the caller destroys the result with `natsOptions_Destroy`.
///
/// # Safety
/// `newOpts` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_Create(newOpts: *mut *mut natsOptions) -> natsStatus {
    run("natsOptions_Create", || {
        // SAFETY: NULL is checked; otherwise writable per the contract.
        let out = unsafe { arg_mut(newOpts, "newOpts") }?;
        let o = natsOptions {
            opts: super::library::default_options(),
            ..Default::default()
        };
        *out = Box::into_raw(Box::new(o));
        Ok(())
    })
}

/// Destroys an options object (NULL is ignored).
///
/// # Safety
/// `opts` must be NULL or come from `natsOptions_Create`, and not be used after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_Destroy(opts: *mut natsOptions) {
    super::guard("natsOptions_Destroy", (), || {
        if !opts.is_null() {
            // SAFETY: created by Box::into_raw in natsOptions_Create; ownership returns here.
            drop(unsafe { Box::from_raw(opts) });
        }
    })
}

/// Sets the URL tried first (a comma-separated list is accepted); NULL clears it.
///
/// # Safety
/// `opts` must be NULL or valid; `url` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetURL(
    opts: *mut natsOptions,
    url: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetURL", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        let url = unsafe { opt_str(url, "url") }?;
        o.opts.set_url(url);
        Ok(())
    })
}

/// Sets the server list. `(NULL, 0)` clears it; a count <= 0 with an array, or
/// a negative count, is `NATS_INVALID_ARG`.
///
/// # Safety
/// `servers` must be NULL or hold `serversCount` C strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetServers(
    opts: *mut natsOptions,
    servers: *mut *const c_char,
    serversCount: c_int,
) -> natsStatus {
    with_opts("natsOptions_SetServers", opts, |o| {
        if serversCount < 0 || (!servers.is_null() && serversCount == 0) {
            return Err(bad("servers count must be positive"));
        }
        if servers.is_null() {
            if serversCount != 0 {
                return Err(invalid("servers"));
            }
            o.opts.servers.clear();
            return Ok(());
        }
        let mut list = Vec::with_capacity(serversCount as usize);
        for i in 0..serversCount as usize {
            // SAFETY: the array holds serversCount entries per the contract.
            let p = unsafe { *servers.add(i) };
            // SAFETY: each entry is NULL or a C string.
            let s = unsafe { opt_str(p, "server") }?.ok_or_else(|| invalid("server"))?;
            list.push(s.trim().to_string());
        }
        o.opts.servers = list;
        Ok(())
    })
}

/// Sets the connect timeout in milliseconds (>= 0; 0 means no wait at all is
/// allowed, as nats.c).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetTimeout(
    opts: *mut natsOptions,
    timeout: i64,
) -> natsStatus {
    with_opts("natsOptions_SetTimeout", opts, |o| {
        let d = millis(timeout).ok_or_else(|| bad("timeout must not be negative"))?;
        update(o, |x| x.timeout(d));
        Ok(())
    })
}

/// Sets the connection name (NULL clears it).
///
/// # Safety
/// `opts` must be NULL or valid; `name` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetName(
    opts: *mut natsOptions,
    name: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetName", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        o.opts.name = unsafe { opt_str(name, "name") }?.map(str::to_string);
        Ok(())
    })
}

/// Asks the server to acknowledge each protocol message with `+OK`.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetVerbose(
    opts: *mut natsOptions,
    verbose: bool,
) -> natsStatus {
    with_opts("natsOptions_SetVerbose", opts, |o| {
        update(o, |x| x.verbose(verbose));
        Ok(())
    })
}

/// Asks the server for extra protocol checks.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetPedantic(
    opts: *mut natsOptions,
    pedantic: bool,
) -> natsStatus {
    with_opts("natsOptions_SetPedantic", opts, |o| {
        update(o, |x| x.pedantic(pedantic));
        Ok(())
    })
}

/// Do not deliver this connection's own messages to its subscriptions.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetNoEcho(opts: *mut natsOptions, noEcho: bool) -> natsStatus {
    with_opts("natsOptions_SetNoEcho", opts, |o| {
        update(o, |x| x.no_echo(noEcho));
        Ok(())
    })
}

/// Asks that every publish be written to the socket at once. Accepted for
/// compatibility, with no effect: this library always writes as soon as the
/// io loop wakes (a publish wakes it when it is not already due to write),
/// batching only what is already queued. There is no flusher delay to skip
/// (natsc-defects.md #11).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetSendAsap(
    opts: *mut natsOptions,
    sendAsap: bool,
) -> natsStatus {
    with_opts("natsOptions_SetSendAsap", opts, |_| {
        let _ = sendAsap;
        Ok(())
    })
}

/// How long nats.c's flusher thread waits before writing, in microseconds
/// (must be >= 0: otherwise `NATS_INVALID_ARG`). Accepted for compatibility,
/// with no effect: this library has no flusher delay; it writes as soon as
/// the io loop wakes (natsc-defects.md #11).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetFlusherWaitMicros(
    opts: *mut natsOptions,
    flusherWaitUs: i64,
) -> natsStatus {
    with_opts("natsOptions_SetFlusherWaitMicros", opts, |_| {
        if flusherWaitUs < 0 {
            return Err(Error::new(
                ErrorKind::InvalidArg,
                format!("flusher wait must be >= 0, got {flusherWaitUs}"),
            ));
        }
        Ok(())
    })
}

/// Try the servers in the given order instead of shuffling them.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetNoRandomize(
    opts: *mut natsOptions,
    noRandomize: bool,
) -> natsStatus {
    with_opts("natsOptions_SetNoRandomize", opts, |o| {
        update(o, |x| x.no_randomize(noRandomize));
        Ok(())
    })
}

/// Whether to reconnect after losing the server (default true).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetAllowReconnect(
    opts: *mut natsOptions,
    allow: bool,
) -> natsStatus {
    with_opts("natsOptions_SetAllowReconnect", opts, |o| {
        update(o, |x| x.allow_reconnect(allow));
        Ok(())
    })
}

/// With `useOldStyle`, each request creates its own inbox subscription for
/// its reply instead of sharing the connection's request inbox.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_UseOldRequestStyle(
    opts: *mut natsOptions,
    useOldStyle: bool,
) -> natsStatus {
    with_opts("natsOptions_UseOldRequestStyle", opts, |o| {
        update(o, |x| x.old_request_style(useOldStyle));
        Ok(())
    })
}

/// With `failRequests`, requests waiting for a reply fail with
/// `NATS_CONNECTION_DISCONNECTED` as soon as the connection is lost; by
/// default they keep waiting until their own timeout.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetFailRequestsOnDisconnect(
    opts: *mut natsOptions,
    failRequests: bool,
) -> natsStatus {
    with_opts("natsOptions_SetFailRequestsOnDisconnect", opts, |o| {
        update(o, |x| x.fail_requests_on_disconnect(failRequests));
        Ok(())
    })
}

/// Sets the write deadline in ms (0: none, the default unless the library
/// was opened with `DefaultWriteDeadline` or `NATS_DEFAULT_LIB_WRITE_DEADLINE`):
/// when the server reads nothing for that long, the connection is dropped
/// (and reconnects if allowed), and a publish waiting for room in the full
/// output buffer returns `NATS_TIMEOUT`. Negative values: `NATS_INVALID_ARG`.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetWriteDeadline(
    opts: *mut natsOptions,
    deadline: i64,
) -> natsStatus {
    with_opts("natsOptions_SetWriteDeadline", opts, |o| {
        if deadline < 0 {
            return Err(bad("write deadline must not be negative"));
        }
        let d = Duration::from_millis(deadline.unsigned_abs());
        update(o, |x| x.write_deadline(Some(d)));
        Ok(())
    })
}

/// Makes every received message's payload followed by `paddingSize` zero
/// bytes (beyond the NUL that always follows it), for code that reads past
/// the end, e.g. with SIMD. Negative: `NATS_INVALID_ARG`.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetMessageBufferPadding(
    opts: *mut natsOptions,
    paddingSize: c_int,
) -> natsStatus {
    with_opts("natsOptions_SetMessageBufferPadding", opts, |o| {
        let n = usize::try_from(paddingSize).map_err(|_| bad("padding must not be negative"))?;
        o.opts.message_padding = n;
        Ok(())
    })
}

/// Opens the connection to a server: given the host and port, stores a
/// connected socket in `*fd` (the library owns it from then on) and returns
/// `NATS_OK`, or fails.
pub type natsProxyConnHandler = Option<
    unsafe extern "C" fn(
        fd: *mut c_int,
        host: *mut c_char,
        port: c_int,
        closure: *mut c_void,
    ) -> natsStatus,
>;

/// Sets (or with NULL, clears) a handler that opens the TCP connection to
/// each server instead of the library, e.g. through a proxy. It is called
/// once per connection attempt, on a library helper thread and within the
/// connect timeout; a failure moves on to the next server (`NATS_NO_SERVER`
/// when none is left). The library sets `TCP_NODELAY` on the socket.
///
/// # Safety
/// `opts` must be NULL or valid; `closure` is the user's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetProxyConnHandler(
    opts: *mut natsOptions,
    proxyConnHandler: natsProxyConnHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetProxyConnHandler", opts, |o| {
        let closure = SendPtr(closure);
        o.opts.proxy_connect = proxyConnHandler.map(|f| {
            Arc::new(move |host: &str, port: u16| {
                let c = &closure;
                let host =
                    std::ffi::CString::new(host).map_err(|_| bad("host name contains NUL"))?;
                let mut fd: c_int = -1;
                // SAFETY: the user's handler with a writable fd, a host string
                // that outlives the call, and the user's closure.
                let st = unsafe { f(&mut fd, host.as_ptr().cast_mut(), c_int::from(port), c.0) };
                if st != natsStatus::NATS_OK || fd < 0 {
                    return Err(Error::new(
                        ErrorKind::NoServer,
                        format!("proxy connection handler returned {}", st as i32),
                    ));
                }
                // SAFETY: per the contract, the handler handed over a connected
                // socket that nothing else owns.
                Ok(unsafe { <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) })
            }) as crate::options::ProxyConnectHandler
        });
        Ok(())
    })
}

/// Makes this connection's asynchronous subscriptions (created from then on)
/// run their callbacks on the library's shared delivery pool (see
/// `nats_SetMessageDeliveryPoolSize`) instead of one thread each. The default
/// is false, or true when the library was opened with `DefaultToThreadPool`
/// or the `NATS_DEFAULT_TO_LIB_MSG_DELIVERY` environment variable.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_UseGlobalMessageDelivery(
    opts: *mut natsOptions,
    global: bool,
) -> natsStatus {
    with_opts("natsOptions_UseGlobalMessageDelivery", opts, |o| {
        update(o, |x| x.global_message_delivery(global));
        Ok(())
    })
}

/// Which IP addresses of a host name are used, in which order: 0 (any, the
/// default), 4 (IPv4 only), 6 (IPv6 only), 46 (IPv4 first) or 64 (IPv6
/// first). Any other value: `NATS_INVALID_ARG`. Addresses are shuffled
/// first unless `natsOptions_SetNoRandomize` is set.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_IPResolutionOrder(
    opts: *mut natsOptions,
    order: c_int,
) -> natsStatus {
    with_opts("natsOptions_IPResolutionOrder", opts, |o| {
        let order = u8::try_from(order)
            .ok()
            .filter(|v| matches!(v, 0 | 4 | 6 | 46 | 64))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArg,
                    format!("IP resolution order must be 0, 4, 6, 46 or 64, got {order}"),
                )
            })?;
        let current = o.opts.clone();
        o.opts = current.ip_resolution_order(order)?;
        Ok(())
    })
}

/// Do not ask for "no responders" replies to requests.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_DisableNoResponders(
    opts: *mut natsOptions,
    disabled: bool,
) -> natsStatus {
    with_opts("natsOptions_DisableNoResponders", opts, |o| {
        update(o, |x| x.disable_no_responders(disabled));
        Ok(())
    })
}

/// Sets the ping interval in milliseconds; a value <= 0 disables pings.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetPingInterval(
    opts: *mut natsOptions,
    interval: i64,
) -> natsStatus {
    with_opts("natsOptions_SetPingInterval", opts, |o| {
        let d = millis(interval).unwrap_or(Duration::ZERO);
        update(o, |x| x.ping_interval(d));
        Ok(())
    })
}

/// Sets how many pings may be unanswered before the connection is stale (any
/// value; a negative one makes the first ping tick declare it stale).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetMaxPingsOut(
    opts: *mut natsOptions,
    maxPingsOut: c_int,
) -> natsStatus {
    with_opts("natsOptions_SetMaxPingsOut", opts, |o| {
        update(o, |x| x.max_pings_out(maxPingsOut));
        Ok(())
    })
}

/// Sets reconnect attempts per server (negative: unlimited).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetMaxReconnect(
    opts: *mut natsOptions,
    maxReconnect: c_int,
) -> natsStatus {
    with_opts("natsOptions_SetMaxReconnect", opts, |o| {
        update(o, |x| x.max_reconnect(maxReconnect));
        Ok(())
    })
}

/// Sets the wait between passes over the server list, in ms (>= 0).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetReconnectWait(
    opts: *mut natsOptions,
    reconnectWait: i64,
) -> natsStatus {
    with_opts("natsOptions_SetReconnectWait", opts, |o| {
        let d = millis(reconnectWait).ok_or_else(|| bad("reconnect wait must not be negative"))?;
        update(o, |x| x.reconnect_wait(d));
        Ok(())
    })
}

/// Sets the random extra reconnect wait, in ms: `jitter` for plain
/// connections, `jitterTLS` for TLS ones (both >= 0, else `NATS_INVALID_ARG`).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetReconnectJitter(
    opts: *mut natsOptions,
    jitter: i64,
    jitterTLS: i64,
) -> natsStatus {
    with_opts("natsOptions_SetReconnectJitter", opts, |o| {
        let d = millis(jitter).ok_or_else(|| bad("jitter must not be negative"))?;
        let tls = millis(jitterTLS).ok_or_else(|| bad("jitter must not be negative"))?;
        update(o, |x| x.reconnect_jitter(d).reconnect_jitter_tls(tls));
        Ok(())
    })
}

/// Sets the bytes of publishes kept while reconnecting (>= 0).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetReconnectBufSize(
    opts: *mut natsOptions,
    reconnectBufSize: c_int,
) -> natsStatus {
    with_opts("natsOptions_SetReconnectBufSize", opts, |o| {
        let n = usize::try_from(reconnectBufSize).map_err(|_| bad("size must not be negative"))?;
        update(o, |x| x.reconnect_buffer_size(n));
        Ok(())
    })
}

/// Sets the user and password (NULLs clear them).
///
/// # Safety
/// `opts` must be NULL or valid; strings NULL or C strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetUserInfo(
    opts: *mut natsOptions,
    user: *const c_char,
    password: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetUserInfo", opts, |o| {
        // SAFETY: NULL or C strings per the contract.
        o.opts.user = unsafe { opt_str(user, "user") }?.map(str::to_string);
        // SAFETY: as above.
        o.opts.password = unsafe { opt_str(password, "password") }?.map(str::to_string);
        Ok(())
    })
}

/// Sets the authentication token (NULL clears it).
///
/// # Safety
/// `opts` must be NULL or valid; `token` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetToken(
    opts: *mut natsOptions,
    token: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetToken", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        let token = unsafe { opt_str(token, "token") }?;
        if token.is_some() && o.opts.auth.token_handler.is_some() {
            return Err(Error::new(
                ErrorKind::IllegalState,
                "cannot set a token when a token handler is set",
            ));
        }
        o.opts.token = token.map(str::to_string);
        Ok(())
    })
}

/// Sets the pending message limit per subscription (> 0).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetMaxPendingMsgs(
    opts: *mut natsOptions,
    maxPending: c_int,
) -> natsStatus {
    with_opts("natsOptions_SetMaxPendingMsgs", opts, |o| {
        if maxPending <= 0 {
            return Err(bad("max pending must be positive"));
        }
        update(o, |x| x.max_pending_msgs(maxPending as usize));
        Ok(())
    })
}

/// Sets the pending byte limit per subscription (> 0).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetMaxPendingBytes(
    opts: *mut natsOptions,
    maxPending: i64,
) -> natsStatus {
    with_opts("natsOptions_SetMaxPendingBytes", opts, |o| {
        if maxPending <= 0 {
            return Err(bad("max pending bytes must be positive"));
        }
        let n = usize::try_from(maxPending).unwrap_or(usize::MAX);
        update(o, |x| x.max_pending_bytes(n));
        Ok(())
    })
}

/// Sets the read/write buffer size (>= 0; 0 means the default 32 KiB).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetIOBufSize(
    opts: *mut natsOptions,
    ioBufSize: c_int,
) -> natsStatus {
    with_opts("natsOptions_SetIOBufSize", opts, |o| {
        let n = usize::try_from(ioBufSize).map_err(|_| bad("buffer size must not be negative"))?;
        update(o, |x| x.io_buf_size(n));
        Ok(())
    })
}

/// Sets the inbox prefix (NULL resets to `_INBOX.`); a trailing `.` is added.
///
/// # Safety
/// `opts` must be NULL or valid; `inboxPrefix` NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetCustomInboxPrefix(
    opts: *mut natsOptions,
    inboxPrefix: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetCustomInboxPrefix", opts, |o| {
        // SAFETY: NULL or a C string per the contract.
        match unsafe { opt_str(inboxPrefix, "inboxPrefix") }? {
            None | Some("") => o.opts.inbox_prefix = "_INBOX.".to_string(),
            Some(p) => {
                let cur = std::mem::take(&mut o.opts);
                o.opts = cur
                    .clone()
                    .inbox_prefix(p)
                    .inspect_err(|_| o.opts = cur.clone())?;
            }
        }
        Ok(())
    })
}

/// Sets the asynchronous error callback (NULL restores the default, which
/// prints to stderr). It runs on the library's event thread.
///
/// # Safety
/// `opts` must be NULL or valid; `closure` is passed back to `errHandler` as is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetErrorHandler(
    opts: *mut natsOptions,
    errHandler: natsErrHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetErrorHandler", opts, |o| {
        o.err = errHandler.map(|f| ErrCb {
            f,
            closure: SendPtr(closure),
        });
        Ok(())
    })
}

/// Sets the callback invoked once when the connection is closed.
/// It runs on the library's event thread, never on an io thread; NULL removes it.
///
/// # Safety
/// `opts` must be NULL or valid; `closure` is passed back to the callback as is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetClosedCB(
    opts: *mut natsOptions,
    closedCb: natsConnectionHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetClosedCB", opts, |o| {
        o.closed = closedCb.map(|f| ConnCb {
            f,
            closure: SendPtr(closure),
        });
        Ok(())
    })
}

/// Sets the callback invoked when the connection to the server is lost.
/// It runs on the library's event thread, never on an io thread; NULL removes it.
///
/// # Safety
/// `opts` must be NULL or valid; `closure` is passed back to the callback as is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetDisconnectedCB(
    opts: *mut natsOptions,
    disconnectedCb: natsConnectionHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetDisconnectedCB", opts, |o| {
        o.disconnected = disconnectedCb.map(|f| ConnCb {
            f,
            closure: SendPtr(closure),
        });
        Ok(())
    })
}

/// Sets the callback invoked when the connection is re-established.
/// It runs on the library's event thread, never on an io thread; NULL removes it.
///
/// # Safety
/// `opts` must be NULL or valid; `closure` is passed back to the callback as is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetReconnectedCB(
    opts: *mut natsOptions,
    reconnectedCb: natsConnectionHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetReconnectedCB", opts, |o| {
        o.reconnected = reconnectedCb.map(|f| ConnCb {
            f,
            closure: SendPtr(closure),
        });
        Ok(())
    })
}

/// Sets a callback that replaces the reconnect wait and jitter: after each
/// full pass over the server list it is called with the connection and the
/// number of passes so far (from 1), and returns how many milliseconds to wait
/// before the next pass (negative: 0). NULL removes it. It runs on the
/// library's callback thread, never on an io thread.
///
/// # Safety
/// `opts` must be NULL or valid; `closure` is passed back to `cb` as is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetCustomReconnectDelay(
    opts: *mut natsOptions,
    cb: natsCustomReconnectDelayHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetCustomReconnectDelay", opts, |o| {
        o.reconnect_delay = cb.map(|f| DelayCb {
            f,
            closure: SendPtr(closure),
        });
        Ok(())
    })
}

/// Whether to keep trying when no server can be reached at connect time.
///
/// With `retry` and a `connectedCb`, `natsConnection_Connect` returns
/// `NATS_NOT_YET_CONNECTED` after a failed first pass, together with a usable
/// connection that keeps trying in the background (publishes and
/// subscriptions are buffered) and invokes `connectedCb` once connected.
/// With `retry` and no callback, `natsConnection_Connect` itself retries, up
/// to the max reconnect passes, reconnect wait apart, before returning
/// `NATS_NO_SERVER`. `retry` false also removes the callback.
///
/// # Safety
/// `opts` must be NULL or valid; `closure` is passed back to the callback as is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetRetryOnFailedConnect(
    opts: *mut natsOptions,
    retry: bool,
    connectedCb: natsConnectionHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetRetryOnFailedConnect", opts, |o| {
        update(o, |x| x.retry_on_failed_connect(retry));
        o.connected = if retry {
            connectedCb.map(|f| ConnCb {
                f,
                closure: SendPtr(closure),
            })
        } else {
            None
        };
        Ok(())
    })
}

/// Do not add the servers the cluster announces to the server list.
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetIgnoreDiscoveredServers(
    opts: *mut natsOptions,
    ignore: bool,
) -> natsStatus {
    with_opts("natsOptions_SetIgnoreDiscoveredServers", opts, |o| {
        update(o, |x| x.ignore_discovered_servers(ignore));
        Ok(())
    })
}

/// Sets the callback invoked when the cluster announces servers not known
/// before (not for those learnt during the first connect). It runs on the
/// library's callback thread; NULL removes it.
///
/// # Safety
/// `opts` must be NULL or valid; `closure` is passed back to the callback as is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetDiscoveredServersCB(
    opts: *mut natsOptions,
    discoveredServersCb: natsConnectionHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetDiscoveredServersCB", opts, |o| {
        o.discovered = discoveredServersCb.map(|f| ConnCb {
            f,
            closure: SendPtr(closure),
        });
        Ok(())
    })
}

/// Sets the callback invoked when the server says it entered lame-duck mode
/// (it will close connections soon; the client then reconnects as usual).
/// It runs on the library's callback thread; NULL removes it.
///
/// # Safety
/// `opts` must be NULL or valid; `closure` is passed back to the callback as is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetLameDuckModeCB(
    opts: *mut natsOptions,
    lameDuckCb: natsConnectionHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetLameDuckModeCB", opts, |o| {
        o.lame_duck = lameDuckCb.map(|f| ConnCb {
            f,
            closure: SendPtr(closure),
        });
        Ok(())
    })
}

/// Keep reconnecting to a server that rejected the credentials twice in a
/// row (by default the connection is closed then).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetIgnoreAuthErrorAbort(
    opts: *mut natsOptions,
    ignore: bool,
) -> natsStatus {
    with_opts("natsOptions_SetIgnoreAuthErrorAbort", opts, |o| {
        update(o, |x| x.ignore_auth_error_abort(ignore));
        Ok(())
    })
}

/// Reconnect, instead of closing, after a server error that ends the
/// connection (such as a protocol violation).
///
/// # Safety
/// `opts` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsOptions_SetReconnectOnProtocolError(
    opts: *mut natsOptions,
    reconnect: bool,
) -> natsStatus {
    with_opts("natsOptions_SetReconnectOnProtocolError", opts, |o| {
        update(o, |x| x.reconnect_on_protocol_error(reconnect));
        Ok(())
    })
}
