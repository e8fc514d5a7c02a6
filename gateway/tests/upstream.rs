//! Upstreams feeding a channel, against real peers: nginx-rtmp with ffmpeg publishing,
//! nginx terminating TLS, a minimal HTTP-FLV server and a looped file; watched through
//! the hub by a test viewer that records every tag it gets.

mod peers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use flashless_core::flv::{FlvReader, Item, write_header, write_tag};
use flashless_core::stream::Role;
use flashless_gateway::client::transport;
use flashless_gateway::hub::{Hub, Limits, Source, UpstreamState};
use flashless_gateway::ingest::{self, PullOptions, UpstreamSpec};
use flashless_gateway::shutdown;
use peers::upstream::{NginxRtmp, Recorder, Seen, States, TestCa, TlsTerminator, pull, until};
use peers::{Gateway, ffmpeg_publish, ffprobe_streams, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

const CLIP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/h264_aac.flv");

/// Video frame timestamps, in the order received.
fn video_ts(seen: &[Seen]) -> Vec<u32> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Tag {
                kind, video, ts, ..
            } if *video && kind.is_coded() => Some(*ts),
            _ => None,
        })
        .collect()
}

fn assert_rising(ts: &[u32]) {
    for w in ts.windows(2) {
        assert!(w[1] >= w[0], "timestamp {} after {}: {ts:?}", w[1], w[0]);
    }
}

/// Metadata and both sequence headers came before the first frame, and that frame is a keyframe.
fn assert_decodable_start(seen: &[Seen]) {
    let position = |want: Role| {
        seen.iter()
            .position(|s| matches!(s, Seen::Tag { kind, .. } if *kind == want))
    };
    let first_frame = seen
        .iter()
        .position(|s| matches!(s, Seen::Tag { kind, .. } if kind.is_coded()))
        .expect("a frame");
    for want in [Role::Metadata, Role::VideoHeader, Role::AudioHeader] {
        let at = position(want).unwrap_or_else(|| panic!("no {want:?} in {seen:?}"));
        assert!(
            at < first_frame,
            "{want:?} after the first frame: {:?}",
            &seen[..12.min(seen.len())]
        );
    }
    let first_video = seen
        .iter()
        .find_map(|s| match s {
            Seen::Tag { kind, video, .. } if *video && kind.is_coded() => Some(*kind),
            _ => None,
        })
        .expect("a video frame");
    assert_eq!(first_video, Role::Keyframe);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_pull_starts_viewers_with_headers_then_a_keyframe() {
    let nginx = NginxRtmp::start_on(free_port());
    let _ffmpeg = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/cam", nginx.port), &[]);
    let (channel, _stop, _task) = pull(
        &format!("rtmp://127.0.0.1:{}/live/cam live=1", nginx.port),
        PullOptions::default(),
    );
    let viewer = Recorder::watch(&channel);
    until(Duration::from_secs(15), "50 frames", || {
        viewer.frames() >= 50
    })
    .await;
    let seen = viewer.seen();
    assert_decodable_start(&seen);
    assert_rising(&video_ts(&seen));
    assert_eq!(channel.snapshot().upstream, UpstreamState::Live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_pull_resumes_after_the_origin_restarts() {
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/cam");
    let nginx = NginxRtmp::start_on(port);
    let ffmpeg = ffmpeg_publish(&url, &[]);
    let (channel, _stop, _task) = pull(&format!("{url} live=1"), PullOptions::default());
    let states = States::record(&channel);
    let viewer = Recorder::watch(&channel);
    until(Duration::from_secs(15), "2 s of frames", || {
        viewer.frames() >= 100
    })
    .await;

    let killed = viewer.seen().len();
    drop((ffmpeg, nginx));
    until(Duration::from_secs(5), "Retrying", || {
        states.retrying_error().is_some()
    })
    .await;
    let _nginx = NginxRtmp::start_on(port);
    let _ffmpeg = ffmpeg_publish(&url, &[]);
    let restarted = Instant::now();
    until(Duration::from_secs(15), "frames after the restart", || {
        viewer.frames() >= 100 + 50
    })
    .await;
    let resumed_in = restarted.elapsed();
    assert!(resumed_in < Duration::from_secs(12), "{resumed_in:?}");

    let seen = viewer.seen();
    assert_rising(&video_ts(&seen));
    let after = seen.get(killed..).unwrap_or_default();
    assert!(
        after.iter().any(|s| matches!(
            s,
            Seen::Tag {
                kind: Role::VideoHeader,
                ..
            }
        )),
        "no new sequence header after the restart"
    );
    // The session's end, then the next one's start before its first tag.
    let ended = after.iter().position(|s| matches!(s, Seen::Unpublished));
    let began = after.iter().position(|s| matches!(s, Seen::Published));
    let header = after.iter().position(|s| {
        matches!(
            s,
            Seen::Tag {
                kind: Role::VideoHeader,
                ..
            }
        )
    });
    assert!(
        ended.is_some() && ended < began && began < header,
        "unpublished at {ended:?}, published at {began:?}, header at {header:?}"
    );
    let error = states.retrying_error().unwrap_or_default();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_connects_only_while_someone_watches() {
    let origin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = origin.local_addr().unwrap().port();
    let options = PullOptions {
        on_demand: true,
        idle_timeout: Duration::from_secs(1),
        ..PullOptions::default()
    };
    // A long stall timeout: the silent origin must not be what ends the connection.
    let (channel, _stop, _task) = pull(
        &format!("rtmp://127.0.0.1:{port}/live/cam timeout=60"),
        options,
    );
    let accept = || tokio::time::timeout(Duration::from_millis(1500), origin.accept());
    assert!(accept().await.is_err(), "connected before any viewer");
    assert_eq!(channel.snapshot().upstream, UpstreamState::Idle);

    let viewer = Recorder::watch(&channel);
    let (mut conn, _) = accept().await.expect("no connection for a viewer").unwrap();
    let mut c0c1 = [0; 1537];
    conn.read_exact(&mut c0c1).await.expect("C0 and C1");
    assert_eq!(c0c1[0], 3, "RTMP version");

    drop(viewer);
    let left = Instant::now();
    let mut rest = [0; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut rest))
        .await
        .expect("still connected 5 s after the last viewer left");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let idle = left.elapsed();
    assert!(
        idle >= Duration::from_millis(900),
        "disconnected after {idle:?}"
    );
    until(Duration::from_secs(1), "Idle", || {
        channel.snapshot().upstream == UpstreamState::Idle
    })
    .await;

    let _again = Recorder::watch(&channel);
    assert!(accept().await.is_ok(), "no reconnection for a new viewer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_origin_is_a_stall_and_retried() {
    let origin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = origin.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let held = accepted.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = origin.accept().await {
            held.lock().unwrap().push(conn);
        }
    });
    let (channel, _stop, _task) = pull(
        &format!("rtmp://127.0.0.1:{port}/live/cam timeout=1"),
        PullOptions::default(),
    );
    let states = States::record(&channel);
    until(Duration::from_secs(4), "a stall", || {
        states.retrying_error().is_some()
    })
    .await;
    let error = states.retrying_error().unwrap_or_default();
    // The socket's read timeout and the media timeout are both 1 s: either may name it.
    assert!(
        error.contains("no data for 1s") || error.contains("no media for 1s"),
        "{error}"
    );
    until(Duration::from_secs(4), "a second connection", || {
        accepted.lock().unwrap().len() >= 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_loops_in_real_time_with_rising_timestamps() {
    let (channel, stop, task) = pull(CLIP, PullOptions::default());
    let viewer = Recorder::watch(&channel);
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let seen = viewer.seen();
    assert_decodable_start(&seen);
    let video = video_ts(&seen);
    assert_rising(&video);
    // Two loop boundaries passed: the clip is 2.1 s long.
    let last = *video.last().expect("frames");
    assert!(last > 4300, "last video timestamp {last}");

    // ≈ as much media as wall time between the first frame and the last.
    let frames: Vec<(Instant, u32)> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Tag { at, kind, ts, .. } if kind.is_coded() => Some((*at, *ts)),
            _ => None,
        })
        .collect();
    let (first, end) = (frames[0], frames[frames.len() - 1]);
    let wall = end.0 - first.0;
    let media = Duration::from_millis(u64::from(end.1 - first.1));
    let skew = wall.abs_diff(media);
    assert!(
        skew < Duration::from_millis(400),
        "{media:?} of media in {wall:?}"
    );

    let headers = |k: Role| {
        seen.iter()
            .filter(|s| matches!(s, Seen::Tag { kind, .. } if *kind == k))
            .count()
    };
    for k in [Role::Metadata, Role::VideoHeader, Role::AudioHeader] {
        assert_eq!(headers(k), 1, "{k:?} repeated although unchanged");
    }
    assert!(!seen.iter().any(|s| matches!(s, Seen::Unpublished)));

    stop.fire();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the upstream task did not end on shutdown")
        .expect("the upstream task panicked");
    assert_eq!(channel.snapshot().upstream, UpstreamState::Idle);
    until(Duration::from_secs(1), "Unpublished", || {
        viewer.seen().iter().any(|s| matches!(s, Seen::Unpublished))
    })
    .await;
}

/// Serves each GET with `status`; a 200 carries the test clip, chunked in odd pieces.
async fn http_origin(status: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    http_origin_of(status, std::fs::read(CLIP).unwrap()).await
}

/// Serves each GET with `status`; a 200 carries `clip` as fast as the link goes.
async fn http_origin_of(status: &'static str, clip: Vec<u8>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut byte = [0];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            if status != "200 OK" {
                let _ = conn
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
                continue;
            }
            let header = "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\n\
                          Transfer-Encoding: chunked\r\n\r\n";
            let _ = conn.write_all(header.as_bytes()).await;
            for piece in clip.chunks(997) {
                let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
                chunk.extend_from_slice(piece);
                chunk.extend_from_slice(b"\r\n");
                if conn.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let _ = conn.write_all(b"0\r\n\r\n").await;
        }
    });
    (port, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_flv_pull_feeds_the_channel_every_tag() {
    let (port, requests) = http_origin("200 OK").await;
    let (channel, _stop, _task) = pull(
        &format!("http://127.0.0.1:{port}/live/cam.flv?token=t"),
        PullOptions::default(),
    );
    let viewer = Recorder::watch(&channel);
    let ended = || viewer.seen().iter().any(|s| matches!(s, Seen::Unpublished));
    until(Duration::from_secs(10), "the end of the response", ended).await;
    let seen = viewer.seen();
    assert_decodable_start(&seen);
    let first_response = seen
        .iter()
        .take_while(|s| !matches!(s, Seen::Unpublished))
        .filter(|s| matches!(s, Seen::Tag { kind, .. } if kind.is_coded()))
        .count();
    // The clip's 50 video frames, its AVC end of sequence and 88 audio frames: every one.
    assert_eq!(first_response, 139);
    let request = requests.lock().unwrap()[0].clone();
    assert!(
        request.starts_with("GET /live/cam.flv?token=t HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains(&format!("host: 127.0.0.1:{port}"))
    );
}

/// The test clip played `times` times end to end, its timestamps going on: an FLV
/// file of that many clips' length.
fn clip_looped(times: u32) -> Vec<u8> {
    let mut reader = FlvReader::new();
    reader.feed(&std::fs::read(CLIP).unwrap());
    let mut once = Vec::new();
    let mut header = None;
    while let Ok(Some(item)) = reader.poll_item() {
        match item {
            Item::Header(h) => header = Some(h),
            Item::Tag(t) => once.push(t),
        }
    }
    let span = once.iter().map(|t| t.timestamp).max().unwrap() + 40;
    let mut out = BytesMut::new();
    write_header(&header.expect("an FLV header"), &mut out);
    for i in 0..times {
        for t in &once {
            let mut t = t.clone();
            t.timestamp += i * span;
            write_tag(&t, &mut out);
        }
    }
    out.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_flv_origin_that_sends_faster_than_real_time_is_read_at_real_time() {
    // 30 s of media sent at once (a file served as fast as the link goes): the first
    // 10 s pass at once (a cached GOP, a reconnect's backlog), the rest at real time.
    let (port, _) = http_origin_of("200 OK", clip_looped(15)).await;
    let (channel, _stop, _task) = pull(
        &format!("http://127.0.0.1:{port}/live/cam.flv"),
        PullOptions::default(),
    );
    let viewer = Recorder::watch(&channel);
    until(Duration::from_secs(10), "the first frame", || {
        !video_ts(&viewer.seen()).is_empty()
    })
    .await;
    let first = video_ts(&viewer.seen())[0];
    let newest = || video_ts(&viewer.seen()).last().copied().unwrap_or(first) - first;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let at_4 = newest();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let at_7 = newest();
    // Ahead of the wall clock by the burst at most (and 2 % for a fast source clock).
    assert!(
        (10_000..=15_500).contains(&at_4),
        "{at_4} ms of media in 4 s"
    );
    assert!(
        (2_000..=4_000).contains(&(at_7 - at_4)),
        "{} ms of media in 3 s",
        at_7 - at_4
    );
    assert_rising(&video_ts(&viewer.seen()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_flv_not_found_is_retried_with_the_status_named() {
    let (port, requests) = http_origin("404 Not Found").await;
    let (channel, _stop, _task) = pull(
        &format!("http://127.0.0.1:{port}/live/none.flv"),
        PullOptions::default(),
    );
    let states = States::record(&channel);
    until(Duration::from_secs(5), "two requests", || {
        requests.lock().unwrap().len() >= 2
    })
    .await;
    let error = states.retrying_error().expect("Retrying");
    assert!(error.contains("404 Not Found"), "{error}");
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmps_pull_through_a_tls_terminator() {
    let ca = TestCa::generate();
    transport::trust_pem_file(&ca.ca_pem).expect("trusting the test CA");
    let nginx = NginxRtmp::start_on(free_port());
    let tls = TlsTerminator::start(nginx.port, &ca);
    let _ffmpeg = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/cam", nginx.port), &[]);
    let (channel, _stop, _task) = pull(
        &format!("rtmps://127.0.0.1:{}/live/cam live=1", tls.port),
        PullOptions::default(),
    );
    let viewer = Recorder::watch(&channel);
    until(Duration::from_secs(15), "25 frames", || {
        viewer.frames() >= 25
    })
    .await;
    assert_decodable_start(&viewer.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_flv_pull_through_a_tls_terminator() {
    let ca = TestCa::generate();
    transport::trust_pem_file(&ca.ca_pem).expect("trusting the test CA");
    let (port, _) = http_origin("200 OK").await;
    let tls = TlsTerminator::start(port, &ca);
    let (channel, _stop, _task) = pull(
        &format!("https://127.0.0.1:{}/live/cam.flv", tls.port),
        PullOptions::default(),
    );
    let viewer = Recorder::watch(&channel);
    until(Duration::from_secs(10), "138 frames", || {
        viewer.frames() >= 138
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_an_untrusted_certificate_is_refused() {
    // A CA nobody adds to the trusted roots.
    let ca = TestCa::generate();
    let (port, requests) = http_origin("200 OK").await;
    let tls = TlsTerminator::start(port, &ca);
    let (channel, _stop, _task) = pull(
        &format!("https://127.0.0.1:{}/live/cam.flv", tls.port),
        PullOptions::default(),
    );
    let states = States::record(&channel);
    until(Duration::from_secs(5), "Retrying", || {
        states.retrying_error().is_some()
    })
    .await;
    let error = states.retrying_error().unwrap_or_default();
    assert!(error.contains("certificate"), "{error}");
    assert!(requests.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_file_is_retried_with_the_byte_offset_named() {
    let dir = peers::TempDir::new("corrupt");
    let path = dir.path("bad.flv");
    let mut clip = std::fs::read(CLIP).unwrap();
    // The first tag's type byte, after the 9-byte header and PreviousTagSize0.
    clip[13] = 0x42;
    std::fs::write(&path, clip).unwrap();
    let (channel, _stop, _task) = pull(&format!("file:{}", path.display()), PullOptions::default());
    let states = States::record(&channel);
    until(Duration::from_secs(3), "Retrying", || {
        states.retrying_error().is_some()
    })
    .await;
    let error = states.retrying_error().unwrap_or_default();
    assert!(
        error.contains("bad.flv") && error.contains("byte 13"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_someone_publishes_to_is_left_alone() {
    let hub = Hub::new(Limits::default());
    let channel = hub.get_or_create("taken", Source::Pull);
    assert!(channel.begin_session(), "the test publisher's claim");
    let (_trigger, shutdown) = shutdown::channel();
    let spec = UpstreamSpec::parse(CLIP).unwrap();
    tokio::spawn(ingest::run(
        spec,
        PullOptions::default(),
        channel.clone(),
        shutdown,
    ));
    let states = States::record(&channel);
    until(Duration::from_secs(3), "Retrying", || {
        states.retrying_error().is_some()
    })
    .await;
    let error = states.retrying_error().unwrap_or_default();
    assert!(error.contains("already fed"), "{error}");
    assert_eq!(
        channel
            .counters
            .tags_in
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// Origin → edge tiering with the gateway itself: two edges pull the origin's channel
/// over HTTP-FLV on demand, and viewers play through an edge.
#[test]
fn edges_pull_an_origin_gateway_on_demand() {
    let origin = Gateway::start(&[]);
    origin.wait_live("demo");
    let source = format!("tv=http://127.0.0.1:{}/live/demo.flv", origin.http);
    let edges: Vec<Gateway> = (0..2)
        .map(|_| Gateway::start(&["--no-demo", "--on-demand", "--channel", &source]))
        .collect();
    for edge in &edges {
        assert_eq!(
            edge.channel("tv").map(|c| c["state"].clone()),
            Some("idle".into()),
            "pulled before anyone watched"
        );
    }
    let text = ffprobe_streams(&edges[1].http_url("tv"));
    assert!(
        text.contains("h264,640,360") && text.contains("aac"),
        "{text}"
    );
    // Only the edge that was watched pulled from the origin.
    assert_eq!(
        edges[0].channel("tv").map(|c| c["state"].clone()),
        Some("idle".into())
    );
    let (_, metrics) = origin.get("/metrics");
    assert!(
        metrics.contains("flashless_sent_bytes_total{channel=\"demo\",protocol=\"http\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_flv_origin_of_tiny_messages_is_read_at_the_message_rate() {
    // Tiny frames at a frozen timestamp pass pacing, yet each would go to every viewer:
    // past a burst of 20,000 the pull reads 2,000 a second, as a publisher is read.
    let mut clip = clip_looped(1);
    let tiny = flashless_core::flv::Tag {
        tag_type: flashless_core::flv::TagType::Video,
        timestamp: 1000,
        data: bytes::Bytes::from_static(&[0x27, 0x01, 0, 0, 0]),
    };
    let mut out = BytesMut::new();
    for _ in 0..60_000 {
        write_tag(&tiny, &mut out);
    }
    clip.extend_from_slice(&out);
    let (port, _) = http_origin_of("200 OK", clip).await;
    let (channel, _stop, _task) = pull(
        &format!("http://127.0.0.1:{port}/live/cam.flv"),
        PullOptions::default(),
    );
    let tags = || {
        channel
            .counters
            .tags_in
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    until(Duration::from_secs(10), "the burst", || tags() >= 20_000).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let from = tags();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rate = (tags() - from) as f64 / 3.0;
    assert!(
        (1_500.0..=2_500.0).contains(&rate),
        "{rate} tags a second; the rate is 2,000"
    );
}
