//! `/api/channels` (JSON), `/metrics` (Prometheus text), `/healthz`, and the
//! operator's `POST /api/reload`, `POST /api/drain` and `POST /api/drop`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;

use super::AppState;
use super::admin::{self, Door};
use super::process;
use crate::egress::http_flv::error;
use crate::hub::denials::Reason;
use crate::hub::jobs::{JobId, JobView};
use crate::hub::media_info::MediaInfo;
use crate::hub::{Source, UpstreamState, name};

#[derive(Serialize)]
struct ChannelView {
    name: String,
    /// The RTMP app and stream name the channel's name is made of.
    app: String,
    stream: String,
    source: Source,
    #[serde(flatten)]
    upstream: UpstreamState,
    #[serde(flatten)]
    media: MediaInfo,
    viewers: usize,
    uptime_seconds: Option<u64>,
    urls: Urls,
    /// Shown to the operator only: the targets name other servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    forwards: Option<Vec<JobView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commands: Option<Vec<JobView>>,
}

#[derive(Serialize)]
struct Urls {
    http_flv: String,
    ws_flv: String,
    rtmp: Option<String>,
    rtmps: Option<String>,
}

/// `/metrics`.
pub async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    render_metrics(&app)
}

/// `POST /api/reload`: re-reads the configuration: `200` with what changed, or `400` with the error (its
/// line) while the running configuration stays.
pub async fn reload(State(app): State<Arc<AppState>>) -> Response {
    let Some(reloader) = &app.reloader else {
        return error(StatusCode::NOT_FOUND, "nothing to reload");
    };
    match reloader.reload() {
        Ok(applied) => Json(applied).into_response(),
        Err(e) => {
            tracing::warn!("configuration not reloaded; the running one stays: {e}");
            error(StatusCode::BAD_REQUEST, &e.to_string())
        }
    }
}

/// `/api/channels`.
pub async fn channels(
    State(app): State<Arc<AppState>>,
    Extension(door): Extension<Door>,
    headers: HeaderMap,
) -> Response {
    // URLs for the viewer's own "how to use this stream" panel, with the host it reached us by.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let bare_host = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(h, _)| h)
        .to_owned();
    let operator = admin::is_operator(&app, door, &headers);
    let list: Vec<ChannelView> = app
        .hub
        .list()
        .iter()
        .map(|c| {
            let jobs = operator.then(|| {
                let jobs = c.jobs().into_iter();
                jobs.partition(|job| matches!(job.id, JobId::Target(_)))
            });
            (c.snapshot(), jobs.unzip())
        })
        .map(|(s, (forwards, commands))| ChannelView {
            forwards,
            commands,
            // `/<app>/<stream>`: `/live/cam` for the default app, `/other/cam` for others.
            urls: {
                let (rtmp_app, stream) = name::split(&s.name);
                let path = format!("{rtmp_app}/{stream}");
                let (http, ws) = if app.tls {
                    ("https", "wss")
                } else {
                    ("http", "ws")
                };
                let rtmp = |scheme, port: Option<u16>| {
                    port.map(|p| format!("{scheme}://{bare_host}:{p}/{path}"))
                };
                Urls {
                    http_flv: format!("{http}://{host}/{path}.flv"),
                    ws_flv: format!("{ws}://{host}/{path}.flv"),
                    rtmp: rtmp("rtmp", app.rtmp_port),
                    rtmps: rtmp("rtmps", app.rtmps_port),
                }
            },
            app: name::split(&s.name).0.to_owned(),
            stream: name::split(&s.name).1.to_owned(),
            name: s.name,
            source: s.source,
            upstream: s.upstream,
            media: s.info,
            viewers: s.viewers,
            uptime_seconds: s.uptime.map(|d| d.as_secs()),
        })
        .collect();
    Json(list).into_response()
}

/// The Prometheus text format, named by its conventions: a unit in the name, counters
/// ending in `_total`. Renamed from earlier releases (see `docs/configuration.md`):
/// `tags_in_total` → `received_tags_total`, `bytes_in_total` → `received_bytes_total`,
/// `bytes_out_total` → `sent_bytes_total{protocol="http"}` (RTMP players now counted
/// as `protocol="rtmp"`), and `denied_total` gained its `reason` label.
fn render_metrics(app: &AppState) -> Response {
    let channels = app.hub.list();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP flashless_build_info The gateway's version; always 1.\n# TYPE flashless_build_info gauge\nflashless_build_info{{version=\"{}\"}} 1",
        label_value(env!("CARGO_PKG_VERSION"))
    );
    let mut family =
        |name: &str, kind: &str, help: &str, value: &dyn Fn(&crate::hub::Channel) -> u64| {
            let _ = writeln!(
                out,
                "# HELP flashless_{name} {help}\n# TYPE flashless_{name} {kind}"
            );
            for c in &channels {
                let _ = writeln!(
                    out,
                    "flashless_{name}{{channel=\"{}\"}} {}",
                    label_value(c.name()),
                    value(c)
                );
            }
        };
    family(
        "viewers",
        "gauge",
        "Viewers connected, all protocols.",
        &|c| c.viewer_count() as u64,
    );
    family(
        "live",
        "gauge",
        "1 while the channel's upstream delivers media.",
        &|c| u64::from(c.snapshot().upstream == UpstreamState::Live),
    );
    family(
        "received_tags_total",
        "counter",
        "FLV tags received from the upstream.",
        &|c| c.counters.tags_in.load(Relaxed),
    );
    family(
        "received_bytes_total",
        "counter",
        "Media bytes received from the upstream.",
        &|c| c.counters.bytes_in.load(Relaxed),
    );
    family(
        "dropped_tags_total",
        "counter",
        "Tags skipped by viewers that fell behind.",
        &|c| c.counters.dropped.load(Relaxed),
    );
    family(
        "upstream_sessions_total",
        "counter",
        "Upstream sessions started (reconnects + 1).",
        &|c| c.counters.upstream_sessions.load(Relaxed),
    );
    family(
        "recorded_bytes_total",
        "counter",
        "Bytes written to the channel's recordings.",
        &|c| c.counters.recorded_bytes.load(Relaxed),
    );
    family(
        "recorded_segments_total",
        "counter",
        "Recording files completed.",
        &|c| c.counters.recorded_segments.load(Relaxed),
    );
    family(
        "publish_held_seconds_total",
        "counter",
        "Seconds the publisher was held back: ahead of real time, or over max_publish_bitrate.",
        &|c| c.counters.publish_held_ms.load(Relaxed) / 1000,
    );
    let _ = writeln!(
        out,
        "# HELP flashless_sent_bytes_total Media bytes sent to viewers: FLV over HTTP and WebSocket (protocol=\"http\"), tag bodies to RTMP players (protocol=\"rtmp\"), HLS files (protocol=\"hls\"), tag bodies published to forward targets (protocol=\"forward\").\n# TYPE flashless_sent_bytes_total counter"
    );
    for c in &channels {
        for (protocol, counter) in [
            ("http", &c.counters.bytes_out),
            ("rtmp", &c.counters.rtmp_bytes_out),
            ("hls", &c.counters.hls_bytes_out),
            ("forward", &c.counters.forwarded_bytes),
        ] {
            let _ = writeln!(
                out,
                "flashless_sent_bytes_total{{channel=\"{}\",protocol=\"{protocol}\"}} {}",
                label_value(c.name()),
                counter.load(Relaxed)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP flashless_denied_total Requests refused by a rule, by reason: token, webhook, origin, limit (a cap reached), admin (the admin token).\n# TYPE flashless_denied_total counter"
    );
    for reason in Reason::ALL {
        let _ = writeln!(
            out,
            "flashless_denied_total{{reason=\"{}\"}} {}",
            reason.label(),
            app.hub.denied.get(reason)
        );
    }
    let _ = writeln!(
        out,
        "# HELP flashless_hls_producers Channels being segmented for HLS now (each while its playlist is requested).\n# TYPE flashless_hls_producers gauge\nflashless_hls_producers {}",
        app.hls.producers()
    );
    let hooks = &app.hub.hooks.counters;
    for (name, help, value) in [
        ("sent", "Event hook notifications delivered.", &hooks.sent),
        (
            "retried",
            "Event hook attempts that failed and were retried.",
            &hooks.retried,
        ),
        (
            "failed",
            "Event hook notifications given up after every attempt failed (the hook is down).",
            &hooks.failed,
        ),
        (
            "dropped",
            "Event hook notifications dropped because the queue was full.",
            &hooks.dropped,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP flashless_hook_{name}_total {help}\n# TYPE flashless_hook_{name}_total counter\nflashless_hook_{name}_total {}",
            value.load(Relaxed)
        );
    }
    let recordings = &app.outputs.recordings;
    for (name, help, value) in [
        (
            "recording_deleted_files_total",
            "Recording files deleted by retention (keep, max_bytes).",
            &recordings.deleted_files,
        ),
        (
            "recording_deleted_bytes_total",
            "Bytes of the recording files deleted by retention.",
            &recordings.deleted_bytes,
        ),
        (
            "recording_write_errors_total",
            "Recording writes that failed (a full disk, permissions).",
            &recordings.write_errors,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP flashless_{name} {help}\n# TYPE flashless_{name} counter\nflashless_{name} {}",
            value.load(Relaxed)
        );
    }
    let (forwards, execs) = (&app.outputs.forwards, &app.outputs.execs);
    for (name, kind, help, value) in [
        (
            "forwards",
            "gauge",
            "Publishes to forward targets going on now.",
            &forwards.running,
        ),
        (
            "forward_failures_total",
            "counter",
            "Publishes to forward targets that failed: refused, dropped, or a target too slow to take the media.",
            &forwards.failures,
        ),
        (
            "exec_running",
            "gauge",
            "Commands of [[exec]] running now.",
            &execs.running,
        ),
        (
            "exec_failures_total",
            "counter",
            "Commands of [[exec]] that could not start or exited while their channel's session lasted.",
            &execs.failures,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP flashless_{name} {help}\n# TYPE flashless_{name} {kind}\nflashless_{name} {}",
            value.load(Relaxed)
        );
    }
    let uptime = app.started.elapsed();
    process::family(
        &mut out,
        "flashless_uptime_seconds",
        "gauge",
        "Seconds since the gateway started.",
        uptime.as_secs() as f64,
    );
    // The gateway's start, on the wall clock: the same on every OS, unlike `/proc`.
    if let Some(start) = std::time::SystemTime::now()
        .checked_sub(uptime)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    {
        process::family(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            start.as_secs_f64(),
        );
    }
    process::render(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// A label value escaped by the Prometheus text format's rules (backslash, double quote,
/// newline). Channel names cannot hold these; the escape keeps `/metrics` whole anyway.
fn label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `200 ok` while the gateway takes viewers; `503 draining` once it drains, so that a
/// balancer's health check takes it out while its viewers move.
pub async fn healthz(State(app): State<Arc<AppState>>) -> Response {
    if app.shutdown.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    "ok\n".into_response()
}

/// `POST /api/drain`: starts draining, as SIGTERM does: `202` with the viewers still connected (they are
/// being told to go); the gateway exits once they are gone or at `drain_timeout`.
pub async fn drain(State(app): State<Arc<AppState>>) -> Response {
    if app.trigger.drain() {
        tracing::info!("POST /api/drain: draining");
    }
    let viewers: usize = app.hub.list().iter().map(|c| c.viewer_count()).sum();
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "draining": true, "viewers": viewers })),
    )
        .into_response()
}

/// `POST /api/drop`'s query: the channel whose session ends.
#[derive(serde::Deserialize)]
pub struct DropQuery {
    channel: Option<String>,
}

/// `POST /api/drop?channel=NAME`: ends a channel's publish or pull session, as nginx-rtmp's `drop/publisher` does: its
/// publisher is disconnected (it may publish again), a pull connects again; viewers
/// stay and wait for the next session. `200` with the channel and what was dropped,
/// `404` for no such channel, `409` when nothing feeds it now.
pub async fn drop_session(
    State(app): State<Arc<AppState>>,
    Query(query): Query<DropQuery>,
) -> Response {
    let Some(asked) = query.channel.filter(|c| !c.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "name the channel: ?channel=NAME");
    };
    let name = name::canonical(&asked);
    let Some(channel) = app.hub.get(&name) else {
        return error(StatusCode::NOT_FOUND, &format!("no channel {name:?}"));
    };
    if !channel.drop_session() {
        return error(
            StatusCode::CONFLICT,
            &format!("channel {name:?} has no publisher or upstream now"),
        );
    }
    let dropped = match channel.source() {
        Source::Publish => "publisher",
        Source::Pull | Source::File => "upstream",
    };
    tracing::info!(channel = name, dropped, "POST /api/drop: session dropped");
    Json(serde_json::json!({ "channel": name, "dropped": dropped })).into_response()
}

/// `GET /api/clients`'s query: only the clients of that channel.
#[derive(serde::Deserialize)]
pub struct ClientsQuery {
    channel: Option<String>,
}

/// `GET /api/clients`: every publisher and viewer on a connection, oldest first (`crate::clients`).
pub async fn clients(
    State(app): State<Arc<AppState>>,
    Query(query): Query<ClientsQuery>,
) -> Response {
    let channel = query.channel.map(|c| name::canonical(&c));
    Json(app.hub.hooks.clients.list(channel.as_deref())).into_response()
}

/// `POST /api/kick`'s query: the client to close, by its `id` in `/api/clients`.
#[derive(serde::Deserialize)]
pub struct KickQuery {
    client: Option<String>,
}

/// `POST /api/kick?client=ID`: closes one client's connection, as nginx-rtmp's `drop/client` does: a viewer's
/// stream ends (WS-FLV with close code 1008), a publisher's session ends as `POST
/// /api/drop` ends it. It may connect again: to keep it out, refuse it (`[auth]`).
/// `200` with the client, `404` for no such client (gone already).
pub async fn kick(State(app): State<Arc<AppState>>, Query(query): Query<KickQuery>) -> Response {
    let Some(id) = query.client.and_then(|c| c.parse::<u64>().ok()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "name the client by its id in /api/clients: ?client=ID",
        );
    };
    let Some(client) = app.hub.hooks.clients.kick(id) else {
        return error(StatusCode::NOT_FOUND, &format!("no client {id}"));
    };
    tracing::info!(
        client = id,
        channel = client.channel,
        ip = ?client.ip,
        protocol = client.protocol,
        "POST /api/kick: client closed"
    );
    Json(serde_json::json!({ "kicked": client })).into_response()
}

#[cfg(test)]
mod tests {
    use super::label_value;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            label_value("x\"} 1\nfake{a=\"b\\"),
            "x\\\"} 1\\nfake{a=\\\"b\\\\"
        );
        assert_eq!(label_value("cam-1.b_2"), "cam-1.b_2");
    }
}
