//! The per-user cap on REST requests in flight, as a layer over the `/api` routes: a
//! request with a valid bearer token holds one of its user's places until its answer's
//! body has been sent (or dropped); past the cap it gets 429 at once. An event stream
//! (SSE) gives its place back once its head is ready: streams have their own cap
//! (`limits.max_sse_streams`). Requests without a valid token pass through to their
//! handler, which refuses them; the request *rate* is charged there (`extract`).

use super::extract::bearer;
use crate::{ApiError, ServerState};
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::time::Duration;

/// How long a client refused for having too many requests in flight is told to wait.
const IN_FLIGHT_RETRY_AFTER: Duration = Duration::from_secs(1);

pub async fn in_flight(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    // The token is checked again by the handler: an HS256 check takes microseconds.
    let user = bearer(request.headers()).and_then(|t| state.auth.verify(t).ok());
    let Some(user) = user else {
        return next.run(request).await;
    };
    let Some(permit) = state.inflight.try_acquire(&user.name) else {
        state.metrics.error("requests_in_flight");
        return ApiError::RateLimited {
            message: format!(
                "too many requests at once: at most {} in flight per user; wait for the answers",
                state.inflight.max()
            ),
            retry_after: IN_FLIGHT_RETRY_AFTER,
        }
        .into_response();
    };
    let response = next.run(request).await;
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    // Nothing left to send (or sent for good, a stream): nothing is held.
    if streaming || response.body().size_hint().exact() == Some(0) {
        return response;
    }
    // The place is held by the body: given back once it is sent, or dropped. The length
    // stays in the head (a stream has none of its own).
    let (mut parts, body) = response.into_parts();
    if let Some(len) = body.size_hint().exact() {
        parts.headers.insert(header::CONTENT_LENGTH, len.into());
    }
    let body = Body::from_stream(body.into_data_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    }));
    Response::from_parts(parts, body)
}
