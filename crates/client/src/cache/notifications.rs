//! Notifications in the cache: the server's (by per-user `seq`, with a contiguous cursor for
//! catch-up) and those a connection profile turns out of another server's messages.

use super::{Cache, CacheResult};
use rusqlite::{params, Connection, Row};
use tidings_proto::{Notification, Timestamp};

/// The cursor key: every notification `seq` up to it is cached.
const CURSOR: &str = "notifications";

const COLUMNS: &str =
    "id, coalesce(seq, 0), kind, title, message, data, conversation_id, url, is_read, created_at";

fn from_row(r: &Row<'_>, user: &str) -> rusqlite::Result<Notification> {
    let data: Option<String> = r.get(5)?;
    Ok(Notification {
        id: r.get(0)?,
        user_id: user.to_owned(),
        seq: r.get(1)?,
        kind: r.get(2)?,
        title: r.get(3)?,
        message: r.get(4)?,
        data: data.and_then(|d| serde_json::from_str(&d).ok()),
        conversation_id: r.get(6)?,
        url: r.get(7)?,
        is_read: r.get::<_, i64>(8)? != 0,
        created_at: Timestamp(r.get(9)?),
    })
}

fn insert(conn: &Connection, n: &Notification, source: &str) -> CacheResult<bool> {
    let seq = (source == "tidings").then_some(n.seq);
    let added = conn
        .prepare_cached(
            "INSERT INTO notifications (id, seq, source, kind, title, message, data, conversation_id, url, is_read, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            n.id,
            seq,
            source,
            n.kind,
            n.title,
            n.message,
            n.data.as_ref().map(|d| d.to_string()),
            n.conversation_id,
            n.url,
            n.is_read,
            n.created_at.millis()
        ])?
        > 0;
    if !added && n.is_read {
        conn.execute(
            "UPDATE notifications SET is_read = 1 WHERE id = ?1 AND is_read = 0",
            [&n.id],
        )?;
    }
    Ok(added)
}

/// Moves the cursor over every contiguous cached `seq` after it.
fn advance_cursor(conn: &Connection) -> CacheResult<i64> {
    let mut cursor: i64 = conn
        .query_row("SELECT value FROM sync WHERE key = ?1", [CURSOR], |r| {
            r.get(0)
        })
        .unwrap_or(0);
    let start = cursor;
    let mut exists = conn.prepare_cached("SELECT 1 FROM notifications WHERE seq = ?1")?;
    while exists.exists([cursor + 1])? {
        cursor += 1;
    }
    if cursor != start {
        conn.execute(
            "INSERT INTO sync (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![CURSOR, cursor],
        )?;
    }
    Ok(cursor)
}

impl Cache {
    /// Merges the server's notifications; returns how many were new.
    pub fn insert_notifications(&self, list: &[Notification]) -> CacheResult<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut added = 0;
        for n in list {
            if insert(&tx, n, "tidings")? {
                added += 1;
            }
        }
        advance_cursor(&tx)?;
        tx.commit()?;
        Ok(added)
    }

    /// Stores a notification made from another server's message (`source` is where it came
    /// from); `false` if one with this id is cached already.
    pub fn insert_foreign_notification(&self, n: &Notification, source: &str) -> CacheResult<bool> {
        insert(&self.conn(), n, source)
    }

    /// Every notification `seq` up to this one is cached.
    pub fn notification_cursor(&self) -> CacheResult<i64> {
        self.cursor(CURSOR)
    }

    /// The newest `limit` notifications, newest first.
    pub fn notifications(&self, user: &str, limit: u32) -> CacheResult<Vec<Notification>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM notifications ORDER BY created_at DESC, seq DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit], |r| from_row(r, user))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn unread_notifications(&self) -> CacheResult<i64> {
        Ok(self.conn().query_row(
            "SELECT count(*) FROM notifications WHERE is_read = 0",
            [],
            |r| r.get(0),
        )?)
    }

    /// Marks a notification read locally; `true` if it was unread.
    pub fn mark_notification_read(&self, id: &str) -> CacheResult<bool> {
        Ok(self.conn().execute(
            "UPDATE notifications SET is_read = 1 WHERE id = ?1 AND is_read = 0",
            [id],
        )? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::testing::temp_cache;

    fn note(seq: i64) -> Notification {
        Notification {
            id: format!("n{seq}"),
            user_id: "me".into(),
            seq,
            kind: "k".into(),
            title: format!("t{seq}"),
            message: "m".into(),
            data: None,
            conversation_id: None,
            url: None,
            is_read: false,
            created_at: Timestamp(seq),
        }
    }

    #[test]
    fn the_cursor_covers_only_the_contiguous_prefix() {
        let t = temp_cache("notes");
        t.cache.insert_notifications(&[note(1), note(3)]).unwrap();
        assert_eq!(t.cache.notification_cursor().unwrap(), 1);
        assert_eq!(
            t.cache.insert_notifications(&[note(2), note(3)]).unwrap(),
            1
        );
        assert_eq!(t.cache.notification_cursor().unwrap(), 3);
        assert_eq!(t.cache.unread_notifications().unwrap(), 3);
        assert!(t.cache.mark_notification_read("n2").unwrap());
        assert!(!t.cache.mark_notification_read("n2").unwrap());
        let foreign = Notification {
            id: "rabbit-1".into(),
            seq: 0,
            ..note(9)
        };
        assert!(t
            .cache
            .insert_foreign_notification(&foreign, "/topic/alerts")
            .unwrap());
        assert!(!t
            .cache
            .insert_foreign_notification(&foreign, "/topic/alerts")
            .unwrap());
        assert_eq!(
            t.cache.notification_cursor().unwrap(),
            3,
            "foreign ones have no seq"
        );
        assert_eq!(t.cache.notifications("me", 10).unwrap().len(), 4);
    }
}
