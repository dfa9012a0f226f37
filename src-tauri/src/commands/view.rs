//! The commands that keep the user's work and place on this device: each conversation's
//! draft (saved as the user types), the open conversation, and where each conversation was
//! scrolled to. All in the account's cache; nothing goes to the server.

use super::Res;
use crate::error::invalid;
use crate::state::AppState;
use tauri::State;
use tidings_client::cache::{Draft, ScrollAnchor};
use tidings_client::ClientError;
use tidings_proto::Timestamp;

/// A draft longer than this is refused (a message is far shorter; this only bounds what a
/// page can make the app write).
pub const DRAFT_MAX_CHARS: usize = 100_000;

#[tauri::command]
pub fn drafts(state: State<'_, AppState>, account: Option<String>) -> Res<Vec<Draft>> {
    Ok(state
        .cache_of(account.as_deref())?
        .drafts()
        .map_err(ClientError::from)?)
}

/// Keeps the draft of `conversation` (blank text with no reply removes it); whether one is kept.
#[tauri::command]
pub fn save_draft(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    text: String,
    reply_to: Option<String>,
) -> Res<bool> {
    if text.chars().count() > DRAFT_MAX_CHARS {
        return Err(invalid(format!(
            "this draft is too long to keep (over {DRAFT_MAX_CHARS} characters)"
        )));
    }
    Ok(state
        .cache_of(account.as_deref())?
        .save_draft(&conversation, &text, reply_to.as_deref(), Timestamp::now())
        .map_err(ClientError::from)?)
}

/// The conversation that was open when the window was last used.
#[tauri::command]
pub fn last_open(state: State<'_, AppState>, account: Option<String>) -> Res<Option<String>> {
    Ok(state
        .cache_of(account.as_deref())?
        .open_conversation()
        .map_err(ClientError::from)?)
}

#[tauri::command]
pub fn set_last_open(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: Option<String>,
) -> Res<()> {
    Ok(state
        .cache_of(account.as_deref())?
        .set_open_conversation(conversation.as_deref())
        .map_err(ClientError::from)?)
}

/// Where `conversation` was scrolled to (`null`: at its newest message).
#[tauri::command]
pub fn scroll_anchor(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
) -> Res<Option<ScrollAnchor>> {
    Ok(state
        .cache_of(account.as_deref())?
        .scroll_anchor(&conversation)
        .map_err(ClientError::from)?)
}

#[tauri::command]
pub fn set_scroll_anchor(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    anchor: Option<ScrollAnchor>,
) -> Res<()> {
    Ok(state
        .cache_of(account.as_deref())?
        .set_scroll_anchor(&conversation, anchor)
        .map_err(ClientError::from)?)
}
