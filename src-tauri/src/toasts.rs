//! OS notifications (toasts): runs an account's notifier over what changed, shows its
//! toasts (one per conversation, replaced in place; naming the account when several are
//! signed in), and opens what a clicked one points at, in its account.

use crate::notifier::{self, Target, Toast};
use crate::state::{AppState, OpenNotifications, OpenTarget, Opening, SessionInfo};
use crate::window;
use std::time::Instant;
use tauri::{AppHandle, Manager};
use tidings_client::cache::Cache;

#[cfg(all(unix, not(target_os = "macos")))]
pub(crate) mod bus;
#[cfg(all(unix, not(target_os = "macos")))]
mod clicks;

/// Runs the account's notifier over what changed; shows its toasts. `Some(held)`: ran, and
/// whether to run it again after the throttle (news held back, or the cache could not be
/// read this time).
pub fn notify<R: tauri::Runtime>(
    app: &AppHandle<R>,
    cache: &Cache,
    account: &SessionInfo,
    convs: &[String],
    notes: bool,
) -> Option<bool> {
    let state = app.try_state::<AppState>()?;
    let session = state.session(Some(&account.id)).ok()?;
    let settings = state.settings_of(Some(&account.id));
    let view = state.view_of(&account.id);
    let quiet = notifier::quiet(&settings, local_minutes());
    let moment = notifier::Moment {
        view: &view,
        settings: &settings,
        quiet,
        now: Instant::now(),
    };
    let result = session
        .notifier()
        .on_changes(cache, &account.user, convs, notes, &moment);
    let (toasts, held) = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "notifier could not read the cache");
            return Some(true);
        }
    };
    let several = state.sessions().len() > 1;
    for t in toasts {
        show_toast(app, &state, for_account(t, &account.id, several));
    }
    Some(held)
}

/// A toast of one account among others: its key is the account's own, and with more than
/// one account signed in its summary says which ("Bob · alice@chat.example.com").
pub fn for_account(mut t: Toast, account: &str, several: bool) -> (String, Toast) {
    if several {
        t.summary = format!("{} · {account}", t.summary);
    }
    t.key = format!("{account}/{}", t.key);
    (account.to_owned(), t)
}

/// Shows (or replaces) an OS notification; a click on it opens its target.
///
/// Toasts are shown one at a time, in the order asked: a flood replaces one notification
/// several times, and two `Notify` calls in flight could reach the notification service in
/// the opposite order, leaving an older text on screen for good (the e2e flood check saw
/// "flood 49" never shown, 2 runs in 10 on a loaded machine). The id to replace is read
/// there too, once the previous toast of the key has its id.
///
/// Over D-Bus one task sends them all and hears every click ([`bus`]); elsewhere
/// notify-rust shows each and a thread per notification waits for its click.
fn show_toast<R: tauri::Runtime>(app: &AppHandle<R>, state: &AppState, t: (String, Toast)) {
    if state.notify_broken() {
        return;
    }
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        let Some(bus) = app.try_state::<bus::Bus>() else {
            return;
        };
        let (account, t) = t;
        let shown = bus::Shown {
            note: notification(&t),
            entry: clicks::Entry {
                account,
                key: t.key,
                target: t.target,
            },
        };
        let app2 = app.clone();
        bus.show(app, shown, move |e| {
            open_target(&app2, &e.account, &e.target)
        });
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        let app = app.clone();
        state.run_toast_job(Box::new(move || show_now(&app, t)));
    }
}

/// The OS notification of a toast (its id to replace is the sender's to set).
fn notification(t: &Toast) -> notify_rust::Notification {
    let mut n = notify_rust::Notification::new();
    n.appname("Tidings")
        .summary(&t.summary)
        .body(&t.body)
        .icon("mail-message-new")
        .action("default", "Open");
    n
}

/// On the toasts thread: one `Notify` call, then a thread that waits for its click.
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn show_now<R: tauri::Runtime>(app: &AppHandle<R>, (account, t): (String, Toast)) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    if state.notify_broken() {
        return;
    }
    let previous = state.shown().get(&t.key).copied();
    let mut n = notification(&t);
    if let Some(id) = previous {
        n.id(id);
    }
    let handle = match n.show() {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "cannot show a desktop notification (no notification service?)");
            state.set_notify_broken();
            return;
        }
    };
    let id = handle.id();
    state.shown().insert(t.key.clone(), id);
    let waiting = state.waiting();
    if !waiting
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id)
    {
        return; // A thread already waits for this notification's click.
    }
    let (app, key, target) = (app.clone(), t.key, t.target);
    std::thread::spawn(move || {
        let app2 = app.clone();
        handle.wait_for_action(move |action| {
            if action == "default" {
                open_target(&app2, &account, &target);
            }
        });
        waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
fn open_target<R: tauri::Runtime>(app: &AppHandle<R>, account: &str, target: &Target) {
    let app = app.clone();
    let target = target.clone();
    let account = account.to_owned();
    let conversation = {
        let account = account.clone();
        move |conversation| {
            Some(Opening::Conversation(OpenTarget {
                account: account.clone(),
                conversation,
            }))
        }
    };
    let _ = app.clone().run_on_main_thread(move || match target {
        Target::Conversation(cid) => window::show(&app, conversation(cid)),
        Target::Notification {
            id,
            conversation: cid,
            url,
        } => {
            if let Some(s) = app.try_state::<AppState>() {
                if let Ok(e) = s.engine_of(Some(&account)) {
                    let _ = e.mark_notification_read(&id);
                }
            }
            match (cid, url) {
                (Some(cid), _) => window::show(&app, conversation(cid)),
                (None, Some(url)) => {
                    use tauri_plugin_opener::OpenerExt;
                    let _ = app.opener().open_url(url, None::<&str>);
                }
                (None, None) => window::show(&app, notifications(Some(account))),
            }
        }
        Target::Summary {
            notifications: true,
        } => window::show(&app, notifications(None)),
        Target::Summary {
            notifications: false,
        } => window::show(&app, None),
    });
}

fn notifications(account: Option<String>) -> Option<Opening> {
    Some(Opening::Notifications(OpenNotifications { account }))
}

/// Minutes since local midnight.
fn local_minutes() -> u32 {
    use chrono::Timelike;
    let now = chrono::Local::now();
    now.hour() * 60 + now.minute()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toast_names_its_account_only_among_several() {
        let t = Toast {
            key: "c1".into(),
            summary: "Bob".into(),
            body: "hi".into(),
            target: Target::Conversation("c1".into()),
        };
        let (account, one) = for_account(t.clone(), "alice@work", false);
        assert_eq!(account, "alice@work");
        assert_eq!(
            (one.summary.as_str(), one.key.as_str()),
            ("Bob", "alice@work/c1")
        );
        let (_, two) = for_account(t, "alice@work", true);
        assert_eq!(two.summary, "Bob · alice@work");
        assert_eq!(two.body, "hi");
    }
}
