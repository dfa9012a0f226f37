//! The engine notices a dead Socket.IO connection that says nothing: a server that goes silent
//! behind a black hole (its pings stop coming) and a WebSocket closed cleanly without a
//! Socket.IO disconnect (what a proxy does). The real Node.js socket.io server
//! (tests/sio-backend) is reached through testkit's TCP proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{until, until_state};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidings_client::backoff::Backoff;
use tidings_client::cache::Cache;
use tidings_client::engine::{Engine, EngineConfig, EngineState, Target};
use tidings_client::profile::Profile;
use tidings_testkit::{casting_profile, Proxy, SioBackend, TempDir, WAIT};

/// alice through `url` (testkit's casting profile, her token in the `Authorization` header
/// of the handshake): the backend records each join of c-1, one per connect.
fn profile(url: &str) -> Profile {
    let text = casting_profile(url, "authorization", "password = \"alice-password\"");
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

fn has(cache: &Cache, message: &str) -> bool {
    cache
        .notifications("", 100)
        .unwrap()
        .iter()
        .any(|n| n.message == message)
}

/// How many times alice connected (each connect emits `join-conversation`).
async fn connects(backend: &SioBackend) -> usize {
    backend
        .received()
        .await
        .iter()
        .filter(|e| e["event"] == "join-conversation" && e["user"] == "alice")
        .count()
}

/// Waits (bounded) until alice has connected at least `n` times.
async fn until_connects(backend: &SioBackend, n: usize, wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let got = connects(backend).await;
        if got >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{got} connects, not {n}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) until the backend counts `n` sockets of alice.
async fn until_sockets(backend: &SioBackend, n: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = backend.sockets("alice").await;
        if got == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "alice has {got} sockets, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_server_gone_silent_is_noticed_by_its_missing_pings_and_the_engine_reconnects() {
    // Pings every second, a second to answer: rust_socketio gives up on a server it has not
    // heard a ping from for 2 s.
    let backend = SioBackend::start_with_ping(Some((1000, 1000))).await;
    let proxy = Proxy::start(backend.addr).await;
    let dir = TempDir::new("sio-liveness");
    let engine = start(profile(&proxy.http()), &dir);
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    until_connects(&backend, 1, WAIT).await;
    backend.notify("alice", "Before", "before the outage").await;
    until(&engine, "the notification before", |c| {
        has(c, "before the outage")
    })
    .await;

    // Nothing passes any more, nothing is closed: only the missing pings tell.
    proxy.hold(true);
    until_state(&engine, "not live", |s| *s != EngineState::Live).await;
    // The server gives up on the silent client too (its pongs stop coming).
    until_sockets(&backend, 0).await;

    // The route is back: the engine's pending connect goes through, it is live again and
    // receives what is sent from then on.
    proxy.hold(false);
    until_state(&engine, "live again", |s| *s == EngineState::Live).await;
    until_sockets(&backend, 1).await;
    backend.notify("alice", "After", "after the outage").await;
    until(&engine, "the notification after", |c| {
        has(c, "after the outage")
    })
    .await;
    engine.shutdown().await;
}

#[tokio::test]
async fn a_websocket_closed_without_a_socketio_disconnect_is_noticed_and_the_engine_reconnects() {
    // socket.io's default pings (25 s + 20 s): what notices the close here is not a missing
    // ping, which would take longer than any wait below.
    let backend = SioBackend::start().await;
    let proxy = Proxy::start(backend.addr).await;
    let dir = TempDir::new("sio-liveness");
    let engine = start(profile(&proxy.http()), &dir);
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    until_connects(&backend, 1, WAIT).await;
    until_sockets(&backend, 1).await;

    // A clean WebSocket close frame, with no Socket.IO DISCONNECT before it (a proxy's).
    assert_eq!(backend.close_transports("alice").await, 1);
    // The engine notices and connects again (the join the profile emits after each connect).
    until_connects(&backend, 2, Duration::from_secs(20)).await;
    until_state(&engine, "live again", |s| *s == EngineState::Live).await;
    until_sockets(&backend, 1).await;
    backend.notify("alice", "After", "after the close").await;
    until(&engine, "the notification after the close", |c| {
        has(c, "after the close")
    })
    .await;
    engine.shutdown().await;
}
