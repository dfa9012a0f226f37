//! Servers of another kind in the app: a Spring STOMP backend, RabbitMQ Web-STOMP or a
//! Socket.IO backend, added from the sign-in or accounts screen as a connection profile.
//! Each runs in the engine as its own account (the engine's [`Target::Profile`]): its
//! messages become notifications in its cache, and from there they take the same path as a
//! Tidings account's (the notifier's pop-ups and their mute and do-not-disturb rules, the
//! notification list, the offline cache, the tray).
//!
//! `form` is what the user fills in, `store` where it is kept (the secret in the keyring),
//! `check` the "Test connection".

pub mod check;
pub mod form;
pub mod store;

use crate::session;
use crate::state::{AppState, SessionInfo};
use form::ProfileForm;
use store::ProfileStore;
use tauri::AppHandle;
use tidings_client::engine::Target;
use tidings_client::{ClientError, ClientResult};

/// The app's saved servers of another kind.
pub fn store(state: &AppState) -> ProfileStore {
    ProfileStore::new(&state.config_dir, state.credentials.clone())
}

/// At launch: every saved server of another kind runs as its account.
pub fn start_all<R: tauri::Runtime>(app: &AppHandle<R>, state: &AppState) {
    let store = store(state);
    for saved in store.list() {
        let started = store
            .profile(&saved.account)
            .and_then(|p| run(app, state, &saved.account, &saved.form, p));
        if let Err(e) = started {
            tracing::warn!(account = %saved.account, error = %e, "cannot start a server of another kind");
        }
    }
}

fn run<R: tauri::Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    account: &str,
    form: &ProfileForm,
    profile: tidings_client::profile::Profile,
) -> ClientResult<SessionInfo> {
    let info = SessionInfo {
        id: account.to_owned(),
        server: profile.url.clone(),
        user: form.name.trim().to_owned(),
        kind: Some(form.kind),
    };
    session::run(app, state, info, Target::Profile(profile))
}

/// Adds a server of another kind (`account` `None`) or changes one (a secret left blank
/// keeps the stored one), and (re)starts its connection. Refused with a sentence when the
/// form is not complete, or when another account has its name on that host.
pub fn save<R: tauri::Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    account: Option<&str>,
    form: &ProfileForm,
) -> ClientResult<SessionInfo> {
    let store = store(state);
    if let Some(a) = account {
        if store.get(a).is_none() {
            return Err(ClientError::Config(format!(
                "{a} is not a server of another kind saved here"
            )));
        }
    }
    let form = store.complete(account, form);
    let profile = form
        .to_profile()
        .map_err(|e| ClientError::Config(e.message))?;
    let id = match account {
        // Editing keeps the account (its cache, its settings) whatever its new name.
        Some(a) => a.to_owned(),
        None => {
            let id = store::account_id(&form);
            let taken =
                store.get(&id).is_some() || state.session_infos().iter().any(|s| s.id == id);
            if taken {
                return Err(ClientError::Config(format!(
                    "an account named {id} is already here: give this server another name"
                )));
            }
            id
        }
    };
    store.save(&id, &form)?;
    run(app, state, &id, &form, profile)
}

/// Forgets a server of another kind: its form, its secret and its cache (its notifications
/// were only ever here). Its session must be stopped first.
pub fn forget(state: &AppState, account: &str) -> ClientResult<()> {
    store(state).remove(account)?;
    let cache = tidings_client::cache::Cache::path_in(&state.data_dir, account);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = cache.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}
