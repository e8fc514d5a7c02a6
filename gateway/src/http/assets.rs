//! The npm package `flashless` (`pkg/`), compiled into the binary and served at
//! `/pkg/<file>`, so a page can `import { Player } from '/pkg/flashless.js'`.
//! `build.rs` embeds the files when `cargo xtask wasm` has built them.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

mod files {
    include!(concat!(env!("OUT_DIR"), "/pkg_files.rs"));
}

/// Whether this binary was built with the package's wasm.
pub fn package_built() -> bool {
    !files::FILES.is_empty()
}

pub async fn pkg(Path(file): Path<String>) -> Response {
    if !package_built() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "the player package was not built into this binary: run `cargo xtask wasm`, then rebuild the gateway\n",
        )
            .into_response();
    }
    let Some((_, body)) = files::FILES.iter().find(|(name, _)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, content_type(&file)),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        *body,
    )
        .into_response()
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        // `WebAssembly.instantiateStreaming` insists on this type.
        Some("wasm") => "application/wasm",
        Some("js") => "text/javascript; charset=utf-8",
        Some("ts") => "application/typescript; charset=utf-8",
        Some("json") => "application/json",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn wasm_and_modules_get_the_types_browsers_require() {
        assert_eq!(content_type("flashless_wasm_bg.wasm"), "application/wasm");
        assert_eq!(
            content_type("flashless.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("flashless.d.ts"),
            "application/typescript; charset=utf-8"
        );
        assert_eq!(content_type("package.json"), "application/json");
    }
}
