//! Helpers shared by the AMF0 and AMF3 tests.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

use super::{Object, Value};

/// Bytes from hex digits; whitespace is ignored so vectors can be laid out by field.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("hex test vector is ASCII");
            u8::from_str_radix(pair, 16).expect("hex test vector is valid hex")
        })
        .collect()
}

fn finite_or_infinite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("NaN never compares equal", |f| !f.is_nan())
}

/// Arbitrary values that survive a round trip. AMF3 cannot carry an empty
/// ECMA array (it decodes as a strict array) nor an empty ECMA key, and maps
/// an empty class name to an anonymous object, so `amf3` leaves those out.
pub fn arb_value(amf3: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        finite_or_infinite().prop_map(Value::Number),
        any::<bool>().prop_map(Value::Boolean),
        "\\PC{0,12}".prop_map(Value::String),
        Just(Value::Null),
        Just(Value::Undefined),
        finite_or_infinite().prop_map(Value::Date),
        "\\PC{0,12}".prop_map(Value::XmlDocument),
        (-(1 << 28)..(1 << 28)).prop_map(Value::Integer),
        vec(any::<u8>(), 0..12).prop_map(|b| Value::ByteArray(Bytes::from(b))),
    ];
    let min_ecma = usize::from(amf3);
    let ecma_key = if amf3 { "\\PC{1,6}" } else { "\\PC{0,6}" };
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::StrictArray),
            vec((ecma_key, inner.clone()), min_ecma..6).prop_map(Value::EcmaArray),
            (
                proptest::option::of("[A-Za-z][A-Za-z0-9.]{0,10}"),
                vec(("\\PC{0,6}", inner), 0..6)
            )
                .prop_map(|(class, properties)| Value::Object(Object { class, properties })),
        ]
    })
}
