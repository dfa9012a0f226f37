//! The shell's commands through Tauri's IPC under the mock runtime, against a real server on
//! 127.0.0.1 and a real cache file: what the UI calls, and each refusal's `{code, message}`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow, WebviewWindowBuilder};
use tidings_app::state::AppState;
use tidings_app::telemetry::Launch;
use tidings_testkit::*;

/// People, conversations and message actions (issue 14).
#[path = "commands/chat.rs"]
mod chat;

/// Drafts and where the user was (issue 15).
#[path = "commands/drafts.rs"]
mod drafts;

/// Several accounts at once (issue 15).
#[path = "commands/accounts.rs"]
mod accounts;

/// Attachments (issue 16).
#[path = "commands/files.rs"]
mod files;

/// Servers of another kind: connection profiles (issue 18).
#[path = "commands/profiles.rs"]
mod profiles;

struct Shell {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    _dir: TempDir,
}

fn shell() -> Shell {
    let dir = TempDir::new("shell");
    let state = AppState::new(dir.0.join("config"), dir.0.join("data")).unwrap();
    let app = mock_builder()
        .invoke_handler(tidings_app::handlers())
        .manage(state)
        .manage(Launch::new(Instant::now()))
        .build(mock_context(noop_assets()))
        .unwrap();
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    Shell {
        _app: app,
        window,
        _dir: dir,
    }
}

/// Calls a command as the UI does; `Ok(value)` or `Err({code, message})`.
fn call(s: &Shell, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        &s.window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().unwrap())
}

/// Calls a command until `ok` holds, again each time the engine changed the cache or its
/// state (it works in the background); bounded.
async fn until(
    s: &Shell,
    cmd: &str,
    args: Value,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    until_of(s, None, cmd, args, what, ok).await
}

/// [`until`] with a command of `account` (named in its arguments), woken by that account's
/// engine; the active account's when `None`.
async fn until_of(
    s: &Shell,
    account: Option<&str>,
    cmd: &str,
    mut args: Value,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    if let Some(a) = account {
        args["account"] = serde_json::json!(a);
    }
    let state = s.window.app_handle().state::<AppState>();
    let engine = state.engine_of(account).expect("signed in");
    let (mut changed, mut st) = (engine.changed(), engine.state());
    drop(engine);
    let work = async {
        loop {
            if let Ok(v) = call(s, cmd, args.clone()) {
                if ok(&v) {
                    return v;
                }
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = st.changed() => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), work)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[test]
fn the_first_paint_is_reported_and_a_malformed_report_refused() {
    let s = shell();
    let paint = json!({"paint": {"conversations": 20, "messages": 0}});
    assert_eq!(
        call(&s, "report_first_paint", paint.clone()),
        Ok(Value::Null)
    );
    // A second report (the window built again) is accepted and not logged again.
    assert_eq!(call(&s, "report_first_paint", paint), Ok(Value::Null));
    assert!(call(
        &s,
        "report_first_paint",
        json!({"paint": {"conversations": -1}})
    )
    .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_signs_in_reads_sends_searches_and_is_told_why_when_refused() {
    let data = TempDir::new("shell-server");
    let server = Server::start(data.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    api.send(&bob, &cid, "b1", "The invoice is attached").await;
    let s = shell();

    // Before signing in.
    let startup = call(&s, "session", json!({})).unwrap();
    assert_eq!(startup["session"], Value::Null);
    let err = call(&s, "conversations", json!({})).unwrap_err();
    assert_eq!(err["code"], "not_signed_in", "{err}");
    let err = call(&s, "sign_in", json!({"server": server.http(), "username": "alice", "password": "wrong", "register": false})).unwrap_err();
    assert_eq!(err["code"], "not_signed_in");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Wrong username or password."),
        "{err}"
    );
    let err = call(
        &s,
        "sign_in",
        json!({"server": "ftp://x", "username": "alice", "password": "p", "register": false}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "invalid");
    let err = call(&s, "sign_in", json!({"server": "http://127.0.0.1:9", "username": "alice", "password": "alice-password", "register": false})).unwrap_err();
    assert_eq!(err["code"], "unreachable");
    assert_eq!(
        err["message"],
        "Can't reach 127.0.0.1:9: the connection was refused. Check the address, or try again.",
        "words for people, not the socket's error"
    );

    // Signed in: the engine fills the cache.
    let info = call(&s, "sign_in", json!({"server": server.http(), "username": "alice", "password": "alice-password", "register": false})).unwrap();
    assert_eq!(info["user"], "alice");
    let list = until(&s, "conversations", json!({}), "the conversation", |v| {
        v[0]["lastSeq"] == 1
    })
    .await;
    assert_eq!(list[0]["unreadCount"], 1);
    let page = call(
        &s,
        "history",
        json!({"conversation": cid, "before": null, "limit": 50}),
    )
    .unwrap();
    assert_eq!(page["messages"][0]["content"], "The invoice is attached");

    // Send: pending at once, then sent.
    let entry = call(
        &s,
        "send_message",
        json!({"conversation": cid, "text": "Thanks!"}),
    )
    .unwrap();
    // Unconfirmed at once (the engine may already have it in flight).
    assert!(
        entry["state"] == "pending" || entry["state"] == "sending",
        "{entry}"
    );
    until(
        &s,
        "history",
        json!({"conversation": cid, "before": null, "limit": 50}),
        "the sent message",
        |v| {
            v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["content"] == "Thanks!")
                && v["pending"] == json!([])
        },
    )
    .await;
    assert_eq!(api.all_messages(&bob, &cid).await.len(), 2);
    let err = call(
        &s,
        "send_message",
        json!({"conversation": cid, "text": "   "}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "refused", "{err}");

    // Read, search, the notification level.
    assert_eq!(
        call(&s, "mark_read", json!({"conversation": cid, "upTo": 2})).unwrap(),
        json!(false)
    );
    let hits = call(&s, "search", json!({"query": "invoice", "limit": 10})).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 1);
    assert!(hits[0]["snippet"].as_str().unwrap().contains("[invoice]"));
    call(
        &s,
        "set_notify_level",
        json!({"conversation": cid, "level": "none"}),
    )
    .unwrap();
    assert_eq!(
        call(&s, "conversations", json!({})).unwrap()[0]["notifyLevel"],
        "none"
    );
    assert!(call(
        &s,
        "set_notify_level",
        json!({"conversation": cid, "level": "sometimes"})
    )
    .is_err());

    // Settings: saved, and a bad one refused with the reason.
    let mut settings = call(&s, "get_settings", json!({})).unwrap();
    settings["doNotDisturb"] = json!(true);
    settings["privacy"] = json!("senderOnly");
    call(&s, "set_settings", json!({"settings": settings})).unwrap();
    assert_eq!(
        call(&s, "get_settings", json!({})).unwrap()["privacy"],
        "senderOnly"
    );
    settings["quietHours"]["start"] = json!("25:99");
    let err = call(&s, "set_settings", json!({"settings": settings})).unwrap_err();
    assert_eq!(err["code"], "invalid");
    assert!(err["message"].as_str().unwrap().contains("25:99"));
    assert_eq!(
        call(&s, "get_settings", json!({})).unwrap()["quietHours"]["start"],
        "22:00",
        "the refused one changed nothing"
    );
    settings["quietHours"]["start"] = json!("22:00");
    settings["zoomPercent"] = json!(125);
    call(&s, "set_settings", json!({"settings": settings})).unwrap();
    settings["zoomPercent"] = json!(900);
    let err = call(&s, "set_settings", json!({"settings": settings})).unwrap_err();
    assert_eq!(err["code"], "invalid");
    assert!(err["message"].as_str().unwrap().contains("900 %"), "{err}");
    assert_eq!(
        call(&s, "get_settings", json!({})).unwrap()["zoomPercent"],
        125,
        "the text size is kept; the refused one changed nothing"
    );

    // The engine's state, then signing out.
    until(&s, "engine_state", json!({}), "live", |v| {
        v["state"] == "live"
    })
    .await;
    // "Reconnect now" while live checks the connection, which stays live.
    call(&s, "reconnect_now", json!({})).unwrap();
    until(&s, "engine_state", json!({}), "still live", |v| {
        v["state"] == "live"
    })
    .await;
    // News handed over by another process for this account, and for another one.
    let id = call(&s, "session", json!({})).unwrap()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let untold = s._dir.0.join("data").join("untold.json");
    let other = json!({"conversations": {"c_x": 3}, "notifications": null});
    std::fs::write(
        &untold,
        json!({ id.clone(): {"conversations": {cid.clone(): 1}, "notifications": 2}, "carol@elsewhere": other.clone() }).to_string(),
    )
    .unwrap();
    call(&s, "sign_out", json!({})).unwrap();
    assert_eq!(
        call(&s, "session", json!({})).unwrap()["session"],
        Value::Null
    );
    // Signing out dropped its part, and only its part.
    let kept: Value = serde_json::from_slice(&std::fs::read(&untold).unwrap()).unwrap();
    assert_eq!(kept, json!({ "carol@elsewhere": other }), "{id}");
    assert_eq!(
        call(&s, "conversations", json!({})).unwrap_err()["code"],
        "not_signed_in"
    );
    // The session was revoked on the server too.
    let state = s.window.app_handle().state::<AppState>();
    assert!(state.credentials.current().is_none());
    server.stop().await;
}

/// Waits (bounded) until the tray's line is `want`.
async fn tray_says(s: &Shell, want: &str) {
    let state = s.window.app_handle().state::<AppState>();
    let mut line = state.tray_line();
    let seen = tokio::time::timeout(Duration::from_secs(30), line.wait_for(|l| l == want))
        .await
        .is_ok_and(|r| r.is_ok());
    let last = line.borrow().clone();
    assert!(seen, "the tray never said {want:?}; it says {last:?}");
}

/// The first sync of a new sign-in ends with the tray saying "live", every time: the state
/// changes during the catch-up (each step redraws the tray from two watchers) and the engine
/// going live (maybe before the session was stored) are not lost on the way to the tray.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_says_live_after_each_first_sync() {
    let data = TempDir::new("shell-tray");
    let server = Server::start(data.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    for c in 0..4 {
        let cid = api.group(&bob, &[&alice]).await;
        for i in 0..25 {
            api.send(&bob, &cid, &format!("c{c}-{i}"), "history").await;
        }
    }
    let s = shell();
    for round in 0..3 {
        call(&s, "sign_in", json!({"server": server.http(), "username": "alice", "password": "alice-password", "register": false})).unwrap();
        let state = s.window.app_handle().state::<AppState>();
        let mut engine = state.with_engine(|e| Ok(e.state())).unwrap();
        let live = tokio::time::timeout(
            Duration::from_secs(30),
            engine.wait_for(|e| *e == tidings_client::engine::EngineState::Live),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        assert!(live, "round {round}: the engine went live");
        tray_says(&s, "Tidings — 100 unread — live").await;
        call(&s, "sign_out", json!({})).unwrap();
        tray_says(&s, "Tidings — signed out").await;
        // A new sign-in starts from an empty cache again.
        let cache = s
            .window
            .app_handle()
            .state::<AppState>()
            .data_dir
            .join("cache");
        let _ = std::fs::remove_dir_all(cache);
    }
    server.stop().await;
}
