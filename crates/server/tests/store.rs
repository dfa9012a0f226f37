//! The store contract (see `store/mod.rs`), written once against the traits and run against
//! every implementation: SQLite (a real file) and PostgreSQL (a fresh database of a private
//! server, `tidings_testkit::Postgres`). Several nodes writing to one PostgreSQL at once:
//! `store_postgres.rs`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use tidings_proto::{ContentType, ConversationKind, SystemAction, SystemEntry, Timestamp};
use tidings_server::store::sqlite::{SqliteStore, Synchronous};
use tidings_server::store::*;
use tidings_testkit::TempDir;

/// Each implementation, fresh, with what keeps it alive.
fn implementations() -> Vec<(&'static str, Arc<dyn Store>, TempDir)> {
    let dir = TempDir::new("store");
    let sqlite = SqliteStore::open(&dir.0.join("t.db"), Synchronous::Full).unwrap();
    vec![
        ("sqlite", Arc::new(sqlite), dir),
        // A fresh database of the test binary's private PostgreSQL.
        (
            "postgres",
            Arc::new(tidings_testkit::postgres_store()),
            TempDir::new("store-pg"),
        ),
    ]
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        name: name.into(),
        display_name: name.to_uppercase(),
        password_hash: Some("$argon2id$fake".into()),
        roles: vec![],
        created_at: Timestamp(1),
    }
}

fn msg(cid: &str, sender: &str, key: &str) -> NewMessage {
    NewMessage {
        id: new_id("m"),
        conversation_id: cid.into(),
        sender: sender.into(),
        client_id: key.into(),
        content: format!("content {key}"),
        content_type: ContentType::Text,
        created_at: Timestamp::now(),
    }
}

async fn group(s: &dyn Store, members: &[&str]) -> String {
    let (c, created) = s
        .create_conversation(NewConversation {
            id: new_id("c"),
            kind: ConversationKind::Group,
            title: Some("g".into()),
            created_by: members[0].into(),
            participants: members.iter().map(|m| (*m).to_owned()).collect(),
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();
    assert!(created);
    c.id
}

async fn with_users(s: &dyn Store, names: &[&str]) {
    for n in names {
        s.create_user(user(n)).await.unwrap();
    }
}

#[tokio::test]
async fn users_are_unique_and_found_by_name() {
    for (name, s, _keep) in implementations() {
        with_users(&*s, &["alice"]).await;
        assert!(
            matches!(
                s.create_user(user("alice")).await,
                Err(StoreError::Conflict(_))
            ),
            "{name}"
        );
        let got = s.user("alice").await.unwrap().unwrap();
        assert_eq!(got.display_name, "ALICE");
        assert!(s.user("bob").await.unwrap().is_none());
        let found = s.users(&["alice".into(), "bob".into()]).await.unwrap();
        assert_eq!(found.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_expire() {
    for (name, s, _keep) in implementations() {
        with_users(&*s, &["alice"]).await;
        let now = Timestamp(1_000_000);
        let later = Timestamp(2_000_000);
        s.add_refresh_token(RefreshRecord {
            hash: [1; 32],
            user: "alice".into(),
            expires_at: later,
            family: "f1".into(),
        })
        .await
        .unwrap();
        const GRACE: i64 = 60_000;
        let rotate = |old: u8, new: u8, at: Timestamp| {
            let s = s.clone();
            async move {
                s.rotate_refresh_token([old; 32], [new; 32], later, at, GRACE)
                    .await
                    .unwrap()
            }
        };
        let rotated = Rotation::Rotated {
            user: "alice".into(),
            family: "f1".into(),
        };
        assert_eq!(rotate(1, 2, now).await, rotated, "{name}");
        // Presented again within the grace period (its answer was lost): accepted again,
        // and the successor handed out before (2) is revoked: one live token per family.
        let soon = Timestamp(now.millis() + 1_000);
        assert_eq!(rotate(1, 3, soon).await, rotated);
        assert_eq!(rotate(2, 8, soon).await, Rotation::Refused, "superseded");
        assert_eq!(rotate(3, 4, soon).await, rotated, "the live one");
        // After the grace period: a reuse, and the whole family goes.
        let late = Timestamp(now.millis() + GRACE + 1);
        assert_eq!(
            rotate(1, 7, late).await,
            Rotation::Reused {
                user: "alice".into(),
                family: "f1".into()
            }
        );
        assert_eq!(
            rotate(4, 9, late).await,
            Rotation::Refused,
            "family revoked"
        );
        assert_eq!(s.revoke_refresh_family([4; 32]).await.unwrap(), None);
        // Expiry, and sign-out of a whole family.
        s.add_refresh_token(RefreshRecord {
            hash: [5; 32],
            user: "alice".into(),
            expires_at: later,
            family: "f2".into(),
        })
        .await
        .unwrap();
        assert_eq!(
            rotate(5, 10, Timestamp(3_000_000)).await,
            Rotation::Refused,
            "expired"
        );
        assert_eq!(
            rotate(5, 6, now).await,
            Rotation::Rotated {
                user: "alice".into(),
                family: "f2".into()
            }
        );
        assert_eq!(
            s.revoke_refresh_family([5; 32]).await.unwrap().as_deref(),
            Some("f2"),
            "an exchanged token still names its family"
        );
        assert_eq!(
            rotate(6, 11, now).await,
            Rotation::Refused,
            "revoked with it"
        );
    }
}

#[tokio::test]
async fn display_names_are_unique_under_case_width_and_login_names() {
    for (name, s, _keep) in implementations() {
        let mk = |n: &str, d: &str| UserRecord {
            display_name: d.into(),
            ..user(n)
        };
        s.create_user(mk("alice", "Alice Smith")).await.unwrap();
        for (n, d) in [
            ("b1", "alice smith"),
            ("b2", "ＡＬＩＣＥ  ＳＭＩＴＨ"),
            ("b3", "Alice"),
        ] {
            assert!(
                matches!(s.create_user(mk(n, d)).await, Err(StoreError::Conflict(_))),
                "{name}: {d}"
            );
        }
        s.create_user(mk("zed", "Bob")).await.unwrap();
        assert!(
            matches!(
                s.create_user(mk("bob", "Robert")).await,
                Err(StoreError::Conflict(_))
            ),
            "a login name that is another's display name"
        );
        assert!(s.user("b1").await.unwrap().is_none());
        assert_eq!(display_key("ＡＬＩＣＥ  Smith"), "alice smith");
    }
}

#[tokio::test]
async fn a_direct_conversation_exists_once_per_pair() {
    for (name, s, _keep) in implementations() {
        with_users(&*s, &["alice", "bob"]).await;
        let new = |by: &str, other: &str| NewConversation {
            id: new_id("c"),
            kind: ConversationKind::Direct,
            title: None,
            created_by: by.into(),
            participants: vec![by.into(), other.into()],
            created_at: Timestamp::now(),
        };
        let (a, created) = s.create_conversation(new("alice", "bob")).await.unwrap();
        assert!(created);
        let (b, created) = s.create_conversation(new("bob", "alice")).await.unwrap();
        assert!(!created, "{name}");
        assert_eq!(a.id, b.id);
        let err = s
            .create_conversation(NewConversation {
                participants: vec!["alice".into(), "ghost".into()],
                ..new("alice", "x")
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(m) if m.contains("ghost")));
        assert_eq!(s.conversations_of("alice").await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn concurrent_appends_get_contiguous_seqs_in_commit_order() {
    for (name, s, _keep) in implementations() {
        let users: Vec<String> = (0..8).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = users.iter().map(String::as_str).collect();
        with_users(&*s, &refs).await;
        let cid = group(&*s, &refs).await;
        let mut tasks = Vec::new();
        for u in &users {
            let (s, u, cid) = (s.clone(), u.clone(), cid.clone());
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for n in 0..50 {
                    seqs.push(
                        s.append_message(msg(&cid, &u, &format!("{u}-{n}")))
                            .await
                            .unwrap()
                            .message
                            .seq,
                    );
                }
                seqs
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            let seqs = t.await.unwrap();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "{name}: one sender's seqs increase"
            );
            all.extend(seqs);
        }
        all.sort();
        assert_eq!(all, (1..=400).collect::<Vec<i64>>(), "{name}");
        let page = s.messages(&cid, Range::After(0, 500)).await.unwrap();
        assert_eq!(page.items.len(), 400);
        assert_eq!(page.last_seq, 400);
    }
}

#[tokio::test]
async fn appends_are_idempotent_per_sender_and_client_id() {
    for (name, s, _keep) in implementations() {
        with_users(&*s, &["alice", "bob", "mallory"]).await;
        let cid = group(&*s, &["alice", "bob"]).await;
        let other = group(&*s, &["alice", "bob"]).await;
        let first = s.append_message(msg(&cid, "alice", "k")).await.unwrap();
        assert!(!first.duplicate);
        let again = s.append_message(msg(&cid, "alice", "k")).await.unwrap();
        assert!(again.duplicate, "{name}");
        assert_eq!(again.message, first.message);
        // Another sender may use the same key.
        let bobs = s.append_message(msg(&cid, "bob", "k")).await.unwrap();
        assert_eq!(bobs.message.seq, 2);
        assert!(matches!(
            s.append_message(msg(&other, "alice", "k")).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.append_message(msg(&cid, "mallory", "m")).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            s.append_message(msg("c_none", "alice", "z")).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            s.messages(&cid, Range::Newest(10)).await.unwrap().last_seq,
            2,
            "refusals store nothing"
        );
    }
}

#[tokio::test]
async fn pages_and_read_markers() {
    for (name, s, _keep) in implementations() {
        with_users(&*s, &["alice", "bob"]).await;
        let cid = group(&*s, &["alice", "bob"]).await;
        for i in 0..10 {
            s.append_message(msg(&cid, "alice", &format!("k{i}")))
                .await
                .unwrap();
        }
        let seqs =
            |p: Page<tidings_proto::Message>| p.items.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(
            seqs(s.messages(&cid, Range::Newest(3)).await.unwrap()),
            vec![8, 9, 10],
            "{name}"
        );
        assert_eq!(
            seqs(s.messages(&cid, Range::Before(8, 3)).await.unwrap()),
            vec![5, 6, 7]
        );
        assert_eq!(
            seqs(s.messages(&cid, Range::After(8, 3)).await.unwrap()),
            vec![9, 10]
        );
        assert!(!s.messages(&cid, Range::After(8, 3)).await.unwrap().has_more);
        assert!(
            s.messages(&cid, Range::Before(8, 3))
                .await
                .unwrap()
                .has_more
        );
        // Sending moved alice's marker; bob's moves forward only and stops at the end.
        let conv = s.conversation(&cid).await.unwrap().unwrap();
        assert_eq!(conv.participant("alice").unwrap().read_seq, 10);
        assert_eq!(
            s.mark_read(&cid, "bob", 4).await.unwrap(),
            ReadMarker {
                read_seq: 4,
                last_seq: 10,
                moved: true
            }
        );
        assert_eq!(
            s.mark_read(&cid, "bob", 2).await.unwrap(),
            ReadMarker {
                read_seq: 4,
                last_seq: 10,
                moved: false
            }
        );
        assert_eq!(s.mark_read(&cid, "bob", 99).await.unwrap().read_seq, 10);
        assert!(matches!(
            s.mark_read(&cid, "nobody", 1).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            s.mark_read("c_none", "bob", 1).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

fn membership(cid: &str, by: &str, change: Membership) -> MembershipChange {
    MembershipChange {
        conversation_id: cid.into(),
        by: by.into(),
        change,
        entry_id: new_id("m"),
        content: "a change".into(),
        system: SystemEntry {
            action: SystemAction::Added,
            users: vec![],
            title: None,
        },
        at: Timestamp::now(),
    }
}

fn add(users: &[&str], max_size: usize) -> Membership {
    Membership::Add {
        users: users.iter().map(|u| (*u).to_owned()).collect(),
        max_size,
    }
}

#[tokio::test]
async fn participants_join_with_nothing_unread() {
    for (name, s, _keep) in implementations() {
        with_users(&*s, &["alice", "bob", "carol"]).await;
        let cid = group(&*s, &["alice", "bob"]).await;
        s.append_message(msg(&cid, "alice", "k")).await.unwrap();
        let done = s
            .change_membership(membership(&cid, "alice", add(&["carol", "bob"], 1000)))
            .await
            .unwrap();
        assert_eq!(done.participants_before, ["alice", "bob"], "{name}");
        // The system entry is seq 2; carol has read up to where she joined.
        assert_eq!(done.entry.seq, 2, "{name}");
        assert_eq!(done.conversation.participant("carol").unwrap().read_seq, 1);
        assert!(matches!(
            s.change_membership(membership(&cid, "mallory", add(&["carol"], 1000)))
                .await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            s.change_membership(membership(&cid, "alice", add(&["ghost"], 1000)))
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(s.is_participant(&cid, "carol").await.unwrap());
    }
}

#[tokio::test]
async fn a_group_never_passes_its_size_limit() {
    for (name, s, _keep) in implementations() {
        with_users(&*s, &["alice", "bob", "carol", "dave"]).await;
        let cid = group(&*s, &["alice", "bob"]).await;
        assert!(
            matches!(
                s.change_membership(membership(&cid, "alice", add(&["carol", "dave"], 3)))
                    .await,
                Err(StoreError::Conflict(_))
            ),
            "{name}: 2 + 2 > 3"
        );
        assert!(!s.is_participant(&cid, "carol").await.unwrap(), "{name}");
        assert_eq!(
            s.conversation(&cid).await.unwrap().unwrap().rev,
            0,
            "{name}: no rev"
        );
        // Those already in do not count twice.
        let done = s
            .change_membership(membership(&cid, "alice", add(&["bob", "carol"], 3)))
            .await
            .unwrap();
        assert_eq!(done.conversation.participants.len(), 3, "{name}");
    }
}

/// Pages through `user`'s conversations `limit` at a time, calling `between` after each
/// page; returns the ids in the order served.
async fn page_through(
    s: &dyn Store,
    user: &str,
    limit: u32,
    mut between: impl FnMut(usize) -> Option<NewMessage>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = None;
    for page_no in 0.. {
        let page = s.conversation_page(user, cursor, limit).await.unwrap();
        assert!(page.items.len() <= limit as usize);
        out.extend(page.items.iter().map(|(c, _)| c.id.clone()));
        let Some(next) = page.next else {
            return out;
        };
        assert_eq!(
            page.items.len(),
            limit as usize,
            "a page before the last is full"
        );
        cursor = Some(next);
        if let Some(m) = between(page_no) {
            s.append_message(m).await.unwrap();
        }
    }
    unreachable!()
}

#[tokio::test]
async fn conversation_pages_give_each_conversation_once_while_activity_reorders_them() {
    for (name, s, _keep) in implementations() {
        with_users(&*s, &["alice", "bob"]).await;
        let mut ids = Vec::new();
        for i in 0..25 {
            let (c, _) = s
                .create_conversation(NewConversation {
                    id: new_id("c"),
                    kind: ConversationKind::Group,
                    title: Some(format!("g{i}")),
                    created_by: "alice".into(),
                    participants: vec!["alice".into(), "bob".into()],
                    // Three share each time: ties are broken by id.
                    created_at: Timestamp(1_000 + i / 3),
                })
                .await
                .unwrap();
            ids.push(c.id);
        }
        let at = |cid: &str, key: String, t: i64| NewMessage {
            created_at: Timestamp(t),
            ..msg(cid, "alice", &key)
        };
        // Some have messages: the order is by last activity, newest first.
        s.append_message(at(&ids[3], "a".into(), 5_000))
            .await
            .unwrap();
        s.append_message(at(&ids[20], "b".into(), 4_000))
            .await
            .unwrap();
        let whole = page_through(&*s, "bob", 500, |_| None).await;
        assert_eq!(whole.len(), 25, "{name}");
        assert_eq!(&whole[..2], &[ids[3].clone(), ids[20].clone()], "{name}");
        let mut sorted = whole.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 25, "{name}: no repeats");
        // A small page size and activity between pages: the conversation the next page
        // would end with jumps to the top, and so does one already served.
        let mut t = 10_000;
        let mut plan = whole.clone();
        let served = page_through(&*s, "bob", 4, |page_no| {
            t += 1;
            let cid = if page_no % 2 == 0 {
                // Not served yet: the last of the current order.
                plan.pop().unwrap()
            } else {
                plan.remove(0)
            };
            Some(at(&cid, format!("move-{page_no}"), t))
        })
        .await;
        let mut again = served.clone();
        again.sort();
        again.dedup();
        assert_eq!(served.len(), 25, "{name}: {served:?}");
        assert_eq!(again.len(), 25, "{name}: each exactly once");
        assert_eq!(
            served, whole,
            "{name}: in the order of the first page's snapshot"
        );
        // A conversation created after the first page is not in that listing, but in a new one.
        let first = s.conversation_page("bob", None, 10).await.unwrap();
        let late = group(&*s, &["alice", "bob"]).await;
        let mut rest: Vec<String> = first.items.iter().map(|(c, _)| c.id.clone()).collect();
        let mut cursor = first.next;
        while let Some(c) = cursor.take() {
            let page = s.conversation_page("bob", Some(c), 10).await.unwrap();
            rest.extend(page.items.iter().map(|(c, _)| c.id.clone()));
            cursor = page.next;
        }
        assert_eq!(rest.len(), 25, "{name}");
        assert!(!rest.contains(&late), "{name}");
        let fresh = page_through(&*s, "bob", 10, |_| None).await;
        assert_eq!(fresh[0], late, "{name}: the newest activity comes first");
    }
}

#[tokio::test]
async fn notifications_are_contiguous_per_user_and_all_or_none() {
    for (name, s, _keep) in implementations() {
        with_users(&*s, &["alice", "bob"]).await;
        let new = |users: &[&str]| NewNotification {
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            kind: "k".into(),
            title: "t".into(),
            message: "m".into(),
            data: Some(serde_json::json!({"x": 1})),
            conversation_id: None,
            url: None,
            created_at: Timestamp::now(),
        };
        s.create_notifications(new(&["alice"])).await.unwrap();
        let both = s
            .create_notifications(new(&["alice", "bob"]))
            .await
            .unwrap();
        assert_eq!(
            both.iter().map(|n| n.seq).collect::<Vec<_>>(),
            vec![2, 1],
            "{name}"
        );
        assert!(matches!(
            s.create_notifications(new(&["bob", "ghost"])).await,
            Err(StoreError::NotFound(_))
        ));
        let (page, unread) = s
            .notifications("bob", Range::Newest(10), false)
            .await
            .unwrap();
        assert_eq!(
            (page.items.len(), page.last_seq, unread),
            (1, 1, 1),
            "ghost made nothing for bob"
        );
        let (page, _) = s
            .notifications("alice", Range::After(1, 10), false)
            .await
            .unwrap();
        assert_eq!(
            page.items.iter().map(|n| n.seq).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(page.items[0].data, Some(serde_json::json!({"x": 1})));
        let (read, marked) = s
            .mark_notification_read("alice", &page.items[0].id)
            .await
            .unwrap();
        assert!(read.is_read);
        assert_eq!((marked.changed, marked.unread), (1, 1), "{name}");
        let (_, again) = s.mark_notification_read("alice", &read.id).await.unwrap();
        assert_eq!(again.changed, 0, "{name}: marking twice changes nothing");
        assert!(matches!(
            s.mark_notification_read("bob", &read.id).await,
            Err(StoreError::NotFound(_))
        ));
        let newest = Range::Newest(10);
        assert_eq!(s.notifications("alice", newest, false).await.unwrap().1, 1);
        let (unread, _) = s.notifications("alice", newest, true).await.unwrap();
        assert_eq!(
            unread.items.iter().map(|n| n.seq).collect::<Vec<_>>(),
            vec![1],
            "{name}: only the unread one"
        );
    }
}

#[tokio::test]
async fn mark_all_read_marks_up_to_a_seq_and_pages_back() {
    for (name, s, _keep) in implementations() {
        with_users(&*s, &["alice", "bob"]).await;
        for i in 0..5 {
            s.create_notifications(NewNotification {
                users: vec!["alice".into(), "bob".into()],
                kind: "k".into(),
                title: format!("t{i}"),
                message: "m".into(),
                data: None,
                conversation_id: None,
                url: None,
                created_at: Timestamp::now(),
            })
            .await
            .unwrap();
        }
        let (up_to, marked) = s.mark_notifications_read("alice", Some(3)).await.unwrap();
        assert_eq!((up_to, marked.changed, marked.unread), (3, 3, 2), "{name}");
        let (page, unread) = s
            .notifications("alice", Range::Before(5, 2), false)
            .await
            .unwrap();
        assert_eq!(unread, 2);
        assert_eq!(
            page.items
                .iter()
                .map(|n| (n.seq, n.is_read))
                .collect::<Vec<_>>(),
            vec![(3, true), (4, false)],
            "{name}: the two before 5, ascending"
        );
        assert!(page.has_more);
        // Past the last: up to the last; bob's are untouched.
        let (up_to, marked) = s.mark_notifications_read("alice", Some(99)).await.unwrap();
        assert_eq!((up_to, marked.changed, marked.unread), (5, 2, 0), "{name}");
        let (up_to, marked) = s.mark_notifications_read("alice", None).await.unwrap();
        assert_eq!(
            (up_to, marked.changed),
            (5, 0),
            "{name}: nothing left to mark"
        );
        assert_eq!(
            s.notifications("bob", Range::Newest(10), false)
                .await
                .unwrap()
                .1,
            5
        );
        assert!(matches!(
            s.mark_notifications_read("ghost", None).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn announcements_are_ordered() {
    for (name, s, _keep) in implementations() {
        let a = s
            .create_announcement("t1", "m1", "svc", Timestamp(5))
            .await
            .unwrap();
        let b = s
            .create_announcement("t2", "m2", "svc", Timestamp(6))
            .await
            .unwrap();
        assert!(b.seq > a.seq, "{name}");
        let page = s.announcements(Some(a.seq), 10).await.unwrap();
        assert_eq!(page.items, vec![b]);
    }
}

#[tokio::test]
async fn sqlite_keeps_everything_across_reopen_and_refuses_a_newer_schema() {
    let dir = TempDir::new("reopen");
    let path = dir.0.join("t.db");
    {
        let s = SqliteStore::open(&path, Synchronous::Full).unwrap();
        with_users(&s, &["alice", "bob"]).await;
        let cid = group(&s, &["alice", "bob"]).await;
        s.append_message(msg(&cid, "alice", "k")).await.unwrap();
    }
    let s = SqliteStore::open(&path, Synchronous::Normal).unwrap();
    let convs = s.conversations_of("bob").await.unwrap();
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0].1.as_ref().unwrap().client_id, "k");
    drop(s);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path, Synchronous::Full).unwrap_err();
    assert!(
        err.to_string().contains("newer than this tidings-server"),
        "{err}"
    );
}
