//! The HTTP surface added with HLS, recordings and draining, attacked as issue 14's
//! review attacked the rest: the real gateway, real sockets, ffmpeg publishing. Every
//! size or count a client controls stays bounded, bad input ends its own request
//! with a clear status, and nothing else is disturbed.

mod peers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use peers::*;

fn config(dir: &TempDir, text: &str) -> String {
    let path = dir.path("flashless.toml");
    std::fs::write(&path, text).expect("writing the configuration");
    path.to_string_lossy().into_owned()
}

/// A GET with `headers`, byte for byte: status, response headers (lowercased), body.
fn raw_get(port: u16, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n"
    )
    .expect("sending");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("reading");
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header block for {path}: {all:?}"));
    let head = String::from_utf8_lossy(&all[..end]).to_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, all[end + 4..].to_vec())
}

/// `cam-20261130T041500Z-{n}.mp4`-style names, `n` of them, under `root/cam`.
fn many_recordings(root: &std::path::Path, n: usize) {
    let dir = root.join("cam");
    std::fs::create_dir_all(&dir).expect("the channel's directory");
    for i in 0..n {
        let (h, m, s) = (i / 3600 % 24, i / 60 % 60, i % 60);
        let name = format!("cam-202611{:02}T{h:02}{m:02}{s:02}Z.mp4", 1 + i / 86_400);
        std::fs::write(dir.join(name), b"").expect("a recording");
    }
}

#[test]
fn listing_ten_thousand_recordings_is_not_quadratic() {
    let dir = TempDir::new("attack-list");
    let root = dir.path("rec");
    many_recordings(&root, 10_000);
    let file = config(&dir, &format!("[record]\ndir = {root:?}\n"));
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    // The first listing reads every file's boxes; the next ones use what it remembered.
    // Before the fix a listing took 15 s here (the cache pruned by a scan per entry).
    let (status, _, _) = raw_get(gateway.http, "/api/recordings", "");
    assert_eq!(status, 200);
    let started = Instant::now();
    let (status, _, body) = raw_get(gateway.http, "/api/recordings", "");
    let took = started.elapsed();
    assert_eq!(status, 200);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("JSON");
    eprintln!("listed {} in {took:?}, {} bytes", list.len(), body.len());
    assert!(took < Duration::from_secs(4), "a listing took {took:?}");
}
