//! The user's settings, kept as JSON in the app's config directory.

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
        }
    }
}

/// The text sizes the window accepts, in percent.
pub const ZOOM_PERCENT: std::ops::RangeInclusive<u16> = 50..=300;

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

    /// The saved settings; defaults when there are none or they cannot be read (the
    /// unreadable file is kept aside, not lost).
    pub fn load(path: &Path) -> Settings {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "settings unreadable; using defaults");
                let _ = std::fs::rename(path, path.with_extension("json.unreadable"));
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())
            .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())
    }
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
}
