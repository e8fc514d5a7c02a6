//! The HTTP door: routes to the viewer page, the npm package, the streams (`/live/`)
//! and the API, over a listener that limits connections per address, terminates TLS
//! off the accept path, and times out stalled writes.

pub mod admin;
pub mod api;
pub mod assets;
pub mod hls;
pub mod listener;
pub mod live;
pub mod page;
pub mod process;
pub mod range;
pub mod recordings;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Router};

use crate::access::TrustedProxies;
use crate::config::ConnLimits;
use crate::egress::hls::Hls;
use crate::hub::Hub;
use crate::outputs::Outputs;
use crate::reload::Reloader;
use crate::shutdown::{Shutdown, Trigger};
use crate::swap::Swap;
use admin::{Door, Endpoint};

pub use listener::{Peer, serve};

pub struct AppState {
    pub hub: Arc<Hub>,
    /// The RTMP and RTMPS listeners' ports, to tell viewers a channel's URLs.
    pub rtmp_port: Option<u16>,
    pub rtmps_port: Option<u16>,
    /// HTTPS and WSS on the HTTP port.
    pub tls: bool,
    pub started: Instant,
    /// Ends viewers' streams on draining and shutdown, so they close cleanly instead
    /// of being cut; while draining, no new viewer is taken and `/healthz` says 503.
    pub shutdown: Shutdown,
    /// Starts draining (`POST /api/drain`).
    pub trigger: Arc<Trigger>,
    /// Replaced on reload (the RTMP door's too): each connection, viewer and request
    /// is judged by those in force when it comes.
    pub limits: Arc<Swap<ConnLimits>>,
    /// The operator's own listener: `/metrics` (and `/api/channels` where play tokens
    /// are required) are served there only ([`admin`]; its token is `[auth]`'s, in the hub).
    pub admin_listen: Option<std::net::SocketAddr>,
    /// Whose forwarding headers name the client.
    pub proxies: Arc<Swap<TrustedProxies>>,
    /// Re-reads the configuration (`POST /api/reload`).
    pub reloader: Option<Arc<Reloader>>,
    /// The channels' HLS producers.
    pub hls: Arc<Hls>,
    /// Recordings (listed and served), forwards and commands (counted in `/metrics`).
    pub outputs: Outputs,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/watch/{channel}", get(page::watch))
        .route("/embed/{channel}", get(page::watch))
        .route("/web/{file}", get(page::asset))
        .route("/pkg/{file}", get(assets::pkg))
        .route("/live/{file}", get(live::live))
        // SRS's form: `/<app>/<name>.flv`, of which `/live/<name>.flv` is the default app.
        .route("/{app}/{file}", get(live::in_app))
        // HLS: `/live/<name>/index.m3u8` and the files it lists; `/<app>/<name>/…` elsewhere.
        .route("/{app}/{stream}/{file}", get(hls::file))
        .merge(operator_routes(Door::Public, &state))
        .with_state(state)
}

/// The admin listener's routes: the operator's endpoints only.
pub fn admin_router(state: Arc<AppState>) -> Router {
    operator_routes(Door::Admin, &state).with_state(state)
}

/// The operator's endpoints, on either listener: who may use them depends on `door`
/// (`admin::refusal`, asked before the handler and its extractors run).
fn operator_routes(door: Door, app: &Arc<AppState>) -> Router<Arc<AppState>> {
    let guarded = |endpoint: Endpoint, route: MethodRouter<Arc<AppState>>| {
        route.route_layer(from_fn_with_state((app.clone(), endpoint), guard))
    };
    Router::new()
        .route(
            "/api/channels",
            guarded(Endpoint::Channels, get(api::channels)),
        )
        .route("/api/reload", guarded(Endpoint::Reload, post(api::reload)))
        .route("/api/drain", guarded(Endpoint::Drain, post(api::drain)))
        .route(
            "/api/drop",
            guarded(Endpoint::Drop, post(api::drop_session)),
        )
        .route(
            "/api/clients",
            guarded(Endpoint::Clients, get(api::clients)),
        )
        .route("/api/kick", guarded(Endpoint::Kick, post(api::kick)))
        .route(
            "/api/recordings",
            guarded(Endpoint::Channels, get(recordings::list)),
        )
        .route(
            "/recordings/{*path}",
            guarded(Endpoint::Channels, get(recordings::file)),
        )
        .route("/metrics", guarded(Endpoint::Metrics, get(api::metrics)))
        .route("/healthz", get(api::healthz))
        .layer(Extension(door))
}

/// Lets a request on to an operator endpoint when `admin::refusal` lets it.
async fn guard(
    State((app, endpoint)): State<(Arc<AppState>, Endpoint)>,
    Extension(door): Extension<Door>,
    request: Request,
    next: Next,
) -> Response {
    match admin::refusal(&app, door, endpoint, request.headers()) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}
