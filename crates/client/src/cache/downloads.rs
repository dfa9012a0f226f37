//! The download cache: attachments and thumbnails fetched from the server, kept in the
//! files folder (`downloads/<id>`, `downloads/<id>.thumb`) so they open offline. An
//! attachment never changes on the server, so a cached copy is used as it is. Each use
//! moves the download to the front (a use counter, not the clock: the order is exact);
//! when the cached bytes pass the limit (a setting, [`DEFAULT_DOWNLOAD_LIMIT`] unless
//! changed), the least recently used go first. The one just used is never evicted, so a
//! single file larger than the limit stays until the next download.

use super::{Cache, CacheResult};
use rusqlite::{params, OptionalExtension};
use std::path::PathBuf;

/// The download cache's limit unless the user changed it: 500 MiB.
pub const DEFAULT_DOWNLOAD_LIMIT: u64 = 500 * 1024 * 1024;
const LIMIT_KEY: &str = "download_limit";

/// The full file or its thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Variant {
    File,
    Thumbnail,
}

impl Variant {
    fn as_str(self) -> &'static str {
        match self {
            Variant::File => "file",
            Variant::Thumbnail => "thumbnail",
        }
    }

    /// Where the download goes, relative to the files folder.
    pub fn relative_path(self, attachment_id: &str) -> String {
        let safe = crate::fsname::safe_file_name(attachment_id);
        match self {
            Variant::File => format!("downloads/{safe}"),
            Variant::Thumbnail => format!("downloads/{safe}.thumb"),
        }
    }
}

/// A cached download.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Download {
    pub attachment_id: String,
    pub variant: Variant,
    /// Where the bytes are (absolute).
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub path: PathBuf,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: u64,
    pub content_type: String,
    /// The file's name as the server gave it (`Content-Disposition`), when it did.
    pub name: Option<String>,
    /// The server's `ETag` (the SHA-256 of the bytes, quoted).
    pub etag: Option<String>,
}

/// What the server said about a download, to record with it.
#[derive(Debug, Clone, Copy)]
pub struct DownloadInfo<'a> {
    pub size: u64,
    pub content_type: &'a str,
    pub name: Option<&'a str>,
    pub etag: Option<&'a str>,
}

impl Cache {
    /// A cached download, marked as used now; `None` when it is not cached (or its file is
    /// gone, in which case its row goes too).
    pub fn use_download(
        &self,
        attachment_id: &str,
        variant: Variant,
    ) -> CacheResult<Option<Download>> {
        let conn = self.conn();
        let row = conn
            .prepare_cached(
                "SELECT path, size, content_type, etag, name FROM downloads
                 WHERE attachment_id = ?1 AND variant = ?2",
            )?
            .query_row(params![attachment_id, variant.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .optional()?;
        let Some((rel, size, content_type, etag, name)) = row else {
            return Ok(None);
        };
        let path = self.files.join(&rel);
        let intact = std::fs::metadata(&path).is_ok_and(|m| m.len() == size as u64);
        if !intact {
            conn.execute(
                "DELETE FROM downloads WHERE attachment_id = ?1 AND variant = ?2",
                params![attachment_id, variant.as_str()],
            )?;
            return Ok(None);
        }
        conn.execute(
            "UPDATE downloads SET last_used = (SELECT coalesce(max(last_used), 0) + 1 FROM downloads)
             WHERE attachment_id = ?1 AND variant = ?2",
            params![attachment_id, variant.as_str()],
        )?;
        Ok(Some(Download {
            attachment_id: attachment_id.to_owned(),
            variant,
            path,
            size: size as u64,
            content_type,
            name,
            etag,
        }))
    }

    /// Records a download whose bytes are in place at [`Variant::relative_path`], as the
    /// most recently used; then evicts the least recently used others while the cache is
    /// over its limit. Returns the files to remove (already forgotten here).
    pub fn record_download(
        &self,
        attachment_id: &str,
        variant: Variant,
        info: DownloadInfo<'_>,
    ) -> CacheResult<Vec<PathBuf>> {
        {
            let conn = self.conn();
            conn.execute(
                "INSERT INTO downloads (attachment_id, variant, path, size, content_type, name, etag, last_used)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT coalesce(max(last_used), 0) + 1 FROM downloads))
                 ON CONFLICT (attachment_id, variant) DO UPDATE SET
                     path = excluded.path, size = excluded.size, content_type = excluded.content_type,
                     name = excluded.name, etag = excluded.etag, last_used = excluded.last_used",
                params![
                    attachment_id,
                    variant.as_str(),
                    variant.relative_path(attachment_id),
                    info.size as i64,
                    info.content_type,
                    info.name,
                    info.etag
                ],
            )?;
        }
        self.evict_downloads(Some((attachment_id, variant)))
    }

    /// Forgets the least recently used downloads (never `keep`) while the cached bytes are
    /// over the limit. Returns their files, for the caller to remove.
    pub fn evict_downloads(&self, keep: Option<(&str, Variant)>) -> CacheResult<Vec<PathBuf>> {
        let limit = self.download_limit()?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut total: i64 =
            tx.query_row("SELECT coalesce(sum(size), 0) FROM downloads", [], |r| {
                r.get(0)
            })?;
        let (keep_id, keep_variant) = keep.map_or(("", ""), |(id, v)| (id, v.as_str()));
        let mut gone = Vec::new();
        {
            let mut oldest = tx.prepare_cached(
                "SELECT attachment_id, variant, path, size FROM downloads
                 WHERE NOT (attachment_id = ?1 AND variant = ?2)
                 ORDER BY last_used",
            )?;
            let rows = oldest.query_map(params![keep_id, keep_variant], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            for row in rows {
                if total <= limit as i64 {
                    break;
                }
                let (id, variant, rel, size) = row?;
                gone.push((id, variant, rel));
                total -= size;
            }
        }
        for (id, variant, _) in &gone {
            tx.execute(
                "DELETE FROM downloads WHERE attachment_id = ?1 AND variant = ?2",
                params![id, variant],
            )?;
        }
        tx.commit()?;
        Ok(gone
            .into_iter()
            .map(|(_, _, rel)| self.files.join(rel))
            .collect())
    }

    /// Bytes held by the download cache.
    pub fn downloads_size(&self) -> CacheResult<u64> {
        let n: i64 =
            self.conn()
                .query_row("SELECT coalesce(sum(size), 0) FROM downloads", [], |r| {
                    r.get(0)
                })?;
        Ok(n as u64)
    }

    /// The download cache's limit in bytes.
    pub fn download_limit(&self) -> CacheResult<u64> {
        Ok(self
            .setting(LIMIT_KEY)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_DOWNLOAD_LIMIT))
    }

    /// Changes the download cache's limit; evicts at once down to it. Returns the files to
    /// remove.
    pub fn set_download_limit(&self, bytes: u64) -> CacheResult<Vec<PathBuf>> {
        self.set_setting(LIMIT_KEY, &bytes.to_string())?;
        self.evict_downloads(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::testing::temp_cache;

    fn put(c: &Cache, id: &str, size: u64) -> Vec<PathBuf> {
        let path = c.files_dir().join(Variant::File.relative_path(id));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, vec![b'x'; size as usize]).unwrap();
        let info = DownloadInfo {
            size,
            content_type: "text/plain",
            name: Some("a.txt"),
            etag: None,
        };
        c.record_download(id, Variant::File, info).unwrap()
    }

    #[test]
    fn the_least_recently_used_go_first_when_over_the_limit() {
        let t = temp_cache("lru");
        let c = &t.cache;
        assert_eq!(c.download_limit().unwrap(), DEFAULT_DOWNLOAD_LIMIT);
        assert!(c.set_download_limit(25).unwrap().is_empty());
        assert!(put(c, "a", 10).is_empty());
        assert!(put(c, "b", 10).is_empty());
        // Using a makes b the least recently used.
        assert!(c.use_download("a", Variant::File).unwrap().is_some());
        let gone = put(c, "c", 10);
        assert_eq!(gone, vec![c.files_dir().join("downloads/b")]);
        assert!(c.use_download("b", Variant::File).unwrap().is_none());
        assert_eq!(c.downloads_size().unwrap(), 20);
        // A lower limit evicts at once, oldest first; the newest stays even alone over it.
        let gone = c.set_download_limit(5).unwrap();
        assert_eq!(gone.len(), 2);
        let gone = put(c, "d", 30);
        assert_eq!(gone.len(), 0, "nothing else was left");
        assert!(c.use_download("d", Variant::File).unwrap().is_some());
    }

    #[test]
    fn a_download_whose_file_is_gone_is_not_cached() {
        let t = temp_cache("gone");
        let c = &t.cache;
        put(c, "a", 3);
        std::fs::remove_file(c.files_dir().join("downloads/a")).unwrap();
        assert!(c.use_download("a", Variant::File).unwrap().is_none());
        assert_eq!(c.downloads_size().unwrap(), 0);
    }
}
