//! RTMP chunk.
