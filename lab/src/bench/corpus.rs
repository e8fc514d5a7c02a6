//! `lab bench corpus` (`cargo xtask bench corpus`): the corpus of nasty streams
//! (`crate::mangle`) played by flashless (the gateway's page and the npm package's
//! bare page), mpegts.js 1.8.2 and flv.js 1.6.2, four pages at once per case, all
//! reading the gateway's WS-FLV; into `docs/reliability.md`, a table of seconds
//! played of seconds watched.
//!
//! The same judge as the browser tests (`e2e/playback.mjs`): a second plays when
//! currentTime advances by at least 0.8 s in it; a jump (a skip ahead or back) counts
//! as played and is noted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::Args;
use crate::mangle::CASES;
use crate::peers::{Gateway, Guard, TempDir, release_dir};
use crate::report::{self, Machine, Peer};
use crate::{NPM_DIR, step};

/// The players, in the table's column order (as `lab/browser/corpus.mjs` names them).
const PLAYERS: [&str; 4] = [
    "flashless page",
    "flashless package",
    "mpegts.js 1.8.2",
    "flv.js 1.6.2",
];
/// Seconds watched per case, after a grace of `GRACE_S` for the player to start.
const SECONDS: u64 = 20;
const QUICK_SECONDS: u64 = 10;
const GRACE_S: u64 = 5;

/// One page's verdict, as `corpus.mjs` prints it.
#[derive(Debug, Clone, Deserialize)]
pub struct Verdict {
    pub player: String,
    pub watched: u64,
    pub played: u64,
    #[serde(default)]
    pub jumps: u64,
}

impl Verdict {
    /// `played + jumps of watched`, e.g. `18/20` or `20/20 (1 jump)`.
    pub fn cell(&self) -> String {
        let played = self.played + self.jumps;
        let mark = if played >= self.watched * 9 / 10 {
            ""
        } else {
            " ✗"
        };
        match self.jumps {
            0 => format!("{played}/{}{mark}", self.watched),
            n => format!("{played}/{} ({n} jump{}){mark}", self.watched, plural(n)),
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn run(root: &Path, args: &Args) -> Result<()> {
    let seconds = match (args.minutes, args.quick) {
        (Some(m), _) => ((m * 60.0).round() as u64).max(2),
        (None, true) => QUICK_SECONDS,
        (None, false) => SECONDS,
    };
    let load_before = report::load_average();
    let started = Instant::now();
    let dir = TempDir::new("corpus")?;
    let release = release_dir()?;
    let gateway = step("start the gateway", || {
        Gateway::start(
            Command::new(release.join("flashless")),
            &["--no-demo"],
            Some(&dir.0),
        )
    })?;
    let mut rows = Vec::new();
    for case in CASES {
        let verdicts = step(&format!("corpus {} ({seconds} s)", case.name), || {
            play_case(root, &gateway, &release, case.name, seconds)
        })?;
        let line: Vec<String> = verdicts
            .iter()
            .map(|v| format!("{} {}", v.player, v.cell()))
            .collect();
        println!("    {}", line.join(", "));
        rows.push((case, verdicts));
    }
    let machine = Machine::gather(
        root,
        load_before,
        &[
            Peer::Npm("mpegts.js"),
            Peer::Npm("flv.js"),
            Peer::Chromium,
            Peer::Node,
        ],
    );
    let mut command = "cargo xtask bench corpus".to_owned();
    if args.quick {
        command.push_str(" --quick");
    }
    if let Some(m) = args.minutes {
        command.push_str(&format!(" --minutes {m}"));
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## The corpus of nasty streams: flashless, mpegts.js and flv.js\n\n\
         Written by `{command}` in {:.0} min. Each case of the corpus (`lab/src/mangle/`, \
         also played by `e2e/corpus.test.mjs` in `cargo xtask test`) is published to the gateway \
         over RTMP by the mangler; four pages play it at once in Chromium, all reading the \
         gateway's WS-FLV: the gateway's viewer page, the npm package in a bare page, mpegts.js \
         (latency chasing on) and flv.js. Each page is watched {seconds} s, starting {GRACE_S} s \
         after it opened; a cell is the seconds in which its `currentTime` advanced by at least \
         0.8 s (a skip counts as played and is noted), of the seconds watched; ✗ marks under 90 %.{}\n",
        started.elapsed().as_secs_f64() / 60.0,
        if seconds < SECONDS {
            format!(" A short run ({seconds} s per case, not {SECONDS}) to keep it quick.")
        } else {
            String::new()
        }
    );
    machine.write(&mut s);
    let mut titles = vec!["case", "what"];
    titles.extend(PLAYERS);
    report::table_head(&mut s, &titles, &[false, false, true, true, true, true]);
    for (case, verdicts) in &rows {
        let by: BTreeMap<&str, &Verdict> =
            verdicts.iter().map(|v| (v.player.as_str(), v)).collect();
        let mut cells = vec![format!("`{}`", case.name), case.what.to_owned()];
        cells.extend(
            PLAYERS
                .iter()
                .map(|p| by.get(p).map_or("—".to_owned(), |v| v.cell())),
        );
        report::row(&mut s, &cells);
    }
    s.push('\n');
    drop(gateway);
    step("write docs/reliability.md (corpus)", || {
        report::write_section(&root.join("docs/reliability.md"), "", "corpus", &s)
    })
}

/// Publishes `case` with the mangler, plays it in the four pages, stops the mangler.
fn play_case(
    root: &Path,
    gateway: &Gateway,
    release: &Path,
    case: &str,
    seconds: u64,
) -> Result<Vec<Verdict>> {
    let mut mangle = Command::new(release.join("mangle"));
    mangle
        .args([case, &gateway.rtmp_url(case)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _mangle = Guard::spawn(&mut mangle, "the mangler")?;
    gateway.wait_live(case, Duration::from_secs(20))?;
    let config = serde_json::json!({
        "gateway": format!("http://127.0.0.1:{}", gateway.http),
        "channel": case,
        "seconds": seconds,
        "graceSeconds": GRACE_S,
    });
    let script = root.join(NPM_DIR).join("corpus.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(config.to_string())
        .current_dir(root)
        .output()
        .context("running node lab/browser/corpus.mjs")?;
    if !out.status.success() {
        bail!(
            "node corpus.mjs exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// The JSON lines of `corpus.mjs`, one verdict per page.
pub fn parse(text: &str) -> Result<Vec<Verdict>> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("not a verdict: {l}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_parse_and_make_cells() {
        let v = parse(
            "noise\n{\"player\":\"flv.js 1.6.2\",\"watched\":20,\"played\":12,\"jumps\":0,\"windows\":\"pp\"}\n\
             {\"player\":\"flashless page\",\"watched\":20,\"played\":18,\"jumps\":1}\n",
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].cell(), "12/20 ✗");
        assert_eq!(v[1].cell(), "19/20 (1 jump)");
        assert!(parse("{\"player\":1}").is_err());
    }
}
