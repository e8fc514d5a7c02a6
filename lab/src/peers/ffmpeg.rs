//! ffmpeg as a publisher and ffprobe as a reader: a generated stream for the tests,
//! a pre-encoded clip looped for the benchmarks and the soak.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::process::{CLIENT_CORE, Guard, pinned};

/// 30 s of testsrc 640x360 and a sine at ~1 Mbps; CBR so that it is 1 Mbps, not
/// whatever x264 needs for a test pattern. A keyframe every second.
#[rustfmt::skip]
pub const CLIP_ARGS: &[&str] = &[
    "-hide_banner", "-loglevel", "error", "-nostdin",
    "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
    "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100",
    "-t", "30",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
    "-b:v", "900k", "-minrate", "900k", "-maxrate", "900k", "-bufsize", "900k",
    "-x264-params", "nal-hrd=cbr", "-g", "25", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "64k",
];

/// ffmpeg publishing a generated H.264 + AAC stream in real time (320x240, a keyframe
/// every second), with `extra_output_args` before the output.
pub fn publish_test_stream(url: &str, extra_output_args: &[&str]) -> Result<Guard> {
    publish_test_tracks(url, true, true, extra_output_args)
}

/// [`publish_test_stream`] with the pictures, the sound or both. A track left out is
/// not read at all: an input left unread (`-vn`) would let `-re` pace nothing, and
/// ffmpeg would send the other track many times faster than real time.
pub fn publish_test_tracks(
    url: &str,
    video: bool,
    audio: bool,
    extra_output_args: &[&str],
) -> Result<Guard> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"]);
    if video {
        cmd.args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"]);
    }
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100"]);
    }
    if video {
        cmd.args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
        ]);
    }
    if audio {
        cmd.args(["-c:a", "aac", "-b:a", "64k"]);
    }
    cmd.args(extra_output_args)
        .args(["-f", "flv", url])
        .stdin(Stdio::null());
    Guard::spawn(&mut cmd, "ffmpeg")
}

/// ffmpeg publishing the clip in real time, looped, without re-encoding, on the
/// benchmark's client core.
pub fn publish_clip(clip: &Path, url: &str, log: &Path) -> Result<Guard> {
    publish_clip_on(CLIENT_CORE, clip, url, log)
}

/// [`publish_clip`] pinned to `core`.
pub fn publish_clip_on(core: usize, clip: &Path, url: &str, log: &Path) -> Result<Guard> {
    let args: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        &clip.display().to_string(),
        "-c",
        "copy",
        "-f",
        "flv",
        url,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let log = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = pinned(core, Path::new("ffmpeg"), &args);
    cmd.stdout(log.try_clone()?).stderr(log);
    Guard::spawn(&mut cmd, "ffmpeg")
}

/// The publisher's clip, `target/bench/clip.flv`: made once, then reused by every run.
/// Encoding it live would take a good part of the load generator's core.
pub fn clip(root: &Path) -> Result<PathBuf> {
    let clip = root.join("target/bench/clip.flv");
    if clip.exists() {
        return Ok(clip);
    }
    fs::create_dir_all(root.join("target/bench"))?;
    let partial = clip.with_extension("partial.flv");
    let status = Command::new("ffmpeg")
        .args(CLIP_ARGS)
        .arg("-y")
        .arg(&partial)
        .stdin(Stdio::null())
        .status()
        .context("running ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg could not make the clip: {status}");
    }
    fs::rename(&partial, &clip)?;
    Ok(clip)
}

/// What ffprobe says of a media file.
#[derive(Debug)]
pub struct Probe {
    pub codecs: Vec<String>,
    pub duration: f64,
}

pub fn ffprobe(file: &Path) -> Result<Probe> {
    let text = ffprobe_text(
        &[
            "-show_entries",
            "stream=codec_name:format=duration",
            "-of",
            "default=nw=1",
        ],
        &file.display().to_string(),
    )?;
    let value = |line: &str, key: &str| line.strip_prefix(key).map(str::to_owned);
    Ok(Probe {
        codecs: text
            .lines()
            .filter_map(|l| value(l, "codec_name="))
            .collect(),
        duration: text
            .lines()
            .find_map(|l| value(l, "duration="))
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
    })
}

/// ffprobe's `codec_name,width,height` line per stream of a file or URL
/// (`h264,320,240`, `aac`); empty when it read nothing.
pub fn ffprobe_streams(input: &str) -> Result<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .context("running ffprobe")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ffprobe_text(show: &[&str], input: &str) -> Result<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(show)
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .context("running ffprobe")?;
    if !out.status.success() {
        bail!(
            "ffprobe failed on {input}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
