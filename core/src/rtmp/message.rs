//! Typed RTMP messages (RTMP 1.0 §5.4 protocol control, §6.2 user control, §7.1 commands and data).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::amf::{self, AmfError, Value};
use crate::flv::{Tag, TagType};
use crate::rtmp::chunk::RawMessage;

/// Message type ids (RTMP 1.0 §5.4, §7.1).
pub mod type_id {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACKNOWLEDGEMENT: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const DATA_AMF3: u8 = 15;
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    pub const COMMAND_AMF3: u8 = 17;
    pub const DATA_AMF0: u8 = 18;
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    pub const COMMAND_AMF0: u8 = 20;
    pub const AGGREGATE: u8 = 22;
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum MessageError {
    #[error("message type {type_id} is {len} bytes, shorter than the {need} it needs")]
    Truncated {
        type_id: u8,
        len: usize,
        need: usize,
    },
    #[error("command message (type {type_id}): {source}")]
    CommandAmf { type_id: u8, source: AmfError },
    #[error("command message (type {type_id}) does not start with a name and a transaction id")]
    CommandShape { type_id: u8 },
    #[error("aggregate message: sub-message at byte {offset}: {what}")]
    Aggregate { offset: usize, what: &'static str },
}

/// A decoded RTMP message. Media and data stay raw `Bytes`: they go on to FLV unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    SetChunkSize(u32),
    Abort {
        csid: u32,
    },
    Acknowledgement {
        sequence: u32,
    },
    WindowAckSize(u32),
    SetPeerBandwidth {
        size: u32,
        limit_type: u8,
    },
    UserControl(UserControl),
    Command(Command),
    /// AMF0 data (`@setDataFrame`, `onMetaData`, …), AMF3 data already stripped of its format byte.
    Data(Bytes),
    Audio(Bytes),
    Video(Bytes),
    Aggregate(Bytes),
    /// Shared objects and unknown types: passed up, never fatal.
    Other {
        type_id: u8,
        payload: Bytes,
    },
}

/// User control events (RTMP 1.0 §6.2, §7.1.7).
#[derive(Debug, Clone, PartialEq)]
pub enum UserControl {
    StreamBegin(u32),
    StreamEof(u32),
    StreamDry(u32),
    SetBufferLength { stream_id: u32, buffer_ms: u32 },
    StreamIsRecorded(u32),
    PingRequest(u32),
    PingResponse(u32),
    Other { event: u16, data: Bytes },
}

/// A command message: name, transaction id, command object and further arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub transaction_id: f64,
    pub object: Value,
    pub args: Vec<Value>,
}

impl Command {
    pub fn new(name: &str, transaction_id: f64, object: Value, args: Vec<Value>) -> Self {
        Command {
            name: name.to_owned(),
            transaction_id,
            object,
            args,
        }
    }

    /// The `info` object of an `onStatus`/`_result`/`_error`: the first object among the arguments.
    pub fn info(&self) -> Option<&Value> {
        self.args
            .iter()
            .find(|v| matches!(v, Value::Object(_) | Value::EcmaArray(_)))
    }

    /// `info.code`, e.g. `NetStream.Play.Start`.
    pub fn code(&self) -> Option<&str> {
        self.info()?.get("code")?.as_str()
    }

    /// `info.description`, or "" when there is none.
    pub fn description(&self) -> &str {
        self.info()
            .and_then(|i| i.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

impl Message {
    /// Decodes the payload of a reassembled message by its type id.
    pub fn decode(raw: &RawMessage) -> Result<Message, MessageError> {
        Message::decode_with(raw, &amf::Limits::default())
    }

    /// [`Message::decode`] with the AMF depth and size limits of the caller's choosing.
    pub fn decode_with(raw: &RawMessage, limits: &amf::Limits) -> Result<Message, MessageError> {
        let p = &raw.payload;
        let u32_at = |need: usize| -> Result<u32, MessageError> {
            if p.len() < need {
                return Err(MessageError::Truncated {
                    type_id: raw.type_id,
                    len: p.len(),
                    need,
                });
            }
            Ok(u32::from_be_bytes([
                p[need - 4],
                p[need - 3],
                p[need - 2],
                p[need - 1],
            ]))
        };
        Ok(match raw.type_id {
            // RTMP 1.0 §5.4.1: the top bit must be 0; the chunk decoder has already applied it.
            type_id::SET_CHUNK_SIZE => Message::SetChunkSize(u32_at(4)? & 0x7FFF_FFFF),
            type_id::ABORT => Message::Abort { csid: u32_at(4)? },
            type_id::ACKNOWLEDGEMENT => Message::Acknowledgement {
                sequence: u32_at(4)?,
            },
            type_id::WINDOW_ACK_SIZE => Message::WindowAckSize(u32_at(4)?),
            type_id::SET_PEER_BANDWIDTH => {
                let size = u32_at(4)?;
                // Some servers omit the limit type; treat that as dynamic (2).
                Message::SetPeerBandwidth {
                    size,
                    limit_type: p.get(4).copied().unwrap_or(2),
                }
            }
            type_id::USER_CONTROL => Message::UserControl(decode_user_control(raw)?),
            type_id::COMMAND_AMF0 => Message::Command(decode_command(raw.type_id, p, limits)?),
            // AMF3 commands and data start with a format byte (0), then AMF0 with AMF3 switches.
            type_id::COMMAND_AMF3 => {
                Message::Command(decode_command(raw.type_id, &skip_format_byte(p), limits)?)
            }
            type_id::DATA_AMF0 => Message::Data(p.clone()),
            type_id::DATA_AMF3 => Message::Data(skip_format_byte(p)),
            type_id::AUDIO => Message::Audio(p.clone()),
            type_id::VIDEO => Message::Video(p.clone()),
            type_id::AGGREGATE => Message::Aggregate(p.clone()),
            other => Message::Other {
                type_id: other,
                payload: p.clone(),
            },
        })
    }

    /// Encodes the message into a raw message for the chunk encoder.
    pub fn to_raw(&self, csid: u32, timestamp: u32, stream_id: u32) -> RawMessage {
        let (type_id, payload) = self.encode();
        RawMessage {
            csid,
            timestamp,
            type_id,
            stream_id,
            payload,
        }
    }

    /// The type id and payload of this message. Commands are always written as AMF0.
    pub fn encode(&self) -> (u8, Bytes) {
        let be = |v: u32| Bytes::copy_from_slice(&v.to_be_bytes());
        match self {
            Message::SetChunkSize(n) => (type_id::SET_CHUNK_SIZE, be(*n & 0x7FFF_FFFF)),
            Message::Abort { csid } => (type_id::ABORT, be(*csid)),
            Message::Acknowledgement { sequence } => (type_id::ACKNOWLEDGEMENT, be(*sequence)),
            Message::WindowAckSize(n) => (type_id::WINDOW_ACK_SIZE, be(*n)),
            Message::SetPeerBandwidth { size, limit_type } => {
                let mut b = BytesMut::with_capacity(5);
                b.put_u32(*size);
                b.put_u8(*limit_type);
                (type_id::SET_PEER_BANDWIDTH, b.freeze())
            }
            Message::UserControl(uc) => (type_id::USER_CONTROL, encode_user_control(uc)),
            Message::Command(c) => {
                let mut out = Vec::with_capacity(128);
                amf::amf0::encode(&Value::String(c.name.clone()), &mut out);
                amf::amf0::encode(&Value::Number(c.transaction_id), &mut out);
                amf::amf0::encode(&c.object, &mut out);
                amf::amf0::encode_all(&c.args, &mut out);
                (type_id::COMMAND_AMF0, Bytes::from(out))
            }
            Message::Data(p) => (type_id::DATA_AMF0, p.clone()),
            Message::Audio(p) => (type_id::AUDIO, p.clone()),
            Message::Video(p) => (type_id::VIDEO, p.clone()),
            Message::Aggregate(p) => (type_id::AGGREGATE, p.clone()),
            Message::Other { type_id, payload } => (*type_id, payload.clone()),
        }
    }
}

fn skip_format_byte(p: &Bytes) -> Bytes {
    match p.first() {
        Some(0) => p.slice(1..),
        _ => p.clone(),
    }
}

fn decode_command(type_id: u8, p: &[u8], limits: &amf::Limits) -> Result<Command, MessageError> {
    let values = amf::amf0::decode_all_with(p, limits)
        .map_err(|source| MessageError::CommandAmf { type_id, source })?;
    let mut it = values.into_iter();
    let (Some(Value::String(name)), Some(tid)) = (it.next(), it.next()) else {
        return Err(MessageError::CommandShape { type_id });
    };
    // Some peers (e.g. `onStatus` from a few servers) omit the transaction id or send null.
    let transaction_id = tid.as_f64().unwrap_or(0.0);
    let object = it.next().unwrap_or(Value::Null);
    Ok(Command {
        name,
        transaction_id,
        object,
        args: it.collect(),
    })
}

fn decode_user_control(raw: &RawMessage) -> Result<UserControl, MessageError> {
    let p = &raw.payload;
    let truncated = |need| MessageError::Truncated {
        type_id: raw.type_id,
        len: p.len(),
        need,
    };
    if p.len() < 2 {
        return Err(truncated(2));
    }
    let event = u16::from_be_bytes([p[0], p[1]]);
    let mut data = p.slice(2..);
    let arg = |data: &mut Bytes, need: usize| -> Result<u32, MessageError> {
        if data.remaining() < 4 {
            return Err(truncated(need));
        }
        Ok(data.get_u32())
    };
    Ok(match event {
        0 => UserControl::StreamBegin(arg(&mut data, 6)?),
        1 => UserControl::StreamEof(arg(&mut data, 6)?),
        2 => UserControl::StreamDry(arg(&mut data, 6)?),
        3 => {
            let stream_id = arg(&mut data, 10)?;
            UserControl::SetBufferLength {
                stream_id,
                buffer_ms: arg(&mut data, 10)?,
            }
        }
        4 => UserControl::StreamIsRecorded(arg(&mut data, 6)?),
        6 => UserControl::PingRequest(arg(&mut data, 6)?),
        7 => UserControl::PingResponse(arg(&mut data, 6)?),
        event => UserControl::Other { event, data },
    })
}

fn encode_user_control(uc: &UserControl) -> Bytes {
    let mut b = BytesMut::with_capacity(10);
    match uc {
        UserControl::StreamBegin(id) => put_event(&mut b, 0, &[*id]),
        UserControl::StreamEof(id) => put_event(&mut b, 1, &[*id]),
        UserControl::StreamDry(id) => put_event(&mut b, 2, &[*id]),
        UserControl::SetBufferLength {
            stream_id,
            buffer_ms,
        } => put_event(&mut b, 3, &[*stream_id, *buffer_ms]),
        UserControl::StreamIsRecorded(id) => put_event(&mut b, 4, &[*id]),
        UserControl::PingRequest(t) => put_event(&mut b, 6, &[*t]),
        UserControl::PingResponse(t) => put_event(&mut b, 7, &[*t]),
        UserControl::Other { event, data } => {
            b.put_u16(*event);
            b.put_slice(data);
        }
    }
    b.freeze()
}

fn put_event(b: &mut BytesMut, event: u16, args: &[u32]) {
    b.put_u16(event);
    for a in args {
        b.put_u32(*a);
    }
}

/// The FLV tag a media or data message carries, or `None` for other messages.
/// `@setDataFrame` is stripped from data, as a server does before storing or relaying it.
pub fn to_tag(raw: &RawMessage, message: &Message) -> Option<Tag> {
    let (tag_type, data) = match message {
        Message::Audio(p) => (TagType::Audio, p.clone()),
        Message::Video(p) => (TagType::Video, p.clone()),
        Message::Data(p) => (TagType::Script, strip_set_data_frame(p)),
        _ => return None,
    };
    Some(Tag {
        tag_type,
        timestamp: raw.timestamp,
        data,
    })
}

/// The data message that carries a script tag, with `@setDataFrame` put in front as publishers send it.
pub fn set_data_frame(tag_data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(tag_data.len() + 16);
    amf::amf0::encode(&Value::String(SET_DATA_FRAME.to_owned()), &mut out);
    out.extend_from_slice(tag_data);
    Bytes::from(out)
}

const SET_DATA_FRAME: &str = "@setDataFrame";

fn strip_set_data_frame(p: &Bytes) -> Bytes {
    match amf::amf0::decode(p) {
        Ok((Value::String(s), used)) if s == SET_DATA_FRAME => p.slice(used..),
        _ => p.clone(),
    }
}

/// The name of a data message (`onMetaData`, `onTextData`, …), after any `@setDataFrame`.
pub fn data_name(tag_data: &[u8]) -> Option<String> {
    match amf::amf0::decode(tag_data) {
        Ok((Value::String(s), _)) => Some(s),
        _ => None,
    }
}

/// Most sub-messages an aggregate may hold: a server's aggregates hold a second or so of
/// media, tens of messages; a million 1-byte ones would all reach the channel at once.
pub const MAX_AGGREGATE_MESSAGES: usize = 4096;

/// Splits an aggregate message (type 22) into its sub-messages: each is an FLV tag
/// (11-byte header, body, 4-byte back pointer). Timestamps are rebased so the first
/// sub-message has the aggregate's own timestamp (RTMP 1.0 §7.1.6). More than
/// [`MAX_AGGREGATE_MESSAGES`] is an error.
pub fn split_aggregate(raw: &RawMessage) -> Result<Vec<RawMessage>, MessageError> {
    let p = &raw.payload;
    let mut out = Vec::new();
    let mut offset = 0usize;
    let mut base: Option<u32> = None;
    let err = |offset, what| MessageError::Aggregate { offset, what };
    while offset < p.len() {
        let Some(h) = p.get(offset..offset + 11) else {
            return Err(err(offset, "header truncated"));
        };
        let type_id = h[0];
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let body_start = offset + 11;
        let body_end = body_start + len;
        if body_end > p.len() {
            return Err(err(offset, "body runs past the end of the aggregate"));
        }
        if out.len() == MAX_AGGREGATE_MESSAGES {
            return Err(err(
                offset,
                "more sub-messages than the 4096 an aggregate may hold",
            ));
        }
        let first = *base.get_or_insert(ts);
        out.push(RawMessage {
            csid: raw.csid,
            timestamp: raw.timestamp.wrapping_add(ts.wrapping_sub(first)),
            type_id,
            stream_id: raw.stream_id,
            payload: p.slice(body_start..body_end),
        });
        // The back pointer is absent after the last sub-message in some encoders.
        offset = (body_end + 4).min(p.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(type_id: u8, payload: &[u8]) -> RawMessage {
        RawMessage {
            csid: 3,
            timestamp: 0,
            type_id,
            stream_id: 0,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    fn round_trip(m: Message) {
        let r = m.to_raw(2, 0, 0);
        assert_eq!(Message::decode(&r).unwrap(), m);
    }

    #[test]
    fn control_messages_round_trip() {
        round_trip(Message::SetChunkSize(4096));
        round_trip(Message::Abort { csid: 7 });
        round_trip(Message::Acknowledgement { sequence: 123_456 });
        round_trip(Message::WindowAckSize(2_500_000));
        round_trip(Message::SetPeerBandwidth {
            size: 2_500_000,
            limit_type: 2,
        });
        for uc in [
            UserControl::StreamBegin(1),
            UserControl::StreamEof(1),
            UserControl::StreamDry(1),
            UserControl::SetBufferLength {
                stream_id: 1,
                buffer_ms: 3000,
            },
            UserControl::StreamIsRecorded(1),
            UserControl::PingRequest(99),
            UserControl::PingResponse(99),
            UserControl::Other {
                event: 31,
                data: Bytes::from_static(&[0, 0, 0, 1]),
            },
        ] {
            round_trip(Message::UserControl(uc));
        }
    }

    #[test]
    fn command_round_trips() {
        let c = Command::new(
            "connect",
            1.0,
            Value::object([("app", "live".into()), ("tcUrl", "rtmp://h/live".into())]),
            vec![Value::Null, "extra".into()],
        );
        round_trip(Message::Command(c));
    }

    #[test]
    fn amf3_command_skips_the_format_byte() {
        let (_, amf0) =
            Message::Command(Command::new("play", 4.0, Value::Null, vec!["s".into()])).encode();
        let mut p = vec![0u8];
        p.extend_from_slice(&amf0);
        let Message::Command(c) = Message::decode(&raw(type_id::COMMAND_AMF3, &p)).unwrap() else {
            panic!()
        };
        assert_eq!((c.name.as_str(), c.transaction_id), ("play", 4.0));
        assert_eq!(c.args, vec![Value::from("s")]);
    }

    #[test]
    fn status_code_and_description_are_read_from_the_info_object() {
        let info = Value::object([
            ("level", "error".into()),
            ("code", "NetStream.Play.StreamNotFound".into()),
            ("description", "no such stream".into()),
        ]);
        let c = Command::new("onStatus", 0.0, Value::Null, vec![info]);
        assert_eq!(c.code(), Some("NetStream.Play.StreamNotFound"));
        assert_eq!(c.description(), "no such stream");
    }

    #[test]
    fn truncated_control_messages_are_errors() {
        assert!(matches!(
            Message::decode(&raw(type_id::WINDOW_ACK_SIZE, &[0, 1])),
            Err(MessageError::Truncated { need: 4, .. })
        ));
        assert!(Message::decode(&raw(type_id::USER_CONTROL, &[0])).is_err());
        assert!(Message::decode(&raw(type_id::USER_CONTROL, &[0, 3, 0, 0, 0, 1])).is_err());
        assert!(matches!(
            Message::decode(&raw(type_id::COMMAND_AMF0, &[0x05])),
            Err(MessageError::CommandShape { .. })
        ));
    }

    #[test]
    fn set_data_frame_is_stripped_from_tags() {
        let mut meta = Vec::new();
        amf::amf0::encode_all(
            &[
                "onMetaData".into(),
                Value::EcmaArray(vec![("width".into(), 320.0.into())]),
            ],
            &mut meta,
        );
        let wire = set_data_frame(&meta);
        let r = raw(type_id::DATA_AMF0, &wire);
        let tag = to_tag(&r, &Message::decode(&r).unwrap()).unwrap();
        assert_eq!(tag.tag_type, TagType::Script);
        assert_eq!(&tag.data[..], &meta[..]);
        assert_eq!(data_name(&tag.data).as_deref(), Some("onMetaData"));
    }

    fn sub(type_id: u8, ts: u32, body: &[u8]) -> Vec<u8> {
        let mut v = vec![type_id];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(&ts.to_be_bytes()[1..]);
        v.push((ts >> 24) as u8);
        v.extend_from_slice(&[0, 0, 0]);
        v.extend_from_slice(body);
        v.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
        v
    }

    #[test]
    fn aggregate_splits_and_rebases_timestamps() {
        let mut p = sub(9, 5000, b"video");
        p.extend(sub(8, 5023, b"aud"));
        let mut r = raw(type_id::AGGREGATE, &p);
        r.timestamp = 100;
        let parts = split_aggregate(&r).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].type_id, parts[0].timestamp, &parts[0].payload[..]),
            (9, 100, &b"video"[..])
        );
        assert_eq!(
            (parts[1].type_id, parts[1].timestamp, &parts[1].payload[..]),
            (8, 123, &b"aud"[..])
        );
    }

    #[test]
    fn aggregate_with_a_sub_message_past_its_end_is_an_error() {
        let mut p = sub(9, 0, b"video");
        p.truncate(14);
        assert_eq!(
            split_aggregate(&raw(type_id::AGGREGATE, &p)),
            Err(MessageError::Aggregate {
                offset: 0,
                what: "body runs past the end of the aggregate"
            })
        );
    }

    #[test]
    fn an_aggregate_of_more_sub_messages_than_its_limit_is_an_error() {
        let sub = [8u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xAF, 0, 0, 0, 12];
        let of = |n: usize| raw(type_id::AGGREGATE, &sub.repeat(n));
        assert_eq!(
            split_aggregate(&of(MAX_AGGREGATE_MESSAGES)).map(|v| v.len()),
            Ok(4096)
        );
        assert!(matches!(
            split_aggregate(&of(MAX_AGGREGATE_MESSAGES + 1)),
            Err(MessageError::Aggregate { offset: 65536, .. })
        ));
    }
}
