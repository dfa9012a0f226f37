//! The main window: shown, hidden to the tray, or quit. While hidden the webview is
//! released (the window destroyed), so the app idles small in the tray with its connection
//! and notifications going on; showing it builds it again from the configuration. (On Linux
//! Tauri keeps the WebKit context, and with it the WebKitNetworkProcess, for the app's
//! lifetime once a webview has existed; the WebKitWebProcess goes with the window.)
//! Its size, position and maximized state are kept (tauri-plugin-window-state): saved when
//! it hides and when the app quits, put back each time it is built.

use crate::state::{AppState, Opening};
use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Emitter, Manager, WebviewWindow, WebviewWindowBuilder};
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

pub const MAIN: &str = "main";

/// What of the window comes back: not its visibility (a start with `--hidden` stays in the
/// tray) nor its decorations (the configuration's).
const KEPT: StateFlags = StateFlags::SIZE
    .union(StateFlags::POSITION)
    .union(StateFlags::MAXIMIZED)
    .union(StateFlags::FULLSCREEN);

/// The window-state plugin: its file is in the app's config directory (`TIDINGS_APP_DIR`'s
/// when set, as every other file of the app).
pub fn state_plugin<R: tauri::Runtime>() -> TauriPlugin<R> {
    let mut b = tauri_plugin_window_state::Builder::new().with_state_flags(KEPT);
    if let Some(d) = std::env::var_os("TIDINGS_APP_DIR") {
        // An absolute name replaces the plugin's directory.
        let file = std::path::PathBuf::from(d)
            .join("config")
            .join("window-state.json");
        b = b.with_filename(file.to_string_lossy());
    }
    b.build()
}

/// Writes the window's size, position and maximized state (before it goes).
fn save_state<R: tauri::Runtime>(app: &AppHandle<R>) {
    if app.get_webview_window(MAIN).is_some() {
        if let Err(e) = app.save_window_state(KEPT) {
            tracing::warn!(error = %e, "cannot save the window's size and place");
        }
    }
}

/// Builds the window from its configuration. The configuration says `create: false`: a start
/// with `--hidden` never builds it, so no webview (and no WebKit process) exists until the
/// user opens the window.
pub fn build<R: tauri::Runtime>(app: &AppHandle<R>) -> tauri::Result<WebviewWindow<R>> {
    let config = app.config();
    let cfg = config
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN)
        .ok_or(tauri::Error::WindowNotFound)?;
    let window = WebviewWindowBuilder::from_config(app, cfg)?.build()?;
    apply_zoom(app);
    Ok(window)
}

/// Sets the window's zoom to the text size in the settings (at every build: a window shown
/// again from the tray is a new webview).
pub fn apply_zoom<R: tauri::Runtime>(app: &AppHandle<R>) {
    let (Some(w), Some(state)) = (app.get_webview_window(MAIN), app.try_state::<AppState>()) else {
        return;
    };
    let zoom = f64::from(state.settings().zoom_percent) / 100.0;
    if let Err(e) = w.set_zoom(zoom) {
        tracing::warn!(error = %e, "cannot set the text size");
    }
}

/// Shows the window (building it if it was released), optionally opening a conversation
/// or the notification list (in its account).
///
/// A window built here starts empty: its page asks for what to open once it has loaded
/// (the pending opening, `commands::session`), as an event now would reach no page. A window
/// already there is told at once (an event), and nothing is left pending that a later
/// build would open again.
pub fn show<R: tauri::Runtime>(app: &AppHandle<R>, open: Option<Opening>) {
    // In the tray-only process the window is another process's (`tray_only`).
    #[cfg(all(unix, not(target_os = "macos")))]
    if let Some(opener) = app.try_state::<crate::tray_only::Opener>() {
        opener.open(open);
        return;
    }
    let state = app.try_state::<AppState>();
    let window = match app.get_webview_window(MAIN) {
        Some(w) => {
            if let Some(open) = open {
                let _ = match open {
                    Opening::Conversation(c) => app.emit("open-conversation", c),
                    Opening::Notifications(n) => app.emit("open-notifications", n.account),
                };
            }
            Some(w)
        }
        None => {
            if let Some(state) = &state {
                state.set_pending_open(open);
            }
            build(app)
                .map_err(|e| tracing::warn!(error = %e, "cannot build the window"))
                .ok()
        }
    };
    if let Some(w) = window {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
    if let Some(state) = state {
        state.set_visible(true);
    }
}

/// Hides to the tray, releasing the webview. The window's process started by the tray
/// process ends instead (WebKit's memory with it: `handover`).
///
/// The windowed app started by the user hands over to the tray process instead, where there
/// is one (Linux; `crate::owner`): it starts it and ends, so that what lives in the tray is
/// the small process and not WebKit's.
pub fn hide<R: tauri::Runtime>(app: &AppHandle<R>) {
    save_state(app);
    if app.try_state::<crate::handover::Link>().is_some() {
        // The tray process takes the accounts back from where this one stopped judging.
        if let Some(state) = app.try_state::<AppState>() {
            crate::untold::keep_all(&state);
        }
        app.exit(0);
        return;
    }
    if app.try_state::<HandsOver>().is_some() && app.get_webview_window(MAIN).is_some() {
        match hand_over(app) {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the tray process; staying in the tray")
            }
        }
    }
    if let Some(w) = app.get_webview_window(MAIN) {
        let _ = w.destroy();
    }
    if let Some(state) = app.try_state::<AppState>() {
        state.set_visible(false);
    }
}

/// Kept by the windowed app that hides into the tray process (`crate::owner`).
#[derive(Debug)]
pub struct HandsOver;

/// Starts the tray process and ends this one. The instance (the name a second launch finds)
/// is let go of first, so that the tray process takes it and does not hand its own start back
/// here; the accounts are let go of as this process ends (the tray process waits for them).
fn hand_over<R: tauri::Runtime>(app: &AppHandle<R>) -> std::io::Result<()> {
    let tray = crate::owner::tray_binary()
        .ok_or_else(|| std::io::Error::other("no tray process beside the app"))?;
    tauri_plugin_single_instance::destroy(app);
    let started = std::process::Command::new(&tray)
        .arg(crate::owner::AFTER_WINDOW_FLAG)
        .stdin(std::process::Stdio::null())
        .spawn();
    if let Err(e) = started {
        tracing::warn!(error = %e, "a second launch will start another instance until the next start");
        return Err(e);
    }
    tracing::info!("handed over to the tray process");
    if let Some(state) = app.try_state::<AppState>() {
        // The tray process waits for this one to end before it starts the accounts, so
        // this is kept before it reads it.
        crate::untold::keep_all(&state);
        state.quitting();
    }
    app.exit(0);
    Ok(())
}

pub fn toggle<R: tauri::Runtime>(app: &AppHandle<R>) {
    let visible = app
        .get_webview_window(MAIN)
        .and_then(|w| w.is_visible().ok())
        .unwrap_or(false);
    if visible {
        hide(app);
    } else {
        show(app, None);
    }
}

/// Quits for real (the tray's Quit, or closing the window with close-to-tray off).
pub fn quit<R: tauri::Runtime>(app: &AppHandle<R>) {
    if let Some(state) = app.try_state::<AppState>() {
        state.quitting();
    }
    // Started by the tray process: all of the app quits.
    if let Some(link) = app.try_state::<crate::handover::Link>() {
        link.send(&crate::handover::ToTray::Quit);
    }
    save_state(app);
    app.exit(0);
}
