//! Child processes: a guard that kills on drop, pinning to a core, free loopback ports,
//! waiting for a listener, the memory of a process, and throwaway directories.

use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The core a benchmark's server runs on; the publisher and the load generator get the other.
pub const SERVER_CORE: usize = 0;
pub const CLIENT_CORE: usize = 1;
/// Open files for a benchmark's server and load generator: one per viewer, and some to spare.
pub const OPEN_FILES: u32 = 20_000;

/// Where [`free_port`] looks: under Linux's default ephemeral range (32768–60999).
const PORTS: std::ops::Range<u32> = 20_000..32_000;
/// How long a peer may take to listen on its port.
const LISTEN_LIMIT: Duration = Duration::from_secs(15);
/// How much of a failing command's log an error quotes; the whole log stays on disk.
const LOG_TAIL_LINES: usize = 60;

/// A child killed when dropped, also when a test fails or a run stops half-way.
pub struct Guard {
    child: Child,
    what: String,
}

impl Guard {
    /// Starts `cmd`; `what` names it in errors ("nginx (rtmp)", "the load generator").
    pub fn spawn(cmd: &mut Command, what: &str) -> Result<Guard> {
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {what} (`cargo xtask test` installs the peers)"))?;
        Ok(Guard::adopt(child, what))
    }

    /// Guards a child started elsewhere (one whose pipes the caller takes).
    pub fn adopt(child: Child, what: &str) -> Guard {
        Guard {
            child,
            what: what.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the child to exit by itself; past it, kills it and fails.
    pub fn wait(mut self, limit: Duration) -> Result<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .with_context(|| format!("waiting for {}", self.what))?
            {
                return Ok(status);
            }
            if started.elapsed() >= limit {
                bail!("{} still running after {limit:?}, killed", self.what);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asks the child to stop with `signal` (`TERM`, `INT`…) and waits for it to finish
    /// its files.
    pub fn signal(self, signal: &str, limit: Duration) -> Result<ExitStatus> {
        Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .context("running kill")?;
        self.wait(limit)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program args…` pinned to `core` with a raised open-files limit and no stdin: `exec`
/// keeps the pid, so the guard and /proc/<pid> are the program's own.
pub fn pinned(core: usize, program: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n {OPEN_FILES} && exec taskset -c {core} \"$@\""
        ))
        .arg("sh")
        .arg(program)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// A free loopback port, taken below the kernel's ephemeral range, where outgoing connections get their
/// ports: a server restarted on its port (an edge in the cluster test) must find it
/// free, not taken meanwhile by a viewer's or a balancer's health check's connection.
/// Each port is handed out once per process, from a start that differs per process.
pub fn free_port() -> Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = PORTS.end - PORTS.start;
    let seed = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let port = PORTS.start + (seed + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = u16::try_from(port).context("a port in range")?;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free loopback port in {PORTS:?}")
}

/// Waits until something accepts connections on loopback `port`.
pub fn wait_for_port(port: u16, what: &str) -> Result<()> {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > LISTEN_LIMIT {
            bail!("{what} did not listen on port {port} within {LISTEN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The resident memory of process `pid` in KiB (VmRSS, Linux), if it is running.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Runs `cmd` to completion with its output in `log` (or on the terminal when
/// `verbose`); a failure quotes the log's tail.
pub fn run_logged(cmd: &mut Command, log: &Path, verbose: bool) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = if verbose {
        cmd.stdin(Stdio::null()).status()
    } else {
        if let Some(dir) = log.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .status()
    }
    .with_context(|| format!("cannot start {shown}"))?;
    if status.success() {
        return Ok(());
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    bail!(
        "{shown} exited with {status} (log in {}):\n{tail}",
        log.display()
    )
}

/// A directory of its own under the system's temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir> {
        let dir = std::env::temp_dir().join(format!(
            "flashless-{tag}-{}-{}",
            std::process::id(),
            free_port()?
        ));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(TempDir(dir))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_kills_its_child_when_dropped() {
        let guard = Guard::spawn(Command::new("sleep").arg("30"), "sleep").unwrap();
        let pid = guard.pid();
        assert!(rss_kib(pid).is_some());
        drop(guard);
        assert!(rss_kib(pid).is_none(), "sleep {pid} survived its guard");
    }

    #[test]
    fn wait_fails_past_its_limit() {
        let guard = Guard::spawn(Command::new("sleep").arg("30"), "sleep").unwrap();
        let err = guard.wait(Duration::from_millis(100)).unwrap_err();
        assert!(format!("{err}").contains("sleep still running"));
        let done = Guard::spawn(&mut Command::new("true"), "true").unwrap();
        assert!(done.wait(Duration::from_secs(5)).unwrap().success());
    }

    #[test]
    fn a_failed_command_quotes_its_log() {
        let dir = TempDir::new("run-logged").unwrap();
        let log = dir.path("x.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo the reason; exit 3"]);
        let err = run_logged(&mut cmd, &log, false).unwrap_err();
        assert!(format!("{err}").contains("the reason"), "{err}");
        run_logged(&mut Command::new("true"), &log, false).unwrap();
    }
}
