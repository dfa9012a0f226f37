//! The REST API under `/api` and its OpenAPI document (`/api/openapi.json`), generated from
//! the handlers' annotations. Handlers are thin: parse, call [`crate::chat::Chat`], map the
//! error. Every error is `{"error": "...", "message": "..."}` with its status code,
//! including malformed JSON, queries and paths ([`ApiError`] maps them all).

mod actions;
mod attachments;
mod auth;
mod conversations;
mod directory;
mod error;
mod extract;
mod membership;
mod notifications;
mod openapi;
mod throttle;
mod uploads;

use crate::ServerState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;

pub use error::ApiError;
pub use extract::{bearer, AuthUser, Caller};
pub use openapi::ApiDoc;

/// The routes under `/api`.
pub fn router(state: &ServerState) -> Router<ServerState> {
    Router::new()
        .route("/api/auth/register", post(auth::register))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/users", get(directory::list))
        .route("/api/users/me", get(auth::me).patch(directory::update_me))
        .route("/api/users/{id}", get(auth::user))
        .route(
            "/api/conversations",
            get(conversations::list).post(conversations::create),
        )
        .route(
            "/api/conversations/{cid}",
            get(conversations::get_one).patch(membership::rename),
        )
        .route(
            "/api/conversations/{cid}/participants",
            post(conversations::add_participants),
        )
        .route(
            "/api/conversations/{cid}/participants/{uid}",
            delete(membership::remove),
        )
        .route(
            "/api/conversations/{cid}/messages/{mid}",
            axum::routing::patch(actions::edit).delete(actions::delete),
        )
        .route(
            "/api/conversations/{cid}/messages/{mid}/reactions",
            post(actions::react),
        )
        .route("/api/conversations/{cid}/changes", get(actions::changes))
        .route(
            "/api/conversations/{cid}/messages",
            get(conversations::history).post(conversations::send),
        )
        .route("/api/conversations/{cid}/read", post(conversations::read))
        .route(
            "/api/notifications",
            get(notifications::list).post(notifications::create),
        )
        .route(
            "/api/notifications/read-all",
            post(notifications::mark_all_read),
        )
        .route(
            "/api/notifications/{id}/read",
            post(notifications::mark_read),
        )
        .route("/api/notifications/stream", get(notifications::stream))
        .route(
            "/api/notifications/stream/{user}",
            get(notifications::stream_for),
        )
        .route(
            "/api/announcements",
            get(notifications::announcements).post(notifications::announce),
        )
        .route(
            "/api/uploads",
            post(uploads::create).options(uploads::options),
        )
        .route(
            "/api/uploads/{id}",
            axum::routing::head(uploads::head)
                .patch(uploads::patch)
                .delete(uploads::cancel),
        )
        .route("/api/attachments/{id}", get(attachments::download))
        .route(
            "/api/attachments/{id}/thumbnail",
            get(attachments::thumbnail),
        )
        .route("/api/openapi.json", get(openapi::document))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            throttle::in_flight,
        ))
        .layer(DefaultBodyLimit::max(state.config.limits.max_request_bytes))
}
