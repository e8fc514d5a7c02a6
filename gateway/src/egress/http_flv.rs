//! HTTP-FLV (a chunked FLV body) and WS-FLV (the first binary message the FLV header,
//! each next one whole tags): the wire formats flv.js, mpegts.js and SRS speak, both
//! served at `GET /live/{channel}.flv` (`crate::http::live`), WS-FLV on an upgrade.

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use flashless_core::flv::{self, Header};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{debug, info};

use super::admission::Refusal;
use super::gate::Gate;
use super::websocket::{self, ClientFrames, FrameError, Incoming, OP_CLOSE, OP_PONG, Upgrade};
use crate::access::Denied;
use crate::clients::Link;
use crate::hooks::Session;
use crate::hub::{Channel, Feed, MediaTag, Viewer};
use crate::shutdown::Shutdown;

/// The close code a draining or stopping gateway sends its WS-FLV viewers (RFC 6455's
/// "going away"): the player reconnects at once, through the balancer, elsewhere.
/// A standard code, so that players that do not know it still retry (with backoff).
pub const GOING_AWAY: u16 = 1001;
/// Tags gathered into one WebSocket message, in one write: a burst, as at start-up.
const BATCH: usize = 64;

/// WS-FLV's close code for a viewer the operator kicked (RFC 6455's "policy violation").
pub const KICKED: u16 = 1008;

/// Starts a viewer of `channel`, admitted already: WS-FLV when the request asked for
/// an upgrade (frames from the viewer up to `max_frame` bytes), else an HTTP-FLV body.
/// What it is sent counts in its `link`, which ends it when the operator kicks it.
pub fn start(
    channel: &Arc<Channel>,
    ws: Option<(Upgrade, usize)>,
    shutdown: Shutdown,
    hooks: Session,
    link: Arc<Link>,
) -> Response {
    let (start, mut viewer) = channel.subscribe();
    viewer.hold(hooks);
    let ends = Ends { shutdown, link };
    match ws {
        Some((upgrade, max_frame)) => {
            upgrade.on_upgrade(move |io| websocket(io, max_frame, start, viewer, ends))
        }
        None => http_flv(start, viewer, ends),
    }
}

/// What ends a viewer besides its own going: the gateway draining or stopping, and the
/// operator's kick.
struct Ends {
    shutdown: Shutdown,
    link: Arc<Link>,
}

impl Ends {
    async fn wait(mut self) -> Woke {
        tokio::select! {
            _ = self.shutdown.wait_drain() => Woke::Drain,
            () = self.link.kicked() => Woke::Kicked,
        }
    }
}

/// What a viewer refused with `refusal` is answered.
pub fn refusal_status(refusal: &Refusal) -> StatusCode {
    match refusal {
        Refusal::Denied(Denied::Missing(_)) => StatusCode::UNAUTHORIZED,
        Refusal::Denied(Denied::WebhookUnavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::Denied(Denied::WebhookBusy(_)) => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Denied(_) => StatusCode::FORBIDDEN,
        Refusal::BadName(_) => StatusCode::BAD_REQUEST,
        Refusal::NoSuchChannel(_) => StatusCode::NOT_FOUND,
        Refusal::AddressFull(_) => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Unavailable { .. } | Refusal::Full | Refusal::ChannelsFull => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

fn file_header(channel: &Channel) -> Bytes {
    let info = channel.snapshot().info;
    // Flags from what is known; players such as flv.js wait for a track the header announces.
    let has_video = info.video_codec.is_some() || info.audio_codec.is_none();
    let mut out = BytesMut::with_capacity(13);
    flv::write_header(
        &Header {
            has_audio: info.audio_codec.is_some() || !has_video,
            has_video,
        },
        &mut out,
    );
    out.freeze()
}

fn http_flv(start: Vec<Arc<MediaTag>>, viewer: Viewer, ends: Ends) -> Response {
    let channel = viewer.channel().clone();
    info!(channel = channel.name(), "http-flv viewer");
    let head =
        std::iter::once(file_header(&channel)).chain(start.into_iter().map(|m| m.flv.clone()));
    let head = futures_util::stream::iter(head.map(Ok::<_, std::io::Error>).collect::<Vec<_>>());
    // Made once, not at each tag: a fresh wait would register with the shutdown
    // signal, and leave it, every time the viewer wakes.
    let link = ends.link.clone();
    let drain: Pin<Box<dyn Future<Output = Woke> + Send>> = Box::pin(ends.wait());
    let state = Some((viewer, drain, link));
    let live = futures_util::stream::unfold(state, |state| async move {
        let (mut viewer, mut drain, link) = state?;
        loop {
            let item = tokio::select! {
                item = viewer.next() => item?,
                woke = &mut drain => return match woke {
                    // Cut short, so that the connection closes too (a body that ends
                    // leaves it open for the next request).
                    Woke::Kicked => Some((Err(std::io::Error::other("kicked by the operator")), None)),
                    // Ending the body finishes the chunked response cleanly; the
                    // player reconnects, through the balancer, to another gateway.
                    _ => None,
                },
            };
            if let Feed::Tag(media) = item {
                viewer
                    .channel()
                    .counters
                    .bytes_out
                    .fetch_add(media.flv.len() as u64, Relaxed);
                link.moved(media.flv.len());
                return Some((Ok(media.flv.clone()), Some((viewer, drain, link))));
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "video/x-flv")
        .header(header::CACHE_CONTROL, "no-cache, no-store")
        .body(Body::from_stream(head.chain(live)))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "building the response"))
}

/// A WS-FLV viewer: the FLV header as the first message, the start-up burst as the
/// second, then whatever is queued each time as one message of whole tags (players
/// such as this one, flv.js and mpegts.js read a byte stream). Each message is the
/// channel's own FLV bytes behind a frame header, in one vectored write.
async fn websocket<Io: AsyncRead + AsyncWrite>(
    io: Io,
    max_frame: usize,
    start: Vec<Arc<MediaTag>>,
    mut viewer: Viewer,
    ends: Ends,
) {
    let channel = viewer.channel().clone();
    info!(channel = channel.name(), "ws-flv viewer");
    let (mut rx, mut tx) = tokio::io::split(io);
    if websocket::write_binary(&mut tx, [file_header(&channel)])
        .await
        .is_err()
    {
        return;
    }
    if !start.is_empty()
        && websocket::write_binary(&mut tx, start.iter().map(|m| m.flv.clone()))
            .await
            .is_err()
    {
        return;
    }
    drop(start);
    let mut frames = ClientFrames::new(max_frame);
    let mut incoming = Vec::new();
    // Viewers send pings and a close: a few bytes at a time.
    let mut buf = [0u8; 256];
    let mut batch: Vec<Bytes> = Vec::with_capacity(BATCH);
    let link = ends.link.clone();
    let ends = ends.wait();
    tokio::pin!(ends);
    // The viewer wakes for each frame: the feed is polled then; the socket's read side,
    // the shutdown signal and the kick only once one of them woke (`Gate`).
    let gate = Gate::new();
    loop {
        let woke = {
            let mut read = pin!(rx.read(&mut buf));
            let mut next = pin!(viewer.next());
            std::future::poll_fn(|cx| {
                let rare = gate.poll(cx, |cx| {
                    if let Poll::Ready(read) = read.as_mut().poll(cx) {
                        return Poll::Ready(Woke::Read(read));
                    }
                    ends.as_mut().poll(cx)
                });
                if rare.is_ready() {
                    return rare;
                }
                next.as_mut().poll(cx).map(Woke::Feed)
            })
            .await
        };
        match woke {
            Woke::Feed(item) => {
                let Some(item) = item else { break };
                let mut item = Some(item);
                while let Some(feed) = item.take() {
                    if let Feed::Tag(media) = feed {
                        batch.push(media.flv.clone());
                    }
                    if batch.len() < BATCH {
                        item = viewer.try_next();
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                let bytes: usize = batch.iter().map(Bytes::len).sum();
                channel.counters.bytes_out.fetch_add(bytes as u64, Relaxed);
                link.moved(bytes);
                if websocket::write_binary(&mut tx, batch.drain(..))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            // Draining or stopping: "going away, reconnect elsewhere" (`GOING_AWAY`);
            // kicked: `KICKED`.
            Woke::Drain | Woke::Kicked => {
                let (code, reason): (u16, &[u8]) = match woke {
                    Woke::Kicked => (KICKED, b"kicked by the operator"),
                    _ => (GOING_AWAY, b"draining"),
                };
                let mut close = code.to_be_bytes().to_vec();
                close.extend_from_slice(reason);
                let _ = websocket::write_control(&mut tx, OP_CLOSE, &close).await;
                break;
            }
            Woke::Read(read) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if let Err(e) = frames.feed(&buf[..n], &mut incoming) {
                    debug!(channel = channel.name(), "ws-flv viewer closed: {e}");
                    // 1009 "message too big", 1008 "policy violation" or 1002
                    // "protocol error" (RFC 6455 §7.4.1).
                    let code: u16 = match e {
                        FrameError::TooLarge { .. } => 1009,
                        FrameError::TooManyData => 1008,
                        _ => 1002,
                    };
                    let _ = websocket::write_control(&mut tx, OP_CLOSE, &code.to_be_bytes()).await;
                    break;
                }
                let mut closed = false;
                for answer in incoming.drain(..) {
                    let written = match answer {
                        Incoming::Ping(payload) => {
                            websocket::write_control(&mut tx, OP_PONG, &payload).await
                        }
                        Incoming::Close => {
                            closed = true;
                            websocket::write_control(&mut tx, OP_CLOSE, &[]).await
                        }
                    };
                    if written.is_err() {
                        closed = true;
                    }
                }
                if closed {
                    break;
                }
            }
        }
    }
    let _ = tx.shutdown().await;
    debug!(channel = channel.name(), "ws-flv viewer left");
}

/// What woke a WS-FLV viewer's task.
enum Woke {
    Feed(Option<Feed>),
    Read(std::io::Result<usize>),
    Drain,
    Kicked,
}

pub fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
