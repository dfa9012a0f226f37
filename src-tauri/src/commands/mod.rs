//! The commands the UI calls. Each parses, calls one thing on the engine, cache or state,
//! and maps the error to `{code, message}` ([`IpcError`]). This module has the session,
//! reading, settings and search; `messages` the actions on messages, `people` the
//! directory, the profile and conversations' membership; `view` drafts and where the user was;
//! `files` attachments (choosing, sending, cancelling, downloading, opening, saving).

pub mod files;
pub mod messages;
pub mod people;
pub mod profiles;
pub mod view;

use crate::error::{invalid, IpcError};
use crate::session;
use crate::settings::Settings;
use crate::state::{AppState, OpenNotifications, OpenTarget, Opening, SessionInfo};
use crate::telemetry::{FirstPaint, Launch};
use crate::tray;
use serde::Serialize;
use tauri::{AppHandle, State};
use tidings_client::cache::{CachedConversation, OutboxEntry, SearchHit};
use tidings_client::engine::EngineState;
use tidings_client::ClientError;
use tidings_proto::{Message, Notification};

pub(crate) type Res<T> = Result<T, IpcError>;

/// A page of a conversation: messages by `seq`, (on the newest page) what is still in the
/// outbox, and the originals of the page's replies that are not on it (for their quotes).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    pub pending: Vec<OutboxEntry>,
    pub quoted: Vec<Message>,
}

/// The accounts signed in, the active one, and a conversation to open if a notification
/// click asked for one.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Startup {
    /// The active account (the window shows it).
    pub session: Option<SessionInfo>,
    /// Every account signed in, in the switcher's order.
    pub accounts: Vec<SessionInfo>,
    pub open: Option<OpenTarget>,
    /// The notification list to open, if a click on a notification asked for it.
    pub open_notifications: Option<OpenNotifications>,
    /// The server to offer on the sign-in form.
    pub server: Option<String>,
}

/// An account in the switcher: who, its unread count (as the tray counts: not muted), and
/// its connection's state.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct AccountSummary {
    pub info: SessionInfo,
    pub unread: i64,
    pub state: EngineState,
}

#[tauri::command]
pub fn session(state: State<'_, AppState>) -> Startup {
    let (open, open_notifications) = match state.take_pending_open() {
        Some(Opening::Conversation(c)) => (Some(c), None),
        Some(Opening::Notifications(n)) => (None, Some(n)),
        None => (None, None),
    };
    Startup {
        session: state.session_info(),
        accounts: state.session_infos(),
        open,
        open_notifications,
        server: state
            .settings()
            .server
            .or_else(|| std::env::var("TIDINGS_SERVER").ok()),
    }
}

#[tauri::command]
pub async fn sign_in<R: tauri::Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    server: String,
    username: String,
    password: String,
    register: bool,
) -> Res<SessionInfo> {
    if username.trim().is_empty() || password.is_empty() {
        return Err(invalid("enter a username and a password"));
    }
    Ok(session::sign_in(&app, &state, &server, username.trim(), &password, register).await?)
}

/// Every account signed in, with its unread count and state (the account switcher).
#[tauri::command]
pub fn accounts(state: State<'_, AppState>) -> Vec<AccountSummary> {
    state
        .session_infos()
        .into_iter()
        .filter_map(|info| {
            let engine = state.engine_of(Some(&info.id)).ok()?;
            // A server of another kind has notifications only: its unread ones count.
            let unread = if info.kind.is_some() {
                engine.cache().unread_notifications().unwrap_or(0)
            } else {
                engine
                    .cache()
                    .conversations()
                    .map(|cs| {
                        cs.iter()
                            .filter(|c| !c.muted && !c.left)
                            .map(|c| c.unread_count)
                            .sum()
                    })
                    .unwrap_or(0)
            };
            let state = engine.state().borrow().clone();
            Some(AccountSummary {
                info,
                unread,
                state,
            })
        })
        .collect()
}

/// The window shows `account` now (its news no longer counts as on screen elsewhere).
#[tauri::command]
pub fn set_active_account(state: State<'_, AppState>, account: String) -> Res<()> {
    Ok(state.set_active(&account)?)
}

#[tauri::command]
pub async fn sign_out<R: tauri::Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    account: Option<String>,
) -> Res<()> {
    session::sign_out(&state, account.as_deref()).await?;
    tray::refresh(&app);
    Ok(())
}

#[tauri::command]
pub fn engine_state(state: State<'_, AppState>, account: Option<String>) -> EngineState {
    state
        .with_engine_of(account.as_deref(), |e| Ok(e.state().borrow().clone()))
        .unwrap_or(EngineState::SignedOut {
            reason: "not signed in".into(),
        })
}

#[tauri::command]
pub fn conversations(
    state: State<'_, AppState>,
    account: Option<String>,
) -> Res<Vec<CachedConversation>> {
    Ok(state
        .cache_of(account.as_deref())?
        .conversations()
        .map_err(ClientError::from)?)
}

#[tauri::command]
pub fn history(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    before: Option<i64>,
    limit: u32,
) -> Res<HistoryPage> {
    let cache = state.cache_of(account.as_deref())?;
    let limit = limit.clamp(1, 500);
    let messages = cache
        .history(&conversation, before, limit)
        .map_err(ClientError::from)?;
    let pending = if before.is_none() {
        cache
            .unconfirmed(&conversation)
            .map_err(ClientError::from)?
    } else {
        Vec::new()
    };
    let mut quoted: Vec<Message> = Vec::new();
    for r in messages.iter().filter_map(|m| m.reply_to.as_ref()) {
        let on_page = messages.iter().any(|m| m.id == r.message_id);
        if on_page || quoted.iter().any(|q| q.id == r.message_id) {
            continue;
        }
        if let Some(m) = cache.message(&r.message_id).map_err(ClientError::from)? {
            quoted.push(m);
        }
    }
    Ok(HistoryPage {
        messages,
        pending,
        quoted,
    })
}

#[tauri::command]
pub fn retry_message(
    state: State<'_, AppState>,
    account: Option<String>,
    client_id: String,
) -> Res<bool> {
    Ok(state.with_engine_of(account.as_deref(), |e| e.retry(&client_id))?)
}

#[tauri::command]
pub fn mark_read(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    up_to: i64,
) -> Res<bool> {
    Ok(state.with_engine_of(account.as_deref(), |e| e.mark_read(&conversation, up_to))?)
}

#[tauri::command]
pub fn set_typing(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    typing: bool,
) -> Res<()> {
    Ok(state.with_engine_of(account.as_deref(), |e| {
        e.typing(&conversation, typing);
        Ok(())
    })?)
}

#[tauri::command]
pub fn focus_conversation(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: Option<String>,
) -> Res<()> {
    Ok(state.focus(account.as_deref(), conversation)?)
}

/// A page of the notification list, newest first: those older than the one with id
/// `before` (the oldest shown), or the newest. Older than the cache holds come from the
/// server.
#[tauri::command]
pub async fn notifications(
    state: State<'_, AppState>,
    account: Option<String>,
    before: Option<String>,
    limit: u32,
) -> Res<Vec<Notification>> {
    let engine = state.engine_of(account.as_deref())?;
    Ok(engine
        .notifications_page(before.as_deref(), limit.clamp(1, 500))
        .await?)
}

/// Unread notifications in the cache: the badge, right from the first paint.
#[tauri::command]
pub fn unread_notifications(state: State<'_, AppState>, account: Option<String>) -> Res<i64> {
    Ok(state
        .cache_of(account.as_deref())?
        .unread_notifications()
        .map_err(ClientError::from)?)
}

#[tauri::command]
pub fn mark_notification_read(
    state: State<'_, AppState>,
    account: Option<String>,
    id: String,
) -> Res<bool> {
    Ok(state.with_engine_of(account.as_deref(), |e| e.mark_notification_read(&id))?)
}

/// Marks every notification read (here at once, on the server in one request); answers the
/// unread count after.
#[tauri::command]
pub fn mark_all_notifications_read(
    state: State<'_, AppState>,
    account: Option<String>,
) -> Res<i64> {
    Ok(state.with_engine_of(account.as_deref(), |e| e.mark_all_notifications_read())?)
}

#[tauri::command]
pub fn search(
    state: State<'_, AppState>,
    account: Option<String>,
    query: String,
    limit: u32,
) -> Res<Vec<SearchHit>> {
    Ok(state
        .cache_of(account.as_deref())?
        .search(&query, limit.clamp(1, 200))
        .map_err(ClientError::from)?)
}

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>, account: Option<String>) -> Settings {
    state.settings_of(account.as_deref())
}

#[tauri::command]
pub fn set_settings<R: tauri::Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    account: Option<String>,
    settings: Settings,
) -> Res<Settings> {
    let before = state.settings();
    if settings.start_at_login != before.start_at_login {
        autostart(&app, settings.start_at_login).map_err(invalid)?;
    }
    state.save_settings(account.as_deref(), settings.clone())?;
    if settings.zoom_percent != before.zoom_percent {
        crate::window::apply_zoom(&app);
    }
    tray::refresh(&app);
    Ok(state.settings_of(account.as_deref()))
}

/// "Reconnect now" (the account's), or the OS says the network is back (`every`: each
/// account's): try at once instead of waiting out the backoff (when connected, check that
/// the connection still answers).
#[tauri::command]
pub fn reconnect_now(
    state: State<'_, AppState>,
    account: Option<String>,
    every: Option<bool>,
) -> Res<()> {
    let engines = if every.unwrap_or(false) {
        state.sessions().iter().map(|s| s.engine.clone()).collect()
    } else {
        vec![state.engine_of(account.as_deref())?]
    };
    for e in engines {
        e.set_network(true);
        e.nudge();
    }
    Ok(())
}

/// Turns start-at-login on or off (it starts hidden in the tray: `--hidden`).
fn autostart<R: tauri::Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), String> {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    let r = if on {
        launcher.enable()
    } else {
        launcher.disable()
    };
    r.map_err(|e| format!("cannot change start at login: {e}"))
}

/// The UI painted its first signed-in view from the cache (startup telemetry).
#[tauri::command]
pub fn report_first_paint(launch: State<'_, Launch>, paint: FirstPaint) {
    launch.report(&paint);
}
