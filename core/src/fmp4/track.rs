//! Per-track state: the current configuration, the samples waiting for their
//! fragment, and the timing that turns FLV milliseconds into decode times.
//!
//! Timing model:
//! - Video (and audio without a frame-size rule): DTS = the (discontinuity-mapped)
//!   FLV timestamp in the track's timescale; a sample's duration is the next
//!   sample's DTS minus its own. The last sample of a fragment is not held back
//!   for its successor: its duration is *estimated* (the previous real duration,
//!   else the frame rate from `onMetaData`, else 1/30 s). The next fragment's
//!   `tfdt` is that next sample's real DTS, so an estimate error never
//!   accumulates: at most it leaves a gap or overlap of the size of the error
//!   between two frames, which MSE treats as one coded frame group (it breaks a
//!   group only past twice the last frame duration).
//! - Audio with a known frame size (AAC 1024/2048, MP3, Opus, FLAC): durations are
//!   exact sample counts and DTS runs on continuously from the previous frame, as
//!   long as that stays within one frame of the FLV timestamp. Past that (dropped
//!   frames, an encoder clock that drifts) the track resyncs to the timestamp and
//!   starts a new fragment, so audio never drifts from video by more than a frame.

use bytes::Bytes;

use super::Track;
use super::fragment::Sample;
use super::init::{FrameDuration, TrackConfig};

/// Most samples one fragment may collect (Duration mode, or a Muxed layout waiting
/// for its init); reaching it emits the fragment early.
pub(crate) const MAX_PENDING_SAMPLES: usize = 1024;
/// Most payload bytes one fragment may collect before it is emitted early.
pub(crate) const MAX_PENDING_BYTES: usize = 32 * 1024 * 1024;
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
    /// DTS of the last sample placed.
    last_dts: Option<u64>,
    /// Audio with exact durations: where the next frame continues.
    next_dts: Option<u64>,
    /// Duration to assume for a last sample, in the track's timescale.
    last_duration: Option<u32>,
    /// From `onMetaData`'s framerate, in ms.
    pub(crate) frame_hint_ms: Option<u32>,
    /// Where the track's output ends (last DTS + duration), in ms, for discontinuity mapping.
    pub(crate) end_ms: f64,
}

/// A sample placed on the timeline, and whether the track had to resync (the
/// pending samples must go out first, as they cannot share a `trun` with it).
pub(crate) struct Placed {
    pub(crate) sample: Sample,
    pub(crate) resync: bool,
}

impl TrackState {
    pub(crate) fn new(track: Track) -> Self {
        TrackState {
            track,
            config: None,
            header: None,
            header_applied: false,
            init_sent: false,
            unsupported: false,
            missing_header_reported: false,
            need_keyframe: track == Track::Video,
            pending: Vec::new(),
            pending_bytes: 0,
            sequence: 1,
            last_raw: None,
            last_dts: None,
            next_dts: None,
            last_duration: None,
            frame_hint_ms: None,
            end_ms: 0.0,
        }
    }

    pub(crate) fn timescale(&self) -> u32 {
        self.config.as_ref().map_or(1000, |c| c.timescale)
    }

    /// Forget the timeline (a new configuration with another timescale).
    pub(crate) fn reset_timing(&mut self) {
        self.last_dts = None;
        self.next_dts = None;
        self.last_duration = None;
    }

    /// Places a coded frame at `ms` (already discontinuity-mapped) with its
    /// composition offset, and fixes the duration of the pending sample before it.
    pub(crate) fn place(&mut self, ms: i64, cts_ms: i32, data: Bytes, keyframe: bool) -> Placed {
        let timescale = u64::from(self.timescale());
        let ideal = to_ticks(ms, timescale);
        let frame = match self.config.as_ref().map(|c| c.duration) {
            Some(FrameDuration::Fixed(n)) => Some(n),
            Some(FrameDuration::PerFrame(f)) => f(&data).or(self.last_duration),
            _ => None,
        };
        let mut resync = false;
        let dts = match (frame, self.next_dts) {
            (Some(n), Some(next)) => {
                if ideal.abs_diff(next) <= u64::from(n) {
                    next
                } else {
                    resync = true;
                    ideal
                }
            }
            _ => match self.last_dts {
                // DTS must grow within a trun; a decoder cannot go back a tick.
                Some(last) if ideal <= last => last.saturating_add(1),
                _ => ideal,
            },
        };
        if frame.is_none() {
            if let Some(last) = self.last_dts {
                let d = u32::try_from(dts - last).unwrap_or(u32::MAX);
                if let Some(prev) = self.pending.last_mut() {
                    prev.duration = d;
                }
                self.last_duration = Some(d);
            }
        }
        let duration = frame.unwrap_or_else(|| self.estimate());
        if frame.is_some() {
            self.last_duration = Some(duration);
            self.next_dts = Some(dts + u64::from(duration));
        }
        self.last_dts = Some(dts);
        self.end_ms = (dts + u64::from(duration)) as f64 * 1000.0 / timescale as f64;
        let cts_offset = if timescale == 1000 {
            cts_ms
        } else {
            (i64::from(cts_ms) * timescale as i64 / 1000) as i32
        };
        Placed {
            sample: Sample {
                data,
                dts,
                duration,
                cts_offset,
                keyframe,
            },
            resync,
        }
    }

    /// The duration to assume for a sample whose successor has not arrived.
    fn estimate(&self) -> u32 {
        self.last_duration.unwrap_or_else(|| {
            let ms = self.frame_hint_ms.unwrap_or(DEFAULT_FRAME_MS);
            (u64::from(ms) * u64::from(self.timescale()) / 1000) as u32
        })
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

    /// Takes the pending samples for a fragment. The last one keeps the estimate it
    /// was placed with: see the module comment.
    pub(crate) fn take_pending(&mut self) -> Vec<Sample> {
        self.pending_bytes = 0;
        std::mem::take(&mut self.pending)
    }
}

/// Milliseconds → ticks of `timescale`, rounded to nearest; negative times clamp to 0.
fn to_ticks(ms: i64, timescale: u64) -> u64 {
    let ms = u64::try_from(ms).unwrap_or(0);
    u64::try_from((u128::from(ms) * u128::from(timescale) + 500) / 1000).unwrap_or(u64::MAX)
}
