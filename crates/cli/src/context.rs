//! Flags, where things are kept, and how failures map to exit codes.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use tidings_client::credentials::{Account, Credentials};
use tidings_client::ClientError;

/// Tidings from the command line: sign in, read and send messages, follow what happens.
#[derive(Debug, Parser)]
#[command(name = "tidings", version)]
pub struct Cli {
    /// The server's address (http:// or https://); `login` needs it, later commands use the
    /// signed-in account's.
    #[arg(long, global = true, env = "TIDINGS_SERVER")]
    pub server: Option<String>,
    /// A connection profile (TOML) for a server that is not Tidings (Spring STOMP,
    /// RabbitMQ Web-STOMP, Socket.IO): `tail`, `sync`, `notifications` and `test` work
    /// with it.
    #[arg(long, global = true)]
    pub profile: Option<PathBuf>,
    /// Print JSON (one object per line for `tail`) instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,
    /// Where the session and the cache are kept (default: ~/.local/share/tidings).
    #[arg(long, global = true, env = "TIDINGS_HOME")]
    pub home: Option<PathBuf>,
    /// One more CA certificate (PEM) to trust for https:// and wss://.
    #[arg(long, global = true, env = "TIDINGS_CA")]
    pub ca: Option<PathBuf>,
    /// Seconds to wait for the server before working from the cache.
    #[arg(long, global = true, default_value_t = 15)]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Sign in and keep the session (in the OS keyring where there is one, else a 0600 file).
    Login {
        #[arg(long)]
        username: String,
        /// Read the password from standard input instead of asking for it.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sign out: forget the session here and revoke it on the server.
    Logout,
    /// Your conversations, with unread counts.
    Conversations,
    /// A conversation's messages (newest page, or before a `seq`), with their `#seq` and id
    /// (to name one in `edit`, `delete`, `reply`, `react`).
    History {
        conversation: String,
        #[arg(long, default_value_t = 30)]
        limit: u32,
        #[arg(long)]
        before: Option<i64>,
    },
    /// Send a message (queued in the outbox when offline), maybe with files. `@id` of a
    /// participant in the text mentions them.
    Send {
        conversation: String,
        /// The text; optional when files are given.
        #[arg(required_unless_present = "files")]
        text: Vec<String>,
        /// A file to send with it (copied at once, uploaded resumably); repeat for several
        /// (at most 10).
        #[arg(long = "file", value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// Save an attachment (its id is in `history`), from the download cache when it is
    /// there (also offline).
    Download {
        /// The attachment's id (`a_…`).
        attachment: String,
        /// Where to save it: a file, a folder, or `-` for standard output (default: its
        /// name in the current folder, never over an existing file).
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// The image's thumbnail instead of the file.
        #[arg(long)]
        thumbnail: bool,
    },
    /// Reply to a message (`#seq` or its id), quoting it.
    Reply {
        conversation: String,
        message: String,
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Replace the text of one of your messages (`#seq` or its id).
    Edit {
        conversation: String,
        message: String,
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Delete one of your messages everywhere (`#seq` or its id).
    Delete {
        conversation: String,
        message: String,
    },
    /// Put your emoji reaction on a message (`#seq` or its id), or take it off.
    React {
        conversation: String,
        message: String,
        emoji: String,
        #[arg(long)]
        off: bool,
    },
    /// Find people by the start of their name or display name (everyone without QUERY).
    Users {
        query: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Change your display name.
    Profile {
        #[arg(long)]
        name: String,
    },
    /// Start (or open) the direct conversation with USER.
    Start { user: String },
    /// Start a group with these people.
    Group {
        #[arg(long)]
        title: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Rename a group (its owner).
    Rename {
        conversation: String,
        #[arg(required = true)]
        title: Vec<String>,
    },
    /// Add people to a group (its owner).
    Add {
        conversation: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Remove someone from a group (its owner).
    Remove { conversation: String, user: String },
    /// Leave a group: it stays readable here, marked left.
    Leave { conversation: String },
    /// Mark a conversation read (up to its newest message, or `--up-to`).
    Read {
        conversation: String,
        #[arg(long)]
        up_to: Option<i64>,
    },
    /// Follow live events and every new message (once, in order) until interrupted, through
    /// reconnects.
    Tail,
    /// Catch up with the server and send the outbox.
    Sync,
    /// With `--profile`: try the profile's connection once, step by step (the token, the
    /// connection, each subscription), and say what worked and what did not; exit 1 when a
    /// step failed.
    Test,
    /// Search cached messages (works offline).
    Search {
        #[arg(required = true)]
        query: Vec<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Your notifications (newest first).
    Notifications {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Mark every notification read first (on the server too: every device sees it).
        #[arg(long)]
        read_all: bool,
    },
    /// Notify users, as a backend service does (needs the server's service token).
    Notify {
        /// A user to notify; repeat for several.
        #[arg(long = "user", required = true)]
        users: Vec<String>,
        #[arg(long)]
        title: String,
        #[arg(long)]
        message: String,
        #[arg(long)]
        kind: Option<String>,
        /// JSON data to attach.
        #[arg(long)]
        data: Option<String>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long, env = "TIDINGS_SERVICE_TOKEN", hide_env_values = true)]
        service_token: Option<String>,
    },
}

/// A command that did not succeed: the exit code and the sentence for stderr.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

pub const NOT_SIGNED_IN: u8 = 3;
pub const UNREACHABLE: u8 = 4;
pub const REFUSED: u8 = 5;
pub const QUEUED: u8 = 75;

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let code = match &e {
            ClientError::Unauthorized(_) => NOT_SIGNED_IN,
            ClientError::Unreachable(..) => UNREACHABLE,
            ClientError::Refused { .. } => REFUSED,
            ClientError::Config(_) | ClientError::Io(_) => 2,
            ClientError::Server(_) | ClientError::Cache(_) => 1,
        };
        Failure::new(code, e.to_string())
    }
}

pub type CmdResult = Result<u8, Failure>;

/// Where the session and caches live, and the TLS settings.
#[derive(Debug)]
pub struct Context {
    pub home: PathBuf,
    pub json: bool,
    pub timeout: std::time::Duration,
    pub tls: Arc<rustls::ClientConfig>,
    pub credentials: Credentials,
    pub server: Option<String>,
}

impl Context {
    pub fn new(cli: &Cli) -> Result<Context, Failure> {
        let home = cli.home.clone().unwrap_or_else(default_home);
        let tls = tidings_client::tls::client_config(cli.ca.as_deref())?;
        Ok(Context {
            credentials: Credentials::new(&home, "cli"),
            home,
            json: cli.json,
            timeout: std::time::Duration::from_secs(cli.timeout),
            tls,
            server: cli
                .server
                .as_ref()
                .map(|s| s.trim_end_matches('/').to_owned()),
        })
    }

    /// The signed-in account (exit 3 when there is none).
    pub fn account(&self) -> Result<Account, Failure> {
        self.credentials.current().ok_or_else(|| {
            Failure::new(
                NOT_SIGNED_IN,
                "not signed in: run `tidings login --server URL --username NAME` first",
            )
        })
    }

    /// The server to talk to: `--server`, else the signed-in account's.
    pub fn server(&self) -> Result<String, Failure> {
        if let Some(s) = &self.server {
            return Ok(s.clone());
        }
        self.credentials
            .current()
            .map(|a| a.server)
            .ok_or_else(|| Failure::new(2, "no server: give --server URL (or sign in first)"))
    }

    /// The cache file of an account or a profile.
    pub fn cache_path(&self, name: &str) -> PathBuf {
        tidings_client::cache::Cache::path_in(&self.home, name)
    }
}

fn default_home() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("tidings");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".local/share/tidings");
    }
    PathBuf::from("tidings-data")
}
