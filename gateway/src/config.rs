//! `flashless serve`'s configuration: defaults, then a TOML file, then flags and
//! environment variables (a flag and its variable are one clap argument).

use flashless_core::rtmp::swf::SwfIdentity;
use flashless_core::rtmp::url;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod quantity;

use crate::access::limits::Allowance;
use crate::access::origin::Origins;
use crate::access::proxy::BadNetwork;
use crate::access::webhook::{self, Webhook};
use crate::access::{Policy, TrustedProxies};
use crate::client::http::HttpUrl;
use crate::hooks::{self, HookUrls};
use crate::hub::Limits;
use crate::hub::name::{self, BadName};
use crate::ingest::publish::PublishLimits;
use crate::ingest::{UpstreamSpec, pattern};
use flashless_core::rtmp::session::SessionLimits;
use quantity::Quantity;
use toml::Spanned;

/// What was wrong with the configuration, and where: the file and line, the key or
/// the flag.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("in {}{}: {message}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Syntax {
        path: PathBuf,
        /// 1-based, when the parser could say.
        line: Option<usize>,
        message: String,
    },
    #[error(
        "{key} = {value}: not a duration (\"500ms\", \"90s\", \"5m\", \"1h\" or a number of seconds)"
    )]
    Seconds { key: &'static str, value: String },
    #[error(
        "{key} = {value}: not a bit rate (\"50Mbit/s\", \"800kbps\", or a number of bits a second; 0 for none)"
    )]
    BitRate { key: &'static str, value: String },
    #[error("rtmp = {0:?}: not a listen address (HOST:PORT, or off)")]
    RtmpAddress(String),
    #[error("TLS needs both a certificate (tls_cert) and its key (tls_key)")]
    HalfTls,
    #[error("TLS: {}: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },
    #[error("rtmps = {0}: RTMPS needs a certificate (tls_cert) and its key (tls_key)")]
    RtmpsWithoutTls(SocketAddr),
    #[error(
        "{key} = {value:?}: expected the SWF's hash (64 hex digits) and size, as HASH:SIZE or {{ hash = \"…\", size = N }}"
    )]
    SwfVerify { key: &'static str, value: String },
    #[error("rtmpe_type = {0}: RTMPE handshake types are 6, 8 and 9")]
    RtmpeType(u8),
    #[error("webhook = {url:?}: {reason}")]
    Webhook { url: String, reason: String },
    #[error("[hooks] {key} = {url:?}: {reason}")]
    Hook {
        key: &'static str,
        url: String,
        reason: String,
    },
    #[error("--channel {0:?}: expected NAME=SOURCE")]
    ChannelFlag(String),
    #[error("{key} {name:?}: {reason}; use 1-64 letters, digits, '-', '_' or '.'")]
    ChannelName {
        /// `[[channel]] name` or `--channel`.
        key: &'static str,
        name: String,
        reason: BadName,
    },
    #[error("trusted_proxies: {0}")]
    TrustedProxy(#[from] BadNetwork),
    #[error("proxy_protocol needs trusted_proxies: the proxies whose connections carry it")]
    ProxyProtocolWithoutProxies,
    #[error("channel name \"demo\" is the built-in demo's; rename it or disable the demo")]
    DemoName,
    #[error("channel {0:?} is configured twice")]
    DuplicateChannel(String),
    #[error("viewer_queue = {0}: must be at least {MIN_VIEWER_QUEUE} tags")]
    ViewerQueue(usize),
    #[error("{key} {value:?}: {reason}")]
    Source {
        /// `[[channel]] source`, `[[pull]] source`, `origin` or `--channel`.
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "{key} match {glob:?}: a pattern of channel names (letters, digits, '-', '_', '.', '*', one '/')"
    )]
    Match {
        /// `[[pull]]`, `[[forward]]` or `[[exec]]`.
        key: &'static str,
        glob: String,
    },
    #[error("[[pull]] source {0:?}: put {{name}} where the channel's name goes")]
    PullWithoutName(String),
    #[error(
        "[hls] segment = {segment} s, part = {part} s: a part is 0.1 s or more, and at most half a segment"
    )]
    HlsDurations { segment: f64, part: f64 },
    #[error(
        "[hls] window = {window} s: at least three segments ({min} s), at most {MAX_HLS_WINDOW_S} s (a playlist's media is held in memory)"
    )]
    HlsWindow { window: f64, min: f64 },
    #[error(
        "[[forward]] to {0:?}: a match of several channels needs {{name}} where the channel's name goes"
    )]
    ForwardWithoutName(String),
    #[error(
        "[[exec]] command: a program and its arguments, e.g. [\"ffmpeg\", \"-i\", \"rtmp://127.0.0.1/{{app}}/{{name}}\", …]"
    )]
    ExecCommand,
    #[error("[record] {key} = {value}: {reason}")]
    Record {
        key: &'static str,
        value: String,
        reason: &'static str,
    },
    /// An error in one entry of the file, with its line.
    #[error("in {}, line {line}: {error}", path.display())]
    At {
        path: PathBuf,
        line: usize,
        error: Box<ConfigError>,
    },
}

/// A draining gateway's viewers reconnect within a second; this covers one that does
/// not read, within Kubernetes' default 30 s grace once `preStop` has started it.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Fewer queued tags than this and a viewer would skip at every burst.
const MIN_VIEWER_QUEUE: usize = 16;

/// The flags of `flashless serve`; each also reads an environment variable.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// A TOML configuration file (see docs/configuration.md).
    #[arg(long, env = "FLASHLESS_CONFIG")]
    pub config: Option<PathBuf>,
    /// HTTP listen address (HTTP-FLV, WS-FLV, the page, the API) [default: 0.0.0.0:8080].
    #[arg(long, env = "FLASHLESS_HTTP")]
    pub http: Option<SocketAddr>,
    /// RTMP listen address, or `off` [default: 0.0.0.0:1935].
    #[arg(long, env = "FLASHLESS_RTMP")]
    pub rtmp: Option<String>,
    /// RTMPS listen address: RTMP over TLS, with --tls-cert and --tls-key [default: off].
    #[arg(long, env = "FLASHLESS_RTMPS")]
    pub rtmps: Option<SocketAddr>,
    /// Do not serve the built-in `demo` channel.
    #[arg(long, env = "FLASHLESS_NO_DEMO")]
    pub no_demo: bool,
    /// A channel as NAME=SOURCE, e.g. `cam=rtmp://10.0.0.5/live/cam live=1`; repeatable.
    #[arg(long = "channel", env = "FLASHLESS_CHANNELS", value_delimiter = ',')]
    pub channels: Vec<String>,
    /// An edge's origin: pull any channel a viewer asks for from it, on demand
    /// (`http://origin:8080` for another gateway or SRS; see docs/scaling.md).
    #[arg(long, env = "FLASHLESS_EDGE_ORIGIN")]
    pub edge_origin: Option<String>,
    /// Pull the --channel sources only while someone watches.
    #[arg(long, env = "FLASHLESS_ON_DEMAND")]
    pub on_demand: bool,
    /// Largest GOP cached per channel for instant start, in bytes [default: 8 MiB].
    #[arg(long, env = "FLASHLESS_GOP_CACHE_BYTES")]
    pub gop_cache_bytes: Option<usize>,
    /// Longest GOP cached per channel, in seconds [default: 10].
    #[arg(long, env = "FLASHLESS_GOP_CACHE_SECONDS")]
    pub gop_cache_seconds: Option<Quantity>,
    /// Tags a viewer may fall behind by before skipping to the next keyframe [default: 512].
    #[arg(long, env = "FLASHLESS_VIEWER_QUEUE")]
    pub viewer_queue: Option<usize>,
    /// Milliseconds of media gathered before viewers get it, in one write each [default: 0, off].
    #[arg(long, env = "FLASHLESS_COALESCE_MS")]
    pub coalesce_ms: Option<u64>,
    /// Seconds a viewer may stop reading before it is disconnected [default: 30].
    #[arg(long, env = "FLASHLESS_WRITE_TIMEOUT")]
    pub write_timeout: Option<Quantity>,
    /// The secret that signs play and publish tokens (`flashless sign`); with it, tokens are required.
    #[arg(long, env = "FLASHLESS_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// With a secret: let anyone play; tokens are then needed only to publish.
    #[arg(long, env = "FLASHLESS_PUBLIC_PLAY")]
    pub public_play: bool,
    /// An HTTP(S) URL asked to authorise every publish and play (a POST of JSON; 2xx allows).
    #[arg(long, env = "FLASHLESS_AUTH_WEBHOOK")]
    pub auth_webhook: Option<String>,
    /// Seconds the webhook has to answer before the attempt is refused [default: 2].
    #[arg(long, env = "FLASHLESS_AUTH_WEBHOOK_TIMEOUT")]
    pub auth_webhook_timeout: Option<Quantity>,
    /// Seconds between the webhook's asks again about each publisher and viewer on a
    /// connection: a refusal closes it [default: off].
    #[arg(long, env = "FLASHLESS_AUTH_WEBHOOK_RECHECK")]
    pub auth_webhook_recheck: Option<Quantity>,
    /// Web origins allowed to open WS-FLV and read HTTP-FLV, comma-separated (`*` for any)
    /// [default: the gateway's own origin and localhost].
    #[arg(long, env = "FLASHLESS_ORIGINS", value_delimiter = ',')]
    pub origins: Vec<String>,
    /// With --origins: also allow pages whose origin equals the request's Host (off by
    /// default: a DNS-rebinding page has that origin too).
    #[arg(long, env = "FLASHLESS_SAME_ORIGIN")]
    pub same_origin: bool,
    /// Connections one client address may hold, HTTP and RTMP each, and HLS players it
    /// may run [default: 100].
    #[arg(long, env = "FLASHLESS_CONNECTIONS_PER_IP")]
    pub connections_per_ip: Option<usize>,
    /// Connections all clients together may hold, HTTP and RTMP each [default: 10000].
    #[arg(long, env = "FLASHLESS_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds an HTTP client has to send a request's headers, from when it connected or
    /// its previous response ended (so also how long a kept-alive connection may idle)
    /// [default: 10].
    #[arg(long, env = "FLASHLESS_HEADER_TIMEOUT")]
    pub header_timeout: Option<Quantity>,
    /// Largest WebSocket message or frame a WS-FLV viewer may send, in bytes [default: 4096].
    #[arg(long, env = "FLASHLESS_MAX_WS_MESSAGE_BYTES")]
    pub max_ws_message_bytes: Option<usize>,
    /// Viewers of all channels together [default: 50000].
    #[arg(long, env = "FLASHLESS_MAX_VIEWERS")]
    pub max_viewers: Option<usize>,
    /// RTMP publishers at once [default: 100].
    #[arg(long, env = "FLASHLESS_MAX_PUBLISHERS")]
    pub max_publishers: Option<usize>,
    /// Fastest an RTMP publisher is read, e.g. `50Mbit/s`; past it, it is held back;
    /// 0 for no cap [default: 100Mbit/s].
    #[arg(long, env = "FLASHLESS_MAX_PUBLISH_BITRATE")]
    pub max_publish_bitrate: Option<Quantity>,
    /// Seconds an RTMP peer has to complete the handshake and connect [default: 10].
    #[arg(long, env = "FLASHLESS_HANDSHAKE_TIMEOUT")]
    pub handshake_timeout: Option<Quantity>,
    /// Seconds an RTMP peer may send no command or media (and a player receive no media)
    /// before it is closed [default: 60].
    #[arg(long, env = "FLASHLESS_IDLE_TIMEOUT")]
    pub idle_timeout: Option<Quantity>,
    /// Largest RTMP message accepted, in bytes [default: 16 MiB].
    #[arg(long, env = "FLASHLESS_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<u32>,
    /// Largest RTMP message accepted before the connection's publish is accepted, in
    /// bytes [default: 64 KiB].
    #[arg(long, env = "FLASHLESS_MAX_MESSAGE_BYTES_BEFORE_PUBLISH")]
    pub max_message_bytes_before_publish: Option<u32>,
    /// Chunk stream ids one RTMP connection may use [default: 64].
    #[arg(long, env = "FLASHLESS_MAX_CHUNK_STREAMS")]
    pub max_chunk_streams: Option<usize>,
    /// Deepest AMF nesting accepted in RTMP commands [default: 64].
    #[arg(long, env = "FLASHLESS_AMF_DEPTH")]
    pub amf_depth: Option<usize>,
    /// A PEM certificate chain: serve HTTPS and WSS (with --tls-key).
    #[arg(long, env = "FLASHLESS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "FLASHLESS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Published channels at once; a publish that would create one more is refused [default: 1000].
    #[arg(long, env = "FLASHLESS_MAX_CHANNELS")]
    pub max_channels: Option<usize>,
    /// Seconds a published channel stays after its publisher and last viewer left [default: 30].
    #[arg(long, env = "FLASHLESS_ABANDONED_TIMEOUT")]
    pub abandoned_timeout: Option<Quantity>,
    /// A bearer token for /metrics, and for /api/channels when play tokens are required.
    #[arg(long, env = "FLASHLESS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Demand SWF verification from RTMP clients, as Flash Media Server does: the SWF's
    /// hash (64 hex digits, rtmpdump's --swfhash) and size, as HASH:SIZE.
    #[arg(long, env = "FLASHLESS_SWF_VERIFY")]
    pub swf_verify: Option<String>,
    /// The RTMPE handshake type answered to encrypted clients: 6, 8 (signatures under XTEA)
    /// or 9 (Blowfish) [default: the client's own].
    #[arg(long, env = "FLASHLESS_RTMPE_TYPE")]
    pub rtmpe_type: Option<u8>,
    /// A separate listen address for /api/channels and /metrics (plain HTTP; bind it to an
    /// internal address). With it, /metrics leaves the public listener.
    #[arg(long, env = "FLASHLESS_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Proxies whose X-Forwarded-For / Forwarded headers name the client, comma-separated
    /// addresses or networks (`10.0.0.0/8,127.0.0.1`) [default: none].
    #[arg(long, env = "FLASHLESS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Connections from the trusted proxies start with a PROXY protocol header (v1 or v2),
    /// on the RTMP and HTTP listeners.
    #[arg(long, env = "FLASHLESS_PROXY_PROTOCOL")]
    pub proxy_protocol: bool,
    /// Seconds a draining gateway (SIGTERM, `POST /api/drain`) waits for its viewers to
    /// leave before it exits anyway [default: 20].
    #[arg(long, env = "FLASHLESS_DRAIN_TIMEOUT")]
    pub drain_timeout: Option<Quantity>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "FLASHLESS_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// HLS: the segment duration aimed at, in seconds (segments are cut at the first
    /// keyframe past it) [default: 2].
    #[arg(long, env = "FLASHLESS_HLS_SEGMENT")]
    pub hls_segment: Option<Quantity>,
    /// Low-Latency HLS: the part duration aimed at, in seconds [default: 0.333].
    #[arg(long, env = "FLASHLESS_HLS_PART")]
    pub hls_part: Option<Quantity>,
    /// HLS: the seconds of media a playlist lists, at most 600 [default: 6 × the segment].
    #[arg(long, env = "FLASHLESS_HLS_WINDOW")]
    pub hls_window: Option<Quantity>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The file's shape. Unknown keys are errors: a typo should not be silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    auth: AuthSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default, rename = "channel")]
    channels: Vec<ChannelSection>,
    #[serde(default, rename = "pull")]
    pulls: Vec<PullSection>,
    #[serde(default, rename = "forward")]
    forwards: Vec<ForwardSection>,
    #[serde(default, rename = "exec")]
    execs: Vec<ExecSection>,
    #[serde(default)]
    hooks: HooksSection,
    #[serde(default)]
    hls: HlsSection,
    record: Option<RecordSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HlsSection {
    segment: Option<Quantity>,
    part: Option<Quantity>,
    window: Option<Quantity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordSection {
    dir: Option<PathBuf>,
    segment: Option<Spanned<Quantity>>,
    part: Option<Spanned<Quantity>>,
    keep: Option<Spanned<Quantity>>,
    max_bytes: Option<Spanned<Quantity>>,
    /// Channel name globs recorded, published ones included.
    #[serde(rename = "match")]
    patterns: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HooksSection {
    on_publish: Option<String>,
    on_unpublish: Option<String>,
    on_play: Option<String>,
    on_stop: Option<String>,
    on_record_segment: Option<String>,
    timeout: Option<Quantity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    http: Option<SocketAddr>,
    rtmp: Option<String>,
    rtmps: Option<SocketAddr>,
    demo: Option<bool>,
    log_format: Option<LogFormat>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    admin_listen: Option<SocketAddr>,
    trusted_proxies: Option<Vec<String>>,
    proxy_protocol: Option<bool>,
    origin: Option<Spanned<String>>,
    drain_timeout: Option<Quantity>,
    rtmpe_type: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    secret: Option<String>,
    play: Option<bool>,
    publish: Option<bool>,
    origins: Option<Vec<String>>,
    same_origin: Option<bool>,
    webhook: Option<String>,
    webhook_timeout: Option<Quantity>,
    webhook_recheck: Option<Quantity>,
    admin_token: Option<String>,
    swf_verify: Option<SwfVerifySection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwfVerifySection {
    hash: String,
    size: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    gop_cache_bytes: Option<usize>,
    gop_cache_seconds: Option<Quantity>,
    viewer_queue: Option<usize>,
    coalesce_ms: Option<u64>,
    write_timeout: Option<Quantity>,
    connections_per_ip: Option<usize>,
    max_connections: Option<usize>,
    header_timeout: Option<Quantity>,
    max_ws_message_bytes: Option<usize>,
    max_viewers: Option<usize>,
    max_publishers: Option<usize>,
    max_publish_bitrate: Option<Quantity>,
    handshake_timeout: Option<Quantity>,
    idle_timeout: Option<Quantity>,
    max_message_bytes: Option<u32>,
    max_message_bytes_before_publish: Option<u32>,
    max_chunk_streams: Option<usize>,
    amf_depth: Option<usize>,
    max_channels: Option<usize>,
    abandoned_timeout: Option<Quantity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelSection {
    name: Spanned<String>,
    source: Spanned<String>,
    #[serde(default)]
    on_demand: bool,
    idle_timeout: Option<Quantity>,
    #[serde(default)]
    record: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PullSection {
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    source: Spanned<String>,
    idle_timeout: Option<Quantity>,
    #[serde(default)]
    record: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardSection {
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    to: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecSection {
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    command: Spanned<Vec<String>>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub http: SocketAddr,
    pub rtmp: Option<SocketAddr>,
    /// RTMP over TLS, with `tls`'s certificate.
    pub rtmps: Option<SocketAddr>,
    pub demo: bool,
    pub limits: Limits,
    /// How long a draining gateway waits for its viewers to leave.
    pub drain_timeout: Duration,
    pub log_format: LogFormat,
    pub channels: Vec<ChannelSettings>,
    /// Channels pulled by name when a viewer asks: the `[[pull]]` rules, then the origin.
    pub pulls: Vec<PullRule>,
    /// Where channels are published on to (`[[forward]]`).
    pub forwards: Vec<ForwardRule>,
    /// Commands run for channels (`[[exec]]`).
    pub execs: Vec<ExecRule>,
    /// The event hooks' URLs.
    pub hooks: HookUrls,
    pub auth: Policy,
    /// Which web pages may read streams.
    pub origins: Origins,
    pub conn: ConnLimits,
    /// Certificate chain and key files: serve HTTPS/WSS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub admin: Admin,
    pub proxies: TrustedProxies,
    /// RTMP clients must pass SWF verification with this SWF.
    pub swf_verify: Option<SwfIdentity>,
    pub hls: HlsSettings,
    /// What is recorded, where, and for how long.
    pub record: RecordSettings,
    /// The RTMPE handshake type answered (6, 8 or 9); `None`: the client's.
    pub rtmpe_type: Option<u8>,
}

/// The `[record]` section, and the channels and patterns marked `record = true`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSettings {
    pub dir: PathBuf,
    /// About how long each file is: a new one starts at the first keyframe past it.
    pub segment: Duration,
    /// How often a file grows: each part is written whole once it is complete.
    pub part: Duration,
    /// Files older than this are deleted.
    pub keep: Option<Duration>,
    /// The oldest files are deleted while all together exceed this.
    pub max_bytes: Option<u64>,
    /// Channels recorded by name (`[[channel]] record = true`).
    pub channels: Vec<String>,
    /// … and by glob (`[[pull]] record = true`, `[record] match`).
    pub patterns: Vec<String>,
    /// A `[record]` section or a `record = true` is there: `/api/recordings` and
    /// `/recordings/` serve the directory (else they list and serve nothing).
    pub enabled: bool,
}

impl Default for RecordSettings {
    /// MediaMTX's defaults for its fMP4 recordings: hour-long files growing each second.
    fn default() -> Self {
        RecordSettings {
            dir: PathBuf::from("recordings"),
            segment: Duration::from_secs(3600),
            part: Duration::from_secs(1),
            keep: None,
            max_bytes: None,
            channels: Vec::new(),
            patterns: Vec::new(),
            enabled: false,
        }
    }
}

impl RecordSettings {
    /// Whether `channel` is recorded.
    pub fn records(&self, channel: &str) -> bool {
        self.channels.iter().any(|c| c == channel)
            || self
                .patterns
                .iter()
                .any(|glob| pattern::glob_matches(glob, channel))
    }
}

/// How HLS is cut: `/live/<channel>/index.m3u8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsSettings {
    /// The segment duration aimed at; a segment ends at the first keyframe past it.
    pub segment: Duration,
    /// The Low-Latency HLS part duration aimed at.
    pub part: Duration,
    /// The media a playlist lists; `None`: [`DEFAULT_HLS_SEGMENTS`] segments.
    pub window: Option<Duration>,
}

/// Segments a playlist lists by default: RFC 8216 §6.2.2 asks for three target
/// durations' worth at least; twice that lets a player that paused a little find its place.
pub const DEFAULT_HLS_SEGMENTS: u32 = 6;

/// The longest `[hls] window`: every watched channel holds its window's media in memory.
const MAX_HLS_WINDOW_S: u64 = 600;

impl Default for HlsSettings {
    /// Apple's advice for LL-HLS is parts of 0.3–0.5 s; 2 s segments keep the playlist
    /// short while a player at the live edge stays about three parts (1 s) behind.
    fn default() -> Self {
        HlsSettings {
            segment: Duration::from_secs(2),
            part: Duration::from_millis(333),
            window: None,
        }
    }
}

impl HlsSettings {
    /// The media a playlist lists: `window`, or [`DEFAULT_HLS_SEGMENTS`] segments' worth.
    pub fn window(&self) -> Duration {
        self.window.unwrap_or(self.segment * DEFAULT_HLS_SEGMENTS)
    }
}

/// Who may read `/api/channels` and `/metrics`, and where.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Admin {
    /// The bearer token they need (see `crate::http::admin` for when).
    pub token: Option<String>,
    /// Served there too; `/metrics` then leaves the public listener.
    pub listen: Option<SocketAddr>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Admin")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("listen", &self.listen)
            .finish()
    }
}

/// What one client, and all of them together, may hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnLimits {
    pub per_ip: usize,
    /// Connections of all addresses together, per listener: many addresses (an IPv6
    /// block) defeat `per_ip` alone.
    pub max_connections: usize,
    /// How long one write may take: a viewer that stops reading is disconnected.
    pub write_timeout: Duration,
    /// HTTP: the time to send a request's headers, from the connection's start or its
    /// previous response's end.
    pub header_timeout: Duration,
    /// WS-FLV: the largest message or frame a viewer may send (viewers send only
    /// control frames).
    pub max_ws_message: usize,
    pub max_viewers: usize,
    pub max_publishers: usize,
    /// Bits a second a publisher is read at most (after a burst); `None`: no cap.
    pub max_publish_bitrate: Option<u64>,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub session: SessionLimits,
}

impl ConnLimits {
    /// The connections a listener lets in.
    pub fn connections(&self) -> Allowance {
        Allowance {
            per_ip: self.per_ip,
            total: self.max_connections,
        }
    }

    /// What a publish is held to.
    pub fn publish(&self) -> PublishLimits {
        PublishLimits {
            max_publishers: self.max_publishers,
            max_bitrate: self.max_publish_bitrate,
            max_message: self.session.chunk.max_message_len,
        }
    }
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            per_ip: 100,
            max_connections: 10_000,
            write_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_ws_message: 4096,
            max_viewers: 50_000,
            max_publishers: 100,
            max_publish_bitrate: Some(100_000_000),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            session: SessionLimits::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSettings {
    pub name: String,
    /// `rtmp://…` with librtmp options, `http(s)://….flv`, or an FLV file path.
    pub source: String,
    pub on_demand: bool,
    pub idle_timeout: Duration,
}

const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A rule that pulls channels by name: a `[[pull]]` pattern, or the edge's origin.
#[derive(Debug, Clone, PartialEq)]
pub struct PullRule {
    /// A glob of channel names (`cam-*`, `other/*`); `None` for the origin: every name.
    pub pattern: Option<String>,
    /// The source with `{name}` (the stream name) and `{app}` to fill in.
    pub source: String,
    pub idle_timeout: Duration,
}

impl PullRule {
    /// Whether a viewer's request for `channel` starts a pull by this rule.
    pub fn covers(&self, channel: &str) -> bool {
        self.pattern
            .as_deref()
            .is_none_or(|glob| pattern::glob_matches(glob, channel))
    }
}

/// A `[[forward]]` rule: the channels its glob matches are published on to its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRule {
    pub pattern: String,
    /// An RTMP URL (any of the client's schemes, librtmp's options after it) with
    /// `{name}` (the stream name) and `{app}` to fill in.
    pub target: String,
}

impl ForwardRule {
    /// Where `channel` goes by this rule, if it matches.
    pub fn target_for(&self, channel: &str) -> Option<String> {
        if !pattern::glob_matches(&self.pattern, channel) {
            return None;
        }
        let (app, stream) = name::split(channel);
        Some(pattern::source_for(&self.target, app, stream))
    }
}

/// An `[[exec]]` rule: the command run for each session of the channels its glob matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRule {
    pub pattern: String,
    /// The program and its arguments, with `{app}`, `{name}` and `{channel}` to fill in.
    pub command: Vec<String>,
}

impl ExecRule {
    /// The command line for `channel` by this rule, if it matches.
    pub fn command_for(&self, channel: &str) -> Option<Vec<String>> {
        if !pattern::glob_matches(&self.pattern, channel) {
            return None;
        }
        let (app, stream) = name::split(channel);
        let fill =
            |arg: &String| pattern::source_for(arg, app, stream).replace("{channel}", channel);
        Some(self.command.iter().map(fill).collect())
    }
}

impl Settings {
    pub fn load(args: &ServeArgs) -> Result<Settings, ConfigError> {
        let (file, text) = match &args.config {
            Some(path) => read(path)?,
            None => (File::default(), String::new()),
        };
        // An entry's error names its line.
        let at = |span: std::ops::Range<usize>| {
            let path = args.config.clone().unwrap_or_default();
            let line = line_of(&text, span.start);
            move |error: ConfigError| ConfigError::At {
                path: path.clone(),
                line,
                error: Box::new(error),
            }
        };
        let defaults = Limits::default();
        let rtmp = args
            .rtmp
            .clone()
            .or(file.server.rtmp)
            .unwrap_or_else(|| "0.0.0.0:1935".into());
        let mut settings = Settings {
            http: args
                .http
                .or(file.server.http)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8080))),
            rtmp: match rtmp.as_str() {
                "off" | "" => None,
                addr => Some(
                    addr.parse()
                        .map_err(|_| ConfigError::RtmpAddress(addr.to_owned()))?,
                ),
            },
            rtmps: args.rtmps.or(file.server.rtmps),
            demo: !args.no_demo && file.server.demo.unwrap_or(true),
            limits: Limits {
                gop_bytes: args
                    .gop_cache_bytes
                    .or(file.limits.gop_cache_bytes)
                    .unwrap_or(defaults.gop_bytes),
                gop_duration: seconds(
                    "gop_cache_seconds",
                    args.gop_cache_seconds
                        .clone()
                        .or_else(|| file.limits.gop_cache_seconds.clone()),
                    defaults.gop_duration,
                )?,
                viewer_queue: args
                    .viewer_queue
                    .or(file.limits.viewer_queue)
                    .unwrap_or(defaults.viewer_queue),
                coalesce: args
                    .coalesce_ms
                    .or(file.limits.coalesce_ms)
                    .map_or(defaults.coalesce, Duration::from_millis),
                max_channels: args
                    .max_channels
                    .or(file.limits.max_channels)
                    .unwrap_or(defaults.max_channels),
                abandoned_after: seconds(
                    "abandoned_timeout",
                    args.abandoned_timeout
                        .clone()
                        .or_else(|| file.limits.abandoned_timeout.clone()),
                    defaults.abandoned_after,
                )?,
            },
            drain_timeout: seconds(
                "drain_timeout",
                args.drain_timeout
                    .clone()
                    .or_else(|| file.server.drain_timeout.clone()),
                DEFAULT_DRAIN_TIMEOUT,
            )?,
            log_format: args
                .log_format
                .or(file.server.log_format)
                .unwrap_or_default(),
            channels: Vec::new(),
            pulls: Vec::new(),
            forwards: Vec::new(),
            execs: Vec::new(),
            hooks: hook_urls(&file.hooks)?,
            auth: Policy::new(
                args.secret.as_deref().or(file.auth.secret.as_deref()),
                !args.public_play && file.auth.play.unwrap_or(true),
                file.auth.publish.unwrap_or(true),
            )
            .with_webhook(
                match args
                    .auth_webhook
                    .as_deref()
                    .or(file.auth.webhook.as_deref())
                {
                    Some(url) => Some(
                        Webhook::new(
                            url,
                            seconds(
                                "webhook_timeout",
                                args.auth_webhook_timeout
                                    .clone()
                                    .or_else(|| file.auth.webhook_timeout.clone()),
                                webhook::DEFAULT_TIMEOUT,
                            )?,
                        )
                        .map_err(|e| ConfigError::Webhook {
                            url: url.to_owned(),
                            reason: e.root_cause().to_string(),
                        })?
                        .with_recheck(
                            Some(seconds(
                                "webhook_recheck",
                                args.auth_webhook_recheck
                                    .clone()
                                    .or_else(|| file.auth.webhook_recheck.clone()),
                                Duration::ZERO,
                            )?)
                            .filter(|every| !every.is_zero()),
                        ),
                    ),
                    None => None,
                },
            ),
            origins: Origins::new(
                if args.origins.is_empty() {
                    file.auth.origins.unwrap_or_default()
                } else {
                    args.origins.clone()
                },
                args.same_origin || file.auth.same_origin.unwrap_or(false),
            ),
            conn: conn_limits(args, &file.limits)?,
            tls: match (
                args.tls_cert.clone().or(file.server.tls_cert),
                args.tls_key.clone().or(file.server.tls_key),
            ) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                _ => return Err(ConfigError::HalfTls),
            },
            admin: Admin {
                token: args
                    .admin_token
                    .clone()
                    .or(file.auth.admin_token)
                    .filter(|t| !t.is_empty()),
                listen: args.admin_listen.or(file.server.admin_listen),
            },
            rtmpe_type: match args.rtmpe_type.or(file.server.rtmpe_type) {
                Some(t) if ![6, 8, 9].contains(&t) => return Err(ConfigError::RtmpeType(t)),
                t => t,
            },
            swf_verify: match (&args.swf_verify, &file.auth.swf_verify) {
                (Some(flag), _) => Some(swf_from_flag(flag)?),
                (None, Some(s)) => {
                    Some(SwfIdentity::from_hex(&s.hash, s.size).ok_or_else(|| {
                        ConfigError::SwfVerify {
                            key: "swf_verify",
                            value: s.hash.clone(),
                        }
                    })?)
                }
                (None, None) => None,
            },
            record: RecordSettings::default(),
            proxies: if args.trusted_proxies.is_empty() {
                TrustedProxies::parse(&file.server.trusted_proxies.unwrap_or_default())?
            } else {
                TrustedProxies::parse(&args.trusted_proxies)?
            },
            hls: hls_settings(args, &file.hls)?,
        };
        settings.record = match &file.record {
            Some(section) => record_settings(section, &at)?,
            None => RecordSettings::default(),
        };
        let proxy_protocol = args.proxy_protocol || file.server.proxy_protocol.unwrap_or(false);
        if proxy_protocol && settings.proxies.is_empty() {
            return Err(ConfigError::ProxyProtocolWithoutProxies);
        }
        settings.proxies = settings.proxies.with_proxy_protocol(proxy_protocol);
        for c in file.channels {
            let at_source = at(c.source.span());
            let at = at(c.name.span());
            let idle_timeout =
                seconds("idle_timeout", c.idle_timeout, DEFAULT_IDLE_TIMEOUT).map_err(&at)?;
            let source = c.source.into_inner();
            check_source("[[channel]] source", &source).map_err(at_source)?;
            if c.record {
                let name = name::canonical(c.name.get_ref());
                settings.record.channels.push(name);
            }
            settings
                .add_channel(
                    ChannelSettings {
                        name: name::canonical(c.name.get_ref()),
                        source,
                        on_demand: c.on_demand,
                        idle_timeout,
                    },
                    "[[channel]] name",
                )
                .map_err(at)?;
        }
        for p in file.pulls {
            // The line of the key at fault.
            let at_source = at(p.source.span());
            let at = at(p.pattern.span());
            if p.record {
                settings.record.patterns.push(p.pattern.get_ref().clone());
            }
            let rule = pull_rule(p).map_err(|e| match e {
                ConfigError::Match { .. } => at(e),
                e => at_source(e),
            })?;
            settings.pulls.push(rule);
        }
        for f in file.forwards {
            let at_to = at(f.to.span());
            let at = at(f.pattern.span());
            let rule = forward_rule(f).map_err(|e| match e {
                ConfigError::Match { .. } => at(e),
                e => at_to(e),
            })?;
            settings.forwards.push(rule);
        }
        for e in file.execs {
            let at_command = at(e.command.span());
            let glob = checked_glob("[[exec]]", e.pattern.get_ref().clone())
                .map_err(at(e.pattern.span()))?;
            let command = e.command.into_inner();
            if command
                .first()
                .is_none_or(|program| program.trim().is_empty())
            {
                return Err(at_command(ConfigError::ExecCommand));
            }
            settings.execs.push(ExecRule {
                pattern: glob,
                command,
            });
        }
        let origin = match args.edge_origin.clone() {
            Some(origin) => Some((origin, None)),
            None => file
                .server
                .origin
                .map(|o| (o.get_ref().clone(), Some(o.span()))),
        };
        if let Some((origin, span)) = origin.filter(|(o, _)| !o.trim().is_empty()) {
            let source = pattern::origin_template(&origin);
            let checked = check_source("origin", &pattern::source_for(&source, "live", "x"));
            match (checked, span) {
                (Err(e), Some(span)) => return Err(at(span)(e)),
                (Err(e), None) => return Err(e),
                (Ok(()), _) => {}
            }
            settings.pulls.push(PullRule {
                pattern: None,
                source,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
            });
        }
        for spec in &args.channels {
            let Some((name, source)) = spec.split_once('=') else {
                return Err(ConfigError::ChannelFlag(spec.clone()));
            };
            check_source("--channel", source.trim())?;
            let channel = ChannelSettings {
                name: name::canonical(name.trim()),
                source: source.trim().to_owned(),
                on_demand: args.on_demand,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
            };
            settings.add_channel(channel, "--channel")?;
        }
        let r = &mut settings.record;
        r.enabled |= !r.channels.is_empty() || !r.patterns.is_empty();
        if settings.limits.viewer_queue < MIN_VIEWER_QUEUE {
            return Err(ConfigError::ViewerQueue(settings.limits.viewer_queue));
        }
        if let (Some(addr), None) = (settings.rtmps, &settings.tls) {
            return Err(ConfigError::RtmpsWithoutTls(addr));
        }
        Ok(settings)
    }

    fn add_channel(
        &mut self,
        channel: ChannelSettings,
        key: &'static str,
    ) -> Result<(), ConfigError> {
        if let Err(reason) = name::check(&channel.name) {
            return Err(ConfigError::ChannelName {
                key,
                name: channel.name,
                reason,
            });
        }
        if channel.name == "demo" && self.demo {
            return Err(ConfigError::DemoName);
        }
        if self.channels.iter().any(|c| c.name == channel.name) {
            return Err(ConfigError::DuplicateChannel(channel.name));
        }
        self.channels.push(channel);
        Ok(())
    }
}

fn conn_limits(args: &ServeArgs, file: &LimitsSection) -> Result<ConnLimits, ConfigError> {
    let d = ConnLimits::default();
    let mut session = d.session;
    if let Some(max) = args.max_message_bytes.or(file.max_message_bytes) {
        session.chunk.max_message_len = max;
        // Buffering must hold one whole message of the largest size, and a few more.
        session.chunk.max_buffered = session.chunk.max_buffered.max(max as usize * 2);
    }
    if let Some(depth) = args.amf_depth.or(file.amf_depth) {
        session.amf.max_depth = depth;
    }
    if let Some(max) = args
        .max_message_bytes_before_publish
        .or(file.max_message_bytes_before_publish)
    {
        session.max_message_len_before_publish = max;
    }
    if let Some(max) = args.max_chunk_streams.or(file.max_chunk_streams) {
        session.chunk.max_chunk_streams = max;
    }
    Ok(ConnLimits {
        per_ip: args
            .connections_per_ip
            .or(file.connections_per_ip)
            .unwrap_or(d.per_ip),
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(d.max_connections),
        write_timeout: seconds(
            "write_timeout",
            args.write_timeout
                .clone()
                .or_else(|| file.write_timeout.clone()),
            d.write_timeout,
        )?,
        header_timeout: seconds(
            "header_timeout",
            args.header_timeout
                .clone()
                .or_else(|| file.header_timeout.clone()),
            d.header_timeout,
        )?,
        max_ws_message: args
            .max_ws_message_bytes
            .or(file.max_ws_message_bytes)
            .unwrap_or(d.max_ws_message),
        max_viewers: args
            .max_viewers
            .or(file.max_viewers)
            .unwrap_or(d.max_viewers),
        max_publishers: args
            .max_publishers
            .or(file.max_publishers)
            .unwrap_or(d.max_publishers),
        max_publish_bitrate: match args
            .max_publish_bitrate
            .clone()
            .or_else(|| file.max_publish_bitrate.clone())
        {
            None => d.max_publish_bitrate,
            Some(q) => match q.bits_per_second() {
                Some(0) => None,
                Some(bits) => Some(bits),
                None => {
                    return Err(ConfigError::BitRate {
                        key: "max_publish_bitrate",
                        value: q.to_string(),
                    });
                }
            },
        },
        handshake_timeout: seconds(
            "handshake_timeout",
            args.handshake_timeout
                .clone()
                .or_else(|| file.handshake_timeout.clone()),
            d.handshake_timeout,
        )?,
        idle_timeout: seconds(
            "idle_timeout",
            args.idle_timeout
                .clone()
                .or_else(|| file.idle_timeout.clone()),
            d.idle_timeout,
        )?,
        session,
    })
}

fn read(path: &Path) -> Result<(File, String), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        line: e.span().map(|span| line_of(&text, span.start)),
        message: e.message().trim().to_owned(),
    })?;
    Ok((file, text))
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// A channel's source must parse (`rtmp://…`, `http(s)://….flv`, a file), so a reload
/// refuses a bad one before it replaces anything.
fn check_source(key: &'static str, source: &str) -> Result<(), ConfigError> {
    UpstreamSpec::parse(source)
        .map(drop)
        .map_err(|e| ConfigError::Source {
            key,
            value: source.to_owned(),
            reason: e.root_cause().to_string(),
        })
}

fn hook_urls(section: &HooksSection) -> Result<HookUrls, ConfigError> {
    let url = |key: &'static str, value: &Option<String>| -> Result<_, ConfigError> {
        match value.as_deref().filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(v) => HttpUrl::parse(v).map(Some).map_err(|e| ConfigError::Hook {
                key,
                url: v.to_owned(),
                reason: e.root_cause().to_string(),
            }),
        }
    };
    Ok(HookUrls {
        on_publish: url("on_publish", &section.on_publish)?,
        on_unpublish: url("on_unpublish", &section.on_unpublish)?,
        on_play: url("on_play", &section.on_play)?,
        on_stop: url("on_stop", &section.on_stop)?,
        on_record_segment: url("on_record_segment", &section.on_record_segment)?,
        timeout: seconds("timeout", section.timeout.clone(), hooks::DEFAULT_TIMEOUT)?,
    })
}

/// `[record]`; an error names the key's line.
fn record_settings<F>(
    section: &RecordSection,
    at: &impl Fn(std::ops::Range<usize>) -> F,
) -> Result<RecordSettings, ConfigError>
where
    F: Fn(ConfigError) -> ConfigError,
{
    let d = RecordSettings::default();
    let duration = |key, value: &Option<Spanned<Quantity>>, positive: bool| match value {
        None => Ok(None),
        Some(v) => match v.get_ref().duration() {
            Some(t) if !positive || !t.is_zero() => Ok(Some(t)),
            _ => Err(at(v.span())(ConfigError::Record {
                key,
                value: v.get_ref().to_string(),
                reason: "not a duration (\"90s\", \"1h\", \"7d\" or a number of seconds)",
            })),
        },
    };
    let mut patterns = Vec::new();
    if let Some(globs) = &section.patterns {
        for glob in globs.get_ref() {
            if name::check(&glob.replace('*', "x")).is_err() {
                return Err(at(globs.span())(ConfigError::Record {
                    key: "match",
                    value: format!("{glob:?}"),
                    reason: "a pattern of channel names (letters, digits, '-', '_', '.', '*', one '/')",
                }));
            }
            patterns.push(glob.clone());
        }
    }
    Ok(RecordSettings {
        dir: section.dir.clone().unwrap_or(d.dir),
        segment: duration("segment", &section.segment, true)?.unwrap_or(d.segment),
        part: duration("part", &section.part, true)?.unwrap_or(d.part),
        keep: duration("keep", &section.keep, true)?,
        max_bytes: match &section.max_bytes {
            None => None,
            Some(v) => Some(v.get_ref().bytes().ok_or_else(|| {
                at(v.span())(ConfigError::Record {
                    key: "max_bytes",
                    value: v.get_ref().to_string(),
                    reason: "not a size (\"10GB\", \"512MiB\" or a number of bytes)",
                })
            })?),
        },
        channels: Vec::new(),
        patterns,
        enabled: true,
    })
}

fn pull_rule(p: PullSection) -> Result<PullRule, ConfigError> {
    let glob = checked_glob("[[pull]]", p.pattern.into_inner())?;
    let source = p.source.into_inner();
    if !source.contains("{name}") {
        return Err(ConfigError::PullWithoutName(source));
    }
    check_source(
        "[[pull]] source",
        &pattern::source_for(&source, "live", "x"),
    )?;
    Ok(PullRule {
        pattern: Some(glob),
        source,
        idle_timeout: seconds(
            "idle_timeout",
            p.idle_timeout,
            pattern::DEFAULT_IDLE_TIMEOUT,
        )?,
    })
}

/// A `match` glob, if every name it matches is a channel name.
fn checked_glob(key: &'static str, glob: String) -> Result<String, ConfigError> {
    // The glob with its stars as letters must be a channel name: then so is every match.
    match name::check(&glob.replace('*', "x")) {
        Ok(()) => Ok(glob),
        Err(_) => Err(ConfigError::Match { key, glob }),
    }
}

fn forward_rule(f: ForwardSection) -> Result<ForwardRule, ConfigError> {
    let glob = checked_glob("[[forward]]", f.pattern.into_inner())?;
    let target = f.to.into_inner().trim().to_owned();
    if glob.contains('*') && !target.contains("{name}") {
        return Err(ConfigError::ForwardWithoutName(target));
    }
    if let Err(e) = url::parse(&pattern::source_for(&target, "live", "x")) {
        return Err(ConfigError::Source {
            key: "[[forward]] to",
            value: target,
            reason: e.to_string(),
        });
    }
    Ok(ForwardRule {
        pattern: glob,
        target,
    })
}

fn hls_settings(args: &ServeArgs, file: &HlsSection) -> Result<HlsSettings, ConfigError> {
    let d = HlsSettings::default();
    let hls = HlsSettings {
        segment: seconds(
            "segment",
            args.hls_segment.clone().or_else(|| file.segment.clone()),
            d.segment,
        )?,
        part: seconds(
            "part",
            args.hls_part.clone().or_else(|| file.part.clone()),
            d.part,
        )?,
        window: args
            .hls_window
            .clone()
            .or_else(|| file.window.clone())
            .map(|window| seconds("window", Some(window), Duration::ZERO))
            .transpose()?,
    };
    if hls.part < Duration::from_millis(100) || hls.part * 2 > hls.segment {
        return Err(ConfigError::HlsDurations {
            segment: hls.segment.as_secs_f64(),
            part: hls.part.as_secs_f64(),
        });
    }
    if let Some(window) = hls.window
        && (window < hls.segment * 3 || window > Duration::from_secs(MAX_HLS_WINDOW_S))
    {
        return Err(ConfigError::HlsWindow {
            window: window.as_secs_f64(),
            min: (hls.segment * 3).as_secs_f64(),
        });
    }
    Ok(hls)
}

/// A duration as the file or a flag gives it: a number of seconds, or `"500ms"`,
/// `"90s"`, `"5m"`, `"1h"`, `"7d"` (`Quantity::duration`); `default` when left out.
fn seconds(
    key: &'static str,
    value: Option<Quantity>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(q) => q.duration().ok_or_else(|| ConfigError::Seconds {
            key,
            value: q.to_string(),
        }),
    }
}

/// `--swf-verify HASH:SIZE`.
fn swf_from_flag(value: &str) -> Result<SwfIdentity, ConfigError> {
    value
        .split_once(':')
        .and_then(|(hash, size)| SwfIdentity::from_hex(hash, size.trim().parse().ok()?))
        .ok_or_else(|| ConfigError::SwfVerify {
            key: "--swf-verify",
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, args: ServeArgs) -> anyhow::Result<Settings> {
        // One file per call: tests run in parallel, and two configurations may be as long.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "flashless-config-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("flashless.toml");
        std::fs::write(&path, toml)?;
        let result = Settings::load(&ServeArgs {
            config: Some(path),
            ..args
        });
        let _ = std::fs::remove_dir_all(&dir);
        Ok(result?)
    }

    #[test]
    fn the_documented_example_loads() {
        let doc = include_str!("../../docs/configuration.md");
        let example = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/configuration.md has a TOML example");
        let settings = load(example, ServeArgs::default()).expect("the example loads");
        assert_eq!(settings.channels.len(), 4);
        assert_eq!(
            settings.forwards,
            [ForwardRule {
                pattern: "studio/*".into(),
                target: "rtmp://ingest.example.net/{app}/{name} live=1".into(),
            }]
        );
        let target = settings.forwards[0]
            .target_for("studio/cam")
            .expect("a match");
        let url = url::parse(&target).expect("a URL");
        assert_eq!((url.app.as_str(), url.playpath.as_str()), ("studio", "cam"));
        let command = settings.execs[0]
            .command_for("studio/cam")
            .expect("a match");
        assert_eq!(command[4], "rtmp://127.0.0.1:1935/studio/cam");
        assert_eq!(
            command.last().map(String::as_str),
            Some("rtmp://127.0.0.1:1935/low/cam")
        );
        assert_eq!(settings.execs[0].command_for("cam"), None);
    }

    #[test]
    fn rtmps_needs_the_tls_certificate() {
        let tls = "[server]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
        let s = load(
            &format!("{tls}rtmps = \"127.0.0.1:1936\"\n"),
            ServeArgs::default(),
        )
        .expect("loads");
        assert_eq!(s.rtmps.map(|a| a.port()), Some(1936));
        let args = ServeArgs {
            rtmps: "0.0.0.0:443".parse().ok(),
            ..ServeArgs::default()
        };
        assert_eq!(
            load(tls, args).expect("loads").rtmps.map(|a| a.port()),
            Some(443)
        );
        assert!(
            load("", ServeArgs::default())
                .expect("loads")
                .rtmps
                .is_none()
        );
        let e = load(
            "[server]\nrtmps = \"127.0.0.1:1936\"\n",
            ServeArgs::default(),
        )
        .expect_err("no certificate")
        .to_string();
        assert!(e.contains("RTMPS needs a certificate"), "{e}");
    }

    #[test]
    fn forward_rules_load_and_errors_name_their_line() {
        let rules = load(
            "[[forward]]\nmatch = \"cam\"\nto = \"rtmps://a.example/live/key\"\n\
             [[forward]]\nmatch = \"cam-*\"\nto = \" rtmp://b.example/{app}/{name} \"\n",
            ServeArgs::default(),
        )
        .expect("loads")
        .forwards;
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].target, "rtmp://b.example/{app}/{name}");
        assert_eq!(
            rules[1].target_for("cam-2").as_deref(),
            Some("rtmp://b.example/live/cam-2")
        );
        assert_eq!(rules[1].target_for("other/cam-2"), None);
        for (toml, needle) in [
            (
                "[[forward]]\nmatch = \"*\"\nto = \"rtmp://b/live/x\"\n",
                "line 3",
            ),
            (
                "[[forward]]\nmatch = \"a b\"\nto = \"rtmp://b/live/x\"\n",
                "line 2",
            ),
            ("[[forward]]\nmatch = \"a\"\nto = \"rtmp://\"\n", "line 3"),
            ("[[forward]]\nmatch = \"a\"\n", "missing field `to`"),
        ] {
            let e = load(toml, ServeArgs::default())
                .expect_err(toml)
                .to_string();
            assert!(e.contains(needle), "{toml}: {e}");
        }
    }

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::load(&ServeArgs::default()).unwrap();
        assert_eq!(s.http.port(), 8080);
        assert_eq!(s.rtmp.map(|a| a.port()), Some(1935));
        assert!(s.demo && s.channels.is_empty());
    }

    #[test]
    fn file_values_apply_and_flags_override_them() {
        let toml = r#"
            [server]
            http = "127.0.0.1:9000"
            rtmp = "off"
            [limits]
            gop_cache_seconds = 4
            [[channel]]
            name = "cam"
            source = "rtmp://10.0.0.5/live/cam live=1"
            on_demand = true
            idle_timeout = 3
        "#;
        let s = load(toml, ServeArgs::default()).unwrap();
        assert_eq!(s.http.port(), 9000);
        assert_eq!(s.rtmp, None);
        assert_eq!(s.limits.gop_duration, Duration::from_secs(4));
        assert_eq!(
            s.channels,
            [ChannelSettings {
                name: "cam".into(),
                source: "rtmp://10.0.0.5/live/cam live=1".into(),
                on_demand: true,
                idle_timeout: Duration::from_secs(3)
            }]
        );
        let flags = ServeArgs {
            http: Some("127.0.0.1:9100".parse().unwrap()),
            gop_cache_seconds: Some(Quantity::Number(2.5)),
            ..ServeArgs::default()
        };
        let s = load(toml, flags).unwrap();
        assert_eq!(s.http.port(), 9100);
        assert_eq!(s.limits.gop_duration, Duration::from_millis(2500));
    }

    #[test]
    fn hls_durations_default_apply_and_are_checked() {
        let s = Settings::load(&ServeArgs::default()).unwrap();
        assert_eq!(s.hls, HlsSettings::default());
        let s = load("[hls]\nsegment = 4\npart = 0.5\n", ServeArgs::default()).unwrap();
        assert_eq!(s.hls.segment, Duration::from_secs(4));
        assert_eq!(s.hls.part, Duration::from_millis(500));
        let flags = ServeArgs {
            hls_part: Some("250ms".parse().unwrap()),
            ..ServeArgs::default()
        };
        let s = load("[hls]\nsegment = 4\n", flags).unwrap();
        assert_eq!(s.hls.part, Duration::from_millis(250));
        // Durations are written alike in every section: a number of seconds or with a unit.
        let s = load(
            "[hls]\nsegment = \"3s\"\npart = \"500ms\"\n[limits]\nwrite_timeout = \"2m\"\n",
            ServeArgs::default(),
        )
        .unwrap();
        assert_eq!(s.hls.segment, Duration::from_secs(3));
        assert_eq!(s.hls.part, Duration::from_millis(500));
        assert_eq!(s.conn.write_timeout, Duration::from_secs(120));
        for bad in ["part = 0.05", "segment = 1\npart = 0.6"] {
            let err = load(&format!("[hls]\n{bad}\n"), ServeArgs::default()).unwrap_err();
            assert!(format!("{err:#}").contains("[hls]"), "{err:#}");
        }
        // The window: six segments' worth by default, else as said.
        assert_eq!(HlsSettings::default().window(), Duration::from_secs(12));
        let s = load(
            "[hls]\nsegment = 4\nwindow = \"1m\"\n",
            ServeArgs::default(),
        )
        .unwrap();
        assert_eq!(s.hls.window(), Duration::from_secs(60));
        let s = load("[hls]\nwindow = 13\n", ServeArgs::default()).unwrap();
        assert_eq!(s.hls.window(), Duration::from_secs(13));
        for bad in ["window = 5", "window = \"11m\""] {
            let err = load(&format!("[hls]\n{bad}\n"), ServeArgs::default()).unwrap_err();
            assert!(format!("{err:#}").contains("[hls] window"), "{err:#}");
        }
        let err = load("[hls]\nsegment = \"2 parsecs\"\n", ServeArgs::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("segment = \"2 parsecs\": not a duration"),
            "{err:#}"
        );
    }

    #[test]
    fn recording_loads_its_section_and_the_channels_and_patterns_marked() {
        let s = load(
            "[record]\ndir = \"/srv/rec\"\nsegment = \"60s\"\npart = 0.5\nkeep = \"7d\"\nmax_bytes = \"10GB\"\nmatch = [\"pub-*\"]\n\
             [[channel]]\nname = \"live/cam\"\nsource = \"rtmp://10.0.0.5/live/cam\"\nrecord = true\n\
             [[channel]]\nname = \"other\"\nsource = \"rtmp://10.0.0.5/live/other\"\n\
             [[pull]]\nmatch = \"site/*\"\nsource = \"rtmp://10.0.0.6/site/{name}\"\nrecord = true\n",
            ServeArgs::default(),
        )
        .unwrap();
        let r = &s.record;
        assert_eq!(r.dir, PathBuf::from("/srv/rec"));
        assert_eq!(
            (r.segment, r.part),
            (Duration::from_secs(60), Duration::from_millis(500))
        );
        assert_eq!(r.keep, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(r.max_bytes, Some(10_000_000_000));
        assert!(r.records("cam") && r.records("site/a") && r.records("pub-1"));
        assert!(!r.records("other") && !r.records("site") && !r.records("pub"));
        // Nothing marked: nothing recorded, MediaMTX's lengths.
        assert!(r.enabled);
        let d = load("", ServeArgs::default()).unwrap().record;
        assert!(!d.records("cam") && !d.enabled);
        assert_eq!(d.segment, Duration::from_secs(3600));
        for (text, key, line) in [
            ("[record]\nkeep = \"7 weeks\"\n", "keep", 2),
            ("[record]\ndir = \"x\"\n\nsegment = 0\n", "segment", 4),
            ("[record]\nmax_bytes = \"lots\"\n", "max_bytes", 2),
            ("[record]\nmatch = [\"../*\"]\n", "match", 2),
        ] {
            let err = format!("{:#}", load(text, ServeArgs::default()).unwrap_err());
            assert!(
                err.contains(key) && err.contains(&format!("line {line}")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_typo_in_the_file_is_an_error_naming_the_key_and_line() {
        let err = load("[server]\nhtp = \"127.0.0.1:1\"\n", ServeArgs::default()).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("htp") && text.contains("line 2"), "{text}");
    }

    #[test]
    fn the_webhook_must_be_an_http_url_and_its_timeout_seconds() {
        let s = load(
            "[auth]\nwebhook = \"http://127.0.0.1:9/authorise\"\nwebhook_timeout = 0.5\n",
            ServeArgs::default(),
        )
        .unwrap();
        let policy = format!("{:?}", s.auth);
        assert!(policy.contains("http://127.0.0.1:9/authorise"), "{policy}");
        let err = load("[auth]\nwebhook = \"ftp://x/\"\n", ServeArgs::default()).unwrap_err();
        assert!(format!("{err:#}").contains("webhook"), "{err:#}");
        let err = load(
            "[auth]\nwebhook = \"http://x/\"\nwebhook_timeout = -1\n",
            ServeArgs::default(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("webhook_timeout"), "{err:#}");
        // Asked again: off by default (and at 0), else as said.
        let recheck = |text: &str| {
            let s = load(
                &format!("[auth]\nwebhook = \"http://x/\"\n{text}"),
                ServeArgs::default(),
            );
            s.map(|s| s.auth.webhook().and_then(|w| w.recheck()))
        };
        assert_eq!(recheck("").unwrap(), None);
        assert_eq!(recheck("webhook_recheck = 0\n").unwrap(), None);
        assert_eq!(
            recheck("webhook_recheck = \"1m\"\n").unwrap(),
            Some(Duration::from_secs(60))
        );
        let err = recheck("webhook_recheck = \"soon\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("webhook_recheck"), "{err:#}");
    }

    #[test]
    fn rtmpe_type_loads_from_the_file_and_the_flag() {
        assert_eq!(load("", ServeArgs::default()).unwrap().rtmpe_type, None);
        let s = load("[server]\nrtmpe_type = 9\n", ServeArgs::default()).unwrap();
        assert_eq!(s.rtmpe_type, Some(9));
        let args = ServeArgs {
            rtmpe_type: Some(8),
            ..ServeArgs::default()
        };
        let s = load("[server]\nrtmpe_type = 9\n", args).unwrap();
        assert_eq!(s.rtmpe_type, Some(8), "the flag wins");
        let e = load("[server]\nrtmpe_type = 7\n", ServeArgs::default()).unwrap_err();
        assert!(e.to_string().contains("6, 8 and 9"), "{e}");
    }

    #[test]
    fn swf_verify_loads_from_the_file_and_the_flag() {
        let hash = "ab".repeat(32);
        let s = load(
            &format!("[auth]\nswf_verify = {{ hash = \"{hash}\", size = 42 }}\n"),
            ServeArgs::default(),
        )
        .unwrap();
        assert_eq!(s.swf_verify.map(|v| (v.hash[0], v.size)), Some((0xab, 42)));
        let args = ServeArgs {
            swf_verify: Some(format!("{hash}:7")),
            ..ServeArgs::default()
        };
        assert_eq!(load("", args).unwrap().swf_verify.map(|v| v.size), Some(7));
        let bad = ServeArgs {
            swf_verify: Some("abc:7".into()),
            ..ServeArgs::default()
        };
        assert!(
            load("", bad)
                .unwrap_err()
                .to_string()
                .contains("--swf-verify")
        );
    }

    #[test]
    fn admin_and_proxy_settings_load_from_the_file_and_flags() {
        let s = load(
            "[server]\nadmin_listen = \"127.0.0.1:9100\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n[auth]\nadmin_token = \"t\"\n[limits]\nmax_channels = 5\nabandoned_timeout = 2\n",
            ServeArgs::default(),
        )
        .unwrap();
        assert_eq!(s.admin.token.as_deref(), Some("t"));
        assert_eq!(s.admin.listen.map(|a| a.port()), Some(9100));
        assert!(s.proxies.contains("10.1.2.3".parse().unwrap()));
        assert_eq!(s.limits.max_channels, 5);
        assert_eq!(s.limits.abandoned_after, Duration::from_secs(2));
        assert!(!format!("{s:?}").contains("\"t\""), "the token is printed");
        let err = load(
            "[server]\ntrusted_proxies = [\"lb\"]\n",
            ServeArgs::default(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("trusted_proxies"), "{err:#}");
    }

    #[test]
    fn connection_and_memory_limits_have_keys_and_safe_defaults() {
        let d = Settings::load(&ServeArgs::default()).unwrap().conn;
        assert_eq!(d.max_connections, 10_000);
        assert_eq!(d.header_timeout, Duration::from_secs(10));
        assert_eq!(d.max_ws_message, 4096);
        assert_eq!(d.session.chunk.max_chunk_streams, 64);
        assert_eq!(d.session.max_message_len_before_publish, 64 * 1024);
        let toml = "[auth]\norigins = [\"https://a.example\"]\nsame_origin = true\n\
                    [limits]\nmax_connections = 7\nheader_timeout = 2.5\n\
                    max_ws_message_bytes = 1024\nmax_chunk_streams = 8\n\
                    max_message_bytes_before_publish = 4096\n";
        let s = load(toml, ServeArgs::default()).unwrap();
        assert_eq!(s.conn.max_connections, 7);
        assert_eq!(s.conn.header_timeout, Duration::from_millis(2500));
        assert_eq!(s.conn.max_ws_message, 1024);
        assert_eq!(s.conn.session.chunk.max_chunk_streams, 8);
        assert_eq!(s.conn.session.max_message_len_before_publish, 4096);
        assert!(format!("{:?}", s.origins).contains("same_origin: true"));
        let flags = ServeArgs {
            max_connections: Some(9),
            ..ServeArgs::default()
        };
        assert_eq!(load(toml, flags).unwrap().conn.max_connections, 9);
    }

    #[test]
    fn the_publish_bit_rate_cap_reads_rates_and_zero_is_none() {
        let d = Settings::load(&ServeArgs::default()).unwrap().conn;
        assert_eq!(d.max_publish_bitrate, Some(100_000_000));
        let rate =
            |toml: &str| load(toml, ServeArgs::default()).map(|s| s.conn.max_publish_bitrate);
        assert_eq!(
            rate("[limits]\nmax_publish_bitrate = \"20 Mbit/s\"\n").unwrap(),
            Some(20_000_000)
        );
        assert_eq!(rate("[limits]\nmax_publish_bitrate = 0\n").unwrap(), None);
        let err = rate("[limits]\nmax_publish_bitrate = \"20MB\"\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("max_publish_bitrate = \"20MB\": not a bit rate"),
            "{err:#}"
        );
        let flags = ServeArgs {
            max_publish_bitrate: Some("800kbps".parse().unwrap()),
            ..ServeArgs::default()
        };
        let s = load("[limits]\nmax_publish_bitrate = 0\n", flags).unwrap();
        assert_eq!(s.conn.max_publish_bitrate, Some(800_000));
    }

    #[test]
    fn channel_flags_need_a_name_and_a_source() {
        let args = ServeArgs {
            channels: vec!["nosource".into()],
            ..ServeArgs::default()
        };
        assert!(Settings::load(&args).is_err());
        let args = ServeArgs {
            channels: vec!["bad name=x.flv".into()],
            ..ServeArgs::default()
        };
        let err = Settings::load(&args).unwrap_err().to_string();
        assert!(
            err.contains("--channel") && err.contains("bad name"),
            "{err}"
        );
        let err = load(
            "[[channel]]\nname = \"..\"\nsource = \"x.flv\"\n",
            ServeArgs::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("[[channel]] name") && err.contains("'.'"),
            "{err}"
        );
        let args = ServeArgs {
            channels: vec!["a=x.flv".into(), "a=y.flv".into()],
            ..ServeArgs::default()
        };
        assert!(Settings::load(&args).is_err());
        let args = ServeArgs {
            channels: vec!["a=x.flv".into()],
            on_demand: true,
            ..ServeArgs::default()
        };
        assert!(Settings::load(&args).unwrap().channels[0].on_demand);
    }

    #[test]
    fn pull_patterns_and_the_origin_become_rules_and_errors_name_their_line() {
        let s = load(
            "[server]\norigin = \"http://origin:8080/\"\n[[pull]]\nmatch = \"cam-*\"\nsource = \"rtmp://10.0.0.5/live/{name} live=1\"\nidle_timeout = 3\n",
            ServeArgs::default(),
        )
        .unwrap();
        assert_eq!(s.pulls.len(), 2);
        assert!(s.pulls[0].covers("cam-7") && !s.pulls[0].covers("dog"));
        assert_eq!(s.pulls[0].idle_timeout, Duration::from_secs(3));
        assert_eq!(s.pulls[1].source, "http://origin:8080/{app}/{name}.flv");
        assert!(s.pulls[1].covers("other/anything"));
        for (toml, needles) in [
            (
                "\n[[pull]]\nmatch = \"cam-*\"\nsource = \"rtmp://x/live/cam\"\n",
                &["line 4", "{name}"][..],
            ),
            (
                "[[pull]]\nmatch = \"a b*\"\nsource = \"rtmp://x/live/{name}\"\n",
                &["line 2", "match"][..],
            ),
            (
                "[[pull]]\nmatch = \"*\"\nsource = \"gopher://x/{name}\"\n",
                &["line 3", "gopher"][..],
            ),
            (
                "[[channel]]\nname = \"a\"\nsource = \"x.flv\"\n\n[[channel]]\nname = \"b\"\nsource = \"ftp://x\"\n",
                &["line 7", "[[channel]] source"][..],
            ),
            (
                "[server]\norigin = \"ftp://o\"\n",
                &["line 2", "origin"][..],
            ),
        ] {
            let err = format!("{:#}", load(toml, ServeArgs::default()).unwrap_err());
            assert!(needles.iter().all(|n| err.contains(n)), "{toml}: {err}");
        }
    }

    #[test]
    fn a_configured_name_in_the_default_app_is_written_bare() {
        let s = load(
            "[[channel]]\nname = \"live/cam\"\nsource = \"x.flv\"\n[[channel]]\nname = \"other/cam\"\nsource = \"y.flv\"\n",
            ServeArgs::default(),
        )
        .unwrap();
        let names: Vec<_> = s.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["cam", "other/cam"]);
    }
}
