//! Where a channel's recordings go and what each file is called:
//! `{dir}/{channel}/{stream}-{UTC start}.mp4`, e.g. `cam/cam-20261130T041500Z.mp4`, and
//! `other/cam/cam-20261130T041500Z.mp4` for the channel `other/cam` (the RTMP app is a
//! directory). Every path a request names is checked here, part by part, so nothing
//! outside the recordings' directory is ever reached.

use std::path::{Path, PathBuf};

use crate::hub::name;

pub const EXTENSION: &str = "mp4";

/// The directory of `channel`'s recordings under `root`; `None` for a name that is not
/// a channel's.
pub fn channel_dir(root: &Path, channel: &str) -> Option<PathBuf> {
    name::check(channel).ok()?;
    let mut dir = root.to_path_buf();
    for part in channel.split('/') {
        if !plain(part) {
            return None;
        }
        dir.push(part);
    }
    Some(dir)
}

/// `cam-20261130T041500Z.mp4`; with `n` > 1, `cam-20261130T041500Z-2.mp4` (a second
/// file started within the same second).
pub fn file_name(stream: &str, start_unix: u64, n: u32) -> String {
    let stamp = stamp(start_unix);
    if n > 1 {
        format!("{stream}-{stamp}-{n}.{EXTENSION}")
    } else {
        format!("{stream}-{stamp}.{EXTENSION}")
    }
}

/// A recording's path under the root as a request names it (`cam/cam-…mp4`, decoded):
/// plain parts only (letters, digits, '-', '_', '.', none starting with '.'), ending
/// in `.mp4`. `None` for anything else: `..`, an absolute path, a backslash, an empty
/// part, another file.
pub fn relative(request: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = request.split('/').collect();
    if parts.len() < 2 || !parts.iter().all(|p| plain(p)) {
        return None;
    }
    let file = parts.last()?;
    file.strip_suffix(&format!(".{EXTENSION}"))
        .filter(|stem| !stem.is_empty())?;
    Some(parts.iter().collect())
}

/// The channel a recording under the root belongs to: its directory, `/`-joined.
pub fn channel_of(relative: &Path) -> Option<String> {
    let dir = relative.parent()?;
    let parts: Option<Vec<&str>> = dir.components().map(|c| c.as_os_str().to_str()).collect();
    let channel = parts?.join("/");
    name::check(&channel).ok().map(|()| channel)
}

/// The UTC start in a file's name, as Unix seconds.
pub fn start_of(file_name: &str) -> Option<u64> {
    let stem = file_name.strip_suffix(&format!(".{EXTENSION}"))?;
    // Without the counter of a second file in the same second.
    let stem = match stem.rsplit_once('-') {
        Some((rest, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => stem,
    };
    let (_, stamp) = stem.rsplit_once('-')?;
    parse_stamp(stamp)
}

/// `20261130T041500Z`.
pub fn stamp(unix: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `2026-11-30T04:15:00Z` (RFC 3339), for the API.
pub fn rfc3339(unix: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// A part of a channel name or a file name that is safe as one path component.
fn plain(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with('.')
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn parse_stamp(stamp: &str) -> Option<u64> {
    let b = stamp.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let s = stamp.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo as i64, d as i64);
    u64::try_from(days)
        .ok()
        .map(|days| days * 86_400 + h * 3600 + mi * 60 + s)
}

/// Unix seconds → (year, month, day, hour, minute, second), UTC (proleptic Gregorian;
/// Howard Hinnant's `civil_from_days`).
fn civil(unix: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// Days since 1970-01-01 of a civil date (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_utc_start_and_read_back() {
        // 2026-11-30 04:15:00 UTC.
        let t = 1_796_012_100;
        assert_eq!(stamp(t), "20261130T041500Z");
        assert_eq!(rfc3339(t), "2026-11-30T04:15:00Z");
        assert_eq!(file_name("cam", t, 1), "cam-20261130T041500Z.mp4");
        assert_eq!(file_name("cam", t, 2), "cam-20261130T041500Z-2.mp4");
        assert_eq!(start_of("cam-20261130T041500Z.mp4"), Some(t));
        assert_eq!(start_of("my-cam-20261130T041500Z-2.mp4"), Some(t));
        assert_eq!(start_of("cam.mp4"), None);
        assert_eq!(stamp(0), "19700101T000000Z");
        assert_eq!(stamp(951_782_400), "20000229T000000Z");
        for t in [0, 951_782_400, 4_102_444_799, t] {
            assert_eq!(parse_stamp(&stamp(t)), Some(t));
        }
    }

    #[test]
    fn a_channel_is_a_directory_and_its_app_another() {
        let root = Path::new("/rec");
        assert_eq!(channel_dir(root, "cam"), Some(PathBuf::from("/rec/cam")));
        assert_eq!(
            channel_dir(root, "other/cam"),
            Some(PathBuf::from("/rec/other/cam"))
        );
        assert_eq!(channel_dir(root, "../cam"), None);
        assert_eq!(channel_dir(root, ".."), None);
        assert_eq!(
            channel_of(Path::new("other/cam/cam-x.mp4")).as_deref(),
            Some("other/cam")
        );
        assert_eq!(
            channel_of(Path::new("cam/cam-x.mp4")).as_deref(),
            Some("cam")
        );
    }

    #[test]
    fn a_request_reaches_only_recordings_under_the_root() {
        assert_eq!(
            relative("cam/cam-20261130T041500Z.mp4"),
            Some(PathBuf::from("cam/cam-20261130T041500Z.mp4"))
        );
        for bad in [
            "../x.mp4",
            "cam/../../etc/passwd",
            "cam/..",
            "/etc/x.mp4",
            "cam//x.mp4",
            "cam/.hidden.mp4",
            "cam\\..\\x.mp4",
            "cam/x.txt",
            "x.mp4",
            "cam/.mp4",
            "cam/x.mp4\0",
            "",
        ] {
            assert_eq!(relative(bad), None, "{bad:?}");
        }
    }
}
