//! Real peers for integration tests: nginx with the RTMP module, ffmpeg, rtmpdump,
//! ffprobe and the `flashless` binary, on free loopback ports, killed on drop.

#![allow(dead_code)]

pub mod upstream;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, also when it fails.
pub struct Guard {
    pub child: Child,
    name: String,
}

impl Guard {
    pub fn spawn(cmd: &mut Command, name: &str) -> Guard {
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("starting {name}: {e} (run `cargo xtask test` to install it)")
        });
        Guard {
            child,
            name: name.to_owned(),
        }
    }

    /// Waits for the process to exit by itself.
    pub fn wait(mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting") {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "{} did not finish within {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Guard {
    /// Asks the process to stop with `signal` (`TERM`, `INT`…) and waits for it to finish its files.
    pub fn signal(self, signal: &str, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        self.wait(limit)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn wait_for_port(port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what} did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "flashless-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// nginx with the RTMP module, one `live` application, on a free port.
pub struct Nginx {
    pub port: u16,
    _guard: Guard,
    _dir: TempDir,
}

impl Nginx {
    pub fn start(chunk_size: u32) -> Nginx {
        let dir = TempDir::new("nginx");
        let port = free_port();
        let module = [
            "/usr/lib/nginx/modules/ngx_rtmp_module.so",
            "/usr/share/nginx/modules/ngx_rtmp_module.so",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("nginx's RTMP module (Debian package libnginx-mod-rtmp)");
        let conf = format!(
            "load_module {module};\n\
             daemon off;\nmaster_process off;\nworker_processes 1;\n\
             pid {dir}/nginx.pid;\nerror_log {dir}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size {chunk_size};\n\
               application live {{ live on; record off; }} }} }}\n",
            dir = dir.0.display()
        );
        let conf_path = dir.path("nginx.conf");
        std::fs::write(&conf_path, conf).expect("writing nginx.conf");
        let guard = Guard::spawn(
            Command::new("nginx")
                .arg("-e")
                .arg(dir.path("error.log"))
                .arg("-p")
                .arg(&dir.0)
                .arg("-c")
                .arg(&conf_path),
            "nginx",
        );
        wait_for_port(port, "nginx");
        Nginx {
            port,
            _guard: guard,
            _dir: dir,
        }
    }
}

/// ffmpeg publishing a generated H.264 + AAC stream in real time.
pub fn ffmpeg_publish(url: &str, extra_output_args: &[&str]) -> Guard {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "64k"])
        .args(extra_output_args)
        .args(["-f", "flv", url])
        .stdin(Stdio::null());
    Guard::spawn(&mut cmd, "ffmpeg")
}

pub fn flashless() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flashless"))
}

pub fn output_of(cmd: &mut Command, what: &str) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"))
}

/// What ffprobe says of a media file.
#[derive(Debug)]
pub struct Probe {
    pub codecs: Vec<String>,
    pub duration: f64,
}

pub fn ffprobe(file: &Path) -> Probe {
    let out = output_of(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name:format=duration",
                "-of",
                "default=nw=1",
            ])
            .arg(file),
        "ffprobe",
    );
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |line: &str, key: &str| line.strip_prefix(key).map(str::to_owned);
    Probe {
        codecs: text
            .lines()
            .filter_map(|l| value(l, "codec_name="))
            .collect(),
        duration: text
            .lines()
            .find_map(|l| value(l, "duration="))
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
    }
}

/// `flashless serve` on free loopback ports, its log in a file, killed on drop.
pub struct Gateway {
    pub http: u16,
    pub rtmp: u16,
    pub log: PathBuf,
    _guard: Guard,
    _dir: TempDir,
}

impl Gateway {
    pub fn start(extra: &[&str]) -> Gateway {
        let dir = TempDir::new("gateway");
        let (http, rtmp) = (free_port(), free_port());
        let log = dir.path("gateway.log");
        let log_file = std::fs::File::create(&log).expect("creating the gateway log");
        let guard = Guard::spawn(
            flashless()
                .args([
                    "serve",
                    "--http",
                    &format!("127.0.0.1:{http}"),
                    "--rtmp",
                    &format!("127.0.0.1:{rtmp}"),
                ])
                .args(extra)
                .env("RUST_LOG", "flashless=debug,flashless_gateway=debug,warn")
                .stdin(Stdio::null())
                .stderr(log_file),
            "flashless serve",
        );
        wait_for_port(http, "flashless serve (http)");
        wait_for_port(rtmp, "flashless serve (rtmp)");
        Gateway {
            http,
            rtmp,
            log,
            _guard: guard,
            _dir: dir,
        }
    }

    pub fn rtmp_url(&self, channel: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{channel}", self.rtmp)
    }

    pub fn http_url(&self, channel: &str) -> String {
        format!("http://127.0.0.1:{}/live/{channel}.flv", self.http)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path)
    }

    /// The channel's entry in `/api/channels`.
    pub fn channel(&self, name: &str) -> Option<serde_json::Value> {
        let (_, body) = self.get("/api/channels");
        let list: serde_json::Value = serde_json::from_str(&body).expect("/api/channels is JSON");
        list.as_array()?.iter().find(|c| c["name"] == name).cloned()
    }

    /// Waits until the channel's upstream delivers media.
    pub fn wait_live(&self, name: &str) {
        let start = Instant::now();
        while self.channel(name).is_none_or(|c| c["state"] != "live") {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "channel {name} never went live: {:?}",
                self.channel(name)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The gateway's resident memory, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self._guard.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Stops the gateway with `signal` and returns how it exited and how long it took.
    pub fn stop(self, signal: &str) -> (std::process::ExitStatus, Duration) {
        let start = Instant::now();
        let status = self._guard.signal(signal, Duration::from_secs(15));
        (status, start.elapsed())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it says `what` (a socket closes a moment before the reason is
    /// logged); fails the test after 5 s.
    pub fn log_saying(&self, what: &str) -> String {
        let start = Instant::now();
        loop {
            let log = self.log_text();
            if log.contains(what) {
                return log;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the log never said {what:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A one-shot HTTP/1.0 GET on loopback: status and body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting to the gateway");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").expect("sending a request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("reading a response");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// ffprobe's `codec_name,width,height` line per stream of a file or URL (`h264,320,240`, `aac`).
pub fn ffprobe_streams(input: &str) -> String {
    let out = output_of(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "csv=p=0",
            ])
            .arg(input),
        "ffprobe",
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An RTMP connection past a plain handshake (C0 C1, S0 S1 S2, C2): raw bytes may follow.
pub fn rtmp_after_handshake(port: u16) -> TcpStream {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut hello = vec![3u8];
    hello.resize(1 + 1536, 0);
    s.write_all(&hello).expect("C0 C1");
    let mut s0s1s2 = vec![0u8; 1 + 2 * 1536];
    s.read_exact(&mut s0s1s2).expect("S0 S1 S2");
    s.write_all(&[0u8; 1536]).expect("C2");
    s
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
