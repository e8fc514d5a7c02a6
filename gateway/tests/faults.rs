//! Faults the gateway must survive: a slow, stalling link to the origin, viewers
//! churning by the thousand, shutdown under load, a source dropping under `dump`.

mod peers;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flashless_core::flv::{FlvReader, Item};
use futures_util::StreamExt;
use peers::*;

/// A TCP proxy that delays every read by `delay` and, for 2 % of them, stalls a further
/// 300 ms: on loopback, the nearest thing to a 100 ms, 2 %-loss link (the kernel has no netem here).
struct SlowLink {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl SlowLink {
    fn start(target: u16, delay: Duration) -> SlowLink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let port = listener.local_addr().expect("its address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                std::thread::spawn(move || pipe(client, server, delay, 1));
                std::thread::spawn(move || pipe(s2, c2, delay, 2));
            }
        });
        SlowLink { port, stop }
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration, seed: u64) {
    let mut buf = [0u8; 16 * 1024];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let stall = if x % 50 == 0 {
            Duration::from_millis(300)
        } else {
            Duration::ZERO
        };
        std::thread::sleep(delay + stall);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// Reads `media_ms` of coded media over WS-FLV; returns how much media time arrived.
async fn watch(url: &str, media_ms: u32, limit: Duration) -> u32 {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket upgrade");
    let mut reader = FlvReader::tags_only();
    let (mut first, mut last) = (None, 0u32);
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if first.is_none() && msg.len() == 13 {
            continue; // the FLV header
        }
        reader.feed(&msg.into_data());
        while let Ok(Some(Item::Tag(tag))) = reader.poll_item() {
            if tag.tag_type == flashless_core::flv::TagType::Video {
                first.get_or_insert(tag.timestamp);
                last = tag.timestamp;
            }
        }
        if last.saturating_sub(first.unwrap_or(last)) >= media_ms {
            break;
        }
    }
    last.saturating_sub(first.unwrap_or(last))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_over_a_slow_stalling_link_keeps_playing() {
    let nginx = Nginx::start(4096);
    let _ffmpeg = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/cam", nginx.port), &[]);
    let link = SlowLink::start(nginx.port, Duration::from_millis(100));
    let source = format!("cam=rtmp://127.0.0.1:{}/live/cam live=1", link.port);
    let gw = Gateway::start(&["--no-demo", "--channel", &source]);
    tokio::task::block_in_place(|| gw.wait_live("cam"));
    let got = watch(
        &format!("ws://127.0.0.1:{}/live/cam.flv", gw.http),
        6000,
        Duration::from_secs(20),
    )
    .await;
    assert!(got >= 6000, "only {got} ms of media in 20 s");
    let (_, metrics) = gw.get("/metrics");
    assert!(
        metrics.contains("flashless_upstream_sessions_total{channel=\"cam\"} 1"),
        "it reconnected: {metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_viewers_come_and_go_and_memory_stays_flat() {
    // All viewers come from 127.0.0.1: lift the per-address limit.
    let gw = Gateway::start(&["--connections-per-ip", "1000"]);
    tokio::task::block_in_place(|| gw.wait_live("demo"));
    let url = format!("ws://127.0.0.1:{}/live/demo.flv", gw.http);
    let round = || async {
        let viewers = (0..100).map(|_| async {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url)
                .await
                .expect("WebSocket upgrade");
            for _ in 0..3 {
                let _ = ws.next().await;
            }
        });
        futures_util::future::join_all(viewers).await;
    };
    round().await;
    let after_first = gw.rss_kib();
    for _ in 1..10 {
        round().await;
    }
    let start = Instant::now();
    while gw.channel("demo").and_then(|c| c["viewers"].as_u64()) != Some(0) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "viewers were not released"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after_all = gw.rss_kib();
    assert!(
        after_all < after_first + 16 * 1024,
        "RSS grew from {after_first} KiB to {after_all} KiB"
    );
    assert_eq!(gw.get("/healthz").0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_under_load_is_quick_and_clean() {
    // All viewers come from 127.0.0.1: lift the per-address limit.
    let gw = Gateway::start(&["--connections-per-ip", "1000"]);
    tokio::task::block_in_place(|| gw.wait_live("demo"));
    let url = format!("ws://127.0.0.1:{}/live/demo.flv", gw.http);
    let mut viewers = Vec::new();
    for _ in 0..200 {
        let (ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("WebSocket upgrade");
        viewers.push(ws);
    }
    let (status, took) = tokio::task::spawn_blocking(move || gw.stop("TERM"))
        .await
        .expect("stopping");
    assert!(status.success(), "exited with {status}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

fn assert_whole_flv(path: &std::path::Path) {
    let bytes = std::fs::read(path).expect("reading the dump");
    let mut reader = FlvReader::new();
    reader.feed(&bytes);
    let mut tags = 0;
    while let Some(item) = reader.poll_item().expect("a valid FLV") {
        tags += usize::from(matches!(item, Item::Tag(_)));
    }
    assert_eq!(
        reader.offset(),
        bytes.len() as u64,
        "a partial tag at the end"
    );
    assert!(tags > 50, "only {tags} tags");
}

#[test]
fn dump_ends_cleanly_when_its_source_drops() {
    let nginx = Nginx::start(4096);
    let url = format!("rtmp://127.0.0.1:{}/live/drop", nginx.port);
    let ffmpeg = ffmpeg_publish(&url, &[]);
    let dir = TempDir::new("drop");
    let (flv, mp4) = (dir.path("drop.flv"), dir.path("drop.mp4"));
    let spawn = |out: &std::path::Path| {
        Guard::spawn(
            flashless()
                .args(["dump", &url, "live=1", "-q", "-o"])
                .arg(out)
                .stdin(Stdio::null()),
            "dump",
        )
    };
    let (dump_flv, dump_mp4) = (spawn(&flv), spawn(&mp4));
    std::thread::sleep(Duration::from_secs(4));
    drop(ffmpeg);
    assert!(
        dump_flv.wait(Duration::from_secs(20)).success(),
        "dump to FLV failed when the source dropped"
    );
    assert!(
        dump_mp4.wait(Duration::from_secs(20)).success(),
        "dump to MP4 failed when the source dropped"
    );
    assert_whole_flv(&flv);
    let decode = output_of(
        std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(&mp4)
            .args(["-f", "null", "-"]),
        "ffmpeg",
    );
    let errors = String::from_utf8_lossy(&decode.stderr);
    assert!(
        decode.status.success() && errors.trim().is_empty(),
        "{errors}"
    );
}
