//! The commands on messages beyond reading them: send (with a reply and mentions; it clears
//! the conversation's draft), edit,
//! delete, react, and a conversation's notification level. Sends go through the outbox;
//! the other actions are one engine call over REST whose answer is in the cache when it
//! returns (offline they fail with the reason).

use super::Res;
use crate::error::invalid;
use crate::state::AppState;
use crate::tray;
use tauri::{AppHandle, State};
use tidings_client::cache::{NotifyLevel, OutboxEntry};
use tidings_client::ClientError;
use tidings_proto::{ContentType, Message};

#[tauri::command]
pub fn send_message(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    text: String,
    content_type: Option<ContentType>,
    reply_to: Option<String>,
    mentions: Option<Vec<String>>,
) -> Res<OutboxEntry> {
    let cache = state.cache_of(account.as_deref())?;
    let id = state.with_engine_of(account.as_deref(), |e| {
        e.send(
            &conversation,
            &text,
            content_type.unwrap_or_default(),
            reply_to,
            mentions.unwrap_or_default(),
        )
    })?;
    queued(&cache, &conversation, &id)
}

/// A message just queued in `conversation`'s outbox as `id`: the composer's draft of the
/// conversation is done with; answers the outbox entry.
pub(super) fn queued(
    cache: &tidings_client::cache::Cache,
    conversation: &str,
    id: &str,
) -> Res<OutboxEntry> {
    cache.clear_draft(conversation).map_err(ClientError::from)?;
    let entry = cache.outbox_entry(id).map_err(ClientError::from)?;
    entry.ok_or_else(|| invalid("the message vanished from the outbox"))
}

#[tauri::command]
pub async fn edit_message(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    message: String,
    text: String,
    content_type: ContentType,
    mentions: Vec<String>,
) -> Res<Message> {
    Ok(state
        .engine_of(account.as_deref())?
        .edit_message(&conversation, &message, &text, content_type, mentions)
        .await?)
}

#[tauri::command]
pub async fn delete_message(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    message: String,
) -> Res<Message> {
    Ok(state
        .engine_of(account.as_deref())?
        .delete_message(&conversation, &message)
        .await?)
}

#[tauri::command]
pub async fn react(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    message: String,
    emoji: String,
    on: bool,
) -> Res<Message> {
    Ok(state
        .engine_of(account.as_deref())?
        .react(&conversation, &message, &emoji, on)
        .await?)
}

#[tauri::command]
pub fn set_notify_level<R: tauri::Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    level: NotifyLevel,
) -> Res<()> {
    state
        .cache_of(account.as_deref())?
        .set_notify_level(&conversation, level)
        .map_err(ClientError::from)?;
    tray::refresh(&app);
    Ok(())
}
