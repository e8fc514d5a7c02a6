//! RTMP handshake.
