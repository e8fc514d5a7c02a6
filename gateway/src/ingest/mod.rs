//! Where a channel's media comes from: a publisher on the RTMP listener ([`publish`]),
//! or, when nobody publishes it, a pull from an RTMP server (`rtmp`), another
//! gateway's HTTP-FLV (`http_flv`) or an FLV file played in a loop (`file`). One
//! task per pulled channel (this module) feeds it, reconnecting forever with backoff,
//! and (on demand) only while someone watches.

use std::convert::Infallible;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use flashless_core::flv::Tag;
use flashless_core::rtmp::url::{self, RtmpUrl};
use flashless_core::stream::{Role, StartGate};
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, sleep, timeout};
use tracing::Instrument;

use self::intake::Intake;
use crate::hub::{Channel, UpstreamState};
use crate::shutdown::Shutdown;

pub(crate) mod backoff;
mod failure;
mod file;
mod http_flv;
pub mod intake;
pub mod pattern;
pub mod publish;
mod rtmp;

use crate::client::http::HttpUrl;
use backoff::Backoff;
use file::FilePlayer;
use http_flv::HttpFlvPull;
use rtmp::RtmpPull;

/// Largest FLV tag accepted from an HTTP-FLV upstream or a file: a few 4K keyframes' worth.
pub const MAX_TAG_SIZE: u32 = 8 << 20;

/// A network upstream open but silent this long has stalled, unless an RTMP URL says
/// otherwise with `timeout=`.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A session that delivered media this long was healthy: the next failure starts the
/// backoff from its minimum again.
const HEALTHY_SESSION: Duration = Duration::from_secs(5);

// Built once per channel and moved into its task: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum UpstreamSpec {
    /// `rtmp://` and `rtmps://`, with librtmp options.
    Rtmp(RtmpUrl),
    /// `http(s)://…/live/x.flv`: another flashless gateway, SRS, nginx-http-flv.
    HttpFlv(String),
    /// An FLV file played in a loop, in real time.
    File(PathBuf),
    /// The built-in demo clip (FLV bytes compiled into the binary), played like a file.
    Embedded(&'static [u8]),
}

impl UpstreamSpec {
    /// `rtmp[s]://… [options]`, `http(s)://….flv`, `file:PATH`, or a path ending in `.flv`.
    pub fn parse(s: &str) -> Result<UpstreamSpec> {
        let s = s.trim();
        let scheme = s.split_once("://").map(|(x, _)| x.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("rtmp" | "rtmps") => {
                let mut url = url::parse(s).with_context(|| format!("upstream {s:?}"))?;
                // librtmp waits 30 s for data; a gateway should notice a dead origin sooner.
                let explicit = s
                    .split(' ')
                    .skip(1)
                    .any(|o| o.to_ascii_lowercase().starts_with("timeout="));
                if !explicit {
                    url.timeout_secs = STALL_TIMEOUT.as_secs() as u32;
                }
                Ok(UpstreamSpec::Rtmp(url))
            }
            Some("http" | "https") => {
                HttpUrl::parse(s).with_context(|| format!("upstream {s:?}"))?;
                Ok(UpstreamSpec::HttpFlv(s.to_owned()))
            }
            Some(other) => bail!(
                "upstream {s:?}: unknown scheme {other}:// (expected rtmp, rtmps, http or https)"
            ),
            None => match s.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(UpstreamSpec::File(path.into())),
                _ if s.to_ascii_lowercase().ends_with(".flv") => Ok(UpstreamSpec::File(s.into())),
                _ => bail!(
                    "upstream {s:?}: expected rtmp://…, rtmps://…, http(s)://….flv, \
                     file:PATH or a path ending in .flv"
                ),
            },
        }
    }
}

/// For logs: URLs without their query strings, which often carry credentials.
impl fmt::Display for UpstreamSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamSpec::Rtmp(url) => f.write_str(&url.stream_url()),
            UpstreamSpec::HttpFlv(s) => match HttpUrl::parse(s) {
                Ok(u) => f.write_str(&u.display()),
                Err(_) => f.write_str("(bad HTTP-FLV URL)"),
            },
            UpstreamSpec::File(path) => write!(f, "file:{}", path.display()),
            UpstreamSpec::Embedded(_) => f.write_str("the built-in demo clip"),
        }
    }
}

impl fmt::Debug for UpstreamSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UpstreamSpec({self})")
    }
}

#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Connect only while the channel has viewers.
    pub on_demand: bool,
    /// On demand: how long after the last viewer left the upstream is dropped.
    pub idle_timeout: Duration,
    /// On demand, but connect at once: the channel was started by a viewer's request,
    /// whose admission waits for the upstream's first answer.
    pub connect_first: bool,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            on_demand: false,
            idle_timeout: Duration::from_secs(10),
            connect_first: false,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
        }
    }
}

/// Runs until shutdown, or until the hub closes the channel: feeds `channel` from
/// `spec`, reconnecting forever.
pub async fn run(
    spec: UpstreamSpec,
    options: PullOptions,
    channel: Arc<Channel>,
    shutdown: Shutdown,
) {
    let span = tracing::info_span!("upstream", channel = channel.name(), from = %spec);
    let closing = channel.clone();
    tokio::select! {
        _ = supervise(spec, options, channel, shutdown).instrument(span.clone()) => {}
        _ = closing.closed() => {
            span.in_scope(|| tracing::info!("channel closed; upstream stopped"));
        }
    }
}

async fn supervise(
    spec: UpstreamSpec,
    options: PullOptions,
    channel: Arc<Channel>,
    mut shutdown: Shutdown,
) {
    let mut viewers = channel.watch_viewers();
    let mut backoff = Backoff::new(options.backoff_min, options.backoff_max);
    let mut connect_now = options.connect_first;
    loop {
        if options.on_demand && !std::mem::take(&mut connect_now) {
            channel.set_upstream(UpstreamState::Idle);
            tracing::debug!("waiting for a first viewer");
            tokio::select! {
                _ = until_watched(&mut viewers) => {}
                _ = shutdown.wait() => break,
            }
            tracing::info!("a viewer arrived; connecting");
        }
        tokio::select! {
            _ = pull(&spec, &channel, &mut backoff) => {}
            _ = unwatched_for(&mut viewers, options.idle_timeout), if options.on_demand => {
                tracing::info!(idle = ?options.idle_timeout, "no viewers left; disconnecting");
                backoff.reset();
            }
            _ = shutdown.wait() => break,
        }
    }
    channel.set_upstream(UpstreamState::Idle);
}

/// Sessions one after the other, with backoff between them; never returns.
async fn pull(spec: &UpstreamSpec, channel: &Channel, backoff: &mut Backoff) -> Infallible {
    loop {
        let ended = session(spec, channel).await;
        if ended.media_for >= HEALTHY_SESSION {
            backoff.reset();
        }
        let (attempt, delay) = backoff.next();
        let error = format!("{:#}", ended.error);
        tracing::warn!(
            channel = channel.name(),
            attempt,
            retry_in = ?delay,
            %error,
            "upstream session ended"
        );
        let class = failure::class(&ended.error);
        channel.set_upstream(UpstreamState::Retrying {
            attempt,
            error,
            class,
        });
        sleep(delay).await;
    }
}

struct Ended {
    error: anyhow::Error,
    /// From the first coded frame to the end.
    media_for: Duration,
}

/// One connection: connect, claim the channel, publish every tag until something ends it.
async fn session(spec: &UpstreamSpec, channel: &Channel) -> Ended {
    channel.set_upstream(UpstreamState::Connecting);
    let ended = |error, media_for| Ended { error, media_for };
    let mut source = match Upstream::open(spec).await {
        Ok(source) => source,
        Err(e) => return ended(e, Duration::ZERO),
    };
    let Some(_claim) = Claim::new(channel) else {
        source.close().await;
        let e = anyhow!(
            "channel {} is already fed by a publisher or another upstream",
            channel.name()
        );
        return ended(e, Duration::ZERO);
    };
    tracing::info!(peer = source.peer(), "upstream connected");
    // An operator's `POST /api/drop` ends the session; the pull then connects again.
    let switch = Arc::new(Notify::new());
    channel.on_drop(switch.clone());
    let dropped = switch.notified();
    tokio::pin!(dropped);
    let mut media_since = None;
    let mut gate = StartGate::new();
    // Read as a publisher is: an upstream sending faster would have every viewer
    // receive it that much faster too.
    let mut intake = Intake::default();
    loop {
        let next = tokio::select! {
            next = source.next_tag() => next,
            () = &mut dropped => Err(anyhow!("dropped by an operator (POST /api/drop)")),
        };
        match next {
            Ok(tag) => {
                let coded = Role::of(&tag).is_coded();
                if let Some(limit) = intake.tag(&tag) {
                    tracing::warn!(
                        peer = source.peer(),
                        "the upstream sends {limit}: read at that pace from now on"
                    );
                }
                gate.pass(tag, |tag| {
                    if media_since.is_none() && coded {
                        media_since = Some(Instant::now());
                    }
                    channel.publish(tag);
                });
                let wait = intake.wait_ms();
                if wait > 0 {
                    sleep(Duration::from_millis(wait)).await;
                }
            }
            Err(e) => {
                source.close().await;
                let media_for = media_since.map_or(Duration::ZERO, |t| t.elapsed());
                return ended(e, media_for);
            }
        }
    }
}

/// The channel claimed for one session; released also when the session is dropped
/// mid-way (shutdown, or no viewers left).
struct Claim<'a>(&'a Channel);

impl<'a> Claim<'a> {
    fn new(channel: &'a Channel) -> Option<Self> {
        channel.begin_session().then_some(Claim(channel))
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.end_session();
    }
}

/// An open upstream: what one session reads tags from.
enum Upstream {
    Rtmp(Box<RtmpPull>, Duration),
    HttpFlv(HttpFlvPull),
    File(FilePlayer),
}

impl Upstream {
    async fn open(spec: &UpstreamSpec) -> Result<Upstream> {
        let source = match spec {
            UpstreamSpec::Rtmp(url) => {
                let stall = Duration::from_secs(u64::from(url.timeout_secs.max(1)));
                let pull = RtmpPull::connect(url)
                    .await
                    .with_context(|| url.stream_url())?;
                Upstream::Rtmp(Box::new(pull), stall)
            }
            UpstreamSpec::HttpFlv(s) => {
                let url = HttpUrl::parse(s)?;
                let pull = HttpFlvPull::connect(&url, STALL_TIMEOUT)
                    .await
                    .with_context(|| url.display())?;
                Upstream::HttpFlv(pull)
            }
            UpstreamSpec::File(path) => Upstream::File(FilePlayer::open(path).await?),
            UpstreamSpec::Embedded(bytes) => {
                Upstream::File(FilePlayer::from_bytes(bytes).context("the built-in demo clip")?)
            }
        };
        if let Upstream::File(player) = &source {
            tracing::debug!(period = ?player.period(), "playing in a loop");
        }
        Ok(source)
    }

    fn peer(&self) -> &str {
        match self {
            Upstream::Rtmp(p, _) => p.peer(),
            Upstream::HttpFlv(p) => p.peer(),
            Upstream::File(_) => "file",
        }
    }

    /// The next tag; an error ends the session, also at the end of a network stream.
    async fn next_tag(&mut self) -> Result<Tag> {
        match self {
            // The socket's read timeout does not see a server that keeps the connection
            // alive with pings but sends no media; this does.
            Upstream::Rtmp(p, stall) => match timeout(*stall, p.next_tag()).await {
                Ok(tag) => tag,
                Err(_) => Err(anyhow!("{}: no media for {stall:?}", p.peer())),
            },
            Upstream::HttpFlv(p) => p.next_tag().await,
            Upstream::File(p) => Ok(p.next_tag().await),
        }
    }

    async fn close(self) {
        match self {
            Upstream::Rtmp(p, _) => p.close().await,
            // Dropping the pull closes its connection.
            Upstream::HttpFlv(_) | Upstream::File(_) => {}
        }
    }
}

/// Completes once the channel has a viewer.
async fn until_watched(viewers: &mut watch::Receiver<usize>) {
    if viewers.wait_for(|&n| n > 0).await.is_err() {
        // The channel is gone; only shutdown ends the task now.
        std::future::pending::<()>().await;
    }
}

/// Completes once the channel has had no viewer for `limit` without a break.
async fn unwatched_for(viewers: &mut watch::Receiver<usize>, limit: Duration) {
    loop {
        if viewers.wait_for(|&n| n == 0).await.is_err() {
            std::future::pending::<()>().await;
        }
        if timeout(limit, viewers.wait_for(|&n| n > 0)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
