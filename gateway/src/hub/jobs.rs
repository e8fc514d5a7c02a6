//! What a channel feeds besides its viewers: its forwards' publishes and its commands
//! (`sessions`), each listed on the channel with what it is doing, for the operator's
//! `/api/channels` (which push is down, and why).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use super::{Channel, lock};

/// What a job is: where a forward publishes, or the program a command runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobId {
    /// A forward's target, by server and app only (the stream name is often a key).
    Target(String),
    /// A command's program.
    Program(String),
}

impl std::fmt::Display for JobId {
    /// For the log: `forwarding to host:1935/live`, `the command "ffmpeg"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobId::Target(target) => write!(f, "forwarding to {target}"),
            JobId::Program(program) => write!(f, "the command {program:?}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Between the channel's sessions: starts with the next.
    Waiting,
    /// Connecting to its target, starting its program.
    Starting,
    /// Publishing, running.
    Running,
    /// Failed while the session goes on: tried again after a pause.
    Retrying,
}

/// One job of a channel, as its task updates it.
#[derive(Debug)]
pub struct Job {
    id: JobId,
    progress: Mutex<Progress>,
}

#[derive(Debug)]
struct Progress {
    state: JobState,
    since: Instant,
    failures: u64,
    /// Why it failed last (kept while it runs again).
    error: Option<String>,
    pid: Option<u32>,
}

impl Progress {
    fn enter(&mut self, state: JobState, pid: Option<u32>) {
        if self.state != state {
            self.since = Instant::now();
        }
        self.state = state;
        self.pid = pid;
    }
}

/// A job as `/api/channels` shows it.
#[derive(Debug, Serialize)]
pub struct JobView {
    #[serde(flatten)]
    pub id: JobId,
    pub state: JobState,
    /// Seconds in that state.
    pub since_seconds: u64,
    pub failures: u64,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl Job {
    pub fn id(&self) -> &JobId {
        &self.id
    }

    /// Now in `state`; `pid`, a command's process while it runs.
    pub fn set(&self, state: JobState, pid: Option<u32>) {
        lock(&self.progress).enter(state, pid);
    }

    /// Failed for `why`: retrying.
    pub fn failed(&self, why: &str) {
        let mut p = lock(&self.progress);
        p.enter(JobState::Retrying, None);
        p.failures += 1;
        p.error = Some(why.to_owned());
    }

    fn view(&self) -> JobView {
        let p = lock(&self.progress);
        JobView {
            id: self.id.clone(),
            state: p.state,
            since_seconds: p.since.elapsed().as_secs(),
            failures: p.failures,
            error: p.error.clone(),
            pid: p.pid,
        }
    }
}

/// A job listed on its channel while this lives.
pub struct Listed {
    channel: Arc<Channel>,
    job: Arc<Job>,
}

impl std::ops::Deref for Listed {
    type Target = Job;

    fn deref(&self) -> &Job {
        &self.job
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        lock(&self.channel.jobs).retain(|job| !Arc::ptr_eq(job, &self.job));
    }
}

impl Channel {
    /// Lists a job on the channel, waiting for a session, until the guard is dropped.
    pub fn list_job(self: &Arc<Self>, id: JobId) -> Listed {
        let job = Arc::new(Job {
            id,
            progress: Mutex::new(Progress {
                state: JobState::Waiting,
                since: Instant::now(),
                failures: 0,
                error: None,
                pid: None,
            }),
        });
        lock(&self.jobs).push(job.clone());
        Listed {
            channel: self.clone(),
            job,
        }
    }

    /// The channel's jobs now, in the order they were listed.
    pub fn jobs(&self) -> Vec<JobView> {
        lock(&self.jobs).iter().map(|job| job.view()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{Hub, Limits, Source};

    #[test]
    fn a_job_is_listed_while_its_guard_lives_and_shows_its_last_failure() {
        let hub = Hub::new(Limits::default());
        let channel = hub.get_or_create("cam", Source::Publish);
        let forward = channel.list_job(JobId::Target("cdn.example.org:1935/live".into()));
        let command = channel.list_job(JobId::Program("ffmpeg".into()));
        command.set(JobState::Running, Some(42));
        forward.failed("the target closed the connection");
        forward.set(JobState::Starting, None);
        let json = serde_json::to_value(channel.jobs()).expect("JSON");
        assert_eq!(
            json,
            serde_json::json!([
                {"target": "cdn.example.org:1935/live", "state": "starting", "since_seconds": 0,
                 "failures": 1, "error": "the target closed the connection"},
                {"program": "ffmpeg", "state": "running", "since_seconds": 0, "failures": 0,
                 "error": null, "pid": 42},
            ])
        );
        drop(forward);
        assert_eq!(channel.jobs().len(), 1);
        assert_eq!(channel.jobs()[0].id, JobId::Program("ffmpeg".into()));
    }
}
