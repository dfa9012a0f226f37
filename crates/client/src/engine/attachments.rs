//! What the user does with files: sending a message with attachments (checked, copied into
//! the cache's files folder and queued in the outbox, so it waits offline and survives a
//! restart), cancelling it, downloading an attachment or its thumbnail into the download
//! cache (served from there offline), and that cache's limit.
//!
//! Bad input is refused before anything is queued, with a sentence: no file, a folder, an
//! unreadable file, an empty one, a name the server would refuse, more files than a
//! message takes, and a file over the server's largest attachment when that is known
//! (`Tus-Max-Size`, asked for at every send and kept per account for offline sends; when it
//! has never been known, the server's `413` fails the entry later with its sentence).

use super::{announce_change, Engine, EngineState};
use crate::cache::{outbox_folder, Download, DownloadInfo, NewFile, Variant};
use crate::error::{ClientError, ClientResult};
use std::path::{Path, PathBuf};
use tidings_proto::ContentType;

/// Files one message takes (the server's default `limits.max_attachments_per_message`; a
/// server set lower refuses the message with its sentence).
pub const MAX_FILES_PER_MESSAGE: usize = 10;
/// The longest file name, in characters (as the server).
const MAX_NAME_CHARS: usize = 255;
/// How long a send waits for the server to say its largest attachment.
const ASK_LIMIT_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);
/// Where the server's largest attachment is kept in the cache's settings.
const MAX_SIZE_KEY: &str = "max_attachment_bytes";

fn invalid(message: String) -> ClientError {
    ClientError::Refused {
        status: 400,
        code: "invalid".into(),
        message,
    }
}

/// A size in people's words: "12 bytes", "1.5 KB", "25 MB" *(choice: units of 1024, named
/// KB/MB/GB as file managers and Slack show them; one decimal below 100, none when it is 0;
/// the same rule as the app's `formatSize` in ui/src/lib/files.ts)*.
pub fn describe_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let units = [("KB", KIB), ("MB", KIB * KIB), ("GB", KIB * KIB * KIB)];
    let b = bytes as f64;
    let Some((unit, size)) = units.iter().rev().find(|(_, size)| b >= *size) else {
        return if bytes == 1 {
            "1 byte".to_owned()
        } else {
            format!("{bytes} bytes")
        };
    };
    let n = b / size;
    let shown = if n >= 100.0 {
        n.round()
    } else {
        (n * 10.0).round() / 10.0
    };
    format!("{shown} {unit}")
}

/// The name the server will be given: the path's last part, checked as the server does.
fn file_name(path: &Path) -> ClientResult<String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().trim().to_owned())
        .unwrap_or_default();
    let bad = |why: &str| invalid(format!("{} cannot be sent: its name {why}", path.display()));
    if name.is_empty() || name == "." || name == ".." {
        return Err(bad("is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(bad(&format!("is longer than {MAX_NAME_CHARS} characters")));
    }
    let control = |c: char| c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c);
    let isolate = |c: char| ('\u{2066}'..='\u{2069}').contains(&c);
    if name.chars().any(|c| control(c) || isolate(c) || c == '\\') {
        return Err(bad(
            "has control characters, bidirectional overrides or a backslash",
        ));
    }
    Ok(name)
}

/// A file the user gave, checked.
struct Given {
    source: PathBuf,
    name: String,
}

fn check_file(path: &Path, max: Option<u64>) -> ClientResult<Given> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => invalid(format!("no file at {}", path.display())),
        _ => ClientError::Io(format!("cannot read {}: {e}", path.display())),
    })?;
    if meta.is_dir() {
        return Err(invalid(format!(
            "{} is a folder, not a file",
            path.display()
        )));
    }
    std::fs::File::open(path)
        .map_err(|e| ClientError::Io(format!("cannot read {}: {e}", path.display())))?;
    let name = file_name(path)?;
    check_size(&name, meta.len(), max)?;
    Ok(Given {
        source: path.to_owned(),
        name,
    })
}

/// Whether a file of `size` bytes named `name` can go to a server whose largest attachment
/// is `max` (unknown: `None`); the refusal says both sizes in people's words.
pub fn check_size(name: &str, size: u64, max: Option<u64>) -> ClientResult<()> {
    if size == 0 {
        return Err(invalid(format!(
            "{name} is empty (0 bytes): an attachment cannot be empty"
        )));
    }
    match max {
        Some(max) if size > max => Err(ClientError::Refused {
            status: 413,
            code: "too_large".into(),
            message: format!(
                "{name} is {}; the largest file this server takes is {}",
                describe_size(size),
                describe_size(max)
            ),
        }),
        _ => Ok(()),
    }
}

/// Copies the files into `dir` (`0`, `1`, … by position); answers what to queue.
fn copy_all(
    files_dir: &Path,
    rel: &Path,
    given: &[Given],
    max: Option<u64>,
) -> ClientResult<Vec<NewFile>> {
    let dir = files_dir.join(rel);
    let io = |e: std::io::Error| {
        ClientError::Io(format!(
            "cannot keep a copy of the file in {}: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut out = Vec::new();
    for (i, g) in given.iter().enumerate() {
        let copy = dir.join(i.to_string());
        let size = std::fs::copy(&g.source, &copy)
            .map_err(|e| ClientError::Io(format!("cannot read {}: {e}", g.source.display())))?;
        // It may have changed since it was checked.
        check_size(&g.name, size, max)?;
        out.push(NewFile {
            name: g.name.clone(),
            content_type: mime_guess::from_path(&g.name)
                .first()
                .map(|m| m.essence_str().to_owned()),
            size: size as i64,
            path: rel.join(i.to_string()).to_string_lossy().into_owned(),
        });
    }
    Ok(out)
}

/// Removes what a crash can leave in the files folder: outbox folders that no entry has
/// (between copying and queueing, or during a cancel) and partial downloads.
pub(super) fn sweep_leftovers(cache: &crate::cache::Cache) {
    if let Ok(downloads) = std::fs::read_dir(cache.files_dir().join("downloads")) {
        for f in downloads.flatten() {
            if f.path().extension().is_some_and(|e| e == "part") {
                let _ = std::fs::remove_file(f.path());
            }
        }
    }
    let keep: std::collections::HashSet<PathBuf> = cache
        .entries_with_files()
        .unwrap_or_default()
        .iter()
        .map(|id| outbox_folder(id))
        .collect();
    let root = cache.files_dir().join("outbox");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return;
    };
    for d in dirs.flatten() {
        let rel = Path::new("outbox").join(d.file_name());
        if !keep.contains(&rel) {
            let _ = std::fs::remove_dir_all(d.path());
        }
    }
}

/// Removes the copies of entries that were sent.
pub(super) fn sweep_sent(cache: &crate::cache::Cache) {
    for id in cache.take_sent_files().unwrap_or_default() {
        let _ = std::fs::remove_dir_all(cache.files_dir().join(outbox_folder(&id)));
    }
}

impl Engine {
    /// The largest attachment the server takes: asked now when it can be, else as last
    /// known for this account (`None`: never known).
    async fn max_attachment(&self) -> Option<u64> {
        // Not when the server is known to be away, and not for long: a send while offline
        // is queued at once.
        let reachable = !matches!(
            *self.state.borrow(),
            EngineState::Offline | EngineState::Reconnecting { .. }
        );
        let asked = match &self.sync {
            Some(sync) if reachable => {
                tokio::time::timeout(ASK_LIMIT_WITHIN, sync.api.max_upload_size())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten()
            }
            _ => None,
        };
        match asked {
            Some(max) => {
                let _ = self.cache.set_setting(MAX_SIZE_KEY, &max.to_string());
                Some(max)
            }
            None => self
                .cache
                .setting(MAX_SIZE_KEY)
                .ok()
                .flatten()
                .and_then(|v| v.parse().ok()),
        }
    }

    /// Checks files as [`Engine::send_files`] will, one answer per path, without queueing
    /// anything: each file's name and size, or the sentence that refuses it (for the app to
    /// say so as the file is chosen, before the message is written).
    pub async fn check_files(&self, files: &[PathBuf]) -> Vec<ClientResult<(String, u64)>> {
        let max = self.max_attachment().await;
        files
            .iter()
            .map(|p| {
                let g = check_file(p, max)?;
                let size = std::fs::metadata(&g.source).map(|m| m.len()).unwrap_or(0);
                Ok((g.name, size))
            })
            .collect()
    }

    /// The largest attachment the server takes (as [`Engine::send_files`] checks it):
    /// asked now when the server is reachable, else as last known; `None` if never known.
    pub async fn largest_attachment(&self) -> Option<u64> {
        self.max_attachment().await
    }

    /// Queues a message with files (and maybe text, a reply, mentions) in the outbox: each
    /// file is checked and copied into the cache's files folder, so it can be moved or
    /// deleted now; the files upload and the message goes when live, exactly once. Returns
    /// its `clientId`. See the module's documentation for what is refused.
    pub async fn send_files(
        &self,
        cid: &str,
        content: &str,
        files: &[PathBuf],
        reply_to: Option<String>,
        mentions: Vec<String>,
    ) -> ClientResult<String> {
        if files.is_empty() {
            return Err(invalid("no file to send".into()));
        }
        if files.len() > MAX_FILES_PER_MESSAGE {
            return Err(invalid(format!(
                "a message takes at most {MAX_FILES_PER_MESSAGE} files ({} given)",
                files.len()
            )));
        }
        let content = if content.trim().is_empty() {
            ""
        } else {
            content
        };
        if !content.is_empty() {
            super::live::check_content(content)?;
        }
        if self.sync.is_none() {
            return Err(ClientError::Config(
                "sending files needs a Tidings server (a connection profile only receives)".into(),
            ));
        }
        if self.cache.conversation(cid)?.is_some_and(|c| c.left) {
            return Err(super::actions::left_conversation());
        }
        let max = self.max_attachment().await;
        let given = files
            .iter()
            .map(|p| check_file(p, max))
            .collect::<ClientResult<Vec<_>>>()?;
        let client_id = uuid::Uuid::new_v4().to_string();
        let rel = outbox_folder(&client_id);
        let files_dir = self.cache.files_dir().to_owned();
        let copied = {
            let (rel, files_dir) = (rel.clone(), files_dir.clone());
            tokio::task::spawn_blocking(move || copy_all(&files_dir, &rel, &given, max))
                .await
                .map_err(|e| ClientError::Io(format!("copying the files failed: {e}")))?
        };
        let queued = copied.and_then(|new| {
            self.cache
                .enqueue_with_files(
                    &client_id,
                    cid,
                    content,
                    ContentType::Text,
                    reply_to.as_deref(),
                    &mentions,
                    &new,
                )
                .map_err(ClientError::from)
        });
        if let Err(e) = queued {
            let _ = std::fs::remove_dir_all(files_dir.join(&rel));
            return Err(e);
        }
        announce_change(&self.cache, &self.changed_tx);
        self.command(super::Command::Poke);
        Ok(client_id)
    }

    /// Cancels an outbox entry that is not sent yet (pending, uploading or failed): its
    /// upload stops, the server drops what it holds of it (when reachable; otherwise it
    /// expires there), and the entry and its copies go. `false` when there is no such
    /// entry; a refusal when it is already on its way (sent, awaiting the receipt).
    pub async fn cancel(&self, client_id: &str) -> ClientResult<bool> {
        let Some(files) = self.cache.cancel_entry(client_id)? else {
            return match self.cache.outbox_entry(client_id)? {
                None => Ok(false),
                Some(_) => Err(ClientError::Refused {
                    status: 409,
                    code: "conflict".into(),
                    message: "the message is already sent; delete it instead".into(),
                }),
            };
        };
        self.stop_upload(client_id);
        let _ = std::fs::remove_dir_all(self.cache.files_dir().join(outbox_folder(client_id)));
        announce_change(&self.cache, &self.changed_tx);
        self.progress_tx
            .send_if_modified(|p| p.remove(client_id).is_some());
        if let Some(sync) = &self.sync {
            for id in files.iter().filter_map(|f| f.upload_id.as_deref()) {
                let deleted = async {
                    let token = sync.tokens.get().await?;
                    sync.api.delete_upload(&token, id).await
                }
                .await;
                if let Err(e) = deleted {
                    tracing::info!(upload = id, error = %e, "could not delete a cancelled upload; it expires on the server");
                }
            }
        }
        Ok(true)
    }

    /// An attachment's bytes (`Variant::Thumbnail`: its thumbnail) in the download cache:
    /// from the cache when there (also offline), else downloaded into it first (the least
    /// recently used downloads go when it passes its limit).
    pub async fn download(&self, attachment_id: &str, variant: Variant) -> ClientResult<Download> {
        if let Some(d) = self.cache.use_download(attachment_id, variant)? {
            return Ok(d);
        }
        let sync = self
            .sync
            .as_ref()
            .ok_or_else(|| ClientError::Config("downloading needs a Tidings server".into()))?;
        if *self.state.borrow() == EngineState::Offline {
            return Err(ClientError::Unreachable(
                sync.api.base().to_owned(),
                "offline (no network), and this attachment was not downloaded before".into(),
            ));
        }
        let rel = variant.relative_path(attachment_id);
        let dest = self.cache.files_dir().join(&rel);
        let thumbnail = variant == Variant::Thumbnail;
        let fetched = {
            let dest = &dest;
            let get = |api: crate::http::Api, t: String| async move {
                api.download_attachment(&t, attachment_id, thumbnail, dest)
                    .await
            };
            let token = sync.tokens.get().await?;
            match get(sync.api.clone(), token).await {
                Err(ClientError::Unauthorized(_)) => {
                    sync.tokens.invalidate().await;
                    get(sync.api.clone(), sync.tokens.get().await?).await
                }
                other => other,
            }?
        };
        let info = DownloadInfo {
            size: fetched.size,
            content_type: &fetched.content_type,
            name: fetched.name.as_deref(),
            etag: fetched.etag.as_deref(),
        };
        let evicted = self.cache.record_download(attachment_id, variant, info)?;
        for path in evicted {
            let _ = std::fs::remove_file(path);
        }
        Ok(Download {
            attachment_id: attachment_id.to_owned(),
            variant,
            path: dest,
            size: fetched.size,
            content_type: fetched.content_type,
            name: fetched.name,
            etag: fetched.etag,
        })
    }

    /// The download cache's limit in bytes.
    pub fn download_limit(&self) -> ClientResult<u64> {
        Ok(self.cache.download_limit()?)
    }

    /// Changes the download cache's limit (kept in the cache); evicts at once down to it.
    pub fn set_download_limit(&self, bytes: u64) -> ClientResult<()> {
        for path in self.cache.set_download_limit(bytes)? {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_the_server_does() {
        assert_eq!(file_name(Path::new("/tmp/a b.txt")).unwrap(), "a b.txt");
        assert!(file_name(Path::new("/tmp/a\u{202E}txt.exe")).is_err());
        assert!(file_name(Path::new("/tmp/a\u{7}b")).is_err());
        assert!(file_name(Path::new("/")).is_err());
        assert!(file_name(Path::new(&"x".repeat(256))).is_err());
    }

    #[test]
    fn sizes_read_for_people() {
        assert_eq!(describe_size(26_214_400), "25 MB");
        assert_eq!(describe_size(31_457_281), "30 MB");
        assert_eq!(describe_size(1), "1 byte");
        assert_eq!(describe_size(300_000), "293 KB");
        assert_eq!(describe_size(15 * 1024 * 1024 + 600 * 1024), "15.6 MB");
        assert_eq!(describe_size(12), "12 bytes");
        assert_eq!(describe_size(1023), "1023 bytes");
        assert_eq!(describe_size(1536), "1.5 KB");
        assert_eq!(describe_size(5 * 1024 * 1024 + 300 * 1024), "5.3 MB");
        assert_eq!(describe_size(3 * 1024 * 1024 * 1024), "3 GB");
        assert_eq!(describe_size(2000), "2 KB");
        assert!(check_size("a", 0, None).is_err());
        assert!(check_size("a", 11, Some(10)).is_err());
        assert!(check_size("a", 10, Some(10)).is_ok());
    }
}
