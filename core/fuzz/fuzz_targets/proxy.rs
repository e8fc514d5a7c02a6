//! The PROXY protocol header, read as the listener reads it (only as many bytes as
//! it asks for): it ends in a header or an error within the header's bound, never
//! a panic, and a header never claims more bytes than were read.
#![no_main]

use flashless_core::proxy::{Header, parse};
use libfuzzer_sys::fuzz_target;

/// The longest header: version 2's 16 bytes and its largest address block.
const MAX: usize = 16 + 1024;

fuzz_target!(|data: &[u8]| {
    let mut have = 0;
    while let Some(read) = data.get(..have) {
        match parse(read) {
            Ok(Header::Incomplete(more)) => {
                assert!(more > 0, "asked for no more bytes at {have}");
                have += more;
                assert!(have <= MAX, "asked for {have} bytes");
            }
            Ok(Header::Complete { len, .. }) => {
                assert!(len <= have, "a header of {len} bytes in {have}");
                return;
            }
            Err(_) => return,
        }
    }
});
