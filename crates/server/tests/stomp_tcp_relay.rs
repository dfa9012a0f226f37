//! A Spring-style broker relay against `--stomp-listen`: one "system" session (the relay's
//! `systemLogin`/`systemPasscode`) that SENDs for the application, and one session per user
//! whose `CONNECT` carries the relay's `clientLogin`/`clientPasscode` and the user's own
//! `Authorization` header, as `StompBrokerRelayMessageHandler` forwards it; subscriptions to
//! `/topic`, to `/user` destinations and to Spring's resolved `/queue/x-user{session}`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tidings_server::Config;
use tidings_stomp::{Command, Frame};
use tidings_testkit::{body, Client, Server, TcpClient, TestUser};

const LOGIN: &str = "spring-relay";
const PASSCODE: &str = "relay-passcode-0123456789";

fn relay(c: &mut Config) {
    c.stomp_tcp.listen = Some("127.0.0.1:0".parse().unwrap());
    c.stomp_tcp.system_login = Some(LOGIN.into());
    c.stomp_tcp.system_passcode = Some(PASSCODE.into());
}

async fn system_session(server: &Server) -> TcpClient {
    let mut s = TcpClient::open(server.stomp_addr.unwrap()).await;
    let connected = s
        .connect_with(&[
            ("login", LOGIN),
            ("passcode", PASSCODE),
            ("heart-beat", "10000,10000"),
        ])
        .await;
    assert_eq!(connected.command, Command::Connected, "{connected:?}");
    assert_eq!(connected.header("user-name"), Some("/system"));
    s
}

/// A client session as the relay opens it: its clientLogin/clientPasscode, and the
/// browser's own CONNECT headers (here the token in `Authorization`).
async fn client_session(server: &Server, token: &str) -> (TcpClient, Frame) {
    let mut c = TcpClient::open(server.stomp_addr.unwrap()).await;
    let reply = c
        .connect_with(&[
            ("login", "guest"),
            ("passcode", "guest"),
            ("heart-beat", "0,0"),
            ("Authorization", &format!("Bearer {token}")),
        ])
        .await;
    (c, reply)
}

async fn user(server: &Server, name: &str) -> (TestUser, TcpClient, String) {
    let u = server.api().register(name).await;
    let (c, connected) = client_session(server, &u.token).await;
    assert_eq!(connected.command, Command::Connected, "{connected:?}");
    assert_eq!(connected.header("user-name"), Some(name));
    let session = connected.header("session").unwrap().to_owned();
    (u, c, session)
}

#[tokio::test]
async fn the_system_session_routes_user_messages_to_the_right_user_only() {
    let server = Server::chat_with(relay).await;
    let mut system = system_session(&server).await;
    let (_alice, mut alice, alice_sid) = user(&server, "alice").await;
    let (_bob, mut bob, bob_sid) = user(&server, "bob").await;
    for (c, sid) in [(&mut alice, &alice_sid), (&mut bob, &bob_sid)] {
        c.subscribe("/topic/greetings", "sub-0").await;
        c.subscribe("/user/queue/reply", "sub-1").await;
        // What Spring's UserDestinationMessageHandler makes of /user/queue/position.
        c.subscribe(&format!("/queue/position-user{sid}"), "sub-2")
            .await;
    }

    // Broadcast.
    system.publish("/topic/greetings", "hello all").await;
    for c in [&mut alice, &mut bob] {
        let m = c.next_message().await;
        assert_eq!(
            (m.header("subscription"), body(&m)),
            (Some("sub-0"), "hello all")
        );
    }

    // convertAndSendToUser as tidings resolves it: /user/{name}/queue/x.
    system.publish("/user/alice/queue/reply", "for alice").await;
    let m = alice.next_message().await;
    assert_eq!(
        (m.header("subscription"), body(&m)),
        (Some("sub-1"), "for alice")
    );
    // ... and as Spring resolves it before the relay: /queue/x-user{session}.
    system
        .publish(&format!("/queue/position-user{bob_sid}"), "for bob")
        .await;
    let m = bob.next_message().await;
    assert_eq!(
        (m.header("subscription"), body(&m)),
        (Some("sub-2"), "for bob")
    );

    // Nothing of the other's reached either (a barrier: everything queued before it).
    assert!(alice.barrier().await.is_empty());
    assert!(bob.barrier().await.is_empty());

    // A user may not listen on someone else's user destination.
    bob.send(
        Frame::new(Command::Subscribe)
            .with_header("destination", "/user/alice/queue/reply")
            .with_header("id", "steal"),
    )
    .await;
    let error = bob.expect_error().await;
    assert!(
        error.header("message").unwrap().contains("forbidden"),
        "{error:?}"
    );
}

#[tokio::test]
async fn client_sessions_are_authorized_as_websocket_sessions_with_the_same_token() {
    let server = Server::chat_with(relay).await;
    let (alice, mut tcp, _) = user(&server, "alice").await;
    let bob = server.api().register("bob").await;
    let cid = server.api().direct(&alice, "bob").await;
    // Participants only, as over WebSocket: alice may follow the conversation.
    tcp.subscribe(&format!("/topic/conversations/{cid}"), "conv")
        .await;
    // A message bob sends over WebSocket reaches alice's relay session.
    let mut ws = Client::signed_in(&server, &bob).await;
    ws.send_json(
        &format!("/app/conversations/{cid}/send"),
        serde_json::json!({"clientId": "c-1", "content": "hi over the relay"}),
    )
    .await;
    let m = tcp.next_message().await;
    assert!(body(&m).contains("hi over the relay"), "{}", body(&m));
    // carol, not a participant, is refused as she would be over WebSocket.
    let carol = server.api().register("carol").await;
    let (mut c, _) = client_session(&server, &carol.token).await;
    c.send(
        Frame::new(Command::Subscribe)
            .with_header("destination", format!("/topic/conversations/{cid}"))
            .with_header("id", "x"),
    )
    .await;
    let error = c.expect_error().await;
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("not a participant"),
        "{error:?}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused_with_a_clear_error() {
    let server = Server::chat_with(relay).await;
    let addr = server.stomp_addr.unwrap();
    // The system login with a wrong passcode.
    let mut c = TcpClient::open(addr).await;
    let error = c
        .connect_with(&[("login", LOGIN), ("passcode", "relay-passcode-012345678X")])
        .await;
    assert_eq!(error.command, Command::Error);
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("wrong passcode for the system login"),
        "{error:?}"
    );
    assert!(
        !format!("{error:?}").contains("relay-passcode"),
        "{error:?}"
    );
    assert!(c.read_frame().await.is_none());
    // A relay client session with a wrong token.
    let (mut c, error) = client_session(&server, "eyJhbGciOiJIUzI1NiJ9.e30.bad").await;
    assert_eq!(error.command, Command::Error);
    assert!(
        error.header("message").unwrap().contains("access token"),
        "{error:?}"
    );
    assert!(c.read_frame().await.is_none());
    // The relay's clientLogin/clientPasscode alone (no user token) let nobody in.
    let mut c = TcpClient::open(addr).await;
    let error = c
        .connect_with(&[("login", "guest"), ("passcode", "guest")])
        .await;
    assert_eq!(error.command, Command::Error, "{error:?}");
    // A token for a user with no account.
    let (_, error) = client_session(&server, &server.token("nobody")).await;
    assert_eq!(error.command, Command::Error, "{error:?}");
}

#[tokio::test]
async fn the_system_session_only_sends_and_not_for_users() {
    let server = Server::chat_with(relay).await;
    let mut system = system_session(&server).await;
    system
        .send(
            Frame::new(Command::Subscribe)
                .with_header("destination", "/topic/greetings")
                .with_header("id", "0"),
        )
        .await;
    let error = system.expect_error().await;
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("may not SUBSCRIBE"),
        "{error:?}"
    );
    let mut system = system_session(&server).await;
    system
        .send(
            Frame::new(Command::Send)
                .with_header("destination", "/app/conversations/x/send")
                .with_body("{}"),
        )
        .await;
    let error = system.expect_error().await;
    assert!(
        error.header("message").unwrap().contains("forbidden"),
        "{error:?}"
    );
    // Destinations only the server fills stay the server's.
    let mut system = system_session(&server).await;
    system
        .send(
            Frame::new(Command::Send)
                .with_header("destination", "/user/alice/queue/notifications")
                .with_body("{}"),
        )
        .await;
    let error = system.expect_error().await;
    assert!(
        error.header("message").unwrap().contains("forbidden"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_direct_client_may_put_its_token_in_the_passcode() {
    let server = Server::chat_with(relay).await;
    let alice = server.api().register("alice").await;
    let mut c = TcpClient::open(server.stomp_addr.unwrap()).await;
    let connected = c.connect(&alice.token, "0,0").await;
    assert_eq!(
        connected.header("user-name"),
        Some("alice"),
        "{connected:?}"
    );
}
