//! The Redis bus: one pub/sub connection that listens on the cluster's channel, and a
//! [`ConnectionManager`] (reconnecting by itself) for publishing and for the shared rate
//! limits' scripts.
//!
//! Events leave through one bounded outbox drained by one task, so they reach Redis in the
//! order this node made them; a full outbox (Redis far too slow) drops the event and
//! counts it (`bus_errors{kind="queue_full"}`). The listener reconnects with a backoff when
//! its connection ends, or when nothing at all (not even this node's own heartbeat) came
//! for `cluster.node_timeout_ms`; once resubscribed it ends the local sessions that may
//! have missed events ([`super::Inbound::gap`]) and asks the others for their presence.

use super::event::{self, Event};
use super::peers::{Change, Peers};
use super::Inbound;
use crate::config::ClusterConfig;
use crate::metrics::Metrics;
use anyhow::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use redis_crate::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use ::redis as redis_crate;

/// Events waiting to be published; past this they are dropped and counted.
const OUTBOX: usize = 65_536;
/// How long connecting (at start, or again) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may take before it counts as failed.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// This node's users, and the number of its latest presence change (see [`Event::State`]).
#[derive(Debug, Default)]
struct Local {
    seq: u64,
    users: BTreeSet<String>,
}

pub struct RedisBus {
    node: Arc<str>,
    /// The pub/sub channel every node of the cluster listens on: `{cluster.name}:bus`.
    channel: String,
    /// What this cluster's keys start with: `{cluster.name}:`.
    pub(super) prefix: String,
    client: redis_crate::Client,
    shown_url: String,
    heartbeat: Duration,
    node_timeout: Duration,
    metrics: Arc<Metrics>,
    outbox: mpsc::Sender<Bytes>,
    outbox_rx: Mutex<Option<mpsc::Receiver<Bytes>>>,
    conn: OnceLock<ConnectionManager>,
    /// Whether the listener is subscribed: events cross nodes.
    up: AtomicBool,
    started: tokio::sync::Mutex<bool>,
    // Plain mutexes: each is a short map update, never held across an await. `local` is
    // held while an event is put in the outbox, so changes leave in `seq` order.
    local: Mutex<Local>,
    peers: Mutex<Peers>,
    last_heard: Mutex<Instant>,
    /// The listener's connection went quiet: reconnect.
    stale: Notify,
    publish_failing: AtomicBool,
    pub(super) fallback_logged: AtomicBool,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("node", &self.node)
            .field("url", &self.shown_url)
            .field("up", &self.up())
            .finish_non_exhaustive()
    }
}

/// `url` with the password, if any, replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://***@{host}"),
        },
        None => url.to_owned(),
    }
}

impl RedisBus {
    pub fn new(
        node: Arc<str>,
        url: &str,
        config: &ClusterConfig,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<RedisBus> {
        let shown_url = redact(url);
        let client = redis_crate::Client::open(url)
            .map_err(|e| anyhow::anyhow!("cluster.bus {shown_url} is not a Redis URL: {e}"))?;
        let (tx, rx) = mpsc::channel(OUTBOX);
        Ok(RedisBus {
            node,
            channel: format!("{}:bus", config.name),
            prefix: format!("{}:", config.name),
            client,
            shown_url,
            heartbeat: Duration::from_millis(config.heartbeat_ms),
            node_timeout: Duration::from_millis(config.node_timeout_ms),
            metrics,
            outbox: tx,
            outbox_rx: Mutex::new(Some(rx)),
            conn: OnceLock::new(),
            up: AtomicBool::new(false),
            started: tokio::sync::Mutex::new(false),
            local: Mutex::default(),
            peers: Mutex::default(),
            last_heard: Mutex::new(Instant::now()),
            stale: Notify::new(),
            publish_failing: AtomicBool::new(false),
            fallback_logged: AtomicBool::new(false),
        })
    }

    pub fn describe(&self) -> String {
        self.shown_url.clone()
    }

    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The command connection, once started.
    pub(super) fn conn(&self) -> Option<ConnectionManager> {
        self.conn.get().cloned()
    }

    pub(super) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub async fn start(
        self: Arc<Self>,
        inbound: Arc<dyn Inbound>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut started = self.started.lock().await;
        if *started {
            return Ok(());
        }
        let unreachable = || format!("cannot reach the Redis bus at {}", self.shown_url);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        .map_err(|_| anyhow::anyhow!("timed out"))
        .and_then(|r| r.map_err(anyhow::Error::from))
        .with_context(unreachable)?;
        let pubsub = self.subscribe().await.with_context(unreachable)?;
        let _ = self.conn.set(conn.clone());
        let rx = self
            .outbox_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rx) = rx {
            tokio::spawn(self.clone().publish_loop(rx, conn));
        }
        self.set_up(true);
        tokio::spawn(
            self.clone()
                .listen(pubsub, inbound.clone(), shutdown.clone()),
        );
        tokio::spawn(self.clone().beat(inbound, shutdown));
        self.send(&Event::Hello, &[]);
        tracing::info!(node = %self.node, bus = %self.shown_url, "joined the Redis bus");
        *started = true;
        Ok(())
    }

    /// Says goodbye so that the others take this node's users offline at once.
    pub async fn stop(&self) {
        let Some(mut conn) = self.conn() else {
            return;
        };
        let bye = event::encode(&self.node, &Event::Bye, &[]);
        let mut publish = redis_crate::cmd("PUBLISH");
        publish.arg(&self.channel).arg(bye.as_ref());
        let _ = tokio::time::timeout(RESPONSE_TIMEOUT, publish.query_async::<()>(&mut conn)).await;
    }

    async fn subscribe(&self) -> anyhow::Result<PubSub> {
        let connect = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&self.channel).await?;
            Ok::<_, redis_crate::RedisError>(pubsub)
        };
        Ok(tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| anyhow::anyhow!("timed out"))??)
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
        self.metrics.bus_up.set(i64::from(up));
    }

    /// Encodes `event` and queues it for the other nodes.
    pub(super) fn send(&self, event: &Event, body: &[u8]) {
        let bytes = event::encode(&self.node, event, body);
        if let Err(mpsc::error::TrySendError::Full(_)) = self.outbox.try_send(bytes) {
            self.metrics.bus_error("queue_full");
        }
    }

    pub fn local_presence(&self, user: &str, online: bool) {
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        local.seq += 1;
        if online {
            local.users.insert(user.to_owned());
        } else {
            local.users.remove(user);
        }
        let seq = local.seq;
        self.send(
            &Event::Presence {
                user: user.to_owned(),
                on: online,
                seq,
            },
            &[],
        );
    }

    fn send_state(&self) {
        let local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        self.send(
            &Event::State {
                seq: local.seq,
                users: local.users.iter().cloned().collect(),
            },
            &[],
        );
    }

    pub fn online_elsewhere(&self, user: &str) -> bool {
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .online(user)
    }

    pub fn health(&self) -> serde_json::Value {
        let peers = self
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .nodes();
        serde_json::json!({
            "kind": "redis",
            "up": self.up(),
            "peers": peers,
        })
    }

    async fn publish_loop(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Bytes>,
        mut conn: ConnectionManager,
    ) {
        let mut batch = Vec::with_capacity(256);
        while rx.recv_many(&mut batch, 256).await > 0 {
            let mut pipe = redis_crate::pipe();
            for b in batch.drain(..) {
                pipe.cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(b.as_ref())
                    .ignore();
            }
            let t = Instant::now();
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => {
                    self.metrics
                        .bus_publish_seconds
                        .observe(t.elapsed().as_secs_f64());
                    if self.publish_failing.swap(false, Ordering::Relaxed) {
                        tracing::info!("publishing to the Redis bus works again");
                    }
                }
                Err(e) => {
                    self.metrics.bus_error("publish");
                    if !self.publish_failing.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %e, "cannot publish to the Redis bus: other nodes miss this node's events until it is back");
                    }
                }
            }
        }
    }

    async fn listen(
        self: Arc<Self>,
        first: PubSub,
        inbound: Arc<dyn Inbound>,
        shutdown: CancellationToken,
    ) {
        let mut pubsub = Some(first);
        let mut backoff = Duration::from_millis(100);
        loop {
            let ps = match pubsub.take() {
                Some(p) => p,
                None => {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    match self.subscribe().await {
                        Ok(p) => {
                            self.metrics.bus_reconnects.inc();
                            tracing::warn!(bus = %self.shown_url, "the Redis bus is back: ending the sessions that may have missed events while it was away");
                            inbound.gap();
                            self.set_up(true);
                            backoff = Duration::from_millis(100);
                            self.send(&Event::Hello, &[]);
                            p
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "the Redis bus is still away");
                            backoff = (backoff * 2).min(Duration::from_secs(2));
                            continue;
                        }
                    }
                }
            };
            self.heard();
            let mut stream = ps.into_on_message();
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.stale.notified() => break,
                    m = stream.next() => match m {
                        Some(msg) => {
                            self.heard();
                            self.receive(msg.get_payload_bytes(), &*inbound);
                        }
                        None => break,
                    },
                }
            }
            self.set_up(false);
            self.metrics.bus_error("disconnected");
            tracing::warn!(bus = %self.shown_url, "lost the Redis bus: serving this node's sessions only until it is back");
        }
    }

    fn heard(&self) {
        *self
            .last_heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    async fn beat(self: Arc<Self>, inbound: Arc<dyn Inbound>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let seq = self
                .local
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .seq;
            self.send(&Event::Heartbeat { seq }, &[]);
            let now = Instant::now();
            let (dead, changes) = self
                .peers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .expire(now, self.node_timeout);
            for node in dead {
                tracing::warn!(%node, "node not heard from: its users are offline");
            }
            apply(&*inbound, changes);
            let quiet = now.saturating_duration_since(
                *self
                    .last_heard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            if self.up() && quiet >= self.node_timeout {
                self.stale.notify_one();
            }
        }
    }

    fn receive(&self, bytes: &[u8], inbound: &dyn Inbound) {
        let (node, event, body) = match event::decode(bytes) {
            Ok(x) => x,
            Err(e) => {
                self.metrics.bus_error("decode");
                tracing::warn!(error = %e, "unreadable message on the Redis bus");
                return;
            }
        };
        if *node == *self.node {
            return;
        }
        self.metrics.bus_received.inc();
        let now = Instant::now();
        let peers = || self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Publish { d, h, drop } => inbound.publish(&d, h, body, drop),
            Event::Unsubscribe { user, d } => inbound.drop_subscriptions(&user, &d),
            Event::Notification { n } => inbound.notification(*n),
            Event::Revoke { sid, until } => inbound.revoke(&sid, until),
            Event::Presence { user, on, seq } => {
                let (change, missed) = peers().presence(&node, &user, on, seq, now);
                if missed {
                    self.send(&Event::Sync { to: node }, &[]);
                }
                apply(inbound, change);
            }
            Event::Heartbeat { seq } => {
                if peers().heartbeat(&node, seq, now) {
                    self.send(&Event::Sync { to: node }, &[]);
                }
            }
            Event::Hello => self.send_state(),
            Event::Sync { to } => {
                if *to == *self.node {
                    self.send_state();
                }
            }
            Event::State { seq, users } => {
                let changes = peers().state(&node, seq, users, now);
                apply(inbound, changes);
            }
            Event::Bye => {
                tracing::info!(%node, "node left the cluster");
                let changes = peers().remove(&node);
                apply(inbound, changes);
            }
        }
    }
}

fn apply(inbound: &dyn Inbound, changes: impl IntoIterator<Item = Change>) {
    for c in changes {
        inbound.presence(&c.user, c.online);
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("redis://:s3cret@10.0.0.1:6379/0"),
            "redis://:***@10.0.0.1:6379/0"
        );
        assert_eq!(redact("redis://u:p@h:1"), "redis://u:***@h:1");
        assert_eq!(redact("redis://p@h:1"), "redis://***@h:1");
    }
}
