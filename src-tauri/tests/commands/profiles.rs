//! Servers of another kind (connection profiles) through the commands, under the mock
//! runtime, against a real tidings-server standing in for a Spring-style STOMP backend (a
//! REST login endpoint, a bearer token in `CONNECT`, a user queue of JSON messages): saving
//! one starts an account whose messages become notifications (list, unread count, tray);
//! its secret stays out of the saved form; editing keeps it; a bad form is refused with a
//! sentence; removing it forgets it.

use super::{call, shell, tray_says, until_of};
use serde_json::{json, Value};
use tauri::Manager;
use tidings_app::state::AppState;
use tidings_testkit::*;

fn form(server: &Server, password: &str) -> Value {
    let http = server.http();
    json!({
        "name": "HealthMate",
        "kind": "spring",
        "url": format!("{}/ws", http.replacen("http", "ws", 1)),
        "auth": {
            "type": "login",
            "url": format!("{http}/api/auth/login"),
            "username": "alice",
            "password": password,
            "tokenField": "accessToken",
        },
        "placement": "authorization",
        "follow": ["/user/queue/messages"],
        "namespace": "/",
        "emit": [],
        "vhost": "",
        "format": "json",
        "titleField": "/payload/senderId",
        "bodyField": "/payload/content",
        "idField": "/payload/id",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spring_style_profile_runs_as_an_account_of_notifications() {
    let dir = TempDir::new("prof-server");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&bob, &[&alice]).await;
    let s = shell();

    // An incomplete form is refused with a sentence, and nothing is added.
    let mut bad = form(&server, "alice-password");
    bad["follow"] = json!([" "]);
    let e = call(&s, "save_profile", json!({"account": null, "form": bad})).unwrap_err();
    assert_eq!(e["code"], "invalid");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("at least one destination"),
        "{e}"
    );
    assert_eq!(call(&s, "accounts", json!({})).unwrap(), json!([]));

    let info = call(
        &s,
        "save_profile",
        json!({"account": null, "form": form(&server, "alice-password")}),
    )
    .unwrap();
    let id = info["id"].as_str().unwrap().to_owned();
    assert_eq!(id, format!("healthmate@127.0.0.1:{}", server.addr.port()));
    assert_eq!(info["kind"], "spring");
    assert_eq!(info["user"], "HealthMate");
    until_of(&s, Some(&id), "engine_state", json!({}), "live", |v| {
        v["state"] == "live"
    })
    .await;

    // A message on the user queue is a notification: title and body from the fields.
    api.send(&bob, &cid, "b1", "your checkup moved to 3pm")
        .await;
    let list = until_of(
        &s,
        Some(&id),
        "notifications",
        json!({"before": null, "limit": 10}),
        "the notification",
        |v| v.as_array().is_some_and(|l| !l.is_empty()),
    )
    .await;
    assert_eq!(list[0]["message"], "your checkup moved to 3pm");
    assert_eq!(list[0]["title"], "bob");
    assert_eq!(list[0]["isRead"], false);
    let accounts = call(&s, "accounts", json!({})).unwrap();
    assert_eq!(accounts[0]["unread"], 1, "{accounts}");
    tray_says(&s, "Tidings — 1 unread — live").await;

    // The saved form has no secret; the edit form says one is kept.
    let state = s.window.app_handle().state::<AppState>();
    let saved = std::fs::read_to_string(state.config_dir.join("profiles.json")).unwrap();
    assert!(!saved.contains("alice-password"), "{saved}");
    let edit = call(&s, "profile_form", json!({"account": id})).unwrap();
    assert_eq!(edit["secretKept"], true);
    assert_eq!(edit["form"]["auth"]["password"], "");

    // Editing with the password left blank keeps it: the same account goes live again.
    let mut changed = edit["form"].clone();
    changed["name"] = json!("HealthMate (clinic)");
    let again = call(&s, "save_profile", json!({"account": id, "form": changed})).unwrap();
    assert_eq!(again["id"], id.as_str(), "editing keeps the account");
    assert_eq!(again["user"], "HealthMate (clinic)");
    until_of(
        &s,
        Some(&id),
        "engine_state",
        json!({}),
        "live again",
        |v| v["state"] == "live",
    )
    .await;
    // Its notifications stayed (the same cache).
    let list = call(
        &s,
        "notifications",
        json!({"account": id, "before": null, "limit": 10}),
    )
    .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);

    // The same name on the same host again: refused with a sentence.
    let e = call(
        &s,
        "save_profile",
        json!({"account": null, "form": form(&server, "alice-password")}),
    )
    .unwrap_err();
    assert!(
        e["message"].as_str().unwrap().contains("already here"),
        "{e}"
    );

    // Removing it forgets it: no account, no saved form.
    call(&s, "remove_profile", json!({"account": id})).unwrap();
    assert_eq!(call(&s, "accounts", json!({})).unwrap(), json!([]));
    let saved = std::fs::read_to_string(state.config_dir.join("profiles.json")).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&saved).unwrap(), json!([]));
    assert!(call(&s, "profile_form", json!({"account": id})).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_said_plainly() {
    let dir = TempDir::new("prof-wrong");
    let server = Server::start(dir.path(), None, |_| {}).await;
    server.api().register("alice").await;
    let s = shell();
    let id = call(
        &s,
        "save_profile",
        json!({"account": null, "form": form(&server, "not-her-password")}),
    )
    .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The account says why it cannot connect, in a sentence, without the password.
    let st = until_of(&s, Some(&id), "engine_state", json!({}), "refused", |v| {
        v["state"] == "signedOut" || v["state"] == "reconnecting"
    })
    .await;
    let reason = st["reason"].as_str().unwrap();
    assert!(!reason.contains("not-her-password"), "{reason}");
    assert!(!reason.is_empty());
}
