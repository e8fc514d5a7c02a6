//! The signal processing both bands share: line spectral pairs to filters, the
//! synthesis and output filters, the band merge and the pitch enhancer. Float, as
//! libspeex's float build (what ffmpeg and the players link) computes it.

use core::f32::consts::PI;

use super::narrowband::FRAME;

/// Speex's cosine for the LSP to LPC conversion: a polynomial on [0, π], so that
/// the filters match the encoder's to the last bits (and no libm trigonometry is
/// linked).
fn cos(x: f32) -> f32 {
    let poly = |x: f32| {
        let x2 = x * x;
        0.999_993_3 + x2 * (-0.499_912_44 + x2 * (0.041_487_747 - 0.001_271_209_5 * x2))
    };
    if x < PI / 2.0 { poly(x) } else { -poly(PI - x) }
}

/// Sum of products, four at a time as libspeex adds them (the float sums then
/// round alike).
pub(super) fn inner(x: &[f32], y: &[f32]) -> f32 {
    x.chunks_exact(4)
        .zip(y.chunks_exact(4))
        .map(|(x, y)| x[0] * y[0] + x[1] * y[1] + x[2] * y[2] + x[3] * y[3])
        .fold(0.0, |sum, part| sum + part)
}

/// Root mean square, with Speex's floor.
pub(super) fn rms(x: &[f32]) -> f32 {
    let sum = x.iter().fold(0.0f32, |s, v| s + v * v);
    libm::sqrtf(0.1 + sum / x.len() as f32)
}

/// Speex's noise: uniform with a standard deviation of `std`, from a linear
/// congruence the decoder keeps.
pub(super) fn noise(std: f32, seed: &mut u32) -> f32 {
    *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
    let uniform = f32::from_bits(0x3f80_0000 | (*seed & 0x007f_ffff)) - 1.5;
    3.4642 * std * uniform
}

/// The LSPs of subframe `sub` of `subframes`, between the last frame's and this
/// one's, kept apart by `margin` so that the filter stays stable.
pub(super) fn interpolate(
    old: &[f32],
    new: &[f32],
    sub: usize,
    subframes: usize,
    margin: f32,
    lsp: &mut [f32],
) {
    let n = lsp.len();
    let t = (1.0 + sub as f32) / subframes as f32;
    for (i, v) in lsp.iter_mut().enumerate() {
        *v = (1.0 - t) * old[i] + t * new[i];
    }
    lsp[0] = lsp[0].max(margin);
    lsp[n - 1] = lsp[n - 1].min(PI - margin);
    for i in 1..n - 1 {
        if lsp[i] < lsp[i - 1] + margin {
            lsp[i] = lsp[i - 1] + margin;
        }
        if lsp[i] > lsp[i + 1] - margin {
            lsp[i] = 0.5 * (lsp[i] + lsp[i + 1] - margin);
        }
    }
}

/// The prediction filter `ak` of the LSPs (an even number, at most 10): the
/// products of the second-order sections of P(z) and Q(z), as libspeex builds them.
pub(super) fn lsp_to_lpc(lsp: &[f32], ak: &mut [f32]) {
    let n = lsp.len();
    let mut x = [0.0f32; 10];
    for (x, &l) in x.iter_mut().zip(lsp) {
        *x = cos(l);
    }
    let m = n / 2;
    // Four taps of memory per section pair, then the two of the last stage.
    let mut w = [0.0f32; 4 * 5 + 2];
    let (mut in1, mut in2) = (1.0f32, 1.0f32);
    for j in 0..=n {
        for i in 0..m {
            let n = 4 * i;
            let out1 = in1 - 2.0 * x[2 * i] * w[n] + w[n + 1];
            let out2 = in2 - 2.0 * x[2 * i + 1] * w[n + 2] + w[n + 3];
            w[n + 1] = w[n];
            w[n + 3] = w[n + 2];
            w[n] = in1;
            w[n + 2] = in2;
            in1 = out1;
            in2 = out2;
        }
        let last = 4 * m;
        let out1 = in1 + w[last];
        let out2 = in2 - w[last + 1];
        if j > 0 {
            ak[j - 1] = (out1 + out2) * 0.5;
        }
        w[last] = in1;
        w[last + 1] = in2;
        in1 = 0.0;
        in2 = 0.0;
    }
}

/// The filter's gain at half the sampling rate: 1 + Σ (a[i+1] − a[i]) over even i.
pub(super) fn gain_at_nyquist(ak: &[f32]) -> f32 {
    ak.chunks_exact(2).fold(1.0, |g, a| g + a[1] - a[0])
}

/// All-pole synthesis of `x` in place through `den`, with its memory.
pub(super) fn synthesize(x: &mut [f32], den: &[f32], mem: &mut [f32]) {
    let order = den.len();
    for v in x {
        let y = *v + mem[0];
        for j in 0..order - 1 {
            mem[j] = mem[j + 1] - den[j] * y;
        }
        mem[order - 1] = -den[order - 1] * y;
        *v = y;
    }
}

/// The output's high-pass filter (libspeex's wideband one), in place.
pub(super) fn highpass(x: &mut [f32], mem: &mut [f32; 2]) {
    const DEN: [f32; 3] = [1.0, -1.97226, 0.97332];
    const NUM: [f32; 3] = [0.98645, -1.97277, 0.98645];
    for v in x {
        let input = *v;
        let out = NUM[0] * input + mem[0];
        mem[0] = mem[1] + NUM[1] * input - DEN[1] * out;
        mem[1] = NUM[2] * input - DEN[2] * out;
        *v = out;
    }
}

/// The quadrature mirror filter pair that puts the two bands back together.
#[rustfmt::skip]
const QMF: [f32; 64] = [
    3.596189e-05, -0.0001123515, -0.0001104587, 0.0002790277, 0.0002298438, -0.0005953563,
    -0.0003823631, 0.00113826, 0.0005308539, -0.001986177, -0.0006243724, 0.003235877,
    0.0005743159, -0.004989147, -0.0002584767, 0.007367171, -0.0004857935, -0.01050689,
    0.001894714, 0.01459396, -0.004313674, -0.01994365, 0.00828756, 0.02716055,
    -0.01485397, -0.03764973, 0.026447, 0.05543245, -0.05095487, -0.09779096,
    0.1382363, 0.4600981, 0.4600981, 0.1382363, -0.09779096, -0.05095487,
    0.05543245, 0.026447, -0.03764973, -0.01485397, 0.02716055, 0.00828756,
    -0.01994365, -0.004313674, 0.01459396, 0.001894714, -0.01050689, -0.0004857935,
    0.007367171, -0.0002584767, -0.004989147, 0.0005743159, 0.003235877, -0.0006243724,
    -0.001986177, 0.0005308539, 0.00113826, -0.0003823631, -0.0005953563, 0.0002298438,
    0.0002790277, -0.0001104587, -0.0001123515, 3.596189e-05,
];

/// Half the filter's length: the past samples of each band the merge keeps.
pub(super) const QMF_MEMORY: usize = QMF.len() / 2;

/// Merges the low and the high band (a frame each) into `out` (twice as many), as
/// libspeex's `qmf_synth`, which reads each band newest first.
pub(super) fn merge(
    low: &[f32; FRAME],
    high: &[f32; FRAME],
    out: &mut [f32; 2 * FRAME],
    mem_low: &mut [f32; QMF_MEMORY],
    mem_high: &mut [f32; QMF_MEMORY],
) {
    const M2: usize = QMF_MEMORY;
    // Newest first: the band reversed, then its memory.
    let reversed = |band: &[f32; FRAME], mem: &[f32; M2]| {
        let mut x = [0.0f32; FRAME + M2];
        for (x, v) in x.iter_mut().zip(band.iter().rev().chain(mem)) {
            *x = *v;
        }
        x
    };
    let xx1 = reversed(low, mem_low);
    let xx2 = reversed(high, mem_high);
    let a = &QMF;
    for i in (0..FRAME).step_by(2) {
        let (mut y0, mut y1, mut y2, mut y3) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        let mut x10 = xx1[FRAME - 2 - i];
        let mut x20 = xx2[FRAME - 2 - i];
        for j in (0..M2).step_by(2) {
            let (a0, a1) = (a[2 * j], a[2 * j + 1]);
            let x11 = xx1[FRAME - 1 + j - i];
            let x21 = xx2[FRAME - 1 + j - i];
            y0 += a0 * (x11 - x21);
            y1 += a1 * (x11 + x21);
            y2 += a0 * (x10 - x20);
            y3 += a1 * (x10 + x20);
            let (a0, a1) = (a[2 * j + 2], a[2 * j + 3]);
            x10 = xx1[FRAME + j - i];
            x20 = xx2[FRAME + j - i];
            y0 += a0 * (x10 - x20);
            y1 += a1 * (x10 + x20);
            y2 += a0 * (x11 - x21);
            y3 += a1 * (x11 + x21);
        }
        out[2 * i] = 2.0 * y0;
        out[2 * i + 1] = 2.0 * y1;
        out[2 * i + 2] = 2.0 * y2;
        out[2 * i + 3] = 2.0 * y3;
    }
    mem_low.copy_from_slice(&xx1[..M2]);
    mem_high.copy_from_slice(&xx2[..M2]);
}

/// Fractional delays of a third of a sample, for the enhancer's pitch search.
const SHIFT: [[f32; 7]; 3] = [
    [
        -0.011915, 0.046995, -0.152373, 0.614108, 0.614108, -0.152373, 0.046995,
    ],
    [
        -0.0324855, 0.0859768, -0.2042986, 0.9640297, 0.208642, -0.0302054, -0.0063646,
    ],
    [
        -0.0063646, -0.0302054, 0.208642, 0.9640297, -0.2042986, 0.0859768, -0.0324855,
    ],
];

/// `len` samples of `exc` (from index `at`) `pitch` samples back (ahead, when
/// negative), at the fractional delay around it that correlates best.
fn pitch_copy(exc: &[f32], at: usize, pitch: isize, len: usize, out: &mut [f32]) {
    let from = |d: isize| &exc[(at as isize + d) as usize..][..len];
    let mut corr = [[0.0f32; 7]; 4];
    for (i, c) in corr[0].iter_mut().enumerate() {
        *c = inner(from(0), from(-pitch - 3 + i as isize));
    }
    for i in 0..3 {
        for j in 0..7 {
            let (k1, k2) = (3usize.saturating_sub(j), (10 - j).min(7));
            corr[i + 1][j] = (k1..k2).fold(0.0, |t, k| t + SHIFT[i][k] * corr[0][j + k - 3]);
        }
    }
    let (mut best, mut bi, mut bj) = (corr[0][0], 0, 0);
    for (i, row) in corr.iter().enumerate() {
        for (j, &c) in row.iter().enumerate() {
            if c > best {
                (best, bi, bj) = (c, i, j);
            }
        }
    }
    let lag = pitch - bj as isize + 3;
    for (i, o) in out.iter_mut().enumerate().take(len) {
        let base = at as isize + i as isize - lag;
        *o = if bi > 0 {
            (0..7).fold(0.0, |t, k| {
                t + exc[(base + k as isize - 3) as usize] * SHIFT[bi - 1][k]
            })
        } else {
            exc[base as usize]
        };
    }
}

/// The decoder's perceptual enhancement (libspeex's `multicomb`): `nsf` samples of
/// the excitation at `at`, with a comb at the pitch period added, energy kept.
/// Reads up to twice the largest pitch behind `at` and `max_pitch` + 6 past its end.
pub(super) fn enhance(
    exc: &[f32],
    at: usize,
    out: &mut [f32],
    pitch: usize,
    max_pitch: usize,
    comb_gain: f32,
) {
    const NSF: usize = 80;
    let mut iexc = [0.0f32; 2 * NSF];
    let pitch = pitch as isize;
    let far = pitch > max_pitch as isize;
    pitch_copy(exc, at, pitch, NSF, &mut iexc[..NSF]);
    pitch_copy(
        exc,
        at,
        if far { 2 * pitch } else { -pitch },
        NSF,
        &mut iexc[NSF..],
    );
    let x = &exc[at..at + NSF];
    let (i0, i1) = iexc.split_at(NSF);
    let mag0 = libm::sqrtf(1000.0 + inner(i0, i0));
    let mag1 = libm::sqrtf(1000.0 + inner(i1, i1));
    let mag = libm::sqrtf(1.0 + inner(x, x));
    let corr0 = inner(i0, x).max(0.0);
    let corr1 = inner(i1, x).max(0.0);
    let pgain = |corr: f32, m: f32| if corr > m * mag { 1.0 } else { corr / mag / m };
    let (p1, p2) = (pgain(corr0, mag0), pgain(corr1, mag1));
    let c1 = 0.4 * comb_gain + 0.07;
    let c2 = 0.5 + 1.72 * (c1 - 0.07);
    let g1 = c1 / (1.0 - c2 * p1 * p1).max(c1);
    let g2 = c1 / (1.0 - c2 * p2 * p2).max(c1);
    let (w0, w1) = if far { (0.7, 0.3) } else { (0.6, 0.6) };
    let gain0 = w0 * (g1 * (mag / mag0));
    let gain1 = w1 * (g2 * (mag / mag1));
    let out = &mut out[..NSF];
    for (i, o) in out.iter_mut().enumerate() {
        *o = x[i] + (gain0 * i0[i] + gain1 * i1[i]);
    }
    let new = rms(out).max(1.0);
    let old = rms(x).max(1.0).min(new);
    let gain = old / new;
    out.iter_mut().for_each(|o| *o *= gain);
}

/// Bandwidth expansion: a[i] · γ^(i+1).
pub(super) fn widen<const N: usize>(gamma: f32, lpc: &[f32; N]) -> [f32; N] {
    let mut g = gamma;
    lpc.map(|a| {
        let v = g * a;
        g *= gamma;
        v
    })
}
