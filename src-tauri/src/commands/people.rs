//! The commands for people and conversations: the directory, your profile, starting a
//! direct conversation or a group, and a group's changes (rename, add, remove, leave). Each
//! is one engine call over REST whose answer is in the cache when it returns.

use super::Res;
use crate::error::invalid;
use crate::state::AppState;
use serde::Serialize;
use tauri::State;
use tidings_client::cache::CachedConversation;
use tidings_client::ClientError;
use tidings_proto::api::CreateConversation;
use tidings_proto::{ConversationKind, User};

/// A page of the directory, for the people picker.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct PeoplePage {
    pub users: Vec<User>,
    /// Pass back to get the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

#[tauri::command]
pub async fn search_users(
    state: State<'_, AppState>,
    account: Option<String>,
    query: String,
    limit: u32,
    cursor: Option<String>,
) -> Res<PeoplePage> {
    let engine = state.engine_of(account.as_deref())?;
    let page = engine
        .search_users(query.trim(), limit.clamp(1, 100), cursor)
        .await?;
    Ok(PeoplePage {
        users: page.users,
        next_cursor: page.next_cursor.filter(|_| page.has_more),
    })
}

/// The signed-in user's profile (display name included).
#[tauri::command]
pub async fn me(state: State<'_, AppState>, account: Option<String>) -> Res<User> {
    Ok(state.engine_of(account.as_deref())?.me().await?)
}

#[tauri::command]
pub async fn set_display_name(
    state: State<'_, AppState>,
    account: Option<String>,
    name: String,
) -> Res<User> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("enter a display name"));
    }
    Ok(state
        .engine_of(account.as_deref())?
        .set_display_name(name)
        .await?)
}

/// Starts a direct conversation with one person (the existing one if there is one) or a
/// group with a title; answers it as the cache now has it.
#[tauri::command]
pub async fn create_conversation(
    state: State<'_, AppState>,
    account: Option<String>,
    title: Option<String>,
    participants: Vec<String>,
    group: bool,
) -> Res<CachedConversation> {
    let title = title.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if participants.is_empty() {
        return Err(invalid("pick at least one person"));
    }
    let req = if group {
        if title.is_none() {
            return Err(invalid("give the group a name"));
        }
        CreateConversation {
            kind: ConversationKind::Group,
            title,
            participants,
        }
    } else {
        if participants.len() != 1 {
            return Err(invalid("a direct conversation is with one person"));
        }
        CreateConversation {
            kind: ConversationKind::Direct,
            title: None,
            participants,
        }
    };
    let engine = state.engine_of(account.as_deref())?;
    let c = engine.create_conversation(req).await?;
    engine
        .cache()
        .conversation(&c.id)
        .map_err(ClientError::from)?
        .ok_or_else(|| invalid("the new conversation is not in the cache"))
}

#[tauri::command]
pub async fn rename_conversation(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    title: String,
) -> Res<()> {
    if title.trim().is_empty() {
        return Err(invalid("give the group a name"));
    }
    state
        .engine_of(account.as_deref())?
        .rename_conversation(&conversation, title.trim())
        .await?;
    Ok(())
}

#[tauri::command]
pub async fn add_participants(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    users: Vec<String>,
) -> Res<()> {
    if users.is_empty() {
        return Err(invalid("pick at least one person"));
    }
    state
        .engine_of(account.as_deref())?
        .add_participants(&conversation, users)
        .await?;
    Ok(())
}

#[tauri::command]
pub async fn remove_participant(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    user: String,
) -> Res<()> {
    state
        .engine_of(account.as_deref())?
        .remove_participant(&conversation, &user)
        .await?;
    Ok(())
}

#[tauri::command]
pub async fn leave_conversation(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
) -> Res<()> {
    state
        .engine_of(account.as_deref())?
        .leave_conversation(&conversation)
        .await?;
    Ok(())
}
