//! The fan-out sections of `docs/benchmarks.md`: the medians of the runs side by side,
//! where each run stopped, the machine and the method.

use std::fmt::Write as _;

use super::{Plan, RunResult, StepResult};
use crate::bench::Bench;
use crate::peers::{CLIENT_CORE, CLIP_ARGS, SERVER_CORE, Server};
use crate::report::{Machine, median, row, table_head};

/// Viewer counts at which CPU, lag and memory are compared, where both servers reach
/// them (2,000: the RTMP play goal of issue #18 is set at 1,000 and 2,000).
const FIXED_N: [usize; 4] = [1000, 2000, 5000, 10_000];
/// Other work on the server's core above this share disturbs a run (see the doc's method).
const NOISY_PCT: f64 = 25.0;

/// What one run found, for the progress output and the list of where runs stopped.
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

fn failure(f: &StepResult) -> String {
    let mut text = format!(
        "{} failed, {} over 1 s, {} missed frames (p99 lag {} ms); server CPU {}, generator CPU {}, others on the server's core {}",
        f.failed,
        f.over_limit,
        f.short,
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

pub fn section(
    bench: Bench,
    plan: &Plan,
    machine: &Machine,
    results: &[(Server, Vec<RunResult>)],
) -> String {
    let peer = results
        .get(1)
        .map_or("the peer", |(server, _)| server.name());
    let (title, protocol) = match bench {
        Bench::RtmpFanout => ("RTMP play fan-out: flashless and nginx-rtmp", "RTMP play"),
        Bench::HttpFanout => (
            "HTTP-FLV fan-out: flashless and node-media-server",
            "HTTP-FLV",
        ),
        _ => ("WS-FLV fan-out: flashless and node-media-server", "WS-FLV"),
    };
    let mut s = String::new();
    let _ = writeln!(s, "## {title}\n");
    let _ = writeln!(
        s,
        "Target: ≥ 5× {peer}'s viewers per core, memory per viewer in kilobytes.\n"
    );
    let ratio_title = format!("flashless / {peer}");
    table_head(&mut s, &["", "flashless", peer, &ratio_title], &[false; 4]);
    // One cell per server: the median over its runs of what `of` takes from a run.
    let medians = |of: &dyn Fn(&RunResult) -> Option<f64>| -> Vec<Option<f64>> {
        results
            .iter()
            .map(|(_, runs)| median(runs.iter().filter_map(of)))
            .collect()
    };
    let held = medians(&|r| Some(r.held() as f64));
    compare(&mut s, "viewers held on one core (median)", &held, |n| {
        format!("{n:.0}")
    });
    let each: Vec<String> = results
        .iter()
        .map(|(_, runs)| {
            runs.iter()
                .map(|r| r.held().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    row(&mut s, &["viewers held, each run", &each[0], &each[1], ""]);
    let idle = medians(&|r| Some(r.idle_rss_kb? as f64));
    compare(&mut s, "RSS with the publisher and no viewers", &idle, mib);
    for n in FIXED_N {
        let cpu = medians(&|r| r.at(n)?.server_cpu_pct);
        if cpu.iter().all(Option::is_none) {
            continue;
        }
        let rss = medians(&|r| Some(r.at(n)?.server_rss_kb? as f64));
        let per_viewer =
            medians(&|r| Some((r.at(n)?.server_rss_kb? as f64 - r.idle_rss_kb? as f64) / n as f64));
        compare(&mut s, &format!("server CPU at {n} viewers"), &cpu, |v| {
            format!("{v:.0} %")
        });
        let lag = medians(&|r| Some(r.at(n)?.lag_p99_ms as f64));
        compare(&mut s, &format!("lag p99 at {n} viewers"), &lag, |ms| {
            format!("{ms:.0} ms")
        });
        compare(&mut s, &format!("RSS at {n} viewers"), &rss, mib);
        compare(
            &mut s,
            &format!("memory per viewer at {n}"),
            &per_viewer,
            |kb| format!("{kb:.0} KB"),
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
    machine.write(&mut s);
    let runs = if plan.runs == 1 {
        "1 run".to_owned()
    } else {
        format!("{} runs", plan.runs)
    };
    let _ = writeln!(
        s,
        "Reproduce: `cargo xtask bench {}` ({runs} per server, alternating; `--quick` for one short run).\n",
        bench.name(),
    );
    let steps: Vec<String> = plan.steps.iter().map(usize::to_string).collect();
    let _ = writeln!(
        s,
        "Method: each run starts the server fresh, pinned to core {SERVER_CORE} (`taskset`), and on core \
         {CLIENT_CORE} ffmpeg publishing a clip over RTMP in real time (`-re -stream_loop -1 -c copy`; the clip \
         made once with `ffmpeg {}`: about 1 Mbps) and the load generator (`lab/src/bin/loadgen.rs`, one \
         thread) with {protocol} viewers. Every viewer parses every tag with flashless-core, checks whole tags \
         and per-track monotonic timestamps, and measures its lag: its arrival time minus the tag's timestamp, \
         minus the same for a control viewer that joined while the server was idle; so lag is how far behind \
         the live edge it plays. The viewer count steps up (steps {}; each step settles {} s, then is measured \
         for {} s); a step holds when no viewer failed, none was \
         more than 1 s behind during the window, and no viewer missed a frame in it (a gap over 100 ms \
         between two frames of a track, or no frame of one of the two tracks; so a server cannot keep up by \
         dropping frames or a track). CPU is the server's utime + stime over the window \
         (/proc/<pid>/stat), memory its VmRSS at the end of the window; memory per viewer is (RSS at N − RSS \
         with no viewers) / N. \"Others on the server's core\" is the core's busy time not spent in the server: \
         other work on a shared machine, which slows the server.",
        CLIP_ARGS
            .join(" ")
            .replace("-hide_banner -loglevel error -nostdin ", ""),
        steps.join(", "),
        plan.settle_s,
        plan.window_s,
    );
    s
}

/// A row of one figure per server and their ratio.
fn compare(s: &mut String, label: &str, values: &[Option<f64>], show: impl Fn(f64) -> String) {
    let (ours, peer) = (
        values.first().copied().flatten(),
        values.get(1).copied().flatten(),
    );
    let cell = |v: Option<f64>| v.map_or("–".to_owned(), &show);
    let ratio = match (ours, peer) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
        _ => String::new(),
    };
    row(s, &[label, &cell(ours), &cell(peer), &ratio]);
}

fn mib(kb: f64) -> String {
    format!("{:.1} MiB", kb / 1024.0)
}
