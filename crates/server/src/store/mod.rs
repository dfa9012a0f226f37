//! Storage: the record of accounts, conversations, messages, read markers, notifications
//! and announcements. The domain talks to it through one trait per area; two
//! implementations keep the same contracts: the embedded default [`sqlite::SqliteStore`]
//! (one writer thread: order is trivial) and [`postgres::PostgresStore`] for several nodes
//! on one database (row locks and unique indexes: its module doc says how each contract
//! holds with many writers on many nodes).
//!
//! Contracts every implementation keeps (checked by `tests/store.rs`, one suite run against
//! each implementation):
//! - A method that returned `Ok` for a write has committed it durably.
//! - Message `seq` is contiguous per conversation from 1, also under concurrent writers;
//!   notification `seq` likewise per user. A later `seq` never commits before an earlier one
//!   of the same conversation (or user), so a cursor that read up to `n` never skips one.
//! - `(sender, clientId)` identifies a message: appending it again returns the stored one
//!   with `duplicate: true` and changes nothing.
//! - A catch-up cursor never skips: whatever a reader sees up to `n` (messages by `seq`,
//!   changes by rev, notifications by `seq`, announcements by `seq`) nothing below `n` commits
//!   later; [`ConversationCursor`]'s snapshot is likewise a set no later commit changes.
//! - Read markers never move backwards and never pass the conversation's last `seq`.
//! - Display names are unique under [`display_key`], and no display name's key is another
//!   account's login name.
//! - A refresh-token family (one sign-in) has at most one live token: exchanging one,
//!   also again within the grace period, leaves only the new one usable.
//! - A database that cannot be reached is [`StoreError::Unavailable`] (the server answers
//!   `store_unavailable`), never a hang: the PostgreSQL pool waits a bounded time.

mod attachments;
pub mod postgres;
pub mod sqlite;
mod timeline;

pub use attachments::{AttachmentRecord, AttachmentStore, BlobRef, Created, Finished, NewUpload};

pub use timeline::{
    search_key, ChangeSet, Changed, DirectoryStore, Edit, Membership, MembershipChange,
    MembershipChanged, MessageRefs, NewReaction, Queued, TimelineStore,
};

use async_trait::async_trait;
use tidings_proto::{
    Announcement, ContentType, ConversationKind, Message, Notification, Timestamp,
};

/// Why a store operation failed. The messages are safe to show to the caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("storage failed: {0}")]
    Internal(String),
    /// The database cannot be reached (PostgreSQL down or the connection lost): the write
    /// was not made; trying again later may succeed.
    #[error("{0}")]
    Unavailable(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Internal(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub display_name: String,
    /// Argon2 PHC string; `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
    pub created_at: Timestamp,
}

/// A refresh token as stored: only its SHA-256, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub hash: [u8; 32],
    pub user: String,
    pub expires_at: Timestamp,
    /// The sign-in it belongs to; every token exchanged from it inherits this.
    pub family: String,
}

/// What presenting a refresh token for exchange did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// Exchanged: the new token is now the family's only live one.
    Rotated { user: String, family: String },
    /// Presented again after the grace period (a stolen copy, or a client gone wrong): the
    /// whole family is revoked.
    Reused { user: String, family: String },
    /// Unknown, expired or revoked.
    Refused,
}

/// The key under which display names must be unique: NFKC, then Unicode case folding,
/// runs of white space as one space, so that "Ａlice", "ALICE" and "alice" are one name.
pub fn display_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let folded = caseless::default_case_fold_str(&name.nfkc().collect::<String>());
    // Folding can denormalise; normalise once more so the key is stable.
    let normal: String = folded.nfkc().collect();
    normal.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates an account; `Conflict` when the name is taken, or when the display name's
    /// [`display_key`] is another account's display key or login name (or the login name
    /// is another account's display key).
    async fn create_user(&self, user: UserRecord) -> StoreResult<UserRecord>;
    async fn user(&self, name: &str) -> StoreResult<Option<UserRecord>>;
    /// The accounts among `names` that exist.
    async fn users(&self, names: &[String]) -> StoreResult<Vec<UserRecord>>;
    async fn add_refresh_token(&self, token: RefreshRecord) -> StoreResult<()>;
    /// Atomically retires `old` and stores `new` in its family, if `old` is valid at `now`:
    /// not expired, not revoked, and not retired more than `grace_ms` ago (a client whose
    /// answer was lost on the way may present it again for a moment; the successor it got
    /// then is revoked, so the family keeps one live token). Retired longer ago: the whole
    /// family is revoked ([`Rotation::Reused`]).
    async fn rotate_refresh_token(
        &self,
        old: [u8; 32],
        new: [u8; 32],
        new_expires_at: Timestamp,
        now: Timestamp,
        grace_ms: i64,
    ) -> StoreResult<Rotation>;
    /// Revokes the whole family of a refresh token (sign out), also when given a token of
    /// it that was already exchanged; returns the family, or `None` if the token is
    /// unknown or its family has no live token left.
    async fn revoke_refresh_family(&self, hash: [u8; 32]) -> StoreResult<Option<String>>;
}

/// A participant as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantRecord {
    pub user: String,
    pub display_name: String,
    pub read_seq: i64,
}

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    pub id: String,
    pub kind: ConversationKind,
    pub title: Option<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub last_seq: i64,
    /// The conversation's revision: see [`TimelineStore`].
    pub rev: i64,
    pub participants: Vec<ParticipantRecord>,
}

impl ConversationRecord {
    pub fn participant(&self, user: &str) -> Option<&ParticipantRecord> {
        self.participants.iter().find(|p| p.user == user)
    }
}

/// What `create_conversation` is asked for. Users are checked to exist.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub id: String,
    pub kind: ConversationKind,
    pub title: Option<String>,
    pub created_by: String,
    /// Every participant, the creator included, without repeats.
    pub participants: Vec<String>,
    pub created_at: Timestamp,
}

/// A user's read marker after a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMarker {
    pub read_seq: i64,
    pub last_seq: i64,
    /// Whether the marker moved.
    pub moved: bool,
}

/// Where a page of a user's conversation list starts: see
/// [`ConversationStore::conversation_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationCursor {
    /// The snapshot the first page fixed: positions in the store's write order, of
    /// messages and of conversations (the implementation decides what they count).
    pub messages_upto: i64,
    pub conversations_upto: i64,
    /// The last conversation served: its activity as of the snapshot, and its id.
    pub activity: i64,
    pub id: String,
}

/// A page of conversations, and where the next one starts (`None`: this was the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationPage {
    pub items: Vec<(ConversationRecord, Option<Message>)>,
    pub next: Option<ConversationCursor>,
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Creates a conversation. A direct conversation between two users exists at most once:
    /// asking again returns the existing one with `false`.
    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)>;
    async fn conversation(&self, id: &str) -> StoreResult<Option<ConversationRecord>>;
    /// The user's conversations with their last message, most recently active first.
    async fn conversations_of(
        &self,
        user: &str,
    ) -> StoreResult<Vec<(ConversationRecord, Option<Message>)>>;
    /// A page of at most `limit` of the user's conversations with their last message, most
    /// recently active first (ties by id), after `after` or from the start.
    ///
    /// The first page fixes a snapshot that every cursor carries on, and conversations are
    /// ordered by their activity *as of that snapshot*. So one that becomes active while a
    /// client pages through stays where it was: every conversation the user was in at the
    /// snapshot comes exactly once over all pages. Conversations created after it are left
    /// out; one the user was added to after it may or may not come (the client hears of
    /// both through `CONVERSATION_UPDATED`). What each entry shows (last message, unread
    /// count) is current.
    async fn conversation_page(
        &self,
        user: &str,
        after: Option<ConversationCursor>,
        limit: u32,
    ) -> StoreResult<ConversationPage>;
    async fn is_participant(&self, conversation: &str, user: &str) -> StoreResult<bool>;
    /// Moves `user`'s read marker forward to `up_to` (capped at the last `seq`).
    async fn mark_read(
        &self,
        conversation: &str,
        user: &str,
        up_to: i64,
    ) -> StoreResult<ReadMarker>;
}

/// What `append_message` is asked for.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub conversation_id: String,
    pub sender: String,
    pub client_id: String,
    pub content: String,
    pub content_type: ContentType,
    pub created_at: Timestamp,
}

/// The stored message, and whether it was stored before (an idempotent repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub message: Message,
    pub duplicate: bool,
    /// Everyone in the conversation, for delivery.
    pub participants: Vec<String>,
}

/// Which messages (or notifications) a page query wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The newest `limit`.
    Newest(u32),
    /// Up to `limit` with `seq` below the value, the closest ones.
    Before(i64, u32),
    /// Up to `limit` with `seq` above the value, the closest ones.
    After(i64, u32),
}

/// A page in ascending `seq`, whether more exist in the query's direction, and the
/// conversation's last `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
    pub last_seq: i64,
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a message with the next `seq` and the next rev, and moves the sender's read
    /// marker to it.
    /// `NotFound` for an unknown conversation, `Forbidden` when the sender is not a
    /// participant, `Conflict` when the sender used the `clientId` in another conversation.
    async fn append_message(&self, new: NewMessage) -> StoreResult<Appended>;
    async fn messages(&self, conversation: &str, range: Range) -> StoreResult<Page<Message>>;
}

/// What `create_notifications` is asked for: one notification per user.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub users: Vec<String>,
    pub kind: String,
    pub title: String,
    pub message: String,
    pub data: Option<serde_json::Value>,
    pub conversation_id: Option<String>,
    pub url: Option<String>,
    pub created_at: Timestamp,
}

/// What marking notifications read changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marked {
    /// How many were unread and are now read.
    pub changed: u64,
    /// The user's unread notifications after the change.
    pub unread: i64,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Stores one notification per user, each with the user's next `seq`; all or none.
    /// `NotFound` names the users that do not exist.
    async fn create_notifications(&self, new: NewNotification) -> StoreResult<Vec<Notification>>;
    /// The user's notifications in `range` (only the unread ones if `unread_only`), and the
    /// unread count.
    async fn notifications(
        &self,
        user: &str,
        range: Range,
        unread_only: bool,
    ) -> StoreResult<(Page<Notification>, i64)>;
    /// Marks one of the user's notifications read; `NotFound` if it is not the user's.
    async fn mark_notification_read(
        &self,
        user: &str,
        id: &str,
    ) -> StoreResult<(Notification, Marked)>;
    /// Marks read every notification of the user's with `seq` up to `up_to` (all of them
    /// when `None`); answers the `seq` it marked up to (at most the user's last) and what
    /// changed. `NotFound` for an unknown user.
    async fn mark_notifications_read(
        &self,
        user: &str,
        up_to: Option<i64>,
    ) -> StoreResult<(i64, Marked)>;
}

#[async_trait]
pub trait AnnouncementStore: Send + Sync {
    async fn create_announcement(
        &self,
        title: &str,
        message: &str,
        author: &str,
        at: Timestamp,
    ) -> StoreResult<Announcement>;
    async fn announcements(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<Page<Announcement>>;
}

/// What `/healthz` asks of the store.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// `sqlite` or `postgres`.
    fn kind(&self) -> &'static str;
    /// One round trip to the database: its latency, or why it failed.
    async fn ping(&self) -> StoreResult<std::time::Duration>;
}

/// Everything the domain needs.
pub trait Store:
    UserStore
    + ConversationStore
    + MessageStore
    + NotificationStore
    + AnnouncementStore
    + TimelineStore
    + DirectoryStore
    + AttachmentStore
    + StoreHealth
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: UserStore
        + ConversationStore
        + MessageStore
        + NotificationStore
        + AnnouncementStore
        + TimelineStore
        + DirectoryStore
        + AttachmentStore
        + StoreHealth
        + std::fmt::Debug
{
}

/// A fresh opaque id with a prefix naming its kind (`c_…`, `a_…`, `s_…`): 32 hex digits from
/// a v4 UUID, 122 random bits.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A fresh opaque id in creation order, for the rows written many times a second (`m_…`,
/// `n_…`): 32 hex digits from a v7 UUID, a millisecond time stamp and then a counter and
/// random bits, so that ids made by this process sort in the order they were made. A
/// store's unique index of such ids grows at its end, where a random id would land on a
/// random page of the index and make each commit write one more page per row. Nothing
/// authorizes by knowing one of these ids: readers of a message or a notification are
/// checked by membership or ownership.
pub fn new_ordered_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn well_formed(id: &str, prefix: &str) -> bool {
        id.len() == prefix.len() + 33
            && id.starts_with(prefix)
            && id[prefix.len()..].starts_with('_')
            && id[prefix.len() + 1..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
    }

    /// Message ids sort in the order they were made, many within one millisecond too, so
    /// the store's index of them grows at its end; they keep the shape clients have seen.
    #[test]
    fn ordered_ids_sort_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..20_000).map(|_| new_ordered_id("m")).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} came before {}", pair[0], pair[1]);
        }
        assert!(ids.iter().all(|id| well_formed(id, "m")), "{}", ids[0]);
        assert!(well_formed(&new_id("c"), "c"));
    }

    /// Made on several threads at once, no two are the same.
    #[test]
    fn ordered_ids_made_at_once_are_distinct() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| (0..10_000).map(|_| new_ordered_id("n")).collect::<Vec<_>>())
            })
            .collect();
        let all: std::collections::HashSet<String> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(all.len(), 40_000);
    }
}
