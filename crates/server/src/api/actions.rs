//! Actions on messages (`PATCH`/`DELETE …/messages/{mid}`, `POST …/reactions`) and the
//! change log (`GET …/changes`). Edits, deletions and reactions spend the per-user
//! `sends_per_minute` budget, as sends do.

use super::extract::{AuthUser, Body, Path, Query};
use crate::{ApiError, ServerState};
use axum::extract::State;
use axum::Json;
use tidings_proto::api::{ChangePage, ChangesQuery, EditMessage, ErrorBody, ReactRequest};
use tidings_proto::Message;

/// Replace the content of your own message (within the edit window, if the server has one).
#[utoipa::path(patch, path = "/api/conversations/{cid}/messages/{mid}", tag = "messages",
    security(("bearer" = [])), request_body = EditMessage,
    params(("cid" = String, Path, description = "Conversation id"),
           ("mid" = String, Path, description = "Message id")),
    responses(
        (status = 200, description = "The message as it is now", body = Message),
        (status = 400, description = "Invalid content, or a mention of someone not a participant", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant, not your message, or past the edit window", body = ErrorBody),
        (status = 404, description = "No such conversation or message", body = ErrorBody),
        (status = 409, description = "A system entry or a deleted message", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many messages", body = ErrorBody),
    ))]
pub async fn edit(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path((cid, mid)): Path<(String, String)>,
    Body(req): Body<EditMessage>,
) -> Result<Json<Message>, ApiError> {
    let chat = state.chat();
    chat.charge_send(&me.name).await?;
    Ok(Json(chat.edit_message(&me.name, &cid, &mid, req).await?))
}

/// Delete your own message: its content is erased and its tombstone stays in its place.
/// Deleting a tombstone again answers it unchanged.
#[utoipa::path(delete, path = "/api/conversations/{cid}/messages/{mid}", tag = "messages",
    security(("bearer" = [])),
    params(("cid" = String, Path, description = "Conversation id"),
           ("mid" = String, Path, description = "Message id")),
    responses(
        (status = 200, description = "The tombstone", body = Message),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant, or not your message", body = ErrorBody),
        (status = 404, description = "No such conversation or message", body = ErrorBody),
        (status = 409, description = "A system entry", body = ErrorBody),
        (status = 429, description = "Too many messages", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path((cid, mid)): Path<(String, String)>,
) -> Result<Json<Message>, ApiError> {
    let chat = state.chat();
    chat.charge_send(&me.name).await?;
    Ok(Json(chat.delete_message(&me.name, &cid, &mid).await?))
}

/// Put your reaction on a message (`on: true`) or take it off. Setting, not toggling: the
/// same request twice changes nothing the second time.
#[utoipa::path(post, path = "/api/conversations/{cid}/messages/{mid}/reactions", tag = "messages",
    security(("bearer" = [])), request_body = ReactRequest,
    params(("cid" = String, Path, description = "Conversation id"),
           ("mid" = String, Path, description = "Message id")),
    responses(
        (status = 200, description = "The message as it is now", body = Message),
        (status = 400, description = "Not one emoji", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant", body = ErrorBody),
        (status = 404, description = "No such conversation or message", body = ErrorBody),
        (status = 409, description = "A system entry, a deleted message, or too many different reactions", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many messages", body = ErrorBody),
    ))]
pub async fn react(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path((cid, mid)): Path<(String, String)>,
    Body(req): Body<ReactRequest>,
) -> Result<Json<Message>, ApiError> {
    let chat = state.chat();
    chat.charge_send(&me.name).await?;
    Ok(Json(chat.react(&me.name, &cid, &mid, req).await?))
}

/// What changed after revision `after`: every entry whose `rev` is above it, as it is now,
/// in ascending `rev`, and the conversation as it is now. Apply, hold `rev`, and ask again
/// with `after=rev` while `hasMore`.
#[utoipa::path(get, path = "/api/conversations/{cid}/changes", tag = "messages",
    security(("bearer" = [])),
    params(("cid" = String, Path, description = "Conversation id"), ChangesQuery),
    responses(
        (status = 200, description = "The changes", body = ChangePage),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
    ))]
pub async fn changes(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path(cid): Path<String>,
    Query(q): Query<ChangesQuery>,
) -> Result<Json<ChangePage>, ApiError> {
    Ok(Json(state.chat().changes(&me.name, &cid, q).await?))
}
