//! The seam between the broker and the application on top of it (the chat domain).
//!
//! `SEND`s to `/app/**` go to [`Application::on_send`]; the `RECEIPT` is sent once the
//! returned future completes, so an application that commits before returning gives
//! receipts that mean "stored". Subscriptions the static access rules allow are also put
//! to [`Application::authorize_subscribe`] (e.g. conversation participants only).

use crate::auth::Principal;
use crate::cluster::Bus;
use crate::hub::{Hub, HubError, Published, SessionId};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;

/// A `SEND` to an application destination.
#[derive(Debug, Clone)]
pub struct AppSend {
    pub principal: Principal,
    pub session: SessionId,
    pub destination: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// Why the application refused something. The text goes to the client; [`AppError::kind`]
/// is its machine-readable kind on the STOMP wire (see `session::error`).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("unknown destination {0}")]
    UnknownDestination(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("invalid: {0}")]
    Invalid(String),
    /// A `CONNECT` whose token names no account.
    #[error("{0}")]
    NoAccount(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    /// Overloaded for a moment: try again shortly.
    #[error("{0}")]
    Busy(String),
    /// The database cannot be reached: nothing was stored; try again later.
    #[error("{0}")]
    StoreUnavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::UnknownDestination(_) => "unknown_destination",
            AppError::Forbidden(_) => "forbidden",
            AppError::Invalid(_) => "invalid",
            AppError::NoAccount(_) => "no_account",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::RateLimited(_) => "rate_limited",
            AppError::Busy(_) => "busy",
            AppError::StoreUnavailable(_) => "store_unavailable",
            AppError::Internal(_) => "internal",
        }
    }
}

/// What the broker asks of the application. Every method has a default so a bare broker
/// needs nothing.
#[async_trait]
pub trait Application: Send + Sync + 'static {
    /// A `SEND` to `/app/**`.
    async fn on_send(&self, send: AppSend) -> Result<(), AppError> {
        Err(AppError::UnknownDestination(send.destination))
    }

    /// A `SUBSCRIBE` the access rules allowed.
    async fn authorize_subscribe(
        &self,
        _who: &Principal,
        _destination: &str,
    ) -> Result<(), AppError> {
        Ok(())
    }

    /// A `CONNECT` whose token is valid; refusing it ends the connection with an `ERROR`
    /// naming the reason (e.g. no such account).
    async fn authorize_connect(&self, _who: &Principal) -> Result<(), AppError> {
        Ok(())
    }

    async fn on_connect(&self, _who: &Principal, _session: SessionId) {}

    async fn on_disconnect(&self, _who: &Principal, _session: SessionId) {}
}

/// The broker on its own: no `/app/**` destinations.
#[derive(Debug, Default)]
pub struct NoApplication;

impl Application for NoApplication {}

/// What an application uses to publish: the broker's routing, without its sessions. With a
/// bus between nodes ([`crate::cluster`]), what it publishes reaches the other nodes too,
/// except `/queue/**`, which stays on this node.
#[derive(Debug, Clone)]
pub struct Broker {
    hub: Arc<Hub>,
    bus: Bus,
}

impl Broker {
    pub(crate) fn new(hub: Arc<Hub>, bus: Bus) -> Broker {
        Broker { hub, bus }
    }

    /// Publishes to a destination as a client would name it in `SEND` (`/topic/x`,
    /// `/queue/x`, `/user/{name}/queue/x`), on every node. `droppable`: may be skipped for
    /// slow consumers (typing, presence).
    pub fn publish(
        &self,
        destination: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
        droppable: bool,
    ) -> Result<(), HubError> {
        self.publish_message(
            destination,
            Published::new(destination.to_owned(), headers, body),
            droppable,
        )
    }

    /// [`Broker::publish`] of a message already built (a client's `SEND`).
    pub fn publish_message(
        &self,
        destination: &str,
        message: Arc<Published>,
        droppable: bool,
    ) -> Result<(), HubError> {
        self.hub.publish(destination, message.clone(), droppable)?;
        if !destination.starts_with("/queue/") {
            self.bus.publish(destination, &message, droppable);
        }
        Ok(())
    }

    /// Publishes to this node's subscribers only (what came from another node, and
    /// presence, which each node derives on its own).
    pub fn publish_local(
        &self,
        destination: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
        droppable: bool,
    ) -> Result<(), HubError> {
        self.hub.publish(
            destination,
            Published::new(destination.to_owned(), headers, body),
            droppable,
        )
    }

    /// Ends every subscription of `user` to `destination` on all their sessions on every
    /// node, before anything further is published there from this node (see
    /// [`Hub::drop_subscriptions`]).
    pub fn drop_subscriptions(&self, user: &str, destination: &str) -> usize {
        let n = self.hub.drop_subscriptions(user, destination);
        self.bus.drop_subscriptions(user, destination);
        n
    }

    /// [`Broker::drop_subscriptions`] on this node only.
    pub fn drop_local(&self, user: &str, destination: &str) -> usize {
        self.hub.drop_subscriptions(user, destination)
    }

    /// Ends every STOMP session on this node with an `ERROR` saying `message`.
    pub fn end_sessions(&self, message: &str, detail: &str) -> usize {
        self.hub.end_sessions(message, detail)
    }

    /// Sessions the user has open on this node.
    pub fn user_sessions(&self, user: &str) -> usize {
        self.hub.user_sessions(user)
    }

    /// The bus between nodes.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }
}
