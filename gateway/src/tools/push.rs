//! `flashless push`: publish an FLV file (or standard input) to an RTMP server in real
//! time, as `ffmpeg -re -i x -c copy -f flv rtmp://…` and librtmp's publish do; loop a
//! file, reconnect when the server drops the connection, and resume at the real-time
//! position (sequence headers again, then the next keyframe).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use flashless_core::flv::{FlvReader, Item, Tag, TagType};
use flashless_core::rtmp::session::ClientEvent;
use flashless_core::rtmp::url::RtmpUrl;
use flashless_core::stream::Role;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{Instant, sleep, sleep_until};

use super::dump::Progress;
use crate::client::rtmp::RtmpClient;
use crate::ingest::MAX_TAG_SIZE;

pub struct PushArgs {
    /// An FLV file, or `-` for standard input.
    pub input: PathBuf,
    pub url: RtmpUrl,
    /// Start the file again at its end, timestamps going on (a file only).
    pub looped: bool,
    /// Reconnections tried in a row before giving up with exit code 2.
    pub retries: u32,
    pub quiet: bool,
}

/// The push did not finish: the server stayed away or the user interrupted it. rtmpdump's
/// `RD_INCOMPLETE`: the binary exits with 2.
#[derive(Debug, thiserror::Error)]
#[error("push incomplete: {0}")]
pub struct Incomplete(pub String);

/// A tag more than this late after a reconnection is skipped: the push resumes where
/// real time is, not where it was when the connection broke.
const RESUME_LATENESS: Duration = Duration::from_millis(500);
/// An MP4 input is held whole in memory, so it has a limit (a looped FLV file's).
const MAX_MP4_BYTES: u64 = 256 << 20;

pub async fn run(args: PushArgs) -> Result<()> {
    let stream_url = args.url.stream_url();
    let mut source = Source::open(&args.input, args.looped).await?;
    let mut client = RtmpClient::publish(&args.url)
        .await
        .with_context(|| format!("publishing to {stream_url}"))?;
    let mut progress =
        Progress::new(!args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let mut headers = Headers::default();
    // After a reconnection: coded tags wait for an on-time keyframe.
    let mut resyncing = false;
    let mut start: Option<Instant> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while let Some(tag) = source.next().await? {
        let role = Role::of(&tag);
        headers.note(&tag, role);
        let due = *start.get_or_insert_with(Instant::now) + ms(tag.timestamp);
        // Wait for the tag's time, answering the server (acks, pings) meanwhile.
        let lost = loop {
            tokio::select! {
                _ = sleep_until(due) => break None,
                read = client.read_some() => match read {
                    Ok(true) => {
                        if let Some(why) = drain(&mut client) {
                            break Some(why);
                        }
                        if let Err(e) = client.flush().await {
                            break Some(format!("{e:#}"));
                        }
                    }
                    Ok(false) => break Some("the server closed the connection".to_owned()),
                    Err(e) => break Some(format!("{e:#}")),
                },
                _ = &mut ctrl_c => {
                    progress.finish("interrupted");
                    client.close().await.ok();
                    return Err(Incomplete("interrupted".into()).into());
                }
            }
        };
        let lost = match lost {
            Some(why) => Some(why),
            None => {
                if resyncing && !on_time_start(&tag, role, due, &headers) {
                    continue;
                }
                resyncing = false;
                match client.send_tag(&tag).await {
                    Ok(()) => {
                        progress.tag(tag.data.len() + 15, tag.timestamp);
                        None
                    }
                    Err(e) => Some(format!("{e:#}")),
                }
            }
        };
        if let Some(why) = lost {
            tracing::warn!(%why, "lost the connection to {stream_url}; reconnecting");
            client = match reconnect(&args.url, args.retries).await {
                Some(c) => c,
                None => {
                    progress.finish("the server stayed away");
                    return Err(Incomplete(format!(
                        "{stream_url}: {why}; {} reconnection(s) failed",
                        args.retries
                    ))
                    .into());
                }
            };
            for header in headers.all() {
                client
                    .send_tag(&header.clone().with_timestamp(tag.timestamp))
                    .await?;
            }
            resyncing = true;
        }
    }
    progress.finish("the input ended");
    client.close().await.ok();
    Ok(())
}

/// Tries again with a doubling pause (0.5 s up to 8 s); `None` once `retries` failed.
async fn reconnect(url: &RtmpUrl, retries: u32) -> Option<RtmpClient> {
    let mut pause = Duration::from_millis(500);
    for attempt in 1..=retries {
        sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(8));
        match RtmpClient::publish(url).await {
            Ok(c) => {
                tracing::info!(attempt, "publishing again");
                return Some(c);
            }
            Err(e) => tracing::warn!(attempt, "reconnecting: {e:#}"),
        }
    }
    None
}

/// Handles what the server said; `Some(reason)` when it ended the publish.
fn drain(client: &mut RtmpClient) -> Option<String> {
    while let Some(event) = client.poll_event() {
        match event {
            ClientEvent::StreamEnd { reason } => return Some(reason),
            ClientEvent::Status { code, .. } => tracing::info!(%code, "status"),
            other => tracing::debug!(?other, "event"),
        }
    }
    None
}

/// Whether a tag may be the first one sent after a reconnection: headers always; a coded
/// tag only if it is not late, and a video keyframe when the stream has video.
fn on_time_start(tag: &Tag, role: Role, due: Instant, headers: &Headers) -> bool {
    if !role.is_coded() {
        return true;
    }
    if Instant::now().saturating_duration_since(due) > RESUME_LATENESS {
        return false;
    }
    headers.video.is_none() || (tag.tag_type == TagType::Video && role == Role::Keyframe)
}

fn ms(ts: u32) -> Duration {
    Duration::from_millis(u64::from(ts))
}

/// The metadata and sequence headers last seen: what a new connection needs before frames.
#[derive(Default)]
struct Headers {
    metadata: Option<Tag>,
    video: Option<Tag>,
    audio: Option<Tag>,
}

impl Headers {
    fn note(&mut self, tag: &Tag, role: Role) {
        let slot = match role {
            Role::Metadata => &mut self.metadata,
            Role::VideoHeader => &mut self.video,
            Role::AudioHeader => &mut self.audio,
            Role::Keyframe | Role::Frame => return,
        };
        *slot = Some(tag.clone());
    }

    fn all(&self) -> impl Iterator<Item = &Tag> {
        [&self.metadata, &self.video, &self.audio]
            .into_iter()
            .flatten()
    }
}

trait WithTimestamp {
    fn with_timestamp(self, ts: u32) -> Self;
}

impl WithTimestamp for Tag {
    fn with_timestamp(self, timestamp: u32) -> Tag {
        Tag { timestamp, ..self }
    }
}

/// FLV tags from a file or standard input, their timestamps from 0 and going on across
/// loops.
struct Source {
    path: Option<PathBuf>,
    looped: bool,
    input: Box<dyn AsyncRead + Unpin + Send>,
    reader: FlvReader,
    buf: Vec<u8>,
    /// The first timestamp of the current loop, played at `loop_start_ms`.
    origin: Option<u32>,
    loop_start_ms: u64,
    /// The last output timestamp and the last step between video (else any) tags.
    last_ms: u64,
    step_ms: u64,
    tags_this_loop: u64,
    /// An MP4 input, read whole and turned into tags; `None` for FLV (streamed).
    mp4: Option<std::vec::IntoIter<Tag>>,
    /// Nothing read yet from the current loop: the first bytes tell MP4 from FLV.
    fresh: bool,
}

impl Source {
    async fn open(input: &std::path::Path, looped: bool) -> Result<Source> {
        let path = (input.as_os_str() != "-").then(|| input.to_path_buf());
        if looped && path.is_none() {
            bail!("--loop needs a file: standard input cannot start again");
        }
        Ok(Source {
            input: open_input(path.as_deref()).await?,
            path,
            looped,
            reader: FlvReader::new().with_max_tag_size(MAX_TAG_SIZE),
            buf: vec![0; 64 * 1024],
            origin: None,
            loop_start_ms: 0,
            last_ms: 0,
            step_ms: 40,
            tags_this_loop: 0,
            mp4: None,
            fresh: true,
        })
    }

    /// The next tag with its output timestamp; `None` at the end of the input.
    async fn next(&mut self) -> Result<Option<Tag>> {
        loop {
            if let Some(tags) = &mut self.mp4 {
                match tags.next() {
                    Some(tag) => return Ok(Some(self.place(tag))),
                    None => {
                        if !self.start_again().await? {
                            return Ok(None);
                        }
                        continue;
                    }
                }
            }
            let item = self
                .reader
                .poll_item()
                .with_context(|| format!("{}: not an FLV stream", self.name()))?;
            match item {
                Some(Item::Tag(tag)) => return Ok(Some(self.place(tag))),
                Some(Item::Header(_)) => continue,
                None => {}
            }
            let n = self
                .input
                .read(&mut self.buf)
                .await
                .with_context(|| format!("reading {}", self.name()))?;
            if n > 0 {
                let chunk = self.buf.get(..n).unwrap_or_default().to_vec();
                if std::mem::take(&mut self.fresh) && chunk.get(4..8) == Some(b"ftyp") {
                    self.read_mp4(chunk).await?;
                } else {
                    self.reader.feed(&chunk);
                }
                continue;
            }
            if !self.start_again().await? {
                return Ok(None);
            }
        }
    }

    /// With `--loop`, opens the file again, one frame after the last tag; false at the end.
    async fn start_again(&mut self) -> Result<bool> {
        if !self.looped || self.tags_this_loop == 0 {
            return Ok(false);
        }
        self.input = open_input(self.path.as_deref()).await?;
        self.reader = FlvReader::new().with_max_tag_size(MAX_TAG_SIZE);
        self.mp4 = None;
        self.fresh = true;
        self.loop_start_ms = self.last_ms + self.step_ms;
        self.origin = None;
        self.tags_this_loop = 0;
        Ok(true)
    }

    /// An MP4 (plain or fragmented; H.264, AAC, MP3) is read whole: its index may sit at the end.
    async fn read_mp4(&mut self, mut data: Vec<u8>) -> Result<()> {
        let limit = MAX_MP4_BYTES;
        (&mut self.input)
            .take(limit)
            .read_to_end(&mut data)
            .await
            .with_context(|| format!("reading {}", self.name()))?;
        if data.len() as u64 >= limit {
            bail!(
                "{}: an MP4 input may have at most {limit} bytes",
                self.name()
            );
        }
        let tags = flashless_core::mp4::to_flv_tags(&data)
            .with_context(|| format!("{}: reading the MP4", self.name()))?;
        self.mp4 = Some(tags.into_iter());
        Ok(())
    }

    fn place(&mut self, tag: Tag) -> Tag {
        let origin = *self.origin.get_or_insert(tag.timestamp);
        // Tags stamped before the first one (headers at 0 in a cut file) play at once.
        let rel = u64::from((tag.timestamp.wrapping_sub(origin) as i32).max(0) as u32);
        let out = self.loop_start_ms + rel;
        if tag.tag_type == TagType::Video && out > self.last_ms && self.tags_this_loop > 0 {
            self.step_ms = (out - self.last_ms).min(1000);
        }
        self.last_ms = self.last_ms.max(out);
        self.tags_this_loop += 1;
        // RTMP timestamps wrap at 32 bits, after 49 days.
        tag.with_timestamp(out as u32)
    }

    fn name(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "standard input".to_owned(), |p| p.display().to_string())
    }
}

async fn open_input(path: Option<&std::path::Path>) -> Result<Box<dyn AsyncRead + Unpin + Send>> {
    Ok(match path {
        None => Box::new(tokio::io::stdin()),
        Some(p) => Box::new(
            tokio::fs::File::open(p)
                .await
                .with_context(|| format!("opening {}", p.display()))?,
        ),
    })
}
