//! The Socket.IO v4 endpoint at `/socket.io/` (socketioxide): the seeds' event contract
//! over the chat domain, through the same services, hub and bus as STOMP and REST, so a
//! message sent here reaches STOMP, SSE and the other nodes with the same `seq`,
//! idempotency and authorization, and the other way round. The contract (events,
//! payloads, errors, rooms, limits, `[socketio]` keys) is docs/socketio.md.
//!
//! - `config`: the `[socketio]` section.
//! - `socket`: one connection (handshake, hub session, pump, worker, clean-up).
//! - `inbound`: the events a client emits; `outbound`: hub deliveries as events.
//! - `error`: what a refused handshake or event tells the client.
//! - `conformance`: the echo handlers of the test-only conformance mode.

mod config;
mod conformance;
mod error;
mod inbound;
pub mod outbound;
mod socket;

pub use config::SocketIoConfig;
pub use error::{ConnectError, EventError};

use crate::rate::RateLimiter;
use crate::{ApiError, ServerState};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Log directives the server adds to `RUST_LOG`: socketioxide and Engine.IO log handshakes
/// and requests (with the `auth` payload and headers, so tokens) at debug level; they stay at
/// `info` even under `RUST_LOG=debug`. Engine.IO's socket module (heartbeats, packets the
/// server sends) may still go to debug when asked for by name, as the conformance script does.
pub const LOG_CEILING: [&str; 2] = ["socketioxide=info", "engineioxide=info"];

/// What every socket's handlers share.
#[derive(Debug)]
pub struct Sio {
    state: ServerState,
    /// Sockets connected (or past the handshake) on this node.
    connections: Arc<AtomicUsize>,
    /// Events per socket (`socketio.events_per_minute`, `socketio.event_burst`), keyed by
    /// socket id: the server's token bucket, per connection rather than per user.
    events: RateLimiter,
}

/// A place among `socketio.max_connections`, held in the socket's extensions and given
/// back when the socket ends.
#[derive(Debug, Clone)]
pub struct Slot {
    _guard: Arc<SlotGuard>,
}

#[derive(Debug)]
struct SlotGuard(Arc<AtomicUsize>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Sio {
    fn take_slot(&self) -> Result<Slot, ConnectError> {
        let limit = self.state.config.socketio.max_connections;
        let taken = self
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Slot {
                _guard: Arc::new(SlotGuard(self.connections.clone())),
            }),
            Err(_) => Err(ConnectError::TooMany(limit)),
        }
    }
}

/// The `/socket.io/` routes, or none when `socketio.enabled` is off.
pub fn router(state: &ServerState) -> Option<Router<ServerState>> {
    let cfg = &state.config.socketio;
    if !cfg.enabled {
        return None;
    }
    let build = |path: &'static str| {
        let payload = usize::try_from(cfg.max_payload_bytes).unwrap_or(usize::MAX);
        SocketIo::builder()
            .req_path(path)
            .ping_interval(cfg.ping_interval())
            .ping_timeout(cfg.ping_timeout())
            .connect_timeout(cfg.connect_timeout())
            .max_payload(cfg.max_payload_bytes)
            .ws_max_message_size(payload)
            .ws_max_frame_size(payload)
            .max_buffer_size(cfg.max_buffer_size)
            .build_svc()
    };
    let (svc, io) = build("/socket.io");
    let mut routes = Router::new();
    if cfg.conformance {
        tracing::warn!("socketio.conformance is on: /socket.io/ serves the conformance suite's echo handlers, not the chat");
        conformance::mount(&io);
        // The Engine.IO suite speaks to /engine.io/: the same engine, echoing each packet.
        let payload = usize::try_from(cfg.max_payload_bytes).unwrap_or(usize::MAX);
        let engine_config = engineioxide::config::EngineIoConfig::builder()
            .req_path("/engine.io")
            .ping_interval(cfg.ping_interval())
            .ping_timeout(cfg.ping_timeout())
            .max_payload(cfg.max_payload_bytes)
            .ws_max_message_size(payload)
            .ws_max_frame_size(payload)
            .max_buffer_size(cfg.max_buffer_size)
            .build();
        let engine = engineioxide::service::EngineIoService::with_config(
            Arc::new(conformance::EngineEcho),
            engine_config,
        );
        routes = routes
            .route_service("/engine.io", engine.clone())
            .route_service("/engine.io/", engine);
    } else {
        let sio = Arc::new(Sio {
            state: state.clone(),
            connections: Arc::new(AtomicUsize::new(0)),
            events: RateLimiter::with_burst(
                cfg.events_per_minute,
                Duration::from_secs(60),
                cfg.event_burst,
            ),
        });
        let on_connect = {
            let sio = sio.clone();
            move |s: SocketRef| socket::connected(sio.clone(), s)
        };
        let middleware = move |s: SocketRef, TryData(auth): TryData<serde_json::Value>| {
            socket::authenticate(sio.clone(), s, auth.ok())
        };
        io.ns("/", on_connect.with(middleware));
    }
    Some(
        routes
            .route_service("/socket.io", svc.clone())
            .route_service("/socket.io/", svc)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                check_origin,
            )),
    )
}

/// The same `Origin` rule as `/ws` (`allowed_origins`): a browser page from elsewhere may
/// not open a socket with a user's token.
async fn check_origin(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !crate::ws::origin_allowed(origin, host, &state.config.allowed_origins) {
            state.metrics.error("origin_refused");
            return ApiError::Forbidden(
                "this Origin may not open a Socket.IO connection: add it to allowed_origins",
            )
            .into_response();
        }
    }
    next.run(request).await
}
