//! One viewer: connects over WS-FLV, HTTP-FLV or RTMP play, parses every tag, checks it and
//! records how far behind the live edge it is. Anything wrong with what the server
//! sends ends this viewer with the reason, never the process.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use flashless_core::flv::{FlvReader, Item, Tag, TagType};
use flashless_core::rtmp::session::{ClientEvent, ClientMode, ClientSession};
use flashless_core::rtmp::url::RtmpUrl;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::websocket::{self, Event, Frames};

/// Connecting, the handshakes and the first media must all happen within this.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// A live stream at 25 fps never goes this long without a tag.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Milliseconds on the load generator's clock, shared by every viewer.
pub fn now_ms() -> i64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as i64
}

#[derive(Clone, Debug)]
pub enum Target {
    /// `ws://host:port/live/name.flv`
    Ws(String),
    Rtmp(Arc<RtmpUrl>),
    /// `http://host:port/live/name.flv`: a chunked FLV body.
    Http {
        host: String,
        port: u16,
        path: String,
    },
}

pub const CONNECTING: u8 = 0;
pub const LIVE: u8 = 1;
pub const FAILED: u8 = 2;

/// What the step loop reads of a viewer; written only by the viewer's task.
pub struct Stats {
    pub state: AtomicU8,
    /// Largest lag seen at a tag's arrival since the last reset, in ms.
    pub max_lag: AtomicI64,
    /// Smallest `now - timestamp` ever seen: the viewer's best delay.
    pub min_delay: AtomicI64,
    /// The newest coded tag's timestamp, to catch a viewer that stopped receiving.
    pub last_ts: AtomicI64,
    pub tags: AtomicU64,
    /// The coded video tags among `tags`: a viewer must get both tracks.
    pub video_tags: AtomicU64,
    /// Gaps over [`MAX_GAP_MS`] between a track's frames: frames the server dropped.
    pub gaps: AtomicU64,
    pub reason: Mutex<Option<String>>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            state: AtomicU8::new(CONNECTING),
            max_lag: AtomicI64::new(0),
            min_delay: AtomicI64::new(i64::MAX),
            last_ts: AtomicI64::new(0),
            tags: AtomicU64::new(0),
            video_tags: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            reason: Mutex::new(None),
        }
    }

    /// The viewer's lag now: a viewer that receives nothing falls behind too.
    pub fn lag_now(&self, base_delay: i64) -> i64 {
        let behind_edge = now_ms() - base_delay - self.last_ts.load(Relaxed);
        behind_edge.max(self.max_lag.load(Relaxed))
    }
}

/// The delay (`arrival - timestamp`) of a tag on an idle server: lag is measured from it.
/// Set once from the control viewer; the same for every viewer, because all servers
/// compared here give every player the publisher's timeline.
pub static BASE_DELAY: AtomicI64 = AtomicI64::new(i64::MAX);

/// A gap between two frames of a track longer than this is frames lost: the benchmark's
/// clip has a video frame every 40 ms and an audio frame every 23 ms.
pub const MAX_GAP_MS: u32 = 100;

/// Per-track checks: timestamps never go back, no frame is missing, and lag behind the
/// live edge.
#[derive(Default)]
struct Checker {
    last_audio: Option<u32>,
    last_video: Option<u32>,
}

impl Checker {
    fn tag(&mut self, tag: &Tag, stats: &Stats) -> Result<()> {
        // Sequence headers and metadata may carry any timestamp (nginx-rtmp sends 0).
        let header = match tag.tag_type {
            TagType::Script => return Ok(()),
            TagType::Video => tag.data.get(1) == Some(&0),
            TagType::Audio => {
                tag.data.first().map(|b| b >> 4) == Some(10) && tag.data.get(1) == Some(&0)
            }
        };
        if header || tag.data.len() < 2 {
            return Ok(());
        }
        let last = match tag.tag_type {
            TagType::Video => &mut self.last_video,
            _ => &mut self.last_audio,
        };
        if let Some(prev) = *last
            && tag.timestamp < prev
        {
            bail!(
                "{:?} timestamp went back from {prev} to {} ms",
                tag.tag_type,
                tag.timestamp
            );
        }
        if last.is_some_and(|prev| tag.timestamp - prev > MAX_GAP_MS) {
            stats.gaps.fetch_add(1, Relaxed);
        }
        *last = Some(tag.timestamp);
        let now = now_ms();
        let delay = now - i64::from(tag.timestamp);
        stats.tags.fetch_add(1, Relaxed);
        if tag.tag_type == TagType::Video {
            stats.video_tags.fetch_add(1, Relaxed);
        }
        stats.min_delay.fetch_min(delay, Relaxed);
        stats.last_ts.store(i64::from(tag.timestamp), Relaxed);
        let base = BASE_DELAY.load(Relaxed);
        if base != i64::MAX {
            stats.max_lag.fetch_max(delay - base, Relaxed);
        }
        if stats.state.load(Relaxed) == CONNECTING {
            stats.state.store(LIVE, Relaxed);
        }
        Ok(())
    }
}

/// Runs one viewer until the server closes, an error, or `stop`; a failure is recorded in `stats`.
pub async fn run(target: Target, stats: Arc<Stats>) {
    let result = match &target {
        Target::Ws(url) => ws(url, &stats).await,
        Target::Rtmp(url) => rtmp(url, &stats).await,
        Target::Http { host, port, path } => http(host, *port, path, &stats).await,
    };
    let reason = match result {
        Ok(()) => "the server closed the stream".to_owned(),
        Err(e) => format!("{e:#}"),
    };
    if let Ok(mut r) = stats.reason.lock() {
        *r = Some(reason);
    }
    stats.state.store(FAILED, Relaxed);
}

async fn connect(host: &str, port: u16) -> Result<TcpStream> {
    let socket = tokio::time::timeout(START_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| anyhow!("connect: no answer within {START_TIMEOUT:?}"))?
        .context("connect")?;
    socket.set_nodelay(true).ok();
    Ok(socket)
}

/// A WS-FLV viewer: RFC 6455 by hand (`websocket.rs`), read like the RTMP viewers into
/// the one shared receive buffer, each message's payload fed straight to the FLV reader.
/// Waits until `socket` has bytes: within what is left of [`START_TIMEOUT`] while
/// the viewer connects, then [`READ_TIMEOUT`] for each read.
async fn readable(socket: &TcpStream, stats: &Stats, started: Instant) -> Result<()> {
    let limit = if stats.state.load(Relaxed) == CONNECTING {
        START_TIMEOUT.saturating_sub(started.elapsed())
    } else {
        READ_TIMEOUT
    };
    tokio::time::timeout(limit, socket.readable())
        .await
        .map_err(|_| anyhow!("no data for {limit:?}"))?
        .context("waiting for data")
}

async fn ws(url: &str, stats: &Stats) -> Result<()> {
    let rest = url.strip_prefix("ws://").context("expected a ws:// url")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = authority
        .rsplit_once(':')
        .context("expected a port in the ws:// url")?;
    let port: u16 = port.parse().context("bad port in the ws:// url")?;
    let mut socket = connect(host, port).await?;
    let request = websocket::upgrade_request(host, port, &format!("/{path}"));
    socket
        .write_all(request.as_bytes())
        .await
        .context("writing")?;
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    let mut frames = Frames::default();
    let mut playing = WsPlaying::default();
    let started = Instant::now();
    loop {
        readable(&socket, stats, started).await?;
        let open = RECV.with_borrow_mut(|buf| -> Result<bool> {
            let n = match socket.try_read(buf) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => bail!("reading: {e}"),
            };
            let data = buf.get(..n).unwrap_or_default();
            let mut on = |event: Event<'_>| playing.on(event, stats);
            let Some(h) = &mut head else {
                frames.feed(data, &mut on)?;
                return Ok(true);
            };
            h.extend_from_slice(data);
            let Some(end) = h.windows(4).position(|w| w == b"\r\n\r\n") else {
                if h.len() > 16 * 1024 {
                    bail!("no end of the response head in 16 KiB");
                }
                return Ok(true);
            };
            let status = String::from_utf8_lossy(h.get(..end).unwrap_or_default())
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            if !status.starts_with("HTTP/1.1 101") {
                bail!("websocket handshake: answered {status}");
            }
            let first = h.split_off(end + 4);
            head = None;
            frames.feed(&first, &mut on)?;
            Ok(true)
        })?;
        for pong in playing.pongs.drain(..) {
            socket.write_all(&pong).await.context("writing")?;
        }
        if !open || playing.closed {
            return Ok(());
        }
    }
}

/// A WS-FLV viewer's stream once upgraded: the FLV reader over the messages' bytes.
#[derive(Default)]
struct WsPlaying {
    reader: FlvReader,
    checker: Checker,
    /// Message bytes fed to the reader.
    pushed: u64,
    /// Answers to the server's pings, to write.
    pongs: Vec<Vec<u8>>,
    closed: bool,
}

impl WsPlaying {
    fn on(&mut self, event: Event<'_>, stats: &Stats) -> Result<()> {
        match event {
            Event::Data(bytes) => {
                self.reader.feed(bytes);
                self.pushed += bytes.len() as u64;
                while let Some(item) = self.reader.poll_item().context("flv")? {
                    if let Item::Tag(tag) = item {
                        self.checker.tag(&tag, stats)?;
                    }
                }
            }
            // WS-FLV players (flv.js, mpegts.js) expect whole tags in every message.
            Event::MessageEnd if self.reader.offset() != self.pushed => bail!(
                "a message ended inside a tag (stream offset {})",
                self.reader.offset()
            ),
            Event::MessageEnd => {}
            Event::Ping(payload) => self.pongs.push(websocket::pong(&payload)),
            Event::Close => self.closed = true,
        }
        Ok(())
    }
}

/// An HTTP-FLV viewer: the response head, then the chunked body's FLV. Chunk
/// boundaries need not fall between tags (players read a byte stream).
async fn http(host: &str, port: u16, path: &str, stats: &Stats) -> Result<()> {
    use tokio::io::AsyncReadExt;
    let mut socket = connect(host, port).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n\r\n");
    socket
        .write_all(request.as_bytes())
        .await
        .context("writing")?;
    let mut body = Chunked::default();
    let mut reader = FlvReader::new();
    let mut checker = Checker::default();
    let mut buf = vec![0u8; 16 * 1024];
    let started = Instant::now();
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    loop {
        let limit = if stats.state.load(Relaxed) == CONNECTING {
            START_TIMEOUT.saturating_sub(started.elapsed())
        } else {
            READ_TIMEOUT
        };
        let n = tokio::time::timeout(limit, socket.read(&mut buf))
            .await
            .map_err(|_| anyhow!("no data for {limit:?}"))?
            .context("reading")?;
        if n == 0 {
            return Ok(());
        }
        let mut data = buf.get(..n).unwrap_or_default();
        if let Some(h) = &mut head {
            h.extend_from_slice(data);
            let Some(end) = h.windows(4).position(|w| w == b"\r\n\r\n") else {
                if h.len() > 16 * 1024 {
                    bail!("no end of the response head in 16 KiB");
                }
                continue;
            };
            let text = String::from_utf8_lossy(&h[..end]).to_ascii_lowercase();
            if !text.starts_with("http/1.1 200") {
                bail!("answered {}", text.lines().next().unwrap_or_default());
            }
            if !text.contains("transfer-encoding: chunked") {
                bail!("the body is not chunked");
            }
            let rest = h.split_off(end + 4);
            head = None;
            body.feed(&rest, &mut reader)?;
            data = &[];
        }
        body.feed(data, &mut reader)?;
        while let Some(item) = reader.poll_item().context("flv")? {
            if let Item::Tag(tag) = item {
                checker.tag(&tag, stats)?;
            }
        }
    }
}

/// HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), decoded into the FLV reader.
#[derive(Default)]
struct Chunked {
    /// Bytes of data still to come in the current chunk.
    left: usize,
    /// A chunk-size line (or the CRLF after a chunk's data) read so far.
    line: Vec<u8>,
    /// The CRLF after a chunk's data is next.
    after_data: bool,
}

impl Chunked {
    fn feed(&mut self, mut data: &[u8], reader: &mut FlvReader) -> Result<()> {
        while !data.is_empty() {
            if self.left > 0 {
                let take = self.left.min(data.len());
                reader.feed(&data[..take]);
                self.left -= take;
                data = &data[take..];
                self.after_data = self.left == 0;
                continue;
            }
            let Some(nl) = data.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(data);
                if self.line.len() > 1024 {
                    bail!("a chunk-size line over 1 KiB");
                }
                return Ok(());
            };
            self.line.extend_from_slice(&data[..nl]);
            data = &data[nl + 1..];
            let line = std::mem::take(&mut self.line);
            if self.after_data {
                self.after_data = false;
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            let size = text.trim().split(';').next().unwrap_or_default();
            self.left = usize::from_str_radix(size, 16)
                .map_err(|_| anyhow!("bad chunk size line {text:?}"))?;
            if self.left == 0 {
                bail!("the body ended");
            }
        }
        Ok(())
    }
}

thread_local! {
    /// One receive buffer for every RTMP and WS-FLV viewer: the generator runs on one thread, and a
    /// read into it is never held across an await.
    static RECV: RefCell<Vec<u8>> = RefCell::new(vec![0; 256 * 1024]);
}

async fn rtmp(url: &RtmpUrl, stats: &Stats) -> Result<()> {
    let mut socket = connect(&url.host, url.port).await?;
    let random: Vec<u8> = (0..1528u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut session = ClientSession::new(url.clone(), ClientMode::Play, 0, &random);
    let mut checker = Checker::default();
    let started = Instant::now();
    loop {
        while let Some(bytes) = session.poll_transmit() {
            socket.write_all(&bytes).await.context("writing")?;
        }
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Tag(tag) => checker.tag(&tag, stats)?,
                ClientEvent::StreamEnd { reason } => bail!("stream ended: {reason}"),
                _ => {}
            }
        }
        readable(&socket, stats, started).await?;
        let read = RECV.with_borrow_mut(|buf| match socket.try_read(buf) {
            Ok(0) => Ok(None),
            Ok(n) => session
                .feed(buf.get(..n).unwrap_or_default())
                .map(Some)
                .map_err(|e| anyhow!("rtmp: {e}")),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Some(())),
            Err(e) => Err(anyhow!("reading: {e}")),
        })?;
        if read.is_none() {
            return Ok(());
        }
    }
}
