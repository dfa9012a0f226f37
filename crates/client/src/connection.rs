//! One STOMP 1.2 session over a WebSocket, as a client: the handshake (`CONNECT` →
//! `CONNECTED`), a writer task that owns the socket's sending half, sends heart-beats and
//! drains a bounded queue, and a reader the caller polls for frames. A peer silent for
//! longer than the agreed interval plus as much again (at least 500 ms) is dead.
//!
//! Generic over the transport, so tests can run it over an in-memory pipe with paused time.

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tidings_stomp::{Command, Decoder, Frame, HeartBeat, Item, Limits, Version};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Frames waiting to be written; a sender waits when it is full.
const OUTBOUND: usize = 256;

/// Why a session ended or could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    #[error("{0}")]
    Io(String),
    /// The server sent an `ERROR` frame.
    #[error("the server said: {message}")]
    Refused { message: String, body: String },
    #[error("heart-beat timeout: nothing heard for {0:?}")]
    HeartbeatTimeout(Duration),
    #[error("the connection was closed")]
    Closed,
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// How to open a session.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// `CONNECT` headers besides `accept-version` and `heart-beat` (`Authorization`,
    /// `login`/`passcode`, `host`).
    pub headers: Vec<(String, String)>,
    /// What we offer: how often we can send, how often we want to hear from the server.
    pub heart_beat: HeartBeat,
    pub tls: Arc<rustls::ClientConfig>,
    /// For the TCP, TLS and WebSocket handshakes and the `CONNECTED` frame together.
    pub timeout: Duration,
}

/// What `CONNECTED` said.
#[derive(Debug, Clone)]
pub struct Connected {
    pub version: Version,
    pub user_name: Option<String>,
    pub server: Option<String>,
    /// How often we send beats, and how long the server may stay silent.
    pub send_every: Option<Duration>,
    pub silence_limit: Option<Duration>,
}

/// Sends frames on a session (cheap to clone).
#[derive(Debug, Clone)]
pub struct FrameSender {
    out: mpsc::Sender<Bytes>,
    version: Version,
}

impl FrameSender {
    /// Queues a frame; fails once the session has ended.
    pub async fn send(&self, frame: &Frame) -> Result<(), ConnError> {
        self.out
            .send(tidings_stomp::encode_to_bytes(frame, self.version))
            .await
            .map_err(|_| ConnError::Closed)
    }
}

/// A live session. Dropping it ends the writer and closes the socket.
#[derive(Debug)]
pub struct Connection<S> {
    stream: SplitStream<WebSocketStream<S>>,
    decoder: Decoder,
    sender: FrameSender,
    pub connected: Connected,
    writer: tokio::task::JoinHandle<()>,
}

impl<S> Drop for Connection<S> {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

/// Opens the WebSocket (with the STOMP subprotocols) and runs the handshake.
pub async fn connect(
    opts: &ConnectOptions,
) -> Result<Connection<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>, ConnError> {
    let work = async {
        let mut req = opts
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| ConnError::Io(format!("invalid URL {}: {e}", opts.url)))?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "v12.stomp, v11.stomp, v10.stomp"
                .parse()
                .map_err(|_| ConnError::Protocol("bad subprotocol header".into()))?,
        );
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
            req,
            None,
            false,
            Some(tokio_tungstenite::Connector::Rustls(opts.tls.clone())),
        )
        .await
        .map_err(|e| ConnError::Io(format!("cannot open {}: {e}", opts.url)))?;
        handshake(ws, opts).await
    };
    tokio::time::timeout(opts.timeout, work)
        .await
        .map_err(|_| ConnError::Timeout(opts.timeout))?
}

/// Runs the STOMP handshake on an open WebSocket.
pub async fn handshake<S>(
    ws: WebSocketStream<S>,
    opts: &ConnectOptions,
) -> Result<Connection<S>, ConnError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, stream) = ws.split();
    let mut connect = Frame::new(Command::Connect)
        .with_header("accept-version", "1.2")
        .with_header("heart-beat", opts.heart_beat.to_header());
    if !opts.headers.iter().any(|(k, _)| k == "host") {
        connect.push_header("host", host_of(&opts.url));
    }
    for (k, v) in &opts.headers {
        connect.push_header(k.clone(), v.clone());
    }
    write(
        &mut sink,
        tidings_stomp::encode_to_bytes(&connect, Version::V1_2),
    )
    .await
    .map_err(ConnError::Io)?;
    let mut conn = Connection {
        stream,
        decoder: Decoder::new(Limits {
            max_frame_bytes: 1 << 20,
            max_body_bytes: 1 << 20,
            ..Limits::default()
        }),
        sender: FrameSender {
            out: mpsc::channel(1).0,
            version: Version::V1_2,
        },
        connected: Connected {
            version: Version::V1_2,
            user_name: None,
            server: None,
            send_every: None,
            silence_limit: None,
        },
        writer: tokio::spawn(async {}),
    };
    let first = conn.read_frame(None).await?;
    if first.command != Command::Connected {
        return Err(ConnError::Protocol(format!(
            "expected CONNECTED, got {}",
            first.command
        )));
    }
    let version = first
        .header("version")
        .and_then(Version::parse)
        .unwrap_or(Version::V1_2);
    conn.decoder.set_version(version);
    let theirs = HeartBeat::parse(first.header("heart-beat")).unwrap_or_default();
    let (send_every, incoming) = HeartBeat::agree(opts.heart_beat, theirs);
    let (tx, rx) = mpsc::channel(OUTBOUND);
    conn.writer = tokio::spawn(write_loop(sink, rx, send_every));
    conn.sender = FrameSender { out: tx, version };
    conn.connected = Connected {
        version,
        user_name: first.header("user-name").map(str::to_owned),
        server: first.header("server").map(str::to_owned),
        send_every,
        silence_limit: incoming.map(|d| d + d.max(Duration::from_millis(500))),
    };
    Ok(conn)
}

impl<S> Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub fn sender(&self) -> FrameSender {
        self.sender.clone()
    }

    /// The next frame from the server (heart-beats are consumed here). An `ERROR` frame is
    /// returned as [`ConnError::Refused`].
    pub async fn next_frame(&mut self) -> Result<Frame, ConnError> {
        let limit = self.connected.silence_limit;
        self.read_frame(limit).await
    }

    async fn read_frame(&mut self, silence: Option<Duration>) -> Result<Frame, ConnError> {
        loop {
            match self.decoder.decode() {
                Ok(Some(Item::Frame(f))) if f.command == Command::Error => {
                    return Err(ConnError::Refused {
                        message: f.header("message").unwrap_or("(no message)").to_owned(),
                        body: String::from_utf8_lossy(&f.body).into_owned(),
                    })
                }
                Ok(Some(Item::Frame(f))) => return Ok(f),
                Ok(Some(Item::HeartBeat)) => continue,
                Ok(None) => {}
                Err(e) => return Err(ConnError::Protocol(e.to_string())),
            }
            let next = match silence {
                Some(d) => tokio::time::timeout(d, self.stream.next())
                    .await
                    .map_err(|_| ConnError::HeartbeatTimeout(d))?,
                None => self.stream.next().await,
            };
            match next {
                Some(Ok(Message::Text(t))) => self.decoder.extend(t.as_bytes()),
                Some(Ok(Message::Binary(b))) => self.decoder.extend(&b),
                Some(Ok(Message::Close(_))) | None => return Err(ConnError::Closed),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(ConnError::Io(e.to_string())),
            }
        }
    }
}

async fn write<S>(
    sink: &mut SplitSink<WebSocketStream<S>, Message>,
    bytes: Bytes,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let msg = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => Message::text(text),
        Err(_) => Message::binary(bytes),
    };
    sink.send(msg).await.map_err(|e| e.to_string())
}

/// Writes queued frames, and a heart-beat whenever nothing was written for `every`.
async fn write_loop<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut rx: mpsc::Receiver<Bytes>,
    every: Option<Duration>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let beat = async {
            match every {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let bytes = tokio::select! {
            item = rx.recv() => match item {
                Some(b) => b,
                None => {
                    let _ = sink.close().await;
                    return;
                }
            },
            _ = beat => Bytes::from_static(b"\n"),
        };
        if write(&mut sink, bytes).await.is_err() {
            return;
        }
    }
}

/// The `host` header: the URL's host name.
fn host_of(url: &str) -> String {
    url.parse::<tokio_tungstenite::tungstenite::http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::Role;

    fn options() -> ConnectOptions {
        ConnectOptions {
            url: "ws://example.test:8080/ws".into(),
            headers: vec![("Authorization".into(), "Bearer t".into())],
            heart_beat: HeartBeat {
                send_ms: 1000,
                receive_ms: 1000,
            },
            tls: crate::tls::client_config(None).unwrap(),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn host_header_is_the_urls_host() {
        assert_eq!(host_of("ws://example.test:8080/ws"), "example.test");
        assert_eq!(host_of("wss://chat.example.com/ws?x=1"), "chat.example.com");
        assert_eq!(host_of("ws://127.0.0.1/ws"), "127.0.0.1");
    }

    /// A server that answers CONNECTED with heart-beats, then says nothing more: the client
    /// notices within the agreed interval plus slack. Paused time: no real waiting.
    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_detected_by_the_heart_beat_timeout() {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut ws = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
            let connect = ws.next().await.unwrap().unwrap();
            assert!(connect.to_text().unwrap().starts_with("CONNECT\n"));
            assert!(connect.to_text().unwrap().contains("heart-beat:1000,1000"));
            ws.send(Message::text(
                "CONNECTED\nversion:1.2\nheart-beat:2000,2000\n\n\0",
            ))
            .await
            .unwrap();
            // Keep the socket open, and count the client's beats, but never answer.
            let mut beats = 0;
            while let Some(Ok(m)) = ws.next().await {
                if m.to_text().map(|t| t == "\n").unwrap_or(false) {
                    beats += 1;
                }
            }
            beats
        });
        let ws = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let mut conn = handshake(ws, &options()).await.unwrap();
        assert_eq!(conn.connected.send_every, Some(Duration::from_secs(2)));
        assert_eq!(conn.connected.silence_limit, Some(Duration::from_secs(4)));
        let started = tokio::time::Instant::now();
        let err = conn.next_frame().await.unwrap_err();
        assert_eq!(err, ConnError::HeartbeatTimeout(Duration::from_secs(4)));
        assert_eq!(started.elapsed(), Duration::from_secs(4));
        drop(conn);
        let beats = server.await.unwrap();
        assert!(beats >= 1, "the client sent its own heart-beats ({beats})");
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_frame_on_connect_is_a_refusal_with_the_servers_words() {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut ws = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
            let _ = ws.next().await;
            let _ = ws
                .send(Message::text("ERROR\nmessage:access token expired\n\n\0"))
                .await;
        });
        let ws = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let err = handshake(ws, &options()).await.unwrap_err();
        assert_eq!(
            err,
            ConnError::Refused {
                message: "access token expired".into(),
                body: String::new()
            }
        );
    }
}
