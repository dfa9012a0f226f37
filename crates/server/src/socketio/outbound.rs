//! What the hub delivers to a socket, as the seeds' Socket.IO events: each delivery is one
//! event envelope (see `tidings_proto::Envelope`) on one of the socket's subscriptions, and
//! becomes at most one event. Pure: the pump in `socket` emits what this returns.

use serde_json::{json, Map, Value};
use tidings_proto::dest;

/// One event to emit, and whether a slow socket may skip it (typing, presence).
#[derive(Debug, Clone, PartialEq)]
pub struct SioEvent {
    pub name: &'static str,
    pub data: Value,
    pub droppable: bool,
}

fn event(name: &'static str, data: Value) -> Option<SioEvent> {
    Some(SioEvent {
        name,
        data,
        droppable: false,
    })
}

fn droppable(name: &'static str, data: Value) -> Option<SioEvent> {
    Some(SioEvent {
        name,
        data,
        droppable: true,
    })
}

/// A message as the seeds show it (`id`, `conversationId`, `senderId`, `content`,
/// `messageType`, `createdAt`) plus all of ours (`seq`, `clientId`, `contentType`, …).
pub fn message_view(payload: &Value) -> Value {
    let mut m = payload.as_object().cloned().unwrap_or_default();
    if let Some(ct) = m.get("contentType").and_then(Value::as_str) {
        let lower = ct.to_ascii_lowercase();
        m.insert("messageType".into(), Value::String(lower));
    }
    Value::Object(m)
}

/// `message:new` carries the message's fields flat (the mini-Facebook's shape) and the
/// message again under `message` (the casting platform's `{conversationId, message}`).
fn message_new(payload: &Value) -> Value {
    let view = message_view(payload);
    let mut m: Map<String, Value> = view.as_object().cloned().unwrap_or_default();
    m.insert("message".into(), view);
    Value::Object(m)
}

/// A notification as the seeds show it (`id`, `type`, `title`, `message`, `data`,
/// `createdAt`, `isRead`) plus ours (`seq`, `kind`, `conversationId`, `url`).
pub fn notification_view(payload: &Value) -> Value {
    let mut m = payload.as_object().cloned().unwrap_or_default();
    if let Some(kind) = m.get("kind").cloned() {
        m.insert("type".into(), kind);
    }
    Value::Object(m)
}

fn typing_view(payload: &Value) -> Value {
    json!({
        "userId": payload.get("userId"),
        "conversationId": payload.get("conversationId"),
        "isTyping": payload.get("typing").and_then(Value::as_bool).unwrap_or(false),
        "expiresInMs": payload.get("expiresInMs"),
    })
}

/// The event for a delivery to `me` on `destination` (as the socket subscribed to it),
/// whose body is `body`; `None` for what a Socket.IO client is not told (its own typing
/// and presence, and what it hears on another of its subscriptions already).
pub fn translate(me: &str, destination: &str, body: &[u8]) -> Option<SioEvent> {
    let envelope: Value = serde_json::from_slice(body).ok()?;
    let kind = envelope.get("type")?.as_str()?;
    let payload = envelope.get("payload")?;
    let about = |field: &str| payload.get(field).and_then(Value::as_str);
    let by_me = about("senderId") == Some(me) || about("userId") == Some(me);
    match destination {
        dest::USER_MESSAGES => match kind {
            "CHAT_MESSAGE" if about("senderId") == Some(me) => {
                event("message:sent", message_view(payload))
            }
            "CHAT_MESSAGE" => event("message:received", message_view(payload)),
            "MESSAGE_EDITED" => event("message:edited", message_view(payload)),
            "MESSAGE_DELETED" => event("message:deleted", message_view(payload)),
            "REACTIONS_UPDATED" => event("message:reactions", message_view(payload)),
            // The user's own read marker moved (on any device).
            "READ_RECEIPT" => event("message:read", payload.clone()),
            "CONVERSATION_UPDATED" => event("conversation:updated", payload.clone()),
            "CONVERSATION_LEFT" => event("conversation:left", payload.clone()),
            "USER_UPDATED" => event("user:updated", payload.clone()),
            _ => None,
        },
        dest::USER_NOTIFICATIONS => match kind {
            "NOTIFICATION" => event("notification:new", notification_view(payload)),
            "NOTIFICATIONS_READ" => event("notification:read", payload.clone()),
            _ => None,
        },
        dest::PRESENCE => match kind {
            "PRESENCE" if about("userId") == Some(me) => None,
            "PRESENCE" => {
                let online = payload.get("online").and_then(Value::as_bool) == Some(true);
                let data = json!({"userId": payload.get("userId")});
                if online {
                    droppable("user:online", data)
                } else {
                    droppable("user:offline", data)
                }
            }
            _ => None,
        },
        dest::ANNOUNCEMENTS => match kind {
            "ANNOUNCEMENT" => event("announcement:new", payload.clone()),
            _ => None,
        },
        // A conversation room (`/topic/conversations/{cid}`): the message once more as
        // `message:new` (as the mini-Facebook emits both), and what only the room hears.
        // Edits, deletions and reactions came on the user's queue already.
        _ => match kind {
            "CHAT_MESSAGE" => event("message:new", message_new(payload)),
            "TYPING" if by_me => None,
            "TYPING" => {
                let data = typing_view(payload);
                if data["isTyping"] == Value::Bool(true) {
                    droppable("typing:start", data)
                } else {
                    droppable("typing:stop", data)
                }
            }
            "READ_RECEIPT" if by_me => None,
            "READ_RECEIPT" => event("message:read", payload.clone()),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(kind: &str, payload: Value) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"type": kind, "timestamp": "2026-01-01T00:00:00Z", "payload": payload}),
        )
        .unwrap()
    }

    #[test]
    fn a_message_is_sent_to_its_sender_and_received_by_the_others() {
        let body = env(
            "CHAT_MESSAGE",
            json!({"id": "m1", "conversationId": "c1", "seq": 3, "senderId": "alice",
                   "clientId": "k", "content": "hi", "contentType": "TEXT"}),
        );
        let sent = translate("alice", dest::USER_MESSAGES, &body).unwrap();
        assert_eq!(sent.name, "message:sent");
        assert_eq!(sent.data["messageType"], "text");
        assert_eq!(sent.data["seq"], 3);
        let got = translate("bob", dest::USER_MESSAGES, &body).unwrap();
        assert_eq!(got.name, "message:received");
        let room = translate("bob", "/topic/conversations/c1", &body).unwrap();
        assert_eq!(room.name, "message:new");
        assert_eq!(room.data["conversationId"], "c1");
        assert_eq!(room.data["message"]["content"], "hi");
    }

    #[test]
    fn own_typing_and_presence_are_not_echoed() {
        let typing = env(
            "TYPING",
            json!({"conversationId": "c1", "userId": "alice", "typing": true}),
        );
        assert!(translate("alice", "/topic/conversations/c1", &typing).is_none());
        let t = translate("bob", "/topic/conversations/c1", &typing).unwrap();
        assert_eq!((t.name, t.droppable), ("typing:start", true));
        assert_eq!(t.data["isTyping"], true);
        let online = env("PRESENCE", json!({"userId": "alice", "online": true}));
        assert!(translate("alice", dest::PRESENCE, &online).is_none());
        assert_eq!(
            translate("bob", dest::PRESENCE, &online).unwrap().name,
            "user:online"
        );
    }

    #[test]
    fn a_notification_has_the_seeds_type_field() {
        let body = env(
            "NOTIFICATION",
            json!({"id": "n1", "userId": "bob", "seq": 1, "kind": "appointment.moved",
                   "title": "Moved", "message": "to 10:00", "isRead": false}),
        );
        let n = translate("bob", dest::USER_NOTIFICATIONS, &body).unwrap();
        assert_eq!(n.name, "notification:new");
        assert_eq!(n.data["type"], "appointment.moved");
        assert_eq!(n.data["seq"], 1);
    }

    #[test]
    fn garbage_is_ignored() {
        assert!(translate("bob", dest::USER_MESSAGES, b"not json").is_none());
    }
}
