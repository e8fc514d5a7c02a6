//! The gateway as a client: its outbound connections. Pulls read their upstreams
//! through them, the webhook posts through [`http`], and `dump` and `probe` play
//! through [`rtmp`].

pub mod http;
pub mod rtmp;
pub mod rtmpt;
pub mod swf;
pub mod transport;
