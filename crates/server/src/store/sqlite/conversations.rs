//! Conversations, participants and read markers. (Membership changes after creation are
//! in `membership`: they are part of the change log.)

use super::{optional, users, SqliteStore};
use crate::store::{
    ConversationCursor, ConversationPage, ConversationRecord, ConversationStore, NewConversation,
    ParticipantRecord, ReadMarker, StoreError, StoreResult,
};
use async_trait::async_trait;
use rusqlite::{params, Connection};
use tidings_proto::{ConversationKind, Message, Timestamp};

pub(super) fn load(conn: &Connection, id: &str) -> StoreResult<Option<ConversationRecord>> {
    let head = optional(conn.query_row(
        "SELECT id, kind, title, created_by, created_at, last_seq, rev FROM conversations WHERE id = ?1",
        [id],
        |r| {
            Ok(ConversationRecord {
                id: r.get(0)?,
                kind: ConversationKind::parse(&r.get::<_, String>(1)?)
                    .unwrap_or(ConversationKind::Group),
                title: r.get(2)?,
                created_by: r.get(3)?,
                created_at: Timestamp(r.get(4)?),
                last_seq: r.get(5)?,
                rev: r.get(6)?,
                participants: Vec::new(),
            })
        },
    ))?;
    let Some(mut conv) = head else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT p.user_name, u.display_name, p.read_seq FROM participants p
         JOIN users u ON u.name = p.user_name
         WHERE p.conversation_id = ?1 ORDER BY p.joined_at, p.user_name",
    )?;
    conv.participants = stmt
        .query_map([id], |r| {
            Ok(ParticipantRecord {
                user: r.get(0)?,
                display_name: r.get(1)?,
                read_seq: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(conv))
}

pub(super) fn exists(conn: &Connection, cid: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM conversations WHERE id = ?1")?
        .exists([cid])?)
}

pub(super) fn is_participant(conn: &Connection, cid: &str, user: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM participants WHERE conversation_id = ?1 AND user_name = ?2")?
        .exists([cid, user])?)
}

fn direct_key(participants: &[String]) -> String {
    let mut pair = participants.to_vec();
    pair.sort();
    pair.join("|")
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)> {
        self.write(move |c| {
            let missing = users::missing(c, &new.participants)?;
            if !missing.is_empty() {
                return Err(users::unknown_users(&missing));
            }
            let key = (new.kind == ConversationKind::Direct).then(|| direct_key(&new.participants));
            if let Some(key) = &key {
                let existing: Option<String> = optional(c.query_row(
                    "SELECT id FROM conversations WHERE direct_key = ?1",
                    [key],
                    |r| r.get(0),
                ))?;
                if let Some(id) = existing {
                    let conv = load(c, &id)?
                        .ok_or_else(|| StoreError::Internal("conversation vanished".into()))?;
                    return Ok((conv, false));
                }
            }
            let at = new.created_at.millis();
            c.execute(
                "INSERT INTO conversations (id, kind, title, direct_key, created_by, created_at, last_activity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![new.id, new.kind.as_str(), new.title, key, new.created_by, at],
            )?;
            let mut add = c.prepare_cached(
                "INSERT INTO participants (conversation_id, user_name, joined_at) VALUES (?1, ?2, ?3)",
            )?;
            for p in &new.participants {
                add.execute(params![new.id, p, at])?;
            }
            let conv = load(c, &new.id)?
                .ok_or_else(|| StoreError::Internal("conversation vanished".into()))?;
            Ok((conv, true))
        })
        .await
    }

    async fn conversation(&self, id: &str) -> StoreResult<Option<ConversationRecord>> {
        let id = id.to_owned();
        self.read(move |c| load(c, &id)).await
    }

    async fn conversations_of(
        &self,
        user: &str,
    ) -> StoreResult<Vec<(ConversationRecord, Option<Message>)>> {
        let user = user.to_owned();
        self.read(move |c| {
            let ids: Vec<String> = c
                .prepare_cached(
                    "SELECT c.id FROM participants p JOIN conversations c ON c.id = p.conversation_id
                     WHERE p.user_name = ?1 ORDER BY c.last_activity DESC, c.id",
                )?
                .query_map([&user], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(conv) = load(c, &id)? {
                    let last = super::messages::at(c, &id, conv.last_seq)?;
                    out.push((conv, last));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn conversation_page(
        &self,
        user: &str,
        after: Option<ConversationCursor>,
        limit: u32,
    ) -> StoreResult<ConversationPage> {
        let user = user.to_owned();
        self.read(move |c| {
            // One read transaction: the snapshot and the page agree.
            let tx = c.unchecked_transaction()?;
            let page = page_of(&tx, &user, after, limit);
            tx.finish()?;
            page
        })
        .await
    }

    async fn is_participant(&self, conversation: &str, user: &str) -> StoreResult<bool> {
        let (cid, user) = (conversation.to_owned(), user.to_owned());
        self.read(move |c| is_participant(c, &cid, &user)).await
    }

    async fn mark_read(
        &self,
        conversation: &str,
        user: &str,
        up_to: i64,
    ) -> StoreResult<ReadMarker> {
        let (cid, user) = (conversation.to_owned(), user.to_owned());
        self.write(move |c| {
            let last_seq: i64 = optional(c.query_row(
                "SELECT last_seq FROM conversations WHERE id = ?1",
                [&cid],
                |r| r.get(0),
            ))?
            .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))?;
            let read_seq: i64 = optional(c.query_row(
                "SELECT read_seq FROM participants WHERE conversation_id = ?1 AND user_name = ?2",
                [&cid, &user],
                |r| r.get(0),
            ))?
            .ok_or_else(|| {
                StoreError::Forbidden(format!("you are not a participant of conversation {cid}"))
            })?;
            let target = up_to.min(last_seq);
            if target <= read_seq {
                return Ok(ReadMarker {
                    read_seq,
                    last_seq,
                    moved: false,
                });
            }
            c.execute(
                "UPDATE participants SET read_seq = ?3 WHERE conversation_id = ?1 AND user_name = ?2",
                params![cid, user, target],
            )?;
            Ok(ReadMarker {
                read_seq: target,
                last_seq,
                moved: true,
            })
        })
        .await
    }
}

/// See [`ConversationStore::conversation_page`]. The snapshot is the highest `rowid` of
/// `messages` and of `conversations`: rows are never deleted and one writer commits at a
/// time, so a row with a higher `rowid` committed later. A conversation's activity as of
/// the snapshot is the time of its last message up to that `rowid`, or its creation: just
/// what `last_activity` was then. Each page computes it for all the user's conversations
/// (an index lookup each, two for those written to since): linear in their number, which
/// the creation limits keep modest.
fn page_of(
    c: &Connection,
    user: &str,
    after: Option<ConversationCursor>,
    limit: u32,
) -> StoreResult<ConversationPage> {
    let (messages_upto, conversations_upto) = match &after {
        Some(a) => (a.messages_upto, a.conversations_upto),
        None => c.query_row(
            "SELECT (SELECT COALESCE(MAX(rowid), 0) FROM messages),
                    (SELECT COALESCE(MAX(rowid), 0) FROM conversations)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?,
    };
    let (activity, id) = match &after {
        Some(a) => (Some(a.activity), a.id.as_str()),
        None => (None, ""),
    };
    // One more than asked for tells whether more exist.
    let rows: Vec<(String, i64)> = c
        .prepare_cached(
            "SELECT id, act FROM (
               SELECT c.id AS id,
                 CASE WHEN c.last_seq = 0
                        OR (SELECT m.rowid FROM messages m
                            WHERE m.conversation_id = c.id AND m.seq = c.last_seq) <= ?2
                   THEN c.last_activity
                   ELSE COALESCE((SELECT m.created_at FROM messages m
                                  WHERE m.conversation_id = c.id AND m.rowid <= ?2
                                  ORDER BY m.seq DESC LIMIT 1), c.created_at)
                 END AS act
               FROM participants p JOIN conversations c ON c.id = p.conversation_id
               WHERE p.user_name = ?1 AND c.rowid <= ?3)
             WHERE ?4 IS NULL OR act < ?4 OR (act = ?4 AND id > ?5)
             ORDER BY act DESC, id LIMIT ?6",
        )?
        .query_map(
            params![
                user,
                messages_upto,
                conversations_upto,
                activity,
                id,
                i64::from(limit) + 1
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let more = rows.len() > limit as usize;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut next = None;
    for (id, act) in rows.into_iter().take(limit as usize) {
        if let Some(conv) = load(c, &id)? {
            let last = super::messages::at(c, &id, conv.last_seq)?;
            items.push((conv, last));
        }
        next = Some(ConversationCursor {
            messages_upto,
            conversations_upto,
            activity: act,
            id,
        });
    }
    Ok(ConversationPage {
        items,
        next: if more { next } else { None },
    })
}
