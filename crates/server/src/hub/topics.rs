//! The topic subscriptions that acknowledge automatically (`ack:auto`, the common case),
//! indexed by destination so that a publish reaches them without the hub's global lock.
//!
//! Each destination has its own `std` mutex around its routes: publishes to one topic are
//! serialized by it (every subscriber sees them in the same order, as under the global
//! lock), publishes to different topics run in parallel, and a subscription added or
//! removed under that mutex is seen by the next publish. The index itself is behind an
//! `RwLock` held only for a hash lookup. Lock order: the hub's state, then the index, then
//! a destination, then a [`Peer`]; a publish takes the last three and never the first
//! while holding one of them.
//!
//! Order: one publisher's messages reach every subscriber in the order it published them.
//! Concurrent publishes to one topic reach its automatically acknowledging subscribers in
//! one order (this mutex's); a topic that also has acknowledging subscribers hands them
//! the same messages under the hub's lock afterwards, which may order two concurrent
//! publishes the other way for them (as concurrent publishes have no order of their own:
//! chat ordering is `seq`, see DESIGN.md).

use super::message::{SessionId, SubNames};
use super::peer::Peer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// One subscription as a publish needs it.
#[derive(Debug)]
pub(super) struct Route {
    pub(super) peer: Arc<Peer>,
    pub(super) names: Arc<SubNames>,
}

#[derive(Debug, Default)]
pub(super) struct TopicDest {
    pub(super) routes: Vec<Route>,
    /// Subscriptions to this topic that acknowledge: they are routed under the hub's lock
    /// (their unacknowledged deliveries are the hub's state), after these routes.
    pub(super) acking: usize,
}

#[derive(Debug, Default)]
pub(super) struct Topics {
    index: RwLock<HashMap<Arc<str>, Arc<Mutex<TopicDest>>>>,
}

impl Topics {
    /// The destination `key`, if it has any subscription.
    pub(super) fn get(&self, key: &str) -> Option<Arc<Mutex<TopicDest>>> {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Adds an automatically acknowledging route (`Some`) or counts an acknowledging
    /// subscription (`None`).
    pub(super) fn add(&self, key: &Arc<str>, route: Option<Route>) {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let dest = index.entry(key.clone()).or_default();
        let mut dest = dest.lock().unwrap_or_else(PoisonError::into_inner);
        match route {
            Some(r) => dest.routes.push(r),
            None => dest.acking += 1,
        }
    }

    /// Removes subscription `sub` of `session` (a route if `auto`, else one from the
    /// acknowledging count); the destination goes when nothing is left.
    pub(super) fn remove(&self, key: &str, session: SessionId, sub: &str, auto: bool) {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let Some(dest) = index.get(key) else {
            return;
        };
        let mut d = dest.lock().unwrap_or_else(PoisonError::into_inner);
        if auto {
            d.routes
                .retain(|r| !(r.peer.session == session && &*r.names.id == sub));
        } else {
            d.acking = d.acking.saturating_sub(1);
        }
        let empty = d.routes.is_empty() && d.acking == 0;
        drop(d);
        if empty {
            index.remove(key);
        }
    }
}
