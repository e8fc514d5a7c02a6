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

/// A small real recording: ffmpeg's fragmented MP4 of the test clip.
fn real_recording(path: &std::path::Path) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc=size=160x120:rate=10:duration=2")
        .args([
            "-c:v",
            "libx264",
            "-g",
            "10",
            "-movflags",
            "frag_keyframe+empty_moov",
        ])
        .arg(path)
        .output()
        .expect("running ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn recordings_resist_traversal_links_and_range_abuse() {
    let dir = TempDir::new("attack-rec");
    let root = dir.path("rec");
    std::fs::create_dir_all(root.join("cam")).expect("a directory");
    std::fs::write(dir.path("secret.mp4"), b"SECRET").expect("a secret");
    let real = root.join("cam/cam-20261130T041500Z.mp4");
    real_recording(&real);
    let bytes = std::fs::read(&real).expect("reading it");
    let len = bytes.len();
    // Links inside the directory, out of it and to another recording in it: none is
    // followed (the listing does not follow them either).
    std::os::unix::fs::symlink(
        dir.path("secret.mp4"),
        root.join("cam/cam-20261130T041501Z.mp4"),
    )
    .expect("a link out");
    std::os::unix::fs::symlink(&real, root.join("cam/cam-20261130T041502Z.mp4"))
        .expect("a link in");
    std::os::unix::fs::symlink(dir.path(""), root.join("out")).expect("a directory link out");
    std::os::unix::fs::symlink(root.join("cam"), root.join("cam2")).expect("a directory link in");
    let file = config(&dir, &format!("[record]\ndir = {root:?}\n"));
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let url = "/recordings/cam/cam-20261130T041500Z.mp4";
    let (status, _, body) = raw_get(gateway.http, url, "");
    assert_eq!((status, body.len()), (200, len));

    for bad in [
        "/recordings/cam/cam-20261130T041501Z.mp4",
        "/recordings/cam/cam-20261130T041502Z.mp4",
        "/recordings/out/secret.mp4",
        "/recordings/cam2/cam-20261130T041500Z.mp4",
        "/recordings/cam/..%2f..%2fsecret.mp4",
        "/recordings/cam/%2e%2e/%2e%2e/secret.mp4",
        "/recordings/cam%5c..%5c..%5csecret.mp4",
        "/recordings/%2f%2e%2e/secret.mp4",
        "/recordings//etc/passwd",
        "/recordings/cam/cam-20261130T041500Z.mp4%00",
        "/recordings/cam/cam-20261130T041500Z.mp4%00.mp4",
        "/recordings/cam/%00/../cam-20261130T041500Z.mp4",
        "/recordings/cam/cam-20261130T041500Z.mp4/",
        "/recordings/cam/cam-20261130T041500Z.mp4%2f.",
        "/recordings/cam/.%2e/secret.mp4",
        "/recordings/%252e%252e/secret.mp4",
    ] {
        let (status, _, body) = raw_get(gateway.http, bad, "");
        assert!(status == 404 || status == 400, "{bad}: {status}");
        assert!(!String::from_utf8_lossy(&body).contains("SECRET"), "{bad}");
        assert!(body.len() < 200, "{bad}: {} bytes", body.len());
    }
    let listed: Vec<serde_json::Value> =
        serde_json::from_slice(&raw_get(gateway.http, "/api/recordings", "").2).expect("JSON");
    assert_eq!(listed.len(), 1, "{listed:?}");

    // Range abuse: each answered by the RFC, no panic, the gateway still serving.
    let last = len - 1;
    let many: String = (0..2000).map(|i| format!("{i}-{i},")).collect();
    for (range, want, content_range) in [
        (format!("bytes={}", many.trim_end_matches(',')), 200, None),
        ("bytes=-0".to_owned(), 416, Some(format!("bytes */{len}"))),
        (
            "bytes=18446744073709551615-".to_owned(),
            416,
            Some(format!("bytes */{len}")),
        ),
        ("bytes=18446744073709551616-".to_owned(), 200, None),
        (
            "bytes=0-18446744073709551615".to_owned(),
            206,
            Some(format!("bytes 0-{last}/{len}")),
        ),
        ("bytes=0-99999999999999999999999".to_owned(), 200, None),
        (
            "bytes=-18446744073709551615".to_owned(),
            206,
            Some(format!("bytes 0-{last}/{len}")),
        ),
        ("bytes=-99999999999999999999999".to_owned(), 200, None),
        ("bytes=10-5".to_owned(), 200, None),
        (
            format!("bytes=-{}", len * 10),
            206,
            Some(format!("bytes 0-{last}/{len}")),
        ),
        (
            format!("bytes={last}-{last}"),
            206,
            Some(format!("bytes {last}-{last}/{len}")),
        ),
        ("bytes=--1".to_owned(), 200, None),
        ("bytes=1--2".to_owned(), 200, None),
        (
            "bytes= 5 - 9 ".to_owned(),
            206,
            Some(format!("bytes 5-9/{len}")),
        ),
    ] {
        let (status, head, body) = raw_get(gateway.http, url, &format!("Range: {range}\r\n"));
        let shown = &range[..range.len().min(40)];
        assert_eq!(status, want, "{shown}: {head}");
        match (status, content_range) {
            (206, Some(cr)) => {
                assert!(
                    head.contains(&format!("content-range: {cr}")),
                    "{shown}: {head}"
                );
                let (first, last) = cr[6..].split_once('/').unwrap().0.split_once('-').unwrap();
                let (first, last): (usize, usize) = (first.parse().unwrap(), last.parse().unwrap());
                assert_eq!(body, &bytes[first..=last], "{shown}");
            }
            (416, Some(cr)) => assert!(head.contains(&format!("content-range: {cr}")), "{head}"),
            _ => assert_eq!(body, bytes, "{shown}"),
        }
    }

    // A huge `?channel=` is only a filter that matches nothing.
    let huge = "a".repeat(60_000);
    let (status, _, body) = raw_get(gateway.http, &format!("/api/recordings?channel={huge}"), "");
    assert_eq!((status, body.as_slice()), (200, b"[]".as_slice()));
    let (status, _, body) = raw_get(gateway.http, url, "");
    assert_eq!((status, body.len()), (200, len), "still serving");
}
