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
//! (the server went away: a reset, a refused write) or the server's disconnect. rust_socketio
//! 0.6 does not watch the server's pings, so a peer that vanishes without a word (a cable
//! pulled, no FIN) is only noticed on the next write or a nudge (wake from sleep, network
//! change), which reconnects at once.

use super::run::{classify, profile_token, Ended, Runner, CONNECT_TIMEOUT};
use super::{Command, EngineState, Target};
use crate::check::CheckReport;
use crate::profile::{Format, Profile, ProfileAuth, TokenHeader};
use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tidings_proto::{Envelope, Event as TidingsEvent};
use tokio::sync::mpsc;

/// What the library reports, in order.
#[derive(Debug)]
pub(crate) enum SioEvent {
    Connected,
    /// An error on the transport, or the server's refusal of the namespace connect.
    Error(String),
    /// The server disconnected this socket.
    Closed,
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

/// An open Socket.IO connection: the client and what it reports.
pub(crate) struct SioConn {
    client: Client,
    pub(crate) events: mpsc::Receiver<SioEvent>,
    url: String,
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
    let (tx, mut events) = mpsc::channel::<SioEvent>(1024);
    let mut b = ClientBuilder::new(url.clone())
        .namespace(p.socketio.namespace.clone())
        .transport_type(TransportType::Websocket)
        .reconnect(false)
        .reconnect_on_disconnect(false);
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
    let opening = async {
        let client = b
            .connect()
            .await
            .map_err(|e| SioError::Io(p.url.clone(), e.to_string()))?;
        loop {
            match events.recv().await {
                Some(SioEvent::Connected) => return Ok(client),
                Some(SioEvent::Error(text)) => {
                    let _ = client.disconnect().await;
                    return Err(match refusal(&text) {
                        Some(why) => SioError::Refused(why),
                        None => SioError::Io(p.url.clone(), text),
                    });
                }
                Some(SioEvent::Closed) | None => {
                    return Err(SioError::Io(
                        p.url.clone(),
                        "the server closed the connection".into(),
                    ))
                }
                Some(SioEvent::Event(..)) => {}
            }
        }
    };
    let client = tokio::time::timeout(timeout, opening)
        .await
        .map_err(|_| SioError::Timeout(p.url.clone(), timeout))??;
    Ok(SioConn {
        client,
        events,
        url: p.url.clone(),
    })
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
                .map_err(|err| format!("cannot emit {}: {err}", e.event))?;
        }
        Ok(())
    }

    pub(crate) async fn close(self) {
        let _ = self.client.disconnect().await;
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
                        conn.close().await;
                        return Ended::Failed(format!("the connection failed: {e}"));
                    }
                    Some(SioEvent::Closed) | None => {
                        conn.close().await;
                        return Ended::Failed("the server closed the connection".into());
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
                    // dead without a word (see the module's note); a new one is cheap.
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
            let body = match (&value, s.format) {
                (Value::String(text), Format::Text) => text.clone().into_bytes(),
                (v, _) => v.to_string().into_bytes(),
            };
            if let Some(n) = s.notification(&p.name, None, &body) {
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
