//! Server configuration: defaults, an optional TOML file, environment variables and flags,
//! in rising order of precedence.

use crate::access::RuleConfig;
use anyhow::Context;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything the server can be told. Field names are the keys of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Where the server keeps its state: the database (`tidings.db`) and the generated JWT
    /// secret.
    pub data_dir: PathBuf,
    pub jwt: JwtConfig,
    pub auth: AuthConfig,
    pub storage: StorageConfig,
    pub chat: ChatConfig,
    /// Several nodes: the bus between them.
    pub cluster: ClusterConfig,
    /// `Origin` values allowed to open a WebSocket. `"*"` allows any. Requests without an
    /// `Origin` header (non-browser clients) are always allowed; a browser page served by
    /// this server (same host) and the Tauri app origins are allowed by default.
    pub allowed_origins: Vec<String>,
    pub limits: LimitsConfig,
    /// Access rules checked before the built-in defaults; the first match wins.
    pub access: Vec<RuleConfig>,
    /// Whether `GET /metrics` answers anyone. Off: it needs the service token or an admin's
    /// access token as `Authorization: Bearer`.
    pub metrics_public: bool,
    /// STOMP over TCP for broker relays and native clients (off unless `listen` is set).
    pub stomp_tcp: crate::stomp_tcp::config::StompTcpConfig,
    /// The Socket.IO endpoint (`[socketio]`, see docs/socketio.md).
    pub socketio: crate::socketio::SocketIoConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: default_data_dir(),
            jwt: JwtConfig::default(),
            auth: AuthConfig::default(),
            storage: StorageConfig::default(),
            chat: ChatConfig::default(),
            cluster: ClusterConfig::default(),
            allowed_origins: Vec::new(),
            limits: LimitsConfig::default(),
            access: Vec::new(),
            metrics_public: false,
            stomp_tcp: Default::default(),
            socketio: Default::default(),
        }
    }
}

/// How access tokens are checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// HS256 shared secret. When neither this nor `rs256_public_key` is set, a secret is
    /// generated once and kept in `<data_dir>/jwt-secret`.
    pub secret: Option<String>,
    /// PEM file with an RSA public key: tokens are then checked as RS256.
    pub rs256_public_key: Option<PathBuf>,
    /// Seconds of clock skew tolerated on `exp`.
    pub leeway_secs: u64,
}

/// Accounts and sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The bearer token backend services use for `POST /api/notifications` and
    /// `POST /api/announcements`. Unset: only users with the `admin` role may.
    pub service_token: Option<String>,
    /// Lifetime of access tokens issued at login and refresh.
    pub access_ttl_secs: u64,
    /// Lifetime of refresh tokens (each use replaces the token).
    pub refresh_ttl_secs: u64,
    /// Whether anyone may create an account with `POST /api/auth/register`.
    pub allow_registration: bool,
    /// Login attempts per username from one client address per minute (someone else's
    /// failures from elsewhere do not lock a user out).
    pub login_attempts_per_minute: u32,
    /// Login attempts per client address per minute, whatever the usernames.
    pub login_attempts_per_minute_per_address: u32,
    /// Accounts created per client address per hour.
    pub registrations_per_hour_per_address: u32,
    /// `POST /api/auth/refresh` and `POST /api/auth/logout` per client address per minute
    /// (each looks up, and a refresh rewrites, a stored token).
    pub refreshes_per_minute_per_address: u32,
    /// Password hashes and verifications computed at once (each Argon2 hash takes ~19 MiB).
    pub max_concurrent_hashes: usize,
    /// Requests that may wait for a hashing slot; past that they get 503 at once.
    pub max_hash_waiters: usize,
    /// How long an exchanged refresh token may be presented again (a lost answer's retry);
    /// later, the reuse revokes its whole sign-in session.
    pub refresh_reuse_grace_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            service_token: None,
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 86_400,
            allow_registration: true,
            login_attempts_per_minute: 10,
            login_attempts_per_minute_per_address: 30,
            registrations_per_hour_per_address: 20,
            refreshes_per_minute_per_address: 300,
            max_concurrent_hashes: 2,
            max_hash_waiters: 32,
            refresh_reuse_grace_secs: 60,
        }
    }
}

/// Where and how the server stores its data.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `full` (default): a commit survives a power cut. `normal`: it survives a crash of
    /// the server but the last commits may be lost on a power cut; faster on slow disks.
    pub synchronous: crate::store::sqlite::Synchronous,
    /// Where the disk blob store keeps attachments. Unset: `<data_dir>/blobs`.
    pub blob_dir: Option<PathBuf>,
    /// Which store: unset or `sqlite` = the embedded SQLite file in `data_dir`; a
    /// `postgres://user[:password]@host[:port]/database` URL = PostgreSQL (several nodes may
    /// share it).
    pub store: Option<String>,
    /// PostgreSQL: connections each node keeps at most (default 16).
    pub pool_size: Option<u32>,
    /// PostgreSQL: how long a request waits for a connection (the database being down)
    /// before it is refused with `store_unavailable` (default 5000).
    pub pool_timeout_ms: Option<u64>,
}

/// Which store [`StorageConfig::store`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    /// The URL (with its password: never log it; see `store::postgres::masked_url`).
    Postgres(String),
}

impl StorageConfig {
    pub fn kind(&self) -> anyhow::Result<StoreKind> {
        match self.store.as_deref().map(str::trim) {
            None | Some("") | Some("sqlite") => Ok(StoreKind::Sqlite),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StoreKind::Postgres(url.to_owned()))
            }
            Some(other) => anyhow::bail!(
                "storage.store must be \"sqlite\" or a postgres:// URL, not {:?}",
                crate::store::postgres::masked_url(other)
            ),
        }
    }

    /// The PostgreSQL pool's settings for `url`.
    pub fn pg_options(&self, url: &str) -> crate::store::postgres::PgOptions {
        let mut o = crate::store::postgres::PgOptions::new(url);
        if let Some(n) = self.pool_size {
            o.pool_size = n;
        }
        if let Some(ms) = self.pool_timeout_ms {
            o.pool_timeout = Duration::from_millis(ms);
        }
        o
    }
}

/// Several nodes sharing one store: the bus that carries what one publishes to the others
/// (docs/server.md, "Redis bus").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Unset: this node alone (the in-process broker). `redis://[:password@]host:port[/db]`:
    /// the Redis bus.
    pub bus: Option<String>,
    /// This node's name in logs, `/healthz` and on the bus. Unset: a random one at start.
    pub node_id: Option<String>,
    /// The cluster's name: its nodes meet on the Redis channel `{name}:bus` and count rate
    /// limits under `{name}:rate:…`, so several clusters (or test servers) can share one
    /// Redis without hearing each other. Every node of a cluster must use the same.
    pub name: String,
    /// How often this node tells the others it is alive.
    pub heartbeat_ms: u64,
    /// A node not heard from for this long is taken for dead: its users go offline.
    pub node_timeout_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            bus: None,
            node_id: None,
            name: "tidings".to_owned(),
            heartbeat_ms: 1000,
            node_timeout_ms: 5000,
        }
    }
}

impl ClusterConfig {
    /// The configured node id, or a new random one.
    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4().simple().to_string();
            format!("node-{}", &id[..8])
        })
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(bus) = &self.bus {
            anyhow::ensure!(
                bus.starts_with("redis://"),
                "cluster.bus must be a redis://host:port URL (or unset for a single node), not {}",
                crate::cluster::redis::redact(bus)
            );
            ::redis::Client::open(bus.as_str()).map_err(|e| {
                anyhow::anyhow!(
                    "cluster.bus {} is not a valid Redis URL: {e}",
                    crate::cluster::redis::redact(bus)
                )
            })?;
        }
        if let Some(id) = &self.node_id {
            anyhow::ensure!(
                (1..=64).contains(&id.len())
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
                "cluster.node_id must be 1-64 letters, digits, '-', '_' or '.'"
            );
        }
        anyhow::ensure!(
            (1..=64).contains(&self.name.len())
                && self
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
            "cluster.name must be 1-64 letters, digits, '-', '_' or '.'"
        );
        anyhow::ensure!(
            self.heartbeat_ms >= 50,
            "cluster.heartbeat_ms must be at least 50"
        );
        anyhow::ensure!(
            self.node_timeout_ms >= 3 * self.heartbeat_ms,
            "cluster.node_timeout_ms must be at least 3 times cluster.heartbeat_ms"
        );
        Ok(())
    }
}

/// Rules of the chat itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Seconds after sending during which a message may be edited; 0 (default): always.
    /// Deleting one's own message is always allowed.
    pub edit_window_secs: u64,
}

/// Hard limits. Every one is enforced; passing one is an `ERROR` that names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_frame_bytes: usize,
    pub max_headers: usize,
    pub max_header_line: usize,
    /// `SEND` frames per user per minute, over all the user's connections.
    pub sends_per_minute: u32,
    /// REST requests with a user's access token, per user per minute over all the user's
    /// devices, after a burst of `request_burst` (see docs/server.md for the sizing).
    pub requests_per_minute: u32,
    /// REST requests a user may make at once before `requests_per_minute` paces them.
    pub request_burst: u32,
    /// REST requests of one user being answered at once (an answer counts until its body
    /// is sent); event streams are not counted (see `max_sse_streams`).
    pub max_requests_in_flight_per_user: usize,
    /// Time from the WebSocket upgrade to the `CONNECT` frame.
    pub connect_timeout_ms: u64,
    pub max_subscriptions: usize,
    /// Frames waiting to be written to one connection. A connection whose queue is full
    /// is a slow consumer: see `hub` for the policy.
    pub outbound_queue: usize,
    /// Messages delivered with `client`/`client-individual` ack and not yet acknowledged,
    /// per connection.
    pub max_unacked: usize,
    /// Messages kept per `/queue/**` destination while nobody subscribes.
    pub queue_backlog: usize,
    /// Unacknowledged user-destination messages kept for a user's next session.
    pub user_backlog: usize,
    pub max_transactions: usize,
    pub max_frames_per_transaction: usize,
    /// What the server offers in `heart-beat` (ms, 0 = never). `heart_beat_send_ms` is the
    /// shortest interval the server sends at: a client that asks for beats gets them every
    /// max(this, its wish). `heart_beat_receive_ms` is how often the server wants to hear
    /// from the client; a client silent for that interval plus as much again (at least
    /// 500 ms) is dropped.
    pub heart_beat_send_ms: u64,
    pub heart_beat_receive_ms: u64,
    /// How long shutdown waits for connections to close.
    pub drain_timeout_ms: u64,
    /// Notification streams (SSE) one user may have open.
    pub max_sse_streams: usize,
    /// Largest REST request body.
    pub max_request_bytes: usize,
    /// Largest attachment (`Upload-Length`), in bytes.
    pub max_attachment_bytes: u64,
    /// Bytes of attachments one user may hold: finished ones (until their message is
    /// deleted) and the lengths of unfinished uploads.
    pub attachment_quota_bytes: u64,
    /// Unfinished uploads one user may have at once.
    pub max_open_uploads: usize,
    /// Largest image, in pixels (width × height, read from its header before decoding).
    pub max_image_pixels: u64,
    /// Hours after which an unfinished upload, or a finished attachment no message uses,
    /// is removed.
    pub upload_expiry_hours: u64,
    /// Attachments one message may carry.
    pub max_attachments_per_message: usize,
    /// How long a `typing: true` holds unless renewed; then the server says `typing: false`.
    pub typing_ttl_ms: u64,
    /// Conversations one user may create per hour (all may be spent at once; each request
    /// to create one counts, also one that finds an existing direct conversation).
    pub conversations_per_hour: u32,
    /// Users one user may add to conversations per hour, when creating them or later.
    pub participants_added_per_hour: u32,
    /// Users named in one request that creates a conversation or adds participants.
    pub max_participants_per_request: usize,
    /// Participants of one group, its creator included.
    pub max_group_size: usize,
    /// Bytes of `SEND`/`ACK`/`NACK` frames staged in one connection's open transactions,
    /// all of them together.
    pub max_transaction_bytes: usize,
    /// STOMP sessions one user may have connected at once.
    pub max_connections_per_user: usize,
    /// What one connection may send per second: WebSocket messages of every kind (pings
    /// included) and STOMP frames, with a burst of as many again.
    pub frames_per_second: u32,
    /// Bytes kept for `/queue/**` messages nobody consumes yet, over all queues.
    pub max_backlog_bytes: usize,
    /// `/queue/**` destinations that may hold such messages at once.
    pub max_backlog_queues: usize,
    /// How long a client has to send a request's headers, and how long an idle
    /// keep-alive connection stays open.
    pub header_read_timeout_ms: u64,
    /// How long a request may take from its headers to its answer's head: reading the body
    /// (a body trickled in slowly) and the handler. Streams (SSE, WebSocket) last beyond it.
    pub request_timeout_ms: u64,
    /// Open TCP connections from one IP address.
    pub max_connections_per_address: usize,
    /// Open TCP connections in all. Unset: the open-files limit less a reserve for the
    /// database, the listener and refusals (see [`LimitsConfig::connection_limit`]).
    pub max_connections: Option<usize>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_frame_bytes: 64 * 1024,
            max_headers: 64,
            max_header_line: 8 * 1024,
            sends_per_minute: 100,
            requests_per_minute: 600,
            request_burst: 2_000,
            max_requests_in_flight_per_user: 16,
            connect_timeout_ms: 10_000,
            max_subscriptions: 256,
            outbound_queue: 1024,
            max_unacked: 1024,
            queue_backlog: 10_000,
            user_backlog: 1_000,
            max_transactions: 16,
            max_frames_per_transaction: 1_000,
            heart_beat_send_ms: 1_000,
            heart_beat_receive_ms: 10_000,
            drain_timeout_ms: 10_000,
            max_sse_streams: 8,
            max_request_bytes: 64 * 1024,
            max_attachment_bytes: 25 * 1024 * 1024,
            attachment_quota_bytes: 1024 * 1024 * 1024,
            max_open_uploads: 10,
            max_image_pixels: 50_000_000,
            upload_expiry_hours: 24,
            max_attachments_per_message: 10,
            typing_ttl_ms: 5_000,
            conversations_per_hour: 100,
            participants_added_per_hour: 1_000,
            max_participants_per_request: 100,
            max_group_size: 1_000,
            max_transaction_bytes: 1024 * 1024,
            max_connections_per_user: 32,
            frames_per_second: 1_000,
            max_backlog_bytes: 64 * 1024 * 1024,
            max_backlog_queues: 1_000,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            max_connections_per_address: 256,
            max_connections: None,
        }
    }
}

impl LimitsConfig {
    pub fn stomp(&self) -> tidings_stomp::Limits {
        tidings_stomp::Limits {
            max_frame_bytes: self.max_frame_bytes,
            max_headers: self.max_headers,
            max_header_line: self.max_header_line,
            max_body_bytes: self.max_frame_bytes,
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// `max_connections` as configured, or the soft open-files limit less
    /// [`FD_RESERVE`] (at least 64).
    pub fn connection_limit(&self) -> usize {
        self.max_connections
            .unwrap_or_else(|| open_files_limit().saturating_sub(FD_RESERVE).max(64))
    }
}

impl LimitsConfig {
    /// The attachment limits (issue 16).
    fn validate_attachments(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.max_attachment_bytes >= 1,
            "limits.max_attachment_bytes must be at least 1"
        );
        anyhow::ensure!(
            self.attachment_quota_bytes >= self.max_attachment_bytes,
            "limits.attachment_quota_bytes must be at least limits.max_attachment_bytes"
        );
        anyhow::ensure!(
            self.max_open_uploads >= 1,
            "limits.max_open_uploads must be at least 1"
        );
        anyhow::ensure!(
            self.max_image_pixels >= 1,
            "limits.max_image_pixels must be at least 1"
        );
        anyhow::ensure!(
            self.upload_expiry_hours >= 1,
            "limits.upload_expiry_hours must be at least 1"
        );
        anyhow::ensure!(
            self.max_attachments_per_message >= 1,
            "limits.max_attachments_per_message must be at least 1"
        );
        Ok(())
    }
}

/// The soft limit on open files (`ulimit -n`).
#[cfg(unix)]
fn open_files_limit() -> usize {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// No such limit to read: a fixed one *(choice)*.
#[cfg(not(unix))]
fn open_files_limit() -> usize {
    16_384
}

/// File descriptors kept out of `max_connections` by default: the database and its
/// journal, the listener, logs, and sockets that are being refused with a 503.
pub const FD_RESERVE: usize = 256;

fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("tidings-server");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".local/share/tidings-server");
    }
    PathBuf::from("tidings-data")
}

impl Config {
    /// Reads a TOML config file; unknown keys are errors so that typos do not pass silently.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Checks values that would make the server misbehave.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.limits.validate_attachments()?;
        self.cluster.validate()?;
        self.stomp_tcp.validate()?;
        self.socketio.validate(self.limits.request_timeout_ms)?;
        self.storage.kind()?;
        anyhow::ensure!(
            self.storage.pool_size != Some(0),
            "storage.pool_size must be at least 1"
        );
        let l = &self.limits;
        anyhow::ensure!(
            l.max_frame_bytes >= 1024,
            "limits.max_frame_bytes must be at least 1024"
        );
        anyhow::ensure!(
            l.outbound_queue >= 1,
            "limits.outbound_queue must be at least 1"
        );
        anyhow::ensure!(
            l.max_subscriptions >= 1,
            "limits.max_subscriptions must be at least 1"
        );
        anyhow::ensure!(
            l.sends_per_minute >= 1,
            "limits.sends_per_minute must be at least 1"
        );
        anyhow::ensure!(
            l.requests_per_minute >= 1 && l.request_burst >= 1,
            "limits.requests_per_minute and limits.request_burst must be at least 1"
        );
        anyhow::ensure!(
            l.max_requests_in_flight_per_user >= 1,
            "limits.max_requests_in_flight_per_user must be at least 1"
        );
        anyhow::ensure!(
            l.conversations_per_hour >= 1 && l.participants_added_per_hour >= 1,
            "limits.conversations_per_hour and limits.participants_added_per_hour must be at least 1"
        );
        anyhow::ensure!(
            (1..=crate::chat::validate::MAX_PARTICIPANTS).contains(&l.max_participants_per_request),
            "limits.max_participants_per_request must be 1-{}",
            crate::chat::validate::MAX_PARTICIPANTS
        );
        anyhow::ensure!(
            l.max_group_size >= 2,
            "limits.max_group_size must be at least 2"
        );
        anyhow::ensure!(
            l.max_transaction_bytes >= l.max_frame_bytes,
            "limits.max_transaction_bytes must be at least limits.max_frame_bytes"
        );
        anyhow::ensure!(
            l.max_connections_per_user >= 1,
            "limits.max_connections_per_user must be at least 1"
        );
        anyhow::ensure!(
            l.frames_per_second >= 1,
            "limits.frames_per_second must be at least 1"
        );
        anyhow::ensure!(
            l.max_backlog_queues >= 1,
            "limits.max_backlog_queues must be at least 1"
        );
        anyhow::ensure!(
            l.header_read_timeout_ms >= 100,
            "limits.header_read_timeout_ms must be at least 100"
        );
        anyhow::ensure!(
            l.request_timeout_ms >= 100,
            "limits.request_timeout_ms must be at least 100"
        );
        anyhow::ensure!(
            l.max_connections_per_address >= 1,
            "limits.max_connections_per_address must be at least 1"
        );
        anyhow::ensure!(
            l.connection_limit() >= 1,
            "limits.max_connections must be at least 1"
        );
        anyhow::ensure!(
            self.auth.access_ttl_secs >= 30,
            "auth.access_ttl_secs must be at least 30"
        );
        anyhow::ensure!(
            self.auth.login_attempts_per_minute >= 1,
            "auth.login_attempts_per_minute must be at least 1"
        );
        anyhow::ensure!(
            self.auth.login_attempts_per_minute_per_address >= 1,
            "auth.login_attempts_per_minute_per_address must be at least 1"
        );
        anyhow::ensure!(
            self.auth.registrations_per_hour_per_address >= 1,
            "auth.registrations_per_hour_per_address must be at least 1"
        );
        anyhow::ensure!(
            self.auth.refreshes_per_minute_per_address >= 1,
            "auth.refreshes_per_minute_per_address must be at least 1"
        );
        anyhow::ensure!(
            self.auth.max_concurrent_hashes >= 1,
            "auth.max_concurrent_hashes must be at least 1"
        );
        if let Some(t) = &self.auth.service_token {
            anyhow::ensure!(
                t.len() >= 16,
                "the service token must be at least 16 characters long"
            );
        }
        for rule in &self.access {
            rule.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edit_window_is_off_by_default_and_read_from_the_chat_table() {
        assert_eq!(Config::default().chat.edit_window_secs, 0);
        let c: Config = toml::from_str("[chat]\nedit_window_secs = 900\n").unwrap_or_default();
        assert_eq!(c.chat.edit_window_secs, 900);
        assert!(toml::from_str::<Config>("[chat]\nedit_window = 1\n").is_err());
    }

    #[test]
    fn a_bad_bus_or_node_id_is_refused_with_a_sentence() {
        let bad = |toml_text: &str| {
            let c: Config = toml::from_str(toml_text).unwrap_or_default();
            c.validate()
                .map_err(|e| e.to_string())
                .err()
                .unwrap_or_default()
        };
        assert!(bad("[cluster]\nbus = \"nats://x:1\"\n").contains("cluster.bus must be a redis://"));
        let e = bad("[cluster]\nbus = \"http://u:hunter22@x:1\"\n");
        assert!(!e.contains("hunter22"), "{e}");
        assert!(bad("[cluster]\nnode_id = \"a b\"\n").contains("cluster.node_id"));
        assert!(bad("[cluster]\nname = \"a:b\"\n").contains("cluster.name"));
        assert!(bad("[cluster]\nname = \"\"\n").contains("cluster.name"));
        assert!(
            bad("[cluster]\nheartbeat_ms = 1000\nnode_timeout_ms = 2000\n")
                .contains("cluster.node_timeout_ms")
        );
        let c: Config =
            toml::from_str("[cluster]\nbus = \"redis://127.0.0.1:6379\"\nnode_id = \"n1\"\n")
                .unwrap_or_default();
        assert!(c.validate().is_ok());
        assert_eq!(c.cluster.node_id(), "n1");
        assert!(Config::default().cluster.node_id().starts_with("node-"));
    }

    #[test]
    fn a_request_rate_of_zero_is_refused_with_a_sentence() {
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        c.limits.request_burst = 0;
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("limits.request_burst must be at least 1"),
            "{err}"
        );
        let mut c: Config =
            toml::from_str("[limits]\nrequests_per_minute = 0\n").unwrap_or_default();
        assert_eq!(c.limits.requests_per_minute, 0);
        assert!(c.validate().is_err());
        c.limits.requests_per_minute = 1;
        c.auth.refreshes_per_minute_per_address = 0;
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("auth.refreshes_per_minute_per_address"),
            "{err}"
        );
    }
}
