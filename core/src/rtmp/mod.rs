//! RTMP: URLs, handshake, chunk stream, messages and the session state machines.

pub mod chunk;
pub mod handshake;
pub mod message;
pub mod session;
pub mod url;
