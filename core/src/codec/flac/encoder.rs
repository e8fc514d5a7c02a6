//! A small FLAC encoder (RFC 9639): what the legacy-audio conversion needs to
//! carry decoded PCM losslessly in fMP4, where browsers play FLAC.
//!
//! Each frame is one block of variable size (the blocking strategy bit set),
//! every channel coded on its own: CONSTANT when it is, else the FIXED
//! predictor of order 0–4 whose Rice-coded residual is smallest, else
//! VERBATIM when that is smaller still. No stereo decorrelation, no LPC: the
//! point is a lossless frame any decoder accepts, cheaply made in a browser.

use super::crc8;
use crate::codec::bits::BitWriter;
use alloc::vec::Vec;

/// The most samples (per channel) a frame holds: its 16-bit block-size field.
pub const MAX_BLOCK_SIZE: usize = 65535;
/// The least a frame may hold (RFC 9639 8.2), except a stream's last frame.
pub const MIN_BLOCK_SIZE: u16 = 16;

/// A stream's fixed parameters: what STREAMINFO says and each frame repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamParams {
    pub sample_rate: u32,
    /// 1–8.
    pub channels: u8,
    /// 8 or 16 (any of 4–24 would do; the legacy formats have these two).
    pub bits_per_sample: u8,
}

impl StreamParams {
    /// "fLaC" and a lone STREAMINFO metadata block (RFC 9639 8.2): block sizes
    /// from [`MIN_BLOCK_SIZE`] to `max_block` (at least that), frame sizes, sample
    /// count and MD5 unknown (0), as for a live stream.
    pub fn stream_header(&self, max_block: u16) -> Vec<u8> {
        let mut w = BitWriter::after(b"fLaC".to_vec());
        w.bits(1, 1).bits(7, 0).bits(24, 34);
        w.bits(16, MIN_BLOCK_SIZE.into())
            .bits(16, max_block.max(MIN_BLOCK_SIZE).into());
        w.bits(24, 0).bits(24, 0);
        w.bits(20, self.sample_rate.into())
            .bits(3, u64::from(self.channels.saturating_sub(1)))
            .bits(5, u64::from(self.bits_per_sample.saturating_sub(1)))
            .bits(36, 0);
        let mut out = w.into_bytes();
        out.extend_from_slice(&[0; 16]);
        out
    }

    /// One frame of `samples` (interleaved, `channels` a sample frame, each
    /// within `bits_per_sample` signed bits). `None` if the count is not a
    /// whole number of sample frames between 1 and [`MAX_BLOCK_SIZE`].
    pub fn frame(&self, samples: &[i32]) -> Option<Vec<u8>> {
        let channels = usize::from(self.channels);
        if channels == 0 || channels > 8 || samples.len() % channels != 0 {
            return None;
        }
        let n = samples.len() / channels;
        if n == 0 || n > MAX_BLOCK_SIZE {
            return None;
        }
        let mut w = BitWriter::after(self.frame_header(n));
        let mut channel = Vec::with_capacity(n);
        for c in 0..channels {
            channel.clear();
            channel.extend(samples.iter().skip(c).step_by(channels));
            subframe(&mut w, &channel, u32::from(self.bits_per_sample));
        }
        let mut frame = w.into_bytes();
        let crc = super::crc16(&frame);
        frame.extend_from_slice(&crc.to_be_bytes());
        Some(frame)
    }

    /// The frame header (RFC 9639 9.1) for a block of `n` samples, its CRC-8 included.
    fn frame_header(&self, n: usize) -> Vec<u8> {
        // Sync code and blocking strategy 1: variable block size.
        let mut h = vec![0xff, 0xf9];
        let (rate_code, rate_extra): (u8, &[u8]) = match self.sample_rate {
            8_000 => (4, &[]),
            16_000 => (5, &[]),
            22_050 => (6, &[]),
            24_000 => (7, &[]),
            32_000 => (8, &[]),
            44_100 => (9, &[]),
            48_000 => (10, &[]),
            96_000 => (11, &[]),
            // Any other (5512, 11025): from STREAMINFO.
            _ => (0, &[]),
        };
        // Block size code 7: an uncommon 16-bit (n − 1) after the coded number.
        h.push(0x70 | rate_code);
        let size_code = match self.bits_per_sample {
            8 => 1,
            12 => 2,
            16 => 4,
            20 => 5,
            24 => 6,
            _ => 0,
        };
        h.push((self.channels.saturating_sub(1)) << 4 | size_code << 1);
        // The coded sample number: 0, as each fMP4 sample is decoded alone and
        // its place on the timeline is the container's.
        h.push(0);
        h.extend_from_slice(&((n - 1) as u16).to_be_bytes());
        h.extend_from_slice(rate_extra);
        h.push(crc8(&h));
        h
    }
}

/// The highest Rice partition order tried: 2^6 partitions is plenty for the
/// short, smooth blocks legacy audio comes in.
const MAX_PARTITION_ORDER: u32 = 6;
/// The highest fixed predictor order (RFC 9639 9.2.5).
const MAX_FIXED_ORDER: usize = 4;
/// A 4-bit Rice parameter of 15 is the escape code (raw residuals).
const ESCAPE: u32 = 15;

/// Writes one channel's subframe: the smallest of CONSTANT, FIXED, VERBATIM.
fn subframe(w: &mut BitWriter, x: &[i32], bps: u32) {
    let raw = |v: i32| u64::from(v as u32) & ((1u64 << bps) - 1);
    if x.iter().all(|&v| v == x[0]) {
        // Zero padding bit, type 000000, no wasted bits, then the value.
        w.bits(8, 0).bits(bps, raw(x[0]));
        return;
    }
    let verbatim_bits = 8 + x.len() as u64 * u64::from(bps);
    let best = (0..=MAX_FIXED_ORDER.min(x.len() - 1))
        .map(|order| {
            let r = residual(x, order);
            let plan = plan_partitions(&r, order, x.len());
            let bits = 8 + order as u64 * u64::from(bps) + plan.bits;
            (bits, order, r, plan)
        })
        .min_by_key(|(bits, ..)| *bits);
    match best {
        Some((bits, order, r, plan)) if bits < verbatim_bits => {
            // Type 001xxx: FIXED of order xxx.
            w.bits(1, 0).bits(6, 0b001000 | order as u64).bits(1, 0);
            for &v in &x[..order] {
                w.bits(bps, raw(v));
            }
            write_residual(w, &r, &plan, x.len(), order);
        }
        _ => {
            w.bits(8, 0b0000_0010);
            for &v in x {
                w.bits(bps, raw(v));
            }
        }
    }
}

/// The fixed predictors' residuals (RFC 9639 9.2.5), for samples `order`.. .
fn residual(x: &[i32], order: usize) -> Vec<i32> {
    let at = |i: usize| i64::from(x[i]);
    (order..x.len())
        .map(|i| {
            let e = match order {
                0 => at(i),
                1 => at(i) - at(i - 1),
                2 => at(i) - 2 * at(i - 1) + at(i - 2),
                3 => at(i) - 3 * at(i - 1) + 3 * at(i - 2) - at(i - 3),
                _ => at(i) - 4 * at(i - 1) + 6 * at(i - 2) - 4 * at(i - 3) + at(i - 4),
            };
            // Within 16 × 2^(bps−1) for bps ≤ 24: fits.
            e as i32
        })
        .collect()
}

/// Partition order and each partition's Rice parameter (or escape width).
struct Plan {
    order: u32,
    /// Per partition: (parameter, raw bit width when the parameter is [`ESCAPE`]).
    params: Vec<(u32, u32)>,
    /// Bits of the whole residual section, its 2-bit method and order included.
    bits: u64,
}

fn zigzag(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// Chooses the partition order and parameters with the exact bit count of each.
fn plan_partitions(r: &[i32], predictor_order: usize, n: usize) -> Plan {
    let mut best: Option<Plan> = None;
    for order in 0..=MAX_PARTITION_ORDER {
        let parts = 1usize << order;
        // Partitions must divide the block, and the first must hold a residual.
        if n % parts != 0 || (order > 0 && n / parts <= predictor_order) {
            break;
        }
        let len = n / parts;
        let mut bits = 2 + 4;
        let mut params = Vec::with_capacity(parts);
        let mut start = 0;
        for p in 0..parts {
            let count = if p == 0 { len - predictor_order } else { len };
            let part = &r[start..start + count];
            start += count;
            let (param, width, cost) = best_param(part);
            bits += cost;
            params.push((param, width));
        }
        if best.as_ref().is_none_or(|b| bits < b.bits) {
            best = Some(Plan {
                order,
                params,
                bits,
            });
        }
    }
    best.unwrap_or(Plan {
        order: 0,
        params: vec![(ESCAPE, 32)],
        bits: u64::MAX,
    })
}

/// The cheapest Rice parameter for a partition, or the escape code with its
/// raw width: (parameter, width, bits with the 4-bit parameter).
fn best_param(part: &[i32]) -> (u32, u32, u64) {
    // Two's complement width; residuals stay far below 2^31 (see `residual`),
    // so it fits the 5-bit field.
    let width = part
        .iter()
        .map(|&v| 33 - (v ^ (v >> 31)).leading_zeros())
        .max()
        .unwrap_or(0)
        .clamp(1, 31);
    let mut best = (ESCAPE, width, 4 + 5 + part.len() as u64 * u64::from(width));
    // The best parameter is near log2 of the mean: try that and its neighbours.
    let sum: u64 = part.iter().map(|&v| zigzag(v)).sum();
    let mean = sum / (part.len() as u64).max(1);
    let near = 63 - (mean | 1).leading_zeros();
    for k in near.saturating_sub(1)..=(near + 1).min(ESCAPE - 1) {
        let bits = 4 + part
            .iter()
            .map(|&v| (zigzag(v) >> k) + 1 + u64::from(k))
            .sum::<u64>();
        if bits < best.2 {
            best = (k, 0, bits);
        }
    }
    best
}

fn write_residual(w: &mut BitWriter, r: &[i32], plan: &Plan, n: usize, predictor_order: usize) {
    // Coding method 00: 4-bit Rice parameters.
    w.bits(2, 0).bits(4, plan.order.into());
    let len = n >> plan.order;
    let mut start = 0;
    for (p, &(param, width)) in plan.params.iter().enumerate() {
        let count = if p == 0 { len - predictor_order } else { len };
        let part = &r[start..start + count];
        start += count;
        w.bits(4, param.into());
        if param == ESCAPE {
            w.bits(5, width.into());
            for &v in part {
                w.bits(width, u64::from(v as u32) & ((1u64 << width) - 1));
            }
            continue;
        }
        for &v in part {
            let u = zigzag(v);
            let mut q = u >> param;
            while q >= 32 {
                w.bits(32, 0);
                q -= 32;
            }
            w.bits(q as u32, 0).bits(1, 1).bits(param, u);
        }
    }
}
