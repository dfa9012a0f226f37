//! Signing in and out, one account at a time: the account's credentials and cache, the
//! engine, and the bridge that carries its news, started and stopped together and kept in
//! [`AppState`] beside the other accounts' sessions.

use crate::bridge;
use crate::settings::AccountSettings;
use crate::state::{AppState, Session, SessionInfo};
use crate::tray;
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tauri::AppHandle;
use tidings_client::cache::Cache;
use tidings_client::credentials::Account;
use tidings_client::engine::{Engine, EngineConfig, Target as EngineTarget, TidingsServer};
use tidings_client::http::Api;
use tidings_client::{ClientError, ClientResult};

/// Signs in over REST (or registers), keeps the account beside the others, and starts its
/// engine (signing in again to an account already here replaces its session).
pub async fn sign_in<R: tauri::Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    server: &str,
    username: &str,
    password: &str,
    register: bool,
) -> ClientResult<SessionInfo> {
    let server = server.trim().trim_end_matches('/').to_owned();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(ClientError::Config(
            "the server address starts with http:// or https://".into(),
        ));
    }
    let api = Api::new(&server, state.tls.clone())?;
    let t = if register {
        api.register(username, password).await?
    } else {
        api.login(username, password).await?
    };
    let account = state
        .credentials
        .add(&server, &t.user.id, &t.refresh_token)?;
    let mut s = state.settings();
    s.server = Some(server.clone());
    let _ = state.save_app_settings(s);
    start(
        app,
        state,
        &account,
        Some((t.access_token, Duration::from_secs(t.expires_in))),
    )
}

/// Starts the engine of a saved account (at launch, after sign-in).
pub fn start<R: tauri::Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    account: &Account,
    access: Option<(String, Duration)>,
) -> ClientResult<SessionInfo> {
    let target = EngineTarget::Tidings(TidingsServer {
        http: account.server.clone(),
        ws: TidingsServer::ws_url(&account.server),
        user: account.user.clone(),
        refresh: state.credentials.refresh_store(account),
        access,
    });
    let info = SessionInfo {
        id: account_id(&account.server, &account.user),
        server: account.server.clone(),
        user: account.user.clone(),
        kind: None,
    };
    run(app, state, info, target)
}

/// Starts an account's engine on `target`, with the bridge that carries its news, in the
/// place of the same account's session if there is one.
pub(crate) fn run<R: tauri::Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    info: SessionInfo,
    target: EngineTarget,
) -> ClientResult<SessionInfo> {
    let id = info.id.clone();
    let cache = Arc::new(Cache::open(&Cache::path_in(&state.data_dir, &id))?);
    // A cache that never synced (a new sign-in) fills with history first: none of it is
    // news, so nothing pops up until the engine has been live once.
    let fresh = cache.conversations()?.is_empty();
    let engine = Engine::start(EngineConfig::new(target, state.tls.clone()), cache.clone())?;
    let session = Session::new(
        info.clone(),
        engine,
        AccountSettings::path(&state.config_dir, &id),
        state.settings_path(),
    );
    session.notifier().baseline(&cache)?;
    // Where the last process to hold the account stopped judging its news (a hand-over
    // between the window's process and the tray's): what came after pops up here.
    let untold = crate::untold::take(&state.data_dir, &id);
    let again = {
        let mut notifier = session.notifier();
        notifier.resume(&untold);
        notifier.has_news_again()
    };
    if again {
        tracing::info!(account = %id, "news the last process left unjudged is judged here");
    }
    let tasks = bridge::start(app, &session.engine, &info, fresh, again);
    *session
        .bridge
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = tasks;
    if let Some(old) = state.insert_session(session) {
        stop(old);
    }
    // The bridge may have drawn the tray before the session was here to read (and the
    // engine may already be live, with no change left to announce): draw it now.
    tray::refresh(app);
    Ok(info)
}

/// Signs one account out: stops its engine, forgets its session here and revokes it on the
/// server. The other accounts go on.
pub async fn sign_out(state: &AppState, account: Option<&str>) -> ClientResult<()> {
    let Ok(session) = state.session(account) else {
        return Ok(());
    };
    let (server, user) = (session.info.server.clone(), session.info.user.clone());
    let id = session.info.id.clone();
    let other_kind = session.info.kind.is_some();
    drop(session);
    if let Some(s) = state.take_session(&id) {
        stop(s);
    }
    // News a process handed over for it is not told after signing out (nor at a later
    // sign-in, which would pop up what was held back before).
    crate::untold::take(&state.data_dir, &id);
    if other_kind {
        // A server of another kind has no sign-in to revoke: signing out removes it.
        crate::profiles::forget(state, &id)?;
        return Ok(());
    }
    if let Some(token) = state.credentials.forget_account(&server, &user)? {
        if let Ok(api) = Api::new(&server, state.tls.clone()) {
            // Best effort: signing out here must work offline too.
            let _ = api.logout(&token).await;
        }
    }
    Ok(())
}

/// An account's id, and its cache's name: `user@host[:port]`.
pub fn account_id(server: &str, user: &str) -> String {
    let host = server.split("://").nth(1).unwrap_or(server);
    format!("{user}@{host}")
}

pub(crate) fn stop(s: Arc<Session>) {
    if let Some(shutdown) = stopping(s) {
        tauri::async_runtime::spawn(shutdown);
    }
}

/// Stops a session's bridge, and gives its engine's shutdown to await when nothing else
/// holds the engine. A command still awaiting the engine holds it: the engine then stops
/// when that call ends and drops it (dropping the handle stops the engine).
pub(crate) fn stopping(s: Arc<Session>) -> Option<impl std::future::Future<Output = ()>> {
    s.stop_bridge();
    let engine = Arc::try_unwrap(s).ok()?.engine;
    Arc::try_unwrap(engine).ok().map(|engine| engine.shutdown())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_account_is_its_user_at_its_host() {
        assert_eq!(
            super::account_id("https://chat.example.com", "alice"),
            "alice@chat.example.com"
        );
        assert_eq!(
            super::account_id("http://127.0.0.1:8080", "bob"),
            "bob@127.0.0.1:8080"
        );
    }
}
