//! The notifier across conversations: a burst from many places is one summary, 40 groups
//! joined at once are a few pop-ups, and a conversation joined with a past does not pop up
//! its history.

use super::tests::{cache, conv, msg, run};
use super::*;
use tidings_proto::{Conversation, Timestamp};

fn note(seq: i64, title: &str) -> Notification {
    Notification {
        id: format!("n{seq}"),
        user_id: "me".into(),
        seq,
        kind: "conversation.added".into(),
        title: title.into(),
        message: "Bob added you".into(),
        data: None,
        conversation_id: None,
        url: None,
        is_read: false,
        created_at: Timestamp(seq),
    }
}

#[test]
fn a_burst_across_many_conversations_is_one_summary() {
    let (c, dir) = cache();
    let ids: Vec<String> = (1..=9).map(|i| format!("c{i}")).collect();
    for id in &ids {
        c.upsert_conversation(&conv(id), "me").unwrap();
    }
    let mut n = Notifier::default();
    n.baseline(&c).unwrap();
    let s = Settings::default();
    let t0 = Instant::now();
    // 12 messages in 9 conversations, in one batch.
    for (i, id) in ids.iter().enumerate() {
        let count = if i < 3 { 2 } else { 1 };
        let batch: Vec<Message> = (1..=count)
            .map(|seq| Message {
                // Unique per sender: the cache keeps one message per sender and clientId.
                client_id: format!("{id}-{seq}"),
                ..msg(id, seq, "bob", &format!("{id} {seq}"))
            })
            .collect();
        c.insert_messages(&batch, "me").unwrap();
    }
    let names: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (t, held) = run(&mut n, &c, &names, &View::default(), &s, false, t0);
    assert!(!held);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].key, summary::SUMMARY_KEY);
    assert_eq!(t[0].summary, "12 new messages in 9 conversations");
    assert_eq!(t[0].body, "Bob, Bob, Bob and 6 more");
    // One more soon after: the summary is updated, not a pop-up of its own.
    let more = Message {
        client_id: "c1-3".into(),
        ..msg("c1", 3, "bob", "more")
    };
    c.insert_messages(&[more], "me").unwrap();
    let (t, _) = run(
        &mut n,
        &c,
        &["c1"],
        &View::default(),
        &s,
        false,
        t0 + THROTTLE,
    );
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].key, summary::SUMMARY_KEY);
    assert_eq!(t[0].summary, "13 new messages in 9 conversations");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn being_added_to_a_group_does_not_notify_its_history() {
    use tidings_proto::SystemEntry;
    let (c, dir) = cache();
    let mut n = Notifier::default();
    n.baseline(&c).unwrap();
    let s = Settings::default();
    let t0 = Instant::now();
    // A group with a past arrives (its view says nothing read, as the worst case).
    let group = Conversation {
        kind: ConversationKind::Group,
        title: Some("Launch".into()),
        ..conv("g")
    };
    c.upsert_conversation(&group, "me").unwrap();
    let mut history: Vec<Message> = (1..=30)
        .map(|i| msg("g", i, "bob", &format!("old {i}")))
        .collect();
    history.push(Message {
        system: Some(SystemEntry {
            action: SystemAction::Added,
            users: vec!["me".into()],
            title: None,
        }),
        ..msg("g", 31, "bob", "Bob added Me")
    });
    c.insert_messages(&history, "me").unwrap();
    let (t, held) = run(&mut n, &c, &["g"], &View::default(), &s, false, t0);
    assert!(t.is_empty() && !held, "{t:?}");
    // What is said after joining is news.
    c.insert_messages(&[msg("g", 32, "bob", "welcome!")], "me")
        .unwrap();
    let (t, _) = run(&mut n, &c, &["g"], &View::default(), &s, false, t0);
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].summary.as_str(), t[0].body.as_str()),
        ("Bob in Launch", "welcome!")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn added_to_forty_groups_at_once_is_a_few_pop_ups() {
    let (c, dir) = cache();
    let mut n = Notifier::default();
    n.baseline(&c).unwrap();
    let s = Settings::default();
    let t0 = Instant::now();
    let moment = |at: Instant| (View::default(), at);
    let mut shown = Vec::new();
    // 40 notifications over 2 s, each its own change; the bridge calls again when held.
    let mut at = t0;
    for i in 1..=40 {
        at = t0 + std::time::Duration::from_millis(50 * i as u64);
        c.insert_notifications(&[note(i, &format!("Added to g{i}"))])
            .unwrap();
        let (view, now) = moment(at);
        let m = Moment {
            view: &view,
            settings: &s,
            quiet: false,
            now,
        };
        shown.extend(n.on_changes(&c, "me", &[], true, &m).unwrap().0);
    }
    loop {
        at += THROTTLE;
        let (view, now) = moment(at);
        let m = Moment {
            view: &view,
            settings: &s,
            quiet: false,
            now,
        };
        let (t, held) = n.on_changes(&c, "me", &[], false, &m).unwrap();
        shown.extend(t);
        if !held {
            break;
        }
    }
    assert!(shown.len() <= 3, "{} pop-ups: {shown:?}", shown.len());
    let last = shown.last().unwrap();
    assert_eq!(last.key, summary::SUMMARY_KEY);
    assert_eq!(last.summary, "40 new notifications");
    assert_eq!(
        last.target,
        Target::Summary {
            notifications: true
        }
    );
    std::fs::remove_dir_all(dir).unwrap();
}
