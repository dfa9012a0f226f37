//! Where a signed-in session is kept: the refresh token in the OS keyring where one is
//! available (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows),
//! else in a file readable only by the user (mode 0600). Which one was used is recorded
//! and reported, never hidden. `TIDINGS_CREDENTIALS=file` forces the file.
//!
//! Each client kind (`cli`, `desktop`) has its own session, so that one refreshing (which
//! rotates the refresh token) never signs the other out.
//!
//! A client kind keeps a list of accounts (server + user), each with its own refresh token
//! (keyed by kind, user and server): the CLI keeps one ([`Credentials::save`] replaces the
//! list), the desktop app several ([`Credentials::add`]). The list is
//! `<kind>-accounts.json`; the single `<kind>-account.json` of before is read as a list of
//! one and replaced by the list at the next change.

use crate::engine::RefreshStore;
use crate::error::{ClientError, ClientResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the secret went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Storage {
    Keyring,
    /// The file, and why the keyring was not used.
    File {
        path: PathBuf,
        reason: String,
    },
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Keyring => f.write_str("the OS keyring"),
            Storage::File { path, reason } => write!(
                f,
                "{} (readable only by you; no OS keyring: {reason})",
                path.display()
            ),
        }
    }
}

/// The signed-in account (not secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The server's HTTP origin.
    pub server: String,
    pub user: String,
    pub storage: Storage,
}

/// The credentials of one client kind in one directory.
#[derive(Debug, Clone)]
pub struct Credentials {
    dir: PathBuf,
    app: String,
}

impl Credentials {
    pub fn new(dir: &Path, app: &str) -> Credentials {
        Credentials {
            dir: dir.to_owned(),
            app: app.to_owned(),
        }
    }

    /// The single-account index of before (read, never written).
    fn legacy_index(&self) -> PathBuf {
        self.dir.join(format!("{}-account.json", self.app))
    }

    fn index(&self) -> PathBuf {
        self.dir.join(format!("{}-accounts.json", self.app))
    }

    fn file(&self) -> PathBuf {
        self.dir.join("credentials.json")
    }

    fn key(&self, server: &str, user: &str) -> String {
        format!("{}:{user}@{server}", self.app)
    }

    /// Every account signed in here, in the order they were added.
    pub fn accounts(&self) -> Vec<Account> {
        if let Ok(text) = std::fs::read_to_string(self.index()) {
            return serde_json::from_str(&text).unwrap_or_default();
        }
        std::fs::read_to_string(self.legacy_index())
            .ok()
            .and_then(|text| serde_json::from_str::<Account>(&text).ok())
            .into_iter()
            .collect()
    }

    /// The account signed in here (the first of several), if any.
    pub fn current(&self) -> Option<Account> {
        self.accounts().into_iter().next()
    }

    /// Keeps a new session as the only account of this client kind; returns where the
    /// refresh token went.
    pub fn save(&self, server: &str, user: &str, refresh_token: &str) -> ClientResult<Account> {
        let account = self.keep_secret(server, user, refresh_token)?;
        self.write_accounts(std::slice::from_ref(&account))?;
        Ok(account)
    }

    /// Keeps a new session beside the accounts already signed in (replacing the same
    /// server and user's, in its place); returns where the refresh token went.
    pub fn add(&self, server: &str, user: &str, refresh_token: &str) -> ClientResult<Account> {
        let account = self.keep_secret(server, user, refresh_token)?;
        let mut list = self.accounts();
        match list
            .iter_mut()
            .find(|a| a.server == account.server && a.user == account.user)
        {
            Some(a) => *a = account.clone(),
            None => list.push(account.clone()),
        }
        self.write_accounts(&list)?;
        Ok(account)
    }

    fn write_accounts(&self, list: &[Account]) -> ClientResult<()> {
        write_private(
            &self.index(),
            &serde_json::to_vec_pretty(list).unwrap_or_default(),
        )?;
        let _ = std::fs::remove_file(self.legacy_index());
        Ok(())
    }

    fn keep_secret(&self, server: &str, user: &str, refresh_token: &str) -> ClientResult<Account> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| ClientError::Io(format!("cannot create {}: {e}", self.dir.display())))?;
        let key = self.key(server, user);
        let storage = match keyring_set(&key, refresh_token) {
            Ok(()) => {
                // A stale copy in the file must not outlive a sign-in.
                let _ = self.file_remove(&key);
                Storage::Keyring
            }
            Err(reason) => {
                self.file_set(&key, refresh_token)?;
                Storage::File {
                    path: self.file(),
                    reason,
                }
            }
        };
        Ok(Account {
            server: server.to_owned(),
            user: user.to_owned(),
            storage,
        })
    }

    /// The refresh store of the current account.
    pub fn refresh_store(&self, account: &Account) -> Arc<dyn RefreshStore> {
        Arc::new(StoredRefresh {
            creds: self.clone(),
            key: self.key(&account.server, &account.user),
            keyring: account.storage == Storage::Keyring,
        })
    }

    /// Forgets the current session; returns the refresh token it held (to revoke it), if any.
    pub fn forget(&self) -> ClientResult<Option<String>> {
        match self.current() {
            Some(a) => self.forget_account(&a.server, &a.user),
            None => Ok(None),
        }
    }

    /// Forgets one account's session, leaving the others; returns the refresh token it held
    /// (to revoke it), if any.
    pub fn forget_account(&self, server: &str, user: &str) -> ClientResult<Option<String>> {
        let mut list = self.accounts();
        let Some(i) = list
            .iter()
            .position(|a| a.server == server && a.user == user)
        else {
            return Ok(None);
        };
        let account = list.remove(i);
        let token = self.refresh_store(&account).load();
        let key = self.key(&account.server, &account.user);
        if account.storage == Storage::Keyring {
            keyring_delete(&key);
        }
        self.file_remove(&key)?;
        if list.is_empty() {
            let _ = std::fs::remove_file(self.index());
            let _ = std::fs::remove_file(self.legacy_index());
        } else {
            self.write_accounts(&list)?;
        }
        Ok(token)
    }

    /// Keeps another secret of this client kind under `name` (a connection profile's
    /// password or token), in the keyring or else the private file, as refresh tokens are.
    pub fn keep_named(&self, name: &str, secret: &str) -> ClientResult<Storage> {
        Ok(self.keep_secret(name, "secret", secret)?.storage)
    }

    /// The secret kept under `name`, wherever it went.
    pub fn named(&self, name: &str) -> Option<String> {
        let key = self.key(name, "secret");
        // The file first: a secret that went to the keyring has no copy there.
        self.file_map()
            .get(&key)
            .cloned()
            .or_else(|| keyring_get(&key))
    }

    /// Forgets the secret kept under `name`, in both places.
    pub fn forget_named(&self, name: &str) -> ClientResult<()> {
        let key = self.key(name, "secret");
        keyring_delete(&key);
        self.file_remove(&key)
    }

    fn file_map(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(self.file())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn file_set(&self, key: &str, token: &str) -> ClientResult<()> {
        let mut map = self.file_map();
        map.insert(key.to_owned(), token.to_owned());
        write_private(
            &self.file(),
            &serde_json::to_vec_pretty(&map).unwrap_or_default(),
        )
    }

    fn file_remove(&self, key: &str) -> ClientResult<()> {
        let mut map = self.file_map();
        if map.remove(key).is_some() {
            write_private(
                &self.file(),
                &serde_json::to_vec_pretty(&map).unwrap_or_default(),
            )?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct StoredRefresh {
    creds: Credentials,
    key: String,
    keyring: bool,
}

impl RefreshStore for StoredRefresh {
    fn load(&self) -> Option<String> {
        if self.keyring {
            keyring_get(&self.key)
        } else {
            self.creds.file_map().get(&self.key).cloned()
        }
    }

    fn save(&self, token: &str) -> Result<(), String> {
        if self.keyring {
            keyring_set(&self.key, token)
        } else {
            self.creds
                .file_set(&self.key, token)
                .map_err(|e| e.to_string())
        }
    }
}

/// Writes a file only the user can read, atomically (a temporary file renamed over it).
fn write_private(path: &Path, bytes: &[u8]) -> ClientResult<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let fail = |e: std::io::Error| ClientError::Io(format!("cannot write {}: {e}", path.display()));
    let mut f = opts.open(&tmp).map_err(fail)?;
    std::io::Write::write_all(&mut f, bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(fail)
}

const SERVICE: &str = "tidings";

fn forced_file() -> bool {
    std::env::var("TIDINGS_CREDENTIALS").is_ok_and(|v| v == "file")
}

#[cfg(feature = "keyring")]
fn keyring_set(key: &str, secret: &str) -> Result<(), String> {
    if forced_file() {
        return Err("TIDINGS_CREDENTIALS=file".into());
    }
    let entry =
        keyring::Entry::new(SERVICE, key).map_err(|e| match keyring::Entry::store_status() {
            Err(why) => format!("no OS keyring is reachable ({why})"),
            Ok(()) => e.to_string(),
        })?;
    entry.set_password(secret).map_err(|e| e.to_string())?;
    // Read it back: some keyrings accept a write they cannot keep (locked, no daemon).
    match entry.get_password() {
        Ok(s) if s == secret => Ok(()),
        Ok(_) => Err("the keyring did not keep the secret".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(feature = "keyring")]
fn keyring_get(key: &str) -> Option<String> {
    keyring::Entry::new(SERVICE, key).ok()?.get_password().ok()
}

#[cfg(feature = "keyring")]
fn keyring_delete(key: &str) {
    if let Ok(e) = keyring::Entry::new(SERVICE, key) {
        let _ = e.delete_credential();
    }
}

#[cfg(not(feature = "keyring"))]
fn keyring_set(_key: &str, _secret: &str) -> Result<(), String> {
    let _ = (SERVICE, forced_file());
    Err("this build has no keyring support".into())
}

#[cfg(not(feature = "keyring"))]
fn keyring_get(_key: &str) -> Option<String> {
    None
}

#[cfg(not(feature = "keyring"))]
fn keyring_delete(_key: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_keyring_the_session_goes_to_a_private_file() {
        let dir = std::env::temp_dir().join(format!("tidings-creds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::env::set_var("TIDINGS_CREDENTIALS", "file");
        let creds = Credentials::new(&dir, "cli");
        let account = creds
            .save("http://127.0.0.1:8080", "alice", "rt-1")
            .unwrap();
        assert!(matches!(account.storage, Storage::File { .. }));
        assert_eq!(creds.current(), Some(account.clone()));
        let store = creds.refresh_store(&account);
        assert_eq!(store.load().as_deref(), Some("rt-1"));
        store.save("rt-2").unwrap();
        assert_eq!(store.load().as_deref(), Some("rt-2"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("credentials.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another client kind has its own session.
        let desktop = Credentials::new(&dir, "desktop");
        assert_eq!(desktop.current(), None);
        assert_eq!(creds.forget().unwrap().as_deref(), Some("rt-2"));
        assert_eq!(creds.current(), None);
        assert_eq!(store.load(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn named_secrets_are_kept_and_forgotten_beside_the_accounts() {
        let dir = std::env::temp_dir().join(format!("tidings-creds-named-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::env::set_var("TIDINGS_CREDENTIALS", "file");
        let creds = Credentials::new(&dir, "desktop");
        let storage = creds.keep_named("profile:alerts@h", "s3cret").unwrap();
        assert!(matches!(storage, Storage::File { .. }));
        assert_eq!(creds.named("profile:alerts@h").as_deref(), Some("s3cret"));
        assert!(creds.accounts().is_empty(), "a named secret is no account");
        creds.forget_named("profile:alerts@h").unwrap();
        assert_eq!(creds.named("profile:alerts@h"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn several_accounts_are_kept_apart_and_forgotten_one_at_a_time() {
        let dir = std::env::temp_dir().join(format!("tidings-creds-many-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::env::set_var("TIDINGS_CREDENTIALS", "file");
        // A single account saved the way it was before the list: read as a list of one.
        std::fs::create_dir_all(&dir).unwrap();
        let old = Account {
            server: "http://work:8080".into(),
            user: "alice".into(),
            storage: Storage::File {
                path: dir.join("credentials.json"),
                reason: "test".into(),
            },
        };
        std::fs::write(
            dir.join("desktop-account.json"),
            serde_json::to_vec(&old).unwrap(),
        )
        .unwrap();
        let creds = Credentials::new(&dir, "desktop");
        creds
            .file_set(&creds.key(&old.server, "alice"), "rt-work")
            .unwrap();
        assert_eq!(creds.accounts(), vec![old.clone()]);

        let community = creds.add("http://community:9090", "al", "rt-com").unwrap();
        assert!(!dir.join("desktop-account.json").exists(), "migrated");
        let users: Vec<_> = creds.accounts().into_iter().map(|a| a.user).collect();
        assert_eq!(users, ["alice", "al"]);
        // Signing in again to the same account replaces it in its place.
        creds.add("http://work:8080", "alice", "rt-work-2").unwrap();
        assert_eq!(creds.accounts().len(), 2);
        assert_eq!(creds.current().unwrap().user, "alice");
        assert_eq!(
            creds.refresh_store(&community).load().as_deref(),
            Some("rt-com")
        );

        // Forgetting one leaves the other's session whole.
        assert_eq!(
            creds
                .forget_account("http://work:8080", "alice")
                .unwrap()
                .as_deref(),
            Some("rt-work-2")
        );
        assert_eq!(creds.accounts(), vec![community.clone()]);
        assert_eq!(
            creds.refresh_store(&community).load().as_deref(),
            Some("rt-com")
        );
        assert_eq!(
            creds.forget_account("http://work:8080", "alice").unwrap(),
            None
        );
        // `save` (the CLI's) keeps one account only.
        creds.save("http://work:8080", "alice", "rt-3").unwrap();
        assert_eq!(creds.accounts().len(), 1);
        assert_eq!(creds.forget().unwrap().as_deref(), Some("rt-3"));
        assert!(creds.accounts().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
