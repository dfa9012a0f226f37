//! Actions on timeline entries (edit, delete, react) and the change log that lets a client
//! catch up on them (`changes?after=<rev>`).
//!
//! Each action is stored and published under the conversation's ordering lock, so its
//! event leaves in rev order. One that changes nothing (a reaction already on, a tombstone
//! deleted again) advances no rev and publishes nothing; it answers the entry as it is.
//!
//! Rules *(choices)*: the edit window (`chat.edit_window_secs`) limits edits only; deleting
//! your own message is always allowed. Replying to a tombstone is allowed (the quote shows
//! it deleted). At most [`MAX_REACTIONS`] different emoji per message.

use super::{validate, Chat, ChatError, ChatResult, MAX_PAGE};
use crate::store::{Edit, NewReaction};
use tidings_proto::api::{ChangePage, ChangesQuery, EditMessage, ReactRequest};
use tidings_proto::{Event, Message, Timestamp};

/// Different emoji one message may carry.
pub const MAX_REACTIONS: usize = 20;
/// Default page of `GET …/changes`.
const DEFAULT_CHANGES: u32 = 100;

impl Chat {
    /// Replaces the content of the sender's own message.
    pub async fn edit_message(
        &self,
        by: &str,
        cid: &str,
        mid: &str,
        req: EditMessage,
    ) -> ChatResult<Message> {
        validate::content(&req.content)?;
        let mentions = validate::mentions(&req.mentions)?;
        let _order = self.order.exclusive(cid).await;
        let done = self
            .store
            .edit_message(Edit {
                conversation_id: cid.to_owned(),
                message_id: mid.to_owned(),
                by: by.to_owned(),
                content: req.content,
                content_type: req.content_type,
                mentions,
                at: Timestamp::now(),
                window_ms: self
                    .edit_window
                    .map(|w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX)),
            })
            .await?;
        self.publish_entry(
            cid,
            &done.participants,
            Event::MessageEdited(done.message.clone()),
            by,
        );
        Ok(done.message)
    }

    /// Erases the sender's own message, leaving its tombstone.
    pub async fn delete_message(&self, by: &str, cid: &str, mid: &str) -> ChatResult<Message> {
        let _order = self.order.exclusive(cid).await;
        let done = self.store.delete_message(cid, mid, by).await?;
        if done.changed {
            // Its attachments are gone: their blobs may be unused now.
            self.blob_gc.notify_one();
            self.publish_entry(
                cid,
                &done.participants,
                Event::MessageDeleted(done.message.clone()),
                by,
            );
        }
        Ok(done.message)
    }

    /// Puts the user's reaction on a message, or takes it off.
    pub async fn react(
        &self,
        user: &str,
        cid: &str,
        mid: &str,
        req: ReactRequest,
    ) -> ChatResult<Message> {
        validate::emoji(&req.emoji)?;
        let _order = self.order.exclusive(cid).await;
        let done = self
            .store
            .react(NewReaction {
                conversation_id: cid.to_owned(),
                message_id: mid.to_owned(),
                user: user.to_owned(),
                emoji: req.emoji,
                on: req.on,
                at: Timestamp::now(),
                max_emoji: MAX_REACTIONS,
            })
            .await?;
        if done.changed {
            self.publish_entry(
                cid,
                &done.participants,
                Event::ReactionsUpdated(done.message.clone()),
                user,
            );
        }
        Ok(done.message)
    }

    /// What changed in a conversation after revision `after` (participants only).
    pub async fn changes(&self, user: &str, cid: &str, q: ChangesQuery) -> ChatResult<ChangePage> {
        let after = q.after.unwrap_or(0);
        if after < 0 {
            return Err(ChatError::Invalid("after must be 0 or more".into()));
        }
        let limit = match q.limit {
            None => DEFAULT_CHANGES,
            Some(l) if (1..=MAX_PAGE).contains(&l) => l,
            Some(l) => {
                return Err(ChatError::Invalid(format!(
                    "limit {l} is out of range 1-{MAX_PAGE}"
                )))
            }
        };
        self.participant_of(cid, user).await?;
        let set = self.store.changes(cid, after, limit).await?;
        // The view after the entries: its rev is at least the answer's.
        let conversation = self.conversation(user, cid).await?;
        Ok(ChangePage {
            conversation,
            messages: set.items,
            has_more: set.has_more,
            rev: set.rev,
        })
    }
}
