//! Which web pages may read streams: the browser's `Origin` header against the
//! gateway's own host, localhost and the configured origins. HTTP only: RTMP players
//! are not pages.

use axum::http::{HeaderMap, header};

/// Whether a browser page from this request's `Origin` may read streams: requests
/// without one (players, ffmpeg) may; pages from the gateway itself, localhost and
/// `origins` (`*` for any) may.
pub fn allowed(origins: &[String], headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let bare = origin_host.rsplit_once(':').map_or(origin_host, |(h, _)| h);
    host == Some(origin_host)
        || matches!(bare, "localhost" | "127.0.0.1" | "[::1]")
        || origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/') == origin)
}
