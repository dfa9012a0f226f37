//! The bridge from the engine to the shell: tasks per session that carry the engine's
//! state, the cache's changes, its live events and its upload progress (`progress`) to the
//! UI (events, each naming its account: [`AccountEvent`]), the tray and the toasts.

use crate::notifier;
use crate::state::{AppState, SessionInfo};
use crate::toasts;
use crate::tray;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use tidings_client::engine::{Engine, EngineState};
use tidings_proto::{Envelope, Event};

/// What an event says, and the account it is about.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct AccountEvent<T> {
    pub account: String,
    pub payload: T,
}

pub(crate) fn emit<R: tauri::Runtime, T: Serialize + Clone>(
    app: &AppHandle<R>,
    event: &str,
    account: &str,
    payload: T,
) {
    let _ = app.emit(
        event,
        AccountEvent {
            account: account.to_owned(),
            payload,
        },
    );
}

/// Carries engine news to the UI (events), the tray and the notifier.
pub fn start<R: tauri::Runtime>(
    app: &AppHandle<R>,
    engine: &Engine,
    info: &SessionInfo,
    fresh: bool,
    again: bool,
) -> Vec<tauri::async_runtime::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let (app1, mut states, id1) = (app.clone(), engine.state(), info.id.clone());
    tasks.push(tauri::async_runtime::spawn(async move {
        loop {
            let s = states.borrow_and_update().clone();
            emit(&app1, "engine-state", &id1, s);
            tray::refresh(&app1);
            if states.changed().await.is_err() {
                return;
            }
        }
    }));
    let (app2, mut changed, me2) = (app.clone(), engine.changed(), info.clone());
    let cache = engine.cache().clone();
    let mut engine_state = engine.state();
    tasks.push(tauri::async_runtime::spawn(async move {
        let mut seen = *changed.borrow();
        // A fresh sign-in fills the cache with what was there before: none of it is news.
        // The filling ends when the engine is live (its catch-up done); the notifier's
        // baseline is taken then, so what comes after it, even in the same batch of
        // changes as the last of the filling, pops up.
        let mut filling = fresh;
        // News another process left unjudged (`crate::untold`) is looked at right away.
        let mut again = again;
        let mut throttled = again.then(tokio::time::Instant::now);
        loop {
            if filling && *engine_state.borrow_and_update() == EngineState::Live {
                filling = false;
                baseline(&app2, &me2, &cache);
            }
            let wake = async {
                match throttled {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                r = engine_state.changed(), if filling => {
                    if r.is_err() { return }
                    continue;
                }
                _ = wake => {}
            }
            throttled = None;
            let latest = *changed.borrow_and_update();
            emit(&app2, "changed", &me2.id, latest);
            let changes = match cache.changes_since(seen, 10_000) {
                Ok(c) => c,
                Err(e) => {
                    // Read again after a pause: moving `seen` on would lose these changes'
                    // pop-ups for good.
                    tracing::warn!(error = %e, "cannot read the cache's changes");
                    throttled = Some(tokio::time::Instant::now() + notifier::THROTTLE);
                    continue;
                }
            };
            seen = latest.max(seen);
            let mut convs: Vec<String> = changes
                .iter()
                .filter(|c| c.kind == "message")
                .map(|c| c.key.clone())
                .collect();
            convs.sort();
            convs.dedup();
            let notes = changes.iter().any(|c| c.kind == "notification");
            if filling {
                baseline(&app2, &me2, &cache);
                tray::refresh(&app2);
                continue;
            }
            match toasts::notify(&app2, &cache, &me2, &convs, notes) {
                Some(held) => {
                    again = false;
                    if held {
                        throttled = Some(tokio::time::Instant::now() + notifier::THROTTLE);
                    }
                }
                // The session is not in the app's state yet (it is put there right after
                // this task starts): the news left by another process waits for it.
                None if again => {
                    throttled = Some(tokio::time::Instant::now() + AGAIN_RETRY);
                }
                None => {}
            }
            tray::refresh(&app2);
        }
    }));
    tasks.push(crate::progress::start(app, engine, &info.id));
    let (app3, mut events, id3) = (app.clone(), engine.events(), info.id.clone());
    tasks.push(tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(env) => forward_event(&app3, &id3, &env),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    }));
    tasks
}

/// How soon the news another process left is looked at again when the session was not
/// ready for it.
const AGAIN_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// What the cache holds now is known: the account's notifier pops up only what comes after.
fn baseline<R: tauri::Runtime>(
    app: &AppHandle<R>,
    account: &SessionInfo,
    cache: &tidings_client::cache::Cache,
) {
    if let Some(state) = app.try_state::<AppState>() {
        if let Ok(session) = state.session(Some(&account.id)) {
            if let Err(e) = session.notifier().baseline(cache) {
                tracing::warn!(error = %e, "notifier could not read the cache");
            }
        }
    }
}

/// Live events the UI shows but the cache does not keep (typing; who removed the user from
/// a conversation), or wants at once.
fn forward_event<R: tauri::Runtime>(app: &AppHandle<R>, account: &str, env: &Envelope) {
    match &env.event {
        Event::Typing(t) => emit(app, "typing", account, t.clone()),
        Event::Presence(p) => emit(app, "presence", account, p.clone()),
        _ => {}
    }
}
