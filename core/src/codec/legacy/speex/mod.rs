//! Speex wideband (FLV sound format 11), Flash Player's voice codec: 16 kHz
//! mono, in frames of 20 ms, one or more to a tag. A frame is a narrowband CELP
//! frame for 0–4 kHz ([`narrowband`]), then the high band's layer: its LSPs and
//! either the low band's innovation folded up or shapes of its own; a
//! quadrature mirror filter merges the two.
//!
//! Decoded as libspeex's float decoder does, with its perceptual enhancement (on
//! in libspeex and so in ffmpeg and every player that links it), so that the
//! sound is the one those players made.

mod dsp;
mod narrowband;
mod tables;

use alloc::vec::Vec;

use super::super::CodecError as Error;
use crate::codec::BitReader;
use narrowband::{FRAME, Narrowband, SUB, SUBFRAMES};
use tables::{HEXC_8_128, HEXC_10_32};

/// Samples a frame decodes to (20 ms at 16 kHz).
pub const FRAME_SAMPLES: usize = 2 * FRAME;

/// Frames one tag may hold: what one FLAC frame takes (65,535 samples). A silent
/// frame is 5 bits, so without a bound a tag of a megabyte would decode to 1.7
/// million frames.
pub const MAX_FRAMES: usize = 65_535 / FRAME_SAMPLES;

/// Bits of a wideband layer by its submode (0: none; 5–7 unused).
const HIGH_BITS: [u32; 8] = [0, 36, 112, 192, 352, 0, 0, 0];

/// Reads `n` bits as an index or a count.
fn read(bits: &mut BitReader, n: u32) -> Result<usize, Error> {
    Ok(bits.bits(n)? as usize)
}

/// One split-vector codebook: `count` subvectors of `size` values, each an index
/// of `bits` bits (with a sign bit before it, if `signed`) into `shapes`.
pub(super) struct Book {
    size: usize,
    count: usize,
    shapes: &'static [i8],
    bits: u32,
    signed: bool,
}

impl Book {
    const fn new(
        size: usize,
        count: usize,
        shapes: &'static [i8],
        bits: u32,
        signed: bool,
    ) -> Book {
        Book {
            size,
            count,
            shapes,
            bits,
            signed,
        }
    }

    /// Reads one innovation into `out` (`size · count` values).
    fn read(&self, bits: &mut BitReader, out: &mut [f32]) -> Result<(), Error> {
        for sub in out.chunks_exact_mut(self.size).take(self.count) {
            let sign = if self.signed && read(bits, 1)? == 1 {
                -1.0
            } else {
                1.0
            };
            let index = read(bits, self.bits)?;
            let shape = &self.shapes[index * self.size..][..self.size];
            for (v, &s) in sub.iter_mut().zip(shape) {
                *v += sign * 0.03125 * f32::from(s);
            }
        }
        Ok(())
    }
}

/// An in-band request (submode 14): its identifier says how many bits follow.
fn skip_in_band(bits: &mut BitReader) -> Result<(), Error> {
    let length = match read(bits, 4)? {
        0..=1 => 1,
        2..=7 => 4,
        8..=9 => 8,
        10..=11 => 16,
        12..=13 => 32,
        _ => 64,
    };
    bits.skip(length)
}

/// The high band's submodes 2–4: their innovation's book, and whether it is read
/// twice.
fn high_book(mode: usize) -> Option<(Book, bool)> {
    match mode {
        2 => Some((Book::new(10, 4, &HEXC_10_32, 5, false), false)),
        3 => Some((Book::new(8, 5, &HEXC_8_128, 7, true), false)),
        4 => Some((Book::new(8, 5, &HEXC_8_128, 7, true), true)),
        _ => None,
    }
}

/// The high band's quantised excitation gains (its own innovation).
const HIGH_GAIN: [f32; 16] = [
    0.97979, 1.28384, 1.68223, 2.20426, 2.88829, 3.78458, 4.95900, 6.49787, 8.51428, 11.15642,
    14.61846, 19.15484, 25.09895, 32.88761, 43.09325, 56.46588,
];

/// A Speex wideband decoder: what one frame leaves to the next.
pub struct Decoder {
    low: Narrowband,
    old_lsp: [f32; 8],
    lpc: [f32; 8],
    mem_sp: [f32; 8],
    /// The last subframe's excitation: the output runs a subframe behind.
    exc: [f32; SUB],
    mem_low: [f32; dsp::QMF_MEMORY],
    mem_high: [f32; dsp::QMF_MEMORY],
    first: bool,
    seed: u32,
    last_energy: f32,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            low: Narrowband::new(),
            old_lsp: [0.0; 8],
            lpc: [0.0; 8],
            mem_sp: [0.0; 8],
            exc: [0.0; SUB],
            mem_low: [0.0; dsp::QMF_MEMORY],
            mem_high: [0.0; dsp::QMF_MEMORY],
            first: true,
            seed: 1000,
            last_energy: 0.0,
        }
    }

    /// Decodes every frame of one tag's body to 16-bit samples at 16 kHz.
    pub fn decode(&mut self, body: &[u8]) -> Result<Vec<i32>, Error> {
        let mut bits = BitReader::new(body, "Speex audio");
        let mut samples = Vec::new();
        let mut frame = [0.0f32; FRAME_SAMPLES];
        while self.frame(&mut bits, &mut frame)? {
            if samples.len() == MAX_FRAMES * FRAME_SAMPLES {
                return Err(bits.invalid("frames in one tag (at most 204)", MAX_FRAMES as u64 + 1));
            }
            samples.extend(
                frame
                    .iter()
                    .map(|&v| libm::floorf(0.5 + v).clamp(-32768.0, 32767.0) as i32),
            );
        }
        if samples.is_empty() {
            return Err(Error::Truncated {
                what: "Speex audio (no whole frame)",
                at: body.len(),
            });
        }
        Ok(samples)
    }

    fn frame(
        &mut self,
        bits: &mut BitReader,
        out: &mut [f32; FRAME_SAMPLES],
    ) -> Result<bool, Error> {
        let mut low = [0.0f32; FRAME];
        if !self.low.decode(bits, &mut low)? {
            return Ok(false);
        }
        // A narrowband frame has no layer: its next bit starts the next frame.
        let mode = if bits.remaining() > 0 && bits.peek(1) == 1 {
            bits.skip(1)?;
            read(bits, 3)?
        } else {
            0
        };
        let mut high = [0.0f32; FRAME];
        if mode == 0 {
            self.no_layer(&mut high);
        } else {
            let book = match mode {
                1 => None,
                _ => Some(
                    high_book(mode).ok_or_else(|| bits.invalid("wideband submode", mode as u64))?,
                ),
            };
            self.layer(bits, book, &mut high)?;
        }
        dsp::merge(&low, &high, out, &mut self.mem_low, &mut self.mem_high);
        Ok(true)
    }

    /// A frame without a high band: near silence through the last filter, or the
    /// last level's noise while the encoder holds back (DTX).
    fn no_layer(&mut self, high: &mut [f32; FRAME]) {
        if self.low.band.dtx {
            for v in high.iter_mut() {
                *v = dsp::noise(self.last_energy, &mut self.seed);
            }
        } else {
            high.fill(1e-15);
        }
        self.first = true;
        dsp::synthesize(high, &self.lpc, &mut self.mem_sp);
    }

    fn layer(
        &mut self,
        bits: &mut BitReader,
        book: Option<(Book, bool)>,
        high: &mut [f32; FRAME],
    ) -> Result<(), Error> {
        let lsp = narrowband::lsp_high(bits)?;
        if self.first {
            self.old_lsp = lsp;
        }
        let mut energy = 0.0f32;
        for sub in 0..SUBFRAMES {
            let offset = SUB * sub;
            let mut interpolated = [0.0f32; 8];
            dsp::interpolate(&self.old_lsp, &lsp, sub, SUBFRAMES, 0.05, &mut interpolated);
            let mut ak = [0.0f32; 8];
            dsp::lsp_to_lpc(&interpolated, &mut ak);
            // How much louder the low band's filter is than this one at 4 kHz,
            // where the two meet.
            let rh = dsp::gain_at_nyquist(&ak);
            let ratio = ((self.low.band.pi_gain[sub] + 0.01) / (rh + 0.01)).max(1e-15);
            let mut exc = [0.0f32; SUB];
            match &book {
                None => {
                    let g = libm::expf(0.125 * (read(bits, 5)? as f32 - 10.0)) / ratio;
                    let folded = &self.low.band.innovation[offset..offset + SUB];
                    for (i, (e, &v)) in exc.iter_mut().zip(folded).enumerate() {
                        let v = 0.9 * v * g;
                        *e = if i % 2 == 0 { v } else { -v };
                    }
                }
                Some((book, twice)) => {
                    let gc = 0.87360 * HIGH_GAIN[read(bits, 4)?];
                    let scale = gc * self.low.band.exc_rms[sub] / ratio;
                    book.read(bits, &mut exc)?;
                    exc.iter_mut().for_each(|v| *v *= scale);
                    if *twice {
                        let mut second = [0.0f32; SUB];
                        book.read(bits, &mut second)?;
                        for (v, s) in exc.iter_mut().zip(second) {
                            *v += s * (0.4 * scale);
                        }
                    }
                }
            }
            let out = &mut high[offset..offset + SUB];
            out.copy_from_slice(&self.exc);
            dsp::synthesize(out, &self.lpc, &mut self.mem_sp);
            self.exc = exc;
            self.lpc = ak;
            let rms = dsp::rms(&self.exc);
            energy += rms * rms / SUBFRAMES as f32;
        }
        self.last_energy = libm::sqrtf(energy);
        self.old_lsp = lsp;
        self.first = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
