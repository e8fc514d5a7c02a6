//! MPEG-TS (ISO/IEC 13818-1) made from the segmenter's fragmented MP4, for the HLS of
//! a channel whose sound is MP3: MP3 in MP4 has no MediaSource type in Chromium, so
//! hls.js there cannot play such a channel's fMP4 parts, while it plays MP3 in TS (into
//! an `audio/mpeg` SourceBuffer), as every HLS player does (RFC 8216 §3.2). H.264, AAC
//! and MP3 only.
//!
//! Sans-IO: [`TsMuxer::new`] takes the init segment, [`TsMuxer::part`] each part after
//! it (one or more `moof` + `mdat`) and gives its packets: a PAT and a PMT first (so any
//! part can be read on its own), then a PES per frame in decoding order, the PCR on the
//! video's (else the sound's) first packet of each. The continuity counters run on from
//! part to part, so a segment is its parts concatenated. Times are the fragments' own,
//! in 90 kHz, so the TS and the playlist's durations agree to the tick.

use alloc::vec::Vec;

use bytes::Bytes;

use crate::codec::{AvcConfig, length_prefixed};
use crate::mp4::{self, Config, Mp4Error};

const PACKET: usize = 188;
const PAT_PID: u16 = 0;
const PMT_PID: u16 = 0x1000;
const VIDEO_PID: u16 = 0x100;
const AUDIO_PID: u16 = 0x101;
/// Timestamps are 33 bits at 90 kHz.
const TS_MASK: u64 = (1 << 33) - 1;
/// An access unit delimiter (primary_pic_type 7: any slice type), which HLS's TS wants
/// before each picture.
const AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum TsError {
    #[error(transparent)]
    Mp4(#[from] Mp4Error),
    #[error("cannot go into MPEG-TS: {0}")]
    Unsupported(&'static str),
    #[error("H.264 frame at {dts} (90 kHz): {what}")]
    BadFrame { dts: u64, what: &'static str },
}

/// One init segment's tracks as TS elementary streams.
#[derive(Debug)]
pub struct TsMuxer {
    init: Bytes,
    /// In the init's track order (what [`mp4::read`] gives).
    streams: Vec<Stream>,
    pat_cc: u8,
    pmt_cc: u8,
}

#[derive(Debug)]
struct Stream {
    pid: u16,
    timescale: u64,
    cc: u8,
    codec: Codec,
}

#[derive(Debug)]
enum Codec {
    Avc {
        length_size: usize,
        /// The record's SPS and PPS in Annex B, put before each keyframe.
        parameter_sets: Vec<u8>,
    },
    /// The ADTS header's fixed bytes (its first four, the frame length left 0).
    Aac([u8; 4]),
    Mp3,
}

impl Codec {
    fn stream_type(&self) -> u8 {
        match self {
            Codec::Avc { .. } => 0x1B,
            Codec::Aac(_) => 0x0F,
            // ISO/IEC 11172-3 audio; MPEG-2 audio (0x04) is read the same by players.
            Codec::Mp3 => 0x03,
        }
    }

    fn pid(&self) -> u16 {
        match self {
            Codec::Avc { .. } => VIDEO_PID,
            Codec::Aac(_) | Codec::Mp3 => AUDIO_PID,
        }
    }

    fn stream_id(&self) -> u8 {
        match self {
            Codec::Avc { .. } => 0xE0,
            Codec::Aac(_) | Codec::Mp3 => 0xC0,
        }
    }
}

/// Whether a muxed init's MIME type (`video/mp4; codecs="avc1.64001f,mp4a.6B"`) names
/// a channel whose HLS goes as TS: every track H.264, AAC or MP3, and one of them MP3.
pub fn carries(mime: &str) -> bool {
    let Some((_, codecs)) = mime.split_once("codecs=") else {
        return false;
    };
    let codecs = codecs.trim_matches('"');
    let mp3 = |c: &str| c.eq_ignore_ascii_case("mp4a.6B") || c.eq_ignore_ascii_case("mp4a.69");
    let other = |c: &str| {
        ["avc1.", "avc3.", "mp4a.40."]
            .iter()
            .any(|p| c.starts_with(p))
    };
    let codecs = || codecs.split(',').map(str::trim);
    codecs().any(mp3) && codecs().all(|c| mp3(c) || other(c))
}

impl TsMuxer {
    /// The muxer for the parts after `init`, whose tracks [`carries`] takes; an error if
    /// a track cannot go into TS after all.
    pub fn new(init: Bytes) -> Result<TsMuxer, TsError> {
        let mut streams = Vec::new();
        for track in mp4::read(&init)? {
            let codec = match track.config {
                Config::Avc(record) => {
                    let avc = AvcConfig::parse(&Bytes::from(record))
                        .map_err(|_| TsError::Unsupported("a bad avcC record"))?;
                    let mut parameter_sets = Vec::new();
                    for nal in avc.sps.iter().chain(&avc.pps) {
                        parameter_sets.extend_from_slice(&[0, 0, 0, 1]);
                        parameter_sets.extend_from_slice(nal);
                    }
                    Codec::Avc {
                        length_size: usize::from(avc.nal_length_size),
                        parameter_sets,
                    }
                }
                Config::Aac(asc) => Codec::Aac(adts_header(&asc)?),
                Config::Mp3 => Codec::Mp3,
            };
            let pid = codec.pid();
            if streams.iter().any(|s: &Stream| s.pid == pid) {
                return Err(TsError::Unsupported("two tracks of one kind"));
            }
            streams.push(Stream {
                pid,
                timescale: track.timescale,
                cc: 0,
                codec,
            });
        }
        Ok(TsMuxer {
            init,
            streams,
            pat_cc: 0,
            pmt_cc: 0,
        })
    }

    /// One part (`moof` + `mdat` boxes after the init) as TS packets.
    pub fn part(&mut self, part: &[u8]) -> Result<Bytes, TsError> {
        let mut file = Vec::with_capacity(self.init.len() + part.len());
        file.extend_from_slice(&self.init);
        file.extend_from_slice(part);
        let tracks = mp4::read(&file)?;
        // Every frame as (dts, stream, pts, key, bytes), in decoding order across streams.
        let mut frames = Vec::new();
        for (i, track) in tracks.iter().enumerate().take(self.streams.len()) {
            let timescale = self.streams[i].timescale;
            for s in &track.samples {
                let dts = to_90k(s.dts, timescale);
                let pts = to_90k(s.dts.saturating_add_signed(s.cts), timescale);
                frames.push((dts, i, pts, s.key, track.data(&file, s)?));
            }
        }
        frames.sort_by_key(|&(dts, i, ..)| (dts, i));
        let pcr_pid = self.pcr_pid();
        let mut out = Vec::with_capacity(part.len() + part.len() / 8 + 4 * PACKET);
        self.tables(&mut out, pcr_pid);
        for (dts, i, pts, key, data) in frames {
            let stream = &mut self.streams[i];
            let mut es = Vec::with_capacity(data.len() + 64);
            match &stream.codec {
                Codec::Avc {
                    length_size,
                    parameter_sets,
                } => {
                    es.extend_from_slice(&AUD);
                    if key {
                        es.extend_from_slice(parameter_sets);
                    }
                    for nal in length_prefixed(data, *length_size) {
                        let nal = nal.map_err(|what| TsError::BadFrame { dts, what })?;
                        es.extend_from_slice(&[0, 0, 0, 1]);
                        es.extend_from_slice(nal);
                    }
                }
                Codec::Aac(header) => {
                    let len = data.len() + 7;
                    if len >= 1 << 13 {
                        return Err(TsError::Unsupported("an AAC frame too long for ADTS"));
                    }
                    es.extend_from_slice(&[
                        header[0],
                        header[1],
                        header[2],
                        header[3] | (len >> 11) as u8,
                        (len >> 3) as u8,
                        ((len & 7) as u8) << 5 | 0x1F,
                        0xFC,
                    ]);
                    es.extend_from_slice(data);
                }
                Codec::Mp3 => es.extend_from_slice(data),
            }
            let pcr = (stream.pid == pcr_pid).then_some(dts);
            let video = matches!(stream.codec, Codec::Avc { .. });
            pes(
                &mut out,
                stream,
                &es,
                pts,
                (pts != dts).then_some(dts),
                pcr,
                key && video,
            );
        }
        Ok(Bytes::from(out))
    }

    fn pcr_pid(&self) -> u16 {
        self.streams
            .iter()
            .map(|s| s.pid)
            .find(|&p| p == VIDEO_PID)
            .unwrap_or(AUDIO_PID)
    }

    /// The PAT and the PMT, each a packet.
    fn tables(&mut self, out: &mut Vec<u8>, pcr_pid: u16) {
        // PAT: program 1 at the PMT's PID.
        let pmt = PMT_PID.to_be_bytes();
        section(
            out,
            PAT_PID,
            &mut self.pat_cc,
            0x00,
            &[0, 1, 0xE0 | pmt[0], pmt[1]],
        );
        let pcr = pcr_pid.to_be_bytes();
        let mut body = vec![0xE0 | pcr[0], pcr[1], 0xF0, 0];
        for s in &self.streams {
            let pid = s.pid.to_be_bytes();
            body.extend_from_slice(&[s.codec.stream_type(), 0xE0 | pid[0], pid[1], 0xF0, 0]);
        }
        section(out, PMT_PID, &mut self.pmt_cc, 0x02, &body);
    }
}

/// A PSI section (table `table_id` of program/transport stream 1, version 0) in one packet.
fn section(out: &mut Vec<u8>, pid: u16, cc: &mut u8, table_id: u8, body: &[u8]) {
    let mut s = Vec::with_capacity(body.len() + 12);
    // pointer_field, then the section: its length counts from after itself, CRC included.
    s.push(0);
    let len = (5 + body.len() + 4) as u16;
    s.extend_from_slice(&[table_id, 0xB0 | (len >> 8) as u8, len as u8]);
    s.extend_from_slice(&[0, 1, 0xC1, 0, 0]);
    s.extend_from_slice(body);
    let crc = crc32(&s[1..]);
    s.extend_from_slice(&crc.to_be_bytes());
    let start = out.len();
    out.extend_from_slice(&header(pid, true, *cc, false));
    *cc = (*cc + 1) & 0xF;
    out.extend_from_slice(&s);
    out.resize(start + PACKET, 0xFF);
}

/// A packet's 4-byte header; `adaptation`: an adaptation field follows (then payload).
fn header(pid: u16, start: bool, cc: u8, adaptation: bool) -> [u8; 4] {
    let p = pid.to_be_bytes();
    [
        0x47,
        u8::from(start) << 6 | (p[0] & 0x1F),
        p[1],
        if adaptation { 0x30 } else { 0x10 } | (cc & 0xF),
    ]
}

/// One PES packet of `es`, cut into TS packets; the first carries the PCR when given
/// and the random access flag on a keyframe; the last is filled up by stuffing its
/// adaptation field.
fn pes(
    out: &mut Vec<u8>,
    stream: &mut Stream,
    es: &[u8],
    pts: u64,
    dts: Option<u64>,
    pcr: Option<u64>,
    random_access: bool,
) {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(&[0, 0, 1, stream.codec.stream_id()]);
    let optional = if dts.is_some() { 10 } else { 5 };
    // PES_packet_length: 0 (unbounded) where it does not fit, which only video may use.
    let len = 3 + optional + es.len();
    let len = if len <= 0xFFFF { len as u16 } else { 0 };
    head.extend_from_slice(&len.to_be_bytes());
    head.extend_from_slice(&[
        0x80,
        if dts.is_some() { 0xC0 } else { 0x80 },
        optional as u8,
    ]);
    timestamp(&mut head, if dts.is_some() { 0x3 } else { 0x2 }, pts);
    if let Some(dts) = dts {
        timestamp(&mut head, 0x1, dts);
    }
    let mut data = head;
    data.extend_from_slice(es);
    let mut at = 0;
    while at < data.len() {
        let first = at == 0;
        let remaining = data.len() - at;
        // The adaptation field's bytes after its length: the PCR and the flags on the
        // first packet, stuffing on the last.
        let mut field = None;
        if first && (pcr.is_some() || random_access) {
            let mut f = vec![u8::from(random_access) << 6 | u8::from(pcr.is_some()) << 4];
            if let Some(pcr) = pcr {
                let base = pcr & TS_MASK;
                f.extend_from_slice(&[
                    (base >> 25) as u8,
                    (base >> 17) as u8,
                    (base >> 9) as u8,
                    (base >> 1) as u8,
                    ((base & 1) as u8) << 7 | 0x7E,
                    0,
                ]);
            }
            field = Some(f);
        }
        let room = PACKET - 4 - field.as_ref().map_or(0, |f: &Vec<u8>| 1 + f.len());
        if remaining < room {
            // The field's length byte alone stuffs one byte; flags (none) and 0xFF the rest.
            let stuffing = PACKET - 4 - remaining;
            let f = field.get_or_insert_with(Vec::new);
            if stuffing > 1 {
                if f.is_empty() {
                    f.push(0);
                }
                f.resize(stuffing - 1, 0xFF);
            }
        }
        out.extend_from_slice(&header(stream.pid, first, stream.cc, field.is_some()));
        stream.cc = (stream.cc + 1) & 0xF;
        let mut used = 4;
        if let Some(f) = &field {
            out.push(f.len() as u8);
            out.extend_from_slice(f);
            used += 1 + f.len();
        }
        let take = (PACKET - used).min(remaining);
        out.extend_from_slice(&data[at..at + take]);
        at += take;
    }
}

/// A PTS or DTS: 4 bits of `marker`, then 33 bits in three runs, each closed by a 1 bit.
fn timestamp(out: &mut Vec<u8>, marker: u8, t: u64) {
    let t = t & TS_MASK;
    out.extend_from_slice(&[
        marker << 4 | ((t >> 29) as u8 & 0x0E) | 1,
        (t >> 22) as u8,
        ((t >> 14) as u8 & 0xFE) | 1,
        (t >> 7) as u8,
        ((t << 1) as u8 & 0xFE) | 1,
    ]);
}

fn to_90k(ticks: u64, timescale: u64) -> u64 {
    (u128::from(ticks) * 90_000 / u128::from(timescale.max(1))) as u64
}

/// The ADTS header's first four bytes for an AudioSpecificConfig: the profile
/// (object type − 1; HE-AAC's SBR and PS signalled as AAC-LC, which decoders extend
/// implicitly), the core's sampling frequency index and the channel configuration.
fn adts_header(asc: &[u8]) -> Result<[u8; 4], TsError> {
    let &[a, b, ..] = asc else {
        return Err(TsError::Unsupported("a short AudioSpecificConfig"));
    };
    let object_type = a >> 3;
    let frequency = (a & 0x07) << 1 | b >> 7;
    let channels = (b >> 3) & 0x0F;
    let profile = match object_type {
        1..=4 => object_type - 1,
        5 | 29 => 1,
        _ => return Err(TsError::Unsupported("an AAC object type ADTS cannot carry")),
    };
    if frequency > 12 || channels > 7 {
        return Err(TsError::Unsupported(
            "an AAC sampling rate or layout ADTS cannot carry",
        ));
    }
    Ok([
        0xFF,
        0xF1,
        profile << 6 | frequency << 2 | channels >> 2,
        (channels & 3) << 6,
    ])
}

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, initial value all ones), as PSI sections end with.
fn crc32(data: &[u8]) -> u32 {
    crate::codec::crc(data, 32, 0x04C1_1DB7, u32::MAX)
}

#[cfg(test)]
mod tests;
