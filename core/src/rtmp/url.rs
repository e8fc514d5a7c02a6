//! RTMP url.
