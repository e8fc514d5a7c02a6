//! Live reload: SIGHUP and `POST /api/reload` apply the configuration file again;
//! channels added, removed and changed, while the viewers of the others play on; the
//! TLS certificate read again; an invalid file is refused naming its line, and the
//! running configuration stays.

mod peers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use peers::upstream::TestCa;
use peers::*;

const CLIP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo.flv");

/// An HTTP-FLV viewer on a thread: bytes received, and whether the stream ended.
struct Watcher {
    bytes: Arc<AtomicU64>,
    ended: Arc<AtomicBool>,
}

impl Watcher {
    fn start(port: u16, channel: &str) -> Watcher {
        Watcher::start_at(port, &format!("/live/{channel}.flv"))
    }

    /// A viewer of `path` (with its query).
    fn start_at(port: u16, path: &str) -> Watcher {
        Watcher::start_with(port, path, "")
    }

    /// A viewer of `path` sending `headers` (`Name: value\r\n` each).
    fn start_with(port: u16, path: &str, headers: &str) -> Watcher {
        let bytes = Arc::new(AtomicU64::new(0));
        let ended = Arc::new(AtomicBool::new(false));
        let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
        socket.set_read_timeout(Some(Duration::from_secs(30))).ok();
        write!(
            socket,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n"
        )
        .expect("GET");
        let (b, e) = (bytes.clone(), ended.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n @ 1..) = socket.read(&mut buf) {
                b.fetch_add(n as u64, Relaxed);
            }
            e.store(true, Relaxed);
        });
        Watcher { bytes, ended }
    }

    /// Fails unless more bytes arrive within a few seconds.
    fn still_playing(&self, what: &str) {
        let before = self.bytes.load(Relaxed);
        let started = Instant::now();
        while self.bytes.load(Relaxed) <= before + 10_000 {
            assert!(!self.ended.load(Relaxed), "{what}: the stream ended");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{what}: no media"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_ended(&self, what: &str) {
        let started = Instant::now();
        while !self.ended.load(Relaxed) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{what}: still open"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `POST /api/reload` with `token`: the status and body.
fn post_reload(port: u16, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "POST /api/reload HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\n\r\n"
    )
    .expect("POST");
    let mut text = String::new();
    s.read_to_string(&mut text).ok();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn channels(gateway: &Gateway) -> Vec<String> {
    let (_, body) = gateway.get("/api/channels");
    let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let mut names: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// The status of a GET of `path` with `headers` (`Name: value\r\n` each), read from the
/// answer's first line: a stream's answer never ends.
fn status_of(port: u16, path: &str, headers: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n"
    )
    .expect("GET");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("a status line");
    String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0)
}

/// `[auth]` is reloaded: a rotated secret judges the next play and publish (the old
/// secret's tokens are refused, a viewer admitted before plays on), and the admin token
/// and the web origins allowed change with it.
#[test]
fn reload_replaces_the_secret_the_admin_token_and_the_origins() {
    let dir = TempDir::new("reload-auth");
    let path = dir.path("flashless.toml");
    let write = |secret: &str, admin: &str, origin: &str| {
        let text = format!(
            "[auth]\nsecret = \"{secret}\"\nadmin_token = \"{admin}\"\norigins = [\"{origin}\"]\n\
             [[channel]]\nname = \"keep\"\nsource = \"{CLIP}\"\n"
        );
        std::fs::write(&path, text).expect("writing the configuration");
    };
    write("first-secret", "adm-1", "https://a.example");
    let gateway = Gateway::start(&["--no-demo", "--config", &path.to_string_lossy()]);
    let port = gateway.http;
    let old = signed_token("first-secret", &["keep"]);
    let new = signed_token("second-secret", &["keep"]);
    let watch = |token: &str| format!("/live/keep.flv?token={token}");
    let origin = |o: &str| format!("Origin: {o}\r\n");
    let bearer = |t: &str| format!("Authorization: Bearer {t}\r\n");
    let viewer = Watcher::start_at(port, &watch(&old));
    viewer.still_playing("a viewer with the first secret's token");
    assert_eq!(status_of(port, &watch(&new), ""), 403);
    assert_eq!(
        status_of(port, &watch(&old), &origin("https://a.example")),
        200
    );
    assert_eq!(
        status_of(port, &watch(&old), &origin("https://b.example")),
        403
    );
    assert_eq!(status_of(port, "/metrics", &bearer("adm-1")), 200);

    write("second-secret", "adm-2", "https://b.example");
    let (status, body) = post_reload(port, Some("adm-1"));
    assert_eq!(status, 200, "{body}");
    viewer.still_playing("the viewer admitted before the reload");
    assert_eq!(
        status_of(port, &watch(&old), ""),
        403,
        "the old secret's token"
    );
    assert_eq!(status_of(port, &watch(&new), ""), 200);
    assert_eq!(
        status_of(port, &watch(&new), &origin("https://a.example")),
        403
    );
    assert_eq!(
        status_of(port, &watch(&new), &origin("https://b.example")),
        200
    );
    assert_eq!(status_of(port, "/metrics", &bearer("adm-1")), 403);
    assert_eq!(status_of(port, "/metrics", &bearer("adm-2")), 200);
    // RTMP judges by the new secret too: a publish signed with it goes live.
    let publish = signed_token("second-secret", &["--publish", "cam"]);
    let _ffmpeg = ffmpeg_publish(&format!("{}?token={publish}", gateway.rtmp_url("cam")), &[]);
    gateway.log_saying("publishing channel=\"cam\"");
}

fn write_config(path: &std::path::Path, channels: &[(&str, &str)]) {
    let mut text = String::from("[auth]\nadmin_token = \"t0ken\"\n");
    for (name, extra) in channels {
        text.push_str(&format!(
            "[[channel]]\nname = \"{name}\"\nsource = \"{CLIP}\"\n{extra}"
        ));
    }
    std::fs::write(path, text).expect("writing the configuration");
}

#[test]
fn reload_adds_removes_and_changes_channels_leaving_other_viewers_alone() {
    let dir = TempDir::new("reload");
    let path = dir.path("flashless.toml");
    write_config(&path, &[("keep", ""), ("drop", ""), ("change", "")]);
    let gateway = Gateway::start(&["--config", &path.to_string_lossy()]);
    for name in ["demo", "keep", "drop", "change"] {
        gateway.wait_live(name);
    }
    let demo = Watcher::start(gateway.http, "demo");
    let keep = Watcher::start(gateway.http, "keep");
    let drop_ = Watcher::start(gateway.http, "drop");
    let change = Watcher::start(gateway.http, "change");
    keep.still_playing("keep before");

    // Only the admin token may reload.
    assert_eq!(post_reload(gateway.http, None).0, 401);
    assert_eq!(post_reload(gateway.http, Some("wrong")).0, 403);

    // Over HTTP: drop removed, add added, change changed (now on demand: it has a viewer).
    write_config(
        &path,
        &[("keep", ""), ("change", "on_demand = true\n"), ("add", "")],
    );
    let (status, body) = post_reload(gateway.http, Some("t0ken"));
    assert_eq!(status, 200, "{body}");
    let applied: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(applied["added"], serde_json::json!(["add"]), "{body}");
    assert_eq!(applied["removed"], serde_json::json!(["drop"]), "{body}");
    assert_eq!(applied["changed"], serde_json::json!(["change"]), "{body}");
    drop_.wait_ended("a viewer of the removed channel");
    keep.still_playing("keep, untouched");
    demo.still_playing("demo, untouched");
    change.still_playing("change, through its new upstream");
    gateway.wait_live("add");
    assert_eq!(channels(&gateway), ["add", "change", "demo", "keep"]);

    // An invalid file: refused naming the line, nothing changes.
    std::fs::write(
        &path,
        format!("[auth]\nadmin_token = \"t0ken\"\n[[channel]]\nname = \"keep\"\nsource = \"{CLIP}\"\n[[channel]]\nname = \"x\"\nsource = \"gopher://x\"\n"),
    )
    .expect("writing");
    let (status, body) = post_reload(gateway.http, Some("t0ken"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("line 8") && body.contains("gopher"), "{body}");
    assert_eq!(channels(&gateway), ["add", "change", "demo", "keep"]);
    std::fs::write(&path, "[server]\nhtp = 1\n").expect("writing");
    let (status, body) = post_reload(gateway.http, Some("t0ken"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("line 2") && body.contains("htp"), "{body}");
    keep.still_playing("keep, after refused reloads");

    // SIGHUP: the demo off, "add" gone.
    std::fs::write(
        &path,
        format!("[server]\ndemo = false\n[auth]\nadmin_token = \"t0ken\"\n[[channel]]\nname = \"keep\"\nsource = \"{CLIP}\"\n[[channel]]\nname = \"change\"\nsource = \"{CLIP}\"\non_demand = true\n"),
    )
    .expect("writing");
    gateway.hup();
    demo.wait_ended("a viewer of the demo, turned off");
    let started = Instant::now();
    while channels(&gateway) != ["change", "keep"] {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            channels(&gateway)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    keep.still_playing("keep, after SIGHUP");
    change.still_playing("change, unchanged by SIGHUP");
    gateway.log_saying("configuration reloaded");
}

/// Without an admin token, HTTP cannot reload (SIGHUP still can).
#[test]
fn reload_over_http_needs_an_admin_token() {
    let gateway = Gateway::start(&[]);
    let (status, body) = post_reload(gateway.http, None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("admin_token"), "{body}");
}

/// `[hls]` is reloaded for the channels whose HLS starts after it (one running keeps the
/// target its playlist promised), and what only a restart changes is named, not taken
/// silently.
#[test]
fn reload_applies_hls_to_new_producers_and_names_what_needs_a_restart() {
    let dir = TempDir::new("reload-hls");
    let path = dir.path("flashless.toml");
    let config = |extra: &str| {
        let mut text = format!("{extra}[auth]\nadmin_token = \"t0ken\"\n");
        for name in ["a", "b"] {
            text.push_str(&format!(
                "[[channel]]\nname = \"{name}\"\nsource = \"{CLIP}\"\n"
            ));
        }
        std::fs::write(&path, text).expect("writing the configuration");
    };
    config("[hls]\nsegment = 1\n");
    let gateway = Gateway::start(&["--no-demo", "--config", &path.to_string_lossy()]);
    gateway.wait_live("a");
    gateway.wait_live("b");
    let target = |channel: &str| {
        let (status, body) = gateway.get(&format!("/live/{channel}/index.m3u8"));
        assert_eq!(status, 200, "{body}");
        (body.lines())
            .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
            .and_then(|t| t.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no target duration in {body}"))
    };
    assert_eq!(target("a"), 1);

    // `drain_timeout` and `log_format` are not named: a reload applies them (the log
    // says so in JSON already). A listener is.
    config(
        "[server]\nlog_format = \"json\"\ndrain_timeout = 5\nadmin_listen = \"127.0.0.1:9\"\n\
         [hls]\nsegment = 3\n",
    );
    let (status, body) = post_reload(gateway.http, Some("t0ken"));
    assert_eq!(status, 200, "{body}");
    let applied: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        applied["restart"],
        serde_json::json!(["[server] admin_listen"]),
        "{body}"
    );
    gateway.log_saying(r#""message":"configuration reloaded""#);
    // A channel whose HLS runs: the target it promised. One whose HLS starts now: the
    // new one.
    assert_eq!(target("a"), 1);
    assert_eq!(target("b"), 3);
    gateway.log_saying("which take effect only on a restart");

    // A reload that changes nothing restart-bound says nothing of it.
    config("[hls]\nsegment = 3\n");
    let (status, body) = post_reload(gateway.http, Some("t0ken"));
    assert_eq!(status, 200, "{body}");
    let applied: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(applied["restart"], serde_json::json!([]), "{body}");
}

/// The first certificate of `pem` (a file's text, or what `openssl s_client` printed).
fn first_certificate(pem: &str) -> Option<&str> {
    const END: &str = "-----END CERTIFICATE-----";
    let begin = pem.find("-----BEGIN CERTIFICATE-----")?;
    let end = pem[begin..].find(END)? + begin + END.len();
    Some(&pem[begin..end])
}

/// The certificate `port` answers a TLS handshake with (openssl s_client, a real peer).
fn served_certificate(port: u16) -> String {
    let out = output_of(
        std::process::Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", "localhost"])
            .stdin(std::process::Stdio::null()),
        "openssl s_client",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    first_certificate(&text)
        .unwrap_or_else(|| panic!("no certificate from port {port}:\n{text}"))
        .to_owned()
}

/// A certificate renewed in place (certbot) is served to the next HTTPS and RTMPS
/// connections after a reload, while an RTMPS player connected before plays on; files
/// that do not make a certificate refuse the reload, naming the file, and the one in
/// force stays.
#[test]
fn reload_reads_the_certificate_again_for_https_and_rtmps() {
    let (first, second) = (TestCa::generate(), TestCa::generate());
    let dir = TempDir::new("reload-tls");
    let (cert, key) = (dir.path("cert.pem"), dir.path("key.pem"));
    let install = |ca: &flashless_lab::peers::TestCa, key_of: &flashless_lab::peers::TestCa| {
        std::fs::copy(&ca.cert_pem, &cert).expect("copying the certificate");
        std::fs::copy(&key_of.key_pem, &key).expect("copying the key");
    };
    let pem = |ca: &flashless_lab::peers::TestCa| {
        let text = std::fs::read_to_string(&ca.cert_pem).expect("reading the certificate");
        first_certificate(&text)
            .expect("a PEM certificate")
            .to_owned()
    };
    install(&first, &first);
    let (rtmps, admin) = (free_port(), free_port());
    let path = dir.path("flashless.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\ntls_cert = {cert:?}\ntls_key = {key:?}\nrtmps = \"127.0.0.1:{rtmps}\"\n\
             admin_listen = \"127.0.0.1:{admin}\"\n[auth]\nadmin_token = \"t0ken\"\n\
             [[channel]]\nname = \"a\"\nsource = \"{CLIP}\"\n"
        ),
    )
    .expect("writing the configuration");
    let gateway = Gateway::start(&["--no-demo", "--config", &path.to_string_lossy()]);
    gateway.log_saying("rtmps listening");
    assert_eq!(served_certificate(gateway.http), pem(&first));
    assert_eq!(served_certificate(rtmps), pem(&first));

    // A player over RTMPS through all of what follows.
    let played = dir.path("played.flv");
    let player = {
        let (url, out) = (format!("rtmps://127.0.0.1:{rtmps}/live/a"), played.clone());
        std::thread::spawn(move || rtmpdump_for(&url, &[], 8, &out))
    };
    std::thread::sleep(Duration::from_secs(2));

    install(&second, &second);
    let (status, body) = post_reload(admin, Some("t0ken"));
    assert_eq!(status, 200, "{body}");
    let applied: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(applied["certificate"], "replaced", "{body}");
    assert_eq!(applied["restart"], serde_json::json!([]), "{body}");
    assert_eq!(served_certificate(gateway.http), pem(&second));
    assert_eq!(served_certificate(rtmps), pem(&second));
    let (status, body) = post_reload(admin, Some("t0ken"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"certificate\":\"unchanged\""), "{body}");

    // The renewal half written: the new certificate with the old key.
    install(&first, &second);
    let (status, body) = post_reload(admin, Some("t0ken"));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(&*key.to_string_lossy()) && body.contains("not the key of the certificate"),
        "{body}"
    );
    std::fs::write(&cert, "").expect("emptying the certificate");
    let (status, body) = post_reload(admin, Some("t0ken"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no certificate in it"), "{body}");
    assert_eq!(served_certificate(gateway.http), pem(&second));
    assert_eq!(served_certificate(rtmps), pem(&second));

    let played = player.join().expect("the RTMPS player");
    assert!(
        played.codecs.iter().any(|c| c == "h264") && played.duration > 6.0,
        "played over RTMPS through the reloads: {played:?}"
    );

    // At the start, the same checks stop the gateway.
    let missing = dir.path("missing.pem").display().to_string();
    let second_cert = second.cert_pem.display().to_string();
    fails_saying(
        &[
            "serve",
            "--no-demo",
            "--tls-cert",
            &second_cert,
            "--tls-key",
            &missing,
        ],
        &[&missing, "reading the private key"],
    );
}

/// `[limits]` is reloaded: the caps judge the next viewers and connections, and those
/// admitted before a cap was lowered play on.
#[test]
fn reload_applies_limits_to_what_comes_next() {
    let dir = TempDir::new("reload-limits");
    let path = dir.path("flashless.toml");
    let config = |limits: &str| {
        let text = format!(
            "[limits]\n{limits}\n[auth]\nadmin_token = \"t0ken\"\n\
             [[channel]]\nname = \"a\"\nsource = \"{CLIP}\"\n"
        );
        std::fs::write(&path, text).expect("writing the configuration");
    };
    let reload = |gateway: &Gateway| {
        let (status, body) = post_reload(gateway.http, Some("t0ken"));
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"restart\":[]"), "{body}");
    };
    config("max_viewers = 1");
    let gateway = Gateway::start(&["--no-demo", "--config", &path.to_string_lossy()]);
    gateway.wait_live("a");
    let first = Watcher::start(gateway.http, "a");
    first.still_playing("the first viewer");
    assert_eq!(
        status_of(gateway.http, "/live/a.flv", ""),
        503,
        "a second viewer past max_viewers = 1"
    );

    config("max_viewers = 3");
    reload(&gateway);
    let second = Watcher::start(gateway.http, "a");
    second.still_playing("a second viewer once max_viewers is 3");

    // Lowered below those watching: no one is closed, the next is refused.
    config("max_viewers = 1\nconnections_per_ip = 3");
    reload(&gateway);
    first.still_playing("the first viewer after max_viewers went down");
    second.still_playing("the second viewer after max_viewers went down");
    assert_eq!(
        status_of(gateway.http, "/live/a.flv", ""),
        503,
        "a viewer past max_viewers = 1 again"
    );

    // connections_per_ip = 3: the two viewers and one more connection from 127.0.0.1.
    let third = TcpStream::connect(("127.0.0.1", gateway.http)).expect("connecting");
    let mut fourth = TcpStream::connect(("127.0.0.1", gateway.http)).expect("connecting");
    fourth.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let _ = fourth.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = fourth.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "a fourth connection past connections_per_ip = 3 was answered"
    );
    gateway.log_saying("http connection refused: too many connections from this address");
    drop(third);
    first.still_playing("the first viewer after the refusal");
}

/// Any 32 bytes do: the server compares answers, it never sees the SWF.
const SWF_HASH: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// `GET /api/clients` with the admin token: each viewer's address, in the order they came.
fn viewer_addresses(gateway: &Gateway, token: &str) -> Vec<String> {
    let mut s = TcpStream::connect(("127.0.0.1", gateway.http)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "GET /api/clients HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("GET");
    let mut text = String::new();
    s.read_to_string(&mut text).ok();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let list: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
    let mut viewers: Vec<(u64, String)> = (list.as_array().into_iter().flatten())
        .filter(|c| c["role"] == "viewer")
        .map(|c| {
            (
                c["id"].as_u64().unwrap_or(0),
                c["ip"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    viewers.sort();
    viewers.into_iter().map(|(_, ip)| ip).collect()
}

/// The trusted proxies, what the RTMP handshake asks (`swf_verify`) and `drain_timeout`
/// are reloaded: the next connections are judged by them, and those open keep what
/// they were judged by.
#[test]
fn reload_applies_the_proxies_the_handshake_and_the_drain_timeout() {
    let dir = TempDir::new("reload-doors");
    let path = dir.path("flashless.toml");
    let config = |server: &str, auth: &str| {
        let text = format!(
            "[server]\n{server}\n[auth]\nadmin_token = \"t0ken\"\n{auth}\n\
             [[channel]]\nname = \"a\"\nsource = \"{CLIP}\"\n"
        );
        std::fs::write(&path, text).expect("writing the configuration");
    };
    config("drain_timeout = 60", "");
    let gateway = Gateway::start(&["--no-demo", "--config", &path.to_string_lossy()]);
    gateway.wait_live("a");
    let forwarded = "X-Forwarded-For: 198.51.100.7\r\n";
    let first = Watcher::start_with(gateway.http, "/live/a.flv", forwarded);
    first.still_playing("the first viewer");
    // 127.0.0.1 is no proxy yet: what it says of its client is not believed.
    assert_eq!(viewer_addresses(&gateway, "t0ken"), ["127.0.0.1"]);
    let url = gateway.rtmp_url("a");
    let plain = dir.path("plain.flv");
    assert!(
        rtmpdump_for(&url, &[], 2, &plain).duration >= 0.5,
        "rtmpdump without SWF verification plays before it is asked for"
    );

    config(
        "trusted_proxies = [\"127.0.0.1\"]\ndrain_timeout = 2",
        &format!("swf_verify = {{ hash = \"{SWF_HASH}\", size = 123456 }}"),
    );
    let (status, body) = post_reload(gateway.http, Some("t0ken"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"restart\":[]"), "{body}");

    let second = Watcher::start_with(gateway.http, "/live/a.flv", forwarded);
    second.still_playing("the second viewer");
    first.still_playing("the first viewer after the reload");
    assert_eq!(
        viewer_addresses(&gateway, "t0ken"),
        ["127.0.0.1", "198.51.100.7"],
        "the proxy's client is believed for the viewer that came after the reload only"
    );

    // A wrong answer is refused at once (no answer waits for the handshake's deadline).
    let wrong = dir.path("wrong.flv");
    let refused = std::process::Command::new("rtmpdump")
        .args([
            "-q",
            "-r",
            &url,
            "--swfhash",
            &"00".repeat(32),
            "--swfsize",
            "123456",
        ])
        .args(["--stop", "3", "-o"])
        .arg(&wrong)
        .stdin(std::process::Stdio::null())
        .status()
        .expect("rtmpdump");
    assert!(
        !refused.success(),
        "rtmpdump with a wrong SWF answer ended well"
    );
    let len = std::fs::metadata(&wrong).map_or(0, |m| m.len());
    assert!(
        len <= 13,
        "an RTMP player with a wrong SWF answer got {len} bytes"
    );
    gateway.log_saying("SWF verification failed");
    let verified = dir.path("verified.flv");
    let answer = ["--swfhash", SWF_HASH, "--swfsize", "123456"];
    assert!(
        rtmpdump_for(&url, &answer, 3, &verified).duration >= 1.0,
        "rtmpdump with the SWF's answer plays"
    );

    // A drain waits as long as the file says now, not the 60 s the gateway started with.
    let mut s = TcpStream::connect(("127.0.0.1", gateway.http)).expect("connecting");
    write!(
        s,
        "POST /api/drain HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t0ken\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("POST");
    gateway.log_saying("timeout=2s");
}
