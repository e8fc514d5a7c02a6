//! Fan-out load generator for `cargo xtask bench` and `soak`: N viewers of one live
//! channel over WS-FLV (`ws://host:port/live/name.flv`), HTTP-FLV (`http://…/live/name.flv`)
//! or RTMP play (`rtmp://host:port/live/name`),
//! all on one thread, each parsing and checking every tag.
//!
//! N steps up (`--steps`); after each step settles, a window measures every viewer's
//! lag and the server's CPU and memory, and prints one JSON line. Stepping stops at the
//! first step where a viewer failed or fell more than `--max-lag-ms` behind.
//!
//! Lag: a control viewer joins first, while the server is idle, and its smallest
//! `arrival - timestamp` (the load generator's clock minus the tag's media time) is the
//! idle delay. A viewer's lag is then how much later than that it receives a tag:
//! `arrival - timestamp - idle delay`, i.e. how far behind the live edge it plays. The
//! publisher's timeline is the same for every player (checked: flashless,
//! node-media-server and nginx-rtmp all pass it through), so one control serves all.

// The crate root is this file, so its module is found by path.
#[path = "loadgen/viewer.rs"]
mod viewer;
#[path = "loadgen/websocket.rs"]
mod websocket;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde::Serialize;

use viewer::{BASE_DELAY, CONNECTING, FAILED, LIVE, Stats, Target};

#[derive(Parser)]
struct Args {
    /// ws://host:port/live/<name>.flv, http://host:port/live/<name>.flv or rtmp://host:port/live/<name>
    url: String,
    /// Viewer counts to step through.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "250,500,1000,2000,5000,10000"
    )]
    steps: Vec<usize>,
    /// Seconds after a step's viewers are all playing before measuring.
    #[arg(long, default_value_t = 3)]
    settle: u64,
    /// Seconds each step is measured.
    #[arg(long, default_value_t = 8)]
    window: u64,
    /// A viewer further behind the live edge than this fails the step.
    #[arg(long, default_value_t = 1000)]
    max_lag_ms: i64,
    /// The server process, for its CPU and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The core the server is pinned to: how busy it was with other processes tells
    /// how much the figures are disturbed.
    #[arg(long)]
    server_core: Option<usize>,
    /// New connections per second while stepping up.
    #[arg(long, default_value_t = 1000)]
    ramp: usize,
    /// Seconds to wait for the channel to go live.
    #[arg(long, default_value_t = 30)]
    wait_live: u64,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Report {
    Baseline {
        base_delay_ms: i64,
        server_rss_kb: Option<u64>,
        fd_limit: usize,
    },
    Step(Step),
    Skip {
        n: usize,
        reason: String,
    },
}

#[derive(Serialize)]
struct Step {
    n: usize,
    ok: bool,
    live: usize,
    failed: usize,
    over_limit: usize,
    /// Viewers that missed frames in the window (a gap in a track's timestamps,
    /// [`viewer::MAX_GAP_MS`], or no frame at all of one of the clip's two tracks): a
    /// server that keeps lag low by dropping frames, or a whole track, fails the step.
    short: usize,
    lag_p50_ms: i64,
    lag_p99_ms: i64,
    lag_max_ms: i64,
    /// Coded tags all viewers received per second in the window.
    tags_per_s: f64,
    server_cpu_pct: Option<f64>,
    server_rss_kb: Option<u64>,
    loadgen_cpu_pct: Option<f64>,
    /// How busy the server's core was with anything but the server.
    others_on_server_core_pct: Option<f64>,
    /// The most common failure reasons, with counts.
    reasons: Vec<(String, usize)>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let target = if args.url.starts_with("rtmp://") {
        Target::Rtmp(Arc::new(
            flashless_core::rtmp::url::parse(&args.url).context("bad rtmp url")?,
        ))
    } else if args.url.starts_with("ws://") {
        Target::Ws(args.url.clone())
    } else if let Some(rest) = args.url.strip_prefix("http://") {
        let (authority, path) = rest
            .split_once('/')
            .context("expected http://host:port/path")?;
        let (host, port) = authority
            .rsplit_once(':')
            .context("expected a port in the http:// url")?;
        Target::Http {
            host: host.to_owned(),
            port: port.parse().context("bad port in the http:// url")?,
            path: format!("/{path}"),
        }
    } else {
        bail!("expected a ws://, http:// or rtmp:// url, got {}", args.url);
    };
    // One thread: the benchmark pins the generator to one core, and a single-threaded
    // runtime lets every viewer share one receive buffer.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(drive(args, target))
}

async fn drive(args: Args, target: Target) -> Result<()> {
    let fd_limit = open_files_limit().unwrap_or(1024);
    let control = start_control(&target, Duration::from_secs(args.wait_live)).await?;
    // The smallest delay over a few seconds of playing: past the start-up burst of the GOP.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let base = control.min_delay.load(Relaxed);
    BASE_DELAY.store(base, Relaxed);
    let proc = args.server_pid.map(Proc);
    emit(&Report::Baseline {
        base_delay_ms: base,
        server_rss_kb: proc.as_ref().and_then(Proc::rss_kb),
        fd_limit,
    });
    let mut viewers = vec![control];
    for &n in &args.steps {
        // The generator's own sockets plus stdio and the runtime's descriptors.
        if n + 64 > fd_limit {
            emit(&Report::Skip {
                n,
                reason: format!("the open-files limit is {fd_limit}"),
            });
            break;
        }
        grow(&mut viewers, n, &target, args.ramp).await;
        wait_started(&viewers).await;
        tokio::time::sleep(Duration::from_secs(args.settle)).await;
        let step = measure(&viewers, &args, proc.as_ref()).await;
        let ok = step.ok;
        emit(&Report::Step(step));
        if !ok {
            break;
        }
    }
    Ok(())
}

/// The control viewer, retried until the channel is live (the publisher may still be starting).
async fn start_control(target: &Target, limit: Duration) -> Result<Arc<Stats>> {
    let started = Instant::now();
    loop {
        let stats = Arc::new(Stats::new());
        tokio::spawn(viewer::run(target.clone(), stats.clone()));
        while stats.state.load(Relaxed) == CONNECTING {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if stats.state.load(Relaxed) == LIVE {
            return Ok(stats);
        }
        if started.elapsed() > limit {
            let reason = stats.reason.lock().ok().and_then(|r| r.clone());
            bail!(
                "the channel did not go live within {limit:?}: {}",
                reason.unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn grow(viewers: &mut Vec<Arc<Stats>>, n: usize, target: &Target, ramp: usize) {
    const TICK: Duration = Duration::from_millis(20);
    let per_tick = (ramp / 50).max(1);
    while viewers.len() < n {
        for _ in 0..per_tick.min(n - viewers.len()) {
            let stats = Arc::new(Stats::new());
            tokio::spawn(viewer::run(target.clone(), stats.clone()));
            viewers.push(stats);
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Until every viewer plays or failed; each bounds its own start with a timeout.
async fn wait_started(viewers: &[Arc<Stats>]) {
    while viewers.iter().any(|v| v.state.load(Relaxed) == CONNECTING) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn measure(viewers: &[Arc<Stats>], args: &Args, proc: Option<&Proc>) -> Step {
    for v in viewers {
        v.max_lag.store(0, Relaxed);
    }
    let tags_before: u64 = viewers.iter().map(|v| v.tags.load(Relaxed)).sum();
    // Per viewer: gaps, coded tags, video tags.
    let counts = |v: &Stats| {
        (
            v.gaps.load(Relaxed),
            v.tags.load(Relaxed),
            v.video_tags.load(Relaxed),
        )
    };
    let before: Vec<(u64, u64, u64)> = viewers.iter().map(|v| counts(v)).collect();
    let core_busy = || args.server_core.and_then(core_busy_ticks);
    let cpu_before = (
        proc.and_then(Proc::cpu_ticks),
        Proc::own_ticks(),
        core_busy(),
    );
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.window)).await;
    let wall = started.elapsed().as_secs_f64();
    let cpu_after = (
        proc.and_then(Proc::cpu_ticks),
        Proc::own_ticks(),
        core_busy(),
    );
    let tags_after: u64 = viewers.iter().map(|v| v.tags.load(Relaxed)).sum();
    let base = BASE_DELAY.load(Relaxed);
    let mut lags = Vec::with_capacity(viewers.len());
    let mut failed = 0;
    let mut reasons: Vec<(String, usize)> = Vec::new();
    let mut short = 0;
    for (v, &(gaps, tags, video)) in viewers.iter().zip(&before) {
        let (gaps_now, tags_now, video_now) = counts(v);
        let video_in_window = video_now.saturating_sub(video);
        let audio_in_window = tags_now
            .saturating_sub(tags)
            .saturating_sub(video_in_window);
        let failed_now = v.state.load(Relaxed) == FAILED;
        if !failed_now && (gaps_now > gaps || video_in_window == 0 || audio_in_window == 0) {
            short += 1;
        }
        if failed_now {
            failed += 1;
            let reason = v
                .reason
                .lock()
                .ok()
                .and_then(|r| r.clone())
                .unwrap_or_default();
            match reasons.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, count)) => *count += 1,
                None => reasons.push((reason, 1)),
            }
        } else {
            lags.push(v.lag_now(base));
        }
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    reasons.truncate(3);
    lags.sort_unstable();
    let pick = |q: f64| {
        let i = ((lags.len() as f64 - 1.0) * q).round() as usize;
        lags.get(i).copied().unwrap_or(0)
    };
    let over_limit = lags.iter().filter(|&&l| l > args.max_lag_ms).count();
    let pct = |before: Option<u64>, after: Option<u64>| {
        Some((after? - before?) as f64 / CLOCK_TICKS_PER_S / wall * 100.0)
    };
    Step {
        n: viewers.len(),
        ok: failed == 0 && over_limit == 0 && short == 0,
        live: lags.len(),
        failed,
        over_limit,
        short,
        lag_p50_ms: pick(0.5),
        lag_p99_ms: pick(0.99),
        lag_max_ms: lags.last().copied().unwrap_or(0),
        tags_per_s: tags_after.saturating_sub(tags_before) as f64 / wall,
        server_cpu_pct: pct(cpu_before.0, cpu_after.0),
        server_rss_kb: proc.and_then(Proc::rss_kb),
        loadgen_cpu_pct: pct(cpu_before.1, cpu_after.1),
        others_on_server_core_pct: pct(cpu_before.2, cpu_after.2)
            .zip(pct(cpu_before.0, cpu_after.0))
            .map(|(core, server)| (core - server).max(0.0)),
        reasons,
    }
}

fn emit(report: &Report) {
    if let Ok(line) = serde_json::to_string(report) {
        println!("{line}");
    }
}

/// USER_HZ: the unit of /proc/<pid>/stat's utime and stime, 100 on every Linux the
/// benchmark targets (x86-64, aarch64).
const CLOCK_TICKS_PER_S: f64 = 100.0;

struct Proc(u32);

impl Proc {
    /// utime + stime from /proc/<pid>/stat (proc(5)), the fields after the command name.
    fn cpu_ticks(&self) -> Option<u64> {
        ticks(&std::fs::read_to_string(format!("/proc/{}/stat", self.0)).ok()?)
    }

    fn own_ticks() -> Option<u64> {
        ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
    }

    fn rss_kb(&self) -> Option<u64> {
        flashless_lab::peers::rss_kib(self.0)
    }
}

fn ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses; the fields follow the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line (utime, stime) are 11 and 12 after the state field.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Busy ticks of one core from /proc/stat: user, nice, system, irq, softirq, steal.
fn core_busy_ticks(core: usize) -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{core}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    Some(
        [0, 1, 2, 5, 6, 7]
            .iter()
            .filter_map(|&i| fields.get(i))
            .sum(),
    )
}

/// The soft "Max open files" limit: each viewer holds one descriptor.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
