//! `flashless serve`: the hub, every channel's upstream, the RTMP and HTTP listeners,
//! and a graceful shutdown that waits for all of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::config::Settings;
use crate::http::{self, AppState};
use crate::hub::{Hub, Source};
use crate::ingest::{self, PullOptions, UpstreamSpec};
use crate::rtmp;
use crate::shutdown::{self, Shutdown};

/// The built-in demo clip (see `assets/README.md`).
pub static DEMO_FLV: &[u8] = include_bytes!("../assets/demo.flv");

/// How long tasks get to finish after the shutdown signal.
const GRACE: Duration = Duration::from_secs(5);

/// Runs until `stop` completes (SIGINT/SIGTERM in the binary), then shuts down.
pub async fn run(settings: Settings, stop: impl Future<Output = ()>) -> Result<()> {
    let hub = Arc::new(Hub::new(settings.limits));
    let (trigger, shutdown) = shutdown::channel();
    let mut tasks = JoinSet::new();
    tasks.spawn(hub.clone().sweep(shutdown.clone()));

    if settings.demo {
        let channel = hub.get_or_create("demo", Source::File);
        tasks.spawn(ingest::run(
            UpstreamSpec::Embedded(DEMO_FLV),
            PullOptions::default(),
            channel,
            shutdown.clone(),
        ));
    }
    for c in &settings.channels {
        let spec =
            UpstreamSpec::parse(&c.source).with_context(|| format!("channel {:?}", c.name))?;
        let source = match spec {
            UpstreamSpec::Rtmp(_) | UpstreamSpec::HttpFlv(_) => Source::Pull,
            UpstreamSpec::File(_) | UpstreamSpec::Embedded(_) => Source::File,
        };
        let options = PullOptions {
            on_demand: c.on_demand,
            idle_timeout: c.idle_timeout,
            ..PullOptions::default()
        };
        tasks.spawn(ingest::run(
            spec,
            options,
            hub.get_or_create(&c.name, source),
            shutdown.clone(),
        ));
    }

    let rtmp_port = match settings.rtmp {
        Some(addr) => {
            let listener = rtmp::bind(addr).await?;
            let port = listener.local_addr()?.port();
            info!(addr = %listener.local_addr()?, "rtmp listening");
            let access = rtmp::Access {
                auth: settings.auth.clone(),
                limits: settings.conn,
                proxies: settings.proxies.clone(),
                swf_verify: settings.swf_verify,
            };
            tasks.spawn(rtmp::serve(listener, hub.clone(), access, shutdown.clone()));
            Some(port)
        }
        None => None,
    };
    let tls = match &settings.tls {
        Some((cert, key)) => Some(http::tls_acceptor(cert, key)?),
        None => None,
    };
    let listener = TcpListener::bind(settings.http)
        .await
        .with_context(|| format!("listening for HTTP on {}", settings.http))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(addr = %listener.local_addr()?, "{scheme} listening");
    let state = Arc::new(AppState {
        hub,
        rtmp_port,
        started: Instant::now(),
        shutdown: shutdown.clone(),
        auth: settings.auth.clone(),
        origins: settings.origins.clone(),
        limits: settings.conn,
        admin: settings.admin.clone(),
        proxies: settings.proxies.clone(),
    });
    if settings.auth.play && settings.admin.token.is_none() && settings.admin.listen.is_none() {
        warn!(
            "play tokens are required, but /api/channels and /metrics list every channel to anyone: \
             set admin_token or admin_listen"
        );
    }
    if let Some(addr) = settings.admin.listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening for the admin endpoints on {addr}"))?;
        info!(addr = %listener.local_addr()?, "admin listening");
        let app = http::admin_router(state.clone());
        let mut stop = shutdown.clone();
        tasks.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.wait().await })
                .await;
            if let Err(e) = served {
                warn!(error = %e, "admin server stopped");
            }
        });
    }
    let http = tokio::spawn(serve_http(
        listener,
        state,
        tls,
        settings.write_timeout,
        shutdown,
    ));

    stop.await;
    info!("shutting down");
    trigger.fire();
    let finish = async {
        while tasks.join_next().await.is_some() {}
        let _ = http.await;
    };
    if tokio::time::timeout(GRACE, finish).await.is_err() {
        warn!("some connections did not finish within {GRACE:?}; exiting anyway");
    }
    Ok(())
}

async fn serve_http(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<TlsAcceptor>,
    write_timeout: Duration,
    shutdown: Shutdown,
) {
    if let Err(e) = http::serve(listener, state, tls, write_timeout, shutdown).await {
        warn!(error = %e, "http server stopped");
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
