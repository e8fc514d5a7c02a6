//! Incremental FLV reader (FLV spec E.2, E.3, E.4.1): bytes in, header and tags out.

use bytes::{Buf, BytesMut};

use super::{FlvError, Header, Tag, TagType};

/// Default bound on a tag's DataSize. The field is 24 bits, so this admits every
/// tag the format can express; lower it with [`FlvReader::with_max_tag_size`].
pub const DEFAULT_MAX_TAG_SIZE: u32 = 16 * 1024 * 1024;

/// Largest FLV header DataOffset accepted. Version 1 headers are 9 bytes; a
/// larger value would mean a future header extension, which we skip, but only up
/// to this many bytes so a corrupt field cannot make us swallow a whole stream.
pub const MAX_DATA_OFFSET: u32 = 1024 * 1024;

const FILE_HEADER_LEN: usize = 9;
const TAG_HEADER_LEN: usize = 11;
const PREVIOUS_TAG_SIZE_LEN: usize = 4;

/// What [`FlvReader::poll_item`] produces, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Header(Header),
    Tag(Tag),
}

#[derive(Debug)]
enum State {
    /// Waiting for the 9-byte file header.
    FileHeader,
    /// Skipping header bytes past the 9 we understand (DataOffset > 9).
    SkipHeader { remaining: u32 },
    /// Waiting for a PreviousTagSize field. `expected` is 0 for PreviousTagSize0,
    /// else 11 + DataSize of the tag just read.
    PreviousTagSize { expected: u32 },
    /// Waiting for a tag header and its data.
    Tag,
    /// A malformed stream: every later call returns this error again.
    Failed(FlvError),
}

/// An incremental, sans-IO FLV reader.
///
/// Push bytes in whatever pieces they arrive; [`poll_item`](Self::poll_item)
/// returns the same items for any split. Tag data is split off the internal
/// buffer without copying.
///
/// Strictness: anything malformed (bad signature, unknown tag type, encrypted
/// tag, oversize tag) is an error naming its byte offset, and the reader stays
/// failed. It never scans forward for something that looks like a tag: in a
/// live stream a guessed resync point delivers garbage to the decoder.
///
/// PreviousTagSize: a value that disagrees with the tag just read is accepted
/// and only counted (see [`previous_tag_size_mismatches`](Self::previous_tag_size_mismatches)).
/// Several muxers write wrong values (0, or the size without the 11-byte
/// header), and the field is redundant for a forward reader: DataSize alone
/// frames the tags. We still do not use the field to resync.
#[derive(Debug)]
pub struct FlvReader {
    buf: BytesMut,
    /// Stream offset of `buf[0]`.
    offset: u64,
    state: State,
    max_tag_size: u32,
    mismatches: u64,
}

impl Default for FlvReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvReader {
    /// A reader for a whole FLV stream: the 9-byte file header, PreviousTagSize0,
    /// then tags each followed by its PreviousTagSize.
    pub fn new() -> Self {
        FlvReader {
            buf: BytesMut::new(),
            offset: 0,
            state: State::FileHeader,
            max_tag_size: DEFAULT_MAX_TAG_SIZE,
            mismatches: 0,
        }
    }

    /// A reader for a stream that starts directly with a tag (no file header and
    /// no PreviousTagSize0), each tag followed by its PreviousTagSize: what a
    /// sequence of [`write_tag`](super::write_tag) calls produces.
    pub fn tags_only() -> Self {
        FlvReader {
            state: State::Tag,
            ..Self::new()
        }
    }

    /// Tags whose DataSize exceeds `limit` are rejected before any of their data
    /// is buffered.
    pub fn with_max_tag_size(mut self, limit: u32) -> Self {
        self.max_tag_size = limit;
        self
    }

    /// Appends bytes from the stream.
    pub fn feed(&mut self, data: &[u8]) {
        if matches!(self.state, State::Failed(_)) {
            // Nothing more will be read; do not grow the buffer.
            return;
        }
        self.buf.extend_from_slice(data);
    }

    /// Stream offset of the next unread byte: after an error, the start of the
    /// structure that failed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many PreviousTagSize fields disagreed with the tag before them.
    pub fn previous_tag_size_mismatches(&self) -> u64 {
        self.mismatches
    }

    /// The next header or tag; `Ok(None)` means more bytes are needed.
    pub fn poll_item(&mut self) -> Result<Option<Item>, FlvError> {
        match self.step() {
            Err(e) => {
                self.state = State::Failed(e.clone());
                self.buf = BytesMut::new();
                Err(e)
            }
            ok => ok,
        }
    }

    fn step(&mut self) -> Result<Option<Item>, FlvError> {
        loop {
            match self.state {
                State::Failed(ref e) => return Err(e.clone()),
                State::FileHeader => return self.read_file_header(),
                State::SkipHeader { remaining } => {
                    // u32 -> usize is lossless on every target we build for.
                    let n = self.buf.len().min(remaining as usize);
                    self.consume(n);
                    // n <= remaining, so it fits a u32 and does not underflow.
                    let left = remaining.saturating_sub(n as u32);
                    if left > 0 {
                        self.state = State::SkipHeader { remaining: left };
                        return Ok(None);
                    }
                    self.state = State::PreviousTagSize { expected: 0 };
                }
                State::PreviousTagSize { expected } => {
                    let Some(field) = self.peek::<PREVIOUS_TAG_SIZE_LEN>() else {
                        return Ok(None);
                    };
                    if u32::from_be_bytes(field) != expected {
                        self.mismatches += 1;
                    }
                    self.consume(PREVIOUS_TAG_SIZE_LEN);
                    self.state = State::Tag;
                }
                State::Tag => return self.read_tag(),
            }
        }
    }

    /// FLV spec E.2: "FLV", version UI8, TypeFlags UI8 (bit 2 audio, bit 0
    /// video, the rest reserved and ignored), DataOffset UI32.
    fn read_file_header(&mut self) -> Result<Option<Item>, FlvError> {
        // Check the signature as soon as its bytes arrive, so a stream that is not
        // FLV fails at once rather than after 9 bytes.
        let have = self.buf.len().min(3);
        if self.buf.get(..have) != b"FLV".get(..have) {
            return Err(FlvError::BadSignature {
                offset: self.offset,
            });
        }
        let Some([_, _, _, version, flags, o0, o1, o2, o3]) = self.peek::<FILE_HEADER_LEN>() else {
            return Ok(None);
        };
        if version != 1 {
            return Err(FlvError::UnsupportedVersion {
                offset: self.offset + 3,
                version,
            });
        }
        let data_offset = u32::from_be_bytes([o0, o1, o2, o3]);
        if !(9..=MAX_DATA_OFFSET).contains(&data_offset) {
            return Err(FlvError::BadDataOffset {
                offset: self.offset + 5,
                data_offset,
                limit: MAX_DATA_OFFSET,
            });
        }
        let header = Header {
            has_audio: flags & 0x04 != 0,
            has_video: flags & 0x01 != 0,
        };
        self.consume(FILE_HEADER_LEN);
        self.state = State::SkipHeader {
            remaining: data_offset - 9,
        };
        Ok(Some(Item::Header(header)))
    }

    /// FLV spec E.4.1: Reserved UB[2], Filter UB[1], TagType UB[5], DataSize UI24,
    /// Timestamp UI24, TimestampExtended UI8 (the top 8 bits), StreamID UI24
    /// (always 0; not checked), then DataSize bytes of data.
    fn read_tag(&mut self) -> Result<Option<Item>, FlvError> {
        // Validate the type byte and the size as soon as they arrive.
        let Some([type_byte]) = self.peek::<1>() else {
            return Ok(None);
        };
        if type_byte & 0x20 != 0 {
            return Err(FlvError::EncryptedTag {
                offset: self.offset,
            });
        }
        let tag_type = match TagType::from_u8(type_byte) {
            // A set reserved bit (0xC0) also lands here: from_u8 sees the whole byte.
            Some(t) => t,
            None => {
                return Err(FlvError::UnknownTagType {
                    offset: self.offset,
                    tag_type: type_byte,
                });
            }
        };
        let Some([_, s0, s1, s2]) = self.peek::<4>() else {
            return Ok(None);
        };
        let size = u32::from_be_bytes([0, s0, s1, s2]);
        if size > self.max_tag_size {
            return Err(FlvError::TagTooLarge {
                offset: self.offset + 1,
                len: size,
                limit: self.max_tag_size,
            });
        }
        let Some([_, _, _, _, t0, t1, t2, t3, _, _, _]) = self.peek::<TAG_HEADER_LEN>() else {
            return Ok(None);
        };
        let timestamp = u32::from_be_bytes([t3, t0, t1, t2]);
        // size <= max_tag_size, a u32; usize is at least 32 bits on our targets.
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let total = TAG_HEADER_LEN.saturating_add(size);
        if self.buf.len() < total {
            // Reserve once for the whole tag instead of growing piecemeal.
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        self.consume(TAG_HEADER_LEN);
        let data = self.buf.split_to(size).freeze();
        self.offset += size as u64;
        self.state = State::PreviousTagSize {
            expected: u32::try_from(total).unwrap_or(u32::MAX),
        };
        Ok(Some(Item::Tag(Tag {
            tag_type,
            timestamp,
            data,
        })))
    }

    fn peek<const N: usize>(&self) -> Option<[u8; N]> {
        self.buf.get(..N).and_then(|s| <[u8; N]>::try_from(s).ok())
    }

    /// Drops `n` buffered bytes; callers have checked `n <= buf.len()`.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.advance(n);
        self.offset += n as u64;
    }
}

#[cfg(test)]
mod tests;
