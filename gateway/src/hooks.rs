//! Event hooks, as SRS's `http_hooks`: `on_publish`, `on_unpublish`, `on_play`,
//! `on_stop` and `on_record_segment`, each a POST of JSON to the operator's URL. They
//! only tell, never decide (the authorisation webhook in `access::webhook` decides).
//!
//! Media never waits for a hook: an event goes into a bounded queue (dropped and
//! counted when it is full) that a task of its own drains, delivering a few at once,
//! each retried with backoff; a hook that stays down is logged and counted.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};

use crate::access::{Action, Attempt};
use crate::client::http::{self as http_client, HttpUrl};
use crate::clients::{Client, Clients, Link, Role};
use crate::hub::name;
use crate::shutdown::Shutdown;
use crate::swap::Swap;

/// Events queued before new ones are dropped.
pub const QUEUE: usize = 1024;
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 16;
/// Attempts per event: the first and two retries.
const ATTEMPTS: u32 = 3;
/// The wait before the first retry, doubled for the next.
const FIRST_RETRY: Duration = Duration::from_millis(500);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    OnPublish,
    OnUnpublish,
    OnPlay,
    OnStop,
    OnRecordSegment,
}

/// The URL of each event's hook; an event without one is not sent.
#[derive(Debug, Clone, Default)]
pub struct HookUrls {
    pub on_publish: Option<HttpUrl>,
    pub on_unpublish: Option<HttpUrl>,
    pub on_play: Option<HttpUrl>,
    pub on_stop: Option<HttpUrl>,
    pub on_record_segment: Option<HttpUrl>,
    /// Per attempt.
    pub timeout: Duration,
}

impl HookUrls {
    fn of(&self, event: Event) -> Option<&HttpUrl> {
        match event {
            Event::OnPublish => self.on_publish.as_ref(),
            Event::OnUnpublish => self.on_unpublish.as_ref(),
            Event::OnPlay => self.on_play.as_ref(),
            Event::OnStop => self.on_stop.as_ref(),
            Event::OnRecordSegment => self.on_record_segment.as_ref(),
        }
    }
}

/// The JSON body of a hook's POST, in SRS's field names where it has them.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub action: Event,
    /// Pairs a session's start and end (`on_play` with its `on_stop`).
    pub client_id: String,
    pub ip: Option<IpAddr>,
    pub app: String,
    pub stream: String,
    /// The channel's name: `stream`, or `app/stream` outside the default app.
    pub channel: String,
    /// `rtmp`, `http-flv`, `ws-flv` or `hls`.
    pub protocol: &'static str,
    /// Unix time, in seconds.
    pub time: u64,
    /// `on_record_segment`: the segment's file, relative to the recordings' directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `on_record_segment`: its duration, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
}

impl Notice {
    pub fn new(
        action: Event,
        channel: &str,
        ip: Option<IpAddr>,
        protocol: &'static str,
        client_id: u64,
    ) -> Notice {
        let (app, stream) = name::split(channel);
        Notice {
            action,
            client_id: client_id.to_string(),
            ip,
            app: app.to_owned(),
            stream: stream.to_owned(),
            channel: channel.to_owned(),
            protocol,
            time: unix_now(),
            file: None,
            duration: None,
        }
    }
}

/// For `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Delivered (a 2xx answer).
    pub sent: AtomicU64,
    /// Attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Given up after every attempt failed.
    pub failed: AtomicU64,
    /// Not queued: the queue was full.
    pub dropped: AtomicU64,
}

/// An event with the URLs of when it happened (a reload does not redirect it).
type Queued = (Arc<HookUrls>, Notice);

/// The hooks of one gateway; [`Hooks::set`] replaces the URLs (a reload), the queue and
/// counters stay.
pub struct Hooks {
    urls: Swap<HookUrls>,
    queue: mpsc::Sender<Queued>,
    /// Taken by [`Hooks::run`].
    receiver: Mutex<Option<mpsc::Receiver<Queued>>>,
    pub counters: Counters,
    next_client: AtomicU64,
    /// The clients of the sessions running now.
    pub clients: Clients,
}

impl Default for Hooks {
    fn default() -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        Hooks {
            urls: Swap::default(),
            queue,
            receiver: Mutex::new(Some(receiver)),
            counters: Counters::default(),
            next_client: AtomicU64::new(1),
            clients: Clients::default(),
        }
    }
}

impl Hooks {
    pub fn set(&self, urls: HookUrls) {
        self.urls.set(urls);
    }

    /// A new id for a publish or play session.
    pub fn client_id(&self) -> u64 {
        self.next_client.fetch_add(1, Relaxed)
    }

    /// Queues `notice` for its hook, if it has one; never waits.
    pub fn notify(&self, notice: Notice) {
        let urls = self.urls.get();
        if urls.of(notice.action).is_none() {
            return;
        }
        if self.queue.try_send((urls, notice)).is_err() {
            let dropped = self.counters.dropped.fetch_add(1, Relaxed) + 1;
            // Once per power of two: a hook that is down for long must not flood the log.
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "event hook queue full; events dropped");
            }
        }
    }

    /// Delivers queued events until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: Shutdown) {
        let Some(mut receiver) = self
            .receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
        loop {
            let (urls, notice) = tokio::select! {
                next = receiver.recv() => match next {
                    Some(next) => next,
                    None => return,
                },
                _ = shutdown.wait() => return,
            };
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            let hooks = self.clone();
            tokio::spawn(async move {
                hooks.deliver(&urls, &notice).await;
                drop(permit);
            });
        }
    }

    async fn deliver(&self, urls: &HookUrls, notice: &Notice) {
        let Some(url) = urls.of(notice.action) else {
            return;
        };
        let mut wait = FIRST_RETRY;
        for attempt in 1..=ATTEMPTS {
            match tokio::time::timeout(urls.timeout, post(url, notice, urls.timeout)).await {
                Ok(Ok(())) => {
                    self.counters.sent.fetch_add(1, Relaxed);
                    return;
                }
                Ok(Err(e)) if attempt == ATTEMPTS => {
                    return self.failed(url, notice, &format!("{e:#}"));
                }
                Err(_) if attempt == ATTEMPTS => {
                    return self.failed(
                        url,
                        notice,
                        &format!("no answer within {:?}", urls.timeout),
                    );
                }
                Ok(Err(_)) | Err(_) => {
                    self.counters.retried.fetch_add(1, Relaxed);
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }

    fn failed(&self, url: &HttpUrl, notice: &Notice, error: &str) {
        self.counters.failed.fetch_add(1, Relaxed);
        tracing::warn!(
            hook = %url.display(),
            event = ?notice.action,
            channel = notice.channel,
            "event hook failed after {ATTEMPTS} attempts: {error}"
        );
    }
}

/// One POST; a non-2xx answer is an error.
async fn post(url: &HttpUrl, notice: &Notice, limit: Duration) -> Result<()> {
    let (status, _) = http_client::post_json(url, serde_json::to_vec(notice)?, limit, 0).await?;
    if !status.is_success() {
        bail!("{}: HTTP status {status}", url.display());
    }
    Ok(())
}

/// A publish or play session: the start event when made, the end event when dropped
/// (`on_publish`/`on_unpublish`, `on_play`/`on_stop`), and its client listed in
/// between ([`Hooks::clients`]), through `link`.
pub struct Session {
    hooks: Arc<Hooks>,
    id: u64,
    end: Notice,
}

impl Session {
    /// `attempt`'s session, admitted: `on_publish` or `on_play` now, `on_unpublish` or
    /// `on_stop` when dropped; its client listed meanwhile, with what the authorisation
    /// webhook is asked again about it (`crate::recheck`).
    pub fn start(hooks: &Arc<Hooks>, attempt: &Attempt<'_>, link: Arc<Link>) -> Session {
        let (start, end, role) = match attempt.action {
            Action::Publish => (Event::OnPublish, Event::OnUnpublish, Role::Publisher),
            Action::Play => (Event::OnPlay, Event::OnStop, Role::Viewer),
        };
        let (channel, ip, protocol) = (attempt.channel, Some(attempt.client_ip), attempt.protocol);
        let id = hooks.client_id();
        let started = Notice::new(start, channel, ip, protocol, id);
        let client = Client {
            id,
            channel: channel.to_owned(),
            role,
            protocol,
            ip,
            since: started.time,
            bytes: 0,
        };
        hooks.clients.add(client, attempt.query, link);
        hooks.notify(started);
        Session {
            hooks: hooks.clone(),
            id,
            end: Notice::new(end, channel, ip, protocol, id),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.hooks.clients.remove(self.id);
        let mut end = self.end.clone();
        end.time = unix_now();
        self.hooks.notify(end);
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_past_a_full_queue_are_dropped_and_counted_and_unhooked_ones_not_queued() {
        let hooks = Hooks::default();
        let notice = |action| Notice::new(action, "other/cam", None, "rtmp", 1);
        // No URLs: nothing is queued, nothing dropped.
        for _ in 0..QUEUE + 5 {
            hooks.notify(notice(Event::OnPlay));
        }
        assert_eq!(hooks.counters.dropped.load(Relaxed), 0);
        hooks.set(HookUrls {
            on_play: HttpUrl::parse("http://127.0.0.1:9/hooks").ok(),
            ..HookUrls::default()
        });
        // Nobody drains the queue: it fills, then every next event is dropped at once.
        for _ in 0..QUEUE + 5 {
            hooks.notify(notice(Event::OnPlay));
        }
        hooks.notify(notice(Event::OnStop));
        assert_eq!(hooks.counters.dropped.load(Relaxed), 5);
    }

    #[test]
    fn a_notice_is_srs_shaped_json() {
        let n = Notice::new(
            Event::OnPublish,
            "cam",
            Some([10, 0, 0, 1].into()),
            "rtmp",
            7,
        );
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["action"], "on_publish");
        assert_eq!(v["app"], "live");
        assert_eq!(v["stream"], "cam");
        assert_eq!(v["client_id"], "7");
        assert_eq!(v["ip"], "10.0.0.1");
        assert!(v.get("file").is_none());
    }
}
