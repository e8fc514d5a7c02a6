//! The flashless lab: everything that measures flashless against real peers, apart
//! from the code it measures.
//!
//! - [`peers`]: the harness that starts real peers (nginx-rtmp, ffmpeg, ffprobe,
//!   node-media-server, the `flashless` binary) on free loopback ports and kills them
//!   when dropped; the gateway's integration tests, the benchmarks and the soak share it.
//! - [`bench`]: `lab bench …`, flashless against its peers, into `docs/benchmarks.md`.
//! - [`soak`]: `lab soak …`, hours of origin restarts and viewer churn, into
//!   `docs/reliability.md`.
//! - [`mangle`]: the corpus of nasty streams and the mangler that publishes them.
//! - [`sim`]: `lab sim`, the cluster by simulation (Zipf viewers, consistent hashing
//!   over 3, 10 and 100 edges), into `docs/scaling.md`.
//! - [`report`]: what the reports share (the machine, medians, tables, sections).
//!
//! The binaries: `lab` (the benchmarks and the soak, run by `cargo xtask bench` and
//! `cargo xtask soak`, which install the peers and build first) and `loadgen` (the
//! fan-out load generator they start). `browser/` holds the npm-pinned peers and the
//! pages and drivers that run in Chromium; `benches/` the native remux benchmark.

pub mod bench;
pub mod mangle;
pub mod peers;
pub mod report;
pub mod sim;
pub mod soak;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Where the lab's npm peers (node-media-server, mpegts.js, flv.js, esbuild) are
/// pinned, beside its browser pages, relative to the workspace root.
pub const NPM_DIR: &str = "lab/browser";

/// The workspace root: the lab lives one level below it.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// One stage of a run: prints `==> name` (as xtask's steps do) and names the stage in
/// its error.
pub fn step<T>(name: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("==> {name}");
    body().with_context(|| format!("step `{name}` failed"))
}
