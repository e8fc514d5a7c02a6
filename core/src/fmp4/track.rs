//! Per-track state: the current configuration, the samples waiting for their
//! fragment, and the timing that turns FLV milliseconds into decode times.
//!
//! The rule: a track's samples follow each other without a hole or an overlap
//! (each sample's DTS + duration is the next one's DTS), so that Media Source
//! Extensions never sees a hole to stall on nor a decode time that goes back.
//! The only breaks are the clean restart of an audio track after a hole longer
//! than [`MAX_FILL_MS`], announced by a `Discontinuity` event, and a held picture
//! (`hold.rs`), whose last sample lasts past where the next one starts.
//!
//! - Video (and audio without a frame-size rule): a sample's ideal DTS is the
//!   (discontinuity-mapped) FLV timestamp in the track's timescale. While the
//!   previous sample still waits in this fragment, its duration becomes the
//!   distance to the new one: a hole extends the previous frame. Once it has gone
//!   out (a fragment per frame), its duration was an estimate (the median of the
//!   last three intervals, else the frame rate from `onMetaData`, else 1/30 s), so the new
//!   sample starts where it ended and ends where its successor is expected (its
//!   ideal DTS + the estimate): a hole lengthens it, an overlap shortens it (to one
//!   tick at least), and the timeline is back on the timestamps one frame later,
//!   so an estimate error never accumulates. When it moved by at most half a
//!   frame interval (an estimate error) its composition offset absorbs the move,
//!   so the picture is presented at its timestamp (unless that repeats the one
//!   before: then where it is decoded, as no two pictures may share one); when it
//!   moved more (a hole, timestamps that went back) the picture moves with it, so
//!   the presentation has no hole either and stays in decode order.
//! - Audio with a known frame size (AAC 1024/2048, MP3, Opus, FLAC): durations
//!   are exact sample counts and each frame follows the previous one, as long as
//!   its timestamp is within half a frame of that. A frame that comes later than
//!   that is preceded by coded silence ([`TrackConfig::silence`]) up to within half
//!   a frame of its timestamp; without silence for the configuration (AAC with a
//!   program_config_element) the previous sample (or, once that went out, this
//!   one) is stretched over the hole instead. A
//!   frame that starts more than half a frame before the previous one ends is
//!   dropped whole: an overlap is never appended. A hole longer than
//!   [`MAX_FILL_MS`] is not filled: the track restarts at the frame's timestamp.
//!   (While video goes on, `lag.rs` keeps the audio within a second of it with
//!   silence, so such a hole is one where both tracks paused or audio jumped.)
//!   So audio never drifts from video by more than half a frame.

use alloc::vec::Vec;
use bytes::Bytes;

use super::Track;
use super::fragment::Sample;
use super::init::{FrameDuration, TrackConfig};

/// Most samples one fragment may collect (Duration mode, or a Muxed layout waiting
/// for its init); reaching it emits the fragment early.
pub(crate) const MAX_PENDING_SAMPLES: usize = 1024;
/// Most payload bytes one fragment may collect before it is emitted early.
pub(crate) const MAX_PENDING_BYTES: usize = 32 * 1024 * 1024;
/// The longest hole in an audio track filled with silence (or a stretched
/// sample); past it the track restarts at the new frame's time with a
/// `Discontinuity` event.
pub const MAX_FILL_MS: u64 = 1000;
/// Frame duration assumed before any has been measured and without a frame rate.
const DEFAULT_FRAME_MS: u32 = 33;

#[derive(Debug)]
pub(crate) struct TrackState {
    pub(crate) track: Track,
    /// The configuration the current init segment describes (or will).
    pub(crate) config: Option<TrackConfig>,
    /// The last sequence header received, and whether `config` was built from it.
    pub(crate) header: Option<Bytes>,
    pub(crate) header_applied: bool,
    /// The sequence header the current configuration was made of (`None` when
    /// the codec has none): the Samples layout's decoder description.
    pub(crate) description: Option<Bytes>,
    /// Whether an Init for `config` has been emitted.
    pub(crate) init_sent: bool,
    /// Set once an `Unsupported` event went out: the track is dropped from then on.
    pub(crate) unsupported: bool,
    /// Set once "no sequence header" was reported, to report it once.
    pub(crate) missing_header_reported: bool,
    /// Video: drop frames until a keyframe (stream start, new configuration).
    pub(crate) need_keyframe: bool,
    pub(crate) pending: Vec<Sample>,
    pub(crate) pending_bytes: usize,
    /// `mfhd` sequence number of the next fragment (PerTrack layout).
    pub(crate) sequence: u32,
    /// FLV timestamp of the last coded frame.
    pub(crate) last_raw: Option<u32>,
    /// Added to this track's FLV timestamps: see `Remuxer::map_time`.
    pub(crate) offset_ms: i64,
    /// Where the last sample placed ends (DTS + duration): where the next one starts.
    end: Option<u64>,
    /// Video: the last samples are a held picture (`hold.rs`), whose long duration the
    /// next picture does not lengthen into: it starts at its own time.
    held: bool,
    /// The ideal DTS of the last sample placed, to measure the interval to the next.
    last_ideal: Option<u64>,
    /// Audio: the last frame's duration, for a frame whose own is unknown.
    last_duration: Option<u32>,
    /// Video: the last three intervals between timestamps, newest last; their
    /// median is the duration to assume for a sample whose successor has not
    /// arrived (a median, so that one hole does not make the next frames overlap).
    intervals: [u32; 3],
    interval_count: usize,
    /// From `onMetaData`'s framerate, in ms.
    pub(crate) frame_hint_ms: Option<u32>,
    /// Where the track's output ends (last DTS + duration), in ms, for discontinuity mapping.
    pub(crate) end_ms: f64,
}

/// A coded frame placed on the timeline, after the silence that fills the hole
/// before it, if any.
pub(crate) struct Placed {
    /// Silence to append before the frame (empty, not allocated, without a hole).
    pub(crate) silence: Vec<Sample>,
    pub(crate) sample: Sample,
    /// The track restarted (see [`Gap::Restarted`]): the pending samples must go
    /// out first, as they cannot share a `trun` with these.
    pub(crate) resync: bool,
    pub(crate) gap: Gap,
}

/// What [`TrackState::place_frame`] did about a hole before an audio frame.
struct Filled {
    silence: Vec<Sample>,
    resync: bool,
    gap: Gap,
}

/// What was done about a hole before an audio frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gap {
    None,
    /// Filled with silence or a stretched sample, of this many ms.
    Filled {
        ms: u64,
    },
    /// Longer than [`MAX_FILL_MS`]: the frame starts at its own time.
    Restarted,
}

impl TrackState {
    pub(crate) fn new(track: Track) -> Self {
        TrackState {
            track,
            config: None,
            header: None,
            header_applied: false,
            description: None,
            init_sent: false,
            unsupported: false,
            missing_header_reported: false,
            need_keyframe: track == Track::Video,
            pending: Vec::new(),
            pending_bytes: 0,
            sequence: 1,
            last_raw: None,
            offset_ms: 0,
            end: None,
            held: false,
            last_ideal: None,
            last_duration: None,
            intervals: [0; 3],
            interval_count: 0,
            frame_hint_ms: None,
            end_ms: 0.0,
        }
    }

    pub(crate) fn timescale(&self) -> u32 {
        self.config.as_ref().map_or(1000, |c| c.timescale)
    }

    /// A new configuration with another timescale: the timeline goes on where it
    /// ended, in the new unit; the interval and frame estimates start over.
    pub(crate) fn rescale_timing(&mut self, timescale: u32) {
        if self.end.is_some() {
            self.end = Some(libm::round(self.end_ms * f64::from(timescale) / 1000.0) as u64);
        }
        self.last_ideal = None;
        self.last_duration = None;
        self.interval_count = 0;
    }

    /// Places a coded frame at `ms` (already discontinuity-mapped) with its
    /// composition offset (see the module comment); `None` when it is dropped as
    /// overlapping audio.
    pub(crate) fn place(
        &mut self,
        ms: i64,
        cts_ms: i32,
        data: Bytes,
        keyframe: bool,
    ) -> Option<Placed> {
        let timescale = u64::from(self.timescale());
        let ideal = to_ticks(ms, self.timescale());
        let frame = match self.config.as_ref().map(|c| c.duration) {
            Some(FrameDuration::Fixed(n)) => Some(n),
            Some(FrameDuration::PerFrame(f)) => f(&data).or(self.last_duration),
            _ => None,
        };
        let mut filled = Filled {
            silence: Vec::new(),
            resync: false,
            gap: Gap::None,
        };
        let (dts, duration, keep_pts) = match frame.filter(|&n| n > 0) {
            Some(n) => {
                let (dts, duration) = self.place_frame(ideal, n, &mut filled)?;
                self.last_duration = Some(n);
                (dts, duration, false)
            }
            None => self.place_timed(ideal),
        };
        self.last_ideal = Some(ideal);
        let end = dts.saturating_add(u64::from(duration));
        self.end = Some(end);
        self.end_ms = end as f64 * 1000.0 / timescale as f64;
        let mut cts_offset = if timescale == 1000 {
            cts_ms
        } else {
            (i64::from(cts_ms) * timescale as i64 / 1000) as i32
        };
        if keep_pts {
            // Bounded by half a frame interval, so it fits.
            let shift = i64::try_from(ideal).unwrap_or(i64::MAX) - i64::try_from(dts).unwrap_or(0);
            cts_offset = cts_offset.saturating_add(i32::try_from(shift).unwrap_or(0));
        }
        Some(Placed {
            silence: filled.silence,
            sample: Sample {
                data,
                dts,
                duration,
                cts_offset,
                keyframe,
            },
            resync: filled.resync,
            gap: filled.gap,
        })
    }

    /// Audio of `n` ticks a frame: (DTS, duration) after filling a hole into
    /// `filled`, or `None` to drop an overlapping frame.
    fn place_frame(&mut self, ideal: u64, n: u32, filled: &mut Filled) -> Option<(u64, u32)> {
        let Some(end) = self.end else {
            return Some((ideal, n));
        };
        let half = u64::from(n / 2);
        if ideal.saturating_add(half) < end {
            return None;
        }
        let hole = ideal.saturating_sub(end);
        if hole <= half {
            return Some((end, n));
        }
        let timescale = u64::from(self.timescale());
        if hole > MAX_FILL_MS * timescale / 1000 {
            filled.resync = true;
            filled.gap = Gap::Restarted;
            return Some((ideal, n));
        }
        if let Some(at) = self.silence(end, ideal, &mut filled.silence) {
            filled.gap = Gap::Filled {
                ms: (at - end) * 1000 / timescale,
            };
            return Some((at, n));
        }
        // No silence for this codec: stretch a sample over the hole.
        filled.gap = Gap::Filled {
            ms: hole * 1000 / timescale,
        };
        let stretch = u32::try_from(hole).unwrap_or(u32::MAX);
        match self.pending.last_mut() {
            Some(prev) => {
                prev.duration = prev.duration.saturating_add(stretch);
                Some((ideal, n))
            }
            None => Some((end, n.saturating_add(stretch))),
        }
    }

    /// Where the last sample placed ends, in ms; `None` before the first.
    pub(crate) fn end_ms(&self) -> Option<f64> {
        self.end.map(|_| self.end_ms)
    }

    /// Whether [`TrackState::fill_to`] can do anything: the configuration has silence.
    pub(crate) fn has_silence(&self) -> bool {
        self.config.as_ref().is_some_and(|c| !c.silence.is_empty())
    }

    /// Appends coded silence to the pending samples from where the track ends
    /// (or from `start_ms` if it has no sample yet) to within half a frame of
    /// `until_ms`; the ms added, if any. A track that ends there or later, or
    /// has no silence, is left as it is.
    pub(crate) fn fill_to(&mut self, start_ms: i64, until_ms: i64) -> Option<u64> {
        let timescale = u64::from(self.timescale());
        let from = self
            .end
            .unwrap_or_else(|| to_ticks(start_ms, self.timescale()));
        let until = to_ticks(until_ms, self.timescale());
        if until <= from {
            return None;
        }
        let mut pending = core::mem::take(&mut self.pending);
        let before = pending.len();
        let end = self.silence(from, until, &mut pending);
        self.pending_bytes += pending[before..]
            .iter()
            .map(|s| s.data.len())
            .sum::<usize>();
        self.pending = pending;
        let end = end.filter(|&end| end > from)?;
        self.end = Some(end);
        self.end_ms = end as f64 * 1000.0 / timescale as f64;
        Some((end - from) * 1000 / timescale)
    }

    /// Pushes onto `out` coded silence from `at` to within half of the shortest
    /// silent frame of `until`: the longest frames first, then one more if that
    /// leaves over half of the shortest. Where it ends, or `None` without silence.
    fn silence(&self, mut at: u64, until: u64, out: &mut Vec<Sample>) -> Option<u64> {
        let silence = self.config.as_ref().map_or(&[][..], |c| &c.silence[..]);
        let shortest = silence.iter().map(|s| u64::from(s.duration)).min()?;
        let remaining = |at: u64| until.saturating_sub(at);
        while remaining(at) * 2 > shortest {
            let s = silence
                .iter()
                .find(|s| u64::from(s.duration) <= remaining(at))
                .or_else(|| silence.last());
            let Some(s) = s.filter(|s| s.duration > 0) else {
                break;
            };
            out.push(Sample {
                data: s.data.clone(),
                dts: at,
                duration: s.duration,
                cts_offset: 0,
                keyframe: true,
            });
            at += u64::from(s.duration);
        }
        Some(at)
    }

    /// Video, or audio of unknown frame size: (DTS, duration, whether the
    /// presentation time stays at the timestamp); see the module comment.
    fn place_timed(&mut self, ideal: u64) -> (u64, u32, bool) {
        // A timestamp that did not move on is not one to present at: the previous
        // picture is there.
        let moved_on = self.last_ideal.is_none_or(|last| ideal > last);
        if let Some(last) = self.last_ideal.filter(|&last| ideal > last) {
            self.intervals.rotate_left(1);
            self.intervals[2] = u32::try_from(ideal - last).unwrap_or(u32::MAX);
            self.interval_count = (self.interval_count + 1).min(3);
        }
        let held = core::mem::take(&mut self.held);
        let dts = match (self.pending.last_mut(), self.end) {
            (Some(prev), _) => {
                // DTS must grow within a trun; a decoder cannot go back a tick.
                let dts = ideal.max(prev.dts + 1);
                prev.duration = u32::try_from(dts - prev.dts).unwrap_or(u32::MAX);
                dts
            }
            // Under a held picture from its own time: a sample that began earlier
            // would cover a renewal's pictures, which MSE removes when a frame
            // starts inside a new one.
            (None, Some(end)) if held => ideal.max(end),
            (None, Some(end)) => end,
            (None, None) => ideal,
        };
        let estimate = self.estimate();
        let until = ideal.saturating_add(u64::from(estimate));
        let duration = u32::try_from(until.saturating_sub(dts))
            .unwrap_or(u32::MAX)
            .max(1);
        (
            dts,
            duration,
            moved_on && dts.abs_diff(ideal) <= u64::from(estimate / 2),
        )
    }

    /// Appends `gop` again from `from_ms` (or where the track ends, if later), each
    /// picture a tick long and the last one until `until_ms` (see `hold.rs`). The
    /// track then ends after the replayed pictures, under the last one's duration.
    pub(crate) fn replay(&mut self, gop: &[Sample], from_ms: i64, until_ms: i64) {
        let scale = self.timescale();
        let mut dts = to_ticks(from_ms, scale).max(self.end.unwrap_or(0));
        let until = to_ticks(until_ms, scale);
        for (i, s) in gop.iter().enumerate() {
            let duration = if i + 1 == gop.len() {
                u32::try_from(until.saturating_sub(dts)).unwrap_or(u32::MAX)
            } else {
                1
            };
            self.push_pending(Sample {
                data: s.data.clone(),
                dts,
                duration: duration.max(1),
                cts_offset: 0,
                keyframe: s.keyframe,
            });
            dts += 1;
        }
        self.end = Some(dts);
        self.end_ms = dts as f64 * 1000.0 / f64::from(scale);
        self.held = true;
    }

    /// Appends `picture` (one that repeats the last, `hold.rs`) from where the
    /// track ends up to `until_ms`, a frame interval each (the stream's, within
    /// 1/60 s and 1/10 s), presented from a frame interval after `presented` (the
    /// latest PTS placed, ticks) at the earliest: none starts over a picture
    /// presented later than it is decoded (a B stream's). Whether any was added.
    pub(crate) fn repeat(&mut self, picture: &Bytes, presented: u64, until_ms: i64) -> bool {
        let Some(from) = self.end else {
            return false;
        };
        let scale = self.timescale();
        let step = self.estimate().clamp(scale / 60, scale / 10).max(1);
        let until = to_ticks(until_ms, scale);
        let after = presented.saturating_add(step.into());
        let cts_offset = i32::try_from(after.saturating_sub(from)).unwrap_or(i32::MAX);
        let mut dts = from;
        while dts + u64::from(step) <= until {
            self.push_pending(Sample {
                data: picture.clone(),
                dts,
                duration: step,
                cts_offset,
                keyframe: false,
            });
            dts += u64::from(step);
        }
        self.end = Some(dts);
        self.end_ms = dts as f64 * 1000.0 / f64::from(scale);
        dts > from
    }

    /// [`TrackState::estimate`] in ms, once an interval was measured.
    pub(crate) fn frame_ms(&self) -> Option<f64> {
        (self.interval_count > 0)
            .then(|| f64::from(self.estimate()) * 1000.0 / f64::from(self.timescale()))
    }

    /// The duration to assume for a sample whose successor has not arrived: the
    /// median of the last three intervals (the shorter of two), else the frame
    /// rate from `onMetaData`, else [`DEFAULT_FRAME_MS`].
    fn estimate(&self) -> u32 {
        let i = self.intervals;
        match self.interval_count {
            0 => {
                let ms = self.frame_hint_ms.unwrap_or(DEFAULT_FRAME_MS);
                (u64::from(ms) * u64::from(self.timescale()) / 1000) as u32
            }
            1 => i[2],
            2 => i[1].min(i[2]),
            _ => i[0].max(i[1]).min(i[2]).max(i[0].min(i[1])),
        }
    }

    pub(crate) fn push_pending(&mut self, sample: Sample) {
        self.pending_bytes += sample.data.len();
        self.pending.push(sample);
    }

    pub(crate) fn pending_full(&self) -> bool {
        self.pending.len() >= MAX_PENDING_SAMPLES || self.pending_bytes >= MAX_PENDING_BYTES
    }

    /// Span of the pending samples up to `dts`, in ms.
    pub(crate) fn pending_span_ms(&self, dts: u64) -> u64 {
        self.pending.first().map_or(0, |s| {
            dts.saturating_sub(s.dts) * 1000 / u64::from(self.timescale())
        })
    }

    /// The presentation span of the pending samples (earliest PTS to latest PTS +
    /// duration), in ms; `None` without pending samples.
    pub(crate) fn pending_presentation_ms(&self) -> Option<(f64, f64)> {
        let ms = |ticks: i64| ticks as f64 * 1000.0 / f64::from(self.timescale());
        let pts = |s: &Sample| s.dts as i64 + i64::from(s.cts_offset);
        let start = self.pending.iter().map(pts).min()?;
        let end = self
            .pending
            .iter()
            .map(|s| pts(s) + i64::from(s.duration))
            .max()?;
        Some((ms(start), ms(end)))
    }

    /// Drops the pending samples that start before `ms` (DTS grows along them).
    pub(crate) fn drop_pending_before(&mut self, ms: f64) {
        let later = self.split_pending_at(ms);
        self.take_pending();
        self.append_pending(later);
    }

    /// Takes the pending samples that start at `ms` or later.
    pub(crate) fn split_pending_at(&mut self, ms: f64) -> Vec<Sample> {
        let scale = f64::from(self.timescale()) / 1000.0;
        let at = self
            .pending
            .iter()
            .position(|s| s.dts as f64 >= ms * scale)
            .unwrap_or(self.pending.len());
        let later = self.pending.split_off(at);
        self.pending_bytes -= later.iter().map(|s| s.data.len()).sum::<usize>();
        later
    }

    /// Puts back samples taken by [`TrackState::split_pending_at`], after those pending.
    pub(crate) fn append_pending(&mut self, later: Vec<Sample>) {
        self.pending_bytes += later.iter().map(|s| s.data.len()).sum::<usize>();
        self.pending.extend(later);
    }

    /// Takes the pending samples for a fragment. The last one keeps the estimate it
    /// was placed with: see the module comment.
    pub(crate) fn take_pending(&mut self) -> Vec<Sample> {
        self.pending_bytes = 0;
        core::mem::take(&mut self.pending)
    }
}

/// Milliseconds → ticks of `timescale`, rounded to nearest; negative times clamp to 0;
/// `u64::MAX` past it.
fn to_ticks(ms: i64, timescale: u32) -> u64 {
    let ms = u64::try_from(ms).unwrap_or(0);
    let timescale = u64::from(timescale);
    // (ms × timescale + 500) / 1000 without u128, whose division is 1 KB of wasm: the
    // whole seconds exactly, then the rest (< 1000 × 2^32, no overflow) rounded.
    (ms / 1000)
        .saturating_mul(timescale)
        .saturating_add((ms % 1000 * timescale + 500) / 1000)
}

#[cfg(test)]
mod tests {
    use super::to_ticks;

    #[test]
    fn ticks_are_the_u128_quotient_rounded_and_saturated() {
        let exact = |ms: i64, ts: u32| {
            let ms = u64::try_from(ms).unwrap_or(0);
            u64::try_from((u128::from(ms) * u128::from(ts) + 500) / 1000).unwrap_or(u64::MAX)
        };
        let times = [
            -5,
            0,
            1,
            499,
            500,
            999,
            1000,
            1001,
            33_367,
            i64::MAX / 1000,
            i64::MAX,
        ];
        let scales = [1, 1000, 44_100, 48_000, 90_000, 1 << 31, u32::MAX];
        for ms in times {
            for ts in scales {
                assert_eq!(to_ticks(ms, ts), exact(ms, ts), "{ms} ms at {ts}");
            }
        }
    }
}
