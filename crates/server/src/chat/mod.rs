//! The chat domain: conversations, messages, read markers, typing, presence,
//! notifications and announcements. REST handlers and the STOMP application both call
//! [`Chat`]; it validates, writes to the store, and only after the write committed
//! publishes the events through the broker.
//!
//! Delivery order. Every change to a conversation's timeline (messages, edits, deletions,
//! reactions, membership changes, renames) takes its place in that conversation's
//! [`order`] before the store takes the write, and is published in that place, so on this
//! node events leave in `seq` and `rev` order. Message sends hold the conversation only
//! while the store queues the write, so the sends of one conversation share a commit.
//! Clients still treat a `seq` gap as a reason to fetch the range (DESIGN.md): the store,
//! not the broker, is the record.

pub mod accounts;
mod actions;
mod cursor;
mod directory;
mod feed;
mod membership;
mod notifications;
mod order;
pub mod passwords;
mod presence;
pub mod quota;
mod remote;
pub mod stomp;
mod typing;
pub mod validate;

use crate::app::Broker;
use crate::cluster::Limiter;
use crate::store::{
    new_id, new_ordered_id, ConversationRecord, MessageRefs, NewConversation, NewMessage, Range,
    Store, StoreError, UserRecord,
};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Instant;
use tidings_proto::api::{
    AnnouncementPage, ConversationList, ConversationQuery, CreateAnnouncement, CreateConversation,
    HistoryQuery, MessagePage, ReadState, SendMessage, User,
};
use tidings_proto::{
    dest, Announcement, Conversation, Envelope, Event, Message, Participant, Presence, ReadReceipt,
    Timestamp,
};

pub use feed::Feed;

/// Why the domain refused a request. The message is for the caller.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    /// Overloaded for a moment (password hashing): try again shortly.
    #[error("{0}")]
    Busy(String),
    /// The database cannot be reached (PostgreSQL down): nothing was stored.
    #[error("{0}")]
    StoreUnavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ChatError {
    /// The machine-readable code, for the broker's refusals. (The HTTP edge maps each
    /// variant to its own answer, with the same codes.)
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::Invalid(_) => "invalid",
            ChatError::Unauthorized(_) => "unauthorized",
            ChatError::Forbidden(_) => "forbidden",
            ChatError::NotFound(_) => "not_found",
            ChatError::Conflict(_) => "conflict",
            ChatError::RateLimited(_) => "rate_limited",
            ChatError::Busy(_) => "busy",
            ChatError::StoreUnavailable(_) => "store_unavailable",
            ChatError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ChatError {
    fn from(e: StoreError) -> ChatError {
        match e {
            StoreError::NotFound(m) => ChatError::NotFound(m),
            StoreError::Forbidden(m) => ChatError::Forbidden(m),
            StoreError::Conflict(m) => ChatError::Conflict(m),
            StoreError::Invalid(m) => ChatError::Invalid(m),
            StoreError::Internal(m) => ChatError::Internal(m),
            StoreError::Unavailable(m) => ChatError::StoreUnavailable(m),
        }
    }
}

pub type ChatResult<T> = Result<T, ChatError>;

/// A stored message and whether this request stored it (`false`: an idempotent repeat).
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    pub created: bool,
}

/// Largest page of history, notifications or announcements.
pub const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 50;
/// Default page of `GET /api/conversations`.
const DEFAULT_CONVERSATION_PAGE: u32 = 100;

/// The chat service. Shared behind an `Arc`.
#[derive(Debug)]
pub struct Chat {
    pub store: Arc<dyn Store>,
    pub accounts: accounts::Accounts,
    broker: Broker,
    presence: presence::PresenceMap,
    typing: typing::TypingState,
    pub feed: Feed,
    rate: Arc<Limiter>,
    quota: quota::Quota,
    /// The order in which timeline changes are published, per conversation: see [`order`].
    order: order::Order,
    /// How long after sending a message may be edited; `None`: always.
    edit_window: Option<std::time::Duration>,
    /// Attachments one message may carry.
    max_attachments: usize,
    /// Woken when a deletion may have left blobs unreferenced (the attachments' sweeper).
    blob_gc: Arc<tokio::sync::Notify>,
}

impl Chat {
    pub fn new(
        store: Arc<dyn Store>,
        accounts: accounts::Accounts,
        broker: Broker,
        rate: Arc<Limiter>,
        typing_ttl: std::time::Duration,
    ) -> Chat {
        Chat {
            typing: typing::TypingState::new(broker.clone(), typing_ttl),
            store,
            accounts,
            broker,
            presence: presence::PresenceMap::default(),
            feed: Feed::default(),
            rate,
            quota: quota::Quota::new(
                &crate::config::LimitsConfig::default(),
                Arc::new(crate::metrics::Metrics::default()),
                &crate::cluster::Bus::none(),
            ),
            order: order::Order::default(),
            edit_window: None,
            max_attachments: crate::config::LimitsConfig::default().max_attachments_per_message,
            blob_gc: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Attachments per message, and what to wake when a deletion leaves blobs unused.
    pub fn with_attachments(
        mut self,
        max_per_message: usize,
        blob_gc: Arc<tokio::sync::Notify>,
    ) -> Chat {
        self.max_attachments = max_per_message;
        self.blob_gc = blob_gc;
        self
    }

    /// Sets the edit window (`chat.edit_window_secs`; zero: none).
    pub fn with_edit_window(mut self, window: std::time::Duration) -> Chat {
        self.edit_window = (!window.is_zero()).then_some(window);
        self
    }

    /// The limits on creating conversations and adding participants (the defaults
    /// otherwise).
    pub fn with_quota(mut self, quota: quota::Quota) -> Chat {
        self.quota = quota;
        self
    }

    /// Publishes an event about a timeline entry to the conversation's topic and each
    /// participant's `/user/queue/messages`.
    fn publish_entry(&self, cid: &str, participants: &[String], event: Event, by: &str) {
        let env = Envelope::new(event, Some(by));
        let targets = std::iter::once(dest::conversation_topic(cid)).chain(
            participants
                .iter()
                .map(|p| dest::for_user(p, dest::USER_MESSAGES)),
        );
        self.publish(targets, &env, false);
    }

    /// Publishes one envelope to several destinations, encoded once.
    fn publish<I>(&self, destinations: I, envelope: &Envelope, droppable: bool)
    where
        I: IntoIterator<Item = String>,
    {
        let body = Bytes::from(envelope.to_json());
        for d in destinations {
            let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            if let Err(e) = self.broker.publish(&d, headers, body.clone(), droppable) {
                tracing::warn!(destination = %d, error = %e, "could not publish an event");
            }
        }
    }

    /// Whether the user has a session on any node.
    pub fn online(&self, user: &str) -> bool {
        self.presence.online(user) || self.broker.bus().online_elsewhere(user)
    }

    pub fn user_view(&self, u: &UserRecord) -> User {
        User {
            id: u.name.clone(),
            display_name: u.display_name.clone(),
            online: self.online(&u.name),
            roles: u.roles.clone(),
        }
    }

    /// A conversation as `viewer` sees it.
    pub fn conversation_view(
        &self,
        c: &ConversationRecord,
        viewer: &str,
        last_message: Option<Message>,
    ) -> Conversation {
        let read_seq = c.participant(viewer).map(|p| p.read_seq).unwrap_or(0);
        Conversation {
            id: c.id.clone(),
            kind: c.kind,
            title: c.title.clone(),
            participants: c
                .participants
                .iter()
                .map(|p| Participant {
                    id: p.user.clone(),
                    display_name: p.display_name.clone(),
                    online: self.online(&p.user),
                    read_seq: p.read_seq,
                })
                .collect(),
            last_seq: c.last_seq,
            read_seq,
            unread_count: (c.last_seq - read_seq).max(0),
            last_message,
            rev: c.rev,
            created_by: c.created_by.clone(),
            created_at: c.created_at,
        }
    }

    /// The conversation, if `user` takes part in it.
    async fn participant_of(&self, cid: &str, user: &str) -> ChatResult<ConversationRecord> {
        let conv = self
            .store
            .conversation(cid)
            .await?
            .ok_or_else(|| ChatError::NotFound(format!("no conversation {cid}")))?;
        if conv.participant(user).is_none() {
            return Err(ChatError::Forbidden(format!(
                "you are not a participant of conversation {cid}"
            )));
        }
        Ok(conv)
    }

    // ------------------------------------------------------------------ conversations

    /// A page of the user's conversations: see [`crate::store::ConversationStore::conversation_page`].
    pub async fn conversation_page(
        &self,
        user: &str,
        q: ConversationQuery,
    ) -> ChatResult<ConversationList> {
        let limit = match q.limit {
            None => DEFAULT_CONVERSATION_PAGE,
            Some(l) if (1..=MAX_PAGE).contains(&l) => l,
            Some(_) => return Err(ChatError::Invalid(format!("limit must be 1-{MAX_PAGE}"))),
        };
        let after = q.cursor.as_deref().map(cursor::decode).transpose()?;
        let page = self.store.conversation_page(user, after, limit).await?;
        Ok(ConversationList {
            conversations: page
                .items
                .into_iter()
                .map(|(c, last)| self.conversation_view(&c, user, last))
                .collect(),
            has_more: page.next.is_some(),
            next_cursor: page.next.as_ref().map(cursor::encode),
        })
    }

    pub async fn conversation(&self, user: &str, cid: &str) -> ChatResult<Conversation> {
        let conv = self.participant_of(cid, user).await?;
        let last = self
            .store
            .messages(cid, Range::After(conv.last_seq - 1, 1))
            .await?
            .items
            .pop();
        Ok(self.conversation_view(&conv, user, last))
    }

    /// Creates a conversation (or finds the direct one); tells the others they were added.
    pub async fn create_conversation(
        &self,
        creator: &str,
        req: CreateConversation,
    ) -> ChatResult<(Conversation, bool)> {
        self.quota.check_request(req.participants.len())?;
        let (title, others) = validate::new_conversation(creator, &req)?;
        self.quota.check_new_group(others.len() + 1)?;
        self.quota
            .charge_conversation(creator, others.len(), Instant::now())
            .await?;
        let mut participants = vec![creator.to_owned()];
        participants.extend(others);
        let (conv, created) = self
            .store
            .create_conversation(NewConversation {
                id: new_id("c"),
                kind: req.kind,
                title,
                created_by: creator.to_owned(),
                participants,
                created_at: Timestamp::now(),
            })
            .await?;
        if created {
            let added: Vec<String> = conv
                .participants
                .iter()
                .map(|p| p.user.clone())
                .filter(|u| u != creator)
                .collect();
            self.announce_membership(creator, &conv, &added).await;
        }
        Ok((self.conversation_view(&conv, creator, None), created))
    }

    // ------------------------------------------------------------------ messages

    /// Stores a message (once per sender and `clientId`) and delivers it.
    pub async fn send_message(
        &self,
        sender: &str,
        cid: &str,
        req: SendMessage,
    ) -> ChatResult<Sent> {
        validate::message(&req)?;
        let refs = MessageRefs {
            reply_to: req.reply_to,
            mentions: validate::mentions(&req.mentions)?,
            attachments: validate::attachments(&req.attachments, self.max_attachments)?,
        };
        // Admitted in order while the store queues the write, then committed without holding
        // up the conversation's next sends (they share a group commit); published in turn.
        let admission = self.order.admit(cid).await;
        let pending = self
            .store
            .queue_entry(
                NewMessage {
                    id: new_ordered_id("m"),
                    conversation_id: cid.to_owned(),
                    sender: sender.to_owned(),
                    client_id: req.client_id,
                    content: req.content,
                    content_type: req.content_type,
                    created_at: Timestamp::now(),
                },
                refs,
            )
            .await?;
        let mut turn = admission.admitted();
        let appended = pending.await?;
        turn.wait().await;
        let env = Envelope::at(
            Event::ChatMessage(appended.message.clone()),
            appended.message.created_at,
            Some(sender),
        );
        if appended.duplicate {
            // Answer the sender (all of its sessions) with the stored message again.
            self.publish([dest::for_user(sender, dest::USER_MESSAGES)], &env, false);
        } else {
            let targets = std::iter::once(dest::conversation_topic(cid)).chain(
                appended
                    .participants
                    .iter()
                    .map(|p| dest::for_user(p, dest::USER_MESSAGES)),
            );
            self.publish(targets, &env, false);
            self.typing
                .stop(cid, sender, |d, e| self.publish([d], e, true));
        }
        Ok(Sent {
            message: appended.message,
            created: !appended.duplicate,
        })
    }

    /// Takes one `SEND` from the user's per-minute budget (REST sends share it with STOMP).
    pub async fn charge_send(&self, user: &str) -> ChatResult<()> {
        if self.rate.allow(user, Instant::now()).await {
            Ok(())
        } else {
            Err(ChatError::RateLimited(format!(
                "rate limit exceeded: at most {} messages per minute per user",
                self.rate.per_minute()
            )))
        }
    }

    pub async fn history(&self, user: &str, cid: &str, q: HistoryQuery) -> ChatResult<MessagePage> {
        let limit = validate::page_limit(q.limit)?;
        let range = match (q.before, q.after) {
            (Some(_), Some(_)) => {
                return Err(ChatError::Invalid(
                    "give either before or after, not both".into(),
                ))
            }
            (Some(b), None) => Range::Before(b, limit),
            (None, Some(a)) => Range::After(a, limit),
            (None, None) => Range::Newest(limit),
        };
        if !self.store.is_participant(cid, user).await? {
            // Tell apart "no such conversation" and "not yours".
            self.participant_of(cid, user).await?;
        }
        let page = self.store.messages(cid, range).await?;
        Ok(MessagePage {
            messages: page.items,
            has_more: page.has_more,
            last_seq: page.last_seq,
        })
    }

    /// Moves the user's read marker; tells the other participants and the user's own
    /// other sessions.
    pub async fn read(&self, user: &str, cid: &str, up_to: i64) -> ChatResult<ReadState> {
        if up_to < 0 {
            return Err(ChatError::Invalid("upTo must be 0 or more".into()));
        }
        let marker = self.store.mark_read(cid, user, up_to).await?;
        let unread = (marker.last_seq - marker.read_seq).max(0);
        if marker.moved {
            let receipt = |unread_count| {
                Envelope::new(
                    Event::ReadReceipt(ReadReceipt {
                        conversation_id: cid.to_owned(),
                        user_id: user.to_owned(),
                        up_to: marker.read_seq,
                        unread_count,
                    }),
                    Some(user),
                )
            };
            self.publish([dest::conversation_topic(cid)], &receipt(None), false);
            self.publish(
                [dest::for_user(user, dest::USER_MESSAGES)],
                &receipt(Some(unread)),
                false,
            );
        }
        Ok(ReadState {
            conversation_id: cid.to_owned(),
            read_seq: marker.read_seq,
            unread_count: unread,
        })
    }

    pub async fn typing(&self, user: &str, cid: &str, typing: bool) -> ChatResult<()> {
        if !self.store.is_participant(cid, user).await? {
            self.participant_of(cid, user).await?;
        }
        if typing {
            self.typing
                .start(cid, user, |d, e| self.publish([d], e, true));
        } else {
            self.typing
                .stop(cid, user, |d, e| self.publish([d], e, true));
        }
        Ok(())
    }

    // ------------------------------------------------------------------ presence

    /// A session opened on this node. `PRESENCE` online when it is the user's first
    /// anywhere; the other nodes hear of it through the bus and decide on their own.
    pub fn session_opened(&self, user: &str) {
        if self.presence.connect(user) {
            let bus = self.broker.bus();
            bus.local_presence(user, true);
            if !bus.online_elsewhere(user) {
                self.publish_presence(user, true);
            }
        }
    }

    pub fn session_closed(&self, user: &str) {
        if self.presence.disconnect(user) {
            self.typing
                .stop_all(user, |d, e| self.publish([d], e, true));
            let bus = self.broker.bus();
            bus.local_presence(user, false);
            if !bus.online_elsewhere(user) {
                self.publish_presence(user, false);
            }
        }
    }

    /// To this node's subscribers only: each node derives presence events from its own
    /// view of the cluster (see [`crate::cluster`]).
    fn publish_presence(&self, user: &str, online: bool) {
        let env = Envelope::new(
            Event::Presence(Presence {
                user_id: user.to_owned(),
                online,
            }),
            Some(user),
        );
        let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        let body = Bytes::from(env.to_json());
        if let Err(e) = self
            .broker
            .publish_local(dest::PRESENCE, headers, body, true)
        {
            tracing::warn!(error = %e, "could not publish a presence event");
        }
    }

    // ------------------------------------------------------------------ announcements

    pub async fn announce(
        &self,
        author: &str,
        req: CreateAnnouncement,
    ) -> ChatResult<Announcement> {
        validate::text("title", &req.title, validate::MAX_TITLE)?;
        validate::text("message", &req.message, tidings_proto::MAX_CONTENT_CHARS)?;
        let a = self
            .store
            .create_announcement(&req.title, &req.message, author, Timestamp::now())
            .await?;
        let env = Envelope::at(Event::Announcement(a.clone()), a.created_at, Some(author));
        self.publish([dest::ANNOUNCEMENTS.to_owned()], &env, false);
        Ok(a)
    }

    pub async fn announcements(
        &self,
        after: Option<i64>,
        limit: Option<u32>,
    ) -> ChatResult<AnnouncementPage> {
        let limit = validate::page_limit(limit)?;
        let page = self.store.announcements(after, limit).await?;
        Ok(AnnouncementPage {
            announcements: page.items,
            has_more: page.has_more,
        })
    }
}
