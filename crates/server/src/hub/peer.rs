//! A connection as the hub delivers to it: its bounded outbound queue, the numbering of its
//! deliveries, and whether it has been ended as a slow consumer. Shared (behind an `Arc`)
//! by the hub's session table and the topic routes, which deliver without the hub's lock.

use super::message::{Closer, Delivery, Outbound, SessionId};
use super::outbox;
use std::sync::{Arc, Mutex, PoisonError};
use tidings_stomp::Version;

#[derive(Debug)]
pub(super) struct Peer {
    pub(super) session: SessionId,
    pub(super) user: Arc<str>,
    pub(super) version: Version,
    pub(super) control: Arc<Closer>,
    tx: outbox::Sender<Outbound>,
    /// A `std` mutex: numbering a delivery and queueing it must be one step (message ids
    /// follow the queue's order, which cumulative `ACK`s rely on), and deliveries to one
    /// connection come from the hub's lock and from topic routes at once. Held only for a
    /// `try_send`, never across an await.
    numbering: Mutex<Numbering>,
}

#[derive(Debug)]
struct Numbering {
    /// The `n` of the next delivery's `message-id` (`{session}-{n}`), from 1, no gaps.
    next: u64,
    /// Ended as a slow consumer: nothing more is queued.
    dead: bool,
}

/// What became of one delivery.
pub(super) enum Offer {
    /// Queued, with this number.
    Delivered(u64),
    /// The connection's outbound queue is full (a slow consumer), or it was ended as one.
    Full,
    /// The connection is closing (its writer has ended); it is about to be unregistered.
    Gone,
}

impl Peer {
    pub(super) fn new(
        session: SessionId,
        user: Arc<str>,
        version: Version,
        tx: outbox::Sender<Outbound>,
        control: Arc<Closer>,
    ) -> Peer {
        Peer {
            session,
            user,
            version,
            control,
            tx,
            numbering: Mutex::new(Numbering {
                next: 1,
                dead: false,
            }),
        }
    }

    /// Queues the delivery `build(n)` makes for the next number `n`, without waiting.
    pub(super) fn offer(&self, build: impl FnOnce(u64) -> Delivery) -> Offer {
        let mut numbering = self
            .numbering
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if numbering.dead {
            return Offer::Full;
        }
        let n = numbering.next;
        match self.tx.try_send(Outbound::Deliver(build(n))) {
            Ok(()) => {
                numbering.next += 1;
                Offer::Delivered(n)
            }
            Err(outbox::TrySendError::Full(_)) => Offer::Full,
            Err(outbox::TrySendError::Closed(_)) => Offer::Gone,
        }
    }

    /// Marks the connection ended as a slow consumer; `true` only the first time, so the
    /// caller counts, logs and sends the `ERROR` once.
    pub(super) fn mark_dead(&self) -> bool {
        let mut numbering = self
            .numbering
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        !std::mem::replace(&mut numbering.dead, true)
    }
}
