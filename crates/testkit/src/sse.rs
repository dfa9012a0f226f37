//! A Server-Sent Events reader for tests: opens `GET path` (a bearer token, a
//! `Last-Event-ID`) and yields each event as (name, id, data), keep-alive comments skipped,
//! every read bounded by [`crate::WAIT`].

use crate::{Api, WAIT};
use futures_util::StreamExt;

/// Reads SSE events (name, id, data) from a streaming response.
pub struct Sse {
    stream:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl std::fmt::Debug for Sse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sse").field("buf", &self.buf).finish()
    }
}

impl Sse {
    pub async fn open(
        api: &Api,
        path: &str,
        token: Option<&str>,
        last_event_id: Option<&str>,
    ) -> (u16, Option<Sse>) {
        let mut req = api.http.get(format!("{}{path}", api.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        if status != 200 {
            return (status, None);
        }
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        (
            status,
            Some(Sse {
                stream: Box::pin(resp.bytes_stream()),
                buf: String::new(),
            }),
        )
    }

    pub async fn next(&mut self) -> (String, Option<String>, String) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (String::from("message"), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() && name == "message" {
                    continue; // a keep-alive comment
                }
                return (name, id, data);
            }
            let chunk = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("SSE timed out")
                .unwrap()
                .unwrap();
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Waits for the server to end the stream (what comes before is skipped).
    pub async fn closed(&mut self) {
        while tokio::time::timeout(WAIT, self.stream.next())
            .await
            .expect("SSE timed out waiting for the end")
            .is_some()
        {}
    }
}
