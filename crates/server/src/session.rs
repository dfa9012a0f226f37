//! One STOMP connection: the reader that decodes client frames and hands each to its
//! command's handler (`commands`, `connect`), and the writer task (`writer`) that owns the
//! socket's sending half and the bounded outbound queue.
//!
//! Error policy. Protocol errors (unparseable frame, a limit passed, a missing header,
//! an unknown transaction or ack id, a refused `SUBSCRIBE`, a bad token) end the
//! connection with an `ERROR` frame whose `message` names the problem, as STOMP requires.
//! A refused `SEND` (forbidden or unknown destination, rate limit, invalid body, full
//! queue) goes as a JSON message to the sender's own `/user/queue/errors` subscription when
//! it has one, and the connection goes on; without that subscription it is an `ERROR` too.
//! Either way nothing is delivered and nothing stored is touched. Every error is a
//! `StompError`; its one mapping to the wire is in `error`.
//!
//! Transports. A session knows no WebSocket or TCP: it reads [`Inbound`] items and writes
//! encoded frames (`Bytes`) to a sink. `ws` adapts a WebSocket (one message may hold
//! several frames; each message is charged to the frame budget), `stomp_tcp` a byte stream
//! (NUL-terminated frames, EOLs between them as heart-beats; reads are not charged, frames
//! are).

mod commands;
mod connect;
mod error;
mod transactions;
mod writer;

use crate::auth::{Principal, TokenError};
use crate::budget::FrameBudget;
use crate::hub::outbox;
use crate::hub::{Closer, Outbound, SessionId};
use crate::ServerState;
use bytes::Bytes;
use error::StompError;
use futures_util::{Sink, Stream, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tidings_stomp::{Command, DecodeError, Decoder, Frame, Item, Version};
use tokio::sync::watch;
use tracing::Instrument;
use transactions::{Transactions, TxLimits};
use writer::{write_loop, WriterConfig};

/// What the transport told us before the first frame.
#[derive(Debug, Default)]
pub struct Upgrade {
    /// `?token=` or an HTTP `Authorization: Bearer` on the upgrade request.
    pub token: Option<String>,
    pub remote: Option<std::net::SocketAddr>,
    /// The relay's system login, on a listener that accepts one (STOMP over TCP).
    pub system: Option<Arc<crate::stomp_tcp::system::SystemLogin>>,
}

/// One item from the transport.
#[derive(Debug)]
pub enum Inbound {
    /// A WebSocket message's payload: charged to the frame budget, then decoded.
    Message(Bytes),
    /// Bytes read from a stream: decoded; only the frames in them are charged.
    Bytes(Bytes),
    /// A WebSocket ping or pong: charged, nothing to decode.
    Control,
    /// The transport refused a message past its size cap.
    TooLarge,
    /// The peer closed, or the transport failed (it cannot be answered in STOMP).
    Closed,
}

/// Whether the connection goes on after a frame.
enum Flow {
    Continue,
    Close,
}

/// Runs a connection to its end: frames come from `stream`, encoded frames go to `sink`.
/// Generic over both so that every transport (and a test) drives the same session.
///
/// Not an `async fn`: an async function keeps its arguments in its future for its whole
/// life, beside the session they are moved into, and this future is what an idle
/// connection is made of (docs/benchmarks.md, "Idle"). The session is built and the writer
/// started here, in the caller's task (a runtime's, as the transports call it); the future
/// holds the session once.
pub fn run<R, W>(
    stream: R,
    sink: W,
    state: ServerState,
    upgrade: Upgrade,
) -> impl std::future::Future<Output = ()> + Send
where
    R: Stream<Item = Inbound> + Unpin + Send + 'static,
    W: Sink<Bytes> + Unpin + Send + 'static,
    W::Error: std::fmt::Display,
{
    let span = tracing::info_span!("conn", remote = ?upgrade.remote, session = tracing::field::Empty, user = tracing::field::Empty);
    let (tx, rx) = outbox::channel(state.config.limits.outbound_queue);
    let control = Arc::new(Closer::default());
    let (cfg_tx, cfg_rx) = watch::channel(WriterConfig {
        version: Version::V1_2,
        session: 0,
        heart_beat: None,
    });
    let writer = tokio::spawn(
        write_loop(sink, rx, control.clone(), cfg_rx, state.metrics.clone())
            .instrument(span.clone()),
    );
    let limits = &state.config.limits;
    let mut session = Session {
        decoder: Decoder::new(limits.stomp()),
        transactions: Transactions::new(TxLimits {
            max_transactions: limits.max_transactions,
            max_frames: limits.max_frames_per_transaction,
            max_bytes: limits.max_transaction_bytes,
        }),
        budget: FrameBudget::new(limits.frames_per_second, tokio::time::Instant::now()),
        state,
        upgrade,
        tx,
        control,
        writer_cfg: cfg_tx,
        id: None,
        principal: None,
        system: false,
        version: Version::V1_2,
        incoming: None,
        token_end: None,
    };
    async move {
        session.read_loop(stream).await;
        // Boxed for the reason `take` boxes a frame's handling: run once, at the end.
        Box::pin(session.finish()).await;
        drop(session);
        let _ = writer.await;
    }
    .instrument(span)
}

struct Session {
    state: ServerState,
    upgrade: Upgrade,
    decoder: Decoder,
    tx: outbox::Sender<Outbound>,
    control: Arc<Closer>,
    writer_cfg: watch::Sender<WriterConfig>,
    id: Option<SessionId>,
    principal: Option<Principal>,
    /// Connected with the relay's system login (see `stomp_tcp::system`).
    system: bool,
    version: Version,
    /// How long the peer may stay silent once connected.
    incoming: Option<Duration>,
    transactions: Transactions,
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

/// What one read from the socket gave.
enum Read {
    /// STOMP bytes to decode.
    Bytes(Bytes),
    /// Nothing to decode (a ping or a pong).
    Skip,
    /// The peer closed the socket or is gone.
    End,
}

impl Session {
    async fn read_loop<R>(&mut self, mut stream: R)
    where
        R: Stream<Item = Inbound> + Unpin,
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
                _ = shutdown.cancelled() => Err(StompError::Shutdown),
                e = token_ended(&mut self.token_end) => Err(StompError::from(e)),
                msg = next => Ok(msg),
            };
            let flow = match msg.and_then(|msg| self.received(msg)) {
                Ok(Read::Bytes(data)) => self.take(&data).await,
                Ok(Read::Skip) => Ok(Flow::Continue),
                Ok(Read::End) => Ok(Flow::Close),
                Err(e) => Err((e, None)),
            };
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) => return,
                Err((e, receipt)) => {
                    self.fail(e, receipt.as_deref());
                    return;
                }
            }
        }
    }

    /// Sorts what the socket gave (`None`: the read deadline passed) and charges it.
    fn received(&mut self, msg: Option<Option<Inbound>>) -> Result<Read, StompError> {
        let data = match msg {
            None if self.id.is_none() => {
                let secs = self.state.config.limits.connect_timeout().as_secs_f64();
                return Err(StompError::ConnectTimeout { secs });
            }
            None => {
                let ms = self.incoming.map(|d| d.as_millis()).unwrap_or_default();
                return Err(StompError::HeartbeatTimeout { ms });
            }
            Some(None) | Some(Some(Inbound::Closed)) => return Ok(Read::End),
            Some(Some(Inbound::TooLarge)) => {
                let limit = self.state.config.limits.max_frame_bytes;
                return Err(DecodeError::FrameTooLarge { limit }.into());
            }
            // Not the peer's unit: the frames decoded from them are charged.
            Some(Some(Inbound::Bytes(b))) => return Ok(Read::Bytes(b)),
            Some(Some(Inbound::Message(b))) => Read::Bytes(b),
            // A ping (answered by the WebSocket layer) or a pong: charged like a frame.
            Some(Some(Inbound::Control)) => Read::Skip,
        };
        self.charge()?;
        Ok(data)
    }

    /// Decodes what arrived and handles each complete frame. An error comes with the
    /// failing frame's `receipt`, if it had one.
    async fn take(&mut self, data: &[u8]) -> Result<Flow, (StompError, Option<String>)> {
        self.decoder.extend(data);
        loop {
            let frame = match self.decoder.decode() {
                Ok(None) => {
                    // The peer may now stay silent for long: hold no input buffer meanwhile.
                    self.decoder.release();
                    return Ok(Flow::Continue);
                }
                Ok(Some(Item::HeartBeat)) => continue,
                Ok(Some(Item::Frame(frame))) => frame,
                Err(e) => return Err((e.into(), None)),
            };
            // What a lost receipt needs to be traced (`RUST_LOG=tidings_server::session=trace`):
            // the command and its receipt id, never a header that may carry a secret.
            tracing::trace!(
                command = frame.command.as_str(),
                receipt = frame.header("receipt"),
                "frame in"
            );
            self.charge().map_err(|e| (e, None))?;
            self.state
                .metrics
                .frames_in
                .get_or_create(&crate::metrics::CommandLabel {
                    command: frame.command.as_str(),
                })
                .inc();
            let receipt = frame.header("receipt").map(str::to_owned);
            // Boxed: the handlers' futures (store and application calls) are large, and
            // inline they would make every connection's task that large for its whole
            // life, idle or not. Boxed, the memory is taken only while a frame is handled.
            match Box::pin(self.handle(frame)).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) => return Ok(Flow::Close),
                Err(e) => return Err((e, receipt)),
            }
        }
    }

    /// Charges one inbound message or frame to the connection's budget.
    fn charge(&mut self) -> Result<(), StompError> {
        if self.budget.take(tokio::time::Instant::now()) {
            return Ok(());
        }
        Err(StompError::FrameRate {
            per_second: self.budget.per_second(),
        })
    }

    /// Ends the connection with an `ERROR` frame: the one place a fatal error is counted
    /// and logged.
    fn fail(&self, e: StompError, receipt: Option<&str>) {
        let kind = e.kind();
        self.state.metrics.error(kind);
        if e.is_expected() {
            tracing::debug!(message = %e, "closing connection");
        } else {
            tracing::info!(kind, message = %e, "protocol error; closing connection");
        }
        self.control.fail(e.error_frame(self.version, receipt));
    }

    async fn finish(&mut self) {
        if let (Some(id), Some(p)) = (self.id, self.principal.clone()) {
            self.state.hub.unregister(id);
            if !self.system {
                self.state.app.on_disconnect(&p, id).await;
            }
        }
        self.transactions.clear();
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
            tracing::trace!(receipt = r, "RECEIPT queued");
        }
    }

    fn session_id(&self) -> SessionId {
        self.id.unwrap_or_default()
    }
}
