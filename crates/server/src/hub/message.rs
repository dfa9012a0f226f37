//! What passes between the hub and the connections: a published message (encoded once per
//! protocol version, shared by every delivery), a delivery to one subscription, what a
//! connection's writer is handed, how a connection is ended from outside, and why the hub
//! refuses an operation.

use bytes::Bytes;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tidings_stomp::{MessageTail, Version};
use tokio_util::sync::CancellationToken;

pub type SessionId = u64;

/// How a subscription acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    Auto,
    Client,
    ClientIndividual,
}

impl AckMode {
    pub fn parse(s: Option<&str>) -> Option<AckMode> {
        match s {
            None | Some("auto") => Some(AckMode::Auto),
            Some("client") => Some(AckMode::Client),
            Some("client-individual") => Some(AckMode::ClientIndividual),
            Some(_) => None,
        }
    }
}

/// A published message: headers and body as sent, plus its encoded [`MessageTail`] per
/// version (headers after the per-delivery ones, blank line, body, NUL), made once.
#[derive(Debug)]
pub struct Published {
    pub destination: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    tails: [OnceLock<MessageTail>; 3],
}

impl Published {
    /// `headers` are the application's; `content-length` is set from the body.
    pub fn new(destination: String, mut headers: Vec<(String, String)>, body: Bytes) -> Arc<Self> {
        headers.retain(|(k, _)| k != "content-length");
        headers.push(("content-length".into(), body.len().to_string()));
        Arc::new(Published {
            destination,
            headers,
            body,
            tails: Default::default(),
        })
    }

    /// What keeping this message costs, roughly: body, headers, destination and the
    /// bookkeeping around them. Backlog limits count this.
    pub fn size(&self) -> usize {
        const OVERHEAD: usize = 256;
        self.body.len()
            + self.destination.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 48)
                .sum::<usize>()
            + OVERHEAD
    }

    /// The part of the `MESSAGE` frame every delivery shares, for `version`.
    pub fn tail(&self, version: Version) -> &MessageTail {
        self.tails[version as usize]
            .get_or_init(|| MessageTail::encode(&self.headers, &self.body, version))
    }
}

/// A subscription's names as its deliveries carry them, shared by all of them.
#[derive(Debug)]
pub struct SubNames {
    pub id: Arc<str>,
    /// The destination the subscriber named (`/user/queue/x` for user destinations).
    pub destination: Arc<str>,
}

/// One message for one subscription, handed to the connection's writer. Kept small (one
/// pointer for the subscription's names): every connection's outbound queue holds its
/// slots from the start, idle or not.
#[derive(Debug)]
pub struct Delivery {
    pub names: Arc<SubNames>,
    pub message_id: u64,
    /// Whether the frame carries an `ack` header (client acknowledgement).
    pub ack: bool,
    pub redelivered: bool,
    pub message: Arc<Published>,
}

impl Delivery {
    pub fn subscription(&self) -> &str {
        &self.names.id
    }

    pub fn destination(&self) -> &str {
        &self.names.destination
    }
}

/// What a connection's writer is handed, in order.
#[derive(Debug)]
pub enum Outbound {
    /// A frame already encoded for this connection.
    Frame(Bytes),
    Deliver(Delivery),
    /// Close the connection after what came before is written.
    Close,
}

/// Ends a connection from outside its tasks, with a last `ERROR` frame.
#[derive(Debug, Default)]
pub struct Closer {
    token: CancellationToken,
    fatal: Mutex<Option<Bytes>>,
}

impl Closer {
    /// Asks the connection to write `error_frame` and close; the first call wins.
    pub fn fail(&self, error_frame: Bytes) {
        let mut slot = self.fatal.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() && !self.token.is_cancelled() {
            *slot = Some(error_frame);
        }
        drop(slot);
        self.token.cancel();
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub fn take_fatal(&self) -> Option<Bytes> {
        self.fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Why the hub refused an operation. The text goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    #[error("subscription id {0:?} is already in use on this connection")]
    DuplicateSubscription(String),
    #[error("too many subscriptions: the limit is {0} per connection")]
    TooManySubscriptions(usize),
    #[error("no subscription with id {0:?}")]
    UnknownSubscription(String),
    #[error("no unacknowledged message with id {0:?}")]
    UnknownAck(String),
    #[error("queue {0} is full: nobody is consuming it")]
    QueueFull(String),
    #[error("queue {queue} is full: messages waiting for consumers over all queues reached the limit of {limit} bytes")]
    BacklogBytes { queue: String, limit: usize },
    #[error("queue {queue} is full: the limit is {limit} queues holding messages nobody consumes")]
    BacklogQueues { queue: String, limit: usize },
    #[error("too many connections for user {user}: the limit is {limit}")]
    TooManyConnections { user: String, limit: usize },
}

impl HubError {
    pub fn kind(&self) -> &'static str {
        match self {
            HubError::DuplicateSubscription(_) => "duplicate_subscription",
            HubError::TooManySubscriptions(_) => "subscription_limit",
            HubError::UnknownSubscription(_) => "unknown_subscription",
            HubError::UnknownAck(_) => "unknown_ack",
            HubError::QueueFull(_) => "queue_full",
            HubError::BacklogBytes { .. } | HubError::BacklogQueues { .. } => "backlog_limit",
            HubError::TooManyConnections { .. } => "connection_limit",
        }
    }
}

/// Builds the `ERROR` frame used to end a slow or misbehaving connection.
pub fn error_frame(
    version: Version,
    message: &str,
    detail: &str,
    receipt: Option<&str>,
    extra: &[(&str, &str)],
) -> Bytes {
    let mut f = tidings_stomp::Frame::new(tidings_stomp::Command::Error)
        .with_header("message", message.replace(['\n', '\r'], " "));
    if let Some(r) = receipt {
        f.push_header("receipt-id", r);
    }
    for (k, v) in extra {
        f.push_header(*k, *v);
    }
    f.push_header("content-type", "text/plain");
    tidings_stomp::encode_to_bytes(&f.with_body(Bytes::from(detail.to_owned())), version)
}
