//! The Speex decoder never panics, whatever tags come in what order, and its
//! samples are whole frames of 16-bit values. The input is a list of tag bodies,
//! each a 16-bit length (big endian) and that many bytes.
#![no_main]

#[path = "shared/pieces.rs"]
mod pieces;

use flashless_core::codec::legacy::speex::{Decoder, FRAME_SAMPLES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new();
    for tag in pieces::pieces(data) {
        if let Ok(samples) = decoder.decode(tag) {
            assert!(!samples.is_empty() && samples.len() % FRAME_SAMPLES == 0);
            assert!(samples.iter().all(|s| (-32768..=32767).contains(s)));
        }
    }
});
