//! The HTTP listener: limits connections per client address, terminates TLS off the
//! accept path, and times out stalled writes, so a viewer that stops reading is
//! disconnected.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_io_timeout::TimeoutStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{AppState, router};
use crate::access::TrustedProxies;
use crate::access::limits::{PerIp, Slot};
use crate::shutdown::Shutdown;

/// Loads a PEM certificate chain and key for HTTPS/WSS.
pub fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate chain {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate does not match the key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<TlsAcceptor>,
    write_timeout: Duration,
    mut shutdown: Shutdown,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let (ready, incoming) = mpsc::channel(64);
    let per_ip = PerIp::new(state.limits.per_ip).exempting(state.proxies.clone());
    let handshake_timeout = state.limits.handshake_timeout;
    let accepting = tokio::spawn(accept(
        listener,
        per_ip,
        state.proxies.clone(),
        tls,
        handshake_timeout,
        write_timeout,
        ready,
    ));
    let app = router(state).into_make_service_with_connect_info::<Peer>();
    let result = axum::serve(Incoming { local, incoming }, app)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await;
    accepting.abort();
    result
}

/// Accepts TCP, applies the per-address limit, and hands ready connections (after a
/// trusted proxy's PROXY protocol header and the TLS handshake, done in a task of their
/// own so a slow client holds up no one) to axum.
async fn accept(
    listener: TcpListener,
    per_ip: PerIp,
    proxies: TrustedProxies,
    tls: Option<TlsAcceptor>,
    handshake_timeout: Duration,
    write_timeout: Duration,
    ready: mpsc::Sender<(Conn, SocketAddr)>,
) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = per_ip.acquire(peer.ip()) else {
            tracing::warn!(%peer, "http connection refused: too many from this address");
            continue;
        };
        socket.set_nodelay(true).ok();
        let waits = tls.is_some() || proxies.sends_header(peer.ip());
        let setup = Setup {
            proxies: proxies.clone(),
            per_ip: per_ip.clone(),
            tls: tls.clone(),
            handshake_timeout,
            write_timeout,
        };
        if !waits {
            // Nothing to wait for: handed over at once, in order.
            if let Some(conn) = setup.prepare(socket, peer, slot).await
                && ready.send(conn).await.is_err()
            {
                return;
            }
            continue;
        }
        let ready = ready.clone();
        tokio::spawn(async move {
            if let Some(conn) = setup.prepare(socket, peer, slot).await {
                let _ = ready.send(conn).await;
            }
        });
    }
}

/// What a connection goes through before axum gets it.
struct Setup {
    proxies: TrustedProxies,
    per_ip: PerIp,
    tls: Option<TlsAcceptor>,
    handshake_timeout: Duration,
    write_timeout: Duration,
}

impl Setup {
    /// The connection as axum gets it, with the client's address; `None` (logged) when
    /// it failed on the way.
    async fn prepare(
        self,
        mut socket: TcpStream,
        peer: SocketAddr,
        mut slot: Slot,
    ) -> Option<(Conn, SocketAddr)> {
        let client = match self
            .proxies
            .client_of(&mut socket, peer, self.handshake_timeout)
            .await
        {
            Ok(client) => client,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "proxied connection dropped");
                return None;
            }
        };
        if client != peer {
            // The client a proxy names holds the place, not the proxy.
            let Some(own) = self.per_ip.acquire(client.ip()) else {
                tracing::warn!(%client, "http connection refused: too many from this address");
                return None;
            };
            slot = own;
        }
        let mut stream = TimeoutStream::new(socket);
        stream.set_write_timeout(Some(self.write_timeout));
        let stream = Box::pin(stream);
        let Some(acceptor) = self.tls else {
            return Some((
                Conn {
                    io: stream,
                    _slot: slot,
                },
                client,
            ));
        };
        match tokio::time::timeout(self.handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => Some((
                Conn {
                    io: Box::pin(tls),
                    _slot: slot,
                },
                client,
            )),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                None
            }
        }
    }
}

/// The client's address, for handlers (`ConnectInfo<Peer>`): tokens may be bound to it.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Incoming>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Incoming>) -> Self {
        Peer(*stream.remote_addr())
    }
}

pub struct Incoming {
    local: SocketAddr,
    incoming: mpsc::Receiver<(Conn, SocketAddr)>,
}

impl axum::serve::Listener for Incoming {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(conn) => conn,
            // The accept task is gone only at shutdown; graceful shutdown stops asking.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

trait Stream: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Stream for T {}

/// One accepted connection, plain or TLS, holding its address's place while open.
pub struct Conn {
    io: Pin<Box<dyn Stream>>,
    _slot: Slot,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }
}
