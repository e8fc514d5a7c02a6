//! HLS and Low-Latency HLS: one producer per watched channel, subscribed to the hub
//! like a viewer, cutting its tags into CMAF segments and parts (core's `segment`) and
//! keeping the live window (core's `hls`). Requests (`crate::http::hls`) read the
//! window, waiting on it for what is not out yet (blocking reloads, preload hints).
//!
//! Produced only while someone watches: the first request starts a channel's
//! producer, and it stops once no request came for [`IDLE_TARGETS`] target durations
//! (a request still waiting, as a first playlist waits out a long GOP, is one).
//!
//! Players hold no connection, so the producer counts them by their requests: a
//! player is a client address with a user agent ([`PlayerId`]), counted as one of the
//! channel's viewers (in the viewer cap, `/api/channels`, `/metrics`, and what keeps
//! a pull on demand going) from its first request until none came, or waited, for
//! [`PLAYER_IDLE_TARGETS`] target durations. Two players behind one address in
//! one browser count as one. Meanwhile it is a session as a connection's viewer is
//! (`on_play` and `on_stop`, listed in `/api/clients`, its media bytes counted); one the
//! operator kicks (or the webhook refuses on a recheck) ends at once, and its requests
//! are refused until it has stopped asking for as long.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flashless_core::hls::{Window, WindowOptions};
use flashless_core::segment::{SegmentEvent, SegmentOptions, Segmenter};
use tokio::sync::watch;
use tracing::{debug, info};

use crate::clients::Link;
use crate::config::HlsSettings;
use crate::hooks::Session;
use crate::hub::{Channel, Feed, Viewer};
use crate::shutdown::Shutdown;
use crate::swap::Swap;

/// A producer stops after this many target durations without a request.
pub const IDLE_TARGETS: u32 = 5;

/// A player is gone once no request of it came for this many target durations: a
/// player reloads the playlist at least once a target duration, and gives up a
/// blocking request after three (RFC 8216bis §6.2.5.2).
pub const PLAYER_IDLE_TARGETS: u32 = 3;

/// A segment is cut at this many target durations even without a keyframe (nginx-rtmp's
/// `hls_max_fragment`, SRS's `hls_aof_ratio`): the window's memory stays bounded for a
/// source that sends no more keyframes, and GOPs up to this long still cut at keyframes.
const LONGEST_TARGETS: u32 = 10;

/// Every channel's HLS producer.
pub struct Hls {
    /// What producers started from now on are made with: a reload replaces it, and a
    /// running producer keeps what its playlist promised (its target, its parts).
    settings: Swap<HlsSettings>,
    producers: Mutex<HashMap<String, Arc<Producer>>>,
    shutdown: Shutdown,
}

/// One channel's live window, and when it was last asked for.
pub struct Producer {
    channel: Arc<Channel>,
    settings: HlsSettings,
    window: Mutex<Window>,
    /// Bumped whenever the window changes: requests waiting on it look again.
    changed: watch::Sender<u64>,
    last_request: Mutex<Instant>,
    /// Requests waiting on the window: the producer is not idle while one does.
    asking: AtomicUsize,
    /// Set when the producer stops (drain, publisher gone): nothing new will come, so
    /// requests waiting on the window answer at once instead of at their timeout.
    ended: AtomicBool,
    /// The players that asked lately: the channel's viewers, and those kicked.
    players: Mutex<HashMap<PlayerId, Player>>,
}

/// A player that asked lately: when it last did, and its session while it is counted
/// as a viewer (`None` once kicked: it is refused until it stops asking).
struct Player {
    seen: Instant,
    /// Its requests in progress: a player waiting on one is not idle.
    asking: u32,
    session: Option<(Session, Arc<Link>)>,
}

impl Player {
    /// Ends its session if the operator kicked it since (its `on_stop`); whether it did.
    fn end_if_kicked(&mut self) -> bool {
        let kicked = (self.session.as_ref()).is_some_and(|(_, link)| link.was_kicked());
        if kicked {
            self.session = None;
        }
        kicked
    }
}

/// What a player's request may do.
pub enum Visit<'a> {
    /// Counted as a viewer (already, or from now on).
    Counted(Asking<'a>),
    /// Let through uncounted: the producer retired meanwhile.
    Passed,
    /// The caps turned a new player away.
    Refused,
    /// Kicked by the operator: refused until it stops asking.
    Kicked,
}

/// A counted player's request in progress: neither it nor the producer is idle while
/// it waits (a first playlist waits for a whole segment, a long GOP's worth), and it
/// was last seen when it is answered or abandoned.
pub struct Asking<'a> {
    producer: &'a Producer,
    player: PlayerId,
    /// Where the bytes sent to the player are counted.
    pub link: Arc<Link>,
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        if let Some(p) = lock(&self.producer.players).get_mut(&self.player) {
            p.asking = p.asking.saturating_sub(1);
            p.seen = Instant::now();
        }
        self.producer.touch();
        self.producer.asking.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An HLS player, as far as its requests tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlayerId {
    pub ip: IpAddr,
    /// A hash of its `User-Agent`.
    agent: u64,
}

impl PlayerId {
    pub fn new(ip: IpAddr, user_agent: &[u8]) -> Self {
        let mut h = DefaultHasher::new();
        user_agent.hash(&mut h);
        PlayerId {
            ip,
            agent: h.finish(),
        }
    }
}

impl Hls {
    pub fn new(settings: HlsSettings, shutdown: Shutdown) -> Self {
        Hls {
            settings: Swap::new(settings),
            producers: Mutex::new(HashMap::new()),
            shutdown,
        }
    }

    /// The settings of producers started from now on.
    pub fn set_settings(&self, settings: HlsSettings) {
        self.settings.set(settings);
    }

    /// The producer of `channel`, started when none runs; the request is noted.
    pub fn producer(self: &Arc<Self>, channel: &Arc<Channel>) -> Arc<Producer> {
        let mut producers = lock(&self.producers);
        if let Some(p) = producers.get(channel.name())
            && Arc::ptr_eq(&p.channel, channel)
        {
            p.touch();
            return p.clone();
        }
        let settings = *self.settings.get();
        let producer = Arc::new(Producer {
            channel: channel.clone(),
            settings,
            window: Mutex::new(Window::new(WindowOptions {
                target_ms: millis(settings.segment),
                part_ms: millis(settings.part),
                window_ms: millis(settings.window()),
                first_sequence: first_sequence(settings.segment),
            })),
            changed: watch::channel(0).0,
            last_request: Mutex::new(Instant::now()),
            asking: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
            players: Mutex::new(HashMap::new()),
        });
        producers.insert(channel.name().to_owned(), producer.clone());
        // Subscribed here, under the map's lock. Not a viewer itself: its players are.
        let (start, viewer) = channel.subscribe_uncounted();
        info!(channel = channel.name(), "hls producer started");
        tokio::spawn(self.clone().run(producer.clone(), start, viewer));
        producer
    }

    /// The running producer of the channel `name`, if any; the request is noted.
    pub fn running(&self, name: &str) -> Option<Arc<Producer>> {
        let p = lock(&self.producers).get(name).cloned()?;
        p.touch();
        Some(p)
    }

    /// The players counted from `ip` on every channel but `except`'s: the limit of
    /// players per address is the listener's, not each channel's.
    pub fn players_from(&self, ip: IpAddr, except: &Producer) -> usize {
        let producers: Vec<_> = lock(&self.producers).values().cloned().collect();
        (producers.iter())
            .filter(|p| !std::ptr::eq(p.as_ref(), except))
            .map(|p| counted(&lock(&p.players), |id| id.ip == ip))
            .sum()
    }

    /// Producers running now, for `/metrics`.
    pub fn producers(&self) -> usize {
        lock(&self.producers).len()
    }

    /// How long a request may wait for a part or a playlist not out yet: RFC 8216bis
    /// §6.2.5.2 has clients give up after three target durations.
    pub fn blocking_timeout(&self, producer: &Producer) -> Duration {
        let target = producer.window().target_duration_s().max(1);
        Duration::from_secs(u64::from(target) * 3)
    }

    async fn run(
        self: Arc<Self>,
        producer: Arc<Producer>,
        start: Vec<Arc<crate::hub::MediaTag>>,
        mut viewer: Viewer,
    ) {
        let target_ms = millis(producer.settings.segment);
        let options = SegmentOptions {
            target_ms,
            part_ms: millis(producer.settings.part),
            longest_ms: Some(target_ms.saturating_mul(LONGEST_TARGETS)),
            live_playlist: true,
        };
        let mut segmenter = Segmenter::new(options);
        for media in &start {
            segmenter.feed(&media.tag);
        }
        producer.drain(&mut segmenter, unix_ms());
        let idle_after = producer.settings.segment * IDLE_TARGETS;
        let mut tick = tokio::time::interval(producer.settings.segment);
        let mut shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                item = viewer.next() => {
                    let Some(mut item) = item else { break };
                    // Whatever is queued already, in one go: one wake-up for waiters.
                    loop {
                        match &item {
                            Feed::Tag(media) => segmenter.feed(&media.tag),
                            // A session's end: what was cut goes out, and the next
                            // session, whose tracks and codecs may differ, is cut
                            // afresh, after a discontinuity in the playlist.
                            Feed::Unpublished => {
                                segmenter.flush();
                                producer.drain(&mut segmenter, unix_ms());
                                segmenter = Segmenter::new(options);
                            }
                            Feed::Published => {}
                        }
                        match viewer.try_next() {
                            Some(next) => item = next,
                            None => break,
                        }
                    }
                    producer.drain(&mut segmenter, unix_ms());
                }
                _ = tick.tick() => {
                    producer.sweep_players(producer.settings.segment * PLAYER_IDLE_TARGETS);
                    if self.retire_if_idle(&producer, idle_after) {
                        producer.end();
                        return;
                    }
                }
                // Draining: HLS players are refused from now on (`http::hls`), so the
                // producer, a viewer of its channel, goes at once too.
                _ = shutdown.wait_drain() => break,
            }
        }
        self.retire(&producer);
        producer.end();
    }

    /// Removes `producer` if no request came for `idle_after`; under the map's lock, so
    /// a request either finds it still running or starts a new one.
    fn retire_if_idle(&self, producer: &Arc<Producer>, idle_after: Duration) -> bool {
        let mut producers = lock(&self.producers);
        if producer.asking.load(Ordering::Acquire) > 0
            || lock(&producer.last_request).elapsed() < idle_after
        {
            return false;
        }
        let name = producer.channel.name();
        if producers
            .get(name)
            .is_some_and(|p| Arc::ptr_eq(p, producer))
        {
            producers.remove(name);
        }
        info!(
            channel = name,
            "hls producer stopped: no request for {idle_after:?}"
        );
        true
    }

    fn retire(&self, producer: &Arc<Producer>) {
        let name = producer.channel.name();
        let mut producers = lock(&self.producers);
        if producers
            .get(name)
            .is_some_and(|p| Arc::ptr_eq(p, producer))
        {
            producers.remove(name);
        }
        debug!(channel = name, "hls producer ended");
    }
}

impl Producer {
    /// The window as it is now.
    pub fn window(&self) -> MutexGuard<'_, Window> {
        lock(&self.window)
    }

    pub fn channel(&self) -> &Arc<Channel> {
        &self.channel
    }

    /// Waits until `ready` finds what it looks for in the window, up to `timeout`.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&Window) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changed = self.changed.subscribe();
        loop {
            changed.borrow_and_update();
            if let Some(found) = ready(&self.window()) {
                return Some(found);
            }
            if self.ended.load(Ordering::Acquire) {
                return None;
            }
            tokio::select! {
                result = changed.changed() => {
                    if result.is_err() {
                        return None;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    /// A request of `player`: a player counted already is noted again; a new one is
    /// counted if `admit` (given how many players its address has) lets it in, and its
    /// session made by `start` (`on_play`, listed) with the link its bytes go to.
    pub fn visit(
        &self,
        player: PlayerId,
        admit: impl FnOnce(usize) -> bool,
        start: impl FnOnce(Arc<Link>) -> Session,
    ) -> Visit<'_> {
        let mut players = lock(&self.players);
        if let Some(seen) = players.get_mut(&player) {
            seen.seen = Instant::now();
            if seen.end_if_kicked() {
                self.channel.remove_viewers(1);
            }
            return match &seen.session {
                Some((_, link)) => {
                    seen.asking += 1;
                    Visit::Counted(self.asking(player, link.clone()))
                }
                None => Visit::Kicked,
            };
        }
        if self.ended.load(Ordering::Acquire) {
            // Retired meanwhile: nothing to count it in (its next playlist request
            // starts a new producer, and is counted there).
            return Visit::Passed;
        }
        let same_address = counted(&players, |id| id.ip == player.ip);
        if !admit(same_address) {
            return Visit::Refused;
        }
        let link = Link::new(Arc::default());
        let session = start(link.clone());
        players.insert(
            player,
            Player {
                seen: Instant::now(),
                asking: 1,
                session: Some((session, link.clone())),
            },
        );
        self.channel.add_viewers(1);
        Visit::Counted(self.asking(player, link))
    }

    /// A request of `player`, counted in its `asking` already, in progress.
    fn asking(&self, player: PlayerId, link: Arc<Link>) -> Asking<'_> {
        self.asking.fetch_add(1, Ordering::AcqRel);
        Asking {
            producer: self,
            player,
            link,
        }
    }

    /// Whether `player` is counted now.
    pub fn knows(&self, player: &PlayerId) -> bool {
        lock(&self.players)
            .get(player)
            .is_some_and(|p| p.session.is_some())
    }

    /// Players that asked nothing for `idle` are gone; those kicked end now (their
    /// `on_stop`), and are refused until they have been gone as long.
    fn sweep_players(&self, idle: Duration) {
        let mut players = lock(&self.players);
        let before = counted(&players, |_| true);
        players.retain(|_, p| p.asking > 0 || p.seen.elapsed() < idle);
        for p in players.values_mut() {
            p.end_if_kicked();
        }
        self.channel
            .remove_viewers(before - counted(&players, |_| true));
    }

    /// No more media: wakes the waiting requests, which then give up; its players
    /// are no longer the channel's viewers.
    fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        let mut players = lock(&self.players);
        self.channel.remove_viewers(counted(&players, |_| true));
        players.clear();
    }

    fn touch(&self) {
        *lock(&self.last_request) = Instant::now();
    }

    /// Moves the segmenter's events into the window, and wakes the requests waiting.
    /// The newest part among them ends at `now_ms` (Unix ms), and each event is dated as
    /// much before as its media is older (the start's cached GOP, frames held for a
    /// track): segments are dated (`EXT-X-PROGRAM-DATE-TIME`) when they were live.
    fn drain(&self, segmenter: &mut Segmenter, now_ms: u64) {
        let events: Vec<SegmentEvent> = std::iter::from_fn(|| segmenter.poll_event()).collect();
        if events.is_empty() {
            return;
        }
        let media_ms = |event: &SegmentEvent| match event {
            SegmentEvent::SegmentStart { start_ms, .. } => Some(*start_ms),
            SegmentEvent::Part {
                start_ms,
                duration_ms,
                ..
            } => Some(start_ms + duration_ms),
            _ => None,
        };
        let newest = events.iter().filter_map(media_ms).fold(f64::MIN, f64::max);
        {
            let mut window = self.window();
            for event in events {
                let behind = media_ms(&event).map_or(0.0, |ms| (newest - ms).max(0.0));
                window.feed(event, now_ms.saturating_sub(behind as u64));
            }
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The players of `players` counted as viewers now (not kicked) that `of` picks.
fn counted(players: &HashMap<PlayerId, Player>, of: impl Fn(&PlayerId) -> bool) -> usize {
    (players.iter())
        .filter(|(id, p)| of(id) && p.session.is_some())
        .count()
}

/// Where a producer's numbering starts: the wall clock counted in target durations.
/// A segment lasts at least the target, so a producer started later (after an idle
/// stop) starts past every number the one before it used: a URI (`seg{N}.m4s`) never
/// names two different segments, and caches may keep them.
fn first_sequence(target: Duration) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_millis() / target.as_millis().max(1)) as u64
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// A poisoned lock only means another task panicked mid-update; the state is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The wall clock, Unix ms: the playlist's dates.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
