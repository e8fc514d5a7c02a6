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
    /// The last session's video and audio, not yet sent again by this one (a header, or
    /// for video a keyframe): see [`GopCache::begin_session`].
    stale: [bool; 2],
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
            stale: [false; 2],
        }
    }

    /// Takes in the next item of the stream.
    pub fn push(&mut self, item: &T) {
        match item.role() {
            Role::Metadata => self.metadata = Some(item.clone()),
            Role::VideoHeader => {
                self.has_video = true;
                self.stale[0] = false;
                self.video_header = Some(item.clone());
            }
            Role::AudioHeader => {
                self.stale[1] = false;
                self.audio_header = Some(item.clone());
            }
            Role::Keyframe => {
                self.stale[0] = false;
                self.drop_stale();
                self.clear_gop();
                self.add_frame(item);
                self.has_video = true;
            }
            Role::Frame => {
                self.drop_stale();
                self.add_frame(item);
            }
        }
    }

    /// A new upstream session starts: its GOP is its own, and so are its tracks. The
    /// last session's headers stay for viewers who join before its first frame, and go
    /// then unless sent again: a publisher back without video must not leave viewers a
    /// video header whose frames never come (a player waits for them, and this cache,
    /// for a keyframe, would hold no sound for them).
    pub fn begin_session(&mut self) {
        self.clear_gop();
        self.stale = [self.has_video, self.audio_header.is_some()];
    }

    fn drop_stale(&mut self) {
        if self.stale[0] {
            self.video_header = None;
            self.has_video = false;
        }
        if self.stale[1] {
            self.audio_header = None;
        }
        self.stale = [false; 2];
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
    fn a_new_session_without_video_drops_the_last_sessions_video_header_at_its_first_frame() {
        let mut c = GopCache::new(CacheLimits::default());
        for t in [
            script(0),
            video(AVC_HEADER, 0),
            audio(AAC_HEADER, 0),
            video(AVC_KEY, 0),
        ] {
            c.push(&t);
        }
        c.begin_session();
        // A viewer joining before the new session's first frame still gets the last headers.
        assert_eq!(c.start().burst.len(), 3);
        for t in [
            audio(AAC_HEADER, 100),
            audio(AAC_FRAME, 100),
            audio(AAC_FRAME, 123),
        ] {
            c.push(&t);
        }
        let start = c.start();
        use Role::*;
        assert_eq!(
            shape(&start),
            [
                (Metadata, 0),
                (AudioHeader, 100),
                (Frame, 100),
                (Frame, 123)
            ]
        );
        assert!(!start.skip_to_keyframe);
    }

    #[test]
    fn a_new_session_that_sends_its_headers_again_keeps_both_tracks() {
        let mut c = GopCache::new(CacheLimits::default());
        for t in [
            video(AVC_HEADER, 0),
            audio(AAC_HEADER, 0),
            video(AVC_KEY, 0),
        ] {
            c.push(&t);
        }
        c.begin_session();
        for t in [
            video(AVC_HEADER, 100),
            audio(AAC_HEADER, 100),
            video(AVC_KEY, 100),
            audio(AAC_FRAME, 100),
        ] {
            c.push(&t);
        }
        use Role::*;
        assert_eq!(
            shape(&c.start()),
            [
                (VideoHeader, 100),
                (AudioHeader, 100),
                (Keyframe, 100),
                (Frame, 100)
            ]
        );
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
