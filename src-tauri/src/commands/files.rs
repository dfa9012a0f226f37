//! The commands on attachments: choosing files (the OS's file dialog, dropped paths, a
//! pasted image's bytes), sending them with a message through the outbox, cancelling an
//! entry not sent yet, an attachment's bytes from the download cache (the timeline's
//! images), opening or saving one with the OS, and the download cache's limit. The engine
//! does the work (`send_files`, `cancel`, `download`); these check, call and map.

use super::Res;
use crate::error::{invalid, IpcCode, IpcError};
use crate::scratch;
use crate::state::AppState;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tauri::ipc::{InvokeBody, Request, Response};
use tauri::{AppHandle, State};
use tidings_client::cache::{Download, OutboxEntry, Variant};
use tidings_client::engine::check_size;
use tidings_client::ClientError;

/// Pasted bytes taken when the server's largest attachment was never known.
const PASTE_CAP: u64 = 100 * 1024 * 1024;

/// A file chosen for the next message (a chip above the composer), checked as the engine
/// will check it when the message is sent.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct LocalFile {
    pub path: String,
    pub name: String,
    #[ts(type = "number")]
    pub size: u64,
    /// Why it cannot be sent (over the server's limit, empty, a folder, …), in a sentence;
    /// `null` when it can.
    pub refused: Option<String>,
    /// Written from pasted bytes into the app's scratch folder (removed once sent or dropped).
    pub pasted: bool,
}

/// The engine's error about files, for people. Its refusals that start with a file's name
/// ("photo.raw is 30 MB; …") keep it as written (a name is not
/// capitalised); the others start with a capital, as every sentence the UI shows.
fn file_error(e: ClientError, paths: &[PathBuf]) -> IpcError {
    let own = match &e {
        ClientError::Refused {
            status, message, ..
        } if *status != 429 => Some(message.trim().to_owned()),
        ClientError::Io(m) | ClientError::Config(m) => Some(m.trim().to_owned()),
        _ => None,
    };
    // The engine's own checks (empty, a bad name, too many) are bad input, as the server's
    // `invalid` is; a refusal for another reason (too large, not a participant) is refused.
    let invalid = matches!(&e, ClientError::Refused { code, .. } if code == "invalid");
    let mut err = IpcError::from(e);
    if invalid {
        err.code = IpcCode::Invalid;
    }
    if let Some(mut m) = own.filter(|m| !m.is_empty()) {
        let named = paths
            .iter()
            .filter_map(|p| p.file_name())
            .any(|n| m.starts_with(n.to_string_lossy().trim()));
        if !named {
            let mut chars = m.chars();
            m = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
        }
        if !m.ends_with(['.', '!', '?']) {
            m.push('.');
        }
        err.message = m;
    }
    err
}

async fn describe(
    state: &AppState,
    account: Option<&str>,
    paths: Vec<PathBuf>,
) -> Res<Vec<LocalFile>> {
    let engine = state.engine_of(account)?;
    let checked = engine.check_files(&paths).await;
    Ok(paths
        .into_iter()
        .zip(checked)
        .map(|(path, c)| {
            let pasted = scratch::is_pasted(&state.data_dir, &path);
            let fallback = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            let (name, size, refused) = match c {
                Ok((name, size)) => (name, size, None),
                Err(e) => (
                    fallback,
                    0,
                    Some(file_error(e, std::slice::from_ref(&path)).message),
                ),
            };
            LocalFile {
                path: path.to_string_lossy().into_owned(),
                name,
                size,
                refused,
                pasted,
            }
        })
        .collect())
}

/// Files by path (dropped on the window, or any path the UI has): each checked.
#[tauri::command]
pub async fn local_files(
    state: State<'_, AppState>,
    account: Option<String>,
    paths: Vec<String>,
) -> Res<Vec<LocalFile>> {
    describe(
        &state,
        account.as_deref(),
        paths.into_iter().map(PathBuf::from).collect(),
    )
    .await
}

/// The OS's file dialog (several files); the files chosen, checked (none: cancelled).
#[tauri::command]
pub async fn pick_files<R: tauri::Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    account: Option<String>,
) -> Res<Vec<LocalFile>> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Attach files")
        .pick_files(move |picked| {
            let _ = tx.send(picked);
        });
    let picked = rx.await.ok().flatten().unwrap_or_default();
    let paths = picked
        .into_iter()
        .filter_map(|p| p.into_path().ok())
        .collect();
    describe(&state, account.as_deref(), paths).await
}

/// A pasted image (or file): its bytes as the raw body, its name and account in the
/// `tidings-name` and `tidings-account` headers (percent-encoded UTF-8). Written into the
/// scratch folder after checking the size against the server's largest attachment.
#[tauri::command]
pub async fn paste_file(state: State<'_, AppState>, request: Request<'_>) -> Res<LocalFile> {
    let header = |key: &str| {
        request
            .headers()
            .get(key)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    };
    let account = header("tidings-account");
    let name = scratch::plain_name(&header("tidings-name").unwrap_or_default()).map_err(invalid)?;
    let InvokeBody::Raw(bytes) = request.body() else {
        return Err(invalid("the pasted file did not arrive as bytes"));
    };
    let engine = state.engine_of(account.as_deref())?;
    let max = engine.largest_attachment().await;
    let size = bytes.len() as u64;
    check_size(&name, size, Some(max.unwrap_or(PASTE_CAP)))
        .map_err(|e| file_error(e, &[PathBuf::from(&name)]))?;
    let path = scratch::write_pasted(&state.data_dir, &name, bytes).map_err(|e| {
        IpcError::new(
            IpcCode::Io,
            format!("Tidings could not keep the pasted file ({e})."),
        )
    })?;
    Ok(LocalFile {
        path: path.to_string_lossy().into_owned(),
        name,
        size,
        refused: None,
        pasted: true,
    })
}

/// Chips removed from the composer: their pasted files go (other paths are left alone).
#[tauri::command]
pub fn discard_files(state: State<'_, AppState>, paths: Vec<String>) {
    for p in paths {
        scratch::remove_pasted(&state.data_dir, Path::new(&p));
    }
}

/// The largest attachment the server takes, as last known (`null`: never known).
#[tauri::command]
pub async fn largest_attachment(
    state: State<'_, AppState>,
    account: Option<String>,
) -> Res<Option<u64>> {
    Ok(state
        .engine_of(account.as_deref())?
        .largest_attachment()
        .await)
}

/// Queues a message with files (and maybe text, a reply, mentions) in the outbox: shown as
/// pending at once, uploaded when online, sent once. The conversation's draft is done with;
/// pasted files are removed (the engine keeps its own copy).
#[allow(clippy::too_many_arguments)]
#[tauri::command]
pub async fn send_files(
    state: State<'_, AppState>,
    account: Option<String>,
    conversation: String,
    text: String,
    paths: Vec<String>,
    reply_to: Option<String>,
    mentions: Option<Vec<String>>,
) -> Res<OutboxEntry> {
    let engine = state.engine_of(account.as_deref())?;
    let files: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    let id = engine
        .send_files(
            &conversation,
            &text,
            &files,
            reply_to,
            mentions.unwrap_or_default(),
        )
        .await
        .map_err(|e| file_error(e, &files))?;
    for f in &files {
        scratch::remove_pasted(&state.data_dir, f);
    }
    super::messages::queued(engine.cache(), &conversation, &id)
}

/// Cancels an outbox entry not sent yet (its upload stops, the server drops what it has);
/// `false` when there is no such entry.
#[tauri::command]
pub async fn cancel_message(
    state: State<'_, AppState>,
    account: Option<String>,
    client_id: String,
) -> Res<bool> {
    Ok(state
        .engine_of(account.as_deref())?
        .cancel(&client_id)
        .await?)
}

async fn download(
    state: &AppState,
    account: Option<&str>,
    id: &str,
    variant: Variant,
) -> Res<Download> {
    Ok(state.engine_of(account)?.download(id, variant).await?)
}

/// An attachment's bytes (or its thumbnail's) from the download cache, downloaded into it
/// first when needed (also offline when it was downloaded before): the timeline's images.
#[tauri::command]
pub async fn attachment_bytes(
    state: State<'_, AppState>,
    account: Option<String>,
    id: String,
    thumbnail: bool,
) -> Res<Response> {
    let variant = if thumbnail {
        Variant::Thumbnail
    } else {
        Variant::File
    };
    let d = download(&state, account.as_deref(), &id, variant).await?;
    let bytes = tokio::fs::read(&d.path).await.map_err(|e| {
        IpcError::new(
            IpcCode::Io,
            format!("Tidings could not read the downloaded file ({e})."),
        )
    })?;
    Ok(Response::new(bytes))
}

/// The name to give a downloaded attachment: the message's, else the server's, else its id.
fn name_of(state: &AppState, account: Option<&str>, d: &Download) -> String {
    let cached = state
        .cache_of(account)
        .ok()
        .and_then(|c| c.attachment(&d.attachment_id).ok().flatten())
        .map(|a| a.name);
    cached
        .or_else(|| d.name.clone())
        .and_then(|n| scratch::plain_name(&n).ok())
        .unwrap_or_else(|| tidings_client::fsname::safe_file_name(&d.attachment_id))
}

/// Opens an attachment with the OS's application for its type (downloaded first if needed).
#[tauri::command]
pub async fn open_attachment<R: tauri::Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    account: Option<String>,
    id: String,
) -> Res<()> {
    use tauri_plugin_opener::OpenerExt;
    let d = download(&state, account.as_deref(), &id, Variant::File).await?;
    let name = name_of(&state, account.as_deref(), &d);
    let copy = scratch::copy_to_open(&state.data_dir, &id, &name, &d.path).map_err(|e| {
        IpcError::new(
            IpcCode::Io,
            format!("Tidings could not prepare {name} to open ({e})."),
        )
    })?;
    app.opener()
        .open_path(copy.to_string_lossy(), None::<&str>)
        .map_err(|e| {
            IpcError::new(
                IpcCode::Failed,
                format!("No application opened {name} ({e})."),
            )
        })
}

/// Saves a copy of an attachment where the user says (the OS's save dialog, named as the
/// file); the path saved to, `null` when the dialog was cancelled.
#[tauri::command]
pub async fn save_attachment<R: tauri::Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    account: Option<String>,
    id: String,
) -> Res<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    let d = download(&state, account.as_deref(), &id, Variant::File).await?;
    let name = name_of(&state, account.as_deref(), &d);
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Save the file")
        .set_file_name(&name)
        .save_file(move |to| {
            let _ = tx.send(to);
        });
    let Some(to) = rx.await.ok().flatten().and_then(|p| p.into_path().ok()) else {
        return Ok(None);
    };
    tokio::fs::copy(&d.path, &to).await.map_err(|e| {
        IpcError::new(
            IpcCode::Io,
            format!("Tidings could not save {name} as {} ({e}).", to.display()),
        )
    })?;
    Ok(Some(to.to_string_lossy().into_owned()))
}

/// The download cache's limit in bytes (this account's).
#[tauri::command]
pub fn download_limit(state: State<'_, AppState>, account: Option<String>) -> Res<u64> {
    Ok(state.with_engine_of(account.as_deref(), |e| e.download_limit())?)
}

/// Changes this account's download cache limit (at least 1 MiB); the least recently used
/// downloads go at once down to it. Answers the limit now.
#[tauri::command]
pub fn set_download_limit(
    state: State<'_, AppState>,
    account: Option<String>,
    bytes: u64,
) -> Res<u64> {
    if bytes < 1024 * 1024 {
        return Err(invalid("the download cache needs at least 1 MB"));
    }
    Ok(state.with_engine_of(account.as_deref(), |e| {
        e.set_download_limit(bytes)?;
        e.download_limit()
    })?)
}
