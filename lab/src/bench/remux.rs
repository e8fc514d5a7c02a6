//! `lab bench remux` (`cargo xtask bench remux`): FLV → fragmented MP4 throughput of the flashless
//! `Remuxer` (wasm) against mpegts.js's and flv.js's FLV demuxer + MP4 remuxer, in
//! one Chromium page, on the same recordings fed from memory; and the native
//! remuxer under criterion for reference. The figures go to `docs/benchmarks.md`.

mod doc;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::Args;
use crate::peers::{release_dir, run_logged};
use crate::report::{self, Machine, Peer};
use crate::{NPM_DIR, step};
use doc::{Table, section};

/// The remuxers in the page, in the order of the tables: flashless with a fragment per
/// track for each chunk (as the peers make a media segment per track for each chunk),
/// flashless with its default of a fragment per frame, then the peers.
pub const REMUXERS: [&str; 4] = ["flashless", "flashless-frames", "mpegts.js", "flv.js"];
const PEERS: [&str; 2] = ["mpegts.js", "flv.js"];
/// The peer the goal is set against.
const GOAL_PEER: &str = "mpegts.js";
const GOAL_RATIO: f64 = 3.0;
/// What a network read typically hands over.
const CHUNK: usize = 64 * 1024;
const SECTION: &str = "remux";

/// One FLV recording: H.264 and AAC from ffmpeg at a given video bitrate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recording {
    pub kbps: u32,
    pub width: u32,
    pub height: u32,
    pub seconds: u32,
}

pub const FPS: u32 = 30;
/// A keyframe every 2 s.
pub const GOP: u32 = 2 * FPS;

const FULL: [Recording; 3] = [
    Recording {
        kbps: 1000,
        width: 640,
        height: 360,
        seconds: 180,
    },
    Recording {
        kbps: 4000,
        width: 1280,
        height: 720,
        seconds: 180,
    },
    Recording {
        kbps: 12_000,
        width: 1920,
        height: 1080,
        seconds: 180,
    },
];
const QUICK: Recording = Recording {
    kbps: 4000,
    width: 1280,
    height: 720,
    seconds: 30,
};

impl Recording {
    /// `4mbps-1280x720-180s`: what the file, the page and criterion call it.
    pub fn name(&self) -> String {
        format!(
            "{}-{}x{}-{}s",
            self.bitrate(),
            self.width,
            self.height,
            self.seconds
        )
    }

    /// `4mbps`, `0.5mbps`.
    fn bitrate(&self) -> String {
        format!("{}mbps", f64::from(self.kbps) / 1000.0)
    }

    fn path(&self, root: &Path) -> PathBuf {
        root.join("target/bench")
            .join(format!("remux-{}.flv", self.name()))
    }

    /// ffmpeg's arguments before the output file. testsrc2 with temporal noise, so the
    /// encoder needs the bitrate it is given (a bare test pattern needs far less), and
    /// noise for the audio; x264's default B-frames, so samples carry composition offsets.
    pub fn ffmpeg_args(&self) -> Vec<String> {
        let rate = format!("{}k", self.kbps);
        #[rustfmt::skip]
        let args = [
            "-hide_banner", "-loglevel", "error", "-nostdin",
            "-f", "lavfi", "-i", &format!("testsrc2=size={}x{}:rate={FPS}", self.width, self.height),
            "-f", "lavfi", "-i", "anoisesrc=sample_rate=48000:amplitude=0.1",
            "-t", &self.seconds.to_string(),
            "-vf", "noise=alls=12:allf=t",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-b:v", &rate, "-maxrate", &rate, "-bufsize", &rate,
            "-g", &GOP.to_string(), "-keyint_min", &GOP.to_string(), "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "128k", "-ac", "2",
            "-f", "flv",
        ];
        args.iter().map(|s| (*s).to_owned()).collect()
    }
}

/// What the FLV itself holds, counted here so that no remuxer counts its own input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub bytes: u64,
    /// AVC NAL unit packets: the frames a remuxer must put out.
    pub video_frames: u64,
    /// AAC raw frames.
    pub audio_frames: u64,
}

/// Walks the tags of an FLV file (E. 4.1: a 9-byte header, then tags each followed by
/// its 4-byte size).
pub fn count(flv: &[u8]) -> Result<Counts> {
    if flv.len() < 13 || &flv[..3] != b"FLV" {
        bail!("not an FLV file");
    }
    let header = u32::from_be_bytes([flv[5], flv[6], flv[7], flv[8]]) as usize;
    let mut counts = Counts {
        bytes: flv.len() as u64,
        ..Counts::default()
    };
    let mut at = header + 4;
    while at + 11 <= flv.len() {
        let size = u32::from_be_bytes([0, flv[at + 1], flv[at + 2], flv[at + 3]]) as usize;
        let end = at + 11 + size;
        if end + 4 > flv.len() {
            bail!("tag at byte {at} runs past the end of the file");
        }
        let body = &flv[at + 11..end];
        match (flv[at], body) {
            // Video: codec 7 (AVC), packet type 1 (NAL units).
            (9, [first, 1, ..]) if first & 0x0f == 7 => counts.video_frames += 1,
            // Audio: format 10 (AAC), packet type 1 (raw).
            (8, [first, 1, ..]) if first >> 4 == 10 => counts.audio_frames += 1,
            _ => {}
        }
        at = end + 4;
    }
    Ok(counts)
}

/// One timed run of one remuxer on one recording, as the page reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub file: String,
    pub remuxer: String,
    pub ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub fragments: u64,
    pub video_samples: u64,
    pub audio_samples: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// What the page driver printed.
#[derive(Debug, Default)]
pub struct PageResults {
    pub chromium: String,
    pub runs: Vec<Run>,
}

impl PageResults {
    pub fn parse(jsonl: &str) -> Result<PageResults> {
        let mut out = PageResults::default();
        for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("the page said {line:?}"))?;
            let u = |k: &str| v[k].as_u64().unwrap_or(0);
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            match v["kind"].as_str() {
                Some("browser") => out.chromium = s("version"),
                Some("recording") => {}
                Some("run") => out.runs.push(Run {
                    file: s("file"),
                    remuxer: s("remuxer"),
                    ms: v["ms"]
                        .as_f64()
                        .with_context(|| format!("no time in {line:?}"))?,
                    bytes_in: u("bytesIn"),
                    bytes_out: u("bytesOut"),
                    fragments: u("fragments"),
                    video_samples: u("videoSamples"),
                    audio_samples: u("audioSamples"),
                    errors: u("errors"),
                    first_error: v["firstError"].as_str().map(str::to_owned),
                }),
                _ => bail!("unexpected line from the page {line:?}"),
            }
        }
        Ok(out)
    }
}

/// Fails unless the run consumed the whole recording and put out every frame of it:
/// one sample per video and audio frame, give or take one that a remuxer holds back
/// to learn its duration.
pub fn check(run: &Run, counts: &Counts) -> Result<()> {
    let who = format!("{} on {}", run.remuxer, run.file);
    if run.errors > 0 {
        bail!(
            "{who}: {} errors, the first: {}",
            run.errors,
            run.first_error.as_deref().unwrap_or("?")
        );
    }
    if run.bytes_in != counts.bytes {
        bail!("{who}: fed {} of {} bytes", run.bytes_in, counts.bytes);
    }
    for (what, out, frames) in [
        ("video", run.video_samples, counts.video_frames),
        ("audio", run.audio_samples, counts.audio_frames),
    ] {
        if out.abs_diff(frames) > 1 {
            bail!("{who}: {out} {what} samples out for {frames} {what} frames in");
        }
    }
    if run.bytes_out < counts.bytes / 2 {
        bail!("{who}: {} bytes out for {} in", run.bytes_out, counts.bytes);
    }
    Ok(())
}

/// criterion's estimate of one pass, in nanoseconds: the median of its samples.
pub fn criterion_median_ns(estimates_json: &str) -> Result<f64> {
    let v: serde_json::Value = serde_json::from_str(estimates_json)?;
    v["median"]["point_estimate"]
        .as_f64()
        .context("no median in criterion's estimates")
}

/// Megabytes (10^6 bytes) of input per second.
fn mb_per_s(bytes: u64, ms: f64) -> f64 {
    bytes as f64 / 1e3 / ms
}

/// Measures; `cargo xtask bench` has built the npm package of this tree (a stale one
/// would measure other code).
pub fn run(root: &Path, args: &Args) -> Result<()> {
    let (recordings, runs): (Vec<Recording>, usize) = if args.quick {
        (vec![QUICK], args.runs.unwrap_or(3))
    } else {
        (FULL.to_vec(), args.runs.unwrap_or(5))
    };
    let mut counts = BTreeMap::new();
    for rec in &recordings {
        let path = step(&format!("recording {}", rec.name()), || {
            record(rec, root, args.verbose)
        })?;
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let c = count(&bytes).with_context(|| format!("reading {}", path.display()))?;
        counts.insert(rec.name(), c);
    }
    let load_before = report::load_average();
    let page = step("remux in Chromium", || {
        page_runs(root, &recordings, runs, args.verbose)
    })?;
    for run in &page.runs {
        check(run, &counts[&run.file])?;
    }
    let native = step("remux natively (criterion)", || {
        native_runs(root, &recordings, args)
    })?;
    let peers = [
        Peer::Npm("mpegts.js"),
        Peer::Npm("flv.js"),
        Peer::Npm("esbuild"),
        Peer::Named("Chromium", page.chromium.clone()),
        Peer::Rustc,
    ];
    let machine = Machine::gather(root, load_before, &peers);
    let table = Table::of(&recordings, &counts, &page.runs, &native);
    for line in table.summary() {
        println!("    {line}");
    }
    let body = section(&table, &machine, &recordings, runs, args.quick);
    super::write_doc(root, SECTION, &body)
}

/// Makes the recording once; later runs reuse it.
pub fn record(rec: &Recording, root: &Path, verbose: bool) -> Result<PathBuf> {
    let path = rec.path(root);
    if path.exists() {
        return Ok(path);
    }
    fs::create_dir_all(root.join("target/bench"))?;
    let partial = path.with_extension("partial.flv");
    run_logged(
        Command::new("ffmpeg")
            .args(rec.ffmpeg_args())
            .arg("-y")
            .arg(&partial),
        &path.with_extension("log"),
        verbose,
    )?;
    fs::rename(&partial, &path)?;
    Ok(path)
}

fn page_runs(
    root: &Path,
    recordings: &[Recording],
    runs: usize,
    verbose: bool,
) -> Result<PageResults> {
    let out_path = root.join("target/bench/remux-page.jsonl");
    let mut cmd = Command::new("node");
    cmd.arg(root.join(NPM_DIR).join("remux/run.mjs"))
        .args(["--runs", &runs.to_string(), "--chunk", &CHUNK.to_string()])
        .arg("--out")
        .arg(&out_path)
        .current_dir(root);
    for rec in recordings {
        cmd.arg(format!("{}={}", rec.name(), rec.path(root).display()));
    }
    run_logged(&mut cmd, &out_path.with_extension("log"), verbose)?;
    PageResults::parse(&fs::read_to_string(&out_path)?)
}

/// criterion's median per recording, in ms for one pass.
fn native_runs(
    root: &Path,
    recordings: &[Recording],
    args: &Args,
) -> Result<BTreeMap<String, f64>> {
    // The target directory the lab runs from (`target/release/lab`).
    let target = release_dir()?
        .parent()
        .context("the lab's binary is not in a target directory")?
        .to_path_buf();
    let estimates = target.join("criterion/remux");
    // Nothing stale may stand in for a run that did not happen.
    if estimates.exists() {
        fs::remove_dir_all(&estimates)
            .with_context(|| format!("clearing {}", estimates.display()))?;
    }
    let paths = std::env::join_paths(recordings.iter().map(|r| r.path(root)))?;
    let (warm_up, measure) = if args.quick { ("1", "3") } else { ("3", "10") };
    // The cargo that ran xtask, so the bench builds with the same toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_logged(
        Command::new(cargo)
            .current_dir(root)
            .env("CARGO_TARGET_DIR", &target)
            .args(["bench", "-p", "flashless-lab", "--bench", "remux", "--"])
            .args(["--warm-up-time", warm_up, "--measurement-time", measure])
            .env("FLASHLESS_REMUX_FLV", paths),
        &root.join("target/bench/remux-native.log"),
        args.verbose,
    )?;
    let mut out = BTreeMap::new();
    for rec in recordings {
        let path = estimates.join(rec.name()).join("new/estimates.json");
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        out.insert(rec.name(), criterion_median_ns(&text)? / 1e6);
    }
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An FLV file: header, then (type, body) tags.
    fn flv(tags: &[(u8, &[u8])]) -> Vec<u8> {
        let mut out = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        for (kind, body) in tags {
            let size = body.len() as u32;
            out.push(*kind);
            out.extend_from_slice(&size.to_be_bytes()[1..]);
            out.extend_from_slice(&[0; 7]);
            out.extend_from_slice(body);
            out.extend_from_slice(&(size + 11).to_be_bytes());
        }
        out
    }

    #[test]
    fn counts_coded_frames_not_headers() {
        let file = flv(&[
            (18, b"\x02\x00\x0aonMetaData"),
            (9, &[0x17, 0, 0, 0, 0, 1]), // AVC sequence header
            (8, &[0xaf, 0, 0x12, 0x10]), // AAC sequence header
            (9, &[0x17, 1, 0, 0, 0, 9]),
            (8, &[0xaf, 1, 0x21]),
            (9, &[0x27, 1, 0, 0, 0, 9]),
            (9, &[0x27, 2, 0, 0, 0]), // end of sequence
        ]);
        let c = count(&file).unwrap();
        assert_eq!(c.video_frames, 2);
        assert_eq!(c.audio_frames, 1);
        assert_eq!(c.bytes, file.len() as u64);
        assert!(count(&file[..file.len() - 2]).is_err());
        assert!(count(b"not an flv at all").is_err());
    }

    pub(crate) fn run(video: u64, audio: u64) -> Run {
        Run {
            file: "f".into(),
            remuxer: "flv.js".into(),
            ms: 10.0,
            bytes_in: 1000,
            bytes_out: 990,
            fragments: 3,
            video_samples: video,
            audio_samples: audio,
            errors: 0,
            first_error: None,
        }
    }

    #[test]
    fn a_run_must_put_out_every_frame() {
        let counts = Counts {
            bytes: 1000,
            video_frames: 100,
            audio_frames: 150,
        };
        assert!(check(&run(100, 150), &counts).is_ok());
        assert!(check(&run(99, 150), &counts).is_ok(), "one held back");
        assert!(check(&run(98, 150), &counts).is_err());
        assert!(check(&run(100, 0), &counts).is_err());
        let short = Run {
            bytes_in: 500,
            ..run(100, 150)
        };
        assert!(check(&short, &counts).is_err());
        let failed = Run {
            errors: 1,
            first_error: Some("bad".into()),
            ..run(100, 150)
        };
        assert!(check(&failed, &counts).is_err());
    }

    #[test]
    fn parses_the_page_driver_output() {
        let jsonl = r#"{"kind":"browser","version":"156.0.8078.108"}
{"kind":"recording","file":"4mbps-1280x720-30s","bytes":15524609,"chunks":237}
{"kind":"run","file":"4mbps-1280x720-30s","remuxer":"flashless","run":1,"ms":39.8,"bytesIn":15524609,"bytesOut":15595826,"inits":2,"fragments":770,"videoSamples":300,"audioSamples":470,"errors":0,"firstError":null}
"#;
        let page = PageResults::parse(jsonl).unwrap();
        assert_eq!(page.chromium, "156.0.8078.108");
        assert_eq!(page.runs.len(), 1);
        let r = &page.runs[0];
        assert_eq!((r.remuxer.as_str(), r.video_samples), ("flashless", 300));
        assert_eq!(r.ms, 39.8);
        assert_eq!(r.first_error, None);
        assert!(PageResults::parse(r#"{"kind":"what"}"#).is_err());
        assert!(PageResults::parse(r#"{"kind":"run","file":"f"}"#).is_err());
    }

    #[test]
    fn reads_criterion_median() {
        let json = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.4e6,"upper_bound":1.7e6},"point_estimate":1.5e6,"standard_error":1e4},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.4e6,"upper_bound":1.6e6},"point_estimate":1576900.5,"standard_error":1e4},"slope":null}"#;
        assert_eq!(criterion_median_ns(json).unwrap(), 1576900.5);
        assert!(criterion_median_ns("{}").is_err());
    }

    #[test]
    fn names_recordings_by_rate_size_and_length() {
        assert_eq!(QUICK.name(), "4mbps-1280x720-30s");
        assert_eq!(FULL[0].bitrate(), "1mbps");
        let args = FULL[2].ffmpeg_args();
        assert!(args.windows(2).any(|w| w == ["-b:v", "12000k"]));
        assert_eq!(args.last().map(String::as_str), Some("flv"));
    }
}
