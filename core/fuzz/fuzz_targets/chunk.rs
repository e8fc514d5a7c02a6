//! The chunk stream decoder must survive any bytes, split anywhere.
#![no_main]

use flashless_core::rtmp::chunk::{ChunkDecoder, ChunkLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut whole = ChunkDecoder::new(ChunkLimits::default());
    whole.feed(data);
    while let Ok(Some(_)) = whole.poll_message() {}

    // The same bytes in two reads, cut where the first byte says: a decoder
    // that keeps state wrongly across reads fails here and not above.
    if let Some((&cut, rest)) = data.split_first() {
        let (a, b) = rest.split_at(cut as usize % (rest.len() + 1));
        let mut split = ChunkDecoder::new(ChunkLimits::default());
        split.feed(a);
        while let Ok(Some(_)) = split.poll_message() {}
        split.feed(b);
        while let Ok(Some(_)) = split.poll_message() {}
    }
});
