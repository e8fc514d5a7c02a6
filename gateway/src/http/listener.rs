//! The HTTP listener: limits connections per client address and in all, terminates
//! TLS off the accept path, times out requests whose headers do not arrive (slowloris,
//! idle keep-alive) and stalled writes, so a viewer that stops reading is disconnected.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutStream;
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

use super::{AppState, router};
use crate::access::TrustedProxies;
use crate::access::limits::{PerIp, Slot};
use crate::config::ConnLimits;
use crate::shutdown::Shutdown;
use crate::swap::Swap;

/// Serves HTTP/1.1 on `listener` until `shutdown`, then waits for the connections to
/// end (streams end themselves on shutdown; a stalled write ends by its timeout).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<TlsAcceptor>,
    mut shutdown: Shutdown,
) -> io::Result<()> {
    let (ready, mut incoming) = mpsc::channel(64);
    let per_ip = PerIp::default().exempting(state.proxies.clone());
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new());
    let limits = state.limits.clone();
    let proxies = state.proxies.clone();
    let router = router(state);
    let accepting = tokio::spawn(accept(
        listener,
        per_ip,
        limits.clone(),
        proxies,
        tls,
        ready,
    ));
    let mut connections = JoinSet::new();
    loop {
        let (conn, peer) = tokio::select! {
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            conn = incoming.recv() => match conn {
                Some(conn) => conn,
                None => break,
            },
            _ = shutdown.wait() => break,
        };
        let router = router.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(Peer(peer)));
            router.clone().call(request)
        });
        // Slowloris: a request's headers must be in within this time of the connection's
        // start or its previous response's end, so it also bounds a kept-alive idle
        // connection. Neither a streamed response nor an upgraded WebSocket is affected.
        let header_timeout = limits.get().header_timeout;
        let connection = http
            .clone()
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(conn), service)
            .with_upgrades();
        let mut shutdown = shutdown.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = shutdown.wait() => {
                    // Finishes the response in flight (streams end on shutdown too).
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "http connection ended");
            }
        });
    }
    accepting.abort();
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Accepts TCP, applies the connection limits, and hands ready connections (after a
/// trusted proxy's PROXY protocol header and the TLS handshake, done in a task of their
/// own so a slow client holds up no one) to the server.
async fn accept(
    listener: TcpListener,
    per_ip: PerIp,
    limits: Arc<Swap<ConnLimits>>,
    proxies: Arc<Swap<TrustedProxies>>,
    tls: Option<TlsAcceptor>,
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
        // The limits and proxies in force as it comes, for its whole life.
        let (limits, proxies) = (limits.get(), proxies.get());
        let slot = match per_ip.acquire(peer.ip(), limits.connections()) {
            Ok(slot) => slot,
            Err(full) => {
                tracing::warn!(%peer, "http connection refused: {full}");
                continue;
            }
        };
        socket.set_nodelay(true).ok();
        let waits = tls.is_some() || proxies.sends_header(peer.ip());
        let setup = Setup {
            proxies,
            per_ip: per_ip.clone(),
            tls: tls.clone(),
            limits,
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
    proxies: Arc<TrustedProxies>,
    per_ip: PerIp,
    tls: Option<TlsAcceptor>,
    limits: Arc<ConnLimits>,
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
            .client_of(&mut socket, peer, self.limits.handshake_timeout)
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
            match self.per_ip.acquire(client.ip(), self.limits.connections()) {
                Ok(own) => slot = own,
                Err(full) => {
                    tracing::warn!(%client, "http connection refused: {full}");
                    return None;
                }
            }
        }
        let mut stream = TimeoutStream::new(socket);
        stream.set_write_timeout(Some(self.limits.write_timeout));
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
        match tokio::time::timeout(self.limits.handshake_timeout, acceptor.accept(stream)).await {
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
