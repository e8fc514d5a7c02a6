//! One channel's live stream: the timeline and the cache together, and a viewer's
//! catch-up after a gap.

use crate::flv::Tag;

use super::{CacheLimits, GopCache, Media, Role, Start, Timeline};

/// A channel's stream across upstream sessions: each tag placed on the forward-going
/// [`Timeline`], then kept in the [`GopCache`] for viewers to come.
#[derive(Debug, Clone)]
pub struct LiveStream<T> {
    timeline: Timeline,
    cache: GopCache<T>,
}

impl<T: Media + Clone> LiveStream<T> {
    pub fn new(limits: CacheLimits) -> Self {
        LiveStream {
            timeline: Timeline::new(),
            cache: GopCache::new(limits),
        }
    }

    /// A new upstream session starts: it continues the timeline, not the GOP (nor the
    /// tracks it does not send again: [`GopCache::begin_session`]).
    pub fn begin_session(&mut self) {
        self.timeline.new_session();
        self.cache.begin_session();
    }

    /// The upstream session ended: its GOP is released (a source that never comes back
    /// must not hold megabytes); metadata and headers stay for viewers waiting for the
    /// next session.
    pub fn end_session(&mut self) {
        self.cache.clear_gop();
    }

    /// Takes a tag of the current session: puts it on the timeline, has `wrap` make the
    /// item viewers get of it (e.g. the tag with its bytes encoded once), caches that
    /// and returns it.
    pub fn push(&mut self, tag: Tag, wrap: impl FnOnce(Tag, Role) -> T) -> T {
        let role = Role::of(&tag);
        let timestamp = self.timeline.map(tag.timestamp, role);
        let item = wrap(Tag { timestamp, ..tag }, role);
        self.cache.push(&item);
        item
    }

    /// What a new viewer gets first.
    pub fn start(&self) -> Start<T> {
        self.cache.start()
    }
}

/// A viewer catching up after a gap (it joined with no GOP cached, or fell behind):
/// coded frames are skipped until the next keyframe. Headers and metadata still pass,
/// so a skipping viewer keeps up with codec changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkipToKeyframe {
    skipping: bool,
}

impl SkipToKeyframe {
    pub fn new(skipping: bool) -> Self {
        SkipToKeyframe { skipping }
    }

    /// The viewer lost items: skip until the next keyframe.
    pub fn gap(&mut self) {
        self.skipping = true;
    }

    /// Whether the viewer gets an item of `role`.
    pub fn admit(&mut self, role: Role) -> bool {
        if self.skipping {
            match role {
                Role::Keyframe => self.skipping = false,
                Role::Frame => return false,
                _ => {}
            }
        }
        true
    }

    pub fn is_skipping(self) -> bool {
        self.skipping
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::test_tags::*;

    #[test]
    fn a_stream_continues_across_sessions_and_starts_viewers_at_the_gop() {
        let mut s = LiveStream::new(CacheLimits::default());
        s.begin_session();
        for t in [
            video(AVC_HEADER, 0),
            video(AVC_KEY, 5000),
            video(AVC_INTER, 5040),
        ] {
            s.push(t, |t, _| t);
        }
        s.begin_session();
        let start = s.start();
        assert_eq!(start.burst.len(), 1, "the header stays, the GOP goes");
        assert!(start.skip_to_keyframe);
        let out: Vec<u32> = [
            video(AVC_HEADER, 0),
            video(AVC_KEY, 100),
            audio(AAC_FRAME, 90),
        ]
        .into_iter()
        .map(|t| s.push(t, |t, _| t).timestamp)
        .collect();
        assert_eq!(out, [80, 80, 80]);
        let burst: Vec<u32> = s.start().burst.iter().map(|t| t.timestamp).collect();
        assert_eq!(burst, [80, 80, 80]);
    }

    #[test]
    fn push_hands_wrap_the_role() {
        let mut s = LiveStream::<Tag>::new(CacheLimits::default());
        let mut seen = None;
        s.push(video(AVC_KEY, 0), |t, role| {
            seen = Some(role);
            t
        });
        assert_eq!(seen, Some(Role::Keyframe));
    }

    #[test]
    fn a_skipping_viewer_passes_headers_and_resumes_at_a_keyframe() {
        let mut skip = SkipToKeyframe::new(false);
        assert!(skip.admit(Role::Frame));
        skip.gap();
        assert!(!skip.admit(Role::Frame));
        assert!(skip.admit(Role::VideoHeader));
        assert!(skip.is_skipping());
        assert!(skip.admit(Role::Keyframe));
        assert!(skip.admit(Role::Frame));
    }
}
