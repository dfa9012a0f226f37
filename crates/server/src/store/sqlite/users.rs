//! Accounts and refresh tokens.

use super::{optional, SqliteStore};
use crate::store::{
    display_key, RefreshRecord, Rotation, StoreError, StoreResult, UserRecord, UserStore,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use tidings_proto::Timestamp;

pub(super) const COLUMNS: &str = "name, display_name, password_hash, roles, created_at";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
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
            if load(c, &user.name)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "the username {} is taken",
                    user.name
                )));
            }
            let key = display_key(&user.display_name);
            let clash = c
                .prepare_cached(
                    "SELECT 1 FROM users WHERE display_key = ?1 OR name = ?1 OR display_key = ?2",
                )?
                .exists(params![key, display_key(&user.name)])?;
            if clash {
                return Err(StoreError::Conflict(format!(
                    "the display name {:?} is taken, or too like another user's name",
                    user.display_name
                )));
            }
            c.execute(
                "INSERT INTO users (name, display_name, password_hash, roles, created_at, display_key, search_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    user.name,
                    user.display_name,
                    user.password_hash,
                    user.roles.join(","),
                    user.created_at.millis(),
                    key,
                    crate::store::search_key(&user.display_name)
                ],
            )?;
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
                "INSERT INTO refresh_tokens (hash, user_name, expires_at, family)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    &token.hash[..],
                    token.user,
                    token.expires_at.millis(),
                    token.family
                ],
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
    ) -> StoreResult<Rotation> {
        self.write(move |c| {
            type Row = (String, String, bool, i64, Option<i64>);
            let row: Option<Row> = optional(c.query_row(
                "SELECT user_name, family, revoked, expires_at, rotated_at
                 FROM refresh_tokens WHERE hash = ?1",
                [&old[..]],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            ))?;
            let Some((user, family, revoked, expires_at, rotated_at)) = row else {
                return Ok(Rotation::Refused);
            };
            if revoked || expires_at <= now.millis() {
                return Ok(Rotation::Refused);
            }
            match rotated_at {
                Some(at) if at <= now.millis() - grace_ms => {
                    c.execute(
                        "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?1",
                        [&family],
                    )?;
                    return Ok(Rotation::Reused { user, family });
                }
                // A retry within the grace period: the successor handed out before is
                // dropped, so the family keeps one live token.
                Some(_) => c.execute(
                    "UPDATE refresh_tokens SET revoked = 1
                     WHERE family = ?1 AND rotated_at IS NULL AND revoked = 0",
                    [&family],
                )?,
                None => c.execute(
                    "UPDATE refresh_tokens SET rotated_at = ?2 WHERE hash = ?1",
                    params![&old[..], now.millis()],
                )?,
            };
            c.execute(
                "INSERT INTO refresh_tokens (hash, user_name, expires_at, family)
                 VALUES (?1, ?2, ?3, ?4)",
                params![&new[..], user, new_expires_at.millis(), family],
            )?;
            Ok(Rotation::Rotated { user, family })
        })
        .await
    }

    async fn revoke_refresh_family(&self, hash: [u8; 32]) -> StoreResult<Option<String>> {
        self.write(move |c| {
            let family: Option<String> = optional(c.query_row(
                "SELECT family FROM refresh_tokens WHERE hash = ?1",
                [&hash[..]],
                |r| r.get(0),
            ))?;
            let Some(family) = family else {
                return Ok(None);
            };
            let revoked = c.execute(
                "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?1 AND revoked = 0",
                [&family],
            )?;
            Ok((revoked > 0).then_some(family))
        })
        .await
    }
}
