//! Steps: one `==> name` line each; the commands of a step write to its log
//! file, which is printed only when the step fails, so a green run stays short.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

/// How much of a failing step's log to print; the whole log stays on disk.
const LOG_TAIL_LINES: usize = 400;

pub struct Ctx {
    pub root: PathBuf,
    /// Stream command output to the terminal instead of the step log.
    pub verbose: bool,
    log_dir: PathBuf,
}

impl Ctx {
    pub fn new(root: PathBuf, verbose: bool) -> Ctx {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let log_dir = root.join(target).join("xtask");
        Ctx {
            root,
            verbose,
            log_dir,
        }
    }

    /// Where cargo puts its builds.
    pub fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(|t| self.root.join(t))
            .unwrap_or_else(|| self.root.join("target"))
    }

    /// A cargo command run from the workspace root.
    pub fn cargo(&self) -> Command {
        let mut cmd = crate::cargo_command();
        cmd.current_dir(&self.root);
        cmd
    }

    /// Prints `==> name`, runs `body`, names the step in the error if it fails, and
    /// prints how long it took if it passed (so a slow CI run says which step was slow).
    pub fn step<T>(&self, name: &str, body: impl FnOnce(&Step) -> Result<T>) -> Result<T> {
        println!("==> {name}");
        let started = Instant::now();
        let step = Step::new(self, name)?;
        let out = body(&step).with_context(|| format!("step `{name}` failed"))?;
        println!("    {name}: {:.0} s", started.elapsed().as_secs_f64());
        Ok(out)
    }
}

pub struct Step<'a> {
    ctx: &'a Ctx,
    log: PathBuf,
}

impl<'a> Step<'a> {
    fn new(ctx: &'a Ctx, name: &str) -> Result<Step<'a>> {
        let file_name: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let log = ctx.log_dir.join(format!("{file_name}.log"));
        if !ctx.verbose {
            fs::create_dir_all(&ctx.log_dir)
                .with_context(|| format!("creating {}", ctx.log_dir.display()))?;
            File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        }
        Ok(Step { ctx, log })
    }

    pub fn ctx(&self) -> &Ctx {
        self.ctx
    }

    /// Runs `cmd` to completion; its output goes to the step log (or the terminal
    /// with `--verbose`). On failure the log's tail is printed.
    pub fn run(&self, cmd: &mut Command) -> Result<()> {
        let shown = describe(cmd);
        let started = Instant::now();
        let status = if self.ctx.verbose {
            cmd.status()
        } else {
            let log = self.log_for(&shown)?;
            // Nothing may wait for a prompt in CI; both streams share one file so
            // they stay in order.
            cmd.stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .status()
        }
        .with_context(|| format!("cannot start `{shown}`"))?;
        if !status.success() {
            self.print_log_tail();
            bail!(
                "`{shown}` exited with {status} after {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }

    /// Runs `cmds` like [`Step::run`], `at_once` at a time (one with `--verbose`, so
    /// their output is not interleaved), each into a log of its own that joins the
    /// step log when it ends. Fails after all ended if any failed, naming them.
    pub fn run_all(&self, cmds: Vec<Command>, at_once: usize) -> Result<()> {
        let at_once = if self.ctx.verbose { 1 } else { at_once.max(1) };
        let queue = Mutex::new(cmds.into_iter().enumerate().collect::<VecDeque<_>>());
        let failed = Mutex::new(Vec::new());
        let joined = Mutex::new(());
        let run_one = |i: usize, mut cmd: Command| -> Result<()> {
            if self.ctx.verbose {
                return self.run(&mut cmd);
            }
            let shown = describe(&cmd);
            let own = self.log.with_extension(format!("{i}.log"));
            let log = File::create(&own).with_context(|| format!("creating {}", own.display()))?;
            let started = Instant::now();
            let status = cmd
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .status()
                .with_context(|| format!("cannot start `{shown}`"))?;
            let text = fs::read_to_string(&own).unwrap_or_default();
            let _ = fs::remove_file(&own);
            let _in_turn = locked(&joined);
            let mut step_log = self.log_for(&shown)?;
            step_log.write_all(text.as_bytes())?;
            if !status.success() {
                self.print_tail(&text);
                bail!(
                    "`{shown}` exited with {status} after {:.1}s",
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(())
        };
        std::thread::scope(|scope| {
            for _ in 0..at_once {
                scope.spawn(|| {
                    loop {
                        let next = locked(&queue).pop_front();
                        let Some((i, cmd)) = next else { break };
                        if let Err(e) = run_one(i, cmd) {
                            locked(&failed).push(format!("{e:#}"));
                        }
                    }
                });
            }
        });
        let failed = core::mem::take(&mut *locked(&failed));
        if !failed.is_empty() {
            bail!("{}", failed.join("\n"));
        }
        Ok(())
    }

    /// Runs `cmd` like [`Step::run`], but returns what it wrote to standard output
    /// instead of logging it (its standard error still goes to the log).
    pub fn stdout(&self, cmd: &mut Command) -> Result<String> {
        let shown = describe(cmd);
        let stderr = if self.ctx.verbose {
            Stdio::inherit()
        } else {
            self.log_for(&shown)?.into()
        };
        let out = cmd
            .stdin(Stdio::null())
            .stderr(stderr)
            .output()
            .with_context(|| format!("cannot start `{shown}`"))?;
        if !out.status.success() {
            self.print_log_tail();
            bail!("`{shown}` exited with {}", out.status);
        }
        String::from_utf8(out.stdout).with_context(|| format!("`{shown}` printed no UTF-8"))
    }

    /// The step log, opened to append a command's output after its line `$ shown`.
    fn log_for(&self, shown: &str) -> Result<File> {
        let mut log = File::options()
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        writeln!(log, "$ {shown}")?;
        Ok(log)
    }

    /// What the step's commands printed so far (empty with `--verbose`).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn print_log_tail(&self) {
        if self.ctx.verbose {
            return;
        }
        if let Ok(text) = fs::read_to_string(&self.log) {
            self.print_tail(&text);
        }
    }

    /// The end of `text` (a step's log, or one command's), then its failed tests.
    fn print_tail(&self, text: &str) {
        let lines: Vec<&str> = text.lines().collect();
        let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
        if skip > 0 {
            eprintln!("… {skip} lines omitted, see {}", self.log.display());
        }
        for line in &lines[skip..] {
            eprintln!("{line}");
        }
        // Last, where a reader of a cut CI log looks first: each failed test, even one
        // that failed long before the tail.
        let failures = tap_failures(text);
        if !failures.is_empty() {
            eprintln!("--- failed tests in this step ---");
            for line in failures {
                eprintln!("{line}");
            }
        }
    }
}

/// The failures of a TAP report (node's test runner): each `not ok` line with the
/// YAML block under it (its error, expected and actual), at most a few.
fn tap_failures(text: &str) -> Vec<&str> {
    const MAX_FAILURES: usize = 6;
    const MAX_BLOCK_LINES: usize = 40;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut failures = 0;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if !trimmed.starts_with("not ok ") || trimmed.contains("# TODO") {
            continue;
        }
        failures += 1;
        if failures > MAX_FAILURES {
            out.push("… more failures: see the step's log");
            break;
        }
        out.push(line);
        // The block ends with `...` indented two more than its `not ok`.
        let end = format!("{}  ...", &line[..line.len() - trimmed.len()]);
        for next in lines.iter().skip(i + 1).take(MAX_BLOCK_LINES) {
            out.push(next);
            if *next == end {
                break;
            }
        }
    }
    out
}

/// Runs a probe (`dpkg-query`, `rustup target list`, `tool --version`) and
/// returns its stdout, or `None` if it is missing or fails: a probe only
/// decides whether something must be installed.
pub fn probe(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

/// Whether `path` is older than `than` (missing counts as older).
pub fn older(path: &Path, than: &Path) -> Result<bool> {
    let Ok(meta) = fs::metadata(path) else {
        return Ok(true);
    };
    let reference = fs::metadata(than)
        .and_then(|m| m.modified())
        .map_err(|e| anyhow!("reading {}: {e}", than.display()))?;
    Ok(meta.modified()? < reference)
}

fn describe(cmd: &Command) -> String {
    let mut shown = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    for arg in cmd.get_args() {
        shown.push(' ');
        shown.push_str(&arg.to_string_lossy());
    }
    shown
}

/// A mutex's value, even where a thread panicked holding it: a runner's queue and
/// tallies stay readable, and the panic is reported where it happened.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::tap_failures;

    #[test]
    fn tap_failures_are_the_not_ok_lines_and_their_blocks() {
        let tap = "\
# Subtest: a
    not ok 1 - inner
      ---
      error: 'boom'
      ...
not ok 1 - a
  ---
  failureType: 'subtestsFailed'
  ...
ok 2 - b
    ok 1 - sound # TODO expected failure in firefox
not ok 3 - c # TODO expected failure in webkit
";
        assert_eq!(
            tap_failures(tap),
            [
                "    not ok 1 - inner",
                "      ---",
                "      error: 'boom'",
                "      ...",
                "not ok 1 - a",
                "  ---",
                "  failureType: 'subtestsFailed'",
                "  ...",
            ]
        );
        assert!(tap_failures("ok 1 - fine\n").is_empty());
    }
}
