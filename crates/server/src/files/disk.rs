//! The blob store on disk: `<root>/<first two hex digits>/<key>`. A file comes in already
//! written; it is `fsync`ed, renamed into place (copied first when it lives on another file
//! system) and its directory `fsync`ed (and the root too when that fan-out directory is
//! new), so a crash or a power cut leaves either no blob or a whole one.

use super::blob::{BlobRead, BlobStore};
use async_trait::async_trait;
use futures_util::StreamExt;
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

#[derive(Debug, Clone)]
pub struct DiskBlobStore {
    root: PathBuf,
}

impl DiskBlobStore {
    pub fn new(root: PathBuf) -> io::Result<DiskBlobStore> {
        if !root.is_dir() {
            std::fs::create_dir_all(&root)?;
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        Ok(DiskBlobStore { root })
    }

    /// Where a key's file is. Keys are hex digests; anything else is refused so a key can
    /// never name a path outside the store.
    fn path(&self, key: &str) -> io::Result<PathBuf> {
        if key.len() < 8 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad blob key"));
        }
        Ok(self.root.join(&key[..2]).join(key))
    }
}

/// Makes the names in `dir` (files created, renamed in or removed) survive a power cut:
/// a file's own `fsync` does not record its directory entry.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    // Directories can be opened and synced on Unix; elsewhere the rename is what we have.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn put_blocking(file: &Path, target: &Path) -> io::Result<()> {
    if target.exists() {
        std::fs::remove_file(file)?;
        return Ok(());
    }
    std::fs::File::open(file)?.sync_all()?;
    let dir = target.parent().unwrap_or(Path::new("."));
    // A new fan-out directory is itself a name in the root, synced below with the rest.
    let new_dir = !dir.is_dir();
    std::fs::create_dir_all(dir)?;
    if std::fs::rename(file, target).is_err() {
        // Another file system: copy beside the target, sync, rename there.
        let tmp = dir.join(format!(
            ".incoming-{}",
            target
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("blob")
        ));
        std::fs::copy(file, &tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, target)?;
        std::fs::remove_file(file)?;
    }
    sync_dir(dir)?;
    if new_dir {
        sync_dir(dir.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

#[async_trait]
impl BlobStore for DiskBlobStore {
    async fn put(&self, file: &Path, key: &str) -> io::Result<()> {
        let target = self.path(key)?;
        let file = file.to_owned();
        tokio::task::spawn_blocking(move || put_blocking(&file, &target))
            .await
            .map_err(io::Error::other)?
    }

    async fn open(&self, key: &str, start: u64, len: u64) -> io::Result<BlobRead> {
        let mut f = tokio::fs::File::open(self.path(key)?).await?;
        f.seek(io::SeekFrom::Start(start)).await?;
        let body = tokio_util::io::ReaderStream::with_capacity(f.take(len), 64 * 1024).boxed();
        Ok(BlobRead { len, body })
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
