//! The harness that starts real peers: nginx with the RTMP and stream modules, ffmpeg,
//! ffprobe, openssl, node-media-server, HAProxy and the `flashless` binary, on free loopback
//! ports, each behind a [`Guard`] that kills it when dropped, also when a test fails
//! or a benchmark stops half-way. One copy, used by the gateway's integration tests,
//! the benchmarks and the soak.
//!
//! Errors are returned, never panicked: a benchmark reports them, a test fails on them.

mod ffmpeg;
mod gateway;
mod haproxy;
mod nginx;
mod process;
mod server;
mod tls;

pub use ffmpeg::{
    CLIP_ARGS, Probe, clip, ffprobe, ffprobe_streams, publish_clip, publish_clip_on,
    publish_test_stream, publish_test_tracks,
};
pub use gateway::{Gateway, http_get};
pub use haproxy::{Edge, Haproxy};
pub use nginx::{NginxRtmp, TlsTerminator};
pub use process::{
    CLIENT_CORE, Guard, OPEN_FILES, SERVER_CORE, TempDir, free_port, pinned, rss_kib, run_logged,
    wait_for_port,
};
pub use server::{Running, Server, release_dir, start, start_on};
pub use tls::TestCa;
