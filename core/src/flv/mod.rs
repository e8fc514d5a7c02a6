//! FLV: file header, tags, an incremental reader and a writer, and the audio and
//! video tag headers (legacy and Enhanced RTMP).
//!
//! References: Adobe Flash Video File Format Specification v10.1, annex E
//! ("FLV spec" below), and Veovera Enhanced RTMP v1/v2 ("E-RTMP" below).

mod reader;
mod writer;


pub use reader::{DEFAULT_MAX_TAG_SIZE, FlvReader, Item, MAX_DATA_OFFSET};
pub use writer::{tag_len, write_header, write_tag};

use bytes::Bytes;

/// FLV tag type (FLV spec E.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagType {
    Audio = 8,
    Video = 9,
    Script = 18,
}

impl TagType {
    /// The tag type for the 5-bit TagType field, or `None` for values the FLV spec
    /// does not define.
    pub fn from_u8(v: u8) -> Option<TagType> {
        match v {
            8 => Some(TagType::Audio),
            9 => Some(TagType::Video),
            18 => Some(TagType::Script),
            _ => None,
        }
    }
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

/// The FLV file header's TypeFlags (FLV spec E.2). They are advisory: players
/// look at the tags actually present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub has_audio: bool,
    pub has_video: bool,
}

/// Why an FLV stream or a tag header could not be read.
///
/// Stream errors (from [`FlvReader`]) carry `offset: u64`, the byte offset in the
/// file or stream where the bad field starts. Tag-header errors (from
/// [`AudioTag::parse`] and [`VideoTag::parse`]) carry `offset: usize`, the byte
/// offset within [`Tag::data`].
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum FlvError {
    #[error("byte {offset}: not an FLV stream (signature is not \"FLV\")")]
    BadSignature { offset: u64 },
    #[error("byte {offset}: unsupported FLV version {version} (only version 1 exists)")]
    UnsupportedVersion { offset: u64, version: u8 },
    #[error("byte {offset}: FLV header DataOffset {data_offset} is outside 9..={limit}")]
    BadDataOffset {
        offset: u64,
        data_offset: u32,
        limit: u32,
    },
    #[error("byte {offset}: tag DataSize {len} exceeds the limit of {limit} bytes")]
    TagTooLarge { offset: u64, len: u32, limit: u32 },
    /// `tag_type` is the whole first byte of the tag header: a value outside
    /// 8/9/18 or a set reserved bit (FLV spec E.4.1 says they must be 0).
    #[error("byte {offset}: unknown FLV tag type byte {tag_type:#04x}")]
    UnknownTagType { offset: u64, tag_type: u8 },
    #[error("byte {offset}: tag has the Filter bit set (encrypted tag), which is not supported")]
    EncryptedTag { offset: u64 },
    #[error("tag data byte {offset}: truncated {what}: needs {needed} bytes, {available} left")]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// E-RTMP v2 multitrack audio or video (packet type Multitrack).
    #[error("tag data byte {offset}: Enhanced RTMP {media} multitrack packets are not supported")]
    UnsupportedMultitrack { media: &'static str, offset: usize },
    #[error("tag data byte {offset}: more than {limit} Enhanced RTMP {media} ModEx modifiers")]
    TooManyModifiers {
        media: &'static str,
        offset: usize,
        limit: usize,
    },
    /// Video FrameType 0, 6 or 7: reserved (FLV spec E.4.3.1, E-RTMP VideoFrameType).
    #[error("tag data byte {offset}: reserved video frame type {frame_type}")]
    UnknownFrameType { offset: usize, frame_type: u8 },
}
