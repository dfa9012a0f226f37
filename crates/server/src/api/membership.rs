//! `PATCH /api/conversations/{cid}` (rename) and
//! `DELETE /api/conversations/{cid}/participants/{uid}` (leave or remove).

use super::extract::{AuthUser, Body, Path};
use crate::{ApiError, ServerState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::{ErrorBody, UpdateConversation};
use tidings_proto::Conversation;

/// Rename a group (its owner only). Adds a system entry to the timeline.
#[utoipa::path(patch, path = "/api/conversations/{cid}", tag = "conversations",
    security(("bearer" = [])), request_body = UpdateConversation,
    params(("cid" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation as it is now", body = Conversation),
        (status = 400, description = "Invalid title, or a direct conversation", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant, or not the owner", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    ))]
pub async fn rename(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path(cid): Path<String>,
    Body(req): Body<UpdateConversation>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(state.chat().rename(&me.name, &cid, req).await?))
}

/// `uid` yourself: leave the group. Another: remove them (the owner only). Their live
/// subscriptions to the conversation end at once and they get `CONVERSATION_LEFT`.
#[utoipa::path(delete, path = "/api/conversations/{cid}/participants/{uid}", tag = "conversations",
    security(("bearer" = [])),
    params(("cid" = String, Path, description = "Conversation id"),
           ("uid" = String, Path, description = "The participant leaving or removed")),
    responses(
        (status = 204, description = "Left, or removed"),
        (status = 400, description = "Malformed id, or a direct conversation", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant, or removing someone without owning the group", body = ErrorBody),
        (status = 404, description = "No such conversation, or uid is not a participant", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path((cid, uid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .chat()
        .remove_participant(&me.name, &cid, &uid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
