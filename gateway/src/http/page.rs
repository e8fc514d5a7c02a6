//! The viewer page (`web/page/`), compiled into the binary: `/`, `/watch/<channel>`,
//! `/embed/<channel>` and its script and style under `/web/`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::admin::{self, Door, Endpoint};

static INDEX: &str = include_str!("../../../web/page/index.html");
static APP: &str = include_str!("../../../web/page/app.js");
static STYLE: &str = include_str!("../../../web/page/style.css");

/// The page for `/`: its script reads the path.
pub async fn index() -> Response {
    html(INDEX.into())
}

/// The page for `/watch/<channel>` and `/embed/<channel>`. When the channel is in
/// the list and the list is public, the page says so (`<html data-listed>`), so its
/// player starts at once instead of after the page's first read of the list: one
/// round trip less before the first frame.
pub async fn watch(
    State(app): State<Arc<AppState>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
) -> Response {
    let public = admin::refusal(&app, Door::Public, Endpoint::Channels, &headers).is_none();
    if public && app.hub.get(&channel).is_some() {
        html(INDEX.replacen("<html lang=\"en\">", "<html lang=\"en\" data-listed>", 1))
    } else {
        html(INDEX.into())
    }
}

fn html(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.js" => (APP, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
