//! `cargo xtask bench` and `cargo xtask soak`: install the peers, build what the lab
//! measures and starts (the wasm package when a benchmark plays in Chromium, the
//! release gateway, the `lab` and `loadgen` binaries), then run the lab (`lab/`) with
//! the same options. The benchmarks and the soak themselves live there.

use std::process::Command;

use anyhow::{Result, bail};

use crate::step::Ctx;
use crate::{deps, project_root, wasm};

/// The benchmarks that play or measure the npm package (the wasm is built first); with
/// no benchmark named, every one but the long run, the corpus, engines, hls and page-cpu
/// runs, remux, latency and payload among them.
const IN_BROWSER: [&str; 8] = [
    "payload", "remux", "latency", "longrun", "corpus", "engines", "hls", "page-cpu",
];
/// The options whose value is the next argument.
const VALUED: [&str; 3] = ["--runs", "--minutes", "--only"];

pub fn bench(args: &[String]) -> Result<()> {
    let ctx = Ctx::new(project_root(), verbose(args));
    let names = names(args);
    let browser = names.is_empty() || names.iter().any(|n| IN_BROWSER.contains(n));
    if !args.iter().any(|a| a == "--skip-deps") {
        deps::ensure(
            &ctx,
            deps::Needs {
                bench: true,
                wasm: browser,
                ..deps::Needs::default()
            },
        )?;
    }
    if browser {
        // Always the package of this tree: a stale one would measure other code.
        wasm::build(&ctx)?;
    }
    run(&ctx, "bench", args)
}

pub fn soak(args: &[String]) -> Result<()> {
    let ctx = Ctx::new(project_root(), verbose(args));
    deps::ensure(
        &ctx,
        deps::Needs {
            bench: true,
            ..deps::Needs::default()
        },
    )?;
    run(&ctx, "soak", args)
}

/// Builds the release binaries and runs `lab <command> <args>` in the terminal: it
/// prints its own steps.
fn run(ctx: &Ctx, command: &str, args: &[String]) -> Result<()> {
    ctx.step("build", |s| {
        s.run(ctx.cargo().args([
            "build",
            "--release",
            "-p",
            "flashless-gateway",
            "--bin",
            "flashless",
            "-p",
            "flashless-lab",
            "--bins",
        ]))
    })?;
    let lab = ctx.target_dir().join("release/lab");
    let status = Command::new(&lab)
        .arg(command)
        .args(args)
        .current_dir(&ctx.root)
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => bail!("`lab {command}` exited with {status} (its error is above)"),
        Err(e) => bail!("cannot start {}: {e}", lab.display()),
    }
}

fn verbose(args: &[String]) -> bool {
    args.iter().any(|a| a == "-v" || a == "--verbose")
}

/// The benchmarks named: the arguments that are neither options nor their values.
fn names(args: &[String]) -> Vec<&str> {
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if VALUED.contains(&arg.as_str()) {
            it.next();
        } else if !arg.starts_with('-') {
            names.push(arg.as_str());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_skip_options_and_their_values() {
        let args = strings(&["--runs", "3", "fanout", "--minutes=2", "-v", "remux"]);
        assert_eq!(names(&args), ["fanout", "remux"]);
        assert!(names(&strings(&["--quick"])).is_empty());
        assert!(verbose(&args));
    }
}
