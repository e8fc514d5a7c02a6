//! `flashless push` against real servers: nginx-rtmp and the gateway's own listener take
//! the publish, rtmpdump and ffprobe read it back, and a server that goes away gives a
//! reconnection or rtmpdump's exit code 2.

mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use peers::*;

const INPUT_SECS: f64 = 6.0;

/// A 6 s H.264 + AAC FLV file, a keyframe every second, as ffmpeg writes it.
fn input_flv(dir: &TempDir) -> PathBuf {
    test_clip(dir, "in.flv", INPUT_SECS, true, &[])
}

fn push(input: &Path, url: &str, extra: &[&str]) -> Command {
    let mut cmd = flashless();
    cmd.arg("push").arg(input).args(url.split(' ')).args(extra);
    cmd.stdin(Stdio::null());
    cmd
}

fn assert_close_to_input(file: &Path, expected: f64) {
    assert_read_back(file, expected, "aac");
}

/// `file` holds H.264 and `audio`, `expected` seconds of it.
fn assert_read_back(file: &Path, expected: f64, audio: &str) {
    let probe = ffprobe(file);
    assert!(
        probe.codecs.contains(&"h264".to_owned()) && probe.codecs.contains(&audio.to_owned()),
        "{probe:?}"
    );
    assert!(
        (probe.duration - expected).abs() <= 0.12 * expected,
        "read back {} s of {expected} s",
        probe.duration
    );
}

#[test]
fn push_into_nginx_rtmp_reads_back_in_real_time() {
    let nginx = Nginx::start(4096);
    let dir = TempDir::new("push-nginx");
    let input = input_flv(&dir);
    let out = dir.path("out.flv");
    // Playing before the publisher starts: the dump sees the whole push and ends with it.
    let url = format!("rtmp://127.0.0.1:{}/live/pushed", nginx.port);
    let dump = Guard::spawn(
        flashless()
            .args(["dump", &url, "live=1", "-q", "-o"])
            .arg(&out)
            .stdin(Stdio::null()),
        "flashless dump",
    );
    std::thread::sleep(Duration::from_millis(700));
    let started = std::time::Instant::now();
    let status = output_of(&mut push(&input, &url, &["-q"]), "flashless push").status;
    let took = started.elapsed().as_secs_f64();
    assert!(status.success(), "push exited {status}");
    assert!(
        took >= INPUT_SECS - 0.5,
        "{took} s for {INPUT_SECS} s of media: not real time"
    );
    dump.wait(Duration::from_secs(10));
    assert_close_to_input(&out, INPUT_SECS);
}

#[test]
fn push_into_the_gateway_plays_in_rtmpdump() {
    let gw = Gateway::start(&["--no-demo"]);
    let dir = TempDir::new("push-gw");
    let input = input_flv(&dir);
    let pusher = Guard::spawn(
        &mut push(&input, &gw.rtmp_url("pushed"), &["-q", "--loop"]),
        "flashless push",
    );
    gw.wait_live("pushed");
    let out = dir.path("rtmpdump.flv");
    let rtmpdump = Guard::spawn(
        Command::new("rtmpdump")
            .args(["-q", "-v", "-r", &gw.rtmp_url("pushed"), "-o"])
            .arg(&out)
            .stdin(Stdio::null()),
        "rtmpdump",
    );
    // Across the end of the file: the loop goes on, timestamps forward.
    std::thread::sleep(Duration::from_secs_f64(INPUT_SECS + 2.0));
    rtmpdump.signal("TERM", Duration::from_secs(5));
    let probe = ffprobe(&out);
    assert!(probe.codecs.contains(&"h264".to_owned()), "{probe:?}");
    assert!(
        probe.duration >= INPUT_SECS,
        "only {} s through the loop",
        probe.duration
    );
    drop(pusher);
}

#[test]
fn push_reconnects_when_the_server_comes_back() {
    let port = free_port();
    let nginx = Nginx::start_on(port, 4096);
    let dir = TempDir::new("push-back");
    let input = input_flv(&dir);
    let url = format!("rtmp://127.0.0.1:{port}/live/back");
    let pusher = Guard::spawn(&mut push(&input, &url, &["-q", "--loop"]), "flashless push");
    std::thread::sleep(Duration::from_secs(2));
    drop(nginx);
    std::thread::sleep(Duration::from_millis(500));
    let _nginx = Nginx::start_on(port, 4096);
    // Published again: a player gets the stream from the restarted server.
    let out = dir.path("after.flv");
    assert!(dump_for(&[&url, "live=1"], 2, &out).duration >= 1.5);
    drop(pusher);
}

#[test]
fn push_exits_2_when_the_server_stays_away() {
    let nginx = Nginx::start(4096);
    let dir = TempDir::new("push-gone");
    let input = input_flv(&dir);
    let url = format!("rtmp://127.0.0.1:{}/live/gone", nginx.port);
    let pusher = Guard::spawn(
        &mut push(&input, &url, &["-q", "--loop", "--retries", "2"]),
        "flashless push",
    );
    std::thread::sleep(Duration::from_secs(2));
    drop(nginx);
    let status = pusher.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(2), "push exited {status}");
}

#[test]
fn push_of_a_missing_server_is_an_error() {
    let dir = TempDir::new("push-none");
    let input = input_flv(&dir);
    let url = format!("rtmp://127.0.0.1:{}/live/none", free_port());
    let out = output_of(&mut push(&input, &url, &["-q"]), "flashless push");
    assert_eq!(out.status.code(), Some(1));
}

/// An MP4 with B-frames (composition offsets) and AAC, plain from a file and from
/// standard input, and fragmented, reads back as the same 6 s of H.264 and AAC; one with
/// MP3 sound as H.264 and MP3 (before, its sound was left out).
#[test]
fn push_of_an_mp4_reads_back_whole() {
    let nginx = Nginx::start(4096);
    let dir = TempDir::new("push-mp4");
    let input = test_clip(&dir, "in.mp4", INPUT_SECS, true, &["-bf", "2"]);
    let fragmented = dir.path("frag.mp4");
    let made = output_of(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(&input)
            .args([
                "-c",
                "copy",
                "-movflags",
                "+frag_keyframe+empty_moov+default_base_moof",
            ])
            .arg(&fragmented),
        "ffmpeg",
    );
    assert!(made.status.success());
    // MP3 sound, as old MP4 files have it: sent as FLV's MP3 tags.
    let mp3 = dir.path("mp3.mp4");
    let made = output_of(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(&input)
            .args(["-c:v", "copy", "-c:a", "libmp3lame", "-b:a", "64k"])
            .arg(&mp3),
        "ffmpeg",
    );
    assert!(made.status.success());
    for (name, input, from_stdin) in [
        ("file", &input, false),
        ("stdin", &input, true),
        ("fragmented", &fragmented, false),
        ("mp3", &mp3, false),
    ] {
        let url = format!("rtmp://127.0.0.1:{}/live/{name}", nginx.port);
        let out = dir.path(&format!("{name}.flv"));
        let dump = Guard::spawn(
            flashless()
                .args(["dump", &url, "live=1", "-q", "-o"])
                .arg(&out)
                .stdin(Stdio::null()),
            "flashless dump",
        );
        std::thread::sleep(Duration::from_millis(700));
        let status = if from_stdin {
            let file = std::fs::File::open(input).expect("the MP4");
            flashless()
                .args(["push", "-q", "-", &url])
                .stdin(file)
                .status()
                .expect("running flashless push")
        } else {
            output_of(&mut push(input, &url, &["-q"]), "flashless push").status
        };
        assert!(status.success(), "{name}: push exited {status}");
        dump.wait(Duration::from_secs(10));
        let audio = if name == "mp3" { "mp3" } else { "aac" };
        assert_read_back(&out, INPUT_SECS, audio);
    }
}
