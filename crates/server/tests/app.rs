//! The seam to the application layer: `/app/**` handlers, receipts after their effect,
//! application-level subscription checks, and operator access rules from the config.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use tidings_server::access::RuleConfig;
use tidings_server::auth::Principal;
use tidings_server::{AppError, AppSend, Application, Broker};
use tidings_stomp::{Command, Frame};
use tidings_testkit::*;

/// A tiny application: `/app/rooms/{room}/say` stores the text, then publishes it to
/// `/topic/conversations/{room}`; only members may subscribe there.
struct Rooms {
    broker: Broker,
    stored: Mutex<Vec<String>>,
    members: Vec<(&'static str, &'static str)>,
}

#[async_trait]
impl Application for Rooms {
    async fn on_send(&self, send: AppSend) -> Result<(), AppError> {
        let rest = send
            .destination
            .strip_prefix("/app/rooms/")
            .ok_or_else(|| AppError::UnknownDestination(send.destination.clone()))?;
        let room = rest
            .strip_suffix("/say")
            .ok_or_else(|| AppError::UnknownDestination(send.destination.clone()))?;
        let text = std::str::from_utf8(&send.body)
            .map_err(|_| AppError::Invalid("body is not UTF-8".into()))?;
        if text.is_empty() {
            return Err(AppError::Invalid("content must not be empty".into()));
        }
        // "Durable" before the broker is told, as the chat layer's commit will be.
        self.stored.lock().unwrap().push(text.to_owned());
        self.broker
            .publish(
                &format!("/topic/conversations/{room}"),
                vec![("sender".into(), send.principal.name.to_string())],
                Bytes::from(text.to_owned()),
                false,
            )
            .map_err(|e| AppError::Internal(e.into()))
    }

    async fn authorize_subscribe(
        &self,
        who: &Principal,
        destination: &str,
    ) -> Result<(), AppError> {
        match destination.strip_prefix("/topic/conversations/") {
            Some(room) if !self.members.contains(&(room, &*who.name)) => Err(AppError::Forbidden(
                format!("you are not a participant of {room}"),
            )),
            _ => Ok(()),
        }
    }
}

async fn start(rooms: Arc<Mutex<Option<Arc<Rooms>>>>) -> Server {
    Server::with_app(
        |_| {},
        |broker| {
            let app = Arc::new(Rooms {
                broker,
                stored: Mutex::new(Vec::new()),
                members: vec![("r1", "alice"), ("r1", "bob")],
            });
            *rooms.lock().unwrap() = Some(app.clone());
            app
        },
    )
    .await
}

#[tokio::test]
async fn app_sends_are_handled_and_the_receipt_follows_the_effect() {
    let slot = Arc::new(Mutex::new(None));
    let srv = start(slot.clone()).await;
    let rooms = slot.lock().unwrap().clone().unwrap();
    let mut bob = srv.client("bob").await;
    bob.subscribe("/topic/conversations/r1", "c", "auto").await;
    let mut alice = srv.client("alice").await;
    alice
        .send_with_receipt(
            Frame::new(Command::Send)
                .with_header("destination", "/app/rooms/r1/say")
                .with_body("hello"),
        )
        .await;
    // The RECEIPT came after the handler stored the message.
    assert_eq!(*rooms.stored.lock().unwrap(), ["hello"]);
    let m = bob.next_message().await;
    assert_eq!((body(&m), m.header("sender")), ("hello", Some("alice")));
    assert_eq!(m.header("destination"), Some("/topic/conversations/r1"));

    // Invalid input: reported on /user/queue/errors, nothing stored.
    alice.subscribe("/user/queue/errors", "e", "auto").await;
    alice
        .send(
            Frame::new(Command::Send)
                .with_header("destination", "/app/rooms/r1/say")
                .with_header("receipt", "x"),
        )
        .await;
    let e = alice.next_message().await;
    let v: serde_json::Value = serde_json::from_slice(&e.body).unwrap();
    assert_eq!(
        (v["error"].as_str(), v["message"].as_str()),
        (Some("invalid"), Some("invalid: content must not be empty"))
    );
    assert_eq!(rooms.stored.lock().unwrap().len(), 1);
    alice
        .send(Frame::new(Command::Send).with_header("destination", "/app/nowhere"))
        .await;
    let v: serde_json::Value = serde_json::from_slice(&alice.next_message().await.body).unwrap();
    assert_eq!(v["message"], "unknown destination /app/nowhere");
    // Clients cannot publish to the reserved topic directly.
    alice
        .send(
            Frame::new(Command::Send)
                .with_header("destination", "/topic/conversations/r1")
                .with_body("spoof"),
        )
        .await;
    let v: serde_json::Value = serde_json::from_slice(&alice.next_message().await.body).unwrap();
    assert_eq!(v["error"], "forbidden");
    assert!(
        bob.barrier().await.is_empty(),
        "bob got nothing but the real message"
    );
}

#[tokio::test]
async fn only_participants_may_subscribe_to_a_conversation() {
    let srv = start(Arc::new(Mutex::new(None))).await;
    let mut carol = srv.client("carol").await;
    carol
        .send(
            Frame::new(Command::Subscribe)
                .with_header("destination", "/topic/conversations/r1")
                .with_header("id", "c"),
        )
        .await;
    let e = carol.expect_error().await;
    assert_eq!(
        e.header("message"),
        Some("forbidden: you are not a participant of r1")
    );
    let mut alice = srv.client("alice").await;
    alice
        .subscribe("/topic/conversations/r1", "c", "auto")
        .await;
}

#[tokio::test]
async fn operator_access_rules_from_the_config_are_enforced() {
    let srv = Server::with(|c| {
        c.access = vec![RuleConfig {
            pattern: "/topic/ops/**".into(),
            subscribe: vec!["role:ops".into()],
            send: vec!["user:deployer".into()],
        }];
    })
    .await;
    let ops = srv.state.auth.mint("olga", &["ops".into()], 60).unwrap();
    let mut olga = Client::open(&srv.url()).await;
    olga.connect(&ops, "0,0").await;
    olga.subscribe("/topic/ops/deploys", "d", "auto").await;
    let mut eve = srv.client("eve").await;
    eve.send(
        Frame::new(Command::Subscribe)
            .with_header("destination", "/topic/ops/deploys")
            .with_header("id", "d"),
    )
    .await;
    assert_eq!(
        eve.expect_error().await.header("message"),
        Some("forbidden: you may not subscribe to /topic/ops/deploys")
    );
    let mut eve = srv.client("eve").await;
    eve.send(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/ops/deploys")
            .with_body("rm -rf"),
    )
    .await;
    eve.expect_error().await;
    let mut deployer = srv.client("deployer").await;
    deployer.publish("/topic/ops/deploys", "v2 is out").await;
    let got: Vec<_> = olga
        .barrier()
        .await
        .iter()
        .map(|f| body(f).to_owned())
        .collect();
    assert_eq!(
        got,
        ["v2 is out"],
        "only the allowed sender's message arrived"
    );
}
