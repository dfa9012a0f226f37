//! Test-only handlers (`socketio.conformance = true`): what the Socket.IO project's
//! protocol conformance suite expects of a server under test. On connect to `/` or
//! `/custom`, an `auth` event echoing the handshake's payload; `message` answered with
//! `message-back`, `message-with-ack` acknowledged, each with the same arguments, binary
//! attachments included. No authentication, no chat: never on a real server.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, SerializeTuple, Serializer};
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::SocketIo;
use std::sync::Arc;

/// A JSON value that may hold binary attachments, echoed as it came.
#[derive(Debug, Clone)]
pub enum Echo {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Seq(Vec<Echo>),
    Map(Vec<(String, Echo)>),
}

impl Serialize for Echo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Echo::Null => s.serialize_unit(),
            Echo::Bool(b) => s.serialize_bool(*b),
            Echo::Int(n) => s.serialize_i64(*n),
            Echo::Uint(n) => s.serialize_u64(*n),
            Echo::Float(f) => s.serialize_f64(*f),
            Echo::Str(t) => s.serialize_str(t),
            Echo::Bytes(b) => s.serialize_bytes(b),
            Echo::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            Echo::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

struct EchoVisitor;

impl<'de> Visitor<'de> for EchoVisitor {
    type Value = Echo;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Echo, E> {
        Ok(Echo::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Echo, E> {
        Ok(Echo::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Echo, D::Error> {
        Echo::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Echo, E> {
        Ok(Echo::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Echo, E> {
        Ok(Echo::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Echo, E> {
        Ok(Echo::Uint(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Echo, E> {
        Ok(Echo::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Echo, E> {
        Ok(Echo::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Echo, E> {
        Ok(Echo::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Echo, E> {
        Ok(Echo::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Echo, E> {
        Ok(Echo::Bytes(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Echo, A::Error> {
        let mut items = Vec::new();
        while let Some(i) = seq.next_element()? {
            items.push(i);
        }
        Ok(Echo::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Echo, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Echo>()? {
            entries.push((k, v));
        }
        Ok(Echo::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Echo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Echo, D::Error> {
        d.deserialize_any(EchoVisitor)
    }
}

/// The arguments of one event, as a sequence (the suite sends several).
#[derive(Debug, Clone)]
struct Args(Vec<Echo>);

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A tuple: socketioxide sends each element as its own argument.
        let mut t = s.serialize_tuple(self.0.len())?;
        for a in &self.0 {
            t.serialize_element(a)?;
        }
        t.end()
    }
}

/// Deserialized as a tuple: socketioxide then hands over every argument, not the first.
impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Args, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Args;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the arguments of an event")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut items = Vec::new();
                while let Some(i) = seq.next_element()? {
                    items.push(i);
                }
                Ok(Args(items))
            }
        }
        d.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

/// The Engine.IO suite's server: every message and binary packet echoed back.
#[derive(Debug)]
pub struct EngineEcho;

impl engineioxide::handler::EngineIoHandler for EngineEcho {
    type Data = ();
    fn on_connect(self: Arc<Self>, _socket: Arc<engineioxide::Socket<()>>) {}
    fn on_disconnect(
        &self,
        _socket: Arc<engineioxide::Socket<()>>,
        _reason: engineioxide::DisconnectReason,
    ) {
    }
    fn on_message(self: &Arc<Self>, msg: engineioxide::Str, socket: Arc<engineioxide::Socket<()>>) {
        let _ = socket.emit(msg);
    }
    fn on_binary(self: &Arc<Self>, data: bytes::Bytes, socket: Arc<engineioxide::Socket<()>>) {
        let _ = socket.emit_binary(data);
    }
}

async fn on_connect(s: SocketRef, TryData(auth): TryData<Echo>) {
    // No payload: `{}`, as the reference server's `socket.handshake.auth`.
    let _ = s.emit("auth", &auth.unwrap_or(Echo::Map(Vec::new())));
    s.on("message", async |s: SocketRef, Data(args): Data<Args>| {
        let _ = s.emit("message-back", &args);
    });
    s.on(
        "message-with-ack",
        async |Data(args): Data<Args>, ack: AckSender| {
            let _ = ack.send(&args);
        },
    );
}

/// Mounts the suite's namespaces.
pub fn mount(io: &SocketIo) {
    io.ns("/", on_connect);
    io.ns("/custom", on_connect);
}
