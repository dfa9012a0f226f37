//! The "server of another kind" form as the UI fills it in, and its one translation into the
//! engine's [`Profile`]. The form speaks the user's words (a Spring STOMP backend, RabbitMQ
//! Web-STOMP, Socket.IO; destinations or events to follow; which fields make a
//! notification's title and body); the profile is what the engine runs.
//!
//! Secrets (a login's password, a pasted token, RabbitMQ's passcode) travel in the form from
//! the UI once, when saved or tested; they are kept in the OS keyring (`store`), never in
//! the saved form, and never sent back to the UI.

use serde::{Deserialize, Serialize};
use tidings_client::profile::{
    Emit, Format, Profile, ProfileAuth, ProfileKind, SocketIoSettings, StompSettings, Subscription,
    TokenHeader,
};

/// The kind of server, in the user's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum ServerKind {
    /// A Spring backend's STOMP endpoint (`/ws`), with a bearer token.
    Spring,
    /// RabbitMQ's Web-STOMP plugin (`ws://host:15674/ws`), with a login and passcode.
    Rabbitmq,
    /// A Socket.IO v4 backend.
    Socketio,
}

impl ServerKind {
    /// How the kind is named to people.
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Spring => "Spring STOMP",
            ServerKind::Rabbitmq => "RabbitMQ Web-STOMP",
            ServerKind::Socketio => "Socket.IO",
        }
    }
}

/// How the token is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum TokenSource {
    /// No credentials.
    None,
    /// `POST url` with `{"username", "password"}`; the token is the answer's `tokenField`
    /// (a field name or a JSON pointer such as `/data/accessToken`).
    #[serde(rename_all = "camelCase")]
    Login {
        url: String,
        username: String,
        /// Blank when editing: the stored one is kept.
        password: String,
        token_field: String,
    },
    /// A token pasted in (blank when editing: the stored one is kept).
    Token { token: String },
    /// STOMP `login` and `passcode` (RabbitMQ); blank passcode when editing: kept.
    Stomp { login: String, passcode: String },
}

impl TokenSource {
    /// The secret this source carries ("" when none, or left blank to keep the stored one).
    pub fn secret(&self) -> &str {
        match self {
            TokenSource::None => "",
            TokenSource::Login { password, .. } => password,
            TokenSource::Token { token } => token,
            TokenSource::Stomp { passcode, .. } => passcode,
        }
    }

    /// Whether this source needs a secret at all.
    pub fn wants_secret(&self) -> bool {
        !matches!(self, TokenSource::None)
    }

    /// The same source with its secret blanked (what is saved in the file).
    pub fn without_secret(&self) -> TokenSource {
        self.with_secret(String::new())
    }

    /// The same source with `secret` in place.
    pub fn with_secret(&self, secret: String) -> TokenSource {
        match self.clone() {
            TokenSource::None => TokenSource::None,
            TokenSource::Login {
                url,
                username,
                token_field,
                ..
            } => TokenSource::Login {
                url,
                username,
                password: secret,
                token_field,
            },
            TokenSource::Token { .. } => TokenSource::Token { token: secret },
            TokenSource::Stomp { login, .. } => TokenSource::Stomp {
                login,
                passcode: secret,
            },
        }
    }
}

/// Where a token goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum TokenPlacement {
    /// `Authorization: Bearer …` (STOMP `CONNECT`; Socket.IO's handshake header).
    Authorization,
    /// STOMP `passcode`.
    Passcode,
    /// Socket.IO's handshake `auth: { token }`.
    Handshake,
    /// Socket.IO's handshake query, `?token=…`.
    Query,
}

/// How what arrives is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum MessageFormat {
    /// A JSON object: the title, body and id fields name its fields.
    Json,
    /// The whole message is the notification's text.
    Text,
}

/// An event emitted after every (re)connect (Socket.IO), e.g. joining a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct EmitForm {
    pub event: String,
    /// Its argument as JSON text (blank: none).
    pub data: String,
}

/// The form: everything about a server of another kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ProfileForm {
    pub name: String,
    pub kind: ServerKind,
    pub url: String,
    pub auth: TokenSource,
    /// Where the token goes (login and pasted tokens).
    pub placement: TokenPlacement,
    /// The STOMP destinations (Spring, RabbitMQ) or Socket.IO events to follow.
    pub follow: Vec<String>,
    /// The Socket.IO namespace (`/`).
    pub namespace: String,
    /// Socket.IO events to emit after each connect.
    pub emit: Vec<EmitForm>,
    /// RabbitMQ's virtual host (the STOMP `host` header; blank: the URL's host).
    pub vhost: String,
    pub format: MessageFormat,
    /// The fields (names or JSON pointers) that make a notification's title, body and id;
    /// blank: the profile's name, the whole message, one made up.
    pub title_field: String,
    pub body_field: String,
    pub id_field: String,
}

/// A form that cannot become a profile: which field, and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    pub field: &'static str,
    pub message: String,
}

fn blank_none(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl ProfileForm {
    /// The engine's profile, secrets inline (kept in memory only). The engine's own check
    /// ([`Profile::validate`]) runs last; the form's checks name their field.
    pub fn to_profile(&self) -> Result<Profile, FormError> {
        let bad = |field, message: &str| {
            Err(FormError {
                field,
                message: message.to_owned(),
            })
        };
        let name = self.name.trim();
        if name.is_empty() {
            return bad("name", "Give the server a name.");
        }
        if name.chars().count() > 80 {
            return bad("name", "The name is longer than 80 characters.");
        }
        let url = self.url.trim();
        if url.is_empty() {
            return bad("url", "Enter the server's address.");
        }
        let ws = url.starts_with("ws://") || url.starts_with("wss://");
        let http = url.starts_with("http://") || url.starts_with("https://");
        match self.kind {
            ServerKind::Socketio if !(ws || http) => {
                return bad("url", "A Socket.IO address starts with http://, https://, ws:// or wss://.")
            }
            ServerKind::Spring | ServerKind::Rabbitmq if !ws => {
                return bad("url", "A STOMP over WebSocket address starts with ws:// or wss://, such as ws://127.0.0.1:15674/ws.")
            }
            _ => {}
        }
        let follow: Vec<String> = self.follow.iter().filter_map(|f| blank_none(f)).collect();
        if follow.is_empty() {
            let what = match self.kind {
                ServerKind::Socketio => "Name at least one event to follow.",
                _ => "Name at least one destination to follow, such as /topic/alerts.",
            };
            return bad("follow", what);
        }
        if follow.len() > 50 {
            return bad("follow", "Follow at most 50 destinations or events.");
        }
        let header = match self.placement {
            TokenPlacement::Authorization => TokenHeader::Authorization,
            TokenPlacement::Passcode => TokenHeader::Passcode,
            TokenPlacement::Handshake => TokenHeader::Handshake,
            TokenPlacement::Query => TokenHeader::Query,
        };
        let secret = blank_none(self.auth.secret());
        let auth = match &self.auth {
            TokenSource::None => ProfileAuth::None,
            TokenSource::Login {
                url,
                username,
                token_field,
                ..
            } => {
                if blank_none(url).is_none() {
                    return bad("loginUrl", "Enter the login endpoint's address.");
                }
                if blank_none(username).is_none() {
                    return bad("username", "Enter the username to log in with.");
                }
                if secret.is_none() {
                    return bad("secret", "Enter the password.");
                }
                if blank_none(token_field).is_none() {
                    return bad(
                        "tokenField",
                        "Name the field of the login answer that holds the token.",
                    );
                }
                ProfileAuth::Login {
                    url: url.trim().to_owned(),
                    username: username.trim().to_owned(),
                    password: secret,
                    password_env: None,
                    token_field: token_field.trim().to_owned(),
                    header,
                }
            }
            TokenSource::Token { .. } => {
                if secret.is_none() {
                    return bad("secret", "Paste the token.");
                }
                ProfileAuth::Token {
                    token: secret,
                    token_env: None,
                    header,
                }
            }
            TokenSource::Stomp { login, .. } => {
                if blank_none(login).is_none() {
                    return bad("login", "Enter the STOMP login.");
                }
                if secret.is_none() {
                    return bad("secret", "Enter the passcode.");
                }
                ProfileAuth::Stomp {
                    login: login.trim().to_owned(),
                    passcode: secret,
                    passcode_env: None,
                }
            }
        };
        let mut emit = Vec::new();
        for e in &self.emit {
            let Some(event) = blank_none(&e.event) else {
                continue;
            };
            let data = match blank_none(&e.data) {
                None => None,
                Some(text) => match serde_json::from_str(&text) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        return bad(
                            "emit",
                            &format!("The data to emit with {event} is not JSON: {text}"),
                        )
                    }
                },
            };
            emit.push(Emit { event, data });
        }
        let socketio = self.kind == ServerKind::Socketio;
        let subscribe = follow
            .into_iter()
            .map(|f| Subscription {
                destination: if socketio { String::new() } else { f.clone() },
                event: socketio.then_some(f),
                format: match self.format {
                    MessageFormat::Json => Format::Json,
                    MessageFormat::Text => Format::Text,
                },
                id: blank_none(&self.id_field),
                title: blank_none(&self.title_field),
                body: blank_none(&self.body_field),
                default_title: None,
                kind: None,
                conversation: None,
            })
            .collect();
        let profile = Profile {
            name: name.to_owned(),
            kind: if socketio {
                ProfileKind::Socketio
            } else {
                ProfileKind::Stomp
            },
            url: url.to_owned(),
            extra_ca: None,
            auth,
            stomp: StompSettings {
                host: blank_none(&self.vhost),
                ..StompSettings::default()
            },
            socketio: SocketIoSettings {
                namespace: blank_none(&self.namespace).unwrap_or_else(|| "/".into()),
                emit,
            },
            subscribe,
        };
        profile.validate().map_err(|e| FormError {
            field: "",
            message: sentence(&e.to_string()),
        })?;
        Ok(profile)
    }

    /// The form as saved: no secret in it.
    pub fn without_secret(&self) -> ProfileForm {
        ProfileForm {
            auth: self.auth.without_secret(),
            ..self.clone()
        }
    }
}

/// The engine's "profile NAME: why" as a sentence for the form ("Why.").
fn sentence(engine: &str) -> String {
    let why = engine
        .split_once(": ")
        .map(|(_, rest)| rest)
        .unwrap_or(engine)
        .trim();
    let mut s: String = why.chars().take(1).flat_map(char::to_uppercase).collect();
    s.extend(why.chars().skip(1));
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rabbit() -> ProfileForm {
        ProfileForm {
            name: "Alerts".into(),
            kind: ServerKind::Rabbitmq,
            url: "ws://127.0.0.1:15674/ws".into(),
            auth: TokenSource::Stomp {
                login: "guest".into(),
                passcode: "guest".into(),
            },
            placement: TokenPlacement::Authorization,
            follow: vec!["/topic/alerts".into(), " ".into()],
            namespace: "/".into(),
            emit: vec![],
            vhost: "/".into(),
            format: MessageFormat::Json,
            title_field: "title".into(),
            body_field: "body".into(),
            id_field: "id".into(),
        }
    }

    #[test]
    fn a_rabbitmq_form_becomes_a_stomp_profile_with_its_fields() {
        let p = rabbit().to_profile().unwrap();
        assert_eq!(p.kind, ProfileKind::Stomp);
        assert_eq!(p.subscribe.len(), 1, "blank lines are dropped");
        assert_eq!(p.subscribe[0].destination, "/topic/alerts");
        assert_eq!(p.subscribe[0].title.as_deref(), Some("title"));
        assert_eq!(p.stomp.host.as_deref(), Some("/"));
        assert!(
            matches!(p.auth, ProfileAuth::Stomp { ref passcode, .. } if passcode.as_deref() == Some("guest"))
        );
        let saved = rabbit().without_secret();
        assert_eq!(saved.auth.secret(), "");
        assert_eq!(saved.auth.with_secret("guest".into()), rabbit().auth);
    }

    #[test]
    fn a_socketio_form_follows_events_and_emits_json() {
        let mut f = rabbit();
        f.kind = ServerKind::Socketio;
        f.url = "http://127.0.0.1:3000".into();
        f.auth = TokenSource::Token { token: "t".into() };
        f.placement = TokenPlacement::Handshake;
        f.follow = vec!["notification:new".into()];
        f.emit = vec![EmitForm {
            event: "join".into(),
            data: r#"{"room": "r1"}"#.into(),
        }];
        let p = f.to_profile().unwrap();
        assert_eq!(p.subscribe[0].event.as_deref(), Some("notification:new"));
        assert_eq!(p.socketio.emit[0].data.as_ref().unwrap()["room"], "r1");
        f.emit[0].data = "{room".into();
        assert_eq!(f.to_profile().unwrap_err().field, "emit");
    }

    #[test]
    fn each_problem_names_its_field_or_is_one_sentence() {
        let mut f = rabbit();
        f.name = " ".into();
        assert_eq!(f.to_profile().unwrap_err().field, "name");
        let mut f = rabbit();
        f.follow = vec![];
        assert_eq!(f.to_profile().unwrap_err().field, "follow");
        let mut f = rabbit();
        f.auth = f.auth.without_secret();
        assert_eq!(f.to_profile().unwrap_err().field, "secret");
        let mut f = rabbit();
        f.url = "http://127.0.0.1:15674/ws".into();
        assert_eq!(f.to_profile().unwrap_err().field, "url");
        // What only the engine's check catches is one sentence.
        let mut f = rabbit();
        f.kind = ServerKind::Spring;
        f.auth = TokenSource::Token { token: "t".into() };
        f.placement = TokenPlacement::Query;
        let e = f.to_profile().unwrap_err();
        assert_eq!(e.field, "");
        assert!(e.message.starts_with("The token goes in"), "{e:?}");
        assert!(e.message.ends_with('.'), "{e:?}");
    }
}
