//! Decoder configuration parsers: the codecs strings that MSE and probes need.
//!
//! - [`AvcConfig`]: the AVCDecoderConfigurationRecord that FLV/RTMP carry as the
//!   AVC sequence header (ISO/IEC 14496-15 5.3.3.1), and its RFC 6381 `avc1.PPCCLL`.
//! - [`Sps`]: picture size and profile from an H.264 sequence parameter set
//!   (ITU-T H.264 7.3.2.1.1).
//! - [`SkipPictures`]: H.264 pictures that repeat the last one, for video that stalls.
//! - [`AacConfig`]: the AudioSpecificConfig of the AAC sequence header
//!   (ISO/IEC 14496-3 1.6.2.1) and its `mp4a.40.N`.
//!
//! - [`HevcConfig`]: the HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1)
//!   of the E-RTMP `hvc1` sequence start, its SPS size and `hvc1.…` (Annex E).
//! - [`Av1Config`]: the AV1CodecConfigurationRecord (`av1C`) and its sequence header OBU.
//! - [`Vp9Config`]: the VPCodecConfigurationRecord (`vpcC`), and VP9 keyframe sizes.
//! - [`OpusHead`]: the RFC 7845 identification header, `dOps`, packet durations.
//! - [`FlacConfig`]: the FLAC metadata blocks, `dfLa`, frame block sizes.
//! - [`Mp3Header`]: MPEG audio layer I/II/III frame headers.
//! - [`silence`]: coded frames of silence for AAC, MPEG audio and Opus.
//! - `legacy` (feature `legacy-audio`): G.711, PCM, Flash ADPCM and Nellymoser decoded,
//!   re-encoded as FLAC frames (`flac::encoder`) for browsers.
//! - `spark` (feature `sorenson`): Sorenson Spark (H.263) pictures decoded, for a
//!   renderer that draws them (WebCodecs' `VideoFrame`).
//! - `screen` (feature `screen`): Flash Screen Video v1 and v2 (zlib-compressed blocks)
//!   decoded to BGRX pictures, for the same renderer.
//! - `picture`: those codecs named and decoded through one type each.
//!
//! All of them read peer input: bounded, and never panicking.

mod aac;
pub mod av1;
mod avc;
mod avc_skip;
pub(crate) mod bits;
pub mod flac;
pub mod hevc;
#[cfg(feature = "legacy-audio")]
pub mod legacy;
pub mod mp3;
pub mod opus;
#[cfg(any(feature = "sorenson", feature = "screen"))]
pub mod picture;
#[cfg(feature = "screen")]
pub mod screen;
pub mod silence;
#[cfg(feature = "sorenson")]
pub mod spark;
pub mod vp9;

pub use aac::AacConfig;
pub use av1::Av1Config;
pub use avc::{AvcConfig, Sps};
pub use avc_skip::SkipPictures;
pub use flac::FlacConfig;
pub use hevc::HevcConfig;
pub use mp3::{Mp3Header, Mpeg};
pub use opus::OpusHead;
pub use vp9::Vp9Config;

/// What was wrong, in which structure, and at which byte of the input given to `parse`.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum CodecError {
    #[error("{what} ends early: byte {at} is missing")]
    Truncated { what: &'static str, at: usize },
    #[error("{what}: {field} = {value} at byte {at} is not valid")]
    Invalid {
        what: &'static str,
        field: &'static str,
        value: u64,
        at: usize,
    },
}

/// MSB-first bit reader (H.264 7.2 `read_bits`, `ue(v)`, `se(v)`; 14496-3 `bslbf`/`uimsbf`).
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
    what: &'static str,
    /// Byte offsets in `data` where an emulation-prevention byte was dropped, so
    /// errors can point at the byte of the original NAL unit.
    removed: &'a [usize],
    /// Added to reported offsets (e.g. 1 for a NAL header not in `data`).
    base: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self {
            data,
            pos: 0,
            what,
            removed: &[],
            base: 0,
        }
    }

    pub(crate) fn with_removed(mut self, removed: &'a [usize], base: usize) -> Self {
        self.removed = removed;
        self.base = base;
        self
    }

    /// Offset in the caller's input of the byte holding the current bit.
    pub(crate) fn byte_pos(&self) -> usize {
        let rbsp = self.pos / 8;
        self.base + rbsp + self.removed.iter().filter(|&&r| r <= rbsp).count()
    }

    pub(crate) fn invalid(&self, field: &'static str, value: u64) -> CodecError {
        CodecError::Invalid {
            what: self.what,
            field,
            value,
            at: self.byte_pos(),
        }
    }

    pub(crate) fn bit(&mut self) -> Result<bool, CodecError> {
        let Some(byte) = self.data.get(self.pos / 8) else {
            return Err(CodecError::Truncated {
                what: self.what,
                at: self.byte_pos(),
            });
        };
        let bit = byte >> (7 - self.pos % 8) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// The next `n` bits (`n` ≤ 32) without reading them; zeros past the end (where a
    /// table of codes looks ahead further than the last code reaches).
    pub(crate) fn peek(&self, n: u32) -> u32 {
        debug_assert!(n <= 32);
        if n == 0 {
            return 0;
        }
        let byte = self.pos / 8;
        let window = (0..5).fold(0u64, |w, i| {
            w << 8 | u64::from(self.data.get(byte + i).copied().unwrap_or(0))
        });
        // The 40 bits from the current byte, at the top of 64, then past the bits read.
        ((window << (24 + self.pos % 8)) >> (64 - n)) as u32
    }

    /// Reads `n` bits, `n` ≤ 32.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, CodecError> {
        let v = self.peek(n);
        self.skip(n)?;
        Ok(v)
    }

    /// Reads `n` bits (1 ≤ `n` ≤ 32) as a two's complement number.
    #[cfg_attr(not(feature = "sorenson"), allow(dead_code))]
    pub(crate) fn signed(&mut self, n: u32) -> Result<i32, CodecError> {
        let v = self.bits(n)?;
        Ok(((v << (32 - n)) as i32) >> (32 - n))
    }

    pub(crate) fn skip(&mut self, n: u32) -> Result<(), CodecError> {
        if self.pos + n as usize > self.data.len() * 8 {
            // As a read bit by bit would have failed: at the end.
            self.pos = self.data.len() * 8;
            return Err(CodecError::Truncated {
                what: self.what,
                at: self.byte_pos(),
            });
        }
        self.pos += n as usize;
        Ok(())
    }

    /// Reads `n` bits, `n` ≤ 64.
    pub(crate) fn bits64(&mut self, n: u32) -> Result<u64, CodecError> {
        debug_assert!(n <= 64);
        let mut v: u64 = 0;
        for _ in 0..n {
            v = v << 1 | u64::from(self.bit()?);
        }
        Ok(v)
    }

    /// Bits left to read.
    #[cfg_attr(not(feature = "legacy-audio"), allow(dead_code))]
    pub(crate) fn remaining(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// Reads a byte (8 bits, at any bit position).
    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.bits(8)? as u8)
    }

    /// Reads a big-endian 16-bit value.
    pub(crate) fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(self.bits(16)? as u16)
    }

    /// Takes `n` whole bytes from the next byte boundary on, as a slice of the input.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let start = self.pos.div_ceil(8);
        let slice = start
            .checked_add(n)
            .and_then(|end| self.data.get(start..end));
        match slice {
            Some(s) => {
                self.pos = (start + n) * 8;
                Ok(s)
            }
            None => Err(CodecError::Truncated {
                what: self.what,
                at: self.base + self.data.len() + self.removed.len(),
            }),
        }
    }

    /// Whether every bit has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.data.len() * 8
    }

    /// The bytes from the next byte boundary to the end.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.div_ceil(8).min(self.data.len());
        self.pos = self.data.len() * 8;
        self.data.get(start..).unwrap_or_default()
    }

    /// `ue(v)`, H.264 9.1. Codes longer than 32 bits (values ≥ 2^32 − 1) are refused.
    pub(crate) fn ue(&mut self, field: &'static str) -> Result<u32, CodecError> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(self.invalid(field, u64::from(u32::MAX)));
            }
        }
        let rest = self.bits(zeros)?;
        // 2^zeros − 1 + rest ≤ 2^32 − 2 for zeros ≤ 31.
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }

    /// `se(v)`, H.264 9.1.1: 1, −1, 2, −2, ... from ue 1, 2, 3, 4, ...
    pub(crate) fn se(&mut self, field: &'static str) -> Result<i64, CodecError> {
        let k = i64::from(self.ue(field)?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// A CRC of `width` bits (8 to 32), most significant bit first, without reflection or a
/// final XOR: FLAC's CRC-8 and CRC-16, MPEG-2's CRC-32 of MPEG-TS tables.
pub(crate) fn crc(data: &[u8], width: u32, poly: u32, init: u32) -> u32 {
    let top = 1 << (width - 1);
    let mask = u32::MAX >> (32 - width);
    data.iter().fold(init, |mut crc, &b| {
        crc ^= u32::from(b) << (width - 8);
        for _ in 0..8 {
            crc = if crc & top != 0 {
                crc << 1 ^ poly
            } else {
                crc << 1
            } & mask;
        }
        crc
    })
}

/// The NAL units of a coded frame whose units each follow a `size`-byte big-endian
/// length (AVCC, HVCC: 14496-15 §5.3.2), in order; an error ends them, naming what
/// was cut short.
pub(crate) fn length_prefixed(
    frame: &[u8],
    size: usize,
) -> impl Iterator<Item = Result<&[u8], &'static str>> {
    let mut rest = Some(frame);
    core::iter::from_fn(move || {
        let data = rest.take().filter(|d| !d.is_empty())?;
        let Some((len, after)) = data.split_at_checked(size) else {
            return Some(Err("NAL unit length prefix cut short"));
        };
        let len = len.iter().fold(0usize, |a, &b| a << 8 | usize::from(b));
        let Some((nal, next)) = after.split_at_checked(len) else {
            return Some(Err("NAL unit longer than the tag"));
        };
        rest = Some(next);
        Some(Ok(nal))
    })
}

/// Builds bit strings for tests, MSB first.
/// A picture dimension after its conformance-window cropping: must stay positive and fit u32.
pub(crate) fn cropped(
    coded: u64,
    crop: u64,
    what: &'static str,
    field: &'static str,
    at: usize,
) -> Result<u32, CodecError> {
    coded
        .checked_sub(crop)
        .filter(|&v| v > 0)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or(CodecError::Invalid {
            what,
            field,
            value: crop,
            at,
        })
}
