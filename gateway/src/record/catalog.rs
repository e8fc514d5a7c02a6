//! What is recorded: every file under the recordings' directory, with its channel, UTC
//! start, size and duration. A duration is read from the file's own boxes (each
//! `moof`'s `tfdt` and `trun`; the `mdat`s are skipped, not read), and remembered
//! while the file's size stays the same.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::boxes::{InitTrack, be32, boxes, child, tracks};
use super::path;

/// One recording.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recording {
    pub channel: String,
    /// Under the recordings' directory, `/`-separated: what `/recordings/` serves.
    pub path: String,
    /// UTC start, Unix seconds (from the file's name).
    #[serde(skip)]
    pub start_unix: u64,
    /// The same, RFC 3339.
    pub start: String,
    /// Seconds of media, by the main track (video, else audio).
    pub duration: f64,
    pub bytes: u64,
    /// Last written.
    #[serde(skip)]
    pub modified: SystemTime,
}

/// Durations already read, by file, with the size they were read at.
#[derive(Debug, Default)]
pub struct Durations(Mutex<HashMap<PathBuf, (u64, f64)>>);

impl Durations {
    /// Remembers a duration the recorder knows (it wrote the file).
    pub fn remember(&self, file: &Path, bytes: u64, seconds: f64) {
        lock(&self.0).insert(file.to_owned(), (bytes, seconds));
    }

    fn of(&self, file: &Path, bytes: u64) -> f64 {
        if let Some(&(size, seconds)) = lock(&self.0).get(file)
            && size == bytes
        {
            return seconds;
        }
        let seconds = File::open(file)
            .ok()
            .and_then(|mut f| duration(&mut f, bytes))
            .unwrap_or(0.0);
        lock(&self.0).insert(file.to_owned(), (bytes, seconds));
        seconds
    }

    /// A set, not a list: with thousands of files a scan per entry made each listing
    /// quadratic (10,000 files: seconds of CPU per anonymous request).
    fn forget_missing(&self, present: &HashSet<PathBuf>) {
        lock(&self.0).retain(|p, _| present.contains(p));
    }
}

/// Every recording under `root`, oldest first; `channel` keeps that channel's only.
/// Blocking: call it off the async threads.
pub fn list(root: &Path, channel: Option<&str>, durations: &Durations) -> Vec<Recording> {
    let mut files = Vec::new();
    walk(root, root, 0, &mut files);
    let present: HashSet<PathBuf> = files.iter().map(|(full, ..)| full.clone()).collect();
    let mut out = Vec::new();
    for (full, relative, bytes, modified) in files {
        let Some(name) = relative.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let (Some(start_unix), Some(owner)) = (path::start_of(name), path::channel_of(&relative))
        else {
            continue;
        };
        if channel.is_some_and(|c| c != owner) {
            continue;
        }
        let parts: Option<Vec<&str>> = relative
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect();
        let Some(parts) = parts else { continue };
        out.push(Recording {
            channel: owner,
            path: parts.join("/"),
            start_unix,
            start: path::rfc3339(start_unix),
            duration: durations.of(&full, bytes),
            bytes,
            modified,
        });
    }
    if channel.is_none() {
        durations.forget_missing(&present);
    }
    // Two files started in one second: the one written first is the older.
    out.sort_by(|a, b| {
        (a.start_unix, a.modified, &a.path).cmp(&(b.start_unix, b.modified, &b.path))
    });
    out
}

/// Channel directories nest at most this deep (`app/stream`).
const MAX_DEPTH: usize = 2;

/// The `.mp4` files under `dir` (full path, path under `root`, size, last write).
fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<(PathBuf, PathBuf, u64, SystemTime)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        // Not followed: a link could lead out of the directory.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let full = entry.path();
        if kind.is_dir() && depth < MAX_DEPTH {
            walk(root, &full, depth + 1, out);
        } else if kind.is_file() && full.extension().is_some_and(|e| e == path::EXTENSION) {
            let Ok(meta) = entry.metadata() else { continue };
            let Ok(relative) = full.strip_prefix(root) else {
                continue;
            };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.push((full.clone(), relative.to_owned(), meta.len(), modified));
        }
    }
}

/// Boxes larger than this are not read whole (a `moov` or `moof` is a few KiB).
const MAX_HEADER_BOX: u64 = 4 << 20;

/// The media duration of a fragmented MP4 file of `len` bytes, in seconds: the main
/// track's (video, else the first) first `tfdt` to its last sample's end. A truncated
/// last box (a recorder killed mid-write) ends the walk.
fn duration(file: &mut File, len: u64) -> Option<f64> {
    let mut timescales: Vec<InitTrack> = Vec::new();
    let mut spans: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut at = 0u64;
    while at + 8 <= len {
        file.seek(SeekFrom::Start(at)).ok()?;
        let mut header = [0u8; 8];
        file.read_exact(&mut header).ok()?;
        let mut size = u64::from(u32::from_be_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let mut body_at = at + 8;
        if size == 1 {
            let mut large = [0u8; 8];
            file.read_exact(&mut large).ok()?;
            size = u64::from_be_bytes(large);
            body_at += 8;
        }
        if size < body_at - at || at + size > len {
            break;
        }
        let kind = &header[4..8];
        if kind == b"moov" || kind == b"moof" {
            let body_len = size - (body_at - at);
            if body_len > MAX_HEADER_BOX {
                return None;
            }
            let mut body = vec![0u8; body_len as usize];
            file.read_exact(&mut body).ok()?;
            if kind == b"moov" {
                timescales = tracks(&body);
            } else {
                fragment_spans(&body, &timescales, &mut spans);
            }
        }
        at += size;
    }
    let main = timescales
        .iter()
        .find(|t| t.video)
        .or(timescales.first())
        .copied()?;
    let (start, end) = spans.get(&main.id)?;
    Some(end.saturating_sub(*start) as f64 / f64::from(main.timescale))
}

/// Extends each track's (first decode time, end) by one `moof`'s `traf`s.
fn fragment_spans(moof: &[u8], tracks: &[InitTrack], spans: &mut HashMap<u32, (u64, u64)>) {
    for (kind, traf) in boxes(moof) {
        if kind != *b"traf" {
            continue;
        }
        let Some(id) = child(traf, b"tfhd").and_then(|b| be32(b, 4)) else {
            continue;
        };
        if !tracks.iter().any(|t| t.id == id) {
            continue;
        }
        let Some(base) = child(traf, b"tfdt").and_then(|b| {
            if b.first() == Some(&1) {
                be32(b, 4)
                    .zip(be32(b, 8))
                    .map(|(h, l)| u64::from(h) << 32 | u64::from(l))
            } else {
                be32(b, 4).map(u64::from)
            }
        }) else {
            continue;
        };
        let total = child(traf, b"trun").map_or(0, trun_duration);
        let span = spans.entry(id).or_insert((base, base));
        span.0 = span.0.min(base);
        span.1 = span.1.max(base + total);
    }
}

/// The sum of a `trun`'s sample durations (ISO/IEC 14496-12 §8.8.8), when it has them.
fn trun_duration(trun: &[u8]) -> u64 {
    let Some(flags) = be32(trun, 0).map(|f| f & 0xff_ffff) else {
        return 0;
    };
    let Some(count) = be32(trun, 4) else { return 0 };
    if flags & 0x100 == 0 {
        return 0;
    }
    let mut at = 8;
    if flags & 0x1 != 0 {
        at += 4;
    }
    if flags & 0x4 != 0 {
        at += 4;
    }
    let entry = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count()
        * 4;
    (0..count as usize)
        .map_while(|i| be32(trun, at + i * entry))
        .map(u64::from)
        .sum()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashless_core::flv::{FlvReader, Item};
    use flashless_core::segment::{SegmentEvent, SegmentOptions, Segmenter};

    /// The gateway's demo clip segmented as the recorder does, init and parts in one file.
    fn recorded_demo() -> (Vec<u8>, f64, usize) {
        let mut reader = FlvReader::new();
        reader.feed(crate::reload::DEMO_FLV);
        let mut segmenter = Segmenter::new(SegmentOptions {
            target_ms: 3_600_000,
            part_ms: 1000,
            longest_ms: None,
            live_playlist: false,
        });
        let mut file = Vec::new();
        let mut total = 0.0;
        let mut last_part = 0;
        let mut drain = |s: &mut Segmenter| {
            while let Some(e) = s.poll_event() {
                match e {
                    SegmentEvent::Init { data, .. } => file.extend_from_slice(&data),
                    SegmentEvent::Part { data, .. } => {
                        last_part = data.len();
                        file.extend_from_slice(&data)
                    }
                    SegmentEvent::SegmentEnd { duration_ms, .. } => total += duration_ms,
                    SegmentEvent::SegmentStart { .. } => {}
                }
            }
        };
        while let Ok(Some(item)) = reader.poll_item() {
            if let Item::Tag(t) = item {
                segmenter.feed(&t);
                drain(&mut segmenter);
            }
        }
        segmenter.flush();
        drain(&mut segmenter);
        (file, total / 1000.0, last_part)
    }

    #[test]
    fn a_duration_is_read_from_the_fragments_and_a_truncated_tail_is_ignored() {
        let (data, seconds, last_part) = recorded_demo();
        assert!(seconds > 1.0);
        let dir = std::env::temp_dir().join(format!("flashless-catalog-{}", std::process::id()));
        let channel = dir.join("cam");
        std::fs::create_dir_all(&channel).unwrap();
        let whole = channel.join("cam-20261130T041500Z.mp4");
        std::fs::write(&whole, &data).unwrap();
        let cut = channel.join("cam-20261130T051500Z.mp4");
        // Killed while writing the last part: a piece of it.
        std::fs::write(&cut, &data[..data.len() - last_part + 50]).unwrap();
        std::fs::write(channel.join("notes.txt"), b"x").unwrap();
        let durations = Durations::default();
        let list = list(&dir, None, &durations);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(list.len(), 2, "{list:?}");
        assert_eq!(list[0].path, "cam/cam-20261130T041500Z.mp4");
        assert_eq!(list[0].channel, "cam");
        assert_eq!(list[0].start, "2026-11-30T04:15:00Z");
        assert_eq!(list[0].bytes, data.len() as u64);
        assert!(
            (list[0].duration - seconds).abs() < 0.001,
            "{list:?} vs {seconds}"
        );
        // The last part cut short: the ones before it count.
        assert!(list[1].duration < seconds && list[1].duration > seconds - 1.5);
    }
}
