//! Work done for each upstream session of a channel by a task that is no viewer: a
//! forward's publish (`forward`), a command run for the channel (`exec`). Rules name
//! the channels and the work ([`keep`] keeps a task per channel and work they name);
//! the work starts when a session is live (with what a new viewer gets: metadata,
//! headers, the GOP), ends with the session, and is tried again with backoff when it
//! fails while the session goes on ([`each`]); the task ends with its channel, its
//! rule (a reload), or the gateway's shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, sleep};

use crate::hub::jobs::{Job, JobId, JobState, Listed};
use crate::hub::keeper::Keeper;
use crate::hub::{Channel, Feed, Hub, MediaTag, Viewer};
use crate::ingest::backoff::Backoff;
use crate::shutdown::{Shutdown, stopped};
use crate::swap::Swap;

/// Work that lasted this long was healthy: its next failure is retried soon again.
const HEALTHY: Duration = Duration::from_secs(10);
/// How often the hub is looked at for channels to start or stop work for.
const SCAN_PERIOD: Duration = Duration::from_millis(250);

/// The rules of one kind of work (replaced on reload), and its counters for `/metrics`.
pub struct Rules<R> {
    rules: Swap<Vec<R>>,
    /// Work going on now: publishes to targets, commands running.
    pub running: AtomicU64,
    /// Work that failed while its session went on (and was tried again).
    pub failures: AtomicU64,
}

impl<R> Default for Rules<R> {
    fn default() -> Self {
        Rules {
            rules: Swap::default(),
            running: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }
}

impl<R> Rules<R> {
    /// The rules from now on (a reload): work starts and stops by them.
    pub fn set(&self, rules: Vec<R>) {
        self.rules.set(rules);
    }

    fn get(&self) -> Arc<Vec<R>> {
        self.rules.get()
    }
}

/// Keeps a task doing its work session by session ([`each`]) for every channel and key
/// that `wanted` finds in the rules in force for the channel's name (a key names its
/// channel); `work` makes the work of a key about to start (`None`: it cannot). Until
/// `shutdown`, then waits for the tasks to end theirs.
pub async fn keep<R, K, W>(
    hub: Arc<Hub>,
    rules: Arc<Rules<R>>,
    mut shutdown: Shutdown,
    wanted: impl Fn(&[R], &str) -> Vec<K>,
    work: impl Fn(&K, &Arc<Channel>) -> Option<W>,
) where
    R: Send + Sync + 'static,
    K: Eq + Hash,
    W: Work + 'static,
{
    let mut running: Keeper<K> = Keeper::default();
    let mut scan = tokio::time::interval(SCAN_PERIOD);
    loop {
        tokio::select! {
            _ = scan.tick() => {}
            () = running.reap() => continue,
            _ = shutdown.wait() => break,
        }
        let in_force = rules.get();
        if in_force.is_empty() && running.is_empty() {
            continue;
        }
        // By key, which names its channel: every channel times every rule, each scan.
        let mut found: HashMap<K, Arc<Channel>> = HashMap::new();
        for channel in hub.list() {
            for key in wanted(&in_force, channel.name()) {
                found.entry(key).or_insert_with(|| channel.clone());
            }
        }
        // Stop what is no longer wanted (a reload) or whose channel went.
        running.retain(|key, channel| found.get(key).is_some_and(|c| Arc::ptr_eq(c, channel)));
        for (key, channel) in found {
            if running.contains(&key) {
                continue;
            }
            let Some(work) = work(&key, &channel) else {
                continue;
            };
            let (rules, shutdown) = (rules.clone(), shutdown.clone());
            running.start(key, channel.clone(), |stop| async move {
                let job = channel.list_job(work.id());
                let ending = Ending::new(stop, shutdown);
                each(channel, work, ending, job, &rules.failures).await;
            });
        }
    }
    // The tasks saw the shutdown too: each ends its work.
    running.finish().await;
}

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
    /// What it is, for the channel's list of jobs and the log.
    fn id(&self) -> JobId;

    /// Does the work for one session: `burst` (what a new viewer gets first, empty when
    /// the session is just starting: its headers come on `feed`), then `feed`, until
    /// the session ends, the work fails, or `ending` completes; says on `job` once it
    /// runs (connected, spawned).
    fn session(
        &mut self,
        burst: Vec<Arc<MediaTag>>,
        feed: &mut Viewer,
        ending: &mut Ending,
        job: &Job,
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

/// Runs `work` for each session of `channel` until the channel goes or `ending`,
/// saying on `job` what it does; a failure is logged, shown on `job` and counted in
/// `failures`.
pub async fn each(
    channel: Arc<Channel>,
    mut work: impl Work,
    mut ending: Ending,
    job: Listed,
    failures: &AtomicU64,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
    loop {
        // Subscribed before looking whether a session is on, so none is missed.
        let (mut burst, mut feed) = channel.subscribe_uncounted();
        if !channel.is_active() {
            // Between sessions: the next one's headers and first keyframe come on the feed.
            job.set(JobState::Waiting, None);
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
        job.set(JobState::Starting, None);
        let outcome = work.session(burst, &mut feed, &mut ending, &job).await;
        drop(feed);
        match outcome {
            Outcome::Over => return,
            Outcome::Unpublished => {
                job.set(JobState::Waiting, None);
                backoff.reset();
            }
            Outcome::Failed(why) => {
                job.failed(&why);
                failures.fetch_add(1, Relaxed);
                if started.elapsed() >= HEALTHY {
                    backoff.reset();
                }
                let (attempt, pause) = backoff.next();
                tracing::warn!(
                    channel = channel.name(),
                    attempt,
                    "{} failed: {why}; trying again in {pause:?}",
                    job.id()
                );
                tokio::select! {
                    () = sleep(pause) => {}
                    () = ending.wait() => return,
                }
            }
        }
    }
}

/// Counts work in a gauge while it lasts (a publish going on, a command running).
pub struct Counted<'a>(&'a AtomicU64);

impl<'a> Counted<'a> {
    pub fn start(gauge: &'a AtomicU64) -> Self {
        gauge.fetch_add(1, Relaxed);
        Counted(gauge)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}
