//! The change log in SQLite: edits, deletions, reactions, membership changes and reading
//! what changed after a revision. See `store::timeline` for the contract.

use super::messages::{
    self, by_id, check_mentions, mentions_json, next_rev, participants, with_reactions, COLUMNS,
};
use super::{conversations, membership, SqliteStore};
use crate::store::{
    Appended, ChangeSet, Changed, Edit, MembershipChange, MembershipChanged, MessageRefs,
    NewMessage, NewReaction, Queued, StoreError, StoreResult, TimelineStore,
};
use async_trait::async_trait;
use rusqlite::{params, Connection};
use tidings_proto::Message;

/// The entry `id` of `cid`, when `user` is a participant; `NotFound`/`Forbidden` otherwise.
fn entry_for(c: &Connection, cid: &str, id: &str, user: &str) -> StoreResult<Message> {
    if !conversations::exists(c, cid)? {
        return Err(StoreError::NotFound(format!("no conversation {cid}")));
    }
    if !conversations::is_participant(c, cid, user)? {
        return Err(StoreError::Forbidden(format!(
            "you are not a participant of conversation {cid}"
        )));
    }
    by_id(c, cid, id)?
        .ok_or_else(|| StoreError::NotFound(format!("no message {id} in conversation {cid}")))
}

/// Refuses actions on another's message, a system entry or (`what` on) a tombstone.
fn own_content(m: &Message, by: &str, what: &str) -> StoreResult<()> {
    if m.system.is_some() {
        return Err(StoreError::Conflict(format!(
            "message {} is a system entry; it cannot be {what}",
            m.id
        )));
    }
    if m.sender_id != by {
        return Err(StoreError::Forbidden(format!(
            "message {} is not yours; only its sender may change it",
            m.id
        )));
    }
    Ok(())
}

fn changed(c: &Connection, cid: &str, id: &str, changed: bool) -> StoreResult<Changed> {
    let message =
        by_id(c, cid, id)?.ok_or_else(|| StoreError::Internal("message vanished".into()))?;
    Ok(Changed {
        message,
        changed,
        participants: participants(c, cid)?,
    })
}

fn edit(c: &Connection, e: Edit) -> StoreResult<Changed> {
    let m = entry_for(c, &e.conversation_id, &e.message_id, &e.by)?;
    own_content(&m, &e.by, "edited")?;
    if m.deleted {
        return Err(StoreError::Conflict(format!(
            "message {} was deleted; it cannot be edited",
            m.id
        )));
    }
    if let Some(window) = e.window_ms {
        if e.at.millis() - m.created_at.millis() > window {
            return Err(StoreError::Forbidden(format!(
                "message {} can no longer be edited: messages can be edited for {} seconds after sending",
                m.id,
                window / 1000
            )));
        }
    }
    check_mentions(c, &e.conversation_id, &e.mentions)?;
    let rev = next_rev(c, &e.conversation_id)?;
    c.prepare_cached(
        "UPDATE messages SET content = ?3, content_type = ?4, mentions = ?5, edited_at = ?6, rev = ?7
         WHERE conversation_id = ?1 AND id = ?2",
    )?
    .execute(params![
        e.conversation_id,
        e.message_id,
        e.content,
        e.content_type.as_str(),
        mentions_json(&e.mentions),
        e.at.millis(),
        rev
    ])?;
    changed(c, &e.conversation_id, &e.message_id, true)
}

fn delete(c: &Connection, cid: &str, id: &str, by: &str) -> StoreResult<Changed> {
    let m = entry_for(c, cid, id, by)?;
    own_content(&m, by, "deleted")?;
    if m.deleted {
        return changed(c, cid, id, false);
    }
    let rev = next_rev(c, cid)?;
    c.prepare_cached(
        "UPDATE messages SET content = '', content_type = 'TEXT', mentions = NULL, edited_at = NULL,
                reply_to_id = NULL, reply_to_seq = NULL, deleted = 1, rev = ?3
         WHERE conversation_id = ?1 AND id = ?2",
    )?
    .execute(params![cid, id, rev])?;
    c.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?
        .execute([id])?;
    super::attachments::drop_for_message(c, id)?;
    changed(c, cid, id, true)
}

fn react(c: &Connection, r: NewReaction) -> StoreResult<Changed> {
    let cid = &r.conversation_id;
    let m = entry_for(c, cid, &r.message_id, &r.user)?;
    if m.system.is_some() || m.deleted {
        return Err(StoreError::Conflict(format!(
            "message {} is a system entry or deleted; it takes no reactions",
            m.id
        )));
    }
    let has = m
        .reactions
        .iter()
        .any(|x| x.emoji == r.emoji && x.users.contains(&r.user));
    if has == r.on {
        return Ok(Changed {
            message: m,
            changed: false,
            participants: participants(c, cid)?,
        });
    }
    if r.on {
        let new_emoji = !m.reactions.iter().any(|x| x.emoji == r.emoji);
        if new_emoji && m.reactions.len() >= r.max_emoji {
            return Err(StoreError::Conflict(format!(
                "message {} has {} different reactions already, the most one message may have",
                m.id, r.max_emoji
            )));
        }
        c.prepare_cached(
            "INSERT INTO reactions (conversation_id, message_id, emoji, user_name, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![cid, r.message_id, r.emoji, r.user, r.at.millis()])?;
    } else {
        c.prepare_cached(
            "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_name = ?3",
        )?
        .execute(params![r.message_id, r.emoji, r.user])?;
    }
    let rev = next_rev(c, cid)?;
    c.prepare_cached("UPDATE messages SET rev = ?3 WHERE conversation_id = ?1 AND id = ?2")?
        .execute(params![cid, r.message_id, rev])?;
    changed(c, cid, &r.message_id, true)
}

fn changes(c: &Connection, cid: &str, after: i64, limit: u32) -> StoreResult<ChangeSet> {
    let rev: i64 = super::optional(c.query_row(
        "SELECT rev FROM conversations WHERE id = ?1",
        [cid],
        |r| r.get(0),
    ))?
    .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))?;
    let mut items: Vec<Message> = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE conversation_id = ?1 AND rev > ?2
             ORDER BY rev LIMIT ?3"
        ))?
        .query_map(
            params![cid, after, i64::from(limit) + 1],
            messages::from_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let rev = match (has_more, items.last()) {
        (true, Some(last)) => last.rev,
        _ => rev,
    };
    Ok(ChangeSet {
        items: with_reactions(c, items)?,
        has_more,
        rev,
    })
}

#[async_trait]
impl TimelineStore for SqliteStore {
    async fn append_entry(&self, new: NewMessage, refs: MessageRefs) -> StoreResult<Appended> {
        self.write(move |c| messages::append(c, new, refs)).await
    }

    async fn queue_entry(&self, new: NewMessage, refs: MessageRefs) -> StoreResult<Queued> {
        let done: Queued = Box::pin(self.queue(move |c| messages::append(c, new, refs)).await?);
        Ok(done)
    }

    async fn message(&self, conversation: &str, id: &str) -> StoreResult<Option<Message>> {
        let (cid, id) = (conversation.to_owned(), id.to_owned());
        self.read(move |c| by_id(c, &cid, &id)).await
    }

    async fn edit_message(&self, e: Edit) -> StoreResult<Changed> {
        self.write(move |c| edit(c, e)).await
    }

    async fn delete_message(&self, conversation: &str, id: &str, by: &str) -> StoreResult<Changed> {
        let (cid, id, by) = (conversation.to_owned(), id.to_owned(), by.to_owned());
        self.write(move |c| delete(c, &cid, &id, &by)).await
    }

    async fn react(&self, r: NewReaction) -> StoreResult<Changed> {
        self.write(move |c| react(c, r)).await
    }

    async fn change_membership(&self, ch: MembershipChange) -> StoreResult<MembershipChanged> {
        self.write(move |c| membership::change(c, ch)).await
    }

    async fn changes(&self, conversation: &str, after: i64, limit: u32) -> StoreResult<ChangeSet> {
        let cid = conversation.to_owned();
        self.read(move |c| {
            // One read transaction: the rev and the entries agree.
            let tx = c.unchecked_transaction()?;
            let set = changes(&tx, &cid, after, limit);
            tx.finish()?;
            set
        })
        .await
    }
}
