//! Test glue over the lab's harness (`flashless_lab::peers`, which starts the real
//! peers and kills them on drop): the same peers, failing the test instead of
//! returning an error, and the few helpers only these tests need.

#![allow(dead_code)]

pub mod http;
pub mod upstream;

#[allow(unused_imports)] // Not every test binary uses them.
pub use http::*;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use flashless_lab::peers as lab;

pub use flashless_lab::peers::Probe;

/// Waits until `check` holds, failing with `what` after `limit`.
pub fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The harness's result, or the test fails with its error and causes.
pub fn or_fail<T>(result: anyhow::Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("{e:#}"))
}

/// A child process killed when the test ends, also when it fails.
pub struct Guard(lab::Guard);

impl Guard {
    pub fn spawn(cmd: &mut Command, name: &str) -> Guard {
        Guard(or_fail(lab::Guard::spawn(cmd, name)))
    }

    /// Waits for the process to exit by itself.
    pub fn wait(self, limit: Duration) -> ExitStatus {
        or_fail(self.0.wait(limit))
    }

    /// Asks the process to stop with `signal` (`TERM`, `INT`…) and waits for it to finish its files.
    pub fn signal(self, signal: &str, limit: Duration) -> ExitStatus {
        or_fail(self.0.signal(signal, limit))
    }
}

pub fn free_port() -> u16 {
    or_fail(lab::free_port())
}

pub fn wait_for_port(port: u16, what: &str) {
    or_fail(lab::wait_for_port(port, what))
}

pub struct TempDir(lab::TempDir);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(or_fail(lab::TempDir::new(tag)))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path(name)
    }
}

/// nginx with the RTMP module, one `live` application, on a free port.
pub struct Nginx;

impl Nginx {
    pub fn start(chunk_size: u32) -> lab::NginxRtmp {
        or_fail(lab::NginxRtmp::start(chunk_size))
    }

    /// On `port`: a restarted server comes back where its clients look.
    pub fn start_on(port: u16, chunk_size: u32) -> lab::NginxRtmp {
        or_fail(lab::NginxRtmp::start_on(port, chunk_size))
    }
}

/// ffmpeg publishing a generated H.264 + AAC stream in real time.
pub fn ffmpeg_publish(url: &str, extra_output_args: &[&str]) -> Guard {
    Guard(or_fail(lab::publish_test_stream(url, extra_output_args)))
}

/// ffmpeg publishing the pictures, the sound or both of [`ffmpeg_publish`]'s stream.
pub fn ffmpeg_publish_tracks(url: &str, video: bool, audio: bool) -> Guard {
    Guard(or_fail(lab::publish_test_tracks(url, video, audio, &[])))
}

/// A configuration file `flashless.toml` in `dir` holding `text`: its path.
pub fn config(dir: &TempDir, text: &str) -> String {
    let path = dir.path("flashless.toml");
    std::fs::write(&path, text).expect("writing the configuration");
    path.to_string_lossy().into_owned()
}

/// A file of ffmpeg's test pattern (320×240, 25 fps, a keyframe every second) and, with
/// `audio`, a 1 kHz AAC tone, made for a test to publish; the container follows `name`'s
/// extension, and `video_args` add to the H.264 options (e.g. `-bf 2`).
pub fn test_clip(
    dir: &TempDir,
    name: &str,
    secs: f64,
    audio: bool,
    video_args: &[&str],
) -> PathBuf {
    let path = dir.path(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"]);
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100"]);
    }
    cmd.args(["-t", &secs.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
        .args(video_args)
        .args(["-pix_fmt", "yuv420p"]);
    if audio {
        cmd.args(["-c:a", "aac", "-b:a", "64k"]);
    }
    let out = output_of(cmd.arg(&path), "ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg could not make {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// rtmpdump playing `url` (with `extra` options) into `out` for `secs`, then stopped as a
/// user stops it: what it wrote.
pub fn rtmpdump_for(url: &str, extra: &[&str], secs: u64, out: &Path) -> Probe {
    let rtmpdump = Guard::spawn(
        Command::new("rtmpdump")
            .args(["-q", "-v", "-r", url])
            .args(extra)
            .arg("-o")
            .arg(out)
            .stdin(Stdio::null()),
        "rtmpdump",
    );
    std::thread::sleep(Duration::from_secs(secs));
    rtmpdump.signal("TERM", Duration::from_secs(5));
    ffprobe(out)
}

/// `flashless dump SOURCE… --duration secs -o out`, which must succeed: what it wrote.
pub fn dump_for(source: &[&str], secs: u32, out: &Path) -> Probe {
    let dump = output_of(
        flashless()
            .arg("dump")
            .args(source)
            .args(["-q", "--duration", &secs.to_string(), "-o"])
            .arg(out),
        "flashless dump",
    );
    assert!(
        dump.status.success(),
        "dump of {source:?}: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    ffprobe(out)
}

pub fn flashless() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flashless"))
}

/// `flashless sign` for `args` under `secret`: the signed URLs, one a line.
pub fn signed_urls(secret: &str, args: &[&str]) -> Vec<String> {
    let out = output_of(
        flashless()
            .arg("sign")
            .args(args)
            .env("FLASHLESS_SECRET", secret),
        "flashless sign",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The token of the first URL `flashless sign` gives for `args` under `secret`.
pub fn signed_token(secret: &str, args: &[&str]) -> String {
    let urls = signed_urls(secret, args);
    urls.first()
        .and_then(|url| url.split_once("token="))
        .map(|(_, t)| t.trim().to_owned())
        .expect("a token in the URL")
}

pub fn output_of(cmd: &mut Command, what: &str) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"))
}

/// ffmpeg decodes the whole file: what it says on stderr at `-v error` (nothing, if well).
/// The frames keep the file's time base (`-enc_time_base -1`): in one of the frame
/// rate, two pictures a millisecond apart would be one instant to ffmpeg's muxer.
pub fn decode_errors(file: &Path) -> String {
    let out = output_of(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(file)
            .args(["-enc_time_base", "-1", "-f", "null", "-"]),
        "ffmpeg",
    );
    assert!(out.status.success(), "ffmpeg failed on {}", file.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn ffprobe(file: &Path) -> Probe {
    or_fail(lab::ffprobe(file))
}

/// ffprobe's `codec_name,width,height` line per stream of a file or URL (`h264,320,240`, `aac`).
pub fn ffprobe_streams(input: &str) -> String {
    or_fail(lab::ffprobe_streams(input))
}

/// `flashless serve` on free loopback ports, its log in a file, killed on drop.
pub struct Gateway(lab::Gateway);

impl std::ops::Deref for Gateway {
    type Target = lab::Gateway;

    fn deref(&self) -> &lab::Gateway {
        &self.0
    }
}

impl Gateway {
    pub fn start(extra: &[&str]) -> Gateway {
        Gateway::start_with(extra, &[])
    }

    /// [`Gateway::start`] with `env` in its environment (`FLASHLESS_CA_FILE`, …).
    pub fn start_with(extra: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Gateway {
        let mut cmd = flashless();
        cmd.env("RUST_LOG", "flashless=debug,flashless_gateway=debug,warn");
        cmd.envs(env.iter().copied());
        Gateway(or_fail(lab::Gateway::start(cmd, extra, None)))
    }

    /// On the `(http, rtmp)` ports given: restarted where a balancer looks for it.
    pub fn start_on(ports: (u16, u16), extra: &[&str]) -> Gateway {
        let mut cmd = flashless();
        cmd.env("RUST_LOG", "flashless=debug,flashless_gateway=debug,warn");
        Gateway(or_fail(lab::Gateway::start_on(cmd, ports, extra, None)))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        or_fail(self.0.get(path))
    }

    /// The channel's entry in `/api/channels`.
    pub fn channel(&self, name: &str) -> Option<serde_json::Value> {
        or_fail(self.0.channel(name))
    }

    /// Waits until the channel's upstream delivers media.
    pub fn wait_live(&self, name: &str) {
        or_fail(self.0.wait_live(name, Duration::from_secs(20)))
    }

    /// The gateway's resident memory, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        self.0.rss_kib().unwrap_or(0)
    }

    /// Stops the gateway with `signal` and returns how it exited and how long it took.
    pub fn stop(self, signal: &str) -> (ExitStatus, Duration) {
        or_fail(self.0.stop(signal))
    }

    /// Waits for the gateway to exit by itself: how it exited, how long it took, its log.
    pub fn exit(self, limit: Duration) -> (ExitStatus, Duration, String) {
        or_fail(self.0.exit(limit))
    }

    /// The log once it says `what` (a socket closes a moment before the reason is
    /// logged); fails the test after 5 s.
    pub fn log_saying(&self, what: &str) -> String {
        or_fail(self.0.log_saying(what, Duration::from_secs(5)))
    }

    /// The value of the `/metrics` line that starts with `line_start` (a name, with its
    /// labels if it has any); fails the test if there is none.
    pub fn metric(&self, line_start: &str) -> f64 {
        let (_, text) = self.get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line_start} in /metrics:\n{text}"))
    }

    /// SIGHUP: the gateway applies its configuration file again.
    pub fn hup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("kill -HUP");
        assert!(status.success(), "kill -HUP: {status}");
    }
}

/// A one-shot HTTP/1.0 GET on loopback: status and body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    or_fail(lab::http_get(port, path))
}

/// An RTMP connection past a plain handshake (C0 C1, S0 S1 S2, C2): raw bytes may follow.
pub fn rtmp_after_handshake(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    rtmp_handshake(&mut s);
    s
}

/// C0 C1, S0 S1 S2, C2 on an open connection.
pub fn rtmp_handshake(s: &mut TcpStream) {
    use std::io::{Read, Write};
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut hello = vec![3u8];
    hello.resize(1 + 1536, 0);
    s.write_all(&hello).expect("C0 C1");
    let mut s0s1s2 = vec![0u8; 1 + 2 * 1536];
    s.read_exact(&mut s0s1s2).expect("S0 S1 S2");
    s.write_all(&[0u8; 1536]).expect("C2");
}

/// Runs a `flashless` command that must fail, with every one of `needles` in its error.
pub fn fails_saying(args: &[&str], needles: &[&str]) {
    let out = output_of(flashless().args(args), "flashless");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(
        needles.iter().all(|n| err.contains(n)),
        "{args:?} said: {err}"
    );
}
