//! Bad input and hard limits: each gets an ERROR (or an error message on
//! /user/queue/errors) that names the problem, and the server keeps serving others.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use tidings_stomp::{Command, Frame};
use tidings_testkit::*;

/// Sends raw bytes on a fresh authenticated connection and returns the ERROR's message.
async fn error_after(srv: &Server, raw: &[u8]) -> String {
    let mut c = srv.client("mallory").await;
    c.send_raw(raw.to_vec()).await;
    let e = c.expect_error().await;
    e.header("message").unwrap().to_owned()
}

/// The server still serves: a fresh client can subscribe and receive.
async fn still_serving(srv: &Server) {
    let mut a = srv.client("alice").await;
    a.subscribe("/topic/alive", "s", "auto").await;
    a.publish("/topic/alive", "yes").await;
    assert_eq!(body(&a.next_message().await), "yes");
}

#[tokio::test]
async fn malformed_input_is_refused_by_name() {
    let srv = Server::broker().await;
    let cases: &[(&[u8], &str)] = &[
        (b"\x00\x01\x02garbage\n\n\0", "unknown command"),
        (b"FROB\n\n\0", "unknown command \"FROB\""),
        (b"SEND\ndestination\n\nx\0", "malformed header line"),
        (
            b"SEND\ndestination:/topic/a\\tb\n\nx\0",
            "bad header escape",
        ),
        (
            b"SEND\ndestination:/topic/a\ncontent-length:abc\n\nx\0",
            "invalid content-length",
        ),
        (
            b"SEND\ndestination:/topic/a\ncontent-length:1\n\nxy\0",
            "not followed by a NUL",
        ),
        (
            b"SUBSCRIBE\nid:1\n\n\0",
            "SUBSCRIBE frame requires a destination header",
        ),
        (
            b"SUBSCRIBE\ndestination:/topic/x\n\n\0",
            "SUBSCRIBE frame requires a id header",
        ),
        (
            b"SEND\n\nbody\0",
            "SEND frame requires a destination header",
        ),
        (b"ACK\n\n\0", "ACK frame requires a id header"),
        (b"ACK\nid:999-1\n\n\0", "no unacknowledged message with id"),
        (b"BEGIN\n\n\0", "BEGIN frame requires a transaction header"),
        (
            b"COMMIT\ntransaction:nope\n\n\0",
            "unknown transaction nope",
        ),
        (
            b"SEND\ndestination:/topic/x\ntransaction:nope\n\n\0",
            "unknown transaction nope",
        ),
        (b"UNSUBSCRIBE\nid:ghost\n\n\0", "no subscription with id"),
        (
            b"MESSAGE\ndestination:/topic/x\n\n\0",
            "MESSAGE is a server frame",
        ),
        (b"CONNECT\naccept-version:1.2\n\n\0", "already connected"),
        (
            b"SUBSCRIBE\ndestination:/topic/x\nid:1\nack:sometimes\n\n\0",
            "invalid ack header",
        ),
        (
            b"SUBSCRIBE\ndestination:/elsewhere/x\nid:1\n\n\0",
            "unknown destination /elsewhere/x",
        ),
        (b"SUBSCRIBE\ndestination:/app/x\nid:1\n\n\0", "forbidden"),
        (
            b"UNSUBSCRIBE\n\n\0",
            "UNSUBSCRIBE frame requires a id header",
        ),
        (
            b"BEGIN\ntransaction:t\n\n\0BEGIN\ntransaction:t\n\n\0",
            "transaction t is already open",
        ),
    ];
    for (raw, expected) in cases {
        let msg = error_after(&srv, raw).await;
        assert!(
            msg.contains(expected),
            "input {:?}: got {msg:?}, want {expected:?}",
            String::from_utf8_lossy(raw)
        );
    }
    still_serving(&srv).await;
    let metrics = srv.metrics().await;
    assert!(metrics.contains("kind=\"unknown_command\""), "{metrics}");
    assert!(metrics.contains("kind=\"missing_header\""), "{metrics}");
}

#[tokio::test]
async fn an_oversized_frame_is_refused_before_it_is_read_whole() {
    let srv = Server::with(|c| c.limits.max_frame_bytes = 4096).await;
    let mut c = srv.client("mallory").await;
    let big = format!(
        "SEND\ndestination:/topic/x\ncontent-length:100000\n\n{}\0",
        "x".repeat(100)
    );
    c.send_raw(big).await;
    assert_eq!(
        c.expect_error().await.header("message"),
        Some("body too large: the limit is 4096 bytes")
    );
    // Without content-length, the limit trips once the buffered frame passes it.
    let mut c = srv.client("mallory").await;
    c.send_raw(format!(
        "SEND\ndestination:/topic/x\n\n{}",
        "y".repeat(5000)
    ))
    .await;
    let msg = c.expect_error().await.header("message").unwrap().to_owned();
    assert!(msg.contains("too large"), "{msg}");
    // One WebSocket message far over the cap is refused by the WebSocket layer.
    let mut c = srv.client("mallory").await;
    c.send_raw("z".repeat(100_000)).await;
    let msg = c.expect_error().await.header("message").unwrap().to_owned();
    assert!(msg.contains("too large"), "{msg}");
    // Too many headers.
    let mut c = srv.client("mallory").await;
    let many: String = (0..100).map(|i| format!("h{i}:v\n")).collect();
    c.send_raw(format!("SEND\ndestination:/topic/x\n{many}\n\0"))
        .await;
    assert_eq!(
        c.expect_error().await.header("message"),
        Some("too many headers: the limit is 64")
    );
    still_serving(&srv).await;
}

#[tokio::test]
async fn frames_split_across_messages_and_packed_together_both_work() {
    let srv = Server::broker().await;
    let mut c = srv.client("alice").await;
    let sub = b"SUBSCRIBE\ndestination:/topic/split\nid:s\nreceipt:r1\n\n\0";
    for chunk in sub.chunks(7) {
        c.send_raw(chunk.to_vec()).await;
    }
    assert_eq!(c.next_frame().await.header("receipt-id"), Some("r1"));
    c.send_raw(
        "SEND\ndestination:/topic/split\n\none\0\n\r\nSEND\ndestination:/topic/split\ncontent-length:3\n\ntwo\0SEND\ndestination:/topic/split\nreceipt:r2\n\nthree\0",
    )
    .await;
    let mut bodies = Vec::new();
    loop {
        let f = c.next_frame().await;
        if f.command == Command::Receipt {
            break;
        }
        bodies.push(body(&f).to_owned());
    }
    assert_eq!(bodies, ["one", "two", "three"]);
}

#[tokio::test]
async fn refused_sends_go_to_user_queue_errors_and_the_connection_goes_on() {
    let srv = Server::broker().await;
    let mut c = srv.client("alice").await;
    c.subscribe("/user/queue/errors", "e", "auto").await;
    c.send(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/announcements")
            .with_header("receipt", "r9")
            .with_body("hi"),
    )
    .await;
    let m = c.next_message().await;
    assert_eq!(m.header("destination"), Some("/user/queue/errors"));
    assert_eq!(m.header("receipt-id"), Some("r9"));
    let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
    assert_eq!(v["error"], "forbidden");
    assert_eq!(v["destination"], "/topic/announcements");
    c.send(
        Frame::new(Command::Send)
            .with_header("destination", "/app/conversations/c1/send")
            .with_body("{}"),
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&c.next_message().await.body).unwrap();
    assert_eq!(v["error"], "unknown_destination");
    // Still connected and working.
    c.subscribe("/topic/ok", "t", "auto").await;
    c.publish("/topic/ok", "fine").await;
    assert_eq!(body(&c.next_message().await), "fine");
}

#[tokio::test]
async fn a_refused_send_without_an_errors_subscription_is_an_error_frame() {
    let srv = Server::broker().await;
    let mut watcher = srv.client("bob").await;
    watcher.subscribe("/topic/announcements", "a", "auto").await;
    let mut c = srv.client("alice").await;
    c.send(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/announcements")
            .with_header("receipt", "r1")
            .with_body("spoof"),
    )
    .await;
    let e = c.expect_error().await;
    assert_eq!(
        e.header("message"),
        Some("forbidden: you may not send to /topic/announcements")
    );
    assert_eq!(e.header("receipt-id"), Some("r1"));
    assert!(watcher.barrier().await.is_empty(), "nothing was delivered");
}

#[tokio::test]
async fn the_send_rate_limit_is_per_user_across_connections() {
    let srv = Server::with(|c| c.limits.sends_per_minute = 5).await;
    let mut a1 = srv.client("alice").await;
    let mut a2 = srv.client("alice").await;
    a1.subscribe("/user/queue/errors", "e", "auto").await;
    for _ in 0..3 {
        a1.publish("/topic/r", "x").await;
    }
    for _ in 0..2 {
        a2.publish("/topic/r", "x").await;
    }
    a1.send(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/r")
            .with_body("sixth"),
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&a1.next_message().await.body).unwrap();
    assert_eq!(v["error"], "rate_limited");
    a2.send(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/r")
            .with_body("seventh"),
    )
    .await;
    let e = a2.expect_error().await;
    assert!(
        e.header("message")
            .unwrap()
            .starts_with("rate limit exceeded: at most 5 SEND frames per minute"),
        "{e:?}"
    );
    // Another user is unaffected.
    let mut b = srv.client("bob").await;
    b.publish("/topic/r", "bob's").await;
}

#[tokio::test]
async fn subscription_and_transaction_limits_are_enforced() {
    let srv = Server::with(|c| {
        c.limits.max_subscriptions = 2;
        c.limits.max_transactions = 1;
        c.limits.max_frames_per_transaction = 2;
    })
    .await;
    let mut c = srv.client("alice").await;
    c.subscribe("/topic/a", "1", "auto").await;
    c.subscribe("/topic/b", "2", "auto").await;
    c.send(
        Frame::new(Command::Subscribe)
            .with_header("destination", "/topic/c")
            .with_header("id", "3"),
    )
    .await;
    assert_eq!(
        c.expect_error().await.header("message"),
        Some("too many subscriptions: the limit is 2 per connection")
    );

    let mut c = srv.client("alice").await;
    c.subscribe("/topic/a", "1", "auto").await;
    c.send(
        Frame::new(Command::Subscribe)
            .with_header("destination", "/topic/b")
            .with_header("id", "1"),
    )
    .await;
    assert!(c
        .expect_error()
        .await
        .header("message")
        .unwrap()
        .contains("already in use"));

    let mut c = srv.client("alice").await;
    c.send_with_receipt(Frame::new(Command::Begin).with_header("transaction", "t1"))
        .await;
    c.send(Frame::new(Command::Begin).with_header("transaction", "t2"))
        .await;
    assert_eq!(
        c.expect_error().await.header("message"),
        Some("too many open transactions: the limit is 1")
    );

    let mut c = srv.client("alice").await;
    c.send_with_receipt(Frame::new(Command::Begin).with_header("transaction", "t"))
        .await;
    for _ in 0..2 {
        c.send_with_receipt(
            Frame::new(Command::Send)
                .with_header("destination", "/topic/a")
                .with_header("transaction", "t"),
        )
        .await;
    }
    c.send(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/a")
            .with_header("transaction", "t"),
    )
    .await;
    assert_eq!(
        c.expect_error().await.header("message"),
        Some("transaction t has more than 2 frames")
    );
    still_serving(&srv).await;
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_and_others_still_get_everything() {
    let srv = Server::with(|c| {
        c.limits.outbound_queue = 8;
        c.limits.sends_per_minute = 100_000;
    })
    .await;
    let mut slow = srv.client("slow").await;
    slow.subscribe("/topic/firehose", "s", "auto").await;
    let mut fast = srv.client("fast").await;
    fast.subscribe("/topic/firehose", "f", "auto").await;
    let mut p = srv.client("pub").await;
    // The slow client never reads; the fast one reads each message before the next is
    // sent. The slow one's socket buffers fill, then its bounded queue, and the hub cuts
    // it off; the fast one must have received every message.
    let big = "x".repeat(60 * 1024);
    let mut sent = 0;
    while srv.state.hub.user_sessions("slow") > 0 {
        assert!(sent < 4000, "the slow consumer was never cut off");
        p.send(
            Frame::new(Command::Send)
                .with_header("destination", "/topic/firehose")
                .with_body(big.clone()),
        )
        .await;
        sent += 1;
        assert_eq!(fast.next_message().await.body.len(), big.len());
    }
    let n = sent;
    // Now read the slow one: some messages, then the ERROR naming the policy.
    let mut seen = 0;
    let err = loop {
        let f = slow
            .read_frame()
            .await
            .expect("socket closed without ERROR");
        if f.command == Command::Error {
            break f;
        }
        seen += 1;
    };
    assert!(seen < n, "the slow consumer was not cut off");
    assert_eq!(
        err.header("message"),
        Some("slow consumer: the outbound queue is full")
    );
    let metrics = srv.metrics().await;
    assert!(metrics.contains("kind=\"slow_consumer\""), "{metrics}");
}

#[tokio::test]
async fn droppable_messages_are_skipped_for_a_slow_consumer_which_stays_connected() {
    let srv = Server::with(|c| c.limits.outbound_queue = 4).await;
    let mut slow = srv.client("slow").await;
    slow.subscribe("/topic/typing", "t", "auto").await;
    // Published from the application side in one synchronous burst: the connection's
    // writer cannot run in between, so its queue of 4 fills and the rest are skipped.
    let broker = srv.state.broker();
    for i in 0..20 {
        broker
            .publish(
                "/topic/typing",
                vec![],
                bytes::Bytes::from(format!("typing {i}")),
                true,
            )
            .unwrap();
    }
    let got = slow.barrier().await;
    assert_eq!(got.len(), 4, "the queue held 4; 16 were dropped");
    let metrics = srv.metrics().await;
    assert!(
        metrics.contains("tidings_stomp_messages_dropped_total 16"),
        "{metrics}"
    );
    // Still connected and served.
    slow.publish("/topic/typing", "after").await;
    assert_eq!(body(&slow.next_message().await), "after");
}
