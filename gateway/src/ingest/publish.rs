//! Publishing: an RTMP client (OBS, ffmpeg) feeding a channel through the RTMP
//! listener, once the access rules allowed it. A published channel has one source:
//! a second publisher, or a publish to a pulled channel, is refused.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use flashless_core::flv::Tag;
use flashless_core::rtmp::session::ServerSession;
use flashless_core::stream::{Bucket, Pace, Role};
use tracing::{info, warn};

use crate::hooks::{Event, Session};
use crate::hub::denials::Reason;
use crate::hub::{Channel, Hub, Unclaimed};

/// How far ahead of real time a publisher may send before it is read at real time: a
/// reconnect's backlog, or a relay's first GOP from a server that caches one, passes
/// at once; a publisher that goes on sending faster (ffmpeg without `-re`) waits.
const PUBLISH_BURST_MS: u32 = 10_000;

/// Seconds of a publisher's bit-rate cap it may send at once (a reconnect's backlog, a
/// keyframe far above the average): past that, it is read at the cap.
const PUBLISH_BITRATE_BURST_S: u64 = 2;

/// The publishing connections of one RTMP listener, held under its cap.
pub struct Publishers {
    count: AtomicUsize,
    max: usize,
    /// Bits a second each is read at most, if capped.
    max_bitrate: Option<u64>,
}

/// A channel a connection publishes to, on one of its stream ids. Dropping it ends the
/// channel's session and frees the publisher's place.
pub struct Publishing {
    pub stream_id: u32,
    channel: Arc<Channel>,
    publishers: Arc<Publishers>,
    /// Says `on_unpublish` when dropped, after the channel's session ended.
    _hooks: Session,
    pace: Pace,
    /// The publisher's bytes, against the listener's bit-rate cap: timestamps alone
    /// can be frozen or sawtoothed to pass `pace`, and honest ones can carry any bytes.
    bytes: Option<Bucket>,
    started: Instant,
    /// When (ms from `started`) the media read so far is due by `pace`: reading waits
    /// until then, once, not again at every read of a frame that spans many.
    due_ms: u64,
    /// Said once a session each: the publisher was found sending faster than real time,
    /// over the bit-rate cap.
    paced: bool,
    capped: bool,
}

impl Publishers {
    pub fn new(max: usize, max_bitrate: Option<u64>) -> Arc<Publishers> {
        Arc::new(Publishers {
            count: AtomicUsize::new(0),
            max,
            max_bitrate,
        })
    }

    /// Starts a publish of `channel_name` on `stream_id`, into `publishing`. At the cap
    /// it is refused as a denial and the error ends the connection; a channel with a
    /// source already, a connection that publishes already, or a new channel past the
    /// hub's channel cap gets `NetStream.Publish.BadName` and the connection goes on.
    pub fn start(
        self: &Arc<Self>,
        session: &mut ServerSession,
        hub: &Hub,
        publishing: &mut Option<Publishing>,
        stream_id: u32,
        channel_name: &str,
        client: IpAddr,
    ) -> Result<()> {
        if self.count.load(Relaxed) >= self.max {
            hub.denied.count(Reason::Limit);
            session.reject(
                stream_id,
                "NetStream.Publish.Rejected",
                &format!("{channel_name}: too many publishers"),
            );
            bail!("publish to {channel_name} refused: too many publishers");
        }
        let claimed = match publishing {
            Some(_) => Err(Unclaimed::Taken),
            None => hub.claim_published(channel_name),
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
        info!(channel = channel_name, "publishing");
        self.count.fetch_add(1, Relaxed);
        session.accept_publish(stream_id);
        *publishing = Some(Publishing {
            stream_id,
            channel,
            publishers: self.clone(),
            _hooks: Session::start(
                &hub.hooks,
                Event::OnPublish,
                Event::OnUnpublish,
                channel_name,
                Some(client),
                "rtmp",
            ),
            pace: Pace::new(PUBLISH_BURST_MS),
            bytes: self.max_bitrate.map(|bits| {
                let per_s = bits / 8;
                Bucket::new(per_s, per_s.saturating_mul(PUBLISH_BITRATE_BURST_S))
            }),
            started: Instant::now(),
            due_ms: 0,
            paced: false,
            capped: false,
        });
        Ok(())
    }
}

impl Publishing {
    pub fn publish(&mut self, tag: Tag) {
        if Role::of(&tag).is_coded() {
            let now = self.now_ms();
            let wait = self.pace.frame(tag.timestamp, now);
            self.due_ms = now.saturating_add(wait);
            if wait > 0 && !self.paced {
                self.paced = true;
                warn!(
                    channel = self.channel.name(),
                    "the publisher sends faster than real time: read at real time from now on"
                );
            }
        }
        self.channel.publish(tag);
    }

    /// `n` bytes of the publisher's connection were read (media, commands, chunk headers).
    pub fn read(&mut self, n: usize) {
        let now = self.now_ms();
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

    /// How long to wait before reading more of the publisher, which the caller then
    /// does: a publisher ahead of real time or over the bit-rate cap (past its burst) is
    /// held back by not reading, so TCP slows it down. Counted per channel
    /// (`flashless_publish_held_seconds_total`).
    pub fn hold(&self) -> Duration {
        let media = self.due_ms.saturating_sub(self.now_ms());
        let bytes = self.bytes.as_ref().map_or(0, Bucket::wait_ms);
        let ms = media.max(bytes);
        self.channel.counters.publish_held_ms.fetch_add(ms, Relaxed);
        Duration::from_millis(ms)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl Drop for Publishing {
    fn drop(&mut self) {
        self.channel.end_session();
        self.publishers.count.fetch_sub(1, Relaxed);
    }
}
