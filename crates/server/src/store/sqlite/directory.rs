//! The user directory (search by id or display name) and profile changes.

use super::users::{from_row, load, COLUMNS};
use super::SqliteStore;
use crate::store::{display_key, search_key, DirectoryStore, StoreError, StoreResult, UserRecord};
use async_trait::async_trait;
use rusqlite::params;

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

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn directory(
        &self,
        q: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<(Vec<UserRecord>, bool)> {
        let q = q.map(|q| like_literal(&search_key(q)));
        let after = after.unwrap_or("").to_owned();
        self.read(move |c| {
            // Ids are lowercase ASCII, so the folded query matches them as it is; a word of
            // the display name starts after a space of the key (prefixed with one).
            let mut items: Vec<UserRecord> = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM users
                     WHERE name > ?1 AND (?2 IS NULL OR name LIKE ?2 || '%' ESCAPE '\\'
                           OR ' ' || COALESCE(search_key, '') LIKE '% ' || ?2 || '%' ESCAPE '\\')
                     ORDER BY name LIMIT ?3"
                ))?
                .query_map(params![after, q, i64::from(limit) + 1], from_row)?
                .collect::<rusqlite::Result<_>>()?;
            let more = items.len() > limit as usize;
            items.truncate(limit as usize);
            Ok((items, more))
        })
        .await
    }

    async fn set_display_name(&self, user: &str, display_name: &str) -> StoreResult<UserRecord> {
        let (user, display_name) = (user.to_owned(), display_name.to_owned());
        self.write(move |c| {
            if load(c, &user)?.is_none() {
                return Err(StoreError::NotFound(format!("no user {user}")));
            }
            let key = display_key(&display_name);
            let clash = c
                .prepare_cached(
                    "SELECT 1 FROM users WHERE name <> ?2 AND (display_key = ?1 OR name = ?1)",
                )?
                .exists(params![key, user])?;
            if clash {
                return Err(StoreError::Conflict(format!(
                    "the display name {display_name:?} is taken, or too like another user's name"
                )));
            }
            c.execute(
                "UPDATE users SET display_name = ?2, display_key = ?3, search_key = ?4 WHERE name = ?1",
                params![user, display_name, key, search_key(&display_name)],
            )?;
            load(c, &user)?.ok_or_else(|| StoreError::Internal("user vanished".into()))
        })
        .await
    }
}
