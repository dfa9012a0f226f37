//! The cross-node bus: what one node publishes reaches every node's local sessions.
//!
//! Two implementations behind [`Bus`]: none (one node, the default; every method is a
//! no-op, so a single node behaves and costs as before) and Redis (`cluster.bus =
//! "redis://…"`, see [`redis`]). Each event carries its origin node's id; a node applies
//! events from the others to its local hub only, never forwards them again, and ignores its
//! own.
//!
//! What crosses: every [`crate::Broker::publish`] except `/queue/**` (conversation topics,
//! `/user/{name}/**`, typing, read receipts, notifications, announcements), clients'
//! `SEND`s to `/topic/**` and `/user/{name}/**`, [`crate::Broker::drop_subscriptions`],
//! notifications for SSE streams, and sign-outs (revoked sign-in sessions). `/queue/**`
//! stays on the node of its sender (docs/protocol.md, "Several nodes").
//!
//! Presence: each node tells the others when a user's first local session opens or last
//! closes, with a sequence number, plus a heartbeat carrying the latest one. A node that
//! notices a missed change asks for the other's whole state; a node that starts asks
//! everyone. A node not heard from for `cluster.node_timeout_ms` is dead: its users go
//! offline. Each node publishes `PRESENCE` events to its own subscribers only, from its
//! own view of the cluster (see [`Inbound::presence`]), so every subscriber hears each
//! change once.
//!
//! Delivery guarantee: at most once, in order per origin node; the store, not the bus, is
//! the record. When the bus connection is lost and comes back, whatever crossed meanwhile
//! is gone, so the node ends its STOMP sessions and SSE streams ([`Inbound::gap`]): clients
//! reconnect and catch up from the store.

mod event;
pub mod limiter;
mod peers;
pub mod redis;

pub use event::Event;
pub use limiter::Limiter;

use crate::config::ClusterConfig;
use crate::hub::Published;
use crate::metrics::Metrics;
use bytes::Bytes;
use std::sync::Arc;
use tidings_proto::Notification;
use tokio_util::sync::CancellationToken;

/// What the bus does on this node for events from the others. Implemented by the chat
/// domain over the local hub; every call is local only.
pub trait Inbound: Send + Sync + 'static {
    /// Publishes to this node's subscribers.
    fn publish(
        &self,
        destination: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
        droppable: bool,
    );
    fn drop_subscriptions(&self, user: &str, destination: &str);
    fn notification(&self, n: Notification);
    fn revoke(&self, sid: &str, until: u64);
    /// `user` came online on the other nodes taken together (their first session anywhere
    /// else) or went offline there (their last elsewhere closed, or its node died). Publish
    /// a `PRESENCE` event locally unless the user has a session on this node.
    fn presence(&self, user: &str, online: bool);
    /// Events were lost while the bus was away: end the sessions and streams that may
    /// have missed some.
    fn gap(&self);
}

/// This node's handle to the bus; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    node: Arc<str>,
    redis: Option<Arc<redis::RedisBus>>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("node", &self.node)
            .field("redis", &self.redis.is_some())
            .finish()
    }
}

impl Bus {
    /// One node, no bus.
    pub fn none() -> Bus {
        Bus {
            node: "local".into(),
            redis: None,
        }
    }

    /// The bus `config` names (not connected yet: see [`Bus::start`]).
    pub fn from_config(config: &ClusterConfig, metrics: Arc<Metrics>) -> anyhow::Result<Bus> {
        let node: Arc<str> = config.node_id().into();
        let redis = match &config.bus {
            None => None,
            Some(url) => Some(Arc::new(redis::RedisBus::new(
                node.clone(),
                url,
                config,
                metrics,
            )?)),
        };
        Ok(Bus { node, redis })
    }

    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// `"none"` or the Redis URL with any password replaced by `***`.
    pub fn describe(&self) -> String {
        match &self.redis {
            None => "none".into(),
            Some(r) => r.describe(),
        }
    }

    /// Connects and starts listening; idempotent. Fails when the bus cannot be reached.
    pub async fn start(
        &self,
        inbound: Arc<dyn Inbound>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        match &self.redis {
            None => Ok(()),
            Some(r) => r.clone().start(inbound, shutdown).await,
        }
    }

    /// Tells the others this node is stopping (best effort).
    pub async fn stop(&self) {
        if let Some(r) = &self.redis {
            r.stop().await;
        }
    }

    /// A message just published locally, for the other nodes.
    pub fn publish(&self, destination: &str, message: &Published, droppable: bool) {
        if let Some(r) = &self.redis {
            r.send(
                &Event::Publish {
                    d: destination.to_owned(),
                    h: message.headers.clone(),
                    drop: droppable,
                },
                &message.body,
            );
        }
    }

    pub fn drop_subscriptions(&self, user: &str, destination: &str) {
        if let Some(r) = &self.redis {
            r.send(
                &Event::Unsubscribe {
                    user: user.to_owned(),
                    d: destination.to_owned(),
                },
                &[],
            );
        }
    }

    pub fn notification(&self, n: &Notification) {
        if let Some(r) = &self.redis {
            r.send(
                &Event::Notification {
                    n: Box::new(n.clone()),
                },
                &[],
            );
        }
    }

    pub fn revoke(&self, sid: &str, until: u64) {
        if let Some(r) = &self.redis {
            r.send(
                &Event::Revoke {
                    sid: sid.to_owned(),
                    until,
                },
                &[],
            );
        }
    }

    /// A user's first session on this node opened (`online`) or the last closed.
    pub fn local_presence(&self, user: &str, online: bool) {
        if let Some(r) = &self.redis {
            r.local_presence(user, online);
        }
    }

    /// Whether `user` has a session on another node. A lock and a hash lookup.
    pub fn online_elsewhere(&self, user: &str) -> bool {
        self.redis
            .as_ref()
            .is_some_and(|r| r.online_elsewhere(user))
    }

    /// For `/healthz`: `{"kind": "none"}` or `{"kind": "redis", "up": …, "peers": […]}`.
    pub fn health(&self) -> serde_json::Value {
        match &self.redis {
            None => serde_json::json!({"kind": "none"}),
            Some(r) => r.health(),
        }
    }

    /// Whether events cross nodes right now (always for no bus).
    pub fn up(&self) -> bool {
        self.redis.as_ref().is_none_or(|r| r.up())
    }

    /// A rate limiter counted across nodes on the Redis bus (on this node otherwise).
    pub fn limiter(&self, name: &'static str, local: crate::rate::RateLimiter) -> Limiter {
        Limiter::new(name, local, self.redis.clone())
    }
}
