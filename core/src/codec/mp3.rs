//! MPEG audio (MP3 and layers I/II) frame headers (ISO/IEC 11172-3 2.4.1.3,
//! ISO/IEC 13818-3, and the unofficial MPEG 2.5 extension).

use super::CodecError;

const HEADER: &str = "MPEG audio frame header";

/// The MPEG audio version of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mpeg {
    /// MPEG-1: 32, 44.1, 48 kHz.
    V1,
    /// MPEG-2 LSF: 16, 22.05, 24 kHz.
    V2,
    /// MPEG 2.5: 8, 11.025, 12 kHz.
    V25,
}

/// A parsed 4-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp3Header {
    pub version: Mpeg,
    /// 1, 2 or 3.
    pub layer: u8,
    pub bitrate_kbps: u32,
    pub sample_rate: u32,
    /// 1 for single channel mode, else 2.
    pub channels: u8,
    pub samples_per_frame: u32,
    /// The whole frame, header and padding slot included.
    pub frame_len: usize,
}

const BITRATES_V1: [[u32; 14]; 3] = [
    [
        32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
    ],
    [
        32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
    ],
    [
        32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ],
];
const BITRATES_V2: [[u32; 14]; 2] = [
    [
        32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
    ],
    [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

impl Mp3Header {
    /// Parses the header at the start of `frame`. Free-format frames (bitrate
    /// index 0) are refused: their length is not in the header.
    pub fn parse(frame: &[u8]) -> Result<Self, CodecError> {
        let header: [u8; 4] =
            frame
                .get(..4)
                .and_then(|h| h.try_into().ok())
                .ok_or(CodecError::Truncated {
                    what: HEADER,
                    at: frame.len(),
                })?;
        let h = u32::from_be_bytes(header);
        if h >> 21 != 0x7ff {
            return Err(invalid("frame sync", u64::from(h >> 21), 0));
        }
        let version = match (h >> 19) & 3 {
            0 => Mpeg::V25,
            2 => Mpeg::V2,
            3 => Mpeg::V1,
            v => return Err(invalid("version", v.into(), 1)),
        };
        let layer = match (h >> 17) & 3 {
            1 => 3,
            2 => 2,
            3 => 1,
            v => return Err(invalid("layer", v.into(), 1)),
        };
        let bitrate_index = ((h >> 12) & 0xf) as usize;
        let table = match version {
            Mpeg::V1 => BITRATES_V1.get(usize::from(layer) - 1),
            _ => BITRATES_V2.get(usize::from(layer != 1)),
        };
        let bitrate_kbps = bitrate_index
            .checked_sub(1)
            .and_then(|i| table?.get(i))
            .copied()
            .ok_or(invalid("bitrate index", bitrate_index as u64, 2))?;
        let rate_index = ((h >> 10) & 3) as usize;
        let base = [44_100, 48_000, 32_000]
            .get(rate_index)
            .copied()
            .ok_or(invalid("sampling frequency", rate_index as u64, 2))?;
        let sample_rate = match version {
            Mpeg::V1 => base,
            Mpeg::V2 => base / 2,
            Mpeg::V25 => base / 4,
        };
        let padding = (h >> 9) & 1;
        let channels = if (h >> 6) & 3 == 3 { 1 } else { 2 };
        let samples_per_frame = match (layer, version) {
            (1, _) => 384,
            (2, _) | (3, Mpeg::V1) => 1152,
            _ => 576,
        };
        let bitrate = bitrate_kbps * 1000;
        let frame_len = if layer == 1 {
            (12 * bitrate / sample_rate + padding) * 4
        } else {
            samples_per_frame / 8 * bitrate / sample_rate + padding
        };
        Ok(Self {
            version,
            layer,
            bitrate_kbps,
            sample_rate,
            channels,
            samples_per_frame,
            frame_len: frame_len as usize,
        })
    }
}

fn invalid(field: &'static str, value: u64, at: usize) -> CodecError {
    CodecError::Invalid {
        what: HEADER,
        field,
        value,
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// First headers of `ffmpeg -f lavfi -i sine=sample_rate=R -c:a libmp3lame
    /// -b:a B -write_xing 0 -f mp3`, whose files are whole numbers of frames.
    #[test]
    fn real_headers() {
        let cases = [
            // 44.1 kHz joint stereo 32k (a 940-byte file: 9 frames, 4 of them padded).
            ([0xff, 0xfb, 0x10, 0x64], Mpeg::V1, 32, 44_100, 2, 1152, 104),
            ([0xff, 0xf3, 0x40, 0xc4], Mpeg::V2, 32, 22_050, 1, 576, 104),
            ([0xff, 0xe3, 0x48, 0x64], Mpeg::V25, 32, 8_000, 2, 576, 288),
            // 48 kHz mono 320k: a 9600-byte file of 10 frames.
            (
                [0xff, 0xfb, 0xe4, 0xc4],
                Mpeg::V1,
                320,
                48_000,
                1,
                1152,
                960,
            ),
        ];
        for (bytes, version, kbps, rate, channels, spf, len) in cases {
            let h = Mp3Header::parse(&bytes).unwrap();
            assert_eq!(
                (h.version, h.layer, h.bitrate_kbps, h.sample_rate),
                (version, 3, kbps, rate)
            );
            assert_eq!(
                (h.channels, h.samples_per_frame, h.frame_len),
                (channels, spf, len)
            );
        }
        // Padded; layer II and layer I.
        assert_eq!(
            Mp3Header::parse(&[0xff, 0xfb, 0x12, 0x64])
                .unwrap()
                .frame_len,
            105
        );
        let l2 = Mp3Header::parse(&[0xff, 0xfd, 0xe4, 0x04]).unwrap();
        assert_eq!((l2.layer, l2.bitrate_kbps, l2.frame_len), (2, 384, 1152));
        let l1 = Mp3Header::parse(&[0xff, 0xff, 0x12, 0x04]).unwrap();
        assert_eq!((l1.layer, l1.bitrate_kbps, l1.frame_len), (1, 32, 36));
    }

    #[test]
    fn errors() {
        for n in 0..4 {
            assert_eq!(
                Mp3Header::parse(&[0xff, 0xfb, 0x10, 0x64][..n]),
                Err(CodecError::Truncated {
                    what: HEADER,
                    at: n
                })
            );
        }
        assert!(matches!(
            Mp3Header::parse(&[0xff, 0xeb, 0x10, 0x64]),
            Err(CodecError::Invalid {
                field: "version",
                ..
            })
        ));
        assert!(matches!(
            Mp3Header::parse(&[0xff, 0xf9, 0x10, 0x64]),
            Err(CodecError::Invalid { field: "layer", .. })
        ));
        for b2 in [0x00, 0xf0] {
            assert!(matches!(
                Mp3Header::parse(&[0xff, 0xfb, b2, 0x64]),
                Err(CodecError::Invalid {
                    field: "bitrate index",
                    ..
                })
            ));
        }
        assert!(matches!(
            Mp3Header::parse(&[0xff, 0xfb, 0x1c, 0x64]),
            Err(CodecError::Invalid {
                field: "sampling frequency",
                ..
            })
        ));
        assert!(matches!(
            Mp3Header::parse(&[0x49, 0x44, 0x33, 0x04]),
            Err(CodecError::Invalid {
                field: "frame sync",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn random_headers_never_panic(b in any::<[u8; 4]>()) {
            let _ = Mp3Header::parse(&b);
            let synced = [0xff, b[1] | 0xe0, b[2], b[3]];
            if let Ok(h) = Mp3Header::parse(&synced) {
                prop_assert!(h.frame_len > 4);
            }
        }
    }
}
