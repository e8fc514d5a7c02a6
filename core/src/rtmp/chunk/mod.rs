//! The RTMP chunk stream (RTMP 1.0 spec §5.3): splitting messages into chunks
//! and reassembling them, sans-IO.
//!
//! [`ChunkDecoder`] buffers received bytes and yields whole [`RawMessage`]s;
//! [`ChunkEncoder`] appends the chunks of one message to an output buffer.
//! Neither does any I/O, and nothing here panics on bytes from a peer.

mod decoder;
mod encoder;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

pub use decoder::ChunkDecoder;
pub use encoder::{ChunkEncoder, Chunked};

use bytes::Bytes;

/// Chunk size both directions start with (§5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size a Set Chunk Size message can carry: the top bit of the
/// 32-bit field must be zero (§5.4.1).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// Largest message length the 3-byte length field can carry (§5.3.1.2.1).
pub const MAX_MESSAGE_LEN: u32 = 0xFF_FFFF;
/// Smallest and largest chunk stream ids the basic header can carry (§5.3.1.1).
pub const MIN_CSID: u32 = 2;
/// See [`MIN_CSID`].
pub const MAX_CSID: u32 = 65599;
/// Chunk stream id reserved for protocol control messages (§5.4).
pub const CONTROL_CSID: u32 = 2;
/// Message type id of Set Chunk Size (§5.4.1).
pub const TYPE_SET_CHUNK_SIZE: u8 = 1;
/// Message type id of Abort Message (§5.4.2).
pub const TYPE_ABORT: u8 = 2;

/// The 3-byte timestamp field value that announces an extended timestamp
/// (§5.3.1.3).
pub(crate) const EXTENDED_MARKER: u32 = 0xFF_FFFF;

/// One reassembled RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Chunk stream id the message travelled on (2..=65599).
    pub csid: u32,
    /// Absolute timestamp in milliseconds; wraps at 2^32 (§3).
    pub timestamp: u32,
    /// Message type id (§5.4, §7.1).
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// Message payload.
    pub payload: Bytes,
}

/// Resource limits of a [`ChunkDecoder`]; they bound the memory a peer can
/// make us hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Largest accepted message length, checked when a message's first chunk
    /// header arrives, before any of its payload is buffered. Default 16 MiB
    /// (more than the 3-byte length field can express, so no limit in effect).
    pub max_message_len: u32,
    /// How many chunk stream ids one connection may use. Each keeps its last
    /// header (and any partial message) for the connection's life, so this
    /// bounds that state; encoders use a handful. Default 64.
    pub max_chunk_streams: usize,
    /// Total bytes held in partially received messages across all chunk
    /// streams. Default 32 MiB. Should be at least `max_message_len`, or
    /// multi-chunk messages near the length limit can never complete.
    pub max_buffered: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_message_len: 16 * 1024 * 1024,
            max_chunk_streams: 64,
            max_buffered: 32 * 1024 * 1024,
        }
    }
}

/// A chunk stream protocol violation or an exceeded limit. `offset` is the
/// position in the received byte stream (bytes pushed since the decoder was
/// created) of the first byte of the chunk at fault.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ChunkError {
    /// A message header announced a length above the limit.
    #[error("message of {len} bytes on chunk stream {csid} exceeds the limit of {limit}")]
    MessageTooLarge { csid: u32, len: u32, limit: u32 },
    /// The first chunk seen on a chunk stream has no full (type 0) header, so
    /// there is no previous header to take the missing fields from (§5.3.1.2).
    #[error("first chunk on chunk stream {csid} has fmt {fmt}, expected 0 (at byte {offset})")]
    FirstChunkNotType0 { csid: u32, fmt: u8, offset: u64 },
    /// A chunk with a message header (fmt 0/1/2) arrived while a message on the
    /// same chunk stream was still incomplete; continuation chunks are type 3.
    #[error(
        "chunk with fmt {fmt} on chunk stream {csid} in the middle of a message (at byte {offset})"
    )]
    HeaderMidMessage { csid: u32, fmt: u8, offset: u64 },
    /// Set Chunk Size carried 0 or a value with the top bit set (§5.4.1).
    #[error("invalid chunk size {size} (at byte {offset})")]
    InvalidChunkSize { size: u32, offset: u64 },
    /// A protocol control message the decoder applies was shorter than its
    /// fixed 4-byte payload.
    #[error(
        "control message type {type_id} on chunk stream {csid} has {len} bytes, expected 4 (at byte {offset})"
    )]
    ShortControlMessage {
        csid: u32,
        type_id: u8,
        len: u32,
        offset: u64,
    },
    /// A chunk on a new chunk stream id would exceed `max_chunk_streams`.
    #[error(
        "chunk stream {csid} would be more than {limit} chunk streams on one connection (at byte {offset})"
    )]
    TooManyChunkStreams {
        csid: u32,
        limit: usize,
        offset: u64,
    },
    /// Buffering this chunk would exceed `max_buffered`.
    #[error(
        "partial messages would exceed {limit} buffered bytes on chunk stream {csid} (at byte {offset})"
    )]
    BufferLimitExceeded {
        csid: u32,
        limit: usize,
        offset: u64,
    },
    /// The encoder was asked to send on a chunk stream id outside 2..=65599.
    #[error("chunk stream id {csid} is outside 2..=65599")]
    InvalidCsid { csid: u32 },
}
