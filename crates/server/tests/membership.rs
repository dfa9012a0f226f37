//! Group membership after creation: the owner adds, removes and renames; anyone leaves;
//! each change is a system entry; and someone removed stops receiving at once, over a live
//! STOMP connection. Real server on 127.0.0.1:0, real SQLite file.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use tidings_proto::dest;
use tidings_stomp::{Command, Frame};
use tidings_testkit::*;

async fn call(
    api: &Api,
    method: &str,
    path: &str,
    who: &TestUser,
    body: Option<Value>,
) -> (u16, Value) {
    api.call(method, path, Some(&who.token), body).await
}

/// Reads frames until a `CHAT_MESSAGE` with `content` arrives on `subscription`; returns
/// every frame read (that one included).
async fn frames_until(c: &mut Client, subscription: &str, content: &str) -> Vec<Frame> {
    let mut got = Vec::new();
    loop {
        let f = c.next_frame().await;
        let done = f.command == Command::Message
            && f.header("subscription") == Some(subscription)
            && serde_json::from_slice::<Value>(&f.body).unwrap()["payload"]["content"] == content;
        got.push(f);
        if done {
            return got;
        }
    }
}

fn json_of(f: &Frame) -> Value {
    serde_json::from_slice(&f.body).unwrap()
}

#[tokio::test]
async fn a_removed_user_stops_receiving_at_once_on_every_session() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let cid = api.group(&alice, &[&bob, &carol]).await;
    let (status, direct) = api
        .post(
            "/api/conversations",
            &alice.token,
            json!({"kind": "direct", "participants": ["bob"]}),
        )
        .await;
    assert_eq!(status, 201);
    let direct = direct["id"].as_str().unwrap().to_owned();
    let topic = dest::conversation_topic(&cid);
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let mut b = Client::signed_in(&server, &bob).await;
        b.subscribe(&topic, "conv", "auto").await;
        b.subscribe(dest::USER_MESSAGES, "mine", "auto").await;
        sessions.push(b);
    }
    let mut c = Client::signed_in(&server, &carol).await;
    c.subscribe(&topic, "conv", "auto").await;
    c.subscribe(dest::USER_MESSAGES, "mine", "auto").await;
    let bobs_own = api.send(&bob, &cid, "b1", "bob was here").await;
    for b in &mut sessions {
        frames_until(b, "conv", "bob was here").await;
    }

    let (status, _) = call(
        &api,
        "DELETE",
        &format!("/api/conversations/{cid}/participants/bob"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 204);
    api.send(&alice, &cid, "a1", "MARKER after removal").await;
    api.send(&alice, &direct, "a2", "sync").await;
    for b in &mut sessions {
        let frames = frames_until(b, "mine", "sync").await;
        assert!(
            frames
                .iter()
                .all(|f| f.header("subscription") != Some("conv")),
            "nothing more on the conversation topic: {frames:?}"
        );
        assert!(frames
            .iter()
            .all(|f| !String::from_utf8_lossy(&f.body).contains("MARKER")));
        let events: Vec<Value> = frames.iter().map(json_of).collect();
        let at = events
            .iter()
            .position(|e| e["type"] == "CONVERSATION_LEFT")
            .expect("CONVERSATION_LEFT");
        let left = &events[at]["payload"];
        assert_eq!(left["conversationId"], cid.as_str());
        assert_eq!(
            (left["removed"].as_bool(), left["by"].as_str()),
            (Some(true), Some("alice"))
        );
        assert_eq!(left["rev"], 2, "the removal's rev");
        assert!(
            events[at + 1..]
                .iter()
                .all(|e| e["payload"]["conversationId"] != cid.as_str()),
            "nothing about the conversation after CONVERSATION_LEFT: {events:?}"
        );
    }
    // Carol sees the system entry, then the conversation without bob.
    let entry = loop {
        let e = c.next_event("conv", "CHAT_MESSAGE").await;
        if e["payload"]["system"].is_object() {
            break e;
        }
    };
    assert_eq!(entry["payload"]["content"], "alice removed bob");
    assert_eq!(
        entry["payload"]["system"],
        json!({"action": "removed", "users": ["bob"]})
    );
    let updated = c.next_event("mine", "CONVERSATION_UPDATED").await;
    assert_eq!(updated["payload"]["rev"], 2);
    assert_eq!(
        updated["payload"]["participants"].as_array().unwrap().len(),
        2
    );

    // Bob can no longer read, write, act or subscribe.
    let on_own = format!(
        "/api/conversations/{cid}/messages/{}",
        bobs_own["id"].as_str().unwrap()
    );
    for (method, path, body) in [
        ("GET", format!("/api/conversations/{cid}"), None),
        ("GET", format!("/api/conversations/{cid}/messages"), None),
        (
            "GET",
            format!("/api/conversations/{cid}/changes?after=0"),
            None,
        ),
        (
            "POST",
            format!("/api/conversations/{cid}/messages"),
            Some(json!({"clientId": "b2", "content": "let me back"})),
        ),
        (
            "PATCH",
            on_own.clone(),
            Some(json!({"content": "edited after"})),
        ),
        ("DELETE", on_own.clone(), None),
        (
            "POST",
            format!("{on_own}/reactions"),
            Some(json!({"emoji": "👍", "on": true})),
        ),
    ] {
        let (status, err) = call(&api, method, &path, &bob, body).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}: {err}"
        );
    }
    let b = &mut sessions[1];
    b.subscribe(dest::USER_ERRORS, "errors", "auto").await;
    let err = b
        .send_refused(
            &dest::send(&cid),
            json!({"clientId": "b3", "content": "x"}).to_string(),
        )
        .await;
    assert_eq!(err["error"], "forbidden");
    let b = &mut sessions[0];
    b.send(
        Frame::new(Command::Subscribe)
            .with_header("destination", &topic)
            .with_header("id", "again"),
    )
    .await;
    let refused = b.expect_error().await;
    assert!(
        refused
            .header("message")
            .unwrap()
            .contains("may not subscribe"),
        "{refused:?}"
    );
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(
        page["messages"][0]["content"], "bob was here",
        "bob's message untouched"
    );

    // Re-added, bob gets everything again, history included.
    let (status, conv) = api
        .post(
            &format!("/api/conversations/{cid}/participants"),
            &alice.token,
            json!({"users": ["bob"]}),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(conv["rev"], 4);
    let b = &mut sessions[1];
    let back = b.next_event("mine", "CONVERSATION_UPDATED").await;
    assert_eq!(back["payload"]["rev"], 4);
    b.subscribe(&topic, "conv2", "auto").await;
    let (status, changes) = call(
        &api,
        "GET",
        &format!("/api/conversations/{cid}/changes?after=0"),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let contents: Vec<&str> = changes["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        [
            "bob was here",
            "alice removed bob",
            "MARKER after removal",
            "alice added bob"
        ]
    );
    api.send(&alice, &cid, "a3", "welcome back").await;
    let m = b.next_event("conv2", "CHAT_MESSAGE").await;
    assert_eq!(m["payload"]["content"], "welcome back");
}

#[tokio::test]
async fn owners_manage_groups_anyone_leaves_and_direct_conversations_refuse_it() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let dave = api.register("dave").await;
    let cid = api.group(&alice, &[&bob, &carol]).await;
    let base = format!("/api/conversations/{cid}");
    // Not the owner: 403, nothing changes.
    for (method, path, body) in [
        ("PATCH", base.clone(), Some(json!({"title": "Bob's"}))),
        (
            "POST",
            format!("{base}/participants"),
            Some(json!({"users": ["dave"]})),
        ),
        ("DELETE", format!("{base}/participants/carol"), None),
    ] {
        let (status, err) = call(&api, method, &path, &bob, body).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}: {err}"
        );
    }
    // Bad input from the owner: 400 / 404 / 409, nothing changes.
    for (method, path, body, status) in [
        ("PATCH", base.clone(), Some(json!({"title": "  "})), 400),
        (
            "PATCH",
            base.clone(),
            Some(json!({"title": "x".repeat(101)})),
            400,
        ),
        (
            "POST",
            format!("{base}/participants"),
            Some(json!({"users": ["ghost"]})),
            404,
        ),
        (
            "POST",
            format!("{base}/participants"),
            Some(json!({"users": ["bob"]})),
            409,
        ),
        ("DELETE", format!("{base}/participants/dave"), None, 404),
        (
            "DELETE",
            format!("{base}/participants/NOT%20A%20NAME"),
            None,
            400,
        ),
    ] {
        let (got, err) = call(&api, method, &path, &alice, body).await;
        assert_eq!(got, status, "{method} {path}: {err}");
    }
    let (_, conv) = call(&api, "GET", &base, &alice, None).await;
    assert_eq!(
        (conv["rev"].as_i64(), conv["title"].as_str()),
        (Some(0), Some("Test group"))
    );

    let (status, renamed) = call(
        &api,
        "PATCH",
        &base,
        &alice,
        Some(json!({"title": " Project X "})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (renamed["title"].as_str(), renamed["rev"].as_i64()),
        (Some("Project X"), Some(1))
    );
    let (status, _) = api
        .post(
            &format!("{base}/participants"),
            &alice.token,
            json!({"users": ["dave", "bob"]}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &api,
        "DELETE",
        &format!("{base}/participants/bob"),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, 204, "anyone leaves");
    let (status, _) = call(
        &api,
        "DELETE",
        &format!("{base}/participants/carol"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, changes) = call(&api, "GET", &format!("{base}/changes"), &dave, None).await;
    let entries: Vec<(String, String, i64, i64)> = changes["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["content"].as_str().unwrap().to_owned(),
                m["system"]["action"].as_str().unwrap().to_owned(),
                m["seq"].as_i64().unwrap(),
                m["rev"].as_i64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("alice renamed the group to Project X", "renamed", 1, 1),
        ("alice added dave", "added", 2, 2),
        ("bob left", "left", 3, 3),
        ("alice removed carol", "removed", 4, 4),
    ];
    assert_eq!(
        entries,
        want.iter()
            .map(|(c, a, s, r)| ((*c).to_owned(), (*a).to_owned(), *s, *r))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        changes["conversation"]["participants"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The owner leaving: the group goes on, nobody manages it.
    let (status, _) = call(
        &api,
        "DELETE",
        &format!("{base}/participants/alice"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &api,
        "PATCH",
        &base,
        &dave,
        Some(json!({"title": "Dave's"})),
    )
    .await;
    assert_eq!(status, 403);
    api.send(&dave, &cid, "d1", "still talking").await;

    // A direct conversation: no leaving, renaming or adding.
    let (_, direct) = api
        .post(
            "/api/conversations",
            &alice.token,
            json!({"kind": "direct", "participants": ["bob"]}),
        )
        .await;
    let d = format!("/api/conversations/{}", direct["id"].as_str().unwrap());
    for (method, path, body) in [
        ("DELETE", format!("{d}/participants/alice"), None),
        ("PATCH", d.clone(), Some(json!({"title": "x"}))),
        (
            "POST",
            format!("{d}/participants"),
            Some(json!({"users": ["carol"]})),
        ),
    ] {
        let (status, err) = call(&api, method, &path, &alice, body).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid")),
            "{method} {path}: {err}"
        );
    }
}
