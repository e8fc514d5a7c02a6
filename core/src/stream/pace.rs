//! A source held to real time. A publisher that sends media faster than it plays
//! (ffmpeg without `-re`, a file pushed as fast as the link goes) would have every
//! viewer receive it that much faster too: one publisher multiplying the gateway's
//! traffic, and viewers shown a fast-forward of it. [`Pace`] tells the reader how long
//! to wait before reading on, so the source is read no faster than its media plays,
//! after a burst of [`Pace::new`]'s length (a reconnect's backlog, an upstream's cached
//! GOP) that passes at once.
//!
//! A [`Bucket`] of media time: wall time fills it, up to the burst; each advance of
//! the media clock's newest timestamp empties it by as much. Timestamps that step back
//! (tracks interleaved a little out of order) take nothing, and a jump of the source's
//! clock (back, or forward by more than [`MAX_STEP_MS`]) starts from there, taking
//! nothing: a restarted clock is not media sent early. The bucket fills [`RATE_PERCENT`]
//! faster than the wall clock: a source's clock that runs a little fast (an audio
//! clock off by a tenth of a percent) is never held back, which would add its drift to
//! the latency hour after hour.

use super::Bucket;

/// A step of the media clock larger than this is a jump of the source's clock, not media.
pub const MAX_STEP_MS: u32 = 500;

/// Media may come this much faster than real time, in percent, and not wait.
pub const RATE_PERCENT: u64 = 102;

#[derive(Debug, Clone)]
pub struct Pace {
    /// Media time, in ms, that may still be read at once.
    bucket: Bucket,
    /// The newest timestamp seen.
    newest: Option<u32>,
}

impl Pace {
    /// A source that may run up to `burst_ms` of media ahead of real time.
    pub fn new(burst_ms: u32) -> Self {
        Pace {
            // Ms of media earned per second of wall time: 1,000 × RATE_PERCENT / 100.
            bucket: Bucket::new(10 * RATE_PERCENT, u64::from(burst_ms)),
            newest: None,
        }
    }

    /// A coded frame at `timestamp` (the source's ms) was read at `now_ms` (any clock in
    /// ms that only goes forward): how many ms to wait before reading more.
    pub fn frame(&mut self, timestamp: u32, now_ms: u64) -> u64 {
        self.bucket.fill(now_ms);
        match self.newest {
            Some(newest) if timestamp > newest => {
                let step = timestamp - newest;
                if step <= MAX_STEP_MS {
                    self.bucket.take(u64::from(step));
                }
                self.newest = Some(timestamp);
            }
            Some(newest) if newest - timestamp > MAX_STEP_MS => self.newest = Some(timestamp),
            Some(_) => {}
            None => self.newest = Some(timestamp),
        }
        self.ahead_ms()
    }

    /// How long until the source is back within its burst, in ms of wall time.
    pub fn ahead_ms(&self) -> u64 {
        self.bucket.wait_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of two tracks, video every 40 ms and audio every 23 ms a little behind it,
    /// as a muxer interleaves them, for `ms` of media from `from`.
    fn interleaved(from: u32, ms: u32) -> alloc::vec::Vec<u32> {
        let mut ts: alloc::vec::Vec<u32> = (from..from + ms)
            .filter(|t| (t - from) % 40 == 0 || (t - from) % 23 == 0)
            .collect();
        // Audio 10 ms late: each audio frame after the next video one.
        for pair in ts.chunks_mut(2) {
            pair.reverse();
        }
        ts
    }

    #[test]
    fn a_source_in_real_time_never_waits() {
        let mut pace = Pace::new(1000);
        let mut now = 0;
        for t in interleaved(0, 60_000) {
            // Read as it plays, up to 10 ms late, its clock 1 % fast.
            now = now.max(u64::from(t) * 100 / 101 + 10);
            assert_eq!(pace.frame(t, now), 0, "at {t}");
        }
    }

    #[test]
    fn a_flood_waits_for_real_time_after_its_burst() {
        let mut pace = Pace::new(1000);
        // Ten seconds of media read in an instant: the first second passes, the rest waits.
        let frames = interleaved(0, 10_000);
        let waits: alloc::vec::Vec<u64> = frames.iter().map(|&t| pace.frame(t, 0)).collect();
        // A second's worth (25 pictures and 43 sounds) at once.
        let at_once = waits.iter().take_while(|&&w| w == 0).count();
        assert!((60..=70).contains(&at_once), "{at_once}");
        // The other nine seconds, less what the 2 % allowed lets through.
        let last = *waits.last().unwrap();
        assert!((8700..=8850).contains(&last), "{last}");
        // Read on once waited: due, nothing more to wait.
        let newest = *frames.iter().max().unwrap();
        assert_eq!(pace.frame(newest, last), 0);
        assert_eq!(pace.ahead_ms(), 0);
    }

    #[test]
    fn a_backlog_after_a_stall_passes_within_the_burst() {
        let mut pace = Pace::new(3000);
        for t in (0..5000).step_by(40) {
            assert_eq!(pace.frame(t, u64::from(t)), 0);
        }
        // Nothing for 2 s, then those 2 s of media at once, then real time again.
        for t in (5000..7000).step_by(40) {
            assert_eq!(pace.frame(t, 7000), 0, "at {t}");
        }
        for t in (7000..20_000).step_by(40) {
            assert_eq!(pace.frame(t, u64::from(t)), 0, "at {t}");
        }
    }

    #[test]
    fn a_jump_of_the_sources_clock_takes_nothing() {
        let mut pace = Pace::new(1000);
        assert_eq!(pace.frame(1000, 0), 0);
        // Forward by an hour, then back to 0 (a restarted encoder): no waiting.
        assert_eq!(pace.frame(3_601_000, 10), 0);
        assert_eq!(pace.frame(0, 20), 0);
        assert_eq!(pace.frame(40, 60), 0);
    }
}
