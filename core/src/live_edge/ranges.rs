//! Buffered time ranges (`TimeRanges` as sorted `(start, end)` pairs, seconds):
//! where every track has media, and where in it a seek may land.
//!
//! A media element plays, and completes a seek, only where every SourceBuffer
//! has media; a seek into a hole of one track stays pending until that hole is
//! filled, which for a hole in the past is never.

use alloc::vec::Vec;

/// Where a seek lands past a range's start (and stops short of its end): a hair
/// inside, not on the boundary, where rounding puts it in the neighbouring hole.
pub const INSIDE: f64 = 0.05;

/// The ranges every one of `tracks` has, intersected with `element` (the
/// element's own `buffered`, which browsers already report as an intersection
/// but not always: an ended stream extends its last range).
pub fn common(element: &[(f64, f64)], tracks: &[Vec<(f64, f64)>]) -> Vec<(f64, f64)> {
    let mut out = element.to_vec();
    for track in tracks {
        out = intersect(&out, track);
    }
    out
}

/// The first position at or after `t` inside one of `ranges`, at least a margin
/// from either end: `t` itself when it is well inside a range, else the start
/// (plus the margin) of the next range that has room. `None`: nothing ahead.
pub fn land_at_or_after(ranges: &[(f64, f64)], t: f64) -> Option<f64> {
    ranges.iter().find_map(|&(a, b)| {
        let m = margin(a, b);
        (b - m > t).then(|| t.max(a + m))
    })
}

/// The last position at or before `t` inside one of `ranges`, a margin from
/// either end. `None`: nothing at or before `t`.
pub fn land_at_or_before(ranges: &[(f64, f64)], t: f64) -> Option<f64> {
    ranges.iter().rev().find_map(|&(a, b)| {
        let m = margin(a, b);
        (a + m <= t).then(|| t.min(b - m))
    })
}

/// Whether `t` lies in one of `ranges` (its very start counts: a seek lands there).
pub fn contains(ranges: &[(f64, f64)], t: f64) -> bool {
    ranges.iter().any(|&(a, b)| t >= a - 0.01 && t < b)
}

/// [`INSIDE`], or the middle of a range too short for it.
fn margin(a: f64, b: f64) -> f64 {
    INSIDE.min((b - a) / 2.0)
}

fn intersect(x: &[(f64, f64)], y: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    // `get`, not indexing: no bounds-check panic (and its formatting) in the wasm.
    while let (Some(&(a0, a1)), Some(&(b0, b1))) = (x.get(i), y.get(j)) {
        let start = a0.max(b0);
        let end = a1.min(b1);
        if end > start {
            out.push((start, end));
        }
        if a1 < b1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_is_what_every_track_has() {
        let audio = vec![(571.33, 574.42), (574.49, 577.0)];
        let video = vec![(571.40, 576.51)];
        let all = [(571.40, 576.51)];
        assert_eq!(
            common(&all, &[video, audio]),
            vec![(571.40, 574.42), (574.49, 576.51)]
        );
        assert_eq!(common(&all, &[]), all.to_vec());
        assert_eq!(common(&all, &[vec![]]), vec![]);
    }

    #[test]
    fn lands_inside_with_a_margin_never_in_a_hole() {
        let r = [(10.0, 11.0), (11.07, 11.5), (12.0, 12.04)];
        let at = |t, want: Option<f64>| {
            let got = land_at_or_after(&r, t);
            assert!(
                got.zip(want)
                    .map_or(got == want, |(g, w)| (g - w).abs() < 1e-9),
                "{t}: {got:?}"
            );
        };
        at(10.5, Some(10.5));
        at(9.0, Some(10.05));
        // At the end of a range and in the hole after it: the next range's start.
        at(10.98, Some(11.12));
        at(11.03, Some(11.12));
        // A range shorter than two margins: its middle.
        at(11.6, Some(12.02));
        at(12.03, None);
        assert!((land_at_or_before(&r, 11.9).unwrap_or(0.0) - 11.45).abs() < 1e-9);
        assert_eq!(land_at_or_before(&r, 10.5), Some(10.5));
        assert_eq!(land_at_or_before(&r, 10.01), None);
    }
}
