//! The gateway's RTMP listener: accepts publishers (OBS, ffmpeg) and players
//! (rtmpdump, ffplay, VLC), one task per connection, routed through the hub.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use flashless_core::flv::{Tag, TagType, VideoTag};
use flashless_core::rtmp::session::{ServerEvent, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tracing::{Instrument, info, info_span, warn};

use crate::hub::{Channel, Feed, Hub};
use crate::rtmp_client::random_bytes;

/// A peer that sends nothing for this long is gone (players send acks; publishers media).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn serve(listener: TcpListener, hub: Arc<Hub>) -> Result<()> {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let hub = hub.clone();
        tokio::spawn(
            async move {
                match Connection::new(socket, hub).run().await {
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
    /// The channel this connection plays, with its stream id and live feed.
    playing: Option<Player>,
}

struct Player {
    stream_id: u32,
    feed: broadcast::Receiver<Feed>,
    /// After falling behind, media is skipped until the next video keyframe.
    skipping: bool,
}

impl Connection {
    fn new(socket: TcpStream, hub: Arc<Hub>) -> Self {
        let epoch = 0;
        Connection {
            socket,
            session: ServerSession::new(epoch, &random_bytes(3032)),
            hub,
            publishing: None,
            playing: None,
        }
    }

    async fn run(mut self) -> Result<()> {
        self.socket.set_nodelay(true).ok();
        let result = self.pump().await;
        if let Some((_, channel)) = self.publishing.take() {
            channel.stop_publishing();
        }
        result
    }

    async fn pump(&mut self) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.flush().await?;
            let feed = async {
                match self.playing.as_mut() {
                    Some(p) => Some(p.feed.recv().await),
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
                Some(item) = feed => self.forward(item),
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
                    let channel = self.hub.channel(name);
                    if self.publishing.is_some() || !channel.start_publishing() {
                        warn!(
                            channel = name,
                            "publish refused: the channel already has a publisher"
                        );
                        self.session.reject(
                            stream_id,
                            "NetStream.Publish.BadName",
                            "the channel already has a publisher",
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
                    info!(channel = name, "playing");
                    let (start, feed) = self.hub.channel(name).subscribe();
                    self.session.accept_play(stream_id);
                    for tag in &start {
                        self.session.send_tag(stream_id, tag);
                    }
                    self.playing = Some(Player {
                        stream_id,
                        feed,
                        skipping: false,
                    });
                }
                ServerEvent::StreamClosed { stream_id } => {
                    if self
                        .publishing
                        .as_ref()
                        .is_some_and(|(id, _)| *id == stream_id)
                    {
                        if let Some((_, channel)) = self.publishing.take() {
                            channel.stop_publishing();
                        }
                    }
                    if self
                        .playing
                        .as_ref()
                        .is_some_and(|p| p.stream_id == stream_id)
                    {
                        self.playing = None;
                    }
                }
            }
        }
    }

    fn forward(&mut self, item: Result<Feed, RecvError>) {
        let Some(player) = self.playing.as_mut() else {
            return;
        };
        let stream_id = player.stream_id;
        match item {
            Ok(Feed::Tag(tag)) => {
                if player.skipping {
                    if !is_keyframe(&tag) {
                        return;
                    }
                    player.skipping = false;
                }
                self.session.send_tag(stream_id, &tag);
            }
            Ok(Feed::Unpublished) => self.session.end_stream(stream_id),
            Err(RecvError::Lagged(n)) => {
                warn!(
                    skipped = n,
                    "player fell behind; skipping to the next keyframe"
                );
                player.skipping = true;
            }
            Err(RecvError::Closed) => self.playing = None,
        }
    }

    async fn flush(&mut self) -> Result<()> {
        while let Some(bytes) = self.session.poll_transmit() {
            self.socket.write_all(&bytes).await.context("writing")?;
        }
        Ok(())
    }
}

fn is_keyframe(tag: &Tag) -> bool {
    tag.tag_type == TagType::Video && VideoTag::parse(&tag.data).is_ok_and(|v| v.is_keyframe())
}

/// `stream?key=…` names the channel `stream`.
fn channel_name(stream: &str) -> &str {
    stream.split('?').next().unwrap_or(stream)
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for RTMP on {addr}"))
}
