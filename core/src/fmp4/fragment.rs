//! A media fragment: `moof` + `mdat` (ISO/IEC 14496-12 §8.8.4–8.8.12, §8.1.1).

use bytes::Bytes;

use super::boxes::BoxWriter;

/// One sample ready for a `trun`: timing in the track's timescale.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) data: Bytes,
    pub(crate) dts: u64,
    pub(crate) duration: u32,
    /// PTS − DTS; signed (trun version 1) so negative offsets need no edit list.
    pub(crate) cts_offset: i32,
    pub(crate) keyframe: bool,
}

/// §8.8.3.1 sample flags: `sample_depends_on` = 2 (independent) for sync samples;
/// 1 (depends on others) with `sample_is_non_sync_sample` set otherwise.
const SYNC_FLAGS: u32 = 0x0200_0000;
const NON_SYNC_FLAGS: u32 = 0x0101_0000;

/// tfhd flags: default-base-is-moof (§8.8.7.1), so `trun` data offsets count
/// from the start of this `moof` and each fragment stands alone.
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;

/// trun flags (§8.8.8.1): data-offset, and per-sample duration, size, flags and
/// composition time offset.
const TRUN_DATA_OFFSET: u32 = 0x000_001;
const TRUN_DURATION: u32 = 0x000_100;
const TRUN_SIZE: u32 = 0x000_200;
const TRUN_FLAGS: u32 = 0x000_400;
const TRUN_CTS: u32 = 0x000_800;

/// `moof` (one `traf`) followed by `mdat`, in one buffer: the sample payloads are
/// copied exactly once, into the place they finally occupy.
///
/// The first sample's `dts` becomes `tfdt`; the others must follow it by the
/// durations in between (the caller's invariant).
pub(crate) fn fragment(sequence: u32, track_id: u32, samples: &[Sample], with_cts: bool) -> Bytes {
    let payload: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut w = BoxWriter::with_capacity(128 + samples.len() * 16 + payload);
    let base = samples.first().map_or(0, |s| s.dts);
    let mut data_offset_at = 0;
    w.open(b"moof", |w| {
        w.full(b"mfhd", 0, 0, |w| w.u32(sequence));
        w.open(b"traf", |w| {
            w.full(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |w| w.u32(track_id));
            // §8.8.12 tfdt version 1: a 64-bit base media decode time.
            w.full(b"tfdt", 1, 0, |w| w.u64(base));
            let mut flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS;
            if with_cts {
                flags |= TRUN_CTS;
            }
            w.full(b"trun", 1, flags, |w| {
                w.u32(u32::try_from(samples.len()).unwrap_or(u32::MAX));
                data_offset_at = w.len();
                w.u32(0); // patched below
                for s in samples {
                    w.u32(s.duration);
                    w.u32(u32::try_from(s.data.len()).unwrap_or(u32::MAX));
                    w.u32(if s.keyframe {
                        SYNC_FLAGS
                    } else {
                        NON_SYNC_FLAGS
                    });
                    if with_cts {
                        w.i32(s.cts_offset);
                    }
                }
            });
        });
    });
    let moof_len = w.len();
    // The data starts after the moof and the 8-byte mdat header.
    w.patch_u32(data_offset_at, moof_len + 8);
    w.open(b"mdat", |w| {
        for s in samples {
            w.bytes(&s.data);
        }
    });
    Bytes::from(w.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_video_sample_fragment_bytes() {
        let s = Sample {
            data: Bytes::from_static(b"\x00\x00\x00\x01\x65"),
            dts: 0x1_0000_0000,
            duration: 40,
            cts_offset: -80,
            keyframe: true,
        };
        let f = fragment(3, 1, &[s], true);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 0x68, b'm', b'o', b'o', b'f',
            0, 0, 0, 0x10, b'm', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 3,
            0, 0, 0, 0x50, b't', b'r', b'a', b'f',
            0, 0, 0, 0x10, b't', b'f', b'h', b'd', 0, 2, 0, 0, 0, 0, 0, 1,
            0, 0, 0, 0x14, b't', b'f', b'd', b't', 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
            0, 0, 0, 0x24, b't', b'r', b'u', b'n', 1, 0, 0x0f, 0x01, 0, 0, 0, 1,
            0, 0, 0, 0x70, // data offset: 104 (moof) + 8
            0, 0, 0, 40, 0, 0, 0, 5, 0x02, 0, 0, 0, 0xff, 0xff, 0xff, 0xb0,
            0, 0, 0, 0x0d, b'm', b'd', b'a', b't', 0, 0, 0, 1, 0x65,
        ];
        assert_eq!(&f[..], expected);
    }

    #[test]
    fn audio_fragment_has_no_cts_and_packs_samples_in_order() {
        let samples: Vec<Sample> = (0..3u8)
            .map(|i| Sample {
                data: Bytes::from(vec![i; 2]),
                dts: 1024 * u64::from(i),
                duration: 1024,
                cts_offset: 0,
                keyframe: true,
            })
            .collect();
        let f = fragment(1, 2, &samples, false);
        let moof_len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
        // trun flags without 0x800, three 12-byte entries.
        let trun = moof_len - (12 + 3 * 12 + 8);
        assert_eq!(&f[trun + 4..trun + 12], b"trun\x01\x00\x07\x01");
        assert_eq!(&f[moof_len + 8..], &[0, 0, 1, 1, 2, 2]);
    }
}
