//! The shell's state, and nothing that acts on it: the app's settings, the signed-in
//! sessions (one per account: engine and cache, what its notifier has seen, its settings),
//! which account the window shows, what the window shows, the toasts on screen, and the
//! tray's line as last drawn. The jobs over it (`session`, `bridge`, `tray`, `toasts`,
//! `window`) import this module; it imports none of them.
//!
//! *Accounts.* A command names its account (`account`, the id of [`SessionInfo`]); one that
//! does not acts on the active account, the one the window shows (the UI always names it).

use crate::notifier::{Notifier, View};
use crate::settings::{AccountSettings, Settings};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use tidings_client::cache::Cache;
use tidings_client::credentials::Credentials;
use tidings_client::engine::Engine;
use tidings_client::{ClientError, ClientResult};
use tokio::sync::watch;

/// A signed-in account, for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The account's id: `user@host[:port]` (also its cache's name).
    pub id: String,
    pub server: String,
    pub user: String,
    /// A server of another kind (a connection profile: `user` is its name, `server` its
    /// URL); `None` for a Tidings account.
    pub kind: Option<crate::profiles::form::ServerKind>,
}

/// A conversation to open, in an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct OpenTarget {
    pub account: String,
    pub conversation: String,
}

/// The notification list to open (the account's, or the active account's when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct OpenNotifications {
    pub account: Option<String>,
}

/// What a click on a notification asks the window to show once its page has loaded (a
/// window built again from the tray starts empty and asks for it: `commands::session`).
/// Serialized for the window's process (`handover`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Opening {
    Conversation(OpenTarget),
    Notifications(OpenNotifications),
}

/// A signed-in account's session: its engine, the tasks carrying the engine's news
/// (`bridge`), what its notifier has told, and its settings.
#[derive(Debug)]
pub(crate) struct Session {
    pub info: SessionInfo,
    /// Shared so that a command can await an engine call without holding any lock.
    pub engine: Arc<Engine>,
    pub bridge: Mutex<Vec<tauri::async_runtime::JoinHandle<()>>>,
    notifier: Mutex<Notifier>,
    settings: Mutex<AccountSettings>,
    settings_path: PathBuf,
}

impl Session {
    pub fn new(
        info: SessionInfo,
        engine: Engine,
        settings_path: PathBuf,
        app_path: &std::path::Path,
    ) -> Session {
        Session {
            info,
            engine: Arc::new(engine),
            bridge: Mutex::default(),
            notifier: Mutex::default(),
            settings: Mutex::new(AccountSettings::load_or_migrate(&settings_path, app_path)),
            settings_path,
        }
    }

    /// Stops the tasks that carry the engine's news to the app (and its notifier).
    pub fn stop_bridge(&self) {
        for task in self
            .bridge
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }

    /// What has been notified, to tell news from old.
    pub fn notifier(&self) -> MutexGuard<'_, Notifier> {
        self.notifier.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn settings(&self) -> AccountSettings {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps the account's settings ([`ClientError::Io`] when the file cannot be written).
    pub fn save_settings(&self, s: AccountSettings) -> ClientResult<()> {
        s.save(&self.settings_path).map_err(ClientError::Io)?;
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = s;
        Ok(())
    }
}

/// A toast to show, run on the toasts thread.
#[cfg_attr(all(unix, not(target_os = "macos")), allow(dead_code))]
pub(crate) type ToastJob = Box<dyn FnOnce() + Send>;

/// Everything the shell keeps. Plain mutexes: every section is a short non-async update.
#[derive(Debug)]
pub struct AppState {
    pub data_dir: PathBuf,
    pub config_dir: PathBuf,
    settings_path: PathBuf,
    pub credentials: Credentials,
    settings: Mutex<Settings>,
    /// In the order the accounts were added (the switcher's order).
    sessions: Mutex<Vec<Arc<Session>>>,
    /// The account the window shows.
    active: Mutex<Option<String>>,
    view: Mutex<View>,
    pending_open: Mutex<Option<Opening>>,
    /// OS notification ids by toast key, to replace rather than add.
    shown: Mutex<HashMap<String, u32>>,
    /// Notification ids whose click is being waited for (where a thread per notification
    /// waits: not over D-Bus, where one listener hears them all).
    #[cfg_attr(all(unix, not(target_os = "macos")), allow(dead_code))]
    waiting: Arc<Mutex<HashSet<u32>>>,
    /// Runs toast jobs one at a time, in the order asked (started with the first toast).
    #[cfg_attr(all(unix, not(target_os = "macos")), allow(dead_code))]
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
        let settings = Settings::load(&settings_path);
        Ok(AppState {
            credentials: Credentials::new(&data_dir, "desktop"),
            active: Mutex::new(settings.last_account.clone()),
            settings: Mutex::new(settings),
            settings_path,
            data_dir,
            config_dir,
            sessions: Mutex::default(),
            view: Mutex::new(View {
                visible: true,
                focused: true,
                conversation: None,
            }),
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

    /// The app's settings (the per-account fields are each session's: [`Self::settings_of`]).
    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The settings as one account sees them: the app's with the account's own part (the
    /// defaults for it when the account is not signed in).
    pub fn settings_of(&self, account: Option<&str>) -> Settings {
        let mine = self
            .session(account)
            .map(|s| s.settings())
            .unwrap_or_default();
        self.settings().with_account(&mine)
    }

    /// Keeps new settings: the account's part with the account (when one is signed in), the
    /// rest for the app. Refused as [`ClientError::Config`] when not valid,
    /// [`ClientError::Io`] when a file cannot be written.
    pub fn save_settings(&self, account: Option<&str>, mut s: Settings) -> ClientResult<()> {
        s.validate().map_err(ClientError::Config)?;
        // Which account was shown last is the app's to know, not the page's to set.
        s.last_account = self.settings().last_account;
        if let Ok(session) = self.session(account) {
            session.save_settings(s.account_part())?;
        }
        self.save_app_settings(s)
    }

    /// Keeps the app's part of `s` only.
    pub fn save_app_settings(&self, s: Settings) -> ClientResult<()> {
        s.save(&self.settings_path).map_err(ClientError::Io)?;
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = s;
        Ok(())
    }

    /// Reads the app's settings again from their file, where another process of the app (the
    /// window's, started by the tray process) may have changed them. (Each account's part is
    /// read as its session starts.)
    pub fn reload_settings(&self) {
        let s = Settings::load(&self.settings_path);
        *self.active.lock().unwrap_or_else(PoisonError::into_inner) = s.last_account.clone();
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = s;
    }

    /// The app's settings file (the per-account part of it moves to the first account).
    pub(crate) fn settings_path(&self) -> &std::path::Path {
        &self.settings_path
    }

    /// The tray's line as last drawn ("Tidings — 2 unread — live"), and each new one.
    pub fn tray_line(&self) -> watch::Receiver<String> {
        self.tray_line.subscribe()
    }

    /// Every signed-in account, in the switcher's order.
    pub fn session_infos(&self) -> Vec<SessionInfo> {
        self.sessions().iter().map(|s| s.info.clone()).collect()
    }

    /// The active account, if any is signed in.
    pub fn session_info(&self) -> Option<SessionInfo> {
        self.session(None).ok().map(|s| s.info.clone())
    }

    pub(crate) fn sessions(&self) -> Vec<Arc<Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The session of `account`, or of the active account (else the first) when `None`.
    pub(crate) fn session(&self, account: Option<&str>) -> ClientResult<Arc<Session>> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let found = match account {
            Some(id) => sessions.iter().find(|s| s.info.id == id),
            None => {
                let active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
                sessions
                    .iter()
                    .find(|s| Some(&s.info.id) == active.as_ref())
                    .or_else(|| sessions.first())
            }
        };
        match (found, account) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(id)) => Err(ClientError::Unauthorized(format!("not signed in to {id}"))),
            (None, None) => Err(ClientError::Unauthorized("not signed in".into())),
        }
    }

    /// The account the window shows.
    pub fn active_account(&self) -> Option<String> {
        self.session(None).ok().map(|s| s.info.id.clone())
    }

    /// The window shows `account` now (a signed-in one); kept for the next start.
    pub fn set_active(&self, account: &str) -> ClientResult<()> {
        self.session(Some(account))?;
        *self.active.lock().unwrap_or_else(PoisonError::into_inner) = Some(account.to_owned());
        let s = self.settings();
        if s.last_account.as_deref() != Some(account) {
            let last_account = Some(account.to_owned());
            if let Err(e) = self.save_app_settings(Settings { last_account, ..s }) {
                tracing::warn!(error = %e, "cannot keep the account shown");
            }
        }
        Ok(())
    }

    /// Runs `f` with the active account's engine, or says there is no session.
    pub fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> ClientResult<T>) -> ClientResult<T> {
        f(&self.session(None)?.engine)
    }

    /// Runs `f` with the engine of `account` (the active one when `None`).
    pub fn with_engine_of<T>(
        &self,
        account: Option<&str>,
        f: impl FnOnce(&Engine) -> ClientResult<T>,
    ) -> ClientResult<T> {
        f(&self.session(account)?.engine)
    }

    /// The engine of `account` (the active one when `None`), for a call that awaits.
    pub fn engine_of(&self, account: Option<&str>) -> ClientResult<Arc<Engine>> {
        Ok(self.session(account)?.engine.clone())
    }

    /// The active account's engine.
    pub fn engine(&self) -> ClientResult<Arc<Engine>> {
        self.engine_of(None)
    }

    /// The cache of `account` (the active one when `None`).
    pub fn cache_of(&self, account: Option<&str>) -> ClientResult<Arc<Cache>> {
        Ok(self.session(account)?.engine.cache().clone())
    }

    /// The active account's cache.
    pub fn cache(&self) -> ClientResult<Arc<Cache>> {
        self.cache_of(None)
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

    pub fn set_pending_open(&self, open: Option<Opening>) {
        *self
            .pending_open
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = open;
    }

    pub fn take_pending_open(&self) -> Option<Opening> {
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

    /// The account and conversation on screen (or none): the account becomes the active one;
    /// its conversation is followed live, and its news counts as seen. The other accounts
    /// follow none.
    pub fn focus(&self, account: Option<&str>, cid: Option<String>) -> ClientResult<()> {
        let session = self.session(account)?;
        self.set_active(&session.info.id)?;
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .conversation = cid.clone();
        for other in self.sessions() {
            if other.info.id != session.info.id {
                other.engine.focus(None);
            }
        }
        let e = &session.engine;
        e.focus(cid.as_deref());
        if let Some(cid) = &cid {
            if let Some(c) = e.cache().conversation(cid)? {
                session.notifier().seen(cid, c.last_seq);
            }
        }
        Ok(())
    }

    /// What the window shows now, as `account` sees it: another account's conversation on
    /// screen is none of its own.
    pub(crate) fn view_of(&self, account: &str) -> View {
        let mut v = self
            .view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if self.active_account().as_deref() != Some(account) {
            v.conversation = None;
        }
        v
    }

    /// Keeps a new session, in the place of the same account's if there is one (returned).
    /// The first account signed in becomes the active one.
    pub(crate) fn insert_session(&self, s: Session) -> Option<Arc<Session>> {
        let id = s.info.id.clone();
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let s = Arc::new(s);
        let old = match sessions.iter_mut().find(|x| x.info.id == id) {
            Some(x) => Some(std::mem::replace(x, s)),
            None => {
                sessions.push(s);
                None
            }
        };
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if active.is_none() {
            *active = Some(id);
        }
        old
    }

    /// Forgets an account's session; returns it. When it was the active account, the first
    /// one left becomes active.
    pub(crate) fn take_session(&self, account: &str) -> Option<Arc<Session>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let i = sessions.iter().position(|s| s.info.id == account)?;
        let s = sessions.remove(i);
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if active.as_deref() == Some(account) {
            *active = sessions.first().map(|s| s.info.id.clone());
        }
        Some(s)
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
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    pub(crate) fn waiting(&self) -> Arc<Mutex<HashSet<u32>>> {
        self.waiting.clone()
    }

    /// Runs `job` on the toasts thread, after every job asked before it.
    #[cfg(not(all(unix, not(target_os = "macos"))))]
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

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_client::engine::{EngineConfig, MemoryRefreshStore, Target, TidingsServer};

    /// A session whose engine points at a closed port (it only retries): the bookkeeping
    /// around it is what is tested.
    fn session(state: &AppState, id: &str) -> Session {
        let (user, host) = id.split_once('@').unwrap();
        let server = format!("http://{host}");
        let cache = Arc::new(Cache::open(&Cache::path_in(&state.data_dir, id)).unwrap());
        let target = Target::Tidings(TidingsServer {
            ws: TidingsServer::ws_url(&server),
            http: server.clone(),
            user: user.into(),
            refresh: Arc::new(MemoryRefreshStore::new("rt")),
            access: None,
        });
        let engine = Engine::start(EngineConfig::new(target, state.tls.clone()), cache).unwrap();
        let info = SessionInfo {
            id: id.into(),
            server,
            user: user.into(),
            kind: None,
        };
        let path = AccountSettings::path(&state.config_dir, id);
        Session::new(info, engine, path, state.settings_path())
    }

    #[test]
    fn settings_another_process_saved_are_read_again() {
        let dir = std::env::temp_dir().join(format!("tidings-reload-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tray = AppState::new(dir.join("config"), dir.join("data")).unwrap();
        let window = AppState::new(dir.join("config"), dir.join("data")).unwrap();
        let mut changed = window.settings();
        changed.close_to_tray = !changed.close_to_tray;
        changed.zoom_percent = 150;
        changed.last_account = Some("alice@127.0.0.1:9".into());
        window.save_app_settings(changed.clone()).unwrap();
        assert_ne!(tray.settings(), changed, "read once, at the start");
        tray.reload_settings();
        assert_eq!(tray.settings(), changed);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn accounts_are_kept_apart_and_one_leaving_leaves_the_others() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _in_rt = rt.enter();
        let dir = std::env::temp_dir().join(format!("tidings-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = AppState::new(dir.join("config"), dir.join("data")).unwrap();
        assert!(state.session(None).is_err());
        let (work, community) = ("alice@127.0.0.1:9", "al@127.0.0.1:7");

        assert!(state.insert_session(session(&state, work)).is_none());
        assert!(state.insert_session(session(&state, community)).is_none());
        let ids =
            |s: &AppState| -> Vec<String> { s.session_infos().into_iter().map(|i| i.id).collect() };
        assert_eq!(ids(&state), [work, community]);
        // The first signed in is active; a command without an account acts on it.
        assert_eq!(state.active_account().as_deref(), Some(work));
        assert_eq!(state.session(None).unwrap().info.id, work);
        let err = state.session(Some("nobody@x")).unwrap_err();
        assert!(
            err.to_string().contains("not signed in to nobody@x"),
            "{err}"
        );

        // The window shows the community account's conversation: the work account's
        // notifier sees no conversation of its own on screen.
        state.focus(Some(community), Some("c1".into())).unwrap();
        assert_eq!(state.active_account().as_deref(), Some(community));
        assert_eq!(state.view_of(community).conversation.as_deref(), Some("c1"));
        assert_eq!(state.view_of(work).conversation, None);
        // The next start opens on the account shown last.
        let next = AppState::new(dir.join("config"), dir.join("data")).unwrap();
        assert_eq!(next.settings().last_account.as_deref(), Some(community));

        // Settings apart: do-not-disturb on one leaves the other's as it was.
        let mut s = state.settings_of(Some(community));
        s.do_not_disturb = true;
        s.close_to_tray = false;
        state.save_settings(Some(community), s).unwrap();
        assert!(state.settings_of(Some(community)).do_not_disturb);
        assert!(!state.settings_of(Some(work)).do_not_disturb);
        // The app's part is everyone's.
        assert!(!state.settings_of(Some(work)).close_to_tray);

        // Signing in again to an account replaces its session in its place.
        let again = state.insert_session(session(&state, work));
        assert_eq!(again.map(|s| s.info.id.clone()).as_deref(), Some(work));
        assert_eq!(ids(&state), [work, community]);

        // The active account leaves: the other goes on, and becomes the active one.
        assert!(state.take_session(community).is_some());
        assert_eq!(ids(&state), [work]);
        assert_eq!(state.active_account().as_deref(), Some(work));
        assert!(state.session(Some(community)).is_err());
        assert!(state.take_session(community).is_none());
        drop(state);
        drop(rt);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
