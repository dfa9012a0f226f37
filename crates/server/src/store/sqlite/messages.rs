//! Messages: append with the next `seq` and rev (idempotent per sender and `clientId`),
//! pages of history by `seq`, and reading entries with their reactions.

use super::{conversations, optional, SqliteStore};
use crate::store::{
    Appended, MessageRefs, MessageStore, NewMessage, Page, Range, StoreError, StoreResult,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use tidings_proto::{ContentType, Message, Reaction, ReplyRef, Timestamp};

pub(super) const COLUMNS: &str = "id, conversation_id, seq, sender, client_id, content, \
     content_type, created_at, rev, edited_at, deleted, reply_to_id, reply_to_seq, mentions, system";

/// A row of [`COLUMNS`], without its reactions (see [`with_reactions`]).
pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let reply_id: Option<String> = r.get(11)?;
    let reply_seq: Option<i64> = r.get(12)?;
    let mentions: Option<String> = r.get(13)?;
    let system: Option<String> = r.get(14)?;
    Ok(Message {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        seq: r.get(2)?,
        sender_id: r.get(3)?,
        client_id: r.get(4)?,
        content: r.get(5)?,
        content_type: ContentType::parse(&r.get::<_, String>(6)?).unwrap_or_default(),
        created_at: Timestamp(r.get(7)?),
        rev: r.get(8)?,
        edited_at: r.get::<_, Option<i64>>(9)?.map(Timestamp),
        deleted: r.get(10)?,
        reply_to: reply_id
            .zip(reply_seq)
            .map(|(message_id, seq)| ReplyRef { message_id, seq }),
        mentions: mentions
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default(),
        reactions: Vec::new(),
        system: system.and_then(|s| serde_json::from_str(&s).ok()),
        attachments: Vec::new(),
    })
}

/// Fills in each message's reactions (one entry per emoji in the order each was first
/// used, users in the order they reacted) and attachments.
pub(super) fn with_reactions(c: &Connection, mut items: Vec<Message>) -> StoreResult<Vec<Message>> {
    super::attachments::fill(c, &mut items)?;
    let mut stmt = c.prepare_cached(
        "SELECT emoji, user_name FROM reactions WHERE message_id = ?1 ORDER BY rowid",
    )?;
    for m in &mut items {
        let rows: Vec<(String, String)> = stmt
            .query_map([&m.id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (emoji, user) in rows {
            match m.reactions.iter_mut().find(|x| x.emoji == emoji) {
                Some(x) => x.users.push(user),
                None => m.reactions.push(Reaction {
                    emoji,
                    users: vec![user],
                }),
            }
        }
    }
    Ok(items)
}

/// The message at `seq`, if any.
pub(super) fn at(conn: &Connection, cid: &str, seq: i64) -> StoreResult<Option<Message>> {
    if seq <= 0 {
        return Ok(None);
    }
    let m = optional(
        conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE conversation_id = ?1 AND seq = ?2"
        ))?
        .query_row(params![cid, seq], from_row),
    )?;
    Ok(with_reactions(conn, m.into_iter().collect())?.pop())
}

/// The entry `id` of conversation `cid`, if any.
pub(super) fn by_id(conn: &Connection, cid: &str, id: &str) -> StoreResult<Option<Message>> {
    let m = optional(
        conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE conversation_id = ?1 AND id = ?2"
        ))?
        .query_row(params![cid, id], from_row),
    )?;
    Ok(with_reactions(conn, m.into_iter().collect())?.pop())
}

/// Everyone in `cid`, for delivery: in the primary key's order (by name), which needs no
/// sort. The writer runs this for every message; sorting by join time cost it 3-5 % of its
/// time on the chat benchmark, for an order no delivery depends on.
pub(super) fn participants(conn: &Connection, cid: &str) -> StoreResult<Vec<String>> {
    Ok(conn
        .prepare_cached("SELECT user_name FROM participants WHERE conversation_id = ?1")?
        .query_map([cid], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Advances the conversation's rev by one; returns the new rev.
pub(super) fn next_rev(c: &Connection, cid: &str) -> StoreResult<i64> {
    optional(
        c.prepare_cached("UPDATE conversations SET rev = rev + 1 WHERE id = ?1 RETURNING rev")?
            .query_row([cid], |r| r.get(0)),
    )?
    .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))
}

/// `Invalid` unless every one of `mentions` is a participant of `cid`.
pub(super) fn check_mentions(c: &Connection, cid: &str, mentions: &[String]) -> StoreResult<()> {
    let outsiders: Vec<&str> = mentions
        .iter()
        .filter(|u| !conversations::is_participant(c, cid, u).unwrap_or(false))
        .map(String::as_str)
        .collect();
    if outsiders.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "mentions must name participants of conversation {cid}; these are not: {}",
            outsiders.join(", ")
        )))
    }
}

pub(super) fn mentions_json(mentions: &[String]) -> Option<String> {
    (!mentions.is_empty()).then(|| serde_json::to_string(mentions).unwrap_or_default())
}

/// Appends an entry (a message, or a system entry when `system` is set) with the next
/// `seq` and rev. The caller has checked that `sender` may write here.
pub(super) fn insert(
    c: &Connection,
    new: &NewMessage,
    reply_to: Option<ReplyRef>,
    mentions: &[String],
    system: Option<&tidings_proto::SystemEntry>,
) -> StoreResult<Message> {
    let at = new.created_at.millis();
    // The next seq and rev, and the activity, in one statement: the writer runs this for
    // every message, so one row update rather than a read and two updates.
    let (seq, rev): (i64, i64) = optional(
        c.prepare_cached(
            "UPDATE conversations SET last_seq = last_seq + 1, rev = rev + 1, last_activity = ?2
             WHERE id = ?1 RETURNING last_seq, rev",
        )?
        .query_row(params![new.conversation_id, at], |r| {
            Ok((r.get(0)?, r.get(1)?))
        }),
    )?
    .ok_or_else(|| StoreError::NotFound(format!("no conversation {}", new.conversation_id)))?;
    c.prepare_cached(
        "INSERT INTO messages (id, conversation_id, seq, sender, client_id, content, content_type,
                               created_at, rev, reply_to_id, reply_to_seq, mentions, system)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        new.id,
        new.conversation_id,
        seq,
        new.sender,
        new.client_id,
        new.content,
        new.content_type.as_str(),
        at,
        rev,
        reply_to.as_ref().map(|r| &r.message_id),
        reply_to.as_ref().map(|r| r.seq),
        mentions_json(mentions),
        system.map(|s| serde_json::to_string(s).unwrap_or_default()),
    ])?;
    // Writing in a conversation means having read it.
    c.prepare_cached(
        "UPDATE participants SET read_seq = ?3 WHERE conversation_id = ?1 AND user_name = ?2",
    )?
    .execute(params![new.conversation_id, new.sender, seq])?;
    Ok(Message {
        id: new.id.clone(),
        conversation_id: new.conversation_id.clone(),
        seq,
        sender_id: new.sender.clone(),
        client_id: new.client_id.clone(),
        content: new.content.clone(),
        content_type: new.content_type,
        created_at: new.created_at,
        rev,
        reply_to,
        mentions: mentions.to_vec(),
        system: system.cloned(),
        ..Default::default()
    })
}

pub(super) fn append(c: &Connection, new: NewMessage, refs: MessageRefs) -> StoreResult<Appended> {
    let existing = optional(
        c.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE sender = ?1 AND client_id = ?2"
        ))?
        .query_row([&new.sender, &new.client_id], from_row),
    )?;
    if let Some(message) = existing {
        if message.conversation_id != new.conversation_id {
            return Err(StoreError::Conflict(format!(
                "clientId {} was already used for a message in another conversation",
                new.client_id
            )));
        }
        let participants = participants(c, &message.conversation_id)?;
        let message = with_reactions(c, vec![message])?.remove(0);
        return Ok(Appended {
            message,
            duplicate: true,
            participants,
        });
    }
    // A participant's conversation exists: the second look is only for the refusal.
    if !conversations::is_participant(c, &new.conversation_id, &new.sender)? {
        if !conversations::exists(c, &new.conversation_id)? {
            return Err(StoreError::NotFound(format!(
                "no conversation {}",
                new.conversation_id
            )));
        }
        return Err(StoreError::Forbidden(format!(
            "you are not a participant of conversation {}",
            new.conversation_id
        )));
    }
    let reply_to = match &refs.reply_to {
        None => None,
        Some(id) => {
            let original = by_id(c, &new.conversation_id, id)?.ok_or_else(|| {
                StoreError::Invalid(format!(
                    "replyTo {id} is not a message of conversation {}",
                    new.conversation_id
                ))
            })?;
            Some(ReplyRef {
                message_id: original.id,
                seq: original.seq,
            })
        }
    };
    check_mentions(c, &new.conversation_id, &refs.mentions)?;
    let mut message = insert(c, &new, reply_to, &refs.mentions, None)?;
    message.attachments = super::attachments::bind(
        c,
        &new.conversation_id,
        &new.sender,
        &new.id,
        &refs.attachments,
    )?;
    let participants = participants(c, &new.conversation_id)?;
    Ok(Appended {
        message,
        duplicate: false,
        participants,
    })
}

fn page(c: &Connection, cid: &str, range: Range) -> StoreResult<Page<Message>> {
    let last_seq: i64 = optional(c.query_row(
        "SELECT last_seq FROM conversations WHERE id = ?1",
        [cid],
        |r| r.get(0),
    ))?
    .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))?;
    // One more than asked for tells whether more exist.
    let (sql, bound, limit, ascending) = match range {
        Range::Newest(l) => ("seq <= ?2 ORDER BY seq DESC", i64::MAX, l, false),
        Range::Before(b, l) => ("seq < ?2 ORDER BY seq DESC", b, l, false),
        Range::After(a, l) => ("seq > ?2 ORDER BY seq ASC", a, l, true),
    };
    let items: Vec<Message> = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE conversation_id = ?1 AND {sql} LIMIT ?3"
        ))?
        .query_map(params![cid, bound, i64::from(limit) + 1], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let (items, has_more) = super::trim_page(items, limit, ascending);
    Ok(Page {
        items: with_reactions(c, items)?,
        has_more,
        last_seq,
    })
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<Appended> {
        self.write(move |c| append(c, new, MessageRefs::default()))
            .await
    }

    async fn messages(&self, conversation: &str, range: Range) -> StoreResult<Page<Message>> {
        let cid = conversation.to_owned();
        self.read(move |c| page(c, &cid, range)).await
    }
}
