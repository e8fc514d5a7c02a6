//! The RTMP session state machines: `ClientSession` (connect → createStream → play or
//! publish) and `ServerSession` (accepts connect, publish and play).
//!
//! Sans-IO in the manner of quinn-proto: the caller feeds received bytes, drains
//! events, and writes out what `poll_transmit` returns. Pings and acknowledgements
//! are answered inside; nothing here reads a clock or touches a socket.

mod client;
mod connection;
mod server;

pub use client::{ClientEvent, ClientMode, ClientSession};
pub use server::{ServerEvent, ServerSession};

use crate::rtmp::chunk::{ChunkError, ChunkLimits};
use crate::rtmp::handshake::HandshakeError;
use crate::rtmp::message::MessageError;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum SessionError {
    // Their causes are printed in the message, not chained as `source`, so a report
    // that walks the chain (anyhow's `{:#}`) does not say it twice.
    #[error("handshake failed: {0}")]
    Handshake(HandshakeError),
    #[error("chunk stream: {0}")]
    Chunk(ChunkError),
    #[error("bad message: {0}")]
    Message(MessageError),
    #[error("connection rejected by the server ({code}): {description}")]
    Rejected { code: String, description: String },
    #[error("stream \"{stream}\" not found ({code}): {description}")]
    StreamNotFound {
        stream: String,
        code: String,
        description: String,
    },
    #[error("{command} failed ({code}): {description}")]
    Failed {
        command: &'static str,
        code: String,
        description: String,
    },
    #[error("createStream's _result carries no stream id")]
    NoStreamId,
    #[error("second connect on one connection")]
    SecondConnect,
    #[error("{command} before connect")]
    BeforeConnect { command: String },
    #[error("more than {limit} streams on one connection")]
    TooManyStreams { limit: usize },
    #[error("publish or play on stream {stream_id}, which is not an idle stream")]
    StreamNotIdle { stream_id: u32 },
    #[error("SWF verification failed: {reason}")]
    SwfVerificationFailed { reason: &'static str },
    #[error("{what} is only possible {when}")]
    WrongState {
        what: &'static str,
        when: &'static str,
    },
}

/// What a peer may make a session hold: message sizes and buffering (chunk layer),
/// AMF nesting and element counts (commands). The defaults suit public servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub chunk: ChunkLimits,
    pub amf: crate::amf::Limits,
    /// Largest message a [`ServerSession`] accepts until it accepts a publish (then
    /// `chunk.max_message_len` applies): commands and a player's acknowledgements are
    /// small, so a peer nobody authorised cannot make the server buffer megabytes.
    /// Partial messages may then hold four such messages in all. Default 64 KiB.
    pub max_message_len_before_publish: u32,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            chunk: ChunkLimits::default(),
            amf: crate::amf::Limits::default(),
            max_message_len_before_publish: 64 * 1024,
        }
    }
}

impl SessionLimits {
    /// The chunk limits until a publish is accepted.
    pub(crate) fn chunk_before_publish(&self) -> ChunkLimits {
        let len = self
            .chunk
            .max_message_len
            .min(self.max_message_len_before_publish);
        ChunkLimits {
            max_message_len: len,
            max_buffered: self
                .chunk
                .max_buffered
                .min((len as usize).saturating_mul(4)),
            ..self.chunk
        }
    }
}

impl From<HandshakeError> for SessionError {
    fn from(e: HandshakeError) -> Self {
        SessionError::Handshake(e)
    }
}

impl From<ChunkError> for SessionError {
    fn from(e: ChunkError) -> Self {
        SessionError::Chunk(e)
    }
}

impl From<MessageError> for SessionError {
    fn from(e: MessageError) -> Self {
        SessionError::Message(e)
    }
}

/// Chunk stream ids this crate sends on. RTMP 1.0 §5.4 puts protocol control on 2;
/// the rest follow what Flash Media Server and nginx-rtmp use.
pub(crate) mod csid {
    pub const CONTROL: u32 = 2;
    pub const COMMAND: u32 = 3;
    pub const AUDIO: u32 = 4;
    pub const DATA: u32 = 5;
    pub const VIDEO: u32 = 6;
    pub const STREAM_COMMAND: u32 = 8;
}

#[cfg(test)]
mod tests;
