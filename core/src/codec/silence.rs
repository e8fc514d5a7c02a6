//! Coded frames of silence, built for a stream's own configuration, so that the
//! remuxer can fill a hole in an audio track with something its decoder plays.
//!
//! - AAC: a `raw_data_block()` with one element per channel of the channel
//!   configuration, every scale factor band coded with the zero codebook.
//! - MPEG audio (layers I–III): the previous frame's header with all-zero side
//!   information and main data: no bits allocated, nothing to play.
//! - Opus: CELT-only packets whose first range-coded symbol, the silence flag, is set.
//! - FLAC: a frame of CONSTANT subframes of value 0.
//!
//! Anything else gets no silence here; the remuxer stretches a sample across the
//! hole instead.

use super::bits::BitWriter;
use super::{AacConfig, FlacConfig, Mp3Header, flac};

/// ISO/IEC 14496-3 4.5.2.1 syntactic element ids.
const ID_SCE: u32 = 0;
const ID_CPE: u32 = 1;
const ID_LFE: u32 = 3;
const ID_END: u64 = 7;
/// Typical of encoders' output; with every band in the zero codebook it scales nothing.
const GLOBAL_GAIN: u64 = 100;

/// One frame of AAC silence for `config` (1024 samples of the core codec; with SBR
/// the decoder makes its 2048 output samples from it). `None` for a channel
/// configuration given by a program_config_element (0) or one whose element
/// order is not known here (13, 14).
pub fn aac(config: &AacConfig) -> Option<Vec<u8>> {
    // 14496-3 table 1.19 and its amendments: the elements of each configuration.
    const S: u32 = ID_SCE;
    const C: u32 = ID_CPE;
    const L: u32 = ID_LFE;
    let elements: &[u32] = match config.channel_config {
        1 => &[S],
        2 => &[C],
        3 => &[S, C],
        4 => &[S, C, S],
        5 => &[S, C, C],
        6 => &[S, C, C, L],
        7 | 12 => &[S, C, C, C, L],
        11 => &[S, C, C, S, L],
        _ => return None,
    };
    let mut w = BitWriter::default();
    let mut tags = [0u32; 4];
    for &id in elements {
        let tag = &mut tags[id as usize];
        w.bits(3, id.into()).bits(4, (*tag).into());
        *tag += 1;
        if id == ID_CPE {
            // common_window = 1: one ics_info for both channels, no M/S.
            w.bits(1, 1);
            ics_info(&mut w);
            w.bits(2, 0);
            silent_channel(&mut w);
            silent_channel(&mut w);
        } else {
            // An SCE and an LFE are one individual_channel_stream with its ics_info.
            w.bits(8, GLOBAL_GAIN);
            ics_info(&mut w);
            section_and_tools(&mut w);
        }
    }
    w.bits(3, ID_END);
    Some(w.into_bytes())
}

/// One MPEG audio frame of silence with the header of `frame` (its first four
/// bytes): the same version, layer, rate, bitrate and channel mode, so the same
/// length and duration. The CRC is switched off so no checksum has to be made.
pub fn mp3(frame: &[u8]) -> Option<Vec<u8>> {
    let h = Mp3Header::parse(frame).ok()?;
    let mut out = vec![0u8; h.frame_len.max(4)];
    out[..4].copy_from_slice(frame.get(..4)?);
    out[1] |= 1; // protection_bit = 1: no CRC follows
    Some(out)
}

/// An Opus packet of `samples` (120, 240, 480 or 960 at 48 kHz) of silence, for a
/// stream of `streams` elementary streams of which the first `coupled` are
/// stereo (RFC 7845 5.1.1; 1 and 0 or 1 for mapping family 0). Each is a CELT-only
/// fullband frame (RFC 6716 3.1, configurations 28–31) whose range-coded payload
/// decodes the silence flag as 1 first; all but the last stream use the
/// self-delimiting framing of RFC 6716 appendix B.
pub fn opus(samples: u32, streams: u8, coupled: u8) -> Option<Vec<u8>> {
    let config: u8 = match samples {
        120 => 28,
        240 => 29,
        480 => 30,
        960 => 31,
        _ => return None,
    };
    if streams == 0 || coupled > streams {
        return None;
    }
    let mut out = Vec::with_capacity(4 * usize::from(streams));
    for i in 0..streams {
        out.push(config << 3 | u8::from(i < coupled) << 2);
        if i + 1 < streams {
            out.push(2); // the frame's length, self-delimited
        }
        out.extend_from_slice(&[0xff, 0xfe]);
    }
    Some(out)
}

/// A FLAC frame of `samples` (16 up to the stream's maximum block size) of
/// silence for the stream of `config` (RFC 9639 9.1–9.2): fixed blocking, frame
/// number 0, the block size in 16 bits, rate and sample size from STREAMINFO,
/// independent channels, each a CONSTANT subframe of value 0.
pub fn flac(config: &FlacConfig, samples: u32) -> Option<Vec<u8>> {
    if samples < 16 || samples > u32::from(config.max_block_size) || config.channels == 0 {
        return None;
    }
    let mut header = vec![0xff, 0xf8, 0x70, (config.channels - 1) << 4, 0];
    header.extend_from_slice(&u16::try_from(samples - 1).ok()?.to_be_bytes());
    header.push(flac::crc8(&header));
    let mut w = BitWriter::after(header);
    for _ in 0..config.channels {
        // Zero padding bit, type 0b000000 (CONSTANT), no wasted bits; the value.
        w.bits(8, 0).bits(u32::from(config.bits_per_sample), 0);
    }
    let crc = crc16(w.as_slice());
    let mut frame = w.into_bytes();
    frame.extend_from_slice(&crc.to_be_bytes());
    Some(frame)
}

/// CRC-16 with polynomial x^16 + x^15 + x^2 + 1, initial value 0 (RFC 9639 9.3).
fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |mut crc, &b| {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                crc << 1 ^ 0x8005
            } else {
                crc << 1
            };
        }
        crc
    })
}

/// ics_info() for one long window (14496-3 4.4.6.1): max_sfb = 1, no prediction.
fn ics_info(w: &mut BitWriter) {
    w.bits(1, 0).bits(2, 0).bits(1, 0).bits(6, 1).bits(1, 0);
}

/// individual_channel_stream() of a channel that shares its element's ics_info.
fn silent_channel(w: &mut BitWriter) {
    w.bits(8, GLOBAL_GAIN);
    section_and_tools(w);
}

/// section_data() of one section of one band in ZERO_HCB (so no scale factors
/// and no spectral data), then no pulse, TNS or gain control data.
fn section_and_tools(w: &mut BitWriter) {
    w.bits(4, 0).bits(5, 1).bits(1, 0).bits(1, 0).bits(1, 0);
}
