//! The fuzz targets in `core/fuzz`, driven through cargo-fuzz: a few seconds
//! each in `cargo xtask test`, longer runs with `cargo xtask fuzz`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::step::Ctx;
use crate::{deps, flag_value, parse_seconds, project_root};

const FUZZ_DIR: &str = "core/fuzz";
pub const MANIFEST: &str = "core/fuzz/Cargo.toml";

#[derive(Debug, PartialEq)]
pub struct Args {
    pub time: u64,
    pub skip_deps: bool,
    pub verbose: bool,
    pub targets: Vec<String>,
}

impl Args {
    pub fn parse(args: &[String]) -> Result<Args> {
        let mut parsed = Args {
            time: 60,
            skip_deps: false,
            verbose: false,
            targets: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--skip-deps" => parsed.skip_deps = true,
                "-v" | "--verbose" => parsed.verbose = true,
                "--" => {}
                _ => match flag_value("--time", arg, &mut it)? {
                    Some(value) => parsed.time = parse_seconds("--time", value)?,
                    None if arg.starts_with('-') => {
                        bail!(
                            "unknown option `{arg}` for `cargo xtask fuzz` (see `cargo xtask help`)"
                        )
                    }
                    None => parsed.targets.push(arg.clone()),
                },
            }
        }
        Ok(parsed)
    }
}

pub fn present(ctx: &Ctx) -> bool {
    ctx.root.join(MANIFEST).exists()
}

/// `cargo xtask test`'s smoke run: every target briefly, on a throwaway corpus,
/// [`SMOKE_AT_ONCE`] at a time.
pub fn smoke(ctx: &Ctx, seconds: u64) -> Result<()> {
    let targets = build(ctx)?;
    ctx.step("fuzz", |step| {
        // libFuzzer adds new inputs to the first corpus only, so the run's
        // findings land in scratch directories and the seeds stay as committed.
        let scratch = targets
            .iter()
            .map(|target| ScratchDir::new(target))
            .collect::<Result<Vec<_>>>()?;
        let runs = targets
            .iter()
            .zip(&scratch)
            .map(|(target, dir)| run_command(ctx, target, &dir.0, seconds))
            .collect();
        step.run_all(runs, SMOKE_AT_ONCE).context(REPRODUCE)
    })
}

/// Each libFuzzer run is one process on one core: on two cores, two at once halve the
/// smoke step (60 s one after another).
const SMOKE_AT_ONCE: usize = 2;

const REPRODUCE: &str = "reproduce with `cd core && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> \
                         fuzz/artifacts/<target>/<crash file>`";

/// `cargo xtask fuzz`: longer runs whose corpus accumulates in `core/fuzz/corpus/`.
pub fn run_cmd(args: &Args) -> Result<()> {
    let ctx = Ctx::new(project_root(), args.verbose);
    if !present(&ctx) {
        bail!("no fuzz targets: {MANIFEST} is missing");
    }
    if !args.skip_deps {
        deps::ensure(
            &ctx,
            deps::Needs {
                fuzz: true,
                ..Default::default()
            },
        )?;
    }
    let all = build(&ctx)?;
    let targets = if args.targets.is_empty() {
        all
    } else {
        if let Some(unknown) = args.targets.iter().find(|t| !all.contains(t)) {
            bail!("no fuzz target `{unknown}`; there are: {}", all.join(", "));
        }
        args.targets.clone()
    };
    for target in &targets {
        ctx.step(&format!("fuzz {target}"), |step| {
            let corpus = ctx.root.join(FUZZ_DIR).join("corpus").join(target);
            fs::create_dir_all(&corpus)
                .with_context(|| format!("creating {}", corpus.display()))?;
            step.run(&mut run_command(&ctx, target, &corpus, args.time))
                .context(REPRODUCE)
        })?;
    }
    Ok(())
}

/// Builds every target once, so each run after it starts at once; returns their names.
fn build(ctx: &Ctx) -> Result<Vec<String>> {
    ctx.step("fuzz-build", |step| {
        step.run(&mut cargo_fuzz(ctx, "build"))?;
        let listed = cargo_fuzz(ctx, "list")
            .output()
            .context("running cargo fuzz list")?;
        if !listed.status.success() {
            bail!(
                "cargo fuzz list failed: {}",
                String::from_utf8_lossy(&listed.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&listed.stdout)
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(String::from)
            .collect())
    })
}

/// `cargo fuzz run` of `target` for `seconds`, adding to `corpus`, with the committed seeds.
fn run_command(ctx: &Ctx, target: &str, corpus: &Path, seconds: u64) -> Command {
    let mut cmd = cargo_fuzz(ctx, "run");
    cmd.arg(target).arg(corpus);
    let seeds = ctx.root.join(FUZZ_DIR).join("seeds").join(target);
    if seeds.is_dir() {
        cmd.arg(seeds);
    }
    cmd.arg("--").arg(format!("-max_total_time={seconds}"));
    cmd
}

fn cargo_fuzz(ctx: &Ctx, subcommand: &str) -> Command {
    let mut cmd = crate::cargo_command();
    // cargo-fuzz finds `fuzz/` next to the package it is run in.
    cmd.current_dir(ctx.root.join("core"))
        .args(["fuzz", subcommand])
        // cargo-fuzz passes nightly-only flags (-Zsanitizer and friends); stable
        // rustc accepts them under RUSTC_BOOTSTRAP, so CI needs no nightly toolchain.
        .env("RUSTC_BOOTSTRAP", "1");
    cmd
}

/// A scratch corpus directory, removed again however the run ends.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(target: &str) -> Result<ScratchDir> {
        let path =
            std::env::temp_dir().join(format!("flashless-fuzz-{}-{target}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_option_and_target_names() {
        let args: Vec<String> = ["--time", "5", "chunk", "amf0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let parsed = Args::parse(&args).unwrap();
        assert_eq!(parsed.time, 5);
        assert_eq!(parsed.targets, ["chunk", "amf0"]);
    }

    #[test]
    fn default_time_is_a_minute() {
        assert_eq!(Args::parse(&[]).unwrap().time, 60);
    }
}
