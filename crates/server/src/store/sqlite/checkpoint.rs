//! Checkpoints off the writer's thread.
//!
//! In WAL mode every commit appends pages to the log, and a checkpoint copies them back
//! into the database file and `fsync`s it. By default SQLite runs that checkpoint inside
//! the commit that takes the log past 1,000 pages, on the writer's thread, and every send
//! waiting for its receipt waits for the copy and the database's `fsync` too. On the chat
//! benchmark at 10,331 messages/s that put the receipts' p50 at 215-637 ms; with this
//! module it is 26-157 ms (median 42 in 13 runs), and with no checkpoint at all during the
//! ladder it was 5 ms (docs/benchmarks.md, "Chat, checkpoints off the writer").
//!
//! Here the writer's connection has no automatic checkpoint. A thread of the store's own,
//! with a connection of its own, copies the log into the database each time it has grown
//! by [`Limits::every`] pages, beside the writer (SQLite lets one checkpoint run while one
//! writer appends). SQLite starts the log over only once every page in it has been copied,
//! which a checkpoint running beside a busy writer never quite reaches; so once the log
//! holds [`Limits::restart_after`] pages and the checkpointer has copied all but a few, the
//! writer copies those few itself between two batches, after answering the first, and its
//! next commit starts the log over. At [`Limits::wal_limit`] pages the writer copies
//! whatever is left itself, which bounds the log however far the checkpointer falls
//! behind. (A reader that keeps one snapshot open stops any checkpoint, SQLite's own as
//! well; the store's reads are short.)
//!
//! Durability does not change: a commit is durable once its log pages are synced, as
//! before; a checkpoint only moves committed pages into the database file.

use crate::store::{StoreError, StoreResult};
use rusqlite::hooks::Wal;
use rusqlite::Connection;
use std::cell::Cell;
use std::ffi::c_int;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// When checkpoints run, in pages of the log.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Pages the log grows by between two of the checkpointer's runs.
    pub every: i64,
    /// Pages after which the writer finishes a nearly done checkpoint itself.
    pub restart_after: i64,
    /// The most pages left for the writer to copy when it finishes one (below the limit).
    pub finish_at_most: i64,
    /// Pages at which the writer copies the rest however much is left.
    pub wal_limit: i64,
}

/// The store's limits. The writer copies at most 500 pages itself, every 4,000 or more
/// (measured: 5.7 ms at p50 and 32 ms at most, database `fsync` included, at 10,331
/// messages/s); a log of 64 MiB of 4 KiB pages is the most disk it takes while readers
/// let checkpoints finish. Tried on the chat benchmark against 8,000 and 300: no better.
pub(super) const LIMITS: Limits = Limits {
    every: 1_000,
    restart_after: 4_000,
    finish_at_most: 500,
    wal_limit: 16_384,
};

/// The database's page size in bytes (4,096 unless the file was made with another).
fn page_size(c: &Connection) -> rusqlite::Result<i64> {
    c.pragma_query_value(None, "page_size", |r| r.get(0))
}

thread_local! {
    /// Pages in the log after the last commit on this thread's connection.
    static LOG_PAGES: Cell<i64> = const { Cell::new(0) };
}

/// The writer's WAL hook: called by SQLite after each commit with the log's size.
fn note_log(_: &Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.set(i64::from(pages));
    Ok(())
}

/// How far the checkpointer got: which log it worked on (the writer's count of restarts)
/// in the high half, the pages of that log copied into the database in the low half.
#[derive(Debug, Default)]
struct Progress(AtomicU64);

impl Progress {
    fn store(&self, log: u32, copied: i64) {
        let copied = u64::try_from(copied).unwrap_or(0) & u64::from(u32::MAX);
        self.0
            .store((u64::from(log) << 32) | copied, Ordering::Release);
    }

    fn load(&self) -> (u32, i64) {
        let v = self.0.load(Ordering::Acquire);
        ((v >> 32) as u32, (v & u64::from(u32::MAX)) as i64)
    }
}

/// The writer's side. [`Checkpoints::after_commit`] runs on the writer's thread after
/// each committed batch has been answered.
pub(super) struct Checkpoints {
    kick: SyncSender<()>,
    /// Held by whoever runs a checkpoint: SQLite lets one run at a time and refuses a
    /// second rather than wait, so at the limit the writer waits here for the
    /// checkpointer's run to end instead of being refused while the log grows.
    gate: Arc<Mutex<()>>,
    progress: Arc<Progress>,
    /// Which log this is: the writer's count of restarts.
    log: Arc<AtomicU32>,
    /// Pages in the log when the checkpointer was last asked to run.
    kicked_at: i64,
    /// Pages in the log after the previous commit.
    last_pages: i64,
    limits: Limits,
}

impl Checkpoints {
    /// Takes over `writer`'s checkpoints (the writer's thread must call
    /// [`Checkpoints::after_commit`] from now on) and starts the checkpointer on a
    /// connection of its own to `path`, syncing as `synchronous` says.
    pub(super) fn start(
        writer: &Connection,
        path: &Path,
        synchronous: &str,
        limits: Limits,
    ) -> StoreResult<Checkpoints> {
        let own = Connection::open(path).map_err(|e| {
            StoreError::Internal(format!(
                "cannot open the checkpointer's connection to {}: {e}",
                path.display()
            ))
        })?;
        // A checkpoint syncs the database file as its own connection's setting says.
        own.execute_batch(&format!("PRAGMA synchronous = {synchronous};"))?;
        // Replaces SQLite's automatic checkpoint, which is a WAL hook of the same kind.
        writer.wal_hook(Some(note_log));
        // A log that grew past the limit (a reader held an old snapshot) is cut back to it
        // when it starts over; SQLite would keep the file at its largest size.
        let page = page_size(writer)?;
        writer.pragma_update(None, "journal_size_limit", limits.wal_limit * page)?;
        let (kick, asked) = sync_channel::<()>(1);
        let progress = Arc::new(Progress::default());
        let log = Arc::new(AtomicU32::new(0));
        let gate = Arc::new(Mutex::new(()));
        let (p, l, g) = (progress.clone(), log.clone(), gate.clone());
        std::thread::Builder::new()
            .name("tidings-sqlite-checkpoint".into())
            .spawn(move || {
                // Ends when the writer, and with it the sender, is gone.
                while asked.recv().is_ok() {
                    let which = l.load(Ordering::Acquire);
                    let _running = lock(&g);
                    match passive(&own) {
                        Ok(Some(copied)) => p.store(which, copied),
                        Ok(None) => {}
                        Err(e) => tracing::warn!("a database checkpoint failed: {e}"),
                    }
                }
            })
            .map_err(|e| StoreError::Internal(format!("cannot start the checkpointer: {e}")))?;
        Ok(Checkpoints {
            kick,
            gate,
            progress,
            log,
            kicked_at: 0,
            last_pages: 0,
            limits,
        })
    }

    /// After a committed batch: asks the checkpointer for a run each time the log grew by
    /// [`Limits::every`] pages, and finishes its checkpoint when that lets the next
    /// commit start the log over.
    pub(super) fn after_commit(&mut self, writer: &Connection) {
        let pages = LOG_PAGES.get();
        if pages < self.last_pages {
            // That commit started the log over.
            self.log.fetch_add(1, Ordering::AcqRel);
            self.kicked_at = 0;
        }
        self.last_pages = pages;
        if pages - self.kicked_at >= self.limits.every {
            self.kicked_at = pages;
            match self.kick.try_send(()) {
                // Full: a run is asked for already; it will copy these pages too.
                Ok(()) | Err(TrySendError::Full(())) => {}
                Err(TrySendError::Disconnected(())) => {
                    tracing::error!("the database checkpointer has stopped");
                }
            }
        }
        if pages < self.limits.restart_after {
            return;
        }
        let log = self.log.load(Ordering::Acquire);
        let (worked_on, copied) = self.progress.load();
        let nearly = worked_on == log && pages - copied <= self.limits.finish_at_most;
        let running = if pages >= self.limits.wal_limit {
            // However long the checkpointer's run still takes: the log must not grow on.
            Some(lock(&self.gate))
        } else if nearly {
            // Nearly done, and not worth a wait: the next batch looks again.
            match self.gate.try_lock() {
                Ok(g) => Some(g),
                Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            }
        } else {
            None
        };
        if let Some(_running) = running {
            match passive(writer) {
                Ok(Some(copied)) => self.progress.store(log, copied),
                Ok(None) => {}
                Err(e) => tracing::warn!("a database checkpoint failed: {e}"),
            }
        }
    }
}

fn lock(gate: &Mutex<()>) -> MutexGuard<'_, ()> {
    gate.lock().unwrap_or_else(|e| e.into_inner())
}

/// A checkpoint that waits for nobody: copies what readers let it, and returns how many
/// of the log's pages are now in the database (`None` if another checkpoint was running).
fn passive(c: &Connection) -> rusqlite::Result<Option<i64>> {
    let (busy, copied): (i64, i64) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(0)?, r.get(2)?))
    })?;
    Ok((busy == 0 && copied >= 0).then_some(copied))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small limits, so that a test writes a few hundred pages rather than 64 MiB.
    const SMALL: Limits = Limits {
        every: 40,
        restart_after: 160,
        finish_at_most: 40,
        wal_limit: 400,
    };

    /// A directory of the test's own, removed when dropped.
    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(test: &str) -> Dir {
            let dir = std::env::temp_dir()
                .join(format!("tidings-checkpoint-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn open(path: &Path) -> Connection {
        let c = Connection::open(path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, body BLOB NOT NULL);",
        )
        .unwrap();
        c
    }

    /// A database in a directory of its own, its writer, and checkpoints with [`SMALL`].
    fn started(test: &str) -> (Dir, std::path::PathBuf, Connection, Checkpoints) {
        let dir = Dir::new(test);
        let path = dir.0.join("t.db");
        let writer = open(&path);
        let ck = Checkpoints::start(&writer, &path, "NORMAL", SMALL).unwrap();
        (dir, path, writer, ck)
    }

    /// Commits `batches` transactions of `rows` rows of about a page each, calling
    /// `after` after each; returns the most pages the log held after a commit.
    fn write(
        c: &Connection,
        batches: usize,
        rows: usize,
        mut after: impl FnMut(&Connection),
    ) -> i64 {
        let mut most = 0;
        for _ in 0..batches {
            c.execute_batch("BEGIN IMMEDIATE").unwrap();
            for _ in 0..rows {
                c.execute("INSERT INTO t (body) VALUES (randomblob(3000))", [])
                    .unwrap();
            }
            c.execute_batch("COMMIT").unwrap();
            most = most.max(LOG_PAGES.get());
            after(c);
        }
        most
    }

    /// Under a writer that never pauses, the log still starts over again and again, and
    /// never holds much more than the limit; every row is there after a reopen.
    #[test]
    fn the_log_starts_over_while_writes_go_on() {
        let (_dir, path, writer, mut ck) = started("restarts");
        // 4,800 pages and more: twelve times the limit.
        let most = write(&writer, 600, 8, |c| ck.after_commit(c));
        let restarts = ck.log.load(Ordering::Acquire);
        assert!(restarts >= 3, "the log started over {restarts} times");
        // At the limit the writer copies the rest itself, so the next commit starts over:
        // over the limit by one batch's pages at most (8 rows and the b-tree's pages).
        assert!(
            most <= SMALL.wal_limit + 20,
            "the log held {most} pages (limit {})",
            SMALL.wal_limit
        );
        drop(ck);
        drop(writer);
        let again = open(&path);
        let rows: i64 = again
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 600 * 8);
    }

    /// The control for the test above: with the automatic checkpoint replaced and nobody
    /// checkpointing, the same writes grow the log without bound.
    #[test]
    fn without_checkpoints_the_log_only_grows() {
        let dir = Dir::new("control");
        let path = dir.0.join("t.db");
        let writer = open(&path);
        writer.wal_hook(Some(note_log));
        let most = write(&writer, 600, 8, |_| {});
        assert!(most > 10 * SMALL.wal_limit, "the log held {most} pages");
    }

    /// While a reader keeps an old snapshot, nothing can be copied past it and the log
    /// grows; once it lets go, the writer's next look starts the log over.
    #[test]
    fn the_log_starts_over_once_a_long_reader_lets_go() {
        let (dir, path, writer, mut ck) = started("reader");
        write(&writer, 5, 8, |c| ck.after_commit(c));
        let reader = open(&path);
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        let before = ck.log.load(Ordering::Acquire);
        let held = write(&writer, 100, 8, |c| ck.after_commit(c));
        assert!(held > SMALL.wal_limit, "the log held {held} pages");
        assert_eq!(
            ck.log.load(Ordering::Acquire),
            before,
            "no restart under the reader"
        );
        reader.execute_batch("COMMIT").unwrap();
        let mut batches = 0;
        while ck.log.load(Ordering::Acquire) == before && batches < 200 {
            write(&writer, 1, 8, |c| ck.after_commit(c));
            batches += 1;
        }
        assert!(
            ck.log.load(Ordering::Acquire) > before,
            "the log did not start over in {batches} batches after the reader let go"
        );
        // The file, which held the whole log, is cut back to the limit.
        let wal = std::fs::metadata(dir.0.join("t.db-wal")).unwrap().len() as i64;
        assert!(
            wal <= SMALL.wal_limit * page_size(&writer).unwrap(),
            "the log's file kept {wal} bytes (held {held} pages)"
        );
    }
}
