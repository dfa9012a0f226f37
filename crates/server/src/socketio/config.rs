//! The `[socketio]` section of the config file: whether the Socket.IO endpoint is mounted,
//! its heart-beat, and the limits a peer on the open internet meets there.

use serde::Deserialize;
use std::time::Duration;

/// `[socketio]`. See docs/socketio.md for what each key does to a client.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocketIoConfig {
    /// Mount the Socket.IO v4 endpoint at `/socket.io/` (on by default: a seed-style
    /// front end expects it there).
    pub enabled: bool,
    /// Engine.IO ping interval.
    pub ping_interval_ms: u64,
    /// How long a ping may wait for its pong before the connection counts as dead.
    pub ping_timeout_ms: u64,
    /// How long a new Engine.IO connection may take to connect to a namespace (the
    /// Socket.IO handshake, with its token) before it is closed.
    pub connect_timeout_ms: u64,
    /// The largest Engine.IO packet (WebSocket message, or HTTP long-polling body) accepted;
    /// a larger one closes the connection.
    pub max_payload_bytes: u64,
    /// Packets waiting to be written to one socket; past that the socket is a slow consumer
    /// (typing and presence are skipped, anything else ends the connection).
    pub max_buffer_size: usize,
    /// Socket.IO connections on this node at once; the next gets a `connect_error`.
    pub max_connections: usize,
    /// Events one socket may emit per minute (on average)…
    pub events_per_minute: u32,
    /// …and at once.
    pub event_burst: u32,
    /// Test-only: mount the echo handlers the Socket.IO conformance suite expects instead of
    /// the chat (no authentication, no chat events). Never set this on a real server.
    pub conformance: bool,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        SocketIoConfig {
            enabled: true,
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            connect_timeout_ms: 10_000,
            max_payload_bytes: 64 * 1024,
            max_buffer_size: 256,
            max_connections: 10_000,
            events_per_minute: 600,
            event_burst: 60,
            conformance: false,
        }
    }
}

impl SocketIoConfig {
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.ping_timeout_ms)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// `request_timeout_ms`: an HTTP long-polling request waits up to one ping interval for
    /// something to carry, so the interval must end before the server's request deadline.
    pub fn validate(&self, request_timeout_ms: u64) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.ping_interval_ms >= 50 && self.ping_timeout_ms >= 50,
            "socketio.ping_interval_ms and socketio.ping_timeout_ms must be at least 50"
        );
        anyhow::ensure!(
            self.ping_interval_ms < request_timeout_ms,
            "socketio.ping_interval_ms ({}) must be less than limits.request_timeout_ms ({request_timeout_ms}): a long-polling request waits up to one ping interval",
            self.ping_interval_ms
        );
        anyhow::ensure!(
            self.connect_timeout_ms >= 100,
            "socketio.connect_timeout_ms must be at least 100"
        );
        anyhow::ensure!(
            self.max_payload_bytes >= 1024,
            "socketio.max_payload_bytes must be at least 1024"
        );
        anyhow::ensure!(
            self.max_buffer_size >= 1 && self.max_connections >= 1,
            "socketio.max_buffer_size and socketio.max_connections must be at least 1"
        );
        anyhow::ensure!(
            self.events_per_minute >= 1 && self.event_burst >= 1,
            "socketio.events_per_minute and socketio.event_burst must be at least 1"
        );
        Ok(())
    }
}
