//! The frame model: commands, versions, header order and `with_body`.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use tidings_stomp::{Command, Frame, Version};

#[test]
fn every_command_parses_from_its_own_name_only() {
    for command in Command::ALL {
        assert_eq!(Command::parse(command.as_str().as_bytes()), Some(command));
        assert_eq!(command.to_string(), command.as_str());
        let lower = command.as_str().to_ascii_lowercase();
        assert_eq!(Command::parse(lower.as_bytes()), None, "{lower}");
    }
    assert_eq!(Command::parse(b""), None);
    assert_eq!(Command::parse(b"SEND "), None);
}

#[test]
fn all_holds_the_fifteen_commands_of_stomp_1_2_once_each() {
    let names: Vec<&str> = Command::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "CONNECT",
            "STOMP",
            "SEND",
            "SUBSCRIBE",
            "UNSUBSCRIBE",
            "ACK",
            "NACK",
            "BEGIN",
            "COMMIT",
            "ABORT",
            "DISCONNECT",
            "CONNECTED",
            "MESSAGE",
            "RECEIPT",
            "ERROR"
        ]
    );
}

#[test]
fn only_send_message_and_error_allow_a_body() {
    let with_body: Vec<Command> = Command::ALL
        .into_iter()
        .filter(|c| c.allows_body())
        .collect();
    assert_eq!(with_body, [Command::Send, Command::Message, Command::Error]);
}

#[test]
fn only_connect_stomp_and_connected_skip_escaping() {
    let unescaped: Vec<Command> = Command::ALL
        .into_iter()
        .filter(|c| !c.escapes_headers())
        .collect();
    assert_eq!(
        unescaped,
        [Command::Connect, Command::Stomp, Command::Connected]
    );
}

#[test]
fn versions_parse_print_and_order() {
    for (version, text, subprotocol) in [
        (Version::V1_0, "1.0", "v10.stomp"),
        (Version::V1_1, "1.1", "v11.stomp"),
        (Version::V1_2, "1.2", "v12.stomp"),
    ] {
        assert_eq!(Version::parse(text), Some(version));
        assert_eq!(version.as_str(), text);
        assert_eq!(version.to_string(), text);
        assert_eq!(version.subprotocol(), subprotocol);
    }
    assert_eq!(Version::parse(" 1.1 "), Some(Version::V1_1));
    assert_eq!(Version::parse("1.3"), None);
    assert!(Version::V1_0 < Version::V1_1 && Version::V1_1 < Version::V1_2);
}

#[test]
fn the_first_of_repeated_headers_wins() {
    let mut frame = Frame::new(Command::Message)
        .with_header("foo", "1")
        .with_header("bar", "x");
    frame.push_header("foo", "2");
    assert_eq!(frame.header("foo"), Some("1"));
    assert_eq!(frame.header("baz"), None);
    assert_eq!(
        frame.headers,
        [("foo", "1"), ("bar", "x"), ("foo", "2")].map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[test]
fn with_body_replaces_every_earlier_content_length() {
    let frame = Frame::new(Command::Send)
        .with_header("content-length", "99")
        .with_header("destination", "/a")
        .with_header("content-length", "98")
        .with_body(&b"abc"[..]);
    assert_eq!(
        frame.headers,
        [("destination", "/a"), ("content-length", "3")].map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert_eq!(&frame.body[..], b"abc");
}
