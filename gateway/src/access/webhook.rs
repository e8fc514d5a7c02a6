//! An HTTP webhook that authorises each publish and play, like SRS's `on_publish` and
//! `on_play`: the gateway POSTs what is asked as JSON and lets it happen on a 2xx answer.
//! No answer within the timeout is a refusal too: a gate that fails open is no gate.
//!
//! Each attempt is one request to the operator's service, so a client that connects in a
//! loop would make the gateway flood it (SRS asks at whatever rate clients come). A client
//! address gets [`ASKS_BURST`] asks at once, then [`ASKS_PER_SECOND`]; and at most
//! [`MAX_IN_FLIGHT`] are awaited at once from all addresses. Past either, the attempt is
//! refused without asking ([`Verdict::Busy`]: HTTP 429), and the client tries again later.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use super::attempt::Attempt;
use super::rate::PerAddress;
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

#[derive(Debug, Clone)]
pub struct Webhook {
    url: HttpUrl,
    timeout: Duration,
    /// How often each client on a connection is asked again (`crate::recheck`).
    recheck: Option<Duration>,
    asks: Arc<PerAddress>,
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
            recheck: None,
            // The address asked for is the client's own, a proxy's forwarding resolved.
            asks: Arc::new(PerAddress::new(ASKS_PER_SECOND, ASKS_BURST, Arc::default())),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    pub fn display(&self) -> String {
        self.url.display()
    }

    /// Asks again about each client on a connection every `every` (none: never).
    pub fn with_recheck(mut self, every: Option<Duration>) -> Webhook {
        self.recheck = every;
        self
    }

    pub fn recheck(&self) -> Option<Duration> {
        self.recheck
    }

    /// Asks the webhook; `Ok` when it answered 2xx within the timeout.
    pub async fn ask(&self, attempt: &Attempt<'_>) -> Result<(), Verdict> {
        if !self.asks.try_take(attempt.client_ip) {
            return Err(Verdict::Busy("from this address"));
        }
        self.ask_again(attempt).await
    }

    /// Asks about a client admitted before, at the gateway's own pace: not held to its
    /// address's rate of asks (a page of viewers behind one NAT is asked about at once),
    /// only to the asks in flight.
    pub async fn ask_again(&self, attempt: &Attempt<'_>) -> Result<(), Verdict> {
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
