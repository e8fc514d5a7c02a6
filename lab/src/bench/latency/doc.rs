//! The latency and long-run sections of `docs/benchmarks.md`.

use std::fmt::Write as _;

use super::stats;
use super::{Outcome, Plan, Setup, publisher, stamp};
use crate::bench::Bench;
use crate::peers::{CLIENT_CORE, SERVER_CORE};
use crate::report::{Machine, median, percentile, row, table_head};

/// The goals of issue #7, next to the figures.
const GOAL_P50_MS: f64 = 300.0;
const GOAL_RATIO: f64 = 0.5;
const GOAL_TTFF_MS: f64 = 300.0;
const GOAL_DRIFT_MS: f64 = 100.0;
/// Issue #16: LL-HLS in hls.js.
const GOAL_HLS_P50_MS: f64 = 2000.0;
/// Issue #17: the page's script time per minute against mpegts.js's on the same stream.
const GOAL_CPU_RATIO: f64 = 0.5;
/// A page's CPU counts only if it read this share of the frames it should have.
const CPU_MIN_SHARE: f64 = 0.9;

/// The steps to a first frame, in order, as the probe and the navigation name them.
const STEPS: &[(&str, &str)] = &[
    ("responseEnd", "page received"),
    ("domContentLoaded", "DOMContentLoaded"),
    ("wsCreated", "WebSocket created"),
    ("wsOpen", "WebSocket open"),
    ("wsFirstMessage", "first WebSocket message"),
    ("addSourceBuffer", "first SourceBuffer added"),
    ("firstAppend", "first append"),
    ("firstUpdateEnd", "first append done"),
    ("loadedmetadata", "loadedmetadata"),
    ("seeking", "first seek"),
    ("seeked", "first seek done"),
    ("playing", "playing"),
    ("firstFrame", "first frame presented"),
];

fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.0} ms"))
}

fn signed_ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:+.0} ms"))
}

fn mib(kb: Option<f64>) -> String {
    kb.map_or("–".into(), |kb| format!("{:.1} MiB", kb / 1024.0))
}

fn bytes_mib(b: Option<f64>) -> String {
    mib(b.map(|b| b / 1024.0))
}

/// What one setup measured, for the progress output.
pub fn one_line(o: &Outcome, plan: &Plan) -> String {
    let r = &o.report;
    let lat = r.latencies();
    let ttff = r.first_frames();
    let end = r.end.clone().unwrap_or_default();
    format!(
        "latency p50 {}, p99 {}, drift {}, fresh sessions {}; first frame {} (median of {}); {} frames read, {} unreadable, {} lost; {} seeks, {} stalls; reference p50 / p99 {}",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0)),
        signed_ms(r.drift(plan.drift_window_s)),
        ms(median(r.session_latencies())),
        ms(median(ttff.iter().copied())),
        ttff.len(),
        r.frames.len(),
        end.unreadable,
        r.lost(),
        end.seeks,
        end.waits,
        reference(o),
    )
}

pub fn section(bench: Bench, plan: &Plan, machine: &Machine, outcomes: &[Outcome]) -> String {
    let mut s = match bench {
        Bench::Longrun => longrun(plan, outcomes),
        Bench::Engines => engines(plan, outcomes),
        Bench::Hls => hls(plan, outcomes),
        _ => latency(plan, outcomes),
    };
    if bench == Bench::Engines {
        engines_footer(&mut s, plan, machine);
    } else if bench == Bench::Hls {
        hls_footer(&mut s, plan, machine);
    } else {
        footer(&mut s, plan, machine, outcomes);
    }
    s
}

fn latency(plan: &Plan, outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Latency: source to screen, and time to first frame\n\n\
         Goals: latency p50 ≤ {GOAL_P50_MS:.0} ms and under {GOAL_RATIO}× mpegts.js + node-media-server's; \
         time to first frame ≤ {GOAL_TTFF_MS:.0} ms; drift < {GOAL_DRIFT_MS:.0} ms (over 30 minutes in \
         the long run below).\n"
    );
    let titles: Vec<&str> = outcomes.iter().map(|o| o.setup.title()).collect();
    let head: Vec<&str> = [""]
        .into_iter()
        .chain(titles.iter().copied())
        .chain(["goal"])
        .collect();
    table_head(&mut s, &head, &vec![false; head.len()]);
    let mut line = |label: &str, cell: &dyn Fn(&Outcome) -> String, goal: &str| {
        let cells: Vec<String> = [label.to_owned()]
            .into_iter()
            .chain(outcomes.iter().map(cell))
            .chain([goal.to_owned()])
            .collect();
        row(&mut s, &cells);
    };
    let p = |o: &Outcome, q| percentile(&o.report.latencies(), q);
    line(
        "latency p50",
        &|o| ms(p(o, 50.0)),
        &format!("≤ {GOAL_P50_MS:.0} ms"),
    );
    line("latency p99", &|o| ms(p(o, 99.0)), "");
    line(
        &format!(
            "latency p50 of {} fresh browsers, {} s each: median",
            plan.cold_starts, plan.session_s
        ),
        &|o| ms(median(o.report.session_latencies())),
        "",
    );
    line(
        "… each (a player's latency can hang on where in the GOP it joined)",
        &|o| {
            let each: Vec<String> = o
                .report
                .session_latencies()
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect();
            format!("{} ms", each.join(", "))
        },
        "",
    );
    let window = plan.drift_window_s;
    line(
        &format!("drift: median of the last {window:.0} s − of the first {window:.0} s"),
        &|o| signed_ms(o.report.drift(window)),
        &format!("< {GOAL_DRIFT_MS:.0} ms"),
    );
    line(
        "time to first frame, median",
        &|o| ms(median(o.report.first_frames())),
        &format!("≤ {GOAL_TTFF_MS:.0} ms"),
    );
    line(
        "time to first frame, each fresh browser",
        &|o| {
            let each: Vec<String> = o
                .report
                .first_frames()
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect();
            format!("{} ms", each.join(", "))
        },
        "",
    );
    line(
        "frames presented / read / unreadable / lost",
        &|o| {
            let end = o.report.end.clone().unwrap_or_default();
            format!(
                "{} / {} / {} / {}",
                end.presented,
                o.report.frames.len(),
                end.unreadable,
                o.report.lost()
            )
        },
        "",
    );
    line(
        "seeks / stalls (`waiting`) / dropped frames",
        &|o| {
            let end = o.report.end.clone().unwrap_or_default();
            format!("{} / {} / {}", end.seeks, end.waits, end.dropped)
        },
        "",
    );
    let cpu = |o: &Outcome| o.report.cpu_per_minute(stamp::FPS as f64, CPU_MIN_SHARE);
    line(
        "page CPU per minute of playback: script / all tasks (main thread)",
        &|o| {
            cpu(o).map_or("–".into(), |(script, task)| {
                format!("{script:.2} s / {task:.2} s")
            })
        },
        &format!("script ≤ {GOAL_CPU_RATIO}× mpegts.js's"),
    );
    line(REFERENCE_ROW, &reference, "");
    let of = |setup, f: &dyn Fn(&Outcome) -> Option<f64>| {
        outcomes.iter().find(|o| o.setup == setup).and_then(f)
    };
    let ratio = |f: &dyn Fn(&Outcome) -> Option<f64>| match (
        of(Setup::FlashlessPage, f),
        of(Setup::MpegtsNodeMedia, f),
    ) {
        (Some(ours), Some(peer)) if peer > 0.0 => format!("{:.2}×", ours / peer),
        _ => "–".into(),
    };
    let _ = writeln!(
        s,
        "\nflashless page / mpegts.js + node-media-server, latency p50: {} over the measured session, \
         {} over the fresh browsers' medians (goal < {GOAL_RATIO}×).",
        ratio(&|o| p(o, 50.0)),
        ratio(&|o| median(o.report.session_latencies())),
    );
    // The same stream through the same gateway: player against player.
    let versus = |ours: Setup, f: &dyn Fn(&Outcome) -> Option<f64>| match (
        of(ours, f),
        of(Setup::MpegtsFlashless, f),
    ) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    };
    let script = |o: &Outcome| cpu(o).map(|c| c.0);
    let task = |o: &Outcome| cpu(o).map(|c| c.1);
    let ttff = |o: &Outcome| median(o.report.first_frames());
    let _ = writeln!(
        s,
        "\nAgainst mpegts.js + flashless gateway (the same stream from the same server), the bare \
         package page's script time is {} (goal ≤ {GOAL_CPU_RATIO}×), its task time {}, its time to \
         first frame {}; the flashless page's: {}, {}, {}.",
        versus(Setup::PackageFlashless, &script),
        versus(Setup::PackageFlashless, &task),
        versus(Setup::PackageFlashless, &ttff),
        versus(Setup::FlashlessPage, &script),
        versus(Setup::FlashlessPage, &task),
        versus(Setup::FlashlessPage, &ttff),
    );
    let _ = writeln!(
        s,
        "\nWhere the time to first frame goes: ms from navigation start to each step, median of the fresh browsers.\n"
    );
    let head: Vec<&str> = ["step"].into_iter().chain(titles.iter().copied()).collect();
    let right: Vec<bool> = head.iter().enumerate().map(|(i, _)| i > 0).collect();
    table_head(&mut s, &head, &right);
    for (key, label) in STEPS {
        let cells: Vec<String> = [label.to_string()]
            .into_iter()
            .chain(
                outcomes
                    .iter()
                    .map(|o| ms(median(o.report.starts.iter().filter_map(|st| st.mark(key))))),
            )
            .collect();
        row(&mut s, &cells);
    }
    s
}

/// Low-Latency HLS in hls.js beside the gateway's page over WS-FLV, in one run.
fn hls(plan: &Plan, outcomes: &[Outcome]) -> String {
    let mut s = format!(
        "## Low-Latency HLS: hls.js beside the WS-FLV page, source to screen\n\n\
         The gateway's LL-HLS (`/live/<channel>/index.m3u8`, 2 s segments of parts of at most \
         0.333 s, shared evenly: 0.32 and 0.28 s at 25 fps, `PART-HOLD-BACK` 0.96 s) played by hls.js with `lowLatencyMode: true` and `maxLiveSyncPlaybackRate: 1.5` \
         (its catch-up by playback rate, off by default; `lab/browser/hlsjs.html`), beside the gateway's own page over WS-FLV, the same \
         stamped source in the same run. Goal: hls.js latency p50 ≤ {:.0} ms.\n\n",
        GOAL_HLS_P50_MS
    );
    side_by_side(&mut s, plan, outcomes);
    let hls = outcomes.iter().find(|o| o.setup == Setup::HlsJsFlashless);
    let fresh = hls.and_then(|o| median(o.report.session_latencies()));
    let measured = hls.and_then(|o| percentile(&o.report.latencies(), 50.0));
    let goal = |v: Option<f64>| met(v.map(|v| v <= GOAL_HLS_P50_MS));
    let _ = writeln!(
        s,
        "\nhls.js latency p50: {} over the fresh pages' medians ({}), {} over the measured page \
         ({}); goal ≤ {GOAL_HLS_P50_MS:.0} ms.",
        ms(fresh),
        goal(fresh),
        ms(measured),
        goal(measured),
    );
    s
}

fn hls_footer(s: &mut String, plan: &Plan, machine: &Machine) {
    s.push('\n');
    machine.write(s);
    let _ = writeln!(
        s,
        "Reproduce: `{}` (`--minutes N` for N minutes of playback per setup, `--quick` for a short run).\n",
        plan.command
    );
    let _ = writeln!(
        s,
        "Method: the latency section's (the stamped publisher, the probe reading each presented \
         frame's stamp, the server on core {SERVER_CORE}, Chromium and node on core {CLIENT_CORE}, \
         the ffmpeg reference), with {cold} fresh pages playing {session} s each, then the measured \
         page, {seconds} s, per player. hls.js's latency is the playlist's part hold-back, the part \
         being cut (a segment's pictures shared out between as few parts of at most 0.333 s as \
         hold them) and its request, \
         on top of what the WS-FLV page has.",
        cold = plan.cold_starts,
        session = plan.session_s,
        seconds = plan.seconds,
    );
}

/// The package's bare page in each engine: a short run each, for latency and the
/// time to first frame, beside Chromium's.
fn engines(plan: &Plan, outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Latency and time to first frame in three engines\n\n\
         The npm package's bare page (`lab/browser/flashless.html`) reading the gateway's WS-FLV, \
         in each engine the browser tests play in (`e2e/engines.mjs`): Chromium (playwright-core), \
         Firefox ESR (puppeteer-core over WebDriver BiDi, headless), WebKitGTK's MiniBrowser \
         (WebKitWebDriver, on Xvfb; the probe is put first in the page by the bench's site, as \
         WebDriver cannot add a script before the page's own). Each page runs in a fresh browser. \
         Goals as in the latency section: p50 ≤ {GOAL_P50_MS:.0} ms, first frame ≤ {GOAL_TTFF_MS:.0} ms.\n"
    );
    side_by_side(&mut s, plan, outcomes);
    s
}

/// One column per setup: latency, first frames, frames and stalls, the reference.
fn side_by_side(s: &mut String, plan: &Plan, outcomes: &[Outcome]) {
    let head: Vec<&str> = [""]
        .into_iter()
        .chain(outcomes.iter().map(|o| o.setup.title()))
        .collect();
    table_head(s, &head, &vec![false; head.len()]);
    let mut line = |label: &str, cell: &dyn Fn(&Outcome) -> String| {
        let cells: Vec<String> = [label.to_owned()]
            .into_iter()
            .chain(outcomes.iter().map(cell))
            .collect();
        row(s, &cells);
    };
    let p = |o: &Outcome, q| percentile(&o.report.latencies(), q);
    let each = |values: Vec<f64>| {
        let each: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
        format!("{} ms", each.join(", "))
    };
    line(
        &format!("latency p50, measured page ({} s)", plan.seconds),
        &|o| ms(p(o, 50.0)),
    );
    line("latency p99", &|o| ms(p(o, 99.0)));
    line(
        &format!(
            "latency p50 of {} fresh browsers, {} s each",
            plan.cold_starts, plan.session_s
        ),
        &|o| each(o.report.session_latencies()),
    );
    line("time to first frame, median", &|o| {
        ms(median(o.report.first_frames()))
    });
    line("time to first frame, each fresh browser", &|o| {
        each(o.report.first_frames())
    });
    line("frames read / unreadable / lost", &|o| {
        let end = o.report.end.clone().unwrap_or_default();
        format!(
            "{} / {} / {}",
            o.report.frames.len(),
            end.unreadable,
            o.report.lost()
        )
    });
    line("seeks / stalls (`waiting`)", &|o| {
        let end = o.report.end.clone().unwrap_or_default();
        format!("{} / {}", end.seeks, end.waits)
    });
    line(REFERENCE_ROW, &reference);
}

const REFERENCE_ROW: &str = "reference: ffmpeg decoding the server's HTTP-FLV, p50 / p99";

/// The reference's latency beside a setup's: its p50 and p99 over the same run.
fn reference(o: &Outcome) -> String {
    let lat = o.reference.latencies();
    format!(
        "{} / {}",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0))
    )
}

fn longrun(plan: &Plan, outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let minutes = plan.seconds as f64 / 60.0;
    let _ = writeln!(
        s,
        "## Long run: {minutes:.0} minutes of the flashless page, and of the WebCodecs renderer\n\n\
         Goals: drift < {GOAL_DRIFT_MS:.0} ms over 30 minutes; the page's memory flat.\n"
    );
    for o in outcomes {
        let _ = writeln!(s, "### {}\n", o.setup.title());
        longrun_setup(&mut s, plan, &o.report);
    }
    s
}

/// One setup's table by slices of the run, and the whole run in a sentence.
fn longrun_setup(s: &mut String, plan: &Plan, r: &stats::Report) {
    table_head(
        s,
        &[
            "minutes",
            "latency p50",
            "JS heap",
            "renderer, private",
            "renderer RSS",
        ],
        &[false, true, true, true, true],
    );
    let slice = plan.slice_s;
    for (at, p50) in r.slices(slice) {
        // The memory sample nearest the slice's end.
        let end = at + slice;
        let mem = r
            .memory
            .iter()
            .min_by(|a, b| (a.at_s - end).abs().total_cmp(&(b.at_s - end).abs()));
        row(
            s,
            &[
                format!(
                    "{:.1}–{:.1}",
                    at / 60.0,
                    (end / 60.0).min(r.span_s() / 60.0)
                ),
                ms(Some(p50)),
                bytes_mib(mem.and_then(|m| m.js_heap)),
                mib(mem.and_then(|m| m.renderer_anon_kb)),
                mib(mem.and_then(|m| m.renderer_rss_kb)),
            ],
        );
    }
    let window = plan.drift_window_s;
    let lat = r.latencies();
    let drift = r.drift(window);
    let (first, last) = (r.memory.first(), r.memory.last());
    let pair = |f: &dyn Fn(&stats::Memory) -> String| {
        format!(
            "{} → {}",
            first.map_or("–".into(), f),
            last.map_or("–".into(), f)
        )
    };
    let end = r.end.clone().unwrap_or_default();
    let _ = writeln!(
        s,
        "\nOver the whole run: latency p50 {}, p99 {}; drift (median of the last {window:.0} s − of the \
         first {window:.0} s) {} (goal < {GOAL_DRIFT_MS:.0} ms: {}). From start to end, after a forced \
         garbage collection each: JS heap {}, renderer private memory {}, renderer RSS {}, DOM nodes {}, \
         event listeners {}. \
         {} frames read, {} unreadable, {} lost; {} seeks, {} stalls.",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0)),
        signed_ms(drift),
        met(drift.map(|d| d.abs() < GOAL_DRIFT_MS)),
        pair(&|m| bytes_mib(m.js_heap)),
        pair(&|m| mib(m.renderer_anon_kb)),
        pair(&|m| mib(m.renderer_rss_kb)),
        pair(&|m| m.nodes.map_or("–".into(), |v| format!("{v:.0}"))),
        pair(&|m| m.listeners.map_or("–".into(), |v| format!("{v:.0}"))),
        r.frames.len(),
        end.unreadable,
        r.lost(),
        end.seeks,
        end.waits,
    );
}

/// The engines' run is the latency benchmark's method with other browsers: only what differs.
fn engines_footer(s: &mut String, plan: &Plan, machine: &Machine) {
    s.push('\n');
    machine.write(s);
    let _ = writeln!(
        s,
        "Reproduce: `{}` (`--minutes N` for N minutes of playback per setup, `--quick` for a short run).\n",
        plan.command
    );
    let _ = writeln!(
        s,
        "Method: the latency section's (the stamped publisher, the probe reading each presented \
         frame's stamp, the server on core {SERVER_CORE}, the browser and node on core {CLIENT_CORE}, \
         the ffmpeg reference), in the bare page only, with {cold} fresh browsers playing {session} s \
         each, then the measured page, {seconds} s. Headless Chromium and Firefox decode and composite \
         in software; WebKitGTK decodes with GStreamer and draws on Xvfb, which presents fewer \
         frames (the lost ones). No memory figures: they come from Chromium's DevTools protocol.",
        cold = plan.cold_starts,
        session = plan.session_s,
        seconds = plan.seconds,
    );
}

fn met(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "not met",
        None => "not measured",
    }
}

fn footer(s: &mut String, plan: &Plan, machine: &Machine, outcomes: &[Outcome]) {
    for o in outcomes {
        let errors = o.report.end.as_ref().map_or(&[][..], |e| &e.errors[..]);
        if !errors.is_empty() {
            let _ = writeln!(
                s,
                "\nErrors in the console of {}: {}.",
                o.setup.title(),
                errors
                    .iter()
                    .map(|e| format!("`{}`", e.replace('`', "'")))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    s.push('\n');
    machine.write(s);
    let _ = writeln!(
        s,
        "Reproduce: `{}` (`--minutes N` for N minutes of playback per setup, `--quick` for a short run).\n",
        plan.command
    );
    let late = outcomes
        .iter()
        .map(|o| o.pacing.max_late_ms)
        .max()
        .unwrap_or(0);
    let encode = publisher::ENCODE_ARGS.join(" ");
    let _ = writeln!(
        s,
        "Method: a publisher (`lab/src/bench/latency/publisher.rs`, `stamp.rs`) makes {w}×{h} pictures \
         at {fps} fps and a 1 kHz tone in real time on one clock, each picture stamped with the wall-clock \
         time it was made (Unix ms, in two rows of black and white 16×16 blocks with a CRC), and writes \
         them to ffmpeg, which encodes them with `{encode}` (a keyframe every second) and publishes them \
         over RTMP on loopback; the pictures were written at most {late} ms after their slot. The server \
         runs pinned to core {SERVER_CORE} with ffmpeg; node and headless Chromium (software decoding and \
         compositing) run pinned to core {CLIENT_CORE}. The channel is live before a page opens. Every \
         page opens in a fresh context (nothing cached) of one running Chromium: first {cold} pages that \
         play {session} s each, for their time to first frame and their latency (a player that starts at \
         the beginning of the server's cached GOP lags by however far into the GOP it joined), then the \
         measured page, {seconds} s. In each page a probe added before the page's own scripts \
         (`lab/browser/probe.js`) takes every frame the `<video>` presents (`requestVideoFrameCallback`), \
         draws its top rows to a canvas and reads the stamp: the latency is the frame's expected display \
         time (on the same wall clock) minus its stamp, so it covers encoding, publishing, the server, the \
         player's buffer, decoding and compositing. Unreadable frames (the CRC fails) are left out and \
         counted; lost frames are gaps in the frame numbers. The time to first frame runs from navigation \
         start to the first frame's expected display time. The reference: meanwhile ffmpeg \
         (`-fflags nobuffer -flags low_delay -threads 1`, on core {CLIENT_CORE}) reads the server's HTTP-FLV \
         and reads the stamp of each picture as soon as it is decoded; that is the floor the source and the \
         server set (x264, AAC, and ffmpeg's muxer, which holds each picture until the audio has caught up \
         with it); its frames are kept in `reference.json` of the run's directory (`target/bench/<benchmark>/<setup>/`), and the stats of a page's `window.player` every \
         2 s in its `browser.jsonl`, to read a run's latencies side by side in time. The flashless page is the gateway's own `/watch/<channel>`, as a viewer opens it; \
         the bare page (`lab/browser/flashless.html`) holds only a `<video>` and the npm package's player \
         with the gateway page's settings, as bare as mpegts.js's page, so the two compare player with \
         player; its WebCodecs twin (`lab/browser/webcodecs.html`, `renderer: 'webcodecs'`) draws each \
         picture to a canvas, where the probe reads it as it is drawn (shown then: the next vsync, which \
         the `<video>`'s expected display time includes, is not counted). mpegts.js {mpegts} plays in `lab/browser/mpegts.html` with `isLive: true`, \
         `enableStashBuffer: false` and `liveBufferLatencyChasing: true` (its defaults: seek to 0.5 s behind \
         the buffered end when more than 1.5 s behind), reading WS-FLV. The page's CPU: Chromium's \
         `ScriptDuration` and `TaskDuration` (CDP `Performance.getMetrics`, the renderer's main thread) of \
         the measured page between its first and last memory sample, per minute; counted only if the page \
         read 90 % of the frames of that time, and including the probe's own work on every frame, alike \
         in every page. Memory is sampled every {every} s \
         after a forced garbage collection (CDP `HeapProfiler.collectGarbage`): \
         `performance.memory.usedJSHeapSize` (`--enable-precise-memory-info`), and the page's renderer \
         process's private memory (RssAnon) and VmRSS; the rest of its RSS is shared with the browser's \
         other processes (buffers of decoded frames for the compositor among them).",
        w = stamp::WIDTH,
        h = stamp::HEIGHT,
        fps = stamp::FPS,
        mpegts = machine.version("mpegts.js"),
        every = plan.memory_every_s,
        cold = plan.cold_starts,
        session = plan.session_s,
        seconds = plan.seconds,
    );
}
