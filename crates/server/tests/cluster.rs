//! Three real `tidings-server` nodes on one PostgreSQL and one Redis, behind HAProxy running
//! the shipped configuration (testkit `Cluster`). Clients are spread: some connect to a
//! node itself, some through the load balancer. Messages, typing, read receipts, presence,
//! user queues, application topics, announcements, notifications (STOMP and SSE) and
//! attachments cross nodes; every node reads the same history.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use tidings_stomp::Command;
use tidings_testkit::*;

/// A STOMP client on `url`, signed in as `who`.
async fn on(url: &str, who: &TestUser) -> Client {
    let mut c = Client::open(url).await;
    let ok = c.connect(&who.token, "0,0").await;
    assert_eq!(ok.command, Command::Connected, "{ok:?}");
    c
}

/// The next CHAT_MESSAGE on `subscription` with this `clientId` (earlier ones, such as
/// one's own, are skipped).
async fn chat_message(c: &mut Client, subscription: &str, client_id: &str) -> Value {
    loop {
        let m = c.next_event(subscription, "CHAT_MESSAGE").await;
        if m["payload"]["clientId"] == client_id {
            return m;
        }
    }
}

/// The next PRESENCE event about `user` (others are skipped).
async fn presence_of(c: &mut Client, user: &str) -> bool {
    loop {
        let p = c.next_event("p", "PRESENCE").await;
        if p["payload"]["userId"] == user {
            return p["payload"]["online"].as_bool().unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_crosses_the_nodes_of_a_cluster() {
    let store = Postgres::shared().create_database();
    let cluster = Cluster::start(3, &store).await;
    let lb = Api::new(&cluster.http());
    let node: Vec<Api> = (0..3).map(|i| Api::new(&cluster.node_http(i))).collect();

    // Accounts made on different nodes, and through the balancer: one store.
    let alice = node[0].register("alice").await;
    let bob = node[1].register("bob").await;
    let carol = lb.register("carol").await;
    let dave = node[2].register("dave").await;
    let cid = node[0].group(&alice, &[&bob, &carol, &dave]).await;

    // alice on node 1, bob on node 2, dave on node 3, carol wherever HAProxy sends her.
    let mut a = on(&cluster.node_url(0), &alice).await;
    let mut b = on(&cluster.node_url(1), &bob).await;
    let mut c = on(&cluster.url(), &carol).await;
    let mut d = on(&cluster.node_url(2), &dave).await;
    let topic = format!("/topic/conversations/{cid}");
    for cl in [&mut a, &mut b, &mut c, &mut d] {
        cl.subscribe("/user/queue/messages", "mine", "auto").await;
        cl.subscribe(&topic, "conv", "auto").await;
    }

    // A message sent on node 1 reaches everyone, on their queue and on the topic.
    a.send_json(
        &format!("/app/conversations/{cid}/send"),
        json!({"clientId": "c-1", "content": "hello from node 1"}),
    )
    .await;
    for cl in [&mut b, &mut c, &mut d] {
        let m = chat_message(cl, "mine", "c-1").await;
        assert_eq!(m["payload"]["content"], "hello from node 1");
        assert_eq!(m["payload"]["seq"], 1);
        chat_message(cl, "conv", "c-1").await;
    }
    // One sent over REST through the balancer, the same.
    lb.send(&carol, &cid, "c-2", "hello through haproxy").await;
    for cl in [&mut a, &mut b, &mut d] {
        let m = chat_message(cl, "mine", "c-2").await;
        assert_eq!(m["payload"]["content"], "hello through haproxy");
        assert_eq!(m["payload"]["seq"], 2);
    }

    // Typing on node 2, heard on node 1.
    b.send_json(
        &format!("/app/conversations/{cid}/typing"),
        json!({"typing": true}),
    )
    .await;
    let t = a.next_event("conv", "TYPING").await;
    assert_eq!(
        (&t["senderId"], &t["payload"]["typing"]),
        (&json!("bob"), &json!(true))
    );

    // A read receipt on node 3, seen on node 1; dave's own queue on node 3 hears it too.
    d.send_json(
        &format!("/app/conversations/{cid}/read"),
        json!({"upTo": 2}),
    )
    .await;
    let r = a.next_event("conv", "READ_RECEIPT").await;
    assert_eq!(
        (&r["payload"]["userId"], &r["payload"]["upTo"]),
        (&json!("dave"), &json!(2))
    );

    // Presence: eve comes online on node 3 and leaves; alice on node 1 sees both.
    a.subscribe("/topic/presence", "p", "auto").await;
    let eve = node[2].register("eve").await;
    let e = on(&cluster.node_url(2), &eve).await;
    assert!(presence_of(&mut a, "eve").await, "eve online");
    let (_, seen) = node[0].get("/api/users/eve", &alice.token).await;
    assert_eq!(seen["online"], true, "node 1 knows eve is online: {seen}");
    drop(e);
    assert!(!presence_of(&mut a, "eve").await, "eve offline");

    // A user queue: dave (node 3) to bob (node 2).
    b.subscribe("/user/queue/custom", "custom", "auto").await;
    d.send_json("/user/bob/queue/custom", json!({"from": "dave"}))
        .await;
    assert_eq!(b.next_json("custom").await["from"], "dave");

    // An application topic: alice (node 1) to carol (through HAProxy).
    c.subscribe("/topic/board", "board", "auto").await;
    a.send_json("/topic/board", json!({"card": 7})).await;
    assert_eq!(c.next_json("board").await["card"], 7);

    // An announcement made on node 3, heard on node 1.
    a.subscribe("/topic/announcements", "ann", "auto").await;
    let (status, body) = node[2]
        .post(
            "/api/announcements",
            SERVICE_TOKEN,
            json!({"title": "maintenance", "message": "tonight"}),
        )
        .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    assert_eq!(
        a.next_event("ann", "ANNOUNCEMENT").await["payload"]["title"],
        "maintenance"
    );

    // A notification raised on node 1 reaches bob over STOMP on node 2 and over SSE on node 3.
    b.subscribe("/user/queue/notifications", "notes", "auto")
        .await;
    let (_, sse) = Sse::open(
        &node[2],
        "/api/notifications/stream",
        Some(&bob.token),
        None,
    )
    .await;
    let mut sse = sse.expect("bob's stream on node 3");
    assert_eq!(sse.next().await.0, "connected");
    let (status, body) = node[0]
        .post(
            "/api/notifications",
            SERVICE_TOKEN,
            json!({"users": ["bob"], "title": "moved", "message": "your appointment moved"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let n = b.next_event("notes", "NOTIFICATION").await;
    assert_eq!(n["payload"]["title"], "moved");
    let (name, _, data) = sse.next().await;
    assert_eq!(name, "notification");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap()["payload"]["title"],
        "moved"
    );

    // An attachment uploaded in two PATCHes through HAProxy (one node takes every request
    // about one upload), sent, and downloaded from another node.
    let bytes = noise(300_000, 17);
    let meta = Meta {
        filename: Some("report.bin"),
        conversation: Some(&cid),
        ..Default::default()
    };
    let up = lb.tus_create(&alice, bytes.len() as u64, &meta).await;
    assert_eq!(up.status, 201, "{up:?}");
    let id = up.body["id"].as_str().unwrap().to_owned();
    let half = lb
        .tus_patch(&alice, &id, 0, bytes[..150_000].to_vec())
        .await;
    assert_eq!((half.status, half.offset), (204, Some(150_000)), "{half:?}");
    assert_eq!(lb.tus_head(&alice, &id).await.offset, Some(150_000));
    let done = lb
        .tus_patch(&alice, &id, 150_000, bytes[150_000..].to_vec())
        .await;
    assert_eq!(done.status, 204, "{done:?}");
    let (status, sent) = lb
        .post(
            &format!("/api/conversations/{cid}/messages"),
            &alice.token,
            json!({"clientId": "with-file", "content": "the report", "attachments": [id]}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    for (i, api) in node.iter().enumerate() {
        let got = api.download(&bob, &id).await;
        assert_eq!(got.status, 200, "node {}", i + 1);
        assert!(got.bytes == bytes, "node {} serves the same bytes", i + 1);
    }

    // Every node reads one history, seq contiguous.
    let first = node[0].all_messages(&bob, &cid).await;
    assert_eq!(
        first
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    for api in &node[1..] {
        assert_eq!(api.all_messages(&dave, &cid).await, first);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_takes_its_presence_along_and_comes_back() {
    let store = Postgres::shared().create_database();
    let mut cluster = Cluster::start(3, &store).await;
    let node: Vec<Api> = (0..3).map(|i| Api::new(&cluster.node_http(i))).collect();
    let alice = node[0].register("alice").await;
    let bob = node[0].register("bob").await;
    let cid = node[0].group(&alice, &[&bob]).await;
    let mut a = on(&cluster.node_url(0), &alice).await;
    a.subscribe("/topic/presence", "p", "auto").await;
    a.subscribe("/user/queue/messages", "mine", "auto").await;
    let _b = on(&cluster.node_url(2), &bob).await;
    assert!(presence_of(&mut a, "bob").await);

    // Node 3 dies with bob's session: the others notice (bounded by the node timeout).
    cluster.kill(2);
    assert!(
        !presence_of(&mut a, "bob").await,
        "bob offline once node 3 is gone"
    );
    // Through HAProxy the cluster still serves: bob signs in and sends (his token is good
    // on every node).
    let lb = Api::new(&cluster.http());
    lb.send(&bob, &cid, "after-kill", "still here").await;
    assert_eq!(
        chat_message(&mut a, "mine", "after-kill").await["payload"]["content"],
        "still here"
    );
    // Node 3 comes back on its port; HAProxy takes it back; it serves the same history.
    cluster.restart(2);
    cluster.haproxy.wait_servers_up(3).await;
    let b = on(&cluster.node_url(2), &bob).await;
    assert!(presence_of(&mut a, "bob").await);
    let history = node[2].all_messages(&bob, &cid).await;
    assert_eq!(history.last().unwrap()["clientId"], "after-kill");
    drop(b);
}
