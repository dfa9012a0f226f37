//! Hostile clients against the broker and the HTTP front (issue 12, items 2-5): staged
//! transactions, connections per user, ping floods from a peer that never reads, idle and
//! slowloris sockets, connection caps, and queue backlogs that pinned read buffers.
//!
//! The memory tests run the real binary and read its resident memory from /proc; their
//! bounds are what the fixes guarantee, far below what the attacks reached before.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use futures_util::SinkExt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tidings_stomp::{Command, Frame};
use tidings_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const MB: u64 = 1024 * 1024;

/// A field of /proc/<pid>/status in bytes (`VmRSS`, `VmHWM`).
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// Resident memory now, with the peak (`VmHWM`) reset to it, so that the peak read later
/// is the attack's and not an earlier one's (password hashing when users registered).
fn rss_reset_peak(pid: u32) -> u64 {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    proc_status(pid, "VmRSS")
}

/// The binary with `limits` added to its `[limits]` (sends are not rate-limited here).
fn start_bin(limits: &str) -> BinServer {
    let dir = TempDir::new("hostile");
    let cfg = dir.0.join("server.toml");
    std::fs::write(
        &cfg,
        format!("[limits]\nsends_per_minute = 100000000\n{limits}\n"),
    )
    .unwrap();
    let mut r = BinServer::start_args(
        &dir.0,
        &["--config", cfg.to_str().unwrap(), "--jwt-secret", SECRET],
        &[("RUST_LOG", "error")],
    );
    r.dir = Some(dir);
    r
}

fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/ws")
}

async fn connected(addr: SocketAddr, token: &str) -> Client {
    let mut c = Client::open(&ws_url(addr)).await;
    let f = c.connect(token, "0,0").await;
    assert_eq!(f.command, Command::Connected, "{f:?}");
    c
}

/// Sends pings as fast as the socket takes them and never reads, until the server closes
/// the connection (a send fails: `true`) or `bound` passes (`false`).
async fn ping_flood(mut c: Client, bound: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + bound;
    let payload = vec![b'p'; 125];
    while tokio::time::Instant::now() < deadline {
        let batch = async {
            for _ in 0..64 {
                c.ws.feed(Message::Ping(payload.clone().into())).await?;
            }
            c.ws.flush().await
        };
        match tokio::time::timeout_at(deadline, batch).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return true,
            Err(_) => return false,
        }
    }
    false
}

#[tokio::test]
async fn a_ping_flood_that_never_reads_is_cut_off_before_and_after_connect() {
    let srv = start_bin("");
    let pid = srv.child.id();
    let alice = srv.api().register("alice").await;
    let base = rss_reset_peak(pid);
    let mut floods = Vec::new();
    for _ in 0..4 {
        let c = Client::open(&ws_url(srv.addr)).await;
        floods.push(tokio::spawn(ping_flood(c, Duration::from_secs(30))));
    }
    let c = connected(srv.addr, &alice.token).await;
    floods.push(tokio::spawn(ping_flood(c, Duration::from_secs(30))));
    let mut closed = Vec::new();
    for f in floods {
        closed.push(f.await.unwrap());
    }
    let grew = proc_status(pid, "VmHWM").saturating_sub(base);
    eprintln!("peak resident memory grew {} MB", grew / MB);
    // Before: +43 MB/s per connection, 400 MB for four unauthenticated ones in 10 s.
    assert!(
        grew < 100 * MB,
        "peak resident memory grew {} MB",
        grew / MB
    );
    assert!(
        closed.iter().all(|c| *c),
        "the server should close each ping flood"
    );
    let (status, _) = http_get(srv.addr, "/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn pongs_for_a_peer_that_never_reads_are_not_queued_without_bound() {
    // The frame budget lifted: this is the WebSocket write buffer's own bound.
    let srv = start_bin("frames_per_second = 100000000");
    let pid = srv.child.id();
    let alice = srv.api().register("alice").await;
    let base = rss_reset_peak(pid);
    let mut floods = Vec::new();
    for _ in 0..2 {
        let c = connected(srv.addr, &alice.token).await;
        floods.push(tokio::spawn(ping_flood(c, Duration::from_secs(8))));
    }
    for f in floods {
        f.await.unwrap();
    }
    let grew = proc_status(pid, "VmHWM").saturating_sub(base);
    eprintln!("peak resident memory grew {} MB", grew / MB);
    // Before: a pong queued for every ping, +43 MB/s per connection.
    assert!(
        grew < 100 * MB,
        "peak resident memory grew {} MB",
        grew / MB
    );
}

/// An `ACK` with `pad` bytes of extra headers (8,000 a header line), in `tx`.
fn padded_ack(tx: &str, n: usize, pad: usize) -> Frame {
    let mut f = Frame::new(Command::Ack)
        .with_header("id", format!("1-{n}"))
        .with_header("transaction", tx);
    for i in 0..pad / 8000 {
        f.push_header(format!("x-pad-{i}"), "a".repeat(8000));
    }
    f
}

#[tokio::test]
async fn transactions_are_capped_in_bytes_across_a_connection() {
    let limit = 256 * 1024;
    let srv = Server::chat_with(|c| c.limits.max_transaction_bytes = limit).await;
    let alice = srv.api().register("alice").await;
    let mut c = connected(srv.addr, &alice.token).await;
    for tx in ["t1", "t2"] {
        c.send_with_receipt(Frame::new(Command::Begin).with_header("transaction", tx))
            .await;
    }
    let mut staged = 0;
    let error = loop {
        let tx = if staged % 2 == 0 { "t1" } else { "t2" };
        let r = c.receipt_id();
        c.send(padded_ack(tx, staged, 48_000).with_header("receipt", &r))
            .await;
        let f = c.next_frame().await;
        if f.command == Command::Error {
            break f;
        }
        assert_eq!(f.header("receipt-id"), Some(r.as_str()), "{f:?}");
        staged += 1;
        assert!(staged < 100, "no limit after {staged} staged frames");
    };
    let message = error.header("message").unwrap();
    assert!(message.contains(&format!("{limit} bytes")), "{message}");
    // Both transactions held frames: the limit is over the connection, not one of them.
    assert!(staged >= 2 && staged * 48_000 <= limit, "{staged}");
}

#[tokio::test]
async fn transactions_staging_large_acks_on_many_connections_stay_bounded_in_memory() {
    let srv = start_bin("");
    let pid = srv.child.id();
    let alice = srv.api().register("alice").await;
    let base = rss_reset_peak(pid);
    let mut attacks = Vec::new();
    for _ in 0..4 {
        let mut c = connected(srv.addr, &alice.token).await;
        attacks.push(tokio::spawn(async move {
            for t in 0..16 {
                c.send(Frame::new(Command::Begin).with_header("transaction", format!("t{t}")))
                    .await;
            }
            // 16 transactions x 100 ACKs of 48 KB: 77 MB per connection if all were kept.
            for n in 0..1600 {
                let f = padded_ack(&format!("t{}", n % 16), n, 48_000);
                let bytes = tidings_stomp::encode_to_bytes(&f, c.version);
                let msg = Message::text(String::from_utf8(bytes.to_vec()).unwrap());
                if c.ws.send(msg).await.is_err() {
                    return true;
                }
            }
            false
        }));
    }
    let mut closed = Vec::new();
    for a in attacks {
        closed.push(a.await.unwrap());
    }
    let grew = proc_status(pid, "VmHWM").saturating_sub(base);
    eprintln!("peak resident memory grew {} MB", grew / MB);
    // Before: 1.4 GB per connection with 1,000 frames per transaction.
    assert!(
        grew < 100 * MB,
        "peak resident memory grew {} MB",
        grew / MB
    );
    assert!(
        closed.iter().all(|c| *c),
        "the server should close each connection"
    );
}

#[tokio::test]
async fn connections_per_user_are_capped() {
    let srv = Server::chat_with(|c| c.limits.max_connections_per_user = 3).await;
    let alice = srv.api().register("alice").await;
    let bob = srv.api().register("bob").await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(connected(srv.addr, &alice.token).await);
    }
    let mut fourth = Client::open(&srv.url()).await;
    let f = fourth.connect(&alice.token, "0,0").await;
    assert_eq!(f.command, Command::Error, "{f:?}");
    let message = f.header("message").unwrap();
    assert!(
        message.contains("too many connections") && message.contains("limit is 3"),
        "{message}"
    );
    let _bob = connected(srv.addr, &bob.token).await;
    // Closing one makes room (once the server has seen it close).
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut c = Client::open(&srv.url()).await;
        if c.connect(&alice.token, "0,0").await.command == Command::Connected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no room after a close"
        );
        tokio::task::yield_now().await;
    }
}

/// A TCP connection to `addr` from the local address `from`.
async fn tcp_from(from: IpAddr, addr: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(from, 0)).unwrap();
    s.connect(addr).await.unwrap()
}

/// `GET path` from the local address `from`: the status and the body.
async fn get_from(from: IpAddr, addr: SocketAddr, path: &str) -> (u16, String) {
    http_get_over(tcp_from(from, addr).await, addr, path, None).await
}

/// Whether the server closes `s` within a generous bound (EOF or reset on read).
async fn closed_by_server(s: &mut tokio::net::tcp::OwnedReadHalf) -> bool {
    let mut buf = vec![0u8; 4096];
    let read_to_end = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_to_end)
        .await
        .is_ok()
}

const ONE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const TWO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

#[tokio::test]
async fn idle_slow_and_half_sent_requests_are_closed_after_the_header_timeout() {
    let srv = Server::chat_with(|c| c.limits.header_read_timeout_ms = 500).await;
    // Idle from the start.
    let (mut idle, _w1) = tcp_from(ONE, srv.addr).await.into_split();
    // Idle after a first request on a keep-alive connection.
    let (mut kept, mut kept_w) = tcp_from(ONE, srv.addr).await.into_split();
    kept_w
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", srv.addr).as_bytes())
        .await
        .unwrap();
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    // Slowloris: a request and a WebSocket handshake trickled a byte at a time, forever.
    let mut trickled = Vec::new();
    for head in [
        "GET /healthz HTTP/1.1\r\nHost: x\r\n".to_owned(),
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n".to_owned(),
    ] {
        let (r, mut w) = tcp_from(ONE, srv.addr).await.into_split();
        tokio::spawn(async move {
            let bytes = head.into_bytes().into_iter().chain(std::iter::repeat(b'a'));
            for b in bytes.take(100_000) {
                if w.write_all(&[b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        trickled.push(r);
    }
    assert!(closed_by_server(&mut idle).await, "idle socket left open");
    assert!(
        closed_by_server(&mut kept).await,
        "idle keep-alive socket left open"
    );
    for mut r in trickled {
        assert!(closed_by_server(&mut r).await, "slowloris socket left open");
    }
    let metrics = srv.state.metrics.render();
    assert!(metrics.contains("kind=\"header_timeout\""), "{metrics}");
    let (status, _) = srv.get("/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn connections_are_capped_per_address_and_healthz_answers_from_elsewhere() {
    let srv = Server::chat_with(|c| {
        c.limits.max_connections_per_address = 4;
        c.limits.header_read_timeout_ms = 60_000;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tcp_from(ONE, srv.addr).await);
    }
    let (status, body) = get_from(ONE, srv.addr, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "connection_limit");
    assert!(
        body["message"].as_str().unwrap().contains("limit is 4"),
        "{body}"
    );
    assert_eq!(get_from(TWO, srv.addr, "/healthz").await.0, 200);
    let metrics = srv.state.metrics.render();
    assert!(
        metrics.contains("kind=\"connection_limit_address\"} 1"),
        "{metrics}"
    );
    // A closed connection gives its place back.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    while get_from(ONE, srv.addr, "/healthz").await.0 != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no place after a close"
        );
    }
}

#[tokio::test]
async fn the_global_connection_cap_answers_503_and_counts_websockets() {
    let srv = Server::chat_with(|c| {
        c.limits.max_connections = Some(3);
        c.limits.header_read_timeout_ms = 60_000;
    })
    .await;
    // Two idle sockets and a WebSocket (upgraded, before CONNECT) hold the three places.
    let _a = tcp_from(ONE, srv.addr).await;
    let _b = tcp_from(ONE, srv.addr).await;
    let ws = Client::open(&srv.url()).await;
    let (status, body) = get_from(TWO, srv.addr, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("limit of 3 open connections"), "{body}");
    drop(ws);
    let deadline = tokio::time::Instant::now() + WAIT;
    while get_from(TWO, srv.addr, "/healthz").await.0 != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no place after a close"
        );
    }
}

#[tokio::test]
async fn backlogged_queue_messages_do_not_pin_read_buffers_and_backlog_queues_are_capped() {
    let srv = start_bin("frames_per_second = 100000000");
    let pid = srv.child.id();
    let alice = srv.api().register("alice").await;
    let mut c = connected(srv.addr, &alice.token).await;
    c.subscribe("/user/queue/errors", "errors", "auto").await;
    let base = proc_status(pid, "VmRSS");
    let beats = "\n".repeat(130 * 1024);
    let sends = 2_000;
    let mut refused = Vec::new();
    for i in 0..sends {
        let frame = Frame::new(Command::Send)
            .with_header("destination", format!("/queue/nobody-{i}"))
            .with_body("x");
        let frame = if i % 100 == 99 {
            frame.with_header("receipt", format!("r{i}"))
        } else {
            frame
        };
        let bytes = tidings_stomp::encode_to_bytes(&frame, c.version);
        let mut raw = beats.clone().into_bytes();
        raw.extend_from_slice(&bytes);
        c.send_raw(raw).await;
        if i % 100 == 99 {
            // Read up to the receipt (or the refusal that carries it): the refusals so far.
            let r = format!("r{i}");
            loop {
                let f = c.next_frame().await;
                if f.command == Command::Receipt {
                    break;
                }
                assert_eq!(f.command, Command::Message, "{f:?}");
                refused.push(serde_json::from_slice::<serde_json::Value>(&f.body).unwrap());
                if f.header("receipt-id") == Some(r.as_str()) {
                    break;
                }
            }
        }
    }
    let grew = proc_status(pid, "VmRSS").saturating_sub(base);
    eprintln!("resident memory grew {} MB", grew / MB);
    // Before: each 1-byte body pinned its 128 KB read buffer, 250 MB for 2,000 sends.
    assert!(grew < 100 * MB, "resident memory grew {} MB", grew / MB);
    let limit = tidings_server::Config::default().limits.max_backlog_queues;
    assert_eq!(refused.len(), sends - limit, "{:?}", refused.first());
    assert!(
        refused.iter().all(|e| e["error"] == "backlog_limit"),
        "{:?}",
        refused[0]
    );
}

#[tokio::test]
async fn a_request_body_trickled_in_slowly_is_answered_408_and_closed() {
    let srv = Server::chat_with(|c| {
        c.limits.request_timeout_ms = 500;
        // A Socket.IO long-poll waits up to one ping interval, which must stay below the
        // request timeout (the configuration refuses anything else).
        c.socketio.ping_interval_ms = 300;
        c.socketio.ping_timeout_ms = 200;
    })
    .await;
    // Complete headers, then a 60-byte body one byte every 50 ms, which would take 3 s.
    let (mut r, mut w) = tcp_from(ONE, srv.addr).await.into_split();
    w.write_all(
        format!(
            "POST /api/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n",
            srv.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let writer = tokio::spawn(async move {
        for _ in 0..60 {
            if w.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut answer = String::new();
    let mut buf = vec![0u8; 4096];
    let read_all = async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the server closed the connection");
    writer.abort();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"request_timeout\""), "{answer}");
    let metrics = srv.state.metrics.render();
    assert!(metrics.contains("kind=\"request_timeout\""), "{metrics}");
    let (status, _) = srv.get("/healthz").await;
    assert_eq!(status, 200, "the server goes on");
}
