//! The PostgreSQL store with several nodes on one database (three `PostgresStore`s, each its
//! own pool): many writers appending to the same conversations and notifying the same
//! users while readers page by cursor, the same `(sender, clientId)` raced from two nodes,
//! and a node whose database goes away and comes back (REST, STOMP, `/healthz`, `/metrics`).
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tidings_proto::{ContentType, ConversationKind, Timestamp};
use tidings_server::store::postgres::PostgresStore;
use tidings_server::store::*;
use tidings_testkit::{postgres_store_at, Client, Postgres, Server, WAIT};

const NODES: usize = 3;
const WRITERS_PER_NODE: usize = 3;
const APPENDS_PER_WRITER: usize = 20;
const USERS: [&str; 4] = ["ann", "ben", "cat", "dan"];

fn msg(cid: &str, sender: &str, client_id: &str) -> NewMessage {
    NewMessage {
        id: new_id("m"),
        conversation_id: cid.into(),
        sender: sender.into(),
        client_id: client_id.into(),
        content: format!("content {client_id}"),
        content_type: ContentType::Text,
        created_at: Timestamp::now(),
    }
}

fn notification(users: &[&str], n: usize) -> NewNotification {
    NewNotification {
        users: users.iter().map(|u| (*u).to_owned()).collect(),
        kind: "test".into(),
        title: format!("n{n}"),
        message: "m".into(),
        data: None,
        conversation_id: None,
        url: None,
        created_at: Timestamp::now(),
    }
}

/// Three nodes on one fresh database, with the users and two group conversations.
async fn cluster() -> (Vec<Arc<PostgresStore>>, Vec<String>) {
    let url = Postgres::shared().create_database();
    let nodes: Vec<Arc<PostgresStore>> = (0..NODES)
        .map(|_| Arc::new(postgres_store_at(&url)))
        .collect();
    for u in USERS {
        nodes[0]
            .create_user(UserRecord {
                name: u.into(),
                display_name: u.to_uppercase(),
                password_hash: None,
                roles: vec![],
                created_at: Timestamp(1),
            })
            .await
            .unwrap();
    }
    let mut cids = Vec::new();
    for i in 0..2 {
        let (c, _) = nodes[i % NODES]
            .create_conversation(NewConversation {
                id: new_id("c"),
                kind: ConversationKind::Group,
                title: Some(format!("g{i}")),
                created_by: "ann".into(),
                participants: USERS.iter().map(|u| (*u).to_owned()).collect(),
                created_at: Timestamp::now(),
            })
            .await
            .unwrap();
        cids.push(c.id);
    }
    (nodes, cids)
}

/// Pages `After(cursor)` until `stop` is set and one more pass finds nothing new: every
/// page must start right after the cursor and be contiguous (a later seq visible before an
/// earlier one would be a skip). Answers the ids in seq order.
async fn read_messages(
    node: Arc<PostgresStore>,
    cid: String,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let done = stop.load(Ordering::SeqCst);
        let page = node.messages(&cid, Range::After(cursor, 7)).await.unwrap();
        for m in &page.items {
            assert_eq!(
                m.seq,
                cursor + 1,
                "a page skipped from {cursor} to {}",
                m.seq
            );
            cursor = m.seq;
            seen.push(m.id.clone());
        }
        if page.items.is_empty() {
            if done {
                return seen;
            }
            tokio::task::yield_now().await;
        }
    }
}

/// Reads the change log after a rev, the same way (only appends happen: one rev each).
async fn read_changes(node: Arc<PostgresStore>, cid: String, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut seen = Vec::new();
    let mut rev = 0;
    loop {
        let done = stop.load(Ordering::SeqCst);
        let set = node.changes(&cid, rev, 5).await.unwrap();
        for m in &set.items {
            assert_eq!(
                m.rev,
                rev + 1,
                "the change log skipped from {rev} to {}",
                m.rev
            );
            rev = m.rev;
            seen.push(m.id.clone());
        }
        assert!(set.rev >= rev);
        if set.items.is_empty() {
            if done {
                return seen;
            }
            tokio::task::yield_now().await;
        }
    }
}

/// Reads a user's notifications after a seq, the same way.
async fn read_notifications(
    node: Arc<PostgresStore>,
    user: &str,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let done = stop.load(Ordering::SeqCst);
        let (page, _) = node
            .notifications(user, Range::After(cursor, 6), false)
            .await
            .unwrap();
        for n in &page.items {
            assert_eq!(
                n.seq,
                cursor + 1,
                "notifications skipped from {cursor} to {}",
                n.seq
            );
            cursor = n.seq;
            seen.push(n.id.clone());
        }
        if page.items.is_empty() {
            if done {
                return seen;
            }
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_writing_at_once_keep_seqs_contiguous_and_readers_miss_nothing() {
    let (nodes, cids) = cluster().await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for (i, cid) in cids.iter().enumerate() {
        readers.push(tokio::spawn(read_messages(
            nodes[i % NODES].clone(),
            cid.clone(),
            stop.clone(),
        )));
        readers.push(tokio::spawn(read_changes(
            nodes[(i + 1) % NODES].clone(),
            cid.clone(),
            stop.clone(),
        )));
    }
    let note_readers: Vec<_> = ["ann", "ben"]
        .into_iter()
        .map(|u| tokio::spawn(read_notifications(nodes[2].clone(), u, stop.clone())))
        .collect();

    // Writers on every node: messages to both conversations, notifications to overlapping
    // users in opposite orders (a deadlock would surface here as an error).
    let mut writers = Vec::new();
    for n in 0..NODES {
        for w in 0..WRITERS_PER_NODE {
            let node = nodes[n].clone();
            let cids = cids.clone();
            writers.push(tokio::spawn(async move {
                let mut stored = Vec::new();
                for k in 0..APPENDS_PER_WRITER {
                    let cid = &cids[k % 2];
                    let sender = USERS[(n + w + k) % USERS.len()];
                    let a = node
                        .append_message(msg(cid, sender, &format!("n{n}-w{w}-{k}")))
                        .await
                        .unwrap();
                    assert!(!a.duplicate);
                    stored.push((cid.clone(), a.message.id));
                    let users: &[&str] = if k % 2 == 0 {
                        &["ann", "ben"]
                    } else {
                        &["ben", "ann"]
                    };
                    node.create_notifications(notification(users, k))
                        .await
                        .unwrap();
                }
                stored
            }));
        }
    }
    // The same (sender, clientId) raced from two nodes at once: one message each.
    let mut races = Vec::new();
    for r in 0..15 {
        let (a, b) = (nodes[r % NODES].clone(), nodes[(r + 1) % NODES].clone());
        let cid = cids[r % 2].clone();
        races.push(tokio::spawn(async move {
            let key = format!("race-{r}");
            let (x, y) = tokio::join!(
                a.append_message(msg(&cid, "cat", &key)),
                b.append_message(msg(&cid, "cat", &key))
            );
            let (x, y) = (x.unwrap(), y.unwrap());
            assert_eq!(x.message.id, y.message.id, "one message for {key}");
            assert_eq!(x.message.seq, y.message.seq);
            assert!(x.duplicate != y.duplicate, "exactly one stored it: {key}");
            (cid, x.message.id)
        }));
    }

    let mut expected: HashMap<String, HashSet<String>> = HashMap::new();
    for w in writers {
        for (cid, id) in w.await.unwrap() {
            expected.entry(cid).or_default().insert(id);
        }
    }
    for r in races {
        let (cid, id) = r.await.unwrap();
        assert!(expected.entry(cid).or_default().insert(id));
    }
    stop.store(true, Ordering::SeqCst);

    let total = NODES * WRITERS_PER_NODE * APPENDS_PER_WRITER + 15;
    assert_eq!(expected.values().map(HashSet::len).sum::<usize>(), total);
    let mut results = Vec::new();
    for r in readers {
        results.push(r.await.unwrap());
    }
    for (i, cid) in cids.iter().enumerate() {
        let want = &expected[cid];
        for seen in &results[2 * i..2 * i + 2] {
            let set: HashSet<&String> = seen.iter().collect();
            assert_eq!(set.len(), seen.len(), "a reader saw an entry twice");
            assert_eq!(seen.len(), want.len(), "a reader saw every entry of {cid}");
            assert!(seen.iter().all(|id| want.contains(id)));
        }
        // And the whole history, from any node: 1..=n without a gap.
        let page = nodes[2].messages(cid, Range::After(0, 500)).await.unwrap();
        let seqs: Vec<i64> = page.items.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=want.len() as i64).collect::<Vec<_>>());
        assert_eq!(page.last_seq, want.len() as i64);
        let conv = nodes[1].conversation(cid).await.unwrap().unwrap();
        assert_eq!(conv.rev, want.len() as i64, "one rev per entry");
    }
    let per_user = NODES * WRITERS_PER_NODE * APPENDS_PER_WRITER;
    for r in note_readers {
        let seen = r.await.unwrap();
        let set: HashSet<&String> = seen.iter().collect();
        assert_eq!((seen.len(), set.len()), (per_user, per_user));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_conversation_created_on_two_nodes_at_once_exists_once() {
    let (nodes, _) = cluster().await;
    for round in 0..5 {
        let new = || NewConversation {
            id: new_id("c"),
            kind: ConversationKind::Direct,
            title: None,
            created_by: "ann".into(),
            participants: vec!["ann".into(), USERS[1 + round % 3].into()],
            created_at: Timestamp::now(),
        };
        let (x, y) = tokio::join!(
            nodes[0].create_conversation(new()),
            nodes[1].create_conversation(new())
        );
        let ((x, x_new), (y, y_new)) = (x.unwrap(), y.unwrap());
        if round < 3 {
            assert_eq!(x.id, y.id);
            assert!(x_new != y_new, "exactly one created it");
        }
    }
}

/// A node whose PostgreSQL stops answers writes with `store_unavailable` (REST 503, a
/// STOMP error), says so in `/healthz` and `/metrics`, and works again by itself once the
/// database is back; nothing refused was stored.
#[tokio::test]
async fn a_node_that_loses_postgres_refuses_writes_and_recovers_by_itself() {
    let pg = Postgres::start();
    let url = pg.create_database();
    let server = Server::chat_with(|c| {
        c.storage.store = Some(url.clone());
        c.storage.pool_timeout_ms = Some(1_000);
        c.metrics_public = true;
    })
    .await;
    let api = server.api();
    let (alice, _bob, cid) = api.alice_and_bob().await;
    let (status, _) = api.post_message(&alice, &cid, "before", "before").await;
    assert_eq!(status, 201);
    let (_, health) = server.get("/healthz").await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["store"]["kind"], "postgres");
    assert_eq!(health["store"]["ok"], true);

    // A session connected before the outage stays connected through it.
    let mut client = Client::signed_in(&server, &alice).await;
    client
        .subscribe("/user/queue/errors", "errors", "auto")
        .await;

    pg.stop();
    let (status, body) = api.post_message(&alice, &cid, "during", "during").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "store_unavailable", "{body}");
    let (_, health) = server.get("/healthz").await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["store"]["ok"], false, "{health}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("tidings_store_errors_total{kind=\"unavailable\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("tidings_store_query_seconds_bucket"));

    // Over STOMP: the refusal goes to the sender's error queue with its code.
    let error = client
        .send_refused(
            &format!("/app/conversations/{cid}/send"),
            serde_json::json!({"clientId": "stomp-during", "content": "x"}).to_string(),
        )
        .await;
    assert!(error.to_string().contains("store_unavailable"), "{error}");
    // A new session cannot sign in meanwhile (its account cannot be read): an ERROR that
    // says why.
    let mut late = Client::open(&server.url()).await;
    let refused = late.connect(&alice.token, "0,0").await;
    assert!(
        refused.command == tidings_stomp::Command::Error
            && refused
                .header("message")
                .unwrap_or("")
                .contains("database is unreachable"),
        "{refused:?}"
    );

    pg.start_again();
    // The pool reconnects by itself: the next writes succeed (bounded wait).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = api.post_message(&alice, &cid, "after", "after").await;
        if status == 201 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let contents: Vec<String> = api
        .all_messages(&alice, &cid)
        .await
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(contents, ["before", "after"], "nothing refused was stored");
}
