//! RTMP: URLs, handshake, chunk stream, messages and the session state machines.

pub mod chunk;
pub mod handshake;
pub mod message;
pub mod secure_token;
pub mod session;
pub mod swf;
pub mod url;
