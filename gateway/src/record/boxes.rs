//! Reading and patching the ISO BMFF boxes (ISO/IEC 14496-12) of what the recorder
//! writes: the tracks of an init, the `tfdt` of each fragment. Every offset is
//! checked: a file on disk may be cut short.

use std::collections::HashMap;

/// A track of an init: its id, `mdhd` timescale, and whether it is video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InitTrack {
    pub(super) id: u32,
    pub(super) timescale: u32,
    pub(super) video: bool,
}

/// Each `trak` of a `moov`'s body.
pub(super) fn tracks(moov: &[u8]) -> Vec<InitTrack> {
    let mut out = Vec::new();
    for (kind, trak) in boxes(moov) {
        if kind != *b"trak" {
            continue;
        }
        let id = child(trak, b"tkhd").and_then(|b| {
            let at = if b.first() == Some(&1) { 20 } else { 12 };
            be32(b, at)
        });
        let mdia = child(trak, b"mdia");
        let timescale = mdia.and_then(|m| child(m, b"mdhd")).and_then(|b| {
            let at = if b.first() == Some(&1) { 20 } else { 12 };
            be32(b, at)
        });
        let video = mdia
            .and_then(|m| child(m, b"hdlr"))
            .and_then(|h| h.get(8..12))
            == Some(b"vide".as_slice());
        if let (Some(id), Some(timescale)) = (id, timescale.filter(|&t| t > 0)) {
            out.push(InitTrack {
                id,
                timescale,
                video,
            });
        }
    }
    out
}

/// Shifts each fragment of `part` (`moof` + `mdat` pairs) back in time so that the
/// file it goes into starts at 0: a track's `tfdt` less its `shift`, decided at the
/// track's first fragment in the file: the file's origin (`origin_s`, set by the
/// first fragment of any track) in the track's timescale, at most that `tfdt`.
pub(super) fn rebase(
    part: &mut [u8],
    tracks: &[InitTrack],
    origin_s: &mut Option<f64>,
    shift: &mut HashMap<u32, u64>,
) {
    for (id, at, version) in tfdts(part) {
        let Some(track) = tracks.iter().find(|t| t.id == id) else {
            continue;
        };
        let Some(tfdt) = read_tfdt(part, at, version) else {
            continue;
        };
        let timescale = f64::from(track.timescale);
        let origin = *origin_s.get_or_insert(tfdt as f64 / timescale);
        let by = *shift
            .entry(id)
            .or_insert_with(|| ((origin * timescale).floor() as u64).min(tfdt));
        write_tfdt(part, at, version, tfdt.saturating_sub(by));
    }
}

/// Each `traf`'s (track id, offset of its `tfdt` body, `tfdt` version).
fn tfdts(part: &[u8]) -> Vec<(u32, usize, u8)> {
    let mut out = Vec::new();
    for (moof_at, kind, moof) in offsets(part, 0) {
        if kind != *b"moof" {
            continue;
        }
        for (traf_at, kind, traf) in offsets(moof, moof_at) {
            if kind != *b"traf" {
                continue;
            }
            let mut id = None;
            let mut tfdt = None;
            for (at, kind, body) in offsets(traf, traf_at) {
                match &kind {
                    b"tfhd" => id = be32(body, 4),
                    b"tfdt" => tfdt = body.first().map(|&v| (at, v)),
                    _ => {}
                }
            }
            if let (Some(id), Some((at, version))) = (id, tfdt) {
                out.push((id, at, version));
            }
        }
    }
    out
}

/// The boxes in `data` as (offset of the body from the start of the outer buffer,
/// type, body), `base` being `data`'s own offset there.
fn offsets(data: &[u8], base: usize) -> Vec<(usize, [u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    for (kind, body) in boxes(data) {
        out.push((base + at + 8, kind, body));
        at += body.len() + 8;
    }
    out
}

fn read_tfdt(part: &[u8], at: usize, version: u8) -> Option<u64> {
    if version == 1 {
        let b = part.get(at + 4..at + 12)?;
        Some(u64::from_be_bytes(b.try_into().ok()?))
    } else {
        be32(part, at + 4).map(u64::from)
    }
}

fn write_tfdt(part: &mut [u8], at: usize, version: u8, value: u64) {
    if version == 1 {
        if let Some(b) = part.get_mut(at + 4..at + 12) {
            b.copy_from_slice(&value.to_be_bytes());
        }
    } else if let Some(b) = part.get_mut(at + 4..at + 8) {
        b.copy_from_slice(&(u32::try_from(value).unwrap_or(u32::MAX)).to_be_bytes());
    }
}

/// The boxes that fill `data`, as (type, body); a malformed one ends the list.
pub(super) fn boxes(mut data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while let Some(size) = be32(data, 0) {
        let size = size as usize;
        let (Some(kind), true) = (data.get(4..8), size >= 8 && size <= data.len()) else {
            break;
        };
        let mut k = [0u8; 4];
        k.copy_from_slice(kind);
        out.push((k, &data[8..size]));
        data = &data[size..];
    }
    out
}

pub(super) fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(body)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, b)| b)
}

pub(super) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}
