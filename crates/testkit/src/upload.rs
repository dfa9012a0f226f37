//! Attachments over tus 1.0.0 for tests: create, `PATCH`, `HEAD`, a whole upload, and
//! downloads with their headers (see docs/protocol.md, "Attachments").

use crate::{Api, TestUser, WAIT};
use base64::Engine;
use serde_json::Value;

/// A tus answer: status, `Upload-Offset` (when given), `Location` (when given), the JSON
/// body (`Null` when none).
#[derive(Debug, Clone)]
pub struct TusAnswer {
    pub status: u16,
    pub offset: Option<u64>,
    pub location: Option<String>,
    pub body: Value,
}

/// A download: status, headers, bytes.
#[derive(Debug)]
pub struct Download {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Download {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What to put in `Upload-Metadata`.
#[derive(Debug, Clone, Default)]
pub struct Meta<'a> {
    pub filename: Option<&'a str>,
    pub filetype: Option<&'a str>,
    pub conversation: Option<&'a str>,
    pub client_id: Option<&'a str>,
}

impl Meta<'_> {
    pub fn header(&self) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        [
            ("filename", self.filename),
            ("filetype", self.filetype),
            ("conversation", self.conversation),
            ("clientId", self.client_id),
        ]
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} {}", b64(v))))
        .collect::<Vec<_>>()
        .join(",")
    }
}

async fn answer(resp: reqwest::Response) -> TusAnswer {
    let status = resp.status().as_u16();
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let offset = h("upload-offset").and_then(|v| v.parse().ok());
    let location = h("location");
    let text = resp.text().await.unwrap();
    TusAnswer {
        status,
        offset,
        location,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

impl Api {
    /// `POST /api/uploads` with `Upload-Length: length` and `meta`.
    pub async fn tus_create(&self, who: &TestUser, length: u64, meta: &Meta<'_>) -> TusAnswer {
        let req = self
            .http
            .post(format!("{}/api/uploads", self.base))
            .bearer_auth(&who.token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", length.to_string())
            .header("upload-metadata", meta.header());
        send(req).await
    }

    /// `PATCH /api/uploads/{id}` at `offset` with `body`.
    pub async fn tus_patch(
        &self,
        who: &TestUser,
        id: &str,
        offset: u64,
        body: impl Into<reqwest::Body>,
    ) -> TusAnswer {
        let req = self
            .http
            .patch(format!("{}/api/uploads/{id}", self.base))
            .bearer_auth(&who.token)
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(body);
        send(req).await
    }

    /// `HEAD /api/uploads/{id}`.
    pub async fn tus_head(&self, who: &TestUser, id: &str) -> TusAnswer {
        let req = self
            .http
            .head(format!("{}/api/uploads/{id}", self.base))
            .bearer_auth(&who.token)
            .header("tus-resumable", "1.0.0");
        send(req).await
    }

    /// `DELETE /api/uploads/{id}`.
    pub async fn tus_delete(&self, who: &TestUser, id: &str) -> TusAnswer {
        let req = self
            .http
            .delete(format!("{}/api/uploads/{id}", self.base))
            .bearer_auth(&who.token)
            .header("tus-resumable", "1.0.0");
        send(req).await
    }

    /// Uploads `bytes` into `cid` in one `PATCH` and answers the attachment id; panics on
    /// any refusal.
    pub async fn upload(
        &self,
        who: &TestUser,
        cid: &str,
        name: &str,
        filetype: Option<&str>,
        bytes: Vec<u8>,
    ) -> String {
        let meta = Meta {
            filename: Some(name),
            filetype,
            conversation: Some(cid),
            client_id: None,
        };
        let created = self.tus_create(who, bytes.len() as u64, &meta).await;
        assert_eq!(created.status, 201, "{created:?}");
        let id = created.body["id"].as_str().unwrap().to_owned();
        let n = bytes.len() as u64;
        let done = self.tus_patch(who, &id, 0, bytes).await;
        assert_eq!((done.status, done.offset), (204, Some(n)), "{done:?}");
        id
    }

    /// `GET path` (an attachment or its thumbnail) with extra headers.
    pub async fn download_with(
        &self,
        who: &TestUser,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Download {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&who.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = tokio::time::timeout(WAIT, req.send())
            .await
            .unwrap()
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap().to_vec();
        Download {
            status,
            headers,
            bytes,
        }
    }

    /// `GET /api/attachments/{id}`.
    pub async fn download(&self, who: &TestUser, id: &str) -> Download {
        self.download_with(who, &format!("/api/attachments/{id}"), &[])
            .await
    }
}

/// A `PATCH` over a raw connection that announces `announced` body bytes and sends only
/// `sent`: the connection stays open (a transfer in progress) until the stream is dropped
/// (a cable pulled mid-body).
pub async fn open_patch(
    addr: std::net::SocketAddr,
    who: &TestUser,
    id: &str,
    offset: u64,
    announced: u64,
    sent: &[u8],
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PATCH /api/uploads/{id} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         tus-resumable: 1.0.0\r\ncontent-type: application/offset+octet-stream\r\n\
         upload-offset: {offset}\r\ncontent-length: {announced}\r\n\r\n",
        who.token
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(sent).await.unwrap();
    s.flush().await.unwrap();
    s
}

/// `len` bytes that no type sniffer recognises, different for each `seed` (a file's
/// content for tests that must not be taken for an image or a document).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// Writes `bytes` to `dir/name`; answers the path.
pub fn write_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Sends a tus request (bounded by [`WAIT`]) and reads its answer.
async fn send(req: reqwest::RequestBuilder) -> TusAnswer {
    answer(
        tokio::time::timeout(WAIT, req.send())
            .await
            .unwrap()
            .unwrap(),
    )
    .await
}
