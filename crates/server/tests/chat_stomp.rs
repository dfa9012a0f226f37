//! The chat domain over STOMP, as a Spring front end uses it: `/app/conversations/{cid}/…`
//! with receipts, `/user/queue/messages`, `/topic/conversations/{cid}`, read receipts,
//! typing, presence and notifications with client acknowledgement. Real server on
//! 127.0.0.1:0, real SQLite file.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::collections::BTreeSet;
use tidings_stomp::{Command, Frame};
use tidings_testkit::*;

async fn two_users(server: &Server) -> (Api, TestUser, TestUser, String) {
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    (api, alice, bob, cid)
}

#[tokio::test]
async fn a_message_sent_with_a_receipt_is_stored_then_reaches_both_destinations() {
    let server = Server::chat().await;
    let (api, alice, bob, cid) = two_users(&server).await;
    let mut b = Client::signed_in(&server, &bob).await;
    b.subscribe("/user/queue/messages", "mine", "auto").await;
    b.subscribe(&format!("/topic/conversations/{cid}"), "conv", "auto")
        .await;
    let mut a = Client::signed_in(&server, &alice).await;
    a.subscribe("/user/queue/errors", "errors", "auto").await;
    a.send_json(
        &format!("/app/conversations/{cid}/send"),
        json!({"clientId": "k1", "content": "Hello Bob", "contentType": "TEXT"}),
    )
    .await;
    assert!(
        a.stash
            .iter()
            .all(|f| f.header("subscription") != Some("errors")),
        "{:?}",
        a.stash
    );
    // The RECEIPT means stored: history has it now.
    let (status, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["messages"][0]["content"], "Hello Bob");
    assert_eq!(page["messages"][0]["seq"], 1);
    for sub in ["mine", "conv"] {
        let env = b.next_event(sub, "CHAT_MESSAGE").await;
        assert_eq!(env["senderId"], "alice");
        assert_eq!(env["payload"]["content"], "Hello Bob");
        assert_eq!(env["payload"]["seq"], 1);
        assert_eq!(env["payload"]["conversationId"], cid.as_str());
        assert_eq!(env["payload"]["clientId"], "k1");
        assert!(env["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn eight_concurrent_senders_get_every_seq_exactly_once() {
    let server = Server::chat_with(|c| c.limits.sends_per_minute = 10_000).await;
    let api = server.api();
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(api.register(&format!("user{i}")).await);
    }
    let others: Vec<&TestUser> = users[1..].iter().collect();
    let cid = api.group(&users[0], &others).await;
    const EACH: usize = 25;
    let mut tasks = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let url = server.url();
        let token = u.token.clone();
        let cid = cid.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::open(&url).await;
            c.connect(&token, "0,0").await;
            for n in 0..EACH {
                c.send_json(
                    &format!("/app/conversations/{cid}/send"),
                    json!({"clientId": format!("u{i}-{n}"), "content": format!("{i}/{n}")}),
                )
                .await;
            }
            assert!(c.stash.is_empty(), "{:?}", c.stash);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, page) = api
        .get(
            &format!("/api/conversations/{cid}/messages?after=0&limit=500"),
            &users[0].token,
        )
        .await;
    let msgs = page["messages"].as_array().unwrap();
    let seqs: Vec<i64> = msgs.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    let n = 8 * EACH;
    assert_eq!(seqs, (1..=n as i64).collect::<Vec<_>>());
    let keys: BTreeSet<&str> = msgs
        .iter()
        .map(|m| m["clientId"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), n, "every message stored once");
    assert_eq!(page["lastSeq"], n);
}

#[tokio::test]
async fn messages_reach_subscribers_in_seq_order_under_concurrent_senders() {
    let server = Server::chat_with(|c| c.limits.sends_per_minute = 10_000).await;
    let (api, alice, bob, cid) = two_users(&server).await;
    let carol = api.register("carol").await;
    api.post(
        &format!("/api/conversations/{cid}/participants"),
        &alice.token,
        json!({"users": ["carol"]}),
    )
    .await;
    let mut watcher = Client::signed_in(&server, &carol).await;
    watcher
        .subscribe(&format!("/topic/conversations/{cid}"), "conv", "auto")
        .await;
    let mut tasks = Vec::new();
    for who in [alice.clone(), bob.clone()] {
        let url = server.url();
        let cid = cid.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::open(&url).await;
            c.connect(&who.token, "0,0").await;
            for n in 0..30 {
                c.send_json(
                    &format!("/app/conversations/{cid}/send"),
                    json!({"clientId": format!("{}-{n}", who.name), "content": "x"}),
                )
                .await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Seq 1 is the system entry "… added carol", before carol subscribed.
    let mut seqs = Vec::new();
    while seqs.len() < 60 {
        let env = watcher.next_event("conv", "CHAT_MESSAGE").await;
        seqs.push(env["payload"]["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, (2..=61).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_same_client_id_over_stomp_and_rest_stores_one_message() {
    let server = Server::chat().await;
    let (api, alice, _bob, cid) = two_users(&server).await;
    let mut a = Client::signed_in(&server, &alice).await;
    a.subscribe("/user/queue/messages", "mine", "auto").await;
    a.send_json(
        &format!("/app/conversations/{cid}/send"),
        json!({"clientId": "same-key", "content": "once"}),
    )
    .await;
    let first = a.next_event("mine", "CHAT_MESSAGE").await;
    // Again over STOMP: answered with the stored message on the sender's queue.
    a.send_json(
        &format!("/app/conversations/{cid}/send"),
        json!({"clientId": "same-key", "content": "once"}),
    )
    .await;
    let again = a.next_event("mine", "CHAT_MESSAGE").await;
    assert_eq!(again["payload"], first["payload"]);
    // And over REST: 200 (not 201) with the same message.
    let (status, msg) = api.post_message(&alice, &cid, "same-key", "once").await;
    assert_eq!(status, 200, "{msg}");
    assert_eq!(msg, first["payload"]);
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    assert_eq!(page["lastSeq"], 1);
    // A key first used over REST, repeated over STOMP, also stores once.
    let (status, rest) = api.post_message(&alice, &cid, "rest-first", "two").await;
    assert_eq!(status, 201);
    a.send_json(
        &format!("/app/conversations/{cid}/send"),
        json!({"clientId": "rest-first", "content": "two"}),
    )
    .await;
    loop {
        let env = a.next_event("mine", "CHAT_MESSAGE").await;
        if env["payload"]["clientId"] == "rest-first" && env["payload"]["seq"] == rest["seq"] {
            break;
        }
    }
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(page["lastSeq"], 2);
}

#[tokio::test]
async fn invalid_sends_are_reported_on_the_error_queue_and_store_nothing() {
    let server = Server::chat().await;
    let (api, alice, _bob, cid) = two_users(&server).await;
    let mallory = api.register("mallory").await;
    let mut a = Client::signed_in(&server, &alice).await;
    a.subscribe("/user/queue/errors", "errors", "auto").await;
    let long = "x".repeat(4001);
    let cases = [
        (
            format!("/app/conversations/{cid}/send"),
            "not json".to_owned(),
            "invalid",
        ),
        (
            format!("/app/conversations/{cid}/send"),
            json!({"clientId": "a", "content": ""}).to_string(),
            "invalid",
        ),
        (
            format!("/app/conversations/{cid}/send"),
            json!({"clientId": "b", "content": long}).to_string(),
            "invalid",
        ),
        (
            format!("/app/conversations/{cid}/send"),
            json!({"clientId": "c", "content": "hi", "contentType": "VIDEO"}).to_string(),
            "invalid",
        ),
        (
            "/app/conversations/c_nope/send".to_owned(),
            json!({"clientId": "d", "content": "hi"}).to_string(),
            "not_found",
        ),
        (
            format!("/app/conversations/{cid}/dance"),
            "{}".to_owned(),
            "unknown_destination",
        ),
    ];
    for (dest, body, kind) in cases {
        let err = a.send_refused(&dest, body).await;
        assert_eq!(err["error"], kind, "{dest}: {err}");
        assert!(!err["message"].as_str().unwrap().is_empty());
    }
    // A non-participant: refused on every destination, nothing stored or changed.
    let mut m = Client::signed_in(&server, &mallory).await;
    m.subscribe("/user/queue/errors", "errors", "auto").await;
    let err = m
        .send_refused(
            &format!("/app/conversations/{cid}/send"),
            json!({"clientId": "m1", "content": "let me in"}).to_string(),
        )
        .await;
    assert_eq!(err["error"], "forbidden");
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(page["lastSeq"], 0, "nothing was stored");
    let own = api.send(&alice, &cid, "own", "alice's").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (dest, body) in [
        (
            tidings_proto::dest::edit(&cid, &own),
            json!({"content": "mallory was here"}),
        ),
        (tidings_proto::dest::delete(&cid, &own), json!({})),
        (
            tidings_proto::dest::react(&cid, &own),
            json!({"emoji": "👍", "on": true}),
        ),
    ] {
        let err = m.send_refused(&dest, body.to_string()).await;
        assert_eq!(err["error"], "forbidden", "{dest}: {err}");
    }
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(page["messages"][0]["content"], "alice's");
    assert_eq!(page["messages"][0]["rev"], 1);
    assert!(page["messages"][0].get("reactions").is_none());
    // Still connected and working.
    a.send_json(
        &format!("/app/conversations/{cid}/send"),
        json!({"clientId": "ok", "content": "fine"}),
    )
    .await;
    let (_, page) = api
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(page["lastSeq"], 2);
}

#[tokio::test]
async fn only_participants_may_subscribe_to_a_conversation_topic() {
    let server = Server::chat().await;
    let (api, alice, _bob, cid) = two_users(&server).await;
    let mallory = api.register("mallory").await;
    for dest in [
        format!("/topic/conversations/{cid}"),
        format!("/topic/conversations/{cid}/deeper"),
        "/topic/conversations/c_unknown".to_owned(),
    ] {
        let mut m = Client::signed_in(&server, &mallory).await;
        m.send(
            Frame::new(Command::Subscribe)
                .with_header("destination", &dest)
                .with_header("id", "s"),
        )
        .await;
        let err = m.expect_error().await;
        assert!(
            err.header("message").unwrap().contains("may not subscribe")
                || err
                    .header("message")
                    .unwrap()
                    .contains("unknown destination"),
            "{dest}: {err:?}"
        );
    }
    // Another user's queue is refused too.
    let mut m = Client::signed_in(&server, &mallory).await;
    m.send(
        Frame::new(Command::Subscribe)
            .with_header("destination", "/user/alice/queue/messages")
            .with_header("id", "s"),
    )
    .await;
    m.expect_error().await;
    // Mallory hears nothing of alice's conversation; alice may subscribe.
    let mut a = Client::signed_in(&server, &alice).await;
    a.subscribe(&format!("/topic/conversations/{cid}"), "conv", "auto")
        .await;
    assert!(a.barrier().await.is_empty());
}

#[tokio::test]
async fn read_markers_move_forward_only_and_reach_others_and_the_readers_other_sessions() {
    let server = Server::chat().await;
    let (api, alice, bob, cid) = two_users(&server).await;
    for i in 0..3 {
        api.post_message(&alice, &cid, &format!("k{i}"), "hi").await;
    }
    let mut a = Client::signed_in(&server, &alice).await;
    a.subscribe(&format!("/topic/conversations/{cid}"), "conv", "auto")
        .await;
    let mut b_phone = Client::signed_in(&server, &bob).await;
    b_phone
        .subscribe("/user/queue/messages", "mine", "auto")
        .await;
    let mut b_desk = Client::signed_in(&server, &bob).await;
    let (_, list) = api.get("/api/conversations", &bob.token).await;
    assert_eq!(list["conversations"][0]["unreadCount"], 3);
    b_desk
        .send_json(
            &format!("/app/conversations/{cid}/read"),
            json!({"upTo": 2}),
        )
        .await;
    let r = a.next_event("conv", "READ_RECEIPT").await;
    assert_eq!(r["payload"]["userId"], "bob");
    assert_eq!(r["payload"]["upTo"], 2);
    let own = b_phone.next_event("mine", "READ_RECEIPT").await;
    assert_eq!(own["payload"]["upTo"], 2);
    assert_eq!(own["payload"]["unreadCount"], 1);
    // Backwards does nothing; past the end is capped.
    let (status, state) = api
        .post(
            &format!("/api/conversations/{cid}/read"),
            &bob.token,
            json!({"upTo": 1}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(state["readSeq"], 2);
    let (_, state) = api
        .post(
            &format!("/api/conversations/{cid}/read"),
            &bob.token,
            json!({"upTo": 99}),
        )
        .await;
    assert_eq!(state["readSeq"], 3);
    assert_eq!(state["unreadCount"], 0);
    let (_, list) = api.get("/api/conversations", &bob.token).await;
    assert_eq!(list["conversations"][0]["unreadCount"], 0);
    assert_eq!(list["conversations"][0]["participants"][1]["readSeq"], 3);
    // Survives a restart.
    drop((a, b_phone, b_desk));
    let dir = server.stop().await.expect("it owns its data directory");
    let server = Server::chat_in(dir, |_| {}).await;
    let (_, list) = server.api().get("/api/conversations", &bob.token).await;
    assert_eq!(list["conversations"][0]["readSeq"], 3);
    assert_eq!(list["conversations"][0]["unreadCount"], 0);
}

#[tokio::test]
async fn typing_reaches_the_conversation_and_lapses_by_itself() {
    let server = Server::chat_with(|c| c.limits.typing_ttl_ms = 300).await;
    let (_api, alice, bob, cid) = two_users(&server).await;
    let mut b = Client::signed_in(&server, &bob).await;
    b.subscribe(&format!("/topic/conversations/{cid}"), "conv", "auto")
        .await;
    let mut a = Client::signed_in(&server, &alice).await;
    a.send_json(
        &format!("/app/conversations/{cid}/typing"),
        json!({"typing": true}),
    )
    .await;
    let t = b.next_event("conv", "TYPING").await;
    assert_eq!(t["payload"]["userId"], "alice");
    assert_eq!(t["payload"]["typing"], true);
    assert_eq!(t["payload"]["expiresInMs"], 300);
    // No stop is sent: the server sends it when the indicator lapses.
    let t = b.next_event("conv", "TYPING").await;
    assert_eq!(t["payload"]["typing"], false);
    // An explicit stop.
    a.send_json(
        &format!("/app/conversations/{cid}/typing"),
        json!({"typing": true}),
    )
    .await;
    a.send_json(
        &format!("/app/conversations/{cid}/typing"),
        json!({"typing": false}),
    )
    .await;
    assert_eq!(
        b.next_event("conv", "TYPING").await["payload"]["typing"],
        true
    );
    assert_eq!(
        b.next_event("conv", "TYPING").await["payload"]["typing"],
        false
    );
    // Typing nothing is stored.
    let (_, page) = server
        .api()
        .get(&format!("/api/conversations/{cid}/messages"), &alice.token)
        .await;
    assert_eq!(page["lastSeq"], 0);
}

#[tokio::test]
async fn presence_is_online_while_any_session_is_connected() {
    let server = Server::chat().await;
    let (api, alice, bob, _cid) = two_users(&server).await;
    let mut watcher = Client::signed_in(&server, &alice).await;
    watcher.subscribe("/topic/presence", "p", "auto").await;
    let tab1 = Client::signed_in(&server, &bob).await;
    let p = watcher.next_event("p", "PRESENCE").await;
    assert_eq!(p["payload"], json!({"userId": "bob", "online": true}));
    let (_, me) = api.get("/api/users/bob", &alice.token).await;
    assert_eq!(me["online"], true);
    let mut tab2 = Client::signed_in(&server, &bob).await;
    drop(tab1);
    // Still online: tab2 remains. A round trip on tab2 proves tab1's close was handled
    // before we look.
    tab2.barrier().await;
    let (_, list) = api.get("/api/conversations", &alice.token).await;
    let bob_p = list["conversations"][0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "bob")
        .cloned()
        .unwrap();
    assert_eq!(bob_p["online"], true);
    drop(tab2);
    let p = watcher.next_event("p", "PRESENCE").await;
    assert_eq!(p["payload"], json!({"userId": "bob", "online": false}));
}

#[tokio::test]
async fn notifications_with_client_ack_are_redelivered_until_acknowledged() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let mut a = Client::signed_in(&server, &alice).await;
    a.subscribe("/user/queue/notifications", "n", "client-individual")
        .await;
    let (status, created) = api
        .post(
            "/api/notifications",
            SERVICE_TOKEN,
            json!({"users": ["alice"], "kind": "appointment.moved",
                   "title": "Appointment moved", "message": "Now Thursday 10:30",
                   "data": {"appointmentId": 7}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let f = a.next_message().await;
    let env: serde_json::Value = serde_json::from_slice(&f.body).unwrap();
    assert_eq!(env["type"], "NOTIFICATION");
    assert_eq!(env["payload"]["title"], "Appointment moved");
    assert_eq!(env["payload"]["seq"], 1);
    assert_eq!(env["payload"]["data"]["appointmentId"], 7);
    assert!(f.header("ack").is_some());
    // Not acknowledged: the next session gets it again.
    drop(a);
    let mut a2 = Client::signed_in(&server, &alice).await;
    a2.subscribe("/user/queue/notifications", "n", "client-individual")
        .await;
    let again = a2.next_message().await;
    assert_eq!(again.header("redelivered"), Some("true"));
    let env2: serde_json::Value = serde_json::from_slice(&again.body).unwrap();
    assert_eq!(env2["payload"]["id"], env["payload"]["id"]);
    let ack = again.header("ack").unwrap().to_owned();
    a2.send_with_receipt(Frame::new(Command::Ack).with_header("id", &ack))
        .await;
    drop(a2);
    let mut a3 = Client::signed_in(&server, &alice).await;
    a3.subscribe("/user/queue/notifications", "n", "client-individual")
        .await;
    assert!(
        a3.barrier().await.is_empty(),
        "acknowledged: not redelivered"
    );
}

#[tokio::test]
async fn announcements_go_to_the_announcement_topic() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let mut a = Client::signed_in(&server, &alice).await;
    a.subscribe("/topic/announcements", "ann", "auto").await;
    let (status, body) = api
        .post(
            "/api/announcements",
            &alice.token,
            json!({"title": "t", "message": "m"}),
        )
        .await;
    assert_eq!(status, 403, "a plain user may not announce: {body}");
    let (status, body) = api
        .post(
            "/api/announcements",
            SERVICE_TOKEN,
            json!({"title": "Maintenance", "message": "Tonight 22:00-23:00"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let env = a.next_event("ann", "ANNOUNCEMENT").await;
    assert_eq!(env["payload"]["title"], "Maintenance");
    let (_, page) = api.get("/api/announcements?after=0", &alice.token).await;
    assert_eq!(page["announcements"][0]["message"], "Tonight 22:00-23:00");
    // Clients cannot publish there themselves.
    a.subscribe("/user/queue/errors", "errors", "auto").await;
    let err = a.send_refused("/topic/announcements", "fake").await;
    assert_eq!(err["error"], "forbidden");
}

#[tokio::test]
async fn being_added_to_a_conversation_raises_a_notification_and_an_update() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let mut b = Client::signed_in(&server, &bob).await;
    b.subscribe("/user/queue/notifications", "n", "auto").await;
    b.subscribe("/user/queue/messages", "m", "auto").await;
    let cid = api.group(&alice, &[&bob]).await;
    let n = b.next_event("n", "NOTIFICATION").await;
    assert_eq!(n["payload"]["kind"], "conversation.added");
    assert_eq!(n["payload"]["conversationId"], cid.as_str());
    let u = b.next_event("m", "CONVERSATION_UPDATED").await;
    assert_eq!(u["payload"]["id"], cid.as_str());
    assert_eq!(u["payload"]["participants"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn chat_destinations_refuse_bad_tokens() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let other = tidings_server::auth::Authenticator::hs256(b"some-other-secret-123", 0)
        .mint("alice", &[], 60)
        .unwrap();
    for (token, want) in [
        ("garbage", "malformed"),
        (other.as_str(), "signature is invalid"),
    ] {
        let mut c = Client::open(&server.url()).await;
        let f = c.connect(token, "0,0").await;
        assert_eq!(f.command, Command::Error);
        assert!(f.header("message").unwrap().contains(want), "{f:?}");
    }
    // A refresh token is not an access token.
    let mut c = Client::open(&server.url()).await;
    let f = c.connect(&alice.refresh, "0,0").await;
    assert_eq!(f.command, Command::Error);
}
