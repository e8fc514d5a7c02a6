//! Pulling HTTP-FLV (`http(s)://…/live/x.flv`): from another flashless gateway (an
//! origin → edge tier), SRS or nginx-http-flv. One HTTP/1.1 GET whose body is an
//! endless FLV stream, read through `FlvReader` whatever the body's chunking.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use flashless_core::flv::{FlvReader, Item, Tag};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, LOCATION};
use hyper::{Method, StatusCode};
use tokio::time::timeout;

use super::MAX_TAG_SIZE;
use crate::client::http::{self as http_client, Connection, HttpUrl};

pub struct HttpFlvPull {
    peer: String,
    body: Incoming,
    reader: FlvReader,
    /// The HTTP/1.1 connection; closed when the pull is dropped.
    _conn: Connection<Empty<Bytes>>,
    stall: Duration,
}

impl HttpFlvPull {
    /// Connects, sends the GET and waits for a 200 response, each step within `stall`.
    pub async fn connect(url: &HttpUrl, stall: Duration) -> Result<Self> {
        let peer = url.peer();
        let mut conn = http_client::connect(url, stall).await?;
        let request = url
            .request(Method::GET)
            .header(ACCEPT, "*/*")
            .body(Empty::<Bytes>::new())
            .context("building the HTTP request")?;
        let response = timeout(stall, conn.sender.send_request(request))
            .await
            .map_err(|_| anyhow!("{peer}: no HTTP response within {stall:?}"))?
            .with_context(|| format!("HTTP GET from {peer}"))?;
        let status = response.status();
        if status != StatusCode::OK {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(|l| format!(" (redirects to {l}; use that URL)"))
                .unwrap_or_default();
            bail!("{peer}: HTTP status {status}{location}");
        }
        Ok(HttpFlvPull {
            peer,
            body: response.into_body(),
            reader: FlvReader::new().with_max_tag_size(MAX_TAG_SIZE),
            _conn: conn,
            stall,
        })
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The next tag; the end of the body is an error saying so.
    pub async fn next_tag(&mut self) -> Result<Tag> {
        loop {
            match self.reader.poll_item() {
                Ok(Some(Item::Tag(tag))) => return Ok(tag),
                Ok(Some(Item::Header(_))) => continue,
                Ok(None) => {}
                Err(e) => bail!("{}: bad FLV: {e}", self.peer),
            }
            let frame = timeout(self.stall, self.body.frame())
                .await
                .map_err(|_| anyhow!("{}: no data for {:?}", self.peer, self.stall))?;
            match frame {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.reader.feed(data);
                    }
                }
                Some(Err(e)) => {
                    return Err(anyhow!(e).context(format!("reading from {}", self.peer)));
                }
                None => bail!(
                    "{}: the response ended after {} bytes",
                    self.peer,
                    self.reader.offset()
                ),
            }
        }
    }
}
