//! The HTTP side: routes, and a listener whose connections time out writes, so a
//! viewer that stops reading is disconnected instead of held forever.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;

use crate::hub::Hub;
use crate::shutdown::Shutdown;
use crate::{api, delivery, page};

pub struct AppState {
    pub hub: Arc<Hub>,
    /// The RTMP listener's port, to tell viewers the RTMP URL of a channel.
    pub rtmp_port: Option<u16>,
    pub started: Instant,
    /// Ends viewers' streams on shutdown, so they close cleanly instead of being cut.
    pub shutdown: Shutdown,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/watch/{channel}", get(page::index))
        .route("/embed/{channel}", get(page::index))
        .route("/web/{file}", get(page::asset))
        .route("/live/{file}", get(delivery::live))
        .route("/api/channels", get(api::channels))
        .route("/metrics", get(api::metrics))
        .route("/healthz", get(api::healthz))
        .with_state(state)
}

pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    write_timeout: Duration,
    mut shutdown: Shutdown,
) -> io::Result<()> {
    let listener = TimeoutListener {
        inner: listener,
        write_timeout,
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}

struct TimeoutListener {
    inner: TcpListener,
    write_timeout: Duration,
}

impl axum::serve::Listener for TimeoutListener {
    type Io = Pin<Box<TimeoutStream<TcpStream>>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((socket, peer)) => {
                    socket.set_nodelay(true).ok();
                    let mut stream = TimeoutStream::new(socket);
                    stream.set_write_timeout(Some(self.write_timeout));
                    return (Box::pin(stream), peer);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
