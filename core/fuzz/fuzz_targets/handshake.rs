//! The server handshake never panics on what a client sends.
#![no_main]

use flashless_core::rtmp::handshake::Handshake;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut handshake = Handshake::server(0, &[7u8; 1528]);
    let _ = handshake.feed(data);
});
