//! The player's live-edge policy, with no browser in it: given where the playhead
//! is and what is buffered, which playback rate to use and whether to seek. The
//! browser player (crate `flashless-web`) reads the `<video>` into a [`Snapshot`]
//! every tick and applies the [`Decision`]; the tests here drive it with numbers
//! alone.

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
    pub paused: bool,
    pub seeking: bool,
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
    /// Playing, data ahead, yet the playhead did not move: a decoder stall.
    Stall,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub rate: f64,
    pub seek: Option<(f64, Seek)>,
}

/// A stalled playhead is nudged after this long.
const STALL_MS: f64 = 1000.0;
/// Catch-up starts this far past the target (or half a target past it, if that is
/// less) and stops this close to it, so the rate does not flap around the target.
/// A low target gets a narrow band: its latency is held close, not anywhere up to
/// 0.25 s past it.
const CHASE_START: f64 = 0.25;
const CHASE_STOP: f64 = 0.05;
/// Playback rate gained per second of excess latency.
const CHASE_GAIN: f64 = 0.25;
/// Below this much buffered media, play slightly slower to avoid running dry.
const LOW_WATER: f64 = 0.15;
const SLOW_RATE: f64 = 0.95;
/// Where a seek lands past a range's start: a hair inside, not on the boundary.
const INSIDE: f64 = 0.05;
/// Removal happens in steps of this many seconds past `back_buffer`, not every tick.
const TRIM_STEP: f64 = 5.0;
/// Each time the buffer runs dry the target grows by this much, up to
/// `MAX_TARGET` (or the option, if it is larger): the network delivers less
/// evenly than the target allowed for.
const TARGET_STEP: f64 = 0.1;
const MAX_TARGET: f64 = 1.0;

#[derive(Debug, Clone)]
pub struct LiveEdge {
    options: Options,
    /// The latency held now: `options.target`, raised when the buffer ran dry.
    target: f64,
    started: bool,
    resync: bool,
    chasing: bool,
    last_current: f64,
    still_since: Option<f64>,
    /// The playhead moved since the last seek: standing still now is a stall.
    moved_since_seek: bool,
    /// In a stall at the end of the buffer, counted once.
    dry: bool,
}

impl LiveEdge {
    pub fn new(options: Options) -> Self {
        LiveEdge {
            options,
            target: options.target,
            started: false,
            resync: false,
            chasing: false,
            last_current: f64::NAN,
            still_since: None,
            moved_since_seek: false,
            dry: false,
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The latency held now, in seconds.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// Whether the playhead has been placed at the live edge once.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Jump to the live edge at the next tick (a tab that was hidden is visible again).
    pub fn resync(&mut self) {
        self.resync = true;
    }

    pub fn tick(&mut self, s: &Snapshot) -> Decision {
        let moved = (s.current - self.last_current).abs() > 0.001;
        self.last_current = s.current;
        self.moved_since_seek |= moved;
        let Some(&(last_start, end)) = s.ranges.last() else {
            return Decision::play(1.0);
        };
        let live = (end - self.target).max(last_start);
        if !self.started || self.resync {
            let why = if self.started {
                Seek::Resync
            } else {
                Seek::Start
            };
            self.started = true;
            self.resync = false;
            // Media goes on arriving while the seek completes and playback starts:
            // the catch-up takes that slip back, however small.
            self.chasing = true;
            return self.seek(live, why);
        }
        if s.seeking {
            return Decision::play(1.0);
        }
        if !s
            .ranges
            .iter()
            .any(|&(a, b)| s.current >= a - 0.01 && s.current < b)
        {
            // In a hole (or before the first range): go to where media resumes.
            if let Some(&(next, _)) = s.ranges.iter().find(|&&(a, _)| a > s.current) {
                return self.seek(next + INSIDE, Seek::Gap);
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
            return self.seek(live, Seek::Behind);
        }
        if !moved && latency > LOW_WATER {
            let since = *self.still_since.get_or_insert(s.now_ms);
            if s.now_ms - since >= STALL_MS {
                self.still_since = None;
                return self.seek(s.current + 0.1, Seek::Stall);
            }
        } else {
            self.still_since = None;
        }
        if !moved && self.moved_since_seek && latency <= LOW_WATER {
            if !self.dry {
                self.dry = true;
                let most = self.options.target.max(MAX_TARGET);
                self.target = (self.target + TARGET_STEP).min(most);
            }
        } else if moved {
            self.dry = false;
        }
        let excess = latency - self.target;
        if excess > CHASE_START.min(self.target / 2.0) {
            self.chasing = true;
        } else if excess <= CHASE_STOP {
            self.chasing = false;
        }
        let rate = if self.chasing {
            // Not `f64::clamp`: its assertion message pulls float formatting into the wasm.
            (1.0 + excess * CHASE_GAIN)
                .min(self.options.max_rate)
                .max(1.0)
        } else if latency < LOW_WATER.min(self.target / 2.0) {
            SLOW_RATE
        } else {
            1.0
        };
        Decision::play(rate)
    }

    /// Where to remove buffer up to, if what lies behind the playhead has grown
    /// past the back buffer by a step.
    pub fn trim_before(&self, current: f64, ranges: &[(f64, f64)]) -> Option<f64> {
        let &(first, _) = ranges.first()?;
        let keep_from = current - self.options.back_buffer;
        (first < keep_from - TRIM_STEP).then_some(keep_from)
    }

    fn seek(&mut self, to: f64, why: Seek) -> Decision {
        // The jump itself is no playback.
        self.last_current = to;
        self.moved_since_seek = false;
        self.dry = false;
        Decision::seek(to, why)
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
mod tests {
    use super::*;

    fn snap(now_ms: f64, current: f64, ranges: &[(f64, f64)]) -> Snapshot<'_> {
        Snapshot {
            now_ms,
            current,
            ranges,
            paused: false,
            seeking: false,
        }
    }

    fn started() -> LiveEdge {
        let mut edge = LiveEdge::new(Options::default());
        edge.tick(&snap(0.0, 0.0, &[(100.0, 101.0)]));
        edge
    }

    #[test]
    fn first_media_starts_at_target_behind_the_edge() {
        let mut edge = LiveEdge::new(Options::default());
        assert_eq!(edge.tick(&snap(0.0, 0.0, &[])), Decision::play(1.0));
        let d = edge.tick(&snap(0.0, 0.0, &[(100.0, 102.0)]));
        assert_eq!(d.seek, Some((101.5, Seek::Start)));
    }

    #[test]
    fn start_never_seeks_before_the_buffered_start() {
        let mut edge = LiveEdge::new(Options::default());
        let d = edge.tick(&snap(0.0, 0.0, &[(100.0, 100.2)]));
        assert_eq!(d.seek, Some((100.0, Seek::Start)));
    }

    #[test]
    fn on_target_plays_at_normal_rate() {
        let mut edge = started();
        assert_eq!(edge.tick(&snap(100.0, 100.5, &[(100.0, 101.0)])).rate, 1.0);
    }

    #[test]
    fn behind_target_chases_with_a_bounded_rate_until_close() {
        let mut edge = started();
        let d = edge.tick(&snap(100.0, 100.0, &[(99.0, 101.4)]));
        assert!(d.rate > 1.0 && d.rate <= 1.15, "{d:?}");
        let d = edge.tick(&snap(200.0, 100.1, &[(99.0, 103.0)]));
        assert_eq!(d.rate, 1.15, "capped");
        // Inside the dead band the chase goes on …
        let d = edge.tick(&snap(300.0, 102.3, &[(99.0, 103.0)]));
        assert!(d.rate > 1.0);
        // … and stops close to the target.
        let d = edge.tick(&snap(400.0, 102.5, &[(99.0, 103.0)]));
        assert_eq!(d.rate, 1.0);
    }

    #[test]
    fn the_slip_after_a_start_is_chased_back() {
        // Started at 100.5 (0.5 behind 101); playback began 0.1 s later than media came.
        let mut edge = started();
        let d = edge.tick(&snap(100.0, 100.5, &[(100.0, 101.6)]));
        assert!(d.rate > 1.0, "{d:?}");
        let d = edge.tick(&snap(200.0, 101.1, &[(100.0, 101.6)]));
        assert_eq!(d.rate, 1.0, "on target again");
    }

    #[test]
    fn a_low_target_is_chased_from_half_a_target_past_it() {
        let low = Options {
            target: 0.2,
            ..Options::default()
        };
        let mut edge = LiveEdge::new(low);
        edge.tick(&snap(0.0, 0.0, &[(100.0, 101.0)]));
        assert_eq!(edge.tick(&snap(100.0, 100.8, &[(100.0, 101.0)])).rate, 1.0);
        // 0.08 s past a 0.2 s target: within the band; 0.12 s past it: chased.
        assert_eq!(edge.tick(&snap(200.0, 100.9, &[(100.0, 101.18)])).rate, 1.0);
        assert!(edge.tick(&snap(300.0, 101.0, &[(100.0, 101.32)])).rate > 1.0);
        // Past the default 0.5 s target, 0.15 s is within the band.
        let mut edge = started();
        edge.tick(&snap(100.0, 100.5, &[(100.0, 101.0)]));
        assert_eq!(edge.tick(&snap(200.0, 100.55, &[(100.0, 101.2)])).rate, 1.0);
    }

    #[test]
    fn running_dry_raises_the_target_once_per_stall() {
        let low = Options {
            target: 0.2,
            ..Options::default()
        };
        let mut edge = LiveEdge::new(low);
        edge.tick(&snap(0.0, 0.0, &[(100.0, 101.0)]));
        // Standing still right after the start seek is no stall.
        edge.tick(&snap(100.0, 100.8, &[(100.0, 100.82)]));
        edge.tick(&snap(200.0, 100.8, &[(100.0, 100.82)]));
        assert_eq!(edge.target(), 0.2);
        // Playing, then stuck at the end of the buffer for several ticks: one step.
        edge.tick(&snap(300.0, 100.9, &[(100.0, 101.1)]));
        for i in 0..4 {
            edge.tick(&snap(
                400.0 + f64::from(i) * 100.0,
                101.08,
                &[(100.0, 101.1)],
            ));
        }
        assert!((edge.target() - 0.3).abs() < 1e-9, "{}", edge.target());
        // Moving again, then another stall: another step, up to the cap.
        for k in 0..20 {
            let t = 1000.0 + f64::from(k) * 200.0;
            let at = 102.0 + f64::from(k);
            edge.tick(&snap(t, at, &[(100.0, at + 0.02)]));
            edge.tick(&snap(t + 100.0, at + 0.01, &[(100.0, at + 0.02)]));
            edge.tick(&snap(t + 150.0, at + 0.01, &[(100.0, at + 0.02)]));
        }
        assert_eq!(edge.target(), MAX_TARGET);
        // Playing at the new target does not chase below it.
        assert_eq!(edge.tick(&snap(9000.0, 200.0, &[(100.0, 201.0)])).rate, 1.0);
    }

    #[test]
    fn far_behind_jumps_to_the_edge() {
        let mut edge = started();
        let d = edge.tick(&snap(100.0, 100.0, &[(99.0, 104.0)]));
        assert_eq!(d.seek, Some((103.5, Seek::Behind)));
    }

    #[test]
    fn almost_dry_plays_slower() {
        let mut edge = started();
        assert_eq!(
            edge.tick(&snap(100.0, 100.95, &[(100.0, 101.0)])).rate,
            SLOW_RATE
        );
    }

    #[test]
    fn playhead_in_a_gap_skips_to_the_next_range() {
        let mut edge = started();
        let d = edge.tick(&snap(100.0, 101.0, &[(100.0, 100.9), (101.3, 102.0)]));
        assert_eq!(d.seek, Some((101.35, Seek::Gap)));
        // Past the end there is nothing to skip to: wait.
        let d = edge.tick(&snap(200.0, 103.0, &[(100.0, 102.0)]));
        assert_eq!(d, Decision::play(1.0));
    }

    #[test]
    fn a_stalled_playhead_with_data_ahead_is_nudged_after_a_second() {
        let mut edge = started();
        let ranges = [(100.0, 101.0)];
        assert!(edge.tick(&snap(0.0, 100.4, &ranges)).seek.is_none());
        assert!(edge.tick(&snap(500.0, 100.4, &ranges)).seek.is_none());
        // Still since the tick at 500 ms.
        assert!(edge.tick(&snap(1000.0, 100.4, &ranges)).seek.is_none());
        let d = edge.tick(&snap(1500.0, 100.4, &ranges));
        assert_eq!(d.seek, Some((100.5, Seek::Stall)));
        // A moving playhead is no stall.
        let mut edge = started();
        for i in 0..10 {
            let t = f64::from(i);
            assert!(
                edge.tick(&snap(t * 500.0, 100.4 + t * 0.01, &ranges))
                    .seek
                    .is_none()
            );
        }
    }

    #[test]
    fn paused_neither_chases_nor_counts_as_stalled() {
        let mut edge = started();
        let ranges = [(99.0, 102.0)];
        for i in 0..5 {
            let mut s = snap(f64::from(i) * 1000.0, 100.0, &ranges);
            s.paused = true;
            assert_eq!(edge.tick(&s), Decision::play(1.0));
        }
    }

    #[test]
    fn resync_jumps_once_to_the_edge() {
        let mut edge = started();
        edge.resync();
        let d = edge.tick(&snap(0.0, 100.5, &[(99.0, 101.0)]));
        assert_eq!(d.seek, Some((100.5, Seek::Resync)));
        assert!(
            edge.tick(&snap(100.0, 100.5, &[(99.0, 101.0)]))
                .seek
                .is_none()
        );
    }

    #[test]
    fn trims_in_steps_behind_the_back_buffer() {
        let edge = started();
        assert_eq!(edge.trim_before(112.0, &[(100.0, 112.5)]), None);
        assert_eq!(edge.trim_before(116.0, &[(100.0, 116.5)]), Some(106.0));
        assert_eq!(edge.trim_before(116.0, &[]), None);
    }
}
