//! Flash ADPCM (sound format 1; SWF File Format Specification v19, "ADPCM
//! compression"): an IMA-ADPCM variant with 2- to 5-bit codes.
//!
//! A packet starts with a 2-bit code size (+2); then blocks, each with per
//! channel a 16-bit first sample and a 6-bit step index, then up to 4095
//! codes per channel, interleaved. The last block may be short. There is no
//! state from one packet to the next. ffmpeg's `adpcm_swf` decoder is the
//! reference the tests compare with.

use crate::codec::{BitReader, CodecError};
use alloc::vec::Vec;

/// Samples per channel in a whole block, the first one included.
pub const BLOCK_SAMPLES: usize = 4096;

/// Decodes a packet of `channels` (1 or 2) channels to interleaved 16-bit samples.
pub fn decode(data: &[u8], channels: usize) -> Result<Vec<i32>, CodecError> {
    let mut r = BitReader::new(data, "Flash ADPCM");
    let bits = r.bits(2)? + 2;
    let index_table = INDEX_TABLES[bits as usize - 2];
    let sign = 1 << (bits - 1);
    let total = data.len() * 8;
    // As ffmpeg's frame count: a block needs its header (22 bits a channel)
    // whole, and a sample needs a code for every channel.
    let header_bits = 22 * channels;
    let code_bits = bits as usize * channels;
    let mut out = Vec::with_capacity((total / code_bits.max(1)).min(1 << 20));
    let mut state = [(0i32, 0usize); 2];
    let mut used = 2;
    while used + header_bits <= total {
        for s in state.iter_mut().take(channels) {
            let first = r.bits(16)? as u16 as i16;
            s.0 = i32::from(first);
            s.1 = r.bits(6)? as usize;
            out.push(s.0);
        }
        used += header_bits;
        let mut count = 1;
        while count < BLOCK_SAMPLES && used + code_bits <= total {
            for s in state.iter_mut().take(channels) {
                let code = r.bits(bits)?;
                let (predictor, index) = s;
                let mut step = STEPS[(*index).min(88)];
                // diff = (code + 0.5) · step / 4, in the shifts IMA uses.
                let mut diff = 0;
                let mut k = sign >> 1;
                while k > 0 {
                    if code & k != 0 {
                        diff += step;
                    }
                    step >>= 1;
                    k >>= 1;
                }
                diff += step;
                *predictor = if code & sign != 0 {
                    *predictor - diff
                } else {
                    *predictor + diff
                }
                .clamp(-32768, 32767);
                let magnitude = (code & (sign - 1)) as usize;
                *index = index
                    .saturating_add_signed(isize::from(index_table[magnitude]))
                    .min(88);
                out.push(*predictor);
            }
            used += code_bits;
            count += 1;
        }
    }
    if out.is_empty() {
        return Err(CodecError::Truncated {
            what: "Flash ADPCM",
            at: data.len(),
        });
    }
    Ok(out)
}

/// Step index changes by code magnitude, for 2- to 5-bit codes (SWF spec).
const INDEX_TABLES: [&[i8]; 4] = [
    &[-1, 2],
    &[-1, -1, 2, 4],
    &[-1, -1, -1, -1, 2, 4, 6, 8],
    &[-1, -1, -1, -1, -1, -1, -1, -1, 1, 2, 4, 6, 8, 10, 13, 16],
];

/// The IMA ADPCM step sizes.
const STEPS: [i32; 89] = [
    7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66,
    73, 80, 88, 97, 107, 118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449,
    494, 544, 598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272,
    2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630, 9493,
    10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794, 32767,
];

#[cfg(test)]
mod tests;
