//! The STOMP-over-WebSocket test client: frames in and out of a real server, every read
//! bounded by [`WAIT`](crate::WAIT); and a raw HTTP/1.1 GET for what reqwest would tidy up.

use crate::{Server, TestUser, WAIT};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tidings_stomp::{Command, Decoder, Frame, Item, Limits, Version};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

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
    let s = TcpStream::connect(addr).await.unwrap();
    http_get_over(s, addr, path, authorization).await
}

/// A minimal HTTP/1.1 GET over a socket already connected to `addr` (say, from a chosen
/// local address): the status and the body.
pub async fn http_get_over(
    mut s: TcpStream,
    addr: std::net::SocketAddr,
    path: &str,
    authorization: Option<&str>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("version", &self.version)
            .field("stashed", &self.stash.len())
            .field("heart_beats", &self.heart_beats)
            .finish_non_exhaustive()
    }
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
        // TCP_NODELAY, as the server sets: without it, Nagle's algorithm holds a small frame
        // back until the server's delayed ACK (about 40 ms of real time), and tests on paused
        // tokio time would see the server's clock run past frames stuck in the kernel.
        let (ws, _resp) = tokio_tungstenite::connect_async_with_config(req, None, true)
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

    /// Waits for the next heart-beat (an EOL between frames); frames that come first are
    /// stashed. Panics after [`WAIT`] or when the socket closes.
    pub async fn next_heart_beat(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self
                .decoder
                .decode()
                .expect("server sent a malformed frame")
            {
                Some(Item::HeartBeat) => {
                    self.heart_beats += 1;
                    return;
                }
                Some(Item::Frame(f)) => {
                    self.stash.push_back(f);
                    continue;
                }
                None => {}
            }
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("timed out waiting for a heart-beat");
            match msg {
                Some(Ok(Message::Text(t))) => self.decoder.extend(t.as_bytes()),
                Some(Ok(Message::Binary(b))) => self.decoder.extend(&b),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    panic!("connection closed while waiting for a heart-beat")
                }
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

impl Client {
    /// Connects with a REST session's access token.
    pub async fn signed_in(server: &Server, who: &TestUser) -> Client {
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
