//! Opus: the RFC 7845 identification header of the E-RTMP `Opus` SequenceStart,
//! the `dOps` box payload made from it, and packet durations (RFC 6716 3.1).

use super::CodecError;
use alloc::vec::Vec;

const HEAD: &str = "OpusHead";

/// The "OpusHead" identification header (RFC 7845 5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channel count, 1–255.
    pub channels: u8,
    /// Samples at 48 kHz to drop from the start of the decoded output.
    pub pre_skip: u16,
    /// The original sample rate, informational only (Opus decodes at 48 kHz).
    pub input_sample_rate: u32,
    /// Q7.8 dB.
    pub output_gain: i16,
    /// 0: mono/stereo, 1: Vorbis channel order, 255: unspecified, ...
    pub mapping_family: u8,
    /// Opus streams in each packet; 1 for family 0.
    pub stream_count: u8,
    /// How many of them are stereo; `channels − 1` for family 0.
    pub coupled_count: u8,
    /// Decoder output index for each channel; empty for family 0.
    pub channel_mapping: Vec<u8>,
}

impl OpusHead {
    /// Parses the header: the "OpusHead" magic, version 0.x (1 is current;
    /// a major version other than 0 is refused), little-endian fields.
    pub fn parse(head: &[u8]) -> Result<Self, CodecError> {
        let at = |i: usize| {
            head.get(i).copied().ok_or(CodecError::Truncated {
                what: HEAD,
                at: i.min(head.len()),
            })
        };
        let le16 = |i: usize| Ok::<_, CodecError>(u16::from_le_bytes([at(i)?, at(i + 1)?]));
        let magic = head.get(..8).ok_or(CodecError::Truncated {
            what: HEAD,
            at: head.len(),
        })?;
        if magic != b"OpusHead" {
            return Err(invalid("magic signature", 0, 0));
        }
        let version = at(8)?;
        if version >> 4 != 0 {
            return Err(invalid("version", version.into(), 8));
        }
        let channels = at(9)?;
        if channels == 0 {
            return Err(invalid("channel count", 0, 9));
        }
        let pre_skip = le16(10)?;
        let input_sample_rate = u32::from(le16(12)?) | u32::from(le16(14)?) << 16;
        let output_gain = le16(16)? as i16;
        let mapping_family = at(18)?;
        let (stream_count, coupled_count, channel_mapping) = if mapping_family == 0 {
            if channels > 2 {
                return Err(invalid("channel count", channels.into(), 9));
            }
            (1, channels - 1, Vec::new())
        } else {
            let streams = at(19)?;
            let coupled = at(20)?;
            if streams == 0 {
                return Err(invalid("stream count", 0, 19));
            }
            if coupled > streams || u16::from(streams) + u16::from(coupled) > 255 {
                return Err(invalid("coupled stream count", coupled.into(), 20));
            }
            let end = 21 + usize::from(channels);
            let mapping = head.get(21..end).ok_or(CodecError::Truncated {
                what: HEAD,
                at: head.len(),
            })?;
            let decoded = streams + coupled;
            let bad = mapping
                .iter()
                .enumerate()
                .find(|&(_, &m)| m != 255 && m >= decoded);
            if let Some((i, &m)) = bad {
                return Err(invalid("channel mapping", m.into(), 21 + i));
            }
            (streams, coupled, mapping.to_vec())
        };
        Ok(Self {
            channels,
            pre_skip,
            input_sample_rate,
            output_gain,
            mapping_family,
            stream_count,
            coupled_count,
            channel_mapping,
        })
    }

    /// The OpusSpecificBox (`dOps`) payload of "Encapsulation of Opus in ISO
    /// Base Media File Format" 4.3.2: Version 0, big-endian fields, and the
    /// channel mapping table when the family is not 0.
    pub fn dops(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(11 + 2 + self.channel_mapping.len());
        out.push(0);
        out.push(self.channels);
        out.extend_from_slice(&self.pre_skip.to_be_bytes());
        out.extend_from_slice(&self.input_sample_rate.to_be_bytes());
        out.extend_from_slice(&self.output_gain.to_be_bytes());
        out.push(self.mapping_family);
        if self.mapping_family != 0 {
            out.push(self.stream_count);
            out.push(self.coupled_count);
            out.extend_from_slice(&self.channel_mapping);
        }
        out
    }
}

fn invalid(field: &'static str, value: u64, at: usize) -> CodecError {
    CodecError::Invalid {
        what: HEAD,
        field,
        value,
        at,
    }
}

/// Samples at 48 kHz in an Opus packet: the frame duration of the TOC byte's
/// configuration times the frame count (RFC 6716 3.1, 3.2.5). `None` for an
/// empty packet, a code 3 packet without its count byte or with 0 frames, and
/// packets over the 120 ms limit.
pub fn packet_samples(packet: &[u8]) -> Option<u32> {
    let &toc = packet.first()?;
    let config = toc >> 3;
    let frame: u32 = match config {
        // SILK-only: 10, 20, 40, 60 ms.
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        // Hybrid: 10, 20 ms.
        12..=15 => [480, 960][usize::from(config % 2)],
        // CELT-only: 2.5, 5, 10, 20 ms.
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(packet.get(1)? & 0x3f),
    };
    let samples = frame * frames;
    (frames > 0 && samples <= 5760).then_some(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::hevc::tests::hex;
    use proptest::prelude::*;

    // `ffmpeg -f lavfi -i sine -ac 2 -c:a libopus -f ogg`: the OpusHead packet,
    // and the dOps that `-f mp4` writes for the same stream; then 5.1.
    const HEAD_STEREO: &str = "4f707573486561640102380180bb0000000000";
    const DOPS_STEREO: &str = "000201380000bb80000000";
    const HEAD_51: &str = "4f707573486561640106380180bb000000000104020004010203 05";
    const DOPS_51: &str = "000601380000bb800000010402000401020305";

    fn h(s: &str) -> Vec<u8> {
        hex(&s.replace(' ', ""))
    }

    #[test]
    fn real_headers_and_dops() {
        let head = OpusHead::parse(&h(HEAD_STEREO)).unwrap();
        assert_eq!(
            (head.channels, head.pre_skip, head.input_sample_rate),
            (2, 312, 48_000)
        );
        assert_eq!(
            (head.mapping_family, head.stream_count, head.coupled_count),
            (0, 1, 1)
        );
        assert_eq!(head.dops(), h(DOPS_STEREO));

        let head = OpusHead::parse(&h(HEAD_51)).unwrap();
        assert_eq!((head.channels, head.mapping_family), (6, 1));
        assert_eq!((head.stream_count, head.coupled_count), (4, 2));
        assert_eq!(head.channel_mapping, vec![0, 4, 1, 2, 3, 5]);
        assert_eq!(head.dops(), h(DOPS_51));
    }

    #[test]
    fn header_errors() {
        for head in [HEAD_STEREO, HEAD_51] {
            let full = h(head);
            for n in 0..full.len() {
                assert!(
                    matches!(
                        OpusHead::parse(&full[..n]),
                        Err(CodecError::Truncated { .. })
                    ),
                    "cut at {n}"
                );
            }
        }
        let mut bad = h(HEAD_STEREO);
        bad[0] = b'o';
        assert_eq!(OpusHead::parse(&bad), Err(invalid("magic signature", 0, 0)));
        let mut bad = h(HEAD_STEREO);
        bad[8] = 0x10;
        assert_eq!(OpusHead::parse(&bad), Err(invalid("version", 16, 8)));
        let mut bad = h(HEAD_STEREO);
        bad[9] = 3;
        assert_eq!(OpusHead::parse(&bad), Err(invalid("channel count", 3, 9)));
        let mut bad = h(HEAD_51);
        bad[22] = 6; // only 6 decoded channels: 0..=5
        assert_eq!(
            OpusHead::parse(&bad),
            Err(invalid("channel mapping", 6, 22))
        );
        let mut bad = h(HEAD_51);
        bad[20] = 5;
        assert_eq!(
            OpusHead::parse(&bad),
            Err(invalid("coupled stream count", 5, 20))
        );
    }

    #[test]
    fn packet_durations() {
        // libopus's default 20 ms CELT fullband packet (config 31, code 0).
        assert_eq!(packet_samples(&[0xfc, 0xff]), Some(960));
        assert_eq!(packet_samples(&[0x00]), Some(480)); // SILK NB 10 ms
        assert_eq!(packet_samples(&[0x18 | 1]), Some(2 * 2880)); // SILK 60 ms × 2
        assert_eq!(packet_samples(&[0x68 | 2]), Some(2 * 960)); // hybrid 20 ms × 2
        assert_eq!(packet_samples(&[0x80 | 3, 48]), Some(48 * 120)); // CELT 2.5 ms × 48
        assert_eq!(packet_samples(&[0x80 | 3, 49]), None); // over 120 ms
        assert_eq!(packet_samples(&[0x80 | 3, 0]), None);
        assert_eq!(packet_samples(&[0x80 | 3]), None);
        assert_eq!(packet_samples(&[]), None);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = packet_samples(&b);
            let _ = OpusHead::parse(&b);
            let mut head = b"OpusHead".to_vec();
            head.extend(&b);
            if let Ok(h) = OpusHead::parse(&head) {
                let _ = h.dops();
            }
        }
    }
}
