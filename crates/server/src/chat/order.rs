//! The per-conversation order of timeline changes on this node: changes are published in
//! the order the store took them, which for one conversation is `seq` and `rev` order.
//!
//! Conversations hash onto a fixed set of stripes. Each stripe has an admission lock and a
//! chain of turns. A message send holds the admission lock only while the store takes the
//! write into its queue ([`Admission`]); the commit is then awaited without it, so many
//! sends of one conversation share a group commit. Its [`Turn`] then waits until every
//! change admitted before it has been published (or given up), publishes, and lets the
//! next one go by ending. Other changes (edits, reactions, membership) take the stripe
//! [`Order::exclusive`]ly: they wait for every earlier change to finish and keep later ones
//! out until they have published, as a plain lock would.
//!
//! A turn that ends without publishing (its write failed, or its task was cancelled) lets
//! its successor go all the same: a `oneshot` whose sender is dropped wakes the receiver.

use tokio::sync::{oneshot, Mutex, MutexGuard};

/// Stripes of the per-conversation order.
const STRIPES: usize = 1024;

/// The order of every conversation on this node.
#[derive(Debug)]
pub struct Order {
    /// Each stripe's lock guards the end of its chain: the signal the latest admitted
    /// change gives when it has published.
    stripes: Box<[Mutex<Option<oneshot::Receiver<()>>>]>,
}

impl Default for Order {
    fn default() -> Order {
        Order {
            stripes: (0..STRIPES).map(|_| Mutex::new(None)).collect(),
        }
    }
}

/// A place in a stripe's chain, with the stripe's admission lock still held: nothing else
/// is admitted until [`Admission::admitted`] (or drop).
#[derive(Debug)]
pub struct Admission<'a> {
    _lock: MutexGuard<'a, Option<oneshot::Receiver<()>>>,
    turn: Turn,
}

/// A change's turn to publish: [`Turn::wait`] returns once every change admitted before it
/// has published or given up; dropping the turn lets the next one go.
#[derive(Debug)]
pub struct Turn {
    before: Option<oneshot::Receiver<()>>,
    _done: oneshot::Sender<()>,
}

/// The stripe held exclusively: every earlier change has finished, no later one is admitted
/// until this is dropped.
#[derive(Debug)]
pub struct Exclusive<'a> {
    _lock: MutexGuard<'a, Option<oneshot::Receiver<()>>>,
}

impl Order {
    fn stripe(&self, cid: &str) -> &Mutex<Option<oneshot::Receiver<()>>> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        cid.hash(&mut h);
        &self.stripes[(h.finish() as usize) % self.stripes.len()]
    }

    /// Takes the next place in `cid`'s order; hold the admission while handing the write to
    /// the store, so that the store's order and this one agree.
    pub async fn admit(&self, cid: &str) -> Admission<'_> {
        let mut lock = self.stripe(cid).lock().await;
        let (done, next) = oneshot::channel();
        let before = lock.replace(next);
        Admission {
            _lock: lock,
            turn: Turn {
                before,
                _done: done,
            },
        }
    }

    /// Waits until every change admitted in `cid`'s stripe has finished, and keeps others out
    /// until the returned guard is dropped.
    pub async fn exclusive(&self, cid: &str) -> Exclusive<'_> {
        let mut lock = self.stripe(cid).lock().await;
        if let Some(before) = lock.take() {
            // An error only means the predecessor ended without publishing: go on.
            let _ = before.await;
        }
        Exclusive { _lock: lock }
    }
}

impl Admission<'_> {
    /// The write has its place in the store's order: lets later changes be admitted.
    pub fn admitted(self) -> Turn {
        self.turn
    }
}

impl Turn {
    /// Returns once every change admitted before this one has published or given up.
    pub async fn wait(&mut self) {
        if let Some(before) = self.before.take() {
            let _ = before.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex as StdMutex};

    #[tokio::test]
    async fn turns_publish_in_admission_order_whatever_order_their_writes_end_in() {
        let order = Arc::new(Order::default());
        let log = Arc::new(StdMutex::new(Vec::new()));
        let mut gates = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..5 {
            let turn = order.admit("c1").await.admitted();
            let (open, gate) = oneshot::channel::<()>();
            gates.push(open);
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut turn = turn;
                // The "commit": ends when the test says so.
                let _ = gate.await;
                turn.wait().await;
                log.lock().unwrap().push(i);
            }));
        }
        // Let the writes end last-first: the publishing order must not follow them.
        for open in gates.into_iter().rev() {
            open.send(()).unwrap();
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_turn_given_up_lets_the_next_go_and_exclusive_waits_for_all() {
        let order = Order::default();
        let first = order.admit("c1").await.admitted();
        let mut second = order.admit("c1").await.admitted();
        drop(first); // its write failed
        second.wait().await;
        let third = order.admit("c1").await.admitted();
        let order = Arc::new(order);
        let waiter = {
            let order = order.clone();
            tokio::spawn(async move {
                let _x = order.exclusive("c1").await;
            })
        };
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "exclusive must wait for the admitted turns"
        );
        drop(second);
        drop(third);
        waiter.await.unwrap();
    }
}
