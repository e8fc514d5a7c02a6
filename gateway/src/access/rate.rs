//! Attempts per client address: a burst at once, then a steady rate, and past it the
//! attempt is refused (a refused one costs nothing). Publish starts and the
//! authorisation webhook's asks are held to one each.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use flashless_core::stream::Bucket;

use super::TrustedProxies;
use crate::swap::Swap;

/// Addresses remembered before those owing nothing to the rate are forgotten; then
/// again each time the remembered ones have doubled.
const REMEMBERED: usize = 1024;
/// The most addresses remembered: past it (a flood from that many addresses at once)
/// a new address is refused until some are forgotten, which is looked for at most
/// once a second then.
const MAX_REMEMBERED: usize = 65_536;

#[derive(Debug)]
pub struct PerAddress {
    /// Thousandths of an attempt a second, and at once: rates below one a second.
    per_s: u64,
    burst: u64,
    /// Not limited: every client behind a trusted proxy shares its address. Replaced on
    /// reload.
    exempt: Arc<Swap<TrustedProxies>>,
    remembered: Mutex<Remembered>,
    epoch: Instant,
}

#[derive(Debug, Default)]
struct Remembered {
    buckets: HashMap<IpAddr, Bucket>,
    /// How many there may be before the idle ones are forgotten, and when (ms) they
    /// last were.
    sweep_at: usize,
    swept_ms: u64,
}

impl PerAddress {
    /// `burst` attempts at once from one address, then `per_s` a second.
    pub fn new(per_s: f64, burst: f64, exempt: Arc<Swap<TrustedProxies>>) -> PerAddress {
        PerAddress {
            per_s: (per_s * 1000.0) as u64,
            burst: (burst * 1000.0) as u64,
            exempt,
            remembered: Mutex::new(Remembered {
                sweep_at: REMEMBERED,
                ..Remembered::default()
            }),
            epoch: Instant::now(),
        }
    }

    /// Whether `client` may make one more attempt now; if so, it is counted.
    pub fn try_take(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        if self.exempt.get().contains(client) {
            return true;
        }
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut r = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        let full = r.buckets.len() >= MAX_REMEMBERED;
        if r.buckets.len() >= r.sweep_at && (!full || now_ms >= r.swept_ms + 1000) {
            r.buckets.retain(|_, bucket| {
                bucket.fill(now_ms);
                !bucket.is_full()
            });
            r.sweep_at = REMEMBERED.max(2 * r.buckets.len()).min(MAX_REMEMBERED);
            r.swept_ms = now_ms;
        }
        if r.buckets.len() >= MAX_REMEMBERED && !r.buckets.contains_key(&client) {
            return false;
        }
        let bucket = r
            .buckets
            .entry(client)
            .or_insert_with(|| Bucket::new(self.per_s, self.burst));
        bucket.fill(now_ms);
        bucket.try_take(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_a_rate_per_address_and_proxies_exempt() {
        let proxies = TrustedProxies::parse(&["10.0.0.1".to_owned()]).unwrap();
        let rate = PerAddress::new(5.0, 20.0, Arc::new(Swap::new(proxies)));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!((0..30).filter(|_| rate.try_take(a)).count(), 20);
        // The same address as IPv4-mapped IPv6 is the same client; another is not.
        assert!(!rate.try_take("::ffff:192.0.2.1".parse().unwrap()));
        assert!(rate.try_take("192.0.2.2".parse().unwrap()));
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert!((0..100).all(|_| rate.try_take(proxy)));
    }

    #[test]
    fn the_addresses_remembered_are_bounded_and_idle_ones_forgotten() {
        let rate = PerAddress::new(1.0, 2.0, Arc::default());
        let ip = |i: u32| {
            IpAddr::from(std::net::Ipv6Addr::from(
                0x2001_0db8_u128 << 96 | u128::from(i),
            ))
        };
        for i in 0..MAX_REMEMBERED as u32 {
            assert!(rate.try_take(ip(i)));
        }
        // Each owes the rate an attempt: none is forgotten, a new one is refused.
        assert!(!rate.try_take(ip(u32::MAX)));
        assert_eq!(
            rate.remembered.lock().unwrap().buckets.len(),
            MAX_REMEMBERED
        );
        // Once idle (back to their burst, 2 s on) they are forgotten at the next sweep.
        let back = rate
            .epoch
            .checked_sub(std::time::Duration::from_secs(2))
            .unwrap();
        let rate = PerAddress {
            epoch: back,
            ..rate
        };
        assert!(rate.try_take(ip(u32::MAX)));
        let count = rate.remembered.lock().unwrap().buckets.len();
        assert!(count < 10, "{count}");
    }
}
