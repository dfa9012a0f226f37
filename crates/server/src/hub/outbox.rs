//! A connection's outbound queue: bounded, many senders (the hub, the session), one
//! receiver (the connection's writer), with the calls of `tokio::sync::mpsc` the server uses.
//!
//! Why not `tokio::sync::mpsc`: its channel allocates its first block of 32 slots when it
//! is made, so every connection held ~1.8 KB for a queue that is empty nearly all the time
//! (an idle connection's heap, measured with heaptrack: docs/benchmarks.md). Here the items
//! live in a `VecDeque` that allocates with the first item and gives its buffer back once
//! drained after a burst, so an idle connection keeps only the shared state (~150 bytes).
//! One uncontended lock per operation: the hub offers a delivery under the connection's own
//! numbering lock already, and the writer drains in batches.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// A drained queue keeps at most this many slots; a larger buffer (left by a burst) is
/// freed, so that connections idle after a burst do not each keep it.
const KEEP_SLOTS: usize = 16;

/// Makes a queue of at most `capacity` items (at least one).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            senders: 1,
            receiver: true,
        }),
        readable: Notify::new(),
        writable: Notify::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    /// Wakes the receiver: an item came, or the last sender left.
    readable: Notify,
    /// Wakes a sender waiting for room: an item was taken, or the receiver left.
    writable: Notify,
}

#[derive(Debug)]
struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    senders: usize,
    receiver: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing here panics while holding the lock; a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why `try_send` did not queue the item; the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The queue holds `capacity` items.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// `send` failed: the receiver is gone. The item comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why `try_recv` returned nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued now; senders remain.
    Empty,
    /// Nothing queued and every sender is gone.
    Disconnected,
}

/// The sending side; clone it for each producer.
#[derive(Debug)]
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.shared.readable.notify_one();
        }
    }
}

impl<T> Sender<T> {
    /// Queues `item` if there is room, without waiting.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        {
            let mut state = self.shared.lock();
            if !state.receiver {
                return Err(TrySendError::Closed(item));
            }
            if state.queue.len() >= state.capacity {
                return Err(TrySendError::Full(item));
            }
            state.queue.push_back(item);
        }
        self.shared.readable.notify_one();
        Ok(())
    }

    /// Queues `item`, waiting for room while the queue is full.
    pub async fn send(&self, mut item: T) -> Result<(), SendError<T>> {
        loop {
            // Registered before the check, so that room made in between wakes it.
            let room = self.shared.writable.notified();
            match self.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(back)) => return Err(SendError(back)),
                Err(TrySendError::Full(back)) => item = back,
            }
            room.await;
        }
    }
}

/// The receiving side (the connection's writer).
#[derive(Debug)]
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let dropped = {
            let mut state = self.shared.lock();
            state.receiver = false;
            std::mem::take(&mut state.queue)
        };
        // Outside the lock: an item's drop may do anything.
        drop(dropped);
        self.shared.writable.notify_waiters();
    }
}

impl<T> Receiver<T> {
    /// The next item, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let (item, had_room) = {
            let mut state = self.shared.lock();
            let was_full = state.queue.len() >= state.capacity;
            match state.queue.pop_front() {
                Some(item) => {
                    if state.queue.is_empty() && state.queue.capacity() > KEEP_SLOTS {
                        state.queue = VecDeque::new();
                    }
                    (item, was_full)
                }
                None if state.senders == 0 => return Err(TryRecvError::Disconnected),
                None => return Err(TryRecvError::Empty),
            }
        };
        if had_room {
            self.shared.writable.notify_one();
        }
        Ok(item)
    }

    /// The next item, waiting for one; `None` once the queue is empty and every sender is
    /// gone. Cancel-safe: dropping the future loses no item.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            // A `notify_one` with nobody waiting leaves a permit, so an item queued between
            // the check and the wait is not missed.
            match self.try_recv() {
                Ok(item) => return Some(item),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => self.shared.readable.notified().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn items_come_in_order_and_a_full_queue_refuses_without_losing_any() {
        let (tx, mut rx) = channel(3);
        for i in 0..3 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(rx.recv().await, Some(0));
        tx.try_send(3).unwrap();
        let got: Vec<i32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    // Paused time: the late sender's sleep ends only once `recv` is waiting (the runtime
    // has nothing else to run), so the wait is certain, not likely.
    #[tokio::test(start_paused = true)]
    async fn send_waits_for_room_and_recv_waits_for_an_item() {
        let (tx, mut rx) = channel(1);
        tx.try_send(1).unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(2).await }
        });
        // The sender cannot finish until the receiver takes the first item.
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!(rx.recv().await, Some(1));
        waiting.await.unwrap().unwrap();
        assert_eq!(rx.recv().await, Some(2));
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.try_send(3).unwrap();
        });
        assert_eq!(rx.recv().await, Some(3));
        late.await.unwrap();
    }

    #[tokio::test]
    async fn recv_ends_when_every_sender_is_gone_after_the_queued_items() {
        let (tx, mut rx) = channel(4);
        let tx2 = tx.clone();
        tx.try_send("a").unwrap();
        drop(tx);
        tx2.try_send("b").unwrap();
        drop(tx2);
        assert_eq!(rx.recv().await, Some("a"));
        assert_eq!(rx.recv().await, Some("b"));
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[tokio::test]
    async fn senders_see_a_closed_queue_once_the_receiver_is_gone() {
        let (tx, rx) = channel(1);
        tx.try_send(1).unwrap();
        let blocked = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(2).await }
        });
        tokio::task::yield_now().await;
        drop(rx);
        assert_eq!(blocked.await.unwrap(), Err(SendError(2)));
        assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    }

    #[tokio::test]
    async fn a_cancelled_recv_loses_nothing() {
        let (tx, mut rx) = channel(4);
        // A recv dropped while waiting (as `select!` does when another branch wins).
        let _ = tokio::time::timeout(Duration::from_millis(5), rx.recv()).await;
        tx.try_send(7).unwrap();
        assert_eq!(rx.recv().await, Some(7));
    }

    #[test]
    fn an_idle_queue_holds_no_buffer_and_a_drained_burst_gives_its_buffer_back() {
        let (tx, mut rx) = channel(1024);
        assert_eq!(tx.shared.lock().queue.capacity(), 0);
        for i in 0..500 {
            tx.try_send(i).unwrap();
        }
        assert!(tx.shared.lock().queue.capacity() >= 500);
        while rx.try_recv().is_ok() {}
        assert_eq!(tx.shared.lock().queue.capacity(), 0);
        // A small exchange keeps its few slots (no allocation per item).
        tx.try_send(1).unwrap();
        rx.try_recv().unwrap();
        assert!(tx.shared.lock().queue.capacity() <= KEEP_SLOTS);
    }
}
