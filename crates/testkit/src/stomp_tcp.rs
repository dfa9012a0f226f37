//! The STOMP-over-TCP test client (plain or TLS), every read bounded by
//! [`WAIT`](crate::WAIT), and a test certificate authority for the TLS listener.

use crate::WAIT;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use tidings_stomp::{Command, Decoder, Frame, Item, Limits, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A STOMP client over a TCP (or TLS) socket.
pub struct TcpClient {
    io: Pin<Box<dyn Io>>,
    decoder: Decoder,
    pub version: Version,
    next_receipt: u64,
    /// Frames read while waiting for something else.
    pub stash: std::collections::VecDeque<Frame>,
    pub heart_beats: usize,
}

impl std::fmt::Debug for TcpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpClient")
            .field("stashed", &self.stash.len())
            .field("heart_beats", &self.heart_beats)
            .finish_non_exhaustive()
    }
}

impl TcpClient {
    fn over(io: impl AsyncRead + AsyncWrite + Send + Unpin + 'static) -> TcpClient {
        TcpClient {
            io: Box::pin(io),
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

    /// A plain TCP connection (no frame sent yet).
    pub async fn open(addr: SocketAddr) -> TcpClient {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).unwrap();
        TcpClient::over(tcp)
    }

    /// A TLS connection to `localhost` that trusts the CA in `ca_pem` only.
    pub async fn open_tls(addr: SocketAddr, ca_pem: &Path) -> TcpClient {
        TcpClient::try_open_tls(addr, ca_pem)
            .await
            .expect("TLS handshake")
    }

    /// [`TcpClient::open_tls`], giving the handshake's error back.
    pub async fn try_open_tls(addr: SocketAddr, ca_pem: &Path) -> std::io::Result<TcpClient> {
        use rustls::pki_types::pem::PemObject;
        crate::http_client_provider();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca_pem).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio::time::timeout(WAIT, connector.connect(name, tcp))
            .await
            .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
        Ok(TcpClient::over(tls))
    }

    /// Sends `CONNECT` with these headers (besides `accept-version` and `host`) and returns
    /// the reply.
    pub async fn connect_with(&mut self, headers: &[(&str, &str)]) -> Frame {
        let mut f = Frame::new(Command::Connect)
            .with_header("accept-version", "1.0,1.1,1.2")
            .with_header("host", "localhost");
        for (k, v) in headers {
            f.push_header(*k, *v);
        }
        self.send(f).await;
        self.next_frame().await
    }

    /// `CONNECT` with the token as the `passcode` (as stomp.py and a relay's client do).
    pub async fn connect(&mut self, token: &str, heart_beat: &str) -> Frame {
        self.connect_with(&[
            ("heart-beat", heart_beat),
            ("login", "user"),
            ("passcode", token),
        ])
        .await
    }

    pub async fn send(&mut self, frame: Frame) {
        let bytes = tidings_stomp::encode_to_bytes(&frame, self.version);
        self.send_raw(&bytes).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("write");
        self.io.flush().await.expect("flush");
    }

    /// Like [`TcpClient::send_raw`], but a failed write (the server closed) is not a panic.
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> bool {
        self.io.write_all(bytes).await.is_ok() && self.io.flush().await.is_ok()
    }

    /// Every byte until the server closes (within [`WAIT`]), undecoded: for answers that
    /// are not STOMP.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let read = tokio::time::timeout(WAIT, self.io.read_to_end(&mut all)).await;
        assert!(read.is_ok(), "the server did not close within {WAIT:?}");
        all
    }

    /// Reads more bytes into the decoder; `false` when the socket closed or failed.
    async fn fill(&mut self, deadline: tokio::time::Instant, what: &str) -> bool {
        let mut buf = [0u8; 8192];
        match tokio::time::timeout_at(deadline, self.io.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.decoder.extend(&buf[..n]);
                true
            }
            Err(_) => panic!("timed out waiting for {what}"),
        }
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

    /// Reads from the socket; `None` when the socket closes. Panics after [`WAIT`].
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
            if !self.fill(deadline, "the server").await {
                return None;
            }
        }
    }

    /// Waits for the next heart-beat (an EOL between frames); frames first are stashed.
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
            assert!(
                self.fill(deadline, "a heart-beat").await,
                "connection closed while waiting for a heart-beat"
            );
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

    pub async fn subscribe(&mut self, destination: &str, id: &str) {
        let before = self
            .send_with_receipt(
                Frame::new(Command::Subscribe)
                    .with_header("destination", destination)
                    .with_header("id", id),
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

    /// A round trip: everything the server queued before it is read (and returned).
    pub async fn barrier(&mut self) -> Vec<Frame> {
        let id = format!("barrier-{}", self.next_receipt + 1);
        let mut got: Vec<Frame> = self.stash.drain(..).collect();
        got.extend(
            self.send_with_receipt(
                Frame::new(Command::Subscribe)
                    .with_header("destination", "/topic/barrier")
                    .with_header("id", &id),
            )
            .await,
        );
        got.extend(
            self.send_with_receipt(Frame::new(Command::Unsubscribe).with_header("id", &id))
                .await,
        );
        got
    }
}

/// A certificate for `localhost` signed by a test CA made on the spot, as PEM files.
#[derive(Debug, Clone)]
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl TestCert {
    pub fn new(dir: &Path) -> TestCert {
        let crate::Minted {
            ca_pem,
            leaf,
            leaf_key,
        } = crate::mint_localhost_cert("Tidings STOMP test CA");
        let t = TestCert {
            cert: dir.join("stomp-cert.pem"),
            key: dir.join("stomp-key.pem"),
            ca: dir.join("stomp-ca.pem"),
        };
        std::fs::write(&t.cert, leaf.pem()).unwrap();
        std::fs::write(&t.key, leaf_key.serialize_pem()).unwrap();
        std::fs::write(&t.ca, ca_pem).unwrap();
        t
    }
}
