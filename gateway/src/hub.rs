//! Channels: what a new viewer needs to start at once (metadata, sequence headers,
//! the GOP since the last keyframe), and the live fan-out of tags.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use flashless_core::flv::{AudioPacket, AudioTag, Tag, TagType, VideoPacket, VideoTag};
use tokio::sync::broadcast;

/// Tags a viewer may fall behind by before it skips to the next keyframe.
const VIEWER_QUEUE: usize = 1024;
/// The cached GOP is dropped past this size: a source with no keyframes must not grow memory.
const MAX_GOP_BYTES: usize = 16 << 20;

#[derive(Debug, Clone)]
pub enum Feed {
    Tag(Tag),
    /// The publisher left; viewers stay and wait for the next one.
    Unpublished,
}

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, Arc<Channel>>>,
}

impl Hub {
    pub fn channel(&self, name: &str) -> Arc<Channel> {
        lock(&self.channels)
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Channel::new()))
            .clone()
    }
}

pub struct Channel {
    state: Mutex<State>,
    feed: broadcast::Sender<Feed>,
}

#[derive(Default)]
struct State {
    publisher: bool,
    metadata: Option<Tag>,
    video_header: Option<Tag>,
    audio_header: Option<Tag>,
    gop: Vec<Tag>,
    gop_bytes: usize,
}

impl Channel {
    fn new() -> Self {
        Channel {
            state: Mutex::new(State::default()),
            feed: broadcast::channel(VIEWER_QUEUE).0,
        }
    }

    /// Claims the channel for a publisher; false when another one holds it.
    pub fn start_publishing(&self) -> bool {
        let mut s = lock(&self.state);
        if s.publisher {
            return false;
        }
        *s = State {
            publisher: true,
            ..State::default()
        };
        true
    }

    pub fn stop_publishing(&self) {
        lock(&self.state).publisher = false;
        let _ = self.feed.send(Feed::Unpublished);
    }

    pub fn publish(&self, tag: Tag) {
        let mut s = lock(&self.state);
        match tag.tag_type {
            TagType::Script => s.metadata = Some(tag.clone()),
            TagType::Video => match VideoTag::parse(&tag.data) {
                Ok(v) if v.packet == VideoPacket::SequenceStart => {
                    s.video_header = Some(tag.clone())
                }
                Ok(v) if v.is_keyframe() => {
                    s.gop.clear();
                    s.gop_bytes = 0;
                    s.cache(&tag);
                }
                _ => s.cache(&tag),
            },
            TagType::Audio => match AudioTag::parse(&tag.data) {
                Ok(a) if a.packet == AudioPacket::SequenceStart => {
                    s.audio_header = Some(tag.clone())
                }
                _ => s.cache(&tag),
            },
        }
        // Sent under the lock so a subscriber sees each tag exactly once: in its start or live.
        let _ = self.feed.send(Feed::Tag(tag));
    }

    /// What a new viewer is sent first, and the live feed after it.
    pub fn subscribe(&self) -> (Vec<Tag>, broadcast::Receiver<Feed>) {
        let s = lock(&self.state);
        let start = s
            .metadata
            .iter()
            .chain(&s.video_header)
            .chain(&s.audio_header)
            .chain(&s.gop)
            .cloned()
            .collect();
        (start, self.feed.subscribe())
    }
}

impl State {
    fn cache(&mut self, tag: &Tag) {
        // Until the first keyframe there is nothing decodable to cache.
        if self.gop.is_empty() && tag.tag_type == TagType::Audio {
            return;
        }
        self.gop_bytes += tag.data.len();
        if self.gop_bytes > MAX_GOP_BYTES {
            self.gop.clear();
            self.gop_bytes = 0;
            return;
        }
        if !self.gop.is_empty() || tag.tag_type == TagType::Video {
            self.gop.push(tag.clone());
        }
    }
}

/// A poisoned lock only means another task panicked mid-update; the cache is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
