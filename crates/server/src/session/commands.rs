//! The client commands after `CONNECT`, one handler each: `SEND`, `SUBSCRIBE`,
//! `UNSUBSCRIBE`, `ACK`/`NACK`, `BEGIN`, `COMMIT`, `ABORT`, `DISCONNECT`; the access check
//! both `SEND` and `SUBSCRIBE` pass; and how a refused `SEND` is reported.

use super::error::StompError;
use super::{Flow, Session};
use crate::access::{Action, Decision};
use crate::app::{AppError, AppSend};
use crate::auth::Principal;
use crate::hub::{AckMode, Outbound, Published};
use bytes::Bytes;
use std::time::Instant;
use tidings_stomp::{Command, Frame, Version};

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

impl Session {
    /// Hands a frame to its command's handler. Before `CONNECT`, only `CONNECT` is taken.
    pub(super) async fn handle(&mut self, frame: Frame) -> Result<Flow, StompError> {
        let Some(principal) = self.principal.clone() else {
            return match frame.command {
                Command::Connect | Command::Stomp => {
                    self.on_connect(&frame).await.map(|()| Flow::Continue)
                }
                other => Err(StompError::NotConnected(other)),
            };
        };
        let receipt = frame.header("receipt").map(str::to_owned);
        let flow = match frame.command {
            Command::Send => return self.on_send(&principal, frame).await,
            Command::Subscribe => self.on_subscribe(&principal, &frame).await?,
            Command::Unsubscribe => self.on_unsubscribe(&frame)?,
            Command::Ack | Command::Nack => self.on_ack(frame)?,
            Command::Begin => self.on_begin(&frame)?,
            Command::Commit => self.on_commit(&principal, &frame).await?,
            Command::Abort => self.on_abort(&frame)?,
            Command::Disconnect => {
                self.receipt(receipt.as_deref()).await;
                let _ = self.tx.send(Outbound::Close).await;
                return Ok(Flow::Close);
            }
            Command::Connect | Command::Stomp => return Err(StompError::AlreadyConnected),
            other => return Err(StompError::NotAClientFrame(other)),
        };
        if let Flow::Continue = flow {
            self.receipt(receipt.as_deref()).await;
        }
        Ok(flow)
    }

    /// The access rules' answer for `action` on `destination`, as an error when it is no.
    fn check_access(
        &self,
        principal: &Principal,
        action: Action,
        destination: &str,
    ) -> Result<(), StompError> {
        match self.state.rules.check(principal, action, destination) {
            Decision::Allow => Ok(()),
            Decision::Deny => Err(StompError::Forbidden {
                action,
                destination: destination.to_owned(),
            }),
            Decision::Unknown => Err(StompError::UnknownDestination(destination.to_owned())),
        }
    }

    /// `SEND`: checked now (rate, access), then delivered or staged in its transaction.
    async fn on_send(&mut self, principal: &Principal, frame: Frame) -> Result<Flow, StompError> {
        let destination = required(&frame, "destination")?;
        // The system session speaks for everyone: only its frame budget bounds it, and the
        // chat's commands (`/app/**`) act for a user (see `stomp_tcp::system`).
        let allowed = if self.system && destination.starts_with("/app/") {
            Err(StompError::Forbidden {
                action: Action::Send,
                destination: destination.to_owned(),
            })
        } else if self.system || self.state.rate.allow(&principal.name, Instant::now()).await {
            self.check_access(principal, Action::Send, destination)
        } else {
            Err(StompError::RateLimited {
                per_minute: self.state.config.limits.sends_per_minute,
            })
        };
        if let Err(e) = allowed {
            return self.refuse_send(&frame, e).await;
        }
        if let Some(tx) = frame.header("transaction").map(str::to_owned) {
            let receipt = frame.header("receipt").map(str::to_owned);
            self.transactions.stage(&tx, frame)?;
            self.receipt(receipt.as_deref()).await;
            return Ok(Flow::Continue);
        }
        self.apply_send(principal, frame).await
    }

    /// Delivers a `SEND` whose access was checked, and sends its receipt.
    async fn apply_send(
        &mut self,
        principal: &Principal,
        frame: Frame,
    ) -> Result<Flow, StompError> {
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
                return self.refuse_send(&frame, e.into()).await;
            }
        } else {
            let headers = frame
                .headers
                .iter()
                .filter(|(k, _)| !STRIPPED.contains(&k.to_ascii_lowercase().as_str()))
                .cloned()
                .collect();
            let message = Published::new(destination.clone(), headers, frame.body.clone());
            let published = self
                .state
                .broker()
                .publish_message(&destination, message, false);
            if let Err(e) = published {
                return self.refuse_send(&frame, e.into()).await;
            }
        }
        self.receipt(receipt.as_deref()).await;
        Ok(Flow::Continue)
    }

    /// A refused `SEND`: to `/user/queue/errors` if the session listens there, else fatal.
    async fn refuse_send(&self, frame: &Frame, e: StompError) -> Result<Flow, StompError> {
        let name = self
            .principal
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let receipt = frame.header("receipt");
        let body = e.report(frame.header("destination"), receipt);
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(r) = receipt {
            headers.push(("receipt-id".to_owned(), r.to_owned()));
        }
        let key = format!("/user/{name}/queue/errors");
        let msg = Published::new(key.clone(), headers, Bytes::from(body.to_string()));
        if self
            .state
            .hub
            .deliver_to_session(self.session_id(), &key, msg)
        {
            let kind = e.kind();
            self.state.metrics.error(kind);
            tracing::debug!(kind, message = %e, "SEND refused; reported on /user/queue/errors");
            Ok(Flow::Continue)
        } else {
            Err(e)
        }
    }

    async fn on_subscribe(
        &mut self,
        principal: &Principal,
        frame: &Frame,
    ) -> Result<Flow, StompError> {
        if self.system {
            return Err(StompError::SystemSubscribe);
        }
        let destination = required(frame, "destination")?;
        let id = match (frame.header("id"), self.version) {
            (Some(id), _) => id,
            (None, Version::V1_0) => destination,
            (None, _) => return Err(missing(frame, "id")),
        };
        let ack = AckMode::parse(frame.header("ack")).ok_or(StompError::BadHeader(
            "invalid ack header: use auto, client or client-individual",
        ))?;
        self.check_access(principal, Action::Subscribe, destination)?;
        let key = user_key(&principal.name, destination).unwrap_or_else(|| destination.to_owned());
        // Authorized against the store, then subscribed unless someone's access was revoked
        // meanwhile (then asked again): a removal cannot slip between the two.
        loop {
            let ticket = self.state.hub.revocation_ticket();
            self.state
                .app
                .authorize_subscribe(principal, destination)
                .await?;
            if self.state.hub.subscribe_unless_revoked(
                ticket,
                self.session_id(),
                id,
                &key,
                destination,
                ack,
            )? {
                return Ok(Flow::Continue);
            }
        }
    }

    fn on_unsubscribe(&mut self, frame: &Frame) -> Result<Flow, StompError> {
        let id = match (frame.header("id"), self.version) {
            (Some(id), _) => id,
            (None, Version::V1_0) => required(frame, "destination")?,
            (None, _) => return Err(missing(frame, "id")),
        };
        self.state.hub.unsubscribe(self.session_id(), id)?;
        Ok(Flow::Continue)
    }

    /// `ACK` or `NACK`: applied now, or staged in its transaction.
    fn on_ack(&mut self, frame: Frame) -> Result<Flow, StompError> {
        ack_id(&frame, self.version)?;
        match frame.header("transaction").map(str::to_owned) {
            Some(tx) => self.transactions.stage(&tx, frame)?,
            None => self.apply_ack(&frame)?,
        }
        Ok(Flow::Continue)
    }

    fn apply_ack(&self, frame: &Frame) -> Result<(), StompError> {
        let id = ack_id(frame, self.version)?;
        self.state
            .hub
            .ack(self.session_id(), id, frame.command == Command::Nack)?;
        Ok(())
    }

    fn on_begin(&mut self, frame: &Frame) -> Result<Flow, StompError> {
        self.transactions.begin(required(frame, "transaction")?)?;
        Ok(Flow::Continue)
    }

    /// `COMMIT`: the staged frames are applied in order, as if sent now.
    async fn on_commit(
        &mut self,
        principal: &Principal,
        frame: &Frame,
    ) -> Result<Flow, StompError> {
        let staged = self.transactions.commit(required(frame, "transaction")?)?;
        for f in staged {
            if f.command == Command::Send {
                if let Flow::Close = self.apply_send(principal, f).await? {
                    return Ok(Flow::Close);
                }
            } else {
                self.apply_ack(&f)?;
            }
        }
        Ok(Flow::Continue)
    }

    fn on_abort(&mut self, frame: &Frame) -> Result<Flow, StompError> {
        self.transactions.abort(required(frame, "transaction")?)?;
        Ok(Flow::Continue)
    }
}

/// `/user/queue/x` (or `/user/topic/x`) for `name`: `/user/name/queue/x`.
fn user_key(name: &str, destination: &str) -> Option<String> {
    let rest = destination.strip_prefix("/user/")?;
    (rest.starts_with("queue/") || rest.starts_with("topic/"))
        .then(|| format!("/user/{name}/{rest}"))
}

fn required<'f>(frame: &'f Frame, name: &'static str) -> Result<&'f str, StompError> {
    frame.header(name).ok_or_else(|| missing(frame, name))
}

fn missing(frame: &Frame, name: &'static str) -> StompError {
    StompError::MissingHeader {
        command: frame.command,
        name,
    }
}

/// The id an `ACK` or `NACK` names: `id` in 1.2, `message-id` before.
fn ack_id(frame: &Frame, version: Version) -> Result<&str, StompError> {
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
}
