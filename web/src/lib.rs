//! flashless-web: the wasm-bindgen surface of the npm package `flashless`, kept
//! thin: a [`Remuxer`](remuxer::Remuxer) (FLV bytes in, init segments and
//! fragments out: for a Web Worker or Node) and a [`Player`](player::Player)
//! (WebSocket or fetch → remuxer → Media Source Extensions on a `<video>`).
//! Values cross the boundary as plain JS objects, numbers, strings and
//! `Uint8Array`s.
//!
//! Everything that is not the browser lives in `flashless-core`: the FLV → events
//! [`pipeline`](flashless_core::pipeline) and the
//! [`live_edge`](flashless_core::live_edge) policy. This crate is where the
//! browser's I/O is (`web-sys`: sockets, fetch, timers, clocks, randomness); it
//! only does something on wasm32 (natively, wasm-bindgen's imports are stubs).

mod js;
pub mod player;
pub mod remuxer;
