//! Conversations, participants, read markers and pages of a user's conversations, in
//! PostgreSQL. (Membership changes after creation are in `timeline`: they are part of the
//! change log.)

use super::{read_tx, sql, users, write_tx, PostgresStore};
use crate::store::{
    ConversationCursor, ConversationPage, ConversationRecord, ConversationStore, NewConversation,
    ParticipantRecord, ReadMarker, StoreError, StoreResult,
};
use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use tidings_proto::{ConversationKind, Message, Timestamp};

const HEAD: &str = "id, kind, title, created_by, created_at, last_seq, rev";

fn head(r: &sqlx::postgres::PgRow) -> StoreResult<ConversationRecord> {
    Ok(ConversationRecord {
        id: r.try_get(0)?,
        kind: ConversationKind::parse(&r.try_get::<String, _>(1)?)
            .unwrap_or(ConversationKind::Group),
        title: r.try_get(2)?,
        created_by: r.try_get(3)?,
        created_at: Timestamp(r.try_get(4)?),
        last_seq: r.try_get(5)?,
        rev: r.try_get(6)?,
        participants: Vec::new(),
    })
}

async fn with_participants(
    c: &mut PgConnection,
    mut conv: ConversationRecord,
) -> StoreResult<ConversationRecord> {
    let rows = sqlx::query(
        "SELECT p.user_name, u.display_name, p.read_seq FROM participants p
         JOIN users u ON u.name = p.user_name
         WHERE p.conversation_id = $1 ORDER BY p.joined_at, p.user_name COLLATE \"C\"",
    )
    .bind(&conv.id)
    .fetch_all(c)
    .await?;
    conv.participants = rows
        .iter()
        .map(|r| {
            Ok(ParticipantRecord {
                user: r.try_get(0)?,
                display_name: r.try_get(1)?,
                read_seq: r.try_get(2)?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(conv)
}

pub(super) async fn load(
    c: &mut PgConnection,
    id: &str,
) -> StoreResult<Option<ConversationRecord>> {
    let row = sqlx::query(sql!("SELECT {HEAD} FROM conversations WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some(with_participants(c, head(&r)?).await?)),
    }
}

/// Takes the conversation's row lock until the transaction ends (every timeline write does
/// this first: see the module doc of `postgres`); answers its `(last_seq, rev)`, or
/// `NotFound`.
pub(super) async fn lock(c: &mut PgConnection, cid: &str) -> StoreResult<(i64, i64)> {
    let row = sqlx::query("SELECT last_seq, rev FROM conversations WHERE id = $1 FOR UPDATE")
        .bind(cid)
        .fetch_optional(c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

pub(super) async fn exists(c: &mut PgConnection, cid: &str) -> StoreResult<bool> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM conversations WHERE id = $1")
        .bind(cid)
        .fetch_optional(c)
        .await?;
    Ok(found.is_some())
}

pub(super) async fn is_participant(
    c: &mut PgConnection,
    cid: &str,
    user: &str,
) -> StoreResult<bool> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM participants WHERE conversation_id = $1 AND user_name = $2",
    )
    .bind(cid)
    .bind(user)
    .fetch_optional(c)
    .await?;
    Ok(found.is_some())
}

fn direct_key(participants: &[String]) -> String {
    let mut pair = participants.to_vec();
    pair.sort();
    pair.join("|")
}

async fn create(
    c: &mut PgConnection,
    new: NewConversation,
) -> StoreResult<(ConversationRecord, bool)> {
    let missing = users::missing(c, &new.participants).await?;
    if !missing.is_empty() {
        return Err(users::unknown_users(&missing));
    }
    let key = (new.kind == ConversationKind::Direct).then(|| direct_key(&new.participants));
    let at = new.created_at.millis();
    // A direct pair created at once on two nodes: the second waits for the first and
    // inserts nothing, then answers the first's.
    let inserted = sqlx::query(
        "INSERT INTO conversations (id, kind, title, direct_key, created_by, created_at, last_activity)
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (direct_key) DO NOTHING",
    )
    .bind(&new.id)
    .bind(new.kind.as_str())
    .bind(&new.title)
    .bind(&key)
    .bind(&new.created_by)
    .bind(at)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if inserted == 0 {
        let id: String = sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
            .bind(&key)
            .fetch_one(&mut *c)
            .await?;
        let conv = load(c, &id)
            .await?
            .ok_or_else(|| StoreError::Internal("conversation vanished".into()))?;
        return Ok((conv, false));
    }
    for p in &new.participants {
        sqlx::query(
            "INSERT INTO participants (conversation_id, user_name, joined_at) VALUES ($1, $2, $3)",
        )
        .bind(&new.id)
        .bind(p)
        .bind(at)
        .execute(&mut *c)
        .await?;
    }
    let conv = load(c, &new.id)
        .await?
        .ok_or_else(|| StoreError::Internal("conversation vanished".into()))?;
    Ok((conv, true))
}

async fn mark_read(
    c: &mut PgConnection,
    cid: &str,
    user: &str,
    up_to: i64,
) -> StoreResult<ReadMarker> {
    // One statement: the cap is the committed last seq, and the marker only grows.
    let moved = sqlx::query(
        "UPDATE participants p SET read_seq = LEAST($3, c.last_seq)
         FROM conversations c
         WHERE c.id = p.conversation_id AND p.conversation_id = $1 AND p.user_name = $2
           AND p.read_seq < LEAST($3, c.last_seq)
         RETURNING p.read_seq, c.last_seq",
    )
    .bind(cid)
    .bind(user)
    .bind(up_to)
    .fetch_optional(&mut *c)
    .await?;
    if let Some(r) = moved {
        return Ok(ReadMarker {
            read_seq: r.try_get(0)?,
            last_seq: r.try_get(1)?,
            moved: true,
        });
    }
    let last_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = $1")
        .bind(cid)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))?;
    let read_seq: i64 = sqlx::query_scalar(
        "SELECT read_seq FROM participants WHERE conversation_id = $1 AND user_name = $2",
    )
    .bind(cid)
    .bind(user)
    .fetch_optional(&mut *c)
    .await?
    .ok_or_else(|| {
        StoreError::Forbidden(format!("you are not a participant of conversation {cid}"))
    })?;
    Ok(ReadMarker {
        read_seq,
        last_seq,
        moved: false,
    })
}

/// The conversation and its last message, for lists.
async fn with_last(
    c: &mut PgConnection,
    id: &str,
) -> StoreResult<Option<(ConversationRecord, Option<Message>)>> {
    let Some(conv) = load(c, id).await? else {
        return Ok(None);
    };
    let last = super::messages::at(c, id, conv.last_seq).await?;
    Ok(Some((conv, last)))
}

/// How long the first page waits for the transactions running at its start to end.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// The first page's snapshot: the next transaction id at the start (`xmax`), once every
/// transaction below it has ended, so "inserted by a transaction below it" is a set no
/// later commit changes, and holds everything committed before the request. Store
/// transactions take milliseconds; if one below is still running after [`SETTLE`] (a
/// foreign long transaction on the same server), the page goes on (that one's rows, if it
/// commits later, may then move a conversation between pages).
async fn settled_horizon(store: &PostgresStore) -> StoreResult<i64> {
    let mut c = store.pool.acquire().await?;
    let horizon: i64 =
        sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
            .fetch_one(&mut *c)
            .await?;
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let oldest: i64 =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                .fetch_one(&mut *c)
                .await?;
        if oldest >= horizon || tokio::time::Instant::now() >= deadline {
            return Ok(horizon);
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// See [`ConversationStore::conversation_page`] and the module doc of `postgres` for the
/// snapshot `upto` ([`settled_horizon`] for a first page). A conversation's activity as
/// of it is the time of its last message inserted by a transaction below it, or its
/// creation.
async fn page_of(
    c: &mut PgConnection,
    user: &str,
    upto: i64,
    after: Option<ConversationCursor>,
    limit: u32,
) -> StoreResult<ConversationPage> {
    let (activity, id) = match &after {
        Some(a) => (Some(a.activity), a.id.as_str()),
        None => (None, ""),
    };
    let rows = sqlx::query(
        "SELECT id, act FROM (
           SELECT c.id AS id,
             CASE WHEN c.last_seq = 0
                    OR (SELECT m.xid FROM messages m
                        WHERE m.conversation_id = c.id AND m.seq = c.last_seq) < $2
               THEN c.last_activity
               ELSE COALESCE((SELECT m.created_at FROM messages m
                              WHERE m.conversation_id = c.id AND m.xid < $2
                              ORDER BY m.seq DESC LIMIT 1), c.created_at)
             END AS act
           FROM participants p JOIN conversations c ON c.id = p.conversation_id
           WHERE p.user_name = $1 AND c.xid < $2) s
         WHERE $3::bigint IS NULL OR act < $3 OR (act = $3 AND id COLLATE \"C\" > $4)
         ORDER BY act DESC, id COLLATE \"C\" LIMIT $5",
    )
    .bind(user)
    .bind(upto)
    .bind(activity)
    .bind(id)
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *c)
    .await?;
    let rows: Vec<(String, i64)> = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<StoreResult<_>>()?;
    let more = rows.len() > limit as usize;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut next = None;
    for (id, act) in rows.into_iter().take(limit as usize) {
        if let Some(item) = with_last(c, &id).await? {
            items.push(item);
        }
        next = Some(ConversationCursor {
            messages_upto: upto,
            conversations_upto: upto,
            activity: act,
            id,
        });
    }
    Ok(ConversationPage {
        items,
        next: if more { next } else { None },
    })
}

#[async_trait]
impl ConversationStore for PostgresStore {
    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)> {
        write_tx!(self, |c| create(c, new))
    }

    async fn conversation(&self, id: &str) -> StoreResult<Option<ConversationRecord>> {
        read_tx!(self, |c| load(c, id))
    }

    async fn conversations_of(
        &self,
        user: &str,
    ) -> StoreResult<Vec<(ConversationRecord, Option<Message>)>> {
        read_tx!(self, |c| async move {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT c.id FROM participants p JOIN conversations c ON c.id = p.conversation_id
                 WHERE p.user_name = $1 ORDER BY c.last_activity DESC, c.id COLLATE \"C\"",
            )
            .bind(user)
            .fetch_all(&mut *c)
            .await?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(item) = with_last(c, &id).await? {
                    out.push(item);
                }
            }
            Ok(out)
        })
    }

    async fn conversation_page(
        &self,
        user: &str,
        after: Option<ConversationCursor>,
        limit: u32,
    ) -> StoreResult<ConversationPage> {
        let upto = match &after {
            Some(a) => a.messages_upto,
            None => self.observe(settled_horizon(self)).await?,
        };
        read_tx!(self, |c| page_of(c, user, upto, after, limit))
    }

    async fn is_participant(&self, conversation: &str, user: &str) -> StoreResult<bool> {
        self.observe(async {
            let mut c = self.pool.acquire().await?;
            is_participant(&mut c, conversation, user).await
        })
        .await
    }

    async fn mark_read(
        &self,
        conversation: &str,
        user: &str,
        up_to: i64,
    ) -> StoreResult<ReadMarker> {
        write_tx!(self, |c| mark_read(c, conversation, user, up_to))
    }
}
