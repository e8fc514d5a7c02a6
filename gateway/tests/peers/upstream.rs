//! Peers for the upstream tests, from the lab's harness: nginx-rtmp on a chosen port
//! (so it can be restarted in place), nginx's `stream` module terminating TLS in front
//! of any port, a throwaway CA made by `openssl`; and the other end, a test viewer
//! recording what a channel delivers, over the gateway's own hub.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashless_core::flv::TagType;
use flashless_core::stream::Role;
use flashless_gateway::hub::{Channel, Feed, Hub, Limits, MediaTag, Source, UpstreamState};
use flashless_gateway::ingest::{self as upstream, PullOptions, UpstreamSpec};
use flashless_gateway::shutdown::{self, Trigger};
use flashless_lab::peers as lab;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::or_fail;

/// nginx-rtmp with one `live` application on `port` (so it can be restarted in place).
pub struct NginxRtmp;

impl NginxRtmp {
    pub fn start_on(port: u16) -> lab::NginxRtmp {
        or_fail(lab::NginxRtmp::start_on(port, 4096))
    }
}

/// A CA and a server certificate it signed for 127.0.0.1 and localhost.
pub struct TestCa;

impl TestCa {
    pub fn generate() -> lab::TestCa {
        or_fail(lab::TestCa::generate())
    }
}

/// nginx's `stream` module terminating TLS in front of `target_port`.
pub struct TlsTerminator;

impl TlsTerminator {
    pub fn start(target_port: u16, ca: &lab::TestCa) -> lab::TlsTerminator {
        or_fail(lab::TlsTerminator::start(target_port, ca))
    }
}

#[derive(Debug, Clone)]
pub enum Seen {
    Tag {
        at: Instant,
        kind: Role,
        video: bool,
        ts: u32,
    },
    Unpublished,
    Published,
}

/// A viewer of the channel, subscribed from `watch` until dropped.
pub struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    pub fn watch(channel: &Arc<Channel>) -> Recorder {
        let (start, mut viewer) = channel.subscribe();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            let record = |t: &MediaTag| Seen::Tag {
                at: Instant::now(),
                kind: t.role,
                video: t.tag.tag_type == TagType::Video,
                ts: t.tag.timestamp,
            };
            log.lock().unwrap().extend(start.iter().map(|t| record(t)));
            while let Some(feed) = viewer.next().await {
                let item = match feed {
                    Feed::Tag(t) => record(&t),
                    Feed::Unpublished => Seen::Unpublished,
                    Feed::Published => Seen::Published,
                };
                log.lock().unwrap().push(item);
            }
        });
        Recorder { seen, task }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn frames(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| matches!(s, Seen::Tag { kind, .. } if kind.is_coded()))
            .count()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every distinct upstream state the channel passed through, sampled every 10 ms.
pub struct States(Arc<Mutex<Vec<UpstreamState>>>, JoinHandle<()>);

impl States {
    pub fn record(channel: &Arc<Channel>) -> States {
        let log = Arc::new(Mutex::new(Vec::<UpstreamState>::new()));
        let (l, c) = (log.clone(), channel.clone());
        let task = tokio::spawn(async move {
            loop {
                let now = c.snapshot().upstream;
                {
                    let mut l = l.lock().unwrap();
                    if l.last() != Some(&now) {
                        l.push(now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        States(log, task)
    }

    pub fn all(&self) -> Vec<UpstreamState> {
        self.0.lock().unwrap().clone()
    }

    pub fn retrying_error(&self) -> Option<String> {
        self.all().into_iter().find_map(|s| match s {
            UpstreamState::Retrying { error, .. } => Some(error),
            _ => None,
        })
    }
}

impl Drop for States {
    fn drop(&mut self) {
        self.1.abort();
    }
}

/// A channel fed by `spec` until the returned trigger fires or is dropped.
pub fn pull(spec: &str, options: PullOptions) -> (Arc<Channel>, Trigger, JoinHandle<()>) {
    let spec = UpstreamSpec::parse(spec).expect("upstream spec");
    let hub = Hub::new(Limits::default());
    let channel = hub.get_or_create("test", Source::Pull);
    let (trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(upstream::run(spec, options, channel.clone(), shutdown));
    (channel, trigger, task)
}

pub async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
