//! Reading a plain MP4 file (`moov` with sample tables, media in `mdat`) with H.264, AAC
//! and MP3 tracks as the FLV tags an RTMP publisher sends: what `flashless push` needs to
//! publish an MP4 as `ffmpeg -re -i x.mp4 -c copy -f flv` does. The whole file is in
//! memory; every count and offset read from it is checked against its length first.
//! Fragmented MP4 (`moof` after an empty `moov`) is read too.

use alloc::vec::Vec;
use bytes::Bytes;

use crate::flv::{Tag, TagType};

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Mp4Error {
    #[error("not an MP4 file: no moov box")]
    NoMoov,
    #[error("bad {what} box at byte {offset}")]
    BadBox { what: &'static str, offset: usize },
    #[error("no H.264, AAC or MP3 track")]
    NoTrack,
}

/// The file's tracks as FLV tags: metadata-free, sequence headers first (MP3 has none),
/// then every sample in decoding order, timestamps in milliseconds from 0.
pub fn to_flv_tags(file: &[u8]) -> Result<Vec<Tag>, Mp4Error> {
    let tracks = read(file)?;
    let mut headers = Vec::new();
    let mut samples: Vec<(u64, usize, Tag)> = Vec::new();
    for track in &tracks {
        let tag_type = if track.config.is_video() {
            TagType::Video
        } else {
            TagType::Audio
        };
        let sequence_header = match &track.config {
            Config::Avc(_) => Some(vec![0x17, 0, 0, 0, 0]),
            Config::Aac(_) => Some(vec![0xAF, 0]),
            Config::Mp3 => None,
        };
        if let Some(mut header) = sequence_header {
            header.extend_from_slice(track.config.record());
            headers.push(Tag {
                tag_type,
                timestamp: 0,
                data: Bytes::from(header),
            });
        }
        for (i, s) in track.samples.iter().enumerate() {
            let data = track.data(file, s)?;
            // Saturating: a file may claim any time; it must not overflow.
            let ms = s.dts.saturating_mul(1000) / track.timescale;
            let prefix = match track.config {
                Config::Avc(_) => {
                    let cts_ms = (s.cts.saturating_mul(1000) / track.timescale as i64) as i32;
                    let c = cts_ms.to_be_bytes();
                    let frame = if s.key { 0x17 } else { 0x27 };
                    vec![frame, 1, c[1], c[2], c[3]]
                }
                Config::Aac(_) => vec![0xAF, 1],
                Config::Mp3 => vec![mp3_sound_byte(data)],
            };
            let mut body = prefix;
            body.extend_from_slice(data);
            samples.push((
                ms,
                i,
                Tag {
                    tag_type,
                    timestamp: ms as u32,
                    data: Bytes::from(body),
                },
            ));
        }
    }
    samples.sort_by_key(|(ms, i, t)| (*ms, t.tag_type != TagType::Video, *i));
    headers.extend(samples.into_iter().map(|(_, _, t)| t));
    Ok(headers)
}

/// An MP3 tag's first byte for a frame: sound format 2 (14 at 8 kHz), the nearest of
/// FLV's four rates, 16-bit, mono or stereo. Players read the frame's own header; a
/// frame whose header does not parse is sent as 44 kHz stereo, for the remuxer to judge.
fn mp3_sound_byte(frame: &[u8]) -> u8 {
    let (rate, stereo) = crate::codec::Mp3Header::parse(frame)
        .map_or((44_100, true), |h| (h.sample_rate, h.channels > 1));
    let format = if rate == 8000 { 14 } else { 2 };
    let rate_index = match rate {
        0..=8000 => 0,
        8001..=16_000 => 1,
        16_001..=24_000 => 2,
        _ => 3,
    };
    format << 4 | rate_index << 2 | 1 << 1 | u8::from(stereo)
}

/// The H.264, AAC and MP3 tracks of an MP4 file, plain or fragmented (`moof`s after the
/// `moov`, whose samples are appended to their tracks), in the `moov`'s order.
pub(crate) fn read(file: &[u8]) -> Result<Vec<Track>, Mp4Error> {
    let top = children(file, 0)?;
    let moov = top
        .iter()
        .find(|b| &b.kind == b"moov")
        .ok_or(Mp4Error::NoMoov)?;
    let mut tracks = Vec::new();
    for trak in children_of(file, moov)?
        .iter()
        .filter(|b| &b.kind == b"trak")
    {
        if let Some(track) = read_track(file, trak)? {
            tracks.push(track);
        }
    }
    if tracks.is_empty() {
        return Err(Mp4Error::NoTrack);
    }
    let trex = find(file, moov, &[b"mvex"])?
        .map(|mvex| children_of(file, &mvex))
        .transpose()?
        .unwrap_or_default();
    for moof in top.iter().filter(|b| &b.kind == b"moof") {
        fragments(file, moof, &trex, &mut tracks)?;
    }
    Ok(tracks)
}

/// The samples of one `moof`'s track fragments (`tfhd`, `tfdt`, `trun`), appended to
/// their tracks; defaults from the track's `trex`.
fn fragments(
    file: &[u8],
    moof: &Box4,
    trex: &[Box4],
    tracks: &mut [Track],
) -> Result<(), Mp4Error> {
    // The moof box's first byte: what data offsets count from (default-base-is-moof,
    // what ffmpeg and every fMP4 muxer write).
    let moof_start = moof.start.saturating_sub(8);
    for traf in children_of(file, moof)?
        .iter()
        .filter(|b| &b.kind == b"traf")
    {
        let body = |b: &Box4| file.get(b.start..b.end).unwrap_or_default();
        let bad = |what| Mp4Error::BadBox {
            what,
            offset: traf.start,
        };
        let tfhd = find(file, traf, &[b"tfhd"])?.ok_or(bad("tfhd"))?;
        let h = body(&tfhd);
        let flags = u32_at(h, 0).ok_or(bad("tfhd"))? & 0xff_ffff;
        let id = u32_at(h, 4).ok_or(bad("tfhd"))?;
        let Some(track) = tracks.iter_mut().find(|t| t.id == id) else {
            continue;
        };
        let defaults = trex
            .iter()
            .filter(|b| &b.kind == b"trex")
            .map(&body)
            .find(|t| u32_at(t, 4) == Some(id));
        let mut at = 8;
        let mut field = |flag: u32, width: usize| {
            (flags & flag != 0).then(|| {
                let v = if width == 8 {
                    u64_at(h, at)
                } else {
                    u32_at(h, at).map(u64::from)
                };
                at += width;
                v
            })
        };
        let base = field(0x1, 8).flatten().map_or(moof_start, |b| b as usize);
        let _ = field(0x2, 4);
        let default_duration = field(0x8, 4)
            .flatten()
            .or_else(|| defaults.and_then(|t| u32_at(t, 12)).map(u64::from))
            .unwrap_or(0);
        let default_size = field(0x10, 4)
            .flatten()
            .or_else(|| defaults.and_then(|t| u32_at(t, 16)).map(u64::from))
            .unwrap_or(0);
        let default_flags = field(0x20, 4)
            .flatten()
            .or_else(|| defaults.and_then(|t| u32_at(t, 20)).map(u64::from))
            .unwrap_or(0) as u32;
        let mut dts = match find(file, traf, &[b"tfdt"])? {
            Some(b) => {
                let t = body(&b);
                if t.first() == Some(&1) {
                    u64_at(t, 4)
                } else {
                    u32_at(t, 4).map(u64::from)
                }
            }
            None => None,
        }
        .unwrap_or_else(|| track.samples.last().map_or(0, |s| s.dts));
        let mut offset = base;
        for trun in children_of(file, traf)?
            .iter()
            .filter(|b| &b.kind == b"trun")
        {
            let r = body(trun);
            let flags = u32_at(r, 0).ok_or(bad("trun"))? & 0xff_ffff;
            let count = u32_at(r, 4).ok_or(bad("trun"))? as usize;
            let mut at = 8;
            if flags & 0x1 != 0 {
                let d = u32_at(r, at).ok_or(bad("trun"))? as i32;
                offset = base.saturating_add_signed(d as isize);
                at += 4;
            }
            let mut first_flags = None;
            if flags & 0x4 != 0 {
                first_flags = u32_at(r, at);
                at += 4;
            }
            let per = [0x100, 0x200, 0x400, 0x800]
                .iter()
                .filter(|&&f| flags & f != 0)
                .count()
                * 4;
            if count > file.len() || r.len() < at + per * count {
                return Err(bad("trun"));
            }
            for i in 0..count {
                let mut next = |flag: u32| {
                    (flags & flag != 0).then(|| {
                        let v = u32_at(r, at).unwrap_or(0);
                        at += 4;
                        v
                    })
                };
                let duration = next(0x100).map_or(default_duration, u64::from);
                let size = next(0x200).map_or(default_size, u64::from) as usize;
                let sample_flags = next(0x400)
                    .or(if i == 0 { first_flags } else { None })
                    .unwrap_or(default_flags);
                let cts = next(0x800).map_or(0, |c| i64::from(c as i32));
                track.samples.push(Sample {
                    offset,
                    size,
                    dts,
                    cts,
                    // sample_is_non_sync_sample.
                    key: !track.config.is_video() || sample_flags & 0x1_0000 == 0,
                });
                offset = offset.saturating_add(size);
                dts = dts.saturating_add(duration);
            }
        }
    }
    Ok(())
}

/// What a track's decoder is configured with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Config {
    /// The `avcC` record.
    Avc(Vec<u8>),
    /// The AudioSpecificConfig.
    Aac(Vec<u8>),
    /// MPEG audio (object type 0x6B or 0x69): its frames configure themselves.
    Mp3,
}

impl Config {
    /// A video track's (H.264), else a sound track's.
    pub(crate) fn is_video(&self) -> bool {
        matches!(self, Config::Avc(_))
    }

    /// The record as the FLV sequence header carries it (empty for MP3).
    pub(crate) fn record(&self) -> &[u8] {
        match self {
            Config::Avc(r) | Config::Aac(r) => r,
            Config::Mp3 => &[],
        }
    }
}

pub(crate) struct Track {
    /// `tkhd`'s track ID, which fragments name their track by.
    pub(crate) id: u32,
    pub(crate) timescale: u64,
    pub(crate) config: Config,
    pub(crate) samples: Vec<Sample>,
}

impl Track {
    /// A sample's bytes, checked against the file's length.
    pub(crate) fn data<'a>(&self, file: &'a [u8], s: &Sample) -> Result<&'a [u8], Mp4Error> {
        s.offset
            .checked_add(s.size)
            .and_then(|end| file.get(s.offset..end))
            .ok_or(Mp4Error::BadBox {
                what: "sample data",
                offset: s.offset,
            })
    }
}

pub(crate) struct Sample {
    offset: usize,
    size: usize,
    /// Decoding time and composition offset, in the track's timescale.
    pub(crate) dts: u64,
    pub(crate) cts: i64,
    pub(crate) key: bool,
}

#[derive(Clone, Copy)]
struct Box4 {
    kind: [u8; 4],
    /// Where the payload starts and ends in the file.
    start: usize,
    end: usize,
}

fn children_of(file: &[u8], parent: &Box4) -> Result<Vec<Box4>, Mp4Error> {
    let body = file.get(parent.start..parent.end).unwrap_or_default();
    children(body, parent.start)
}

/// The boxes in `data` (which starts at file offset `base`).
fn children(data: &[u8], base: usize) -> Result<Vec<Box4>, Mp4Error> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let bad = Mp4Error::BadBox {
            what: "box header",
            offset: base + at,
        };
        let size32 = u32_at(data, at).ok_or(bad.clone())? as usize;
        let mut kind = [0u8; 4];
        kind.copy_from_slice(data.get(at + 4..at + 8).ok_or(bad.clone())?);
        let (header, size) = match size32 {
            0 => (8, data.len() - at),
            1 => (16, u64_at(data, at + 8).ok_or(bad.clone())? as usize),
            n => (8, n),
        };
        // A 64-bit size may be anything: compared without an overflow.
        if size < header || size > data.len() - at {
            return Err(bad);
        }
        out.push(Box4 {
            kind,
            start: base + at + header,
            end: base + at + size,
        });
        at += size;
    }
    Ok(out)
}

fn find(file: &[u8], parent: &Box4, path: &[&[u8; 4]]) -> Result<Option<Box4>, Mp4Error> {
    let mut cur = *parent;
    for kind in path {
        match children_of(file, &cur)?
            .into_iter()
            .find(|b| &b.kind == *kind)
        {
            Some(b) => cur = b,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

fn read_track(file: &[u8], trak: &Box4) -> Result<Option<Track>, Mp4Error> {
    let Some(mdia) = find(file, trak, &[b"mdia"])? else {
        return Ok(None);
    };
    let body = |b: &Box4| file.get(b.start..b.end).unwrap_or_default();
    let bad = |what, b: &Box4| Mp4Error::BadBox {
        what,
        offset: b.start,
    };
    let Some(mdhd) = find(file, &mdia, &[b"mdhd"])? else {
        return Ok(None);
    };
    let m = body(&mdhd);
    let timescale = match m.first() {
        Some(1) => u32_at(m, 20),
        _ => u32_at(m, 12),
    }
    .filter(|&t| t > 0)
    .ok_or(bad("mdhd", &mdhd))? as u64;
    let Some(stbl) = find(file, &mdia, &[b"minf", b"stbl"])? else {
        return Ok(None);
    };
    let Some(stsd) = find(file, &stbl, &[b"stsd"])? else {
        return Ok(None);
    };
    // stsd: version/flags, entry count, then the first sample entry.
    let entries = children(body(&stsd).get(8..).unwrap_or_default(), stsd.start + 8)?;
    let Some(entry) = entries.first() else {
        return Ok(None);
    };
    let config = match &entry.kind {
        b"avc1" | b"avc3" => {
            // VisualSampleEntry: 78 bytes before its child boxes.
            let inner = Box4 {
                kind: entry.kind,
                start: entry.start + 78,
                end: entry.end,
            };
            let Some(avcc) = find(file, &inner, &[b"avcC"])? else {
                return Ok(None);
            };
            Config::Avc(body(&avcc).to_vec())
        }
        b"mp4a" => {
            // AudioSampleEntry: 28 bytes before its child boxes.
            let inner = Box4 {
                kind: entry.kind,
                start: entry.start + 28,
                end: entry.end,
            };
            let Some(esds) = find(file, &inner, &[b"esds"])? else {
                return Ok(None);
            };
            match decoder_config(body(&esds).get(4..).unwrap_or_default()) {
                Some((0x6B | 0x69, _)) => Config::Mp3,
                Some((_, Some(asc))) => Config::Aac(asc.to_vec()),
                _ => return Err(bad("esds", &esds)),
            }
        }
        _ => return Ok(None),
    };
    let table = |k: &[u8; 4]| -> Result<Option<&[u8]>, Mp4Error> {
        Ok(find(file, &stbl, &[k])?.map(|b| body(&b)))
    };
    let stsz = table(b"stsz")?.ok_or(bad("stsz", &stbl))?;
    let fixed = u32_at(stsz, 4).ok_or(bad("stsz", &stbl))? as usize;
    let count = u32_at(stsz, 8).ok_or(bad("stsz", &stbl))? as usize;
    // Every sample takes at least a byte of the file: a larger count is a lie.
    if count > file.len() || (fixed == 0 && stsz.len() < 12 + 4 * count) {
        return Err(bad("stsz", &stbl));
    }
    let size = |i: usize| {
        if fixed > 0 {
            Some(fixed)
        } else {
            u32_at(stsz, 12 + 4 * i).map(|s| s as usize)
        }
    };
    let chunk_offsets: Vec<usize> = match (table(b"stco")?, table(b"co64")?) {
        (Some(t), _) => entries_of(t, 4)
            .map(|e| u32_at(e, 0).unwrap_or(0) as usize)
            .collect(),
        (None, Some(t)) => entries_of(t, 8)
            .map(|e| u64_at(e, 0).unwrap_or(0) as usize)
            .collect(),
        _ => return Err(bad("stco", &stbl)),
    };
    let stsc: Vec<(usize, usize)> = entries_of(table(b"stsc")?.unwrap_or_default(), 12)
        .map(|e| {
            (
                u32_at(e, 0).unwrap_or(1) as usize,
                u32_at(e, 4).unwrap_or(0) as usize,
            )
        })
        .collect();
    let durations = runs(table(b"stts")?.unwrap_or_default(), count);
    let offsets = runs(table(b"ctts")?.unwrap_or_default(), count);
    let keys: Option<Vec<usize>> = table(b"stss")?.map(|t| {
        entries_of(t, 4)
            .map(|e| u32_at(e, 0).unwrap_or(0) as usize)
            .collect()
    });

    let mut samples = Vec::with_capacity(count);
    let mut dts = 0u64;
    let mut i = 0usize;
    for (c, &chunk_start) in chunk_offsets.iter().enumerate() {
        // stsc: the run whose first chunk (1-based) is the last at or before this one.
        let per_chunk = stsc
            .iter()
            .rev()
            .find(|(first, _)| *first <= c + 1)
            .map_or(0, |(_, n)| *n);
        let mut at = chunk_start;
        for _ in 0..per_chunk {
            if i >= count {
                break;
            }
            let len = size(i).ok_or(bad("stsz", &stbl))?;
            samples.push(Sample {
                offset: at,
                size: len,
                dts,
                cts: i64::from(offsets.get(i).copied().unwrap_or(0) as i32),
                key: keys
                    .as_ref()
                    .is_none_or(|k| k.binary_search(&(i + 1)).is_ok()),
            });
            at = at.saturating_add(len);
            dts = dts.saturating_add(u64::from(durations.get(i).copied().unwrap_or(0)));
            i += 1;
        }
    }
    let id = find(file, trak, &[b"tkhd"])?
        .and_then(|b| {
            let t = file.get(b.start..b.end)?;
            if t.first() == Some(&1) {
                u32_at(t, 20)
            } else {
                u32_at(t, 12)
            }
        })
        .unwrap_or(0);
    Ok(Some(Track {
        id,
        timescale,
        config,
        samples,
    }))
}

/// A table's entries (after version/flags and the entry count), each `width` bytes.
fn entries_of(table: &[u8], width: usize) -> impl Iterator<Item = &[u8]> {
    let n = u32_at(table, 4).unwrap_or(0) as usize;
    table
        .get(8..)
        .unwrap_or_default()
        .chunks_exact(width)
        .take(n)
}

/// stts/ctts: (count, value) runs expanded to one value per sample, at most `limit`.
fn runs(table: &[u8], limit: usize) -> Vec<u32> {
    let mut out = Vec::new();
    for e in entries_of(table, 8) {
        let n = u32_at(e, 0).unwrap_or(0) as usize;
        let v = u32_at(e, 4).unwrap_or(0);
        out.extend(core::iter::repeat_n(
            v,
            n.min(limit.saturating_sub(out.len())),
        ));
    }
    out
}

/// The DecoderConfigDescriptor (tag 4) inside an ES_Descriptor: its object type (0x40
/// AAC, 0x6B and 0x69 MPEG audio) and its DecoderSpecificInfo (tag 5: AAC's
/// configuration), if any.
fn decoder_config(mut d: &[u8]) -> Option<(u8, Option<&[u8]>)> {
    loop {
        let (tag, body, rest) = descriptor(d)?;
        match tag {
            // ES_Descriptor: ES_ID, flags, then the optional fields the flags name.
            3 => {
                let flags = *body.get(2)?;
                let mut skip = 3;
                if flags & 0x80 != 0 {
                    skip += 2;
                }
                if flags & 0x40 != 0 {
                    skip += 1 + usize::from(*body.get(skip)?);
                }
                if flags & 0x20 != 0 {
                    skip += 2;
                }
                d = body.get(skip..)?;
            }
            // DecoderConfigDescriptor: the object type, 12 more fixed bytes, then
            // DecoderSpecificInfo.
            4 => {
                let specific = descriptor(body.get(13..)?)
                    .filter(|(tag, _, _)| *tag == 5)
                    .map(|(_, specific, _)| specific);
                return Some((*body.first()?, specific));
            }
            _ => d = rest,
        }
    }
}

/// A descriptor's tag, its body (the length in the expandable form, up to 4 bytes) and
/// what follows it.
fn descriptor(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *d.first()?;
    let mut len = 0usize;
    let mut at = 1;
    for _ in 0..4 {
        let b = *d.get(at)?;
        at += 1;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    let end = at.checked_add(len)?;
    Some((tag, d.get(at..end)?, d.get(end..)?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs the `mp4` fuzz target found: a 64-bit box size past the end of the
    /// address space, and sample times whose millisecond value overflowed.
    #[test]
    fn fuzzer_findings_do_not_panic() {
        let _ = to_flv_tags(include_bytes!("../fuzz/seeds/mp4/overflow-1"));
        let _ = to_flv_tags(include_bytes!("../fuzz/seeds/mp4/overflow-2"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(to_flv_tags(b""), Err(Mp4Error::NoMoov));
        assert!(to_flv_tags(b"\0\0\0\x10ftypisom\0\0\0\x01\0\0\0\x09moov").is_err());
        let moov_only = b"\0\0\0\x08moov".to_vec();
        assert_eq!(to_flv_tags(&moov_only), Err(Mp4Error::NoTrack));
    }

    #[test]
    fn mp3_tags_say_the_frames_rate_and_channels() {
        // MPEG-1 layer III, 44.1 kHz, joint stereo; then mono (mode 3).
        assert_eq!(mp3_sound_byte(&[0xFF, 0xFB, 0x90, 0x44]), 0x2F);
        assert_eq!(mp3_sound_byte(&[0xFF, 0xFB, 0x90, 0xC4]), 0x2E);
        // MPEG-2 layer III at 22.05 kHz, stereo.
        assert_eq!(mp3_sound_byte(&[0xFF, 0xF3, 0x90, 0x44]), 0x2B);
        // Not a frame header: 44 kHz stereo, for the remuxer to judge.
        assert_eq!(mp3_sound_byte(b"junk"), 0x2F);
    }

    #[test]
    fn descriptors_lead_to_the_object_type_and_the_aac_configuration() {
        // ES_Descriptor(ES_ID 1, no flags) > DecoderConfigDescriptor > DecSpecificInfo 12 10.
        let esds = [
            3, 0x19, 0, 1, 0, 4, 0x11, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 2, 0x12,
            0x10, 6, 1, 2,
        ];
        assert_eq!(decoder_config(&esds), Some((0x40, Some(&[0x12, 0x10][..]))));
        // MP3 as the remuxer writes it: no DecoderSpecificInfo.
        let esds = [
            3, 0x15, 0, 1, 0, 4, 0x0D, 0x6B, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 1, 2,
        ];
        assert_eq!(decoder_config(&esds), Some((0x6B, None)));
    }
}
