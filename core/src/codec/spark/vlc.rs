//! The variable-length codes of H.263 (ITU-T H.263 tables 7, 8, 9, 12 and 16) that
//! Sorenson Spark uses, looked up by the next bits.

use alloc::vec;
use alloc::vec::Vec;

use crate::codec::{BitReader, CodecError};

/// MCBPC of I pictures (H.263 table 7), by index: the chroma pattern in the low two
/// bits, DQUANT present from 4; 8 is stuffing.
pub const INTRA_MCBPC: [(u16, u8); 9] = [
    (1, 1),
    (1, 3),
    (2, 3),
    (3, 3),
    (1, 4),
    (1, 6),
    (2, 6),
    (3, 6),
    (1, 9),
];

/// MCBPC of P pictures (table 8), by index: the chroma pattern in the low two bits,
/// intra with bit 2, DQUANT with bit 3, four vectors with bit 4; 20 is stuffing, 21 to
/// 23 do not exist.
pub const INTER_MCBPC: [(u16, u8); 28] = [
    (1, 1),
    (3, 4),
    (2, 4),
    (5, 6),
    (3, 5),
    (4, 8),
    (3, 8),
    (3, 7),
    (3, 3),
    (7, 7),
    (6, 7),
    (5, 9),
    (4, 6),
    (4, 9),
    (3, 9),
    (2, 9),
    (2, 3),
    (5, 7),
    (4, 7),
    (5, 8),
    (1, 9),
    (0, 0),
    (0, 0),
    (0, 0),
    (2, 11),
    (12, 13),
    (14, 13),
    (15, 13),
];

/// CBPY (table 9), by the pattern of an intra macroblock (inverted for inter ones).
pub const CBPY: [(u16, u8); 16] = [
    (3, 4),
    (5, 5),
    (4, 5),
    (9, 4),
    (3, 5),
    (7, 4),
    (2, 6),
    (11, 4),
    (2, 5),
    (3, 6),
    (5, 4),
    (10, 4),
    (4, 4),
    (8, 4),
    (6, 4),
    (3, 2),
];

/// MVD (table 12), by the difference's size in half pixels (a sign bit follows).
pub const MVD: [(u16, u8); 33] = [
    (1, 1),
    (1, 2),
    (1, 3),
    (1, 4),
    (3, 6),
    (5, 7),
    (4, 7),
    (3, 7),
    (11, 9),
    (10, 9),
    (9, 9),
    (17, 10),
    (16, 10),
    (15, 10),
    (14, 10),
    (13, 10),
    (12, 10),
    (11, 10),
    (10, 10),
    (9, 10),
    (8, 10),
    (7, 10),
    (6, 10),
    (5, 10),
    (4, 10),
    (7, 11),
    (6, 11),
    (5, 11),
    (4, 11),
    (3, 11),
    (2, 11),
    (3, 12),
    (2, 12),
];

/// TCOEF (table 16): 102 (last, run, level) events, then the escape. Events from
/// [`TCOEF_LAST`] on end the block.
#[rustfmt::skip]
pub const TCOEF: [(u16, u8); 103] = [
    (0x2, 2), (0xf, 4), (0x15, 6), (0x17, 7), (0x1f, 8), (0x25, 9), (0x24, 9), (0x21, 10),
    (0x20, 10), (0x7, 11), (0x6, 11), (0x20, 11), (0x6, 3), (0x14, 6), (0x1e, 8), (0xf, 10),
    (0x21, 11), (0x50, 12), (0xe, 4), (0x1d, 8), (0xe, 10), (0x51, 12), (0xd, 5), (0x23, 9),
    (0xd, 10), (0xc, 5), (0x22, 9), (0x52, 12), (0xb, 5), (0xc, 10), (0x53, 12), (0x13, 6),
    (0xb, 10), (0x54, 12), (0x12, 6), (0xa, 10), (0x11, 6), (0x9, 10), (0x10, 6), (0x8, 10),
    (0x16, 7), (0x55, 12), (0x15, 7), (0x14, 7), (0x1c, 8), (0x1b, 8), (0x21, 9), (0x20, 9),
    (0x1f, 9), (0x1e, 9), (0x1d, 9), (0x1c, 9), (0x1b, 9), (0x1a, 9), (0x22, 11), (0x23, 11),
    (0x56, 12), (0x57, 12), (0x7, 4), (0x19, 9), (0x5, 11), (0xf, 6), (0x4, 11), (0xe, 6),
    (0xd, 6), (0xc, 6), (0x13, 7), (0x12, 7), (0x11, 7), (0x10, 7), (0x1a, 8), (0x19, 8),
    (0x18, 8), (0x17, 8), (0x16, 8), (0x15, 8), (0x14, 8), (0x13, 8), (0x18, 9), (0x17, 9),
    (0x16, 9), (0x15, 9), (0x14, 9), (0x13, 9), (0x12, 9), (0x11, 9), (0x7, 10), (0x6, 10),
    (0x5, 10), (0x4, 10), (0x24, 11), (0x25, 11), (0x26, 11), (0x27, 11), (0x58, 12), (0x59, 12),
    (0x5a, 12), (0x5b, 12), (0x5c, 12), (0x5d, 12), (0x5e, 12), (0x5f, 12), (0x3, 7),
];

/// The TCOEF escape's index.
pub const TCOEF_ESCAPE: u16 = 102;
/// The first TCOEF event that is the block's last.
pub const TCOEF_LAST: u16 = 58;

/// Each TCOEF event's run of zeros before it.
#[rustfmt::skip]
pub const TCOEF_RUN: [u8; 102] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5,
    5, 6, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    24, 25, 26, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
    19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
];

/// Each TCOEF event's level (its sign bit follows the code).
#[rustfmt::skip]
pub const TCOEF_LEVEL: [u8; 102] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 1, 2, 3, 1, 2, 3, 1,
    2, 3, 1, 2, 3, 1, 2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    2, 3, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
];

/// A code table as a lookup by the next `bits` bits: the symbol and its length (0: no
/// code starts so).
pub struct Vlc {
    bits: u32,
    table: Vec<(u16, u8)>,
}

impl Vlc {
    pub fn new(codes: &[(u16, u8)]) -> Vlc {
        let bits = codes
            .iter()
            .map(|&(_, len)| u32::from(len))
            .max()
            .unwrap_or(1);
        let mut table = vec![(0u16, 0u8); 1 << bits];
        for (symbol, &(code, len)) in codes.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let shift = bits - u32::from(len);
            let first = usize::from(code) << shift;
            for entry in &mut table[first..first + (1 << shift)] {
                *entry = (symbol as u16, len);
            }
        }
        Vlc { bits, table }
    }

    /// The next symbol; an error naming `what` when no code matches.
    pub fn read(&self, r: &mut BitReader, what: &'static str) -> Result<u16, CodecError> {
        let next = r.peek(self.bits);
        let (symbol, len) = self.table[next as usize];
        if len == 0 {
            return Err(r.invalid(what, next.into()));
        }
        r.skip(u32::from(len))?;
        Ok(symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_table_is_a_prefix_code() {
        for (name, codes) in [
            ("intra MCBPC", &INTRA_MCBPC[..]),
            ("inter MCBPC", &INTER_MCBPC[..]),
            ("CBPY", &CBPY[..]),
            ("MVD", &MVD[..]),
            ("TCOEF", &TCOEF[..]),
        ] {
            let vlc = Vlc::new(codes);
            // Every code reads back as its own symbol.
            for (symbol, &(code, len)) in codes.iter().enumerate() {
                if len == 0 {
                    continue;
                }
                // The code, then a marker bit: what follows the code is read whole.
                let rest = 24 - u32::from(len);
                let value = u32::from(code) << rest | 1 << (rest - 1);
                let data = value.to_be_bytes();
                let mut r = BitReader::new(&data[1..], "test");
                assert_eq!(
                    vlc.read(&mut r, name).unwrap(),
                    symbol as u16,
                    "{name} {symbol}"
                );
                assert_eq!(r.bits(rest).unwrap(), 1 << (rest - 1), "{name} {symbol}");
            }
        }
    }

    #[test]
    fn no_code_is_an_error_naming_the_bits() {
        // Nine zeros: no intra MCBPC starts so.
        let mut r = BitReader::new(&[0, 0], "test");
        let vlc = Vlc::new(&INTRA_MCBPC);
        assert!(matches!(
            vlc.read(&mut r, "MCBPC"),
            Err(CodecError::Invalid {
                field: "MCBPC",
                value: 0,
                at: 0,
                ..
            })
        ));
    }
}
