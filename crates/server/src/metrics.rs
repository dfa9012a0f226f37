//! Prometheus metrics: connections, subscriptions, frames in and out, errors by kind, and
//! uploads (bytes received, uploads finished, tus requests refused by kind), and the
//! cross-node bus (up, publish latency, errors, reconnects, events received, rate-limit
//! fallbacks).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabel {
    pub command: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// The server's metrics; cheap to update from any task (atomics inside).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    pub subscriptions: Gauge,
    pub frames_in: Family<CommandLabel, Counter>,
    pub frames_out: Counter,
    pub messages_dropped: Counter,
    pub errors: Family<KindLabel, Counter>,
    /// Upload bytes received and synced to disk (tus `PATCH` bodies).
    pub upload_bytes: Counter,
    /// Uploads finished into attachments.
    pub uploads_finished: Counter,
    /// tus requests answered with an error, by its code (`too_large`, `quota_exceeded`, ...).
    pub uploads_refused: Family<KindLabel, Counter>,
    /// 1 while the bus carries events between nodes (always 0 without a bus).
    pub bus_up: Gauge,
    /// Seconds one batch of events took to publish to the bus.
    pub bus_publish_seconds: Histogram,
    /// Bus failures by kind (`publish`, `disconnected`, `queue_full`, `decode`).
    pub bus_errors: Family<KindLabel, Counter>,
    pub bus_reconnects: Counter,
    /// Events applied from other nodes.
    pub bus_received: Counter,
    /// Rate-limit checks counted on this node because Redis could not be reached.
    pub bus_limiter_fallbacks: Counter,
    /// The store's calls (PostgreSQL): seconds each took, and failures by kind.
    pub store: crate::store::postgres::StoreObserver,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tidings");
        let connections = Gauge::default();
        let subscriptions = Gauge::default();
        let frames_in = Family::<CommandLabel, Counter>::default();
        let frames_out = Counter::default();
        let messages_dropped = Counter::default();
        let errors = Family::<KindLabel, Counter>::default();
        let upload_bytes = Counter::default();
        let uploads_finished = Counter::default();
        let uploads_refused = Family::<KindLabel, Counter>::default();
        let store = crate::store::postgres::StoreObserver::default();
        registry.register(
            "store_query_seconds",
            "Seconds each store call took (a transaction or a read; PostgreSQL store)",
            store.latency.clone(),
        );
        registry.register(
            "store_errors",
            "Store calls that failed, by kind (unavailable: the database could not be reached)",
            store.errors.clone(),
        );
        registry.register(
            "stomp_connections",
            "STOMP sessions currently connected",
            connections.clone(),
        );
        registry.register(
            "stomp_subscriptions",
            "Active subscriptions over all sessions",
            subscriptions.clone(),
        );
        registry.register(
            "stomp_frames_in",
            "Frames received from clients, by command",
            frames_in.clone(),
        );
        registry.register(
            "stomp_frames_out",
            "Frames written to clients (heart-beats excluded)",
            frames_out.clone(),
        );
        registry.register(
            "stomp_messages_dropped",
            "Droppable messages (typing, presence) not delivered to slow consumers",
            messages_dropped.clone(),
        );
        registry.register(
            "stomp_errors",
            "Errors reported to clients, by kind",
            errors.clone(),
        );
        registry.register(
            "upload_bytes",
            "Bytes of uploads received and synced to disk",
            upload_bytes.clone(),
        );
        registry.register(
            "uploads_finished",
            "Uploads finished into attachments",
            uploads_finished.clone(),
        );
        registry.register(
            "uploads_refused",
            "Upload (tus) requests answered with an error, by error code",
            uploads_refused.clone(),
        );
        let bus_up = Gauge::default();
        let bus_publish_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let bus_errors = Family::<KindLabel, Counter>::default();
        let bus_reconnects = Counter::default();
        let bus_received = Counter::default();
        let bus_limiter_fallbacks = Counter::default();
        registry.register(
            "bus_up",
            "1 while the bus carries events between nodes",
            bus_up.clone(),
        );
        registry.register(
            "bus_publish_seconds",
            "Time to publish one batch of events to the bus",
            bus_publish_seconds.clone(),
        );
        registry.register("bus_errors", "Bus failures, by kind", bus_errors.clone());
        registry.register(
            "bus_reconnects",
            "Times the bus came back after being lost",
            bus_reconnects.clone(),
        );
        registry.register(
            "bus_received",
            "Events applied from other nodes",
            bus_received.clone(),
        );
        registry.register(
            "bus_limiter_fallbacks",
            "Rate-limit checks counted on this node because Redis could not be reached",
            bus_limiter_fallbacks.clone(),
        );
        Metrics {
            registry,
            bus_up,
            bus_publish_seconds,
            bus_errors,
            bus_reconnects,
            bus_received,
            bus_limiter_fallbacks,
            connections,
            subscriptions,
            frames_in,
            frames_out,
            messages_dropped,
            errors,
            upload_bytes,
            uploads_finished,
            uploads_refused,
            store,
        }
    }
}

impl Metrics {
    pub fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn bus_error(&self, kind: &'static str) {
        self.bus_errors.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn upload_refused(&self, kind: &'static str) {
        self.uploads_refused
            .get_or_create(&KindLabel { kind })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
