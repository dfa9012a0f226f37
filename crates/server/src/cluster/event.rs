//! What nodes tell each other over the bus, and its encoding: one version byte, the length
//! of a small JSON header (big-endian `u32`), the header (origin node and event), then the
//! body bytes of a published message as they are (no re-encoding of message bodies).

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tidings_proto::Notification;

const VERSION: u8 = 1;
/// A header larger than this is refused (a notification is the largest, well under it).
const MAX_HEADER: usize = 1 << 20;

/// One event from one node to the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Event {
    /// A message published on the origin node (the body travels after the header).
    Publish {
        d: String,
        h: Vec<(String, String)>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        drop: bool,
    },
    /// [`crate::Broker::drop_subscriptions`] on the origin node.
    Unsubscribe { user: String, d: String },
    /// A notification for the user's SSE streams.
    Notification { n: Box<Notification> },
    /// A signed-out sign-in session: refuse its tokens until `until`.
    Revoke { sid: String, until: u64 },
    /// A user's first session on the origin node opened (`on`) or the last closed.
    Presence { user: String, on: bool, seq: u64 },
    /// The origin node is alive; `seq` is its latest presence change.
    Heartbeat { seq: u64 },
    /// The origin node just (re)joined: everyone answers with [`Event::State`].
    Hello,
    /// Asks node `to` for its [`Event::State`] (the asker missed a presence change).
    Sync { to: String },
    /// The users with a session on the origin node, as of its presence change `seq`.
    State { seq: u64, users: Vec<String> },
    /// The origin node is stopping: its users are gone from it now.
    Bye,
}

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    node: std::borrow::Cow<'a, str>,
    #[serde(flatten)]
    event: Event,
}

/// Why a bus message could not be read (from another version, or not ours).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown bus message version {0}")]
    Version(u8),
    #[error("truncated bus message")]
    Truncated,
    #[error("invalid bus message header: {0}")]
    Header(#[from] serde_json::Error),
}

pub fn encode(node: &str, event: &Event, body: &[u8]) -> Bytes {
    let header = serde_json::to_vec(&Header {
        node: node.into(),
        event: event.clone(),
    })
    .unwrap_or_default();
    let mut out = BytesMut::with_capacity(5 + header.len() + body.len());
    out.put_u8(VERSION);
    out.put_u32(header.len() as u32);
    out.put_slice(&header);
    out.put_slice(body);
    out.freeze()
}

/// The origin node, the event and the body.
pub fn decode(bytes: &[u8]) -> Result<(String, Event, Bytes), DecodeError> {
    let (&version, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let len_bytes: [u8; 4] = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(DecodeError::Truncated)?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > MAX_HEADER {
        return Err(DecodeError::Truncated);
    }
    let header = rest.get(4..4 + len).ok_or(DecodeError::Truncated)?;
    let header: Header<'_> = serde_json::from_slice(header)?;
    let body = Bytes::copy_from_slice(&rest[4 + len..]);
    Ok((header.node.into_owned(), header.event, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_their_origin_and_body() {
        let events = [
            Event::Publish {
                d: "/topic/x".into(),
                h: vec![("content-type".into(), "application/json".into())],
                drop: true,
            },
            Event::Unsubscribe {
                user: "bob".into(),
                d: "/topic/conversations/c1".into(),
            },
            Event::Revoke {
                sid: "fam".into(),
                until: 9,
            },
            Event::Presence {
                user: "alice".into(),
                on: true,
                seq: 3,
            },
            Event::Heartbeat { seq: 4 },
            Event::Hello,
            Event::Sync { to: "n2".into() },
            Event::State {
                seq: 5,
                users: vec!["alice".into()],
            },
            Event::Bye,
        ];
        for e in events {
            let wire = encode("n1", &e, b"{\"a\":1}\0\xff");
            let (node, back, body) = decode(&wire).unwrap();
            assert_eq!((node.as_str(), &back), ("n1", &e));
            assert_eq!(&body[..], b"{\"a\":1}\0\xff");
        }
    }

    #[test]
    fn garbage_is_refused_not_misread() {
        assert!(matches!(decode(b""), Err(DecodeError::Truncated)));
        assert!(matches!(decode(b"\x02abc"), Err(DecodeError::Version(2))));
        assert!(matches!(
            decode(b"\x01\0\0\0\x09{}"),
            Err(DecodeError::Truncated)
        ));
        assert!(matches!(
            decode(b"\x01\0\0\0\x02{}"),
            Err(DecodeError::Header(_))
        ));
    }
}
