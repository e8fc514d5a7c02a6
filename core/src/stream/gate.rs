//! The start of an upstream session, made decodable: no frame goes on before its
//! sequence headers and the first video keyframe. nginx-rtmp, for one, sends a player
//! the AAC header and a first audio frame before the AVC header, and a viewer already
//! watching (or one waiting through a reconnect) would get them in that order.

use crate::flv::{Tag, TagType};
use alloc::vec::Vec;

use super::Role;

/// With no video header this long into the audio, the stream is audio-only.
const AUDIO_ONLY_AFTER_MS: u32 = 1000;
/// Held audio frames at most, whatever their timestamps say.
const MAX_HELD: usize = 256;

/// One per upstream session. Headers and metadata always pass; video frames wait for a
/// keyframe; audio frames are held until it is known whether video is coming: dropped
/// once a video header says it is, released after a second of audio with none.
#[derive(Debug, Default)]
pub struct StartGate {
    open: bool,
    video_header: bool,
    /// Audio frames waiting to learn whether video is coming.
    held: Vec<Tag>,
}

impl StartGate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hands `out` what to pass on now for `tag`, in order.
    pub fn pass(&mut self, tag: Tag, mut out: impl FnMut(Tag)) {
        let role = Role::of(&tag);
        if self.open || !role.is_coded() {
            if role == Role::VideoHeader {
                self.video_header = true;
            }
            return out(tag);
        }
        match (tag.tag_type, role) {
            (TagType::Video, Role::Keyframe) => {
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
    use crate::stream::test_tags::*;

    fn run(tags: Vec<Tag>) -> Vec<(Role, u32)> {
        let mut gate = StartGate::new();
        let mut out = Vec::new();
        for t in tags {
            gate.pass(t, |t| out.push((Role::of(&t), t.timestamp)));
        }
        out
    }

    #[test]
    fn audio_before_the_video_header_is_dropped_and_video_starts_at_a_keyframe() {
        let out = run(vec![
            audio(AAC_HEADER, 0),
            audio(AAC_FRAME, 0),
            video(AVC_HEADER, 0),
            video(AVC_INTER, 10),
            video(AVC_KEY, 23),
            audio(AAC_FRAME, 23),
            video(AVC_INTER, 63),
        ]);
        use Role::*;
        assert_eq!(
            out,
            [
                (AudioHeader, 0),
                (VideoHeader, 0),
                (Keyframe, 23),
                (Frame, 23),
                (Frame, 63)
            ]
        );
    }

    #[test]
    fn audio_only_streams_pass_after_a_second_with_nothing_lost() {
        let mut tags = vec![audio(AAC_HEADER, 0)];
        tags.extend((0..60).map(|i| audio(AAC_FRAME, i * 23)));
        let out = run(tags);
        assert_eq!(out.len(), 1 + 60, "{out:?}");
        assert_eq!(out[1], (Role::Frame, 0));
    }

    #[test]
    fn a_headerless_codec_opens_on_its_keyframe() {
        let out = run(vec![
            video(VP6_INTER, 0),
            audio(AAC_FRAME, 10),
            video(VP6_KEY, 40),
            video(VP6_INTER, 80),
        ]);
        assert_eq!(out, [(Role::Keyframe, 40), (Role::Frame, 80)]);
    }
}
