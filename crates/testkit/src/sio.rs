//! A seed-style Node.js Socket.IO backend (`tests/sio-backend/server.mjs`, socket.io 4) for
//! the client engine's Socket.IO profiles: on a free `127.0.0.1` port, killed when dropped,
//! and restartable on the same port (outage tests). Its users are alice, bob and carol, each
//! with the password `<name>-password`.
//!
//! Its `node_modules` come from `npm ci` in `tests/sio-backend` (`make deps` runs it).

use crate::process::Process;
use crate::{TempDir, WAIT};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[derive(Debug)]
pub struct SioBackend {
    dir: TempDir,
    process: Option<Process>,
    pub addr: SocketAddr,
    /// The ping interval and timeout it runs with (ms), as the server's command line takes.
    ping: Option<(u64, u64)>,
    starts: u32,
    /// The secret its tokens are signed with (a new one makes earlier tokens invalid).
    secret: String,
    http: reqwest::Client,
}

/// The backend's folder in the source tree.
pub fn sio_backend_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sio-backend")
}

impl SioBackend {
    /// Starts one on a free port (socket.io's default ping interval and timeout).
    pub async fn start() -> SioBackend {
        SioBackend::start_with_ping(None).await
    }

    /// Starts one whose engine.io pings come every `interval` ms and may go unanswered for
    /// `timeout` ms.
    pub async fn start_with_ping(ping: Option<(u64, u64)>) -> SioBackend {
        let here = sio_backend_dir();
        assert!(
            here.join("node_modules/socket.io").is_dir(),
            "{} has no node_modules: run `make deps` (or `npm ci --prefix tests/sio-backend`)",
            here.display()
        );
        crate::http_client_provider();
        let mut b = SioBackend {
            dir: TempDir::new("sio-backend"),
            process: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            ping,
            starts: 0,
            secret: "sio-backend-secret-0".into(),
            http: reqwest::Client::new(),
        };
        b.spawn(0);
        b.wait_ready().await;
        b
    }

    fn spawn(&mut self, port: u16) {
        self.starts += 1;
        let mut cmd = Command::new("node");
        cmd.current_dir(sio_backend_dir())
            .arg("server.mjs")
            .args(["--port", &port.to_string()])
            .args(["--secret", &self.secret]);
        if let Some((interval, timeout)) = self.ping {
            cmd.args(["--ping-interval", &interval.to_string()])
                .args(["--ping-timeout", &timeout.to_string()]);
        }
        let log = self.dir.path().join(format!("node-{}.log", self.starts));
        let p = Process::spawn(cmd, &log, "the Socket.IO backend (node)")
            .unwrap_or_else(|e| panic!("{e:#}"));
        self.addr = p.addr;
        self.process = Some(p);
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = self.http.get(self.url("/healthz")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the Socket.IO backend is not ready"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Kills it at once (SIGKILL): its clients see their connections drop.
    pub fn kill(&mut self) {
        drop(self.process.take());
    }

    /// Starts it again on the same port (after [`SioBackend::kill`]).
    pub async fn restart(&mut self) {
        self.kill();
        let port = self.addr.port();
        // The port was just freed; node binds with SO_REUSEADDR, so it is free again at once
        // unless another process took it meanwhile.
        self.spawn(port);
        assert_eq!(self.addr.port(), port, "restarted on another port");
        self.wait_ready().await;
    }

    /// Starts it again on the same port with a new signing secret: the tokens it gave out
    /// are refused from then on (as after a key rotation or a revocation).
    pub async fn restart_with_new_secret(&mut self) {
        self.secret = format!("sio-backend-secret-{}", self.starts);
        self.restart().await;
    }

    /// A token for `user` from its login endpoint.
    pub async fn login(&self, user: &str) -> String {
        let v = self
            .post(
                "/api/auth/login",
                serde_json::json!({"username": user, "password": format!("{user}-password")}),
            )
            .await;
        v["token"].as_str().unwrap().to_owned()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert!(r.status().is_success(), "POST {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// `notification:new` to a user's sockets, in the mini-Facebook's shape; the
    /// notification as sent.
    pub async fn notify(&self, user: &str, title: &str, message: &str) -> Value {
        self.post(
            "/api/notifications",
            serde_json::json!({"userId": user, "title": title, "message": message}),
        )
        .await
    }

    /// `message:new` to a conversation's room (and `message:received` to the receiver).
    pub async fn message(
        &self,
        conversation: &str,
        sender: &str,
        receiver: &str,
        content: &str,
    ) -> Value {
        self.post(
            "/api/messages",
            serde_json::json!({
                "conversationId": conversation,
                "senderId": sender,
                "receiverId": receiver,
                "content": content,
            }),
        )
        .await
    }

    /// How many sockets of `user` are connected now.
    pub async fn sockets(&self, user: &str) -> u64 {
        let r = self
            .http
            .get(self.url(&format!("/test/sockets?user={user}")))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["count"].as_u64().unwrap()
    }

    /// Waits until `user` has a connected socket (panics after [`WAIT`]).
    pub async fn wait_connected(&self, user: &str) {
        self.wait_connected_for(user, WAIT).await
    }

    pub async fn wait_connected_for(&self, user: &str, wait: std::time::Duration) {
        let deadline = Instant::now() + wait;
        while self.sockets(user).await == 0 {
            assert!(Instant::now() < deadline, "{user} did not connect");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Closes the WebSocket of each of `user`'s sockets cleanly (a close frame) without a
    /// Socket.IO disconnect before it, as a proxy closing it would; how many it closed.
    pub async fn close_transports(&self, user: &str) -> u64 {
        let v = self
            .post("/test/close-transport", serde_json::json!({ "user": user }))
            .await;
        v["count"].as_u64().unwrap()
    }

    /// The events clients emitted: `[{"user", "event", "data"}]`.
    pub async fn received(&self) -> Vec<Value> {
        let r = self
            .http
            .get(self.url("/test/received"))
            .send()
            .await
            .unwrap();
        r.json::<Value>()
            .await
            .unwrap()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// The casting-platform profile (TOML text) the engine's and the CLI's Socket.IO tests give
/// alice against a backend at `url`: log in with `password`, a TOML line (`password = "…"` or
/// `password_env = "…"`), the token placed as `header` says (`handshake`, `authorization`,
/// `query`); join conversation c-1 after each connect (the backend records each join, one per
/// connect); follow `notification:new` and `message:new`.
pub fn casting_profile(url: &str, header: &str, password: &str) -> String {
    format!(
        r#"
name = "Casting"
kind = "socketio"
url = "{url}"
[auth]
type = "login"
url = "{url}/api/auth/login"
username = "alice"
{password}
token_field = "token"
header = "{header}"
[[socketio.emit]]
event = "join-conversation"
data = "c-1"
[[subscribe]]
event = "notification:new"
id = "id"
title = "title"
body = "message"
[[subscribe]]
event = "message:new"
id = "id"
body = "content"
conversation = "conversationId"
default_title = "New message"
"#
    )
}
