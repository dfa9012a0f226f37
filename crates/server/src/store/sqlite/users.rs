//! Accounts and refresh tokens.

use super::{optional, SqliteStore};
use crate::store::{RefreshRecord, StoreError, StoreResult, UserRecord, UserStore};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use tidings_proto::Timestamp;

const COLUMNS: &str = "name, display_name, password_hash, roles, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    let roles: String = r.get(3)?;
    Ok(UserRecord {
        name: r.get(0)?,
        display_name: r.get(1)?,
        password_hash: r.get(2)?,
        roles: roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: Timestamp(r.get(4)?),
    })
}

pub(super) fn load(conn: &Connection, name: &str) -> StoreResult<Option<UserRecord>> {
    optional(conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE name = ?1"),
        [name],
        from_row,
    ))
}

/// The names among `names` that have no account, sorted.
pub(super) fn missing(conn: &Connection, names: &[String]) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM users WHERE name = ?1")?;
    let mut out = Vec::new();
    for n in names {
        if !stmt.exists([n])? {
            out.push(n.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

pub(super) fn unknown_users(names: &[String]) -> StoreError {
    StoreError::NotFound(format!("unknown users: {}", names.join(", ")))
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: UserRecord) -> StoreResult<UserRecord> {
        self.write(move |c| {
            let inserted = c.execute(
                "INSERT INTO users (name, display_name, password_hash, roles, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
                params![
                    user.name,
                    user.display_name,
                    user.password_hash,
                    user.roles.join(","),
                    user.created_at.millis()
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "the username {} is taken",
                    user.name
                )));
            }
            Ok(user)
        })
        .await
    }

    async fn user(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        let name = name.to_owned();
        self.read(move |c| load(c, &name)).await
    }

    async fn users(&self, names: &[String]) -> StoreResult<Vec<UserRecord>> {
        let names = names.to_vec();
        self.read(move |c| {
            let mut out = Vec::new();
            for n in &names {
                if let Some(u) = load(c, n)? {
                    out.push(u);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn add_refresh_token(&self, token: RefreshRecord) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO refresh_tokens (hash, user_name, expires_at) VALUES (?1, ?2, ?3)",
                params![&token.hash[..], token.user, token.expires_at.millis()],
            )?;
            // Expired tokens carry no information: prune them as new ones come.
            c.execute(
                "DELETE FROM refresh_tokens WHERE expires_at < ?1",
                [token.expires_at.millis() - 400 * 86_400_000],
            )?;
            Ok(())
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        old: [u8; 32],
        new: [u8; 32],
        new_expires_at: Timestamp,
        now: Timestamp,
        grace_ms: i64,
    ) -> StoreResult<Option<String>> {
        self.write(move |c| {
            let user: Option<String> = optional(c.query_row(
                "UPDATE refresh_tokens SET rotated_at = coalesce(rotated_at, ?2)
                 WHERE hash = ?1 AND revoked = 0 AND expires_at > ?2
                   AND (rotated_at IS NULL OR rotated_at > ?2 - ?3)
                 RETURNING user_name",
                params![&old[..], now.millis(), grace_ms],
                |r| r.get(0),
            ))?;
            if let Some(user) = &user {
                c.execute(
                    "INSERT INTO refresh_tokens (hash, user_name, expires_at) VALUES (?1, ?2, ?3)",
                    params![&new[..], user, new_expires_at.millis()],
                )?;
            }
            Ok(user)
        })
        .await
    }

    async fn revoke_refresh_token(&self, hash: [u8; 32]) -> StoreResult<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE refresh_tokens SET revoked = 1 WHERE hash = ?1 AND revoked = 0",
                [&hash[..]],
            )? > 0)
        })
        .await
    }
}
