//! The WebSocket side of WS-FLV (RFC 6455), kept to what a viewer needs: the opening
//! handshake, binary messages out, and the few frames a viewer sends (pings, a close).
//!
//! Written here rather than taken from a general WebSocket library because a message
//! out is then a frame header followed by the channel's own FLV bytes, shared by every
//! viewer and handed to one vectored write: no copy into a per-viewer buffer, and no
//! buffer held per viewer (what dominated a viewer's memory and much of its CPU,
//! `docs/benchmarks.md`, "where the time goes").

use std::collections::VecDeque;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::vectored;

/// RFC 6455 §1.3: appended to the client's key before hashing.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A request to upgrade to a WebSocket: an extractor that fails (and the request is
/// plain HTTP) unless it is a version-13 GET upgrade with a key.
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Not a WebSocket upgrade request.
#[derive(Debug)]
pub struct NotUpgrade;

impl axum::response::IntoResponse for NotUpgrade {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, "expected a WebSocket upgrade").into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotUpgrade> {
        if parts.method != Method::GET
            || !has_token(&parts.headers, header::CONNECTION, "upgrade")
            || !has_token(&parts.headers, header::UPGRADE, "websocket")
            || parts.headers.get(header::SEC_WEBSOCKET_VERSION)
                != Some(&HeaderValue::from_static("13"))
        {
            return Err(NotUpgrade);
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .cloned()
            .ok_or(NotUpgrade)?;
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or(NotUpgrade)?;
        Ok(Upgrade { key, on_upgrade })
    }
}

impl Upgrade {
    /// The 101 answer; `serve` runs on the connection once the client has it.
    pub fn on_upgrade<F, Fut>(self, serve: F) -> Response
    where
        F: FnOnce(hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let accept = accept_key(self.key.as_bytes());
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => serve(hyper_util::rt::TokioIo::new(upgraded)).await,
                Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
            }
        });
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

/// RFC 6455 §4.2.2: base64 of SHA-1 of the key and the GUID.
fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Writes one binary message whose payload is `parts` one after the other: the frame
/// header and the parts in vectored writes, nothing copied.
pub async fn write_binary<W: AsyncWrite + Unpin>(
    io: &mut W,
    parts: impl IntoIterator<Item = Bytes>,
) -> std::io::Result<()> {
    let mut pending: VecDeque<Bytes> = VecDeque::new();
    pending.push_back(Bytes::new());
    let mut len = 0u64;
    for part in parts {
        len += part.len() as u64;
        pending.push_back(part);
    }
    pending[0] = frame_header(OP_BINARY, len);
    vectored::write_all(io, &mut pending, None).await
}

/// Writes a control frame (pong, close) with `payload` (at most 125 bytes).
pub async fn write_control<W: AsyncWrite + Unpin>(
    io: &mut W,
    opcode: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut frame = frame_header(opcode, payload.len() as u64).to_vec();
    frame.extend_from_slice(payload);
    io.write_all(&frame).await
}

pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// A final, unmasked frame's header (servers never mask, RFC 6455 §5.1).
fn frame_header(opcode: u8, len: u64) -> Bytes {
    let mut h = Vec::with_capacity(10);
    h.push(0x80 | opcode);
    match len {
        0..=125 => h.push(len as u8),
        126..=0xFFFF => {
            h.push(126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h.push(127);
            h.extend_from_slice(&len.to_be_bytes());
        }
    }
    Bytes::from(h)
}

/// What a viewer sent that needs an answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// Answer with a pong carrying the same bytes.
    Ping(Vec<u8>),
    /// The viewer closes: answer with a close, then end.
    Close,
}

/// Why a viewer's frames end its connection.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a frame from the client is not masked (RFC 6455 §5.1)")]
    Unmasked,
    #[error("a frame of {len} bytes is over the limit of {limit}")]
    TooLarge { len: u64, limit: u64 },
    #[error("a control frame of {len} bytes (at most 125, unfragmented)")]
    BadControl { len: u64 },
    #[error(
        "a frame with reserved bits or a reserved opcode (first byte {byte:#04x}; no extension was agreed)"
    )]
    Reserved { byte: u8 },
    #[error("{MAX_DATA_FRAMES} data frames from a viewer, which only receives")]
    TooManyData,
}

/// Data frames a viewer may send: a WS-FLV viewer has nothing to say (flv.js,
/// mpegts.js and this project's player send none), and each frame costs a read.
pub const MAX_DATA_FRAMES: u64 = 64;

/// The frames a viewer sends, read as they come (any split): pings and a close are
/// reported, data frames skipped without being buffered, a message over `limit` (a
/// frame, or the frames of a fragmented one together) refused at the header that
/// takes it over, and so is a data frame past [`MAX_DATA_FRAMES`].
#[derive(Debug)]
pub struct ClientFrames {
    limit: u64,
    /// The bytes of a fragmented data message so far, until its final frame.
    message: u64,
    /// Bytes of a header not complete yet (at most 14).
    head: Vec<u8>,
    /// The frame being read: its opcode, mask, payload bytes still to come, and the
    /// payload so far when it is a control frame.
    frame: Option<Frame>,
    /// Data frames (continuations too) so far.
    data_frames: u64,
}

#[derive(Debug)]
struct Frame {
    opcode: u8,
    mask: [u8; 4],
    left: u64,
    control: Vec<u8>,
}

impl ClientFrames {
    pub fn new(limit: usize) -> Self {
        ClientFrames {
            limit: limit as u64,
            message: 0,
            head: Vec::new(),
            frame: None,
            data_frames: 0,
        }
    }

    /// Reads `data`; what needs an answer is pushed to `out`, in order.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<Incoming>) -> Result<(), FrameError> {
        while !data.is_empty() {
            let Some(frame) = &mut self.frame else {
                let (byte, rest) = (data[0], &data[1..]);
                self.head.push(byte);
                data = rest;
                self.header()?;
                self.finish_if_empty(out);
                continue;
            };
            let take = (frame.left.min(data.len() as u64)) as usize;
            if frame.opcode >= OP_CLOSE {
                frame.control.extend_from_slice(&data[..take]);
            }
            frame.left -= take as u64;
            data = &data[take..];
            if frame.left == 0 {
                self.finish(out);
            }
        }
        Ok(())
    }

    /// Parses the header once whole; a frame with no payload finishes at once.
    fn header(&mut self) -> Result<(), FrameError> {
        let h = &self.head;
        if h.len() < 2 {
            return Ok(());
        }
        let masked = h[1] & 0x80 != 0;
        let (len_bytes, short) = match h[1] & 0x7F {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(u64::from(n))),
        };
        let need = 2 + len_bytes + 4;
        if !masked {
            return Err(FrameError::Unmasked);
        }
        if h.len() < need {
            return Ok(());
        }
        let len = short.unwrap_or_else(|| {
            h[2..2 + len_bytes]
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        });
        let opcode = h[0] & 0x0F;
        let fin = h[0] & 0x80 != 0;
        if h[0] & 0x70 != 0 || matches!(opcode, 3..=7 | 0xB..) {
            return Err(FrameError::Reserved { byte: h[0] });
        }
        if opcode >= OP_CLOSE && (len > 125 || !fin) {
            return Err(FrameError::BadControl { len });
        }
        // A continuation (opcode 0) adds to its message; data frames are all kept to the limit.
        let total = if opcode == 0 {
            self.message.saturating_add(len)
        } else {
            len
        };
        if total > self.limit {
            return Err(FrameError::TooLarge {
                len: total,
                limit: self.limit,
            });
        }
        if opcode < OP_CLOSE {
            self.data_frames += 1;
            if self.data_frames > MAX_DATA_FRAMES {
                return Err(FrameError::TooManyData);
            }
            self.message = if fin { 0 } else { total };
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&h[need - 4..need]);
        self.head.clear();
        self.frame = Some(Frame {
            opcode,
            mask,
            left: len,
            control: Vec::new(),
        });
        Ok(())
    }

    fn finish_if_empty(&mut self, out: &mut Vec<Incoming>) {
        if self.frame.as_ref().is_some_and(|f| f.left == 0) {
            self.finish(out);
        }
    }

    fn finish(&mut self, out: &mut Vec<Incoming>) {
        let Some(mut frame) = self.frame.take() else {
            return;
        };
        for (i, b) in frame.control.iter_mut().enumerate() {
            *b ^= frame.mask[i % 4];
        }
        match frame.opcode {
            OP_PING => out.push(Incoming::Ping(frame.control)),
            OP_CLOSE => out.push(Incoming::Close),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked, as clients must send them.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut f = vec![first];
        match payload.len() {
            n @ 0..=125 => f.push(0x80 | n as u8),
            n => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    #[test]
    fn accept_key_is_the_one_of_rfc_6455() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frame_headers_use_the_shortest_length() {
        assert_eq!(&frame_header(OP_BINARY, 5)[..], [0x82, 5]);
        assert_eq!(&frame_header(OP_BINARY, 300)[..], [0x82, 126, 1, 44]);
        assert_eq!(
            &frame_header(OP_BINARY, 70_000)[..],
            [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]
        );
    }

    #[tokio::test]
    async fn a_message_of_several_parts_is_one_frame_of_them_all() {
        let mut out = Vec::new();
        let parts = [
            Bytes::from_static(b"abc"),
            Bytes::new(),
            Bytes::from(vec![7u8; 200]),
        ];
        write_binary(&mut out, parts).await.unwrap();
        assert_eq!(out[..4], [0x82, 126, 0, 203]);
        assert_eq!(&out[4..7], b"abc");
        assert_eq!(out.len(), 4 + 203);
    }

    #[test]
    fn pings_and_a_close_are_read_at_any_split_and_data_skipped() {
        let mut wire = client_frame(0x82, &[1u8; 300]);
        wire.extend(client_frame(0x89, b"hello"));
        wire.extend(client_frame(0x8A, b"pong"));
        wire.extend(client_frame(0x88, &[]));
        for split in 1..wire.len() {
            let mut frames = ClientFrames::new(4096);
            let mut got = Vec::new();
            for piece in wire.chunks(split) {
                frames.feed(piece, &mut got).unwrap();
            }
            assert_eq!(
                got,
                [Incoming::Ping(b"hello".to_vec()), Incoming::Close],
                "split {split}"
            );
        }
    }

    #[test]
    fn data_frames_past_the_limit_are_refused_pings_are_not_counted() {
        let mut frames = ClientFrames::new(4096);
        let mut got = Vec::new();
        for _ in 0..MAX_DATA_FRAMES / 2 {
            // Empty ones, and continuations, count too.
            frames.feed(&client_frame(0x02, &[]), &mut got).unwrap();
            frames.feed(&client_frame(0x80, b"x"), &mut got).unwrap();
            frames.feed(&client_frame(0x89, b""), &mut got).unwrap();
        }
        assert_eq!(got.len() as u64, MAX_DATA_FRAMES / 2, "every ping answered");
        assert_eq!(
            frames.feed(&client_frame(0x81, b"hi"), &mut got),
            Err(FrameError::TooManyData)
        );
    }

    #[test]
    fn a_large_or_unmasked_frame_is_refused_at_its_header() {
        let mut head = vec![0x82, 0x80 | 127];
        head.extend((15u64 << 20).to_be_bytes());
        head.extend([1, 2, 3, 4]);
        let mut got = Vec::new();
        assert_eq!(
            ClientFrames::new(4096).feed(&head, &mut got),
            Err(FrameError::TooLarge {
                len: 15 << 20,
                limit: 4096
            })
        );
        assert_eq!(
            ClientFrames::new(4096).feed(&[0x89, 0], &mut got),
            Err(FrameError::Unmasked)
        );
        let long_ping = client_frame(0x89, &[0u8; 126]);
        assert!(matches!(
            ClientFrames::new(4096).feed(&long_ping, &mut got),
            Err(FrameError::BadControl { len: 126 })
        ));
    }

    #[test]
    fn a_fragmented_message_is_held_to_the_limit_and_reserved_bits_refused() {
        let mut got = Vec::new();
        let mut frames = ClientFrames::new(4096);
        // A message of 3 frames of 1,500 bytes: the third takes it over.
        frames
            .feed(&client_frame(0x02, &[0; 1500]), &mut got)
            .unwrap();
        frames
            .feed(&client_frame(0x00, &[0; 1500]), &mut got)
            .unwrap();
        // A ping between its frames is fine and is answered.
        frames.feed(&client_frame(0x89, b"p"), &mut got).unwrap();
        assert_eq!(
            frames.feed(&client_frame(0x80, &[0; 1500]), &mut got),
            Err(FrameError::TooLarge {
                len: 4500,
                limit: 4096
            })
        );
        assert_eq!(got, [Incoming::Ping(b"p".to_vec())]);
        // A final frame ends the message: the next one counts from zero.
        let mut frames = ClientFrames::new(4096);
        for _ in 0..4 {
            frames
                .feed(&client_frame(0x02, &[0; 2000]), &mut got)
                .unwrap();
            frames
                .feed(&client_frame(0x80, &[0; 2000]), &mut got)
                .unwrap();
        }
        for first in [0xC2, 0xA2, 0x92, 0x83, 0x87, 0x8B, 0x8F] {
            assert_eq!(
                ClientFrames::new(4096).feed(&client_frame(first, b"x"), &mut got),
                Err(FrameError::Reserved { byte: first }),
                "{first:#x}"
            );
        }
    }
}
