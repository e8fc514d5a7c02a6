//! AMF3: decoding never panics, and what decodes re-encodes to the same values.
#![no_main]

use flashless_core::amf::amf3;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(values) = amf3::decode_all(data) else {
        return;
    };
    let mut encoded = Vec::new();
    amf3::encode_all(&values, &mut encoded);
    let again = amf3::decode_all(&encoded).expect("re-encoded values decode");
    // Compared through Debug, because NaN != NaN would fail a faithful round trip.
    assert_eq!(format!("{values:?}"), format!("{again:?}"));
});
