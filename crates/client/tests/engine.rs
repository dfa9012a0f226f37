//! The engine against the real server: catch-up after an absence, gap repair without a
//! reconnect, the outbox across outages and a crash between send and receipt, reconnecting
//! after the server was killed, signing out for good, offline search. Real sockets on
//! 127.0.0.1, real cache files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tidings_client::cache::{Cache, OutboxState};
use tidings_client::engine::EngineState;
use tidings_proto::ContentType;
use tidings_testkit::*;

mod common;
use common::{cached_seqs, start_engine, until, until_state};

#[tokio::test]
async fn messages_sent_while_offline_are_all_cached_after_reconnect_in_order_once() {
    let dir = TempDir::new("offline");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    let cache_dir = TempDir::new("alice-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("c.db")).unwrap());
    // Alice was here once, then went away.
    let engine = start_engine(&server.http(), &alice, cache.clone());
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    engine.shutdown().await;
    for i in 0..1200 {
        api.send(&bob, &cid, &format!("b{i}"), &format!("message {i}"))
            .await;
    }
    let n = api
        .call(
            "POST",
            "/api/notifications",
            Some(SERVICE_TOKEN),
            Some(json!({"users": ["alice"], "title": "t", "message": "m"})),
        )
        .await;
    assert_eq!(n.0, 201);
    // Back: catch-up reports progress and ends live with everything cached.
    let engine = start_engine(&server.http(), &alice, cache.clone());
    let mut saw_progress = false;
    until_state(&engine, "live again", |s| {
        if matches!(s, EngineState::CatchingUp { total, .. } if *total >= 1200) {
            saw_progress = true;
        }
        *s == EngineState::Live
    })
    .await;
    assert!(
        saw_progress || cached_seqs(&cache, &cid).len() == 1200,
        "catch-up reported its progress"
    );
    assert_eq!(cached_seqs(&cache, &cid), (1..=1200).collect::<Vec<_>>());
    let contents: Vec<String> = cache
        .messages_after(&cid, 0)
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(contents[1199], "message 1199");
    let conv = cache.conversation(&cid).unwrap().unwrap();
    assert_eq!(
        (conv.synced_seq, conv.last_seq, conv.unread_count),
        (1200, 1200, 1200)
    );
    let notes = cache.notifications("alice", 10).unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!((notes[0].title.as_str(), notes[0].seq), ("t", 1));
    assert_eq!(cache.notification_cursor().unwrap(), 1);
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn a_gap_in_the_live_stream_is_repaired_without_a_reconnect() {
    let dir = TempDir::new("gap");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    let cache_dir = TempDir::new("gap-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("c.db")).unwrap());
    let engine = start_engine(&server.http(), &alice, cache.clone());
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    let mut states = engine.state();
    states.borrow_and_update();
    // Two messages stored without being delivered live (as a lossy broker would lose
    // them), then one delivered: the engine sees seq 3 after 0 and fetches 1 and 2.
    for key in ["lost-1", "lost-2"] {
        server
            .state
            .chat()
            .store
            .append_message(tidings_server::store::NewMessage {
                id: tidings_server::store::new_id("m"),
                conversation_id: cid.clone(),
                sender: "bob".into(),
                client_id: key.into(),
                content: key.into(),
                content_type: ContentType::Text,
                created_at: tidings_proto::Timestamp::now(),
            })
            .await
            .unwrap();
    }
    api.send(&bob, &cid, "live-3", "live").await;
    until(&engine, "seq 1-3 cached", |c| {
        cached_seqs(c, &cid) == vec![1, 2, 3]
    })
    .await;
    assert!(
        !states.has_changed().unwrap(),
        "no reconnect: the state stayed live ({:?})",
        states.borrow()
    );
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn the_outbox_sends_messages_written_offline_exactly_once_after_reconnect() {
    let dir = TempDir::new("outbox");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    let proxy = Proxy::start(server.addr).await;
    let cache_dir = TempDir::new("outbox-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("c.db")).unwrap());
    let engine = start_engine(&proxy.http(), &alice, cache.clone());
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    cache
        .upsert_conversation(
            &serde_json::from_value(api.conversations(&alice).await[0].clone()).unwrap(),
            "alice",
        )
        .unwrap();
    // The network goes away; the user keeps writing.
    proxy.block(true);
    until_state(&engine, "reconnecting", |s| {
        matches!(s, EngineState::Reconnecting { .. })
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            engine
                .send(
                    &cid,
                    &format!("written offline {i}"),
                    ContentType::Text,
                    None,
                    Vec::new(),
                )
                .unwrap(),
        );
    }
    assert_eq!(
        cache.unconfirmed(&cid).unwrap().len(),
        5,
        "shown as pending at once"
    );
    assert!(
        engine
            .send(&cid, "   ", ContentType::Text, None, Vec::new())
            .is_err(),
        "a blank message is refused at once"
    );
    proxy.block(false);
    engine.nudge();
    assert_eq!(
        engine.settle(Duration::from_secs(20)).await,
        EngineState::Live
    );
    for id in &ids {
        assert_eq!(
            cache.outbox_entry(id).unwrap().unwrap().state,
            OutboxState::Sent
        );
    }
    let server_msgs = api.all_messages(&bob, &cid).await;
    let contents: Vec<&str> = server_msgs
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        (0..5)
            .map(|i| format!("written offline {i}"))
            .collect::<Vec<_>>()
    );
    // The echo put them in the cache with their seq.
    until(&engine, "own messages cached", |c| {
        cached_seqs(c, &cid) == vec![1, 2, 3, 4, 5]
    })
    .await;
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_killed_between_send_and_receipt_still_sends_exactly_once() {
    let dir = TempDir::new("crash");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    let cache_dir = TempDir::new("crash-cache");
    let path = cache_dir.0.join("c.db");
    // The state a crash leaves: the entry was marked sending, the SEND reached the server
    // (it stored the message), and the process died before the RECEIPT came back.
    let client_id = {
        let cache = Cache::open(&path).unwrap();
        let id = cache
            .enqueue(
                &cid,
                "sent just before the crash",
                ContentType::Text,
                None,
                &[],
            )
            .unwrap();
        cache.mark_sending(&id).unwrap();
        id
    };
    api.send(&alice, &cid, &client_id, "sent just before the crash")
        .await;
    // Restarted: the engine sends it again with the same clientId.
    let cache = Arc::new(Cache::open(&path).unwrap());
    let engine = start_engine(&server.http(), &alice, cache.clone());
    assert_eq!(
        engine.settle(Duration::from_secs(20)).await,
        EngineState::Live
    );
    assert_eq!(
        cache.outbox_entry(&client_id).unwrap().unwrap().state,
        OutboxState::Sent
    );
    let server_msgs = api.all_messages(&bob, &cid).await;
    assert_eq!(server_msgs.len(), 1, "stored once: {server_msgs:?}");
    until(&engine, "cached", |c| cached_seqs(c, &cid) == vec![1]).await;
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn after_kill_9_of_the_server_the_client_reconnects_by_itself_and_catches_up() {
    let dir = TempDir::new("kill9-client");
    let server = BinServer::start(dir.path(), None);
    let addr = server.addr;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    api.send(&bob, &cid, "before", "before the crash").await;
    let cache_dir = TempDir::new("kill9-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("c.db")).unwrap());
    let engine = start_engine(&server.http(), &alice, cache.clone());
    until(&engine, "first message", |c| {
        cached_seqs(c, &cid) == vec![1]
    })
    .await;
    server.kill();
    until_state(&engine, "reconnecting", |s| {
        matches!(s, EngineState::Reconnecting { .. })
    })
    .await;
    let server = BinServer::start(dir.path(), Some(addr));
    api.send(&bob, &cid, "after", "after the restart").await;
    // No nudge: the backoff brings it back.
    until(&engine, "caught up after the restart", |c| {
        cached_seqs(c, &cid) == vec![1, 2]
    })
    .await;
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    engine.shutdown().await;
    drop(server);
}

#[tokio::test]
async fn a_refused_refresh_is_the_signed_out_state_not_a_retry_loop() {
    let dir = TempDir::new("signout");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    // The session was revoked elsewhere (signed out on another device).
    let (status, _) = api
        .call(
            "POST",
            "/api/auth/logout",
            None,
            Some(json!({"refreshToken": alice.refresh})),
        )
        .await;
    assert_eq!(status, 204);
    let cache_dir = TempDir::new("signout-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("c.db")).unwrap());
    // No access token in hand: the engine must refresh, and is refused.
    let stale = TestUser {
        token: String::new(),
        expires_in: 0,
        ..alice.clone()
    };
    let engine = start_engine(&server.http(), &stale, cache.clone());
    until_state(&engine, "signed out", |s| {
        matches!(s, EngineState::SignedOut { .. })
    })
    .await;
    let EngineState::SignedOut { reason } = engine.state().borrow().clone() else {
        unreachable!()
    };
    assert!(reason.contains("refresh token"), "{reason}");
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn cached_messages_are_searchable_with_the_server_stopped() {
    let dir = TempDir::new("search");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    api.send(&bob, &cid, "1", "The invoice for March is attached")
        .await;
    api.send(&bob, &cid, "2", "Lunch tomorrow?").await;
    let cache_dir = TempDir::new("search-cache");
    let path = cache_dir.0.join("c.db");
    let cache = Arc::new(Cache::open(&path).unwrap());
    let engine = start_engine(&server.http(), &alice, cache.clone());
    until(&engine, "cached", |c| cached_seqs(c, &cid).len() == 2).await;
    engine.shutdown().await;
    server.stop().await;
    drop(cache);
    // Server gone, a fresh process: the cache alone answers.
    let cache = Cache::open(&path).unwrap();
    let hits = cache.search("invoice", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].snippet.contains("[invoice]"), "{}", hits[0].snippet);
    assert_eq!(cache.search("lunch tom", 10).unwrap().len(), 1);
    assert!(cache.search("dinner", 10).unwrap().is_empty());
    assert_eq!(cache.conversations().unwrap().len(), 1);
}

#[tokio::test]
async fn the_engine_pages_through_a_conversation_list_longer_than_one_page() {
    let dir = TempDir::new("many-conversations");
    let server = Server::start(dir.path(), None, |c| {
        c.limits.conversations_per_hour = 1_000
    })
    .await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    // The server's page is 100 conversations.
    let mut cids = std::collections::HashSet::new();
    for _ in 0..230 {
        cids.insert(api.group(&alice, &[&bob]).await);
    }
    let cache_dir = TempDir::new("bob-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("c.db")).unwrap());
    let engine = start_engine(&server.http(), &bob, cache.clone());
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    let cached: std::collections::HashSet<String> = cache
        .conversations()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        cached.len(),
        230,
        "every conversation, from all three pages"
    );
    assert_eq!(cached, cids);
    engine.shutdown().await;
    server.stop().await;
}

/// The server ends a live session when its access token expires (or its sign-in is signed
/// out): the engine renews the token and reconnects at once, with no "reconnecting" or
/// "connecting" for the user to see, and catch-up fills what came meanwhile.
#[tokio::test]
async fn when_the_server_ends_the_session_at_token_expiry_the_engine_renews_it_quietly() {
    let dir = TempDir::new("expiry");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    // An access token that ends in 3-4 s, which the engine believes good for an hour (as
    // with a skewed clock): the server, not the engine's own timer, ends the session.
    let short = TestUser {
        token: server.state.auth.mint("alice", &[], 4).unwrap(),
        expires_in: 3600,
        ..alice.clone()
    };
    let cache_dir = TempDir::new("expiry-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("c.db")).unwrap());
    let engine = start_engine(&server.http(), &short, cache.clone());
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut states = engine.state();
    states.borrow_and_update();
    let recorder = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while states.changed().await.is_ok() {
                let s = states.borrow_and_update().clone();
                seen.lock().unwrap().push(s);
            }
        })
    };
    for i in 0..10 {
        api.send(&bob, &cid, &format!("a{i}"), "before").await;
    }
    // Wait (bounded) until the server has ended the session for its token.
    let expired = async {
        while !server
            .state
            .metrics
            .render()
            .contains("kind=\"token_expired\"")
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), expired)
        .await
        .expect("the server ended the session at the token's expiry");
    for i in 0..10 {
        api.send(&bob, &cid, &format!("b{i}"), "after").await;
    }
    until(&engine, "all 20 cached, in order, once", |c| {
        cached_seqs(c, &cid) == (1..=20).collect::<Vec<_>>()
    })
    .await;
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    engine.shutdown().await;
    recorder.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.iter().any(|s| matches!(
            s,
            EngineState::Reconnecting { .. }
                | EngineState::Connecting
                | EngineState::SignedOut { .. }
        )),
        "the user saw the renewal: {seen:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_catch_up_larger_than_the_servers_request_burst_slows_down_and_completes() {
    // A server that answers a user one request a second: a first sign-in to 12
    // conversations asks more often than that (however slow this machine), so the server
    // says 429 with Retry-After.
    // Seeded with the limits lifted, then the same data served with them.
    let dir = TempDir::new("rate");
    let seeding = Server::start(dir.path(), None, |_| {}).await;
    let api = seeding.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let mut cids = Vec::new();
    for i in 0..12 {
        let cid = api.group(&bob, &[&alice]).await;
        api.send(&bob, &cid, &format!("m{i}"), &format!("hello {i}"))
            .await;
        cids.push(cid);
    }
    seeding.stop().await;
    let server = Server::start(dir.path(), None, |c| {
        c.limits.requests_per_minute = 60;
        c.limits.request_burst = 1;
    })
    .await;
    let cache_dir = TempDir::new("rate-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("c.db")).unwrap());
    let engine = start_engine(&server.http(), &alice, cache.clone());
    until(&engine, "every conversation and its message cached", |c| {
        cids.iter().all(|cid| {
            c.messages_after(cid, 0)
                .map(|m| m.len() == 1)
                .unwrap_or(false)
        })
    })
    .await;
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    // The server did refuse some: the engine waited them out instead of failing.
    let metrics = server.state.metrics.render();
    let refused = metrics
        .lines()
        .find(|l| l.contains("requests_rate_limited") && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(refused >= 1.0, "no request was refused: {metrics}");
    engine.shutdown().await;
    server.stop().await;
}
