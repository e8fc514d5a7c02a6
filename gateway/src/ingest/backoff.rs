//! Capped exponential backoff with decorrelated jitter ("Exponential Backoff And Jitter",
//! AWS Architecture Blog, 2015): each delay is drawn from `[min, 3 × previous]` and capped,
//! so many gateways pulling one origin that went down do not come back in lockstep.

use std::time::Duration;

use crate::client::rtmp::random_bytes;

pub struct Backoff {
    min: Duration,
    max: Duration,
    previous: Duration,
    /// Failures since the last healthy session: the `attempt` users see.
    attempt: u32,
    rng: XorShift,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let seed: [u8; 8] = random_bytes(8).try_into().unwrap_or([0x5a; 8]);
        Self::with_seed(min, max, u64::from_le_bytes(seed))
    }

    pub fn with_seed(min: Duration, max: Duration, seed: u64) -> Self {
        // A zero minimum would let the delay collapse to nothing and never grow again.
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            previous: min,
            attempt: 0,
            rng: XorShift::new(seed),
        }
    }

    /// Records a failure: the attempt number and how long to wait before it.
    pub fn next(&mut self) -> (u32, Duration) {
        self.attempt = self.attempt.saturating_add(1);
        let low = self.min.as_millis() as u64;
        let high = (self.previous.as_millis() as u64)
            .saturating_mul(3)
            .max(low);
        let cap = self.max.as_millis() as u64;
        let ms = (low + self.rng.below(high - low + 1)).min(cap);
        self.previous = Duration::from_millis(ms);
        (self.attempt, self.previous)
    }

    /// After a session that delivered media for a while: the next failure starts short again.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.previous = self.min;
    }
}

/// Marsaglia's xorshift64: jitter needs spread, not unpredictability.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point.
        XorShift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Roughly uniform in `0..n` (the modulo bias is irrelevant for jitter); 0 when `n` is 0.
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(10);

    #[test]
    fn delays_stay_within_min_and_max_and_attempts_count_up() {
        for seed in 0..50 {
            let mut b = Backoff::with_seed(MIN, MAX, seed);
            for expected in 1..100 {
                let (attempt, delay) = b.next();
                assert_eq!(attempt, expected);
                assert!((MIN..=MAX).contains(&delay), "{delay:?}");
            }
        }
    }

    #[test]
    fn delays_grow_to_the_cap_over_repeated_failures() {
        let mut b = Backoff::with_seed(MIN, MAX, 42);
        let late: Vec<Duration> = (0..40).map(|_| b.next().1).skip(20).collect();
        let mean = late.iter().sum::<Duration>() / late.len() as u32;
        assert!(mean > Duration::from_secs(4), "mean {mean:?}");
        assert!(late.contains(&MAX));
    }

    #[test]
    fn jitter_spreads_delays() {
        let delays: Vec<Duration> = (1..20)
            .map(|seed| {
                let mut b = Backoff::with_seed(MIN, MAX, seed);
                b.next();
                b.next().1
            })
            .collect();
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 10, "{delays:?}");
    }

    #[test]
    fn reset_starts_again_from_the_minimum() {
        let mut b = Backoff::with_seed(MIN, MAX, 7);
        for _ in 0..30 {
            b.next();
        }
        b.reset();
        let (attempt, delay) = b.next();
        assert_eq!(attempt, 1);
        assert!(delay <= MIN * 3, "{delay:?}");
    }
}
