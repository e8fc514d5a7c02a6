//! AAC: the AudioSpecificConfig of an FLV/RTMP AAC sequence header.

use super::{BitReader, CodecError};
use alloc::string::String;

const ASC: &str = "AudioSpecificConfig";

/// ISO/IEC 14496-3 1.6.3.4, table 1.18; indices 13 and 14 are reserved, 15 escapes.
const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// The leading fields of an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// audioObjectType as signalled: 2 for AAC-LC; 5 (SBR) or 29 (PS) for HE-AAC
    /// v1/v2 with explicit hierarchical signalling.
    pub object_type: u8,
    /// Output sampling rate in Hz; for SBR/PS, the extension (doubled) rate.
    pub sample_rate: u32,
    /// Channel count from channelConfiguration (table 1.19); 0 when the layout is
    /// in a program_config_element, which is not read.
    pub channels: u8,
    /// channelConfiguration as coded.
    pub channel_config: u8,
}

impl AacConfig {
    /// Parses the leading fields; GASpecificConfig and any trailing sync
    /// extension are not needed for the codecs string and are ignored.
    pub fn parse(asc: &[u8]) -> Result<Self, CodecError> {
        let mut r = BitReader::new(asc, ASC);
        let object_type = read_object_type(&mut r)?;
        let mut sample_rate = read_sample_rate(&mut r)?;
        let at = r.byte_pos();
        let channel_config = r.bits(4)? as u8;
        let channels = match channel_config {
            0..=6 => channel_config,
            7 => 8,
            // 14496-3:2009/Amd 4 and 2019: 6.1, 7.1, 22.2 and 7.1 with top speakers.
            11 => 7,
            12 | 14 => 8,
            13 => 24,
            other => {
                return Err(CodecError::Invalid {
                    what: ASC,
                    field: "channelConfiguration",
                    value: other.into(),
                    at,
                });
            }
        };
        if object_type == 5 || object_type == 29 {
            // Explicit hierarchical SBR signalling: the extension rate, then the
            // core object type. The stream is still announced as 5 or 29.
            sample_rate = read_sample_rate(&mut r)?;
            read_object_type(&mut r)?;
        }
        Ok(Self {
            object_type,
            sample_rate,
            channels,
            channel_config,
        })
    }

    /// RFC 6381 3.3: `mp4a.40.` and the audioObjectType in decimal.
    pub fn codecs_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

/// GetAudioObjectType(): 5 bits, or 32 + 6 more bits after the escape value 31.
fn read_object_type(r: &mut BitReader<'_>) -> Result<u8, CodecError> {
    let at = r.byte_pos();
    let t = match r.bits(5)? {
        31 => 32 + r.bits(6)?,
        t => t,
    };
    if t == 0 {
        return Err(CodecError::Invalid {
            what: ASC,
            field: "audioObjectType",
            value: 0,
            at,
        });
    }
    Ok(t as u8)
}

/// samplingFrequencyIndex, or after index 15 an explicit 24-bit rate.
fn read_sample_rate(r: &mut BitReader<'_>) -> Result<u32, CodecError> {
    let at = r.byte_pos();
    let index = r.bits(4)?;
    let rate = match index {
        15 => r.bits(24)?,
        i => SAMPLE_RATES.get(i as usize).copied().unwrap_or(0),
    };
    if rate == 0 {
        let field = if index == 15 {
            "samplingFrequency"
        } else {
            "samplingFrequencyIndex"
        };
        let value = if index == 15 { rate } else { index };
        return Err(CodecError::Invalid {
            what: ASC,
            field,
            value: value.into(),
            at,
        });
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::bits::BitWriter;
    use proptest::prelude::*;

    fn asc(object_type: u8, sample_rate: u32, channels: u8) -> AacConfig {
        AacConfig {
            object_type,
            sample_rate,
            channels,
            channel_config: channels,
        }
    }

    #[test]
    fn ffmpeg_aac_lc() {
        // esds DecoderSpecificInfo of `ffmpeg -f lavfi -i sine=sample_rate=44100
        // -ac 2 -c:a aac`, with its trailing SBR sync extension; then 48 kHz mono.
        let c = AacConfig::parse(&[0x12, 0x10, 0x56, 0xe5, 0x00]).unwrap();
        assert_eq!(c, asc(2, 44_100, 2));
        assert_eq!(c.codecs_string(), "mp4a.40.2");
        assert_eq!(
            AacConfig::parse(&[0x11, 0x88, 0x56, 0xe5, 0x00]),
            Ok(asc(2, 48_000, 1))
        );
        assert_eq!(AacConfig::parse(&[0x12, 0x10]), Ok(asc(2, 44_100, 2)));
    }

    #[test]
    fn he_aac_explicit() {
        // AOT 5, core 24 kHz, stereo, extension 48 kHz, core AOT 2.
        let b = BitWriter::default()
            .bits(5, 5)
            .bits(4, 6)
            .bits(4, 2)
            .bits(4, 3)
            .bits(5, 2)
            .bytes();
        let c = AacConfig::parse(&b).unwrap();
        assert_eq!(c, asc(5, 48_000, 2));
        assert_eq!(c.codecs_string(), "mp4a.40.5");
        // HE-AAC v2: AOT 29, mono core.
        let b = BitWriter::default()
            .bits(5, 29)
            .bits(4, 7)
            .bits(4, 1)
            .bits(4, 4)
            .bits(5, 2)
            .bytes();
        assert_eq!(AacConfig::parse(&b).unwrap().codecs_string(), "mp4a.40.29");
        // The extension fields missing is a truncation.
        assert!(matches!(
            AacConfig::parse(&b[..2]),
            Err(CodecError::Truncated { .. })
        ));
    }

    #[test]
    fn escapes() {
        // audioObjectType 31 escapes to 32 + 6 bits: 42 (USAC).
        let b = BitWriter::default()
            .bits(5, 31)
            .bits(6, 10)
            .bits(4, 3)
            .bits(4, 2)
            .bytes();
        let c = AacConfig::parse(&b).unwrap();
        assert_eq!(c, asc(42, 48_000, 2));
        assert_eq!(c.codecs_string(), "mp4a.40.42");
        // Frequency index 15: an explicit 24-bit rate.
        let b = BitWriter::default()
            .bits(5, 2)
            .bits(4, 15)
            .bits(24, 37_800)
            .bits(4, 1)
            .bytes();
        assert_eq!(AacConfig::parse(&b), Ok(asc(2, 37_800, 1)));
        assert!(matches!(
            AacConfig::parse(&b[..3]),
            Err(CodecError::Truncated { at: 3, .. })
        ));
    }

    #[test]
    fn channel_configurations() {
        for (config, channels) in [(0, 0), (6, 6), (7, 8), (11, 7), (12, 8), (13, 24), (14, 8)] {
            let b = BitWriter::default()
                .bits(5, 2)
                .bits(4, 4)
                .bits(4, config)
                .bytes();
            let c = AacConfig::parse(&b).unwrap();
            assert_eq!((c.channel_config, c.channels), (config as u8, channels));
        }
        for config in [8, 9, 10, 15] {
            let b = BitWriter::default()
                .bits(5, 2)
                .bits(4, 4)
                .bits(4, config)
                .bytes();
            assert_eq!(
                AacConfig::parse(&b),
                Err(CodecError::Invalid {
                    what: ASC,
                    field: "channelConfiguration",
                    value: config,
                    at: 1
                })
            );
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            AacConfig::parse(&[]),
            Err(CodecError::Truncated { what: ASC, at: 0 })
        );
        assert_eq!(
            AacConfig::parse(&[0x12]),
            Err(CodecError::Truncated { what: ASC, at: 1 })
        );
        assert!(matches!(
            AacConfig::parse(&[0x00, 0x10]),
            Err(CodecError::Invalid {
                field: "audioObjectType",
                value: 0,
                at: 0,
                ..
            })
        ));
        for index in [13, 14] {
            let b = BitWriter::default()
                .bits(5, 2)
                .bits(4, index)
                .bits(4, 2)
                .bytes();
            assert_eq!(
                AacConfig::parse(&b),
                Err(CodecError::Invalid {
                    what: ASC,
                    field: "samplingFrequencyIndex",
                    value: index,
                    at: 0
                })
            );
        }
        let b = BitWriter::default()
            .bits(5, 2)
            .bits(4, 15)
            .bits(24, 0)
            .bits(4, 2)
            .bytes();
        assert!(matches!(
            AacConfig::parse(&b),
            Err(CodecError::Invalid {
                field: "samplingFrequency",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = AacConfig::parse(&b);
        }
    }
}
