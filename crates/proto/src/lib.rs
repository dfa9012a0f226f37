//! The Tidings contract (`shared/DESIGN.md`) as Rust types: the event envelope and its
//! payloads, the STOMP destinations, and the REST request and response bodies. The server
//! and every client build on these, so the wire format is defined in one place.
//!
//! Field names are camelCase on the wire. Ids are opaque strings; `seq` numbers are
//! integers, contiguous from 1 per conversation (messages) and per user (notifications).
//! A user's id is the user's unique login name: it is the JWT `sub`, the STOMP
//! `user-name`, and the `{name}` in `/user/{name}/...`.

pub mod api;
pub mod dest;
pub mod event;
mod timestamp;

pub use event::{
    Announcement, Attachment, ContentType, Conversation, ConversationKind, ConversationLeft,
    Envelope, Event, Message, Notification, NotificationsRead, Participant, Presence, Reaction,
    ReadReceipt, ReplyRef, SystemAction, SystemEntry, Typing, User,
};
pub use timestamp::Timestamp;

/// Longest message content, in characters.
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Longest `clientId`, in bytes.
pub const MAX_CLIENT_ID: usize = 64;
