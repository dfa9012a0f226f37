//! A Tidings cluster for tests and benchmarks: `n` real `tidings-server` nodes on one
//! store (a `postgres://` URL, the caller's [`crate::Postgres`]) and a private [`Redis`] as
//! their bus, behind a private [`Haproxy`] running the shipped configuration. The nodes
//! share one data directory (attachments and unfinished uploads, as docs/cluster.md
//! deploys them) and the testkit's JWT secret and service token; each has its own config
//! file and log there. A node can be killed (`SIGKILL`) and started again on its port.
//! Everything stops when the value is dropped, also on a panic.

use crate::{server_binary, spawn_listening, BinServer, Haproxy, Redis, TempDir, BIN_CONFIG};
use crate::{SECRET, SERVICE_TOKEN};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The nodes, their bus and their load balancer.
#[derive(Debug)]
pub struct Cluster {
    /// Node `i`'s process; `None` while it is killed.
    nodes: Vec<Option<BinServer>>,
    /// Node `i`'s address, kept across restarts.
    pub addrs: Vec<SocketAddr>,
    pub haproxy: Haproxy,
    pub redis: Redis,
    store: String,
    extra: String,
    /// Declared last: removed after every node is gone.
    shared: TempDir,
}

impl Cluster {
    /// `n` nodes on `store`, with a fresh Redis and HAProxy in front, every node up in
    /// HAProxy's health checks when this returns.
    pub async fn start(n: usize, store: &str) -> Cluster {
        Cluster::start_with(n, store, "").await
    }

    /// [`Cluster::start`] with more config text for every node (appended after the
    /// testkit's, so it may add sections such as `[chat]`, not repeat `[limits]`).
    pub async fn start_with(n: usize, store: &str, extra: &str) -> Cluster {
        let shared = TempDir::new("cluster");
        let redis = Redis::start();
        let mut c = Cluster {
            nodes: Vec::new(),
            addrs: Vec::new(),
            haproxy: Haproxy::start(&[]).unwrap(),
            redis,
            store: store.to_owned(),
            extra: extra.to_owned(),
            shared,
        };
        for i in 0..n {
            let node = c.spawn(i, None);
            c.addrs.push(node.addr);
            c.nodes.push(Some(node));
        }
        c.haproxy.set_backends(&c.addrs.clone()).unwrap();
        c.haproxy.wait_servers_up(n).await;
        c
    }

    /// The data directory every node shares.
    pub fn data_dir(&self) -> &Path {
        self.shared.path()
    }

    /// Node `i`'s log (its stderr).
    pub fn log(&self, i: usize) -> PathBuf {
        self.shared.path().join(format!("node{}.log", i + 1))
    }

    /// The configuration node `i` runs with.
    pub fn config(&self, i: usize) -> String {
        format!(
            "{BIN_CONFIG}{}\n[storage]\nstore = \"{}\"\n[cluster]\nbus = \"{}\"\nnode_id = \"node{}\"\n",
            self.extra,
            self.store,
            self.redis.url(),
            i + 1
        )
    }

    fn spawn(&self, i: usize, addr: Option<SocketAddr>) -> BinServer {
        let cfg = self.shared.path().join(format!("node{}.toml", i + 1));
        std::fs::write(&cfg, self.config(i)).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(i))
            .unwrap();
        let listen = addr.map_or_else(|| "127.0.0.1:0".to_owned(), |a| a.to_string());
        let mut cmd = Command::new(server_binary());
        cmd.args(["--listen", &listen, "--data-dir"])
            .arg(self.shared.path())
            .arg("--config")
            .arg(&cfg)
            .env("TIDINGS_JWT_SECRET", SECRET)
            .env("TIDINGS_SERVICE_TOKEN", SERVICE_TOKEN)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stderr(log);
        let (child, addr) = spawn_listening(&mut cmd, "tidings-server")
            .unwrap_or_else(|e| panic!("node{} did not start: {e:#}", i + 1));
        BinServer {
            child,
            addr,
            dir: None,
        }
    }

    /// `http://` of the load balancer.
    pub fn http(&self) -> String {
        self.haproxy.http()
    }

    /// `ws://…/ws` of the load balancer.
    pub fn url(&self) -> String {
        self.haproxy.url()
    }

    /// `http://` of node `i` itself.
    pub fn node_http(&self, i: usize) -> String {
        format!("http://{}", self.addrs[i])
    }

    /// `ws://…/ws` of node `i` itself.
    pub fn node_url(&self, i: usize) -> String {
        format!("ws://{}/ws", self.addrs[i])
    }

    /// Whether node `i` runs.
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].is_some()
    }

    /// Node `i`'s process id, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].as_ref().map(|n| n.child.id())
    }

    /// `kill -9` of node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.kill();
        }
    }

    /// Starts node `i` again on its port (after [`Cluster::kill`]).
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        let node = self.spawn(i, Some(self.addrs[i]));
        self.nodes[i] = Some(node);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut().filter_map(Option::take) {
            n.kill();
        }
    }
}
