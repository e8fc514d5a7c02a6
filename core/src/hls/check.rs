//! A media playlist checker: parses a playlist and lists where it breaks RFC 8216 and
//! its low-latency extension (RFC 8216bis), one playlist at a time ([`check`]) and
//! across reloads ([`Reloads`]). Written for the tests of any HLS server, ours first;
//! it knows nothing of how [`super::Window`] writes.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// One broken rule, with the line (1-based; 0 for the playlist as a whole).
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub line: usize,
    pub rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.rule)
    }
}

/// A media playlist as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Playlist {
    pub version: Option<u32>,
    pub target_duration: Option<u32>,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub part_target: Option<f64>,
    pub part_hold_back: Option<f64>,
    pub can_block_reload: bool,
    /// `CAN-SKIP-UNTIL`: the server makes delta updates, skipping before this many
    /// seconds from the end.
    pub can_skip_until: Option<f64>,
    /// `EXT-X-SKIP`: the segments left out of a delta update, before `segments`.
    pub skipped: u64,
    pub independent_segments: bool,
    /// Complete segments, in order.
    pub segments: Vec<Segment>,
    /// Parts after the last complete segment: the open segment's.
    pub open_parts: Vec<Part>,
    pub preload_hint: Option<String>,
    pub ended: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub msn: u64,
    pub duration: f64,
    pub uri: String,
    pub parts: Vec<Part>,
    pub discontinuity: bool,
    /// The `EXT-X-MAP` URI in force.
    pub map: Option<String>,
    /// Its `EXT-X-PROGRAM-DATE-TIME`, in Unix ms, if one was given for it.
    pub program_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub duration: f64,
    pub uri: String,
    pub independent: bool,
}

impl Playlist {
    /// The media sequence number after the last complete segment: the open segment's.
    pub fn next_msn(&self) -> u64 {
        self.media_sequence + self.skipped + self.segments.len() as u64
    }
}

/// Parses `text` and checks one playlist's rules; the playlist, or every rule it breaks.
pub fn check(text: &str) -> Result<Playlist, Vec<Violation>> {
    let mut p = Playlist::default();
    let mut bad = Vec::new();
    let mut fail = |line: usize, rule: String| bad.push(Violation { line, rule });
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    if lines.next().map(|(_, l)| l) != Some("#EXTM3U") {
        fail(1, "the first line is not #EXTM3U".into());
    }
    let mut map = None;
    let mut parts: Vec<Part> = Vec::new();
    let mut pending_extinf: Option<(usize, f64)> = None;
    let mut discontinuity = false;
    let mut program_ms = None;
    let mut media_seen = false;
    let mut hint_line = 0;
    for (n, line) in lines {
        if line.is_empty() {
            continue;
        }
        if p.ended {
            fail(n, "content after #EXT-X-ENDLIST".into());
        }
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        if !line.starts_with('#') {
            // A segment URI.
            let Some((_, duration)) = pending_extinf.take() else {
                fail(n, format!("URI {line:?} without #EXTINF"));
                continue;
            };
            p.segments.push(Segment {
                msn: 0,
                duration,
                uri: line.to_owned(),
                parts: core::mem::take(&mut parts),
                discontinuity: core::mem::take(&mut discontinuity),
                map: map.clone(),
                program_ms: program_ms.take(),
            });
            continue;
        }
        let number = |fail: &mut dyn FnMut(usize, String)| -> Option<u64> {
            let v = value.parse().ok();
            if v.is_none() {
                fail(n, format!("{tag} has no integer value: {value:?}"));
            }
            v
        };
        match tag {
            "#EXT-X-VERSION" => p.version = number(&mut fail).map(|v| v as u32),
            "#EXT-X-TARGETDURATION" => {
                if media_seen {
                    fail(n, "EXT-X-TARGETDURATION after media".into());
                }
                p.target_duration = number(&mut fail).map(|v| v as u32);
            }
            "#EXT-X-MEDIA-SEQUENCE" => {
                if media_seen {
                    fail(n, "EXT-X-MEDIA-SEQUENCE after media (§4.3.3.2)".into());
                }
                p.media_sequence = number(&mut fail).unwrap_or(0);
            }
            "#EXT-X-DISCONTINUITY-SEQUENCE" => {
                if media_seen {
                    fail(
                        n,
                        "EXT-X-DISCONTINUITY-SEQUENCE after media (§4.3.3.3)".into(),
                    );
                }
                p.discontinuity_sequence = number(&mut fail).unwrap_or(0);
            }
            "#EXT-X-INDEPENDENT-SEGMENTS" => p.independent_segments = true,
            "#EXT-X-ENDLIST" => p.ended = true,
            "#EXT-X-DISCONTINUITY" => discontinuity = true,
            "#EXT-X-SKIP" => {
                if media_seen || p.skipped > 0 {
                    fail(n, "EXT-X-SKIP after media, or twice (§4.4.5.2)".into());
                }
                if p.can_skip_until.is_none() {
                    fail(n, "EXT-X-SKIP without CAN-SKIP-UNTIL".into());
                }
                match attribute(value, "SKIPPED-SEGMENTS").and_then(|v| v.parse().ok()) {
                    Some(skipped) => p.skipped = skipped,
                    None => fail(n, "EXT-X-SKIP without SKIPPED-SEGMENTS".into()),
                }
            }
            "#EXT-X-PROGRAM-DATE-TIME" => match date_time(value) {
                Some(ms) => program_ms = Some(ms),
                None => fail(
                    n,
                    format!("EXT-X-PROGRAM-DATE-TIME is no ISO 8601 date and time: {value:?}"),
                ),
            },
            "#EXT-X-MAP" => match attribute(value, "URI") {
                Some(uri) => map = Some(uri),
                None => fail(n, "EXT-X-MAP without URI".into()),
            },
            "#EXT-X-SERVER-CONTROL" => {
                p.can_block_reload = attribute(value, "CAN-BLOCK-RELOAD").as_deref() == Some("YES");
                p.part_hold_back = attribute(value, "PART-HOLD-BACK").and_then(|v| v.parse().ok());
                p.can_skip_until = attribute(value, "CAN-SKIP-UNTIL").and_then(|v| v.parse().ok());
            }
            "#EXT-X-PART-INF" => {
                p.part_target = attribute(value, "PART-TARGET").and_then(|v| v.parse().ok());
                if p.part_target.is_none() {
                    fail(n, "EXT-X-PART-INF without a PART-TARGET".into());
                }
            }
            "#EXTINF" => {
                media_seen = true;
                let duration = value.split(',').next().and_then(|d| d.parse::<f64>().ok());
                match duration {
                    Some(d) if d >= 0.0 => pending_extinf = Some((n, d)),
                    _ => fail(n, format!("EXTINF without a duration: {value:?}")),
                }
            }
            "#EXT-X-PART" => {
                media_seen = true;
                let duration = attribute(value, "DURATION").and_then(|d| d.parse::<f64>().ok());
                let uri = attribute(value, "URI");
                let (Some(duration), Some(uri)) = (duration, uri) else {
                    fail(n, "EXT-X-PART without DURATION or URI".into());
                    continue;
                };
                match p.part_target {
                    None => fail(n, "EXT-X-PART before EXT-X-PART-INF".into()),
                    // §4.4.4.9: a part's duration MUST be ≤ PART-TARGET.
                    Some(target) if duration > target + 1e-9 => fail(
                        n,
                        format!("part duration {duration} exceeds PART-TARGET {target}"),
                    ),
                    _ => {}
                }
                if map.is_none() && !is_ts(&uri) {
                    fail(n, "media before any EXT-X-MAP".into());
                }
                parts.push(Part {
                    duration,
                    uri,
                    independent: attribute(value, "INDEPENDENT").as_deref() == Some("YES"),
                });
            }
            "#EXT-X-PRELOAD-HINT" => {
                hint_line = n;
                if attribute(value, "TYPE").as_deref() == Some("PART") {
                    p.preload_hint = attribute(value, "URI");
                }
            }
            _ => {}
        }
    }
    if let Some((n, _)) = pending_extinf {
        fail(n, "EXTINF with no URI after it".into());
    }
    p.open_parts = parts;
    for (i, s) in p.segments.iter_mut().enumerate() {
        s.msn = p.media_sequence + p.skipped + i as u64;
    }

    let Some(target) = p.target_duration else {
        fail(0, "no EXT-X-TARGETDURATION".into());
        return Err(bad);
    };
    for s in &p.segments {
        // RFC 8216 §4.3.3.1: EXTINF rounded to the nearest integer MUST be ≤ the target.
        if libm::round(s.duration) > f64::from(target) {
            fail(
                0,
                format!(
                    "segment {} lasts {} s, past the target {target} s",
                    s.msn, s.duration
                ),
            );
        }
        if s.map.is_none() && !is_ts(&s.uri) {
            fail(0, format!("segment {} has no EXT-X-MAP before it", s.msn));
        }
        // RFC 8216bis §4.4.4.9: the parts of a segment add up to its EXTINF (each
        // written to the millisecond, so allow a millisecond a part).
        if !s.parts.is_empty() && s.parts.iter().any(|x| x.uri.is_empty()) {
            fail(0, format!("segment {} has a part without URI", s.msn));
        }
        let listed_whole = s
            .parts
            .first()
            .is_some_and(|first| is_first_part(&first.uri));
        if !s.parts.is_empty() && listed_whole {
            let sum: f64 = s.parts.iter().map(|x| x.duration).sum();
            let slack = 0.001 * s.parts.len() as f64 + 1e-9;
            if (sum - s.duration).abs() > slack {
                fail(
                    0,
                    format!(
                        "segment {}: parts add up to {sum:.3} s, EXTINF says {}",
                        s.msn, s.duration
                    ),
                );
            }
        }
        // The last part listed is the segment's final one (listed whole or not).
        if let Some((_, before_final)) = s.parts.split_last() {
            short_parts(before_final, p.part_target, &mut fail, s.msn);
        }
        if p.independent_segments && listed_whole && !s.parts[0].independent {
            fail(
                0,
                format!(
                    "segment {} starts with a part not INDEPENDENT, under EXT-X-INDEPENDENT-SEGMENTS",
                    s.msn
                ),
            );
        }
    }
    // The open segment's last part may turn out to be its final one.
    if let Some((_, before_last)) = p.open_parts.split_last() {
        short_parts(before_last, p.part_target, &mut fail, p.next_msn());
    }
    if let Some(skip) = p.can_skip_until {
        if skip + 1e-9 < 6.0 * f64::from(target) {
            fail(
                0,
                format!("CAN-SKIP-UNTIL {skip} is under six target durations (§4.4.3.8)"),
            );
        }
        // §6.2.5.1: a delta update lists at least the skip boundary's worth.
        let listed: f64 = p.segments.iter().map(|s| s.duration).sum::<f64>()
            + p.open_parts.iter().map(|x| x.duration).sum::<f64>();
        if p.skipped > 0 && listed + 0.001 < skip {
            fail(
                0,
                format!("a delta update lists {listed:.3} s, under CAN-SKIP-UNTIL {skip}"),
            );
        }
    }
    // Dates follow the media: a segment's date is not before the one before it (but
    // across a discontinuity, where the media itself starts over).
    for pair in p.segments.windows(2) {
        if let [a, b] = pair
            && let (Some(t0), Some(t1)) = (a.program_ms, b.program_ms)
            && !b.discontinuity
            && t1 < t0
        {
            fail(
                0,
                format!("segment {}'s date is before segment {}'s", b.msn, a.msn),
            );
        }
    }
    let any_parts = !p.open_parts.is_empty() || p.segments.iter().any(|s| !s.parts.is_empty());
    if any_parts {
        match (p.part_target, p.part_hold_back) {
            // §4.4.3.8: PART-HOLD-BACK at least twice the part target (three times advised).
            (Some(t), Some(h)) if h + 1e-9 < 2.0 * t => fail(
                0,
                format!("PART-HOLD-BACK {h} is under twice PART-TARGET {t}"),
            ),
            (Some(_), None) => fail(0, "parts listed but no PART-HOLD-BACK".into()),
            _ => {}
        }
        if p.version.unwrap_or(1) < 6 {
            fail(
                0,
                "EXT-X-MAP in a media playlist needs EXT-X-VERSION 6 or more".into(),
            );
        }
    }
    if let Some(hint) = &p.preload_hint {
        let listed = p
            .segments
            .iter()
            .flat_map(|s| &s.parts)
            .chain(&p.open_parts)
            .any(|x| &x.uri == hint);
        // §4.4.5.3: the hint is a resource still to come, past the last part.
        if listed {
            fail(
                hint_line,
                format!("the preload hint {hint:?} is a part already listed"),
            );
        }
        if let (Some(last), Some(next)) = (last_part_uri(&p), ours(hint))
            && let Some(last) = ours(&last)
            && next <= last
        {
            fail(
                hint_line,
                format!("the preload hint {hint:?} is not past the last part"),
            );
        }
    } else if any_parts && !p.ended {
        fail(
            0,
            "a live low-latency playlist without EXT-X-PRELOAD-HINT".into(),
        );
    }
    if bad.is_empty() { Ok(p) } else { Err(bad) }
}

/// Rules across reloads of one playlist (RFC 8216 §6.2.1–§6.2.2): the media sequence
/// never goes back, a segment keeps its URI and duration, the target duration stays.
#[derive(Debug, Default)]
pub struct Reloads {
    last: Option<Playlist>,
    /// Reloads checked.
    pub count: usize,
}

impl Reloads {
    /// Checks `text` alone, then against the previous reload; a delta update is merged
    /// with it (the skipped segments taken from it), and returned whole.
    pub fn reload(&mut self, text: &str) -> Result<Playlist, Vec<Violation>> {
        let mut p = check(text)?;
        let mut bad = Vec::new();
        let mut fail = |rule: String| bad.push(Violation { line: 0, rule });
        if p.skipped > 0 {
            let skipped = p.media_sequence..p.media_sequence + p.skipped;
            let known: Vec<Segment> = self
                .last
                .iter()
                .flat_map(|old| &old.segments)
                .filter(|s| skipped.contains(&s.msn))
                .cloned()
                .collect();
            if known.len() as u64 != p.skipped {
                fail(format!(
                    "a delta update skips segments {skipped:?}, not all in the last reload"
                ));
            }
            p.segments.splice(0..0, known);
            p.skipped = 0;
        }
        if let Some(old) = &self.last {
            if p.media_sequence < old.media_sequence {
                fail(format!(
                    "media sequence went back: {} → {}",
                    old.media_sequence, p.media_sequence
                ));
            }
            if p.discontinuity_sequence < old.discontinuity_sequence {
                fail("discontinuity sequence went back".into());
            }
            if p.target_duration != old.target_duration {
                fail(format!(
                    "target duration changed: {:?} → {:?}",
                    old.target_duration, p.target_duration
                ));
            }
            if p.next_msn() < old.next_msn() {
                fail("the playlist lost segments at its end".into());
            }
            for s in &p.segments {
                if let Some(before) = old.segments.iter().find(|o| o.msn == s.msn)
                    && (before.uri != s.uri
                        || (before.duration - s.duration).abs() > 1e-9
                        || before.program_ms != s.program_ms)
                {
                    fail(format!("segment {} changed between reloads", s.msn));
                }
            }
        }
        self.count += 1;
        self.last = Some(p.clone());
        if bad.is_empty() { Ok(p) } else { Err(bad) }
    }
}

/// An ISO 8601 date and time (RFC 8216 §4.3.2.6: `2026-12-05T18:10:29.123Z`, or with an
/// offset `+01:00`), in Unix ms; `None` if it is not one.
pub fn date_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let punctuated = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')]
        .iter()
        .all(|&(i, c)| b.get(i) == Some(&c));
    if !punctuated {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let fraction = digits(start, (i - start).min(3))?;
        ms = fraction * [100, 10, 1][(i - start).clamp(1, 3) - 1];
    }
    let offset_min = match b.get(i..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let (h, m) = match b.len() - i {
                6 if b[i + 3] == b':' => (digits(i + 1, 2)?, digits(i + 4, 2)?),
                5 => (digits(i + 1, 2)?, digits(i + 3, 2)?),
                _ => return None,
            };
            let minutes = h * 60 + m;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    // Howard Hinnant's `days_from_civil`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(seconds * 1000 + ms)
}

/// An attribute of an attribute list, unquoted (RFC 8216 §4.2).
pub fn attribute(list: &str, name: &str) -> Option<String> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], quoted[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, next)) => (v, next),
                None => (after, ""),
            }
        };
        if key.trim() == name {
            return Some(value.to_owned());
        }
        rest = next;
    }
    None
}

/// RFC 8216bis §4.4.4.9: a part lasts at least 85 % of `PART-TARGET`, but an
/// INDEPENDENT one and the final part of a segment (which `parts` leaves out). Durations
/// are written to the millisecond: a millisecond of slack.
fn short_parts(
    parts: &[Part],
    target: Option<f64>,
    fail: &mut impl FnMut(usize, String),
    msn: u64,
) {
    let Some(target) = target else { return };
    for (i, part) in parts.iter().enumerate() {
        if !part.independent && part.duration + 0.001 < 0.85 * target {
            fail(
                0,
                format!(
                    "segment {msn}'s part {i} lasts {} s, under 85 % of PART-TARGET {target}",
                    part.duration
                ),
            );
        }
    }
}

fn last_part_uri(p: &Playlist) -> Option<String> {
    p.open_parts
        .last()
        .or_else(|| p.segments.iter().rev().find_map(|s| s.parts.last()))
        .map(|x| x.uri.clone())
}

/// Whether a URI names an MPEG-TS segment or part (by its name, `….ts[?…]`), which
/// needs no `EXT-X-MAP` (RFC 8216 §3.2; fMP4 does, §3.3).
fn is_ts(uri: &str) -> bool {
    uri.split('?')
        .next()
        .is_some_and(|path| path.ends_with(".ts"))
}

/// `part{msn}.{i}.m4s[?…]` (or `.ts`) as (msn, i): flashless's own URIs, which the
/// hint is compared by; other servers' hints are only checked for not being listed.
fn ours(uri: &str) -> Option<(u64, u32)> {
    let path = uri.split('?').next()?.strip_prefix("part")?;
    let name = path
        .strip_suffix(".m4s")
        .or_else(|| path.strip_suffix(".ts"))?;
    let (msn, i) = name.split_once('.')?;
    Some((msn.parse().ok()?, i.parse().ok()?))
}

/// Whether a part is the first of its segment: by flashless's names; other
/// servers' parts are taken as listed from the first.
fn is_first_part(uri: &str) -> bool {
    ours(uri).is_none_or(|(_, i)| i == 0)
}

#[cfg(test)]
mod tests;
