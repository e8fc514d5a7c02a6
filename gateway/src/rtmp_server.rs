//! The gateway's RTMP listener: accepts publishers (OBS, ffmpeg) and players
//! (rtmpdump, ffplay, VLC), one task per connection, routed through the hub.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use flashless_core::rtmp::session::{ServerEvent, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};

use crate::auth::{self, Action, Policy};
use crate::config::ConnLimits;
use crate::hub::{Channel, Feed, Hub, Source, Viewer};
use crate::limits::{PerIp, Slot};
use crate::rtmp_client::random_bytes;
use crate::shutdown::Shutdown;
use crate::webhook::Attempt;

/// Tags written to a player per flush: one write for a burst, as at start-up.
const BATCH: usize = 64;
/// Per connection and resident for its life: a player sends only acks, and a
/// publisher's few Mbps need no bigger reads.
const READ_BUFFER: usize = 16 * 1024;

/// Who may connect, publish and play, and how much they may hold.
pub struct Access {
    pub auth: Policy,
    pub limits: ConnLimits,
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for RTMP on {addr}"))
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(listener: TcpListener, hub: Arc<Hub>, access: Access, mut shutdown: Shutdown) {
    let per_ip = PerIp::new(access.limits.per_ip);
    let access = Arc::new(access);
    let publishers = Arc::new(AtomicUsize::new(0));
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
        let Some(slot) = per_ip.acquire(peer.ip()) else {
            warn!(%peer, "rtmp connection refused: too many from this address");
            hub.denied.fetch_add(1, Relaxed);
            continue;
        };
        let conn = Connection {
            socket,
            peer: peer.ip(),
            session: ServerSession::with_limits(0, &random_bytes(3032), access.limits.session),
            hub: hub.clone(),
            access: access.clone(),
            publishers: publishers.clone(),
            connected: false,
            connect_query: None,
            publishing: None,
            playing: None,
            _slot: slot,
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
    peer: IpAddr,
    session: ServerSession,
    hub: Arc<Hub>,
    access: Arc<Access>,
    /// Publishing connections of the whole listener.
    publishers: Arc<AtomicUsize>,
    /// `connect` arrived: the handshake deadline no longer applies.
    connected: bool,
    /// The connect URL's query: its token serves publish/play names that carry none.
    connect_query: Option<String>,
    /// The channel this connection publishes to, with its stream id.
    publishing: Option<(u32, Arc<Channel>)>,
    /// The stream id this connection plays on, and its feed.
    playing: Option<(u32, Viewer)>,
    _slot: Slot,
}

impl Connection {
    async fn run(mut self, shutdown: Shutdown) -> Result<()> {
        self.socket.set_nodelay(true).ok();
        let result = self.pump(shutdown).await;
        self.stop_publishing();
        result
    }

    async fn pump(&mut self, mut shutdown: Shutdown) -> Result<()> {
        let mut buf = vec![0u8; READ_BUFFER];
        // Slowloris: the handshake and `connect` must be done by this deadline.
        let handshake_deadline = Instant::now() + self.access.limits.handshake_timeout;
        loop {
            self.flush().await?;
            let deadline = if self.connected {
                Instant::now() + self.access.limits.idle_timeout
            } else {
                handshake_deadline
            };
            let feed = async {
                match self.playing.as_mut() {
                    Some((_, viewer)) => viewer.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                read = tokio::time::timeout_at(deadline, self.socket.read(&mut buf)) => {
                    let Ok(read) = read else {
                        bail!("{} timed out", if self.connected { "idle connection" } else { "handshake and connect" });
                    };
                    let n = read.context("reading")?;
                    if n == 0 {
                        return Ok(());
                    }
                    self.session.feed(buf.get(..n).unwrap_or_default())?;
                    if let Err(e) = self.handle_events().await {
                        // The refusal's status goes out before the connection closes.
                        self.flush().await.ok();
                        return Err(e);
                    }
                }
                item = feed => match item {
                    Some(item) => self.forward(item),
                    None => self.playing = None,
                },
                _ = shutdown.wait() => return Ok(()),
            }
        }
    }

    async fn handle_events(&mut self) -> Result<()> {
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::Connect { app, tc_url, .. } => {
                    // Tokens are credentials: the query stays out of the log.
                    let app_name = app.split_once('?').map_or(app.as_str(), |(a, _)| a);
                    info!(app = app_name, "connect");
                    self.connected = true;
                    let query = |s: &str| {
                        s.split_once('?')
                            .filter(|(_, q)| !q.is_empty())
                            .map(|(_, q)| q.to_owned())
                    };
                    self.connect_query = query(&app).or_else(|| tc_url.as_deref().and_then(query));
                    // A token in the connect URL that can never pass is refused here, as
                    // `NetConnection.Connect.Rejected`; its signature waits for the channel.
                    if let Some(Err(reason)) = self
                        .connect_query
                        .as_deref()
                        .and_then(auth::token_in)
                        .map(|t| self.access.auth.precheck(t))
                    {
                        self.hub.denied.fetch_add(1, Relaxed);
                        self.session.reject_connect(&reason.to_string());
                        bail!("connect to {app_name} refused: {reason}");
                    }
                    self.session.accept_connect();
                }
                ServerEvent::Publish {
                    stream_id, name, ..
                } => {
                    let channel_name = self
                        .authorise(
                            Action::Publish,
                            stream_id,
                            &name,
                            "NetStream.Publish.Rejected",
                        )
                        .await?;
                    if self.publishers.load(Relaxed) >= self.access.limits.max_publishers {
                        self.deny(
                            stream_id,
                            "NetStream.Publish.Rejected",
                            &channel_name,
                            "too many publishers",
                        );
                        bail!("publish to {channel_name} refused: too many publishers");
                    }
                    let channel = self.hub.get_or_create(&channel_name, Source::Publish);
                    if self.publishing.is_some()
                        || channel.source() != Source::Publish
                        || !channel.begin_session()
                    {
                        warn!(
                            channel = channel_name,
                            "publish refused: the channel is taken"
                        );
                        self.session.reject(
                            stream_id,
                            "NetStream.Publish.BadName",
                            "the channel already has a source",
                        );
                        continue;
                    }
                    info!(channel = channel_name, "publishing");
                    self.publishers.fetch_add(1, Relaxed);
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
                    let channel_name = self
                        .authorise(Action::Play, stream_id, &name, "NetStream.Play.Failed")
                        .await?;
                    if self.hub.viewers() >= self.access.limits.max_viewers {
                        self.deny(
                            stream_id,
                            "NetStream.Play.Failed",
                            &channel_name,
                            "too many viewers",
                        );
                        bail!("play of {channel_name} refused: too many viewers");
                    }
                    let Some(channel) = self.hub.get(&channel_name) else {
                        warn!(channel = channel_name, "play refused: no such channel");
                        let description = format!("no channel named {channel_name}");
                        self.session.reject(
                            stream_id,
                            "NetStream.Play.StreamNotFound",
                            &description,
                        );
                        continue;
                    };
                    info!(channel = channel_name, "playing");
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
                    {
                        self.stop_publishing();
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
        Ok(())
    }

    /// The channel `name` (`stream?query`) publishes or plays, once its token (of the
    /// name, else of the connect URL) and the webhook allow it. A refusal goes to the
    /// client as `code` and ends the connection.
    async fn authorise(
        &mut self,
        action: Action,
        stream_id: u32,
        name: &str,
        code: &str,
    ) -> Result<String> {
        let (channel, query) = name.split_once('?').unwrap_or((name, ""));
        let connect_query = self.connect_query.as_deref().unwrap_or_default();
        let attempt = Attempt {
            action,
            channel,
            client_ip: self.peer.to_canonical(),
            protocol: "rtmp",
            query: if query.is_empty() {
                connect_query
            } else {
                query
            },
            token: auth::token_in(query).or_else(|| auth::token_in(connect_query)),
        };
        let Err(reason) = self.access.auth.authorise(&attempt).await else {
            return Ok(channel.to_owned());
        };
        let channel = channel.to_owned();
        self.deny(stream_id, code, &channel, &reason.to_string());
        match action {
            Action::Publish => bail!("publish to {channel} refused: {reason}"),
            Action::Play => bail!("play of {channel} refused: {reason}"),
        }
    }

    fn deny(&mut self, stream_id: u32, code: &str, channel: &str, reason: &str) {
        self.hub.denied.fetch_add(1, Relaxed);
        self.session
            .reject(stream_id, code, &format!("{channel}: {reason}"));
    }

    fn stop_publishing(&mut self) {
        if let Some((_, channel)) = self.publishing.take() {
            channel.end_session();
            self.publishers.fetch_sub(1, Relaxed);
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
