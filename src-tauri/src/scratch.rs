//! The app's own files outside the engine's cache: pasted images waiting in the composer
//! (the webview hands over bytes, not a path; they are written here and the engine copies
//! them into its outbox like any chosen file), and named copies of downloads handed to the
//! OS to open (the download cache names files by attachment id, without the extension the
//! OS needs to pick an application).
//!
//! Both live under one folder that nothing else uses: pasted files in
//! `<data>/scratch/pasted/<unique>/<name>`, opened copies in `<data>/scratch/open/<id>/<name>`.
//! The folder is emptied at start-up (nothing in it outlives a run: a pasted image not sent
//! before a quit is gone, as the composer's chips are).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The longest name kept, in characters (as the server takes).
const MAX_NAME_CHARS: usize = 255;

/// The app's scratch folder under its data folder.
pub fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("scratch")
}

/// Empties the scratch folder (at start-up).
pub fn sweep(data_dir: &Path) {
    let _ = std::fs::remove_dir_all(root(data_dir));
}

/// `name` if it is one plain file name the server takes: not empty, not `.` or `..`, no
/// path separator, no control character or bidirectional override, at most 255 characters.
pub fn plain_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let bad = |why: &str| Err(format!("the name {name:?} {why}"));
    if name.is_empty() || name == "." || name == ".." {
        return bad("is empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return bad("is longer than 255 characters");
    }
    let control = |c: char| {
        c.is_control()
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    if name.chars().any(|c| control(c) || c == '/' || c == '\\') {
        return bad("has a path separator, control characters or bidirectional overrides");
    }
    Ok(name.to_owned())
}

/// A folder name used once in this run.
fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{t:x}-{n}")
}

/// Writes pasted bytes as `name` in a folder of their own; answers the file's path.
pub fn write_pasted(data_dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let dir = root(data_dir).join("pasted").join(unique());
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// Whether `path` is a pasted file of this app (and not anything else on the disk).
pub fn is_pasted(data_dir: &Path, path: &Path) -> bool {
    let pasted = root(data_dir).join("pasted");
    match (pasted.canonicalize(), path.canonicalize()) {
        (Ok(p), Ok(f)) => f.starts_with(&p) && f != p,
        _ => false,
    }
}

/// Removes a pasted file and its folder; anything not pasted here is left alone.
pub fn remove_pasted(data_dir: &Path, path: &Path) {
    if is_pasted(data_dir, path) {
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A copy of a downloaded file named `name` for the OS to open (again on each open: the
/// application may have changed the last one).
pub fn copy_to_open(
    data_dir: &Path,
    id: &str,
    name: &str,
    from: &Path,
) -> std::io::Result<PathBuf> {
    let dir = root(data_dir)
        .join("open")
        .join(tidings_client::fsname::safe_file_name(id));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::copy(from, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_plain_file_name() {
        assert_eq!(
            plain_name(" Pasted image 2026-12-02 14.03.png ").unwrap(),
            "Pasted image 2026-12-02 14.03.png"
        );
        for bad in [
            "",
            ".",
            "..",
            "a/b.png",
            "..\\x",
            "a\u{7}b",
            "a\u{202E}gnp.exe",
            &"x".repeat(256),
        ] {
            assert!(plain_name(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn only_pasted_files_are_removed() {
        let dir = std::env::temp_dir().join(format!("tidings-scratch-{}", unique()));
        let p = write_pasted(&dir, "a.png", b"png").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"png");
        let other = dir.join("keep.txt");
        std::fs::write(&other, b"x").unwrap();
        remove_pasted(&dir, &other);
        assert!(other.exists());
        remove_pasted(&dir, &dir.join("scratch/pasted/../../keep.txt"));
        assert!(other.exists());
        remove_pasted(&dir, &p);
        assert!(!p.exists() && !p.parent().unwrap().exists());
        sweep(&dir);
        assert!(!root(&dir).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
