//! Speex's narrowband CELP (8 kHz), the low band of a wideband frame: LSPs,
//! a pitch predictor, a split-vector innovation and the enhancer, per frame of
//! 160 samples in four subframes.

use super::dsp;
use super::tables::*;
use super::{Book, Error, read, skip_in_band};
use crate::codec::BitReader;

pub(super) const FRAME: usize = 160;
pub(super) const SUB: usize = 40;
pub(super) const SUBFRAMES: usize = FRAME / SUB;
const ORDER: usize = 10;
const PITCH_START: usize = 17;
const PITCH_END: usize = 144;
/// Where the frame's excitation starts in `exc`: behind it twice the longest
/// pitch (the enhancer's reach), a subframe and a margin; after it, a margin.
const EXC_AT: usize = 2 * PITCH_END + SUB + 6;
const EXC_LEN: usize = FRAME + 2 * PITCH_END + SUB + 12;

/// How a submode codes its pitch.
enum Pitch {
    /// One gain for the whole frame at the open-loop period.
    Forced,
    /// A period and a three-tap gain from the book per subframe.
    ThreeTap {
        gains: &'static [i8],
        gain_bits: u32,
        pitch_bits: u32,
    },
}

/// The innovation: noise, or shapes from a book.
enum Innovation {
    Noise,
    Book(Book),
}

struct Submode {
    /// The frame's open-loop period, which the subframes' periods are (low bit
    /// rates; the others code a period per subframe from the shortest on).
    open_loop: bool,
    forced_gain: bool,
    /// Bits of the subframe's gain correction: 0, 1 or 3.
    subframe_gain: u32,
    double_book: bool,
    /// The LSPs in two stages (low bit rates) or three.
    lsp_lbr: bool,
    pitch: Pitch,
    innovation: Innovation,
    /// The enhancer's comb; none when negative.
    comb_gain: f32,
}

const NB_PITCH: Pitch = Pitch::ThreeTap {
    gains: &GAIN_NB,
    gain_bits: 7,
    pitch_bits: 7,
};
const LBR_PITCH: Pitch = Pitch::ThreeTap {
    gains: &GAIN_LBR,
    gain_bits: 5,
    pitch_bits: 7,
};
const BOOK_5_64: Book = Book::new(5, 8, &EXC_5_64, 6, false);

/// Submodes 1 to 8 (2.15 to 24.6 kbit/s; 8 is 3.95).
static SUBMODES: [Submode; 8] = [
    Submode {
        open_loop: true,
        forced_gain: true,
        subframe_gain: 0,
        double_book: false,
        lsp_lbr: true,
        pitch: Pitch::Forced,
        innovation: Innovation::Noise,
        comb_gain: -1.0,
    },
    Submode {
        open_loop: true,
        forced_gain: false,
        subframe_gain: 0,
        double_book: false,
        lsp_lbr: true,
        pitch: Pitch::ThreeTap {
            gains: &GAIN_LBR,
            gain_bits: 5,
            pitch_bits: 0,
        },
        innovation: Innovation::Book(Book::new(10, 4, &EXC_10_16, 4, false)),
        comb_gain: 0.6,
    },
    Submode {
        open_loop: false,
        forced_gain: false,
        subframe_gain: 1,
        double_book: false,
        lsp_lbr: true,
        pitch: LBR_PITCH,
        innovation: Innovation::Book(Book::new(10, 4, &EXC_10_32, 5, false)),
        comb_gain: 0.55,
    },
    Submode {
        open_loop: false,
        forced_gain: false,
        subframe_gain: 1,
        double_book: false,
        lsp_lbr: true,
        pitch: LBR_PITCH,
        innovation: Innovation::Book(Book::new(8, 5, &EXC_8_128, 7, false)),
        comb_gain: 0.45,
    },
    Submode {
        open_loop: false,
        forced_gain: false,
        subframe_gain: 3,
        double_book: false,
        lsp_lbr: false,
        pitch: NB_PITCH,
        innovation: Innovation::Book(BOOK_5_64),
        comb_gain: 0.25,
    },
    Submode {
        open_loop: false,
        forced_gain: false,
        subframe_gain: 3,
        double_book: false,
        lsp_lbr: false,
        pitch: NB_PITCH,
        innovation: Innovation::Book(Book::new(5, 8, &EXC_5_256, 8, false)),
        comb_gain: 0.15,
    },
    Submode {
        open_loop: false,
        forced_gain: false,
        subframe_gain: 3,
        double_book: true,
        lsp_lbr: false,
        pitch: NB_PITCH,
        innovation: Innovation::Book(BOOK_5_64),
        comb_gain: 0.05,
    },
    Submode {
        open_loop: true,
        forced_gain: true,
        subframe_gain: 0,
        double_book: false,
        lsp_lbr: true,
        pitch: Pitch::Forced,
        innovation: Innovation::Book(Book::new(20, 2, &EXC_20_32, 5, false)),
        comb_gain: 0.5,
    },
];

const GAIN_3: [f32; 8] = [
    0.061130, 0.163546, 0.310413, 0.428220, 0.555887, 0.719055, 0.938694, 1.326874,
];
const GAIN_1: [f32; 2] = [0.70469, 1.05127];

/// What the high band takes from the low band's frame.
pub(super) struct LowBand {
    /// The innovation, for the high band's spectral folding.
    pub innovation: [f32; FRAME],
    /// The filters' gains at 4 kHz, per subframe.
    pub pi_gain: [f32; SUBFRAMES],
    /// The excitation's RMS per subframe.
    pub exc_rms: [f32; SUBFRAMES],
    /// Discontinuous transmission asked for (submode 1's escape).
    pub dtx: bool,
}

pub(super) struct Narrowband {
    exc: [f32; EXC_LEN],
    old_lsp: [f32; ORDER],
    lpc: [f32; ORDER],
    mem_sp: [f32; ORDER],
    mem_hp: [f32; 2],
    first: bool,
    seed: u32,
    // The vocoder submode's memory.
    voc_m1: f32,
    voc_m2: f32,
    voc_mean: f32,
    voc_offset: isize,
    pub band: LowBand,
}

impl Narrowband {
    pub(super) fn new() -> Narrowband {
        Narrowband {
            exc: [0.0; EXC_LEN],
            old_lsp: [0.0; ORDER],
            lpc: [0.0; ORDER],
            mem_sp: [0.0; ORDER],
            mem_hp: [0.0; 2],
            first: true,
            seed: 1000,
            voc_m1: 0.0,
            voc_m2: 0.0,
            voc_mean: 0.0,
            voc_offset: 0,
            band: LowBand {
                innovation: [0.0; FRAME],
                pi_gain: [0.0; SUBFRAMES],
                exc_rms: [0.0; SUBFRAMES],
                dtx: false,
            },
        }
    }

    /// Decodes the next frame into `out`; `Ok(false)` at the packet's end (fewer
    /// than 5 bits left, or the terminator).
    pub(super) fn decode(
        &mut self,
        bits: &mut BitReader,
        out: &mut [f32; FRAME],
    ) -> Result<bool, Error> {
        let Some(number) = next_submode(bits)? else {
            return Ok(false);
        };
        self.exc.copy_within(FRAME.., 0);
        let Some(mode) = number.checked_sub(1).map(|m| &SUBMODES[m]) else {
            self.silence(out);
            return Ok(true);
        };
        // Submode 1 is a vocoder: noise and pulses, with a DTX escape.
        let vocoder = number == 1;
        let lsp = if mode.lsp_lbr {
            lsp_lbr(bits)?
        } else {
            lsp_nb(bits)?
        };
        if self.first {
            self.old_lsp = lsp;
        }
        let ol_pitch = if mode.open_loop {
            PITCH_START + read(bits, 7)?
        } else {
            0
        };
        let ol_pitch_coef = if mode.forced_gain {
            0.066667 * read(bits, 4)? as f32
        } else {
            0.0
        };
        let ol_gain = libm::expf(read(bits, 5)? as f32 / 3.5);
        self.band.dtx = vocoder && read(bits, 4)? == 15;

        let pit_min = if mode.open_loop {
            ol_pitch
        } else {
            PITCH_START
        };
        let (mut best_pitch, mut best_gain) = (40usize, 0.0f32);
        for sub in 0..SUBFRAMES {
            let at = EXC_AT + SUB * sub;
            self.exc[at..at + SUB].fill(0.0);
            let mut predicted = [0.0f32; SUB];
            let (pitch, gains) = match mode.pitch {
                Pitch::Forced => {
                    let coef = ol_pitch_coef.min(0.99);
                    for (i, p) in predicted.iter_mut().enumerate() {
                        *p = self.exc[at + i - pit_min] * coef;
                        self.exc[at + i] = *p;
                    }
                    (pit_min, [0.0, coef, 0.0])
                }
                Pitch::ThreeTap {
                    gains,
                    gain_bits,
                    pitch_bits,
                } => {
                    let pitch = pit_min + read(bits, pitch_bits)?;
                    let index = read(bits, gain_bits)? * 4;
                    let g: [f32; 3] =
                        core::array::from_fn(|k| 0.015625 * f32::from(gains[index + k]) + 0.5);
                    for i in 0..3 {
                        let pp = pitch + 1 - i;
                        let near = SUB.min(pp);
                        for (j, p) in predicted.iter_mut().enumerate().take(near) {
                            *p += g[2 - i] * self.exc[at + j - pp];
                        }
                        let far = SUB.min(pp + pitch);
                        for (j, p) in predicted.iter_mut().enumerate().take(far).skip(near) {
                            *p += g[2 - i] * self.exc[at + j - pp - pitch];
                        }
                    }
                    (pitch, g)
                }
            };
            // Crafted packets must not blow the filters up (libspeex's bound).
            for p in &mut predicted {
                *p = if p.is_nan() {
                    0.0
                } else {
                    p.clamp(-32000.0, 32000.0)
                };
            }
            let gain = gains[1].abs()
                + if gains[0] > 0.0 {
                    gains[0]
                } else {
                    -0.5 * gains[0]
                }
                + if gains[2] > 0.0 {
                    gains[2]
                } else {
                    -0.5 * gains[2]
                };
            if best_pitch_rule(gain, pitch, best_gain, best_pitch) {
                best_pitch = pitch;
                best_gain = best_gain.max(gain);
            }

            let ener = match mode.subframe_gain {
                3 => GAIN_3[read(bits, 3)?] * ol_gain,
                1 => GAIN_1[read(bits, 1)?] * ol_gain,
                _ => ol_gain,
            };
            let mut innov = [0.0f32; SUB];
            self.innovation(&mode.innovation, bits, &mut innov)?;
            innov.iter_mut().for_each(|v| *v *= ener);
            if mode.double_book {
                let mut second = [0.0f32; SUB];
                self.innovation(&mode.innovation, bits, &mut second)?;
                for (v, s) in innov.iter_mut().zip(second) {
                    *v += s * (0.454545 * ener);
                }
            }
            for i in 0..SUB {
                self.exc[at + i] = predicted[i] + innov[i];
            }
            self.band.innovation[SUB * sub..][..SUB].copy_from_slice(&innov);
            if vocoder {
                self.vocode(at, &innov, ol_pitch, ol_pitch_coef, ol_gain);
            }
        }

        if mode.comb_gain > 0.0 {
            let (first, second) = out.split_at_mut(2 * SUB);
            dsp::enhance(
                &self.exc,
                EXC_AT - SUB,
                first,
                best_pitch,
                40,
                mode.comb_gain,
            );
            dsp::enhance(
                &self.exc,
                EXC_AT + SUB,
                second,
                best_pitch,
                40,
                mode.comb_gain,
            );
        } else {
            out.copy_from_slice(&self.exc[EXC_AT - SUB..EXC_AT - SUB + FRAME]);
        }
        for sub in 0..SUBFRAMES {
            let mut interpolated = [0.0f32; ORDER];
            dsp::interpolate(
                &self.old_lsp,
                &lsp,
                sub,
                SUBFRAMES,
                0.002,
                &mut interpolated,
            );
            let mut ak = [0.0f32; ORDER];
            dsp::lsp_to_lpc(&interpolated, &mut ak);
            self.band.pi_gain[sub] = dsp::gain_at_nyquist(&ak);
            // The output runs a subframe behind the excitation, and so its filter.
            dsp::synthesize(&mut out[SUB * sub..][..SUB], &self.lpc, &mut self.mem_sp);
            self.lpc = ak;
        }
        dsp::highpass(out, &mut self.mem_hp);
        self.old_lsp = lsp;
        self.first = false;
        self.note_rms();
        Ok(true)
    }

    /// Submode 0: no bits, the last filter over noise at the last level.
    fn silence(&mut self, out: &mut [f32; FRAME]) {
        let lpc = dsp::widen(0.93, &self.lpc);
        let level = dsp::rms(&self.exc[EXC_AT..EXC_AT + FRAME]);
        for v in &mut self.exc[EXC_AT..EXC_AT + FRAME] {
            *v = dsp::noise(level, &mut self.seed);
        }
        self.first = true;
        out.copy_from_slice(&self.exc[EXC_AT..EXC_AT + FRAME]);
        dsp::synthesize(out, &lpc, &mut self.mem_sp);
        self.band.innovation = [0.0; FRAME];
        self.note_rms();
    }

    fn note_rms(&mut self) {
        for (sub, r) in self.band.exc_rms.iter_mut().enumerate() {
            *r = dsp::rms(&self.exc[EXC_AT + SUB * sub..][..SUB]);
        }
    }

    fn innovation(
        &mut self,
        innovation: &Innovation,
        bits: &mut BitReader,
        out: &mut [f32],
    ) -> Result<(), Error> {
        match innovation {
            Innovation::Noise => {
                for v in out {
                    *v = dsp::noise(1.0, &mut self.seed);
                }
                Ok(())
            }
            Innovation::Book(book) => book.read(bits, out),
        }
    }

    /// Submode 1's vocoder: pulses at the open-loop period mixed with the noise.
    fn vocode(&mut self, at: usize, innov: &[f32; SUB], pitch: usize, coef: f32, gain: f32) {
        let g = (1.5 * (coef - 0.2)).clamp(0.0, 1.0);
        let exc = &mut self.exc[at..at + SUB];
        exc.fill(0.0);
        let pulse = libm::sqrtf(2.0 * pitch as f32) * (g * gain);
        while self.voc_offset < SUB as isize {
            if self.voc_offset >= 0 {
                exc[self.voc_offset as usize] = pulse;
            }
            self.voc_offset += pitch as isize;
        }
        self.voc_offset -= SUB as isize;
        for (e, &n) in exc.iter_mut().zip(innov) {
            let pulse = *e;
            *e = 0.7 * *e + 0.3 * self.voc_m1 + ((1.0 - 0.85 * g) * n - 0.15 * g * self.voc_m2);
            self.voc_m1 = pulse;
            self.voc_m2 = n;
            self.voc_mean = 0.8 * self.voc_mean + 0.2 * *e;
            *e -= self.voc_mean;
        }
    }
}

/// libspeex's choice of the frame's pitch for the enhancer: the strongest, unless a
/// multiple or a fraction of the one held.
fn best_pitch_rule(gain: f32, pitch: usize, best_gain: f32, best: usize) -> bool {
    let (p, b) = (pitch as isize, best as isize);
    let near = |a: isize, limit: isize| a.abs() < limit;
    let multiple = near(2 * b - p, 3) || near(3 * b - p, 4) || near(4 * b - p, 5);
    let fraction = near(b - 2 * p, 3) || near(b - 3 * p, 4) || near(b - 4 * p, 5);
    (gain > best_gain && !multiple)
        || (gain > 0.6 * best_gain && fraction)
        || (0.67 * gain > best_gain && multiple)
}

/// Reads up to the next frame's submode (0 to 8), passing over in-band requests
/// and a wideband layer met first; `None` at the packet's end.
fn next_submode(bits: &mut BitReader) -> Result<Option<usize>, Error> {
    loop {
        if bits.remaining() < 5 {
            return Ok(None);
        }
        if read(bits, 1)? == 1 {
            // A wideband layer before a narrowband one: no decoder of a band
            // alone meets this in FLV, but its length is known.
            let mode = read(bits, 3)?;
            let length = super::HIGH_BITS
                .get(mode)
                .copied()
                .filter(|&n| n > 0)
                .ok_or_else(|| bits.invalid("wideband submode", mode as u64))?;
            bits.skip(length - 4)?;
            continue;
        }
        if bits.remaining() < 4 {
            return Ok(None);
        }
        match read(bits, 4)? {
            15 => return Ok(None),
            14 => skip_in_band(bits)?,
            13 => {
                let size = read(bits, 4)?;
                bits.skip(5 + 8 * size as u32)?;
            }
            m @ 0..=8 => return Ok(Some(m)),
            m => return Err(bits.invalid("narrowband submode", m as u64)),
        }
    }
}

/// The LSPs' starting point, evenly spread: `first`, then `step` apart.
fn lsp_base<const N: usize>(first: f32, step: f32) -> [f32; N] {
    core::array::from_fn(|i| step * i as f32 + first)
}

/// Adds the vector at the next `bits` index of `book` (`n` values each, from
/// `to`), scaled.
fn add_vector(
    lsp: &mut [f32],
    bits: &mut BitReader,
    book: &[i8],
    n: usize,
    to: usize,
    scale: f32,
) -> Result<(), Error> {
    let index = read(bits, 6)?;
    for (v, &b) in lsp[to..to + n].iter_mut().zip(&book[index * n..]) {
        *v += scale * f32::from(b);
    }
    Ok(())
}

fn lsp_nb(bits: &mut BitReader) -> Result<[f32; ORDER], Error> {
    let mut lsp = lsp_base(0.25, 0.25);
    add_vector(&mut lsp, bits, &LSP_NB, 10, 0, 0.0039062)?;
    add_vector(&mut lsp, bits, &LSP_NB_LOW1, 5, 0, 0.0019531)?;
    add_vector(&mut lsp, bits, &LSP_NB_LOW2, 5, 0, 0.00097656)?;
    add_vector(&mut lsp, bits, &LSP_NB_HIGH1, 5, 5, 0.0019531)?;
    add_vector(&mut lsp, bits, &LSP_NB_HIGH2, 5, 5, 0.00097656)?;
    Ok(lsp)
}

fn lsp_lbr(bits: &mut BitReader) -> Result<[f32; ORDER], Error> {
    let mut lsp = lsp_base(0.25, 0.25);
    add_vector(&mut lsp, bits, &LSP_NB, 10, 0, 0.0039062)?;
    add_vector(&mut lsp, bits, &LSP_NB_LOW1, 5, 0, 0.0019531)?;
    add_vector(&mut lsp, bits, &LSP_NB_HIGH1, 5, 5, 0.0019531)?;
    Ok(lsp)
}

/// The high band's LSPs (order 8), read as the low band's.
pub(super) fn lsp_high(bits: &mut BitReader) -> Result<[f32; 8], Error> {
    let mut lsp = lsp_base(0.75, 0.3125);
    add_vector(&mut lsp, bits, &LSP_HIGH, 8, 0, 0.0039062)?;
    add_vector(&mut lsp, bits, &LSP_HIGH2, 8, 0, 0.0019531)?;
    Ok(lsp)
}
