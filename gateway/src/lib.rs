//! The flashless gateway: RTMP in (pulled or published), FLV out over HTTP, WebSocket
//! and RTMP, to many viewers at once; and rtmpdump's jobs, `dump` and `probe`.
//!
//! The modules follow a tag from the socket to the viewer:
//!
//! - [`rtmp`] and [`http`]: the listeners, the gateway's doors; each connection is routed
//!   to ingest (a publisher) or egress (a viewer), after [`access`] allows it.
//! - [`ingest`]: where a channel's media comes from: a publisher on the RTMP listener, or
//!   a pull (RTMP, HTTP-FLV, a looped FLV file) reconnecting with backoff.
//! - [`hub`]: channels: the start-up cache, one timeline, the fan-out to every viewer.
//! - [`egress`]: where it goes: HTTP-FLV, WS-FLV and RTMP play, behind one admission rule.
//! - [`access`]: who may do what: tokens, the webhook, per-address limits, web origins.
//! - [`client`]: the gateway's outbound connections (TCP/TLS, HTTP, RTMP), used by pulls,
//!   the webhook and the tools.
//! - [`tools`]: rtmpdump's jobs and `flashless sign`, one-shot commands beside `serve`.
//!
//! Architecture invariant: this crate does I/O, routing and policy only; every
//! protocol and format lives in `flashless-core`.

pub mod access;
pub mod client;
pub mod clients;
pub mod config;
pub mod egress;
pub mod exec;
pub mod forward;
pub mod hooks;
pub mod http;
pub mod hub;
pub mod ingest;
pub mod logging;
pub mod outputs;
pub mod recheck;
pub mod record;
pub mod reload;
pub mod rtmp;
pub mod rtmpt;
pub mod serve;
pub mod sessions;
pub mod shutdown;
pub mod swap;
pub mod tls;
pub mod tools;
