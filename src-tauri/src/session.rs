//! Signing in and out: the account's credentials and cache, the engine, and the bridge that
//! carries its news, started and stopped together and kept in [`AppState`].

use crate::bridge;
use crate::state::{AppState, Session, SessionInfo};
use crate::tray;
use std::sync::Arc;
use std::time::Duration;
use tauri::AppHandle;
use tidings_client::cache::Cache;
use tidings_client::engine::{Engine, EngineConfig, Target as EngineTarget, TidingsServer};
use tidings_client::http::Api;
use tidings_client::{ClientError, ClientResult};

/// Signs in over REST (or registers), keeps the session, and starts the engine.
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
    state
        .credentials
        .save(&server, &t.user.id, &t.refresh_token)?;
    let mut s = state.settings();
    s.server = Some(server.clone());
    let _ = state.save_settings(s);
    start(
        app,
        state,
        Some((t.access_token, Duration::from_secs(t.expires_in))),
    )
}

/// Starts the engine for the saved account (at launch, after sign-in).
pub fn start<R: tauri::Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    access: Option<(String, Duration)>,
) -> ClientResult<SessionInfo> {
    let account = state
        .credentials
        .current()
        .ok_or_else(|| ClientError::Unauthorized("not signed in".into()))?;
    let cache = Arc::new(Cache::open(&Cache::path_in(
        &state.data_dir,
        &cache_name(&account.server, &account.user),
    ))?);
    let target = EngineTarget::Tidings(TidingsServer {
        http: account.server.clone(),
        ws: TidingsServer::ws_url(&account.server),
        user: account.user.clone(),
        refresh: state.credentials.refresh_store(&account),
        access,
    });
    // A cache that never synced (a new sign-in) fills with history first: none of it is
    // news, so nothing pops up until the engine has been live once.
    let fresh = cache.conversations()?.is_empty();
    let engine = Engine::start(EngineConfig::new(target, state.tls.clone()), cache.clone())?;
    *state.notifier() = Default::default();
    state.notifier().baseline(&cache)?;
    let info = SessionInfo {
        server: account.server,
        user: account.user,
    };
    let bridge = bridge::start(app, &engine, &info.user, fresh);
    let old = state.replace_session(Session {
        info: info.clone(),
        engine: Arc::new(engine),
        bridge,
    });
    if let Some(old) = old {
        stop(old);
    }
    // The bridge may have drawn the tray before the session was here to read (and the
    // engine may already be live, with no change left to announce): draw it now.
    tray::refresh(app);
    Ok(info)
}

/// Signs out: stops the engine, forgets the session here and revokes it on the server.
pub async fn sign_out(state: &AppState) -> ClientResult<()> {
    let session = state.take_session();
    let server = session.as_ref().map(|s| s.info.server.clone());
    if let Some(s) = session {
        stop(s);
    }
    if let (Some(token), Some(server)) = (state.credentials.forget()?, server) {
        if let Ok(api) = Api::new(&server, state.tls.clone()) {
            // Best effort: signing out here must work offline too.
            let _ = api.logout(&token).await;
        }
    }
    *state.notifier() = Default::default();
    Ok(())
}

/// The account's cache name: `user@host`.
fn cache_name(server: &str, user: &str) -> String {
    let host = server.split("://").nth(1).unwrap_or(server);
    format!("{user}@{host}")
}

fn stop(s: Session) {
    for task in s.bridge {
        task.abort();
    }
    // A command still awaiting the engine holds it: the engine stops when that call ends
    // and drops it (dropping the handle stops the engine).
    if let Ok(engine) = Arc::try_unwrap(s.engine) {
        tauri::async_runtime::spawn(engine.shutdown());
    }
}
