//! FLV: file header, tags, an incremental reader and a writer, and the audio and
//! video tag headers (legacy and Enhanced RTMP).

use bytes::Bytes;

/// FLV tag type (FLV spec E.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagType {
    Audio = 8,
    Video = 9,
    Script = 18,
}

/// One FLV tag: the unit that travels from RTMP messages to files, WebSockets and the remuxer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub tag_type: TagType,
    /// Milliseconds, 32 bits (the FLV header's 24 bits plus the extension byte).
    pub timestamp: u32,
    /// The tag body, starting with the audio/video tag header; shared, never copied.
    pub data: Bytes,
}
