//! `flashless serve` delivering channels over HTTP-FLV and WS-FLV to real clients:
//! ffprobe, a WebSocket client, a viewer that never reads, a publisher that sends garbage.

mod peers;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use flashless_core::flv::{
    AudioPacket, AudioTag, FlvReader, Item, Tag, TagType, VideoPacket, VideoTag,
};
use futures_util::StreamExt;
use peers::*;
use tokio_tungstenite::tungstenite::Message;

type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WS-FLV viewer of `url`, and its first message: the FLV header.
async fn ws_viewer(url: &str) -> (WebSocket, Vec<u8>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket upgrade");
    let Some(Ok(Message::Binary(header))) = ws.next().await else {
        panic!("no FLV header message")
    };
    (ws, header.to_vec())
}

/// Reads WS-FLV for `media_ms` of media: the header message, then the tags.
async fn ws_flv(url: &str, media_ms: u32) -> (Vec<u8>, Vec<(Instant, Tag)>) {
    let (mut ws, header) = ws_viewer(url).await;
    let mut reader = FlvReader::tags_only();
    let mut tags = vec![];
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(msg) = tokio::time::timeout_at(deadline.into(), ws.next())
        .await
        .expect("media within 20 s")
    {
        let Message::Binary(data) = msg.expect("a message") else {
            continue;
        };
        reader.feed(&data);
        while let Some(item) = reader.poll_item().expect("whole FLV tags") {
            if let Item::Tag(tag) = item {
                tags.push((Instant::now(), tag));
            }
        }
        assert_eq!(
            reader.offset() as usize,
            tags_len(&tags),
            "a message ended mid-tag"
        );
        let coded: Vec<u32> = tags
            .iter()
            .filter(|(_, t)| is_coded_video(t))
            .map(|(_, t)| t.timestamp)
            .collect();
        if coded.len() > 1 && coded[coded.len() - 1] - coded[0] >= media_ms {
            break;
        }
    }
    (header, tags)
}

fn tags_len(tags: &[(Instant, Tag)]) -> usize {
    tags.iter().map(|(_, t)| 11 + t.data.len() + 4).sum()
}

fn is_coded_video(tag: &Tag) -> bool {
    tag.tag_type == TagType::Video
        && VideoTag::parse(&tag.data)
            .is_ok_and(|v| matches!(v.packet, VideoPacket::CodedFrames { .. }))
}

fn publish(gw: &Gateway, channel: &str) -> Guard {
    let ffmpeg = ffmpeg_publish(&gw.rtmp_url(channel), &[]);
    gw.wait_live(channel);
    ffmpeg
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_flv_starts_with_the_header_then_sequence_headers_then_a_keyframe() {
    let gw = Gateway::start(&["--no-demo"]);
    let _ffmpeg = publish(&gw, "cam");
    let url = format!("ws://127.0.0.1:{}/live/cam.flv", gw.http);
    let (header, tags) = ws_flv(&url, 2000).await;
    assert_eq!(&header[..3], b"FLV");
    assert_eq!(
        header.len(),
        13,
        "the first message is the FLV header alone"
    );
    assert_eq!(header[4], 0x05, "audio and video announced");
    let first_coded = tags
        .iter()
        .position(|(_, t)| is_coded_video(t))
        .expect("video frames");
    let before: Vec<&Tag> = tags[..first_coded].iter().map(|(_, t)| t).collect();
    assert!(
        before.iter().any(|t| t.tag_type == TagType::Video),
        "no video sequence header first"
    );
    assert!(
        before.iter().any(|t| t.tag_type == TagType::Audio),
        "no audio sequence header first"
    );
    let first = VideoTag::parse(&tags[first_coded].1.data).expect("a video tag");
    assert!(
        first.is_keyframe(),
        "the first video frame is not a keyframe"
    );
    let video: Vec<u32> = tags
        .iter()
        .filter(|(_, t)| is_coded_video(t))
        .map(|(_, t)| t.timestamp)
        .collect();
    assert!(
        video.windows(2).all(|w| w[0] <= w[1]),
        "video timestamps go backwards"
    );
}

#[test]
fn ffprobe_reads_http_flv() {
    let gw = Gateway::start(&["--no-demo"]);
    let _ffmpeg = publish(&gw, "cam");
    let text = ffprobe_streams(&gw.http_url("cam"));
    assert!(
        text.contains("h264,320,240") && text.contains("aac"),
        "{text}"
    );
}

#[test]
fn unknown_channels_are_404_with_a_json_error() {
    let gw = Gateway::start(&["--no-demo"]);
    let (status, body) = gw.get("/live/nothing.flv");
    assert_eq!(status, 404);
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("nothing")),
        "{body}"
    );
    assert_eq!(gw.get("/healthz"), (200, "ok\n".to_owned()));
}

#[test]
fn api_and_metrics_describe_a_live_channel() {
    let gw = Gateway::start(&["--no-demo"]);
    let _ffmpeg = publish(&gw, "cam");
    std::thread::sleep(Duration::from_millis(2500));
    let c = gw.channel("cam").expect("cam listed");
    assert_eq!(c["source"], "publish");
    assert_eq!(
        (c["width"].as_u64(), c["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert!(
        c["video_codec"]
            .as_str()
            .is_some_and(|s| s.starts_with("avc1.")),
        "{c}"
    );
    assert_eq!(c["audio_codec"], "mp4a.40.2");
    assert!(
        c["fps"].as_f64().is_some_and(|f| (20.0..30.0).contains(&f)),
        "{c}"
    );
    assert_eq!(c["urls"]["rtmp"], gw.rtmp_url("cam"));
    let (_, metrics) = gw.get("/metrics");
    assert!(
        metrics.contains("flashless_live{channel=\"cam\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flashless_received_tags_total{channel=\"cam\"}"),
        "{metrics}"
    );
}

/// After an HTTP-FLV viewer, an RTMP player (rtmpdump) and a request from a foreign
/// page, `/metrics` is valid Prometheus text named by its conventions, and counts all three.
#[test]
fn metrics_follow_prometheus_conventions_and_count_every_protocol() {
    let gw = Gateway::start(&["--no-demo", "--origins", "https://good.example"]);
    let _ffmpeg = publish(&gw, "cam");
    gw.wait_live("cam");
    let request = |origin: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", gw.http)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            s,
            "GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
        )
        .expect("request");
        // Past the headers into the body, so the viewer has been sent media.
        let mut got = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        while got.len() < 8 * 1024 {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        (String::from_utf8_lossy(&got).into_owned(), s)
    };
    // Held open while rtmpdump plays: live tags, past the start-up burst, reach it.
    let (viewer, _viewer) = request("https://good.example");
    assert!(viewer.starts_with("HTTP/1.1 200"), "{viewer}");
    let (refused, _) = request("https://evil.example");
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let rtmpdump = Guard::spawn(
        std::process::Command::new("rtmpdump")
            .args(["-q", "-v", "-r", &gw.rtmp_url("cam"), "-o", "-"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null()),
        "rtmpdump",
    );
    std::thread::sleep(Duration::from_secs(3));
    rtmpdump.signal("TERM", Duration::from_secs(5));

    let (status, metrics) = gw.get("/metrics");
    assert_eq!(status, 200);
    let mut types = std::collections::BTreeMap::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(
                rest.split_once(' ').is_some(),
                "a HELP with no text: {line}"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("a TYPE with a kind");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            if kind == "counter" {
                assert!(
                    name.ends_with("_total"),
                    "a counter not ending in _total: {line}"
                );
            }
            types.insert(name.to_owned(), kind.to_owned());
        } else {
            let (series, value) = line.rsplit_once(' ').expect("a sample: name value");
            assert!(
                value.parse::<f64>().is_ok(),
                "a value that is no number: {line}"
            );
            let name = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').expect("labels closed");
                    for pair in labels.split(',') {
                        let (key, quoted) = pair.split_once('=').expect("label=value");
                        assert!(
                            key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                            "{line}"
                        );
                        assert!(
                            quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'),
                            "{line}"
                        );
                    }
                    name
                }
                None => series,
            };
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{line}"
            );
            assert!(types.contains_key(name), "a sample before its TYPE: {line}");
        }
    }
    let sample = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {metrics}"))
    };
    assert!(
        sample("flashless_sent_bytes_total{channel=\"cam\",protocol=\"rtmp\"}") > 0.0,
        "{metrics}"
    );
    assert!(
        sample("flashless_sent_bytes_total{channel=\"cam\",protocol=\"http\"}") > 0.0,
        "{metrics}"
    );
    assert!(sample("flashless_received_bytes_total{channel=\"cam\"}") > 0.0);
    assert_eq!(sample("flashless_denied_total{reason=\"origin\"}"), 1.0);
    assert_eq!(sample("flashless_denied_total{reason=\"token\"}"), 0.0);
    assert_eq!(
        sample(&format!(
            "flashless_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    assert!(sample("process_resident_memory_bytes") > 0.0);
    assert!(sample("process_start_time_seconds") > 1.0e9);
}

/// A viewer that never reads must not delay one that does.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_viewer_does_not_delay_a_fast_one() {
    let gw = Gateway::start(&["--no-demo", "--viewer-queue", "64"]);
    let _ffmpeg = publish(&gw, "cam");
    // Small receive buffers so the stalled viewer's socket fills fast.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).ok();
    let mut stalled = socket
        .connect(([127, 0, 0, 1], gw.http).into())
        .await
        .expect("connecting");
    tokio::io::AsyncWriteExt::write_all(
        &mut stalled,
        b"GET /live/cam.flv HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .expect("request");

    let url = format!("ws://127.0.0.1:{}/live/cam.flv", gw.http);
    let (_, tags) = ws_flv(&url, 4000).await;
    // Lag: how far arrival (wall clock) drifts behind media time, after the cached GOP burst.
    let live: Vec<&(Instant, Tag)> = tags.iter().filter(|(_, t)| is_coded_video(t)).collect();
    let (t0, m0) = (live[live.len() / 2].0, live[live.len() / 2].1.timestamp);
    let worst = live[live.len() / 2..]
        .iter()
        .map(|(at, t)| at.duration_since(t0).as_millis() as i64 - i64::from(t.timestamp - m0))
        .max()
        .unwrap_or(0);
    assert!(worst < 500, "the fast viewer fell {worst} ms behind");
    drop(stalled);
}

#[test]
fn a_publisher_sending_garbage_is_closed_and_others_play_on() {
    let gw = Gateway::start(&["--no-demo"]);
    let _ffmpeg = publish(&gw, "cam");
    let mut bad = rtmp_after_handshake(gw.rtmp);
    // A type-1 chunk opening chunk stream 5: it has no header to be relative to.
    bad.write_all(&[0x45, 0, 0, 0, 0, 0, 4, 0x14, 1, 2, 3, 4])
        .expect("garbage");
    let mut rest = Vec::new();
    let _ = bad.read_to_end(&mut rest);
    let log = gw.log_saying("closed: ");
    assert!(
        log.contains("first chunk on chunk stream 5"),
        "no logged reason:\n{log}"
    );
    // The good channel still plays.
    let text = ffprobe_streams(&gw.http_url("cam"));
    assert!(text.contains("h264"), "{text}");
}

/// A viewer who opens the channel while its publisher is away gets the last session's
/// headers, kept for such a viewer, and waits for a keyframe. The publisher back with
/// sound only: the viewer gets the sound. Before, it waited for a keyframe that the
/// new session never sends, and got nothing at all.
#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_who_joins_between_sessions_gets_a_session_back_with_sound_only() {
    let gw = Gateway::start(&["--no-demo"]);
    let publisher = publish(&gw, "cam");
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(publisher);
    gw.log_saying("closed");
    let (mut ws, _header) = ws_viewer(&gw.ws_url("cam")).await;
    let _sound = ffmpeg_publish_tracks(&gw.rtmp_url("cam"), false, true);
    let mut reader = FlvReader::tags_only();
    let mut sounds = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sounds < 50 {
        let msg = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .unwrap_or_else(|_| panic!("{sounds} sound frames in 10 s"));
        let Some(Ok(Message::Binary(data))) = msg else {
            continue;
        };
        reader.feed(&data);
        while let Some(item) = reader.poll_item().expect("whole FLV tags") {
            if let Item::Tag(tag) = item
                && tag.tag_type == TagType::Audio
                && AudioTag::parse(&tag.data)
                    .is_ok_and(|a| matches!(a.packet, AudioPacket::CodedFrames))
            {
                sounds += 1;
            }
        }
    }
}

/// A publisher that sends a minute of media as fast as the link goes (ffmpeg without
/// `-re`, a common mistake) is read at real time after its burst: a viewer receives the
/// media as it plays, not a fast-forward of it, and the gateway's traffic stays that
/// of one live stream. Before, the whole minute reached every viewer in under a second.
#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_faster_than_real_time_is_read_at_real_time() {
    let dir = TempDir::new("flood");
    let clip = test_clip(&dir, "clip.flv", 60.0, true, &[]);
    let gw = Gateway::start(&["--no-demo"]);
    let url = gw.rtmp_url("cam");
    let _ffmpeg = Guard::spawn(
        std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
            .arg(&clip)
            .args(["-c", "copy", "-f", "flv", &url]),
        "ffmpeg (no -re)",
    );
    gw.wait_live("cam");
    let (mut ws, _header) = ws_viewer(&gw.ws_url("cam")).await;
    let mut reader = FlvReader::tags_only();
    let mut newest = 0;
    // The newest picture's timestamp at each wall-clock mark.
    let began = Instant::now();
    let marks = [Duration::from_secs(3), Duration::from_secs(9)];
    let mut at_marks = vec![];
    while at_marks.len() < marks.len() {
        let mark = began + marks[at_marks.len()];
        match tokio::time::timeout_at(mark.into(), ws.next()).await {
            Err(_) => at_marks.push(newest),
            Ok(Some(Ok(Message::Binary(data)))) => {
                reader.feed(&data);
                while let Some(item) = reader.poll_item().expect("whole FLV tags") {
                    if let Item::Tag(tag) = item
                        && is_coded_video(&tag)
                    {
                        newest = newest.max(tag.timestamp);
                    }
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("the stream ended: {other:?}"),
        }
    }
    let media_ms = at_marks[1] - at_marks[0];
    assert!(
        (5000..=7500).contains(&media_ms),
        "{media_ms} ms of media in 6 s (newest picture at the marks: {at_marks:?})"
    );
    // Said, naming the channel.
    let log = gw.log_saying("faster than real time");
    assert!(log.contains("cam"), "{log}");
}

/// The tags of a 4 s test clip, every one at timestamp 0: (the headers, the media).
fn frozen_clip(dir: &TempDir) -> (Vec<Tag>, Vec<Tag>) {
    let clip = test_clip(dir, "clip.flv", 4.0, true, &[]);
    let mut reader = FlvReader::new();
    reader.feed(&std::fs::read(&clip).expect("the clip"));
    let mut tags = vec![];
    while let Some(item) = reader.poll_item().expect("the clip's tags") {
        if let Item::Tag(tag) = item {
            tags.push(Tag {
                timestamp: 0,
                ..tag
            });
        }
    }
    let media = tags.split_off(2);
    (tags, media)
}

/// A publisher of channel `cam` sending `headers`, then `media` over and over as fast as
/// the link goes, until dropped. Its thread is left to end with the gateway: what the
/// kernel's buffers hold of a throttled flood takes the gateway minutes to read.
struct Flood(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Flood {
    fn start(gw: &Gateway, headers: Vec<Tag>, media: Vec<Tag>) -> Flood {
        let url = gw.rtmp_url("cam");
        let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        {
            let flooding = flooding.clone();
            std::thread::spawn(move || {
                let mut publisher =
                    flashless_lab::mangle::publish::Publisher::connect(&url).expect("publishing");
                for tag in &headers {
                    publisher.send(tag).expect("sending");
                }
                while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                    for tag in &media {
                        if publisher.send(tag).is_err() {
                            return;
                        }
                    }
                }
                publisher.close();
            });
        }
        gw.wait_live("cam");
        Flood(flooding)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Wall-clock marks after a start, the gateway's allowed bursts long passed by the first.
const MARKS: [Duration; 2] = [Duration::from_secs(4), Duration::from_secs(10)];

/// The bytes a second a WS-FLV viewer of `cam` gets between [`MARKS`].
async fn viewer_rate(gw: &Gateway) -> u64 {
    let (mut ws, _header) = ws_viewer(&gw.ws_url("cam")).await;
    let began = Instant::now();
    let mut got = 0u64;
    let mut at_marks = vec![];
    while at_marks.len() < MARKS.len() {
        let mark = began + MARKS[at_marks.len()];
        match tokio::time::timeout_at(mark.into(), ws.next()).await {
            Err(_) => at_marks.push(got),
            Ok(Some(Ok(Message::Binary(data)))) => got += data.len() as u64,
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("the stream ended: {other:?}"),
        }
    }
    (at_marks[1] - at_marks[0]) / (MARKS[1] - MARKS[0]).as_secs()
}

/// A publisher whose timestamps pass the pacing (frozen: every tag at 0, as fast as the
/// link goes) is still read no faster than `max_publish_bitrate`, after its burst; the
/// log says so, naming the channel, and the channel's metrics count the time held.
#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_over_the_bit_rate_cap_is_read_at_the_cap() {
    const CAP_BYTES_PER_S: u64 = 250_000;
    let dir = TempDir::new("frozen");
    let (headers, media) = frozen_clip(&dir);
    let gw = Gateway::start(&["--no-demo", "--max-publish-bitrate", "2Mbit/s"]);
    let flood = Flood::start(&gw, headers, media);
    let rate = viewer_rate(&gw).await;
    drop(flood);
    assert!(
        (CAP_BYTES_PER_S / 2..=CAP_BYTES_PER_S * 5 / 4).contains(&rate),
        "{rate} bytes a second reached the viewer; the cap is {CAP_BYTES_PER_S}"
    );
    let log = gw.log_saying("over max_publish_bitrate");
    assert!(log.contains("cam"), "{log}");
    // Held back most of the time since its burst.
    let held = gw.metric("flashless_publish_held_seconds_total{channel=\"cam\"}");
    assert!(held >= 4.0, "held back {held} s");
}

/// Tiny messages pass the pacing (frozen timestamps) and the bit-rate cap (a few bytes
/// each), yet each goes to every viewer: past its burst a publisher is read at 2,000
/// messages a second. Found by review: six million tiny messages from one publisher
/// kept both cores busy for as long as they came.
#[test]
fn a_publisher_of_tiny_messages_is_read_at_the_message_rate() {
    let dir = TempDir::new("tiny");
    let (headers, _) = frozen_clip(&dir);
    let tiny = Tag {
        tag_type: TagType::Video,
        timestamp: 0,
        data: bytes::Bytes::from_static(&[0x17, 0x01, 0, 0, 0]),
    };
    let gw = Gateway::start(&["--no-demo"]);
    let flood = Flood::start(&gw, headers, vec![tiny; 1000]);
    let received = || gw.metric("flashless_received_tags_total{channel=\"cam\"}");
    let began = Instant::now();
    std::thread::sleep(MARKS[0]);
    let first = received();
    std::thread::sleep(MARKS[1] - began.elapsed());
    let rate = (received() - first) / (MARKS[1] - MARKS[0]).as_secs_f64();
    drop(flood);
    assert!(
        (1_500.0..=2_500.0).contains(&rate),
        "{rate} tags a second received; the rate is 2,000"
    );
    let log = gw.log_saying("over 2000 messages a second");
    assert!(log.contains("cam"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_viewers_and_exits_within_seconds() {
    let gw = Gateway::start(&["--no-demo"]);
    let _ffmpeg = publish(&gw, "cam");
    let url = format!("ws://127.0.0.1:{}/live/cam.flv", gw.http);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("WebSocket upgrade");
    assert!(ws.next().await.is_some(), "no first message");
    let mut http = tokio::net::TcpStream::connect(("127.0.0.1", gw.http))
        .await
        .expect("connecting");
    tokio::io::AsyncWriteExt::write_all(
        &mut http,
        b"GET /live/cam.flv HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .expect("request");
    let mut first = [0u8; 512];
    let n = tokio::io::AsyncReadExt::read(&mut http, &mut first)
        .await
        .expect("a response");
    assert!(
        first[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&first[..n])
    );
    let (status, took) = tokio::task::spawn_blocking(move || gw.stop("TERM"))
        .await
        .expect("stopping");
    assert!(status.success(), "exited with {status}");
    assert!(took < Duration::from_secs(6), "took {took:?} to stop");
    // The viewer's connection ends rather than hanging.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the viewer's socket stayed open after shutdown"
    );
}

#[test]
fn a_bare_gateway_serves_the_demo_channel() {
    let gw = Gateway::start(&[]);
    gw.wait_live("demo");
    let text = ffprobe_streams(&gw.http_url("demo"));
    assert!(
        text.contains("h264,640,360") && text.contains("aac"),
        "{text}"
    );
    let (status, page) = gw.get("/");
    assert_eq!(status, 200);
    assert!(
        page.contains("flashless") && page.contains("/web/app.js"),
        "{page}"
    );
    // A link to a listed channel says so in the page, which then starts its player
    // without waiting for the list; one to an unknown channel does not.
    let (status, page) = gw.get("/watch/demo");
    assert_eq!(status, 200);
    assert!(page.contains("<html lang=\"en\" data-listed>"), "{page}");
    let (status, page) = gw.get("/embed/demo");
    assert_eq!(status, 200);
    assert!(page.contains("data-listed"), "{page}");
    let (status, page) = gw.get("/watch/nothing-here");
    assert_eq!(status, 200);
    assert!(!page.contains("data-listed"), "{page}");
}

/// A viewer that stops reading is disconnected once its writes stall past `--write-timeout`.
#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_that_stops_reading_is_disconnected() {
    let gw = Gateway::start(&["--no-demo", "--write-timeout", "1"]);
    // Random noise as Sorenson H.263 keyframes: ~80 Mbit/s, so socket buffers fill in a moment.
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args([
        "-v",
        "error",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "nullsrc=s=640x360:r=25,geq=random(1)*255:128:128",
    ])
    .args(["-c:v", "flv1", "-q:v", "2", "-g", "1", "-f", "flv"])
    .arg(gw.rtmp_url("noise"))
    .stdin(std::process::Stdio::null());
    let _ffmpeg = Guard::spawn(&mut cmd, "ffmpeg");
    gw.wait_live("noise");
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).ok();
    let mut stalled = socket
        .connect(([127, 0, 0, 1], gw.http).into())
        .await
        .expect("connecting");
    tokio::io::AsyncWriteExt::write_all(
        &mut stalled,
        b"GET /live/noise.flv HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .expect("request");
    let viewers = |gw: &Gateway| gw.channel("noise").and_then(|c| c["viewers"].as_u64());
    let start = Instant::now();
    while viewers(&gw) != Some(1) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the viewer never registered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while viewers(&gw) != Some(0) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "a viewer that reads nothing is still connected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stalled);
}

/// The demo loops every ~6 s; 7 s pulled cross a seam wherever they start. The
/// FLV keeps the timestamps as the gateway sent them (an MP4 would have any
/// hole filled by the remuxer): each AAC frame follows the last by one frame.
#[test]
fn the_demo_crosses_its_loop_seam_without_an_audio_hole() {
    let gw = Gateway::start(&[]);
    gw.wait_live("demo");
    let dir = TempDir::new("demo-seam");
    let out = dir.path("seam.flv");
    let result = output_of(
        flashless()
            .args(["dump", &gw.rtmp_url("demo"), "-q", "-o"])
            .arg(&out)
            .args(["--duration", "7"]),
        "flashless dump",
    );
    assert!(
        result.status.success(),
        "dump failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let mut reader = FlvReader::new();
    reader.feed(&std::fs::read(&out).expect("the dump"));
    let mut audio = Vec::new();
    while let Some(item) = reader.poll_item().expect("a valid FLV") {
        if let Item::Tag(t) = item {
            let coded =
                AudioTag::parse(&t.data).is_ok_and(|a| a.packet == AudioPacket::CodedFrames);
            if t.tag_type == TagType::Audio && coded {
                audio.push(f64::from(t.timestamp));
            }
        }
    }
    let frame = 1024.0 * 1000.0 / 44_100.0;
    assert!(
        audio.len() as f64 * frame > 6500.0,
        "only {} audio frames",
        audio.len()
    );
    for w in audio.windows(2) {
        let step = w[1] - w[0];
        assert!(
            (step - frame).abs() <= 1.0,
            "audio steps {step} ms at {} ms",
            w[0]
        );
    }
}

/// A WS-FLV viewer's pings are answered with their bytes, and its close with a close,
/// between the media messages.
#[tokio::test(flavor = "multi_thread")]
async fn ws_flv_answers_pings_and_a_close() {
    use futures_util::SinkExt;
    let gw = Gateway::start(&[]);
    gw.wait_live("demo");
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/live/demo.flv", gw.http))
            .await
            .expect("WebSocket upgrade");
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("a ping");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut media = 0;
    loop {
        let msg = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .expect("a pong within 10 s")
            .expect("the connection open")
            .expect("a message");
        match msg {
            Message::Binary(_) => media += 1,
            Message::Pong(payload) => {
                assert_eq!(&payload[..], b"are you there");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(media >= 1, "no media before the pong");
    ws.close(None).await.expect("a close");
    // The gateway answers the close and ends the connection: the stream ends.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the gateway did not end the connection");
}

/// WS-FLV messages after the start burst: for each, the media time its coded tags span
/// (last minus first timestamp) and every coded video timestamp, for `media_ms` of media.
async fn ws_flv_messages(url: &str, media_ms: u32) -> (Vec<u32>, Vec<u32>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket upgrade");
    let mut reader = FlvReader::new();
    let (mut spans, mut video) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    // The header, then the start burst: their timing is not the live feed's.
    let mut skip = 2;
    while video.last().zip(video.first()).map_or(0, |(l, f)| l - f) < media_ms {
        let msg = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .expect("media within 20 s")
            .expect("the connection open")
            .expect("a message");
        let Message::Binary(data) = msg else { continue };
        reader.feed(&data);
        let mut coded = Vec::new();
        while let Some(item) = reader.poll_item().expect("whole FLV tags") {
            if let Item::Tag(tag) = item
                && tag.data.len() > 2
                && tag.data[1] == 1
            {
                if tag.tag_type == TagType::Video {
                    video.push(tag.timestamp);
                }
                coded.push(tag.timestamp);
            }
        }
        if skip > 0 {
            skip -= 1;
            video.clear();
            continue;
        }
        if let (Some(min), Some(max)) = (coded.iter().min(), coded.iter().max()) {
            spans.push(max - min);
        }
    }
    (spans, video)
}

#[tokio::test(flavor = "multi_thread")]
async fn coalescing_sends_a_viewer_each_group_in_one_message_and_every_frame() {
    let gw = Gateway::start(&["--no-demo", "--coalesce-ms", "200"]);
    let _ffmpeg = publish(&gw, "cam");
    let url = format!("ws://127.0.0.1:{}/live/cam.flv", gw.http);
    let (spans, video) = ws_flv_messages(&url, 4000).await;
    // 4 s of media in groups of 200 ms is about 20 messages (fewer if a busy gateway's
    // viewer found two groups queued); one per frame would be 100.
    assert!(
        (10..=30).contains(&spans.len()),
        "{} messages for 4 s of media: {spans:?}",
        spans.len()
    );
    let grouped = spans.iter().filter(|&&span| span >= 150).count();
    assert!(
        grouped * 10 >= spans.len() * 8,
        "most messages should span the 200 ms gathered: {spans:?}"
    );
    // Nothing held back for good or dropped: the frames come 40 ms apart, each once.
    assert!(
        video.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= 80),
        "video frames missing or repeated: {video:?}"
    );
}
