//! The flashless gateway: RTMP in (pulled or published), FLV out over HTTP, WebSocket
//! and RTMP, to many viewers at once; and rtmpdump's jobs, `dump` and `probe`.
//!
//! Architecture invariant: this crate does I/O, routing and policy only; every
//! protocol and format lives in `flashless-core`.

pub mod api;
pub mod assets;
pub mod auth;
pub mod auth_cli;
pub mod config;
pub mod delivery;
pub mod dump;
pub mod http;
pub mod hub;
pub mod limits;
pub mod media_info;
pub mod page;
pub mod probe;
pub mod rtmp_client;
pub mod rtmp_server;
pub mod serve;
pub mod shutdown;
pub mod upstream;
pub mod webhook;
