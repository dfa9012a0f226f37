//! REST request and response bodies (`/api/...`).

pub use crate::event::User;
use crate::event::{ContentType, Conversation, ConversationKind, Message, Notification};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

/// Every error response: a stable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// A stable machine-readable code (`unauthorized`, `not_found`, `invalid`, …).
    pub error: String,
    pub message: String,
}

/// `POST /api/auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// 1-32 characters: lowercase letters, digits, `.`, `_`, `-`; becomes the user's id.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,31}$"))]
    pub username: String,
    /// 8-256 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 256))]
    pub password: String,
    /// 1-64 characters; the username when absent.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"\S")
    )]
    pub display_name: Option<String>,
}

/// `POST /api/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// `POST /api/auth/refresh` and `POST /api/auth/logout`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A signed-in session: a short-lived access JWT and an opaque, revocable refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub token_type: String,
    pub user: User,
}

/// `GET /api/users` query: the directory, for finding people to talk to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Matches the start of the id, or of any word of the display name, ignoring case and
    /// accents; none lists everyone. At most 64 characters.
    #[cfg_attr(feature = "openapi", param(max_length = 64))]
    pub q: Option<String>,
    /// 1-100, default 20.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub cursor: Option<String>,
}

/// A page of the directory, ordered by id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    pub users: Vec<User>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `PATCH /api/users/me`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProfile {
    /// 1-64 characters, unique (ignoring case and look-alike forms).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"\S")
    )]
    pub display_name: String,
}

/// `POST /api/conversations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateConversation {
    pub kind: ConversationKind,
    /// Required for groups (1-100 characters); not allowed for direct conversations.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub title: Option<String>,
    /// The other users (the creator is added). Direct: exactly one. At most
    /// `limits.max_participants_per_request` (default 100).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100, inline))]
    pub participants: Vec<String>,
}

/// `POST /api/conversations/{cid}/participants`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddParticipants {
    /// At most `limits.max_participants_per_request` (default 100).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub users: Vec<String>,
}

/// `PATCH /api/conversations/{cid}` (the group's owner).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateConversation {
    /// 1-100 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub title: String,
}

/// The body of `SEND /app/conversations/{cid}/send` and of
/// `POST /api/conversations/{cid}/messages`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendMessage {
    /// The sender's idempotency key (1-64 characters; a UUID is a good choice).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub client_id: String,
    /// 1-4000 characters, not only whitespace; may be empty (or left out) when the message
    /// has attachments.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
    pub content: String,
    #[serde(default)]
    pub content_type: ContentType,
    /// The id of the message this one replies to, in the same conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub reply_to: Option<String>,
    /// Participants mentioned, by id (at most 100, each a participant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub mentions: Vec<String>,
    /// Ids of finished uploads of the sender's into this conversation that no message
    /// uses yet (see docs/protocol.md, "Attachments"), in the order to show them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
}

/// The body of `201` to `POST /api/uploads` (tus creation): the upload, whose id is also
/// the attachment's, and how much of it the server holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UploadCreated {
    pub id: String,
    /// Bytes the server holds (`Upload-Offset`): 0 for a new upload, more for one found
    /// again by its `clientId`.
    pub offset: u64,
    /// `Upload-Length`.
    pub length: u64,
}

/// The body of `SEND /app/conversations/{cid}/messages/{mid}/edit` and of
/// `PATCH /api/conversations/{cid}/messages/{mid}`: the new content replaces the old.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditMessage {
    /// 1-4000 characters, not only whitespace.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 4000, pattern = r"\S")
    )]
    pub content: String,
    #[serde(default)]
    pub content_type: ContentType,
    /// Participants mentioned by the new content (replaces the old list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub mentions: Vec<String>,
}

/// The body of `SEND /app/conversations/{cid}/messages/{mid}/react` and of
/// `POST /api/conversations/{cid}/messages/{mid}/reactions`. Setting, not toggling: the
/// same request twice leaves one reaction, so a retry is harmless.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReactRequest {
    /// One emoji (a fully qualified Unicode emoji, skin tones included).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 32))]
    pub emoji: String,
    /// `true` puts the user's reaction on, `false` takes it off.
    pub on: bool,
}

/// `GET /api/conversations/{cid}/changes` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// The revision the client holds; changes after it are answered. Default 0.
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    pub after: Option<i64>,
    /// 1-500 entries, default 100.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

/// What changed in a conversation after a revision: the conversation as it is now, and
/// every timeline entry whose `rev` is above `after`, as it is now (new, edited, deleted,
/// reacted to, system entries), in ascending `rev`. Apply them, then hold `rev`; while
/// `hasMore`, ask again with `after=rev`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangePage {
    pub conversation: Conversation,
    pub messages: Vec<Message>,
    pub has_more: bool,
    /// The revision this answer brings the client to.
    pub rev: i64,
}

/// The body of `SEND /app/conversations/{cid}/typing`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TypingRequest {
    pub typing: bool,
}

/// The body of `SEND /app/conversations/{cid}/read` and `POST …/read`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadRequest {
    /// Everything up to this `seq` is read. A marker never moves backwards.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub up_to: i64,
}

/// The reader's state in a conversation after a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReadState {
    pub conversation_id: String,
    pub read_seq: i64,
    pub unread_count: i64,
}

/// `GET /api/conversations/{cid}/messages` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Messages with `seq` below this (paging back).
    pub before: Option<i64>,
    /// Messages with `seq` above this (catching up). With neither: the newest page.
    pub after: Option<i64>,
    /// 1-500, default 50.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

/// A page of messages in ascending `seq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// More messages exist in the direction of the query (older for `before` and the
    /// newest page, newer for `after`).
    pub has_more: bool,
    pub last_seq: i64,
}

/// `GET /api/conversations` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[serde(deny_unknown_fields)]
pub struct ConversationQuery {
    /// 1-500, default 100.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page; none for the first page.
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub cursor: Option<String>,
}

/// `GET /api/conversations`: a page of the user's conversations, most recently active
/// first. Paging through with `nextCursor` gives every conversation exactly once, also when
/// some become active meanwhile (they keep the place they had on the first page).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConversationList {
    pub conversations: Vec<Conversation>,
    /// More conversations follow: ask again with `cursor=nextCursor`.
    #[serde(default)]
    pub has_more: bool,
    /// Opaque; present when `hasMore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /api/notifications` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// Notifications with `seq` above this (catching up); with neither this nor `before`,
    /// the newest page.
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    pub after: Option<i64>,
    /// Notifications with `seq` below this, the closest ones (paging back). Not with `after`.
    #[cfg_attr(feature = "openapi", param(minimum = 1))]
    pub before: Option<i64>,
    /// Only the unread ones (default false).
    pub unread: Option<bool>,
    /// 1-500, default 50.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

/// A page of notifications in ascending `seq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NotificationPage {
    pub notifications: Vec<Notification>,
    pub has_more: bool,
    /// The user's highest notification `seq`.
    pub last_seq: i64,
    pub unread_count: i64,
}

/// `POST /api/notifications` (service token or admin): notify one or many users.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateNotification {
    /// 1-1000 user ids.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub users: Vec<String>,
    /// Default `general`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._:-]{1,64}$"))]
    pub kind: Option<String>,
    /// 1-200 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub title: String,
    /// 1-4000 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 4000, pattern = r"\S")
    )]
    pub message: String,
    /// A JSON object, at most 16 KiB encoded.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: Option<serde_json::Value>,
    #[serde(default)]
    pub url: Option<String>,
}

/// `POST /api/notifications/read-all` body, optional: without it (or without `upTo`),
/// every notification the user has is marked read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadAllRequest {
    /// Mark read every notification with `seq` up to this one (the newest the client
    /// showed), so one that arrived meanwhile stays unread.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub up_to: Option<i64>,
}

/// The notifications created, one per user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NotificationsCreated {
    pub notifications: Vec<Notification>,
}

/// `POST /api/announcements` (service token or admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAnnouncement {
    /// 1-200 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub title: String,
    /// 1-4000 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 4000, pattern = r"\S")
    )]
    pub message: String,
}

/// `GET /api/announcements` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[serde(deny_unknown_fields)]
pub struct AnnouncementQuery {
    pub after: Option<i64>,
    /// 1-500, default 50.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

/// A page of announcements in ascending `seq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AnnouncementPage {
    pub announcements: Vec<crate::event::Announcement>,
    pub has_more: bool,
}
