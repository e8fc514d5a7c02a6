//! `cargo xtask wasm`: the npm package's generated files. The browser crate
//! (`flashless-web`) is built for wasm32 with the `wasm` profile, twice: with every
//! codec (`flashless`) and lean (`flashless/lite`: H.264, AAC, MP3, AMF0). wasm-bindgen
//! writes the glue, wasm-opt (Debian's binaryen) shrinks the module, and the files
//! are copied into `pkg/` only when their bytes changed, so an unchanged build does
//! not make the gateway re-embed them.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::step::{Ctx, Step, probe};

pub const TARGET: &str = "wasm32-unknown-unknown";
/// The crate built into the package's wasm.
pub const CRATE: &str = "flashless-web";
/// wasm-bindgen's `--out-name`: `pkg/flashless.js` is the hand-written entry that imports it.
pub const OUT_NAME: &str = "flashless_wasm";
/// The generated files, relative to `pkg/`.
pub const GENERATED: &[&str] = &["flashless_wasm.js", "flashless_wasm_bg.wasm"];
/// The lean build's wasm-bindgen `--out-name`; its glue is bundled into [`LITE`], not shipped.
pub const LITE_OUT_NAME: &str = "flashless_lite_wasm";
/// The lean build's module, next to [`LITE`] in `pkg/`.
pub const LITE_WASM: &str = "flashless_lite_wasm_bg.wasm";
/// `flashless/lite`: `flashless.js` and the lean glue as one minified ES module.
pub const LITE: &str = "flashless.lite.js";
/// The classic-script build: `flashless.js` and the glue as one script that sets
/// the global `flashless` (for a plain `<script>` tag or a CDN URL).
pub const GLOBAL: &str = "flashless.global.js";
/// Bundled into the classic script in place of `import.meta.url`, which a classic
/// script has not: the script's own URL, read while it runs, so the wasm module
/// still loads from next to it.
const SCRIPT_URL_SHIM: &str = "export const scriptUrl =
  typeof document !== 'undefined' && document.currentScript ? document.currentScript.src : undefined;
";

pub fn run_cmd(verbose: bool) -> Result<()> {
    let ctx = Ctx::new(crate::project_root(), verbose);
    crate::deps::ensure(
        &ctx,
        crate::deps::Needs {
            wasm: true,
            ..Default::default()
        },
    )?;
    build(&ctx)?;
    for line in sizes(&ctx.root)? {
        println!("{line}");
    }
    Ok(())
}

/// Builds the package files into `pkg/`.
pub fn build(ctx: &Ctx) -> Result<()> {
    ctx.step("wasm package", |s| {
        let staging = ctx.target_dir().join("xtask/wasm-pkg");
        if staging.exists() {
            fs::remove_dir_all(&staging)
                .with_context(|| format!("clearing {}", staging.display()))?;
        }
        let pkg = ctx.root.join("pkg");
        bindgen(s, &[], OUT_NAME, &staging)?;
        for name in GENERATED {
            copy_if_changed(&staging.join(name), &pkg.join(name))?;
        }
        classic_script(s, &ctx.root, &staging)?;
        copy_if_changed(&staging.join(GLOBAL), &pkg.join(GLOBAL))?;

        let lite = staging.join("lite");
        bindgen(s, &["--no-default-features"], LITE_OUT_NAME, &lite)?;
        copy_if_changed(&lite.join(LITE_WASM), &pkg.join(LITE_WASM))?;
        lite_module(s, &ctx.root, &lite)?;
        copy_if_changed(&lite.join(LITE), &pkg.join(LITE))
    })
}

/// Builds the crate with `features` (cargo arguments), then wasm-bindgen's glue
/// and the optimized module named `out_name` into `out_dir`.
fn bindgen(s: &Step, features: &[&str], out_name: &str, out_dir: &Path) -> Result<()> {
    let ctx = s.ctx();
    s.run(
        ctx.cargo()
            .args([
                "build",
                "--profile",
                "wasm",
                "--target",
                TARGET,
                "-p",
                CRATE,
            ])
            .args(features),
    )?;
    let input = ctx
        .target_dir()
        .join(TARGET)
        .join("wasm/flashless_web.wasm");
    s.run(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-name", out_name])
            .arg("--out-dir")
            .arg(out_dir)
            .arg(&input),
    )?;
    optimize(s, &out_dir.join(format!("{out_name}_bg.wasm")))
}

/// [`LITE`]: the hand-written entry pointed at the lean glue and module, bundled
/// with that glue and minified (identifiers too) by the pinned esbuild. The entry
/// stays one file for both builds; only the names of the generated files differ.
/// The modules it imports on demand stay out ([`ON_DEMAND`]).
fn lite_module(s: &Step, root: &Path, lite: &Path) -> Result<()> {
    let entry =
        fs::read_to_string(root.join("pkg/flashless.js")).context("reading pkg/flashless.js")?;
    let renamed = entry.replace(&format!("./{OUT_NAME}"), &format!("./{LITE_OUT_NAME}"));
    if !renamed.contains(LITE_WASM) {
        bail!("pkg/flashless.js names no ./{OUT_NAME}_bg.wasm to point at the lean module");
    }
    let path = lite.join("entry.js");
    fs::write(&path, renamed).with_context(|| format!("writing {}", path.display()))?;
    s.run(
        Command::new(esbuild(root)?)
            .arg(&path)
            .args([
                "--bundle",
                "--format=esm",
                "--platform=browser",
                "--target=es2020",
                "--minify",
                "--external:node:*",
                "--log-level=warning",
            ])
            .args(ON_DEMAND.map(|m| format!("--external:./{m}")))
            .arg(format!("--outfile={}", lite.join(LITE).display())),
    )
}

/// The esbuild that `e2e/package-lock.json` pins.
fn esbuild(root: &Path) -> Result<std::path::PathBuf> {
    let esbuild = root.join("e2e/node_modules/.bin/esbuild");
    if !esbuild.exists() {
        bail!("no {} (`npm ci` in e2e/ brings it)", esbuild.display());
    }
    Ok(esbuild)
}

/// [`GLOBAL`] from `pkg/flashless.js` and the glue, by the esbuild that
/// `e2e/package-lock.json` pins.
fn classic_script(s: &Step, root: &Path, staging: &Path) -> Result<()> {
    let esbuild = esbuild(root)?;
    let shim = staging.join("script-url.js");
    fs::write(&shim, SCRIPT_URL_SHIM).with_context(|| format!("writing {}", shim.display()))?;
    s.run(
        Command::new(esbuild)
            .arg(root.join("pkg/flashless.js"))
            .args([
                "--bundle",
                "--format=iife",
                "--global-name=flashless",
                "--platform=browser",
                "--target=es2020",
                "--minify-syntax",
                "--minify-whitespace",
                "--define:import.meta.url=scriptUrl",
                "--external:node:*",
                "--log-level=warning",
            ])
            .arg(format!("--inject:{}", shim.display()))
            .arg(format!("--outfile={}", staging.join(GLOBAL).display())),
    )
}

/// `wasm-opt -Oz` in place. The binaryen that `e2e/package-lock.json` pins comes
/// first: Debian bookworm's binaryen (108) turns wasm-bindgen's `externref` table
/// into a `funcref` one, and the module then fails to instantiate.
fn optimize(step: &Step, wasm: &Path) -> Result<()> {
    let pinned = step.ctx().root.join("e2e/node_modules/.bin/wasm-opt");
    let mut cmd = if pinned.exists() {
        Command::new(pinned)
    } else {
        let version = probe(Command::new("wasm-opt").arg("--version"));
        if version
            .as_deref()
            .and_then(binaryen_version)
            .is_none_or(|v| v < MIN_BINARYEN)
        {
            println!(
                "    no wasm-opt {MIN_BINARYEN} or newer (`npm ci` in e2e/ brings one): the module stays unoptimized"
            );
            return Ok(());
        }
        Command::new("wasm-opt")
    };
    // The target features come from the module's own `target_features` section.
    step.run(cmd.arg("-Oz").arg(wasm).arg("-o").arg(wasm))
}

/// The first binaryen that keeps reference-typed tables as they are.
const MIN_BINARYEN: u32 = 116;

/// `wasm-opt version 108` → 108; `wasm-opt version 123 (version_123)` → 123.
fn binaryen_version(text: &str) -> Option<u32> {
    text.split_whitespace().nth(2)?.parse().ok()
}

fn copy_if_changed(from: &Path, to: &Path) -> Result<()> {
    let bytes = fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    if fs::read(to).ok().as_deref() == Some(&bytes[..]) {
        return Ok(());
    }
    fs::write(to, &bytes).with_context(|| format!("writing {}", to.display()))
}

/// The hand-written modules `pkg/flashless.js` imports on demand (`import()`): left out
/// of the lean bundle, which loads the package's own file from beside it, as the full
/// build does; so they are in no build's payload either.
const ON_DEMAND: [&str; 1] = ["webcodecs.js"];

/// What a page loads for each build of the package: (build, files in `pkg/`).
pub const BUILDS: &[(&str, &[&str])] = &[
    (
        "flashless",
        &[
            "flashless_wasm_bg.wasm",
            "flashless_wasm.js",
            "flashless.js",
        ],
    ),
    ("flashless/lite", &[LITE_WASM, LITE]),
];

/// A file's raw and `gzip -9` size in bytes.
pub fn file_size(path: &Path) -> Result<(u64, u64)> {
    let raw = fs::metadata(path)
        .with_context(|| format!("{} (run `cargo xtask wasm`)", path.display()))?
        .len();
    Ok((raw, gzip_len(path)?))
}

/// One line per shipped file: raw and gzip -9 size, and each build's total.
pub fn sizes(root: &Path) -> Result<Vec<String>> {
    let pkg = root.join("pkg");
    let mut lines = Vec::new();
    for (build, files) in BUILDS {
        let (mut raw_total, mut gz_total) = (0, 0);
        for name in files.iter() {
            let (raw, gz) = file_size(&pkg.join(name))?;
            raw_total += raw;
            gz_total += gz;
            lines.push(format!("{name:<28} {raw:>8} B  gzip {gz:>7} B"));
        }
        let total = format!("total `{build}`");
        lines.push(format!(
            "{total:<28} {raw_total:>8} B  gzip {gz_total:>7} B"
        ));
    }
    // The classic script replaces flashless.js and the glue; the wasm is the same.
    let path = pkg.join(GLOBAL);
    if let Ok(meta) = fs::metadata(&path) {
        let (raw, gz) = (meta.len(), gzip_len(&path)?);
        lines.push(format!(
            "{GLOBAL:<28} {raw:>8} B  gzip {gz:>7} B  (classic script)"
        ));
    }
    Ok(lines)
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

#[cfg(test)]
mod tests {
    #[test]
    fn reads_binaryen_versions() {
        assert_eq!(super::binaryen_version("wasm-opt version 108"), Some(108));
        assert_eq!(
            super::binaryen_version("wasm-opt version 123 (version_123)"),
            Some(123)
        );
        assert_eq!(super::binaryen_version("wasm-opt"), None);
    }
}
