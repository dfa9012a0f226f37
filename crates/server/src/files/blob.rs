//! The blob store interface: where attachment bytes live, by key (the SHA-256 of the
//! bytes, lowercase hex, so identical files are stored once).
//!
//! The default is [`super::disk::DiskBlobStore`] under `<data_dir>/blobs`. A store shared
//! by several nodes (the database, an object store; issue 17) implements the same trait.
//! What the rest of the server relies on:
//! - `put` is atomic: after it returns, `open` gives the whole file under the key, and a
//!   crash during it leaves either nothing or the whole file there, never a part. Putting
//!   a key that exists is a no-op that consumes the file (the bytes are the same).
//! - `delete` of a missing key is `Ok` (a sweep may repeat after a crash).
//! - Which blobs are in use is the database's record (`blobs` and `attachments`), not the
//!   store's: the server removes a blob only once no attachment names it, and takes its
//!   blob gate (see [`super::Files`]) so no upload can start using a key between that
//!   check and the delete. A store shared by several nodes needs the same guarantee across
//!   nodes (e.g. put and reference in one database transaction, or a grace period before
//!   deleting).

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::path::Path;

/// Bytes of a blob being read, as a stream of chunks.
pub struct BlobRead {
    /// Bytes the stream yields.
    pub len: u64,
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

impl std::fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRead").field("len", &self.len).finish()
    }
}

#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores the finished file at `file` under `key`, consuming the file.
    async fn put(&self, file: &Path, key: &str) -> std::io::Result<()>;
    /// Reads `len` bytes from `start` (the caller knows the blob's size and checked the
    /// range); `NotFound` for a missing key.
    async fn open(&self, key: &str, start: u64, len: u64) -> std::io::Result<BlobRead>;
    /// Removes a blob; a missing one is not an error.
    async fn delete(&self, key: &str) -> std::io::Result<()>;
}
