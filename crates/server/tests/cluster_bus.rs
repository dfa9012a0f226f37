//! The Redis bus between nodes: two in-process servers on one private Redis
//! ([`tidings_testkit::Redis`]), and the binary for start-up and a node killed with
//! SIGKILL.
//!
//! Store: the nodes share one SQLite database (the same `data_dir`), because the
//! PostgreSQL store is built on another branch (i17-pg). That is enough here: these tests
//! are about what crosses the bus (topics, user queues, typing, read receipts, presence,
//! revocations, SSE, rate limits, outages), not about the store under several writers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use tidings_stomp::{Command, Frame};
use tidings_testkit::{Client, Redis, Server, Sse, TempDir, TestUser, SERVICE_TOKEN, WAIT};

/// A node on `data_dir` and the bus at `redis`, named `node`.
async fn node(dir: &Path, redis: &Redis, node: &str) -> Server {
    let (url, id) = (redis.url(), node.to_owned());
    Server::start(dir, None, move |c| {
        c.cluster.bus = Some(url);
        c.cluster.node_id = Some(id);
        c.cluster.heartbeat_ms = 100;
        c.cluster.node_timeout_ms = 1500;
    })
    .await
}

/// Waits until `check` holds, or panics after [`WAIT`] saying `what`.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two nodes that see each other on the bus.
async fn pair(dir: &Path, redis: &Redis) -> (Server, Server) {
    let a = node(dir, redis, "a").await;
    let b = node(dir, redis, "b").await;
    until("the nodes see each other", || {
        a.state.bus.health()["peers"] == json!(["b"])
            && b.state.bus.health()["peers"] == json!(["a"])
    })
    .await;
    (a, b)
}

/// A STOMP session of a new account `name` on `server`.
async fn user_on(server: &Server, name: &str) -> Client {
    let who = server.api().register(name).await;
    Client::signed_in(server, &who).await
}

/// Another STOMP session of `name` (registered already) on `server`.
async fn again_on(server: &Server, name: &str) -> Client {
    server.client(name).await
}

async fn subscribe(c: &mut Client, destination: &str, id: &str) {
    c.subscribe(destination, id, "auto").await;
}

/// Frames until a MESSAGE on subscription `id` whose body is `marker`; returns those before.
async fn until_marker(c: &mut Client, id: &str, marker: &str) -> Vec<Frame> {
    let mut before = Vec::new();
    loop {
        let f = c.next_frame().await;
        if f.command == Command::Message
            && f.header("subscription") == Some(id)
            && tidings_testkit::body(&f) == marker
        {
            return before;
        }
        before.push(f);
    }
}

#[tokio::test]
async fn messages_typing_receipts_and_topics_cross_nodes() {
    let redis = Redis::start();
    let dir = TempDir::new("bus");
    let (a, b) = pair(dir.path(), &redis).await;
    let (alice, bob, cid) = a.api().alice_and_bob().await;
    let mut on_a = Client::signed_in(&a, &alice).await;
    let mut on_b = Client::signed_in(&b, &bob).await;
    let topic = format!("/topic/conversations/{cid}");
    subscribe(&mut on_a, &topic, "conv").await;
    subscribe(&mut on_b, &topic, "conv").await;
    subscribe(&mut on_b, "/user/queue/messages", "mine").await;

    // A message stored through node A reaches bob on node B, on the topic and his queue.
    a.api().send(&alice, &cid, "k1", "hello from a").await;
    let ev = on_b.next_event("conv", "CHAT_MESSAGE").await;
    assert_eq!(ev["payload"]["content"], "hello from a");
    let ev = on_b.next_event("mine", "CHAT_MESSAGE").await;
    assert_eq!(ev["payload"]["content"], "hello from a");

    // Typing and a read receipt from node B reach alice on node A.
    on_b.send_json(
        &format!("/app/conversations/{cid}/typing"),
        json!({"typing": true}),
    )
    .await;
    let ev = on_a.next_event("conv", "TYPING").await;
    assert_eq!(ev["payload"]["userId"], "bob");
    on_b.send_json(
        &format!("/app/conversations/{cid}/read"),
        json!({"upTo": 1}),
    )
    .await;
    let ev = on_a.next_event("conv", "READ_RECEIPT").await;
    assert_eq!(ev["payload"]["userId"], "bob");

    // A client's SEND to an application topic and to another user's queue.
    subscribe(&mut on_b, "/topic/news", "news").await;
    on_a.publish("/topic/news", r#"{"extra":true}"#).await;
    assert_eq!(on_b.next_json("news").await, json!({"extra": true}));

    // An announcement made on B reaches a subscriber on A.
    subscribe(&mut on_a, "/topic/announcements", "ann").await;
    let (s, body) = b
        .api()
        .post(
            "/api/announcements",
            SERVICE_TOKEN,
            json!({"title": "t", "message": "maintenance"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let ev = on_a.next_event("ann", "ANNOUNCEMENT").await;
    assert_eq!(ev["payload"]["message"], "maintenance");
    assert!(b.metrics().await.contains("tidings_bus_received_total"));
}

#[tokio::test]
async fn a_queue_stays_on_the_node_of_its_sender() {
    let redis = Redis::start();
    let dir = TempDir::new("bus");
    let (a, b) = pair(dir.path(), &redis).await;
    let mut sender = user_on(&a, "sam").await;
    let mut near = user_on(&a, "nina").await;
    let mut far = user_on(&b, "fred").await;
    subscribe(&mut far, "/queue/jobs", "jobs").await;
    subscribe(&mut far, "/topic/marker", "marker").await;
    // The far consumer is the only one: still, nothing crosses to it.
    sender.publish("/queue/jobs", "job 1").await;
    sender.publish("/topic/marker", "m1").await;
    let before = until_marker(&mut far, "marker", "m1").await;
    assert!(
        before.is_empty(),
        "a queue message crossed nodes: {before:?}"
    );
    // A consumer on the sender's node gets it (it waited in the queue's backlog).
    subscribe(&mut near, "/queue/jobs", "jobs").await;
    let f = near.next_message().await;
    assert_eq!(tidings_testkit::body(&f), "job 1");
}

#[tokio::test]
async fn a_member_removed_on_one_node_loses_the_topic_on_the_other() {
    let redis = Redis::start();
    let dir = TempDir::new("bus");
    let (a, b) = pair(dir.path(), &redis).await;
    let api = a.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let cid = api.group(&alice, &[&bob, &carol]).await;
    let mut bob_b = Client::signed_in(&b, &bob).await;
    let topic = format!("/topic/conversations/{cid}");
    subscribe(&mut bob_b, &topic, "conv").await;
    subscribe(&mut bob_b, "/topic/marker", "marker").await;
    let mut alice_a = Client::signed_in(&a, &alice).await;
    let (s, body) = api.remove_person(&alice, &cid, "bob").await;
    assert!((200..300).contains(&s), "{body}");
    api.send(&alice, &cid, "k1", "after bob left").await;
    alice_a.publish("/topic/marker", "done").await;
    let before = until_marker(&mut bob_b, "marker", "done").await;
    let leaked: Vec<&Frame> = before
        .iter()
        .filter(|f| tidings_testkit::body(f).contains("after bob left"))
        .collect();
    assert!(leaked.is_empty(), "bob still hears the group: {leaked:?}");
}

#[tokio::test]
async fn presence_is_per_user_across_nodes() {
    let redis = Redis::start();
    let dir = TempDir::new("bus");
    let (a, b) = pair(dir.path(), &redis).await;
    let mut watcher = user_on(&a, "carol").await;
    subscribe(&mut watcher, "/topic/presence", "p").await;
    // alice's first session anywhere, on B: carol on A hears she is online.
    let on_b = user_on(&b, "alice").await;
    let ev = watcher.next_event("p", "PRESENCE").await;
    assert_eq!(ev["payload"], json!({"userId": "alice", "online": true}));
    until("A knows alice is online", || a.state.chat().online("alice")).await;
    // A second session on A, then the one on B closes: she stays online.
    let on_a = again_on(&a, "alice").await;
    drop(on_b);
    until("B counts alice through A", || {
        b.state.chat().online("alice") && b.state.hub.user_sessions("alice") == 0
    })
    .await;
    assert!(a.state.chat().online("alice"));
    // Her last session closes: offline, once.
    drop(on_a);
    let ev = watcher.next_event("p", "PRESENCE").await;
    assert_eq!(ev["payload"], json!({"userId": "alice", "online": false}));
    until("B knows alice is offline", || {
        !b.state.chat().online("alice")
    })
    .await;
    // (No second offline event: the next presence event is dan's.)
    let _dan = user_on(&b, "dan").await;
    let ev = watcher.next_event("p", "PRESENCE").await;
    assert_eq!(ev["payload"], json!({"userId": "dan", "online": true}));
}

#[tokio::test]
async fn a_node_killed_takes_its_users_offline_within_the_timeout() {
    let redis = Redis::start();
    let dir = TempDir::new("bus");
    let a = node(dir.path(), &redis, "a").await;
    let config = format!(
        "{}\n[cluster]\nbus = \"{}\"\nnode_id = \"doomed\"\nheartbeat_ms = 100\nnode_timeout_ms = 1500\n",
        tidings_testkit::BIN_CONFIG,
        redis.url()
    );
    // BIN_CONFIG ends in [auth]; the cluster table follows it.
    let doomed = tidings_testkit::BinServer::start_with(dir.path(), None, &config);
    until("A sees the binary node", || {
        a.state.bus.health()["peers"] == json!(["doomed"])
    })
    .await;
    let mut watcher = user_on(&a, "carol").await;
    subscribe(&mut watcher, "/topic/presence", "p").await;
    let alice = a.api().register("alice").await;
    let mut far = Client::open(&format!("ws://{}/ws", doomed.addr)).await;
    let connected = far.connect(&alice.token, "0,0").await;
    assert_eq!(connected.command, Command::Connected);
    let ev = watcher.next_event("p", "PRESENCE").await;
    assert_eq!(ev["payload"], json!({"userId": "alice", "online": true}));
    doomed.kill();
    let ev = watcher.next_event("p", "PRESENCE").await;
    assert_eq!(ev["payload"], json!({"userId": "alice", "online": false}));
    until("the dead node is forgotten", || {
        a.state.bus.health()["peers"] == json!([])
    })
    .await;
}

#[tokio::test]
async fn a_notification_made_on_one_node_reaches_an_sse_stream_on_the_other() {
    let redis = Redis::start();
    let dir = TempDir::new("bus");
    let (a, b) = pair(dir.path(), &redis).await;
    let alice = a.api().register("alice").await;
    let mut sse = sse(&b, &alice).await;
    assert_eq!(sse.next().await.0, "connected");
    notify(&a, "from node a").await;
    let (name, _, data) = sse.next().await;
    assert_eq!(name, "notification");
    let env: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(env["payload"]["title"], "from node a");
}

#[tokio::test]
async fn rate_limits_hold_across_nodes() {
    let redis = Redis::start();
    let dir = TempDir::new("bus");
    let limit = |c: &mut tidings_server::Config| {
        c.limits.sends_per_minute = 4;
        c.auth.login_attempts_per_minute_per_address = 3;
    };
    let url = redis.url();
    let on = |id: &'static str| {
        let url = url.clone();
        move |c: &mut tidings_server::Config| {
            limit(c);
            c.cluster.bus = Some(url);
            c.cluster.node_id = Some(id.into());
        }
    };
    let a = Server::start(dir.path(), None, on("a")).await;
    let b = Server::start(dir.path(), None, on("b")).await;
    until("both nodes are on the bus", || {
        a.state.bus.up() && b.state.bus.up()
    })
    .await;
    let (alice, _bob, cid) = a.api().alice_and_bob().await;
    let mut sent = 0;
    for (i, server) in [&a, &b, &a, &b, &a, &b].iter().enumerate() {
        let (status, body) = server
            .api()
            .post(
                &format!("/api/conversations/{cid}/messages"),
                &alice.token,
                json!({"clientId": format!("k{i}"), "content": "hi"}),
            )
            .await;
        match status {
            201 => sent += 1,
            429 => assert_eq!(body["error"], "rate_limited", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(sent, 4, "4 per minute over both nodes, not 4 on each");
    // Login attempts from one address, spread over the nodes.
    let mut refused = 0;
    for server in [&a, &b, &a, &b, &a] {
        let (status, _) = server
            .api()
            .call(
                "POST",
                "/api/auth/login",
                None,
                Some(json!({"username": "alice", "password": "wrong-password"})),
            )
            .await;
        if status == 429 {
            refused += 1;
        }
    }
    assert_eq!(
        refused, 2,
        "3 attempts per minute per address over both nodes"
    );
}

#[tokio::test]
async fn a_redis_outage_ends_sessions_with_an_error_then_everything_works_again() {
    let mut redis = Redis::start();
    let dir = TempDir::new("bus");
    let (a, b) = pair(dir.path(), &redis).await;
    let (alice, bob, cid) = a.api().alice_and_bob().await;
    let mut alice_a = Client::signed_in(&a, &alice).await;
    let mut sse = sse(&a, &alice).await;
    assert_eq!(sse.next().await.0, "connected");
    redis.stop();
    until("A reports the bus down", || !a.state.bus.up()).await;
    let (_, health) = a.get("/healthz").await;
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["bus"]["up"], false, "{health}");
    // Still serving its own sessions: a message is stored (receipts still mean stored),
    // and rate limits fall back to the node's own count.
    let stored = a
        .api()
        .send(&alice, &cid, "during", "while redis is away")
        .await;
    assert_eq!(stored["content"], "while redis is away");
    redis.restart();
    // The session and the stream connected during the gap are ended, saying why.
    let error = alice_a.expect_error().await;
    assert!(
        error
            .header("message")
            .unwrap_or_default()
            .contains("events were lost between server nodes"),
        "{error:?}"
    );
    sse.closed().await;
    until("both nodes are back on the bus", || {
        a.state.bus.up()
            && b.state.bus.up()
            && a.state.bus.health()["peers"] == json!(["b"])
            && b.state.bus.health()["peers"] == json!(["a"])
    })
    .await;
    let metrics = a.metrics().await;
    assert!(
        metrics.contains("tidings_bus_reconnects_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("tidings_bus_publish_seconds"), "{metrics}");
    // Reconnected clients catch up from the store and get what crosses again.
    let mut bob_b = Client::signed_in(&b, &bob).await;
    subscribe(&mut bob_b, &format!("/topic/conversations/{cid}"), "conv").await;
    let history = b.api().all_messages(&bob, &cid).await;
    assert!(history
        .iter()
        .any(|m| m["content"] == "while redis is away"));
    a.api().send(&alice, &cid, "after", "redis is back").await;
    // (What node A could not publish during the outage may still arrive late: clients
    // tell messages apart by id and seq.)
    loop {
        let ev = bob_b.next_event("conv", "CHAT_MESSAGE").await;
        if ev["payload"]["content"] == "redis is back" {
            break;
        }
    }
}

#[tokio::test]
async fn signing_out_on_one_node_ends_the_session_on_another() {
    let redis = Redis::start();
    let dir = TempDir::new("bus");
    let (a, b) = pair(dir.path(), &redis).await;
    let bob: TestUser = a.api().register("bob").await;
    let mut on_b = Client::signed_in(&b, &bob).await;
    let (status, body) = a
        .api()
        .call(
            "POST",
            "/api/auth/logout",
            None,
            Some(json!({"refreshToken": bob.refresh})),
        )
        .await;
    assert!((200..300).contains(&status), "{status}: {body}");
    let error = on_b.expect_error().await;
    assert!(
        error
            .header("message")
            .unwrap_or_default()
            .contains("revoked"),
        "{error:?}"
    );
    let (status, _) = b.api().get("/api/users/me", &bob.token).await;
    assert_eq!(status, 401, "node B refuses the signed-out token too");
}

#[test]
fn an_unreachable_bus_at_start_is_a_sentence_and_a_non_zero_exit() {
    let dir = TempDir::new("bus");
    // A port nobody listens on: taken and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(tidings_testkit::server_binary())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args([
            "--bus",
            &format!("redis://:hunter2hunter2@127.0.0.1:{port}"),
        ])
        .env("TIDINGS_JWT_SECRET", tidings_testkit::SECRET)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot reach the Redis bus at redis://:***@127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password is never shown: {stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}

async fn notify(server: &Server, title: &str) {
    let (s, b) = server
        .api()
        .post(
            "/api/notifications",
            SERVICE_TOKEN,
            json!({"users": ["alice"], "title": title, "message": "m"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

/// `who`'s notification stream on `server`.
async fn sse(server: &Server, who: &TestUser) -> Sse {
    let (status, sse) = Sse::open(
        &server.api(),
        "/api/notifications/stream",
        Some(&who.token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    sse.unwrap()
}
