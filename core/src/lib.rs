//! flashless-core: the sans-IO protocol and format code shared by the gateway,
//! the browser player (wasm32) and Node.
//!
//! Architecture invariant: nothing in this crate opens a socket, reads a clock,
//! spawns a task or draws random numbers. Callers feed bytes and time in and get
//! bytes and events out. Nothing here panics on input from a peer.
//!
//! Without the `std` feature (the browser build) the crate is `no_std` + `alloc`, so
//! the wasm links none of the standard library's formatting and panic machinery; the
//! `rtmp` module, which keeps its chunk streams in `HashMap`s, comes with `std`.

#![cfg_attr(not(any(feature = "std", test)), no_std)]

#[macro_use]
extern crate alloc;

pub mod amf;
pub mod codec;
pub mod flv;
pub mod fmp4;
pub mod hls;
pub mod live_edge;
pub mod message;
pub mod mp4;
pub mod pipeline;
pub mod proxy;
#[cfg(feature = "std")]
pub mod rtmp;
pub mod segment;
pub mod stream;
#[cfg(test)]
mod test_tags;
pub mod ts;
