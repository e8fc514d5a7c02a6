//! Where a channel's media goes: HTTP-FLV and WS-FLV ([`http_flv`]), HLS ([`hls`])
//! and RTMP play ([`rtmp`]), every viewer let in by one [`admission`] rule and fed from the hub.
//! The listeners ([`crate::http`], [`crate::rtmp`]) hand viewers over to it.

pub mod admission;
pub mod gate;
pub mod hls;
pub mod http_flv;
pub mod rtmp;
pub mod vectored;
pub mod websocket;

pub use admission::{Admission, Refusal};
