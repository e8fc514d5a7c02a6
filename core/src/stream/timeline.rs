//! Timestamps placed on one forward-going timeline.

use super::Role;

/// The gap left between one session's last tag and the next one's first, about a frame.
pub const SESSION_GAP_MS: u32 = 40;

/// Maps each upstream session's timestamps onto one timeline that only goes forward,
/// so viewers keep playing across reconnects without a reload. A session is anchored
/// at its first coded frame: servers such as nginx-rtmp stamp sequence headers 0 and
/// then send media at the publisher's clock.
///
/// The first session starts at 0, so one session alone is a recording's rebase: the
/// file starts at 0 from its first coded frame, with headers before it at 0.
///
/// Comparisons are signed 32-bit differences, so the 32-bit wrap of RTMP timestamps
/// passes.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Added (wrapping) to a session's timestamps once anchored.
    offset: Option<u32>,
    /// Where the current session starts on the timeline.
    next_start: u32,
    /// The latest timestamp given out so far.
    last_out: Option<u32>,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new upstream session follows: its first coded frame goes a little after the
    /// latest timestamp given out.
    pub fn new_session(&mut self) {
        self.offset = None;
        self.next_start = self.last_out.map_or(0, |t| t.wrapping_add(SESSION_GAP_MS));
    }

    /// The timeline's timestamp for a tag of `role` the session stamped `timestamp`.
    /// Tags before the session's anchor (headers, audio ahead of the first video frame)
    /// clamp to the session's start.
    pub fn map(&mut self, timestamp: u32, role: Role) -> u32 {
        let out = match self.offset {
            Some(offset) => {
                let out = timestamp.wrapping_add(offset);
                if (out.wrapping_sub(self.next_start) as i32) < 0 {
                    self.next_start
                } else {
                    out
                }
            }
            None if role.is_coded() => {
                self.offset = Some(self.next_start.wrapping_sub(timestamp));
                self.next_start
            }
            None => self.next_start,
        };
        if self
            .last_out
            .is_none_or(|last| (out.wrapping_sub(last) as i32) > 0)
        {
            self.last_out = Some(out);
        }
        out
    }

    /// Whether this session has had a coded frame yet.
    pub fn is_anchored(&self) -> bool {
        self.offset.is_some()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_session_starts_at_zero_from_its_first_coded_frame() {
        let mut t = Timeline::new();
        assert_eq!(t.map(0, Role::VideoHeader), 0);
        assert!(!t.is_anchored());
        assert_eq!(t.map(0x0100_0000, Role::Keyframe), 0);
        assert!(t.is_anchored());
        assert_eq!(t.map(0x0100_0000 + 40, Role::Frame), 40);
        assert_eq!(t.map(0x0100_0000 - 20, Role::Frame), 0, "clamped");
    }

    #[test]
    fn the_next_session_continues_forward() {
        let mut t = Timeline::new();
        t.new_session();
        t.map(0, Role::VideoHeader);
        t.map(5000, Role::Keyframe);
        t.map(5040, Role::Frame);
        // The upstream comes back with its clock restarted, headers stamped 0.
        t.new_session();
        let out: Vec<u32> = [
            (0, Role::VideoHeader),
            (100, Role::Keyframe),
            (90, Role::Frame),
            (140, Role::Frame),
        ]
        .into_iter()
        .map(|(ts, role)| t.map(ts, role))
        .collect();
        assert_eq!(out, [80, 80, 80, 120]);
    }

    #[test]
    fn the_32_bit_wrap_passes() {
        let mut t = Timeline::new();
        t.map(u32::MAX - 10, Role::Keyframe);
        assert_eq!(t.map(29, Role::Frame), 40);
    }

    fn role() -> impl Strategy<Value = Role> {
        prop_oneof![
            Just(Role::Metadata),
            Just(Role::VideoHeader),
            Just(Role::AudioHeader),
            Just(Role::Keyframe),
            Just(Role::Frame),
        ]
    }

    /// Sessions of tags, each tag a timestamp and a role.
    fn sessions() -> impl Strategy<Value = Vec<Vec<(u32, Role)>>> {
        prop::collection::vec(
            prop::collection::vec((0u32..10_000_000, role()), 0..40),
            1..6,
        )
    }

    proptest! {
        /// Whatever the sessions send, nothing of a later session goes before anything
        /// of an earlier one.
        #[test]
        fn sessions_never_go_backwards(sessions in sessions()) {
            let mut t = Timeline::new();
            let mut before: Option<u32> = None;
            for session in sessions {
                t.new_session();
                let out: Vec<u32> = session.iter().map(|&(ts, role)| t.map(ts, role)).collect();
                if let (Some(before), Some(first)) = (before, out.iter().min()) {
                    prop_assert!(*first > before, "{first} after {before}");
                }
                before = out.iter().copied().chain(before).max();
            }
        }

        /// Within a session, rising timestamps stay rising.
        #[test]
        fn a_rising_session_stays_rising(
            steps in prop::collection::vec((0u32..5_000, role()), 1..60),
            start in any::<u32>(),
            gap in 0u32..100_000,
        ) {
            let mut t = Timeline::new();
            t.map(gap, Role::Keyframe);
            t.new_session();
            let mut ts = start;
            let mut last = None;
            for (step, role) in steps {
                ts = ts.wrapping_add(step);
                let out = t.map(ts, role);
                if let Some(last) = last {
                    prop_assert!((out.wrapping_sub(last) as i32) >= 0, "{out} after {last}");
                }
                last = Some(out);
            }
        }
    }
}
