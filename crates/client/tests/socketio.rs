//! The engine with a Socket.IO profile against a real Node.js socket.io server written from
//! the seeds' event contract (tests/sio-backend): events become notifications with the
//! configured fields, through a restart of the server, a rotated signing key (a fresh token
//! from the login endpoint) and each place the token can go; a wrong password or a refused
//! token is a clear state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{until, until_state};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidings_client::backoff::Backoff;
use tidings_client::cache::Cache;
use tidings_client::engine::{Engine, EngineConfig, EngineState, Target};
use tidings_client::profile::Profile;
use tidings_proto::Notification;
use tidings_testkit::{casting_profile, SioBackend, TempDir, WAIT};

/// The casting-platform profile for alice (testkit's), her token placed as `header` says.
fn profile(backend: &SioBackend, header: &str, password: &str) -> Profile {
    let text = casting_profile(
        &backend.url(""),
        header,
        &format!("password = \"{password}\""),
    );
    let p: Profile = toml::from_str(&text).unwrap();
    p.validate().unwrap();
    p
}

fn start(p: Profile, dir: &TempDir) -> Engine {
    let cache = Arc::new(Cache::open(&dir.0.join("c.db")).unwrap());
    let mut config = EngineConfig::new(
        Target::Profile(p),
        tidings_client::tls::client_config(None).unwrap(),
    );
    config.backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(400));
    Engine::start(config, cache).unwrap()
}

fn find(cache: &Cache, message: &str) -> Option<Notification> {
    cache
        .notifications("", 100)
        .unwrap()
        .into_iter()
        .find(|n| n.message == message)
}

/// Waits until the backend has seen alice's `join-conversation` (emitted after connect).
async fn joined(backend: &SioBackend) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = backend.received().await;
        if got.iter().any(|e| {
            e["event"] == "join-conversation" && e["data"] == "c-1" && e["user"] == "alice"
        }) {
            return;
        }
        assert!(Instant::now() < deadline, "no join-conversation: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn socketio_events_become_notifications_through_a_restart_of_the_server() {
    let mut backend = SioBackend::start().await;
    let dir = TempDir::new("sio-engine");
    let engine = start(profile(&backend, "handshake", "alice-password"), &dir);
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    backend.wait_connected("alice").await;
    joined(&backend).await;

    backend.notify("alice", "Callback", "Tuesday 10:00").await;
    until(&engine, "the notification", |c| {
        find(c, "Tuesday 10:00").is_some()
    })
    .await;
    let n = find(engine.cache(), "Tuesday 10:00").unwrap();
    assert_eq!(n.title, "Callback");
    assert_eq!(n.kind, "notification:new");
    assert!(n.id.starts_with("notification:new:"), "{}", n.id);

    let m = backend
        .message("c-1", "bob", "alice", "See you at the audition")
        .await;
    until(&engine, "the chat message", |c| {
        find(c, "See you at the audition").is_some()
    })
    .await;
    let n = find(engine.cache(), "See you at the audition").unwrap();
    assert_eq!(n.title, "New message");
    assert_eq!(n.conversation_id.as_deref(), Some("c-1"));
    assert_eq!(n.id, format!("message:new:{}", m["id"].as_str().unwrap()));
    // Someone else's notification does not reach alice.
    backend.notify("bob", "For bob", "not for alice").await;

    // The server goes away and comes back on the same port: the engine notices, reconnects,
    // joins its conversation again and receives again.
    backend.kill();
    until_state(&engine, "reconnecting", |s| {
        matches!(
            s,
            EngineState::Reconnecting { .. } | EngineState::Connecting
        )
    })
    .await;
    backend.restart().await;
    backend.wait_connected("alice").await;
    joined(&backend).await;
    until_state(&engine, "live again", |s| *s == EngineState::Live).await;
    backend
        .notify("alice", "Callback moved", "Wednesday 9:00")
        .await;
    until(&engine, "the notification after the restart", |c| {
        find(c, "Wednesday 9:00").is_some()
    })
    .await;
    backend.message("c-1", "bob", "alice", "Room 4").await;
    until(&engine, "the message after the restart", |c| {
        find(c, "Room 4").is_some()
    })
    .await;
    assert!(find(engine.cache(), "not for alice").is_none());

    // A new signing key: the token the engine holds is refused; it logs in again.
    backend.restart_with_new_secret().await;
    backend.wait_connected("alice").await;
    backend.notify("alice", "Fresh token", "still here").await;
    until(&engine, "the notification with a fresh token", |c| {
        find(c, "still here").is_some()
    })
    .await;
    engine.shutdown().await;
}

#[tokio::test]
async fn the_token_goes_in_the_authorization_header_or_the_query_as_configured() {
    let backend = SioBackend::start().await;
    for header in ["authorization", "query"] {
        let dir = TempDir::new("sio-header");
        let engine = start(profile(&backend, header, "alice-password"), &dir);
        until_state(&engine, "live", |s| *s == EngineState::Live).await;
        backend.wait_connected("alice").await;
        let text = format!("by {header}");
        backend.notify("alice", "Hello", &text).await;
        until(&engine, "the notification", |c| find(c, &text).is_some()).await;
        engine.shutdown().await;
    }
}

#[tokio::test]
async fn a_wrong_password_or_a_refused_token_is_said_plainly() {
    let backend = SioBackend::start().await;
    let dir = TempDir::new("sio-wrong");
    let engine = start(profile(&backend, "handshake", "wrong"), &dir);
    until_state(
        &engine,
        "signed out",
        |s| matches!(s, EngineState::SignedOut { reason } if reason.contains("refused the login")),
    )
    .await;
    engine.shutdown().await;

    // A token the server does not take: its refusal, in its words, and attempts again.
    let text = format!(
        "name = \"Casting\"\nkind = \"socketio\"\nurl = \"{}\"\n[auth]\ntype = \"token\"\ntoken = \"not-a-token\"\nheader = \"handshake\"\n[[subscribe]]\nevent = \"notification:new\"\n",
        backend.url("")
    );
    let p: Profile = toml::from_str(&text).unwrap();
    let dir = TempDir::new("sio-refused");
    let engine = start(p, &dir);
    until_state(&engine, "refused", |s| {
        matches!(s, EngineState::Reconnecting { reason, .. }
            if reason.contains("the server refused the connection: Invalid authentication token"))
    })
    .await;
    engine.shutdown().await;
}
