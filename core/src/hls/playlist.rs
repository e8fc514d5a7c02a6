//! The media playlist's text (RFC 8216 §4, RFC 8216bis §4.4.3.7–§4.4.5.3 for the
//! low-latency tags).

use alloc::string::String;
use core::fmt::Write;

use super::Window;

/// Parts are listed for the segments within this many target durations of the live
/// edge; older segments are listed whole (RFC 8216bis §4.4.4.9 suggests three).
const PARTS_WITHIN_TARGETS: f64 = 3.0;

pub(super) fn write(w: &Window, query: &str, delta: bool) -> String {
    let mut out = String::with_capacity(2048);
    let part_target_s = w.part_target_ms / 1000.0;
    // RFC 8216bis §4.4.3.8 asks at least twice PART-TARGET; three times is its advice
    // and what keeps a player clear of stalls when a part comes late.
    let hold_back = 3.0 * part_target_s;
    let first_msn = w.segments.front().map_or(w.next_msn, |s| s.msn);
    // TS goes without parts: hls.js places each MP3 append of a segment's parts at the
    // segment's start (an `audio/mpeg` SourceBuffer has no timestamps of its own), so
    // only whole segments play there.
    let parts = w.ts.is_none();
    let _ = writeln!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{}",
        w.target_s
    );
    let skip_until = w.skip_until_s();
    out.push_str("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES");
    if let Some(s) = skip_until {
        let _ = write!(out, ",CAN-SKIP-UNTIL={s:.1}");
    }
    if parts {
        let _ = write!(
            out,
            ",PART-HOLD-BACK={hold_back:.3}\n#EXT-X-PART-INF:PART-TARGET={part_target_s:.3}\n"
        );
    } else {
        out.push('\n');
    }
    let _ = write!(
        out,
        "#EXT-X-MEDIA-SEQUENCE:{first_msn}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
        w.discontinuity_sequence,
    );
    if w.independent_segments() {
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    // Where the parts start being listed: the edge minus three target durations.
    let total: f64 = w
        .segments
        .iter()
        .map(|s| s.duration_ms.unwrap_or_else(|| parts_ms(s)))
        .sum();
    let parts_from = total - PARTS_WITHIN_TARGETS * f64::from(w.target_s) * 1000.0;
    // A delta update leaves out the complete segments that end before the skip boundary.
    let skip_before = match skip_until {
        Some(s) if delta => total - s * 1000.0,
        _ => f64::NEG_INFINITY,
    };
    let mut skipped = 0;
    let mut elapsed = 0.0;
    let mut map = None;
    let ext = w.extension();
    for s in &w.segments {
        if s.parts.is_empty() {
            continue;
        }
        if let Some(d) = s.duration_ms
            && elapsed + d <= skip_before
        {
            elapsed += d;
            skipped += 1;
            continue;
        }
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
            skipped = 0;
        }
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if map != Some(s.init) && w.ts.is_none() {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"init{}.mp4{query}\"", s.init);
            map = Some(s.init);
        }
        out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
        date_time(&mut out, s.program_ms as u64);
        out.push('\n');
        let duration = s.duration_ms.unwrap_or_else(|| parts_ms(s));
        if parts && (elapsed + duration > parts_from || s.duration_ms.is_none()) {
            for (index, p) in s.parts.iter().enumerate() {
                let _ = write!(
                    out,
                    "#EXT-X-PART:DURATION={:.3},URI=\"part{}.{index}.{ext}{query}\"",
                    p.duration_ms / 1000.0,
                    s.msn
                );
                out.push_str(if p.independent {
                    ",INDEPENDENT=YES\n"
                } else {
                    "\n"
                });
            }
        }
        elapsed += duration;
        if let Some(d) = s.duration_ms {
            let _ = writeln!(out, "#EXTINF:{:.3},\nseg{}.{ext}{query}", d / 1000.0, s.msn);
        }
    }
    if parts {
        let (msn, index) = w.next_part();
        let _ = writeln!(
            out,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part{msn}.{index}.{ext}{query}\""
        );
    }
    out
}

/// Unix ms as ISO 8601 in UTC with milliseconds (`2026-12-05T18:10:29.123Z`), by the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
pub(super) fn date_time(out: &mut String, unix_ms: u64) {
    let (days, ms) = (unix_ms / 86_400_000, unix_ms % 86_400_000);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    );
}

fn parts_ms(s: &super::Segment) -> f64 {
    s.parts.iter().map(|p| p.duration_ms).sum()
}
