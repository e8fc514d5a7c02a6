//! Who may read `/api/channels` and `/metrics`: they list every channel, its viewers
//! and its state, which a gateway that requires play tokens keeps from strangers.
//!
//! - `/metrics` needs the admin token whenever one is configured; with a separate
//!   admin listener it is served there only.
//! - `/api/channels` stays public while anyone may play (the viewer page polls it);
//!   with play tokens required it needs the admin token when one is configured, and
//!   with an admin listener it is served there only.
//! - With neither configured, both stay public, as before; with play tokens required
//!   the gateway warns about it at start-up.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::AppState;
use crate::access::Action;
use crate::egress::http_flv::error;
use crate::hub::denials::Reason;

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Public,
    Admin,
}

/// The operator endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Channels,
    Metrics,
    /// `POST /api/reload`: always needs the admin token; without one configured it is off.
    Reload,
    /// `POST /api/drain`: as `Reload`.
    Drain,
    /// `POST /api/drop`: as `Reload`.
    Drop,
    /// `GET /api/clients`: names every client's address, so never public: the admin
    /// token, or the admin listener when none is configured.
    Clients,
    /// `POST /api/kick`: as `Reload`.
    Kick,
}

/// The answer to a request that may not read `endpoint`; `None` when it may.
pub fn refusal(
    app: &AppState,
    door: Door,
    endpoint: Endpoint,
    headers: &HeaderMap,
) -> Option<Response> {
    let auth = app.hub.auth.get();
    let private = match endpoint {
        Endpoint::Metrics
        | Endpoint::Reload
        | Endpoint::Drain
        | Endpoint::Drop
        | Endpoint::Clients
        | Endpoint::Kick => true,
        Endpoint::Channels => auth.policy.requires(Action::Play),
    };
    if !private {
        return None;
    }
    if door == Door::Public && app.admin_listen.is_some() {
        return Some(error(StatusCode::NOT_FOUND, "not served here"));
    }
    let Some(expected) = &auth.admin_token else {
        return off_without_token(endpoint, door);
    };
    let given = bearer(headers);
    if given.is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes())) {
        return None;
    }
    app.hub.denied.count(Reason::Admin);
    if given.is_some() {
        return Some(error(StatusCode::FORBIDDEN, "the admin token is wrong"));
    }
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "an admin token is required (Authorization: Bearer …)",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    Some(response)
}

/// Without an admin token configured, the operator's actions are off over HTTP (a
/// signal does them instead); what is only read stays readable.
fn off_without_token(endpoint: Endpoint, door: Door) -> Option<Response> {
    let refused = match endpoint {
        Endpoint::Reload => {
            "reloading over HTTP needs an admin_token in the configuration (or send SIGHUP)"
        }
        Endpoint::Drain => {
            "draining over HTTP needs an admin_token in the configuration (or send SIGTERM)"
        }
        Endpoint::Drop => {
            "dropping a publisher over HTTP needs an admin_token in the configuration"
        }
        Endpoint::Kick => "kicking a client over HTTP needs an admin_token in the configuration",
        Endpoint::Clients if door == Door::Public => {
            "listing clients needs an admin_token in the configuration, or admin_listen"
        }
        Endpoint::Channels | Endpoint::Metrics | Endpoint::Clients => return None,
    };
    Some(error(StatusCode::FORBIDDEN, refused))
}

/// Whether the request is the operator's: on the admin listener (with the admin token
/// when one is configured), or on the public one with the admin token. What only the
/// operator sees (a channel's forward targets and commands) goes to it alone.
pub fn is_operator(app: &AppState, door: Door, headers: &HeaderMap) -> bool {
    match (&app.hub.auth.get().admin_token, bearer(headers)) {
        (Some(expected), Some(given)) => constant_time_eq(given.as_bytes(), expected.as_bytes()),
        (Some(_), None) => false,
        (None, _) => door == Door::Admin,
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
