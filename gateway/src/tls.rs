//! The gateway's certificate, for HTTPS, WSS and RTMPS: read from its PEM files at the
//! start and again at every reload, so that a certificate renewed in place (certbot,
//! cert-manager) is served to the next connections without a restart. A connection
//! keeps the certificate it was opened with.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::config::ConfigError;
use crate::swap::Swap;

/// The certificate chain and key in force, handed to each TLS handshake.
#[derive(Debug)]
pub struct Certificate(Swap<CertifiedKey>);

impl Certificate {
    /// Reads `cert` (a PEM chain) and `key` (its PEM private key).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certificate>, ConfigError> {
        Ok(Arc::new(Certificate(Swap::new(Self::read(cert, key)?))))
    }

    /// The chain of `cert` and the key of `key`, checked to belong together: what
    /// [`Certificate::set`] takes.
    pub fn read(cert: &Path, key: &Path) -> Result<CertifiedKey, ConfigError> {
        let bad = |path: &Path, reason: String| ConfigError::Certificate {
            path: path.to_owned(),
            reason,
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| bad(cert, format!("reading the certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(bad(
                cert,
                "no certificate in it (PEM, BEGIN CERTIFICATE)".into(),
            ));
        }
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| bad(key, format!("reading the private key: {e}")))?;
        CertifiedKey::from_der(chain, private, &provider()).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => bad(
                key,
                format!("not the key of the certificate {}", cert.display()),
            ),
            e => bad(key, format!("not a usable private key: {e}")),
        })
    }

    /// Serves `certified` from the next handshake on; whether its chain differs from
    /// the one in force.
    pub fn set(&self, certified: CertifiedKey) -> bool {
        let replaced = certified.cert != self.0.get().cert;
        self.0.set(certified);
        replaced
    }

    /// HTTPS and WSS: HTTP/1.1 offered by ALPN.
    pub fn https(self: &Arc<Self>) -> TlsAcceptor {
        let mut config = self.server_config();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }

    /// RTMPS: no ALPN, and no TLS 1.3 session tickets: librtmp (rtmpdump, and what
    /// links it) reads through GnuTLS in a way that fails on a ticket coming after the
    /// handshake, and an RTMP connection lasts too long to resume one.
    pub fn rtmps(self: &Arc<Self>) -> TlsAcceptor {
        let mut config = self.server_config();
        config.send_tls13_tickets = 0;
        TlsAcceptor::from(Arc::new(config))
    }

    fn server_config(self: &Arc<Self>) -> ServerConfig {
        let resolver: Arc<dyn ResolvesServerCert> = self.clone();
        // `ring`'s provider has every version `with_safe_default_protocol_versions` asks for.
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| unreachable!("ring's TLS versions: {e}"))
            .with_no_client_auth()
            .with_cert_resolver(resolver)
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.get())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}
