//! OS notifications (toasts): runs the notifier over what changed, shows its toasts (one
//! per conversation, replaced in place), and opens what a clicked one points at.

use crate::notifier::{self, Target, Toast};
use crate::state::AppState;
use crate::window;
use std::sync::PoisonError;
use std::time::Instant;
use tauri::{AppHandle, Emitter, Manager};
use tidings_client::cache::Cache;

/// Runs the notifier over what changed; shows its toasts. `Some(held)`: ran.
pub fn notify<R: tauri::Runtime>(
    app: &AppHandle<R>,
    cache: &Cache,
    me: &str,
    convs: &[String],
    notes: bool,
) -> Option<bool> {
    let state = app.try_state::<AppState>()?;
    let settings = state.settings();
    let view = state.view();
    let quiet = notifier::quiet(&settings, local_minutes());
    let moment = notifier::Moment {
        view: &view,
        settings: &settings,
        quiet,
        now: Instant::now(),
    };
    let result = state
        .notifier()
        .on_changes(cache, me, convs, notes, &moment);
    let (toasts, held) = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "notifier could not read the cache");
            return None;
        }
    };
    for t in toasts {
        show_toast(app, &state, t);
    }
    Some(held)
}

/// Shows (or replaces) an OS notification and waits, on a thread of its own, for a click.
fn show_toast<R: tauri::Runtime>(app: &AppHandle<R>, state: &AppState, t: Toast) {
    if state.notify_broken() {
        return;
    }
    let previous = state.shown().get(&t.key).copied();
    let mut n = notify_rust::Notification::new();
    n.appname("Tidings")
        .summary(&t.summary)
        .body(&t.body)
        .icon("mail-message-new")
        .action("default", "Open");
    if let Some(id) = previous {
        n.id(id);
    }
    let (app, waiting) = (app.clone(), state.waiting());
    let key = t.key.clone();
    std::thread::spawn(move || {
        let handle = match n.show() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot show a desktop notification (no notification service?)");
                if let Some(s) = app.try_state::<AppState>() {
                    s.set_notify_broken();
                }
                return;
            }
        };
        let id = handle.id();
        if let Some(s) = app.try_state::<AppState>() {
            s.shown().insert(key.clone(), id);
        }
        if !waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id)
        {
            return; // A thread already waits for this notification's click.
        }
        let target = t.target.clone();
        let app2 = app.clone();
        handle.wait_for_action(move |action| {
            if action == "default" {
                open_target(&app2, &target);
            }
        });
        waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if let Some(s) = app.try_state::<AppState>() {
            let mut shown = s.shown();
            if shown.get(&key) == Some(&id) {
                shown.remove(&key);
            }
        }
    });
}

/// A click on a notification: the window shows what it points at.
fn open_target<R: tauri::Runtime>(app: &AppHandle<R>, target: &Target) {
    let app = app.clone();
    let target = target.clone();
    let _ = app.clone().run_on_main_thread(move || match target {
        Target::Conversation(cid) => window::show(&app, Some(cid)),
        Target::Notification {
            id,
            conversation,
            url,
        } => {
            if let Some(s) = app.try_state::<AppState>() {
                let _ = s.with_engine(|e| e.mark_notification_read(&id));
            }
            match (conversation, url) {
                (Some(cid), _) => window::show(&app, Some(cid)),
                (None, Some(url)) => {
                    use tauri_plugin_opener::OpenerExt;
                    let _ = app.opener().open_url(url, None::<&str>);
                }
                (None, None) => {
                    window::show(&app, None);
                    let _ = app.emit("open-notifications", ());
                }
            }
        }
    });
}

/// Minutes since local midnight.
fn local_minutes() -> u32 {
    use chrono::Timelike;
    let now = chrono::Local::now();
    now.hour() * 60 + now.minute()
}
