//! RTMP URLs as librtmp (and so rtmpdump, ffmpeg's librtmp protocol, Kodi...)
//! writes them:
//!
//! ```text
//! rtmp[s]://host[:port][/app[/appinstance]][/playpath][ name=value ...]
//! ```
//!
//! The URL proper ends at the first space; after it come space-separated
//! `name=value` options whose values may carry `\xx` hex escapes (`\20` for a
//! space), as in librtmp.3 "URL SYNTAX" / "OPTIONS". The app/playpath split and
//! the playpath rewriting follow librtmp's `RTMP_ParseURL` and
//! `RTMP_ParsePlaypath`, so a URL copied from an rtmpdump command line reaches
//! the same server application and stream.
//!
//! Where librtmp silently does something surprising (unknown scheme treated as
//! rtmp, garbage numbers read as 0, an option without `=` ending the option list)
//! this parser returns an error instead; see [`UrlError`].

use crate::rtmp::swf::SwfIdentity;
use core::net::Ipv6Addr;
use std::fmt::Write as _;
use std::str::FromStr;

use crate::amf::{Object, Value};

/// Longest accepted input, URL plus options. Real URLs are far shorter; the
/// bound keeps a hostile string from costing much.
pub const MAX_INPUT_LEN: usize = 8 * 1024;
/// librtmp's `DEF_VERSTR` on Linux (rtmp.c), sent as `flashVer` in `connect`.
pub const DEFAULT_FLASH_VER: &str = "LNX 10,0,32,18";
/// librtmp's `RTMP_Init` default for `m_nBufferMS` (librtmp.3: "The default is 30000").
pub const DEFAULT_BUFFER_MS: u32 = 30_000;
/// librtmp's `RTMP_Init` default for `Link.timeout`, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u32 = 30;
/// How many days a SWF's hash, once worked out, is used without fetching the
/// SWF again (`swfAge=`): librtmp's default.
pub const DEFAULT_SWF_AGE_DAYS: u32 = 30;
/// Deepest `conn=O:1` nesting accepted.
pub const MAX_CONN_DEPTH: usize = 16;
/// librtmp refuses longer host names ("Hostname exceeds 255 characters!").
const MAX_HOST_LEN: usize = 255;
/// How much of an offending piece of input an error message quotes.
const MAX_QUOTE: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Rtmp,
    Rtmps,
    /// Encrypted RTMP (a Diffie–Hellman handshake, then RC4), Flash Media Server's.
    Rtmpe,
    /// RTMP tunnelled over HTTP (`POST /open/1`, `/send/…`, `/idle/…`).
    Rtmpt,
    /// RTMPE tunnelled over HTTP.
    Rtmpte,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Rtmp => "rtmp",
            Scheme::Rtmps => "rtmps",
            Scheme::Rtmpe => "rtmpe",
            Scheme::Rtmpt => "rtmpt",
            Scheme::Rtmpte => "rtmpte",
        }
    }

    /// Whether the handshake is RTMPE's.
    pub fn encrypted(self) -> bool {
        matches!(self, Scheme::Rtmpe | Scheme::Rtmpte)
    }

    /// Whether RTMP goes through an HTTP tunnel.
    pub fn tunnelled(self) -> bool {
        matches!(self, Scheme::Rtmpt | Scheme::Rtmpte)
    }

    /// librtmp's defaults: 443 with TLS, 80 through HTTP, 1935 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Rtmp | Scheme::Rtmpe => 1935,
            Scheme::Rtmps => 443,
            Scheme::Rtmpt | Scheme::Rtmpte => 80,
        }
    }
}

/// A parsed RTMP URL with its librtmp options applied and defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct RtmpUrl {
    pub scheme: Scheme,
    /// Host name or address; an IPv6 literal is stored without its brackets.
    pub host: String,
    /// The URL's port, else [`Scheme::default_port`].
    pub port: u16,
    /// Server application, e.g. `live` or `vod/_definst_`; may carry a `?query`.
    pub app: String,
    /// Stream name for `play`, rewritten as librtmp does (`file.mp4` becomes
    /// `mp4:file`, `.flv` is dropped, `%xx` decoded, a query string kept). May be empty.
    pub playpath: String,
    /// `tcUrl` for `connect`; by default the URL up to the end of the app, as librtmp does.
    pub tc_url: String,
    pub page_url: Option<String>,
    pub swf_url: Option<String>,
    /// `flashVer` for `connect`; [`DEFAULT_FLASH_VER`] unless `flashVer=` is given.
    pub flash_ver: String,
    /// Extra `connect` arguments from `conn=`, in order, after the command object.
    pub conn: Vec<Value>,
    pub live: bool,
    /// Client buffer length sent with `SetBufferLength`; [`DEFAULT_BUFFER_MS`] by default.
    pub buffer_ms: u32,
    /// Give up after this many seconds without data; [`DEFAULT_TIMEOUT_SECS`] by default.
    pub timeout_secs: u32,
    /// Key for a SecureToken challenge.
    pub token: Option<String>,
    /// Name for `FCSubscribe`; when the stream is live and `subscribe=` is absent
    /// it is the playpath (librtmp.3: "Defaults to playpath").
    pub subscribe: Option<String>,
    /// Seconds into the stream to start at (`start=`, librtmp.3: "num seconds").
    pub start: Option<f64>,
    /// Seconds into the stream to stop at (`stop=`).
    pub stop: Option<f64>,
    /// `swfVfy=` was true: the caller fetches the SWF at `swfUrl` and fills
    /// [`RtmpUrl::swf`] from it (`swf::SwfIdentity::of_uncompressed`), unless given.
    pub swf_vfy: bool,
    /// `swfAge=`: days a SWF hash worked out for `swfVfy` stays valid before the
    /// SWF is fetched again; 0 fetches it at every connection. librtmp keeps
    /// these in a file (`~/.swfinfo`); the gateway keeps them in memory for
    /// its lifetime. [`DEFAULT_SWF_AGE_DAYS`] unless given.
    pub swf_age_days: u32,
    /// The SWF a server's verification request is answered with: `swfhash=` (64 hex
    /// digits, rtmpdump's `--swfhash`) and `swfsize=` (`--swfsize`), both or neither.
    pub swf: Option<SwfIdentity>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum UrlError {
    #[error("RTMP URL is {len} bytes long; at most {max} are accepted")]
    TooLong { len: usize, max: usize },
    #[error("not an RTMP URL: no \"://\" after the scheme (expected rtmp://host/app/stream)")]
    MissingScheme,
    #[error("{scheme}:// is not supported yet ({what})")]
    UnsupportedScheme {
        scheme: &'static str,
        what: &'static str,
    },
    #[error("unknown URL scheme \"{0}\" (expected rtmp:// or rtmps://)")]
    UnknownScheme(String),
    #[error("RTMP URL has no host")]
    MissingHost,
    #[error("host name is longer than 255 bytes")]
    HostTooLong,
    #[error("bad host \"{host}\": {reason}")]
    BadHost { host: String, reason: &'static str },
    #[error("bad port \"{0}\" (expected a number from 1 to 65535)")]
    BadPort(String),
    #[error("bad %-escape in playpath \"{0}\" (expected % and two hex digits)")]
    BadPercentEscape(String),
    #[error("playpath \"{0}\" is not UTF-8 once its %-escapes are decoded")]
    PlaypathNotUtf8(String),
    #[error("option \"{0}\" has no '=' (options are written name=value after the URL)")]
    OptionWithoutValue(String),
    #[error("unknown option \"{0}=\"")]
    UnknownOption(String),
    #[error("option \"{option}=\" is not supported ({why})")]
    UnsupportedOption { option: String, why: &'static str },
    #[error("bad \\xx escape in option \"{option}=\": {reason}")]
    BadEscape {
        option: String,
        reason: &'static str,
    },
    #[error("bad value \"{value}\" for option \"{option}=\": {reason}")]
    BadValue {
        option: String,
        value: String,
        reason: &'static str,
    },
    #[error("bad conn= value \"{value}\": {reason}")]
    BadConn { value: String, reason: &'static str },
    #[error(
        "conn= objects are not balanced: {open} O:1 (or NO:) left open; close each with conn=O:0"
    )]
    UnbalancedConn { open: usize },
}

impl FromStr for RtmpUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// Parses an RTMP URL followed by optional librtmp `name=value` options.
pub fn parse(input: &str) -> Result<RtmpUrl, UrlError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(UrlError::TooLong {
            len: input.len(),
            max: MAX_INPUT_LEN,
        });
    }
    // Tolerate the whitespace a copy and paste brings along; librtmp would not.
    let input = input.trim_matches([' ', '\t', '\r', '\n']);
    // librtmp's RTMP_SetupURL: the URL ends at the first space.
    let (url_text, options) = input.split_once(' ').unwrap_or((input, ""));
    let loc = parse_location(url_text)?;

    let mut url = RtmpUrl {
        scheme: loc.scheme,
        host: loc.host.to_owned(),
        port: loc.port.unwrap_or(loc.scheme.default_port()),
        app: loc.app.to_owned(),
        playpath: loc.playpath,
        tc_url: String::new(),
        page_url: None,
        swf_url: None,
        flash_ver: DEFAULT_FLASH_VER.to_owned(),
        conn: Vec::new(),
        live: false,
        buffer_ms: DEFAULT_BUFFER_MS,
        timeout_secs: DEFAULT_TIMEOUT_SECS,
        token: None,
        subscribe: None,
        start: None,
        stop: None,
        swf_vfy: false,
        swf_age_days: DEFAULT_SWF_AGE_DAYS,
        swf: None,
    };
    let mut swf_hash: Option<String> = None;
    let mut swf_size: Option<u32> = None;

    let mut tc_url = None;
    let mut app_overridden = false;
    let mut conn = ConnBuilder::default();
    // Runs of spaces separate options like one space does (librtmp skips them).
    for token in options.split(' ').filter(|t| !t.is_empty()) {
        let Some((name, raw)) = token.split_once('=') else {
            return Err(UrlError::OptionWithoutValue(clip(token)));
        };
        let value = unescape(name, raw)?;
        // librtmp matches names exactly ("flashver", "tcUrl"); people write
        // "flashVer" and "tcurl" too, so any case is accepted.
        match name.to_ascii_lowercase().as_str() {
            "app" => {
                url.app = value;
                app_overridden = true;
            }
            "playpath" => url.playpath = value,
            "tcurl" => tc_url = Some(value),
            "pageurl" => url.page_url = Some(value),
            "swfurl" => url.swf_url = Some(value),
            "flashver" => url.flash_ver = value,
            "conn" => conn.push(&value)?,
            "live" => url.live = parse_bool(&value),
            "buffer" => url.buffer_ms = parse_u32(name, &value)?,
            "timeout" => url.timeout_secs = parse_u32(name, &value)?,
            "token" => url.token = Some(value),
            "subscribe" => url.subscribe = Some(value),
            "start" => url.start = Some(parse_seconds(name, &value)?),
            "stop" => url.stop = Some(parse_seconds(name, &value)?),
            "swfvfy" => url.swf_vfy = parse_bool(&value),
            "swfhash" => swf_hash = Some(value),
            "swfsize" => swf_size = Some(parse_u32(name, &value)?),
            "swfage" => url.swf_age_days = parse_u32(name, &value)?,
            "playlist" if parse_bool(&value) => {
                return Err(unsupported(name, "set_playlist before play"));
            }
            "playlist" => {}
            "socks" => return Err(unsupported(name, "connect through a SOCKS proxy instead")),
            "jtv" => return Err(unsupported(name, "Justin.tv usher tokens")),
            "pubuser" | "pubpasswd" => {
                return Err(unsupported(name, "publishing is not implemented"));
            }
            _ => return Err(UrlError::UnknownOption(clip(name))),
        }
    }
    url.conn = conn.finish()?;
    url.swf =
        match (swf_hash, swf_size) {
            (None, None) => None,
            (Some(hash), Some(size)) => Some(SwfIdentity::from_hex(&hash, size).ok_or_else(
                || UrlError::BadValue {
                    option: "swfhash".into(),
                    value: clip(&hash),
                    reason: "expected 64 hex digits (the SWF's HMAC-SHA256)",
                },
            )?),
            (Some(_), None) | (None, Some(_)) => {
                return Err(UrlError::BadValue {
                    option: "swfhash".into(),
                    value: String::new(),
                    reason: "swfhash= and swfsize= go together",
                });
            }
        };

    url.tc_url = match tc_url {
        Some(t) => t,
        // librtmp: an app taken from the URL makes tcUrl the URL's own text up to
        // the end of the app (so the port appears only if the URL had one); no
        // app makes it the whole URL.
        None if url.app.is_empty() => url_text.to_owned(),
        None if !app_overridden => url_text.get(..loc.app_end).unwrap_or(url_text).to_owned(),
        None => {
            let mut t = format!("{}://{}", url.scheme.as_str(), bracket(&url.host));
            if let Some(port) = loc.port {
                let _ = write!(t, ":{port}");
            }
            let _ = write!(t, "/{}", url.app);
            t
        }
    };
    if url.live && url.subscribe.is_none() && !url.playpath.is_empty() {
        url.subscribe = Some(url.playpath.clone());
    }
    Ok(url)
}

impl RtmpUrl {
    /// `rtmp://host:port/app/playpath` for logs. Query strings are left out
    /// because they often carry credentials (publish keys, secure tokens).
    pub fn stream_url(&self) -> String {
        let mut s = format!(
            "{}://{}:{}",
            self.scheme.as_str(),
            bracket(&self.host),
            self.port
        );
        for part in [&self.app, &self.playpath] {
            let part = strip_query(part).trim_end_matches('/');
            if !part.is_empty() {
                s.push('/');
                s.push_str(part);
            }
        }
        s
    }
}

/// What the URL text itself says, before options.
struct Location<'a> {
    scheme: Scheme,
    host: &'a str,
    port: Option<u16>,
    app: &'a str,
    /// Byte offset in the URL text just past the app (for the default tcUrl).
    app_end: usize,
    playpath: String,
}

fn parse_location(url: &str) -> Result<Location<'_>, UrlError> {
    let (scheme_text, rest) = url.split_once("://").ok_or(UrlError::MissingScheme)?;
    let scheme = parse_scheme(scheme_text)?;

    let (host, after_host) = split_host(rest)?;
    let (port, path) = match after_host.strip_prefix(':') {
        Some(p) => {
            let (port_text, path) = p.find('/').map_or((p, ""), |i| p.split_at(i));
            (parse_port(port_text)?, path)
        }
        None => (None, after_host),
    };

    let mut loc = Location {
        scheme,
        host,
        port,
        app: "",
        app_end: url.len(),
        playpath: String::new(),
    };
    let Some(path) = path.strip_prefix('/') else {
        // "No application or playpath in URL!" is only a warning in librtmp.
        return Ok(loc);
    };
    let path_start = url.len() - path.len();

    // RTMP_ParseURL's three cases.
    let (app, rest) = if path.contains('?') && path.contains("slist=") {
        // A query with slist= (some CDNs): the whole path is the app and the
        // playpath comes from slist=.
        let q = path.find('?').unwrap_or(path.len());
        (path, path.get(q..).unwrap_or(""))
    } else if let Some(rest) = path.strip_prefix("ondemand/") {
        // Akamai-style "ondemand/...": app is just "ondemand".
        ("ondemand", rest)
    } else {
        // app[/appinstance]: cut at the 3rd slash if there is one, else the 2nd,
        // else the 1st, else take everything. (So "a/b/c/d" gives app "a/b/c".)
        let slashes: Vec<usize> = path.match_indices('/').map(|(i, _)| i).take(3).collect();
        let cut = slashes.last().copied().unwrap_or(path.len());
        let (app, rest) = path.split_at(cut);
        (app, rest.strip_prefix('/').unwrap_or(rest))
    };
    loc.app = app;
    loc.app_end = path_start + app.len();
    if !rest.is_empty() {
        loc.playpath = parse_playpath(rest)?;
    }
    Ok(loc)
}

fn parse_scheme(text: &str) -> Result<Scheme, UrlError> {
    let unsupported = |scheme, what| Err(UrlError::UnsupportedScheme { scheme, what });
    match text.to_ascii_lowercase().as_str() {
        "rtmp" => Ok(Scheme::Rtmp),
        "rtmps" => Ok(Scheme::Rtmps),
        "rtmpe" => Ok(Scheme::Rtmpe),
        "rtmpt" => Ok(Scheme::Rtmpt),
        "rtmpte" => Ok(Scheme::Rtmpte),
        "rtmpts" => unsupported("rtmpts", "RTMP over HTTPS tunnelling"),
        "rtmfp" => unsupported("rtmfp", "RTMFP, the UDP protocol"),
        _ => Err(UrlError::UnknownScheme(clip(text))),
    }
}

/// Splits `host[:port][/...]` into the host and what follows it.
fn split_host(rest: &str) -> Result<(&str, &str), UrlError> {
    if let Some(bracketed) = rest.strip_prefix('[') {
        // RFC 3986 IP-literal; librtmp has no such syntax but resolves the bare address.
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(UrlError::BadHost {
                host: clip(rest),
                reason: "'[' without a closing ']'",
            });
        };
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::BadHost {
                host: clip(host),
                reason: "not an IPv6 address",
            });
        }
        if !(after.is_empty() || after.starts_with(':') || after.starts_with('/')) {
            return Err(UrlError::BadHost {
                host: clip(rest),
                reason: "expected ':' or '/' after ']'",
            });
        }
        return Ok((host, after));
    }
    let end = rest.find([':', '/']).unwrap_or(rest.len());
    let (host, after) = rest.split_at(end);
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if host.len() > MAX_HOST_LEN {
        return Err(UrlError::HostTooLong);
    }
    if host.contains(['[', ']']) {
        return Err(UrlError::BadHost {
            host: clip(host),
            reason: "brackets belong around a whole IPv6 address",
        });
    }
    Ok((host, after))
}

fn parse_port(text: &str) -> Result<Option<u16>, UrlError> {
    // An empty port ("host:/app") means the default, as in RFC 3986 and librtmp.
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u16>() {
        Ok(p) if p != 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(p)),
        _ => Err(UrlError::BadPort(clip(text))),
    }
}

/// librtmp's `RTMP_ParsePlaypath`: picks the stream name out of `slist=` when
/// the path is a query, turns `name.mp4`/`.f4v` into `mp4:name` and `name.mp3`
/// into `mp3:name`, drops `.flv`, leaves an explicit `mp4:`/`mp3:` prefix
/// untouched and decodes `%xx`.
fn parse_playpath(input: &str) -> Result<String, UrlError> {
    let mut pp = input;
    let mut from_slist = false;
    if input.starts_with('?') {
        if let Some(i) = input.find("slist=") {
            let s = input.get(i + 6..).unwrap_or("");
            pp = s.split('&').next().unwrap_or(s);
            from_slist = true;
        }
    }
    let bytes = pp.as_bytes();
    // The extension is the 4 bytes before the query string, or the last 4.
    let ext_at = match pp.find('?') {
        Some(q) => q.checked_sub(4),
        None => bytes.len().checked_sub(4),
    };
    let ext = ext_at.and_then(|i| bytes.get(i..i + 4));
    let (mut prefix, mut strip_ext): (&[u8], bool) = match ext {
        Some(b".f4v" | b".mp4") => (b"mp4:", true),
        // Only strip .flv from the URL's own path, not from slist= (librtmp).
        Some(b".flv") if !from_slist => (b"", true),
        Some(b".mp3") => (b"mp3:", true),
        _ => (b"", false),
    };
    if !prefix.is_empty() && bytes.starts_with(prefix) {
        // Already "mp4:name.mp4": FMS wants it exactly so.
        prefix = b"";
        strip_ext = false;
    }

    let mut out = Vec::with_capacity(prefix.len() + bytes.len());
    out.extend_from_slice(prefix);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if strip_ext && Some(i) == ext_at {
            i += 4;
            continue;
        }
        if b == b'%' {
            let decoded = bytes.get(i + 1..i + 3).and_then(hex_pair);
            let Some(c) = decoded else {
                return Err(UrlError::BadPercentEscape(clip(pp)));
            };
            out.push(c);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::PlaypathNotUtf8(clip(pp)))
}

/// librtmp's option-value unescaping: `\xx` is the byte with hex value xx.
fn unescape(option: &str, raw: &str) -> Result<String, UrlError> {
    let bad = |reason| UrlError::BadEscape {
        option: clip(option),
        reason,
    };
    if !raw.contains('\\') {
        return Ok(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            let pair = bytes
                .get(i + 1..i + 3)
                .ok_or_else(|| bad("'\\' needs two hex digits after it"))?;
            out.push(hex_pair(pair).ok_or_else(|| bad("'\\' is not followed by two hex digits"))?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("the unescaped bytes are not UTF-8"))
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    match pair {
        [hi, lo] => Some(u8::try_from(digit(*hi)? << 4 | digit(*lo)?).ok()?),
        _ => None,
    }
}

/// librtmp's truth table ("1", "on", "yes", "true", any case); anything else is
/// false. Unlike librtmp, a later false value clears an earlier true one.
fn parse_bool(v: &str) -> bool {
    ["1", "on", "yes", "true"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
}

/// Unlike librtmp's `atoi`, garbage is an error rather than 0.
fn parse_u32(option: &str, v: &str) -> Result<u32, UrlError> {
    v.parse::<u32>().map_err(|_| UrlError::BadValue {
        option: clip(option),
        value: clip(v),
        reason: "expected a whole number from 0 to 4294967295",
    })
}

fn parse_seconds(option: &str, v: &str) -> Result<f64, UrlError> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(UrlError::BadValue {
            option: clip(option),
            value: clip(v),
            reason: "expected a number of seconds, 0 or more",
        }),
    }
}

fn unsupported(option: &str, why: &'static str) -> UrlError {
    UrlError::UnsupportedOption {
        option: clip(option),
        why,
    }
}

/// Builds the `conn=` argument list (librtmp's `parseAMF`): `B:`, `N:`, `S:`,
/// `Z:` values and `O:1` … `O:0` objects at the top level; inside objects,
/// named `NB:name:`, `NN:`, `NS:`, `NZ:` and `NO:name:1` entries.
#[derive(Default)]
struct ConnBuilder {
    top: Vec<Value>,
    /// Open objects, innermost last, each with the name it will have in its parent.
    open: Vec<(Option<String>, Object)>,
}

impl ConnBuilder {
    fn push(&mut self, item: &str) -> Result<(), UrlError> {
        let bad = |reason| UrlError::BadConn {
            value: clip(item),
            reason,
        };
        let bytes = item.as_bytes();
        // The ':' checks make the byte offsets 2 and 3 char boundaries.
        let (kind, name, payload) = match bytes {
            [kind, b':', ..] => (*kind, None, item.get(2..).unwrap_or("")),
            [b'N', kind, b':', ..] => {
                let rest = item.get(3..).unwrap_or("");
                let (name, payload) = rest
                    .split_once(':')
                    .ok_or_else(|| bad("a named value is written NAME:VALUE, e.g. NS:name:text"))?;
                (*kind, Some(name.to_owned()), payload)
            }
            _ => {
                return Err(bad(
                    "expected TYPE:VALUE with TYPE B, N, S, Z or O (or NB, NN, NS, NZ, NO inside an object)",
                ));
            }
        };

        let value = match kind {
            b'B' => Value::Boolean(
                payload
                    .parse::<i64>()
                    .map_err(|_| bad("B: takes 0 (false) or 1 (true)"))?
                    != 0,
            ),
            b'N' => Value::Number(
                payload
                    .parse::<f64>()
                    .map_err(|_| bad("N: takes a number"))?,
            ),
            b'S' => Value::String(payload.to_owned()),
            // librtmp ignores whatever follows "Z:".
            b'Z' => Value::Null,
            b'O' => {
                let flag = payload
                    .parse::<i64>()
                    .map_err(|_| bad("O: takes 1 (begin object) or 0 (end object)"))?;
                if name.is_some() && flag == 0 {
                    return Err(bad(
                        "NO:name:1 opens a named object; close objects with O:0",
                    ));
                }
                if flag == 0 {
                    return self
                        .close()
                        .ok_or_else(|| bad("O:0 without a matching O:1"));
                }
                if self.open.len() >= MAX_CONN_DEPTH {
                    return Err(bad("objects nest too deep"));
                }
                if !self.open.is_empty() && name.is_none() {
                    return Err(bad("an object inside an object needs a name: NO:name:1"));
                }
                if self.open.is_empty() && name.is_some() {
                    return Err(bad(
                        "a named value must be inside an object; open one with O:1",
                    ));
                }
                self.open.push((name, Object::default()));
                return Ok(());
            }
            _ => return Err(bad("unknown type; expected B, N, S, Z or O")),
        };
        match (self.open.last_mut(), name) {
            (None, None) => self.top.push(value),
            (Some((_, obj)), Some(name)) => obj.properties.push((name, value)),
            // An empty key inside an AMF0 object reads as its end marker.
            (Some(_), None) => {
                return Err(bad(
                    "a value inside an object needs a name: NB:, NN:, NS: or NZ:",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "a named value must be inside an object; open one with O:1",
                ));
            }
        }
        Ok(())
    }

    /// Closes the innermost object; `None` if none is open.
    fn close(&mut self) -> Option<()> {
        let (name, obj) = self.open.pop()?;
        let value = Value::Object(obj);
        match (self.open.last_mut(), name) {
            (Some((_, parent)), Some(name)) => parent.properties.push((name, value)),
            _ => self.top.push(value),
        }
        Some(())
    }

    fn finish(self) -> Result<Vec<Value>, UrlError> {
        if self.open.is_empty() {
            Ok(self.top)
        } else {
            Err(UrlError::UnbalancedConn {
                open: self.open.len(),
            })
        }
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn strip_query(s: &str) -> &str {
    s.split('?').next().unwrap_or(s)
}

/// Quotes at most [`MAX_QUOTE`] characters of input in an error message.
fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTE) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or("")),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> RtmpUrl {
        match parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s:?} failed: {e}"),
        }
    }

    fn err(s: &str) -> UrlError {
        match parse(s) {
            Ok(u) => panic!("{s:?} parsed: {u:?}"),
            Err(e) => e,
        }
    }

    fn obj(props: Vec<(&str, Value)>) -> Value {
        Value::Object(Object {
            class: None,
            properties: props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
    }

    #[test]
    fn nginx_rtmp_live() {
        let u = p("rtmp://127.0.0.1/live/stream");
        assert_eq!(u.scheme, Scheme::Rtmp);
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 1935);
        assert_eq!(u.app, "live");
        assert_eq!(u.playpath, "stream");
        assert_eq!(u.tc_url, "rtmp://127.0.0.1/live");
        assert_eq!(u.flash_ver, DEFAULT_FLASH_VER);
        assert_eq!(u.buffer_ms, 30_000);
        assert_eq!(u.timeout_secs, 30);
        assert!(!u.live && !u.swf_vfy);
        assert_eq!(u.subscribe, None);
        assert_eq!(u.conn, vec![]);
        assert_eq!(u.stream_url(), "rtmp://127.0.0.1:1935/live/stream");
        assert_eq!("rtmp://127.0.0.1/live/stream".parse::<RtmpUrl>(), Ok(u));
    }

    #[test]
    fn fms_ondemand_mp4() {
        let u = p("rtmp://h/ondemand/mp4:sample.mp4");
        assert_eq!(u.app, "ondemand");
        assert_eq!(u.playpath, "mp4:sample.mp4");
        assert_eq!(u.tc_url, "rtmp://h/ondemand");
        // Deeper ondemand paths still keep app "ondemand".
        let u = p("rtmp://h/ondemand/a/b/c.mp4");
        assert_eq!(
            (u.app.as_str(), u.playpath.as_str()),
            ("ondemand", "mp4:a/b/c")
        );
    }

    #[test]
    fn app_split_follows_librtmp() {
        let cases = [
            ("rtmp://h", "", ""),
            ("rtmp://h/", "", ""),
            ("rtmp://h/live", "live", ""),
            ("rtmp://h/live/", "live", ""),
            ("rtmp://h/vod/mp4:file.mp4", "vod", "mp4:file.mp4"),
            ("rtmp://h/app/inst/stream", "app/inst", "stream"),
            (
                "rtmp://h/vod/_definst_/mp4:f.mp4",
                "vod/_definst_",
                "mp4:f.mp4",
            ),
            // Four or more components: librtmp cuts at the third slash.
            ("rtmp://h/a/b/c/d", "a/b/c", "d"),
            ("rtmp://h/a/b/c/d/e", "a/b/c", "d/e"),
            ("rtmp://h/live?key=1/stream", "live?key=1", "stream"),
        ];
        for (url, app, playpath) in cases {
            let u = p(url);
            assert_eq!(
                (u.app.as_str(), u.playpath.as_str()),
                (app, playpath),
                "{url}"
            );
        }
    }

    #[test]
    fn playpath_rewrites() {
        let cases = [
            ("rtmp://h/vod/file.mp4", "mp4:file"),
            ("rtmp://h/vod/file.f4v", "mp4:file"),
            ("rtmp://h/vod/mp4:file.f4v", "mp4:file.f4v"),
            ("rtmp://h/vod/file.flv", "file"),
            ("rtmp://h/vod/file.mp3", "mp3:file"),
            ("rtmp://h/vod/mp3:file.mp3", "mp3:file.mp3"),
            ("rtmp://h/vod/file.mp4?a=b", "mp4:file?a=b"),
            ("rtmp://h/vod/file.flv?a=b", "file?a=b"),
            ("rtmp://h/live/stream?token=x&y=z", "stream?token=x&y=z"),
            ("rtmp://h/vod/my%20file.flv", "my file"),
            ("rtmp://h/vod/a.txt", "a.txt"),
            ("rtmp://h/vod/ab", "ab"),
            ("rtmp://h/vod/?x", "?x"),
        ];
        for (url, playpath) in cases {
            assert_eq!(p(url).playpath, playpath, "{url}");
        }
        assert!(matches!(
            err("rtmp://h/vod/a%2"),
            UrlError::BadPercentEscape(_)
        ));
        assert!(matches!(
            err("rtmp://h/vod/a%zz"),
            UrlError::BadPercentEscape(_)
        ));
        assert!(matches!(
            err("rtmp://h/vod/a%ff"),
            UrlError::PlaypathNotUtf8(_)
        ));
    }

    #[test]
    fn slist_query() {
        let u = p("rtmp://h/app/?slist=mp4:folder/file.mp4&x=1");
        assert_eq!(u.app, "app/?slist=mp4:folder/file.mp4&x=1");
        assert_eq!(u.playpath, "mp4:folder/file.mp4");
        assert_eq!(u.tc_url, "rtmp://h/app/?slist=mp4:folder/file.mp4&x=1");
        // .flv is kept when the name comes from slist=.
        assert_eq!(p("rtmp://h/app/?slist=clip.flv").playpath, "clip.flv");
        assert_eq!(u.stream_url(), "rtmp://h:1935/app/mp4:folder/file.mp4");
    }

    #[test]
    fn options_override_the_url() {
        let u = p("rtmp://h/a/b playpath=mp4:x/y.mp4 app=other/inst");
        assert_eq!(u.playpath, "mp4:x/y.mp4");
        assert_eq!(u.app, "other/inst");
        assert_eq!(u.tc_url, "rtmp://h/other/inst");
        let u = p("rtmp://h:1940/a/b app=x");
        assert_eq!(u.tc_url, "rtmp://h:1940/x");
        let u = p("rtmp://[::1]/a/b app=x");
        assert_eq!(u.tc_url, "rtmp://[::1]/x");
        let u = p(
            "rtmp://h/a/b tcUrl=rtmp://other/z pageUrl=http://p swfUrl=http://s.swf flashVer=WIN\\2011,1,102,55",
        );
        assert_eq!(u.tc_url, "rtmp://other/z");
        assert_eq!(u.page_url.as_deref(), Some("http://p"));
        assert_eq!(u.swf_url.as_deref(), Some("http://s.swf"));
        assert_eq!(u.flash_ver, "WIN 11,1,102,55");
    }

    #[test]
    fn tc_url_keeps_the_urls_own_text() {
        assert_eq!(p("rtmp://h:1936/live/s").tc_url, "rtmp://h:1936/live");
        assert_eq!(p("RTMP://H/live/s").tc_url, "RTMP://H/live");
        assert_eq!(p("rtmp://h").tc_url, "rtmp://h");
        assert_eq!(p("rtmp://h/").tc_url, "rtmp://h/");
        assert_eq!(p("rtmp://h/a/i/s").tc_url, "rtmp://h/a/i");
    }

    #[test]
    fn options_and_conn_example() {
        let u =
            p("rtmp://h/app/stream live=1 buffer=1000 conn=S:foo conn=O:1 conn=NS:a:b conn=O:0");
        assert!(u.live);
        assert_eq!(u.buffer_ms, 1000);
        assert_eq!(u.subscribe.as_deref(), Some("stream"));
        assert_eq!(
            u.conn,
            vec![
                Value::String("foo".into()),
                obj(vec![("a", Value::String("b".into()))]),
            ]
        );
    }

    #[test]
    fn all_options() {
        let u = p(
            "rtmp://h/app/s  timeout=5 token=sec\\20ret subscribe=sub start=1.5 stop=30 swfVfy=true live=yes swfAge=3 playlist=0  ",
        );
        assert_eq!(u.timeout_secs, 5);
        assert_eq!(u.token.as_deref(), Some("sec ret"));
        assert_eq!(u.subscribe.as_deref(), Some("sub"));
        assert_eq!(u.start, Some(1.5));
        assert_eq!(u.stop, Some(30.0));
        assert!(u.swf_vfy && u.live);
        assert_eq!(u.swf_age_days, 3);
        assert_eq!(p("rtmp://h/a/s").swf_age_days, DEFAULT_SWF_AGE_DAYS);
        assert!(!p("rtmp://h/a/s live=1 live=0").live);
        assert!(!p("rtmp://h/a/s live=nope").live);
        assert!(p("rtmp://h/a/s LIVE=ON").live);
        // The token is not part of what goes to logs.
        assert!(!u.stream_url().contains("sec"));
    }

    #[test]
    fn conn_values() {
        let u = p(
            "rtmp://h/a conn=B:1 conn=B:0 conn=N:3.5 conn=N:-2 conn=S: conn=S:a:b conn=Z: \
                   conn=O:1 conn=NB:f:1 conn=NN:n:1e3 conn=NZ:z: conn=NO:inner:1 conn=NS:s:x\\20y conn=O:0 conn=O:0",
        );
        assert_eq!(
            u.conn,
            vec![
                Value::Boolean(true),
                Value::Boolean(false),
                Value::Number(3.5),
                Value::Number(-2.0),
                Value::String(String::new()),
                Value::String("a:b".into()),
                Value::Null,
                obj(vec![
                    ("f", Value::Boolean(true)),
                    ("n", Value::Number(1000.0)),
                    ("z", Value::Null),
                    ("inner", obj(vec![("s", Value::String("x y".into()))])),
                ]),
            ]
        );
    }

    #[test]
    fn conn_errors() {
        let bad = [
            "conn=X:1",
            "conn=S",
            "conn=",
            "conn=B:yes",
            "conn=N:abc",
            "conn=O:x",
            "conn=NS:a:b",
            "conn=O:1 conn=S:unnamed conn=O:0",
            "conn=O:1 conn=O:1 conn=O:0 conn=O:0",
            "conn=O:1 conn=NS:noval conn=O:0",
            "conn=O:1 conn=NO:x:0",
            "conn=NQ:a:b",
            "conn=O:0",
        ];
        for opts in bad {
            let e = err(&format!("rtmp://h/a {opts}"));
            assert!(matches!(e, UrlError::BadConn { .. }), "{opts}: {e}");
        }
        assert_eq!(
            err("rtmp://h/a conn=O:1 conn=NO:x:1"),
            UrlError::UnbalancedConn { open: 2 }
        );
        let deep = "conn=O:1 ".to_owned() + &"conn=NO:x:1 ".repeat(MAX_CONN_DEPTH);
        let e = err(&format!("rtmp://h/a {deep}"));
        assert!(e.to_string().contains("too deep"), "{e}");
        let ok = "conn=O:1 ".to_owned()
            + &"conn=NO:x:1 ".repeat(MAX_CONN_DEPTH - 1)
            + &"conn=O:0 ".repeat(MAX_CONN_DEPTH);
        assert_eq!(p(&format!("rtmp://h/a {ok}")).conn.len(), 1);
    }

    #[test]
    fn ipv6_and_ports() {
        let u = p("rtmp://[::1]:1936/live/x");
        assert_eq!((u.host.as_str(), u.port), ("::1", 1936));
        assert_eq!((u.app.as_str(), u.playpath.as_str()), ("live", "x"));
        assert_eq!(u.tc_url, "rtmp://[::1]:1936/live");
        assert_eq!(u.stream_url(), "rtmp://[::1]:1936/live/x");
        assert_eq!(p("rtmp://[2001:db8::2]/live").port, 1935);
        assert_eq!(p("rtmps://h/live/x").port, 443);
        assert_eq!(p("rtmps://h/live/x").scheme, Scheme::Rtmps);
        assert_eq!(p("rtmp://h:65535/a").port, 65535);
        assert_eq!(p("rtmp://h:/a").port, 1935);
        for bad in [
            "rtmp://h:0/a",
            "rtmp://h:65536/a",
            "rtmp://h:12x/a",
            "rtmp://h:+1/a",
            "rtmp://h:-1",
        ] {
            assert!(matches!(err(bad), UrlError::BadPort(_)), "{bad}");
        }
        for bad in [
            "rtmp://[::1/a",
            "rtmp://[nope]/a",
            "rtmp://[::1]x/a",
            "rtmp://a]b/c",
        ] {
            assert!(matches!(err(bad), UrlError::BadHost { .. }), "{bad}");
        }
    }

    #[test]
    fn schemes() {
        assert_eq!(p("rtmpe://h/a/s").scheme, Scheme::Rtmpe);
        assert_eq!(p("rtmpe://h/a/s").port, 1935);
        assert_eq!(p("rtmpt://h/a/s").port, 80);
        assert!(p("rtmpte://h/a/s").scheme.encrypted() && p("rtmpte://h/a/s").scheme.tunnelled());
        for s in ["rtmpts", "RTMFP"] {
            let e = err(&format!("{s}://h/a"));
            assert!(matches!(e, UrlError::UnsupportedScheme { .. }), "{s}");
            assert!(e.to_string().contains("not supported yet"), "{e}");
        }
        assert_eq!(err("http://h/a"), UrlError::UnknownScheme("http".into()));
        assert_eq!(err("h/live/s"), UrlError::MissingScheme);
        assert_eq!(err(""), UrlError::MissingScheme);
        assert_eq!(err("rtmp://"), UrlError::MissingHost);
        assert_eq!(err("rtmp:///live"), UrlError::MissingHost);
        assert_eq!(err("rtmp://:1935/live"), UrlError::MissingHost);
        assert_eq!(
            err(&format!("rtmp://{}/a", "h".repeat(256))),
            UrlError::HostTooLong
        );
    }

    #[test]
    fn option_errors() {
        assert_eq!(
            err("rtmp://h/a/s live"),
            UrlError::OptionWithoutValue("live".into())
        );
        assert_eq!(err("rtmp://h/a/s x=1"), UrlError::UnknownOption("x".into()));
        assert_eq!(
            err("rtmp://h/a/s =1"),
            UrlError::UnknownOption(String::new())
        );
        assert_eq!(err("rtmp://h/a/s x=1").to_string(), "unknown option \"x=\"");
        for opt in [
            "socks=h:1080",
            "jtv=x",
            "playlist=1",
            "pubUser=u",
            "pubPasswd=p",
        ] {
            let e = err(&format!("rtmp://h/a/s {opt}"));
            assert!(
                matches!(e, UrlError::UnsupportedOption { .. }),
                "{opt}: {e}"
            );
        }
        for opt in [
            "buffer=x",
            "buffer=-1",
            "timeout=",
            "start=-1",
            "stop=inf",
            "start=abc",
            "swfAge=z",
        ] {
            let e = err(&format!("rtmp://h/a/s {opt}"));
            assert!(matches!(e, UrlError::BadValue { .. }), "{opt}: {e}");
        }
        for opt in ["token=a\\2", "token=a\\zz", "token=\\", "token=\\ff"] {
            let e = err(&format!("rtmp://h/a/s {opt}"));
            assert!(matches!(e, UrlError::BadEscape { .. }), "{opt}: {e}");
        }
    }

    #[test]
    fn escapes_in_values() {
        let u = p("rtmp://h/a/s pageUrl=http://x/a\\20b\\5cc conn=S:\\41\\42");
        assert_eq!(u.page_url.as_deref(), Some("http://x/a b\\c"));
        assert_eq!(u.conn, vec![Value::String("AB".into())]);
        // Multi-byte UTF-8 through escapes.
        assert_eq!(p("rtmp://h/a/s token=\\c3\\a9").token.as_deref(), Some("é"));
    }

    #[test]
    fn length_limit() {
        let long = format!("rtmp://h/a/{}", "s".repeat(MAX_INPUT_LEN));
        assert!(matches!(err(&long), UrlError::TooLong { .. }));
        let fits = format!("rtmp://h/a/{}", "s".repeat(MAX_INPUT_LEN - 11));
        assert_eq!(p(&fits).playpath.len(), MAX_INPUT_LEN - 11);
    }

    #[test]
    fn error_quotes_are_clipped() {
        let e = err(&format!("rtmp://h/a {}=1", "x".repeat(1000)));
        assert!(e.to_string().len() < 100, "{e}");
    }

    #[test]
    fn stream_url_leaves_out_queries() {
        let u = p("rtmp://h/live?secret=1/stream?key=2 token=t");
        assert_eq!(u.stream_url(), "rtmp://h:1935/live/stream");
        assert_eq!(p("rtmp://h").stream_url(), "rtmp://h:1935");
    }

    proptest! {
        #[test]
        fn never_panics_on_anything(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_url_like_input(
            s in "(rtmps?|RTMP|rtmpe)://(\\[[0-9a-f:]{0,8}\\]?)?[a-z.:0-9%?/=&\\[\\]]{0,40}( [a-zA-Z]{0,8}=[A-Z:0-9a-z\\\\%]{0,12}){0,5}"
        ) {
            let _ = parse(&s);
        }

        #[test]
        fn conn_never_panics(items in proptest::collection::vec("N?[BNSZOX]?:?[a-z]{0,2}:?[01a-z.]{0,3}", 0..12)) {
            let opts: Vec<String> = items.iter().map(|i| format!("conn={i}")).collect();
            let _ = parse(&format!("rtmp://h/a/s {}", opts.join(" ")));
        }

        #[test]
        fn simple_urls_round_trip(host in "[a-z][a-z0-9.-]{0,20}", app in "[a-z_]{1,10}", stream in "[a-z0-9_]{1,10}", port in 1u16..) {
            let u = parse(&format!("rtmp://{host}:{port}/{app}/{stream}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&u.host, &host);
            prop_assert_eq!(u.port, port);
            prop_assert_eq!(&u.app, &app);
            prop_assert_eq!(&u.playpath, &stream);
            prop_assert_eq!(u.stream_url(), format!("rtmp://{host}:{port}/{app}/{stream}"));
        }
    }
}
