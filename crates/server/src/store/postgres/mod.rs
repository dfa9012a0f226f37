//! The PostgreSQL store, for several nodes sharing one database (`storage.store =
//! "postgres://…"`): a connection pool (`storage.pool_size`), and forward-only migrations
//! embedded in the binary (`migrations/postgres/`), applied at start under sqlx's advisory
//! lock so nodes starting together migrate once.
//!
//! Every write is one transaction at PostgreSQL's default READ COMMITTED; reads that need
//! several statements to agree run in one REPEATABLE READ READ ONLY transaction. How the
//! contracts of `store/mod.rs` and `store/timeline.rs` hold with many writers on many nodes:
//!
//! - **Per-conversation `seq` and `rev`**: a write to a conversation's timeline (append,
//!   edit, delete, react, membership change) first takes the conversation's row with
//!   `SELECT … FOR UPDATE` and holds it to its commit; the next `seq`/`rev` is read under
//!   that lock. So one conversation's writes commit one after another, in `seq` and `rev`
//!   order, and a reader that sees `n` committed sees everything below it: a catch-up
//!   cursor (`After(seq)`, `changes` after a rev) never skips an entry that commits later.
//! - **Per-user notification `seq`**: likewise under the user's row (`UPDATE users SET
//!   notification_seq = notification_seq + 1`, which locks it to the commit); a
//!   notification for several users locks them in name order, so two never deadlock.
//! - **Announcements' `seq`** is global: it is `max + 1` under a transaction-scoped
//!   advisory lock, so announcements commit in `seq` order (they are rare).
//! - **`(sender, clientId)`**: a unique index; the message is inserted with `ON CONFLICT
//!   DO NOTHING` after the conversation's lock, and when another transaction (on any node)
//!   stored it first, PostgreSQL waits for that one to commit and the stored row is read
//!   and answered with `duplicate: true` (or `Conflict` when it is in another conversation).
//!   A direct conversation's pair key is handled the same way.
//! - **Read markers** move with `GREATEST` and are capped at the committed `last_seq` in the
//!   same statement, so they never move backwards nor past the last `seq`.
//! - **Conversation pages' snapshot** ([`crate::store::ConversationCursor`]): a bigserial
//!   would not do (a lower value may commit after a higher one is seen). Each message and
//!   conversation row records the id of the transaction that inserted it (`xid`). The
//!   first page takes the next transaction id (the snapshot's `xmax`) as `messages_upto` =
//!   `conversations_upto`, and waits (milliseconds; at most 2 s) until every transaction
//!   below it has ended. From then on "rows inserted by a transaction below it" is a set
//!   no later commit changes, and it holds everything committed before the request (your
//!   own new conversation is in your list): every page orders by the activity as of it.
//! - **Accounts**: creating one and changing a display name take one advisory lock, so
//!   the cross-column uniqueness rules (display key vs. login name) hold across nodes.
//!   Uploads are checked against an uploader's quota under an advisory lock per uploader;
//!   finishing an upload and forgetting unreferenced blobs exclude each other with another.
//!
//! Errors: a lost or refused connection (and a pool that could not hand out one within
//! `storage.pool_timeout_ms`) is [`StoreError::Unavailable`] ("the database is
//! unreachable"); the pool reconnects by itself when PostgreSQL returns. Erasure: a deleted
//! message's content is gone from the table; PostgreSQL reuses the space after `VACUUM`
//! (autovacuum), and its WAL keeps old versions until recycled.

mod attachments;
mod conversations;
mod directory;
mod messages;
mod notifications;
mod timeline;
mod users;

use super::{StoreError, StoreResult};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user[:password]@host[:port]/database[?options]`.
    pub url: String,
    /// Connections kept at most.
    pub pool_size: u32,
    /// How long a request waits for a connection before it is refused as unavailable.
    pub pool_timeout: Duration,
}

impl PgOptions {
    pub fn new(url: &str) -> PgOptions {
        PgOptions {
            url: url.to_owned(),
            pool_size: 16,
            pool_timeout: Duration::from_secs(5),
        }
    }
}

/// Where the store reports its query latency and errors (the server's `/metrics`).
#[derive(Debug, Clone)]
pub struct StoreObserver {
    /// Seconds per store call (a transaction or a read), errors included.
    pub latency: Histogram,
    /// Failed store calls, by kind (`unavailable`, `internal`).
    pub errors: Family<crate::metrics::KindLabel, Counter>,
}

impl Default for StoreObserver {
    fn default() -> Self {
        StoreObserver {
            latency: Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
            ]),
            errors: Family::default(),
        }
    }
}

/// The PostgreSQL store. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    observer: StoreObserver,
}

/// `url` with its password (in the user part or a `password=` parameter) replaced by
/// `***`, for logs.
pub fn masked_url(url: &str) -> String {
    let url = match url.find("password=") {
        Some(at) => {
            let start = at + "password=".len();
            let end = url[start..].find('&').map_or(url.len(), |e| start + e);
            format!("{}***{}", &url[..start], &url[end..])
        }
        None => url.to_owned(),
    };
    let url = url.as_str();
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..auth_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

impl PostgresStore {
    /// Connects, applies the migrations this binary carries, and answers the store. An
    /// unreachable database or a schema newer than this binary is an error with a sentence.
    pub async fn connect(options: &PgOptions) -> StoreResult<PostgresStore> {
        PostgresStore::prepare(options).await?;
        PostgresStore::connect_lazy(options)
    }

    /// Checks that the database can be reached (with the reason when not: refused, wrong
    /// password, no such database) and applies the migrations, over one connection.
    pub async fn prepare(options: &PgOptions) -> StoreResult<()> {
        use sqlx::Connection;
        let connect = parse(&options.url)?;
        let mut conn = tokio::time::timeout(
            options.pool_timeout,
            sqlx::PgConnection::connect_with(&connect),
        )
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "the database did not answer within {} ms",
                options.pool_timeout.as_millis()
            ))
        })?
        .map_err(|e| StoreError::Unavailable(format!("the database is unreachable: {e}")))?;
        let migrated = migrator().run(&mut conn).await.map_err(migrate_error);
        let _ = conn.close().await;
        migrated
    }

    /// [`PostgresStore::prepare`] then [`PostgresStore::connect_lazy`], for callers that are
    /// not async (the server's start): the preparation runs on a thread of its own with its
    /// own runtime, and the pool belongs to the caller's runtime (there must be one).
    pub fn open_blocking(options: &PgOptions) -> StoreResult<PostgresStore> {
        let prep = options.clone();
        std::thread::Builder::new()
            .name("tidings-pg-migrate".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| StoreError::Internal(format!("cannot start a runtime: {e}")))?
                    .block_on(PostgresStore::prepare(&prep))
            })
            .map_err(|e| StoreError::Internal(format!("cannot start a thread: {e}")))?
            .join()
            .map_err(|_| StoreError::Internal("preparing the database panicked".into()))??;
        PostgresStore::connect_lazy(options)
    }

    /// The store over a pool that connects on first use, without migrating: for a database
    /// [`PostgresStore::connect`] (or [`PostgresStore::migrate`]) has brought up to date.
    /// Needs a Tokio runtime (the pool's connections belong to it).
    pub fn connect_lazy(options: &PgOptions) -> StoreResult<PostgresStore> {
        let connect = parse(&options.url)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.pool_timeout)
            .idle_timeout(Duration::from_secs(300))
            .connect_lazy_with(connect);
        Ok(PostgresStore {
            pool,
            observer: StoreObserver::default(),
        })
    }

    /// Reports latency and errors to `observer` from now on.
    pub fn with_observer(mut self, observer: StoreObserver) -> PostgresStore {
        self.observer = observer;
        self
    }

    /// Applies the embedded migrations not yet applied.
    pub async fn migrate(&self) -> StoreResult<()> {
        migrator().run(&self.pool).await.map_err(migrate_error)
    }

    /// Closes the pool (tests that stop a node).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db_error)
    }

    /// A REPEATABLE READ READ ONLY transaction: its statements see one snapshot.
    async fn begin_read(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db_error)
    }

    /// Times one store call and counts its failure.
    async fn observe<T>(
        &self,
        call: impl std::future::Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let start = Instant::now();
        let result = call.await;
        self.observer.latency.observe(start.elapsed().as_secs_f64());
        let kind = match &result {
            Err(StoreError::Unavailable(_)) => Some("unavailable"),
            Err(StoreError::Internal(_)) => Some("internal"),
            _ => None,
        };
        if let Some(kind) = kind {
            self.observer
                .errors
                .get_or_create(&crate::metrics::KindLabel { kind })
                .inc();
        }
        result
    }
}

/// The migrations in `migrations/postgres/`, embedded at build time.
fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations/postgres")
}

fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => db_error(e),
        sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::Internal(format!(
            "the database has schema migration {v}, which this tidings-server does not know; \
             run the newer server or restore a backup"
        )),
        other => StoreError::Internal(format!("migrating the database failed: {other}")),
    }
}

fn parse(url: &str) -> StoreResult<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .map(|o| o.application_name("tidings-server"))
        .map_err(|e| {
            StoreError::Invalid(format!(
                "storage.store {} is not a PostgreSQL URL: {e}",
                masked_url(url)
            ))
        })
}

#[async_trait::async_trait]
impl crate::store::StoreHealth for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<Duration> {
        let start = Instant::now();
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(start.elapsed())
    }
}

/// Commits when `result` is `Ok`, rolls back otherwise.
async fn finish<T>(tx: Transaction<'static, Postgres>, result: StoreResult<T>) -> StoreResult<T> {
    match result {
        Ok(v) => {
            tx.commit().await.map_err(db_error)?;
            Ok(v)
        }
        Err(e) => {
            // A failed rollback (connection gone) rolls back anyway.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// `format!` for SQL assembled from this module's own constants (never from input, which
/// is always bound as a parameter).
macro_rules! sql {
    ($($t:tt)*) => {
        sqlx::AssertSqlSafe(format!($($t)*))
    };
}

/// Runs `$body` (an expression using the connection `$c`) in a write transaction of
/// `$store`, committing on `Ok`, observed.
macro_rules! write_tx {
    ($store:expr, |$c:ident| $body:expr) => {
        $store
            .observe(async {
                let mut tx = $store.begin().await?;
                let result = {
                    let $c: &mut sqlx::PgConnection = &mut tx;
                    $body.await
                };
                $crate::store::postgres::finish(tx, result).await
            })
            .await
    };
}

/// As `write_tx!`, in a read-only snapshot transaction.
macro_rules! read_tx {
    ($store:expr, |$c:ident| $body:expr) => {
        $store
            .observe(async {
                let mut tx = $store.begin_read().await?;
                let result = {
                    let $c: &mut sqlx::PgConnection = &mut tx;
                    $body.await
                };
                $crate::store::postgres::finish(tx, result).await
            })
            .await
    };
}

pub(crate) use read_tx;
pub(crate) use sql;
pub(crate) use write_tx;

/// Maps a database error: the connection gone or refused is `Unavailable`, the rest
/// `Internal` (with the database's own words, for the log).
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    let unreachable =
        |detail: String| StoreError::Unavailable(format!("the database is unreachable ({detail})"));
    match e {
        sqlx::Error::Io(e) => unreachable(e.to_string()),
        sqlx::Error::Tls(e) => unreachable(e.to_string()),
        sqlx::Error::PoolTimedOut => unreachable("no connection within the pool timeout".into()),
        sqlx::Error::PoolClosed => unreachable("the pool is closed".into()),
        sqlx::Error::WorkerCrashed => unreachable("the connection worker stopped".into()),
        sqlx::Error::Protocol(m) => unreachable(m),
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
            // Class 08: connection exceptions; 57P01-03: shut down, crashed, starting up.
            if code.starts_with("08") || matches!(code.as_str(), "57P01" | "57P02" | "57P03") {
                unreachable(d.message().to_owned())
            } else if code == "23505" {
                StoreError::Conflict(format!("already exists ({})", d.message()))
            } else {
                StoreError::Internal(format!("database error {code}: {}", d.message()))
            }
        }
        other => StoreError::Internal(other.to_string()),
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        db_error(e)
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

/// A 64-bit key for `pg_advisory_xact_lock` from a name (FNV-1a: stable across nodes and
/// versions, unlike the standard hasher).
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// Takes the advisory lock named `name` until the transaction ends.
async fn advisory_lock(c: &mut sqlx::PgConnection, name: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(name))
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Takes the advisory lock named `name`, shared, until the transaction ends.
async fn advisory_lock_shared(c: &mut sqlx::PgConnection, name: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
        .bind(lock_key(name))
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::masked_url;

    #[test]
    fn the_password_is_masked() {
        assert_eq!(
            masked_url("postgres://tidings:s3cr%40t@db:5432/tidings"),
            "postgres://tidings:***@db:5432/tidings"
        );
        assert_eq!(
            masked_url("postgres://tidings@db/tidings"),
            "postgres://tidings@db/tidings"
        );
        assert_eq!(masked_url("postgres://db/x?a=b"), "postgres://db/x?a=b");
        assert_eq!(
            masked_url("postgres://u@db/x?password=pw&sslmode=disable"),
            "postgres://u@db/x?password=***&sslmode=disable"
        );
    }
}
