//! The bare broadcaster: the ceiling of this machine for WebSocket fan-out. No protocol on
//! top: every text message a connection sends goes, as it is, to every other connection.
//! Built from the same parts as Tidings (tokio, tokio-tungstenite, a bounded queue and a
//! writer task per connection that flushes once per batch), without parsing, routing,
//! authorization or persistence. A connection whose queue is full loses that message (the
//! load generator sees it missing), as a slow consumer would.

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Peers = Arc<RwLock<HashMap<u64, mpsc::Sender<Message>>>>;

const QUEUE: usize = 1024;

pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    let peers: Peers = Arc::default();
    let ids = AtomicU64::new(0);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let peers = peers.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(id, stream, &peers).await {
                eprintln!("connection {id}: {e}");
            }
            if let Ok(mut p) = peers.write() {
                p.remove(&id);
            }
        });
    }
}

async fn connection(id: u64, stream: tokio::net::TcpStream, peers: &Peers) -> anyhow::Result<()> {
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
    while let Some(msg) = source.next().await {
        match msg? {
            m @ Message::Text(_) => {
                // try_send never waits, so the read lock is held only for the loop.
                if let Ok(p) = peers.read() {
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
