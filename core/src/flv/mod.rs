//! FLV: file header, tags, an incremental reader and a writer, and the audio and
//! video tag headers (legacy and Enhanced RTMP).
//!
//! References: Adobe Flash Video File Format Specification v10.1, annex E
//! ("FLV spec" below), and Veovera Enhanced RTMP v1/v2 ("E-RTMP" below).

mod audio;
mod reader;
mod video;
mod writer;

#[cfg(test)]
mod tests;

pub use audio::{AudioCodec, AudioPacket, AudioTag};
pub use reader::{DEFAULT_MAX_TAG_SIZE, FlvReader, Item, MAX_DATA_OFFSET};
pub use video::{FrameType, VideoCodec, VideoPacket, VideoTag};
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

/// Big-endian FourCC as a `u32`, the form [`AudioCodec::Other`] and
/// [`VideoCodec::Other`] carry.
pub const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*code)
}

/// A bounds-checked reader over a tag body for the audio and video tag headers:
/// every read names what it was reading so a short tag gives a precise error.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FlvError> {
        let bytes = self
            .data
            .get(self.pos..)
            .and_then(|rest| rest.get(..N))
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| FlvError::Truncated {
                what,
                offset: self.pos,
                needed: N,
                available: self.remaining(),
            })?;
        self.pos += N;
        Ok(bytes)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, FlvError> {
        let [b] = self.take::<1>(what)?;
        Ok(b)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, FlvError> {
        Ok(u16::from_be_bytes(self.take::<2>(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, FlvError> {
        Ok(u32::from_be_bytes(self.take::<4>(what)?))
    }

    /// SI24: 24-bit big-endian two's complement (FLV spec E.4.3.1 CompositionTime).
    fn si24(&mut self, what: &'static str) -> Result<i32, FlvError> {
        let [a, b, c] = self.take::<3>(what)?;
        // Place the 24 bits at the top of an i32, then shift back arithmetically
        // so bit 23 becomes the sign.
        Ok(i32::from_be_bytes([a, b, c, 0]) >> 8)
    }

    fn skip(&mut self, n: usize, what: &'static str) -> Result<(), FlvError> {
        if n > self.remaining() {
            return Err(FlvError::Truncated {
                what,
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        self.pos += n;
        Ok(())
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
}

/// Most ModEx modifiers one packet may carry before we call it malformed. The
/// spec defines one modifier type (TimestampOffsetNano), so a handful is plenty;
/// the bound keeps a hostile tag from making us loop over thousands of them.
const MAX_MOD_EX: usize = 8;

/// Skips the E-RTMP v2 ModEx modifiers that follow a packet type of ModEx (7) and
/// returns the real packet type and the offset of the byte holding it.
///
/// Per modifier: `modExDataSize = UI8 + 1`, and if that is 256 then
/// `modExDataSize = UI16 + 1`; `modExData = UI8[modExDataSize]`; then one byte
/// holding `PacketModExType` (high nibble, ignored: we do not apply the
/// nanosecond timestamp offset) and the next packet type (low nibble).
fn skip_mod_ex(
    c: &mut Cursor<'_>,
    media: &'static str,
    mut packet_type: u8,
    mut packet_type_pos: usize,
) -> Result<(u8, usize), FlvError> {
    const MOD_EX: u8 = 7;
    let mut count = 0;
    while packet_type == MOD_EX {
        if count == MAX_MOD_EX {
            return Err(FlvError::TooManyModifiers {
                media,
                offset: packet_type_pos,
                limit: MAX_MOD_EX,
            });
        }
        count += 1;
        let mut size = usize::from(c.u8("ModEx data size")?) + 1;
        if size == 256 {
            size = usize::from(c.u16("ModEx data size (16-bit)")?) + 1;
        }
        c.skip(size, "ModEx data")?;
        packet_type_pos = c.pos;
        packet_type = c.u8("ModEx type and packet type")? & 0x0f;
    }
    Ok((packet_type, packet_type_pos))
}
