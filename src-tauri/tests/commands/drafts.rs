//! Drafts and where the user was, under the mock runtime against a real server: what the
//! composer and the timeline keep as the user types and scrolls, sending clearing the
//! draft, and the refusals.

use super::{call, shell, until};
use serde_json::json;
use tidings_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_and_places_are_kept_per_conversation_and_sending_clears_the_draft() {
    let data = TempDir::new("shell-drafts");
    let server = Server::start(data.path(), None, |_| {}).await;
    let api = server.api();
    api.register("alice").await;
    api.register("bob").await;
    let s = shell();
    // Signed out: a sentence, nothing kept.
    let err = call(
        &s,
        "save_draft",
        json!({"conversation": "c", "text": "x", "replyTo": null}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "not_signed_in", "{err}");
    call(&s, "sign_in", json!({"server": server.http(), "username": "alice", "password": "alice-password", "register": false})).unwrap();
    until(&s, "engine_state", json!({}), "live", |v| {
        v["state"] == "live"
    })
    .await;
    let direct = call(
        &s,
        "create_conversation",
        json!({"title": null, "participants": ["bob"], "group": false}),
    )
    .unwrap();
    let cid = direct["id"].as_str().unwrap().to_owned();

    assert_eq!(call(&s, "drafts", json!({})).unwrap(), json!([]));
    let kept = call(
        &s,
        "save_draft",
        json!({"conversation": cid, "text": "half a thought", "replyTo": null}),
    )
    .unwrap();
    assert_eq!(kept, true);
    call(
        &s,
        "save_draft",
        json!({"conversation": "other", "text": "elsewhere", "replyTo": "m1"}),
    )
    .unwrap();
    let all = call(&s, "drafts", json!({})).unwrap();
    let mine = all
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["conversationId"] == cid.as_str())
        .unwrap();
    assert_eq!(mine["text"], "half a thought", "{all}");
    assert_eq!(mine["replyTo"], serde_json::Value::Null);

    // Too long: refused with a sentence, the draft before kept.
    let long = "x".repeat(100_001);
    let err = call(
        &s,
        "save_draft",
        json!({"conversation": cid, "text": long, "replyTo": null}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "invalid", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("too long"),
        "{err}"
    );
    let all = call(&s, "drafts", json!({})).unwrap();
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|d| d["text"] == "half a thought"),
        "{all}"
    );

    // Sending clears this conversation's draft, not the other's.
    call(&s, "send_message", json!({"conversation": cid, "text": "the whole thought", "contentType": "TEXT", "replyTo": null, "mentions": []})).unwrap();
    let all = call(&s, "drafts", json!({})).unwrap();
    let left: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["conversationId"].clone())
        .collect();
    assert_eq!(left, vec![json!("other")], "{all}");

    // The open conversation and a scroll place.
    assert_eq!(
        call(&s, "last_open", json!({})).unwrap(),
        serde_json::Value::Null
    );
    call(&s, "set_last_open", json!({"conversation": cid})).unwrap();
    assert_eq!(call(&s, "last_open", json!({})).unwrap(), json!(cid));
    call(
        &s,
        "set_scroll_anchor",
        json!({"conversation": cid, "anchor": {"seq": 3, "offset": -20}}),
    )
    .unwrap();
    assert_eq!(
        call(&s, "scroll_anchor", json!({"conversation": cid})).unwrap(),
        json!({"seq": 3, "offset": -20})
    );
    let err = call(
        &s,
        "set_scroll_anchor",
        json!({"conversation": cid, "anchor": {"seq": "three"}}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("anchor"), "{err}");
    assert_eq!(
        call(&s, "scroll_anchor", json!({"conversation": cid})).unwrap(),
        json!({"seq": 3, "offset": -20})
    );
    call(
        &s,
        "set_scroll_anchor",
        json!({"conversation": cid, "anchor": null}),
    )
    .unwrap();
    assert_eq!(
        call(&s, "scroll_anchor", json!({"conversation": cid})).unwrap(),
        serde_json::Value::Null
    );
}
