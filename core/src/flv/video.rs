//! Video tag header: legacy VideoTagHeader (FLV spec E.4.3.1, plus codec id 12
//! for HEVC) and the E-RTMP v2 ExVideoTagHeader (IsExHeader bit set).

use bytes::Bytes;

use super::{Cursor, FlvError, fourcc, skip_mod_ex};

/// Video FrameType (FLV spec E.4.3.1, E-RTMP VideoFrameType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// 1: a seekable frame.
    Keyframe,
    /// 2.
    Inter,
    /// 3: H.263 only.
    DisposableInter,
    /// 4: reserved for server use.
    GeneratedKeyframe,
    /// 5: video info / command frame; carries no picture.
    CommandFrame,
}

/// Video codec: legacy CodecID values and E-RTMP FourCCs mapped to one set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// CodecID 2.
    SorensonH263,
    /// 3: screen video.
    Screen,
    /// 4: On2 VP6.
    Vp6,
    /// 5: On2 VP6 with alpha.
    Vp6Alpha,
    /// 6: screen video version 2.
    Screen2,
    /// 7, or FourCC `avc1`.
    Avc,
    /// FourCC `hvc1`, or legacy CodecID 12: the extension Chinese CDNs use
    /// before E-RTMP, which FFmpeg and SRS also accept.
    Hevc,
    /// FourCC `av01`.
    Av1,
    /// FourCC `vp09`.
    Vp9,
    /// FourCC `vp08`.
    Vp8,
    /// An unknown legacy CodecID as its number, or an unknown FourCC as a
    /// big-endian `u32` (see [`fourcc`](super::fourcc)); `VideoTag::enhanced`
    /// tells which. An enhanced command frame, which has no FourCC, is `Other(0)`.
    Other(u32),
}

/// What a video packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoPacket {
    /// Decoder configuration (AVCDecoderConfigurationRecord,
    /// HEVCDecoderConfigurationRecord, AV1CodecConfigurationRecord,
    /// VPCodecConfigurationRecord).
    SequenceStart,
    /// Coded frames. Legacy codecs other than AVC/HEVC have no composition time
    /// and get 0; so do E-RTMP CodedFramesX and FourCCs other than avc1/hvc1.
    CodedFrames {
        /// Milliseconds from DTS (the tag timestamp) to PTS: signed 24-bit.
        composition_time: i32,
    },
    SequenceEnd,
    /// E-RTMP: the body is AMF-encoded metadata (e.g. HDR colorInfo).
    Metadata,
    /// E-RTMP: AV1 configured as for MPEG-2 TS carriage.
    Mpeg2TsSequenceStart,
    /// A packet type we do not interpret (a legacy AVCPacketType above 2, a
    /// reserved E-RTMP VideoPacketType) or, when the frame type is
    /// [`FrameType::CommandFrame`], the VideoCommand byte (0 = start of
    /// client-side seeking, 1 = end).
    Other(u8),
}

/// A parsed video tag header and the payload after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTag {
    pub frame_type: FrameType,
    pub codec: VideoCodec,
    pub packet: VideoPacket,
    /// True for an E-RTMP ExVideoTagHeader.
    pub enhanced: bool,
    /// The bytes after the header(s); shares `data`'s buffer. For legacy
    /// VP6/VP6A it still starts with the codec's adjustment/alpha-offset fields,
    /// which the FLV spec places in the body.
    pub body: Bytes,
}

const IS_EX_HEADER: u8 = 0x80;
const CODEC_AVC: u8 = 7;
const CODEC_HEVC_LEGACY: u8 = 12;

// E-RTMP v2 VideoPacketType.
const PACKET_SEQUENCE_START: u8 = 0;
const PACKET_CODED_FRAMES: u8 = 1;
const PACKET_SEQUENCE_END: u8 = 2;
const PACKET_CODED_FRAMES_X: u8 = 3;
const PACKET_METADATA: u8 = 4;
const PACKET_MPEG2TS_SEQUENCE_START: u8 = 5;
const PACKET_MULTITRACK: u8 = 6;

const AVC1: u32 = fourcc(b"avc1");
const HVC1: u32 = fourcc(b"hvc1");

impl VideoTag {
    /// Parses the video tag header at the start of a video tag's data.
    pub fn parse(data: &Bytes) -> Result<VideoTag, FlvError> {
        let mut c = Cursor::new(data);
        let first = c.u8("video tag header")?;
        let (frame_type, codec, packet, enhanced) = if first & IS_EX_HEADER != 0 {
            let (f, codec, packet) = parse_ex_header(&mut c, first)?;
            (f, codec, packet, true)
        } else {
            let (f, codec, packet) = parse_legacy(&mut c, first)?;
            (f, codec, packet, false)
        };
        Ok(VideoTag {
            frame_type,
            codec,
            packet,
            enhanced,
            body: data.slice(c.pos..),
        })
    }

    /// Whether the frame type marks a random access point (a keyframe or a
    /// server-generated one). True for sequence starts too, which encoders tag
    /// as keyframes.
    pub fn is_keyframe(&self) -> bool {
        matches!(
            self.frame_type,
            FrameType::Keyframe | FrameType::GeneratedKeyframe
        )
    }
}

fn frame_type(v: u8) -> Option<FrameType> {
    match v {
        1 => Some(FrameType::Keyframe),
        2 => Some(FrameType::Inter),
        3 => Some(FrameType::DisposableInter),
        4 => Some(FrameType::GeneratedKeyframe),
        5 => Some(FrameType::CommandFrame),
        _ => None,
    }
}

fn legacy_codec(id: u8) -> VideoCodec {
    match id {
        2 => VideoCodec::SorensonH263,
        3 => VideoCodec::Screen,
        4 => VideoCodec::Vp6,
        5 => VideoCodec::Vp6Alpha,
        6 => VideoCodec::Screen2,
        CODEC_AVC => VideoCodec::Avc,
        CODEC_HEVC_LEGACY => VideoCodec::Hevc,
        other => VideoCodec::Other(u32::from(other)),
    }
}

fn fourcc_codec(code: u32) -> VideoCodec {
    const AV01: u32 = fourcc(b"av01");
    const VP09: u32 = fourcc(b"vp09");
    const VP08: u32 = fourcc(b"vp08");
    match code {
        AVC1 => VideoCodec::Avc,
        HVC1 => VideoCodec::Hevc,
        AV01 => VideoCodec::Av1,
        VP09 => VideoCodec::Vp9,
        VP08 => VideoCodec::Vp8,
        other => VideoCodec::Other(other),
    }
}

/// FLV spec E.4.3.1: FrameType UB[4], CodecID UB[4]; for AVC (and HEVC as
/// CodecID 12) AVCPacketType UI8 and CompositionTime SI24.
fn parse_legacy(
    c: &mut Cursor<'_>,
    first: u8,
) -> Result<(FrameType, VideoCodec, VideoPacket), FlvError> {
    // The legacy FrameType is 4 bits; its top bit is the IsExHeader bit, clear here.
    let raw_frame_type = first >> 4;
    let frame_type = frame_type(raw_frame_type).ok_or(FlvError::UnknownFrameType {
        offset: 0,
        frame_type: raw_frame_type,
    })?;
    let codec_id = first & 0x0f;
    let codec = legacy_codec(codec_id);
    if frame_type == FrameType::CommandFrame {
        // E-RTMP v2 (legacy branch of the VideoTagHeader table): the VideoCommand
        // UI8 follows the first byte directly, with no AVC packet header.
        let command = c.u8("video command")?;
        return Ok((frame_type, codec, VideoPacket::Other(command)));
    }
    let packet = if codec_id == CODEC_AVC || codec_id == CODEC_HEVC_LEGACY {
        let packet_type = c.u8("AVCPacketType")?;
        // Present for every AVCPacketType; the spec says it is 0 unless NALUs.
        let composition_time = c.si24("composition time")?;
        match packet_type {
            0 => VideoPacket::SequenceStart,
            1 => VideoPacket::CodedFrames { composition_time },
            2 => VideoPacket::SequenceEnd,
            other => VideoPacket::Other(other),
        }
    } else {
        VideoPacket::CodedFrames {
            composition_time: 0,
        }
    };
    Ok((frame_type, codec, packet))
}

/// E-RTMP v2 "Enhanced Video": IsExHeader UB[1], VideoFrameType UB[3],
/// VideoPacketType UB[4]; ModEx (7) modifiers if present; then a VideoCommand
/// UI8 for command frames, else the FourCC; then SI24 composition time for
/// avc1/hvc1 CodedFrames.
fn parse_ex_header(
    c: &mut Cursor<'_>,
    first: u8,
) -> Result<(FrameType, VideoCodec, VideoPacket), FlvError> {
    let raw_frame_type = (first >> 4) & 0x07;
    let (packet_type, packet_type_pos) = skip_mod_ex(c, "video", first & 0x0f, 0)?;
    let frame_type = match frame_type(raw_frame_type) {
        Some(f) => f,
        // "If VideoPacketType.Metadata is present, the FrameType flags ... should
        // be ignored": accept any value there rather than fail.
        None if packet_type == PACKET_METADATA => FrameType::Inter,
        None => {
            return Err(FlvError::UnknownFrameType {
                offset: 0,
                frame_type: raw_frame_type,
            });
        }
    };
    if frame_type == FrameType::CommandFrame && packet_type != PACKET_METADATA {
        // No FourCC and no payload: just the command.
        let command = c.u8("video command")?;
        return Ok((
            frame_type,
            VideoCodec::Other(0),
            VideoPacket::Other(command),
        ));
    }
    if packet_type == PACKET_MULTITRACK {
        return Err(FlvError::UnsupportedMultitrack {
            media: "video",
            offset: packet_type_pos,
        });
    }
    let code = c.u32("video FourCC")?;
    let packet = match packet_type {
        PACKET_SEQUENCE_START => VideoPacket::SequenceStart,
        PACKET_CODED_FRAMES => {
            // Only AVC and HEVC have B-frame reordering signalled this way; AV1
            // and VP8/9 bodies start with the coded data.
            let composition_time = if code == AVC1 || code == HVC1 {
                c.si24("composition time")?
            } else {
                0
            };
            VideoPacket::CodedFrames { composition_time }
        }
        PACKET_SEQUENCE_END => VideoPacket::SequenceEnd,
        PACKET_CODED_FRAMES_X => VideoPacket::CodedFrames {
            composition_time: 0,
        },
        PACKET_METADATA => VideoPacket::Metadata,
        PACKET_MPEG2TS_SEQUENCE_START => VideoPacket::Mpeg2TsSequenceStart,
        other => VideoPacket::Other(other),
    };
    Ok((frame_type, fourcc_codec(code), packet))
}

#[cfg(test)]
mod tests;
