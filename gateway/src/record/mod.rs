//! Recording (`record = true`): each recorded channel's media as fragmented MP4 files,
//! one per segment of about `[record] segment`, cut at keyframes by core's
//! `Segmenter`, named by channel and UTC start (`path`), growing a part at a time
//! (`recorder`); listed with their durations (`catalog`) for `/api/recordings` and
//! served by `/recordings/…`; deleted past `keep` or `max_bytes` (`retention`).
//!
//! A recorder is no viewer: it is not counted, and it neither starts nor keeps an
//! on-demand pull. A channel pulled on demand is recorded while someone watches it;
//! to record one all the time, pull it always (`on_demand = false`).

mod boxes;
mod catalog;
pub mod path;
mod recorder;
mod retention;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub use catalog::Recording;

use crate::config::RecordSettings;
use crate::hub::keeper::Keeper;
use crate::hub::{Channel, Hub};
use crate::shutdown::Shutdown;
use crate::swap::Swap;

/// How often the hub is looked at for channels to start or stop recording.
const SCAN_PERIOD: Duration = Duration::from_millis(250);
/// How often old recordings are pruned, besides after each segment.
const PRUNE_PERIOD: Duration = Duration::from_secs(60);

/// The recording settings in force (replaced on reload), the files being written, and
/// the counters.
#[derive(Default)]
pub struct Recordings {
    settings: Swap<RecordSettings>,
    durations: catalog::Durations,
    /// Files being written: retention leaves them alone.
    open: Mutex<HashSet<PathBuf>>,
    /// A pruning pass is running: another one is not started.
    pruning: AtomicBool,
    /// Files retention deleted, and their bytes.
    pub deleted_files: AtomicU64,
    pub deleted_bytes: AtomicU64,
    /// Writes that failed (a full disk, permissions).
    pub write_errors: AtomicU64,
    /// The last `/api/recordings` answer: one listing runs at a time (`list_json`).
    listing: tokio::sync::Mutex<Listed>,
}

/// A listing, for which filter, and when it was started.
#[derive(Default)]
struct Listed {
    channel: Option<String>,
    started: Option<tokio::time::Instant>,
    recordings: Arc<Vec<Recording>>,
}

/// Which recordings of a listing `/api/recordings` answers with: up to `limit` from
/// `offset` on, oldest first or newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
    pub newest_first: bool,
}

impl Recordings {
    /// The settings from now on (a reload): recorders start and stop by them; a file
    /// being written keeps its directory and lengths.
    pub fn set(&self, settings: RecordSettings) {
        self.settings.set(settings);
    }

    pub fn settings(&self) -> Arc<RecordSettings> {
        self.settings.get()
    }

    /// The recordings on disk, oldest first; only `channel`'s when given. Blocking.
    pub fn list(&self, channel: Option<&str>) -> Vec<Recording> {
        let settings = self.settings();
        if !settings.enabled {
            return Vec::new();
        }
        catalog::list(&settings.dir, channel, &self.durations)
    }

    /// `/api/recordings`' JSON: `page` of the listing (`list`), and how many the
    /// whole listing has; `None` if the listing failed. One listing runs at a time: a
    /// walk of a large directory takes a core and megabytes, and concurrent anonymous
    /// requests made as many (60 at once over 10,000 files took 275 MB more and kept
    /// `/healthz` waiting 4 s). A request that waited while a listing of the same
    /// filter started takes that listing, which is no older than the request.
    pub async fn list_json(
        self: &Arc<Self>,
        channel: Option<String>,
        page: Page,
    ) -> Option<(bytes::Bytes, usize)> {
        let arrived = tokio::time::Instant::now();
        let mut last = self.listing.lock().await;
        if !(last.channel == channel && last.started.is_some_and(|s| s >= arrived)) {
            let started = tokio::time::Instant::now();
            let (me, filter) = (self.clone(), channel.clone());
            let recordings = tokio::task::spawn_blocking(move || me.list(filter.as_deref()))
                .await
                .ok()?;
            *last = Listed {
                channel,
                started: Some(started),
                recordings: Arc::new(recordings),
            };
        }
        let all = last.recordings.clone();
        drop(last);
        let in_order: Box<dyn Iterator<Item = &Recording>> = if page.newest_first {
            Box::new(all.iter().rev())
        } else {
            Box::new(all.iter())
        };
        let chosen: Vec<&Recording> = in_order.skip(page.offset).take(page.limit).collect();
        let json = serde_json::to_vec(&chosen).ok()?;
        Some((json.into(), all.len()))
    }

    /// The file `/recordings/{request}` names, if it is a recording under the
    /// directory (checked part by part, then again after links are resolved). Blocking.
    /// No link under the directory is followed, even to another recording: the listing
    /// does not show them, and a link is how a file from elsewhere would get in.
    pub fn file(&self, request: &str) -> Option<PathBuf> {
        let relative = path::relative(request)?;
        let settings = self.settings();
        if !settings.enabled {
            return None;
        }
        let root = settings.dir.canonicalize().ok()?;
        let named = root.join(relative);
        let full = named.canonicalize().ok()?;
        // Resolving changed nothing only when no part of the path is a link.
        (full == named && full.is_file()).then_some(full)
    }

    /// Deletes what `keep` and `max_bytes` say must go, unless a pass is running. Blocking.
    pub fn prune(&self) {
        if self.pruning.swap(true, Relaxed) {
            return;
        }
        let settings = self.settings();
        let open = lock(&self.open).clone();
        let pruned = retention::prune(
            &settings.dir,
            settings.keep,
            settings.max_bytes,
            &open,
            &self.durations,
            SystemTime::now(),
        );
        self.deleted_files.fetch_add(pruned.files, Relaxed);
        self.deleted_bytes.fetch_add(pruned.bytes, Relaxed);
        self.pruning.store(false, Relaxed);
    }

    fn opened(&self, file: &Path) {
        lock(&self.open).insert(file.to_owned());
    }

    fn closed(&self, file: &Path, bytes: u64, seconds: f64) {
        lock(&self.open).remove(file);
        self.durations.remember(file, bytes, seconds);
    }
}

/// Keeps a recorder running for every channel the settings record, and prunes old
/// recordings, until `shutdown`; then waits for the recorders to close their files.
pub async fn run(hub: Arc<Hub>, recordings: Arc<Recordings>, mut shutdown: Shutdown) {
    let mut recorders: Keeper<String> = Keeper::default();
    let mut scan = tokio::time::interval(SCAN_PERIOD);
    let mut prune = tokio::time::interval(PRUNE_PERIOD);
    loop {
        tokio::select! {
            _ = scan.tick() => {}
            _ = prune.tick() => {
                let r = recordings.clone();
                tokio::task::spawn_blocking(move || r.prune());
                continue;
            }
            () = recorders.reap() => continue,
            _ = shutdown.wait() => break,
        }
        let settings = recordings.settings();
        let channels = hub.list();
        let by_name: HashMap<&str, &Arc<Channel>> =
            channels.iter().map(|c| (c.name(), c)).collect();
        // Stop those no longer recorded (a reload) or whose channel went.
        recorders.retain(|name, channel| {
            settings.records(name)
                && by_name
                    .get(name.as_str())
                    .is_some_and(|c| Arc::ptr_eq(c, channel))
        });
        for channel in channels {
            let name = channel.name().to_owned();
            if recorders.contains(&name) || !settings.records(&name) {
                continue;
            }
            let (recordings, hooks, shutdown) =
                (recordings.clone(), hub.hooks.clone(), shutdown.clone());
            recorders.start(name, channel.clone(), |stop| {
                recorder::record(channel, recordings, hooks, stop, shutdown)
            });
        }
    }
    // The recorders saw the shutdown too: their files end cleanly.
    recorders.finish().await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
