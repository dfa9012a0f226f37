//! The chat domain as the broker's application: `SEND`s to `/app/conversations/{cid}/…`
//! (send, typing, read, and `messages/{mid}/edit|delete|react`),
//! participants-only subscriptions to `/topic/conversations/{cid}`, and presence from
//! session starts and ends; and the one mapping of [`ChatError`] to the broker's
//! [`AppError`], whose kinds are the STOMP wire's.

use super::{Chat, ChatError};
use crate::app::{AppError, AppSend, Application};
use crate::auth::Principal;
use crate::hub::SessionId;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tidings_proto::api::{EditMessage, ReactRequest, ReadRequest, SendMessage, TypingRequest};
use tidings_proto::dest::{parse_conversation_topic, AppDestination};

/// Wraps [`Chat`] for the broker.
#[derive(Debug, Clone)]
pub struct ChatApp(pub Arc<Chat>);

fn body<T: DeserializeOwned>(send: &AppSend) -> Result<T, AppError> {
    serde_json::from_slice(&send.body)
        .map_err(|e| AppError::Invalid(format!("the body is not the JSON expected here: {e}")))
}

#[async_trait]
impl Application for ChatApp {
    async fn on_send(&self, send: AppSend) -> Result<(), AppError> {
        let user = &*send.principal.name;
        match AppDestination::parse(&send.destination) {
            Some(AppDestination::Send(cid)) => {
                let req: SendMessage = body(&send)?;
                self.0.send_message(user, cid, req).await?;
            }
            Some(AppDestination::Typing(cid)) => {
                let req: TypingRequest = body(&send)?;
                self.0.typing(user, cid, req.typing).await?;
            }
            Some(AppDestination::Read(cid)) => {
                let req: ReadRequest = body(&send)?;
                self.0.read(user, cid, req.up_to).await?;
            }
            Some(AppDestination::Edit(cid, mid)) => {
                let req: EditMessage = body(&send)?;
                self.0.edit_message(user, cid, mid, req).await?;
            }
            Some(AppDestination::Delete(cid, mid)) => {
                self.0.delete_message(user, cid, mid).await?;
            }
            Some(AppDestination::React(cid, mid)) => {
                let req: ReactRequest = body(&send)?;
                self.0.react(user, cid, mid, req).await?;
            }
            None => return Err(AppError::UnknownDestination(send.destination)),
        }
        Ok(())
    }

    async fn authorize_subscribe(
        &self,
        who: &Principal,
        destination: &str,
    ) -> Result<(), AppError> {
        if !destination.starts_with("/topic/conversations/") {
            return Ok(());
        }
        let cid = parse_conversation_topic(destination)
            .ok_or_else(|| AppError::UnknownDestination(destination.to_owned()))?;
        let member = self
            .0
            .store
            .is_participant(cid, &who.name)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!(e.to_string())))?;
        if member {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "you may not subscribe to {destination}: you are not a participant of conversation {cid}"
            )))
        }
    }

    /// As on the REST API, a token must name an account (with an outside issuer, the
    /// account is created on first sight).
    async fn authorize_connect(&self, who: &Principal) -> Result<(), AppError> {
        match self.0.accounts.resolve(who).await {
            Ok(_) => Ok(()),
            // Unauthorized here means the token's subject has no account.
            Err(e) => match AppError::from(e) {
                AppError::Unauthorized(m) => Err(AppError::NoAccount(m)),
                other => Err(other),
            },
        }
    }

    async fn on_connect(&self, who: &Principal, _session: SessionId) {
        self.0.session_opened(&who.name);
    }

    async fn on_disconnect(&self, who: &Principal, _session: SessionId) {
        self.0.session_closed(&who.name);
    }
}

impl From<ChatError> for AppError {
    fn from(e: ChatError) -> AppError {
        match e {
            ChatError::Invalid(m) => AppError::Invalid(m),
            ChatError::Unauthorized(m) => AppError::Unauthorized(m),
            ChatError::Forbidden(m) => AppError::Forbidden(m),
            ChatError::NotFound(m) => AppError::NotFound(m),
            ChatError::Conflict(m) => AppError::Conflict(m),
            ChatError::RateLimited(m) => AppError::RateLimited(m),
            ChatError::Busy(m) => AppError::Busy(m),
            ChatError::StoreUnavailable(m) => AppError::StoreUnavailable(m),
            ChatError::Internal(m) => AppError::Internal(anyhow::anyhow!(m)),
        }
    }
}
