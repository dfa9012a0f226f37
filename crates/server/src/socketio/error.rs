//! Why a Socket.IO connection or event was refused: the one mapping to what the client
//! sees (a `connect_error` message, or `message:error` and the ack's `{ok: false}`).

use crate::app::AppError;
use crate::auth::TokenError;
use crate::chat::ChatError;
use crate::hub::HubError;
use serde_json::{json, Value};

/// A refused handshake; the text is the `connect_error`'s `message`.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("missing access token: send it as auth.token in the Socket.IO handshake, or as an 'Authorization: Bearer <jwt>' header")]
    MissingToken,
    #[error("{0}")]
    Token(TokenError),
    #[error("{0}")]
    Refused(AppError),
    #[error("{0}")]
    Hub(#[from] HubError),
    #[error("too many Socket.IO connections on this server: the limit is {0}; try again later")]
    TooMany(usize),
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// A refused client event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("{0}")]
    Invalid(String),
    #[error("unknown event {0:?}: see docs/socketio.md for the events this server takes")]
    UnknownEvent(String),
    #[error("{0}")]
    Chat(#[from] ChatError),
    #[error("{0}")]
    App(#[from] AppError),
    #[error("{0}")]
    Hub(#[from] HubError),
    #[error("rate limit exceeded: at most {0} events per minute on one connection")]
    RateLimited(u32),
    #[error(
        "too many events waiting on this connection: wait for the answers before sending more"
    )]
    Overloaded,
}

impl EventError {
    pub fn code(&self) -> &'static str {
        match self {
            EventError::Invalid(_) => "invalid",
            EventError::UnknownEvent(_) => "unknown_event",
            EventError::Chat(e) => e.code(),
            EventError::App(e) => e.kind(),
            EventError::Hub(e) => e.kind(),
            EventError::RateLimited(_) | EventError::Overloaded => "rate_limited",
        }
    }

    /// `message:error`'s payload: the seeds' `{error}` plus a code and what it was about.
    pub fn payload(&self, event: &str, about: &Value) -> Value {
        let mut v = json!({"error": self.to_string(), "code": self.code(), "event": event});
        for key in ["conversationId", "clientId"] {
            if let Some(x) = about.get(key) {
                v[key] = x.clone();
            }
        }
        v
    }
}
