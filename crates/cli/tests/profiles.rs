//! `tidings --profile FILE test` and the Socket.IO profile, end to end: the real `tidings`
//! binary against a real tidings-server (through its STOMP endpoint, as a profile) and a
//! real Node.js `socket.io` server (tests/sio-backend).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::PathBuf;

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
