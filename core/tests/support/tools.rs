//! The command-line tools the integration tests run (ffmpeg, ffprobe, flac), and a
//! temporary directory for what they read and write.

use std::path::PathBuf;
use std::process::Command;

/// A temporary directory removed on drop, also when a test fails.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `flashless-<name>-<pid>` in the system's temporary directory, empty: each test
    /// binary is a process of its own, so two binaries' tests of one name do not meet.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("flashless-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tool `name` as a command; the test fails, saying what installs it, where the
/// tool does not run.
pub fn tool(name: &str) -> Command {
    let version = if name == "flac" {
        "--version"
    } else {
        "-version"
    };
    let ok = Command::new(name)
        .arg(version)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{name} is not installed: run `cargo xtask test`, which installs it"
    );
    Command::new(name)
}
