//! Messages in PostgreSQL: append with the next `seq` and rev under the conversation's row
//! lock (idempotent per sender and `clientId` across nodes), pages of history by `seq`, and
//! reading entries with their reactions and attachments.

use super::{conversations, read_tx, sql, PostgresStore};
use crate::store::{
    Appended, MessageRefs, MessageStore, NewMessage, Page, Range, StoreError, StoreResult,
};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use tidings_proto::{ContentType, Message, Reaction, ReplyRef, SystemEntry, Timestamp};

pub(super) const COLUMNS: &str = "id, conversation_id, seq, sender, client_id, content, \
     content_type, created_at, rev, edited_at, deleted, reply_to_id, reply_to_seq, mentions, system";

/// A row of [`COLUMNS`], without its reactions (see [`with_reactions`]).
pub(super) fn from_row(r: &PgRow) -> StoreResult<Message> {
    let reply_id: Option<String> = r.try_get(11)?;
    let reply_seq: Option<i64> = r.try_get(12)?;
    let mentions: Option<String> = r.try_get(13)?;
    let system: Option<String> = r.try_get(14)?;
    Ok(Message {
        id: r.try_get(0)?,
        conversation_id: r.try_get(1)?,
        seq: r.try_get(2)?,
        sender_id: r.try_get(3)?,
        client_id: r.try_get(4)?,
        content: r.try_get(5)?,
        content_type: ContentType::parse(&r.try_get::<String, _>(6)?).unwrap_or_default(),
        created_at: Timestamp(r.try_get(7)?),
        rev: r.try_get(8)?,
        edited_at: r.try_get::<Option<i64>, _>(9)?.map(Timestamp),
        deleted: r.try_get(10)?,
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
pub(super) async fn with_reactions(
    c: &mut PgConnection,
    mut items: Vec<Message>,
) -> StoreResult<Vec<Message>> {
    super::attachments::fill(c, &mut items).await?;
    if items.is_empty() {
        return Ok(items);
    }
    let ids: Vec<String> = items.iter().map(|m| m.id.clone()).collect();
    let rows = sqlx::query(
        "SELECT message_id, emoji, user_name FROM reactions WHERE message_id = ANY($1) ORDER BY id",
    )
    .bind(&ids)
    .fetch_all(c)
    .await?;
    for r in &rows {
        let (mid, emoji, user): (String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let Some(m) = items.iter_mut().find(|m| m.id == mid) else {
            continue;
        };
        match m.reactions.iter_mut().find(|x| x.emoji == emoji) {
            Some(x) => x.users.push(user),
            None => m.reactions.push(Reaction {
                emoji,
                users: vec![user],
            }),
        }
    }
    Ok(items)
}

async fn one(c: &mut PgConnection, row: Option<PgRow>) -> StoreResult<Option<Message>> {
    let items = match row {
        Some(r) => vec![from_row(&r)?],
        None => return Ok(None),
    };
    Ok(with_reactions(c, items).await?.pop())
}

/// The message at `seq`, if any.
pub(super) async fn at(c: &mut PgConnection, cid: &str, seq: i64) -> StoreResult<Option<Message>> {
    if seq <= 0 {
        return Ok(None);
    }
    let row = sqlx::query(sql!(
        "SELECT {COLUMNS} FROM messages WHERE conversation_id = $1 AND seq = $2"
    ))
    .bind(cid)
    .bind(seq)
    .fetch_optional(&mut *c)
    .await?;
    one(c, row).await
}

/// The entry `id` of conversation `cid`, if any.
pub(super) async fn by_id(
    c: &mut PgConnection,
    cid: &str,
    id: &str,
) -> StoreResult<Option<Message>> {
    let row = sqlx::query(sql!(
        "SELECT {COLUMNS} FROM messages WHERE conversation_id = $1 AND id = $2"
    ))
    .bind(cid)
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    one(c, row).await
}

pub(super) async fn participants(c: &mut PgConnection, cid: &str) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT user_name FROM participants WHERE conversation_id = $1
         ORDER BY joined_at, user_name COLLATE \"C\"",
    )
    .bind(cid)
    .fetch_all(c)
    .await?)
}

/// Advances the conversation's rev by one; returns the new rev. The caller holds the
/// conversation's lock.
pub(super) async fn next_rev(c: &mut PgConnection, cid: &str) -> StoreResult<i64> {
    sqlx::query_scalar("UPDATE conversations SET rev = rev + 1 WHERE id = $1 RETURNING rev")
        .bind(cid)
        .fetch_optional(c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))
}

/// `Invalid` unless every one of `mentions` is a participant of `cid`.
pub(super) async fn check_mentions(
    c: &mut PgConnection,
    cid: &str,
    mentions: &[String],
) -> StoreResult<()> {
    if mentions.is_empty() {
        return Ok(());
    }
    let inside: Vec<String> = sqlx::query_scalar(
        "SELECT user_name FROM participants WHERE conversation_id = $1 AND user_name = ANY($2)",
    )
    .bind(cid)
    .bind(mentions)
    .fetch_all(c)
    .await?;
    let outsiders: Vec<&str> = mentions
        .iter()
        .filter(|u| !inside.contains(u))
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
/// `seq` and rev. The caller holds the conversation's lock (`last_seq` read under it) and
/// has checked that `sender` may write here. `None` when `(sender, clientId)` is stored
/// already (committed by another transaction meanwhile): nothing was written.
pub(super) async fn insert(
    c: &mut PgConnection,
    last_seq: i64,
    new: &NewMessage,
    reply_to: Option<ReplyRef>,
    mentions: &[String],
    system: Option<&SystemEntry>,
) -> StoreResult<Option<Message>> {
    let seq = last_seq + 1;
    let at = new.created_at.millis();
    // The rev is taken in the same statement, so a conflict leaves the conversation as it was.
    let rev: Option<i64> = sqlx::query_scalar(
        "INSERT INTO messages (id, conversation_id, seq, sender, client_id, content, content_type,
                               created_at, rev, reply_to_id, reply_to_seq, mentions, system)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, c.rev + 1, $9, $10, $11, $12
         FROM conversations c WHERE c.id = $2
         ON CONFLICT (sender, client_id) DO NOTHING
         RETURNING rev",
    )
    .bind(&new.id)
    .bind(&new.conversation_id)
    .bind(seq)
    .bind(&new.sender)
    .bind(&new.client_id)
    .bind(&new.content)
    .bind(new.content_type.as_str())
    .bind(at)
    .bind(reply_to.as_ref().map(|r| &r.message_id))
    .bind(reply_to.as_ref().map(|r| r.seq))
    .bind(mentions_json(mentions))
    .bind(system.map(|s| serde_json::to_string(s).unwrap_or_default()))
    .fetch_optional(&mut *c)
    .await?;
    let Some(rev) = rev else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE conversations SET last_seq = $2, last_activity = $3, rev = $4 WHERE id = $1",
    )
    .bind(&new.conversation_id)
    .bind(seq)
    .bind(at)
    .bind(rev)
    .execute(&mut *c)
    .await?;
    // Writing in a conversation means having read it.
    sqlx::query(
        "UPDATE participants SET read_seq = GREATEST(read_seq, $3)
         WHERE conversation_id = $1 AND user_name = $2",
    )
    .bind(&new.conversation_id)
    .bind(&new.sender)
    .bind(seq)
    .execute(&mut *c)
    .await?;
    Ok(Some(Message {
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
    }))
}

/// The message stored under `(sender, clientId)`, answered as a repeat; `Conflict` when it
/// is another conversation's.
async fn stored(c: &mut PgConnection, new: &NewMessage) -> StoreResult<Option<Appended>> {
    let row = sqlx::query(sql!(
        "SELECT {COLUMNS} FROM messages WHERE sender = $1 AND client_id = $2"
    ))
    .bind(&new.sender)
    .bind(&new.client_id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(message) = one(c, row).await? else {
        return Ok(None);
    };
    if message.conversation_id != new.conversation_id {
        return Err(StoreError::Conflict(format!(
            "clientId {} was already used for a message in another conversation",
            new.client_id
        )));
    }
    let participants = participants(c, &message.conversation_id).await?;
    Ok(Some(Appended {
        message,
        duplicate: true,
        participants,
    }))
}

pub(super) async fn append(
    c: &mut PgConnection,
    new: NewMessage,
    refs: MessageRefs,
) -> StoreResult<Appended> {
    if let Some(repeat) = stored(c, &new).await? {
        return Ok(repeat);
    }
    if !conversations::exists(c, &new.conversation_id).await? {
        return Err(StoreError::NotFound(format!(
            "no conversation {}",
            new.conversation_id
        )));
    }
    let (last_seq, _) = conversations::lock(c, &new.conversation_id).await?;
    if !conversations::is_participant(c, &new.conversation_id, &new.sender).await? {
        return Err(StoreError::Forbidden(format!(
            "you are not a participant of conversation {}",
            new.conversation_id
        )));
    }
    let reply_to = match &refs.reply_to {
        None => None,
        Some(id) => {
            let original = by_id(c, &new.conversation_id, id).await?.ok_or_else(|| {
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
    check_mentions(c, &new.conversation_id, &refs.mentions).await?;
    let Some(mut message) = insert(c, last_seq, &new, reply_to, &refs.mentions, None).await? else {
        // Stored by another transaction (another node) since the first look.
        return stored(c, &new)
            .await?
            .ok_or_else(|| StoreError::Internal("the repeated message vanished".into()));
    };
    message.attachments = super::attachments::bind(
        c,
        &new.conversation_id,
        &new.sender,
        &new.id,
        &refs.attachments,
    )
    .await?;
    let participants = participants(c, &new.conversation_id).await?;
    Ok(Appended {
        message,
        duplicate: false,
        participants,
    })
}

async fn page(c: &mut PgConnection, cid: &str, range: Range) -> StoreResult<Page<Message>> {
    let last_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = $1")
        .bind(cid)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))?;
    // One more than asked for tells whether more exist.
    let (sql, bound, limit, ascending) = match range {
        Range::Newest(l) => ("seq <= $2 ORDER BY seq DESC", i64::MAX, l, false),
        Range::Before(b, l) => ("seq < $2 ORDER BY seq DESC", b, l, false),
        Range::After(a, l) => ("seq > $2 ORDER BY seq ASC", a, l, true),
    };
    let rows = sqlx::query(sql!(
        "SELECT {COLUMNS} FROM messages WHERE conversation_id = $1 AND {sql} LIMIT $3"
    ))
    .bind(cid)
    .bind(bound)
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *c)
    .await?;
    let items: Vec<Message> = rows.iter().map(from_row).collect::<StoreResult<_>>()?;
    let (items, has_more) = super::trim_page(items, limit, ascending);
    Ok(Page {
        items: with_reactions(c, items).await?,
        has_more,
        last_seq,
    })
}

#[async_trait]
impl MessageStore for PostgresStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<Appended> {
        super::write_tx!(self, |c| append(c, new, MessageRefs::default()))
    }

    async fn messages(&self, conversation: &str, range: Range) -> StoreResult<Page<Message>> {
        read_tx!(self, |c| page(c, conversation, range))
    }
}
