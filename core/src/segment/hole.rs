//! Video that stops while its sound goes on: a camera whose encoder stalls, a scene
//! left without its video source. Only pictures end a part, so such a hole made a
//! part, and a segment, as long as itself, where a live playlist may change neither
//! `PART-TARGET` nor `EXT-X-TARGETDURATION` (RFC 8216 §6.2.1, 8216bis §4.4.3.7).
//! So the segmenter fills an H.264 hole with pictures that repeat the last one
//! ([`SkipPictures`], as the MSE player does in `fmp4/hold.rs`), made here as the
//! source's own video tags and fed before the tag that revealed the hole: parts are
//! cut among them as among any pictures, and a player shows the last picture while
//! the sound plays on.
//!
//! Decided on the source's timestamps, as they arrive, not on the remuxer's track
//! ends (a source's sound leads its pictures there by up to a hundred milliseconds
//! and more): a hole is where the sound runs past the next picture due (the last
//! one's timestamp plus the stream's interval) by more than [`ONSET_MS`] beyond the
//! source's own skew, the furthest its sound has run ahead of a picture that then
//! came (learnt on the stream, up to [`MAX_SKEW_MS`]). From then on, repeated
//! pictures keep up with the sound (less that skew) a frame interval each, and when
//! a picture comes they fill up to its time, so that the last repeat lasts at most
//! an interval: the part it is in ends where the boundaries measured it.
//!
//! A repeat is a non-reference P picture presented after every picture decoded so
//! far: the source's next picture decodes as if none had been inserted (see
//! `codec/avc_skip.rs`). Nothing is repeated for other codecs, for an E-RTMP
//! `avc1` stream (legacy AVC tags only), before the first keyframe (or one after a
//! new configuration), after a jump in the sound's timestamps (the video comes back
//! at its own time), nor while the remuxer's init has no video.

use alloc::vec::Vec;

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{AvcConfig, SkipPictures};
use crate::flv::{
    AudioPacket, AudioTag, FrameType, Tag, TagType, VideoCodec, VideoPacket, VideoTag,
};

/// How far past the next picture due (and the source's skew) the sound runs before
/// the pictures are taken as stopped, in ms.
const ONSET_MS: i64 = 200;
/// The most the skew learnt from the source grows to, in ms.
const MAX_SKEW_MS: i64 = 2000;
/// A step in the sound's own timestamps longer than this, forward or back, is a
/// jump, not sound playing on through a hole.
const MAX_AUDIO_STEP_MS: i64 = 1000;
/// Repeats come a frame interval apart, within these bounds (ms).
const STEP_MS: (u32, u32) = (17, 100);

/// FLV video tag header of a legacy AVC inter frame carrying coded data.
const AVC_INTER: [u8; 2] = [0x27, 0x01];

#[derive(Debug, Default)]
pub(super) struct HoleFill {
    /// Follows the H.264 stream; `None` for other codecs.
    skip: Option<SkipPictures>,
    /// The last picture's timestamp, the source's or a repeat's.
    video_ts: Option<u32>,
    /// The last of the source's pictures (for its interval).
    source_ts: Option<u32>,
    /// The interval between the source's pictures, in ms.
    interval_ms: u32,
    /// The latest presentation time of the source's pictures (timestamp plus
    /// composition time), and their least composition time.
    presented: u32,
    least_composition_ms: i32,
    /// The last audio frame's timestamp, and the latest since the last picture.
    audio_ts: Option<u32>,
    audio_since_picture: Option<u32>,
    /// How far the sound has run ahead of a picture that then came, in ms.
    skew_ms: i64,
    /// The hole being filled.
    hold: Option<Hold>,
}

#[derive(Debug)]
struct Hold {
    /// The coded picture that repeats the last one (AVCC).
    picture: Bytes,
    /// The earliest the next repeat may be presented at: after every picture before.
    next_pts: u32,
}

impl HoleFill {
    /// Reads a tag of the source's before it is fed, and pushes to `out` the
    /// repeated pictures to feed before it (none, but in a hole).
    pub(super) fn before(&mut self, tag: &Tag, out: &mut Vec<Tag>) {
        match tag.tag_type {
            TagType::Video => {
                if let Ok(v) = VideoTag::parse(&tag.data) {
                    self.video(tag.timestamp, &v, out);
                }
            }
            TagType::Audio => {
                let coded =
                    AudioTag::parse(&tag.data).is_ok_and(|a| a.packet == AudioPacket::CodedFrames);
                if coded {
                    self.audio(tag.timestamp, out);
                }
            }
            _ => {}
        }
    }

    /// Nothing to repeat until the next keyframe: the remuxer's init has no video.
    pub(super) fn forget(&mut self) {
        if let Some(skip) = &mut self.skip {
            skip.forget();
        }
        self.video_ts = None;
        self.source_ts = None;
        self.interval_ms = 0;
        self.hold = None;
    }

    fn video(&mut self, ts: u32, v: &VideoTag, out: &mut Vec<Tag>) {
        if v.codec != VideoCodec::Avc || v.enhanced {
            if matches!(
                v.packet,
                VideoPacket::SequenceStart | VideoPacket::CodedFrames { .. }
            ) {
                self.skip = None;
                self.forget();
            }
            return;
        }
        match v.packet {
            VideoPacket::SequenceStart => {
                self.skip = AvcConfig::parse(&v.body)
                    .ok()
                    .map(|c| SkipPictures::new(&c));
                self.forget();
            }
            VideoPacket::CodedFrames { composition_time }
                if v.frame_type != FrameType::CommandFrame =>
            {
                // The picture that ends a hole: repeats up to its time first, so the last
                // lasts an interval at most.
                if self.hold.is_some()
                    && let Some(last) = self.video_ts
                    && diff(ts, last) <= MAX_AUDIO_STEP_MS
                {
                    self.repeat_until(ts.wrapping_sub(1), out);
                }
                self.hold = None;
                if let Some(skip) = &mut self.skip {
                    skip.observe(&v.body, v.is_keyframe());
                }
                if let Some(audio) = self.audio_since_picture.take() {
                    self.skew_ms = self.skew_ms.max(diff(audio, ts)).min(MAX_SKEW_MS);
                }
                if let Some(last) = self.source_ts
                    && let step @ 1..=1000 = diff(ts, last)
                {
                    self.interval_ms = step as u32;
                }
                let presented = ts.wrapping_add_signed(composition_time);
                if self.source_ts.is_none() {
                    (self.presented, self.least_composition_ms) = (presented, composition_time);
                } else if diff(presented, self.presented) > 0 {
                    self.presented = presented;
                }
                self.least_composition_ms = self.least_composition_ms.min(composition_time);
                self.source_ts = Some(ts);
                self.video_ts = Some(ts);
            }
            _ => {}
        }
    }

    fn audio(&mut self, ts: u32, out: &mut Vec<Tag>) {
        if let Some(last) = self.audio_ts
            && diff(ts, last).abs() > MAX_AUDIO_STEP_MS
        {
            // A jump: the video comes back at its own time, not after repeats.
            self.video_ts = None;
            self.hold = None;
            self.audio_since_picture = None;
        }
        self.audio_ts = Some(ts);
        if self
            .audio_since_picture
            .is_none_or(|since| diff(ts, since) > 0)
        {
            self.audio_since_picture = Some(ts);
        }
        // Not before the stream's interval is known (two pictures since the last
        // configuration): a slow stream's second picture is no hole.
        let (Some(last), 1..) = (self.video_ts, self.interval_ms) else {
            return;
        };
        let due = i64::from(self.interval_ms) + self.skew_ms + ONSET_MS;
        if self.hold.is_none() && diff(ts, last) > due {
            self.hold = self.start_hold();
        }
        if self.hold.is_some() {
            self.repeat_until(ts.wrapping_sub(self.skew_ms as u32), out);
        }
    }

    /// The repeat for a hole, if the stream is followed.
    fn start_hold(&self) -> Option<Hold> {
        Some(Hold {
            picture: self.skip.as_ref()?.repeat()?,
            next_pts: self.presented.wrapping_add(1),
        })
    }

    /// Repeats a step apart after the last picture, while they start by `until`.
    /// Each is presented after every picture before it, and as soon after its decode
    /// time as the source's earliest-presented pictures are: so before the picture
    /// that ends the hole, however early the source presents that one.
    fn repeat_until(&mut self, until: u32, out: &mut Vec<Tag>) {
        let step = self.step_ms();
        let (Some(hold), Some(mut last)) = (&mut self.hold, self.video_ts) else {
            return;
        };
        while diff(until, last.wrapping_add(step)) >= 0 {
            last = last.wrapping_add(step);
            let soonest = last.wrapping_add_signed(self.least_composition_ms);
            let pts = if diff(soonest, hold.next_pts) > 0 {
                soonest
            } else {
                hold.next_pts
            };
            hold.next_pts = pts.wrapping_add(1);
            let cts = (diff(pts, last).clamp(-0x80_0000, 0x7f_ffff) as i32).to_be_bytes();
            let mut data = BytesMut::with_capacity(5 + hold.picture.len());
            data.put_slice(&AVC_INTER);
            data.put_slice(&cts[1..]);
            data.put_slice(&hold.picture);
            out.push(Tag {
                tag_type: TagType::Video,
                timestamp: last,
                data: data.freeze(),
            });
        }
        self.video_ts = Some(last);
    }

    fn step_ms(&self) -> u32 {
        self.interval_ms.clamp(STEP_MS.0, STEP_MS.1)
    }
}

/// `a - b` for timestamps that wrap at 2^32 ms.
fn diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}
