//! The REST API and the SSE stream over real sockets: accounts and sessions, every
//! endpoint's refusal of bad tokens and non-participants, history paging and catch-up,
//! notifications, JSON errors for malformed input, and the OpenAPI document.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use tidings_testkit::*;

#[tokio::test]
async fn register_login_refresh_and_logout() {
    let server = Server::chat().await;
    let api = server.api();
    let s = api.register("alice").await;
    let (status, me) = api.get("/api/users/me", &s.token).await;
    assert_eq!(status, 200);
    assert_eq!(me["id"], "alice");
    assert_eq!(me["displayName"], "alice");
    // The access token is what the broker accepts too.
    let mut c = Client::open(&server.url()).await;
    let f = c.connect(&s.token, "0,0").await;
    assert_eq!(f.header("user-name"), Some("alice"));

    let login = |u: &str, p: &str| json!({"username": u, "password": p});
    let (status, body) = api
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(login("alice", "alice-password")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 900);
    assert_eq!(body["user"]["id"], "alice");
    let (status, body) = api
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(login("alice", "wrong-password")),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = api
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(login("nobody", "whatever1")),
        )
        .await;
    assert_eq!(status, 401);

    // Refresh rotates: the old refresh token stops working.
    let (status, fresh) = api
        .call(
            "POST",
            "/api/auth/refresh",
            None,
            Some(json!({"refreshToken": s.refresh})),
        )
        .await;
    assert_eq!(status, 200, "{fresh}");
    assert_ne!(fresh["refreshToken"], s.refresh.as_str());
    let (status, _) = api
        .get("/api/users/me", fresh["accessToken"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            "POST",
            "/api/auth/refresh",
            None,
            Some(json!({"refreshToken": s.refresh})),
        )
        .await;
    // Presented again at once (its answer may have been lost): accepted within the grace
    // period (its end is tested with a clock in tests/store.rs).
    assert_eq!(
        status, 200,
        "a just-used refresh token within the grace period"
    );
    // Logout revokes.
    let rt = fresh["refreshToken"].as_str().unwrap();
    let (status, _) = api
        .call(
            "POST",
            "/api/auth/logout",
            None,
            Some(json!({"refreshToken": rt})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .call(
            "POST",
            "/api/auth/refresh",
            None,
            Some(json!({"refreshToken": rt})),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn registration_refuses_bad_input_and_taken_names_and_keeps_the_account() {
    let server = Server::chat().await;
    let api = server.api();
    let reg = |b: Value| api.call("POST", "/api/auth/register", None, Some(b));
    api.register("alice").await;
    for (body, status) in [
        (
            json!({"username": "alice", "password": "another-pass"}),
            409,
        ),
        (
            json!({"username": "Bad Name", "password": "long-enough"}),
            400,
        ),
        (json!({"username": "bob", "password": "short"}), 400),
        (json!({"username": "bob"}), 400),
        (
            json!({"username": "bob", "password": "long-enough", "extra": 1}),
            400,
        ),
        (
            json!({"username": "bob", "password": "long-enough", "displayName": ""}),
            400,
        ),
    ] {
        let (got, err) = reg(body.clone()).await;
        assert_eq!(got, status, "{body}: {err}");
        assert!(
            err["error"].is_string() && err["message"].is_string(),
            "{err}"
        );
    }
    // The existing account is untouched by the refused attempt.
    let (status, _) = api
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "alice", "password": "alice-password"})),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_username() {
    let server = Server::chat_with(|c| c.auth.login_attempts_per_minute = 3).await;
    let api = server.api();
    api.register("alice").await;
    let bad = json!({"username": "alice", "password": "wrong-password"});
    for _ in 0..3 {
        let (status, _) = api
            .call("POST", "/api/auth/login", None, Some(bad.clone()))
            .await;
        assert_eq!(status, 401);
    }
    let (status, body) = api.call("POST", "/api/auth/login", None, Some(bad)).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("too many login attempts"));
}

#[tokio::test]
async fn every_endpoint_refuses_a_missing_or_bad_token() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    let expired = {
        use jsonwebtoken::{encode, EncodingKey, Header};
        encode(
            &Header::default(),
            &json!({"sub": "alice", "exp": 1000}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let ghost = server.token("ghost");
    let mid = api.send(&alice, &cid, "k0", "hello").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let routes = [
        ("GET", "/api/users/me".to_owned(), None),
        ("GET", "/api/users?q=b".to_owned(), None),
        (
            "PATCH",
            "/api/users/me".to_owned(),
            Some(json!({"displayName": "Eve"})),
        ),
        (
            "PATCH",
            format!("/api/conversations/{cid}"),
            Some(json!({"title": "t"})),
        ),
        (
            "DELETE",
            format!("/api/conversations/{cid}/participants/bob"),
            None,
        ),
        (
            "PATCH",
            format!("/api/conversations/{cid}/messages/{mid}"),
            Some(json!({"content": "x"})),
        ),
        (
            "DELETE",
            format!("/api/conversations/{cid}/messages/{mid}"),
            None,
        ),
        (
            "POST",
            format!("/api/conversations/{cid}/messages/{mid}/reactions"),
            Some(json!({"emoji": "👍", "on": true})),
        ),
        ("GET", format!("/api/conversations/{cid}/changes"), None),
        ("GET", "/api/users/bob".to_owned(), None),
        ("GET", "/api/conversations".to_owned(), None),
        (
            "POST",
            "/api/conversations".to_owned(),
            Some(json!({"kind": "direct", "participants": ["bob"]})),
        ),
        ("GET", format!("/api/conversations/{cid}"), None),
        (
            "POST",
            format!("/api/conversations/{cid}/participants"),
            Some(json!({"users": ["bob"]})),
        ),
        ("GET", format!("/api/conversations/{cid}/messages"), None),
        (
            "POST",
            format!("/api/conversations/{cid}/messages"),
            Some(json!({"clientId": "x", "content": "y"})),
        ),
        (
            "POST",
            format!("/api/conversations/{cid}/read"),
            Some(json!({"upTo": 1})),
        ),
        ("GET", "/api/notifications".to_owned(), None),
        (
            "POST",
            "/api/notifications".to_owned(),
            Some(json!({"users": ["bob"], "title": "t", "message": "m"})),
        ),
        ("POST", "/api/notifications/n_x/read".to_owned(), None),
        ("GET", "/api/notifications/stream".to_owned(), None),
        ("GET", "/api/notifications/stream/alice".to_owned(), None),
        ("GET", "/api/announcements".to_owned(), None),
        (
            "POST",
            "/api/announcements".to_owned(),
            Some(json!({"title": "t", "message": "m"})),
        ),
    ];
    for (method, path, body) in &routes {
        for token in [
            None,
            Some("garbage"),
            Some(expired.as_str()),
            Some(ghost.as_str()),
        ] {
            let (status, err) = api.call(method, path, token, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {err}");
            assert_eq!(err["error"], "unauthorized");
        }
    }
    // Nothing was stored or changed by any of them.
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(page["lastSeq"], 1);
    assert_eq!(page["messages"][0]["content"], "hello");
    assert_eq!(page["messages"][0]["rev"], 1);
    let (_, conv) = api
        .get(&format!("/api/conversations/{cid}"), &alice.token)
        .await;
    assert_eq!(
        (
            conv["rev"].as_i64(),
            conv["participants"].as_array().unwrap().len()
        ),
        (Some(1), 2)
    );
}

#[tokio::test]
async fn every_conversation_endpoint_refuses_a_non_participant() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let mallory = api.register("mallory").await;
    let cid = api.group(&alice, &[&bob]).await;
    let mid = api.send(&alice, &cid, "k", "secret").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = &mallory.token;
    let on_message = format!("/api/conversations/{cid}/messages/{mid}");
    let checks = [
        api.get(&format!("/api/conversations/{cid}/changes"), t)
            .await,
        api.call(
            "PATCH",
            &format!("/api/conversations/{cid}"),
            Some(t),
            Some(json!({"title": "mine"})),
        )
        .await,
        api.call(
            "DELETE",
            &format!("/api/conversations/{cid}/participants/bob"),
            Some(t),
            None,
        )
        .await,
        api.call(
            "DELETE",
            &format!("/api/conversations/{cid}/participants/mallory"),
            Some(t),
            None,
        )
        .await,
        api.call("PATCH", &on_message, Some(t), Some(json!({"content": "x"})))
            .await,
        api.call("DELETE", &on_message, Some(t), None).await,
        api.post(
            &format!("{on_message}/reactions"),
            t,
            json!({"emoji": "👍", "on": true}),
        )
        .await,
        api.get(&format!("/api/conversations/{cid}"), t).await,
        api.get(&format!("/api/conversations/{cid}/messages"), t)
            .await,
        api.get(&format!("/api/conversations/{cid}/messages?after=0"), t)
            .await,
        api.post_message(&mallory, &cid, "m", "hi").await,
        api.post(
            &format!("/api/conversations/{cid}/read"),
            t,
            json!({"upTo": 1}),
        )
        .await,
        api.post(
            &format!("/api/conversations/{cid}/participants"),
            t,
            json!({"users": ["mallory"]}),
        )
        .await,
    ];
    for (status, body) in checks {
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"], "forbidden");
        assert!(!body.to_string().contains("secret"));
    }
    let (_, list) = api.get("/api/conversations", t).await;
    assert_eq!(list["conversations"], json!([]));
    // Nothing changed.
    let (_, conv) = api
        .get(&format!("/api/conversations/{cid}"), &alice.token)
        .await;
    assert_eq!(conv["rev"], 1);
    assert_eq!(conv["title"], "Test group");
    assert_eq!(conv["participants"].as_array().unwrap().len(), 2);
    // Unknown conversations are 404.
    let (status, _) = api.get("/api/conversations/c_nope/messages", t).await;
    assert_eq!(status, 404);
    // A plain user may not notify others.
    let (status, _) = api
        .post(
            "/api/notifications",
            t,
            json!({"users": ["alice"], "title": "t", "message": "m"}),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn conversations_list_unread_counts_and_last_messages() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let (status, direct) = api
        .post(
            "/api/conversations",
            &alice.token,
            json!({"kind": "direct", "participants": ["bob"]}),
        )
        .await;
    assert_eq!(status, 201);
    // The same pair again, from either side: the same conversation.
    let (status, again) = api
        .post(
            "/api/conversations",
            &bob.token,
            json!({"kind": "direct", "participants": ["alice"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], direct["id"]);
    let cid = direct["id"].as_str().unwrap();
    api.post_message(&alice, cid, "1", "one").await;
    api.post_message(&alice, cid, "2", "two").await;
    let (_, list) = api.get("/api/conversations", &bob.token).await;
    let c = &list["conversations"][0];
    assert_eq!(c["unreadCount"], 2);
    assert_eq!(c["lastMessage"]["content"], "two");
    assert_eq!(c["kind"], "direct");
    // The sender has read what it sent.
    let (_, list) = api.get("/api/conversations", &alice.token).await;
    assert_eq!(list["conversations"][0]["unreadCount"], 0);
    // Bad requests.
    for body in [
        json!({"kind": "direct", "participants": ["bob", "carol"]}),
        json!({"kind": "direct", "participants": ["alice"]}),
        json!({"kind": "group", "participants": ["bob"]}),
        json!({"kind": "channel", "participants": ["bob"]}),
        json!({"kind": "group", "title": "t", "participants": []}),
    ] {
        let (status, err) = api
            .post("/api/conversations", &alice.token, body.clone())
            .await;
        assert_eq!(status, 400, "{body}: {err}");
    }
    let (status, err) = api
        .post(
            "/api/conversations",
            &alice.token,
            json!({"kind": "group", "title": "t", "participants": ["nobody"]}),
        )
        .await;
    assert_eq!(status, 404);
    assert!(err["message"].as_str().unwrap().contains("nobody"));
}

#[tokio::test]
async fn history_pages_back_and_catches_up_by_seq() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    for i in 1..=7 {
        let (status, m) = api
            .post_message(&alice, &cid, &format!("k{i}"), &format!("m{i}"))
            .await;
        assert_eq!(status, 201);
        assert_eq!(m["seq"], i);
    }
    let seqs = |v: &Value| -> Vec<i64> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect()
    };
    let path = |q: &str| format!("/api/conversations/{cid}/messages{q}");
    let (_, p) = api.get(&path("?limit=3"), &bob.token).await;
    assert_eq!(
        (seqs(&p), p["hasMore"].as_bool()),
        (vec![5, 6, 7], Some(true))
    );
    let (_, p) = api.get(&path("?before=5&limit=3"), &bob.token).await;
    assert_eq!(
        (seqs(&p), p["hasMore"].as_bool()),
        (vec![2, 3, 4], Some(true))
    );
    let (_, p) = api.get(&path("?before=2&limit=3"), &bob.token).await;
    assert_eq!((seqs(&p), p["hasMore"].as_bool()), (vec![1], Some(false)));
    let (_, p) = api.get(&path("?after=4"), &bob.token).await;
    assert_eq!(
        (seqs(&p), p["hasMore"].as_bool()),
        (vec![5, 6, 7], Some(false))
    );
    let (_, p) = api.get(&path("?after=0&limit=2"), &bob.token).await;
    assert_eq!((seqs(&p), p["hasMore"].as_bool()), (vec![1, 2], Some(true)));
    assert_eq!(p["lastSeq"], 7);
    for q in [
        "?limit=0",
        "?limit=501",
        "?before=3&after=1",
        "?limit=abc",
        "?after=x",
        "?bogus=1",
    ] {
        let (status, err) = api.get(&path(q), &bob.token).await;
        assert_eq!(status, 400, "{q}: {err}");
        assert_eq!(err["error"], "invalid");
    }
}

#[tokio::test]
async fn an_offline_user_catches_up_on_every_message_and_notification_exactly_once() {
    let server = Server::chat_with(|c| c.limits.sends_per_minute = 10_000).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    // Bob saw up to here.
    let (_, p) = api
        .get(&format!("/api/conversations/{cid}/messages"), &bob.token)
        .await;
    let seen = p["lastSeq"].as_i64().unwrap();
    let (_, n) = api.get("/api/notifications", &bob.token).await;
    let seen_n = n["lastSeq"].as_i64().unwrap();
    // A burst while bob is away, over both paths.
    let mut a = Client::signed_in(&server, &alice).await;
    for i in 0..120 {
        if i % 2 == 0 {
            a.send_json(
                &format!("/app/conversations/{cid}/send"),
                json!({"clientId": format!("s{i}"), "content": format!("{i}")}),
            )
            .await;
        } else {
            api.post_message(&alice, &cid, &format!("s{i}"), &format!("{i}"))
                .await;
        }
        if i % 10 == 0 {
            api.post(
                "/api/notifications",
                SERVICE_TOKEN,
                json!({"users": ["bob"], "title": format!("n{i}"), "message": "m"}),
            )
            .await;
        }
    }
    // Catch up page by page.
    let mut got = Vec::new();
    let mut after = seen;
    loop {
        let (_, p) = api
            .get(
                &format!("/api/conversations/{cid}/messages?after={after}&limit=50"),
                &bob.token,
            )
            .await;
        for m in p["messages"].as_array().unwrap() {
            got.push(m["content"].as_str().unwrap().parse::<i64>().unwrap());
            after = m["seq"].as_i64().unwrap();
        }
        if !p["hasMore"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(got, (0..120).collect::<Vec<_>>());
    let mut titles = Vec::new();
    let mut after = seen_n;
    loop {
        let (_, p) = api
            .get(
                &format!("/api/notifications?after={after}&limit=5"),
                &bob.token,
            )
            .await;
        for n in p["notifications"].as_array().unwrap() {
            assert_eq!(n["seq"].as_i64().unwrap(), after + 1, "contiguous");
            titles.push(n["title"].as_str().unwrap().to_owned());
            after = n["seq"].as_i64().unwrap();
        }
        if !p["hasMore"].as_bool().unwrap() {
            break;
        }
    }
    let want: Vec<String> = (0..120).step_by(10).map(|i| format!("n{i}")).collect();
    assert_eq!(titles, want);
}

#[tokio::test]
async fn notifications_are_stored_per_user_and_marked_read() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    api.register("bob").await;
    let (status, created) = api
        .post(
            "/api/notifications",
            SERVICE_TOKEN,
            json!({"users": ["alice", "bob"], "kind": "appointment.moved", "title": "Moved",
                   "message": "Thursday", "url": "https://clinic.example/a/7"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["notifications"].as_array().unwrap().len(), 2);
    // One unknown user: nothing stored for anyone.
    let (status, err) = api
        .post(
            "/api/notifications",
            SERVICE_TOKEN,
            json!({"users": ["alice", "nobody"], "title": "x", "message": "y"}),
        )
        .await;
    assert_eq!(status, 404, "{err}");
    for bad in [
        json!({"users": [], "title": "x", "message": "y"}),
        json!({"users": ["alice"], "title": "", "message": "y"}),
        json!({"users": ["alice"], "title": "x", "message": "y", "url": "javascript:alert(1)"}),
        json!({"users": ["alice"], "title": "x", "message": "y", "kind": "has space"}),
        json!({"users": ["alice"], "title": "x", "message": "y", "data": 8.8e275}),
        json!({"users": ["alice"], "title": "x", "message": "y", "data": {"big": "x".repeat(20_000)}}),
    ] {
        let (status, err) = api
            .post("/api/notifications", SERVICE_TOKEN, bad.clone())
            .await;
        assert_eq!(status, 400, "{bad}: {err}");
    }
    let (_, page) = api.get("/api/notifications", &alice.token).await;
    assert_eq!(page["lastSeq"], 1);
    assert_eq!(page["unreadCount"], 1);
    let n = &page["notifications"][0];
    assert_eq!(n["url"], "https://clinic.example/a/7");
    let id = n["id"].as_str().unwrap();
    let (status, read) = api
        .post(
            &format!("/api/notifications/{id}/read"),
            &alice.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["isRead"], true);
    let (_, page) = api.get("/api/notifications", &alice.token).await;
    assert_eq!(page["unreadCount"], 0);
    // Someone else's notification is not found.
    let (_, bobs) = api
        .get("/api/notifications", &api.register("carol").await.token)
        .await;
    assert_eq!(bobs["notifications"], json!([]));
    let (status, _) = api
        .post(
            "/api/notifications/n_does_not_exist/read",
            &alice.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    // An admin may notify too.
    let (status, _) = api
        .post(
            "/api/notifications",
            &alice.token,
            json!({"users": ["bob"], "title": "x", "message": "y"}),
        )
        .await;
    assert_eq!(status, 403, "alice is no admin");
}

#[tokio::test]
async fn sse_delivers_notifications_live_and_resumes_with_last_event_id() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let notify = |title: &'static str| {
        let api = api.clone();
        async move {
            let (s, b) = api
                .post(
                    "/api/notifications",
                    SERVICE_TOKEN,
                    json!({"users": ["alice"], "title": title, "message": "m"}),
                )
                .await;
            assert_eq!(s, 201, "{b}");
        }
    };
    notify("before").await;
    let (_, mut sse) = Sse::open(&api, "/api/notifications/stream", Some(&alice.token), None).await;
    let sse = sse.as_mut().unwrap();
    let (name, _, data) = sse.next().await;
    assert_eq!(name, "connected");
    assert_eq!(serde_json::from_str::<Value>(&data).unwrap()["lastSeq"], 1);
    notify("live one").await;
    notify("live two").await;
    for (want_id, want_title) in [("2", "live one"), ("3", "live two")] {
        let (name, id, data) = sse.next().await;
        assert_eq!(name, "notification");
        assert_eq!(id.as_deref(), Some(want_id));
        let env: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(env["type"], "NOTIFICATION");
        assert_eq!(env["payload"]["title"], want_title);
    }
    // Reconnect with Last-Event-ID: 1, via ?token= and the userId path: 2 and 3 again, then live.
    let (status, mut again) = Sse::open(
        &api,
        &format!("/api/notifications/stream/alice?token={}", alice.token),
        None,
        Some("1"),
    )
    .await;
    assert_eq!(status, 200);
    let again = again.as_mut().unwrap();
    assert_eq!(again.next().await.0, "connected");
    assert_eq!(again.next().await.1.as_deref(), Some("2"));
    assert_eq!(again.next().await.1.as_deref(), Some("3"));
    notify("after").await;
    let (_, id, data) = again.next().await;
    assert_eq!(id.as_deref(), Some("4"));
    assert!(data.contains("after"));
    // Another user's stream path is refused.
    let bob = api.register("bob").await;
    let (status, _) = Sse::open(
        &api,
        "/api/notifications/stream/alice",
        Some(&bob.token),
        None,
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn sse_streams_per_user_are_limited() {
    let server = Server::chat_with(|c| c.limits.max_sse_streams = 2).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let (_, a) = Sse::open(&api, "/api/notifications/stream", Some(&alice.token), None).await;
    let (_, b) = Sse::open(&api, "/api/notifications/stream", Some(&alice.token), None).await;
    let (status, _) = Sse::open(&api, "/api/notifications/stream", Some(&alice.token), None).await;
    assert_eq!(status, 429);
    drop((a, b));
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let url = format!("{}/api/conversations", api.base);
    let raw = |body: &'static str, ctype: &'static str| {
        api.http
            .post(&url)
            .bearer_auth(&alice.token)
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    for (body, ctype, want) in [
        ("{not json", "application/json", 400),
        ("{}", "text/plain", 400),
        ("[]", "application/json", 400),
    ] {
        let resp = raw(body, ctype).await.unwrap();
        assert_eq!(resp.status().as_u16(), want);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], "invalid", "{v}");
    }
    let huge = "x".repeat(70_000);
    let resp = api
        .http
        .post(&url)
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"kind\":\"group\",\"title\":\"{huge}\",\"participants\":[]}}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "too_large");
    let (status, v) = api.get("/api/nothing-here", &alice.token).await;
    assert_eq!((status, v["error"].as_str()), (404, Some("not_found")));
    // A bad percent-encoding in a path segment.
    let resp = api
        .http
        .get(format!("{}/api/users/%FF", api.base))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let server = Server::chat().await;
    let api = server.api();
    let resp = api
        .http
        .get(format!("{}/api/openapi.json", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/auth/register", &["post"][..]),
        ("/api/auth/login", &["post"]),
        ("/api/auth/refresh", &["post"]),
        ("/api/auth/logout", &["post"]),
        ("/api/users", &["get"]),
        ("/api/users/me", &["get", "patch"]),
        ("/api/users/{id}", &["get"]),
        ("/api/conversations", &["get", "post"]),
        ("/api/conversations/{cid}", &["get", "patch"]),
        ("/api/conversations/{cid}/participants", &["post"]),
        ("/api/conversations/{cid}/participants/{uid}", &["delete"]),
        ("/api/conversations/{cid}/messages", &["get", "post"]),
        (
            "/api/conversations/{cid}/messages/{mid}",
            &["patch", "delete"],
        ),
        (
            "/api/conversations/{cid}/messages/{mid}/reactions",
            &["post"],
        ),
        ("/api/conversations/{cid}/changes", &["get"]),
        ("/api/conversations/{cid}/read", &["post"]),
        ("/api/notifications", &["get", "post"]),
        ("/api/notifications/{id}/read", &["post"]),
        ("/api/notifications/read-all", &["post"]),
        ("/api/notifications/stream", &["get"]),
        ("/api/notifications/stream/{user}", &["get"]),
        ("/api/announcements", &["get", "post"]),
        ("/api/uploads", &["post", "options"]),
        ("/api/uploads/{id}", &["head", "patch", "delete"]),
        ("/api/attachments/{id}", &["get"]),
        ("/api/attachments/{id}/thumbnail", &["get"]),
    ] {
        for m in methods {
            let op = &paths[path][m];
            assert!(op.is_object(), "{m} {path} is missing");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|k| k.starts_with('2')), "{m} {path}");
            // tus discovery (OPTIONS) answers anyone.
            if !path.starts_with("/api/auth/") && *m != "options" {
                assert!(responses.contains_key("401"), "{m} {path} documents 401");
            }
        }
    }
    assert_eq!(
        paths.len(),
        26,
        "no undocumented extra paths: {:?}",
        paths.keys()
    );
    for schema in [
        "Attachment",
        "UploadCreated",
        "Message",
        "ChangePage",
        "UserPage",
        "EditMessage",
        "ReactRequest",
        "UpdateProfile",
        "UpdateConversation",
        "ConversationLeft",
        "NotificationsRead",
        "ReadAllRequest",
        "SystemEntry",
        "Reaction",
        "Notification",
        "Conversation",
        "ErrorBody",
        "Envelope",
        "TokenResponse",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}
