//! The Tidings REST API as the engine uses it: sign-in, conversations, history and
//! notifications for catch-up, the REST fallback for sending, read markers, and notifying
//! users with a service token (the user's actions and the change log are in [`chat`]).
//! Errors are sorted into [`ClientError`] kinds.

mod chat;

use crate::error::{ClientError, ClientResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tidings_proto::api::{
    ConversationList, CreateConversation, CreateNotification, ErrorBody, LoginRequest, MessagePage,
    NotificationPage, NotificationsCreated, ReadAllRequest, ReadRequest, ReadState, RefreshRequest,
    SendMessage, TokenResponse, User,
};
use tidings_proto::{Conversation, Message, NotificationsRead};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Conversations asked for per page of the list (the server's default page).
const CONVERSATION_PAGE: u32 = 100;

/// The most one call waits in all for a server that says "too many requests" (429), as its
/// `Retry-After` asks; past it the 429 is the call's answer.
const MAX_RATE_WAIT: Duration = Duration::from_secs(60);

/// The wait a 429 answer asks for (`Retry-After` in seconds, 1 s when absent or not a
/// number of seconds, at most 30 s); `None` for any other answer.
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    if resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let secs = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Some(Duration::from_secs(secs.clamp(1, 30)))
}

/// A REST client for one server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Api {
    base: Arc<str>,
    http: reqwest::Client,
}

impl Api {
    /// `base` is the server's HTTP origin (`https://chat.example.com`).
    pub fn new(base: &str, tls: Arc<rustls::ClientConfig>) -> ClientResult<Api> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Api {
            base: base.trim_end_matches('/').into(),
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> ClientResult<T> {
        let mut waited = Duration::ZERO;
        let resp = loop {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| ClientError::Unreachable(self.base.to_string(), describe(&e)))?;
            // Too many requests: the server refused before doing anything, so asking again
            // after the wait it names is safe, also for a POST. A catch-up larger than the
            // server's burst slows down instead of failing.
            match retry_after(&resp) {
                Some(wait) if waited + wait <= MAX_RATE_WAIT => {
                    tracing::debug!(path, ?wait, "rate limited; asking again after the wait");
                    waited += wait;
                    tokio::time::sleep(wait).await;
                }
                _ => break resp,
            }
        };
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| ClientError::Unreachable(self.base.to_string(), describe(&e)))?;
        if status.is_success() {
            let text = if text.is_empty() { "null" } else { &text };
            return serde_json::from_str(text)
                .map_err(|e| ClientError::Server(format!("unreadable answer to {path}: {e}")));
        }
        let err: Option<ErrorBody> = serde_json::from_str(&text).ok();
        let (code, message) = match err {
            Some(e) => (e.error, e.message),
            None => ("http".to_owned(), format!("{status} from {path}")),
        };
        match status.as_u16() {
            401 => Err(ClientError::Unauthorized(message)),
            s if s >= 500 => Err(ClientError::Server(message)),
            s => Err(ClientError::Refused {
                status: s,
                code,
                message,
            }),
        }
    }

    pub async fn login(&self, username: &str, password: &str) -> ClientResult<TokenResponse> {
        let body = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        self.call(reqwest::Method::POST, "/api/auth/login", None, Some(&body))
            .await
    }

    pub async fn register(&self, username: &str, password: &str) -> ClientResult<TokenResponse> {
        let body = tidings_proto::api::RegisterRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            display_name: None,
        };
        self.call(
            reqwest::Method::POST,
            "/api/auth/register",
            None,
            Some(&body),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> ClientResult<TokenResponse> {
        let body = RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        };
        self.call(
            reqwest::Method::POST,
            "/api/auth/refresh",
            None,
            Some(&body),
        )
        .await
    }

    pub async fn logout(&self, refresh_token: &str) -> ClientResult<()> {
        let body = RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        };
        self.call(reqwest::Method::POST, "/api/auth/logout", None, Some(&body))
            .await
    }

    pub async fn me(&self, token: &str) -> ClientResult<User> {
        self.call::<(), _>(reqwest::Method::GET, "/api/users/me", Some(token), None)
            .await
    }

    /// All the user's conversations, most recently active first: every page, each
    /// conversation once (the server's cursor guarantees it).
    pub async fn conversations(&self, token: &str) -> ClientResult<Vec<Conversation>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .conversation_page(token, CONVERSATION_PAGE, cursor.as_deref())
                .await?;
            all.extend(page.conversations);
            match page.next_cursor {
                // A server before paging sends neither: its one answer was everything.
                Some(next) if page.has_more => cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }

    /// One page of the conversation list; `cursor` is the previous page's `nextCursor`.
    pub async fn conversation_page(
        &self,
        token: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> ClientResult<ConversationList> {
        let mut path = format!("/api/conversations?limit={limit}");
        if let Some(c) = cursor {
            path.push_str("&cursor=");
            path.push_str(&encode(c));
        }
        self.call::<(), _>(reqwest::Method::GET, &path, Some(token), None)
            .await
    }

    pub async fn create_conversation(
        &self,
        token: &str,
        req: &CreateConversation,
    ) -> ClientResult<Conversation> {
        self.call(
            reqwest::Method::POST,
            "/api/conversations",
            Some(token),
            Some(req),
        )
        .await
    }

    /// Messages with `seq > after`, ascending.
    pub async fn history_after(
        &self,
        token: &str,
        cid: &str,
        after: i64,
        limit: u32,
    ) -> ClientResult<MessagePage> {
        let path = format!(
            "/api/conversations/{}/messages?after={after}&limit={limit}",
            encode(cid)
        );
        self.call::<(), _>(reqwest::Method::GET, &path, Some(token), None)
            .await
    }

    pub async fn notifications_after(
        &self,
        token: &str,
        after: i64,
        limit: u32,
    ) -> ClientResult<NotificationPage> {
        let path = format!("/api/notifications?after={after}&limit={limit}");
        self.call::<(), _>(reqwest::Method::GET, &path, Some(token), None)
            .await
    }

    /// A page of notifications: `query` is `GET /api/notifications`'s (`before=`, `after=`,
    /// `unread=true`, `limit=`).
    pub async fn notifications(&self, token: &str, query: &str) -> ClientResult<NotificationPage> {
        let path = format!("/api/notifications?{query}");
        self.call::<(), _>(reqwest::Method::GET, &path, Some(token), None)
            .await
    }

    /// Marks every notification up to `up_to` read in one request.
    pub async fn mark_all_notifications_read(
        &self,
        token: &str,
        up_to: i64,
    ) -> ClientResult<NotificationsRead> {
        self.call(
            reqwest::Method::POST,
            "/api/notifications/read-all",
            Some(token),
            Some(&ReadAllRequest { up_to: Some(up_to) }),
        )
        .await
    }

    pub async fn send(&self, token: &str, cid: &str, msg: &SendMessage) -> ClientResult<Message> {
        let path = format!("/api/conversations/{}/messages", encode(cid));
        self.call(reqwest::Method::POST, &path, Some(token), Some(msg))
            .await
    }

    pub async fn read(&self, token: &str, cid: &str, up_to: i64) -> ClientResult<ReadState> {
        let path = format!("/api/conversations/{}/read", encode(cid));
        self.call(
            reqwest::Method::POST,
            &path,
            Some(token),
            Some(&ReadRequest { up_to }),
        )
        .await
    }

    pub async fn mark_notification_read(&self, token: &str, id: &str) -> ClientResult<()> {
        let path = format!("/api/notifications/{}/read", encode(id));
        let _: serde_json::Value = self
            .call::<(), _>(reqwest::Method::POST, &path, Some(token), None)
            .await?;
        Ok(())
    }

    /// Notifies users (needs the service token, or an admin's access token).
    pub async fn notify(
        &self,
        token: &str,
        req: &CreateNotification,
    ) -> ClientResult<NotificationsCreated> {
        self.call(
            reqwest::Method::POST,
            "/api/notifications",
            Some(token),
            Some(req),
        )
        .await
    }
}

/// The error and its causes in one line (reqwest's top-level text alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// Percent-encodes a path segment (ids are opaque strings).
pub(crate) fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Logs in to another server's REST endpoint (`POST url` with `{"username", "password"}`)
/// and returns the token found at `token_field` (a field name or a JSON pointer).
pub async fn login_anywhere(
    url: &str,
    username: &str,
    password: &str,
    token_field: &str,
    tls: &Arc<rustls::ClientConfig>,
) -> ClientResult<String> {
    let http = reqwest::Client::builder()
        .use_preconfigured_tls((**tls).clone())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| ClientError::Config(format!("cannot build the HTTP client: {e}")))?;
    let resp = http
        .post(url)
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .map_err(|e| ClientError::Unreachable(url.to_owned(), describe(&e)))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| ClientError::Unreachable(url.to_owned(), describe(&e)))?;
    match status.as_u16() {
        200..=299 => {}
        401 | 403 => {
            return Err(ClientError::Unauthorized(format!(
                "{url} refused the login ({status})"
            )))
        }
        s if s >= 500 => return Err(ClientError::Server(format!("{url} answered {status}"))),
        s => {
            return Err(ClientError::Refused {
                status: s,
                code: "login".into(),
                message: format!("{url} answered {status}"),
            })
        }
    }
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        ClientError::Server(format!("{url} answered something that is not JSON: {e}"))
    })?;
    crate::profile::field(&v, token_field).ok_or_else(|| {
        ClientError::Config(format!(
            "the login answer from {url} has no {token_field:?}"
        ))
    })
}
