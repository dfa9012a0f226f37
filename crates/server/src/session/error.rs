//! The STOMP wire's error vocabulary: [`StompError`], everything that can refuse a frame or
//! end a connection, and its one mapping to what the client and the metrics see: the
//! `ERROR` frame ([`StompError::error_frame`]), the JSON report on `/user/queue/errors`
//! ([`StompError::report`]) and the `tidings_stomp_errors_total{kind}` label
//! ([`StompError::kind`]). The `Display` text is the `message` the client reads.
//!
//! Nothing here logs or counts: the session does both, once, where it answers.

use crate::access::Action;
use crate::app::AppError;
use crate::auth::TokenError;
use crate::hub::{error_frame, HubError};
use bytes::Bytes;
use tidings_stomp::{Command, DecodeError, Version};

use super::transactions::TxError;

/// Why a frame was refused or the connection ends.
#[derive(Debug, thiserror::Error)]
pub enum StompError {
    #[error("server is shutting down")]
    Shutdown,
    #[error("no CONNECT frame within {secs} s of the upgrade")]
    ConnectTimeout { secs: f64 },
    #[error("heart-beat timeout: nothing received for {ms} ms")]
    HeartbeatTimeout { ms: u128 },
    #[error("too many frames: the limit is {per_second} per second per connection")]
    FrameRate { per_second: u32 },
    /// The bytes are not STOMP, or a frame passed a codec limit.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// No version in common; the `ERROR` frame lists the server's.
    #[error("Supported protocol versions are 1.0,1.1,1.2")]
    Version,
    /// A header the codec accepts but this command cannot use.
    #[error("{0}")]
    BadHeader(&'static str),
    #[error("{command} frame requires a {name} header")]
    MissingHeader {
        command: Command,
        name: &'static str,
    },
    #[error("expected CONNECT, got {0}")]
    NotConnected(Command),
    #[error("already connected")]
    AlreadyConnected,
    #[error("{0} is a server frame")]
    NotAClientFrame(Command),
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The relay's system login with a wrong passcode.
    #[error("wrong passcode for the system login: check the relay's systemPasscode against stomp_tcp.system_passcode")]
    SystemPasscode,
    #[error("the relay's system session may not SUBSCRIBE: it only sends for the application")]
    SystemSubscribe,
    #[error("rate limit exceeded: at most {per_minute} SEND frames per minute per user")]
    RateLimited { per_minute: u32 },
    /// The access rules deny the action.
    #[error("forbidden: you may not {} {destination}", verb(*action))]
    Forbidden { action: Action, destination: String },
    /// No access rule covers the destination.
    #[error("unknown destination {0}")]
    UnknownDestination(String),
    #[error(transparent)]
    Transaction(#[from] TxError),
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    App(#[from] AppError),
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Send => "send to",
        Action::Subscribe => "subscribe to",
    }
}

impl StompError {
    /// The machine-readable kind: the metric label, and `error` in JSON reports.
    pub fn kind(&self) -> &'static str {
        match self {
            StompError::Shutdown => "shutdown",
            StompError::ConnectTimeout { .. } => "connect_timeout",
            StompError::HeartbeatTimeout { .. } => "heartbeat_timeout",
            StompError::FrameRate { .. } => "frame_rate",
            StompError::Decode(e) => match e {
                DecodeError::FrameTooLarge { .. } | DecodeError::BodyTooLarge { .. } => {
                    "frame_too_large"
                }
                DecodeError::TooManyHeaders { .. } | DecodeError::HeaderLineTooLong { .. } => {
                    "header_limit"
                }
                DecodeError::UnknownCommand(_) => "unknown_command",
                DecodeError::MalformedHeader(_)
                | DecodeError::BadEscape(_)
                | DecodeError::NotUtf8
                | DecodeError::BadContentLength(_)
                | DecodeError::MissingNul
                | DecodeError::UnexpectedBody(_)
                | DecodeError::StrayCarriageReturn => "malformed_frame",
            },
            StompError::Version => "version",
            StompError::BadHeader(_) => "malformed_frame",
            StompError::MissingHeader { .. } => "missing_header",
            StompError::NotConnected(_) => "not_connected",
            StompError::AlreadyConnected => "already_connected",
            StompError::NotAClientFrame(_) => "not_a_client_frame",
            StompError::Token(e) => e.kind(),
            StompError::SystemPasscode => "system_login_refused",
            StompError::SystemSubscribe => "forbidden",
            StompError::RateLimited { .. } => "rate_limited",
            StompError::Forbidden { .. } => "forbidden",
            StompError::UnknownDestination(_) => "unknown_destination",
            StompError::Transaction(e) => e.kind(),
            StompError::Hub(e) => e.kind(),
            StompError::App(e) => e.kind(),
        }
    }

    /// Whether this is the server's own doing rather than the peer's (logged quietly).
    pub fn is_expected(&self) -> bool {
        matches!(self, StompError::Shutdown)
    }

    /// The `ERROR` frame that ends the connection.
    pub fn error_frame(&self, version: Version, receipt: Option<&str>) -> Bytes {
        // A failed version negotiation lists what the server speaks.
        let extra: &[(&str, &str)] = match self {
            StompError::Version => &[("version", "1.0,1.1,1.2")],
            _ => &[],
        };
        error_frame(version, &self.to_string(), "", receipt, extra)
    }

    /// The JSON body of a refused `SEND` reported on `/user/queue/errors`.
    pub fn report(&self, destination: Option<&str>, receipt: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "error": self.kind(),
            "message": self.to_string(),
            "destination": destination,
            "receiptId": receipt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_kinds_are_the_ones_clients_and_dashboards_know() {
        let cases: [(StompError, &str, &str); 6] = [
            (
                StompError::Forbidden {
                    action: Action::Send,
                    destination: "/topic/x".into(),
                },
                "forbidden",
                "forbidden: you may not send to /topic/x",
            ),
            (
                StompError::Forbidden {
                    action: Action::Subscribe,
                    destination: "/topic/x".into(),
                },
                "forbidden",
                "forbidden: you may not subscribe to /topic/x",
            ),
            (
                StompError::MissingHeader {
                    command: Command::Send,
                    name: "destination",
                },
                "missing_header",
                "SEND frame requires a destination header",
            ),
            (
                StompError::Decode(DecodeError::HeaderLineTooLong { limit: 8 }),
                "header_limit",
                "header line too long: the limit is 8 bytes",
            ),
            (
                StompError::Transaction(TxError::Unknown("t".into())),
                "transaction",
                "unknown transaction t",
            ),
            (
                StompError::App(AppError::NoAccount("no account".into())),
                "no_account",
                "no account",
            ),
        ];
        for (e, kind, message) in cases {
            assert_eq!((e.kind(), e.to_string().as_str()), (kind, message));
        }
    }

    #[test]
    fn a_version_error_lists_the_versions_the_server_speaks() {
        let frame = StompError::Version.error_frame(Version::V1_2, Some("r1"));
        let text = String::from_utf8_lossy(&frame);
        assert!(text.starts_with("ERROR\n"), "{text}");
        assert!(text.contains("\nversion:1.0,1.1,1.2\n"), "{text}");
        assert!(text.contains("\nreceipt-id:r1\n"), "{text}");
    }
}
