//! `GET /<app>/<stream>/<file>`: a channel as HLS (`crate::egress::hls`). `<file>` is
//! `index.m3u8` (the media playlist, with `_HLS_msn`/`_HLS_part` blocking reloads),
//! `init{N}.mp4`, `seg{msn}.m4s` or `part{msn}.{i}.m4s` (`.ts` for a channel whose
//! sound is MP3), as the playlist names them.
//! A channel of the default app is `/live/cam/index.m3u8`; any channel by its whole
//! name with the '/' escaped also works under `/live/` (`/live/other%2Fcam/…`), as for
//! HTTP-FLV.
//!
//! Who may watch: the playlist request a player starts with (no `_HLS_msn`) goes
//! through admission like any play (name, token, webhook, the channel exists or is
//! started, caps); the token it carried is written into every URI of the playlist, and
//! the requests that follow are checked against that token only, so the webhook is
//! asked once per player rather than three times a second. A player is counted as a
//! viewer from its first request (`egress::hls`), a session with its hooks and its
//! place in `/api/clients`; a player not counted yet (a new one, or one back after a
//! pause) is let in only under the viewer cap, and under `per_ip` players from its
//! address; one the operator kicked is refused (403) until it stops asking.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use flashless_core::hls::Lookup;

use super::live::{cors, deny, refuse};
use super::{AppState, Peer};
use crate::access::{self, Action, Attempt};
use crate::egress::hls::{Asking, PlayerId, Producer, Visit};
use crate::egress::http_flv::error;
use crate::egress::{Admission, Refusal};
use crate::hooks::Session;
use crate::hub::name;

/// How long a player's first playlist request waits for the first complete segment of
/// a producer just started (a pull on demand connects first).
const FIRST_PLAYLIST_WAIT: Duration = Duration::from_secs(15);

/// Parts and segments never change under their URI (a restarted producer numbers past
/// the old one), but they leave the window within seconds: a cache need not keep them long.
const MEDIA_CACHE: &str = "public, max-age=60, immutable";

pub async fn file(
    State(app): State<Arc<AppState>>,
    Path((rtmp_app, stream, file)): Path<(String, String, String)>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    // Draining: every request of an HLS player (which holds no connection to close)
    // answers 503, so that the balancer retries it on another gateway, which numbers
    // its segments from the same clock.
    if app.shutdown.is_draining() {
        return cors(draining(), &headers);
    }
    let Some(resource) = Resource::parse(&file) else {
        return error(StatusCode::NOT_FOUND, "no such HLS file");
    };
    // `/live/other%2Fcam/…`: the whole name under the default app.
    let name = if rtmp_app == name::DEFAULT_APP {
        stream
    } else {
        name::qualify(&rtmp_app, &stream)
    };
    if !app.hub.auth.get().origins.allowed(&headers) {
        app.hub.denied.count(crate::hub::denials::Reason::Origin);
        return deny(
            StatusCode::FORBIDDEN,
            &name,
            peer,
            "this page's origin may not read the stream",
        );
    }
    let query = query.unwrap_or_default();
    let response = match resource {
        Resource::Playlist => playlist(&app, &name, peer, &query, &headers).await,
        media => serve_media(&app, &name, peer, &query, &headers, media).await,
    };
    cors(response, &headers)
}

/// One of the files of a channel's HLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Playlist,
    Init(u64),
    /// With the extension asked for: `m4s` or `ts`.
    Segment(u64, &'static str),
    Part(u64, u32, &'static str),
}

impl Resource {
    fn parse(file: &str) -> Option<Resource> {
        if file == "index.m3u8" {
            return Some(Resource::Playlist);
        }
        if let Some(n) = file
            .strip_prefix("init")
            .and_then(|f| f.strip_suffix(".mp4"))
        {
            return n.parse().ok().map(Resource::Init);
        }
        let (name, ext) = match file.strip_suffix(".m4s") {
            Some(name) => (name, "m4s"),
            None => (file.strip_suffix(".ts")?, "ts"),
        };
        if let Some(msn) = name.strip_prefix("seg") {
            return Some(Resource::Segment(msn.parse().ok()?, ext));
        }
        let (msn, index) = name.strip_prefix("part")?.split_once('.')?;
        Some(Resource::Part(msn.parse().ok()?, index.parse().ok()?, ext))
    }
}

/// What a playlist request asks: `_HLS_msn`, `_HLS_part` (RFC 8216bis §6.2.5.2),
/// `_HLS_skip` (§6.2.5.1) and the token.
struct Query<'a> {
    msn: Option<u64>,
    part: Option<u32>,
    /// A delta update: `YES`, or `v2` (which also skips date ranges; there are none).
    skip: bool,
    token: Option<&'a str>,
}

impl<'a> Query<'a> {
    fn parse(query: &'a str) -> Result<Query<'a>, &'static str> {
        let value = |key: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        };
        let msn = match value("_HLS_msn") {
            Some(v) => Some(v.parse().map_err(|_| "_HLS_msn is not a number")?),
            None => None,
        };
        let part = match value("_HLS_part") {
            Some(v) => Some(v.parse().map_err(|_| "_HLS_part is not a number")?),
            None => None,
        };
        if part.is_some() && msn.is_none() {
            return Err("_HLS_part without _HLS_msn");
        }
        let skip = match value("_HLS_skip") {
            None => false,
            Some("YES" | "v2") => true,
            Some(_) => return Err("_HLS_skip is neither YES nor v2"),
        };
        Ok(Query {
            msn,
            part,
            skip,
            token: access::token_in(query),
        })
    }

    /// What follows each URI in the playlist: the token, when it is one (its
    /// characters checked: it goes into the playlist's text).
    fn suffix(&self) -> String {
        match self.token {
            Some(t)
                if !t.is_empty()
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) =>
            {
                format!("?token={t}")
            }
            _ => String::new(),
        }
    }
}

async fn playlist(
    app: &AppState,
    name: &str,
    peer: SocketAddr,
    raw: &str,
    headers: &HeaderMap,
) -> Response {
    let query = match Query::parse(raw) {
        Ok(q) => q,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let client_ip = app.proxies.get().client(peer.ip(), headers);
    let player = player_of(client_ip, headers);
    let attempt = attempt(name, client_ip, raw);
    let running = match query.msn {
        // A player's reload: its token is checked, and the producer must still run.
        Some(_) => {
            let policy = &app.hub.auth.get().policy;
            match policy.check(Action::Play, name, query.token, client_ip) {
                Ok(()) => app.hls.running(name),
                Err(denied) => return refused(app, Refusal::Denied(denied), name, peer),
            }
        }
        None => None,
    };
    let producer = match running {
        Some(p) => p,
        None => {
            // A player counted already reloads without blocking: the cap let it in.
            let counted = app.hls.running(name).is_some_and(|p| p.knows(&player));
            let admission = Admission {
                hub: &app.hub,
                max_viewers: if counted {
                    usize::MAX
                } else {
                    app.limits.get().max_viewers
                },
            };
            match admission.admit(&attempt).await {
                Ok(channel) => app.hls.producer(&channel),
                Err(refusal) => return refuse(&refusal, name, peer),
            }
        }
    };
    // Held while the request waits: a first playlist may wait a long GOP out.
    let _asking = match count(app, &producer, player, &attempt) {
        Ok(asking) => asking,
        Err(turned) => return turned.answer(app, name, peer),
    };
    if producer
        .wait_for(FIRST_PLAYLIST_WAIT, |w| w.ready().then_some(()))
        .await
        .is_none()
    {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the channel has no media to segment yet",
        );
    }
    if let Some(msn) = query.msn {
        if producer.window().too_far(msn) {
            return error(
                StatusCode::BAD_REQUEST,
                "_HLS_msn is more than two segments past the playlist's last",
            );
        }
        let timeout = app.hls.blocking_timeout(&producer);
        let ready = producer
            .wait_for(timeout, |w| w.playlist_ready(msn, query.part).then_some(()))
            .await;
        if ready.is_none() {
            if app.shutdown.is_draining() {
                return draining();
            }
            // §6.2.5.2: not there within three target durations: the server may say so.
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the segment or part asked for did not come in time",
            );
        }
    }
    let text = {
        let window = producer.window();
        if query.skip {
            window.playlist_delta(&query.suffix())
        } else {
            window.playlist(&query.suffix())
        }
    };
    respond(
        "application/vnd.apple.mpegurl",
        "no-cache",
        Bytes::from(text),
    )
}

async fn serve_media(
    app: &AppState,
    name: &str,
    peer: SocketAddr,
    raw: &str,
    headers: &HeaderMap,
    resource: Resource,
) -> Response {
    let client_ip = app.proxies.get().client(peer.ip(), headers);
    let policy = &app.hub.auth.get().policy;
    if let Err(denied) = policy.check(Action::Play, name, access::token_in(raw), client_ip) {
        return refused(app, Refusal::Denied(denied), name, peer);
    }
    // Media is asked for after the playlist, which started the producer.
    let Some(producer) = app.hls.running(name) else {
        return error(
            StatusCode::NOT_FOUND,
            "the channel's HLS is not running: load index.m3u8",
        );
    };
    let player = player_of(client_ip, headers);
    let asking = match count(app, &producer, player, &attempt(name, client_ip, raw)) {
        Ok(asking) => asking,
        Err(turned) => return turned.answer(app, name, peer),
    };
    let (media_type, extension) = {
        let window = producer.window();
        (window.media_type(), window.extension())
    };
    let found = match resource {
        Resource::Playlist => None,
        Resource::Init(n) => producer.window().init_segment(n).map(|init| vec![init]),
        // Named as the other kind (fMP4 or TS) than the window's: not in it.
        Resource::Segment(_, ext) | Resource::Part(_, _, ext) if ext != extension => None,
        Resource::Segment(msn, _) => producer.window().segment(msn),
        // A preload hint's part is asked before it exists: held until it does (§6.2.6).
        Resource::Part(msn, index, _) => {
            let timeout = app.hls.blocking_timeout(&producer);
            let lookup = producer
                .wait_for(timeout, |w| match w.part(msn, index) {
                    Lookup::Ready(bytes) => Some(Some(vec![bytes])),
                    Lookup::Gone => Some(None),
                    Lookup::Pending => None,
                })
                .await;
            match lookup {
                Some(found) => found,
                None if app.shutdown.is_draining() => return draining(),
                None => {
                    return error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the part asked for did not come in time",
                    );
                }
            }
        }
    };
    match found {
        Some(pieces) => {
            let length: usize = pieces.iter().map(Bytes::len).sum();
            if let Some(asking) = &asking {
                asking.link.moved(length);
            }
            producer
                .channel()
                .counters
                .hls_bytes_out
                .fetch_add(length as u64, std::sync::atomic::Ordering::Relaxed);
            let media_type = match resource {
                Resource::Init(_) => "video/mp4",
                _ => media_type,
            };
            respond_pieces(media_type, length, pieces)
        }
        None => error(StatusCode::NOT_FOUND, "not in the live window"),
    }
}

/// A request of `client_ip` to play `name` as HLS, with its `query`.
fn attempt<'a>(name: &'a str, client_ip: std::net::IpAddr, query: &'a str) -> Attempt<'a> {
    Attempt {
        action: Action::Play,
        channel: name,
        client_ip,
        protocol: "hls",
        query,
        token: access::token_in(query),
    }
}

/// The player a request comes from.
fn player_of(client_ip: std::net::IpAddr, headers: &HeaderMap) -> PlayerId {
    let agent = headers
        .get(header::USER_AGENT)
        .map_or(&[][..], |v| v.as_bytes());
    PlayerId::new(client_ip, agent)
}

/// Counts the request's player among the channel's viewers, if the caps let a new one
/// in (its session starts: `on_play`, listed as a client): the request in progress,
/// unless the producer retired meanwhile.
fn count<'p>(
    app: &AppState,
    producer: &'p Producer,
    player: PlayerId,
    attempt: &Attempt<'_>,
) -> Result<Option<Asking<'p>>, TurnedAway> {
    let mut refusal = None;
    // A new player's address's players on the other channels, counted before `visit`,
    // which holds this channel's while it asks (and never for a known player's requests).
    let elsewhere = if producer.knows(&player) {
        0
    } else {
        app.hls.players_from(player.ip, producer)
    };
    let limits = app.limits.get();
    let admit = |same_address: usize| {
        if app.hub.viewers() >= limits.max_viewers {
            refusal = Some(Refusal::Full);
        } else if same_address + elsewhere >= limits.per_ip {
            refusal = Some(Refusal::AddressFull(player.ip));
        }
        refusal.is_none()
    };
    let start = |link| Session::start(&app.hub.hooks, attempt, link);
    match producer.visit(player, admit, start) {
        Visit::Counted(asking) => Ok(Some(asking)),
        Visit::Passed => Ok(None),
        Visit::Refused => Err(TurnedAway::Caps(refusal.unwrap_or(Refusal::Full))),
        Visit::Kicked => Err(TurnedAway::Kicked),
    }
}

/// Why [`count`] turned a player away.
enum TurnedAway {
    Caps(Refusal),
    /// The operator kicked it: refused until it stops asking.
    Kicked,
}

impl TurnedAway {
    fn answer(self, app: &AppState, name: &str, peer: SocketAddr) -> Response {
        match self {
            TurnedAway::Caps(refusal) => refused(app, refusal, name, peer),
            TurnedAway::Kicked => deny(StatusCode::FORBIDDEN, name, peer, "kicked by the operator"),
        }
    }
}

/// What every request of a draining gateway gets, also one held when the drain began
/// (its producer stopped: what it waited for will not come).
fn draining() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "draining: try another gateway",
    )
}

/// A refusal, counted when it is a denial (admission counts its own).
fn refused(app: &AppState, refusal: Refusal, name: &str, peer: SocketAddr) -> Response {
    if let Some(reason) = refusal.denial() {
        app.hub.denied.count(reason);
    }
    refuse(&refusal, name, peer)
}

/// Media whose bytes are `pieces` in order (a segment's parts, sent one after the other
/// rather than copied into one), `length` in all.
fn respond_pieces(content_type: &'static str, length: usize, pieces: Vec<Bytes>) -> Response {
    let pieces = pieces.into_iter().map(Ok::<_, std::convert::Infallible>);
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, MEDIA_CACHE)
        .header(header::CONTENT_LENGTH, length)
        .body(Body::from_stream(futures_util::stream::iter(pieces)))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "building the response"))
}

fn respond(content_type: &'static str, cache: &'static str, body: Bytes) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, cache)
        .body(Body::from(body))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "building the response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_map_to_resources() {
        assert_eq!(Resource::parse("index.m3u8"), Some(Resource::Playlist));
        assert_eq!(Resource::parse("init7.mp4"), Some(Resource::Init(7)));
        assert_eq!(
            Resource::parse("seg12.m4s"),
            Some(Resource::Segment(12, "m4s"))
        );
        assert_eq!(
            Resource::parse("part12.3.m4s"),
            Some(Resource::Part(12, 3, "m4s"))
        );
        assert_eq!(
            Resource::parse("seg12.ts"),
            Some(Resource::Segment(12, "ts"))
        );
        assert_eq!(
            Resource::parse("part12.3.ts"),
            Some(Resource::Part(12, 3, "ts"))
        );
        for bad in [
            "index.m3u",
            "init.mp4",
            "seg-1.m4s",
            "part12.m4s",
            "part1.x.m4s",
            "x",
        ] {
            assert_eq!(Resource::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_query_gives_blocking_directives_and_a_safe_token() {
        let q = Query::parse("_HLS_msn=5&_HLS_part=2&token=123.a.abcDEF_-").unwrap();
        assert_eq!((q.msn, q.part), (Some(5), Some(2)));
        assert_eq!(q.suffix(), "?token=123.a.abcDEF_-");
        assert!(Query::parse("_HLS_part=2").is_err());
        assert!(Query::parse("_HLS_msn=x").is_err());
        assert!(Query::parse("_HLS_skip=YES").unwrap().skip);
        assert!(Query::parse("_HLS_msn=5&_HLS_skip=v2").unwrap().skip);
        assert!(!Query::parse("_HLS_msn=5").unwrap().skip);
        assert!(Query::parse("_HLS_skip=NO").is_err());
        // A token that would break the playlist's text is not written into it.
        let q = Query::parse("token=a%22%0A%23EXT").unwrap();
        assert_eq!(q.suffix(), "");
        assert_eq!(Query::parse("").unwrap().suffix(), "");
    }
}
