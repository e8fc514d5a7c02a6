//! Recording (`[record]`, `record = true`) with ffmpeg publishing through the real
//! gateway: files named by channel and UTC start, as long as asked, each decoding with
//! no error (also after a SIGKILL mid-segment), retention by size, `/api/recordings`,
//! `/recordings/…` with HTTP Range and no way out of the directory, and the
//! `on_record_segment` hook.

mod peers;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use peers::*;
use serde_json::Value;

/// `/api/recordings` (with `query`), as JSON.
fn recordings(gateway: &Gateway, query: &str) -> Vec<Value> {
    let (status, body) = gateway.get(&format!("/api/recordings{query}"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Waits until `/api/recordings` lists at least `n` files.
fn wait_for_files(gateway: &Gateway, n: usize, limit: Duration) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let list = recordings(gateway, "");
        if list.len() >= n {
            return list;
        }
        assert!(
            started.elapsed() < limit,
            "{n} recordings never appeared: {list:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// ffprobe's start time and duration of a file, in seconds.
fn probe_times(file: &Path) -> (f64, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=start_time,duration"])
        .args(["-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("running ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .trim()
        .split(',')
        .map(|v| v.parse::<f64>().unwrap_or(-1.0));
    (it.next().unwrap_or(-1.0), it.next().unwrap_or(-1.0))
}

/// Files named `{stream}-{YYYYMMDD}T{HHMMSS}Z.mp4` in the channel's directory.
fn well_named(path: &str, dir: &str, stream: &str) -> bool {
    let Some(file) = path.strip_prefix(&format!("{dir}/{stream}-")) else {
        return false;
    };
    let Some(stamp) = file.strip_suffix(".mp4") else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit())
}

#[test]
fn a_published_channel_is_recorded_in_segments_served_with_ranges() {
    let (port, received) = hook_service(0);
    let dir = TempDir::new("record");
    let root = dir.path("rec");
    // Outside the recordings: never served, whatever the path says.
    std::fs::write(dir.path("secret.mp4"), b"SECRET").expect("writing");
    let file = config(
        &dir,
        &format!(
            "[record]\ndir = {root:?}\nsegment = \"2s\"\npart = \"0.5s\"\nmatch = [\"other/*\"]\n\
             [hooks]\non_record_segment = \"http://127.0.0.1:{port}/hooks\"\n"
        ),
    );
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let _publisher = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/other/cam", gateway.rtmp), &[]);
    gateway.wait_live("other/cam");
    let list = wait_for_files(&gateway, 4, Duration::from_secs(30));

    // Named by channel (its app a directory) and UTC start; the last one is still open.
    let done = &list[..list.len() - 1];
    for r in &list {
        assert_eq!(r["channel"], "other/cam");
        let path = r["path"].as_str().unwrap();
        assert!(well_named(path, "other/cam", "cam"), "{path}");
        assert!(r["start"].as_str().unwrap().ends_with('Z'));
        assert!(r["bytes"].as_u64().unwrap() > 1000);
    }
    for r in done {
        // A keyframe each second: segments of exactly two.
        let duration = r["duration"].as_f64().unwrap();
        assert!((duration - 2.0).abs() < 0.05, "{r}");
        let full = root.join(r["path"].as_str().unwrap());
        let errors = decode_errors(&full);
        assert!(errors.is_empty(), "{}: {errors}", full.display());
        // Each file starts at 0, whenever in the channel's life it was made.
        let (start, length) = probe_times(&full);
        assert!(
            start.abs() < 0.1 && (length - 2.0).abs() < 0.15,
            "{start} {length}"
        );
    }
    // The recorder is no viewer.
    let channel = gateway.channel("other/cam").expect("the channel");
    assert_eq!(channel["viewers"], 0, "{channel}");
    let filtered = recordings(&gateway, "?channel=other/cam");
    assert!(!filtered.is_empty() && filtered.iter().all(|r| r["channel"] == "other/cam"));
    assert!(recordings(&gateway, "?channel=cam").is_empty());

    // HTTP Range: the bytes asked for, and 416 past the end.
    let path = list[0]["path"].as_str().unwrap();
    let bytes = std::fs::read(root.join(path)).expect("reading the recording");
    let url = format!("/recordings/{path}");
    let (status, head, body) = raw_get(gateway.http, &url, "Range: bytes=100-199\r\n");
    assert_eq!(status, 206, "{head}");
    assert_eq!(body, &bytes[100..200]);
    assert!(
        head.contains(&format!("content-range: bytes 100-199/{}", bytes.len())),
        "{head}"
    );
    assert!(head.contains("accept-ranges: bytes") && head.contains("content-type: video/mp4"));
    let (status, _, body) = raw_get(gateway.http, &url, "Range: bytes=-10\r\n");
    assert_eq!((status, body.as_slice()), (206, &bytes[bytes.len() - 10..]));
    let (status, _, body) = raw_get(gateway.http, &url, "");
    assert_eq!((status, body.len()), (200, bytes.len()));
    assert_eq!(body, bytes);
    let past = format!("Range: bytes={}-\r\n", bytes.len());
    let (status, head, _) = raw_get(gateway.http, &url, &past);
    assert_eq!(status, 416, "{head}");
    assert!(
        head.contains(&format!("content-range: bytes */{}", bytes.len())),
        "{head}"
    );

    // No way out of the directory.
    for bad in [
        "/recordings/../secret.mp4",
        "/recordings/%2e%2e/secret.mp4",
        "/recordings/..%2fsecret.mp4",
        "/recordings/%2e%2e%2fsecret.mp4",
        "/recordings/other/..%2f..%2f..%2fsecret.mp4",
        "/recordings/other/cam/%2e%2e/%2e%2e/%2e%2e/secret.mp4",
        "/recordings/..%5csecret.mp4",
        "/recordings/%2fetc%2fpasswd",
        "/recordings/other/cam/",
    ] {
        let (status, _, body) = raw_get(gateway.http, bad, "");
        assert_eq!(status, 404, "{bad}");
        assert!(!String::from_utf8_lossy(&body).contains("SECRET"), "{bad}");
    }

    // The hook heard of each finished file, and /metrics counted them.
    let started = Instant::now();
    let heard = loop {
        let heard: Vec<Value> = received.lock().unwrap().clone();
        if heard.len() >= done.len() || started.elapsed() > Duration::from_secs(10) {
            break heard;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for (h, r) in heard.iter().zip(done) {
        assert_eq!(h["action"], "on_record_segment");
        assert_eq!(h["channel"], "other/cam");
        assert_eq!(h["app"], "other");
        assert_eq!(h["file"], r["path"], "{h}");
        assert!((h["duration"].as_f64().unwrap() - 2.0).abs() < 0.05, "{h}");
    }
    assert!(heard.len() >= done.len(), "{heard:?}");
    assert!(
        gateway.metric("flashless_recorded_segments_total{channel=\"other/cam\"}")
            >= done.len() as f64
    );
    assert!(gateway.metric("flashless_recorded_bytes_total{channel=\"other/cam\"}") > 10_000.0);
}

#[test]
fn a_gateway_killed_mid_segment_leaves_every_file_playable() {
    let dir = TempDir::new("record-kill");
    let root = dir.path("rec");
    let file = config(
        &dir,
        &format!(
            "[record]\ndir = {root:?}\nsegment = \"60s\"\npart = \"0.5s\"\n\
             [[pull]]\nmatch = \"cam-*\"\nsource = \"rtmp://127.0.0.1:9/live/{{name}}\"\nrecord = true\n"
        ),
    );
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    // Published, not pulled: the pattern's `record = true` covers the name anyway.
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam-1"), &[]);
    gateway.wait_live("cam-1");
    std::thread::sleep(Duration::from_secs(4));
    let (status, _) = gateway.stop("KILL");
    assert!(!status.success());
    let files: Vec<PathBuf> = std::fs::read_dir(root.join("cam-1"))
        .expect("the channel's directory")
        .map(|e| e.expect("an entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let errors = decode_errors(&files[0]);
    assert!(errors.is_empty(), "{}: {errors}", files[0].display());
    // Killed mid-segment: what was written before is there, parts of half a second.
    let (_, length) = probe_times(&files[0]);
    assert!(length > 2.0, "{length}");
}

#[test]
fn retention_by_size_deletes_the_oldest_files() {
    let dir = TempDir::new("record-size");
    let root = dir.path("rec");
    let file = config(
        &dir,
        &format!(
            "[record]\ndir = {root:?}\nsegment = \"1s\"\npart = \"0.5s\"\nmax_bytes = \"120kB\"\nmatch = [\"cam\"]\n"
        ),
    );
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    let started = Instant::now();
    while gateway.metric("flashless_recording_deleted_files_total") < 2.0 {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "nothing deleted: {:?}",
            recordings(&gateway, "")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let list = recordings(&gateway, "");
    let total: u64 = list.iter().map(|r| r["bytes"].as_u64().unwrap()).sum();
    let open = list.last().map_or(0, |r| r["bytes"].as_u64().unwrap());
    // Within the limit, but for the file being written (never deleted).
    assert!(total - open <= 120_000, "{total} {list:?}");
    // The oldest went: what is left started after the first file recorded.
    let log = gateway.log_text();
    let first = log
        .lines()
        .find(|l| l.contains("recording segment done"))
        .and_then(|l| l.split("file=\"").nth(1))
        .and_then(|f| f.split('"').next())
        .expect("a finished file in the log")
        .to_owned();
    assert!(!root.join(&first).exists(), "{first} is still there");
    assert!(list.iter().all(|r| r["path"] != first.as_str()), "{list:?}");
    gateway.log_saying("reason=\"max_bytes\"");
}

/// The `.mp4` files under `dir`, sorted.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.expect("an entry").path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Waits until `dir` holds `n` files.
fn wait_files(dir: &Path, n: usize, what: &str) -> Vec<PathBuf> {
    let started = Instant::now();
    loop {
        let files = files_in(dir);
        if files.len() >= n {
            return files;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: {files:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_publisher_that_leaves_ends_its_file_and_a_reload_stops_and_starts_recording() {
    let dir = TempDir::new("record-reload");
    let root = dir.path("rec");
    let recorded = format!(
        "[record]\ndir = {root:?}\nsegment = \"60s\"\npart = \"0.5s\"\nmatch = [\"cam\"]\n"
    );
    let file = config(&dir, &recorded);
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let cam = root.join("cam");

    // A session's file ends with it; the next session starts a new one.
    let publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    wait_files(&cam, 1, "the first session's file");
    std::thread::sleep(Duration::from_secs(2));
    drop(publisher);
    gateway.log_saying("recording segment done");
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    let files = wait_files(&cam, 2, "the second session's file");
    assert!(decode_errors(&files[0]).is_empty());
    let (_, first) = probe_times(&files[0]);
    assert!(first > 1.5, "{first}");

    // Recording off: the file being written ends, no new one starts.
    config(&dir, &recorded.replace("match = [\"cam\"]\n", ""));
    gateway.hup();
    gateway.log_saying("recording stopped");
    std::thread::sleep(Duration::from_secs(2));
    let files = files_in(&cam);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(decode_errors(&files[1]).is_empty());
    let size = std::fs::metadata(&files[1]).expect("the file").len();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        std::fs::metadata(&files[1]).expect("the file").len(),
        size,
        "still written"
    );

    // And on again.
    config(&dir, &recorded);
    gateway.hup();
    wait_files(&cam, 3, "a file after recording is on again");
}

#[test]
fn without_recording_configured_nothing_is_listed_or_served() {
    let dir = TempDir::new("record-off");
    // The default directory, relative to the working directory, with a file in it.
    let stray = dir.path("recordings/cam");
    std::fs::create_dir_all(&stray).expect("a directory");
    std::fs::write(stray.join("cam-20261130T041500Z.mp4"), b"not served").expect("a file");
    let mut cmd = flashless();
    cmd.current_dir(dir.path(""));
    let gateway = or_fail(flashless_lab::peers::Gateway::start(
        cmd,
        &["--no-demo"],
        None,
    ));
    let (status, body) = or_fail(gateway.get("/api/recordings"));
    assert_eq!((status, body.trim()), (200, "[]"));
    let (status, _, body) = raw_get(gateway.http, "/recordings/cam/cam-20261130T041500Z.mp4", "");
    assert_eq!(status, 404);
    assert!(!String::from_utf8_lossy(&body).contains("not served"));
}

#[test]
fn retention_by_age_deletes_files_older_than_keep() {
    let dir = TempDir::new("record-age");
    let root = dir.path("rec");
    let file = config(
        &dir,
        &format!(
            "[record]\ndir = {root:?}\nsegment = \"1s\"\npart = \"0.5s\"\nkeep = \"2s\"\nmatch = [\"cam\"]\n"
        ),
    );
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    gateway.log_saying("recording segment done");
    let log = gateway.log_text();
    let first = log
        .lines()
        .find(|l| l.contains("recording segment done"))
        .and_then(|l| l.split("file=\"").nth(1))
        .and_then(|f| f.split('"').next())
        .expect("a finished file in the log")
        .to_owned();
    let started = Instant::now();
    while root.join(&first).exists() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{first} was kept"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Deleted for its age (at a segment's end, once last written over 2 s ago).
    gateway.log_saying("reason=\"keep\"");
    assert!(gateway.metric("flashless_recording_deleted_files_total") >= 1.0);
    assert!(!recordings(&gateway, "").is_empty(), "the newer files stay");
}

/// A recording started between two sessions (the channel kept the last session's
/// headers for viewers waiting through a reconnect) records what the next session
/// sends: back with sound only, a file of sound. Before, the recorder took the last
/// session's video header for the new session's, waited for its keyframes, and wrote
/// nothing.
#[test]
fn a_recording_started_between_sessions_records_the_next_sessions_tracks() {
    let dir = TempDir::new("record-between");
    let root = dir.path("rec");
    let file = config(&dir, "");
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    std::thread::sleep(Duration::from_secs(1));
    drop(publisher);
    gateway.log_saying("closed");
    config(
        &dir,
        &format!(
            "[record]\ndir = {root:?}\nsegment = \"60s\"\npart = \"0.5s\"\nmatch = [\"cam\"]\n"
        ),
    );
    gateway.hup();
    gateway.log_saying("recording");
    let _sound = ffmpeg_publish_tracks(&gateway.rtmp_url("cam"), false, true);
    let files = wait_files(&root.join("cam"), 1, "the sound's file");
    std::thread::sleep(Duration::from_secs(3));
    let streams = ffprobe_streams(&files[0].to_string_lossy());
    assert_eq!(streams.trim(), "aac", "{}", files[0].display());
    assert!(decode_errors(&files[0]).is_empty());
    let (_, duration) = probe_times(&files[0]);
    assert!(duration > 1.5, "{duration}");
}
