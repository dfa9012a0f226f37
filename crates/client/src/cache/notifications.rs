//! Notifications in the cache: the server's (by per-user `seq`, with a contiguous cursor for
//! catch-up) and those a connection profile turns out of another server's messages.
//!
//! `is_read` is 0 (unread), 1 (read, and the server knows) or 2 (read here, not yet told to
//! the server: marked offline, or the request is on its way). The engine pushes the 2s
//! ([`Cache::unsynced_notification_reads`]) when it can and sets them to 1; the server's
//! news (`NOTIFICATIONS_READ`, or its unread list at catch-up) sets 1 too. Only the
//! server's own notifications wait for it: the others are read at once.

use super::{Cache, CacheResult};
use rusqlite::{params, Connection, Row};
use std::collections::HashSet;
use tidings_proto::{Notification, NotificationsRead, Timestamp};

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
            "UPDATE notifications SET is_read = 1 WHERE id = ?1 AND is_read != 1",
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
        self.notifications_before(user, None, limit)
    }

    /// The `limit` notifications just older than the one with id `before` (the oldest one
    /// shown), newest first; the newest ones without `before`. Ordered by time, then `seq`,
    /// then id, so paging never skips nor repeats one.
    pub fn notifications_before(
        &self,
        user: &str,
        before: Option<&str>,
        limit: u32,
    ) -> CacheResult<Vec<Notification>> {
        const ORDER: &str = "ORDER BY created_at DESC, coalesce(seq, 0) DESC, id DESC";
        let conn = self.conn();
        let rows = match before {
            None => conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM notifications {ORDER} LIMIT ?1"
                ))?
                .query_map([limit], |r| from_row(r, user))?
                .collect::<rusqlite::Result<_>>()?,
            Some(id) => conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM notifications
                     WHERE (created_at, coalesce(seq, 0), id) <
                           (SELECT created_at, coalesce(seq, 0), id FROM notifications WHERE id = ?1)
                     {ORDER} LIMIT ?2"
                ))?
                .query_map(params![id, limit], |r| from_row(r, user))?
                .collect::<rusqlite::Result<_>>()?,
        };
        Ok(rows)
    }

    /// The lowest server `seq` cached (0 when none): older ones, if any, are on the server.
    pub fn oldest_notification_seq(&self) -> CacheResult<i64> {
        Ok(self.conn().query_row(
            "SELECT coalesce(min(seq), 0) FROM notifications WHERE seq IS NOT NULL",
            [],
            |r| r.get(0),
        )?)
    }

    /// Unread notifications, every source: the badge.
    pub fn unread_notifications(&self) -> CacheResult<i64> {
        Ok(self.conn().query_row(
            "SELECT count(*) FROM notifications WHERE is_read = 0",
            [],
            |r| r.get(0),
        )?)
    }

    /// Marks a notification read locally; `true` if it was unread. The server's own wait to
    /// be told ([`Cache::unsynced_notification_reads`]).
    pub fn mark_notification_read(&self, id: &str) -> CacheResult<bool> {
        Ok(self.conn().execute(
            "UPDATE notifications SET is_read = CASE WHEN seq IS NULL THEN 1 ELSE 2 END
             WHERE id = ?1 AND is_read = 0",
            [id],
        )? > 0)
    }

    /// Marks every cached notification read locally ("mark all read"); answers how many were
    /// unread. The server's own wait to be told, as for one.
    pub fn mark_all_notifications_read(&self) -> CacheResult<usize> {
        Ok(self.conn().execute(
            "UPDATE notifications SET is_read = CASE WHEN seq IS NULL THEN 1 ELSE 2 END
             WHERE is_read = 0",
            [],
        )?)
    }

    /// What the server has not been told yet: `upTo` for one read-all request when every
    /// cached notification up to the highest pending one is read here and none of them is
    /// missing from the cache, else the pending ids one by one.
    pub fn unsynced_notification_reads(&self) -> CacheResult<UnsyncedReads> {
        let conn = self.conn();
        let pending: Vec<(String, i64)> = conn
            .prepare_cached(
                "SELECT id, seq FROM notifications WHERE is_read = 2 AND seq IS NOT NULL
                 ORDER BY seq",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let Some(&(_, top)) = pending.last() else {
            return Ok(UnsyncedReads::default());
        };
        let unread_below: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM notifications WHERE seq <= ?1 AND is_read = 0)",
            [top],
            |r| r.get(0),
        )?;
        let cursor: i64 = conn
            .query_row("SELECT value FROM sync WHERE key = ?1", [CURSOR], |r| {
                r.get(0)
            })
            .unwrap_or(0);
        if pending.len() > 1 && !unread_below && top <= cursor {
            return Ok(UnsyncedReads {
                up_to: Some(top),
                ids: Vec::new(),
            });
        }
        Ok(UnsyncedReads {
            up_to: None,
            ids: pending.into_iter().map(|(id, _)| id).collect(),
        })
    }

    /// Applies the server's word that notifications are read (its answer, or
    /// `NOTIFICATIONS_READ` from another session): those up to `up_to` and those in `ids`.
    /// Answers how many changed here.
    pub fn apply_notifications_read(&self, read: &NotificationsRead) -> CacheResult<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut changed = 0;
        if let Some(up_to) = read.up_to {
            changed += tx.execute(
                "UPDATE notifications SET is_read = 1 WHERE seq <= ?1 AND is_read != 1",
                [up_to],
            )?;
        }
        for id in &read.ids {
            changed += tx.execute(
                "UPDATE notifications SET is_read = 1 WHERE id = ?1 AND is_read != 1",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Server notifications unread here (not even pending) with `seq` up to `up_to`: what
    /// the server's unread count is compared with at catch-up.
    pub fn unread_notifications_up_to(&self, up_to: i64) -> CacheResult<i64> {
        Ok(self.conn().query_row(
            "SELECT count(*) FROM notifications WHERE seq <= ?1 AND is_read = 0",
            [up_to],
            |r| r.get(0),
        )?)
    }

    /// Catch-up's reconciliation: `unread` is every notification the server has unread with
    /// `seq` up to `up_to`; every other one cached unread in that range was read elsewhere
    /// meanwhile. Answers how many changed here.
    pub fn keep_unread_only(&self, unread: &HashSet<String>, up_to: i64) -> CacheResult<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let ids: Vec<String> = tx
            .prepare_cached("SELECT id FROM notifications WHERE seq <= ?1 AND is_read = 0")?
            .query_map([up_to], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut changed = 0;
        for id in ids.iter().filter(|id| !unread.contains(*id)) {
            changed += tx.execute("UPDATE notifications SET is_read = 1 WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(changed)
    }
}

/// Reads the server has not been told of: one read-all up to a `seq`, or these ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsyncedReads {
    pub up_to: Option<i64>,
    pub ids: Vec<String>,
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

    fn read_flags(t: &crate::cache::testing::TempCache) -> Vec<(i64, bool)> {
        let mut v: Vec<(i64, bool)> = t
            .cache
            .notifications("me", 100)
            .unwrap()
            .into_iter()
            .map(|n| (n.seq, n.is_read))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn reads_wait_for_the_server_as_one_read_all_or_one_by_one() {
        let t = temp_cache("notes-reads");
        let all: Vec<Notification> = (1..=5).map(note).collect();
        t.cache.insert_notifications(&all).unwrap();
        assert_eq!(
            t.cache.unsynced_notification_reads().unwrap(),
            UnsyncedReads::default()
        );
        // Two, with unread ones below them: told one by one.
        t.cache.mark_notification_read("n3").unwrap();
        t.cache.mark_notification_read("n4").unwrap();
        assert_eq!(
            t.cache.unsynced_notification_reads().unwrap(),
            UnsyncedReads {
                up_to: None,
                ids: vec!["n3".into(), "n4".into()]
            }
        );
        assert_eq!(t.cache.unread_notifications().unwrap(), 3);
        // All: one request up to the highest.
        assert_eq!(t.cache.mark_all_notifications_read().unwrap(), 3);
        assert_eq!(t.cache.unread_notifications().unwrap(), 0);
        assert_eq!(
            t.cache.unsynced_notification_reads().unwrap(),
            UnsyncedReads {
                up_to: Some(5),
                ids: vec![]
            }
        );
        // The server's answer settles them.
        let read = NotificationsRead {
            up_to: Some(5),
            ids: vec![],
            unread_count: 0,
        };
        assert_eq!(t.cache.apply_notifications_read(&read).unwrap(), 5);
        assert_eq!(
            t.cache.unsynced_notification_reads().unwrap(),
            UnsyncedReads::default()
        );
        assert!(read_flags(&t).iter().all(|(_, r)| *r));
    }

    #[test]
    fn news_from_other_devices_and_the_unread_list_converge() {
        let t = temp_cache("notes-converge");
        t.cache
            .insert_notifications(&(1..=6).map(note).collect::<Vec<_>>())
            .unwrap();
        // Another device marked 2 read; then all up to 3.
        let one = NotificationsRead {
            up_to: None,
            ids: vec!["n2".into()],
            unread_count: 5,
        };
        assert_eq!(t.cache.apply_notifications_read(&one).unwrap(), 1);
        let upto = NotificationsRead {
            up_to: Some(3),
            ids: vec![],
            unread_count: 3,
        };
        assert_eq!(t.cache.apply_notifications_read(&upto).unwrap(), 2);
        assert_eq!(t.cache.unread_notifications_up_to(6).unwrap(), 3);
        // 4 was read elsewhere while this one was away: up to 5 the server has only n5 unread.
        let unread: HashSet<String> = ["n5".to_owned()].into();
        assert_eq!(t.cache.keep_unread_only(&unread, 5).unwrap(), 1);
        assert_eq!(
            read_flags(&t),
            vec![
                (1, true),
                (2, true),
                (3, true),
                (4, true),
                (5, false),
                (6, false)
            ]
        );
    }

    #[test]
    fn pages_back_by_the_oldest_shown() {
        let t = temp_cache("notes-pages");
        let mut all: Vec<Notification> = (1..=7).map(note).collect();
        // Two at the same instant: the order still holds.
        all[4].created_at = Timestamp(4);
        t.cache.insert_notifications(&all).unwrap();
        let first = t.cache.notifications_before("me", None, 3).unwrap();
        let seqs = |v: &[Notification]| v.iter().map(|n| n.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&first), vec![7, 6, 5]);
        let second = t
            .cache
            .notifications_before("me", Some(&first[2].id), 3)
            .unwrap();
        assert_eq!(seqs(&second), vec![4, 3, 2]);
        let last = t
            .cache
            .notifications_before("me", Some(&second[2].id), 3)
            .unwrap();
        assert_eq!(seqs(&last), vec![1]);
        assert_eq!(t.cache.oldest_notification_seq().unwrap(), 1);
    }
}
