//! Messages: append with the next `seq` (idempotent per sender and `clientId`) and pages
//! of history by `seq`.

use super::{conversations, optional, SqliteStore};
use crate::store::{Appended, MessageStore, NewMessage, Page, Range, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use tidings_proto::{ContentType, Message, Timestamp};

const COLUMNS: &str =
    "id, conversation_id, seq, sender, client_id, content, content_type, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        seq: r.get(2)?,
        sender_id: r.get(3)?,
        client_id: r.get(4)?,
        content: r.get(5)?,
        content_type: ContentType::parse(&r.get::<_, String>(6)?).unwrap_or_default(),
        created_at: Timestamp(r.get(7)?),
        ..Default::default()
    })
}

/// The message at `seq`, if any.
pub(super) fn at(conn: &Connection, cid: &str, seq: i64) -> StoreResult<Option<Message>> {
    if seq <= 0 {
        return Ok(None);
    }
    optional(
        conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE conversation_id = ?1 AND seq = ?2"
        ))?
        .query_row(params![cid, seq], from_row),
    )
}

fn participants(conn: &Connection, cid: &str) -> StoreResult<Vec<String>> {
    Ok(conn
        .prepare_cached("SELECT user_name FROM participants WHERE conversation_id = ?1")?
        .query_map([cid], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

fn append(c: &Connection, new: NewMessage) -> StoreResult<Appended> {
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
        return Ok(Appended {
            message,
            duplicate: true,
            participants,
        });
    }
    let last_seq: i64 = optional(c.query_row(
        "SELECT last_seq FROM conversations WHERE id = ?1",
        [&new.conversation_id],
        |r| r.get(0),
    ))?
    .ok_or_else(|| StoreError::NotFound(format!("no conversation {}", new.conversation_id)))?;
    if !conversations::is_participant(c, &new.conversation_id, &new.sender)? {
        return Err(StoreError::Forbidden(format!(
            "you are not a participant of conversation {}",
            new.conversation_id
        )));
    }
    let seq = last_seq + 1;
    let at = new.created_at.millis();
    c.prepare_cached(
        "INSERT INTO messages (id, conversation_id, seq, sender, client_id, content, content_type, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        new.id,
        new.conversation_id,
        seq,
        new.sender,
        new.client_id,
        new.content,
        new.content_type.as_str(),
        at
    ])?;
    c.prepare_cached("UPDATE conversations SET last_seq = ?2, last_activity = ?3 WHERE id = ?1")?
        .execute(params![new.conversation_id, seq, at])?;
    // Writing in a conversation means having read it.
    c.prepare_cached(
        "UPDATE participants SET read_seq = ?3 WHERE conversation_id = ?1 AND user_name = ?2",
    )?
    .execute(params![new.conversation_id, new.sender, seq])?;
    let participants = participants(c, &new.conversation_id)?;
    Ok(Appended {
        message: Message {
            id: new.id,
            conversation_id: new.conversation_id,
            seq,
            sender_id: new.sender,
            client_id: new.client_id,
            content: new.content,
            content_type: new.content_type,
            created_at: new.created_at,
            ..Default::default()
        },
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
        items,
        has_more,
        last_seq,
    })
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<Appended> {
        self.write(move |c| append(c, new)).await
    }

    async fn messages(&self, conversation: &str, range: Range) -> StoreResult<Page<Message>> {
        let cid = conversation.to_owned();
        self.read(move |c| page(c, &cid, range)).await
    }
}
