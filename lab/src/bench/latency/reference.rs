//! A viewer without a browser: ffmpeg reading the server's HTTP-FLV, decoding with
//! no buffering and handing over the stamp rows of each frame as soon as it is
//! decoded. Its latency is what the source, the server and a decoder take, the floor
//! under any player's; the gap between it and a page is the page's own.

use std::io::Read;
use std::path::Path;
use std::process::{ChildStdout, Stdio};
use std::thread::JoinHandle;

use anyhow::{Context, Result};

use super::publisher::unix_ms_f64;
use super::stamp::{self, CELL, ROWS, WIDTH};
use super::stats::Frame;
use crate::peers::{self, CLIENT_CORE, Guard};

pub struct Reference {
    ffmpeg: Option<Guard>,
    reader: Option<JoinHandle<Frames>>,
}

/// Frames read, and frames whose stamp could not be read.
#[derive(Debug, Default)]
pub struct Frames {
    pub frames: Vec<Frame>,
    pub unreadable: u64,
}

impl Frames {
    pub fn latencies(&self) -> Vec<f64> {
        self.frames.iter().map(Frame::latency).collect()
    }
}

impl Reference {
    /// Starts ffmpeg on the browser's core, reading `http_flv`.
    pub fn start(http_flv: &str, log: &Path) -> Result<Reference> {
        let crop = format!("crop={WIDTH}:{}:0:0", ROWS * CELL);
        #[rustfmt::skip]
        let args: Vec<String> = [
            "-hide_banner", "-loglevel", "error", "-nostdin",
            "-fflags", "nobuffer", "-flags", "low_delay",
            // Enough to find both tracks whatever the server sends first; it
            // delays the start only.
            "-probesize", "100000", "-analyzeduration", "1000000",
            // Frame threads would hold frames back; one thread decodes at once.
            "-threads", "1",
            "-i", http_flv,
            "-map", "0:v", "-vf", &crop, "-pix_fmt", "gray",
            "-f", "rawvideo", "pipe:1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let log = std::fs::File::create(log)?;
        let mut cmd = peers::pinned(CLIENT_CORE, Path::new("ffmpeg"), &args);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting ffmpeg (the reference viewer)")?;
        let stdout = child.stdout.take().context("ffmpeg's stdout")?;
        let ffmpeg = Guard::adopt(child, "ffmpeg");
        let reader = std::thread::Builder::new()
            .name("reference".into())
            .spawn(move || read_frames(stdout))
            .context("starting the reference reader")?;
        Ok(Reference {
            ffmpeg: Some(ffmpeg),
            reader: Some(reader),
        })
    }

    pub fn stop(mut self) -> Frames {
        self.halt()
    }

    fn halt(&mut self) -> Frames {
        // Killing ffmpeg ends the reader's stream.
        self.ffmpeg.take();
        self.reader
            .take()
            .and_then(|r| r.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        self.halt();
    }
}

fn read_frames(mut stdout: ChildStdout) -> Frames {
    let mut rows = vec![0u8; WIDTH * ROWS * CELL];
    let mut out = Frames::default();
    while stdout.read_exact(&mut rows).is_ok() {
        let shown = unix_ms_f64();
        match stamp::read(&rows) {
            Some((ms, seq)) => out.frames.push(Frame {
                shown,
                stamped: ms as f64,
                seq,
            }),
            None => out.unreadable += 1,
        }
    }
    out
}
