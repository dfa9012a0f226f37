//! Connection profiles for servers that are not Tidings: a Spring STOMP backend (the
//! HealthMate case), RabbitMQ Web-STOMP, anything that speaks STOMP over WebSocket. A
//! profile (TOML) names the WebSocket URL, how to get the token, the destinations to
//! subscribe to and how to read what arrives; the engine turns each message into a
//! notification in the cache.
//!
//! ```toml
//! name = "HealthMate"
//! url = "ws://127.0.0.1:8080/ws"
//! [auth]                       # "none", "token", "login" (REST) or "stomp" (login/passcode)
//! type = "login"
//! url = "http://127.0.0.1:8080/api/auth/login"
//! username = "pat@example.com"
//! password_env = "HEALTHMATE_PASSWORD"
//! token_field = "token"        # a field name, or a JSON pointer such as "/data/accessToken"
//! [[subscribe]]
//! destination = "/user/queue/notifications"
//! format = "json"              # "tidings" (the envelope), "json" or "text"
//! title = "title"
//! body = "message"
//! ```
//!
//! A Socket.IO backend (the casting platform, the mini-Facebook) takes `kind = "socketio"`,
//! an `http(s)://` URL, the token in the handshake's `auth.token` (`header = "handshake"`),
//! an `Authorization` header or the query string, the events to emit after each connect
//! (joining a room, say) and the events to follow instead of destinations:
//!
//! ```toml
//! name = "Casting"
//! kind = "socketio"
//! url = "http://127.0.0.1:3000"
//! [auth]
//! type = "login"
//! url = "http://127.0.0.1:3000/api/auth/login"
//! username = "sam@example.com"
//! password_env = "CASTING_PASSWORD"
//! token_field = "token"
//! header = "handshake"
//! [socketio]
//! namespace = "/"
//! [[socketio.emit]]
//! event = "join"
//! data = { room = "casting-42" }
//! [[subscribe]]
//! event = "notification:new"
//! title = "title"
//! body = "message"
//! [[subscribe]]
//! event = "message:new"                # a chat message becomes a notification too,
//! body = "content"
//! conversation = "conversationId"      # naming its conversation
//! ```

use crate::error::{ClientError, ClientResult};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tidings_proto::{Envelope, Event, Notification, Timestamp};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Shown as the title when a message names none.
    pub name: String,
    /// What the server speaks.
    #[serde(default)]
    pub kind: ProfileKind,
    /// `ws://` or `wss://` for STOMP; `http(s)://` (or `ws(s)://`) for Socket.IO.
    pub url: String,
    /// One more CA (PEM) to trust besides the system's.
    #[serde(default)]
    pub extra_ca: Option<PathBuf>,
    #[serde(default)]
    pub auth: ProfileAuth,
    #[serde(default)]
    pub stomp: StompSettings,
    #[serde(default)]
    pub socketio: SocketIoSettings,
    pub subscribe: Vec<Subscription>,
}

/// The protocol of a profile's server.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    /// STOMP 1.2 over WebSocket (Spring, RabbitMQ Web-STOMP, Tidings).
    #[default]
    Stomp,
    /// Socket.IO v4.
    Socketio,
}

/// Socket.IO settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SocketIoSettings {
    /// The namespace to connect to.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Events emitted after every (re)connect, in order (joining rooms, say).
    #[serde(default)]
    pub emit: Vec<Emit>,
}

impl Default for SocketIoSettings {
    fn default() -> Self {
        SocketIoSettings {
            namespace: default_namespace(),
            emit: Vec::new(),
        }
    }
}

fn default_namespace() -> String {
    "/".into()
}

/// One event to emit after connecting.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Emit {
    pub event: String,
    /// The event's argument (any JSON; none when unset).
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// Where a secret comes from: the file itself, or an environment variable (better). Its
/// `Debug` shows whether an inline secret is there, never the secret.
#[derive(Clone, Deserialize, Serialize, Default)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ProfileAuth {
    #[default]
    None,
    /// A fixed bearer token.
    Token {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        token_env: Option<String>,
        #[serde(default)]
        header: TokenHeader,
    },
    /// Log in over REST (`POST url` with `{"username", "password"}`) and take the token
    /// from the answer.
    Login {
        url: String,
        username: String,
        #[serde(default)]
        password: Option<String>,
        #[serde(default)]
        password_env: Option<String>,
        token_field: String,
        #[serde(default)]
        header: TokenHeader,
    },
    /// STOMP `login` and `passcode` headers (RabbitMQ).
    Stomp {
        login: String,
        #[serde(default)]
        passcode: Option<String>,
        #[serde(default)]
        passcode_env: Option<String>,
    },
}

impl std::fmt::Debug for ProfileAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "***");
        match self {
            ProfileAuth::None => f.write_str("None"),
            ProfileAuth::Token {
                token,
                token_env,
                header,
            } => f
                .debug_struct("Token")
                .field("token", &hidden(token))
                .field("token_env", token_env)
                .field("header", header)
                .finish(),
            ProfileAuth::Login {
                url,
                username,
                password,
                password_env,
                token_field,
                header,
            } => f
                .debug_struct("Login")
                .field("url", url)
                .field("username", username)
                .field("password", &hidden(password))
                .field("password_env", password_env)
                .field("token_field", token_field)
                .field("header", header)
                .finish(),
            ProfileAuth::Stomp {
                login,
                passcode,
                passcode_env,
            } => f
                .debug_struct("Stomp")
                .field("login", login)
                .field("passcode", &hidden(passcode))
                .field("passcode_env", passcode_env)
                .finish(),
        }
    }
}

/// Where the token goes: in STOMP's `CONNECT`, or in Socket.IO's handshake.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TokenHeader {
    /// `Authorization: Bearer <token>` (Spring, Tidings; for Socket.IO the HTTP header of
    /// the handshake).
    #[default]
    Authorization,
    /// `passcode: <token>` (STOMP only).
    Passcode,
    /// Socket.IO's handshake `auth: { token }` (the seeds' usual way).
    Handshake,
    /// Socket.IO's handshake query string, `?token=<token>`.
    Query,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StompSettings {
    /// The `host` header (RabbitMQ's virtual host, `/`); the URL's host when unset.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default = "default_heart_beat")]
    pub heart_beat_ms: u64,
}

impl Default for StompSettings {
    fn default() -> Self {
        StompSettings {
            host: None,
            heart_beat_ms: default_heart_beat(),
        }
    }
}

fn default_heart_beat() -> u64 {
    10_000
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The Tidings envelope.
    Tidings,
    /// Any JSON object; `title`, `body` and `id` name its fields.
    #[default]
    Json,
    /// The body is the text.
    Text,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// The STOMP destination to subscribe to (STOMP profiles).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination: String,
    /// The Socket.IO event to follow (Socket.IO profiles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default)]
    pub format: Format,
    /// Field (or JSON pointer) holding a stable id; else the `message-id` header.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    /// The title when the message has none (else the profile's name).
    #[serde(default)]
    pub default_title: Option<String>,
    /// The notification kind (default: the destination or event).
    #[serde(default)]
    pub kind: Option<String>,
    /// Field (or JSON pointer) holding the conversation the message belongs to (a chat
    /// message, `message:new`'s `conversationId`): the notification names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
}

impl Profile {
    pub fn load(path: &Path) -> ClientResult<Profile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ClientError::Io(format!("cannot read the profile {}: {e}", path.display()))
        })?;
        let p: Profile = toml::from_str(&text)
            .map_err(|e| ClientError::Config(format!("invalid profile {}: {e}", path.display())))?;
        p.validate()?;
        Ok(p)
    }

    pub fn validate(&self) -> ClientResult<()> {
        let bad = |why: String| Err(ClientError::Config(format!("profile {}: {why}", self.name)));
        let ws = self.url.starts_with("ws://") || self.url.starts_with("wss://");
        let http = self.url.starts_with("http://") || self.url.starts_with("https://");
        let header = match &self.auth {
            ProfileAuth::Token { header, .. } | ProfileAuth::Login { header, .. } => Some(*header),
            _ => None,
        };
        match self.kind {
            ProfileKind::Stomp => {
                if !ws {
                    return bad(format!(
                        "url must start with ws:// or wss://, not {:?}",
                        self.url
                    ));
                }
                if matches!(header, Some(TokenHeader::Handshake | TokenHeader::Query)) {
                    return bad(
                        "the token goes in \"authorization\" or \"passcode\" for a STOMP server"
                            .into(),
                    );
                }
                if let Some(s) = self
                    .subscribe
                    .iter()
                    .find(|s| s.destination.is_empty() || s.event.is_some())
                {
                    return bad(format!(
                        "each [[subscribe]] of a STOMP profile names a destination and no event ({:?})",
                        s.event.as_deref().unwrap_or("")
                    ));
                }
            }
            ProfileKind::Socketio => {
                if !(ws || http) {
                    return bad(format!(
                        "url must start with http://, https://, ws:// or wss://, not {:?}",
                        self.url
                    ));
                }
                if matches!(self.auth, ProfileAuth::Stomp { .. })
                    || header == Some(TokenHeader::Passcode)
                {
                    return bad(
                        "STOMP login and passcode do not apply to a Socket.IO server".into(),
                    );
                }
                if !self.socketio.namespace.starts_with('/') {
                    return bad(format!(
                        "the namespace starts with /, not {:?}",
                        self.socketio.namespace
                    ));
                }
                if let Some(s) = self.subscribe.iter().find(|s| {
                    s.event.as_deref().unwrap_or("").is_empty() || !s.destination.is_empty()
                }) {
                    return bad(format!(
                        "each [[subscribe]] of a Socket.IO profile names an event and no destination ({:?})",
                        s.destination
                    ));
                }
            }
        }
        if self.subscribe.is_empty() {
            return bad("name at least one [[subscribe]] destination or event".into());
        }
        Ok(())
    }
}

/// Reads a secret given inline or through an environment variable.
pub fn secret(inline: &Option<String>, env: &Option<String>, what: &str) -> ClientResult<String> {
    if let Some(v) = inline {
        return Ok(v.clone());
    }
    if let Some(var) = env {
        return std::env::var(var).map_err(|_| {
            ClientError::Config(format!(
                "the {what} is to come from ${var}, which is not set"
            ))
        });
    }
    Err(ClientError::Config(format!("the profile gives no {what}")))
}

/// A field of a JSON value: a JSON pointer (`/a/b`) or a top-level key. Strings come out
/// as they are, anything else as JSON text.
pub fn field(v: &serde_json::Value, name: &str) -> Option<String> {
    let found = if name.starts_with('/') {
        v.pointer(name)
    } else {
        v.get(name)
    }?;
    match found {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Subscription {
    /// What this subscription follows: the destination, or the Socket.IO event.
    pub fn source(&self) -> &str {
        self.event.as_deref().unwrap_or(&self.destination)
    }

    /// Turns one received message into a notification, or `None` if this subscription does
    /// not make notifications out of it (a typing event, say).
    pub fn notification(
        &self,
        profile_name: &str,
        message_id: Option<&str>,
        body: &[u8],
    ) -> Option<Notification> {
        let text = String::from_utf8_lossy(body).into_owned();
        let now = Timestamp::now();
        let title_default = self
            .default_title
            .clone()
            .unwrap_or_else(|| profile_name.to_owned());
        let kind = self
            .kind
            .clone()
            .unwrap_or_else(|| self.source().to_owned());
        let fallback_id = || {
            message_id
                .map(|m| format!("{}:{m}", self.source()))
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
        };
        let base = |id: String, title: String, message: String, data| Notification {
            id,
            user_id: String::new(),
            seq: 0,
            kind: kind.clone(),
            title,
            message,
            data,
            conversation_id: None,
            url: None,
            is_read: false,
            created_at: now,
        };
        match self.format {
            Format::Text => Some(base(fallback_id(), title_default, text, None)),
            Format::Json => {
                let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                let id = self
                    .id
                    .as_deref()
                    .and_then(|f| field(&v, f))
                    .map(|i| format!("{}:{i}", self.source()))
                    .unwrap_or_else(fallback_id);
                let title = self
                    .title
                    .as_deref()
                    .and_then(|f| field(&v, f))
                    .unwrap_or(title_default);
                let message = self
                    .body
                    .as_deref()
                    .and_then(|f| field(&v, f))
                    .unwrap_or_else(|| text.clone());
                let conversation_id = self.conversation.as_deref().and_then(|f| field(&v, f));
                Some(Notification {
                    conversation_id,
                    ..base(id, title, message, Some(v))
                })
            }
            Format::Tidings => {
                let env: Envelope = serde_json::from_str(&text).ok()?;
                match env.event {
                    Event::Notification(mut n) => {
                        n.seq = 0;
                        Some(n)
                    }
                    Event::ChatMessage(m) => Some(Notification {
                        conversation_id: Some(m.conversation_id.clone()),
                        created_at: m.created_at,
                        ..base(
                            m.id.clone(),
                            format!("Message from {}", m.sender_id),
                            m.content,
                            None,
                        )
                    }),
                    Event::Announcement(a) => Some(base(a.id, a.title, a.message, None)),
                    _ => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spring_style_json_notification_becomes_a_cached_notification() {
        let p: Profile = toml::from_str(
            r#"
            name = "HealthMate"
            url = "ws://127.0.0.1:8080/ws"
            [auth]
            type = "token"
            token = "abc"
            [[subscribe]]
            destination = "/user/queue/notifications"
            id = "id"
            body = "message"
            "#,
        )
        .unwrap();
        p.validate().unwrap();
        let sub = &p.subscribe[0];
        let n = sub
            .notification(
                &p.name,
                Some("m-1"),
                br#"{"id": 42, "userId": 7, "message": "Your appointment was moved", "isRead": false}"#,
            )
            .unwrap();
        assert_eq!(n.id, "/user/queue/notifications:42");
        assert_eq!(n.title, "HealthMate");
        assert_eq!(n.message, "Your appointment was moved");
        assert_eq!(n.data.unwrap()["userId"], 7);
        assert!(sub.notification(&p.name, None, b"not json").is_none());
    }

    #[test]
    fn profiles_are_checked() {
        let bad: Result<Profile, _> =
            toml::from_str("name = \"x\"\nurl = \"ws://h/ws\"\nsubscribe = []\nbogus = 1\n");
        assert!(bad.is_err(), "unknown keys are refused");
        let p: Profile = toml::from_str(
            "name = \"x\"\nurl = \"http://h/ws\"\n[[subscribe]]\ndestination = \"/topic/a\"\n",
        )
        .unwrap();
        assert!(p.validate().unwrap_err().to_string().contains("ws://"));
        assert_eq!(
            field(&serde_json::json!({"a": {"b": 3}}), "/a/b").as_deref(),
            Some("3")
        );
        assert!(secret(&None, &Some("TIDINGS_SURELY_UNSET_VAR".into()), "password").is_err());
    }

    #[test]
    fn a_profile_printed_for_debugging_hides_its_secrets() {
        let p: Profile = toml::from_str(
            "name = \"x\"\nurl = \"ws://h/ws\"\n[auth]\ntype = \"stomp\"\nlogin = \"guest\"\npasscode = \"hunter2-passcode\"\n[[subscribe]]\ndestination = \"/topic/a\"\n",
        )
        .unwrap();
        let shown = format!("{p:?}");
        assert!(shown.contains("guest") && shown.contains("***"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn socketio_profiles_follow_events_not_destinations() {
        let p: Profile = toml::from_str(
            r#"
            name = "Casting"
            kind = "socketio"
            url = "http://127.0.0.1:3000"
            [auth]
            type = "token"
            token = "abc"
            header = "handshake"
            [[socketio.emit]]
            event = "join"
            data = { room = "casting-42" }
            [[subscribe]]
            event = "notification:new"
            id = "id"
            title = "title"
            body = "message"
            "#,
        )
        .unwrap();
        p.validate().unwrap();
        assert_eq!(p.socketio.namespace, "/");
        assert_eq!(
            p.socketio.emit[0].data.as_ref().unwrap()["room"],
            "casting-42"
        );
        let n = p.subscribe[0]
            .notification(
                &p.name,
                None,
                br#"{"id": "n1", "title": "Callback", "message": "Tuesday 10:00"}"#,
            )
            .unwrap();
        assert_eq!(
            (n.id.as_str(), n.kind.as_str(), n.title.as_str()),
            ("notification:new:n1", "notification:new", "Callback")
        );
        assert_eq!(n.conversation_id, None);
        let mut chat = p.subscribe[0].clone();
        chat.conversation = Some("conversationId".into());
        let n = chat
            .notification(
                &p.name,
                None,
                br#"{"id": "m1", "conversationId": "c-9", "content": "hi"}"#,
            )
            .unwrap();
        assert_eq!(n.conversation_id.as_deref(), Some("c-9"));

        let mut stomp_sub = p.clone();
        stomp_sub.subscribe[0].destination = "/topic/a".into();
        assert!(stomp_sub
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no destination"));
        let mut as_stomp = p.clone();
        as_stomp.kind = ProfileKind::Stomp;
        as_stomp.url = "ws://127.0.0.1:3000/ws".into();
        assert!(as_stomp
            .validate()
            .unwrap_err()
            .to_string()
            .contains("authorization"));
    }
}
