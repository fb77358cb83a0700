//! The event thread: connection callbacks (closed, disconnected, reconnected,
//! async errors) run here, in order, never on an io loop, so a slow callback
//! can never delay PONGs. One thread serves the whole process; it is started
//! lazily and again in a forked child.

use std::sync::Arc;

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send>;

struct EventThread {
    pid: u32,
    tx: Sender<Job>,
    thread_id: std::thread::ThreadId,
}

static EVENTS: Mutex<Option<EventThread>> = Mutex::new(None);

/// Tracks one connection's callbacks still queued or running, so that
/// destroying a connection can wait until none is left (natsc-defects.md #7).
#[derive(Default)]
pub(crate) struct InFlight {
    count: Mutex<usize>,
    done: Condvar,
}

impl InFlight {
    /// Waits until no callback of this owner is queued or running, unless the
    /// caller is the event thread itself (which would deadlock).
    pub(crate) fn wait_idle(&self) {
        if on_event_thread() {
            return;
        }
        let mut n = self.count.lock();
        while *n > 0 {
            self.done.wait(&mut n);
        }
    }
}

/// True if the current thread is the event thread.
pub(crate) fn on_event_thread() -> bool {
    EVENTS
        .lock()
        .as_ref()
        .is_some_and(|e| e.thread_id == std::thread::current().id())
}

/// Queues `job` on the event thread, counted in `owner`.
pub(crate) fn post(owner: &Arc<InFlight>, job: impl FnOnce() + Send + 'static) {
    *owner.count.lock() += 1;
    let owner2 = owner.clone();
    let wrapped: Job = Box::new(move || {
        // A panicking callback must not take the event thread down.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        let mut n = owner2.count.lock();
        *n -= 1;
        if *n == 0 {
            owner2.done.notify_all();
        }
    });
    let tx = {
        let mut g = EVENTS.lock();
        let pid = std::process::id();
        if g.as_ref().is_none_or(|e| e.pid != pid) {
            if let Some(old) = g.take() {
                std::mem::forget(old); // its thread does not exist in a forked child
            }
            *g = spawn(pid);
        }
        g.as_ref().map(|e| e.tx.clone())
    };
    let job = match tx {
        Some(tx) => match tx.send(wrapped) {
            Ok(()) => return,
            Err(e) => e.0,
        },
        None => wrapped,
    };
    // No event thread could be started: run inline rather than lose the event.
    job();
}

/// Lets the event thread end once it has run what is queued; the next
/// event starts a new one.
pub(crate) fn shutdown() {
    let old = EVENTS.lock().take();
    if let Some(old) = old
        && old.pid != std::process::id()
    {
        std::mem::forget(old); // A forked child: not our thread.
    }
}

fn spawn(pid: u32) -> Option<EventThread> {
    let (tx, rx) = crossbeam_channel::unbounded::<Job>();
    let h = crate::threads::spawn("nats-events", move || {
        for job in rx {
            job();
        }
    })
    .ok()?;
    Some(EventThread {
        pid,
        tx,
        thread_id: h.id(),
    })
}
