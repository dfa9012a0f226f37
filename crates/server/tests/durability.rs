//! `kill -9` in the middle of a send burst, then a restart on the same data directory:
//! every message that got a `RECEIPT` (STOMP) or a 201 (REST) is there, once, with
//! contiguous `seq`. The real binary, a real SQLite file, real sockets.
//!
//! The second test sends from many connections into one conversation at once, so the
//! store's writer commits several sends of that conversation in one transaction while
//! more are queued behind it: receipts must still come only for committed rows, and the
//! conversation's events must still leave in `seq` order.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tidings_stomp::{Command, Frame};
use tidings_testkit::*;
use tokio::sync::Notify;

const ARGS: &[&str] = &["--jwt-secret", SECRET, "--service-token", SERVICE_TOKEN];
/// Acknowledged sends before the kill.
const BEFORE_KILL: usize = 300;

/// The clientIds acknowledged so far, and a signal on each new one.
#[derive(Clone, Default)]
struct Acked {
    keys: Arc<Mutex<Vec<String>>>,
    changed: Arc<Notify>,
}

impl Acked {
    fn push(&self, key: String) {
        self.keys.lock().unwrap().push(key);
        self.changed.notify_waiters();
    }

    async fn reached(&self, n: usize) {
        loop {
            let changed = self.changed.notified();
            if self.keys.lock().unwrap().len() >= n {
                return;
            }
            changed.await;
        }
    }
}

/// Sends over STOMP until the connection dies, recording each clientId once its RECEIPT came.
async fn stomp_sender(url: String, token: String, cid: String, tag: usize, acked: Acked) {
    let mut c = Client::open(&url).await;
    if c.connect(&token, "0,0").await.command != Command::Connected {
        return;
    }
    for n in 0.. {
        let key = format!("stomp-{tag}-{n}");
        let frame = Frame::new(Command::Send)
            .with_header("destination", format!("/app/conversations/{cid}/send"))
            .with_header("receipt", &key)
            .with_body(json!({"clientId": key, "content": "x"}).to_string());
        let bytes = tidings_stomp::encode_to_bytes(&frame, c.version);
        if futures_util::SinkExt::send(
            &mut c.ws,
            tokio_tungstenite::tungstenite::Message::text(
                String::from_utf8(bytes.to_vec()).unwrap(),
            ),
        )
        .await
        .is_err()
        {
            return;
        }
        loop {
            match c.try_read_frame().await {
                Some(f)
                    if f.command == Command::Receipt
                        && f.header("receipt-id") == Some(key.as_str()) =>
                {
                    break
                }
                Some(f) if f.command == Command::Error => return,
                Some(_) => {}
                None => return,
            }
        }
        acked.push(key);
    }
}

/// Records the `seq` of every `CHAT_MESSAGE` on the conversation's topic, in arrival
/// order, until the connection dies.
async fn topic_listener(mut c: Client, seqs: Arc<Mutex<Vec<(i64, String)>>>) {
    while let Some(f) = c.try_read_frame().await {
        if f.command != Command::Message {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&f.body).unwrap();
        if v["type"] == "CHAT_MESSAGE" {
            let m = &v["payload"];
            seqs.lock().unwrap().push((
                m["seq"].as_i64().unwrap(),
                m["clientId"].as_str().unwrap().to_owned(),
            ));
        }
    }
}

/// Every message of `cid` after a restart, by `seq` (asserted contiguous): their clientIds.
async fn stored_client_ids(api: &Api, token: &str, cid: &str) -> Vec<String> {
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let (status, page) = api
            .get(
                &format!("/api/conversations/{cid}/messages?after={after}&limit=500"),
                token,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        for m in page["messages"].as_array().unwrap() {
            assert_eq!(m["seq"].as_i64().unwrap(), after + 1, "seq is contiguous");
            after += 1;
            stored.push(m["clientId"].as_str().unwrap_or_default().to_owned());
        }
        if !page["hasMore"].as_bool().unwrap() {
            break;
        }
    }
    stored
}

/// Sends over REST until the server is gone, recording each clientId answered with 201.
async fn rest_sender(api: Api, token: String, cid: String, tag: usize, acked: Acked) {
    for n in 0.. {
        let key = format!("rest-{tag}-{n}");
        let resp = api
            .http
            .post(format!("{}/api/conversations/{cid}/messages", api.base))
            .bearer_auth(&token)
            .json(&json!({"clientId": key, "content": "x"}))
            .send()
            .await;
        match resp {
            Ok(r) if r.status().as_u16() == 201 => acked.push(key),
            _ => return,
        }
    }
}

/// The server on `dir` (started again on the same data by a second call), for a burst:
/// several senders share a few users' send budgets, so the per-user limit is raised.
fn start_for_burst(dir: &TempDir) -> BinServer {
    let cfg = dir.0.join("server.toml");
    std::fs::write(&cfg, "[limits]\nsends_per_minute = 100000\n").unwrap();
    let mut args = ARGS.to_vec();
    args.extend(["--config", cfg.to_str().unwrap()]);
    BinServer::start_args(&dir.0, &args, &[])
}

/// Waits (bounded) until [`BEFORE_KILL`] sends were acknowledged, kills the server with
/// SIGKILL in the middle of the burst, lets the senders end, and gives what was acknowledged.
async fn kill_mid_burst(
    srv: &mut BinServer,
    acked: &Acked,
    senders: Vec<tokio::task::JoinHandle<()>>,
) -> BTreeSet<String> {
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        acked.reached(BEFORE_KILL),
    )
    .await
    .expect("the burst stalled");
    srv.child.kill().unwrap();
    srv.child.wait().unwrap();
    for t in senders {
        let _ = t.await;
    }
    let acked: BTreeSet<String> = acked.keys.lock().unwrap().iter().cloned().collect();
    assert!(acked.len() >= BEFORE_KILL);
    acked
}

/// Starts the server again on `dir` and checks what it kept of the burst: nothing stored
/// twice, nothing acknowledged lost. Gives the server and the stored client ids in order.
async fn restart_and_check(
    dir: &TempDir,
    reader: &TestUser,
    cid: &str,
    acked: &BTreeSet<String>,
) -> (BinServer, Vec<String>) {
    let srv = start_for_burst(dir);
    let stored = stored_client_ids(&srv.api(), &reader.token, cid).await;
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored_set.len(), stored.len(), "nothing stored twice");
    let lost: Vec<&String> = acked.difference(&stored_set).collect();
    assert!(
        lost.is_empty(),
        "acknowledged but lost after kill -9: {lost:?}"
    );
    (srv, stored)
}

#[tokio::test]
async fn acknowledged_messages_survive_kill_9() {
    let dir = TempDir::new("kill9");
    let mut srv = start_for_burst(&dir);
    let api = srv.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    let url = format!("ws://{}/ws", srv.addr);
    let acked = Acked::default();
    let mut tasks = Vec::new();
    for (tag, who) in [&alice, &bob, &alice, &bob].into_iter().enumerate() {
        tasks.push(tokio::spawn(stomp_sender(
            url.clone(),
            who.token.clone(),
            cid.clone(),
            tag,
            acked.clone(),
        )));
    }
    for (tag, who) in [&alice, &bob].into_iter().enumerate() {
        tasks.push(tokio::spawn(rest_sender(
            api.clone(),
            who.token.clone(),
            cid.clone(),
            tag,
            acked.clone(),
        )));
    }
    // Once enough sends were acknowledged (bounded wait), kill -9 in the middle of the burst.
    let acked = kill_mid_burst(&mut srv, &acked, tasks).await;
    assert!(
        acked.iter().any(|k| k.starts_with("rest-"))
            && acked.iter().any(|k| k.starts_with("stomp-"))
    );

    let (_srv, stored) = restart_and_check(&dir, &alice, &cid, &acked).await;
    println!(
        "acknowledged {} before kill -9; {} stored after restart",
        acked.len(),
        stored.len()
    );
}

/// Connections sending into one conversation at once.
const SENDERS: usize = 24;

#[tokio::test]
async fn concurrent_sends_in_one_conversation_are_receipted_only_once_committed() {
    let dir = TempDir::new("kill9-group-commit");
    let mut srv = start_for_burst(&dir);
    let api = srv.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let dave = api.register("dave").await;
    let cid = api.group(&alice, &[&bob, &carol, &dave]).await;
    let url = format!("ws://{}/ws", srv.addr);

    // Dave only listens: what the topic carries, in the order it arrives.
    let mut listener = Client::open(&url).await;
    assert_eq!(
        listener.connect(&dave.token, "0,0").await.command,
        Command::Connected
    );
    listener
        .subscribe(&format!("/topic/conversations/{cid}"), "t", "auto")
        .await;
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let listening = tokio::spawn(topic_listener(listener, delivered.clone()));

    let acked = Acked::default();
    let senders = [&alice, &bob, &carol];
    let tasks: Vec<_> = (0..SENDERS)
        .map(|tag| {
            tokio::spawn(stomp_sender(
                url.clone(),
                senders[tag % senders.len()].token.clone(),
                cid.clone(),
                tag,
                acked.clone(),
            ))
        })
        .collect();
    // Kill as soon as enough receipts came, with every connection's next send in flight.
    let acked = kill_mid_burst(&mut srv, &acked, tasks).await;
    let _ = listening.await;

    let (_srv, stored) = restart_and_check(&dir, &alice, &cid, &acked).await;

    // Published only once committed, and in seq order with none skipped: the n-th event
    // on the topic is the stored message at the same position.
    let delivered = delivered.lock().unwrap().clone();
    assert!(!delivered.is_empty(), "the listener heard nothing");
    let first = delivered[0].0;
    for (i, (seq, client_id)) in delivered.iter().enumerate() {
        assert_eq!(
            *seq,
            first + i as i64,
            "the topic skipped or reordered a seq"
        );
        let stored_at = usize::try_from(seq - 1).unwrap();
        assert_eq!(
            stored.get(stored_at),
            Some(client_id),
            "delivered seq {seq} is not the stored message at that seq"
        );
    }
    println!(
        "{} receipted from {SENDERS} connections before kill -9; {} stored; {} delivered in order",
        acked.len(),
        stored.len(),
        delivered.len()
    );
}
