//! ffmpeg as the live source: testsrc and a 1 kHz sine, encoded in real time into FLV
//! on its stdout, read tag by tag on a thread of its own.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc::SyncSender;

use anyhow::{Context, Result};
use flashless_core::flv::{FlvReader, Item, Tag};

use crate::peers::Guard;

/// What one ffmpeg encodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Frames per GOP.
    pub gop: u32,
    /// The AAC sample rate; `None` for no audio.
    pub sample_rate: Option<u32>,
    /// B-frames (x264 with `-bf 2`, not tuned for zero latency).
    pub bframes: bool,
}

impl Spec {
    /// 320x180 at 25 fps, a keyframe a second, AAC at 44.1 kHz: small enough for two
    /// cores to run several at once.
    pub const BASE: Spec = Spec {
        width: 320,
        height: 180,
        fps: 25,
        gop: 25,
        sample_rate: Some(44_100),
        bframes: false,
    };

    pub fn ffmpeg_args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-nostdin", "-re"]
            .map(String::from)
            .to_vec();
        args.extend([
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            format!(
                "testsrc=size={}x{}:rate={}",
                self.width, self.height, self.fps
            ),
        ]);
        if let Some(rate) = self.sample_rate {
            args.extend([
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!("sine=frequency=1000:sample_rate={rate}"),
            ]);
        }
        let tune: &[&str] = if self.bframes {
            &["-bf", "2"]
        } else {
            &["-tune", "zerolatency"]
        };
        args.extend(
            ["-c:v", "libx264", "-preset", "ultrafast"]
                .iter()
                .chain(tune)
                .map(|s| s.to_string()),
        );
        args.extend(["-g".into(), self.gop.to_string()]);
        args.extend(["-pix_fmt", "yuv420p"].map(String::from));
        if self.sample_rate.is_some() {
            args.extend(["-c:a", "aac", "-b:a", "64k"].map(String::from));
        }
        args.extend(["-f", "flv", "-flvflags", "no_duration_filesize", "pipe:1"].map(String::from));
        args
    }
}

/// Starts ffmpeg for `spec`; each of its tags goes to every reader of `to` as
/// `(index, tag)`, until it ends or no reader is left (a reader gone is dropped).
pub fn spawn(spec: Spec, mut to: Vec<(usize, SyncSender<(usize, Tag)>)>) -> Result<Guard> {
    let mut child = Command::new("ffmpeg")
        .args(spec.ffmpeg_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting ffmpeg (the source)")?;
    let mut stdout = child.stdout.take().context("ffmpeg's stdout")?;
    std::thread::spawn(move || {
        let mut reader = FlvReader::new();
        let mut buf = vec![0; 64 * 1024];
        while !to.is_empty() {
            let n = match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            reader.feed(&buf[..n]);
            loop {
                match reader.poll_item() {
                    Ok(Some(Item::Tag(tag))) => {
                        to.retain(|(index, tx)| tx.send((*index, tag.clone())).is_ok())
                    }
                    Ok(Some(Item::Header(_))) => {}
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("mangle: source {spec:?}: {e}");
                        return;
                    }
                }
            }
        }
    });
    Ok(Guard::adopt(child, "ffmpeg (the source)"))
}
