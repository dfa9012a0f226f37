//! Hostile use of the chat API (issue 12, item 7): a script creating groups or adding
//! people as fast as it can, oversize participant lists, and the conversation list paged
//! while activity reorders it. Real server on 127.0.0.1:0, real SQLite files.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Instant;
use tidings_proto::Timestamp;
use tidings_server::store::UserRecord;
use tidings_testkit::*;

/// Accounts straight in the store: no password hashing, so many are cheap.
async fn accounts(server: &Server, names: &[String]) {
    for n in names {
        server
            .state
            .chat()
            .store
            .create_user(UserRecord {
                name: n.clone(),
                display_name: n.clone(),
                password_hash: None,
                roles: Vec::new(),
                created_at: Timestamp::now(),
            })
            .await
            .unwrap();
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Every page of `who`'s conversation list, `limit` at a time (none: the default), calling
/// `between` after each page but the last. Returns the ids in the order served and the
/// number of pages.
async fn page_all(
    api: &Api,
    who: &TestUser,
    limit: Option<u32>,
    mut between: impl AsyncFnMut(usize),
) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for page_no in 0..10_000 {
        let mut path = "/api/conversations?".to_owned();
        if let Some(l) = limit {
            path.push_str(&format!("limit={l}&"));
        }
        if let Some(c) = &cursor {
            path.push_str(&format!("cursor={c}"));
        }
        let (status, body) = api.get(&path, &who.token).await;
        assert_eq!(status, 200, "{path}: {body}");
        let page = body["conversations"].as_array().unwrap();
        ids.extend(page.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        if body["hasMore"] != true {
            assert!(body.get("nextCursor").is_none(), "{body}");
            return (ids, page_no + 1);
        }
        assert_eq!(
            page.len(),
            limit.unwrap_or(100) as usize,
            "a page before the last is full"
        );
        cursor = Some(body["nextCursor"].as_str().unwrap().to_owned());
        between(page_no).await;
    }
    panic!("the list never ended");
}

async fn unread_notifications(api: &Api, who: &TestUser) -> i64 {
    let (status, body) = api.get("/api/notifications", &who.token).await;
    assert_eq!(status, 200, "{body}");
    body["unreadCount"].as_i64().unwrap()
}

fn assert_refusal(status: u16, body: &Value, want_status: u16, code: &str, words: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(words), "{message}");
}

#[tokio::test]
async fn a_script_creating_groups_is_refused_after_its_hourly_budget_and_nothing_more_is_stored() {
    // The defaults: 100 conversations per user per hour.
    let server = Server::chat().await;
    let api = server.api();
    let mallory = api.register("mallory").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let started = Instant::now();
    let (mut created, mut refused) = (0usize, 0usize);
    // Before the fix all 300 were created (each notifying bob and carol).
    for i in 0..300 {
        let (status, body) = api
            .post(
                "/api/conversations",
                &mallory.token,
                json!({"kind": "group", "title": format!("spam {i}"), "participants": ["bob", "carol"]}),
            )
            .await;
        if status == 201 {
            assert_eq!(refused, 0, "created after a refusal: {body}");
            created += 1;
        } else {
            assert_refusal(status, &body, 429, "rate_limited", "100 per hour");
            refused += 1;
        }
    }
    // The bucket refills one conversation every 36 s; a slow run may earn a few.
    let earned = (started.elapsed().as_secs() / 36) as usize + 1;
    assert!(
        (100..=100 + earned).contains(&created),
        "{created} created, {refused} refused"
    );
    // Nothing past the budget was stored or notified.
    let (listed, _) = page_all(&api, &bob, Some(500), async |_| {}).await;
    assert_eq!(listed.len(), created);
    assert_eq!(unread_notifications(&api, &bob).await, created as i64);
    assert_eq!(unread_notifications(&api, &carol).await, created as i64);
    // Others keep their own budgets.
    let (status, body) = api
        .post(
            "/api/conversations",
            &bob.token,
            json!({"kind": "direct", "participants": ["carol"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let metrics = server.state.metrics.render();
    assert!(
        metrics.contains(&format!("kind=\"conversations_rate_limited\"}} {refused}")),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_script_adding_people_is_refused_after_its_hourly_budget() {
    let server = Server::chat_with(|c| c.limits.participants_added_per_hour = 30).await;
    let api = server.api();
    let mallory = api.register("mallory").await;
    let bob = api.register("bob").await;
    let people = names("p", 40);
    accounts(&server, &people).await;
    let cid = api.group(&mallory, &[&bob]).await; // 1 of 30
    let path = format!("/api/conversations/{cid}/participants");
    let add = |users: &[String]| api.post(&path, &mallory.token, json!({ "users": users }));
    let (status, body) = add(&people[..20]).await;
    assert_eq!(status, 200, "{body}");
    // 9 left: 10 is too many, and none of them is added.
    let (status, body) = add(&people[20..30]).await;
    assert_refusal(status, &body, 429, "rate_limited", "30 per hour");
    let (_, conv) = api
        .get(&format!("/api/conversations/{cid}"), &mallory.token)
        .await;
    assert_eq!(conv["participants"].as_array().unwrap().len(), 22);
    // Creating a group spends the same budget.
    let (status, body) = api
        .post(
            "/api/conversations",
            &mallory.token,
            json!({"kind": "group", "title": "more", "participants": people[20..30]}),
        )
        .await;
    assert_refusal(status, &body, 429, "rate_limited", "participants");
    let (status, body) = add(&people[20..29]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["participants"].as_array().unwrap().len(), 31);
    assert!(server
        .state
        .metrics
        .render()
        .contains("kind=\"participants_rate_limited\""));
}

#[tokio::test]
async fn an_oversize_participant_list_is_refused_and_stores_nothing() {
    let server = Server::chat_with(|c| c.limits.max_group_size = 150).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let people = names("u", 160);
    accounts(&server, &people).await;
    // Before the fix a request could name 1,000 users.
    let (status, body) = api
        .post(
            "/api/conversations",
            &alice.token,
            json!({"kind": "group", "title": "everyone", "participants": people[..101]}),
        )
        .await;
    assert_refusal(status, &body, 400, "invalid", "at most 100");
    let (listed, _) = page_all(&api, &alice, None, async |_| {}).await;
    assert!(listed.is_empty(), "{listed:?}");
    let (status, body) = api
        .post(
            "/api/conversations",
            &alice.token,
            json!({"kind": "group", "title": "a hundred", "participants": people[..100]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let cid = body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/conversations/{cid}/participants");
    let add = |users: &[String]| api.post(&path, &alice.token, json!({ "users": users }));
    let (status, body) = add(&people[..101]).await;
    assert_refusal(status, &body, 400, "invalid", "at most 100");
    // 101 participants; 50 more would pass the group limit of 150: nobody is added.
    let (status, body) = add(&people[100..150]).await;
    assert_refusal(status, &body, 409, "conflict", "limit of 150");
    let (_, conv) = api
        .get(&format!("/api/conversations/{cid}"), &alice.token)
        .await;
    assert_eq!(conv["participants"].as_array().unwrap().len(), 101);
    let (status, body) = api.get("/api/notifications", &server.token("u120")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["notifications"], json!([]), "u120 was never added");
    let (status, body) = add(&people[100..149]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["participants"].as_array().unwrap().len(), 150);
    let metrics = server.state.metrics.render();
    for kind in ["too_many_participants", "group_full"] {
        assert!(metrics.contains(&format!("kind=\"{kind}\"")), "{metrics}");
    }
}

#[tokio::test]
async fn paging_gives_every_conversation_exactly_once_also_while_activity_reorders_them() {
    let server = Server::chat_with(|c| c.limits.sends_per_minute = 100_000).await;
    let api = server.api();
    let bob = api.register("bob").await;
    // Two creators: 105 conversations stay within each one's hourly budget.
    let alice = api.register("alice").await;
    let carol = api.register("carol").await;
    let mut all = Vec::new();
    for i in 0..105 {
        let creator = if i % 2 == 0 { &alice } else { &carol };
        all.push(api.group(creator, &[&bob]).await);
    }
    // The default page is 100, newest activity first.
    let (whole, pages) = page_all(&api, &bob, None, async |_| {}).await;
    assert_eq!(pages, 2);
    assert_eq!(whole.len(), 105);
    assert_eq!(
        whole.iter().collect::<HashSet<_>>(),
        all.iter().collect::<HashSet<_>>(),
        "each exactly once"
    );
    // Small pages, and between pages a message in a conversation not served yet (it jumps
    // to the top of the list) and in one already served.
    let order = whole.clone();
    let mut sent = 0;
    let (served, pages) = page_all(&api, &bob, Some(7), async |page_no| {
        for cid in [&order[order.len() - 1 - page_no], &order[page_no]] {
            sent += 1;
            let (status, body) = api
                .post_message(&bob, cid, &format!("k{sent}"), "activity")
                .await;
            assert!(status == 201, "{body}");
        }
    })
    .await;
    assert_eq!(pages, 15);
    assert_eq!(served.len(), 105, "{served:?}");
    assert_eq!(
        served.iter().collect::<HashSet<_>>().len(),
        105,
        "each exactly once"
    );
    assert_eq!(served, whole, "in the order of the first page");
    // A fresh listing shows the new order: the 28 written to come first.
    let (fresh, _) = page_all(&api, &bob, Some(500), async |_| {}).await;
    assert_eq!(fresh.len(), 105);
    let written: HashSet<&String> = order[..14].iter().chain(&order[91..]).collect();
    assert_eq!(fresh[..28].iter().collect::<HashSet<_>>(), written);
}

#[tokio::test]
async fn bad_limit_and_cursor_values_are_a_400_json_error() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    for _ in 0..3 {
        api.group(&alice, &[&bob]).await;
    }
    let (status, body) = api.get("/api/conversations?limit=2", &alice.token).await;
    assert_eq!(status, 200, "{body}");
    let cursor = body["nextCursor"].as_str().unwrap().to_owned();
    for query in [
        "limit=0".to_owned(),
        "limit=501".to_owned(),
        "limit=-1".to_owned(),
        "limit=ten".to_owned(),
        "cursor=".to_owned(),
        "cursor=garbage".to_owned(),
        "cursor=1.2.3".to_owned(),
        "cursor=-1.2.3.c_x".to_owned(),
        "cursor=1.2.3.x%27%20OR%201%3D1".to_owned(),
        format!("cursor={cursor}x%2F"),
        "after=1".to_owned(),
    ] {
        let (status, body) = api
            .get(&format!("/api/conversations?{query}"), &alice.token)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], "invalid", "{query}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty(), "{query}");
    }
    // The good cursor still works, and the last page says there is no more.
    let (status, body) = api
        .get(
            &format!("/api/conversations?limit=2&cursor={cursor}"),
            &alice.token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(body["hasMore"], false);
}
