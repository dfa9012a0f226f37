//! `--demo`: seeds users, conversations with some history (a reply, reactions, an edited
//! message and a person added, recorded as a system entry), and a notification, so that a fresh
//! server opens onto a living app. Seeding happens once: a data directory that has
//! the demo users already is left as it is.

use crate::chat::{Chat, ChatError};
use tidings_proto::api::{
    AddParticipants, CreateConversation, CreateNotification, EditMessage, ReactRequest, SendMessage,
};
use tidings_proto::ConversationKind;

/// The demo accounts: (name, display name, roles). Every password is [`PASSWORD`].
pub const USERS: &[(&str, &str, &[&str])] = &[
    ("alice", "Alice Martin", &["admin"]),
    ("bob", "Bob Okafor", &[]),
    ("carol", "Carol Nguyen", &[]),
];
pub const PASSWORD: &str = "tidings-demo";

const TEAM: &[(&str, &str)] = &[
    (
        "alice",
        "Morning all! The new build is on the staging server.",
    ),
    ("bob", "Nice. I'll run the smoke tests after standup."),
    (
        "carol",
        "I found a typo on the settings page, fixing it now.",
    ),
    ("alice", "Thanks Carol. Bob, ping me if anything is red."),
    ("bob", "All green so far ✅"),
];

const DIRECT: &[(&str, &str)] = &[
    ("bob", "Hey Alice, do you have a minute later today?"),
    ("alice", "Sure, after 3 pm works for me."),
    ("bob", "Great, I'll call you then."),
];

/// Seeds the demo data unless it is there already. Returns whether it seeded.
pub async fn seed(chat: &Chat) -> Result<bool, ChatError> {
    if chat.store.user(USERS[0].0).await?.is_some() {
        return Ok(false);
    }
    for (name, display, roles) in USERS {
        chat.accounts.create(name, display, PASSWORD, roles).await?;
    }
    let (team, _) = chat
        .create_conversation(
            "alice",
            CreateConversation {
                kind: ConversationKind::Group,
                title: Some("Team Tidings".into()),
                participants: vec!["bob".into()],
            },
        )
        .await?;
    // Carol joins after the first two messages: a system entry in the timeline.
    let mut sent = post(chat, &team.id, "team", &TEAM[..2]).await?;
    chat.add_participants(
        "alice",
        &team.id,
        AddParticipants {
            users: vec!["carol".into()],
        },
    )
    .await?;
    sent.extend(post(chat, &team.id, "team-later", &TEAM[2..]).await?);
    team_extras(chat, &team.id, &sent).await?;
    let (direct, _) = chat
        .create_conversation(
            "bob",
            CreateConversation {
                kind: ConversationKind::Direct,
                title: None,
                participants: vec!["alice".into()],
            },
        )
        .await?;
    post(chat, &direct.id, "direct", DIRECT).await?;
    chat.react(
        "alice",
        &direct.id,
        &last_id(&direct.id, chat).await?,
        ReactRequest {
            emoji: "👍".into(),
            on: true,
        },
    )
    .await?;
    chat.notify(CreateNotification {
        users: vec!["alice".into()],
        kind: Some("appointment.moved".into()),
        title: "Your appointment was moved".into(),
        message: "Dr. Rivera moved your appointment to Thursday at 10:30.".into(),
        data: Some(serde_json::json!({"appointmentId": 1042})),
        url: None,
    })
    .await?;
    Ok(true)
}

/// The id of the conversation's last message.
async fn last_id(cid: &str, chat: &Chat) -> Result<String, ChatError> {
    let conv = chat.store.conversation(cid).await?;
    let seq = conv.map(|c| c.last_seq).unwrap_or_default();
    let page = chat
        .store
        .messages(cid, crate::store::Range::After(seq - 1, 1))
        .await?;
    page.items
        .first()
        .map(|m| m.id.clone())
        .ok_or_else(|| ChatError::Internal("the demo conversation is empty".into()))
}

/// An edit, a reply that mentions, and reactions.
async fn team_extras(chat: &Chat, cid: &str, sent: &[String]) -> Result<(), ChatError> {
    chat.edit_message(
        "carol",
        cid,
        &sent[2],
        EditMessage {
            content: "I found a typo on the **settings** page, fixing it now.".into(),
            content_type: tidings_proto::ContentType::Markdown,
            mentions: vec![],
        },
    )
    .await?;
    chat.send_message(
        "carol",
        cid,
        SendMessage {
            client_id: "demo-team-reply".into(),
            content: "@Bob Okafor the typo fix is in too, can you include it?".into(),
            reply_to: Some(sent[4].clone()),
            mentions: vec!["bob".into()],
            ..Default::default()
        },
    )
    .await?;
    for (who, emoji) in [("alice", "🎉"), ("carol", "🎉"), ("alice", "✅")] {
        chat.react(
            who,
            cid,
            &sent[4],
            ReactRequest {
                emoji: emoji.into(),
                on: true,
            },
        )
        .await?;
    }
    Ok(())
}

/// Posts the lines in order; returns the messages' ids.
async fn post(
    chat: &Chat,
    cid: &str,
    tag: &str,
    lines: &[(&str, &str)],
) -> Result<Vec<String>, ChatError> {
    let mut ids = Vec::with_capacity(lines.len());
    for (i, (who, text)) in lines.iter().enumerate() {
        let sent = chat
            .send_message(
                who,
                cid,
                SendMessage {
                    client_id: format!("demo-{tag}-{i}"),
                    content: (*text).into(),
                    content_type: Default::default(),
                    ..Default::default()
                },
            )
            .await?;
        ids.push(sent.message.id);
    }
    Ok(ids)
}
