//! Tools and packages the tests need, installed only when missing, so that on a
//! prepared machine this step costs a few probes and prints nothing.

use std::fs;
use std::process::Command;

use anyhow::{Context, Result};

use crate::step::{Ctx, Step, older, probe};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The integration tests start these real peers themselves.
const TEST_PACKAGES: &[&str] = &[
    "nginx",
    "libnginx-mod-rtmp",
    "libnginx-mod-stream",
    "ffmpeg",
    "rtmpdump",
    "openssl",
    // The load balancer in front of the cluster test's edges.
    "haproxy",
    // `flac -t` checks the FLAC frames legacy audio is converted to.
    "flac",
];

/// The peers `cargo xtask bench` compares with, its publisher, and the browser the
/// latency benchmark plays in.
const BENCH_PACKAGES: &[&str] = &["nginx", "libnginx-mod-rtmp", "ffmpeg", "nodejs", "chromium"];
/// The three engines the browser tests play in: Chromium; Firefox ESR with the
/// libavcodec it decodes H.264 and AAC with, and PulseAudio for a null sound card
/// (without one its audio graph does not run) with `pacat` to keep it awake; WebKitGTK's driver (which brings its
/// MiniBrowser) on a virtual display, with the GStreamer plugins it decodes with.
const BROWSER_PACKAGES: &[&str] = &[
    "chromium",
    "firefox-esr",
    "libavcodec59",
    "pulseaudio",
    "pulseaudio-utils",
    "webkit2gtk-driver",
    "xvfb",
    "xauth",
    "gstreamer1.0-libav",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
    "gstreamer1.0-gl",
];
/// Where the lab pins its npm peers (flashless-lab's `NPM_DIR`).
const BENCH_NPM_DIR: &str = "lab/browser";

#[derive(Default, Clone, Copy)]
pub struct Needs {
    /// fmt, clippy, the wasm build and the test suite.
    pub test: bool,
    /// cargo-fuzz.
    pub fuzz: bool,
    /// The npm package build alone (`cargo xtask wasm`): the wasm target, wasm-bindgen,
    /// and binaryen's wasm-opt from e2e's npm lock.
    pub wasm: bool,
    /// The benchmarks' peers.
    pub bench: bool,
}

pub fn ensure(ctx: &Ctx, needs: Needs) -> Result<()> {
    if !needs.test && !needs.fuzz && !needs.wasm && !needs.bench {
        return Ok(());
    }
    ctx.step("deps", |step| {
        // Two lines at once: the system's packages (downloads and unpacking) beside
        // the Rust tools (compiling); on a fresh machine each takes minutes.
        std::thread::scope(|scope| {
            let system = scope.spawn(|| system_packages(step, needs));
            let tools = rust_tools(step, needs);
            let system = system
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("installing packages panicked")));
            tools.and(system)
        })
    })
}

/// Debian's packages, Python's, and the npm peers.
fn system_packages(step: &Step, needs: Needs) -> Result<()> {
    if needs.test {
        debian_packages(step, &test_packages(step))?;
        python_packages(step)?;
    }
    if needs.test || needs.wasm {
        // playwright-core and puppeteer-core for the browser tests, binaryen's wasm-opt for the package.
        npm_packages(step, "e2e")?;
    }
    if needs.bench {
        debian_packages(step, BENCH_PACKAGES)?;
        // `bench engines` plays in the browser tests' three engines.
        debian_packages(step, BROWSER_PACKAGES)?;
        npm_packages(step, BENCH_NPM_DIR)?;
    }
    Ok(())
}

/// The wasm target and the tools cargo builds: wasm-bindgen's CLI, cargo-fuzz.
fn rust_tools(step: &Step, needs: Needs) -> Result<()> {
    if needs.test || needs.wasm {
        wasm_target(step)?;
        wasm_bindgen(step)?;
    }
    if needs.fuzz {
        cargo_fuzz(step)?;
    }
    Ok(())
}

/// The Kubernetes manifests under `deploy/k8s` are checked against the API schemas.
fn python_packages(step: &Step) -> Result<()> {
    if probe(Command::new("kubernetes-validate").arg("--version")).is_some() {
        return Ok(());
    }
    step.run(Command::new("python3").args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "kubernetes-validate",
    ]))
}

fn wasm_target(step: &Step) -> Result<()> {
    let root = &step.ctx().root;
    let installed = probe(
        Command::new("rustup")
            .args(["target", "list", "--installed"])
            .current_dir(root),
    );
    if installed.is_some_and(|list| list.lines().any(|t| t.trim() == WASM_TARGET)) {
        return Ok(());
    }
    step.run(
        Command::new("rustup")
            .args(["target", "add", WASM_TARGET])
            .current_dir(root),
    )
}

fn test_packages(step: &Step) -> Vec<&'static str> {
    let mut wanted: Vec<&str> = TEST_PACKAGES.to_vec();
    // The browser tests arrive with e2e/package.json; until then the browsers are dead weight.
    if step.ctx().root.join("e2e/package.json").exists() {
        wanted.extend_from_slice(BROWSER_PACKAGES);
    }
    wanted
}

fn debian_packages(step: &Step, wanted: &[&str]) -> Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|package| !debian_package_installed(package))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let as_root = probe(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0");
    // sudo drops the environment, so the variable goes through `env`.
    let apt = |args: &[&str]| {
        let mut cmd = if as_root {
            Command::new("env")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("env");
            sudo
        };
        cmd.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
            .args(args);
        cmd
    };
    step.run(&mut apt(&["update"]))?;
    step.run(apt(&["install", "-y", "--no-install-recommends"]).args(&missing))
}

fn debian_package_installed(package: &str) -> bool {
    probe(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_some_and(|status| status.trim() == "install ok installed")
}

/// `npm ci` in `dir` (relative to the root) when its lockfile is newer than the install.
fn npm_packages(step: &Step, dir: &str) -> Result<()> {
    let e2e = step.ctx().root.join(dir);
    let lock = e2e.join("package-lock.json");
    if !lock.exists() {
        return Ok(());
    }
    // npm writes this hidden lockfile last, so an interrupted install still counts as stale.
    if !older(&e2e.join("node_modules/.package-lock.json"), &lock)? {
        return Ok(());
    }
    step.run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&e2e),
    )
}

/// The CLI must match the `wasm-bindgen` crate exactly, or its output is rejected.
fn wasm_bindgen(step: &Step) -> Result<()> {
    let lock_path = step.ctx().root.join("Cargo.lock");
    let lock = fs::read_to_string(&lock_path)
        .with_context(|| format!("reading {}", lock_path.display()))?;
    let Some(wanted) = locked_version(&lock, "wasm-bindgen") else {
        return Ok(());
    };
    let have = probe(Command::new("wasm-bindgen").arg("--version"));
    if have.as_deref().and_then(|v| v.split_whitespace().nth(1)) == Some(wanted) {
        return Ok(());
    }
    let version = format!("={wanted}");
    let install = || {
        let mut cmd = step.ctx().cargo();
        cmd.args(["install", "wasm-bindgen-cli", "--version", &version]);
        cmd
    };
    // The CLI's own lock can name a dependency version the registry no longer
    // offers (yanked); then resolve afresh, still at the exact CLI version.
    step.run(install().arg("--locked"))
        .or_else(|_| step.run(&mut install()))
}

fn cargo_fuzz(step: &Step) -> Result<()> {
    if probe(crate::cargo_command().args(["fuzz", "--version"])).is_some() {
        return Ok(());
    }
    step.run(
        step.ctx()
            .cargo()
            .args(["install", "cargo-fuzz", "--locked"]),
    )
}

/// The version of `name` in a Cargo.lock, if it is there.
fn locked_version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
    let wanted_name = format!("name = \"{name}\"");
    let mut in_package = false;
    for line in lock.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = false;
        } else if line == wanted_name {
            in_package = true;
        } else if in_package && let Some(v) = line.strip_prefix("version = \"") {
            return v.strip_suffix('"');
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
[[package]]
name = "wasm-bindgen-backend"
version = "0.2.99"

[[package]]
name = "wasm-bindgen"
version = "0.2.100"
dependencies = [
 "cfg-if",
]
"#;

    #[test]
    fn finds_exact_package_version_in_lock() {
        assert_eq!(locked_version(LOCK, "wasm-bindgen"), Some("0.2.100"));
        assert_eq!(locked_version(LOCK, "wasm-bindgen-backend"), Some("0.2.99"));
        assert_eq!(locked_version(LOCK, "cfg-if"), None);
    }
}
