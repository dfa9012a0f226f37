//! Socket.IO: an event a client emits the moment it is connected is answered, however late
//! the server's connect handler runs. socketioxide sends the namespace's CONNECT packet and
//! then runs the connect handler as a task of its own; a handler that registered the event
//! listener itself lost events that arrived before that task ran (a CI run of
//! `socketio_cluster` lost a `conversation:join` this way). Here the application's
//! `on_connect`, which the connect handler awaits, is held at a gate, so the event surely
//! arrives first.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tidings_server::auth::Principal;
use tidings_server::hub::SessionId;
use tidings_server::{AppError, AppSend, Application};
use tidings_testkit::*;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// No `/app/**` destinations; `on_connect` waits for the test to open the gate, and tells
/// the test that it has started.
struct Gate {
    started: Arc<Notify>,
    open: Arc<Semaphore>,
}

#[async_trait]
impl Application for Gate {
    async fn on_send(&self, send: AppSend) -> Result<(), AppError> {
        Err(AppError::UnknownDestination(send.destination))
    }

    async fn on_connect(&self, _who: &Principal, _session: SessionId) {
        self.started.notify_one();
        let _ = self.open.acquire().await.unwrap();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text packet that is not a PING (PINGs are answered), or `None` if none comes
/// before `deadline`.
async fn packet(ws: &mut Ws, deadline: Instant) -> Option<String> {
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next()).await.ok()?;
        let Message::Text(t) = m.expect("the socket is open").unwrap() else {
            continue;
        };
        if t.as_str() == "2" {
            ws.send(Message::text("3")).await.unwrap();
            continue;
        }
        return Some(t.as_str().to_owned());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_emitted_at_once_after_connect_is_answered() {
    let started = Arc::new(Notify::new());
    let open = Arc::new(Semaphore::new(0));
    let (s, o) = (started.clone(), open.clone());
    let srv = Server::with_app(
        |_| {},
        move |_| {
            Arc::new(Gate {
                started: s,
                open: o,
            })
        },
    )
    .await;
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", srv.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // One deadline for the whole exchange (PINGs must not extend it).
    let long = Instant::now() + Duration::from_secs(30);
    let open_packet = packet(&mut ws, long).await.unwrap();
    assert!(
        open_packet.starts_with("0{"),
        "Engine.IO open: {open_packet}"
    );
    let auth = json!({ "token": srv.token("alice") });
    ws.send(Message::text(format!("40{auth}"))).await.unwrap();
    let connect = packet(&mut ws, long).await.unwrap();
    assert!(connect.starts_with("40{"), "Socket.IO connect: {connect}");
    // The connect handler is running and held: it has not got as far as its own set-up.
    tokio::time::timeout_at(long, started.notified())
        .await
        .expect("the connect handler started");
    let event = json!(["conversation:join", "no-such-conversation"]);
    ws.send(Message::text(format!("421{event}"))).await.unwrap();
    // A barrier: the connection's packets are read in order, and a CONNECT to a namespace
    // that does not exist is refused at once by the same reader. Its refusal means that
    // the event above has been taken in (or dropped) while the handler is still held.
    ws.send(Message::text("40/nowhere,")).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let p = packet(&mut ws, long)
            .await
            .unwrap_or_else(|| panic!("no refusal of /nowhere within 30 s; saw {seen:?}"));
        if p.starts_with("44/nowhere,") {
            break;
        }
        seen.push(p);
    }
    // The handler may go on now; the event must not have been dropped meanwhile.
    open.add_permits(1);
    let ack = loop {
        let p = packet(&mut ws, long)
            .await
            .unwrap_or_else(|| panic!("no answer to the event within 30 s; saw {seen:?}"));
        if let Some(body) = p.strip_prefix("431") {
            break serde_json::from_str::<Value>(body).unwrap();
        }
        seen.push(p);
    };
    assert_eq!(ack[0]["ok"], false, "{ack}");
    assert_eq!(ack[0]["event"], "conversation:join", "{ack}");
}
