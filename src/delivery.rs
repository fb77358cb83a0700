//! Where asynchronous subscriptions' handlers run.
//!
//! By default each asynchronous subscription has its own delivery thread (as
//! in nats.c). With `Options::global_message_delivery`, subscriptions share a
//! process-wide pool of delivery threads instead: subscription number `i` is
//! served by worker `i % size`, workers are started lazily (one per new
//! subscription until the pool is full), and the pool only grows
//! ([`set_pool_size`]). A worker runs one handler at a time, so the handlers
//! of subscriptions on the same worker never overlap, and each
//! subscription's messages are handled in order.
//!
//! A worker learns that a subscription is over when the engine drops the
//! subscription's sink (unsubscribed, drained, at its maximum, connection
//! closed): the sink's [`PoolTx`] then queues an `End` after the
//! subscription's last message.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;

type Handler = Box<dyn FnMut(Option<Message>) + Send>;

/// What a pool subscription needs on its worker.
pub(crate) struct PoolSub {
    /// Called with each message, or `None` after `idle` without one.
    deliver: Mutex<Option<Handler>>,
    /// Called once when the subscription is over.
    end: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    idle: Option<Duration>,
    /// Called when the worker is about to wait after handling messages of
    /// this subscription (writes what its handlers published).
    before_wait: Box<dyn Fn() + Send + Sync>,
    /// Handled since the worker last waited.
    touched: AtomicBool,
}

impl PoolSub {
    pub(crate) fn new(
        deliver: Handler,
        end: Box<dyn FnOnce() + Send>,
        idle: Option<Duration>,
        before_wait: Box<dyn Fn() + Send + Sync>,
    ) -> Arc<PoolSub> {
        Arc::new(PoolSub {
            deliver: Mutex::new(Some(deliver)),
            end: Mutex::new(Some(end)),
            idle,
            before_wait,
            touched: AtomicBool::new(false),
        })
    }
}

pub(crate) enum Job {
    /// A subscription starts (its idle timer, if any, starts now).
    Start(Arc<PoolSub>),
    Msg(Arc<PoolSub>, Message),
    End(Arc<PoolSub>),
}

/// The engine-side sender of a pool subscription; dropping it (with the
/// subscription's sink) ends the subscription on its worker.
pub(crate) struct PoolTx {
    pub(crate) tx: Sender<Job>,
    pub(crate) sub: Arc<PoolSub>,
}

impl PoolTx {
    pub(crate) fn send(&self, m: Message) -> bool {
        self.tx.send(Job::Msg(self.sub.clone(), m)).is_ok()
    }
}

impl Drop for PoolTx {
    fn drop(&mut self) {
        if self.tx.send(Job::End(self.sub.clone())).is_err() {
            // No worker (it could not start): end here.
            run_end(&self.sub);
        }
    }
}

struct Pool {
    pid: u32,
    size: usize,
    workers: Vec<Sender<Job>>,
    next: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    pid: 0,
    size: 1,
    workers: Vec::new(),
    next: 0,
});

/// Sets the pool's size; it never shrinks (a smaller value is accepted and
/// changes nothing).
///
/// # Errors
/// `InvalidArg` for 0.
pub fn set_pool_size(size: usize) -> Result<()> {
    if size == 0 {
        return Err(Error::new(
            ErrorKind::InvalidArg,
            "the delivery pool size must be greater than zero",
        ));
    }
    let mut p = POOL.lock();
    p.size = p.size.max(size);
    Ok(())
}

/// The pool's size and how many workers run (for tests and diagnostics).
pub fn pool_size() -> (usize, usize) {
    let p = POOL.lock();
    (p.size, p.workers.len())
}

/// Lets the pool's workers end once their subscriptions are gone; the next
/// pooled subscription starts new ones.
pub(crate) fn shutdown() {
    let mut p = POOL.lock();
    let workers = std::mem::take(&mut p.workers);
    if p.pid != std::process::id() {
        std::mem::forget(workers); // A forked child: not our threads.
    }
    p.next = 0;
}

/// Picks (and starts if needed) the worker of a new subscription.
pub(crate) fn assign() -> Result<Sender<Job>> {
    let mut p = POOL.lock();
    let pid = std::process::id();
    if p.pid != pid {
        // A forked child: the parent's workers do not exist here.
        std::mem::forget(std::mem::take(&mut p.workers));
        p.pid = pid;
        p.next = 0;
    }
    let i = p.next % p.size;
    p.next = p.next.wrapping_add(1);
    if i >= p.workers.len() {
        let (tx, rx) = crossbeam_channel::unbounded();
        crate::threads::spawn("nats-pool", move || worker(rx)).map_err(|e| {
            Error::new(
                ErrorKind::SysError,
                format!("cannot start a delivery pool thread: {e}"),
            )
        })?;
        p.workers.push(tx);
        return Ok(p.workers[p.workers.len() - 1].clone());
    }
    Ok(p.workers[i].clone())
}

fn run_end(sub: &Arc<PoolSub>) {
    drop(sub.deliver.lock().take());
    if let Some(f) = sub.end.lock().take() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    }
}

fn call(sub: &PoolSub, m: Option<Message>) {
    let mut d = sub.deliver.lock();
    if let Some(f) = d.as_mut() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(m)));
    }
}

/// One worker: handles jobs in order; runs idle timeouts of its
/// subscriptions that have one.
fn worker(rx: Receiver<Job>) {
    let mut timers: Vec<(Instant, Arc<PoolSub>)> = Vec::new();
    let rearm = |timers: &mut Vec<(Instant, Arc<PoolSub>)>, sub: &Arc<PoolSub>| {
        if let Some(d) = sub.idle {
            timers.retain(|(_, s)| !Arc::ptr_eq(s, sub));
            timers.push((Instant::now() + d, sub.clone()));
        }
    };
    // Subscriptions handled since the worker last waited.
    let mut touched: Vec<Arc<PoolSub>> = Vec::new();
    loop {
        let job = match rx.try_recv() {
            Ok(job) => Ok(job),
            Err(_) => {
                // About to wait: let the handled subscriptions' connections
                // write what the handlers published (replies).
                for sub in touched.drain(..) {
                    sub.touched.store(false, Ordering::Relaxed);
                    (sub.before_wait)();
                }
                match timers.iter().map(|(t, _)| *t).min() {
                    Some(at) => rx.recv_deadline(at),
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                }
            }
        };
        match job {
            Ok(Job::Start(sub)) => rearm(&mut timers, &sub),
            Ok(Job::Msg(sub, m)) => {
                call(&sub, Some(m));
                rearm(&mut timers, &sub);
                if !sub.touched.swap(true, Ordering::Relaxed) {
                    touched.push(sub);
                }
            }
            Ok(Job::End(sub)) => {
                timers.retain(|(_, s)| !Arc::ptr_eq(s, &sub));
                run_end(&sub);
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                let due: Vec<Arc<PoolSub>> = timers
                    .iter()
                    .filter(|(t, _)| *t <= now)
                    .map(|(_, s)| s.clone())
                    .collect();
                for sub in due {
                    call(&sub, None);
                    rearm(&mut timers, &sub);
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
