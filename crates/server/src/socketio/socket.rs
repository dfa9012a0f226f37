//! One Socket.IO connection to the chat: the handshake (token, limits, a hub session), the
//! pump that turns hub deliveries into events, the worker that handles the client's events
//! in order, and the clean-up when it ends.
//!
//! A socket is a hub session like a STOMP one, subscribed to the user's queues
//! (`/user/queue/messages`, `/user/queue/notifications`), `/topic/presence` and
//! `/topic/announcements`, plus `/topic/conversations/{cid}` for each conversation room it
//! joined. So whatever reaches a STOMP subscriber, from this node or across the bus from
//! another, reaches the socket too, with the same slow-consumer policy: the hub's bounded
//! queue per session, then the socket's bounded Engine.IO buffer (typing and presence are
//! skipped when it is full; anything else ends the connection with `message:error`).

use super::error::{ConnectError, EventError};
use super::{inbound, outbound, Sio};
use crate::auth::Principal;
use crate::hub::{outbox, AckMode, Closer, Outbound, SessionId};
use crate::ServerState;
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tidings_proto::dest;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Client events waiting for the worker, per socket; past this the client is told to slow
/// down (the rate limit normally comes first).
const INBOX: usize = 64;

/// What the handshake made for one socket; kept in the socket's extensions.
#[derive(Debug)]
pub struct Conn {
    pub principal: Principal,
    pub session: SessionId,
    closer: Arc<Closer>,
    deliveries: Mutex<Option<outbox::Receiver<Outbound>>>,
    /// The client's events, queued from the moment the handshake is accepted (see
    /// [`listen`]); the worker takes the receiver when it starts.
    events: Mutex<Option<mpsc::Receiver<(String, Value, AckSender)>>>,
    /// Fires when the socket is gone; ends the pump and the worker.
    done: CancellationToken,
    cleaned: AtomicBool,
}

/// The hub subscriptions every socket has, by (id, destination as named).
const STANDING: [&str; 4] = [
    dest::USER_MESSAGES,
    dest::USER_NOTIFICATIONS,
    dest::PRESENCE,
    dest::ANNOUNCEMENTS,
];

fn bearer(v: &str) -> &str {
    let v = v.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
        _ => v,
    }
}

/// The token: the handshake's `auth.token` (the seeds' way), an `Authorization` header
/// on the Engine.IO request, or `?token=` on its URL (as on `/ws`).
fn token_of(s: &SocketRef, auth: Option<&Value>) -> Option<String> {
    if let Some(t) = auth.and_then(|a| a.get("token")).and_then(Value::as_str) {
        return Some(bearer(t).to_owned());
    }
    let parts = s.req_parts();
    if let Some(h) = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    {
        return Some(bearer(h).to_owned());
    }
    parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(str::to_owned)
    })
}

/// The connect middleware: refuses with a `connect_error` whose message says why, or
/// registers the socket with the hub and keeps its [`Conn`] in the socket's extensions.
pub async fn authenticate(
    sio: Arc<Sio>,
    s: SocketRef,
    auth: Option<Value>,
) -> Result<(), ConnectError> {
    let state = &sio.state;
    if state.shutdown.is_cancelled() {
        return Err(ConnectError::ShuttingDown);
    }
    let result = async {
        let token = token_of(&s, auth.as_ref()).ok_or(ConnectError::MissingToken)?;
        let principal = state.auth.verify(&token).map_err(ConnectError::Token)?;
        state
            .app
            .authorize_connect(&principal)
            .await
            .map_err(ConnectError::Refused)?;
        let slot = sio.take_slot()?;
        let (tx, rx) = outbox::channel(state.config.limits.outbound_queue);
        let (inbox, events) = mpsc::channel(INBOX);
        let closer = Arc::new(Closer::default());
        let session = state.hub.register(
            principal.clone(),
            tidings_stomp::Version::V1_2,
            tx,
            closer.clone(),
        )?;
        let conn = Arc::new(Conn {
            principal,
            session,
            closer,
            deliveries: Mutex::new(Some(rx)),
            events: Mutex::new(Some(events)),
            done: CancellationToken::new(),
            cleaned: AtomicBool::new(false),
        });
        for d in STANDING {
            let key = dest::for_user(&conn.principal.name, d);
            let key = if d.starts_with("/user/") {
                key
            } else {
                d.to_owned()
            };
            if let Err(e) = state.hub.subscribe(session, d, &key, d, AckMode::Auto) {
                state.hub.unregister(session);
                return Err(e.into());
            }
        }
        s.extensions.insert(conn);
        s.extensions.insert(slot);
        listen(&sio, &s, inbox);
        Ok(())
    }
    .await;
    if let Err(e) = &result {
        state.metrics.error("socketio_connect_refused");
        tracing::info!(error = %e, "Socket.IO connection refused");
    }
    result
}

/// The connect handler: wires the socket's events, starts its pump, tells the user and
/// the others (presence).
pub async fn connected(sio: Arc<Sio>, s: SocketRef) {
    let Some(conn) = s.extensions.get::<Arc<Conn>>() else {
        return;
    };
    let state = sio.state.clone();
    state.app.on_connect(&conn.principal, conn.session).await;
    {
        let conn = conn.clone();
        let state = state.clone();
        s.on_disconnect(move |s: SocketRef| {
            conn.clean_up(&state, &s);
            std::future::ready(())
        });
    }
    let work = conn
        .events
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(work) = work {
        tokio::spawn(work_loop(state.clone(), conn.clone(), s.clone(), work));
    }
    tokio::spawn(pump(state.clone(), conn.clone(), s.clone()));
    let connected_users = online_peers(&state, &conn.principal.name).await;
    let _ = s.emit(
        "connection:established",
        &json!({"userId": &*conn.principal.name, "socketId": s.id.to_string(),
                "connectedUsers": connected_users}),
    );
    // The socket may have gone before its disconnect handler was in place.
    if !s.connected() {
        conn.clean_up(&state, &s);
    }
    tracing::debug!(user = %conn.principal.name, session = conn.session, "Socket.IO connected");
}

/// Takes the client's events into `inbox`, for the worker. Set up by the connect
/// middleware, before the namespace's CONNECT packet goes out: socketioxide runs the connect
/// handler as a task of its own after sending that packet, so a client that emits at once
/// (as socket.io-client may on `connect`) would otherwise find no handler on a busy machine,
/// and its event would be dropped without an answer.
fn listen(sio: &Arc<Sio>, s: &SocketRef, inbox: mpsc::Sender<(String, Value, AckSender)>) {
    let sio = sio.clone();
    s.on_fallback(
        move |s: SocketRef, Event(name): Event, ack: AckSender, TryData(data): TryData<Value>| {
            // Runs in the order the packets arrived; the worker keeps that order.
            let data = data.unwrap_or(Value::Null);
            let refusal = if !sio.events.allow(&s.id.to_string(), Instant::now()) {
                Some(EventError::RateLimited(sio.events.per_minute()))
            } else {
                match inbox.try_send((name.clone(), data.clone(), ack)) {
                    Ok(()) => None,
                    Err(mpsc::error::TrySendError::Full((_, _, ack))) => {
                        refuse(&s, &name, &data, ack, &EventError::Overloaded);
                        return std::future::ready(());
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => None,
                }
            };
            if let Some(e) = refusal {
                let _ = s.emit("message:error", &e.payload(&name, &data));
            }
            std::future::ready(())
        },
    );
}

/// `message:error` and a failed ack for a refused event.
fn refuse(s: &SocketRef, event: &str, data: &Value, ack: AckSender, e: &EventError) {
    let payload = e.payload(event, data);
    let _ = s.emit("message:error", &payload);
    let mut answer = payload;
    answer["ok"] = Value::Bool(false);
    let _ = ack.send(&answer);
}

/// Handles the socket's events one after another.
async fn work_loop(
    state: ServerState,
    conn: Arc<Conn>,
    s: SocketRef,
    mut work: mpsc::Receiver<(String, Value, AckSender)>,
) {
    loop {
        let next = tokio::select! {
            () = conn.done.cancelled() => return,
            next = work.recv() => next,
        };
        let Some((event, data, ack)) = next else {
            return;
        };
        match inbound::handle(&state, &conn, &event, &data).await {
            Ok(answer) => {
                let _ = ack.send(&answer);
            }
            Err(e) => {
                state.metrics.error(e.code());
                refuse(&s, &event, &data, ack, &e);
            }
        }
    }
}

/// Users online among those the user shares a conversation with (the first 100
/// conversations): `connection:established`'s `connectedUsers`.
async fn online_peers(state: &ServerState, user: &str) -> Vec<String> {
    let query = tidings_proto::api::ConversationQuery {
        limit: Some(100),
        cursor: None,
    };
    let Ok(page) = state.chat().conversation_page(user, query).await else {
        return Vec::new();
    };
    let mut online: Vec<String> = page
        .conversations
        .iter()
        .flat_map(|c| c.participants.iter())
        .filter(|p| p.online && p.id != user)
        .map(|p| p.id.clone())
        .collect();
    online.sort();
    online.dedup();
    online
}

/// Turns hub deliveries into events until the socket ends; ends the socket when the hub
/// fails it (slow consumer, lost bus), its token expires or is revoked, or the server
/// shuts down.
async fn pump(state: ServerState, conn: Arc<Conn>, s: SocketRef) {
    let Some(mut rx) = conn
        .deliveries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    else {
        return;
    };
    let token_end = state.auth.token_end(&conn.principal);
    tokio::pin!(token_end);
    let me = conn.principal.name.clone();
    let ending = loop {
        let next = tokio::select! {
            () = conn.done.cancelled() => return,
            () = state.shutdown.cancelled() => break "the server is shutting down".to_owned(),
            () = conn.closer.token().cancelled() => break closer_reason(&conn.closer),
            e = &mut token_end => break e.to_string(),
            next = rx.recv() => next,
        };
        let Some(Outbound::Deliver(d)) = next else {
            continue;
        };
        let Some(ev) = outbound::translate(&me, d.destination(), &d.message.body) else {
            continue;
        };
        if let Err(e) = s.emit(ev.name, &ev.data) {
            if ev.droppable {
                state.metrics.messages_dropped.inc();
                continue;
            }
            if !s.connected() {
                return;
            }
            state.metrics.error("slow_consumer");
            tracing::warn!(user = %me, error = %e, "Socket.IO slow consumer disconnected");
            break "slow consumer: the socket's outbound buffer is full".to_owned();
        }
    };
    let _ = s.emit(
        "message:error",
        &json!({"error": ending, "code": "disconnected", "event": "connection"}),
    );
    conn.clean_up(&state, &s);
    let _ = s.clone().disconnect();
}

/// The `message` header of the hub's `ERROR` frame, as the reason a socket ends.
fn closer_reason(closer: &Closer) -> String {
    let Some(frame) = closer.take_fatal() else {
        return "the server ended this connection".into();
    };
    let text = String::from_utf8_lossy(&frame);
    text.lines()
        .find_map(|l| l.strip_prefix("message:"))
        .map(|m| m.trim().to_owned())
        .unwrap_or_else(|| "the server ended this connection".into())
}

impl Conn {
    /// Joins a conversation room: the participants-only check, then the subscription,
    /// retried if a removal ran in between (as a STOMP `SUBSCRIBE`).
    pub async fn join(&self, state: &ServerState, cid: &str) -> Result<(), EventError> {
        let topic = inbound::room_subscription(cid);
        loop {
            let ticket = state.hub.revocation_ticket();
            state
                .app
                .authorize_subscribe(&self.principal, &topic)
                .await?;
            match state.hub.subscribe_unless_revoked(
                ticket,
                self.session,
                &topic,
                &topic,
                &topic,
                AckMode::Auto,
            ) {
                Ok(true) => return Ok(()),
                Ok(false) => continue,
                // Joining twice is joining once.
                Err(crate::hub::HubError::DuplicateSubscription(_)) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn leave(&self, state: &ServerState, cid: &str) {
        let _ = state
            .hub
            .unsubscribe(self.session, &inbound::room_subscription(cid));
    }

    /// Once: leaves the hub, tells presence, frees the connection slot.
    fn clean_up(&self, state: &ServerState, s: &SocketRef) {
        if self.cleaned.swap(true, Ordering::AcqRel) {
            return;
        }
        self.done.cancel();
        state.hub.unregister(self.session);
        s.extensions.remove::<super::Slot>();
        let app = state.app.clone();
        let principal = self.principal.clone();
        let session = self.session;
        tokio::spawn(async move { app.on_disconnect(&principal, session).await });
        tracing::debug!(user = %self.principal.name, session, "Socket.IO disconnected");
    }
}
