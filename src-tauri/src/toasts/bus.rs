//! Desktop notifications over D-Bus (Linux and the other freedesktop systems): one
//! connection to the notification service for the app's lifetime, owned by one task, that
//! sends every `Notify` and hears every `ActionInvoked` and `NotificationClosed`.
//!
//! It must be one connection for both: some notification services send `ActionInvoked` only
//! to the connection that sent the notification. notify-rust opens a connection per
//! notification and keeps it, with a thread blocked in `wait_for_action`, until the
//! notification goes; its API has no way to send over a connection of ours
//! (docs/desktop-app.md, "Notifications"). It still builds the notification (the same
//! builder as on Windows and macOS); this module sends what it built.
//!
//! The listening starts before the first `Notify`, so a click can never come before it.
//! Signals count only from the service that answered the last `Notify` (any process on the
//! bus could send the same ones).
//! Toasts are sent one at a time in the order asked: with two in flight the service could
//! get them in the other order and leave an older text on screen for good.

use super::clicks::{Clicks, Entry};
use crate::state::AppState;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::OnceLock;
use tauri::{AppHandle, Manager};
use tokio::sync::mpsc;
use zbus::Variant;
use zbus::{Connection, MatchRule, Message, MessageStream};

const SERVICE: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";

/// Toasts waiting to be sent. The notifier sends at most a few per throttle period, so this
/// fills only when the service stops answering; a toast that finds it full is dropped (a
/// pop-up lost, the in-app list still has it), never queued without bound.
const INBOX: usize = 64;
/// Signals queued while a `Notify` is answered; past this the oldest are dropped (zbus).
const SIGNALS: usize = 256;
/// How long a `Notify` may go unanswered. zbus waits for a reply without end; a service that
/// never answers one call (hung, or it lost the call) would otherwise hold every toast after
/// it. Past this the toast is given up (the in-app list has it) and the next one is sent.
const ANSWER: std::time::Duration = std::time::Duration::from_secs(10);

/// A toast to send: the notification as notify-rust built it, and what a click on it opens.
pub struct Shown {
    pub note: notify_rust::Notification,
    pub entry: Entry,
}

/// The listener's inbox, started with the first toast. Kept by Tauri as managed state.
#[derive(Default)]
pub struct Bus {
    inbox: OnceLock<mpsc::Sender<Shown>>,
}

/// What the service said about a notification.
#[derive(Debug, PartialEq, Eq)]
enum Signal {
    Action { id: u32, action: String },
    Closed { id: u32 },
}

impl Bus {
    /// Hands a toast to the listener. The first call starts the listener with its `open`,
    /// which then runs on each click on a notification of ours (callers pass the same one).
    pub fn show<R: tauri::Runtime>(
        &self,
        app: &AppHandle<R>,
        shown: Shown,
        open: impl Fn(Entry) + Send + 'static,
    ) {
        let inbox = self.inbox.get_or_init(|| {
            let (tx, rx) = mpsc::channel(INBOX);
            tauri::async_runtime::spawn(run(app.clone(), rx, open));
            tx
        });
        if inbox.try_send(shown).is_err() {
            tracing::warn!("the notification service is not keeping up: a pop-up is dropped");
        }
    }
}

/// The listener: sends the toasts in order, and maps the service's signals to clicks.
async fn run<R: tauri::Runtime>(
    app: AppHandle<R>,
    mut inbox: mpsc::Receiver<Shown>,
    open: impl Fn(Entry) + Send + 'static,
) {
    let (conn, mut signals) = match connect().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no session bus: desktop notifications are off");
            broken(&app);
            return;
        }
    };
    let mut clicks = Clicks::default();
    // The unique bus name of the service that answered the last `Notify`: only it may click
    // or close our notifications (another process could send the same signals).
    let mut service: Option<String> = None;
    loop {
        tokio::select! {
            shown = inbox.recv() => {
                let Some(Shown { note, entry }) = shown else { return };
                let Some(state) = app.try_state::<AppState>() else { return };
                let replaces = state.shown().get(&entry.key).copied().unwrap_or(0);
                match tokio::time::timeout(ANSWER, notify(&conn, &note, replaces)).await {
                    Ok(Ok((id, from))) => {
                        service = from;
                        state.shown().insert(entry.key.clone(), id);
                        clicks.shown(id, entry);
                    }
                    Err(_) => {
                        tracing::warn!(
                            seconds = ANSWER.as_secs(),
                            "the notification service did not answer: a pop-up is given up"
                        );
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cannot show a desktop notification (no notification service?)");
                        broken(&app);
                        return;
                    }
                }
            }
            msg = signals.next() => {
                let Some(msg) = msg else { return };
                let Ok(msg) = msg else { continue };
                let from = msg.header().sender().map(|s| s.as_str().to_owned());
                if from.is_none() || from != service {
                    continue;
                }
                let Some(signal) = signal(&msg) else { continue };
                let (id, clicked) = match signal {
                    Signal::Action { id, action } => (id, action == "default"),
                    Signal::Closed { id } => (id, false),
                };
                let Some(entry) = clicks.take(id) else { continue };
                // Gone from the screen: the next toast of its key is a new notification.
                if let Some(state) = app.try_state::<AppState>() {
                    let mut shown = state.shown();
                    if shown.get(&entry.key) == Some(&id) {
                        shown.remove(&entry.key);
                    }
                }
                if clicked {
                    open(entry);
                }
            }
        }
    }
}

fn broken<R: tauri::Runtime>(app: &AppHandle<R>) {
    if let Some(state) = app.try_state::<AppState>() {
        state.set_notify_broken();
    }
}

/// The session bus, already listening to the notification service's signals.
async fn connect() -> zbus::Result<(Connection, MessageStream)> {
    let conn = Connection::session().await?;
    let rule = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(SERVICE)
        .path(PATH)
        .build()?;
    let signals = MessageStream::for_match_rule(rule, &conn, NonZeroUsize::new(SIGNALS)).await?;
    Ok((conn, signals))
}

/// One `Notify` call (replacing `replaces` unless 0); the id the service gave, and the
/// service's unique bus name.
async fn notify(
    conn: &Connection,
    n: &notify_rust::Notification,
    replaces: u32,
) -> zbus::Result<(u32, Option<String>)> {
    // notify-rust keeps its conversion of hints to D-Bus values private; the app sets none.
    let hints: HashMap<&str, Variant<'_>> = HashMap::new();
    let body = (
        &n.appname,
        replaces,
        &n.icon,
        &n.summary,
        &n.body,
        &n.actions,
        hints,
        i32::from(n.timeout),
    );
    let reply = conn
        .call_method(Some(SERVICE), PATH, Some(SERVICE), "Notify", &body)
        .await?;
    let from = reply.header().sender().map(|s| s.as_str().to_owned());
    Ok((reply.body().deserialize()?, from))
}

/// A signal of the notification service, if it is one the listener needs.
fn signal(msg: &Message) -> Option<Signal> {
    let header = msg.header();
    match header.member()?.as_str() {
        "ActionInvoked" => {
            let (id, action) = msg.body().deserialize::<(u32, String)>().ok()?;
            Some(Signal::Action { id, action })
        }
        "NotificationClosed" => {
            let (id, _reason) = msg.body().deserialize::<(u32, u32)>().ok()?;
            Some(Signal::Closed { id })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig<B>(member: &str, body: &B) -> Message
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        Message::signal(PATH, SERVICE, member).build(body).unwrap()
    }

    #[test]
    fn clicks_and_closes_are_read_and_other_signals_ignored() {
        assert_eq!(
            signal(&sig("ActionInvoked", &(7u32, "default"))),
            Some(Signal::Action {
                id: 7,
                action: "default".into()
            })
        );
        assert_eq!(
            signal(&sig("NotificationClosed", &(7u32, 2u32))),
            Some(Signal::Closed { id: 7 })
        );
        assert_eq!(signal(&sig("ActivationToken", &(7u32, "token"))), None);
        assert_eq!(signal(&sig("ActionInvoked", &("not an id",))), None);
    }
}
