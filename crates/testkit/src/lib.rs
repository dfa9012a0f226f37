//! The one test harness of the workspace: a real Tidings server on `127.0.0.1:0`, in this
//! process or as the `tidings-server` binary (for `kill -9`), on a temp data directory or one
//! that survives restarts; a REST client, a STOMP client ([`Client`]) and network-failure
//! proxies. Everything waits for conditions with deadlines ([`WAIT`]), never for time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tidings_server::{Config, ServerState};

mod chat;
mod cluster;
mod haproxy;
mod postgres;
mod process;
mod redis;
mod sio;
mod sse;
mod stomp;
mod stomp_tcp;
mod upload;
pub use chat::{expect_ok, id_of, participant_ids};
pub use cluster::Cluster;
pub use haproxy::Haproxy;
pub use postgres::{postgres_store, postgres_store_at, servers_on_postgres, Postgres};
pub use process::{spawn_listening, Process};
pub use redis::{servers_on_redis, Redis};
pub use sio::{casting_profile, sio_backend_dir, SioBackend};
pub use sse::Sse;
pub use stomp::{body, http_get, http_get_over, http_get_with, Client};
pub use stomp_tcp::{TcpClient, TestCert};
pub use upload::{noise, open_patch, write_file, Download, Meta, TusAnswer};

pub const SECRET: &str = "testkit-secret-0123456789";
pub const SERVICE_TOKEN: &str = "testkit-service-token-0123";
/// How long a test waits for something that should happen (a bound, not a sleep).
pub const WAIT: Duration = Duration::from_secs(10);

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "tidings-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Server settings tests commonly change.
pub fn config(data_dir: &Path, addr: SocketAddr) -> Config {
    let mut c = Config::default();
    c.listen = addr;
    c.data_dir = data_dir.to_owned();
    c.jwt.secret = Some(SECRET.into());
    c.auth.service_token = Some(SERVICE_TOKEN.into());
    // Tests send in bursts from a few users.
    c.limits.sends_per_minute = 1_000_000;
    // ... make REST requests in bursts (hostile tests set their own request limits) ...
    c.limits.requests_per_minute = 1_000_000;
    c.limits.request_burst = 1_000_000;
    c.limits.max_requests_in_flight_per_user = 1_000_000;
    // ... and register and sign in many users from 127.0.0.1, several at once.
    c.auth.login_attempts_per_minute_per_address = 1_000_000;
    c.auth.registrations_per_hour_per_address = 1_000_000;
    c.auth.refreshes_per_minute_per_address = 1_000_000;
    c.auth.max_hash_waiters = 100_000;
    c
}

/// The config file [`BinServer::start`] runs the binary with: the same lifted limits as
/// [`config`].
pub const BIN_CONFIG: &str = "\
[limits]
sends_per_minute = 1000000
requests_per_minute = 1000000
request_burst = 1000000
max_requests_in_flight_per_user = 1000000
[auth]
login_attempts_per_minute_per_address = 1000000
registrations_per_hour_per_address = 1000000
refreshes_per_minute_per_address = 1000000
max_hash_waiters = 100000
";

/// `TIDINGS_TEST_STORE=postgres`: the database of the server on `data_dir`, a fresh one of
/// the shared private PostgreSQL the first time, the same one when the server restarts on
/// the directory (its URL is kept in it).
fn test_database(data_dir: &Path) -> String {
    let file = data_dir.join("testkit-postgres-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return url;
    }
    let url = Postgres::shared().create_database();
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::write(&file, &url).unwrap();
    url
}

/// The server in this process, on `127.0.0.1:0` (or a given address), with [`config`]'s
/// lifted limits.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    /// The STOMP-over-TCP listener's address, when `stomp_tcp.listen` is set.
    pub stomp_addr: Option<SocketAddr>,
    pub state: ServerState,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The data directory, when this server owns it (removed on drop).
    dir: Option<TempDir>,
}

impl Server {
    /// The whole server on `data_dir` (the caller's, kept across restarts), on
    /// `127.0.0.1:0` (or `addr`, to come back on the same port after a restart).
    pub async fn start(
        data_dir: &Path,
        addr: Option<SocketAddr>,
        tweak: impl FnOnce(&mut Config),
    ) -> Server {
        let addr = addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        Server::build(config(data_dir, addr), None, tweak, ServerState::new).await
    }

    /// The broker alone (no `/app/**` application) on a fresh data directory.
    pub async fn broker() -> Server {
        Server::with(|_| {}).await
    }

    /// The broker alone, with config changes.
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Server {
        Server::with_app(tweak, |_| Arc::new(tidings_server::NoApplication)).await
    }

    /// A server whose `/app/**` destinations go to the application `make_app` builds.
    pub async fn with_app(
        tweak: impl FnOnce(&mut Config),
        make_app: impl FnOnce(tidings_server::Broker) -> Arc<dyn tidings_server::Application>,
    ) -> Server {
        Server::owning(TempDir::new("srv"), tweak, |c| {
            ServerState::with_app(c, make_app)
        })
        .await
    }

    /// The whole server: broker, chat domain, REST, on a fresh data directory.
    pub async fn chat() -> Server {
        Server::chat_with(|_| {}).await
    }

    pub async fn chat_with(tweak: impl FnOnce(&mut Config)) -> Server {
        Server::owning(TempDir::new("chat"), tweak, ServerState::new).await
    }

    /// The whole server on an existing data directory it now owns (a restart).
    pub async fn chat_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> Server {
        Server::owning(dir, tweak, ServerState::new).await
    }

    async fn owning(
        dir: TempDir,
        tweak: impl FnOnce(&mut Config),
        make: impl FnOnce(Config) -> anyhow::Result<ServerState>,
    ) -> Server {
        let c = config(dir.path(), "127.0.0.1:0".parse().unwrap());
        Server::build(c, Some(dir), tweak, make).await
    }

    async fn build(
        mut c: Config,
        dir: Option<TempDir>,
        tweak: impl FnOnce(&mut Config),
        make: impl FnOnce(Config) -> anyhow::Result<ServerState>,
    ) -> Server {
        tweak(&mut c);
        if servers_on_postgres() && c.storage.store.is_none() {
            c.storage.store = Some(test_database(&c.data_dir));
        }
        if servers_on_redis() && c.cluster.bus.is_none() {
            // One Redis for the test binary; each server its own cluster on it (the tests
            // run in parallel with the same user names).
            c.cluster.bus = Some(Redis::shared().url());
            static CLUSTERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            c.cluster.name = format!("test-{}-{n}", std::process::id());
        }
        let state = make(c).expect("server state");
        let listener = tokio::net::TcpListener::bind(state.config.listen)
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let stomp = tidings_server::stomp_tcp::StompListener::bind(&state.config)
            .await
            .expect("bind STOMP over TCP");
        let stomp_addr = stomp.as_ref().map(|s| s.local_addr().unwrap());
        let task = tokio::spawn(tidings_server::serve_with(listener, stomp, state.clone()));
        Server {
            addr,
            stomp_addr,
            state,
            task,
            dir,
        }
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The STOMP endpoint, `ws://ADDR/ws`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn api(&self) -> Api {
        Api::new(&self.http())
    }

    /// Stops it (connections get "server is shutting down"), waits, and gives back the data
    /// directory when it owned one.
    pub async fn stop(self) -> Option<TempDir> {
        self.state.shutdown.cancel();
        let _ = tokio::time::timeout(WAIT, self.task).await;
        self.dir
    }

    /// An access token for `sub`, minted with the server's key.
    pub fn token(&self, sub: &str) -> String {
        self.state.auth.mint(sub, &[], 3600).unwrap()
    }

    /// A connected, authenticated STOMP client.
    pub async fn client(&self, user: &str) -> Client {
        let mut c = Client::open(&self.url()).await;
        let connected = c.connect(&self.token(user), "0,0").await;
        assert_eq!(
            connected.command,
            tidings_stomp::Command::Connected,
            "{connected:?}"
        );
        c
    }

    /// `GET path` over a raw socket: (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path).await
    }

    /// `GET /metrics` with the service token (the metrics are not public by default).
    pub async fn metrics(&self) -> String {
        let (status, body) = http_get_with(
            self.addr,
            "/metrics",
            Some(&format!("Bearer {SERVICE_TOKEN}")),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// The path of the `tidings-server` binary beside this test executable
/// (`TIDINGS_SERVER_BIN` overrides it).
pub fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TIDINGS_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/tidings-server
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("tidings-server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} does not exist: build it first with `cargo build -p tidings-server` (make test does)",
        bin.display()
    );
    bin
}

/// The server binary, running; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct BinServer {
    pub child: Child,
    pub addr: SocketAddr,
    /// The data directory, when this process owns it (removed after the kill).
    pub dir: Option<TempDir>,
}

impl BinServer {
    /// Starts the binary on `addr` (`127.0.0.1:0` for any port) with `data_dir`.
    pub fn start(data_dir: &Path, addr: Option<SocketAddr>) -> BinServer {
        BinServer::start_with(data_dir, addr, BIN_CONFIG)
    }

    /// Starts the binary with this config file text instead of [`BIN_CONFIG`].
    pub fn start_with(data_dir: &Path, addr: Option<SocketAddr>, config: &str) -> BinServer {
        let listen = addr.map_or_else(|| "127.0.0.1:0".to_owned(), |a| a.to_string());
        let cfg = data_dir.join("testkit-server.toml");
        std::fs::write(&cfg, config).unwrap();
        let mut cmd = Command::new(server_binary());
        cmd.args(["--listen", &listen, "--data-dir"])
            .arg(data_dir)
            .args(["--config"])
            .arg(&cfg)
            .env("TIDINGS_JWT_SECRET", SECRET)
            .env("TIDINGS_SERVICE_TOKEN", SERVICE_TOKEN)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::inherit());
        BinServer::spawn(cmd)
    }

    /// Starts the binary on `127.0.0.1:0` with `data_dir` and only these arguments and
    /// environment (no config file, no secret: a test of the binary's own start-up). Its
    /// stderr (logs at `debug`) is piped for the test to read.
    pub fn start_args(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> BinServer {
        let mut cmd = Command::new(server_binary());
        cmd.args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env_remove("TIDINGS_JWT_SECRET")
            .env("RUST_LOG", "debug")
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        BinServer::spawn(cmd)
    }

    /// Spawns and reads the address from the first stdout line.
    fn spawn(mut cmd: Command) -> BinServer {
        let (child, addr) = spawn_listening(&mut cmd, "tidings-server").unwrap();
        BinServer {
            child,
            addr,
            dir: None,
        }
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn api(&self) -> Api {
        Api::new(&self.http())
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// reqwest is built with `rustls-no-provider` in this workspace (the client picks ring):
/// every test process installs ring before it builds an HTTP client.
pub fn http_client_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub name: String,
    pub password: String,
    pub token: String,
    pub refresh: String,
    pub expires_in: u64,
}

/// A REST client.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        http_client_provider();
        Api {
            base: base.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = tokio::time::timeout(WAIT, req.send())
            .await
            .expect("request timed out")
            .expect("request failed");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
            },
        )
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Registers `name` (password `name` + "-password") and returns its session.
    pub async fn register(&self, name: &str) -> TestUser {
        let password = format!("{name}-password");
        let (status, body) = self
            .call(
                "POST",
                "/api/auth/register",
                None,
                Some(json!({"username": name, "password": password})),
            )
            .await;
        assert_eq!(status, 201, "register {name}: {body}");
        TestUser {
            name: name.to_owned(),
            password,
            token: body["accessToken"].as_str().unwrap().to_owned(),
            refresh: body["refreshToken"].as_str().unwrap().to_owned(),
            expires_in: body["expiresIn"].as_u64().unwrap(),
        }
    }

    /// alice and bob registered, and a group of the two: (alice, bob, its id).
    pub async fn alice_and_bob(&self) -> (TestUser, TestUser, String) {
        let alice = self.register("alice").await;
        let bob = self.register("bob").await;
        let cid = self.group(&alice, &[&bob]).await;
        (alice, bob, cid)
    }

    /// A group of `creator` and `others`; returns its id.
    pub async fn group(&self, creator: &TestUser, others: &[&TestUser]) -> String {
        let names: Vec<&str> = others.iter().map(|s| s.name.as_str()).collect();
        let (status, body) = self
            .call(
                "POST",
                "/api/conversations",
                Some(&creator.token),
                Some(json!({"kind": "group", "title": "Test group", "participants": names})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Sends over REST; returns the stored message (and panics on a refusal).
    pub async fn send(&self, who: &TestUser, cid: &str, client_id: &str, content: &str) -> Value {
        let (status, body) = self.post_message(who, cid, client_id, content).await;
        assert!(status == 201 || status == 200, "send: {status} {body}");
        body
    }

    /// Sends over REST; returns the answer as it is, (status, body), refusals included.
    pub async fn post_message(
        &self,
        who: &TestUser,
        cid: &str,
        client_id: &str,
        content: &str,
    ) -> (u16, Value) {
        self.post(
            &format!("/api/conversations/{cid}/messages"),
            &who.token,
            json!({"clientId": client_id, "content": content}),
        )
        .await
    }

    /// Every message of a conversation, ascending.
    pub async fn all_messages(&self, who: &TestUser, cid: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let (status, page) = self
                .call(
                    "GET",
                    &format!("/api/conversations/{cid}/messages?after={after}&limit=500"),
                    Some(&who.token),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{page}");
            for m in page["messages"].as_array().unwrap() {
                after = m["seq"].as_i64().unwrap();
                out.push(m.clone());
            }
            if !page["hasMore"].as_bool().unwrap() {
                return out;
            }
        }
    }

    /// The user's conversations as the server sees them: every page of the list.
    pub async fn conversations(&self, who: &TestUser) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = "/api/conversations?limit=500".to_owned();
        loop {
            let (status, body) = self.call("GET", &path, Some(&who.token), None).await;
            assert_eq!(status, 200, "{body}");
            out.extend(body["conversations"].as_array().unwrap().iter().cloned());
            if body["hasMore"] != true {
                return out;
            }
            let cursor = body["nextCursor"].as_str().unwrap();
            path = format!("/api/conversations?limit=500&cursor={cursor}");
        }
    }
}

/// A TCP proxy on `127.0.0.1:0` in front of a server, that can cut every connection passing
/// through it at once (a network failure, as the client sees it).
#[derive(Debug, Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    cut: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    blocked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    held: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let cut = std::sync::Arc::new(cut);
        let blocked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (held, _) = tokio::sync::watch::channel(false);
        let held = std::sync::Arc::new(held);
        let (c, b, h) = (cut.clone(), blocked.clone(), held.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if b.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // refused: dropped at once
                }
                let mut cut_rx = c.subscribe();
                let (up, down) = (h.subscribe(), h.subscribe());
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (in_r, in_w) = inbound.into_split();
                    let (out_r, out_w) = outbound.into_split();
                    tokio::select! {
                        _ = async { tokio::try_join!(forward(in_r, out_w, up), forward(out_r, in_w, down)) } => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            cut,
            blocked,
            held,
        }
    }

    /// While held, nothing passes either way and nothing is closed: a black hole (a cable
    /// pulled, a route gone), as both ends see it. Connections opened meanwhile are accepted
    /// and held too. What was sent waits in the proxy and flows once released.
    pub fn hold(&self, held: bool) {
        self.held.send_replace(held);
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes every connection through the proxy now.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// While blocked, new connections are closed at once (the server looks down).
    pub fn block(&self, blocked: bool) {
        self.blocked
            .store(blocked, std::sync::atomic::Ordering::SeqCst);
        if blocked {
            self.cut();
        }
    }
}
/// Copies one direction of a [`Proxy`]'s connection, reading nothing while it is held, and
/// passes the end of the stream on; an error ends both directions (as
/// `copy_bidirectional` does).
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut held: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // (The guards `wait_for` gives are dropped at once: they are not Send.)
        let released = held.wait_for(|h| !*h).await.is_ok();
        if !released {
            return Ok(()); // the proxy is gone
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => r?,
            _ = async { drop(held.wait_for(|h| *h).await) } => continue,
        };
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buf[..n]).await?;
    }
}

pub use tidings_server;

/// A test CA made on the spot and a certificate for `localhost` signed by it.
pub(crate) struct Minted {
    /// The CA's certificate (PEM), for clients to trust.
    pub ca_pem: String,
    pub leaf: rcgen::Certificate,
    pub leaf_key: rcgen::KeyPair,
}

pub(crate) fn mint_localhost_cert(ca_name: &str) -> Minted {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    Minted {
        ca_pem: ca_cert.pem(),
        leaf,
        leaf_key,
    }
}

/// A TLS-terminating proxy on `127.0.0.1:0` in front of a server, with a certificate for
/// `localhost` signed by a test CA made on the spot: what a reverse proxy in production
/// does, for testing `https://` and `wss://` clients. The CA's PEM is written to `ca_pem`.
#[derive(Debug)]
pub struct TlsProxy {
    pub addr: SocketAddr,
    pub ca_pem: PathBuf,
}

impl TlsProxy {
    pub async fn start(target: SocketAddr, dir: &Path) -> TlsProxy {
        let Minted {
            ca_pem: ca_text,
            leaf,
            leaf_key,
        } = mint_localhost_cert("Tidings test CA");
        let ca_pem = dir.join("test-ca.pem");
        std::fs::write(&ca_pem, ca_text).unwrap();
        http_client_provider();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(inbound).await else {
                        return;
                    };
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
                    }
                });
            }
        });
        TlsProxy { addr, ca_pem }
    }

    /// `https://localhost:PORT`.
    pub fn https(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}
