//! `GET /live/{channel}.flv`: HTTP-FLV (a chunked FLV body) and, on the same path
//! with an upgrade, WS-FLV (the first binary message the FLV header, each next one
//! whole tags): the wire formats flv.js, mpegts.js and SRS speak.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use flashless_core::flv::{self, Header};
use futures_util::{SinkExt, StreamExt};
use tracing::{debug, info};

use crate::auth::{self, Action, Denied};
use crate::http::{AppState, Peer};
use crate::hub::{Channel, Feed, MediaTag, UpstreamState, Viewer};
use crate::shutdown::Shutdown;
use crate::webhook::Attempt;

/// Messages written per WebSocket flush: one write for a burst, as at start-up.
const BATCH: usize = 64;
/// tungstenite fills its whole read buffer with zeros on the first read (128 KiB by
/// default), for every viewer, who only ever sends pings and a close.
const WS_READ_BUFFER: usize = 4 * 1024;
/// Bytes a WebSocket gathers before it writes them out. Its buffer keeps the capacity
/// it once reached (128 KiB by default, after the start-up burst) for the viewer's
/// life; a flush still writes a whole batch at once.
const WS_WRITE_BUFFER: usize = 16 * 1024;

pub async fn live(
    State(app): State<Arc<AppState>>,
    Path(file): Path<String>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    // Not an upgrade request (a rejection) means plain HTTP-FLV.
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(name) = file.strip_suffix(".flv") else {
        return error(StatusCode::NOT_FOUND, "expected /live/<channel>.flv");
    };
    if !app.origin_allowed(&headers) {
        return deny(
            &app,
            StatusCode::FORBIDDEN,
            name,
            peer,
            "this page's origin may not read the stream",
        );
    }
    let query = query.unwrap_or_default();
    let attempt = Attempt {
        action: Action::Play,
        channel: name,
        client_ip: peer.ip().to_canonical(),
        protocol: if ws.is_ok() { "ws-flv" } else { "http-flv" },
        query: &query,
        token: auth::token_in(&query),
    };
    if let Err(reason) = app.auth.authorise(&attempt).await {
        let status = match reason {
            Denied::Missing(_) => StatusCode::UNAUTHORIZED,
            Denied::WebhookUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::FORBIDDEN,
        };
        return deny(&app, status, name, peer, &reason.to_string());
    }
    let Some(channel) = app.hub.get(name) else {
        return error(StatusCode::NOT_FOUND, &format!("no channel named {name:?}"));
    };
    let snapshot = channel.snapshot();
    if let (false, UpstreamState::Retrying { error: reason, .. }) =
        (snapshot.had_media, &snapshot.upstream)
    {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("channel {name:?} is unavailable: {reason}"),
        );
    }
    if app.hub.viewers() >= app.limits.max_viewers {
        return deny(
            &app,
            StatusCode::SERVICE_UNAVAILABLE,
            name,
            peer,
            "the gateway has all the viewers it takes",
        );
    }
    let (start, viewer) = channel.subscribe();
    let mut response = match ws {
        Ok(upgrade) => upgrade
            .read_buffer_size(WS_READ_BUFFER)
            .write_buffer_size(WS_WRITE_BUFFER)
            .on_upgrade(move |socket| websocket(socket, start, viewer, app.shutdown.clone())),
        Err(_) => http_flv(start, viewer, app.shutdown.clone()),
    };
    // CORS: pages of allowed origins (checked above) may read HTTP-FLV with fetch().
    if let Some(origin) = headers.get(header::ORIGIN) {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        response
            .headers_mut()
            .insert(header::VARY, header::HeaderValue::from_static("Origin"));
    }
    response
}

/// Refuses a viewer, logged and counted.
fn deny(
    app: &AppState,
    status: StatusCode,
    channel: &str,
    peer: std::net::SocketAddr,
    reason: &str,
) -> Response {
    app.hub.denied.fetch_add(1, Relaxed);
    tracing::warn!(channel, %peer, %status, "viewer refused: {reason}");
    error(status, reason)
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
                    // Ending the body finishes the chunked response cleanly.
                    _ = shutdown.wait() => return None,
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
            _ = shutdown.wait() => {
                let _ = tx.send(Message::Close(None)).await;
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
