//! Who is in a group, and what it is called: the owner adds, removes and renames; anyone
//! leaves. Each change is a system entry of the timeline ("Alice added Carol") with its
//! own `seq` and rev, stored with the change in one transaction.
//!
//! Revocation. When someone is removed or leaves, every live subscription of theirs to the
//! conversation's topic ends (on all their sessions) *before* anything further is
//! published there, all under the conversation's ordering lock; then they get
//! `CONVERSATION_LEFT`. From the store's commit on they can no longer read, write or
//! subscribe (the participant checks refuse them).
//!
//! The owner is the group's creator (`createdBy`). If the owner leaves, the group goes on
//! without one *(choice)*: nobody can rename it or change its membership any more, but
//! everyone can still talk and leave.

use super::{validate, Chat, ChatError, ChatResult};
use crate::store::{
    new_ordered_id, ConversationRecord, Membership, MembershipChange, MembershipChanged,
    NewNotification, StoreResult,
};
use std::time::Instant;
use tidings_proto::api::{AddParticipants, UpdateConversation};
use tidings_proto::{
    dest, Conversation, ConversationKind, ConversationLeft, Envelope, Event, SystemAction,
    SystemEntry, Timestamp,
};

/// "Carol", "Carol and Dan", "Carol, Dan and Erin".
fn names(list: &[String]) -> String {
    match list {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl Chat {
    /// The group `cid` when `by` may manage it: a participant (403), a group (400), and
    /// with `owner_only` its owner (403).
    async fn managed_group(
        &self,
        cid: &str,
        by: &str,
        owner_only: bool,
        what: &str,
    ) -> ChatResult<ConversationRecord> {
        let conv = self.participant_of(cid, by).await?;
        if conv.kind == ConversationKind::Direct {
            return Err(ChatError::Invalid(format!(
                "a direct conversation cannot be changed this way ({what}); start a group instead"
            )));
        }
        if owner_only && conv.created_by != by {
            return Err(ChatError::Forbidden(format!(
                "only the group's owner ({}) may {what}",
                conv.created_by
            )));
        }
        Ok(conv)
    }

    fn display_name_in(conv: &ConversationRecord, user: &str) -> String {
        conv.participant(user)
            .map(|p| p.display_name.clone())
            .unwrap_or_else(|| user.to_owned())
    }

    /// Adds people to a group (its owner only). Adding only people already in is a 409.
    pub async fn add_participants(
        &self,
        by: &str,
        cid: &str,
        req: AddParticipants,
    ) -> ChatResult<Conversation> {
        self.quota.check_request(req.users.len())?;
        let users = validate::user_list(&req.users, "users", validate::MAX_PARTICIPANTS)?;
        let _order = self.order.exclusive(cid).await;
        let conv = self.managed_group(cid, by, true, "add people").await?;
        let joining: Vec<String> = users
            .into_iter()
            .filter(|u| conv.participant(u).is_none())
            .collect();
        let records = self.store.users(&joining).await?;
        let mut shown = Vec::with_capacity(joining.len());
        for u in &joining {
            match records.iter().find(|r| &r.name == u) {
                Some(r) => shown.push(r.display_name.clone()),
                None => return Err(ChatError::NotFound(format!("unknown users: {u}"))),
            }
        }
        if joining.is_empty() {
            return Err(ChatError::Conflict(
                "everyone named is a participant already".into(),
            ));
        }
        self.quota
            .charge_participants(by, joining.len(), Instant::now())
            .await?;
        let content = format!(
            "{} added {}",
            Self::display_name_in(&conv, by),
            names(&shown)
        );
        let system = SystemEntry {
            action: SystemAction::Added,
            users: joining.clone(),
            title: None,
        };
        let add = Membership::Add {
            users: joining.clone(),
            max_size: self.quota.max_group_size(),
        };
        let change = self
            .commit_change(cid, by, add, content, system)
            .await
            .inspect_err(|e| {
                if matches!(e, crate::store::StoreError::Conflict(_)) {
                    self.quota.group_full();
                }
            })?;
        self.publish_change(by, &change, &joining).await;
        Ok(self.conversation_view(&change.conversation, by, Some(change.entry)))
    }

    /// `uid` = `by`: leaving (anyone, groups only). Another: removing them (the owner only).
    pub async fn remove_participant(&self, by: &str, cid: &str, uid: &str) -> ChatResult<()> {
        validate::username(uid)?;
        let leaving = uid == by;
        let _order = self.order.exclusive(cid).await;
        let conv = self
            .managed_group(cid, by, !leaving, "remove people")
            .await?;
        if conv.participant(uid).is_none() {
            return Err(ChatError::NotFound(format!(
                "{uid} is not a participant of conversation {cid}"
            )));
        }
        let (content, action) = if leaving {
            (
                format!("{} left", Self::display_name_in(&conv, by)),
                SystemAction::Left,
            )
        } else {
            (
                format!(
                    "{} removed {}",
                    Self::display_name_in(&conv, by),
                    Self::display_name_in(&conv, uid)
                ),
                SystemAction::Removed,
            )
        };
        let system = SystemEntry {
            action,
            users: if leaving {
                vec![]
            } else {
                vec![uid.to_owned()]
            },
            title: None,
        };
        let remove = Membership::Remove {
            user: uid.to_owned(),
        };
        let change = self.commit_change(cid, by, remove, content, system).await?;
        // Revocation first: nothing published from here on reaches them.
        self.broker
            .drop_subscriptions(uid, &dest::conversation_topic(cid));
        let left = Envelope::new(
            Event::ConversationLeft(ConversationLeft {
                conversation_id: cid.to_owned(),
                rev: change.entry.rev,
                removed: !leaving,
                by: by.to_owned(),
            }),
            Some(by),
        );
        self.publish([dest::for_user(uid, dest::USER_MESSAGES)], &left, false);
        self.publish_change(by, &change, &[]).await;
        Ok(())
    }

    /// Renames a group (its owner only).
    pub async fn rename(
        &self,
        by: &str,
        cid: &str,
        req: UpdateConversation,
    ) -> ChatResult<Conversation> {
        validate::text("title", &req.title, validate::MAX_CONVERSATION_TITLE)?;
        let title = req.title.trim().to_owned();
        let _order = self.order.exclusive(cid).await;
        let conv = self
            .managed_group(cid, by, true, "rename the group")
            .await?;
        let content = format!(
            "{} renamed the group to {title}",
            Self::display_name_in(&conv, by)
        );
        let system = SystemEntry {
            action: SystemAction::Renamed,
            users: vec![],
            title: Some(title.clone()),
        };
        let change = self
            .commit_change(cid, by, Membership::Rename { title }, content, system)
            .await?;
        self.publish_change(by, &change, &[]).await;
        Ok(self.conversation_view(&change.conversation, by, Some(change.entry)))
    }

    /// Stores a change of a group (its membership or title) with its system entry.
    async fn commit_change(
        &self,
        cid: &str,
        by: &str,
        change: Membership,
        content: String,
        system: SystemEntry,
    ) -> StoreResult<MembershipChanged> {
        self.store
            .change_membership(MembershipChange {
                conversation_id: cid.to_owned(),
                by: by.to_owned(),
                change,
                entry_id: new_ordered_id("m"),
                content,
                system,
                at: Timestamp::now(),
            })
            .await
    }

    /// A stored change's system entry to everyone in the group now (its topic and their
    /// queues), then each one's new view (and a notification to those `added`).
    async fn publish_change(&self, by: &str, change: &MembershipChanged, added: &[String]) {
        let everyone: Vec<String> = change
            .conversation
            .participants
            .iter()
            .map(|p| p.user.clone())
            .collect();
        let entry = Event::ChatMessage(change.entry.clone());
        self.publish_entry(&change.conversation.id, &everyone, entry, by);
        self.announce_membership(by, &change.conversation, added)
            .await;
    }

    /// `CONVERSATION_UPDATED` to every participant, and a notification to those `added`.
    pub(super) async fn announce_membership(
        &self,
        by: &str,
        conv: &ConversationRecord,
        added: &[String],
    ) {
        for p in &conv.participants {
            let view = self.conversation_view(conv, &p.user, None);
            let env = Envelope::new(Event::ConversationUpdated(view), Some(by));
            self.publish([dest::for_user(&p.user, dest::USER_MESSAGES)], &env, false);
        }
        if added.is_empty() {
            return;
        }
        let by_name = Self::display_name_in(conv, by);
        let (title, message) = match (conv.kind, &conv.title) {
            (ConversationKind::Group, Some(t)) => (
                format!("Added to {t}"),
                format!("{by_name} added you to the group {t}"),
            ),
            _ => (
                format!("New conversation with {by_name}"),
                format!("{by_name} started a conversation with you"),
            ),
        };
        let new = NewNotification {
            users: added.to_vec(),
            kind: "conversation.added".into(),
            title,
            message,
            data: None,
            conversation_id: Some(conv.id.clone()),
            url: None,
            created_at: Timestamp::now(),
        };
        if let Err(e) = self.deliver_notifications(new).await {
            tracing::error!(error = %e, "could not notify users added to a conversation");
        }
    }
}
