//! The engine: one task that owns the connection to a server and keeps the cache in step
//! with it, for whoever embeds it (the desktop shell, the `tidings` CLI, tests).
//!
//! - It connects (STOMP over WebSocket, heart-beats both ways), subscribes, and catches up
//!   over REST after every (re)connect; live frames that arrive meanwhile are merged too,
//!   so nothing is lost and, merging being idempotent, nothing doubled.
//! - A live message whose `seq` leaves a gap makes it fetch the missing range at once; so
//!   does a live event whose revision is past the one after the held revision (the change
//!   log: edits, deletions, reactions, membership), and a conversation whose revision in the
//!   list is above the held one is brought up to date from its change log on every
//!   (re)connect. Conversations the list no longer has are marked left, kept readable.
//! - The user's actions (directory, profile, conversations, edit, delete, react) go over
//!   REST with the engine's token and are applied to the cache at once ([`actions`]).
//! - It sends the outbox (messages written offline) with receipts, with the same `clientId`
//!   on every attempt, so the server stores each once; and pushes read markers. A message
//!   with files uploads them first (tus, resumable, [`uploads`]), reporting progress on a
//!   watch channel ([`Engine::upload_progress`]) and in its outbox entry; see
//!   [`attachments`] for sending, cancelling and downloading files.
//! - After a failure it reconnects with exponential backoff and full jitter (about 1 s
//!   doubling to 30 s), at once when told the network came back ([`Engine::nudge`]).
//! - It refreshes the access token before it expires; a refresh refused for good is the
//!   [`EngineState::SignedOut`] state, not a retry loop.
//!
//! It reports its state on a watch channel, every event it receives on a broadcast channel,
//! and the cache's latest change id whenever it wrote to the cache.

mod actions;
mod attachments;
mod auth;
mod catchup;
mod events;
mod live;
mod notifications;
mod run;
mod socketio;
mod uploads;

pub use attachments::{check_size, describe_size, MAX_FILES_PER_MESSAGE};
pub use auth::{MemoryRefreshStore, RefreshStore};
pub(crate) use run::{profile_token, stomp_headers};
pub(crate) use socketio::socketio_check;
pub use uploads::Progress;

use crate::backoff::Backoff;
use crate::cache::Cache;
use crate::error::ClientResult;
use crate::http::Api;
use crate::profile::Profile;
use auth::Tokens;
use catchup::CatchUp;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tidings_proto::{ContentType, Envelope, Timestamp};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use uploads::{UploadTasks, Uploads};

/// The bytes of one file sent per tus `PATCH` unless configured otherwise: 4 MiB. A cut
/// costs at most this much again; each chunk is one request and one `fsync` on the server.
pub const DEFAULT_UPLOAD_CHUNK: usize = 4 * 1024 * 1024;

/// Outbox entries uploading their files at once unless configured otherwise: 3, as browsers
/// and Slack's client do a few at a time; more only share the same link.
pub const DEFAULT_UPLOAD_JOBS: usize = 3;

/// How far the upload of an outbox entry's files got: bytes handed to the connection
/// (`sent`) of all its files' bytes (`total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UploadProgress {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub sent: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub total: u64,
}

/// A test hook ([`EngineConfig::upload_gate`]): the engine is about to `PATCH` the upload
/// `upload_id` at `offset`, and waits for `go` (or for it to be dropped).
#[derive(Debug)]
pub struct UploadStep {
    pub upload_id: String,
    pub offset: u64,
    pub go: oneshot::Sender<()>,
}

/// What the engine is doing, for a banner that tells the truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum EngineState {
    Connecting,
    /// Connected; fetching what was missed (`done` of `total` messages and notifications).
    #[serde(rename_all = "camelCase")]
    CatchingUp {
        done: u64,
        total: u64,
    },
    Live,
    /// Waiting to try again at `at` (attempt `attempt`), after `reason`.
    #[serde(rename_all = "camelCase")]
    Reconnecting {
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        at: Timestamp,
        attempt: u32,
        reason: String,
    },
    /// Told that there is no network; waiting for it to come back.
    Offline,
    /// The credentials were refused for good; waiting for a new sign-in.
    #[serde(rename_all = "camelCase")]
    SignedOut {
        reason: String,
    },
    Stopped,
}

/// The server to keep in step with.
#[derive(Debug, Clone)]
pub enum Target {
    Tidings(TidingsServer),
    /// Another STOMP server, through a connection profile: its messages become
    /// notifications.
    Profile(Profile),
}

/// A Tidings server and the account on it.
#[derive(Debug, Clone)]
pub struct TidingsServer {
    /// HTTP origin, e.g. `http://127.0.0.1:8080`.
    pub http: String,
    /// WebSocket URL, e.g. `ws://127.0.0.1:8080/ws`.
    pub ws: String,
    /// The signed-in user (the login name).
    pub user: String,
    /// Where the refresh token is kept (it changes on every refresh).
    pub refresh: Arc<dyn RefreshStore>,
    /// An access token already in hand (just after login) and its lifetime.
    pub access: Option<(String, Duration)>,
}

impl TidingsServer {
    /// The WebSocket URL of a Tidings server at this HTTP origin.
    pub fn ws_url(http: &str) -> String {
        let base = http.trim_end_matches('/');
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_owned()
        };
        format!("{ws}/ws")
    }
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub target: Target,
    pub tls: Arc<rustls::ClientConfig>,
    /// How often we offer to send heart-beats and want to receive them.
    pub heart_beat: Duration,
    pub backoff: Backoff,
    /// Messages sent and not yet confirmed at once.
    pub send_window: usize,
    /// Bytes of a file per tus `PATCH` ([`DEFAULT_UPLOAD_CHUNK`]).
    pub upload_chunk: usize,
    /// Outbox entries whose files upload at once ([`DEFAULT_UPLOAD_JOBS`]); the others wait
    /// for one to end. The server takes `limits.max_open_uploads` (10) open uploads and 16
    /// requests in flight per user: a queue of many files must not run into either.
    pub upload_jobs: usize,
    /// For tests: told before every upload `PATCH`, which waits for the go-ahead.
    pub upload_gate: Option<mpsc::Sender<UploadStep>>,
}

impl EngineConfig {
    pub fn new(target: Target, tls: Arc<rustls::ClientConfig>) -> EngineConfig {
        EngineConfig {
            target,
            tls,
            heart_beat: Duration::from_secs(10),
            backoff: Backoff::default(),
            send_window: 32,
            upload_chunk: DEFAULT_UPLOAD_CHUNK,
            upload_jobs: DEFAULT_UPLOAD_JOBS,
            upload_gate: None,
        }
    }
}

/// Tells watchers of the cache's latest change id that it moved.
fn announce_change(cache: &Cache, changed: &watch::Sender<i64>) {
    if let Ok(id) = cache.latest_change() {
        changed.send_if_modified(|old| {
            let newer = id > *old;
            if newer {
                *old = id;
            }
            newer
        });
    }
}

#[derive(Debug)]
enum Command {
    /// The cache has something new to send (outbox, read marker).
    Poke,
    Focus(Option<String>),
    Typing(String, bool),
    Network(bool),
    Nudge,
    Reauth(Option<(String, Duration)>),
    /// Notifications were marked read here: tell the server what it has not heard of.
    PushNotificationReads,
    /// An action changed a conversation: fetch what it now misses.
    Stale(String),
    /// The user left a conversation (its topic subscription is gone on the server).
    Left(String),
    Shutdown(oneshot::Sender<()>),
}

/// The handle to a running engine. Dropping it stops the engine.
#[derive(Debug)]
pub struct Engine {
    cmd: mpsc::Sender<Command>,
    state: watch::Receiver<EngineState>,
    events: broadcast::Sender<Arc<Envelope>>,
    changed: watch::Receiver<i64>,
    changed_tx: Arc<watch::Sender<i64>>,
    progress: watch::Receiver<uploads::Progress>,
    progress_tx: Arc<watch::Sender<uploads::Progress>>,
    uploads: UploadTasks,
    cache: Arc<Cache>,
    me: Option<String>,
    /// Tidings targets: the REST side, sharing the engine's access token.
    sync: Option<CatchUp>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine on the current tokio runtime.
    pub fn start(mut config: EngineConfig, cache: Arc<Cache>) -> ClientResult<Engine> {
        // A profile's own CA (a private broker's) is trusted besides the system's roots.
        if let Target::Profile(Profile {
            extra_ca: Some(ca), ..
        }) = &config.target
        {
            config.tls = crate::tls::client_config(Some(ca))?;
        }
        let (me, sync) = match &config.target {
            Target::Tidings(t) => {
                cache.bind_account(&t.http, &t.user)?;
                let api = Api::new(&t.http, config.tls.clone())?;
                let tokens = Arc::new(Tokens::new(
                    api.clone(),
                    t.refresh.clone(),
                    t.access.clone(),
                ));
                let sync = CatchUp {
                    api,
                    tokens,
                    cache: cache.clone(),
                    me: t.user.clone(),
                };
                (Some(t.user.clone()), Some(sync))
            }
            Target::Profile(p) => {
                p.validate()?;
                (None, None)
            }
        };
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (state_tx, state_rx) = watch::channel(EngineState::Connecting);
        let (events, _) = broadcast::channel(1024);
        let (changed_tx, changed_rx) = watch::channel(cache.latest_change()?);
        let changed_tx = Arc::new(changed_tx);
        let (progress_tx, progress) = watch::channel(uploads::Progress::new());
        let progress_tx = Arc::new(progress_tx);
        let upload_tasks = UploadTasks::default();
        attachments::sweep_leftovers(&cache);
        let runner = run::Runner::new(
            config,
            cache.clone(),
            sync.clone(),
            cmd_rx,
            (state_tx, events.clone(), changed_tx.clone()),
            Uploads {
                tasks: upload_tasks.clone(),
                progress: progress_tx.clone(),
                pokes: cmd_tx.downgrade(),
            },
        );
        let task = tokio::spawn(runner.run());
        Ok(Engine {
            cmd: cmd_tx,
            state: state_rx,
            events,
            changed: changed_rx,
            changed_tx,
            progress,
            progress_tx,
            uploads: upload_tasks,
            cache,
            me,
            sync,
            task: Some(task),
        })
    }

    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// The signed-in user (Tidings targets).
    pub fn user(&self) -> Option<&str> {
        self.me.as_deref()
    }

    pub fn state(&self) -> watch::Receiver<EngineState> {
        self.state.clone()
    }

    /// Every event received from the server, as it arrives.
    pub fn events(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.events.subscribe()
    }

    /// The cache's latest change id, updated whenever the engine wrote to it.
    pub fn changed(&self) -> watch::Receiver<i64> {
        self.changed.clone()
    }

    /// How far the uploads of outbox entries got, by `clientId` (only entries uploading
    /// now; what the server acknowledged is also in each entry's files, across restarts).
    pub fn upload_progress(&self) -> watch::Receiver<uploads::Progress> {
        self.progress.clone()
    }

    fn stop_upload(&self, client_id: &str) {
        self.uploads.stop(client_id);
    }

    fn command(&self, c: Command) {
        // A full inbox only happens when the engine is far behind; a dropped poke is
        // repaired by the next one, and state commands are repeated by their callers.
        let _ = self.cmd.try_send(c);
    }

    /// Writes a message into the outbox (shown as pending at once) and has it sent when
    /// live: maybe a reply (`reply_to`, a message id of the same conversation), maybe
    /// mentioning participants (by id). Both are kept in the outbox, so they survive a
    /// restart. Refused at once in a conversation the user left. Returns its `clientId`.
    pub fn send(
        &self,
        cid: &str,
        content: &str,
        content_type: ContentType,
        reply_to: Option<String>,
        mentions: Vec<String>,
    ) -> ClientResult<String> {
        crate::engine::live::check_content(content)?;
        if self.cache.conversation(cid)?.is_some_and(|c| c.left) {
            return Err(actions::left_conversation());
        }
        let id = self
            .cache
            .enqueue(cid, content, content_type, reply_to.as_deref(), &mentions)?;
        self.command(Command::Poke);
        Ok(id)
    }

    /// Marks a conversation read up to `up_to` here at once, and on the server when live.
    pub fn mark_read(&self, cid: &str, up_to: i64) -> ClientResult<bool> {
        let moved = self.cache.mark_read(cid, up_to)?;
        if moved {
            self.command(Command::Poke);
        }
        Ok(moved)
    }

    /// Marks a notification read here at once, and on the server when live (else at the
    /// next connection).
    pub fn mark_notification_read(&self, id: &str) -> ClientResult<bool> {
        let was_unread = self.cache.mark_notification_read(id)?;
        if was_unread {
            announce_change(&self.cache, &self.changed_tx);
            self.command(Command::PushNotificationReads);
        }
        Ok(was_unread)
    }

    /// Puts a failed outbox entry back in the queue.
    pub fn retry(&self, client_id: &str) -> ClientResult<bool> {
        let again = self.cache.retry_failed(client_id)?;
        self.command(Command::Poke);
        Ok(again)
    }

    /// The conversation on screen: its typing indicators and read receipts are followed.
    pub fn focus(&self, cid: Option<&str>) {
        self.command(Command::Focus(cid.map(str::to_owned)));
    }

    /// Tells the conversation that the user is (or stopped) typing; dropped when not live.
    pub fn typing(&self, cid: &str, typing: bool) {
        self.command(Command::Typing(cid.to_owned(), typing));
    }

    /// The operating system says the network went away (`false`) or came back (`true`).
    pub fn set_network(&self, up: bool) {
        self.command(Command::Network(up));
    }

    /// Something suggests the connection may be stale or possible again (the machine woke
    /// up): check now instead of waiting.
    pub fn nudge(&self) {
        self.command(Command::Nudge);
    }

    /// After signing in again: new credentials are in the refresh store (and maybe an
    /// access token); leave the signed-out state.
    pub fn reauthenticate(&self, access: Option<(String, Duration)>) {
        self.command(Command::Reauth(access));
    }

    /// Waits until the engine is live and has nothing left to send, or `limit` passes.
    /// Returns the state it ended in.
    pub async fn settle(&self, limit: Duration) -> EngineState {
        let mut state = self.state.clone();
        let mut changed = self.changed.clone();
        let work = async {
            loop {
                let s = state.borrow_and_update().clone();
                let idle = self.cache.outbox_waiting().map(|n| n == 0).unwrap_or(false);
                match s {
                    EngineState::Live if idle => return s,
                    EngineState::SignedOut { .. } | EngineState::Stopped => return s,
                    _ => {}
                }
                tokio::select! {
                    r = state.changed() => if r.is_err() { return EngineState::Stopped },
                    r = changed.changed() => if r.is_err() { return EngineState::Stopped },
                }
            }
        };
        match tokio::time::timeout(limit, work).await {
            Ok(s) => s,
            Err(_) => self.state.borrow().clone(),
        }
    }

    /// Stops the engine and waits for it.
    pub async fn shutdown(mut self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.uploads.stop_all();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
