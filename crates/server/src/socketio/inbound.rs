//! The events a Socket.IO client emits, handled one at a time per socket in the order they
//! arrived (as a STOMP session handles its frames), through the same chat services as
//! STOMP and REST: the same validation, authorization, rate limit, idempotency and `seq`.
//!
//! The seeds' names and the casting platform's kebab-case aliases are both taken; the
//! payload may be the seeds' object, or for room events the bare conversation id.

use super::error::EventError;
use super::socket::Conn;
use crate::ServerState;
use serde_json::{json, Value};
use tidings_proto::api::SendMessage;
use tidings_proto::dest;

/// The conversation an event is about: `{conversationId}` or the id itself.
fn conversation_id(data: &Value) -> Result<String, EventError> {
    let id = match data {
        Value::String(s) => Some(s.as_str()),
        Value::Object(m) => m.get("conversationId").and_then(Value::as_str),
        _ => None,
    };
    match id {
        Some(id) if !id.is_empty() && id.len() <= 64 => Ok(id.to_owned()),
        _ => Err(EventError::Invalid(
            "conversationId is required: a non-empty string of at most 64 characters".into(),
        )),
    }
}

/// `message:send`'s payload as `SendMessage`: `clientId` is made up when the client sent
/// none (the seeds send none; such a message is then not protected against a resend), and
/// the seeds' `messageType: "text"` stands for `contentType: "TEXT"`.
fn send_request(data: &Value) -> Result<SendMessage, EventError> {
    let Value::Object(m) = data else {
        return Err(EventError::Invalid(
            "message:send takes an object: {conversationId, content, clientId?}".into(),
        ));
    };
    let mut body = m.clone();
    body.remove("conversationId");
    body.remove("receiverId");
    if let Some(t) = body.remove("messageType") {
        if !body.contains_key("contentType") {
            let t = t.as_str().unwrap_or_default().to_ascii_uppercase();
            body.insert("contentType".into(), Value::String(t));
        }
    }
    if !body.contains_key("clientId") {
        body.insert(
            "clientId".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
    }
    serde_json::from_value(Value::Object(body)).map_err(|e| {
        EventError::Invalid(format!(
            "message:send: the payload is not the object expected here: {e}"
        ))
    })
}

/// The read marker an event asks for: `upTo` (or `seq`); none means "everything so far".
fn up_to(data: &Value) -> Result<Option<i64>, EventError> {
    match data.get("upTo").or_else(|| data.get("seq")) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            EventError::Invalid("upTo must be a whole number (a message's seq)".into())
        }),
    }
}

/// Handles one event; the answer goes to the client's ack callback.
pub async fn handle(
    state: &ServerState,
    conn: &Conn,
    event: &str,
    data: &Value,
) -> Result<Value, EventError> {
    let user = &*conn.principal.name;
    let chat = state.chat();
    match event {
        "message:send" => {
            let cid = conversation_id(data)?;
            let req = send_request(data)?;
            chat.charge_send(user).await?;
            let sent = chat.send_message(user, &cid, req).await?;
            let message = serde_json::to_value(&sent.message).unwrap_or_default();
            Ok(json!({"ok": true, "created": sent.created,
                      "message": super::outbound::message_view(&message)}))
        }
        "message:typing" | "typing:start" | "typing-start" => {
            chat.typing(user, &conversation_id(data)?, true).await?;
            Ok(json!({"ok": true}))
        }
        "message:stop_typing" | "typing:stop" | "typing-stop" => {
            chat.typing(user, &conversation_id(data)?, false).await?;
            Ok(json!({"ok": true}))
        }
        "message:read" | "message:received" | "mark-read" => {
            let cid = conversation_id(data)?;
            let up_to = match up_to(data)? {
                Some(n) => n,
                None => chat.conversation(user, &cid).await?.last_seq,
            };
            let read = chat.read(user, &cid, up_to).await?;
            Ok(json!({"ok": true, "conversationId": read.conversation_id,
                      "readSeq": read.read_seq, "unreadCount": read.unread_count}))
        }
        "conversation:join" | "join-conversation" => {
            let cid = conversation_id(data)?;
            // Tells "no such conversation" from "not yours" before the subscription's own
            // check (which the hub repeats if a removal races it).
            chat.conversation(user, &cid).await?;
            conn.join(state, &cid).await?;
            Ok(json!({"ok": true, "conversationId": cid, "room": format!("conversation:{cid}")}))
        }
        "conversation:leave" | "leave-conversation" => {
            let cid = conversation_id(data)?;
            conn.leave(state, &cid);
            Ok(json!({"ok": true, "conversationId": cid}))
        }
        other => Err(EventError::UnknownEvent(other.to_owned())),
    }
}

/// The hub subscription id of a conversation room.
pub fn room_subscription(cid: &str) -> String {
    dest::conversation_topic(cid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_payloads_are_understood() {
        assert_eq!(conversation_id(&json!("c1")).unwrap(), "c1");
        assert_eq!(
            conversation_id(&json!({"conversationId": "c1", "receiverId": "bob"})).unwrap(),
            "c1"
        );
        assert!(conversation_id(&json!({})).is_err());
        let req = send_request(&json!({"conversationId": "c1", "receiverId": "bob",
                                        "content": "hi", "messageType": "text"}))
        .unwrap();
        assert_eq!(req.content, "hi");
        assert!(!req.client_id.is_empty());
        let req = send_request(&json!({"conversationId": "c1", "content": "x", "clientId": "k1"}))
            .unwrap();
        assert_eq!(req.client_id, "k1");
        assert!(send_request(&json!({"conversationId": "c1", "content": "x",
                                     "messageType": "video"}))
        .is_err());
        assert_eq!(up_to(&json!({"seq": 4})).unwrap(), Some(4));
        assert_eq!(up_to(&json!({"conversationId": "c"})).unwrap(), None);
        assert!(up_to(&json!({"upTo": "x"})).is_err());
    }
}
