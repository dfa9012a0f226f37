//! Edits, deletions, reactions, replies and mentions over REST and STOMP, the change log
//! (`changes?after=`), bad input, erasure in the database files, the edit window and the
//! shared write budget. Real server on 127.0.0.1:0, real SQLite file.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use tidings_proto::{dest, Timestamp};
use tidings_testkit::*;

async fn two_users(server: &Server) -> (Api, TestUser, TestUser, String) {
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    (api, alice, bob, cid)
}

/// A refused request: method, path, caller, body, status, error code.
type Case<'a> = (&'a str, String, &'a TestUser, Option<Value>, u16, &'a str);

#[tokio::test]
async fn actions_reach_everyone_in_rev_order_and_the_change_log_has_them() {
    let server = Server::chat().await;
    let (api, alice, bob, cid) = two_users(&server).await;
    let mut b = Client::signed_in(&server, &bob).await;
    b.subscribe(&dest::conversation_topic(&cid), "conv", "auto")
        .await;
    b.subscribe(dest::USER_MESSAGES, "mine", "auto").await;
    b.subscribe(dest::USER_ERRORS, "errors", "auto").await;
    let m1 = api.send(&alice, &cid, "k1", "Hello bob").await;
    assert_eq!(m1["rev"], 1);
    // A reply with a mention, over STOMP.
    b.send_json(
        &dest::send(&cid),
        json!({"clientId": "k2", "content": "Hi @alice", "replyTo": id_of(&m1), "mentions": ["alice", "alice"]}),
    )
    .await;
    let m1_id = id_of(&m1);
    let markdown = json!({"content": "Hello **Bob**", "contentType": "MARKDOWN"});
    let (status, edited) = api.edit(&alice, &cid, &m1_id, markdown).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (edited["rev"].as_i64(), edited["contentType"].as_str()),
        (Some(3), Some("MARKDOWN"))
    );
    assert!(edited["editedAt"].is_string());
    b.send_json(
        &dest::react(&cid, &id_of(&m1)),
        json!({"emoji": "👍", "on": true}),
    )
    .await;
    // The same reaction again changes nothing: no rev, no event.
    let (status, same) = api.react(&bob, &cid, &m1_id, "👍", true).await;
    assert_eq!(status, 200);
    assert_eq!(same["rev"], 4);
    assert_eq!(
        same["reactions"],
        json!([{"emoji": "👍", "users": ["bob"]}])
    );
    let (status, tomb) = api.delete_message(&alice, &cid, &m1_id).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            tomb["deleted"].as_bool(),
            tomb["content"].as_str(),
            tomb["rev"].as_i64()
        ),
        (Some(true), Some(""), Some(5))
    );
    assert!(tomb.get("reactions").is_none() && tomb.get("editedAt").is_none());
    // Deleting a tombstone again answers it, unchanged.
    let (status, again) = api.delete_message(&alice, &cid, &m1_id).await;
    assert_eq!((status, again["rev"].as_i64()), (200, Some(5)));

    let mut seen = Vec::new();
    while seen.len() < 5 {
        let env = b.next_json("conv").await;
        if env["type"] != "TYPING" {
            seen.push((
                env["type"].as_str().unwrap().to_owned(),
                env["payload"]["rev"].as_i64().unwrap(),
            ));
        }
    }
    let want: Vec<(String, i64)> = [
        ("CHAT_MESSAGE", 1),
        ("CHAT_MESSAGE", 2),
        ("MESSAGE_EDITED", 3),
        ("REACTIONS_UPDATED", 4),
        ("MESSAGE_DELETED", 5),
    ]
    .iter()
    .map(|(t, r)| ((*t).to_owned(), *r))
    .collect();
    assert_eq!(seen, want);
    // The user queue carries the same, in the same order.
    let mut mine = Vec::new();
    while mine.len() < 5 {
        let env = b.next_json("mine").await;
        if env["payload"]["rev"].is_i64() && env["type"] != "READ_RECEIPT" {
            mine.push(env["payload"]["rev"].as_i64().unwrap());
        }
    }
    assert_eq!(mine, [1, 2, 3, 4, 5]);

    // The change log: each entry once as it is now, ascending rev, paged.
    let (status, all) = api.changes(&bob, &cid, "after=0").await;
    assert_eq!(status, 200, "{all}");
    let revs: Vec<i64> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["rev"].as_i64().unwrap())
        .collect();
    assert_eq!(revs, [2, 5]);
    assert_eq!(
        (
            all["hasMore"].as_bool(),
            all["rev"].as_i64(),
            all["conversation"]["rev"].as_i64()
        ),
        (Some(false), Some(5), Some(5))
    );
    let reply = &all["messages"][0];
    assert_eq!(reply["replyTo"], json!({"messageId": id_of(&m1), "seq": 1}));
    assert_eq!(reply["mentions"], json!(["alice"]), "deduplicated");
    assert_eq!(all["messages"][1]["deleted"], true);
    let (_, first) = api.changes(&bob, &cid, "after=0&limit=1").await;
    assert_eq!(
        (first["hasMore"].as_bool(), first["rev"].as_i64()),
        (Some(true), Some(2))
    );
    let (_, rest_page) = api.changes(&bob, &cid, "after=2&limit=1").await;
    assert_eq!(
        (rest_page["hasMore"].as_bool(), rest_page["rev"].as_i64()),
        (Some(false), Some(5))
    );
    assert_eq!(rest_page["messages"][0]["id"], m1_id);
    let (_, none) = api.changes(&bob, &cid, "after=5").await;
    assert_eq!(
        (
            none["messages"].as_array().unwrap().len(),
            none["rev"].as_i64()
        ),
        (0, Some(5))
    );
    // STOMP edit and delete of one's own message.
    let reply_id = id_of(reply);
    b.send_json(&dest::edit(&cid, &reply_id), json!({"content": "Hi again"}))
        .await;
    b.send_json(&dest::delete(&cid, &reply_id), json!({})).await;
    let e = b.next_event("conv", "MESSAGE_EDITED").await;
    assert_eq!(
        (
            e["payload"]["content"].as_str(),
            e["payload"]["rev"].as_i64()
        ),
        (Some("Hi again"), Some(6))
    );
    let d = b.next_event("conv", "MESSAGE_DELETED").await;
    assert_eq!(d["payload"]["rev"], 7);
    assert!(b
        .stash
        .iter()
        .all(|f| f.header("subscription") != Some("errors")));
}

#[tokio::test]
async fn bad_input_is_refused_with_the_right_error_and_changes_nothing() {
    let server = Server::chat().await;
    let (api, alice, bob, cid) = two_users(&server).await;
    let carol = api.register("carol").await;
    let other = api.group(&alice, &[&carol]).await;
    let m = api.send(&alice, &cid, "k1", "original").await;
    let foreign = api.send(&alice, &other, "k2", "elsewhere").await;
    let on_m = format!("/api/conversations/{cid}/messages/{}", id_of(&m));
    // A system entry and a tombstone to act on.
    let (status, _) = api.rename(&alice, &cid, "Renamed").await;
    assert_eq!(status, 200);
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    let system = id_of(&page["messages"][1]);
    assert_eq!(page["messages"][1]["system"]["action"], "renamed");
    let gone = api.send(&alice, &cid, "k3", "to delete").await;
    api.delete_message(&alice, &cid, &id_of(&gone)).await;
    let (_, before) = api.changes(&alice, &cid, "").await;

    let long = "x".repeat(4001);
    let cases: Vec<Case<'_>> = vec![
        (
            "PATCH",
            on_m.clone(),
            &bob,
            Some(json!({"content": "bob's now"})),
            403,
            "forbidden",
        ),
        ("DELETE", on_m.clone(), &bob, None, 403, "forbidden"),
        (
            "PATCH",
            on_m.clone(),
            &alice,
            Some(json!({"content": long})),
            400,
            "invalid",
        ),
        (
            "PATCH",
            on_m.clone(),
            &alice,
            Some(json!({"content": "  "})),
            400,
            "invalid",
        ),
        (
            "PATCH",
            on_m.clone(),
            &alice,
            Some(json!({"content": "hi", "mentions": ["carol"]})),
            400,
            "invalid",
        ),
        (
            "PATCH",
            on_m.clone(),
            &alice,
            Some(json!({"content": "hi", "extra": 1})),
            400,
            "invalid",
        ),
        (
            "PATCH",
            format!("/api/conversations/{cid}/messages/{system}"),
            &alice,
            Some(json!({"content": "x"})),
            409,
            "conflict",
        ),
        (
            "DELETE",
            format!("/api/conversations/{cid}/messages/{system}"),
            &alice,
            None,
            409,
            "conflict",
        ),
        (
            "PATCH",
            format!("/api/conversations/{cid}/messages/{}", id_of(&gone)),
            &alice,
            Some(json!({"content": "back"})),
            409,
            "conflict",
        ),
        (
            "PATCH",
            format!("/api/conversations/{cid}/messages/{}", id_of(&foreign)),
            &alice,
            Some(json!({"content": "x"})),
            404,
            "not_found",
        ),
        (
            "POST",
            format!("{on_m}/reactions"),
            &bob,
            Some(json!({"emoji": "x", "on": true})),
            400,
            "invalid",
        ),
        (
            "POST",
            format!("{on_m}/reactions"),
            &bob,
            Some(json!({"emoji": "👍👍", "on": true})),
            400,
            "invalid",
        ),
        (
            "POST",
            format!("{on_m}/reactions"),
            &bob,
            Some(json!({"emoji": ":+1:", "on": true})),
            400,
            "invalid",
        ),
        (
            "POST",
            format!(
                "/api/conversations/{cid}/messages/{}/reactions",
                id_of(&gone)
            ),
            &bob,
            Some(json!({"emoji": "👍", "on": true})),
            409,
            "conflict",
        ),
        (
            "POST",
            format!("/api/conversations/{cid}/messages/{system}/reactions"),
            &bob,
            Some(json!({"emoji": "👍", "on": true})),
            409,
            "conflict",
        ),
        (
            "POST",
            format!("/api/conversations/{cid}/messages"),
            &bob,
            Some(json!({"clientId": "r1", "content": "re", "replyTo": id_of(&foreign)})),
            400,
            "invalid",
        ),
        (
            "POST",
            format!("/api/conversations/{cid}/messages"),
            &bob,
            Some(json!({"clientId": "r2", "content": "hey @carol", "mentions": ["carol"]})),
            400,
            "invalid",
        ),
        (
            "POST",
            format!("/api/conversations/{cid}/messages"),
            &bob,
            Some(json!({"clientId": "r3", "content": "hey", "mentions": ["Not A Name"]})),
            400,
            "invalid",
        ),
        (
            "GET",
            format!("/api/conversations/{cid}/changes?after=-1"),
            &bob,
            None,
            400,
            "invalid",
        ),
        (
            "GET",
            format!("/api/conversations/{cid}/changes?limit=501"),
            &bob,
            None,
            400,
            "invalid",
        ),
        (
            "GET",
            format!("/api/conversations/{cid}/changes?limit=0"),
            &bob,
            None,
            400,
            "invalid",
        ),
    ];
    for (method, path, who, body, status, code) in &cases {
        let (got, err) = api.call_as(method, path, who, body.clone()).await;
        assert_eq!(
            (got, err["error"].as_str()),
            (*status, Some(*code)),
            "{method} {path} {body:?}: {err}"
        );
        assert!(!err["message"].as_str().unwrap().is_empty());
    }
    // The same refusals over STOMP land on /user/queue/errors.
    let mut b = Client::signed_in(&server, &bob).await;
    b.subscribe(dest::USER_ERRORS, "errors", "auto").await;
    for (d, body, code) in [
        (
            dest::edit(&cid, &id_of(&m)),
            json!({"content": "bob's now"}).to_string(),
            "forbidden",
        ),
        (dest::delete(&cid, &id_of(&m)), "{}".to_owned(), "forbidden"),
        (
            dest::react(&cid, &id_of(&m)),
            json!({"emoji": "nope", "on": true}).to_string(),
            "invalid",
        ),
        (
            dest::react(&cid, &id_of(&m)),
            "not json".to_owned(),
            "invalid",
        ),
        (
            dest::edit(&cid, &system),
            json!({"content": "x"}).to_string(),
            "conflict",
        ),
        (
            dest::send(&cid),
            json!({"clientId": "s1", "content": "x", "replyTo": id_of(&foreign)}).to_string(),
            "invalid",
        ),
    ] {
        let err = b.send_refused(&d, body).await;
        assert_eq!(err["error"], code, "{d}: {err}");
    }
    // Nothing changed: same rev, same entries.
    let (_, after) = api.changes(&alice, &cid, "").await;
    assert_eq!(after["messages"], before["messages"]);
    assert_eq!(after["rev"], before["rev"]);
    assert_eq!(
        after["conversation"]["lastSeq"],
        before["conversation"]["lastSeq"]
    );
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(page["messages"][0]["content"], "original");
    assert!(page["messages"][0].get("reactions").is_none());
}

/// The bytes of the database and its WAL after a full checkpoint.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let db = dir.join("tidings.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(dir.join("tidings.db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn deleted_and_replaced_text_is_gone_from_the_database_files() {
    // The SQLite store's own files (also when `TIDINGS_TEST_STORE=postgres`).
    let server = Server::chat_with(|c| c.storage.store = Some("sqlite".into())).await;
    let (api, alice, bob, cid) = two_users(&server).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (kept, deleted, replaced) = (
        format!("KEPT-{tag}"),
        format!("DELETED-{tag}"),
        format!("REPLACED-{tag}"),
    );
    api.send(&alice, &cid, "k", &kept).await;
    let d = api.send(&alice, &cid, "d", &deleted).await;
    let r = api.send(&alice, &cid, "r", &replaced).await;
    api.react(&bob, &cid, &id_of(&d), "🎉", true).await;
    let (s1, _) = api.delete_message(&alice, &cid, &id_of(&d)).await;
    let replacement = json!({"content": "something else"});
    let (s2, _) = api.edit(&alice, &cid, &id_of(&r), replacement).await;
    assert_eq!((s1, s2), (200, 200));
    let dir = server.stop().await.unwrap();
    let bytes = database_bytes(dir.path());
    assert!(contains(&bytes, &kept), "the check can see stored text");
    assert!(
        !contains(&bytes, &deleted),
        "deleted text is erased from the files"
    );
    assert!(
        !contains(&bytes, &replaced),
        "replaced text is erased from the files"
    );
    let conn = rusqlite::Connection::open(dir.path().join("tidings.db")).unwrap();
    let reactions: i64 = conn
        .query_row("SELECT COUNT(*) FROM reactions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(reactions, 0, "the deleted message's reactions are gone");
}

#[tokio::test]
async fn the_edit_window_refuses_late_edits_but_never_deletions() {
    let server = Server::chat_with(|c| c.chat.edit_window_secs = 1).await;
    let (api, alice, _bob, cid) = two_users(&server).await;
    let m = api.send(&alice, &cid, "k", "typo").await;
    let created: Timestamp = serde_json::from_value(m["createdAt"].clone()).unwrap();
    // Wait (bounded) until the server's clock, which is this one, is past the window.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Timestamp::now().millis() <= created.millis() + 1000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock did not move"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, err) = api
        .edit(&alice, &cid, &id_of(&m), json!({"content": "fixed"}))
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (403, Some("forbidden")),
        "{err}"
    );
    assert!(
        err["message"].as_str().unwrap().contains("1 seconds"),
        "{err}"
    );
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(page["messages"][0]["content"], "typo");
    let (status, tomb) = api.delete_message(&alice, &cid, &id_of(&m)).await;
    assert_eq!((status, tomb["deleted"].as_bool()), (200, Some(true)));
}

#[tokio::test]
async fn edits_deletions_and_reactions_spend_the_send_budget() {
    let server = Server::chat_with(|c| c.limits.sends_per_minute = 3).await;
    let (api, alice, _bob, cid) = two_users(&server).await;
    let m = api.send(&alice, &cid, "k", "one").await;
    let mid = id_of(&m);
    let (s1, _) = api
        .edit(&alice, &cid, &mid, json!({"content": "two"}))
        .await;
    let (s2, _) = api.react(&alice, &cid, &mid, "👍", true).await;
    let (s3, err) = api.delete_message(&alice, &cid, &mid).await;
    assert_eq!((s1, s2, s3), (200, 200, 429), "{err}");
    assert_eq!(err["error"], "rate_limited");
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(page["messages"][0]["deleted"], Value::Null, "not deleted");
}
