//! `cargo xtask wasm`: the npm package's generated files. The browser crate
//! (`flashless-web`) is built for wasm32 with the `wasm` profile, three times: with every
//! codec (`flashless`), lean (`flashless/lite`: H.264, AAC, MP3, AMF0), and the pictures
//! module (Flash's codecs that no browser decodes, for the WebCodecs renderer). wasm-bindgen
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
/// The lean build's cargo features: the player alone, no codec but H.264, AAC and MP3.
pub const LITE_FEATURES: &[&str] = &[
    "--no-default-features",
    "--features",
    "flashless-web/player",
];
/// The pictures module's: its `PictureDecoder` alone.
pub const PICTURES_FEATURES: &[&str] = &[
    "--no-default-features",
    "--features",
    "flashless-web/pictures",
];
/// The pictures module's wasm-bindgen `--out-name`: the glue and module `pkg/webcodecs.js`
/// imports only for a stream in one of Flash's codecs that no browser decodes.
pub const PICTURES_OUT_NAME: &str = "flashless_pictures";
/// Its generated files, relative to `pkg/`.
pub const PICTURES: &[&str] = &["flashless_pictures.js", "flashless_pictures_bg.wasm"];
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
        // Before the classic script, which bundles what `webcodecs.js` imports: the
        // pictures glue among it, its wasm then loaded from beside the script.
        let pictures = staging.join("pictures");
        bindgen(s, PICTURES_FEATURES, PICTURES_OUT_NAME, &pictures)?;
        for name in PICTURES {
            copy_if_changed(&pictures.join(name), &pkg.join(name))?;
        }
        classic_script(s, &ctx.root, &staging)?;
        copy_if_changed(&staging.join(GLOBAL), &pkg.join(GLOBAL))?;

        let lite = staging.join("lite");
        bindgen(s, LITE_FEATURES, LITE_OUT_NAME, &lite)?;
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
            .args(features)
            .env(RUSTFLAGS_VAR, remap_flags(&ctx.root)?),
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
    let wasm = out_dir.join(format!("{out_name}_bg.wasm"));
    optimize(s, &wasm, &out_dir.join(format!("{out_name}.js")))?;
    unplaced(&wasm, &ctx.root)
}

/// Cargo's rustflags, one per `\x1f`-separated field (so a path may hold a space).
/// With `--target` given they reach the module's crates only, not build scripts.
const RUSTFLAGS_VAR: &str = "CARGO_ENCODED_RUSTFLAGS";

/// Where this machine keeps the crates' sources.
fn cargo_home() -> Option<std::path::PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(Into::into)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
}

/// The standard library's sources on this machine (`rust-src`): once that component
/// is installed, rustc names them, not `/rustc/<commit>`, for the library's generic
/// code it compiles into the module.
fn library_sources() -> Option<std::path::PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = probe(Command::new(rustc).args(["--print", "sysroot"]))?;
    Some(Path::new(sysroot.trim()).join("lib/rustlib/src/rust"))
}

/// `--remap-path-prefix` for each registry's sources, the standard library's and the
/// workspace: the module keeps the file names of its panic locations (`core`'s
/// out-of-line panics take one even when the handler traps), and they would otherwise
/// hold this machine's paths and the registry's name, differing from one build
/// machine to the next. `bytes-1.12.2/src/bytes.rs` and `library/alloc/src/string.rs`
/// are what stay.
fn remap_flags(root: &Path) -> Result<String> {
    let mut prefixes = vec![root.to_path_buf()];
    prefixes.extend(library_sources());
    if let Some(src) = cargo_home().map(|h| h.join("registry/src"))
        && let Ok(entries) = fs::read_dir(&src)
    {
        prefixes.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
    }
    let mut flags = Vec::new();
    for prefix in prefixes {
        let prefix = prefix
            .to_str()
            .with_context(|| format!("{} is not UTF-8", prefix.display()))?;
        flags.push(format!("--remap-path-prefix={prefix}/="));
    }
    Ok(flags.join("\x1f"))
}

/// Fails if the module still names the workspace or this machine's crate or standard
/// library sources.
fn unplaced(wasm: &Path, root: &Path) -> Result<()> {
    let bytes = fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let paths = [Some(root.to_path_buf()), cargo_home(), library_sources()];
    for path in paths.iter().flatten() {
        // With the separator after it: a short root (`/src`) is not found in any text.
        let needle = format!("{}/", path.to_string_lossy().trim_end_matches('/'));
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            bail!("{} names {needle}: a path left unmapped", wasm.display());
        }
    }
    Ok(())
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

/// `wasm-opt -Oz` in place. With the pinned binaryen, every import's and export's
/// name (and the import module's) is made one or two letters too, and `glue` made to
/// use the new names: the names wasm-bindgen gives
/// (`__wbg_addSourceBuffer_0d87b438f83bcbaa`) are some 45 bytes each in the module
/// and again in the glue, a hundred and more of each.
/// The binaryen that `e2e/package-lock.json` pins comes first: Debian bookworm's
/// binaryen (108) turns wasm-bindgen's `externref` table into a `funcref` one, and
/// the module then fails to instantiate.
fn optimize(step: &Step, wasm: &Path, glue: &Path) -> Result<()> {
    let pinned = step.ctx().root.join("e2e/node_modules/.bin/wasm-opt");
    if pinned.exists() {
        // The target features come from the module's own `target_features` section.
        let map = step.stdout(
            Command::new(pinned)
                .arg("-Oz")
                .arg("--minify-imports-and-exports-and-modules")
                .arg(wasm)
                .arg("-o")
                .arg(wasm),
        )?;
        let text =
            fs::read_to_string(glue).with_context(|| format!("reading {}", glue.display()))?;
        let renamed =
            rename(&text, &map).with_context(|| format!("renaming in {}", glue.display()))?;
        return fs::write(glue, renamed).with_context(|| format!("writing {}", glue.display()));
    }
    // Another binaryen may print its mapping otherwise: the names stay as they are.
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
    step.run(
        Command::new("wasm-opt")
            .arg("-Oz")
            .arg(wasm)
            .arg("-o")
            .arg(wasm),
    )
}

/// The import module's name once binaryen has minified it (it merges every module into one).
const MINIFIED_MODULE: &str = "a";

/// `glue` with the names in binaryen's mapping (`{"imports": [[module, name, new]…],
/// "exports": [[name, new]…]}`): each import is a key of the one imports object, each
/// export a property of `wasm`. Every name must be found where it is expected, so a
/// new shape of the glue fails the build instead of a page.
fn rename(glue: &str, map: &str) -> Result<String> {
    let map: serde_json::Value =
        serde_json::from_str(map).context("binaryen's mapping of minified names")?;
    let list = |key: &str| {
        map.get(key)
            .and_then(|v| v.as_array())
            .with_context(|| format!("no `{key}` in binaryen's mapping"))
    };
    let strings = |entry: &serde_json::Value| -> Result<Vec<String>> {
        entry
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .with_context(|| format!("a mapping entry that is not a list of strings: {entry}"))
    };
    let mut text = glue.to_string();
    let mut modules = Vec::new();
    for entry in list("imports")? {
        let [module, name, new] = &strings(entry)?[..] else {
            bail!("an import mapping that is not [module, name, new]: {entry}");
        };
        text = replace_ident(&text, "", name, ":", new, true)
            .with_context(|| format!("import `{name}`"))?;
        if !modules.contains(module) {
            modules.push(module.clone());
        }
    }
    for module in &modules {
        let key = format!("\"{module}\"");
        text = replace_ident(&text, "", &key, ":", MINIFIED_MODULE, true)
            .with_context(|| format!("import module {key}"))?;
    }
    for entry in list("exports")? {
        let [name, new] = &strings(entry)?[..] else {
            bail!("an export mapping that is not [name, new]: {entry}");
        };
        // wasm-bindgen's runtime exports some the glue never calls.
        text = replace_ident(&text, "wasm.", name, "", new, false)
            .with_context(|| format!("export `{name}`"))?;
    }
    Ok(text)
}

/// `text` with each `before name after` (`name` a whole identifier) turned into
/// `before new after`; with `once`, fails unless there is exactly one.
fn replace_ident(
    text: &str,
    before: &str,
    name: &str,
    after: &str,
    new: &str,
    once: bool,
) -> Result<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let pattern = format!("{before}{name}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut found = 0;
    while let Some(at) = rest.find(&pattern) {
        let (head, tail) = rest.split_at(at);
        let after_name = &tail[pattern.len()..];
        let whole = !head.ends_with(ident)
            && !after_name.starts_with(ident)
            && after_name.trim_start().starts_with(after);
        out.push_str(head);
        if whole {
            out.push_str(before);
            out.push_str(new);
            found += 1;
        } else {
            out.push_str(&pattern);
        }
        rest = after_name;
    }
    out.push_str(rest);
    if once && found != 1 {
        bail!("found {found} times where once was expected");
    }
    Ok(out)
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
/// build does; so they are in no build's payload either (nor is the pictures module,
/// which `webcodecs.js` imports only for a stream that needs it).
const ON_DEMAND: [&str; 2] = ["webcodecs.js", "nativehls.js"];

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

    /// The shape of wasm-bindgen's `--target web` glue that the renaming relies on.
    const GLUE: &str = r#"function __wbg_get_imports() {
    const import0 = {
        __proto__: null,
        __wbg_addSourceBuffer_0d87: function(arg0, arg1) {
            return arg0.addSourceBuffer(arg1);
        },
        __wbg_add: function(arg0) { return arg0; },
    };
    return {
        __proto__: null,
        "./lite_bg.js": import0,
    };
}
function f() { const ret = wasm.player_new(1); wasm.player_newer(2); my_wasm.player_new(3); return ret; }
"#;

    const MAP: &str = r#"{
 "imports": [
  ["./lite_bg.js", "__wbg_addSourceBuffer_0d87", "a"],
  ["./lite_bg.js", "__wbg_add", "b"]
 ],
"exports": [
  ["player_new", "c"],
  ["player_newer", "d"],
  ["__wbindgen_free", "e"]
 ]
}"#;

    #[test]
    fn renames_imports_their_module_and_exports_as_whole_names() {
        let out = super::rename(GLUE, MAP).unwrap();
        assert!(out.contains("        a: function(arg0, arg1) {"), "{out}");
        assert!(out.contains("        b: function(arg0)"), "{out}");
        assert!(out.contains("        a: import0,"), "{out}");
        // A method of the same name on a browser object is not the import.
        assert!(out.contains("return arg0.addSourceBuffer(arg1);"), "{out}");
        assert!(
            out.contains("const ret = wasm.c(1); wasm.d(2); my_wasm.player_new(3);"),
            "{out}"
        );
        assert!(!out.contains("__wbg_add"), "{out}");
    }

    #[test]
    fn a_module_naming_the_workspace_fails_the_build() {
        let dir = std::env::temp_dir().join(format!("xtask-unplaced-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let module = dir.join("m.wasm");
        let root = std::path::Path::new("/build/flashless");
        std::fs::write(&module, b"\0asm core/src/lib.rs bytes-1.12.2/src/bytes.rs").unwrap();
        assert!(super::unplaced(&module, root).is_ok());
        std::fs::write(&module, b"\0asm /build/flashless/core/src/lib.rs").unwrap();
        let err = super::unplaced(&module, root).unwrap_err();
        assert!(err.to_string().contains("names /build/flashless/"), "{err}");
        // This machine's copy of the standard library's sources, where rustc has one.
        if let Some(library) = super::library_sources() {
            let named = format!("\0asm {}/library/alloc/src/string.rs", library.display());
            std::fs::write(&module, named).unwrap();
            assert!(super::unplaced(&module, root).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_name_the_glue_lacks_fails_the_build() {
        let missing = MAP.replace("__wbg_add\"", "__wbg_gone\"");
        let err = super::rename(GLUE, &missing).unwrap_err();
        assert!(
            format!("{err:#}").contains("import `__wbg_gone`: found 0 times"),
            "{err:#}"
        );
        let twice = GLUE.replace("__wbg_add: function", "__wbg_add: 0, __wbg_add: function");
        assert_ne!(twice, GLUE);
        assert!(super::rename(&twice, MAP).is_err());
        assert!(super::rename(GLUE, "wasm-opt: 1 warning").is_err());
    }
}
