//! Authentication, version and heart-beat negotiation, origins and connection deadlines.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::time::Duration;
use tidings_stomp::{Command, Frame};
use tidings_testkit::*;

fn connect_frame() -> Frame {
    Frame::new(Command::Connect)
        .with_header("accept-version", "1.2")
        .with_header("host", "localhost")
}

async fn refused(srv: &Server, frame: Frame, url_suffix: &str) -> String {
    let mut c = Client::open(&format!("{}{url_suffix}", srv.url())).await;
    c.send(frame).await;
    let e = c.expect_error().await;
    e.header("message").unwrap().to_owned()
}

#[tokio::test]
async fn each_kind_of_bad_token_gets_an_error_that_says_which() {
    let srv = Server::broker().await;
    let missing = refused(&srv, connect_frame(), "").await;
    assert!(missing.starts_with("missing access token"), "{missing}");
    let malformed = refused(
        &srv,
        connect_frame().with_header("passcode", "not.a.jwt"),
        "",
    )
    .await;
    assert!(
        malformed.starts_with("malformed access token"),
        "{malformed}"
    );
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "alice", "exp": jsonwebtoken::get_current_timestamp() + 60}),
        &EncodingKey::from_secret(b"some-other-secret-000"),
    )
    .unwrap();
    let bad_sig = refused(
        &srv,
        connect_frame().with_header("Authorization", format!("Bearer {forged}")),
        "",
    )
    .await;
    assert_eq!(bad_sig, "access token signature is invalid");
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "alice", "exp": 1_000_000}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        refused(&srv, connect_frame().with_header("passcode", &expired), "").await,
        "access token expired"
    );
    let no_exp = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "alice"}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let msg = refused(&srv, connect_frame().with_header("passcode", &no_exp), "").await;
    assert!(msg.contains("exp"), "{msg}");
    // The server still serves good clients.
    srv.client("alice").await;
    let metrics = srv.metrics().await;
    assert!(metrics.contains("kind=\"token_expired\""), "{metrics}");
}

#[tokio::test]
async fn token_is_accepted_from_header_passcode_or_url() {
    let srv = Server::broker().await;
    let token = srv.token("alice");
    for (frame, suffix) in [
        (
            connect_frame().with_header("Authorization", format!("Bearer {token}")),
            String::new(),
        ),
        (
            connect_frame()
                .with_header("login", "ignored")
                .with_header("passcode", &token),
            String::new(),
        ),
        (connect_frame(), format!("?token={token}")),
    ] {
        let mut c = Client::open(&format!("{}{suffix}", srv.url())).await;
        c.send(frame).await;
        let f = c.next_frame().await;
        assert_eq!(
            (f.command, f.header("user-name")),
            (Command::Connected, Some("alice"))
        );
    }
    // SockJS-style raw WebSocket path.
    let mut c = Client::open(&format!("ws://{}/ws/websocket", srv.addr)).await;
    assert_eq!(c.connect(&token, "0,0").await.command, Command::Connected);
}

#[tokio::test]
async fn stomp_command_connects_like_connect() {
    let srv = Server::broker().await;
    let mut c = Client::open(&srv.url()).await;
    c.send(
        Frame::new(Command::Stomp)
            .with_header("accept-version", "1.2")
            .with_header("passcode", srv.token("a")),
    )
    .await;
    assert_eq!(c.next_frame().await.command, Command::Connected);
}

#[tokio::test]
async fn rs256_tokens_are_checked_with_the_public_key() {
    // A 2048-bit key pair made for this test only.
    let private = include_str!("keys/rs256-test.key");
    let dir = TempDir::new("rsa");
    let public = dir.0.join("pub.pem");
    std::fs::write(&public, include_str!("keys/rs256-test.pub")).unwrap();
    let srv = Server::with(|c| {
        c.jwt.secret = None;
        c.jwt.rs256_public_key = Some(public.clone());
    })
    .await;
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &serde_json::json!({"sub": "dana", "exp": jsonwebtoken::get_current_timestamp() + 60}),
        &EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
    )
    .unwrap();
    let mut c = Client::open(&srv.url()).await;
    assert_eq!(
        c.connect(&token, "0,0").await.header("user-name"),
        Some("dana")
    );
    // An HS256 token is refused by an RS256 server.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "dana", "exp": jsonwebtoken::get_current_timestamp() + 60}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let msg = refused(&srv, connect_frame().with_header("passcode", hs), "").await;
    assert!(msg.contains("algorithm"), "{msg}");
}

#[tokio::test]
async fn unsupported_version_is_refused_with_the_supported_list() {
    let srv = Server::broker().await;
    let mut c = Client::open(&srv.url()).await;
    c.send(
        Frame::new(Command::Connect)
            .with_header("accept-version", "2.0")
            .with_header("passcode", srv.token("a")),
    )
    .await;
    let e = c.expect_error().await;
    assert_eq!(
        e.header("message"),
        Some("Supported protocol versions are 1.0,1.1,1.2")
    );
}

#[tokio::test]
async fn frames_before_connect_are_refused() {
    let srv = Server::broker().await;
    let mut c = Client::open(&srv.url()).await;
    c.send(
        Frame::new(Command::Subscribe)
            .with_header("destination", "/topic/x")
            .with_header("id", "1"),
    )
    .await;
    assert_eq!(
        c.expect_error().await.header("message"),
        Some("expected CONNECT, got SUBSCRIBE")
    );
}

#[tokio::test]
async fn connect_must_come_within_the_deadline() {
    let srv = Server::with(|c| c.limits.connect_timeout_ms = 200).await;
    let mut c = Client::open(&srv.url()).await;
    let e = c.expect_error().await;
    assert!(
        e.header("message")
            .unwrap()
            .starts_with("no CONNECT frame within 0.2 s"),
        "{e:?}"
    );
}

// The heart-beat tests run on paused tokio time: the server is in this process, on the same
// runtime, over loopback TCP, so the clock only moves when every task waits for a timer, and
// the intervals measured are the server's own, exactly.

#[tokio::test(start_paused = true)]
async fn server_sends_heart_beats_at_the_agreed_interval() {
    let srv = Server::with(|c| {
        c.limits.heart_beat_send_ms = 50;
        c.limits.heart_beat_receive_ms = 0;
    })
    .await;
    let mut c = Client::open(&srv.url()).await;
    let f = c.connect(&srv.token("a"), "0,50").await;
    assert_eq!(f.header("heart-beat"), Some("50,0"));
    // On an otherwise idle connection, a beat every 50 ms: none early, none missed.
    c.next_heart_beat().await;
    let mut last = tokio::time::Instant::now();
    for beat in 1..=10 {
        c.next_heart_beat().await;
        let now = tokio::time::Instant::now();
        let gap = now - last;
        assert!(
            gap >= Duration::from_millis(50) && gap < Duration::from_millis(75),
            "beat {beat} came {gap:?} after the one before"
        );
        last = now;
    }
    assert!(c.stash.is_empty(), "nothing but beats: {:?}", c.stash);
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_dropped_and_a_beating_one_is_not() {
    let srv = Server::with(|c| {
        c.limits.heart_beat_send_ms = 0;
        c.limits.heart_beat_receive_ms = 100;
    })
    .await;
    // This client promises a beat every 100 ms and keeps it for a while.
    let mut alive = Client::open(&srv.url()).await;
    assert_eq!(
        alive
            .connect(&srv.token("a"), "100,0")
            .await
            .header("heart-beat"),
        Some("0,100")
    );
    let mut silent = Client::open(&srv.url()).await;
    silent.connect(&srv.token("b"), "100,0").await;
    let started = tokio::time::Instant::now();
    let mut beats = tokio::time::interval(Duration::from_millis(50));
    let reader = tokio::spawn(async move { silent.expect_error().await });
    while !reader.is_finished() {
        beats.tick().await;
        alive.send_raw("\n").await;
        assert!(started.elapsed() < WAIT, "silent peer never dropped");
    }
    let e = reader.await.unwrap();
    assert!(
        e.header("message")
            .unwrap()
            .starts_with("heart-beat timeout"),
        "{e:?}"
    );
    // Dropped after the interval plus slack (600 ms here), not before, and not much after
    // (the loop above looks every 50 ms).
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_millis(700),
        "{elapsed:?}"
    );
    alive.barrier().await;
}

#[tokio::test]
async fn malformed_heart_beat_header_is_an_error() {
    let srv = Server::broker().await;
    let msg = refused(
        &srv,
        connect_frame()
            .with_header("passcode", srv.token("a"))
            .with_header("heart-beat", "soon"),
        "",
    )
    .await;
    assert!(msg.starts_with("malformed heart-beat header"), "{msg}");
}

#[tokio::test]
async fn origins_are_checked_for_browser_clients() {
    let srv = Server::broker().await;
    let req = |origin: &str| {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut r = srv.url().into_client_request().unwrap();
        r.headers_mut().insert("Origin", origin.parse().unwrap());
        r
    };
    let err = tokio_tungstenite::connect_async(req("https://evil.example"))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => {
            assert_eq!(resp.status(), 403);
            let body = String::from_utf8(resp.body().clone().unwrap_or_default()).unwrap();
            assert!(body.contains("origin_not_allowed"), "{body}");
        }
        other => panic!("expected 403, got {other:?}"),
    }
    let same = format!("http://{}", srv.addr);
    assert!(tokio_tungstenite::connect_async(req(&same)).await.is_ok());
    assert!(tokio_tungstenite::connect_async(req("tauri://localhost"))
        .await
        .is_ok());

    let open = Server::with(|c| c.allowed_origins = vec!["https://app.example".into()]).await;
    let mut r = open.url().into_client_request_owned();
    r.headers_mut()
        .insert("Origin", "https://app.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(r).await.is_ok());
}

trait IntoReq {
    fn into_client_request_owned(
        self,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request;
}
impl IntoReq for String {
    fn into_client_request_owned(
        self,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        self.into_client_request().unwrap()
    }
}

#[tokio::test]
async fn subprotocol_is_negotiated() {
    let srv = Server::broker().await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut r = srv.url().into_client_request().unwrap();
    r.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v11.stomp, v12.stomp".parse().unwrap(),
    );
    let (_ws, resp) = tokio_tungstenite::connect_async(r).await.unwrap();
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "v12.stomp"
    );
}
