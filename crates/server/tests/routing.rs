//! Destinations, acknowledgements, transactions and receipts over real sockets.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use tidings_stomp::{Command, Frame};
use tidings_testkit::*;

#[tokio::test]
async fn connected_frame_names_version_session_server_and_user() {
    let srv = Server::broker().await;
    let mut c = Client::open(&srv.url()).await;
    let f = c.connect(&srv.token("alice"), "0,0").await;
    assert_eq!(f.command, Command::Connected);
    assert_eq!(f.header("version"), Some("1.2"));
    assert_eq!(f.header("user-name"), Some("alice"));
    assert!(f.header("server").unwrap().starts_with("tidings/"));
    assert!(f.header("session").is_some());
    assert_eq!(f.header("heart-beat"), Some("0,0"));
}

#[tokio::test]
async fn topic_broadcasts_to_every_subscriber_with_headers_intact() {
    let srv = Server::broker().await;
    let mut a = srv.client("alice").await;
    let mut b = srv.client("bob").await;
    a.subscribe("/topic/board", "s1", "auto").await;
    b.subscribe("/topic/board", "s9", "auto").await;
    let mut c = srv.client("carol").await;
    c.send_with_receipt(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/board")
            .with_header("content-type", "text/plain;charset=utf-8")
            .with_header("x-note", "a:b\nc")
            .with_body("héllo ✓"),
    )
    .await;
    for (client, sub) in [(&mut a, "s1"), (&mut b, "s9")] {
        let m = client.next_message().await;
        assert_eq!(m.header("destination"), Some("/topic/board"));
        assert_eq!(m.header("subscription"), Some(sub));
        assert_eq!(m.header("x-note"), Some("a:b\nc"));
        assert_eq!(m.header("content-type"), Some("text/plain;charset=utf-8"));
        assert_eq!(body(&m), "héllo ✓");
        assert!(m.header("message-id").is_some());
        assert_eq!(
            m.header("ack"),
            None,
            "auto-ack messages carry no ack header"
        );
    }
    assert!(c.barrier().await.is_empty(), "the sender is not subscribed");
}

#[tokio::test]
async fn queue_delivers_each_message_to_one_subscriber_round_robin() {
    let srv = Server::broker().await;
    let mut a = srv.client("alice").await;
    let mut b = srv.client("bob").await;
    a.subscribe("/queue/jobs", "q", "auto").await;
    b.subscribe("/queue/jobs", "q", "auto").await;
    let mut p = srv.client("carol").await;
    for i in 0..4 {
        p.publish("/queue/jobs", &format!("job-{i}")).await;
    }
    let got_a: Vec<String> = a
        .barrier()
        .await
        .iter()
        .map(|f| body(f).to_owned())
        .collect();
    let got_b: Vec<String> = b
        .barrier()
        .await
        .iter()
        .map(|f| body(f).to_owned())
        .collect();
    assert_eq!(got_a, ["job-0", "job-2"]);
    assert_eq!(got_b, ["job-1", "job-3"]);
}

#[tokio::test]
async fn queue_keeps_messages_until_someone_subscribes() {
    let srv = Server::broker().await;
    let mut p = srv.client("carol").await;
    p.publish("/queue/later", "one").await;
    p.publish("/queue/later", "two").await;
    let mut a = srv.client("alice").await;
    a.subscribe("/queue/later", "q", "auto").await;
    assert_eq!(body(&a.next_message().await), "one");
    assert_eq!(body(&a.next_message().await), "two");
}

#[tokio::test]
async fn queue_backlog_is_bounded_and_a_send_past_it_is_refused() {
    let srv = Server::with(|c| c.limits.queue_backlog = 2).await;
    let mut p = srv.client("carol").await;
    p.publish("/queue/full", "1").await;
    p.publish("/queue/full", "2").await;
    p.send(
        Frame::new(Command::Send)
            .with_header("destination", "/queue/full")
            .with_body("3"),
    )
    .await;
    let e = p.expect_error().await;
    assert!(
        e.header("message")
            .unwrap()
            .contains("queue /queue/full is full"),
        "{e:?}"
    );
    let mut a = srv.client("alice").await;
    a.subscribe("/queue/full", "q", "auto").await;
    let got: Vec<_> = a
        .barrier()
        .await
        .iter()
        .map(|f| body(f).to_owned())
        .collect();
    assert_eq!(
        got,
        ["1", "2"],
        "what was stored before the refusal is intact"
    );
}

#[tokio::test]
async fn user_destinations_reach_every_session_of_that_user_only() {
    let srv = Server::broker().await;
    let mut tab1 = srv.client("alice").await;
    let mut tab2 = srv.client("alice").await;
    let mut other = srv.client("bob").await;
    tab1.subscribe("/user/queue/inbox", "u", "auto").await;
    tab2.subscribe("/user/queue/inbox", "u", "auto").await;
    other.subscribe("/user/queue/inbox", "u", "auto").await;
    other.publish("/user/alice/queue/inbox", "for alice").await;
    for tab in [&mut tab1, &mut tab2] {
        let m = tab.next_message().await;
        assert_eq!(body(&m), "for alice");
        assert_eq!(m.header("destination"), Some("/user/queue/inbox"));
    }
    assert!(
        other.barrier().await.is_empty(),
        "bob's own inbox got nothing"
    );
}

#[tokio::test]
async fn subscribing_to_another_users_queue_is_forbidden() {
    let srv = Server::broker().await;
    let mut bob = srv.client("bob").await;
    bob.send(
        Frame::new(Command::Subscribe)
            .with_header("destination", "/user/alice/queue/inbox")
            .with_header("id", "x"),
    )
    .await;
    let e = bob.expect_error().await;
    assert!(
        e.header("message").unwrap().starts_with("forbidden"),
        "{e:?}"
    );
    // The server still serves others.
    let mut a = srv.client("alice").await;
    a.subscribe("/user/queue/inbox", "u", "auto").await;
}

#[tokio::test]
async fn client_individual_ack_redelivers_only_unacked_messages_to_the_next_subscriber() {
    let srv = Server::broker().await;
    let mut p = srv.client("carol").await;
    p.publish("/queue/work", "first").await;
    p.publish("/queue/work", "second").await;
    let mut a = srv.client("alice").await;
    a.subscribe("/queue/work", "q", "client-individual").await;
    let m1 = a.next_message().await;
    let m2 = a.next_message().await;
    assert_eq!(body(&m1), "first");
    assert_eq!(m2.header("ack"), m2.header("message-id"));
    a.send_with_receipt(Frame::new(Command::Ack).with_header("id", m2.header("ack").unwrap()))
        .await;
    drop(a);
    let mut b = srv.client("bob").await;
    b.subscribe("/queue/work", "q", "client-individual").await;
    let again = b.next_message().await;
    assert_eq!(body(&again), "first");
    assert_eq!(again.header("redelivered"), Some("true"));
    assert!(
        b.barrier().await.is_empty(),
        "the acknowledged message is not redelivered"
    );
}

#[tokio::test]
async fn client_ack_is_cumulative() {
    let srv = Server::broker().await;
    let mut p = srv.client("carol").await;
    for i in 0..3 {
        p.publish("/queue/cumul", &i.to_string()).await;
    }
    let mut a = srv.client("alice").await;
    a.subscribe("/queue/cumul", "q", "client").await;
    let _ = a.next_message().await;
    let _ = a.next_message().await;
    let third = a.next_message().await;
    a.send_with_receipt(Frame::new(Command::Ack).with_header("id", third.header("ack").unwrap()))
        .await;
    a.send_with_receipt(Frame::new(Command::Disconnect)).await;
    let mut b = srv.client("bob").await;
    b.subscribe("/queue/cumul", "q", "client").await;
    assert!(
        b.barrier().await.is_empty(),
        "all three were acknowledged by one ACK"
    );
}

#[tokio::test]
async fn nack_redelivers_to_another_subscriber() {
    let srv = Server::broker().await;
    let mut a = srv.client("alice").await;
    let mut b = srv.client("bob").await;
    a.subscribe("/queue/n", "q", "client-individual").await;
    b.subscribe("/queue/n", "q", "client-individual").await;
    let mut p = srv.client("carol").await;
    p.publish("/queue/n", "hot potato").await;
    let m = a.next_message().await;
    a.send_with_receipt(Frame::new(Command::Nack).with_header("id", m.header("ack").unwrap()))
        .await;
    let again = b.next_message().await;
    assert_eq!(body(&again), "hot potato");
    assert_eq!(again.header("redelivered"), Some("true"));
}

#[tokio::test]
async fn unacked_user_queue_messages_go_to_the_users_next_session() {
    let srv = Server::broker().await;
    let mut a = srv.client("alice").await;
    a.subscribe("/user/queue/notes", "n", "client").await;
    let mut p = srv.client("carol").await;
    p.publish("/user/alice/queue/notes", "appointment moved")
        .await;
    let m = a.next_message().await;
    assert!(m.header("ack").is_some());
    drop(a); // never acknowledged
             // The hub sees the close asynchronously; the next session subscribes once the old
             // one is gone (wait for the metric to say so, bounded).
    let deadline = tokio::time::Instant::now() + WAIT;
    while srv.state.hub.user_sessions("alice") > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "old session never went away"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut a2 = srv.client("alice").await;
    a2.subscribe("/user/queue/notes", "n", "client").await;
    let again = a2.next_message().await;
    assert_eq!(body(&again), "appointment moved");
    a2.send_with_receipt(Frame::new(Command::Ack).with_header("id", again.header("ack").unwrap()))
        .await;
}

#[tokio::test]
async fn transactions_deliver_on_commit_in_order_and_nothing_on_abort() {
    let srv = Server::broker().await;
    let mut a = srv.client("alice").await;
    a.subscribe("/topic/tx", "t", "auto").await;
    let mut p = srv.client("carol").await;
    p.send_with_receipt(Frame::new(Command::Begin).with_header("transaction", "t1"))
        .await;
    for body in ["one", "two"] {
        p.send_with_receipt(
            Frame::new(Command::Send)
                .with_header("destination", "/topic/tx")
                .with_header("transaction", "t1")
                .with_body(body),
        )
        .await;
    }
    assert!(a.barrier().await.is_empty(), "nothing before COMMIT");
    p.send_with_receipt(Frame::new(Command::Commit).with_header("transaction", "t1"))
        .await;
    assert_eq!(body(&a.next_message().await), "one");
    assert_eq!(body(&a.next_message().await), "two");

    p.send_with_receipt(Frame::new(Command::Begin).with_header("transaction", "t2"))
        .await;
    p.send_with_receipt(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/tx")
            .with_header("transaction", "t2")
            .with_body("never"),
    )
    .await;
    p.send_with_receipt(Frame::new(Command::Abort).with_header("transaction", "t2"))
        .await;
    assert!(
        a.barrier().await.is_empty(),
        "aborted sends are not delivered"
    );
}

#[tokio::test]
async fn ack_inside_a_transaction_takes_effect_at_commit() {
    let srv = Server::broker().await;
    let mut p = srv.client("carol").await;
    p.publish("/queue/txack", "m").await;
    let mut a = srv.client("alice").await;
    a.subscribe("/queue/txack", "q", "client-individual").await;
    let m = a.next_message().await;
    a.send_with_receipt(Frame::new(Command::Begin).with_header("transaction", "t"))
        .await;
    a.send_with_receipt(
        Frame::new(Command::Ack)
            .with_header("id", m.header("ack").unwrap())
            .with_header("transaction", "t"),
    )
    .await;
    a.send_with_receipt(Frame::new(Command::Abort).with_header("transaction", "t"))
        .await;
    drop(a);
    let mut b = srv.client("bob").await;
    b.subscribe("/queue/txack", "q", "client-individual").await;
    assert_eq!(
        body(&b.next_message().await),
        "m",
        "the aborted ACK did not count"
    );
}

#[tokio::test]
async fn disconnect_with_receipt_closes_gracefully() {
    let srv = Server::broker().await;
    let mut a = srv.client("alice").await;
    a.send(Frame::new(Command::Disconnect).with_header("receipt", "bye"))
        .await;
    let r = a.next_frame().await;
    assert_eq!(
        (r.command, r.header("receipt-id")),
        (Command::Receipt, Some("bye"))
    );
    assert!(
        a.read_frame().await.is_none(),
        "socket closes after the receipt"
    );
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let srv = Server::broker().await;
    let mut a = srv.client("alice").await;
    a.subscribe("/topic/u", "s", "auto").await;
    a.send_with_receipt(Frame::new(Command::Unsubscribe).with_header("id", "s"))
        .await;
    let mut p = srv.client("carol").await;
    p.publish("/topic/u", "x").await;
    assert!(a.barrier().await.is_empty());
}

#[tokio::test]
async fn stomp_1_0_and_1_1_clients_are_served_with_their_escaping() {
    let srv = Server::broker().await;
    let mut old = Client::open(&srv.url()).await;
    old.send(
        Frame::new(Command::Connect)
            .with_header("accept-version", "1.1")
            .with_header("passcode", srv.token("old")),
    )
    .await;
    let f = old.next_frame().await;
    assert_eq!(f.header("version"), Some("1.1"));
    old.version = tidings_stomp::Version::V1_1;
    old.subscribe("/topic/esc", "s", "client").await;
    let mut p = srv.client("carol").await;
    p.send_with_receipt(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/esc")
            .with_header("k", "a:b")
            .with_body("x"),
    )
    .await;
    let m = old.next_message().await;
    assert_eq!(m.header("k"), Some("a:b"));
    // 1.1 acknowledges by message-id.
    old.send_with_receipt(
        Frame::new(Command::Ack)
            .with_header("message-id", m.header("message-id").unwrap())
            .with_header("subscription", "s"),
    )
    .await;

    let mut v10 = Client::open(&srv.url()).await;
    v10.send(Frame::new(Command::Connect).with_header("passcode", srv.token("ancient")))
        .await;
    assert_eq!(v10.next_frame().await.header("version"), Some("1.0"));
    v10.version = tidings_stomp::Version::V1_0;
    // 1.0 SUBSCRIBE without id: the destination is the id.
    v10.send_with_receipt(Frame::new(Command::Subscribe).with_header("destination", "/topic/esc"))
        .await;
    p.publish("/topic/esc", "y").await;
    assert_eq!(
        v10.next_message().await.header("subscription"),
        Some("/topic/esc")
    );
}
