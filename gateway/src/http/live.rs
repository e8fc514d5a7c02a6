//! `GET /live/{channel}.flv`: the HTTP door to the streams. The page's origin is
//! checked, admission decides, and egress serves HTTP-FLV, or WS-FLV on an upgrade.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::{AppState, Peer};
use crate::access::{self, Action, Attempt};
use crate::clients::Link;
use crate::egress::http_flv::{self, error};
use crate::egress::websocket::{NotUpgrade, Upgrade};
use crate::egress::{Admission, Refusal};
use crate::hooks::Session;
use crate::hub::denials::Reason;
use crate::hub::name;

/// `/live/<channel>.flv`: a channel of the default app, or any channel by its whole
/// name with the '/' escaped (`/live/other%2Fcam.flv`, as the page writes it).
pub async fn live(
    State(app): State<Arc<AppState>>,
    Path(file): Path<String>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    // Not an upgrade request (a rejection) means plain HTTP-FLV.
    ws: Result<Upgrade, NotUpgrade>,
) -> Response {
    let Some(name) = file.strip_suffix(".flv") else {
        return error(StatusCode::NOT_FOUND, "expected /live/<channel>.flv");
    };
    serve(&app, name, peer, query, &headers, ws).await
}

/// `/<app>/<stream>.flv`: the channel `<app>/<stream>`, as SRS addresses it.
pub async fn in_app(
    State(app): State<Arc<AppState>>,
    Path((rtmp_app, file)): Path<(String, String)>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: Result<Upgrade, NotUpgrade>,
) -> Response {
    let Some(stream) = file.strip_suffix(".flv") else {
        return error(StatusCode::NOT_FOUND, "expected /<app>/<channel>.flv");
    };
    let name = name::qualify(&rtmp_app, stream);
    serve(&app, &name, peer, query, &headers, ws).await
}

async fn serve(
    app: &AppState,
    name: &str,
    peer: SocketAddr,
    query: Option<String>,
    headers: &HeaderMap,
    ws: Result<Upgrade, NotUpgrade>,
) -> Response {
    // A draining gateway takes no new viewer: the balancer (retrying on 503, or
    // once /healthz has told it) sends the viewer to another.
    if app.shutdown.is_draining() {
        return cors(
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "draining: try another gateway",
            ),
            headers,
        );
    }
    // Before admission: a page of a foreign origin is refused whatever its token.
    if !app.hub.auth.get().origins.allowed(headers) {
        app.hub.denied.count(Reason::Origin);
        return deny(
            StatusCode::FORBIDDEN,
            name,
            peer,
            "this page's origin may not read the stream",
        );
    }
    let query = query.unwrap_or_default();
    let attempt = Attempt {
        action: Action::Play,
        channel: name,
        // Behind a trusted proxy, the client it names: tokens and the webhook judge that one.
        client_ip: app.proxies.get().client(peer.ip(), headers),
        protocol: if ws.is_ok() { "ws-flv" } else { "http-flv" },
        query: &query,
        token: access::token_in(&query),
    };
    let limits = app.limits.get();
    let admission = Admission {
        hub: &app.hub,
        max_viewers: limits.max_viewers,
    };
    let channel = match admission.admit(&attempt).await {
        Ok(channel) => channel,
        // Readable by the page (CORS), so that it can tell "no such channel" from a lost connection.
        Err(refusal) => return cors(refuse(&refusal, name, peer), headers),
    };
    let link = Link::new(Arc::default());
    let hooks = Session::start(&app.hub.hooks, &attempt, link.clone());
    // Viewers send only pings and a close: a frame over a few KiB is refused at its
    // header, so a viewer cannot make the gateway wait on (or hold) a large one.
    let ws = ws.ok().map(|ws| (ws, limits.max_ws_message));
    cors(
        http_flv::start(&channel, ws, app.shutdown.clone(), hooks, link),
        headers,
    )
}

/// CORS: pages of allowed origins (checked before) may read HTTP-FLV and HLS, and
/// their refusals, with fetch().
pub(super) fn cors(mut response: Response, headers: &HeaderMap) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN) {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        response
            .headers_mut()
            .insert(header::VARY, header::HeaderValue::from_static("Origin"));
    }
    response
}

/// The answer to a refused viewer; denials (token, webhook, cap) are logged.
pub(super) fn refuse(refusal: &Refusal, channel: &str, peer: SocketAddr) -> Response {
    let status = http_flv::refusal_status(refusal);
    let message = refusal.to_string();
    if refusal.is_denial() {
        return deny(status, channel, peer, &message);
    }
    error(status, &message)
}

/// Refuses a viewer, logged (counted by whoever decided).
pub(super) fn deny(status: StatusCode, channel: &str, peer: SocketAddr, reason: &str) -> Response {
    tracing::warn!(channel, %peer, %status, "viewer refused: {reason}");
    error(status, reason)
}
