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

/// Starts a named library thread.
pub(crate) fn spawn<F>(name: &str, f: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let hook = HOOK.lock().clone();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            LIBRARY_THREAD.with(|t| t.set(true));
            if let Some(h) = hook {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h()));
            }
            f()
        })
}
