//! The event envelope and its payloads. Every STOMP `MESSAGE` body the server sends on the
//! Tidings destinations, every SSE `data` line and every sync entry is one [`Envelope`]:
//!
//! ```json
//! {"type": "CHAT_MESSAGE", "timestamp": "2026-11-22T10:30:45.000Z", "senderId": "alice",
//!  "payload": {"id": "m_…", "conversationId": "c_…", "seq": 42, …}}
//! ```
//!
//! The payloads are also the REST resources: `GET …/messages` answers with [`Message`]s,
//! `GET /api/notifications` with [`Notification`]s, and so on.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// One event as it travels: what happened, when, caused by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    #[serde(flatten)]
    pub event: Event,
    pub timestamp: Timestamp,
    /// The user who caused it; absent for events the system raises on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
}

impl Envelope {
    pub fn new(event: Event, sender_id: Option<&str>) -> Envelope {
        Envelope {
            event,
            timestamp: Timestamp::now(),
            sender_id: sender_id.map(str::to_owned),
        }
    }

    /// An event that happened at `timestamp` (a stored message or notification keeps its
    /// creation time when it is replayed).
    pub fn at(event: Event, timestamp: crate::Timestamp, sender_id: Option<&str>) -> Envelope {
        Envelope {
            event,
            timestamp,
            sender_id: sender_id.map(str::to_owned),
        }
    }

    /// The JSON text of this envelope.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys, no
        // non-finite floats.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What happened, with its payload. `type` names the variant on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", content = "payload", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    /// A new timeline entry: a message, or a system entry (`system` set).
    ChatMessage(Message),
    /// A message's content was replaced; the payload is the message as it is now.
    MessageEdited(Message),
    /// A message was deleted; the payload is its tombstone (`deleted`, no content).
    MessageDeleted(Message),
    /// A message's reactions changed; the payload is the message as it is now.
    ReactionsUpdated(Message),
    Typing(Typing),
    ReadReceipt(ReadReceipt),
    Presence(Presence),
    Notification(Notification),
    /// Some of the user's notifications were marked read (on any device): every one up to
    /// `upTo`, or those in `ids`.
    NotificationsRead(NotificationsRead),
    /// A conversation the user is in was created, renamed or changed membership.
    ConversationUpdated(Conversation),
    /// The user is no longer in a conversation (left, or removed by its owner).
    ConversationLeft(ConversationLeft),
    /// A user changed their profile (display name).
    UserUpdated(User),
    Announcement(Announcement),
}

impl Event {
    /// The wire name of the event type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::ChatMessage(_) => "CHAT_MESSAGE",
            Event::MessageEdited(_) => "MESSAGE_EDITED",
            Event::MessageDeleted(_) => "MESSAGE_DELETED",
            Event::ReactionsUpdated(_) => "REACTIONS_UPDATED",
            Event::Typing(_) => "TYPING",
            Event::ReadReceipt(_) => "READ_RECEIPT",
            Event::Presence(_) => "PRESENCE",
            Event::Notification(_) => "NOTIFICATION",
            Event::NotificationsRead(_) => "NOTIFICATIONS_READ",
            Event::ConversationUpdated(_) => "CONVERSATION_UPDATED",
            Event::ConversationLeft(_) => "CONVERSATION_LEFT",
            Event::UserUpdated(_) => "USER_UPDATED",
            Event::Announcement(_) => "ANNOUNCEMENT",
        }
    }
}

/// How a message's content is meant to be read. Clients that cannot render a type show
/// the content as plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContentType {
    #[default]
    Text,
    Markdown,
}

impl ContentType {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Text => "TEXT",
            ContentType::Markdown => "MARKDOWN",
        }
    }

    pub fn parse(s: &str) -> Option<ContentType> {
        match s {
            "TEXT" => Some(ContentType::Text),
            "MARKDOWN" => Some(ContentType::Markdown),
            _ => None,
        }
    }
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    /// Position in the conversation: contiguous from 1.
    pub seq: i64,
    pub sender_id: String,
    /// The sender's idempotency key.
    pub client_id: String,
    /// Empty for a tombstone.
    pub content: String,
    pub content_type: ContentType,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: Timestamp,
    /// The conversation's revision at this entry's last change (creation, edit, deletion,
    /// reaction). 0 from servers that keep no revisions.
    #[serde(default)]
    pub rev: i64,
    /// When the content was last replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub edited_at: Option<Timestamp>,
    /// A tombstone: the message was deleted and its content erased.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// The message this one replies to (in the same conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyRef>,
    /// Users mentioned (participants when it was sent or edited), by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// Reactions, one entry per emoji, in the order each emoji was first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// Set for a system entry of the timeline (a membership change, a rename); `content`
    /// then says it in words and `senderId` is who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemEntry>,
    /// Files and images sent with the message, in the order the sender gave them. Left out
    /// when empty, so a message without attachments looks as it did before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file sent with a message: what a client needs to show it before downloading it from
/// `GET /api/attachments/{id}` (and `/thumbnail`). See docs/protocol.md, "Attachments".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// `a_` and 32 hex digits; also the upload's id.
    pub id: String,
    /// The file name as the sender gave it (no path separators or control characters).
    pub name: String,
    /// Bytes stored (for images, after their EXIF metadata was stripped).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: u64,
    /// The media type, as the server established it from the bytes.
    pub content_type: String,
    /// Pixels, for images (PNG, JPEG, GIF, WebP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Whether `GET /api/attachments/{id}/thumbnail` has a small preview.
    #[serde(default)]
    pub has_thumbnail: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Message {
    /// Erases what a deleted message said, keeping its place: `seq`, id, sender and time.
    pub fn tombstone(&mut self) {
        self.content.clear();
        self.content_type = ContentType::Text;
        self.deleted = true;
        self.edited_at = None;
        self.reply_to = None;
        self.mentions.clear();
        self.reactions.clear();
        self.attachments.clear();
    }
}

/// What a reply points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReplyRef {
    pub message_id: String,
    /// The original's `seq`, to find it (or load history up to it).
    pub seq: i64,
}

/// One emoji on a message and who put it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Reaction {
    pub emoji: String,
    /// User ids, in the order they reacted; the count is their number.
    pub users: Vec<String>,
}

/// What a system entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum SystemAction {
    /// `senderId` added `users`.
    Added,
    /// `senderId` removed `users`.
    Removed,
    /// `senderId` left.
    Left,
    /// `senderId` renamed the group to `title`.
    Renamed,
}

/// A system entry of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SystemEntry {
    pub action: SystemAction,
    /// The users added or removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// The new title of a rename.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// The payload of `CONVERSATION_LEFT`: sent to the user who left or was removed, whose
/// subscriptions to the conversation have just ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ConversationLeft {
    pub conversation_id: String,
    /// The revision of the change (the system entry's `rev`).
    pub rev: i64,
    /// `true`: removed by `by`; `false`: left.
    pub removed: bool,
    pub by: String,
}

/// A user account as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The unique login name.
    pub id: String,
    pub display_name: String,
    pub online: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// Someone started or stopped typing. A `typing: true` holds for `expiresInMs` unless
/// renewed; the server also sends the `typing: false` itself when it lapses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    pub conversation_id: String,
    pub user_id: String,
    pub typing: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_ms: Option<u64>,
}

/// A user's read marker moved to `upTo`. The copy sent to the reader's own sessions also
/// carries the reader's new `unreadCount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReadReceipt {
    pub conversation_id: String,
    pub user_id: String,
    pub up_to: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
}

/// A user came online (first session) or went offline (last session closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    pub user_id: String,
    pub online: bool,
}

/// A notification for one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    /// Position among the user's notifications: contiguous from 1.
    pub seq: i64,
    /// What kind of notification, chosen by whoever raised it (`appointment.moved`,
    /// `conversation.added`, …).
    pub kind: String,
    pub title: String,
    pub message: String,
    /// Arbitrary data from the service that raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub data: Option<serde_json::Value>,
    /// Where opening it leads: a conversation of the user's…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// …or a web address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub is_read: bool,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: Timestamp,
}

/// Notifications marked read: the answer to `POST /api/notifications/read-all`, and the
/// `NOTIFICATIONS_READ` event on `/user/queue/notifications` that tells the user's other
/// sessions (after a read-all, or one `POST /api/notifications/{id}/read`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NotificationsRead {
    /// Every notification with `seq` up to this one is read (a read-all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to: Option<i64>,
    /// These notifications are read (one marked read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// How many of the user's notifications are still unread.
    pub unread_count: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    /// Exactly two participants; at most one per pair.
    Direct,
    Group,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Direct => "direct",
            ConversationKind::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<ConversationKind> {
        match s {
            "direct" => Some(ConversationKind::Direct),
            "group" => Some(ConversationKind::Group),
            _ => None,
        }
    }
}

/// A member of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub id: String,
    pub display_name: String,
    pub online: bool,
    /// The participant's read marker: every message up to this `seq` is read.
    pub read_seq: i64,
}

/// A conversation as one of its participants sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    pub kind: ConversationKind,
    /// Set for groups; a direct conversation is named after the other participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub participants: Vec<Participant>,
    /// The highest `seq` in the conversation (0 when empty).
    pub last_seq: i64,
    /// The viewer's read marker.
    pub read_seq: i64,
    /// Messages after the viewer's read marker.
    pub unread_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    /// The conversation's revision: advanced by every change to its timeline (a message, an
    /// edit, a deletion, a reaction, a membership change, a rename), contiguous from 0.
    /// `GET …/changes?after=<rev>` gives what changed since. 0 from servers that keep none.
    #[serde(default)]
    pub rev: i64,
    /// Who created it; for a group, its owner (who renames it and removes people).
    pub created_by: String,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: Timestamp,
}

/// A system-wide announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Announcement {
    pub id: String,
    /// Position among announcements: increasing.
    pub seq: i64,
    pub title: String,
    pub message: String,
    pub author: String,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_matches_the_design_document() {
        let env = Envelope {
            event: Event::ChatMessage(Message {
                id: "m9".into(),
                conversation_id: "c1".into(),
                seq: 42,
                sender_id: "u1".into(),
                client_id: "9b0c".into(),
                content: "Hello".into(),
                content_type: ContentType::Text,
                created_at: Timestamp(1_795_343_445_000),
                ..Default::default()
            }),
            timestamp: Timestamp(1_795_343_445_000),
            sender_id: Some("u1".into()),
        };
        let json: serde_json::Value = serde_json::from_str(&env.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "CHAT_MESSAGE", "timestamp": "2026-11-22T10:30:45.000Z",
                "senderId": "u1", "payload": {"id": "m9", "conversationId": "c1", "seq": 42,
                "senderId": "u1", "clientId": "9b0c", "content": "Hello", "contentType": "TEXT",
                "createdAt": "2026-11-22T10:30:45.000Z", "rev": 0}})
        );
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn every_type_round_trips_and_names_itself() {
        let events = [
            Event::Typing(Typing {
                conversation_id: "c".into(),
                user_id: "bob".into(),
                typing: true,
                expires_in_ms: Some(5000),
            }),
            Event::ReadReceipt(ReadReceipt {
                conversation_id: "c".into(),
                user_id: "bob".into(),
                up_to: 3,
                unread_count: None,
            }),
            Event::Presence(Presence {
                user_id: "bob".into(),
                online: false,
            }),
        ];
        for e in events {
            let env = Envelope::new(e, None);
            let v: serde_json::Value = serde_json::from_str(&env.to_json()).unwrap();
            assert_eq!(v["type"], env.event.type_name());
            assert!(v.get("senderId").is_none());
            assert_eq!(serde_json::from_value::<Envelope>(v).unwrap(), env);
        }
    }
}
