//! ISO BMFF box writing (ISO/IEC 14496-12 §4.2): a size placeholder, the type,
//! the payload, then the size patched in once the payload is known.

use alloc::vec::Vec;

/// Writes boxes into one growing buffer. A box is opened with [`BoxWriter::open`]
/// (or [`BoxWriter::full`] for a FullBox) and finished by the closure returning,
/// so every box is closed and its 32-bit size is patched exactly once.
#[derive(Debug, Default)]
pub(crate) struct BoxWriter {
    buf: Vec<u8>,
}

impl BoxWriter {
    pub(crate) fn with_capacity(n: usize) -> Self {
        BoxWriter {
            buf: Vec::with_capacity(n),
        }
    }

    /// A plain box: `size`, `type`, then what `body` writes.
    pub(crate) fn open(&mut self, fourcc: &[u8; 4], body: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(fourcc);
        body(self);
        self.patch_u32(start, self.buf.len() - start);
    }

    /// A FullBox (§4.2): the box header, then version (8 bits) and flags (24 bits).
    pub(crate) fn full(
        &mut self,
        fourcc: &[u8; 4],
        version: u8,
        flags: u32,
        body: impl FnOnce(&mut Self),
    ) {
        self.open(fourcc, |w| {
            w.u32(u32::from(version) << 24 | flags & 0x00ff_ffff);
            body(w);
        });
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Overwrites 4 bytes at `at` (a size or an offset written as a placeholder).
    /// Values above `u32::MAX` cannot occur: inputs are bounded far below 4 GiB,
    /// and saturating keeps a broken invariant from panicking.
    pub(crate) fn patch_u32(&mut self, at: usize, v: usize) {
        let v = u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes();
        if let Some(dst) = self.buf.get_mut(at..at + 4) {
            dst.copy_from_slice(&v);
        }
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// The unity matrix of `mvhd` and `tkhd` (§8.2.2.3, §8.3.2.3), in 16.16 and 2.30 fixed point.
pub(crate) const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_get_their_sizes_patched() {
        let mut w = BoxWriter::default();
        w.open(b"moof", |w| {
            w.full(b"mfhd", 0, 0, |w| w.u32(7));
        });
        assert_eq!(
            w.into_vec(),
            [
                0, 0, 0, 24, b'm', b'o', b'o', b'f', //
                0, 0, 0, 16, b'm', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 7,
            ]
        );
    }

    #[test]
    fn full_box_packs_version_and_flags() {
        let mut w = BoxWriter::default();
        w.full(b"tfhd", 1, 0x02_0000, |_| {});
        assert_eq!(
            w.into_vec(),
            [0, 0, 0, 12, b't', b'f', b'h', b'd', 1, 2, 0, 0]
        );
    }
}
