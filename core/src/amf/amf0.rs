//! AMF0 (Adobe "Action Message Format -- AMF 0").
//!
//! Reference tables span one decode call: an AMF0 reference (0x07) may point at
//! any object, typed object, ECMA array or strict array decoded earlier in the
//! same call, and decodes to a copy of it. Each AMF3 switch (0x11) starts fresh
//! AMF3 tables, as each switch begins a new AMF3 value graph.

use super::read::{Budget, Entry, Reader, lookup, text};
use super::{AmfError, Limits, Object, Value, amf3, clip};

// Type markers (AMF0 spec section 2.1).
const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const REFERENCE: u8 = 0x07;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0A;
const DATE: u8 = 0x0B;
const LONG_STRING: u8 = 0x0C;
const UNSUPPORTED: u8 = 0x0D;
const XML_DOCUMENT: u8 = 0x0F;
const TYPED_OBJECT: u8 = 0x10;
const AVMPLUS: u8 = 0x11;

/// Decodes one value with default [`Limits`]; returns it and the bytes consumed.
pub fn decode(input: &[u8]) -> Result<(Value, usize), AmfError> {
    decode_with(input, &Limits::default())
}

/// Decodes one value; returns it and the bytes consumed.
pub fn decode_with(input: &[u8], limits: &Limits) -> Result<(Value, usize), AmfError> {
    let mut budget = Budget::new(limits);
    let mut reader = Reader::new(input);
    let value = Decoder::new(&mut budget).value(&mut reader)?;
    Ok((value, reader.pos()))
}

/// Decodes values until the input is exhausted, with default [`Limits`].
pub fn decode_all(input: &[u8]) -> Result<Vec<Value>, AmfError> {
    decode_all_with(input, &Limits::default())
}

/// Decodes values until the input is exhausted; `limits` bound the whole call.
pub fn decode_all_with(input: &[u8], limits: &Limits) -> Result<Vec<Value>, AmfError> {
    let mut budget = Budget::new(limits);
    let mut reader = Reader::new(input);
    let mut decoder = Decoder::new(&mut budget);
    let mut values = Vec::new();
    while !reader.is_empty() {
        values.push(decoder.value(&mut reader)?);
    }
    Ok(values)
}

struct Decoder<'b> {
    budget: &'b mut Budget,
    table: Vec<Entry>,
    /// Non-zero while re-decoding a referenced value, whose complex values are
    /// already in `table`.
    replay: usize,
}

impl<'b> Decoder<'b> {
    fn new(budget: &'b mut Budget) -> Self {
        Decoder {
            budget,
            table: Vec::new(),
            replay: 0,
        }
    }

    fn value(&mut self, r: &mut Reader<'_>) -> Result<Value, AmfError> {
        let at = r.pos();
        let marker = r.u8()?;
        self.budget.value(at)?;
        Ok(match marker {
            NUMBER => Value::Number(r.f64()?),
            BOOLEAN => Value::Boolean(r.u8()? != 0),
            STRING => {
                let len = usize::from(r.u16()?);
                Value::String(self.text(r, len, at)?)
            }
            LONG_STRING => {
                let len = r.u32()? as usize;
                Value::String(self.text(r, len, at)?)
            }
            XML_DOCUMENT => {
                let len = r.u32()? as usize;
                Value::XmlDocument(self.text(r, len, at)?)
            }
            NULL => Value::Null,
            UNDEFINED | UNSUPPORTED => Value::Undefined,
            DATE => {
                let ms = r.f64()?;
                // The time zone is reserved and "should be 0" (section 2.13).
                r.i16()?;
                Value::Date(ms)
            }
            OBJECT | TYPED_OBJECT | ECMA_ARRAY | STRICT_ARRAY => self.complex(r, at, marker)?,
            REFERENCE => {
                let index = usize::from(r.u16()?);
                let entry = lookup(&self.table, index, at, "AMF0 object")?;
                let mut replay = r.at(entry.start);
                self.replay += 1;
                self.budget.start_replay();
                let value = self.value(&mut replay)?;
                self.budget.end_replay();
                self.replay -= 1;
                value
            }
            AVMPLUS => amf3::decode_switched(r, self.budget)?,
            OBJECT_END => return Err(AmfError::UnexpectedObjectEnd { offset: at }),
            // 0x04 movieclip and 0x0E recordset are reserved, not to be sent.
            _ => {
                return Err(AmfError::UnknownMarker {
                    offset: at,
                    format: "AMF0",
                    marker,
                });
            }
        })
    }

    /// Objects and arrays: the ones that take part in nesting and references.
    fn complex(&mut self, r: &mut Reader<'_>, at: usize, marker: u8) -> Result<Value, AmfError> {
        self.budget.enter(at)?;
        // Registered before the members are read, so nested values get later
        // indices (section 2.9).
        let slot = (self.replay == 0).then(|| {
            self.table.push(Entry {
                start: at,
                done: false,
            });
            self.table.len() - 1
        });
        let value = match marker {
            OBJECT => Value::Object(Object {
                class: None,
                properties: self.properties(r, false)?,
            }),
            TYPED_OBJECT => {
                let class_at = r.pos();
                let len = usize::from(r.u16()?);
                let class = self.text(r, len, class_at)?;
                Value::Object(Object {
                    class: Some(class),
                    properties: self.properties(r, false)?,
                })
            }
            ECMA_ARRAY => {
                // The count is only a hint (encoders get it wrong); the
                // object-end marker is what ends the array.
                r.u32()?;
                Value::EcmaArray(self.properties(r, true)?)
            }
            _ => {
                let count_at = r.pos();
                let count = r.u32()? as usize;
                r.check_len(count, count_at, "strict array")?;
                self.budget.reserve(count, count_at)?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(r)?);
                }
                Value::StrictArray(items)
            }
        };
        if let Some(entry) = slot.and_then(|i| self.table.get_mut(i)) {
            entry.done = true;
        }
        self.budget.leave();
        Ok(value)
    }

    /// Key/value pairs up to the empty-key object-end marker.
    fn properties(
        &mut self,
        r: &mut Reader<'_>,
        end_optional: bool,
    ) -> Result<Vec<(String, Value)>, AmfError> {
        let mut properties = Vec::new();
        loop {
            // Some encoders omit the end of a trailing ECMA array (onMetaData).
            if end_optional && r.is_empty() {
                return Ok(properties);
            }
            let key_at = r.pos();
            let len = usize::from(r.u16()?);
            if len == 0 && r.peek() == Some(OBJECT_END) {
                r.u8()?;
                return Ok(properties);
            }
            let key = self.text(r, len, key_at)?;
            let value = self.value(r)?;
            properties.push((key, value));
        }
    }

    fn text(&mut self, r: &mut Reader<'_>, len: usize, at: usize) -> Result<String, AmfError> {
        let bytes = r.sized(len, at, "string")?;
        self.budget.materialize(len, at)?;
        Ok(text(bytes))
    }
}

/// Appends the AMF0 encoding of `value`.
///
/// `Integer` and `ByteArray` have no AMF0 type and are written as AMF3 values
/// behind the 0x11 switch. Lengths that overflow their field are cut: object
/// keys and class names at 65535 bytes, long strings, XML and array counts at
/// `u32::MAX`.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Number(n) => {
            out.push(NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Boolean(b) => out.extend_from_slice(&[BOOLEAN, u8::from(*b)]),
        Value::String(s) if s.len() <= usize::from(u16::MAX) => {
            out.push(STRING);
            short_string(s, out);
        }
        Value::String(s) => {
            out.push(LONG_STRING);
            long_string(s, out);
        }
        Value::Object(o) => {
            match &o.class {
                None => out.push(OBJECT),
                Some(class) => {
                    out.push(TYPED_OBJECT);
                    short_string(class, out);
                }
            }
            properties(&o.properties, out);
        }
        Value::Null => out.push(NULL),
        Value::Undefined => out.push(UNDEFINED),
        Value::EcmaArray(props) => {
            out.push(ECMA_ARRAY);
            out.extend_from_slice(&u32::try_from(props.len()).unwrap_or(u32::MAX).to_be_bytes());
            properties(props, out);
        }
        Value::StrictArray(items) => {
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.push(STRICT_ARRAY);
            out.extend_from_slice(&count.to_be_bytes());
            for item in items.iter().take(count as usize) {
                encode(item, out);
            }
        }
        Value::Date(ms) => {
            out.push(DATE);
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&0i16.to_be_bytes());
        }
        Value::XmlDocument(s) => {
            out.push(XML_DOCUMENT);
            long_string(s, out);
        }
        Value::Integer(_) | Value::ByteArray(_) => {
            out.push(AVMPLUS);
            amf3::encode(value, out);
        }
    }
}

/// Appends the AMF0 encoding of each value in turn (e.g. a command message body).
pub fn encode_all(values: &[Value], out: &mut Vec<u8>) {
    for value in values {
        encode(value, out);
    }
}

fn short_string(s: &str, out: &mut Vec<u8>) {
    let s = clip(s, usize::from(u16::MAX));
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn long_string(s: &str, out: &mut Vec<u8>) {
    let s = clip(s, u32::MAX as usize);
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn properties(props: &[(String, Value)], out: &mut Vec<u8>) {
    for (key, value) in props {
        short_string(key, out);
        encode(value, out);
    }
    out.extend_from_slice(&[0, 0, OBJECT_END]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf::testutil::{arb_value, hex};
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
        #[test]
        fn arbitrary_values_round_trip(value in arb_value(false)) {
            prop_assert_eq!(round_trip(&value), value);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_all(&bytes);
        }
    }
}
