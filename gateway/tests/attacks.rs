//! The HTTP surface added with HLS, recordings and draining, attacked as issue 14's
//! review attacked the rest: the real gateway, real sockets, ffmpeg publishing. Every
//! size or count a client controls stays bounded, bad input ends its own request
//! with a clear status, and nothing else is disturbed.

mod peers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use peers::*;

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
    // One answer lists 1,000 at most; the header says how many there are; pages of
    // either order follow each other.
    let (_, head, _) = raw_get(gateway.http, "/api/recordings", "");
    assert_eq!(list.len(), 1000);
    assert!(head.contains("x-total-count: 10000"), "{head}");
    let page = |query: &str| -> Vec<String> {
        let (status, _, body) = raw_get(gateway.http, &format!("/api/recordings?{query}"), "");
        assert_eq!(status, 200, "{query}");
        let list: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("JSON");
        list.iter()
            .map(|r| r["start"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let oldest = page("limit=4");
    assert_eq!(oldest[0], "2026-11-01T00:00:00Z");
    assert_eq!(page("limit=2&offset=2"), oldest[2..]);
    let newest = page("order=newest&limit=3");
    assert_eq!(newest[0], "2026-11-01T02:46:39Z");
    assert_eq!(page("order=newest&limit=2&offset=1"), newest[1..]);
    assert!(page("offset=20000").is_empty());
    for bad in ["limit=0", "limit=1001", "order=random", "limit=x"] {
        let (status, _, _) = raw_get(gateway.http, &format!("/api/recordings?{bad}"), "");
        assert_eq!(status, 400, "{bad}");
    }
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

/// 1 s segments of 0.25 s parts: blocking requests time out within seconds.
const LL: &[&str] = &["--no-demo", "--hls-segment", "1", "--hls-part", "0.25"];

const SECRET: &str = "correct horse battery staple";

/// `flashless sign` for `args`: the token alone.
fn sign(args: &[&str]) -> String {
    signed_token(SECRET, args)
}

/// The gateway's open file descriptors.
fn fds(gateway: &Gateway) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", gateway.pid()))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The `(msn, part)` of a playlist's preload hint.
fn hinted(playlist: &str) -> (u64, u32) {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))
        .unwrap_or_else(|| panic!("no preload hint in {playlist}"));
    let uri = line.split("URI=\"").nth(1).expect("a URI");
    let name = uri
        .split(['"', '?'])
        .next()
        .and_then(|n| n.strip_prefix("part"))
        .and_then(|n| n.strip_suffix(".m4s"))
        .expect("a part");
    let (msn, i) = name.split_once('.').expect("msn.index");
    (msn.parse().expect("msn"), i.parse().expect("index"))
}

/// A GET that answers within `limit`: its status and how long it took.
fn timed(port: u16, path: &str, limit: Duration) -> (u16, Duration) {
    let started = Instant::now();
    let (status, _, _) = raw_get(port, path, "");
    let took = started.elapsed();
    assert!(took < limit, "{path} took {took:?}");
    (status, took)
}

#[test]
fn hls_requests_with_hostile_numbers_and_tokens_end_in_time() {
    let mut args = LL.to_vec();
    args.extend(["--secret", SECRET, "--connections-per-ip", "40"]);
    let gw = Gateway::start(&args);
    let _cam = ffmpeg_publish(
        &format!(
            "{}?token={}",
            gw.rtmp_url("cam"),
            sign(&["--publish", "cam"])
        ),
        &[],
    );
    let _dog = ffmpeg_publish(
        &format!(
            "{}?token={}",
            gw.rtmp_url("dog"),
            sign(&["--publish", "dog"])
        ),
        &[],
    );
    gw.wait_live("cam");
    gw.wait_live("dog");
    let (cam, dog) = (sign(&["cam"]), sign(&["dog"]));
    let (status, _, body) = raw_get(gw.http, &format!("/live/cam/index.m3u8?token={cam}"), "");
    assert_eq!(status, 200);
    let (msn, _) = hinted(&String::from_utf8_lossy(&body));
    let quick = Duration::from_secs(2);
    let held = Duration::from_secs(12);
    let reload = |q: &str| format!("/live/cam/index.m3u8?{q}&token={cam}");

    // Numbers no playlist can reach: refused at once.
    for q in [
        "_HLS_msn=18446744073709551615".to_owned(),
        "_HLS_msn=18446744073709551616".to_owned(),
        "_HLS_msn=-1".to_owned(),
        format!("_HLS_msn={msn}&_HLS_part=-1"),
        format!("_HLS_msn={msn}&_HLS_part=4294967296"),
        format!("_HLS_msn={}", msn + 1000),
        "_HLS_part=1".to_owned(),
        "_HLS_msn=&_HLS_part=".to_owned(),
    ] {
        let (status, _) = timed(gw.http, &reload(&q), quick);
        assert_eq!(status, 400, "{q}");
    }
    // Near enough to wait for: held, but never past the blocking timeout.
    for q in [
        format!("_HLS_msn={}&_HLS_part=4294967295", msn + 1),
        format!("_HLS_msn={}&_HLS_msn=18446744073709551615", msn + 1),
        format!("_HLS_msn={msn}&_HLS_part=3&_HLS_part=4294967295"),
        "_HLS_msn=0".to_owned(),
    ] {
        let (status, _) = timed(gw.http, &reload(&q), held);
        assert!(status == 200 || status == 503, "{q}: {status}");
    }
    // Media far out of the window, or numbers past any: 404 at once.
    for file in [
        "part18446744073709551615.0.m4s".to_owned(),
        format!("part{msn}.4294967295.m4s"),
        format!("part{}.0.m4s", msn + 1000),
        "part18446744073709551616.0.m4s".to_owned(),
        "seg18446744073709551615.m4s".to_owned(),
        format!("seg{}.m4s", msn + 1000),
        "init18446744073709551615.mp4".to_owned(),
        "part1.-1.m4s".to_owned(),
    ] {
        let (status, _) = timed(gw.http, &format!("/live/cam/{file}?token={cam}"), quick);
        assert_eq!(status, 404, "{file}");
    }
    // The next segment's first part: held until it is out.
    let (status, _) = timed(
        gw.http,
        &format!("/live/cam/part{}.0.m4s?token={cam}", msn + 1),
        held,
    );
    assert_eq!(status, 200);

    // Tokens: none, a wrong one, and the other channel's, on every kind of request.
    let (status, _, _) = raw_get(gw.http, &format!("/live/cam/index.m3u8?token={cam}"), "");
    assert_eq!(status, 200);
    for token in ["", "token=nope", "token=1.2.3", &format!("token={dog}")] {
        for path in [
            format!("/live/cam/index.m3u8?{token}"),
            format!("/live/cam/index.m3u8?_HLS_msn={msn}&{token}"),
            format!("/live/cam/part{msn}.0.m4s?{token}"),
            format!("/live/cam/seg{msn}.m4s?{token}"),
            format!("/live/cam/init0.mp4?{token}"),
        ] {
            let (status, _) = timed(gw.http, &path, quick);
            assert!(status == 401 || status == 403, "{path}: {status}");
        }
    }
    // The right token of another channel, hidden behind a first wrong one.
    let (status, _) = timed(
        gw.http,
        &format!("/live/cam/seg{msn}.m4s?token={dog}&token={cam}"),
        quick,
    );
    assert!(status == 401 || status == 403, "{status}");

    // Many held requests at once: the per-address cap holds, each ends in time, and
    // memory and descriptors come back.
    let (fds_before, rss_before) = (fds(&gw), gw.rss_kib());
    let (msn, part) = {
        let (_, _, body) = raw_get(gw.http, &format!("/live/cam/index.m3u8?token={cam}"), "");
        hinted(&String::from_utf8_lossy(&body))
    };
    let path = format!(
        "/live/cam/index.m3u8?_HLS_msn={}&_HLS_part={part}&token={cam}",
        msn + 1
    );
    let threads: Vec<_> = (0..200)
        .map(|_| {
            let (port, path) = (gw.http, path.clone());
            std::thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                    return 0;
                };
                s.set_read_timeout(Some(Duration::from_secs(20))).ok();
                let sent = write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
                let mut all = Vec::new();
                if sent.is_err() || s.read_to_end(&mut all).is_err() || all.len() < 12 {
                    return 0;
                }
                String::from_utf8_lossy(&all[9..12]).parse().unwrap_or(0)
            })
        })
        .collect();
    let started = Instant::now();
    let answers: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let answered = answers.iter().filter(|&&s| s != 0).count();
    eprintln!("{answered} of 200 held answered in {:?}", started.elapsed());
    assert!(started.elapsed() < held, "{:?}", started.elapsed());
    assert!(answered <= 40 && answered > 0, "{answered} answered");
    assert!(
        answers.iter().all(|&s| s == 0 || s == 200 || s == 503),
        "{answers:?}"
    );
    std::thread::sleep(Duration::from_secs(1));
    let (fds_after, rss_after) = (fds(&gw), gw.rss_kib());
    eprintln!("fds {fds_before} → {fds_after}, rss {rss_before} → {rss_after} KiB");
    assert!(fds_after <= fds_before + 5, "{fds_before} → {fds_after}");
    assert!(
        rss_after < rss_before + 30_000,
        "{rss_before} → {rss_after} KiB"
    );
    assert_eq!(gw.metric("flashless_hls_producers"), 1.0);
}

#[test]
fn hls_requests_for_unknown_channels_start_nothing() {
    let gw = Gateway::start(LL);
    let _cam = ffmpeg_publish(&gw.rtmp_url("cam"), &[]);
    gw.wait_live("cam");
    let rss_before = gw.rss_kib();
    let started = Instant::now();
    for i in 0..3000 {
        for file in ["index.m3u8", "seg1.m4s", "part1.0.m4s"] {
            let (status, _, _) = raw_get(gw.http, &format!("/live/x{i}/{file}"), "");
            assert_eq!(status, 404, "x{i}/{file}");
        }
    }
    eprintln!("9000 requests in {:?}", started.elapsed());
    let (_, list) = gw.get("/api/channels");
    let channels: Vec<serde_json::Value> = serde_json::from_str(&list).expect("JSON");
    assert_eq!(channels.len(), 1, "{list}");
    assert_eq!(gw.metric("flashless_hls_producers"), 0.0);
    let rss_after = gw.rss_kib();
    assert!(
        rss_after < rss_before + 20_000,
        "{rss_before} → {rss_after} KiB"
    );
}

/// The `/api/channels` list's length.
fn channel_count(gateway: &Gateway) -> usize {
    let (_, list) = gateway.get("/api/channels");
    serde_json::from_str::<Vec<serde_json::Value>>(&list)
        .expect("JSON")
        .len()
}

#[test]
fn hls_names_under_a_pull_pattern_are_bounded_by_the_channel_cap() {
    let nginx = peers::upstream::NginxRtmp::start_on(free_port());
    let _cam = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/cam-1", nginx.port), &[]);
    let dir = TempDir::new("attack-pull");
    let file = config(
        &dir,
        &format!(
            "[limits]\nmax_channels = 3\nabandoned_timeout = 2\n\
             [[pull]]\nmatch = \"*\"\nsource = \"rtmp://127.0.0.1:{}/live/{{name}} live=1 timeout=2\"\nidle_timeout = 1\n",
            nginx.port
        ),
    );
    let mut args = LL.to_vec();
    args.extend(["--config", &file]);
    let gw = Gateway::start(&args);
    let threads: Vec<_> = (0..80)
        .map(|i| {
            let port = gw.http;
            std::thread::spawn(move || raw_get(port, &format!("/live/n{i}/index.m3u8"), "").0)
        })
        .collect();
    let started = Instant::now();
    let mut most = 0;
    while !threads.iter().all(|t| t.is_finished()) {
        most = most.max(channel_count(&gw));
        assert!(started.elapsed() < Duration::from_secs(40), "requests held");
        std::thread::sleep(Duration::from_millis(100));
    }
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    eprintln!(
        "{statuses:?}, at most {most} channels, {:?}",
        started.elapsed()
    );
    assert!(most <= 3, "{most} channels");
    assert!(statuses.iter().all(|&s| s == 503), "{statuses:?}");
    assert!(gw.metric("flashless_hls_producers") <= 3.0);
    // Then all goes: no producer, no channel, and the real one plays.
    let started = Instant::now();
    while channel_count(&gw) > 0 || gw.metric("flashless_hls_producers") > 0.0 {
        assert!(started.elapsed() < Duration::from_secs(20), "never freed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let started = Instant::now();
    loop {
        let (status, _, _) = raw_get(gw.http, "/live/cam-1/index.m3u8", "");
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "cam-1 never played"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A POST with no body and `headers`: the status.
fn post(port: u16, path: &str, headers: &str) -> u16 {
    // 0: the gateway is gone (a drain with nothing to wait for ends at once).
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    if write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n{headers}\r\n"
    )
    .is_err()
    {
        return 0;
    }
    let mut all = Vec::new();
    s.read_to_end(&mut all).ok();
    String::from_utf8_lossy(all.get(9..12).unwrap_or_default())
        .parse()
        .unwrap_or(0)
}

#[test]
fn draining_without_a_token_is_refused_and_held_reloads_end_with_it() {
    // No admin token: nobody drains over HTTP.
    let gw = Gateway::start(&["--no-demo"]);
    for headers in [
        "",
        "Authorization: Bearer \r\n",
        "Authorization: Bearer x\r\n",
    ] {
        assert_eq!(post(gw.http, "/api/drain", headers), 403, "{headers}");
    }
    assert_eq!(gw.get("/healthz").0, 200);
    drop(gw);

    const ADMIN: &str = "an admin token long enough";
    let mut args = LL.to_vec();
    args.extend(["--admin-token", ADMIN, "--drain-timeout", "3"]);
    let gw = Gateway::start(&args);
    let _cam = ffmpeg_publish(&gw.rtmp_url("cam"), &[]);
    gw.wait_live("cam");
    let (status, _, body) = raw_get(gw.http, "/live/cam/index.m3u8", "");
    assert_eq!(status, 200);
    let (msn, _) = hinted(&String::from_utf8_lossy(&body));
    // Reloads held for a part not out yet when the drain comes.
    let held: Vec<_> = (0..20)
        .map(|_| {
            let port = gw.http;
            let path = format!("/live/cam/index.m3u8?_HLS_msn={}&_HLS_part=3", msn + 1);
            std::thread::spawn(move || {
                let started = Instant::now();
                let (status, _, body) = raw_get(port, &path, "");
                (
                    status,
                    String::from_utf8_lossy(&body).into_owned(),
                    started.elapsed(),
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let bearer = format!("Authorization: Bearer {ADMIN}\r\n");
    assert_eq!(
        post(gw.http, "/api/drain", "Authorization: Bearer no\r\n"),
        403
    );
    assert_eq!(post(gw.http, "/api/drain", &bearer), 202);
    // Again: the same answer while the gateway is still there (it may be gone already,
    // its players all answered).
    for _ in 0..3 {
        let status = post(gw.http, "/api/drain", &bearer);
        assert!(status == 202 || status == 0, "{status}");
    }
    for t in held {
        let (status, body, took) = t.join().expect("a held reload");
        assert!(status == 200 || status == 503, "{status}");
        if status == 503 {
            assert!(body.contains("draining"), "{body}");
        }
        // The producer stopped with the drain: nothing it waits for can come, so it
        // is not held to its timeout (3 s here; 30 s with 10 s segments).
        assert!(took < Duration::from_millis(1500), "held {took:?}");
    }
    let (status, took, log) = gw.exit(Duration::from_secs(15));
    assert!(status.success(), "exited with {status}\n{log}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn concurrent_listings_of_ten_thousand_recordings_stay_bounded() {
    let dir = TempDir::new("attack-list-many");
    let root = dir.path("rec");
    many_recordings(&root, 10_000);
    let file = config(&dir, &format!("[record]\ndir = {root:?}\n"));
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let (status, _, one) = raw_get(gateway.http, "/api/recordings", "");
    assert_eq!(status, 200);
    let rss_before = gateway.rss_kib();
    // Before the fix: 275 MB more, and /healthz answering in 4 s.
    let threads: Vec<_> = (0..60)
        .map(|_| {
            let port = gateway.http;
            std::thread::spawn(move || raw_get(port, "/api/recordings", ""))
        })
        .collect();
    let (mut worst, mut peak) = (Duration::ZERO, 0);
    while !threads.iter().all(|t| t.is_finished()) {
        let t = Instant::now();
        assert_eq!(gateway.get("/healthz").0, 200);
        worst = worst.max(t.elapsed());
        peak = peak.max(gateway.rss_kib());
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in threads {
        let (status, head, body) = t.join().expect("a listing");
        assert_eq!(status, 200);
        assert!(head.contains("content-type: application/json"), "{head}");
        assert_eq!(body.len(), one.len());
    }
    eprintln!("worst /healthz {worst:?}, rss {rss_before} → peak {peak} KiB");
    assert!(peak < rss_before + 80_000, "{rss_before} → {peak} KiB");
    assert!(worst < Duration::from_secs(2), "/healthz took {worst:?}");
}

#[test]
fn recordings_of_channels_that_need_play_tokens_need_them_too() {
    let dir = TempDir::new("attack-rec-token");
    let root = dir.path("rec");
    std::fs::create_dir_all(root.join("cam")).expect("a directory");
    let real = root.join("cam/cam-20261130T041500Z.mp4");
    real_recording(&real);
    let len = std::fs::metadata(&real).expect("the recording").len() as usize;
    let file = config(&dir, &format!("[record]\ndir = {root:?}\n"));
    let gw = Gateway::start(&["--no-demo", "--config", &file, "--secret", SECRET]);
    let url = "/recordings/cam/cam-20261130T041500Z.mp4";
    // The live stream needs a token: so does what was recorded of it.
    assert_eq!(raw_get(gw.http, "/live/cam.flv", "").0, 401);
    let (status, _, body) = raw_get(gw.http, url, "");
    assert_eq!(status, 401, "served {} bytes without a token", body.len());
    for token in [
        "nope".to_owned(),
        sign(&["dog"]),
        sign(&["--publish", "cam"]),
    ] {
        let (status, _, _) = raw_get(gw.http, &format!("{url}?token={token}"), "");
        assert!(status == 401 || status == 403, "{token}: {status}");
    }
    let (status, _, body) = raw_get(gw.http, &format!("{url}?token={}", sign(&["cam"])), "");
    assert_eq!((status, body.len()), (200, len));
    // With an admin token configured, it opens them too (as before).
    drop(gw);
    const ADMIN: &str = "an admin token long enough";
    let gw = Gateway::start(&[
        "--no-demo",
        "--config",
        &file,
        "--secret",
        SECRET,
        "--admin-token",
        ADMIN,
    ]);
    assert_eq!(raw_get(gw.http, url, "").0, 401);
    let bearer = format!("Authorization: Bearer {ADMIN}\r\n");
    let (status, _, body) = raw_get(gw.http, url, &bearer);
    assert_eq!((status, body.len()), (200, len));
}
