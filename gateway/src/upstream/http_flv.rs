//! Pulling HTTP-FLV (`http(s)://…/live/x.flv`): from another flashless gateway (an
//! origin → edge tier), SRS or nginx-http-flv. One HTTP/1.1 GET whose body is an
//! endless FLV stream, read through `FlvReader` whatever the body's chunking.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use flashless_core::flv::{FlvReader, Item, Tag};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, HOST, LOCATION, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::{MAX_TAG_SIZE, transport};

/// An HTTP-FLV URL, checked once when the upstream is configured.
#[derive(Debug, Clone)]
pub struct HttpFlvUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The `Host` header: the URL's authority without user info.
    authority: String,
    path_and_query: String,
}

impl HttpFlvUrl {
    pub fn parse(s: &str) -> Result<Self> {
        let uri: Uri = s.parse().with_context(|| format!("bad URL {s:?}"))?;
        let tls = match uri.scheme_str() {
            Some(x) if x.eq_ignore_ascii_case("http") => false,
            Some(x) if x.eq_ignore_ascii_case("https") => true,
            _ => bail!("{s:?} is not an http:// or https:// URL"),
        };
        let Some(authority) = uri.authority() else {
            bail!("{s:?} has no host");
        };
        if authority.as_str().contains('@') {
            bail!("{s:?}: user:password@ in HTTP-FLV URLs is not supported");
        }
        let host = authority.host();
        // `Uri` keeps an IPv6 literal's brackets; a socket address wants it bare.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            bail!("{s:?} has no host");
        }
        Ok(HttpFlvUrl {
            tls,
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            path_and_query: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        })
    }

    /// The URL for logs, without its query: query strings often carry tokens.
    pub fn display(&self) -> String {
        let path = self
            .path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(p, _)| p);
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.authority)
    }
}

pub struct HttpFlvPull {
    peer: String,
    body: Incoming,
    reader: FlvReader,
    /// The HTTP/1.1 connection task; aborted when the pull ends or is dropped.
    conn: AbortOnDrop,
    stall: Duration,
}

impl HttpFlvPull {
    /// Connects, sends the GET and waits for a 200 response, each step within `stall`.
    pub async fn connect(url: &HttpFlvUrl, stall: Duration) -> Result<Self> {
        let peer = transport::peer_name(&url.host, url.port);
        let stream =
            transport::connect(&url.host, url.port, url.tls, &[b"http/1.1"], stall).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("HTTP/1.1 with {peer}"))?;
        let conn = AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "HTTP-FLV connection ended");
            }
        }));
        let request = Request::get(url.path_and_query.as_str())
            .header(HOST, url.authority.as_str())
            .header(USER_AGENT, concat!("flashless/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT, "*/*")
            .body(Empty::<Bytes>::new())
            .context("building the HTTP request")?;
        let response = timeout(stall, sender.send_request(request))
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
            conn,
            stall,
        })
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The next tag; the end of the body is an error saying so.
    pub async fn next_tag(&mut self) -> Result<Tag> {
        loop {
            match self.reader.next_item() {
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
                        self.reader.push(data);
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

    pub fn close(self) {
        drop(self.conn);
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_and_request_target() {
        let u = HttpFlvUrl::parse("http://origin:8080/live/a.flv?token=s3cret").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "origin", 8080));
        assert_eq!(u.path_and_query, "/live/a.flv?token=s3cret");
        assert_eq!(u.authority, "origin:8080");
        assert_eq!(u.display(), "http://origin:8080/live/a.flv");

        let u = HttpFlvUrl::parse("https://[::1]/x.flv").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "::1", 443));
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in [
            "ftp://h/x.flv",
            "http:///x.flv",
            "http://u:p@h/x.flv",
            "x.flv",
        ] {
            assert!(HttpFlvUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
