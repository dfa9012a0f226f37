//! The local cache: one SQLite file per account (WAL, forward-only migrations) holding
//! conversations, participants, messages, read markers, notifications, the outbox, drafts,
//! where the user was (view state), sync cursors, the outbox's files and the download cache of
//! attachments (kept in a files folder beside the database, `<name>.files/`), and a
//! change feed (a monotonic id per change, written by triggers) that tells an embedding UI
//! what changed since it last looked. Full-text search has a file of its own beside it
//! (`<name>.search.db`, FTS5), kept by a thread of its own from the messages (cache/index.rs):
//! derived data, built again whenever it is missing or unreadable.
//!
//! Merging is idempotent: messages are unique per conversation and `seq` (the server makes
//! a `clientId`'s retries one message), notifications per id and `seq`; merging the same
//! data twice changes nothing.
//! A message with a higher `rev` replaces the cached copy (edits, tombstones, reactions);
//! each conversation holds the revision up to which every change is applied.
//! `secure_delete` is on: what a deletion or an edit removes is overwritten in the file,
//! and the full-text index erases it too.
//! `synced_seq` is the end of the contiguous prefix of a conversation that is cached: every
//! `seq` up to it is here, so catch-up asks the server only for what comes after.
//!
//! Locking: one `std::sync::Mutex` around the connection, the cache file's only writer.
//! Every call is a short local SQLite operation; nothing awaits while holding it.

mod conversations;
mod downloads;
mod drafts;
mod feed;
mod index;
mod messages;
mod notifications;
mod outbox;
mod outbox_files;
mod revisions;
mod schema;
mod search;
mod view;

pub use conversations::NotifyLevel;
pub use downloads::{Download, DownloadInfo, Variant, DEFAULT_DOWNLOAD_LIMIT};
pub use drafts::Draft;
pub use feed::MessageFeed;
pub use notifications::UnsyncedReads;
pub use outbox::{OutboxEntry, OutboxState};
pub use outbox_files::{outbox_folder, NewFile, OutboxFile};
pub use revisions::{Departure, Memberships};
pub use search::SearchHit;
pub use view::ScrollAnchor;

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use tidings_proto::{ConversationKind, Message, Participant, Timestamp};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the cache was written by a newer Tidings (schema version {0}); update Tidings or remove the cache")]
    Newer(usize),
    #[error("this cache belongs to {0}, not {1}")]
    OtherAccount(String, String),
    #[error("cannot create the cache directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("the search index could not be brought up to date: {0}")]
    Index(String),
}

pub type CacheResult<T> = Result<T, CacheError>;

/// A conversation as cached, for display.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CachedConversation {
    pub id: String,
    pub kind: ConversationKind,
    pub title: Option<String>,
    pub created_by: String,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: Timestamp,
    pub last_seq: i64,
    pub synced_seq: i64,
    pub read_seq: i64,
    pub unread_count: i64,
    /// The revision held: every change of the timeline up to it is cached.
    pub rev: i64,
    /// The user left (or was removed): kept and readable, not sent to.
    pub left: bool,
    /// Who removed the user, when the engine saw it happen (the live `CONVERSATION_LEFT`).
    /// `None` when they are in, left themselves, or the engine only learnt that they are
    /// out (a listing without it, a 403) while it was not connected.
    pub removed_by: Option<String>,
    /// The user left by themselves (here or on another device, seen live).
    pub left_themselves: bool,
    /// Which messages raise a notification here (local to this device).
    pub notify_level: NotifyLevel,
    /// `notifyLevel` is `none`.
    pub muted: bool,
    pub participants: Vec<Participant>,
    pub last_message: Option<Message>,
    /// Messages written here and not yet confirmed by the server.
    pub pending: i64,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Change {
    pub id: i64,
    /// `message`, `conversation`, `notification` or `outbox`.
    pub kind: String,
    /// The conversation id (messages, conversations, outbox) or notification id.
    pub key: String,
}

/// A commit that is on disk when it returns, for what only this device holds (the
/// outbox: what the user wrote). The cache commits with `synchronous = NORMAL` in WAL mode:
/// a commit survives a crash of the app but may be lost, whole, to a power cut; everything
/// else in the cache is a copy of the server's and is fetched again. `begin` switches the
/// connection to `FULL` (SQLite syncs the WAL at the commit, with every frame before it),
/// `end` back to `NORMAL`; if the commit fails between them, the next `Durable` or
/// reopening sets it again, and a `FULL` left on only costs speed.
pub(crate) struct Durable;

impl Durable {
    pub(crate) fn begin(conn: &Connection) -> CacheResult<Durable> {
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(Durable)
    }

    pub(crate) fn end(self, conn: &Connection) -> CacheResult<()> {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(())
    }
}

/// The cache connection's own checkpoint threshold, in pages of write-ahead log (SQLite's
/// default is 1,000). The indexing thread checkpoints the log after each of its passes
/// (cache/index.rs), so the writer's own checkpoint is the bound for when it falls behind.
pub(crate) const WAL_AUTOCHECKPOINT: u32 = 1000;

/// The cache of one account.
#[derive(Debug)]
pub struct Cache {
    conn: Mutex<Connection>,
    /// The files folder: outbox copies and downloaded attachments.
    files: PathBuf,
    /// The full-text index's thread (its file is attached to `conn` as `idx`).
    index: index::Indexer,
}

impl Cache {
    /// Where the cache named `name` (an account, a profile) lives under `home`:
    /// `home/cache/<name>.db`, the name made one plain file name
    /// ([`crate::fsname::safe_file_name`]).
    pub fn path_in(home: &Path, name: &str) -> PathBuf {
        let safe = crate::fsname::safe_file_name(name);
        home.join("cache").join(format!("{safe}.db"))
    }

    /// Opens (creating and migrating as needed) the cache at `path`.
    pub fn open(path: &Path) -> CacheResult<Cache> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000; PRAGMA secure_delete = ON;",
        )?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)?;
        schema::migrate(&mut conn)?;
        let index = index::Indexer::start(path)?;
        conn.execute(
            "ATTACH DATABASE ?1 AS idx",
            [index::path_of(path).to_string_lossy()],
        )?;
        Ok(Cache {
            conn: Mutex::new(conn),
            files: path.with_extension("files"),
            index,
        })
    }

    /// Waits until the full-text index holds every message (and every edit and deletion)
    /// committed before the call, at most `timeout`; returns whether it does. Search never
    /// needs this (it reads what the index has not caught up with from the messages); the
    /// benchmark counts ingest as done when the index is, and tests look at the files. The
    /// changes the index has applied are then removed from the cache (their old text
    /// erased), as the next write would.
    pub fn wait_indexed(&self, timeout: std::time::Duration) -> CacheResult<bool> {
        let target = {
            let conn = self.conn();
            index::Progress {
                upto: conn.query_row("SELECT coalesce(max(rowid), 0) FROM messages", [], |r| {
                    r.get(0)
                })?,
                edits_upto: conn.query_row(
                    "SELECT coalesce(max(id), 0) FROM search_pending",
                    [],
                    |r| r.get(0),
                )?,
            }
        };
        let done = self
            .index
            .wait_for(target, timeout)
            .map_err(CacheError::Index)?;
        if done {
            messages::prune_pending(&self.conn())?;
        }
        Ok(done)
    }

    /// The folder beside the database that holds the outbox's copies of files and the
    /// downloaded attachments (`<name>.files/`).
    pub fn files_dir(&self) -> &Path {
        &self.files
    }

    /// A setting kept in this cache (see the keys where they are used).
    pub fn setting(&self, key: &str) -> CacheResult<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> CacheResult<()> {
        self.conn().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Holds the indexing thread before its next pass, or lets it go on (tests).
    #[cfg(test)]
    pub(crate) fn hold_index(&self, held: bool) {
        self.index.hold(held);
    }

    /// How many messages the full-text index itself matches for an FTS5 query, once it has
    /// caught up (tests: what the index holds, not what search makes of it).
    #[cfg(test)]
    pub(crate) fn index_matches(&self, query: &str) -> i64 {
        assert!(self
            .wait_indexed(std::time::Duration::from_secs(60))
            .unwrap());
        self.conn()
            .query_row(
                "SELECT count(*) FROM idx.messages_fts WHERE messages_fts MATCH ?1",
                [query],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// How the connection commits now: 1 (`NORMAL`, the cache's pages) or 2 (`FULL`).
    #[cfg(test)]
    pub(crate) fn synchronous(&self) -> i64 {
        self.conn()
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap_or(-1)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds the cache to an account (server and user), or checks that it is bound to it.
    pub fn bind_account(&self, server: &str, user: &str) -> CacheResult<()> {
        let conn = self.conn();
        let existing: Option<String> = conn
            .query_row("SELECT value FROM account WHERE key = 'user'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match existing {
            Some(u) if u != user => Err(CacheError::OtherAccount(u, user.to_owned())),
            Some(_) => Ok(()),
            None => {
                conn.execute(
                    "INSERT INTO account (key, value) VALUES ('user', ?1), ('server', ?2)",
                    params![user, server],
                )?;
                Ok(())
            }
        }
    }

    /// The user this cache belongs to, if bound.
    pub fn account_user(&self) -> CacheResult<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM account WHERE key = 'user'", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// A sync cursor (0 when unset).
    pub fn cursor(&self, key: &str) -> CacheResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM sync WHERE key = ?1", [key], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    /// Changes after `after`, oldest first, at most `limit`.
    pub fn changes_since(&self, after: i64, limit: u32) -> CacheResult<Vec<Change>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, kind, key FROM changes WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, limit], |r| {
            Ok(Change {
                id: r.get(0)?,
                kind: r.get(1)?,
                key: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest change id (0 when nothing changed yet).
    pub fn latest_change(&self) -> CacheResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT coalesce(max(id), 0) FROM changes", [], |r| r.get(0))?)
    }

    /// Drops change-feed entries older than the newest `keep`.
    pub fn prune_changes(&self, keep: i64) -> CacheResult<()> {
        self.conn().execute(
            "DELETE FROM changes WHERE id <= (SELECT coalesce(max(id), 0) FROM changes) - ?1",
            [keep],
        )?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Cache;

    /// A cache in a fresh temporary file (removed with the returned guard).
    pub struct TempCache {
        pub cache: Cache,
        pub dir: std::path::PathBuf,
    }

    impl Drop for TempCache {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A plain text message from `sender` at `seq` (no revision).
    pub fn msg(cid: &str, seq: i64, sender: &str, text: &str) -> tidings_proto::Message {
        tidings_proto::Message {
            id: format!("m{cid}{seq}"),
            conversation_id: cid.into(),
            seq,
            sender_id: sender.into(),
            client_id: format!("{sender}-{cid}-{seq}"),
            content: text.into(),
            content_type: tidings_proto::ContentType::Text,
            created_at: tidings_proto::Timestamp(seq),
            ..Default::default()
        }
    }

    pub fn temp_cache(tag: &str) -> TempCache {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tidings-cache-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let cache = Cache::open(&dir.join("cache.db")).expect("open cache");
        TempCache { cache, dir }
    }
}
