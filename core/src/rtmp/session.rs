//! RTMP session.
