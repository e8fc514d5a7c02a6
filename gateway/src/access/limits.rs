//! Connection limits: one client cannot take every socket, and all clients together
//! cannot take more than the process can hold.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::TrustedProxies;
use crate::swap::Swap;

/// Counts connections per client address and in all; a connection holds a [`Slot`]
/// while open. Clones count together. The limits come with each connection (they are
/// reloaded): lowered, they refuse the next connections and close none.
#[derive(Debug, Clone, Default)]
pub struct PerIp {
    /// Load balancers and reverse proxies carry many clients on one address: only the
    /// total limits them. Replaced on reload.
    exempt: Arc<Swap<TrustedProxies>>,
    open: Arc<Mutex<Open>>,
}

/// How many connections [`PerIp`] lets in.
#[derive(Debug, Clone, Copy)]
pub struct Allowance {
    /// From one client address.
    pub per_ip: usize,
    /// Of all addresses together.
    pub total: usize,
}

/// Why a connection got no [`Slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    #[error("too many connections from this address")]
    Address,
    /// Many addresses (an IPv6 block) together hold the listener's whole allowance.
    #[error("too many connections in all")]
    Everyone,
}

#[derive(Debug, Default)]
struct Open {
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// Frees its address's place when dropped.
#[derive(Debug)]
pub struct Slot {
    /// `None` for a trusted proxy's connection, counted in the total only.
    ip: Option<IpAddr>,
    open: Arc<Mutex<Open>>,
}

impl PerIp {
    /// Not limiting the trusted proxies' addresses: every client behind a proxy shares it.
    pub fn exempting(mut self, proxies: Arc<Swap<TrustedProxies>>) -> PerIp {
        self.exempt = proxies;
        self
    }

    /// A place for one more connection from `ip`, unless it holds its allowance's
    /// `per_ip` already or all addresses together hold its `total`.
    pub fn acquire(&self, ip: IpAddr, allowance: Allowance) -> Result<Slot, Full> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= allowance.total {
            return Err(Full::Everyone);
        }
        let counted = !self.exempt.get().contains(ip);
        if counted {
            let count = open.per_ip.entry(ip).or_insert(0);
            if *count >= allowance.per_ip {
                return Err(Full::Address);
            }
            *count += 1;
        }
        open.total += 1;
        Ok(Slot {
            ip: counted.then_some(ip),
            open: self.open.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(count) = open.per_ip.get_mut(&ip)
        {
            *count -= 1;
            if *count == 0 {
                open.per_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowance(per_ip: usize, total: usize) -> Allowance {
        Allowance { per_ip, total }
    }

    #[test]
    fn an_address_gets_max_slots_and_more_after_one_closes() {
        let (limit, max) = (PerIp::default(), allowance(2, 100));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = limit.acquire(ip, max).unwrap();
        let _b = limit.acquire(ip, max).unwrap();
        assert_eq!(limit.acquire(ip, max).err(), Some(Full::Address));
        assert!(
            limit.acquire("192.0.2.2".parse().unwrap(), max).is_ok(),
            "other addresses are not affected"
        );
        drop(a);
        assert!(limit.acquire(ip, max).is_ok());
        // Lowered (a reload): the open ones stay, the next is refused; raised: let in.
        assert_eq!(
            limit.acquire(ip, allowance(1, 100)).err(),
            Some(Full::Address)
        );
        assert!(limit.acquire(ip, allowance(3, 100)).is_ok());
    }

    #[test]
    fn mapped_ipv4_counts_as_the_same_address() {
        let (limit, max) = (PerIp::default(), allowance(1, 100));
        let _a = limit.acquire("192.0.2.1".parse().unwrap(), max).unwrap();
        assert!(
            limit
                .acquire("::ffff:192.0.2.1".parse().unwrap(), max)
                .is_err()
        );
    }

    #[test]
    fn many_addresses_together_are_limited_too() {
        let (limit, max) = (PerIp::default(), allowance(1, 3));
        let slots: Vec<_> = (1..=3)
            .map(|i| {
                limit
                    .acquire(format!("2001:db8::{i}").parse().unwrap(), max)
                    .unwrap()
            })
            .collect();
        let next: IpAddr = "2001:db8::4".parse().unwrap();
        assert_eq!(limit.acquire(next, max).err(), Some(Full::Everyone));
        drop(slots);
        assert!(limit.acquire(next, max).is_ok());
    }
}
