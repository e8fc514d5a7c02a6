//! `flashless serve`: the hub, every channel's upstream, the RTMP and HTTP listeners,
//! and a graceful shutdown that waits for all of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::config::{ServeArgs, Settings};
use crate::egress::hls::Hls;
use crate::http::{self, AppState};
use crate::hub::Hub;
use crate::outputs::Outputs;
use crate::reload::Reloader;
use crate::rtmp;
use crate::shutdown::{self, Shutdown};
use crate::tls::Certificate;

/// How long tasks get to finish after the shutdown signal.
const GRACE: Duration = Duration::from_secs(5);

/// How the gateway is asked to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT: viewers are told to go and the gateway exits within [`GRACE`].
    Now,
    /// SIGTERM (Kubernetes, systemd): drain first, as `POST /api/drain` does.
    Drain,
}

/// Runs until `stop` completes (SIGINT/SIGTERM in the binary) or `POST /api/drain`
/// drains it, then shuts down. `args` are read again, with the configuration file,
/// on a reload (SIGHUP, `POST /api/reload`).
///
/// Draining: the RTMP listener closes, new viewers get 503 and `/healthz` 503 (the
/// balancer takes the gateway out), current viewers are told to go (WS-FLV closed
/// with 1001 "draining", HTTP-FLV ended, RTMP connections closed); the gateway exits
/// once no viewer is left or at `drain_timeout`, or at once on a second signal.
pub async fn run(
    args: ServeArgs,
    settings: Settings,
    stop: impl Future<Output = Stop>,
) -> Result<()> {
    let hub = Arc::new(Hub::new(settings.limits));
    let (trigger, shutdown) = shutdown::channel();
    let trigger = Arc::new(trigger);
    let mut tasks = JoinSet::new();
    tasks.spawn(hub.clone().sweep(shutdown.clone()));
    tasks.spawn(hub.hooks.clone().run(shutdown.clone()));
    tasks.spawn(crate::recheck::run(hub.clone(), shutdown.clone()));
    let outputs = Outputs::default();
    let (recordings, forwards, execs) = (&outputs.recordings, &outputs.forwards, &outputs.execs);
    tasks.spawn(crate::record::run(
        hub.clone(),
        recordings.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(crate::forward::run(
        hub.clone(),
        forwards.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(crate::exec::run(
        hub.clone(),
        execs.clone(),
        shutdown.clone(),
    ));
    let hls = Arc::new(Hls::new(settings.hls, shutdown.clone()));
    let certificate = match &settings.tls {
        Some((cert, key)) => Some(Certificate::load(cert, key)?),
        None => None,
    };
    // The configured channels, the demo, the [[pull]] rules, the hooks, `[auth]`, what is
    // recorded, forwarded and run, `[hls]`, the certificate.
    let reloader = Reloader::start(
        args,
        &settings,
        hub.clone(),
        outputs.clone(),
        hls.clone(),
        certificate.clone(),
        shutdown.clone(),
    )
    .context("starting the configured channels")?;
    #[cfg(unix)]
    tasks.spawn(reload_on_sighup(reloader.clone(), shutdown.clone()));

    let mut rtmp_listeners = Vec::new();
    if let Some(addr) = settings.rtmp {
        rtmp_listeners.push(rtmp::Listener::bind(addr, None).await?);
    }
    if let (Some(addr), Some(certificate)) = (settings.rtmps, &certificate) {
        rtmp_listeners.push(rtmp::Listener::bind(addr, Some(certificate.rtmps())).await?);
    }
    let (mut rtmp_port, mut rtmps_port) = (None, None);
    for listener in &rtmp_listeners {
        let addr = listener.socket.local_addr()?;
        if listener.tls.is_some() {
            info!(%addr, "rtmps listening");
            rtmps_port = Some(addr.port());
        } else {
            info!(%addr, "rtmp listening");
            rtmp_port = Some(addr.port());
        }
    }
    if !rtmp_listeners.is_empty() {
        tasks.spawn(rtmp::serve(
            rtmp_listeners,
            hub.clone(),
            reloader.rtmp_access(),
            shutdown.clone(),
        ));
    }
    let tls = certificate.as_ref().map(Certificate::https);
    let listener = TcpListener::bind(settings.http)
        .await
        .with_context(|| format!("listening for HTTP on {}", settings.http))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(addr = %listener.local_addr()?, "{scheme} listening");
    let state = Arc::new(AppState {
        hub: hub.clone(),
        rtmp_port,
        rtmps_port,
        tls: tls.is_some(),
        started: Instant::now(),
        shutdown: shutdown.clone(),
        trigger: trigger.clone(),
        limits: reloader.limits(),
        admin_listen: settings.admin.listen,
        proxies: reloader.proxies(),
        reloader: Some(reloader.clone()),
        hls,
        outputs,
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
    let http = tokio::spawn(serve_http(listener, state, tls, shutdown.clone()));

    let mut drained = shutdown.clone();
    let stop = tokio::select! {
        how = stop => how,
        // `POST /api/drain`.
        () = drained.wait_drain() => Stop::Drain,
    };
    if stop == Stop::Drain {
        trigger.drain();
        drain(&hub, reloader.drain_timeout()).await;
    }
    info!("shutting down");
    trigger.fire();
    let mut feeds = reloader.take_tasks();
    let finish = async {
        while tasks.join_next().await.is_some() {}
        while feeds.join_next().await.is_some() {}
        let _ = http.await;
    };
    if tokio::time::timeout(GRACE, finish).await.is_err() {
        warn!("some connections did not finish within {GRACE:?}; exiting anyway");
    }
    Ok(())
}

/// Waits, while draining, until no viewer is left, `timeout` passes, or a second
/// SIGINT/SIGTERM comes.
async fn drain(hub: &Hub, timeout: Duration) {
    let viewers = || hub.list().iter().map(|c| c.viewer_count()).sum::<usize>();
    info!(viewers = viewers(), ?timeout, "draining");
    let gone = async {
        while viewers() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        () = gone => info!("drained: no viewer left"),
        () = tokio::time::sleep(timeout) => {
            warn!(viewers = viewers(), "drain_timeout reached; stopping with viewers left");
        }
        _ = signal() => info!("signalled again while draining: stopping now"),
    }
}

async fn serve_http(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<TlsAcceptor>,
    shutdown: Shutdown,
) {
    if let Err(e) = http::serve(listener, state, tls, shutdown).await {
        warn!(error = %e, "http server stopped");
    }
}

/// Reloads the configuration on every SIGHUP until `shutdown`; an invalid file is
/// logged and the running configuration stays.
#[cfg(unix)]
async fn reload_on_sighup(reloader: Arc<Reloader>, mut shutdown: Shutdown) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        warn!("SIGHUP cannot be caught here: reload with POST /api/reload");
        return;
    };
    loop {
        tokio::select! {
            Some(()) = hangups.recv() => {}
            _ = shutdown.wait() => return,
        }
        info!("SIGHUP: reloading the configuration");
        if let Err(e) = reloader.reload() {
            warn!("configuration not reloaded; the running one stays: {e}");
        }
    }
}

/// Completes on SIGINT ([`Stop::Now`]) or SIGTERM ([`Stop::Drain`]).
pub async fn signal() -> Stop {
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
            _ = tokio::signal::ctrl_c() => Stop::Now,
            _ = term => Stop::Drain,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Stop::Now
    }
}
