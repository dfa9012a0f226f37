//! A private HAProxy on a free `127.0.0.1` port in a temporary directory, in front of a
//! list of nodes: the load balancer of the cluster tests. It runs the shipped
//! `packaging/cluster/haproxy.cfg` (everything from `defaults` on: timeouts, the upload
//! routing, health checks, the balancing) with only the `bind` address, the `server`
//! addresses and the `global` section (a stats socket here, no chroot, no user) replaced,
//! so the tests prove the reference configuration.
//!
//! HAProxy runs in the foreground under a small shell that kills it when its stdin closes:
//! when this value is dropped (also on a panic), and when the test process dies in any way
//! (its end of the pipe closes with it), so no HAProxy outlives a test run.

use crate::TempDir;
use anyhow::{bail, Context};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The reference configuration, as the server package ships it.
pub const SHIPPED_CONFIG: &str = include_str!("../../../packaging/cluster/haproxy.cfg");

/// Runs HAProxy until stdin closes, then kills it (`$1`: the config file).
const WATCHER: &str = r#"haproxy -db -f "$1" & p=$!
read -r _
kill -9 "$p" 2>/dev/null
wait "$p" 2>/dev/null
exit 0"#;

/// HAProxy, running; stopped when dropped.
#[derive(Debug)]
pub struct Haproxy {
    /// Where clients connect; the same across [`Haproxy::restart`]s.
    pub addr: SocketAddr,
    backends: Vec<SocketAddr>,
    /// The watcher shell (its stdin is HAProxy's life line); `None` while stopped.
    child: Option<Child>,
    dir: TempDir,
}

impl Haproxy {
    /// HAProxy on a free port in front of `backends` (the nodes' addresses), accepting
    /// connections when this returns. Fails with a sentence when `haproxy` is missing.
    pub fn start(backends: &[SocketAddr]) -> anyhow::Result<Haproxy> {
        binary()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut h = Haproxy {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            backends: backends.to_vec(),
            child: None,
            dir: TempDir::new("haproxy"),
        };
        h.spawn()?;
        Ok(h)
    }

    /// `http://ADDR`.
    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://ADDR/ws`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Its temporary directory (its configuration, log and stats socket).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The nodes it balances over.
    pub fn backends(&self) -> &[SocketAddr] {
        &self.backends
    }

    /// Puts HAProxy in front of other nodes (a node moved to another port): restarts it on
    /// the same address with the new list. Connections through it are cut, as a reload of a
    /// real load balancer with a changed server list may do.
    pub fn set_backends(&mut self, backends: &[SocketAddr]) -> anyhow::Result<()> {
        self.backends = backends.to_vec();
        self.restart()
    }

    /// Stops HAProxy (every connection through it is cut) and starts it again on the same
    /// address.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    /// How many nodes the health checks currently find up, per backend: (name, up).
    pub async fn servers_up(&self) -> anyhow::Result<Vec<(String, usize)>> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::UnixStream::connect(self.socket()).await?;
        s.write_all(b"show stat\n").await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(count_up(&out))
    }

    /// Waits (bounded by [`crate::WAIT`] plus the health checks' own pace) until the health
    /// checks find exactly `n` nodes up in every backend.
    pub async fn wait_servers_up(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + crate::WAIT * 2;
        loop {
            let up = self.servers_up().await;
            if let Ok(up) = &up {
                if !up.is_empty() && up.iter().all(|(_, k)| *k == n) {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "HAProxy's health checks did not find {n} nodes up: {up:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// HAProxy's configuration for this instance.
    pub fn config(&self) -> String {
        config_for(SHIPPED_CONFIG, self.addr, &self.backends, &self.socket())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let cfg = self.dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, self.config())?;
        let log = self.dir.path().join("haproxy.log");
        let child = Command::new("sh")
            .args(["-c", WATCHER, "haproxy-watcher"])
            .arg(&cfg)
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("cannot start HAProxy")?;
        self.child = Some(child);
        // Up when it accepts connections (HAProxy prints nothing when it is ready).
        let deadline = Instant::now() + crate::WAIT;
        while std::net::TcpStream::connect(self.addr).is_err() {
            let exited = self.child.as_mut().map(|c| c.try_wait());
            if Instant::now() > deadline || matches!(exited, Some(Ok(Some(_)))) {
                self.stop();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("HAProxy did not start on {}: {text}", self.addr);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Closing its stdin makes the watcher kill HAProxy and wait for it.
            if let Some(mut stdin) = c.stdin.take() {
                let _ = stdin.write_all(b"stop\n");
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `haproxy` binary, or a sentence saying which package to install.
fn binary() -> anyhow::Result<()> {
    let found = Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        bail!("haproxy is not installed: install Debian's haproxy package (`apt-get install haproxy`; `make deps` does)");
    }
    Ok(())
}

/// `shipped` with its `global` section replaced (a stats socket at `socket`), its `bind`
/// lines on `bind` and each backend's `server` lines on `backends` (named node1, node2, …,
/// keeping the options after the address).
pub fn config_for(
    shipped: &str,
    bind: SocketAddr,
    backends: &[SocketAddr],
    socket: &Path,
) -> String {
    let mut out = format!(
        "global\n    maxconn 4000\n    stats socket {} mode 600 level admin\n\n",
        socket.display()
    );
    let start = shipped
        .find("\ndefaults")
        .expect("the shipped haproxy.cfg has a defaults section");
    let mut servers_written = false;
    for line in shipped[start + 1..].lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            Some("bind") => out.push_str(&format!("    bind {bind}\n")),
            Some("server") => {
                // The first server line of a backend stands for all of them.
                if !servers_written {
                    for (i, b) in backends.iter().enumerate() {
                        let rest = words[3..].join(" ");
                        out.push_str(&format!("    server node{} {b} {rest}\n", i + 1));
                    }
                    servers_written = true;
                }
            }
            _ => {
                servers_written = false;
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// From `show stat` CSV: per backend, how many of its servers are UP.
fn count_up(csv: &str) -> Vec<(String, usize)> {
    let mut lines = csv.lines();
    let Some(head) = lines.next() else {
        return Vec::new();
    };
    let cols: Vec<&str> = head.trim_start_matches("# ").split(',').collect();
    let at = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(st)) = (at("pxname"), at("svname"), at("status")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, usize)> = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if f.len() <= st || matches!(f[sv], "FRONTEND" | "BACKEND") {
            continue;
        }
        let up = usize::from(f[st].starts_with("UP"));
        match out.iter_mut().find(|(n, _)| n == f[px]) {
            Some((_, k)) => *k += up,
            None => out.push((f[px].to_owned(), up)),
        }
    }
    out
}
