//! Audio tag header: legacy AudioTagHeader (FLV spec E.4.2.1) and the
//! E-RTMP v2 ExAudioTagHeader (SoundFormat 9).

use bytes::Bytes;

use super::{Cursor, FlvError, fourcc, skip_mod_ex};

/// Audio codec: legacy SoundFormat values and E-RTMP FourCCs mapped to one set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)] // Mp3_8k reads better than Mp38k.
pub enum AudioCodec {
    /// SoundFormat 0: linear PCM, platform endian.
    LinearPcmPlatform,
    /// 1: Flash ADPCM.
    Adpcm,
    /// 2, or FourCC `.mp3`.
    Mp3,
    /// 3: linear PCM, little endian.
    LinearPcmLe,
    /// 4.
    Nellymoser16kMono,
    /// 5.
    Nellymoser8kMono,
    /// 6.
    Nellymoser,
    /// 7.
    G711ALaw,
    /// 8.
    G711MuLaw,
    /// 10, or FourCC `mp4a`.
    Aac,
    /// 11.
    Speex,
    /// 14: MP3 at 8 kHz.
    Mp3_8k,
    /// 15: device-specific sound.
    DeviceSpecific,
    /// FourCC `Opus`.
    Opus,
    /// FourCC `fLaC`.
    Flac,
    /// FourCC `ac-3`.
    Ac3,
    /// FourCC `ec-3`.
    Eac3,
    /// A reserved legacy SoundFormat (12, 13) as its number, or an unknown FourCC
    /// as a big-endian `u32` (see [`fourcc`](super::fourcc)); `AudioTag::enhanced`
    /// tells which.
    Other(u32),
}

/// What an audio packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioPacket {
    /// Decoder configuration (AAC AudioSpecificConfig, Opus ID header, FLAC
    /// STREAMINFO...).
    SequenceStart,
    /// Coded audio. Every legacy non-AAC packet is this.
    CodedFrames,
    SequenceEnd,
    /// E-RTMP channel order and count.
    MultichannelConfig,
    /// A packet type we do not interpret: a legacy AACPacketType above 1, or a
    /// reserved E-RTMP AudioPacketType.
    Other(u8),
}

/// A parsed audio tag header and the payload after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTag {
    pub codec: AudioCodec,
    pub packet: AudioPacket,
    /// Legacy SoundRate: 0 = 5.5 kHz, 1 = 11 kHz, 2 = 22 kHz, 3 = 44 kHz. For AAC
    /// the spec says always 3 and the real rate is in the AudioSpecificConfig.
    /// 0 for enhanced tags, which do not have the field.
    pub sound_rate: u8,
    /// Legacy SoundSize; false for enhanced tags.
    pub sound_size_16bit: bool,
    /// Legacy SoundType; false for enhanced tags (the codec config says).
    pub stereo: bool,
    /// True for an E-RTMP ExAudioTagHeader (SoundFormat 9).
    pub enhanced: bool,
    /// The bytes after the header(s); shares `data`'s buffer.
    pub body: Bytes,
}

const SOUND_FORMAT_AAC: u8 = 10;
const SOUND_FORMAT_EX_HEADER: u8 = 9;

// E-RTMP v2 AudioPacketType.
const PACKET_SEQUENCE_START: u8 = 0;
const PACKET_CODED_FRAMES: u8 = 1;
const PACKET_SEQUENCE_END: u8 = 2;
const PACKET_MULTICHANNEL_CONFIG: u8 = 4;
const PACKET_MULTITRACK: u8 = 5;

impl AudioTag {
    /// The sample rate a legacy header says: SoundRate's 5.5/11/22/44 kHz (5512,
    /// 11025, 22050, 44100 Hz, as ffmpeg reads them), except where the format has its
    /// own: G.711 is always 8 kHz, Nellymoser's formats 4 and 5 are 16 and 8 kHz,
    /// Speex 16 kHz (the FLV spec's only rate for it; its header says 5.5 kHz).
    pub fn legacy_rate(&self) -> u32 {
        match self.codec {
            AudioCodec::G711ALaw | AudioCodec::G711MuLaw | AudioCodec::Nellymoser8kMono => 8000,
            AudioCodec::Nellymoser16kMono | AudioCodec::Speex => 16000,
            _ => [5512, 11025, 22050, 44100][usize::from(self.sound_rate & 3)],
        }
    }

    /// Parses the audio tag header at the start of an audio tag's data.
    ///
    /// An empty tag (the "audio silence" message E-RTMP v2 documents) has no
    /// header and is reported as [`FlvError::Truncated`]; callers that care can
    /// check `data.is_empty()` first.
    pub fn parse(data: &Bytes) -> Result<AudioTag, FlvError> {
        let mut c = Cursor::new(data);
        let first = c.u8("audio tag header")?;
        let sound_format = first >> 4;
        let (codec, packet, sound_rate, sound_size_16bit, stereo, enhanced) =
            if sound_format == SOUND_FORMAT_EX_HEADER {
                let (codec, packet) = parse_ex_header(&mut c, first & 0x0f)?;
                (codec, packet, 0, false, false, true)
            } else {
                let packet = if sound_format == SOUND_FORMAT_AAC {
                    // FLV spec E.4.2.1: AACPacketType, 0 = sequence header, 1 = raw.
                    match c.u8("AACPacketType")? {
                        0 => AudioPacket::SequenceStart,
                        1 => AudioPacket::CodedFrames,
                        v => AudioPacket::Other(v),
                    }
                } else {
                    AudioPacket::CodedFrames
                };
                (
                    legacy_codec(sound_format),
                    packet,
                    (first >> 2) & 0x03,
                    first & 0x02 != 0,
                    first & 0x01 != 0,
                    false,
                )
            };
        Ok(AudioTag {
            codec,
            packet,
            sound_rate,
            sound_size_16bit,
            stereo,
            enhanced,
            body: data.slice(c.pos..),
        })
    }
}

fn legacy_codec(sound_format: u8) -> AudioCodec {
    match sound_format {
        0 => AudioCodec::LinearPcmPlatform,
        1 => AudioCodec::Adpcm,
        2 => AudioCodec::Mp3,
        3 => AudioCodec::LinearPcmLe,
        4 => AudioCodec::Nellymoser16kMono,
        5 => AudioCodec::Nellymoser8kMono,
        6 => AudioCodec::Nellymoser,
        7 => AudioCodec::G711ALaw,
        8 => AudioCodec::G711MuLaw,
        10 => AudioCodec::Aac,
        11 => AudioCodec::Speex,
        14 => AudioCodec::Mp3_8k,
        15 => AudioCodec::DeviceSpecific,
        other => AudioCodec::Other(u32::from(other)),
    }
}

fn fourcc_codec(code: u32) -> AudioCodec {
    const OPUS: u32 = fourcc(b"Opus");
    const FLAC: u32 = fourcc(b"fLaC");
    const MP3: u32 = fourcc(b".mp3");
    const AAC: u32 = fourcc(b"mp4a");
    const AC3: u32 = fourcc(b"ac-3");
    const EAC3: u32 = fourcc(b"ec-3");
    match code {
        OPUS => AudioCodec::Opus,
        FLAC => AudioCodec::Flac,
        MP3 => AudioCodec::Mp3,
        AAC => AudioCodec::Aac,
        AC3 => AudioCodec::Ac3,
        EAC3 => AudioCodec::Eac3,
        other => AudioCodec::Other(other),
    }
}

/// E-RTMP v2 "Enhanced Audio": the low nibble of the first byte is the
/// AudioPacketType; ModEx (7) modifiers come next if present, then the FourCC.
fn parse_ex_header(
    c: &mut Cursor<'_>,
    packet_type: u8,
) -> Result<(AudioCodec, AudioPacket), FlvError> {
    let (packet_type, packet_type_pos) = skip_mod_ex(c, "audio", packet_type, 0)?;
    if packet_type == PACKET_MULTITRACK {
        return Err(FlvError::UnsupportedMultitrack {
            media: "audio",
            offset: packet_type_pos,
        });
    }
    let codec = fourcc_codec(c.u32("audio FourCC")?);
    let packet = match packet_type {
        PACKET_SEQUENCE_START => AudioPacket::SequenceStart,
        PACKET_CODED_FRAMES => AudioPacket::CodedFrames,
        PACKET_SEQUENCE_END => AudioPacket::SequenceEnd,
        PACKET_MULTICHANNEL_CONFIG => AudioPacket::MultichannelConfig,
        other => AudioPacket::Other(other),
    };
    Ok((codec, packet))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &'static [u8]) -> Result<AudioTag, FlvError> {
        AudioTag::parse(&Bytes::from_static(bytes))
    }

    #[test]
    fn legacy_aac() {
        let t = parse(b"\xaf\x00\x12\x10").unwrap();
        assert_eq!(t.codec, AudioCodec::Aac);
        assert_eq!(t.packet, AudioPacket::SequenceStart);
        assert_eq!(
            (t.sound_rate, t.sound_size_16bit, t.stereo, t.enhanced),
            (3, true, true, false)
        );
        assert_eq!(&t.body[..], b"\x12\x10");
        assert_eq!(
            parse(b"\xaf\x01raw").unwrap().packet,
            AudioPacket::CodedFrames
        );
        assert_eq!(parse(b"\xaf\x05").unwrap().packet, AudioPacket::Other(5));
    }

    #[test]
    fn legacy_rates() {
        // Rate bits 0 (as ffmpeg writes 8 kHz G.711 and Nellymoser) and 2.
        let rate = |first: u8| {
            let tag = AudioTag::parse(&Bytes::from(vec![first, 0])).unwrap();
            tag.legacy_rate()
        };
        assert_eq!(rate(0x72), 8000, "G.711 A-law");
        assert_eq!(rate(0x82), 8000, "G.711 µ-law");
        assert_eq!(rate(0x52), 8000, "Nellymoser 8 kHz");
        assert_eq!(rate(0x42), 16000, "Nellymoser 16 kHz");
        assert_eq!(rate(0xb2), 16000, "Speex, as Flash Player writes it");
        assert_eq!(rate(0x62), 5512, "Nellymoser at SoundRate 0");
        assert_eq!(rate(0x6a), 22050, "Nellymoser at SoundRate 2");
        assert_eq!(rate(0x3e), 44100, "PCM at SoundRate 3");
    }

    #[test]
    fn legacy_other_codecs() {
        // MP3, 22 kHz, 16-bit, mono: no packet type byte.
        let t = parse(b"\x2a\xff\xfb").unwrap();
        assert_eq!(t.codec, AudioCodec::Mp3);
        assert_eq!(t.packet, AudioPacket::CodedFrames);
        assert_eq!(
            (t.sound_rate, t.sound_size_16bit, t.stereo),
            (2, true, false)
        );
        assert_eq!(&t.body[..], b"\xff\xfb");
        let cases: [(u8, AudioCodec); 15] = [
            (0, AudioCodec::LinearPcmPlatform),
            (1, AudioCodec::Adpcm),
            (3, AudioCodec::LinearPcmLe),
            (4, AudioCodec::Nellymoser16kMono),
            (5, AudioCodec::Nellymoser8kMono),
            (6, AudioCodec::Nellymoser),
            (7, AudioCodec::G711ALaw),
            (8, AudioCodec::G711MuLaw),
            (11, AudioCodec::Speex),
            (12, AudioCodec::Other(12)),
            (13, AudioCodec::Other(13)),
            (14, AudioCodec::Mp3_8k),
            (15, AudioCodec::DeviceSpecific),
            (2, AudioCodec::Mp3),
            (10, AudioCodec::Aac),
        ];
        for (format, codec) in cases {
            let data = Bytes::from(vec![format << 4, 0x01]);
            assert_eq!(AudioTag::parse(&data).unwrap().codec, codec, "{format}");
        }
    }

    #[test]
    fn enhanced_fourccs() {
        let t = parse(b"\x90Opus\x4f\x70\x75\x73").unwrap();
        assert_eq!(
            (t.codec, t.packet, t.enhanced),
            (AudioCodec::Opus, AudioPacket::SequenceStart, true)
        );
        assert_eq!(&t.body[..], b"Opus");
        assert_eq!(
            (t.sound_rate, t.sound_size_16bit, t.stereo),
            (0, false, false)
        );

        let t = parse(b"\x91fLaC\xff\xf8").unwrap();
        assert_eq!(
            (t.codec, t.packet),
            (AudioCodec::Flac, AudioPacket::CodedFrames)
        );
        assert_eq!(&t.body[..], b"\xff\xf8");

        let t = parse(b"\x90mp4a\x12\x10").unwrap();
        assert_eq!(
            (t.codec, t.packet),
            (AudioCodec::Aac, AudioPacket::SequenceStart)
        );
        assert_eq!(&t.body[..], b"\x12\x10");

        assert_eq!(parse(b"\x91.mp3").unwrap().codec, AudioCodec::Mp3);
        assert_eq!(parse(b"\x91ac-3").unwrap().codec, AudioCodec::Ac3);
        let t = parse(b"\x92ec-3").unwrap();
        assert_eq!(
            (t.codec, t.packet),
            (AudioCodec::Eac3, AudioPacket::SequenceEnd)
        );
        assert_eq!(
            parse(b"\x94Opus\x01\x02").unwrap().packet,
            AudioPacket::MultichannelConfig
        );
        assert_eq!(parse(b"\x93Opus").unwrap().packet, AudioPacket::Other(3));
        assert_eq!(
            parse(b"\x91abcd").unwrap().codec,
            AudioCodec::Other(fourcc(b"abcd"))
        );
    }

    #[test]
    fn enhanced_mod_ex_is_skipped() {
        // ModEx: size 3 (UI8 2), TimestampOffsetNano data, then type 0 / CodedFrames.
        let t = parse(b"\x97\x02\x00\x01\x02\x01Opus\xaa").unwrap();
        assert_eq!(
            (t.codec, t.packet),
            (AudioCodec::Opus, AudioPacket::CodedFrames)
        );
        assert_eq!(&t.body[..], b"\xaa");

        // 16-bit size: UI8 255 means "read UI16 + 1"; here 300 bytes.
        let mut data = vec![0x97, 0xff, 0x01, 0x2b];
        data.extend(std::iter::repeat_n(0u8, 300));
        data.extend_from_slice(b"\x00fLaC\x01");
        let t = AudioTag::parse(&Bytes::from(data)).unwrap();
        assert_eq!(
            (t.codec, t.packet),
            (AudioCodec::Flac, AudioPacket::SequenceStart)
        );
        assert_eq!(&t.body[..], b"\x01");
    }

    #[test]
    fn enhanced_mod_ex_is_bounded() {
        let mut data = vec![0x97];
        for _ in 0..20 {
            data.extend_from_slice(&[0x00, 0x00, 0x07]);
        }
        data.extend_from_slice(b"Opus");
        assert!(matches!(
            AudioTag::parse(&Bytes::from(data)),
            Err(FlvError::TooManyModifiers { media: "audio", .. })
        ));
    }

    #[test]
    fn multitrack_is_rejected() {
        assert_eq!(
            parse(b"\x95\x00Opus"),
            Err(FlvError::UnsupportedMultitrack {
                media: "audio",
                offset: 0
            })
        );
        // Behind a ModEx modifier the offset names the byte with the packet type.
        assert_eq!(
            parse(b"\x97\x00\x00\x05\x00Opus"),
            Err(FlvError::UnsupportedMultitrack {
                media: "audio",
                offset: 3
            })
        );
    }

    #[test]
    fn truncated_headers_name_offsets() {
        assert_eq!(
            parse(b""),
            Err(FlvError::Truncated {
                what: "audio tag header",
                offset: 0,
                needed: 1,
                available: 0
            })
        );
        assert_eq!(
            parse(b"\xaf"),
            Err(FlvError::Truncated {
                what: "AACPacketType",
                offset: 1,
                needed: 1,
                available: 0
            })
        );
        assert_eq!(
            parse(b"\x90Op"),
            Err(FlvError::Truncated {
                what: "audio FourCC",
                offset: 1,
                needed: 4,
                available: 2
            })
        );
        assert_eq!(
            parse(b"\x97\x05\x00"),
            Err(FlvError::Truncated {
                what: "ModEx data",
                offset: 2,
                needed: 6,
                available: 1
            })
        );
        assert!(matches!(
            parse(b"\x97\xff\x01"),
            Err(FlvError::Truncated {
                what: "ModEx data size (16-bit)",
                offset: 2,
                ..
            })
        ));
    }
}
