//! The full-text index over cached messages, in a file of its own beside the cache
//! (`<name>.search.db`) and written by a thread of its own: storing a page of messages and
//! indexing its words then run side by side on two cores (docs/benchmarks.md, "Cache").
//!
//! The index is derived data. It is a contentless FTS5 table (the text lives once, in the
//! cache's `messages`) keyed by the messages' rowids, and `search_state` records how far it
//! has got: every message up to rowid `upto`, and every change in the cache's
//! `search_pending` up to `edits_upto`. Both move in the same transaction as the index
//! itself, so a crash at any point leaves the index behind, never wrong, and the thread
//! catches up when the cache is opened again. A missing, unreadable or foreign index file is
//! built again from the messages. What the index has not caught up with yet, search reads
//! from the messages themselves (cache/search.rs).
//!
//! One pass, in one transaction of the index file reading one snapshot of the cache:
//! - messages after `upto` (at most [`PASS_ROWS`]) enter the index with their text now;
//! - each message changed since `edits_upto` and already indexed leaves it with the text
//!   it had (the first change's `old`, which is what the index holds) and enters it again
//!   with its text now, or stays out if it was deleted;
//! - the cache's own connection removes the applied changes from `search_pending` when it
//!   next writes (with `secure_delete`, so their old text is erased): this thread never
//!   writes the cache file, whose one writer can then keep its transactions deferred (a
//!   read transaction that becomes a write one fails at once, without waiting, if another
//!   connection wrote in between).
//!
//! The thread sleeps until the cache commits messages ([`Indexer::kick`]); nothing polls.
//!
//! After each pass the thread also checkpoints the cache file's write-ahead log (`PASSIVE`:
//! it copies committed pages into the file, taking no lock a writer or reader waits for,
//! and is no transaction, so the cache's writer stays its only one). The cache's own
//! connection then rarely finds a log to copy when it commits, and storing a burst of
//! pages does not stop for it ([`super::WAL_AUTOCHECKPOINT`] still bounds the log if this
//! thread falls behind).

use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// The index file's schema version (`PRAGMA user_version`). A file of another version is
/// built again: it holds nothing that is not in the cache.
const VERSION: i64 = 1;

/// Messages one pass indexes at most: a transaction of bounded size and length.
const PASS_ROWS: i64 = 50_000;

/// The index file's schema. Why these options (schema versions 8 and 9 of the cache had the
/// same ones in the cache's own file): prefix lists of 2 and 3 letters for searches as they
/// are typed, no word positions and no per-message lengths (no phrases and no bm25: results
/// come newest first), merges of 16 segments, and `secure-delete`, so that what an edit or a
/// deletion takes out of the index is erased, not hidden.
const SCHEMA: &str = "
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content = '', detail = none, columnsize = 0,
        tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
    );
    INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
    INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 16);
    INSERT INTO messages_fts (messages_fts, rank) VALUES ('crisismerge', 64);
    CREATE TABLE search_state (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        upto       INTEGER NOT NULL,  -- every message up to this rowid is indexed
        edits_upto INTEGER NOT NULL   -- every search_pending change up to this id is applied
    );
    INSERT INTO search_state (id, upto, edits_upto) VALUES (1, 0, 0);
";

/// Where the index of the cache at `cache` lives: `<name>.search.db` beside it.
pub(super) fn path_of(cache: &Path) -> PathBuf {
    cache.with_extension("search.db")
}

/// How far the index has got (see the module's text).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Progress {
    pub upto: i64,
    pub edits_upto: i64,
}

#[derive(Debug, Default)]
struct State {
    /// The cache committed something since the thread last looked.
    kicked: bool,
    stop: bool,
    /// Tests hold the thread to see search read what the index has not caught up with.
    held: bool,
    /// A pass is running.
    busy: bool,
    /// What the index file holds, as of the thread's last commit.
    done: Progress,
    /// The last pass's failure, cleared by the next pass that succeeds.
    error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The indexing thread of one cache; stopped and joined on drop.
#[derive(Debug)]
pub(super) struct Indexer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Opens the index file, creating it, or building it again when it is unreadable or of
/// another version, with the cache attached as `cache` (read by the passes).
fn open(index: &Path, cache: &Path) -> rusqlite::Result<Connection> {
    match open_as_is(index, cache) {
        Ok(conn) => Ok(conn),
        // Only a file that is not a readable index is removed: an error of the moment (the
        // file busy, the disk full) is the caller's, with the file left alone.
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
            ) =>
        {
            tracing::warn!(path = %index.display(), error = %e, "the search index is unreadable; building it again");
            for suffix in ["", "-wal", "-shm"] {
                let mut p = index.as_os_str().to_owned();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
            open_as_is(index, cache)
        }
        Err(e) => Err(e),
    }
}

fn open_as_is(index: &Path, cache: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        index,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 5000; PRAGMA secure_delete = ON;",
    )?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != VERSION {
        let empty: bool =
            conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM sqlite_master)", [], |r| {
                r.get(0)
            })?;
        if !empty {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB),
                Some(format!("search index of version {version}, not {VERSION}")),
            ));
        }
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} PRAGMA user_version = {VERSION}; COMMIT;"
        ))?;
    }
    // A quick look at the index's own structures: a file cut short or scribbled on fails
    // here rather than at the first search.
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name IN ('search_state', 'messages_fts')",
        [],
        |r| r.get(0),
    )?;
    if tables != 2 {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB),
            Some("not a search index of this cache".into()),
        ));
    }
    conn.query_row("SELECT upto FROM search_state", [], |r| r.get::<_, i64>(0))?;
    conn.execute("ATTACH DATABASE ?1 AS cache", [cache.to_string_lossy()])?;
    Ok(conn)
}

impl Indexer {
    /// Opens (or builds) the index of the cache at `cache` and starts its thread, which
    /// catches up at once with whatever the cache holds.
    pub(super) fn start(cache: &Path) -> rusqlite::Result<Indexer> {
        let conn = open(&path_of(cache), cache)?;
        let done = progress(&conn)?;
        let shared = Arc::new(Shared::default());
        {
            let mut s = shared.lock();
            s.done = done;
            s.kicked = true;
        }
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tidings-index".into())
            .spawn(move || run(conn, worker))
            .map_err(|e| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("cannot start the indexing thread: {e}")),
                )
            })?;
        Ok(Indexer {
            shared,
            thread: Some(thread),
        })
    }

    /// Tells the thread that the cache committed messages or changes to them.
    pub(super) fn kick(&self) {
        self.shared.lock().kicked = true;
        self.shared.changed.notify_all();
    }

    /// Waits until the index holds `target` (what the cache held when the caller looked),
    /// at most `timeout`; returns whether it does. A pass that failed ends the wait with
    /// its error.
    pub(super) fn wait_for(&self, target: Progress, timeout: Duration) -> Result<bool, String> {
        self.kick();
        let deadline = std::time::Instant::now() + timeout;
        let mut s = self.shared.lock();
        loop {
            if s.done.upto >= target.upto && s.done.edits_upto >= target.edits_upto {
                return Ok(true);
            }
            if let Some(e) = &s.error {
                return Err(e.clone());
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            s = self
                .shared
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
impl Indexer {
    /// Holds the thread before its next pass (`true`) or lets it go on.
    /// Holding waits for a running pass to end.
    pub(super) fn hold(&self, held: bool) {
        let mut s = self.shared.lock();
        s.held = held;
        self.shared.changed.notify_all();
        while held && s.busy {
            s = self
                .shared
                .changed
                .wait(s)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn progress(conn: &Connection) -> rusqlite::Result<Progress> {
    conn.query_row("SELECT upto, edits_upto FROM search_state", [], |r| {
        Ok(Progress {
            upto: r.get(0)?,
            edits_upto: r.get(1)?,
        })
    })
}

fn run(mut conn: Connection, shared: Arc<Shared>) {
    loop {
        {
            let mut s = shared.lock();
            while (!s.kicked || s.held) && !s.stop {
                s = shared.changed.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.stop {
                return;
            }
            s.kicked = false;
            s.busy = true;
        }
        // Passes until one finds nothing to do (a burst of pages is indexed in passes of up
        // to PASS_ROWS, each a bigger segment than one page's).
        let mut busy_tries = 0;
        loop {
            let outcome = pass(&mut conn);
            if is_busy(&outcome) && busy_tries < BUSY_TRIES {
                // Another cache of the same file (a second process, a test reopening it)
                // wrote the index between this pass's read and its write: try again.
                busy_tries += 1;
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            busy_tries = 0;
            if matches!(outcome, Ok((_, true))) {
                checkpoint_cache(&conn);
            }
            let mut s = shared.lock();
            let worked = match outcome {
                Ok((done, worked)) => {
                    s.done = done;
                    s.error = None;
                    worked
                }
                Err(e) => {
                    tracing::warn!(error = %e, "indexing cached messages failed; retried at the next change");
                    s.error = Some(e.to_string());
                    false
                }
            };
            let more = worked && !s.held && !s.stop;
            if worked && s.held {
                s.kicked = true; // goes on when let go
            }
            if !more {
                s.busy = false;
            }
            let stop = s.stop;
            drop(s);
            shared.changed.notify_all();
            if stop {
                return;
            }
            if !more {
                break;
            }
        }
    }
}

/// Copies what the cache's write-ahead log holds into the cache file, as far as no reader
/// needs the log (`PASSIVE`: it waits for nobody). A failure is the writer's own
/// checkpoint's to make up for, so it is only logged.
fn checkpoint_cache(conn: &Connection) {
    if let Err(e) = conn.query_row("PRAGMA cache.wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::debug!(error = %e, "checkpointing the cache's log failed");
    }
}

/// How many times a pass that found the index file busy is tried again before it fails.
const BUSY_TRIES: u32 = 500;

fn is_busy<T>(outcome: &rusqlite::Result<T>) -> bool {
    matches!(outcome, Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy))
}

/// One pass (see the module's text): how far the index has got, and whether this pass did
/// anything (another cache of the same file may have done it).
fn pass(conn: &mut Connection) -> rusqlite::Result<(Progress, bool)> {
    // Deferred: the write lock is the index file's alone; the cache is only read, from one
    // snapshot taken at its first read.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let was = progress(&tx)?;
    let top: i64 = tx.query_row(
        "SELECT coalesce(max(rowid), 0) FROM cache.messages",
        [],
        |r| r.get(0),
    )?;
    let upto = top.min(was.upto + PASS_ROWS).max(was.upto);
    // Every change in the snapshot, not a page of them: the text a message enters the index
    // with is its text in this snapshot, after all of them.
    let changes: Vec<(i64, i64)> = tx
        .prepare("SELECT id, msg FROM cache.search_pending WHERE id > ?1 ORDER BY id")?
        .query_map([was.edits_upto], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if upto == was.upto && changes.is_empty() {
        return Ok((was, false));
    }
    if upto > was.upto {
        tx.execute(
            "INSERT INTO messages_fts (rowid, content)
             SELECT rowid, content FROM cache.messages WHERE rowid > ?1 AND rowid <= ?2",
            params![was.upto, upto],
        )?;
    }
    let mut seen = HashSet::new();
    for &(id, msg) in &changes {
        // A message not indexed before this pass went in above (or goes in at a later
        // pass) with its text now; a message's later changes were made after the first,
        // whose `old` is what the index holds.
        if msg > was.upto || !seen.insert(msg) {
            continue;
        }
        tx.execute(
            "INSERT INTO messages_fts (messages_fts, rowid, content)
             SELECT 'delete', msg, old FROM cache.search_pending WHERE id = ?1",
            [id],
        )?;
        tx.execute(
            "INSERT INTO messages_fts (rowid, content)
             SELECT rowid, content FROM cache.messages WHERE rowid = ?1",
            [msg],
        )?;
    }
    let edits_upto = changes.last().map_or(was.edits_upto, |c| c.0);
    tx.execute(
        "UPDATE search_state SET upto = ?1, edits_upto = ?2",
        params![upto, edits_upto],
    )?;
    tx.commit()?;
    Ok((Progress { upto, edits_upto }, true))
}
