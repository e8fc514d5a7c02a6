//! An HTTP webhook that authorises each publish and play, like SRS's `on_publish` and
//! `on_play`: the gateway POSTs what is asked as JSON and lets it happen on a 2xx answer.
//! No answer within the timeout is a refusal too: a gate that fails open is no gate.
//!
//! Each attempt is one request to the operator's service, so a client that connects in a
//! loop would make the gateway flood it (SRS asks at whatever rate clients come). A client
//! address gets [`ASKS_BURST`] asks at once, then [`ASKS_PER_SECOND`]; and at most
//! [`MAX_IN_FLIGHT`] are awaited at once from all addresses. Past either, the attempt is
//! refused without asking ([`Verdict::Busy`]: HTTP 429), and the client tries again later.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout};

use super::attempt::Attempt;
use crate::client::http::{self as http_client, HttpUrl};

/// The most characters of a refusal's body kept for the log and the client's error.
const REASON_CHARS: usize = 200;
/// Bodies larger than this are not read at all.
const MAX_BODY_BYTES: usize = 64 * 1024;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks a client address may make at once (a page of viewers behind one NAT), and then
/// each second.
pub const ASKS_BURST: f64 = 20.0;
pub const ASKS_PER_SECOND: f64 = 5.0;
/// Asks awaited at once, from all addresses.
pub const MAX_IN_FLIGHT: usize = 128;
/// Addresses whose asks are counted; past it, the idle ones are forgotten (and, under
/// a flood from that many addresses, new ones are refused until some are).
const MAX_ADDRESSES: usize = 16_384;

#[derive(Debug, Clone)]
pub struct Webhook {
    url: HttpUrl,
    timeout: Duration,
    /// Asks left per address, and when they were counted.
    asks: Arc<Mutex<HashMap<IpAddr, (f64, Instant)>>>,
    in_flight: Arc<Semaphore>,
}

/// Why the webhook did not allow an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It answered with a status other than 2xx: the status and the start of its body.
    Refused(String),
    /// It could not be asked, or did not answer in time.
    Unavailable(String),
    /// Not asked: too many asks from the address (or from all at once), named.
    Busy(&'static str),
}

impl Webhook {
    pub fn new(url: &str, timeout: Duration) -> Result<Webhook> {
        let url = HttpUrl::parse(url).context("the authorisation webhook")?;
        Ok(Webhook {
            url,
            timeout,
            asks: Arc::default(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    pub fn display(&self) -> String {
        self.url.display()
    }

    /// Asks the webhook; `Ok` when it answered 2xx within the timeout.
    pub async fn ask(&self, attempt: &Attempt<'_>) -> Result<(), Verdict> {
        self.take_ask(attempt.client_ip)?;
        let Ok(_asking) = self.in_flight.try_acquire() else {
            return Err(Verdict::Busy("at once"));
        };
        match timeout(self.timeout, self.post(attempt)).await {
            Ok(Ok(None)) => Ok(()),
            Ok(Ok(Some(refusal))) => Err(Verdict::Refused(refusal)),
            Ok(Err(e)) => Err(Verdict::Unavailable(format!("{e:#}"))),
            Err(_) => Err(Verdict::Unavailable(format!(
                "{}: no answer within {:?}",
                self.url.display(),
                self.timeout
            ))),
        }
    }

    /// One of the address's asks, refilled at [`ASKS_PER_SECOND`] up to [`ASKS_BURST`].
    fn take_ask(&self, ip: IpAddr) -> Result<(), Verdict> {
        let ip = ip.to_canonical();
        let now = Instant::now();
        let refilled = |(left, at): (f64, Instant)| {
            let since = now.saturating_duration_since(at).as_secs_f64();
            (left + since * ASKS_PER_SECOND).min(ASKS_BURST)
        };
        let mut asks = self.asks.lock().unwrap_or_else(|e| e.into_inner());
        if !asks.contains_key(&ip) && asks.len() >= MAX_ADDRESSES {
            asks.retain(|_, &mut entry| refilled(entry) < ASKS_BURST);
            if asks.len() >= MAX_ADDRESSES {
                return Err(Verdict::Busy("from this many addresses"));
            }
        }
        let left = asks.get(&ip).map_or(ASKS_BURST, |&entry| refilled(entry));
        if left < 1.0 {
            return Err(Verdict::Busy("from this address"));
        }
        asks.insert(ip, (left - 1.0, now));
        Ok(())
    }

    /// `None` for a 2xx answer, else the status and the start of the body.
    async fn post(&self, attempt: &Attempt<'_>) -> Result<Option<String>> {
        let body = serde_json::to_vec(attempt)?;
        let (status, body) =
            http_client::post_json(&self.url, body, self.timeout, MAX_BODY_BYTES).await?;
        if status.is_success() {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&body);
        let text: String = text.trim().chars().take(REASON_CHARS).collect();
        Ok(Some(if text.is_empty() {
            status.to_string()
        } else {
            format!("{status}: {text}")
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_has_a_burst_then_a_rate_and_the_addresses_counted_are_bounded() {
        let hook = Webhook::new("http://127.0.0.1:9/authorise", DEFAULT_TIMEOUT).unwrap();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..ASKS_BURST as usize {
            assert_eq!(hook.take_ask(a), Ok(()));
        }
        assert_eq!(hook.take_ask(a), Err(Verdict::Busy("from this address")));
        // The same address as IPv4-mapped IPv6 is the same client.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(
            hook.take_ask(mapped),
            Err(Verdict::Busy("from this address"))
        );
        // Addresses that each asked once and are not idle yet fill the count.
        for i in 1..MAX_ADDRESSES as u32 {
            let ip = IpAddr::from(std::net::Ipv6Addr::from(
                0x2001_0db8_u128 << 96 | u128::from(i),
            ));
            assert_eq!(hook.take_ask(ip), Ok(()));
        }
        let one_more: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            hook.take_ask(one_more),
            Err(Verdict::Busy("from this many addresses"))
        );
        // Once they are idle (their asks back to the burst) they are forgotten.
        for (_, at) in hook.asks.lock().unwrap().values_mut() {
            *at -= Duration::from_secs(1);
        }
        assert_eq!(hook.take_ask(one_more), Ok(()));
        assert!(hook.asks.lock().unwrap().len() < 10);
    }
}
