//! The engine task: connect, live, fail, wait, again; until told to stop.

use super::catchup::{CatchUp, Progress};
use super::uploads::{UploadJob, Uploads};
use super::{Command, EngineConfig, EngineState, Target};
use crate::backoff::Backoff;
use crate::cache::Cache;
use crate::connection::{self, ConnError, ConnectOptions, FrameSender};
use crate::error::{ClientError, ClientResult};
use crate::profile::{secret, Profile, ProfileAuth, ProfileKind, TokenHeader};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tidings_proto::{Envelope, Timestamp};
use tidings_stomp::{Command as Stomp, Frame, HeartBeat};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// How long opening a connection may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a liveness probe (after a nudge) may wait for its receipt.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a connected session ended.
#[derive(Debug)]
pub(super) enum Ended {
    Shutdown(Option<oneshot::Sender<()>>),
    SignedOut(String),
    Failed(String),
    NetworkDown,
    /// The server ended a live session because its access token expired or was signed
    /// out: connect again at once with a fresh token (catch-up fills the gap).
    Renew,
    /// Connect again at once (a Socket.IO session after a nudge).
    Reconnect,
}

/// Work running beside the connection, reporting back.
#[derive(Debug)]
pub(super) enum Background {
    CatchUp(Progress),
    CatchUpDone(ClientResult<()>),
    Repaired(String, ClientResult<u64>),
}

#[derive(Debug)]
pub(crate) struct Runner {
    pub(super) config: EngineConfig,
    pub(super) cache: Arc<Cache>,
    pub(super) cmds: mpsc::Receiver<Command>,
    state: watch::Sender<EngineState>,
    pub(super) events: broadcast::Sender<Arc<Envelope>>,
    changed: Arc<watch::Sender<i64>>,
    pub(super) backoff: Backoff,
    pub(super) focus: Option<String>,
    pub(super) network_up: bool,
    /// Tidings targets: the REST side.
    pub(super) sync: Option<CatchUp>,
    pub(super) me: String,
    uploads: Uploads,
    /// A Socket.IO profile's token while the server takes it.
    pub(super) sio_token: Option<(String, TokenHeader)>,
}

/// What one connected session keeps.
#[derive(Debug, Default)]
pub(super) struct Live {
    pub(super) sender: Option<FrameSender>,
    /// Outbox receipts in flight: receipt id → clientId.
    pub(super) sending: HashMap<String, String>,
    /// Read markers sent and not yet confirmed: (conversation, seq).
    pub(super) reading: HashSet<(String, i64)>,
    pub(super) catching_up: bool,
    /// Conversations being repaired (a gap in the live stream).
    pub(super) repairing: HashSet<String>,
    pub(super) subscribed: bool,
    pub(super) focused_sub: Option<String>,
    pub(super) probe_deadline: Option<tokio::time::Instant>,
    pub(super) next_receipt: u64,
    /// Something may be ready to send (a poke, a receipt freed the window, a timer).
    pub(super) dirty: bool,
}

impl Runner {
    pub(super) fn new(
        config: EngineConfig,
        cache: Arc<Cache>,
        sync: Option<CatchUp>,
        cmds: mpsc::Receiver<Command>,
        (state, events, changed): (
            watch::Sender<EngineState>,
            broadcast::Sender<Arc<Envelope>>,
            Arc<watch::Sender<i64>>,
        ),
        uploads: Uploads,
    ) -> Runner {
        let me = sync.as_ref().map(|s| s.me.clone()).unwrap_or_default();
        Runner {
            backoff: config.backoff.clone(),
            config,
            cache,
            cmds,
            state,
            events,
            changed,
            focus: None,
            network_up: true,
            sync,
            me,
            uploads,
            sio_token: None,
        }
    }

    /// Starts the upload job of an outbox entry's files unless one is running.
    pub(super) fn start_upload(&self, client_id: &str) {
        let Some(sync) = self.sync.clone() else {
            return;
        };
        if self.uploads.tasks.running(client_id) {
            return;
        }
        if self.uploads.tasks.running_ids().len() >= self.config.upload_jobs.max(1) {
            return; // Waits its turn: a job that ends pokes the engine.
        }
        let job = UploadJob {
            sync,
            client_id: client_id.to_owned(),
            chunk: self.config.upload_chunk.max(1),
            progress: self.uploads.progress.clone(),
            changed: self.changed.clone(),
            pokes: self.uploads.pokes.clone(),
            gate: self.config.upload_gate.clone(),
        };
        let handle = tokio::spawn(job.run());
        self.uploads.tasks.insert(client_id, handle.abort_handle());
    }

    pub(super) fn set_state(&self, s: EngineState) {
        self.state.send_if_modified(|old| {
            if *old == s {
                false
            } else {
                *old = s;
                true
            }
        });
    }

    /// Tells watchers that the cache changed.
    pub(super) fn touched(&self) {
        super::announce_change(&self.cache, &self.changed);
    }

    pub(crate) async fn run(mut self) {
        // A token renewal is routine: the user sees no "connecting" for it.
        let mut renewing = false;
        let done: Option<oneshot::Sender<()>> = loop {
            if !self.network_up {
                self.set_state(EngineState::Offline);
                if let Some(stop) = self.wait(None).await {
                    break stop;
                }
                continue;
            }
            if !std::mem::take(&mut renewing) {
                self.set_state(EngineState::Connecting);
            }
            let socketio = matches!(&self.config.target, Target::Profile(p) if p.kind == ProfileKind::Socketio);
            let ended = if socketio {
                self.sio_session().await
            } else {
                self.session().await
            };
            // A session can end between a write to the cache and the news of it (a catch-up
            // page merged, then the connection lost): tell watchers now.
            self.touched();
            match ended {
                Ended::Shutdown(stop) => break stop,
                Ended::NetworkDown | Ended::Reconnect => continue,
                Ended::Renew => {
                    tracing::info!("the access token of the live session ended; renewing it");
                    renewing = true;
                }
                Ended::SignedOut(reason) => {
                    tracing::info!(%reason, "signed out");
                    self.set_state(EngineState::SignedOut { reason });
                    if let Some(stop) = self.wait_for_reauth().await {
                        break stop;
                    }
                }
                Ended::Failed(reason) => {
                    let attempt = self.backoff.attempts() + 1;
                    let delay = self.backoff.next_delay(rand::random());
                    let at = Timestamp(Timestamp::now().millis() + delay.as_millis() as i64);
                    tracing::info!(%reason, ?delay, attempt, "connection lost; reconnecting");
                    self.set_state(EngineState::Reconnecting {
                        at,
                        attempt,
                        reason,
                    });
                    if let Some(stop) = self.wait(Some(delay)).await {
                        break stop;
                    }
                }
            }
        };
        let _ = self.cache.requeue_sending();
        self.set_state(EngineState::Stopped);
        if let Some(d) = done {
            let _ = d.send(());
        }
    }

    /// Waits out a delay (or, with `None`, until the network is back), handling commands.
    /// `Some` when told to stop.
    async fn wait(&mut self, delay: Option<Duration>) -> Option<Option<oneshot::Sender<()>>> {
        let sleep = async {
            match delay {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return None,
                cmd = self.cmds.recv() => match cmd {
                    None => return Some(None),
                    Some(Command::Shutdown(tx)) => return Some(Some(tx)),
                    Some(Command::Network(up)) => {
                        self.network_up = up;
                        if up {
                            self.backoff.reset();
                            return None;
                        }
                        if delay.is_some() {
                            return None;
                        }
                    }
                    Some(Command::Nudge) if self.network_up => return None,
                    Some(Command::Focus(f)) => self.focus = f,
                    Some(Command::Reauth(a)) => {
                        if let Some(s) = &self.sync {
                            s.tokens.replace(a).await;
                        }
                        return None;
                    }
                    Some(_) => {}
                }
            }
        }
    }

    async fn wait_for_reauth(&mut self) -> Option<Option<oneshot::Sender<()>>> {
        loop {
            match self.cmds.recv().await {
                None => return Some(None),
                Some(Command::Shutdown(tx)) => return Some(Some(tx)),
                Some(Command::Reauth(a)) => {
                    if let Some(s) = &self.sync {
                        s.tokens.replace(a).await;
                    }
                    self.backoff.reset();
                    return None;
                }
                Some(Command::Network(up)) => self.network_up = up,
                Some(Command::Focus(f)) => self.focus = f,
                Some(_) => {}
            }
        }
    }

    /// `CONNECT` headers and the URL for this target.
    async fn connect_options(&self) -> Result<ConnectOptions, Ended> {
        let hb = self.config.heart_beat.as_millis() as u64;
        let (url, headers, hb) = match &self.config.target {
            Target::Tidings(t) => {
                let sync = self
                    .sync
                    .as_ref()
                    .ok_or_else(|| Ended::Failed("no REST client".into()))?;
                let token = sync.tokens.get().await.map_err(classify)?;
                (
                    t.ws.clone(),
                    vec![("Authorization".to_owned(), format!("Bearer {token}"))],
                    hb,
                )
            }
            Target::Profile(p) => {
                let headers = profile_headers(p, &self.config.tls)
                    .await
                    .map_err(classify)?;
                (p.url.clone(), headers, p.stomp.heart_beat_ms)
            }
        };
        Ok(ConnectOptions {
            url,
            headers,
            heart_beat: HeartBeat {
                send_ms: hb,
                receive_ms: hb,
            },
            tls: self.config.tls.clone(),
            timeout: CONNECT_TIMEOUT,
        })
    }

    /// One connected lifetime: connect, subscribe, catch up, stay live until it ends.
    async fn session(&mut self) -> Ended {
        let opts = match self.connect_options().await {
            Ok(o) => o,
            Err(e) => return e,
        };
        let mut conn = match connection::connect(&opts).await {
            Ok(c) => c,
            Err(ConnError::Refused { message, body }) => {
                // The token may have been revoked or expired meanwhile: get a fresh one
                // next time; a refusal of a fresh one shows up as a refresh failure.
                if let Some(s) = &self.sync {
                    s.tokens.invalidate().await;
                }
                // The ERROR's body often says what its header does not (RabbitMQ: "Bad
                // CONNECT", then "Access refused for user 'x'").
                let body: String = body.trim().chars().take(300).collect();
                return Ended::Failed(if body.is_empty() || body == message {
                    format!("the server refused the connection: {message}")
                } else {
                    format!("the server refused the connection: {message} ({body})")
                });
            }
            Err(e) => return Ended::Failed(e.to_string()),
        };
        self.backoff.reset();
        let _ = self.cache.requeue_sending();
        let mut live = Live {
            sender: Some(conn.sender()),
            ..Live::default()
        };
        if let Err(e) = self.subscribe(&mut live).await {
            return Ended::Failed(e.to_string());
        }
        let (bg_tx, mut bg_rx) = mpsc::channel::<Background>(64);
        let mut outbox_timer: Option<tokio::time::Instant> = None;
        loop {
            let next_due = async {
                match outbox_timer {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let probe = async {
                match live.probe_deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = conn.next_frame() => match frame {
                    Ok(f) => {
                        if let Err(e) = self.on_frame(f, &mut live, &bg_tx).await {
                            return Ended::Failed(e.to_string());
                        }
                    }
                    Err(e) => return self.lost(e).await,
                },
                cmd = self.cmds.recv() => match cmd {
                    None => return Ended::Shutdown(None),
                    Some(Command::Shutdown(tx)) => return Ended::Shutdown(Some(tx)),
                    Some(Command::Network(false)) => {
                        self.network_up = false;
                        return Ended::NetworkDown;
                    }
                    Some(Command::Network(true)) => {}
                    Some(Command::Nudge) => self.probe(&mut live).await,
                    Some(Command::Poke) => live.dirty = true,
                    Some(Command::Focus(f)) => {
                        self.focus = f;
                        if let Err(e) = self.follow_focus(&mut live).await {
                            return Ended::Failed(e.to_string());
                        }
                    }
                    Some(Command::Typing(cid, typing)) => self.send_typing(&live, &cid, typing).await,
                    Some(Command::PushNotificationReads) => {
                        if let Some(sync) = self.sync.clone() {
                            let changed = self.changed.clone();
                            tokio::spawn(async move {
                                if let Err(e) = sync.push_notification_reads().await {
                                    // Kept as not yet told: the next connection tells it.
                                    tracing::info!(error = %e, "could not mark notifications read on the server");
                                }
                                super::announce_change(&sync.cache, &changed);
                            });
                        }
                    }
                    Some(Command::Reauth(a)) => {
                        if let Some(s) = &self.sync {
                            s.tokens.replace(a).await;
                        }
                    }
                    Some(Command::Stale(cid)) => {
                        if self.cache.needs_fetch(&cid).unwrap_or(false)
                            || self.cache.behind(&cid).unwrap_or(false)
                        {
                            self.repair(&cid, &mut live, &bg_tx);
                        }
                    }
                    Some(Command::Left(cid)) => self.forget_topic(&cid, &mut live),
                },
                Some(bg) = bg_rx.recv() => {
                    if let Err(reason) = self.on_background(bg, &mut live, &bg_tx) {
                        return reason;
                    }
                },
                _ = next_due => live.dirty = true,
                _ = probe => return Ended::Failed("no answer to a liveness check".into()),
            }
            // Catch-up first; the outbox and read markers follow it.
            if live.subscribed && !live.catching_up && live.dirty {
                live.dirty = false;
                if let Err(e) = self.flush(&mut live).await {
                    return Ended::Failed(e.to_string());
                }
                outbox_timer = self.next_outbox_wakeup();
            }
        }
    }

    /// Starts the REST catch-up beside the live connection.
    pub(super) fn start_catch_up(&self, live: &mut Live, bg: &mpsc::Sender<Background>) {
        let Some(sync) = self.sync.clone() else {
            self.set_state(EngineState::Live);
            return;
        };
        live.catching_up = true;
        self.set_state(EngineState::CatchingUp { done: 0, total: 0 });
        let bg = bg.clone();
        tokio::spawn(async move {
            let (ptx, mut prx) = mpsc::channel(16);
            let work = sync.full(&ptx);
            tokio::pin!(work);
            let result = loop {
                tokio::select! {
                    r = &mut work => break r,
                    Some(p) = prx.recv() => { let _ = bg.send(Background::CatchUp(p)).await; }
                }
            };
            let _ = bg.send(Background::CatchUpDone(result)).await;
        });
    }

    fn on_background(
        &mut self,
        bg: Background,
        live: &mut Live,
        tx: &mpsc::Sender<Background>,
    ) -> Result<(), Ended> {
        match bg {
            Background::CatchUp(p) => {
                if live.catching_up {
                    self.set_state(EngineState::CatchingUp {
                        done: p.done,
                        total: p.total,
                    });
                }
                self.touched();
            }
            Background::CatchUpDone(Ok(())) => {
                live.catching_up = false;
                live.dirty = true;
                self.set_state(EngineState::Live);
                self.touched();
                // Live events that came during catch-up may have left gaps of their own.
                for cid in self.gapped() {
                    self.repair(&cid, live, tx);
                }
            }
            Background::CatchUpDone(Err(e)) => return Err(classify(e)),
            Background::Repaired(cid, result) => {
                live.repairing.remove(&cid);
                self.touched();
                if let Err(e) = result {
                    return Err(classify(e));
                }
                // More may have arrived meanwhile.
                if self.gapped().contains(&cid) {
                    self.repair(&cid, live, tx);
                }
            }
        }
        Ok(())
    }

    /// Conversations missing messages (by `seq`) or changes (by revision).
    fn gapped(&self) -> std::collections::BTreeSet<String> {
        let seq = self.cache.gaps().unwrap_or_default().into_iter();
        let rev = self.cache.rev_gaps().unwrap_or_default().into_iter();
        seq.chain(rev).map(|(cid, _, _)| cid).collect()
    }

    /// Fetches what a conversation misses now (a gap in the live stream): the conversation
    /// itself if only a placeholder is cached, its change log after the held revision, and
    /// its history after the contiguous prefix.
    pub(super) fn repair(&self, cid: &str, live: &mut Live, tx: &mpsc::Sender<Background>) {
        let Some(sync) = self.sync.clone() else {
            return;
        };
        if live.catching_up || !live.repairing.insert(cid.to_owned()) {
            return;
        }
        let (cid, tx) = (cid.to_owned(), tx.clone());
        tokio::spawn(async move {
            let placeholder = sync
                .cache
                .conversation(&cid)
                .ok()
                .flatten()
                .is_none_or(|c| c.participants.is_empty());
            let result = async {
                if placeholder {
                    // Only a placeholder so far: learn the conversation itself.
                    sync.refresh_conversations().await?;
                }
                let changed = sync.changes(&cid, None).await?;
                Ok(changed + sync.fill(&cid, None).await?)
            }
            .await;
            let _ = tx.send(Background::Repaired(cid, result)).await;
        });
    }

    fn next_outbox_wakeup(&self) -> Option<tokio::time::Instant> {
        // An entry whose files are uploading is pending and due, but its job pokes when it
        // is done: waking for it now would spin.
        let mut busy = self.uploads.tasks.running_ids();
        if busy.len() >= self.config.upload_jobs.max(1) {
            // Entries waiting for a free upload job wait for a job's end, not a timer.
            if let Ok(due) = self.cache.due(Timestamp::now()) {
                busy.extend(
                    due.into_iter()
                        .filter(|e| !e.uploaded())
                        .map(|e| e.client_id),
                );
            }
        }
        let at = self
            .cache
            .next_due_except(&busy, Timestamp::now())
            .ok()
            .flatten()?;
        let wait = (at.millis() - Timestamp::now().millis()).max(0) as u64;
        Some(tokio::time::Instant::now() + Duration::from_millis(wait))
    }

    pub(super) fn receipt_id(live: &mut Live, prefix: &str) -> String {
        live.next_receipt += 1;
        format!("{prefix}:{}", live.next_receipt)
    }

    /// Why a live session ended. The server ends one when its access token expires or its
    /// sign-in is signed out (`ERROR` "access token expired" / "access token revoked"):
    /// that is a renewal, not a failure. A refused renewal then shows as signed out.
    async fn lost(&self, e: ConnError) -> Ended {
        if let ConnError::Refused { message, .. } = &e {
            if message.starts_with("access token expired")
                || message.starts_with("access token revoked")
            {
                if let Some(s) = &self.sync {
                    s.tokens.invalidate().await;
                }
                return Ended::Renew;
            }
        }
        Ended::Failed(e.to_string())
    }

    /// After a nudge: a round trip that must come back soon, or the connection is dead.
    async fn probe(&self, live: &mut Live) {
        let Some(sender) = live.sender.clone() else {
            return;
        };
        let tx = Runner::receipt_id(live, "probe");
        let begin = Frame::new(Stomp::Begin).with_header("transaction", &tx);
        let abort = Frame::new(Stomp::Abort)
            .with_header("transaction", &tx)
            .with_header("receipt", "probe");
        if sender.send(&begin).await.is_ok() && sender.send(&abort).await.is_ok() {
            live.probe_deadline = Some(tokio::time::Instant::now() + PROBE_TIMEOUT);
        }
    }
}

/// Sorts a failure: refused credentials end in the signed-out state; anything else is
/// worth another attempt.
pub(super) fn classify(e: ClientError) -> Ended {
    match e {
        ClientError::Unauthorized(reason) => Ended::SignedOut(reason),
        other => Ended::Failed(other.to_string()),
    }
}

/// The token a profile's `[auth]` gives and where it goes: a fixed one, or one fresh from
/// its login endpoint. `None` without a token (no auth, or STOMP `login`/`passcode`).
pub(crate) async fn profile_token(
    p: &Profile,
    tls: &Arc<rustls::ClientConfig>,
) -> ClientResult<Option<(String, TokenHeader)>> {
    match &p.auth {
        ProfileAuth::None | ProfileAuth::Stomp { .. } => Ok(None),
        ProfileAuth::Token {
            token,
            token_env,
            header,
        } => Ok(Some((secret(token, token_env, "token")?, *header))),
        ProfileAuth::Login {
            url,
            username,
            password,
            password_env,
            token_field,
            header,
        } => {
            let password = secret(password, password_env, "password")?;
            let token =
                crate::http::login_anywhere(url, username, &password, token_field, tls).await?;
            Ok(Some((token, *header)))
        }
    }
}

/// `CONNECT` headers for a STOMP connection profile, given its token (from
/// [`profile_token`]).
pub(crate) fn stomp_headers(
    p: &Profile,
    token: Option<(String, TokenHeader)>,
) -> ClientResult<Vec<(String, String)>> {
    let mut headers = Vec::new();
    if let Some(host) = &p.stomp.host {
        headers.push(("host".to_owned(), host.clone()));
    }
    if let ProfileAuth::Stomp {
        login,
        passcode,
        passcode_env,
    } = &p.auth
    {
        headers.push(("login".to_owned(), login.clone()));
        headers.push((
            "passcode".to_owned(),
            secret(passcode, passcode_env, "passcode")?,
        ));
    }
    match token {
        None => {}
        Some((token, TokenHeader::Authorization)) => {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")))
        }
        Some((token, TokenHeader::Passcode)) => headers.push(("passcode".to_owned(), token)),
        Some((_, TokenHeader::Handshake | TokenHeader::Query)) => {
            return Err(ClientError::Config(format!(
                "profile {}: the token goes in \"authorization\" or \"passcode\" for a STOMP server",
                p.name
            )))
        }
    }
    Ok(headers)
}

/// `CONNECT` headers for a connection profile.
async fn profile_headers(
    p: &Profile,
    tls: &Arc<rustls::ClientConfig>,
) -> ClientResult<Vec<(String, String)>> {
    stomp_headers(p, profile_token(p, tls).await?)
}
