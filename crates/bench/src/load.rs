//! The load generator's connections: STOMP 1.2 over WebSocket (the same code for Tidings
//! and RabbitMQ Web-STOMP), or bare WebSocket text messages for the broadcaster (whose fair
//! mode sends STOMP `MESSAGE` frames, decoded with the same decoder as Tidings').
//!
//! Connections spread over several loopback source addresses (127.0.0.1-4), so that tens
//! of thousands of them do not run out of ephemeral ports to one server port.

use anyhow::{anyhow, bail, Context};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tidings_stomp::{encode_to_bytes, Command, Decoder, Frame, Item, Limits, Version};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// Loopback source addresses the connections rotate over.
const SOURCES: u8 = 4;

/// The process-wide clock that send and receive times are taken from.
pub fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// What is on the other end.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Tidings: a JWT per user in the `Authorization` header.
    Tidings,
    /// RabbitMQ Web-STOMP: login and passcode.
    Rabbit { login: String, passcode: String },
    /// The bare broadcaster: no protocol, every text message goes to every other connection.
    Bare,
    /// The bare broadcaster as the fair ceiling: no protocol on the way in, and every text
    /// message goes out as the STOMP `MESSAGE` frame a Tidings subscriber would receive.
    BareStomp,
}

impl Kind {
    /// The bare broadcaster in either mode: no STOMP session, no subscription.
    pub fn is_bare(&self) -> bool {
        matches!(self, Kind::Bare | Kind::BareStomp)
    }

    /// Deliveries arrive as STOMP frames (decoded with [`Conn::dec`]).
    pub fn delivers_frames(&self) -> bool {
        !matches!(self, Kind::Bare)
    }
}

/// A server under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// `tidings`, `rabbitmq`, `bare` or `bare-stomp`.
    pub name: &'static str,
    pub addr: SocketAddr,
    pub path: String,
    pub kind: Kind,
    /// The process tree to measure.
    pub pid: u32,
    /// The topic of the fan-out scenario.
    pub topic: String,
}

/// One open connection, after the STOMP handshake (or the broadcaster's hello).
#[derive(Debug)]
pub struct Conn {
    pub tx: SplitSink<Ws, Message>,
    pub rx: SplitStream<Ws>,
    pub dec: Decoder,
}

async fn tcp(addr: SocketAddr, idx: usize) -> anyhow::Result<TcpStream> {
    let src = Ipv4Addr::new(127, 0, 0, 1 + (idx % SOURCES as usize) as u8);
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::from((src, 0)))
        .with_context(|| format!("cannot bind a source port on {src}"))?;
    let s = sock
        .connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Opens connection number `idx` as `user` (a token for Tidings), asking for heart-beats
/// `hb` = (client sends every, client wants every) in ms.
pub async fn open(
    t: &Target,
    idx: usize,
    token: Option<&str>,
    hb: (u64, u64),
) -> anyhow::Result<Conn> {
    let stream = tcp(t.addr, idx).await?;
    let url = format!("ws://{}{}", t.addr, t.path);
    let mut req = url.as_str().into_client_request()?;
    if !t.kind.is_bare() {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "v12.stomp".parse()?);
    }
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(16 * 1024);
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(config))
        .await
        .with_context(|| format!("WebSocket handshake with {url} failed"))?;
    let (mut tx, mut rx) = ws.split();
    let mut dec = Decoder::new(Limits {
        max_frame_bytes: 1 << 20,
        max_body_bytes: 1 << 20,
        ..Limits::default()
    });
    match &t.kind {
        Kind::Bare | Kind::BareStomp => {
            // The broadcaster says "ready" once the connection is registered.
            match rx.next().await {
                Some(Ok(Message::Text(t))) if t.as_str() == "ready" => {}
                other => bail!("the broadcaster did not say ready: {other:?}"),
            }
            // What a STOMP session negotiates with Tidings.
            dec.set_version(Version::V1_2);
        }
        kind => {
            let mut f = Frame::new(Command::Connect)
                .with_header("accept-version", "1.2")
                // RabbitMQ reads `host` as the virtual host.
                .with_header(
                    "host",
                    if matches!(kind, Kind::Rabbit { .. }) {
                        "/"
                    } else {
                        "localhost"
                    },
                )
                .with_header("heart-beat", format!("{},{}", hb.0, hb.1));
            match kind {
                Kind::Tidings => {
                    let token = token.context("Tidings needs a token")?;
                    f.push_header("Authorization", format!("Bearer {token}"));
                }
                Kind::Rabbit { login, passcode } => {
                    f.push_header("login", login.clone());
                    f.push_header("passcode", passcode.clone());
                }
                Kind::Bare | Kind::BareStomp => unreachable!(),
            }
            send_frame(&mut tx, &f).await?;
            let reply = next_frame(&mut rx, &mut dec).await?;
            if reply.command != Command::Connected {
                bail!(
                    "CONNECT refused: {}",
                    reply.header("message").unwrap_or("(no message)")
                );
            }
            dec.set_version(Version::V1_2);
        }
    }
    Ok(Conn { tx, rx, dec })
}

pub async fn send_frame(tx: &mut SplitSink<Ws, Message>, f: &Frame) -> anyhow::Result<()> {
    let b = encode_to_bytes(f, Version::V1_2);
    let text = String::from_utf8(b.to_vec()).context("frame is not UTF-8")?;
    tx.send(Message::text(text)).await?;
    Ok(())
}

/// The next frame, skipping heart-beats.
pub async fn next_frame(rx: &mut SplitStream<Ws>, dec: &mut Decoder) -> anyhow::Result<Frame> {
    loop {
        while let Some(item) = dec.decode().map_err(|e| anyhow!("bad frame: {e}"))? {
            if let Item::Frame(f) = item {
                return Ok(f);
            }
        }
        match rx.next().await {
            Some(Ok(Message::Text(t))) => dec.extend(t.as_bytes()),
            Some(Ok(Message::Binary(b))) => dec.extend(&b),
            Some(Ok(Message::Close(c))) => bail!("closed by the server: {c:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("connection closed"),
        }
    }
}

impl Conn {
    /// Subscribes and waits for the receipt, so that what is published next reaches it.
    pub async fn subscribe(&mut self, dest: &str, id: &str) -> anyhow::Result<()> {
        let f = Frame::new(Command::Subscribe)
            .with_header("destination", dest)
            .with_header("id", id)
            .with_header("ack", "auto")
            .with_header("receipt", format!("sub-{id}"));
        send_frame(&mut self.tx, &f).await?;
        loop {
            let f = next_frame(&mut self.rx, &mut self.dec).await?;
            match f.command {
                Command::Receipt => return Ok(()),
                Command::Error => bail!(
                    "SUBSCRIBE {dest} refused: {}",
                    f.header("message").unwrap_or("(no message)")
                ),
                _ => {}
            }
        }
    }
}

/// Latency histograms in microseconds, sharded so that thousands of connections recording
/// at once rarely wait for one another.
#[derive(Debug)]
pub struct Latencies {
    shards: Vec<Mutex<Histogram<u64>>>,
    pub count: AtomicU64,
    /// The count [`Latencies::wait_count`] waits for, and its wake-up.
    target: AtomicU64,
    reached: tokio::sync::Notify,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            shards: (0..32)
                .map(|_| {
                    Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"))
                })
                .collect(),
            count: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            reached: tokio::sync::Notify::new(),
        }
    }

    pub fn record(&self, shard: usize, sent_ns: u64, now_ns: u64) {
        let us = (now_ns.saturating_sub(sent_ns) / 1000).max(1);
        if let Ok(mut h) = self.shards[shard % self.shards.len()].lock() {
            h.saturating_record(us);
        }
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.target.load(Ordering::SeqCst) {
            self.reached.notify_one();
        }
    }

    /// Waits until `n` have been recorded, or until `deadline`; whether they were.
    pub async fn wait_count(&self, n: u64, deadline: tokio::time::Instant) -> bool {
        self.target.store(n, Ordering::SeqCst);
        while self.count.load(Ordering::SeqCst) < n {
            if tokio::time::timeout_at(deadline, self.reached.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        self.count.load(Ordering::SeqCst) >= n
    }

    pub fn merged(&self) -> Histogram<u64> {
        let mut out = Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds");
        for s in &self.shards {
            if let Ok(h) = s.lock() {
                let _ = out.add(&*h);
            }
        }
        out
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

/// Milliseconds at a percentile of a microsecond histogram.
pub fn ms(h: &Histogram<u64>, p: f64) -> f64 {
    h.value_at_quantile(p / 100.0) as f64 / 1000.0
}

/// A body of exactly `len` bytes: `<step>,<send time ns>,` then padding.
pub fn stamped_body(step: usize, len: usize) -> String {
    let mut s = format!("{step},{},", now_ns());
    while s.len() < len {
        s.push('x');
    }
    s
}

/// (step, send time) from a body made by [`stamped_body`], found anywhere in `body` after
/// `marker` (empty: at the start).
pub fn parse_stamp(body: &[u8], marker: &[u8]) -> Option<(usize, u64)> {
    let start = if marker.is_empty() {
        0
    } else {
        body.windows(marker.len()).position(|w| w == marker)? + marker.len()
    };
    let rest = &body[start..];
    let mut parts = rest.splitn(3, |&b| b == b',');
    let step = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let sent = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    Some((step, sent))
}

/// Connects `n` connections, `parallel` handshakes at a time, calling `make` for each.
pub async fn connect_many<F, Fut, T>(n: usize, parallel: usize, make: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let results: Vec<anyhow::Result<T>> = futures_util::stream::iter(0..n)
        .map(make)
        .buffered(parallel)
        .collect()
        .await;
    let mut out = Vec::with_capacity(n);
    for (i, r) in results.into_iter().enumerate() {
        out.push(r.with_context(|| format!("connection {i} of {n}"))?);
    }
    Ok(out)
}

/// Paces an open-loop sender at `rate` per second: returns how many are due now.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    rate: f64,
    sent: u64,
}

impl Pacer {
    pub fn new(rate: f64) -> Pacer {
        Pacer {
            start: Instant::now(),
            rate,
            sent: 0,
        }
    }

    /// Waits until at least one is due, then returns how many are due.
    pub async fn due(&mut self) -> u64 {
        loop {
            let want = (self.start.elapsed().as_secs_f64() * self.rate) as u64;
            if want > self.sent {
                let n = want - self.sent;
                self.sent = want;
                return n;
            }
            let next = self.start + Duration::from_secs_f64((self.sent + 1) as f64 / self.rate);
            tokio::time::sleep_until(next.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        let b = stamped_body(3, 100);
        assert_eq!(b.len(), 100);
        let (step, sent) = parse_stamp(b.as_bytes(), b"").expect("a stamp");
        assert_eq!(step, 3);
        assert!(sent <= now_ns());
        let wrapped = format!(r#"{{"content":"b{b}"}}"#);
        assert_eq!(
            parse_stamp(wrapped.as_bytes(), br#""content":"b"#).map(|s| s.0),
            Some(3)
        );
    }
}
