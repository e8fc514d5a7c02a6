//! AMF0 and AMF3: the value model and its encoders and decoders.
//!
//! Decoding never panics on input from a peer: every length and count is
//! checked against the remaining input and [`Limits`] before anything is
//! allocated, and nesting is bounded by [`Limits::max_depth`].
//!
//! Strings that are not valid UTF-8 are decoded as Latin-1 rather than
//! rejected: some RTMP peers send Latin-1, every byte sequence is valid
//! Latin-1, and this recovers the text they meant instead of failing a whole
//! command over one accented letter.

pub mod amf0;
pub mod amf3;
mod read;
#[cfg(test)]
mod testutil;

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

/// One AMF value. AMF0 and AMF3 decode into the same model, so the session code
/// reads a command the same way whichever encoding the peer used.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Boolean(bool),
    /// AMF0 string and long string, AMF3 string.
    String(String),
    /// Anonymous (`class: None`) or typed object; properties keep their wire order.
    Object(Object),
    Null,
    Undefined,
    /// AMF0 ECMA array (associative); AMF3 array's associative part goes here too.
    EcmaArray(Vec<(String, Value)>),
    /// AMF0 strict array; AMF3 dense array.
    StrictArray(Vec<Value>),
    /// Milliseconds since the Unix epoch (AMF0 also carries a time zone, which is ignored and written as 0).
    Date(f64),
    XmlDocument(String),
    /// AMF3 29-bit integer.
    Integer(i32),
    /// AMF3 byte array.
    ByteArray(Bytes),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    pub class: Option<String>,
    pub properties: Vec<(String, Value)>,
}

/// Why a decode failed. `offset` is the byte offset in the input where the
/// offending item starts.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum AmfError {
    #[error("input truncated at byte {offset}: {needed} more byte(s) needed")]
    Truncated { offset: usize, needed: usize },
    #[error("{what} length {declared} at byte {offset} exceeds the {available} byte(s) left")]
    TooLong {
        offset: usize,
        what: &'static str,
        declared: usize,
        available: usize,
    },
    #[error("unknown {format} type marker 0x{marker:02x} at byte {offset}")]
    UnknownMarker {
        offset: usize,
        format: &'static str,
        marker: u8,
    },
    #[error("object-end marker outside an object at byte {offset}")]
    UnexpectedObjectEnd { offset: usize },
    #[error("nesting deeper than {limit} at byte {offset}")]
    DepthLimit { offset: usize, limit: usize },
    #[error("more than {limit} elements at byte {offset}")]
    TooManyElements { offset: usize, limit: usize },
    #[error("references copy more than {limit} bytes of strings at byte {offset}")]
    ReferenceExpansion { offset: usize, limit: usize },
    #[error("bad {table} reference index {index} at byte {offset} (table has {len} entries)")]
    BadReference {
        offset: usize,
        table: &'static str,
        index: usize,
        len: usize,
    },
    #[error("circular reference to object {index} at byte {offset} cannot be represented")]
    CircularReference { offset: usize, index: usize },
    #[error("externalizable object of class {class:?} at byte {offset} not supported")]
    Externalizable { offset: usize, class: String },
    #[error("AMF3 {name} (marker 0x{marker:02x}) at byte {offset} not supported")]
    Unsupported {
        offset: usize,
        marker: u8,
        name: &'static str,
    },
}

/// Bounds on what one decode call may build, so a small hostile input cannot
/// exhaust stack or memory.
///
/// Values reached through references (AMF0 0x07, AMF3 object and string
/// references) are copied and count against `max_elements` like any other
/// value; string and byte-array bytes copied that way are also capped at
/// `max_elements * 64` bytes, so a reference bomb stays proportional to the
/// limits rather than to the square of the input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Objects and arrays nested deeper than this are an error.
    pub max_depth: usize,
    /// Values decoded per call, including copies made for references.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_elements: 65_536,
        }
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// `Number`, or `Integer` widened.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Integer(i) => Some(f64::from(*i)),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The first property named `key` of an `Object` or `EcmaArray`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let properties = match self {
            Value::Object(o) => &o.properties,
            Value::EcmaArray(p) => p,
            _ => return None,
        };
        properties.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// An anonymous object with `props` in order.
    pub fn object<'a>(props: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Object(Object {
            class: None,
            properties: props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}

impl From<Object> for Value {
    fn from(o: Object) -> Self {
        Value::Object(o)
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character
/// boundary: encoders are infallible, so a string too long for its length
/// field is cut rather than written with a wrong length.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_read_matching_variants_only() {
        assert_eq!(Value::from("x").as_str(), Some("x"));
        assert_eq!(Value::from(2.5).as_f64(), Some(2.5));
        assert_eq!(Value::Integer(-3).as_f64(), Some(-3.0));
        assert_eq!(Value::from(true).as_bool(), Some(true));
        assert_eq!(Value::Null.as_str(), None);
        assert_eq!(Value::from("1").as_f64(), None);
    }

    #[test]
    fn get_finds_properties_of_objects_and_ecma_arrays() {
        let o = Value::object([("app", "live".into()), ("n", 1.0.into())]);
        assert_eq!(o.get("app").and_then(Value::as_str), Some("live"));
        assert_eq!(o.get("missing"), None);
        let a = Value::EcmaArray(vec![("width".into(), 640.0.into())]);
        assert_eq!(a.get("width").and_then(Value::as_f64), Some(640.0));
        assert_eq!(Value::Null.get("x"), None);
    }

    #[test]
    fn clip_cuts_on_char_boundary() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }
}
