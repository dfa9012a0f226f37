//! `CONNECT` (and `STOMP`): version and heart-beat negotiation, the access token (or, on
//! a listener that has one, the relay's system login), the application's consent,
//! registration with the hub, and the `CONNECTED` reply.

use super::error::StompError;
use super::writer::WriterConfig;
use super::Session;
use crate::auth::Principal;
use crate::stomp_tcp::system::{SystemCheck, SystemLogin};
use std::time::Duration;
use tidings_stomp::{Command, Frame, HeartBeat, Version};

/// Versions this server speaks.
const VERSIONS: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

impl Session {
    pub(super) async fn on_connect(&mut self, frame: &Frame) -> Result<(), StompError> {
        let version = tidings_stomp::negotiate_version(frame.header("accept-version"), &VERSIONS)
            .ok_or(StompError::Version)?;
        self.version = version;
        self.decoder.set_version(version);
        let theirs = HeartBeat::parse(frame.header("heart-beat")).ok_or(StompError::BadHeader(
            "malformed heart-beat header: expected two integers, as in 10000,10000",
        ))?;
        let principal = match self.system_check(frame) {
            SystemCheck::Granted => {
                self.system = true;
                SystemLogin::principal()
            }
            SystemCheck::WrongPasscode => return Err(StompError::SystemPasscode),
            SystemCheck::NotSystem => self.user(frame).await?,
        };
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
        let id = self.state.hub.register(
            principal.clone(),
            version,
            self.tx.clone(),
            self.control.clone(),
        )?;
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
        tracing::info!(version = %version, system = self.system, "connected");
        if !self.system {
            self.state.app.on_connect(&principal, id).await;
        }
        Ok(())
    }

    /// Whether this `CONNECT` claims the relay's system login. A frame with an
    /// `Authorization` header is a user's, whatever its `login`: a relay forwards each
    /// client's own headers with its `clientLogin`/`clientPasscode` put in.
    fn system_check(&self, frame: &Frame) -> SystemCheck {
        match &self.upgrade.system {
            Some(system) if authorization(frame).is_none() => {
                system.check(frame.header("login"), frame.header("passcode"))
            }
            _ => SystemCheck::NotSystem,
        }
    }

    /// The user an access token names, with the application's consent; the session ends
    /// when the token does.
    async fn user(&mut self, frame: &Frame) -> Result<Principal, StompError> {
        // The upgrade's token is taken, not copied: a connection would otherwise hold it
        // for its whole life, and it is read once.
        let upgrade_token = self.upgrade.token.take();
        let token = authorization(frame)
            .map(|v| strip_bearer(v).to_owned())
            .or_else(|| frame.header("passcode").map(str::to_owned))
            .or(upgrade_token)
            .unwrap_or_default();
        let principal = self.state.auth.verify(&token)?;
        self.state.app.authorize_connect(&principal).await?;
        self.token_end = Some(Box::pin(self.state.auth.token_end(&principal)));
        Ok(principal)
    }
}

fn authorization(frame: &Frame) -> Option<&str> {
    frame
        .header("Authorization")
        .or_else(|| frame.header("authorization"))
}

fn strip_bearer(v: &str) -> &str {
    let v = v.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_prefix_is_optional_and_case_insensitive() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer  abc "), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
    }
}
