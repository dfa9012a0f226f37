//! The commands of people, conversations and message actions under the mock runtime,
//! against a real server: what the UI's dialogs, menus and toolbars call, and the
//! refusals' `{code, message}`.

use super::{call, shell, until};
use serde_json::{json, Value};
use tidings_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_starts_conversations_manages_a_group_and_acts_on_messages() {
    let data = TempDir::new("shell-chat");
    let server = Server::start(data.path(), None, |_| {}).await;
    let api = server.api();
    api.register("alice").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let s = shell();
    call(&s, "sign_in", json!({"server": server.http(), "username": "alice", "password": "alice-password", "register": false})).unwrap();
    until(&s, "engine_state", json!({}), "live", |v| {
        v["state"] == "live"
    })
    .await;

    // The directory, paged; the profile.
    let page = call(
        &s,
        "search_users",
        json!({"query": "", "limit": 2, "cursor": null}),
    )
    .unwrap();
    assert_eq!(page["users"].as_array().unwrap().len(), 2, "{page}");
    let cursor = page["nextCursor"].clone();
    assert!(cursor.is_string(), "{page}");
    let rest = call(
        &s,
        "search_users",
        json!({"query": "", "limit": 2, "cursor": cursor}),
    )
    .unwrap();
    assert_eq!(rest["users"][0]["id"], "carol", "{rest}");
    assert_eq!(rest["nextCursor"], Value::Null);
    let me = call(&s, "me", json!({})).unwrap();
    assert_eq!(me["id"], "alice");
    let renamed = call(&s, "set_display_name", json!({"name": "Alice Martin"})).unwrap();
    assert_eq!(renamed["displayName"], "Alice Martin");
    let err = call(&s, "set_display_name", json!({"name": "  "})).unwrap_err();
    assert_eq!(err["code"], "invalid");

    // A direct conversation, twice: one conversation.
    let direct = call(
        &s,
        "create_conversation",
        json!({"title": null, "participants": ["bob"], "group": false}),
    )
    .unwrap();
    let again = call(
        &s,
        "create_conversation",
        json!({"title": null, "participants": ["bob"], "group": false}),
    )
    .unwrap();
    assert_eq!(direct["id"], again["id"]);
    let err = call(
        &s,
        "create_conversation",
        json!({"title": null, "participants": ["bob"], "group": true}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "invalid", "a group needs a name: {err}");

    // A group: rename, add, remove; the system entries arrive in the cache.
    let group = call(
        &s,
        "create_conversation",
        json!({"title": "Launch", "participants": ["bob"], "group": true}),
    )
    .unwrap();
    let gid = group["id"].as_str().unwrap().to_owned();
    assert_eq!(group["createdBy"], "alice");
    call(
        &s,
        "rename_conversation",
        json!({"conversation": gid, "title": "Launch team"}),
    )
    .unwrap();
    call(
        &s,
        "add_participants",
        json!({"conversation": gid, "users": ["carol"]}),
    )
    .unwrap();
    call(
        &s,
        "remove_participant",
        json!({"conversation": gid, "user": "bob"}),
    )
    .unwrap();
    let history = json!({"conversation": gid, "before": null, "limit": 50});
    let page = until(
        &s,
        "history",
        history.clone(),
        "the three system entries",
        |v| {
            v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| !m["system"].is_null())
                .count()
                == 3
        },
    )
    .await;
    let lines: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert!(
        lines[0].contains("renamed") && lines[1].contains("added") && lines[2].contains("removed"),
        "{lines:?}"
    );
    let (status, _) = api
        .get(&format!("/api/conversations/{gid}/messages"), &bob.token)
        .await;
    assert_eq!(status, 403, "bob was removed");

    // Send with a mention, reply to it, react, edit, delete.
    let sent = call(&s, "send_message", json!({"conversation": gid, "text": "**hi** @carol", "contentType": "MARKDOWN", "replyTo": null, "mentions": ["carol"]})).unwrap();
    assert_eq!(sent["contentType"], "MARKDOWN");
    let page = until(&s, "history", history.clone(), "the message stored", |v| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == "**hi** @carol")
    })
    .await;
    let first = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["content"] == "**hi** @carol")
        .unwrap()
        .clone();
    assert_eq!(first["mentions"], json!(["carol"]));
    let mid = first["id"].as_str().unwrap().to_owned();
    call(
        &s,
        "send_message",
        json!({"conversation": gid, "text": "a reply", "replyTo": mid}),
    )
    .unwrap();
    let reacted = call(
        &s,
        "react",
        json!({"conversation": gid, "message": mid, "emoji": "🎉", "on": true}),
    )
    .unwrap();
    assert_eq!(
        reacted["reactions"],
        json!([{"emoji": "🎉", "users": ["alice"]}])
    );
    let err = call(
        &s,
        "react",
        json!({"conversation": gid, "message": mid, "emoji": "nope", "on": true}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "refused", "{err}");
    let edited = call(&s, "edit_message", json!({"conversation": gid, "message": mid, "text": "hello", "contentType": "TEXT", "mentions": []})).unwrap();
    assert_eq!(edited["content"], "hello");
    assert!(edited["editedAt"].is_string());
    let carols = api.send(&carol, &gid, "c1", "carol's own").await;
    let err = call(&s, "edit_message", json!({"conversation": gid, "message": carols["id"], "text": "mine now", "contentType": "TEXT", "mentions": []})).unwrap_err();
    assert_eq!(
        err["code"], "refused",
        "editing someone else's message: {err}"
    );
    let gone = call(
        &s,
        "delete_message",
        json!({"conversation": gid, "message": mid}),
    )
    .unwrap();
    assert_eq!(
        (gone["deleted"].clone(), gone["content"].clone()),
        (json!(true), json!(""))
    );
    // The reply's page carries its (deleted) original for the quote, even when the original
    // is not on the page.
    let page = until(
        &s,
        "history",
        json!({"conversation": gid, "before": null, "limit": 2}),
        "the reply with its quote",
        |v| {
            v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["content"] == "a reply" && m["replyTo"]["messageId"] == mid.as_str())
        },
    )
    .await;
    assert_eq!(page["quoted"][0]["id"], mid.as_str(), "{page}");
    assert_eq!(page["quoted"][0]["deleted"], true);
    let server_view = api.all_messages(&carol, &gid).await;
    let m = server_view
        .iter()
        .find(|m| m["id"] == mid.as_str())
        .unwrap();
    assert_eq!(m["deleted"], true, "carol sees the tombstone: {m}");

    // Leave: the conversation stays, marked left; sending there is refused.
    call(&s, "leave_conversation", json!({"conversation": gid})).unwrap();
    let list = call(&s, "conversations", json!({})).unwrap();
    let left = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == gid.as_str())
        .unwrap();
    assert_eq!(left["left"], true);
    let err = call(
        &s,
        "send_message",
        json!({"conversation": gid, "text": "still here?"}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "refused", "{err}");
    server.stop().await;
}
