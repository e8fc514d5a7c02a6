//! RTMP message.
