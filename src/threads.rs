//! Every thread the library starts goes through [`spawn`], which first calls
//! the application's thread-started hook (nats.c's `ThreadStartedHandler`,
//! set with `nats_OpenWithConfig`).

use std::sync::Arc;

use parking_lot::Mutex;

/// Called at the start of each library thread.
pub type ThreadStartedHook = Arc<dyn Fn() + Send + Sync>;

static HOOK: Mutex<Option<ThreadStartedHook>> = Mutex::new(None);

thread_local! {
    static LIBRARY_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True on a thread the library started (callbacks run on those).
pub(crate) fn on_library_thread() -> bool {
    LIBRARY_THREAD.with(std::cell::Cell::get)
}

/// Sets (or clears) the hook called at the start of each library thread.
pub(crate) fn set_started_hook(hook: Option<ThreadStartedHook>) {
    *HOOK.lock() = hook;
}

/// The library threads of this process not yet joined, and how many of
/// them are still running their body (pid: a forked child has none of its
/// parent's threads).
struct Registry {
    pid: u32,
    handles: Vec<std::thread::JoinHandle<()>>,
    running: usize,
}

static THREADS: Mutex<Registry> = Mutex::new(Registry {
    pid: 0,
    handles: Vec::new(),
    running: 0,
});
static ENDED: parking_lot::Condvar = parking_lot::Condvar::new();

/// The registry of this process (reset in a forked child).
fn registry() -> parking_lot::MutexGuard<'static, Registry> {
    let mut reg = THREADS.lock();
    let pid = std::process::id();
    if reg.pid != pid {
        // Forked child: those threads are the parent's; never join them.
        std::mem::forget(std::mem::take(&mut reg.handles));
        reg.pid = pid;
        reg.running = 0;
    }
    reg
}

/// Counts a library thread as ended when its body returns (or unwinds).
struct Running(u32);

impl Drop for Running {
    fn drop(&mut self) {
        let mut reg = THREADS.lock();
        if reg.pid == self.0 {
            reg.running = reg.running.saturating_sub(1);
            ENDED.notify_all();
        }
    }
}

/// Starts a named library thread. Its handle is kept so that
/// [`join_all`] can wait for every library thread to end.
pub(crate) fn spawn<F>(name: &str, f: F) -> std::io::Result<std::thread::Thread>
where
    F: FnOnce() + Send + 'static,
{
    let hook = HOOK.lock().clone();
    // Counted before it starts (its end may come first); if it cannot be
    // started, dropping the closure uncounts it. No lock is held meanwhile.
    let running = {
        let mut reg = registry();
        reg.running += 1;
        Running(reg.pid)
    };
    let h = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _running = running;
            LIBRARY_THREAD.with(|t| t.set(true));
            if let Some(h) = hook {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h()));
            }
            f()
        })?;
    let t = h.thread().clone();
    let mut reg = registry();
    // Short-lived threads (resolvers, delivery threads of ended
    // subscriptions) are reaped here, so the list stays short.
    reg.handles.retain(|h| !h.is_finished());
    reg.handles.push(h);
    Ok(t)
}

/// Waits until every library thread has ended and joins them, or until
/// `deadline` passes (false). Call only after asking the long-lived
/// threads to stop, and not from a library thread.
pub(crate) fn join_all(deadline: Option<std::time::Instant>) -> bool {
    let handles = {
        let mut reg = registry();
        while reg.running > 0 {
            match deadline {
                Some(d) => {
                    if ENDED.wait_until(&mut reg, d).timed_out() && reg.running > 0 {
                        return false;
                    }
                }
                None => ENDED.wait(&mut reg),
            }
        }
        std::mem::take(&mut reg.handles)
    };
    // Every body has returned: each join only waits for the thread's exit.
    for h in handles {
        let _ = h.join();
    }
    true
}

/// Stops every library thread (io loops, event thread, delivery pool,
/// helpers): for `nats_CloseAndWait`, once no connection is left. The next
/// use of the library starts them again. False if some thread was still
/// running at `deadline`.
pub(crate) fn stop_all(deadline: Option<std::time::Instant>) -> bool {
    let loops = crate::driver::shutdown();
    crate::dispatch::shutdown();
    crate::delivery::shutdown();
    let ended = join_all(deadline);
    drop(loops);
    ended
}
