//! A live HLS window (RFC 8216, with the Low-Latency extension of RFC 8216bis) over a
//! segmenter's events: the last few segments, the parts of the newest ones with their
//! bytes, and the media playlist that lists them. Sans-IO: the caller feeds
//! [`SegmentEvent`]s and asks for bytes and playlists; holding a blocking request until
//! what it asks for exists ([`Window::playlist_ready`], [`Window::part`]) is the
//! caller's loop.
//!
//! One rendition only, so there is no multivariant playlist: players open the media
//! playlist directly, which RFC 8216 §4.3.4 allows.
//!
//! URIs are relative to the playlist: `init{N}.mp4` (one per init segment, N counts up
//! on every codec change), `seg{msn}.m4s` (a whole segment), `part{msn}.{i}.m4s` (its
//! part i). A channel whose sound is MP3 goes as MPEG-TS instead ([`crate::ts`]: no
//! init, `seg{msn}.ts`, `part{msn}.{i}.ts`); the window starts afresh when a new init
//! changes that, as one playlist cannot hold both kinds after a discontinuity (an
//! `EXT-X-MAP` applies to every segment after it).

pub mod check;
mod playlist;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::segment::SegmentEvent;
use crate::ts::{self, TsMuxer};

/// How far a segment's date, counted on from the last one's, may drift from the wall
/// clock before it is set from the clock again.
const MAX_PROGRAM_DRIFT_MS: f64 = 1000.0;
/// Dates behind the clock are set from it only once they have stayed behind this long:
/// media that comes late after a stall (its dates behind, then ahead as its backlog
/// comes at once) is a source on time, not one whose clock runs slow.
const SLOW_FOR_MS: f64 = 10_000.0;

/// How much the window keeps and how it is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowOptions {
    /// The segment duration the segmenter aims at; `EXT-X-TARGETDURATION` never goes below it.
    pub target_ms: u32,
    /// The part duration the segmenter aims at, at most (`PART-TARGET` is the longest
    /// part it makes).
    pub part_ms: u32,
    /// The media the playlist lists, in ms: the fewest newest complete segments that
    /// last this long (RFC 8216 §6.2.2: and at least three target durations). By time,
    /// not a count of segments, so that a source's long keyframe interval (long segments)
    /// does not make the window hold more than this.
    pub window_ms: u32,
    /// The first segment's media sequence number, and the first init segment's: a
    /// caller that restarts a window gives numbers past the old ones, so that a URI
    /// never names two different resources.
    pub first_sequence: u64,
}

impl Default for WindowOptions {
    fn default() -> Self {
        WindowOptions {
            target_ms: 2000,
            part_ms: 333,
            window_ms: 12_000,
            first_sequence: 0,
        }
    }
}

/// Whether a part asked for can be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Ready(Bytes),
    /// Not out yet but next or nearly: a blocking request waits for it (the preload hint).
    Pending,
    /// Out of the window, never to exist, or too far ahead to wait for.
    Gone,
}

/// The live window of one rendition.
#[derive(Debug)]
pub struct Window {
    options: WindowOptions,
    /// Init segments still referenced by a segment in the window (or the newest).
    inits: VecDeque<(u64, Bytes)>,
    next_init: u64,
    segments: VecDeque<Segment>,
    /// Segments the playlist no longer lists, still served until their deadline (wall
    /// clock, Unix ms): RFC 8216 §6.2.2 keeps a segment removed from the playlist for its
    /// duration and that of the longest playlist that listed it, so that a player that
    /// reloaded a moment before, or reads slowly, does not meet a 404 in the middle.
    retired: VecDeque<(Segment, f64)>,
    /// The next segment's media sequence number.
    next_msn: u64,
    discontinuity_sequence: u64,
    /// An init arrived after media: the next segment starts a discontinuity.
    discontinuity: bool,
    /// `EXT-X-TARGETDURATION`: it may not change (RFC 8216 §6.2.1), so it only grows
    /// when a segment is longer than any before (a keyframe interval past the target).
    target_s: u32,
    /// `PART-TARGET`, in ms: the longest part yet (so, in the first playlist, of the
    /// first segment). Not the configured part, which the segmenter's parts stay under:
    /// its parts, shared evenly (0.32 and 0.28 s for 25 fps and 0.333), must last 85 %
    /// of `PART-TARGET` but the last of a segment (RFC 8216bis §4.4.4.9).
    part_target_ms: f64,
    /// Since when (wall clock, Unix ms) the dates have been behind the clock by more
    /// than [`MAX_PROGRAM_DRIFT_MS`]: see [`Window::date_next`].
    behind_since_ms: Option<f64>,
    /// The parts go as MPEG-TS, made by this from the newest init's fMP4.
    ts: Option<TsMuxer>,
}

#[derive(Debug)]
struct Segment {
    msn: u64,
    init: u64,
    discontinuity: bool,
    /// `EXT-X-PROGRAM-DATE-TIME`: the wall-clock time of its first frame, Unix ms.
    program_ms: f64,
    /// Its bytes, served part by part and (once complete) as a whole, in order.
    parts: Vec<Part>,
    /// `None` while the segment is open.
    duration_ms: Option<f64>,
}

#[derive(Debug)]
struct Part {
    data: Bytes,
    duration_ms: f64,
    independent: bool,
}

impl Window {
    pub fn new(options: WindowOptions) -> Self {
        Window {
            options: WindowOptions {
                window_ms: options.window_ms,
                part_ms: options.part_ms.max(1),
                target_ms: options.target_ms.max(options.part_ms).max(1),
                first_sequence: options.first_sequence,
            },
            inits: VecDeque::new(),
            next_init: options.first_sequence,
            segments: VecDeque::new(),
            retired: VecDeque::new(),
            next_msn: options.first_sequence,
            discontinuity_sequence: 0,
            discontinuity: false,
            target_s: options.target_ms.max(1).div_ceil(1000),
            behind_since_ms: None,
            part_target_ms: 0.0,
            ts: None,
        }
    }

    /// Takes one event of the segmenter, which came at `now_ms` on the wall clock (Unix
    /// ms): a segment's start is its `EXT-X-PROGRAM-DATE-TIME`.
    pub fn feed(&mut self, event: SegmentEvent, now_ms: u64) {
        match event {
            SegmentEvent::Init { data, mime, .. } => self.init(data, &mime, now_ms),
            SegmentEvent::SegmentStart { .. } => self.segment_start(now_ms),
            SegmentEvent::Part {
                data,
                duration_ms,
                independent,
                ..
            } => self.part_out(data, duration_ms, independent, now_ms),
            SegmentEvent::SegmentEnd { duration_ms, .. } => self.segment_end(duration_ms, now_ms),
        }
    }

    /// True once a segment is complete: the playlist is served from then on, so that
    /// its target duration, set by that segment, need not change (RFC 8216 §6.2.1).
    pub fn ready(&self) -> bool {
        self.segments.iter().any(|s| s.duration_ms.is_some())
    }

    /// The media playlist, each URI followed by `query` (e.g. `?token=…`, or empty).
    pub fn playlist(&self, query: &str) -> String {
        playlist::write(self, query, false)
    }

    /// The playlist as a delta update (RFC 8216bis §6.2.5.1, `_HLS_skip=YES`): the
    /// segments before the skip boundary left out as `EXT-X-SKIP`, for a player that has
    /// them from an earlier reload. The whole playlist when the window offers no skips.
    pub fn playlist_delta(&self, query: &str) -> String {
        playlist::write(self, query, true)
    }

    /// `CAN-SKIP-UNTIL`, in seconds, when the window is long enough for delta updates to
    /// leave something out: twice the skip boundary, which must be at least six target
    /// durations (RFC 8216bis §4.4.3.8).
    fn skip_until_s(&self) -> Option<f64> {
        let boundary = 6.0 * f64::from(self.target_s);
        let window = f64::from(self.options.window_ms.max(3 * self.options.target_ms)) / 1000.0;
        (window >= 2.0 * boundary).then_some(boundary)
    }

    /// The init segment numbered `n`, while a segment in the window uses it.
    pub fn init_segment(&self, n: u64) -> Option<Bytes> {
        self.inits
            .iter()
            .find(|(number, _)| *number == n)
            .map(|(_, data)| data.clone())
    }

    /// The complete segment `msn`: its parts' bytes, to be sent one after the other
    /// (kept once, as parts, rather than again as a whole).
    pub fn segment(&self, msn: u64) -> Option<Vec<Bytes>> {
        let segment = self.find(msn).filter(|s| s.duration_ms.is_some())?;
        Some(segment.parts.iter().map(|p| p.data.clone()).collect())
    }

    /// Whether every segment starts with an independent part (a keyframe), as
    /// `EXT-X-INDEPENDENT-SEGMENTS` says: not while one cut for its length without a
    /// keyframe ([`crate::segment::SegmentOptions::longest_ms`]) is in the window.
    fn independent_segments(&self) -> bool {
        let mut starts = self.segments.iter().filter_map(|s| s.parts.first());
        starts.all(|p| p.independent)
    }

    /// Part `index` of segment `msn`.
    pub fn part(&self, msn: u64, index: u32) -> Lookup {
        if let Some(part) = self
            .find(msn)
            .and_then(|s| s.parts.get(usize::try_from(index).ok()?))
        {
            return Lookup::Ready(part.data.clone());
        }
        let (next_msn, next_index) = self.next_part();
        let pending = match msn.cmp(&next_msn) {
            core::cmp::Ordering::Equal => index >= next_index,
            // The segment after the open one: its parts come within a target duration or two.
            core::cmp::Ordering::Greater => msn == next_msn + 1,
            core::cmp::Ordering::Less => false,
        };
        if pending && index < self.max_parts() {
            Lookup::Pending
        } else {
            Lookup::Gone
        }
    }

    /// Whether a playlist reload blocking on `_HLS_msn=msn` (and `_HLS_part=part`) can
    /// be answered (RFC 8216bis §6.2.5.2): the playlist holds that part or a later one,
    /// or (without a part) segment `msn` is complete.
    pub fn playlist_ready(&self, msn: u64, part: Option<u32>) -> bool {
        let complete = |m: u64| {
            self.segments
                .iter()
                .any(|s| s.msn >= m && s.duration_ms.is_some())
        };
        match part {
            None => complete(msn),
            Some(p) => complete(msn) || self.last_part().is_some_and(|(m, i)| (m, i) >= (msn, p)),
        }
    }

    /// RFC 8216bis §6.2.5.2: a reload asking for a segment more than two past the last
    /// one is answered at once with 400.
    pub fn too_far(&self, msn: u64) -> bool {
        let last = self.next_msn.saturating_sub(1);
        msn > last + 2
    }

    /// What the segments and parts are: `ts` (MPEG-TS) or `m4s` (fMP4), as their URIs end.
    pub fn extension(&self) -> &'static str {
        if self.ts.is_some() { "ts" } else { "m4s" }
    }

    /// The segments' and parts' `Content-Type`.
    pub fn media_type(&self) -> &'static str {
        if self.ts.is_some() {
            "video/mp2t"
        } else {
            "video/mp4"
        }
    }

    /// The `EXT-X-TARGETDURATION`, in seconds: what a blocking request's timeout is counted in.
    pub fn target_duration_s(&self) -> u32 {
        self.target_s
    }

    fn init(&mut self, data: Bytes, mime: &str, now_ms: u64) {
        let ts = ts::carries(mime)
            .then(|| TsMuxer::new(data.clone()).ok())
            .flatten();
        if ts.is_some() != self.ts.is_some() {
            self.start_afresh(now_ms);
        }
        self.ts = ts;
        let n = self.next_init;
        self.next_init += 1;
        self.inits.push_back((n, data));
        if !self.segments.is_empty() {
            self.discontinuity = true;
        }
        self.drop_unused_inits();
    }

    fn segment_start(&mut self, now_ms: u64) {
        // A segment left open (no end seen) is closed with what it has.
        if self
            .segments
            .back()
            .is_some_and(|s| s.duration_ms.is_none())
        {
            let sum = self.open_duration();
            self.segment_end(sum, now_ms);
        }
        let Some(&(init, _)) = self.inits.back() else {
            return;
        };
        let program_ms = self.date_next(now_ms as f64);
        self.segments.push_back(Segment {
            msn: self.next_msn,
            init,
            program_ms,
            discontinuity: core::mem::take(&mut self.discontinuity),
            parts: Vec::new(),
            duration_ms: None,
        });
        self.next_msn += 1;
    }

    /// The next segment's date: the last one's date and duration, so that dates follow
    /// the media; the wall clock (`now_ms`) after a discontinuity, or once they drift
    /// apart (a source a little slower or faster than real time): at once where they
    /// ran ahead of the clock, though never before the last segment's date; after
    /// [`SLOW_FOR_MS`] where they fell behind.
    fn date_next(&mut self, now_ms: f64) -> f64 {
        let Some((last_ms, follows)) = (self.segments.back())
            .filter(|_| !self.discontinuity)
            .and_then(|last| Some((last.program_ms, last.program_ms + last.duration_ms?)))
        else {
            self.behind_since_ms = None;
            return now_ms;
        };
        if follows - now_ms > MAX_PROGRAM_DRIFT_MS {
            return now_ms.max(last_ms + 1.0);
        }
        if now_ms - follows <= MAX_PROGRAM_DRIFT_MS {
            self.behind_since_ms = None;
            return follows;
        }
        let since = *self.behind_since_ms.get_or_insert(now_ms);
        if now_ms - since < SLOW_FOR_MS {
            return follows;
        }
        self.behind_since_ms = None;
        now_ms
    }

    fn part_out(&mut self, data: Bytes, duration_ms: f64, independent: bool, now_ms: u64) {
        let data = match &mut self.ts {
            // The segmenter's own fMP4 always goes into TS; a part that did not would be
            // a bug, left out rather than listed broken.
            Some(ts) => match ts.part(&data) {
                Ok(data) => data,
                Err(_) => return,
            },
            None => data,
        };
        if self.segments.back().is_none_or(|s| s.duration_ms.is_some()) {
            // A part with no open segment (none started, or media before any init): a
            // segment must start with it for the playlist to list it.
            self.segment_start(now_ms);
        }
        let Some(segment) = self.segments.back_mut() else {
            return;
        };
        if duration_ms > self.part_target_ms {
            self.part_target_ms = libm::ceil(duration_ms);
        }
        segment.parts.push(Part {
            data,
            duration_ms,
            independent,
        });
    }

    fn segment_end(&mut self, duration_ms: f64, now_ms: u64) {
        let Some(segment) = self.segments.back_mut() else {
            return;
        };
        if segment.duration_ms.is_some() {
            return;
        }
        if segment.parts.is_empty() {
            // Nothing to list: forget it, and give its number to the next.
            self.segments.pop_back();
            self.next_msn -= 1;
            return;
        }
        // EXTINF is what the parts add up to (RFC 8216bis §4.4.4.9 wants the two equal);
        // the segmenter's own figure only when it has no parts' worth.
        let parts: f64 = segment.parts.iter().map(|p| p.duration_ms).sum();
        let duration = if parts > 0.0 {
            parts
        } else {
            duration_ms.max(0.0)
        };
        segment.duration_ms = Some(duration);
        // RFC 8216 §4.3.3.1: EXTINF rounded to the nearest integer ≤ the target duration.
        let rounded = libm::round(duration / 1000.0) as u32;
        self.target_s = self.target_s.max(rounded);
        self.slide(now_ms as f64);
    }

    /// Lists no segment any more (a change between fMP4 and TS), each retired: the
    /// numbers go on from where they were, so no URI names two resources, and the next
    /// segment is counted as a discontinuity.
    fn start_afresh(&mut self, now_ms: u64) {
        if self.segments.is_empty() {
            return;
        }
        let gone = self.segments.iter().filter(|s| s.discontinuity).count();
        self.discontinuity_sequence += gone as u64 + 1;
        self.retire(self.segments.len(), now_ms as f64);
        self.discontinuity = false;
    }

    /// Retires segments past the window, counting the discontinuities that leave with
    /// them: the oldest goes while the complete segments after it last the window (within
    /// a hundredth of the target, for durations a millisecond short of theirs), and at
    /// least three target durations and three segments.
    fn slide(&mut self, now_ms: f64) {
        let least = f64::from(self.options.window_ms).max(3000.0 * f64::from(self.target_s))
            - f64::from(self.options.target_ms) / 100.0;
        // Only the newest segment may be open: the complete ones come first.
        let durations: Vec<f64> = self.segments.iter().filter_map(|s| s.duration_ms).collect();
        let mut listed: f64 = durations.iter().sum();
        let mut excess = 0;
        for d in &durations {
            if durations.len() - excess <= 3 || listed - d < least {
                break;
            }
            listed -= d;
            excess += 1;
        }
        let gone = self
            .segments
            .iter()
            .take(excess)
            .filter(|s| s.discontinuity);
        self.discontinuity_sequence += gone.count() as u64;
        // The first segment in the window needs no discontinuity tag of its own: the
        // sequence number says it (§6.2.2 counts those tags that left).
        self.retire(excess, now_ms);
    }

    /// Takes the `count` oldest segments out of the playlist, served on until `now_ms`
    /// plus their duration and the longest playlist that listed them (at most the one
    /// before this change, which still lists them); drops the retired segments past
    /// their deadline, and the inits no segment uses.
    fn retire(&mut self, count: usize, now_ms: f64) {
        let listed: f64 = self.segments.iter().filter_map(|s| s.duration_ms).sum();
        for _ in 0..count {
            if let Some(gone) = self.segments.pop_front() {
                let parts = || gone.parts.iter().map(|p| p.duration_ms).sum();
                let duration = gone.duration_ms.unwrap_or_else(parts);
                let deadline = now_ms + duration + listed;
                self.retired.push_back((gone, deadline));
            }
        }
        while self
            .retired
            .front()
            .is_some_and(|(_, until)| *until <= now_ms)
        {
            self.retired.pop_front();
        }
        self.drop_unused_inits();
    }

    fn drop_unused_inits(&mut self) {
        let first = (self.retired.front().map(|(s, _)| s))
            .or(self.segments.front())
            .map(|s| s.init);
        let newest = self.inits.back().map(|(n, _)| *n);
        self.inits
            .retain(|(n, _)| Some(*n) == newest || first.is_some_and(|f| *n >= f));
    }

    fn open_duration(&self) -> f64 {
        self.segments
            .back()
            .map_or(0.0, |s| s.parts.iter().map(|p| p.duration_ms).sum())
    }

    /// Segment `msn`, listed or retired.
    fn find(&self, msn: u64) -> Option<&Segment> {
        let listed = |first: u64| -> Option<&Segment> {
            let i = usize::try_from(msn.checked_sub(first)?).ok()?;
            self.segments.get(i)
        };
        match self.segments.front() {
            Some(front) if msn >= front.msn => listed(front.msn),
            _ => self.retired.iter().map(|(s, _)| s).find(|s| s.msn == msn),
        }
    }

    /// The newest part out: its segment's msn and its index.
    fn last_part(&self) -> Option<(u64, u32)> {
        self.segments.iter().rev().find_map(|s| {
            let n = u32::try_from(s.parts.len()).ok()?;
            n.checked_sub(1).map(|i| (s.msn, i))
        })
    }

    /// The part to come next: the preload hint.
    fn next_part(&self) -> (u64, u32) {
        match self.segments.back() {
            Some(s) if s.duration_ms.is_none() => {
                (s.msn, u32::try_from(s.parts.len()).unwrap_or(u32::MAX))
            }
            _ => (self.next_msn, 0),
        }
    }

    /// More parts than a segment could have: twice as many as a keyframe-late segment
    /// of four targets would, a bound for "pending".
    fn max_parts(&self) -> u32 {
        (self.target_s * 1000 * 8).div_ceil(self.options.part_ms)
    }
}

#[cfg(test)]
mod tests;
