//! The shell's state, and nothing that acts on it: the settings, the signed-in session
//! (engine and cache), what the window shows, what the notifier has seen, the toasts on
//! screen, and the tray's line as last drawn. The jobs over it (`session`, `bridge`, `tray`,
//! `toasts`, `window`) import this module; it imports none of them.

use crate::notifier::{Notifier, View};
use crate::settings::Settings;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use tidings_client::cache::Cache;
use tidings_client::credentials::Credentials;
use tidings_client::engine::Engine;
use tidings_client::{ClientError, ClientResult};
use tokio::sync::watch;

/// Who is signed in, for the UI.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub server: String,
    pub user: String,
}

/// A signed-in session: its engine, and the tasks carrying the engine's news (`bridge`).
#[derive(Debug)]
pub(crate) struct Session {
    pub info: SessionInfo,
    /// Shared so that a command can await an engine call without holding the session lock.
    pub engine: Arc<Engine>,
    pub bridge: Vec<tauri::async_runtime::JoinHandle<()>>,
}

/// A toast to show, run on the toasts thread.
pub(crate) type ToastJob = Box<dyn FnOnce() + Send>;

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
    /// Runs toast jobs one at a time, in the order asked (started with the first toast).
    toast_queue: OnceLock<Mutex<std::sync::mpsc::Sender<ToastJob>>>,
    quitting: AtomicBool,
    notify_broken: AtomicBool,
    pub tls: Arc<rustls::ClientConfig>,
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
            tray_line: watch::channel(String::new()).0,
        })
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps new settings: refused as [`ClientError::Config`] when not valid,
    /// [`ClientError::Io`] when the file cannot be written.
    pub fn save_settings(&self, s: Settings) -> ClientResult<()> {
        s.validate().map_err(ClientError::Config)?;
        s.save(&self.settings_path).map_err(ClientError::Io)?;
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = s;
        Ok(())
    }

    /// The tray's line as last drawn ("Tidings — 2 unread — live"), and each new one.
    pub fn tray_line(&self) -> watch::Receiver<String> {
        self.tray_line.subscribe()
    }

    pub fn session_info(&self) -> Option<SessionInfo> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|s| s.info.clone())
    }

    /// Runs `f` with the engine, or says there is no session.
    pub fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> ClientResult<T>) -> ClientResult<T> {
        match self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            Some(s) => f(&s.engine),
            None => Err(ClientError::Unauthorized("not signed in".into())),
        }
    }

    /// The engine, for a call that awaits (the session lock is not held meanwhile).
    pub fn engine(&self) -> ClientResult<Arc<Engine>> {
        match self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            Some(s) => Ok(s.engine.clone()),
            None => Err(ClientError::Unauthorized("not signed in".into())),
        }
    }

    pub fn cache(&self) -> ClientResult<Arc<Cache>> {
        self.with_engine(|e| Ok(e.cache().clone()))
    }

    pub fn set_visible(&self, visible: bool) {
        let mut v = self.view.lock().unwrap_or_else(PoisonError::into_inner);
        v.visible = visible;
        if !visible {
            v.focused = false;
        }
    }

    pub fn set_focused(&self, focused: bool) {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .focused = focused;
    }

    pub fn set_pending_open(&self, cid: Option<String>) {
        *self
            .pending_open
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = cid;
    }

    pub fn take_pending_open(&self) -> Option<String> {
        self.pending_open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    pub fn quitting(&self) {
        self.quitting.store(true, Ordering::SeqCst);
    }

    pub fn is_quitting(&self) -> bool {
        self.quitting.load(Ordering::SeqCst)
    }

    /// The conversation on screen (or none): followed live, and its news counts as seen.
    pub fn focus(&self, cid: Option<String>) -> ClientResult<()> {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .conversation = cid.clone();
        self.with_engine(|e| {
            e.focus(cid.as_deref());
            if let Some(cid) = &cid {
                if let Some(c) = e.cache().conversation(cid)? {
                    self.notifier().seen(cid, c.last_seq);
                }
            }
            Ok(())
        })
    }

    /// What has been notified, to tell news from old.
    pub(crate) fn notifier(&self) -> MutexGuard<'_, Notifier> {
        self.notifier.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the window shows now.
    pub(crate) fn view(&self) -> View {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps a new session; returns the one it replaces.
    pub(crate) fn replace_session(&self, s: Session) -> Option<Session> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(s)
    }

    /// Forgets the session; returns it.
    pub(crate) fn take_session(&self) -> Option<Session> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Records the tray's line as drawn.
    pub(crate) fn set_tray_line(&self, line: String) {
        self.tray_line.send_replace(line);
    }

    /// OS notification ids by toast key.
    pub(crate) fn shown(&self) -> MutexGuard<'_, HashMap<String, u32>> {
        self.shown.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notification ids whose click is being waited for (shared with the waiting threads).
    pub(crate) fn waiting(&self) -> Arc<Mutex<HashSet<u32>>> {
        self.waiting.clone()
    }

    /// Runs `job` on the toasts thread, after every job asked before it.
    pub(crate) fn run_toast_job(&self, job: ToastJob) {
        let queue = self.toast_queue.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<ToastJob>();
            std::thread::spawn(move || {
                for job in rx {
                    job();
                }
            });
            Mutex::new(tx)
        });
        let _ = queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job);
    }

    /// Whether showing a notification failed (no notification service): none is tried again.
    pub(crate) fn notify_broken(&self) -> bool {
        self.notify_broken.load(Ordering::Relaxed)
    }

    pub(crate) fn set_notify_broken(&self) {
        self.notify_broken.store(true, Ordering::Relaxed);
    }
}
