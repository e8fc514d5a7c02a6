//! `/api/recordings` (JSON: channel, path, UTC start, duration, bytes; `?channel=`,
//! paged by `?limit=` (at most [`MAX_PAGE`], the default), `?offset=` and
//! `?order=newest`, the whole listing's length in `X-Total-Count`) and
//! `/recordings/{path}`, a recording served with HTTP Range so a `<video>` seeks in it.
//! Both follow `/api/channels`' rule (`admin`): public while anyone may play, else the
//! admin token when one is configured; where play tokens are required and no admin
//! token is, a recording needs its channel's play token. A path that is not a
//! recording under the directory (`..`, encoded or not, any link) is a 404 like any
//! missing file.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::admin::Door;
use super::live::refuse;
use super::range::{self, Ranged};
use super::{AppState, Peer};
use crate::access::{self, Action};
use crate::egress::Refusal;
use crate::egress::http_flv::error;
use crate::record;

/// Bytes read from the file per body chunk.
const CHUNK: usize = 64 * 1024;

/// The most recordings one `/api/recordings` answer lists, and how many it lists
/// unless asked for fewer.
pub const MAX_PAGE: usize = 1000;

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    channel: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    /// `oldest` (first; the default) or `newest`.
    order: Option<String>,
}

impl Filter {
    fn page(&self) -> Result<record::Page, &'static str> {
        let limit = self.limit.unwrap_or(MAX_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err("limit must be 1 to 1000");
        }
        let newest_first = match self.order.as_deref() {
            None | Some("oldest") => false,
            Some("newest") => true,
            Some(_) => return Err("order must be oldest or newest"),
        };
        Ok(record::Page {
            offset: self.offset.unwrap_or(0),
            limit,
            newest_first,
        })
    }
}

pub async fn file(
    State(app): State<Arc<AppState>>,
    Extension(door): Extension<Door>,
    Path(path): Path<String>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    // A recording is the channel's media: where watching it live needs a play token
    // and no admin token guards the public door, it needs the channel's play token.
    let auth = app.hub.auth.get();
    if door == Door::Public && auth.policy.requires(Action::Play) && auth.admin_token.is_none() {
        let channel =
            record::path::relative(&path).and_then(|relative| record::path::channel_of(&relative));
        let Some(channel) = channel else {
            return error(StatusCode::NOT_FOUND, "no such recording");
        };
        let client_ip = app.proxies.get().client(peer.ip(), &headers);
        let token = access::token_in(query.as_deref().unwrap_or_default());
        if let Err(denied) = auth.policy.check(Action::Play, &channel, token, client_ip) {
            let refusal = Refusal::Denied(denied);
            if let Some(reason) = refusal.denial() {
                app.hub.denied.count(reason);
            }
            return refuse(&refusal, &channel, peer);
        }
    }
    file_from(app, path, headers).await
}

/// `GET /api/recordings`.
pub async fn list(State(app): State<Arc<AppState>>, Query(filter): Query<Filter>) -> Response {
    let page = match filter.page() {
        Ok(page) => page,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let channel = filter.channel.filter(|c| !c.is_empty());
    match app.outputs.recordings.list_json(channel, page).await {
        Some((json, total)) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    HeaderName::from_static("x-total-count"),
                    HeaderValue::from(total),
                ),
            ],
            json,
        )
            .into_response(),
        None => error(StatusCode::INTERNAL_SERVER_ERROR, "listing failed"),
    }
}

async fn file_from(app: Arc<AppState>, path: String, headers: HeaderMap) -> Response {
    let recordings = app.outputs.recordings.clone();
    let found = tokio::task::spawn_blocking(move || recordings.file(&path))
        .await
        .ok()
        .flatten();
    let Some(full) = found else {
        return error(StatusCode::NOT_FOUND, "no such recording");
    };
    let Ok(mut file) = tokio::fs::File::open(&full).await else {
        return error(StatusCode::NOT_FOUND, "no such recording");
    };
    let Ok(len) = file.metadata().await.map(|m| m.len()) else {
        return error(StatusCode::NOT_FOUND, "no such recording");
    };
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, first, count) = match range::parse(asked, len) {
        Ranged::Whole => (StatusCode::OK, 0, len),
        Ranged::Part { first, last } => (StatusCode::PARTIAL_CONTENT, first, last - first + 1),
        Ranged::Unsatisfiable => {
            let mut r = error(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    if file.seek(std::io::SeekFrom::Start(first)).await.is_err() {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reading the recording failed",
        );
    }
    // The file may grow (being recorded): exactly `count` bytes are sent.
    let body = futures_util::stream::unfold((file, count), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), (file, left - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // A file being recorded grows: never cached as final.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{}/{len}", first + count - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}
