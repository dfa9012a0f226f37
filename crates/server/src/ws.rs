//! The WebSocket endpoint: origin check, subprotocol choice, size caps, then a session.

use crate::session::{self, Inbound, Upgrade};
use crate::{ApiError, ServerState};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// Origins of the Tidings desktop app's webview.
const APP_ORIGINS: &[&str] = &[
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

/// `GET /ws` and `GET /ws/websocket`.
pub async fn upgrade(
    State(state): State<ServerState>,
    extensions: axum::http::Extensions,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !origin_allowed(
            origin,
            headers.get(header::HOST).and_then(|h| h.to_str().ok()),
            &state.config.allowed_origins,
        ) {
            state.metrics.error("origin_refused");
            tracing::info!(origin, "WebSocket refused: origin not allowed");
            return ApiError::OriginNotAllowed(origin.to_owned()).into_response();
        }
    }
    // The scheme is case-insensitive (RFC 7235), as on the REST API.
    let token = query
        .token
        .or_else(|| crate::api::bearer(&headers).map(str::to_owned));
    // The WebSocket layer allows a little more than a STOMP frame so that an oversized
    // frame gets the STOMP error naming the limit; far larger messages are cut off here.
    let cap = state.config.limits.max_frame_bytes * 2 + 4096;
    let upgrade = Upgrade {
        token,
        remote: extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
        system: None,
    };
    let tracker = state.tracker.clone();
    ws.protocols(["v12.stomp", "v11.stomp", "v10.stomp"])
        // The read buffer grows for a large frame when one comes; most connections idle
        // or carry small frames, and tungstenite's default (128 KiB, zero-filled on every
        // read) made an idle connection cost ~140 KB of memory.
        .read_buffer_size(READ_BUFFER)
        // Unbounded by default: a peer that sends pings and never reads had a pong queued
        // for each (tungstenite answers pings while reading, and appends the pong to this
        // buffer when the socket cannot take it). Our own frames wait for the buffer to
        // drain before the next is written, so room for the buffer plus the largest frame
        // is all they need; pongs past that are dropped, one kept for later.
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER + cap + 4096)
        .max_message_size(cap)
        .max_frame_size(cap)
        .on_upgrade(move |socket| tracker.track_future(run(socket, state, upgrade)))
}

/// A STOMP session over a WebSocket: each message is STOMP bytes (text or binary), and
/// each frame the session writes goes as one message (text when it is UTF-8). Not an
/// `async fn`, so that the socket (moved into its two halves here) is not also kept in the
/// connection's future for its whole life (see `session::run`).
fn run(
    socket: WebSocket,
    state: ServerState,
    upgrade: Upgrade,
) -> impl std::future::Future<Output = ()> + Send {
    let (sink, stream) = socket.split();
    let stream = stream.map(|m| match m {
        Ok(Message::Text(t)) => Inbound::Message(Bytes::from(t)),
        Ok(Message::Binary(b)) => Inbound::Message(b),
        Ok(Message::Close(_)) => Inbound::Closed,
        Ok(_) => Inbound::Control,
        // A reset or a protocol violation at the WebSocket level: the peer is gone or
        // cannot be answered in STOMP.
        Err(e) if is_capacity_error(&e) => Inbound::TooLarge,
        Err(_) => Inbound::Closed,
    });
    let sink = sink.with(|b: Bytes| std::future::ready(Ok::<_, axum::Error>(to_message(b))));
    session::run(stream, sink, state, upgrade)
}

fn to_message(bytes: Bytes) -> Message {
    // Checked before it is handed over: a failed `try_from` would have consumed the bytes,
    // and keeping a clone for that case cost an allocation per delivery.
    if std::str::from_utf8(&bytes).is_err() {
        return Message::Binary(bytes);
    }
    match axum::extract::ws::Utf8Bytes::try_from(bytes) {
        Ok(text) => Message::Text(text),
        Err(e) => unreachable!("checked as UTF-8 above: {e}"),
    }
}

/// Whether a WebSocket read failed because a message or frame passed the size cap.
fn is_capacity_error(e: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    let inner: &(dyn std::error::Error + 'static) = e;
    std::iter::successors(Some(inner), |e| e.source())
        .any(|e| matches!(e.downcast_ref::<Error>(), Some(Error::Capacity(_))))
}

/// The WebSocket read buffer of a connection, held (zero-filled, so resident) for its whole
/// life, idle or not; it is also the most one read takes from the socket. A STOMP frame
/// from a client is mostly a heart-beat or a small `SEND`, which fit; a larger frame grows
/// the buffer for its length and is read in steps of this size.
const READ_BUFFER: usize = 1024;

/// Bytes the WebSocket layer gathers before it writes to the socket (tungstenite's default).
const WRITE_BUFFER: usize = 128 * 1024;

/// No `Origin` (not a browser) is handled by the caller. Allowed: `"*"`, a listed origin,
/// the app's own origins, and a page served from this same host.
pub(crate) fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
        || APP_ORIGINS.contains(&origin)
    {
        return true;
    }
    let origin_host = origin
        .split_once("://")
        .map(|(_, h)| h.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_allowed_by_default_are_same_host_and_the_app() {
        assert!(origin_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(origin_allowed(
            "tauri://localhost",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(origin_allowed(
            "https://app.example",
            None,
            &["https://app.example".into()]
        ));
        assert!(origin_allowed("https://any.example", None, &["*".into()]));
    }
}
