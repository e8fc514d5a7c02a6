//! An FLV file (or the built-in demo clip) played as a live stream: in real time, in a
//! loop, with timestamps that keep going forward from one loop to the next.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use flashless_core::flv::{FlvReader, Item, Tag, TagType, VideoPacket, VideoTag};
use flashless_core::stream::Role;
use tokio::time::{Instant, sleep_until};

use super::MAX_TAG_SIZE;

/// Larger files are refused: the whole file is held in memory while it plays.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Added between loops when the file gives no frame duration to go by.
const DEFAULT_FRAME_MS: u64 = 40;

pub struct FilePlayer {
    tags: Vec<Tag>,
    /// Source timestamp that plays at 0 in each loop: the first coded frame's.
    origin: u32,
    /// One loop's length on the output timeline: the file's duration plus one frame.
    period_ms: u64,
    next: usize,
    loop_start_ms: u64,
    /// When output timestamp 0 is due; set on the first tag.
    start: Option<Instant>,
    /// The metadata and sequence headers last sent, so a loop repeats them only on change.
    sent: [Option<Bytes>; 3],
}

impl FilePlayer {
    pub async fn open(path: &Path) -> Result<Self> {
        let name = path.display();
        let len = tokio::fs::metadata(path)
            .await
            .with_context(|| format!("reading {name}"))?
            .len();
        if len > MAX_FILE_BYTES {
            bail!("{name}: {len} bytes is more than the {MAX_FILE_BYTES} a looped file may have");
        }
        let data = tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {name}"))?;
        Self::from_bytes(&data).with_context(|| name.to_string())
    }

    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        let mut reader = FlvReader::new().with_max_tag_size(MAX_TAG_SIZE);
        reader.push(data);
        let mut tags = Vec::new();
        while let Some(item) = reader.next_item().context("not a playable FLV file")? {
            match item {
                // An end-of-sequence in the middle of a looped stream would make decoders flush.
                Item::Tag(tag) if is_sequence_end(&tag) => {}
                Item::Tag(tag) => tags.push(tag),
                Item::Header(_) => {}
            }
        }
        if reader.offset() < data.len() as u64 {
            // What a recorder killed mid-write leaves; the tags before it still play.
            tracing::warn!(
                offset = reader.offset(),
                "FLV file ends inside a tag; playing the tags before it"
            );
        }
        let coded: Vec<&Tag> = tags.iter().filter(|t| Role::of(t).is_coded()).collect();
        let Some(first) = coded.first() else {
            bail!(
                "no audio or video frame in {} tags of FLV: nothing to play",
                tags.len()
            );
        };
        let origin = first.timestamp;
        let last = coded
            .iter()
            .map(|t| rel(t.timestamp, origin))
            .max()
            .unwrap_or(0);
        let period_ms = last + frame_ms(&coded);
        Ok(FilePlayer {
            tags,
            origin,
            period_ms,
            next: 0,
            loop_start_ms: 0,
            start: None,
            sent: [None, None, None],
        })
    }

    /// The length of one loop on the output timeline.
    pub fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms)
    }

    /// The next tag, once it is due.
    pub async fn next_tag(&mut self) -> Tag {
        loop {
            let Some(tag) = self.tags.get(self.next).cloned() else {
                self.next = 0;
                self.loop_start_ms += self.period_ms;
                continue;
            };
            self.next += 1;
            let slot = match Role::of(&tag) {
                Role::Metadata => Some(0),
                Role::VideoHeader => Some(1),
                Role::AudioHeader => Some(2),
                Role::Keyframe | Role::Frame => None,
            };
            if let Some(slot) = slot {
                if self.sent[slot].as_ref() == Some(&tag.data) {
                    continue;
                }
                self.sent[slot] = Some(tag.data.clone());
            }
            let ms = self.loop_start_ms + rel(tag.timestamp, self.origin);
            let start = *self.start.get_or_insert_with(Instant::now);
            sleep_until(start + Duration::from_millis(ms)).await;
            return Tag {
                // The hub's timeline wraps at 32 bits like RTMP's, after 49 days.
                timestamp: ms as u32,
                ..tag
            };
        }
    }
}

fn is_sequence_end(tag: &Tag) -> bool {
    tag.tag_type == TagType::Video
        && VideoTag::parse(&tag.data).is_ok_and(|v| v.packet == VideoPacket::SequenceEnd)
}

/// Milliseconds from the origin; tags stamped before it (headers at 0 in a cut file) play at 0.
fn rel(ts: u32, origin: u32) -> u64 {
    u64::from((ts.wrapping_sub(origin) as i32).max(0) as u32)
}

/// The last step between two video frames (audio when there is no video): what one
/// more frame at the end of a loop lasts.
fn frame_ms(coded: &[&Tag]) -> u64 {
    let step = |kind: TagType| {
        let ts: Vec<u32> = coded
            .iter()
            .filter(|t| t.tag_type == kind)
            .map(|t| t.timestamp)
            .collect();
        ts.windows(2)
            .rev()
            .map(|w| u64::from(w[1].wrapping_sub(w[0])))
            .find(|&d| d > 0 && d < 1000)
    };
    step(TagType::Video)
        .or_else(|| step(TagType::Audio))
        .unwrap_or(DEFAULT_FRAME_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIP: &[u8] = include_bytes!("../../../testdata/h264_aac.flv");

    #[test]
    fn the_clip_loops_after_its_last_frame_and_one_more() {
        let p = FilePlayer::from_bytes(CLIP).unwrap();
        let ms = p.period().as_millis();
        // The last AAC frame is at 2077 ms; the video frame step is 40 ms.
        assert_eq!(ms, 2117);
        assert!(!p.tags.iter().any(is_sequence_end));
    }

    #[test]
    fn a_corrupt_file_names_the_byte_offset() {
        let mut bad = CLIP.to_vec();
        // The first tag's type byte, right after the 9-byte header and PreviousTagSize0.
        bad[13] = 0x42;
        let err = FilePlayer::from_bytes(&bad).err().expect("corrupt");
        assert!(format!("{err:#}").contains("byte 13"), "{err:#}");
    }

    #[test]
    fn a_file_without_frames_is_refused() {
        assert!(FilePlayer::from_bytes(&CLIP[..13]).is_err());
    }

    /// Pacing against the clock is the integration test's; here every tag is long due.
    #[tokio::test]
    async fn loops_keep_timestamps_rising_and_send_headers_once() {
        let mut p = FilePlayer::from_bytes(CLIP).unwrap();
        p.start = Instant::now().checked_sub(Duration::from_secs(3600));
        let headers = p.tags.iter().filter(|t| !Role::of(t).is_coded()).count();
        let per_loop = p.tags.len();
        let mut last = [None::<u32>; 2];
        let mut non_coded = 0;
        for _ in 0..per_loop * 3 {
            let tag = p.next_tag().await;
            let kind = Role::of(&tag);
            if !kind.is_coded() {
                non_coded += 1;
                continue;
            }
            let track = usize::from(tag.tag_type == TagType::Video);
            if let Some(prev) = last[track] {
                assert!(tag.timestamp >= prev, "{} after {prev}", tag.timestamp);
            }
            last[track] = Some(tag.timestamp);
        }
        assert_eq!(non_coded, headers, "headers repeated across loops");
        let media = Duration::from_millis(u64::from(last[1].unwrap_or(0)));
        assert!(media > p.period() * 2, "{media:?}");
    }
}
