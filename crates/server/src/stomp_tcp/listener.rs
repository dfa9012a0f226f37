//! The STOMP-over-TCP listener: binding, TLS, the connection caps, and handing each
//! admitted connection to a session.
//!
//! Caps. A connection counts against `stomp_tcp.max_connections` and
//! `stomp_tcp.max_connections_per_address` from accept until it closes (the HTTP
//! listener's caps are its own: a relay opens one connection per user from one address).
//! One past a cap gets an `ERROR` frame naming the limit, then the connection closes;
//! while `accept::REFUSAL_SLOTS` refusals are under way, further ones are closed unanswered.
//!
//! Timeouts. The TLS handshake and then the `CONNECT` frame must each come within
//! `limits.connect_timeout_ms`; after that the session's heart-beats apply.

use super::system::SystemLogin;
use crate::accept::{self, Admission, Permit, Refusal};
use crate::hub::error_frame;
use crate::session::{self, Inbound, Upgrade};
use crate::ServerState;
use anyhow::Context;
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tidings_stomp::Version;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::{BytesCodec, FramedWrite};
use tokio_util::io::ReaderStream;

/// Bytes read from the socket at once; a frame larger than this arrives over several
/// reads (the decoder keeps what it has, within `limits.max_frame_bytes`).
const READ_BUFFER: usize = 4096;

/// What a refused connection may still send (its `CONNECT`) before it is closed: read and
/// dropped so that the close does not reset the connection before the `ERROR` is read.
const REFUSAL_DRAIN: u64 = 64 * 1024;

/// The bound listener, with its TLS settings.
pub struct StompListener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for StompListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StompListener")
            .field("addr", &self.tcp.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl StompListener {
    /// Binds `stomp_tcp.listen` with its TLS certificate loaded; `None` when the listener
    /// is off. Fails with a sentence naming the address or the file.
    pub async fn bind(config: &crate::Config) -> anyhow::Result<Option<StompListener>> {
        let c = &config.stomp_tcp;
        let Some(addr) = c.listen else {
            return Ok(None);
        };
        let tls = match (&c.tls_cert, &c.tls_key) {
            (Some(cert), Some(key)) => Some(acceptor(cert, key)?),
            _ => None,
        };
        let tcp = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for STOMP over TCP on {addr}"))?;
        Ok(Some(StompListener { tcp, tls }))
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Whether connections speak TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// The TLS acceptor for a PEM certificate chain and key (ring, TLS 1.2 and 1.3).
fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the certificate stomp_tcp.tls_cert {}: {e}",
                cert.display()
            )
        })?;
    anyhow::ensure!(
        !chain.is_empty(),
        "stomp_tcp.tls_cert {} holds no PEM certificate",
        cert.display()
    );
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the private key stomp_tcp.tls_key {}: {e}",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .with_context(|| {
            format!(
                "stomp_tcp.tls_key {} does not fit stomp_tcp.tls_cert {}",
                key.display(),
                cert.display()
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts until `state.shutdown` fires; every connection task is on `state.tracker`.
pub(crate) async fn run(listener: StompListener, state: ServerState) {
    let c = &state.config.stomp_tcp;
    let admission = Admission::new(c.per_address_limit(), c.max_connections);
    let system = match (&c.system_login, &c.system_passcode) {
        (Some(login), Some(passcode)) => Some(Arc::new(SystemLogin::new(login, passcode))),
        _ => None,
    };
    let timeout = state.config.limits.connect_timeout();
    let tls = listener.tls.clone();
    let serve_state = state.clone();
    accept::serve(
        &listener.tcp,
        &state,
        admission,
        |tcp, remote, permit| {
            serve_one(
                tcp,
                remote,
                permit,
                listener.tls.clone(),
                system.clone(),
                serve_state.clone(),
            )
        },
        move |tcp, refusal| {
            let tls = tls.clone();
            async move { refuse(tcp, tls, &refusal, timeout).await }
        },
    )
    .await
}

/// One admitted connection, counted until it ends.
async fn serve_one(
    tcp: TcpStream,
    remote: SocketAddr,
    _permit: Permit,
    tls: Option<TlsAcceptor>,
    system: Option<Arc<SystemLogin>>,
    state: ServerState,
) {
    let upgrade = Upgrade {
        token: None,
        remote: Some(remote),
        system,
    };
    let Some(acceptor) = tls else {
        return serve_stream(tcp, state, upgrade).await;
    };
    let timeout = state.config.limits.connect_timeout();
    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => serve_stream(stream, state, upgrade).await,
        Ok(Err(e)) => {
            state.metrics.error("tls_handshake");
            tracing::debug!(remote = %remote, error = %e, "TLS handshake failed");
        }
        Err(_) => {
            state.metrics.error("tls_handshake");
            tracing::debug!(remote = %remote, "TLS handshake timed out");
        }
    }
}

/// A STOMP session over a byte stream. Not an `async fn`: the stream, split in two here,
/// is not also kept in the connection's future for its whole life (see `session::run`).
fn serve_stream<S>(
    io: S,
    state: ServerState,
    upgrade: Upgrade,
) -> impl std::future::Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, write) = tokio::io::split(io);
    let stream = ReaderStream::with_capacity(read, READ_BUFFER).map(|r| match r {
        Ok(bytes) => Inbound::Bytes(bytes),
        // A reset: the peer is gone.
        Err(_) => Inbound::Closed,
    });
    let sink = FramedWrite::new(write, BytesCodec::new());
    session::run(stream, sink, state, upgrade)
}

/// Tells a connection past a cap why, in an `ERROR` frame, and closes it, all within
/// `timeout`.
async fn refuse(tcp: TcpStream, tls: Option<TlsAcceptor>, refusal: &Refusal, timeout: Duration) {
    let message = format!("{refusal} (STOMP over TCP)");
    let frame = error_frame(Version::V1_2, &message, "", None, &[]);
    let answer = async {
        match tls {
            None => answer_and_close(tcp, &frame).await,
            Some(acceptor) => answer_and_close(acceptor.accept(tcp).await?, &frame).await,
        }
    };
    let _ = tokio::time::timeout(timeout, answer).await;
}

async fn answer_and_close<S>(mut io: S, frame: &[u8]) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(frame).await?;
    io.shutdown().await?;
    let mut sink = tokio::io::sink();
    tokio::io::copy(&mut (&mut io).take(REFUSAL_DRAIN), &mut sink).await?;
    Ok(())
}
