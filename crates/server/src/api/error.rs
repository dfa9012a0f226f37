//! The HTTP wire's error vocabulary: [`ApiError`], every way a request fails, and its one
//! mapping to a status code, the JSON body `{"error": "...", "message": "..."}` and, for a
//! refusal that ends soon, `Retry-After`. The domain's [`ChatError`] knows no HTTP; it is
//! mapped here, exhaustively. An internal error is logged here, once, as it is answered.

use crate::chat::passwords::BUSY_RETRY_AFTER_SECS;
use crate::chat::ChatError;
use crate::files::error::FileError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;
use tidings_proto::api::ErrorBody;

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// The chat domain refused.
    Chat(ChatError),
    /// An upload or a download was refused.
    File(FileError),
    /// A tus request without `Tus-Resumable: 1.0.0`.
    TusVersion,
    /// No access token, or one that is not valid.
    Unauthorized(String),
    /// The caller may not do this; the sentence says why.
    Forbidden(&'static str),
    /// A body, query or path that does not parse: the parser's words.
    Malformed(String),
    /// A body larger than `limits.max_request_bytes`.
    TooLarge,
    /// No route for this path (the path only: a query string may hold a token).
    NoRoute(String),
    /// A caller over a request rate (`limits.requests_per_minute`): the sentence names it;
    /// a token is there again after `retry_after`.
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    /// A user's notification streams are at `limits.max_sse_streams`.
    TooManyStreams { max: usize },
    /// The request took longer than `limits.request_timeout_ms`.
    RequestTimeout(Duration),
    /// A WebSocket from an origin that is not allowed.
    OriginNotAllowed(String),
    /// The server is at a connection limit; the sentence names it.
    ConnectionLimit(String),
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> ApiError {
        match e {
            FileError::Chat(c) => ApiError::Chat(c),
            other => ApiError::File(other),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> ApiError {
        ApiError::Chat(e)
    }
}

/// What the client gets.
struct Reply {
    status: StatusCode,
    error: &'static str,
    message: String,
    /// Seconds for `Retry-After`.
    retry_after: Option<u64>,
}

impl Reply {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Reply {
        Reply {
            status,
            error,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl ApiError {
    /// The one mapping from an error to what the client sees.
    fn reply(self) -> Reply {
        use StatusCode as S;
        match self {
            ApiError::Chat(e) => match e {
                ChatError::Invalid(m) => Reply::new(S::BAD_REQUEST, "invalid", m),
                ChatError::Unauthorized(m) => Reply::new(S::UNAUTHORIZED, "unauthorized", m),
                ChatError::Forbidden(m) => Reply::new(S::FORBIDDEN, "forbidden", m),
                ChatError::NotFound(m) => Reply::new(S::NOT_FOUND, "not_found", m),
                ChatError::Conflict(m) => Reply::new(S::CONFLICT, "conflict", m),
                ChatError::RateLimited(m) => Reply::new(S::TOO_MANY_REQUESTS, "rate_limited", m),
                ChatError::Busy(m) => Reply {
                    retry_after: Some(BUSY_RETRY_AFTER_SECS),
                    ..Reply::new(S::SERVICE_UNAVAILABLE, "busy", m)
                },
                ChatError::StoreUnavailable(detail) => {
                    tracing::warn!(error = %detail, "request refused: the database is unreachable");
                    Reply {
                        retry_after: Some(BUSY_RETRY_AFTER_SECS),
                        ..Reply::new(
                            S::SERVICE_UNAVAILABLE,
                            "store_unavailable",
                            "the database is unreachable; nothing was stored, try again shortly",
                        )
                    }
                }
                ChatError::Internal(detail) => {
                    // The detail is for the log; the client gets a generic sentence.
                    tracing::error!(error = %detail, "request failed");
                    Reply::new(
                        S::INTERNAL_SERVER_ERROR,
                        "internal",
                        "the server could not complete the request",
                    )
                }
            },
            ApiError::File(e) => {
                let message = e.to_string();
                let (status, code) = match e {
                    FileError::Chat(c) => return ApiError::Chat(c).reply(),
                    FileError::TooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "too_large"),
                    FileError::QuotaExceeded { .. } => (S::PAYLOAD_TOO_LARGE, "quota_exceeded"),
                    FileError::TooManyUploads { .. } => (S::TOO_MANY_REQUESTS, "too_many_uploads"),
                    FileError::TypeMismatch(_) => (S::UNSUPPORTED_MEDIA_TYPE, "type_mismatch"),
                    FileError::ImageTooLarge(_) => (S::UNPROCESSABLE_ENTITY, "image_too_large"),
                    FileError::InvalidImage(_) => (S::UNPROCESSABLE_ENTITY, "invalid_image"),
                    FileError::OffsetMismatch { .. } => (S::CONFLICT, "conflict"),
                    FileError::UnsupportedMediaType => {
                        (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                    }
                    FileError::RangeNotSatisfiable { .. } => {
                        (S::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
                    }
                };
                Reply::new(status, code, message)
            }
            ApiError::TusVersion => Reply::new(
                S::PRECONDITION_FAILED,
                "tus_version",
                "send Tus-Resumable: 1.0.0 (the tus version this server speaks)",
            ),
            ApiError::Unauthorized(m) => Reply::new(S::UNAUTHORIZED, "unauthorized", m),
            ApiError::Forbidden(m) => Reply::new(S::FORBIDDEN, "forbidden", m),
            ApiError::Malformed(m) => Reply::new(S::BAD_REQUEST, "invalid", m),
            ApiError::TooLarge => Reply::new(
                S::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is larger than this server accepts",
            ),
            ApiError::NoRoute(path) => {
                Reply::new(S::NOT_FOUND, "not_found", format!("no route for {path}"))
            }
            ApiError::RateLimited {
                message,
                retry_after,
            } => Reply {
                retry_after: Some(retry_after_secs(retry_after)),
                ..Reply::new(S::TOO_MANY_REQUESTS, "rate_limited", message)
            },
            ApiError::TooManyStreams { max } => Reply::new(
                S::TOO_MANY_REQUESTS,
                "too_many_streams",
                format!("at most {max} notification streams per user"),
            ),
            ApiError::RequestTimeout(limit) => Reply::new(
                S::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request took longer than {} ms: send the body at once",
                    limit.as_millis()
                ),
            ),
            ApiError::OriginNotAllowed(origin) => Reply::new(
                S::FORBIDDEN,
                "origin_not_allowed",
                format!("origin {origin} is not allowed to connect"),
            ),
            ApiError::ConnectionLimit(m) => {
                Reply::new(S::SERVICE_UNAVAILABLE, "connection_limit", m)
            }
        }
    }
}

/// Whole seconds for `Retry-After`, rounded up: at least 1, so that a client that waits
/// that long finds a token.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The `error` code of an error answer, kept in the response's extensions for the layers
/// that count refusals by kind (the upload metrics).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let reply = self.reply();
        let body = ErrorBody {
            error: reply.error.to_owned(),
            message: reply.message,
        };
        let tus_refusal = reply.status == StatusCode::PRECONDITION_FAILED;
        let mut response = (reply.status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(reply.error));
        if tus_refusal {
            response
                .headers_mut()
                .insert("tus-version", HeaderValue::from_static("1.0.0"));
        }
        if let Some(secs) = reply.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status, body and `Retry-After` of the answer to `e`.
    async fn answer(e: impl Into<ApiError>) -> (u16, ErrorBody, Option<String>) {
        let response = e.into().into_response();
        let status = response.status().as_u16();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    fn body(error: &str, message: &str) -> ErrorBody {
        ErrorBody {
            error: error.into(),
            message: message.into(),
        }
    }

    #[tokio::test]
    async fn every_domain_error_has_its_status_code_and_message() {
        let cases = [
            (ChatError::Invalid("m".into()), 400, "invalid"),
            (ChatError::Unauthorized("m".into()), 401, "unauthorized"),
            (ChatError::Forbidden("m".into()), 403, "forbidden"),
            (ChatError::NotFound("m".into()), 404, "not_found"),
            (ChatError::Conflict("m".into()), 409, "conflict"),
            (ChatError::RateLimited("m".into()), 429, "rate_limited"),
        ];
        for (e, status, code) in cases {
            assert_eq!(answer(e).await, (status, body(code, "m"), None));
        }
        assert_eq!(
            answer(ChatError::Busy("m".into())).await,
            (
                503,
                body("busy", "m"),
                Some(BUSY_RETRY_AFTER_SECS.to_string())
            )
        );
    }

    #[tokio::test]
    async fn an_internal_error_keeps_its_detail_from_the_client() {
        let (status, body, retry) = answer(ChatError::Internal("disk I/O error".into())).await;
        assert_eq!((status, retry), (500, None));
        assert_eq!(body.error, "internal");
        assert_eq!(body.message, "the server could not complete the request");
    }

    #[tokio::test]
    async fn a_request_rate_refusal_says_when_to_come_back_in_whole_seconds() {
        let e = |ms| ApiError::RateLimited {
            message: "m".into(),
            retry_after: Duration::from_millis(ms),
        };
        assert_eq!(
            answer(e(50)).await,
            (429, body("rate_limited", "m"), Some("1".into()))
        );
        assert_eq!(answer(e(2001)).await.2, Some("3".into()));
        assert_eq!(answer(e(4000)).await.2, Some("4".into()));
    }

    #[tokio::test]
    async fn edge_errors_have_their_status_code_and_message() {
        let cases = [
            (ApiError::Malformed("bad".into()), 400, "invalid", "bad"),
            (
                ApiError::TooLarge,
                413,
                "too_large",
                "the request body is larger than this server accepts",
            ),
            (
                ApiError::NoRoute("/x".into()),
                404,
                "not_found",
                "no route for /x",
            ),
            (
                ApiError::TooManyStreams { max: 4 },
                429,
                "too_many_streams",
                "at most 4 notification streams per user",
            ),
            (
                ApiError::RequestTimeout(Duration::from_millis(1500)),
                408,
                "request_timeout",
                "the request took longer than 1500 ms: send the body at once",
            ),
        ];
        for (e, status, code, message) in cases {
            assert_eq!(answer(e).await, (status, body(code, message), None));
        }
    }
}
