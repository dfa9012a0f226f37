//! Servers of another kind (connection profiles): the form to edit one, saving (adding or
//! changing, which starts its connection), testing the connection, and removing one.

use super::Res;
use crate::error::invalid;
use crate::profiles::{self, check::CheckReport, form::ProfileForm};
use crate::state::{AppState, SessionInfo};
use crate::tray;
use serde::Serialize;
use tauri::{AppHandle, State};

/// A saved server of another kind, for its edit form: no secret in it, only whether one is
/// kept (left blank, it stays).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SavedProfile {
    pub account: String,
    pub form: ProfileForm,
    pub secret_kept: bool,
}

#[tauri::command]
pub fn profile_form(state: State<'_, AppState>, account: String) -> Res<SavedProfile> {
    let store = profiles::store(&state);
    let saved = store
        .get(&account)
        .ok_or_else(|| invalid(format!("{account} is not a server of another kind")))?;
    Ok(SavedProfile {
        secret_kept: saved.form.auth.wants_secret() && store.secret(&account).is_some(),
        account: saved.account,
        form: saved.form,
    })
}

/// Adds (`account` null) or changes a server of another kind and (re)starts its connection.
#[tauri::command]
pub async fn save_profile<R: tauri::Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    account: Option<String>,
    form: ProfileForm,
) -> Res<SessionInfo> {
    let info = profiles::save(&app, &state, account.as_deref(), &form)?;
    tray::refresh(&app);
    Ok(info)
}

/// Tries the form's connection once, step by step (a secret left blank: the stored one of
/// `account`).
#[tauri::command]
pub async fn test_profile(
    state: State<'_, AppState>,
    account: Option<String>,
    form: ProfileForm,
) -> Res<CheckReport> {
    let form = profiles::store(&state).complete(account.as_deref(), &form);
    Ok(profiles::check::test(&form, &state.tls).await)
}

/// Removes a server of another kind: its connection, its saved form and secret, its cache.
#[tauri::command]
pub async fn remove_profile<R: tauri::Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    account: String,
) -> Res<()> {
    if let Some(s) = state.take_session(&account) {
        crate::session::stop(s);
    }
    crate::untold::take(&state.data_dir, &account);
    profiles::forget(&state, &account)?;
    tray::refresh(&app);
    Ok(())
}
