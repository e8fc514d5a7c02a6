//! Sorenson Spark (FLV video codec 2, "Sorenson H.263"): the codec of Flash Player's
//! camera, which no browser decodes. It is baseline H.263 (ITU-T H.263, 1996) with a
//! picture header of its own and no GOB headers: I and P pictures (and P pictures no
//! later picture refers to, "disposable"), 16×16 macroblocks of 4:2:0 with one motion
//! vector each in half pixels, which may point past the picture (its edge repeats), and
//! in its version 1 an escape with 11-bit levels. [`Decoder`] turns each coded picture
//! into planes of 8-bit samples for the browser to draw (WebCodecs' `VideoFrame`).
//! ffmpeg's `flv` decoder is the reference `core/tests/spark.rs` compares with.

mod idct;
mod vlc;

use alloc::vec;
use alloc::vec::Vec;

use idct::Idct;
use vlc::Vlc;

use crate::codec::{BitReader, CodecError};

/// What errors name.
const WHAT: &str = "Sorenson Spark picture";

/// The largest width or height taken: a picture names its own, up to 65535.
pub const MAX_SIDE: u32 = 4096;

/// What a picture's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    pub kind: Kind,
    /// 0: H.263's escape; 1: Sorenson's, with 7- or 11-bit levels.
    version: u32,
    quantizer: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Intra,
    Inter,
    /// An inter picture no later one refers to.
    Disposable,
}

/// The header at the start of a coded picture.
pub fn header(data: &[u8]) -> Result<Header, CodecError> {
    read_header(&mut BitReader::new(data, WHAT))
}

fn read_header(r: &mut BitReader) -> Result<Header, CodecError> {
    let start = r.bits(17)?;
    if start != 1 {
        return Err(r.invalid("picture start code", start.into()));
    }
    let version = r.bits(5)?;
    if version > 1 {
        return Err(r.invalid("version (0 or 1)", version.into()));
    }
    r.skip(8)?; // temporal reference
    let (width, height) = match r.bits(3)? {
        0 => (r.bits(8)?, r.bits(8)?),
        1 => (r.bits(16)?, r.bits(16)?),
        2 => (352, 288),
        3 => (176, 144),
        4 => (128, 96),
        5 => (320, 240),
        6 => (160, 120),
        code => return Err(r.invalid("picture size code", code.into())),
    };
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        let side = if (1..=MAX_SIDE).contains(&width) {
            height
        } else {
            width
        };
        return Err(r.invalid("picture size (1 to 4096 a side)", side.into()));
    }
    let kind = match r.bits(2)? {
        0 => Kind::Intra,
        1 => Kind::Inter,
        2 => Kind::Disposable,
        kind => return Err(r.invalid("picture type", kind.into())),
    };
    r.skip(1)?; // deblocking flag: a hint, which decoders leave
    let quantizer = r.bits(5)?;
    if quantizer == 0 {
        return Err(r.invalid("quantizer", 0));
    }
    // Extra information: a flag, and a byte after each set one.
    while r.bit()? {
        r.skip(8)?;
    }
    Ok(Header {
        width,
        height,
        kind,
        version,
        quantizer,
    })
}

/// A decoded picture: planes Y, U and V one after the other, of whole macroblocks
/// (`coded_width` × `coded_height` luma, a quarter of that each chroma), of which the
/// top left `width` × `height` is the picture.
pub struct Picture<'a> {
    pub width: u32,
    pub height: u32,
    pub coded_width: u32,
    pub coded_height: u32,
    pub data: &'a [u8],
}

/// The code tables, looked up by the next bits.
struct Tables {
    intra_mcbpc: Vlc,
    inter_mcbpc: Vlc,
    cbpy: Vlc,
    mvd: Vlc,
    tcoef: Vlc,
}

/// Decodes a Sorenson Spark stream picture after picture, from an I picture on.
pub struct Decoder {
    tables: Tables,
    idct: Idct,
    header: Option<Header>,
    mb_width: usize,
    mb_height: usize,
    /// The picture P pictures predict from (the last I or P), and the one being made.
    reference: Vec<u8>,
    work: Vec<u8>,
    /// Whether `reference` holds a picture of this size.
    referable: bool,
    /// Each macroblock's motion vector in the picture being decoded, for the next ones'
    /// prediction.
    vectors: Vec<(i32, i32)>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

/// The natural position of each coefficient in zigzag order.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// DQUANT's change of the quantizer.
const DQUANT: [i32; 4] = [-1, -2, 1, 2];

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            tables: Tables {
                intra_mcbpc: Vlc::new(&vlc::INTRA_MCBPC),
                inter_mcbpc: Vlc::new(&vlc::INTER_MCBPC),
                cbpy: Vlc::new(&vlc::CBPY),
                mvd: Vlc::new(&vlc::MVD),
                tcoef: Vlc::new(&vlc::TCOEF),
            },
            idct: Idct::new(),
            header: None,
            mb_width: 0,
            mb_height: 0,
            reference: Vec::new(),
            work: Vec::new(),
            referable: false,
            vectors: Vec::new(),
        }
    }

    /// Decodes one coded picture. An inter picture needs the I or P picture before it
    /// decoded; after an error, decoding starts again at the next I picture.
    pub fn decode(&mut self, data: &[u8]) -> Result<Picture<'_>, CodecError> {
        let mut r = BitReader::new(data, WHAT);
        let h = read_header(&mut r)?;
        if h.kind == Kind::Intra {
            self.resize(h.width, h.height);
        } else if !self.referable
            || self
                .header
                .is_none_or(|p| (p.width, p.height) != (h.width, h.height))
        {
            return Err(r.invalid("inter picture without the picture it refers to", 1));
        }
        self.header = Some(h);
        if let Err(e) = self.macroblocks(&mut r, &h) {
            // What it would have referred to is gone with it.
            self.referable = false;
            return Err(e);
        }
        if h.kind != Kind::Disposable {
            core::mem::swap(&mut self.reference, &mut self.work);
            self.referable = true;
        }
        let data = if h.kind == Kind::Disposable {
            &self.work
        } else {
            &self.reference
        };
        Ok(Picture {
            width: h.width,
            height: h.height,
            coded_width: (self.mb_width * 16) as u32,
            coded_height: (self.mb_height * 16) as u32,
            data,
        })
    }

    fn resize(&mut self, width: u32, height: u32) {
        let (mb_width, mb_height) = (width.div_ceil(16) as usize, height.div_ceil(16) as usize);
        if (mb_width, mb_height) != (self.mb_width, self.mb_height) || self.work.is_empty() {
            let len = mb_width * mb_height * 256 * 3 / 2;
            self.reference = vec![0; len];
            self.work = vec![0; len];
            self.vectors = vec![(0, 0); mb_width * mb_height];
            (self.mb_width, self.mb_height) = (mb_width, mb_height);
        }
    }

    fn macroblocks(&mut self, r: &mut BitReader, h: &Header) -> Result<(), CodecError> {
        let inter = h.kind != Kind::Intra;
        let mut quantizer = h.quantizer as i32;
        for mb_y in 0..self.mb_height {
            for mb_x in 0..self.mb_width {
                let at = mb_y * self.mb_width + mb_x;
                // Not coded: the reference's macroblock, in place.
                if inter && r.bit()? {
                    self.vectors[at] = (0, 0);
                    self.predict(mb_x, mb_y, (0, 0));
                    continue;
                }
                let (intra, cbpc, dquant) = if inter {
                    let i = loop {
                        match self.tables.inter_mcbpc.read(r, "MCBPC")? {
                            20 => continue, // stuffing
                            i => break i,
                        }
                    };
                    if i & 16 != 0 {
                        return Err(
                            r.invalid("MCBPC: four motion vectors (H.263 annex F)", i.into())
                        );
                    }
                    (i & 4 != 0, i & 3, i & 8 != 0)
                } else {
                    let i = loop {
                        match self.tables.intra_mcbpc.read(r, "MCBPC")? {
                            8 => continue, // stuffing
                            i => break i,
                        }
                    };
                    (true, i & 3, i & 4 != 0)
                };
                let mut cbpy = self.tables.cbpy.read(r, "CBPY")?;
                if !intra {
                    cbpy ^= 0xf;
                }
                let cbp = cbpc | cbpy << 2;
                if dquant {
                    quantizer = (quantizer + DQUANT[r.bits(2)? as usize]).clamp(1, 31);
                }
                let vector = if intra {
                    (0, 0)
                } else {
                    let (x, y) = self.predicted_vector(mb_x, mb_y);
                    (self.vector(r, x)?, self.vector(r, y)?)
                };
                self.vectors[at] = vector;
                if !intra {
                    self.predict(mb_x, mb_y, vector);
                }
                for b in 0..6 {
                    let coded = cbp & (32 >> b) != 0;
                    if let Some(block) = self.coefficients(r, h.version, quantizer, intra, coded)? {
                        let samples = self.idct.inverse(&block);
                        self.place(mb_x, mb_y, b, &samples, intra);
                    }
                }
            }
        }
        Ok(())
    }

    /// The median of the vectors left, above and above right (H.263 6.1.1): those
    /// outside the picture are zero, and in the top row the left one stands for all.
    fn predicted_vector(&self, mb_x: usize, mb_y: usize) -> (i32, i32) {
        let at = |x: usize, y: usize| self.vectors[y * self.mb_width + x];
        let left = if mb_x > 0 { at(mb_x - 1, mb_y) } else { (0, 0) };
        if mb_y == 0 {
            return left;
        }
        let above = at(mb_x, mb_y - 1);
        let right = if mb_x + 1 < self.mb_width {
            at(mb_x + 1, mb_y - 1)
        } else {
            (0, 0)
        };
        (
            median(left.0, above.0, right.0),
            median(left.1, above.1, right.1),
        )
    }

    /// One component of a motion vector, from its prediction: within -16 to 15.5
    /// pixels, the difference wrapping around.
    fn vector(&self, r: &mut BitReader, predicted: i32) -> Result<i32, CodecError> {
        let size = i32::from(self.tables.mvd.read(r, "MVD")?);
        if size == 0 {
            return Ok(predicted);
        }
        let difference = if r.bit()? { -size } else { size };
        Ok(((predicted + difference) << 26) >> 26)
    }

    /// A block's coefficients, dequantized, in natural order; `None` for an inter
    /// block with none.
    fn coefficients(
        &self,
        r: &mut BitReader,
        version: u32,
        quantizer: i32,
        intra: bool,
        coded: bool,
    ) -> Result<Option<[i32; 64]>, CodecError> {
        let mut block = [0i32; 64];
        let mut i = 0;
        if intra {
            // INTRADC: 8 bits, 255 standing for 128, times 8.
            let dc = match r.bits(8)? {
                255 => 128,
                dc => dc as i32,
            };
            block[0] = dc * 8;
            i = 1;
        }
        if !coded {
            return Ok(intra.then_some(block));
        }
        let (mul, add) = (2 * quantizer, (quantizer - 1) | 1);
        loop {
            let code = self.tables.tcoef.read(r, "TCOEF")?;
            let (last, run, level) = if code == vlc::TCOEF_ESCAPE {
                if version == 1 {
                    let long = r.bit()?;
                    let last = r.bit()?;
                    let run = r.bits(6)?;
                    (last, run, r.signed(if long { 11 } else { 7 })?)
                } else {
                    let last = r.bit()?;
                    let run = r.bits(6)?;
                    let mut level = r.signed(8)?;
                    if level == -128 {
                        // H.263 annex T's 11-bit level, which ffmpeg's encoder writes too.
                        let low = r.bits(5)? as i32;
                        level = low | r.signed(6)? << 5;
                    }
                    (last, run, level)
                }
            } else {
                let c = usize::from(code);
                let level = i32::from(vlc::TCOEF_LEVEL[c]);
                let level = if r.bit()? { -level } else { level };
                (code >= vlc::TCOEF_LAST, u32::from(vlc::TCOEF_RUN[c]), level)
            };
            i += run as usize;
            if i >= 64 {
                return Err(r.invalid("TCOEF: a run past the block's end", i as u64));
            }
            let value = match level {
                0 => 0,
                l => l.signum() * (l.abs() * mul + add),
            };
            block[ZIGZAG[i]] = value.clamp(-2048, 2047);
            if last {
                return Ok(Some(block));
            }
            i += 1;
        }
    }

    /// The macroblock's prediction from the reference, `vector` away (half pixels),
    /// into the picture being made.
    fn predict(&mut self, mb_x: usize, mb_y: usize, (mx, my): (i32, i32)) {
        let (luma_w, luma_h) = (self.mb_width * 16, self.mb_height * 16);
        let [y_ref, u_ref, v_ref] = planes(&self.reference, luma_w, luma_h);
        let [y_out, u_out, v_out] = planes_mut(&mut self.work, luma_w, luma_h);
        let luma = Plane::new(luma_w, luma_h);
        luma.motion(
            y_ref,
            y_out,
            (mb_x * 16, mb_y * 16),
            16,
            (mx >> 1, my >> 1),
            (mx & 1 != 0, my & 1 != 0),
        );
        // The chroma vector is half the luma one, quarters taken as halves.
        let chroma = Plane::new(luma_w / 2, luma_h / 2);
        let at = (mb_x * 8, mb_y * 8);
        let whole = (mx >> 2, my >> 2);
        let half = (mx & 3 != 0, my & 3 != 0);
        chroma.motion(u_ref, u_out, at, 8, whole, half);
        chroma.motion(v_ref, v_out, at, 8, whole, half);
    }

    /// A block's samples into the picture being made: set (intra) or added to the
    /// prediction.
    fn place(&mut self, mb_x: usize, mb_y: usize, b: usize, samples: &[i32; 64], intra: bool) {
        let (luma_w, luma_h) = (self.mb_width * 16, self.mb_height * 16);
        let [y, u, v] = planes_mut(&mut self.work, luma_w, luma_h);
        let (plane, stride, x0, y0) = match b {
            0..4 => (y, luma_w, mb_x * 16 + (b & 1) * 8, mb_y * 16 + (b >> 1) * 8),
            4 => (u, luma_w / 2, mb_x * 8, mb_y * 8),
            _ => (v, luma_w / 2, mb_x * 8, mb_y * 8),
        };
        for row in 0..8 {
            let line = &mut plane[(y0 + row) * stride + x0..][..8];
            for (px, &s) in line.iter_mut().zip(&samples[row * 8..row * 8 + 8]) {
                let base = if intra { 0 } else { i32::from(*px) };
                *px = (base + s).clamp(0, 255) as u8;
            }
        }
    }
}

fn median(a: i32, b: i32, c: i32) -> i32 {
    a.max(b).min(a.min(b).max(c))
}

/// The three planes of a picture of `luma_w` × `luma_h`.
fn planes(data: &[u8], luma_w: usize, luma_h: usize) -> [&[u8]; 3] {
    let (y, chroma) = data.split_at(luma_w * luma_h);
    let (u, v) = chroma.split_at(luma_w * luma_h / 4);
    [y, u, v]
}

fn planes_mut(data: &mut [u8], luma_w: usize, luma_h: usize) -> [&mut [u8]; 3] {
    let (y, chroma) = data.split_at_mut(luma_w * luma_h);
    let (u, v) = chroma.split_at_mut(luma_w * luma_h / 4);
    [y, u, v]
}

/// One plane's size, for motion compensation past its edges.
struct Plane {
    width: usize,
    height: usize,
}

impl Plane {
    fn new(width: usize, height: usize) -> Plane {
        Plane { width, height }
    }

    /// The `size`² block at `at` in `out`, from `from` at `at` + `whole` pixels, plus
    /// half a pixel across and down as `half` says (averages rounded up, H.263 6.1.2).
    /// Samples past the edge are the edge's.
    fn motion(
        &self,
        from: &[u8],
        out: &mut [u8],
        at: (usize, usize),
        size: usize,
        whole: (i32, i32),
        half: (bool, bool),
    ) {
        let (w, h) = (self.width as i32, self.height as i32);
        let sample =
            |x: i32, y: i32| u32::from(from[(y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) as usize]);
        let (x0, y0) = (at.0 as i32 + whole.0, at.1 as i32 + whole.1);
        for j in 0..size {
            for i in 0..size {
                let (x, y) = (x0 + i as i32, y0 + j as i32);
                let value = match half {
                    (false, false) => sample(x, y),
                    (true, false) => (sample(x, y) + sample(x + 1, y) + 1) >> 1,
                    (false, true) => (sample(x, y) + sample(x, y + 1) + 1) >> 1,
                    (true, true) => {
                        (sample(x, y)
                            + sample(x + 1, y)
                            + sample(x, y + 1)
                            + sample(x + 1, y + 1)
                            + 2)
                            >> 2
                    }
                };
                out[(at.1 + j) * self.width + at.0 + i] = value as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_their_size_and_kind() {
        // 17-bit start code, version 0, temporal reference 0, size code 5 (320×240),
        // type 0 (I), deblocking 0, quantizer 4, no extra information.
        let mut bits = alloc::string::String::new();
        bits.push_str("00000000000000001");
        bits.push_str("00000");
        bits.push_str("00000000");
        bits.push_str("101");
        bits.push_str("00");
        bits.push('0');
        bits.push_str("00100");
        bits.push('0');
        while bits.len() % 8 != 0 {
            bits.push('0');
        }
        let bytes: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|c| c.iter().fold(0u8, |b, &c| b << 1 | (c - b'0')))
            .collect();
        let h = header(&bytes).unwrap();
        assert_eq!(
            (h.width, h.height, h.kind, h.quantizer),
            (320, 240, Kind::Intra, 4)
        );
        assert!(header(&bytes[1..]).is_err(), "no start code");
        assert!(header(&bytes[..3]).is_err(), "cut short");
    }

    #[test]
    fn an_inter_picture_first_is_refused() {
        // A P picture (type 1) of 16×16 (size code 0, 8-bit sides).
        let bits = "00000000000000001 00000 00000000 000 00010000 00010000 01 0 00100 0";
        let bits: alloc::string::String = bits.chars().filter(|c| *c != ' ').collect();
        let mut bytes: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|c| c.iter().fold(0u8, |b, &c| b << 1 | (c - b'0')) << (8 - c.len()))
            .collect();
        bytes.extend([0xff; 8]);
        assert!(Decoder::new().decode(&bytes).is_err());
    }

    #[test]
    fn the_median_is_the_middle_one() {
        assert_eq!(median(1, 2, 3), 2);
        assert_eq!(median(3, 1, 2), 2);
        assert_eq!(median(-4, 7, -4), -4);
    }
}
