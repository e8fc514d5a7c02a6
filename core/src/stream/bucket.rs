//! A token bucket on the caller's clock: the caller's milliseconds fill it at a rate,
//! up to a burst; what is taken empties it, past zero if need be, and then it says how
//! long the taker waits until it is back within the burst. [`super::Pace`] holds a
//! source's media time to it; the gateway a publisher's bytes.

#[derive(Debug, Clone)]
pub struct Bucket {
    /// Tokens earned per second of the caller's clock.
    per_s: u64,
    burst: i64,
    /// Tokens that may still be taken at once; below zero, how far the taker is ahead.
    tokens: i64,
    /// Thousandths of a token earned and not yet whole: a bucket filled every
    /// millisecond earns what one filled every second does.
    carry: u64,
    filled_at: Option<u64>,
}

impl Bucket {
    /// Full, `burst` tokens, earning `per_s` a second (at least one).
    pub fn new(per_s: u64, burst: u64) -> Self {
        let burst = i64::try_from(burst).unwrap_or(i64::MAX);
        Bucket {
            per_s: per_s.max(1),
            burst,
            tokens: burst,
            carry: 0,
            filled_at: None,
        }
    }

    /// Earns what the clock gave since the last call (`now_ms` on any clock in ms; one
    /// that steps back earns nothing until it is past where it was).
    pub fn fill(&mut self, now_ms: u64) {
        let Some(at) = self.filled_at else {
            self.filled_at = Some(now_ms);
            return;
        };
        if now_ms <= at {
            return;
        }
        let earned = (now_ms - at)
            .saturating_mul(self.per_s)
            .saturating_add(self.carry);
        let whole = i64::try_from(earned / 1000).unwrap_or(i64::MAX);
        self.tokens = self.tokens.saturating_add(whole).min(self.burst);
        self.carry = if self.tokens == self.burst {
            0
        } else {
            earned % 1000
        };
        self.filled_at = Some(now_ms);
    }

    pub fn take(&mut self, n: u64) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.tokens = self.tokens.saturating_sub(n);
    }

    /// Takes `n` if the bucket holds them, never going into debt: a rate of attempts
    /// that are refused past it, and a refused one costs nothing.
    pub fn try_take(&mut self, n: u64) -> bool {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        if self.tokens < n {
            return false;
        }
        self.tokens -= n;
        true
    }

    /// Back to its whole burst: nothing taken is still owed to the rate.
    pub fn is_full(&self) -> bool {
        self.tokens >= self.burst
    }

    /// How long, in ms of the caller's clock, until the bucket is back within its burst
    /// (0 while it is).
    pub fn wait_ms(&self) -> u64 {
        let behind = self.tokens.min(0).unsigned_abs();
        behind
            .saturating_mul(1000)
            .saturating_sub(self.carry)
            .div_ceil(self.per_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_the_burst_nothing_waits() {
        let mut bucket = Bucket::new(1000, 500);
        bucket.fill(0);
        bucket.take(500);
        assert_eq!(bucket.wait_ms(), 0);
        bucket.take(250);
        // 250 tokens at 1000 a second.
        assert_eq!(bucket.wait_ms(), 250);
        bucket.fill(100);
        assert_eq!(bucket.wait_ms(), 150);
        bucket.fill(250);
        assert_eq!(bucket.wait_ms(), 0);
    }

    #[test]
    fn filled_every_millisecond_it_earns_as_filled_once() {
        // 1,020 a second: every millisecond earns 1.02 tokens, the 0.02s add up.
        let mut often = Bucket::new(1020, 100_000);
        let mut once = Bucket::new(1020, 100_000);
        often.take(200_000);
        once.take(200_000);
        often.fill(0);
        once.fill(0);
        for ms in 1..=50_000 {
            often.fill(ms);
        }
        once.fill(50_000);
        assert_eq!(often.wait_ms(), once.wait_ms());
        // 51,000 earned of the 100,000 owed: 49,000 more at 1,020 a second.
        assert_eq!(once.wait_ms(), 48_040);
    }

    #[test]
    fn it_never_holds_more_than_its_burst() {
        let mut bucket = Bucket::new(1000, 100);
        bucket.fill(0);
        // An hour idle, then a flood: only the burst passes at once.
        bucket.fill(3_600_000);
        bucket.take(1100);
        assert_eq!(bucket.wait_ms(), 1000);
        // Huge counts saturate instead of wrapping.
        bucket.take(u64::MAX);
        bucket.fill(u64::MAX);
        assert!(bucket.wait_ms() > 0);
    }

    #[test]
    fn a_clock_that_steps_back_earns_nothing() {
        let mut bucket = Bucket::new(1000, 1000);
        bucket.fill(10_000);
        bucket.take(2000);
        bucket.fill(5_000);
        assert_eq!(bucket.wait_ms(), 1000);
        bucket.fill(10_500);
        assert_eq!(bucket.wait_ms(), 500);
    }

    #[test]
    fn try_take_refuses_past_the_burst_without_debt() {
        let mut bucket = Bucket::new(500, 3000);
        bucket.fill(0);
        assert!((0..3).all(|_| bucket.try_take(1000)));
        assert!(!bucket.try_take(1000), "the burst is spent");
        // Refused attempts cost nothing: one is due 2 s later, however many were refused.
        for at in [100, 500, 1999] {
            bucket.fill(at);
            assert!(!bucket.try_take(1000), "at {at} ms");
        }
        bucket.fill(2000);
        assert!(bucket.try_take(1000));
        assert!(!bucket.is_full());
        bucket.fill(8000);
        assert!(bucket.is_full());
    }
}
