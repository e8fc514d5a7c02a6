//! RTMP URL parsing (with librtmp's option syntax) never panics.
#![no_main]

use flashless_core::rtmp::url;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = url::parse(s);
    }
});
