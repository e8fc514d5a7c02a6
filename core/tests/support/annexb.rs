//! H.265 Annex B byte streams (`ffmpeg -f hevc`): NAL units, access units, hvcC.

use flashless_core::codec::HevcConfig;

pub const VPS: u8 = 32;
pub const SPS: u8 = 33;
pub const PPS: u8 = 34;
const AUD: u8 = 35;

pub fn nal_type(nal: &[u8]) -> u8 {
    (nal[0] >> 1) & 0x3f
}

/// The NAL units between start codes (00 00 01, or 00 00 00 01).
pub fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(stream.len(), |&s| s - 3);
        // The zero byte of a 4-byte start code belongs to no NAL unit.
        while end > start && stream[end - 1] == 0 && k + 1 < starts.len() {
            end -= 1;
        }
        nals.push(&stream[start..end]);
    }
    nals
}

/// Groups NAL units into access units: a parameter set, AUD or prefix SEI after
/// a picture's slices, or a slice with first_slice_segment_in_pic_flag, starts
/// a new one (H.265 7.4.2.4.4).
pub fn access_units<'a>(nals: &[&'a [u8]]) -> Vec<Vec<&'a [u8]>> {
    let mut units: Vec<Vec<&[u8]>> = Vec::new();
    let mut has_vcl = false;
    for &nal in nals {
        let t = nal_type(nal);
        let vcl = t < 32;
        let starts_au = if vcl {
            has_vcl && nal[2] & 0x80 != 0
        } else {
            has_vcl && matches!(t, VPS | SPS | PPS | AUD | 39 | 41..=44 | 48..=55)
        };
        if starts_au || units.is_empty() {
            units.push(Vec::new());
            has_vcl = false;
        }
        units.last_mut().unwrap().push(nal);
        has_vcl |= vcl;
    }
    units
}

/// Whether an access unit holds an IRAP picture (NAL types 16–23).
pub fn is_irap(au: &[&[u8]]) -> bool {
    au.iter().any(|n| (16..=23).contains(&nal_type(n)))
}

/// An HEVCDecoderConfigurationRecord with one VPS, SPS and PPS, its profile,
/// tier and level copied from the SPS's profile_tier_level and its chroma
/// format and bit depths from what [`HevcConfig`] reads in the SPS.
pub fn hvcc(vps: &[u8], sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let build = |chroma: u8, luma: u8, chroma_depth: u8| {
        // The 12 bytes of general profile_tier_level, emulation prevention removed.
        let mut rbsp = Vec::new();
        let mut zeros = 0;
        for &b in &sps[3..] {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            rbsp.push(b);
        }
        let mut r = vec![1];
        r.extend_from_slice(&rbsp[..12]);
        r.extend_from_slice(&[0xf0, 0x00, 0xfc, 0xfc | chroma]);
        r.extend_from_slice(&[0xf8 | (luma - 8), 0xf8 | (chroma_depth - 8), 0, 0]);
        // constantFrameRate 0, one temporal layer, temporalIdNested, 4-byte lengths.
        r.extend_from_slice(&[0x0f, 3]);
        for nal in [vps, sps, pps] {
            r.extend_from_slice(&[0x80 | nal_type(nal), 0, 1]);
            r.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            r.extend_from_slice(nal);
        }
        r
    };
    let c = HevcConfig::parse(&build(1, 8, 8)).expect("hvcC of ffmpeg's parameter sets");
    build(c.chroma_format_idc, c.bit_depth_luma, c.bit_depth_chroma)
}
