//! Commands run for channels (`[[exec]]`), as nginx-rtmp's and SRS's `exec` and
//! MediaMTX's `runOnReady`: for each upstream session of a channel a rule matches, its
//! command runs (ffmpeg making a lower rendition and publishing it back, a recorder of
//! another kind, a notifier), with `{app}`, `{name}` and `{channel}` filled in, and the
//! same as `FLASHLESS_APP`, `FLASHLESS_NAME` and `FLASHLESS_CHANNEL` in its environment.
//!
//! The command starts when the session is live and is stopped when it ends (SIGTERM,
//! so that it can close its output; SIGKILL after [`STOP_GRACE`]), in a process group
//! of its own, so that what it started goes with it; on Linux it gets SIGTERM too when the
//! gateway dies without stopping it. One that exits while the session
//! lasts is started again with backoff. No shell is involved: the
//! command is a program and its arguments. What it writes to its standard output and
//! error goes to the gateway's log, a line at a time. Like a recorder, a command is
//! no viewer, and its channel's on-demand pull neither starts nor stays for it.

use std::future::Future;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

use crate::config::ExecRule;
use crate::hub::jobs::{Job, JobId, JobState};
use crate::hub::{Channel, Feed, Hub, MediaTag, Viewer, name};
use crate::sessions::{self, Counted, Ending, Outcome, Rules, Work};
use crate::shutdown::Shutdown;

/// A command told to stop (SIGTERM) is killed past this.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// A line of a command's output is logged up to this many bytes.
const MAX_LINE: usize = 1000;

/// The rules in force, the commands running (`running`) and the failed ones.
pub type Execs = Rules<ExecRule>;

/// Keeps a command running for every channel and rule that names one, until
/// `shutdown`; then waits for the commands to stop.
pub async fn run(hub: Arc<Hub>, execs: Arc<Execs>, shutdown: Shutdown) {
    let wanted = |rules: &[ExecRule], channel: &str| {
        let commands = rules.iter().filter_map(|rule| rule.command_for(channel));
        commands.map(|argv| (channel.to_owned(), argv)).collect()
    };
    let work = |(_, argv): &(String, Vec<String>), channel: &Arc<Channel>| {
        Some(Exec {
            channel: channel.clone(),
            execs: execs.clone(),
            argv: argv.clone(),
        })
    };
    sessions::keep(hub, execs.clone(), shutdown, wanted, work).await;
}

/// A command run for one channel.
struct Exec {
    channel: Arc<Channel>,
    execs: Arc<Execs>,
    /// The program and its arguments, never empty (the configuration checks it).
    argv: Vec<String>,
}

impl Work for Exec {
    fn id(&self) -> JobId {
        JobId::Program(self.argv.first().cloned().unwrap_or_default())
    }

    fn session(
        &mut self,
        _burst: Vec<Arc<MediaTag>>,
        feed: &mut Viewer,
        ending: &mut Ending,
        job: &Job,
    ) -> impl Future<Output = Outcome> + Send {
        run_command(self, feed, ending, job)
    }
}

/// Runs the command until the session ends, `ending`, or the command exits.
async fn run_command(exec: &Exec, feed: &mut Viewer, ending: &mut Ending, job: &Job) -> Outcome {
    let channel = exec.channel.name();
    let Some((program, args)) = exec.argv.split_first() else {
        return Outcome::Over;
    };
    let (app, stream) = name::split(channel);
    let mut command = Command::new(program);
    // A process group of its own: a shell's children are stopped with it.
    #[cfg(unix)]
    command.process_group(0);
    #[cfg(target_os = "linux")]
    dies_with_gateway(&mut command);
    let spawned = command
        .args(args)
        .env("FLASHLESS_CHANNEL", channel)
        .env("FLASHLESS_APP", app)
        .env("FLASHLESS_NAME", stream)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Outcome::Failed(format!("could not start: {e}")),
    };
    if let Some(out) = child.stdout.take() {
        tokio::spawn(log_lines(out, channel.to_owned(), program.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(log_lines(err, channel.to_owned(), program.clone()));
    }
    let _running = Counted::start(&exec.execs.running);
    // Its process group's id (its own pid): kept, since the child forgets it once it exited.
    let group = child.id();
    job.set(JobState::Running, group);
    tracing::info!(channel, program, pid = group, "command started");
    let outcome = loop {
        tokio::select! {
            status = child.wait() => {
                // What it left behind (a shell's children) goes with it.
                signal_group(group, Signal::Term);
                return Outcome::Failed(exited(status));
            }
            item = feed.next() => match item {
                Some(Feed::Unpublished) => break Outcome::Unpublished,
                None => break Outcome::Over,
                Some(Feed::Tag(_) | Feed::Published) => {}
            },
            () = ending.wait() => break Outcome::Over,
        }
    };
    stop(&mut child, group).await;
    tracing::info!(channel, program, "command stopped");
    outcome
}

/// SIGTERM to the command when the gateway dies (SIGKILL, a crash), where `stop` cannot
/// run: so a gateway started again does not find the last one's commands still publishing.
#[cfg(target_os = "linux")]
fn dies_with_gateway(command: &mut Command) {
    use rustix::process::{Signal, getppid, set_parent_process_death_signal};
    let gateway = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before exec; it makes two system
    // calls (async-signal-safe), allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            set_parent_process_death_signal(Some(Signal::TERM))?;
            // The gateway died before the signal was asked for: nothing would send it.
            if getppid() != Some(gateway) {
                return Err(std::io::Error::other("the gateway is gone"));
            }
            Ok(())
        });
    }
}

fn exited(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => format!("it exited ({status})"),
        Err(e) => format!("waiting for it: {e}"),
    }
}

/// SIGTERM to its process group, so that it can close its output (an MP4's index, an
/// RTMP publish); SIGKILL past [`STOP_GRACE`].
async fn stop(child: &mut Child, group: Option<u32>) {
    signal_group(group, Signal::Term);
    if timeout(STOP_GRACE, child.wait()).await.is_err() {
        signal_group(group, Signal::Kill);
        let _ = child.kill().await;
    }
}

enum Signal {
    Term,
    Kill,
}

/// Sends `signal` to the command's process group (its own, from its start).
fn signal_group(group: Option<u32>, signal: Signal) {
    #[cfg(unix)]
    if let Some(group) = group.and_then(|id| rustix::process::Pid::from_raw(id.try_into().ok()?)) {
        use rustix::process::{Signal as S, kill_process_group};
        let _ = kill_process_group(
            group,
            match signal {
                Signal::Term => S::TERM,
                Signal::Kill => S::KILL,
            },
        );
    }
}

/// Logs what `output` says, a line at a time, each cut at [`MAX_LINE`] bytes.
async fn log_lines(output: impl AsyncRead + Unpin, channel: String, program: String) {
    let mut reader = BufReader::new(output);
    let mut line = Vec::new();
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) if !buf.is_empty() => buf,
            _ => break,
        };
        let (taken, ends) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = MAX_LINE.saturating_sub(line.len()).min(taken);
        line.extend_from_slice(buf.get(..room).unwrap_or_default());
        reader.consume(taken);
        if ends {
            say(&channel, &program, &line);
            line.clear();
        }
    }
    say(&channel, &program, &line);
}

fn say(channel: &str, program: &str, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    if !text.is_empty() {
        tracing::info!(channel, program, "{text}");
    }
}
