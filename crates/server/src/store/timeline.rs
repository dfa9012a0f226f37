//! The store's side of a conversation's change log: revisions, edits, deletions,
//! reactions, replies, mentions, membership changes with their system entries, and the
//! directory of users.
//!
//! Contracts every implementation keeps (checked by `tests/store.rs`):
//! - A conversation's `rev` starts at 0 and every change to its timeline advances it by
//!   exactly 1, in the same transaction as the change: a new entry, an edit, a deletion, a
//!   reaction that changes something, a membership change or a rename (one rev however
//!   many rows it touches). A write that changes nothing (a reaction already on, a
//!   tombstone deleted again) advances nothing.
//! - Every entry holds the rev of its last change, so entries' revs are distinct within a
//!   conversation and [`TimelineStore::changes`] after `r` gives exactly the entries that
//!   changed after `r`, each as it is now.
//! - Deleting erases: the content, mentions, reply reference and reaction rows are gone
//!   from the database (the SQLite store also runs with `secure_delete`, so no free page
//!   keeps them); the row keeps id, seq, sender, client id, time and rev.

use super::{Appended, ConversationRecord, NewMessage, StoreResult, UserRecord};
use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;
use tidings_proto::{ContentType, Message, SystemEntry, Timestamp};

/// Mentions, a reply reference and attachments of a new entry; checked by the store: every
/// mention must be a participant, the reply must be an entry of the same conversation, each
/// attachment a finished, unused upload of the sender's into that conversation (`Invalid`).
#[derive(Debug, Clone, Default)]
pub struct MessageRefs {
    pub reply_to: Option<String>,
    /// Distinct user ids.
    pub mentions: Vec<String>,
    /// Distinct attachment ids, in the order the message shows them.
    pub attachments: Vec<String>,
}

/// An entry after an action on it, whether the action changed anything (then it carries
/// the new rev), and who is in the conversation (for delivery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub message: Message,
    pub changed: bool,
    pub participants: Vec<String>,
}

/// Replacing an entry's content.
#[derive(Debug, Clone)]
pub struct Edit {
    pub conversation_id: String,
    pub message_id: String,
    pub by: String,
    pub content: String,
    pub content_type: ContentType,
    pub mentions: Vec<String>,
    /// Now, for `editedAt` and the window.
    pub at: Timestamp,
    /// Edits are refused (`Forbidden`) once this long has passed since the message was
    /// created; `None`: no window.
    pub window_ms: Option<i64>,
}

/// Putting a reaction on or taking it off.
#[derive(Debug, Clone)]
pub struct NewReaction {
    pub conversation_id: String,
    pub message_id: String,
    pub user: String,
    pub emoji: String,
    pub on: bool,
    pub at: Timestamp,
    /// Distinct emoji one entry may carry; a new one beyond is a `Conflict`.
    pub max_emoji: usize,
}

/// What a membership change does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// Adds those not in yet (`Conflict` past `max_size`, `NotFound` for unknown users).
    Add {
        users: Vec<String>,
        max_size: usize,
    },
    /// Removes one participant (`by` itself: leaving).
    Remove {
        user: String,
    },
    Rename {
        title: String,
    },
}

/// A membership change of a group and the system entry recording it.
#[derive(Debug, Clone)]
pub struct MembershipChange {
    pub conversation_id: String,
    pub by: String,
    pub change: Membership,
    pub entry_id: String,
    /// The sentence ("Alice added Carol").
    pub content: String,
    pub system: SystemEntry,
    pub at: Timestamp,
}

/// After a membership change: the conversation as it is now, the system entry, and who
/// was in it before (the removed user included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChanged {
    pub conversation: ConversationRecord,
    pub entry: Message,
    pub participants_before: Vec<String>,
}

/// Entries changed after a revision, in ascending `rev`, and the revision this brings the
/// reader to (the last entry's when `has_more`, else the conversation's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    pub items: Vec<Message>,
    pub has_more: bool,
    pub rev: i64,
}

/// An append the store has taken in order; resolves once it has committed.
pub type Queued = Pin<Box<dyn Future<Output = StoreResult<Appended>> + Send>>;

#[async_trait]
pub trait TimelineStore: Send + Sync {
    /// [`super::MessageStore::append_message`] with mentions and a reply reference.
    async fn append_entry(&self, new: NewMessage, refs: MessageRefs) -> StoreResult<Appended>;
    /// [`TimelineStore::append_entry`] in two steps: resolves once the store has taken the
    /// append in its order (every write asked for later is ordered after it: `seq` and
    /// `rev` follow), and the returned future resolves once it has committed, with what
    /// `append_entry` answers. A store that cannot queue writes (the default) appends and
    /// commits in the first step.
    async fn queue_entry(&self, new: NewMessage, refs: MessageRefs) -> StoreResult<Queued> {
        let done: Queued = Box::pin(std::future::ready(self.append_entry(new, refs).await));
        Ok(done)
    }
    /// One entry of a conversation.
    async fn message(&self, conversation: &str, id: &str) -> StoreResult<Option<Message>>;
    /// Replaces the content of `by`'s own message. `NotFound` (no such entry in the
    /// conversation), `Forbidden` (not a participant, not `by`'s, past the window),
    /// `Conflict` (a system entry or a tombstone), `Invalid` (a mention not a participant).
    async fn edit_message(&self, edit: Edit) -> StoreResult<Changed>;
    /// Erases `by`'s own message, leaving its tombstone; a tombstone again is answered
    /// unchanged. Errors as for edits (a system entry: `Conflict`).
    async fn delete_message(&self, conversation: &str, id: &str, by: &str) -> StoreResult<Changed>;
    /// Sets one user's reaction. `Forbidden` for non-participants, `Conflict` on a system
    /// entry, a tombstone, or one emoji too many.
    async fn react(&self, reaction: NewReaction) -> StoreResult<Changed>;
    /// Changes a group's membership or title and appends the system entry, atomically.
    /// `Invalid` for a direct conversation, `Forbidden` if `by` is not a participant,
    /// `NotFound` if the user to remove is not one.
    async fn change_membership(&self, change: MembershipChange) -> StoreResult<MembershipChanged>;
    /// Up to `limit` entries with `rev > after`: see [`ChangeSet`].
    async fn changes(&self, conversation: &str, after: i64, limit: u32) -> StoreResult<ChangeSet>;
}

/// The user directory and profiles.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Users whose id starts with `q`, or one of whose display name's words does (both under
    /// [`search_key`]; `None` matches everyone), ordered by id, after `after`; at most
    /// `limit`, and whether more follow.
    async fn directory(
        &self,
        q: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<(Vec<UserRecord>, bool)>;
    /// Changes a user's display name under the rules of `create_user` (`Conflict` when
    /// taken); `NotFound` for an unknown user.
    async fn set_display_name(&self, user: &str, display_name: &str) -> StoreResult<UserRecord>;
}

/// The form names are searched in: NFKD without combining marks (accents), case-folded,
/// words separated by single spaces.
pub fn search_key(text: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    let bare: String = text.nfkd().filter(|c| !is_combining_mark(*c)).collect();
    let folded = caseless::default_case_fold_str(&bare);
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}
