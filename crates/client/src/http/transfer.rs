//! Files over HTTP: the client side of tus 1.0.0 uploads (`OPTIONS`, `POST`, `HEAD`,
//! `PATCH`, `DELETE` under `/api/uploads`, see docs/protocol.md "Attachments") and
//! downloads of attachments and thumbnails into a file, checked against the server's
//! `ETag` (the SHA-256 of the bytes).
//!
//! *(choice)* Written here with reqwest rather than with a tus crate: the Rust tus clients
//! on crates.io are unmaintained (`tus_client` 0.1, blocking, 2021; its async fork
//! `tus_async_client` 0.2, 2022) or early (`tusc` 0.0.1, `tus-uploader` 0.1) and own the
//! upload loop, where the engine needs its own: its token cell, its outbox rows for the
//! offset and the upload id, and the `clientId` metadata that makes creation idempotent.
//! Five requests are little code.

use super::{describe, encode, refusal, Api};
use crate::error::{ClientError, ClientResult};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tidings_proto::api::UploadCreated;
use tokio::io::AsyncWriteExt;

/// How long an upload or a download may go without a byte moving.
pub(crate) const SILENCE: Duration = Duration::from_secs(60);
const TUS_RESUMABLE: &str = "1.0.0";
/// The pieces a chunk's body is streamed in (for progress within a chunk).
const PIECE: usize = 64 * 1024;

/// What an upload is (tus `Upload-Metadata`).
#[derive(Debug, Clone)]
pub struct UploadMeta<'a> {
    pub filename: &'a str,
    pub conversation: &'a str,
    pub filetype: Option<&'a str>,
    /// The idempotency key: the same key again answers the same upload.
    pub client_id: &'a str,
}

impl UploadMeta<'_> {
    fn header(&self) -> String {
        let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
        let mut pairs = vec![
            format!("filename {}", b64(self.filename)),
            format!("conversation {}", b64(self.conversation)),
            format!("clientId {}", b64(self.client_id)),
        ];
        if let Some(t) = self.filetype {
            pairs.push(format!("filetype {}", b64(t)));
        }
        pairs.join(",")
    }
}

/// An upload as the server holds it.
pub type UploadState = UploadCreated;

/// A downloaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub size: u64,
    pub content_type: String,
    pub etag: Option<String>,
    /// The name from `Content-Disposition` (`filename*`), when the server gave one.
    pub name: Option<String>,
}

fn offset_of(resp: &reqwest::Response) -> ClientResult<u64> {
    resp.headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ClientError::Server("the server's tus answer has no Upload-Offset".into()))
}

/// The name in a `Content-Disposition`'s `filename*=UTF-8''…` (RFC 8187).
fn disposition_name(v: &str) -> Option<String> {
    let encoded = v
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("filename*="))?;
    let encoded = encoded
        .strip_prefix("UTF-8''")
        .or_else(|| encoded.strip_prefix("utf-8''"))?;
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Api {
    fn unreachable(&self, e: &reqwest::Error) -> ClientError {
        ClientError::Unreachable(self.base.to_string(), describe(e))
    }

    fn tus(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.transfer
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Tus-Resumable", TUS_RESUMABLE)
    }

    /// An unsuccessful answer as an error (its body read first).
    async fn failed(&self, resp: reqwest::Response, path: &str) -> ClientError {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        refusal(status, &text, path)
    }

    /// The largest attachment the server takes (`Tus-Max-Size` of `OPTIONS /api/uploads`),
    /// `None` when it does not say.
    pub async fn max_upload_size(&self) -> ClientResult<Option<u64>> {
        let resp = self
            .http
            .request(Method::OPTIONS, format!("{}/api/uploads", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if !resp.status().is_success() {
            return Err(self.failed(resp, "/api/uploads").await);
        }
        Ok(resp
            .headers()
            .get("tus-max-size")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok()))
    }

    /// Creates an upload of `length` bytes, or finds the one with the same `clientId`
    /// again (then its offset says how much the server already holds).
    pub async fn create_upload(
        &self,
        token: &str,
        length: u64,
        meta: &UploadMeta<'_>,
    ) -> ClientResult<UploadState> {
        let resp = self
            .tus(Method::POST, "/api/uploads", token)
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", meta.header())
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if resp.status() != StatusCode::CREATED {
            return Err(self.failed(resp, "/api/uploads").await);
        }
        let offset = offset_of(&resp)?;
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        let mut created: UploadCreated = serde_json::from_str(&text)
            .map_err(|e| ClientError::Server(format!("unreadable answer to an upload: {e}")))?;
        created.offset = offset;
        Ok(created)
    }

    /// How many bytes of an upload the server holds (`HEAD`); a `404` (gone: expired, or
    /// refused when it finished) is a [`ClientError::Refused`] with status 404.
    pub async fn upload_offset(&self, token: &str, id: &str) -> ClientResult<u64> {
        let path = format!("/api/uploads/{}", encode(id));
        let resp = self
            .tus(Method::HEAD, &path, token)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        match resp.status() {
            s if s.is_success() => offset_of(&resp),
            StatusCode::NOT_FOUND => Err(ClientError::Refused {
                status: 404,
                code: "not_found".into(),
                message: "the upload is no longer on the server".into(),
            }),
            _ => Err(self.failed(resp, &path).await),
        }
    }

    /// Sends `chunk` at `offset`; answers the new offset. The body goes in pieces, each
    /// counted by `progress` (bytes of this chunk handed to the connection so far).
    pub async fn patch_upload(
        &self,
        token: &str,
        id: &str,
        offset: u64,
        chunk: Bytes,
        progress: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> ClientResult<u64> {
        let path = format!("/api/uploads/{}", encode(id));
        let len = chunk.len();
        let pieces = futures_util::stream::iter((0..len).step_by(PIECE).map(move |start| {
            let end = (start + PIECE).min(len);
            progress(end as u64);
            Ok::<Bytes, std::io::Error>(chunk.slice(start..end))
        }));
        let resp = self
            .tus(Method::PATCH, &path, token)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Length", len.to_string())
            .body(reqwest::Body::wrap_stream(pieces))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if resp.status() != StatusCode::NO_CONTENT && !resp.status().is_success() {
            return Err(self.failed(resp, &path).await);
        }
        offset_of(&resp)
    }

    /// Deletes an upload, or a finished attachment no message uses (tus termination). An
    /// upload already gone counts as deleted.
    pub async fn delete_upload(&self, token: &str, id: &str) -> ClientResult<()> {
        let path = format!("/api/uploads/{}", encode(id));
        let resp = self
            .tus(Method::DELETE, &path, token)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(self.failed(resp, &path).await),
        }
    }

    /// Downloads an attachment (`thumbnail`: its thumbnail) into `dest`: written to a
    /// `.part` file beside it, checked against the `ETag`'s SHA-256 when there is one, then renamed,
    /// so `dest` is never a partial file.
    pub async fn download_attachment(
        &self,
        token: &str,
        id: &str,
        thumbnail: bool,
        dest: &Path,
    ) -> ClientResult<Fetched> {
        let mut path = format!("/api/attachments/{}", encode(id));
        if thumbnail {
            path.push_str("/thumbnail");
        }
        let resp = self
            .transfer
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if !resp.status().is_success() {
            return Err(self.failed(resp, &path).await);
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type =
            header("content-type").unwrap_or_else(|| "application/octet-stream".into());
        let etag = header("etag");
        let name = header("content-disposition").and_then(|d| disposition_name(&d));
        let io = |e: std::io::Error| {
            ClientError::Io(format!(
                "cannot write the download to {}: {e}",
                dest.display()
            ))
        };
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        // Its own name: two downloads of the same file at once do not mix their bytes.
        let part = dest.with_extension(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let mut file = tokio::fs::File::create(&part).await.map_err(io)?;
        let mut hash = Sha256::new();
        let mut size = 0u64;
        let mut body = resp.bytes_stream();
        let written = async {
            while let Some(piece) = body.next().await {
                let piece = piece.map_err(|e| self.unreachable(&e))?;
                hash.update(&piece);
                size += piece.len() as u64;
                file.write_all(&piece).await.map_err(io)?;
            }
            file.flush().await.map_err(io)?;
            file.sync_all().await.map_err(io)?;
            Ok::<(), ClientError>(())
        }
        .await;
        drop(file);
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
        let digest = format!("{:x}", hash.finalize());
        if let Some(tag) = &etag {
            let tag = tag.trim_start_matches("W/").trim_matches('"');
            if tag.len() == 64 && !tag.eq_ignore_ascii_case(&digest) {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(ClientError::Server(format!(
                    "the download of {id} does not match its ETag (the bytes were damaged on the way)"
                )));
            }
        }
        tokio::fs::rename(&part, dest).await.map_err(io)?;
        Ok(Fetched {
            size,
            content_type,
            etag,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_base64_pairs() {
        let m = UploadMeta {
            filename: "a b.txt",
            conversation: "c1",
            filetype: Some("text/plain"),
            client_id: "k",
        };
        assert_eq!(
            m.header(),
            "filename YSBiLnR4dA==,conversation YzE=,clientId aw==,filetype dGV4dC9wbGFpbg=="
        );
    }

    #[test]
    fn the_name_comes_from_filename_star() {
        assert_eq!(
            disposition_name("attachment; filename=\"_.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.txt")
                .as_deref(),
            Some("été.txt")
        );
        assert_eq!(disposition_name("inline; filename=\"a.png\""), None);
        assert_eq!(
            disposition_name("attachment; filename*=UTF-8''bad%2"),
            Some("bad%2".into())
        );
    }
}
