//! AMF3 (Adobe "Action Message Format -- AMF 3").
//!
//! Decoding keeps the three reference tables of spec section 2.2 (strings,
//! traits, objects) for the duration of one call. The encoder writes every
//! value inline and never emits references, which is valid AMF3 and keeps it
//! stateless.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use bytes::Bytes;

use super::read::{Budget, Entry, Reader, lookup, text};
use super::{AmfError, Limits, Object, Value, clip};

// Type markers (AMF3 spec section 3.1).
const UNDEFINED: u8 = 0x00;
const NULL: u8 = 0x01;
const FALSE: u8 = 0x02;
const TRUE: u8 = 0x03;
const INTEGER: u8 = 0x04;
const DOUBLE: u8 = 0x05;
const STRING: u8 = 0x06;
const XML_DOC: u8 = 0x07;
const DATE: u8 = 0x08;
const ARRAY: u8 = 0x09;
const OBJECT: u8 = 0x0A;
const XML: u8 = 0x0B;
const BYTE_ARRAY: u8 = 0x0C;

/// Largest value a U29 holds; also bounds lengths and counts (shifted by the flag bit).
const U29_MAX: u32 = (1 << 29) - 1;
const INT_MIN: i32 = -(1 << 28);
const INT_MAX: i32 = (1 << 28) - 1;

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

/// Decodes values until the input is exhausted; the reference tables and
/// `limits` span the whole call.
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

/// The value after an AMF0 avmplus-object marker (0x11), with fresh tables.
#[cfg(feature = "amf3")]
pub(crate) fn decode_switched(r: &mut Reader<'_>, budget: &mut Budget) -> Result<Value, AmfError> {
    Decoder::new(budget).value(r)
}

#[derive(Clone)]
struct Traits {
    class: Option<String>,
    sealed: Vec<String>,
    dynamic: bool,
    /// Bytes of the names, charged each time a reference copies them.
    bytes: usize,
}

/// A U29 header of a value that may be an object-table reference.
enum Header {
    Inline(u32),
    Reference(Value),
}

struct Decoder<'b> {
    budget: &'b mut Budget,
    /// Offset and length of each non-empty inline string, in order.
    strings: Vec<(usize, usize)>,
    traits: Vec<Traits>,
    objects: Vec<Entry>,
    /// Non-zero while re-decoding a referenced value, whose strings, traits
    /// and objects are already in the tables.
    replay: usize,
}

impl<'b> Decoder<'b> {
    fn new(budget: &'b mut Budget) -> Self {
        Decoder {
            budget,
            strings: Vec::new(),
            traits: Vec::new(),
            objects: Vec::new(),
            replay: 0,
        }
    }

    fn value(&mut self, r: &mut Reader<'_>) -> Result<Value, AmfError> {
        let at = r.pos();
        let marker = r.u8()?;
        self.budget.value(at)?;
        Ok(match marker {
            UNDEFINED => Value::Undefined,
            NULL => Value::Null,
            FALSE => Value::Boolean(false),
            TRUE => Value::Boolean(true),
            // Sign-extend the 29-bit integer (section 3.6).
            INTEGER => Value::Integer(((u29(r)? << 3) as i32) >> 3),
            DOUBLE => Value::Number(r.f64()?),
            STRING => Value::String(self.string(r)?),
            XML_DOC | XML | DATE | BYTE_ARRAY => self.leaf(r, at, marker)?,
            ARRAY => self.array(r, at)?,
            OBJECT => self.object(r, at)?,
            0x0D..=0x11 => {
                let name = match marker {
                    0x0D => "Vector.<int>",
                    0x0E => "Vector.<uint>",
                    0x0F => "Vector.<Number>",
                    0x10 => "Vector.<Object>",
                    _ => "Dictionary",
                };
                return Err(AmfError::Unsupported {
                    offset: at,
                    marker,
                    name,
                });
            }
            _ => {
                return Err(AmfError::UnknownMarker {
                    offset: at,
                    format: "AMF3",
                    marker,
                });
            }
        })
    }

    /// UTF-8-vr: an inline string or a string-table reference (section 1.3.2).
    fn string(&mut self, r: &mut Reader<'_>) -> Result<String, AmfError> {
        let at = r.pos();
        let header = u29(r)?;
        if header & 1 == 0 {
            let index = (header >> 1) as usize;
            let &(start, len) = self.strings.get(index).ok_or(AmfError::BadReference {
                offset: at,
                table: "AMF3 string",
                index,
                len: self.strings.len(),
            })?;
            self.budget.copy(len, at)?;
            return Ok(text(r.slice(start, len)?));
        }
        let len = (header >> 1) as usize;
        let start = r.pos();
        let bytes = r.sized(len, at, "string")?;
        self.budget.materialize(len, at)?;
        // The empty string is never sent by reference (section 1.3.2).
        if len > 0 && self.replay == 0 {
            self.strings.push((start, len));
        }
        Ok(text(bytes))
    }

    /// Reads the U29O header shared by object-table types; a reference is
    /// resolved by replaying the referenced value from its marker.
    fn header(&mut self, r: &mut Reader<'_>) -> Result<Header, AmfError> {
        let at = r.pos();
        let header = u29(r)?;
        if header & 1 == 1 {
            return Ok(Header::Inline(header >> 1));
        }
        let entry = lookup(&self.objects, (header >> 1) as usize, at, "AMF3 object")?;
        let mut replay = r.at(entry.start);
        self.replay += 1;
        self.budget.start_replay();
        let value = self.value(&mut replay)?;
        self.budget.end_replay();
        self.replay -= 1;
        Ok(Header::Reference(value))
    }

    fn register(&mut self, at: usize) -> Option<usize> {
        (self.replay == 0).then(|| {
            self.objects.push(Entry {
                start: at,
                done: false,
            });
            self.objects.len() - 1
        })
    }

    fn finish(&mut self, slot: Option<usize>) {
        if let Some(entry) = slot.and_then(|i| self.objects.get_mut(i)) {
            entry.done = true;
        }
    }

    /// XML, XMLDocument, Date and ByteArray: in the object table, no nesting.
    fn leaf(&mut self, r: &mut Reader<'_>, at: usize, marker: u8) -> Result<Value, AmfError> {
        let len_at = r.pos();
        let bits = match self.header(r)? {
            Header::Reference(value) => return Ok(value),
            Header::Inline(bits) => bits as usize,
        };
        let slot = self.register(at);
        let value = match marker {
            // U29D-value's remaining bits are unused.
            DATE => Value::Date(r.f64()?),
            BYTE_ARRAY => {
                let bytes = r.sized(bits, len_at, "byte array")?;
                self.budget.materialize(bits, len_at)?;
                Value::ByteArray(Bytes::copy_from_slice(bytes))
            }
            _ => {
                let bytes = r.sized(bits, len_at, "XML")?;
                self.budget.materialize(bits, len_at)?;
                Value::XmlDocument(text(bytes))
            }
        };
        self.finish(slot);
        Ok(value)
    }

    /// Section 3.11: associative part (name/value pairs up to the empty
    /// name), then the dense part.
    fn array(&mut self, r: &mut Reader<'_>, at: usize) -> Result<Value, AmfError> {
        let count_at = r.pos();
        let dense = match self.header(r)? {
            Header::Reference(value) => return Ok(value),
            Header::Inline(bits) => bits as usize,
        };
        self.budget.enter(at)?;
        let slot = self.register(at);
        let mut assoc = Vec::new();
        loop {
            let key = self.string(r)?;
            if key.is_empty() {
                break;
            }
            assoc.push((key, self.value(r)?));
        }
        r.check_len(dense, count_at, "array")?;
        self.budget.reserve(dense, count_at)?;
        let mut items = Vec::with_capacity(dense);
        for _ in 0..dense {
            items.push(self.value(r)?);
        }
        self.finish(slot);
        self.budget.leave();
        if assoc.is_empty() {
            return Ok(Value::StrictArray(items));
        }
        // Dense items first, as ActionScript enumerates index keys first.
        let mut all: Vec<(String, Value)> = items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect();
        all.append(&mut assoc);
        Ok(Value::EcmaArray(all))
    }

    /// Section 3.12: traits (inline or by reference), sealed member values in
    /// trait order, then dynamic members up to the empty name.
    fn object(&mut self, r: &mut Reader<'_>, at: usize) -> Result<Value, AmfError> {
        let traits_at = r.pos();
        let bits = match self.header(r)? {
            Header::Reference(value) => return Ok(value),
            Header::Inline(bits) => bits,
        };
        self.budget.enter(at)?;
        let slot = self.register(at);
        let traits = self.traits(r, traits_at, bits)?;
        self.budget.reserve(traits.sealed.len(), traits_at)?;
        let mut properties = Vec::with_capacity(traits.sealed.len());
        for name in traits.sealed {
            properties.push((name, self.value(r)?));
        }
        if traits.dynamic {
            loop {
                let key = self.string(r)?;
                if key.is_empty() {
                    break;
                }
                properties.push((key, self.value(r)?));
            }
        }
        self.finish(slot);
        self.budget.leave();
        Ok(Value::Object(Object {
            class: traits.class,
            properties,
        }))
    }

    /// `bits` is the U29O header without its inline-object flag.
    fn traits(&mut self, r: &mut Reader<'_>, at: usize, bits: u32) -> Result<Traits, AmfError> {
        if bits & 1 == 0 {
            let index = (bits >> 1) as usize;
            let traits = self.traits.get(index).ok_or(AmfError::BadReference {
                offset: at,
                table: "AMF3 traits",
                index,
                len: self.traits.len(),
            })?;
            self.budget.copy(traits.bytes, at)?;
            return Ok(traits.clone());
        }
        let class = self.string(r)?;
        if bits & 0b10 != 0 {
            return Err(AmfError::Externalizable { offset: at, class });
        }
        let count = (bits >> 3) as usize;
        // Each name takes at least one byte, and so does each member value.
        r.check_len(count, at, "sealed member")?;
        let mut sealed = Vec::with_capacity(count);
        let mut bytes = class.len();
        for _ in 0..count {
            let name = self.string(r)?;
            bytes += name.len();
            sealed.push(name);
        }
        let traits = Traits {
            class: (!class.is_empty()).then_some(class),
            sealed,
            dynamic: bits & 0b100 != 0,
            bytes,
        };
        if self.replay == 0 {
            self.traits.push(traits.clone());
        }
        Ok(traits)
    }
}

/// Section 1.3.1: 7 bits per byte with a continuation flag, the fourth byte
/// contributing all 8 bits.
fn u29(r: &mut Reader<'_>) -> Result<u32, AmfError> {
    let mut value = 0u32;
    for _ in 0..3 {
        let byte = r.u8()?;
        value = (value << 7) | u32::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Ok((value << 8) | u32::from(r.u8()?))
}

fn write_u29(value: u32, out: &mut Vec<u8>) {
    let v = value.min(U29_MAX);
    match v {
        0..0x80 => out.push(v as u8),
        0x80..0x4000 => out.extend_from_slice(&[(v >> 7) as u8 | 0x80, (v & 0x7F) as u8]),
        0x4000..0x20_0000 => out.extend_from_slice(&[
            (v >> 14) as u8 | 0x80,
            ((v >> 7) & 0x7F) as u8 | 0x80,
            (v & 0x7F) as u8,
        ]),
        _ => out.extend_from_slice(&[
            (v >> 22) as u8 | 0x80,
            ((v >> 15) & 0x7F) as u8 | 0x80,
            ((v >> 8) & 0x7F) as u8 | 0x80,
            v as u8,
        ]),
    }
}

/// A length or count with the low "inline" flag set; AMF3 has 28 bits for it.
fn write_len(len: usize, out: &mut Vec<u8>) -> usize {
    let len = len.min((U29_MAX >> 1) as usize);
    write_u29(((len as u32) << 1) | 1, out);
    len
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    let s = clip(s, (U29_MAX >> 1) as usize);
    write_len(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// Appends the AMF3 encoding of `value`.
///
/// `Integer` outside the 29-bit range is written as a double. An `EcmaArray`
/// goes out as an array with only an associative part, where an empty key
/// cannot be written (it ends the part) and is skipped. An object with an
/// empty property name is written with sealed traits instead of dynamic ones,
/// for the same reason. Lengths beyond 2^28 - 1 bytes or items are cut.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Undefined => out.push(UNDEFINED),
        Value::Null => out.push(NULL),
        Value::Boolean(false) => out.push(FALSE),
        Value::Boolean(true) => out.push(TRUE),
        Value::Integer(i) if (INT_MIN..=INT_MAX).contains(i) => {
            out.push(INTEGER);
            write_u29(*i as u32 & U29_MAX, out);
        }
        Value::Integer(i) => {
            out.push(DOUBLE);
            out.extend_from_slice(&f64::from(*i).to_be_bytes());
        }
        Value::Number(n) => {
            out.push(DOUBLE);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::String(s) => {
            out.push(STRING);
            write_string(s, out);
        }
        Value::XmlDocument(s) => {
            out.push(XML_DOC);
            write_string(s, out);
        }
        Value::Date(ms) => {
            out.extend_from_slice(&[DATE, 0x01]);
            out.extend_from_slice(&ms.to_be_bytes());
        }
        Value::ByteArray(b) => {
            out.push(BYTE_ARRAY);
            let len = write_len(b.len(), out);
            out.extend_from_slice(b.get(..len).unwrap_or_default());
        }
        Value::StrictArray(items) => {
            out.push(ARRAY);
            let len = write_len(items.len(), out);
            out.push(0x01);
            for item in items.iter().take(len) {
                encode(item, out);
            }
        }
        Value::EcmaArray(props) => {
            out.extend_from_slice(&[ARRAY, 0x01]);
            for (key, value) in props.iter().filter(|(k, _)| !k.is_empty()) {
                write_string(key, out);
                encode(value, out);
            }
            out.push(0x01);
        }
        Value::Object(o) => encode_object(o, out),
    }
}

fn encode_object(o: &Object, out: &mut Vec<u8>) {
    out.push(OBJECT);
    let class = o.class.as_deref().unwrap_or_default();
    if o.properties.iter().all(|(k, _)| !k.is_empty()) {
        // U29O-traits: inline object, inline traits, dynamic, no sealed members.
        out.push(0x0B);
        write_string(class, out);
        for (key, value) in &o.properties {
            write_string(key, out);
            encode(value, out);
        }
        out.push(0x01);
    } else {
        let count = o.properties.len().min((U29_MAX >> 4) as usize);
        write_u29(((count as u32) << 4) | 0b0011, out);
        write_string(class, out);
        let props = o.properties.get(..count).unwrap_or_default();
        for (key, _) in props {
            write_string(key, out);
        }
        for (_, value) in props {
            encode(value, out);
        }
    }
}

/// Appends the AMF3 encoding of each value in turn.
pub fn encode_all(values: &[Value], out: &mut Vec<u8>) {
    for value in values {
        encode(value, out);
    }
}

#[cfg(test)]
mod tests;
