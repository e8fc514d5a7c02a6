//! FLAC: the metadata blocks of the E-RTMP `fLaC` SequenceStart, the `dfLa`
//! box payload made from them, and the block size in a frame header.
//!
//! E-RTMP v2 has the SequenceStart carry the "fLaC" stream marker and the
//! metadata blocks, STREAMINFO first (the form the spec settled on, issue 32
//! of the spec repository). Earlier senders put the metadata blocks without
//! the marker, or only the 34-byte STREAMINFO body; [`FlacConfig::parse`]
//! accepts all three, which cannot be confused (see there).

use alloc::vec::Vec;
use bytes::Bytes;

use super::{BitReader, CodecError};

const CONFIG: &str = "FLAC metadata";

/// METADATA_BLOCK types (RFC 9639 8.1).
const STREAMINFO: u8 = 0;
const PADDING: u8 = 1;
const STREAMINFO_LEN: usize = 34;

/// One METADATA_BLOCK: its type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBlock {
    pub block_type: u8,
    pub data: Bytes,
}

/// STREAMINFO's fields and the metadata blocks (RFC 9639 8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlacConfig {
    pub sample_rate: u32,
    /// 1–8.
    pub channels: u8,
    /// 4–32.
    pub bits_per_sample: u8,
    pub min_block_size: u16,
    pub max_block_size: u16,
    /// 0 when unknown (always, for a live stream).
    pub total_samples: u64,
    /// STREAMINFO first, then the other blocks in order.
    pub blocks: Vec<MetadataBlock>,
}

impl FlacConfig {
    /// Parses "fLaC" + METADATA_BLOCKs, METADATA_BLOCKs alone, or a bare
    /// STREAMINFO body. A block header is told from a STREAMINFO body by its
    /// bytes 1–3 (length 34): in a body they would make the minimum block size
    /// 0 (bytes 0–1) and so invalid. Blocks are read up to the one flagged last
    /// or to the end of the input.
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        let start = if data.starts_with(b"fLaC") { 4 } else { 0 };
        let body = data.get(start..).unwrap_or_default();
        let mut blocks = Vec::new();
        let bare =
            start == 0 && body.len() == STREAMINFO_LEN && body.get(1..4) != Some(&[0, 0, 34]);
        if bare {
            blocks.push(MetadataBlock {
                block_type: STREAMINFO,
                data: Bytes::copy_from_slice(body),
            });
        } else {
            let mut r = BitReader::new(body, CONFIG).with_removed(&[], start);
            loop {
                let at = r.byte_pos();
                let last = r.bit()?;
                let block_type = r.bits(7)? as u8;
                if block_type == 127 || (blocks.is_empty()) != (block_type == STREAMINFO) {
                    return Err(invalid("block type", block_type.into(), at));
                }
                let len = r.bits(24)? as usize;
                if block_type == STREAMINFO && len != STREAMINFO_LEN {
                    return Err(invalid("STREAMINFO length", len as u64, at + 1));
                }
                blocks.push(MetadataBlock {
                    block_type,
                    data: Bytes::copy_from_slice(r.take(len)?),
                });
                if last || r.at_end() {
                    break;
                }
            }
        }
        let info = blocks.first().map(|b| b.data.clone()).unwrap_or_default();
        let info_at = if bare { 0 } else { start + 4 };
        let mut r = BitReader::new(&info, "STREAMINFO").with_removed(&[], info_at);
        let min_block_size = r.u16()?;
        let max_block_size = r.u16()?;
        if min_block_size < 16 || max_block_size < min_block_size {
            return Err(invalid(
                "minimum block size",
                min_block_size.into(),
                info_at,
            ));
        }
        r.skip(24)?; // minimum frame size
        r.skip(24)?; // maximum frame size
        let rate_at = r.byte_pos();
        let sample_rate = r.bits(20)?;
        if sample_rate == 0 {
            return Err(invalid("sample rate", 0, rate_at));
        }
        let channels = r.bits(3)? as u8 + 1;
        let bits_per_sample = r.bits(5)? as u8 + 1;
        if bits_per_sample < 4 {
            return Err(invalid(
                "bits per sample",
                bits_per_sample.into(),
                rate_at + 2,
            ));
        }
        let total_samples = r.bits64(36)?;
        Ok(Self {
            sample_rate,
            channels,
            bits_per_sample,
            min_block_size,
            max_block_size,
            total_samples,
            blocks,
        })
    }

    /// The FLACSpecificBox (`dfLa`) payload of "Encapsulation of FLAC in ISO
    /// Base Media File Format" 3.3.2: version and flags 0, then the metadata
    /// blocks, STREAMINFO first and the last one flagged. PADDING blocks are
    /// left out (they only reserve room in files).
    pub fn dfla(&self) -> Vec<u8> {
        let blocks: Vec<_> = self
            .blocks
            .iter()
            .filter(|b| b.block_type != PADDING)
            .collect();
        let mut out = vec![0, 0, 0, 0];
        for (i, b) in blocks.iter().enumerate() {
            let last = if i + 1 == blocks.len() { 0x80 } else { 0 };
            out.push(last | (b.block_type & 0x7f));
            let len = (b.data.len() as u32).min(0xff_ffff);
            out.extend_from_slice(&len.to_be_bytes()[1..]);
            out.extend_from_slice(b.data.get(..len as usize).unwrap_or_default());
        }
        out
    }
}

fn invalid(field: &'static str, value: u64, at: usize) -> CodecError {
    CodecError::Invalid {
        what: CONFIG,
        field,
        value,
        at,
    }
}

/// The number of samples (per channel) in the FLAC frame that `frame` starts
/// with, from its header (RFC 9639 9.1). `None` unless the header is whole,
/// valid and its CRC-8 matches, so this also finds frame boundaries.
pub fn frame_block_size(frame: &[u8]) -> Option<u32> {
    let [b0, b1, b2, b3]: [u8; 4] = frame.get(..4)?.try_into().ok()?;
    // Sync code 0b11111111_111110, reserved bit 0, blocking strategy.
    if b0 != 0xff || b1 & 0xfe != 0xf8 {
        return None;
    }
    let size_code = b2 >> 4;
    let rate_code = b2 & 0x0f;
    if size_code == 0 || rate_code == 15 || b3 >> 4 > 10 || b3 & 1 != 0 {
        return None;
    }
    // The coded frame/sample number: UTF-8-like, 1 to 7 bytes.
    let first = *frame.get(4)?;
    let coded_len = match first.leading_ones() {
        0 => 1,
        n @ 2..=7 => n as usize,
        _ => return None,
    };
    let mut at = 4 + coded_len;
    let mut read = |n: usize| -> Option<u32> {
        let bytes = frame.get(at..at.checked_add(n)?)?;
        at += n;
        Some(bytes.iter().fold(0, |acc, &b| acc << 8 | u32::from(b)))
    };
    let samples = match size_code {
        1 => 192,
        2..=5 => 576 << (size_code - 2),
        6 => read(1)? + 1,
        7 => read(2)? + 1,
        _ => 256 << (size_code - 8),
    };
    match rate_code {
        12 => _ = read(1)?,
        13 | 14 => _ = read(2)?,
        _ => {}
    }
    let crc = *frame.get(at)?;
    (crc8(frame.get(..at)?) == crc).then_some(samples)
}

/// CRC-8 with polynomial x^8 + x^2 + x + 1, initial value 0 (RFC 9639 9.1.8).
pub(crate) fn crc8(data: &[u8]) -> u8 {
    super::crc(data, 8, 0x07, 0) as u8
}

/// CRC-16 with polynomial x^16 + x^15 + x^2 + 1, initial value 0 (RFC 9639 9.3).
pub(crate) fn crc16(data: &[u8]) -> u16 {
    super::crc(data, 16, 0x8005, 0) as u16
}

/// The encoder behind the legacy-audio conversion.
#[cfg(feature = "legacy-audio")]
pub mod encoder;

#[cfg(test)]
mod tests;
