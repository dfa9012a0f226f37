//! The user's settings, kept as JSON in the app's config directory: what belongs to an
//! account ([`AccountSettings`]: do-not-disturb, quiet hours, privacy; one file per account)
//! and what belongs to the app (start at login, close to tray, the last server, and the
//! rest of [`Settings`]; one file). The UI sees them together, as one account's
//! [`Settings`].

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a notification shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Privacy {
    /// Sender and text.
    #[default]
    Full,
    /// Who wrote, not what.
    SenderOnly,
    /// Only that something arrived.
    Hidden,
}

/// Local times `HH:MM` between which no notification pops up (the list still gets them).
/// `start` after `end` spans midnight (22:00-07:00).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct QuietHours {
    pub enabled: bool,
    pub start: String,
    pub end: String,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            enabled: false,
            start: "22:00".into(),
            end: "07:00".into(),
        }
    }
}

impl QuietHours {
    fn minutes(hhmm: &str) -> Option<u32> {
        let (h, m) = hhmm.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    }

    /// Whether `now` (minutes since local midnight) is inside the quiet hours.
    pub fn contains(&self, now: u32) -> bool {
        let (Some(s), Some(e)) = (Self::minutes(&self.start), Self::minutes(&self.end)) else {
            return false;
        };
        self.enabled
            && if s <= e {
                (s..e).contains(&now)
            } else {
                now >= s || now < e
            }
    }

    pub fn validate(&self) -> Result<(), String> {
        for t in [&self.start, &self.end] {
            if Self::minutes(t).is_none() {
                return Err(format!("{t:?} is not a time of day as HH:MM"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub do_not_disturb: bool,
    pub quiet_hours: QuietHours,
    pub privacy: Privacy,
    /// Start hidden in the tray when the user logs in.
    pub start_at_login: bool,
    /// Closing the window hides it to the tray (else it quits).
    pub close_to_tray: bool,
    /// The server last signed in to (prefills the sign-in form).
    pub server: Option<String>,
    /// The window's text size (its webview's zoom) in percent, 50-300 (Ctrl+= / Ctrl+- / Ctrl+0).
    pub zoom_percent: u16,
    /// The account the window showed last (the app opens on it again).
    pub last_account: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            do_not_disturb: false,
            quiet_hours: QuietHours::default(),
            privacy: Privacy::Full,
            start_at_login: false,
            close_to_tray: true,
            server: None,
            zoom_percent: 100,
            last_account: None,
        }
    }
}

/// The text sizes the window accepts, in percent.
pub const ZOOM_PERCENT: std::ops::RangeInclusive<u16> = 50..=300;
/// The settings that each account has for itself: a second person (or a second account)
/// signing in on the same machine does not inherit the first one's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct AccountSettings {
    pub do_not_disturb: bool,
    pub quiet_hours: QuietHours,
    pub privacy: Privacy,
}

/// The JSON names of the per-account fields, kept out of the app's file.
const ACCOUNT_FIELDS: [&str; 3] = ["doNotDisturb", "quietHours", "privacy"];

impl AccountSettings {
    /// `accounts/<account id>/settings.json` in the config directory.
    pub fn path(config_dir: &Path, account: &str) -> PathBuf {
        let safe = tidings_client::fsname::safe_file_name(account);
        config_dir.join("accounts").join(safe).join("settings.json")
    }

    /// The account's settings. An account without its own file takes the per-account part
    /// of the app's settings file of before (one settings file for everything), once: they
    /// move into this account's file and out of the app's, so the next account starts from
    /// the defaults. Unreadable: the defaults (the file kept aside).
    pub fn load_or_migrate(path: &Path, app_path: &Path) -> AccountSettings {
        if path.exists() {
            return load_json(path);
        }
        let Some(old) = std::fs::read_to_string(app_path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .filter(|v| ACCOUNT_FIELDS.iter().any(|k| v.get(k).is_some()))
        else {
            return AccountSettings::default();
        };
        let mine: AccountSettings = serde_json::from_value(old.clone()).unwrap_or_default();
        if let Err(e) = save_json(&mine, path) {
            tracing::warn!(error = %e, "cannot keep the account's settings");
            return mine;
        }
        let app: Settings = serde_json::from_value(old).unwrap_or_default();
        if let Err(e) = app.save(app_path) {
            tracing::warn!(error = %e, "cannot rewrite the app's settings");
        }
        mine
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        save_json(self, path)
    }
}

impl Settings {
    /// Checks what the user can set wrongly: the quiet hours and the text size.
    pub fn validate(&self) -> Result<(), String> {
        self.quiet_hours.validate()?;
        if !ZOOM_PERCENT.contains(&self.zoom_percent) {
            return Err(format!(
                "the text size is {} %; choose one from {} % to {} %",
                self.zoom_percent,
                ZOOM_PERCENT.start(),
                ZOOM_PERCENT.end()
            ));
        }
        Ok(())
    }

    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join("settings.json")
    }

    /// The per-account part.
    pub fn account_part(&self) -> AccountSettings {
        AccountSettings {
            do_not_disturb: self.do_not_disturb,
            quiet_hours: self.quiet_hours.clone(),
            privacy: self.privacy,
        }
    }

    /// These app settings with an account's part.
    pub fn with_account(self, a: &AccountSettings) -> Settings {
        Settings {
            do_not_disturb: a.do_not_disturb,
            quiet_hours: a.quiet_hours.clone(),
            privacy: a.privacy,
            ..self
        }
    }

    /// The saved app settings (the per-account part of the file of before included, until
    /// [`AccountSettings::load_or_migrate`] moves it); defaults when there are none or they
    /// cannot be read (the unreadable file is kept aside, not lost).
    pub fn load(path: &Path) -> Settings {
        load_json(path)
    }

    /// Writes the app's part (the per-account fields are each account's own).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let mut v = serde_json::to_value(self).map_err(|e| e.to_string())?;
        if let Some(o) = v.as_object_mut() {
            for k in ACCOUNT_FIELDS {
                o.remove(k);
            }
        }
        save_json(&v, path)
    }
}

/// Reads a JSON file of the app's; a missing one is the default, and an unreadable one too
/// (set aside as `*.json.unreadable`, with a warning).
pub(crate) fn load_json<T: Default + serde::de::DeserializeOwned>(path: &Path) -> T {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, file = %path.display(), "unreadable; using defaults");
            let _ = std::fs::rename(path, path.with_extension("json.unreadable"));
            T::default()
        }),
        Err(_) => T::default(),
    }
}

/// Writes a JSON file of the app's whole or not at all (a new file renamed over the old).
pub(crate) fn save_json<T: Serialize>(value: &T, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value).unwrap_or_default())
        .map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_span_midnight() {
        let q = QuietHours {
            enabled: true,
            start: "22:00".into(),
            end: "07:00".into(),
        };
        assert!(q.contains(23 * 60));
        assert!(q.contains(6 * 60 + 59));
        assert!(!q.contains(7 * 60));
        assert!(!q.contains(12 * 60));
        let day = QuietHours {
            enabled: true,
            start: "12:00".into(),
            end: "13:30".into(),
        };
        assert!(day.contains(12 * 60 + 10) && !day.contains(13 * 60 + 30));
        assert!(!QuietHours {
            enabled: false,
            ..q.clone()
        }
        .contains(23 * 60));
        assert!(QuietHours {
            start: "25:00".into(),
            ..q
        }
        .validate()
        .is_err());
    }

    #[test]
    fn text_size_defaults_to_100_and_is_checked() {
        let old: Settings = serde_json::from_str(r#"{"doNotDisturb":true}"#).unwrap();
        assert_eq!(old.zoom_percent, 100);
        assert!(old.validate().is_ok());
        let big = Settings {
            zoom_percent: 301,
            ..Settings::default()
        };
        assert!(big.validate().unwrap_err().contains("301 %"));
        let small = Settings {
            zoom_percent: 49,
            ..Settings::default()
        };
        assert!(small.validate().is_err());
    }

    #[test]
    fn the_settings_of_before_go_to_the_first_account_only() {
        let dir = std::env::temp_dir().join(format!("tidings-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let app_path = Settings::path(&dir);
        let old = Settings {
            do_not_disturb: true,
            privacy: Privacy::Hidden,
            close_to_tray: false,
            server: Some("http://work:8080".into()),
            ..Settings::default()
        };
        // The single file of before, with every field.
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&app_path, serde_json::to_vec(&old).unwrap()).unwrap();

        let first = AccountSettings::path(&dir, "alice@work:8080");
        assert!(first.ends_with("accounts/alice@work_8080/settings.json"));
        let mine = AccountSettings::load_or_migrate(&first, &app_path);
        assert_eq!(mine, old.account_part());
        // Moved: the app's file keeps only the app's part; the account has its own file.
        let text = std::fs::read_to_string(&app_path).unwrap();
        assert!(
            !text.contains("doNotDisturb") && !text.contains("privacy"),
            "{text}"
        );
        let app = Settings::load(&app_path);
        assert!(!app.close_to_tray);
        assert_eq!(app.server.as_deref(), Some("http://work:8080"));
        assert_eq!(AccountSettings::load_or_migrate(&first, &app_path), mine);

        // A second account starts from the defaults.
        let second = AccountSettings::path(&dir, "al@community:9090");
        assert_eq!(
            AccountSettings::load_or_migrate(&second, &app_path),
            AccountSettings::default()
        );
        // Each keeps its own; the UI's view joins them with the app's.
        let quiet = AccountSettings {
            do_not_disturb: true,
            ..AccountSettings::default()
        };
        quiet.save(&second).unwrap();
        assert_eq!(AccountSettings::load_or_migrate(&second, &app_path), quiet);
        assert_eq!(AccountSettings::load_or_migrate(&first, &app_path), mine);
        let joined = app.clone().with_account(&quiet);
        assert!(joined.do_not_disturb && !joined.close_to_tray);
        assert_eq!(joined.account_part(), quiet);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
