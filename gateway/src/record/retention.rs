//! Deleting old recordings: every file last written longer ago than `keep`, then the
//! oldest while all together exceed `max_bytes`. Files being written are never
//! deleted; a channel directory left empty goes too.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::catalog::{self, Durations};

/// What one pass deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub files: u64,
    pub bytes: u64,
}

/// One pass over `root`; `open` are the files being written. Blocking.
pub fn prune(
    root: &Path,
    keep: Option<Duration>,
    max_bytes: Option<u64>,
    open: &HashSet<PathBuf>,
    durations: &Durations,
    now: SystemTime,
) -> Pruned {
    let mut pruned = Pruned::default();
    if keep.is_none() && max_bytes.is_none() {
        return pruned;
    }
    // Oldest first.
    let recordings = catalog::list(root, None, durations);
    let mut total: u64 = recordings.iter().map(|r| r.bytes).sum();
    for r in &recordings {
        let full = root.join(&r.path);
        if open.contains(&full) {
            continue;
        }
        let expired =
            keep.is_some_and(|keep| now.duration_since(r.modified).is_ok_and(|age| age > keep));
        let over = max_bytes.is_some_and(|max| total > max);
        if !(expired || over) {
            continue;
        }
        match std::fs::remove_file(&full) {
            Ok(()) => {
                tracing::info!(
                    file = r.path,
                    bytes = r.bytes,
                    reason = if expired { "keep" } else { "max_bytes" },
                    "recording deleted"
                );
                total -= r.bytes;
                pruned.files += 1;
                pruned.bytes += r.bytes;
                remove_empty_dirs(root, full.parent());
            }
            Err(e) => tracing::warn!(file = r.path, error = %e, "recording not deleted"),
        }
    }
    pruned
}

/// Removes `dir` and its parents up to (not including) `root` while they are empty.
fn remove_empty_dirs(root: &Path, mut dir: Option<&Path>) {
    while let Some(d) = dir.filter(|d| *d != root && d.starts_with(root)) {
        // Fails, and stops, at the first directory that is not empty.
        if std::fs::remove_dir(d).is_err() {
            return;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flashless-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_oldest_go_first_past_the_size_and_open_files_stay() {
        let root = scratch("retention-size");
        let files = [
            "cam/cam-20261130T040000Z.mp4",
            "cam/cam-20261130T041000Z.mp4",
            "other/cam/cam-20261130T042000Z.mp4",
            "cam/cam-20261130T043000Z.mp4",
        ];
        for f in files {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, vec![0u8; 1000]).unwrap();
        }
        let open: HashSet<PathBuf> = [root.join(files[0])].into();
        let pruned = prune(
            &root,
            None,
            Some(2000),
            &open,
            &Durations::default(),
            SystemTime::now(),
        );
        let left: Vec<bool> = files.iter().map(|f| root.join(f).exists()).collect();
        let other_dir = root.join("other").exists();
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            pruned,
            Pruned {
                files: 2,
                bytes: 2000
            }
        );
        // The open one stays; the next two oldest go (the emptied app directory too).
        assert_eq!(left, [true, false, false, true]);
        assert!(!other_dir);
    }

    #[test]
    fn files_older_than_keep_go() {
        let root = scratch("retention-age");
        let p = root.join("cam/cam-20261130T040000Z.mp4");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"x").unwrap();
        let keep = Some(Duration::from_secs(60));
        let none = HashSet::new();
        let d = Durations::default();
        let now = SystemTime::now();
        assert_eq!(prune(&root, keep, None, &none, &d, now).files, 0);
        let later = now + Duration::from_secs(120);
        assert_eq!(prune(&root, keep, None, &none, &d, later).files, 1);
        let gone = !p.exists();
        let _ = std::fs::remove_dir_all(&root);
        assert!(gone);
    }
}
