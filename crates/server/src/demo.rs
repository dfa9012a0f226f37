//! `--demo`: seeds users, conversations with some history, and a notification, so that a
//! fresh server opens onto a living app. Seeding happens once: a data directory that has
//! the demo users already is left as it is.

use crate::chat::{Chat, ChatError};
use tidings_proto::api::{CreateConversation, CreateNotification, SendMessage};
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
                participants: vec!["bob".into(), "carol".into()],
            },
        )
        .await?;
    post(chat, &team.id, "team", TEAM).await?;
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

async fn post(chat: &Chat, cid: &str, tag: &str, lines: &[(&str, &str)]) -> Result<(), ChatError> {
    for (i, (who, text)) in lines.iter().enumerate() {
        chat.send_message(
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
    }
    Ok(())
}
