//! Signed URLs, origins, connection limits, timeouts and TLS, against the real
//! binary with real clients (ffmpeg, ffprobe, a WebSocket client, raw sockets).

mod peers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use peers::upstream::TestCa;
use peers::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "correct horse battery staple";

fn sign(args: &[&str]) -> Vec<String> {
    let out = output_of(
        flashless()
            .arg("sign")
            .args(args)
            .env("FLASHLESS_SECRET", SECRET),
        "flashless sign",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn token_of(url: &str) -> String {
    url.split_once("token=")
        .map(|(_, t)| t.to_owned())
        .expect("a token in the URL")
}

fn secured() -> Gateway {
    Gateway::start(&["--no-demo", "--secret", SECRET])
}

fn publish_signed(gw: &Gateway, channel: &str) -> Guard {
    let url = sign(&["--publish", channel]).remove(0);
    let token = token_of(&url);
    let ffmpeg = ffmpeg_publish(&format!("{}?token={token}", gw.rtmp_url(channel)), &[]);
    gw.wait_live(channel);
    ffmpeg
}

#[test]
fn http_flv_needs_a_valid_play_token() {
    let gw = secured();
    let _ffmpeg = publish_signed(&gw, "cam");
    let (status, body) = gw.get("/live/cam.flv");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("token is required"), "{body}");
    let (status, _) = gw.get("/live/cam.flv?token=1.a.00");
    assert_eq!(status, 403);
    let other = token_of(&sign(&["other"])[0]);
    assert_eq!(
        gw.get(&format!("/live/cam.flv?token={other}")).0,
        403,
        "a token for another channel"
    );
    let publish = token_of(&sign(&["--publish", "cam"])[0]);
    assert_eq!(
        gw.get(&format!("/live/cam.flv?token={publish}")).0,
        403,
        "a publish token to play"
    );

    let url = format!(
        "{}?token={}",
        gw.http_url("cam"),
        token_of(&sign(&["cam"])[0])
    );
    let probe = ffprobe_streams(&url);
    assert!(probe.contains("h264"), "{probe}");
    let (_, metrics) = gw.get("/metrics");
    let denied: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("flashless_denied_total "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(denied >= 4, "{metrics}");
}

#[test]
fn rtmp_publish_and_play_need_tokens() {
    let gw = secured();
    // Unsigned: ffmpeg is refused with the reason, and gives up.
    let unsigned = ffmpeg_publish(&gw.rtmp_url("cam"), &["-t", "5"]);
    assert!(
        !unsigned.wait(Duration::from_secs(15)).success(),
        "an unsigned publish was accepted"
    );
    gw.log_saying("publish to cam refused: a token is required");

    let _ffmpeg = publish_signed(&gw, "cam");
    let out = output_of(flashless().args(["probe", &gw.rtmp_url("cam")]), "probe");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("token is required"));
    let signed = format!(
        "{}?token={}",
        gw.rtmp_url("cam"),
        token_of(&sign(&["cam"])[0])
    );
    let out = output_of(flashless().args(["probe", &signed]), "probe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A token in the connect URL that can never pass (expired, malformed) is refused at
/// `connect`, before any channel is named, as librtmp clients expect.
#[test]
fn an_expired_connect_token_is_rejected_at_connect() {
    let gw = secured();
    let out = output_of(
        std::process::Command::new("rtmpdump")
            .args(["-V", "-m", "10", "-r"])
            .arg(format!("rtmp://127.0.0.1:{}/live", gw.rtmp))
            .args(["-a", "live?token=1000.a.00", "-y", "cam", "-o", "-"]),
        "rtmpdump",
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    for expected in [
        "_error",
        "NetConnection.Connect.Rejected",
        "the token expired",
    ] {
        assert!(said.contains(expected), "no {expected:?} in {said}");
    }
    let log = gw.log_saying("connect to live refused: the token expired");
    assert!(!log.contains("1000.a.00"), "the token was logged: {log}");
}

#[test]
fn an_address_bound_token_is_refused_from_elsewhere() {
    let gw = secured();
    let _ffmpeg = publish_signed(&gw, "cam");
    let elsewhere = token_of(&sign(&["cam", "--ip", "192.0.2.1"])[0]);
    assert_eq!(gw.get(&format!("/live/cam.flv?token={elsewhere}")).0, 403);
    let here = token_of(&sign(&["cam", "--ip", "127.0.0.1"])[0]);
    let url = format!("{}?token={here}", gw.http_url("cam"));
    assert!(ffprobe_streams(&url).contains("h264"));
}

async fn ws_status(port: u16, origin: &str) -> u16 {
    let mut request = format!("ws://127.0.0.1:{port}/live/cam.flv")
        .into_client_request()
        .expect("a request");
    request
        .headers_mut()
        .insert("origin", origin.parse().expect("a header"));
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("connecting: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_origins_are_checked() {
    let gw = Gateway::start(&["--no-demo", "--origins", "https://good.example"]);
    let _ffmpeg = tokio::task::block_in_place(|| {
        let f = ffmpeg_publish(&gw.rtmp_url("cam"), &[]);
        gw.wait_live("cam");
        f
    });
    assert_eq!(ws_status(gw.http, "https://evil.example").await, 403);
    assert_eq!(ws_status(gw.http, "https://good.example").await, 101);
    assert_eq!(
        ws_status(gw.http, &format!("http://127.0.0.1:{}", gw.http)).await,
        101,
        "the page's own origin"
    );
    assert_eq!(
        ws_status(gw.http, "http://localhost:5173").await,
        101,
        "a local development page"
    );
}

#[test]
fn connections_per_address_are_limited() {
    let gw = Gateway::start(&["--no-demo", "--connections-per-ip", "3"]);
    // Gateway::start itself probed the ports; those sockets are closed.
    std::thread::sleep(Duration::from_millis(200));
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", gw.http)).expect("connecting"))
        .collect();
    let mut extra = TcpStream::connect(("127.0.0.1", gw.http)).expect("the kernel accepts");
    extra.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let _ = extra.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = extra.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "a fourth connection was served: {}",
        String::from_utf8_lossy(&answer)
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        gw.get("/healthz").0,
        200,
        "the address may connect again once others closed"
    );
}

#[test]
fn a_silent_rtmp_client_is_closed_after_the_handshake_timeout() {
    let gw = Gateway::start(&["--no-demo", "--handshake-timeout", "1"]);
    let mut silent = TcpStream::connect(("127.0.0.1", gw.rtmp)).expect("connecting");
    silent.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let n = silent.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected the server to close the connection");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "closed only after {:?}",
        start.elapsed()
    );
}

#[test]
fn deeply_nested_amf_closes_the_publisher_only() {
    use flashless_core::amf::Value;
    use flashless_core::rtmp::chunk::ChunkEncoder;
    use flashless_core::rtmp::message::{Command as RtmpCommand, Message};

    let gw = Gateway::start(&["--no-demo", "--amf-depth", "16"]);
    let _ffmpeg = ffmpeg_publish(&gw.rtmp_url("cam"), &[]);
    gw.wait_live("cam");
    let mut bad = rtmp_after_handshake(gw.rtmp);
    let mut nested = Value::Null;
    for _ in 0..40 {
        nested = Value::object([("a", nested)]);
    }
    let connect = Message::Command(RtmpCommand::new("connect", 1.0, nested, vec![]));
    let mut out = bytes::BytesMut::new();
    ChunkEncoder::new().encode(&connect.to_raw(3, 0, 0), &mut out);
    bad.write_all(&out).expect("the nested connect");
    let _ = bad.read_to_end(&mut Vec::new());
    let log = gw.log_saying("nesting deeper than 16");
    assert!(log.contains("closed: "), "{log}");
    assert!(
        ffprobe_streams(&gw.http_url("cam")).contains("h264"),
        "the other channel stopped"
    );
}

#[test]
fn https_and_wss_are_served_with_a_certificate() {
    let ca = TestCa::generate();
    let cert = ca.cert_pem.display().to_string();
    let key = ca.key_pem.display().to_string();
    let gw = Gateway::start(&["--tls-cert", &cert, "--tls-key", &key]);
    let url = format!("https://127.0.0.1:{}/live/demo.flv", gw.http);
    // ffprobe does not verify certificates by default; the point is that TLS is spoken.
    let start = Instant::now();
    while !ffprobe_streams(&url).contains("h264") {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no HTTPS-FLV from the demo channel"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Plain HTTP on the TLS port gets no HTTP answer (the server may reset the connection).
    let mut plain = TcpStream::connect(("127.0.0.1", gw.http)).expect("connecting");
    plain.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let _ = plain.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/1."),
        "plain HTTP was served on the TLS port"
    );
}

/// An operator's authorisation service on loopback, answering the webhook: it allows
/// channels named `open…`, never answers for `slow…`, and refuses the rest with a
/// reason. It keeps every request's JSON body.
struct AuthService {
    port: u16,
    asked: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl AuthService {
    fn start() -> AuthService {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("its address").port();
        let asked = std::sync::Arc::default();
        let log = std::sync::Arc::clone(&asked);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = std::sync::Arc::clone(&log);
                std::thread::spawn(move || Self::answer(stream, &log));
            }
        });
        AuthService { port, asked }
    }

    fn answer(mut stream: TcpStream, log: &std::sync::Mutex<Vec<serde_json::Value>>) {
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        let (head, length) = loop {
            let n = stream.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return;
            }
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some((head, _)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                break (head.len() + 4, length);
            }
        };
        while request.len() < head + length {
            let n = stream.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body: serde_json::Value =
            serde_json::from_slice(&request[head..head + length]).expect("a JSON body");
        let channel = body["channel"].as_str().unwrap_or_default().to_owned();
        log.lock().expect("the log").push(body);
        let answer = if channel.starts_with("open") {
            "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_owned()
        } else if channel.starts_with("slow") {
            std::thread::sleep(Duration::from_secs(5));
            return;
        } else {
            let why = "not on the list";
            format!(
                "HTTP/1.1 403 Forbidden\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{why}",
                why.len()
            )
        };
        let _ = stream.write_all(answer.as_bytes());
    }

    fn asked(&self) -> Vec<serde_json::Value> {
        self.asked.lock().expect("the log").clone()
    }
}

#[test]
fn an_authorisation_webhook_allows_and_refuses_publish_and_play() {
    let auth = AuthService::start();
    let gw = Gateway::start(&[
        "--no-demo",
        "--auth-webhook",
        &format!("http://127.0.0.1:{}/authorise", auth.port),
        "--auth-webhook-timeout",
        "1",
    ]);
    let _ffmpeg = ffmpeg_publish(&gw.rtmp_url("open"), &[]);
    gw.wait_live("open");
    let refused = ffmpeg_publish(&format!("{}?key=abc", gw.rtmp_url("closed")), &["-t", "5"]);
    assert!(
        !refused.wait(Duration::from_secs(15)).success(),
        "a refused publish went on"
    );
    gw.log_saying("publish to closed refused: the authorisation webhook refused (403 Forbidden: not on the list)");

    assert!(ffprobe_streams(&format!("{}?key=v", gw.http_url("open"))).contains("h264"));
    let (status, body) = gw.get("/live/closed.flv");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not on the list"), "{body}");
    // No answer in time is a refusal, not a way in.
    let start = Instant::now();
    let (status, body) = gw.get("/live/slow.flv");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no answer within 1s"), "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    fails_saying(
        &["probe", &gw.rtmp_url("closed")],
        &["NetStream.Play.Failed", "not on the list"],
    );

    let asked = auth.asked();
    let find = |action: &str, channel: &str| {
        asked
            .iter()
            .find(|a| a["action"] == action && a["channel"] == channel)
            .unwrap_or_else(|| panic!("no {action} of {channel} in {asked:?}"))
            .clone()
    };
    let publish = find("publish", "closed");
    assert_eq!(
        (
            &publish["protocol"],
            &publish["query"],
            &publish["client_ip"]
        ),
        (&"rtmp".into(), &"key=abc".into(), &"127.0.0.1".into()),
        "{publish}"
    );
    let play = find("play", "open");
    assert_eq!(
        (&play["protocol"], &play["query"]),
        (&"http-flv".into(), &"key=v".into()),
        "{play}"
    );
    find("play", "closed");
}
