//! The `[stomp_tcp]` table: the optional STOMP-over-TCP listener, its TLS, the relay's
//! system login and the listener's connection caps.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Shortest system passcode accepted: it is the one secret between a relay and the broker.
pub const MIN_PASSCODE: usize = 16;

/// STOMP over plain TCP (or TLS), as Spring's `enableStompBrokerRelay` and native STOMP
/// clients speak it. Off unless `listen` is set. Frames, heart-beats, the frame-size,
/// subscription, rate and per-user limits are the WebSocket endpoint's (`[limits]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StompTcpConfig {
    /// Address of the listener (e.g. `127.0.0.1:61613`); unset: no listener.
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain: with `tls_key`, the listener speaks TLS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The relay's system login (Spring's `systemLogin`). Unset: no system session; every
    /// connection needs a user's access token.
    pub system_login: Option<String>,
    /// The system login's passcode (Spring's `systemPasscode`), at least 16 characters.
    /// Never logged.
    pub system_passcode: Option<String>,
    /// Open connections on this listener in all.
    pub max_connections: usize,
    /// Open connections on this listener from one IP address. A relay opens one per
    /// connected user from its own address, so this is as high as `max_connections` unless
    /// lowered.
    pub max_connections_per_address: Option<usize>,
}

impl Default for StompTcpConfig {
    fn default() -> Self {
        StompTcpConfig {
            listen: None,
            tls_cert: None,
            tls_key: None,
            system_login: None,
            system_passcode: None,
            max_connections: 1024,
            max_connections_per_address: None,
        }
    }
}

impl StompTcpConfig {
    /// The per-address cap in force.
    pub fn per_address_limit(&self) -> usize {
        self.max_connections_per_address
            .unwrap_or(self.max_connections)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.tls_cert.is_some() == self.tls_key.is_some(),
            "stomp_tcp.tls_cert and stomp_tcp.tls_key go together: set both or neither"
        );
        anyhow::ensure!(
            self.system_login.is_some() == self.system_passcode.is_some(),
            "stomp_tcp.system_login and stomp_tcp.system_passcode go together: set both or neither"
        );
        if let Some(login) = &self.system_login {
            anyhow::ensure!(
                !login.is_empty() && login.len() <= 128 && !login.chars().any(char::is_control),
                "stomp_tcp.system_login must be 1-128 characters without control characters"
            );
        }
        if let Some(p) = &self.system_passcode {
            anyhow::ensure!(
                p.chars().count() >= MIN_PASSCODE,
                "stomp_tcp.system_passcode must be at least {MIN_PASSCODE} characters long"
            );
        }
        anyhow::ensure!(
            self.max_connections >= 1,
            "stomp_tcp.max_connections must be at least 1"
        );
        anyhow::ensure!(
            self.per_address_limit() >= 1,
            "stomp_tcp.max_connections_per_address must be at least 1"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_of_a_pair_and_short_passcodes_are_refused_with_a_sentence() {
        let bad = |t: &str| {
            let c: StompTcpConfig = toml::from_str(t).unwrap_or_default();
            c.validate()
                .map_err(|e| e.to_string())
                .err()
                .unwrap_or_default()
        };
        assert!(bad("tls_cert = \"a.pem\"\n").contains("tls_key"));
        assert!(bad("system_login = \"relay\"\n").contains("system_passcode"));
        let e = bad("system_login = \"relay\"\nsystem_passcode = \"short-secret\"\n");
        assert!(e.contains("at least 16"), "{e}");
        assert!(!e.contains("short-secret"), "{e}");
        assert!(bad("max_connections = 0\n").contains("max_connections"));
        let ok: StompTcpConfig = toml::from_str(
            "listen = \"127.0.0.1:61613\"\nsystem_login = \"relay\"\nsystem_passcode = \"0123456789abcdef\"\n",
        )
        .unwrap_or_default();
        assert!(ok.validate().is_ok());
        assert_eq!(ok.per_address_limit(), 1024);
    }
}
