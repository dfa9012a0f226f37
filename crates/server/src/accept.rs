//! Accepting TCP connections: the caps on open connections (per client address and in all),
//! HTTP/1.1 with a header-read timeout, WebSocket upgrades, and the drain at shutdown.
//!
//! Timeouts. A client has `limits.header_read_timeout_ms` to send a request's headers, from
//! the moment the connection opens or the previous response ends: hyper runs that timer
//! while it waits for a request head, so it also closes idle keep-alive connections and
//! slow (slowloris) requests, WebSocket handshakes included. Once upgraded, a WebSocket has
//! the STOMP `CONNECT` deadline and heart-beats (see `session`).
//!
//! Caps. A connection counts against `limits.max_connections_per_address` (its client's IP
//! address) and `limits.max_connections` from accept until its socket closes, WebSocket
//! sessions included. One past a cap is answered `503` with a JSON error naming the limit,
//! then closed; while [`REFUSAL_SLOTS`] such answers are under way, further ones are closed
//! at once without a word. The global cap stays below the open-files limit, so the server
//! never runs out of descriptors: it can still open its database, and `/healthz` answers
//! as soon as a client is admitted.

use crate::{ApiError, ServerState};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Excess connections being answered `503` at once; past this they are closed unanswered.
pub const REFUSAL_SLOTS: usize = 64;

/// Accepts until `state.shutdown` fires. Every connection task is on `state.tracker`; on
/// shutdown each HTTP connection finishes its request in flight and closes.
pub(crate) async fn run(listener: TcpListener, state: ServerState, router: Router) {
    let limits = &state.config.limits;
    let admission = Admission::new(
        limits.max_connections_per_address,
        limits.connection_limit(),
    );
    let timeout = limits.header_read_timeout();
    let serve_state = state.clone();
    serve(
        &listener,
        &state,
        admission,
        move |tcp, remote, permit| {
            let io = Admitted {
                tcp,
                _permit: permit,
            };
            serve_one(io, remote, router.clone(), timeout, serve_state.clone())
        },
        move |tcp, refusal| async move { refuse(tcp, &refusal, timeout).await },
    )
    .await
}

/// The accept loop every TCP listener shares: accepts until `state.shutdown` fires, counts
/// each connection against `admission`, and spawns `admitted` for it on `state.tracker`, or
/// `refused` for one past a cap while fewer than [`REFUSAL_SLOTS`] refusals are under way
/// (further ones are closed unanswered). Connection errors of one client are skipped; other
/// accept errors (out of descriptors or memory) pause the loop a little rather than spin.
pub(crate) async fn serve<A, FA, R, FR>(
    listener: &TcpListener,
    state: &ServerState,
    admission: Admission,
    mut admitted: A,
    refused: R,
) where
    A: FnMut(TcpStream, SocketAddr, Permit) -> FA,
    FA: std::future::Future<Output = ()> + Send + 'static,
    R: Fn(TcpStream, Refusal) -> FR,
    FR: std::future::Future<Output = ()> + Send + 'static,
{
    let admission = Arc::new(admission);
    let refusals = Arc::new(Semaphore::new(REFUSAL_SLOTS));
    let shutdown = state.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        let (tcp, remote) = match accepted {
            Ok(a) => a,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        // Small frames (receipts, deliveries) go out at once: without TCP_NODELAY, Nagle's
        // algorithm holds one back until the peer's delayed ACK, about 40 ms on Linux.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        match admission.admit(remote.ip()) {
            Ok(permit) => {
                state.tracker.spawn(admitted(tcp, remote, permit));
            }
            Err(refusal) => {
                state.metrics.error(refusal.kind());
                tracing::debug!(remote = %remote, reason = %refusal, "connection refused");
                if let Ok(slot) = refusals.clone().try_acquire_owned() {
                    let answer = refused(tcp, refusal);
                    state.tracker.spawn(async move {
                        answer.await;
                        drop(slot);
                    });
                }
            }
        }
    }
}

/// Serves one admitted connection until it closes (or, once upgraded, hands it over).
async fn serve_one(
    io: Admitted,
    remote: SocketAddr,
    router: Router,
    timeout: Duration,
    state: ServerState,
) {
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        router.clone().oneshot(req)
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = state.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Timeouts, resets and malformed requests: the client's doing, not an error here.
        if e.is_timeout() {
            state.metrics.error("header_timeout");
        }
        tracing::debug!(remote = %remote, error = %e, "HTTP connection ended");
    }
}

/// Answers whatever request comes with `503` naming the limit, then closes.
async fn refuse(tcp: TcpStream, refusal: &Refusal, timeout: Duration) {
    let message = refusal.to_string();
    let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
        let mut response = ApiError::ConnectionLimit(message.clone()).into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .keep_alive(false)
        .serve_connection(TokioIo::new(tcp), service);
    // The whole answer within one header timeout: a refusal must not hold its slot.
    let _ = tokio::time::timeout(timeout, conn).await;
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Why a connection was not admitted. The text goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the server is at its limit of {0} open connections; try again later")]
    Total(usize),
    #[error("too many connections from your address: the limit is {0}")]
    Address(usize),
}

impl Refusal {
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Total(_) => "connection_limit_total",
            Refusal::Address(_) => "connection_limit_address",
        }
    }
}

/// Open connections, in all and per client address.
#[derive(Debug)]
pub struct Admission {
    per_address: usize,
    total: usize,
    // A plain mutex: a hash update per accept and per close.
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl Admission {
    pub fn new(per_address: usize, total: usize) -> Admission {
        Admission {
            per_address,
            total,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Counts a new connection from `ip`, or says which cap it would pass.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        let ip = ip.to_canonical();
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if c.total >= self.total {
            return Err(Refusal::Total(self.total));
        }
        let n = c.by_address.entry(ip).or_default();
        if *n >= self.per_address {
            return Err(Refusal::Address(self.per_address));
        }
        *n += 1;
        c.total += 1;
        Ok(Permit {
            admission: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; counted until dropped.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self
            .admission
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        c.total -= 1;
        if let Some(n) = c.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.by_address.remove(&self.ip);
            }
        }
    }
}

/// A socket that holds its [`Permit`], so that the count follows the socket through an
/// upgrade to its end.
#[derive(Debug)]
struct Admitted {
    tcp: TcpStream,
    _permit: Permit,
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_all_and_permits_give_back() {
        let a = Arc::new(Admission::new(2, 3));
        let one: IpAddr = [127, 0, 0, 1].into();
        let two: IpAddr = [127, 0, 0, 2].into();
        let p1 = a.admit(one).unwrap();
        let p2 = a.admit(one).unwrap();
        assert_eq!(a.admit(one).unwrap_err(), Refusal::Address(2));
        let p3 = a.admit(two).unwrap();
        assert_eq!(a.admit(two).unwrap_err(), Refusal::Total(3));
        drop(p1);
        let p4 = a.admit(one).unwrap();
        // An IPv4-mapped IPv6 address is the same client.
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        drop((p2, p3));
        assert_eq!(a.admit(mapped).map(|_| ()), Ok(()));
        drop(p4);
        assert!(a.counts.lock().unwrap().by_address.is_empty());
        assert_eq!(a.counts.lock().unwrap().total, 0);
    }
}
