//! What client and server sessions share: handshake, chunk codec, acknowledgements, pings.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::{SessionError, SessionLimits, csid};
use crate::amf;
use crate::flv::{Tag, TagType};
use crate::rtmp::chunk::{ChunkDecoder, ChunkEncoder, ChunkError, Chunked, RawMessage};
use crate::rtmp::handshake::Handshake;
use crate::rtmp::message::{self, Command, Message, UserControl};

/// Chunk size both sides announce after the handshake: large enough that a video
/// frame is a few chunks, as nginx-rtmp and FMS do.
pub(crate) const CHUNK_SIZE: u32 = 4096;
/// Window acknowledgement size both sides announce (librtmp and FMS use 2.5 MB).
pub(crate) const WINDOW_ACK_SIZE: u32 = 2_500_000;
/// Entries of the send queue kept allocated once it is empty: what a live player's
/// batch of a few tags takes (each a chunk and maybe the bytes encoded before it).
const QUEUED_KEPT: usize = 16;

pub(crate) struct Connection {
    /// Until it is done: then dropped, with its 1536-byte packets, the random bytes and
    /// any RTMPE key, which a connection would otherwise hold for its whole life (about
    /// 9 KB, more than the rest of an RTMP player's session).
    handshake: Option<Box<Handshake>>,
    /// The last 32 bytes of the server's S1, kept from the handshake: they key the
    /// SWF verification answer (`rtmp::swf`), which comes after it.
    s1_tail: [u8; 32],
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    /// Written before `out`: what was encoded before shared chunks, then those chunks.
    queued: VecDeque<Bytes>,
    out: BytesMut,
    bytes_in: u64,
    peer_window: u32,
    last_ack: u64,
    amf_limits: amf::Limits,
    /// RTMPE: the RC4 streams every byte after the handshake goes through.
    #[cfg(feature = "rtmpe")]
    /// Boxed: two RC4 states are half a kilobyte, which every connection would hold
    /// inline, encrypted or not.
    cipher: Option<Box<crate::rtmp::handshake::rtmpe::Cipher>>,
}

impl Connection {
    pub fn new(handshake: Handshake, limits: SessionLimits) -> Self {
        let mut c = Connection {
            handshake: Some(Box::new(handshake)),
            s1_tail: [0; 32],
            decoder: ChunkDecoder::new(limits.chunk),
            amf_limits: limits.amf,
            encoder: ChunkEncoder::new(),
            queued: VecDeque::new(),
            out: BytesMut::new(),
            bytes_in: 0,
            peer_window: 0,
            last_ack: 0,
            #[cfg(feature = "rtmpe")]
            cipher: None,
        };
        if let Some(handshake) = &mut c.handshake {
            queue_handshake(handshake, &mut c.out);
        }
        c
    }

    /// Feeds received bytes. Returns true when this call completed the handshake.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<bool, SessionError> {
        self.bytes_in += data.len() as u64;
        let mut completed = false;
        if let Some(handshake) = &mut self.handshake {
            let used = handshake.feed(data)?;
            queue_handshake(handshake, &mut self.out);
            data = data.get(used..).unwrap_or_default();
            if !handshake.is_done() {
                return Ok(false);
            }
            completed = true;
            self.s1_tail = handshake.s1_tail();
            #[cfg(feature = "rtmpe")]
            {
                self.cipher = handshake.take_cipher().map(Box::new);
            }
            self.handshake = None;
        }
        #[cfg(feature = "rtmpe")]
        if let Some(cipher) = &mut self.cipher {
            let mut plain = data.to_vec();
            cipher.decrypt(&mut plain);
            self.decoder.feed(&plain);
            data = &[];
        }
        self.decoder.feed(data);
        // RTMP 1.0 §5.4.3: acknowledge once a window's worth of bytes has arrived.
        if self.peer_window > 0 && self.bytes_in - self.last_ack >= u64::from(self.peer_window) {
            self.last_ack = self.bytes_in;
            self.send(
                &Message::Acknowledgement {
                    sequence: self.bytes_in as u32,
                },
                csid::CONTROL,
                0,
                0,
            );
        }
        Ok(completed)
    }

    /// The next message, with pings answered and the peer's window noted.
    pub fn poll_message(&mut self) -> Result<Option<(RawMessage, Message)>, SessionError> {
        let Some(raw) = self.decoder.poll_message()? else {
            return Ok(None);
        };
        let msg = Message::decode_with(&raw, &self.amf_limits)?;
        match &msg {
            Message::WindowAckSize(n) => self.peer_window = *n,
            Message::UserControl(UserControl::PingRequest(t)) => self.send(
                &Message::UserControl(UserControl::PingResponse(*t)),
                csid::CONTROL,
                0,
                0,
            ),
            _ => {}
        }
        Ok(Some((raw, msg)))
    }

    /// Bytes of the peer's messages begun and not yet whole.
    pub fn unfinished_bytes(&self) -> usize {
        self.decoder.unfinished_bytes()
    }

    /// Replaces the chunk decoder's limits from the next chunk on.
    pub fn set_chunk_limits(&mut self, limits: crate::rtmp::chunk::ChunkLimits) {
        self.decoder.set_limits(limits);
    }

    pub fn send(&mut self, msg: &Message, csid: u32, timestamp: u32, stream_id: u32) {
        #[cfg(feature = "rtmpe")]
        let start = self.out.len();
        self.encoder
            .encode(&msg.to_raw(csid, timestamp, stream_id), &mut self.out);
        #[cfg(feature = "rtmpe")]
        if let (Some(cipher), Some(new)) = (&mut self.cipher, self.out.get_mut(start..)) {
            cipher.encrypt(new);
        }
        if let Message::SetChunkSize(n) = msg {
            self.encoder.set_chunk_size(*n);
        }
    }

    pub fn send_command(&mut self, command: Command, csid: u32, stream_id: u32) {
        self.send(&Message::Command(command), csid, 0, stream_id);
    }

    /// Sends an FLV tag as the media or data message it was.
    pub fn send_tag(&mut self, tag: &Tag, stream_id: u32) {
        let (msg, csid) = tag_message(tag);
        self.send(&msg, csid, tag.timestamp, stream_id);
    }

    /// Sends chunks cut once for many connections, without copying them. False when
    /// they do not fit this connection (another chunk size): nothing is sent then.
    pub fn send_chunked(&mut self, chunked: &Chunked) -> bool {
        if !self.encoder.note_sent(chunked) {
            return false;
        }
        #[cfg(feature = "rtmpe")]
        if let Some(cipher) = &mut self.cipher {
            // Each connection's RC4 stream is its own: the bytes cannot be shared.
            let start = self.out.len();
            self.out.extend_from_slice(chunked.bytes());
            if let Some(new) = self.out.get_mut(start..) {
                cipher.encrypt(new);
            }
            return true;
        }
        if !self.out.is_empty() {
            self.queued
                .push_back(std::mem::take(&mut self.out).freeze());
        }
        self.queued.push_back(chunked.bytes().clone());
        true
    }

    /// Announces our chunk size and acknowledgement window.
    pub fn send_chunk_size(&mut self) {
        self.send(&Message::SetChunkSize(CHUNK_SIZE), csid::CONTROL, 0, 0);
    }

    /// The last 32 bytes of the server's S1 (ours on a server), once the handshake is done.
    pub fn s1_tail(&self) -> [u8; 32] {
        self.s1_tail
    }

    /// The handshake, until it is done.
    #[cfg(feature = "rtmpe")]
    pub fn handshake_mut(&mut self) -> Option<&mut Handshake> {
        self.handshake.as_deref_mut()
    }

    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if let Some(bytes) = self.queued.pop_front() {
            return Some(bytes);
        }
        // A player's start-up burst queues a whole GOP of shared chunks: the room it
        // took goes with it rather than staying with the connection for its life.
        if self.queued.capacity() > QUEUED_KEPT {
            self.queued = VecDeque::new();
        }
        // Taken rather than split off: a split leaves `out` holding the allocation, so a
        // player kept the capacity of its start-up burst (a whole GOP) for its life.
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out).freeze())
    }
}

/// Moves what the handshake has to send into `out`.
fn queue_handshake(handshake: &mut Handshake, out: &mut BytesMut) {
    let mut v = Vec::new();
    handshake.poll_transmit(&mut v);
    out.extend_from_slice(&v);
}

/// The message an FLV tag travels as over RTMP, and its chunk stream.
fn tag_message(tag: &Tag) -> (Message, u32) {
    match tag.tag_type {
        TagType::Audio => (Message::Audio(tag.data.clone()), csid::AUDIO),
        TagType::Video => (Message::Video(tag.data.clone()), csid::VIDEO),
        TagType::Script => (
            Message::Data(message::set_data_frame(&tag.data)),
            csid::DATA,
        ),
    }
}

/// `tag` chunked once with the chunk size every session announces, on message stream
/// `stream_id`, for every connection that plays it there.
pub(crate) fn chunk_tag(tag: &Tag, stream_id: u32) -> Result<Chunked, ChunkError> {
    let (msg, csid) = tag_message(tag);
    Chunked::new(&msg.to_raw(csid, tag.timestamp, stream_id), CHUNK_SIZE)
}

/// The FLV tags a message carries: one for media and data, several for an aggregate.
pub(crate) fn tags(raw: &RawMessage, msg: &Message) -> Result<Vec<Tag>, SessionError> {
    if let Message::Aggregate(_) = msg {
        let mut out = Vec::new();
        for sub in message::split_aggregate(raw)? {
            let m = Message::decode(&sub)?;
            out.extend(message::to_tag(&sub, &m));
        }
        return Ok(out);
    }
    Ok(message::to_tag(raw, msg).into_iter().collect())
}
