//! Channels: what a new viewer needs to start at once (metadata, sequence headers,
//! the GOP since the last keyframe), the live fan-out, and one timeline that keeps
//! going forward across upstream reconnects.
//!
//! A tag is encoded to FLV once, when it arrives; every viewer then shares those
//! bytes (`Arc<MediaTag>`), whatever its protocol.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use denials::Denials;

use bytes::{Bytes, BytesMut};
use flashless_core::flv::{self, Tag};
use flashless_core::rtmp::chunk::Chunked;
use flashless_core::rtmp::session::ServerSession;
use flashless_core::stream::{CacheLimits, LiveStream, Media, Role, SkipToKeyframe};
use tokio::sync::{Notify, broadcast, watch};

use crate::access::Auth;
use crate::hooks::Hooks;
use crate::shutdown::Shutdown;
use crate::swap::Swap;
use media_info::MediaInfo;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The cached GOP is dropped past this size: a source with rare keyframes must not grow memory.
    pub gop_bytes: usize,
    /// … or past this duration.
    pub gop_duration: Duration,
    /// Tags a viewer may fall behind by before it skips to the next keyframe.
    pub viewer_queue: usize,
    /// Channels at once; a publish that would create one more is refused.
    pub max_channels: usize,
    /// A published channel is removed this long after its publisher and its last viewer left.
    pub abandoned_after: Duration,
    /// Tags held back and handed to viewers together once they span this much media
    /// time (zero: each at once). Every viewer then wakes and writes once per group
    /// instead of once per frame, which saves the kernel's per-write work, at the cost
    /// of up to this much added latency. Headers and metadata go at once.
    pub coalesce: Duration,
}

impl Limits {
    fn cache(&self) -> CacheLimits {
        CacheLimits {
            bytes: self.gop_bytes,
            duration_ms: u32::try_from(self.gop_duration.as_millis()).unwrap_or(u32::MAX),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            gop_bytes: 8 << 20,
            gop_duration: Duration::from_secs(10),
            viewer_queue: 512,
            max_channels: 1_000,
            abandoned_after: Duration::from_secs(30),
            coalesce: Duration::ZERO,
        }
    }
}

/// The message stream id of shared RTMP chunks: the one a player's first
/// `createStream` gets (nginx-rtmp gives every player this one).
pub const SHARED_STREAM_ID: u32 = 1;

/// A tag as every viewer receives it.
#[derive(Debug)]
pub struct MediaTag {
    /// On the channel's timeline.
    pub tag: Tag,
    /// The same tag as FLV (header, body, PreviousTagSize), encoded once for all viewers.
    pub flv: Bytes,
    pub role: Role,
    /// The same tag as RTMP chunks, cut by the first RTMP player that needs them and
    /// shared by all the others (`None`: it cannot be chunked; each player encodes it).
    rtmp: OnceLock<Option<Chunked>>,
}

impl MediaTag {
    /// The tag chunked for RTMP players, made once for the channel, on message stream
    /// [`SHARED_STREAM_ID`]: a player playing on another takes its own encoding.
    pub fn rtmp_chunks(&self) -> Option<&Chunked> {
        self.rtmp
            .get_or_init(|| ServerSession::chunk_tag(&self.tag, SHARED_STREAM_ID).ok())
            .as_ref()
    }
}

impl Media for MediaTag {
    fn role(&self) -> Role {
        self.role
    }

    fn timestamp(&self) -> u32 {
        self.tag.timestamp
    }

    /// Its FLV bytes and what holding it costs beside them (the tag, the shared
    /// buffers' handles, the cache's place: about 200 bytes measured), so that a cache
    /// of millions of tiny tags at one timestamp is bounded too.
    fn size(&self) -> usize {
        self.flv.len() + MEDIA_TAG_OVERHEAD
    }
}

/// See [`MediaTag`]'s `size`.
const MEDIA_TAG_OVERHEAD: usize = 256;

#[derive(Debug, Clone)]
pub enum Feed {
    Tag(Arc<MediaTag>),
    /// The upstream or publisher left; viewers stay and wait for the next one.
    Unpublished,
    /// A new upstream session began: what follows is its own, headers first, and may
    /// have other tracks and codecs than the last (headers a subscriber got in its
    /// start between two sessions are the last session's).
    Published,
}

/// What the channel's broadcast carries: the feed, and its end. The end is the
/// feed's last item, so a viewer waits on one thing (no second future to poll and
/// register on every wake-up), and a lagging viewer still reaches it: nothing is
/// sent after it to push it out of the queue.
#[derive(Debug, Clone)]
enum Item {
    Feed(Feed),
    Closed,
}

/// Where a channel's media comes from, for `/api/channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Publish,
    Pull,
    File,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum UpstreamState {
    /// Waiting: for a publisher, or (on demand) for a first viewer.
    #[default]
    Idle,
    /// A publisher connected, or a pull connecting or connected, and no media yet.
    Connecting,
    Live,
    Retrying {
        attempt: u32,
        /// The whole error, for the log and tests: it may name the origin's URL and
        /// its stream key, so it never leaves the gateway.
        #[serde(skip)]
        error: String,
        /// What clients are told instead: "connection refused", "timed out"…
        #[serde(rename = "error")]
        class: &'static str,
    },
}

/// Why a publish could not have its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unclaimed {
    #[error("the channel already has a source")]
    Taken,
    #[error("the gateway has all the channels it takes")]
    Full,
}

/// Starts a channel nobody configured or publishes, when a viewer asks for it by name
/// (pattern pulls, edge mode): `plan` says whether it would, and how to feed it.
pub trait Summon: Send + Sync {
    /// `None` when no rule covers `name`; else what starts the channel's feed once the
    /// hub has created it.
    fn plan(&self, name: &str) -> Option<Box<dyn FnOnce(Arc<Channel>) + Send>>;
}

pub struct Hub {
    /// Replaced on reload: channels made after it get the new cache, queue and
    /// cadence; the channel cap and the abandoned timeout apply at once.
    pub limits: Swap<Limits>,
    channels: Mutex<BTreeMap<String, Arc<Channel>>>,
    summoner: RwLock<Option<Arc<dyn Summon>>>,
    /// Requests refused: a missing or bad token, a foreign origin, a limit reached.
    pub denied: Denials,
    /// The event hooks publishes and plays notify.
    pub hooks: Arc<Hooks>,
    /// Who may play and publish, from which pages; the admin token (`[auth]`).
    pub auth: Swap<Auth>,
}

impl Hub {
    pub fn new(limits: Limits) -> Self {
        Hub {
            limits: Swap::new(limits),
            channels: Mutex::new(BTreeMap::new()),
            summoner: RwLock::new(None),
            denied: Denials::default(),
            hooks: Arc::default(),
            auth: Swap::default(),
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Channel>> {
        lock(&self.channels).get(name).cloned()
    }

    /// The channel of that name, created with `source` if there is none yet: for
    /// configured channels, which are never removed and not held to the cap.
    pub fn get_or_create(&self, name: &str, source: Source) -> Arc<Channel> {
        lock(&self.channels)
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Channel::new(name, source, false, *self.limits.get())))
            .clone()
    }

    /// Who starts channels on demand; replaced on a configuration reload.
    pub fn set_summoner(&self, summoner: Option<Arc<dyn Summon>>) {
        *self.summoner.write().unwrap_or_else(|e| e.into_inner()) = summoner;
    }

    /// The channel `name`: an existing one, else one the summoner starts for it, created
    /// under the channel cap and removed like a published one once deserted.
    /// `Ok(None)` when there is no such channel and no rule makes one.
    pub fn find(&self, name: &str) -> Result<Option<Arc<Channel>>, Unclaimed> {
        if let Some(channel) = self.get(name) {
            return Ok(Some(channel));
        }
        let summoner = self
            .summoner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(start) = summoner.and_then(|s| s.plan(name)) else {
            return Ok(None);
        };
        let channel = {
            let mut channels = lock(&self.channels);
            if let Some(channel) = channels.get(name) {
                // Another viewer summoned it meanwhile: its feed is started already.
                return Ok(Some(channel.clone()));
            }
            if channels.len() >= self.limits.get().max_channels {
                return Err(Unclaimed::Full);
            }
            let channel = Arc::new(Channel::new(name, Source::Pull, true, *self.limits.get()));
            channels.insert(name.to_owned(), channel.clone());
            channel
        };
        tracing::info!(channel = name, "channel started on demand");
        start(channel.clone());
        Ok(Some(channel))
    }

    /// The published channel `name`, claimed for a publisher's session: created when
    /// there is none (under the channel cap), refused when it has a source already.
    /// One step under the hub's lock, so the sweep never removes a channel between
    /// its lookup and its claim.
    pub fn claim_published(&self, name: &str) -> Result<Arc<Channel>, Unclaimed> {
        let mut channels = lock(&self.channels);
        let channel = match channels.get(name) {
            Some(channel) => channel.clone(),
            None if channels.len() >= self.limits.get().max_channels => {
                return Err(Unclaimed::Full);
            }
            None => {
                let channel = Arc::new(Channel::new(
                    name,
                    Source::Publish,
                    true,
                    *self.limits.get(),
                ));
                channels.insert(name.to_owned(), channel.clone());
                channel
            }
        };
        if channel.source != Source::Publish || !channel.begin_session() {
            return Err(Unclaimed::Taken);
        }
        Ok(channel)
    }

    /// Removes published and summoned channels nobody feeds or watches, once they have
    /// been so for `abandoned_after`, until `shutdown`. Configured channels stay.
    pub async fn sweep(self: Arc<Self>, mut shutdown: Shutdown) {
        loop {
            let period = (self.limits.get().abandoned_after / 4)
                .clamp(Duration::from_millis(50), Duration::from_secs(1));
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.wait() => return,
            }
            self.remove_abandoned();
        }
    }

    /// One pass of [`Hub::sweep`].
    pub fn remove_abandoned(&self) {
        let after = self.limits.get().abandoned_after;
        lock(&self.channels).retain(|name, channel| {
            let keep = !channel.abandoned_for(after);
            if !keep {
                tracing::info!(
                    channel = name.as_str(),
                    "channel removed: no source and no viewers for {after:?}"
                );
                channel.close();
            }
            keep
        });
    }

    /// Removes the channel `name` (a reload dropped it): its feed and its viewers end.
    pub fn remove(&self, name: &str) {
        if let Some(channel) = lock(&self.channels).remove(name) {
            tracing::info!(channel = name, "channel removed");
            channel.close();
        }
    }

    pub fn list(&self) -> Vec<Arc<Channel>> {
        lock(&self.channels).values().cloned().collect()
    }

    /// Viewers of every channel, all protocols.
    pub fn viewers(&self) -> usize {
        lock(&self.channels)
            .values()
            .map(|c| c.viewer_count())
            .sum()
    }
}

pub struct Channel {
    name: String,
    source: Source,
    /// Made by a publish or a viewer's request (not configured): removed once deserted.
    transient: bool,
    /// True once the hub dropped the channel: its pull task ends.
    closed: watch::Sender<bool>,
    state: Mutex<State>,
    feed: broadcast::Sender<Item>,
    viewers: watch::Sender<usize>,
    created: Instant,
    /// [`Limits::coalesce`] in milliseconds of media time.
    coalesce_ms: u32,
    pub counters: Counters,
    /// Its forwards' publishes and its commands ([`jobs`]).
    jobs: Mutex<Vec<Arc<jobs::Job>>>,
    /// How many forwards its publisher's media came through (`crate::forward`).
    hops: AtomicU8,
}

/// Monotonic counters for `/metrics` and `/api/channels`.
#[derive(Default)]
pub struct Counters {
    pub tags_in: AtomicU64,
    pub bytes_in: AtomicU64,
    /// FLV bytes sent to HTTP-FLV and WS-FLV viewers.
    pub bytes_out: AtomicU64,
    /// Tag bodies sent to RTMP players (the chunk headers around them not counted).
    pub rtmp_bytes_out: AtomicU64,
    /// HLS init segments, segments and parts sent.
    pub hls_bytes_out: AtomicU64,
    /// Tags a lagging viewer skipped.
    pub dropped: AtomicU64,
    pub upstream_sessions: AtomicU64,
    /// Bytes written to recordings, and recording segments completed.
    pub recorded_bytes: AtomicU64,
    pub recorded_segments: AtomicU64,
    /// Tag bodies published to the channel's forward targets (`[[forward]]`).
    pub forwarded_bytes: AtomicU64,
    /// Milliseconds the publisher was held back (ahead of real time, over the bit-rate cap).
    pub publish_held_ms: AtomicU64,
}

struct State {
    upstream: UpstreamState,
    /// A publisher or pull session is feeding the channel.
    active: bool,
    /// Notified to end that session at an operator's request ([`Channel::drop_session`]).
    drop_switch: Option<Arc<Notify>>,
    /// The timeline, and what a new viewer gets first.
    stream: LiveStream<Arc<MediaTag>>,
    info: MediaInfo,
    /// Ever had media: distinguishes "not yet" from "down" for HTTP status codes.
    had_media: bool,
    live_since: Option<Instant>,
    /// When the channel last lost its session or its last viewer (or was created).
    deserted_since: Instant,
    /// Tags on the timeline (and in the GOP cache) not yet sent to viewers: a group
    /// being gathered ([`Limits::coalesce`]).
    held: Vec<Arc<MediaTag>>,
}

impl Channel {
    /// How many forwards the current publish came through: 0 unless a forward said so.
    pub fn hops(&self) -> u8 {
        self.hops.load(Relaxed)
    }

    /// Set as a publish starts, from what its `connect` said (`forward::hops_in`).
    pub fn set_hops(&self, hops: u8) {
        self.hops.store(hops, Relaxed);
    }

    fn new(name: &str, source: Source, transient: bool, limits: Limits) -> Self {
        Channel {
            name: name.to_owned(),
            source,
            transient,
            closed: watch::channel(false).0,
            state: Mutex::new(State {
                upstream: UpstreamState::default(),
                active: false,
                drop_switch: None,
                stream: LiveStream::new(limits.cache()),
                info: MediaInfo::default(),
                had_media: false,
                live_since: None,
                deserted_since: Instant::now(),
                held: Vec::new(),
            }),
            feed: broadcast::channel(limits.viewer_queue.max(16)).0,
            viewers: watch::channel(0).0,
            created: Instant::now(),
            coalesce_ms: u32::try_from(limits.coalesce.as_millis()).unwrap_or(u32::MAX),
            counters: Counters::default(),
            jobs: Mutex::new(Vec::new()),
            hops: AtomicU8::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn source(&self) -> Source {
        self.source
    }

    /// Made by a publish or a viewer's request, not configured: removed once deserted.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// A publisher or pull session feeds the channel now.
    pub fn is_active(&self) -> bool {
        lock(&self.state).active
    }

    /// Claims the channel for a new upstream session (publisher or pull). False when
    /// another session holds it. Cached headers stay until the new ones arrive, so a
    /// viewer joining mid-reconnect still starts decodable.
    pub fn begin_session(&self) -> bool {
        let mut s = lock(&self.state);
        if s.active {
            return false;
        }
        s.active = true;
        // Connected, no media yet: neither `idle` (a page would say the publisher is away)
        // nor `live` until its first coded frame.
        s.upstream = UpstreamState::Connecting;
        s.stream.begin_session();
        self.counters.upstream_sessions.fetch_add(1, Relaxed);
        let _ = self.feed.send(Item::Feed(Feed::Published));
        true
    }

    /// The session left. Its GOP goes with it; headers stay for viewers waiting
    /// through a reconnect.
    pub fn end_session(&self) {
        let mut s = lock(&self.state);
        s.active = false;
        s.drop_switch = None;
        s.live_since = None;
        s.deserted_since = Instant::now();
        s.stream.end_session();
        if matches!(s.upstream, UpstreamState::Live | UpstreamState::Connecting) {
            s.upstream = UpstreamState::Idle;
        }
        self.release(&mut s.held);
        let _ = self.feed.send(Item::Feed(Feed::Unpublished));
    }

    /// The session begun last ends when `switch` is notified: its publisher or pull
    /// hands it over once it claimed the channel.
    pub fn on_drop(&self, switch: Arc<Notify>) {
        let mut s = lock(&self.state);
        if s.active {
            s.drop_switch = Some(switch);
        }
    }

    /// Ends the current session at an operator's request (`POST /api/drop`): its
    /// publisher is disconnected, a pull connects again. Viewers stay, as through any
    /// publisher's leaving. False when no session is on.
    pub fn drop_session(&self) -> bool {
        match &lock(&self.state).drop_switch {
            Some(switch) => {
                switch.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn set_upstream(&self, state: UpstreamState) {
        lock(&self.state).upstream = state;
    }

    /// Takes a tag from the current session onto the channel's timeline and out to viewers.
    pub fn publish(&self, tag: Tag) {
        self.counters.tags_in.fetch_add(1, Relaxed);
        self.counters
            .bytes_in
            .fetch_add(tag.data.len() as u64, Relaxed);
        let mut guard = lock(&self.state);
        let s = &mut *guard;
        let media = s.stream.push(tag, |tag, role| {
            let mut flv = BytesMut::with_capacity(flv::tag_len(&tag));
            flv::write_tag(&tag, &mut flv);
            Arc::new(MediaTag {
                tag,
                flv: flv.freeze(),
                role,
                rtmp: OnceLock::new(),
            })
        });
        match media.role {
            Role::Metadata => s.info.metadata(&media.tag.data),
            Role::VideoHeader => s.info.video_header(&media.tag.data),
            Role::AudioHeader => s.info.audio_header(&media.tag.data),
            Role::Keyframe | Role::Frame => {}
        }
        if media.role.is_coded() {
            s.info.frame(&media.tag);
            if !s.had_media || s.upstream != UpstreamState::Live {
                s.had_media = true;
                s.upstream = UpstreamState::Live;
                s.live_since = Some(Instant::now());
            }
        }
        // Sent under the lock, so a subscriber sees each tag exactly once: in its start or live.
        if self.coalesce_ms == 0 {
            let _ = self.feed.send(Item::Feed(Feed::Tag(media)));
            return;
        }
        let coded = media.role.is_coded();
        let spans = |first: &Arc<MediaTag>| {
            media.tag.timestamp.saturating_sub(first.tag.timestamp) >= self.coalesce_ms
        };
        let full = !coded || s.held.first().is_some_and(spans);
        s.held.push(media);
        if full {
            self.release(&mut s.held);
        }
    }

    /// Sends the held group to viewers, in order.
    fn release(&self, held: &mut Vec<Arc<MediaTag>>) {
        for media in held.drain(..) {
            let _ = self.feed.send(Item::Feed(Feed::Tag(media)));
        }
    }

    /// A new viewer: what to send first (metadata, headers, the GOP) and the live feed after it.
    pub fn subscribe(self: &Arc<Self>) -> (Vec<Arc<MediaTag>>, Viewer) {
        self.subscribe_as(true)
    }

    /// The same feed for a subscriber that is no viewer itself: it is not in the viewer
    /// count (nor so in caps, `/api/channels` or `/metrics`), and it neither starts nor
    /// keeps an on-demand pull. A recorder; or the HLS producer, which counts its
    /// players instead ([`Channel::add_viewers`]).
    pub fn subscribe_uncounted(self: &Arc<Self>) -> (Vec<Arc<MediaTag>>, Viewer) {
        self.subscribe_as(false)
    }

    /// Viewers that hold no subscription of their own: HLS players, which come and go
    /// by request, counted by their channel's HLS producer.
    pub fn add_viewers(&self, n: usize) {
        if n > 0 {
            self.viewers.send_modify(|v| *v += n);
        }
    }

    /// Viewers counted by [`Channel::add_viewers`] that left.
    pub fn remove_viewers(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut s = lock(&self.state);
        self.viewers.send_modify(|v| *v = v.saturating_sub(n));
        if self.viewer_count() == 0 {
            s.deserted_since = Instant::now();
        }
    }

    fn subscribe_as(self: &Arc<Self>, counted: bool) -> (Vec<Arc<MediaTag>>, Viewer) {
        let mut s = lock(&self.state);
        // The held group is in the GOP, so in this viewer's start: sent to the others
        // now, before it subscribes, it does not reach it twice.
        self.release(&mut s.held);
        // With no GOP cached (none yet, or dropped for size), live media starts at the next keyframe.
        let start = s.stream.start();
        let rx = self.feed.subscribe();
        // Closing sends its end under this lock: a viewer that subscribes after it
        // would never receive it.
        let ended = *self.closed.borrow();
        drop(s);
        if counted {
            self.viewers.send_modify(|n| *n += 1);
        }
        (
            start.burst,
            Viewer {
                channel: self.clone(),
                rx,
                skip: SkipToKeyframe::new(start.skip_to_keyframe),
                ended,
                held: None,
                counted,
            },
        )
    }

    pub fn viewer_count(&self) -> usize {
        *self.viewers.borrow()
    }

    /// Marks the channel as dropped by the hub (or by a reload): its feed task and
    /// its viewers end.
    pub fn close(&self) {
        let _s = lock(&self.state);
        if !self.closed.send_replace(true) {
            let _ = self.feed.send(Item::Closed);
        }
    }

    /// Completes once the channel is closed.
    pub async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        // The sender lives as long as `self`: an error cannot happen while we borrow it.
        let _ = rx.wait_for(|&closed| closed).await;
    }

    /// A transient channel with no session and no viewers for at least `after`.
    fn abandoned_for(&self, after: Duration) -> bool {
        let s = lock(&self.state);
        self.transient
            && !s.active
            && self.viewer_count() == 0
            && s.deserted_since.elapsed() >= after
    }

    /// Watches the viewer count: pull-on-demand upstreams start and stop on it.
    pub fn watch_viewers(&self) -> watch::Receiver<usize> {
        self.viewers.subscribe()
    }

    pub fn snapshot(&self) -> Snapshot {
        let s = lock(&self.state);
        Snapshot {
            name: self.name.clone(),
            source: self.source,
            upstream: s.upstream.clone(),
            had_media: s.had_media,
            info: s.info.clone(),
            viewers: self.viewer_count(),
            uptime: s.live_since.map(|t| t.elapsed()),
            age: self.created.elapsed(),
        }
    }
}

/// A channel's state at one moment, for the API and metrics.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub name: String,
    pub source: Source,
    pub upstream: UpstreamState,
    pub had_media: bool,
    pub info: MediaInfo,
    pub viewers: usize,
    pub uptime: Option<Duration>,
    pub age: Duration,
}

/// One viewer's live feed. A viewer that lags past the queue skips to the next keyframe.
pub struct Viewer {
    channel: Arc<Channel>,
    rx: broadcast::Receiver<Item>,
    skip: SkipToKeyframe,
    /// The channel was dropped by the hub: the feed is over.
    ended: bool,
    /// Kept for the viewer's life (its event hooks' session, which says `on_stop` when dropped).
    held: Option<Box<dyn Send + Sync>>,
    /// In the viewer count (a recorder is not).
    counted: bool,
}

impl Viewer {
    /// The next item to send, or `None` when the channel is gone.
    pub async fn next(&mut self) -> Option<Feed> {
        loop {
            if self.ended {
                return None;
            }
            let received = match self.rx.recv().await {
                Ok(item) => Ok(item),
                Err(broadcast::error::RecvError::Lagged(n)) => Err(n),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            if let Some(item) = self.admit(received) {
                if self.channel.coalesce_ms > 0 {
                    // A group is sent under the channel's lock: once it is free, the whole
                    // group is queued, for the caller to take in one write (on another
                    // worker thread this viewer may wake while the group is still going out).
                    drop(lock(&self.channel.state));
                }
                return Some(item);
            }
        }
    }

    /// Takes whatever is already queued without waiting, up to `max` items: for batching writes.
    pub fn try_next(&mut self) -> Option<Feed> {
        loop {
            if self.ended {
                return None;
            }
            let received = match self.rx.try_recv() {
                Ok(item) => Ok(item),
                Err(broadcast::error::TryRecvError::Lagged(n)) => Err(n),
                Err(_) => return None,
            };
            if let Some(item) = self.admit(received) {
                return Some(item);
            }
        }
    }

    /// What a received item (or `Err`: that many skipped by lagging) gives the caller.
    fn admit(&mut self, received: Result<Item, u64>) -> Option<Feed> {
        match received {
            Ok(Item::Feed(item)) => {
                // A new session starts with its headers (a pull's start gated to be
                // decodable, a publisher's as encoders send it): a viewer still waiting
                // for a keyframe (it joined between sessions, when the last one's video
                // header was cached) takes it from there, whatever its tracks. One back
                // with sound only has no keyframe to wait for.
                if matches!(item, Feed::Published) {
                    self.skip = SkipToKeyframe::new(false);
                }
                // Headers and metadata still pass, so a skipping viewer keeps up with codec changes.
                if let Feed::Tag(t) = &item
                    && !self.skip.admit(t.role)
                {
                    self.channel.counters.dropped.fetch_add(1, Relaxed);
                    return None;
                }
                Some(item)
            }
            Ok(Item::Closed) => {
                self.ended = true;
                None
            }
            Err(n) => {
                tracing::debug!(
                    channel = self.channel.name,
                    skipped = n,
                    "viewer fell behind; skipping to the next keyframe"
                );
                self.channel.counters.dropped.fetch_add(n, Relaxed);
                self.skip.gap();
                None
            }
        }
    }

    pub fn channel(&self) -> &Arc<Channel> {
        &self.channel
    }

    /// Keeps `thing` until the viewer ends.
    pub fn hold(&mut self, thing: impl Send + Sync + 'static) {
        self.held = Some(Box::new(thing));
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        if self.counted {
            self.channel.remove_viewers(1);
        }
    }
}

/// A poisoned lock only means another task panicked mid-update; the state is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub mod denials;
pub mod jobs;
pub mod keeper;
pub mod media_info;
pub mod name;

#[cfg(test)]
mod tests;
