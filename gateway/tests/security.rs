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
    signed_urls(SECRET, args)
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
        .find_map(|l| l.strip_prefix("flashless_denied_total{reason=\"token\"} "))
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
    // With a list, only the list decides: the page's own origin needs --same-origin.
    let gw = Gateway::start(&[
        "--no-demo",
        "--origins",
        "https://good.example,http://localhost:5173",
        "--same-origin",
    ]);
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

/// RTMPS on its own port with the HTTPS certificate: ffmpeg publishes through it and
/// rtmpdump plays through it; a client that speaks plain RTMP there is closed alone,
/// naming TLS, while the publish goes on; and RTMPS without a certificate is refused at
/// start.
#[test]
fn rtmps_takes_publishers_and_players_with_the_certificate() {
    let ca = TestCa::generate();
    let cert = ca.cert_pem.display().to_string();
    let key = ca.key_pem.display().to_string();
    let (port, admin) = (free_port(), free_port());
    let rtmps = format!("127.0.0.1:{port}");
    let gw = Gateway::start(&[
        "--no-demo",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--rtmps",
        &rtmps,
        "--admin-listen",
        &format!("127.0.0.1:{admin}"),
    ]);
    gw.log_saying("rtmps listening");
    // ffmpeg does not verify certificates by default; the point is that TLS is spoken.
    let _publisher = ffmpeg_publish(&format!("rtmps://{rtmps}/live/cam"), &[]);
    // The HTTP port speaks HTTPS here: the log says when the channel is live.
    gw.log_saying("publishing channel=\"cam\"");
    // The channel's URLs (read on the plain admin listener) name RTMPS and HTTPS.
    let (_, body) = http_get(admin, "/api/channels");
    let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let urls = &list[0]["urls"];
    assert_eq!(
        urls["rtmps"],
        format!("rtmps://127.0.0.1:{port}/live/cam"),
        "{body}"
    );
    assert!(
        urls["http_flv"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{body}"
    );
    assert!(
        urls["ws_flv"]
            .as_str()
            .is_some_and(|u| u.starts_with("wss://")),
        "{body}"
    );

    let dir = TempDir::new("rtmps");
    let play = |file: &str| {
        let played = rtmpdump_for(
            &format!("rtmps://{rtmps}/live/cam"),
            &[],
            4,
            &dir.path(file),
        );
        assert!(
            played.codecs.iter().any(|c| c == "h264") && played.duration > 1.0,
            "played over RTMPS: {played:?}"
        );
    };
    play("before.flv");

    // Plain RTMP on the RTMPS port: no S0 S1 S2 but a closed connection.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    plain.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut hello = vec![3u8];
    hello.resize(1 + 1536, 0);
    let _ = plain.write_all(&hello);
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        answer.len() < 1 + 1536,
        "an RTMP handshake answered on the RTMPS port"
    );
    gw.log_saying("TLS handshake");
    // The publish went on.
    play("after.flv");

    fails_saying(
        &["serve", "--no-demo", "--rtmps", "127.0.0.1:0"],
        &["rtmps = 127.0.0.1:0", "RTMPS needs a certificate"],
    );
}

/// An operator's authorisation service on loopback, answering the webhook: it allows
/// channels named `open…`, never answers for `slow…`, and refuses the rest with a
/// reason; but it refuses a query holding a revoked string, and answers nothing while
/// down. It keeps every request's JSON body.
struct AuthService {
    port: u16,
    asked: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    state: std::sync::Arc<AuthState>,
}

#[derive(Default)]
struct AuthState {
    revoked: std::sync::Mutex<Vec<String>>,
    down: std::sync::atomic::AtomicBool,
}

impl AuthService {
    fn start() -> AuthService {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("its address").port();
        let asked = std::sync::Arc::default();
        let state = std::sync::Arc::<AuthState>::default();
        let (log, rules) = (std::sync::Arc::clone(&asked), std::sync::Arc::clone(&state));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, rules) = (std::sync::Arc::clone(&log), std::sync::Arc::clone(&rules));
                std::thread::spawn(move || Self::answer(stream, &log, &rules));
            }
        });
        AuthService { port, asked, state }
    }

    fn revoke(&self, what: &str) {
        self.state
            .revoked
            .lock()
            .expect("the list")
            .push(what.to_owned());
    }

    fn set_down(&self, down: bool) {
        self.state
            .down
            .store(down, std::sync::atomic::Ordering::Relaxed);
    }

    fn answer(
        mut stream: TcpStream,
        log: &std::sync::Mutex<Vec<serde_json::Value>>,
        state: &AuthState,
    ) {
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
        let query = body["query"].as_str().unwrap_or_default().to_owned();
        log.lock().expect("the log").push(body);
        let revoked = (state.revoked.lock().expect("the list").iter()).any(|r| query.contains(r));
        if state.down.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_secs(5));
            return;
        }
        let answer = if revoked {
            let why = "subscription ended";
            format!(
                "HTTP/1.1 403 Forbidden\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{why}",
                why.len()
            )
        } else if channel.starts_with("open") {
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

    /// A gateway asking it, with a timeout of 1 s, and `extra` flags.
    fn gateway(&self, extra: &[&str]) -> Gateway {
        let url = format!("http://127.0.0.1:{}/authorise", self.port);
        let flags = [
            "--no-demo",
            "--auth-webhook",
            &url,
            "--auth-webhook-timeout",
            "1",
        ];
        Gateway::start(&[&flags[..], extra].concat())
    }
}

#[test]
fn an_authorisation_webhook_allows_and_refuses_publish_and_play() {
    let auth = AuthService::start();
    let gw = auth.gateway(&[]);
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
    // The client hears that the service is unavailable; why (and where) is in the log.
    assert!(
        body.contains("authorisation service is unavailable"),
        "{body}"
    );
    gw.log_saying("no answer within 1s");
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

// Issue #14, connections and memory: HTTP timeouts and the connection cap, stalled
// RTMP players, WebSocket frame limits, RTMP memory before authorisation, and origins.

/// Whether the gateway closed `socket` within `limit`, reading (and dropping) what it
/// sends meanwhile and calling `between` every 200 ms (to trickle bytes, say).
fn closed_within(
    socket: &mut TcpStream,
    limit: Duration,
    mut between: impl FnMut(&mut TcpStream),
) -> bool {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok();
    let start = Instant::now();
    let mut buf = [0u8; 64 * 1024];
    while start.elapsed() < limit {
        match socket.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
        between(socket);
    }
    false
}

/// Slowloris: a request trickled a byte every 2 s, a connection that sends nothing,
/// and a kept-alive connection idle after its response are all closed once the
/// header timeout (default 10 s) has passed.
#[test]
fn slow_and_idle_http_connections_are_closed() {
    let gw = Gateway::start(&["--no-demo"]);
    let limit = Duration::from_secs(16);
    let trickled = std::thread::spawn({
        let port = gw.http;
        move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
            let request =
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            let mut sent = 0;
            let mut last = Instant::now() - Duration::from_secs(2);
            closed_within(&mut s, limit, |s| {
                if last.elapsed() >= Duration::from_secs(2) && sent < request.len() {
                    let _ = s.write_all(&request[sent..=sent]);
                    sent += 1;
                    last = Instant::now();
                }
            })
        }
    });
    let silent = std::thread::spawn({
        let port = gw.http;
        move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
            closed_within(&mut s, limit, |_| {})
        }
    });
    let mut idle = TcpStream::connect(("127.0.0.1", gw.http)).expect("connecting");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("a request");
    let mut answer = [0u8; 1024];
    idle.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let n = idle.read(&mut answer).expect("a response");
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    assert!(
        closed_within(&mut idle, limit, |_| {}),
        "an idle kept-alive connection stayed open"
    );
    assert!(
        silent.join().expect("the silent client"),
        "a silent connection stayed open"
    );
    assert!(
        trickled.join().expect("the trickling client"),
        "a trickled request kept its connection open"
    );
}

/// The header timeout is for requests only: a long HTTP-FLV response and a WS-FLV
/// stream go on past it.
#[tokio::test(flavor = "multi_thread")]
async fn streams_outlive_the_header_timeout() {
    use futures_util::StreamExt;
    let gw = Gateway::start(&["--header-timeout", "1"]);
    tokio::task::block_in_place(|| gw.wait_live("demo"));
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/live/demo.flv", gw.http))
            .await
            .expect("WebSocket upgrade");
    let http_port = gw.http;
    let http_flv = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", http_port)).expect("connecting");
        s.write_all(b"GET /live/demo.flv HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("a request");
        s.set_read_timeout(Some(Duration::from_secs(2))).ok();
        let start = Instant::now();
        let mut buf = [0u8; 16 * 1024];
        let mut late = 0;
        while start.elapsed() < Duration::from_secs(4) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) if start.elapsed() > Duration::from_secs(3) => late += n,
                Ok(_) => {}
            }
        }
        late
    });
    let start = Instant::now();
    let mut late = 0;
    while start.elapsed() < Duration::from_secs(4) {
        match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            Ok(Some(Ok(msg))) if start.elapsed() > Duration::from_secs(3) => late += msg.len(),
            Ok(Some(Ok(_))) => {}
            other => panic!("the WS-FLV stream ended: {other:?}"),
        }
    }
    assert!(late > 0, "no WS-FLV media after 3 s");
    assert!(
        http_flv.await.expect("the HTTP-FLV client") > 0,
        "no HTTP-FLV media after 3 s"
    );
}

/// Many addresses (an IPv6 block; here 127.0.0.2, .3…) each within the per-address
/// limit together meet the global cap.
#[tokio::test(flavor = "multi_thread")]
async fn connections_of_all_addresses_together_are_capped() {
    let gw = Gateway::start(&[
        "--no-demo",
        "--connections-per-ip",
        "5",
        "--max-connections",
        "3",
    ]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let port = gw.http;
    let connect_from = |last: u8| async move {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind(([127, 0, 0, last], 0).into())
            .expect("binding a loopback address");
        socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("the kernel accepts")
            .into_std()
            .expect("a std socket")
    };
    let mut held = Vec::new();
    for last in 2..5 {
        held.push(connect_from(last).await);
    }
    let answer = |mut s: TcpStream| {
        s.set_nonblocking(false).ok();
        s.set_read_timeout(Some(Duration::from_secs(3))).ok();
        let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        answer
    };
    let extra = connect_from(5).await;
    let refused = tokio::task::block_in_place(|| answer(extra));
    assert!(
        refused.is_empty(),
        "a fourth connection was served: {}",
        String::from_utf8_lossy(&refused)
    );
    tokio::task::block_in_place(|| {
        gw.log_saying("http connection refused: too many connections in all")
    });
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = connect_from(5).await;
    let served = tokio::task::block_in_place(|| answer(again));
    assert!(
        served.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&served)
    );
}

/// An RTMP player of `channel` with a 4 KiB receive buffer, past `NetStream.Play.Start`.
async fn rtmp_player(port: u16, channel: &str) -> tokio::net::TcpStream {
    use flashless_core::rtmp::session::{ClientEvent, ClientMode, ClientSession};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("a small receive buffer");
    let mut stream = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connecting");
    let url = format!("rtmp://127.0.0.1:{port}/live/{channel}")
        .parse()
        .expect("an RTMP URL");
    let mut session = ClientSession::new(url, ClientMode::Play, 0, &[7; 1528]);
    let mut buf = vec![0u8; 4096];
    loop {
        while let Some(bytes) = session.poll_transmit() {
            stream.write_all(&bytes).await.expect("writing");
        }
        while let Some(event) = session.poll_event() {
            if event == ClientEvent::Playing {
                return stream;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the gateway answered")
            .expect("reading");
        assert!(n > 0, "the gateway closed before play started");
        session.feed(&buf[..n]).expect("a valid session");
    }
}

/// A player that stops reading is disconnected by the write timeout, as over HTTP, and
/// stops counting as a viewer.
#[tokio::test(flavor = "multi_thread")]
async fn an_rtmp_player_that_stops_reading_is_disconnected() {
    let gw = Gateway::start(&["--no-demo", "--write-timeout", "2"]);
    // 16 Mbit/s (x264 pads to the rate): the kernel's send buffer (up to 4 MB) fills in
    // seconds, not minutes.
    let cbr = [
        "-b:v",
        "16M",
        "-minrate",
        "16M",
        "-maxrate",
        "16M",
        "-bufsize",
        "4M",
        "-x264-params",
        "nal-hrd=cbr",
    ];
    let _ffmpeg = tokio::task::block_in_place(|| {
        let f = ffmpeg_publish(&gw.rtmp_url("cam"), &cbr);
        gw.wait_live("cam");
        f
    });
    let _stalled = rtmp_player(gw.rtmp, "cam").await;
    let viewers = |gw: &Gateway| gw.channel("cam").and_then(|c| c["viewers"].as_u64());
    assert_eq!(tokio::task::block_in_place(|| viewers(&gw)), Some(1));
    let start = Instant::now();
    while tokio::task::block_in_place(|| viewers(&gw)) != Some(0) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "a player that reads nothing still counts as a viewer after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("no longer a viewer after {:?}", start.elapsed());
    tokio::task::block_in_place(|| gw.log_saying("write timed out"));
}

/// Acks and pings are not activity: a peer that sends only those is closed by the idle
/// timeout, however often it sends them.
#[test]
fn rtmp_acknowledgements_alone_do_not_keep_a_connection_open() {
    use flashless_core::amf::Value;
    use flashless_core::rtmp::chunk::ChunkEncoder;
    use flashless_core::rtmp::message::{Command as RtmpCommand, Message};

    let gw = Gateway::start(&["--no-demo", "--idle-timeout", "2"]);
    let mut peer = rtmp_after_handshake(gw.rtmp);
    let mut encoder = ChunkEncoder::new();
    let mut out = bytes::BytesMut::new();
    let app = Value::object([("app", "live".into())]);
    let connect = Message::Command(RtmpCommand::new("connect", 1.0, app, vec![]));
    encoder.encode(&connect.to_raw(3, 0, 0), &mut out);
    peer.write_all(&out).expect("connect");
    let mut sequence = 0;
    let closed = closed_within(&mut peer, Duration::from_secs(8), |peer| {
        sequence += 1;
        let mut out = bytes::BytesMut::new();
        encoder.encode(
            &Message::Acknowledgement { sequence }.to_raw(2, 0, 0),
            &mut out,
        );
        let _ = peer.write_all(&out);
    });
    assert!(
        closed,
        "acknowledgements every 200 ms kept the connection open"
    );
    gw.log_saying("idle connection timed out");
}

/// Before anyone authorised it, an RTMP connection holds little: a walk through every
/// chunk stream id stops at 64, and a 16 MB message is refused at its header (64 KiB
/// until a publish is accepted). 20 of each barely move the gateway's memory.
#[test]
fn rtmp_peers_before_publish_hold_little_memory() {
    use flashless_core::rtmp::chunk::{ChunkEncoder, MAX_CHUNK_SIZE, RawMessage};
    use flashless_core::rtmp::message::Message;

    let gw = Gateway::start(&["--no-demo"]);
    let before = gw.rss_kib();
    let mut walk = bytes::BytesMut::new();
    let mut encoder = ChunkEncoder::new();
    for csid in 3..=65599 {
        let message = RawMessage {
            csid,
            timestamp: 0,
            type_id: 9,
            stream_id: 0,
            payload: bytes::Bytes::from_static(&[0x17]),
        };
        encoder.encode(&message, &mut walk);
    }
    let mut large = bytes::BytesMut::new();
    let mut encoder = ChunkEncoder::new();
    encoder.encode(
        &Message::SetChunkSize(MAX_CHUNK_SIZE).to_raw(2, 0, 0),
        &mut large,
    );
    encoder.set_chunk_size(MAX_CHUNK_SIZE);
    let message = RawMessage {
        csid: 3,
        timestamp: 0,
        type_id: 20,
        stream_id: 0,
        payload: vec![0u8; 16_000_000].into(),
    };
    encoder.encode(&message, &mut large);
    let large = large.split_to(2 * 1024 * 1024);
    let peers: Vec<TcpStream> = (0..20)
        .flat_map(|_| {
            let mut walking = rtmp_after_handshake(gw.rtmp);
            let _ = walking.write_all(&walk);
            let mut announcing = rtmp_after_handshake(gw.rtmp);
            let _ = announcing.write_all(&large);
            [walking, announcing]
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let after = gw.rss_kib();
    eprintln!("RSS {before} KiB before, {after} KiB with 40 peers");
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    for mut peer in peers {
        assert!(
            closed_within(&mut peer, Duration::from_secs(3), |_| {}),
            "a peer before publish was not closed"
        );
    }
    let log = gw.log_saying("chunk stream 67 would be more than 64 chunk streams");
    assert!(log.contains("exceeds the limit of 65536"), "{log}");
}

/// A raw WebSocket viewer of the demo, upgraded: its socket.
fn ws_demo_viewer(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    write!(
        s,
        "GET /live/demo.flv HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("the upgrade request");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("the upgrade response");
    assert_eq!(&head, b"HTTP/1.1 101");
    s
}

/// A WebSocket viewer sends only control frames: a 15 MiB frame left unfinished is
/// refused at its header, so five of them barely move the gateway's memory.
#[test]
fn websocket_viewers_cannot_make_the_gateway_buffer_large_frames() {
    let gw = Gateway::start(&[]);
    gw.wait_live("demo");
    let before = gw.rss_kib();
    let len: u64 = 15 * 1024 * 1024;
    let mut frame = vec![0x82u8, 0x80 | 127];
    frame.extend(len.to_be_bytes());
    frame.extend([1, 2, 3, 4]);
    frame.resize(frame.len() + 8 * 1024 * 1024, 0x55);
    let viewers: Vec<_> = (0..5)
        .map(|_| {
            let mut s = ws_demo_viewer(gw.http);
            // The FLV the gateway sends is drained meanwhile, so it keeps reading too.
            let mut reader = s.try_clone().expect("a reader");
            let drained = std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                reader.set_read_timeout(Some(Duration::from_secs(6))).ok();
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(6)
                    && !matches!(reader.read(&mut buf), Ok(0) | Err(_))
                {}
                start.elapsed()
            });
            let _ = s.write_all(&frame);
            (s, drained)
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let after = gw.rss_kib();
    eprintln!("RSS {before} KiB before, {after} KiB with 5 viewers");
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    for (_socket, drained) in viewers {
        assert!(
            drained.join().expect("the reader") < Duration::from_secs(5),
            "a viewer sending a 15 MiB frame was not closed"
        );
    }
}

/// A WebSocket viewer has nothing to send but pings and a close: one that sends data
/// frames (10,000 empty ones, 60 KB) is closed with 1008 "policy violation" after 64,
/// and another viewer plays on.
#[test]
fn a_websocket_viewer_that_floods_data_frames_is_closed() {
    let gw = Gateway::start(&[]);
    gw.wait_live("demo");
    let upgrade = || {
        let s = ws_demo_viewer(gw.http);
        s.set_read_timeout(Some(Duration::from_secs(1))).ok();
        s
    };
    let mut other = upgrade();
    let mut flooding = upgrade();
    let mut reader = flooding.try_clone().expect("a reader");
    let read = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(8) {
            match reader.read(&mut buf) {
                Ok(0) => return Some((all, start.elapsed())),
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return Some((all, start.elapsed())),
            }
        }
        None
    });
    let empty = [0x82u8, 0x80, 1, 2, 3, 4];
    let flood: Vec<u8> = empty
        .iter()
        .copied()
        .cycle()
        .take(empty.len() * 10_000)
        .collect();
    let _ = flooding.write_all(&flood);
    let (received, within) = read
        .join()
        .expect("the reader")
        .expect("the flooding viewer was not closed");
    // The stream's end is its close frame: 1008.
    let close = [0x88, 0x02, 0x03, 0xF0];
    assert!(
        received.ends_with(&close),
        "the last bytes were {:02x?}",
        &received[received.len().saturating_sub(8)..]
    );
    assert!(within < Duration::from_secs(5), "closed after {within:?}");
    // The other viewer still receives.
    let mut buf = [0u8; 4096];
    let mut got = 0;
    let start = Instant::now();
    while got < 64 * 1024 && start.elapsed() < Duration::from_secs(5) {
        got += other.read(&mut buf).unwrap_or(0);
    }
    assert!(got >= 64 * 1024, "the other viewer got {got} bytes");
    gw.log_saying("64 data frames from a viewer, which only receives");
}

async fn ws_status_for_host(port: u16, origin: &str, host: &str) -> u16 {
    let mut request = format!("ws://127.0.0.1:{port}/live/cam.flv")
        .into_client_request()
        .expect("a request");
    let headers = request.headers_mut();
    headers.insert("origin", origin.parse().expect("a header"));
    headers.insert("host", host.parse().expect("a header"));
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("connecting: {e}"),
    }
}

/// DNS rebinding: a page of `evil.example`, its name now resolving to the gateway,
/// sends `Origin` and `Host` both `evil.example`. With an allow-list, only the list
/// decides (the gateway's own origin too only with --same-origin); without one, the
/// gateway's own page keeps working.
#[tokio::test(flavor = "multi_thread")]
async fn an_origin_equal_to_the_host_needs_the_allow_list() {
    let gw = Gateway::start(&["--no-demo", "--origins", "https://good.example"]);
    let _ffmpeg = tokio::task::block_in_place(|| {
        let f = ffmpeg_publish(&gw.rtmp_url("cam"), &[]);
        gw.wait_live("cam");
        f
    });
    let own = format!("127.0.0.1:{}", gw.http);
    assert_eq!(
        ws_status_for_host(gw.http, "http://evil.example", "evil.example").await,
        403,
        "a rebinding page"
    );
    assert_eq!(
        ws_status_for_host(gw.http, &format!("http://{own}"), &own).await,
        403,
        "same-origin was not configured"
    );
    assert_eq!(
        ws_status_for_host(gw.http, "https://good.example", &own).await,
        101
    );

    let gw = Gateway::start(&["--no-demo"]);
    let _ffmpeg = tokio::task::block_in_place(|| {
        let f = ffmpeg_publish(&gw.rtmp_url("cam"), &[]);
        gw.wait_live("cam");
        f
    });
    let own = format!("127.0.0.1:{}", gw.http);
    assert_eq!(
        ws_status_for_host(gw.http, &format!("http://{own}"), &own).await,
        101,
        "the gateway's own page without a list"
    );
}

// ---- #14: channel lifecycle, names, what anonymous clients learn, trusted proxies ----

/// An RTMP client of raw commands: `connect`, `createStream` (stream id 1), then
/// whatever the test sends.
fn rtmp_commands(port: u16, commands: &[(&str, Vec<flashless_core::amf::Value>)]) -> TcpStream {
    let mut s = rtmp_after_handshake(port);
    send_commands(&mut s, commands);
    s
}

/// `connect`, `createStream` (stream id 1), then `commands` on stream 1.
fn send_commands(s: &mut TcpStream, commands: &[(&str, Vec<flashless_core::amf::Value>)]) {
    use flashless_core::amf::Value;
    let app = Value::object([("app", Value::String("live".into()))]);
    send_raw_commands(
        s,
        &[
            ("connect", app, vec![]),
            ("createStream", Value::Null, vec![]),
        ],
        0,
    );
    let on_stream: Vec<_> = (commands.iter())
        .map(|(name, args)| (*name, Value::Null, args.clone()))
        .collect();
    send_raw_commands(s, &on_stream, 1);
}

/// `commands` on stream 1 of a connection that has it.
fn send_on_stream(s: &mut TcpStream, commands: &[(&str, Vec<flashless_core::amf::Value>)]) {
    use flashless_core::amf::Value;
    let on_stream: Vec<_> = (commands.iter())
        .map(|(name, args)| (*name, Value::Null, args.clone()))
        .collect();
    send_raw_commands(s, &on_stream, 1);
}

/// Commands (name, command object, arguments) on `stream_id`, in one write.
fn send_raw_commands(
    s: &mut TcpStream,
    commands: &[(
        &str,
        flashless_core::amf::Value,
        Vec<flashless_core::amf::Value>,
    )],
    stream_id: u32,
) {
    use flashless_core::rtmp::chunk::ChunkEncoder;
    use flashless_core::rtmp::message::{Command as RtmpCommand, Message};

    let mut out = bytes::BytesMut::new();
    let mut encoder = ChunkEncoder::new();
    let csid = if stream_id == 0 { 3 } else { 8 };
    for (i, (name, object, args)) in commands.iter().enumerate() {
        let command = RtmpCommand::new(name, 1.0 + i as f64, object.clone(), args.clone());
        encoder.encode(
            &Message::Command(command).to_raw(csid, 0, stream_id),
            &mut out,
        );
    }
    s.write_all(&out).expect("sending the commands");
}

/// A raw RTMP publish of `name`: the connection, and what the gateway answered once it
/// said `until` (or after 5 s).
fn raw_publish(port: u16, name: &str, until: &str) -> (TcpStream, String) {
    use flashless_core::amf::Value;
    let mut s = rtmp_commands(
        port,
        &[(
            "publish",
            vec![Value::String(name.into()), Value::String("live".into())],
        )],
    );
    let said = read_until(&mut s, until);
    (s, said)
}

/// What a socket says (lossy text) until it says `until`, closes, or 5 s pass.
fn read_until(s: &mut TcpStream, until: &str) -> String {
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let start = Instant::now();
    let mut said = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(5)
        && !String::from_utf8_lossy(&said).contains(until)
    {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => said.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&said).into_owned()
}

/// A GET with extra headers: the status, and the body (read for at most `read_for`,
/// as a stream never ends).
fn get_with(port: u16, path: &str, headers: &[(&str, &str)], read_for: Duration) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    s.write_all(request.as_bytes()).expect("sending a request");
    s.set_read_timeout(Some(Duration::from_millis(100))).ok();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    while start.elapsed() < read_for {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&got);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| got[i + 4..].to_vec())
        .unwrap_or_default();
    (status, body)
}

fn listed(gw: &Gateway) -> Vec<String> {
    let (_, body) = gw.get("/api/channels");
    let list: serde_json::Value = serde_json::from_str(&body).expect("/api/channels is JSON");
    list.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A channel made by a publish goes a grace period after its publisher and its last
/// viewer left; a waiting viewer keeps it, and gets only the headers (the GOP went with
/// the publisher).
#[test]
fn abandoned_channels_are_removed_and_their_gop_released() {
    let gw = Gateway::start(&["--no-demo", "--abandoned-timeout", "1"]);
    let gone = ffmpeg_publish(&gw.rtmp_url("gone"), &["-t", "3"]);
    let kept = ffmpeg_publish(&gw.rtmp_url("kept"), &["-t", "3"]);
    gw.wait_live("gone");
    gw.wait_live("kept");
    let mut waiting = TcpStream::connect(("127.0.0.1", gw.http)).expect("a viewer");
    write!(waiting, "GET /live/kept.flv HTTP/1.0\r\nHost: x\r\n\r\n").expect("its request");
    gone.wait(Duration::from_secs(15));
    kept.wait(Duration::from_secs(15));
    eventually(
        Duration::from_secs(5),
        "the abandoned channel removed",
        || !listed(&gw).contains(&"gone".to_owned()),
    );
    // A viewer who joins while the publisher is away gets metadata and headers, not
    // the last GOP (tens of KB of 320x240 H.264).
    let (status, burst) = get_with(gw.http, "/live/kept.flv", &[], Duration::from_millis(1500));
    assert_eq!(status, 200);
    assert!(
        burst.len() < 4096,
        "{} bytes: the GOP is still cached",
        burst.len()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        listed(&gw).contains(&"kept".to_owned()),
        "a channel with a waiting viewer was removed"
    );
    drop(waiting);
    eventually(
        Duration::from_secs(5),
        "the channel removed after its viewer left",
        || listed(&gw).is_empty(),
    );
    gw.log_saying("channel removed");
}

#[test]
fn publishes_past_the_channel_cap_are_refused() {
    let gw = Gateway::start(&["--no-demo", "--max-channels", "2"]);
    let (_a, said) = raw_publish(gw.rtmp, "one", "NetStream.Publish.Start");
    assert!(said.contains("NetStream.Publish.Start"), "{said}");
    let (_b, said) = raw_publish(gw.rtmp, "two", "NetStream.Publish.Start");
    assert!(said.contains("NetStream.Publish.Start"), "{said}");
    let (_c, said) = raw_publish(gw.rtmp, "three", "NetStream.Publish.BadName");
    assert!(
        said.contains("NetStream.Publish.BadName") && said.contains("all the channels"),
        "{said}"
    );
    assert_eq!(listed(&gw), ["one", "two"]);
}

/// Names that would forge `/metrics` lines, an empty one and an oversized one are
/// refused at every door, with the reason.
#[test]
fn channel_names_follow_one_rule_at_every_door() {
    let gw = Gateway::start(&["--no-demo"]);
    let forged = "x\"} 1\nflashless_denied_total 0\nfake_metric{a=\"b";
    let long = "a".repeat(65);
    for (name, why) in [
        (forged, "only letters, digits"),
        ("", "is empty"),
        (long.as_str(), "longer than 64"),
        ("..", "start with '.'"),
    ] {
        let (_conn, said) = raw_publish(gw.rtmp, name, "NetStream.Publish.BadName");
        assert!(
            said.contains("NetStream.Publish.BadName") && said.contains(why),
            "{name:?}: {said}"
        );
    }
    let (_, metrics) = gw.get("/metrics");
    assert!(!metrics.contains("fake_metric"), "{metrics}");
    assert!(listed(&gw).is_empty(), "{:?}", listed(&gw));

    for path in [
        "/live/a%22b.flv",
        "/live/.hidden.flv",
        &format!("/live/{long}.flv"),
    ] {
        let (status, body) = gw.get(path);
        assert_eq!(status, 400, "{path}: {body}");
    }
    let out = output_of(
        std::process::Command::new("rtmpdump")
            .args(["-V", "-m", "5", "-r"])
            .arg(format!("rtmp://127.0.0.1:{}/live", gw.rtmp))
            .args(["-y", ".hidden", "-o", "-"]),
        "rtmpdump",
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("NetStream.Play.StreamNotFound") && said.contains("start with '.'"),
        "{said}"
    );
}

/// A client that asks to play in a loop gets the webhook asked 20 times at once, then
/// 5 a second; the rest are answered 429 without asking. Another client (named by a
/// trusted proxy) is asked as before, and the first is asked again a second later.
#[test]
fn the_webhook_is_asked_at_a_bounded_rate_per_client() {
    let auth = AuthService::start();
    let gw = Gateway::start(&[
        "--no-demo",
        "--auth-webhook",
        &format!("http://127.0.0.1:{}/authorise", auth.port),
        "--trusted-proxies",
        "127.0.0.1",
    ]);
    let wait = Duration::from_secs(2);
    let xff = |ip: &'static str| [("X-Forwarded-For", ip)];
    let start = Instant::now();
    let statuses: Vec<u16> = (0..60)
        .map(|_| get_with(gw.http, "/live/closed.flv", &xff("192.0.2.1"), wait).0)
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    let refused = statuses.iter().filter(|&&s| s == 403).count();
    let busy = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(refused + busy, 60, "{statuses:?}");
    assert!(
        refused >= 20 && refused as f64 <= 21.0 + 5.0 * elapsed,
        "{refused} asked in {elapsed:.1} s: {statuses:?}"
    );
    assert_eq!(
        auth.asked().len(),
        refused,
        "each 403 is one ask, each 429 none"
    );
    let (status, body) = get_with(gw.http, "/live/closed.flv", &xff("192.0.2.1"), wait);
    let body = String::from_utf8_lossy(&body);
    assert!(
        status == 403 || body.contains("too many authorisation requests from this address"),
        "{status} {body}"
    );
    // Another client is not held back by the first.
    assert_eq!(
        get_with(gw.http, "/live/closed.flv", &xff("192.0.2.2"), wait).0,
        403
    );
    // The first is asked again once its asks refill.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        get_with(gw.http, "/live/closed.flv", &xff("192.0.2.1"), wait).0,
        403
    );
    let metrics = gw.get("/metrics").1;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("flashless_denied_total{reason=\"limit\"}") && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
}

/// A 503 does not name the webhook, and `/api/channels` does not show a pull's
/// origin URL (with its stream key): clients get a class, the log the details.
#[test]
fn anonymous_clients_are_not_told_internal_urls() {
    let closed = free_port();
    let key = "s3cret-stream-key";
    let gw = Gateway::start(&[
        "--no-demo",
        "--auth-webhook",
        &format!("http://127.0.0.1:{closed}/internal-auth"),
        "--channel",
        &format!("origin=rtmp://127.0.0.1:{closed}/live/{key}"),
    ]);
    let (status, body) = gw.get("/live/origin.flv");
    assert_eq!(status, 503, "{body}");
    assert!(
        !body.contains("internal-auth") && !body.contains(&closed.to_string()),
        "{body}"
    );
    gw.log_saying(&format!(
        "could not be asked: connecting to 127.0.0.1:{closed}"
    ));

    eventually(Duration::from_secs(10), "the pull retrying", || {
        gw.channel("origin")
            .is_some_and(|c| c["state"] == "retrying")
    });
    let (_, api) = gw.get("/api/channels");
    assert!(
        !api.contains(key) && !api.contains(&closed.to_string()),
        "{api}"
    );
    assert_eq!(
        gw.channel("origin").map(|c| c["error"].clone()),
        Some("connection refused".into())
    );
    gw.log_saying(key);
}

#[test]
fn the_admin_token_and_listener_guard_the_api_and_metrics() {
    let gw = Gateway::start(&["--no-demo", "--secret", SECRET, "--admin-token", "adm1n"]);
    let wait = Duration::from_secs(2);
    for path in ["/api/channels", "/metrics"] {
        assert_eq!(get_with(gw.http, path, &[], wait).0, 401, "{path}");
        let wrong = [("Authorization", "Bearer nope")];
        assert_eq!(get_with(gw.http, path, &wrong, wait).0, 403, "{path}");
        let right = [("Authorization", "Bearer adm1n")];
        assert_eq!(get_with(gw.http, path, &right, wait).0, 200, "{path}");
    }

    // Anyone may play: the page's list stays public, the metrics do not.
    let open = Gateway::start(&["--admin-token", "adm1n"]);
    assert_eq!(open.get("/api/channels").0, 200);
    assert_eq!(open.get("/metrics").0, 401);
    // The page says a channel is listed (to start its player at once) only where
    // the list itself is public.
    open.wait_live("demo");
    assert!(open.get("/watch/demo").1.contains("data-listed"));
    let private = Gateway::start(&["--secret", SECRET, "--admin-token", "adm1n"]);
    let right = [("Authorization", "Bearer adm1n")];
    let (status, list) = get_with(private.http, "/api/channels", &right, wait);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&list).contains("\"demo\""));
    let (status, page) = private.get("/watch/demo");
    assert_eq!(status, 200);
    assert!(!page.contains("data-listed"), "{page}");

    let admin = free_port();
    let split = Gateway::start(&["--no-demo", "--admin-listen", &format!("127.0.0.1:{admin}")]);
    wait_for_port(admin, "the admin listener");
    assert_eq!(
        split.get("/metrics").0,
        404,
        "metrics on the public listener"
    );
    let (status, metrics) = http_get(admin, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("flashless_uptime_seconds"), "{metrics}");
    assert_eq!(http_get(admin, "/api/channels").0, 200);
}

/// An address-bound token is judged against the client a trusted proxy names, and
/// against the socket's address when the header comes from anyone else.
#[test]
fn forwarded_addresses_count_only_from_trusted_proxies() {
    let wait = Duration::from_secs(2);
    let bound = token_of(&sign(&["cam", "--ip", "192.0.2.7"])[0]);
    let path = format!("/live/cam.flv?token={bound}");
    let xff = [("X-Forwarded-For", "192.0.2.7")];
    let forwarded = [("Forwarded", "for=\"192.0.2.7:4711\"")];

    let behind = Gateway::start(&[
        "--no-demo",
        "--secret",
        SECRET,
        "--trusted-proxies",
        "127.0.0.1",
    ]);
    let _ffmpeg = publish_signed(&behind, "cam");
    assert_eq!(get_with(behind.http, &path, &xff, wait).0, 200);
    assert_eq!(get_with(behind.http, &path, &forwarded, wait).0, 200);
    assert_eq!(get_with(behind.http, &path, &[], wait).0, 403, "no header");

    let exposed = Gateway::start(&[
        "--no-demo",
        "--secret",
        SECRET,
        "--trusted-proxies",
        "10.0.0.0/8",
    ]);
    let _ffmpeg = publish_signed(&exposed, "cam");
    assert_eq!(
        get_with(exposed.http, &path, &xff, wait).0,
        403,
        "a spoofed header"
    );
    assert_eq!(get_with(exposed.http, &path, &forwarded, wait).0, 403);
}

/// A TCP connection to the gateway from `source` (any loopback address: 127.0.0.2 plays
/// a load balancer), which first sends `prefix`.
fn connect_from(source: &str, port: u16, prefix: &[u8]) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime");
    let s = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind(format!("{source}:0").parse().expect("an address"))
            .expect("binding");
        let s = socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("connecting");
        s.into_std().expect("a std socket")
    });
    s.set_nonblocking(false).expect("blocking");
    let mut s = s;
    s.write_all(prefix).expect("the prefix");
    s
}

/// The PROXY protocol (v1 on HTTP, v2 on RTMP) names the client for tokens, but only
/// from a trusted proxy; from anyone else the header is not read as one.
#[test]
fn the_proxy_protocol_names_the_client_from_trusted_proxies_only() {
    use flashless_core::amf::Value;
    let gw = Gateway::start(&[
        "--no-demo",
        "--secret",
        SECRET,
        "--trusted-proxies",
        "127.0.0.2",
        "--proxy-protocol",
    ]);
    let _ffmpeg = publish_signed(&gw, "cam");
    let bound = token_of(&sign(&["cam", "--ip", "192.0.2.7"])[0]);
    let get = format!("GET /live/cam.flv?token={bound} HTTP/1.0\r\nHost: x\r\n\r\n");
    let v1 = format!("PROXY TCP4 192.0.2.7 127.0.0.1 4711 {}\r\n{get}", gw.http);

    let mut proxied = connect_from("127.0.0.2", gw.http, v1.as_bytes());
    let said = read_until(&mut proxied, "\r\n");
    assert_eq!(said.split(' ').nth(1), Some("200"), "{said}");
    let mut direct = connect_from("127.0.0.1", gw.http, v1.as_bytes());
    let said = read_until(&mut direct, "\r\n");
    assert!(
        !said.contains(" 200 "),
        "a header from an untrusted address: {said}"
    );

    // Version 2, TCP over IPv4: 192.0.2.7:4711 to 127.0.0.1:1935.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[192, 0, 2, 7, 127, 0, 0, 1, 0x12, 0x67, 0x07, 0x8f]);
    let play = vec![Value::String(format!("cam?token={bound}"))];
    let mut rtmp = connect_from("127.0.0.2", gw.rtmp, &v2);
    rtmp_handshake(&mut rtmp);
    send_commands(&mut rtmp, &[("play", play.clone())]);
    let said = read_until(&mut rtmp, "NetStream.Play.Start");
    assert!(said.contains("NetStream.Play.Start"), "{said}");
    gw.log_saying("proxied client=192.0.2.7");

    let mut direct = connect_from("127.0.0.1", gw.rtmp, &[]);
    rtmp_handshake(&mut direct);
    send_commands(&mut direct, &[("play", play)]);
    let said = read_until(&mut direct, "NetStream.Play.Failed");
    assert!(said.contains("NetStream.Play.Failed"), "{said}");
}

/// An RTMPT request head on a new connection to the RTMP port, and the connection.
fn rtmpt_request(port: u16, path: &str, content_length: usize) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-fcs\r\nContent-Length: {content_length}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).expect("the request head");
    s
}

/// An RTMPT tunnel is its RTMP connection's: it counts under the per-address limit for
/// as long as it is open, and it ends with the connection (here at the handshake
/// timeout), however its client polls. Found by review: a tunnel whose body never came,
/// or that kept polling with a made-up session, outlived its connection and its place
/// under the limit for good.
#[test]
fn rtmpt_tunnels_count_under_the_address_limit_and_end_with_their_connection() {
    let gw = Gateway::start(&[
        "--no-demo",
        "--connections-per-ip",
        "3",
        "--handshake-timeout",
        "1",
    ]);
    std::thread::sleep(Duration::from_millis(200));
    // A body announced and never sent; a tunnel that polls with a session of its own.
    let mut stuck = rtmpt_request(gw.rtmp, "/open/1", 1);
    let mut polling = rtmpt_request(gw.rtmp, "/open/1", 1);
    polling.write_all(&[0]).expect("the open's body");
    let started = Instant::now();
    let poll = |s: &mut TcpStream| {
        let _ =
            s.write_all(b"POST /idle/made-up/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n\0");
    };
    assert!(
        closed_within(&mut stuck, Duration::from_secs(5), |_| {}),
        "a tunnel whose request body never came stayed open"
    );
    assert!(
        closed_within(&mut polling, Duration::from_secs(5), poll),
        "a tunnel polling with a made-up session stayed open"
    );
    eprintln!("both closed {:?} after they opened", started.elapsed());
    // Their places come back as their tasks end, just after their sockets close: on a
    // busy machine that can take a while.
    std::thread::sleep(Duration::from_millis(500));
    // While open, tunnels hold their places: with three open, a fourth RTMP connection
    // is closed unanswered.
    let held: Vec<TcpStream> = (0..3)
        .map(|_| rtmpt_request(gw.rtmp, "/open/1", 1))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(("127.0.0.1", gw.rtmp)).expect("the kernel accepts");
    extra.set_read_timeout(Some(Duration::from_secs(3))).ok();
    let _ = extra.write_all(&[3u8; 1537]);
    let mut answer = Vec::new();
    let _ = extra.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "a fourth connection was answered beside three tunnels ({} bytes)",
        answer.len()
    );
    drop(held);
}

/// An RTMPT request's body goes through a piece at a time: ten clients announcing
/// 16 MiB bodies (the most a request may carry) and sending 15 MiB of each barely move
/// the gateway's memory. Found by review: each body was read whole first, 16 MiB a
/// connection before any handshake or authorisation.
#[test]
fn rtmpt_bodies_are_not_held_whole() {
    let gw = Gateway::start(&["--no-demo"]);
    let before = gw.rss_kib();
    let body = vec![0u8; 15 << 20];
    let clients: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = rtmpt_request(gw.rtmp, "/open/1", 16 << 20);
            s.write_all(&body).expect("15 MiB of the body");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let after = gw.rss_kib();
    eprintln!("RSS {before} KiB before, {after} KiB with ten 15 MiB bodies in");
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    drop(clients);
}

/// A connection that published holds a publisher's limits only while it publishes:
/// once it unpublishes, a message over the limit before publish ends it, whether it
/// starts after the unpublish or began before it, and whatever another of its streams
/// asked meanwhile. Found by review: the limits stayed raised, so a connection that
/// published once could hold 32 MiB of partial messages without counting as a
/// publisher; and then, a publish asked on a second stream (refused, or not answered
/// yet) counted as publishing.
#[test]
fn a_publishers_limits_end_with_its_publish() {
    use flashless_core::amf::Value;
    use flashless_core::rtmp::chunk::{ChunkEncoder, RawMessage};
    use flashless_core::rtmp::message::{Command as RtmpCommand, Message};

    let gw = Gateway::start(&["--no-demo"]);
    let video = |len: usize| RawMessage {
        csid: 6,
        timestamp: 0,
        type_id: 9,
        stream_id: 1,
        payload: vec![0x17u8; len].into(),
    };
    let command = |name: &str, csid: u32, stream: u32, args: Vec<Value>| {
        Message::Command(RtmpCommand::new(name, 9.0, Value::Null, args)).to_raw(csid, 0, stream)
    };
    let unpublish = command("FCUnpublish", 3, 0, vec![Value::String("x".into())]);
    for (name, began_before) in [("after", false), ("before", true), ("elsewhere", false)] {
        let (mut s, said) = raw_publish(gw.rtmp, name, "NetStream.Publish.Start");
        assert!(said.contains("NetStream.Publish.Start"), "{name}: {said}");
        // The chunk encoder's chunks, without the connect's commands before them.
        let mut encoder = ChunkEncoder::new();
        let mut wire = bytes::BytesMut::new();
        // Half the message, cut at a chunk's end: its 12-byte header and 4,096 chunks
        // of 128 bytes, each after the first with a 1-byte header.
        let half = 12 + 128 + 4095 * 129;
        let mut large = bytes::BytesMut::new();
        encoder.encode(&video(1 << 20), &mut large);
        if began_before {
            wire.extend_from_slice(&large[..half]);
            encoder.encode(&unpublish, &mut wire);
        } else if name == "elsewhere" {
            // Stream 2 asks to publish a name no channel may have; stream 1 closes.
            let bad = vec![
                Value::String("bad name!".into()),
                Value::String("live".into()),
            ];
            for message in [
                command("createStream", 3, 0, vec![]),
                command("publish", 8, 2, bad),
                command("closeStream", 8, 1, vec![]),
            ] {
                encoder.encode(&message, &mut wire);
            }
            wire.extend_from_slice(&large[..half]);
        } else {
            encoder.encode(&unpublish, &mut wire);
            wire.extend_from_slice(&large[..half]);
        }
        s.write_all(&wire).expect("the chunks");
        assert!(
            closed_within(&mut s, Duration::from_secs(5), |_| {}),
            "{name}: the connection that unpublished kept a 1 MiB message"
        );
    }
    let said = "message of 1048576 bytes on chunk stream 6 exceeds the limit of 65536";
    let log = gw.log_saying(said);
    assert_eq!(log.matches(said).count(), 3, "{log}");
}

/// A client may pipeline `publish` and `FCUnpublish` (or `play` and `closeStream`):
/// the stream is then free again for its next publish. Found by review: the answer to
/// the first came after the close and marked the stream busy, so the next publish on
/// it closed the connection.
#[test]
fn a_stream_closed_right_behind_its_publish_or_play_is_free_again() {
    use flashless_core::amf::Value;
    let gw = Gateway::start(&["--no-demo"]);
    let name = || Value::String("pipelined".into());
    let mut s = rtmp_commands(
        gw.rtmp,
        &[
            ("publish", vec![name(), Value::String("live".into())]),
            ("FCUnpublish", vec![name()]),
            ("play", vec![name()]),
            ("closeStream", vec![]),
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    send_on_stream(
        &mut s,
        &[("publish", vec![name(), Value::String("live".into())])],
    );
    let said = read_until(&mut s, "NetStream.Publish.Start");
    assert!(said.contains("NetStream.Publish.Start"), "{said}");
    assert!(
        !closed_within(&mut s, Duration::from_secs(1), |_| {}),
        "the connection was closed after its second publish"
    );
    assert!(
        gw.channel("pipelined").is_some(),
        "the second publish made no channel"
    );
}

/// A client that publishes and unpublishes in a loop is refused past its address's
/// rate of publish starts (as many at once as the listener's publishers, at least 10,
/// then one a second), and says so. Found by review: 3,000 publishes a second on one
/// connection, each a session with its hooks and, where recorded, a file.
#[test]
fn publishes_past_an_addresss_rate_are_refused() {
    use flashless_core::amf::Value;
    let gw = Gateway::start(&["--no-demo", "--max-publishers", "1"]);
    let name = || Value::String("flap".into());
    let mut s = rtmp_commands(gw.rtmp, &[]);
    let mut said = String::new();
    let mut started = 0;
    for _ in 0..12 {
        let publish = ("publish", vec![name(), Value::String("live".into())]);
        send_on_stream(&mut s, &[publish]);
        said = read_until(&mut s, "NetStream.Publish.");
        if !said.contains("NetStream.Publish.Start") {
            break;
        }
        started += 1;
        send_on_stream(&mut s, &[("FCUnpublish", vec![name()])]);
    }
    assert_eq!(started, 10, "{said}");
    assert!(
        said.contains("too many publishes from this address"),
        "{said}"
    );
    gw.log_saying("refused: too many publishes from this address");
    std::thread::sleep(Duration::from_millis(1100));
    let (_s, said) = raw_publish(gw.rtmp, "later", "NetStream.Publish.");
    assert!(
        said.contains("NetStream.Publish.Start"),
        "a second later: {said}"
    );
}

/// A `connect` app longer than any channel's is refused with its length named, and the
/// app stays out of the log. Found by review: a 60,000-character app was logged whole.
#[test]
fn a_connect_app_past_any_channels_is_refused_and_not_logged() {
    use flashless_core::amf::Value;
    let gw = Gateway::start(&["--no-demo"]);
    let app = "a".repeat(60_000);
    let mut s = rtmp_after_handshake(gw.rtmp);
    let object = Value::object([("app", Value::String(app.clone()))]);
    send_raw_commands(&mut s, &[("connect", object, vec![])], 0);
    let said = read_until(&mut s, "NetConnection.Connect.Rejected");
    assert!(said.contains("an app name of 60000 bytes"), "{said}");
    let log = gw.log_saying("an app name of 60000 bytes");
    assert!(!log.contains(&app[..1000]), "the app was logged");
}

/// A publisher far ahead of what it may send (here timestamps stepping 0.5 s a tiny
/// frame: 50 s of media in a moment) is closed, naming why, and its place is free at
/// once. Found by review: such a publisher was held back, not read, for as long as its
/// media lasted, holding its place and its channel after it had gone (15 minutes for
/// 16 KiB).
#[test]
fn a_publisher_far_ahead_is_closed_and_its_place_freed() {
    use flashless_core::rtmp::chunk::{ChunkEncoder, RawMessage};
    let gw = Gateway::start(&["--no-demo", "--max-publishers", "1"]);
    let (mut s, said) = raw_publish(gw.rtmp, "ahead", "NetStream.Publish.Start");
    assert!(said.contains("NetStream.Publish.Start"), "{said}");
    let mut encoder = ChunkEncoder::new();
    let mut wire = bytes::BytesMut::new();
    for i in 0..120u32 {
        let frame = RawMessage {
            csid: 6,
            timestamp: i * 500,
            type_id: 9,
            stream_id: 1,
            payload: bytes::Bytes::from_static(&[0x17, 0x01, 0, 0, 0]),
        };
        encoder.encode(&frame, &mut wire);
    }
    s.write_all(&wire).expect("the frames");
    drop(s);
    // Within 3 s (the gateway reads what was sent first): before, the place was held
    // for the 50 s the frames were ahead.
    let started = Instant::now();
    let mut said = String::new();
    while started.elapsed() < Duration::from_secs(3) && !said.contains("Publish.Start") {
        std::thread::sleep(Duration::from_millis(200));
        said = raw_publish(gw.rtmp, "next", "NetStream.Publish.").1;
    }
    assert!(
        said.contains("NetStream.Publish.Start"),
        "the next publisher: {said}"
    );
    let log = gw.log_saying("ahead of what it may send");
    assert!(log.contains("closed: the publisher is"), "{log}");
}

/// What publishers hold of messages begun and not yet whole is bounded for all of them
/// together, not only each: past 1 MiB each, 256 MiB (four of the largest message, if
/// more). Found by review: each publisher may buffer 32 MiB of unfinished messages by
/// default, so one address's 100 publishers could make the gateway hold 3.2 GB.
#[test]
fn publishers_unfinished_messages_are_bounded_together() {
    use flashless_core::rtmp::chunk::{ChunkEncoder, RawMessage};

    let gw = Gateway::start(&["--no-demo"]);
    // Two messages of 16 MiB (about the default largest) each begun for 15.5 MiB: 31 MiB held,
    // 30 MiB of it against the shared bound; eight such fit in 256 MiB, nine do not.
    // In chunks of 64 KiB, so that the gateway's work is the bytes, not millions of chunks.
    let chunk_size: u32 = 64 << 10;
    let unfinished = {
        let mut wire = bytes::BytesMut::new();
        let mut encoder = ChunkEncoder::new();
        let set_chunk_size = RawMessage {
            csid: 2,
            timestamp: 0,
            type_id: 1,
            stream_id: 0,
            payload: chunk_size.to_be_bytes().to_vec().into(),
        };
        encoder.encode(&set_chunk_size, &mut wire);
        encoder.set_chunk_size(chunk_size);
        for (csid, type_id) in [(6, 9u8), (4, 8u8)] {
            let message = RawMessage {
                csid,
                timestamp: 0,
                type_id,
                stream_id: 1,
                // The longest the 3-byte length field says: a byte under 16 MiB.
                payload: vec![0u8; 0xFF_FFFF].into(),
            };
            let mut whole = bytes::BytesMut::new();
            encoder.encode(&message, &mut whole);
            // A 12-byte header and a first chunk, then chunks with a 1-byte header.
            let size = chunk_size as usize;
            let chunks = ((31 << 19) - size) / size;
            wire.extend_from_slice(&whole[..12 + size + chunks * (size + 1)]);
        }
        wire.freeze()
    };
    let rss = || gw.rss_kib();
    let before = rss();
    let mut publishers: Vec<TcpStream> = (0..9)
        .map(|i| {
            let name = format!("unfinished{i}");
            let (mut s, said) = raw_publish(gw.rtmp, &name, "NetStream.Publish.Start");
            assert!(said.contains("NetStream.Publish.Start"), "{name}: {said}");
            let _ = s.write_all(&unfinished);
            s
        })
        .collect();
    // What the sockets still held reaches the gateway meanwhile.
    std::thread::sleep(Duration::from_secs(1));
    let closed: Vec<usize> = (0..publishers.len())
        .filter(|&i| closed_within(&mut publishers[i], Duration::from_millis(300), |_| {}))
        .collect();
    assert_eq!(closed.len(), 1, "publishers closed: {closed:?}");
    gw.log_saying("the publishers' unfinished messages would hold");
    eprintln!(
        "publisher {closed:?} of 9 closed; RSS {} → {} MiB",
        before >> 10,
        rss() >> 10
    );
    // Their bytes go back with them: another publisher holds as much again.
    publishers.clear();
    std::thread::sleep(Duration::from_millis(500));
    let (mut s, said) = raw_publish(gw.rtmp, "unfinished-after", "NetStream.Publish.Start");
    assert!(said.contains("NetStream.Publish.Start"), "{said}");
    let _ = s.write_all(&unfinished);
    assert!(
        !closed_within(&mut s, Duration::from_secs(2), |_| {}),
        "the bound was not freed by the publishers that left"
    );
}

/// An HTTP-FLV viewer of `path` on a thread: the bytes it got, and whether its stream ended.
fn flv_viewer(
    port: u16,
    path: &str,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let got = std::sync::Arc::<std::sync::atomic::AtomicUsize>::default();
    let ended = std::sync::Arc::<std::sync::atomic::AtomicBool>::default();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("asking");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let (g, e) = (got.clone(), ended.clone());
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            g.fetch_add(n, Relaxed);
        }
        e.store(true, Relaxed);
    });
    (got, ended)
}

/// `webhook_recheck`: every client is asked about again each period; a webhook that
/// does not answer closes no one, a refusal closes that client alone (a viewer, an HLS
/// player, then the publisher).
#[test]
fn the_webhook_asked_again_closes_a_client_it_now_refuses() {
    use std::sync::atomic::Ordering::Relaxed;
    let auth = AuthService::start();
    let gw = auth.gateway(&["--auth-webhook-recheck", "1"]);
    let publisher = ffmpeg_publish(&format!("{}?key=pub", gw.rtmp_url("open-cam")), &[]);
    gw.wait_live("open-cam");
    let (alice, alice_ended) = flv_viewer(gw.http, "/live/open-cam.flv?sub=alice");
    let (bob, bob_ended) = flv_viewer(gw.http, "/live/open-cam.flv?sub=bob");
    let asked_about = |who: &str| {
        let asks = auth.asked();
        asks.iter()
            .filter(|a| a["query"].as_str().is_some_and(|q| q.contains(who)))
            .count()
    };
    let until = |what: &str, limit: u64, check: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !check() {
            assert!(
                started.elapsed() < Duration::from_secs(limit),
                "{what}\n{}",
                gw.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    until(
        "alice, bob and the publisher asked about again",
        10,
        &|| {
            asked_about("sub=alice") >= 3
                && asked_about("sub=bob") >= 3
                && asked_about("key=pub") >= 3
        },
    );
    let play = auth
        .asked()
        .into_iter()
        .rfind(|a| a["query"] == "sub=alice")
        .expect("a recheck of alice");
    assert_eq!(play["action"], "play", "{play}");
    assert_eq!(play["channel"], "open-cam", "{play}");
    assert_eq!(play["protocol"], "http-flv", "{play}");

    // The service down: its rechecks go unanswered, and no one is closed.
    auth.set_down(true);
    let before = (alice.load(Relaxed), bob.load(Relaxed));
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !alice_ended.load(Relaxed) && !bob_ended.load(Relaxed),
        "a viewer closed while the webhook was down"
    );
    assert!(alice.load(Relaxed) > before.0 + 10_000 && bob.load(Relaxed) > before.1 + 10_000);
    auth.set_down(false);

    // Alice's subscription ends: her stream ends at the next recheck; bob's goes on.
    auth.revoke("sub=alice");
    until("alice closed", 5, &|| alice_ended.load(Relaxed));
    gw.log_saying("refused it on a recheck (403 Forbidden: subscription ended)");
    let bob_then = bob.load(Relaxed);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !bob_ended.load(Relaxed) && bob.load(Relaxed) > bob_then + 10_000,
        "bob stopped playing"
    );

    // An HLS player is asked about again with the query it was counted with; refused, it
    // ends as a kick ends it: its next request (a segment, which asks no webhook) is 403.
    let (status, _, playlist) =
        raw_request(gw.http, "GET", "/live/open-cam/index.m3u8?sub=carol", "");
    assert_eq!(status, 200);
    let playlist = String::from_utf8_lossy(&playlist).into_owned();
    let segment = (playlist.lines())
        .rfind(|l| l.ends_with(".m4s") && !l.starts_with('#'))
        .expect("a segment")
        .to_owned();
    // Its requests keep it counted meanwhile.
    let fetch = || raw_request(gw.http, "GET", &format!("/live/open-cam/{segment}"), "");
    until("carol asked about again", 10, &|| {
        fetch().0 == 200 && asked_about("sub=carol") >= 2
    });
    auth.revoke("sub=carol");
    until("carol refused", 10, &|| {
        let (status, _, body) = fetch();
        status == 403 && String::from_utf8_lossy(&body).contains("kicked")
    });

    // The publisher's key is revoked: its publish ends.
    auth.revoke("key=pub");
    let ended = publisher.wait(Duration::from_secs(10));
    assert!(!ended.success(), "ffmpeg went on publishing: {ended}");
}
