//! The user directory (`GET /api/users`) and profile changes (`PATCH /api/users/me`, heard
//! as `USER_UPDATED` on `/topic/presence`). Real server on 127.0.0.1:0.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use tidings_proto::dest;
use tidings_testkit::*;

fn ids(page: &Value) -> Vec<&str> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_directory_finds_people_by_id_or_name_and_pages_by_id() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    for (name, display) in [
        ("zoe", "Zoë Ångström"),
        ("bob", "Robert Smith"),
        ("amy", "Amy Pond"),
    ] {
        let (status, body) = api
            .call(
                "POST",
                "/api/auth/register",
                None,
                Some(
                    json!({"username": name, "password": "long-password", "displayName": display}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let t = &alice.token;
    let (status, all) = api.get("/api/users", t).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&all), ["alice", "amy", "bob", "zoe"]);
    assert_eq!(all["hasMore"], false);
    let (_, page) = api.get("/api/users?q=ANG", t).await;
    assert_eq!(ids(&page), ["zoe"], "accents and case ignored, any word");
    let (_, page) = api.get("/api/users?q=a", t).await;
    assert_eq!(ids(&page), ["alice", "amy", "zoe"]);
    let (_, page) = api.get("/api/users?q=bo", t).await;
    assert_eq!(ids(&page), ["bob"], "by id");
    let (_, first) = api.get("/api/users?limit=3", t).await;
    assert_eq!(
        (ids(&first).len(), first["hasMore"].as_bool()),
        (3, Some(true))
    );
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, next) = api
        .get(&format!("/api/users?limit=3&cursor={cursor}"), t)
        .await;
    assert_eq!(ids(&next), ["zoe"]);
    assert!(next.get("nextCursor").is_none());
    for bad in [
        "/api/users?limit=0",
        "/api/users?limit=101",
        "/api/users?cursor=bogus!",
        "/api/users?unknown=1",
    ] {
        let (status, err) = api.get(bad, t).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid")),
            "{bad}: {err}"
        );
    }
    let long = "q".repeat(65);
    let (status, _) = api.get(&format!("/api/users?q={long}"), t).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn changing_ones_display_name_is_heard_and_taken_names_are_refused() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let mut b = Client::signed_in(&server, &bob).await;
    b.subscribe(dest::PRESENCE, "presence", "auto").await;
    let (status, me) = api
        .call(
            "PATCH",
            "/api/users/me",
            Some(&alice.token),
            Some(json!({"displayName": "  Alice Liddell "})),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["displayName"], "Alice Liddell");
    let heard = b.next_event("presence", "USER_UPDATED").await;
    assert_eq!(heard["payload"]["id"], "alice");
    assert_eq!(heard["payload"]["displayName"], "Alice Liddell");
    for (body, status, code) in [
        (json!({"displayName": "BOB"}), 409, "conflict"),
        (json!({"displayName": "\u{200B}"}), 400, "invalid"),
        (json!({"displayName": "x".repeat(65)}), 400, "invalid"),
        (json!({"displayName": "ok", "extra": true}), 400, "invalid"),
    ] {
        let (got, err) = api
            .call(
                "PATCH",
                "/api/users/me",
                Some(&alice.token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (got, err["error"].as_str()),
            (status, Some(code)),
            "{body}: {err}"
        );
    }
    let (_, me) = api.get("/api/users/me", &alice.token).await;
    assert_eq!(
        me["displayName"], "Alice Liddell",
        "unchanged by the refusals"
    );
    let (_, found) = api.get("/api/users?q=lid", &bob.token).await;
    assert_eq!(ids(&found), ["alice"]);
}
