//! Video that falls behind audio: a camera whose pictures stop for seconds while
//! its sound goes on. Media Source Extensions plays only where every SourceBuffer
//! has media: Firefox stops the element where the pictures end, Chromium plays the
//! sound on through up to 3 s of them missing, then stops too. The pictures of the
//! hole do not exist, and the last one cannot be appended again alone: it is
//! predicted from those before it.
//!
//! H.264 ([`RemuxerOptions::repeat_pictures`](super::RemuxerOptions), PerTrack
//! layout): once the audio runs more than a threshold past the end of the video,
//! the video goes on with pictures that repeat its last one
//! ([`SkipPictures`]: P pictures whose macroblocks are all skipped, which leave
//! the decoder as they found it), a frame interval each, presented after every
//! picture placed; from then on they keep up with the audio's end until a picture
//! comes, and up to its time, so it starts at its own. Every engine plays them as
//! any other pictures.
//!
//! Other codecs ([`RemuxerOptions::hold_picture`](super::RemuxerOptions), PerTrack
//! layout): once the audio runs more than a threshold past the end of the video,
//! the current GOP (its keyframe and every picture since) is appended again from
//! where the video ends, each picture a tick long, the last one lasting until
//! [`HOLD_AHEAD_MS`] past the audio's end. The decoder decodes them again to the
//! same last picture, which stays on screen while the sound plays, and is left in
//! the state the next picture is predicted from: pictures that come back decode
//! cleanly whether or not they start with a keyframe. While none come, the hold
//! is renewed from the audio's end once it reaches less than [`HOLD_RENEW_MS`]
//! past it: each renewal a decode of the GOP again, so only for a GOP of at
//! most [`MAX_RENEWED_GOP_MS`] (at most twice the stream's own decoding; a
//! longer one is held once). A picture that comes back starts at its own time
//! (not where the replayed ones end, as after a hole: a picture that long would
//! cover a renewal's pictures, which Media Source Extensions removes when a frame
//! starts inside a new one), under the held picture's long duration, and replaces
//! it on screen.
//!
//! Which browsers want the replay is the player's choice: Chromium (Firefox waits
//! for more video all the same, and WebKitGTK ends each picture a frame interval
//! after it starts: `docs/reliability.md`).
//!
//! The threshold is the audio's fill threshold ([`FillAhead::after_ms`]: the
//! player's latency over three), so the picture is held before the playhead
//! reaches the video's end. A source whose video runs behind its audio (a hold,
//! then the next picture's time well behind the audio's end) raises it to the
//! skew seen plus half of it, once, up to [`MAX_HOLD_THRESHOLD_MS`].
//!
//! Nothing is held without a picture to repeat or a GOP to replay: before the
//! first keyframe, after a new configuration, a discontinuity or an `onMetaData`
//! that announces sound and no video (a new session's video, if it comes, starts with its own
//! keyframe; one that never comes is not the last session's picture: the gateway
//! joins a publisher's sessions without a jump, and a session with sound only
//! says so in its metadata), or while the GOP is longer than [`MAX_GOP_SAMPLES`]
//! pictures or [`MAX_GOP_BYTES`]. An H.264 stream that [`SkipPictures`] does not
//! follow (MBAFF, field pictures, slice groups, POC type 1) has its GOP replayed
//! where the replay is on, as other codecs. Nor is a picture held for
//! more than [`MAX_HOLD_MS`]: video missing for that long is gone (a player stops
//! waiting for it).

use alloc::vec::Vec;
use bytes::Bytes;

use super::fragment::Sample;
use super::lag::FillAhead;
use super::{Layout, Remuxer, Track};
use crate::codec::SkipPictures;

/// How far past the audio's end a held picture lasts.
pub const HOLD_AHEAD_MS: i64 = 2000;
/// A hold is renewed once it lasts less than this past the audio's end.
pub const HOLD_RENEW_MS: i64 = 1000;
/// The longest GOP whose hold is renewed: a renewal decodes it again.
pub const MAX_RENEWED_GOP_MS: i64 = 2000;
/// The longest a picture is held, from where the video ended.
pub const MAX_HOLD_MS: i64 = 10_000;
/// The most the threshold grows to for a source whose video runs behind its audio.
pub const MAX_HOLD_THRESHOLD_MS: i64 = 4000;
/// The longest GOP kept for a hold, in pictures (20 s at 30 fps) and bytes.
pub const MAX_GOP_SAMPLES: usize = 600;
pub const MAX_GOP_BYTES: usize = 16 << 20;

#[derive(Debug)]
pub(crate) struct PictureHold {
    /// The current GOP as placed, its keyframe first; empty when there is none to
    /// replay.
    gop: Vec<Sample>,
    bytes: usize,
    /// While no picture has come since a hold: where the video ended, and where
    /// the held picture lasts until (ms).
    held: Option<(i64, i64)>,
    /// How far the audio may run past the end of the video before a hold.
    threshold_ms: i64,
    /// H.264: pictures that repeat the last one, which make a hold without the GOP.
    repeat: Option<SkipPictures>,
    /// The picture that repeats the last one, made once per hold.
    picture: Option<Bytes>,
    /// Where the pictures placed are presented until at least (the latest PTS, in
    /// ticks): a repeated picture starts after it, not over it.
    presented: u64,
}

impl PictureHold {
    pub(crate) fn new(fill: FillAhead) -> Self {
        PictureHold {
            gop: Vec::new(),
            bytes: 0,
            held: None,
            threshold_ms: i64::from(fill.after_ms),
            repeat: None,
            picture: None,
            presented: 0,
        }
    }

    /// A new video configuration, and the pictures that repeat its last one.
    pub(crate) fn configure(&mut self, repeat: Option<SkipPictures>) {
        self.forget();
        self.repeat = repeat;
    }

    /// Nothing to hold until the next keyframe.
    pub(crate) fn forget(&mut self) {
        self.gop = Vec::new();
        self.bytes = 0;
        self.held = None;
        self.presented = 0;
        self.picture = None;
        if let Some(repeat) = &mut self.repeat {
            repeat.forget();
        }
    }

    /// From the GOP's keyframe to its last picture, in ms (its decode times are
    /// the video's timescale, milliseconds).
    fn span_ms(&self) -> i64 {
        match (self.gop.first(), self.gop.last()) {
            (Some(a), Some(b)) => i64::try_from(b.dts.saturating_sub(a.dts)).unwrap_or(i64::MAX),
            _ => 0,
        }
    }

    /// Keeps a picture placed, as the GOP's next one.
    fn keep(&mut self, sample: &Sample) {
        if sample.keyframe {
            self.gop.clear();
            self.bytes = 0;
        } else if self.gop.is_empty() {
            return;
        }
        if self.gop.len() >= MAX_GOP_SAMPLES || self.bytes + sample.data.len() > MAX_GOP_BYTES {
            return self.forget();
        }
        self.bytes += sample.data.len();
        self.gop.push(sample.clone());
    }
}

impl Remuxer {
    fn holds_pictures(&self) -> bool {
        (self.options.hold_picture || self.options.repeat_pictures)
            && self.options.layout == Layout::PerTrack
    }

    /// Whether a hold repeats the last picture rather than replaying the GOP: an
    /// H.264 stream followed since its last keyframe.
    fn repeats(&self) -> bool {
        self.options.repeat_pictures && self.hold.repeat.as_ref().is_some_and(SkipPictures::follows)
    }

    /// A picture at `ms` (output time) was placed: a hold under way ends, and the
    /// picture joins the GOP.
    pub(super) fn picture_placed(&mut self, ms: i64, sample: &Sample) {
        if !self.holds_pictures() {
            return;
        }
        if self.hold.held.take().is_some() {
            let audio_end = self.audio.end_ms().map_or(ms, |e| libm::round(e) as i64);
            let skew = audio_end - ms;
            let threshold = skew + skew / 2;
            self.hold.threshold_ms = threshold.clamp(self.hold.threshold_ms, MAX_HOLD_THRESHOLD_MS);
        }
        if self.options.repeat_pictures
            && let Some(repeat) = &mut self.hold.repeat
        {
            repeat.observe(&sample.data, sample.keyframe);
            let pts = sample.dts.saturating_add_signed(sample.cts_offset.into());
            self.hold.presented = self.hold.presented.max(pts);
            self.hold.picture = None;
        }
        // The GOP only where no picture can repeat it (another codec, an H.264 stream
        // not followed: interlaced, say).
        if self.options.hold_picture && !self.repeats() {
            self.hold.keep(sample);
        }
    }

    /// Before a picture at `ms` (output time) is placed after repeated ones: more
    /// of them up to its time, so that it starts there, not earlier.
    pub(super) fn picture_coming(&mut self, ms: i64) {
        if self.hold.held.is_some() && self.repeats() {
            self.repeat_picture(ms);
        }
    }

    /// Appends pictures that repeat the last one up to `until_ms`; whether any.
    fn repeat_picture(&mut self, until_ms: i64) -> bool {
        if self.hold.picture.is_none() {
            self.hold.picture = self.hold.repeat.as_ref().and_then(SkipPictures::repeat);
        }
        let Some(picture) = self.hold.picture.clone() else {
            return false;
        };
        // Pictures still pending go out first: the repeated ones follow them.
        self.emit_pending(Track::Video, false);
        let added = self.video.repeat(&picture, self.hold.presented, until_ms);
        self.emit_pending(Track::Video, false);
        added
    }

    /// After an audio frame was placed: holds the last picture, or renews the
    /// hold, see the module comment. Without a hole, a few comparisons.
    pub(super) fn keep_video_up(&mut self) {
        if !self.holds_pictures() || !self.video.init_sent {
            return;
        }
        let (Some(audio), Some(video)) = (self.audio.end_ms(), self.video.end_ms()) else {
            return;
        };
        let (audio, video) = (libm::round(audio) as i64, libm::round(video) as i64);
        if self.repeats() {
            // Once held, the video is kept up with the audio's end.
            let threshold = if self.hold.held.is_some() {
                0
            } else {
                self.hold.threshold_ms
            };
            if audio - video <= threshold {
                return;
            }
            let since = self.hold.held.map_or(video, |(since, _)| since);
            let until = audio.min(since + MAX_HOLD_MS);
            if until > video && self.repeat_picture(until) {
                if self.hold.held.is_none() {
                    self.stats.pictures_held += 1;
                }
                self.hold.held = Some((since, until));
            }
            return;
        }
        if self.hold.gop.is_empty() {
            return;
        }
        let (since, from) = match self.hold.held {
            None if audio - video > self.hold.threshold_ms => (video, video),
            Some((since, until))
                if until - audio < HOLD_RENEW_MS && self.hold.span_ms() <= MAX_RENEWED_GOP_MS =>
            {
                (since, audio.max(video))
            }
            _ => return,
        };
        let until = (audio + HOLD_AHEAD_MS).min(since + MAX_HOLD_MS);
        // Room for the replay (a tick each, a tick at most a millisecond), and a
        // hold that lasts longer than the last one (not at the limit).
        let longer = self.hold.held.is_none_or(|(_, last)| until > last);
        if until - from <= self.hold.gop.len() as i64 || !longer {
            return;
        }
        // Pictures still pending go out first: the replay follows them.
        self.emit_pending(Track::Video, false);
        self.video.replay(&self.hold.gop, from, until);
        self.hold.held = Some((since, until));
        self.stats.pictures_held += 1;
        self.emit_pending(Track::Video, false);
    }
}
