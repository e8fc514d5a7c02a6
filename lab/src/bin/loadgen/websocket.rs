//! The client side of RFC 6455 that a WS-FLV viewer needs: the opening request, and the
//! server's frames parsed from the bytes as they arrive, each binary message's payload
//! handed on as it comes. Nothing is buffered per viewer but a frame header and a
//! control frame's payload: ten thousand viewers in one process read into one shared
//! buffer (a WebSocket library keeps a read buffer and a message per connection, and
//! copies each message twice).

use anyhow::{Result, bail};

const OP_CONTINUATION: u8 = 0;
const OP_TEXT: u8 = 1;
const OP_BINARY: u8 = 2;
const OP_CLOSE: u8 = 8;
const OP_PING: u8 = 9;
const OP_PONG: u8 = 10;
/// RFC 6455 §5.5: control frames carry at most 125 bytes.
const MAX_CONTROL: u64 = 125;
/// A WS-FLV message is a few tags: anything near this is a broken length.
const MAX_FRAME: u64 = 64 << 20;

/// The opening handshake's request. The key is RFC 6455's own example (§1.3): a
/// viewer checks only that the server switched protocols.
pub fn upgrade_request(host: &str, port: u16, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A pong answering a ping's `payload`, masked as every client frame must be (with
/// the all-zero key, which leaves the payload as it is).
pub fn pong(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![
        0x80 | OP_PONG,
        0x80 | payload.len().min(125) as u8,
        0,
        0,
        0,
        0,
    ];
    frame.extend_from_slice(payload.get(..125.min(payload.len())).unwrap_or_default());
    frame
}

/// What the server's frames said, in order.
pub enum Event<'a> {
    /// The next payload bytes of a binary message.
    Data(&'a [u8]),
    /// The binary message whose bytes came as `Data` ended.
    MessageEnd,
    Ping(Vec<u8>),
    Close,
}

/// The server's frames, parsed incrementally: any split of the bytes gives the same events.
#[derive(Default)]
pub struct Frames {
    /// The frame header so far: 2 bytes, then 0, 2 or 8 of extended length (a server
    /// never masks).
    head: [u8; 10],
    head_len: usize,
    /// In a frame's payload, with this much of it still to come.
    in_payload: bool,
    left: u64,
    opcode: u8,
    fin: bool,
    /// A control frame's payload so far.
    control: Vec<u8>,
}

impl Frames {
    /// Parses `data`, telling `on` what it held. An error is the server's mistake.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<()>,
    ) -> Result<()> {
        loop {
            if !self.in_payload {
                let need = match self.head_len {
                    0 | 1 => 2,
                    _ => 2 + extended_len(self.head[1]),
                };
                if self.head_len < need {
                    let Some((&byte, rest)) = data.split_first() else {
                        return Ok(());
                    };
                    self.head[self.head_len] = byte;
                    self.head_len += 1;
                    data = rest;
                    continue;
                }
                self.start_payload()?;
            }
            let take = usize::try_from(self.left).map_or(data.len(), |left| left.min(data.len()));
            let (payload, rest) = data.split_at(take);
            data = rest;
            self.left -= take as u64;
            match self.opcode {
                OP_BINARY | OP_CONTINUATION if !payload.is_empty() => on(Event::Data(payload))?,
                OP_BINARY | OP_CONTINUATION => {}
                _ => self.control.extend_from_slice(payload),
            }
            if self.left > 0 {
                return Ok(());
            }
            self.in_payload = false;
            match self.opcode {
                OP_BINARY | OP_CONTINUATION if self.fin => on(Event::MessageEnd)?,
                OP_PING => on(Event::Ping(std::mem::take(&mut self.control)))?,
                OP_CLOSE => return on(Event::Close),
                _ => self.control.clear(),
            }
            if data.is_empty() {
                return Ok(());
            }
        }
    }

    /// The header is whole: the frame's payload comes next.
    fn start_payload(&mut self) -> Result<()> {
        let [b0, b1, ..] = self.head;
        if b1 & 0x80 != 0 {
            bail!("the server masked a frame (RFC 6455 §5.1 forbids it)");
        }
        let len = match b1 & 0x7F {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&self.head[2..10]);
                u64::from_be_bytes(bytes)
            }
            n => u64::from(n),
        };
        self.opcode = b0 & 0x0F;
        self.fin = b0 & 0x80 != 0;
        match self.opcode {
            OP_TEXT => bail!("unexpected text message"),
            OP_CLOSE | OP_PING | OP_PONG if len > MAX_CONTROL => {
                bail!("a control frame of {len} bytes (at most {MAX_CONTROL})")
            }
            OP_BINARY | OP_CONTINUATION | OP_CLOSE | OP_PING | OP_PONG => {}
            op => bail!("unknown opcode {op}"),
        }
        if len > MAX_FRAME {
            bail!("a frame of {len} bytes");
        }
        self.left = len;
        self.head_len = 0;
        self.in_payload = true;
        self.control.clear();
        Ok(())
    }
}

/// Bytes of extended payload length after the second header byte.
fn extended_len(b1: u8) -> usize {
    match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of `bytes` fed in pieces of `step` bytes, payloads joined per message.
    fn events(bytes: &[u8], step: usize) -> Result<Vec<String>> {
        let mut frames = Frames::default();
        let mut out = Vec::new();
        let mut message = Vec::new();
        for piece in bytes.chunks(step) {
            frames.feed(piece, &mut |event| {
                match event {
                    Event::Data(d) => message.extend_from_slice(d),
                    Event::MessageEnd => {
                        out.push(format!("binary {:?}", std::mem::take(&mut message)))
                    }
                    Event::Ping(p) => out.push(format!("ping {p:?}")),
                    Event::Close => out.push("close".into()),
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    #[test]
    fn frames_split_anywhere_give_the_same_events() {
        let mut bytes = vec![0x82, 3, 1, 2, 3];
        // A fragmented message: a binary frame without FIN, a ping between, the continuation.
        bytes.extend_from_slice(&[0x02, 1, 4, 0x89, 2, 9, 9, 0x80, 1, 5]);
        // A 300-byte message with a 16-bit length, an empty one, then close.
        bytes.extend_from_slice(&[0x82, 126, 1, 44]);
        bytes.extend(std::iter::repeat_n(7u8, 300));
        bytes.extend_from_slice(&[0x82, 0, 0x88, 0]);
        let whole = events(&bytes, bytes.len()).unwrap();
        assert_eq!(whole.len(), 6);
        assert_eq!(whole[0], "binary [1, 2, 3]");
        assert_eq!(whole[1], "ping [9, 9]");
        assert_eq!(whole[2], "binary [4, 5]");
        assert_eq!(whole[4], "binary []");
        assert_eq!(whole[5], "close");
        for step in 1..12 {
            assert_eq!(events(&bytes, step).unwrap(), whole, "in pieces of {step}");
        }
    }

    #[test]
    fn masked_text_and_oversized_control_frames_are_errors() {
        assert!(events(&[0x82, 0x81, 0, 0, 0, 0, 1], 7).is_err());
        assert!(events(&[0x81, 1, b'a'], 3).is_err());
        assert!(events(&[0x89, 126, 0, 200], 4).is_err());
    }

    #[test]
    fn a_pong_is_masked_and_echoes_the_ping() {
        assert_eq!(pong(&[1, 2]), [0x8A, 0x82, 0, 0, 0, 0, 1, 2]);
    }
}
