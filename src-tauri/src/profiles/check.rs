//! "Test connection" for the form: the engine's own step-by-step check of its profile
//! ([`tidings_client::check`]: the settings, the token, the connection, each destination or
//! event followed), each step a sentence on what worked and what did not. A form that is
//! not a profile yet fails at the first step, with its sentence.

use super::form::ProfileForm;
use std::sync::Arc;
use std::time::Duration;
pub use tidings_client::check::{CheckReport, CheckStep};

/// How long each step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Tries the form's connection once.
pub async fn test(form: &ProfileForm, tls: &Arc<rustls::ClientConfig>) -> CheckReport {
    match form.to_profile() {
        Ok(profile) => tidings_client::check::test_connection(&profile, tls, STEP_TIMEOUT).await,
        Err(e) => CheckReport {
            ok: false,
            steps: vec![CheckStep {
                name: "profile".into(),
                ok: false,
                detail: e.message,
            }],
        },
    }
}
