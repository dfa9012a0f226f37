//! `/api/notifications/*` (including the SSE stream) and `/api/announcements`.

use super::extract::{bearer, principal_from_token, AuthUser, Body, Caller, Path, Query};
use crate::chat::Chat;
use crate::{ApiError, ServerState};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Json;
use futures_util::Stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use tidings_proto::api::{
    AnnouncementPage, AnnouncementQuery, CreateAnnouncement, CreateNotification, ErrorBody,
    NotificationPage, NotificationQuery, NotificationsCreated, ReadAllRequest,
};
use tidings_proto::{Announcement, Envelope, Event, Notification, NotificationsRead};
use tokio::sync::broadcast::error::RecvError;

fn forbidden_to_publish() -> ApiError {
    ApiError::Forbidden("only backend services (the service token) and admins may do this")
}

/// The user's notifications in ascending `seq`: `after` to catch up, `before` to page back,
/// else the newest page; `unread=true` for the unread ones only.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", security(("bearer" = [])),
    params(NotificationQuery),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationPage),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Query(q): Query<NotificationQuery>,
) -> Result<Json<NotificationPage>, ApiError> {
    Ok(Json(state.chat().notifications(&me.name, q).await?))
}

/// Notify users (backend services with the service token, or admins): "your appointment
/// was moved". Delivered live on `/user/queue/notifications` and the SSE stream.
#[utoipa::path(post, path = "/api/notifications", tag = "notifications", security(("bearer" = [])),
    request_body = CreateNotification,
    responses(
        (status = 201, description = "Stored and delivered, one per user", body = NotificationsCreated),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Neither a service nor an admin", body = ErrorBody),
        (status = 404, description = "A user does not exist (nothing was stored)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ServerState>,
    caller: Caller,
    Body(req): Body<CreateNotification>,
) -> Result<(StatusCode, Json<NotificationsCreated>), ApiError> {
    if !caller.may_publish() {
        return Err(forbidden_to_publish());
    }
    let notifications = state.chat().notify(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(NotificationsCreated { notifications }),
    ))
}

/// Mark one of the user's notifications read.
#[utoipa::path(post, path = "/api/notifications/{id}/read", tag = "notifications",
    security(("bearer" = [])), params(("id" = String, Path, description = "Notification id")),
    responses(
        (status = 200, description = "The notification, read", body = Notification),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "The user has no such notification", body = ErrorBody),
    ))]
pub async fn mark_read(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Notification>, ApiError> {
    Ok(Json(
        state.chat().mark_notification_read(&me.name, &id).await?,
    ))
}

/// Mark every notification read (or every one up to `upTo`) in one request; the user's
/// other sessions get `NOTIFICATIONS_READ` on `/user/queue/notifications`. The body is
/// optional.
#[utoipa::path(post, path = "/api/notifications/read-all", tag = "notifications",
    security(("bearer" = [])),
    request_body(content = Option<ReadAllRequest>, content_type = "application/json",
        description = "Optional: `upTo`, the newest `seq` to mark read"),
    responses(
        (status = 200, description = "Marked read; the unread count after", body = NotificationsRead),
        (status = 400, description = "Malformed body or negative upTo", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    ))]
pub async fn mark_all_read(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    body: Bytes,
) -> Result<Json<NotificationsRead>, ApiError> {
    let req = if body.iter().all(u8::is_ascii_whitespace) {
        ReadAllRequest::default()
    } else {
        // An object only: serde would also read `[3]` as the struct's fields in order.
        let malformed = |e: serde_json::Error| ApiError::Malformed(e.to_string());
        match serde_json::from_slice::<serde_json::Value>(&body).map_err(malformed)? {
            v @ serde_json::Value::Object(_) => serde_json::from_value(v).map_err(malformed)?,
            _ => {
                return Err(ApiError::Malformed(
                    "the body must be a JSON object, such as {\"upTo\": 42}".into(),
                ))
            }
        }
    };
    Ok(Json(
        state
            .chat()
            .mark_all_notifications_read(&me.name, req)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// The access token, for clients that cannot set headers (EventSource).
    token: Option<String>,
    /// Replay notifications with `seq` above this first (like `Last-Event-ID`).
    after: Option<i64>,
}

/// Server-Sent Events: `connected` first, then a `notification` event (id = `seq`, data = a
/// `NOTIFICATION` envelope) for each new notification. `Last-Event-ID` (or `after`) replays
/// what was missed.
#[utoipa::path(get, path = "/api/notifications/stream", tag = "notifications",
    security(("bearer" = [])), params(StreamQuery),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 429, description = "Too many streams open for this user", body = ErrorBody),
    ))]
pub async fn stream(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    open_stream(state, headers, q, None).await
}

/// The same stream at the path HealthMate-style clients use; `user` must be the caller.
#[utoipa::path(get, path = "/api/notifications/stream/{user}", tag = "notifications",
    security(("bearer" = [])),
    params(("user" = String, Path, description = "The caller's own id"), StreamQuery),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Another user's stream", body = ErrorBody),
        (status = 429, description = "Too many streams open for this user", body = ErrorBody),
    ))]
pub async fn stream_for(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Path(user): Path<String>,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    open_stream(state, headers, q, Some(user)).await
}

async fn open_stream(
    state: ServerState,
    headers: HeaderMap,
    q: StreamQuery,
    path_user: Option<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let token = bearer(&headers).or(q.token.as_deref());
    let (principal, me) = principal_from_token(&state, token).await?;
    if path_user.is_some_and(|u| u != me.name) {
        return Err(ApiError::Forbidden(
            "you may only open your own notification stream",
        ));
    }
    let chat = state.chat().clone();
    // Ends the stream when the bus between nodes lost events (the client resumes).
    let bus_gap = chat.feed.ended();
    // Subscribe before reading the store, so nothing committed in between is missed.
    let rx = chat.feed.subscribe(&me.name);
    let max = state.config.limits.max_sse_streams;
    if chat.feed.streams(&me.name) > max {
        return Err(ApiError::TooManyStreams { max });
    }
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(q.after);
    let last = match resume {
        Some(after) => after.max(0),
        None => {
            let newest = NotificationQuery {
                limit: Some(1),
                ..NotificationQuery::default()
            };
            chat.notifications(&me.name, newest).await?.last_seq
        }
    };
    let st = StreamState {
        chat,
        user: me.name,
        last,
        rx,
        pending: VecDeque::new(),
        more: resume.is_some(),
        connected: false,
    };
    let shutdown = state.shutdown.clone();
    // The stream ends when the server stops, or when the access token it was opened with
    // expires or is signed out: the client reconnects with a fresh token and resumes
    // from `Last-Event-ID`.
    let token_end = state.auth.token_end(&principal);
    let metrics = state.metrics.clone();
    let ends = async move {
        tokio::select! {
            () = shutdown.cancelled_owned() => {}
            () = bus_gap => {}
            e = token_end => metrics.error(e.kind()),
        }
    };
    let events =
        futures_util::StreamExt::take_until(futures_util::stream::unfold(st, next_event), ends);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

struct StreamState {
    chat: Arc<Chat>,
    user: String,
    /// The highest `seq` sent (or the starting point).
    last: i64,
    rx: tokio::sync::broadcast::Receiver<Arc<Notification>>,
    pending: VecDeque<Notification>,
    /// Whether the store may hold notifications after `last` not yet in `pending`.
    more: bool,
    connected: bool,
}

async fn next_event(mut st: StreamState) -> Option<(Result<SseEvent, Infallible>, StreamState)> {
    if !st.connected {
        st.connected = true;
        let data = serde_json::json!({"userId": st.user, "lastSeq": st.last}).to_string();
        return Some((Ok(SseEvent::default().event("connected").data(data)), st));
    }
    loop {
        if let Some(n) = st.pending.pop_front() {
            if n.seq <= st.last {
                continue;
            }
            st.last = n.seq;
            let at = n.created_at;
            let env = Envelope::at(Event::Notification(n), at, None);
            let ev = SseEvent::default()
                .event("notification")
                .id(st.last.to_string())
                .data(env.to_json());
            return Some((Ok(ev), st));
        }
        if st.more {
            let next = NotificationQuery {
                after: Some(st.last),
                limit: Some(500),
                ..NotificationQuery::default()
            };
            match st.chat.notifications(&st.user, next).await {
                Ok(page) => {
                    st.more = page.has_more;
                    st.pending.extend(page.notifications);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notification stream could not read the store; ending it");
                    return None;
                }
            }
        }
        match st.rx.recv().await {
            Ok(n) if n.seq == st.last + 1 => st.pending.push_back((*n).clone()),
            Ok(n) if n.seq <= st.last => {}
            // A gap or a lag: the store has what was skipped.
            Ok(_) | Err(RecvError::Lagged(_)) => st.more = true,
            Err(RecvError::Closed) => return None,
        }
    }
}

/// Announcements in ascending `seq`.
#[utoipa::path(get, path = "/api/announcements", tag = "announcements", security(("bearer" = [])),
    params(AnnouncementQuery),
    responses(
        (status = 200, description = "A page of announcements", body = AnnouncementPage),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
pub async fn announcements(
    State(state): State<ServerState>,
    AuthUser(_): AuthUser,
    Query(q): Query<AnnouncementQuery>,
) -> Result<Json<AnnouncementPage>, ApiError> {
    Ok(Json(state.chat().announcements(q.after, q.limit).await?))
}

/// Post a system-wide announcement to `/topic/announcements` (service token or admin).
#[utoipa::path(post, path = "/api/announcements", tag = "announcements", security(("bearer" = [])),
    request_body = CreateAnnouncement,
    responses(
        (status = 201, description = "Stored and published", body = Announcement),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Neither a service nor an admin", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    ))]
pub async fn announce(
    State(state): State<ServerState>,
    caller: Caller,
    Body(req): Body<CreateAnnouncement>,
) -> Result<(StatusCode, Json<Announcement>), ApiError> {
    if !caller.may_publish() {
        return Err(forbidden_to_publish());
    }
    let a = state.chat().announce(caller.name(), req).await?;
    Ok((StatusCode::CREATED, Json(a)))
}
