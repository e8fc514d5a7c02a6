//! The latency benchmark's source: stamped pictures ([`stamp`]) and a 1 kHz tone,
//! made in real time and written to ffmpeg, which encodes them with a 1 s GOP and
//! publishes them over RTMP, as a camera and a microphone behind an encoder would.
//!
//! Both tracks are timed by one clock, this process's: ffmpeg numbers video frames
//! and audio samples by their count, and both writers keep to `start + count / rate`.
//! With the tone from ffmpeg's own `-re` source instead, its timeline starts only
//! once ffmpeg has connected to the server, some 250 ms after the pictures', and
//! the muxer, which interleaves by timestamp, holds every picture back by as much.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use super::stamp::{self, FPS, HEIGHT, WIDTH};
use crate::peers::{self, Guard, SERVER_CORE};

/// The encoder's settings, also quoted in `docs/benchmarks.md`: x264 tuned for
/// latency, a keyframe every second, about 1 Mbit/s like the fan-out clip.
#[rustfmt::skip]
pub const ENCODE_ARGS: &[&str] = &[
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
    "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
    "-b:v", "900k", "-minrate", "900k", "-maxrate", "900k", "-bufsize", "900k",
    "-x264-params", "nal-hrd=cbr", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "64k",
];

const SAMPLE_RATE: u64 = 44_100;
const TONE_HZ: f64 = 1000.0;
/// Frames at the start not counted in [`Pacing::max_late_ms`]: ffmpeg reads
/// nothing while it connects to the server.
const WARM_UP_FRAMES: u64 = 2 * FPS;
/// O_NONBLOCK (Linux): opening the tone's FIFO for reading without a writer.
const O_NONBLOCK: i32 = 0o4000;

/// ffmpeg encoding the stamped pictures and the tone and publishing them; stopped
/// when dropped.
pub struct Publisher {
    stop: Arc<AtomicBool>,
    video: Option<JoinHandle<Pacing>>,
    audio: Option<JoinHandle<()>>,
    fifo: PathBuf,
    ffmpeg: Option<Guard>,
}

/// How well the picture writer kept to its clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pacing {
    pub frames: u64,
    /// The latest a frame was written after its slot, in ms, past the warm-up.
    pub max_late_ms: u64,
}

impl Publisher {
    /// Starts ffmpeg on the server's core (the source side of the run: the browser
    /// has the other core) and the threads that feed it; the tone goes through a
    /// FIFO in `dir`.
    pub fn start(url: &str, dir: &Path) -> Result<Publisher> {
        let fifo = dir.join("tone.fifo");
        let _ = std::fs::remove_file(&fifo);
        let status = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .context("running mkfifo")?;
        if !status.success() {
            bail!("mkfifo {} failed: {status}", fifo.display());
        }
        let args = ffmpeg_args(url, &fifo);
        let log = std::fs::File::create(dir.join("ffmpeg.log"))?;
        let mut cmd = peers::pinned(SERVER_CORE, Path::new("ffmpeg"), &args);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting ffmpeg (the stamped publisher)")?;
        let stdin = child.stdin.take().context("ffmpeg's stdin")?;
        let ffmpeg = Guard::adopt(child, "ffmpeg");
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let flag = stop.clone();
        let video = std::thread::Builder::new()
            .name("pictures".into())
            .spawn(move || pictures(stdin, start, &flag))
            .context("starting the picture thread")?;
        let flag = stop.clone();
        let path = fifo.clone();
        let audio = std::thread::Builder::new()
            .name("tone".into())
            .spawn(move || tone(&path, start, &flag))
            .context("starting the tone thread")?;
        Ok(Publisher {
            stop,
            video: Some(video),
            audio: Some(audio),
            fifo,
            ffmpeg: Some(ffmpeg),
        })
    }

    /// Stops writing and ffmpeg; how the picture writer kept time.
    pub fn stop(mut self) -> Pacing {
        self.halt()
    }

    fn halt(&mut self) -> Pacing {
        self.stop.store(true, Ordering::Relaxed);
        // Killing ffmpeg unblocks a write in progress (EPIPE) …
        self.ffmpeg.take();
        // … and a reader of our own unblocks a tone writer still opening its FIFO.
        let unblock = OpenOptions::new()
            .read(true)
            .custom_flags(O_NONBLOCK)
            .open(&self.fifo);
        if let Some(a) = self.audio.take() {
            let _ = a.join();
        }
        drop(unblock);
        let _ = std::fs::remove_file(&self.fifo);
        self.video
            .take()
            .and_then(|w| w.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.halt();
    }
}

fn ffmpeg_args(url: &str, fifo: &Path) -> Vec<String> {
    let size = format!("{WIDTH}x{HEIGHT}");
    let rate = FPS.to_string();
    let sample_rate = SAMPLE_RATE.to_string();
    #[rustfmt::skip]
    let inputs = [
        "-hide_banner", "-loglevel", "error",
        // Both inputs arrive in real time, raw; nothing to probe.
        "-probesize", "32", "-analyzeduration", "0",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", &size, "-framerate", &rate,
        "-i", "pipe:0",
        "-probesize", "32", "-analyzeduration", "0",
        "-f", "s16le", "-ar", &sample_rate, "-ac", "1",
        "-i", &fifo.display().to_string(),
        "-map", "0:v", "-map", "1:a",
    ]
    .map(str::to_owned);
    let mut args = inputs.to_vec();
    args.extend(ENCODE_ARGS.iter().map(|s| (*s).to_owned()));
    args.extend(["-f", "flv", url].map(str::to_owned));
    args
}

/// Waits for `slot`'s time; how late it already was, in ms.
fn wait_for(start: Instant, slot: Duration) -> u64 {
    let due = start + slot;
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
        0
    } else {
        (now - due).as_millis() as u64
    }
}

/// Writes picture `n` at `start + n / FPS`, stamped when it is made. A late picture
/// is written at once and none is skipped, so the video clock stays the wall clock.
fn pictures(mut stdin: impl Write, start: Instant, stop: &AtomicBool) -> Pacing {
    let mut frame = vec![0u8; stamp::frame_len()];
    let mut pacing = Pacing::default();
    for n in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let late = wait_for(start, Duration::from_micros(n * 1_000_000 / FPS));
        if n >= WARM_UP_FRAMES {
            pacing.max_late_ms = pacing.max_late_ms.max(late);
        }
        stamp::draw(&mut frame, n, unix_ms());
        if stdin.write_all(&frame).is_err() {
            break;
        }
        pacing.frames = n + 1;
    }
    pacing
}

/// Writes the tone in slices of one picture's duration, on the pictures' clock:
/// what is due by the time ffmpeg opens the FIFO goes at once.
fn tone(fifo: &Path, start: Instant, stop: &AtomicBool) {
    let Ok(mut out) = OpenOptions::new().write(true).open(fifo) else {
        return;
    };
    let per_slice = SAMPLE_RATE / FPS;
    let mut slice = Vec::with_capacity(per_slice as usize * 2);
    for k in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        wait_for(start, Duration::from_micros(k * 1_000_000 / FPS));
        slice.clear();
        for i in k * per_slice..(k + 1) * per_slice {
            let phase = 2.0 * std::f64::consts::PI * TONE_HZ * i as f64 / SAMPLE_RATE as f64;
            let sample = (phase.sin() * 0.3 * f64::from(i16::MAX)) as i16;
            slice.extend_from_slice(&sample.to_le_bytes());
        }
        if out.write_all(&slice).is_err() {
            break;
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The wall clock in Unix milliseconds, with the fraction.
pub fn unix_ms_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_reads_pictures_on_stdin_and_the_tone_from_the_fifo() {
        let args = ffmpeg_args("rtmp://127.0.0.1:1935/live/bench", Path::new("/tmp/t.fifo"));
        let inputs: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "-i")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(inputs, ["pipe:0", "/tmp/t.fifo"]);
        assert!(
            !args.iter().any(|a| a == "-re"),
            "the writers pace, not ffmpeg"
        );
        assert_eq!(args.last().unwrap(), "rtmp://127.0.0.1:1935/live/bench");
        assert_eq!(
            SAMPLE_RATE % FPS,
            0,
            "a whole number of samples per picture"
        );
    }

    #[test]
    fn pictures_stop_when_the_encoder_goes_away() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let pacing = pictures(Closed, Instant::now(), &AtomicBool::new(false));
        assert_eq!(pacing.frames, 0);
    }
}
