//! `cargo xtask …`: build, run and test orchestration for flashless (the matklad
//! xtask pattern). CI runs `cargo xtask test`; it installs what is missing, prints
//! one line per step and fails with the step's name.

mod deps;
mod fuzz;
mod lab;
mod step;
mod test;
mod tidy;
mod wasm;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::step::Ctx;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test [options] [-- <test binary args>]
        deps, fmt, wasm package, clippy, wasm build, the workspace's test
        binaries (4 at once), package and browser tests, fuzz smoke; after
        `--`: passed to every test binary (a filter, --nocapture)
        --skip-deps       do not check or install tools and packages
        --no-fuzz         skip the fuzz smoke run
        --fuzz-time N     seconds per fuzz target in the smoke run (default 3)
        -v, --verbose     stream every command's output instead of logging it
  run [-- <serve args>]
        cargo run --release the gateway: `flashless serve <serve args>`
  fuzz [options] [target...]
        run fuzz targets (default: all) one after the other
        --time N          seconds per target (default 60)
        --skip-deps       do not install cargo-fuzz when missing
        -v, --verbose     stream libFuzzer's output
  wasm [-v]
        build the npm package's wasm and glue into pkg/ and print their sizes
  soak [--minutes N] [--restart-every M] [--viewers V] [-v]
        a pulled channel whose origin restarts every M minutes (default 3), viewers
        churning in rounds of V (default 300), for N minutes (default 60); the
        samples go into docs/reliability.md
  bench [options] [payload|fanout|http-fanout|rtmp-fanout|remux|latency|longrun|corpus|engines|hls|page-cpu...]
        flashless against its peers, side by side (default: all but longrun,
        corpus, engines, hls and page-cpu); rewrites the benchmark's section of
        docs/benchmarks.md.
        remux: FLV → fMP4 in Chromium against mpegts.js and flv.js, and natively
        (criterion). corpus: the nasty streams of the browser tests played by
        flashless, mpegts.js and flv.js, into docs/reliability.md. engines: the
        package's latency in Chromium, Firefox, WebKitGTK. hls: LL-HLS in hls.js
        beside the gateway's WS-FLV page. page-cpu: the player pages' main-thread
        time per minute of 1080p playback, beside mpegts.js
        --quick           fewer steps, one run, short playback (for development);
                          remux: one 30 s recording, 3 runs
        --runs N          runs per server (default 3), per remuxer (default 5) or
                          per page of page-cpu (default 3)
        --minutes N       playback per setup of latency, engines (default 5) and hls (2),
                          longrun (default 30), per case of corpus (default 1/3), per
                          window of page-cpu (default 1)
        --only A,B        only these setups of latency, engines, hls, longrun (their
                          directories in target/bench/<bench>/, e.g. flashless,
                          package-flashless); prints, leaves docs/benchmarks.md as it is
        --profile         page-cpu: each window under Chromium's sampling profiler, its
                          top self times in target/bench/page-cpu/browser.log; leaves
                          docs/benchmarks.md as it is
        --skip-deps       do not install the peers when missing
        -v, --verbose     stream every command's output
  help  this text

Quiet steps log to target/xtask/<step>.log; a failing step prints its log.";

fn main() -> ExitCode {
    // Printed with `{:#}` rather than returned: the error chain already names the
    // step and the command, and a backtrace (RUST_BACKTRACE is often set) is noise.
    match dispatch() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match command.as_str() {
        "test" => test::run(&test::Args::parse(rest)?),
        "run" => run_gateway(strip_separator(rest)),
        "fuzz" => fuzz::run_cmd(&fuzz::Args::parse(rest)?),
        "wasm" => match rest {
            [] => wasm::run_cmd(false),
            [v] if v == "-v" || v == "--verbose" => wasm::run_cmd(true),
            _ => bail!("`cargo xtask wasm` takes only -v (see `cargo xtask help`)"),
        },
        "bench" => lab::bench(rest),
        "soak" => lab::soak(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// `cargo xtask run -- --port 1` and `cargo xtask run --port 1` mean the same.
fn strip_separator(args: &[String]) -> &[String] {
    match args.split_first() {
        Some((first, rest)) if first == "--" => rest,
        _ => args,
    }
}

fn run_gateway(args: &[String]) -> Result<()> {
    // Verbose: the server's own output is the point of running it.
    let ctx = Ctx::new(project_root(), true);
    // The page plays through the npm package, which the gateway serves from its binary.
    deps::ensure(
        &ctx,
        deps::Needs {
            wasm: true,
            ..deps::Needs::default()
        },
    )?;
    wasm::build(&ctx)?;
    ctx.step("serve", |s| {
        s.run(
            ctx.cargo()
                .args([
                    "run",
                    "--release",
                    "-p",
                    "flashless-gateway",
                    "--bin",
                    "flashless",
                ])
                .args(["--", "serve"])
                .args(args),
        )
    })
}

/// The workspace root: xtask lives one level below it.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

/// The cargo that runs us, so nested builds use the same toolchain.
fn cargo_bin() -> std::ffi::OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn cargo_command() -> Command {
    Command::new(cargo_bin())
}

/// Parses the number after a flag like `--time`, accepting `--time 5` and `--time=5`.
fn flag_value<'a>(
    flag: &str,
    arg: &'a str,
    rest: &mut impl Iterator<Item = &'a String>,
) -> Result<Option<&'a str>> {
    if arg == flag {
        let value = rest
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        return Ok(Some(value));
    }
    Ok(arg
        .strip_prefix(flag)
        .and_then(|tail| tail.strip_prefix('=')))
}

fn parse_seconds(flag: &str, value: &str) -> Result<u64> {
    value
        .parse()
        .with_context(|| format!("{flag} takes whole seconds, got `{value}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn run_accepts_args_with_or_without_separator() {
        assert_eq!(strip_separator(&strings(&["--", "-p", "1"])), ["-p", "1"]);
        assert_eq!(strip_separator(&strings(&["-p", "1"])), ["-p", "1"]);
    }

    #[test]
    fn flag_value_takes_next_or_inline_value() {
        let rest = strings(&["7"]);
        let mut it = rest.iter();
        assert_eq!(flag_value("--time", "--time", &mut it).unwrap(), Some("7"));
        let mut none = [].iter();
        assert_eq!(
            flag_value("--time", "--time=9", &mut none).unwrap(),
            Some("9")
        );
        assert_eq!(flag_value("--time", "--timer", &mut none).unwrap(), None);
        assert!(flag_value("--time", "--time", &mut none).is_err());
    }
}
