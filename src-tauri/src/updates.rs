//! Signed updates (tauri-plugin-updater): check at start and on demand, download with
//! progress, verify the minisign signature against the public key built into the app, and
//! install only when the user agrees.
//!
//! Where to look: `TIDINGS_UPDATE_URL` if set, else the endpoints of `tauri.conf.json`. Only
//! `https://` is accepted, except `http://` on the loopback interface (tests, a local
//! mirror). Only a newer version is offered; anything whose signature does not verify is
//! refused and nothing is installed.

use crate::error::{IpcCode, IpcError};
use serde::Serialize;
use std::sync::Mutex;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt};

/// An update on offer.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInfo {
    pub version: String,
    pub current_version: String,
    pub notes: Option<String>,
    pub date: Option<String>,
}

/// How a download goes (event `update-progress`).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "stage", rename_all = "camelCase")]
pub enum UpdateProgress {
    Downloading {
        done: u64,
        total: Option<u64>,
    },
    /// Downloaded and the signature verified: ready to install.
    Verified,
    Failed {
        message: String,
    },
}

/// The update found by the last check, and its verified bytes once downloaded.
#[derive(Default)]
pub struct Pending(Mutex<(Option<Update>, Option<Vec<u8>>)>);

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

fn lock(p: &Pending) -> std::sync::MutexGuard<'_, (Option<Update>, Option<Vec<u8>>)> {
    p.0.lock().unwrap_or_else(|e| e.into_inner())
}

fn failed(message: impl Into<String>) -> IpcError {
    IpcError::new(IpcCode::Update, message)
}

/// Whether `url` is `http://` to this machine (the only plain-HTTP source allowed).
pub fn loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', ':']).next().unwrap_or("");
    host == "127.0.0.1" || host == "localhost" || rest.starts_with("[::1]")
}

/// Whether an update address is a stand-in: its host is under `example` (reserved by
/// RFC 2606, it never resolves), as the committed `tauri.conf.json` carries until a release
/// puts its update server there (docs/packaging.md).
fn stand_in(url: &str) -> bool {
    let host = url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split(['/', ':']).next().unwrap_or(""));
    host == "example" || host.ends_with(".example")
}

/// The update addresses of this build's configuration.
fn configured_endpoints<R: Runtime>(app: &AppHandle<R>) -> Vec<String> {
    app.config()
        .plugins
        .0
        .get("updater")
        .and_then(|u| u.get("endpoints"))
        .and_then(|e| e.as_array())
        .map(|e| {
            e.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Plain words for what the updater says.
fn explain(e: &tauri_plugin_updater::Error) -> String {
    use tauri_plugin_updater::Error as E;
    match e {
        E::Minisign(_) | E::SignatureUtf8(_) | E::Base64(_) => {
            "the update was refused: its signature does not match this app's update key (tampered or not ours)"
                .into()
        }
        E::ReleaseNotFound => "no update information was found at the update address".into(),
        E::Reqwest(err) => format!("cannot reach the update server: {err}"),
        E::Network(err) => format!("cannot reach the update server: {err}"),
        E::Serialization(err) => format!("the update information is not valid (unsigned or malformed): {err}"),
        other => format!("the update failed: {other}"),
    }
}

#[tauri::command]
pub async fn check_update<R: Runtime>(
    app: AppHandle<R>,
    pending: tauri::State<'_, Pending>,
) -> Result<Option<UpdateInfo>, IpcError> {
    let mut builder = app.updater_builder();
    let own_url = std::env::var("TIDINGS_UPDATE_URL").ok();
    let endpoints = own_url.is_none().then(|| configured_endpoints(&app));
    if endpoints.is_some_and(|e| !e.is_empty() && e.iter().all(|u| stand_in(u))) {
        // Asking a name that never resolves would only fail (and log an error at each start).
        return Err(failed(
            "this build does not look for updates: it was made without an update address (updates come with the packages)",
        ));
    }
    if let Some(url) = own_url {
        let url = url
            .parse()
            .map_err(|e| failed(format!("TIDINGS_UPDATE_URL is not an address: {e}")))?;
        builder = builder
            .endpoints(vec![url])
            .map_err(|e| failed(explain(&e)))?;
    }
    let updater = builder.build().map_err(|e| failed(explain(&e)))?;
    let found = updater.check().await.map_err(|e| failed(explain(&e)))?;
    let info = found.as_ref().map(|u| UpdateInfo {
        version: u.version.clone(),
        current_version: u.current_version.clone(),
        notes: u.body.clone(),
        date: u.date.map(|d| d.to_string()),
    });
    *lock(&pending) = (found, None);
    Ok(info)
}

#[tauri::command]
pub async fn download_update<R: Runtime>(
    app: AppHandle<R>,
    pending: tauri::State<'_, Pending>,
) -> Result<(), IpcError> {
    let update = lock(&pending)
        .0
        .clone()
        .ok_or_else(|| failed("check for updates first"))?;
    let mut done = 0u64;
    let emitter = app.clone();
    let result = update
        .download(
            move |chunk, total| {
                done += chunk as u64;
                let _ = emitter.emit(
                    "update-progress",
                    UpdateProgress::Downloading { done, total },
                );
            },
            || {},
        )
        .await;
    match result {
        Ok(bytes) => {
            lock(&pending).1 = Some(bytes);
            let _ = app.emit("update-progress", UpdateProgress::Verified);
            Ok(())
        }
        Err(e) => {
            let message = explain(&e);
            tracing::warn!(%message, "update refused");
            let _ = app.emit(
                "update-progress",
                UpdateProgress::Failed {
                    message: message.clone(),
                },
            );
            Err(failed(message))
        }
    }
}

/// Installs the verified update (the user agreed) and restarts.
#[tauri::command]
pub async fn install_update<R: Runtime>(
    app: AppHandle<R>,
    pending: tauri::State<'_, Pending>,
) -> Result<(), IpcError> {
    let (update, bytes) = {
        let p = lock(&pending);
        (p.0.clone(), p.1.clone())
    };
    let (Some(update), Some(bytes)) = (update, bytes) else {
        return Err(failed("download the update first"));
    };
    update.install(bytes).map_err(|e| failed(explain(&e)))?;
    if let Some(state) = app.try_state::<crate::state::AppState>() {
        state.quitting();
    }
    app.restart();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reserved_example_hosts_are_stand_ins() {
        assert!(stand_in(
            "https://updates.tidings.example/{{target}}-{{arch}}/latest.json"
        ));
        assert!(stand_in("https://example/latest.json"));
        assert!(stand_in("https://updates.example:8443/latest.json"));
        assert!(!stand_in("https://updates.example.com/latest.json"));
        assert!(!stand_in("https://example.org/latest.json"));
        assert!(!stand_in("http://127.0.0.1:8080/latest.json"));
        assert!(!stand_in("not an address"));
    }

    /// The address the committed configuration carries is one, so a build from it (`make
    /// run`, the tests) asks no one until a release puts its update server there.
    #[test]
    fn the_committed_configuration_has_a_stand_in_address() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../../tauri.conf.json")).unwrap();
        let endpoints = conf["plugins"]["updater"]["endpoints"].as_array().unwrap();
        assert!(!endpoints.is_empty());
        assert!(endpoints.iter().all(|u| stand_in(u.as_str().unwrap())));
    }
}
