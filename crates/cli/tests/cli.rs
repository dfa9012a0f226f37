//! The `tidings` binary end to end against a real server on 127.0.0.1: each command's
//! output, and each failure with its sentence and exit code. Every run has its own home
//! directory and keeps the session in a file (`TIDINGS_CREDENTIALS=file`), so no test
//! touches the developer's keyring.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::time::Duration;
use tidings_testkit::*;
use tokio::io::{AsyncBufReadExt, BufReader};

mod common;
use common::{setup, Home};

#[tokio::test]
async fn login_reports_where_the_session_went_and_each_failure_has_its_code() {
    let (_d, server, _api, _alice, _bob, _cid) = setup().await;
    let home = Home::new();
    let r = home
        .run_with_input(
            &[
                "login",
                "--server",
                &server.http(),
                "--username",
                "alice",
                "--password-stdin",
            ],
            "alice-password\n",
        )
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("Signed in to") && r.stdout.contains("as alice"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("credentials.json (readable only by you"),
        "says where: {}",
        r.stdout
    );
    let r = home
        .run_with_input(
            &[
                "login",
                "--server",
                &server.http(),
                "--username",
                "alice",
                "--password-stdin",
            ],
            "wrong\n",
        )
        .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("wrong username or password"),
        "{}",
        r.stderr
    );
    let r = home
        .run(&["login", "--username", "alice", "--password-stdin"])
        .await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--server"), "{}", r.stderr);
    let r = home
        .run_with_input(
            &[
                "login",
                "--server",
                "http://127.0.0.1:9",
                "--username",
                "alice",
                "--password-stdin",
            ],
            "x\n",
        )
        .await;
    assert_eq!(r.code, 4, "unreachable: {}", r.stderr);
    assert!(r.stderr.contains("cannot reach the server"), "{}", r.stderr);
    // No session at all.
    let r = Home::new().run(&["conversations"]).await;
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("not signed in"), "{}", r.stderr);
    // Signing out revokes the session on the server.
    let r = home.run(&["logout"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("revoked on the server"), "{}", r.stdout);
    assert_eq!(home.run(&["sync"]).await.code, 3);
    server.stop().await;
}

#[tokio::test]
async fn conversations_history_send_search_and_notifications() {
    let (_d, server, api, alice, bob, cid) = setup().await;
    api.send(&bob, &cid, "b1", "Quarterly numbers are in").await;
    let home = Home::new();
    home.login(&server.http(), "alice").await;
    let r = home.run(&["conversations"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&cid)
            && r.stdout.contains("(1 unread)")
            && r.stdout.contains("Quarterly"),
        "{}",
        r.stdout
    );
    let r = home.run(&["send", &cid, "Thanks", "Bob!"]).await;
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("sent"), "{}", r.stdout);
    let stored = api.all_messages(&bob, &cid).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1]["content"], "Thanks Bob!");
    let r = home.run(&["history", &cid]).await;
    assert!(
        r.stdout.contains("#1")
            && r.stdout.contains("bob: Quarterly")
            && r.stdout.contains("alice: Thanks Bob!"),
        "{}",
        r.stdout
    );
    let r = home.run(&["--json", "history", &cid, "--limit", "1"]).await;
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["messages"].as_array().unwrap().len(), 1);
    assert_eq!(v["messages"][0]["seq"], 2);
    let r = home.run(&["search", "quarterly"]).await;
    assert!(r.stdout.contains("[Quarterly]"), "{}", r.stdout);
    assert_eq!(
        home.run(&["search", "nothing-like-this"])
            .await
            .stdout
            .trim(),
        "no match"
    );
    api.call("POST", "/api/notifications", Some(SERVICE_TOKEN), Some(serde_json::json!({"users": ["alice"], "title": "Appointment moved", "message": "Thursday"}))).await;
    let r = home.run(&["notifications"]).await;
    assert!(
        r.stdout.contains("Appointment moved: Thursday"),
        "{}",
        r.stdout
    );
    let r = home.run(&["read", &cid]).await;
    assert_eq!(r.code, 0);
    assert!(api.conversations(&alice).await[0]["unreadCount"] == 0);
    // Refusals: a blank message, an unknown conversation.
    let r = home.run(&["send", &cid, "   "]).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    let r = home.run(&["send", "c_does_not_exist", "hello"]).await;
    assert_eq!(r.code, 5, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no conversation"), "{}", r.stderr);
    let r = home.run(&["history", "c_does_not_exist"]).await;
    assert_eq!(r.code, 5);
    server.stop().await;
}

#[tokio::test]
async fn send_while_offline_queues_and_says_so_then_sync_sends_it_once() {
    let (dir, server, api, _alice, bob, cid) = setup().await;
    let addr = server.addr;
    let home = Home::new();
    home.login(&server.http(), "alice").await;
    assert_eq!(home.run(&["sync"]).await.code, 0);
    server.stop().await;
    let r = home
        .run(&["--timeout", "5", "send", &cid, "written", "offline"])
        .await;
    assert_eq!(r.code, 75, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("queued in the outbox"), "{}", r.stdout);
    let r = home.run(&["--timeout", "5", "sync"]).await;
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("1 message(s) wait in the outbox"),
        "{}",
        r.stderr
    );
    // Offline, the cache still answers.
    let r = home.run(&["--timeout", "5", "history", &cid]).await;
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("(pending)") && r.stdout.contains("written offline"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("offline"), "{}", r.stderr);
    let server = Server::start(dir.path(), Some(addr), |_| {}).await;
    let r = home.run(&["sync"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("outbox empty"), "{}", r.stdout);
    let stored = api.all_messages(&bob, &cid).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["content"], "written offline");
    // Again: nothing more is sent.
    assert_eq!(home.run(&["sync"]).await.code, 0);
    assert_eq!(api.all_messages(&bob, &cid).await.len(), 1);
    server.stop().await;
}

type Out = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;
type Err = tokio::io::Lines<BufReader<tokio::process::ChildStderr>>;

/// The next stderr line of `tail` that contains `want` (bounded wait).
async fn next_state(errs: &mut Err, want: &str) -> Result<String, tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let l = errs.next_line().await.unwrap().expect("tail ended");
            if l.contains(want) {
                return l;
            }
        }
    })
    .await
}

/// The next CHAT_MESSAGE with `text` that `tail --json` prints (bounded wait).
async fn wait_message(lines: &mut Out, text: &str) -> Result<Value, tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let l = lines.next_line().await.unwrap().expect("tail ended");
            let v: Value = serde_json::from_str(&l).unwrap_or_else(|_| panic!("not JSON: {l}"));
            if v["type"] == "CHAT_MESSAGE" && v["payload"]["content"] == text {
                return v;
            }
        }
    })
    .await
}

#[tokio::test]
async fn tail_prints_live_events_as_json_lines_through_a_server_restart() {
    let (dir, server, api, _alice, bob, cid) = setup().await;
    let addr = server.addr;
    let home = Home::new();
    home.login(&server.http(), "alice").await;
    let mut child = home.command(&["--json", "tail"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut errs = BufReader::new(child.stderr.take().unwrap()).lines();
    next_state(&mut errs, "\"live\"")
        .await
        .expect("tail went live");
    api.send(&bob, &cid, "t1", "first live").await;
    let v = wait_message(&mut lines, "first live")
        .await
        .expect("the first message");
    assert_eq!(v["payload"]["senderId"], "bob");
    server.stop().await;
    next_state(&mut errs, "reconnecting")
        .await
        .expect("tail noticed the server going away");
    let server = Server::start(dir.path(), Some(addr), |_| {}).await;
    next_state(&mut errs, "\"live\"")
        .await
        .expect("tail came back by itself");
    api.send(&bob, &cid, "t2", "after the restart").await;
    wait_message(&mut lines, "after the restart")
        .await
        .expect("a message after the restart");
    // SIGTERM ends it cleanly.
    #[cfg(unix)]
    {
        let pid = child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(0));
    }
    server.stop().await;
}

/// `tail --json`'s chat messages, read from its stdout on a task of their own (so that the
/// pipe never fills while the test is busy elsewhere).
struct Printed {
    rx: tokio::sync::mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
}

impl Printed {
    fn follow(lines: Out) -> Printed {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = lines;
            while let Ok(Some(l)) = lines.next_line().await {
                let v: Value = serde_json::from_str(&l).unwrap_or_else(|_| panic!("not JSON: {l}"));
                if v["type"] == "CHAT_MESSAGE" && tx.send(v).is_err() {
                    return;
                }
            }
        });
        Printed {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) until `n` chat messages were printed, or the output ended.
    async fn until(&mut self, n: usize, deadline: Duration) {
        let got = tokio::time::timeout(deadline, async {
            while self.seen.len() < n {
                match self.rx.recv().await {
                    Some(v) => self.seen.push(v),
                    None => return,
                }
            }
        })
        .await;
        assert!(
            got.is_ok(),
            "tail printed {} of {n} messages within {deadline:?}",
            self.seen.len()
        );
    }

    /// Everything printed until the output ends (the process exited).
    async fn rest(&mut self) {
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(v) = self.rx.recv().await {
                self.seen.push(v);
            }
        })
        .await
        .expect("tail's output ended");
    }
}

/// Messages that reach the cache over REST after a reconnect (sent while `tail` was
/// reconnecting, or after the server was back and before it was) are printed too: every
/// message once, in `seq` order per conversation, through two `kill -9`s of the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_every_message_once_in_order_through_server_kills() {
    let dir = TempDir::new("cli-kill");
    let mut server = BinServer::start(dir.path(), None);
    let addr = server.addr;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let group = api.group(&alice, &[&bob]).await;
    let (status, direct) = api
        .call(
            "POST",
            "/api/conversations",
            Some(&alice.token),
            Some(serde_json::json!({"kind": "direct", "participants": ["bob"]})),
        )
        .await;
    assert_eq!(status, 201, "{direct}");
    let cids = [group, direct["id"].as_str().unwrap().to_owned()];
    let home = Home::new();
    home.login(&server.http(), "bob").await;
    let mut child = home.command(&["--json", "tail"]).spawn().unwrap();
    let mut printed = Printed::follow(BufReader::new(child.stdout.take().unwrap()).lines());
    let mut errs = BufReader::new(child.stderr.take().unwrap()).lines();
    next_state(&mut errs, "\"live\"")
        .await
        .expect("tail went live");

    const TOTAL: usize = 150;
    let mut sent: Vec<(String, String)> = Vec::new();
    for i in 0..TOTAL {
        if i == 50 || i == 100 {
            server.kill();
            next_state(&mut errs, "reconnecting")
                .await
                .expect("tail noticed the server going away");
            // Back on the same port and data at once: what follows is sent while tail is
            // still waiting to reconnect, and reaches it only through its catch-up.
            server = BinServer::start(dir.path(), Some(addr));
        }
        let cid = &cids[i % 2];
        let text = format!("message {i}");
        api.send(&alice, cid, &format!("kill-{i}"), &text).await;
        sent.push((cid.clone(), text));
    }
    printed.until(TOTAL, Duration::from_secs(120)).await;
    // One more per conversation, live, then the end: anything printed twice or late would
    // be in what was printed until tail exited.
    for cid in &cids {
        let text = format!("last of {cid}");
        api.send(&alice, cid, &format!("last-{cid}"), &text).await;
        sent.push((cid.clone(), text));
    }
    printed.until(sent.len(), Duration::from_secs(60)).await;
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    printed.rest().await;
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("tail stopped on SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));

    for cid in &cids {
        let want: Vec<(i64, &str)> = sent
            .iter()
            .filter(|(c, _)| c == cid)
            .enumerate()
            .map(|(i, (_, text))| (i as i64 + 1, text.as_str()))
            .collect();
        let got: Vec<(i64, &str)> = printed
            .seen
            .iter()
            .filter(|v| v["payload"]["conversationId"] == cid.as_str())
            .map(|v| {
                (
                    v["payload"]["seq"].as_i64().unwrap(),
                    v["payload"]["content"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got, want,
            "conversation {cid}: every message once, in seq order"
        );
    }
    assert_eq!(printed.seen.len(), sent.len(), "nothing else was printed");
}

#[tokio::test]
async fn notify_needs_a_valid_service_token_and_known_users() {
    let (_d, server, api, alice, _bob, _cid) = setup().await;
    let home = Home::new();
    let http = server.http();
    let base = [
        "--server",
        http.as_str(),
        "notify",
        "--user",
        "alice",
        "--title",
        "Moved",
        "--message",
        "Thursday 10:30",
    ];
    let r = home.run(&base).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("service token"), "{}", r.stderr);
    let with = |token: &str| {
        let mut v: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        v.extend(["--service-token".into(), token.into()]);
        v
    };
    let args = with(SERVICE_TOKEN);
    let r = home
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("notified 1 user"), "{}", r.stdout);
    let (_, page) = api
        .call("GET", "/api/notifications", Some(&alice.token), None)
        .await;
    assert_eq!(
        page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["title"] == "Moved")
            .count(),
        1
    );
    let args = with("not-the-token-at-all");
    let r = home
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    let mut args = with(SERVICE_TOKEN);
    args[4] = "nobody".into();
    let r = home
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("unknown users: nobody"), "{}", r.stderr);
    let mut args = with(SERVICE_TOKEN);
    args.extend(["--data".into(), "{not json".into()]);
    let r = home
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_profile_is_refused_with_its_reason() {
    let home = Home::new();
    let p = home.0.path().join("p.toml");
    std::fs::write(
        &p,
        "name = \"x\"\nurl = \"http://nowhere/ws\"\n[[subscribe]]\ndestination = \"/topic/a\"\n",
    )
    .unwrap();
    let r = home.run(&["--profile", p.to_str().unwrap(), "tail"]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("ws://"), "{}", r.stderr);
    std::fs::write(&p, "name = \"x\"\nurl = \"ws://h/ws\"\nbogus = 1\n").unwrap();
    let r = home.run(&["--profile", p.to_str().unwrap(), "tail"]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid profile"), "{}", r.stderr);
}

/// A Spring-style backend through a profile: log in over REST, `Authorization: Bearer` on
/// CONNECT, `/user/queue/notifications`, fields picked with JSON pointers. The Tidings
/// server plays the Spring backend here (it speaks the same conventions).
#[tokio::test]
async fn a_profile_for_a_spring_style_backend_turns_its_pushes_into_notifications() {
    let (_d, server, api, _alice, _bob, _cid) = setup().await;
    let home = Home::new();
    let p = home.0.path().join("spring.toml");
    std::fs::write(
        &p,
        format!(
            r#"
name = "HealthMate"
url = "ws://{addr}/ws"
[auth]
type = "login"
url = "http://{addr}/api/auth/login"
username = "alice"
password_env = "HM_PASSWORD"
token_field = "/accessToken"
[[subscribe]]
destination = "/user/queue/notifications"
format = "json"
id = "/payload/id"
title = "/payload/title"
body = "/payload/message"
"#,
            addr = server.addr
        ),
    )
    .unwrap();
    let mut cmd = home.command(&["--profile", p.to_str().unwrap(), "--json", "tail"]);
    cmd.env("HM_PASSWORD", "alice-password");
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut errs = BufReader::new(child.stderr.take().unwrap()).lines();
    next_state(&mut errs, "\"live\"").await.expect("live");
    api.call(
        "POST",
        "/api/notifications",
        Some(SERVICE_TOKEN),
        Some(serde_json::json!({"users": ["alice"], "title": "Appointment moved", "message": "Now Thursday 10:30"})),
    )
    .await;
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let l = lines.next_line().await.unwrap().expect("tail ended");
            let v: Value = serde_json::from_str(&l).unwrap();
            if v["type"] == "NOTIFICATION" {
                return v;
            }
        }
    })
    .await
    .expect("the notification on tail");
    assert_eq!(seen["payload"]["title"], "Appointment moved");
    assert_eq!(seen["payload"]["message"], "Now Thursday 10:30");
    drop(child);
    let r = home
        .run(&["--profile", p.to_str().unwrap(), "--json", "notifications"])
        .await;
    let cached: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(cached[0]["title"], "Appointment moved");
    // A wrong password: a clear refusal, not a silent retry loop.
    let mut cmd = home.command(&["--profile", p.to_str().unwrap(), "--timeout", "5", "sync"]);
    cmd.env("HM_PASSWORD", "wrong");
    let out = cmd.output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop().await;
}

#[tokio::test]
async fn notifications_read_all_marks_them_read_for_every_device() {
    let (_d, server, api, alice, _bob, _cid) = setup().await;
    for i in 0..3 {
        let (status, _) = api
            .post(
                "/api/notifications",
                SERVICE_TOKEN,
                serde_json::json!({"users": ["alice"], "title": format!("Note {i}"), "message": "m"}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let home = Home::new();
    home.login(&server.http(), "alice").await;
    let r = home.run(&["notifications"]).await;
    assert_eq!(r.stdout.matches('•').count(), 3, "{}", r.stdout);
    let r = home.run(&["notifications", "--read-all"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.matches('•').count(), 0, "{}", r.stdout);
    assert_eq!(r.stdout.matches("Note").count(), 3, "{}", r.stdout);
    let (_, page) = api
        .call("GET", "/api/notifications", Some(&alice.token), None)
        .await;
    assert_eq!(page["unreadCount"], 0);
    // Another device of alice's: read there too.
    let other = Home::new();
    other.login(&server.http(), "alice").await;
    let r = other.run(&["notifications"]).await;
    assert_eq!(r.stdout.matches('•').count(), 0, "{}", r.stdout);
    server.stop().await;
}
