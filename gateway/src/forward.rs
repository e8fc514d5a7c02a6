//! Forwarding (`[[forward]]`): every channel a rule matches is published on to another
//! RTMP server as it plays (a CDN's or a platform's ingest, a legacy origin, another
//! gateway), as nginx-rtmp's `push` and SRS's `forward` do.
//!
//! A forward is no viewer: it is not counted, and it neither starts nor keeps an
//! on-demand pull. It publishes once per upstream session: from the channel's last
//! keyframe when the session is live, ended politely when the session ends (the
//! target's viewers see the stream end). A target that refuses the publish or drops it
//! is tried again with backoff, from the channel's newest keyframe; one that reads too
//! slowly skips to a keyframe as a lagging viewer does, and one that stops reading is
//! dropped after [`WRITE_TIMEOUT`]: a target never slows the channel.
//!
//! A forward's `connect` says how many forwards its media came through (its `flashVer`,
//! [`hops_in`]), and a flashless gateway taking the publish counts on from there: past
//! [`MAX_HOPS`] a channel is not forwarded. So a rule that forwards a channel into one it
//! matches again (`{name}-copy` into its own gateway, two gateways into each other)
//! stops after a few copies, saying why, instead of making channels without end.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use flashless_core::rtmp::session::ClientEvent;
use flashless_core::rtmp::url::{self, RtmpUrl};
use tokio::time::timeout;

use crate::client::rtmp::RtmpClient;
use crate::config::ForwardRule;
use crate::hub::jobs::{Job, JobId, JobState};
use crate::hub::{Channel, Feed, Hub, MediaTag, Viewer};
use crate::sessions::{self, Counted, Ending, Outcome, Rules, Work};
use crate::shutdown::Shutdown;

/// A target that takes no tag for this long is dropped (and tried again).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The polite end of a publish (`FCUnpublish`, `deleteStream`) gets this long.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The most forwards a channel's media may have come through and still be forwarded.
pub const MAX_HOPS: u8 = 4;

/// The `flashVer` of a forward's `connect`, an encoder's (`FMLE/3.0 (compatible; …)`)
/// that counts the forwards its media came through, this one included.
fn flash_ver(hops: u8) -> String {
    format!("FMLE/3.0 (compatible; flashless-forward/{hops})")
}

/// How many forwards a publish's media came through, by its `connect`'s `flashVer`
/// ([`flash_ver`]); 0 for any other publisher.
pub fn hops_in(flash_ver: &str) -> u8 {
    (flash_ver.split_once("flashless-forward/"))
        .and_then(|(_, n)| n.trim_end_matches(')').parse().ok())
        .unwrap_or(0)
}

/// The rules in force, the publishes going on (`running`) and the failed ones.
pub type Forwards = Rules<ForwardRule>;

/// Where `channel` goes by `rules`: each target once.
fn targets(rules: &[ForwardRule], channel: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for target in rules.iter().filter_map(|rule| rule.target_for(channel)) {
        if !found.contains(&target) {
            found.push(target);
        }
    }
    found
}

/// Keeps a forward running for every channel and target the rules name, until
/// `shutdown`; then waits for the forwards to end their publishes.
pub async fn run(hub: Arc<Hub>, forwards: Arc<Forwards>, shutdown: Shutdown) {
    let wanted = |rules: &[ForwardRule], channel: &str| {
        let targets = targets(rules, channel).into_iter();
        targets.map(|target| (channel.to_owned(), target)).collect()
    };
    let work = |(_, target): &(String, String), channel: &Arc<Channel>| {
        // The configuration checked the rule with a name of its own; a channel's name is
        // made of the same characters, so this does not fail in practice.
        let url = url::parse(target)
            .map_err(|e| tracing::debug!(channel = channel.name(), "not forwarded: {e}"))
            .ok()?;
        Some(Forward {
            channel: channel.clone(),
            forwards: forwards.clone(),
            // The stream key is a secret: logs name the server and app only.
            target: format!("{}:{}/{}", url.host, url.port, url.app),
            url,
        })
    };
    sessions::keep(hub, forwards.clone(), shutdown, wanted, work).await;
}

/// A forward of one channel to one target.
struct Forward {
    channel: Arc<Channel>,
    forwards: Arc<Forwards>,
    url: RtmpUrl,
    /// The target's server and app, for the log.
    target: String,
}

impl Work for Forward {
    fn id(&self) -> JobId {
        JobId::Target(self.target.clone())
    }

    fn session(
        &mut self,
        burst: Vec<Arc<MediaTag>>,
        feed: &mut Viewer,
        ending: &mut Ending,
        job: &Job,
    ) -> impl Future<Output = Outcome> + Send {
        publish(self, burst, feed, ending, job)
    }
}

/// One publish: connects, sends `burst` then the feed until the session ends, the
/// target fails, or `ending` completes.
async fn publish(
    forward: &Forward,
    burst: Vec<Arc<MediaTag>>,
    feed: &mut Viewer,
    ending: &mut Ending,
    job: &Job,
) -> Outcome {
    let Forward {
        channel,
        forwards,
        url,
        target,
    } = forward;
    let hops = channel.hops();
    if hops >= MAX_HOPS {
        return Outcome::Failed(format!(
            "the channel's media came through {hops} forwards already: not forwarded further \
             (a rule forwarding into a channel it matches again?)"
        ));
    }
    // Unless the rule sets its own `flashVer`, the target learns the count.
    let mut to = url.clone();
    if to.flash_ver == url::DEFAULT_FLASH_VER {
        to.flash_ver = flash_ver(hops + 1);
    }
    let mut client = tokio::select! {
        connected = RtmpClient::publish(&to) => match connected {
            Ok(client) => client,
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        },
        () = ending.wait() => return Outcome::Over,
    };
    let _publishing = Counted::start(&forwards.running);
    job.set(JobState::Running, None);
    tracing::info!(channel = channel.name(), target, "forwarding");
    let mut burst = burst.into_iter();
    loop {
        let item = tokio::select! {
            biased;
            () = ending.wait() => return close(client, Outcome::Over).await,
            read = client.read_some() => {
                match read {
                    Ok(true) => {}
                    Ok(false) => return Outcome::Failed("the target closed the connection".into()),
                    Err(e) => return Outcome::Failed(format!("{e:#}")),
                }
                if let Some(why) = ended_by_target(&mut client) {
                    return Outcome::Failed(why);
                }
                if let Err(e) = client.flush().await {
                    return Outcome::Failed(format!("{e:#}"));
                }
                continue;
            }
            // The burst first, then the feed: a burst tag is taken only when this
            // branch is polled, which it is when the two above are not ready.
            item = next(&mut burst, feed) => item,
        };
        let media = match item {
            Some(Feed::Tag(media)) => media,
            // The new session's headers come next, on the same publish.
            Some(Feed::Published) => continue,
            Some(Feed::Unpublished) => return close(client, Outcome::Unpublished).await,
            None => return close(client, Outcome::Over).await,
        };
        let sent = tokio::select! {
            sent = timeout(WRITE_TIMEOUT, client.send_tag(&media.tag)) => sent,
            () = ending.wait() => return Outcome::Over,
        };
        match sent {
            Ok(Ok(())) => {
                channel
                    .counters
                    .forwarded_bytes
                    .fetch_add(media.tag.data.len() as u64, Relaxed);
            }
            Ok(Err(e)) => return Outcome::Failed(format!("{e:#}")),
            Err(_) => {
                return Outcome::Failed(format!("the target took no media for {WRITE_TIMEOUT:?}"));
            }
        }
    }
}

/// The next tag of the burst, else the next item of the feed.
async fn next(burst: &mut std::vec::IntoIter<Arc<MediaTag>>, feed: &mut Viewer) -> Option<Feed> {
    match burst.next() {
        Some(media) => Some(Feed::Tag(media)),
        None => feed.next().await,
    }
}

/// Handles what the target said; `Some(reason)` when it ended the publish.
fn ended_by_target(client: &mut RtmpClient) -> Option<String> {
    while let Some(event) = client.poll_event() {
        match event {
            ClientEvent::StreamEnd { reason } => {
                return Some(format!("the target ended it: {reason}"));
            }
            other => tracing::debug!(?other, "forward target event"),
        }
    }
    None
}

/// Ends the publish politely, within [`CLOSE_TIMEOUT`].
async fn close(client: RtmpClient, outcome: Outcome) -> Outcome {
    let _ = timeout(CLOSE_TIMEOUT, client.close()).await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, target: &str) -> ForwardRule {
        ForwardRule {
            pattern: pattern.into(),
            target: target.into(),
        }
    }

    #[test]
    fn the_forwards_a_publish_came_through_are_read_from_its_flash_ver() {
        assert_eq!(hops_in(&flash_ver(3)), 3);
        assert_eq!(hops_in("FMLE/3.0 (compatible; FMSc/1.0)"), 0);
        assert_eq!(hops_in("LNX 10,0,32,18"), 0);
        assert_eq!(hops_in("FMLE/3.0 (compatible; flashless-forward/999)"), 0);
    }

    #[test]
    fn a_channel_goes_to_each_target_its_rules_name_once() {
        let rules = [
            rule("cam-*", "rtmp://cdn.example.org/{app}/{name} live=1"),
            rule("other/*", "rtmp://cdn.example.org/{app}/{name}"),
            rule("cam-1", "rtmp://cdn.example.org/live/cam-1 live=1"),
            rule("cam-1", "rtmps://backup.example.org/ingest/key-1"),
        ];
        let found = |channel| -> Vec<(String, String, String)> {
            targets(&rules, channel)
                .into_iter()
                .map(|t| {
                    let url = url::parse(&t).expect("a URL");
                    (t, url.app, url.playpath)
                })
                .collect()
        };
        assert_eq!(
            found("cam-1"),
            [
                (
                    "rtmp://cdn.example.org/live/cam-1 live=1".into(),
                    "live".into(),
                    "cam-1".into()
                ),
                (
                    "rtmps://backup.example.org/ingest/key-1".into(),
                    "ingest".into(),
                    "key-1".into()
                ),
            ]
        );
        assert_eq!(
            found("other/cam-1"),
            [(
                "rtmp://cdn.example.org/other/cam-1".into(),
                "other".into(),
                "cam-1".into()
            )]
        );
        assert!(found("studio").is_empty());
    }
}
