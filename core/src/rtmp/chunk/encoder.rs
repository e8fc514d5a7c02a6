//! Chunk stream encoder: messages in, chunk bytes out (§5.3).

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    ChunkError, DEFAULT_CHUNK_SIZE, EXTENDED_MARKER, MAX_CHUNK_SIZE, MAX_CSID, MAX_MESSAGE_LEN,
    MIN_CSID, RawMessage,
};

/// What the peer's decoder remembers of the last header sent on a chunk
/// stream; mirrors the decoder's state so compressed headers decode back.
#[derive(Debug, Clone, Copy)]
struct Sent {
    timestamp: u32,
    /// Delta a type-3 header starting a new message would add: the last
    /// delta sent, or the absolute timestamp after a type-0 header
    /// (§5.3.1.2.4).
    delta: u32,
    len: u32,
    type_id: u8,
    stream_id: u32,
}

/// One message chunked once, its first chunk with a full (type 0) header: it decodes the
/// same whatever came before it on its chunk stream, so every connection sending with
/// the same chunk size can write these very bytes (nginx-rtmp shares a live stream's
/// chunks between its players the same way). A connection notes it with
/// [`ChunkEncoder::note_sent`], so that what it encodes itself next on that chunk
/// stream is compressed against this header.
#[derive(Debug, Clone)]
pub struct Chunked {
    bytes: Bytes,
    chunk_size: u32,
    csid: u32,
    sent: Sent,
}

impl Chunked {
    /// Chunks `msg` with chunk size `chunk_size` (clamped as
    /// [`ChunkEncoder::set_chunk_size`] does); fails as [`ChunkEncoder::try_encode`].
    pub fn new(msg: &RawMessage, chunk_size: u32) -> Result<Chunked, ChunkError> {
        // A fresh encoder has sent nothing on any chunk stream: its first header is type 0.
        let mut encoder = ChunkEncoder::new();
        encoder.set_chunk_size(chunk_size);
        let mut out = BytesMut::new();
        encoder.try_encode(msg, &mut out)?;
        let sent = encoder
            .sent(msg.csid)
            .ok_or(ChunkError::InvalidCsid { csid: msg.csid })?;
        Ok(Chunked {
            bytes: out.freeze(),
            chunk_size: encoder.chunk_size,
            csid: msg.csid,
            sent,
        })
    }

    /// The chunks, ready to write.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The chunk size they were cut with: a connection sending with another cannot use them.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The message stream id in the header: a connection plays them on this stream only.
    pub fn stream_id(&self) -> u32 {
        self.sent.stream_id
    }
}

/// Splits messages into chunks, compressing headers against the previous
/// message on the same chunk stream.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    /// The last header sent on each chunk stream used: a handful (control, commands,
    /// audio, video, data), so a list scanned in place, not a hash map hashed for every
    /// message a player is sent.
    streams: Vec<(u32, Sent)>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    /// An encoder with chunk size 128 (§5.4.1).
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
        }
    }

    /// Sets the outgoing chunk size. The caller has already encoded the Set
    /// Chunk Size message with the old size. Values outside
    /// 1..=0x7FFFFFFF, which no peer would accept, are clamped into it.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, MAX_CHUNK_SIZE);
    }

    /// Current outgoing chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Notes that `chunked` was written to the peer in place of a message encoded
    /// here: later headers on its chunk stream are compressed against it. False (and
    /// nothing noted) when it was cut with another chunk size than this encoder's, so
    /// the peer would not decode it: then it must not be written.
    pub fn note_sent(&mut self, chunked: &Chunked) -> bool {
        if chunked.chunk_size != self.chunk_size {
            return false;
        }
        self.note(chunked.csid, chunked.sent);
        true
    }

    /// Appends the chunks of one message to `out`.
    ///
    /// A message that cannot be sent (csid outside 2..=65599, payload over
    /// 0xFFFFFF bytes) is a caller bug: nothing is written, and debug builds
    /// assert. Use [`try_encode`](Self::try_encode) to get the error instead.
    pub fn encode(&mut self, msg: &RawMessage, out: &mut BytesMut) {
        let result = self.try_encode(msg, out);
        debug_assert!(result.is_ok(), "unencodable RTMP message: {result:?}");
    }

    /// Appends the chunks of one message to `out`, or fails without writing
    /// anything when the csid is outside 2..=65599
    /// ([`ChunkError::InvalidCsid`]) or the payload is longer than the 3-byte
    /// length field allows ([`ChunkError::MessageTooLarge`]).
    ///
    /// Header type choice (§5.3.1.2): type 0 for the first message on a
    /// chunk stream, a new message stream id, or a timestamp going backwards
    /// (which includes the 2^32 wrap); otherwise type 1 with the delta, type 2
    /// when length and type id repeat too, and type 3 when the delta repeats
    /// as well. Timestamps or deltas ≥ 0xFFFFFF go in the extended timestamp
    /// field, which is repeated in every type-3 continuation chunk as Flash,
    /// FMS, librtmp and ffmpeg do.
    pub fn try_encode(&mut self, msg: &RawMessage, out: &mut BytesMut) -> Result<(), ChunkError> {
        let csid = msg.csid;
        if !(MIN_CSID..=MAX_CSID).contains(&csid) {
            return Err(ChunkError::InvalidCsid { csid });
        }
        let len = match u32::try_from(msg.payload.len()) {
            Ok(len) if len <= MAX_MESSAGE_LEN => len,
            _ => {
                return Err(ChunkError::MessageTooLarge {
                    csid,
                    len: u32::try_from(msg.payload.len()).unwrap_or(u32::MAX),
                    limit: MAX_MESSAGE_LEN,
                });
            }
        };

        let prev = self.sent(csid);
        let (fmt, value) = match prev {
            Some(p) if p.stream_id == msg.stream_id && msg.timestamp >= p.timestamp => {
                let delta = msg.timestamp - p.timestamp;
                if p.len != len || p.type_id != msg.type_id {
                    (1, delta)
                } else if delta == p.delta && delta < EXTENDED_MARKER {
                    // A repeated extended delta gets type 2 instead: whether
                    // a type-3 header carries the 4 bytes is ambiguous.
                    (3, delta)
                } else {
                    (2, delta)
                }
            }
            _ => (0, msg.timestamp),
        };
        let extended = fmt != 3 && value >= EXTENDED_MARKER;

        let chunk_size = self.chunk_size as usize;
        let chunks = msg.payload.len().div_ceil(chunk_size).max(1);
        // Worst case: 3-byte basic header, 11-byte message header, 4-byte
        // extended timestamp on the first chunk, 3 + 4 on the others.
        out.reserve(msg.payload.len() + 18 + (chunks - 1) * 7);

        put_basic_header(out, fmt, csid);
        if fmt < 3 {
            out.put_uint(u64::from(value.min(EXTENDED_MARKER)), 3);
            if fmt <= 1 {
                out.put_uint(u64::from(len), 3);
                out.put_u8(msg.type_id);
                if fmt == 0 {
                    // The only little-endian field of the header (§5.3.1.2.1).
                    out.put_u32_le(msg.stream_id);
                }
            }
            if extended {
                out.put_u32(value);
            }
        }

        let mut pieces = msg.payload.chunks(chunk_size);
        if let Some(first) = pieces.next() {
            out.put_slice(first);
        }
        for piece in pieces {
            put_basic_header(out, 3, csid);
            if extended {
                out.put_u32(value);
            }
            out.put_slice(piece);
        }

        let delta = match (fmt, prev) {
            (3, Some(p)) => p.delta,
            _ => value,
        };
        self.note(
            csid,
            Sent {
                timestamp: msg.timestamp,
                delta,
                len,
                type_id: msg.type_id,
                stream_id: msg.stream_id,
            },
        );
        Ok(())
    }

    /// What the peer remembers of chunk stream `csid`, if anything was sent on it.
    fn sent(&self, csid: u32) -> Option<Sent> {
        self.streams
            .iter()
            .find(|(id, _)| *id == csid)
            .map(|(_, s)| *s)
    }

    fn note(&mut self, csid: u32, sent: Sent) {
        match self.streams.iter_mut().find(|(id, _)| *id == csid) {
            Some((_, slot)) => *slot = sent,
            None => self.streams.push((csid, sent)),
        }
    }
}

/// Basic header (§5.3.1.1) in its shortest form; `csid` is in 2..=65599.
fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    match csid {
        2..=63 => out.put_u8(fmt | csid as u8),
        64..=319 => {
            out.put_u8(fmt);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            out.put_u8(fmt | 1);
            out.put_u16_le((csid - 64) as u16);
        }
    }
}
