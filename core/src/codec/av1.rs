//! AV1: the AV1CodecConfigurationRecord and the sequence header OBU.

use super::{BitReader, CodecError};
use alloc::string::String;

const RECORD: &str = "AV1CodecConfigurationRecord";
const OBU: &str = "AV1 sequence header OBU";

/// obu_type of a sequence header (AV1 spec 6.2.2).
const OBU_SEQUENCE_HEADER: u8 = 1;

/// AV1CodecConfigurationRecord (AV1 Codec ISO Media File Format Binding 2.3):
/// the body of an E-RTMP `av01` SequenceStart and of an MP4 `av1C` box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1Config {
    pub seq_profile: u8,
    pub seq_level_idx_0: u8,
    /// True for the High tier.
    pub seq_tier_0: bool,
    /// 8, 10 or 12.
    pub bit_depth: u8,
    pub monochrome: bool,
    pub chroma_subsampling_x: bool,
    pub chroma_subsampling_y: bool,
    pub chroma_sample_position: u8,
    /// max_frame_{width,height}_minus_1 + 1 of the sequence header in configOBUs;
    /// 0 when the record carries none.
    pub width: u32,
    pub height: u32,
    /// The colour description of that sequence header, if it has one.
    pub color: Option<Av1Color>,
}

/// color_config()'s colour description (AV1 spec 6.4.2), as ISO/IEC 23091-2 code points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1Color {
    pub color_primaries: u8,
    pub transfer_characteristics: u8,
    pub matrix_coefficients: u8,
    pub full_range: bool,
}

impl Av1Config {
    /// Parses the 4-byte record head and, when configOBUs holds a sequence
    /// header OBU, the picture size and colour description from it.
    pub fn parse(av1c: &[u8]) -> Result<Self, CodecError> {
        let mut r = BitReader::new(av1c, RECORD);
        let marker_version = r.u8()?;
        if marker_version != 0x81 {
            return Err(CodecError::Invalid {
                what: RECORD,
                field: "marker/version",
                value: marker_version.into(),
                at: 0,
            });
        }
        let seq_profile = r.bits(3)? as u8;
        let seq_level_idx_0 = r.bits(5)? as u8;
        let seq_tier_0 = r.bit()?;
        let high_bitdepth = r.bit()?;
        let twelve_bit = r.bit()?;
        let monochrome = r.bit()?;
        let chroma_subsampling_x = r.bit()?;
        let chroma_subsampling_y = r.bit()?;
        let chroma_sample_position = r.bits(2)? as u8;
        r.skip(8)?; // reserved, initial_presentation_delay
        let mut config = Self {
            seq_profile,
            seq_level_idx_0,
            seq_tier_0,
            bit_depth: match (high_bitdepth, twelve_bit) {
                (false, _) => 8,
                (true, false) => 10,
                (true, true) => 12,
            },
            monochrome,
            chroma_subsampling_x,
            chroma_subsampling_y,
            chroma_sample_position,
            width: 0,
            height: 0,
            color: None,
        };
        let mut obus = r.rest();
        let mut at = 4;
        while !obus.is_empty() {
            let (obu_type, payload, len) = split_obu(obus, at)?;
            if obu_type == OBU_SEQUENCE_HEADER {
                let seq = parse_sequence_header_obu(payload)
                    .map_err(|e| shift(e, at + len - payload.len()))?;
                config.width = seq.width;
                config.height = seq.height;
                config.color = seq.color;
                break;
            }
            obus = obus.get(len..).unwrap_or_default();
            at += len;
        }
        Ok(config)
    }

    /// The codecs string of the AV1 ISOBMFF binding (§ "Codecs Parameter
    /// String"): `av01.P.LLT.DD`, and the optional fields
    /// `.M.CCC.cp.tc.mc.F` when the sequence header has a colour description.
    pub fn codecs_string(&self) -> String {
        let mut s = format!(
            "av01.{}.{:02}{}.{:02}",
            self.seq_profile,
            self.seq_level_idx_0,
            if self.seq_tier_0 { 'H' } else { 'M' },
            self.bit_depth
        );
        if let Some(c) = self.color {
            let position = if self.chroma_subsampling_x && self.chroma_subsampling_y {
                self.chroma_sample_position
            } else {
                0
            };
            s.push_str(&format!(
                ".{}.{}{}{}.{:02}.{:02}.{:02}.{}",
                u8::from(self.monochrome),
                u8::from(self.chroma_subsampling_x),
                u8::from(self.chroma_subsampling_y),
                position,
                c.color_primaries,
                c.transfer_characteristics,
                c.matrix_coefficients,
                u8::from(c.full_range)
            ));
        }
        s
    }

    /// The 4-byte record head for this configuration (marker, version, fields,
    /// no initial presentation delay), for building an `av1C` from a sequence header.
    pub fn record_head(&self) -> [u8; 4] {
        let bits = [
            self.seq_tier_0,
            self.bit_depth > 8,
            self.bit_depth == 12,
            self.monochrome,
            self.chroma_subsampling_x,
            self.chroma_subsampling_y,
        ];
        let flags = bits.iter().fold(0u8, |acc, &b| acc << 1 | u8::from(b));
        [
            0x81,
            self.seq_profile << 5 | (self.seq_level_idx_0 & 0x1f),
            flags << 2 | (self.chroma_sample_position & 3),
            0,
        ]
    }
}

/// Moves an error's offset from the OBU payload to the caller's input.
fn shift(e: CodecError, by: usize) -> CodecError {
    match e {
        CodecError::Truncated { what, at } => CodecError::Truncated { what, at: at + by },
        CodecError::Invalid {
            what,
            field,
            value,
            at,
        } => CodecError::Invalid {
            what,
            field,
            value,
            at: at + by,
        },
    }
}

/// Splits the first OBU (AV1 spec 5.3) off `data`: its type, its payload and
/// its whole length. An OBU without obu_size runs to the end of `data`.
/// `at` is `data`'s offset in the caller's input, for errors.
pub fn split_obu(data: &[u8], at: usize) -> Result<(u8, &[u8], usize), CodecError> {
    let mut r = BitReader::new(data, "OBU header").with_removed(&[], at);
    if r.bit()? {
        return Err(r.invalid("obu_forbidden_bit", 1));
    }
    let obu_type = r.bits(4)? as u8;
    let extension = r.bit()?;
    let has_size = r.bit()?;
    r.skip(1)?;
    if extension {
        r.skip(8)?;
    }
    let header_len = if extension { 2 } else { 1 };
    let (size, size_len) = if has_size {
        leb128(data.get(header_len..).unwrap_or_default(), at + header_len)?
    } else {
        ((data.len() - header_len.min(data.len())) as u64, 0)
    };
    let start = header_len + size_len;
    let payload = usize::try_from(size)
        .ok()
        .and_then(|n| data.get(start..start.checked_add(n)?))
        .ok_or(CodecError::Truncated {
            what: "OBU",
            at: at + data.len(),
        })?;
    Ok((obu_type, payload, start + payload.len()))
}

/// leb128() of AV1 spec 4.10.5: at most 8 bytes, value < 2^32.
fn leb128(data: &[u8], at: usize) -> Result<(u64, usize), CodecError> {
    let mut value = 0u64;
    for i in 0..8 {
        let b = *data.get(i).ok_or(CodecError::Truncated {
            what: "OBU size",
            at: at + i,
        })?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if value > u64::from(u32::MAX) {
                break;
            }
            return Ok((value, i + 1));
        }
    }
    Err(CodecError::Invalid {
        what: "OBU size",
        field: "leb128",
        value,
        at,
    })
}

/// What a sequence header OBU says (AV1 spec 5.5), as an [`Av1Config`]: the
/// first operating point's level and tier, color_config(), the maximum frame size.
/// `obu` is the OBU payload, without OBU header and size.
pub fn parse_sequence_header_obu(obu: &[u8]) -> Result<Av1Config, CodecError> {
    let mut r = BitReader::new(obu, OBU);
    let seq_profile = r.bits(3)? as u8;
    if seq_profile > 2 {
        return Err(r.invalid("seq_profile", seq_profile.into()));
    }
    r.skip(1)?; // still_picture
    let reduced = r.bit()?;
    let (mut seq_level_idx_0, mut seq_tier_0) = (0, false);
    if reduced {
        seq_level_idx_0 = r.bits(5)? as u8;
    } else {
        let mut buffer_delay_length = 0;
        let mut decoder_model_info = false;
        if r.bit()? {
            // timing_info()
            r.skip(32)?;
            r.skip(32)?;
            if r.bit()? {
                uvlc(&mut r)?; // num_ticks_per_picture_minus_1
            }
            decoder_model_info = r.bit()?;
            if decoder_model_info {
                buffer_delay_length = r.bits(5)? + 1;
                r.skip(32)?; // num_units_in_decoding_tick
                r.skip(10)?; // buffer_removal_time_length, frame_presentation_time_length
            }
        }
        let initial_display_delay = r.bit()?;
        let operating_points = r.bits(5)? + 1;
        for i in 0..operating_points {
            r.skip(12)?; // operating_point_idc
            let level = r.bits(5)? as u8;
            let tier = level > 7 && r.bit()?;
            if i == 0 {
                (seq_level_idx_0, seq_tier_0) = (level, tier);
            }
            if decoder_model_info && r.bit()? {
                r.skip(buffer_delay_length)?;
                r.skip(buffer_delay_length)?;
                r.skip(1)?; // low_delay_mode_flag
            }
            if initial_display_delay && r.bit()? {
                r.skip(4)?;
            }
        }
    }
    let width_bits = r.bits(4)? + 1;
    let height_bits = r.bits(4)? + 1;
    let width = u64::from(r.bits(width_bits)?) + 1;
    let height = u64::from(r.bits(height_bits)?) + 1;
    if !reduced && r.bit()? {
        // frame_id_numbers_present_flag
        r.skip(7)?;
    }
    r.skip(3)?; // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    if !reduced {
        r.skip(4)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = r.bit()?;
        if order_hint {
            r.skip(2)?; // enable_jnt_comp, enable_ref_frame_mvs
        }
        let force_screen_content_tools = if r.bit()? { 2 } else { r.bits(1)? };
        if force_screen_content_tools > 0 && !r.bit()? {
            r.skip(1)?; // seq_force_integer_mv
        }
        if order_hint {
            r.skip(3)?;
        }
    }
    r.skip(3)?; // enable_superres, enable_cdef, enable_restoration

    // color_config()
    let high_bitdepth = r.bit()?;
    let bit_depth = match (high_bitdepth, seq_profile == 2 && high_bitdepth && r.bit()?) {
        (false, _) => 8,
        (true, false) => 10,
        (true, true) => 12,
    };
    let monochrome = seq_profile != 1 && r.bit()?;
    let color = if r.bit()? {
        Some((r.u8()?, r.u8()?, r.u8()?))
    } else {
        None
    };
    let (cp, tc, mc) = color.unwrap_or((2, 2, 2));
    let (full_range, ssx, ssy, position);
    if monochrome {
        full_range = r.bit()?;
        (ssx, ssy, position) = (true, true, 0);
    } else if (cp, tc, mc) == (1, 13, 0) {
        full_range = true;
        (ssx, ssy, position) = (false, false, 0);
    } else {
        full_range = r.bit()?;
        (ssx, ssy) = match seq_profile {
            0 => (true, true),
            1 => (false, false),
            _ if bit_depth == 12 => {
                let x = r.bit()?;
                (x, x && r.bit()?)
            }
            _ => (true, false),
        };
        position = if ssx && ssy { r.bits(2)? as u8 } else { 0 };
    }
    Ok(Av1Config {
        seq_profile,
        seq_level_idx_0,
        seq_tier_0,
        bit_depth,
        monochrome,
        chroma_subsampling_x: ssx,
        chroma_subsampling_y: ssy,
        chroma_sample_position: position,
        width: width as u32,
        height: height as u32,
        color: color.map(|(cp, tc, mc)| Av1Color {
            color_primaries: cp,
            transfer_characteristics: tc,
            matrix_coefficients: mc,
            full_range,
        }),
    })
}

/// uvlc() of AV1 spec 4.10.3; 32 or more leading zeros give 2^32 − 1.
fn uvlc(r: &mut BitReader<'_>) -> Result<u32, CodecError> {
    let mut zeros = 0u32;
    while !r.bit()? {
        zeros = zeros.saturating_add(1);
    }
    if zeros >= 32 {
        return Ok(u32::MAX);
    }
    Ok(((1u64 << zeros) - 1 + u64::from(r.bits(zeros)?)) as u32)
}

#[cfg(test)]
mod tests;
