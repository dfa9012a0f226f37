//! `GET /api/users` (the directory) and `PATCH /api/users/me` (one's profile).

use super::extract::{AuthUser, Body, Query};
use crate::{ApiError, ServerState};
use axum::extract::State;
use axum::Json;
use tidings_proto::api::{ErrorBody, UpdateProfile, User, UserPage, UserQuery};

/// Find people: `q` matches the start of the id or of any word of the display name,
/// ignoring case and accents. Ordered by id; `cursor=nextCursor` for the next page.
#[utoipa::path(get, path = "/api/users", tag = "users", security(("bearer" = [])),
    params(UserQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "Invalid q, limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<ServerState>,
    AuthUser(_): AuthUser,
    Query(q): Query<UserQuery>,
) -> Result<Json<UserPage>, ApiError> {
    Ok(Json(state.chat().users(q).await?))
}

/// Change your display name; everyone hears `USER_UPDATED` on `/topic/presence`.
#[utoipa::path(patch, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    request_body = UpdateProfile,
    responses(
        (status = 200, description = "The user as it is now", body = User),
        (status = 400, description = "Invalid display name", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 409, description = "The display name is another user's", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    ))]
pub async fn update_me(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Body(req): Body<UpdateProfile>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.chat().update_profile(&me.name, req).await?))
}
