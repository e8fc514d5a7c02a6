//! `flashless dump`: rtmpdump's job. Pulls a stream and writes it as FLV, or as
//! fragmented MP4 through the same remuxer the browser player uses.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use flashless_core::flv::{self, Header, Tag};
use flashless_core::fmp4::{Layout, RemuxEvent, Remuxer, RemuxerOptions};
use flashless_core::rtmp::session::{ClientEvent, ClientMode};
use flashless_core::rtmp::url::RtmpUrl;
use flashless_core::stream::{Role, Timeline};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::client::rtmp::RtmpClient;

pub struct DumpArgs {
    pub url: RtmpUrl,
    /// `-` for standard output.
    pub output: PathBuf,
    /// Stop after this much media time.
    pub duration: Option<Duration>,
    pub quiet: bool,
    /// Keep the server's timestamps instead of starting the file at 0.
    pub keep_timestamps: bool,
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Flv,
    /// Fragmented MP4, one `moov` with every track.
    Mp4,
}

impl Format {
    /// The format a file name asks for: `.mp4`/`.m4v`/`.m4a` are MP4, anything else FLV.
    pub fn for_path(path: &std::path::Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("mp4" | "m4v" | "m4a") => Format::Mp4,
            _ => Format::Flv,
        }
    }
}

/// Turns tags into the bytes of the output file.
enum Encoder {
    Flv,
    Mp4(Box<Remuxer>),
}

impl Encoder {
    fn new(format: Format) -> Encoder {
        match format {
            Format::Flv => Encoder::Flv,
            Format::Mp4 => Encoder::Mp4(Box::new(Remuxer::new(RemuxerOptions {
                layout: Layout::Muxed,
                ..RemuxerOptions::default()
            }))),
        }
    }

    fn start(&mut self, out: &mut BytesMut) {
        if let Encoder::Flv = self {
            flv::write_header(
                &Header {
                    has_audio: true,
                    has_video: true,
                },
                out,
            );
        }
    }

    fn tag(&mut self, tag: &Tag, out: &mut BytesMut) {
        match self {
            Encoder::Flv => flv::write_tag(tag, out),
            Encoder::Mp4(remuxer) => {
                remuxer.feed(tag);
                drain(remuxer, out);
            }
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if let Encoder::Mp4(remuxer) = self {
            remuxer.flush();
            drain(remuxer, out);
        }
    }
}

fn drain(remuxer: &mut Remuxer, out: &mut BytesMut) {
    while let Some(event) = remuxer.poll_event() {
        match event {
            RemuxEvent::Init { data, .. } | RemuxEvent::Fragment { data, .. } => {
                out.extend_from_slice(&data)
            }
            RemuxEvent::Unsupported { track, codec, .. } => {
                tracing::warn!(
                    "unsupported codec {codec} on the {track:?} track: it is left out of the MP4"
                )
            }
            RemuxEvent::Error { message, .. } => tracing::warn!("{message}"),
            // The Samples layout's, which dump does not use.
            RemuxEvent::Discontinuity { .. }
            | RemuxEvent::Metadata(_)
            | RemuxEvent::Config { .. }
            | RemuxEvent::Sample { .. } => {}
        }
    }
}

pub async fn run(args: DumpArgs) -> Result<()> {
    let mut out: Box<dyn AsyncWrite + Unpin + Send> = if args.output.as_os_str() == "-" {
        Box::new(tokio::io::stdout())
    } else {
        let file = tokio::fs::File::create(&args.output)
            .await
            .with_context(|| format!("creating {}", args.output.display()))?;
        Box::new(tokio::io::BufWriter::new(file))
    };
    let mut client = RtmpClient::connect(&args.url, ClientMode::Play).await?;
    let mut progress = Progress::new(!args.quiet && std::io::stderr().is_terminal());
    let mut buf = BytesMut::new();
    let mut encoder = Encoder::new(args.format);
    encoder.start(&mut buf);
    out.write_all(&buf).await.context("writing the output")?;
    // One session's timeline is a recording's: it starts at 0 from the first coded frame
    // (servers such as nginx-rtmp send sequence headers stamped 0 to a player that joined
    // before the publisher, then media at the publisher's clock).
    let mut timeline = Timeline::new();
    let mut ended_by = "the server closed the connection";
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let event = tokio::select! {
            ev = client.next_event() => ev?,
            _ = &mut ctrl_c => { ended_by = "interrupted"; break; }
        };
        let Some(event) = event else { break };
        match event {
            ClientEvent::Tag(tag) => {
                let media_ms = timeline.map(tag.timestamp, Role::of(&tag));
                let tag = Tag {
                    timestamp: if args.keep_timestamps {
                        tag.timestamp
                    } else {
                        media_ms
                    },
                    ..tag
                };
                buf.clear();
                encoder.tag(&tag, &mut buf);
                out.write_all(&buf).await.context("writing the output")?;
                progress.tag(buf.len(), media_ms);
                if args
                    .duration
                    .is_some_and(|d| u128::from(media_ms) >= d.as_millis())
                {
                    ended_by = "the requested duration was reached";
                    break;
                }
            }
            ClientEvent::StreamEnd { reason } => {
                tracing::info!(%reason, "stream ended");
                ended_by = "the stream ended";
                break;
            }
            ClientEvent::Connected { .. } => tracing::debug!(peer = client.peer(), "connected"),
            ClientEvent::Playing => tracing::debug!("playing"),
            other => tracing::debug!(?other, "event"),
        }
    }
    buf.clear();
    encoder.finish(&mut buf);
    out.write_all(&buf).await.context("writing the output")?;
    out.flush().await.context("writing the output")?;
    progress.finish(ended_by);
    client.close().await.ok();
    if !timeline.is_anchored() && ended_by != "interrupted" {
        bail!(
            "{}: {ended_by} before any media arrived",
            args.url.stream_url()
        );
    }
    Ok(())
}

/// The `bytes  media time  bitrate` line rtmpdump users expect on a terminal.
pub(crate) struct Progress {
    enabled: bool,
    bytes: u64,
    media_ms: u32,
    started: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Self {
        Progress {
            enabled,
            bytes: 0,
            media_ms: 0,
            started: Instant::now(),
            last_draw: None,
        }
    }

    pub(crate) fn tag(&mut self, len: usize, ts: u32) {
        self.bytes += len as u64;
        self.media_ms = self.media_ms.max(ts);
        if self
            .last_draw
            .is_none_or(|t| t.elapsed() > Duration::from_millis(250))
        {
            self.last_draw = Some(Instant::now());
            self.draw("");
        }
    }

    pub(crate) fn finish(&mut self, reason: &str) {
        self.draw("\n");
        if self.enabled {
            eprintln!("done: {reason}");
        }
    }

    fn draw(&self, end: &str) {
        if !self.enabled {
            return;
        }
        let secs = f64::from(self.media_ms) / 1000.0;
        let kbps = if secs > 0.0 {
            self.bytes as f64 * 8.0 / secs / 1000.0
        } else {
            0.0
        };
        let wall = self.started.elapsed().as_secs_f64();
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r{:>10.3} MB  {:>8.1} s media  {:>7.0} kbit/s  {:>7.1} s elapsed{end}",
            self.bytes as f64 / 1e6,
            secs,
            kbps,
            wall
        );
        let _ = err.flush();
    }
}
