//! A connection's writer: the task that owns the socket's sending half, drains the bounded
//! outbound queue in batches (one flush per batch), encodes deliveries for the negotiated
//! version, sends heart-beats and writes the last `ERROR` frame before closing.
//!
//! Every write has a deadline ([`WRITE_TIMEOUT`]); a peer that does not take its bytes in
//! time is gone, and the connection ends.

use crate::hub::outbox;
use crate::hub::{Closer, Delivery, Outbound, SessionId};
use crate::metrics::Metrics;
use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use std::sync::Arc;
use std::time::Duration;
use tidings_stomp::{MessageHead, Version};
use tokio::sync::watch;

/// How long one write may take before the peer is considered gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Frames written with one flush at most.
const BATCH: usize = 64;

/// What the writer needs to know of the session; set once it is connected.
#[derive(Debug, Clone, Copy)]
pub(super) struct WriterConfig {
    pub version: Version,
    pub session: SessionId,
    pub heart_beat: Option<Duration>,
}

/// The writer's future. Not an `async fn`, whose arguments would stay in the future beside
/// the variables they are moved into: this future lives as long as the connection
/// (docs/benchmarks.md, "Idle").
#[allow(clippy::manual_async_fn)] // on purpose: see above
pub(super) fn write_loop<W>(
    mut sink: W,
    mut rx: outbox::Receiver<Outbound>,
    control: Arc<Closer>,
    cfg: watch::Receiver<WriterConfig>,
    metrics: Arc<Metrics>,
) -> impl std::future::Future<Output = ()>
where
    W: Sink<Bytes> + Unpin,
    W::Error: std::fmt::Display,
{
    async move {
        let token = control.token().clone();
        // Made once: a fresh one per wake-up would register with the token and deregister
        // again for every batch, which fan-out does at each of its deliveries.
        let cancelled = token.cancelled();
        tokio::pin!(cancelled);
        // Grows with the first busy moment; an idle connection keeps none.
        let mut batch: Vec<Bytes> = Vec::new();
        loop {
            let c = *cfg.borrow();
            let beat = async {
                match c.heart_beat {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let bytes = tokio::select! {
                biased;
                _ = &mut cancelled => {
                    // Our own replies already queued (receipts) go out before the ERROR.
                    batch.clear();
                    while let Ok(item) = rx.try_recv() {
                        if let Outbound::Frame(b) = item {
                            batch.push(b);
                        }
                    }
                    batch.extend(control.take_fatal());
                    if write_batch(&mut sink, &mut batch, &metrics).await.is_ok() {
                        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
                    }
                    return;
                }
                item = rx.recv() => match item {
                    Some(Outbound::Frame(b)) => b,
                    Some(Outbound::Deliver(d)) => encode_delivery(&d, c.version, c.session),
                    Some(Outbound::Close) | None => {
                        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
                        return;
                    }
                },
                _ = beat => Bytes::from_static(b"\n"),
            };
            // This frame and whatever else is queued already (up to BATCH) go out with one
            // flush: a busy connection costs one write per batch, not one per frame.
            batch.clear();
            batch.push(bytes);
            let mut close = false;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(Outbound::Frame(b)) => batch.push(b),
                    Ok(Outbound::Deliver(d)) => {
                        batch.push(encode_delivery(&d, c.version, c.session))
                    }
                    Ok(Outbound::Close) => {
                        close = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if write_batch(&mut sink, &mut batch, &metrics).await.is_err() {
                control.token().cancel();
                return;
            }
            if close {
                let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
                return;
            }
        }
    }
}

/// Writes the frames in order and flushes once, within one write deadline.
async fn write_batch<W>(sink: &mut W, batch: &mut Vec<Bytes>, metrics: &Metrics) -> Result<(), ()>
where
    W: Sink<Bytes> + Unpin,
    W::Error: std::fmt::Display,
{
    let frames = batch.iter().filter(|b| b.as_ref() != b"\n").count() as u64;
    let all = async {
        for b in batch.drain(..) {
            sink.feed(b).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, all).await {
        Ok(Ok(())) => {
            tracing::trace!(frames, "written and flushed");
            metrics.frames_out.inc_by(frames);
            Ok(())
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "write failed");
            Err(())
        }
        Err(_) => {
            tracing::info!("write timed out; closing");
            Err(())
        }
    }
}

/// This delivery's own `MESSAGE` headers in front of the message's shared tail: one buffer
/// per delivery (the transport takes one payload), nothing else allocated.
fn encode_delivery(d: &Delivery, version: Version, session: SessionId) -> Bytes {
    // `{session}-{n}`: two u64s and a dash fit in 41 bytes.
    let mut buf = [0u8; 41];
    let id = message_id(&mut buf, session, d.message_id);
    MessageHead {
        destination: d.destination(),
        message_id: id,
        subscription: d.subscription(),
        ack: d.ack.then_some(id),
        redelivered: d.redelivered,
    }
    .encode(d.message.tail(version))
}

/// Writes `{session}-{n}` into `buf`, without allocating.
fn message_id(buf: &mut [u8; 41], session: SessionId, n: u64) -> &str {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // Cannot fail: 20 + 1 + 20 bytes at most.
    let _ = write!(cursor, "{session}-{n}");
    let len = cursor.position() as usize;
    std::str::from_utf8(&buf[..len]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_session_dash_number_up_to_the_largest() {
        let mut buf = [0u8; 41];
        assert_eq!(message_id(&mut buf, 7, 1), "7-1");
        let max = format!("{}-{}", u64::MAX, u64::MAX);
        assert_eq!(message_id(&mut buf, u64::MAX, u64::MAX), max);
    }
}
