//! The Socket.IO endpoint on a cluster: two real `tidings-server` nodes on one PostgreSQL
//! and one Redis bus (testkit `Cluster`). A Socket.IO client on node 1 and a STOMP client
//! on node 2 talk in one conversation, both ways, with one `seq`; typing crosses the bus to
//! a joined room; a non-member's join is refused on either node. (The seeds' usage through
//! the real socket.io-client is `tests/interop/socketio_interop.mjs`.)
#![allow(clippy::unwrap_used)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tidings_stomp::Command;
use tidings_testkit::*;
use tokio_tungstenite::tungstenite::Message;

/// A Socket.IO v4 client just big enough for the test: Engine.IO over WebSocket, text
/// packets, pings answered, events and acks.
struct Sio {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_ack: u64,
    /// Events read while waiting for something else.
    seen: Vec<(String, Value)>,
}

impl Sio {
    async fn connect(http: &str, token: &str) -> Sio {
        let url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            http.replacen("http://", "ws://", 1)
        );
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut s = Sio {
            ws,
            next_ack: 1,
            seen: Vec::new(),
        };
        let open = s.packet().await;
        assert!(open.starts_with("0{"), "Engine.IO open: {open}");
        s.send(&format!("40{}", json!({ "token": token }))).await;
        let ok = s.packet().await;
        assert!(ok.starts_with("40{"), "Socket.IO connect: {ok}");
        s
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next packet that is not a PING (PINGs are answered).
    async fn packet(&mut self) -> String {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a packet within 10 s")
                .expect("the socket is open")
                .unwrap();
            let Message::Text(t) = m else { continue };
            if t.as_str() == "2" {
                self.send("3").await;
                continue;
            }
            return t.as_str().to_owned();
        }
    }

    /// The next event called `name` (earlier ones of other names are kept).
    async fn event(&mut self, name: &str) -> Value {
        if let Some(i) = self.seen.iter().position(|(n, _)| n == name) {
            return self.seen.remove(i).1;
        }
        loop {
            let p = self.packet().await;
            let Some(body) = p.strip_prefix("42") else {
                continue;
            };
            let v: Value = serde_json::from_str(body).unwrap();
            let (n, data) = (v[0].as_str().unwrap().to_owned(), v[1].clone());
            if n == name {
                return data;
            }
            self.seen.push((n, data));
        }
    }

    /// Emits with an ack and returns the ack's answer.
    async fn call(&mut self, name: &str, data: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send(&format!("42{id}{}", json!([name, data]))).await;
        let prefix = format!("43{id}");
        loop {
            let p = self.packet().await;
            if let Some(body) = p.strip_prefix(&prefix) {
                let v: Value = serde_json::from_str(body).unwrap();
                return v[0].clone();
            }
            if let Some(body) = p.strip_prefix("42") {
                let v: Value = serde_json::from_str(body).unwrap();
                self.seen
                    .push((v[0].as_str().unwrap().to_owned(), v[1].clone()));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_and_stomp_share_one_chat_across_nodes() {
    let store = Postgres::shared().create_database();
    let cluster = Cluster::start(2, &store).await;
    let node: Vec<Api> = (0..2).map(|i| Api::new(&cluster.node_http(i))).collect();
    let alice = node[0].register("alice").await;
    let bob = node[1].register("bob").await;
    let mallory = node[1].register("mallory").await;
    let cid = node[0].group(&alice, &[&bob]).await;

    // bob on node 2 over STOMP; alice on node 1 over Socket.IO.
    let mut b = Client::open(&cluster.node_url(1)).await;
    assert_eq!(
        b.connect(&bob.token, "0,0").await.command,
        Command::Connected
    );
    b.subscribe("/user/queue/messages", "mine", "auto").await;
    let topic = format!("/topic/conversations/{cid}");
    b.subscribe(&topic, "conv", "auto").await;
    let mut a = Sio::connect(&cluster.node_http(0), &alice.token).await;
    let est = a.event("connection:established").await;
    assert_eq!(est["userId"], alice.name.as_str());
    let joined = a.call("conversation:join", json!(cid)).await;
    assert_eq!(joined["ok"], true, "{joined}");

    // Socket.IO on node 1 -> STOMP on node 2, the same message and seq.
    let ack = a
        .call(
            "message:send",
            json!({"conversationId": cid, "content": "from Socket.IO", "clientId": "sio-1"}),
        )
        .await;
    assert_eq!(
        (ack["ok"].clone(), ack["message"]["seq"].clone()),
        (json!(true), json!(1))
    );
    let m = b.next_event("mine", "CHAT_MESSAGE").await;
    assert_eq!(m["payload"]["clientId"], "sio-1");
    assert_eq!(m["payload"]["seq"], 1);
    assert_eq!(m["payload"]["id"], ack["message"]["id"]);
    // A repeat of the clientId stores nothing new, whichever door it comes through.
    let again = node[1].send(&alice, &cid, "sio-1", "from Socket.IO").await;
    assert_eq!(again["seq"], 1, "{again}");

    // STOMP on node 2 -> Socket.IO on node 1 (user room and conversation room).
    b.send_json(
        &format!("/app/conversations/{cid}/send"),
        json!({"clientId": "stomp-1", "content": "from STOMP"}),
    )
    .await;
    let got = a.event("message:received").await;
    assert_eq!(
        (got["clientId"].clone(), got["seq"].clone()),
        (json!("stomp-1"), json!(2))
    );
    let room = a.event("message:new").await;
    assert_eq!(
        room["message"]["clientId"], "sio-1",
        "the room had alice's own first"
    );
    let room = a.event("message:new").await;
    assert_eq!(room["seq"], 2);

    // Typing on node 2 reaches the joined room on node 1.
    b.send_json(
        &format!("/app/conversations/{cid}/typing"),
        json!({"typing": true}),
    )
    .await;
    let typing = a.event("typing:start").await;
    assert_eq!(typing["userId"], bob.name.as_str());

    // A non-member is refused on either node.
    for i in 0..2 {
        let mut m = Sio::connect(&cluster.node_http(i), &mallory.token).await;
        let refused = m.call("conversation:join", json!(cid)).await;
        assert_eq!(
            (refused["ok"].clone(), refused["code"].clone()),
            (json!(false), json!("forbidden"))
        );
        let error = m.event("message:error").await;
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .contains("not a participant"),
            "{error}"
        );
    }
}
