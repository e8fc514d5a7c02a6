//! H.264: the AVCDecoderConfigurationRecord and the sequence parameter set.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use super::{BitReader, CodecError, cropped};

const RECORD: &str = "AVCDecoderConfigurationRecord";
const SPS: &str = "SPS";

/// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), the body of an
/// FLV/RTMP AVC sequence header and of an MP4 `avcC` box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    pub profile: u8,
    pub compatibility: u8,
    pub level: u8,
    /// Bytes in each NALU length prefix of the coded frames: 1, 2 or 4.
    pub nal_length_size: u8,
    /// Sequence parameter set NAL units, header byte included; slices of the record.
    pub sps: Vec<Bytes>,
    /// Picture parameter set NAL units, header byte included; slices of the record.
    pub pps: Vec<Bytes>,
}

impl AvcConfig {
    /// Parses the record. The trailing High-profile fields (chroma format, bit
    /// depths, SPS extensions) are not needed and are ignored, as is a record
    /// with no SPS (the codecs string comes from the record's own fields).
    pub fn parse(record: &Bytes) -> Result<Self, CodecError> {
        let mut at = 0;
        let version = byte(record, &mut at)?;
        if version != 1 {
            return Err(invalid("configurationVersion", version.into(), 0));
        }
        let profile = byte(record, &mut at)?;
        let compatibility = byte(record, &mut at)?;
        let level = byte(record, &mut at)?;
        // reserved '111111'b, then lengthSizeMinusOne; 2 (3-byte lengths) is not allowed.
        let length_size_minus_one = byte(record, &mut at)? & 0b11;
        if length_size_minus_one == 2 {
            return Err(invalid("lengthSizeMinusOne", 2, at - 1));
        }
        // reserved '111'b, then numOfSequenceParameterSets.
        let num_sps = byte(record, &mut at)? & 0b1_1111;
        let sps = parameter_sets(record, &mut at, num_sps)?;
        let num_pps = byte(record, &mut at)?;
        let pps = parameter_sets(record, &mut at, num_pps)?;
        Ok(Self {
            profile,
            compatibility,
            level,
            nal_length_size: length_size_minus_one + 1,
            sps,
            pps,
        })
    }

    /// RFC 6381 3.3: `avc1.` and the profile, compatibility and level bytes in hex.
    pub fn codecs_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile, self.compatibility, self.level
        )
    }
}

fn byte(data: &[u8], at: &mut usize) -> Result<u8, CodecError> {
    let b = *data.get(*at).ok_or(CodecError::Truncated {
        what: RECORD,
        at: *at,
    })?;
    *at += 1;
    Ok(b)
}

fn invalid(field: &'static str, value: u64, at: usize) -> CodecError {
    CodecError::Invalid {
        what: RECORD,
        field,
        value,
        at,
    }
}

/// `count` × (16-bit length, NAL unit), as zero-copy slices of `record`.
fn parameter_sets(record: &Bytes, at: &mut usize, count: u8) -> Result<Vec<Bytes>, CodecError> {
    let mut sets = Vec::with_capacity(count.into());
    for _ in 0..count {
        let len = usize::from(u16::from_be_bytes([byte(record, at)?, byte(record, at)?]));
        let end = *at + len;
        if end > record.len() {
            return Err(CodecError::Truncated {
                what: RECORD,
                at: record.len(),
            });
        }
        sets.push(record.slice(*at..end));
        *at = end;
    }
    Ok(sets)
}

/// What a sequence parameter set says about the picture (ITU-T H.264 7.3.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sps {
    /// Displayed size: coded macroblocks less the frame cropping (7-19 to 7-22).
    pub width: u32,
    pub height: u32,
    pub profile_idc: u8,
    /// constraint_set0_flag … constraint_set5_flag and the 2 reserved bits.
    pub constraint_flags: u8,
    pub level_idc: u8,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
}

/// What slice headers need of an SPS: the fields that size or select theirs
/// (7.3.3), and the picture's size in macroblocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpsSlices {
    pub(crate) id: u32,
    /// ChromaArrayType: chroma_format_idc, 0 with separate colour planes.
    pub(crate) chroma_array_type: u32,
    pub(crate) separate_colour_plane: bool,
    pub(crate) log2_max_frame_num: u32,
    pub(crate) pic_order_cnt_type: u32,
    /// 0 unless `pic_order_cnt_type` is 0.
    pub(crate) log2_max_poc_lsb: u32,
    pub(crate) max_num_ref_frames: u32,
    pub(crate) frame_mbs_only: bool,
    pub(crate) mbaff: bool,
    /// PicWidthInMbs × FrameHeightInMbs (7-13 to 7-18).
    pub(crate) frame_mbs: u64,
}

/// Profiles whose SPS carries chroma_format_idc, bit depths and scaling lists.
const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

impl Sps {
    /// Parses an SPS NAL unit, header byte included (as stored in [`AvcConfig::sps`]).
    /// Error offsets count bytes of `nal`. VUI parameters are not read.
    pub fn parse(nal: &[u8]) -> Result<Self, CodecError> {
        Self::parse_with_slices(nal).map(|(sps, _)| sps)
    }

    /// [`Sps::parse`], and what slice headers need of it.
    pub(crate) fn parse_with_slices(nal: &[u8]) -> Result<(Self, SpsSlices), CodecError> {
        let Some((&header, payload)) = nal.split_first() else {
            return Err(CodecError::Truncated { what: SPS, at: 0 });
        };
        if header & 0x1f != 7 {
            return Err(CodecError::Invalid {
                what: SPS,
                field: "nal_unit_type",
                value: (header & 0x1f).into(),
                at: 0,
            });
        }
        let (rbsp, removed) = unescape_rbsp(payload);
        let mut r = BitReader::new(&rbsp, SPS).with_removed(&removed, 1);

        let profile_idc = r.bits(8)? as u8;
        let constraint_flags = r.bits(8)? as u8;
        let level_idc = r.bits(8)? as u8;
        let id = r.ue("seq_parameter_set_id")?;
        if id > 31 {
            return Err(r.invalid("seq_parameter_set_id", id.into()));
        }
        let mut chroma_format_idc = 1;
        let mut separate_colour_plane = false;
        if HIGH_PROFILES.contains(&profile_idc) {
            chroma_format_idc = r.ue("chroma_format_idc")?;
            if chroma_format_idc > 3 {
                return Err(r.invalid("chroma_format_idc", chroma_format_idc.into()));
            }
            if chroma_format_idc == 3 {
                separate_colour_plane = r.bit()?;
            }
            r.ue("bit_depth_luma_minus8")?;
            r.ue("bit_depth_chroma_minus8")?;
            r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
            if r.bit()? {
                // seq_scaling_matrix_present_flag
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.bit()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let log2_max_frame_num = r.ue("log2_max_frame_num_minus4")? + 4;
        if log2_max_frame_num > 16 {
            return Err(r.invalid("log2_max_frame_num_minus4", (log2_max_frame_num - 4).into()));
        }
        let pic_order_cnt_type = r.ue("pic_order_cnt_type")?;
        let mut log2_max_poc_lsb = 0;
        match pic_order_cnt_type {
            0 => {
                log2_max_poc_lsb = r.ue("log2_max_pic_order_cnt_lsb_minus4")? + 4;
                if log2_max_poc_lsb > 16 {
                    return Err(r.invalid(
                        "log2_max_pic_order_cnt_lsb_minus4",
                        (log2_max_poc_lsb - 4).into(),
                    ));
                }
            }
            1 => {
                r.skip(1)?; // delta_pic_order_always_zero_flag
                r.se("offset_for_non_ref_pic")?;
                r.se("offset_for_top_to_bottom_field")?;
                let n = r.ue("num_ref_frames_in_pic_order_cnt_cycle")?;
                if n > 255 {
                    return Err(r.invalid("num_ref_frames_in_pic_order_cnt_cycle", n.into()));
                }
                for _ in 0..n {
                    r.se("offset_for_ref_frame")?;
                }
            }
            2 => {}
            other => return Err(r.invalid("pic_order_cnt_type", other.into())),
        }
        let max_num_ref_frames = r.ue("max_num_ref_frames")?;
        r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
        let width_mbs = u64::from(r.ue("pic_width_in_mbs_minus1")?) + 1;
        let height_map_units = u64::from(r.ue("pic_height_in_map_units_minus1")?) + 1;
        let frame_mbs_only = r.bit()?;
        let mbaff = !frame_mbs_only && r.bit()?;
        r.skip(1)?; // direct_8x8_inference_flag
        let mut crop = [0u64; 4]; // left, right, top, bottom
        let crop_at = r.byte_pos();
        if r.bit()? {
            for (c, name) in crop.iter_mut().zip([
                "frame_crop_left_offset",
                "frame_crop_right_offset",
                "frame_crop_top_offset",
                "frame_crop_bottom_offset",
            ]) {
                *c = r.ue(name)?.into();
            }
        }

        // 7-18 and table 6-1: crop units in luma samples.
        let field_factor = if frame_mbs_only { 1 } else { 2 };
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (sub_width, sub_height) = match chroma_array_type {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let crop_x = sub_width * (crop[0] + crop[1]);
        let crop_y = sub_height * field_factor * (crop[2] + crop[3]);
        let coded_w = width_mbs * 16;
        let coded_h = height_map_units * 16 * field_factor;
        let size = |coded, crop, field| cropped(coded, crop, SPS, field, crop_at);
        let sps = Self {
            width: size(coded_w, crop_x, "frame cropping (luma columns)")?,
            height: size(coded_h, crop_y, "frame cropping (luma rows)")?,
            profile_idc,
            constraint_flags,
            level_idc,
            chroma_format_idc: chroma_format_idc as u8,
        };
        let slices = SpsSlices {
            id,
            chroma_array_type,
            separate_colour_plane,
            log2_max_frame_num,
            pic_order_cnt_type,
            log2_max_poc_lsb,
            max_num_ref_frames,
            frame_mbs_only,
            mbaff,
            frame_mbs: width_mbs * height_map_units * field_factor,
        };
        Ok((sps, slices))
    }
}

/// scaling_list() of H.264 7.3.2.1.1.1, read only to get past it.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), CodecError> {
    let mut last: i64 = 8;
    let mut next: i64 = 8;
    for _ in 0..size {
        if next != 0 {
            let delta = r.se("delta_scale")?;
            if !(-128..=127).contains(&delta) {
                return Err(r.invalid("delta_scale", delta.unsigned_abs()));
            }
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Drops emulation_prevention_three_byte (H.264 7.4.1: 0x000003 → 0x0000).
/// Also returns the RBSP offsets at which a byte was dropped.
pub(crate) fn unescape_rbsp(payload: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::with_capacity(payload.len());
    let mut removed = Vec::new();
    let mut zeros = 0;
    for &b in payload {
        if zeros >= 2 && b == 3 {
            removed.push(out.len());
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    (out, removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::bits::BitWriter;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // SPS NAL units from `ffmpeg -f lavfi -i testsrc=size=WxH -frames:v 1 -c:v libx264
    // -profile:v P -pix_fmt F -f h264`, and the avcC of that 1280x720 stream in MP4.
    const SPS_320X240_HIGH: &str = "6764000dacd94141fb011000000300100000030320f1429960";
    const SPS_1280X720_HIGH: &str = "6764001facd9405005bb011000000300100000030320f1831960";
    const SPS_1920X1080_MAIN: &str = "674d4028eca03c0113f2e022000003000200000300641e30632c";
    const SPS_854X480_BASELINE: &str = "6742c01ed900d83de6f011000003000100000300320f162e48";
    const SPS_176X144_HIGH444: &str = "67f4000b919b28589d80880000030008000003019078a14cb0";
    const SPS_640X360_HIGH422: &str = "677a001ebcd940a02ff89c0440000003004000000c83c58b6580";
    const SPS_640X480_HIGH444_CQM: &str = "67f4001e919b281407b60220000003002000000641e2c5b2c0";
    const AVCC_1280X720: &str = "0164001fffe1001a6764001facd9405005bb011000000300100000030320f183196001000668ebe3cb22c0fdf8f800";
    const REAL: [(&str, u32, u32, u8, u8, u8); 7] = [
        (SPS_320X240_HIGH, 320, 240, 100, 13, 1),
        (SPS_1280X720_HIGH, 1280, 720, 100, 31, 1),
        (SPS_1920X1080_MAIN, 1920, 1080, 77, 40, 1),
        (SPS_854X480_BASELINE, 854, 480, 66, 30, 1),
        (SPS_176X144_HIGH444, 176, 144, 244, 11, 3),
        (SPS_640X360_HIGH422, 640, 360, 122, 30, 2),
        (SPS_640X480_HIGH444_CQM, 640, 480, 244, 30, 3),
    ];

    #[test]
    fn real_sps() {
        for (sps, w, h, profile, level, chroma) in REAL {
            let s = Sps::parse(&hex(sps)).unwrap();
            assert_eq!((s.width, s.height), (w, h), "{sps}");
            assert_eq!((s.profile_idc, s.level_idc), (profile, level), "{sps}");
            assert_eq!(s.chroma_format_idc, chroma, "{sps}");
        }
        let s = Sps::parse(&hex(SPS_854X480_BASELINE)).unwrap();
        assert_eq!(s.constraint_flags, 0xc0);
    }

    #[test]
    fn real_avcc() {
        let record = Bytes::from(hex(AVCC_1280X720));
        let c = AvcConfig::parse(&record).unwrap();
        assert_eq!((c.profile, c.compatibility, c.level), (0x64, 0, 0x1f));
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.sps, vec![Bytes::from(hex(SPS_1280X720_HIGH))]);
        assert_eq!(c.pps, vec![Bytes::from(hex("68ebe3cb22c0"))]);
        assert_eq!(c.codecs_string(), "avc1.64001f");
        let s = Sps::parse(&c.sps[0]).unwrap();
        assert_eq!((s.width, s.height), (1280, 720));
    }

    fn record(sps: &[&[u8]], pps: &[&[u8]], length_size_minus_one: u8) -> Bytes {
        let mut r = vec![1, 0x42, 0xc0, 0x1e, 0xfc | length_size_minus_one];
        r.push(0xe0 | sps.len() as u8);
        for s in sps {
            r.extend_from_slice(&(s.len() as u16).to_be_bytes());
            r.extend_from_slice(s);
        }
        r.push(pps.len() as u8);
        for p in pps {
            r.extend_from_slice(&(p.len() as u16).to_be_bytes());
            r.extend_from_slice(p);
        }
        Bytes::from(r)
    }

    #[test]
    fn avcc_shapes_and_errors() {
        let c = AvcConfig::parse(&record(&[b"\x67a", b"\x67b"], &[], 1)).unwrap();
        assert_eq!(c.nal_length_size, 2);
        assert_eq!(c.sps.len(), 2);
        assert_eq!(c.codecs_string(), "avc1.42c01e");
        assert_eq!(
            AvcConfig::parse(&record(&[], &[], 0))
                .unwrap()
                .nal_length_size,
            1
        );

        let err = |b: &[u8]| AvcConfig::parse(&Bytes::copy_from_slice(b)).unwrap_err();
        assert_eq!(
            err(&[]),
            CodecError::Truncated {
                what: RECORD,
                at: 0
            }
        );
        assert_eq!(
            err(&[0, 0x64, 0, 0x1f, 0xff, 0xe0, 0]),
            invalid("configurationVersion", 0, 0)
        );
        assert_eq!(
            AvcConfig::parse(&record(&[], &[], 2)).unwrap_err(),
            invalid("lengthSizeMinusOne", 2, 4)
        );
        let full = record(&[b"\x67abc"], &[b"\x68d"], 3);
        for n in 0..full.len() {
            assert!(
                matches!(err(&full[..n]), CodecError::Truncated { .. }),
                "prefix {n}"
            );
        }
        assert_eq!(
            err(&full[..9]),
            CodecError::Truncated {
                what: RECORD,
                at: 9
            }
        );
    }

    #[test]
    fn sps_errors() {
        assert_eq!(
            Sps::parse(&[]),
            Err(CodecError::Truncated { what: SPS, at: 0 })
        );
        assert!(matches!(
            Sps::parse(&hex("68ebe3cb22c0")),
            Err(CodecError::Invalid {
                field: "nal_unit_type",
                value: 8,
                at: 0,
                ..
            })
        ));
        // Every truncation inside the fields that are read is an error, never a panic.
        for (sps, ..) in REAL {
            let nal = hex(sps);
            for n in 0..6 {
                assert!(Sps::parse(&nal[..n]).is_err(), "{sps} cut at {n}");
            }
            assert_eq!(
                Sps::parse(&nal[..4]),
                Err(CodecError::Truncated { what: SPS, at: 4 })
            );
        }
        // The offset counts bytes of the NAL, emulation-prevention bytes included.
        assert_eq!(
            Sps::parse(&[0x67, 0, 0, 3, 1]),
            Err(CodecError::Truncated { what: SPS, at: 5 })
        );
    }

    /// An SPS the encoders at hand do not write: scaling lists, POC type 1,
    /// field coding and odd cropping.
    #[test]
    fn synthetic_sps() {
        let mut w = BitWriter::default();
        w.bits(8, 100).bits(8, 0).bits(8, 40).ue(0); // High, level 4.0, id 0
        w.ue(1).ue(0).ue(0).bits(1, 0); // 4:2:0, 8 bit, no bypass
        w.bits(1, 1); // seq_scaling_matrix_present_flag
        for i in 0..8 {
            w.bits(1, 1);
            let size = if i < 6 { 16 } else { 64 };
            if i == 0 {
                w.se(-8); // nextScale 0 at j = 0: use the default list
            } else {
                for j in 0..size {
                    w.se(if j % 2 == 0 { 3 } else { -3 });
                }
            }
        }
        w.ue(0).ue(1); // log2_max_frame_num_minus4, pic_order_cnt_type 1
        w.bits(1, 0).se(-1).se(2).ue(3).se(1).se(-1).se(5);
        w.ue(4).bits(1, 0); // max_num_ref_frames, gaps
        w.ue(119).ue(33); // 120 x 34 map units
        w.bits(1, 0).bits(1, 1); // field coding, mb_adaptive_frame_field_flag
        w.bits(1, 1); // direct_8x8_inference_flag
        w.bits(1, 1).ue(0).ue(0).ue(0).ue(2); // crop 2 × 4 rows from the bottom
        w.bits(1, 0); // no VUI
        let mut nal = vec![0x67];
        nal.extend(w.finish_rbsp());
        let s = Sps::parse(&nal).unwrap();
        assert_eq!((s.width, s.height), (1920, 1080));

        let mut w = BitWriter::default();
        w.bits(8, 66)
            .bits(8, 0)
            .bits(8, 30)
            .ue(0)
            .ue(0)
            .ue(2)
            .ue(1)
            .bits(1, 0);
        w.ue(0).ue(0).bits(1, 1).bits(1, 1);
        w.bits(1, 1).ue(8).ue(0).ue(0).ue(0); // crop more than the width
        let mut nal = vec![0x67];
        nal.extend(w.finish_rbsp());
        assert!(matches!(
            Sps::parse(&nal),
            Err(CodecError::Invalid {
                field: "frame cropping (luma columns)",
                ..
            })
        ));
    }

    #[test]
    fn emulation_prevention() {
        let (rbsp, removed) = unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 0, 3]);
        assert_eq!(rbsp, vec![0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(removed, vec![2, 5, 7]);
    }

    proptest! {
        #[test]
        fn sps_never_panics(mut nal in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(h) = nal.first_mut() { *h = 0x67; }
            let _ = Sps::parse(&nal);
        }

        #[test]
        fn mutated_real_sps_never_panics(i in 0usize..7, at in 1usize..20, v in any::<u8>()) {
            let mut nal = hex(REAL[i].0);
            if let Some(b) = nal.get_mut(at) { *b = v; }
            let _ = Sps::parse(&nal);
        }

        #[test]
        fn avcc_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = AvcConfig::parse(&Bytes::from(b));
        }
    }
}
