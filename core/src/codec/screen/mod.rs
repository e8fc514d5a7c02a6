//! Flash Screen Video (FLV video codec 3, "Screen video", and 6, "Screen video version
//! 2"): the codecs of Flash screen sharing (Adobe Connect and its kin), which no browser
//! decodes. A frame is a grid of blocks, each zlib data of BGR pixels or nothing (the
//! block did not change); version 2 adds a hybrid colour format (a byte of a 128-colour
//! palette or two bytes of 15-bit colour a pixel), blocks that carry only a range of
//! rows over the last keyframe's block ("diff"), and zlib primed with the last
//! keyframe's block. The SWF File Format Specification (version 10) describes both;
//! ffmpeg's `flashsv` and `flashsv2` decoders are the reference `core/tests/screen.rs`
//! compares with. [`Decoder`] keeps the picture, BGRX, for the browser to draw
//! (WebCodecs' `VideoFrame`).

mod palette;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::Range;

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_PARSE_ZLIB_HEADER, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};

use crate::codec::{BitReader, CodecError};

/// What errors name.
const WHAT: &str = "Flash Screen Video frame";

/// The largest width or height taken (the header's 12 bits name at most 4095).
pub const MAX_SIDE: u32 = 4096;
const _: () = assert!(0xfff <= MAX_SIDE);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// FLV codec 3.
    V1,
    /// FLV codec 6.
    V2,
}

/// What a frame's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    pub block_width: u32,
    pub block_height: u32,
}

/// The header at the start of a frame (the FLV tag body after its one-byte video header).
pub fn header(data: &[u8]) -> Result<Header, CodecError> {
    let mut r = BitReader::new(data, WHAT);
    let block_width = (r.bits(4)? + 1) * 16;
    let width = r.bits(12)?;
    let block_height = (r.bits(4)? + 1) * 16;
    let height = r.bits(12)?;
    for (side, value, at) in [("image width", width, 0), ("image height", height, 2)] {
        if !(1..=MAX_SIDE).contains(&value) {
            return Err(invalid(side, value as usize, at));
        }
    }
    Ok(Header {
        width,
        height,
        block_width,
        block_height,
    })
}

/// A decoded picture: BGRX, 4 bytes a pixel (B, G, R, 255), rows top-down, `width` × 4
/// bytes a row.
pub struct Picture<'a> {
    pub width: u32,
    pub height: u32,
    pub data: &'a [u8],
}

/// Decodes a Flash Screen Video stream frame after frame; the picture persists, each
/// frame updating the blocks it carries. Joined mid-stream, blocks not yet sent are
/// black.
pub struct Decoder {
    version: Version,
    header: Option<Header>,
    /// BGRX, empty until the first frame of this size decodes.
    picture: Vec<u8>,
    /// Version 2: the picture after the last keyframe, which diff blocks start from
    /// (empty: no keyframe seen at this size).
    key: Vec<u8>,
    /// Version 2: each block's inflated bytes in the last keyframe, a primed block's
    /// zlib dictionary: ranges into `prime`, by block index.
    prime: Vec<u8>,
    prime_blocks: Vec<Option<Range<usize>>>,
    /// This frame's blocks, inflated before any is drawn, so that a bad frame changes
    /// nothing.
    raw: Vec<u8>,
    updates: Vec<Update>,
    zlib: Box<DecompressorOxide>,
}

/// A block of the frame being decoded: where its rows go, and its inflated bytes.
struct Update {
    index: usize,
    /// Rows from the block's bottom row up that the bytes hold.
    start: usize,
    rows: usize,
    /// Version 2's diff: the block starts from the last keyframe's.
    from_key: bool,
    hybrid: bool,
    bytes: Range<usize>,
}

impl Decoder {
    pub fn new(version: Version) -> Decoder {
        Decoder {
            version,
            header: None,
            picture: Vec::new(),
            key: Vec::new(),
            prime: Vec::new(),
            prime_blocks: Vec::new(),
            raw: Vec::new(),
            updates: Vec::new(),
            zlib: Box::default(),
        }
    }

    /// One frame; an interframe updates the blocks it carries over the last picture.
    /// `keyframe`: the FLV tag's frame type says it is one, which version 2's diff and
    /// primed blocks of later frames refer to (ffmpeg's reading).
    pub fn decode(&mut self, data: &[u8], keyframe: bool) -> Result<Picture<'_>, CodecError> {
        let h = header(data)?;
        // A new size starts afresh; on another grid, the keyframe's blocks are not this
        // frame's. Either holds once the frame has decoded.
        let fresh = self
            .header
            .is_none_or(|l| (l.width, l.height) != (h.width, h.height));
        let regrid = fresh
            || self.header.is_some_and(|l| {
                (l.block_width, l.block_height) != (h.block_width, h.block_height)
            });
        let mut at = 4;
        if self.version == Version::V2 {
            let flags = *data.get(at).ok_or(truncated(at))?;
            // ffmpeg decodes neither (nor has any encoder been seen to write them).
            if flags & 2 != 0 {
                return Err(invalid("image flags: an IFrame image (unsupported)", 2, at));
            }
            if flags & 1 != 0 {
                return Err(invalid(
                    "image flags: a custom palette (unsupported)",
                    1,
                    at,
                ));
            }
            at += 1;
        }
        self.blocks(data, at, &h, fresh, regrid)?;

        self.header = Some(h);
        if fresh {
            self.picture = [0, 0, 0, 255].repeat(h.width as usize * h.height as usize);
            self.key.clear();
        }
        if regrid {
            self.prime_blocks.clear();
        }
        self.draw(&h);
        if self.version == Version::V2 && keyframe {
            self.key.clone_from(&self.picture);
            self.prime_blocks.clear();
            let cells = h.width.div_ceil(h.block_width) * h.height.div_ceil(h.block_height);
            self.prime_blocks.resize(cells as usize, None);
            for u in &self.updates {
                if !u.bytes.is_empty() {
                    self.prime_blocks[u.index] = Some(u.bytes.clone());
                }
            }
            core::mem::swap(&mut self.prime, &mut self.raw);
        }
        Ok(Picture {
            width: h.width,
            height: h.height,
            data: &self.picture,
        })
    }

    /// Reads and inflates every block of the frame from byte `at` into `updates` and
    /// `raw`, drawing nothing. `fresh`: the
    /// keyframe's picture is not this frame's; `regrid`: nor are its blocks.
    fn blocks(
        &mut self,
        data: &[u8],
        mut at: usize,
        h: &Header,
        fresh: bool,
        regrid: bool,
    ) -> Result<(), CodecError> {
        let (bw, bh) = (h.block_width as usize, h.block_height as usize);
        let cols = (h.width as usize).div_ceil(bw);
        let rows = (h.height as usize).div_ceil(bh);
        self.raw.clear();
        self.updates.clear();
        for index in 0..cols * rows {
            let (col, row) = (index % cols, index / cols);
            let width = bw.min(h.width as usize - col * bw);
            let height = bh.min(h.height as usize - row * bh);
            let size = match data.get(at..at + 2) {
                Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
                _ => return Err(truncated(data.len().max(at))),
            };
            let block_at = at + 2;
            let mut body = data
                .get(block_at..block_at + size)
                .ok_or(truncated(data.len()))?;
            at = block_at + size;
            if size == 0 {
                continue;
            }
            let (mut start, mut count, mut from_key) = (0, height, false);
            let (mut hybrid, mut primed) = (false, false);
            if self.version == Version::V2 {
                let (&flags, rest) = body.split_first().ok_or(truncated(block_at))?;
                body = rest;
                match flags >> 3 & 3 {
                    0 => {}
                    2 => hybrid = true,
                    depth => {
                        return Err(invalid(
                            "block's colour depth (0 or 2)",
                            depth.into(),
                            block_at,
                        ));
                    }
                }
                if flags & 2 != 0 {
                    // zlibPrimeCompressCurrent: ffmpeg refuses it too, and no encoder
                    // is known to write it.
                    return Err(invalid(
                        "block primed from this frame (unsupported)",
                        index,
                        block_at,
                    ));
                }
                primed = flags & 1 != 0;
                if flags & 4 != 0 {
                    let [s, n, rest @ ..] = body else {
                        return Err(invalid(
                            "block too short for its diff rows",
                            index,
                            block_at,
                        ));
                    };
                    (start, count, body) = (usize::from(*s), usize::from(*n), rest);
                    if start + count > height {
                        return Err(invalid(
                            "block's diff rows (past the block)",
                            index,
                            block_at + 1,
                        ));
                    }
                    if fresh || self.key.is_empty() {
                        return Err(invalid("diff block before any keyframe", index, block_at));
                    }
                    from_key = true;
                }
            }
            let first = self.raw.len();
            if !body.is_empty() {
                let dictionary = if primed {
                    let range = (!regrid)
                        .then(|| self.prime_blocks.get(index).cloned().flatten())
                        .flatten();
                    let range = range.ok_or(invalid(
                        "block primed from a keyframe not seen",
                        index,
                        block_at,
                    ))?;
                    &self.prime[range]
                } else {
                    &[]
                };
                // The hybrid format takes one or two bytes a pixel.
                let most = width * count * if hybrid { 2 } else { 3 };
                let len = inflate(
                    &mut self.zlib,
                    &mut self.raw,
                    dictionary,
                    body,
                    most,
                    !primed,
                )
                .map_err(|field| invalid(field, index, block_at))?;
                // The bytes its rows take: the hybrid format's one or two a pixel.
                let need = if hybrid {
                    hybrid_len(&self.raw[first..], width * count)
                } else {
                    Some(width * count * 3).filter(|&n| n <= len)
                };
                match need {
                    None => return Err(invalid(LESS, index, block_at)),
                    Some(n) if n < len => return Err(invalid(MORE, index, block_at)),
                    Some(_) => {}
                }
            }
            self.updates.push(Update {
                index,
                start,
                rows: count,
                from_key,
                hybrid,
                bytes: first..self.raw.len(),
            });
        }
        Ok(())
    }

    /// Draws the blocks `blocks` read into the picture.
    fn draw(&mut self, h: &Header) {
        let (bw, bh) = (h.block_width as usize, h.block_height as usize);
        let (width, height) = (h.width as usize, h.height as usize);
        let cols = width.div_ceil(bw);
        for u in &self.updates {
            let (x, y) = (u.index % cols * bw, u.index / cols * bh);
            let w = bw.min(width - x);
            // Blocks go from the picture's bottom up, their rows too: row `k` of a block
            // is the picture's row `bottom - k`.
            let bottom = height - 1 - y;
            let span = |k: usize| {
                let first = (bottom - k) * width + x;
                first * 4..(first + w) * 4
            };
            if u.from_key {
                for k in 0..bh.min(height - y) {
                    self.picture[span(k)].copy_from_slice(&self.key[span(k)]);
                }
            }
            let mut src = &self.raw[u.bytes.clone()];
            for k in u.start..u.start + u.rows {
                for px in self.picture[span(k)].chunks_exact_mut(4) {
                    // `blocks` made sure every pixel is there.
                    let Some((bgr, rest)) = pixel(src, u.hybrid) else {
                        return;
                    };
                    px[..3].copy_from_slice(&bgr);
                    src = rest;
                }
            }
        }
    }
}

/// The first pixel of `src` (B, G, R) and the bytes after it: three bytes, or in the
/// hybrid format a palette index or a 15-bit colour with its top bit set.
fn pixel(src: &[u8], hybrid: bool) -> Option<([u8; 3], &[u8])> {
    // 5 bits to 8, as ffmpeg widens them.
    let widen = |c: u16| (c << 3 | c >> 2) as u8;
    match (hybrid, src) {
        (false, [b, g, r, rest @ ..]) => Some(([*b, *g, *r], rest)),
        (true, [hi, lo, rest @ ..]) if hi & 0x80 != 0 => {
            let c = u16::from_be_bytes([hi & 0x7f, *lo]);
            Some(([widen(c & 31), widen(c >> 5 & 31), widen(c >> 10)], rest))
        }
        (true, [i, rest @ ..]) if i & 0x80 == 0 => {
            let [b, g, r, _] = palette::PALETTE[usize::from(*i)].to_le_bytes();
            Some(([b, g, r], rest))
        }
        _ => None,
    }
}

/// Inflates `input` onto the end of `out`, at most `most` bytes, back-references reaching
/// into `dictionary` as if it came before; returns how many bytes came out, or what was
/// wrong. `zlib`: the data opens with a zlib header (a primed block's data continues a
/// stream past its header and the dictionary).
fn inflate(
    z: &mut DecompressorOxide,
    out: &mut Vec<u8>,
    dictionary: &[u8],
    input: &[u8],
    most: usize,
    zlib: bool,
) -> Result<usize, &'static str> {
    let first = out.len();
    // One byte of room more than may come out tells too much from just enough.
    out.resize(first + dictionary.len() + most + 1, 0);
    out[first..first + dictionary.len()].copy_from_slice(dictionary);
    z.init();
    let flags = TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
        | if zlib {
            TINFL_FLAG_PARSE_ZLIB_HEADER
        } else {
            0
        };
    let (status, _, len) = decompress(z, input, &mut out[first..], dictionary.len(), flags);
    let result = match status {
        _ if len > most => Err(MORE),
        // Input ended before the stream's end: what came out counts, as for ffmpeg.
        TINFLStatus::Done | TINFLStatus::FailedCannotMakeProgress => Ok(len),
        TINFLStatus::Adler32Mismatch => Err("block (zlib checksum)"),
        _ => Err("block (zlib data)"),
    };
    out.copy_within(
        first + dictionary.len()..first + dictionary.len() + len,
        first,
    );
    out.truncate(first + len);
    result
}

const MORE: &str = "block (zlib data inflating to more than its pixels)";
const LESS: &str = "block (zlib data inflating to less than its pixels)";

/// The bytes the first `pixels` pixels of hybrid data take, if they are all there: a
/// byte with its top bit set opens a two-byte 15-bit colour, any other is a palette index.
fn hybrid_len(bytes: &[u8], pixels: usize) -> Option<usize> {
    let mut at = 0;
    for _ in 0..pixels {
        at += if *bytes.get(at)? & 0x80 != 0 { 2 } else { 1 };
    }
    (at <= bytes.len()).then_some(at)
}

fn invalid(field: &'static str, value: usize, at: usize) -> CodecError {
    CodecError::Invalid {
        what: WHAT,
        field,
        value: value as u64,
        at,
    }
}

fn truncated(at: usize) -> CodecError {
    CodecError::Truncated { what: WHAT, at }
}

#[cfg(test)]
mod tests;
