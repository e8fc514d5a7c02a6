//! What a new viewer needs to start at once: metadata, sequence headers and the GOP
//! since the last keyframe.

use super::{Media, Role};
use alloc::vec::Vec;

/// Bounds on the cached GOP: a source with rare keyframes must not grow memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// The GOP is dropped once its items hold more bytes than this …
    pub bytes: usize,
    /// … or span more tag-timestamp milliseconds than this.
    pub duration_ms: u32,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            bytes: 8 << 20,
            duration_ms: 10_000,
        }
    }
}

/// The latest metadata and headers, and the GOP since the last keyframe. Items are
/// cloned out to each new viewer, so an `Arc` shares its bytes with all of them.
#[derive(Debug, Clone)]
pub struct GopCache<T> {
    limits: CacheLimits,
    metadata: Option<T>,
    video_header: Option<T>,
    audio_header: Option<T>,
    gop: Vec<T>,
    gop_bytes: usize,
    /// A video header or keyframe was seen: frames are then only worth caching from a
    /// keyframe on. Set by a keyframe too, for codecs without a sequence header.
    has_video: bool,
}

/// What a new viewer gets first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start<T> {
    /// Metadata, video header, audio header, then the GOP, each if there is one.
    pub burst: Vec<T>,
    /// No GOP is cached for a stream with video: live frames are not decodable before
    /// the next keyframe.
    pub skip_to_keyframe: bool,
}

impl<T: Media + Clone> GopCache<T> {
    pub fn new(limits: CacheLimits) -> Self {
        GopCache {
            limits,
            metadata: None,
            video_header: None,
            audio_header: None,
            gop: Vec::new(),
            gop_bytes: 0,
            has_video: false,
        }
    }

    /// Takes in the next item of the stream.
    pub fn push(&mut self, item: &T) {
        match item.role() {
            Role::Metadata => self.metadata = Some(item.clone()),
            Role::VideoHeader => {
                self.has_video = true;
                self.video_header = Some(item.clone());
            }
            Role::AudioHeader => self.audio_header = Some(item.clone()),
            Role::Keyframe => {
                self.clear_gop();
                self.add_frame(item);
                self.has_video = true;
            }
            Role::Frame => self.add_frame(item),
        }
    }

    /// Drops the GOP (a new upstream session does not continue it) but keeps metadata
    /// and headers, so a viewer joining mid-reconnect still starts decodable.
    pub fn clear_gop(&mut self) {
        self.gop.clear();
        self.gop_bytes = 0;
    }

    pub fn start(&self) -> Start<T> {
        let burst = self
            .metadata
            .iter()
            .chain(&self.video_header)
            .chain(&self.audio_header)
            .chain(&self.gop)
            .cloned()
            .collect();
        Start {
            burst,
            skip_to_keyframe: self.has_video && self.gop.is_empty(),
        }
    }

    fn add_frame(&mut self, item: &T) {
        // Until the first keyframe there is nothing decodable to cache.
        let Some(first) = self.gop.first() else {
            if item.role() == Role::Keyframe || !self.has_video {
                self.gop_bytes = item.size();
                self.gop.push(item.clone());
            }
            return;
        };
        let span = item.timestamp().wrapping_sub(first.timestamp());
        self.gop_bytes += item.size();
        if self.gop_bytes > self.limits.bytes || span > self.limits.duration_ms {
            self.clear_gop();
            return;
        }
        self.gop.push(item.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::Tag;
    use crate::stream::test_tags::*;

    fn cache(tags: Vec<Tag>, limits: CacheLimits) -> Start<Tag> {
        let mut c = GopCache::new(limits);
        for t in &tags {
            c.push(t);
        }
        c.start()
    }

    fn shape(start: &Start<Tag>) -> Vec<(Role, u32)> {
        start
            .burst
            .iter()
            .map(|t| (t.role(), t.timestamp))
            .collect()
    }

    #[test]
    fn the_burst_is_headers_and_the_gop_since_the_last_keyframe() {
        let start = cache(
            vec![
                video(AVC_HEADER, 0),
                audio(AAC_HEADER, 0),
                script(0),
                video(AVC_KEY, 0),
                video(AVC_INTER, 40),
                video(AVC_KEY, 80),
                audio(AAC_FRAME, 90),
                video(AVC_INTER, 120),
            ],
            CacheLimits::default(),
        );
        use Role::*;
        assert_eq!(
            shape(&start),
            [
                (Metadata, 0),
                (VideoHeader, 0),
                (AudioHeader, 0),
                (Keyframe, 80),
                (Frame, 90),
                (Frame, 120)
            ]
        );
        assert!(!start.skip_to_keyframe);
    }

    #[test]
    fn a_gop_past_its_duration_is_dropped_and_viewers_skip_to_a_keyframe() {
        let mut tags = vec![video(AVC_HEADER, 0), video(AVC_KEY, 0)];
        tags.extend((1..10).map(|i| video(AVC_INTER, i * 40)));
        let limits = CacheLimits {
            duration_ms: 200,
            ..CacheLimits::default()
        };
        let start = cache(tags, limits);
        assert_eq!(shape(&start), [(Role::VideoHeader, 0)]);
        assert!(start.skip_to_keyframe);
    }

    #[test]
    fn a_gop_past_its_size_is_dropped() {
        let mut tags = vec![video(AVC_HEADER, 0), video(AVC_KEY, 0)];
        tags.extend((1..10).map(|i| video(AVC_INTER, i * 40)));
        let limits = CacheLimits {
            bytes: 4 * AVC_INTER.len(),
            ..CacheLimits::default()
        };
        assert_eq!(cache(tags, limits).burst.len(), 1);
    }

    #[test]
    fn frames_before_the_first_keyframe_are_not_cached() {
        let start = cache(
            vec![video(AVC_HEADER, 0), video(AVC_INTER, 0)],
            CacheLimits::default(),
        );
        assert_eq!(shape(&start), [(Role::VideoHeader, 0)]);
        assert!(start.skip_to_keyframe);
    }

    #[test]
    fn audio_only_streams_cache_everything_and_never_skip() {
        let start = cache(
            vec![
                audio(AAC_HEADER, 0),
                audio(AAC_FRAME, 0),
                audio(AAC_FRAME, 23),
            ],
            CacheLimits::default(),
        );
        assert_eq!(start.burst.len(), 3);
        assert!(!start.skip_to_keyframe);
    }

    #[test]
    fn a_headerless_codec_starts_at_its_keyframe_once_one_was_seen() {
        let mut c = GopCache::new(CacheLimits {
            duration_ms: 100,
            ..CacheLimits::default()
        });
        for t in [
            video(VP6_KEY, 0),
            video(VP6_INTER, 40),
            video(VP6_INTER, 200),
        ] {
            c.push(&t);
        }
        // The GOP outgrew its limit: the next inter frame is not a start.
        c.push(&video(VP6_INTER, 240));
        let start = c.start();
        assert!(start.burst.is_empty());
        assert!(start.skip_to_keyframe);
    }

    #[test]
    fn a_new_session_keeps_headers_and_drops_the_gop() {
        let mut c = GopCache::new(CacheLimits::default());
        for t in [script(0), video(AVC_HEADER, 0), video(AVC_KEY, 0)] {
            c.push(&t);
        }
        c.clear_gop();
        let start = c.start();
        assert_eq!(start.burst.len(), 2);
        assert!(start.skip_to_keyframe);
    }
}
