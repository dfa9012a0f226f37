//! The `MESSAGE` frame, built for fan-out: one message goes to many subscriptions, and
//! only a few headers differ between its deliveries.
//!
//! A [`MessageTail`] holds what every delivery of a message shares, encoded once per
//! version: the message's own headers, the blank line, the body and the NUL. A
//! [`MessageHead`] holds what each delivery has of its own (`destination`, `message-id`,
//! `subscription`, `ack`, `redelivered`); [`MessageHead::encode`] writes the command line and
//! those headers in front of a shared tail. The result is byte for byte what [`crate::encode`]
//! writes for the whole frame with the head's headers first.

use crate::encode::{write_body, write_header};
use crate::Version;
use bytes::Bytes;

/// The shared part of a `MESSAGE` frame, encoded for one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTail {
    bytes: Bytes,
    version: Version,
}

impl MessageTail {
    /// Encodes `headers` (escaped for `version`), the blank line, `body` and the NUL.
    /// The headers are written as given: set `content-length` among them if wanted.
    pub fn encode(headers: &[(String, String)], body: &[u8], version: Version) -> MessageTail {
        let mut out = Vec::with_capacity(
            headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>()
                + body.len()
                + 2,
        );
        for (name, value) in headers {
            write_header(name, value, Some(version), &mut out);
        }
        write_body(body, &mut out);
        MessageTail {
            bytes: Bytes::from(out),
            version,
        }
    }

    /// The version this tail is escaped for.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The headers one delivery of a `MESSAGE` has of its own, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHead<'a> {
    pub destination: &'a str,
    pub message_id: &'a str,
    pub subscription: &'a str,
    /// The `ack` header, for subscriptions that acknowledge.
    pub ack: Option<&'a str>,
    /// Adds `redelivered:true`.
    pub redelivered: bool,
}

impl MessageHead<'_> {
    /// The whole frame: `MESSAGE`, this head's headers, then `tail`, escaped for the
    /// tail's version.
    pub fn encode(&self, tail: &MessageTail) -> Bytes {
        let version = Some(tail.version);
        let mut out = Vec::with_capacity(
            64 + self.destination.len()
                + 2 * self.message_id.len()
                + self.subscription.len()
                + tail.bytes.len(),
        );
        out.extend_from_slice(b"MESSAGE\n");
        write_header("destination", self.destination, version, &mut out);
        write_header("message-id", self.message_id, version, &mut out);
        write_header("subscription", self.subscription, version, &mut out);
        if let Some(ack) = self.ack {
            write_header("ack", ack, version, &mut out);
        }
        if self.redelivered {
            write_header("redelivered", "true", version, &mut out);
        }
        out.extend_from_slice(&tail.bytes);
        Bytes::from(out)
    }
}
