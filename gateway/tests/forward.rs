//! Forwarding (`[[forward]]`) through the real gateway to nginx-rtmp, read back with
//! rtmpdump and ffprobe: the channel arrives whole (also over RTMPS), the forward comes
//! back after the target restarts (the channel's own viewers undisturbed meanwhile), a
//! session's end ends the publish and the next session publishes again, a target that
//! stops reading is dropped, and a reload stops it.

mod peers;

use std::time::{Duration, Instant};

use peers::upstream::{TestCa, TlsTerminator};
use peers::*;

/// Waits up to `limit` for `/metrics`' line starting with `line_start` to satisfy `ok`.
fn wait_metric(
    gateway: &Gateway,
    line_start: &str,
    ok: impl Fn(f64) -> bool,
    limit: Duration,
    what: &str,
) {
    let started = Instant::now();
    loop {
        let value = gateway.metric(line_start);
        if ok(value) {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: {line_start} is {value}\n{}",
            gateway.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What nginx-rtmp serves of `stream` to a player, rtmpdump reading it for `secs`.
fn played_from(port: u16, stream: &str, secs: u64, dir: &TempDir) -> Probe {
    rtmpdump_for(&nginx_url(port, stream), &[], secs, &fresh(dir, stream))
}

fn nginx_url(port: u16, stream: &str) -> String {
    format!("rtmp://127.0.0.1:{port}/live/{stream}")
}

/// A file name in `dir` not used before.
fn fresh(dir: &TempDir, stream: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.path(&format!("{stream}-{n}.flv"))
}

/// `flashless_forward_failures_total` comes to 1 at least.
fn wait_failures(gateway: &Gateway, limit: Duration, what: &str) {
    let failures = "flashless_forward_failures_total ";
    wait_metric(gateway, failures, |v| v >= 1.0, limit, what);
}

/// The channel's own RTMP viewer gets 3 s of it that decode cleanly.
fn assert_own_viewer_plays(gateway: &Gateway, dir: &TempDir) {
    let own = fresh(dir, "own");
    let probe = dump_for(&[&gateway.rtmp_url("cam")], 3, &own);
    let seconds = probe.duration;
    assert!(seconds >= 2.0, "the channel's own viewer: {seconds} s");
    assert!(decode_errors(&own).is_empty(), "{}", decode_errors(&own));
}

/// `flashless_forwards` comes to `n`.
fn wait_forwards(gateway: &Gateway, n: f64, what: &str) {
    wait_metric(
        gateway,
        "flashless_forwards ",
        |v| v == n,
        Duration::from_secs(20),
        what,
    );
}

/// nginx-rtmp plays `stream` whole for 4 s: pictures and sound.
fn assert_forwarded(port: u16, stream: &str, what: &str, dir: &TempDir) {
    assert_whole(&played_from(port, stream, 4, dir), what);
}

fn assert_whole(probe: &Probe, what: &str) {
    assert!(
        probe.codecs.iter().any(|c| c == "h264") && probe.codecs.iter().any(|c| c == "aac"),
        "{what}: {:?}",
        probe.codecs
    );
    assert!(probe.duration >= 3.0, "{what}: {} s", probe.duration);
}

#[test]
fn a_channel_is_forwarded_to_nginx_rtmp_through_its_restarts_and_the_publishers() {
    let dir = TempDir::new("forward");
    let nginx = Nginx::start(4096);
    let port = nginx.port;
    let forwarded = format!(
        "[[forward]]\nmatch = \"cam*\"\nto = \"rtmp://127.0.0.1:{port}/live/{{name}}-copy\"\n"
    );
    let file = config(&dir, &forwarded);
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    wait_forwards(&gateway, 1.0, "forwarding");
    assert_forwarded(port, "cam-copy", "forwarded", &dir);
    assert!(
        gateway.metric("flashless_sent_bytes_total{channel=\"cam\",protocol=\"forward\"}")
            > 50_000.0
    );

    // The target goes away: the forward fails and retries; the channel's own viewers
    // go on meanwhile.
    drop(nginx);
    wait_failures(&gateway, Duration::from_secs(20), "the target gone");
    assert_eq!(gateway.metric("flashless_forwards "), 0.0);
    assert_own_viewer_plays(&gateway, &dir);
    let log = gateway.log_text();
    assert!(
        log.contains(&format!("forwarding to 127.0.0.1:{port}/live failed: ")),
        "{log}"
    );
    assert!(
        !log.contains("-copy"),
        "the log names the stream (its key) of a target:\n{log}"
    );

    // Back where it was: forwarded again, from a keyframe.
    let _nginx = Nginx::start_on(port, 4096);
    wait_forwards(&gateway, 1.0, "forwarding again");
    assert_forwarded(port, "cam-copy", "after the target's restart", &dir);

    // The publisher leaves: the forward's publish ends; the next publisher's session
    // is forwarded again.
    drop(publisher);
    wait_forwards(&gateway, 0.0, "the session's end");
    let failures = gateway.metric("flashless_forward_failures_total ");
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    wait_forwards(&gateway, 1.0, "the next session");
    assert_forwarded(port, "cam-copy", "the next session", &dir);
    assert_eq!(
        gateway.metric("flashless_forward_failures_total "),
        failures,
        "a session's end is no failure"
    );

    // A second channel the rule matches goes to its own target stream.
    let _other = ffmpeg_publish(&gateway.rtmp_url("cam2"), &[]);
    wait_forwards(&gateway, 2.0, "the second channel");
    assert_forwarded(port, "cam2-copy", "the second channel", &dir);

    // Reloaded without the rule: both publishes end, the channels play on.
    config(&dir, "");
    gateway.hup();
    wait_forwards(&gateway, 0.0, "the rule removed");
    let out = fresh(&dir, "cam-copy");
    let rtmpdump = Guard::spawn(
        std::process::Command::new("rtmpdump")
            .args(["-q", "-v", "-r", &nginx_url(port, "cam-copy"), "-o"])
            .arg(&out),
        "rtmpdump",
    );
    std::thread::sleep(Duration::from_secs(3));
    rtmpdump.signal("TERM", Duration::from_secs(5));
    let written = std::fs::metadata(&out).map_or(0, |m| m.len());
    assert!(written < 1000, "still forwarded: {written} bytes in 3 s");
    gateway.wait_live("cam");
}

/// `kill -SIG pid`.
fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{sig} {pid}: {status}");
}

#[test]
fn a_target_that_stops_reading_is_dropped_and_the_channel_plays_on() {
    let dir = TempDir::new("forward-stall");
    let nginx = Nginx::start(4096);
    let port = nginx.port;
    let file = config(
        &dir,
        &format!("[[forward]]\nmatch = \"cam\"\nto = \"rtmp://127.0.0.1:{port}/live/copy\"\n"),
    );
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    // 20 Mbit/s fills the loopback's socket buffers in seconds once nginx stops reading.
    let cbr = [
        "-b:v",
        "20M",
        "-minrate",
        "20M",
        "-maxrate",
        "20M",
        "-bufsize",
        "20M",
        "-x264-params",
        "nal-hrd=cbr",
    ];
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &cbr);
    gateway.wait_live("cam");
    wait_forwards(&gateway, 1.0, "forwarding");

    // nginx frozen: its socket fills, and the forward gives up on it 10 s later.
    signal(nginx.pid(), "STOP");
    wait_failures(
        &gateway,
        Duration::from_secs(40),
        "a target that reads nothing is kept",
    );
    gateway.log_saying("took no media");
    assert_own_viewer_plays(&gateway, &dir);

    // Thawed: forwarded again. The forward may start before nginx has let go of the
    // connection it froze on (its publish of `copy` refused once, and retried), so the
    // copy plays within three tries.
    signal(nginx.pid(), "CONT");
    wait_forwards(&gateway, 1.0, "forwarding again");
    let mut played = played_from(port, "copy", 4, &dir);
    for _ in 0..2 {
        if played.duration >= 3.0 {
            break;
        }
        played = played_from(port, "copy", 4, &dir);
    }
    assert_whole(&played, "after the stall");

    // A gateway stopped while forwarding ends the publish and exits at once.
    let (status, took) = gateway.stop("TERM");
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// Platforms take RTMPS only (Facebook Live's ingest): a forward over TLS, to nginx-rtmp
/// behind a TLS terminator whose certificate a private CA (`FLASHLESS_CA_FILE`) signed.
#[test]
fn a_channel_is_forwarded_over_rtmps() {
    let dir = TempDir::new("forward-tls");
    let ca = TestCa::generate();
    let nginx = Nginx::start(4096);
    let tls = TlsTerminator::start(nginx.port, &ca);
    let file = config(
        &dir,
        &format!(
            "[[forward]]\nmatch = \"cam\"\nto = \"rtmps://127.0.0.1:{}/live/{{name}}\"\n",
            tls.port
        ),
    );
    let gateway = Gateway::start_with(
        &["--no-demo", "--config", &file],
        &[("FLASHLESS_CA_FILE", ca.ca_pem.as_os_str())],
    );
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    wait_forwards(&gateway, 1.0, "forwarding over TLS");
    assert_forwarded(nginx.port, "cam", "forwarded over RTMPS", &dir);
}

#[test]
fn a_forward_rule_that_cannot_work_is_refused_with_its_line() {
    let dir = TempDir::new("forward-config");
    for (text, needles) in [
        (
            "[[forward]]\nmatch = \"cam-*\"\nto = \"rtmp://127.0.0.1/live/cam\"\n",
            &["line 3", "{name}"][..],
        ),
        (
            "[[forward]]\nmatch = \"cam\"\nto = \"http://127.0.0.1/live/cam.flv\"\n",
            &["line 3", "[[forward]] to", "scheme"][..],
        ),
        (
            "\n[[forward]]\nmatch = \"cam x\"\nto = \"rtmp://127.0.0.1/live/{name}\"\n",
            &["line 3", "[[forward]] match"][..],
        ),
    ] {
        let file = config(&dir, text);
        fails_saying(&["serve", "--no-demo", "--config", &file], needles);
    }
}

/// A rule that forwards every channel into its own gateway under another name: each copy
/// matches again, so without a count the gateway would make channels without end. A
/// forward says how many forwards its media came through, and past `MAX_HOPS` (4) the
/// channel is not forwarded, its forward failing with why.
#[test]
fn a_forward_loop_into_the_same_gateway_stops_after_four_copies() {
    let dir = TempDir::new("forward-loop");
    let (http, rtmp, admin) = (free_port(), free_port(), free_port());
    let file = config(
        &dir,
        &format!("[[forward]]\nmatch = \"*\"\nto = \"rtmp://127.0.0.1:{rtmp}/live/{{name}}-x\"\n"),
    );
    // Forwards are listed for the operator: on the admin listener.
    let admin_listen = format!("127.0.0.1:{admin}");
    let gateway = Gateway::start_on(
        (http, rtmp),
        &[
            "--no-demo",
            "--config",
            &file,
            "--admin-listen",
            &admin_listen,
        ],
    );
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    let last = "cam-x-x-x-x";
    gateway.wait_live(last);
    let refused = "came through 4 forwards already";
    let started = Instant::now();
    loop {
        let (_, body) = http_get(admin, "/api/channels");
        let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let entry = list
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == last));
        let error = entry
            .and_then(|c| c["forwards"][0]["error"].as_str())
            .unwrap_or("");
        if error.contains(refused) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{last}'s forward never said it stopped: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A few seconds on, still the five channels and no sixth.
    std::thread::sleep(Duration::from_secs(3));
    let (_, body) = gateway.get("/api/channels");
    let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let mut names: Vec<&str> = (list.as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["cam", "cam-x", "cam-x-x", "cam-x-x-x", last],
        "{body}"
    );
}
