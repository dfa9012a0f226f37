//! The database schema as forward-only migrations, numbered by `PRAGMA user_version`.
//! Never edit a migration that has shipped: add the next one.

use crate::store::{StoreError, StoreResult};
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: accounts, conversations, messages, notifications, announcements.
    "
    CREATE TABLE users (
        name             TEXT PRIMARY KEY NOT NULL,
        display_name     TEXT NOT NULL,
        password_hash    TEXT,
        roles            TEXT NOT NULL DEFAULT '',
        created_at       INTEGER NOT NULL,
        notification_seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE refresh_tokens (
        hash       BLOB PRIMARY KEY NOT NULL,
        user_name  TEXT NOT NULL REFERENCES users(name),
        expires_at INTEGER NOT NULL,
        revoked    INTEGER NOT NULL DEFAULT 0,  -- signed out: refused from then on
        rotated_at INTEGER                      -- replaced by a refresh: accepted for a grace period
    );
    CREATE TABLE conversations (
        id            TEXT PRIMARY KEY NOT NULL,
        kind          TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
        title         TEXT,
        direct_key    TEXT UNIQUE,
        created_by    TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        last_seq      INTEGER NOT NULL DEFAULT 0,
        last_activity INTEGER NOT NULL
    );
    CREATE TABLE participants (
        conversation_id TEXT NOT NULL REFERENCES conversations(id),
        user_name       TEXT NOT NULL REFERENCES users(name),
        read_seq        INTEGER NOT NULL DEFAULT 0,
        joined_at       INTEGER NOT NULL,
        PRIMARY KEY (conversation_id, user_name)
    ) WITHOUT ROWID;
    CREATE INDEX participants_by_user ON participants(user_name);
    CREATE TABLE messages (
        conversation_id TEXT NOT NULL REFERENCES conversations(id),
        seq             INTEGER NOT NULL,
        id              TEXT NOT NULL UNIQUE,
        sender          TEXT NOT NULL,
        client_id       TEXT NOT NULL,
        content         TEXT NOT NULL,
        content_type    TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        PRIMARY KEY (conversation_id, seq)
    );
    CREATE UNIQUE INDEX messages_by_client_id ON messages(sender, client_id);
    CREATE TABLE notifications (
        user_name       TEXT NOT NULL REFERENCES users(name),
        seq             INTEGER NOT NULL,
        id              TEXT NOT NULL UNIQUE,
        kind            TEXT NOT NULL,
        title           TEXT NOT NULL,
        message         TEXT NOT NULL,
        data            TEXT,
        conversation_id TEXT,
        url             TEXT,
        created_at      INTEGER NOT NULL,
        read_at         INTEGER,
        PRIMARY KEY (user_name, seq)
    );
    CREATE TABLE announcements (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        id         TEXT NOT NULL UNIQUE,
        title      TEXT NOT NULL,
        message    TEXT NOT NULL,
        author     TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    ",
    // 2: refresh-token families (one per sign-in) and unique display names.
    "
    ALTER TABLE refresh_tokens ADD COLUMN family TEXT;
    UPDATE refresh_tokens SET family = lower(hex(hash));
    CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family);
    ALTER TABLE users ADD COLUMN display_key TEXT;
    CREATE UNIQUE INDEX users_by_display_key ON users(display_key);
    ",
    // 3: the change log (revisions), edits, tombstones, replies, mentions, system entries,
    // reactions, and the directory's search key. Existing entries get rev = seq, so a
    // conversation's rev starts at its last seq and clients holding none converge.
    "
    ALTER TABLE conversations ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN edited_at INTEGER;
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN reply_to_id TEXT;
    ALTER TABLE messages ADD COLUMN reply_to_seq INTEGER;
    ALTER TABLE messages ADD COLUMN mentions TEXT;  -- JSON array of user ids, NULL: none
    ALTER TABLE messages ADD COLUMN system TEXT;    -- JSON SystemEntry, NULL: a message
    UPDATE messages SET rev = seq;
    UPDATE conversations SET rev = last_seq;
    CREATE INDEX messages_by_rev ON messages(conversation_id, rev);
    CREATE TABLE reactions (
        conversation_id TEXT NOT NULL,
        message_id      TEXT NOT NULL,
        emoji           TEXT NOT NULL,
        user_name       TEXT NOT NULL,
        at              INTEGER NOT NULL,
        UNIQUE (message_id, emoji, user_name)
    );
    ALTER TABLE users ADD COLUMN search_key TEXT;
    ",
    // 4: attachments (issue 16). A blob is stored bytes, named by their SHA-256 (shared by
    // identical files); an attachment is one upload: unfinished while blob_key is NULL,
    // then finished, and used once message_id is set. Thumbnails are blobs too.
    "
    CREATE TABLE blobs (
        key        TEXT PRIMARY KEY NOT NULL,
        size       INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE attachments (
        id              TEXT PRIMARY KEY NOT NULL,
        uploader        TEXT NOT NULL REFERENCES users(name),
        client_id       TEXT,
        conversation_id TEXT NOT NULL REFERENCES conversations(id),
        name            TEXT NOT NULL,
        declared_type   TEXT,
        length          INTEGER NOT NULL,        -- Upload-Length
        upload_offset   INTEGER NOT NULL DEFAULT 0,  -- bytes written and fsynced
        created_at      INTEGER NOT NULL,
        expires_at      INTEGER,                 -- NULL once a message uses it
        blob_key        TEXT REFERENCES blobs(key),
        size            INTEGER,
        content_type    TEXT,
        width           INTEGER,
        height          INTEGER,
        thumbnail_key   TEXT REFERENCES blobs(key),
        message_id      TEXT,
        position        INTEGER
    );
    CREATE UNIQUE INDEX attachments_by_client_id ON attachments(uploader, client_id)
        WHERE client_id IS NOT NULL;
    CREATE INDEX attachments_by_message ON attachments(message_id);
    CREATE INDEX attachments_by_blob ON attachments(blob_key);
    CREATE INDEX attachments_by_thumbnail ON attachments(thumbnail_key);
    CREATE INDEX attachments_by_expiry ON attachments(expires_at);
    ",
];

/// Brings the database up to the newest schema, in one transaction per migration.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Internal(format!(
            "the database has schema version {current}, newer than this tidings-server knows ({}); \
             run the newer server or restore a backup",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    backfill_display_keys(conn)?;
    backfill_search_keys(conn)
}

/// Gives accounts created before migration 3 their directory search key.
fn backfill_search_keys(conn: &mut Connection) -> StoreResult<()> {
    backfill_keys(
        conn,
        "SELECT name, display_name FROM users WHERE search_key IS NULL",
        "UPDATE users SET search_key = ?1 WHERE name = ?2",
        crate::store::search_key,
    )
}

/// Gives accounts created before migration 2 their display key (computed in Rust, so not
/// in the SQL). Of existing duplicates the first keeps the key; the others stay without
/// one (they were created before names had to be unique).
fn backfill_display_keys(conn: &mut Connection) -> StoreResult<()> {
    backfill_keys(
        conn,
        "SELECT name, display_name FROM users WHERE display_key IS NULL ORDER BY created_at",
        "UPDATE OR IGNORE users SET display_key = ?1 WHERE name = ?2",
        crate::store::display_key,
    )
}

/// Writes, with `update` (?1 the key, ?2 the name), the key `key` computes from the
/// display name of each account `select` finds (name, display name), in one transaction.
fn backfill_keys(
    conn: &mut Connection,
    select: &str,
    update: &str,
    key: fn(&str) -> String,
) -> StoreResult<()> {
    let rows: Vec<(String, String)> = conn
        .prepare(select)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if rows.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for (name, display) in rows {
        tx.execute(update, [key(&display), name])?;
    }
    tx.commit()?;
    Ok(())
}
