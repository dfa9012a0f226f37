//! Attachments: resumable uploads into a conversation, finishing them into the blob store,
//! reading them back for those allowed, and removing what nothing uses any more.
//!
//! An upload's bytes go to `<data_dir>/uploads/<id>` as they arrive (streamed, never held
//! whole), `fsync`ed before the offset that counts them is recorded, so a cut or a crash
//! loses at most bytes the client is told to send again. A file's lifecycle:
//! 1. `create`: the database row (quota, open-upload count, participant) and an empty file
//!    whose directory entry is synced (power cuts).
//! 2. `write`: appends at the recorded offset; the one that reaches the length finishes:
//!    [`media::process`] (type, image checks, EXIF, thumbnail, SHA-256), then the blob
//!    store's atomic `put`, then the row finished, in one transaction.
//! 3. A message uses it (the store binds it in the message's transaction).
//! 4. Deleting the message deletes the row; [`Files::collect_garbage`] removes blobs no row
//!    names. Unused uploads expire ([`Files::sweep`], also at start-up, which removes
//!    temporary files of uploads that are gone).
//!
//! Why the blob gate: `put` of a key that exists is a no-op, so an upload finishing with
//! the same bytes as a blob being collected could find the file there, then lose it to
//! the collector. Finishing holds the gate shared from `put` to its commit; collecting
//! holds it exclusively from reading which blobs are unused to removing them.

pub mod blob;
pub mod disk;
pub mod error;
mod locks;
pub mod media;
mod metadata;

use crate::config::LimitsConfig;
use crate::metrics::Metrics;
use crate::store::{AttachmentRecord, BlobRef, Created, Finished, NewUpload, Store};
use blob::{BlobRead, BlobStore};
use bytes::Bytes;
use error::{invalid, not_found, FileError, FileResult};
use futures_util::{Stream, StreamExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tidings_proto::Timestamp;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{Notify, RwLock, Semaphore};
use tokio_util::sync::CancellationToken;

/// Images processed at once (each may hold a decoded image in memory).
const DECODES: usize = 2;
/// How often expired uploads are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// Longest file name, in characters.
pub const MAX_NAME: usize = 255;

/// What a client asks to upload (from `POST /api/uploads`).
#[derive(Debug, Clone, Default)]
pub struct UploadRequest {
    pub length: u64,
    pub name: Option<String>,
    pub declared_type: Option<String>,
    pub conversation: Option<String>,
    pub client_id: Option<String>,
}

/// The limits this service enforces (from [`LimitsConfig`]).
#[derive(Debug, Clone)]
pub struct FileLimits {
    pub max_bytes: u64,
    pub quota: u64,
    pub max_open: usize,
    pub max_pixels: u64,
    pub expiry: Duration,
    /// A `PATCH` body that sends nothing for this long is ended.
    pub idle: Duration,
}

impl FileLimits {
    pub fn from_config(l: &LimitsConfig) -> FileLimits {
        FileLimits {
            max_bytes: l.max_attachment_bytes,
            quota: l.attachment_quota_bytes,
            max_open: l.max_open_uploads,
            max_pixels: l.max_image_pixels,
            expiry: Duration::from_secs(l.upload_expiry_hours * 3600),
            idle: l.request_timeout(),
        }
    }
}

/// The attachments service. Shared behind an `Arc`.
#[derive(Debug)]
pub struct Files {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    /// Where unfinished uploads are written.
    partial: PathBuf,
    pub limits: FileLimits,
    locks: locks::UploadLocks,
    decodes: Semaphore,
    gate: RwLock<()>,
    /// Woken when blobs may have become unused.
    gc: Arc<Notify>,
    metrics: Arc<Metrics>,
}

/// A file name as people see it: trimmed, 1-255 characters, no path separators, control
/// characters or bidirectional overrides, not `.` or `..`.
pub fn file_name(value: &str) -> FileResult<String> {
    let name = value.trim();
    let bad = |why: &str| invalid(format!("filename {value:?} {why}"));
    if name.is_empty() {
        return Err(invalid("filename must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(bad(&format!("is longer than {MAX_NAME} characters")));
    }
    if name.contains(['/', '\\']) {
        return Err(bad("contains a path separator ('/' or '\\')"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("contains control characters"));
    }
    if name.chars().any(|c| ('\u{202A}'..='\u{202E}').contains(&c)) {
        return Err(bad("contains bidirectional override characters"));
    }
    if name == "." || name == ".." {
        return Err(bad("is not a file name"));
    }
    Ok(name.to_owned())
}

/// A new attachment id: `a_` and 32 hex digits from a v4 UUID (122 random bits).
fn new_attachment_id() -> String {
    crate::store::new_id("a")
}

/// Whether `id` looks like an attachment id (so it can name a file under `uploads/`).
fn well_formed(id: &str) -> bool {
    id.len() == 34 && id.starts_with("a_") && id[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl Files {
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        data_dir: &Path,
        limits: FileLimits,
        gc: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Files> {
        let partial = data_dir.join("uploads");
        if !partial.is_dir() {
            std::fs::create_dir_all(&partial)?;
            disk::sync_dir(data_dir)?;
        }
        Ok(Files {
            store,
            blobs,
            partial,
            limits,
            locks: locks::UploadLocks::default(),
            decodes: Semaphore::new(DECODES),
            gate: RwLock::new(()),
            gc,
            metrics,
        })
    }

    fn partial_path(&self, id: &str) -> PathBuf {
        self.partial.join(id)
    }

    /// Creates an upload, or finds the one the uploader's `clientId` named; answers it
    /// and whether it is new.
    pub async fn create(
        &self,
        user: &str,
        req: UploadRequest,
    ) -> FileResult<(AttachmentRecord, bool)> {
        if req.length == 0 {
            return Err(invalid("an attachment cannot be empty (Upload-Length: 0)"));
        }
        if req.length > self.limits.max_bytes {
            return Err(FileError::TooLarge {
                length: req.length,
                max: self.limits.max_bytes,
            });
        }
        let name = file_name(
            req.name
                .as_deref()
                .ok_or_else(|| invalid("Upload-Metadata must give the filename"))?,
        )?;
        let conversation = req
            .conversation
            .filter(|c| !c.is_empty() && c.len() <= 64 && !c.chars().any(char::is_control))
            .ok_or_else(|| invalid("Upload-Metadata must give the conversation the file is for"))?;
        let declared_type = req
            .declared_type
            .filter(|t| !t.is_empty())
            .map(|t| media::declared_type(&t).map_err(invalid))
            .transpose()?;
        if let Some(c) = &req.client_id {
            if c.is_empty()
                || c.len() > tidings_proto::MAX_CLIENT_ID
                || c.chars().any(char::is_control)
            {
                return Err(invalid(format!(
                    "clientId must be 1-{} characters",
                    tidings_proto::MAX_CLIENT_ID
                )));
            }
        }
        let now = Timestamp::now();
        let created = self
            .store
            .create_upload(NewUpload {
                id: new_attachment_id(),
                uploader: user.to_owned(),
                client_id: req.client_id,
                conversation_id: conversation,
                name,
                declared_type,
                length: req.length,
                created_at: now,
                expires_at: Timestamp(now.millis() + self.limits.expiry.as_millis() as i64),
                quota: self.limits.quota,
                max_open: self.limits.max_open,
            })
            .await?;
        match created {
            Created::Existing(a) => Ok((a, false)),
            Created::TooManyOpen => Err(FileError::TooManyUploads {
                max: self.limits.max_open,
            }),
            Created::OverQuota { used } => Err(FileError::QuotaExceeded {
                length: req.length,
                used,
                quota: self.limits.quota,
            }),
            Created::New(a) => {
                if let Err(e) = self.create_partial(&a.id).await {
                    let _ = self.store.delete_upload(&a.id, user).await;
                    let _ = tokio::fs::remove_file(self.partial_path(&a.id)).await;
                    return Err(e.into());
                }
                Ok((a, true))
            }
        }
    }

    /// The empty file of a new upload, its name synced into `uploads/`: each `PATCH`
    /// syncs the file's bytes, not its directory entry, so without this a power cut could
    /// lose a new upload's file while its recorded offset says its bytes are there. (No
    /// test can cut the power; kill -9 does not need it, the page cache survives.)
    async fn create_partial(&self, id: &str) -> std::io::Result<()> {
        tokio::fs::File::create(self.partial_path(id)).await?;
        let dir = self.partial.clone();
        tokio::task::spawn_blocking(move || disk::sync_dir(&dir))
            .await
            .map_err(std::io::Error::other)?
    }

    /// The user's own upload (finished or not), once no request is writing it.
    pub async fn status(&self, user: &str, id: &str) -> FileResult<AttachmentRecord> {
        if !well_formed(id) {
            return Err(not_found(id));
        }
        let _lock = self.locks.lock(id).await;
        self.own(user, id).await
    }

    async fn own(&self, user: &str, id: &str) -> FileResult<AttachmentRecord> {
        match self.store.attachment(id).await? {
            Some(a) if a.uploader == user => Ok(a),
            _ => Err(not_found(id)),
        }
    }

    /// Appends a `PATCH` body at `offset`; finishes the upload when it is complete.
    /// Answers the new offset. Bytes written before a cut, a stall or an excess chunk are
    /// kept (and counted), whatever the answer.
    pub async fn write<S, E>(
        &self,
        user: &str,
        id: &str,
        offset: u64,
        declared_len: Option<u64>,
        body: S,
    ) -> FileResult<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if !well_formed(id) {
            return Err(not_found(id));
        }
        let _lock = self.locks.lock(id).await;
        let a = self.own(user, id).await?;
        if offset != a.offset {
            return Err(FileError::OffsetMismatch {
                expected: a.offset,
                got: offset,
            });
        }
        let remaining = a.length - a.offset;
        if declared_len.is_some_and(|n| n > remaining) {
            return Err(invalid(format!(
                "the body of {} bytes goes past Upload-Length: {remaining} bytes remain",
                declared_len.unwrap_or(0)
            )));
        }
        if a.finished.is_some() {
            return Ok(a.offset);
        }
        let (written, outcome) = self.append(&a, body).await?;
        self.metrics.upload_bytes.inc_by(written);
        let offset = a.offset + written;
        // The last bytes are recorded by finishing itself (offset = length in the same
        // transaction as the attachment): a crash while finishing leaves the previous
        // offset, so the client sends the last piece again, and HEAD never reports a
        // complete upload that is not an attachment.
        if written > 0 && offset < a.length {
            self.store.set_upload_offset(id, offset).await?;
        }
        outcome?;
        if offset == a.length {
            self.finish(a).await?;
        }
        Ok(offset)
    }

    /// Appends the body to the upload's file and syncs it: the bytes written, and how the
    /// body ended (an error for an excess chunk).
    async fn append<S, E>(
        &self,
        a: &AttachmentRecord,
        mut body: S,
    ) -> FileResult<(u64, FileResult<()>)>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.partial_path(&a.id);
        let lost = |detail: String| {
            FileError::Chat(crate::chat::ChatError::Internal(format!(
                "upload {}: {detail}; cancel it (DELETE) and upload the file again",
                a.id
            )))
        };
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(a.offset == 0)
            .open(&path)
            .await
            .map_err(|e| lost(format!("its file cannot be opened: {e}")))?;
        if file.metadata().await?.len() < a.offset {
            return Err(lost("its stored bytes were lost".into()));
        }
        // Bytes past the recorded offset were never counted (a crash before it was
        // recorded): they go.
        file.set_len(a.offset).await?;
        file.seek(std::io::SeekFrom::End(0)).await?;
        let remaining = a.length - a.offset;
        let mut written = 0u64;
        let outcome = loop {
            let chunk = match tokio::time::timeout(self.limits.idle, body.next()).await {
                Err(_) => {
                    tracing::debug!(upload = %a.id, "the upload body stalled");
                    break Ok(());
                }
                Ok(None) => break Ok(()),
                Ok(Some(Err(e))) => {
                    tracing::debug!(upload = %a.id, error = %e, "the upload body was cut");
                    break Ok(());
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            if written + chunk.len() as u64 > remaining {
                break Err(invalid(format!(
                    "the body goes past Upload-Length ({} bytes); {} bytes were kept",
                    a.length,
                    a.offset + written
                )));
            }
            file.write_all(&chunk).await?;
            written += chunk.len() as u64;
        };
        file.flush().await?;
        file.sync_data().await?;
        Ok((written, outcome))
    }

    /// Finishes a complete upload; on a refusal the upload and its files are removed.
    async fn finish(&self, a: AttachmentRecord) -> FileResult<AttachmentRecord> {
        let src = self.partial_path(&a.id);
        let processed = {
            let _permit =
                self.decodes.acquire().await.map_err(|_| {
                    FileError::Chat(crate::chat::ChatError::Internal("closed".into()))
                })?;
            let (src, declared, max) =
                (src.clone(), a.declared_type.clone(), self.limits.max_pixels);
            tokio::task::spawn_blocking(move || media::process(&src, declared.as_deref(), max))
                .await
                .map_err(|e| {
                    FileError::Chat(crate::chat::ChatError::Internal(format!(
                        "processing the upload failed: {e}"
                    )))
                })?
        };
        let p = match processed {
            Ok(p) => p,
            Err(e) => {
                self.store.delete_upload(&a.id, &a.uploader).await?;
                self.remove_partial(&a.id).await;
                return Err(e);
            }
        };
        let _gate = self.gate.read().await;
        self.blobs.put(&p.file.path, &p.file.sha256).await?;
        let thumbnail = match &p.thumbnail {
            Some((t, _)) => {
                self.blobs.put(&t.path, &t.sha256).await?;
                Some(BlobRef {
                    key: t.sha256.clone(),
                    size: t.size,
                })
            }
            None => None,
        };
        let (width, height) = p.dimensions.unzip();
        let done = self
            .store
            .finish_upload(
                &a.id,
                Finished {
                    blob: BlobRef {
                        key: p.file.sha256.clone(),
                        size: p.file.size,
                    },
                    size: p.file.size,
                    content_type: p.content_type,
                    width,
                    height,
                    thumbnail,
                },
            )
            .await?;
        drop(_gate);
        self.remove_partial(&a.id).await;
        self.metrics.uploads_finished.inc();
        Ok(done)
    }

    /// Removes an upload's temporary files (missing ones are fine).
    async fn remove_partial(&self, id: &str) {
        let base = self.partial_path(id);
        for p in [
            base.clone(),
            media::with_suffix(&base, "final"),
            media::with_suffix(&base, "thumb"),
        ] {
            let _ = tokio::fs::remove_file(p).await;
        }
    }

    /// Cancels the user's upload, or deletes a finished attachment no message uses.
    pub async fn cancel(&self, user: &str, id: &str) -> FileResult<()> {
        if !well_formed(id) {
            return Err(not_found(id));
        }
        let _lock = self.locks.lock(id).await;
        let gone = self
            .store
            .delete_upload(id, user)
            .await?
            .ok_or_else(|| not_found(id))?;
        self.remove_partial(id).await;
        if gone.finished.is_some() {
            self.gc.notify_one();
        }
        Ok(())
    }

    /// A finished attachment `user` may read (see the store's rule), else `NotFound`.
    pub async fn readable(&self, user: &str, id: &str) -> FileResult<AttachmentRecord> {
        if !well_formed(id) {
            return Err(not_found(id));
        }
        self.store
            .readable_attachment(id, user)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Reads `len` bytes from `start` of a blob.
    pub async fn open(&self, blob: &BlobRef, start: u64, len: u64) -> FileResult<BlobRead> {
        Ok(self.blobs.open(&blob.key, start, len).await?)
    }

    /// Removes blobs no attachment names (see the module doc for the gate).
    pub async fn collect_garbage(&self) -> FileResult<usize> {
        let _gate = self.gate.write().await;
        let keys = self.store.unreferenced_blobs().await?;
        for k in &keys {
            self.blobs.delete(k).await?;
        }
        let n = keys.len();
        self.store.forget_blobs(keys).await?;
        Ok(n)
    }

    /// Removes expired uploads and unused attachments, temporary files that belong to no
    /// upload (a crash's leftovers), then unused blobs.
    pub async fn sweep(&self) -> FileResult<()> {
        for gone in self.store.expire_uploads(Timestamp::now()).await? {
            self.remove_partial(&gone.id).await;
        }
        let open: std::collections::HashSet<String> =
            self.store.unfinished_uploads().await?.into_iter().collect();
        let mut dir = tokio::fs::read_dir(&self.partial).await?;
        while let Some(entry) = dir.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            // `<id>` is an open upload's file; `<id>.final` and `<id>.thumb` only live
            // while it finishes, under its lock, so a sweep finds them only after a crash.
            let id = name.split('.').next().unwrap_or_default();
            if name.contains('.') || !open.contains(id) {
                let _lock = self.locks.lock(id).await;
                let still_open = self
                    .store
                    .attachment(id)
                    .await?
                    .is_some_and(|a| a.finished.is_none());
                if name.contains('.') || !still_open {
                    let _ = tokio::fs::remove_file(entry.path()).await;
                }
            }
        }
        self.collect_garbage().await?;
        Ok(())
    }

    /// The background sweeper: collects garbage when woken, sweeps every ten minutes,
    /// until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.gc.notified() => {
                    if let Err(e) = self.collect_garbage().await {
                        tracing::warn!(error = %e, "collecting unused blobs failed");
                    }
                }
                _ = tokio::time::sleep(SWEEP_EVERY) => {
                    if let Err(e) = self.sweep().await {
                        tracing::warn!(error = %e, "sweeping uploads failed");
                    }
                }
            }
        }
    }
}
