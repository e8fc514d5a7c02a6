//! A benchmark's section of `docs/benchmarks.md`: the machine, the versions, how to
//! reproduce, and the medians of the runs side by side. Only the text between the
//! section's markers is replaced; the rest of the file belongs to other benchmarks.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::peers::{CLIENT_CORE, CLIP_ARGS, SERVER_CORE, Server};
use super::{Bench, Plan, RunResult};
use crate::deps::BENCH_NPM_DIR;
use crate::step::probe;

/// Viewer counts at which CPU and memory are compared, where both servers reach them.
const FIXED_N: [usize; 3] = [1000, 5000, 10_000];
/// Other work on the server's core above this share disturbs a run (see the doc's method).
const NOISY_PCT: f64 = 25.0;

/// The machine a benchmark ran on, how busy it was, and the versions measured: the
/// footer of every benchmark's section.
pub struct Machine {
    cores: usize,
    cpu: String,
    date: String,
    load_before: String,
    load_after: String,
    versions: Vec<(String, String)>,
}

impl Machine {
    /// Taken when a benchmark ends: flashless's commit, then `peers`, then ffmpeg.
    pub fn gather(root: &Path, load_before: String, peers: Vec<(String, String)>) -> Machine {
        let mut versions = vec![("flashless".to_owned(), flashless_rev(root))];
        versions.extend(peers);
        versions.push(("ffmpeg".into(), ffmpeg_version()));
        Machine {
            cores: cores(),
            cpu: cpu_model(),
            date: date(),
            load_before,
            load_after: load_average(),
            versions,
        }
    }

    /// The version of `name` measured, or nothing.
    pub fn version(&self, name: &str) -> &str {
        self.versions
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// `Machine: … Date: … Load average …` and `Versions: …`, each on a line.
    pub fn write(&self, s: &mut String) {
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            s,
            "Machine: {} cores, {}. Date: {}. Load average (1, 5, 15 min) before: {}, after: {}.\n\
             Versions: {}.\n",
            self.cores,
            self.cpu,
            self.date,
            self.load_before,
            self.load_after,
            versions.join(", ")
        );
    }
}

pub struct Facts {
    machine: Machine,
    plan: String,
    runs: usize,
}

impl Facts {
    pub fn gather(root: &Path, bench: Bench, plan: &Plan, load_before: String) -> Result<Facts> {
        let mut versions = Vec::new();
        match bench.peer() {
            Some(Server::NodeMedia) => {
                versions.push((
                    "node-media-server".into(),
                    npm_version(root, "node-media-server")?,
                ));
                versions.push((
                    "node".into(),
                    first_line(Command::new("node").arg("--version")),
                ));
            }
            Some(Server::NginxRtmp) => {
                // nginx prints its version on stderr.
                let out = Command::new("nginx")
                    .arg("-v")
                    .output()
                    .context("running nginx -v")?;
                let text = String::from_utf8_lossy(&out.stderr);
                let version = text.trim().trim_start_matches("nginx version: ").to_owned();
                let module = first_line(Command::new("dpkg-query").args([
                    "-W",
                    "-f=${Version}",
                    "libnginx-mod-rtmp",
                ]));
                versions.push(("nginx".into(), version));
                versions.push(("libnginx-mod-rtmp".into(), module));
            }
            Some(Server::Flashless) | None => {}
        }
        Ok(Facts {
            machine: Machine::gather(root, load_before, versions),
            plan: format!(
                "steps {}; each step settles {} s, then is measured for {} s",
                plan.steps
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                plan.settle_s,
                plan.window_s
            ),
            runs: plan.runs,
        })
    }
}

/// The first line a command prints, or nothing if it fails.
pub fn first_line(cmd: &mut Command) -> String {
    probe(cmd)
        .and_then(|o| o.lines().next().map(str::to_owned))
        .unwrap_or_default()
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The processor's model name, from /proc/cpuinfo.
pub fn cpu_model() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_owned(), |(_, m)| m.trim().to_owned())
}

/// Now, to the minute, in UTC.
pub fn date() -> String {
    first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
}

/// The commit measured, and whether the work tree had changes on top of it (outside
/// `docs/`, which an earlier benchmark run may have rewritten).
pub fn flashless_rev(root: &Path) -> String {
    let mut rev = first_line(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(root),
    );
    if probe(
        Command::new("git")
            .args([
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!docs",
            ])
            .current_dir(root),
    )
    .is_some_and(|s| !s.trim().is_empty())
    {
        rev.push_str(" (with uncommitted changes)");
    }
    rev
}

/// The version of a benchmark peer installed from `e2e/bench`'s npm lock.
pub fn npm_version(root: &Path, package: &str) -> Result<String> {
    let manifest = root
        .join(BENCH_NPM_DIR)
        .join("node_modules")
        .join(package)
        .join("package.json");
    let text =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    Ok(json["version"].as_str().unwrap_or("unknown").to_owned())
}

/// `ffmpeg version 5.1.9-0+deb12u1 …` → `5.1.9-0+deb12u1`.
pub fn ffmpeg_version() -> String {
    let line = first_line(Command::new("ffmpeg").arg("-version"));
    line.split_whitespace().nth(2).unwrap_or("").to_owned()
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What one run found, for the progress output.
pub fn one_line(run: &RunResult) -> String {
    let mut line = format!("held {} viewers", run.held());
    if let Some(f) = run.first_failure() {
        let _ = write!(line, "; at {}: {}", f.n, failure(f));
    } else if let Some(reason) = &run.skipped {
        let _ = write!(line, "; stopped: {reason}");
    } else {
        line.push_str(", the largest step: its limit is higher");
    }
    line
}

fn failure(f: &super::StepResult) -> String {
    let mut text = format!(
        "{} failed, {} over 1 s (p99 lag {} ms); server CPU {}, generator CPU {}, others on the server's core {}",
        f.failed,
        f.over_limit,
        f.lag_p99_ms,
        pct(f.server_cpu_pct),
        pct(f.loadgen_cpu_pct),
        pct(f.others_pct)
    );
    if let Some(reason) = &f.reason {
        let _ = write!(text, "; first failure: {reason}");
    }
    text
}

fn pct(v: Option<f64>) -> String {
    v.map_or("?".into(), |v| format!("{v:.0} %"))
}

pub fn median<T: PartialOrd + Copy>(mut values: Vec<T>) -> Option<T> {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get(values.len() / 2).copied()
}

pub fn write(
    doc: &Path,
    bench: Bench,
    facts: &Facts,
    results: &[(Server, Vec<RunResult>)],
) -> Result<()> {
    let old = fs::read_to_string(doc).unwrap_or_else(|_| HEADER.to_owned());
    let new = replace_section(&old, bench.name(), &section(bench, facts, results));
    fs::write(doc, new).with_context(|| format!("writing {}", doc.display()))
}

const HEADER: &str = "# Benchmarks\n\nWritten by `cargo xtask bench`; each section between its markers is \
replaced by the benchmark that owns it. Figures depend on the machine and on what else it was \
doing: compare servers within one section, not across machines.\n";

/// Replaces the text between `<!-- bench:{name}:start -->` and its end marker, or appends it.
pub fn replace_section(doc: &str, name: &str, body: &str) -> String {
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let block = format!("{start}\n{body}{end}");
    match (doc.find(&start), doc.find(&end)) {
        (Some(s), Some(e)) if e > s => format!("{}{block}{}", &doc[..s], &doc[e + end.len()..]),
        _ => format!("{}\n\n{block}\n", doc.trim_end()),
    }
}

fn section(bench: Bench, facts: &Facts, results: &[(Server, Vec<RunResult>)]) -> String {
    let peer = results
        .get(1)
        .map_or("the peer", |(server, _)| server.name());
    let (title, protocol) = match bench {
        Bench::Fanout => ("WS-FLV fan-out: flashless and node-media-server", "WS-FLV"),
        Bench::RtmpFanout => ("RTMP play fan-out: flashless and nginx-rtmp", "RTMP play"),
        Bench::Remux | Bench::Latency | Bench::Longrun => {
            unreachable!("browser benchmarks write their own sections (remux.rs, latency.rs)")
        }
    };
    let mut s = String::new();
    let _ = writeln!(s, "## {title}\n");
    let _ = writeln!(
        s,
        "Target: ≥ 5× {peer}'s viewers per core, memory per viewer in kilobytes.\n"
    );
    let _ = writeln!(
        s,
        "| | flashless | {peer} | flashless / {peer} |\n| --- | --- | --- | --- |"
    );
    let held: Vec<Option<usize>> = results
        .iter()
        .map(|(_, runs)| median(runs.iter().map(RunResult::held).collect()))
        .collect();
    row(
        &mut s,
        "viewers held on one core (median)",
        &held,
        |n| n.to_string(),
        ratio_usize,
    );
    let runs_text: Vec<String> = results
        .iter()
        .map(|(_, runs)| {
            runs.iter()
                .map(|r| r.held().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    let _ = writeln!(
        s,
        "| viewers held, each run | {} | {} | |",
        runs_text[0], runs_text[1]
    );
    let idle: Vec<Option<u64>> = results
        .iter()
        .map(|(_, runs)| median(runs.iter().filter_map(|r| r.idle_rss_kb).collect()))
        .collect();
    row(
        &mut s,
        "RSS with the publisher and no viewers",
        &idle,
        mib,
        ratio_u64,
    );
    for n in FIXED_N {
        let cpu: Vec<Option<f64>> = results
            .iter()
            .map(|(_, runs)| {
                median(
                    runs.iter()
                        .filter_map(|r| r.at(n)?.server_cpu_pct)
                        .collect(),
                )
            })
            .collect();
        if cpu.iter().all(Option::is_none) {
            continue;
        }
        let rss: Vec<Option<u64>> = results
            .iter()
            .map(|(_, runs)| median(runs.iter().filter_map(|r| r.at(n)?.server_rss_kb).collect()))
            .collect();
        let per_viewer: Vec<Option<f64>> = results
            .iter()
            .map(|(_, runs)| {
                median(
                    runs.iter()
                        .filter_map(|r| {
                            Some(
                                (r.at(n)?.server_rss_kb? as f64 - r.idle_rss_kb? as f64) / n as f64,
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        row(
            &mut s,
            &format!("server CPU at {n} viewers"),
            &cpu,
            |v| format!("{v:.0} %"),
            ratio_f64,
        );
        row(&mut s, &format!("RSS at {n} viewers"), &rss, mib, ratio_u64);
        row(
            &mut s,
            &format!("memory per viewer at {n}"),
            &per_viewer,
            |kb| format!("{kb:.0} KB"),
            ratio_f64,
        );
    }
    let _ = writeln!(s, "\nWhere each run stopped:\n");
    for (server, runs) in results {
        for (i, run) in runs.iter().enumerate() {
            let _ = writeln!(s, "- {} run {}: {}", server.name(), i + 1, one_line(run));
        }
    }
    let busy: Vec<f64> = results
        .iter()
        .flat_map(|(_, runs)| runs.iter().filter_map(|r| r.first_failure()?.others_pct))
        .filter(|&p| p > NOISY_PCT)
        .collect();
    if let (Some(lo), Some(hi)) = (
        busy.iter().copied().reduce(f64::min),
        busy.iter().copied().reduce(f64::max),
    ) {
        let _ = writeln!(
            s,
            "\nThe machine was not quiet: in {} of the runs other processes took {lo:.0}–{hi:.0} % of the \
             server's core at the step where the run stopped, so those runs stopped early because of them.",
            busy.len()
        );
    }
    s.push('\n');
    facts.machine.write(&mut s);
    let _ = writeln!(
        s,
        "Reproduce: `cargo xtask bench {}` ({} per server, alternating; `--quick` for one short run).\n",
        bench.name(),
        runs_word(facts.runs)
    );
    let _ = writeln!(
        s,
        "Method: each run starts the server fresh, pinned to core {SERVER_CORE} (`taskset`), and on core \
         {CLIENT_CORE} ffmpeg publishing a clip over RTMP in real time (`-re -stream_loop -1 -c copy`; the clip \
         made once with `ffmpeg {}`: about 1 Mbps) and the load generator (`gateway/examples/loadgen.rs`, one \
         thread) with {protocol} viewers. Every viewer parses every tag with flashless-core, checks whole tags \
         and per-track monotonic timestamps, and measures its lag: its arrival time minus the tag's timestamp, \
         minus the same for a control viewer that joined while the server was idle; so lag is how far behind \
         the live edge it plays. The viewer count steps up ({}); a step holds when no viewer failed and none was \
         more than 1 s behind during the window. CPU is the server's utime + stime over the window \
         (/proc/<pid>/stat), memory its VmRSS at the end of the window; memory per viewer is (RSS at N − RSS \
         with no viewers) / N. \"Others on the server's core\" is the core's busy time not spent in the server: \
         other work on a shared machine, which slows the server.",
        CLIP_ARGS
            .join(" ")
            .replace("-hide_banner -loglevel error -nostdin ", ""),
        facts.plan
    );
    s
}

fn runs_word(n: usize) -> String {
    if n == 1 {
        "1 run".into()
    } else {
        format!("{n} runs")
    }
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn row<T: Copy>(
    s: &mut String,
    label: &str,
    values: &[Option<T>],
    show: impl Fn(T) -> String,
    ratio: impl Fn(T, T) -> String,
) {
    let cell = |v: Option<T>| v.map_or("–".to_owned(), &show);
    let r = match (
        values.first().copied().flatten(),
        values.get(1).copied().flatten(),
    ) {
        (Some(a), Some(b)) => ratio(a, b),
        _ => String::new(),
    };
    let _ = writeln!(
        s,
        "| {label} | {} | {} | {r} |",
        cell(values.first().copied().flatten()),
        cell(values.get(1).copied().flatten())
    );
}

fn ratio_f64(a: f64, b: f64) -> String {
    if b == 0.0 {
        String::new()
    } else {
        format!("{:.2}×", a / b)
    }
}

fn ratio_u64(a: u64, b: u64) -> String {
    ratio_f64(a as f64, b as f64)
}

fn ratio_usize(a: usize, b: usize) -> String {
    ratio_f64(a as f64, b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_its_own_section() {
        let doc = "# B\n\n<!-- bench:other:start -->\nkeep\n<!-- bench:other:end -->\n\
                   <!-- bench:fanout:start -->\nold\n<!-- bench:fanout:end -->\ntail\n";
        let new = replace_section(doc, "fanout", "new\n");
        assert!(new.contains("keep") && new.contains("new\n<!-- bench:fanout:end -->\ntail"));
        assert!(!new.contains("old"));
        let appended = replace_section("# B\n", "rtmp-fanout", "x\n");
        assert_eq!(
            appended,
            "# B\n\n<!-- bench:rtmp-fanout:start -->\nx\n<!-- bench:rtmp-fanout:end -->\n"
        );
    }

    #[test]
    fn median_takes_the_middle_run() {
        assert_eq!(median(vec![5, 1, 3]), Some(3));
        assert_eq!(median(Vec::<u64>::new()), None);
    }
}
