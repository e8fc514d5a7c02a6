//! RTMPT: RTMP tunnelled over HTTP, as Flash Player, librtmp and ffmpeg speak it to Flash
//! Media Server. Every request is `POST /<command>/<session>/<sequence>` with content type
//! `application/x-fcs`: `open/1` answers the session id and a newline; `send` carries
//! RTMP bytes up, `idle` only asks; their answers start with one byte, the delay the
//! server would like before the next poll, then the RTMP bytes down; `close` ends it.
//!
//! The client side here runs the tunnel in a task and hands the RTMP session a pipe, so
//! the same `RtmpClient` drives RTMP over TCP, TLS or HTTP. The framing (one request
//! or response head and its body) is shared with the server (`crate::rtmpt`).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::io::{DuplexStream, duplex};
use tokio::time::timeout;

use super::transport::BoxedTransport;

/// The content type of every RTMPT request and answer.
pub const CONTENT_TYPE: &str = "application/x-fcs";
/// A request or answer head longer than this is not RTMPT.
pub const MAX_HEAD: usize = 8 * 1024;
/// A body larger than this is refused: a publisher's video frame fits many times over.
pub const MAX_BODY: usize = 16 << 20;
/// What the pipe between the RTMP session and the tunnel holds.
pub const PIPE_BYTES: usize = 256 * 1024;

/// An HTTP/1.1 message head: the first line and the body's length.
#[derive(Debug)]
pub struct Head {
    pub first_line: String,
    pub content_length: usize,
}

/// Reads one head (up to the blank line); `None` when the peer closed before one began.
pub async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Option<Head>> {
    let mut first_line = String::new();
    let mut content_length = None;
    let mut total = 0;
    let mut line = String::new();
    loop {
        line.clear();
        let n = (&mut *r)
            .take((MAX_HEAD - total) as u64 + 1)
            .read_line(&mut line)
            .await
            .context("reading an HTTP head")?;
        if n == 0 {
            if total == 0 {
                return Ok(None);
            }
            bail!("the connection closed inside an HTTP head");
        }
        total += n;
        if total > MAX_HEAD {
            bail!("an HTTP head longer than {MAX_HEAD} bytes");
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if first_line.is_empty() {
            if text.is_empty() {
                continue; // a stray CRLF between messages
            }
            first_line = text.to_owned();
            continue;
        }
        if text.is_empty() {
            return Ok(Some(Head {
                first_line,
                content_length: content_length.unwrap_or_default(),
            }));
        }
        let Some((name, value)) = text.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse()
                .ok()
                .filter(|&n| n <= MAX_BODY)
                .with_context(|| format!("bad Content-Length {value:?}"))?;
            // Two lengths that differ leave the body's end to whoever reads it
            // (request smuggling): RFC 9112 §6.3 says fail.
            if let Some(m) = content_length
                && m != n
            {
                bail!("two Content-Length headers, {m} and {n}");
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // RTMPT bodies are sized; a chunked one read as sized would be taken for
            // the next request.
            bail!("Transfer-Encoding {value:?} (RTMPT bodies have a Content-Length)");
        }
    }
}

/// Reads a body of `len` bytes.
pub async fn read_body<R: AsyncBufRead + Unpin>(r: &mut R, len: usize) -> Result<Vec<u8>> {
    let mut body = vec![0; len];
    r.read_exact(&mut body)
        .await
        .context("reading an HTTP body")?;
    Ok(body)
}

/// Starts a tunnel over `stream` (TCP or TLS to the server) and returns the pipe an RTMP
/// session reads and writes as if it were the socket.
pub async fn open(stream: BoxedTransport, host: &str, limit: Duration) -> Result<DuplexStream> {
    let mut http = Http {
        io: BufReader::new(stream),
        host: host.to_owned(),
        limit,
    };
    let id = http.post("/open/1", &[0]).await?;
    let id = String::from_utf8_lossy(&id).trim().to_owned();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("the RTMPT server's open answered no session id");
    }
    let (ours, theirs) = duplex(PIPE_BYTES);
    tokio::spawn(async move {
        if let Err(e) = run(http, id, ours).await {
            tracing::debug!("rtmpt tunnel ended: {e:#}");
        }
    });
    Ok(theirs)
}

/// Longest pause between polls when the server has nothing, as FMS's delay byte allows.
const MAX_POLL_DELAY: Duration = Duration::from_millis(200);

async fn run(mut http: Http, id: String, mut pipe: DuplexStream) -> Result<()> {
    let mut seq = 1u64;
    let mut delay = Duration::from_millis(5);
    let mut up = vec![0u8; 64 * 1024];
    loop {
        // Bytes the session wrote go up with `send`; without any, poll with `idle`.
        let sent = match timeout(delay, pipe.read(&mut up)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                http.post(&format!("/close/{id}/{seq}"), &[0]).await.ok();
                return Ok(());
            }
            Ok(Ok(n)) => Some(n),
            Err(_) => None,
        };
        let down = match sent {
            Some(n) => {
                http.post(
                    &format!("/send/{id}/{seq}"),
                    up.get(..n).unwrap_or_default(),
                )
                .await?
            }
            None => http.post(&format!("/idle/{id}/{seq}"), &[0]).await?,
        };
        seq += 1;
        let data = down.get(1..).unwrap_or_default();
        delay = if data.is_empty() && sent.is_none() {
            (delay * 2).min(MAX_POLL_DELAY)
        } else {
            Duration::from_millis(5)
        };
        if !data.is_empty() {
            pipe.write_all(data)
                .await
                .context("the rtmp session is gone")?;
        }
    }
}

struct Http {
    io: BufReader<BoxedTransport>,
    host: String,
    limit: Duration,
}

impl Http {
    /// One request on the kept-alive connection; the answer's body.
    async fn post(&mut self, path: &str, body: &[u8]) -> Result<Vec<u8>> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nUser-Agent: Shockwave Flash\r\n\
             Connection: Keep-Alive\r\nCache-Control: no-cache\r\nContent-Type: {CONTENT_TYPE}\r\n\
             Content-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let exchange = async {
            let w = self.io.get_mut();
            w.write_all(head.as_bytes()).await?;
            w.write_all(body).await?;
            w.flush().await?;
            let Some(answer) = read_head(&mut self.io).await? else {
                bail!("the RTMPT server closed the connection");
            };
            let status = answer.first_line.split(' ').nth(1).unwrap_or_default();
            if status != "200" {
                bail!(
                    "the RTMPT server answered {path} with {:?}",
                    answer.first_line
                );
            }
            read_body(&mut self.io, answer.content_length).await
        };
        timeout(self.limit, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("no RTMPT answer to {path} within {:?}", self.limit))?
    }
}

/// Writes an answer head and body: the headers in the case FMS writes them, which
/// librtmp needs (it looks for `Content-Length` case-sensitively).
pub async fn write_answer<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nServer: flashless\r\nContent-Type: {CONTENT_TYPE}\r\n\
         Content-Length: {}\r\nConnection: Keep-Alive\r\nCache-Control: no-cache\r\n\r\n",
        body.len()
    );
    w.write_all(head.as_bytes()).await?;
    w.write_all(body).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn head(text: &str) -> Result<Option<Head>> {
        read_head(&mut text.as_bytes()).await
    }

    #[tokio::test]
    async fn a_head_says_its_bodys_length_once() {
        let h = head("POST /send/x/1 HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.first_line.as_str(), h.content_length),
            ("POST /send/x/1 HTTP/1.1", 5)
        );
        let two =
            head("POST /send/x/1 HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 1536\r\n\r\n")
                .await;
        assert_eq!(
            two.unwrap_err().to_string(),
            "two Content-Length headers, 5 and 1536"
        );
        let chunked = head("POST /send/x/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").await;
        assert!(
            chunked
                .unwrap_err()
                .to_string()
                .contains("Transfer-Encoding \"chunked\"")
        );
        let huge = head("POST /send/x/1 HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n").await;
        assert!(huge.unwrap_err().to_string().contains("bad Content-Length"));
        assert!(head("").await.unwrap().is_none());
    }
}
