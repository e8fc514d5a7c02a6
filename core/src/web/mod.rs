//! The wasm-bindgen surface of the npm package `flashless`, kept thin: a
//! [`Remuxer`](remuxer::Remuxer) (FLV bytes in, init segments and fragments out:
//! for a Web Worker or Node) and a [`Player`](player::Player) (WebSocket or
//! fetch → remuxer → Media Source Extensions on a `<video>`). Values cross the
//! boundary as plain JS objects, numbers, strings and `Uint8Array`s.
//!
//! Everything but [`live`] needs the `web` feature; the browser parts only do
//! something on wasm32 (natively, wasm-bindgen's imports are stubs).

pub mod live;

#[cfg(feature = "web")]
mod js;
#[cfg(feature = "web")]
pub mod player;
#[cfg(feature = "web")]
pub mod remuxer;
