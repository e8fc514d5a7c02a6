//! `lab bench [payload|fanout|http-fanout|rtmp-fanout|remux|latency|longrun|corpus|engines|hls|page-cpu]` (run by `cargo xtask bench`,
//! which installs the peers and builds the wasm package and the release binaries
//! first): flashless against its peers on the same machine in the same run, and their
//! figures in `docs/benchmarks.md`.
//!
//! Benchmarks, not tests: `cargo xtask test` never runs them, and their numbers
//! depend on the machine and on what else it is doing.

pub mod corpus;
pub mod fanout;
pub mod latency;
pub mod page_cpu;
pub mod payload;
pub mod remux;

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::peers::Server;
use crate::report;

/// The document every benchmark writes its section of.
const DOC: &str = "docs/benchmarks.md";
const DOC_HEADER: &str = "# Benchmarks\n\nWritten by `cargo xtask bench`; each section between its markers is \
replaced by the benchmark that owns it. Figures depend on the machine and on what else it was \
doing: compare servers within one section, not across machines.\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bench {
    /// What a page downloads: each build of the package beside flv.js and mpegts.js.
    Payload,
    /// WS-FLV viewers: flashless against node-media-server.
    Fanout,
    /// HTTP-FLV viewers: flashless against node-media-server.
    HttpFanout,
    /// RTMP players: flashless against nginx-rtmp.
    RtmpFanout,
    /// FLV → fMP4 in the browser: flashless against mpegts.js and flv.js (`remux.rs`).
    Remux,
    /// Source-to-screen latency in Chromium: the flashless page against mpegts.js.
    Latency,
    /// 30 minutes of the flashless page: latency drift and memory.
    Longrun,
    /// The corpus of nasty streams in flashless, mpegts.js and flv.js (`corpus.rs`),
    /// into `docs/reliability.md`.
    Corpus,
    /// The package's latency and time to first frame in Chromium, Firefox and WebKitGTK.
    Engines,
    /// Low-Latency HLS in hls.js beside the gateway's WS-FLV page, source to screen.
    Hls,
    /// The player pages' main-thread time per minute of 1080p playback, beside mpegts.js.
    PageCpu,
}

impl Bench {
    const ALL: [Bench; 11] = [
        Bench::Payload,
        Bench::Fanout,
        Bench::HttpFanout,
        Bench::RtmpFanout,
        Bench::Remux,
        Bench::Latency,
        Bench::Longrun,
        Bench::Corpus,
        Bench::Engines,
        Bench::Hls,
        Bench::PageCpu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bench::Payload => "payload",
            Bench::Fanout => "fanout",
            Bench::HttpFanout => "http-fanout",
            Bench::RtmpFanout => "rtmp-fanout",
            Bench::Remux => "remux",
            Bench::Latency => "latency",
            Bench::Longrun => "longrun",
            Bench::Corpus => "corpus",
            Bench::Engines => "engines",
            Bench::Hls => "hls",
            Bench::PageCpu => "page-cpu",
        }
    }

    /// The server compared with; `None` for a benchmark that starts no server.
    pub fn peer(self) -> Option<Server> {
        match self {
            Bench::Fanout | Bench::HttpFanout | Bench::Latency => Some(Server::NodeMedia),
            Bench::RtmpFanout => Some(Server::NginxRtmp),
            Bench::Remux | Bench::Payload => None,
            // Every player reads the flashless gateway.
            Bench::Corpus => Some(Server::Flashless),
            // Only the flashless page plays in the long run; only the package across engines.
            Bench::Longrun | Bench::Engines | Bench::Hls | Bench::PageCpu => {
                Some(Server::Flashless)
            }
        }
    }

    /// Played in a browser, with its own setups (`latency.rs`), not the load generator.
    fn in_browser(self) -> bool {
        matches!(
            self,
            Bench::Latency | Bench::Longrun | Bench::Engines | Bench::Hls
        )
    }
}

#[derive(Debug, PartialEq)]
pub struct Args {
    pub benches: Vec<Bench>,
    pub quick: bool,
    pub runs: Option<usize>,
    /// Minutes of playback, for the benchmarks in the browser.
    pub minutes: Option<f64>,
    /// The browser benchmarks' setups to run (their slugs), all when empty. A run cut
    /// this way prints its figures and leaves `docs/benchmarks.md` as it is.
    pub only: Vec<String>,
    /// page-cpu: record each window with Chromium's sampling profiler and print where
    /// the script time goes; the profiler's cost leaves `docs/benchmarks.md` as it is.
    pub profile: bool,
    /// Installing the peers is xtask's; accepted here so the options pass through.
    pub skip_deps: bool,
    pub verbose: bool,
}

impl Args {
    pub fn parse(args: &[String]) -> Result<Args> {
        let mut parsed = Args {
            benches: Vec::new(),
            quick: false,
            runs: None,
            minutes: None,
            only: Vec::new(),
            profile: false,
            skip_deps: false,
            verbose: false,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => parsed.quick = true,
                "--skip-deps" => parsed.skip_deps = true,
                "--profile" => parsed.profile = true,
                "-v" | "--verbose" => parsed.verbose = true,
                name if !name.starts_with('-') => {
                    let Some(bench) = Bench::ALL.into_iter().find(|b| b.name() == name) else {
                        bail!(
                            "unknown benchmark `{name}` (payload, fanout, http-fanout, rtmp-fanout, remux, latency, longrun, corpus, engines, hls, page-cpu)"
                        );
                    };
                    parsed.benches.push(bench);
                }
                _ => {
                    if let Some(v) = flag_value("--runs", arg, &mut it)? {
                        let runs = v.parse().ok().filter(|&n| n > 0);
                        parsed.runs =
                            Some(runs.with_context(|| format!("--runs takes a count, got `{v}`"))?);
                    } else if let Some(v) = flag_value("--minutes", arg, &mut it)? {
                        let minutes = v.parse().ok().filter(|&m: &f64| m > 0.0);
                        parsed.minutes = Some(minutes.with_context(|| {
                            format!("--minutes takes a positive number, got `{v}`")
                        })?);
                    } else if let Some(v) = flag_value("--only", arg, &mut it)? {
                        parsed.only = v
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect();
                        if parsed.only.is_empty() {
                            bail!("--only takes setups, e.g. `--only flashless,package-flashless`");
                        }
                    } else {
                        bail!(
                            "unknown option `{arg}` for `cargo xtask bench` (see `cargo xtask help`)"
                        );
                    }
                }
            }
        }
        if parsed.benches.is_empty() {
            // The half-hour long run, the corpus, the other engines, HLS and page CPU only when named.
            parsed.benches = Bench::ALL
                .into_iter()
                .filter(|&b| {
                    !matches!(
                        b,
                        Bench::Longrun
                            | Bench::Corpus
                            | Bench::Engines
                            | Bench::Hls
                            | Bench::PageCpu
                    )
                })
                .collect();
        }
        if parsed.profile && parsed.benches != [Bench::PageCpu] {
            bail!("--profile is page-cpu's: `cargo xtask bench page-cpu --profile`");
        }
        if !parsed.only.is_empty() && !parsed.benches.iter().any(|b| b.in_browser()) {
            bail!("--only picks setups of latency, longrun, engines or hls, and none is named");
        }
        Ok(parsed)
    }
}

/// Parses the value after a flag like `--runs`, accepting `--runs 5` and `--runs=5`.
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

pub fn run(root: &Path, args: &Args) -> Result<()> {
    if args.benches.contains(&Bench::Payload) {
        payload::run(root, args)?;
    }
    if args.benches.contains(&Bench::Remux) {
        remux::run(root, args)?;
    }
    if args.benches.contains(&Bench::Corpus) {
        corpus::run(root, args)?;
    }
    if args.benches.contains(&Bench::PageCpu) {
        page_cpu::run(root, args)?;
    }
    let (in_browser, load): (Vec<Bench>, Vec<Bench>) = args
        .benches
        .iter()
        .filter(|&&b| {
            !matches!(
                b,
                Bench::Payload | Bench::Remux | Bench::Corpus | Bench::PageCpu
            )
        })
        .partition(|b| b.in_browser());
    for &bench in &in_browser {
        latency::run(root, bench, args)?;
    }
    if !load.is_empty() {
        fanout::run(root, &load, args)?;
    }
    Ok(())
}

/// Rewrites `name`'s section of `docs/benchmarks.md`.
fn write_doc(root: &Path, name: &str, body: &str) -> Result<()> {
    crate::step(&format!("write {DOC} ({name})"), || {
        report::write_section(&root.join(DOC), DOC_HEADER, name, body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Args::parse(&args)
    }

    #[test]
    fn no_name_runs_every_benchmark_but_the_long_run() {
        let args = parse(&["--quick"]).unwrap();
        assert_eq!(args.benches, Bench::ALL[..6]);
        assert_eq!(
            parse(&["http-fanout"]).unwrap().benches,
            [Bench::HttpFanout]
        );
        assert!(args.quick);
        assert_eq!(parse(&["longrun"]).unwrap().benches, [Bench::Longrun]);
        assert_eq!(parse(&["corpus"]).unwrap().benches, [Bench::Corpus]);
        assert_eq!(
            parse(&["latency", "--minutes", "0.5"]).unwrap().minutes,
            Some(0.5)
        );
        assert!(parse(&["--minutes=0"]).is_err());
        assert_eq!(parse(&["rtmp-fanout", "--runs=2"]).unwrap().runs, Some(2));
        assert!(parse(&["fan"]).is_err());
        assert!(parse(&["--runs", "0"]).is_err());
        assert_eq!(
            parse(&["latency", "--only", "flashless,package-flashless"])
                .unwrap()
                .only,
            ["flashless", "package-flashless"]
        );
        assert!(parse(&["latency", "--only=,"]).is_err());
        assert!(parse(&["fanout", "--only", "flashless"]).is_err());
        assert!(parse(&["page-cpu", "--profile"]).unwrap().profile);
        assert!(parse(&["fanout", "--profile"]).is_err());
    }
}
