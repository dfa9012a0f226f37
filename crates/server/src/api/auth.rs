//! `/api/auth/*` and `/api/users/*`.

use super::extract::{AuthUser, Body, ClientAddr, Path};
use crate::chat::accounts::SignedIn;
use crate::chat::ChatError;
use crate::{ApiError, ServerState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::{
    ErrorBody, LoginRequest, RefreshRequest, RegisterRequest, TokenResponse, User,
};

fn token_response(state: &ServerState, s: SignedIn) -> TokenResponse {
    TokenResponse {
        access_token: s.access_token,
        refresh_token: s.refresh_token,
        expires_in: s.expires_in,
        token_type: "Bearer".into(),
        user: state.chat().user_view(&s.user),
    }
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created; signed in", body = TokenResponse),
        (status = 400, description = "Invalid username, password or display name", body = ErrorBody),
        (status = 403, description = "Registration is closed", body = ErrorBody),
        (status = 409, description = "The username is taken, or the display name is another user's", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many accounts created from this address", body = ErrorBody),
        (status = 503, description = "Busy checking passwords; try again after Retry-After seconds", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<ServerState>,
    ClientAddr(from): ClientAddr,
    Body(req): Body<RegisterRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let s = state.chat().accounts.register(req, from).await?;
    Ok((StatusCode::CREATED, Json(token_response(&state, s))))
}

/// Sign in with username and password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 403, description = "Accounts are managed elsewhere", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many attempts for this username, or from this address", body = ErrorBody),
        (status = 503, description = "Busy checking passwords; try again after Retry-After seconds", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<ServerState>,
    ClientAddr(from): ClientAddr,
    Body(req): Body<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let s = state.chat().accounts.login(req, from).await?;
    Ok(Json(token_response(&state, s)))
}

/// Exchange a refresh token for a new access token and a new refresh token (the old one
/// stops working; presenting it again after the grace period signs the session out).
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new session", body = TokenResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Invalid, expired or revoked refresh token", body = ErrorBody),
        (status = 403, description = "Accounts are managed elsewhere", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many refreshes and sign-outs from this address", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<ServerState>,
    ClientAddr(from): ClientAddr,
    Body(req): Body<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let s = state
        .chat()
        .accounts
        .refresh(&req.refresh_token, from)
        .await?;
    Ok(Json(token_response(&state, s)))
}

/// Sign out: revoke the refresh token's session (every refresh token exchanged from the
/// same sign-in) and its access tokens.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Invalid, expired or already revoked refresh token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many refreshes and sign-outs from this address", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<ServerState>,
    ClientAddr(from): ClientAddr,
    Body(req): Body<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .chat()
        .accounts
        .logout(&req.refresh_token, from)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
pub async fn me(State(state): State<ServerState>, AuthUser(me): AuthUser) -> Json<User> {
    Json(state.chat().user_view(&me))
}

/// Look a user up by id (the login name).
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
pub async fn user(
    State(state): State<ServerState>,
    AuthUser(_): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let chat = state.chat();
    let u = chat
        .store
        .user(&id)
        .await
        .map_err(ChatError::from)?
        .ok_or_else(|| ChatError::NotFound(format!("no user {id}")))?;
    Ok(Json(chat.user_view(&u)))
}
