//! The store contract for the change log (see `store/timeline.rs`): revisions, edits,
//! deletions, reactions, replies, mentions, membership changes and the directory, written
//! against the traits and run against every implementation.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use tidings_proto::{ContentType, ConversationKind, SystemAction, SystemEntry, Timestamp};
use tidings_server::store::sqlite::{SqliteStore, Synchronous};
use tidings_server::store::*;
use tidings_testkit::TempDir;

fn implementations() -> Vec<(&'static str, Arc<dyn Store>, TempDir)> {
    let dir = TempDir::new("store-tl");
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

async fn users(s: &dyn Store, names: &[(&str, &str)]) {
    for (name, display) in names {
        s.create_user(UserRecord {
            name: (*name).into(),
            display_name: (*display).into(),
            password_hash: None,
            roles: vec![],
            created_at: Timestamp(1),
        })
        .await
        .unwrap();
    }
}

async fn group(s: &dyn Store, members: &[&str]) -> String {
    s.create_conversation(NewConversation {
        id: new_id("c"),
        kind: ConversationKind::Group,
        title: Some("g".into()),
        created_by: members[0].into(),
        participants: members.iter().map(|m| (*m).to_owned()).collect(),
        created_at: Timestamp::now(),
    })
    .await
    .unwrap()
    .0
    .id
}

fn msg(cid: &str, sender: &str, key: &str, at: Timestamp) -> NewMessage {
    NewMessage {
        id: new_id("m"),
        conversation_id: cid.into(),
        sender: sender.into(),
        client_id: key.into(),
        content: format!("content {key}"),
        content_type: ContentType::Text,
        created_at: at,
    }
}

fn edit(cid: &str, mid: &str, by: &str, content: &str, at: Timestamp) -> Edit {
    Edit {
        conversation_id: cid.into(),
        message_id: mid.into(),
        by: by.into(),
        content: content.into(),
        content_type: ContentType::Markdown,
        mentions: vec![],
        at,
        window_ms: None,
    }
}

fn react(cid: &str, mid: &str, user: &str, emoji: &str, on: bool) -> NewReaction {
    NewReaction {
        conversation_id: cid.into(),
        message_id: mid.into(),
        user: user.into(),
        emoji: emoji.into(),
        on,
        at: Timestamp::now(),
        max_emoji: 2,
    }
}

async fn rev(s: &dyn Store, cid: &str) -> i64 {
    s.conversation(cid).await.unwrap().unwrap().rev
}

#[tokio::test]
async fn every_change_advances_rev_by_one_and_no_op_by_none() {
    for (name, s, _keep) in implementations() {
        let s = &*s;
        users(s, &[("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")]).await;
        let cid = group(s, &["alice", "bob"]).await;
        assert_eq!(rev(s, &cid).await, 0, "{name}: creation is silent");
        let m1 = s
            .append_message(msg(&cid, "alice", "1", Timestamp::now()))
            .await
            .unwrap()
            .message;
        assert_eq!((m1.seq, m1.rev), (1, 1), "{name}");
        let e = s
            .edit_message(edit(&cid, &m1.id, "alice", "new", Timestamp::now()))
            .await
            .unwrap();
        assert!(e.changed);
        assert_eq!((e.message.rev, e.message.content.as_str()), (2, "new"));
        assert!(e.message.edited_at.is_some());
        let r = s
            .react(react(&cid, &m1.id, "bob", "👍", true))
            .await
            .unwrap();
        assert_eq!((r.changed, r.message.rev), (true, 3), "{name}");
        let again = s
            .react(react(&cid, &m1.id, "bob", "👍", true))
            .await
            .unwrap();
        assert_eq!(
            (again.changed, again.message.rev),
            (false, 3),
            "{name}: no-op"
        );
        let off = s
            .react(react(&cid, &m1.id, "alice", "❤️", false))
            .await
            .unwrap();
        assert!(!off.changed, "{name}: off when off is a no-op");
        assert_eq!(rev(s, &cid).await, 3);
        let m2 = s
            .append_entry(
                msg(&cid, "bob", "2", Timestamp::now()),
                MessageRefs {
                    reply_to: Some(m1.id.clone()),
                    mentions: vec!["alice".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .message;
        assert_eq!(m2.rev, 4);
        assert_eq!(m2.reply_to.as_ref().unwrap().seq, 1);
        assert_eq!(m2.mentions, ["alice"]);
        let added = s
            .change_membership(MembershipChange {
                conversation_id: cid.clone(),
                by: "alice".into(),
                change: Membership::Add {
                    users: vec!["carol".into()],
                    max_size: 10,
                },
                entry_id: new_id("m"),
                content: "Alice added Carol".into(),
                system: SystemEntry {
                    action: SystemAction::Added,
                    users: vec!["carol".into()],
                    title: None,
                },
                at: Timestamp::now(),
            })
            .await
            .unwrap();
        assert_eq!((added.entry.seq, added.entry.rev), (3, 5), "{name}");
        assert_eq!(added.conversation.rev, 5);
        let d = s.delete_message(&cid, &m1.id, "alice").await.unwrap();
        assert!(d.changed && d.message.deleted);
        assert_eq!(d.message.rev, 6);
        assert!(d.message.content.is_empty() && d.message.reactions.is_empty());
        let d2 = s.delete_message(&cid, &m1.id, "alice").await.unwrap();
        assert!(!d2.changed, "{name}: a tombstone deleted again");
        assert_eq!(rev(s, &cid).await, 6);

        // The change log: each entry once, as it is now, in rev order.
        let all = s.changes(&cid, 0, 100).await.unwrap();
        let revs: Vec<i64> = all.items.iter().map(|m| m.rev).collect();
        assert_eq!(revs, [4, 5, 6], "{name}");
        assert_eq!((all.has_more, all.rev), (false, 6));
        let page = s.changes(&cid, 0, 2).await.unwrap();
        assert_eq!((page.items.len(), page.has_more, page.rev), (2, true, 5));
        let rest = s.changes(&cid, page.rev, 2).await.unwrap();
        assert_eq!(rest.items[0].id, m1.id);
        assert_eq!((rest.has_more, rest.rev), (false, 6));
        let none = s.changes(&cid, 6, 2).await.unwrap();
        assert!(none.items.is_empty() && none.rev == 6);
    }
}

#[tokio::test]
async fn actions_are_refused_where_the_contract_says_and_change_nothing() {
    for (name, s, _keep) in implementations() {
        let s = &*s;
        users(s, &[("alice", "Alice"), ("bob", "Bob"), ("eve", "Eve")]).await;
        let cid = group(s, &["alice", "bob"]).await;
        let other = group(s, &["alice", "eve"]).await;
        let t0 = Timestamp(1_000_000);
        let m = s
            .append_message(msg(&cid, "alice", "1", t0))
            .await
            .unwrap()
            .message;
        let foreign = s
            .append_message(msg(&other, "alice", "x", t0))
            .await
            .unwrap()
            .message;
        let before = rev(s, &cid).await;
        let e = |by: &str| edit(&cid, &m.id, by, "changed", Timestamp(t0.0 + 10));
        assert!(
            matches!(
                s.edit_message(e("bob")).await,
                Err(StoreError::Forbidden(_))
            ),
            "{name}"
        );
        assert!(matches!(
            s.edit_message(e("eve")).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            s.delete_message(&cid, &m.id, "bob").await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            s.react(react(&cid, &m.id, "eve", "👍", true)).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            s.edit_message(edit(&cid, "m_nope", "alice", "x", t0)).await,
            Err(StoreError::NotFound(_))
        ));
        // The edit window, on the clock given: 1 s after creation is too late for 1 s.
        let late = Edit {
            window_ms: Some(1000),
            ..edit(&cid, &m.id, "alice", "late", Timestamp(t0.0 + 1001))
        };
        assert!(matches!(
            s.edit_message(late).await,
            Err(StoreError::Forbidden(_))
        ));
        let in_time = Edit {
            window_ms: Some(1000),
            ..edit(&cid, &m.id, "alice", "in time", Timestamp(t0.0 + 1000))
        };
        let mut mentions_outsider = in_time.clone();
        mentions_outsider.mentions = vec!["eve".into()];
        assert!(matches!(
            s.edit_message(mentions_outsider).await,
            Err(StoreError::Invalid(_))
        ));
        let reply_elsewhere = s
            .append_entry(
                msg(&cid, "bob", "r", t0),
                MessageRefs {
                    reply_to: Some(foreign.id.clone()),
                    mentions: vec![],
                    ..Default::default()
                },
            )
            .await;
        assert!(matches!(reply_elsewhere, Err(StoreError::Invalid(_))));
        let mention_outsider = s
            .append_entry(
                msg(&cid, "bob", "r2", t0),
                MessageRefs {
                    reply_to: None,
                    mentions: vec!["eve".into()],
                    ..Default::default()
                },
            )
            .await;
        assert!(matches!(mention_outsider, Err(StoreError::Invalid(_))));
        assert_eq!(rev(s, &cid).await, before, "{name}: nothing changed");
        let stored = s.message(&cid, &m.id).await.unwrap().unwrap();
        assert_eq!(stored, m, "{name}: the message is as it was");
        assert!(s.edit_message(in_time).await.unwrap().changed, "{name}");

        // At most max_emoji different emoji; more users on one is fine.
        s.react(react(&cid, &m.id, "bob", "👍", true))
            .await
            .unwrap();
        s.react(react(&cid, &m.id, "alice", "👍", true))
            .await
            .unwrap();
        s.react(react(&cid, &m.id, "bob", "🎉", true))
            .await
            .unwrap();
        assert!(matches!(
            s.react(react(&cid, &m.id, "bob", "🔥", true)).await,
            Err(StoreError::Conflict(_))
        ));
        let now = s.message(&cid, &m.id).await.unwrap().unwrap();
        assert_eq!(now.reactions.len(), 2);
        assert_eq!(
            now.reactions[0].users,
            ["bob", "alice"],
            "{name}: in reacting order"
        );
        // Tombstones take no edits nor reactions.
        s.delete_message(&cid, &m.id, "alice").await.unwrap();
        assert!(matches!(
            s.edit_message(edit(&cid, &m.id, "alice", "x", t0)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.react(react(&cid, &m.id, "bob", "👍", true)).await,
            Err(StoreError::Conflict(_))
        ));
    }
}

#[tokio::test]
async fn removing_and_renaming_are_entries_and_direct_conversations_refuse_them() {
    for (name, s, _keep) in implementations() {
        let s = &*s;
        users(s, &[("alice", "Alice"), ("bob", "Bob")]).await;
        let cid = group(s, &["alice", "bob"]).await;
        let change = |by: &str, change: Membership| MembershipChange {
            conversation_id: cid.clone(),
            by: by.into(),
            change,
            entry_id: new_id("m"),
            content: "x".into(),
            system: SystemEntry {
                action: SystemAction::Removed,
                users: vec![],
                title: None,
            },
            at: Timestamp::now(),
        };
        let renamed = s
            .change_membership(change(
                "alice",
                Membership::Rename {
                    title: "New".into(),
                },
            ))
            .await
            .unwrap();
        assert_eq!(renamed.conversation.title.as_deref(), Some("New"), "{name}");
        let removed = s
            .change_membership(change("alice", Membership::Remove { user: "bob".into() }))
            .await
            .unwrap();
        assert_eq!(removed.participants_before, ["alice", "bob"]);
        assert_eq!(removed.conversation.participants.len(), 1);
        assert_eq!(removed.conversation.rev, 2);
        assert!(!s.is_participant(&cid, "bob").await.unwrap());
        assert!(matches!(
            s.change_membership(change("alice", Membership::Remove { user: "bob".into() }))
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.change_membership(change("bob", Membership::Rename { title: "x".into() }))
                .await,
            Err(StoreError::Forbidden(_))
        ));
        let (direct, _) = s
            .create_conversation(NewConversation {
                id: new_id("c"),
                kind: ConversationKind::Direct,
                title: None,
                created_by: "alice".into(),
                participants: vec!["alice".into(), "bob".into()],
                created_at: Timestamp::now(),
            })
            .await
            .unwrap();
        let leave = MembershipChange {
            conversation_id: direct.id.clone(),
            ..change(
                "alice",
                Membership::Remove {
                    user: "alice".into(),
                },
            )
        };
        assert!(matches!(
            s.change_membership(leave).await,
            Err(StoreError::Invalid(_))
        ));
    }
}

#[tokio::test]
async fn the_directory_matches_id_and_word_starts_without_case_or_accents() {
    for (name, s, _keep) in implementations() {
        let s = &*s;
        users(
            s,
            &[
                ("amelie", "Amélie Poulain"),
                ("bob", "Robert Smith"),
                ("carol", "Carol Åberg"),
                ("dan_x", "Dan 100%"),
            ],
        )
        .await;
        let ids = |v: Vec<UserRecord>| v.into_iter().map(|u| u.name).collect::<Vec<_>>();
        let (all, more) = s.directory(None, None, 10).await.unwrap();
        assert_eq!(ids(all), ["amelie", "bob", "carol", "dan_x"], "{name}");
        assert!(!more);
        assert_eq!(
            ids(s.directory(Some("AME"), None, 10).await.unwrap().0),
            ["amelie"]
        );
        assert_eq!(
            ids(s.directory(Some("poul"), None, 10).await.unwrap().0),
            ["amelie"]
        );
        assert_eq!(
            ids(s.directory(Some("aberg"), None, 10).await.unwrap().0),
            ["carol"]
        );
        assert_eq!(
            ids(s.directory(Some("smi"), None, 10).await.unwrap().0),
            ["bob"]
        );
        assert!(
            s.directory(Some("mith"), None, 10)
                .await
                .unwrap()
                .0
                .is_empty(),
            "word starts only"
        );
        assert!(
            s.directory(Some("%"), None, 10).await.unwrap().0.is_empty(),
            "% is literal"
        );
        assert_eq!(
            ids(s.directory(Some("100%"), None, 10).await.unwrap().0),
            ["dan_x"]
        );
        let (first, more) = s.directory(None, None, 2).await.unwrap();
        assert!(more);
        let (next, more) = s.directory(None, Some(&first[1].name), 2).await.unwrap();
        assert_eq!(ids(next), ["carol", "dan_x"]);
        assert!(!more);
        // Display names: unique, searchable under the new name.
        assert!(matches!(
            s.set_display_name("bob", "CAROL ÅBERG").await,
            Err(StoreError::Conflict(_))
        ));
        assert!(
            matches!(
                s.set_display_name("bob", "Carol").await,
                Err(StoreError::Conflict(_)),
            ),
            "{name}: another's login name"
        );
        let bob = s.set_display_name("bob", "Bobby Tables").await.unwrap();
        assert_eq!(bob.display_name, "Bobby Tables");
        assert_eq!(
            ids(s.directory(Some("tab"), None, 10).await.unwrap().0),
            ["bob"]
        );
        assert!(
            s.set_display_name("bob", "bobby tables").await.is_ok(),
            "own name, new case"
        );
        assert!(matches!(
            s.set_display_name("ghost", "G").await,
            Err(StoreError::NotFound(_))
        ));
    }
}

/// A database from before revisions (schema 2) converges: migration 3 gives every message
/// `rev = seq`, every conversation `rev = lastSeq`, and every user a search key.
#[tokio::test]
async fn sqlite_migrates_a_database_from_before_revisions() {
    let dir = TempDir::new("store-mig");
    let path = dir.0.join("t.db");
    let cid = {
        let s = SqliteStore::open(&path, Synchronous::Full).unwrap();
        users(&s, &[("alice", "Alice Zoë"), ("bob", "Bob")]).await;
        let cid = group(&s, &["alice", "bob"]).await;
        for k in ["1", "2", "3"] {
            s.append_message(msg(&cid, "alice", k, Timestamp::now()))
                .await
                .unwrap();
        }
        cid
    };
    // Take the database back to schema 2 (what migrations 3 and 4 added, removed).
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TABLE attachments; DROP TABLE blobs;
             DROP INDEX messages_by_rev; DROP TABLE reactions;
             ALTER TABLE messages DROP COLUMN rev; ALTER TABLE messages DROP COLUMN edited_at;
             ALTER TABLE messages DROP COLUMN deleted; ALTER TABLE messages DROP COLUMN reply_to_id;
             ALTER TABLE messages DROP COLUMN reply_to_seq; ALTER TABLE messages DROP COLUMN mentions;
             ALTER TABLE messages DROP COLUMN system; ALTER TABLE conversations DROP COLUMN rev;
             ALTER TABLE users DROP COLUMN search_key; PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path, Synchronous::Full).unwrap();
    let conv = s.conversation(&cid).await.unwrap().unwrap();
    assert_eq!((conv.last_seq, conv.rev), (3, 3));
    let all = s.changes(&cid, 0, 100).await.unwrap();
    let pairs: Vec<(i64, i64)> = all.items.iter().map(|m| (m.seq, m.rev)).collect();
    assert_eq!(pairs, [(1, 1), (2, 2), (3, 3)]);
    let found = s.directory(Some("zoe"), None, 10).await.unwrap().0;
    assert_eq!(found.len(), 1, "search keys were backfilled");
    // And the log goes on from there.
    let m = s
        .append_message(msg(&cid, "bob", "4", Timestamp::now()))
        .await
        .unwrap()
        .message;
    assert_eq!((m.seq, m.rev), (4, 4));
}
