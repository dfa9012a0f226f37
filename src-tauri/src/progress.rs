//! Upload progress to the UI: the engine's [`Engine::upload_progress`] watch (every outbox
//! entry uploading now: `{clientId: {sent, total}}`, moved every 64 KiB) as the
//! `upload-progress` event ([`crate::bridge::AccountEvent`] of that map), at most every
//! [`EVERY`]: a watch keeps only the latest value, so the UI always ends on the last one.

use crate::bridge::emit;
use std::time::Duration;
use tauri::AppHandle;
use tidings_client::engine::Engine;

/// At most one event per this long per account (ten a second: a smooth bar, little IPC).
pub const EVERY: Duration = Duration::from_millis(100);

/// Starts the task that carries `engine`'s upload progress to the UI.
pub fn start<R: tauri::Runtime>(
    app: &AppHandle<R>,
    engine: &Engine,
    account: &str,
) -> tauri::async_runtime::JoinHandle<()> {
    let (app, mut progress, account) = (app.clone(), engine.upload_progress(), account.to_owned());
    tauri::async_runtime::spawn(async move {
        loop {
            if progress.changed().await.is_err() {
                return;
            }
            let now = progress.borrow_and_update().clone();
            emit(&app, "upload-progress", &account, now);
            tokio::time::sleep(EVERY).await;
        }
    })
}
