//! The Tidings server: a STOMP 1.2 broker over WebSocket with Spring's destination
//! conventions, the chat domain on top of it, a REST API with SSE, and SQLite storage.
//!
//! [`ServerState::new`] builds everything from a [`Config`]; [`router`] gives the axum
//! `Router` (tests can call it without a socket); [`serve`] runs it on a listener until the
//! shutdown token fires, then drains connections with a deadline.

pub mod accept;
pub mod access;
pub mod api;
pub mod app;
pub mod auth;
pub mod budget;
pub mod chat;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod files;
pub mod hub;
pub mod inflight;
pub mod malloc;
pub mod metrics;
pub mod rate;
pub mod session;
pub mod socketio;
pub mod stomp_tcp;
pub mod store;
mod ws;

pub use api::ApiError;
pub use app::{AppError, AppSend, Application, Broker, NoApplication};
pub use config::Config;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::ops::Deref;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a request or connection needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct ServerState(Arc<Services>);

/// What [`ServerState`] shares: configuration, the broker, the chat domain and the server's
/// lifecycle (shutdown signal, connection tracker).
#[derive(Debug)]
pub struct Services {
    pub config: Config,
    pub auth: auth::Authenticator,
    pub rules: access::AccessRules,
    pub hub: Arc<hub::Hub>,
    pub metrics: Arc<metrics::Metrics>,
    /// `SEND`s per user (across nodes on the Redis bus).
    pub rate: Arc<cluster::Limiter>,
    /// REST requests per user (`limits.requests_per_minute`, `limits.request_burst`).
    pub requests: cluster::Limiter,
    /// The bus between nodes (none: this node alone).
    pub bus: cluster::Bus,
    /// REST requests in flight per user (`limits.max_requests_in_flight_per_user`).
    pub inflight: Arc<inflight::InFlight>,
    pub app: Arc<dyn Application>,
    pub chat: Arc<chat::Chat>,
    /// Attachments: uploads, downloads, the blob store.
    pub files: Arc<files::Files>,
    /// Fires when the server should stop.
    pub shutdown: CancellationToken,
    /// Every connection task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// The last `/healthz` answer and when its probe started: one probe of the store at a
    /// time, shared by every request that arrived before it started (the endpoint is
    /// public; a flood costs the database one query at a time).
    health: tokio::sync::Mutex<Option<(std::time::Instant, serde_json::Value)>>,
}

impl std::fmt::Debug for dyn Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Application")
    }
}

impl Deref for ServerState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl ServerState {
    /// The whole server: the broker with the chat domain as its application.
    pub fn new(config: Config) -> anyhow::Result<ServerState> {
        ServerState::build(config, None)
    }

    /// The broker with another application on `/app/**` (the REST API still uses the chat
    /// domain). For tests of the broker on its own.
    pub fn with_app(
        config: Config,
        make_app: impl FnOnce(Broker) -> Arc<dyn Application>,
    ) -> anyhow::Result<ServerState> {
        ServerState::build(config, Some(Box::new(make_app)))
    }

    #[allow(clippy::type_complexity)]
    fn build(
        config: Config,
        make_app: Option<Box<dyn FnOnce(Broker) -> Arc<dyn Application> + '_>>,
    ) -> anyhow::Result<ServerState> {
        config.validate()?;
        let auth = auth::Authenticator::from_config(&config.jwt, &config.data_dir)?;
        let metrics = Arc::new(metrics::Metrics::default());
        let l = &config.limits;
        let hub = Arc::new(hub::Hub::new(
            hub::HubLimits {
                max_subscriptions: l.max_subscriptions,
                max_unacked: l.max_unacked,
                queue_backlog: l.queue_backlog,
                user_backlog: l.user_backlog,
                max_backlog_bytes: l.max_backlog_bytes,
                max_backlog_queues: l.max_backlog_queues,
                max_connections_per_user: l.max_connections_per_user,
            },
            metrics.clone(),
        ));
        let bus = cluster::Bus::from_config(&config.cluster, metrics.clone())?;
        tracing::info!(node = %bus.node_id(), bus = %bus.describe(), "cluster bus");
        let rate = Arc::new(bus.limiter("sends", rate::RateLimiter::new(l.sends_per_minute)));
        let store = open_store(&config, &metrics)?;
        let blob_dir = config
            .storage
            .blob_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("blobs"));
        let blobs = files::disk::DiskBlobStore::new(blob_dir.clone()).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the blob directory {}: {e}",
                blob_dir.display()
            )
        })?;
        let blob_gc = Arc::new(tokio::sync::Notify::new());
        let files = Arc::new(
            files::Files::new(
                store.clone(),
                Arc::new(blobs),
                &config.data_dir,
                files::FileLimits::from_config(&config.limits),
                blob_gc.clone(),
                metrics.clone(),
            )
            .map_err(|e| anyhow::anyhow!("cannot create the uploads directory: {e}"))?,
        );
        let accounts = chat::accounts::Accounts::new(
            store.clone(),
            auth.clone(),
            config.auth.clone(),
            metrics.clone(),
            bus.clone(),
        );
        let chat = chat::Chat::new(
            store,
            accounts,
            Broker::new(hub.clone(), bus.clone()),
            rate.clone(),
            std::time::Duration::from_millis(config.limits.typing_ttl_ms),
        );
        let quota = chat::quota::Quota::new(&config.limits, metrics.clone(), &bus);
        let chat = Arc::new(
            chat.with_quota(quota)
                .with_edit_window(std::time::Duration::from_secs(config.chat.edit_window_secs))
                .with_attachments(config.limits.max_attachments_per_message, blob_gc),
        );
        let app = match make_app {
            Some(make) => make(Broker::new(hub.clone(), bus.clone())),
            None => Arc::new(chat::stomp::ChatApp(chat.clone())),
        };
        let requests = bus.limiter(
            "requests",
            rate::RateLimiter::with_burst(
                l.requests_per_minute,
                std::time::Duration::from_secs(60),
                l.request_burst,
            ),
        );
        Ok(ServerState(Arc::new(Services {
            rules: access::AccessRules::new(&config.access),
            rate,
            requests,
            inflight: Arc::new(inflight::InFlight::new(l.max_requests_in_flight_per_user)),
            chat,
            files,
            config,
            auth,
            hub,
            metrics,
            bus,
            app,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            health: tokio::sync::Mutex::new(None),
        })))
    }
}

/// The store `storage.store` names: SQLite in the data directory, or PostgreSQL (reached
/// and migrated before the server starts; the pool belongs to the caller's runtime).
fn open_store(
    config: &Config,
    metrics: &metrics::Metrics,
) -> anyhow::Result<Arc<dyn store::Store>> {
    match config.storage.kind()? {
        config::StoreKind::Sqlite => {
            let db = config.data_dir.join("tidings.db");
            let store = store::sqlite::SqliteStore::open(&db, config.storage.synchronous)
                .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", db.display()))?;
            Ok(Arc::new(store))
        }
        config::StoreKind::Postgres(url) => {
            let options = config.storage.pg_options(&url);
            let masked = store::postgres::masked_url(&url);
            let store = store::postgres::PostgresStore::open_blocking(&options)
                .map_err(|e| anyhow::anyhow!("cannot use the PostgreSQL store {masked}: {e}"))?
                .with_observer(metrics.store.clone());
            tracing::info!(
                url = %masked,
                pool_size = options.pool_size,
                "store: PostgreSQL, schema up to date"
            );
            Ok(Arc::new(store))
        }
    }
}

impl ServerState {
    /// The chat domain.
    pub fn chat(&self) -> &Arc<chat::Chat> {
        &self.chat
    }

    /// A handle to publish through the broker, as an application does.
    pub fn broker(&self) -> Broker {
        Broker::new(self.hub.clone(), self.bus.clone())
    }

    /// Connects the bus between nodes (nothing to do without one); idempotent, and
    /// [`serve`] calls it. Fails with a sentence when the bus cannot be reached.
    pub async fn start_bus(&self) -> anyhow::Result<()> {
        let inbound: Arc<dyn cluster::Inbound> = self.chat.clone();
        self.bus.start(inbound, self.shutdown.clone()).await
    }
}

/// The HTTP surface: `/ws`, `/ws/websocket`, `/api/**`, `/healthz`, `/metrics`.
pub fn router(state: ServerState) -> Router {
    let socketio = socketio::router(&state).unwrap_or_default();
    Router::new()
        .merge(api::router(&state))
        .merge(socketio)
        .route("/ws", get(ws::upgrade))
        .route("/ws/websocket", get(ws::upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_deadline,
        ))
        .with_state(state)
}

/// Ends a request whose body comes in too slowly, or whose answer takes too long, with
/// `408` after `limits.request_timeout_ms`: the header-read timeout (`accept`) covers only
/// the head, and a body trickled a byte at a time would otherwise hold its connection for
/// good. A streaming answer (SSE, a WebSocket upgrade) is done once its head is ready.
async fn request_deadline(
    axum::extract::State(state): axum::extract::State<ServerState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = state.config.limits.request_timeout();
    // An upload's PATCH may take longer than that as a whole; it ends when its body stalls
    // for that long instead (see `files`).
    if request.method() == axum::http::Method::PATCH
        && request.uri().path().starts_with("/api/uploads/")
    {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            state.metrics.error("request_timeout");
            // The rest of the body may still be on its way: this connection is done.
            (
                [(header::CONNECTION, "close")],
                ApiError::RequestTimeout(limit),
            )
                .into_response()
        }
    }
}

/// Liveness, the store and the bus: `{"status", "node", "bus", "store": {"kind", "ok",
/// "latencyMs"}}`. `status` is `degraded` while the store cannot be reached (`store.ok`
/// false with `store.error`) or the bus between nodes is down (this node still serves its
/// own sessions); still 200: restarting the node would not help. The store probe waits at
/// most 2 s.
async fn healthz(
    axum::extract::State(state): axum::extract::State<ServerState>,
) -> Json<serde_json::Value> {
    // One probe at a time; a request waiting while one ran takes its answer if that probe
    // started after the request arrived (so the answer is never older than the question).
    let asked = std::time::Instant::now();
    let mut last = state.health.lock().await;
    if let Some((started, answer)) = last.as_ref() {
        if *started >= asked {
            return Json(answer.clone());
        }
    }
    let started = std::time::Instant::now();
    let answer = probe_health(&state).await;
    *last = Some((started, answer.clone()));
    Json(answer)
}

/// The node, its bus and its store, as `/healthz` reports them.
async fn probe_health(state: &ServerState) -> serde_json::Value {
    let store = &state.chat.store;
    let probe = tokio::time::timeout(std::time::Duration::from_secs(2), store.ping()).await;
    let (ok, detail) = match probe {
        Ok(Ok(latency)) => (
            true,
            serde_json::json!({"latencyMs": latency.as_secs_f64() * 1000.0}),
        ),
        Ok(Err(e)) => (false, serde_json::json!({"error": e.to_string()})),
        Err(_) => (
            false,
            serde_json::json!({"error": "the database did not answer within 2 s"}),
        ),
    };
    let mut report = serde_json::json!({"kind": store.kind(), "ok": ok});
    if let (Some(r), Some(d)) = (report.as_object_mut(), detail.as_object()) {
        r.extend(d.clone());
    }
    serde_json::json!({
        "status": if ok && state.bus.up() { "ok" } else { "degraded" },
        "node": state.bus.node_id(),
        "bus": state.bus.health(),
        "store": report,
    })
}

/// Prometheus text. Unless `metrics_public`, only for the service token or an admin: the
/// counters tell how the server is used and attacked.
async fn metrics_text(
    axum::extract::State(state): axum::extract::State<ServerState>,
    caller: Result<api::Caller, ApiError>,
) -> Response {
    if !state.config.metrics_public {
        match caller {
            Ok(c) if c.may_publish() => {}
            Ok(_) => {
                return ApiError::Forbidden("metrics are for the service token or an admin")
                    .into_response()
            }
            Err(e) => return e.into_response(),
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    // The path only: a query string may hold a token.
    ApiError::NoRoute(uri.path().to_owned())
}

/// Serves until `state.shutdown` fires: then stops accepting, tells every connection
/// (an `ERROR` frame "server is shutting down") and waits for them up to the drain deadline.
/// Connections are admitted and timed as [`accept`] describes. With `stomp_tcp.listen`
/// set, STOMP over TCP is served too, bound here (see [`serve_with`] to bind it first).
pub async fn serve(listener: TcpListener, state: ServerState) -> anyhow::Result<()> {
    let stomp = stomp_tcp::StompListener::bind(&state.config).await?;
    serve_with(listener, stomp, state).await
}

/// [`serve`] with the STOMP TCP listener already bound (so its address is known first).
pub async fn serve_with(
    listener: TcpListener,
    stomp: Option<stomp_tcp::StompListener>,
    state: ServerState,
) -> anyhow::Result<()> {
    let tracker = state.tracker.clone();
    let drain = state.config.limits.drain_timeout();
    // Uploads a crash or an expiry left behind go before anyone can upload again.
    if let Err(e) = state.files.sweep().await {
        tracing::warn!(error = %e, "sweeping uploads at start-up failed");
    }
    tokio::spawn(state.files.clone().run(state.shutdown.clone()));
    state.start_bus().await?;
    let bus = state.bus.clone();
    if let Some(stomp) = stomp {
        tokio::spawn(stomp_tcp::run(stomp, state.clone()));
    }
    accept::run(listener, state.clone(), router(state)).await;
    tracker.close();
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        tracing::warn!(
            remaining = tracker.len(),
            "drain deadline passed; closing remaining connections"
        );
    }
    bus.stop().await;
    Ok(())
}
