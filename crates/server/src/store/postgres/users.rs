//! Accounts and refresh tokens in PostgreSQL.

use super::{advisory_lock, sql, write_tx, PostgresStore};
use crate::store::{
    display_key, RefreshRecord, Rotation, StoreError, StoreResult, UserRecord, UserStore,
};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use tidings_proto::Timestamp;

pub(super) const COLUMNS: &str = "name, display_name, password_hash, roles, created_at";

/// The advisory lock that account writes (names and display names) take.
pub(super) const ACCOUNTS_LOCK: &str = "tidings:accounts";

pub(super) fn from_row(r: &PgRow) -> StoreResult<UserRecord> {
    let roles: String = r.try_get(3)?;
    Ok(UserRecord {
        name: r.try_get(0)?,
        display_name: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        roles: roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: Timestamp(r.try_get(4)?),
    })
}

pub(super) async fn load(c: &mut PgConnection, name: &str) -> StoreResult<Option<UserRecord>> {
    sqlx::query(sql!("SELECT {COLUMNS} FROM users WHERE name = $1"))
        .bind(name)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The names among `names` that have no account, sorted.
pub(super) async fn missing(c: &mut PgConnection, names: &[String]) -> StoreResult<Vec<String>> {
    let found: Vec<String> = sqlx::query_scalar("SELECT name FROM users WHERE name = ANY($1)")
        .bind(names)
        .fetch_all(c)
        .await?;
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| !found.contains(n))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

pub(super) fn unknown_users(names: &[String]) -> StoreError {
    StoreError::NotFound(format!("unknown users: {}", names.join(", ")))
}

async fn create(c: &mut PgConnection, user: UserRecord) -> StoreResult<UserRecord> {
    advisory_lock(c, ACCOUNTS_LOCK).await?;
    if load(c, &user.name).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "the username {} is taken",
            user.name
        )));
    }
    let key = display_key(&user.display_name);
    let clash: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM users WHERE display_key = $1 OR name = $1 OR display_key = $2 LIMIT 1",
    )
    .bind(&key)
    .bind(display_key(&user.name))
    .fetch_optional(&mut *c)
    .await?;
    if clash.is_some() {
        return Err(StoreError::Conflict(format!(
            "the display name {:?} is taken, or too like another user's name",
            user.display_name
        )));
    }
    sqlx::query(
        "INSERT INTO users (name, display_name, password_hash, roles, created_at, display_key, search_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&user.name)
    .bind(&user.display_name)
    .bind(&user.password_hash)
    .bind(user.roles.join(","))
    .bind(user.created_at.millis())
    .bind(&key)
    .bind(crate::store::search_key(&user.display_name))
    .execute(c)
    .await?;
    Ok(user)
}

async fn rotate(
    c: &mut PgConnection,
    old: [u8; 32],
    new: [u8; 32],
    new_expires_at: Timestamp,
    now: Timestamp,
    grace_ms: i64,
) -> StoreResult<Rotation> {
    // The row's lock makes two exchanges of one token (from two nodes) take turns.
    let row = sqlx::query(
        "SELECT user_name, family, revoked, expires_at, rotated_at
         FROM refresh_tokens WHERE hash = $1 FOR UPDATE",
    )
    .bind(&old[..])
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Refused);
    };
    let user: String = row.try_get(0)?;
    let family: String = row.try_get(1)?;
    let revoked: bool = row.try_get(2)?;
    let expires_at: i64 = row.try_get(3)?;
    let rotated_at: Option<i64> = row.try_get(4)?;
    if revoked || expires_at <= now.millis() {
        return Ok(Rotation::Refused);
    }
    match rotated_at {
        Some(at) if at <= now.millis() - grace_ms => {
            sqlx::query("UPDATE refresh_tokens SET revoked = TRUE WHERE family = $1")
                .bind(&family)
                .execute(&mut *c)
                .await?;
            return Ok(Rotation::Reused { user, family });
        }
        // A retry within the grace period: the successor handed out before is dropped, so
        // the family keeps one live token.
        Some(_) => {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked = TRUE
                 WHERE family = $1 AND rotated_at IS NULL AND NOT revoked",
            )
            .bind(&family)
            .execute(&mut *c)
            .await?
        }
        None => {
            sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE hash = $1")
                .bind(&old[..])
                .bind(now.millis())
                .execute(&mut *c)
                .await?
        }
    };
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, user_name, expires_at, family) VALUES ($1, $2, $3, $4)",
    )
    .bind(&new[..])
    .bind(&user)
    .bind(new_expires_at.millis())
    .bind(&family)
    .execute(c)
    .await?;
    Ok(Rotation::Rotated { user, family })
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, user: UserRecord) -> StoreResult<UserRecord> {
        write_tx!(self, |c| create(c, user))
    }

    async fn user(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        self.observe(async {
            let mut c = self.pool.acquire().await?;
            load(&mut c, name).await
        })
        .await
    }

    async fn users(&self, names: &[String]) -> StoreResult<Vec<UserRecord>> {
        self.observe(async {
            let rows = sqlx::query(sql!("SELECT {COLUMNS} FROM users WHERE name = ANY($1)"))
                .bind(names)
                .fetch_all(&self.pool)
                .await?;
            let mut found: Vec<UserRecord> =
                rows.iter().map(from_row).collect::<StoreResult<_>>()?;
            // In the order asked for, as the SQLite store answers.
            let mut out = Vec::with_capacity(found.len());
            for n in names {
                if let Some(i) = found.iter().position(|u| &u.name == n) {
                    out.push(found.swap_remove(i));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn add_refresh_token(&self, token: RefreshRecord) -> StoreResult<()> {
        write_tx!(self, |c| async move {
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, user_name, expires_at, family)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&token.hash[..])
            .bind(&token.user)
            .bind(token.expires_at.millis())
            .bind(&token.family)
            .execute(&mut *c)
            .await?;
            // Expired tokens carry no information: prune them as new ones come.
            sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
                .bind(token.expires_at.millis() - 400 * 86_400_000)
                .execute(&mut *c)
                .await?;
            Ok(())
        })
    }

    async fn rotate_refresh_token(
        &self,
        old: [u8; 32],
        new: [u8; 32],
        new_expires_at: Timestamp,
        now: Timestamp,
        grace_ms: i64,
    ) -> StoreResult<Rotation> {
        write_tx!(self, |c| rotate(c, old, new, new_expires_at, now, grace_ms))
    }

    async fn revoke_refresh_family(&self, hash: [u8; 32]) -> StoreResult<Option<String>> {
        write_tx!(self, |c| async move {
            let family: Option<String> =
                sqlx::query_scalar("SELECT family FROM refresh_tokens WHERE hash = $1")
                    .bind(&hash[..])
                    .fetch_optional(&mut *c)
                    .await?;
            let Some(family) = family else {
                return Ok(None);
            };
            let revoked = sqlx::query(
                "UPDATE refresh_tokens SET revoked = TRUE WHERE family = $1 AND NOT revoked",
            )
            .bind(&family)
            .execute(&mut *c)
            .await?
            .rows_affected();
            Ok((revoked > 0).then_some(family))
        })
    }
}
