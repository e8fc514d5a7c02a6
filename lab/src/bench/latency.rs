//! `lab bench latency`, `bench longrun` and `bench engines` (`cargo xtask bench …`): source-to-screen
//! latency of a live channel in Chromium (engines: also in Firefox and WebKitGTK), and the time
//! to its first frame.
//!
//! A publisher ([`publisher`]) stamps every picture with the wall-clock time it
//! was made ([`stamp`]); ffmpeg encodes and publishes it to the server under test; a page in
//! Chromium reads the stamp of each frame it presents (`lab/browser/probe.js`) and
//! the difference is the latency. The server and the publisher share one core, the
//! browser has the other, as a viewer on another machine would.

mod doc;
mod publisher;
mod reference;
pub mod stamp;
pub mod stats;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Args, Bench};
use crate::peers::{self, CLIENT_CORE, Guard, Server};
use crate::report::{self, Machine, Peer};
use crate::{NPM_DIR, step};
use stats::Report;

/// A player page and the server it reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// The gateway's own page, `/watch/<channel>`, as a viewer opens it.
    FlashlessPage,
    /// mpegts.js with its latency chasing on, reading node-media-server's WS-FLV.
    MpegtsNodeMedia,
    /// The same mpegts.js page reading the flashless gateway's WS-FLV.
    MpegtsFlashless,
    /// The npm package in a page as bare as mpegts.js's, reading the gateway: the
    /// player's own time to first frame, without the gateway page's.
    PackageFlashless,
    /// The same bare page with `renderer: 'webcodecs'`: WebCodecs onto a canvas.
    WebCodecsFlashless,
    /// The same bare page in Firefox ESR (the browser tests' engine, over WebDriver BiDi).
    PackageFirefox,
    /// The same bare page in WebKitGTK's MiniBrowser (over WebKitWebDriver, on Xvfb).
    PackageWebKit,
    /// hls.js in low-latency mode reading the gateway's LL-HLS.
    HlsJsFlashless,
}

impl Setup {
    pub fn title(self) -> &'static str {
        match self {
            Setup::FlashlessPage => "flashless page + gateway",
            Setup::MpegtsNodeMedia => "mpegts.js + node-media-server",
            Setup::MpegtsFlashless => "mpegts.js + flashless gateway",
            Setup::PackageFlashless => "flashless package, bare page + gateway",
            Setup::WebCodecsFlashless => "flashless package, WebCodecs + gateway",
            Setup::PackageFirefox => "package in Firefox ESR",
            Setup::PackageWebKit => "package in WebKitGTK",
            Setup::HlsJsFlashless => "hls.js (LL-HLS) + flashless gateway",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Setup::FlashlessPage => "flashless",
            Setup::MpegtsNodeMedia => "mpegts-nms",
            Setup::MpegtsFlashless => "mpegts-flashless",
            Setup::PackageFlashless => "package-flashless",
            Setup::WebCodecsFlashless => "webcodecs-flashless",
            Setup::PackageFirefox => "package-firefox",
            Setup::PackageWebKit => "package-webkit",
            Setup::HlsJsFlashless => "hlsjs-flashless",
        }
    }

    pub fn server(self) -> Server {
        match self {
            Setup::MpegtsNodeMedia => Server::NodeMedia,
            Setup::FlashlessPage
            | Setup::MpegtsFlashless
            | Setup::PackageFlashless
            | Setup::WebCodecsFlashless
            | Setup::PackageFirefox
            | Setup::PackageWebKit
            | Setup::HlsJsFlashless => Server::Flashless,
        }
    }

    fn player(self) -> &'static str {
        match self {
            Setup::FlashlessPage => "flashless",
            Setup::MpegtsNodeMedia | Setup::MpegtsFlashless => "mpegts",
            Setup::PackageFlashless | Setup::PackageFirefox | Setup::PackageWebKit => "package",
            Setup::WebCodecsFlashless => "webcodecs",
            Setup::HlsJsFlashless => "hlsjs",
        }
    }

    /// The browser engine of `e2e/engines.mjs` the page plays in.
    fn engine(self) -> &'static str {
        match self {
            Setup::PackageFirefox => "firefox",
            Setup::PackageWebKit => "webkit",
            _ => "chromium",
        }
    }
}

/// How long and how often; derived from the benchmark and its options.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub setups: Vec<Setup>,
    /// Playback measured per setup.
    pub seconds: u64,
    /// Fresh browsers opened before the measured one, each to time its first frame
    /// and play `session_s`: a player's latency can depend on where in the GOP it
    /// joined, and one long session joins once.
    pub cold_starts: usize,
    pub session_s: u64,
    pub memory_every_s: u64,
    /// The first and last windows whose medians give the drift.
    pub drift_window_s: f64,
    /// Slices with a median each (the long run's table).
    pub slice_s: f64,
    /// The command that runs this plan.
    pub command: String,
}

impl Plan {
    pub fn of(bench: Bench, args: &Args) -> Plan {
        let long = bench == Bench::Longrun;
        let engines = bench == Bench::Engines;
        let hls = bench == Bench::Hls;
        let default_minutes = match (long, args.quick) {
            // A short run each, beside Chromium's.
            (false, false) if engines => 1.0,
            (false, false) if hls => 2.0,
            (false, false) => 5.0,
            (false, true) => 0.5,
            (true, false) => 30.0,
            (true, true) => 2.0,
        };
        let seconds = (args.minutes.unwrap_or(default_minutes) * 60.0).round() as u64;
        let mut command = format!("cargo xtask bench {}", bench.name());
        if args.quick {
            command.push_str(" --quick");
        }
        if let Some(m) = args.minutes {
            command.push_str(&format!(" --minutes {m}"));
        }
        let span = seconds as f64;
        Plan {
            setups: if long {
                vec![Setup::FlashlessPage, Setup::WebCodecsFlashless]
            } else if hls {
                vec![Setup::FlashlessPage, Setup::HlsJsFlashless]
            } else if engines {
                vec![
                    Setup::PackageFlashless,
                    Setup::PackageFirefox,
                    Setup::PackageWebKit,
                ]
            } else {
                vec![
                    Setup::FlashlessPage,
                    Setup::MpegtsNodeMedia,
                    Setup::MpegtsFlashless,
                    Setup::PackageFlashless,
                    Setup::WebCodecsFlashless,
                ]
            },
            seconds,
            cold_starts: match (long, args.quick) {
                (true, _) => 0,
                (false, true) => 2,
                (false, false) => 5,
            },
            session_s: if args.quick { 5 } else { 10 },
            memory_every_s: if args.quick { 10 } else { 60 },
            drift_window_s: (span / 4.0).min(60.0),
            slice_s: if long && span >= 1800.0 {
                300.0
            } else {
                (span / 6.0).max(1.0)
            },
            command,
        }
    }

    /// Keeps the setups named by `slugs` (all when empty); a name that is not one of
    /// this plan's setups is an error naming those it has.
    fn keep_only(&mut self, slugs: &[String]) -> Result<()> {
        if let Some(unknown) = slugs
            .iter()
            .find(|o| !self.setups.iter().any(|s| s.slug() == o.as_str()))
        {
            let known: Vec<&str> = self.setups.iter().map(|s| s.slug()).collect();
            bail!("no setup `{unknown}` here (it has {})", known.join(", "));
        }
        if !slugs.is_empty() {
            self.setups.retain(|s| slugs.iter().any(|o| o == s.slug()));
        }
        Ok(())
    }
}

/// One setup's run: what the browser reported and how the publisher kept time.
pub struct Outcome {
    pub setup: Setup,
    pub report: Report,
    pub pacing: publisher::Pacing,
    /// ffmpeg reading the same server meanwhile: the floor under the page's latency.
    pub reference: reference::Frames,
}

/// Measures; `cargo xtask bench` has built the npm package the pages play through
/// and installed playwright-core, which drives Chromium.
pub fn run(root: &Path, bench: Bench, args: &Args) -> Result<()> {
    let mut plan = Plan::of(bench, args);
    plan.keep_only(&args.only)
        .with_context(|| format!("`cargo xtask bench {} --only`", bench.name()))?;
    let load_before = report::load_average();
    let mut outcomes = Vec::new();
    for &setup in &plan.setups {
        let name = format!("{} {} ({} s)", bench.name(), setup.title(), plan.seconds);
        let outcome = step(&name, || run_setup(root, bench, setup, &plan))?;
        println!("    {}", doc::one_line(&outcome, &plan));
        outcomes.push(outcome);
    }
    let peers = if bench == Bench::Hls {
        vec![
            Peer::Named("hls.js", hls_js_version(root)),
            Peer::Chromium,
            Peer::Node,
        ]
    } else if bench == Bench::Engines {
        vec![
            Peer::Chromium,
            Peer::Named("Firefox ESR", engine_version("firefox-esr")),
            Peer::Named("WebKitGTK", engine_version("libwebkit2gtk-4.1-0")),
            Peer::Node,
        ]
    } else {
        vec![
            Peer::Npm("mpegts.js"),
            Peer::Npm("node-media-server"),
            Peer::Chromium,
            Peer::Node,
        ]
    };
    if !args.only.is_empty() {
        // Its section compares every setup; a cut run would leave holes in it.
        println!("    docs/benchmarks.md not written: a run cut by --only");
        return Ok(());
    }
    let machine = Machine::gather(root, load_before, &peers);
    let body = doc::section(bench, &plan, &machine, &outcomes);
    super::write_doc(root, bench.name(), &body)
}

fn run_setup(root: &Path, bench: Bench, setup: Setup, plan: &Plan) -> Result<Outcome> {
    let dir = run_dir(root, bench, setup);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let running = peers::start(setup.server(), root, &dir)?;
    let publisher = publisher::Publisher::start(&running.publish_url, &dir)?;
    let http = http_origin(&running.ws_url)?;
    // The channel is live before the first navigation: the time to first frame is
    // the player's, not the encoder's start.
    wait_live(&http, Duration::from_secs(20))
        .with_context(|| format!("the channel never went live (logs in {})", dir.display()))?;
    let config = serde_json::json!({
        "player": setup.player(),
        "engine": setup.engine(),
        "gateway": http,
        "stream": running.ws_url,
        "seconds": plan.seconds,
        "coldStarts": plan.cold_starts,
        "sessionSeconds": plan.session_s,
        "memoryEvery": plan.memory_every_s,
    });
    let reference = reference::Reference::start(
        &format!("{http}/live/bench.flv"),
        &dir.join("reference.log"),
    )?;
    let out_path = dir.join("browser.jsonl");
    let mut cmd = browser_side(root, "latency.mjs", &config, &dir)?;
    let per_start = 40 + plan.session_s;
    let limit = Duration::from_secs(plan.seconds + per_start * plan.cold_starts as u64 + 120);
    let waited = Guard::spawn(&mut cmd, "the browser side (node latency.mjs)")?.wait(limit);
    let reference = reference.stop();
    // Beside the browser's frames, so a run's latencies can be read side by side in time.
    let rows: Vec<[f64; 3]> = reference
        .frames
        .iter()
        .map(|f| [f.shown, f.stamped, f64::from(f.seq)])
        .collect();
    std::fs::write(dir.join("reference.json"), serde_json::to_string(&rows)?)?;
    let pacing = publisher.stop();
    drop(running);
    let log = std::fs::read_to_string(dir.join("browser.log")).unwrap_or_default();
    waited.with_context(|| format!("the browser side: {log}"))?;
    let report = Report::parse(&std::fs::read_to_string(&out_path)?)?;
    if report.frames.is_empty() || report.end.is_none() {
        bail!(
            "the browser side measured nothing (logs in {}): {log}",
            dir.display()
        );
    }
    Ok(Outcome {
        setup,
        report,
        pacing,
        reference,
    })
}

/// `node lab/browser/<script> <config>` on the client core, its JSON lines into
/// `dir/browser.jsonl` and its log into `dir/browser.log`.
pub(super) fn browser_side(
    root: &Path,
    script: &str,
    config: &serde_json::Value,
    dir: &Path,
) -> Result<std::process::Command> {
    let script = root.join(NPM_DIR).join(script);
    let mut cmd = peers::pinned(
        CLIENT_CORE,
        Path::new("node"),
        &[script.display().to_string(), config.to_string()],
    );
    cmd.stdout(std::fs::File::create(dir.join("browser.jsonl"))?)
        .stderr(std::fs::File::create(dir.join("browser.log"))?);
    Ok(cmd)
}

/// hls.js as `e2e/package.json` pins it and `npm ci` installed it ("?" when absent).
fn hls_js_version(root: &Path) -> String {
    std::fs::read_to_string(root.join("e2e/node_modules/hls.js/package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// The installed version of a Debian package, as dpkg has it ("?" when it cannot say).
fn engine_version(package: &str) -> String {
    std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".into())
}

/// `http://host:port` of a `ws://host:port/…` URL.
pub(super) fn http_origin(ws_url: &str) -> Result<String> {
    let rest = ws_url
        .strip_prefix("ws://")
        .with_context(|| format!("not a ws:// URL: {ws_url}"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    Ok(format!("http://{host}"))
}

/// Waits until the server sends media for the channel over HTTP-FLV: the FLV
/// header, the sequence headers, and some kilobytes of frames.
pub(super) fn wait_live(http: &str, limit: Duration) -> Result<()> {
    let host = http.trim_start_matches("http://");
    let started = Instant::now();
    let mut last_error = String::new();
    while started.elapsed() < limit {
        match read_some(host, 16 << 10) {
            Ok(()) => return Ok(()),
            Err(e) => last_error = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!("no media after {limit:?}: {last_error}")
}

fn read_some(host: &str, want: usize) -> Result<()> {
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(
        s,
        "GET /live/bench.flv HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut got = Vec::new();
    let mut buf = [0u8; 16 << 10];
    while got.len() < want {
        let n = s.read(&mut buf)?;
        if n == 0 {
            let head = String::from_utf8_lossy(&got[..got.len().min(80)]).into_owned();
            bail!("the server closed after {} bytes: {head:?}", got.len());
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// Where one setup's logs and the browser's lines are kept.
fn run_dir(root: &Path, bench: Bench, setup: Setup) -> PathBuf {
    root.join("target/bench")
        .join(bench.name())
        .join(setup.slug())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(quick: bool, minutes: Option<f64>) -> Args {
        Args {
            benches: vec![Bench::Latency],
            quick,
            runs: None,
            minutes,
            only: Vec::new(),
            profile: false,
            skip_deps: false,
            verbose: false,
        }
    }

    #[test]
    fn only_keeps_the_setups_named_and_refuses_others() {
        let mut plan = Plan::of(Bench::Latency, &args(true, None));
        plan.keep_only(&[]).unwrap();
        assert_eq!(plan.setups.len(), 5);
        let names = ["package-flashless".to_string(), "flashless".to_string()];
        plan.keep_only(&names).unwrap();
        assert_eq!(
            plan.setups,
            [Setup::FlashlessPage, Setup::PackageFlashless],
            "in the plan's order"
        );
        let err = plan.keep_only(&["webkit".to_string()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no setup `webkit` here (it has flashless, package-flashless)"
        );
        let mut engines = Plan::of(Bench::Engines, &args(true, None));
        assert!(engines.keep_only(&["package-webkit".to_string()]).is_ok());
        assert_eq!(engines.setups, [Setup::PackageWebKit]);
    }

    #[test]
    fn plans_follow_the_benchmark_and_its_options() {
        let full = Plan::of(Bench::Latency, &args(false, None));
        assert_eq!(full.seconds, 300);
        assert_eq!(full.setups.len(), 5);
        assert_eq!(full.drift_window_s, 60.0);
        assert_eq!(full.cold_starts, 5);
        let quick = Plan::of(Bench::Latency, &args(true, None));
        assert_eq!(quick.seconds, 30);
        assert_eq!(quick.drift_window_s, 7.5);
        let hls = Plan::of(Bench::Hls, &args(false, None));
        assert_eq!(
            hls.setups,
            vec![Setup::FlashlessPage, Setup::HlsJsFlashless]
        );
        assert_eq!(hls.seconds, 120);
        let long = Plan::of(Bench::Longrun, &args(false, None));
        assert_eq!((long.seconds, long.slice_s), (1800, 300.0));
        assert_eq!(
            long.setups,
            vec![Setup::FlashlessPage, Setup::WebCodecsFlashless]
        );
        let short = Plan::of(Bench::Longrun, &args(true, Some(1.0)));
        assert_eq!(short.seconds, 60);
        assert_eq!(
            short.command,
            "cargo xtask bench longrun --quick --minutes 1"
        );
    }

    #[test]
    fn http_origin_of_a_ws_url() {
        assert_eq!(
            http_origin("ws://127.0.0.1:8000/live/bench.flv").unwrap(),
            "http://127.0.0.1:8000"
        );
        assert!(http_origin("http://x/").is_err());
    }
}
