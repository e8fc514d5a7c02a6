//! `lab soak --minutes N` (`cargo xtask soak`): a live channel pulled from an nginx-rtmp origin
//! that is restarted every few minutes, viewers churning in rounds, and the gateway's
//! memory, open files, viewer lag and errors sampled over time into
//! `docs/reliability.md`.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench::fanout::{RunResult, StepResult};
use crate::peers::{self, Gateway, Guard, Server};
use crate::report::{self, row, table_head};
use crate::step;

pub struct Args {
    pub minutes: f64,
    /// Minutes between origin restarts.
    pub restart_every: f64,
    /// Viewers in each churn round.
    pub viewers: usize,
    pub verbose: bool,
}

impl Args {
    pub fn parse(args: &[String]) -> Result<Args> {
        let mut parsed = Args {
            minutes: 60.0,
            restart_every: 3.0,
            viewers: 300,
            verbose: false,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut number = |what: &str| -> Result<f64> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .with_context(|| format!("{what} takes a number"))
            };
            match arg.as_str() {
                "--minutes" => parsed.minutes = number("--minutes")?,
                "--restart-every" => parsed.restart_every = number("--restart-every")?,
                "--viewers" => parsed.viewers = number("--viewers")? as usize,
                "-v" | "--verbose" => parsed.verbose = true,
                other => bail!(
                    "unknown option `{other}` for `cargo xtask soak` (see `cargo xtask help`)"
                ),
            }
        }
        Ok(parsed)
    }
}

/// One churn round: who watched, how far behind, and the gateway's state after it.
struct Sample {
    minute: f64,
    viewers: usize,
    failed: u64,
    lag_p99_ms: i64,
    rss_kib: u64,
    open_files: usize,
    upstream_sessions: u64,
    dropped: u64,
    origin_restarts: u32,
}

/// Runs the soak; `cargo xtask soak` has installed the peers and built the release
/// binaries.
pub fn run(root: &Path, args: &Args) -> Result<()> {
    let clip = step("clip", || peers::clip(root))?;
    let dir = root.join("target/soak");
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    fs::create_dir_all(&dir)?;
    let (origin_http, origin_rtmp) = (peers::free_port()?, peers::free_port()?);
    let start_origin = || -> Result<(peers::Running, Guard)> {
        let origin = peers::start_on(
            Server::NginxRtmp,
            root,
            &dir.join("origin"),
            origin_http,
            origin_rtmp,
        )?;
        let publisher = peers::publish_clip(&clip, &origin.publish_url, &dir.join("ffmpeg.log"))?;
        Ok((origin, publisher))
    };
    let mut origin = Some(start_origin()?);
    let gateway = start_gateway(&dir, origin_rtmp)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.minutes * 60.0);
    let mut last_restart = Instant::now();
    let mut restarts = 0;
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        if last_restart.elapsed().as_secs_f64() >= args.restart_every * 60.0 {
            // Kill the origin and its publisher, then bring both back on the same port.
            drop(origin.take());
            std::thread::sleep(Duration::from_secs(2));
            origin = Some(start_origin()?);
            last_restart = Instant::now();
            restarts += 1;
        }
        let round = churn(&dir, &gateway, args.viewers)?;
        let metrics = gateway
            .get("/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default();
        let sample = Sample {
            minute: started.elapsed().as_secs_f64() / 60.0,
            viewers: args.viewers,
            failed: round.as_ref().map_or(args.viewers as u64, |r| r.failed),
            lag_p99_ms: round.as_ref().map_or(-1, |r| r.lag_p99_ms),
            rss_kib: gateway.rss_kib().unwrap_or(0),
            open_files: fs::read_dir(format!("/proc/{}/fd", gateway.pid()))
                .map_or(0, |d| d.count()),
            upstream_sessions: metric(
                &metrics,
                "flashless_upstream_sessions_total{channel=\"soak\"}",
            ),
            dropped: metric(&metrics, "flashless_dropped_tags_total{channel=\"soak\"}"),
            origin_restarts: restarts,
        };
        println!(
            "    {:5.1} min: rss {} KiB, {} open files, p99 lag {} ms, {} failed, {} upstream sessions",
            sample.minute,
            sample.rss_kib,
            sample.open_files,
            sample.lag_p99_ms,
            sample.failed,
            sample.upstream_sessions
        );
        samples.push(sample);
    }
    step("write docs/reliability.md (soak)", || {
        write(root, args, &samples)
    })
}

/// The gateway pulling the channel from the origin, its log in `dir`.
fn start_gateway(dir: &Path, origin_rtmp: u16) -> Result<Gateway> {
    let channel = format!("soak=rtmp://127.0.0.1:{origin_rtmp}/live/bench live=1");
    Gateway::start(
        Command::new(peers::release_dir()?.join("flashless")),
        &[
            "--no-demo",
            "--connections-per-ip",
            "100000",
            "--channel",
            &channel,
        ],
        Some(dir),
    )
}

/// `viewers` join, play for a while and leave; `None` when the round measured nothing.
fn churn(dir: &Path, gateway: &Gateway, viewers: usize) -> Result<Option<StepResult>> {
    let out_path = dir.join("loadgen.jsonl");
    let args: Vec<String> = vec![
        gateway.ws_url("soak"),
        "--steps".into(),
        viewers.to_string(),
        "--settle".into(),
        "3".into(),
        "--window".into(),
        "20".into(),
        // Record the lag; the soak judges it afterwards instead of stopping.
        "--max-lag-ms".into(),
        "600000".into(),
        "--wait-live".into(),
        "60".into(),
    ];
    let mut cmd = Command::new(peers::release_dir()?.join("loadgen"));
    cmd.args(&args)
        .stdout(fs::File::create(&out_path)?)
        .stderr(fs::File::create(dir.join("loadgen.log"))?)
        .stdin(std::process::Stdio::null());
    // A round that fails (the origin just restarted) is a sample too, not the end.
    let _ = Guard::spawn(&mut cmd, "the load generator")?.wait(Duration::from_secs(120));
    let out = fs::read_to_string(&out_path).unwrap_or_default();
    Ok(RunResult::parse(&out)
        .ok()
        .and_then(|r| r.steps.into_iter().next()))
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn write(root: &Path, args: &Args, samples: &[Sample]) -> Result<()> {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:.0} minutes (load average before: {}; `cargo xtask soak --minutes {} --restart-every {} --viewers {}`). The gateway pulls \
         a ~1 Mbit/s channel from nginx-rtmp, which is killed and restarted with its publisher every {} minutes; \
         in rounds, {} WS-FLV viewers join, play 20 s and leave. Each row is one round.\n",
        args.minutes,
        report::load_average(),
        args.minutes,
        args.restart_every,
        args.viewers,
        args.restart_every,
        args.viewers,
    );
    table_head(
        &mut s,
        &[
            "minute",
            "origin restarts",
            "viewers",
            "failed",
            "p99 lag (ms)",
            "RSS (KiB)",
            "open files",
            "upstream sessions",
            "tags dropped",
        ],
        &[true; 9],
    );
    for x in samples {
        row(
            &mut s,
            &[
                format!("{:.1}", x.minute),
                x.origin_restarts.to_string(),
                x.viewers.to_string(),
                x.failed.to_string(),
                x.lag_p99_ms.to_string(),
                x.rss_kib.to_string(),
                x.open_files.to_string(),
                x.upstream_sessions.to_string(),
                x.dropped.to_string(),
            ],
        );
    }
    report::write_section(&root.join("docs/reliability.md"), "", "soak", &s)
}
