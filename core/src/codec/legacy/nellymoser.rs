//! Nellymoser Asao (sound formats 4, 5 and 6): Flash Player's default microphone
//! codec, mono, in blocks of 64 bytes that each hold 256 samples.
//!
//! A block is two transform frames of 128 coefficients (124 coded, in 23 bands)
//! sharing one envelope: a 6-bit first band energy and 22 5-bit deltas (116 bits),
//! then each frame's 198 bits of coefficients. How many bits each coefficient has
//! (0 to 6) is not sent: the decoder runs the encoder's allocation again on the
//! envelope, so it must match it to the bit. A coefficient given none is noise at its
//! band's energy. An inverse MDCT with a sine window overlaps each frame with the one
//! before, so the decoder carries half a frame from block to block and tag to tag.
//! ffmpeg's `nellymoser` decoder is the reference `core/tests/legacy_audio.rs` compares
//! with.

use alloc::vec::Vec;
use core::f32::consts::FRAC_1_SQRT_2;

use crate::codec::CodecError;

/// The bytes of one block.
pub const BLOCK_LEN: usize = 64;
/// Coefficients of a frame, and samples it adds to the output.
const FRAME: usize = 128;
/// Coefficients coded; the top 4 are always zero.
const CODED: usize = 124;
const HEADER_BITS: usize = 116;
/// The bits of one frame's coefficients, which the allocation fills exactly.
const DETAIL_BITS: i32 = 198;
const MAX_BITS: i32 = 6;

/// Coefficients per band (23 bands, 124 in all).
const BAND_SIZES: [u8; 23] = [
    2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 4, 4, 5, 6, 6, 7, 8, 9, 10, 12, 14, 15,
];

/// The first band's energy (log2 in 1/2048ths), by its 6-bit code.
const FIRST_ENERGY: [u16; 64] = [
    3134, 5342, 6870, 7792, 8569, 9185, 9744, 10191, 10631, 11061, 11434, 11770, 12116, 12513,
    12925, 13300, 13674, 14027, 14352, 14716, 15117, 15477, 15824, 16157, 16513, 16804, 17090,
    17401, 17679, 17948, 18238, 18520, 18764, 19078, 19381, 19640, 19921, 20205, 20500, 20813,
    21162, 21465, 21794, 22137, 22453, 22756, 23067, 23350, 23636, 23926, 24227, 24521, 24819,
    25107, 25414, 25730, 26120, 26497, 26895, 27344, 27877, 28463, 29426, 31355,
];

/// Each next band's energy step, by its 5-bit code.
const ENERGY_STEP: [i16; 32] = [
    -11725, -9420, -7910, -6801, -5948, -5233, -4599, -4039, -3507, -3030, -2596, -2170, -1774,
    -1383, -1016, -660, -329, -1, 337, 696, 1085, 1512, 1962, 2433, 2968, 3569, 4314, 5279, 6622,
    8154, 10076, 12975,
];

/// A coefficient's value (times its band's amplitude) by its width `b` and code `v`:
/// index `2^b - 1 + v`, so each width's levels follow the narrower ones'.
#[rustfmt::skip]
const LEVELS: [f32; 127] = [
    0.0,
    -0.847_256, 0.722_471,
    -1.524_748, -0.453_148, 0.375_361, 1.471_79,
    -1.982_258, -1.192_938, -0.582_937, -0.069_378, 0.390_957, 0.906_920, 1.486_274, 2.221_541,
    -2.388_787, -1.806_754, -1.410_542, -1.077_361, -0.799_501, -0.555_811, -0.333_402, -0.132_449,
    0.056_802, 0.254_877, 0.477_355, 0.738_685, 1.044_306, 1.395_446, 1.809_875, 2.391_876,
    -2.389_383, -1.988_468, -1.751_404, -1.564_312, -1.392_213, -1.216_465, -1.046_95, -0.890_510,
    -0.764_558, -0.645_458, -0.525_928, -0.405_955, -0.302_972, -0.209_690, -0.123_987, -0.047_923,
    0.025_773, 0.100_134, 0.173_718, 0.258_554, 0.352_290, 0.456_988, 0.576_775, 0.700_316,
    0.842_552, 1.009_388, 1.182_135, 1.353_456, 1.532_082, 1.733_262, 1.972_235, 2.397_814,
    -2.575_631, -2.057_332, -1.898_492, -1.772_781, -1.666_26, -1.574_218, -1.499_332, -1.431_664,
    -1.365_228, -1.300_099, -1.228_093, -1.158_858, -1.092_125, -1.013_574, -0.920_285, -0.828_705,
    -0.737_489, -0.644_776, -0.559_094, -0.485_714, -0.411_032, -0.345_970, -0.285_116, -0.234_162,
    -0.187_058, -0.144_250, -0.110_717, -0.073_968, -0.036_561, -0.007_329, 0.020_361, 0.047_904,
    0.075_197, 0.098_100, 0.122_039, 0.145_900, 0.169_435, 0.197_046, 0.225_243, 0.255_687,
    0.287_010, 0.319_710, 0.352_583, 0.388_907, 0.433_492, 0.476_946, 0.520_482, 0.564_453,
    0.612_204, 0.668_593, 0.734_165, 0.803_216, 0.878_404, 0.956_621, 1.039_707, 1.129_377,
    1.221_116, 1.308_028, 1.402_48, 1.505_682, 1.622_773, 1.772_496, 1.943_088, 2.290_393,
];

/// Decodes a Nellymoser stream, tag after tag.
pub struct Decoder {
    transform: Transform,
    /// The sine window's rising half; it falls as the mirror image.
    window: [f32; FRAME],
    /// The last frame's windowed second half, which the next frame's first half
    /// completes.
    tail: [f32; FRAME],
    /// The noise's sign bits (xorshift).
    noise: u32,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        let cos = cosines();
        Decoder {
            transform: Transform::new(&cos),
            // sin(π (n + 1/2) / 256) = cos(π/512 · (255 - 2n)).
            window: core::array::from_fn(|n| cos[255 - 2 * n]),
            tail: [0.0; FRAME],
            noise: 0x2545_f491,
        }
    }

    /// The tag body's whole blocks as 16-bit samples, 256 a block. Bytes past the
    /// last whole block are left out, as ffmpeg does.
    pub fn decode(&mut self, body: &[u8]) -> Result<Vec<i32>, CodecError> {
        if body.len() < BLOCK_LEN {
            return Err(CodecError::Truncated {
                what: "Nellymoser audio (blocks of 64 bytes)",
                at: body.len(),
            });
        }
        // What one FLAC frame takes (65,535 samples): 255 blocks. Refused before
        // decoding, so a large tag costs neither the time nor 16 bytes a byte.
        let blocks = body.len() / BLOCK_LEN;
        if blocks * 2 * FRAME > 65_535 {
            return Err(CodecError::Invalid {
                what: "Nellymoser audio",
                field: "blocks in one tag (at most 255)",
                value: blocks as u64,
                at: 0,
            });
        }
        let mut out = Vec::with_capacity(blocks * 2 * FRAME);
        for block in body.chunks_exact(BLOCK_LEN) {
            self.block(block, &mut out);
        }
        Ok(out)
    }

    fn block(&mut self, block: &[u8], out: &mut Vec<i32>) {
        let mut bits = LsbBits { data: block, at: 0 };
        let mut energy = i32::from(FIRST_ENERGY[bits.take(6) as usize]);
        let mut energies = [0i32; CODED];
        let mut amplitudes = [0f32; CODED];
        let mut at = 0;
        for (band, &size) in BAND_SIZES.iter().enumerate() {
            if band > 0 {
                energy += i32::from(ENERGY_STEP[bits.take(5) as usize]);
            }
            // Scaled to 16-bit samples.
            let amplitude = exp2_2048(energy) / 8.0;
            for _ in 0..size {
                energies[at] = energy;
                amplitudes[at] = amplitude;
                at += 1;
            }
        }
        let widths = allocate(&energies);
        for frame in 0..2 {
            let mut bits = LsbBits {
                data: block,
                at: HEADER_BITS + frame * DETAIL_BITS as usize,
            };
            let mut coefficients = [0f32; CODED];
            for ((c, &width), &amplitude) in coefficients.iter_mut().zip(&widths).zip(&amplitudes) {
                *c = if width <= 0 {
                    self.noise ^= self.noise << 13;
                    self.noise ^= self.noise >> 17;
                    self.noise ^= self.noise << 5;
                    let sign = if self.noise & 1 == 0 { 1.0 } else { -1.0 };
                    sign * FRAC_1_SQRT_2 * amplitude
                } else {
                    let code = bits.take(width as usize) as usize;
                    LEVELS[(1 << width) - 1 + code] * amplitude
                };
            }
            self.frame(&coefficients, out);
        }
    }

    /// The inverse transform of one frame, windowed and overlapped with the last.
    fn frame(&mut self, coefficients: &[f32; CODED], out: &mut Vec<i32>) {
        let middle = self.transform.middle(coefficients);
        // The 256 outputs y[n] from their middle half y[64..192]: y[n] = -y[127 - n]
        // for n < 64, y[n] = y[383 - n] for n ≥ 192.
        let y = |n: usize| match n {
            0..64 => -middle[127 - n - 64],
            64..192 => middle[n - 64],
            _ => middle[383 - n - 64],
        };
        for n in 0..FRAME {
            let sample = self.tail[n] + self.window[n] * y(n);
            let sample = sample.clamp(-32768.0, 32767.0);
            // Rounded half away from zero (`as` truncates).
            out.push((sample + 0.5f32.copysign(sample)) as i32);
            self.tail[n] = self.window[FRAME - 1 - n] * y(FRAME + n);
        }
    }
}

type Complex = (f32, f32);

fn mul(a: Complex, b: Complex) -> Complex {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

/// The inverse MDCT's middle half, u[m] = y[m + 64] = Σ X[k] cos(π/128 (m + 128.5)(k + ½)),
/// through a 64-point FFT instead of 128 × 124 products: u is minus the DST-IV of
/// X'[k] = (-1)^k X[k], which is a DCT-IV of X' reversed with every other output
/// negated; and a DCT-IV of 128 is one complex FFT of 64 between two rotations.
struct Transform {
    /// e^(-iπj/128), before the FFT.
    pre: [Complex; HALF],
    /// e^(-iπ(l + ¼)/128), after it.
    post: [Complex; HALF],
    /// The FFT's e^(-2πit/64).
    twiddle: [Complex; HALF / 2],
}

/// The FFT's size.
const HALF: usize = FRAME / 2;

impl Transform {
    fn new(cos: &[f32]) -> Transform {
        // e^(-iπj/512), from the cosines: sin x = cos(x - π/2).
        let phasor = |j: usize| (cos[j % 1024], -cos[(j + 768) % 1024]);
        Transform {
            pre: core::array::from_fn(|j| phasor(4 * j)),
            post: core::array::from_fn(|l| phasor(4 * l + 1)),
            twiddle: core::array::from_fn(|t| phasor(16 * t)),
        }
    }

    fn middle(&self, x: &[f32; CODED]) -> [f32; FRAME] {
        // r[k] = X'[127 - k], the uncoded top four zero. The DCT-IV's input pairs
        // (r[2j], r[127 - 2j]) = (-X[127 - 2j], X[2j]) as one complex number each.
        let coded = |k: usize| x.get(k).copied().unwrap_or(0.0);
        let mut z: [Complex; HALF] =
            core::array::from_fn(|j| mul((-coded(FRAME - 1 - 2 * j), coded(2 * j)), self.pre[j]));
        self.fft(&mut z);
        // C[2l] = Re S[l], C[127 - 2l] = -Im S[l]; u[m] = -(-1)^m C[m].
        let mut u = [0f32; FRAME];
        for (l, &v) in z.iter().enumerate() {
            let s = mul(v, self.post[l]);
            u[2 * l] = -s.0;
            // 127 - 2l is odd.
            u[FRAME - 1 - 2 * l] = -s.1;
        }
        u
    }

    /// In place, radix 2, decimation in time.
    fn fft(&self, z: &mut [Complex; HALF]) {
        let bits = HALF.trailing_zeros();
        for i in 0..HALF {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if i < j {
                z.swap(i, j);
            }
        }
        let mut size = 2;
        while size <= HALF {
            let step = HALF / size;
            for start in (0..HALF).step_by(size) {
                for k in 0..size / 2 {
                    let (a, b) = (start + k, start + k + size / 2);
                    let t = mul(z[b], self.twiddle[k * step]);
                    z[b] = (z[a].0 - t.0, z[a].1 - t.1);
                    z[a] = (z[a].0 + t.0, z[a].1 + t.1);
                }
            }
            size *= 2;
        }
    }
}

/// cos(π j / 512) for j in 0..1024, by turning a unit vector step by step: no
/// trigonometry linked into the wasm for one table.
fn cosines() -> Vec<f32> {
    const COS: f64 = 0.999_981_175_282_601_1; // cos(π / 512)
    const SIN: f64 = 0.006_135_884_649_154_475; // sin(π / 512)
    let (mut re, mut im) = (1.0f64, 0.0f64);
    (0..1024)
        .map(|_| {
            let value = re as f32;
            (re, im) = (re * COS - im * SIN, re * SIN + im * COS);
            value
        })
        .collect()
}

/// 2^(`e` / 2048), `e` an energy in the codec's fixed point (and no `exp2f` linked in).
fn exp2_2048(e: i32) -> f32 {
    let x = (e & 2047) as f32 / 2048.0;
    // 2^x on [0, 1): its Taylor series to x^6, within 2e-5.
    const C: [f32; 6] = [
        core::f32::consts::LN_2,
        0.240_226_5,
        0.055_504_11,
        0.009_618_13,
        0.001_333_36,
        0.000_154_04,
    ];
    let fraction = 1.0 + x * (C[0] + x * (C[1] + x * (C[2] + x * (C[3] + x * (C[4] + x * C[5])))));
    // 2^(e >> 11) as the float's exponent alone: 0 below the normal range, ∞ above.
    let whole = f32::from_bits((((e >> 11) + 127).clamp(0, 255) as u32) << 23);
    fraction * whole
}

/// Bits read least significant first, byte after byte; zeros past the end.
struct LsbBits<'a> {
    data: &'a [u8],
    at: usize,
}

impl LsbBits<'_> {
    fn take(&mut self, n: usize) -> u32 {
        let mut v = 0;
        for i in 0..n {
            let at = self.at + i;
            let bit = self.data.get(at / 8).map_or(0, |b| (b >> (at % 8)) & 1);
            v |= u32::from(bit) << i;
        }
        self.at += n;
        v
    }
}

/// `i` times 2^`shift` (divided when negative), as the encoder's fixed point does.
fn scale(i: i32, shift: i32) -> i32 {
    if shift > 0 {
        i.wrapping_shl(shift as u32)
    } else {
        i >> (-shift).min(31)
    }
}

/// Shifts `la` up until its top bit is bit 30; how far (31 for zero).
fn headroom(la: &mut i32) -> i32 {
    if *la == 0 {
        return 31;
    }
    let l = (30 - (31 - la.unsigned_abs().leading_zeros() as i32)).max(0);
    *la = la.wrapping_shl(l as u32);
    l
}

/// Bits the coefficients take at offset `off`: each band's energy above it, in steps.
fn bits_at(levels: &[i16; CODED], shift: i32, off: i32) -> i32 {
    levels.iter().map(|&l| width(l, shift, off)).sum()
}

fn width(level: i16, shift: i32, off: i32) -> i32 {
    let b = i32::from(level).wrapping_sub(off);
    ((b >> (shift - 1).clamp(0, 31)).wrapping_add(1) >> 1).clamp(0, MAX_BITS)
}

/// Each coefficient's width, from the band energies: the offset under which the
/// widths sum to `DETAIL_BITS` (or nearest), searched in the encoder's fixed point
/// (it must match it to the bit), the excess taken from the last coefficients.
fn allocate(energies: &[i32; CODED]) -> [i32; CODED] {
    let mut max = energies.iter().copied().fold(0, i32::max);
    let mut shift = headroom(&mut max) - 16;
    let mut levels = [0i16; CODED];
    let mut sum = 0i32;
    for (l, &e) in levels.iter_mut().zip(energies) {
        let s = scale(e, shift) as i16;
        *l = ((3 * i32::from(s)) >> 2) as i16;
        sum = sum.wrapping_add(i32::from(*l));
    }
    shift += 11;
    let fixed = shift;
    sum = sum.wrapping_sub(DETAIL_BITS.wrapping_shl(shift.clamp(0, 31) as u32));
    shift += headroom(&mut sum);
    let mut small_off = (4228i32.wrapping_mul(sum >> 16)) >> 15;
    small_off = scale(small_off, fixed - (19 + shift - 31));
    let mut bitsum = bits_at(&levels, fixed, small_off);

    if bitsum != DETAIL_BITS {
        // Step towards the target until the sum crosses it, then bisect.
        let mut off = bitsum - DETAIL_BITS;
        let mut doublings = 0;
        while off.abs() <= 16383 {
            off *= 2;
            doublings += 1;
        }
        off = scale((off * 4228) >> 15, fixed - (19 + doublings - 15));
        let (mut last_off, mut last_bitsum) = (small_off, bitsum);
        let mut tries = 1;
        while tries < 20 {
            last_off = small_off;
            small_off = small_off.wrapping_add(off);
            last_bitsum = bitsum;
            bitsum = bits_at(&levels, fixed, small_off);
            if (bitsum - DETAIL_BITS) * (last_bitsum - DETAIL_BITS) <= 0 {
                break;
            }
            tries += 1;
        }
        let (mut big_off, mut big_bitsum, mut small_bitsum);
        if bitsum > DETAIL_BITS {
            big_off = small_off;
            small_off = last_off;
            big_bitsum = bitsum;
            small_bitsum = last_bitsum;
        } else {
            big_off = last_off;
            big_bitsum = last_bitsum;
            small_bitsum = bitsum;
        }
        while bitsum != DETAIL_BITS && tries <= 19 {
            let mid = (big_off >> 1).wrapping_add(small_off >> 1) + (big_off & small_off & 1);
            bitsum = bits_at(&levels, fixed, mid);
            if bitsum > DETAIL_BITS {
                big_off = mid;
                big_bitsum = bitsum;
            } else {
                small_off = mid;
                small_bitsum = bitsum;
            }
            tries += 1;
        }
        if (big_bitsum - DETAIL_BITS).abs() >= (small_bitsum - DETAIL_BITS).abs() {
            bitsum = small_bitsum;
        } else {
            small_off = big_off;
            bitsum = big_bitsum;
        }
    }

    let mut widths = [0i32; CODED];
    for (w, &l) in widths.iter_mut().zip(&levels) {
        *w = width(l, fixed, small_off);
    }
    if bitsum > DETAIL_BITS {
        // Too many by a few: the coefficient that crosses the target gives them back,
        // those after it get none.
        let mut total = 0;
        let mut i = 0;
        while total < DETAIL_BITS && i < CODED {
            total += widths[i];
            i += 1;
        }
        if i > 0 {
            widths[i - 1] -= total - DETAIL_BITS;
        }
        widths[i..].fill(0);
    }
    widths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocation_fills_a_frame_exactly() {
        // A falling envelope, a flat one, and one with a single loud band.
        let falling: [i32; CODED] = core::array::from_fn(|i| 20_000 - 100 * i as i32);
        let flat = [12_000; CODED];
        let peak: [i32; CODED] = core::array::from_fn(|i| if i < 8 { 30_000 } else { 3_000 });
        for energies in [falling, flat, peak] {
            let widths = allocate(&energies);
            assert!(
                widths.iter().all(|w| (0..=MAX_BITS).contains(w)),
                "{widths:?}"
            );
            assert!(widths.iter().sum::<i32>() <= DETAIL_BITS, "{widths:?}");
        }
        let widths = allocate(&falling);
        assert_eq!(widths.iter().sum::<i32>(), DETAIL_BITS, "{widths:?}");
        assert!(
            widths[0] >= widths[CODED - 1],
            "louder bands get more bits: {widths:?}"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..700)) {
            let mut d = Decoder::new();
            match d.decode(&body) {
                Ok(samples) => proptest::prop_assert_eq!(samples.len(), body.len() / BLOCK_LEN * 256),
                Err(_) => proptest::prop_assert!(body.len() < BLOCK_LEN),
            }
        }
    }

    #[test]
    fn a_tag_holds_at_most_a_flac_frames_worth() {
        let mut d = Decoder::new();
        assert_eq!(d.decode(&[0; 255 * BLOCK_LEN]).unwrap().len(), 255 * 256);
        let err = d.decode(&[0; 256 * BLOCK_LEN]).unwrap_err();
        assert!(
            matches!(err, CodecError::Invalid { value: 256, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn exp2_is_exp2() {
        for e in (-200_000..200_000).step_by(997) {
            let exact = 2f64.powf(f64::from(e) / 2048.0);
            let ours = f64::from(exp2_2048(e));
            assert!(
                (ours / exact - 1.0).abs() < 3e-5,
                "2^({e}/2048) = {ours}, not {exact}"
            );
        }
    }

    #[test]
    fn the_transform_is_the_inverse_mdct() {
        let transform = Transform::new(&cosines());
        let mut seed = 1u32;
        for _ in 0..20 {
            let x: [f32; CODED] = core::array::from_fn(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 8) as f32 / (1 << 23) as f32 - 1.0
            });
            let fast = transform.middle(&x);
            for (m, &u) in fast.iter().enumerate() {
                let exact: f64 = (x.iter().enumerate())
                    .map(|(k, &c)| {
                        let angle =
                            core::f64::consts::PI / 128.0 * (m as f64 + 128.5) * (k as f64 + 0.5);
                        f64::from(c) * angle.cos()
                    })
                    .sum();
                assert!(
                    (f64::from(u) - exact).abs() < 1e-4,
                    "u[{m}] = {u}, not {exact}"
                );
            }
        }
    }

    #[test]
    fn the_cosines_are_cosines() {
        let cos = cosines();
        for (j, &c) in cos.iter().enumerate() {
            let exact = (core::f64::consts::PI * j as f64 / 512.0).cos();
            assert!(
                (f64::from(c) - exact).abs() < 1e-6,
                "cos(π·{j}/512) = {c}, not {exact}"
            );
        }
    }

    #[test]
    fn any_bytes_decode_to_bounded_samples() {
        let mut d = Decoder::new();
        for seed in 0..64u8 {
            let block: Vec<u8> = (0..BLOCK_LEN as u8)
                .map(|i| i.wrapping_mul(seed) ^ seed)
                .collect();
            let samples = d.decode(&block).unwrap();
            assert_eq!(samples.len(), 256);
            assert!(samples.iter().all(|s| (-32768..=32767).contains(s)));
        }
        assert!(matches!(
            d.decode(&[0; 63]),
            Err(CodecError::Truncated { at: 63, .. })
        ));
        assert!(d.decode(&[]).is_err());
        assert_eq!(d.decode(&[0xff; 64 * 3 + 5]).unwrap().len(), 3 * 256);
    }
}
