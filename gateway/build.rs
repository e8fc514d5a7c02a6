//! Embeds the npm package's files (`pkg/`, built by `cargo xtask wasm`) for `/pkg/…`.
//! Without a built package the list is empty and `/pkg/…` answers 503, so the
//! gateway still builds on a machine that never built the wasm.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

/// Served as they are; the first two are generated and decide whether the package is there.
const FILES: &[&str] = &[
    "flashless_wasm.js",
    "flashless_wasm_bg.wasm",
    "flashless.js",
    "webcodecs.js",
    "nativehls.js",
    "flashless.global.js",
    "flashless.lite.js",
    "flashless_lite_wasm_bg.wasm",
    "flashless_pictures.js",
    "flashless_pictures_bg.wasm",
    "flashless.d.ts",
    "package.json",
    "README.md",
];

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let pkg = Path::new(&manifest).join("../pkg");
    println!("cargo:rerun-if-changed={}", pkg.display());
    for name in FILES {
        println!("cargo:rerun-if-changed={}", pkg.join(name).display());
    }
    let built = FILES[..2].iter().all(|f| pkg.join(f).is_file());
    let mut code = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    if built {
        for name in FILES.iter().filter(|f| pkg.join(f).is_file()) {
            let path = pkg
                .join(name)
                .canonicalize()
                .expect("canonical path of a pkg file");
            writeln!(
                code,
                "    ({name:?}, include_bytes!({:?})),",
                path.display()
            )
            .unwrap();
        }
    }
    code.push_str("];\n");
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("pkg_files.rs");
    fs::write(&out, code).expect("writing pkg_files.rs");
}
