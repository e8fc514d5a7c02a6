//! VP9: the VPCodecConfigurationRecord and the size in a keyframe's uncompressed header.
//!
//! E-RTMP v2 says the `vp09` SequenceStart body is a `VPCodecConfigurationRecord`
//! (VP Codec ISO Media File Format Binding 2.2): the record alone, without the
//! version and flags of the `vpcC` FullBox around it. That is what FFmpeg's
//! `ff_isom_write_vpcc` writes. Senders that copy the whole `vpcC` payload
//! exist too, so [`Vp9Config::parse`] accepts both: the two cannot be confused,
//! since a record's third byte holds the bit depth (8, 10 or 12, never 0)
//! where the box has its zero flags.

use super::{BitReader, CodecError};
use alloc::string::String;
use alloc::vec::Vec;

const RECORD: &str = "VPCodecConfigurationRecord";
const HEADER: &str = "VP9 uncompressed header";

/// VPCodecConfigurationRecord: the fields MSE and `vpcC` need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp9Config {
    /// 0–3.
    pub profile: u8,
    /// 10 × the level number (31 is level 3.1); 0 when unknown.
    pub level: u8,
    /// 8, 10 or 12.
    pub bit_depth: u8,
    /// 0 4:2:0 vertical, 1 4:2:0 colocated, 2 4:2:2, 3 4:4:4.
    pub chroma_subsampling: u8,
    pub full_range: bool,
    pub colour_primaries: u8,
    pub transfer_characteristics: u8,
    pub matrix_coefficients: u8,
}

impl Vp9Config {
    /// Parses the record, with or without the `vpcC` FullBox version (1) and
    /// flags in front. codecInitializationData (empty for VP9) is not kept.
    pub fn parse(vpcc: &[u8]) -> Result<Self, CodecError> {
        let full_box = matches!(vpcc, [0 | 1, 0, 0, 0, ..]);
        let mut r = BitReader::new(vpcc, RECORD);
        if full_box {
            let version = r.u8()?;
            if version != 1 {
                return Err(invalid("version", version.into(), 0));
            }
            r.skip(24)?;
        }
        let base = if full_box { 4 } else { 0 };
        let profile = r.u8()?;
        if profile > 3 {
            return Err(invalid("profile", profile.into(), base));
        }
        let level = r.u8()?;
        let bit_depth = r.bits(4)? as u8;
        if !matches!(bit_depth, 8 | 10 | 12) {
            return Err(invalid("bitDepth", bit_depth.into(), base + 2));
        }
        let chroma_subsampling = r.bits(3)? as u8;
        if chroma_subsampling > 3 {
            return Err(invalid(
                "chromaSubsampling",
                chroma_subsampling.into(),
                base + 2,
            ));
        }
        let full_range = r.bit()?;
        let colour_primaries = r.u8()?;
        let transfer_characteristics = r.u8()?;
        let matrix_coefficients = r.u8()?;
        let init_len = usize::from(r.u16()?);
        r.take(init_len)?;
        Ok(Self {
            profile,
            level,
            bit_depth,
            chroma_subsampling,
            full_range,
            colour_primaries,
            transfer_characteristics,
            matrix_coefficients,
        })
    }

    /// `vp09.PP.LL.DD` (VP9 ISOBMFF binding, "Codecs Parameter String"). The
    /// optional colour fields are left out: they default to what the record
    /// usually says, and browsers accept the short form everywhere. An unknown
    /// level (0) is announced as level 1 ("10"), since browsers reject "00".
    pub fn codecs_string(&self) -> String {
        let level = if self.level == 0 { 10 } else { self.level };
        format!(
            "vp09.{:02}.{:02}.{:02}",
            self.profile, level, self.bit_depth
        )
    }

    /// The record as E-RTMP carries it (no FullBox header; empty
    /// codecInitializationData). Prepend `[1, 0, 0, 0]` for a `vpcC` box payload.
    pub fn record(&self) -> [u8; 8] {
        [
            self.profile,
            self.level,
            self.bit_depth << 4 | self.chroma_subsampling << 1 | u8::from(self.full_range),
            self.colour_primaries,
            self.transfer_characteristics,
            self.matrix_coefficients,
            0,
            0,
        ]
    }
}

fn invalid(field: &'static str, value: u64, at: usize) -> CodecError {
    CodecError::Invalid {
        what: RECORD,
        field,
        value,
        at,
    }
}

/// The frames of a VP9 superframe (VP9 spec annex B), or the whole chunk when
/// it has no valid superframe index. Sizes that do not add up give `None`.
pub fn superframe_frames(chunk: &[u8]) -> Option<Vec<&[u8]>> {
    let &last = chunk.last()?;
    if last & 0xe0 != 0xc0 {
        return Some(vec![chunk]);
    }
    let frames = usize::from(last & 7) + 1;
    let size_bytes = usize::from((last >> 3) & 3) + 1;
    let index_len = 2 + size_bytes * frames;
    let index_start = chunk.len().checked_sub(index_len)?;
    let index = chunk.get(index_start..)?;
    if index.first() != Some(&last) {
        return Some(vec![chunk]);
    }
    let mut out = Vec::with_capacity(frames);
    let mut at = 0usize;
    for f in 0..frames {
        let size = (0..size_bytes).fold(0usize, |acc, i| {
            let b = index.get(1 + f * size_bytes + i).copied().unwrap_or(0);
            acc | usize::from(b) << (8 * i)
        });
        let end = at.checked_add(size).filter(|&e| e <= index_start)?;
        out.push(chunk.get(at..end)?);
        at = end;
    }
    Some(out)
}

/// The frame size of the first frame in `frame` (a superframe is split) that
/// carries one: a keyframe or an intra-only frame (VP9 spec 6.2,
/// uncompressed_header()). `None` for inter frames and malformed input.
pub fn frame_size(frame: &[u8]) -> Option<(u32, u32)> {
    superframe_frames(frame)?
        .into_iter()
        .find_map(|f| uncompressed_header_size(f).ok().flatten())
}

fn uncompressed_header_size(frame: &[u8]) -> Result<Option<(u32, u32)>, CodecError> {
    let mut r = BitReader::new(frame, HEADER);
    if r.bits(2)? != 2 {
        return Ok(None); // frame_marker
    }
    let low = r.bits(1)?;
    let profile = r.bits(1)? << 1 | low;
    if profile == 3 {
        r.skip(1)?;
    }
    if r.bit()? {
        return Ok(None); // show_existing_frame
    }
    let keyframe = !r.bit()?;
    let show_frame = r.bit()?;
    let error_resilient = r.bit()?;
    if keyframe {
        if r.bits(24)? != 0x49_8342 {
            return Ok(None);
        }
        color_config(&mut r, profile)?;
    } else {
        let intra_only = !show_frame && r.bit()?;
        if !intra_only {
            return Ok(None);
        }
        if !error_resilient {
            r.skip(2)?; // reset_frame_context
        }
        if r.bits(24)? != 0x49_8342 {
            return Ok(None);
        }
        if profile > 0 {
            color_config(&mut r, profile)?;
        }
        r.skip(8)?; // refresh_frame_flags
    }
    let width = r.bits(16)? + 1;
    let height = r.bits(16)? + 1;
    Ok(Some((width, height)))
}

/// color_config() of VP9 spec 6.2.2, read only to get past it.
fn color_config(r: &mut BitReader<'_>, profile: u32) -> Result<(), CodecError> {
    if profile >= 2 {
        r.skip(1)?; // ten_or_twelve_bit
    }
    let color_space = r.bits(3)?;
    if color_space != 7 {
        r.skip(1)?; // color_range
        if profile == 1 || profile == 3 {
            r.skip(3)?; // subsampling_x, subsampling_y, reserved_zero
        }
    } else if profile == 1 || profile == 3 {
        r.skip(1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::hevc::tests::hex;
    use proptest::prelude::*;

    // vpcC payloads (FullBox header included) of `ffmpeg -f lavfi -i
    // testsrc=size=WxH -frames:v 1 -pix_fmt F -c:v libvpx-vp9 -f mp4`.
    const VPCC_420_8: &str = "010000000014820202020000";
    const VPCC_444_10: &str = "010000000315a60202020000";
    // The starts of the first IVF frames of the same streams.
    const KEY_320X240: &str = "824983420013f00ef6063824";
    const KEY_642X362_PROFILE3: &str = "b124c1a100014080b4b031c1";

    #[test]
    fn real_records_both_forms() {
        for (vpcc, profile, depth, chroma, codecs) in [
            (VPCC_420_8, 0, 8, 1, "vp09.00.20.08"),
            (VPCC_444_10, 3, 10, 3, "vp09.03.21.10"),
        ] {
            let boxed = hex(vpcc);
            let c = Vp9Config::parse(&boxed).unwrap();
            assert_eq!(
                (c.profile, c.bit_depth, c.chroma_subsampling),
                (profile, depth, chroma)
            );
            assert!(!c.full_range);
            assert_eq!(
                (
                    c.colour_primaries,
                    c.transfer_characteristics,
                    c.matrix_coefficients
                ),
                (2, 2, 2)
            );
            assert_eq!(c.codecs_string(), codecs);
            assert_eq!(c.record()[..], boxed[4..]);
            assert_eq!(Vp9Config::parse(&boxed[4..]), Ok(c));
        }
        let mut c = Vp9Config::parse(&hex(VPCC_420_8)).unwrap();
        c.level = 0;
        assert_eq!(c.codecs_string(), "vp09.00.10.08");
    }

    #[test]
    fn record_errors() {
        for vpcc in [VPCC_420_8, VPCC_444_10] {
            let full = hex(vpcc);
            for n in 0..full.len() {
                assert!(Vp9Config::parse(&full[..n]).is_err(), "cut at {n}");
                assert!(n < 4 || Vp9Config::parse(&full[4..n]).is_err());
            }
        }
        assert_eq!(
            Vp9Config::parse(&hex("02000000001482020202")),
            Err(invalid("bitDepth", 0, 2))
        );
        assert_eq!(
            Vp9Config::parse(&hex("0000000000148202020200")),
            Err(invalid("version", 0, 0))
        );
        assert_eq!(
            Vp9Config::parse(&hex("0400820202020000")),
            Err(invalid("profile", 4, 0))
        );
        // codecInitializationDataSize past the end.
        assert!(matches!(
            Vp9Config::parse(&hex("0000820202020001")),
            Err(CodecError::Truncated { at: 8, .. })
        ));
    }

    #[test]
    fn keyframe_sizes() {
        assert_eq!(frame_size(&hex(KEY_320X240)), Some((320, 240)));
        assert_eq!(frame_size(&hex(KEY_642X362_PROFILE3)), Some((642, 362)));
        // An inter frame of the 320x240 stream.
        assert_eq!(frame_size(&hex("86004092")), None);
        assert_eq!(frame_size(&[]), None);
    }

    #[test]
    fn superframes() {
        // A hidden inter frame and a keyframe behind a 2-frame, 1-byte index.
        let inter = hex("86004092aa");
        let key = hex(KEY_320X240);
        let mut chunk = [inter.clone(), key.clone()].concat();
        let marker = 0b1100_0001;
        chunk.extend([marker, inter.len() as u8, key.len() as u8, marker]);
        assert_eq!(
            superframe_frames(&chunk).unwrap(),
            vec![&inter[..], &key[..]]
        );
        assert_eq!(frame_size(&chunk), Some((320, 240)));
        // Sizes that run over the index.
        let n = chunk.len();
        chunk[n - 2] = 200;
        assert_eq!(superframe_frames(&chunk), None);
        assert_eq!(frame_size(&chunk), None);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Vp9Config::parse(&b);
            let _ = frame_size(&b);
            let _ = superframe_frames(&b);
        }
    }
}
