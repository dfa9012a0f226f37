//! The store's side of attachments: uploads in progress, finished attachments, the blobs
//! (stored bytes, by SHA-256) they refer to, and who may read them.
//!
//! Contracts every implementation keeps:
//! - `(uploader, clientId)` names at most one attachment: creating it again answers the
//!   stored one (`Created::Existing`).
//! - The offset only grows, never past the length; finishing sets it to the length, the
//!   blob, and the metadata in one transaction, creating the blob rows it names.
//! - An attachment is used by at most one message; binding happens in the message's own
//!   transaction (see [`super::MessageRefs::attachments`]); deleting the message deletes
//!   its attachments in the tombstone's transaction.
//! - [`AttachmentStore::unreferenced_blobs`] lists only blobs no attachment names, and
//!   [`AttachmentStore::forget_blobs`] removes a row only while that still holds.

use super::StoreResult;
use async_trait::async_trait;
use tidings_proto::{Attachment, Timestamp};

/// An attachment as stored: an upload, finished when `blob_key` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub id: String,
    pub uploader: String,
    pub client_id: Option<String>,
    pub conversation_id: String,
    pub name: String,
    pub declared_type: Option<String>,
    /// `Upload-Length`.
    pub length: u64,
    /// Bytes written and made durable.
    pub offset: u64,
    pub created_at: Timestamp,
    /// When it is removed unless a message uses it; `None` once one does.
    pub expires_at: Option<Timestamp>,
    pub finished: Option<Finished>,
    pub message_id: Option<String>,
}

impl AttachmentRecord {
    /// What a message carries about it (finished attachments only).
    pub fn view(&self) -> Option<Attachment> {
        let f = self.finished.as_ref()?;
        Some(Attachment {
            id: self.id.clone(),
            name: self.name.clone(),
            size: f.size,
            content_type: f.content_type.clone(),
            width: f.width,
            height: f.height,
            has_thumbnail: f.thumbnail.is_some(),
        })
    }
}

/// A blob: its key (the SHA-256 of its bytes, lowercase hex) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub key: String,
    pub size: u64,
}

/// What finishing an upload established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub blob: BlobRef,
    /// Equal to `blob.size`: the bytes kept (an image's without its EXIF).
    pub size: u64,
    pub content_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumbnail: Option<BlobRef>,
}

/// What `create_upload` is asked for; the store checks that the uploader is a
/// participant, the open-upload count and the quota, in the same transaction.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub id: String,
    pub uploader: String,
    pub client_id: Option<String>,
    pub conversation_id: String,
    pub name: String,
    pub declared_type: Option<String>,
    pub length: u64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Bytes the uploader may hold: finished attachments' sizes plus unfinished uploads'
    /// lengths, this one included.
    pub quota: u64,
    /// Unfinished uploads the uploader may have, this one included.
    pub max_open: usize,
}

/// What `create_upload` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(AttachmentRecord),
    /// The uploader's `clientId` named this one already (same conversation and length).
    Existing(AttachmentRecord),
    /// The quota would be passed; `used` is what the uploader holds now.
    OverQuota {
        used: u64,
    },
    /// The uploader has `max_open` unfinished uploads.
    TooManyOpen,
}

#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// Creates an upload (see [`NewUpload`], [`Created`]). `NotFound`/`Forbidden` for a
    /// conversation that does not exist or that the uploader is not in; `Conflict` when the
    /// `clientId` names an upload of another conversation or length.
    async fn create_upload(&self, new: NewUpload) -> StoreResult<Created>;
    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>>;
    /// Records the durable offset of an unfinished upload (never lowers it).
    async fn set_upload_offset(&self, id: &str, offset: u64) -> StoreResult<()>;
    /// Finishes an upload: offset = length, the blob rows (created if new), the metadata.
    /// `NotFound` if the upload is gone (deleted or expired meanwhile).
    async fn finish_upload(&self, id: &str, finished: Finished) -> StoreResult<AttachmentRecord>;
    /// Deletes the uploader's upload or finished attachment while no message uses it;
    /// answers it as it was, `None` if there is no such one.
    async fn delete_upload(
        &self,
        id: &str,
        uploader: &str,
    ) -> StoreResult<Option<AttachmentRecord>>;
    /// The finished attachment `id`, if `user` may read it: a current participant of the
    /// conversation whose message uses it, or its uploader while no message does.
    async fn readable_attachment(
        &self,
        id: &str,
        user: &str,
    ) -> StoreResult<Option<AttachmentRecord>>;
    /// Deletes attachments whose `expires_at` is at or before `now` (unused ones); answers
    /// them.
    async fn expire_uploads(&self, now: Timestamp) -> StoreResult<Vec<AttachmentRecord>>;
    /// Ids of every unfinished upload (to find temporary files that belong to none).
    async fn unfinished_uploads(&self) -> StoreResult<Vec<String>>;
    /// Keys of blobs no attachment names (as blob or thumbnail).
    async fn unreferenced_blobs(&self) -> StoreResult<Vec<String>>;
    /// Removes these blob rows, each only if still unreferenced.
    async fn forget_blobs(&self, keys: Vec<String>) -> StoreResult<()>;
}
