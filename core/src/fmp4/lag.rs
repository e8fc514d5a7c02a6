//! Audio that falls behind video: a stream whose audio stops (a camera that
//! drops it, a stream that goes video-only) or starts late. Media Source
//! Extensions plays only where every SourceBuffer has media, so an audio
//! SourceBuffer that ends while video goes on halts playback there.
//!
//! The rule: once the video runs more than [`FillAhead::after_ms`] (by default
//! [`FILL_AHEAD_MS`]) past the end of an audio track whose configuration has
//! silence, coded silence is appended to the audio up to [`FillAhead::margin_ms`]
//! (by default [`FILL_AHEAD_MARGIN_MS`]) before the video's time; an audio track
//! configured from its sequence header but without a frame yet is filled from
//! the video's first frame. The threshold is above the skew of real muxers
//! (ffmpeg and OBS interleave FLV tags by timestamp, nginx-rtmp relays them as
//! they come: audio and video stay within a few hundred ms of each other), so a
//! playing stream is never filled ahead. A player that plays closer to the live
//! edge than that sets a lower threshold ([`FillAhead::for_latency`]): otherwise
//! its playhead reaches the end of the audio, and stops there, before any
//! silence is added. The margin leaves room for audio that
//! is still on its way when it resumes, which then continues from the filled end
//! (a hole up to it is filled, frames under it are dropped by the overlap rule).
//! Audio that resumes in step with video loses nothing; audio that arrives more
//! than the margin behind the video loses what the silence already covered, once:
//! the margin then grows to the skew seen (up to [`MAX_FILL_AHEAD_MARGIN_MS`]).
//!
//! Not filled: the Samples layout (a decoder fed frame by frame has no SourceBuffer to
//! halt at, and silence behind the video would only be late sound), a track without silence (AAC whose channels are in a
//! program_config_element), a track never configured (an audio track declared by
//! the FLV header or `onMetaData` whose sequence header never comes: there is no
//! audio init, so the player creates no audio SourceBuffer and video plays
//! alone), MP3, whose configuration comes from its first frame, and a gap longer than
//! [`MAX_LAG_FILL_MS`], which is two timelines apart, not sound that stopped.

use super::{Fragmenting, Layout, Remuxer, Track};

/// How far the video may run past the end of the audio before silence is added.
pub const FILL_AHEAD_MS: i64 = 1000;
/// Where the added silence ends: this far before the video's time.
pub const FILL_AHEAD_MARGIN_MS: i64 = 500;
/// The most the margin grows to for audio that runs behind the video.
pub const MAX_FILL_AHEAD_MARGIN_MS: i64 = 4000;
/// The longest silence added at once. Sound that stops while the video goes on is
/// filled a video frame at a time, and a step of the video's time is at most
/// [`FORWARD_JUMP_MS`](super::FORWARD_JUMP_MS) (a longer one is a jump, after which both
/// tracks go on where the output ends); the sound may run behind by the threshold and
/// [`MAX_FILL_AHEAD_MARGIN_MS`] more. A gap longer than all that is two timelines apart
/// (a stream's first picture 40 days after its sound's 26 ms had the sound filled with 40
/// days of silence, out of memory): not filled.
pub const MAX_LAG_FILL_MS: i64 = super::FORWARD_JUMP_MS + FILL_AHEAD_MS + MAX_FILL_AHEAD_MARGIN_MS;
/// The lowest threshold [`FillAhead::for_latency`] sets: audio interleaved by
/// timestamp (ffmpeg, OBS) ends at or past each video frame's time; a source
/// whose audio runs later than this loses that much once (the margin grows).
pub const MIN_FILL_AHEAD_MS: u32 = 50;

/// When silence is added to audio that falls behind video (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillAhead {
    /// How far the video may run past the end of the audio before silence is added.
    pub after_ms: u32,
    /// Where the added silence ends: this far before the video's time.
    pub margin_ms: u32,
}

impl Default for FillAhead {
    fn default() -> Self {
        FillAhead {
            after_ms: FILL_AHEAD_MS as u32,
            margin_ms: FILL_AHEAD_MARGIN_MS as u32,
        }
    }
}

impl FillAhead {
    /// For a player that holds its playhead `latency_ms` behind the newest media:
    /// silence is added well before the playhead can reach the end of the audio
    /// (after a third of the latency, at least [`MIN_FILL_AHEAD_MS`], at most the
    /// default: the audio end stands still until then, and the network's jitter
    /// comes on top), and ends half that before the video.
    pub fn for_latency(latency_ms: u32) -> FillAhead {
        let after_ms = (latency_ms / 3).clamp(MIN_FILL_AHEAD_MS, FILL_AHEAD_MS as u32);
        FillAhead {
            after_ms,
            margin_ms: after_ms / 2,
        }
    }
}

#[derive(Debug)]
pub(crate) struct AudioLag {
    /// The output time of the first video frame: where a late audio track starts.
    video_start_ms: Option<i64>,
    /// The output time of the last video frame.
    video_ms: i64,
    margin_ms: i64,
    /// The audio ends in silence added here: a real frame dropped under it came late.
    filled: bool,
}

impl AudioLag {
    pub(crate) fn new(fill: FillAhead) -> Self {
        AudioLag {
            video_start_ms: None,
            video_ms: 0,
            margin_ms: i64::from(fill.margin_ms),
            filled: false,
        }
    }
}

impl Remuxer {
    /// After a video frame at `video_ms` (output time) was placed: fills the audio
    /// up to it, see the module comment. Without a hole to fill, two comparisons.
    pub(super) fn keep_audio_up(&mut self, video_ms: i64) {
        let start = *self.lag.video_start_ms.get_or_insert(video_ms);
        self.lag.video_ms = video_ms;
        let audio = &self.audio;
        // A decoder fed frame by frame (WebCodecs) plays its clock on with or without
        // sound: silence behind the video would only be late sound to skip.
        if audio.unsupported || !audio.has_silence() || self.options.layout == Layout::Samples {
            return;
        }
        if self.options.layout != Layout::Muxed && self.video.init_sent && !audio.init_sent {
            // Its init now, after the video's, not with the silence a second
            // later: the player creates its SourceBuffers together, within a
            // second of the first media.
            self.emit_init(Track::Audio);
        }
        let audio = &self.audio;
        let end = audio.end_ms();
        let fill = self.options.fill_ahead;
        let threshold = self.lag.margin_ms + i64::from(fill.after_ms) - i64::from(fill.margin_ms);
        let behind = video_ms - end.map_or(start, |e| libm::round(e) as i64);
        if behind <= threshold || behind > MAX_LAG_FILL_MS {
            return;
        }
        let Some(ms) = self.audio.fill_to(start, video_ms - self.lag.margin_ms) else {
            return;
        };
        self.lag.filled = true;
        self.stats.gaps_filled += 1;
        self.stats.gap_ms_filled += ms;
        let audio = &self.audio;
        let due = match self.options.fragment {
            Fragmenting::EveryFrame => true,
            Fragmenting::Duration(limit) => {
                let last = audio.pending.last().map_or(0, |s| s.dts);
                audio.pending_span_ms(last) >= u64::from(limit)
            }
            Fragmenting::OnCut => false,
        };
        let full = audio.pending_full();
        if due || full {
            self.emit_pending(Track::Audio, full);
        }
    }

    /// A real audio frame at `ms` (output time) was placed (`dropped` false) or
    /// dropped as overlapping: dropped under added silence, it came that late.
    pub(super) fn audio_frame(&mut self, ms: i64, dropped: bool) {
        if dropped && self.lag.filled {
            let skew = self.lag.video_ms - ms;
            let margin = skew + i64::from(self.options.fill_ahead.margin_ms) / 2;
            self.lag.margin_ms = margin.clamp(self.lag.margin_ms, MAX_FILL_AHEAD_MARGIN_MS);
        } else if !dropped {
            self.lag.filled = false;
        }
    }
}
