//! The 8×8 inverse DCT (H.263 annex A), separable, in floating point: within the
//! annex's accuracy of the exact transform, so pictures drift from the encoder's by no
//! more than any conforming decoder's.

/// cos(kπ/16) for k in 0..8.
const COS: [f32; 8] = [
    1.0,
    0.980_785_3,
    0.923_879_5,
    0.831_469_6,
    core::f32::consts::FRAC_1_SQRT_2,
    0.555_570_2,
    0.382_683_43,
    0.195_090_32,
];

/// The basis: `BASIS[u][x]` = C(u)/2 · cos((2x + 1)uπ/16), C(0) = 1/√2.
pub struct Idct {
    basis: [[f32; 8]; 8],
}

impl Idct {
    pub fn new() -> Idct {
        let cos = |m: usize| {
            // cos(mπ/16) over a whole period, from the first quarter.
            let m = m % 32;
            match m {
                0..=8 => cos8(m),
                9..=16 => -cos8(16 - m),
                17..=24 => -cos8(m - 16),
                _ => cos8(32 - m),
            }
        };
        let basis = core::array::from_fn(|u| {
            let scale = if u == 0 {
                core::f32::consts::FRAC_1_SQRT_2
            } else {
                1.0
            } / 2.0;
            core::array::from_fn(|x| scale * cos((2 * x + 1) * u))
        });
        Idct { basis }
    }

    /// The block's samples, row after row, from its coefficients (natural order).
    pub fn inverse(&self, block: &[i32; 64]) -> [i32; 64] {
        // Rows first, then columns; the rows that are all zero stay zero.
        let mut rows = [0f32; 64];
        for v in 0..8 {
            let coefficients = &block[v * 8..v * 8 + 8];
            if coefficients.iter().all(|&c| c == 0) {
                continue;
            }
            for x in 0..8 {
                rows[v * 8 + x] = (0..8)
                    .map(|u| coefficients[u] as f32 * self.basis[u][x])
                    .sum();
            }
        }
        let mut out = [0i32; 64];
        for x in 0..8 {
            for y in 0..8 {
                let s: f32 = (0..8).map(|v| rows[v * 8 + x] * self.basis[v][y]).sum();
                // Rounded half away from zero (`as` truncates).
                out[y * 8 + x] = (s + 0.5f32.copysign(s)) as i32;
            }
        }
        out
    }
}

fn cos8(m: usize) -> f32 {
    if m == 8 { 0.0 } else { COS[m] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_the_inverse_dct() {
        let idct = Idct::new();
        let mut seed = 3u32;
        for _ in 0..50 {
            let block: [i32; 64] = core::array::from_fn(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as i32 % 512 - 256
            });
            let ours = idct.inverse(&block);
            for y in 0..8 {
                for x in 0..8 {
                    let mut exact = 0.0f64;
                    for v in 0..8 {
                        for u in 0..8 {
                            let c = |k: usize| {
                                if k == 0 {
                                    core::f64::consts::FRAC_1_SQRT_2
                                } else {
                                    1.0
                                }
                            };
                            let pi = core::f64::consts::PI;
                            exact += c(u) * c(v) / 4.0
                                * f64::from(block[v * 8 + u])
                                * ((2 * x + 1) as f64 * u as f64 * pi / 16.0).cos()
                                * ((2 * y + 1) as f64 * v as f64 * pi / 16.0).cos();
                        }
                    }
                    let diff = (f64::from(ours[y * 8 + x]) - exact).abs();
                    assert!(
                        diff <= 0.51,
                        "({x}, {y}): {} against {exact}",
                        ours[y * 8 + x]
                    );
                }
            }
        }
    }
}
