//! `/api/conversations/*`.

use super::extract::{AuthUser, Body, Path, Query};
use crate::{ApiError, ServerState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::{
    AddParticipants, ConversationList, ConversationQuery, CreateConversation, ErrorBody,
    HistoryQuery, MessagePage, ReadRequest, ReadState, SendMessage,
};
use tidings_proto::{Conversation, Message};

/// A page of the user's conversations, most recently active first, with unread counts and
/// last messages; `cursor=nextCursor` for the next page while `hasMore`.
#[utoipa::path(get, path = "/api/conversations", tag = "conversations", security(("bearer" = [])),
    params(ConversationQuery),
    responses(
        (status = 200, description = "A page of conversations", body = ConversationList),
        (status = 400, description = "Invalid limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Query(q): Query<ConversationQuery>,
) -> Result<Json<ConversationList>, ApiError> {
    Ok(Json(state.chat().conversation_page(&me.name, q).await?))
}

/// Start a conversation. Asking for a direct conversation that exists returns it (200).
#[utoipa::path(post, path = "/api/conversations", tag = "conversations", security(("bearer" = [])),
    request_body = CreateConversation,
    responses(
        (status = 201, description = "Created", body = Conversation),
        (status = 200, description = "The direct conversation already existed", body = Conversation),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "A participant does not exist", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many conversations or participants this hour", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Body(req): Body<CreateConversation>,
) -> Result<(StatusCode, Json<Conversation>), ApiError> {
    let (conv, created) = state.chat().create_conversation(&me.name, req).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(conv)))
}

/// One conversation (participants only).
#[utoipa::path(get, path = "/api/conversations/{cid}", tag = "conversations", security(("bearer" = [])),
    params(("cid" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation", body = Conversation),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path(cid): Path<String>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(state.chat().conversation(&me.name, &cid).await?))
}

/// Add users to a group (its owner only). Adds a system entry to the timeline; naming only
/// people already in is a 409.
#[utoipa::path(post, path = "/api/conversations/{cid}/participants", tag = "conversations",
    security(("bearer" = [])), request_body = AddParticipants,
    params(("cid" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation with its participants", body = Conversation),
        (status = 400, description = "Invalid request, or a direct conversation", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant, or not the owner", body = ErrorBody),
        (status = 404, description = "No such conversation or user", body = ErrorBody),
        (status = 409, description = "The group would pass its size limit, or everyone named is in it", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many participants added this hour", body = ErrorBody),
    ))]
pub async fn add_participants(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path(cid): Path<String>,
    Body(req): Body<AddParticipants>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(
        state.chat().add_participants(&me.name, &cid, req).await?,
    ))
}

/// A page of history in ascending `seq`: the newest by default, `before` to page back,
/// `after` to catch up.
#[utoipa::path(get, path = "/api/conversations/{cid}/messages", tag = "messages",
    security(("bearer" = [])),
    params(("cid" = String, Path, description = "Conversation id"), HistoryQuery),
    responses(
        (status = 200, description = "A page of messages", body = MessagePage),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
    ))]
pub async fn history(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path(cid): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    Ok(Json(state.chat().history(&me.name, &cid, q).await?))
}

/// Send a message (the REST fallback of `SEND /app/conversations/{cid}/send`). The same
/// `clientId` again returns the stored message with 200 and stores nothing.
#[utoipa::path(post, path = "/api/conversations/{cid}/messages", tag = "messages",
    security(("bearer" = [])), request_body = SendMessage,
    params(("cid" = String, Path, description = "Conversation id")),
    responses(
        (status = 201, description = "Stored and delivered", body = Message),
        (status = 200, description = "Stored before under this clientId", body = Message),
        (status = 400, description = "Invalid message", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 409, description = "The clientId was used in another conversation", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many messages", body = ErrorBody),
    ))]
pub async fn send(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path(cid): Path<String>,
    Body(req): Body<SendMessage>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let chat = state.chat();
    chat.charge_send(&me.name).await?;
    let sent = chat.send_message(&me.name, &cid, req).await?;
    let status = if sent.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(sent.message)))
}

/// Move the read marker forward (never backwards).
#[utoipa::path(post, path = "/api/conversations/{cid}/read", tag = "messages",
    security(("bearer" = [])), request_body = ReadRequest,
    params(("cid" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The reader's state", body = ReadState),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    ))]
pub async fn read(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path(cid): Path<String>,
    Body(req): Body<ReadRequest>,
) -> Result<Json<ReadState>, ApiError> {
    Ok(Json(state.chat().read(&me.name, &cid, req.up_to).await?))
}
