//! "Test connection" for a connection profile: each step the engine takes to follow the
//! profile's server, tried once, with a sentence on what worked and what did not. The CLI
//! (`tidings --profile FILE test`) prints it; the desktop app shows it when a profile is
//! added or edited.
//!
//! The steps, in order, each tried only if the ones before it worked:
//!
//! - `profile`: the profile itself is valid;
//! - `token`: the token is given, or the login endpoint gave one (STOMP `login`/`passcode`
//!   are checked by the broker, at `connect`);
//! - `connect`: STOMP `CONNECTED`, or the Socket.IO namespace connected;
//! - `subscribe` (one per `[[subscribe]]`): a STOMP destination subscribed (with a
//!   receipt), or a Socket.IO event followed (Socket.IO has no subscription to confirm; the
//!   `[[socketio.emit]]` events are emitted as after any connect).
//!
//! Details never carry the token, the password or the passcode.

use crate::connection::{self, ConnError, ConnectOptions};
use crate::engine::{profile_token, stomp_headers};
use crate::error::ClientError;
use crate::profile::{Profile, ProfileAuth, ProfileKind};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tidings_stomp::{Command as Stomp, Frame, HeartBeat};

/// One step of a connection test.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CheckStep {
    /// `profile`, `token`, `connect` or `subscribe`.
    pub name: String,
    pub ok: bool,
    /// What worked, or what did not and why, in a sentence.
    pub detail: String,
}

/// What a connection test found: the steps tried, in order.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CheckReport {
    /// Every step worked.
    pub ok: bool,
    pub steps: Vec<CheckStep>,
}

impl CheckReport {
    fn step(&mut self, name: &str, ok: bool, detail: impl Into<String>) -> bool {
        self.steps.push(CheckStep {
            name: name.to_owned(),
            ok,
            detail: detail.into(),
        });
        ok
    }

    /// The first step that failed.
    pub fn failure(&self) -> Option<&CheckStep> {
        self.steps.iter().find(|s| !s.ok)
    }
}

/// Tries a profile's connection once, step by step, each step within `timeout`.
pub async fn test_connection(
    profile: &Profile,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> CheckReport {
    let mut report = CheckReport::default();
    run(profile, tls, timeout, &mut report).await;
    report.ok = !report.steps.is_empty() && report.steps.iter().all(|s| s.ok);
    report
}

async fn run(
    p: &Profile,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
    report: &mut CheckReport,
) {
    match p.validate() {
        Ok(()) => report.step("profile", true, "the profile is valid"),
        Err(e) => return void(report.step("profile", false, e.to_string())),
    };
    let token = match tokio::time::timeout(timeout, profile_token(p, tls)).await {
        Err(_) => {
            return void(report.step(
                "token",
                false,
                format!("no answer from the login endpoint within {timeout:?}"),
            ))
        }
        Ok(Err(e)) => return void(report.step("token", false, token_failure(p, e))),
        Ok(Ok(t)) => {
            report.step("token", true, token_success(p));
            t
        }
    };
    match p.kind {
        ProfileKind::Stomp => stomp(p, token, tls, timeout, report).await,
        ProfileKind::Socketio => crate::engine::socketio_check(p, token, timeout, report).await,
    }
}

fn void(_: bool) {}

fn token_success(p: &Profile) -> String {
    match &p.auth {
        ProfileAuth::None => "no token: the profile connects without one".into(),
        ProfileAuth::Token {
            token_env: Some(var),
            token: None,
            ..
        } => format!("the token is taken from ${var}"),
        ProfileAuth::Token { .. } => "the token is given in the profile".into(),
        ProfileAuth::Login { url, username, .. } => {
            format!("the login endpoint {url} gave a token for {username}")
        }
        ProfileAuth::Stomp { login, .. } => {
            format!(
                "STOMP login {login:?} and a passcode are given; the broker checks them on connect"
            )
        }
    }
}

fn token_failure(p: &Profile, e: ClientError) -> String {
    let url = match &p.auth {
        ProfileAuth::Login { url, .. } => url.as_str(),
        _ => "",
    };
    match e {
        ClientError::Unauthorized(why) => format!("{why}: wrong username or password"),
        ClientError::Unreachable(_, why) => {
            format!("cannot reach the login endpoint {url}: {why}")
        }
        ClientError::Refused { status, .. } => format!(
            "the login endpoint {url} answered {status}: is this the login URL, and does it take {{\"username\", \"password\"}}?"
        ),
        other => other.to_string(),
    }
}

/// A sentence for a failed STOMP connection.
fn connect_failure(url: &str, e: ConnError) -> String {
    match e {
        ConnError::Refused { message, body } => {
            let body = body.trim();
            if body.is_empty() || body == message {
                format!("the server refused the login: {message}")
            } else {
                format!("the server refused the login: {message} ({body})")
            }
        }
        ConnError::Timeout(d) => format!("no STOMP CONNECTED from {url} within {d:?}"),
        ConnError::Closed => format!("{url} closed the connection before STOMP CONNECTED"),
        other => other.to_string(),
    }
}

async fn stomp(
    p: &Profile,
    token: Option<(String, crate::profile::TokenHeader)>,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
    report: &mut CheckReport,
) {
    let headers = match stomp_headers(p, token) {
        Ok(h) => h,
        Err(e) => return void(report.step("connect", false, e.to_string())),
    };
    let opts = ConnectOptions {
        url: p.url.clone(),
        headers,
        heart_beat: HeartBeat {
            send_ms: p.stomp.heart_beat_ms,
            receive_ms: p.stomp.heart_beat_ms,
        },
        tls: tls.clone(),
        timeout,
    };
    let mut conn = match connection::connect(&opts).await {
        Ok(c) => c,
        Err(e) => return void(report.step("connect", false, connect_failure(&p.url, e))),
    };
    let server = conn
        .connected
        .server
        .as_deref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    report.step(
        "connect",
        true,
        format!("STOMP CONNECTED from {}{server}", p.url),
    );
    let sender = conn.sender();
    for (i, s) in p.subscribe.iter().enumerate() {
        let receipt = format!("check-{i}");
        let frame = Frame::new(Stomp::Subscribe)
            .with_header("destination", &s.destination)
            .with_header("id", format!("p{i}"))
            .with_header("ack", "auto")
            .with_header("receipt", &receipt);
        if let Err(e) = sender.send(&frame).await {
            return void(report.step(
                "subscribe",
                false,
                format!("cannot subscribe to {}: {e}", s.destination),
            ));
        }
        let wait = async {
            loop {
                match conn.next_frame().await {
                    Ok(f) if f.command == Stomp::Receipt => {
                        if f.header("receipt-id") == Some(receipt.as_str()) {
                            return Ok(());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(())) => report.step(
                "subscribe",
                true,
                format!("subscribed to {}", s.destination),
            ),
            Ok(Err(ConnError::Refused { message, .. })) => {
                return void(report.step(
                    "subscribe",
                    false,
                    format!("the server refused {}: {message}", s.destination),
                ))
            }
            Ok(Err(e)) => {
                return void(report.step(
                    "subscribe",
                    false,
                    format!("subscribing to {} ended the connection: {e}", s.destination),
                ))
            }
            Err(_) => {
                return void(report.step(
                    "subscribe",
                    false,
                    format!(
                        "no receipt for the subscription to {} within {timeout:?}",
                        s.destination
                    ),
                ))
            }
        };
    }
    let _ = sender.send(&Frame::new(Stomp::Disconnect)).await;
}

impl CheckReport {
    /// Adds a step (for the protocol branches in the engine).
    pub(crate) fn push(&mut self, name: &str, ok: bool, detail: impl Into<String>) -> bool {
        self.step(name, ok, detail)
    }
}
