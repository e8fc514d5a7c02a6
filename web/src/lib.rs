//! flashless-web: the wasm-bindgen surface of the npm package `flashless`, kept
//! thin: a [`Remuxer`](remuxer::Remuxer) (FLV bytes in, init segments and
//! fragments out: for a Web Worker or Node) and a [`Player`](player::Player)
//! (WebSocket or fetch → remuxer → Media Source Extensions on a `<video>`), and in the
//! module of its own a [`PictureDecoder`](picture::PictureDecoder) (the pictures of
//! Flash's codecs no browser decodes, for the WebCodecs renderer: feature `pictures`).
//! Values cross the boundary as plain JS objects, numbers, strings and
//! `Uint8Array`s.
//!
//! Everything that is not the browser lives in `flashless-core`: the FLV → events
//! [`pipeline`](flashless_core::pipeline) and the
//! [`live_edge`](flashless_core::live_edge) policy. This crate is where the
//! browser's I/O is (`web-sys`: sockets, fetch, timers, clocks, randomness); it
//! only does something on wasm32 (natively, wasm-bindgen's imports are stubs).
//!
//! On wasm32 the crate is `no_std` (and so are its dependencies there): a panic is a
//! trap, as with std's `panic = "abort"`, but no panic message is ever formatted, so
//! none of std's formatting and panic code is linked into the module. Native builds
//! (checks, tests) keep std.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

// The pictures module uses only its `set`.
#[cfg_attr(not(feature = "player"), allow(dead_code))]
mod js;
#[cfg(feature = "pictures")]
pub mod picture;
#[cfg(feature = "player")]
pub mod player;
#[cfg(feature = "player")]
pub mod remuxer;

/// A panic traps, like std's `panic = "abort"` in the browser: the JS caller sees a
/// `RuntimeError: unreachable`. The message is not looked at, so it is never formatted.
#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Talc, which grows the module's memory as it needs, in place of std's dlmalloc:
/// smaller, and as fast here (`docs/benchmarks.md`, "Payload size").
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
