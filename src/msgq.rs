//! A subscription's message queue: the io loop pushes, the subscription's
//! reader (`next_msg` or its delivery thread) takes.
//!
//! One mutex around a `VecDeque` and a condition variable. A delivery thread
//! takes everything queued at once ([`MsgQueue::take_all`]) and runs its
//! handler over that batch without touching the queue again, so under load a
//! message costs the io loop one uncontended lock and the reader a share of
//! one. The sending end ([`QueueTx`]) closes the queue when dropped (the
//! engine forgot the subscription); the reader still gets what was queued
//! before that, then `Disconnected`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use crossbeam_channel::{RecvTimeoutError, TryRecvError};
use parking_lot::{Condvar, Mutex};

use crate::message::Message;

/// See the module documentation.
pub(crate) struct MsgQueue {
    state: Mutex<State>,
    ready: Condvar,
}

struct State {
    items: VecDeque<Message>,
    /// The sending end is gone: nothing more will be pushed.
    closed: bool,
}

/// The sending end; dropping it closes the queue.
pub(crate) struct QueueTx(Arc<MsgQueue>);

/// A new queue and its sending end.
pub(crate) fn queue() -> (QueueTx, Arc<MsgQueue>) {
    let q = Arc::new(MsgQueue {
        state: Mutex::new(State {
            items: VecDeque::new(),
            closed: false,
        }),
        ready: Condvar::new(),
    });
    (QueueTx(q.clone()), q)
}

impl QueueTx {
    /// Queues `m` and wakes a waiting reader.
    pub(crate) fn send(&self, m: Message) {
        self.0.state.lock().items.push_back(m);
        self.0.ready.notify_one();
    }
}

impl Drop for QueueTx {
    fn drop(&mut self) {
        self.0.state.lock().closed = true;
        self.0.ready.notify_all();
    }
}

impl MsgQueue {
    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.state.lock().items.is_empty()
    }

    /// True when something is queued or the queue is closed: a reader has
    /// something to do.
    pub(crate) fn has_news(&self) -> bool {
        let st = self.state.lock();
        !st.items.is_empty() || st.closed
    }

    /// The next message without waiting.
    pub(crate) fn try_recv(&self) -> Result<Message, TryRecvError> {
        let mut st = self.state.lock();
        match st.items.pop_front() {
            Some(m) => Ok(m),
            None if st.closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next message, waiting up to `timeout` (`None`: for as long as it
    /// takes).
    pub(crate) fn recv_timeout(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Message, RecvTimeoutError> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut st = self.state.lock();
        loop {
            if let Some(m) = st.items.pop_front() {
                return Ok(m);
            }
            if st.closed {
                return Err(RecvTimeoutError::Disconnected);
            }
            match (timeout, deadline) {
                (Some(_), Some(d)) => {
                    if self.ready.wait_until(&mut st, d).timed_out() && st.items.is_empty() {
                        return Err(if st.closed {
                            RecvTimeoutError::Disconnected
                        } else {
                            RecvTimeoutError::Timeout
                        });
                    }
                }
                // No timeout, or one too far to represent: wait unbounded.
                _ => self.ready.wait(&mut st),
            }
        }
    }

    /// Moves everything queued into `batch` (which should be empty), without
    /// waiting; returns how many. The only error is `Disconnected`: nothing
    /// is queued and nothing more will be.
    pub(crate) fn take_all(&self, batch: &mut VecDeque<Message>) -> Result<usize, TryRecvError> {
        let mut st = self.state.lock();
        if st.items.is_empty() {
            return if st.closed {
                Err(TryRecvError::Disconnected)
            } else {
                Ok(0)
            };
        }
        std::mem::swap(&mut st.items, batch);
        Ok(batch.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::MsgFrame;

    fn msg(n: u64) -> Message {
        Message::from_frame_lenient(MsgFrame::build(1, "s", None, b"", &n.to_le_bytes()))
    }

    fn num(m: &Message) -> u64 {
        u64::from_le_bytes(m.payload().try_into().unwrap_or([0xff; 8]))
    }

    #[test]
    fn order_close_and_rest() {
        let (tx, q) = queue();
        assert!(matches!(q.try_recv(), Err(TryRecvError::Empty)));
        for i in 1..=3 {
            tx.send(msg(i));
        }
        assert!(!q.is_empty());
        assert_eq!(q.try_recv().map(|m| num(&m)).ok(), Some(1));
        drop(tx);
        // Queued before the close: still delivered, in order.
        assert_eq!(q.recv_timeout(None).map(|m| num(&m)).ok(), Some(2));
        let mut batch = VecDeque::new();
        assert_eq!(q.take_all(&mut batch).ok(), Some(1));
        assert_eq!(batch.pop_front().map(|m| num(&m)), Some(3));
        assert!(matches!(
            q.take_all(&mut batch),
            Err(TryRecvError::Disconnected)
        ));
        assert!(matches!(q.try_recv(), Err(TryRecvError::Disconnected)));
        assert!(matches!(
            q.recv_timeout(Some(Duration::from_secs(5))),
            Err(RecvTimeoutError::Disconnected)
        ));
    }

    #[test]
    fn timeout_and_wakeup() {
        let (tx, q) = queue();
        let t0 = Instant::now();
        assert!(matches!(
            q.recv_timeout(Some(Duration::from_millis(30))),
            Err(RecvTimeoutError::Timeout)
        ));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        let reader = {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(m) = q.recv_timeout(Some(Duration::from_secs(30))) {
                    got.push(num(&m));
                }
                got
            })
        };
        for i in 0..1000 {
            tx.send(msg(i));
        }
        drop(tx);
        let got = reader.join().unwrap_or_default();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn news_is_a_message_or_the_close() {
        let (tx, q) = queue();
        assert!(!q.has_news());
        tx.send(msg(1));
        assert!(q.has_news());
        assert!(q.try_recv().is_ok());
        assert!(!q.has_news());
        drop(tx);
        assert!(q.has_news());
    }

    #[test]
    fn take_all_empty_open() {
        let (tx, q) = queue();
        let mut batch = VecDeque::new();
        assert_eq!(q.take_all(&mut batch).ok(), Some(0));
        tx.send(msg(7));
        tx.send(msg(8));
        assert_eq!(q.take_all(&mut batch).ok(), Some(2));
        assert!(q.is_empty());
    }
}
