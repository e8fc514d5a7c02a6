//! `lab bench payload`: what a page downloads to play a channel, raw and `gzip -9`,
//! for each build of the npm package (`flashless`, `flashless/lite`) beside the
//! minified builds of flv.js and mpegts.js from the lab's npm lock.
//!
//! The guard: a flashless build counts only if its wasm is a wasm module and its
//! JavaScript names that module, so a missing or stale file cannot pass as small.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::Args;
use crate::NPM_DIR;
use crate::report::{Machine, Peer, load_average, row, table_head};

/// The goals of issue #17, in bytes of gzip -9.
const GOAL_LITE: u64 = 30_000;
const GOAL_FULL: u64 = 55_000;

/// A player's files, relative to the repository: what its page loads.
struct Player {
    name: &'static str,
    /// The codecs it plays, as the table says.
    plays: &'static str,
    files: Vec<String>,
    /// (wasm module, the JavaScript that must name it), for the guard.
    wasm: Option<(&'static str, &'static str)>,
    goal: Option<u64>,
}

fn players() -> Vec<Player> {
    let pkg = |f: &str| format!("pkg/{f}");
    let npm = |f: &str| format!("{NPM_DIR}/node_modules/{f}");
    vec![
        Player {
            name: "flashless (`flashless`)",
            plays: "H.264, HEVC, AV1, VP9; AAC, MP3, Opus, FLAC",
            files: [
                "flashless_wasm_bg.wasm",
                "flashless_wasm.js",
                "flashless.js",
            ]
            .map(pkg)
            .into(),
            wasm: Some(("flashless_wasm_bg.wasm", "flashless_wasm.js")),
            goal: Some(GOAL_FULL),
        },
        Player {
            name: "flashless lean (`flashless/lite`)",
            plays: "H.264; AAC, MP3",
            files: ["flashless_lite_wasm_bg.wasm", "flashless.lite.js"]
                .map(pkg)
                .into(),
            wasm: Some(("flashless_lite_wasm_bg.wasm", "flashless.lite.js")),
            goal: Some(GOAL_LITE),
        },
        Player {
            name: "flv.js (`dist/flv.min.js`)",
            plays: "H.264; AAC, MP3",
            files: vec![npm("flv.js/dist/flv.min.js")],
            wasm: None,
            goal: None,
        },
        Player {
            name: "mpegts.js (`dist/mpegts.js`)",
            plays: "H.264, HEVC; AAC, MP3, Opus, AC-3, E-AC-3 (FLV and MPEG-TS)",
            files: vec![npm("mpegts.js/dist/mpegts.js")],
            wasm: None,
            goal: None,
        },
    ]
}

/// A player's measured size.
struct Size {
    /// (file, raw bytes, gzip -9 bytes)
    files: Vec<(String, u64, u64)>,
}

impl Size {
    fn raw(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }
    fn gzip(&self) -> u64 {
        self.files.iter().map(|f| f.2).sum()
    }
}

pub fn run(root: &Path, _args: &Args) -> Result<()> {
    let load_before = load_average();
    let players = players();
    let sizes = crate::step("measure the payloads", || {
        players
            .iter()
            .map(|p| measure(root, p))
            .collect::<Result<Vec<_>>>()
    })?;
    let machine = Machine::gather(
        root,
        load_before,
        &[Peer::Npm("flv.js"), Peer::Npm("mpegts.js"), Peer::Rustc],
    );
    let body = section(&players, &sizes, &machine);
    print!("{body}");
    super::write_doc(root, "payload", &body)
}

fn measure(root: &Path, player: &Player) -> Result<Size> {
    if let Some((wasm, js)) = player.wasm {
        let module = fs::read(root.join("pkg").join(wasm))
            .with_context(|| format!("reading pkg/{wasm} (run `cargo xtask wasm`)"))?;
        if !module.starts_with(b"\0asm") {
            bail!("pkg/{wasm} is not a wasm module");
        }
        let script = fs::read_to_string(root.join("pkg").join(js))
            .with_context(|| format!("reading pkg/{js}"))?;
        if !script.contains(wasm) {
            bail!("pkg/{js} does not name {wasm}: the package is not one build");
        }
    }
    let files = player
        .files
        .iter()
        .map(|f| {
            let path = root.join(f);
            let raw = fs::metadata(&path)
                .with_context(|| {
                    format!(
                        "{} (npm ci in {NPM_DIR}, or cargo xtask wasm)",
                        path.display()
                    )
                })?
                .len();
            Ok((f.clone(), raw, gzip_len(&path)?))
        })
        .collect::<Result<_>>()?;
    Ok(Size { files })
}

fn gzip_len(path: &Path) -> Result<u64> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .context("running gzip")?;
    if !out.status.success() {
        bail!("gzip {} failed", path.display());
    }
    Ok(out.stdout.len() as u64)
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

fn section(players: &[Player], sizes: &[Size], machine: &Machine) -> String {
    let mut s = String::from("## Payload: what a page downloads to play a channel\n\n");
    s.push_str("Goals (issue #17): the lean build ≤ 30 KB gzip, the full build ≤ 55 KB gzip.\n\n");
    let flv = sizes[2].gzip() as f64;
    let mpegts = sizes[3].gzip() as f64;
    table_head(
        &mut s,
        &[
            "player",
            "plays",
            "bytes",
            "gzip -9",
            "× flv.js",
            "× mpegts.js",
            "goal",
        ],
        &[false, false, true, true, true, true, false],
    );
    for (p, size) in players.iter().zip(sizes) {
        let goal = p.goal.map_or(String::new(), |g| {
            let met = if size.gzip() <= g { "met" } else { "not met" };
            format!("≤ {} ({met})", kb(g))
        });
        row(
            &mut s,
            &[
                p.name.to_owned(),
                p.plays.to_owned(),
                size.raw().to_string(),
                kb(size.gzip()),
                format!("{:.2}×", size.gzip() as f64 / flv),
                format!("{:.2}×", size.gzip() as f64 / mpegts),
                goal,
            ],
        );
    }
    s.push_str("\nEach file:\n\n");
    table_head(&mut s, &["file", "bytes", "gzip -9"], &[false, true, true]);
    for size in sizes {
        for (file, raw, gz) in &size.files {
            let name = file.rsplit('/').next().unwrap_or(file);
            row(
                &mut s,
                &[format!("`{name}`"), raw.to_string(), gz.to_string()],
            );
        }
    }
    s.push('\n');
    machine.write(&mut s);
    s.push_str(
        "Reproduce: `cargo xtask bench payload` (builds the package first).\n\n\
         Method: the bytes of each file a page loads to play, and of each alone compressed by \
         `gzip -9` (as a server would send it), summed per player; KB are 1000 bytes. flashless: \
         the wasm module, the wasm-bindgen glue and the entry, as `cargo xtask wasm` builds them \
         (`[profile.wasm]`: `opt-level = \"z\"`, `lto = true`, `codegen-units = 1`, \
         `panic = \"abort\"`, then `wasm-opt -Oz` with the names of imports and exports \
         minified and the glue renamed to match; the crate `no_std` with its own panic handler \
         and talc as allocator); the lean build leaves HEVC, AV1, VP9, Opus, FLAC and AMF3 out \
         (cargo features of `flashless-core`) and ships its entry and glue as one module minified \
         by esbuild. `webcodecs.js` and `nativehls.js`, which either build imports only for \
         `renderer: 'webcodecs'` and where MSE is missing, and the pictures module \
         (`flashless_pictures.js` and its wasm), which `webcodecs.js` imports only for a stream \
         in Sorenson Spark or Screen Video, are not counted. flv.js and mpegts.js: the minified build in their npm packages. A \
         flashless build counts only if its wasm file is a wasm module that its JavaScript names.\n",
    );
    s
}
