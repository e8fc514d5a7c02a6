//! Event hooks (`on_publish`, `on_unpublish`, `on_play`, `on_stop`) against a real HTTP
//! service on loopback, started by the test: what they say, that a failed delivery is
//! retried, and that a hook that hangs slows no one's media.

mod peers;

use std::time::{Duration, Instant};

use peers::*;
use serde_json::Value;

fn hooks_at(url: &str) -> String {
    format!(
        "[hooks]\non_publish = \"{url}\"\non_unpublish = \"{url}\"\non_play = \"{url}\"\non_stop = \"{url}\"\ntimeout = 1\n"
    )
}

/// Waits until `received` holds an event matching `check`; returns it.
fn event(received: &Received, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        if let Some(v) = received.lock().unwrap().iter().find(|v| check(v)) {
            return v.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no {what} in {:?}",
            received.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn publish_and_play_are_told_to_the_hooks_srs_style() {
    let (port, received) = hook_service(1);
    let dir = TempDir::new("hooks");
    let file = config(&dir, &hooks_at(&format!("http://127.0.0.1:{port}/hooks")));
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let publisher = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/other/cam", gateway.rtmp), &[]);
    gateway.wait_live("other/cam");
    let publish = event(&received, "on_publish", |v| v["action"] == "on_publish");
    assert_eq!(publish["app"], "other");
    assert_eq!(publish["stream"], "cam");
    assert_eq!(publish["channel"], "other/cam");
    assert_eq!(publish["ip"], "127.0.0.1");
    assert_eq!(publish["protocol"], "rtmp");

    let text = ffprobe_streams(&format!("http://127.0.0.1:{}/other/cam.flv", gateway.http));
    assert!(text.contains("h264"), "{text}");
    let play = event(&received, "on_play", |v| v["action"] == "on_play");
    assert_eq!(play["protocol"], "http-flv");
    let stop = event(&received, "on_stop", |v| v["action"] == "on_stop");
    assert_eq!(stop["client_id"], play["client_id"]);
    assert_ne!(play["client_id"], publish["client_id"]);

    drop(publisher);
    let unpublish = event(&received, "on_unpublish", |v| v["action"] == "on_unpublish");
    assert_eq!(unpublish["client_id"], publish["client_id"]);
    // The service refused the very first delivery: it was retried, not lost.
    assert!(gateway.metric("flashless_hook_retried_total") >= 1.0);
    assert_eq!(gateway.metric("flashless_hook_failed_total"), 0.0);
    assert!(gateway.metric("flashless_hook_sent_total") >= 4.0);
}

/// A hook service that accepts connections and never answers: media flows as ever,
/// and the failures are logged and counted.
#[test]
fn a_hook_that_hangs_slows_no_media_and_is_counted() {
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").expect("binding");
    let port = hanging.local_addr().expect("its address").port();
    // Accepted (by the kernel's backlog) and never read or answered.
    let dir = TempDir::new("hooks-down");
    let file = config(&dir, &hooks_at(&format!("http://127.0.0.1:{port}/hooks")));
    let gateway = Gateway::start(&["--config", &file]);
    gateway.wait_live("demo");
    let started = Instant::now();
    for _ in 0..3 {
        let text = ffprobe_streams(&gateway.http_url("demo"));
        assert!(text.contains("h264"), "{text}");
    }
    // Three plays with a hook timing out at every event: no play waited for it.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    while gateway.metric("flashless_hook_failed_total") < 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no failure counted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(gateway.metric("flashless_hook_retried_total") >= 2.0);
    gateway.log_saying("event hook failed after 3 attempts");
    drop(hanging);
}
