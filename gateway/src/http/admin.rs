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

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Public,
    Admin,
}

/// The two operator endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Channels,
    Metrics,
}

/// `Ok` when the request may read `endpoint`, else the answer to send.
pub fn check(
    app: &AppState,
    door: Door,
    endpoint: Endpoint,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let private = match endpoint {
        Endpoint::Metrics => true,
        Endpoint::Channels => app.auth.requires(Action::Play),
    };
    if !private {
        return Ok(());
    }
    if door == Door::Public && app.admin.listen.is_some() {
        return Err(error(StatusCode::NOT_FOUND, "not served here"));
    }
    let Some(expected) = &app.admin.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => {
            app.hub
                .denied
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(error(StatusCode::FORBIDDEN, "the admin token is wrong"))
        }
        None => {
            app.hub
                .denied
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "an admin token is required (Authorization: Bearer …)",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            Err(response)
        }
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
