//! TLS for `wss://` and `https://`: rustls with the ring provider, the operating system's
//! trusted roots, and optionally one more CA (a company's own, or a test's).

use crate::error::{ClientError, ClientResult};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;

/// Makes ring the process's rustls provider (once; later calls do nothing).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client configuration trusting the system's roots and `extra_ca` (PEM).
pub fn client_config(extra_ca: Option<&Path>) -> ClientResult<Arc<rustls::ClientConfig>> {
    install_provider();
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = extra_ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| {
                ClientError::Io(format!("cannot read the CA file {}: {e}", path.display()))
            })?
            .collect::<Result<_, _>>()
            .map_err(|e| {
                ClientError::Config(format!("the CA file {} is not PEM: {e}", path.display()))
            })?;
        if certs.is_empty() {
            return Err(ClientError::Config(format!(
                "the CA file {} holds no certificate",
                path.display()
            )));
        }
        for c in certs {
            roots.add(c).map_err(|e| {
                ClientError::Config(format!(
                    "unusable CA certificate in {}: {e}",
                    path.display()
                ))
            })?;
        }
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}
