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
        let dir = TempDir::new("srv");
        let mut config = Config::default();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.data_dir = dir.0.clone();
        config.jwt.secret = Some(SECRET.into());
        tweak(&mut config);
        let state = AppState::with_app(config, make_app).expect("server state");
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
}

/// A minimal HTTP/1.1 GET over a raw socket.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
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
