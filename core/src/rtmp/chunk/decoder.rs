//! Chunk stream decoder: received bytes in, reassembled messages out.
//!
//! Framing follows the "is a whole frame buffered? then parse" model: each
//! call first parses a chunk's headers without changing any state, and only
//! when the whole chunk (headers and payload) is buffered does it consume the
//! bytes and update the chunk stream. "Incomplete" is therefore never an
//! error, and a chunk split across any number of `feed` calls decodes the same.

use std::collections::HashMap;

use bytes::{Buf, BytesMut};

use super::{
    CONTROL_CSID, ChunkError, ChunkLimits, DEFAULT_CHUNK_SIZE, EXTENDED_MARKER, MAX_CHUNK_SIZE,
    RawMessage, TYPE_ABORT, TYPE_SET_CHUNK_SIZE,
};

/// Initial capacity of a multi-chunk message's reassembly buffer. Capped so a
/// peer announcing many large messages cannot make us reserve memory it never
/// sends; honest large messages just grow the buffer.
const INITIAL_PARTIAL_CAPACITY: usize = 64 * 1024;

/// What a chunk stream remembers of its last message header, so later headers
/// can omit fields (§5.3.1.2).
#[derive(Debug, Clone, Copy, Default)]
struct Header {
    /// Absolute timestamp of the last message started on this chunk stream.
    timestamp: u32,
    /// Delta a type-3 chunk that starts a new message adds (§5.3.1.2.4). After
    /// a type-0 header this is that header's absolute timestamp, as the spec's
    /// §5.3.1.2.4 says ("the same as the timestamp of the Type 0 chunk").
    delta: u32,
    len: u32,
    type_id: u8,
    stream_id: u32,
    /// The extended timestamp field of the last type 0/1/2 header, if it had
    /// one (§5.3.1.3): the value type-3 chunks may repeat.
    ext: Option<u32>,
}

#[derive(Debug, Default)]
struct ChunkStream {
    header: Header,
    /// Payload received so far of an incomplete message.
    partial: Option<BytesMut>,
}

/// A fully buffered chunk, parsed but not yet consumed.
#[derive(Debug)]
struct Plan {
    csid: u32,
    header_len: usize,
    payload_len: usize,
    /// The chunk stream's new header when this chunk starts a message.
    start: Option<Header>,
}

/// Reassembles RTMP messages from the chunk stream (§5.3). Sans-IO: feed it
/// with [`feed`](Self::feed), drain it with [`poll_message`](Self::poll_message).
///
/// It applies Set Chunk Size and Abort messages itself, whatever chunk or
/// message stream they arrive on, and still returns them. Memory is bounded
/// by [`ChunkLimits`]: chunk stream state by `max_chunk_streams`, partial
/// messages by `max_buffered`, and the receive
/// buffer holds at most one unparsed chunk (at most `max_message_len` of
/// payload plus an 18-byte header) as long as the caller drains
/// `poll_message` after each push.
#[derive(Debug)]
pub struct ChunkDecoder {
    limits: ChunkLimits,
    recv: BytesMut,
    /// Stream offset of `recv[0]`: bytes consumed so far.
    consumed: u64,
    received: u64,
    chunk_size: u32,
    streams: HashMap<u32, ChunkStream>,
    /// Bytes held in all `partial` buffers.
    buffered: usize,
    poison: Option<ChunkError>,
}

/// Returns `Ok(None)` from the enclosing parse when a field isn't buffered yet.
macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

impl ChunkDecoder {
    /// A decoder with chunk size 128 (§5.4.1).
    pub fn new(limits: ChunkLimits) -> Self {
        Self {
            limits,
            recv: BytesMut::new(),
            consumed: 0,
            received: 0,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            buffered: 0,
            poison: None,
        }
    }

    /// Bytes of messages begun and not yet whole, on every chunk stream.
    pub fn unfinished_bytes(&self) -> usize {
        self.buffered
    }

    /// Buffers received bytes. Call [`poll_message`](Self::poll_message)
    /// until it returns `Ok(None)` afterwards.
    pub fn feed(&mut self, data: &[u8]) {
        self.received = self.received.wrapping_add(data.len() as u64);
        if self.poison.is_none() {
            self.recv.extend_from_slice(data);
        }
    }

    /// Next complete message, `Ok(None)` when more bytes are needed. After an
    /// `Err` the decoder is poisoned and returns the same error again; the
    /// caller closes the connection.
    pub fn poll_message(&mut self) -> Result<Option<RawMessage>, ChunkError> {
        if let Some(err) = &self.poison {
            return Err(err.clone());
        }
        self.decode().inspect_err(|err| self.fail(err.clone()))
    }

    /// Replaces the limits: raised once a peer is authorised, lowered when it no
    /// longer is. Lowered below a message already begun (its length, or what all of
    /// them hold), the decoder fails now, with that message's chunk stream in the
    /// error, rather than keep what the new limits would not have let in.
    pub fn set_limits(&mut self, limits: ChunkLimits) {
        self.limits = limits;
        if self.poison.is_some() {
            return;
        }
        let longest = (self.streams.iter())
            .filter(|(_, s)| s.partial.is_some())
            .map(|(&csid, s)| (csid, s.header.len))
            .max_by_key(|&(_, len)| len);
        let Some((csid, len)) = longest else {
            return;
        };
        if len > limits.max_message_len {
            self.fail(ChunkError::MessageTooLarge {
                csid,
                len,
                limit: limits.max_message_len,
            });
        } else if self.buffered > limits.max_buffered {
            self.fail(ChunkError::BufferLimitExceeded {
                csid,
                limit: limits.max_buffered,
                offset: self.consumed,
            });
        }
    }

    /// Poisons the decoder with `err`; nothing will be decoded any more, so the
    /// buffers go.
    fn fail(&mut self, err: ChunkError) {
        self.poison = Some(err);
        self.recv = BytesMut::new();
        self.streams.clear();
        self.buffered = 0;
    }

    /// The limits in effect.
    pub fn limits(&self) -> ChunkLimits {
        self.limits
    }

    /// Current incoming chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Total bytes pushed since creation, for acknowledgements (§5.4.3).
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    fn decode(&mut self) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            let Some(plan) = self.parse()? else {
                return Ok(None);
            };
            let offset = self.consumed;
            if let Some(msg) = self.commit(plan) {
                self.apply_control(&msg, offset)?;
                return Ok(Some(msg));
            }
        }
    }

    /// Parses the chunk at the front of the receive buffer without changing
    /// any state. `Ok(None)` unless the whole chunk is buffered; limit and
    /// protocol errors are reported as soon as the headers are, so nothing of
    /// an oversized message is ever buffered.
    fn parse(&self) -> Result<Option<Plan>, ChunkError> {
        let offset = self.consumed;
        let mut r = Reader {
            buf: &self.recv,
            pos: 0,
        };

        // Basic header (§5.3.1.1): csid 0 and 1 in the first byte mark the 2-
        // and 3-byte forms; the 3-byte form's id is little-endian.
        let b0 = need!(r.u8());
        let fmt = b0 >> 6;
        let csid = match b0 & 0x3F {
            0 => 64 + u32::from(need!(r.u8())),
            1 => 64 + u32::from(u16::from_le_bytes(need!(r.take::<2>()))),
            n => u32::from(n),
        };

        let stream = self.streams.get(&csid);
        // Every chunk stream id keeps its header for the connection's life: a
        // peer walking through all 65,598 ids must not make us hold them all.
        if stream.is_none() && self.streams.len() >= self.limits.max_chunk_streams {
            return Err(ChunkError::TooManyChunkStreams {
                csid,
                limit: self.limits.max_chunk_streams,
                offset,
            });
        }
        let partial_len = stream.and_then(|s| s.partial.as_ref()).map(BytesMut::len);
        let prev = match stream {
            Some(s) => s.header,
            None if fmt == 0 => Header::default(),
            // librtmp sends its first User Control message on csid 2 with a
            // type-1 header (SRS issue #98 accepts it likewise): take the
            // missing stream id as 0, the only valid one for control messages.
            None if fmt == 1 && csid == CONTROL_CSID => Header::default(),
            None => return Err(ChunkError::FirstChunkNotType0 { csid, fmt, offset }),
        };
        if partial_len.is_some() && fmt != 3 {
            return Err(ChunkError::HeaderMidMessage { csid, fmt, offset });
        }

        let mut header = prev;
        let start = if fmt == 3 {
            // Type 3 (§5.3.1.2.4): no message header. When the previous
            // header had an extended timestamp, Flash/FMS/librtmp/ffmpeg
            // repeat its 4 bytes here while the spec says not to; decide by
            // peeking (see `repeats_extended`).
            if let Some(ext) = prev.ext {
                if need!(repeats_extended(r.rest(), ext, prev.timestamp)) {
                    r.pos += 4;
                }
            }
            if partial_len.is_some() {
                None
            } else {
                header.timestamp = prev.timestamp.wrapping_add(prev.delta);
                Some(header)
            }
        } else {
            // Types 0, 1 and 2 (§5.3.1.2.1-3).
            let field = be24(need!(r.take::<3>()));
            if fmt <= 1 {
                header.len = be24(need!(r.take::<3>()));
                header.type_id = need!(r.u8());
                if fmt == 0 {
                    header.stream_id = u32::from_le_bytes(need!(r.take::<4>()));
                }
            }
            // §5.3.1.3: the marker means the value is in the next 4 bytes.
            let value = if field == EXTENDED_MARKER {
                let v = u32::from_be_bytes(need!(r.take::<4>()));
                header.ext = Some(v);
                v
            } else {
                header.ext = None;
                field
            };
            header.delta = value;
            header.timestamp = if fmt == 0 {
                value
            } else {
                // Deltas wrap with the 32-bit timestamp (§3).
                prev.timestamp.wrapping_add(value)
            };
            Some(header)
        };

        let chunk_size = self.chunk_size as usize;
        let (payload_len, stays_partial) = match (start, partial_len) {
            (Some(h), _) => {
                if h.len > self.limits.max_message_len {
                    return Err(ChunkError::MessageTooLarge {
                        csid,
                        len: h.len,
                        limit: self.limits.max_message_len,
                    });
                }
                let n = (h.len as usize).min(chunk_size);
                (n, n < h.len as usize)
            }
            (None, Some(have)) => {
                let remaining = (prev.len as usize).saturating_sub(have);
                let n = remaining.min(chunk_size);
                (n, n < remaining)
            }
            // Type 3 with no partial message always starts one.
            (None, None) => return Ok(None),
        };

        if stays_partial && self.buffered.saturating_add(payload_len) > self.limits.max_buffered {
            return Err(ChunkError::BufferLimitExceeded {
                csid,
                limit: self.limits.max_buffered,
                offset,
            });
        }

        if r.rest().len() < payload_len {
            return Ok(None);
        }
        Ok(Some(Plan {
            csid,
            header_len: r.pos,
            payload_len,
            start,
        }))
    }

    /// Consumes a chunk `parse` found complete. Returns the message it
    /// completes, if any.
    fn commit(&mut self, plan: Plan) -> Option<RawMessage> {
        let Plan {
            csid,
            header_len,
            payload_len,
            start,
        } = plan;
        let total = header_len.saturating_add(payload_len);
        if self.recv.len() < total {
            // `parse` checked this; stay panic-free regardless.
            return None;
        }
        self.recv.advance(header_len);
        self.consumed = self.consumed.wrapping_add(total as u64);
        let stream = self.streams.entry(csid).or_default();

        if let Some(header) = start {
            stream.header = header;
            if payload_len == header.len as usize {
                // Single-chunk message: a zero-copy split of the receive buffer.
                let payload = self.recv.split_to(payload_len).freeze();
                return Some(message(csid, &header, payload));
            }
            let mut buf =
                BytesMut::with_capacity((header.len as usize).min(INITIAL_PARTIAL_CAPACITY));
            // Copy out rather than split: splitting would make the receive
            // buffer shared and stop it from reusing its allocation.
            buf.extend_from_slice(self.recv.get(..payload_len)?);
            self.recv.advance(payload_len);
            stream.partial = Some(buf);
            self.buffered += payload_len;
            return None;
        }

        let header = stream.header;
        let buf = stream.partial.as_mut()?;
        buf.extend_from_slice(self.recv.get(..payload_len)?);
        self.recv.advance(payload_len);
        self.buffered += payload_len;
        if buf.len() < header.len as usize {
            return None;
        }
        let buf = stream.partial.take()?;
        self.buffered = self.buffered.saturating_sub(buf.len());
        Some(message(csid, &header, buf.freeze()))
    }

    /// Applies the protocol control messages that change chunking (§5.4.1,
    /// §5.4.2). `offset` is where the message's last chunk started.
    fn apply_control(&mut self, msg: &RawMessage, offset: u64) -> Result<(), ChunkError> {
        if msg.type_id != TYPE_SET_CHUNK_SIZE && msg.type_id != TYPE_ABORT {
            return Ok(());
        }
        let Some(value) = msg
            .payload
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
        else {
            return Err(ChunkError::ShortControlMessage {
                csid: msg.csid,
                type_id: msg.type_id,
                len: msg.payload.len() as u32,
                offset,
            });
        };
        if msg.type_id == TYPE_SET_CHUNK_SIZE {
            if value == 0 || value > MAX_CHUNK_SIZE {
                return Err(ChunkError::InvalidChunkSize {
                    size: value,
                    offset,
                });
            }
            self.chunk_size = value;
        } else if let Some(buf) = self.streams.get_mut(&value).and_then(|s| s.partial.take()) {
            // Abort: drop the partial message; the header state stays, as the
            // next message's header is compressed against it.
            self.buffered = self.buffered.saturating_sub(buf.len());
        }
        Ok(())
    }
}

fn message(csid: u32, header: &Header, payload: bytes::Bytes) -> RawMessage {
    RawMessage {
        csid,
        timestamp: header.timestamp,
        type_id: header.type_id,
        stream_id: header.stream_id,
        payload,
    }
}

/// Whether a type-3 chunk on a stream whose header had an extended timestamp
/// repeats the 4 extended timestamp bytes; `None` when more bytes are needed
/// to tell.
///
/// The spec (§5.3.1.3) says type-3 chunks carry no extended timestamp, but
/// Flash, FMS, librtmp and ffmpeg repeat it in every type-3 chunk, and other
/// encoders don't. Like SRS, we peek: if the next 4 bytes equal the header's
/// extended timestamp field (`ext`, the absolute timestamp after type 0 or the
/// delta after type 1/2) or the message's absolute timestamp (some encoders
/// repeat that instead), they are the repeat and are consumed; otherwise they
/// are payload. A non-repeating encoder whose payload happens to start with
/// those 4 bytes is misread; that is the accepted cost. With fewer than 4
/// bytes buffered we decide "payload" as soon as a buffered byte differs from
/// both candidates, so a short final chunk from a non-repeating encoder does
/// not wait for bytes the peer never sends.
fn repeats_extended(rest: &[u8], ext: u32, timestamp: u32) -> Option<bool> {
    let matches = |candidate: u32| {
        rest.iter()
            .zip(candidate.to_be_bytes())
            .all(|(&a, b)| a == b)
    };
    if !matches(ext) && !matches(timestamp) {
        Some(false)
    } else if rest.len() >= 4 {
        Some(true)
    } else {
        None
    }
}

fn be24(b: [u8; 3]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

/// Bounds-checked forward reader over the receive buffer.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.buf.get(self.pos..self.pos.checked_add(N)?)?;
        self.pos += N;
        bytes.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn rest(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }
}
