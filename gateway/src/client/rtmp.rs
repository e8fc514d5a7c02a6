//! Drives a `ClientSession` over TCP or TLS (`rtmps://`): the I/O half of pulling (or
//! pushing) RTMP.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use flashless_core::flv::Tag;
use flashless_core::rtmp::session::{ClientEvent, ClientMode, ClientSession};
use flashless_core::rtmp::url::{RtmpUrl, Scheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use super::transport::{self, BoxedTransport};

/// Waiting for `NetStream.Publish.Start` after connecting.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(15);

pub struct RtmpClient {
    stream: BoxedTransport,
    session: ClientSession,
    buf: Vec<u8>,
    read_timeout: Duration,
    peer: String,
}

impl RtmpClient {
    /// Connects and starts the handshake; events then come from [`RtmpClient::next_event`].
    pub async fn connect(url: &RtmpUrl, mode: ClientMode) -> Result<Self> {
        let peer = transport::peer_name(&url.host, url.port);
        let read_timeout = Duration::from_secs(u64::from(url.timeout_secs.max(1)));
        let tls = url.scheme == Scheme::Rtmps;
        let mut url = url.clone();
        if url.swf_vfy
            && url.swf.is_none()
            && let Some(swf_url) = url.swf_url.clone()
        {
            url.swf = Some(super::swf::identity(&swf_url, url.swf_age_days, read_timeout).await?);
        }
        let mut stream = transport::connect(&url.host, url.port, tls, &[], read_timeout).await?;
        if url.scheme.tunnelled() {
            let pipe = super::rtmpt::open(stream, &peer, read_timeout)
                .await
                .with_context(|| format!("opening an RTMPT tunnel to {peer}"))?;
            stream = Box::new(pipe);
        }
        let session = if url.scheme.encrypted() {
            ClientSession::encrypted(url, mode, 0, &random_bytes(1528), &random_bytes(128))
        } else {
            ClientSession::new(url, mode, 0, &random_bytes(1528))
        };
        let mut client = RtmpClient {
            stream,
            session,
            buf: vec![0; 64 * 1024],
            read_timeout,
            peer,
        };
        client.flush().await?;
        Ok(client)
    }

    /// Connects and waits for `NetStream.Publish.Start`: a client to send tags with.
    pub async fn publish(url: &RtmpUrl) -> Result<Self> {
        let mut client = RtmpClient::connect(url, ClientMode::Publish).await?;
        let started = timeout(PUBLISH_TIMEOUT, async {
            loop {
                match client.next_event().await? {
                    Some(ClientEvent::Publishing) => return Ok(()),
                    Some(ClientEvent::StreamEnd { reason }) => {
                        bail!("the server ended it: {reason}")
                    }
                    Some(other) => tracing::debug!(?other, "event"),
                    None => bail!("the server closed the connection before publishing started"),
                }
            }
        })
        .await;
        match started {
            Ok(r) => r.map(|()| client),
            Err(_) => bail!("no NetStream.Publish.Start within {PUBLISH_TIMEOUT:?}"),
        }
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The next session event; `None` when the server closed the connection.
    pub async fn next_event(&mut self) -> Result<Option<ClientEvent>> {
        loop {
            if let Some(ev) = self.session.poll_event() {
                return Ok(Some(ev));
            }
            self.flush().await?;
            let n = timeout(self.read_timeout, self.stream.read(&mut self.buf))
                .await
                .map_err(|_| anyhow::anyhow!("{}: no data for {:?}", self.peer, self.read_timeout))?
                .with_context(|| format!("reading from {}", self.peer))?;
            if n == 0 {
                return Ok(None);
            }
            let data = self.buf.get(..n).unwrap_or_default();
            self.session
                .feed(data)
                .with_context(|| format!("rtmp session with {}", self.peer))?;
        }
    }

    /// Reads what the server sent, without a time limit, and feeds it to the session;
    /// `false` when the server closed the connection. Cancel-safe: a publisher waits on
    /// it beside its own clock and drops it when the next tag is due.
    pub async fn read_some(&mut self) -> Result<bool> {
        let n = self
            .stream
            .read(&mut self.buf)
            .await
            .with_context(|| format!("reading from {}", self.peer))?;
        if n == 0 {
            return Ok(false);
        }
        let data = self.buf.get(..n).unwrap_or_default();
        self.session
            .feed(data)
            .with_context(|| format!("rtmp session with {}", self.peer))?;
        Ok(true)
    }

    /// The next event already decoded, without reading.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.session.poll_event()
    }

    /// Sends a tag of the published stream and writes it out.
    pub async fn send_tag(&mut self, tag: &Tag) -> Result<()> {
        self.session
            .send_tag(tag)
            .with_context(|| format!("publishing to {}", self.peer))?;
        self.flush().await
    }

    /// Ends the stream politely and closes the connection.
    pub async fn close(mut self) -> Result<()> {
        self.session.close();
        self.flush().await?;
        self.stream.shutdown().await.ok();
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<()> {
        while let Some(bytes) = self.session.poll_transmit() {
            self.stream
                .write_all(&bytes)
                .await
                .with_context(|| format!("writing to {}", self.peer))?;
        }
        Ok(())
    }
}

/// Handshake filler. It needs to be unpredictable enough that digests differ per
/// connection, not cryptographically strong: the std hasher's random keys suffice.
/// RTMPE's Diffie–Hellman keys come from here too: RTMPE is obfuscation with RC4 and
/// published keys, not confidentiality, so nothing stronger would buy anything.
pub fn random_bytes(n: usize) -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    (0..n.div_ceil(8))
        .flat_map(|i| {
            let mut h = state.build_hasher();
            h.write_usize(i);
            h.finish().to_le_bytes()
        })
        .take(n)
        .collect()
}
