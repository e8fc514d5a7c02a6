//! A live stream as plain data: what each tag is to a viewer ([`Role`]), one timeline
//! that only goes forward across upstream sessions ([`Timeline`]), the gate that makes
//! a session's start decodable ([`StartGate`]), and what a new viewer gets first
//! ([`GopCache`], [`Start`]) and then skips while it catches up ([`SkipToKeyframe`]).
//! [`LiveStream`] puts the timeline and the cache together for one channel,
//! [`Pace`] holds a source that sends faster than real time to real time, and a
//! [`Bucket`] (what `Pace` is made of) holds anything counted to a rate.
//!
//! No clocks here: durations are tag-timestamp milliseconds. The gateway's hub is the
//! tokio layer over this (a lock, a broadcast, counters); `dump`, `probe` and the file
//! loop use the same pieces.

mod bucket;
mod cache;
mod gate;
mod live;
mod pace;
mod role;
mod timeline;

use alloc::sync::Arc;

use crate::flv::Tag;

pub use bucket::Bucket;
pub use cache::{CacheLimits, GopCache, Start};
pub use gate::StartGate;
pub use live::{LiveStream, SkipToKeyframe};
pub use pace::Pace;
pub use role::{Role, has_sequence_header};
pub use timeline::{SESSION_GAP_MS, Timeline};

/// What the cache needs to know of an item it holds. The gateway caches a tag with its
/// FLV bytes encoded once (behind an `Arc`, so every viewer shares them); tests cache
/// plain [`Tag`]s.
pub trait Media {
    fn role(&self) -> Role;
    /// On the stream's timeline.
    fn timestamp(&self) -> u32;
    /// Bytes it holds, counted against [`CacheLimits::bytes`].
    fn size(&self) -> usize;
}

impl Media for Tag {
    fn role(&self) -> Role {
        Role::of(self)
    }

    fn timestamp(&self) -> u32 {
        self.timestamp
    }

    fn size(&self) -> usize {
        self.data.len()
    }
}

impl<T: Media + ?Sized> Media for Arc<T> {
    fn role(&self) -> Role {
        (**self).role()
    }

    fn timestamp(&self) -> u32 {
        (**self).timestamp()
    }

    fn size(&self) -> usize {
        (**self).size()
    }
}

#[cfg(test)]
pub(crate) mod test_tags {
    use bytes::Bytes;

    use crate::flv::{Tag, TagType};

    pub const AVC_HEADER: &[u8] = &[0x17, 0, 0, 0, 0];
    pub const AVC_KEY: &[u8] = &[0x17, 1, 0, 0, 0];
    pub const AVC_INTER: &[u8] = &[0x27, 1, 0, 0, 0];
    pub const AAC_HEADER: &[u8] = &[0xaf, 0];
    pub const AAC_FRAME: &[u8] = &[0xaf, 1];
    /// VP6 (codec 4): no sequence header; a keyframe, then an inter frame.
    pub const VP6_KEY: &[u8] = &[0x14, 0, 0];
    pub const VP6_INTER: &[u8] = &[0x24, 0, 0];

    pub fn tag(tag_type: TagType, body: &'static [u8], timestamp: u32) -> Tag {
        Tag {
            tag_type,
            timestamp,
            data: Bytes::from_static(body),
        }
    }

    pub fn video(body: &'static [u8], timestamp: u32) -> Tag {
        tag(TagType::Video, body, timestamp)
    }

    pub fn audio(body: &'static [u8], timestamp: u32) -> Tag {
        tag(TagType::Audio, body, timestamp)
    }

    pub fn script(timestamp: u32) -> Tag {
        tag(TagType::Script, &[2, 0, 0], timestamp)
    }
}
