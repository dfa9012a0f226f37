//! Which process runs the accounts, and the hand-over from the window to the tray process
//! (issue 19 goal 6; docs/desktop-app.md, "The tray without WebKit").
//!
//! *One owner at a time.* The process that runs the accounts' engines and writes their caches
//! holds an exclusive lock on `DATA_DIR/owner.lock` for as long as it lives: the windowed app
//! started by the user, or the tray process (`tidings-tray`). The window's process that the
//! tray process starts (`--window`) takes none: its parent holds it and has stopped its own
//! engines first. The kernel drops the lock when its holder ends, however it ends, so a crash
//! never leaves a stale lock behind (a lock file, not a PID file).
//!
//! *The hand-over.* Hiding the windowed app's window (its close button with close-to-tray on,
//! the tray's Show/Hide) starts the tray process and ends the app, WebKit with it; the tray
//! process waits for the lock, so it opens the caches only once the app's writes have ended.
//! Starting hidden (`--hidden`, as at login, or `--tray-only`) starts the tray process in its
//! place. Only where the tray process exists (Linux, beside the app's binary) and unless
//! [`KEEP_WINDOW`] is set.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Set (to anything but `0`) to keep the old way: the windowed app stays in the tray with its
/// WebKit mapped (~220 MB) and shows its window again at once. The WebDriver tests set it, as
/// WebDriver drives one process.
pub const KEEP_WINDOW: &str = "TIDINGS_KEEP_WINDOW";

/// The flag a hand-over starts the tray process with (only informative: the lock is what
/// makes it wait for the app to end).
pub const AFTER_WINDOW_FLAG: &str = "--after-window";

/// The tray process's binary, beside this one.
pub const TRAY_BINARY: &str = "tidings-tray";

/// The app's binary, beside this one.
pub const APP_BINARY: &str = "tidings-app";

/// Holds the accounts while it lives (dropped, or at the process's end, they are free).
#[derive(Debug)]
pub struct Owner {
    _lock: File,
}

/// Takes the accounts of `data_dir`, waiting while another process holds them (a window
/// handing over, a tray process ending).
pub fn take(data_dir: &Path) -> io::Result<Owner> {
    std::fs::create_dir_all(data_dir)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("owner.lock"))?;
    if let Err(std::fs::TryLockError::WouldBlock) = file.try_lock() {
        tracing::info!("waiting for the other Tidings process to let go of the accounts");
        file.lock()?;
    }
    Ok(Owner { _lock: file })
}

/// `name`'s binary in this binary's folder.
pub fn sibling(name: &str) -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| io::Error::other("the app's binary has no folder"))?;
    Ok(dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// Whether [`KEEP_WINDOW`] asks for the windowed app to stay in the tray.
pub fn keep_window() -> bool {
    std::env::var_os(KEEP_WINDOW).is_some_and(|v| v != "0")
}

/// The tray process's binary, when this app hands over to it: Linux (where it is built),
/// present beside the app, and [`KEEP_WINDOW`] not set.
pub fn tray_binary() -> Option<PathBuf> {
    if !cfg!(all(unix, not(target_os = "macos"))) || keep_window() {
        return None;
    }
    sibling(TRAY_BINARY).ok().filter(|p| p.is_file())
}

/// Whether a launch's arguments ask for the tray, not the window (a second launch forwarded
/// to the running instance: the autostart entry, `tidings-tray` itself).
pub fn wants_tray(argv: &[String]) -> bool {
    let tray_exe = argv.first().is_some_and(|a| {
        Path::new(a)
            .file_stem()
            .is_some_and(|s| s == std::ffi::OsStr::new(TRAY_BINARY))
    });
    tray_exe
        || argv
            .iter()
            .skip(1)
            .any(|a| a == "--hidden" || a == "--tray-only" || a == AFTER_WINDOW_FLAG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_holds_the_accounts_and_the_next_waits_for_it() {
        let dir = std::env::temp_dir().join(format!("tidings-owner-{}", std::process::id()));
        let first = take(&dir).unwrap();
        // Another holder (another open file description, as another process has) is refused
        // while the first lives.
        let other = File::options()
            .write(true)
            .open(dir.join("owner.lock"))
            .unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        // A waiting taker gets it as soon as the first lets go.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.clone();
        let waiter = std::thread::spawn(move || {
            let owner = take(&path).unwrap();
            tx.send(()).unwrap();
            owner
        });
        assert!(rx.try_recv().is_err(), "taken while still held");
        drop(first);
        rx.recv().unwrap();
        drop(waiter.join().unwrap());
        other.try_lock().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_tray_is_asked_for_by_its_binary_or_a_hidden_start() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wants_tray(&argv(&["/usr/bin/tidings-tray"])));
        assert!(wants_tray(&argv(&["/usr/bin/tidings-app", "--hidden"])));
        assert!(wants_tray(&argv(&["tidings-app", "--tray-only"])));
        assert!(!wants_tray(&argv(&["/usr/bin/tidings-app"])));
        assert!(!wants_tray(&argv(&["/usr/bin/tidings-app", "--window"])));
        assert!(!wants_tray(&argv(&[])));
    }
}
