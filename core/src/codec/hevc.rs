//! H.265/HEVC: the HEVCDecoderConfigurationRecord and the picture size in its SPS.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use super::avc::unescape_rbsp;
use super::{BitReader, CodecError, cropped};

const RECORD: &str = "HEVCDecoderConfigurationRecord";
const SPS: &str = "HEVC SPS";

/// NAL unit types (ITU-T H.265 table 7-1) of the parameter sets.
const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;

/// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1): the body of an
/// E-RTMP `hvc1` SequenceStart and of an MP4 `hvcC` box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    /// general_profile_space: 0, or 1–3 (written A–C in the codecs string).
    pub profile_space: u8,
    /// general_tier_flag: true for the High tier.
    pub tier: bool,
    pub profile_idc: u8,
    /// general_profile_compatibility_flags, flag 0 in the most significant bit.
    pub compatibility_flags: u32,
    /// The 48 bits of general constraint indicator flags.
    pub constraint_flags: [u8; 6],
    /// general_level_idc: 30 × the level number (93 is level 3.1).
    pub level_idc: u8,
    /// Bytes in each NAL unit length prefix of the coded frames: 1, 2 or 4.
    pub nal_length_size: u8,
    /// Displayed size from the first SPS (conformance window applied); 0×0
    /// when the record has no SPS.
    pub width: u32,
    pub height: u32,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4; from the SPS when there is one.
    pub chroma_format_idc: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// Video parameter set NAL units (header bytes included).
    pub vps: Vec<Bytes>,
    /// Sequence parameter set NAL units.
    pub sps: Vec<Bytes>,
    /// Picture parameter set NAL units.
    pub pps: Vec<Bytes>,
}

impl HevcConfig {
    /// Parses the record. Arrays of other NAL unit types (SEI) are skipped.
    pub fn parse(hvcc: &[u8]) -> Result<Self, CodecError> {
        let mut r = BitReader::new(hvcc, RECORD);
        let version = r.u8()?;
        if version != 1 {
            return Err(invalid("configurationVersion", version.into(), 0));
        }
        let profile_space = r.bits(2)? as u8;
        let tier = r.bit()?;
        let profile_idc = r.bits(5)? as u8;
        let compatibility_flags = r.bits(32)?;
        let mut constraint_flags = [0; 6];
        for b in &mut constraint_flags {
            *b = r.u8()?;
        }
        let level_idc = r.u8()?;
        r.skip(16)?; // reserved '1111'b, min_spatial_segmentation_idc
        r.skip(8)?; // reserved '111111'b, parallelismType
        r.skip(6)?;
        let mut chroma_format_idc = r.bits(2)? as u8;
        r.skip(5)?;
        let mut bit_depth_luma = r.bits(3)? as u8 + 8;
        r.skip(5)?;
        let mut bit_depth_chroma = r.bits(3)? as u8 + 8;
        r.skip(16)?; // avgFrameRate
        r.skip(6)?; // constantFrameRate, numTemporalLayers, temporalIdNested
        let length_size_minus_one = r.bits(2)? as u8;
        if length_size_minus_one == 2 {
            return Err(invalid("lengthSizeMinusOne", 2, 21));
        }
        let num_arrays = r.u8()?;
        let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..num_arrays {
            r.skip(2)?; // array_completeness, reserved
            let nal_type = r.bits(6)? as u8;
            let num_nalus = r.u16()?;
            for _ in 0..num_nalus {
                let len = usize::from(r.u16()?);
                let nal = Bytes::copy_from_slice(r.take(len)?);
                match nal_type {
                    NAL_VPS => vps.push(nal),
                    NAL_SPS => sps.push(nal),
                    NAL_PPS => pps.push(nal),
                    _ => {}
                }
            }
        }
        let (mut width, mut height) = (0, 0);
        if let Some(first) = sps.first() {
            let s = SpsInfo::parse(first)?;
            (width, height) = (s.width, s.height);
            chroma_format_idc = s.chroma_format_idc;
            bit_depth_luma = s.bit_depth_luma;
            bit_depth_chroma = s.bit_depth_chroma;
        }
        Ok(Self {
            profile_space,
            tier,
            profile_idc,
            compatibility_flags,
            constraint_flags,
            level_idc,
            nal_length_size: length_size_minus_one + 1,
            width,
            height,
            chroma_format_idc,
            bit_depth_luma,
            bit_depth_chroma,
            vps,
            sps,
            pps,
        })
    }

    /// ISO/IEC 14496-15 E.3: `hvc1.` profile space letter and profile, the
    /// compatibility flags bit-reversed in hex, `L`/`H` and the level, then
    /// the constraint bytes in hex with trailing zero bytes left out.
    pub fn codecs_string(&self) -> String {
        let space = match self.profile_space {
            1 => "A",
            2 => "B",
            3 => "C",
            _ => "",
        };
        let mut s = format!(
            "hvc1.{space}{}.{:X}.{}{}",
            self.profile_idc,
            self.compatibility_flags.reverse_bits(),
            if self.tier { 'H' } else { 'L' },
            self.level_idc
        );
        let used = self
            .constraint_flags
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        for b in &self.constraint_flags[..used] {
            s.push_str(&format!(".{b:X}"));
        }
        s
    }
}

fn invalid(field: &'static str, value: u64, at: usize) -> CodecError {
    CodecError::Invalid {
        what: RECORD,
        field,
        value,
        at,
    }
}

/// What [`HevcConfig`] takes from a sequence parameter set (H.265 7.3.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SpsInfo {
    width: u32,
    height: u32,
    chroma_format_idc: u8,
    bit_depth_luma: u8,
    bit_depth_chroma: u8,
}

impl SpsInfo {
    /// Parses an SPS NAL unit, its 2-byte header included. Error offsets count
    /// bytes of `nal`, emulation-prevention bytes included.
    fn parse(nal: &[u8]) -> Result<Self, CodecError> {
        let (Some(&h0), Some(payload)) = (nal.first(), nal.get(2..)) else {
            return Err(CodecError::Truncated {
                what: SPS,
                at: nal.len(),
            });
        };
        let nal_type = (h0 >> 1) & 0x3f;
        if nal_type != NAL_SPS {
            return Err(CodecError::Invalid {
                what: SPS,
                field: "nal_unit_type",
                value: nal_type.into(),
                at: 0,
            });
        }
        let (rbsp, removed) = unescape_rbsp(payload);
        let mut r = BitReader::new(&rbsp, SPS).with_removed(&removed, 2);
        r.skip(4)?; // sps_video_parameter_set_id
        let max_sub_layers_minus1 = r.bits(3)?;
        if max_sub_layers_minus1 == 7 {
            return Err(r.invalid("sps_max_sub_layers_minus1", 7));
        }
        r.skip(1)?; // sps_temporal_id_nesting_flag
        skip_profile_tier_level(&mut r, max_sub_layers_minus1)?;
        let id = r.ue("sps_seq_parameter_set_id")?;
        if id > 15 {
            return Err(r.invalid("sps_seq_parameter_set_id", id.into()));
        }
        let chroma_format_idc = r.ue("chroma_format_idc")?;
        if chroma_format_idc > 3 {
            return Err(r.invalid("chroma_format_idc", chroma_format_idc.into()));
        }
        let separate_colour_plane = chroma_format_idc == 3 && r.bit()?;
        let width = u64::from(r.ue("pic_width_in_luma_samples")?);
        let height = u64::from(r.ue("pic_height_in_luma_samples")?);
        let crop_at = r.byte_pos();
        let mut crop = [0u64; 4]; // left, right, top, bottom
        if r.bit()? {
            for (c, name) in crop.iter_mut().zip([
                "conf_win_left_offset",
                "conf_win_right_offset",
                "conf_win_top_offset",
                "conf_win_bottom_offset",
            ]) {
                *c = r.ue(name)?.into();
            }
        }
        let bit_depth_luma = r.ue("bit_depth_luma_minus8")?;
        let bit_depth_chroma = r.ue("bit_depth_chroma_minus8")?;
        if bit_depth_luma > 8 || bit_depth_chroma > 8 {
            return Err(r.invalid(
                "bit_depth_minus8",
                bit_depth_luma.max(bit_depth_chroma).into(),
            ));
        }
        // Table 6-1: conformance window offsets are in chroma sample units.
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
        let size = |coded, crop, field| cropped(coded, crop, SPS, field, crop_at);
        Ok(Self {
            width: size(
                width,
                sub_width * (crop[0] + crop[1]),
                "conformance window (columns)",
            )?,
            height: size(
                height,
                sub_height * (crop[2] + crop[3]),
                "conformance window (rows)",
            )?,
            chroma_format_idc: chroma_format_idc as u8,
            bit_depth_luma: bit_depth_luma as u8 + 8,
            bit_depth_chroma: bit_depth_chroma as u8 + 8,
        })
    }
}

/// profile_tier_level(1, maxNumSubLayersMinus1), H.265 7.3.3, read only to get past it.
fn skip_profile_tier_level(
    r: &mut BitReader<'_>,
    max_sub_layers_minus1: u32,
) -> Result<(), CodecError> {
    // general_profile_space … general_level_idc: 2+1+5+32+4+43+1+8 bits.
    r.skip(32)?;
    r.skip(32)?;
    r.skip(32)?;
    let mut present = [(false, false); 7];
    for p in present.iter_mut().take(max_sub_layers_minus1 as usize) {
        *p = (r.bit()?, r.bit()?);
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.skip(2)?; // reserved_zero_2bits
        }
    }
    for &(profile, level) in present.iter().take(max_sub_layers_minus1 as usize) {
        if profile {
            r.skip(32)?;
            r.skip(32)?;
            r.skip(24)?; // 88 bits of sub-layer profile
        }
        if level {
            r.skip(8)?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
