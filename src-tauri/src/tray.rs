//! The tray icon: an unread badge, a tooltip with the unread count and connection state, and
//! a menu with Show/Hide first (Linux trays do not deliver left clicks), Do not disturb, and
//! Quit; what it shows, read from [`AppState`] and drawn by one task at a time
//! ([`Refresher`]). With several accounts it adds them up: the unread of all, their states,
//! and Do not disturb checked when every account has it on (the menu item sets all).

use crate::state::AppState;
use crate::window;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tidings_client::engine::EngineState;
use tokio::sync::Notify;

pub const ID: &str = "main";

/// Which picture the tray shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Look {
    Plain,
    Unread,
    DoNotDisturb,
    Offline,
}

pub(crate) fn image(look: Look) -> tauri::Result<Image<'static>> {
    let bytes: &[u8] = match look {
        Look::Plain => include_bytes!("../../icons/tray/plain.png"),
        Look::Unread => include_bytes!("../../icons/tray/unread.png"),
        Look::DoNotDisturb => include_bytes!("../../icons/tray/dnd.png"),
        Look::Offline => include_bytes!("../../icons/tray/offline.png"),
    };
    Image::from_bytes(bytes)
}

/// The Do-not-disturb menu item, kept to update its check mark, and what the tray shows now.
pub struct Tray<R: Runtime> {
    pub dnd: CheckMenuItem<R>,
    /// The line and the picture last set. Setting the picture encodes a PNG, writes it to a
    /// file and signals the panel over D-Bus, on the main thread, and the tray is refreshed
    /// on every change of the cache or the connection (each step of a catch-up): only what
    /// differs is set. A plain mutex: a short, non-async section.
    shown: Mutex<(Option<String>, Option<Look>)>,
}

impl<R: Runtime> std::fmt::Debug for Tray<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tray")
    }
}

pub fn build<R: tauri::Runtime>(app: &AppHandle<R>, dnd_on: bool) -> tauri::Result<Tray<R>> {
    let toggle = MenuItem::with_id(app, "toggle", "Show/Hide", true, None::<&str>)?;
    let dnd = CheckMenuItem::with_id(app, "dnd", "Do not disturb", true, dnd_on, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Tidings", true, None::<&str>)?;
    let sep = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&toggle, &dnd, &sep, &quit])?;
    TrayIconBuilder::with_id(ID)
        .icon(image(Look::Plain)?)
        .tooltip("Tidings")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "toggle" => window::toggle(app),
            "dnd" => toggle_dnd(app),
            "quit" => window::quit(app),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let tauri::tray::TrayIconEvent::Click { .. } = event {
                window::show(tray.app_handle(), None);
            }
        })
        .build(app)?;
    Ok(Tray {
        dnd,
        shown: Mutex::new((None, None)),
    })
}

/// The tray's line: "Tidings — N unread — live".
pub fn line(unread: i64, state: &str) -> String {
    match unread {
        0 => format!("Tidings — {state}"),
        1 => format!("Tidings — 1 unread — {state}"),
        n => format!("Tidings — {n} unread — {state}"),
    }
}

/// Brings the tray up to date one drawing at a time, on a task of its own: callers (the
/// engine's state and cache watchers, menu clicks, commands) only ask. Each drawing reads
/// what it shows afresh, and a request made during a drawing runs one more after it, so the
/// last drawing shows the latest state. (When each caller drew what it had read, two
/// drawings could finish in the other order: "catching up" read just before the engine went
/// live was set after "live", and stayed, as nothing changed after.)
#[derive(Debug, Clone)]
pub struct Refresher {
    wake: Arc<Notify>,
}

impl Refresher {
    pub fn start(draw: impl Fn() + Send + Sync + 'static) -> Refresher {
        let wake = Arc::new(Notify::new());
        let (asked, draw) = (wake.clone(), Arc::new(draw));
        tauri::async_runtime::spawn(async move {
            loop {
                // At most one request is kept while drawing: one more drawing covers all.
                asked.notified().await;
                let draw = draw.clone();
                // Drawing reads the cache and waits for the main thread: off the async workers.
                let _ = tauri::async_runtime::spawn_blocking(move || draw()).await;
            }
        });
        Refresher { wake }
    }

    /// Asks for a drawing (of the state as it is when the drawing starts).
    pub fn request(&self) {
        self.wake.notify_one();
    }
}

/// Updates the tooltip, the picture and the Do-not-disturb check mark.
pub fn update<R: tauri::Runtime>(app: &AppHandle<R>, tip: String, look: Look, dnd: bool) {
    let (Some(t), Some(tray)) = (app.try_state::<Tray<R>>(), app.tray_by_id(ID)) else {
        return;
    };
    let (new_tip, new_look) = {
        let mut shown = t.shown.lock().unwrap_or_else(PoisonError::into_inner);
        let new_tip = shown.0.as_deref() != Some(tip.as_str());
        let new_look = shown.1 != Some(look);
        *shown = (Some(tip.clone()), Some(look));
        (new_tip, new_look)
    };
    if new_tip {
        // Linux trays (StatusNotifierItem) show no tooltip: the title carries the same line.
        let _ = tray.set_tooltip(Some(tip.clone()));
        let _ = tray.set_title(Some(tip));
    }
    if new_look {
        if let Ok(img) = image(look) {
            let _ = tray.set_icon(Some(img));
        }
    }
    let _ = t.dnd.set_checked(dnd);
}

/// Flips do-not-disturb (tray menu) for every account: on for all unless all have it on;
/// saves it, and tells the UI (per account).
pub fn toggle_dnd<R: tauri::Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let sessions = state.sessions();
    let on = !all_dnd(&state);
    for session in sessions {
        let mut mine = session.settings();
        mine.do_not_disturb = on;
        if let Err(e) = session.save_settings(mine) {
            tracing::warn!(error = %e, "cannot save settings");
        }
        let s = state.settings_of(Some(&session.info.id));
        let _ = app.emit(
            "settings",
            crate::bridge::AccountEvent {
                account: session.info.id.clone(),
                payload: s,
            },
        );
    }
    refresh(app);
}

/// Whether every signed-in account has do-not-disturb on (none signed in: no).
fn all_dnd(state: &AppState) -> bool {
    let sessions = state.sessions();
    !sessions.is_empty() && sessions.iter().all(|s| s.settings().do_not_disturb)
}

/// The tooltip's word for several accounts' states: the one word when they agree ("live"),
/// else how many are in each, in the order first seen ("1 live, 1 reconnecting").
pub fn states_word(words: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for w in words {
        match counts.iter_mut().find(|(x, _)| *x == w.as_str()) {
            Some((_, n)) => *n += 1,
            None => counts.push((w, 1)),
        }
    }
    match counts.as_slice() {
        [] => "signed out".into(),
        [(w, _)] => (*w).to_owned(),
        _ => counts
            .iter()
            .map(|(w, n)| format!("{n} {w}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A short word for the tooltip.
fn state_word(s: &EngineState) -> String {
    match s {
        EngineState::Connecting => "connecting".into(),
        EngineState::CatchingUp { done, total } => format!("catching up {done}/{total}"),
        EngineState::Live => "live".into(),
        EngineState::Reconnecting { .. } => "reconnecting".into(),
        EngineState::Offline => "offline".into(),
        EngineState::SignedOut { .. } => "signed out".into(),
        EngineState::Stopped => "stopped".into(),
    }
}

/// Asks for the tray to show the current connection state, unread count and do-not-disturb
/// (drawn on its own task, see [`Refresher`]); returns at once, from any thread.
pub fn refresh<R: tauri::Runtime>(app: &AppHandle<R>) {
    if app.try_state::<AppState>().is_none() {
        return;
    }
    // Kept by the app from the first request on (a no-op after): the drawer needs the app
    // to start, and a shell without a tray (the tests) has its line drawn too.
    app.manage(Drawer::default());
    app.state::<Drawer>()
        .0
        .get_or_init(|| {
            let app = app.clone();
            Refresher::start(move || draw(&app))
        })
        .request();
}

/// The one [`Refresher`] of the app, started by the first request.
#[derive(Debug, Default)]
struct Drawer(OnceLock<Refresher>);

/// Reads what the tray shows and sets it.
fn draw<R: tauri::Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let dnd = all_dnd(&state);
    let (mut unread, mut states, mut words) = (0i64, Vec::new(), Vec::new());
    for session in state.sessions() {
        let e = &session.engine;
        unread += e
            .cache()
            .conversations()
            .map(|cs| {
                cs.iter()
                    .filter(|c| !c.muted)
                    .map(|c| c.unread_count)
                    .sum::<i64>()
            })
            .unwrap_or(0);
        if session.info.kind.is_some() {
            // A server of another kind has only notifications: its unread ones count.
            unread += e.cache().unread_notifications().unwrap_or(0);
        }
        let st = e.state().borrow().clone();
        words.push(state_word(&st));
        states.push(st);
    }
    let connected =
        |s: &EngineState| matches!(s, EngineState::Live | EngineState::CatchingUp { .. });
    let look = if dnd {
        Look::DoNotDisturb
    } else if unread > 0 && states.iter().any(connected) {
        Look::Unread
    } else if states
        .iter()
        .any(|s| connected(s) || *s == EngineState::Connecting)
    {
        Look::Plain
    } else {
        Look::Offline
    };
    let line = line(unread, &states_word(&words));
    state.set_tray_line(line.clone());
    // The window's process started by the tray process: the tray is that process's.
    if let Some(link) = app.try_state::<crate::handover::Link>() {
        link.send(&crate::handover::ToTray::Tray { line, look, dnd });
        return;
    }
    // The tray-only process has a tray of its own (no Tauri tray, no GTK).
    #[cfg(all(unix, not(target_os = "macos")))]
    if let Some(sni) = app.try_state::<crate::tray_only::Sni>() {
        sni.show(line, look, dnd);
        return;
    }
    update(app, line, look, dnd);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(30);

    /// The engine goes live while the tray is being drawn with the state read before: the
    /// request made then is drawn after that drawing, with the state read afresh, so the tray
    /// ends at "live" (drawn by each caller, "catching up" was set last and stayed).
    #[test]
    fn a_state_change_during_a_drawing_is_drawn_after_it() {
        let state = Arc::new(Mutex::new("catching up 40/40"));
        let (started_tx, started) = mpsc::channel::<()>();
        let (release, released) = mpsc::channel::<()>();
        let (drawn_tx, drawn) = mpsc::channel::<&'static str>();
        let first = Mutex::new(Some((started_tx, released)));
        let current = state.clone();
        let refresher = Refresher::start(move || {
            let shows = *current.lock().unwrap();
            if let Some((started, released)) = first.lock().unwrap().take() {
                // The first drawing is slow (the main thread is busy): it holds here.
                started.send(()).unwrap();
                released.recv_timeout(WAIT).unwrap();
            }
            drawn_tx.send(shows).unwrap();
        });
        refresher.request();
        started
            .recv_timeout(WAIT)
            .expect("the first drawing started");
        *state.lock().unwrap() = "live";
        refresher.request();
        refresher.request();
        release.send(()).unwrap();
        assert_eq!(drawn.recv_timeout(WAIT), Ok("catching up 40/40"));
        assert_eq!(
            drawn.recv_timeout(WAIT),
            Ok("live"),
            "drawn again after the change"
        );
    }

    #[test]
    fn several_accounts_states_are_one_word_or_counted() {
        let w = |v: &[&str]| states_word(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(w(&[]), "signed out");
        assert_eq!(w(&["live"]), "live");
        assert_eq!(w(&["live", "live"]), "live");
        assert_eq!(
            w(&["live", "reconnecting", "live"]),
            "2 live, 1 reconnecting"
        );
    }

    #[test]
    fn the_line_counts_unread() {
        assert_eq!(line(0, "live"), "Tidings — live");
        assert_eq!(line(1, "live"), "Tidings — 1 unread — live");
        assert_eq!(line(3, "offline"), "Tidings — 3 unread — offline");
    }
}
