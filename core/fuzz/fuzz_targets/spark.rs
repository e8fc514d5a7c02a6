//! The Sorenson Spark decoder never panics, whatever pictures come in what order. The
//! input is a list of pictures, each a 16-bit length (big endian) and that many bytes.
#![no_main]

#[path = "shared/pieces.rs"]
mod pieces;

use flashless_core::codec::spark::Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new();
    for picture in pieces::pieces(data) {
        if let Ok(p) = decoder.decode(picture) {
            let luma = p.coded_width as usize * p.coded_height as usize;
            assert_eq!(p.data.len(), luma * 3 / 2);
            assert!(p.width <= p.coded_width && p.height <= p.coded_height);
        }
    }
});
