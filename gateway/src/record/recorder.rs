//! One recorded channel: a subscriber to the hub (no viewer: `subscribe_uncounted`)
//! feeding core's `Segmenter`, each segment a file of its own, init then parts, each
//! part written whole as soon as it is complete. So a gateway killed at any moment
//! leaves every file playable up to its last part.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flashless_core::segment::{SegmentEvent, SegmentOptions, Segmenter};
use tokio::sync::watch;

use super::boxes::{self, InitTrack};
use super::{Recordings, path};
use crate::config::RecordSettings;
use crate::hooks::{Event, Hooks, Notice};
use crate::hub::{Channel, Feed, name};
use crate::shutdown::{Shutdown, stopped};

/// Files of one channel that may begin in one second (`-2` … after the first); a
/// session past them is not recorded, and says so.
const MAX_FILES_A_SECOND: u32 = 99;

/// Records `channel` until it closes, `stop` turns true or `shutdown`; the open file
/// ends cleanly then.
pub(super) async fn record(
    channel: Arc<Channel>,
    recordings: Arc<Recordings>,
    hooks: Arc<Hooks>,
    mut stop: watch::Receiver<bool>,
    mut shutdown: Shutdown,
) {
    let settings = recordings.settings();
    tracing::info!(channel = channel.name(), dir = %settings.dir.display(), "recording");
    let options = segment_options(&settings);
    let mut segmenter = Segmenter::new(options);
    let (burst, mut feed) = channel.subscribe_uncounted();
    let mut writer = Some(Writer {
        client_id: hooks.client_id(),
        channel: channel.clone(),
        recordings,
        hooks,
        settings,
        init: None,
        tracks: Vec::new(),
        fresh_segment: false,
        file: None,
    });
    for tag in burst {
        segmenter.feed(&tag.tag);
    }
    loop {
        writer = write(writer, &mut segmenter).await;
        if writer.is_none() {
            return;
        }
        tokio::select! {
            item = feed.next() => match item {
                Some(Feed::Tag(tag)) => segmenter.feed(&tag.tag),
                // The session ended: its file ends; the next session starts a new one.
                Some(Feed::Unpublished) => {
                    segmenter.flush();
                    writer = write(writer, &mut segmenter).await;
                    segmenter = Segmenter::new(options);
                }
                Some(Feed::Published) => {}
                None => break,
            },
            () = stopped(&mut stop) => break,
            _ = shutdown.wait() => break,
        }
    }
    segmenter.flush();
    if let Some(mut w) = write(writer, &mut segmenter).await {
        let _ = tokio::task::spawn_blocking(move || w.close()).await;
    }
    tracing::info!(channel = channel.name(), "recording stopped");
}

fn segment_options(settings: &RecordSettings) -> SegmentOptions {
    let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1);
    SegmentOptions {
        target_ms: ms(settings.segment),
        part_ms: ms(settings.part),
        // A file starts at a keyframe, unless the source sends none for twice a file's
        // length (and two minutes): then it is cut anyway, so that retention can delete
        // what a broken or hostile source records rather than one file growing forever.
        longest_ms: Some(ms((settings.segment * 2).max(LONGEST_WITHOUT_KEYFRAME))),
        live_playlist: false,
    }
}

/// The shortest a file is let grow without a keyframe before it is cut anyway.
const LONGEST_WITHOUT_KEYFRAME: Duration = Duration::from_secs(120);

/// Hands what the segmenter has to the writer, off the async threads; `None` if the
/// writer's thread panicked.
async fn write(writer: Option<Writer>, segmenter: &mut Segmenter) -> Option<Writer> {
    let mut w = writer?;
    let mut events = Vec::new();
    while let Some(e) = segmenter.poll_event() {
        events.push(e);
    }
    if events.is_empty() {
        return Some(w);
    }
    tokio::task::spawn_blocking(move || {
        for e in events {
            w.handle(e);
        }
        w
    })
    .await
    .ok()
}

/// The file being written, and what the next one starts with.
struct Writer {
    client_id: u64,
    channel: Arc<Channel>,
    recordings: Arc<Recordings>,
    hooks: Arc<Hooks>,
    settings: Arc<RecordSettings>,
    /// The init every file starts with, and its tracks.
    init: Option<Bytes>,
    tracks: Vec<InitTrack>,
    /// A segment started and its first part is not yet out: a file may start there.
    fresh_segment: bool,
    file: Option<Open>,
}

struct Open {
    file: File,
    full: PathBuf,
    /// Under the recordings' directory, `/`-separated.
    relative: String,
    bytes: u64,
    ms: f64,
    /// Each file starts at time 0 (the channel's timeline may be days in): see
    /// `boxes::rebase`.
    origin_s: Option<f64>,
    shift: HashMap<u32, u64>,
}

impl Writer {
    fn handle(&mut self, event: SegmentEvent) {
        match event {
            SegmentEvent::Init { data, .. } => {
                self.tracks = boxes::child(&data, b"moov")
                    .map(boxes::tracks)
                    .unwrap_or_default();
                self.init = Some(data);
            }
            SegmentEvent::SegmentStart { .. } => self.fresh_segment = true,
            SegmentEvent::Part {
                data, duration_ms, ..
            } => {
                let fresh = std::mem::take(&mut self.fresh_segment);
                if self.file.is_none() && fresh && self.init.is_some() {
                    self.file = self.create(duration_ms);
                }
                // Without a file (none could be made), parts wait for the next segment:
                // a file starts at a keyframe.
                let Some(open) = &mut self.file else { return };
                let mut bytes = if open.bytes == 0 {
                    // The init goes with the first part: a file never holds an init alone.
                    self.init.as_deref().unwrap_or_default().to_vec()
                } else {
                    Vec::with_capacity(data.len())
                };
                let part_at = bytes.len();
                bytes.extend_from_slice(&data);
                boxes::rebase(
                    &mut bytes[part_at..],
                    &self.tracks,
                    &mut open.origin_s,
                    &mut open.shift,
                );
                // One write of the whole part.
                match open.file.write_all(&bytes) {
                    Ok(()) => {
                        let len = bytes.len() as u64;
                        open.bytes += len;
                        open.ms += duration_ms;
                        self.channel.counters.recorded_bytes.fetch_add(len, Relaxed);
                    }
                    Err(e) => {
                        tracing::warn!(file = open.relative, error = %e, "recording: write failed; this file ends");
                        self.recordings.write_errors.fetch_add(1, Relaxed);
                        self.close();
                    }
                }
            }
            SegmentEvent::SegmentEnd { .. } => self.close(),
        }
    }

    /// A new file for a segment whose first part lasts `first_ms`: named by the UTC
    /// time that part began.
    fn create(&mut self, first_ms: f64) -> Option<Open> {
        let root = &self.settings.dir;
        let channel = self.channel.name();
        let Some(dir) = path::channel_dir(root, channel) else {
            tracing::warn!(
                channel,
                "recording: the channel's name is no directory name"
            );
            return None;
        };
        let started = SystemTime::now()
            .checked_sub(Duration::from_secs_f64(first_ms.max(0.0) / 1000.0))
            .unwrap_or_else(SystemTime::now);
        let start = started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "recording: no directory");
            self.recordings.write_errors.fetch_add(1, Relaxed);
            return None;
        }
        let (_, stream) = name::split(channel);
        for n in 1..=MAX_FILES_A_SECOND {
            let file_name = path::file_name(stream, start, n);
            let full = dir.join(&file_name);
            match File::create_new(&full) {
                Ok(file) => {
                    self.recordings.opened(&full);
                    return Some(Open {
                        file,
                        full,
                        relative: format!("{channel}/{file_name}"),
                        bytes: 0,
                        ms: 0.0,
                        origin_s: None,
                        shift: HashMap::new(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    tracing::warn!(file = %full.display(), error = %e, "recording: cannot create");
                    self.recordings.write_errors.fetch_add(1, Relaxed);
                    return None;
                }
            }
        }
        tracing::warn!(
            channel,
            "recording: {} files began in this second already; this one is not recorded",
            MAX_FILES_A_SECOND
        );
        self.recordings.write_errors.fetch_add(1, Relaxed);
        None
    }

    /// The file is complete: counted, announced (`on_record_segment`), and old ones pruned.
    fn close(&mut self) {
        let Some(open) = self.file.take() else { return };
        // To the disk before it is announced: a hook may copy it away at once.
        let _ = open.file.sync_data();
        drop(open.file);
        let seconds = open.ms / 1000.0;
        self.recordings.closed(&open.full, open.bytes, seconds);
        self.channel
            .counters
            .recorded_segments
            .fetch_add(1, Relaxed);
        tracing::info!(
            file = open.relative,
            bytes = open.bytes,
            seconds,
            "recording segment done"
        );
        let mut notice = Notice::new(
            Event::OnRecordSegment,
            self.channel.name(),
            None,
            "file",
            self.client_id,
        );
        notice.file = Some(open.relative);
        notice.duration = Some(seconds);
        self.hooks.notify(notice);
        self.recordings.prune();
    }
}
