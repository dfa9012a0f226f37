//! The shell's state: settings, the signed-in session (engine and cache), what the window
//! shows, and the bridge that carries engine news to the UI, the tray and the notifier.

use crate::notifier::{self, Notifier, Target, Toast, View};
use crate::settings::Settings;
use crate::tray;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tauri::{AppHandle, Emitter, Manager};
use tidings_client::cache::Cache;
use tidings_client::credentials::Credentials;
use tidings_client::engine::{
    Engine, EngineConfig, EngineState, Target as EngineTarget, TidingsServer,
};
use tidings_client::http::Api;
use tidings_client::{ClientError, ClientResult};
use tidings_proto::{Envelope, Event};
use tokio::sync::watch;

/// Who is signed in, for the UI.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub server: String,
    pub user: String,
}

#[derive(Debug)]
struct Session {
    info: SessionInfo,
    engine: Engine,
    bridge: Vec<tauri::async_runtime::JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything the shell keeps. Plain mutexes: every section is a short non-async update.
#[derive(Debug)]
pub struct AppState {
    pub data_dir: PathBuf,
    settings_path: PathBuf,
    pub credentials: Credentials,
    settings: Mutex<Settings>,
    session: Mutex<Option<Session>>,
    view: Mutex<View>,
    notifier: Mutex<Notifier>,
    pending_open: Mutex<Option<String>>,
    /// OS notification ids by toast key, to replace rather than add.
    shown: Mutex<HashMap<String, u32>>,
    /// Notification ids whose click is being waited for.
    waiting: Arc<Mutex<HashSet<u32>>>,
    /// Shows toasts one at a time, in the order asked (started with the first toast).
    toast_queue: OnceLock<Mutex<std::sync::mpsc::Sender<ToastJob>>>,
    quitting: AtomicBool,
    notify_broken: AtomicBool,
    pub tls: Arc<rustls::ClientConfig>,
    /// Draws the tray (started with the first request: it needs the app).
    tray: OnceLock<tray::Refresher>,
    /// The tray's line as last drawn (also where there is no tray: the tests).
    tray_line: watch::Sender<String>,
}

impl AppState {
    pub fn new(config_dir: PathBuf, data_dir: PathBuf) -> ClientResult<AppState> {
        let settings_path = Settings::path(&config_dir);
        Ok(AppState {
            credentials: Credentials::new(&data_dir, "desktop"),
            settings: Mutex::new(Settings::load(&settings_path)),
            settings_path,
            data_dir,
            session: Mutex::new(None),
            view: Mutex::new(View {
                visible: true,
                focused: true,
                conversation: None,
            }),
            notifier: Mutex::new(Notifier::default()),
            pending_open: Mutex::new(None),
            shown: Mutex::new(HashMap::new()),
            waiting: Arc::default(),
            toast_queue: OnceLock::new(),
            quitting: AtomicBool::new(false),
            notify_broken: AtomicBool::new(false),
            tls: tidings_client::tls::client_config(None)?,
            tray: OnceLock::new(),
            tray_line: watch::channel(String::new()).0,
        })
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub fn save_settings(&self, s: Settings) -> Result<(), String> {
        s.quiet_hours.validate()?;
        s.save(&self.settings_path)?;
        *lock(&self.settings) = s;
        Ok(())
    }

    /// The tray's line as last drawn ("Tidings — 2 unread — live"), and each new one.
    pub fn tray_line(&self) -> watch::Receiver<String> {
        self.tray_line.subscribe()
    }

    pub fn session_info(&self) -> Option<SessionInfo> {
        lock(&self.session).as_ref().map(|s| s.info.clone())
    }

    /// Runs `f` with the engine, or says there is no session.
    pub fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> ClientResult<T>) -> ClientResult<T> {
        match lock(&self.session).as_ref() {
            Some(s) => f(&s.engine),
            None => Err(ClientError::Unauthorized("not signed in".into())),
        }
    }

    pub fn cache(&self) -> ClientResult<Arc<Cache>> {
        self.with_engine(|e| Ok(e.cache().clone()))
    }

    pub fn set_visible(&self, visible: bool) {
        let mut v = lock(&self.view);
        v.visible = visible;
        if !visible {
            v.focused = false;
        }
    }

    pub fn set_focused(&self, focused: bool) {
        lock(&self.view).focused = focused;
    }

    pub fn set_pending_open(&self, cid: Option<String>) {
        *lock(&self.pending_open) = cid;
    }

    pub fn take_pending_open(&self) -> Option<String> {
        lock(&self.pending_open).take()
    }

    pub fn quitting(&self) {
        self.quitting.store(true, Ordering::SeqCst);
    }

    pub fn is_quitting(&self) -> bool {
        self.quitting.load(Ordering::SeqCst)
    }

    /// The conversation on screen (or none): followed live, and its news counts as seen.
    pub fn focus(&self, cid: Option<String>) -> ClientResult<()> {
        lock(&self.view).conversation = cid.clone();
        self.with_engine(|e| {
            e.focus(cid.as_deref());
            if let Some(cid) = &cid {
                if let Some(c) = e.cache().conversation(cid)? {
                    lock(&self.notifier).seen(cid, c.last_seq);
                }
            }
            Ok(())
        })
    }

    fn cache_path(&self, server: &str, user: &str) -> PathBuf {
        let host = server.split("://").nth(1).unwrap_or(server);
        let safe: String = format!("{user}@{host}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.data_dir.join("cache").join(format!("{safe}.db"))
    }

    /// Signs in over REST (or registers), keeps the session, and starts the engine.
    pub async fn sign_in<R: tauri::Runtime>(
        &self,
        app: &AppHandle<R>,
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
        let api = Api::new(&server, self.tls.clone())?;
        let t = if register {
            api.register(username, password).await?
        } else {
            api.login(username, password).await?
        };
        self.credentials
            .save(&server, &t.user.id, &t.refresh_token)?;
        let mut s = self.settings();
        s.server = Some(server.clone());
        let _ = self.save_settings(s);
        self.start(
            app,
            Some((t.access_token, Duration::from_secs(t.expires_in))),
        )
    }

    /// Starts the engine for the saved account (at launch, after sign-in).
    pub fn start<R: tauri::Runtime>(
        &self,
        app: &AppHandle<R>,
        access: Option<(String, Duration)>,
    ) -> ClientResult<SessionInfo> {
        let account = self
            .credentials
            .current()
            .ok_or_else(|| ClientError::Unauthorized("not signed in".into()))?;
        let cache = Arc::new(Cache::open(
            &self.cache_path(&account.server, &account.user),
        )?);
        let target = EngineTarget::Tidings(TidingsServer {
            http: account.server.clone(),
            ws: TidingsServer::ws_url(&account.server),
            user: account.user.clone(),
            refresh: self.credentials.refresh_store(&account),
            access,
        });
        // A cache that never synced (a new sign-in) fills with history first: none of it is
        // news, so nothing pops up until the engine has been live once.
        let fresh = cache.conversations()?.is_empty();
        let engine = Engine::start(EngineConfig::new(target, self.tls.clone()), cache.clone())?;
        *lock(&self.notifier) = Notifier::default();
        lock(&self.notifier).baseline(&cache)?;
        let info = SessionInfo {
            server: account.server,
            user: account.user,
        };
        let bridge = bridge(app, &engine, &info.user, fresh);
        let old = lock(&self.session).replace(Session {
            info: info.clone(),
            engine,
            bridge,
        });
        if let Some(old) = old {
            stop(old);
        }
        // The bridge may have drawn the tray before the session was here to read (and the
        // engine may already be live, with no change left to announce): draw it now.
        refresh_tray(app);
        Ok(info)
    }

    /// Signs out: stops the engine, forgets the session here and revokes it on the server.
    pub async fn sign_out(&self) -> ClientResult<()> {
        let session = lock(&self.session).take();
        let server = session.as_ref().map(|s| s.info.server.clone());
        if let Some(s) = session {
            stop(s);
        }
        if let (Some(token), Some(server)) = (self.credentials.forget()?, server) {
            if let Ok(api) = Api::new(&server, self.tls.clone()) {
                // Best effort: signing out here must work offline too.
                let _ = api.logout(&token).await;
            }
        }
        *lock(&self.notifier) = Notifier::default();
        Ok(())
    }
}

fn stop(s: Session) {
    for task in s.bridge {
        task.abort();
    }
    tauri::async_runtime::spawn(s.engine.shutdown());
}

/// Flips do-not-disturb (tray menu), saves it, and tells the UI.
pub fn toggle_dnd<R: tauri::Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let mut s = state.settings();
    s.do_not_disturb = !s.do_not_disturb;
    if let Err(e) = state.save_settings(s.clone()) {
        tracing::warn!(error = %e, "cannot save settings");
    }
    let _ = app.emit("settings", s);
    refresh_tray(app);
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
/// (drawn on its own task, see [`tray::Refresher`]); returns at once, from any thread.
pub fn refresh_tray<R: tauri::Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    state
        .tray
        .get_or_init(|| {
            let app = app.clone();
            tray::Refresher::start(move || draw_tray(&app))
        })
        .request();
}

/// Reads what the tray shows and sets it.
fn draw_tray<R: tauri::Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let settings = state.settings();
    let (unread, engine_state) = state
        .with_engine(|e| {
            let unread: i64 = e
                .cache()
                .conversations()?
                .iter()
                .filter(|c| !c.muted)
                .map(|c| c.unread_count)
                .sum();
            Ok((unread, e.state().borrow().clone()))
        })
        .unwrap_or((
            0,
            EngineState::SignedOut {
                reason: "not signed in".into(),
            },
        ));
    let look = match (&engine_state, settings.do_not_disturb, unread) {
        (_, true, _) => tray::Look::DoNotDisturb,
        (EngineState::Live | EngineState::CatchingUp { .. }, _, n) if n > 0 => tray::Look::Unread,
        (EngineState::Live | EngineState::CatchingUp { .. } | EngineState::Connecting, _, _) => {
            tray::Look::Plain
        }
        _ => tray::Look::Offline,
    };
    let line = tray::line(unread, &state_word(&engine_state));
    state.tray_line.send_replace(line.clone());
    tray::update(app, line, look, settings.do_not_disturb);
}

/// Minutes since local midnight.
fn local_minutes() -> u32 {
    use chrono::Timelike;
    let now = chrono::Local::now();
    now.hour() * 60 + now.minute()
}

/// Carries engine news to the UI (events), the tray and the notifier.
fn bridge<R: tauri::Runtime>(
    app: &AppHandle<R>,
    engine: &Engine,
    me: &str,
    fresh: bool,
) -> Vec<tauri::async_runtime::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let (app1, mut states) = (app.clone(), engine.state());
    tasks.push(tauri::async_runtime::spawn(async move {
        loop {
            let s = states.borrow_and_update().clone();
            let _ = app1.emit("engine-state", &s);
            refresh_tray(&app1);
            if states.changed().await.is_err() {
                return;
            }
        }
    }));
    let (app2, mut changed, me2) = (app.clone(), engine.changed(), me.to_owned());
    let cache = engine.cache().clone();
    let engine_state = engine.state();
    tasks.push(tauri::async_runtime::spawn(async move {
        let mut seen = *changed.borrow();
        let mut filling = fresh;
        let mut throttled: Option<tokio::time::Instant> = None;
        loop {
            let wake = async {
                match throttled {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = wake => {}
            }
            throttled = None;
            let latest = *changed.borrow_and_update();
            let _ = app2.emit("changed", latest);
            let changes = cache.changes_since(seen, 10_000).unwrap_or_default();
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
                if *engine_state.borrow() == EngineState::Live {
                    filling = false;
                }
                if let Some(state) = app2.try_state::<AppState>() {
                    let _ = lock(&state.notifier).baseline(&cache);
                }
                refresh_tray(&app2);
                continue;
            }
            if let Some(held) = notify(&app2, &cache, &me2, &convs, notes) {
                if held {
                    throttled = Some(tokio::time::Instant::now() + notifier::THROTTLE);
                }
            }
            refresh_tray(&app2);
        }
    }));
    let (app3, mut events) = (app.clone(), engine.events());
    tasks.push(tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(env) => forward_event(&app3, &env),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    }));
    tasks
}

/// Live events the UI shows but the cache does not keep (typing), or wants at once.
fn forward_event<R: tauri::Runtime>(app: &AppHandle<R>, env: &Envelope) {
    match &env.event {
        Event::Typing(t) => {
            let _ = app.emit("typing", t);
        }
        Event::Presence(p) => {
            let _ = app.emit("presence", p);
        }
        _ => {}
    }
}

/// Runs the notifier over what changed; shows its toasts. `Some(held)`: ran.
fn notify<R: tauri::Runtime>(
    app: &AppHandle<R>,
    cache: &Cache,
    me: &str,
    convs: &[String],
    notes: bool,
) -> Option<bool> {
    let state = app.try_state::<AppState>()?;
    let settings = state.settings();
    let view = lock(&state.view).clone();
    let quiet = notifier::quiet(&settings, local_minutes());
    let moment = notifier::Moment {
        view: &view,
        settings: &settings,
        quiet,
        now: Instant::now(),
    };
    let result = lock(&state.notifier).on_changes(cache, me, convs, notes, &moment);
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

/// A toast to show, run on the toasts thread.
type ToastJob = Box<dyn FnOnce() + Send>;

/// Shows (or replaces) an OS notification, then waits, on a thread of its own, for a click.
///
/// Toasts are shown one at a time, in the order asked, on one thread: a flood replaces one
/// notification several times, and with a thread per toast two `Notify` calls could reach
/// the notification service in the opposite order, leaving an older text on screen for good
/// (the e2e flood check saw "flood 49" never shown, 2 runs in 10 on a loaded machine). The id
/// to replace is read there too, once the previous toast of the key has its id.
fn show_toast<R: tauri::Runtime>(app: &AppHandle<R>, state: &AppState, t: Toast) {
    if state.notify_broken.load(Ordering::Relaxed) {
        return;
    }
    let (app, waiting) = (app.clone(), state.waiting.clone());
    let job: ToastJob = Box::new(move || show_now(&app, &waiting, t));
    let queue = state.toast_queue.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<ToastJob>();
        std::thread::spawn(move || {
            for job in rx {
                job();
            }
        });
        Mutex::new(tx)
    });
    let _ = lock(queue).send(job);
}

/// On the toasts thread: one `Notify` call, then a thread that waits for its click.
fn show_now<R: tauri::Runtime>(app: &AppHandle<R>, waiting: &Arc<Mutex<HashSet<u32>>>, t: Toast) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    if state.notify_broken.load(Ordering::Relaxed) {
        return;
    }
    let previous = lock(&state.shown).get(&t.key).copied();
    let mut n = notify_rust::Notification::new();
    n.appname("Tidings")
        .summary(&t.summary)
        .body(&t.body)
        .icon("mail-message-new")
        .action("default", "Open");
    if let Some(id) = previous {
        n.id(id);
    }
    let handle = match n.show() {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "cannot show a desktop notification (no notification service?)");
            state.notify_broken.store(true, Ordering::Relaxed);
            return;
        }
    };
    let id = handle.id();
    lock(&state.shown).insert(t.key.clone(), id);
    if !lock(waiting).insert(id) {
        return; // A thread already waits for this notification's click.
    }
    let (app, waiting, key, target) = (app.clone(), waiting.clone(), t.key, t.target);
    std::thread::spawn(move || {
        let app2 = app.clone();
        handle.wait_for_action(move |action| {
            if action == "default" {
                open_target(&app2, &target);
            }
        });
        lock(&waiting).remove(&id);
        if let Some(s) = app.try_state::<AppState>() {
            let mut shown = lock(&s.shown);
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
        Target::Conversation(cid) => crate::window::show(&app, Some(cid)),
        Target::Notification {
            id,
            conversation,
            url,
        } => {
            if let Some(s) = app.try_state::<AppState>() {
                let _ = s.with_engine(|e| e.mark_notification_read(&id));
            }
            match (conversation, url) {
                (Some(cid), _) => crate::window::show(&app, Some(cid)),
                (None, Some(url)) => {
                    use tauri_plugin_opener::OpenerExt;
                    let _ = app.opener().open_url(url, None::<&str>);
                }
                (None, None) => {
                    crate::window::show(&app, None);
                    let _ = app.emit("open-notifications", ());
                }
            }
        }
    });
}
