//! The player's live-edge policy, with no browser in it: given where the playhead
//! is and what is buffered, which playback rate to use and whether to seek. The
//! browser player (crate `flashless-web`) reads the `<video>` into a [`Snapshot`]
//! every tick and applies the [`Decision`]; the tests here drive it with numbers
//! alone.
//!
//! Playback never freezes: every seek lands where **every** track has media
//! ([`ranges::common`]), a margin inside it, since a seek into a hole of one
//! track stays pending for good; a seek still pending after [`SEEK_MS`] is
//! re-aimed at the next position every track has; a playhead standing still at
//! the end of a range with more after it jumps over the hole at once (the
//! element never crosses one by itself), and one standing still elsewhere with
//! media ahead is nudged after [`STALL_MS`], or after [`WAIT_MS`] when the
//! element itself says it is waiting.
//!
//! A seek costs a decode from the keyframe before its position: where that is
//! slow (a large picture decoded in software on a busy core) a seek re-aimed or
//! a playhead nudged every half second never lets the decoder catch up, and one
//! short stall becomes seconds of freeze. So a seek whose position has media in
//! every track is left to complete for [`SEEK_DECODE_MS`], and an element that
//! stops near the live edge (the decoder fell behind with little buffered) is
//! left to refill for [`REFILL_MS`]: that is running dry, answered by a higher
//! target, not by a seek.
//!
//! When one track has media ahead and another has none (audio stopped at the
//! source), no seek can help: the element plays only where every SourceBuffer
//! has media, and the only ways past are to fill the starved track or to remove
//! its SourceBuffer, which loses that track for good (browsers refuse
//! `addSourceBuffer` once media has flowed). The remuxer fills audio holes with
//! silence, so the least-skipping action is to wait at the end of the common
//! media, which skips nothing; a seek pending there is brought back to the last
//! position every track has, so the element is never left seeking.

use alloc::vec::Vec;

mod ranges;

/// Tuning; times in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// The latency to hold: how far behind the newest buffered media the playhead plays.
    pub target: f64,
    /// The fastest rate used to catch up (audio stays listenable up to ~1.2).
    pub max_rate: f64,
    /// Further behind than this, catching up would take too long: seek instead.
    pub jump_behind: f64,
    /// Media kept behind the playhead; older buffer is removed.
    pub back_buffer: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            target: 0.5,
            max_rate: 1.15,
            jump_behind: 3.0,
            back_buffer: 10.0,
        }
    }
}

/// What the `<video>` looks like at one tick.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    /// A monotonic clock in milliseconds (`performance.now()`).
    pub now_ms: f64,
    pub current: f64,
    /// `video.buffered`, in order.
    pub ranges: &'a [(f64, f64)],
    /// Each SourceBuffer's `buffered`, in order (empty: `ranges` is all there is).
    /// The policy plays and seeks only where all of them have media.
    pub tracks: &'a [Vec<(f64, f64)>],
    pub paused: bool,
    pub seeking: bool,
    /// The element says it cannot go on (`readyState` below `HAVE_FUTURE_DATA`,
    /// the `waiting` event) while neither paused nor seeking.
    pub waiting: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seek {
    /// The first media arrived: start at the live edge.
    Start,
    /// After a hidden tab, a jump the caller asked for with [`LiveEdge::resync`].
    Resync,
    /// Further behind than `jump_behind`.
    Behind,
    /// The playhead sits in a hole between buffered ranges.
    Gap,
    /// Playing, data ahead, yet the playhead did not move: a decoder stall, or a
    /// hole in one track just ahead.
    Stall,
    /// A seek still pending after [`SEEK_MS`], aimed again where every track has media.
    Reaim,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub rate: f64,
    pub seek: Option<(f64, Seek)>,
}

/// A playhead standing still with media ahead is moved on after this long (ms).
pub const STALL_MS: f64 = 500.0;
/// A seek still pending after this long is re-aimed (ms).
pub const SEEK_MS: f64 = 500.0;
/// An element waiting with media ahead is moved on after this long (ms): it says
/// itself that it is stuck, so no need to watch the playhead stand still.
pub const WAIT_MS: f64 = 250.0;
/// A pending seek to where every track has media is decoding its way there from a
/// keyframe: it is re-aimed only after this long (ms).
pub const SEEK_DECODE_MS: f64 = 2000.0;
/// A playhead that stopped within a [`TARGET_STEP`] of the target (or
/// [`LOW_WATER`]) behind the newest media is left this long (ms) to refill before
/// it is nudged: the decoder fell behind with little buffered, and resumes by itself.
pub const REFILL_MS: f64 = 1500.0;
/// How far a stalled playhead is nudged, when what holds it is not a hole.
const NUDGE: f64 = 0.1;
/// Catch-up starts this far past the target (or half a target past it, if that is
/// less) and stops once the latency is back at the target, so the rate does not
/// flap around it. A low target gets a narrow band: its latency is held close, not
/// anywhere up to 0.25 s past it. The chase goes all the way to the target, not
/// short of it: at rate 1 the latency stays wherever the chase left it, and the
/// samples already swing a frame interval around it as frames arrive.
const CHASE_START: f64 = 0.25;
const CHASE_STOP: f64 = 0.01;
/// Playback rate gained per second of excess latency, in steps of [`RATE_STEP`]:
/// a chase runs at one rate picked when it starts (raised, not lowered, while it
/// lasts) rather than one that follows the latency every tick, which is audible
/// and, in WebKit, costs playback time at each change.
const CHASE_GAIN: f64 = 0.25;
const RATE_STEP: f64 = 0.05;
/// A rate is held at least this long before it is raised (ms); lowering it (the
/// chase ends, the buffer runs low) happens at once.
pub const RATE_HOLD_MS: f64 = 2000.0;
/// Below this much buffered media, play slightly slower to avoid running dry.
const LOW_WATER: f64 = 0.15;
const SLOW_RATE: f64 = 0.95;
/// Removal happens in steps of this many seconds past `back_buffer`, not every tick.
const TRIM_STEP: f64 = 5.0;
/// Each time the buffer runs dry the target grows by this much, up to
/// `MAX_TARGET` (or the option, if it is larger): the network delivers less
/// evenly than the target allowed for.
const TARGET_STEP: f64 = 0.1;
const MAX_TARGET: f64 = 1.0;
/// A raised target comes back down by half a step, or a quarter of what it is raised
/// by when that is more, after this long playing without running dry (ms), to the
/// option at the lowest: one hiccup (a busy main thread, a late burst) costs latency
/// for a while, not for the rest of the session, and a network that keeps stalling
/// keeps it raised. Running dry again before an eased target has held that long
/// doubles the wait, up to [`TARGET_EASE_MAX_MS`]: a player that cannot hold the
/// lower target stops trying it every 20 s.
const TARGET_EASE_MS: f64 = 20_000.0;
const TARGET_EASE_MAX_MS: f64 = 160_000.0;
/// A source that sent nothing for [`GAP_MIN_S`] or more and then all it held at once
/// (a publisher's uplink that stalled) left the player dry for that long: the target
/// is raised to cover such a gap, plus a step, at once (not a step at a time), up to
/// this much short of `jump_behind`. So the backlog is played rather than chased
/// away, and the next stall as long is ridden out instead of frozen through. Shorter
/// gaps are the steps' business.
const GAP_MARGIN_TO_JUMP: f64 = 0.5;
const GAP_MIN_S: f64 = 1.0;
/// The latency held is at least the video's frame interval plus this: the buffered
/// end includes the newest frame's whole (estimated) duration, and the next frame
/// comes only a frame interval later. A slow source (1 frame a second) would
/// otherwise run dry before each frame. The floor goes up to half of `jump_behind`
/// at most: held further back, the playhead would be seen behind and sent forward.
const FRAME_MARGIN: f64 = 0.1;

#[derive(Debug, Clone)]
pub struct LiveEdge {
    options: Options,
    /// The latency held now: `options.target`, raised when the buffer ran dry.
    target: f64,
    /// The video's frame interval (s), 0 when unknown: see [`FRAME_MARGIN`].
    frame_s: f64,
    started: bool,
    /// Started (or resynced), and the playhead has not moved since: the first frame is to come.
    first_frame: bool,
    resync: bool,
    /// A hidden tab shown again: a resync at the next tick, unless paused.
    shown: bool,
    chasing: bool,
    last_current: f64,
    still_since: Option<f64>,
    /// The playhead moved since the last seek: standing still now is a stall.
    moved_since_seek: bool,
    /// Where the last seek went, until the playhead plays: the position a
    /// viewer who paused meanwhile holds.
    aim: Option<f64>,
    /// In a stall at the end of the buffer, counted once.
    dry: bool,
    /// The newest media (the end of what every track has), and when it last grew:
    /// how long the source sent nothing.
    newest: f64,
    newest_at_ms: f64,
    /// When the target was last raised or eased (ms), and whether eased.
    target_since_ms: f64,
    eased: bool,
    /// The calm spell after which a raised target eases (ms).
    ease_ms: f64,
    /// The previous tick's clock, for the time spent stuck.
    last_now_ms: f64,
    /// When the pending seek started (or was first seen pending).
    seeking_since: Option<f64>,
    /// When the element was first seen waiting with media ahead.
    waiting_since: Option<f64>,
    stuck_ms: f64,
    recoveries: u32,
    /// The rate decided last, when it changed, and how many times it did.
    rate: f64,
    rate_since_ms: f64,
    rate_changes: u32,
}

impl LiveEdge {
    pub fn new(options: Options) -> Self {
        LiveEdge {
            options,
            target: options.target,
            frame_s: 0.0,
            started: false,
            first_frame: false,
            resync: false,
            shown: false,
            chasing: false,
            last_current: f64::NAN,
            still_since: None,
            moved_since_seek: false,
            aim: None,
            dry: false,
            newest: f64::NEG_INFINITY,
            newest_at_ms: f64::NAN,
            target_since_ms: f64::NAN,
            eased: false,
            ease_ms: TARGET_EASE_MS,
            last_now_ms: f64::NAN,
            seeking_since: None,
            waiting_since: None,
            stuck_ms: 0.0,
            recoveries: 0,
            rate: 1.0,
            rate_since_ms: f64::NEG_INFINITY,
            rate_changes: 0,
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The latency held now, in seconds: the target, or more for a slow source
    /// (see [`FRAME_MARGIN`]).
    pub fn target(&self) -> f64 {
        if self.frame_s > 0.0 {
            let floor = (self.frame_s + FRAME_MARGIN).min(self.options.jump_behind / 2.0);
            self.target.max(floor)
        } else {
            self.target
        }
    }

    /// The video's frame interval, in seconds, as the remuxer measures it.
    pub fn set_frame_interval(&mut self, seconds: f64) {
        self.frame_s = if seconds.is_finite() {
            seconds.max(0.0)
        } else {
            0.0
        };
    }

    /// Whether the playhead has been placed at the live edge once.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Milliseconds spent neither playing nor paused since the start: waiting or
    /// seeking while the viewer wants playback.
    pub fn stuck_ms(&self) -> f64 {
        self.stuck_ms
    }

    /// Seeks made to get a stuck playhead going: over holes, out of stalls, re-aimed seeks.
    pub fn recoveries(&self) -> u32 {
        self.recoveries
    }

    /// Times the playback rate changed: few, by design.
    pub fn rate_changes(&self) -> u32 {
        self.rate_changes
    }

    /// A new stream on a new timeline (another URL, a rebuilt MediaSource): start
    /// at its live edge again. The counters and the raised target (with its easing
    /// clock) carry on.
    pub fn restart(&mut self) {
        let keep = (
            (self.target, self.target_since_ms, self.eased, self.ease_ms),
            self.stuck_ms,
            self.recoveries,
            self.rate_changes,
        );
        *self = LiveEdge::new(self.options);
        (
            (self.target, self.target_since_ms, self.eased, self.ease_ms),
            self.stuck_ms,
            self.recoveries,
            self.rate_changes,
        ) = keep;
    }

    /// Jump to the live edge at the next tick (a tab that was hidden is visible again),
    /// unless the viewer paused: a paused picture holds where the viewer left it.
    pub fn resync(&mut self) {
        self.shown = true;
    }

    /// The viewer asked for the live edge: jump there at the next tick, at the latency
    /// the options ask for, whatever running dry had raised it to.
    pub fn go_live(&mut self) {
        self.target = self.options.target;
        self.resync = true;
    }

    pub fn tick(&mut self, s: &Snapshot) -> Decision {
        let d = self.decide(s);
        let rate = match d.seek {
            Some(_) => 1.0,
            None => self.steady(s.now_ms, d.rate),
        };
        if rate != self.rate {
            self.rate = rate;
            self.rate_since_ms = s.now_ms;
            self.rate_changes += 1;
        }
        Decision { rate, ..d }
    }

    /// The rate to play at, given the one the policy wants: lowered at once,
    /// raised only after [`RATE_HOLD_MS`] at the current one, and a chase's rate
    /// kept while it goes on.
    fn steady(&self, now_ms: f64, wanted: f64) -> f64 {
        let chase = self.chasing && self.rate > 1.0 && wanted > 1.0;
        if wanted < self.rate && !chase {
            return wanted;
        }
        if wanted > self.rate && now_ms - self.rate_since_ms >= RATE_HOLD_MS {
            return wanted;
        }
        self.rate
    }

    fn decide(&mut self, s: &Snapshot) -> Decision {
        if core::mem::take(&mut self.shown) {
            self.resync |= !s.paused;
        }
        let moved = (s.current - self.last_current).abs() > 0.001;
        let advanced = s.current - self.last_current > 0.001;
        self.last_current = s.current;
        self.moved_since_seek |= moved;
        let elapsed = s.now_ms - self.last_now_ms;
        self.last_now_ms = s.now_ms;
        let stuck = s.seeking || s.waiting || !moved;
        if moved && !s.paused && !s.seeking {
            self.aim = None;
        }
        if self.started && !s.paused && stuck && elapsed > 0.0 {
            self.stuck_ms += elapsed;
        }
        let common = ranges::common(s.ranges, s.tracks);
        let Some(&(last_start, end)) = common.last() else {
            return Decision::play(1.0);
        };
        // Media after a gap the buffer ran dry in: the target covers that gap.
        if end > self.newest + 0.001 {
            // Not across a resync: a hidden tab's throttled socket is no stall of the source.
            if self.dry && !self.resync && self.newest_at_ms.is_finite() {
                self.cover_gap((s.now_ms - self.newest_at_ms) / 1000.0, s.now_ms);
            }
            self.newest = end;
            self.newest_at_ms = s.now_ms;
        }
        let target = self.target();
        let live = (end - target).max(last_start);
        if !self.started || self.resync {
            let why = if self.started {
                Seek::Resync
            } else {
                Seek::Start
            };
            self.started = true;
            self.first_frame = true;
            self.resync = false;
            // Media goes on arriving while the seek completes and playback starts:
            // the catch-up takes that slip back, however small.
            self.chasing = true;
            let to = ranges::land_at_or_before(&common, live).unwrap_or(live);
            return self.seek(s.now_ms, to, why);
        }
        if self.first_frame && !s.seeking && (advanced || s.paused) {
            self.first_frame = false;
            // The first frame came over a step behind the target: the element took
            // that long to start (decoding from the keyframe on a busy core, which
            // on a quiet one takes a few tens of ms). A chase from there ends where
            // such an element runs dry (Chromium under load stops with 0.15–0.2 s
            // left), so it holds a step back, eased like any raised target. Paused
            // at the start (autoplay refused), the wait is the viewer's: no sign.
            if !s.paused && end - s.current > target + TARGET_STEP {
                self.raise_target(s.now_ms);
            }
        }
        if s.seeking {
            let since = *self.seeking_since.get_or_insert(s.now_ms);
            let wait = if ranges::contains(&common, s.current) {
                SEEK_DECODE_MS
            } else {
                SEEK_MS
            };
            if s.now_ms - since < wait {
                return Decision::play(1.0);
            }
            // Pending too long: somewhere a track has no media. Aim at the next
            // position every track has or, with none ahead, the last one before.
            let mut to = ranges::land_at_or_after(&common, s.current);
            if to.is_some_and(|to| (to - s.current).abs() < 0.001) {
                to = ranges::land_at_or_after(&common, s.current + NUDGE);
            }
            let to = to.or_else(|| ranges::land_at_or_before(&common, s.current));
            return match to {
                Some(to) => self.recover(s.now_ms, to, Seek::Reaim),
                None => Decision::play(1.0),
            };
        }
        self.seeking_since = None;
        if !ranges::contains(&common, s.current) {
            // Chromium, paused while its seek is pending, ends the seek at 0: the
            // position the seek went to is still the one to show.
            if let Some(aim) = self.aim.filter(|&aim| ranges::contains(&common, aim)) {
                let d = self.recover(s.now_ms, aim, Seek::Reaim);
                // Once: an element that lands outside again is taken on as from a hole.
                self.aim = None;
                return d;
            }
            // In a hole (or before the first range): go to where media resumes.
            if let Some(to) = ranges::land_at_or_after(&common, s.current) {
                return self.recover(s.now_ms, to, Seek::Gap);
            }
            // Past the end: waiting for data, nothing to do.
            return Decision::play(1.0);
        }
        if s.paused {
            self.still_since = None;
            return Decision::play(1.0);
        }
        let latency = end - s.current;
        if latency > self.options.jump_behind {
            self.chasing = true;
            return self.seek(s.now_ms, live, Seek::Behind);
        }
        let here_end = common
            .iter()
            .find(|&&(a, b)| s.current >= a - 0.01 && s.current < b)
            .map_or(end, |r| r.1);
        if !moved && here_end - s.current <= LOW_WATER && here_end < end {
            // Standing at the end of a range with more after it: the element never
            // crosses a hole by itself, so waiting only makes the freeze longer.
            if let Some(to) = ranges::land_at_or_after(&common, here_end) {
                return self.recover(s.now_ms, to, Seek::Gap);
            }
        }
        // Stopped, or still creeping while the element says it waits, this near the
        // newest media: running dry (Chromium drops to HAVE_CURRENT_DATA with 0.1 s
        // left, or 0.2 s when its decoder falls behind, and resumes only once it has
        // refilled, even when the next batch is already in). Until it moves again it
        // is left to refill, however much arrives meanwhile: a seek would only add a
        // decode from the keyframe.
        let thin = latency <= LOW_WATER.max(target + TARGET_STEP);
        let starved = !moved || s.waiting;
        if starved && self.moved_since_seek && thin {
            if !self.dry {
                self.dry = true;
                self.raise_target(s.now_ms);
            }
        } else if moved {
            self.dry = false;
            self.ease_target(s.now_ms);
        }
        let patience = |quick| if self.dry { REFILL_MS } else { quick };
        if s.waiting && here_end - s.current > LOW_WATER {
            let since = *self.waiting_since.get_or_insert(s.now_ms);
            if s.now_ms - since >= patience(WAIT_MS) {
                self.waiting_since = None;
                if let Some(to) = ranges::land_at_or_after(&common, s.current + NUDGE) {
                    return self.recover(s.now_ms, to, Seek::Stall);
                }
            }
        } else {
            self.waiting_since = None;
        }
        if !moved && latency > LOW_WATER {
            let since = *self.still_since.get_or_insert(s.now_ms);
            if s.now_ms - since >= patience(STALL_MS) {
                self.still_since = None;
                // A nudge, or over the hole in one track that holds the playhead.
                if let Some(to) = ranges::land_at_or_after(&common, s.current + NUDGE) {
                    return self.recover(s.now_ms, to, Seek::Stall);
                }
            }
        } else {
            self.still_since = None;
        }
        let excess = latency - target;
        if excess > CHASE_START.min(target / 2.0) {
            self.chasing = true;
        } else if excess <= CHASE_STOP {
            self.chasing = false;
        }
        let rate = if self.chasing {
            // The nearest step (not `f64::round`, a libm call in wasm), at least one.
            let steps = libm::floor(excess * CHASE_GAIN / RATE_STEP + 0.5).max(1.0);
            // Not `f64::clamp`: its assertion message pulls float formatting into the wasm.
            (1.0 + steps * RATE_STEP)
                .min(self.options.max_rate)
                .max(1.0)
        } else if latency < LOW_WATER.min(target / 2.0) {
            SLOW_RATE
        } else {
            1.0
        };
        Decision::play(rate)
    }

    /// Raises the target by a step (see [`TARGET_STEP`]). Raised again soon after
    /// an ease, the next ease waits twice as long.
    fn raise_target(&mut self, now_ms: f64) {
        if self.eased && now_ms - self.target_since_ms < self.ease_ms {
            self.ease_ms = (self.ease_ms * 2.0).min(TARGET_EASE_MAX_MS);
        }
        let most = self.options.target.max(MAX_TARGET);
        self.target = (self.target + TARGET_STEP).min(most);
        self.target_since_ms = now_ms;
        self.eased = false;
    }

    /// Raises the target to cover `gap_s` the source sent nothing in (see
    /// [`GAP_MARGIN_TO_JUMP`]), when that is more than a step more.
    fn cover_gap(&mut self, gap_s: f64, now_ms: f64) {
        if gap_s < GAP_MIN_S {
            return;
        }
        let most = (self.options.jump_behind - GAP_MARGIN_TO_JUMP).max(self.options.target);
        let cover = (gap_s + TARGET_STEP).min(most);
        if cover > self.target() + TARGET_STEP {
            self.raise_target(now_ms);
            self.target = self.target.max(cover);
        }
    }

    /// Lowers a raised target by half a step (or a quarter of what it is raised by,
    /// when more) once it has held its calm spell (see [`TARGET_EASE_MS`]), and chases
    /// down to it: half a step is inside the band a chase starts past.
    fn ease_target(&mut self, now_ms: f64) {
        if self.target > self.options.target && now_ms - self.target_since_ms >= self.ease_ms {
            let by = (TARGET_STEP / 2.0).max((self.target - self.options.target) / 4.0);
            self.target = (self.target - by).max(self.options.target);
            self.target_since_ms = now_ms;
            self.eased = true;
            self.chasing = true;
        }
    }

    /// Where to remove buffer up to, if what lies behind the playhead has grown
    /// past the back buffer by a step.
    pub fn trim_before(&self, current: f64, ranges: &[(f64, f64)]) -> Option<f64> {
        let &(first, _) = ranges.first()?;
        let keep_from = current - self.options.back_buffer;
        (first < keep_from - TRIM_STEP).then_some(keep_from)
    }

    fn seek(&mut self, now_ms: f64, to: f64, why: Seek) -> Decision {
        // The jump itself is no playback.
        self.last_current = to;
        self.moved_since_seek = false;
        self.aim = Some(to);
        self.dry = false;
        self.seeking_since = Some(now_ms);
        Decision::seek(to, why)
    }

    /// A seek that gets a stuck playhead going.
    fn recover(&mut self, now_ms: f64, to: f64, why: Seek) -> Decision {
        self.recoveries += 1;
        self.seek(now_ms, to, why)
    }
}

impl Decision {
    fn play(rate: f64) -> Decision {
        Decision { rate, seek: None }
    }

    fn seek(to: f64, why: Seek) -> Decision {
        Decision {
            rate: 1.0,
            seek: Some((to, why)),
        }
    }
}

#[cfg(test)]
mod tests;
