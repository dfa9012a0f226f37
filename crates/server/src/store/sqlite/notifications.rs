//! Notifications (per-user `seq`) and announcements.

use super::{optional, users, SqliteStore};
use crate::store::{
    AnnouncementStore, Marked, NewNotification, NotificationStore, Page, Range, StoreError,
    StoreResult,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use tidings_proto::{Announcement, Notification, Timestamp};

const COLUMNS: &str =
    "id, user_name, seq, kind, title, message, data, conversation_id, url, read_at, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Notification> {
    let data: Option<String> = r.get(6)?;
    Ok(Notification {
        id: r.get(0)?,
        user_id: r.get(1)?,
        seq: r.get(2)?,
        kind: r.get(3)?,
        title: r.get(4)?,
        message: r.get(5)?,
        data: data.and_then(|d| serde_json::from_str(&d).ok()),
        conversation_id: r.get(7)?,
        url: r.get(8)?,
        is_read: r.get::<_, Option<i64>>(9)?.is_some(),
        created_at: Timestamp(r.get(10)?),
    })
}

fn create(c: &Connection, new: NewNotification) -> StoreResult<Vec<Notification>> {
    let missing = users::missing(c, &new.users)?;
    if !missing.is_empty() {
        return Err(users::unknown_users(&missing));
    }
    let data = new.data.as_ref().map(|d| d.to_string());
    let mut bump = c.prepare_cached(
        "UPDATE users SET notification_seq = notification_seq + 1 WHERE name = ?1
         RETURNING notification_seq",
    )?;
    let mut insert = c.prepare_cached(
        "INSERT INTO notifications (id, user_name, seq, kind, title, message, data, conversation_id, url, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut out = Vec::with_capacity(new.users.len());
    for user in &new.users {
        let seq: i64 = bump.query_row([user], |r| r.get(0))?;
        let id = crate::store::new_ordered_id("n");
        insert.execute(params![
            id,
            user,
            seq,
            new.kind,
            new.title,
            new.message,
            data,
            new.conversation_id,
            new.url,
            new.created_at.millis()
        ])?;
        out.push(Notification {
            id,
            user_id: user.clone(),
            seq,
            kind: new.kind.clone(),
            title: new.title.clone(),
            message: new.message.clone(),
            data: new.data.clone(),
            conversation_id: new.conversation_id.clone(),
            url: new.url.clone(),
            is_read: false,
            created_at: new.created_at,
        });
    }
    Ok(out)
}

/// The user's last notification `seq` and unread count; `NotFound` for an unknown user.
fn counts(c: &Connection, user: &str) -> StoreResult<(i64, i64)> {
    optional(c.query_row(
        "SELECT notification_seq,
                (SELECT count(*) FROM notifications WHERE user_name = ?1 AND read_at IS NULL)
         FROM users WHERE name = ?1",
        [user],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))?
    .ok_or_else(|| StoreError::NotFound(format!("no user {user}")))
}

fn list(
    c: &Connection,
    user: &str,
    range: Range,
    unread_only: bool,
) -> StoreResult<(Page<Notification>, i64)> {
    let (last_seq, unread) = counts(c, user)?;
    let (sql, bound, limit, ascending) = match range {
        Range::After(a, limit) => ("seq > ?2 ORDER BY seq ASC", a, limit, true),
        Range::Before(b, limit) => ("seq < ?2 ORDER BY seq DESC", b, limit, false),
        Range::Newest(limit) => ("seq <= ?2 ORDER BY seq DESC", i64::MAX, limit, false),
    };
    let filter = if unread_only {
        "AND read_at IS NULL"
    } else {
        ""
    };
    let items: Vec<Notification> = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM notifications WHERE user_name = ?1 {filter} AND {sql} LIMIT ?3"
        ))?
        .query_map(params![user, bound, i64::from(limit) + 1], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let (items, has_more) = super::trim_page(items, limit, ascending);
    Ok((
        Page {
            items,
            has_more,
            last_seq,
        },
        unread,
    ))
}

fn mark_read(c: &Connection, user: &str, id: &str) -> StoreResult<(Notification, Marked)> {
    let changed = c.execute(
        "UPDATE notifications SET read_at = ?3 WHERE id = ?1 AND user_name = ?2 AND read_at IS NULL",
        params![id, user, Timestamp::now().millis()],
    )?;
    let n = optional(c.query_row(
        &format!("SELECT {COLUMNS} FROM notifications WHERE id = ?1 AND user_name = ?2"),
        [id, user],
        from_row,
    ))?
    .ok_or_else(|| StoreError::NotFound(format!("you have no notification {id}")))?;
    let (_, unread) = counts(c, user)?;
    Ok((
        n,
        Marked {
            changed: changed as u64,
            unread,
        },
    ))
}

fn mark_all_read(c: &Connection, user: &str, up_to: Option<i64>) -> StoreResult<(i64, Marked)> {
    let (last_seq, _) = counts(c, user)?;
    let up_to = up_to.map_or(last_seq, |u| u.min(last_seq));
    let changed = c.execute(
        "UPDATE notifications SET read_at = ?3
         WHERE user_name = ?1 AND seq <= ?2 AND read_at IS NULL",
        params![user, up_to, Timestamp::now().millis()],
    )?;
    let (_, unread) = counts(c, user)?;
    Ok((
        up_to,
        Marked {
            changed: changed as u64,
            unread,
        },
    ))
}

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn create_notifications(&self, new: NewNotification) -> StoreResult<Vec<Notification>> {
        self.write(move |c| create(c, new)).await
    }

    async fn notifications(
        &self,
        user: &str,
        range: Range,
        unread_only: bool,
    ) -> StoreResult<(Page<Notification>, i64)> {
        let user = user.to_owned();
        self.read(move |c| list(c, &user, range, unread_only)).await
    }

    async fn mark_notification_read(
        &self,
        user: &str,
        id: &str,
    ) -> StoreResult<(Notification, Marked)> {
        let (user, id) = (user.to_owned(), id.to_owned());
        self.write(move |c| mark_read(c, &user, &id)).await
    }

    async fn mark_notifications_read(
        &self,
        user: &str,
        up_to: Option<i64>,
    ) -> StoreResult<(i64, Marked)> {
        let user = user.to_owned();
        self.write(move |c| mark_all_read(c, &user, up_to)).await
    }
}

fn announcement(r: &Row<'_>) -> rusqlite::Result<Announcement> {
    Ok(Announcement {
        seq: r.get(0)?,
        id: r.get(1)?,
        title: r.get(2)?,
        message: r.get(3)?,
        author: r.get(4)?,
        created_at: Timestamp(r.get(5)?),
    })
}

#[async_trait]
impl AnnouncementStore for SqliteStore {
    async fn create_announcement(
        &self,
        title: &str,
        message: &str,
        author: &str,
        at: Timestamp,
    ) -> StoreResult<Announcement> {
        let (title, message, author) = (title.to_owned(), message.to_owned(), author.to_owned());
        self.write(move |c| {
            Ok(c.query_row(
                "INSERT INTO announcements (id, title, message, author, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 RETURNING seq, id, title, message, author, created_at",
                params![
                    crate::store::new_id("a"),
                    title,
                    message,
                    author,
                    at.millis()
                ],
                announcement,
            )?)
        })
        .await
    }

    async fn announcements(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<Page<Announcement>> {
        self.read(move |c| {
            let last_seq: i64 =
                c.query_row("SELECT coalesce(max(seq), 0) FROM announcements", [], |r| {
                    r.get(0)
                })?;
            let (sql, bound, ascending) = match after {
                Some(a) => ("seq > ?1 ORDER BY seq ASC", a, true),
                None => ("seq <= ?1 ORDER BY seq DESC", i64::MAX, false),
            };
            let items: Vec<Announcement> = c
                .prepare_cached(&format!(
                    "SELECT seq, id, title, message, author, created_at FROM announcements
                     WHERE {sql} LIMIT ?2"
                ))?
                .query_map(params![bound, i64::from(limit) + 1], announcement)?
                .collect::<rusqlite::Result<_>>()?;
            let (items, has_more) = super::trim_page(items, limit, ascending);
            Ok(Page {
                items,
                has_more,
                last_seq,
            })
        })
        .await
    }
}
