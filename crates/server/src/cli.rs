//! Command-line flags and environment variables, merged over the config file.

use crate::config::Config;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The Tidings server: STOMP over WebSocket with Spring's destination conventions.
#[derive(Debug, Parser)]
#[command(name = "tidings-server", version)]
pub struct Cli {
    #[command(flatten)]
    pub options: Options,
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Serve (the default).
    Serve,
    /// Print an access token signed with the server's HS256 secret (for scripts and tests).
    Token {
        /// The user name (the token's `sub`).
        #[arg(long)]
        sub: String,
        /// Seconds until it expires.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Roles for access rules (`role:NAME`); repeat for several.
        #[arg(long)]
        role: Vec<String>,
    },
}

/// Flags win over environment variables, which win over the config file.
#[derive(Debug, Args)]
pub struct Options {
    /// TOML config file.
    #[arg(long, env = "TIDINGS_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "TIDINGS_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// Directory for the server's state.
    #[arg(long, env = "TIDINGS_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// HS256 secret for access tokens (at least 16 characters).
    #[arg(
        long,
        env = "TIDINGS_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,
    /// RSA public key (PEM) to check RS256 access tokens instead.
    #[arg(long, env = "TIDINGS_JWT_PUBLIC_KEY", global = true)]
    pub jwt_public_key: Option<PathBuf>,
    /// Bearer token for backend services (POST /api/notifications, /api/announcements).
    #[arg(
        long,
        env = "TIDINGS_SERVICE_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub service_token: Option<String>,
    /// The store: `sqlite` (default, a file in the data directory) or a
    /// `postgres://user:password@host:port/database` URL.
    #[arg(long, env = "TIDINGS_STORE", hide_env_values = true, global = true)]
    pub store: Option<String>,
    /// Seed demo users (alice, bob, carol), conversations and a notification, once.
    #[arg(long, global = true)]
    pub demo: bool,
    /// Browser origins allowed to connect, comma-separated ("*" for any).
    #[arg(
        long,
        env = "TIDINGS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub allowed_origins: Option<Vec<String>>,
    /// The bus between nodes: redis://host:port (unset: this node alone).
    #[arg(long, env = "TIDINGS_BUS", hide_env_values = true, global = true)]
    pub bus: Option<String>,
    /// This node's name in logs, /healthz and on the bus (default: random).
    #[arg(long, env = "TIDINGS_NODE_ID", global = true)]
    pub node_id: Option<String>,
    /// Address for STOMP over TCP (e.g. 127.0.0.1:61613), for broker relays (unset: off).
    #[arg(long, env = "TIDINGS_STOMP_LISTEN", global = true)]
    pub stomp_listen: Option<SocketAddr>,
    /// The broker relay's system login on the STOMP TCP listener.
    #[arg(long, env = "TIDINGS_STOMP_SYSTEM_LOGIN", global = true)]
    pub stomp_system_login: Option<String>,
    /// The system login's passcode (at least 16 characters); prefer the environment.
    #[arg(
        long,
        env = "TIDINGS_STOMP_SYSTEM_PASSCODE",
        hide_env_values = true,
        global = true
    )]
    pub stomp_system_passcode: Option<String>,
}

impl Options {
    /// The config file (if any) with these options laid over it.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = self.listen {
            config.listen = v;
        }
        if let Some(v) = &self.data_dir {
            config.data_dir = v.clone();
        }
        if let Some(v) = &self.jwt_secret {
            config.jwt.secret = Some(v.clone());
        }
        if let Some(v) = &self.jwt_public_key {
            config.jwt.rs256_public_key = Some(v.clone());
        }
        if let Some(v) = &self.service_token {
            config.auth.service_token = Some(v.clone());
        }
        if let Some(v) = &self.store {
            config.storage.store = Some(v.clone());
        }
        if let Some(v) = &self.allowed_origins {
            config.allowed_origins = v.clone();
        }
        if let Some(v) = &self.bus {
            config.cluster.bus = Some(v.clone());
        }
        if let Some(v) = &self.node_id {
            config.cluster.node_id = Some(v.clone());
        }
        if let Some(v) = self.stomp_listen {
            config.stomp_tcp.listen = Some(v);
        }
        if let Some(v) = &self.stomp_system_login {
            config.stomp_tcp.system_login = Some(v.clone());
        }
        if let Some(v) = &self.stomp_system_passcode {
            config.stomp_tcp.system_passcode = Some(v.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let dir = std::env::temp_dir().join(format!("tidings-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("server.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[limits]\nsends_per_minute = 7\n[[access]]\npattern = \"/topic/ops/**\"\nsubscribe = [\"role:ops\"]\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "tidings-server",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .unwrap();
        let config = cli.options.resolve().unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.limits.sends_per_minute, 7);
        assert_eq!(config.limits.max_frame_bytes, 64 * 1024);
        assert_eq!(config.access.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_config_file_with_a_typo_is_refused_with_its_name() {
        let dir = std::env::temp_dir().join(format!("tidings-cli-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("server.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let cli =
            Cli::try_parse_from(["tidings-server", "--config", file.to_str().unwrap()]).unwrap();
        let err = format!("{:#}", cli.options.resolve().unwrap_err());
        assert!(
            err.contains("invalid config file") && err.contains("lisen"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
