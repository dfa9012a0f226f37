//! The `MESSAGE` encoder: a head in front of a shared tail is the frame `encode` writes, it
//! decodes back to the same frame in every version, and headers are escaped per version.
#![allow(clippy::unwrap_used)]

use tidings_stomp::{
    encode_to_bytes, Command, Decoder, Frame, Item, Limits, MessageHead, MessageTail, Version,
};

const VERSIONS: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

/// Headers with the characters `version` can carry: STOMP 1.0 has no escapes, so no EOL.
fn headers(version: Version) -> Vec<(String, String)> {
    let note = match version {
        Version::V1_0 => "a:b\\c",
        _ => "a:b\\c\nd",
    };
    vec![
        ("content-type".into(), "application/json".into()),
        ("x-note".into(), note.into()),
        ("content-length".into(), "7".into()),
    ]
}

fn head(ack: Option<&'static str>, redelivered: bool) -> MessageHead<'static> {
    MessageHead {
        destination: "/user/queue/x:y",
        message_id: "3-17",
        subscription: "sub:1",
        ack,
        redelivered,
    }
}

/// The same message as one `Frame`, head headers first.
fn whole(head: &MessageHead<'_>, version: Version) -> Frame {
    let mut f = Frame::new(Command::Message)
        .with_header("destination", head.destination)
        .with_header("message-id", head.message_id)
        .with_header("subscription", head.subscription);
    if let Some(a) = head.ack {
        f.push_header("ack", a);
    }
    if head.redelivered {
        f.push_header("redelivered", "true");
    }
    f.headers.extend(headers(version));
    f.body = "{\"a\":1}".into();
    f
}

fn decode(bytes: &[u8], version: Version) -> Frame {
    let mut d = Decoder::new(Limits::default());
    d.set_version(version);
    d.extend(bytes);
    match d.decode() {
        Ok(Some(Item::Frame(f))) => {
            assert_eq!(d.buffered(), 0, "one frame, nothing left over");
            f
        }
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[test]
fn head_and_tail_are_the_bytes_encode_writes_for_the_whole_frame() {
    for version in VERSIONS {
        let tail = MessageTail::encode(&headers(version), b"{\"a\":1}", version);
        assert_eq!(tail.version(), version);
        for (ack, redelivered) in [(None, false), (Some("3-17"), false), (Some("3-17"), true)] {
            let h = head(ack, redelivered);
            assert_eq!(
                h.encode(&tail),
                encode_to_bytes(&whole(&h, version), version),
                "{version} ack={ack:?} redelivered={redelivered}"
            );
        }
    }
}

#[test]
fn a_message_round_trips_through_the_decoder_in_every_version() {
    for version in VERSIONS {
        let tail = MessageTail::encode(&headers(version), b"{\"a\":1}", version);
        let h = head(Some("3-17"), true);
        let frame = decode(&h.encode(&tail), version);
        assert_eq!(frame, whole(&h, version), "{version}");
        assert_eq!(frame.header("subscription"), Some("sub:1"));
        assert_eq!(frame.header("x-note"), Some(&*headers(version)[1].1));
    }
}

#[test]
fn headers_are_escaped_as_each_version_says() {
    let tail = |v| MessageTail::encode(&[("k".into(), "a:b\r".into())], b"", v);
    let bytes = |v| head(None, false).encode(&tail(v));
    assert_eq!(
        &bytes(Version::V1_2)[..],
        b"MESSAGE\ndestination:/user/queue/x\\cy\nmessage-id:3-17\nsubscription:sub\\c1\nk:a\\cb\\r\n\n\0"
    );
    assert_eq!(
        &bytes(Version::V1_1)[..],
        b"MESSAGE\ndestination:/user/queue/x\\cy\nmessage-id:3-17\nsubscription:sub\\c1\nk:a\\cb\r\n\n\0"
    );
    assert_eq!(
        &bytes(Version::V1_0)[..],
        b"MESSAGE\ndestination:/user/queue/x:y\nmessage-id:3-17\nsubscription:sub:1\nk:a:b\r\n\n\0"
    );
}

#[test]
fn one_tail_serves_many_heads() {
    let tail = MessageTail::encode(&headers(Version::V1_2), b"{\"a\":1}", Version::V1_2);
    for sub in ["s-1", "s-2", "s-3"] {
        let h = MessageHead {
            subscription: sub,
            ..head(None, false)
        };
        let frame = decode(&h.encode(&tail), Version::V1_2);
        assert_eq!(frame.header("subscription"), Some(sub));
        assert_eq!(&frame.body[..], b"{\"a\":1}");
        assert!(h.encode(&tail).ends_with(tail.as_bytes()));
    }
}
