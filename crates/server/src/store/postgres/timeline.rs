//! The change log in PostgreSQL: edits, deletions, reactions, membership changes (with
//! their system entries) and reading what changed after a revision. Every write takes the
//! conversation's row lock first (`conversations::lock`), so revs commit in order. See
//! `store::timeline` for the contract.

use super::messages::{
    self, by_id, check_mentions, mentions_json, next_rev, participants, with_reactions, COLUMNS,
};
use super::{conversations, read_tx, sql, users, write_tx, PostgresStore};
use crate::store::{
    Appended, ChangeSet, Changed, Edit, Membership, MembershipChange, MembershipChanged,
    MessageRefs, NewMessage, NewReaction, StoreError, StoreResult, TimelineStore,
};
use async_trait::async_trait;
use sqlx::PgConnection;
use tidings_proto::{ContentType, ConversationKind, Message};

/// Locks `cid` and answers its entry `id`, when `user` is a participant;
/// `NotFound`/`Forbidden` otherwise.
async fn entry_for(c: &mut PgConnection, cid: &str, id: &str, user: &str) -> StoreResult<Message> {
    conversations::lock(c, cid).await?;
    if !conversations::is_participant(c, cid, user).await? {
        return Err(StoreError::Forbidden(format!(
            "you are not a participant of conversation {cid}"
        )));
    }
    by_id(c, cid, id)
        .await?
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

async fn changed(c: &mut PgConnection, cid: &str, id: &str, changed: bool) -> StoreResult<Changed> {
    let message = by_id(c, cid, id)
        .await?
        .ok_or_else(|| StoreError::Internal("message vanished".into()))?;
    Ok(Changed {
        message,
        changed,
        participants: participants(c, cid).await?,
    })
}

async fn edit(c: &mut PgConnection, e: Edit) -> StoreResult<Changed> {
    let m = entry_for(c, &e.conversation_id, &e.message_id, &e.by).await?;
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
    check_mentions(c, &e.conversation_id, &e.mentions).await?;
    let rev = next_rev(c, &e.conversation_id).await?;
    sqlx::query(
        "UPDATE messages SET content = $3, content_type = $4, mentions = $5, edited_at = $6, rev = $7
         WHERE conversation_id = $1 AND id = $2",
    )
    .bind(&e.conversation_id)
    .bind(&e.message_id)
    .bind(&e.content)
    .bind(e.content_type.as_str())
    .bind(mentions_json(&e.mentions))
    .bind(e.at.millis())
    .bind(rev)
    .execute(&mut *c)
    .await?;
    changed(c, &e.conversation_id, &e.message_id, true).await
}

async fn delete(c: &mut PgConnection, cid: &str, id: &str, by: &str) -> StoreResult<Changed> {
    let m = entry_for(c, cid, id, by).await?;
    own_content(&m, by, "deleted")?;
    if m.deleted {
        return changed(c, cid, id, false).await;
    }
    let rev = next_rev(c, cid).await?;
    sqlx::query(
        "UPDATE messages SET content = '', content_type = 'TEXT', mentions = NULL, edited_at = NULL,
                reply_to_id = NULL, reply_to_seq = NULL, deleted = TRUE, rev = $3
         WHERE conversation_id = $1 AND id = $2",
    )
    .bind(cid)
    .bind(id)
    .bind(rev)
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM reactions WHERE message_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    super::attachments::drop_for_message(c, id).await?;
    changed(c, cid, id, true).await
}

async fn react(c: &mut PgConnection, r: NewReaction) -> StoreResult<Changed> {
    let cid = &r.conversation_id;
    let m = entry_for(c, cid, &r.message_id, &r.user).await?;
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
            participants: participants(c, cid).await?,
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
        sqlx::query(
            "INSERT INTO reactions (conversation_id, message_id, emoji, user_name, at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(cid)
        .bind(&r.message_id)
        .bind(&r.emoji)
        .bind(&r.user)
        .bind(r.at.millis())
        .execute(&mut *c)
        .await?;
    } else {
        sqlx::query(
            "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_name = $3",
        )
        .bind(&r.message_id)
        .bind(&r.emoji)
        .bind(&r.user)
        .execute(&mut *c)
        .await?;
    }
    let rev = next_rev(c, cid).await?;
    sqlx::query("UPDATE messages SET rev = $3 WHERE conversation_id = $1 AND id = $2")
        .bind(cid)
        .bind(&r.message_id)
        .bind(rev)
        .execute(&mut *c)
        .await?;
    changed(c, cid, &r.message_id, true).await
}

async fn change_membership(
    c: &mut PgConnection,
    ch: MembershipChange,
) -> StoreResult<MembershipChanged> {
    let cid = &ch.conversation_id;
    let (last_seq, _) = conversations::lock(c, cid).await?;
    let conv = conversations::load(c, cid)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))?;
    if conv.participant(&ch.by).is_none() {
        return Err(StoreError::Forbidden(format!(
            "you are not a participant of conversation {cid}"
        )));
    }
    if conv.kind == ConversationKind::Direct {
        return Err(StoreError::Invalid(
            "a direct conversation has exactly its two participants and no title; start a group instead"
                .into(),
        ));
    }
    let before: Vec<String> = conv.participants.iter().map(|p| p.user.clone()).collect();
    let now = ch.at.millis();
    match &ch.change {
        Membership::Add {
            users: add,
            max_size,
        } => {
            let missing = users::missing(c, add).await?;
            if !missing.is_empty() {
                return Err(users::unknown_users(&missing));
            }
            let joining = add.iter().filter(|u| conv.participant(u).is_none()).count();
            if conv.participants.len() + joining > *max_size {
                return Err(StoreError::Conflict(format!(
                    "conversation {cid} has {} participants; adding {joining} would pass the limit of {max_size}",
                    conv.participants.len()
                )));
            }
            if joining == 0 {
                return Err(StoreError::Conflict(
                    "everyone named is a participant already".into(),
                ));
            }
            for u in add {
                // Newcomers see the history but start with nothing unread (the system entry
                // announcing them is theirs to read, like everyone's).
                sqlx::query(
                    "INSERT INTO participants (conversation_id, user_name, read_seq, joined_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(cid)
                .bind(u)
                .bind(last_seq)
                .bind(now)
                .execute(&mut *c)
                .await?;
            }
        }
        Membership::Remove { user } => {
            let gone = sqlx::query(
                "DELETE FROM participants WHERE conversation_id = $1 AND user_name = $2",
            )
            .bind(cid)
            .bind(user)
            .execute(&mut *c)
            .await?
            .rows_affected();
            if gone == 0 {
                return Err(StoreError::NotFound(format!(
                    "{user} is not a participant of conversation {cid}"
                )));
            }
        }
        Membership::Rename { title } => {
            sqlx::query("UPDATE conversations SET title = $2 WHERE id = $1")
                .bind(cid)
                .bind(title)
                .execute(&mut *c)
                .await?;
        }
    }
    let new = NewMessage {
        id: ch.entry_id.clone(),
        conversation_id: cid.clone(),
        sender: ch.by.clone(),
        client_id: ch.entry_id.clone(),
        content: ch.content.clone(),
        content_type: ContentType::Text,
        created_at: ch.at,
    };
    let entry = messages::insert(c, last_seq, &new, None, &[], Some(&ch.system))
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("entry {} exists already", ch.entry_id)))?;
    let conversation = conversations::load(c, cid)
        .await?
        .ok_or_else(|| StoreError::Internal("conversation vanished".into()))?;
    Ok(MembershipChanged {
        conversation,
        entry,
        participants_before: before,
    })
}

async fn changes(
    c: &mut PgConnection,
    cid: &str,
    after: i64,
    limit: u32,
) -> StoreResult<ChangeSet> {
    let rev: i64 = sqlx::query_scalar("SELECT rev FROM conversations WHERE id = $1")
        .bind(cid)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))?;
    let rows = sqlx::query(sql!(
        "SELECT {COLUMNS} FROM messages WHERE conversation_id = $1 AND rev > $2
         ORDER BY rev LIMIT $3"
    ))
    .bind(cid)
    .bind(after)
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *c)
    .await?;
    let mut items: Vec<Message> = rows
        .iter()
        .map(messages::from_row)
        .collect::<StoreResult<_>>()?;
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let rev = match (has_more, items.last()) {
        (true, Some(last)) => last.rev,
        _ => rev,
    };
    Ok(ChangeSet {
        items: with_reactions(c, items).await?,
        has_more,
        rev,
    })
}

#[async_trait]
impl TimelineStore for PostgresStore {
    async fn append_entry(&self, new: NewMessage, refs: MessageRefs) -> StoreResult<Appended> {
        write_tx!(self, |c| messages::append(c, new, refs))
    }

    async fn message(&self, conversation: &str, id: &str) -> StoreResult<Option<Message>> {
        read_tx!(self, |c| by_id(c, conversation, id))
    }

    async fn edit_message(&self, e: Edit) -> StoreResult<Changed> {
        write_tx!(self, |c| edit(c, e))
    }

    async fn delete_message(&self, conversation: &str, id: &str, by: &str) -> StoreResult<Changed> {
        write_tx!(self, |c| delete(c, conversation, id, by))
    }

    async fn react(&self, r: NewReaction) -> StoreResult<Changed> {
        write_tx!(self, |c| react(c, r))
    }

    async fn change_membership(&self, ch: MembershipChange) -> StoreResult<MembershipChanged> {
        write_tx!(self, |c| change_membership(c, ch))
    }

    async fn changes(&self, conversation: &str, after: i64, limit: u32) -> StoreResult<ChangeSet> {
        read_tx!(self, |c| changes(c, conversation, after, limit))
    }
}
