//! The tray-only mode (`tidings-app --tray-only`, issue 19 goal 6): the app's engines, caches,
//! notifier and desktop notifications, and a tray, with no window system at all: no GTK, no
//! WebKit. It is the part of the app that lives in the tray for hours; the window is WebKit's
//! and costs ~150 MB more even after it is closed (Tauri keeps the WebKit context and its
//! network process for the app's lifetime), so it lives in a process of its own that can end.
//!
//! *How it runs without a window system.* The shell's jobs (`session`, `bridge`, `toasts`,
//! `tray::refresh`) are written over any [`tauri::Runtime`]. Here they run over Tauri's
//! windowless runtime ([`tauri::test::MockRuntime`]), so the very code the windowed app runs
//! drives the engines, the notifier and the toasts: nothing is duplicated. That runtime's main
//! loop wakes once a second; nothing here runs on it (the tray and the notifications are
//! D-Bus tasks on the async runtime, the engines are tokio tasks).
//!
//! *The tray.* On Linux a StatusNotifierItem with its dbusmenu, served over D-Bus by `ksni`
//! (the protocol Tauri's tray speaks too, through libappindicator and GTK): the same menu
//! (Show/Hide, Do not disturb, Quit), picture and line as [`crate::tray`], which draws into
//! [`Sni`] when there is no Tauri tray. Windows and macOS: not built yet (see
//! docs/desktop-app.md, "The tray without WebKit": `tray-icon` on a `tao` event loop, which
//! needs neither a webview nor GTK there); `--tray-only` there runs the app hidden.
//!
//! *The window* is another process, this binary with `--window` ([`crate::handover`]): Show
//! (the tray, a notification's click) starts it after this process has stopped its engines,
//! and this process runs them again when it ends (Hide ends it). While it runs, the tray
//! shows what it says and the tray's menu is carried to it.

use crate::handover::{decode, encode, ToTray, ToWindow, OPEN_FLAG, WINDOW_FLAG};
use crate::state::{AppState, Opening};
use crate::tray::{self, Look};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tauri::{AppHandle, Manager};
use tokio::sync::{mpsc, watch};

/// The runtime the tray-only process runs the shell's jobs over.
pub type Headless = tauri::test::MockRuntime;

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub line: String,
    pub look: Look,
    pub dnd: bool,
}

/// A click in the tray's menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Toggle,
    DoNotDisturb,
    Quit,
}

/// The tray of the tray-only process: [`crate::tray`]'s drawing lands here.
#[derive(Debug)]
pub struct Sni {
    shown: watch::Sender<Shown>,
    /// The window's process runs the accounts: the tray shows what it says.
    handed_over: AtomicBool,
}

impl Sni {
    /// What this process's engines have for the tray (unless the window's process runs them).
    pub fn show(&self, line: String, look: Look, dnd: bool) {
        if !self.handed_over.load(Ordering::SeqCst) {
            self.set(line, look, dnd);
        }
    }

    /// Sets what the tray shows (only what changed reaches D-Bus).
    fn set(&self, line: String, look: Look, dnd: bool) {
        let new = Shown { line, look, dnd };
        self.shown.send_if_modified(|s| {
            let changed = *s != new;
            *s = new;
            changed
        });
    }
}

/// The item served over D-Bus.
#[derive(Debug)]
struct Item {
    shown: Shown,
    icons: Arc<Icons>,
    actions: mpsc::UnboundedSender<Action>,
}

/// The four pictures, decoded once, as the StatusNotifierItem wants them (ARGB32, network
/// byte order).
#[derive(Debug)]
struct Icons {
    plain: ksni::Icon,
    unread: ksni::Icon,
    dnd: ksni::Icon,
    offline: ksni::Icon,
}

impl Icons {
    fn load() -> tauri::Result<Icons> {
        let icon = |look| -> tauri::Result<ksni::Icon> {
            let img = tray::image(look)?;
            let mut data = img.rgba().to_vec();
            for px in data.chunks_exact_mut(4) {
                px.rotate_right(1); // RGBA to ARGB
            }
            Ok(ksni::Icon {
                width: i32::try_from(img.width()).unwrap_or(0),
                height: i32::try_from(img.height()).unwrap_or(0),
                data,
            })
        };
        Ok(Icons {
            plain: icon(Look::Plain)?,
            unread: icon(Look::Unread)?,
            dnd: icon(Look::DoNotDisturb)?,
            offline: icon(Look::Offline)?,
        })
    }

    fn of(&self, look: Look) -> &ksni::Icon {
        match look {
            Look::Plain => &self.plain,
            Look::Unread => &self.unread,
            Look::DoNotDisturb => &self.dnd,
            Look::Offline => &self.offline,
        }
    }
}

impl ksni::Tray for Item {
    // As the Tauri tray: a left click opens the menu (most Linux panels send none anyway).
    const MENU_ON_ACTIVATE: bool = true;

    fn id(&self) -> String {
        "tidings".into()
    }

    fn title(&self) -> String {
        self.shown.line.clone()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: self.shown.line.clone(),
            ..Default::default()
        }
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        vec![self.icons.of(self.shown.look).clone()]
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        use ksni::menu::{CheckmarkItem, StandardItem};
        let act = |a: Action| -> Box<dyn Fn(&mut Item) + Send> {
            Box::new(move |item: &mut Item| {
                let _ = item.actions.send(a);
            })
        };
        vec![
            StandardItem {
                label: "Show/Hide".into(),
                activate: act(Action::Toggle),
                ..Default::default()
            }
            .into(),
            CheckmarkItem {
                label: "Do not disturb".into(),
                checked: self.shown.dnd,
                activate: act(Action::DoNotDisturb),
                ..Default::default()
            }
            .into(),
            ksni::MenuItem::Separator,
            StandardItem {
                label: "Quit Tidings".into(),
                activate: act(Action::Quit),
                ..Default::default()
            }
            .into(),
        ]
    }
}

/// Serves the tray item and carries its clicks to `on_action`; the returned [`Sni`] is
/// what [`crate::tray`] draws into.
fn start_tray(on_action: impl Fn(Action) + Send + 'static) -> tauri::Result<Sni> {
    use ksni::TrayMethods;
    let icons = Arc::new(Icons::load()?);
    let first = Shown {
        line: tray::line(0, "connecting"),
        look: Look::Plain,
        dnd: false,
    };
    let (shown, mut changes) = watch::channel(first.clone());
    let (actions, mut clicks) = mpsc::unbounded_channel();
    let item = Item {
        shown: first,
        icons,
        actions,
    };
    tauri::async_runtime::spawn(async move {
        let handle = match item.spawn().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "no tray (no StatusNotifierItem host on the session bus)");
                return;
            }
        };
        while changes.changed().await.is_ok() {
            let now = changes.borrow_and_update().clone();
            let _ = handle.update(|item| item.shown = now).await;
        }
    });
    tauri::async_runtime::spawn(async move {
        while let Some(a) = clicks.recv().await {
            on_action(a);
        }
    });
    Ok(Sni {
        shown,
        handed_over: AtomicBool::new(false),
    })
}

/// What a click in the menu does: the window's process does it while it runs.
fn act(app: &AppHandle<Headless>, a: Action) {
    let window = app.state::<WindowProcess>();
    match a {
        Action::Toggle => {
            if !window.send(ToWindow::Hide) {
                open(app, None);
            }
        }
        Action::DoNotDisturb => {
            if !window.send(ToWindow::DoNotDisturb) {
                tray::toggle_dnd(app);
            }
        }
        Action::Quit => {
            if let Some(state) = app.try_state::<AppState>() {
                state.quitting();
            }
            // Ends with the window's process (see `open`), or now.
            if !window.send(ToWindow::Quit) {
                quit(app);
            }
        }
    }
}

/// Quits, as the windowed app does: the process ends with its engines (the cache's writes
/// are each committed as they happen; the outbox is on disk). The windowless runtime has no
/// exit request of its own to answer (`AppHandle::exit` is not implemented there).
fn quit(app: &AppHandle<Headless>) {
    if let Some(state) = app.try_state::<AppState>() {
        state.quitting();
    }
    std::process::exit(0);
}

/// The tray-only process: runs until Quit.
pub fn run(launch: crate::telemetry::Launch) {
    let mut ctx = tauri::test::mock_context::<Headless, _>(tauri::test::noop_assets());
    // The windowed app's identity: the same folders (config, data, caches) and the same
    // instance name as it.
    let (identifier, product_name) = identity();
    ctx.config_mut().identifier = identifier;
    ctx.config_mut().product_name = product_name;
    let app = tauri::test::mock_builder()
        // A second launch (the app's menu entry, the tray's binary again) finds this process
        // and hands over to it: the app's window is shown, a start in the tray does nothing.
        // The windowed app speaks the same to it, as the same plugin.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            if !crate::owner::wants_tray(&argv) {
                open(app, None);
            }
        }))
        .manage(launch)
        .setup(|app| {
            let handle = app.handle().clone();
            let (config_dir, data_dir) = crate::dirs(&handle)?;
            // Waits while the windowed app that started this one ends (`crate::owner`).
            app.manage(crate::owner::take(&data_dir)?);
            // Pasted files and opened copies of the last run are done with; not those of the
            // windowed app that just handed over, which a viewer may still have open.
            if !std::env::args().any(|a| a == crate::owner::AFTER_WINDOW_FLAG) {
                crate::scratch::sweep(&data_dir);
            }
            let state = AppState::new(config_dir, data_dir).map_err(|e| e.to_string())?;
            // No window: every conversation's news is news.
            state.set_visible(false);
            app.manage(state);
            app.manage(crate::toasts::bus::Bus::default());
            app.manage(WindowProcess::default());
            let opening = handle.clone();
            app.manage(Opener(Box::new(move |o| open(&opening, o))));
            let acting = handle.clone();
            app.manage(start_tray(move |a| act(&acting, a))?);
            crate::start_session(&handle);
            tray::refresh(&handle);
            Ok(())
        })
        .build(ctx)
        .expect("the tray-only app could not start");
    app.run(|app, event| {
        if let tauri::RunEvent::ExitRequested { api, code, .. } = event {
            let quitting = app.try_state::<AppState>().is_some_and(|s| s.is_quitting());
            if code.is_none() && !quitting {
                api.prevent_exit();
            }
        }
    });
}

/// The windowed app's identifier and product name (tauri.conf.json): not its whole context,
/// which is the webview runtime's and would link WebKit into this process.
fn identity() -> (String, Option<String>) {
    let conf: serde_json::Value =
        serde_json::from_str(include_str!("../../tauri.conf.json")).unwrap_or_default();
    let text = |k: &str| conf.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    (text("identifier").unwrap_or_default(), text("productName"))
}

/// Where [`crate::window::show`] goes in the tray-only process: to [`open`].
pub struct Opener(Box<dyn Fn(Option<Opening>) + Send + Sync>);

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opener")
    }
}

impl Opener {
    pub fn open(&self, open: Option<Opening>) {
        (self.0)(open)
    }
}

/// The window's process while it runs: where the messages for it go.
#[derive(Debug, Default)]
struct WindowProcess(Mutex<Option<mpsc::UnboundedSender<ToWindow>>>);

impl WindowProcess {
    /// Sends `m` to the window's process; `false` when none runs.
    fn send(&self, m: ToWindow) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|tx| tx.send(m).is_ok())
    }
}

/// Shows the window: tells the window's process, or starts one (handing it the accounts).
fn open(app: &AppHandle<Headless>, open: Option<Opening>) {
    let Some(w) = app.try_state::<WindowProcess>() else {
        return;
    };
    let mut slot = w.0.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(tx) = slot.as_ref() {
        if tx.send(ToWindow::Show { open: open.clone() }).is_ok() {
            return;
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    *slot = Some(tx);
    drop(slot);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(sni) = app.try_state::<Sni>() {
            sni.handed_over.store(true, Ordering::SeqCst);
        }
        let pausing = std::time::Instant::now();
        pause(&app).await;
        tracing::info!(
            ms = pausing.elapsed().as_millis(),
            "engines stopped for the window's process"
        );
        let running = app.clone();
        let ran =
            tauri::async_runtime::spawn_blocking(move || run_window(&running, open, rx)).await;
        if let Ok(Err(e)) = ran {
            tracing::warn!(error = %e, "cannot run the window's process");
        }
        // It ended (or never started): the accounts come back here.
        if let Some(w) = app.try_state::<WindowProcess>() {
            *w.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        if app.try_state::<AppState>().is_some_and(|s| s.is_quitting()) {
            std::process::exit(0);
        }
        if let Some(sni) = app.try_state::<Sni>() {
            sni.handed_over.store(false, Ordering::SeqCst);
        }
        // The window's process may have changed the settings (privacy, close to tray, the
        // account shown): the sessions start on what it saved.
        if let Some(state) = app.try_state::<AppState>() {
            state.reload_settings();
        }
        crate::start_session(&app);
        tray::refresh(&app);
    });
}

/// Stops every engine here and waits for each (its cache is then the window process's).
async fn pause(app: &AppHandle<Headless>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    // The window's process starts judging news where this one stopped.
    crate::untold::keep_all(&state);
    for info in state.session_infos() {
        let Some(s) = state.take_session(&info.id) else {
            continue;
        };
        // Nothing else holds a session here (no window, no commands): it stops now.
        if let Some(shutdown) = crate::session::stopping(s) {
            shutdown.await;
        }
    }
}

/// Runs the window's process until it ends (on a blocking thread: plain pipes, the same on
/// every system): carries the tray's messages to it and its tray line back.
fn run_window(
    app: &AppHandle<Headless>,
    open: Option<Opening>,
    mut to_window: mpsc::UnboundedReceiver<ToWindow>,
) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let mut cmd = std::process::Command::new(crate::owner::sibling(crate::owner::APP_BINARY)?);
    cmd.arg(WINDOW_FLAG);
    if let Some(open) = &open {
        cmd.arg(OPEN_FLAG)
            .arg(serde_json::to_string(open).unwrap_or_default());
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other("the window's process has no pipes"));
    };
    // Ends when the window's process is gone (a write fails) or the tray forgets it.
    std::thread::spawn(move || {
        while let Some(m) = to_window.blocking_recv() {
            if stdin.write_all(encode(&m).as_bytes()).is_err() {
                return;
            }
        }
    });
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        match decode::<ToTray>(&line) {
            Some(ToTray::Tray { line, look, dnd }) => {
                if let Some(sni) = app.try_state::<Sni>() {
                    sni.set(line, look, dnd);
                }
            }
            Some(ToTray::Quit) => {
                if let Some(state) = app.try_state::<AppState>() {
                    state.quitting();
                }
            }
            // Not ours (a library writing to stdout): passed on.
            None => println!("{line}"),
        }
    }
    let status = child.wait()?;
    tracing::info!(%status, "the window's process ended");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tray_process_has_the_windowed_apps_identity() {
        let ctx = crate::context();
        let (identifier, product_name) = super::identity();
        assert_eq!(identifier, ctx.config().identifier);
        assert!(!identifier.is_empty());
        assert_eq!(product_name, ctx.config().product_name);
    }
}
