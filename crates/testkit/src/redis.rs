//! A private `redis-server` for tests of the Redis bus: on a free `127.0.0.1` port, in a
//! temporary directory, with persistence off (`--save '' --appendonly no`). It can be
//! stopped and started again on the same port (outage tests), and is killed when dropped,
//! also when the test panics, so no `redis-server` outlives its test.
//!
//! [`Redis::shared`] is one per test process, for the in-process servers of a run with
//! `TIDINGS_TEST_BUS=redis` (the chat tests on a node with the Redis bus): statics are never
//! dropped, so it is started through `setpriv --pdeathsig KILL` from the thread that lives
//! as long as the process (as the shared PostgreSQL is) and dies with the process.

use crate::{TempDir, WAIT};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Redis {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
    /// Killed by the kernel when the test process ends (the shared instance).
    with_process: bool,
}

/// Whether the in-process [`crate::Server`]s use the Redis bus (`TIDINGS_TEST_BUS=redis`).
pub fn servers_on_redis() -> bool {
    std::env::var("TIDINGS_TEST_BUS").is_ok_and(|v| v == "redis")
}

impl Redis {
    /// Starts one; panics with a sentence when `redis-server` is not installed.
    pub fn start() -> Redis {
        Redis::start_with(false)
    }

    /// The one of this test process, started on first use, ended with the process.
    pub fn shared() -> &'static Redis {
        static SHARED: std::sync::OnceLock<Redis> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| Redis::start_with(true))
    }

    fn start_with(with_process: bool) -> Redis {
        let mut dir = TempDir::new("redis");
        // A free port: taken by the OS, released, then given to redis-server. Another
        // process may take it in between; then try another.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            let mut r = Redis {
                dir,
                port,
                child: None,
                with_process,
            };
            if r.spawn() {
                return r;
            }
            dir = r.take_dir();
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    fn take_dir(mut self) -> TempDir {
        self.kill();
        std::mem::replace(&mut self.dir, TempDir(std::path::PathBuf::new()))
    }

    /// Starts redis-server on `self.port`; `false` if it did not come up.
    fn spawn(&mut self) -> bool {
        let log = self.dir.path().join("redis.log");
        let mut cmd = if self.with_process {
            let mut c = Command::new("setpriv");
            c.args(["--pdeathsig", "KILL", "--", "redis-server"]);
            c
        } else {
            Command::new("redis-server")
        };
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = if self.with_process {
            crate::postgres::spawn_from_keeper(cmd)
        } else {
            cmd.spawn()
        };
        let mut child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed: install Debian's redis-server package (apt-get install -y redis-server, or make deps)"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if ping(self.addr()) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (an outage): clients see their connections drop.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts it again on the same port (empty: nothing was persisted).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + WAIT;
        // The port may take a moment to be free again.
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not come back on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a Redis answers `PING` at `addr`.
fn ping(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
