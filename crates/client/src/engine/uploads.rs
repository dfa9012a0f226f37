//! Uploading an outbox entry's files with tus, one job per entry, beside the connection.
//! For each file not yet done: find its upload again (`HEAD` the id the cache holds; a
//! `404` means it expired, so start over) or create it (`POST` with the file's `clientId`,
//! `<message clientId>/<position>`, so a creation whose answer was lost answers the same
//! upload), then `PATCH` chunks of [`super::EngineConfig::upload_chunk`] from the offset
//! the server holds; after a `409` (the offset moved), `HEAD` says where to go on. Every
//! acknowledged chunk is written to the outbox row (the progress that survives a restart)
//! and each piece handed to the connection to the progress channel (the smooth one).
//!
//! When every file is done the job pokes the engine, which sends the message with the
//! attachments' ids and the entry's own `clientId`; both keys make a repeat harmless, so
//! the message is stored once across restarts, reconnects and cuts.
//!
//! A failure the server may get over (unreachable, 5xx, 429, a token it refused twice)
//! puts the entry back to pending at a later time; a refusal (over the limit or the
//! quota, not a participant, a type that lies, an image too large) fails the entry with
//! the server's sentence, as a refused message does.

use super::catchup::CatchUp;
use super::{announce_change, Command, UploadProgress, UploadStep};
use crate::cache::{OutboxFile, OutboxState};
use crate::error::{ClientError, ClientResult};
use crate::http::UploadMeta;
use bytes::BytesMut;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tidings_proto::Timestamp;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

/// The progress channel's value: per outbox entry (`clientId`), bytes sent and in all.
pub type Progress = BTreeMap<String, UploadProgress>;

/// One entry's upload job.
#[derive(Clone)]
pub(super) struct UploadJob {
    pub sync: CatchUp,
    pub client_id: String,
    pub chunk: usize,
    pub progress: Arc<watch::Sender<Progress>>,
    pub changed: Arc<watch::Sender<i64>>,
    pub pokes: mpsc::WeakSender<Command>,
    pub gate: Option<mpsc::Sender<UploadStep>>,
}

/// What became of a try.
enum Failure {
    /// Try again later (the server may get over it).
    Later(String),
    /// Refused for good, with the sentence to show.
    Refused(String),
}

fn sort(e: ClientError) -> Failure {
    match e {
        ClientError::Refused {
            status: 429,
            message,
            ..
        } => Failure::Later(message),
        ClientError::Refused { message, .. } => Failure::Refused(message),
        ClientError::Io(m) | ClientError::Config(m) => Failure::Refused(m),
        ClientError::Cache(e) => Failure::Refused(e.to_string()),
        other => Failure::Later(other.to_string()),
    }
}

/// A `404` from the server for an upload: it is gone (expired).
fn gone(e: &ClientError) -> bool {
    matches!(e, ClientError::Refused { status: 404, .. })
}

impl UploadJob {
    pub async fn run(self) {
        let result = self.upload_all().await;
        let cache = &self.sync.cache;
        let client_id = &self.client_id;
        let outcome = match result {
            Ok(()) => Ok(()),
            Err(e) => match sort(e) {
                Failure::Later(reason) => {
                    let attempts = cache
                        .outbox_entry(client_id)
                        .ok()
                        .flatten()
                        .map_or(0, |e| e.attempts);
                    let delay = retry_delay(attempts);
                    tracing::info!(%client_id, %reason, ?delay, "an upload will be tried again");
                    let at = Timestamp(Timestamp::now().millis() + delay.as_millis() as i64);
                    cache.retry_upload_at(client_id, at, &reason)
                }
                Failure::Refused(reason) => {
                    tracing::info!(%client_id, %reason, "an upload was refused for good");
                    cache.mark_failed(client_id, &reason)
                }
            },
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "cannot record an upload's outcome");
        }
        self.progress
            .send_if_modified(|p| p.remove(client_id).is_some());
        announce_change(cache, &self.changed);
        if let Some(tx) = self.pokes.upgrade() {
            let _ = tx.try_send(Command::Poke);
        }
    }

    /// Runs a call with a valid access token; one the server refuses is renewed once.
    async fn authed<T, F, Fut>(&self, call: F) -> ClientResult<T>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = ClientResult<T>>,
    {
        let token = self.sync.tokens.get().await?;
        match call(token).await {
            Err(ClientError::Unauthorized(_)) => {
                self.sync.tokens.invalidate().await;
                call(self.sync.tokens.get().await?).await
            }
            other => other,
        }
    }

    async fn upload_all(&self) -> ClientResult<()> {
        let cache = &self.sync.cache;
        let Some(entry) = cache.outbox_entry(&self.client_id)? else {
            return Ok(()); // cancelled
        };
        if entry.state != OutboxState::Pending {
            return Ok(());
        }
        let total = entry.total_bytes() as u64;
        let mut before = 0u64;
        for f in &entry.attachments {
            if !f.done {
                self.upload_file(&entry.conversation_id, f, before, total)
                    .await?;
            }
            before += f.size as u64;
        }
        Ok(())
    }

    fn show(&self, sent: u64, total: u64) {
        self.progress.send_modify(|p| {
            p.insert(self.client_id.clone(), UploadProgress { sent, total });
        });
    }

    async fn upload_file(
        &self,
        conversation: &str,
        f: &OutboxFile,
        before: u64,
        total: u64,
    ) -> ClientResult<()> {
        let cache = &self.sync.cache;
        let size = f.size as u64;
        let path = cache.files_dir().join(&f.path);
        let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
            ClientError::Io(format!(
                "the copy of {} kept for sending is gone ({e}); send the file again",
                f.name
            ))
        })?;
        let upload_key = format!("{}/{}", self.client_id, f.position);
        let meta = UploadMeta {
            filename: &f.name,
            conversation,
            filetype: f.content_type.as_deref(),
            client_id: &upload_key,
        };
        let known = match &f.upload_id {
            Some(id) => match self
                .authed(|t| async move { self.sync.api.upload_offset(&t, id).await })
                .await
            {
                Ok(offset) => Some((id.clone(), offset)),
                Err(e) if gone(&e) => {
                    cache.forget_upload(&self.client_id, f.position)?;
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let (id, mut offset) = match known {
            Some(k) => k,
            None => {
                let meta = &meta;
                let created = self
                    .authed(|t| async move { self.sync.api.create_upload(&t, size, meta).await })
                    .await?;
                (created.id, created.offset)
            }
        };
        cache.set_upload(&self.client_id, f.position, &id, offset as i64)?;
        announce_change(cache, &self.changed);
        self.show(before + offset, total);
        while offset < size {
            if let Some(gate) = &self.gate {
                let (go, wait) = oneshot::channel();
                let step = UploadStep {
                    upload_id: id.clone(),
                    offset,
                    go,
                };
                if gate.send(step).await.is_ok() {
                    let _ = wait.await;
                }
            }
            let want = (size - offset).min(self.chunk as u64) as usize;
            let mut buf = BytesMut::zeroed(want);
            let read = async {
                file.seek(std::io::SeekFrom::Start(offset)).await?;
                file.read_exact(&mut buf).await
            }
            .await;
            read.map_err(|e| ClientError::Io(format!("cannot read the copy of {} ({e})", f.name)))?;
            let chunk = buf.freeze();
            let progress = self.progress.clone();
            let key = self.client_id.clone();
            let base = before + offset;
            let shown: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |n| {
                progress.send_modify(|p| {
                    p.insert(
                        key.clone(),
                        UploadProgress {
                            sent: base + n,
                            total,
                        },
                    );
                });
            });
            let patched = self
                .authed(|t| {
                    let (chunk, shown, id) = (chunk.clone(), shown.clone(), &id);
                    async move {
                        self.sync
                            .api
                            .patch_upload(&t, id, offset, chunk, shown)
                            .await
                    }
                })
                .await;
            offset = match patched {
                Ok(o) => o,
                // The offset moved (a cut after the server wrote more than it could say):
                // go on from where the server is.
                Err(ClientError::Refused { status: 409, .. }) => {
                    let id = &id;
                    self.authed(|t| async move { self.sync.api.upload_offset(&t, id).await })
                        .await?
                }
                Err(e) if gone(&e) => {
                    cache.forget_upload(&self.client_id, f.position)?;
                    return Err(ClientError::Server(format!(
                        "the server lost the upload of {}; starting it again",
                        f.name
                    )));
                }
                Err(e) => return Err(e),
            };
            cache.set_upload_offset(&self.client_id, f.position, offset as i64, false)?;
            announce_change(cache, &self.changed);
            self.show(before + offset, total);
        }
        // The PATCH that reached the length answered only once the server stored the file
        // (or an earlier run's did, and the offset says so).
        cache.set_upload_offset(&self.client_id, f.position, size as i64, true)?;
        announce_change(cache, &self.changed);
        Ok(())
    }
}

/// How long to wait before trying an entry's upload again after its `attempts`-th failure:
/// 1 s doubling to 5 min.
fn retry_delay(attempts: i64) -> Duration {
    let mut b = crate::backoff::Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
    for _ in 0..attempts.clamp(0, 20) {
        b.next_delay(1.0);
    }
    b.ceiling()
}

/// The running upload jobs by entry (`clientId`), shared by the engine's handle (cancel,
/// drop) and its task (start). A `std` mutex: only inserts and lookups, never across an
/// `.await`.
#[derive(Debug, Default, Clone)]
pub(super) struct UploadTasks(Arc<Mutex<HashMap<String, AbortHandle>>>);

impl UploadTasks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, AbortHandle>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn running(&self, client_id: &str) -> bool {
        self.lock().get(client_id).is_some_and(|h| !h.is_finished())
    }

    /// The entries whose jobs are running.
    pub fn running_ids(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, h)| !h.is_finished())
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn insert(&self, client_id: &str, handle: AbortHandle) {
        let mut tasks = self.lock();
        tasks.retain(|_, h| !h.is_finished());
        tasks.insert(client_id.to_owned(), handle);
    }

    pub fn stop(&self, client_id: &str) {
        if let Some(h) = self.lock().remove(client_id) {
            h.abort();
        }
    }

    pub fn stop_all(&self) {
        for (_, h) in self.lock().drain() {
            h.abort();
        }
    }
}

/// What the engine's task needs to start upload jobs.
#[derive(Debug, Clone)]
pub(super) struct Uploads {
    pub tasks: UploadTasks,
    pub progress: Arc<watch::Sender<Progress>>,
    pub pokes: mpsc::WeakSender<Command>,
}
