//! Library-wide functions: `nats_*` and `natsStatus_GetText`.

use std::ffi::{CStr, CString, c_char, c_int, c_void};

use parking_lot::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{LAST_ERROR, LastError, natsStatus, status};
use crate::error::{Error, ErrorKind};

/// The version of nats.c whose API this library provides.
const VERSION: &CStr = c"3.14.0";
/// [`VERSION`] as a number: `0xMMmmpp`.
const VERSION_NUMBER: u32 = 0x03_0E_00;
/// The oldest nats.c header version that programs may be compiled with.
const VERSION_REQUIRED_NUMBER: u32 = 0x03_04_00;

/// Library settings taken at the first open (`nats_Open`, `nats_OpenWithConfig`,
/// or implicitly by `natsOptions_Create` and the connect calls).
#[derive(Clone, Copy)]
pub(crate) struct LibConfig {
    /// New options deliver asynchronous messages on the shared pool.
    pub(crate) default_to_pool: bool,
    /// Write deadline of new options, in ms (0: none).
    pub(crate) write_deadline_ms: i64,
}

static LIB: Mutex<Option<LibConfig>> = Mutex::new(None);

/// Whether the library was ever opened (explicitly or implicitly).
static EVER_OPENED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// nats.c's defaults, overridden by the `NATS_DEFAULT_*` environment variables
/// as nats.c reads them: `NATS_DEFAULT_TO_LIB_MSG_DELIVERY` (set, whatever its
/// value: pool delivery), `NATS_DEFAULT_LIB_MSG_DELIVERY_POOL_SIZE` and
/// `NATS_DEFAULT_LIB_WRITE_DEADLINE` (ms; positive values only).
fn env_config() -> natsClientConfig {
    env_config_from(|name| std::env::var(name).ok())
}

/// [`env_config`] with the variables read by `var`.
fn env_config_from(var: impl Fn(&str) -> Option<String>) -> natsClientConfig {
    let num = |name: &str| {
        var(name)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|n| *n > 0)
    };
    natsClientConfig {
        DefaultWriteDeadline: num("NATS_DEFAULT_LIB_WRITE_DEADLINE").unwrap_or(0),
        LockSpinCount: -1,
        DefaultToThreadPool: var("NATS_DEFAULT_TO_LIB_MSG_DELIVERY").is_some(),
        ThreadPoolMax: num("NATS_DEFAULT_LIB_MSG_DELIVERY_POOL_SIZE")
            .and_then(|n| c_int::try_from(n).ok())
            .unwrap_or(1),
        DefaultRepliesToThreadPool: false,
        UseSeparatePoolForReplies: false,
        ReplyThreadPoolMax: 0,
        ThreadStartedHandler: None,
        ThreadStartedHandlerClosure: std::ptr::null_mut(),
    }
}

/// Opens the library with `cfg` unless it is open already (then, as in
/// nats.c, the settings of the first open stay).
fn open_with(cfg: &natsClientConfig) -> LibConfig {
    let mut lib = LIB.lock();
    if let Some(c) = *lib {
        return c;
    }
    if cfg.ThreadPoolMax > 0 {
        let _ = crate::delivery::set_pool_size(cfg.ThreadPoolMax.unsigned_abs() as usize);
    }
    let hook = cfg.ThreadStartedHandler.map(|f| {
        let closure = super::SendPtr(cfg.ThreadStartedHandlerClosure);
        std::sync::Arc::new(move || {
            let c = &closure;
            // SAFETY: the application's handler with its own closure, as
            // nats.c calls it.
            unsafe { f(c.0) }
        }) as crate::threads::ThreadStartedHook
    });
    crate::threads::set_started_hook(hook);
    let c = LibConfig {
        default_to_pool: cfg.DefaultToThreadPool,
        write_deadline_ms: cfg.DefaultWriteDeadline.max(0),
    };
    *lib = Some(c);
    EVER_OPENED.store(true, std::sync::atomic::Ordering::Release);
    c
}

/// The library's settings, opening it (with the environment's defaults) if
/// needed.
pub(crate) fn lib_config() -> LibConfig {
    open_with(&env_config())
}

/// New options with the library's defaults (`natsOptions_Create`, and the
/// connect calls given no options).
pub(crate) fn default_options() -> crate::options::Options {
    let c = lib_config();
    let deadline = std::time::Duration::from_millis(c.write_deadline_ms.unsigned_abs());
    crate::options::Options::new()
        .global_message_delivery(c.default_to_pool)
        .write_deadline(Some(deadline))
}

/// Called when a library thread starts (`natsClientConfig.ThreadStartedHandler`).
pub type natsThreadStartedHandler = Option<unsafe extern "C" fn(closure: *mut c_void)>;

/// Library settings for `nats_OpenWithConfig` (the layout of nats.c's).
#[repr(C)]
pub struct natsClientConfig {
    /// Write deadline (ms) of options created from now on; 0: none.
    pub DefaultWriteDeadline: i64,
    /// Accepted and ignored (our locks do not spin).
    pub LockSpinCount: i64,
    /// Options created from now on use the shared delivery pool.
    pub DefaultToThreadPool: bool,
    /// Size of the shared delivery pool (ignored if ≤ 0).
    pub ThreadPoolMax: c_int,
    /// Accepted and ignored: request replies never go through a delivery
    /// thread here (nats.c HEAD does not use its reply pool either).
    pub DefaultRepliesToThreadPool: bool,
    /// Accepted and ignored (see `DefaultRepliesToThreadPool`).
    pub UseSeparatePoolForReplies: bool,
    /// Accepted and ignored (see `DefaultRepliesToThreadPool`).
    pub ReplyThreadPoolMax: c_int,
    /// Called at the start of every thread the library creates.
    pub ThreadStartedHandler: natsThreadStartedHandler,
    /// Passed to `ThreadStartedHandler`.
    pub ThreadStartedHandlerClosure: *mut c_void,
}

/// Opens the library. Optional: every call that needs it opens it with the
/// defaults. The `NATS_DEFAULT_*` environment variables are read here, as
/// nats.c does (see `nats_OpenWithConfig`). `lockSpinCount` is accepted and
/// ignored. Opening an open library does nothing; opening again after
/// `nats_Close` takes the settings anew.
///
/// # Safety
/// None: any value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_Open(lockSpinCount: i64) -> natsStatus {
    let _ = lockSpinCount;
    super::run("nats_Open", || {
        lib_config();
        Ok(())
    })
}

/// Opens the library with `config` (copied; NULL: as `nats_Open(-1)`):
/// `DefaultToThreadPool` and `DefaultWriteDeadline` become the defaults of
/// options created from then on, `ThreadPoolMax` the size of the shared
/// delivery pool, and `ThreadStartedHandler` is called at the start of each
/// library thread. If the library is already open (explicitly or by an
/// earlier call), the first settings stay and this returns `NATS_OK`.
///
/// # Safety
/// `config` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_OpenWithConfig(config: *mut natsClientConfig) -> natsStatus {
    super::run("nats_OpenWithConfig", || {
        // SAFETY: NULL or valid per the contract.
        match unsafe { config.as_ref() } {
            Some(c) => open_with(c),
            None => lib_config(),
        };
        Ok(())
    })
}

/// Closes the library: settings taken at open are forgotten (the next open
/// takes them anew), and so is the thread-started handler. Returns at once.
///
/// Our shared threads have no work once every connection is destroyed: they
/// stay idle until `nats_CloseAndWait` stops them, or the process exits. The
/// library can be used again afterwards (nats.c would fail to re-open).
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_Close() {
    super::guard("nats_Close", (), || {
        close_lib();
    });
}

/// Forgets the settings of the open library; false if it was not open.
fn close_lib() -> bool {
    let was_open = LIB.lock().take().is_some();
    crate::threads::set_started_hook(None);
    was_open
}

/// Closes the library as `nats_Close` does, then waits up to `timeout` ms
/// (≤ 0: as long as it takes) until every connection was freed (destroyed,
/// with its subscriptions and pending callbacks), then stops every library
/// thread (io loops, event thread, delivery threads and pool) and joins
/// them: when it returns `NATS_OK` the library runs no thread. The next use
/// of the library starts them again.
///
/// Returns `NATS_NOT_INITIALIZED` if the library was never opened (or was
/// fully closed by this call before), `NATS_ILLEGAL_STATE` if `nats_Close`
/// already closed it or when called from a
/// library thread (a callback), `NATS_TIMEOUT` if connections are still
/// alive after `timeout` (closing goes on).
///
/// # Safety
/// None: any value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_CloseAndWait(timeout: i64) -> natsStatus {
    super::run("nats_CloseAndWait", || {
        if crate::threads::on_library_thread() {
            return Err(Error::new(
                ErrorKind::IllegalState,
                "nats_CloseAndWait cannot be called from a library thread",
            ));
        }
        if !close_lib() {
            return Err(if EVER_OPENED.load(std::sync::atomic::Ordering::Acquire) {
                Error::new(ErrorKind::IllegalState, "the library is already closed")
            } else {
                Error::new(ErrorKind::NotInitialized, "the library was never opened")
            });
        }
        let deadline = (timeout > 0)
            .then(|| std::time::Instant::now() + Duration::from_millis(timeout.unsigned_abs()));
        if !crate::connection::wait_connections_freed(deadline) {
            return Err(Error::new(
                ErrorKind::Timeout,
                "connections are still alive (not destroyed)",
            ));
        }
        // No library thread is left when this returns OK (a user callback
        // still running counts: its thread is waited for).
        if !crate::threads::stop_all(deadline) {
            return Err(Error::new(
                ErrorKind::Timeout,
                "library threads are still running (a callback has not returned)",
            ));
        }
        // Fully torn down: as if never opened (nats.c then answers
        // NATS_NOT_INITIALIZED again).
        EVER_OPENED.store(false, std::sync::atomic::Ordering::Release);
        Ok(())
    })
}

/// Returns the version of the nats.c API this library implements, "3.14.0"
/// (the same as `NATS_VERSION_STRING` in this header): programs that check
/// it against nats.c's numbers see a nats.c 3.14. Our own release is
/// `natsLib_GetLibnatsRsVersion()`.
///
/// Ownership: a static string; do not free it.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_GetVersion() -> *const c_char {
    VERSION.as_ptr()
}

/// Returns the nats.c API version as a number, `0xMMmmpp` (0x030E00 for
/// 3.14.0); see `nats_GetVersion`.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_GetVersionNumber() -> u32 {
    VERSION_NUMBER
}

/// Extension (not in nats.c): the version of libnats-rs itself (its crate
/// version, e.g. "0.1.0"), as opposed to the nats.c API level that
/// `nats_GetVersion` reports. `NATS_EXT_LIBNATS_RS_VERSION` is defined
/// where this exists.
///
/// Ownership: a static string; do not free it.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsLib_GetLibnatsRsVersion() -> *const c_char {
    OWN_VERSION.as_ptr()
}

const OWN_VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };

/// Formats a version number `0xMMmmpp` as "M.m.p".
fn version_string(n: u32) -> String {
    format!("{}.{}.{}", (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF)
}

/// Checks that the header a program was compiled with suits this library;
/// called by the `nats_CheckCompatibility()` macro.
///
/// Returns true when compatible: the header's version is at least 3.4.0 and
/// the version it requires is at most ours (3.14.0). Otherwise, as nats.c
/// does, prints both versions to standard output and exits the process with
/// status 1.
///
/// NULL: `verString` NULL is printed as "(null)".
///
/// # Safety
/// `verString` must be NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_CheckCompatibilityImpl(
    reqVerNumber: u32,
    verNumber: u32,
    verString: *const c_char,
) -> bool {
    super::guard("nats_CheckCompatibilityImpl", true, || {
        if verNumber >= VERSION_REQUIRED_NUMBER && reqVerNumber <= VERSION_NUMBER {
            return true;
        }
        let header = if verString.is_null() {
            "(null)".to_owned()
        } else {
            // SAFETY: non-NULL and NUL-terminated per the contract.
            unsafe { CStr::from_ptr(verString) }
                .to_string_lossy()
                .into_owned()
        };
        let text = format!(
            "Incompatible versions:\nHeader : {header} (requires {})\nLibrary: {} (requires {})\n",
            version_string(reqVerNumber),
            VERSION.to_string_lossy(),
            version_string(VERSION_REQUIRED_NUMBER),
        );
        let text = CString::new(text.replace('\0', "")).unwrap_or_default();
        // SAFETY: both are valid NUL-terminated strings; printf goes through C's
        // stdout so the output keeps its order with the program's own printf
        // calls, and exit flushes it.
        unsafe {
            libc::printf(c"%s".as_ptr(), text.as_ptr());
            libc::exit(1)
        }
    })
}

/// Time since the Unix epoch (zero if the clock is before it).
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Returns the current time in milliseconds since the Unix epoch.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_Now() -> i64 {
    i64::try_from(since_epoch().as_millis()).unwrap_or(i64::MAX)
}

/// Returns the current time in nanoseconds since the Unix epoch.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_NowInNanoSeconds() -> i64 {
    i64::try_from(since_epoch().as_nanos()).unwrap_or(i64::MAX)
}

/// Returns a monotonic time in nanoseconds (`CLOCK_MONOTONIC`), for measuring
/// intervals; its origin is unspecified.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_NowMonotonicInNanoSeconds() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc == 0 && ts.tv_sec >= 0 && ts.tv_nsec >= 0 {
        // Through Duration: `time_t` and `c_long` differ between targets.
        let d = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        if ns != 0 {
            return ns;
        }
    }
    // SAFETY: no preconditions.
    unsafe { nats_NowInNanoSeconds() }
}

/// Suspends the calling thread for at least `sleepTime` milliseconds.
///
/// A negative or zero `sleepTime` returns at once.
///
/// # Safety
/// None: any value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_Sleep(sleepTime: i64) {
    super::guard("nats_Sleep", (), || {
        if let Some(d) = super::millis(sleepTime).filter(|d| !d.is_zero()) {
            std::thread::sleep(d);
        }
    })
}

/// Runs `f` on this thread's last error, if it can be reached (not during
/// thread teardown or a nested borrow).
fn with_last_error<T>(f: impl FnOnce(&LastError) -> T) -> Option<T> {
    LAST_ERROR
        .try_with(|l| l.try_borrow().ok().map(|l| f(&l)))
        .ok()
        .flatten()
}

/// Returns the text of the calling thread's last error.
///
/// If the thread has no error, returns NULL and stores `NATS_OK`; otherwise
/// stores the error's status in `*status` and returns its text, which is ""
/// when the error came without one.
///
/// NULL: `status` may be NULL (the status is then not stored).
///
/// Ownership: the text belongs to the thread; it stays valid until the
/// thread's next error or `nats_ReleaseThreadMemory`. Do not free it.
///
/// # Safety
/// `status` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_GetLastError(status: *mut natsStatus) -> *const c_char {
    super::guard("nats_GetLastError", std::ptr::null(), || {
        let (sts, text) = with_last_error(|l| (l.status, l.text.as_ptr()))
            .unwrap_or((natsStatus::NATS_OK, std::ptr::null()));
        if !status.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *status = sts };
        }
        if sts == natsStatus::NATS_OK {
            std::ptr::null()
        } else {
            text
        }
    })
}

/// The function names of the last error's stack, one per line, then
/// "\n<N> more..." if frames were dropped; `None` if there is no error.
fn stack_lines(l: &LastError) -> Option<String> {
    if l.status == natsStatus::NATS_OK || l.frames.is_empty() {
        return None;
    }
    let mut s = l.frames.join("\n");
    if l.more > 0 {
        s.push_str(&format!("\n{} more...", l.more));
    }
    Some(s)
}

/// Copies the calling thread's last error stack into `buffer`: the names of
/// the functions the error went through, one per line, innermost first.
///
/// With no error, `buffer` receives "" and `NATS_OK` is returned. If the stack
/// does not fit, `buffer` receives as much as fits (NUL-terminated) and
/// `NATS_INSUFFICIENT_BUFFER` is returned.
///
/// NULL: `buffer` NULL or `bufLen` 0 → `NATS_INVALID_ARG`.
///
/// As in nats.c, this function never records an error itself, so that the
/// stack being read is not replaced by a failure to read it.
///
/// # Safety
/// `buffer` must be NULL or point to `bufLen` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_GetLastErrorStack(buffer: *mut c_char, bufLen: usize) -> natsStatus {
    if buffer.is_null() || bufLen == 0 {
        return natsStatus::NATS_INVALID_ARG;
    }
    super::guard("nats_GetLastErrorStack", natsStatus::NATS_ERR, || {
        let text = with_last_error(stack_lines).flatten().unwrap_or_default();
        let fits = text.len() < bufLen;
        let n = if fits { text.len() } else { bufLen - 1 };
        // SAFETY: `n + 1 <= bufLen` writable bytes at `buffer`; the regions do
        // not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buffer.cast::<u8>(), n);
            *buffer.add(n) = 0;
        }
        if fits {
            natsStatus::NATS_OK
        } else {
            natsStatus::NATS_INSUFFICIENT_BUFFER
        }
    })
}

/// The report `nats_PrintLastErrorStack` prints, or `None` without an error.
fn error_report(l: &LastError) -> Option<String> {
    stack_lines(l)?;
    let mut s = format!(
        "Error: {} - {}",
        l.status as u32,
        status::status_text(l.status as i64).to_string_lossy()
    );
    if !l.text.is_empty() {
        s.push_str(" - ");
        s.push_str(&l.text.to_string_lossy());
    }
    s.push('\n');
    s.push_str(&format!(
        "Stack: (library version: {})\n",
        VERSION.to_string_lossy()
    ));
    for (i, f) in l.frames.iter().enumerate() {
        s.push_str(&format!("  {:02} - {f}\n", i + 1));
    }
    if l.more > 0 {
        s.push_str(&format!(" {} more...\n", l.more));
    }
    Some(s)
}

/// Prints the calling thread's last error (status, its text, the error text)
/// and its stack to `file`, then flushes `file`.
///
/// Prints nothing if the thread has no error.
///
/// NULL: `file` NULL does nothing (nats.c crashes).
///
/// # Safety
/// `file` must be NULL or an open, writable `FILE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_PrintLastErrorStack(file: *mut libc::FILE) {
    super::guard("nats_PrintLastErrorStack", (), || {
        if file.is_null() {
            return;
        }
        let Some(report) = with_last_error(error_report).flatten() else {
            return;
        };
        let report = CString::new(report.replace('\0', "")).unwrap_or_default();
        // SAFETY: `file` is an open FILE per the contract; `report` is a valid
        // NUL-terminated string.
        unsafe {
            libc::fputs(report.as_ptr(), file);
            libc::fflush(file);
        }
    })
}

/// Returns the fixed text of a status, e.g. "Timeout" for `NATS_TIMEOUT`.
///
/// A value outside the enum gives "Unknown Status" (nats.c reads past its
/// table). rustls-ffi takes such inputs as a plain integer; the enum type is
/// kept here for source compatibility with nats.h.
///
/// Ownership: a static string; do not free it.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsStatus_GetText(s: natsStatus) -> *const c_char {
    status::status_text(s as i64).as_ptr()
}

/// Releases the calling thread's library memory: its last error is cleared.
///
/// Useful on threads created by the application before they exit; it is also
/// safe to call at any other time.
///
/// # Safety
/// None.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_ReleaseThreadMemory() {
    super::guard("nats_ReleaseThreadMemory", (), || {
        let _ = LAST_ERROR.try_with(|l| {
            if let Ok(mut l) = l.try_borrow_mut() {
                l.status = natsStatus::NATS_OK;
                l.text = CString::default();
                l.frames = Vec::new();
                l.more = 0;
            }
        });
    })
}

/// Sets the size of the shared message delivery pool (used by connections
/// whose options say `natsOptions_UseGlobalMessageDelivery(opts, true)`).
/// The pool only grows: a smaller value than the current size changes
/// nothing. Its threads start lazily, one per new subscription until full.
///
/// Returns `NATS_ERR` if `max` is zero or negative (as nats.c does).
///
/// # Safety
/// None: any value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nats_SetMessageDeliveryPoolSize(max: c_int) -> natsStatus {
    super::run("nats_SetMessageDeliveryPoolSize", || {
        if max <= 0 {
            return Err(Error::new(
                ErrorKind::Other,
                "pool size must be greater than zero",
            ));
        }
        lib_config();
        crate::delivery::set_pool_size(max.unsigned_abs() as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_defaults_as_nats_c_reads_them() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = env_config_from(vars(&[]));
        assert!(!c.DefaultToThreadPool);
        assert_eq!((c.ThreadPoolMax, c.DefaultWriteDeadline), (1, 0));
        let c = env_config_from(vars(&[
            ("NATS_DEFAULT_TO_LIB_MSG_DELIVERY", ""),
            ("NATS_DEFAULT_LIB_MSG_DELIVERY_POOL_SIZE", " 8 "),
            ("NATS_DEFAULT_LIB_WRITE_DEADLINE", "250"),
        ]));
        assert!(c.DefaultToThreadPool, "any value, even empty, enables it");
        assert_eq!((c.ThreadPoolMax, c.DefaultWriteDeadline), (8, 250));
        let c = env_config_from(vars(&[
            ("NATS_DEFAULT_LIB_MSG_DELIVERY_POOL_SIZE", "0"),
            ("NATS_DEFAULT_LIB_WRITE_DEADLINE", "-5"),
        ]));
        assert_eq!(
            (c.ThreadPoolMax, c.DefaultWriteDeadline),
            (1, 0),
            "only positive values count"
        );
    }
    use crate::ffi::msg::natsMsg_Create;
    use std::ptr;

    /// Makes the thread's last error a failed `natsMsg_Create`.
    fn fail_create() {
        let mut m = ptr::null_mut();
        // SAFETY: NULL subject is accepted and rejected.
        let s = unsafe { natsMsg_Create(&mut m, ptr::null(), ptr::null(), ptr::null(), 0) };
        assert_eq!(s, natsStatus::NATS_INVALID_ARG);
    }

    fn text(p: *const c_char) -> String {
        assert!(!p.is_null());
        // SAFETY: the library returned a NUL-terminated string.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
    }

    #[test]
    fn open_close() {
        // SAFETY: no preconditions.
        unsafe {
            assert_eq!(nats_Open(-1), natsStatus::NATS_OK);
            assert_eq!(nats_Open(-5), natsStatus::NATS_OK);
            assert_eq!(nats_Open(1000), natsStatus::NATS_OK);
            nats_Close();
            // Other tests of this process may reopen the library meanwhile.
            assert!(matches!(
                nats_CloseAndWait(1),
                natsStatus::NATS_ILLEGAL_STATE | natsStatus::NATS_OK | natsStatus::NATS_TIMEOUT
            ));
            assert_eq!(nats_Open(-1), natsStatus::NATS_OK);
            // Never from a library thread (a callback).
            let (tx, rx) = std::sync::mpsc::channel();
            crate::threads::spawn("test", move || {
                let _ = tx.send(nats_CloseAndWait(0));
            })
            .unwrap();
            assert_eq!(rx.recv().unwrap(), natsStatus::NATS_ILLEGAL_STATE);
        }
    }

    #[test]
    fn version() {
        // SAFETY: no preconditions; valid version string.
        unsafe {
            assert_eq!(text(nats_GetVersion()), "3.14.0");
            assert_eq!(nats_GetVersionNumber(), 0x030E00);
            // nats.c 3.4.1's header: requires 3.4.0, is 3.4.1.
            assert!(nats_CheckCompatibilityImpl(
                0x030400,
                0x030401,
                c"3.4.1".as_ptr()
            ));
            // Our own header.
            assert!(nats_CheckCompatibilityImpl(
                0x030400,
                0x030E00,
                c"3.14.0".as_ptr()
            ));
        }
        assert_eq!(version_string(0x030E00), "3.14.0");
        assert_eq!(version_string(0x030401), "3.4.1");
    }

    #[test]
    fn time() {
        // SAFETY: no preconditions.
        unsafe {
            let ms = nats_Now();
            let ns = nats_NowInNanoSeconds();
            assert!(ms > 1_600_000_000_000);
            assert!((ns / 1_000_000 - ms).abs() < 10_000);
            let m1 = nats_NowMonotonicInNanoSeconds();
            nats_Sleep(5);
            nats_Sleep(-1);
            nats_Sleep(0);
            let m2 = nats_NowMonotonicInNanoSeconds();
            assert!(m2 - m1 >= 5_000_000, "{m1} {m2}");
        }
    }

    #[test]
    fn last_error_and_stack() {
        // SAFETY: valid buffers and out-pointers throughout.
        unsafe {
            nats_ReleaseThreadMemory();
            let mut st = natsStatus::NATS_ERR;
            assert!(nats_GetLastError(&mut st).is_null());
            assert_eq!(st, natsStatus::NATS_OK);
            assert!(nats_GetLastError(ptr::null_mut()).is_null());
            let mut buf = [1 as c_char; 64];
            assert_eq!(
                nats_GetLastErrorStack(buf.as_mut_ptr(), buf.len()),
                natsStatus::NATS_OK
            );
            assert_eq!(text(buf.as_ptr()), "");

            fail_create();
            assert!(!nats_GetLastError(&mut st).is_null());
            assert_eq!(st, natsStatus::NATS_INVALID_ARG);
            assert!(!text(nats_GetLastError(ptr::null_mut())).is_empty());
            assert_eq!(
                nats_GetLastErrorStack(buf.as_mut_ptr(), buf.len()),
                natsStatus::NATS_OK
            );
            assert_eq!(text(buf.as_ptr()), "natsMsg_Create");

            // Successful calls keep the last error.
            assert_eq!(nats_Open(-1), natsStatus::NATS_OK);
            assert!(!nats_GetLastError(&mut st).is_null());
            assert_eq!(st, natsStatus::NATS_INVALID_ARG);

            // Exact fit, then one byte short.
            let len = "natsMsg_Create".len();
            assert_eq!(
                nats_GetLastErrorStack(buf.as_mut_ptr(), len + 1),
                natsStatus::NATS_OK
            );
            assert_eq!(
                nats_GetLastErrorStack(buf.as_mut_ptr(), len),
                natsStatus::NATS_INSUFFICIENT_BUFFER
            );
            assert_eq!(text(buf.as_ptr()), "natsMsg_Creat");
            assert_eq!(
                nats_GetLastErrorStack(buf.as_mut_ptr(), 1),
                natsStatus::NATS_INSUFFICIENT_BUFFER
            );
            assert_eq!(text(buf.as_ptr()), "");
            assert_eq!(
                nats_GetLastErrorStack(ptr::null_mut(), 10),
                natsStatus::NATS_INVALID_ARG
            );
            assert_eq!(
                nats_GetLastErrorStack(buf.as_mut_ptr(), 0),
                natsStatus::NATS_INVALID_ARG
            );
            // Reading the stack did not disturb it.
            assert!(!nats_GetLastError(&mut st).is_null());
            assert_eq!(st, natsStatus::NATS_INVALID_ARG);

            nats_ReleaseThreadMemory();
            assert!(nats_GetLastError(&mut st).is_null());
            assert_eq!(st, natsStatus::NATS_OK);
        }
    }

    #[test]
    fn stack_with_more_frames() {
        fail_create();
        for _ in 0..60 {
            crate::ffi::push_frame("outer");
        }
        let mut buf = vec![0 as c_char; 2048];
        // SAFETY: `buf` has `buf.len()` writable bytes.
        let s = unsafe { nats_GetLastErrorStack(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(s, natsStatus::NATS_OK);
        let t = text(buf.as_ptr());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 51);
        assert_eq!(lines[0], "natsMsg_Create");
        assert_eq!(lines[49], "outer");
        assert_eq!(lines[50], "11 more...");
        let report = with_last_error(error_report).flatten().unwrap();
        assert!(report.ends_with("  50 - outer\n 11 more...\n"), "{report}");
        // SAFETY: no preconditions.
        unsafe { nats_ReleaseThreadMemory() };
    }

    #[test]
    fn print_stack() {
        fail_create();
        let report = with_last_error(error_report).flatten().unwrap();
        let mut lines = report.lines();
        let first = lines.next().unwrap();
        assert!(
            first.starts_with("Error: 16 - Invalid Argument - "),
            "{first}"
        );
        assert_eq!(lines.next(), Some("Stack: (library version: 3.14.0)"));
        assert_eq!(lines.next(), Some("  01 - natsMsg_Create"));
        assert_eq!(lines.next(), None);

        // Through a real FILE.
        // SAFETY: tmpfile returns an open FILE or NULL; the buffer is sized.
        unsafe {
            let f = libc::tmpfile();
            assert!(!f.is_null());
            nats_PrintLastErrorStack(f);
            nats_PrintLastErrorStack(ptr::null_mut());
            libc::rewind(f);
            let mut out = vec![0u8; 4096];
            let n = libc::fread(out.as_mut_ptr().cast(), 1, out.len(), f);
            libc::fclose(f);
            assert_eq!(&out[..n], report.as_bytes());
            nats_ReleaseThreadMemory();
            let f = libc::tmpfile();
            nats_PrintLastErrorStack(f);
            libc::rewind(f);
            let n = libc::fread(out.as_mut_ptr().cast(), 1, out.len(), f);
            libc::fclose(f);
            assert_eq!(n, 0, "no error prints nothing");
        }
    }

    #[test]
    fn status_texts() {
        // SAFETY: no preconditions.
        unsafe {
            assert_eq!(text(natsStatus_GetText(natsStatus::NATS_OK)), "OK");
            assert_eq!(
                text(natsStatus_GetText(natsStatus::NATS_TIMEOUT)),
                "Timeout"
            );
            assert_eq!(
                text(natsStatus_GetText(natsStatus::NATS_NO_SERVER)),
                "No server available for connection"
            );
            assert_eq!(
                text(natsStatus_GetText(natsStatus::NATS_INVALID_CONFIG)),
                "Invalid Configuration"
            );
            assert_eq!(
                text(natsStatus_GetText(natsStatus::NATS_MAX_STATUS_VALUE)),
                "Unknown Status"
            );
        }
    }

    #[test]
    fn delivery_pool_size() {
        // SAFETY: no preconditions.
        unsafe {
            assert_eq!(nats_SetMessageDeliveryPoolSize(4), natsStatus::NATS_OK);
            assert_eq!(nats_SetMessageDeliveryPoolSize(0), natsStatus::NATS_ERR);
            assert_eq!(nats_SetMessageDeliveryPoolSize(-3), natsStatus::NATS_ERR);
            let mut st = natsStatus::NATS_OK;
            assert!(!nats_GetLastError(&mut st).is_null());
            assert_eq!(st, natsStatus::NATS_ERR);
            nats_ReleaseThreadMemory();
        }
    }
}
