//! "Test connection" for the form: the form checked as a profile, then the engine's own
//! step-by-step check of it (`tidings_client::check`), each step a sentence on what worked
//! and what did not. (Interim until that check is merged: the form's step only.)

use super::form::ProfileForm;
use serde::Serialize;
use std::sync::Arc;

/// One step of a connection test.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct CheckStep {
    /// `profile`, `token`, `connect` or `subscribe`.
    pub name: String,
    pub ok: bool,
    /// What worked, or what did not and why, in a sentence.
    pub detail: String,
}

/// What a connection test found: the steps tried, in order.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct CheckReport {
    /// Every step worked.
    pub ok: bool,
    pub steps: Vec<CheckStep>,
}

/// Tries the form's connection once.
pub async fn test(form: &ProfileForm, _tls: &Arc<rustls::ClientConfig>) -> CheckReport {
    let mut steps = Vec::new();
    match form.to_profile() {
        Err(e) => steps.push(CheckStep {
            name: "profile".into(),
            ok: false,
            detail: e.message,
        }),
        Ok(_) => {
            steps.push(CheckStep {
                name: "profile".into(),
                ok: true,
                detail: "The settings are complete.".into(),
            });
            steps.push(CheckStep {
                name: "connect".into(),
                ok: false,
                detail: "This build cannot test a connection yet.".into(),
            });
        }
    }
    CheckReport {
        ok: steps.iter().all(|s| s.ok),
        steps,
    }
}
