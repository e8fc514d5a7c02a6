//! One classification of tags, shared by the cache, the start gate, the timeline and the
//! tools.

use crate::flv::{AudioPacket, AudioTag, Tag, TagType, VideoCodec, VideoPacket, VideoTag};

/// What a tag is to a viewer that starts or resumes.
///
/// Codecs without a sequence header (Sorenson H.263, VP6, screen video) have no
/// `VideoHeader`: their keyframe is self-contained, and is a `Keyframe` like any other.
/// So for them "the stream has video" is learned from the first video keyframe, and a
/// start burst is metadata plus the GOP. A tag that does not parse is a `Frame`: it is
/// passed on like media, never cached as a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A script-data tag (`onMetaData`).
    Metadata,
    /// The video decoder configuration (AVC, HEVC, AV1, VP9 sequence start).
    VideoHeader,
    /// The audio decoder configuration (AAC sequence start).
    AudioHeader,
    /// A video keyframe: decoding can start here.
    Keyframe,
    /// Any other coded frame, audio or video, or a tag that does not parse.
    Frame,
}

impl Role {
    pub fn of(tag: &Tag) -> Role {
        match tag.tag_type {
            TagType::Script => Role::Metadata,
            TagType::Video => match VideoTag::parse(&tag.data) {
                Ok(v) if v.packet == VideoPacket::SequenceStart => Role::VideoHeader,
                Ok(v) if v.is_keyframe() && matches!(v.packet, VideoPacket::CodedFrames { .. }) => {
                    Role::Keyframe
                }
                _ => Role::Frame,
            },
            TagType::Audio => match AudioTag::parse(&tag.data) {
                Ok(a) if a.packet == AudioPacket::SequenceStart => Role::AudioHeader,
                _ => Role::Frame,
            },
        }
    }

    /// A frame of media, as opposed to metadata or a header.
    pub fn is_coded(self) -> bool {
        matches!(self, Role::Frame | Role::Keyframe)
    }
}

/// Whether a video codec sends its decoder configuration as a sequence header before
/// its frames; the others (H.263, VP6, screen video) say all there is on each keyframe.
pub fn has_sequence_header(codec: VideoCodec) -> bool {
    matches!(
        codec,
        VideoCodec::Avc | VideoCodec::Hevc | VideoCodec::Av1 | VideoCodec::Vp9
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::test_tags::*;

    #[test]
    fn tags_get_their_roles() {
        assert_eq!(Role::of(&script(0)), Role::Metadata);
        assert_eq!(Role::of(&video(AVC_HEADER, 0)), Role::VideoHeader);
        assert_eq!(Role::of(&video(AVC_KEY, 0)), Role::Keyframe);
        assert_eq!(Role::of(&video(AVC_INTER, 0)), Role::Frame);
        assert_eq!(Role::of(&audio(AAC_HEADER, 0)), Role::AudioHeader);
        assert_eq!(Role::of(&audio(AAC_FRAME, 0)), Role::Frame);
        assert_eq!(Role::of(&video(&[], 0)), Role::Frame, "unparsable");
    }

    #[test]
    fn a_headerless_codec_has_keyframes_and_no_header() {
        assert_eq!(Role::of(&video(VP6_KEY, 0)), Role::Keyframe);
        assert_eq!(Role::of(&video(VP6_INTER, 0)), Role::Frame);
        assert!(!has_sequence_header(VideoCodec::Vp6));
        assert!(has_sequence_header(VideoCodec::Avc));
    }
}
