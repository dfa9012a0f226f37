//! A private PostgreSQL 15 for tests: `initdb` in a [`TempDir`] (as the `postgres` user when
//! running as root: PostgreSQL refuses root), `-A trust`, on a free `127.0.0.1` port, its
//! unix socket inside the directory. Nothing depends on a PostgreSQL the machine may run.
//!
//! One instance per test binary is shared ([`Postgres::shared`]): starting a cluster takes
//! a second or two. Each test takes a fresh database of it ([`Postgres::create_database`]).
//! Outage tests start one of their own ([`Postgres::start`]) and stop and restart it.
//!
//! Never left running: the postmaster is started through `setpriv --pdeathsig KILL` from
//! one thread that lives as long as the test process, so the kernel kills it when the
//! process ends, however it ends (statics are never dropped; a panic or `kill -9` of the
//! test binary included); its backends notice the postmaster's death and exit. An instance
//! that is dropped is stopped at once (SIGQUIT, then SIGKILL). A small `sh` watcher removes
//! the data directory once the test process is gone (within a second), and the next start
//! sweeps any directory of an ended process that is still there.
//!
//! The instance trades durability for speed (`fsync=off`, `synchronous_commit=off`): a test
//! database is not a place to test PostgreSQL's crash safety.

use crate::TempDir;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The PostgreSQL role the tests connect as (`-A trust`: no password).
pub const PG_USER: &str = "tidings";

/// A private PostgreSQL server.
#[derive(Debug)]
pub struct Postgres {
    dir: TempDir,
    port: u16,
    bin: PathBuf,
    postmaster: Mutex<Option<Child>>,
}

/// The installed PostgreSQL's `bin` directory (the newest major version), or a panic that
/// says what to install.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): \
             run `apt-get install -y postgresql` (or `make deps`)"
        ),
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command run as the `postgres` user when we are root (PostgreSQL refuses root), with
/// the parent-death signal set when `pdeathsig`.
fn as_postgres(program: &Path, pdeathsig: bool) -> Command {
    let mut cmd = Command::new("setpriv");
    if running_as_root() {
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
    }
    if pdeathsig {
        cmd.args(["--pdeathsig", "KILL"]);
    }
    cmd.arg("--").arg(program);
    cmd
}

/// Spawns `cmd` from the one thread that lives as long as the process, so a parent-death
/// signal set for the child fires when the process ends, not when a test's thread does.
pub(crate) fn spawn_from_keeper(cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("testkit-postgres-keeper".into())
            .spawn(move || {
                // Ends only with the process: the sender lives in a static.
                for (mut cmd, answer) in rx {
                    let _ = answer.send(cmd.spawn());
                }
            })
            .expect("start the postgres keeper thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, tx))
        .expect("the postgres keeper thread is gone");
    rx.recv().expect("the postgres keeper thread is gone")
}

/// Removes data directories left by test processes that have ended.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("tidings-pg-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next() else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    /// A new private instance, running (initdb and start take a second or two).
    pub fn start() -> Postgres {
        sweep_stale();
        let bin = bin_dir();
        let dir = TempDir::new("pg");
        if running_as_root() {
            run(
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(dir.path()),
                "chown of the PostgreSQL directory",
            );
        }
        run(
            as_postgres(&bin.join("initdb"), false)
                .arg("-D")
                .arg(dir.path().join("data"))
                .args(["-A", "trust", "-U", PG_USER, "--no-sync", "-E", "UTF8"])
                .args(["--locale", "C.UTF-8"]),
            "initdb",
        );
        // Removes the directory once this process has ended (the shared instance's
        // `TempDir` is never dropped); the postmaster dies with the process.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {} 2>/dev/null; do sleep 1; done; rm -rf '{}'",
                std::process::id(),
                dir.path().display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let pg = Postgres {
            dir,
            port: free_port(),
            bin,
            postmaster: Mutex::new(None),
        };
        pg.start_again();
        pg
    }

    /// The instance this test binary shares, started on first use; stopped when the
    /// process ends (see the module doc). Do not stop it: outage tests start their own.
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<Postgres> = OnceLock::new();
        SHARED.get_or_init(Postgres::start)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// A fresh, empty database; answers its URL.
    pub fn create_database(&self) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.psql(&format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs one SQL command on the `postgres` database (panics on failure).
    pub fn psql(&self, sql: &str) {
        run(
            Command::new("psql")
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    PG_USER,
                    "-d",
                    "postgres",
                ])
                .args(["-c", sql]),
            &format!("psql -c {sql:?}"),
        );
    }

    /// Stops the server (fast shutdown: connections are closed), and waits until it is gone.
    pub fn stop(&self) {
        let mut postmaster = self.postmaster.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = postmaster.take() {
            stop_child(&mut child, "-INT", Duration::from_secs(30));
        }
    }

    /// Starts it again after [`Postgres::stop`], on the same port, and waits until it
    /// accepts connections.
    pub fn start_again(&self) {
        let mut postmaster = self.postmaster.lock().unwrap_or_else(|e| e.into_inner());
        if postmaster.is_some() {
            return;
        }
        let log = std::fs::File::create(self.dir.path().join("postgres.log"))
            .expect("create the PostgreSQL log");
        let mut cmd = as_postgres(&self.bin.join("postgres"), true);
        cmd.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=300"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "shared_buffers=32MB"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = spawn_from_keeper(cmd).expect("start postgres");
        *postmaster = Some(child);
        drop(postmaster);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new("pg_isready")
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", PG_USER, "-d", "postgres"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return;
            }
            let exited = self
                .postmaster
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
                .map(|c| matches!(c.try_wait(), Ok(Some(_))))
                .unwrap_or(true);
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.path().join("postgres.log"))
                    .unwrap_or_default();
                panic!(
                    "PostgreSQL did not start on port {}; its log:\n{log}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Sends `signal` (`-INT` fast, `-QUIT` immediate), waits up to `grace`, then kills.
fn stop_child(child: &mut Child, signal: &str, grace: Duration) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut postmaster = self.postmaster.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = postmaster.take() {
            stop_child(&mut child, "-QUIT", Duration::from_secs(10));
        }
    }
}

/// A `PostgresStore` on a fresh database of the shared instance, migrated; its pool
/// belongs to the calling runtime (call it inside one).
pub fn postgres_store() -> tidings_server::store::postgres::PostgresStore {
    let url = Postgres::shared().create_database();
    postgres_store_at(&url)
}

/// A `PostgresStore` (one node) on the database at `url`, migrated.
pub fn postgres_store_at(url: &str) -> tidings_server::store::postgres::PostgresStore {
    tidings_server::store::postgres::PostgresStore::open_blocking(
        &tidings_server::store::postgres::PgOptions::new(url),
    )
    .expect("the PostgreSQL store")
}

/// Whether the in-process [`crate::Server`] runs on PostgreSQL (`TIDINGS_TEST_STORE=postgres`).
pub fn servers_on_postgres() -> bool {
    std::env::var("TIDINGS_TEST_STORE").is_ok_and(|v| v == "postgres")
}
