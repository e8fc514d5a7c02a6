//! `flashless serve` as a peer: on free loopback ports, its log in a file, killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::process::{Guard, TempDir, free_port, rss_kib, wait_for_port};

pub struct Gateway {
    pub http: u16,
    pub rtmp: u16,
    pub log: PathBuf,
    guard: Guard,
    /// The log's directory when the caller gave none; removed with the gateway.
    _dir: Option<TempDir>,
}

impl Gateway {
    /// Runs `flashless` (`base`: the binary, with any environment) as `serve --http …
    /// --rtmp … extra…`, its output in `dir/gateway.log` (a temporary directory
    /// when `dir` is `None`), and waits until it listens.
    pub fn start(base: Command, extra: &[&str], dir: Option<&Path>) -> Result<Gateway> {
        Gateway::start_on(base, (free_port()?, free_port()?), extra, dir)
    }

    /// As [`Gateway::start`], on the `(http, rtmp)` ports given: a gateway restarted
    /// where a load balancer looks for it.
    pub fn start_on(
        mut base: Command,
        (http, rtmp): (u16, u16),
        extra: &[&str],
        dir: Option<&Path>,
    ) -> Result<Gateway> {
        let (temp, dir) = match dir {
            Some(dir) => (None, dir.to_owned()),
            None => {
                let temp = TempDir::new("gateway")?;
                let dir = temp.0.clone();
                (Some(temp), dir)
            }
        };
        let log = dir.join("gateway.log");
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        base.args([
            "serve",
            "--http",
            &format!("127.0.0.1:{http}"),
            "--rtmp",
            &format!("127.0.0.1:{rtmp}"),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
        let guard = Guard::spawn(&mut base, "flashless serve")?;
        wait_for_port(http, "flashless serve (http)")?;
        wait_for_port(rtmp, "flashless serve (rtmp)")?;
        Ok(Gateway {
            http,
            rtmp,
            log,
            guard,
            _dir: temp,
        })
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    pub fn rtmp_url(&self, channel: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{channel}", self.rtmp)
    }

    pub fn http_url(&self, channel: &str) -> String {
        format!("http://127.0.0.1:{}/live/{channel}.flv", self.http)
    }

    pub fn ws_url(&self, channel: &str) -> String {
        format!("ws://127.0.0.1:{}/live/{channel}.flv", self.http)
    }

    /// A GET of `path`: the status and the body.
    pub fn get(&self, path: &str) -> Result<(u16, String)> {
        http_get(self.http, path)
    }

    /// The channel's entry in `/api/channels`.
    pub fn channel(&self, name: &str) -> Result<Option<serde_json::Value>> {
        let (_, body) = self.get("/api/channels")?;
        let list: serde_json::Value =
            serde_json::from_str(&body).context("/api/channels is not JSON")?;
        Ok(list
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == name))
            .cloned())
    }

    /// Waits until the channel's upstream delivers media.
    pub fn wait_live(&self, name: &str, limit: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            let channel = self.channel(name)?;
            if channel.as_ref().is_some_and(|c| c["state"] == "live") {
                return Ok(());
            }
            if started.elapsed() >= limit {
                bail!("channel {name} never went live: {channel:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The gateway's resident memory in KiB, while it runs.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }

    /// Stops the gateway with `signal`: how it exited and how long it took.
    pub fn stop(self, signal: &str) -> Result<(ExitStatus, Duration)> {
        let started = Instant::now();
        let status = self.guard.signal(signal, Duration::from_secs(15))?;
        Ok((status, started.elapsed()))
    }

    /// Waits for the gateway to exit by itself (a drain): how it exited, how long it
    /// took, and its log (whose directory goes with the gateway).
    pub fn exit(self, limit: Duration) -> Result<(ExitStatus, Duration, String)> {
        let started = Instant::now();
        let log = self.log.clone();
        let status = self.guard.wait(limit)?;
        let took = started.elapsed();
        Ok((
            status,
            took,
            std::fs::read_to_string(log).unwrap_or_default(),
        ))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it says `what` (a socket closes a moment before the reason is logged).
    pub fn log_saying(&self, what: &str, limit: Duration) -> Result<String> {
        let started = Instant::now();
        loop {
            let log = self.log_text();
            if log.contains(what) {
                return Ok(log);
            }
            if started.elapsed() >= limit {
                bail!("the log never said {what:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A one-shot HTTP/1.0 GET on loopback `port`: the status and the body.
pub fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")
        .with_context(|| format!("sending GET {path}"))?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .with_context(|| format!("reading the answer to GET {path}"))?;
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
