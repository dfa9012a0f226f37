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
use crate::settings::{load_json, save_json};
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

/// Writes what is kept, or removes the file when nothing is.
fn store(file: &Path, all: &HashMap<String, Untold>) {
    let result = if all.is_empty() {
        match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        }
    } else {
        save_json(all, file)
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot keep the news handed over");
    }
}

/// Keeps each account's untold news for the next process (replacing what was kept for it;
/// nothing untold drops it), in one write.
pub fn keep(data_dir: &Path, accounts: impl IntoIterator<Item = (String, Untold)>) {
    let _guard = FILE_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let file = path(data_dir);
    let mut all: HashMap<String, Untold> = load_json(&file);
    let before = all.clone();
    for (account, untold) in accounts {
        if untold.is_empty() {
            all.remove(&account);
        } else {
            all.insert(account, untold);
        }
    }
    if all != before {
        store(&file, &all);
    }
}

/// Takes what was kept for `account` (nothing if nothing was).
pub fn take(data_dir: &Path, account: &str) -> Untold {
    let _guard = FILE_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let file = path(data_dir);
    let mut all: HashMap<String, Untold> = load_json(&file);
    let Some(mine) = all.remove(account) else {
        return Untold::default();
    };
    store(&file, &all);
    mine
}

/// Stops judging news for every account signed in here and keeps how far each got, for
/// the process that takes them over. The accounts' engines go on until this process lets
/// them go; what they store from now on is judged by the next process.
pub fn keep_all(state: &crate::state::AppState) {
    let kept = state.session_infos().into_iter().filter_map(|info| {
        let session = state.session(Some(&info.id)).ok()?;
        session.stop_bridge();
        // Taken after a look under way has finished (it holds the notifier).
        let untold = session.notifier().untold();
        Some((info.id, untold))
    });
    keep(&state.data_dir, kept.collect::<Vec<_>>());
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
        keep(&dir, [("alice@a".into(), untold("c1", 4))]);
        keep(&dir, [("bob@b".into(), untold("c2", 7))]);
        assert_eq!(take(&dir, "alice@a"), untold("c1", 4));
        assert_eq!(take(&dir, "alice@a"), Untold::default(), "taken once");
        assert!(path(&dir).exists(), "bob's part stays");
        assert_eq!(take(&dir, "bob@b"), untold("c2", 7));
        assert!(!path(&dir).exists(), "nothing left: no file");
        // Nothing untold keeps no file; a later empty keep drops an older part.
        keep(&dir, [("alice@a".into(), Untold::default())]);
        assert!(!path(&dir).exists());
        keep(&dir, [("alice@a".into(), untold("c1", 4))]);
        keep(&dir, [("alice@a".into(), Untold::default())]);
        assert!(!path(&dir).exists());
        // A damaged file is set aside, not a failure.
        std::fs::write(path(&dir), b"{not json").unwrap();
        assert_eq!(take(&dir, "alice@a"), Untold::default());
        assert!(!path(&dir).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
