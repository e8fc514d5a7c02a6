//! The start of an upstream session, made decodable: no frame reaches the channel
//! before its sequence headers and the first video keyframe. nginx-rtmp, for one,
//! sends a player the AAC header and a first audio frame before the AVC header, and a
//! viewer already watching (or one waiting through a reconnect) would get them in that
//! order.

use flashless_core::flv::{Tag, TagType};

use crate::hub::Kind;

/// With no video header this long into the audio, the stream is audio-only.
const AUDIO_ONLY_AFTER_MS: u32 = 1000;
/// Held audio frames at most, whatever their timestamps say.
const MAX_HELD: usize = 256;

#[derive(Default)]
pub struct StartGate {
    open: bool,
    video_header: bool,
    /// Audio frames waiting to learn whether video is coming.
    held: Vec<Tag>,
}

impl StartGate {
    /// Hands `out` what to publish now for `tag`, in order.
    pub fn pass(&mut self, tag: Tag, mut out: impl FnMut(Tag)) {
        let kind = Kind::of(&tag);
        if self.open || !kind.is_coded() {
            if kind == Kind::VideoHeader {
                self.video_header = true;
            }
            return out(tag);
        }
        match (tag.tag_type, kind) {
            (TagType::Video, Kind::Keyframe) => {
                // Audio from before the picture starts is dropped: it would play over nothing.
                self.open = true;
                self.held.clear();
                out(tag);
            }
            // Not decodable without the keyframe before it.
            (TagType::Video, _) => {}
            _ if self.video_header => {}
            _ => {
                self.held.push(tag);
                let span = match (self.held.first(), self.held.last()) {
                    (Some(a), Some(b)) => b.timestamp.wrapping_sub(a.timestamp),
                    _ => 0,
                };
                if span >= AUDIO_ONLY_AFTER_MS || self.held.len() >= MAX_HELD {
                    self.open = true;
                    self.held.drain(..).for_each(out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn tag(tag_type: TagType, body: &'static [u8], timestamp: u32) -> Tag {
        Tag {
            tag_type,
            timestamp,
            data: Bytes::from_static(body),
        }
    }

    const AVC_HEADER: &[u8] = &[0x17, 0, 0, 0, 0];
    const AVC_KEY: &[u8] = &[0x17, 1, 0, 0, 0];
    const AVC_INTER: &[u8] = &[0x27, 1, 0, 0, 0];
    const AAC_HEADER: &[u8] = &[0xaf, 0];
    const AAC_FRAME: &[u8] = &[0xaf, 1];

    fn run(tags: Vec<Tag>) -> Vec<(Kind, u32)> {
        let mut gate = StartGate::default();
        let mut out = Vec::new();
        for t in tags {
            gate.pass(t, |t| out.push((Kind::of(&t), t.timestamp)));
        }
        out
    }

    #[test]
    fn audio_before_the_video_header_is_dropped_and_video_starts_at_a_keyframe() {
        let out = run(vec![
            tag(TagType::Audio, AAC_HEADER, 0),
            tag(TagType::Audio, AAC_FRAME, 0),
            tag(TagType::Video, AVC_HEADER, 0),
            tag(TagType::Video, AVC_INTER, 10),
            tag(TagType::Video, AVC_KEY, 23),
            tag(TagType::Audio, AAC_FRAME, 23),
            tag(TagType::Video, AVC_INTER, 63),
        ]);
        use Kind::*;
        assert_eq!(
            out,
            [
                (AudioHeader, 0),
                (VideoHeader, 0),
                (Keyframe, 23),
                (Coded, 23),
                (Coded, 63)
            ]
        );
    }

    #[test]
    fn audio_only_streams_pass_after_a_second_with_nothing_lost() {
        let mut tags = vec![tag(TagType::Audio, AAC_HEADER, 0)];
        tags.extend((0..60).map(|i| tag(TagType::Audio, AAC_FRAME, i * 23)));
        let out = run(tags);
        assert_eq!(out.len(), 1 + 60, "{out:?}");
        assert_eq!(out[1], (Kind::Coded, 0));
    }
}
