//! How far a process judged its accounts' news when it let them go, for the process that
//! takes them over: the window's process handing over to the tray process (and back).
//! The next process used to start from what its cache held, so news stored by the last
//! one but not judged yet, or judged but held back (pop-ups go out at most once per
//! [`crate::notifier::THROTTLE`]), never popped up.
//!
//! One small JSON file in the data directory, by account: written just before a process
//! lets go of its accounts, and each account's part taken (and removed) when its session
//! starts again. A file left by a process that ended before its successor started is
//! taken at the next start: that news, never told, pops up then.

use crate::notifier::Untold;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

const FILE: &str = "untold.json";

/// One reader or writer of the file at a time within a process; between processes the
/// hand-over itself orders them (the next owner starts after the last has let go).
static FILE_LOCK: Mutex<()> = Mutex::new(());

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

fn read(file: &Path) -> HashMap<String, Untold> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the news handed over is unreadable; dropped");
            HashMap::new()
        }),
        Err(_) => HashMap::new(),
    }
}

fn write(file: &Path, all: &HashMap<String, Untold>) -> std::io::Result<()> {
    if all.is_empty() {
        return match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let tmp = file.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(all).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, file)
}

/// Keeps `account`'s untold news for the next process (replacing what was kept for it).
pub fn keep(data_dir: &Path, account: &str, untold: &Untold) {
    let _guard = FILE_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let file = path(data_dir);
    let mut all = read(&file);
    if untold.is_empty() {
        if all.remove(account).is_none() {
            return;
        }
    } else {
        all.insert(account.to_owned(), untold.clone());
    }
    if let Err(e) = write(&file, &all) {
        tracing::warn!(error = %e, "cannot keep the news not popped up yet");
    }
}

/// Takes what was kept for `account` (nothing if nothing was).
pub fn take(data_dir: &Path, account: &str) -> Untold {
    let _guard = FILE_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let file = path(data_dir);
    let mut all = read(&file);
    let mine = all.remove(account).unwrap_or_default();
    if !mine.is_empty() || file.exists() {
        if let Err(e) = write(&file, &all) {
            tracing::warn!(error = %e, "cannot remove the news handed over");
        }
    }
    mine
}

/// Stops judging news for every account signed in here and keeps how far each got, for
/// the process that takes them over. The accounts' engines go on until this process lets
/// them go; what they store from now on is judged by the next process.
pub fn keep_all(state: &crate::state::AppState) {
    for info in state.session_infos() {
        let Ok(session) = state.session(Some(&info.id)) else {
            continue;
        };
        session.stop_bridge();
        // Taken after a look under way has finished (it holds the notifier).
        let untold = session.notifier().untold();
        keep(&state.data_dir, &info.id, &untold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn untold(cid: &str, seq: i64) -> Untold {
        Untold {
            conversations: HashMap::from([(cid.to_owned(), seq)]),
            notifications: None,
        }
    }

    #[test]
    fn each_account_takes_its_own_news_once() {
        let dir = std::env::temp_dir().join(format!("tidings-untold-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        keep(&dir, "alice@a", &untold("c1", 4));
        keep(&dir, "bob@b", &untold("c2", 7));
        assert_eq!(take(&dir, "alice@a"), untold("c1", 4));
        assert_eq!(take(&dir, "alice@a"), Untold::default(), "taken once");
        assert!(path(&dir).exists(), "bob's part stays");
        assert_eq!(take(&dir, "bob@b"), untold("c2", 7));
        assert!(!path(&dir).exists(), "nothing left: no file");
        // Nothing untold keeps no file; a later empty keep drops an older part.
        keep(&dir, "alice@a", &Untold::default());
        assert!(!path(&dir).exists());
        keep(&dir, "alice@a", &untold("c1", 4));
        keep(&dir, "alice@a", &Untold::default());
        assert!(!path(&dir).exists());
        // A damaged file is dropped, not a failure.
        std::fs::write(path(&dir), b"{not json").unwrap();
        assert_eq!(take(&dir, "alice@a"), Untold::default());
        assert!(!path(&dir).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
