//! `tidings --profile FILE test` and the Socket.IO profile, end to end: the real `tidings`
//! binary against a real tidings-server (through its STOMP endpoint, as a profile) and a
//! real Node.js `socket.io` server (tests/sio-backend).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use tidings_testkit::{casting_profile, SioBackend};
use tokio::io::{AsyncBufReadExt, BufReader};

mod common;
use common::{setup, Home};

/// A STOMP profile for the test server, logging in as alice through `$HM_PASSWORD`.
fn stomp_profile(home: &Home, addr: &str, destinations: &[&str]) -> PathBuf {
    let p = home.0.path().join("stomp.toml");
    let mut text = format!(
        r#"
name = "HealthMate"
url = "ws://{addr}/ws"
[auth]
type = "login"
url = "http://{addr}/api/auth/login"
username = "alice"
password_env = "HM_PASSWORD"
token_field = "/accessToken"
"#
    );
    for d in destinations {
        text.push_str(&format!(
            "[[subscribe]]\ndestination = \"{d}\"\ntitle = \"/payload/title\"\n"
        ));
    }
    std::fs::write(&p, text).unwrap();
    p
}

async fn test_json(home: &Home, profile: &std::path::Path, password: &str) -> (i32, Value) {
    let mut cmd = home.command(&[
        "--profile",
        profile.to_str().unwrap(),
        "--json",
        "--timeout",
        "10",
        "test",
    ]);
    cmd.env("HM_PASSWORD", password);
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains(password) || password.is_empty(),
        "the password is never shown: {stdout}"
    );
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} step in {report}"))
}

#[tokio::test]
async fn test_says_what_worked_and_what_did_not_for_a_stomp_profile() {
    let (_d, server, _api, _alice, _bob, _cid) = setup().await;
    let home = Home::new();
    let addr = server.addr.to_string();
    let p = stomp_profile(&home, &addr, &["/user/queue/notifications"]);

    let (code, report) = test_json(&home, &p, "alice-password").await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true);
    let names: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["profile", "token", "connect", "subscribe"]);
    assert!(step(&report, "connect")["detail"]
        .as_str()
        .unwrap()
        .contains("CONNECTED"));

    // A wrong password: the token step says so, and nothing after it is tried.
    let (code, report) = test_json(&home, &p, "wrong-password").await;
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["ok"], false);
    let token = step(&report, "token");
    assert_eq!(token["ok"], false);
    assert!(
        token["detail"]
            .as_str()
            .unwrap()
            .contains("wrong username or password"),
        "{token}"
    );
    assert_eq!(report["steps"].as_array().unwrap().len(), 2, "{report}");

    // Nothing listening: the connect step names the refusal.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = home.0.path().join("nowhere.toml");
    std::fs::write(
        &nowhere,
        format!(
            "name = \"x\"\nurl = \"ws://127.0.0.1:{closed}/ws\"\n[[subscribe]]\ndestination = \"/topic/a\"\n"
        ),
    )
    .unwrap();
    let (code, report) = test_json(&home, &nowhere, "").await;
    assert_eq!(code, 1, "{report}");
    let connect = step(&report, "connect");
    assert_eq!(connect["ok"], false);
    assert!(
        connect["detail"].as_str().unwrap().contains("refused"),
        "{connect}"
    );

    // A destination the server refuses: that subscribe step fails with the server's words.
    let refused = stomp_profile(&home, &addr, &["/user/queue/notifications", "/elsewhere"]);
    let (code, report) = test_json(&home, &refused, "alice-password").await;
    assert_eq!(code, 1, "{report}");
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5, "{report}");
    assert_eq!(steps[3]["ok"], true, "{report}");
    assert_eq!(steps[4]["ok"], false, "{report}");
    assert!(
        steps[4]["detail"]
            .as_str()
            .unwrap()
            .starts_with("the server refused /elsewhere: "),
        "{report}"
    );
    let p = stomp_profile(&home, &addr, &["/user/queue/notifications"]);

    // The text form, for people: one line per step and a verdict.
    let mut cmd = home.command(&["--profile", p.to_str().unwrap(), "test"]);
    cmd.env("HM_PASSWORD", "wrong-password");
    let out = cmd.output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED token"), "{text}");
    assert!(text.contains("does not work"), "{text}");
    server.stop().await;
}

/// The casting-platform profile for alice (testkit's; password from `$HM_PASSWORD`).
fn sio_profile(home: &Home, backend: &SioBackend) -> PathBuf {
    let p = home.0.path().join("casting.toml");
    let text = casting_profile(
        &backend.url(""),
        "handshake",
        "password_env = \"HM_PASSWORD\"",
    );
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test]
async fn test_says_what_worked_and_what_did_not_for_a_socketio_profile() {
    let backend = SioBackend::start().await;
    let home = Home::new();
    let p = sio_profile(&home, &backend);
    let (code, report) = test_json(&home, &p, "alice-password").await;
    assert_eq!(code, 0, "{report}");
    let names: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "profile",
            "token",
            "connect",
            "emit",
            "subscribe",
            "subscribe"
        ]
    );
    assert!(step(&report, "connect")["detail"]
        .as_str()
        .unwrap()
        .contains("Socket.IO connected"));
    // The emit really reached the server.
    let got = backend.received().await;
    assert!(
        got.iter().any(|e| e["event"] == "join-conversation"),
        "{got:?}"
    );

    let (code, report) = test_json(&home, &p, "wrong-password").await;
    assert_eq!(code, 1, "{report}");
    assert!(step(&report, "token")["detail"]
        .as_str()
        .unwrap()
        .contains("wrong username or password"));

    // A token the server refuses: the connect step carries the server's own words.
    let bad = home.0.path().join("bad-token.toml");
    std::fs::write(
        &bad,
        format!(
            "name = \"x\"\nkind = \"socketio\"\nurl = \"{}\"\n[auth]\ntype = \"token\"\ntoken = \"stale-token-123\"\nheader = \"handshake\"\n[[subscribe]]\nevent = \"notification:new\"\n",
            backend.url("")
        ),
    )
    .unwrap();
    let (code, report) = test_json(&home, &bad, "").await;
    assert_eq!(code, 1, "{report}");
    let connect = step(&report, "connect");
    assert_eq!(connect["ok"], false);
    let detail = connect["detail"].as_str().unwrap();
    assert!(
        detail.contains("refused the connection: Invalid authentication token"),
        "{detail}"
    );
    assert!(!detail.contains("stale-token-123"), "{detail}");

    // A server that takes the TCP connection and never answers: the connect step ends at
    // the timeout and says so.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mute = home.0.path().join("mute.toml");
    std::fs::write(
        &mute,
        format!(
            "name = \"x\"\nkind = \"socketio\"\nurl = \"http://{}\"\n[[subscribe]]\nevent = \"notification:new\"\n",
            silent.local_addr().unwrap()
        ),
    )
    .unwrap();
    let out = home
        .command(&[
            "--profile",
            mute.to_str().unwrap(),
            "--timeout",
            "2",
            "test",
        ])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED connect"), "{text}");
    assert!(text.contains("within 2s"), "{text}");
    drop(silent);
}

/// The next line of `tail --json` whose payload has this message (bounded wait).
async fn next_notification(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    message: &str,
) -> Value {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let l = lines.next_line().await.unwrap().expect("tail ended");
            let v: Value = serde_json::from_str(&l).unwrap_or_else(|_| panic!("not JSON: {l}"));
            if v["type"] == "NOTIFICATION" && v["payload"]["message"] == message {
                return v;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no notification {message:?} on tail"))
}

#[tokio::test]
async fn tail_receives_socketio_notifications_and_messages_through_a_restart() {
    let mut backend = SioBackend::start().await;
    let home = Home::new();
    let p = sio_profile(&home, &backend);
    let mut cmd = home.command(&["--profile", p.to_str().unwrap(), "--json", "tail"]);
    cmd.env("HM_PASSWORD", "alice-password");
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    backend.wait_connected("alice").await;
    wait_joined(&backend).await;
    backend.notify("alice", "Callback", "Tuesday 10:00").await;
    let n = next_notification(&mut lines, "Tuesday 10:00").await;
    assert_eq!(n["payload"]["title"], "Callback");
    backend
        .message("c-1", "bob", "alice", "Bring your headshots")
        .await;
    let n = next_notification(&mut lines, "Bring your headshots").await;
    assert_eq!(n["payload"]["title"], "New message");
    assert_eq!(n["payload"]["conversationId"], "c-1");

    backend.restart().await;
    backend.wait_connected("alice").await;
    wait_joined(&backend).await;
    backend
        .notify("alice", "Callback moved", "Wednesday 9:00")
        .await;
    next_notification(&mut lines, "Wednesday 9:00").await;
    backend.message("c-1", "bob", "alice", "Room 4").await;
    next_notification(&mut lines, "Room 4").await;
    drop(child);

    // All of it is in the profile's cache, for `notifications` (offline too).
    let r = home
        .run(&["--profile", p.to_str().unwrap(), "--json", "notifications"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cached: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(cached.as_array().unwrap().len(), 4, "{cached}");

    // A wrong password: `sync` ends with the not-signed-in code and a sentence.
    let mut cmd = home.command(&["--profile", p.to_str().unwrap(), "--timeout", "5", "sync"]);
    cmd.env("HM_PASSWORD", "wrong");
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("refused the login"), "{stderr}");
}

/// Waits until the backend has seen alice's `join-conversation` since its last start.
async fn wait_joined(backend: &SioBackend) {
    let deadline = std::time::Instant::now() + tidings_testkit::WAIT;
    while !backend
        .received()
        .await
        .iter()
        .any(|e| e["event"] == "join-conversation" && e["user"] == "alice")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "alice did not join c-1"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
