//! The core's architecture invariant, checked: nothing in `flashless-core` opens a
//! socket, reads a clock, spawns a thread or task, touches files or processes, or
//! draws random numbers (`ARCHITECTURE.md`, `core/src/lib.rs`).
//!
//! Two halves: the crates the core depends on (from `Cargo.lock`, which needs no
//! network and no cargo run), and the standard library modules its own code uses
//! outside tests. Failures name the crate's path to the culprit, or the file and line.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// Runtimes, sockets, the browser's bindings and randomness.
const FORBIDDEN_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "wasm-bindgen",
    "js-sys",
    "web-sys",
    "getrandom",
    "rand",
];

/// Standard library modules (or items) that reach the network, clocks, threads,
/// files or processes.
const FORBIDDEN_STD: &[&str] = &[
    "std::net",
    "std::time::Instant",
    "std::time::SystemTime",
    "std::thread",
    "std::fs",
    "std::process",
];

#[test]
fn normal_dependencies_hold_no_runtime_socket_browser_or_random_crate() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = read(&manifest.join("../Cargo.lock"));
    let packages = lock_packages(&lock);
    let normal = normal_dependencies(&read(&manifest.join("Cargo.toml")));
    assert!(
        normal.contains("bytes"),
        "no [dependencies] read from core/Cargo.toml"
    );

    // `Cargo.lock` lists a workspace member's dev-dependencies with the others, so
    // the walk starts from the manifest's [dependencies] alone. Below the core, the
    // lock holds every optional dependency some workspace crate enabled: a superset.
    let core = packages
        .iter()
        .find(|p| p.name == "flashless-core")
        .expect("flashless-core in Cargo.lock");
    let mut paths: HashMap<String, Vec<String>> = HashMap::new();
    let mut todo: Vec<(&Package, Vec<String>)> = Vec::new();
    for dep in &core.dependencies {
        if normal.contains(dep_name(dep)) {
            let p = resolve(&packages, dep);
            todo.push((p, vec!["flashless-core".into(), p.name.clone()]));
        }
    }
    while let Some((p, path)) = todo.pop() {
        if paths.contains_key(&p.name) {
            continue;
        }
        for dep in &p.dependencies {
            let d = resolve(&packages, dep);
            let mut longer = path.clone();
            longer.push(d.name.clone());
            todo.push((d, longer));
        }
        paths.insert(p.name.clone(), path);
    }
    let found: Vec<String> = FORBIDDEN_CRATES
        .iter()
        .filter_map(|name| paths.get(*name))
        .map(|path| path.join(" → "))
        .collect();
    assert!(
        found.is_empty(),
        "flashless-core depends on crates it must not (Cargo.lock):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn sources_use_no_network_clock_thread_file_or_process_outside_tests() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "read only {} files", files.len());
    let test_files = test_module_files(&files);
    let mut found = Vec::new();
    for file in &files {
        if test_files.contains(file) || file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let code = without_tests(&code_only(&read(file)));
        for (line, what) in forbidden_uses(&code) {
            found.push(format!(
                "core/src/{}:{line}: {what}",
                file.strip_prefix(&src).unwrap_or(file).display(),
            ));
        }
    }
    assert!(
        found.is_empty(),
        "core/src uses the outside world outside tests:\n  {}",
        found.join("\n  ")
    );
}

struct Package {
    name: String,
    version: String,
    /// As the lock writes them: `name`, or `name version` when several versions exist.
    dependencies: Vec<String>,
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `[[package]]` entries of a `Cargo.lock` (version 3 or 4).
fn lock_packages(lock: &str) -> Vec<Package> {
    lock.split("[[package]]")
        .skip(1)
        .map(|entry| {
            let field = |key: &str| {
                entry
                    .lines()
                    .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = "))
                    .map(|v| v.trim_matches('"').to_owned())
                    .unwrap_or_default()
            };
            let dependencies = entry
                .split_once("dependencies = [")
                .map(|(_, list)| list.split(']').next().unwrap_or(""))
                .unwrap_or("")
                .split(',')
                .map(|d| d.trim().trim_matches('"').to_owned())
                .filter(|d| !d.is_empty())
                .collect();
            Package {
                name: field("name"),
                version: field("version"),
                dependencies,
            }
        })
        .collect()
}

fn dep_name(dep: &str) -> &str {
    dep.split_whitespace().next().unwrap_or(dep)
}

fn resolve<'a>(packages: &'a [Package], dep: &str) -> &'a Package {
    let mut words = dep.split_whitespace();
    let name = words.next().unwrap_or(dep);
    let version = words.next();
    packages
        .iter()
        .find(|p| p.name == name && version.is_none_or(|v| p.version == v))
        .unwrap_or_else(|| panic!("Cargo.lock names `{dep}` but has no such package"))
}

/// The crate names under `[dependencies]` (not dev-, not build-, not per target).
fn normal_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let key = line.split(['=', '.']).next().unwrap_or("").trim();
            names.insert(key.to_owned());
        }
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Files of modules declared `#[cfg(test)] mod name;` (`tests`, `prop_tests`, …).
fn test_module_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut tests = BTreeSet::new();
    for file in files {
        let code = code_only(&read(file));
        let mut after_cfg_test = false;
        for line in code.lines().map(str::trim) {
            if line == "#[cfg(test)]" {
                after_cfg_test = true;
                continue;
            }
            let declared = if after_cfg_test {
                declared_module(line)
            } else {
                None
            };
            if let Some(name) = declared {
                // `a/mod.rs` and `lib.rs` declare `a/name.rs`; `a/b.rs` declares `a/b/name.rs`.
                let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                let dir = file.parent().unwrap_or(Path::new(""));
                let base = if stem == "mod" || stem == "lib" {
                    dir.to_path_buf()
                } else {
                    dir.join(stem)
                };
                tests.insert(base.join(format!("{name}.rs")));
                tests.insert(base.join(name).join("mod.rs"));
            }
            after_cfg_test = after_cfg_test && line.starts_with("#[");
        }
    }
    tests
}

/// `mod name;` or `pub(crate) mod name;` → `name`.
fn declared_module(line: &str) -> Option<&str> {
    let rest = line.split_once("mod ")?.1;
    let name = rest.strip_suffix(';')?.trim();
    name.chars()
        .all(|c| c.is_alphanumeric() || c == '_')
        .then_some(name)
}

/// The source with comments, strings and character literals blanked (newlines
/// kept, so line numbers stay), so that braces and paths in them count for nothing.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let end = if c == '/' && next == Some('/') {
            chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |n| i + n)
        } else if c == '/' && next == Some('*') {
            block_comment_end(&chars, i)
        } else if c == 'r' && matches!(next, Some('"' | '#')) && !ident_before(&chars, i) {
            raw_string_end(&chars, i).unwrap_or(i + 1)
        } else if c == '"' {
            string_end(&chars, i)
        } else if c == '\'' {
            char_literal_end(&chars, i).unwrap_or(i + 1)
        } else {
            i + 1
        };
        if end == i + 1 {
            out.push(c);
        } else {
            out.extend(chars[i..end].iter().map(|&c| blank(c)));
        }
        i = end;
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn block_comment_end(chars: &[char], start: usize) -> usize {
    let (mut depth, mut i) = (0, start);
    while i + 1 < chars.len() {
        match (chars[i], chars[i + 1]) {
            ('/', '*') => (depth, i) = (depth + 1, i + 2),
            ('*', '/') => {
                (depth, i) = (depth - 1, i + 2);
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    chars.len()
}

fn string_end(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// `r"…"`, `r#"…"#`; `None` when `r` starts no raw string (`r#ident`).
fn raw_string_end(chars: &[char], start: usize) -> Option<usize> {
    let hashes = chars[start + 1..].iter().take_while(|&&c| c == '#').count();
    let open = start + 1 + hashes;
    if chars.get(open) != Some(&'"') {
        return None;
    }
    let mut i = open + 1;
    while i < chars.len() {
        if chars[i] == '"'
            && chars[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
    Some(chars.len())
}

/// `'a'`, `'\n'`, `'\u{7f}'`; `None` for a lifetime (`'a`).
fn char_literal_end(chars: &[char], start: usize) -> Option<usize> {
    match chars.get(start + 1)? {
        '\\' => {
            let close = chars[start + 2..].iter().position(|&c| c == '\'')?;
            Some(start + 2 + close + 1)
        }
        _ if chars.get(start + 2) == Some(&'\'') => Some(start + 3),
        _ => None,
    }
}

/// Blanks every item marked `#[cfg(test)]` (an inline `mod tests { … }`, a helper).
fn without_tests(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut skipping = false;
    let mut depth = 0usize;
    let mut opened = false;
    for line in code.split_inclusive('\n') {
        if !skipping && line.trim() == "#[cfg(test)]" {
            (skipping, depth, opened) = (true, 0, false);
        }
        if !skipping {
            out.push_str(line);
            continue;
        }
        for c in line.chars() {
            match c {
                '{' => (depth, opened) = (depth + 1, true),
                '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        let item_ended = if opened {
            depth == 0
        } else {
            // An item without a body: `mod tests;`, `use …;`, `const …;`.
            !line.trim().starts_with("#[") && line.trim_end().ends_with(';')
        };
        skipping = !item_ended;
        out.extend(line.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
    }
    out
}

/// The forbidden paths the code names, with their line numbers, also inside
/// `use std::{…}` groups that rustfmt spreads over several lines.
fn forbidden_uses(code: &str) -> Vec<(usize, String)> {
    // The code without whitespace, and the line each of its characters is on.
    let mut compact = String::new();
    let mut lines = Vec::new();
    for (i, line) in code.lines().enumerate() {
        for c in line.chars().filter(|c| !c.is_whitespace()) {
            compact.push(c);
            lines.resize(compact.len(), i + 1);
        }
    }
    let line_at = |at: usize| lines.get(at).copied().unwrap_or(0);
    let mut found = Vec::new();
    for path in FORBIDDEN_STD {
        for (at, _) in compact.match_indices(path) {
            found.push((line_at(at), (*path).to_owned()));
        }
    }
    for (group, names) in [
        ("std::{", &["net", "thread", "fs", "process"][..]),
        ("std::time::{", &["Instant", "SystemTime"][..]),
    ] {
        for (at, _) in compact.match_indices(group) {
            let inside = compact[at + group.len()..].split('}').next().unwrap_or("");
            for item in inside.split([',', '{']) {
                let mut parts = item.split("::");
                let head = parts.next().unwrap_or("");
                let clock = head == "time" && parts.any(|p| p == "Instant" || p == "SystemTime");
                if names.contains(&head) || clock {
                    found.push((line_at(at), format!("{group}{item}…}}")));
                }
            }
        }
    }
    found
}
