//! Several accounts in one app, under the mock runtime against two real servers: each
//! account has its own engine, cache, messages and settings; commands name their account;
//! the tray adds them up; signing out of one leaves the other working.

use super::{call, shell, tray_says, until_of, Shell};
use serde_json::json;
use tauri::Manager;
use tidings_app::state::AppState;
use tidings_testkit::*;

fn sign_in(s: &Shell, server: &Server, user: &str) -> String {
    let info = call(s, "sign_in", json!({"server": server.http(), "username": user, "password": format!("{user}-password"), "register": false})).unwrap();
    info["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_on_two_servers_live_side_by_side() {
    let (work_dir, community_dir) = (TempDir::new("acc-work"), TempDir::new("acc-com"));
    let work = Server::start(work_dir.path(), None, |_| {}).await;
    let community = Server::start(community_dir.path(), None, |_| {}).await;
    let (wapi, capi) = (work.api(), community.api());
    let alice = wapi.register("alice").await;
    let bob = wapi.register("bob").await;
    let wcid = wapi.group(&bob, &[&alice]).await;
    wapi.send(&bob, &wcid, "w1", "standup at ten").await;
    let carol = capi.register("carol").await;
    let dave = capi.register("dave").await;
    let ccid = capi.group(&dave, &[&carol]).await;
    capi.send(&dave, &ccid, "c1", "board games tonight").await;
    capi.send(&dave, &ccid, "c2", "bring snacks").await;

    let s = shell();
    let a = sign_in(&s, &work, "alice");
    let c = sign_in(&s, &community, "carol");
    assert_ne!(a, c);
    assert!(a.starts_with("alice@127.0.0.1:"), "{a}");
    let startup = call(&s, "session", json!({})).unwrap();
    let ids: Vec<&str> = startup["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str(), c.as_str()]);
    // The first account signed in stays the active one; the second was added beside it.
    assert_eq!(startup["session"]["id"], a.as_str());

    // Each account sees its own server's conversations only.
    let wl = until_of(
        &s,
        Some(&a),
        "conversations",
        json!({}),
        "work's list",
        |v| v[0]["lastSeq"] == 1,
    )
    .await;
    assert_eq!(wl.as_array().unwrap().len(), 1);
    assert_eq!(wl[0]["id"], wcid.as_str());
    let cl = until_of(
        &s,
        Some(&c),
        "conversations",
        json!({}),
        "community's list",
        |v| v[0]["lastSeq"] == 2,
    )
    .await;
    assert_eq!(cl.as_array().unwrap().len(), 1);
    assert_eq!(cl[0]["id"], ccid.as_str());
    // Another account's conversation is not in this account's cache.
    let page = call(
        &s,
        "history",
        json!({"account": a, "conversation": ccid, "before": null, "limit": 50}),
    )
    .unwrap();
    assert_eq!(page["messages"], json!([]));

    // The switcher's counts, and the tray's sum over both.
    until_of(
        &s,
        Some(&c),
        "engine_state",
        json!({}),
        "community live",
        |v| v["state"] == "live",
    )
    .await;
    until_of(&s, Some(&a), "engine_state", json!({}), "work live", |v| {
        v["state"] == "live"
    })
    .await;
    let accounts = call(&s, "accounts", json!({})).unwrap();
    let unread: Vec<(String, i64)> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["info"]["id"].as_str().unwrap().to_owned(),
                x["unread"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(unread, [(a.clone(), 1), (c.clone(), 2)]);
    tray_says(&s, "Tidings — 3 unread — live").await;

    // A send goes to its own account's server.
    call(
        &s,
        "send_message",
        json!({"account": c, "conversation": ccid, "text": "I'll bring chips"}),
    )
    .unwrap();
    until_of(
        &s,
        Some(&c),
        "history",
        json!({"conversation": ccid, "before": null, "limit": 50}),
        "sent",
        |v| v["pending"] == json!([]) && v["messages"].as_array().unwrap().len() == 3,
    )
    .await;
    assert_eq!(capi.all_messages(&dave, &ccid).await.len(), 3);
    assert_eq!(wapi.all_messages(&bob, &wcid).await.len(), 1);
    // A conversation id the account does not have is refused there, not sent elsewhere.
    let err = call(
        &s,
        "send_message",
        json!({"account": a, "conversation": ccid, "text": "wrong place"}),
    );
    if let Ok(entry) = err {
        // Queued to the work server, which refuses it: it never reaches the community one.
        assert_eq!(entry["conversationId"], ccid.as_str());
    }
    assert_eq!(capi.all_messages(&dave, &ccid).await.len(), 3);

    // Settings apart: do-not-disturb on one leaves the other's off.
    let mut cs = call(&s, "get_settings", json!({"account": c})).unwrap();
    cs["doNotDisturb"] = json!(true);
    call(&s, "set_settings", json!({"account": c, "settings": cs})).unwrap();
    assert_eq!(
        call(&s, "get_settings", json!({"account": c})).unwrap()["doNotDisturb"],
        true
    );
    assert_eq!(
        call(&s, "get_settings", json!({"account": a})).unwrap()["doNotDisturb"],
        false
    );
    // An unknown account is refused with a sentence.
    let err = call(&s, "conversations", json!({"account": "nobody@nowhere"})).unwrap_err();
    assert_eq!(err["code"], "not_signed_in", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("nobody@nowhere"),
        "{err}"
    );
    let err = call(
        &s,
        "set_active_account",
        json!({"account": "nobody@nowhere"}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "not_signed_in", "{err}");
    call(&s, "set_active_account", json!({"account": c})).unwrap();
    assert_eq!(
        call(&s, "session", json!({})).unwrap()["session"]["id"],
        c.as_str()
    );

    // Signing out of the community account leaves the work account working.
    call(&s, "sign_out", json!({"account": c})).unwrap();
    let startup = call(&s, "session", json!({})).unwrap();
    assert_eq!(startup["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(startup["session"]["id"], a.as_str());
    let err = call(&s, "conversations", json!({"account": c})).unwrap_err();
    assert_eq!(err["code"], "not_signed_in");
    let state = s.window.app_handle().state::<AppState>();
    let saved: Vec<String> = state
        .credentials
        .accounts()
        .into_iter()
        .map(|x| x.user)
        .collect();
    assert_eq!(saved, ["alice"]);
    wapi.send(&bob, &wcid, "w2", "still here?").await;
    until_of(
        &s,
        Some(&a),
        "conversations",
        json!({}),
        "work goes on",
        |v| v[0]["lastSeq"] == 2,
    )
    .await;
    tray_says(&s, "Tidings — 2 unread — live").await;
    work.stop().await;
    community.stop().await;
}
