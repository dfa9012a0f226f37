//! The engine and the change log against the real server: edits, deletions, reactions,
//! renames and membership reach the cache live and after an absence (every field compared
//! with the server's); a removed user keeps what they had, marked left, and converges again
//! when added back; the user's actions are applied to the cache at once and refused with
//! the server's sentence. Real sockets on 127.0.0.1, real cache files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::sync::Arc;
use tidings_client::cache::Cache;
use tidings_client::engine::{Engine, EngineState};
use tidings_client::ClientError;
use tidings_proto::api::CreateConversation;
use tidings_proto::{ContentType, ConversationKind, Message};
use tidings_testkit::*;

mod common;
use common::{start_engine, until, until_state};

/// Every message of a conversation as the server has it now.
async fn server_messages(api: &Api, who: &TestUser, cid: &str) -> Vec<Message> {
    api.all_messages(who, cid)
        .await
        .into_iter()
        .map(|m| serde_json::from_value(m).unwrap())
        .collect()
}

/// The conversation as the server shows it to `who`: (rev, title, participant ids).
async fn server_conversation(api: &Api, who: &TestUser, cid: &str) -> (i64, String, Vec<String>) {
    let (status, c) = api
        .get(&format!("/api/conversations/{cid}"), &who.token)
        .await;
    assert_eq!(status, 200, "{c}");
    (
        c["rev"].as_i64().unwrap(),
        c["title"].as_str().unwrap_or_default().to_owned(),
        participant_ids(&c),
    )
}

fn cached_conversation(cache: &Cache, cid: &str) -> (i64, String, Vec<String>) {
    let c = cache.conversation(cid).unwrap().unwrap();
    (
        c.rev,
        c.title.unwrap_or_default(),
        c.participants.into_iter().map(|p| p.id).collect(),
    )
}

/// Waits until the cache holds exactly the server's messages (every field) and view of
/// the conversation, with the server's revision held.
async fn until_converged(engine: &Engine, api: &Api, who: &TestUser, cid: &str) {
    let want = server_messages(api, who, cid).await;
    let view = server_conversation(api, who, cid).await;
    until(engine, "the cache converged to the server", |c| {
        c.messages_after(cid, 0).unwrap() == want
            && c.conversation(cid).unwrap().is_some_and(|x| !x.left)
            && cached_conversation(c, cid) == view
    })
    .await;
}

#[tokio::test]
async fn edits_deletions_reactions_and_membership_reach_the_cache_live_and_after_an_absence() {
    let dir = TempDir::new("changes");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let _carol = api.register("carol").await;
    let cid = api.group(&alice, &[&bob]).await;
    let cache_dir = TempDir::new("changes-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("bob.db")).unwrap());
    let engine = start_engine(&server.http(), &bob, cache.clone());
    until_state(&engine, "live", |s| *s == EngineState::Live).await;

    let m1 = id_of(&api.send(&alice, &cid, "a1", "first words").await);
    let m2 = id_of(&api.send(&alice, &cid, "a2", "a secret to delete").await);
    let m3 = id_of(&api.send(&alice, &cid, "a3", "react to this").await);
    until_converged(&engine, &api, &bob, &cid).await;

    // Live: each change lands in the cache as the server has it.
    let body = json!({"content": "first words, fixed", "mentions": ["bob"]});
    expect_ok(api.edit(&alice, &cid, &m1, body).await);
    expect_ok(api.delete_message(&alice, &cid, &m2).await);
    expect_ok(api.react(&alice, &cid, &m3, "👍", true).await);
    until_converged(&engine, &api, &bob, &cid).await;
    let edited = cache.message(&m1).unwrap().unwrap();
    assert!(edited.edited_at.is_some() && edited.mentions == ["bob"]);
    let gone = cache.message(&m2).unwrap().unwrap();
    assert!(gone.deleted && gone.content.is_empty());
    assert!(cache.search("secret", 10).unwrap().is_empty());
    assert_eq!(
        cache.message(&m3).unwrap().unwrap().reactions[0].users,
        ["alice"]
    );

    // Away: everything that changed meanwhile comes from the change log on reconnect.
    engine.shutdown().await;
    let body = json!({"content": "react to this (edited)"});
    expect_ok(api.edit(&alice, &cid, &m3, body).await);
    expect_ok(api.delete_message(&alice, &cid, &m1).await);
    expect_ok(api.react(&alice, &cid, &m3, "❤️", true).await);
    expect_ok(api.react(&alice, &cid, &m3, "👍", false).await);
    expect_ok(api.rename(&alice, &cid, "Renamed").await);
    expect_ok(api.add_people(&alice, &cid, &["carol"]).await);
    let engine = start_engine(&server.http(), &bob, cache.clone());
    until_converged(&engine, &api, &bob, &cid).await;
    let all = cache.messages_after(&cid, 0).unwrap();
    assert!(
        all.iter().filter(|m| m.system.is_some()).count() == 2,
        "the rename and the addition are system entries: {all:?}"
    );
    assert!(cache.search("first", 10).unwrap().is_empty());
    let (rev, _, _) = server_conversation(&api, &bob, &cid).await;
    assert_eq!(cache.held_rev(&cid).unwrap(), rev);
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn a_removed_user_keeps_what_they_had_marked_left_and_converges_when_added_again() {
    let dir = TempDir::new("removed");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    let cache_dir = TempDir::new("removed-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("bob.db")).unwrap());
    let engine = start_engine(&server.http(), &bob, cache.clone());
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    engine.focus(Some(&cid));
    let kept = id_of(&api.send(&alice, &cid, "k1", "before the removal").await);
    until_converged(&engine, &api, &bob, &cid).await;

    // Removed while live: marked left at once, what was cached stays.
    expect_ok(api.remove_person(&alice, &cid, "bob").await);
    until(&engine, "marked left", |c| {
        c.conversation(&cid).unwrap().unwrap().left
    })
    .await;
    let out = cache.conversation(&cid).unwrap().unwrap();
    assert_eq!(out.removed_by.as_deref(), Some("alice"));
    assert!(!out.left_themselves);
    let before = cache.messages_after(&cid, 0).unwrap();
    assert!(before.iter().any(|m| m.id == kept));
    let refused = engine.send(&cid, "still here?", ContentType::Text, None, Vec::new());
    assert!(
        matches!(&refused, Err(ClientError::Refused { message, .. }) if message.contains("no longer in this conversation")),
        "{refused:?}"
    );
    api.send(&alice, &cid, "k2", "while bob is away").await;
    let body = json!({"content": "before the removal (edited)"});
    expect_ok(api.edit(&alice, &cid, &kept, body).await);
    // The connection stays up and live (the focus on the conversation was dropped by the
    // server, not refused): another conversation still arrives.
    let other = api.group(&alice, &[&bob]).await;
    api.send(&alice, &other, "o1", "elsewhere").await;
    until(&engine, "the other conversation", |c| {
        c.messages_after(&other, 0).unwrap().len() == 1
    })
    .await;
    assert_eq!(*engine.state().borrow(), EngineState::Live);
    assert_eq!(
        cache.message(&kept).unwrap().unwrap().content,
        "before the removal"
    );

    // Added back: everything again, edits included.
    expect_ok(api.add_people(&alice, &cid, &["bob"]).await);
    until_converged(&engine, &api, &bob, &cid).await;
    assert_eq!(cache.conversation(&cid).unwrap().unwrap().removed_by, None);

    // Removed while away: the listing no longer has it; marked left on reconnect.
    engine.shutdown().await;
    expect_ok(api.remove_person(&alice, &cid, "bob").await);
    let engine = start_engine(&server.http(), &bob, cache.clone());
    until(&engine, "marked left after reconnect", |c| {
        c.conversation(&cid).unwrap().unwrap().left
    })
    .await;
    until_state(&engine, "live", |s| *s == EngineState::Live).await;
    assert!(!cache.messages_after(&cid, 0).unwrap().is_empty());
    // Only that they are out is known (who removed them was not seen).
    let out = cache.conversation(&cid).unwrap().unwrap();
    assert_eq!((out.removed_by, out.left_themselves), (None, false));
    // Added back while away: un-marked, converged.
    engine.shutdown().await;
    api.send(&alice, &cid, "k3", "while bob is away again")
        .await;
    expect_ok(api.add_people(&alice, &cid, &["bob"]).await);
    let engine = start_engine(&server.http(), &bob, cache.clone());
    until_converged(&engine, &api, &bob, &cid).await;
    engine.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn actions_are_applied_to_the_cache_at_once_and_refusals_keep_the_servers_sentence() {
    let dir = TempDir::new("actions");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let _carol = api.register("carol").await;
    let cache_dir = TempDir::new("actions-cache");
    let cache = Arc::new(Cache::open(&cache_dir.0.join("alice.db")).unwrap());
    let engine = start_engine(&server.http(), &alice, cache.clone());
    until_state(&engine, "live", |s| *s == EngineState::Live).await;

    // The directory and the profile.
    let page = engine.search_users("bo", 20, None).await.unwrap();
    assert_eq!(
        page.users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["bob"]
    );
    // Conversations: a direct one is one per pair.
    let direct = CreateConversation {
        kind: ConversationKind::Direct,
        title: None,
        participants: vec!["bob".into()],
    };
    let d1 = engine.create_conversation(direct.clone()).await.unwrap();
    let d2 = engine.create_conversation(direct).await.unwrap();
    assert_eq!(d1.id, d2.id);
    assert!(cache.conversation(&d1.id).unwrap().is_some());
    let g = engine
        .create_conversation(CreateConversation {
            kind: ConversationKind::Group,
            title: Some("Plans".into()),
            participants: vec!["bob".into()],
        })
        .await
        .unwrap();
    let cid = g.id.clone();
    engine
        .rename_conversation(&cid, "Better plans")
        .await
        .unwrap();
    assert_eq!(
        cache.conversation(&cid).unwrap().unwrap().title.as_deref(),
        Some("Better plans")
    );
    engine
        .add_participants(&cid, vec!["carol".into()])
        .await
        .unwrap();
    let ids = |c: &Cache| cached_conversation(c, &cid).2;
    assert_eq!(ids(&cache), ["alice", "bob", "carol"]);
    engine.remove_participant(&cid, "carol").await.unwrap();
    assert_eq!(ids(&cache), ["alice", "bob"]);
    let me = engine.set_display_name("Alice Liddell").await.unwrap();
    assert_eq!(me.display_name, "Alice Liddell");
    let profile = engine.me().await.unwrap();
    assert_eq!((profile.id, profile.display_name), (me.id, me.display_name));
    let mine = cache.conversation(&cid).unwrap().unwrap();
    assert!(mine
        .participants
        .iter()
        .any(|p| p.id == "alice" && p.display_name == "Alice Liddell"));

    // Messages: a reply with a mention goes through the outbox; edits, reactions and the
    // deletion are in the cache when the call returns.
    let theirs = id_of(&api.send(&bob, &cid, "b1", "what do we bring?").await);
    until(&engine, "bob's message", |c| {
        c.message(&theirs).unwrap().is_some()
    })
    .await;
    let client_id = engine
        .send(
            &cid,
            "bread, @bob",
            ContentType::Text,
            Some(theirs.clone()),
            vec!["bob".into()],
        )
        .unwrap();
    assert_eq!(
        engine.settle(std::time::Duration::from_secs(20)).await,
        EngineState::Live
    );
    let sent = cache
        .messages_after(&cid, 0)
        .unwrap()
        .into_iter()
        .find(|m| m.client_id == client_id)
        .unwrap();
    assert_eq!(sent.reply_to.as_ref().unwrap().message_id, theirs);
    assert_eq!(sent.mentions, ["bob"]);
    let e = engine
        .edit_message(
            &cid,
            &sent.id,
            "bread and *cheese*",
            ContentType::Markdown,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(cache.message(&sent.id).unwrap().unwrap(), e);
    assert!(e.edited_at.is_some() && e.mentions.is_empty());
    let r = engine.react(&cid, &theirs, "🎉", true).await.unwrap();
    assert_eq!(cache.message(&theirs).unwrap().unwrap(), r);
    let t = engine.delete_message(&cid, &sent.id).await.unwrap();
    assert!(t.deleted);
    assert_eq!(cache.message(&sent.id).unwrap().unwrap(), t);

    // Refusals: the server's status and sentence, nothing changed here.
    let before = cache.message(&theirs).unwrap().unwrap();
    let err = engine
        .edit_message(&cid, &theirs, "mine now", ContentType::Text, vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Refused { status: 403, .. }),
        "{err:?}"
    );
    let err = engine
        .react(&cid, &theirs, "not an emoji", true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Refused { status: 400, .. }),
        "{err:?}"
    );
    assert_eq!(cache.message(&theirs).unwrap().unwrap(), before);

    // Leaving: marked left; then neither sends nor actions go through.
    engine.leave_conversation(&cid).await.unwrap();
    let out = cache.conversation(&cid).unwrap().unwrap();
    assert!(out.left && out.left_themselves && out.removed_by.is_none());
    assert!(engine
        .send(&cid, "hello?", ContentType::Text, None, Vec::new())
        .is_err());
    let err = engine.react(&cid, &theirs, "👍", true).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Refused { status: 403, .. }),
        "{err:?}"
    );

    // Offline: an action fails at once and says why.
    engine.set_network(false);
    until_state(&engine, "offline", |s| *s == EngineState::Offline).await;
    let err = engine.rename_conversation(&d1.id, "x").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Unreachable(_, why) if why.contains("offline")),
        "{err:?}"
    );
    engine.shutdown().await;
    server.stop().await;
}
