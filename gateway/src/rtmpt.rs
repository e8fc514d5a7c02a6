//! RTMPT on the RTMP port, as Flash Media Server serves it: a connection whose first byte
//! is `P` (`POST /open/1 …`) is HTTP, not RTMP (whose first byte is 3 or 6). The tunnel
//! (`crate::client::rtmpt` has the exchange) lives on that one kept-alive connection, as
//! librtmp and ffmpeg use it: `send` bodies go into a pipe the RTMP connection reads as
//! its socket, and every answer carries what it wrote meanwhile.
//!
//! The tunnel runs beside its RTMP connection, in its task ([`Tunnel::beside`]): it holds
//! the connection's place under the per-address limit and ends with it, however its
//! client polls. A body goes through to the pipe a piece at a time, never held whole.

use std::future::Future;
use std::pin::{Pin, pin};
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::io::{AsyncBufRead, AsyncReadExt, BufReader, DuplexStream, duplex};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::debug;

use crate::client::rtmp::random_bytes;
use crate::client::rtmpt::{PIPE_BYTES, read_head, write_answer};
use crate::client::transport::BoxedTransport;

/// How long an `idle` waits for the RTMP connection to have something: long enough that
/// a client polling without pause (librtmp ignores the delay byte) does not spin.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// After a `send`, a moment for the answer (the handshake's S0-S2, a command's result).
const SEND_WAIT: Duration = Duration::from_millis(10);
/// One answer carries at most this much; the rest waits for the next poll.
const MAX_ANSWER: usize = 1 << 20;
/// A tunnel whose client takes longer than this for a request (from the end of the last
/// answer to the end of this request's body) is closed.
const POLL_TIMEOUT: Duration = Duration::from_secs(60);

/// An RTMPT tunnel's HTTP side, to run beside the RTMP connection on its pipe.
pub struct Tunnel(Pin<Box<dyn Future<Output = ()> + Send>>);

/// How long a tunnel whose RTMP connection ended still answers polls: what the
/// connection wrote last (a refusal's status) reaches the client, which polls for it.
const LAST_WORDS: Duration = Duration::from_secs(3);

impl Tunnel {
    /// Runs `connection` to its end with the tunnel beside it, and the tunnel if it is
    /// still open then (to [`Tunnel::finish`] once the connection's end of the pipe is
    /// gone). The tunnel ending first (its client gone) closes the pipe, which the
    /// connection then reads as the end of its socket.
    pub async fn beside<T>(self, connection: impl Future<Output = T>) -> (T, Option<Tunnel>) {
        let mut connection = pin!(connection);
        let mut tunnel = self.0;
        let mut tunnel_open = true;
        loop {
            tokio::select! {
                out = &mut connection => return (out, tunnel_open.then_some(Tunnel(tunnel))),
                () = &mut tunnel, if tunnel_open => tunnel_open = false,
            }
        }
    }

    /// Answers the client's polls until it has what is left in the pipe (whose other end
    /// is closed), for at most [`LAST_WORDS`].
    pub async fn finish(self) {
        let _ = timeout(LAST_WORDS, self.0).await;
    }
}

/// The socket to run RTMP over: `socket` itself, or the pipe of an RTMPT tunnel on it,
/// with the tunnel to run beside the connection.
pub async fn accept(
    socket: TcpStream,
    limit: Duration,
) -> Result<(BoxedTransport, Option<Tunnel>)> {
    let mut first = [0u8; 1];
    let Ok(peeked) = timeout(limit, socket.peek(&mut first)).await else {
        // The handshake's deadline, not a second one after it (slowloris).
        bail!("handshake and connect timed out");
    };
    if !matches!(peeked, Ok(1)) || first[0] != b'P' {
        // Errors and a closed socket are the RTMP connection's to report.
        return Ok((Box::new(socket), None));
    }
    let (ours, theirs) = duplex(PIPE_BYTES);
    let tunnel = Tunnel(Box::pin(async move {
        if let Err(e) = tunnel(socket, ours).await {
            debug!("rtmpt: {e:#}");
        }
    }));
    Ok((Box::new(theirs), Some(tunnel)))
}

async fn tunnel(socket: TcpStream, mut pipe: DuplexStream) -> Result<()> {
    let id = hex(&random_bytes(8));
    let mut io = BufReader::new(socket);
    let mut delay = 1u8;
    loop {
        let Ok(open) = timeout(POLL_TIMEOUT, answer(&mut io, &mut pipe, &id, &mut delay)).await
        else {
            bail!("no whole request for {POLL_TIMEOUT:?}");
        };
        if !open? {
            return Ok(());
        }
    }
}

/// Reads one request, passes its body on (a `send`'s into the pipe, any other's
/// nowhere) and answers it; false once the tunnel is over.
async fn answer(
    io: &mut BufReader<TcpStream>,
    pipe: &mut DuplexStream,
    id: &str,
    delay: &mut u8,
) -> Result<bool> {
    let Some(head) = read_head(io).await? else {
        return Ok(false);
    };
    let mut words = head.first_line.split(' ');
    let (method, path) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let mut parts = path.trim_start_matches('/').split('/');
    let command = parts.next().unwrap_or_default();
    let ours = parts.next() == Some(id);
    let into_pipe = method == "POST" && command == "send" && ours;
    pass_body(io, head.content_length, into_pipe.then_some(&mut *pipe)).await?;
    let w = io.get_mut();
    if method != "POST" {
        write_answer(w, "405 Method Not Allowed", b"").await?;
        return Ok(true);
    }
    match command {
        "open" => write_answer(w, "200 OK", format!("{id}\n").as_bytes()).await?,
        "send" | "idle" if ours => {
            let wait = if command == "send" {
                SEND_WAIT
            } else {
                IDLE_WAIT
            };
            let (data, open) = drain(pipe, wait).await;
            // FMS's poll delay: short while there is data, longer while there is not.
            *delay = if data.is_empty() {
                delay.saturating_mul(2).min(0x21)
            } else {
                1
            };
            let mut answer = Vec::with_capacity(1 + data.len());
            answer.push(*delay);
            answer.extend_from_slice(&data);
            write_answer(w, "200 OK", &answer).await?;
            return Ok(open);
        }
        "close" if ours => {
            write_answer(w, "200 OK", &[0]).await?;
            return Ok(false);
        }
        // `fcs/ident2` (Flash Player's probe) and sessions that are not this one.
        _ => write_answer(w, "404 Not Found", b"").await?,
    }
    Ok(true)
}

/// Reads a body of `len` bytes into `to` (the pipe, which holds the client back while
/// the RTMP connection has not read it), or drops it: never the whole of it at once.
/// Once the connection is gone (its last words being handed over), the pipe takes
/// nothing and the rest is dropped, so the client still gets its answer.
async fn pass_body<R: AsyncBufRead + Unpin>(
    from: &mut R,
    len: usize,
    to: Option<&mut DuplexStream>,
) -> Result<()> {
    let mut body = from.take(len as u64);
    if let Some(pipe) = to {
        // A failed read shows again below, as a short body.
        let _ = tokio::io::copy_buf(&mut body, pipe).await;
    }
    tokio::io::copy_buf(&mut body, &mut tokio::io::sink()).await?;
    if body.limit() > 0 {
        bail!(
            "the client closed after {} of a body's {len} bytes",
            len as u64 - body.limit()
        );
    }
    Ok(())
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
