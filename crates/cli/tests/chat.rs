//! The chat commands of the `tidings` binary end to end against a real server: the
//! directory and profile, starting and changing conversations, editing, deleting, replying
//! and reacting (by `#seq` and by id), mentions from `@id`, and what `history` shows of it
//! all. Each refusal (someone else's message, not an emoji, a conversation left, a bad
//! reference) is a non-zero exit with a sentence, and changes nothing on the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use tidings_testkit::*;

mod common;
use common::{setup, Home};

fn json(r: &common::Run) -> Value {
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[tokio::test]
async fn people_and_conversations_from_the_command_line() {
    let (_d, server, api, _alice, bob, _cid) = setup().await;
    api.register("carol").await;
    let home = Home::new();
    home.login(&server.http(), "alice").await;

    let r = home.run(&["users", "ca"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("carol"), "{}", r.stdout);
    let r = home.run(&["users"]).await;
    assert_eq!(r.stdout.lines().count(), 3, "{}", r.stdout);
    let r = home.run(&["profile", "--name", "Alice Liddell"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("now called Alice Liddell"),
        "{}",
        r.stdout
    );
    let r = home.run(&["--json", "users", "alice"]).await;
    assert_eq!(json(&r)["users"][0]["displayName"], "Alice Liddell");

    // A direct conversation is one per pair.
    let r = home.run(&["--json", "start", "bob"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let direct = json(&r)["id"].as_str().unwrap().to_owned();
    let again = home.run(&["--json", "start", "bob"]).await;
    assert_eq!(json(&again)["id"], direct.as_str());
    let r = home
        .run(&["--json", "group", "--title", "Trip", "bob", "carol"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let group = json(&r)["id"].as_str().unwrap().to_owned();
    let r = home.run(&["rename", &group, "Summer", "trip"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = home.run(&["remove", &group, "carol"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = home.run(&["add", &group, "carol"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, c) = api
        .get(&format!("/api/conversations/{group}"), &bob.token)
        .await;
    assert_eq!(c["title"], "Summer trip");
    assert_eq!(c["participants"].as_array().unwrap().len(), 3);
    // The changes are system entries in the history.
    let r = home.run(&["history", &group]).await;
    for line in [
        "renamed the group to Summer trip",
        "removed carol",
        "added carol",
    ] {
        assert!(
            r.stdout.to_lowercase().contains(&line.to_lowercase()),
            "{line}: {}",
            r.stdout
        );
    }

    // Refusals: only the owner renames; unknown people; a direct conversation has no title.
    let bob_home = Home::new();
    bob_home.login(&server.http(), "bob").await;
    let r = bob_home.run(&["rename", &group, "Mine"]).await;
    assert_eq!(r.code, 5, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.len() > 12, "a sentence: {}", r.stderr);
    let r = home.run(&["start", "nobody-like-this"]).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    let r = home.run(&["rename", &direct, "Nope"]).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    let (_, c) = api
        .get(&format!("/api/conversations/{group}"), &bob.token)
        .await;
    assert_eq!(c["title"], "Summer trip", "nothing changed");

    // Leaving: bob's copy stays readable, marked left; he can no longer write there.
    let r = bob_home.run(&["leave", &group]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = bob_home.run(&["conversations"]).await;
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains(&group) && l.contains("(left)")),
        "{}",
        r.stdout
    );
    let r = bob_home.run(&["send", &group, "hello?"]).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("no longer in this conversation"),
        "{}",
        r.stderr
    );
    let r = bob_home.run(&["history", &group]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Summer trip"), "{}", r.stdout);
    server.stop().await;
}

#[tokio::test]
async fn edit_delete_reply_react_and_mention_from_the_command_line() {
    let (_d, server, api, alice, bob, cid) = setup().await;
    let theirs = api.send(&bob, &cid, "b1", "Who brings the cake?").await;
    let theirs_id = theirs["id"].as_str().unwrap().to_owned();
    let home = Home::new();
    home.login(&server.http(), "alice").await;

    // A reply by #seq, mentioning bob by @id.
    let r = home
        .run(&["reply", &cid, "#1", "I do, @bob, and @nobody."])
        .await;
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let stored = api.all_messages(&alice, &cid).await;
    let mine = &stored[1];
    assert_eq!(mine["replyTo"]["messageId"], theirs_id.as_str());
    assert_eq!(mine["mentions"], serde_json::json!(["bob"]));
    let mine_id = mine["id"].as_str().unwrap().to_owned();

    // Edit by id, react by #seq.
    let r = home
        .run(&["edit", &cid, &mine_id, "I do, with candles"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = home.run(&["react", &cid, "#1", "🎂"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("🎂 1 (alice)"), "{}", r.stdout);
    let r = home.run(&["--json", "react", &cid, "#1", "👍"]).await;
    assert_eq!(json(&r)["reactions"].as_array().unwrap().len(), 2);
    let r = home.run(&["react", &cid, "#1", "👍", "--off"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // History shows ids, the quote, "(edited)" and reactions.
    let r = home.run(&["history", &cid]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&mine_id), "ids are shown: {}", r.stdout);
    assert!(
        r.stdout.contains("I do, with candles (edited)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("↪ #1 bob: Who brings the cake?"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("🎂 1 (alice)"), "{}", r.stdout);
    assert!(!r.stdout.contains("👍"), "{}", r.stdout);

    // Deleting: a tombstone here and on the server, and the quote of a reply to it says so.
    bob_replies_to_message_2(&api, &bob, &cid).await;
    let r = home.run(&["delete", &cid, "#2"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let stored = api.all_messages(&bob, &cid).await;
    assert_eq!(stored[1]["deleted"], true);
    assert_eq!(stored[1]["content"], "");
    let r = home.run(&["history", &cid]).await;
    assert!(r.stdout.contains("alice: message deleted"), "{}", r.stdout);
    assert!(r.stdout.contains("↪ #2: message deleted"), "{}", r.stdout);
    assert!(!r.stdout.contains("candles"), "{}", r.stdout);
    let r = home.run(&["search", "candles"]).await;
    assert_eq!(r.stdout.trim(), "no match", "erased from the index too");

    // Refusals, each with a sentence and nothing changed.
    let before = api.all_messages(&bob, &cid).await;
    let r = home.run(&["edit", &cid, "#1", "mine now"]).await;
    assert_eq!(r.code, 5, "someone else's message: {}", r.stderr);
    assert!(r.stderr.len() > 12, "{}", r.stderr);
    let r = home.run(&["delete", &cid, &theirs_id]).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    let r = home.run(&["react", &cid, "#1", "cake"]).await;
    assert_eq!(r.code, 5, "not an emoji: {}", r.stderr);
    let r = home.run(&["edit", &cid, "#99", "x"]).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("no message #99"), "{}", r.stderr);
    let r = home.run(&["edit", &cid, "#x", "x"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = home.run(&["reply", "c_nowhere", "#1", "x"]).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(
        api.all_messages(&bob, &cid).await,
        before,
        "nothing changed"
    );
    server.stop().await;
}

/// Bob replies to alice's message #2 (so that its deletion shows in his quote).
async fn bob_replies_to_message_2(api: &Api, bob: &TestUser, cid: &str) {
    let stored = api.all_messages(bob, cid).await;
    let (status, body) = api
        .post(
            &format!("/api/conversations/{cid}/messages"),
            &bob.token,
            serde_json::json!({"clientId": "b2", "content": "great", "replyTo": stored[1]["id"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn tail_prints_edits_deletions_reactions_and_membership() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let (_d, server, api, alice, bob, cid) = setup().await;
    let m = api.send(&bob, &cid, "b1", "typo heer").await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let home = Home::new();
    home.login(&server.http(), "bob").await;
    let mut child = home.command(&["tail"]).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    // Live first.
    let live = async {
        while let Ok(Some(l)) = err.next_line().await {
            if l.contains("live") {
                return;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), live)
        .await
        .expect("tail went live");
    let msgs = format!("/api/conversations/{cid}/messages");
    let edit = serde_json::json!({"content": "typo here"});
    api.call(
        "PATCH",
        &format!("{msgs}/{mid}"),
        Some(&bob.token),
        Some(edit),
    )
    .await;
    let react = serde_json::json!({"emoji": "👀", "on": true});
    api.post(&format!("{msgs}/{mid}/reactions"), &alice.token, react)
        .await;
    api.call("DELETE", &format!("{msgs}/{mid}"), Some(&bob.token), None)
        .await;
    api.call(
        "PATCH",
        &format!("/api/conversations/{cid}"),
        Some(&alice.token),
        Some(serde_json::json!({"title": "New name"})),
    )
    .await;
    api.call(
        "DELETE",
        &format!("/api/conversations/{cid}/participants/bob"),
        Some(&alice.token),
        None,
    )
    .await;
    let mut want = vec![
        "edited #1: typo here (edited)",
        "reactions on #1: 👀 1 (alice)",
        "deleted #1: message deleted",
        "renamed the group to New name",
        "you were removed by alice",
    ];
    let seen = async {
        while let Ok(Some(l)) = out.next_line().await {
            want.retain(|w| !l.contains(w));
            if want.is_empty() {
                return;
            }
        }
    };
    let r = tokio::time::timeout(std::time::Duration::from_secs(30), seen).await;
    assert!(r.is_ok(), "tail did not print {want:?}");
    let _ = child.kill().await;
    server.stop().await;
}
