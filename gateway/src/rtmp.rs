//! The RTMP door: listeners for publishers (OBS, ffmpeg) and players (rtmpdump,
//! ffplay, VLC), plain RTMP (and RTMPT on the same port) and RTMPS, one task per
//! connection. A connection runs the handshake, `connect`, then any number of streams,
//! each publishing (handed to [`crate::ingest::publish`]) or playing (admitted by
//! [`crate::egress::admission`], fed by [`crate::egress::rtmp`]).

use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use flashless_core::amf::Value;
use flashless_core::rtmp::session::{ServerEvent, ServerSession};
use flashless_core::rtmp::swf::SwfIdentity;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, Span, info, info_span, warn};

use crate::access::limits::{PerIp, Slot};
use crate::access::{self, Action, Attempt, TrustedProxies};
use crate::client::rtmp::random_bytes;
use crate::client::transport::BoxedTransport;
use crate::clients::Link;
use crate::config::ConnLimits;
use crate::egress::gate::Gate;
use crate::egress::rtmp::{self as play, Player};
use crate::egress::{Admission, Refusal, vectored};
use crate::hooks::Session;
use crate::hub::denials::Reason;
use crate::hub::{Feed, Hub, name};
use crate::ingest::publish::{Publisher, Publishers, Publishing};
use crate::rtmpt;
use crate::shutdown::Shutdown;
use crate::swap::Swap;

/// A publisher's reads: its few Mbps need no bigger ones.
const PUBLISHER_READ_BUFFER: usize = 16 * 1024;
/// Every other connection's, from its start: the handshake, commands, and a player's
/// acknowledgements come in small reads, and thousands of players would otherwise hold
/// (or first allocate, then leave holes in the heap of) 16 KiB each, more than the
/// rest of a player's memory.
const READ_BUFFER: usize = 1024;

/// The longest `connect` app taken: a channel's app part and FMS's `/_definst_`, with room.
const MAX_APP_LEN: usize = 4 * name::MAX_LEN;

/// Who may connect, publish and play, and how much they may hold. Each is replaced on
/// reload (the limits and proxies are the HTTP listener's too): a connection keeps
/// those in force when it came.
pub struct Access {
    pub limits: Arc<Swap<ConnLimits>>,
    /// Exempt from the per-address limit (their clients share their address), and
    /// believed when they name their client (`proxy_protocol`).
    pub proxies: Arc<Swap<TrustedProxies>>,
    pub handshake: Arc<Swap<Handshake>>,
}

/// What the handshake asks of a client.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Handshake {
    /// SWF verification demanded of every client (`swf_verify`).
    pub swf_verify: Option<SwfIdentity>,
    /// The RTMPE handshake type answered (`rtmpe_type`); `None`: the client's.
    pub rtmpe_type: Option<u8>,
}

/// One of the door's listeners. The limits (connections per address, publishers) are
/// the door's, whichever listener a connection came in by.
pub struct Listener {
    pub socket: TcpListener,
    /// RTMPS: each connection starts with a TLS handshake.
    pub tls: Option<TlsAcceptor>,
}

impl Listener {
    pub async fn bind(addr: SocketAddr, tls: Option<TlsAcceptor>) -> Result<Listener> {
        let what = if tls.is_some() { "RTMPS" } else { "RTMP" };
        let socket = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening for {what} on {addr}"))?;
        Ok(Listener { socket, tls })
    }
}

/// Accepts connections until `shutdown` drains or stops, then waits for them to end.
pub async fn serve(
    listeners: Vec<Listener>,
    hub: Arc<Hub>,
    access: Access,
    mut shutdown: Shutdown,
) {
    let per_ip = PerIp::default().exempting(access.proxies.clone());
    let publishers = Publishers::new(access.limits.get().max_publishers, access.proxies.clone());
    let mut connections = JoinSet::new();
    loop {
        let accept = std::future::poll_fn(|cx| {
            for listener in &listeners {
                if let Poll::Ready(accepted) = listener.socket.poll_accept(cx) {
                    return Poll::Ready(accepted.map(|(s, peer)| (s, peer, listener.tls.clone())));
                }
            }
            Poll::Pending
        });
        let (socket, peer, tls) = tokio::select! {
            // Reaps ended connections, so the set holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = accept => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "rtmp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            // Draining: no new connection; the balancer sends it elsewhere.
            _ = shutdown.wait_drain() => break,
        };
        let limits = access.limits.get();
        let slot = match per_ip.acquire(peer.ip(), limits.connections()) {
            Ok(slot) => slot,
            Err(full) => {
                warn!(%peer, "rtmp connection refused: {full}");
                hub.denied.count(Reason::Limit);
                continue;
            }
        };
        let mut conn = Connection {
            // The TCP socket or an RTMPT tunnel's pipe, once `run` knows which.
            socket: Box::new(tokio::io::empty()),
            peer: peer.ip(),
            session: session(*access.handshake.get(), &limits),
            hub: hub.clone(),
            proxies: access.proxies.get(),
            limits,
            publishers: publishers.clone(),
            connected: false,
            app: String::new(),
            hops: 0,
            connect_query: None,
            publishing: None,
            playing: None,
            dropped: Arc::default(),
            _slot: slot,
            per_ip: per_ip.clone(),
            span: info_span!("rtmp", %peer),
        };
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let result = conn.run(socket, tls, shutdown).await;
            match result {
                Ok(()) => info!(parent: &conn.span, "closed"),
                Err(e) => warn!(parent: &conn.span, "closed: {e:#}"),
            }
        });
    }
    // Every connection sees the shutdown too; a stalled write ends by its timeout.
    while connections.join_next().await.is_some() {}
}

fn session(handshake: Handshake, limits: &ConnLimits) -> ServerSession {
    let mut session = ServerSession::with_limits(0, &random_bytes(3032), limits.session)
        .with_rtmpe(&random_bytes(128));
    if let Some(t) = handshake.rtmpe_type {
        session = session.with_rtmpe_type(t);
    }
    match handshake.swf_verify {
        Some(swf) => session.require_swf(swf),
        None => session,
    }
}

struct Connection {
    /// The TCP socket, or the pipe of an RTMPT tunnel on it (`crate::rtmpt`).
    socket: BoxedTransport,
    peer: IpAddr,
    session: ServerSession,
    hub: Arc<Hub>,
    /// Those in force when it came, as its limits.
    proxies: Arc<TrustedProxies>,
    limits: Arc<ConnLimits>,
    /// Publishing connections of the whole listener.
    publishers: Arc<Publishers>,
    /// `connect` arrived: the handshake deadline no longer applies.
    connected: bool,
    /// The connect's app, which with a stream's name makes the channel's name.
    app: String,
    /// How many forwards a publish of this connection came through (`forward::hops_in`).
    hops: u8,
    /// The connect URL's query: its token serves publish/play names that carry none.
    connect_query: Option<String>,
    /// The channel this connection publishes to, with its stream id.
    publishing: Option<Publishing>,
    /// The stream id this connection plays on, and its feed.
    playing: Option<Player>,
    /// Notified when an operator drops this connection's publish (`POST /api/drop`) or
    /// kicks its client (`POST /api/kick`): the connection closes.
    dropped: Arc<Notify>,
    _slot: Slot,
    /// For the place of a client a proxy names.
    per_ip: PerIp,
    /// What the connection logs is in it (its peer). Entered around what may log, not
    /// for the whole task: a player's task wakes for every frame, and entering a span
    /// at each poll cost ~2 % of the gateway's CPU at 1,000 RTMP players.
    span: Span,
}

/// What woke a connection's task.
enum Woke {
    Read(std::io::Result<usize>),
    Feed(Option<Feed>),
    Timer,
    Drain,
    Dropped,
}

impl Connection {
    /// By `&mut self`: the task owns the connection, and a future that took it by value
    /// would hold it twice (the caller's moved-from copy keeps its room in the task).
    async fn run(
        &mut self,
        mut socket: TcpStream,
        tls: Option<TlsAcceptor>,
        shutdown: Shutdown,
    ) -> Result<()> {
        socket.set_nodelay(true).ok();
        let span = self.span.clone();
        self.behind_proxy(&mut socket).instrument(span).await?;
        let result = match tls {
            Some(tls) => self.over_tls(socket, &tls, shutdown).await,
            None => self.over_tcp(socket, shutdown).await,
        };
        // Frees the channel at once, before the socket closes.
        self.publishing = None;
        result
    }

    /// RTMPS: the TLS handshake, within the handshake's time limit, then RTMP in it.
    async fn over_tls(
        &mut self,
        socket: TcpStream,
        tls: &TlsAcceptor,
        shutdown: Shutdown,
    ) -> Result<()> {
        let limit = self.limits.handshake_timeout;
        let stream = tokio::time::timeout(limit, tls.accept(socket))
            .await
            .context("TLS handshake timed out")?
            .context("TLS handshake")?;
        self.socket = Box::new(stream);
        self.pump(shutdown).await
    }

    /// RTMP, or RTMPT (HTTP tunnelling) on the same port, as Flash Media Server serves it.
    async fn over_tcp(&mut self, socket: TcpStream, shutdown: Shutdown) -> Result<()> {
        let (socket, tunnel) = rtmpt::accept(socket, self.limits.handshake_timeout).await?;
        self.socket = socket;
        match tunnel {
            Some(tunnel) => {
                // The tunnel logs as it goes: all of it in the span (RTMPT is rare).
                let span = self.span.clone();
                let (result, open) = tunnel
                    .beside(self.pump(shutdown))
                    .instrument(span.clone())
                    .await;
                if let Some(tunnel) = open {
                    self.publishing = None;
                    self.playing = None;
                    // Its end of the pipe closed, the tunnel hands over what is left.
                    self.socket = Box::new(tokio::io::empty());
                    tunnel.finish().instrument(span).await;
                }
                result
            }
            None => self.pump(shutdown).await,
        }
    }

    /// A trusted proxy's connection (with `proxy_protocol`) names its client first: the
    /// client then counts for the per-address limit, tokens and the webhook.
    async fn behind_proxy(&mut self, socket: &mut TcpStream) -> Result<()> {
        let proxy = SocketAddr::new(self.peer, 0);
        let client = self
            .proxies
            .client_of(socket, proxy, self.limits.handshake_timeout)
            .await?
            .ip()
            .to_canonical();
        if client != self.peer {
            info!(%client, "proxied");
            let slot = self.per_ip.acquire(client, self.limits.connections());
            let slot = slot.inspect_err(|_| {
                self.hub.denied.count(Reason::Limit);
            });
            self._slot = slot.with_context(|| format!("{client}: connection refused"))?;
            self.peer = client;
        }
        Ok(())
    }

    async fn pump(&mut self, mut shutdown: Shutdown) -> Result<()> {
        let mut buf = vec![0u8; READ_BUFFER];
        // Slowloris: the handshake and `connect` must be done by this deadline.
        let handshake_deadline = Instant::now() + self.limits.handshake_timeout;
        // Only commands and media (either way) keep a connection open: acks and
        // pings, or a byte now and then, do not.
        let mut last_active = Instant::now();
        let mut activity = 0;
        // Both made once: a wait made afresh on every wake-up (a player wakes for each
        // frame) would enter the timer wheel, or the shutdown signal's waiters, and
        // leave it again each time. The timer is armed for the earliest the connection
        // can time out and, when it fires early (there was activity), re-armed.
        let timer = tokio::time::sleep_until(handshake_deadline);
        tokio::pin!(timer);
        let drain = shutdown.wait_drain();
        tokio::pin!(drain);
        let dropped = self.dropped.clone();
        let dropped = dropped.notified();
        tokio::pin!(dropped);
        let gate = Gate::new();
        loop {
            self.flush().await?;
            let deadline = if self.connected {
                last_active + self.limits.idle_timeout
            } else {
                handshake_deadline
            };
            if deadline < timer.deadline() {
                timer.as_mut().reset(deadline);
                gate.open();
            }
            // A player wakes for each frame: the feed is polled then, the rest only
            // once one of them woke (`Gate`).
            let woke = {
                let mut feed = pin!(async {
                    match self.playing.as_mut() {
                        Some(player) => player.next().await,
                        None => std::future::pending().await,
                    }
                });
                let mut read = pin!(self.socket.read(&mut buf));
                std::future::poll_fn(|cx| {
                    let rare = gate.poll(cx, |cx| {
                        if let Poll::Ready(read) = read.as_mut().poll(cx) {
                            return Poll::Ready(Woke::Read(read));
                        }
                        if timer.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Woke::Timer);
                        }
                        if dropped.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Woke::Dropped);
                        }
                        // Draining: players (and publishers) go, to reconnect elsewhere.
                        drain.as_mut().poll(cx).map(|()| Woke::Drain)
                    });
                    if rare.is_ready() {
                        return rare;
                    }
                    feed.as_mut().poll(cx).map(Woke::Feed)
                })
                .await
            };
            match woke {
                Woke::Read(read) => {
                    let n = read.context("reading")?;
                    if n == 0 {
                        return Ok(());
                    }
                    self.session.feed(buf.get(..n).unwrap_or_default())?;
                    if self.session.activity() != activity {
                        activity = self.session.activity();
                        last_active = Instant::now();
                    }
                    let span = self.span.clone();
                    if let Err(e) = self.handle_events().instrument(span).await {
                        // The refusal's status goes out before the connection closes.
                        self.flush().await.ok();
                        return Err(e);
                    }
                    if let Some(publishing) = &mut self.publishing {
                        self.span.in_scope(|| publishing.read(n));
                        publishing.unfinished(self.session.unfinished_bytes())?;
                        if buf.len() < PUBLISHER_READ_BUFFER {
                            buf = vec![0u8; PUBLISHER_READ_BUFFER];
                        }
                        let wait = publishing.hold()?;
                        if !wait.is_zero() {
                            // Held, not deaf: a drain still ends it.
                            tokio::select! {
                                () = tokio::time::sleep(wait) => {}
                                () = drain.as_mut() => return Ok(()),
                            }
                        }
                    }
                }
                Woke::Feed(item) => match (item, self.playing.as_mut()) {
                    (Some(item), Some(player)) => {
                        last_active = Instant::now();
                        player.forward(&mut self.session, item);
                    }
                    _ => self.playing = None,
                },
                Woke::Timer => {
                    if Instant::now() >= deadline {
                        bail!(
                            "{} timed out",
                            if self.connected {
                                "idle connection"
                            } else {
                                "handshake and connect"
                            }
                        );
                    }
                    timer.as_mut().reset(deadline);
                    gate.open();
                }
                Woke::Drain => return Ok(()),
                Woke::Dropped => bail!("closed by an operator (POST /api/drop or /api/kick)"),
            }
        }
    }

    async fn handle_events(&mut self) -> Result<()> {
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::Connect {
                    app,
                    tc_url,
                    object,
                } => {
                    // Tokens are credentials: the query stays out of the log.
                    let app_name = app.split_once('?').map_or(app.as_str(), |(a, _)| a);
                    // No channel's app is longer (`name::check`); such an app may be
                    // most of a 64 KiB message, which stays out of the log.
                    if app_name.len() > MAX_APP_LEN {
                        let why = format!(
                            "an app name of {} bytes, over {MAX_APP_LEN}",
                            app_name.len()
                        );
                        self.session.reject_connect(&why);
                        bail!("connect refused: {why}");
                    }
                    info!(app = app_name, "connect");
                    self.connected = true;
                    let flash_ver = object.get("flashVer").and_then(Value::as_str);
                    self.hops = flash_ver.map_or(0, crate::forward::hops_in);
                    self.app = app_name.to_owned();
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
                        .and_then(access::token_in)
                        .map(|t| self.hub.auth.get().policy.precheck(t))
                    {
                        self.hub.denied.count(&reason);
                        self.session.reject_connect(&reason.to_string());
                        bail!("connect to {app_name} refused: {reason}");
                    }
                    self.session.accept_connect();
                }
                ServerEvent::Publish {
                    stream_id, name, ..
                } => {
                    let (stream, query) = name.split_once('?').unwrap_or((&name, ""));
                    let channel_name = name::qualify(&self.app, stream);
                    // Before any token or webhook: a name no channel may have is refused as such.
                    if let Err(bad) = name::check(&channel_name) {
                        warn!("publish refused: {bad}");
                        self.session.reject(
                            stream_id,
                            "NetStream.Publish.BadName",
                            &bad.to_string(),
                        );
                        continue;
                    }
                    // Boxed, as plays are: the connection's task would otherwise hold
                    // room for the webhook's request for its whole life.
                    let channel =
                        Box::pin(self.authorise_publish(stream_id, &channel_name, query)).await?;
                    self.publishers.start(
                        &mut self.session,
                        &self.hub,
                        &mut self.publishing,
                        stream_id,
                        Publisher {
                            attempt: attempt(
                                Action::Publish,
                                &channel,
                                query,
                                self.connect_query.as_deref(),
                                self.peer,
                            ),
                            limits: self.limits.publish(),
                            kick: self.dropped.clone(),
                        },
                    )?;
                    if let Some(publishing) = &self.publishing {
                        publishing.channel().on_drop(self.dropped.clone());
                        publishing.channel().set_hops(self.hops);
                    }
                }
                ServerEvent::Tag { stream_id, tag } => {
                    if let Some(publishing) = &mut self.publishing
                        && publishing.stream_id == stream_id
                    {
                        publishing.publish(tag);
                    }
                }
                // Boxed: the admission's future (token, webhook, an origin started on
                // demand) is several kilobytes, which every connection's task would
                // otherwise reserve for its whole life, in every player's memory.
                ServerEvent::Play { stream_id, name } => {
                    Box::pin(self.play(stream_id, &name)).await?
                }
                ServerEvent::StreamClosed { stream_id } => {
                    if self
                        .publishing
                        .as_ref()
                        .is_some_and(|p| p.stream_id == stream_id)
                    {
                        self.publishing = None;
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
        Ok(())
    }

    /// Plays `name` (`stream?query`) on `stream_id` once admitted. A refusal goes to the
    /// client as its `NetStream.Play.*` status; a denial (token, webhook, viewer cap)
    /// also ends the connection.
    async fn play(&mut self, stream_id: u32, name: &str) -> Result<()> {
        let (stream, query) = name.split_once('?').unwrap_or((name, ""));
        let channel = &name::qualify(&self.app, stream);
        let attempt = attempt(
            Action::Play,
            channel,
            query,
            self.connect_query.as_deref(),
            self.peer,
        );
        let admission = Admission {
            hub: &self.hub,
            max_viewers: self.limits.max_viewers,
        };
        let refusal = match admission.admit(&attempt).await {
            Ok(admitted) => {
                let link = Link::new(self.dropped.clone());
                let hooks = Session::start(&self.hub.hooks, &attempt, link.clone());
                self.playing = Player::start(&mut self.session, stream_id, &admitted, hooks, link);
                return Ok(());
            }
            Err(refusal) => refusal,
        };
        let (code, description) = play::refusal_status(&refusal, channel);
        self.session.reject(stream_id, code, &description);
        if refusal.is_denial() {
            bail!("play of {channel} refused: {refusal}");
        }
        if let Refusal::BadName(_) = refusal {
            // Such a name may be a megabyte long: it stays out of the log.
            warn!("play refused: {refusal}");
        } else {
            warn!(channel, "play refused: {refusal}");
        }
        Ok(())
    }

    /// The channel a publish goes to, once its token (of the stream's query, else of
    /// the connect URL) and the webhook allow it. A refusal goes to the client as
    /// `NetStream.Publish.Rejected` and ends the connection.
    async fn authorise_publish(
        &mut self,
        stream_id: u32,
        channel: &str,
        query: &str,
    ) -> Result<String> {
        let attempt = attempt(
            Action::Publish,
            channel,
            query,
            self.connect_query.as_deref(),
            self.peer,
        );
        let auth = self.hub.auth.get();
        let Err(reason) = auth.policy.authorise(&attempt).await else {
            return Ok(channel.to_owned());
        };
        let channel = channel.to_owned();
        self.hub.denied.count(&reason);
        self.session.reject(
            stream_id,
            "NetStream.Publish.Rejected",
            &format!("{channel}: {reason}"),
        );
        bail!("publish to {channel} refused: {reason}");
    }

    /// Writes what the session has to send, in vectored writes: a player's burst of
    /// shared chunks goes out in one system call, uncopied. A peer that takes nothing
    /// for the write timeout (a stalled player) is disconnected, as over HTTP; a slow
    /// one that keeps reading is not, however long a start-up burst takes it.
    async fn flush(&mut self) -> Result<()> {
        let limit = self.limits.write_timeout;
        let mut pending: VecDeque<Bytes> =
            std::iter::from_fn(|| self.session.poll_transmit()).collect();
        match vectored::write_all(&mut self.socket, &mut pending, Some(limit)).await {
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                bail!("the peer read nothing for {limit:?}: write timed out")
            }
            Err(e) if e.kind() == std::io::ErrorKind::WriteZero => {
                bail!("writing: the connection is closed")
            }
            written => written.context("writing"),
        }
    }
}

/// What the access rules are asked for a stream of this connection: the token of the
/// stream's query, else of the connect URL's.
fn attempt<'a>(
    action: Action,
    channel: &'a str,
    query: &'a str,
    connect_query: Option<&'a str>,
    peer: IpAddr,
) -> Attempt<'a> {
    let connect_query = connect_query.unwrap_or_default();
    Attempt {
        action,
        channel,
        client_ip: peer.to_canonical(),
        protocol: "rtmp",
        query: if query.is_empty() {
            connect_query
        } else {
            query
        },
        token: access::token_in(query).or_else(|| access::token_in(connect_query)),
    }
}
