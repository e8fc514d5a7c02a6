//! Draining, as a load balancer and a rolling restart need it: SIGTERM or
//! `POST /api/drain` take the gateway out of health, tell its viewers to reconnect
//! elsewhere (WS-FLV: close code 1001 "draining"), take no new viewer, and exit once
//! the viewers are gone or at `drain_timeout`.

mod peers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use futures_util::StreamExt;
use peers::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const ADMIN: &str = "drain-secret";

/// A one-shot HTTP/1.0 POST with `headers`: the status and the body.
fn post(port: u16, path: &str, headers: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n{headers}\r\n"
    )
    .expect("sending");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("reading the answer");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A WS-FLV viewer that reads until the gateway closes: the close frame's code and
/// reason, or `None` when the connection ended without one.
async fn close_of(url: &str) -> tokio::task::JoinHandle<Option<(CloseCode, String)>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket upgrade");
    assert!(ws.next().await.is_some(), "no first message");
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Close(frame) = msg {
                return frame.map(|f| (f.code, f.reason.to_string()));
            }
        }
        None
    })
}

/// A WS-FLV viewer that never reads, with a tiny receive buffer: the gateway's write
/// to it blocks, so it cannot be told to go and stays until a deadline. (An HTTP-FLV
/// one would not do: its body ends into hyper's buffer, which lets the viewer go.)
async fn stuck_viewer(port: u16) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(2048).expect("SO_RCVBUF");
    let mut s = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connecting");
    tokio::io::AsyncWriteExt::write_all(&mut s, UPGRADE)
        .await
        .expect("request");
    s
}

const UPGRADE: &[u8] = b"GET /live/cam.flv HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\
    Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// SIGTERM drains: the WS-FLV viewer is closed with 1001 "draining", and the gateway
/// exits as soon as its viewers (WS-FLV, HTTP-FLV, RTMP) are gone, well before the
/// deadline.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_moves_viewers_and_exits_once_they_are_gone() {
    let gw = Gateway::start(&["--no-demo", "--drain-timeout", "30"]);
    let _ffmpeg = ffmpeg_publish(&gw.rtmp_url("cam"), &[]);
    tokio::task::block_in_place(|| gw.wait_live("cam"));
    let ws = close_of(&gw.ws_url("cam")).await;
    let http = tokio::task::block_in_place(|| {
        let mut s = TcpStream::connect(("127.0.0.1", gw.http)).expect("connecting");
        s.write_all(b"GET /live/cam.flv HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("request");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut first = [0u8; 64];
        let n = s.read(&mut first).expect("a response");
        assert!(first[..n].starts_with(b"HTTP/1.1 200"));
        s
    });
    let mut rtmpdump = std::process::Command::new("rtmpdump");
    rtmpdump
        .args(["-q", "-v", "-r", &gw.rtmp_url("cam"), "-o", "/dev/null"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let rtmpdump = Guard::spawn(&mut rtmpdump, "rtmpdump");
    tokio::task::block_in_place(|| {
        let started = std::time::Instant::now();
        while gw
            .channel("cam")
            .map_or(0, |c| c["viewers"].as_u64().unwrap_or(0))
            < 3
        {
            assert!(started.elapsed() < Duration::from_secs(10), "3 viewers");
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    let pid = gw.pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (status, took, log) = tokio::task::spawn_blocking(move || gw.exit(Duration::from_secs(15)))
        .await
        .expect("waiting");
    assert!(status.success(), "exited with {status}\n{log}");
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: waited for the deadline, not for the viewers\n{log}"
    );
    assert!(log.contains("drained: no viewer left"), "{log}");
    let close = tokio::time::timeout(Duration::from_secs(5), ws)
        .await
        .expect("the WS viewer was not closed")
        .expect("the reader");
    assert_eq!(
        close,
        Some((CloseCode::Away, "draining".to_owned())),
        "the close frame"
    );
    // The HTTP-FLV body ended (the chunked body's last chunk, then EOF) and rtmpdump's
    // connection closed.
    tokio::task::block_in_place(|| {
        let mut http = http;
        let mut rest = Vec::new();
        let _ = http.read_to_end(&mut rest);
        assert!(
            rest.ends_with(b"0\r\n\r\n"),
            "the HTTP-FLV body was cut, not ended"
        );
        rtmpdump.wait(Duration::from_secs(5));
    });
}

/// `POST /api/drain` (admin token): `/healthz` says 503, new viewers and RTMP
/// connections are refused while one viewer that does not read holds on, and the
/// gateway exits at `drain_timeout`.
#[tokio::test(flavor = "multi_thread")]
async fn the_drain_api_leaves_health_refuses_newcomers_and_ends_by_the_deadline() {
    let gw = Gateway::start(&[
        "--no-demo",
        "--admin-token",
        ADMIN,
        "--drain-timeout",
        "3",
        "--write-timeout",
        "60",
    ]);
    let _ffmpeg = ffmpeg_publish(
        &gw.rtmp_url("cam"),
        &[
            "-b:v",
            "8M",
            "-minrate",
            "8M",
            "-maxrate",
            "8M",
            "-bufsize",
            "1M",
            "-x264-params",
            "nal-hrd=cbr",
        ],
    );
    tokio::task::block_in_place(|| gw.wait_live("cam"));
    assert_eq!(gw.get("/healthz"), (200, "ok\n".to_owned()));
    // An HLS player too: its producer is a viewer of the channel until the drain.
    let (status, body) = tokio::task::block_in_place(|| gw.get("/live/cam/index.m3u8"));
    assert_eq!(status, 200, "{body}");
    let _stuck = stuck_viewer(gw.http).await;
    let ws = close_of(&gw.ws_url("cam")).await;
    // Long enough for the stuck viewer's buffers to fill (8 Mbit/s of padded video),
    // so its writes block.
    tokio::time::sleep(Duration::from_secs(3)).await;

    tokio::task::block_in_place(|| {
        assert_eq!(post(gw.http, "/api/drain", "").0, 401);
        assert_eq!(
            post(gw.http, "/api/drain", "Authorization: Bearer wrong\r\n").0,
            403
        );
        assert_eq!(gw.get("/healthz").0, 200, "a refused drain drained");
        let (status, body) = post(
            gw.http,
            "/api/drain",
            &format!("Authorization: Bearer {ADMIN}\r\n"),
        );
        assert_eq!(status, 202, "{body}");
        assert!(body.contains("\"draining\":true"), "{body}");
    });
    let close = tokio::time::timeout(Duration::from_secs(5), ws)
        .await
        .expect("the WS viewer was not closed")
        .expect("the reader");
    assert_eq!(close, Some((CloseCode::Away, "draining".to_owned())));
    tokio::task::block_in_place(|| {
        assert_eq!(gw.get("/healthz"), (503, "draining\n".to_owned()));
        for path in ["/live/cam.flv", "/live/cam/index.m3u8"] {
            let (status, body) = gw.get(path);
            assert_eq!(status, 503, "{path}: {body}");
            assert!(body.contains("draining"), "{path}: {body}");
        }
        // The RTMP listener is closed.
        assert!(TcpStream::connect(("127.0.0.1", gw.rtmp)).is_err());
    });
    let (status, took, log) = tokio::task::spawn_blocking(move || gw.exit(Duration::from_secs(15)))
        .await
        .expect("waiting");
    assert!(status.success(), "exited with {status}\n{log}");
    assert!(log.contains("drain_timeout reached"), "{log}");
    // The deadline (3 s from the drain) plus the shutdown's 5 s grace at most.
    assert!(took < Duration::from_secs(9), "took {took:?}\n{log}");
}
