//! The bare broadcaster: the ceiling of this machine for WebSocket fan-out. No protocol on
//! top: every text message a connection sends goes to every other connection. Built from
//! the same parts as Tidings (tokio, tokio-tungstenite, a bounded queue and a writer task
//! per connection that flushes once per batch), without parsing, routing, authorization or
//! persistence. A connection whose queue is full loses that message (the load generator
//! sees it missing), as a slow consumer would.
//!
//! Two modes ([`Mode`]): the old ceiling relays each text message as it came (plain text
//! the load generator does not decode); the fair ceiling wraps it, once per message, in the
//! STOMP `MESSAGE` frame a Tidings subscriber would receive for it, and relays those same
//! bytes to every connection, whose load generator decodes them as it decodes Tidings'.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tidings_stomp::{MessageHead, MessageTail, Version};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Peers = Arc<RwLock<HashMap<u64, mpsc::Sender<Message>>>>;

const QUEUE: usize = 1024;

/// What the broadcaster sends for each text message it receives.
#[derive(Debug, Clone)]
pub enum Mode {
    /// The message as it came (the old ceiling).
    Plain,
    /// The message as the body of a STOMP 1.2 `MESSAGE` frame shaped like the one the
    /// Tidings server sends a subscriber of `destination` with subscription id
    /// `subscription` (the fair ceiling); see [`message_frame`].
    StompMessage {
        destination: String,
        subscription: String,
    },
}

/// The `MESSAGE` frame Tidings sends for a `SEND` to `destination` with `content-type:
/// text/plain` and `body`, to a subscriber with subscription id `subscription`, as its
/// `n`th delivery, encoded with the server's encoder (the stomp crate's [`MessageTail`],
/// [`MessageHead`]): the per-delivery headers (`destination`, `message-id`,
/// `subscription`), then the message's own (`content-type`, then the `content-length` the
/// server sets), a blank line, the body and the NUL.
///
/// Tidings' message ids are `<session>-<n>`, sessions numbered from 1 in the order they
/// connect; a subscriber's `n` counts its deliveries from 1. The frame is built once and
/// shared by every receiver, so `session` is one number for all: the caller passes the
/// number of receivers, the largest session id a subscriber has on a fresh server, so that
/// no Tidings subscriber gets a longer frame than the ceiling sends.
pub fn message_frame(
    destination: &str,
    subscription: &str,
    session: usize,
    n: u64,
    body: &[u8],
) -> Bytes {
    let tail = MessageTail::encode(
        &[
            ("content-type".into(), "text/plain".into()),
            ("content-length".into(), body.len().to_string()),
        ],
        body,
        Version::V1_2,
    );
    let id = format!("{session}-{n}");
    MessageHead {
        destination,
        message_id: &id,
        subscription,
        ack: None,
        redelivered: false,
    }
    .encode(&tail)
}

pub async fn serve(listener: TcpListener, mode: Mode) -> anyhow::Result<()> {
    let peers: Peers = Arc::default();
    let ids = AtomicU64::new(0);
    let mode = Arc::new(mode);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let peers = peers.clone();
        let mode = mode.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(id, stream, &peers, &mode).await {
                eprintln!("connection {id}: {e}");
            }
            if let Ok(mut p) = peers.write() {
                p.remove(&id);
            }
        });
    }
}

async fn connection(
    id: u64,
    stream: tokio::net::TcpStream,
    peers: &Peers,
    mode: &Mode,
) -> anyhow::Result<()> {
    // The same read buffer as the Tidings server (tungstenite's default is 128 KiB).
    let config =
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    tx.send(Message::text("ready")).await?;
    if let Ok(mut p) = peers.write() {
        p.insert(id, tx);
    }
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.feed(m).await.is_err() {
                return;
            }
            while let Ok(m) = rx.try_recv() {
                if sink.feed(m).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    // The messages this connection has sent (the `n` of the fair ceiling's message ids).
    let mut sent = 0u64;
    while let Some(msg) = source.next().await {
        match msg? {
            Message::Text(text) => {
                // try_send never waits, so the read lock is held only for the loop.
                if let Ok(p) = peers.read() {
                    let m = match mode {
                        Mode::Plain => Message::Text(text),
                        Mode::StompMessage {
                            destination,
                            subscription,
                        } => {
                            // Encoded and checked as UTF-8 once; every receiver shares it.
                            sent += 1;
                            let frame = message_frame(
                                destination,
                                subscription,
                                p.len().saturating_sub(1),
                                sent,
                                text.as_bytes(),
                            );
                            Message::Text(Utf8Bytes::try_from(frame)?)
                        }
                    };
                    for (_, t) in p.iter().filter(|(k, _)| **k != id) {
                        let _ = t.try_send(m.clone());
                    }
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    writer.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_server::hub::Published;

    /// The fair ceiling's frame is what the server's own code builds for the same `SEND`
    /// (its `Published` message, the content-length it sets, the tail it shares).
    #[test]
    fn message_frame_is_the_servers() {
        let body = b"3,123456789,xxxxxxxx";
        let published = Published::new(
            "/topic/bench.fanout".into(),
            vec![("content-type".into(), "text/plain".into())],
            Bytes::from_static(body),
        );
        let servers = MessageHead {
            destination: "/topic/bench.fanout",
            message_id: "42-7",
            subscription: "fanout",
            ack: None,
            redelivered: false,
        }
        .encode(published.tail(Version::V1_2));
        let ours = message_frame("/topic/bench.fanout", "fanout", 42, 7, body);
        assert_eq!(ours, servers);
        assert!(ours.starts_with(b"MESSAGE\ndestination:/topic/bench.fanout\nmessage-id:42-7\n"));
    }
}
