//! The server side: accepts connect, publish and play, and hands out events for
//! the caller to route. Decisions (accept or reject) stay with the caller.

use std::collections::VecDeque;

use bytes::Bytes;

use super::connection::{self, Connection, WINDOW_ACK_SIZE};
use super::{SessionError, SessionLimits, csid};
use crate::amf::Value;
use crate::flv::Tag;
use crate::rtmp::chunk::{ChunkError, ChunkLimits, Chunked};
use crate::rtmp::handshake::Handshake;
use crate::rtmp::message::{Command, Message, UserControl};
use crate::rtmp::swf::{self, SwfIdentity};

/// Streams one connection may create: Flash uses one or two; this bounds the state a peer can make us hold.
const MAX_STREAMS: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// Answer with [`ServerSession::accept_connect`] or [`ServerSession::reject_connect`].
    Connect {
        app: String,
        tc_url: Option<String>,
        object: Value,
    },
    /// Answer with [`ServerSession::accept_publish`] or [`ServerSession::reject`].
    Publish {
        stream_id: u32,
        name: String,
        kind: String,
    },
    /// Answer with [`ServerSession::accept_play`] or [`ServerSession::reject`].
    Play { stream_id: u32, name: String },
    /// A tag from an accepted publisher.
    Tag { stream_id: u32, tag: Tag },
    /// The publisher or player of this stream is gone (`FCUnpublish`, `closeStream`, `deleteStream`).
    StreamClosed { stream_id: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamState {
    Idle,
    /// `publish` received: its media is taken (publishers pipeline it behind the
    /// command), the answer is the caller's.
    PublishAsked,
    /// A publish accepted: only these hold a publisher's chunk limits.
    Publishing,
    /// `play` received, the answer is the caller's.
    PlayAsked,
    Playing,
}

pub struct ServerSession {
    conn: Connection,
    connect_transaction: Option<f64>,
    connect_received: bool,
    object_encoding: f64,
    streams: Vec<(u32, StreamState)>,
    next_stream_id: u32,
    events: VecDeque<ServerEvent>,
    /// The chunk limits once a publish is accepted; lower ones apply until then, and
    /// again once no stream publishes.
    publish_limits: ChunkLimits,
    limits_before_publish: ChunkLimits,
    activity: u64,
    /// SWF verification demanded: the SWF, and the `Connect` event held until it passes.
    swf: Option<SwfIdentity>,
    swf_verified: bool,
    held_connect: Option<ServerEvent>,
}

impl ServerSession {
    pub fn new(epoch: u32, random: &[u8]) -> Self {
        ServerSession::with_limits(epoch, random, SessionLimits::default())
    }

    /// A session whose peer may make it hold what `limits` allow; until a publish is
    /// accepted, messages are capped at `max_message_len_before_publish`.
    pub fn with_limits(epoch: u32, random: &[u8], limits: SessionLimits) -> Self {
        let limits_before_publish = limits.chunk_before_publish();
        let before_publish = SessionLimits {
            chunk: limits_before_publish,
            ..limits
        };
        ServerSession {
            conn: Connection::new(Handshake::server(epoch, random), before_publish),
            connect_transaction: None,
            connect_received: false,
            object_encoding: 0.0,
            streams: Vec::new(),
            next_stream_id: 1,
            events: VecDeque::new(),
            publish_limits: limits.chunk,
            limits_before_publish,
            activity: 0,
            swf: None,
            swf_verified: false,
            held_connect: None,
        }
    }

    /// Commands and published media messages received so far: what shows a peer is
    /// doing something, unlike acknowledgements and pings, which a peer can send
    /// forever to hold a connection open.
    pub fn activity(&self) -> u64 {
        self.activity
    }

    /// Bytes of the peer's messages begun and not yet whole (at most the chunk
    /// limits' `max_buffered`).
    pub fn unfinished_bytes(&self) -> usize {
        self.conn.unfinished_bytes()
    }

    /// Demands SWF verification as Flash Media Server does: the server asks right after
    /// the handshake, `connect` is reported only once the answer matches `swf`, and a
    /// wrong answer, or a command after `connect` before the answer, ends the session
    /// ([`SessionError::SwfVerificationFailed`]).
    pub fn require_swf(mut self, swf: SwfIdentity) -> Self {
        self.swf = Some(swf);
        self
    }

    /// Also accepts RTMPE clients, with a Diffie–Hellman key made from `dh_private`
    /// (random bytes from the caller) if one asks.
    #[cfg(feature = "rtmpe")]
    pub fn with_rtmpe(mut self, dh_private: &[u8]) -> Self {
        if let Some(handshake) = self.conn.handshake_mut() {
            handshake.accept_rtmpe(dh_private);
        }
        self
    }

    /// Answers RTMPE clients with handshake type 8 or 9 (signatures sealed with
    /// XTEA or Blowfish) whatever type they asked for; see [`ServerSession::with_rtmpe`].
    #[cfg(feature = "rtmpe")]
    pub fn with_rtmpe_type(mut self, rtmpe_type: u8) -> Self {
        if let Some(handshake) = self.conn.handshake_mut() {
            handshake.answer_rtmpe_type(rtmpe_type);
        }
        self
    }

    /// Feeds bytes received from the client. An error means the session is over.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), SessionError> {
        if self.conn.feed(data)? && self.swf.is_some() {
            let ask = Message::UserControl(UserControl::Other {
                event: swf::REQUEST_EVENT,
                data: swf::request(),
            });
            self.conn.send(&ask, csid::CONTROL, 0, 0);
        }
        while let Some((raw, msg)) = self.conn.poll_message()? {
            match msg {
                Message::Command(c) => {
                    self.activity += 1;
                    self.on_command(c, raw.stream_id)?
                }
                Message::UserControl(UserControl::Other { event, data })
                    if event == swf::RESPONSE_EVENT =>
                {
                    self.on_swf_response(&data)?
                }
                _ if matches!(
                    self.state(raw.stream_id),
                    Some(StreamState::PublishAsked | StreamState::Publishing)
                ) =>
                {
                    self.activity += 1;
                    for tag in connection::tags(&raw, &msg)? {
                        self.events.push_back(ServerEvent::Tag {
                            stream_id: raw.stream_id,
                            tag,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.conn.poll_transmit()
    }

    pub fn accept_connect(&mut self) {
        let Some(tid) = self.connect_transaction.take() else {
            return;
        };
        self.conn.send(
            &Message::WindowAckSize(WINDOW_ACK_SIZE),
            csid::CONTROL,
            0,
            0,
        );
        self.conn.send(
            &Message::SetPeerBandwidth {
                size: WINDOW_ACK_SIZE,
                limit_type: 2,
            },
            csid::CONTROL,
            0,
            0,
        );
        self.conn.send_chunk_size();
        let properties = Value::object([
            ("fmsVer", "FMS/3,0,1,123".into()),
            ("capabilities", 31.0.into()),
        ]);
        let info = Value::object([
            ("level", "status".into()),
            ("code", "NetConnection.Connect.Success".into()),
            ("description", "Connection succeeded.".into()),
            ("objectEncoding", self.object_encoding.into()),
        ]);
        self.conn.send_command(
            Command::new("_result", tid, properties, vec![info]),
            csid::COMMAND,
            0,
        );
    }

    /// Answers `connect` with `_error` `NetConnection.Connect.Rejected`; the caller then closes.
    pub fn reject_connect(&mut self, description: &str) {
        let Some(tid) = self.connect_transaction.take() else {
            return;
        };
        let info = status_info("error", "NetConnection.Connect.Rejected", description);
        self.conn.send_command(
            Command::new("_error", tid, Value::Null, vec![info]),
            csid::COMMAND,
            0,
        );
    }

    /// Starts a publisher's stream; from now on, until no stream publishes, messages
    /// up to the full `chunk.max_message_len` are accepted (a keyframe is often larger
    /// than the limit before publish). False, and nothing done, when the client closed
    /// the stream meanwhile (`FCUnpublish` pipelined behind `publish`): its
    /// [`ServerEvent::StreamClosed`] follows.
    pub fn accept_publish(&mut self, stream_id: u32) -> bool {
        if self.state(stream_id) != Some(StreamState::PublishAsked) {
            return false;
        }
        self.set_state(stream_id, StreamState::Publishing);
        self.relimit();
        self.send_status(
            stream_id,
            "status",
            "NetStream.Publish.Start",
            "Start publishing",
        );
        true
    }

    /// Starts a player's stream: StreamBegin, `NetStream.Play.Reset` and `…Start`, as FMS
    /// does. False, and nothing done, when the client closed the stream meanwhile.
    pub fn accept_play(&mut self, stream_id: u32) -> bool {
        if self.state(stream_id) != Some(StreamState::PlayAsked) {
            return false;
        }
        self.set_state(stream_id, StreamState::Playing);
        self.conn.send(
            &Message::UserControl(UserControl::StreamBegin(stream_id)),
            csid::CONTROL,
            0,
            0,
        );
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.Reset",
            "Playing and resetting stream.",
        );
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.Start",
            "Started playing stream.",
        );
        true
    }

    /// Refuses a publish or play with an error status, e.g. `NetStream.Play.StreamNotFound`
    /// or `NetStream.Publish.BadName`.
    pub fn reject(&mut self, stream_id: u32, code: &str, description: &str) {
        self.set_state(stream_id, StreamState::Idle);
        self.relimit();
        self.send_status(stream_id, "error", code, description);
    }

    /// Sends a tag to a player; ignored for streams not playing.
    pub fn send_tag(&mut self, stream_id: u32, tag: &Tag) {
        if self.state(stream_id) == Some(StreamState::Playing) {
            self.conn.send_tag(tag, stream_id);
        }
    }

    /// `tag` chunked once for every player on message stream `stream_id`, to be sent
    /// with [`ServerSession::send_shared`] by each: the chunks carry the tag's own
    /// (absolute) timestamp, as nginx-rtmp sends them.
    pub fn chunk_tag(tag: &Tag, stream_id: u32) -> Result<Chunked, ChunkError> {
        connection::chunk_tag(tag, stream_id)
    }

    /// Sends a tag to a player as `chunked` (from [`ServerSession::chunk_tag`]), the
    /// same bytes every player shares, when they fit this connection (its chunk size,
    /// the stream id); else encoded for it alone, as [`ServerSession::send_tag`] does.
    pub fn send_shared(&mut self, stream_id: u32, tag: &Tag, chunked: &Chunked) {
        if self.state(stream_id) != Some(StreamState::Playing) {
            return;
        }
        if chunked.stream_id() != stream_id || !self.conn.send_chunked(chunked) {
            self.conn.send_tag(tag, stream_id);
        }
    }

    /// Tells a player its stream's publisher left (StreamEOF and `NetStream.Play.UnpublishNotify`).
    pub fn end_stream(&mut self, stream_id: u32) {
        let eof = UserControl::StreamEof(stream_id);
        self.notify(
            stream_id,
            eof,
            "NetStream.Play.UnpublishNotify",
            "Stream unpublished.",
        );
    }

    /// Tells a player its stream's publisher is back (StreamBegin and
    /// `NetStream.Play.PublishNotify`, as nginx-rtmp and FMS do); its media follows.
    pub fn resume_stream(&mut self, stream_id: u32) {
        let begin = UserControl::StreamBegin(stream_id);
        self.notify(
            stream_id,
            begin,
            "NetStream.Play.PublishNotify",
            "Stream published.",
        );
    }

    /// A user control message and a status to a stream being played; nothing to others.
    fn notify(&mut self, stream_id: u32, control: UserControl, code: &str, description: &str) {
        if self.state(stream_id) == Some(StreamState::Playing) {
            self.conn
                .send(&Message::UserControl(control), csid::CONTROL, 0, 0);
            self.send_status(stream_id, "status", code, description);
        }
    }

    pub fn send_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let info = status_info(level, code, description);
        self.conn.send_command(
            Command::new("onStatus", 0.0, Value::Null, vec![info]),
            csid::STREAM_COMMAND,
            stream_id,
        );
    }

    fn on_swf_response(&mut self, data: &[u8]) -> Result<(), SessionError> {
        let Some(swf) = self.swf else { return Ok(()) };
        if !swf.check(&self.conn.s1_tail(), data) {
            return Err(SessionError::SwfVerificationFailed {
                reason: "the answer is not that of the required SWF",
            });
        }
        self.swf_verified = true;
        if let Some(event) = self.held_connect.take() {
            self.events.push_back(event);
        }
        Ok(())
    }

    fn on_command(&mut self, c: Command, stream_id: u32) -> Result<(), SessionError> {
        let first_string = || {
            c.args
                .iter()
                .find_map(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match c.name.as_str() {
            "connect" => {
                if self.connect_received {
                    return Err(SessionError::SecondConnect);
                }
                let app = c
                    .object
                    .get("app")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let tc_url = c
                    .object
                    .get("tcUrl")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                self.object_encoding = c
                    .object
                    .get("objectEncoding")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                self.connect_received = true;
                self.connect_transaction = Some(c.transaction_id);
                let event = ServerEvent::Connect {
                    app,
                    tc_url,
                    object: c.object,
                };
                if self.swf.is_some() && !self.swf_verified {
                    self.held_connect = Some(event);
                } else {
                    self.events.push_back(event);
                }
            }
            // Commands after connect but before the caller decided are fine: clients may
            // pipeline, and the caller sees the Connect event first and closes on reject.
            _ if !self.connect_received => {
                return Err(SessionError::BeforeConnect {
                    command: c.name.clone(),
                });
            }
            _ if self.held_connect.is_some() => {
                return Err(SessionError::SwfVerificationFailed {
                    reason: "a command came before the answer to the verification request",
                });
            }
            "createStream" => {
                if self.streams.len() >= MAX_STREAMS {
                    return Err(SessionError::TooManyStreams { limit: MAX_STREAMS });
                }
                let id = self.next_stream_id;
                self.next_stream_id += 1;
                self.streams.push((id, StreamState::Idle));
                let reply = Command::new(
                    "_result",
                    c.transaction_id,
                    Value::Null,
                    vec![f64::from(id).into()],
                );
                self.conn.send_command(reply, csid::COMMAND, 0);
            }
            "publish" => {
                let kind = c
                    .args
                    .iter()
                    .filter_map(Value::as_str)
                    .nth(1)
                    .unwrap_or("live")
                    .to_owned();
                self.stream_request(
                    stream_id,
                    ServerEvent::Publish {
                        stream_id,
                        name: first_string(),
                        kind,
                    },
                )?
            }
            "play" => self.stream_request(
                stream_id,
                ServerEvent::Play {
                    stream_id,
                    name: first_string(),
                },
            )?,
            "deleteStream" => {
                let id = c
                    .args
                    .iter()
                    .find_map(Value::as_f64)
                    .map_or(stream_id, |n| n as u32);
                self.close_stream(id);
                self.streams.retain(|(s, _)| *s != id);
            }
            "closeStream" => self.close_stream(stream_id),
            "FCUnpublish" => {
                let publishing = self
                    .streams
                    .iter()
                    .find(|(_, s)| matches!(s, StreamState::PublishAsked | StreamState::Publishing))
                    .map(|(id, _)| *id);
                if let Some(id) = publishing {
                    self.close_stream(id);
                }
            }
            // releaseStream, FCPublish, FCSubscribe, getStreamLength…: answered so clients that wait proceed.
            _ if c.transaction_id > 0.0 => {
                let reply = Command::new(
                    "_result",
                    c.transaction_id,
                    Value::Null,
                    vec![Value::Undefined],
                );
                self.conn.send_command(reply, csid::COMMAND, 0);
            }
            _ => {}
        }
        Ok(())
    }

    fn stream_request(&mut self, stream_id: u32, event: ServerEvent) -> Result<(), SessionError> {
        if self.state(stream_id) != Some(StreamState::Idle) {
            return Err(SessionError::StreamNotIdle { stream_id });
        }
        // Publishers pipeline metadata and sequence headers right behind `publish`: they
        // become events after the Publish event, and the caller drops them if it rejects.
        let requested = if matches!(event, ServerEvent::Publish { .. }) {
            StreamState::PublishAsked
        } else {
            StreamState::PlayAsked
        };
        self.set_state(stream_id, requested);
        self.events.push_back(event);
        Ok(())
    }

    fn close_stream(&mut self, stream_id: u32) {
        if self.state(stream_id).is_none_or(|s| s == StreamState::Idle) {
            return;
        }
        self.set_state(stream_id, StreamState::Idle);
        self.events
            .push_back(ServerEvent::StreamClosed { stream_id });
        self.relimit();
    }

    /// A publisher's chunk limits while a publish of this connection is accepted, the
    /// lower ones otherwise: a connection that published once, or asked to, must not
    /// keep them (what it buffers past the lower ones ends it, `ChunkDecoder::set_limits`).
    fn relimit(&mut self) {
        let publishing = (self.streams.iter()).any(|(_, s)| *s == StreamState::Publishing);
        self.conn.set_chunk_limits(if publishing {
            self.publish_limits
        } else {
            self.limits_before_publish
        });
    }

    fn state(&self, stream_id: u32) -> Option<StreamState> {
        self.streams
            .iter()
            .find(|(id, _)| *id == stream_id)
            .map(|(_, s)| *s)
    }

    fn set_state(&mut self, stream_id: u32, state: StreamState) {
        if let Some(entry) = self.streams.iter_mut().find(|(id, _)| *id == stream_id) {
            entry.1 = state;
        }
    }
}

fn status_info(level: &str, code: &str, description: &str) -> Value {
    Value::object([
        ("level", level.into()),
        ("code", code.into()),
        ("description", description.into()),
    ])
}
