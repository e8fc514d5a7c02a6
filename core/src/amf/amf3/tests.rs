use super::*;
use crate::amf::testutil::{arb_value, hex};
use proptest::prelude::*;

fn round_trip(value: &Value) -> Value {
    let mut out = Vec::new();
    encode(value, &mut out);
    let (decoded, used) = decode(&out).expect("own encoding decodes");
    assert_eq!(used, out.len());
    decoded
}

fn every_type() -> Vec<Value> {
    vec![
        Value::Undefined,
        Value::Null,
        Value::Boolean(false),
        Value::Boolean(true),
        Value::Integer(0),
        Value::Integer(-1),
        Value::Integer(INT_MAX),
        Value::Integer(INT_MIN),
        Value::Number(-0.25),
        Value::String("héllo".into()),
        Value::String(String::new()),
        Value::XmlDocument("<a/>".into()),
        Value::Date(1_700_000_000_000.0),
        Value::StrictArray(vec![1.0.into(), Value::Integer(2), "three".into()]),
        Value::EcmaArray(vec![("k".into(), Value::Null), ("0".into(), true.into())]),
        Value::object([("a", Value::Integer(1)), ("b", "x".into())]),
        Value::Object(Object {
            class: Some("flex.messaging.io.ArrayCollection".into()),
            properties: vec![("source".into(), Value::StrictArray(vec![]))],
        }),
        Value::object([("", 1.0.into()), ("b", Value::Null)]),
        Value::ByteArray(Bytes::from_static(b"\x00\xff\x10")),
    ]
}

#[test]
fn round_trips_every_type() {
    for value in every_type() {
        assert_eq!(round_trip(&value), value);
    }
}

#[test]
fn integers_use_the_u29_encodings_of_the_spec() {
    let cases: [(i32, &str); 10] = [
        (0, "00"),
        (127, "7f"),
        (128, "8100"),
        (16_383, "ff7f"),
        (16_384, "818000"),
        (2_097_151, "ffff7f"),
        (2_097_152, "80c08000"),
        (INT_MAX, "bfffffff"),
        (-1, "ffffffff"),
        (INT_MIN, "c0808000"),
    ];
    for (int, u29) in cases {
        let bytes = hex(&format!("04{u29}"));
        let mut out = Vec::new();
        encode(&Value::Integer(int), &mut out);
        assert_eq!(out, bytes, "{int}");
        assert_eq!(decode(&bytes).unwrap(), (Value::Integer(int), bytes.len()));
    }
}

#[test]
fn integers_outside_29_bits_are_written_as_doubles() {
    let mut out = Vec::new();
    encode_all(
        &[Value::Integer(1 << 28), Value::Integer(i32::MIN)],
        &mut out,
    );
    assert_eq!(out, hex("05 41b0000000000000 05 c1e0000000000000"));
    assert_eq!(
        decode_all(&out).unwrap(),
        vec![
            Value::Number(268_435_456.0),
            Value::Number(-2_147_483_648.0)
        ]
    );
}

#[test]
fn anonymous_object_is_written_with_dynamic_traits() {
    let mut out = Vec::new();
    encode(&Value::object([("a", Value::Integer(1))]), &mut out);
    assert_eq!(out, hex("0a 0b 01 0361 0401 01"));
}

#[test]
fn string_references_resolve_to_earlier_strings() {
    let value = decode(&hex("09 05 01 06 07666f6f 06 00")).unwrap().0;
    assert_eq!(value, Value::StrictArray(vec!["foo".into(), "foo".into()]));
}

#[test]
fn empty_string_is_never_in_the_string_table() {
    let value = decode(&hex("09 07 01 06 01 06 0361 06 00")).unwrap().0;
    assert_eq!(
        value,
        Value::StrictArray(vec!["".into(), "a".into(), "a".into()])
    );
}

#[test]
fn traits_references_reuse_class_and_sealed_names() {
    // Two objects of class "P" with sealed x and y; the second refers to
    // the first one's traits.
    let bytes = hex("09 05 01  0a 23 0350 0378 0379 0401 0402  0a 01 0403 0404");
    let point = |x, y| {
        Value::Object(Object {
            class: Some("P".into()),
            properties: vec![
                ("x".into(), Value::Integer(x)),
                ("y".into(), Value::Integer(y)),
            ],
        })
    };
    assert_eq!(
        decode(&bytes).unwrap().0,
        Value::StrictArray(vec![point(1, 2), point(3, 4)])
    );
}

#[test]
fn object_references_decode_to_copies() {
    // The outer array is object 0, the inner object 1.
    let bytes = hex("09 05 01 0a 0b 01 0361 0401 01 0a 02");
    let object = Value::object([("a", Value::Integer(1))]);
    assert_eq!(
        decode(&bytes).unwrap().0,
        Value::StrictArray(vec![object.clone(), object])
    );
}

#[test]
fn dates_byte_arrays_and_xml_are_referenceable() {
    // Objects 1, 2 and 3 after the array, then a reference to each.
    let bytes = hex("09 0d 01 08 01 4270000000000000 0c 03 ff 0b 05 3c61 08 02 0c 04 0b 06");
    let once = vec![
        Value::Date(1099511627776.0),
        Value::ByteArray(Bytes::from_static(b"\xff")),
        Value::XmlDocument("<a".into()),
    ];
    let twice = once.iter().chain(&once).cloned().collect();
    assert_eq!(
        decode(&bytes).unwrap(),
        (Value::StrictArray(twice), bytes.len())
    );
}

#[test]
fn array_with_associative_part_decodes_to_ecma_array() {
    let value = decode(&hex("09 03 0361 0401 01 0402")).unwrap().0;
    assert_eq!(
        value,
        Value::EcmaArray(vec![
            ("0".into(), Value::Integer(2)),
            ("a".into(), Value::Integer(1))
        ])
    );
    assert_eq!(
        decode(&hex("09 03 01 0402")).unwrap().0,
        Value::StrictArray(vec![Value::Integer(2)])
    );
}

#[test]
fn externalizable_objects_are_an_error_naming_the_class() {
    assert_eq!(
        decode(&hex("0a 07 07666f6f")),
        Err(AmfError::Externalizable {
            offset: 1,
            class: "foo".into()
        })
    );
}

#[test]
fn vectors_and_dictionaries_are_unsupported() {
    for marker in 0x0D..=0x11 {
        assert!(matches!(
            decode(&[marker, 0x01]),
            Err(AmfError::Unsupported { offset: 0, .. })
        ));
    }
    assert_eq!(
        decode(&[0x12]),
        Err(AmfError::UnknownMarker {
            offset: 0,
            format: "AMF3",
            marker: 0x12
        })
    );
}

#[test]
fn bad_references_name_their_table() {
    let bad = |bytes: &str| match decode(&hex(bytes)) {
        Err(AmfError::BadReference { table, .. }) => table,
        other => panic!("{other:?}"),
    };
    assert_eq!(bad("06 02"), "AMF3 string");
    assert_eq!(bad("0a 05"), "AMF3 traits");
    assert_eq!(bad("09 02"), "AMF3 object");
}

#[test]
fn reference_to_an_unfinished_object_is_circular() {
    assert_eq!(
        decode(&hex("0a 0b 01 0361 0a 00 01")),
        Err(AmfError::CircularReference {
            offset: 6,
            index: 0
        })
    );
}

#[test]
fn lengths_beyond_the_input_are_rejected_before_allocating() {
    assert_eq!(
        decode(&hex("0c ffffffff 00")),
        Err(AmfError::TooLong {
            offset: 1,
            what: "byte array",
            declared: (1 << 28) - 1,
            available: 1
        })
    );
    assert!(matches!(
        decode(&hex("09 bfffffff 01 01")),
        Err(AmfError::TooLong { what: "array", .. })
    ));
    assert!(matches!(
        decode(&hex("0a bffffff3 01")),
        Err(AmfError::TooLong { .. })
    ));
}

#[test]
fn deep_nesting_hits_the_depth_limit() {
    let nested = |depth: usize| {
        let mut bytes = Vec::new();
        for _ in 0..depth {
            bytes.extend_from_slice(&[ARRAY, 0x03, 0x01]);
        }
        bytes.push(NULL);
        bytes
    };
    assert!(decode(&nested(64)).is_ok());
    assert_eq!(
        decode(&nested(65)),
        Err(AmfError::DepthLimit {
            offset: 64 * 3,
            limit: 64
        })
    );
}

#[test]
fn reference_bomb_is_bounded() {
    // Each array holds two references to the previous one.
    let mut bytes = hex("09 01 01");
    for i in 0..40u32 {
        bytes.extend_from_slice(&[ARRAY, 0x05, 0x01]);
        for _ in 0..2 {
            bytes.push(ARRAY);
            write_u29(i << 1, &mut bytes);
        }
    }
    assert!(matches!(
        decode_all(&bytes),
        Err(AmfError::TooManyElements { .. })
    ));
}

#[test]
fn string_reference_copies_are_bounded() {
    let mut bytes = vec![ARRAY];
    write_len(0x1001, &mut bytes);
    bytes.extend_from_slice(&[0x01, STRING]);
    write_len(0x10_0000, &mut bytes);
    bytes.extend(std::iter::repeat_n(b'x', 0x10_0000));
    for _ in 0..0x1000 {
        bytes.extend_from_slice(&[STRING, 0x00]);
    }
    assert!(matches!(
        decode(&bytes),
        Err(AmfError::ReferenceExpansion { .. })
    ));
}

#[test]
fn truncation_at_every_byte_is_an_error() {
    let mut samples = vec![
        hex("09 05 01  0a 23 0350 0378 0379 0401 0402  0a 01 0403 0404"),
        hex("09 03 0361 0401 01 0402"),
    ];
    for value in every_type() {
        let mut out = Vec::new();
        encode(&value, &mut out);
        samples.push(out);
    }
    for bytes in samples {
        for end in 0..bytes.len() {
            assert!(decode(&bytes[..end]).is_err(), "{end} of {bytes:02x?}");
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_values_round_trip(value in arb_value(true)) {
        prop_assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_all(&bytes);
    }
}
