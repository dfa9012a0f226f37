//! A Socket.IO backend through a connection profile (`kind = "socketio"`): the casting
//! platform, the mini-Facebook, any Socket.IO v4 server. The engine connects with
//! rust_socketio (WebSocket transport), puts the token where the profile says (the
//! handshake's `auth.token`, an `Authorization: Bearer` header or `?token=`), emits the
//! profile's `[[socketio.emit]]` events after every connect, and turns each followed event
//! into a notification in the cache, as a STOMP profile's messages are.
//!
//! The library's own reconnection is off: the engine's loop reconnects, with its backoff,
//! a fresh token from the login endpoint when the server refuses the one it holds, and the
//! same states (connecting, live, reconnecting, signed out) as for STOMP.
//!
//! A lost connection is noticed when the library reports it: an error on the transport
//! (the server went away: a reset, a refused write), the server's disconnect, or the server's
//! pings stopping (a peer gone silent: a cable pulled, a black hole; rust_engineio gives up
//! after the handshake's pingInterval + pingTimeout without a ping and reports an error). A
//! transport that ends cleanly with no Socket.IO disconnect (a proxy's WebSocket close frame)
//! gets no callback of its own in rust_socketio 0.6: its polling task just ends. It does
//! call the reconnect hook there, when the library's reconnection is on, so the engine turns
//! that on, takes the hook as the word "the connection ended" ([`SioEvent::Ended`]), and
//! keeps the library from connecting anywhere itself (see [`open`]).

use super::run::{classify, profile_token, Ended, Runner, CONNECT_TIMEOUT};
use super::{Command, EngineState, Target};
use crate::check::CheckReport;
use crate::profile::{Format, Profile, ProfileAuth, TokenHeader};
use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder, ReconnectSettings};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tidings_proto::{Envelope, Event as TidingsEvent};
use tokio::sync::mpsc;

/// How long a goodbye to the server may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the library reports, in order.
#[derive(Debug)]
pub(crate) enum SioEvent {
    Connected,
    /// An error on the transport, or the server's refusal of the namespace connect.
    Error(String),
    /// The server disconnected this socket.
    Closed,
    /// The connection ended without an error or a disconnect from the server (a clean
    /// WebSocket close, say): the library's reconnect hook was called.
    Ended,
    /// A server event and its first argument (`null` without one).
    Event(String, Value),
}

/// Why a Socket.IO connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SioError {
    /// The server refused the namespace connect (`connect_error`): bad or missing token.
    #[error("the server refused the connection: {0}")]
    Refused(String),
    #[error("cannot open {0}: {1}")]
    Io(String, String),
    #[error("no Socket.IO connect from {0} within {1:?}")]
    Timeout(String, Duration),
    #[error("{0}")]
    Config(String),
}

/// An open Socket.IO connection: the client and what it reports. Dropped without
/// [`SioConn::close`] (a cancelled future), it still says goodbye in the background: the
/// library's polling task stops only after a disconnect (see [`open`]).
pub(crate) struct SioConn {
    client: Client,
    pub(crate) events: mpsc::Receiver<SioEvent>,
    url: String,
    scrub: Scrub,
    closed: bool,
}

impl Drop for SioConn {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            rt.spawn(async move {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, client.disconnect()).await;
            });
        }
    }
}

/// Takes the token out of a library's error text (a URL with `?token=` in it, say): what
/// the engine reports is shown and logged.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrub(Vec<String>);

impl Scrub {
    fn new(token: Option<&(String, TokenHeader)>) -> Scrub {
        let Some((t, _)) = token else {
            return Scrub::default();
        };
        let mut forms = vec![t.clone()];
        if let Ok(mut u) = reqwest::Url::parse("http://h/") {
            u.query_pairs_mut().append_pair("t", t);
            if let Some(q) = u.query().and_then(|q| q.strip_prefix("t=")) {
                forms.push(q.to_owned());
            }
        }
        forms.retain(|f| !f.is_empty());
        Scrub(forms)
    }

    pub(crate) fn text(&self, s: &str) -> String {
        self.0
            .iter()
            .fold(s.to_owned(), |acc, f| acc.replace(f.as_str(), "[token]"))
    }
}

impl std::fmt::Debug for SioConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SioConn").field("url", &self.url).finish()
    }
}

/// The URL rust_socketio takes: `http(s)://`, with the token in the query when the profile
/// puts it there.
fn endpoint(p: &Profile, token: Option<&(String, TokenHeader)>) -> Result<String, SioError> {
    let url = if let Some(rest) = p.url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if let Some(rest) = p.url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        p.url.clone()
    };
    let mut parsed = reqwest::Url::parse(&url)
        .map_err(|e| SioError::Config(format!("invalid URL {:?}: {e}", p.url)))?;
    if let Some((t, TokenHeader::Query)) = token {
        parsed.query_pairs_mut().append_pair("token", t);
    }
    Ok(parsed.to_string())
}

/// The text of an error payload.
#[allow(deprecated)]
fn payload_text(p: &Payload) -> String {
    match p {
        Payload::Text(values) => match values.first() {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        },
        Payload::String(s) => s.clone(),
        Payload::Binary(b) => format!("({} bytes)", b.len()),
    }
}

/// The first argument of an event.
#[allow(deprecated)]
fn payload_value(p: Payload) -> Value {
    match p {
        Payload::Text(mut values) => {
            if values.is_empty() {
                Value::Null
            } else {
                values.swap_remove(0)
            }
        }
        Payload::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        Payload::Binary(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
    }
}

/// A refusal's sentence: rust_socketio reports `connect_error` as "Received an
/// ConnectError frame: {"message": ...}".
fn refusal(text: &str) -> Option<String> {
    let data = text.strip_prefix("Received an ConnectError frame: ")?;
    let message = serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| data.trim_matches('"').to_owned());
    Some(message)
}

/// Opens a connection and waits for the namespace's connect (or its refusal).
pub(crate) async fn open(
    p: &Profile,
    token: Option<(String, TokenHeader)>,
    timeout: Duration,
) -> Result<SioConn, SioError> {
    let url = endpoint(p, token.as_ref())?;
    let scrub = Scrub::new(token.as_ref());
    let (tx, events) = mpsc::channel::<SioEvent>(1024);
    // The engine reconnects, not the library. The library's reconnection is on only for its
    // hook: rust_socketio 0.6 calls it, and nothing else, when the connection's stream ends
    // without an error or a server's disconnect (a clean WebSocket close); after an error it
    // is called too, after the error callback. The hook reports the end and gives an empty
    // address, which fails to parse before anything is opened; one attempt is allowed, and
    // the engine's disconnect (it closes every connection it leaves) stops the library's
    // polling task from trying again.
    let ended = tx.clone();
    let mut b = ClientBuilder::new(url.clone())
        .namespace(p.socketio.namespace.clone())
        .transport_type(TransportType::Websocket)
        .reconnect(true)
        .max_reconnect_attempts(1)
        .reconnect_delay(1000, 1000)
        .reconnect_on_disconnect(false)
        .on_reconnect(move || {
            let _ = ended.try_send(SioEvent::Ended);
            async {
                let mut no_address = ReconnectSettings::new();
                no_address.address("");
                no_address
            }
            .boxed()
        });
    match token {
        None => {}
        Some((t, TokenHeader::Handshake)) => b = b.auth(serde_json::json!({ "token": t })),
        Some((t, TokenHeader::Authorization)) => {
            b = b.opening_header("Authorization", format!("Bearer {t}"))
        }
        Some((_, TokenHeader::Query)) => {}
        Some((_, TokenHeader::Passcode)) => {
            return Err(SioError::Config(
                "a STOMP passcode does not apply to a Socket.IO server".into(),
            ))
        }
    }
    if let Some(ca) = &p.extra_ca {
        let pem = std::fs::read(ca)
            .map_err(|e| SioError::Config(format!("cannot read {}: {e}", ca.display())))?;
        let cert = native_tls::Certificate::from_pem(&pem).map_err(|e| {
            SioError::Config(format!("{} is not a PEM certificate: {e}", ca.display()))
        })?;
        let tls = native_tls::TlsConnector::builder()
            .add_root_certificate(cert)
            .build()
            .map_err(|e| SioError::Config(format!("cannot set up TLS: {e}")))?;
        b = b.tls_config(tls);
    }
    let on = |tx: mpsc::Sender<SioEvent>, make: fn(&Payload) -> SioEvent| {
        move |payload: Payload, _: Client| {
            let tx = tx.clone();
            let ev = make(&payload);
            async move {
                let _ = tx.send(ev).await;
            }
            .boxed()
        }
    };
    b = b
        .on(Event::Connect, on(tx.clone(), |_| SioEvent::Connected))
        .on(Event::Close, on(tx.clone(), |_| SioEvent::Closed))
        .on(
            Event::Error,
            on(tx.clone(), |p| SioEvent::Error(payload_text(p))),
        )
        .on_any(move |event: Event, payload: Payload, _: Client| {
            let tx = tx.clone();
            async move {
                if let Event::Custom(name) = event {
                    let _ = tx.send(SioEvent::Event(name, payload_value(payload))).await;
                }
            }
            .boxed()
        });
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = || SioError::Timeout(p.url.clone(), timeout);
    let client = tokio::time::timeout_at(deadline, b.connect())
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| SioError::Io(p.url.clone(), scrub.text(&e.to_string())))?;
    // The namespace's answer; the client is in hand, so a failure or the deadline closes it
    // (its polling task would otherwise keep the connection).
    let mut conn = SioConn {
        client,
        events,
        url: p.url.clone(),
        scrub,
        closed: false,
    };
    let (events, scrub) = (&mut conn.events, &conn.scrub);
    let answer = tokio::time::timeout_at(deadline, async {
        loop {
            match events.recv().await {
                Some(SioEvent::Connected) => return Ok(()),
                Some(SioEvent::Error(text)) => {
                    return Err(match refusal(&text) {
                        Some(why) => SioError::Refused(scrub.text(&why)),
                        None => SioError::Io(p.url.clone(), scrub.text(&text)),
                    })
                }
                Some(SioEvent::Closed | SioEvent::Ended) | None => {
                    return Err(SioError::Io(
                        p.url.clone(),
                        "the server closed the connection".into(),
                    ))
                }
                Some(SioEvent::Event(..)) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(timed_out()));
    if let Err(e) = answer {
        conn.close().await;
        return Err(e);
    }
    Ok(conn)
}

impl SioConn {
    /// Emits the profile's `[[socketio.emit]]` events, in order.
    pub(crate) async fn emit_all(&self, p: &Profile) -> Result<(), String> {
        for e in &p.socketio.emit {
            let data = match &e.data {
                Some(v) => Payload::Text(vec![v.clone()]),
                None => Payload::Text(Vec::new()),
            };
            self.client
                .emit(e.event.as_str(), data)
                .await
                .map_err(|err| self.scrub.text(&format!("cannot emit {}: {err}", e.event)))?;
        }
        Ok(())
    }

    /// Says goodbye (bounded: the connection may be dead already).
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.client.disconnect()).await;
        self.closed = true;
    }
}

impl Runner {
    /// One connected lifetime with a Socket.IO backend: the token (a fresh one from the
    /// login endpoint only when there is none or the server refused it), the connect, the
    /// profile's emits, then each followed event into the cache until the connection ends.
    pub(super) async fn sio_session(&mut self) -> Ended {
        let Target::Profile(p) = &self.config.target else {
            return Ended::Failed("not a Socket.IO profile".into());
        };
        let p = p.clone();
        let (token, fresh) = match self.sio_token.clone() {
            Some(t) => (Some(t), false),
            None => match profile_token(&p, &self.config.tls).await {
                Ok(t) => {
                    self.sio_token = t.clone();
                    (t, true)
                }
                Err(e) => return classify(e),
            },
        };
        let conn = match open(&p, token, CONNECT_TIMEOUT).await {
            Ok(c) => c,
            Err(SioError::Refused(why)) => {
                self.sio_token = None;
                if !fresh && matches!(p.auth, ProfileAuth::Login { .. }) {
                    // The token it held expired or was revoked: log in again at once.
                    return Ended::Renew;
                }
                return Ended::Failed(format!("the server refused the connection: {why}"));
            }
            Err(e) => return Ended::Failed(e.to_string()),
        };
        if let Err(e) = conn.emit_all(&p).await {
            conn.close().await;
            return Ended::Failed(e);
        }
        self.backoff.reset();
        self.set_state(EngineState::Live);
        let mut conn = conn;
        loop {
            tokio::select! {
                ev = conn.events.recv() => match ev {
                    Some(SioEvent::Event(name, value)) => {
                        if let Err(e) = self.on_sio_event(&p, &name, value) {
                            conn.close().await;
                            return Ended::Failed(e.to_string());
                        }
                    }
                    Some(SioEvent::Connected) => {}
                    Some(SioEvent::Error(e)) => {
                        let e = conn.scrub.text(&e);
                        conn.close().await;
                        return Ended::Failed(format!("the connection failed: {e}"));
                    }
                    Some(SioEvent::Closed) | None => {
                        conn.close().await;
                        return Ended::Failed("the server closed the connection".into());
                    }
                    Some(SioEvent::Ended) => {
                        conn.close().await;
                        return Ended::Failed(
                            "the connection was closed (no Socket.IO disconnect)".into(),
                        );
                    }
                },
                cmd = self.cmds.recv() => match cmd {
                    None => {
                        conn.close().await;
                        return Ended::Shutdown(None);
                    }
                    Some(Command::Shutdown(tx)) => {
                        conn.close().await;
                        return Ended::Shutdown(Some(tx));
                    }
                    Some(Command::Network(false)) => {
                        self.network_up = false;
                        conn.close().await;
                        return Ended::NetworkDown;
                    }
                    // Woken from sleep, or the network changed: the connection may be
                    // dead without a word, which the missing pings would tell only after
                    // pingInterval + pingTimeout (see the module's note); a new one is cheap.
                    Some(Command::Nudge) => {
                        conn.close().await;
                        return Ended::Reconnect;
                    }
                    Some(Command::Focus(f)) => self.focus = f,
                    Some(_) => {}
                },
            }
        }
    }

    /// A server event: a notification for each `[[subscribe]]` that follows it.
    fn on_sio_event(&mut self, p: &Profile, name: &str, value: Value) -> crate::ClientResult<()> {
        let mut stored = false;
        for s in p
            .subscribe
            .iter()
            .filter(|s| s.event.as_deref() == Some(name))
        {
            if let Some(n) = event_notification(p, s, &value) {
                // A notification seen before (the server sent it again) is not news.
                if self.cache.insert_foreign_notification(&n, s.source())? {
                    let _ = self
                        .events
                        .send(Arc::new(Envelope::new(TidingsEvent::Notification(n), None)));
                    stored = true;
                }
            }
        }
        if stored {
            self.touched();
        }
        Ok(())
    }
}

/// The notification a followed event makes: from its first argument, read as the
/// subscription's format says. *(choice)* An argument that is a bare string is the body
/// (format "json" or "text" alike), under the subscription's default title.
fn event_notification(
    p: &Profile,
    s: &crate::profile::Subscription,
    value: &Value,
) -> Option<tidings_proto::Notification> {
    match (value, s.format) {
        (Value::String(text), Format::Text | Format::Json) => {
            let as_text = crate::profile::Subscription {
                format: Format::Text,
                ..s.clone()
            };
            as_text.notification(&p.name, None, text.as_bytes())
        }
        (v, _) => s.notification(&p.name, None, v.to_string().as_bytes()),
    }
}

/// The Socket.IO steps of a connection test (see [`crate::check`]).
pub(crate) async fn socketio_check(
    p: &Profile,
    token: Option<(String, TokenHeader)>,
    timeout: Duration,
    report: &mut CheckReport,
) {
    let conn = match open(p, token, timeout).await {
        Ok(c) => c,
        Err(e) => {
            report.push("connect", false, e.to_string());
            return;
        }
    };
    report.push(
        "connect",
        true,
        format!(
            "Socket.IO connected to {} (namespace {})",
            p.url, p.socketio.namespace
        ),
    );
    let emitted = conn.emit_all(p).await;
    if !p.socketio.emit.is_empty() {
        let names: Vec<&str> = p.socketio.emit.iter().map(|e| e.event.as_str()).collect();
        match &emitted {
            Ok(()) => report.push("emit", true, format!("emitted {}", names.join(", "))),
            Err(e) => report.push("emit", false, e.clone()),
        };
    }
    if emitted.is_ok() {
        for s in &p.subscribe {
            report.push(
                "subscribe",
                true,
                format!(
                    "following {} (Socket.IO confirms no listener: the server sends it or not)",
                    s.source()
                ),
            );
        }
    }
    conn.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(url: &str) -> Profile {
        toml::from_str(&format!(
            "name = \"x\"\nkind = \"socketio\"\nurl = \"{url}\"\n[[subscribe]]\nevent = \"e\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn the_url_is_http_and_carries_the_token_only_when_asked() {
        let p = profile("ws://127.0.0.1:3000");
        assert_eq!(endpoint(&p, None).unwrap(), "http://127.0.0.1:3000/");
        let p = profile("https://example.com/app?v=1");
        let t = ("a b&c".to_owned(), TokenHeader::Query);
        assert_eq!(
            endpoint(&p, Some(&t)).unwrap(),
            "https://example.com/app?v=1&token=a+b%26c"
        );
        let t = ("secret".to_owned(), TokenHeader::Handshake);
        assert!(!endpoint(&p, Some(&t)).unwrap().contains("secret"));
    }

    #[test]
    fn a_connect_error_reads_as_the_servers_sentence() {
        assert_eq!(
            refusal(
                r#"Received an ConnectError frame: {"message":"Invalid authentication token"}"#
            )
            .as_deref(),
            Some("Invalid authentication token")
        );
        assert_eq!(
            refusal("Received an ConnectError frame: \"No error message provided\"").as_deref(),
            Some("No error message provided")
        );
        assert_eq!(refusal("IO error: Connection reset"), None);
        let t = ("a b/c".to_owned(), TokenHeader::Query);
        let scrub = Scrub::new(Some(&t));
        assert_eq!(
            scrub.text("cannot open http://h/?token=a+b%2Fc and a b/c"),
            "cannot open http://h/?token=[token] and [token]"
        );
        assert_eq!(
            payload_value(Payload::Text(vec![serde_json::json!({"a": 1})])),
            serde_json::json!({"a": 1})
        );
        assert_eq!(payload_value(Payload::Text(Vec::new())), Value::Null);
    }

    #[test]
    fn an_event_argument_becomes_a_notification() {
        let mut p = profile("http://h");
        p.subscribe[0].title = Some("title".into());
        p.subscribe[0].body = Some("/detail/text".into());
        let s = &p.subscribe[0];
        let n = event_notification(
            &p,
            s,
            &serde_json::json!({"title": "Callback", "detail": {"text": "Tuesday"}}),
        )
        .unwrap();
        assert_eq!(
            (n.title.as_str(), n.message.as_str()),
            ("Callback", "Tuesday")
        );
        let n = event_notification(&p, s, &Value::String("just text".into())).unwrap();
        assert_eq!((n.title.as_str(), n.message.as_str()), ("x", "just text"));
        assert_eq!(n.kind, "e");
    }
}
