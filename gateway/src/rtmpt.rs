//! RTMPT on the RTMP port, as Flash Media Server serves it: a connection whose first byte
//! is `P` (`POST /open/1 …`) is HTTP, not RTMP (whose first byte is 3 or 6). The tunnel
//! (`crate::client::rtmpt` has the exchange) lives on that one kept-alive connection, as
//! librtmp and ffmpeg use it: `send` bodies go into a pipe the RTMP connection reads as
//! its socket, and every answer carries what it wrote meanwhile.

use std::time::Duration;

use anyhow::{Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream, duplex};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::debug;

use crate::client::rtmp::random_bytes;
use crate::client::rtmpt::{PIPE_BYTES, read_body, read_head, write_answer};
use crate::client::transport::BoxedTransport;

/// How long an `idle` waits for the RTMP connection to have something: long enough that
/// a client polling without pause (librtmp ignores the delay byte) does not spin.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// After a `send`, a moment for the answer (the handshake's S0-S2, a command's result).
const SEND_WAIT: Duration = Duration::from_millis(10);
/// One answer carries at most this much; the rest waits for the next poll.
const MAX_ANSWER: usize = 1 << 20;
/// A tunnel whose client stops polling for this long is closed.
const POLL_TIMEOUT: Duration = Duration::from_secs(60);

/// The socket to run RTMP over: `socket` itself, or the pipe of an RTMPT tunnel on it.
pub async fn accept(socket: TcpStream, limit: Duration) -> Result<BoxedTransport> {
    let mut first = [0u8; 1];
    let Ok(peeked) = timeout(limit, socket.peek(&mut first)).await else {
        // The handshake's deadline, not a second one after it (slowloris).
        bail!("handshake and connect timed out");
    };
    if !matches!(peeked, Ok(1)) || first[0] != b'P' {
        // Errors and a closed socket are the RTMP connection's to report.
        return Ok(Box::new(socket));
    }
    let (ours, theirs) = duplex(PIPE_BYTES);
    tokio::spawn(async move {
        if let Err(e) = tunnel(socket, ours).await {
            debug!("rtmpt: {e:#}");
        }
    });
    Ok(Box::new(theirs))
}

async fn tunnel(socket: TcpStream, mut pipe: DuplexStream) -> Result<()> {
    let id = hex(&random_bytes(8));
    let mut io = BufReader::new(socket);
    let mut delay = 1u8;
    loop {
        let Ok(head) = timeout(POLL_TIMEOUT, read_head(&mut io)).await else {
            bail!("no poll for {POLL_TIMEOUT:?}");
        };
        let Some(head) = head? else { return Ok(()) };
        let body = read_body(&mut io, head.content_length).await?;
        let mut words = head.first_line.split(' ');
        let (method, path) = (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        );
        let mut parts = path.trim_start_matches('/').split('/');
        let command = parts.next().unwrap_or_default();
        let session = parts.next().unwrap_or_default();
        let w = io.get_mut();
        if method != "POST" {
            write_answer(w, "405 Method Not Allowed", b"").await?;
            continue;
        }
        match command {
            "open" => write_answer(w, "200 OK", format!("{id}\n").as_bytes()).await?,
            "send" | "idle" if session == id => {
                if command == "send" {
                    pipe.write_all(&body).await?;
                }
                let wait = if command == "send" {
                    SEND_WAIT
                } else {
                    IDLE_WAIT
                };
                let (data, open) = drain(&mut pipe, wait).await;
                // FMS's poll delay: short while there is data, longer while there is not.
                delay = if data.is_empty() {
                    delay.saturating_mul(2).min(0x21)
                } else {
                    1
                };
                let mut answer = Vec::with_capacity(1 + data.len());
                answer.push(delay);
                answer.extend_from_slice(&data);
                write_answer(w, "200 OK", &answer).await?;
                if !open {
                    return Ok(());
                }
            }
            "close" if session == id => {
                write_answer(w, "200 OK", &[0]).await?;
                return Ok(());
            }
            // `fcs/ident2` (Flash Player's probe) and sessions that are not this one.
            _ => write_answer(w, "404 Not Found", b"").await?,
        }
    }
}

/// What the RTMP connection wrote, waiting up to `wait` for a first byte; and whether
/// it is still there.
async fn drain(pipe: &mut DuplexStream, wait: Duration) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut limit = wait;
    while data.len() < MAX_ANSWER {
        match timeout(limit, pipe.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (data, false),
            Ok(Ok(n)) => data.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(_) => break,
        }
        // Once something came, take only what is already there.
        limit = Duration::from_millis(1);
    }
    (data, true)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
