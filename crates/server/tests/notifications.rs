//! The notification centre's server side over real sockets: paging back (`before`), the
//! unread filter, "mark all read" in one request (optionally up to a `seq`), and the
//! `NOTIFICATIONS_READ` news that makes every session of the user converge, for one
//! notification and for all; outsiders and bad input are refused and change nothing.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use tidings_testkit::*;

/// Raises `n` notifications for `users` (service token); answers their ids per user.
async fn raise(api: &Api, users: &[&str], n: usize) {
    for i in 0..n {
        let (status, body) = api
            .post(
                "/api/notifications",
                SERVICE_TOKEN,
                json!({"users": users, "kind": "k", "title": format!("t{i}"), "message": "m"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

fn seqs_read(page: &Value) -> Vec<(i64, bool)> {
    page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["seq"].as_i64().unwrap(), n["isRead"].as_bool().unwrap()))
        .collect()
}

#[tokio::test]
async fn notifications_page_back_and_filter_the_unread() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    raise(&api, &["alice"], 7).await;
    let page = expect_ok(
        api.get("/api/notifications?before=6&limit=3", &alice.token)
            .await,
    );
    assert_eq!(seqs_read(&page), vec![(3, false), (4, false), (5, false)]);
    assert_eq!(page["hasMore"], true);
    let page = expect_ok(
        api.get("/api/notifications?before=3&limit=3", &alice.token)
            .await,
    );
    assert_eq!(seqs_read(&page), vec![(1, false), (2, false)]);
    assert_eq!(page["hasMore"], false);
    let first = expect_ok(api.get("/api/notifications?limit=7", &alice.token).await);
    let id = first["notifications"][1]["id"].as_str().unwrap().to_owned();
    expect_ok(
        api.post(
            &format!("/api/notifications/{id}/read"),
            &alice.token,
            json!({}),
        )
        .await,
    );
    let unread = expect_ok(
        api.get("/api/notifications?unread=true&limit=10", &alice.token)
            .await,
    );
    assert_eq!(
        seqs_read(&unread).iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![1, 3, 4, 5, 6, 7]
    );
    assert_eq!(unread["unreadCount"], 6);
    for bad in [
        "/api/notifications?before=3&after=1",
        "/api/notifications?before=0",
        "/api/notifications?before=x",
        "/api/notifications?unread=maybe",
    ] {
        let (status, body) = api.get(bad, &alice.token).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["message"].is_string(), "{bad}: {body}");
    }
}

#[tokio::test]
async fn mark_all_read_is_one_request_up_to_what_was_shown() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    raise(&api, &["alice", "bob"], 5).await;
    // Up to seq 3 (what the client showed): 4 and 5 stay unread.
    let read = expect_ok(
        api.post(
            "/api/notifications/read-all",
            &alice.token,
            json!({"upTo": 3}),
        )
        .await,
    );
    assert_eq!(read, json!({"upTo": 3, "unreadCount": 2}));
    let page = expect_ok(api.get("/api/notifications", &alice.token).await);
    assert_eq!(
        seqs_read(&page),
        vec![(1, true), (2, true), (3, true), (4, false), (5, false)]
    );
    // No body: everything.
    let (status, read) = api
        .call(
            "POST",
            "/api/notifications/read-all",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, json!({"upTo": 5, "unreadCount": 0}));
    // Bob's own are untouched.
    let page = expect_ok(api.get("/api/notifications", &bob.token).await);
    assert_eq!(page["unreadCount"], 5);
}

#[tokio::test]
async fn mark_all_read_refuses_outsiders_and_bad_input_and_changes_nothing() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    raise(&api, &["alice"], 2).await;
    let (status, body) = api
        .call("POST", "/api/notifications/read-all", None, Some(json!({})))
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = api
        .call(
            "POST",
            "/api/notifications/read-all",
            Some("not-a-token"),
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    for bad in [
        json!({"upTo": -1}),
        json!({"upTo": "all"}),
        json!({"everything": true}),
        json!([1]),
    ] {
        let (status, body) = api
            .post("/api/notifications/read-all", &alice.token, bad.clone())
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["message"].is_string(), "{bad}: {body}");
    }
    let resp = api
        .http
        .post(format!("{}/api/notifications/read-all", api.base))
        .bearer_auth(&alice.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let page = expect_ok(api.get("/api/notifications", &alice.token).await);
    assert_eq!(page["unreadCount"], 2, "nothing was marked: {page}");
}

#[tokio::test]
async fn every_session_of_the_user_hears_what_was_marked_read() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let mut other = Client::signed_in(&server, &alice).await;
    other
        .subscribe("/user/queue/notifications", "n", "auto")
        .await;
    let mut outsider = Client::signed_in(&server, &bob).await;
    outsider
        .subscribe("/user/queue/notifications", "n", "auto")
        .await;
    raise(&api, &["alice"], 3).await;
    for _ in 0..3 {
        other.next_event("n", "NOTIFICATION").await;
    }
    // One, on "this device": the other session learns which one.
    let page = expect_ok(api.get("/api/notifications", &alice.token).await);
    let id = page["notifications"][0]["id"].as_str().unwrap().to_owned();
    expect_ok(
        api.post(
            &format!("/api/notifications/{id}/read"),
            &alice.token,
            json!({}),
        )
        .await,
    );
    let ev = other.next_event("n", "NOTIFICATIONS_READ").await;
    assert_eq!(ev["payload"], json!({"ids": [id], "unreadCount": 2}));
    // Marking it again changes nothing and says nothing.
    expect_ok(
        api.post(
            &format!("/api/notifications/{id}/read"),
            &alice.token,
            json!({}),
        )
        .await,
    );
    // All of them.
    expect_ok(
        api.post("/api/notifications/read-all", &alice.token, json!({}))
            .await,
    );
    let ev = other.next_event("n", "NOTIFICATIONS_READ").await;
    assert_eq!(ev["payload"], json!({"upTo": 3, "unreadCount": 0}));
    // Nothing was left to mark: no news. The barrier proves nothing else arrived.
    expect_ok(
        api.post("/api/notifications/read-all", &alice.token, json!({}))
            .await,
    );
    assert!(other.barrier().await.is_empty());
    assert!(
        outsider.barrier().await.is_empty(),
        "bob hears nothing of alice's"
    );
    // Bob may not mark alice's.
    let (status, body) = api
        .post(
            &format!("/api/notifications/{id}/read"),
            &bob.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}
