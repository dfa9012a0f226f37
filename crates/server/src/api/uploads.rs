//! `/api/uploads`: the tus 1.0.0 resumable-upload protocol (core, creation, termination,
//! expiration) over [`crate::files::Files`]. Here only headers are read and written; every
//! answer carries `Tus-Resumable`. See docs/protocol.md, "Attachments".

use super::extract::{AuthUser, Path};
use crate::files::error::FileError;
use crate::files::UploadRequest;
use crate::store::AttachmentRecord;
use crate::{ApiError, ServerState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use tidings_proto::api::{ErrorBody, UploadCreated};

pub const TUS_VERSION: &str = "1.0.0";
const TUS_EXTENSIONS: &str = "creation,termination,expiration";
const OFFSET_STREAM: &str = "application/offset+octet-stream";

/// Adds `Tus-Resumable` to an answer, refusals included; counts refusals by their code.
fn tus(state: &ServerState, result: Result<Response, ApiError>) -> Response {
    let mut r = result.unwrap_or_else(IntoResponse::into_response);
    if let Some(code) = r.extensions().get::<super::error::ErrorCode>() {
        state.metrics.upload_refused(code.0);
    }
    r.headers_mut().insert(
        HeaderName::from_static("tus-resumable"),
        HeaderValue::from_static(TUS_VERSION),
    );
    r
}

fn check_version(h: &HeaderMap) -> Result<(), ApiError> {
    match h.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(ApiError::TusVersion),
    }
}

/// A header holding a non-negative integer.
fn number(h: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    h.get(name)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::Malformed(format!("{name} must be a whole number of bytes"))
                })
        })
        .transpose()
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs (a value may be absent).
fn metadata(h: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = h.get("upload-metadata") else {
        return Ok(Vec::new());
    };
    let bad = || {
        ApiError::Malformed(
            "Upload-Metadata must be 'key base64value' pairs separated by commas".into(),
        )
    };
    let raw = raw.to_str().map_err(|_| bad())?;
    let mut out = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or_default().to_owned();
        let value = match parts.next() {
            None => String::new(),
            Some(v) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(v))
                    .map_err(|_| bad())?;
                String::from_utf8(bytes).map_err(|_| {
                    ApiError::Malformed(format!("Upload-Metadata {key} is not UTF-8 text"))
                })?
            }
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        out.push((key, value));
    }
    Ok(out)
}

fn upload_request(h: &HeaderMap) -> Result<UploadRequest, ApiError> {
    let length = number(h, "upload-length")?.ok_or_else(|| {
        ApiError::Malformed("Upload-Length is required (deferred lengths are not supported)".into())
    })?;
    let meta = metadata(h)?;
    // tus-js-client and Uppy also send `name` and `type`; the first given wins.
    let get = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| meta.iter().find(|(mk, _)| mk == k).map(|(_, v)| v.clone()))
    };
    Ok(UploadRequest {
        length,
        name: get(&["filename", "name"]),
        declared_type: get(&["filetype", "type"]),
        conversation: get(&["conversation"]),
        client_id: get(&["clientId"]),
    })
}

fn expires(a: &AttachmentRecord) -> Option<String> {
    a.expires_at.map(|t| {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(t.millis().max(0) as u64);
        httpdate::fmt_http_date(at)
    })
}

/// tus discovery: the version, extensions and largest upload.
#[utoipa::path(options, path = "/api/uploads", tag = "attachments",
    responses((status = 204, description = "tus capabilities", headers(
        ("Tus-Version" = String, description = "1.0.0"),
        ("Tus-Extension" = String, description = "creation,termination,expiration"),
        ("Tus-Max-Size" = u64, description = "limits.max_attachment_bytes"),
    ))))]
pub async fn options(State(state): State<ServerState>) -> Response {
    tus(
        &state,
        Ok((
            StatusCode::NO_CONTENT,
            [
                ("tus-version", TUS_VERSION.to_owned()),
                ("tus-extension", TUS_EXTENSIONS.to_owned()),
                ("tus-max-size", state.files.limits.max_bytes.to_string()),
            ],
        )
            .into_response()),
    )
}

/// Create an upload (tus creation). `Upload-Metadata` gives `filename` and `conversation`
/// (required), `filetype` and `clientId`; the same `clientId` again answers the same upload.
#[utoipa::path(post, path = "/api/uploads", tag = "attachments", security(("bearer" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = u64, Header, description = "The file's size in bytes"),
        ("Upload-Metadata" = String, Header, description = "key base64(value) pairs: filename, conversation, filetype, clientId"),
    ),
    responses(
        (status = 201, description = "Created, or found again by its clientId", body = UploadCreated, headers(
            ("Location" = String, description = "/api/uploads/{id}"),
            ("Upload-Offset" = u64, description = "Bytes the server holds"),
            ("Upload-Expires" = String, description = "When an unfinished upload is removed"),
        )),
        (status = 400, description = "Bad headers, an empty file or a bad name", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not a participant of the conversation", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 409, description = "The clientId names an upload of another conversation or length", body = ErrorBody),
        (status = 412, description = "Tus-Resumable is not 1.0.0", body = ErrorBody),
        (status = 413, description = "Larger than the largest attachment, or past the quota", body = ErrorBody),
        (status = 429, description = "Too many unfinished uploads", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ServerState>,
    caller: Result<AuthUser, ApiError>,
    headers: HeaderMap,
) -> Response {
    tus(
        &state,
        async {
            let AuthUser(me) = caller?;
            check_version(&headers)?;
            let req = upload_request(&headers)?;
            let (a, _new) = state.files.create(&me.name, req).await?;
            let mut r = (
                StatusCode::CREATED,
                [
                    (header::LOCATION, format!("/api/uploads/{}", a.id)),
                    (
                        HeaderName::from_static("upload-offset"),
                        a.offset.to_string(),
                    ),
                ],
                Json(UploadCreated {
                    id: a.id.clone(),
                    offset: a.offset,
                    length: a.length,
                }),
            )
                .into_response();
            if let Some(v) = expires(&a).and_then(|e| HeaderValue::from_str(&e).ok()) {
                r.headers_mut().insert("upload-expires", v);
            }
            Ok(r)
        }
        .await,
    )
}

/// How much of an upload the server holds (the uploader only).
#[utoipa::path(head, path = "/api/uploads/{id}", tag = "attachments", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Upload (attachment) id"),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
    ),
    responses(
        (status = 200, description = "The upload's state", headers(
            ("Upload-Offset" = u64, description = "Bytes written and made durable"),
            ("Upload-Length" = u64, description = "The file's size"),
        )),
        (status = 401, description = "Missing or invalid access token"),
        (status = 404, description = "No such upload of the caller's"),
        (status = 412, description = "Tus-Resumable is not 1.0.0"),
    ))]
pub async fn head(
    State(state): State<ServerState>,
    caller: Result<AuthUser, ApiError>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    tus(
        &state,
        async {
            let AuthUser(me) = caller?;
            check_version(&headers)?;
            let a = state.files.status(&me.name, &id).await?;
            let mut r = (
                StatusCode::OK,
                [
                    (
                        HeaderName::from_static("upload-offset"),
                        a.offset.to_string(),
                    ),
                    (
                        HeaderName::from_static("upload-length"),
                        a.length.to_string(),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
            )
                .into_response();
            if let Some(v) = expires(&a).and_then(|e| HeaderValue::from_str(&e).ok()) {
                r.headers_mut().insert("upload-expires", v);
            }
            Ok(r)
        }
        .await,
    )
}

/// Append bytes at `Upload-Offset`. The PATCH that completes the file also finishes it
/// (type, image checks, thumbnail) and answers once the attachment is stored.
#[utoipa::path(patch, path = "/api/uploads/{id}", tag = "attachments", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Upload (attachment) id"),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Offset" = u64, Header, description = "The upload's current offset"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Written (and finished, when complete)", headers(
            ("Upload-Offset" = u64, description = "The new offset"),
        )),
        (status = 400, description = "Bad headers, or a body past Upload-Length", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such upload of the caller's", body = ErrorBody),
        (status = 409, description = "Upload-Offset is not the upload's offset", body = ErrorBody),
        (status = 412, description = "Tus-Resumable is not 1.0.0", body = ErrorBody),
        (status = 415, description = "Not application/offset+octet-stream, or an image type the bytes do not confirm", body = ErrorBody),
        (status = 422, description = "An image over the pixel limit, or one that cannot be decoded", body = ErrorBody),
    ))]
pub async fn patch(
    State(state): State<ServerState>,
    caller: Result<AuthUser, ApiError>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    tus(
        &state,
        async {
            let AuthUser(me) = caller?;
            check_version(&headers)?;
            let ctype = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !ctype.trim().eq_ignore_ascii_case(OFFSET_STREAM) {
                return Err(FileError::UnsupportedMediaType.into());
            }
            let offset = number(&headers, "upload-offset")?
                .ok_or_else(|| ApiError::Malformed("Upload-Offset is required".into()))?;
            let len = number(&headers, "content-length")?;
            let stream = body.into_data_stream();
            let offset = state
                .files
                .write(&me.name, &id, offset, len, stream)
                .await?;
            Ok((
                StatusCode::NO_CONTENT,
                [(HeaderName::from_static("upload-offset"), offset.to_string())],
            )
                .into_response())
        }
        .await,
    )
}

/// Cancel an upload, or delete a finished attachment no message uses (tus termination).
#[utoipa::path(delete, path = "/api/uploads/{id}", tag = "attachments", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Upload (attachment) id"),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
    ),
    responses(
        (status = 204, description = "Gone"),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such upload of the caller's, or one a message uses", body = ErrorBody),
        (status = 412, description = "Tus-Resumable is not 1.0.0", body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<ServerState>,
    caller: Result<AuthUser, ApiError>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    tus(
        &state,
        async {
            let AuthUser(me) = caller?;
            check_version(&headers)?;
            state.files.cancel(&me.name, &id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn metadata_is_base64_pairs() {
        let h = headers(&[(
            "upload-metadata",
            "filename aGVsbG8udHh0,conversation Y18x, empty,type dGV4dC9wbGFpbg",
        )]);
        let m = metadata(&h).unwrap();
        assert_eq!(m[0], ("filename".into(), "hello.txt".into()));
        assert_eq!(m[1], ("conversation".into(), "c_1".into()));
        assert_eq!(m[2], ("empty".into(), String::new()));
        assert_eq!(m[3], ("type".into(), "text/plain".into()));
        for bad in ["filename !!!", "filename a b c", "filename //8="] {
            assert!(
                metadata(&headers(&[("upload-metadata", bad)])).is_err(),
                "{bad}"
            );
        }
    }
}
