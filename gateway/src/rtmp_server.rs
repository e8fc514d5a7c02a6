//! The gateway's RTMP listener: accepts publishers (OBS, ffmpeg) and players
//! (rtmpdump, ffplay, VLC), one task per connection, routed through the hub.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use flashless_core::rtmp::session::{ServerEvent, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{Instrument, info, info_span, warn};

use crate::hub::{Channel, Feed, Hub, Source, Viewer};
use crate::rtmp_client::random_bytes;
use crate::shutdown::Shutdown;

/// A peer that sends nothing for this long is gone (players send acks; publishers media).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Tags written to a player per flush: one write for a burst, as at start-up.
const BATCH: usize = 64;
/// Per connection and resident for its life: a player sends only acks, and a
/// publisher's few Mbps need no bigger reads.
const READ_BUFFER: usize = 16 * 1024;

pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for RTMP on {addr}"))
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(listener: TcpListener, hub: Arc<Hub>, mut shutdown: Shutdown) {
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "rtmp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.wait() => return,
        };
        let conn = Connection {
            socket,
            session: ServerSession::new(0, &random_bytes(3032)),
            hub: hub.clone(),
            publishing: None,
            playing: None,
        };
        let shutdown = shutdown.clone();
        tokio::spawn(
            async move {
                match conn.run(shutdown).await {
                    Ok(()) => info!("closed"),
                    Err(e) => warn!("closed: {e:#}"),
                }
            }
            .instrument(info_span!("rtmp", %peer)),
        );
    }
}

struct Connection {
    socket: TcpStream,
    session: ServerSession,
    hub: Arc<Hub>,
    /// The channel this connection publishes to, with its stream id.
    publishing: Option<(u32, Arc<Channel>)>,
    /// The stream id this connection plays on, and its feed.
    playing: Option<(u32, Viewer)>,
}

impl Connection {
    async fn run(mut self, shutdown: Shutdown) -> Result<()> {
        self.socket.set_nodelay(true).ok();
        let result = self.pump(shutdown).await;
        if let Some((_, channel)) = self.publishing.take() {
            channel.end_session();
        }
        result
    }

    async fn pump(&mut self, mut shutdown: Shutdown) -> Result<()> {
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            self.flush().await?;
            let feed = async {
                match self.playing.as_mut() {
                    Some((_, viewer)) => viewer.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                read = tokio::time::timeout(IDLE_TIMEOUT, self.socket.read(&mut buf)) => {
                    let n = read.context("idle for too long")?.context("reading")?;
                    if n == 0 {
                        return Ok(());
                    }
                    self.session.feed(buf.get(..n).unwrap_or_default())?;
                    self.handle_events();
                }
                item = feed => match item {
                    Some(item) => self.forward(item),
                    None => self.playing = None,
                },
                _ = shutdown.wait() => return Ok(()),
            }
        }
    }

    fn handle_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::Connect { app, .. } => {
                    info!(%app, "connect");
                    self.session.accept_connect();
                }
                ServerEvent::Publish {
                    stream_id, name, ..
                } => {
                    let name = channel_name(&name);
                    let channel = self.hub.get_or_create(name, Source::Publish);
                    if self.publishing.is_some()
                        || channel.source() != Source::Publish
                        || !channel.begin_session()
                    {
                        warn!(channel = name, "publish refused: the channel is taken");
                        self.session.reject(
                            stream_id,
                            "NetStream.Publish.BadName",
                            "the channel already has a source",
                        );
                        continue;
                    }
                    info!(channel = name, "publishing");
                    self.session.accept_publish(stream_id);
                    self.publishing = Some((stream_id, channel));
                }
                ServerEvent::Tag { stream_id, tag } => {
                    if let Some((id, channel)) = &self.publishing
                        && *id == stream_id
                    {
                        channel.publish(tag);
                    }
                }
                ServerEvent::Play { stream_id, name } => {
                    let name = channel_name(&name);
                    let Some(channel) = self.hub.get(name) else {
                        warn!(channel = name, "play refused: no such channel");
                        self.session.reject(
                            stream_id,
                            "NetStream.Play.StreamNotFound",
                            &format!("no channel named {name}"),
                        );
                        continue;
                    };
                    info!(channel = name, "playing");
                    let (start, viewer) = channel.subscribe();
                    self.session.accept_play(stream_id);
                    for media in &start {
                        self.session.send_tag(stream_id, &media.tag);
                    }
                    self.playing = Some((stream_id, viewer));
                }
                ServerEvent::StreamClosed { stream_id } => {
                    if self
                        .publishing
                        .as_ref()
                        .is_some_and(|(id, _)| *id == stream_id)
                        && let Some((_, channel)) = self.publishing.take()
                    {
                        channel.end_session();
                    }
                    if self
                        .playing
                        .as_ref()
                        .is_some_and(|(id, _)| *id == stream_id)
                    {
                        self.playing = None;
                    }
                }
            }
        }
    }

    /// Sends one feed item and whatever else is already queued, to be written at once.
    fn forward(&mut self, first: Feed) {
        let Some((stream_id, viewer)) = self.playing.as_mut() else {
            return;
        };
        let stream_id = *stream_id;
        let mut item = Some(first);
        let mut sent = 0;
        while let Some(feed) = item.take() {
            match feed {
                Feed::Tag(media) => self.session.send_tag(stream_id, &media.tag),
                Feed::Unpublished => self.session.end_stream(stream_id),
            }
            sent += 1;
            if sent < BATCH {
                item = viewer.try_next();
            }
        }
    }

    async fn flush(&mut self) -> Result<()> {
        while let Some(bytes) = self.session.poll_transmit() {
            self.socket.write_all(&bytes).await.context("writing")?;
        }
        Ok(())
    }
}

/// `stream?key=…` names the channel `stream`.
fn channel_name(stream: &str) -> &str {
    stream.split('?').next().unwrap_or(stream)
}
