//! What each Tidings event does to the cache, and which gaps it reveals.
//!
//! Timeline events (a new message or system entry, an edit, a tombstone, new reactions)
//! carry the message as it is now, with its revision: merged newer-revision-wins, they move
//! the held revision when they are the next one. A revision further on is a gap, and so is a
//! `seq` past the contiguous prefix: either makes the engine fetch what is missing at once
//! (the change log after the held revision, the history after the prefix). Membership comes
//! as `CONVERSATION_UPDATED` (the user's own view, which un-marks a conversation left) and
//! `CONVERSATION_LEFT` (marked left, kept readable; the server has ended the topic
//! subscription, so the focus forgets it).

use super::live::ERRORS;
use super::run::{Background, Live, Runner};
use crate::cache::Departure;
use crate::error::ClientResult;
use std::sync::Arc;
use tidings_proto::{dest, Envelope, Event};
use tidings_stomp::Frame;
use tokio::sync::mpsc;

impl Runner {
    /// A message on one of the Tidings subscriptions. Returns whether it may be
    /// acknowledged.
    pub(super) fn on_tidings_message(
        &mut self,
        sub: &str,
        f: &Frame,
        live: &mut Live,
        bg: &mpsc::Sender<Background>,
    ) -> ClientResult<bool> {
        if sub == ERRORS {
            self.on_send_error(&f.body, live)?;
            return Ok(true);
        }
        let Ok(env) = serde_json::from_slice::<Envelope>(&f.body) else {
            tracing::warn!(
                subscription = sub,
                "ignoring a message that is not a Tidings envelope"
            );
            return Ok(true);
        };
        match &env.event {
            Event::ChatMessage(m)
            | Event::MessageEdited(m)
            | Event::MessageDeleted(m)
            | Event::ReactionsUpdated(m) => {
                let cid = &m.conversation_id;
                self.cache
                    .insert_messages(std::slice::from_ref(m), &self.me)?;
                if self.cache.needs_fetch(cid)? || self.cache.behind(cid)? {
                    self.repair(cid, live, bg);
                }
            }
            Event::ConversationUpdated(c) => {
                let held = self.cache.held_rev(&c.id)?;
                self.cache.upsert_conversation(c, &self.me)?;
                // The next revision is the change's own system entry, on its way; one past
                // it (joined a conversation with a past, say) is a gap.
                if c.rev > held + 1 || self.cache.needs_fetch(&c.id)? {
                    self.repair(&c.id, live, bg);
                }
            }
            Event::ConversationLeft(l) => {
                let how = if l.removed {
                    Departure::RemovedBy(&l.by)
                } else {
                    Departure::Left
                };
                self.cache.mark_left(&l.conversation_id, how)?;
                self.forget_topic(&l.conversation_id, live);
            }
            Event::UserUpdated(u) => self.cache.set_display_name(&u.id, &u.display_name)?,
            Event::ReadReceipt(r) => {
                self.cache
                    .apply_read_receipt(&r.conversation_id, &r.user_id, r.up_to, &self.me)?;
            }
            Event::Notification(n) => {
                let cursor = self.cache.notification_cursor()?;
                self.cache.insert_notifications(std::slice::from_ref(n))?;
                if n.seq > cursor + 1 && !live.catching_up {
                    // A gap in the notifications: fetch the range.
                    if let Some(sync) = self.sync.clone() {
                        tokio::spawn(async move {
                            if let Err(e) = sync.fill_notifications(None).await {
                                tracing::info!(error = %e, "could not fetch missed notifications");
                            }
                        });
                    }
                }
            }
            Event::NotificationsRead(r) => {
                self.cache.apply_notifications_read(r)?;
            }
            Event::Presence(p) => self.cache.set_presence(&p.user_id, p.online)?,
            Event::Announcement(a) => {
                let n = tidings_proto::Notification {
                    id: a.id.clone(),
                    user_id: self.me.clone(),
                    seq: 0,
                    kind: "announcement".into(),
                    title: a.title.clone(),
                    message: a.message.clone(),
                    data: None,
                    conversation_id: None,
                    url: None,
                    is_read: false,
                    created_at: a.created_at,
                };
                self.cache
                    .insert_foreign_notification(&n, dest::ANNOUNCEMENTS)?;
            }
            Event::Typing(_) => {}
        }
        let _ = self.events.send(Arc::new(env));
        Ok(true)
    }

    /// The server ended our subscription to a conversation we left: the focus no longer
    /// holds it (unsubscribing it now would name an unknown subscription).
    pub(super) fn forget_topic(&self, cid: &str, live: &mut Live) {
        if live.focused_sub.as_deref() == Some(cid) {
            live.focused_sub = None;
        }
    }
}
