//! An MSB-first bit writer: the silent frames are written bit by bit (AAC's
//! raw_data_block, FLAC's subframes), H.264's repeated pictures (`avc_skip`), and
//! the tests build parameter sets with it.

use alloc::vec::Vec;

#[derive(Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    len: usize,
}

impl BitWriter {
    /// A writer whose bits go on after `bytes`.
    pub(crate) fn after(bytes: Vec<u8>) -> Self {
        BitWriter {
            len: bytes.len() * 8,
            bytes,
        }
    }

    /// The `n` low bits of `v`, most significant first.
    pub(crate) fn bits(&mut self, n: u32, v: u64) -> &mut Self {
        for i in (0..n).rev() {
            if self.len % 8 == 0 {
                self.bytes.push(0);
            }
            if v >> i & 1 == 1
                && let Some(last) = self.bytes.last_mut()
            {
                *last |= 0x80 >> (self.len % 8);
            }
            self.len += 1;
        }
        self
    }

    /// The bytes so far; the last one zero-padded.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Bits written so far.
    pub(crate) fn bit_len(&self) -> usize {
        self.len
    }

    /// ue(v), Exp-Golomb (H.264 9.1).
    pub(crate) fn ue(&mut self, v: u32) -> &mut Self {
        let x = u64::from(v) + 1;
        let n = 64 - x.leading_zeros();
        self.bits(n - 1, 0).bits(n, x)
    }

    /// se(v), signed Exp-Golomb (H.264 9.1.1).
    pub(crate) fn se(&mut self, v: i64) -> &mut Self {
        let k = if v > 0 { 2 * v - 1 } else { -2 * v };
        self.ue(u32::try_from(k).unwrap_or(u32::MAX))
    }

    /// The bytes so far, zero-padded.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// rbsp_trailing_bits() and the bytes.
    #[cfg(test)]
    pub(crate) fn finish_rbsp(&mut self) -> Vec<u8> {
        self.bits(1, 1);
        self.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::BitWriter;
    use crate::codec::{BitReader, CodecError};

    #[test]
    fn reader_reads_what_writer_wrote() {
        let mut w = BitWriter::default();
        w.bits(3, 0b101)
            .ue(0)
            .ue(7)
            .se(-3)
            .se(4)
            .bits(32, 0xdead_beef);
        let bytes = w.bytes();
        let mut r = BitReader::new(&bytes, "test");
        assert_eq!(r.bits(3), Ok(0b101));
        assert_eq!(r.ue("a"), Ok(0));
        assert_eq!(r.ue("b"), Ok(7));
        assert_eq!(r.se("c"), Ok(-3));
        assert_eq!(r.se("d"), Ok(4));
        assert_eq!(r.bits(32), Ok(0xdead_beef));
    }

    #[test]
    fn ue_limits() {
        let mut w = BitWriter::default();
        w.ue(u32::MAX - 1);
        let bytes = w.bytes();
        assert_eq!(BitReader::new(&bytes, "t").ue("x"), Ok(u32::MAX - 1));
        // 32 leading zeros would code 2^32 − 1 or more.
        let bytes = [0, 0, 0, 0, 0xff];
        assert!(matches!(
            BitReader::new(&bytes, "t").ue("x"),
            Err(CodecError::Invalid { field: "x", .. })
        ));
        assert_eq!(
            BitReader::new(&[0, 0], "t").ue("x"),
            Err(CodecError::Truncated { what: "t", at: 2 })
        );
    }
}
