//! Publishing: an RTMP client (OBS, ffmpeg) feeding a channel through the RTMP
//! listener, once the access rules allowed it. A published channel has one source:
//! a second publisher, or a publish to a pulled channel, is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{Result, bail};
use flashless_core::flv::Tag;
use flashless_core::rtmp::session::ServerSession;
use flashless_core::stream::Bucket;
use tokio::sync::Notify;
use tracing::{info, warn};

use super::intake::{Intake, MESSAGES_PER_S};

use crate::access::rate::PerAddress;
use crate::access::{Attempt, TrustedProxies};
use crate::clients::Link;
use crate::hooks::Session;
use crate::hub::denials::Reason;
use crate::hub::{Channel, Hub};
use crate::swap::Swap;

/// Seconds of a publisher's bit-rate cap it may send at once (a reconnect's backlog, a
/// keyframe far above the average): past that, it is read at the cap.
const PUBLISH_BITRATE_BURST_S: u64 = 2;

/// The longest a publisher is held back at once: further ahead than this of what it may
/// send (real time, the bit rate, the message rate) is not an encoder's catching up but a
/// stream made to hold its connection (timestamps stepping 0.5 s a tiny frame), and the
/// connection is closed instead.
const MAX_HOLD: Duration = Duration::from_secs(30);

/// Publishes one address may start a second, past as many at once as the listener has
/// publishers (an encoder farm behind one address restarting together), and at least
/// [`MIN_PUBLISH_STARTS_AT_ONCE`] (a publisher's quick reconnects). Each start is
/// a session of its own (hooks, a recording file, a new init for every viewer): a
/// client that publishes and unpublishes in a loop, thousands of times a second, is
/// refused past this.
const PUBLISH_STARTS_PER_S: f64 = 1.0;
const MIN_PUBLISH_STARTS_AT_ONCE: f64 = 10.0;

/// A publisher's messages begun and not yet whole (a keyframe on its way) are its own
/// up to this; past it they take from what the listener's publishers may hold so
/// together: [`MIN_UNFINISHED_SHARED`], or four of the largest message if more. Each
/// publisher may buffer twice `max_message_bytes` (32 MiB by default), so without the
/// shared bound 100 publishers from one address could hold 3.2 GB.
const UNFINISHED_OWN: usize = 1 << 20;
const MIN_UNFINISHED_SHARED: usize = 256 << 20;

/// Who asks to publish: its attempt, as authorised (the client's address its own or
/// the one a trusted proxy names), and the limits its connection came with.
#[derive(Debug)]
pub struct Publisher<'a> {
    pub attempt: Attempt<'a>,
    pub limits: PublishLimits,
    /// What closes its connection when the operator kicks it (`crate::clients`).
    pub kick: Arc<Notify>,
}

/// What a publish is held to, from the limits its connection came with.
#[derive(Debug, Clone, Copy)]
pub struct PublishLimits {
    /// Publishers of the listener at once.
    pub max_publishers: usize,
    /// Bits a second each is read at most, if capped.
    pub max_bitrate: Option<u64>,
    /// The largest message, which sets what the publishers' unfinished ones may hold.
    pub max_message: u32,
}

/// The publishing connections of one RTMP listener, held under its cap.
pub struct Publishers {
    count: AtomicUsize,
    /// Unfinished message bytes past [`UNFINISHED_OWN`], of all publishers (their bound
    /// is each publisher's [`Publishing`]'s, from the limits it came with).
    unfinished: AtomicUsize,
    /// Publish starts per client address, but for the trusted proxies', which many
    /// clients share.
    starts: PerAddress,
}

/// A channel a connection publishes to, on one of its stream ids. Dropping it ends the
/// channel's session and frees the publisher's place.
pub struct Publishing {
    pub stream_id: u32,
    channel: Arc<Channel>,
    publishers: Arc<Publishers>,
    /// What this publisher takes of `publishers.unfinished`.
    unfinished: usize,
    /// What `publishers.unfinished` may reach when this one adds to it.
    max_unfinished: usize,
    /// Its entry in the clients' list: its media counts there.
    link: Arc<Link>,
    /// Says `on_unpublish` when dropped, after the channel's session ended.
    _hooks: Session,
    /// Its media against real time, its messages against their rate.
    intake: Intake,
    /// The publisher's bytes, against the listener's bit-rate cap: timestamps alone
    /// can be frozen or sawtoothed to pass the pace, and honest ones can carry any bytes.
    bytes: Option<Bucket>,
    /// Said once a session: the publisher was found over the bit-rate cap.
    capped: bool,
}

impl Publishers {
    /// The publishers of a listener of `max` publishers (at its start: the burst of
    /// publish starts an address may make), the trusted proxies `exempt` from it.
    pub fn new(max: usize, exempt: Arc<Swap<TrustedProxies>>) -> Arc<Publishers> {
        Arc::new(Publishers {
            count: AtomicUsize::new(0),
            unfinished: AtomicUsize::new(0),
            starts: PerAddress::new(
                PUBLISH_STARTS_PER_S,
                (max as f64).max(MIN_PUBLISH_STARTS_AT_ONCE),
                exempt,
            ),
        })
    }

    /// Starts `publisher`'s publish on `stream_id`, into `publishing`.
    /// At the cap,
    /// or past the client's rate of publish starts, it is refused as a denial and the
    /// error ends the connection; a channel with a source already, a connection that
    /// publishes already, or a new channel past the hub's channel cap gets
    /// `NetStream.Publish.BadName` and the connection goes on.
    pub fn start(
        self: &Arc<Self>,
        session: &mut ServerSession,
        hub: &Hub,
        publishing: &mut Option<Publishing>,
        stream_id: u32,
        publisher: Publisher<'_>,
    ) -> Result<()> {
        let Publisher {
            attempt,
            limits,
            kick,
        } = publisher;
        let (channel_name, client) = (attempt.channel, attempt.client_ip);
        let link = Link::new(kick);
        let refuse = |session: &mut ServerSession, why: &str| {
            hub.denied.count(Reason::Limit);
            session.reject(
                stream_id,
                "NetStream.Publish.Rejected",
                &format!("{channel_name}: {why}"),
            );
            anyhow::anyhow!("publish to {channel_name} refused: {why}")
        };
        if self.count.load(Relaxed) >= limits.max_publishers {
            return Err(refuse(session, "too many publishers"));
        }
        let claimed = match publishing {
            Some(current) => Err(format!(
                "this connection publishes {} already",
                current.channel.name()
            )),
            None => hub
                .claim_published(channel_name)
                .map_err(|why| why.to_string()),
        };
        let channel = match claimed {
            Ok(channel) => channel,
            Err(why) => {
                warn!(channel = channel_name, "publish refused: {why}");
                session.reject(
                    stream_id,
                    "NetStream.Publish.BadName",
                    &format!("{channel_name}: {why}"),
                );
                return Ok(());
            }
        };
        // Only a publish that would start counts against the address's rate.
        if !self.starts.try_take(client) {
            channel.end_session();
            return Err(refuse(session, "too many publishes from this address"));
        }
        if !session.accept_publish(stream_id) {
            // The client closed the stream meanwhile (`FCUnpublish` right behind `publish`).
            channel.end_session();
            return Ok(());
        }
        info!(channel = channel_name, "publishing");
        self.count.fetch_add(1, Relaxed);
        *publishing = Some(Publishing {
            stream_id,
            channel,
            publishers: self.clone(),
            unfinished: 0,
            max_unfinished: MIN_UNFINISHED_SHARED
                .max((limits.max_message as usize).saturating_mul(4)),
            _hooks: Session::start(&hub.hooks, &attempt, link.clone()),
            link,
            intake: Intake::default(),
            bytes: limits.max_bitrate.map(|bits| {
                let per_s = bits / 8;
                Bucket::new(per_s, per_s.saturating_mul(PUBLISH_BITRATE_BURST_S))
            }),
            capped: false,
        });
        Ok(())
    }
}

impl Publishing {
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    pub fn publish(&mut self, tag: Tag) {
        if let Some(limit) = self.intake.tag(&tag) {
            warn!(
                channel = self.channel.name(),
                "the publisher sends {limit}: read at that pace from now on"
            );
        }
        self.link.moved(tag.data.len());
        self.channel.publish(tag);
    }

    /// `n` bytes of the publisher's connection were read (media, commands, chunk headers).
    pub fn read(&mut self, n: usize) {
        let now = self.intake.now_ms();
        let Some(bytes) = &mut self.bytes else { return };
        bytes.fill(now);
        bytes.take(n as u64);
        if bytes.wait_ms() > 0 && !self.capped {
            self.capped = true;
            warn!(
                channel = self.channel.name(),
                "the publisher sends over max_publish_bitrate: read at that rate from now on"
            );
        }
    }

    /// The publisher's messages begun and not yet whole hold `bytes` now. Past
    /// [`UNFINISHED_OWN`] they count against what all publishers may hold together; one
    /// that would take that past its bound is refused, and the connection ends.
    pub fn unfinished(&mut self, bytes: usize) -> Result<()> {
        let own = bytes.saturating_sub(UNFINISHED_OWN);
        if own == self.unfinished {
            // Every read of every publisher comes here: most hold under `UNFINISHED_OWN`.
            return Ok(());
        }
        let shared = &self.publishers.unfinished;
        if own < self.unfinished {
            shared.fetch_sub(self.unfinished - own, Relaxed);
            self.unfinished = own;
            return Ok(());
        }
        let more = own - self.unfinished;
        let max = self.max_unfinished;
        // Taken only if it fits, so that no other publisher sees a share that does not.
        let taken = shared.fetch_update(Relaxed, Relaxed, |total| {
            total.checked_add(more).filter(|&t| t <= max)
        });
        if let Err(total) = taken {
            // The connection ends: its share goes back now, not when it is dropped.
            shared.fetch_sub(self.unfinished, Relaxed);
            self.unfinished = 0;
            bail!(
                "{}: the publishers' unfinished messages would hold {} MiB, over the {} MiB they may together (this one's {} MiB)",
                self.channel.name(),
                total.saturating_add(more) >> 20,
                max >> 20,
                bytes >> 20
            );
        }
        self.unfinished = own;
        Ok(())
    }

    /// How long to wait before reading more of the publisher, which the caller then
    /// does: a publisher ahead of real time, over the bit-rate cap or over the message
    /// rate (past their bursts) is held back by not reading, so TCP slows it down.
    /// Counted per channel (`flashless_publish_held_seconds_total`).
    /// Past [`MAX_HOLD`] the publisher is refused instead, and the connection ends.
    pub fn hold(&self) -> Result<Duration> {
        let bytes = self.bytes.as_ref().map_or(0, Bucket::wait_ms);
        let wait = Duration::from_millis(self.intake.wait_ms().max(bytes));
        if wait > MAX_HOLD {
            bail!(
                "the publisher is {:.0} s ahead of what it may send (real time, max_publish_bitrate, {MESSAGES_PER_S} messages a second)",
                wait.as_secs_f64()
            );
        }
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.channel.counters.publish_held_ms.fetch_add(ms, Relaxed);
        Ok(wait)
    }
}

impl Drop for Publishing {
    fn drop(&mut self) {
        self.channel.end_session();
        self.publishers.count.fetch_sub(1, Relaxed);
        self.publishers
            .unfinished
            .fetch_sub(self.unfinished, Relaxed);
    }
}
