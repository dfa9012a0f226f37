//! Conversations, participants, read markers, presence and notification levels in the
//! cache.

use super::{Cache, CacheResult, CachedConversation};
use rusqlite::{params, Connection, OptionalExtension, Row};
use tidings_proto::{Conversation, ConversationKind, Participant, Timestamp};

const COLUMNS: &str = "id, kind, title, created_by, created_at, last_seq, synced_seq, read_seq, \
     rev, left, notify_level, removed_by, left_themselves";

/// Which messages of a conversation raise a notification on this device. A message that
/// mentions the user counts under `all` and `mentions`; nothing under `none` (muted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum NotifyLevel {
    #[default]
    All,
    Mentions,
    None,
}

impl NotifyLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Mentions => "mentions",
            NotifyLevel::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<NotifyLevel> {
        match s {
            "all" => Some(NotifyLevel::All),
            "mentions" => Some(NotifyLevel::Mentions),
            "none" => Some(NotifyLevel::None),
            _ => None,
        }
    }
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<CachedConversation> {
    let last_seq: i64 = r.get(5)?;
    let read_seq: i64 = r.get(7)?;
    let notify_level = NotifyLevel::parse(&r.get::<_, String>(10)?).unwrap_or_default();
    Ok(CachedConversation {
        id: r.get(0)?,
        kind: ConversationKind::parse(&r.get::<_, String>(1)?).unwrap_or(ConversationKind::Group),
        title: r.get(2)?,
        created_by: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
        last_seq,
        synced_seq: r.get(6)?,
        read_seq,
        unread_count: (last_seq - read_seq).max(0),
        rev: r.get(8)?,
        left: r.get::<_, i64>(9)? != 0,
        removed_by: r.get(11)?,
        left_themselves: r.get::<_, i64>(12)? != 0,
        notify_level,
        muted: notify_level == NotifyLevel::None,
        participants: Vec::new(),
        last_message: None,
        pending: 0,
    })
}

fn complete(conn: &Connection, mut c: CachedConversation) -> CacheResult<CachedConversation> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, display_name, online, read_seq FROM participants
         WHERE conversation_id = ?1 ORDER BY user_id",
    )?;
    c.participants = stmt
        .query_map([&c.id], |r| {
            Ok(Participant {
                id: r.get(0)?,
                display_name: r.get(1)?,
                online: r.get::<_, i64>(2)? != 0,
                read_seq: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    c.last_message = super::messages::latest(conn, &c.id)?;
    c.pending = conn.query_row(
        "SELECT count(*) FROM outbox WHERE conversation_id = ?1 AND state IN ('pending', 'sending')",
        [&c.id],
        |r| r.get(0),
    )?;
    Ok(c)
}

/// Raises `last_seq` (the server has at least this many messages).
pub(super) fn raise_last_seq(conn: &Connection, cid: &str, seq: i64, at: i64) -> CacheResult<()> {
    conn.prepare_cached(
        "UPDATE conversations SET last_seq = ?2, last_activity = max(last_activity, ?3)
         WHERE id = ?1 AND last_seq < ?2",
    )?
    .execute(params![cid, seq, at])?;
    Ok(())
}

/// Moves our own marker forward, locally and as confirmed by the server.
pub(super) fn own_read(
    conn: &Connection,
    cid: &str,
    seq: i64,
    confirmed: bool,
) -> CacheResult<bool> {
    let moved = conn
        .prepare_cached("UPDATE conversations SET read_seq = ?2 WHERE id = ?1 AND read_seq < ?2")?
        .execute(params![cid, seq])?
        > 0;
    if confirmed {
        conn.prepare_cached(
            "UPDATE conversations SET server_read_seq = ?2 WHERE id = ?1 AND server_read_seq < ?2",
        )?
        .execute(params![cid, seq])?;
    }
    Ok(moved)
}

impl Cache {
    /// Merges a conversation as the server describes it (to the user `me`), who is
    /// therefore in it (no longer left). Markers and `last_seq` only move forward; the title
    /// and participants are replaced unless a newer view (higher `rev`) was merged already.
    pub fn upsert_conversation(&self, c: &Conversation, me: &str) -> CacheResult<()> {
        self.merge_conversation(c, me, None)
    }

    /// Merges a conversation from an answer asked for when its membership generation was
    /// `asked` (see [`Cache::membership`]): as [`Cache::upsert_conversation`], except that
    /// it un-marks the conversation left only if its membership has not changed since, so
    /// an answer older than a `CONVERSATION_LEFT` received meanwhile does not undo it.
    pub fn upsert_conversation_as_of(
        &self,
        c: &Conversation,
        me: &str,
        asked: i64,
    ) -> CacheResult<()> {
        self.merge_conversation(c, me, Some(asked))
    }

    fn merge_conversation(
        &self,
        c: &Conversation,
        me: &str,
        asked: Option<i64>,
    ) -> CacheResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let last_activity = c
            .last_message
            .as_ref()
            .map_or(c.created_at.millis(), |m| m.created_at.millis());
        let stale: bool = tx
            .query_row(
                "SELECT view_rev > ?2 FROM conversations WHERE id = ?1",
                params![c.id, c.rev],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false);
        tx.execute(
            "INSERT INTO conversations (id, kind, title, created_by, created_at, last_seq, read_seq, server_read_seq, last_activity, view_rev, server_rev)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?9)
             ON CONFLICT (id) DO UPDATE SET
               kind = excluded.kind,
               title = CASE WHEN view_rev > excluded.view_rev THEN title ELSE excluded.title END,
               created_by = excluded.created_by,
               created_at = excluded.created_at,
               last_seq = max(last_seq, excluded.last_seq),
               read_seq = max(read_seq, excluded.read_seq),
               server_read_seq = max(server_read_seq, excluded.server_read_seq),
               last_activity = max(last_activity, excluded.last_activity),
               view_rev = max(view_rev, excluded.view_rev),
               server_rev = max(server_rev, excluded.server_rev),
               membership = membership
                 + (left != 0 AND (?10 IS NULL OR membership = ?10)),
               left = CASE WHEN ?10 IS NULL OR membership = ?10 THEN 0 ELSE left END,
               removed_by = CASE WHEN ?10 IS NULL OR membership = ?10 THEN NULL ELSE removed_by END,
               left_themselves = CASE WHEN ?10 IS NULL OR membership = ?10 THEN 0
                 ELSE left_themselves END",
            params![
                c.id,
                c.kind.as_str(),
                c.title,
                c.created_by,
                c.created_at.millis(),
                c.last_seq,
                c.read_seq,
                last_activity,
                c.rev,
                asked
            ],
        )?;
        if !stale {
            tx.execute(
                "DELETE FROM participants WHERE conversation_id = ?1",
                [&c.id],
            )?;
            for p in &c.participants {
                tx.execute(
                    "INSERT INTO participants (conversation_id, user_id, display_name, read_seq, online)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![c.id, p.id, p.display_name, p.read_seq, p.online],
                )?;
            }
        }
        if let Some(m) = &c.last_message {
            super::messages::insert_batch(&tx, std::slice::from_ref(m), me)?;
        }
        tx.commit()?;
        drop(conn);
        if c.last_message.is_some() {
            self.index.kick();
        }
        Ok(())
    }

    /// Every cached conversation, most recently active first.
    pub fn conversations(&self) -> CacheResult<Vec<CachedConversation>> {
        let conn = self.conn();
        let list: Vec<CachedConversation> = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM conversations ORDER BY last_activity DESC, id"
            ))?
            .query_map([], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        list.into_iter().map(|c| complete(&conn, c)).collect()
    }

    pub fn conversation(&self, id: &str) -> CacheResult<Option<CachedConversation>> {
        let conn = self.conn();
        let c = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM conversations WHERE id = ?1"
            ))?
            .query_row([id], from_row)
            .optional()?;
        c.map(|c| complete(&conn, c)).transpose()
    }

    /// The user read up to `up_to` here (capped at what exists); `true` if the marker moved.
    /// The server is told later (see [`Cache::unsynced_reads`]).
    pub fn mark_read(&self, cid: &str, up_to: i64) -> CacheResult<bool> {
        let conn = self.conn();
        let last: Option<i64> = conn
            .query_row(
                "SELECT last_seq FROM conversations WHERE id = ?1",
                [cid],
                |r| r.get(0),
            )
            .optional()?;
        match last {
            Some(last) => own_read(&conn, cid, up_to.min(last), false),
            None => Ok(false),
        }
    }

    /// Conversations whose local read marker is ahead of the server's: (id, marker).
    pub fn unsynced_reads(&self) -> CacheResult<Vec<(String, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, read_seq FROM conversations WHERE read_seq > server_read_seq AND left = 0",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A read receipt from the server: ours moves our marker (confirmed), another user's
    /// moves that participant's.
    pub fn apply_read_receipt(
        &self,
        cid: &str,
        user: &str,
        up_to: i64,
        me: &str,
    ) -> CacheResult<()> {
        let conn = self.conn();
        if user == me {
            own_read(&conn, cid, up_to, true)?;
        } else {
            conn.execute(
                "UPDATE participants SET read_seq = ?3
                 WHERE conversation_id = ?1 AND user_id = ?2 AND read_seq < ?3",
                params![cid, user, up_to],
            )?;
        }
        Ok(())
    }

    pub fn set_presence(&self, user: &str, online: bool) -> CacheResult<()> {
        self.conn().execute(
            "UPDATE participants SET online = ?2 WHERE user_id = ?1 AND online != ?2",
            params![user, online],
        )?;
        Ok(())
    }

    /// Which messages of a conversation notify on this device.
    pub fn set_notify_level(&self, cid: &str, level: NotifyLevel) -> CacheResult<()> {
        self.conn().execute(
            "UPDATE conversations SET notify_level = ?2 WHERE id = ?1",
            params![cid, level.as_str()],
        )?;
        Ok(())
    }

    /// Mutes (level `none`) or unmutes (level `all`) a conversation.
    pub fn set_muted(&self, cid: &str, muted: bool) -> CacheResult<()> {
        let level = if muted {
            NotifyLevel::None
        } else {
            NotifyLevel::All
        };
        self.set_notify_level(cid, level)
    }

    /// A user's new display name, in every conversation they are in.
    pub fn set_display_name(&self, user: &str, name: &str) -> CacheResult<()> {
        self.conn().execute(
            "UPDATE participants SET display_name = ?2 WHERE user_id = ?1 AND display_name != ?2",
            params![user, name],
        )?;
        Ok(())
    }

    /// Someone is no longer in a conversation (until the server's next view of it says
    /// otherwise).
    pub fn remove_participant(&self, cid: &str, user: &str) -> CacheResult<()> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM participants WHERE conversation_id = ?1 AND user_id = ?2",
            params![cid, user],
        )?;
        conn.execute(
            "INSERT INTO changes (kind, key) VALUES ('conversation', ?1)",
            [cid],
        )?;
        Ok(())
    }

    /// Whether a conversation needs fetching: its contiguous prefix ends before its last
    /// known `seq`, or only a placeholder is cached (no participants yet). `true` for a
    /// conversation the cache does not know; `false` for one the user left.
    pub fn needs_fetch(&self, cid: &str) -> CacheResult<bool> {
        let conn = self.conn();
        let row: Option<(i64, i64, bool, bool)> = conn
            .prepare_cached(
                "SELECT synced_seq, last_seq,
                        EXISTS (SELECT 1 FROM participants WHERE conversation_id = ?1), left
                 FROM conversations WHERE id = ?1",
            )?
            .query_row([cid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        Ok(row.is_none_or(|(synced, last, known, left)| !left && (synced < last || !known)))
    }

    /// Conversations with messages known to exist but not cached: (id, synced_seq, last_seq).
    pub fn gaps(&self) -> CacheResult<Vec<(String, i64, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, synced_seq, last_seq FROM conversations
             WHERE synced_seq < last_seq AND left = 0 ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
