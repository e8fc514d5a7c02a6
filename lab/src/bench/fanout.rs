//! `lab bench fanout|http-fanout|rtmp-fanout`: one live channel, viewers (WS-FLV,
//! HTTP-FLV or RTMP play) stepping up until the server cannot hold them, for flashless
//! and its peer on the same machine in the same run. The server runs pinned to one core; the publisher and the load generator
//! (`src/bin/loadgen.rs`) share the other.

mod doc;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Args, Bench};
use crate::peers::{self, CLIENT_CORE, Guard, SERVER_CORE, Server};
use crate::report::{self, Machine, Peer};

/// How much of the machine's time one benchmark takes.
pub struct Plan {
    pub runs: usize,
    pub steps: Vec<usize>,
    pub settle_s: u64,
    pub window_s: u64,
}

impl Plan {
    fn of(args: &Args) -> Plan {
        if args.quick {
            return Plan {
                runs: args.runs.unwrap_or(1),
                steps: vec![1000, 2000],
                settle_s: 2,
                window_s: 4,
            };
        }
        Plan {
            runs: args.runs.unwrap_or(3),
            steps: vec![250, 500, 1000, 2000, 3000, 5000, 7500, 10_000],
            settle_s: 3,
            window_s: 6,
        }
    }

    /// A bound on one load generator run: every step at the slowest ramp, and margin.
    fn limit(&self) -> Duration {
        let per_step = self.settle_s + self.window_s + 40;
        Duration::from_secs(60 + per_step * self.steps.len() as u64)
    }
}

/// One step of one run, as the load generator reported it.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub n: usize,
    pub ok: bool,
    pub over_limit: u64,
    /// Viewers that missed frames (a gap in a track's timestamps).
    pub short: u64,
    pub failed: u64,
    pub lag_p99_ms: i64,
    pub server_cpu_pct: Option<f64>,
    pub server_rss_kb: Option<u64>,
    pub loadgen_cpu_pct: Option<f64>,
    pub others_pct: Option<f64>,
    pub reason: Option<String>,
}

/// One run of the load generator against one server.
#[derive(Debug, Default, Clone)]
pub struct RunResult {
    pub idle_rss_kb: Option<u64>,
    pub steps: Vec<StepResult>,
    /// Why stepping stopped before a failure (the open-files limit).
    pub skipped: Option<String>,
}

impl RunResult {
    /// The most viewers held with none failed or more than the limit behind.
    pub fn held(&self) -> usize {
        self.steps
            .iter()
            .take_while(|s| s.ok)
            .map(|s| s.n)
            .last()
            .unwrap_or(0)
    }

    pub fn at(&self, n: usize) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.n == n && s.ok)
    }

    pub fn first_failure(&self) -> Option<&StepResult> {
        self.steps.iter().find(|s| !s.ok)
    }

    pub fn parse(jsonl: &str) -> Result<RunResult> {
        let mut run = RunResult::default();
        for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("load generator said {line:?}"))?;
            let u = |k: &str| v[k].as_u64();
            let f = |k: &str| v[k].as_f64();
            match v["kind"].as_str() {
                Some("baseline") => run.idle_rss_kb = u("server_rss_kb"),
                Some("skip") => run.skipped = v["reason"].as_str().map(str::to_owned),
                Some("step") => run.steps.push(StepResult {
                    n: u("n").unwrap_or(0) as usize,
                    ok: v["ok"].as_bool().unwrap_or(false),
                    over_limit: u("over_limit").unwrap_or(0),
                    short: u("short").unwrap_or(0),
                    failed: u("failed").unwrap_or(0),
                    lag_p99_ms: v["lag_p99_ms"].as_i64().unwrap_or(0),
                    server_cpu_pct: f("server_cpu_pct"),
                    server_rss_kb: u("server_rss_kb"),
                    loadgen_cpu_pct: f("loadgen_cpu_pct"),
                    others_pct: f("others_on_server_core_pct"),
                    reason: v["reasons"][0][0].as_str().map(str::to_owned),
                }),
                _ => bail!("unexpected load generator line {line:?}"),
            }
        }
        Ok(run)
    }
}

/// The load-generator benchmarks in `benches`, each flashless against its peer.
pub fn run(root: &Path, benches: &[Bench], args: &Args) -> Result<()> {
    let clip = crate::step("clip", || peers::clip(root))?;
    if std::thread::available_parallelism().map_or(1, |n| n.get()) <= CLIENT_CORE {
        bail!(
            "the benchmarks pin the server to core {SERVER_CORE} and the load to core {CLIENT_CORE}: they need two cores"
        );
    }
    let plan = Plan::of(args);
    for &bench in benches {
        let peer = bench
            .peer()
            .with_context(|| format!("the {} benchmark has no peer", bench.name()))?;
        let load_before = report::load_average();
        let mut results: Vec<(Server, Vec<RunResult>)> =
            vec![(Server::Flashless, Vec::new()), (peer, Vec::new())];
        for i in 1..=plan.runs {
            // Alternating servers spreads whatever else the machine does over both.
            for (server, runs) in &mut results {
                let name = format!("{} {} run {i}/{}", bench.name(), server.name(), plan.runs);
                let run = crate::step(&name, || run_once(root, bench, *server, &plan, &clip))?;
                println!("    {}", doc::one_line(&run));
                runs.push(run);
            }
        }
        let peers = match peer {
            Server::NodeMedia => vec![Peer::Npm("node-media-server"), Peer::Node],
            Server::NginxRtmp => vec![Peer::Nginx],
            Server::Flashless => Vec::new(),
        };
        let machine = Machine::gather(root, load_before, &peers);
        let body = doc::section(bench, &plan, &machine, &results);
        super::write_doc(root, bench.name(), &body)?;
    }
    Ok(())
}

fn run_once(
    root: &Path,
    bench: Bench,
    server: Server,
    plan: &Plan,
    clip: &Path,
) -> Result<RunResult> {
    let dir = run_dir(root, server)?;
    let running = peers::start(server, root, &dir)?;
    let _publisher = peers::publish_clip(clip, &running.publish_url, &dir.join("ffmpeg.log"))?;
    let url = match bench {
        Bench::RtmpFanout => &running.rtmp_play_url,
        Bench::Payload
        | Bench::Remux
        | Bench::Latency
        | Bench::Longrun
        | Bench::Corpus
        | Bench::Engines
        | Bench::Hls
        | Bench::PageCpu => {
            bail!("the {} benchmark runs no load generator", bench.name())
        }
        Bench::Fanout => &running.ws_url,
        Bench::HttpFanout => &running.http_flv_url,
    };
    let steps: Vec<String> = plan.steps.iter().map(usize::to_string).collect();
    let args = vec![
        url.clone(),
        "--steps".into(),
        steps.join(","),
        "--settle".into(),
        plan.settle_s.to_string(),
        "--window".into(),
        plan.window_s.to_string(),
        "--server-pid".into(),
        running.guard.pid().to_string(),
        "--server-core".into(),
        SERVER_CORE.to_string(),
    ];
    let out_path = dir.join("loadgen.jsonl");
    let mut cmd = peers::pinned(CLIENT_CORE, &peers::release_dir()?.join("loadgen"), &args);
    cmd.stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(dir.join("loadgen.log"))?);
    Guard::spawn(&mut cmd, "the load generator")?
        .wait(plan.limit())
        .context("the load generator")?;
    let out = std::fs::read_to_string(&out_path)?;
    let run = RunResult::parse(&out)?;
    if run.steps.is_empty() {
        let log = std::fs::read_to_string(dir.join("loadgen.log")).unwrap_or_default();
        bail!(
            "the load generator measured nothing (logs in {}): {log}",
            dir.display()
        );
    }
    Ok(run)
}

/// A fresh directory for one run's configuration and logs, kept for a look afterwards.
fn run_dir(root: &Path, server: Server) -> Result<PathBuf> {
    let dir = root.join("target/bench").join(server.name());
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_holds_the_last_step_before_the_first_failure() {
        let jsonl = r#"{"kind":"baseline","base_delay_ms":-3,"server_rss_kb":7000,"fd_limit":20000}
{"kind":"step","n":500,"ok":true,"live":500,"failed":0,"over_limit":0,"lag_p99_ms":60,"server_cpu_pct":20.0,"server_rss_kb":9000,"reasons":[]}
{"kind":"step","n":1000,"ok":false,"live":990,"failed":10,"over_limit":3,"lag_p99_ms":1600,"server_cpu_pct":99.0,"server_rss_kb":12000,"reasons":[["connect: refused",10]]}
"#;
        let run = RunResult::parse(jsonl).unwrap();
        assert_eq!(run.idle_rss_kb, Some(7000));
        assert_eq!(run.held(), 500);
        assert_eq!(run.at(500).and_then(|s| s.server_rss_kb), Some(9000));
        assert!(run.at(1000).is_none());
        let failure = run.first_failure().unwrap();
        assert_eq!(failure.reason.as_deref(), Some("connect: refused"));
        assert!(RunResult::parse("not json").is_err());
    }
}
