//! Work done for each upstream session of a channel by a task that is no viewer: a
//! forward's publish (`forward`), a command run for the channel (`exec`). The work
//! starts when a session is live (with what a new viewer gets: metadata, headers, the
//! GOP), ends with the session, and is tried again with backoff when it fails while
//! the session goes on; the task ends with its channel, its own stop (a reload), or
//! the gateway's shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, sleep};

use crate::hub::{Channel, Feed, MediaTag, Viewer};
use crate::ingest::backoff::Backoff;
use crate::shutdown::{Shutdown, stopped};

/// Work that lasted this long was healthy: its next failure is retried soon again.
const HEALTHY: Duration = Duration::from_secs(10);

/// How one session's work ended.
pub enum Outcome {
    /// The channel's session ended: the work waits for the next one.
    Unpublished,
    /// The channel is gone, or the task was told to end.
    Over,
    /// The work failed while the session goes on: tried again after a pause.
    Failed(String),
}

/// One session's work.
pub trait Work: Send {
    /// Does the work for one session: `burst` (what a new viewer gets first, empty when
    /// the session is just starting: its headers come on `feed`), then `feed`, until
    /// the session ends, the work fails, or `ending` completes.
    fn session(
        &mut self,
        burst: Vec<Arc<MediaTag>>,
        feed: &mut Viewer,
        ending: &mut Ending,
    ) -> impl Future<Output = Outcome> + Send;
}

/// Completes once the task must end: its stop turned true, or the gateway shuts down.
pub struct Ending {
    signal: Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
}

impl Ending {
    pub fn new(mut stop: watch::Receiver<bool>, mut shutdown: Shutdown) -> Ending {
        Ending {
            signal: Box::pin(async move {
                tokio::select! {
                    () = stopped(&mut stop) => {}
                    _ = shutdown.wait() => {}
                }
            }),
            done: false,
        }
    }

    /// Completes once the task must end, and at once after that. Cancel-safe.
    pub async fn wait(&mut self) {
        if !self.done {
            self.signal.as_mut().await;
            self.done = true;
        }
    }
}

/// Runs `work` for each session of `channel` until the channel goes or `ending`; a
/// failure is logged as `what` failing and counted in `failures`.
pub async fn each(
    channel: Arc<Channel>,
    mut work: impl Work,
    mut ending: Ending,
    what: &str,
    failures: &AtomicU64,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
    loop {
        // Subscribed before looking whether a session is on, so none is missed.
        let (mut burst, mut feed) = channel.subscribe_uncounted();
        if !channel.is_active() {
            // Between sessions: the next one's headers and first keyframe come on the feed.
            burst.clear();
            loop {
                tokio::select! {
                    item = feed.next() => match item {
                        Some(Feed::Published) => break,
                        Some(_) => {}
                        None => return,
                    },
                    () = ending.wait() => return,
                }
            }
        }
        let started = Instant::now();
        let outcome = work.session(burst, &mut feed, &mut ending).await;
        drop(feed);
        match outcome {
            Outcome::Over => return,
            Outcome::Unpublished => backoff.reset(),
            Outcome::Failed(why) => {
                failures.fetch_add(1, Relaxed);
                if started.elapsed() >= HEALTHY {
                    backoff.reset();
                }
                let (attempt, pause) = backoff.next();
                tracing::warn!(
                    channel = channel.name(),
                    attempt,
                    "{what} failed: {why}; trying again in {pause:?}"
                );
                tokio::select! {
                    () = sleep(pause) => {}
                    () = ending.wait() => return,
                }
            }
        }
    }
}
