//! The relay's system login: the credentials a broker relay (Spring's
//! `StompBrokerRelayMessageHandler`) presents for its one shared "system" session, and
//! the principal that session acts as.
//!
//! What the system session may do *(choice)*: `SEND` wherever the access rules let it
//! (by default `/topic/**`, `/queue/**` and `/user/{name}/queue|topic/**`, not the
//! destinations only the server fills), as the principal [`SYSTEM_USER`], which operators
//! name as `user:/system` in `[[access]]` rules. It is not rate-limited per user
//! (`limits.sends_per_minute` is one person's budget; this session speaks for the whole
//! application) but is bounded per connection like any other (`limits.frames_per_second`).
//! It may not `SUBSCRIBE` (a relay's system session only sends) nor `SEND` to `/app/**`
//! (the chat's commands act for a user). It has no account, raises no presence and never
//! expires. Nobody without the passcode gets it: the passcode is compared in constant time,
//! and a `CONNECT` naming the system login with a wrong passcode ends with an `ERROR`.

use crate::auth::Principal;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The system session's principal name. Access tokens cannot name it (a token's `sub` may
/// not contain `/`), so no user shares its connection count, presence or user destinations.
pub const SYSTEM_USER: &str = "/system";

/// Configured system credentials. The passcode is kept only as its SHA-256 digest, so the
/// comparison takes the same time whatever the length of what a client sends.
pub struct SystemLogin {
    login: String,
    digest: [u8; 32],
}

impl std::fmt::Debug for SystemLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemLogin")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// What a `CONNECT`'s `login`/`passcode` say about the system session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemCheck {
    /// The system login with its passcode.
    Granted,
    /// The system login with another passcode (or none).
    WrongPasscode,
    /// Another login (or none): a user's connection.
    NotSystem,
}

impl SystemLogin {
    pub fn new(login: &str, passcode: &str) -> SystemLogin {
        SystemLogin {
            login: login.to_owned(),
            digest: Sha256::digest(passcode.as_bytes()).into(),
        }
    }

    pub fn login(&self) -> &str {
        &self.login
    }

    pub fn check(&self, login: Option<&str>, passcode: Option<&str>) -> SystemCheck {
        if login != Some(self.login.as_str()) {
            return SystemCheck::NotSystem;
        }
        let given: [u8; 32] = Sha256::digest(passcode.unwrap_or_default().as_bytes()).into();
        if bool::from(given.ct_eq(&self.digest)) {
            SystemCheck::Granted
        } else {
            SystemCheck::WrongPasscode
        }
    }

    /// Who the system session is.
    pub fn principal() -> Principal {
        Principal::new(SYSTEM_USER, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_system_login_with_its_passcode_is_granted() {
        let s = SystemLogin::new("relay", "0123456789abcdef");
        assert_eq!(
            s.check(Some("relay"), Some("0123456789abcdef")),
            SystemCheck::Granted
        );
        assert_eq!(
            s.check(Some("relay"), Some("0123456789abcdeX")),
            SystemCheck::WrongPasscode
        );
        assert_eq!(s.check(Some("relay"), None), SystemCheck::WrongPasscode);
        assert_eq!(
            s.check(Some("alice"), Some("0123456789abcdef")),
            SystemCheck::NotSystem
        );
        assert_eq!(s.check(None, Some("x")), SystemCheck::NotSystem);
        assert!(!format!("{s:?}").contains("0123"));
    }
}
