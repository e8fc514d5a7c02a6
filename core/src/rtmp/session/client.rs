//! The client side: connect → createStream → play or publish, as librtmp and
//! Flash Player do it, so Flash Media Server, Red5, nginx-rtmp and SRS all accept it.

use std::collections::VecDeque;

use bytes::Bytes;

use super::connection::{self, Connection, WINDOW_ACK_SIZE};
use super::{SessionError, SessionLimits, csid};
use crate::amf::Value;
use crate::flv::{Tag, TagType};
use crate::rtmp::handshake::{Handshake, HandshakeMode};
use crate::rtmp::message::{self, Command, Message, UserControl};
use crate::rtmp::url::RtmpUrl;
use crate::rtmp::{secure_token, swf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMode {
    Play,
    Publish,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `connect` succeeded: the server's properties (`fmsVer`, `capabilities`…) and info object.
    Connected {
        properties: Value,
        info: Value,
    },
    StreamCreated {
        stream_id: u32,
    },
    /// `NetStream.Play.Start`.
    Playing,
    /// `NetStream.Publish.Start`: tags may now be sent.
    Publishing,
    /// A media or data tag of the played stream (`onMetaData` without `@setDataFrame`).
    Tag(Tag),
    /// Any other status the server sent, e.g. `NetStream.Play.Reset`.
    Status {
        level: String,
        code: String,
        description: String,
    },
    /// The stream ended: `NetStream.Play.Stop`, `…Complete`, `…UnpublishNotify` or StreamEOF.
    StreamEnd {
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Connect,
    CreateStream,
    Other,
}

pub struct ClientSession {
    conn: Connection,
    url: RtmpUrl,
    mode: ClientMode,
    next_transaction: f64,
    pending: Vec<(f64, Pending)>,
    stream_id: Option<u32>,
    publishing: bool,
    events: VecDeque<ClientEvent>,
}

impl ClientSession {
    /// `epoch` and `random` fill the handshake's C1; the session starts sending at once.
    pub fn new(url: RtmpUrl, mode: ClientMode, epoch: u32, random: &[u8]) -> Self {
        ClientSession {
            conn: Connection::new(
                Handshake::client(HandshakeMode::Digest, epoch, random),
                SessionLimits::default(),
            ),
            url,
            mode,
            next_transaction: 1.0,
            pending: Vec::new(),
            stream_id: None,
            publishing: false,
            events: VecDeque::new(),
        }
    }

    /// An RTMPE client (`rtmpe://`): as [`ClientSession::new`], with the Diffie–Hellman
    /// private key from `dh_private` (random bytes from the caller).
    #[cfg(feature = "rtmpe")]
    pub fn encrypted(
        url: RtmpUrl,
        mode: ClientMode,
        epoch: u32,
        random: &[u8],
        dh_private: &[u8],
    ) -> Self {
        ClientSession {
            conn: Connection::new(
                Handshake::client_encrypted(epoch, random, dh_private),
                SessionLimits::default(),
            ),
            ..ClientSession::new(url, mode, epoch, &[])
        }
    }

    /// Feeds bytes received from the server. An error means the session is over.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), SessionError> {
        if self.conn.feed(data)? {
            self.send_connect();
        }
        while let Some((raw, msg)) = self.conn.poll_message()? {
            match msg {
                Message::Command(c) => self.on_command(c)?,
                Message::SetPeerBandwidth { .. } => self.conn.send(
                    &Message::WindowAckSize(WINDOW_ACK_SIZE),
                    csid::CONTROL,
                    0,
                    0,
                ),
                Message::UserControl(UserControl::Other { event, .. })
                    if event == swf::REQUEST_EVENT =>
                {
                    self.on_swf_verify_request()
                }
                Message::UserControl(UserControl::StreamEof(id)) if Some(id) == self.stream_id => {
                    self.events.push_back(ClientEvent::StreamEnd {
                        reason: "StreamEOF".into(),
                    })
                }
                Message::Data(ref d)
                    if message::data_name(d).as_deref() == Some("onPlayStatus") =>
                {
                    self.on_play_status(d)
                }
                _ if Some(raw.stream_id) == self.stream_id => {
                    for tag in connection::tags(&raw, &msg)? {
                        // `|RtmpSampleAccess` is a Flash Player permission, not stream data.
                        let skip = tag.tag_type == TagType::Script
                            && message::data_name(&tag.data).is_some_and(|n| n.starts_with('|'));
                        if !skip {
                            self.events.push_back(ClientEvent::Tag(tag));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the server, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.conn.poll_transmit()
    }

    pub fn stream_id(&self) -> Option<u32> {
        self.stream_id
    }

    /// Sends a tag to the server; only after [`ClientEvent::Publishing`].
    pub fn send_tag(&mut self, tag: &Tag) -> Result<(), SessionError> {
        match self.stream_id {
            Some(id) if self.publishing => {
                self.conn.send_tag(tag, id);
                Ok(())
            }
            _ => Err(SessionError::WrongState {
                what: "sending media",
                when: "after NetStream.Publish.Start",
            }),
        }
    }

    /// Ends the stream politely (`FCUnpublish`, `deleteStream`); the caller then closes the socket.
    pub fn close(&mut self) {
        let Some(id) = self.stream_id.take() else {
            return;
        };
        if self.publishing {
            let name = self.url.playpath.clone();
            self.command(
                "FCUnpublish",
                Value::Null,
                vec![name.into()],
                Pending::Other,
            );
        }
        self.command(
            "deleteStream",
            Value::Null,
            vec![f64::from(id).into()],
            Pending::Other,
        );
    }

    fn command(&mut self, name: &str, object: Value, args: Vec<Value>, pending: Pending) {
        let tid = self.next_transaction;
        self.next_transaction += 1.0;
        if pending != Pending::Other {
            self.pending.push((tid, pending));
        }
        self.conn
            .send_command(Command::new(name, tid, object, args), csid::COMMAND, 0);
    }

    fn send_connect(&mut self) {
        if self.mode == ClientMode::Publish {
            self.conn.send_chunk_size();
        }
        let u = &self.url;
        let mut props: Vec<(&str, Value)> = vec![("app", u.app.as_str().into())];
        if self.mode == ClientMode::Publish {
            props.push(("type", "nonprivate".into()));
        }
        props.push(("flashVer", u.flash_ver.as_str().into()));
        if let Some(swf) = &u.swf_url {
            props.push(("swfUrl", swf.as_str().into()));
        }
        props.push(("tcUrl", u.tc_url.as_str().into()));
        if self.mode == ClientMode::Play {
            // The values librtmp and Flash Player send: all audio and video codecs, seek support.
            props.extend([
                ("fpad", false.into()),
                ("capabilities", 15.0.into()),
                ("audioCodecs", 3191.0.into()),
                ("videoCodecs", 252.0.into()),
                ("videoFunction", 1.0.into()),
            ]);
            if let Some(page) = &u.page_url {
                props.push(("pageUrl", page.as_str().into()));
            }
        }
        // Enhanced RTMP v1: tell servers that relay HEVC/AV1/VP9 that we take them.
        let fourccs = [
            "hvc1", "av01", "vp09", "avc1", "Opus", "fLaC", "mp4a", ".mp3",
        ];
        props.push((
            "fourCcList",
            Value::StrictArray(fourccs.iter().map(|&s| s.into()).collect()),
        ));
        props.push(("objectEncoding", 0.0.into()));
        let args = u.conn.clone();
        self.command("connect", Value::object(props), args, Pending::Connect);
    }

    fn on_command(&mut self, c: Command) -> Result<(), SessionError> {
        match c.name.as_str() {
            "_result" | "_error" => {
                let pos = self
                    .pending
                    .iter()
                    .position(|(t, _)| *t == c.transaction_id);
                let Some((_, what)) = pos.map(|i| self.pending.swap_remove(i)) else {
                    return Ok(()); // a reply to releaseStream/FCPublish/etc: nothing waits on it
                };
                if c.name == "_error" {
                    return Err(match what {
                        Pending::Connect => SessionError::Rejected {
                            code: c
                                .code()
                                .unwrap_or("NetConnection.Connect.Rejected")
                                .to_owned(),
                            description: c.description().to_owned(),
                        },
                        _ => failed("createStream", &c),
                    });
                }
                match what {
                    Pending::Connect => self.on_connected(c),
                    Pending::CreateStream => self.on_stream_created(&c)?,
                    Pending::Other => {}
                }
            }
            "onStatus" => self.on_status(&c)?,
            "close" => self.events.push_back(ClientEvent::StreamEnd {
                reason: "server closed the connection".into(),
            }),
            // onBWDone, onFCSubscribe, onFCPublish, _checkbw…: informational.
            _ => {}
        }
        Ok(())
    }

    fn on_connected(&mut self, c: Command) {
        self.conn.send(
            &Message::WindowAckSize(WINDOW_ACK_SIZE),
            csid::CONTROL,
            0,
            0,
        );
        self.answer_secure_token(&c);
        let playpath = self.url.playpath.clone();
        match self.mode {
            ClientMode::Play => {
                if self.url.live {
                    // Live edge servers (FMS, Akamai, Limelight) only start after FCSubscribe.
                    let name = self
                        .url
                        .subscribe
                        .clone()
                        .unwrap_or_else(|| playpath.clone());
                    self.command(
                        "FCSubscribe",
                        Value::Null,
                        vec![name.into()],
                        Pending::Other,
                    );
                }
            }
            ClientMode::Publish => {
                self.command(
                    "releaseStream",
                    Value::Null,
                    vec![playpath.clone().into()],
                    Pending::Other,
                );
                self.command(
                    "FCPublish",
                    Value::Null,
                    vec![playpath.into()],
                    Pending::Other,
                );
            }
        }
        self.command("createStream", Value::Null, vec![], Pending::CreateStream);
        let info = c.args.into_iter().next().unwrap_or(Value::Null);
        self.events.push_back(ClientEvent::Connected {
            properties: c.object,
            info,
        });
    }

    /// librtmp answers only when it knows the SWF (`swfhash=`/`swfsize=`); a server
    /// that demands verification then closes the connection, as it does for librtmp.
    fn on_swf_verify_request(&mut self) {
        let Some(swf) = self.url.swf else { return };
        let answer = swf.response(&self.conn.s1_tail());
        let msg = Message::UserControl(UserControl::Other {
            event: swf::RESPONSE_EVENT,
            data: Bytes::copy_from_slice(&answer),
        });
        self.conn.send(&msg, csid::CONTROL, 0, 0);
    }

    /// SecureToken: a `secureToken` in the connect result, with `token=` given, is
    /// answered with its decryption before anything else (librtmp's order).
    fn answer_secure_token(&mut self, c: &Command) {
        let Some(key) = &self.url.token else { return };
        let challenge = std::iter::once(&c.object)
            .chain(&c.args)
            .find_map(|v| v.get("secureToken")?.as_str());
        let Some(challenge) = challenge else { return };
        let plain = secure_token::decrypt(key, challenge);
        let answer = String::from_utf8_lossy(&plain).into_owned();
        self.conn.send_command(
            Command::new("secureTokenResponse", 0.0, Value::Null, vec![answer.into()]),
            csid::COMMAND,
            0,
        );
    }

    fn on_stream_created(&mut self, c: &Command) -> Result<(), SessionError> {
        let id = c
            .args
            .iter()
            .find_map(Value::as_f64)
            .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n <= f64::from(u32::MAX));
        let Some(id) = id else {
            return Err(SessionError::NoStreamId);
        };
        let id = id as u32;
        self.stream_id = Some(id);
        self.events
            .push_back(ClientEvent::StreamCreated { stream_id: id });
        let name: Value = self.url.playpath.as_str().into();
        let cmd = match self.mode {
            ClientMode::Play => {
                // librtmp: -1000 plays live only, -2 live or recorded, else a seek position in ms.
                let start = match self.url.start {
                    Some(s) if s > 0.0 => s * 1000.0,
                    _ if self.url.live => -1000.0,
                    _ => -2.0,
                };
                let mut args = vec![name, start.into()];
                if let Some(stop) = self.url.stop {
                    args.push(((stop - self.url.start.unwrap_or(0.0).max(0.0)) * 1000.0).into());
                }
                Command::new("play", 0.0, Value::Null, args)
            }
            ClientMode::Publish => {
                Command::new("publish", 0.0, Value::Null, vec![name, "live".into()])
            }
        };
        self.conn.send_command(cmd, csid::STREAM_COMMAND, id);
        if self.mode == ClientMode::Play {
            let buffer = UserControl::SetBufferLength {
                stream_id: id,
                buffer_ms: self.url.buffer_ms,
            };
            self.conn
                .send(&Message::UserControl(buffer), csid::CONTROL, 0, 0);
        }
        Ok(())
    }

    fn on_status(&mut self, c: &Command) -> Result<(), SessionError> {
        let code = c.code().unwrap_or_default();
        let level = c
            .info()
            .and_then(|i| i.get("level"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        match code {
            "NetStream.Play.Start" => self.events.push_back(ClientEvent::Playing),
            "NetStream.Publish.Start" => {
                self.publishing = true;
                self.events.push_back(ClientEvent::Publishing);
            }
            "NetStream.Play.StreamNotFound" => {
                return Err(SessionError::StreamNotFound {
                    stream: self.url.playpath.clone(),
                    code: code.to_owned(),
                    description: c.description().to_owned(),
                });
            }
            "NetStream.Play.Stop"
            | "NetStream.Play.Complete"
            | "NetStream.Play.UnpublishNotify" => self.events.push_back(ClientEvent::StreamEnd {
                reason: code.to_owned(),
            }),
            _ if level == "error" => {
                let command = if self.mode == ClientMode::Play {
                    "play"
                } else {
                    "publish"
                };
                return Err(failed(command, c));
            }
            _ => self.events.push_back(ClientEvent::Status {
                level: level.to_owned(),
                code: code.to_owned(),
                description: c.description().to_owned(),
            }),
        }
        Ok(())
    }

    fn on_play_status(&mut self, data: &[u8]) {
        let values = crate::amf::amf0::decode_all(data).unwrap_or_default();
        let code = values
            .iter()
            .find_map(|v| v.get("code")?.as_str())
            .unwrap_or_default();
        if code == "NetStream.Play.Complete" {
            self.events.push_back(ClientEvent::StreamEnd {
                reason: code.to_owned(),
            });
        }
    }
}

fn failed(command: &'static str, c: &Command) -> SessionError {
    SessionError::Failed {
        command,
        code: c.code().unwrap_or("unknown").to_owned(),
        description: c.description().to_owned(),
    }
}
