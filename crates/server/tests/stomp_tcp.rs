//! STOMP over TCP (`--stomp-listen`): the same broker, frames, heart-beats, limits and
//! authorization as the WebSocket endpoint, on a real listener on `127.0.0.1:0` with a real
//! TCP (and TLS) client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tidings_server::Config;
use tidings_stomp::{Command, Frame};
use tidings_testkit::{body, Server, TcpClient, TempDir, TestCert, WAIT};

fn on_tcp(c: &mut Config) {
    c.stomp_tcp.listen = Some("127.0.0.1:0".parse().unwrap());
}

async fn broker(tweak: impl FnOnce(&mut Config)) -> Server {
    Server::with(|c| {
        on_tcp(c);
        tweak(c);
    })
    .await
}

async fn tcp_client(server: &Server, user: &str) -> TcpClient {
    let mut c = TcpClient::open(server.stomp_addr.unwrap()).await;
    let connected = c.connect(&server.token(user), "0,0").await;
    assert_eq!(connected.command, Command::Connected, "{connected:?}");
    c
}

#[tokio::test]
async fn the_listener_is_off_unless_configured() {
    let server = Server::broker().await;
    assert!(server.stomp_addr.is_none());
}

#[tokio::test]
async fn connect_subscribe_send_receipt_and_message_over_tcp() {
    let server = broker(|_| {}).await;
    let mut c = TcpClient::open(server.stomp_addr.unwrap()).await;
    let connected = c.connect(&server.token("alice"), "0,0").await;
    assert_eq!(connected.command, Command::Connected);
    assert_eq!(connected.header("version"), Some("1.2"));
    assert_eq!(connected.header("user-name"), Some("alice"));
    assert!(connected.header("server").unwrap().starts_with("tidings/"));
    c.subscribe("/topic/tcp", "s1").await;
    c.send(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/tcp")
            .with_header("x-custom", "kept")
            .with_header("receipt", "r-send")
            .with_body("héllo ✓".to_owned()),
    )
    .await;
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(c.next_frame().await);
    }
    let message = got.iter().find(|f| f.command == Command::Message).unwrap();
    assert_eq!(body(message), "héllo ✓");
    assert_eq!(message.header("x-custom"), Some("kept"));
    assert_eq!(message.header("subscription"), Some("s1"));
    assert!(got
        .iter()
        .any(|f| f.command == Command::Receipt && f.header("receipt-id") == Some("r-send")));
    // DISCONNECT with a receipt: the RECEIPT, then the close.
    c.send(Frame::new(Command::Disconnect).with_header("receipt", "bye"))
        .await;
    let r = c.next_frame().await;
    assert_eq!(r.header("receipt-id"), Some("bye"));
    assert!(c.read_frame().await.is_none());
}

#[tokio::test]
async fn frames_split_at_every_byte_or_sent_together_with_eols_are_read_alike() {
    let server = broker(|_| {}).await;
    let mut c = tcp_client(&server, "alice").await;
    c.subscribe("/topic/split", "s").await;
    let frame = b"SEND\ndestination:/topic/split\nreceipt:r-1\n\none byte at a time\0";
    for b in frame {
        c.send_raw(&[*b]).await;
    }
    let mut got = [c.next_frame().await, c.next_frame().await];
    got.sort_by_key(|f| f.command == Command::Receipt);
    assert_eq!(body(&got[0]), "one byte at a time");
    // Two frames and heart-beat EOLs (LF and CRLF) in one write.
    c.send_raw(
        b"\n\r\nSEND\ndestination:/topic/split\n\nfirst\0\n\nSEND\ndestination:/topic/split\nreceipt:r-2\n\nsecond\0\r\n",
    )
    .await;
    let mut bodies = Vec::new();
    loop {
        let f = c.next_frame().await;
        if f.command == Command::Receipt {
            break;
        }
        bodies.push(body(&f).to_owned());
    }
    bodies.extend(c.barrier().await.iter().map(|f| body(f).to_owned()));
    assert_eq!(bodies, ["first", "second"]);
}

#[tokio::test]
async fn heart_beats_flow_both_ways_and_a_silent_peer_is_dropped() {
    let server = broker(|c| {
        c.limits.heart_beat_send_ms = 50;
        c.limits.heart_beat_receive_ms = 2000;
    })
    .await;
    let mut c = TcpClient::open(server.stomp_addr.unwrap()).await;
    // We promise a beat every two seconds (the server allows as much again before it gives
    // up: four seconds of slack for a loaded machine).
    let connected = c.connect(&server.token("alice"), "2000,50").await;
    assert_eq!(connected.header("heart-beat"), Some("50,2000"));
    for _ in 0..3 {
        c.next_heart_beat().await;
    }
    // Our own beats keep the connection: send EOLs while waiting for two more of theirs.
    for _ in 0..2 {
        c.send_raw(b"\n").await;
        c.next_heart_beat().await;
    }
    c.publish("/topic/alive", "still here").await;
    // Then silence: the server gives up on us with an ERROR naming the heart-beat.
    let error = c.expect_error().await;
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("heart-beat timeout"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_message_published_over_websocket_arrives_over_tcp_and_back() {
    let server = broker(|_| {}).await;
    let mut ws = server.client("alice").await;
    let mut tcp = tcp_client(&server, "bob").await;
    ws.subscribe("/topic/bridge", "w", "auto").await;
    tcp.subscribe("/topic/bridge", "t").await;
    ws.publish("/topic/bridge", "from websocket").await;
    assert_eq!(body(&tcp.next_message().await), "from websocket");
    assert_eq!(body(&ws.next_message().await), "from websocket");
    tcp.publish("/topic/bridge", "from tcp").await;
    assert_eq!(body(&ws.next_message().await), "from tcp");
    assert_eq!(body(&tcp.next_message().await), "from tcp");
    // User destinations cross transports too.
    ws.subscribe("/user/queue/inbox", "inbox", "auto").await;
    tcp.publish("/user/alice/queue/inbox", "for alice").await;
    let m = ws.next_message().await;
    assert_eq!(
        (m.header("subscription"), body(&m)),
        (Some("inbox"), "for alice")
    );
}

#[tokio::test]
async fn a_connection_past_the_tcp_cap_gets_an_error_naming_the_limit() {
    let server = broker(|c| c.stomp_tcp.max_connections = 2).await;
    let first = tcp_client(&server, "alice").await;
    let _second = tcp_client(&server, "bob").await;
    let mut third = TcpClient::open(server.stomp_addr.unwrap()).await;
    let error = third.expect_error().await;
    let message = error.header("message").unwrap();
    assert!(message.contains("limit of 2 open connections"), "{message}");
    assert!(message.contains("STOMP over TCP"), "{message}");
    // A closed connection gives its place back.
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut c = TcpClient::open(server.stomp_addr.unwrap()).await;
        let reply = c.connect(&server.token("carol"), "0,0").await;
        if reply.command == Command::Connected {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{reply:?}");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn per_address_cap_is_its_own_key() {
    let server = broker(|c| c.stomp_tcp.max_connections_per_address = Some(1)).await;
    let _first = tcp_client(&server, "alice").await;
    let mut second = TcpClient::open(server.stomp_addr.unwrap()).await;
    let error = second.expect_error().await;
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("too many connections from your address: the limit is 1"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_oversize_frame_ends_the_connection_with_the_limit_named() {
    let server = broker(|c| c.limits.max_frame_bytes = 1024).await;
    let mut c = tcp_client(&server, "alice").await;
    let big = Frame::new(Command::Send)
        .with_header("destination", "/topic/big")
        .with_body(vec![b'x'; 4096]);
    c.send(big).await;
    let error = c.expect_error().await;
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("the limit is 1024 bytes"),
        "{error:?}"
    );
    // Without content-length the decoder stops at the cap too, before any NUL arrives.
    let mut c = tcp_client(&server, "alice").await;
    let mut raw = b"SEND\ndestination:/topic/big\n\n".to_vec();
    raw.extend(std::iter::repeat_n(b'y', 4096));
    // The server may close before it has read everything.
    let _ = c.try_send_raw(&raw).await;
    let error = c.expect_error().await;
    assert!(
        error.header("message").unwrap().contains("too large"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_flood_of_frames_ends_with_the_rate_named() {
    let server = broker(|c| c.limits.frames_per_second = 10).await;
    let mut c = tcp_client(&server, "alice").await;
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.extend_from_slice(b"SEND\ndestination:/topic/flood\n\nx\0");
    }
    // The server may close while the flood is still being written.
    let _ = c.try_send_raw(&flood).await;
    let mut last = None;
    while let Some(f) = c.read_frame().await {
        last = Some(f);
    }
    let error = last.expect("an ERROR before the close");
    assert_eq!(error.command, Command::Error);
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("too many frames: the limit is 10 per second"),
        "{error:?}"
    );
}

#[tokio::test]
async fn subscriptions_past_the_limit_are_refused() {
    let server = broker(|c| c.limits.max_subscriptions = 2).await;
    let mut c = tcp_client(&server, "alice").await;
    c.subscribe("/topic/a", "1").await;
    c.subscribe("/topic/b", "2").await;
    c.send(
        Frame::new(Command::Subscribe)
            .with_header("destination", "/topic/c")
            .with_header("id", "3"),
    )
    .await;
    let error = c.expect_error().await;
    assert!(
        error.header("message").unwrap().contains("subscriptions"),
        "{error:?}"
    );
}

#[tokio::test]
async fn missing_or_bad_tokens_are_refused_with_a_sentence() {
    let server = broker(|_| {}).await;
    let addr = server.stomp_addr.unwrap();
    let mut c = TcpClient::open(addr).await;
    let error = c.connect_with(&[]).await;
    assert_eq!(error.command, Command::Error);
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("missing access token"),
        "{error:?}"
    );
    let mut c = TcpClient::open(addr).await;
    let error = c.connect("not-a-jwt", "0,0").await;
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("malformed access token"),
        "{error:?}"
    );
    assert!(c.read_frame().await.is_none());
    // A frame before CONNECT.
    let mut c = TcpClient::open(addr).await;
    c.send(Frame::new(Command::Send).with_header("destination", "/topic/x"))
        .await;
    let error = c.expect_error().await;
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("expected CONNECT"),
        "{error:?}"
    );
}

#[tokio::test]
async fn tls_when_configured() {
    let dir = TempDir::new("stomp-tls");
    let cert = TestCert::new(dir.path());
    let (c1, k1) = (cert.cert.clone(), cert.key.clone());
    let server = broker(move |c| {
        c.stomp_tcp.tls_cert = Some(c1);
        c.stomp_tcp.tls_key = Some(k1);
    })
    .await;
    let addr = server.stomp_addr.unwrap();
    let mut c = TcpClient::open_tls(addr, &cert.ca).await;
    let connected = c.connect(&server.token("alice"), "0,0").await;
    assert_eq!(connected.command, Command::Connected, "{connected:?}");
    let mut ws = server.client("bob").await;
    c.subscribe("/topic/tls", "s").await;
    ws.publish("/topic/tls", "over TLS").await;
    assert_eq!(body(&c.next_message().await), "over TLS");
    // Plain STOMP on the TLS port is not understood: no frame comes back, the socket closes.
    let mut plain = TcpClient::open(addr).await;
    let _ = plain
        .try_send_raw(b"CONNECT\naccept-version:1.2\n\n\0")
        .await;
    assert!(plain.read_frame().await.is_none());
}

#[tokio::test]
async fn a_bad_tls_setting_is_refused_with_the_file_named() {
    let dir = TempDir::new("stomp-tls-bad");
    let mut c = tidings_testkit::config(dir.path(), "127.0.0.1:0".parse().unwrap());
    on_tcp(&mut c);
    c.stomp_tcp.tls_cert = Some(dir.path().join("missing.pem"));
    c.stomp_tcp.tls_key = Some(dir.path().join("missing-key.pem"));
    let e = tidings_server::stomp_tcp::StompListener::bind(&c)
        .await
        .unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("stomp_tcp.tls_cert") && e.contains("missing.pem"),
        "{e}"
    );
}

#[tokio::test]
async fn shutdown_tells_tcp_sessions_and_closes_them() {
    let server = broker(|_| {}).await;
    let mut c = tcp_client(&server, "alice").await;
    c.subscribe("/topic/x", "s").await;
    let stopping = tokio::spawn(server.stop());
    let error = c.expect_error().await;
    assert_eq!(
        error.header("message"),
        Some("server is shutting down"),
        "{error:?}"
    );
    stopping.await.unwrap();
}
