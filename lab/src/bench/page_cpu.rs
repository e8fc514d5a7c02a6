//! `lab bench page-cpu` (`cargo xtask bench page-cpu`): what a player page costs the
//! viewer's machine, the renderer main thread's script and task time per minute of
//! 1080p playback, for the flashless package's bare page, the gateway's own page and
//! mpegts.js, all reading the same channel from the gateway, in one Chromium, the
//! pages taking turns (`lab/browser/pagecpu.mjs`).
//!
//! The pages carry nothing of the benchmark's: the latency benchmark's probe reads
//! every frame back from a canvas, which would be counted as the page's own work and
//! shrink every ratio toward one.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::Args;
use super::latency::{browser_side, http_origin, wait_live};
use super::remux::{self, Recording};
use crate::peers::{self, Guard, SERVER_CORE, Server};
use crate::report::{self, Machine, Peer, row, table_head};
use crate::step;

const SECTION: &str = "page-cpu";
/// Issue #17: the player's script time at most half of mpegts.js's on the same stream.
const GOAL_RATIO: f64 = 0.5;
/// The channel played: 1080p at 30 fps and 12 Mbit/s, looped by ffmpeg without re-encoding.
const CLIP: Recording = Recording {
    kbps: 12_000,
    width: 1920,
    height: 1080,
    seconds: 60,
};
/// The pages, in the table's column order, as `pagecpu.mjs` names them.
const PLAYERS: [(&str, &str); 4] = [
    ("package", "flashless package, bare page"),
    ("flashless", "flashless gateway page"),
    ("mpegts", "mpegts.js 1.8.2"),
    (FLOOR, "the stream read alone (floor)"),
];
/// The page that only receives the WebSocket's messages and reads their bytes: what
/// any WS-FLV player spends before it demuxes or appends anything.
const FLOOR: &str = "wsread";
/// A window counts only if its page presented this share of the clip's frames and
/// its playhead moved this share of the window: a page that stalls spends little.
const MIN_PLAYED: f64 = 0.9;
/// Played before the window opens: the start burst and the first catch-up are not
/// a minute of playback.
const WARMUP_S: u64 = 5;

/// One page's measured window, as `pagecpu.mjs` prints it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    pub player: String,
    pub run: usize,
    pub seconds: f64,
    pub script_s: f64,
    pub task_s: f64,
    pub frames: u64,
    pub dropped: u64,
    pub played: f64,
    /// The floor page's bytes received in the window (it presents no frames).
    #[serde(default)]
    pub bytes: Option<u64>,
    #[serde(default)]
    pub errors: Vec<String>,
}

impl Window {
    /// Script seconds per minute of playback.
    fn script_per_min(&self) -> f64 {
        self.script_s * 60.0 / self.seconds
    }

    fn task_per_min(&self) -> f64 {
        self.task_s * 60.0 / self.seconds
    }

    /// Why the window does not count, if it does not.
    fn invalid(&self) -> Option<String> {
        if self.player == FLOOR {
            let want = MIN_PLAYED * self.seconds * f64::from(CLIP.kbps) * 1000.0 / 8.0;
            let got = self.bytes.unwrap_or(0);
            return ((got as f64) < want).then(|| {
                format!(
                    "{} run {}: {got} bytes received in {} s, fewer than {want:.0}",
                    self.player, self.run, self.seconds
                )
            });
        }
        let want_frames = MIN_PLAYED * self.seconds * f64::from(remux::FPS);
        if (self.frames as f64) < want_frames {
            return Some(format!(
                "{} run {}: {} frames presented in {} s, fewer than {want_frames:.0}",
                self.player, self.run, self.frames, self.seconds
            ));
        }
        if self.played < MIN_PLAYED * self.seconds {
            return Some(format!(
                "{} run {}: the playhead moved {:.1} s in {} s",
                self.player, self.run, self.played, self.seconds
            ));
        }
        None
    }
}

pub fn parse(jsonl: &str) -> Result<Vec<Window>> {
    jsonl
        .lines()
        .filter(|l| l.contains("\"kind\":\"cpu\""))
        .map(|l| serde_json::from_str(l).with_context(|| format!("parsing {l}")))
        .collect()
}

pub fn run(root: &Path, args: &Args) -> Result<()> {
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 });
    let seconds = (args.minutes.unwrap_or(if args.quick { 0.5 } else { 1.0 }) * 60.0).round();
    let load_before = report::load_average();
    let dir = root.join("target/bench").join(SECTION);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let clip = remux::record(&CLIP, root, args.verbose)?;
    let windows = step(
        &format!("{SECTION} ({runs} × {seconds} s per page)"),
        || {
            let running = peers::start(Server::Flashless, root, &dir)?;
            let http = http_origin(&running.ws_url)?;
            // On the server's core: the browser has the other one to itself.
            let _publisher = peers::publish_clip_on(
                SERVER_CORE,
                &clip,
                &running.publish_url,
                &dir.join("ffmpeg.log"),
            )?;
            wait_live(&http, Duration::from_secs(20))?;
            let profile = args.profile.then(|| dir.join("profile"));
            if let Some(profile) = &profile {
                std::fs::create_dir_all(profile)?;
            }
            let config = serde_json::json!({
                "players": PLAYERS.map(|p| p.0),
                "profile": profile,
                "gateway": http,
                "stream": running.ws_url,
                "seconds": seconds,
                "runs": runs,
                "warmupSeconds": WARMUP_S,
            });
            let out_path = dir.join("browser.jsonl");
            let mut cmd = browser_side(root, "pagecpu.mjs", &config, &dir)?;
            let limit = Duration::from_secs((seconds as u64 + 60) * (runs * PLAYERS.len()) as u64);
            let waited = Guard::spawn(&mut cmd, "the browser side (node pagecpu.mjs)")?.wait(limit);
            let log = std::fs::read_to_string(dir.join("browser.log")).unwrap_or_default();
            waited.with_context(|| format!("the browser side: {log}"))?;
            parse(&std::fs::read_to_string(&out_path)?)
        },
    )?;
    if let Some(why) = windows.iter().find_map(Window::invalid) {
        // A profiled run is read for where the time goes, and the profiler slows the page.
        if !args.profile {
            bail!("a page did not play through its window, so its CPU says nothing: {why}");
        }
        println!("    a page did not play through its window (its profile is kept): {why}");
    }
    let machine = Machine::gather(
        root,
        load_before,
        &[Peer::Npm("mpegts.js"), Peer::Chromium, Peer::Node],
    );
    let body = section(&windows, runs, seconds, &machine);
    for line in body.lines().filter(|l| l.starts_with("| script")) {
        println!("    {line}");
    }
    if args.profile {
        // The sampling profiler's own cost is in these figures.
        println!(
            "    docs/benchmarks.md not written: a profiled run; the profiles and each page's top self times are in {}",
            dir.display()
        );
        return Ok(());
    }
    super::write_doc(root, SECTION, &body)
}

/// A table row: its title and what each window gives it.
type Row<T> = (&'static str, fn(&Window) -> T);

fn section(windows: &[Window], runs: usize, seconds: f64, machine: &Machine) -> String {
    let by_player: BTreeMap<&str, Vec<&Window>> =
        windows.iter().fold(BTreeMap::new(), |mut m, w| {
            m.entry(w.player.as_str()).or_default().push(w);
            m
        });
    let median = |player: &str, f: fn(&Window) -> f64| {
        report::median(by_player.get(player)?.iter().map(|w| f(w)))
    };
    let mut s = String::from("## Page CPU: a minute of 1080p playback\n\n");
    s.push_str(&format!(
        "Goal (issue #17): the player's script time ≤ {GOAL_RATIO}× mpegts.js's on the same stream.\n\n"
    ));
    let mut titles = vec![""];
    titles.extend(PLAYERS.map(|p| p.1));
    titles.push("package / mpegts.js");
    let right: Vec<bool> = titles.iter().map(|t| !t.is_empty()).collect();
    table_head(&mut s, &titles, &right);
    let rows: [Row<f64>; 2] = [
        ("script per minute (median)", Window::script_per_min),
        ("all tasks per minute (median)", Window::task_per_min),
    ];
    for (title, f) in rows {
        let mut cells = vec![title.to_owned()];
        for (player, _) in PLAYERS {
            cells.push(median(player, f).map_or("–".into(), |v| format!("{v:.2} s")));
        }
        cells.push(match (median("package", f), median("mpegts", f)) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "–".into(),
        });
        row(&mut s, &cells);
    }
    let each: [Row<String>; 3] = [
        ("script, each run", |w| {
            format!("{:.2} s", w.script_per_min())
        }),
        ("all tasks, each run", |w| {
            format!("{:.2} s", w.task_per_min())
        }),
        ("frames presented / dropped, each run", |w| {
            if w.player == FLOOR {
                "–".into()
            } else {
                format!("{} / {}", w.frames, w.dropped)
            }
        }),
    ];
    for (title, f) in each {
        let mut cells = vec![title.to_owned()];
        for (player, _) in PLAYERS {
            let ws = by_player.get(player).map(Vec::as_slice).unwrap_or_default();
            cells.push(ws.iter().map(|w| f(w)).collect::<Vec<_>>().join(", "));
        }
        cells.push(String::new());
        row(&mut s, &cells);
    }
    s.push('\n');
    machine.write(&mut s);
    s.push_str(&format!(
        "Reproduce: `cargo xtask bench page-cpu` (`--runs N`, `--minutes M` per window; `--quick` \
         for one run of 30 s).\n\n\
         Method: ffmpeg publishes a {w}×{h} {fps} fps recording at {mbps} Mbit/s (H.264 and AAC, \
         the remux benchmark's settings, {clip} s looped without re-encoding) to the gateway, both \
         on one core; on the other, one headless Chromium (software decoding) opens each page in a \
         fresh context, the pages taking turns, {runs} round(s). Each page reads the gateway's \
         WS-FLV: the npm package's bare page (`lab/browser/flashless.html`), the gateway's own \
         `/watch/<channel>`, mpegts.js 1.8.2 (`lab/browser/mpegts.html`: live, no stash buffer, \
         latency chasing on), and the floor: a page that only receives the messages and reads \
         their bytes (`lab/browser/wsread.html`), what any WS-FLV player spends before it demuxes \
         or appends anything. Once a page shows its first frame and has played {warm} s more, \
         `ScriptDuration` and `TaskDuration` (CDP `Performance.getMetrics`, the renderer's main \
         thread) are read before and after {seconds} s of playback; nothing of the benchmark's runs \
         in the pages. A window counts only if its `<video>` presented at least {share:.0} % of the \
         frames sent meanwhile and its playhead moved at least {share:.0} % of the window (the \
         floor: if it received {share:.0} % of the clip's bytes meanwhile), so a page \
         that stalls (and so spends nothing) fails the run instead of winning it. Where the time \
         goes: `cargo xtask bench page-cpu --profile` records each window with Chromium's \
         sampling profiler.\n",
        w = CLIP.width,
        h = CLIP.height,
        fps = remux::FPS,
        mbps = CLIP.kbps / 1000,
        clip = CLIP.seconds,
        warm = WARMUP_S,
        share = MIN_PLAYED * 100.0,
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"kind":"cpu","player":"package","run":0,"seconds":60,"scriptS":0.5,"taskS":1.8,"frames":1790,"dropped":2,"played":59.8,"errors":[]}"#;

    #[test]
    fn reads_the_windows_and_per_minute_figures() {
        let text = format!("{{\"kind\":\"other\"}}\n{LINE}\n");
        let windows = parse(&text).unwrap();
        assert_eq!(windows.len(), 1);
        let w = &windows[0];
        assert_eq!(
            (w.player.as_str(), w.frames, w.dropped),
            ("package", 1790, 2)
        );
        assert!((w.script_per_min() - 0.5).abs() < 1e-9);
        assert_eq!(w.invalid(), None);
    }

    #[test]
    fn a_page_that_did_not_play_through_does_not_count() {
        let mut w = parse(LINE).unwrap().remove(0);
        w.frames = 900;
        assert!(w.invalid().unwrap().contains("900 frames"));
        let mut w = parse(LINE).unwrap().remove(0);
        w.played = 20.0;
        assert!(w.invalid().unwrap().contains("moved 20.0 s"));
    }

    #[test]
    fn the_floor_counts_by_the_bytes_it_read() {
        let line = r#"{"kind":"cpu","player":"wsread","run":1,"seconds":60,"scriptS":0.15,"taskS":1.6,"frames":0,"dropped":0,"played":0,"bytes":90000000}"#;
        let mut w = parse(line).unwrap().remove(0);
        assert_eq!(w.invalid(), None);
        // 12 Mbit/s for 60 s is 90 MB; 90 % of it is the least that counts.
        w.bytes = Some(80_000_000);
        assert!(w.invalid().unwrap().contains("80000000 bytes"));
        w.bytes = None;
        assert!(w.invalid().is_some());
    }
}
