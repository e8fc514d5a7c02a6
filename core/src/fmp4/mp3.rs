//! The MPEG audio frame header (ISO/IEC 11172-3 §2.4.1.3, 13818-3 §2.4.1.3 and
//! the MPEG 2.5 extension): just what an MP4 sample entry and sample durations
//! need. Kept here until a shared `codec::mp3` parser exists.

/// Sample rates by version (MPEG 1, 2, 2.5) and sampling_frequency index.
const RATES: [[u32; 3]; 3] = [
    [44_100, 48_000, 32_000],
    [22_050, 24_000, 16_000],
    [11_025, 12_000, 8_000],
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mp3Header {
    pub(crate) sample_rate: u32,
    pub(crate) channels: u8,
    pub(crate) samples_per_frame: u32,
}

impl Mp3Header {
    /// The header at the start of `frame`, or `None` if it is not a valid one.
    pub(crate) fn parse(frame: &[u8]) -> Option<Mp3Header> {
        let h = u32::from_be_bytes(frame.get(..4)?.try_into().ok()?);
        if h >> 21 != 0x7ff {
            return None; // 11-bit frame sync
        }
        // version: 0 = MPEG 2.5, 1 reserved, 2 = MPEG 2, 3 = MPEG 1.
        let version = match (h >> 19) & 3 {
            3 => 0,
            2 => 1,
            0 => 2,
            _ => return None,
        };
        // layer: 1 = III, 2 = II, 3 = I.
        let layer = (h >> 17) & 3;
        let bitrate_index = (h >> 12) & 0xf;
        let rate_index = ((h >> 10) & 3) as usize;
        if layer == 0 || bitrate_index == 0xf {
            return None;
        }
        let sample_rate = *RATES.get(version)?.get(rate_index)?;
        let samples_per_frame = match (layer, version) {
            (3, _) => 384,
            (2, _) | (1, 0) => 1152,
            _ => 576, // Layer III, MPEG 2 and 2.5
        };
        let channels = if (h >> 6) & 3 == 3 { 1 } else { 2 };
        Some(Mp3Header {
            sample_rate,
            channels,
            samples_per_frame,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_headers() {
        // MPEG 1 Layer III, 128 kb/s, 44.1 kHz, joint stereo.
        assert_eq!(
            Mp3Header::parse(&[0xff, 0xfb, 0x90, 0x44]),
            Some(Mp3Header {
                sample_rate: 44_100,
                channels: 2,
                samples_per_frame: 1152
            })
        );
        // MPEG 2.5 Layer III, 8 kHz, mono.
        assert_eq!(
            Mp3Header::parse(&[0xff, 0xe3, 0x18, 0xc4]),
            Some(Mp3Header {
                sample_rate: 8_000,
                channels: 1,
                samples_per_frame: 576
            })
        );
        assert_eq!(Mp3Header::parse(&[0xff, 0xfb, 0x90]), None);
        assert_eq!(Mp3Header::parse(&[0x00, 0xfb, 0x90, 0x44]), None);
        assert_eq!(Mp3Header::parse(&[0xff, 0xf9, 0x90, 0x44]), None); // layer 0
    }
}
