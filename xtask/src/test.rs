//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::step::Ctx;
use crate::{deps, flag_value, fuzz, parse_seconds, project_root, wasm};

#[derive(Debug, PartialEq)]
pub struct Args {
    pub skip_deps: bool,
    pub no_fuzz: bool,
    pub fuzz_time: u64,
    pub verbose: bool,
    /// Passed on to every test binary (after `--`): a filter, `--nocapture`.
    pub test_args: Vec<String>,
}

impl Args {
    pub fn parse(args: &[String]) -> Result<Args> {
        let mut parsed = Args {
            skip_deps: false,
            no_fuzz: false,
            fuzz_time: 3,
            verbose: false,
            test_args: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--skip-deps" => parsed.skip_deps = true,
                "--no-fuzz" => parsed.no_fuzz = true,
                "-v" | "--verbose" => parsed.verbose = true,
                "--" => {
                    parsed.test_args = it.cloned().collect();
                    break;
                }
                _ => match flag_value("--fuzz-time", arg, &mut it)? {
                    Some(value) => parsed.fuzz_time = parse_seconds("--fuzz-time", value)?,
                    None => bail!(
                        "unknown option `{arg}` for `cargo xtask test` (see `cargo xtask help`)"
                    ),
                },
            }
        }
        Ok(parsed)
    }
}

pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let ctx = Ctx::new(project_root(), args.verbose);
    let fuzzing = !args.no_fuzz && fuzz::present(&ctx);
    if !args.skip_deps {
        deps::ensure(
            &ctx,
            deps::Needs {
                test: true,
                fuzz: fuzzing,
                wasm: false,
                bench: false,
            },
        )?;
    }
    ctx.step("fmt", |s| {
        s.run(ctx.cargo().args(["fmt", "--all", "--", "--check"]))?;
        // The fuzz crate is a workspace of its own, so `--all` does not reach it.
        if fuzz::present(&ctx) {
            s.run(
                ctx.cargo()
                    .args(["fmt", "--manifest-path", fuzz::MANIFEST, "--", "--check"]),
            )?;
        }
        Ok(())
    })?;
    // Before clippy and the tests, so the gateway embeds this package once, not twice.
    wasm::build(&ctx)?;
    ctx.step("clippy", |s| {
        s.run(ctx.cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    // The core must keep building for the browser, on its own and
    // in the browser crate (a debug build; the package step above built the `wasm` profile).
    ctx.step("wasm", |s| {
        for krate in ["flashless-core", wasm::CRATE] {
            s.run(
                ctx.cargo()
                    .args(["build", "-p", krate, "--target", wasm::TARGET]),
            )?;
        }
        // The lean build (`flashless/lite`) and the pictures module: their features' cfgs
        // left no warning behind.
        for features in [wasm::LITE_FEATURES, wasm::PICTURES_FEATURES] {
            s.run(
                ctx.cargo()
                    .args(["clippy", "-p", "flashless-core", "-p", wasm::CRATE])
                    .args(features)
                    .args(["--all-targets", "--", "-D", "warnings"]),
            )?;
        }
        Ok(())
    })?;
    ctx.step("deploy manifests", |s| {
        let manifests = std::fs::read_dir(ctx.root.join("deploy/k8s"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"));
        s.run(
            std::process::Command::new("kubernetes-validate")
                .args(["--strict", "--quiet"])
                .args(manifests),
        )
    })?;
    let tally = ctx.step("test", |s| {
        let built = s.stdout(ctx.cargo().args([
            "test",
            "--workspace",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ]))?;
        let (alone, paired): (Vec<TestBinary>, Vec<TestBinary>) =
            test_binaries(&built)?.into_iter().partition(|b| b.alone);
        let command = |b: TestBinary| {
            let mut cmd = Command::new(b.executable);
            cmd.args(&args.test_args).current_dir(b.package_dir);
            cmd
        };
        let mut runs: Vec<Command> = paired.into_iter().map(command).collect();
        let mut doc = ctx.cargo();
        doc.args(["test", "--workspace", "--doc", "--"])
            .args(&args.test_args);
        runs.push(doc);
        s.run_all(runs, TEST_BINARIES_AT_ONCE)?;
        s.run_all(alone.into_iter().map(command).collect(), 1)?;
        Ok(Tally::of(&s.log_text()))
    })?;
    let package = ctx.step("package tests", |s| {
        s.run(
            std::process::Command::new("node")
                .args(["--test", "pkg/test/"])
                .current_dir(&ctx.root),
        )?;
        Ok(Tally::of(&s.log_text()))
    })?;
    // The debug gateway that `cargo test` built, with the package just built embedded,
    // and the mangler that publishes the corpus of nasty streams (`e2e/corpus.test.mjs`).
    let browser = ctx.step("browser tests", |s| {
        s.run(ctx.cargo().args([
            "build",
            "-p",
            "flashless-gateway",
            "--bin",
            "flashless",
            "-p",
            "flashless-lab",
            "--bin",
            "mangle",
        ]))?;
        let e2e = ctx.root.join("e2e");
        let (alone, paired) = browser_test_files(&e2e)?;
        let node = |files: &[String]| {
            let mut cmd = Command::new("node");
            cmd.arg("--test")
                .arg("--test-concurrency=1")
                .args(files)
                .env("FLASHLESS_BIN", ctx.target_dir().join("debug/flashless"))
                .env("MANGLE_BIN", ctx.target_dir().join("debug/mangle"))
                .current_dir(&e2e);
            cmd
        };
        // A node per file, in the order given (node's runner sorts the files it is
        // given by name). Both runs whatever the first gives, so that one failure
        // hides no other.
        let paired_run = s.run_all(paired.chunks(1).map(node).collect(), BROWSER_FILES_AT_ONCE);
        let alone_run = s.run(&mut node(&alone));
        let log = s.log_text();
        // Seen whatever the outcome: what was found of each hang is what tells its cause.
        for hang in log
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(RETRIED))
        {
            println!("run again: {hang}");
        }
        if let (Err(paired), Err(alone)) = (&paired_run, &alone_run) {
            bail!("{paired:#}; and {alone:#}");
        }
        paired_run?;
        alone_run?;
        Ok(Tally::of(&log))
    })?;
    if fuzzing {
        fuzz::smoke(&ctx, args.fuzz_time)?;
    }
    println!("ok in {:.0}s", started.elapsed().as_secs_f64());
    // Last, so whoever reads the closing line sees the count of tests that ran.
    let tally = [tally, package, browser]
        .into_iter()
        .flatten()
        .reduce(|a, b| Tally {
            passed: a.passed + b.passed,
            failed: a.failed + b.failed,
            ignored: a.ignored + b.ignored,
            expected_failures: a.expected_failures + b.expected_failures,
            retried: a.retried + b.retried,
        });
    if let Some(t) = tally {
        println!(
            "tests: {} passed, {} failed, {} skipped, {} expected failures, {} run again after Firefox stopped answering",
            t.passed, t.failed, t.ignored, t.expected_failures, t.retried
        );
    }
    Ok(())
}

/// How many test binaries run at once. Most of their time is spent waiting on real
/// peers that stream in real time (nginx, ffmpeg publishing, timeouts), not on a core:
/// on 2 cores, one after the other they took 315 s, four at once about 100 s.
const TEST_BINARIES_AT_ONCE: usize = 4;

/// Test binaries (by target name) that run after the others, alone: each takes a core
/// for a while (`hls_corpus` publishes the 27 streams of the corpus at once), which
/// would starve the timing-bound tests running beside it.
const TEST_BINARIES_ALONE: &[&str] = &["hls_corpus"];

/// Browser test files run this many at a time. Most of their time is spent watching
/// playback in real time: run one after another, they took 1,222 s, with the two cores
/// 60–75 % idle; two at a time, about 645 s, the cores 40–60 % busy; three at a time,
/// 486 s (the longest file's own time, nearly), 50–85 % busy. Since then the files grew
/// (1,830 s of their own time three at a time) and Firefox plays sound: three at a time
/// ran 36 processes ready for the two cores, and two full runs in a row (2026-12-07)
/// failed the same seven timing checks in five files (hls.js's and ertmp's, run alone
/// after, passed).
const BROWSER_FILES_AT_ONCE: usize = 2;

/// Browser test files that run one at a time, after the others: the corpus plays six
/// pages at once already (two cases, three players each); the WebCodecs tests count the
/// sound's underruns (its margin comes down only after 20 s without one), and WebKitGTK's
/// own HLS (GStreamer's hlsdemux) restarts its timeline: beside another file, each failed
/// once in three runs. hls.js's latency to the live edge, 1.5 s and steady alone, grew
/// second after second beside one other file (2.7 → 3.0 s and 2.7 → 4.6 s in two full runs
/// of 2026-12-07): it does not catch up after a starved second, and its bound is for what
/// the gateway's playlists make of it.
const BROWSER_FILES_ALONE: &[&str] = &[
    "corpus.test.mjs",
    "hls.test.mjs",
    "nativehls.test.mjs",
    "webcodecs.test.mjs",
];

/// The longest browser test files that run paired, started first, one in each lane, in
/// this order: started in their turn by name, such a file ended the run alone for minutes
/// (`player.test.mjs`, 501 s before `publisher.test.mjs` was split from it, for three of
/// its eight). About 250 s, 250 s and 225 s; the others, 20–100 s each, fill the lanes
/// after them.
const BROWSER_FILES_FIRST: &[&str] = &["player.test.mjs", "publisher.test.mjs", "legacy.test.mjs"];

/// The browser test files in `e2e` (`*.test.mjs`): those that run alone, by name, and
/// the rest, [`BROWSER_FILES_FIRST`] first and the others by name.
fn browser_test_files(e2e: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let mut files: Vec<String> = fs::read_dir(e2e)
        .with_context(|| format!("listing {}", e2e.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".test.mjs"))
        .collect();
    files.sort();
    let (alone, mut paired): (Vec<String>, Vec<String>) = files
        .into_iter()
        .partition(|name| BROWSER_FILES_ALONE.contains(&name.as_str()));
    for (i, first) in BROWSER_FILES_FIRST.iter().enumerate() {
        let Some(at) = paired.iter().position(|name| name == first) else {
            bail!("{} lacks {first}", e2e.display());
        };
        paired[i..=at].rotate_right(1);
    }
    if alone.len() != BROWSER_FILES_ALONE.len() {
        bail!(
            "{} lacks a browser test file: found {alone:?} of {BROWSER_FILES_ALONE:?}",
            e2e.display(),
        );
    }
    Ok((alone, paired))
}

/// A test binary `cargo test --no-run` built, and where cargo would run it (its
/// package's directory).
#[derive(Debug, PartialEq)]
struct TestBinary {
    executable: PathBuf,
    package_dir: PathBuf,
    /// One of [`TEST_BINARIES_ALONE`].
    alone: bool,
}

/// The test binaries in cargo's JSON messages (`--message-format=json…`), the
/// gateway's first: its network tests are the longest, and started first they do not
/// end the run alone.
fn test_binaries(messages: &str) -> Result<Vec<TestBinary>> {
    let mut out = Vec::new();
    for line in messages.lines().filter(|l| l.starts_with('{')) {
        let m: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("cargo printed `{line}`"))?;
        let (Some(exe), Some(manifest)) = (m["executable"].as_str(), m["manifest_path"].as_str())
        else {
            continue;
        };
        if m["reason"] != "compiler-artifact" || m["profile"]["test"] != true {
            continue;
        }
        let name = m["target"]["name"].as_str().unwrap_or_default();
        out.push(TestBinary {
            alone: TEST_BINARIES_ALONE.contains(&name),
            executable: exe.into(),
            package_dir: Path::new(manifest)
                .parent()
                .with_context(|| format!("a manifest path without a directory: {manifest}"))?
                .into(),
        });
    }
    if out.is_empty() {
        bail!("cargo test --no-run named no test binary");
    }
    // A renamed file would run beside the others again, unnoticed.
    let alone = out.iter().filter(|b| b.alone).count();
    if alone != TEST_BINARIES_ALONE.len() {
        bail!("cargo test --no-run named {alone} of the test binaries {TEST_BINARIES_ALONE:?}");
    }
    out.sort_by_key(|b| !b.package_dir.ends_with("gateway"));
    Ok(out)
}

/// How a browser test run again after Firefox stopped answering says so (`test` in
/// e2e/engines.mjs), with what was found of the hang after it.
const RETRIED: &str = "# retried: ";

/// The sum of libtest's `test result:` lines and of node's test runner's `# pass N` lines.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    passed: u64,
    failed: u64,
    ignored: u64,
    /// Node's `# todo N`: the browser tests' checks an engine is documented to fail
    /// (`EXPECTED_FAILURES` in e2e/engines.mjs), neither passed nor hidden.
    expected_failures: u64,
    /// Node's `# retried: …` diagnostics: browser tests run again after Firefox stopped
    /// answering (`test` in e2e/engines.mjs), counted in `passed` or `failed` once.
    retried: u64,
}

impl Tally {
    /// `None` when the output holds no summary (e.g. `--verbose`, where it went to the terminal).
    fn of(log: &str) -> Option<Tally> {
        let mut tally = Tally::default();
        let mut any = false;
        for line in log.lines() {
            if line.trim_start().starts_with(RETRIED) {
                tally.retried += 1;
                continue;
            }
            let mut words = line.split_whitespace();
            if let (Some("#"), Some(what), Some(n), None) = (
                words.next(),
                words.next(),
                words.next().and_then(|n| n.parse::<u64>().ok()),
                words.next(),
            ) {
                match what {
                    "pass" => tally.passed += n,
                    "fail" => tally.failed += n,
                    "skipped" => tally.ignored += n,
                    "todo" => tally.expected_failures += n,
                    _ => continue,
                }
                any = true;
            }
        }
        for line in log.lines().filter_map(|l| l.strip_prefix("test result: ")) {
            any = true;
            for part in line.split(['.', ';']) {
                let mut words = part.split_whitespace();
                if let (Some(n), Some(what)) = (
                    words.next().and_then(|n| n.parse::<u64>().ok()),
                    words.next(),
                ) {
                    match what {
                        "passed" => tally.passed += n,
                        "failed" => tally.failed += n,
                        "ignored" => tally.ignored += n,
                        _ => {}
                    }
                }
            }
        }
        any.then_some(tally)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_timing_bound_browser_test_files_run_alone_and_the_others_together() {
        let (alone, paired) = super::browser_test_files(&crate::project_root().join("e2e"))
            .expect("the e2e directory's test files");
        assert_eq!(alone, super::BROWSER_FILES_ALONE);
        let firsts = super::BROWSER_FILES_FIRST.len();
        assert_eq!(paired[..firsts], *super::BROWSER_FILES_FIRST);
        assert!(paired[firsts..].is_sorted(), "{paired:?}");
        assert!(
            paired
                .iter()
                .all(|f| f.ends_with(".test.mjs") && !alone.contains(f)),
            "{paired:?}"
        );
    }

    #[test]
    fn tally_sums_libtest_summaries() {
        let log = "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.1s\n\
                   noise\n\
                   test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1s\n";
        let t = super::Tally::of(log).unwrap();
        assert_eq!((t.passed, t.failed, t.ignored), (15, 2, 1));
        assert!(super::Tally::of("no summary here").is_none());
    }

    #[test]
    fn test_binaries_are_the_test_artifacts_gateway_first_and_the_heavy_alone() {
        let messages = r#"{"reason":"compiler-artifact","manifest_path":"/w/core/Cargo.toml","target":{"name":"chunk"},"profile":{"test":true},"executable":"/w/target/debug/deps/chunk-1"}
{"reason":"compiler-artifact","manifest_path":"/w/core/Cargo.toml","profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","manifest_path":"/w/gateway/Cargo.toml","profile":{"test":false},"executable":"/w/target/debug/flashless"}
{"reason":"compiler-artifact","manifest_path":"/w/gateway/Cargo.toml","target":{"name":"hls"},"profile":{"test":true},"executable":"/w/target/debug/deps/hls-2"}
{"reason":"compiler-artifact","manifest_path":"/w/gateway/Cargo.toml","target":{"name":"hls_corpus"},"profile":{"test":true},"executable":"/w/target/debug/deps/hls_corpus-3"}
{"reason":"build-finished","success":true}
"#;
        let found = super::test_binaries(messages).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|b| {
                (
                    b.executable.to_str().unwrap(),
                    b.package_dir.to_str().unwrap(),
                    b.alone,
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("/w/target/debug/deps/hls-2", "/w/gateway", false),
                ("/w/target/debug/deps/hls_corpus-3", "/w/gateway", true),
                ("/w/target/debug/deps/chunk-1", "/w/core", false),
            ]
        );
        assert!(super::test_binaries("{\"reason\":\"build-finished\"}").is_err());
        // One that runs alone, missing (renamed).
        let renamed = messages.replace("\"hls_corpus\"", "\"hls_corpora\"");
        assert!(super::test_binaries(&renamed).is_err());
        assert!(super::test_binaries("{not json").is_err());
    }

    #[test]
    fn tally_reads_node_test_runner_summaries() {
        let log = "# retried: Firefox's page did not answer in 20000 ms\n\
                   # tests 8\n# suites 0\n# pass 6\n# fail 1\n# cancelled 0\n# skipped 2\n# todo 1\n";
        let t = super::Tally::of(log).unwrap();
        assert_eq!(
            (
                t.passed,
                t.failed,
                t.ignored,
                t.expected_failures,
                t.retried
            ),
            (6, 1, 2, 1, 1)
        );
    }

    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Args::parse(&args)
    }

    #[test]
    fn defaults_run_everything() {
        let args = parse(&[]).unwrap();
        assert!(!args.skip_deps && !args.no_fuzz && !args.verbose);
        assert_eq!(args.fuzz_time, 3);
        assert!(args.test_args.is_empty());
    }

    #[test]
    fn options_and_args_after_separator() {
        let args = parse(&[
            "--skip-deps",
            "--fuzz-time",
            "5",
            "--",
            "--no-fuzz",
            "chunk",
        ])
        .unwrap();
        assert!(args.skip_deps);
        assert!(!args.no_fuzz, "flags after -- belong to cargo test");
        assert_eq!(args.fuzz_time, 5);
        assert_eq!(args.test_args, ["--no-fuzz", "chunk"]);
    }

    #[test]
    fn rejects_unknown_options_and_bad_times() {
        assert!(parse(&["--fast"]).is_err());
        assert!(parse(&["--fuzz-time=soon"]).is_err());
    }
}
