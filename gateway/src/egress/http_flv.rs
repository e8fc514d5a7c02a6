//! HTTP-FLV (a chunked FLV body) and WS-FLV (the first binary message the FLV header,
//! each next one whole tags): the wire formats flv.js, mpegts.js and SRS speak, both
//! served at `GET /live/{channel}.flv` (`crate::http::live`), WS-FLV on an upgrade.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use flashless_core::flv::{self, Header};
use futures_util::{SinkExt, StreamExt};
use tracing::{debug, info};

use super::admission::Refusal;
use crate::access::Denied;
use crate::hooks::Session;
use crate::hub::{Channel, Feed, MediaTag, Viewer};
use crate::shutdown::Shutdown;

/// The close code a draining or stopping gateway sends its WS-FLV viewers (RFC 6455's
/// "going away"): the player reconnects at once, through the balancer, elsewhere.
/// A standard code, so that players that do not know it still retry (with backoff).
pub const GOING_AWAY: u16 = 1001;
/// Messages written per WebSocket flush: one write for a burst, as at start-up.
const BATCH: usize = 64;
/// tungstenite fills its whole read buffer with zeros on the first read (128 KiB by
/// default), for every viewer, who only ever sends pings and a close.
const WS_READ_BUFFER: usize = 4 * 1024;
/// Bytes a WebSocket gathers before it writes them out. Its buffer keeps the capacity
/// it once reached (128 KiB by default, after the start-up burst) for the viewer's
/// life; a flush still writes a whole batch at once.
const WS_WRITE_BUFFER: usize = 16 * 1024;

/// Starts a viewer of `channel`, admitted already: WS-FLV when the request asked for
/// an upgrade, else an HTTP-FLV body.
pub fn start(
    channel: &Arc<Channel>,
    ws: Option<WebSocketUpgrade>,
    shutdown: Shutdown,
    hooks: Session,
) -> Response {
    let (start, mut viewer) = channel.subscribe();
    viewer.hold(hooks);
    match ws {
        Some(upgrade) => upgrade
            .read_buffer_size(WS_READ_BUFFER)
            .write_buffer_size(WS_WRITE_BUFFER)
            .on_upgrade(move |socket| websocket(socket, start, viewer, shutdown)),
        None => http_flv(start, viewer, shutdown),
    }
}

/// What a viewer refused with `refusal` is answered.
pub fn refusal_status(refusal: &Refusal) -> StatusCode {
    match refusal {
        Refusal::Denied(Denied::Missing(_)) => StatusCode::UNAUTHORIZED,
        Refusal::Denied(Denied::WebhookUnavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::Denied(_) => StatusCode::FORBIDDEN,
        Refusal::BadName(_) => StatusCode::BAD_REQUEST,
        Refusal::NoSuchChannel(_) => StatusCode::NOT_FOUND,
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

fn http_flv(start: Vec<Arc<MediaTag>>, viewer: Viewer, shutdown: Shutdown) -> Response {
    let channel = viewer.channel().clone();
    info!(channel = channel.name(), "http-flv viewer");
    let head =
        std::iter::once(file_header(&channel)).chain(start.into_iter().map(|m| m.flv.clone()));
    let head = futures_util::stream::iter(
        head.map(Ok::<_, std::convert::Infallible>)
            .collect::<Vec<_>>(),
    );
    let live = futures_util::stream::unfold(
        (viewer, shutdown),
        |(mut viewer, mut shutdown)| async move {
            loop {
                let item = tokio::select! {
                    item = viewer.next() => item?,
                    // Ending the body finishes the chunked response cleanly; the
                    // player reconnects, through the balancer, to another gateway.
                    _ = shutdown.wait_drain() => return None,
                };
                if let Feed::Tag(media) = item {
                    viewer
                        .channel()
                        .counters
                        .bytes_out
                        .fetch_add(media.flv.len() as u64, Relaxed);
                    return Some((Ok(media.flv.clone()), (viewer, shutdown)));
                }
            }
        },
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "video/x-flv")
        .header(header::CACHE_CONTROL, "no-cache, no-store")
        .body(Body::from_stream(head.chain(live)))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "building the response"))
}

async fn websocket(
    socket: WebSocket,
    start: Vec<Arc<MediaTag>>,
    mut viewer: Viewer,
    mut shutdown: Shutdown,
) {
    let channel = viewer.channel().clone();
    info!(channel = channel.name(), "ws-flv viewer");
    let (mut tx, mut rx) = socket.split();
    let mut first = vec![Message::Binary(file_header(&channel))];
    first.extend(start.iter().map(|m| Message::Binary(m.flv.clone())));
    for msg in first {
        if tx.feed(msg).await.is_err() {
            return;
        }
    }
    if tx.flush().await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            item = viewer.next() => {
                let Some(item) = item else { break };
                let mut item = Some(item);
                let mut sent = 0;
                while let Some(feed) = item.take() {
                    if let Feed::Tag(media) = feed {
                        channel.counters.bytes_out.fetch_add(media.flv.len() as u64, Relaxed);
                        if tx.feed(Message::Binary(media.flv.clone())).await.is_err() {
                            return;
                        }
                    }
                    sent += 1;
                    if sent < BATCH {
                        item = viewer.try_next();
                    }
                }
                if tx.flush().await.is_err() {
                    break;
                }
            }
            _ = shutdown.wait_drain() => {
                let _ = tx.send(Message::Close(Some(CloseFrame {
                    code: GOING_AWAY,
                    reason: "draining".into(),
                }))).await;
                break;
            }
            msg = rx.next() => match msg {
                // Pings are answered by the library; anything else from the viewer is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    debug!(channel = channel.name(), "ws-flv viewer left");
}

pub fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
