//! One STOMP connection: a reader that decodes and handles client frames, and a writer
//! that owns the socket's sending half and the bounded outbound queue.
//!
//! Error policy. Protocol errors (unparseable frame, a limit passed, a missing header,
//! an unknown transaction or ack id, a refused `SUBSCRIBE`, a bad token) end the
//! connection with an `ERROR` frame whose `message` names the problem, as STOMP requires.
//! A refused `SEND` (forbidden or unknown destination, rate limit, invalid body, full
//! queue) goes as a JSON message to the sender's own `/user/queue/errors` subscription when
//! it has one, and the connection goes on; without that subscription it is an `ERROR` too.
//! Either way nothing is delivered and nothing stored is touched.

use crate::access::{Action, Decision};
use crate::app::{AppError, AppSend};
use crate::auth::{Principal, TokenError};
use crate::budget::FrameBudget;
use crate::hub::{
    error_frame, AckMode, Control, Delivery, HubError, Outbound, Published, SessionId,
};
use crate::AppState;
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidings_stomp::{Command, Decoder, Frame, HeartBeat, Item, Version};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use axum::extract::ws::Message;

/// What the upgrade request told us.
#[derive(Debug, Default)]
pub struct Upgrade {
    /// `?token=` or an HTTP `Authorization: Bearer` on the upgrade request.
    pub token: Option<String>,
    pub remote: Option<std::net::SocketAddr>,
}

/// Headers a client may not pass on to subscribers.
const STRIPPED: &[&str] = &[
    "destination",
    "receipt",
    "transaction",
    "content-length",
    "message-id",
    "subscription",
    "ack",
    "authorization",
    "passcode",
    "login",
];

/// Versions this server speaks.
const VERSIONS: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

/// How long one write may take before the peer is considered gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A protocol error that ends the connection.
#[derive(Debug)]
struct Fatal {
    kind: &'static str,
    message: String,
    detail: String,
}

impl Fatal {
    fn new(kind: &'static str, message: impl Into<String>) -> Fatal {
        Fatal {
            kind,
            message: message.into(),
            detail: String::new(),
        }
    }
}

enum Flow {
    Continue,
    Close,
}

#[derive(Debug, Clone, Copy)]
struct WriterConfig {
    version: Version,
    session: SessionId,
    heart_beat: Option<Duration>,
}

/// Runs a connection to its end. Generic over the socket so tests can use any transport.
pub async fn run<S>(socket: S, state: AppState, upgrade: Upgrade)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Send + 'static,
    <S as Sink<Message>>::Error: std::fmt::Display,
{
    let span = tracing::info_span!("conn", remote = ?upgrade.remote, session = tracing::field::Empty, user = tracing::field::Empty);
    async move {
        let (sink, stream) = socket.split();
        let (tx, rx) = mpsc::channel(state.config.limits.outbound_queue);
        let control = Arc::new(Control::default());
        let (cfg_tx, cfg_rx) = watch::channel(WriterConfig {
            version: Version::V1_2,
            session: 0,
            heart_beat: None,
        });
        let writer = tokio::spawn(
            write_loop(sink, rx, control.clone(), cfg_rx, state.metrics.clone()).in_current_span(),
        );
        let frames_per_second = state.config.limits.frames_per_second;
        let mut session = Session {
            decoder: Decoder::new(state.config.limits.stomp()),
            state,
            upgrade,
            tx,
            control,
            writer_cfg: cfg_tx,
            id: None,
            principal: None,
            version: Version::V1_2,
            incoming: None,
            transactions: HashMap::new(),
            token_end: None,
            staged_bytes: 0,
            budget: FrameBudget::new(frames_per_second, tokio::time::Instant::now()),
        };
        session.read_loop(stream).await;
        session.finish().await;
        drop(session);
        let _ = writer.await;
    }
    .instrument(span)
    .await
}

struct Session {
    state: AppState,
    upgrade: Upgrade,
    decoder: Decoder,
    tx: mpsc::Sender<Outbound>,
    control: Arc<Control>,
    writer_cfg: watch::Sender<WriterConfig>,
    id: Option<SessionId>,
    principal: Option<Principal>,
    version: Version,
    /// How long the peer may stay silent once connected.
    incoming: Option<Duration>,
    transactions: HashMap<String, Vec<Frame>>,
    /// Bytes of the frames in `transactions`, all together.
    staged_bytes: usize,
    /// What the peer may still send now.
    budget: FrameBudget,
    /// Resolves when the access token expires or its session is signed out: the
    /// connection ends then, and the client reconnects with a fresh token.
    token_end: Option<TokenEnd>,
}

type TokenEnd = std::pin::Pin<Box<dyn std::future::Future<Output = TokenError> + Send + Sync>>;

/// Waits for the token's end, if the session has one.
async fn token_ended(end: &mut Option<TokenEnd>) -> TokenError {
    match end {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

impl Session {
    async fn read_loop<R>(&mut self, mut stream: R)
    where
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        let connect_deadline =
            tokio::time::Instant::now() + self.state.config.limits.connect_timeout();
        let shutdown = self.state.shutdown.clone();
        let token = self.control.token().clone();
        loop {
            let deadline = match (self.id, self.incoming) {
                (None, _) => Some(connect_deadline),
                (Some(_), Some(silence)) => Some(tokio::time::Instant::now() + silence),
                (Some(_), None) => None,
            };
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, stream.next()).await.ok(),
                    None => Some(stream.next().await),
                }
            };
            let msg = tokio::select! {
                biased;
                _ = token.cancelled() => return,
                _ = shutdown.cancelled() => {
                    self.fail(Fatal::new("shutdown", "server is shutting down"), None);
                    return;
                }
                e = token_ended(&mut self.token_end) => {
                    self.fail(Fatal::new(e.kind(), e.to_string()), None);
                    return;
                }
                msg = next => msg,
            };
            let data = match msg {
                None if self.id.is_none() => {
                    let secs = self.state.config.limits.connect_timeout().as_secs_f64();
                    self.fail(
                        Fatal::new(
                            "connect_timeout",
                            format!("no CONNECT frame within {secs} s of the upgrade"),
                        ),
                        None,
                    );
                    return;
                }
                None => {
                    let ms = self.incoming.map(|d| d.as_millis()).unwrap_or_default();
                    self.fail(
                        Fatal::new(
                            "heartbeat_timeout",
                            format!("heart-beat timeout: nothing received for {ms} ms"),
                        ),
                        None,
                    );
                    return;
                }
                Some(None) => return,
                Some(Some(Err(e))) => {
                    if is_capacity_error(e) {
                        let limit = self.state.config.limits.max_frame_bytes;
                        self.fail(
                            Fatal::new(
                                "frame_too_large",
                                format!("frame too large: the limit is {limit} bytes"),
                            ),
                            None,
                        );
                    } else {
                        // A reset or a protocol violation at the WebSocket level: the peer
                        // is gone or cannot be answered in STOMP.
                        tracing::debug!("websocket read failed; closing");
                    }
                    return;
                }
                Some(Some(Ok(Message::Text(t)))) => Bytes::from(t),
                Some(Some(Ok(Message::Binary(b)))) => b,
                Some(Some(Ok(Message::Close(_)))) => return,
                Some(Some(Ok(_))) => {
                    // A ping (answered by the WebSocket layer) or a pong: charged like a frame.
                    if let Err(f) = self.charge() {
                        self.fail(f, None);
                        return;
                    }
                    continue;
                }
            };
            if let Err(f) = self.charge() {
                self.fail(f, None);
                return;
            }
            self.decoder.extend(&data);
            loop {
                match self.decoder.decode() {
                    Ok(None) => break,
                    Ok(Some(Item::HeartBeat)) => {}
                    Ok(Some(Item::Frame(frame))) => {
                        if let Err(f) = self.charge() {
                            self.fail(f, None);
                            return;
                        }
                        self.state
                            .metrics
                            .frames_in
                            .get_or_create(&crate::metrics::CommandLabel {
                                command: frame.command.as_str(),
                            })
                            .inc();
                        let receipt = frame.header("receipt").map(str::to_owned);
                        match self.handle(frame).await {
                            Ok(Flow::Continue) => {}
                            Ok(Flow::Close) => return,
                            Err(f) => {
                                self.fail(f, receipt.as_deref());
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let kind = match e {
                            tidings_stomp::DecodeError::FrameTooLarge { .. }
                            | tidings_stomp::DecodeError::BodyTooLarge { .. } => "frame_too_large",
                            tidings_stomp::DecodeError::TooManyHeaders { .. }
                            | tidings_stomp::DecodeError::HeaderLineTooLong { .. } => {
                                "header_limit"
                            }
                            tidings_stomp::DecodeError::UnknownCommand(_) => "unknown_command",
                            _ => "malformed_frame",
                        };
                        self.fail(Fatal::new(kind, e.to_string()), None);
                        return;
                    }
                }
            }
        }
    }

    /// Charges one inbound message or frame to the connection's budget.
    fn charge(&mut self) -> Result<(), Fatal> {
        if self.budget.take(tokio::time::Instant::now()) {
            return Ok(());
        }
        let per = self.budget.per_second();
        Err(Fatal::new(
            "frame_rate",
            format!("too many frames: the limit is {per} per second per connection"),
        ))
    }

    /// Ends the connection with an `ERROR` frame.
    fn fail(&self, f: Fatal, receipt: Option<&str>) {
        self.state.metrics.error(f.kind);
        if matches!(f.kind, "shutdown") {
            tracing::debug!(message = %f.message, "closing connection");
        } else {
            tracing::info!(kind = f.kind, message = %f.message, "protocol error; closing connection");
        }
        // A failed version negotiation lists what the server speaks (STOMP 1.2).
        let extra: &[(&str, &str)] = if f.kind == "version" {
            &[("version", "1.0,1.1,1.2")]
        } else {
            &[]
        };
        self.control.fail(error_frame(
            self.version,
            &f.message,
            &f.detail,
            receipt,
            extra,
        ));
    }

    async fn finish(&mut self) {
        if let (Some(id), Some(p)) = (self.id, self.principal.clone()) {
            self.state.hub.unregister(id);
            self.state.app.on_disconnect(&p, id).await;
        }
        self.transactions.clear();
        self.staged_bytes = 0;
    }

    /// Queues a frame of our own (CONNECTED, RECEIPT). Waits if the queue is full: the
    /// peer is the one not reading.
    async fn reply(&self, frame: Frame) {
        let bytes = tidings_stomp::encode_to_bytes(&frame, self.version);
        let _ = self.tx.send(Outbound::Frame(bytes)).await;
    }

    async fn receipt(&self, receipt: Option<&str>) {
        if let Some(r) = receipt {
            self.reply(Frame::new(Command::Receipt).with_header("receipt-id", r))
                .await;
        }
    }

    async fn handle(&mut self, frame: Frame) -> Result<Flow, Fatal> {
        let Some(principal) = self.principal.clone() else {
            return match frame.command {
                Command::Connect | Command::Stomp => {
                    self.connect(&frame).await.map(|()| Flow::Continue)
                }
                other => Err(Fatal::new(
                    "not_connected",
                    format!("expected CONNECT, got {other}"),
                )),
            };
        };
        let receipt = frame.header("receipt").map(str::to_owned);
        match frame.command {
            Command::Send => {
                let destination = required(&frame, "destination")?.to_owned();
                if !self.state.rate.allow(&principal.name, Instant::now()) {
                    let per = self.state.config.limits.sends_per_minute;
                    return self.refuse_send(&frame, "rate_limited", format!("rate limit exceeded: at most {per} SEND frames per minute per user")).await;
                }
                match self
                    .state
                    .rules
                    .check(&principal, Action::Send, &destination)
                {
                    Decision::Allow => {}
                    Decision::Deny => {
                        return self
                            .refuse_send(
                                &frame,
                                "forbidden",
                                format!("forbidden: you may not send to {destination}"),
                            )
                            .await
                    }
                    Decision::Unknown => {
                        return self
                            .refuse_send(
                                &frame,
                                "unknown_destination",
                                format!("unknown destination {destination}"),
                            )
                            .await
                    }
                }
                if let Some(tx) = frame.header("transaction").map(str::to_owned) {
                    self.stage(&tx, frame)?;
                    self.receipt(receipt.as_deref()).await;
                    return Ok(Flow::Continue);
                }
                self.apply_send(&principal, frame).await
            }
            Command::Subscribe => {
                self.subscribe(&principal, &frame).await?;
                self.receipt(receipt.as_deref()).await;
                Ok(Flow::Continue)
            }
            Command::Unsubscribe => {
                let id = match (frame.header("id"), self.version) {
                    (Some(id), _) => id,
                    (None, Version::V1_0) => required(&frame, "destination")?,
                    (None, _) => return Err(missing(&frame, "id")),
                };
                self.state
                    .hub
                    .unsubscribe(self.session_id(), id)
                    .map_err(hub_fatal)?;
                self.receipt(receipt.as_deref()).await;
                Ok(Flow::Continue)
            }
            Command::Ack | Command::Nack => {
                ack_id(&frame, self.version)?;
                if let Some(tx) = frame.header("transaction").map(str::to_owned) {
                    self.stage(&tx, frame)?;
                } else {
                    self.apply_ack(&frame)?;
                }
                self.receipt(receipt.as_deref()).await;
                Ok(Flow::Continue)
            }
            Command::Begin => {
                let tx = required(&frame, "transaction")?;
                if self.transactions.contains_key(tx) {
                    return Err(Fatal::new(
                        "transaction",
                        format!("transaction {tx} is already open"),
                    ));
                }
                let limit = self.state.config.limits.max_transactions;
                if self.transactions.len() >= limit {
                    return Err(Fatal::new(
                        "transaction_limit",
                        format!("too many open transactions: the limit is {limit}"),
                    ));
                }
                self.transactions.insert(tx.to_owned(), Vec::new());
                self.receipt(receipt.as_deref()).await;
                Ok(Flow::Continue)
            }
            Command::Commit => {
                let tx = required(&frame, "transaction")?;
                let staged = self.transactions.remove(tx).ok_or_else(|| unknown_tx(tx))?;
                self.staged_bytes -= staged.iter().map(frame_size).sum::<usize>();
                for f in staged {
                    if f.command == Command::Send {
                        if let Flow::Close = self.apply_send(&principal, f).await? {
                            return Ok(Flow::Close);
                        }
                    } else {
                        self.apply_ack(&f)?;
                    }
                }
                self.receipt(receipt.as_deref()).await;
                Ok(Flow::Continue)
            }
            Command::Abort => {
                let tx = required(&frame, "transaction")?;
                let staged = self.transactions.remove(tx).ok_or_else(|| unknown_tx(tx))?;
                self.staged_bytes -= staged.iter().map(frame_size).sum::<usize>();
                self.receipt(receipt.as_deref()).await;
                Ok(Flow::Continue)
            }
            Command::Disconnect => {
                self.receipt(receipt.as_deref()).await;
                let _ = self.tx.send(Outbound::Close).await;
                Ok(Flow::Close)
            }
            Command::Connect | Command::Stomp => {
                Err(Fatal::new("already_connected", "already connected"))
            }
            other => Err(Fatal::new(
                "not_a_client_frame",
                format!("{other} is a server frame"),
            )),
        }
    }

    /// Adds a `SEND`, `ACK` or `NACK` to an open transaction, to apply at `COMMIT`.
    fn stage(&mut self, tx: &str, frame: Frame) -> Result<(), Fatal> {
        let limit = self.state.config.limits.max_frames_per_transaction;
        let staged = self
            .transactions
            .get_mut(tx)
            .ok_or_else(|| unknown_tx(tx))?;
        if staged.len() >= limit {
            return Err(Fatal::new(
                "transaction_limit",
                format!("transaction {tx} has more than {limit} frames"),
            ));
        }
        let bytes = frame_size(&frame);
        let max = self.state.config.limits.max_transaction_bytes;
        if self.staged_bytes + bytes > max {
            return Err(Fatal::new(
                "transaction_limit",
                format!("open transactions hold too much: the limit is {max} bytes per connection"),
            ));
        }
        self.staged_bytes += bytes;
        staged.push(frame);
        Ok(())
    }

    fn session_id(&self) -> SessionId {
        self.id.unwrap_or_default()
    }

    async fn connect(&mut self, frame: &Frame) -> Result<(), Fatal> {
        let Some(version) =
            tidings_stomp::negotiate_version(frame.header("accept-version"), &VERSIONS)
        else {
            return Err(Fatal {
                kind: "version",
                message: "Supported protocol versions are 1.0,1.1,1.2".into(),
                detail: String::new(),
            });
        };
        self.version = version;
        self.decoder.set_version(version);
        let theirs = HeartBeat::parse(frame.header("heart-beat")).ok_or_else(|| {
            Fatal::new(
                "malformed_frame",
                "malformed heart-beat header: expected two integers, as in 10000,10000",
            )
        })?;
        let token = frame
            .header("Authorization")
            .or_else(|| frame.header("authorization"))
            .map(|v| strip_bearer(v).to_owned())
            .or_else(|| frame.header("passcode").map(str::to_owned))
            .or_else(|| self.upgrade.token.clone())
            .unwrap_or_default();
        let principal = self
            .state
            .auth
            .verify(&token)
            .map_err(|e| Fatal::new(e.kind(), e.to_string()))?;
        self.state
            .app
            .authorize_connect(&principal)
            .await
            .map_err(|e| Fatal::new(e.kind(), e.to_string()))?;
        self.token_end = Some(Box::pin(self.state.auth.token_end(&principal)));
        let limits = &self.state.config.limits;
        let ours = HeartBeat {
            send_ms: if theirs.receive_ms == 0 {
                0
            } else {
                limits.heart_beat_send_ms
            },
            receive_ms: if theirs.send_ms == 0 {
                0
            } else {
                limits.heart_beat_receive_ms
            },
        };
        let (outgoing, incoming) = HeartBeat::agree(ours, theirs);
        // A beat may be late by as much as one interval (at least 500 ms) before the
        // peer counts as gone.
        self.incoming = incoming.map(|d| d + d.max(Duration::from_millis(500)));
        let id = self
            .state
            .hub
            .register(
                principal.clone(),
                version,
                self.tx.clone(),
                self.control.clone(),
            )
            .map_err(hub_fatal)?;
        self.id = Some(id);
        self.principal = Some(principal.clone());
        tracing::Span::current()
            .record("session", id)
            .record("user", &*principal.name);
        self.writer_cfg.send_replace(WriterConfig {
            version,
            session: id,
            heart_beat: outgoing,
        });
        self.reply(
            Frame::new(Command::Connected)
                .with_header("version", version.as_str())
                .with_header("heart-beat", ours.to_header())
                .with_header("session", id.to_string())
                .with_header("server", concat!("tidings/", env!("CARGO_PKG_VERSION")))
                .with_header("user-name", &*principal.name),
        )
        .await;
        tracing::info!(version = %version, "connected");
        self.state.app.on_connect(&principal, id).await;
        Ok(())
    }

    async fn subscribe(&mut self, principal: &Principal, frame: &Frame) -> Result<(), Fatal> {
        let destination = required(frame, "destination")?;
        let id = match (frame.header("id"), self.version) {
            (Some(id), _) => id,
            (None, Version::V1_0) => destination,
            (None, _) => return Err(missing(frame, "id")),
        };
        let ack = AckMode::parse(frame.header("ack")).ok_or_else(|| {
            Fatal::new(
                "malformed_frame",
                "invalid ack header: use auto, client or client-individual",
            )
        })?;
        match self
            .state
            .rules
            .check(principal, Action::Subscribe, destination)
        {
            Decision::Allow => {}
            Decision::Deny => {
                return Err(Fatal::new(
                    "forbidden",
                    format!("forbidden: you may not subscribe to {destination}"),
                ))
            }
            Decision::Unknown => {
                return Err(Fatal::new(
                    "unknown_destination",
                    format!("unknown destination {destination}"),
                ))
            }
        }
        self.state
            .app
            .authorize_subscribe(principal, destination)
            .await
            .map_err(|e| Fatal::new(e.kind(), e.to_string()))?;
        let key = user_key(&principal.name, destination).unwrap_or_else(|| destination.to_owned());
        self.state
            .hub
            .subscribe(self.session_id(), id, &key, destination, ack)
            .map_err(hub_fatal)
    }

    /// Delivers a `SEND` whose access was checked.
    async fn apply_send(&mut self, principal: &Principal, frame: Frame) -> Result<Flow, Fatal> {
        let receipt = frame.header("receipt").map(str::to_owned);
        let destination = required(&frame, "destination")?.to_owned();
        if destination.starts_with("/app/") {
            let send = AppSend {
                principal: principal.clone(),
                session: self.session_id(),
                destination,
                headers: frame.headers.clone(),
                body: frame.body.clone(),
            };
            if let Err(e) = self.state.app.on_send(send).await {
                if let AppError::Internal(cause) = &e {
                    tracing::error!(error = %cause, "application failed to handle a SEND");
                }
                return self.refuse_send(&frame, e.kind(), e.to_string()).await;
            }
        } else {
            let headers = frame
                .headers
                .iter()
                .filter(|(k, _)| !STRIPPED.contains(&k.to_ascii_lowercase().as_str()))
                .cloned()
                .collect();
            let message = Published::new(destination.clone(), headers, frame.body.clone());
            if let Err(e) = self.state.hub.publish(&destination, message, false) {
                return self.refuse_send(&frame, e.kind(), e.to_string()).await;
            }
        }
        self.receipt(receipt.as_deref()).await;
        Ok(Flow::Continue)
    }

    fn apply_ack(&self, frame: &Frame) -> Result<(), Fatal> {
        let id = ack_id(frame, self.version)?;
        self.state
            .hub
            .ack(self.session_id(), id, frame.command == Command::Nack)
            .map_err(hub_fatal)
    }

    /// A refused `SEND`: to `/user/queue/errors` if the session listens there, else fatal.
    async fn refuse_send(
        &self,
        frame: &Frame,
        kind: &'static str,
        message: String,
    ) -> Result<Flow, Fatal> {
        self.state.metrics.error(kind);
        let name = self
            .principal
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let body = serde_json::json!({
            "error": kind,
            "message": message,
            "destination": frame.header("destination"),
            "receiptId": frame.header("receipt"),
        });
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(r) = frame.header("receipt") {
            headers.push(("receipt-id".to_owned(), r.to_owned()));
        }
        let key = format!("/user/{name}/queue/errors");
        let msg = Published::new(key.clone(), headers, Bytes::from(body.to_string()));
        if self
            .state
            .hub
            .deliver_to_session(self.session_id(), &key, msg)
        {
            tracing::debug!(kind, %message, "SEND refused; reported on /user/queue/errors");
            Ok(Flow::Continue)
        } else {
            Err(Fatal::new(kind, message))
        }
    }
}

async fn write_loop<W>(
    mut sink: W,
    mut rx: mpsc::Receiver<Outbound>,
    control: Arc<Control>,
    cfg: watch::Receiver<WriterConfig>,
    metrics: Arc<crate::metrics::Metrics>,
) where
    W: Sink<Message> + Unpin,
    W::Error: std::fmt::Display,
{
    let token = control.token().clone();
    // Grows with the first busy moment; an idle connection keeps none.
    let mut batch: Vec<Bytes> = Vec::new();
    loop {
        let c = *cfg.borrow();
        let beat = async {
            match c.heart_beat {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let bytes = tokio::select! {
            biased;
            _ = token.cancelled() => {
                // Our own replies already queued (receipts) go out before the ERROR.
                batch.clear();
                while let Ok(item) = rx.try_recv() {
                    if let Outbound::Frame(b) = item {
                        batch.push(b);
                    }
                }
                batch.extend(control.take_fatal());
                if write_batch(&mut sink, &mut batch, &metrics).await.is_ok() {
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
                }
                return;
            }
            item = rx.recv() => match item {
                Some(Outbound::Frame(b)) => b,
                Some(Outbound::Deliver(d)) => encode_delivery(&d, c.version, c.session),
                Some(Outbound::Close) | None => {
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
                    return;
                }
            },
            _ = beat => Bytes::from_static(b"\n"),
        };
        // This frame and whatever else is queued already (up to BATCH) go out with one
        // flush: a busy connection costs one write per batch, not one per frame.
        batch.clear();
        batch.push(bytes);
        let mut close = false;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(Outbound::Frame(b)) => batch.push(b),
                Ok(Outbound::Deliver(d)) => batch.push(encode_delivery(&d, c.version, c.session)),
                Ok(Outbound::Close) => {
                    close = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if write_batch(&mut sink, &mut batch, &metrics).await.is_err() {
            control.token().cancel();
            return;
        }
        if close {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
            return;
        }
    }
}

/// Frames written with one flush at most.
const BATCH: usize = 64;

fn to_message(bytes: Bytes) -> Message {
    match axum::extract::ws::Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    }
}

/// Writes the frames in order and flushes once, within one write deadline.
async fn write_batch<W>(
    sink: &mut W,
    batch: &mut Vec<Bytes>,
    metrics: &crate::metrics::Metrics,
) -> Result<(), ()>
where
    W: Sink<Message> + Unpin,
    W::Error: std::fmt::Display,
{
    let frames = batch.iter().filter(|b| b.as_ref() != b"\n").count() as u64;
    let all = async {
        for b in batch.drain(..) {
            sink.feed(to_message(b)).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, all).await {
        Ok(Ok(())) => {
            metrics.frames_out.inc_by(frames);
            Ok(())
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "websocket write failed");
            Err(())
        }
        Err(_) => {
            tracing::info!("websocket write timed out; closing");
            Err(())
        }
    }
}

/// `MESSAGE` head for this delivery, then the message's shared tail.
fn encode_delivery(d: &Delivery, version: Version, session: SessionId) -> Bytes {
    let id = format!("{session}-{}", d.message_id);
    let mut head = Frame::new(Command::Message)
        .with_header("destination", &*d.destination)
        .with_header("message-id", &id)
        .with_header("subscription", &*d.subscription);
    if d.ack {
        head.push_header("ack", &id);
    }
    if d.redelivered {
        head.push_header("redelivered", "true");
    }
    let mut out = Vec::new();
    tidings_stomp::encode(&head, version, &mut out);
    // Drop the blank line and NUL that end the head on its own.
    out.truncate(out.len() - 2);
    out.extend_from_slice(d.message.tail(version));
    Bytes::from(out)
}

/// Whether a WebSocket read failed because a message or frame passed the size cap.
fn is_capacity_error(e: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    matches!(
        e.into_inner().downcast_ref::<Error>(),
        Some(Error::Capacity(_))
    )
}

fn strip_bearer(v: &str) -> &str {
    let v = v.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
        _ => v,
    }
}

/// `/user/queue/x` (or `/user/topic/x`) for `name`: `/user/name/queue/x`.
fn user_key(name: &str, destination: &str) -> Option<String> {
    let rest = destination.strip_prefix("/user/")?;
    (rest.starts_with("queue/") || rest.starts_with("topic/"))
        .then(|| format!("/user/{name}/{rest}"))
}

fn required<'f>(frame: &'f Frame, name: &str) -> Result<&'f str, Fatal> {
    frame.header(name).ok_or_else(|| missing(frame, name))
}

fn missing(frame: &Frame, name: &str) -> Fatal {
    Fatal::new(
        "missing_header",
        format!("{} frame requires a {name} header", frame.command),
    )
}

fn ack_id(frame: &Frame, version: Version) -> Result<&str, Fatal> {
    let id = match version {
        Version::V1_2 => frame.header("id").or_else(|| frame.header("message-id")),
        _ => frame.header("message-id").or_else(|| frame.header("id")),
    };
    id.ok_or_else(|| {
        missing(
            frame,
            if version == Version::V1_2 {
                "id"
            } else {
                "message-id"
            },
        )
    })
}

/// What a staged frame holds in memory, roughly: its encoded size plus a little per header.
fn frame_size(frame: &Frame) -> usize {
    let headers: usize = frame
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + 48)
        .sum();
    64 + headers + frame.body.len()
}

fn unknown_tx(tx: &str) -> Fatal {
    Fatal::new("transaction", format!("unknown transaction {tx}"))
}

fn hub_fatal(e: HubError) -> Fatal {
    Fatal::new(e.kind(), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_destinations_resolve_to_the_connected_user() {
        assert_eq!(
            user_key("alice", "/user/queue/inbox").as_deref(),
            Some("/user/alice/queue/inbox")
        );
        assert_eq!(
            user_key("alice", "/user/topic/x/y").as_deref(),
            Some("/user/alice/topic/x/y")
        );
        assert_eq!(user_key("alice", "/topic/x"), None);
        assert_eq!(user_key("alice", "/user/bob/queue/x"), None);
    }

    #[test]
    fn bearer_prefix_is_optional_and_case_insensitive() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer  abc "), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
    }
}
