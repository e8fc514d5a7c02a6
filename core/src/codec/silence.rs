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
use alloc::vec::Vec;

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
    let crc = flac::crc16(w.as_slice());
    let mut frame = w.into_bytes();
    frame.extend_from_slice(&crc.to_be_bytes());
    Some(frame)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn asc(channel_config: u8) -> AacConfig {
        AacConfig {
            object_type: 2,
            sample_rate: 44_100,
            channels: channel_config,
            channel_config,
        }
    }

    #[test]
    fn aac_mono_and_stereo_bits() {
        // SCE 0: gain 100, long window, max_sfb 1, one ZERO_HCB section of one band; END.
        assert_eq!(aac(&asc(1)).unwrap(), [0x00, 0xc8, 0x00, 0x80, 0x23, 0x80]);
        // CPE 0 with a common window and no M/S, two silent channels; END.
        assert_eq!(
            aac(&asc(2)).unwrap(),
            [0x21, 0x00, 0x43, 0x20, 0x04, 0x32, 0x00, 0x47]
        );
    }

    #[test]
    fn aac_elements_follow_the_channel_configuration() {
        // 5.1: SCE, CPE, CPE, LFE; the second CPE has instance tag 1.
        let six = aac(&asc(6)).unwrap();
        let one = aac(&asc(1)).unwrap();
        assert!(six.len() > 3 * one.len(), "{six:02x?}");
        assert_eq!(six[0] >> 5, ID_SCE as u8);
        for config in [0, 13, 14] {
            assert_eq!(aac(&asc(config)), None);
        }
        for config in [1, 2, 3, 4, 5, 6, 7, 11, 12] {
            assert!(aac(&asc(config)).is_some(), "{config}");
        }
    }

    #[test]
    fn mp3_silence_keeps_the_header_without_crc() {
        // MPEG 1 layer III 128 kb/s 44.1 kHz with CRC (protection_bit 0), padded.
        let frame = mp3(&[0xff, 0xfa, 0x92, 0x44]).unwrap();
        assert_eq!(frame.len(), 418);
        assert_eq!(&frame[..4], &[0xff, 0xfb, 0x92, 0x44]);
        assert!(frame[4..].iter().all(|&b| b == 0));
        assert_eq!(Mp3Header::parse(&frame).unwrap().samples_per_frame, 1152);
        assert_eq!(mp3(&[0, 0, 0, 0]), None);
    }

    #[test]
    fn flac_silence_is_a_frame_of_its_block_size() {
        // 44.1 kHz stereo 16-bit, blocks up to 4608.
        let mut info = vec![0x12, 0, 0x12, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0xc4, 0x42, 0xf0];
        info.resize(34, 0);
        let config = FlacConfig::parse(&info).unwrap();
        for n in [16, 1000, 4608] {
            let frame = flac(&config, n).unwrap();
            assert_eq!(flac::frame_block_size(&frame), Some(n));
            // Header 8 bytes, two subframes of 1 + 2 bytes, CRC-16.
            assert_eq!(frame.len(), 8 + 6 + 2);
            assert_eq!(flac::crc16(&frame), 0, "a frame's CRC-16 checks to 0");
        }
        assert_eq!(flac(&config, 15), None);
        assert_eq!(flac(&config, 4609), None);
    }

    #[test]
    fn opus_silence_durations_and_streams() {
        use crate::codec::opus::packet_samples;
        assert_eq!(opus(960, 1, 1).unwrap(), [0xfc, 0xff, 0xfe]);
        assert_eq!(opus(960, 1, 0).unwrap(), [0xf8, 0xff, 0xfe]);
        for n in [120, 240, 480, 960] {
            assert_eq!(packet_samples(&opus(n, 1, 0).unwrap()), Some(n));
        }
        assert_eq!(opus(100, 1, 0), None);
        assert_eq!(opus(960, 0, 0), None);
        // 5.1: four streams, two coupled; self-delimited but the last.
        assert_eq!(
            opus(480, 4, 2).unwrap(),
            [
                0xf4, 2, 0xff, 0xfe, 0xf4, 2, 0xff, 0xfe, 0xf0, 2, 0xff, 0xfe, 0xf0, 0xff, 0xfe
            ]
        );
    }
}
