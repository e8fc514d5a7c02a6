//! What every report shares: the machine and versions a run measured, medians and
//! percentiles, Markdown table rows, and a document's sections. Each benchmark's `doc`
//! module writes only its own figures and method; the soak writes its table.
//!
//! A section sits between `<!-- bench:{name}:start -->` and its end marker; only that
//! text is replaced, the rest of the document belongs to other runs.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::NPM_DIR;

/// A peer whose version a report names, after flashless's and before ffmpeg's.
pub enum Peer {
    /// A package from the lab's npm lock (`lab/browser`).
    Npm(&'static str),
    Node,
    /// nginx and Debian's RTMP module for it.
    Nginx,
    /// Debian's Chromium, as `chromium --version` says.
    Chromium,
    /// A version the run learnt itself (the browser a page ran in).
    Named(&'static str, String),
    Rustc,
}

/// The machine a run measured on, how busy it was, and the versions measured: the
/// footer of every benchmark's section.
pub struct Machine {
    cores: usize,
    cpu: String,
    date: String,
    load_before: String,
    load_after: String,
    versions: Vec<(String, String)>,
}

impl Machine {
    /// Taken when a run ends: flashless's commit, then `peers`' versions, then ffmpeg's.
    pub fn gather(root: &Path, load_before: String, peers: &[Peer]) -> Machine {
        let mut versions = vec![("flashless".to_owned(), flashless_rev(root))];
        for peer in peers {
            versions.extend(peer_versions(root, peer));
        }
        versions.push(("ffmpeg".into(), ffmpeg_version()));
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: cpu_model(),
            date: first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            load_before,
            load_after: load_average(),
            versions,
        }
    }

    /// The version of `name` measured, or nothing.
    pub fn version(&self, name: &str) -> &str {
        self.versions
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// `Machine: … Date: … Load average …` and `Versions: …`, each on a line.
    pub fn write(&self, s: &mut String) {
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            s,
            "Machine: {} cores, {}. Date: {}. Load average (1, 5, 15 min) before: {}, after: {}.\n\
             Versions: {}.\n",
            self.cores,
            self.cpu,
            self.date,
            self.load_before,
            self.load_after,
            versions.join(", ")
        );
    }
}

fn peer_versions(root: &Path, peer: &Peer) -> Vec<(String, String)> {
    match peer {
        Peer::Npm(package) => vec![((*package).into(), npm_version(root, package))],
        Peer::Node => vec![(
            "node".into(),
            first_line(Command::new("node").arg("--version")),
        )],
        Peer::Nginx => {
            // nginx prints its version on stderr.
            let out = Command::new("nginx")
                .arg("-v")
                .stdin(Stdio::null())
                .output();
            let text = out.map_or(String::new(), |o| {
                String::from_utf8_lossy(&o.stderr).into_owned()
            });
            let module = first_line(Command::new("dpkg-query").args([
                "-W",
                "-f=${Version}",
                "libnginx-mod-rtmp",
            ]));
            vec![
                (
                    "nginx".into(),
                    text.trim().trim_start_matches("nginx version: ").to_owned(),
                ),
                ("libnginx-mod-rtmp".into(), module),
            ]
        }
        Peer::Chromium => {
            let line = first_line(Command::new("chromium").arg("--version"));
            let version = line.split_whitespace().nth(1).unwrap_or("?").to_owned();
            vec![("Chromium".into(), version)]
        }
        Peer::Named(name, version) => vec![((*name).into(), version.clone())],
        Peer::Rustc => {
            let line = first_line(Command::new("rustc").arg("--version"));
            let version = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            vec![("rustc".into(), version)]
        }
    }
}

/// The first line a command prints, or nothing if it fails.
pub fn first_line(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::null()).output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

/// The processor's model name, from /proc/cpuinfo.
fn cpu_model() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_owned(), |(_, m)| m.trim().to_owned())
}

/// The commit measured, and whether the work tree had changes on top of it (outside
/// `docs/`, which an earlier run may have rewritten).
fn flashless_rev(root: &Path) -> String {
    let mut rev = first_line(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(root),
    );
    let changes = Command::new("git")
        .args([
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!docs",
        ])
        .current_dir(root)
        .stdin(Stdio::null())
        .output();
    if changes.is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty()) {
        rev.push_str(" (with uncommitted changes)");
    }
    rev
}

/// The version of a peer installed from the lab's npm lock, or `?`.
fn npm_version(root: &Path, package: &str) -> String {
    let manifest = root
        .join(NPM_DIR)
        .join("node_modules")
        .join(package)
        .join("package.json");
    let json: Option<serde_json::Value> = fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    json.and_then(|j| j["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// `ffmpeg version 5.1.9-0+deb12u1 …` → `5.1.9-0+deb12u1`.
fn ffmpeg_version() -> String {
    let line = first_line(Command::new("ffmpeg").arg("-version"));
    line.split_whitespace().nth(2).unwrap_or("").to_owned()
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The nearest-rank percentile `p` (0–100) of `values`.
pub fn percentile<T: PartialOrd + Copy>(values: &[T], p: f64) -> Option<T> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The nearest-rank median: the middle value, the lower of the two middle ones for an
/// even count.
pub fn median<T: PartialOrd + Copy>(values: impl IntoIterator<Item = T>) -> Option<T> {
    percentile(&values.into_iter().collect::<Vec<_>>(), 50.0)
}

/// A Markdown table's header: the titles, then `---` or `---:` (`right`) per column.
pub fn table_head(s: &mut String, titles: &[&str], right: &[bool]) {
    row(s, titles);
    let rules: Vec<&str> = right
        .iter()
        .map(|&r| if r { "---:" } else { "---" })
        .collect();
    row(s, &rules);
}

/// A Markdown table row; an empty cell stays empty (`| |`).
pub fn row<S: AsRef<str>>(s: &mut String, cells: &[S]) {
    s.push('|');
    for cell in cells {
        match cell.as_ref() {
            "" => s.push_str(" |"),
            text => {
                let _ = write!(s, " {text} |");
            }
        }
    }
    s.push('\n');
}

/// Replaces the text between `<!-- bench:{name}:start -->` and its end marker, or appends it.
pub fn replace_section(doc: &str, name: &str, body: &str) -> String {
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let block = format!("{start}\n{body}{end}");
    match (doc.find(&start), doc.find(&end)) {
        (Some(s), Some(e)) if e > s => format!("{}{block}{}", &doc[..s], &doc[e + end.len()..]),
        _ => format!("{}\n\n{block}\n", doc.trim_end()),
    }
}

/// Rewrites section `name` of the document at `path` (`header` starts a new one).
pub fn write_section(path: &Path, header: &str, name: &str, body: &str) -> Result<()> {
    let old = fs::read_to_string(path).unwrap_or_else(|_| header.to_owned());
    fs::write(path, replace_section(&old, name, body))
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_its_own_section() {
        let doc = "# B\n\n<!-- bench:other:start -->\nkeep\n<!-- bench:other:end -->\n\
                   <!-- bench:fanout:start -->\nold\n<!-- bench:fanout:end -->\ntail\n";
        let new = replace_section(doc, "fanout", "new\n");
        assert!(new.contains("keep") && new.contains("new\n<!-- bench:fanout:end -->\ntail"));
        assert!(!new.contains("old"));
        let appended = replace_section("# B\n", "rtmp-fanout", "x\n");
        assert_eq!(
            appended,
            "# B\n\n<!-- bench:rtmp-fanout:start -->\nx\n<!-- bench:rtmp-fanout:end -->\n"
        );
    }

    #[test]
    fn median_and_percentiles_take_the_nearest_rank() {
        assert_eq!(median(vec![5, 1, 3]), Some(3));
        assert_eq!(median(Vec::<u64>::new()), None);
        assert_eq!(median([3.0, 1.0, 2.0, 4.0]), Some(2.0));
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile::<f64>(&[], 50.0), None);
    }

    #[test]
    fn tables_align_their_columns() {
        let mut s = String::new();
        table_head(&mut s, &["", "a", "b"], &[false, true, true]);
        row(&mut s, &["x", "1", ""]);
        assert_eq!(s, "| | a | b |\n| --- | ---: | ---: |\n| x | 1 | |\n");
    }
}
