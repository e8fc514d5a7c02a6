//! The Flash Screen Video decoder never panics, whatever frames come in what order, and
//! its pictures are whole: 4 bytes a pixel, each opaque. The input's first byte picks
//! the version (bit 0: version 2); the rest is a list of frames, each a 16-bit length
//! (big endian) and that many bytes, the first of which says whether the FLV tag calls
//! it a keyframe (bit 0).
#![no_main]

#[path = "shared/pieces.rs"]
mod pieces;

use flashless_core::codec::screen::{Decoder, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, frames)) = data.split_first() else {
        return;
    };
    let version = if mode & 1 == 0 {
        Version::V1
    } else {
        Version::V2
    };
    let mut decoder = Decoder::new(version);
    for frame in pieces::pieces(frames) {
        let Some((&key, body)) = frame.split_first() else {
            continue;
        };
        if let Ok(p) = decoder.decode(body, key & 1 != 0) {
            assert_eq!(p.data.len(), p.width as usize * p.height as usize * 4);
            assert!(p.data.chunks_exact(4).all(|px| px[3] == 255));
        }
    }
});
