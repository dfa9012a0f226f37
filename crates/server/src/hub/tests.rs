//! The hub's rules, without a network: connection caps, backlog bounds, redelivery,
//! acknowledgement per session, and revocation of a user's subscriptions.

use super::*;
use bytes::Bytes;

fn hub(limits: impl FnOnce(&mut HubLimits)) -> Hub {
    let mut l = HubLimits {
        max_subscriptions: 16,
        max_unacked: 16,
        queue_backlog: 100,
        user_backlog: 100,
        max_backlog_bytes: usize::MAX,
        max_backlog_queues: usize::MAX,
        max_connections_per_user: usize::MAX,
    };
    limits(&mut l);
    Hub::new(l, Arc::new(Metrics::default()))
}

fn connect(hub: &Hub, user: &str) -> Result<(SessionId, outbox::Receiver<Outbound>), HubError> {
    let (tx, rx) = outbox::channel(64);
    let p = Principal::new(user, &[]);
    let id = hub.register(p, Version::V1_2, tx, Arc::default())?;
    Ok((id, rx))
}

fn message(dest: &str, body: usize) -> Arc<Published> {
    Published::new(dest.into(), Vec::new(), Bytes::from(vec![b'x'; body]))
}

#[test]
fn connections_per_user_are_capped_and_closing_one_frees_a_place() {
    let hub = hub(|l| l.max_connections_per_user = 2);
    let (a, _ra) = connect(&hub, "alice").unwrap();
    let (_b, _rb) = connect(&hub, "alice").unwrap();
    assert_eq!(
        connect(&hub, "alice").map(|_| ()),
        Err(HubError::TooManyConnections {
            user: "alice".into(),
            limit: 2
        })
    );
    assert!(connect(&hub, "bob").is_ok(), "users have their own limit");
    assert_eq!(hub.user_sessions("alice"), 2);
    hub.unregister(a);
    assert_eq!(hub.user_sessions("alice"), 1);
    assert!(connect(&hub, "alice").is_ok());
}

#[test]
fn queue_backlogs_are_capped_in_bytes_and_in_queues_and_give_back_when_drained() {
    let size = message("/queue/q0", 1000).size();
    let hub = hub(|l| {
        l.max_backlog_bytes = size * 3;
        l.max_backlog_queues = 2;
    });
    hub.publish("/queue/q0", message("/queue/q0", 1000), false)
        .unwrap();
    hub.publish("/queue/q1", message("/queue/q1", 1000), false)
        .unwrap();
    // A third queue holding a backlog is one too many, and leaves nothing behind.
    let e = hub
        .publish("/queue/q2", message("/queue/q2", 1000), false)
        .unwrap_err();
    assert_eq!(e.kind(), "backlog_limit");
    assert!(!hub
        .state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .dests
        .contains_key("/queue/q2"));
    // The bytes: one more fits in a queue that holds a backlog already, then no more.
    hub.publish("/queue/q0", message("/queue/q0", 1000), false)
        .unwrap();
    let e = hub
        .publish("/queue/q1", message("/queue/q1", 1000), false)
        .unwrap_err();
    assert!(matches!(e, HubError::BacklogBytes { .. }), "{e:?}");
    // A consumer drains q0: its room comes back, and a queue with a consumer that
    // takes the message at once is never refused.
    let (s, mut rx) = connect(&hub, "worker").unwrap();
    hub.subscribe(s, "sub", "/queue/q0", "/queue/q0", AckMode::Auto)
        .unwrap();
    assert!(matches!(rx.try_recv(), Ok(Outbound::Deliver(_))));
    assert!(matches!(rx.try_recv(), Ok(Outbound::Deliver(_))));
    {
        let st = hub.state.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!((st.backlog.bytes, st.backlog.queues), (size, 1));
    }
    hub.publish("/queue/q2", message("/queue/q2", 1000), false)
        .unwrap();
    hub.publish("/queue/q0", message("/queue/q0", 1000), false)
        .unwrap();
    assert!(matches!(rx.try_recv(), Ok(Outbound::Deliver(_))));
}

/// Every delivery waiting in a session's outbound queue, in order.
fn drain(rx: &mut outbox::Receiver<Outbound>) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Ok(o) = rx.try_recv() {
        if let Outbound::Deliver(d) = o {
            out.push(d);
        }
    }
    out
}

fn ack_id(session: SessionId, d: &Delivery) -> String {
    format!("{session}-{}", d.message_id)
}

#[test]
fn a_message_nacked_every_time_is_delivered_max_deliveries_times_then_dropped() {
    let hub = hub(|_| {});
    let (s, mut rx) = connect(&hub, "worker").unwrap();
    hub.subscribe(s, "sub", "/queue/q", "/queue/q", AckMode::ClientIndividual)
        .unwrap();
    hub.publish("/queue/q", message("/queue/q", 10), false)
        .unwrap();
    let mut deliveries = 0;
    while let Some(d) = drain(&mut rx).pop() {
        deliveries += 1;
        assert_eq!(d.redelivered, deliveries > 1, "delivery {deliveries}");
        hub.ack(s, &ack_id(s, &d), true).unwrap();
        assert!(deliveries <= MAX_DELIVERIES, "redelivered without bound");
    }
    assert_eq!(deliveries, MAX_DELIVERIES);
    let st = hub.state.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(
        (st.backlog.bytes, st.backlog.queues),
        (0, 0),
        "nothing kept"
    );
    assert!(st.sessions[&s].unacked.is_empty());
}

#[test]
fn unacknowledged_user_messages_are_kept_up_to_the_user_backlog_bound() {
    let hub = hub(|l| l.user_backlog = 2);
    let key = "/user/alice/queue/inbox";
    let (s, mut rx) = connect(&hub, "alice").unwrap();
    hub.subscribe(s, "in", key, "/user/queue/inbox", AckMode::ClientIndividual)
        .unwrap();
    for _ in 0..3 {
        hub.publish(key, message(key, 10), false).unwrap();
    }
    assert_eq!(drain(&mut rx).len(), 3);
    // The session ends with all three unacknowledged: two are kept, the third dropped.
    hub.unregister(s);
    assert_eq!(
        hub.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dests[key]
            .backlog
            .len(),
        2
    );
    let (next, mut rx) = connect(&hub, "alice").unwrap();
    hub.subscribe(next, "in", key, "/user/queue/inbox", AckMode::Auto)
        .unwrap();
    let again = drain(&mut rx);
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|d| d.redelivered));
    assert_eq!(
        hub.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .backlog
            .bytes,
        0
    );
}

#[test]
fn a_user_message_acknowledged_by_one_session_is_redelivered_by_none() {
    let hub = hub(|_| {});
    let key = "/user/bob/queue/inbox";
    let (phone, mut rx_phone) = connect(&hub, "bob").unwrap();
    let (desk, mut rx_desk) = connect(&hub, "bob").unwrap();
    for s in [phone, desk] {
        hub.subscribe(s, "in", key, "/user/queue/inbox", AckMode::ClientIndividual)
            .unwrap();
    }
    hub.publish(key, message(key, 10), false).unwrap();
    let on_phone = drain(&mut rx_phone);
    assert_eq!((on_phone.len(), drain(&mut rx_desk).len()), (1, 1));
    // The phone acknowledges; the desk never does, and both sessions end.
    hub.ack(phone, &ack_id(phone, &on_phone[0]), false).unwrap();
    hub.unregister(desk);
    hub.unregister(phone);
    let (next, mut rx) = connect(&hub, "bob").unwrap();
    hub.subscribe(next, "in", key, "/user/queue/inbox", AckMode::Auto)
        .unwrap();
    assert!(
        drain(&mut rx).is_empty(),
        "acknowledged on one device: done"
    );
}

#[test]
fn a_user_message_no_session_acknowledged_is_kept_once_for_all_its_copies() {
    let hub = hub(|_| {});
    let key = "/user/bob/queue/inbox";
    let (phone, mut rx_phone) = connect(&hub, "bob").unwrap();
    let (desk, mut rx_desk) = connect(&hub, "bob").unwrap();
    for s in [phone, desk] {
        hub.subscribe(s, "in", key, "/user/queue/inbox", AckMode::Client)
            .unwrap();
    }
    hub.publish(key, message(key, 10), false).unwrap();
    assert_eq!(
        (drain(&mut rx_phone).len(), drain(&mut rx_desk).len()),
        (1, 1)
    );
    hub.unregister(phone);
    hub.unregister(desk);
    assert_eq!(
        hub.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dests[key]
            .backlog
            .len(),
        1,
        "one copy kept"
    );
    let (next, mut rx) = connect(&hub, "bob").unwrap();
    hub.subscribe(next, "in", key, "/user/queue/inbox", AckMode::Auto)
        .unwrap();
    let again = drain(&mut rx);
    assert_eq!(again.len(), 1);
    assert!(again[0].redelivered);
}

#[test]
fn acknowledgement_belongs_to_the_session_that_received_the_message() {
    let hub = hub(|_| {});
    let (a, mut rx_a) = connect(&hub, "alice").unwrap();
    let (b, _rx_b) = connect(&hub, "alice").unwrap();
    hub.subscribe(a, "s1", "/queue/one", "/queue/one", AckMode::Client)
        .unwrap();
    hub.subscribe(a, "s2", "/queue/two", "/queue/two", AckMode::Client)
        .unwrap();
    for q in ["/queue/one", "/queue/one", "/queue/two"] {
        hub.publish(q, message(q, 10), false).unwrap();
    }
    let got = drain(&mut rx_a);
    assert_eq!(got.len(), 3);
    // Another session of the same user cannot acknowledge them, by id in either form.
    let id = ack_id(a, &got[1]);
    assert_eq!(
        hub.ack(b, &id, false),
        Err(HubError::UnknownAck(id.clone()))
    );
    let foreign = ack_id(b, &got[1]);
    assert_eq!(
        hub.ack(b, &foreign, false),
        Err(HubError::UnknownAck(foreign.clone()))
    );
    assert_eq!(
        hub.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sessions[&a]
            .unacked
            .len(),
        3
    );
    // `client` mode: the ACK covers earlier messages of its own subscription only.
    hub.ack(a, &id, false).unwrap();
    let st = hub.state.lock().unwrap_or_else(PoisonError::into_inner);
    let left: Vec<&str> = st.sessions[&a].unacked.values().map(|u| &*u.sub).collect();
    assert_eq!(left, ["s2"]);
}

#[test]
fn dropping_a_users_subscriptions_ends_them_on_every_session_and_only_theirs() {
    let hub = hub(|_| {});
    let (bob1, mut rx1) = connect(&hub, "bob").unwrap();
    let (bob2, mut rx2) = connect(&hub, "bob").unwrap();
    let (alice, mut rxa) = connect(&hub, "alice").unwrap();
    let topic = "/topic/conversations/c1";
    hub.subscribe(bob1, "s1", topic, topic, AckMode::Auto)
        .unwrap();
    hub.subscribe(
        bob1,
        "other",
        "/topic/presence",
        "/topic/presence",
        AckMode::Auto,
    )
    .unwrap();
    hub.subscribe(bob2, "s2", topic, topic, AckMode::Client)
        .unwrap();
    hub.subscribe(alice, "a", topic, topic, AckMode::Auto)
        .unwrap();
    hub.publish(topic, message(topic, 1), false).unwrap();
    assert_eq!(drain(&mut rx2).len(), 1, "delivered before the revocation");
    let ticket = hub.revocation_ticket();
    assert_eq!(hub.drop_subscriptions("bob", topic), 2);
    assert_eq!(drain(&mut rx1).len(), 1);
    assert_eq!(drain(&mut rxa).len(), 1);
    hub.publish(topic, message(topic, 2), false).unwrap();
    hub.publish("/topic/presence", message("/topic/presence", 3), false)
        .unwrap();
    assert_eq!(drain(&mut rx2).len(), 0, "nothing after the revocation");
    let after: Vec<_> = drain(&mut rx1);
    assert_eq!(after.len(), 1, "other subscriptions stay");
    assert_eq!(drain(&mut rxa).len(), 1, "other users keep theirs");
    // The ids are free again; a subscription authorized before the revocation is not
    // made, one authorized after it is.
    assert!(!hub
        .subscribe_unless_revoked(ticket, bob1, "s1", topic, topic, AckMode::Auto)
        .unwrap());
    let fresh = hub.revocation_ticket();
    assert!(hub
        .subscribe_unless_revoked(fresh, bob1, "s1", topic, topic, AckMode::Auto)
        .unwrap());
    hub.publish(topic, message(topic, 4), false).unwrap();
    assert_eq!(drain(&mut rx1).len(), 1);
}

#[test]
fn a_topic_subscriber_whose_queue_is_full_is_ended_once_unless_the_message_is_droppable() {
    let hub = hub(|_| {});
    let (tx, mut rx) = outbox::channel(2);
    let closer = Arc::new(Closer::default());
    let slow = hub
        .register(
            Principal::new("slow", &[]),
            Version::V1_2,
            tx,
            closer.clone(),
        )
        .unwrap();
    let (fast, mut rx_fast) = connect(&hub, "fast").unwrap();
    let topic = "/topic/board";
    hub.subscribe(slow, "s", topic, topic, AckMode::Auto)
        .unwrap();
    hub.subscribe(fast, "f", topic, topic, AckMode::Auto)
        .unwrap();
    for i in 0..3 {
        hub.publish(topic, message(topic, i), true).unwrap();
    }
    assert!(
        !closer.token().is_cancelled(),
        "a droppable message is skipped"
    );
    assert_eq!(hub.metrics.messages_dropped.get(), 1);
    hub.publish(topic, message(topic, 9), false).unwrap();
    assert!(closer.token().is_cancelled(), "ended as a slow consumer");
    let fatal = closer.take_fatal().expect("an ERROR frame");
    assert!(std::str::from_utf8(&fatal)
        .unwrap()
        .contains("slow consumer"));
    // Room again, but an ended connection gets nothing more, and no second ERROR.
    assert_eq!(drain(&mut rx).len(), 2);
    hub.publish(topic, message(topic, 10), false).unwrap();
    assert!(drain(&mut rx).is_empty());
    assert!(closer.take_fatal().is_none());
    assert_eq!(drain(&mut rx_fast).len(), 5, "the others get every message");
}

#[test]
fn a_sessions_message_ids_follow_its_queue_without_gaps_across_topics_and_queues() {
    let hub = hub(|_| {});
    let (s, mut rx) = connect(&hub, "alice").unwrap();
    hub.subscribe(s, "t", "/topic/a", "/topic/a", AckMode::Auto)
        .unwrap();
    hub.subscribe(s, "q", "/queue/b", "/queue/b", AckMode::ClientIndividual)
        .unwrap();
    hub.subscribe(s, "u", "/topic/c", "/topic/c", AckMode::Client)
        .unwrap();
    for _ in 0..3 {
        hub.publish("/topic/a", message("/topic/a", 1), false)
            .unwrap();
        hub.publish("/queue/b", message("/queue/b", 1), false)
            .unwrap();
        hub.publish("/topic/c", message("/topic/c", 1), false)
            .unwrap();
    }
    let got: Vec<(u64, String, bool)> = drain(&mut rx)
        .iter()
        .map(|d| (d.message_id, d.subscription().to_owned(), d.ack))
        .collect();
    let ids: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_eq!(ids, (1..=9).collect::<Vec<_>>());
    let subs: Vec<&str> = got.iter().map(|g| g.1.as_str()).collect();
    assert_eq!(subs, ["t", "q", "u", "t", "q", "u", "t", "q", "u"]);
    assert!(
        got.iter().all(|g| g.2 == (g.1 != "t")),
        "ack header where acknowledged"
    );
    // A cumulative ACK of the topic's last acknowledging delivery takes all three.
    hub.ack(s, &format!("{s}-9"), false).unwrap();
    let st = hub.state.lock().unwrap_or_else(PoisonError::into_inner);
    let left: Vec<u64> = st.sessions[&s].unacked.keys().copied().collect();
    assert_eq!(
        left,
        [2, 5, 8],
        "the queue's deliveries stay unacknowledged"
    );
}

#[test]
fn unsubscribing_from_a_topic_ends_its_deliveries_and_forgets_the_topic() {
    let hub = hub(|_| {});
    let (s, mut rx) = connect(&hub, "alice").unwrap();
    hub.subscribe(s, "t", "/topic/a", "/topic/a", AckMode::Auto)
        .unwrap();
    hub.subscribe(s, "c", "/topic/a", "/topic/a", AckMode::Client)
        .unwrap();
    hub.publish("/topic/a", message("/topic/a", 1), false)
        .unwrap();
    assert_eq!(drain(&mut rx).len(), 2);
    hub.unsubscribe(s, "t").unwrap();
    hub.publish("/topic/a", message("/topic/a", 1), false)
        .unwrap();
    let left = drain(&mut rx);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].subscription(), "c");
    hub.unregister(s);
    assert!(hub.topics.get("/topic/a").is_none());
    let st = hub.state.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(st.dests.is_empty());
}
