//! The notification centre's engine side against the real server, with two devices of one
//! user (two engines, two cache files): "mark all read" and one marked read reach the other
//! device live and, for a device away meanwhile, at its reconnect; reads made offline reach
//! the server at the next connection; the list pages back past what the cache holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tidings_client::cache::Cache;
use tidings_client::engine::{
    Engine, EngineConfig, EngineState, MemoryRefreshStore, Target, TidingsServer,
};
use tidings_testkit::*;

mod common;
use common::{start_engine, until, until_state};

async fn raise(api: &Api, user: &str, n: usize) {
    for i in 0..n {
        let (status, body) = api
            .post(
                "/api/notifications",
                SERVICE_TOKEN,
                json!({"users": [user], "title": format!("t{i}"), "message": "m"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

async fn server_unread(api: &Api, who: &TestUser) -> i64 {
    let page = expect_ok(api.get("/api/notifications?limit=1", &who.token).await);
    page["unreadCount"].as_i64().unwrap()
}

fn cache_in(dir: &TempDir) -> Arc<Cache> {
    Arc::new(Cache::open(&dir.0.join("c.db")).unwrap())
}

#[tokio::test]
async fn mark_all_read_converges_on_every_device_live_and_after_an_absence() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let (dir_a, dir_b) = (TempDir::new("alice-a"), TempDir::new("alice-b"));
    let (cache_a, cache_b) = (cache_in(&dir_a), cache_in(&dir_b));
    let a = start_engine(&server.http(), &alice, cache_a.clone());
    let b = start_engine(&server.http(), &alice, cache_b.clone());
    until_state(&a, "a live", |s| *s == EngineState::Live).await;
    until_state(&b, "b live", |s| *s == EngineState::Live).await;
    raise(&api, "alice", 5).await;
    until(&a, "a has 5 unread", |c| {
        c.unread_notifications().unwrap() == 5
    })
    .await;
    until(&b, "b has 5 unread", |c| {
        c.unread_notifications().unwrap() == 5
    })
    .await;
    // One on device A: B hears which.
    let one = cache_a.notifications("alice", 10).unwrap()[0].id.clone();
    assert!(a.mark_notification_read(&one).unwrap());
    until(&b, "b sees the one read", |c| {
        c.unread_notifications().unwrap() == 4
    })
    .await;
    // All on device B, in one request: A converges, and so does the server.
    assert_eq!(b.mark_all_notifications_read().unwrap(), 0);
    until(&a, "a sees all read", |c| {
        c.unread_notifications().unwrap() == 0
    })
    .await;
    assert_eq!(server_unread(&api, &alice).await, 0);
    // Three more come to both; B goes away; all but the newest are marked read elsewhere.
    raise(&api, "alice", 3).await;
    until(&a, "a has 3 new", |c| {
        c.unread_notifications().unwrap() == 3
    })
    .await;
    until(&b, "b has 3 new", |c| {
        c.unread_notifications().unwrap() == 3
    })
    .await;
    b.shutdown().await;
    let newest = cache_a.notifications("alice", 1).unwrap()[0].clone();
    let (status, body) = api
        .post(
            "/api/notifications/read-all",
            &alice.token,
            json!({"upTo": newest.seq - 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    until(&a, "a sees two of three read", |c| {
        c.unread_notifications().unwrap() == 1
    })
    .await;
    // B back: it learns that of the three it holds only the newest is unread.
    let b = start_engine(&server.http(), &alice, cache_b.clone());
    until_state(&b, "b live again", |s| *s == EngineState::Live).await;
    let unread: Vec<i64> = cache_b
        .notifications("alice", 20)
        .unwrap()
        .iter()
        .filter(|n| !n.is_read)
        .map(|n| n.seq)
        .collect();
    assert_eq!(unread, vec![newest.seq]);
    a.shutdown().await;
    b.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn reads_made_offline_reach_the_server_at_the_next_connection() {
    let dir = TempDir::new("offline-reads");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    raise(&api, "alice", 4).await;
    let cdir = TempDir::new("alice-cache");
    let cache = cache_in(&cdir);
    let e = start_engine(&server.http(), &alice, cache.clone());
    until(&e, "4 cached", |c| c.unread_notifications().unwrap() == 4).await;
    e.set_network(false);
    until_state(&e, "offline", |s| *s == EngineState::Offline).await;
    let oldest = cache.notifications("alice", 10).unwrap()[3].id.clone();
    assert!(e.mark_notification_read(&oldest).unwrap());
    assert_eq!(
        server_unread(&api, &alice).await,
        4,
        "not told while offline"
    );
    e.set_network(true);
    until_state(&e, "live", |s| *s == EngineState::Live).await;
    assert_eq!(server_unread(&api, &alice).await, 3);
    // All of them, offline again: one read-all at the reconnect.
    e.set_network(false);
    until_state(&e, "offline", |s| *s == EngineState::Offline).await;
    assert_eq!(e.mark_all_notifications_read().unwrap(), 0);
    e.set_network(true);
    until_state(&e, "live", |s| *s == EngineState::Live).await;
    assert_eq!(server_unread(&api, &alice).await, 0);
    assert!(cache.unsynced_notification_reads().unwrap().ids.is_empty());
    e.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn the_list_pages_back_past_the_cache_from_the_server() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    raise(&api, "alice", 12).await;
    let cdir = TempDir::new("alice-pages");
    let cache = cache_in(&cdir);
    // A cache that holds only the newest five, and an engine whose live connection cannot
    // be made (no catch-up fills the rest): older pages come from the server over REST.
    let page = expect_ok(
        api.get("/api/notifications?after=7&limit=5", &alice.token)
            .await,
    );
    let newest: Vec<tidings_proto::Notification> =
        serde_json::from_value(page["notifications"].clone()).unwrap();
    cache.insert_notifications(&newest).unwrap();
    let target = Target::Tidings(TidingsServer {
        http: server.http(),
        ws: "ws://127.0.0.1:9/ws".into(),
        user: alice.name.clone(),
        refresh: Arc::new(MemoryRefreshStore::new(&alice.refresh)),
        access: Some((alice.token.clone(), Duration::from_secs(alice.expires_in))),
    });
    let config = EngineConfig::new(target, tidings_client::tls::client_config(None).unwrap());
    let e = Engine::start(config, cache.clone()).unwrap();
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = e.notifications_page(before.as_deref(), 5).await.unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|n| n.seq));
        before = page.last().map(|n| n.id.clone());
    }
    assert_eq!(seen, (1..=12).rev().collect::<Vec<i64>>());
    assert_ne!(*e.state().borrow(), EngineState::Live);
    e.shutdown().await;
    server.stop().await;
}
