//! The viewer page (`web/page/`), compiled into the binary: `/`, `/watch/<channel>`,
//! `/embed/<channel>` and its script and style under `/web/`.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

static INDEX: &str = include_str!("../../../web/page/index.html");
static APP: &str = include_str!("../../../web/page/app.js");
static STYLE: &str = include_str!("../../../web/page/style.css");

/// The page for `/`, `/watch/<channel>` and `/embed/<channel>`: its script reads the path.
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
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
