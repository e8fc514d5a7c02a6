//! The remux benchmark's section of `docs/benchmarks.md`: a table per recording with
//! every remuxer's median, its ratios to the peers and each run, the goal, the
//! machine, the versions and the method.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{
    CHUNK, Counts, FPS, GOAL_PEER, GOAL_RATIO, PEERS, QUICK, REMUXERS, Recording, Run, mb_per_s,
};
use crate::report::{Machine, median, row, table_head};

/// One recording's figures: per remuxer the median time of a pass and every run's time.
struct Row {
    rec: Recording,
    counts: Counts,
    /// (remuxer, median ms, each run's ms)
    page: Vec<(&'static str, Option<f64>, Vec<f64>)>,
    native_ms: Option<f64>,
}

pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    pub fn of(
        recordings: &[Recording],
        counts: &BTreeMap<String, Counts>,
        runs: &[Run],
        native: &BTreeMap<String, f64>,
    ) -> Table {
        let rows = recordings
            .iter()
            .map(|rec| {
                let name = rec.name();
                let page = REMUXERS
                    .iter()
                    .map(|&remuxer| {
                        let times: Vec<f64> = runs
                            .iter()
                            .filter(|r| r.file == name && r.remuxer == remuxer)
                            .map(|r| r.ms)
                            .collect();
                        (remuxer, median(times.iter().copied()), times)
                    })
                    .collect();
                Row {
                    rec: *rec,
                    counts: counts.get(&name).copied().unwrap_or_default(),
                    page,
                    native_ms: native.get(&name).copied(),
                }
            })
            .collect();
        Table { rows }
    }

    /// `remuxer`'s throughput over the goal peer's, per recording.
    fn goal_ratios(&self, remuxer: &str) -> Vec<(String, Option<f64>)> {
        self.rows
            .iter()
            .map(|row| {
                let mbps = f64::from(row.rec.kbps) / 1000.0;
                (format!("{mbps} Mbps"), row.ratio(remuxer, GOAL_PEER))
            })
            .collect()
    }

    /// For the progress output.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for row in &self.rows {
            let mut line = format!("{}:", row.rec.name());
            for (remuxer, ms, _) in &row.page {
                if let Some(ms) = ms {
                    let _ = write!(
                        line,
                        " {remuxer} {:.0} MB/s,",
                        mb_per_s(row.counts.bytes, *ms)
                    );
                }
            }
            if let Some(ms) = row.native_ms {
                let _ = write!(line, " native {:.0} MB/s", mb_per_s(row.counts.bytes, ms));
            }
            lines.push(line.trim_end_matches(',').to_owned());
        }
        lines
    }
}

impl Row {
    fn median(&self, remuxer: &str) -> Option<f64> {
        self.page
            .iter()
            .find(|(r, _, _)| *r == remuxer)
            .and_then(|(_, ms, _)| *ms)
    }

    /// How many times faster `remuxer` is than `peer`.
    fn ratio(&self, remuxer: &str, peer: &str) -> Option<f64> {
        Some(self.median(peer)? / self.median(remuxer)?)
    }
}

fn label(remuxer: &str) -> &str {
    match remuxer {
        "flashless" => "flashless (wasm), a fragment per chunk (what its player does)",
        "flashless-frames" => "flashless (wasm), a fragment per frame (the `Remuxer`'s default)",
        other => other,
    }
}

pub fn section(
    table: &Table,
    machine: &Machine,
    recordings: &[Recording],
    runs: usize,
    quick: bool,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Remux throughput in the browser: flashless, mpegts.js and flv.js\n"
    );
    let measured = |remuxer: &str| {
        let ratios = table.goal_ratios(remuxer);
        let met = ratios
            .iter()
            .all(|(_, r)| r.is_some_and(|r| r >= GOAL_RATIO));
        let shown: Vec<String> = ratios
            .iter()
            .map(|(name, r)| match r {
                Some(r) => format!("{r:.2}× at {name}"),
                None => format!("– at {name}"),
            })
            .collect();
        format!(
            "{} ({})",
            shown.join(", "),
            if met { "met" } else { "not met" }
        )
    };
    let _ = writeln!(
        s,
        "Target: ≥ {GOAL_RATIO:.0}× {GOAL_PEER}'s throughput. Measured with a fragment per track for each \
         chunk, as the peers make their media segments and as its player does: {}. With the `Remuxer`'s default of a fragment per \
         frame: {}.\n",
        measured(REMUXERS[0]),
        measured(REMUXERS[1]),
    );
    for rec in &table.rows {
        let r = &rec.rec;
        let _ = writeln!(
            s,
            "### {} Mbps video ({}×{}, {FPS} fps, {} s): {:.1} MB, {} video and {} audio frames\n",
            f64::from(r.kbps) / 1000.0,
            r.width,
            r.height,
            r.seconds,
            rec.counts.bytes as f64 / 1e6,
            rec.counts.video_frames,
            rec.counts.audio_frames
        );
        table_head(
            &mut s,
            &[
                "remuxer",
                "MB/s of FLV",
                "ms per video frame",
                "× mpegts.js",
                "× flv.js",
                "each run (ms)",
            ],
            &[false, true, true, true, true, false],
        );
        let frames = rec.counts.video_frames.max(1) as f64;
        let ratios = |ms: f64| {
            PEERS.map(|peer| {
                rec.median(peer)
                    .map_or(String::new(), |p| format!("{:.2}×", p / ms))
            })
        };
        for (remuxer, ms, times) in &rec.page {
            let Some(ms) = ms else { continue };
            let each: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
            let [mpegts, flvjs] = ratios(*ms);
            row(
                &mut s,
                &[
                    label(remuxer).to_owned(),
                    format!("{:.0}", mb_per_s(rec.counts.bytes, *ms)),
                    format!("{:.3}", ms / frames),
                    mpegts,
                    flvjs,
                    each.join(", "),
                ],
            );
        }
        if let Some(ms) = rec.native_ms {
            let [mpegts, flvjs] = ratios(ms);
            row(
                &mut s,
                &[
                    "flashless native, for reference (criterion)".to_owned(),
                    format!("{:.0}", mb_per_s(rec.counts.bytes, ms)),
                    format!("{:.4}", ms / frames),
                    mpegts,
                    flvjs,
                    String::new(),
                ],
            );
        }
        s.push('\n');
    }
    machine.write(&mut s);
    let reproduce = if quick {
        "`cargo xtask bench remux --quick`: one 30 s recording, for development; every recording: \
         `cargo xtask bench remux`"
    } else {
        "`cargo xtask bench remux` (`--quick` for one 30 s recording)"
    };
    let _ = writeln!(
        s,
        "Reproduce: {reproduce}. {runs} runs per remuxer and recording, alternating.\n"
    );
    let example = recordings.first().copied().unwrap_or(QUICK);
    let _ = writeln!(
        s,
        "Method: each recording is made once by `ffmpeg {} OUT.flv` (here for {} Mbps; the others differ \
         in size and rate). The page (`lab/browser/remux/`, served from loopback, Chromium headless through \
         playwright-core) fetches it once into an ArrayBuffer and cuts it into {} KiB chunks, each an \
         ArrayBuffer of its own as a network read delivers them. Each timed run then feeds every chunk to \
         one remuxer, synchronously, and ends it (flush); the time is `performance.now()` around that, \
         garbage collected before each run. flashless: the npm package's `Remuxer` (built by `cargo xtask \
         wasm`), per-track output, once with `fragmentPerPush` (a fragment per track for each chunk, as \
         the peers make a media segment per track for each chunk they parse, and as its player does for \
         each network read) and once with its default of a fragment per frame. mpegts.js and flv.js: their own \
         `FLVDemuxer` and `MP4Remuxer` from the sources in their npm packages (bundled by esbuild, not \
         transpiled), wired as their TransmuxingController wires them, with `isLive: true` and the \
         stash buffer off: each chunk goes to the demuxer at once and the bytes it did not consume go \
         in front of the next chunk, as their IOController does. No MediaSource, no network. Every \
         remuxer gets one untimed warm-up on the first 4 MiB, then the runs alternate; the table gives \
         the median. A run counts only if it consumed every byte, reported no error, and put out one \
         sample per H.264 and AAC frame of the file (± 1 held back), as counted from the FLV tags by the \
         lab. MB/s is 10^6 bytes of FLV input a second; ms per video frame is the run's time over the \
         video frames (audio included in the time). Native: the same core remuxer and FLV reader in 64 KiB \
         chunks under criterion (`lab/benches/remux.rs`, release build), the median of its samples.",
        example
            .ffmpeg_args()
            .join(" ")
            .replace("-hide_banner -loglevel error -nostdin ", ""),
        f64::from(example.kbps) / 1000.0,
        CHUNK / 1024
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::remux::tests::run;

    #[test]
    fn ratio_is_flashless_speed_over_the_peer() {
        let counts = Counts {
            bytes: 1_000_000,
            video_frames: 10,
            audio_frames: 10,
        };
        let runs = vec![
            Run {
                ms: 10.0,
                remuxer: "flashless".into(),
                ..run(10, 10)
            },
            Run {
                ms: 35.0,
                remuxer: "mpegts.js".into(),
                ..run(10, 10)
            },
        ];
        let mut by_name = BTreeMap::new();
        by_name.insert(QUICK.name(), counts);
        let runs: Vec<Run> = runs
            .into_iter()
            .map(|r| Run {
                file: QUICK.name(),
                ..r
            })
            .collect();
        let table = Table::of(&[QUICK], &by_name, &runs, &BTreeMap::new());
        assert_eq!(
            table.goal_ratios("flashless"),
            vec![("4 Mbps".to_owned(), Some(3.5))]
        );
        assert_eq!(table.rows[0].ratio("flashless", "flv.js"), None);
        assert_eq!(mb_per_s(1_000_000, 10.0), 100.0);
    }
}
