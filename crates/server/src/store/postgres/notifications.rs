//! Notifications (per-user `seq`, under the user's row lock) and announcements (global
//! `seq`, under an advisory lock), in PostgreSQL.

use super::{advisory_lock, read_tx, sql, users, write_tx, PostgresStore};
use crate::store::{
    AnnouncementStore, Marked, NewNotification, NotificationStore, Page, Range, StoreError,
    StoreResult,
};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use tidings_proto::{Announcement, Notification, Timestamp};

const COLUMNS: &str =
    "id, user_name, seq, kind, title, message, data, conversation_id, url, read_at, created_at";

/// The advisory lock announcements are numbered under.
const ANNOUNCEMENTS_LOCK: &str = "tidings:announcements";

fn from_row(r: &PgRow) -> StoreResult<Notification> {
    let data: Option<String> = r.try_get(6)?;
    Ok(Notification {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        seq: r.try_get(2)?,
        kind: r.try_get(3)?,
        title: r.try_get(4)?,
        message: r.try_get(5)?,
        data: data.and_then(|d| serde_json::from_str(&d).ok()),
        conversation_id: r.try_get(7)?,
        url: r.try_get(8)?,
        is_read: r.try_get::<Option<i64>, _>(9)?.is_some(),
        created_at: Timestamp(r.try_get(10)?),
    })
}

async fn create(c: &mut PgConnection, new: NewNotification) -> StoreResult<Vec<Notification>> {
    let missing = users::missing(c, &new.users).await?;
    if !missing.is_empty() {
        return Err(users::unknown_users(&missing));
    }
    // Lock every recipient's row in name order first: two notifications for overlapping
    // users (on two nodes) then wait for each other instead of deadlocking.
    sqlx::query(
        "SELECT 1 FROM users WHERE name = ANY($1) ORDER BY name COLLATE \"C\" FOR NO KEY UPDATE",
    )
    .bind(&new.users)
    .execute(&mut *c)
    .await?;
    let data = new.data.as_ref().map(|d| d.to_string());
    let mut out = Vec::with_capacity(new.users.len());
    for user in &new.users {
        let seq: i64 = sqlx::query_scalar(
            "UPDATE users SET notification_seq = notification_seq + 1 WHERE name = $1
             RETURNING notification_seq",
        )
        .bind(user)
        .fetch_one(&mut *c)
        .await?;
        let id = crate::store::new_ordered_id("n");
        sqlx::query(
            "INSERT INTO notifications (id, user_name, seq, kind, title, message, data, conversation_id, url, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(user)
        .bind(seq)
        .bind(&new.kind)
        .bind(&new.title)
        .bind(&new.message)
        .bind(&data)
        .bind(&new.conversation_id)
        .bind(&new.url)
        .bind(new.created_at.millis())
        .execute(&mut *c)
        .await?;
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
async fn counts(c: &mut PgConnection, user: &str) -> StoreResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT notification_seq,
                (SELECT count(*) FROM notifications WHERE user_name = $1 AND read_at IS NULL)
         FROM users WHERE name = $1",
    )
    .bind(user)
    .fetch_optional(c)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("no user {user}")))?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

async fn list(
    c: &mut PgConnection,
    user: &str,
    range: Range,
    unread_only: bool,
) -> StoreResult<(Page<Notification>, i64)> {
    let (last_seq, unread) = counts(c, user).await?;
    let (sql, bound, limit, ascending) = match range {
        Range::After(a, limit) => ("seq > $2 ORDER BY seq ASC", a, limit, true),
        Range::Before(b, limit) => ("seq < $2 ORDER BY seq DESC", b, limit, false),
        Range::Newest(limit) => ("seq <= $2 ORDER BY seq DESC", i64::MAX, limit, false),
    };
    let filter = if unread_only {
        "AND read_at IS NULL"
    } else {
        ""
    };
    let rows = sqlx::query(sql!(
        "SELECT {COLUMNS} FROM notifications WHERE user_name = $1 {filter} AND {sql} LIMIT $3"
    ))
    .bind(user)
    .bind(bound)
    .bind(i64::from(limit) + 1)
    .fetch_all(c)
    .await?;
    let items: Vec<Notification> = rows.iter().map(from_row).collect::<StoreResult<_>>()?;
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

async fn mark_read(
    c: &mut PgConnection,
    user: &str,
    id: &str,
) -> StoreResult<(Notification, Marked)> {
    let changed = sqlx::query(
        "UPDATE notifications SET read_at = $3 WHERE id = $1 AND user_name = $2 AND read_at IS NULL",
    )
    .bind(id)
    .bind(user)
    .bind(Timestamp::now().millis())
    .execute(&mut *c)
    .await?
    .rows_affected();
    let row = sqlx::query(sql!(
        "SELECT {COLUMNS} FROM notifications WHERE id = $1 AND user_name = $2"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(&mut *c)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("you have no notification {id}")))?;
    let n = from_row(&row)?;
    let (_, unread) = counts(c, user).await?;
    Ok((n, Marked { changed, unread }))
}

async fn mark_all_read(
    c: &mut PgConnection,
    user: &str,
    up_to: Option<i64>,
) -> StoreResult<(i64, Marked)> {
    let (last_seq, _) = counts(c, user).await?;
    let up_to = up_to.map_or(last_seq, |u| u.min(last_seq));
    let changed = sqlx::query(
        "UPDATE notifications SET read_at = $3
         WHERE user_name = $1 AND seq <= $2 AND read_at IS NULL",
    )
    .bind(user)
    .bind(up_to)
    .bind(Timestamp::now().millis())
    .execute(&mut *c)
    .await?
    .rows_affected();
    let (_, unread) = counts(c, user).await?;
    Ok((up_to, Marked { changed, unread }))
}

#[async_trait]
impl NotificationStore for PostgresStore {
    async fn create_notifications(&self, new: NewNotification) -> StoreResult<Vec<Notification>> {
        write_tx!(self, |c| create(c, new))
    }

    async fn notifications(
        &self,
        user: &str,
        range: Range,
        unread_only: bool,
    ) -> StoreResult<(Page<Notification>, i64)> {
        read_tx!(self, |c| list(c, user, range, unread_only))
    }

    async fn mark_notification_read(
        &self,
        user: &str,
        id: &str,
    ) -> StoreResult<(Notification, Marked)> {
        write_tx!(self, |c| mark_read(c, user, id))
    }

    async fn mark_notifications_read(
        &self,
        user: &str,
        up_to: Option<i64>,
    ) -> StoreResult<(i64, Marked)> {
        write_tx!(self, |c| mark_all_read(c, user, up_to))
    }
}

fn announcement(r: &PgRow) -> StoreResult<Announcement> {
    Ok(Announcement {
        seq: r.try_get(0)?,
        id: r.try_get(1)?,
        title: r.try_get(2)?,
        message: r.try_get(3)?,
        author: r.try_get(4)?,
        created_at: Timestamp(r.try_get(5)?),
    })
}

async fn announce(
    c: &mut PgConnection,
    title: &str,
    message: &str,
    author: &str,
    at: Timestamp,
) -> StoreResult<Announcement> {
    // Numbered one at a time, so they commit in seq order.
    advisory_lock(c, ANNOUNCEMENTS_LOCK).await?;
    let row = sqlx::query(
        "INSERT INTO announcements (seq, id, title, message, author, created_at)
         SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4, $5 FROM announcements
         RETURNING seq, id, title, message, author, created_at",
    )
    .bind(crate::store::new_id("a"))
    .bind(title)
    .bind(message)
    .bind(author)
    .bind(at.millis())
    .fetch_one(c)
    .await?;
    announcement(&row)
}

async fn announcements(
    c: &mut PgConnection,
    after: Option<i64>,
    limit: u32,
) -> StoreResult<Page<Announcement>> {
    let last_seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM announcements")
        .fetch_one(&mut *c)
        .await?;
    let (sql, bound, ascending) = match after {
        Some(a) => ("seq > $1 ORDER BY seq ASC", a, true),
        None => ("seq <= $1 ORDER BY seq DESC", i64::MAX, false),
    };
    let rows = sqlx::query(sql!(
        "SELECT seq, id, title, message, author, created_at FROM announcements WHERE {sql} LIMIT $2"
    ))
    .bind(bound)
    .bind(i64::from(limit) + 1)
    .fetch_all(c)
    .await?;
    let items: Vec<Announcement> = rows.iter().map(announcement).collect::<StoreResult<_>>()?;
    let (items, has_more) = super::trim_page(items, limit, ascending);
    Ok(Page {
        items,
        has_more,
        last_seq,
    })
}

#[async_trait]
impl AnnouncementStore for PostgresStore {
    async fn create_announcement(
        &self,
        title: &str,
        message: &str,
        author: &str,
        at: Timestamp,
    ) -> StoreResult<Announcement> {
        write_tx!(self, |c| announce(c, title, message, author, at))
    }

    async fn announcements(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<Page<Announcement>> {
        read_tx!(self, |c| announcements(c, after, limit))
    }
}
