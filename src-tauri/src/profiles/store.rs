//! Where the app keeps its servers of another kind: the forms (no secret in them) in
//! `<config>/profiles.json`, in the order added, and each one's secret (password, pasted
//! token, passcode) with the app's other credentials: the OS keyring, else the private
//! credentials file ([`Credentials::keep_named`], under `profile:<account>`).

use super::form::ProfileForm;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tidings_client::credentials::Credentials;
use tidings_client::profile::Profile;
use tidings_client::{ClientError, ClientResult};

/// At most this many servers of another kind (each runs a connection).
pub const MAX_PROFILES: usize = 20;

/// One saved server of another kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// Its account id (also its cache's and settings' name): `name@host`.
    pub account: String,
    /// The form, with its secret blanked.
    pub form: ProfileForm,
}

#[derive(Debug, Clone)]
pub struct ProfileStore {
    path: PathBuf,
    creds: Credentials,
}

fn secret_name(account: &str) -> String {
    format!("profile:{account}")
}

impl ProfileStore {
    pub fn new(config_dir: &Path, creds: Credentials) -> ProfileStore {
        ProfileStore {
            path: config_dir.join("profiles.json"),
            creds,
        }
    }

    /// Every saved one, in the order added (none when the file is missing or unreadable:
    /// the log says which).
    pub fn list(&self) -> Vec<Saved> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Vec::new();
        };
        serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(path = %self.path.display(), error = %e, "the saved servers of another kind cannot be read");
            Vec::new()
        })
    }

    pub fn get(&self, account: &str) -> Option<Saved> {
        self.list().into_iter().find(|s| s.account == account)
    }

    /// The stored secret of an account, if any.
    pub fn secret(&self, account: &str) -> Option<String> {
        self.creds.named(&secret_name(account))
    }

    /// The form with its secret: the one given, else (left blank when editing) the stored one.
    pub fn complete(&self, account: Option<&str>, form: &ProfileForm) -> ProfileForm {
        if !form.auth.wants_secret() || !form.auth.secret().is_empty() {
            return form.clone();
        }
        match account.and_then(|a| self.secret(a)) {
            Some(s) => ProfileForm {
                auth: form.auth.with_secret(s),
                ..form.clone()
            },
            None => form.clone(),
        }
    }

    /// The saved account's profile, its secret in place, ready for the engine.
    pub fn profile(&self, account: &str) -> ClientResult<Profile> {
        let saved = self.get(account).ok_or_else(|| {
            ClientError::Config(format!("no server of another kind is saved as {account}"))
        })?;
        self.complete(Some(account), &saved.form)
            .to_profile()
            .map_err(|e| ClientError::Config(e.message))
    }

    /// Keeps a form (its secret apart) as `account`, replacing the same account's in its
    /// place or added last.
    pub fn save(&self, account: &str, form: &ProfileForm) -> ClientResult<()> {
        let mut list = self.list();
        let at = list.iter().position(|s| s.account == account);
        if at.is_none() && list.len() >= MAX_PROFILES {
            return Err(ClientError::Config(format!(
                "at most {MAX_PROFILES} servers of another kind can be added"
            )));
        }
        let secret = form.auth.secret();
        if !secret.is_empty() {
            self.creds.keep_named(&secret_name(account), secret)?;
        } else if !form.auth.wants_secret() {
            self.creds.forget_named(&secret_name(account))?;
        }
        let saved = Saved {
            account: account.to_owned(),
            form: form.without_secret(),
        };
        match at {
            Some(i) => list[i] = saved,
            None => list.push(saved),
        }
        self.write(&list)
    }

    /// Forgets an account's form and secret; `false` if it was not saved.
    pub fn remove(&self, account: &str) -> ClientResult<bool> {
        let mut list = self.list();
        let before = list.len();
        list.retain(|s| s.account != account);
        self.creds.forget_named(&secret_name(account))?;
        if list.len() == before {
            return Ok(false);
        }
        self.write(&list)?;
        Ok(true)
    }

    fn write(&self, list: &[Saved]) -> ClientResult<()> {
        let fail = |e: std::io::Error| {
            ClientError::Io(format!("cannot write {}: {e}", self.path.display()))
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = self.path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(list).unwrap_or_default();
        std::fs::write(&tmp, bytes).map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)
    }
}

/// The account id of a server of another kind: its name (made plain) at the URL's host.
pub fn account_id(form: &ProfileForm) -> String {
    let name: String = form
        .name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-');
    let rest = form.url.split("://").nth(1).unwrap_or(&form.url);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    format!("{name}@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::form::{MessageFormat, ServerKind, TokenPlacement, TokenSource};

    fn form() -> ProfileForm {
        ProfileForm {
            name: "Disk Alerts!".into(),
            kind: ServerKind::Rabbitmq,
            url: "ws://127.0.0.1:15674/ws".into(),
            auth: TokenSource::Stomp {
                login: "guest".into(),
                passcode: "pass-1".into(),
            },
            placement: TokenPlacement::Authorization,
            follow: vec!["/topic/alerts".into()],
            namespace: "/".into(),
            emit: vec![],
            vhost: String::new(),
            format: MessageFormat::Json,
            title_field: "title".into(),
            body_field: "body".into(),
            id_field: String::new(),
        }
    }

    #[test]
    fn the_form_is_saved_without_its_secret_and_the_secret_apart() {
        let dir = std::env::temp_dir().join(format!("tidings-profiles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::env::set_var("TIDINGS_CREDENTIALS", "file");
        let store = ProfileStore::new(&dir.join("config"), Credentials::new(&dir, "desktop"));
        let id = account_id(&form());
        assert_eq!(id, "disk-alerts@127.0.0.1:15674");
        store.save(&id, &form()).unwrap();
        let text = std::fs::read_to_string(dir.join("config/profiles.json")).unwrap();
        assert!(
            !text.contains("pass-1"),
            "the secret is not in the file: {text}"
        );
        assert_eq!(store.get(&id).unwrap().form.auth.secret(), "");
        // The engine's profile has it back.
        let p = store.profile(&id).unwrap();
        assert!(
            matches!(&p.auth, tidings_client::profile::ProfileAuth::Stomp { passcode: Some(pc), .. } if pc == "pass-1"),
            "the engine's profile carries the passcode"
        );
        // Editing with the secret left blank keeps the stored one; a new one replaces it.
        let edited = ProfileForm {
            follow: vec!["/topic/other".into()],
            ..form().without_secret()
        };
        let complete = store.complete(Some(&id), &edited);
        assert_eq!(complete.auth.secret(), "pass-1");
        store.save(&id, &complete).unwrap();
        assert_eq!(store.list().len(), 1, "replaced in its place");
        assert_eq!(store.get(&id).unwrap().form.follow, ["/topic/other"]);
        assert!(store.remove(&id).unwrap());
        assert!(store.secret(&id).is_none(), "the secret goes with it");
        assert!(!store.remove(&id).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
