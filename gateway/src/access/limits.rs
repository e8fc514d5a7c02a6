//! Per-address connection limits: one client cannot take every socket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::TrustedProxies;

/// Counts connections per client address; a connection holds a [`Slot`] while open.
/// Clones count together.
#[derive(Debug, Clone)]
pub struct PerIp {
    max: usize,
    /// Load balancers and reverse proxies carry many clients on one address.
    exempt: TrustedProxies,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Frees its address's place when dropped.
#[derive(Debug)]
pub struct Slot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerIp {
    pub fn new(max: usize) -> PerIp {
        PerIp {
            max,
            exempt: TrustedProxies::default(),
            open: Arc::default(),
        }
    }

    /// Not limiting the trusted proxies' addresses: every client behind a proxy shares it.
    pub fn exempting(mut self, proxies: TrustedProxies) -> PerIp {
        self.exempt = proxies;
        self
    }

    /// A place for one more connection from `ip`, or `None` when it holds `max` already.
    pub fn acquire(&self, ip: IpAddr) -> Option<Slot> {
        let ip = ip.to_canonical();
        if self.exempt.contains(ip) {
            return Some(Slot {
                ip,
                open: Arc::default(),
            });
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_max_slots_and_more_after_one_closes() {
        let limit = PerIp::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = limit.acquire(ip).unwrap();
        let _b = limit.acquire(ip).unwrap();
        assert!(limit.acquire(ip).is_none());
        assert!(
            limit.acquire("192.0.2.2".parse().unwrap()).is_some(),
            "other addresses are not affected"
        );
        drop(a);
        assert!(limit.acquire(ip).is_some());
    }

    #[test]
    fn mapped_ipv4_counts_as_the_same_address() {
        let limit = PerIp::new(1);
        let _a = limit.acquire("192.0.2.1".parse().unwrap()).unwrap();
        assert!(limit.acquire("::ffff:192.0.2.1".parse().unwrap()).is_none());
    }
}
