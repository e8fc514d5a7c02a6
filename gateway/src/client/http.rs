//! The HTTP/1.1 client the gateway needs: HTTP-FLV pulls, the authorisation webhook
//! and the event hooks. One connection per use, over [`transport`] (TCP or TLS).

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use super::transport;

/// An `http(s)://` URL, checked once when it is configured.
#[derive(Debug, Clone)]
pub struct HttpUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The `Host` header: the URL's authority without user info.
    authority: String,
    path_and_query: String,
}

impl HttpUrl {
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
            bail!("{s:?}: user:password@ in URLs is not supported");
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
        Ok(HttpUrl {
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

    /// `host:port` for messages.
    pub fn peer(&self) -> String {
        transport::peer_name(&self.host, self.port)
    }

    /// A request to this URL with its `Host` and our `User-Agent`.
    pub fn request(&self, method: Method) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(self.path_and_query.as_str())
            .header(HOST, self.authority.as_str())
            .header(USER_AGENT, concat!("flashless/", env!("CARGO_PKG_VERSION")))
    }
}

/// An open HTTP/1.1 connection; its task ends when this is dropped.
pub struct Connection<B> {
    pub sender: SendRequest<B>,
    _task: AbortOnDrop,
}

/// Connects to `url`'s host (TLS for `https`) within `limit`.
pub async fn connect<B>(url: &HttpUrl, limit: Duration) -> Result<Connection<B>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = transport::connect(&url.host, url.port, url.tls, &[b"http/1.1"], limit).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("HTTP/1.1 with {}", url.peer()))?;
    let task = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "HTTP connection ended");
        }
    });
    Ok(Connection {
        sender,
        _task: AbortOnDrop(task),
    })
}

/// POSTs `body` as JSON to `url` on a connection of its own (the webhook, the event
/// hooks): the answer's status and, when it is not a success, at most `max_body` bytes
/// of what it says.
pub async fn post_json(
    url: &HttpUrl,
    body: Vec<u8>,
    limit: Duration,
    max_body: usize,
) -> Result<(StatusCode, Bytes)> {
    let mut conn = connect(url, limit).await?;
    let request = url
        .request(Method::POST)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = conn
        .sender
        .send_request(request)
        .await
        .with_context(|| format!("POST to {}", url.display()))?;
    let status = response.status();
    if status.is_success() || max_body == 0 {
        return Ok((status, Bytes::new()));
    }
    let said = Limited::new(response.into_body(), max_body)
        .collect()
        .await
        .map_err(|e| anyhow!("reading the answer of {}: {e}", url.display()))?
        .to_bytes();
    Ok((status, said))
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
        let u = HttpUrl::parse("http://origin:8080/live/a.flv?token=s3cret").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "origin", 8080));
        assert_eq!(u.path_and_query, "/live/a.flv?token=s3cret");
        assert_eq!(u.authority, "origin:8080");
        assert_eq!(u.display(), "http://origin:8080/live/a.flv");

        let u = HttpUrl::parse("https://[::1]/x.flv").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "::1", 443));
        assert_eq!(u.peer(), "[::1]:443");
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in [
            "ftp://h/x.flv",
            "http:///x.flv",
            "http://u:p@h/x.flv",
            "x.flv",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
