//! Unit tests for `video.rs`.

use super::*;

fn parse(bytes: &'static [u8]) -> Result<VideoTag, FlvError> {
    VideoTag::parse(&Bytes::from_static(bytes))
}

#[test]
fn legacy_avc() {
    let t = parse(b"\x17\x00\x00\x00\x00\x01\x64").unwrap();
    assert_eq!(
        (t.frame_type, t.codec, t.packet, t.enhanced),
        (
            FrameType::Keyframe,
            VideoCodec::Avc,
            VideoPacket::SequenceStart,
            false
        )
    );
    assert!(t.is_keyframe());
    assert_eq!(&t.body[..], b"\x01\x64");

    let t = parse(b"\x27\x01\x00\x00\x50nal").unwrap();
    assert_eq!(t.frame_type, FrameType::Inter);
    assert!(!t.is_keyframe());
    assert_eq!(
        t.packet,
        VideoPacket::CodedFrames {
            composition_time: 80
        }
    );
    assert_eq!(&t.body[..], b"nal");

    // Negative composition time: SI24 sign extension.
    let t = parse(b"\x27\x01\xff\xff\xd8").unwrap();
    assert_eq!(
        t.packet,
        VideoPacket::CodedFrames {
            composition_time: -40
        }
    );
    assert_eq!(
        parse(b"\x17\x02\x00\x00\x00").unwrap().packet,
        VideoPacket::SequenceEnd
    );
    assert_eq!(
        parse(b"\x17\x03\x00\x00\x00").unwrap().packet,
        VideoPacket::Other(3)
    );
}

#[test]
fn legacy_hevc_codec_id_12() {
    let t = parse(b"\x1c\x00\x00\x00\x00\x01").unwrap();
    assert_eq!(
        (t.codec, t.packet),
        (VideoCodec::Hevc, VideoPacket::SequenceStart)
    );
    let t = parse(b"\x2c\x01\x00\x00\x21x").unwrap();
    assert_eq!(
        t.packet,
        VideoPacket::CodedFrames {
            composition_time: 33
        }
    );
    assert_eq!(&t.body[..], b"x");
}

#[test]
fn legacy_other_codecs() {
    let t = parse(b"\x22\x00\x00").unwrap();
    assert_eq!(
        (t.codec, t.packet),
        (
            VideoCodec::SorensonH263,
            VideoPacket::CodedFrames {
                composition_time: 0
            }
        )
    );
    assert_eq!(&t.body[..], b"\x00\x00");
    assert_eq!(
        parse(b"\x34\x00").unwrap().frame_type,
        FrameType::DisposableInter
    );
    for (id, codec) in [
        (3, VideoCodec::Screen),
        (4, VideoCodec::Vp6),
        (5, VideoCodec::Vp6Alpha),
        (6, VideoCodec::Screen2),
        (9, VideoCodec::Other(9)),
    ] {
        let data = Bytes::from(vec![0x10 | id, 0]);
        assert_eq!(VideoTag::parse(&data).unwrap().codec, codec);
    }
    let t = parse(b"\x42\x00").unwrap();
    assert_eq!(t.frame_type, FrameType::GeneratedKeyframe);
    assert!(t.is_keyframe());
}

#[test]
fn legacy_command_frame() {
    let t = parse(b"\x57\x01").unwrap();
    assert_eq!(
        (t.frame_type, t.codec, t.packet),
        (
            FrameType::CommandFrame,
            VideoCodec::Avc,
            VideoPacket::Other(1)
        )
    );
    assert!(!t.is_keyframe());
    assert!(t.body.is_empty());
}

#[test]
fn reserved_frame_types() {
    for first in [0x07u8, 0x67, 0x77] {
        let data = Bytes::from(vec![first, 0, 0, 0, 0]);
        assert_eq!(
            VideoTag::parse(&data),
            Err(FlvError::UnknownFrameType {
                offset: 0,
                frame_type: first >> 4
            })
        );
    }
    assert!(matches!(
        parse(b"\xe1hvc1\x00\x00\x00"),
        Err(FlvError::UnknownFrameType { frame_type: 6, .. })
    ));
}

#[test]
fn enhanced_hevc() {
    let t = parse(b"\x90hvc1\x01\x02").unwrap();
    assert_eq!(
        (t.frame_type, t.codec, t.packet, t.enhanced),
        (
            FrameType::Keyframe,
            VideoCodec::Hevc,
            VideoPacket::SequenceStart,
            true
        )
    );
    assert_eq!(&t.body[..], b"\x01\x02");

    // CodedFrames: SI24 composition time for hvc1.
    let t = parse(b"\xa1hvc1\xff\xff\xecnal").unwrap();
    assert_eq!(t.frame_type, FrameType::Inter);
    assert_eq!(
        t.packet,
        VideoPacket::CodedFrames {
            composition_time: -20
        }
    );
    assert_eq!(&t.body[..], b"nal");

    // CodedFramesX: composition time 0, no SI24.
    let t = parse(b"\x93hvc1nal").unwrap();
    assert_eq!(
        t.packet,
        VideoPacket::CodedFrames {
            composition_time: 0
        }
    );
    assert_eq!(&t.body[..], b"nal");

    let t = parse(b"\x92hvc1").unwrap();
    assert_eq!(t.packet, VideoPacket::SequenceEnd);
    assert!(t.body.is_empty());
}

#[test]
fn enhanced_avc() {
    let t = parse(b"\xa1avc1\x00\x00\x28x").unwrap();
    assert_eq!(t.codec, VideoCodec::Avc);
    assert_eq!(
        t.packet,
        VideoPacket::CodedFrames {
            composition_time: 40
        }
    );
    assert_eq!(&t.body[..], b"x");
}

#[test]
fn enhanced_av1_vp9_vp8() {
    let t = parse(b"\x90av01\x81\x00").unwrap();
    assert_eq!(
        (t.codec, t.packet),
        (VideoCodec::Av1, VideoPacket::SequenceStart)
    );
    assert_eq!(&t.body[..], b"\x81\x00");

    // CodedFrames has no composition time for av01.
    let t = parse(b"\x91av01\x12\x00").unwrap();
    assert_eq!(
        t.packet,
        VideoPacket::CodedFrames {
            composition_time: 0
        }
    );
    assert_eq!(&t.body[..], b"\x12\x00");

    let t = parse(b"\x95av01\x01").unwrap();
    assert_eq!(t.packet, VideoPacket::Mpeg2TsSequenceStart);

    let t = parse(b"\xa1vp09\x83\x49").unwrap();
    assert_eq!((t.frame_type, t.codec), (FrameType::Inter, VideoCodec::Vp9));
    assert_eq!(&t.body[..], b"\x83\x49");

    assert_eq!(parse(b"\x90vp08\x01").unwrap().codec, VideoCodec::Vp8);
    assert_eq!(
        parse(b"\x91xyz1").unwrap().codec,
        VideoCodec::Other(fourcc(b"xyz1"))
    );
    assert_eq!(parse(b"\x98av01").unwrap().packet, VideoPacket::Other(8));
}

#[test]
fn enhanced_metadata_ignores_frame_type() {
    let t = parse(b"\x84hvc1\x02\x00\x09colorInfo").unwrap();
    assert_eq!(t.packet, VideoPacket::Metadata);
    assert_eq!(t.codec, VideoCodec::Hevc);
    // Command frame type with Metadata is still metadata, with a FourCC.
    let t = parse(b"\xd4av01\x02").unwrap();
    assert_eq!(
        (t.packet, t.codec),
        (VideoPacket::Metadata, VideoCodec::Av1)
    );
}

#[test]
fn enhanced_command_frame() {
    let t = parse(b"\xd1\x00").unwrap();
    assert_eq!(
        (t.frame_type, t.codec, t.packet),
        (
            FrameType::CommandFrame,
            VideoCodec::Other(0),
            VideoPacket::Other(0)
        )
    );
    assert!(t.body.is_empty());
}

#[test]
fn enhanced_mod_ex_is_skipped() {
    // ModEx with a 3-byte TimestampOffsetNano, then CodedFrames for hvc1.
    let t = parse(b"\xa7\x02\x00\x01\x00\x01hvc1\x00\x00\x10n").unwrap();
    assert_eq!(t.codec, VideoCodec::Hevc);
    assert_eq!(
        t.packet,
        VideoPacket::CodedFrames {
            composition_time: 16
        }
    );
    assert_eq!(&t.body[..], b"n");

    let mut data = vec![0x97, 0xff, 0x00, 0x00];
    data.extend(std::iter::repeat_n(0u8, 1));
    data.extend_from_slice(b"\x00av01!");
    let t = VideoTag::parse(&Bytes::from(data)).unwrap();
    assert_eq!(
        (t.codec, t.packet),
        (VideoCodec::Av1, VideoPacket::SequenceStart)
    );
    assert_eq!(&t.body[..], b"!");

    let mut data = vec![0x97];
    for _ in 0..9 {
        data.extend_from_slice(&[0x00, 0x00, 0x07]);
    }
    assert!(matches!(
        VideoTag::parse(&Bytes::from(data)),
        Err(FlvError::TooManyModifiers {
            media: "video",
            limit: 8,
            ..
        })
    ));
}

#[test]
fn multitrack_is_rejected() {
    assert_eq!(
        parse(b"\x96\x00hvc1\x00\x00"),
        Err(FlvError::UnsupportedMultitrack {
            media: "video",
            offset: 0
        })
    );
    assert_eq!(
        parse(b"\x97\x00\x00\x06"),
        Err(FlvError::UnsupportedMultitrack {
            media: "video",
            offset: 3
        })
    );
}

#[test]
fn truncated_headers_name_offsets() {
    let cases: [(&'static [u8], &str, usize, usize, usize); 8] = [
        (b"", "video tag header", 0, 1, 0),
        (b"\x17", "AVCPacketType", 1, 1, 0),
        (b"\x17\x01\x00\x00", "composition time", 2, 3, 2),
        (b"\x1c\x01", "composition time", 2, 3, 0),
        (b"\x57", "video command", 1, 1, 0),
        (b"\x90hvc", "video FourCC", 1, 4, 3),
        (b"\x91hvc1\x00", "composition time", 5, 3, 1),
        (b"\x97\x03\x00", "ModEx data", 2, 4, 1),
    ];
    for (data, what, offset, needed, available) in cases {
        assert_eq!(
            parse(data),
            Err(FlvError::Truncated {
                what,
                offset,
                needed,
                available
            }),
            "{data:02x?}"
        );
    }
}
