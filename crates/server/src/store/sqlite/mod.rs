//! The embedded store: one SQLite file in the data directory (WAL, forward-only
//! migrations).
//!
//! Writes go through one writer thread that owns the only read-write connection. It takes
//! every job waiting in its bounded inbox, runs each in its own savepoint inside one
//! transaction, commits once, and only then answers the jobs: group commit, so many
//! concurrent senders share one `fsync` while each answer still means "committed". One
//! writer also makes `seq` assignment trivially contiguous and in commit order. The log's
//! checkpoints run beside it, on a thread and connection of their own that write nothing
//! but checkpoints (checkpoint.rs).
//!
//! Reads run on the blocking pool over a small set of read-only connections (WAL lets
//! them run beside the writer and see only committed data).
//!
//! Erasure: `secure_delete` is on, so content a deletion or an edit replaces is overwritten
//! in the file rather than left in free space.
//!
//! Durability: `synchronous = FULL` by default, so a committed write survives a power cut
//! as well as `kill -9`; `NORMAL` survives `kill -9` (the operating system still has the
//! data) but may lose the last commits on a power cut.

mod attachments;
mod checkpoint;
mod conversations;
mod directory;
mod membership;
mod messages;
mod notifications;
mod schema;
mod timeline;
mod users;

use super::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// How hard SQLite works to make a commit durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    #[default]
    Full,
    Normal,
}

/// Called on the writer thread after the transaction ended: `true` if it committed.
type Completion = Box<dyn FnOnce(bool) + Send>;
/// Runs inside the transaction; says whether it succeeded and how to answer.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// Jobs waiting for the writer; senders wait when it is full.
const WRITE_QUEUE: usize = 4096;
/// Jobs committed together at most.
const MAX_BATCH: usize = 512;
/// Read-only connections kept open.
const READERS: usize = 8;

/// The SQLite store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    db: Arc<Db>,
}

#[derive(Debug)]
struct Db {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl SqliteStore {
    /// Opens (creating and migrating as needed) the database at `path`, and starts its
    /// writer thread.
    pub fn open(path: &Path, synchronous: Synchronous) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Internal(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut conn = Connection::open(path).map_err(|e| {
            StoreError::Internal(format!("cannot open database {}: {e}", path.display()))
        })?;
        let sync = match synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000; PRAGMA secure_delete = ON;"
        ))?;
        schema::migrate(&mut conn)?;
        // `temp_store = MEMORY` keeps the statement journal of each job's savepoint in
        // memory. By default it spills to a temporary file once it passes 64 KiB, and on
        // the chat benchmark the writer then opened ~1,400 such files and wrote ~190,000
        // pages to them per ladder: with it in memory the writer's CPU per message fell by
        // a fifth (docs/benchmarks.md, "Chat, the writer's temporary files"). Only the
        // writer's connection has it, and only after the migrations: the writer's jobs
        // touch a few pages each, while a reader's sort or a migration's new index on a
        // large table could need far more.
        conn.execute_batch("PRAGMA temp_store = MEMORY;")?;
        // Checkpoints run beside the writer rather than inside its commits (checkpoint.rs).
        let checkpoints = checkpoint::Checkpoints::start(&conn, path, sync, checkpoint::LIMITS)?;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        std::thread::Builder::new()
            .name("tidings-sqlite-writer".into())
            .spawn(move || writer(conn, rx, checkpoints))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            db: Arc::new(Db {
                jobs: tx,
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(READERS)),
            }),
        })
    }

    /// Runs `f` in the writer's transaction; resolves once it has committed.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.queue(f).await?.await
    }

    /// Puts `f` in the writer's queue: it runs after every write queued before it and
    /// before every one queued later. The returned future resolves once it has committed.
    async fn queue<T, F>(&self, f: F) -> StoreResult<Pending<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let done: Completion = Box::new(move |committed| {
                let answer = match result {
                    Ok(_) if !committed => Err(StoreError::Internal("commit failed".into())),
                    other => other,
                };
                let _ = tx.send(answer);
            });
            (ok, done)
        });
        self.db
            .jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Internal("the database writer has stopped".into()))?;
        Ok(Pending(rx))
    }

    /// Runs `f` on a read-only connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit = self
            .db
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Internal("the database is closed".into()))?;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = db.take_reader()?;
            let result = f(&conn);
            db.put_reader(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("a database read failed: {e}")))?
    }
}

/// A write in the writer's queue; resolves once it has committed (or failed).
#[derive(Debug)]
struct Pending<T>(oneshot::Receiver<StoreResult<T>>);

impl<T> std::future::Future for Pending<T> {
    type Output = StoreResult<T>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<StoreResult<T>> {
        std::pin::Pin::new(&mut self.get_mut().0)
            .poll(cx)
            .map(|answer| {
                answer.unwrap_or_else(|_| {
                    Err(StoreError::Internal(
                        "the database writer has stopped".into(),
                    ))
                })
            })
    }
}

impl Db {
    fn take_reader(&self) -> StoreResult<Connection> {
        if let Some(c) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(c);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")?;
        Ok(conn)
    }

    fn put_reader(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < READERS {
            idle.push(conn);
        }
    }
}

/// The writer thread: batches jobs into one transaction each, until every sender is gone.
/// After answering a committed batch it tells `checkpoints`, which may copy a few log
/// pages into the database before the next batch.
fn writer(
    conn: Connection,
    mut jobs: mpsc::Receiver<Job>,
    mut checkpoints: checkpoint::Checkpoints,
) {
    let mut batch: Vec<Job> = Vec::new();
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut done: Vec<Completion> = Vec::with_capacity(batch.len());
        let began = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
        for job in batch.drain(..) {
            if !began {
                let (_, answer) = job(&conn);
                // Whatever it did ran outside a transaction we control: report failure.
                done.push(answer);
                continue;
            }
            if !execute(&conn, "SAVEPOINT job") {
                let (_, answer) = job(&conn);
                done.push(answer);
                continue;
            }
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&conn)));
            match run {
                Ok((true, answer)) => {
                    execute(&conn, "RELEASE job");
                    done.push(answer);
                }
                Ok((false, answer)) => {
                    let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                    done.push(answer);
                }
                Err(_) => {
                    // The job's answer channel is gone with it; its caller sees the writer
                    // hang up and reports an internal error.
                    tracing::error!("a database write panicked; its changes were rolled back");
                    let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                }
            }
        }
        let committed = began && conn.execute_batch("COMMIT").is_ok();
        if began && !committed {
            tracing::error!("database commit failed; the batch was rolled back");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for answer in done {
            answer(committed);
        }
        if committed {
            checkpoints.after_commit(&conn);
        }
    }
}

/// Runs one statement of the writer's own, prepared once: these run for every job.
fn execute(conn: &Connection, sql: &str) -> bool {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .is_ok()
}

#[async_trait::async_trait]
impl crate::store::StoreHealth for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<std::time::Duration> {
        let start = std::time::Instant::now();
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await?;
        Ok(start.elapsed())
    }
}

/// Pages are queried with one row more than asked for, nearest first: this drops the extra
/// row (it only tells that more exist) and puts the page in ascending order.
fn trim_page<T>(mut items: Vec<T>, limit: u32, ascending: bool) -> (Vec<T>, bool) {
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    if !ascending {
        items.reverse();
    }
    (items, has_more)
}

/// Maps "no row" to `None`.
fn optional<T>(r: rusqlite::Result<T>) -> StoreResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer keeps its savepoints' journals in memory (no temporary file per batch);
    /// readers keep SQLite's default, so a large sort can still go to disk.
    #[tokio::test]
    async fn the_writer_journals_in_memory_and_readers_do_not() {
        let dir = std::env::temp_dir().join(format!("tidings-journal-{}", std::process::id()));
        let store = SqliteStore::open(&dir.join("t.db"), Synchronous::Full).unwrap();
        let pragma = |c: &Connection| -> StoreResult<i64> {
            Ok(c.query_row("PRAGMA temp_store", [], |r| r.get(0))?)
        };
        assert_eq!(
            store.write(pragma).await.unwrap(),
            2,
            "MEMORY on the writer"
        );
        assert_eq!(
            store.read(pragma).await.unwrap(),
            0,
            "the default on a reader"
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
