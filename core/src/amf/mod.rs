//! AMF0 and AMF3: the value model and its encoders and decoders.

pub mod amf0;
pub mod amf3;

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
