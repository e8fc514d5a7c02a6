//! An FLV file (or the built-in demo clip) played as a live stream: in real time, in a
//! loop, with timestamps that keep going forward from one loop to the next.
//!
//! The seam: a loop lasts a whole number of audio frames, the number nearest to
//! the video's span (its last frame's time plus one frame), so that the next
//! loop's audio starts exactly where this loop's ends; audio frames past that
//! number are left out, and video frames that would start within half a frame
//! of the next loop's first (or later) too. The video then steps across the seam
//! by its frame duration give or take half an audio frame, which the remuxer
//! absorbs; neither track has a hole. Without audio a loop is the video's span.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use flashless_core::codec::AacConfig;
use flashless_core::flv::{
    AudioCodec, AudioPacket, AudioTag, FlvReader, Item, Tag, TagType, VideoPacket, VideoTag,
};
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
    /// One loop's length on the output timeline, in ms: see the module comment.
    period: Ratio,
    next: usize,
    /// Loops played before the current one.
    loops: u64,
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
        reader.feed(data);
        let mut tags = Vec::new();
        while let Some(item) = reader.poll_item().context("not a playable FLV file")? {
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
        let Some(origin) = tags
            .iter()
            .find(|t| Role::of(t).is_coded())
            .map(|t| t.timestamp)
        else {
            bail!(
                "no audio or video frame in {} tags of FLV: nothing to play",
                tags.len()
            );
        };
        let period = seamless_period(&mut tags, origin);
        Ok(FilePlayer {
            tags,
            origin,
            period,
            next: 0,
            loops: 0,
            loop_start_ms: 0,
            start: None,
            sent: [None, None, None],
        })
    }

    /// The length of one loop on the output timeline.
    pub fn period(&self) -> Duration {
        Duration::from_nanos(self.period.times(1_000_000))
    }

    /// The next tag, once it is due.
    pub async fn next_tag(&mut self) -> Tag {
        loop {
            let Some(tag) = self.tags.get(self.next).cloned() else {
                self.next = 0;
                self.loops += 1;
                // From the loop count, so that a fractional period never drifts.
                self.loop_start_ms = self.period.times(self.loops);
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

/// A length in ms as a fraction, for periods of whole audio frames (1024 samples
/// at 44.1 kHz is 23.2199… ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ratio {
    num: u64,
    den: u64,
}

impl Ratio {
    /// `n` times the length, rounded to the nearest integer.
    fn times(self, n: u64) -> u64 {
        let den = u128::from(self.den.max(1));
        let v = (u128::from(n) * u128::from(self.num) + den / 2) / den;
        u64::try_from(v).unwrap_or(u64::MAX)
    }
}

/// The loop period (see the module comment); leaves out of `tags` the frames
/// past it.
fn seamless_period(tags: &mut Vec<Tag>, origin: u32) -> Ratio {
    let coded = |t: &Tag, kind: TagType| t.tag_type == kind && Role::of(t).is_coded();
    let audio: Vec<u64> = tags
        .iter()
        .filter(|t| coded(t, TagType::Audio))
        .map(|t| rel(t.timestamp, origin))
        .collect();
    let video: Vec<u64> = tags
        .iter()
        .filter(|t| coded(t, TagType::Video))
        .map(|t| rel(t.timestamp, origin))
        .collect();
    let all: Vec<&Tag> = tags.iter().filter(|t| Role::of(t).is_coded()).collect();
    let frame = frame_ms(&all);
    let last = all
        .iter()
        .map(|t| rel(t.timestamp, origin))
        .max()
        .unwrap_or(0);
    let Some(a) = audio_frame(tags, &audio) else {
        // No audio to keep continuous: the span of the frames plus one more.
        return Ratio {
            num: last + frame,
            den: 1,
        };
    };
    let n = audio.len() as u64;
    // Audio frames per loop: the whole number nearest the video's span.
    let k = match (video.first(), video.last()) {
        (Some(&first), Some(&last)) => {
            let span = last + frame - first;
            ((span * a.den + a.num / 2) / a.num.max(1)).clamp(1, n)
        }
        _ => n,
    };
    let period = Ratio {
        num: k * a.num,
        den: a.den,
    };
    // Video frames from half a frame before the next loop's first on are left out.
    let video_until = video.first().map_or(u64::MAX, |&first| {
        (period.times(2) + 2 * first).saturating_sub(frame) / 2
    });
    let mut audio_index = 0;
    tags.retain(|t| {
        if coded(t, TagType::Audio) {
            audio_index += 1;
            audio_index <= k
        } else if coded(t, TagType::Video) {
            rel(t.timestamp, origin) < video_until
        } else {
            true
        }
    });
    period
}

/// One audio frame's duration in ms: exact from an AAC header (1024 samples, 2048
/// with SBR), else the mean step of the frames' timestamps; `None` without two
/// audio frames or an AAC header.
fn audio_frame(tags: &[Tag], audio: &[u64]) -> Option<Ratio> {
    let aac = tags
        .iter()
        .filter(|t| t.tag_type == TagType::Audio)
        .find_map(|t| {
            let a = AudioTag::parse(&t.data).ok()?;
            let header = a.codec == AudioCodec::Aac && a.packet == AudioPacket::SequenceStart;
            header.then(|| AacConfig::parse(&a.body).ok()).flatten()
        });
    if let Some(c) = aac.filter(|c| c.sample_rate > 0) {
        let samples = if matches!(c.object_type, 5 | 29) {
            2048
        } else {
            1024
        };
        return Some(Ratio {
            num: samples * 1000,
            den: u64::from(c.sample_rate),
        });
    }
    match (audio.first(), audio.last()) {
        (Some(&first), Some(&last)) if last > first => Some(Ratio {
            num: last - first,
            den: audio.len() as u64 - 1,
        }),
        _ => None,
    }
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
    fn the_clip_loops_after_the_whole_number_of_audio_frames_nearest_its_video() {
        let p = FilePlayer::from_bytes(CLIP).unwrap();
        // 50 video frames of 40 ms: 2000 ms, nearest 86 AAC frames of 1024 samples
        // at 44.1 kHz (1996.9 ms); the last two of its 88 are left out.
        let exact = 86 * 1024 * 1_000_000_000 / 44_100;
        assert!(
            p.period().as_nanos().abs_diff(exact) <= 1,
            "{:?}",
            p.period()
        );
        let audio = p.tags.iter().filter(|t| t.tag_type == TagType::Audio);
        assert_eq!(audio.filter(|t| Role::of(t).is_coded()).count(), 86);
        let video = p.tags.iter().filter(|t| t.tag_type == TagType::Video);
        assert_eq!(video.filter(|t| Role::of(t).is_coded()).count(), 50);
        assert!(!p.tags.iter().any(is_sequence_end));
    }

    /// Coded tags' (type, timestamp) over `loops` loops, every tag long due.
    async fn play(p: &mut FilePlayer, loops: usize) -> Vec<(TagType, u32)> {
        p.start = Instant::now().checked_sub(Duration::from_secs(3600));
        let mut out = Vec::new();
        for _ in 0..p.tags.len() * loops {
            let tag = p.next_tag().await;
            if Role::of(&tag).is_coded() {
                out.push((tag.tag_type, tag.timestamp));
            }
        }
        out
    }

    #[tokio::test]
    async fn the_demo_loops_without_a_hole_in_audio_or_video() {
        let mut p = FilePlayer::from_bytes(crate::reload::DEMO_FLV).unwrap();
        let tags = play(&mut p, 3).await;
        let times = |kind| -> Vec<f64> {
            tags.iter()
                .filter(|t| t.0 == kind)
                .map(|t| f64::from(t.1))
                .collect()
        };
        // AAC at 44.1 kHz: each frame one frame after the previous, across the
        // seams too (±1 ms of rounding), and no drift from loop to loop (the
        // file's timestamps are rounded, and so is each loop's start).
        let frame = 1024.0 * 1000.0 / 44_100.0;
        let audio = times(TagType::Audio);
        assert!(audio.len() > 3 * 250, "{}", audio.len());
        for (i, w) in audio.windows(2).enumerate() {
            let step = w[1] - w[0];
            assert!((step - frame).abs() <= 1.0, "audio step {step} at {i}");
        }
        for (i, ts) in audio.iter().enumerate() {
            let due = audio[0] + i as f64 * frame;
            assert!(
                (ts - due).abs() <= 1.5,
                "audio frame {i} at {ts}, due at {due:.1}"
            );
        }
        // 25 fps: 40 ms steps, and at a seam within half an audio frame of it.
        let video = times(TagType::Video);
        assert!(video.len() >= 3 * 149, "{}", video.len());
        let seams = video
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|&step| step != 40.0)
            .inspect(|step| assert!((step - 40.0).abs() <= frame / 2.0 + 1.0, "{step}"))
            .count();
        assert!(p.loops >= 2);
        assert_eq!(seams as u64, p.loops);
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
