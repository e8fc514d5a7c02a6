use super::*;
#[cfg(feature = "amf3")]
use crate::amf::testutil::arb_value;
use crate::amf::testutil::hex;
use bytes::Bytes;
use proptest::prelude::*;

const CONNECT: &str = "
    020007636f6e6e656374
    003ff0000000000000
    03
    0003617070 0200046c697665
    0008666c617368566572 02000d4c4e5820392c302c3132342c32
    0005746355726c 02001572746d703a2f2f6c6f63616c686f73742f6c697665
    000466706164 0100
    000c6361706162696c6974696573 00402e000000000000
    000b617564696f436f64656373 0040a8ee0000000000
    000b766964656f436f64656373 00406f800000000000
    000d766964656f46756e6374696f6e 003ff0000000000000
    000e6f626a656374456e636f64696e67 000000000000000000
    000009";

const ON_METADATA: &str = "
    02000a6f6e4d65746144617461
    080000000d
    00086475726174696f6e 004029000000000000
    00057769647468 004094000000000000
    0006686569676874 004086800000000000
    000d766964656f6461746172617465 000000000000000000
    00096672616d6572617465 00403df851eb851eb8
    000c766964656f636f6465636964 00401c000000000000
    000d617564696f6461746172617465 00405f400000000000
    000f617564696f73616d706c6572617465 0040e5888000000000
    000f617564696f73616d706c6573697a65 004030000000000000
    000673746572656f 0101
    000c617564696f636f6465636964 004024000000000000
    0007656e636f646572 02000d4c61766635382e37362e313030
    000866696c6573697a65 000000000000000000
    000009";

fn connect_values() -> Vec<Value> {
    vec![
        "connect".into(),
        1.0.into(),
        Value::object([
            ("app", "live".into()),
            ("flashVer", "LNX 9,0,124,2".into()),
            ("tcUrl", "rtmp://localhost/live".into()),
            ("fpad", false.into()),
            ("capabilities", 15.0.into()),
            ("audioCodecs", 3191.0.into()),
            ("videoCodecs", 252.0.into()),
            ("videoFunction", 1.0.into()),
            ("objectEncoding", 0.0.into()),
        ]),
    ]
}

#[cfg(feature = "amf3")]
fn round_trip(value: &Value) -> Value {
    let mut out = Vec::new();
    encode(value, &mut out);
    let (decoded, used) = decode(&out).expect("own encoding decodes");
    assert_eq!(used, out.len());
    decoded
}

fn every_type() -> Vec<Value> {
    vec![
        Value::Number(-1.5),
        Value::Number(f64::INFINITY),
        Value::Boolean(true),
        Value::String("héllo".into()),
        Value::String(String::new()),
        Value::Object(Object {
            class: None,
            properties: vec![("".into(), Value::Null), ("a".into(), 1.0.into())],
        }),
        Value::Object(Object {
            class: Some("flex.Message".into()),
            properties: vec![("body".into(), "x".into())],
        }),
        Value::Null,
        Value::Undefined,
        Value::EcmaArray(vec![("k".into(), Value::StrictArray(vec![]))]),
        Value::EcmaArray(vec![]),
        Value::StrictArray(vec![1.0.into(), "two".into(), Value::Null]),
        Value::Date(1_700_000_000_000.0),
        Value::XmlDocument("<a b='1'/>".into()),
        Value::Integer(-(1 << 28)),
        Value::ByteArray(Bytes::from_static(b"\x00\x01\xff")),
    ]
}

#[cfg(feature = "amf3")]
#[test]
fn round_trips_every_type() {
    for value in every_type() {
        assert_eq!(round_trip(&value), value);
    }
}

#[test]
fn decodes_fms_connect_command() {
    let values = decode_all(&hex(CONNECT)).unwrap();
    assert_eq!(values, connect_values());
    assert_eq!(
        values[2].get("tcUrl").and_then(Value::as_str),
        Some("rtmp://localhost/live")
    );
}

#[test]
fn encodes_connect_command_to_known_bytes() {
    let mut out = Vec::new();
    encode_all(&connect_values(), &mut out);
    assert_eq!(out, hex(CONNECT));
}

#[test]
fn decodes_ffmpeg_on_metadata_ecma_array() {
    let values = decode_all(&hex(ON_METADATA)).unwrap();
    assert_eq!(values[0].as_str(), Some("onMetaData"));
    let Value::EcmaArray(props) = &values[1] else {
        panic!("expected an ECMA array, got {:?}", values[1]);
    };
    assert_eq!(props.len(), 13);
    assert_eq!(values[1].get("width").and_then(Value::as_f64), Some(1280.0));
    assert_eq!(
        values[1].get("framerate").and_then(Value::as_f64),
        Some(29.97)
    );
    assert_eq!(values[1].get("stereo").and_then(Value::as_bool), Some(true));
    assert_eq!(
        values[1].get("encoder").and_then(Value::as_str),
        Some("Lavf58.76.100")
    );
}

#[test]
fn ecma_array_count_is_only_a_hint() {
    let bytes = hex("08 000000ff 0001 61 05 000009");
    assert_eq!(
        decode(&bytes).unwrap(),
        (
            Value::EcmaArray(vec![("a".into(), Value::Null)]),
            bytes.len()
        )
    );
}

#[test]
fn ecma_array_without_end_marker_is_tolerated_at_end_of_input_only() {
    let bytes = hex("08 00000001 0001 61 05");
    assert_eq!(
        decode_all(&bytes).unwrap(),
        vec![Value::EcmaArray(vec![("a".into(), Value::Null)])]
    );
    // Not at the end of input the next bytes are read as a key.
    let bytes = hex("08 00000001 0001 61 05 05");
    assert!(decode_all(&bytes).is_err());
    // Objects must be terminated.
    let bytes = hex("03 0001 61 05");
    assert_eq!(
        decode(&bytes),
        Err(AmfError::Truncated {
            offset: 5,
            needed: 2
        })
    );
}

#[test]
fn strings_over_65535_bytes_use_long_string() {
    let long = "x".repeat(65_536);
    let mut out = Vec::new();
    encode(&Value::String(long.clone()), &mut out);
    assert_eq!(&out[..5], &[LONG_STRING, 0, 1, 0, 0]);
    assert_eq!(decode(&out).unwrap().0, Value::String(long));
    let mut out = Vec::new();
    encode(&Value::String("x".repeat(65_535)), &mut out);
    assert_eq!(&out[..3], &[STRING, 0xff, 0xff]);
}

#[test]
fn unsupported_marker_decodes_as_undefined() {
    assert_eq!(decode(&[UNSUPPORTED]).unwrap(), (Value::Undefined, 1));
}

#[test]
fn reserved_and_unknown_markers_are_errors() {
    for marker in [0x04, 0x0E, 0x12, 0xff] {
        assert_eq!(
            decode(&[marker]),
            Err(AmfError::UnknownMarker {
                offset: 0,
                format: "AMF0",
                marker
            })
        );
    }
}

#[test]
fn object_end_outside_an_object_is_an_error() {
    assert_eq!(
        decode_all(&hex("05 09")),
        Err(AmfError::UnexpectedObjectEnd { offset: 1 })
    );
}

#[test]
fn date_time_zone_is_ignored() {
    let bytes = hex("0b 4270000000000000 ff88");
    assert_eq!(decode(&bytes).unwrap(), (Value::Date(1099511627776.0), 11));
}

#[test]
fn invalid_utf8_is_read_as_latin1() {
    assert_eq!(
        decode(&hex("02 0003 43 e9 65")).unwrap().0,
        Value::String("Cée".into())
    );
}

#[test]
fn reference_decodes_to_a_copy_of_an_earlier_object() {
    // [ {a: 1}, ref 1 ]: index 0 is the outer array, index 1 the object.
    let bytes = hex("0a 00000002 03 0001 61 003ff0000000000000 000009 07 0001");
    let object = Value::object([("a", 1.0.into())]);
    assert_eq!(
        decode(&bytes).unwrap().0,
        Value::StrictArray(vec![object.clone(), object])
    );
}

#[test]
fn references_span_values_of_one_decode_call() {
    let bytes = hex("03 0001 61 05 000009 07 0000");
    let values = decode_all(&bytes).unwrap();
    assert_eq!(values[0], values[1]);
}

#[test]
fn reference_to_an_unfinished_object_is_circular() {
    let bytes = hex("03 0001 61 07 0000 000009");
    assert_eq!(
        decode(&bytes),
        Err(AmfError::CircularReference {
            offset: 4,
            index: 0
        })
    );
}

#[test]
fn reference_past_the_table_is_bad() {
    assert_eq!(
        decode(&hex("07 0003")),
        Err(AmfError::BadReference {
            offset: 0,
            table: "AMF0 object",
            index: 3,
            len: 0
        })
    );
}

#[test]
fn reference_bomb_is_bounded() {
    // Each array holds two references to the previous one: 2^40 values
    // from a few hundred bytes.
    let mut bytes = hex("0a 00000000");
    for i in 0..40u16 {
        bytes.extend_from_slice(&[STRICT_ARRAY, 0, 0, 0, 2, REFERENCE]);
        bytes.extend_from_slice(&i.to_be_bytes());
        bytes.push(REFERENCE);
        bytes.extend_from_slice(&i.to_be_bytes());
    }
    assert!(matches!(
        decode_all(&bytes),
        Err(AmfError::TooManyElements { limit: 65_536, .. })
    ));
}

#[test]
fn reference_copies_of_long_strings_are_bounded() {
    let mut bytes = vec![STRICT_ARRAY, 0, 0, 0, 1, LONG_STRING, 0, 0x10, 0, 0];
    bytes.extend(std::iter::repeat_n(b'x', 0x10_0000));
    bytes.extend_from_slice(&[STRICT_ARRAY, 0, 0, 0x10, 0]);
    for _ in 0..0x1000 {
        bytes.extend_from_slice(&[REFERENCE, 0, 0]);
    }
    assert!(matches!(
        decode_all(&bytes),
        Err(AmfError::ReferenceExpansion { .. })
    ));
}

#[test]
fn deep_nesting_hits_the_depth_limit() {
    let nested = |depth: usize| {
        let mut bytes = Vec::new();
        for _ in 0..depth {
            bytes.extend_from_slice(&[STRICT_ARRAY, 0, 0, 0, 1]);
        }
        bytes.push(NULL);
        bytes
    };
    assert!(decode(&nested(64)).is_ok());
    assert_eq!(
        decode(&nested(65)),
        Err(AmfError::DepthLimit {
            offset: 64 * 5,
            limit: 64
        })
    );
    let limits = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    assert!(decode_all_with(&nested(3), &limits).is_err());
}

#[test]
fn element_limit_counts_every_value() {
    let limits = Limits {
        max_elements: 3,
        ..Limits::default()
    };
    assert!(decode_all_with(&hex("05 05 05"), &limits).is_ok());
    assert_eq!(
        decode_all_with(&hex("05 05 05 05"), &limits),
        Err(AmfError::TooManyElements {
            offset: 3,
            limit: 3
        })
    );
}

#[test]
fn counts_and_lengths_beyond_the_input_are_rejected_before_allocating() {
    assert_eq!(
        decode(&hex("0a ffffffff 05")),
        Err(AmfError::TooLong {
            offset: 1,
            what: "strict array",
            declared: 0xffff_ffff,
            available: 1
        })
    );
    assert_eq!(
        decode(&hex("0c ffffffff 41")),
        Err(AmfError::TooLong {
            offset: 0,
            what: "string",
            declared: 0xffff_ffff,
            available: 1
        })
    );
}

#[cfg(feature = "amf3")]
#[test]
fn amf3_switch_decodes_into_the_same_model() {
    // 0x11, then AMF3 integer 5 and an AMF3 string "hi".
    let values = decode_all(&hex("11 04 05 11 06 05 6869")).unwrap();
    assert_eq!(values, vec![Value::Integer(5), "hi".into()]);
}

#[test]
fn integers_and_byte_arrays_are_written_behind_the_amf3_switch() {
    let mut out = Vec::new();
    encode_all(
        &[
            Value::Integer(5),
            Value::ByteArray(Bytes::from_static(b"ab")),
        ],
        &mut out,
    );
    assert_eq!(out, hex("11 04 05 11 0c 05 6162"));
}

#[test]
fn truncation_at_every_byte_is_an_error() {
    let metadata = hex(ON_METADATA);
    let (_, name_len) = decode(&metadata).unwrap();
    let mut samples = vec![metadata[name_len..].to_vec()];
    for value in every_type().iter().chain(&connect_values()) {
        let mut out = Vec::new();
        encode(value, &mut out);
        samples.push(out);
    }
    for bytes in samples {
        for end in 0..bytes.len() {
            // An ECMA array cut exactly between members is a tolerated
            // missing end marker; any other cut must fail.
            if let Ok((value, _)) = decode(&bytes[..end]) {
                assert!(matches!(value, Value::EcmaArray(_)), "{end}: {value:?}");
            }
        }
    }
    let connect = hex(CONNECT);
    for end in 20..connect.len() {
        assert!(decode_all(&connect[..end]).is_err(), "{end}");
    }
}

proptest! {
    #[cfg(feature = "amf3")]
    #[test]
    fn arbitrary_values_round_trip(value in arb_value(false)) {
        prop_assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_all(&bytes);
    }
}
