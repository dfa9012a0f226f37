//! `GET /api/attachments/{id}` and `/thumbnail`: the bytes, for those allowed (others get
//! 404), with headers that keep a browser from running what it downloads: `nosniff`, a
//! sandboxing CSP, and `Content-Disposition: attachment` for all but raster images.
//! Conditional (`If-None-Match`) and single-range requests are answered.

use super::extract::{AuthUser, Path};
use crate::files::error::{not_found, FileError};
use crate::files::media::INLINE_IMAGES;
use crate::{ApiError, ServerState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tidings_proto::api::ErrorBody;

/// `filename*` of RFC 8187 (percent-encoded UTF-8) and an ASCII `filename` beside it.
fn disposition(kind: &str, name: &str) -> String {
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The one range of a `Range: bytes=…` header within `size`: `Ok(None)` for no header or
/// one this server answers whole (several ranges, another unit, bad syntax);
/// `Err` when unsatisfiable.
fn range(h: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, FileError> {
    let Some(spec) = h
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let (start, end) = match (a.trim().is_empty(), parse(a), parse(b)) {
        // `-n`: the last n bytes.
        (true, _, Some(n)) if n > 0 => (size.saturating_sub(n), size.saturating_sub(1)),
        (true, _, _) => return Err(FileError::RangeNotSatisfiable { size }),
        (false, Some(s), None) if b.trim().is_empty() => (s, size.saturating_sub(1)),
        (false, Some(s), Some(e)) if e >= s => (s, e.min(size.saturating_sub(1))),
        _ => return Ok(None),
    };
    if start >= size {
        return Err(FileError::RangeNotSatisfiable { size });
    }
    Ok(Some((start, end)))
}

async fn serve(
    state: ServerState,
    user: &str,
    id: &str,
    headers: &HeaderMap,
    thumbnail: bool,
) -> Result<Response, ApiError> {
    let a = state.files.readable(user, id).await?;
    let f = a.finished.as_ref().ok_or_else(|| not_found(id))?;
    let (blob, content_type, disposition) = if thumbnail {
        let t = f.thumbnail.as_ref().ok_or_else(|| not_found(id))?;
        let ct = if f.content_type == "image/jpeg" {
            "image/jpeg"
        } else {
            "image/png"
        };
        (t, ct.to_owned(), "inline".to_owned())
    } else {
        let kind = if INLINE_IMAGES.contains(&f.content_type.as_str()) {
            "inline"
        } else {
            "attachment"
        };
        (&f.blob, f.content_type.clone(), disposition(kind, &a.name))
    };
    let etag = format!("\"{}\"", blob.key);
    let mut common = HeaderMap::new();
    let mut put = |k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            common.insert(k, v);
        }
    };
    put(header::ETAG, &etag);
    put(
        header::CACHE_CONTROL,
        "private, max-age=31536000, immutable",
    );
    put(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    put(
        header::CONTENT_SECURITY_POLICY,
        "sandbox; default-src 'none'",
    );
    put(header::ACCEPT_RANGES, "bytes");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    let size = blob.size;
    let (status, start, len) = match range(headers, size) {
        Err(e) => {
            let mut r = ApiError::from(e).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
        Ok(None) => (StatusCode::OK, 0, size),
        Ok(Some((s, e))) => {
            put_range(&mut common, s, e, size);
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
    };
    let read = state.files.open(blob, start, len).await?;
    let mut r = (status, common, Body::from_stream(read.body)).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(read.len));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

fn put_range(h: &mut HeaderMap, start: u64, end: u64, size: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
        h.insert(header::CONTENT_RANGE, v);
    }
}

/// Download an attachment: participants of a conversation whose message carries it, and
/// its uploader while no message does. Anyone else: 404.
#[utoipa::path(get, path = "/api/attachments/{id}", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such attachment, or not one the caller may read", body = ErrorBody),
        (status = 416, description = "The range is outside the file", body = ErrorBody),
    ))]
pub async fn download(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(state, &me.name, &id, &headers, false).await
}

/// An image attachment's thumbnail (at most 320 × 320); 404 when it has none.
#[utoipa::path(get, path = "/api/attachments/{id}/thumbnail", tag = "attachments",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The thumbnail (JPEG or PNG)", content_type = "image/png", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "image/png", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such attachment or thumbnail, or not one the caller may read", body = ErrorBody),
        (status = 416, description = "The range is outside the file", body = ErrorBody),
    ))]
pub async fn thumbnail(
    State(state): State<ServerState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(state, &me.name, &id, &headers, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranged(v: &str, size: u64) -> Result<Option<(u64, u64)>, FileError> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
        range(&h, size)
    }

    #[test]
    fn ranges_are_one_satisfiable_byte_range_or_the_whole_file() {
        assert_eq!(ranged("bytes=0-9", 100).ok(), Some(Some((0, 9))));
        assert_eq!(ranged("bytes=90-", 100).ok(), Some(Some((90, 99))));
        assert_eq!(ranged("bytes=-10", 100).ok(), Some(Some((90, 99))));
        assert_eq!(ranged("bytes=50-500", 100).ok(), Some(Some((50, 99))));
        assert_eq!(ranged("bytes=0-1,5-6", 100).ok(), Some(None));
        assert_eq!(ranged("items=0-1", 100).ok(), Some(None));
        assert!(ranged("bytes=100-", 100).is_err());
        assert!(ranged("bytes=-0", 100).is_err());
    }

    #[test]
    fn names_are_quoted_safely() {
        assert_eq!(
            disposition("attachment", "a \"b\".txt"),
            "attachment; filename=\"a _b_.txt\"; filename*=UTF-8''a%20%22b%22.txt"
        );
        assert_eq!(
            disposition("inline", "été.png"),
            "inline; filename=\"_t_.png\"; filename*=UTF-8''%C3%A9t%C3%A9.png"
        );
    }
}
