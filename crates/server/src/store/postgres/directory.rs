//! The user directory (search by id or display name) and profile changes, in PostgreSQL.

use super::users::{from_row, load, ACCOUNTS_LOCK, COLUMNS};
use super::{advisory_lock, sql, write_tx, PostgresStore};
use crate::store::{display_key, search_key, DirectoryStore, StoreError, StoreResult, UserRecord};
use async_trait::async_trait;
use sqlx::PgConnection;

/// `text` as a `LIKE` pattern matching it literally (escape character `\`).
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

async fn set_display_name(
    c: &mut PgConnection,
    user: &str,
    display_name: &str,
) -> StoreResult<UserRecord> {
    advisory_lock(c, ACCOUNTS_LOCK).await?;
    if load(c, user).await?.is_none() {
        return Err(StoreError::NotFound(format!("no user {user}")));
    }
    let key = display_key(display_name);
    let clash: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM users WHERE name <> $2 AND (display_key = $1 OR name = $1) LIMIT 1",
    )
    .bind(&key)
    .bind(user)
    .fetch_optional(&mut *c)
    .await?;
    if clash.is_some() {
        return Err(StoreError::Conflict(format!(
            "the display name {display_name:?} is taken, or too like another user's name"
        )));
    }
    sqlx::query(
        "UPDATE users SET display_name = $2, display_key = $3, search_key = $4 WHERE name = $1",
    )
    .bind(user)
    .bind(display_name)
    .bind(&key)
    .bind(search_key(display_name))
    .execute(&mut *c)
    .await?;
    load(c, user)
        .await?
        .ok_or_else(|| StoreError::Internal("user vanished".into()))
}

#[async_trait]
impl DirectoryStore for PostgresStore {
    async fn directory(
        &self,
        q: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<(Vec<UserRecord>, bool)> {
        let q = q.map(|q| like_literal(&search_key(q)));
        let after = after.unwrap_or("");
        self.observe(async {
            // Ids are lowercase ASCII, so the folded query matches them as it is; a word of
            // the display name starts after a space of the key (prefixed with one). COLLATE
            // "C": ids order by bytes, as in SQLite.
            let rows = sqlx::query(sql!(
                "SELECT {COLUMNS} FROM users
                 WHERE name COLLATE \"C\" > $1 AND ($2::text IS NULL OR name LIKE $2 || '%'
                       OR ' ' || COALESCE(search_key, '') LIKE '% ' || $2 || '%')
                 ORDER BY name COLLATE \"C\" LIMIT $3"
            ))
            .bind(after)
            .bind(&q)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
            let mut items: Vec<UserRecord> =
                rows.iter().map(from_row).collect::<StoreResult<_>>()?;
            let more = items.len() > limit as usize;
            items.truncate(limit as usize);
            Ok((items, more))
        })
        .await
    }

    async fn set_display_name(&self, user: &str, display_name: &str) -> StoreResult<UserRecord> {
        write_tx!(self, |c| set_display_name(c, user, display_name))
    }
}
