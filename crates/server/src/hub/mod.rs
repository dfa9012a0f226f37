//! The broker's routing state: sessions, subscriptions, queue backlogs and unacknowledged
//! deliveries, and the rules that move messages between them.
//!
//! Destinations, by their first segment (Spring's simple-broker semantics):
//! - `/queue/**`: point-to-point. Each message goes to one subscription, round-robin,
//!   skipping subscriptions whose outbound queue is full or whose unacknowledged count is
//!   at the limit. While nobody can take it, a message waits in the queue's backlog (bounded
//!   per queue in messages, and over all queues in bytes and in how many queues hold one:
//!   a `SEND` that would pass a bound is refused, nothing is dropped). Unacknowledged
//!   messages of a subscription that ends, or NACKed ones, go back to the front of the
//!   backlog.
//! - `/user/{name}/**`: every subscription of user `name` on that destination (all tabs and
//!   devices). Subscribers see it as `/user/queue/...`. With client acknowledgement, a
//!   message that no session acknowledged before its session ended is kept (bounded) and
//!   delivered to the user's next subscription. Messages for a user with no subscription
//!   are not kept, as in Spring: the store, not the broker, is the record (the chat layer
//!   catches clients up from it).
//! - anything else (`/topic/**`, application topics): every current subscription.
//!
//! Slow consumers: each connection has a bounded outbound queue. When it is full, a message
//! marked droppable (typing, presence) is skipped for that connection and counted; any other
//! message disconnects the connection with an `ERROR` naming the limit, because silently
//! losing it would be worse. Queues skip a full subscriber instead.
//!
//! Redelivery is bounded: a message delivered [`MAX_DELIVERIES`] times without an ACK is
//! dropped with a warning rather than looping forever.
//!
//! Locking: one `std::sync::Mutex` around [`State`]. Every operation is a short, non-async
//! critical section (map updates and `try_send` into bounded channels); nothing awaits while
//! holding it. The hot path of fan-out does not take it: a publish to a topic reaches the
//! subscriptions that acknowledge automatically through [`topics`] (a lock per destination)
//! and each connection's [`peer::Peer`]; only a topic's acknowledging subscriptions, queues
//! and user destinations are routed under it. A message is encoded once per protocol
//! version and shared by every delivery.

mod backlog;
mod message;
pub mod outbox;
mod peer;
#[cfg(test)]
mod tests;
mod topics;

use backlog::{BacklogUse, Dest, Pending};
pub use message::{
    error_frame, AckMode, Closer, Delivery, HubError, Outbound, Published, SessionId, SubNames,
};
use peer::{Offer, Peer};
use topics::{Route, Topics};

use crate::auth::Principal;
use crate::metrics::Metrics;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tidings_stomp::Version;

/// Deliveries of one message before it is given up on.
pub const MAX_DELIVERIES: u32 = 5;

/// The hub's limits (a subset of the server's).
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    pub max_subscriptions: usize,
    pub max_unacked: usize,
    pub queue_backlog: usize,
    pub user_backlog: usize,
    /// Bytes ([`Published::size`]) kept in all backlogs together.
    pub max_backlog_bytes: usize,
    /// `/queue/**` destinations holding a backlog at once.
    pub max_backlog_queues: usize,
    /// Sessions one user may have connected at once.
    pub max_connections_per_user: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Topic,
    Queue,
    User,
}

fn kind_of(key: &str) -> Kind {
    if key.starts_with("/queue/") {
        Kind::Queue
    } else if key.starts_with("/user/") {
        Kind::User
    } else {
        Kind::Topic
    }
}

/// Shared by the copies of one user-destination message delivered to several sessions:
/// once any of them acknowledges it, none is redelivered.
#[derive(Debug, Default)]
struct UserCopy {
    acked: AtomicBool,
    requeued: AtomicBool,
}

#[derive(Debug)]
struct Unacked {
    sub: Arc<str>,
    key: Arc<str>,
    message: Arc<Published>,
    deliveries: u32,
    user_copy: Option<Arc<UserCopy>>,
}

#[derive(Debug)]
struct Sub {
    key: Arc<str>,
    names: Arc<SubNames>,
    ack: AckMode,
}

#[derive(Debug)]
struct SessionEntry {
    principal: Principal,
    peer: Arc<Peer>,
    subs: HashMap<Arc<str>, Sub>,
    unacked: BTreeMap<u64, Unacked>,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<SessionId, SessionEntry>,
    dests: HashMap<Arc<str>, Dest>,
    backlog: BacklogUse,
    /// Sessions per user, for the per-user connection limit and presence.
    per_user: HashMap<Arc<str>, usize>,
    /// How many times [`Hub::drop_subscriptions`] ran: a subscription authorized before a
    /// revocation is retried (see [`Hub::subscribe_unless_revoked`]).
    revocations: u64,
}

/// The broker's routing core. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Hub {
    /// A poisoned lock is taken as it is: a panic while holding it leaves maps that are still
    /// structurally valid.
    state: Mutex<State>,
    /// Topic subscriptions that acknowledge automatically, routed without `state`'s lock.
    topics: Topics,
    next_session: AtomicU64,
    limits: HubLimits,
    metrics: Arc<Metrics>,
}

impl Hub {
    pub fn new(limits: HubLimits, metrics: Arc<Metrics>) -> Hub {
        Hub {
            state: Mutex::new(State::default()),
            topics: Topics::default(),
            next_session: AtomicU64::new(1),
            limits,
            metrics,
        }
    }

    pub fn register(
        &self,
        principal: Principal,
        version: Version,
        tx: outbox::Sender<Outbound>,
        control: Arc<Closer>,
    ) -> Result<SessionId, HubError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let count = st.per_user.entry(principal.name.clone()).or_default();
        if *count >= self.limits.max_connections_per_user {
            let user = principal.name.to_string();
            if *count == 0 {
                st.per_user.remove(&principal.name);
            }
            return Err(HubError::TooManyConnections {
                user,
                limit: self.limits.max_connections_per_user,
            });
        }
        *count += 1;
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let peer = Peer::new(id, principal.name.clone(), version, tx, control);
        st.sessions.insert(
            id,
            SessionEntry {
                principal,
                peer: Arc::new(peer),
                subs: HashMap::new(),
                unacked: BTreeMap::new(),
            },
        );
        self.metrics.connections.inc();
        Ok(id)
    }

    /// Removes a session; its unacknowledged messages are redelivered as the module says.
    pub fn unregister(&self, session: SessionId) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(mut entry) = st.sessions.remove(&session) else {
            return;
        };
        self.metrics.connections.dec();
        if let Some(n) = st.per_user.get_mut(&entry.principal.name) {
            *n -= 1;
            if *n == 0 {
                st.per_user.remove(&entry.principal.name);
            }
        }
        let subs: Vec<_> = entry.subs.drain().collect();
        for (id, sub) in &subs {
            self.detach(&mut st, session, id, sub);
        }
        let unacked = std::mem::take(&mut entry.unacked);
        for (_, u) in unacked {
            self.requeue(&mut st, u, None);
        }
    }

    /// Ends every session with an `ERROR` saying `message` (the bus lost events: see
    /// [`crate::cluster`]). Returns how many.
    pub fn end_sessions(&self, message: &str, detail: &str) -> usize {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in st.sessions.values() {
            let peer = &entry.peer;
            peer.control
                .fail(error_frame(peer.version, message, detail, None, &[]));
        }
        st.sessions.len()
    }

    /// How many sessions `user` has open (presence).
    pub fn user_sessions(&self, user: &str) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .per_user
            .get(user)
            .copied()
            .unwrap_or_default()
    }

    /// Adds a subscription. `key` is the routing key (`/user/alice/queue/x` for a user
    /// destination); `display` is what the client named.
    pub fn subscribe(
        &self,
        session: SessionId,
        id: &str,
        key: &str,
        display: &str,
        ack: AckMode,
    ) -> Result<(), HubError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.subscribe_locked(&mut st, session, id, key, display, ack)
    }

    fn subscribe_locked(
        &self,
        st: &mut State,
        session: SessionId,
        id: &str,
        key: &str,
        display: &str,
        ack: AckMode,
    ) -> Result<(), HubError> {
        let Some(entry) = st.sessions.get_mut(&session) else {
            return Ok(());
        };
        if entry.subs.contains_key(id) {
            return Err(HubError::DuplicateSubscription(id.to_owned()));
        }
        if entry.subs.len() >= self.limits.max_subscriptions {
            return Err(HubError::TooManySubscriptions(
                self.limits.max_subscriptions,
            ));
        }
        let id: Arc<str> = id.into();
        let key: Arc<str> = key.into();
        let names = Arc::new(SubNames {
            id: id.clone(),
            destination: display.into(),
        });
        entry.subs.insert(
            id.clone(),
            Sub {
                key: key.clone(),
                names: names.clone(),
                ack,
            },
        );
        self.metrics.subscriptions.inc();
        if kind_of(&key) == Kind::Topic {
            let route = (ack == AckMode::Auto).then(|| Route {
                peer: entry.peer.clone(),
                names,
            });
            let auto = route.is_some();
            self.topics.add(&key, route);
            if auto {
                return Ok(());
            }
        }
        let dest = st.dests.entry(key.clone()).or_default();
        dest.subs.push((session, id));
        if !dest.backlog.is_empty() {
            self.dispatch_backlog(st, &key);
        }
        Ok(())
    }

    /// A ticket for [`Hub::subscribe_unless_revoked`]: take it before authorizing.
    pub fn revocation_ticket(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .revocations
    }

    /// [`Hub::subscribe`], unless a revocation ran since `ticket` was taken: then `Ok(false)`
    /// and nothing is subscribed, and the caller authorizes again. So an authorization that
    /// read the store before someone's removal committed cannot add a subscription after the
    /// removal dropped theirs.
    pub fn subscribe_unless_revoked(
        &self,
        ticket: u64,
        session: SessionId,
        id: &str,
        key: &str,
        display: &str,
        ack: AckMode,
    ) -> Result<bool, HubError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.revocations != ticket {
            return Ok(false);
        }
        self.subscribe_locked(&mut st, session, id, key, display, ack)?;
        Ok(true)
    }

    /// Ends at once every subscription of `user`, on every session, to the destination
    /// `key`: no `ERROR`, no `RECEIPT`, the connections stay up, and nothing published to
    /// `key` after this returns reaches them. Unacknowledged deliveries of those
    /// subscriptions are dropped, not requeued (a revoked reader gets nothing more).
    /// Returns how many subscriptions ended.
    pub fn drop_subscriptions(&self, user: &str, key: &str) -> usize {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.revocations += 1;
        let mut ended: Vec<(SessionId, Arc<str>, Sub)> = Vec::new();
        for (sid, entry) in st.sessions.iter_mut() {
            if &*entry.principal.name != user {
                continue;
            }
            let ids: Vec<Arc<str>> = entry
                .subs
                .iter()
                .filter(|(_, sub)| &*sub.key == key)
                .map(|(id, _)| id.clone())
                .collect();
            for id in ids {
                if let Some(sub) = entry.subs.remove(&id) {
                    entry.unacked.retain(|_, u| u.sub != id);
                    ended.push((*sid, id, sub));
                }
            }
        }
        for (sid, id, sub) in &ended {
            self.detach(&mut st, *sid, id, sub);
        }
        ended.len()
    }

    pub fn unsubscribe(&self, session: SessionId, id: &str) -> Result<(), HubError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = st.sessions.get_mut(&session) else {
            return Ok(());
        };
        let Some((id, sub)) = entry.subs.remove_entry(id) else {
            return Err(HubError::UnknownSubscription(id.to_owned()));
        };
        let ids: Vec<u64> = entry
            .unacked
            .iter()
            .filter(|(_, u)| u.sub == id)
            .map(|(n, _)| *n)
            .collect();
        let unacked: Vec<Unacked> = ids.iter().filter_map(|n| entry.unacked.remove(n)).collect();
        self.detach(&mut st, session, &id, &sub);
        for u in unacked {
            self.requeue(&mut st, u, None);
        }
        Ok(())
    }

    /// Routes a message to `key` (a destination as a sender names it).
    pub fn publish(
        &self,
        key: &str,
        message: Arc<Published>,
        droppable: bool,
    ) -> Result<(), HubError> {
        let kind = kind_of(key);
        if kind == Kind::Topic {
            self.publish_topic(key, &message, droppable);
            return Ok(());
        }
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match kind {
            Kind::Queue => {
                let State { dests, backlog, .. } = &mut *st;
                let dest = dests.entry(key.into()).or_default();
                if dest.backlog.len() >= self.limits.queue_backlog {
                    return Err(HubError::QueueFull(key.to_owned()));
                }
                let pending = Pending {
                    message: message.clone(),
                    deliveries: 0,
                    avoid: None,
                };
                dest.push(pending, false, true, backlog);
                self.dispatch_backlog(&mut st, key);
                // Still waiting (it is the last, as the backlog moves in order): may it stay?
                let State { dests, backlog, .. } = &mut *st;
                let Some(dest) = dests.get_mut(key) else {
                    return Ok(());
                };
                let kept = dest
                    .backlog
                    .back()
                    .is_some_and(|p| Arc::ptr_eq(&p.message, &message));
                let refusal = if !kept {
                    None
                } else if backlog.bytes > self.limits.max_backlog_bytes {
                    Some(HubError::BacklogBytes {
                        queue: key.to_owned(),
                        limit: self.limits.max_backlog_bytes,
                    })
                } else if backlog.queues > self.limits.max_backlog_queues {
                    Some(HubError::BacklogQueues {
                        queue: key.to_owned(),
                        limit: self.limits.max_backlog_queues,
                    })
                } else {
                    None
                };
                if let Some(e) = refusal {
                    dest.pop(false, true, backlog);
                    if dest.backlog.is_empty() && dest.subs.is_empty() {
                        dests.remove(key);
                    }
                    return Err(e);
                }
            }
            Kind::User => self.broadcast(&mut st, key, &message, droppable, true),
            Kind::Topic => {}
        }
        Ok(())
    }

    /// Fan-out to a topic: its automatically acknowledging subscriptions through their
    /// routes, without the hub's lock; then, if it has any, the acknowledging ones under it.
    fn publish_topic(&self, key: &str, message: &Arc<Published>, droppable: bool) {
        let Some(dest) = self.topics.get(key) else {
            return;
        };
        let dest = dest.lock().unwrap_or_else(PoisonError::into_inner);
        for r in &dest.routes {
            let offer = r.peer.offer(|n| Delivery {
                names: r.names.clone(),
                message_id: n,
                ack: false,
                redelivered: false,
                message: message.clone(),
            });
            if let Offer::Full = offer {
                self.slow_consumer(&r.peer, droppable);
            }
        }
        let acking = dest.acking > 0;
        drop(dest);
        if acking {
            let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            self.broadcast(&mut st, key, message, droppable, false);
        }
    }

    /// A connection whose queue is full: a droppable message is skipped (and counted);
    /// any other ends the connection with an `ERROR`, once.
    fn slow_consumer(&self, peer: &Peer, droppable: bool) {
        if droppable {
            self.metrics.messages_dropped.inc();
        } else if peer.mark_dead() {
            self.metrics.error("slow_consumer");
            tracing::warn!(session = peer.session, user = %peer.user, "slow consumer disconnected");
            peer.control.fail(error_frame(
                peer.version,
                "slow consumer: the outbound queue is full",
                "This connection did not read its messages fast enough and was closed so that none is silently lost. Reconnect and catch up.",
                None,
                &[],
            ));
        }
    }

    /// Delivers to `session`'s own subscriptions on `key` only (errors about its SENDs).
    /// Returns whether the session had such a subscription.
    pub fn deliver_to_session(
        &self,
        session: SessionId,
        key: &str,
        message: Arc<Published>,
    ) -> bool {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(dest) = st.dests.get(key) else {
            return false;
        };
        let targets: Vec<Arc<str>> = dest
            .subs
            .iter()
            .filter(|(s, _)| *s == session)
            .map(|(_, id)| id.clone())
            .collect();
        let Some(entry) = st.sessions.get_mut(&session) else {
            return false;
        };
        for id in &targets {
            self.offer(entry, id, &message, 1, None);
        }
        !targets.is_empty()
    }

    /// Handles `ACK` (or `NACK`) of the message with this id on this session.
    pub fn ack(&self, session: SessionId, message_id: &str, nack: bool) -> Result<(), HubError> {
        let unknown = || HubError::UnknownAck(message_id.to_owned());
        let n = parse_message_id(session, message_id).ok_or_else(unknown)?;
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = st.sessions.get_mut(&session) else {
            return Ok(());
        };
        let target = entry.unacked.get(&n).ok_or_else(unknown)?;
        let sub = target.sub.clone();
        let cumulative = entry.subs.get(&sub).map(|s| s.ack) == Some(AckMode::Client);
        let ids: Vec<u64> = if cumulative {
            entry
                .unacked
                .range(..=n)
                .filter(|(_, u)| u.sub == sub)
                .map(|(k, _)| *k)
                .collect()
        } else {
            vec![n]
        };
        let done: Vec<Unacked> = ids.iter().filter_map(|k| entry.unacked.remove(k)).collect();
        for u in done {
            if nack {
                self.requeue(&mut st, u, Some(session));
            } else if let Some(copy) = &u.user_copy {
                copy.acked.store(true, Ordering::Relaxed);
            }
        }
        // Freed room may let queue backlogs move on.
        let keys: Vec<Arc<str>> = st
            .sessions
            .get(&session)
            .map(|e| e.subs.values().map(|s| s.key.clone()).collect())
            .unwrap_or_default();
        for key in keys {
            if st.dests.get(&key).is_some_and(|d| !d.backlog.is_empty()) {
                self.dispatch_backlog(&mut st, &key);
            }
        }
        Ok(())
    }

    fn detach(&self, st: &mut State, session: SessionId, id: &Arc<str>, sub: &Sub) {
        self.metrics.subscriptions.dec();
        let key = &sub.key;
        if kind_of(key) == Kind::Topic {
            let auto = sub.ack == AckMode::Auto;
            self.topics.remove(key, session, id, auto);
            if auto {
                return;
            }
        }
        if let Some(dest) = st.dests.get_mut(key) {
            dest.subs.retain(|(s, i)| !(*s == session && i == id));
            if dest.subs.is_empty() && dest.backlog.is_empty() {
                st.dests.remove(key);
            }
        }
    }

    /// Puts an unacknowledged message back where the module doc says it goes.
    fn requeue(&self, st: &mut State, u: Unacked, avoid: Option<SessionId>) {
        if u.deliveries >= MAX_DELIVERIES {
            tracing::warn!(destination = %u.key, deliveries = u.deliveries, "message dropped after repeated delivery without ACK");
            return;
        }
        let pending = Pending {
            message: u.message,
            deliveries: u.deliveries,
            avoid,
        };
        match kind_of(&u.key) {
            Kind::Topic => {}
            Kind::Queue => {
                // Taken back whatever the limits: it was accepted once, and what is out
                // unacknowledged is bounded by `max_unacked` per session.
                let State { dests, backlog, .. } = &mut *st;
                dests
                    .entry(u.key.clone())
                    .or_default()
                    .push(pending, true, true, backlog);
                self.dispatch_backlog(st, &u.key);
            }
            Kind::User => {
                if let Some(copy) = &u.user_copy {
                    if copy.acked.load(Ordering::Relaxed)
                        || copy.requeued.swap(true, Ordering::Relaxed)
                    {
                        return;
                    }
                }
                let State { dests, backlog, .. } = &mut *st;
                let dest = dests.entry(u.key.clone()).or_default();
                if dest.backlog.len() >= self.limits.user_backlog
                    || backlog.bytes + pending.message.size() > self.limits.max_backlog_bytes
                {
                    tracing::warn!(destination = %u.key, "user backlog full; unacknowledged message dropped");
                    if dest.backlog.is_empty() && dest.subs.is_empty() {
                        dests.remove(&u.key);
                    }
                    return;
                }
                dest.push(pending, false, false, backlog);
                self.dispatch_backlog(st, &u.key);
            }
        }
    }

    /// Moves backlog messages to subscriptions that can take them: one subscription each
    /// (round-robin) for queues and for redelivered user messages.
    fn dispatch_backlog(&self, st: &mut State, key: &str) {
        let State {
            sessions,
            dests,
            backlog,
            ..
        } = st;
        let queue = kind_of(key) == Kind::Queue;
        let Some(dest) = dests.get_mut(key) else {
            return;
        };
        while let Some(p) = dest.backlog.front() {
            let n = dest.subs.len();
            let mut order: Vec<usize> = (0..n).map(|i| (dest.next + i) % n).collect();
            if let Some(avoid) = p.avoid {
                // Others first; the NACKing session only if nobody else can take it.
                order.sort_by_key(|&i| dest.subs[i].0 == avoid);
            }
            let mut delivered = false;
            for i in order {
                let (sid, id) = &dest.subs[i];
                let Some(entry) = sessions.get_mut(sid) else {
                    continue;
                };
                let user_copy = (kind_of(key) == Kind::User).then(Default::default);
                if let Offer::Delivered(_) =
                    self.offer(entry, id, &p.message, p.deliveries + 1, user_copy)
                {
                    dest.next = i + 1;
                    delivered = true;
                    break;
                }
            }
            if !delivered {
                break;
            }
            dest.pop(true, queue, backlog);
        }
    }

    fn broadcast(
        &self,
        st: &mut State,
        key: &str,
        message: &Arc<Published>,
        droppable: bool,
        user: bool,
    ) {
        let State {
            sessions, dests, ..
        } = st;
        let Some(dest) = dests.get(key) else {
            return;
        };
        let user_copy = user.then(|| Arc::new(UserCopy::default()));
        for (sid, id) in &dest.subs {
            let Some(entry) = sessions.get_mut(sid) else {
                continue;
            };
            if let Offer::Full = self.offer(entry, id, message, 1, user_copy.clone()) {
                // (A closing connection answers `Gone` and is skipped quietly.)
                self.slow_consumer(&entry.peer, droppable);
            }
        }
    }

    /// Hands one message to one subscription, recording it as unacknowledged if the
    /// subscription acknowledges. `Full`: the connection cannot take it now.
    fn offer(
        &self,
        entry: &mut SessionEntry,
        sub_id: &Arc<str>,
        message: &Arc<Published>,
        deliveries: u32,
        user_copy: Option<Arc<UserCopy>>,
    ) -> Offer {
        let Some(sub) = entry.subs.get(sub_id) else {
            return Offer::Full;
        };
        let acks = sub.ack != AckMode::Auto;
        if acks && entry.unacked.len() >= self.limits.max_unacked {
            return Offer::Full;
        }
        let offer = entry.peer.offer(|n| Delivery {
            names: sub.names.clone(),
            message_id: n,
            ack: acks,
            redelivered: deliveries > 1,
            message: message.clone(),
        });
        if let (Offer::Delivered(n), true) = (&offer, acks) {
            entry.unacked.insert(
                *n,
                Unacked {
                    sub: sub_id.clone(),
                    key: sub.key.clone(),
                    message: message.clone(),
                    deliveries,
                    user_copy,
                },
            );
        }
        offer
    }
}

/// Message ids are `"{session}-{n}"`; the session part must be this session's.
fn parse_message_id(session: SessionId, id: &str) -> Option<u64> {
    let (s, n) = id.split_once('-')?;
    (s.parse::<u64>().ok()? == session).then_some(())?;
    n.parse().ok()
}
