//! A real server on 127.0.0.1:0 and a small STOMP-over-WebSocket test client.
#![allow(dead_code, clippy::unwrap_used, clippy::field_reassign_with_default)]

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tidings_server::{AppState, Config};
use tidings_stomp::{Command, Decoder, Frame, Item, Limits, Version};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something that should happen (a bound, not a sleep).
pub const WAIT: Duration = Duration::from_secs(5);
pub const SECRET: &str = "test-secret-0123456789";
pub const SERVICE_TOKEN: &str = "service-token-for-tests-0123";

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: TempDir,
}

/// A temp dir removed on drop.
pub struct TempDir(pub std::path::PathBuf);
impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "tidings-{tag}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::with_app(tweak, |_| {
            std::sync::Arc::new(tidings_server::NoApplication)
        })
        .await
    }

    /// A server whose `/app/**` destinations go to the application `make_app` builds.
    pub async fn with_app(
        tweak: impl FnOnce(&mut Config),
        make_app: impl FnOnce(tidings_server::Broker) -> std::sync::Arc<dyn tidings_server::Application>,
    ) -> TestServer {
        TestServer::build(TempDir::new("srv"), tweak, |c| {
            AppState::with_app(c, make_app)
        })
        .await
    }

    /// The whole server: broker, chat domain, REST, on a fresh data directory.
    pub async fn chat() -> TestServer {
        TestServer::chat_with(|_| {}).await
    }

    pub async fn chat_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::build(TempDir::new("chat"), tweak, AppState::new).await
    }

    /// The whole server on an existing data directory (a restart).
    pub async fn chat_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::build(dir, tweak, AppState::new).await
    }

    async fn build(
        dir: TempDir,
        tweak: impl FnOnce(&mut Config),
        make: impl FnOnce(Config) -> anyhow::Result<AppState>,
    ) -> TestServer {
        let mut config = Config::default();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.data_dir = dir.0.clone();
        config.jwt.secret = Some(SECRET.into());
        config.auth.service_token = Some(SERVICE_TOKEN.into());
        // Tests register and sign in many users from 127.0.0.1.
        config.auth.login_attempts_per_minute_per_address = 1_000_000;
        config.auth.registrations_per_hour_per_address = 1_000_000;
        config.auth.max_hash_waiters = 100_000;
        tweak(&mut config);
        let state = make(config).expect("server state");
        let listener = tokio::net::TcpListener::bind(state.config.listen)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(tidings_server::serve(listener, state.clone()));
        TestServer {
            addr,
            state,
            task,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A REST client for this server.
    pub fn api(&self) -> Api {
        Api::new(self.addr)
    }

    /// Stops the server and gives back its data directory.
    pub async fn stop(self) -> TempDir {
        self.state.shutdown.cancel();
        let _ = tokio::time::timeout(WAIT, self.task).await;
        self._dir
    }

    pub fn token(&self, sub: &str) -> String {
        self.state.auth.mint(sub, &[], 3600).unwrap()
    }

    /// A connected, authenticated client.
    pub async fn client(&self, user: &str) -> Client {
        let mut c = Client::open(&self.url()).await;
        let connected = c.connect(&self.token(user), "0,0").await;
        assert_eq!(connected.command, Command::Connected, "{connected:?}");
        c
    }

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

/// A minimal HTTP/1.1 GET over a raw socket.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http_get_with(addr, path, None).await
}

/// A minimal HTTP/1.1 GET over a raw socket, with an `Authorization` header.
pub async fn http_get_with(
    addr: std::net::SocketAddr,
    path: &str,
    authorization: Option<&str>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let status = buf[9..12].parse().unwrap();
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    decoder: Decoder,
    pub version: Version,
    next_receipt: u64,
    /// Frames read while waiting for something else.
    pub stash: std::collections::VecDeque<Frame>,
    pub heart_beats: usize,
}

impl Client {
    pub async fn open(url: &str) -> Client {
        Client::open_with(url, &[]).await
    }

    pub async fn open_with(url: &str, headers: &[(&str, &str)]) -> Client {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "v12.stomp, v11.stomp, v10.stomp".parse().unwrap(),
        );
        for (k, v) in headers {
            let name =
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
            req.headers_mut().insert(name, v.parse().unwrap());
        }
        let (ws, _resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket upgrade");
        Client {
            ws,
            decoder: Decoder::new(Limits {
                max_frame_bytes: 1 << 22,
                max_body_bytes: 1 << 22,
                ..Limits::default()
            }),
            version: Version::V1_2,
            next_receipt: 0,
            stash: Default::default(),
            heart_beats: 0,
        }
    }

    /// Sends CONNECT with the token as `Authorization: Bearer` and returns the reply.
    pub async fn connect(&mut self, token: &str, heart_beat: &str) -> Frame {
        self.send(
            Frame::new(Command::Connect)
                .with_header("accept-version", "1.0,1.1,1.2")
                .with_header("host", "localhost")
                .with_header("heart-beat", heart_beat)
                .with_header("Authorization", format!("Bearer {token}")),
        )
        .await;
        self.next_frame().await
    }

    pub async fn send(&mut self, frame: Frame) {
        let bytes = tidings_stomp::encode_to_bytes(&frame, self.version);
        self.send_raw(bytes).await;
    }

    pub async fn send_raw(&mut self, bytes: impl Into<Bytes>) {
        let bytes: Bytes = bytes.into();
        let msg = match std::str::from_utf8(&bytes) {
            Ok(s) => Message::text(s.to_owned()),
            Err(_) => Message::binary(bytes),
        };
        self.ws.send(msg).await.expect("websocket send");
    }

    /// The next frame (stashed ones first), or panic after [`WAIT`].
    pub async fn next_frame(&mut self) -> Frame {
        if let Some(f) = self.stash.pop_front() {
            return f;
        }
        self.read_frame()
            .await
            .expect("connection closed while waiting for a frame")
    }

    /// Reads from the socket; `None` when the socket closes, fails or stays silent for
    /// [`WAIT`]. Never panics: for tests where the server dies.
    pub async fn try_read_frame(&mut self) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self.decoder.decode() {
                Ok(Some(Item::Frame(f))) => return Some(f),
                Ok(Some(Item::HeartBeat)) => continue,
                Ok(None) => {}
                Err(_) => return None,
            }
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => self.decoder.extend(t.as_bytes()),
                Ok(Some(Ok(Message::Binary(b)))) => self.decoder.extend(&b),
                Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) | Err(_) => {
                    return None
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Reads from the socket; `None` when the socket closes.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self
                .decoder
                .decode()
                .expect("server sent a malformed frame")
            {
                Some(Item::Frame(f)) => return Some(f),
                Some(Item::HeartBeat) => {
                    self.heart_beats += 1;
                    continue;
                }
                None => {}
            }
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("timed out waiting for the server");
            match msg {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Text(t))) => self.decoder.extend(t.as_bytes()),
                Some(Ok(Message::Binary(b))) => self.decoder.extend(&b),
                Some(Ok(Message::Close(_))) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Expects an ERROR frame, then the socket closing; returns the ERROR.
    pub async fn expect_error(&mut self) -> Frame {
        let f = self.next_frame().await;
        assert_eq!(f.command, Command::Error, "expected ERROR, got {f:?}");
        assert!(
            self.read_frame().await.is_none(),
            "socket should close after ERROR"
        );
        f
    }

    pub fn receipt_id(&mut self) -> String {
        self.next_receipt += 1;
        format!("r-{}", self.next_receipt)
    }

    /// Sends a frame with a receipt and returns the frames that arrived before the RECEIPT.
    pub async fn send_with_receipt(&mut self, frame: Frame) -> Vec<Frame> {
        let r = self.receipt_id();
        self.send(frame.with_header("receipt", &r)).await;
        let mut before = Vec::new();
        loop {
            let f = self
                .read_frame()
                .await
                .expect("connection closed before RECEIPT");
            if f.command == Command::Receipt && f.header("receipt-id") == Some(r.as_str()) {
                return before;
            }
            assert_ne!(
                f.command,
                Command::Error,
                "unexpected ERROR: {f:?} {:?}",
                String::from_utf8_lossy(&f.body)
            );
            before.push(f);
        }
    }

    /// A round trip: everything the server queued before it is read (and returned).
    pub async fn barrier(&mut self) -> Vec<Frame> {
        let id = format!("barrier-{}", self.next_receipt + 1);
        let mut got = self
            .send_with_receipt(
                Frame::new(Command::Subscribe)
                    .with_header("destination", "/topic/barrier")
                    .with_header("id", &id),
            )
            .await;
        got.extend(
            self.send_with_receipt(Frame::new(Command::Unsubscribe).with_header("id", &id))
                .await,
        );
        let stashed: Vec<Frame> = self.stash.drain(..).collect();
        stashed.into_iter().chain(got).collect()
    }

    pub async fn subscribe(&mut self, destination: &str, id: &str, ack: &str) {
        let before = self
            .send_with_receipt(
                Frame::new(Command::Subscribe)
                    .with_header("destination", destination)
                    .with_header("id", id)
                    .with_header("ack", ack),
            )
            .await;
        self.stash.extend(before);
    }

    pub async fn publish(&mut self, destination: &str, body: &str) {
        let before = self
            .send_with_receipt(
                Frame::new(Command::Send)
                    .with_header("destination", destination)
                    .with_header("content-type", "text/plain")
                    .with_body(body.to_owned()),
            )
            .await;
        self.stash.extend(before);
    }

    /// The next MESSAGE frame.
    pub async fn next_message(&mut self) -> Frame {
        let f = self.next_frame().await;
        assert_eq!(f.command, Command::Message, "expected MESSAGE, got {f:?}");
        f
    }
}

pub fn body(f: &Frame) -> &str {
    std::str::from_utf8(&f.body).unwrap()
}

/// A REST client for the server's `/api`.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

/// A signed-in user: access and refresh tokens.
#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    pub token: String,
    pub refresh: String,
}

impl Api {
    pub fn new(addr: std::net::SocketAddr) -> Api {
        // reqwest is built with `rustls-no-provider` in this workspace: install ring first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    /// Any request; returns the status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
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
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Registers `name` (password `name` + "-password") and returns its session.
    pub async fn register(&self, name: &str) -> Session {
        let (status, body) = self
            .call(
                "POST",
                "/api/auth/register",
                None,
                Some(serde_json::json!({"username": name, "password": format!("{name}-password")})),
            )
            .await;
        assert_eq!(status, 201, "register {name}: {body}");
        Session {
            name: name.to_owned(),
            token: body["accessToken"].as_str().unwrap().to_owned(),
            refresh: body["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates a group of `creator` and `others`; returns its id.
    pub async fn group(&self, creator: &Session, others: &[&Session]) -> String {
        let (status, body) = self
            .post(
                "/api/conversations",
                &creator.token,
                serde_json::json!({"kind": "group", "title": "Test group",
                    "participants": others.iter().map(|s| s.name.clone()).collect::<Vec<_>>()}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Sends over REST and returns (status, message).
    pub async fn send(
        &self,
        who: &Session,
        cid: &str,
        client_id: &str,
        content: &str,
    ) -> (u16, serde_json::Value) {
        self.post(
            &format!("/api/conversations/{cid}/messages"),
            &who.token,
            serde_json::json!({"clientId": client_id, "content": content}),
        )
        .await
    }
}

impl Client {
    /// Connects with a REST session's access token.
    pub async fn signed_in(server: &TestServer, who: &Session) -> Client {
        let mut c = Client::open(&server.url()).await;
        let connected = c.connect(&who.token, "0,0").await;
        assert_eq!(connected.command, Command::Connected, "{connected:?}");
        c
    }

    /// `SEND` with a JSON body; waits for its RECEIPT. Frames that came before it are
    /// stashed for later reads.
    pub async fn send_json(&mut self, destination: &str, body: serde_json::Value) {
        let before = self
            .send_with_receipt(
                Frame::new(Command::Send)
                    .with_header("destination", destination)
                    .with_header("content-type", "application/json")
                    .with_body(body.to_string()),
            )
            .await;
        self.stash.extend(before);
    }

    /// `SEND` with a receipt that the server refuses: returns the JSON error that arrives on
    /// the `errors` subscription (`/user/queue/errors`) with the receipt's id.
    pub async fn send_refused(
        &mut self,
        destination: &str,
        body: impl Into<Bytes>,
    ) -> serde_json::Value {
        let r = self.receipt_id();
        self.send(
            Frame::new(Command::Send)
                .with_header("destination", destination)
                .with_header("receipt", &r)
                .with_body(body.into()),
        )
        .await;
        let err = self.next_json("errors").await;
        assert_eq!(err["receiptId"], r.as_str(), "{err}");
        err
    }

    /// The next MESSAGE on `subscription` as JSON; other frames are stashed.
    pub async fn next_json(&mut self, subscription: &str) -> serde_json::Value {
        let mut skipped = Vec::new();
        let found = loop {
            let f = match self.stash.pop_front() {
                Some(f) => f,
                None => self.read_frame().await.expect("connection closed"),
            };
            if f.command == Command::Message && f.header("subscription") == Some(subscription) {
                break f;
            }
            assert_ne!(f.command, Command::Error, "unexpected ERROR: {f:?}");
            skipped.push(f);
        };
        for f in skipped.into_iter().rev() {
            self.stash.push_front(f);
        }
        serde_json::from_slice(&found.body).unwrap()
    }

    /// The next event of `type` on `subscription` (others on it are skipped).
    pub async fn next_event(&mut self, subscription: &str, kind: &str) -> serde_json::Value {
        loop {
            let v = self.next_json(subscription).await;
            if v["type"] == kind {
                return v;
            }
        }
    }
}

pub const BIN: &str = env!("CARGO_BIN_EXE_tidings-server");

/// The `tidings-server` binary, running; killed when dropped.
pub struct Running {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
    /// The data directory, when this process owns it.
    pub dir: Option<TempDir>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on port 0 with `data_dir` and reads the address it prints.
pub fn start_binary(data_dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Running {
    use std::io::BufRead;
    use std::process::{Command as Proc, Stdio};
    let mut cmd = Proc::new(BIN);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ])
    .args(args)
    .env_remove("TIDINGS_JWT_SECRET")
    .env("RUST_LOG", "debug")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start tidings-server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("tidings-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    Running {
        child,
        addr,
        dir: None,
    }
}
