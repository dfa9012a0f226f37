//! Signed-in users hammering the REST reads (issue 15): the directory, the change log and
//! the notification list asked for as fast as a script can. Past the per-user burst every
//! request is answered 429 `rate_limited` with `Retry-After` and changes nothing; other
//! users read on; too many requests at once are refused; refreshes and sign-outs are
//! limited per address; malformed queries get 400 with a sentence; and the real binary's
//! resident memory stays bounded under a concurrent flood of large pages.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tidings_proto::api::NotificationQuery;
use tidings_testkit::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const MB: u64 = 1024 * 1024;

/// A REST client whose requests come from `from` (any 127.0.0.0/8 address is local).
fn http_from(from: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .timeout(WAIT)
        .build()
        .unwrap()
}

/// (status, JSON body, Retry-After) of `method path` with `token`, and `body` if any.
async fn call(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Option<u64>) {
    let mut req = http.request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body, retry)
}

/// The reads a flood cycles through, for a conversation `cid`.
fn reads(cid: &str) -> [String; 4] {
    [
        "/api/users?q=b&limit=100".to_owned(),
        format!("/api/conversations/{cid}/changes?after=0&limit=500"),
        "/api/notifications?unread=true&limit=500".to_owned(),
        "/api/notifications?before=1000&limit=500".to_owned(),
    ]
}

/// A 429 for the request rate, as the contract says.
fn assert_rate_limited(status: u16, body: &Value, retry: Option<u64>, words: &str) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "rate_limited", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(words), "{message}");
    let retry = retry.expect("429 without Retry-After");
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
}

/// Reads as `who` until the first refusal; returns how many were answered and the refusal.
async fn read_until_refused(
    http: &reqwest::Client,
    base: &str,
    who: &TestUser,
    cid: &str,
    most: usize,
) -> (usize, (u16, Value, Option<u64>)) {
    let paths = reads(cid);
    for i in 0..most {
        let answer = call(http, base, "GET", &paths[i % 4], Some(&who.token), None).await;
        if answer.0 != 200 {
            return (i, answer);
        }
    }
    panic!("{most} reads and no refusal");
}

async fn notify(api: &Api, user: &str, title: &str) {
    let (status, body) = api
        .post(
            "/api/notifications",
            SERVICE_TOKEN,
            json!({"users": [user], "title": title, "message": "m"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_flood_of_reads_is_refused_past_the_burst_and_changes_nothing_while_others_read_on() {
    // A burst of 20, then one request a minute: nothing is earned back during the test.
    let server = Server::chat_with(|c| {
        c.limits.requests_per_minute = 1;
        c.limits.request_burst = 20;
    })
    .await;
    let (api, base, http) = (server.api(), server.http(), http_from("127.0.0.1"));
    let mallory = api.register("mallory").await;
    let bob = api.register("bob").await;
    // Four requests of mallory's budget: the group and three messages.
    let cid = api.group(&mallory, &[&bob]).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(
            api.send(&mallory, &cid, &format!("m{i}"), &format!("hello {i}"))
                .await,
        );
    }
    // The service token is not a user: not charged.
    notify(&api, "mallory", "for mallory").await;

    let started = Instant::now();
    let (answered, (status, body, retry)) =
        read_until_refused(&http, &base, &mallory, &cid, 200).await;
    assert_rate_limited(status, &body, retry, "per minute per user");
    let earned = started.elapsed().as_secs() as usize / 60 + 1;
    assert!(
        (16..=16 + earned).contains(&answered),
        "{answered} reads answered of a burst of 20 less 4"
    );
    // Refused again, on every read endpoint, and on writes too.
    for path in reads(&cid) {
        let (status, body, retry) =
            call(&http, &base, "GET", &path, Some(&mallory.token), None).await;
        assert_rate_limited(status, &body, retry, "per minute per user");
    }
    let mid = sent[0]["id"].as_str().unwrap();
    let refused = [
        ("POST", "/api/notifications/read-all".to_owned(), None),
        (
            "PATCH",
            format!("/api/conversations/{cid}/messages/{mid}"),
            Some(json!({"content": "edited"})),
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
    ];
    for (method, path, body) in refused {
        let (status, answer, retry) =
            call(&http, &base, method, &path, Some(&mallory.token), body).await;
        assert_rate_limited(status, &answer, retry, "per minute per user");
    }
    // Others read on.
    for path in reads(&cid) {
        let (status, body, _) = call(&http, &base, "GET", &path, Some(&bob.token), None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // Mallory's data is as it was: her messages unedited, undeleted, unreacted to; her
    // notification unread.
    let messages: Vec<Value> = api
        .all_messages(&bob, &cid)
        .await
        .into_iter()
        .filter(|m| m.get("system").is_none())
        .collect();
    assert_eq!(messages.len(), 3);
    for (m, s) in messages.iter().zip(&sent) {
        assert_eq!(m["content"], s["content"], "{m}");
        assert!(
            m.get("deleted").is_none() && m.get("editedAt").is_none(),
            "{m}"
        );
        assert!(m["reactions"].as_array().is_none_or(Vec::is_empty), "{m}");
    }
    let page = server
        .state
        .chat()
        .notifications("mallory", NotificationQuery::default())
        .await
        .unwrap();
    assert_eq!(page.unread_count, 1);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("kind=\"requests_rate_limited\""),
        "refusals are counted"
    );
}

#[tokio::test]
async fn a_refused_user_is_served_again_after_retry_after() {
    // Ten a second after a burst of five.
    let server = Server::chat_with(|c| {
        c.limits.requests_per_minute = 600;
        c.limits.request_burst = 5;
    })
    .await;
    let (api, base, http) = (server.api(), server.http(), http_from("127.0.0.1"));
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    let (answered, (status, body, retry)) =
        read_until_refused(&http, &base, &alice, &cid, 100).await;
    assert_rate_limited(status, &body, retry, "after a burst of 5");
    assert!(answered >= 4, "{answered}");
    // A token every 100 ms: Retry-After rounds up to a second; then she is served.
    assert_eq!(retry, Some(1));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        tokio::time::sleep(Duration::from_secs(retry.unwrap())).await;
        let (status, body, _) = call(
            &http,
            &base,
            "GET",
            "/api/users/me",
            Some(&alice.token),
            None,
        )
        .await;
        if status == 200 {
            assert_eq!(body["id"], "alice");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never served again: {body}"
        );
    }
}

/// A `POST` whose body never comes: the request holds its place while the server waits.
async fn held_request(addr: std::net::SocketAddr, token: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/notifications/read-all HTTP/1.1\r\nHost: tidings\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

#[tokio::test]
async fn too_many_requests_at_once_are_refused_until_one_ends() {
    let server = Server::chat_with(|c| {
        c.limits.max_requests_in_flight_per_user = 2;
        c.limits.request_timeout_ms = 60_000;
    })
    .await;
    let (api, base, http) = (server.api(), server.http(), http_from("127.0.0.1"));
    let mallory = api.register("mallory").await;
    let bob = api.register("bob").await;
    notify(&api, "mallory", "unread").await;
    let first = held_request(server.addr, &mallory.token).await;
    let _second = held_request(server.addr, &mallory.token).await;
    // Once both are in, the third is refused.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (status, body, retry) = loop {
        let answer = call(
            &http,
            &base,
            "GET",
            "/api/users/me",
            Some(&mallory.token),
            None,
        )
        .await;
        if answer.0 != 200 {
            break answer;
        }
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_rate_limited(status, &body, retry, "at most 2 in flight per user");
    let (status, body, _) =
        call(&http, &base, "GET", "/api/users/me", Some(&bob.token), None).await;
    assert_eq!(status, 200, "others are served: {body}");
    // One ends (its client goes away): its place comes back.
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    while call(
        &http,
        &base,
        "GET",
        "/api/users/me",
        Some(&mallory.token),
        None,
    )
    .await
    .0 != 200
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The requests that never finished changed nothing.
    let page = server
        .state
        .chat()
        .notifications("mallory", NotificationQuery::default())
        .await
        .unwrap();
    assert_eq!(page.unread_count, 1);
}

#[tokio::test]
async fn refreshes_and_sign_outs_are_limited_per_address() {
    let server = Server::chat_with(|c| c.auth.refreshes_per_minute_per_address = 3).await;
    let (api, base) = (server.api(), server.http());
    let alice = api.register("alice").await;
    let (here, there) = (http_from("127.0.0.1"), http_from("127.0.0.2"));
    let garbage = json!({"refreshToken": "not-a-refresh-token"});
    for path in ["/api/auth/refresh", "/api/auth/logout", "/api/auth/refresh"] {
        let (status, body, _) = call(&here, &base, "POST", path, None, Some(garbage.clone())).await;
        assert_eq!(status, 401, "{body}");
    }
    for path in ["/api/auth/refresh", "/api/auth/logout"] {
        let (status, body, _) = call(&here, &base, "POST", path, None, Some(garbage.clone())).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["error"], "rate_limited", "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("at most 3 per minute"),
            "{body}"
        );
    }
    // Another address refreshes, and alice's session was not touched by the refusals.
    let (status, body, _) = call(
        &there,
        &base,
        "POST",
        "/api/auth/refresh",
        None,
        Some(json!({"refreshToken": alice.refresh})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn read_queries_out_of_bounds_get_400_with_a_sentence_and_change_nothing() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    notify(&api, "alice", "unread").await;
    let bad = [
        "/api/users?limit=101".to_owned(),
        "/api/users?limit=0".to_owned(),
        "/api/users?limit=many".to_owned(),
        "/api/users?cursor=%%%".to_owned(),
        format!("/api/users?q={}", "x".repeat(65)),
        format!("/api/conversations/{cid}/changes?limit=501"),
        format!("/api/conversations/{cid}/changes?after=-1"),
        format!("/api/conversations/{cid}/changes?after=abc"),
        format!("/api/conversations/{cid}/changes?after=99999999999999999999"),
        format!("/api/conversations/{cid}/messages?limit=100000"),
        format!("/api/conversations/{cid}/messages?before=x"),
        "/api/notifications?limit=501".to_owned(),
        "/api/notifications?after=-1".to_owned(),
        "/api/notifications?before=0".to_owned(),
        "/api/notifications?before=yesterday".to_owned(),
        "/api/notifications?after=1&before=5".to_owned(),
        "/api/notifications?unread=perhaps".to_owned(),
        "/api/notifications?surprise=1".to_owned(),
        "/api/conversations?limit=100000".to_owned(),
    ];
    for path in &bad {
        let (status, body) = api.get(path, &alice.token).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "invalid", "{path}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.len() > 10, "{path}: a sentence, not {message:?}");
    }
    let (status, body) = api.get("/api/notifications", &alice.token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["unreadCount"], 1, "{body}");
}

/// A field of /proc/<pid>/status in bytes (`VmRSS`, `VmHWM`).
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    kb * 1024
}

/// The binary with [`BIN_CONFIG`]'s lifted limits but `limits` for the REST requests.
fn config_with(limits: &str) -> String {
    format!(
        "[limits]\nsends_per_minute = 1000000\n{limits}\n[storage]\nsynchronous = \"normal\"\n\
         [auth]\nregistrations_per_hour_per_address = 1000000\n"
    )
}

/// Issue 15: the reads were unbounded per user: a script could ask for 500-message pages
/// of a conversation of long messages, many at once, for ever. Without the limits, 64
/// concurrent workers asking for 1,500 such pages were all answered (51 s of the server's
/// CPU here) and its resident memory peaked 119 MB above the start. With a burst of 100,
/// one request a second after it and at most 4 in flight, at most the burst is answered,
/// the rest refused, and memory stays within what 4 pages in flight take (24 MB here).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_concurrent_flood_of_large_pages_keeps_the_servers_memory_bounded() {
    let dir = TempDir::new("readflood");
    // Seed with the request limits lifted: 400 messages of 4,000 characters.
    let seed = BinServer::start_with(
        dir.path(),
        None,
        &config_with("requests_per_minute = 1000000\nrequest_burst = 1000000"),
    );
    let api = seed.api();
    let mallory = api.register("mallory").await;
    let bob = api.register("bob").await;
    let cid = api.group(&mallory, &[&bob]).await;
    let long = "x".repeat(tidings_proto::MAX_CONTENT_CHARS);
    for i in 0..400 {
        api.send(&bob, &cid, &format!("c{i}"), &long).await;
    }
    seed.kill();

    let srv = BinServer::start_with(
        dir.path(),
        None,
        &config_with(
            "requests_per_minute = 60\nrequest_burst = 100\nmax_requests_in_flight_per_user = 4",
        ),
    );
    let pid = srv.child.id();
    let base = srv.http();
    let http = http_from("127.0.0.1");
    // One page first (the allocator's first growth is not the flood's), then the peak is
    // reset to now.
    let (status, page, _) = call(
        &http,
        &base,
        "GET",
        &reads(&cid)[1],
        Some(&mallory.token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page["messages"].as_array().unwrap().len() >= 400);
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let base_rss = proc_status(pid, "VmRSS");

    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (http, base, next) = (http.clone(), base.clone(), next.clone());
        let (token, paths) = (mallory.token.clone(), reads(&cid));
        workers.spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 1_500 {
                    return seen;
                }
                // Mostly the change log: the largest pages.
                let path = if i % 3 == 0 { &paths[i % 4] } else { &paths[1] };
                let (status, body, retry) =
                    call(&http, &base, "GET", path, Some(&token), None).await;
                if status != 200 {
                    assert_rate_limited(status, &body, retry, "per user");
                }
                seen.push(status);
            }
        });
    }
    let mut answered = 0;
    let mut refused = 0;
    while let Some(seen) = workers.join_next().await {
        for s in seen.unwrap() {
            if s == 200 {
                answered += 1;
            } else {
                refused += 1;
            }
        }
    }
    let peak = proc_status(pid, "VmHWM").saturating_sub(base_rss);
    let elapsed = started.elapsed().as_secs() as usize;
    eprintln!(
        "{answered} answered, {refused} refused in {elapsed} s; resident memory peaked {} MB above the start",
        peak / MB
    );
    // The burst less the first page, and one a second since.
    assert!(
        answered <= 99 + elapsed + 1,
        "{answered} answered in {elapsed} s"
    );
    assert_eq!(answered + refused, 1_500);
    // A page is about 2 MB of JSON, several times that while it is built: four in flight.
    assert!(
        peak < 64 * MB,
        "resident memory peaked {} MB above the start",
        peak / MB
    );
    // Bob reads on.
    let (status, body, _) =
        call(&http, &base, "GET", &reads(&cid)[1], Some(&bob.token), None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_openapi_document_lists_the_429_on_every_operation_with_a_token() {
    let server = Server::chat().await;
    let (status, doc) = server.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let op = |path: &str, method: &str| doc["paths"][path][method].clone();
    for (path, method) in [
        ("/api/users", "get"),
        ("/api/conversations/{cid}/changes", "get"),
        ("/api/notifications", "get"),
        ("/api/notifications/read-all", "post"),
        ("/api/conversations/{cid}/messages/{mid}", "patch"),
    ] {
        let r = &op(path, method)["responses"]["429"];
        assert!(
            r["description"]
                .as_str()
                .unwrap()
                .contains("requests_per_minute"),
            "{method} {path}: {r}"
        );
        assert!(
            r["headers"]["Retry-After"].is_object(),
            "{method} {path}: {r}"
        );
    }
    let login = op("/api/auth/login", "post");
    assert!(
        !login["responses"]["429"]["description"]
            .as_str()
            .unwrap()
            .contains("requests_per_minute"),
        "login takes no token: {login}"
    );
}
