//! AMF0 (Adobe "Action Message Format -- AMF 0").
//!
//! Reference tables span one decode call: an AMF0 reference (0x07) may point at
//! any object, typed object, ECMA array or strict array decoded earlier in the
//! same call, and decodes to a copy of it. Each AMF3 switch (0x11) starts fresh
//! AMF3 tables, as each switch begins a new AMF3 value graph.

use super::read::{Budget, Entry, Reader, lookup, text};
use super::{AmfError, Limits, Object, Value, amf3, clip};
use alloc::string::String;
use alloc::vec::Vec;

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
            #[cfg(feature = "amf3")]
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
mod tests;
