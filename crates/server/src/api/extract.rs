//! Extractors that turn requests into callers and typed input, with JSON errors for every
//! way a request can be malformed.

use crate::auth::Principal;
use crate::store::UserRecord;
use crate::{ApiError, ServerState};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks an access token and finds its account.
pub async fn user_from_token(
    state: &ServerState,
    token: Option<&str>,
) -> Result<UserRecord, ApiError> {
    Ok(principal_from_token(state, token).await?.1)
}

/// Checks an access token: what it says (its `exp` and session) and its account. Every
/// request with a user's token passes here, so here it is charged to the user's request
/// budget: before the account is looked up, so a refused request costs no database work.
pub async fn principal_from_token(
    state: &ServerState,
    token: Option<&str>,
) -> Result<(Principal, UserRecord), ApiError> {
    let token = token.ok_or_else(|| {
        ApiError::Unauthorized("missing access token: send 'Authorization: Bearer <token>'".into())
    })?;
    let principal = state
        .auth
        .verify(token)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    charge_request(state, &principal.name).await?;
    let user = state.chat().accounts.resolve(&principal).await?;
    Ok((principal, user))
}

/// Takes one request from `user`'s budget (429 with `Retry-After` when it is spent).
async fn charge_request(state: &ServerState, user: &str) -> Result<(), ApiError> {
    state
        .requests
        .take(user, std::time::Instant::now())
        .await
        .map_err(|retry_after| {
            state.metrics.error("requests_rate_limited");
            let l = &state.config.limits;
            ApiError::RateLimited {
                message: format!(
                    "too many requests: at most {} per minute per user after a burst of {}; \
                     try again in {} s",
                    l.requests_per_minute,
                    l.request_burst,
                    super::error::retry_after_secs(retry_after)
                ),
                retry_after,
            }
        })
}

/// The address the request came from (the TCP peer; forwarded-for headers are not
/// trusted). Unknown (a router called without a socket, in tests): the unspecified address.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0.ip()),
        ))
    }
}

/// A signed-in user.
#[derive(Debug)]
pub struct AuthUser(pub UserRecord);

impl FromRequestParts<ServerState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> Result<Self, ApiError> {
        user_from_token(state, bearer(&parts.headers))
            .await
            .map(AuthUser)
    }
}

/// A signed-in user or a backend service (the configured service token).
#[derive(Debug)]
pub enum Caller {
    User(UserRecord),
    Service,
}

impl Caller {
    /// Whether the caller may notify users and post announcements.
    pub fn may_publish(&self) -> bool {
        match self {
            Caller::Service => true,
            Caller::User(u) => u.roles.iter().any(|r| r == "admin"),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Caller::Service => "service",
            Caller::User(u) => &u.name,
        }
    }
}

impl FromRequestParts<ServerState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers);
        if token.is_some_and(|t| state.chat().accounts.is_service_token(t)) {
            return Ok(Caller::Service);
        }
        user_from_token(state, token).await.map(Caller::User)
    }
}

/// A JSON body; malformed ones get a JSON 400 (413 when too large).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(JsonRejection::BytesRejection(r))
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::TooLarge)
            }
            Err(r) => Err(ApiError::Malformed(r.body_text())),
        }
    }
}

/// Query parameters; malformed ones get a JSON 400.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|r: QueryRejection| ApiError::Malformed(r.body_text()))
    }
}

/// Path parameters; malformed ones get a JSON 400.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|r: PathRejection| ApiError::Malformed(r.body_text()))
    }
}
