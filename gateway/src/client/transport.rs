//! The byte stream to an upstream: TCP, or TLS over TCP for `rtmps://` and `https://`.
//!
//! Trust: the Mozilla roots compiled in (`webpki-roots`, so a container without a CA
//! bundle still works), plus PEM certificates from the file named by the
//! `FLASHLESS_CA_FILE` environment variable and from [`trust_pem_file`], for origins with
//! a private CA or a self-signed certificate.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// Environment variable naming a PEM file of extra trusted certificates.
pub const CA_FILE_ENV: &str = "FLASHLESS_CA_FILE";

/// A connected stream, plain or TLS, so callers need not be generic over it.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

pub type BoxedTransport = Box<dyn Transport>;

/// Connects to `host:port` (TLS when `tls`, offering `alpn`), within `limit` for TCP and
/// TLS together. `host` is a name or an address, IPv6 without brackets.
pub async fn connect(
    host: &str,
    port: u16,
    tls: bool,
    alpn: &[&[u8]],
    limit: Duration,
) -> Result<BoxedTransport> {
    let peer = peer_name(host, port);
    let connecting = async {
        let tcp = TcpStream::connect((host, port))
            .await
            .with_context(|| format!("connecting to {peer}"))?;
        tcp.set_nodelay(true)?;
        if !tls {
            return Ok(Box::new(tcp) as BoxedTransport);
        }
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| anyhow!("{peer}: {host:?} is not a valid TLS server name: {e}"))?;
        let stream = connector(alpn)?
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {peer}"))?;
        Ok(Box::new(stream) as BoxedTransport)
    };
    timeout(limit, connecting)
        .await
        .map_err(|_| anyhow!("connecting to {peer}: timed out after {limit:?}"))?
}

/// `host:port`, with brackets around an IPv6 address.
pub fn peer_name(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Adds the certificates of a PEM file to those trusted for every later TLS connection
/// of this process. Returns how many were added.
pub fn trust_pem_file(path: &Path) -> Result<usize> {
    let certs = read_pem(path)?;
    let n = certs.len();
    EXTRA_ROOTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(certs);
    Ok(n)
}

static EXTRA_ROOTS: Mutex<Vec<CertificateDer<'static>>> = Mutex::new(Vec::new());

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: bad PEM: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no CERTIFICATE block in the file", path.display());
    }
    Ok(certs)
}

/// Built per connection: cheap next to a handshake, and it picks up roots added since.
fn connector(alpn: &[&[u8]]) -> Result<TlsConnector> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut extra = EXTRA_ROOTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(path) = std::env::var_os(CA_FILE_ENV) {
        extra.extend(read_pem(Path::new(&path)).with_context(|| format!("${CA_FILE_ENV}"))?);
    }
    for cert in extra {
        roots
            .add(cert)
            .context("adding an extra trusted certificate")?;
    }
    // An explicit provider: the process-wide default depends on which features other crates enable.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tls_to_a_plain_tcp_listener_fails_with_the_peer_named() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            // Answers the ClientHello with bytes that are not TLS.
            if let Ok((mut s, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let err = connect("127.0.0.1", port, true, &[], Duration::from_secs(5))
            .await
            .err()
            .expect("not TLS");
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!("TLS handshake with 127.0.0.1:{port}")),
            "{text}"
        );
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let path =
            std::env::temp_dir().join(format!("flashless-nocert-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = trust_pem_file(&path).unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert!(format!("{err:#}").contains("no CERTIFICATE"), "{err:#}");
    }

    #[test]
    fn ipv6_peers_are_bracketed() {
        assert_eq!(peer_name("::1", 1935), "[::1]:1935");
        assert_eq!(peer_name("example.com", 443), "example.com:443");
    }
}
