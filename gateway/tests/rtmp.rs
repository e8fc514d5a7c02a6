//! `flashless dump`, `probe` and the RTMP listener against real peers: nginx-rtmp,
//! ffmpeg publishing, rtmpdump playing, ffprobe reading.

mod peers;

use std::process::{Command, Stdio};
use std::time::Duration;

use peers::*;

const PULL_SECS: f64 = 4.0;

fn assert_h264_aac_of_duration(file: &std::path::Path, expected: f64) {
    let probe = ffprobe(file);
    assert_h264_aac(&probe);
    let error = (probe.duration - expected).abs() / expected;
    assert!(
        error <= 0.10,
        "duration {} s is not within 10 % of {expected} s",
        probe.duration
    );
}

fn assert_h264_aac(probe: &Probe) {
    assert!(
        probe.codecs.contains(&"h264".to_owned()) && probe.codecs.contains(&"aac".to_owned()),
        "{probe:?}"
    );
}

/// Pulls `PULL_SECS` of a stream into an FLV file and checks what ffprobe makes of it.
fn dump_and_check(url: &str, dir: &TempDir) {
    let out = dir.path("out.flv");
    let result = output_of(
        flashless()
            .arg("dump")
            .args(url.split(' '))
            .arg("-o")
            .arg(&out)
            .args(["--duration", &PULL_SECS.to_string()]),
        "flashless dump",
    );
    assert!(
        result.status.success(),
        "dump failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_h264_aac_of_duration(&out, PULL_SECS);
}

#[test]
fn dump_pulls_from_nginx_rtmp_at_chunk_size_4096() {
    let nginx = Nginx::start(4096);
    let _ffmpeg = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/test", nginx.port), &[]);
    dump_and_check(
        &format!("rtmp://127.0.0.1:{}/live/test live=1", nginx.port),
        &TempDir::new("dump4096"),
    );
}

#[test]
fn dump_pulls_from_nginx_rtmp_at_chunk_size_128() {
    let nginx = Nginx::start(128);
    let _ffmpeg = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/test", nginx.port), &[]);
    dump_and_check(
        &format!("rtmp://127.0.0.1:{}/live/test live=1", nginx.port),
        &TempDir::new("dump128"),
    );
}

#[test]
fn dump_follows_timestamps_past_24_bits() {
    let nginx = Nginx::start(4096);
    let dir = TempDir::new("dumpext");
    let out = dir.path("ext.flv");
    // Playing before the publisher starts makes nginx relay the publisher's own clock.
    let dump = Guard::spawn(
        flashless()
            .args([
                "dump",
                &format!("rtmp://127.0.0.1:{}/live/ext", nginx.port),
                "live=1",
                "-q",
            ])
            .args([
                "--keep-timestamps",
                "--duration",
                &PULL_SECS.to_string(),
                "-o",
            ])
            .arg(&out)
            .stdin(Stdio::null()),
        "flashless dump",
    );
    std::thread::sleep(Duration::from_millis(500));
    // 0xFFFFFF ms is 16777.215 s: starting 1.2 s below it crosses into extended timestamps.
    let _ffmpeg = ffmpeg_publish(
        &format!("rtmp://127.0.0.1:{}/live/ext", nginx.port),
        &["-output_ts_offset", "16776"],
    );
    assert!(dump.wait(Duration::from_secs(30)).success(), "dump failed");

    let bytes = std::fs::read(&out).expect("reading the dump");
    let mut reader = flashless_core::flv::FlvReader::new();
    reader.feed(&bytes);
    let mut video = vec![];
    while let Some(item) = reader.poll_item().expect("a valid FLV") {
        if let flashless_core::flv::Item::Tag(t) = item
            && t.tag_type == flashless_core::flv::TagType::Video
        {
            video.push(t.timestamp);
        }
    }
    let coded: Vec<u32> = video.into_iter().filter(|&t| t > 0).collect();
    assert!(
        coded.windows(2).all(|w| w[0] <= w[1]),
        "video timestamps go backwards"
    );
    let (first, last) = (coded[0], coded[coded.len() - 1]);
    assert!(
        first < 0xFF_FFFF && last > 0xFF_FFFF,
        "{first}..{last} does not cross 0xFFFFFF"
    );
    assert!(
        f64::from(last - first) >= PULL_SECS * 900.0,
        "only {} ms",
        last - first
    );
    let probe = ffprobe(&out);
    assert!(probe.codecs.contains(&"h264".to_owned()), "{probe:?}");
}

#[test]
fn dump_writes_fragmented_mp4_that_ffmpeg_decodes() {
    let nginx = Nginx::start(4096);
    let _ffmpeg = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/mp4", nginx.port), &[]);
    let dir = TempDir::new("mp4");
    let out = dir.path("out.mp4");
    let result = output_of(
        flashless()
            .args([
                "dump",
                &format!("rtmp://127.0.0.1:{}/live/mp4", nginx.port),
                "live=1",
                "-q",
                "-o",
            ])
            .arg(&out)
            .args(["--duration", &PULL_SECS.to_string()]),
        "flashless dump",
    );
    assert!(
        result.status.success(),
        "dump failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_h264_aac_of_duration(&out, PULL_SECS);
    let decode = output_of(
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(&out)
            .args(["-f", "null", "-"]),
        "ffmpeg",
    );
    let errors = String::from_utf8_lossy(&decode.stderr);
    assert!(
        decode.status.success() && errors.trim().is_empty(),
        "decoding the MP4: {errors}"
    );
}

#[test]
fn dump_writes_flv_to_stdout() {
    let nginx = Nginx::start(4096);
    let _ffmpeg = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/pipe", nginx.port), &[]);
    let dir = TempDir::new("stdout");
    let out = output_of(
        flashless().args([
            "dump",
            &format!("rtmp://127.0.0.1:{}/live/pipe", nginx.port),
            "live=1",
            "-o",
            "-",
            "--duration",
            "2",
        ]),
        "flashless dump",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.starts_with(b"FLV\x01"),
        "stdout does not start with an FLV header"
    );
    std::fs::write(dir.path("piped.flv"), &out.stdout).expect("writing");
    assert_h264_aac_of_duration(&dir.path("piped.flv"), 2.0);
}

#[test]
fn dump_leaves_a_whole_file_on_ctrl_c() {
    let nginx = Nginx::start(4096);
    let _ffmpeg = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/int", nginx.port), &[]);
    let dir = TempDir::new("sigint");
    let out = dir.path("interrupted.flv");
    let dump = Guard::spawn(
        flashless()
            .args([
                "dump",
                &format!("rtmp://127.0.0.1:{}/live/int", nginx.port),
                "live=1",
                "-q",
                "-o",
            ])
            .arg(&out)
            .stdin(Stdio::null()),
        "flashless dump",
    );
    std::thread::sleep(Duration::from_secs(4));
    let status = dump.signal("INT", Duration::from_secs(5));
    assert!(status.success(), "dump exited with {status} on SIGINT");
    let probe = ffprobe(&out);
    assert_h264_aac(&probe);
    assert!(
        probe.duration >= 1.5,
        "only {} s written before SIGINT",
        probe.duration
    );
    // Every tag is whole: the file ends exactly after a PreviousTagSize.
    let bytes = std::fs::read(&out).expect("reading the dump");
    let mut reader = flashless_core::flv::FlvReader::new();
    reader.feed(&bytes);
    while reader.poll_item().expect("a valid FLV").is_some() {}
    assert_eq!(reader.offset(), bytes.len() as u64, "trailing partial tag");
}

#[test]
fn probe_prints_codecs_and_metadata() {
    let nginx = Nginx::start(4096);
    let _ffmpeg = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/probe", nginx.port), &[]);
    let out = output_of(
        flashless().args([
            "probe",
            &format!("rtmp://127.0.0.1:{}/live/probe", nginx.port),
            "live=1",
        ]),
        "probe",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("NetConnection.Connect.Success"), "{text}");
    assert!(text.contains("onMetaData"), "{text}");
    assert!(
        text.contains("video: avc1.") && text.contains(" 320x240"),
        "{text}"
    );
    assert!(text.contains("audio: mp4a.40.2 44100 Hz"), "{text}");
}

#[test]
fn dump_of_a_closed_port_says_it_cannot_connect() {
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/x");
    fails_saying(
        &["dump", &url, "-o", "-"],
        &[&format!("connecting to 127.0.0.1:{port}"), "refused"],
    );
}

#[test]
fn unsupported_schemes_are_named() {
    fails_saying(
        &["probe", "rtmfp://127.0.0.1/live/x"],
        &["rtmfp", "not supported"],
    );
}

/// The gateway's own listener (`ServerSession`): ffmpeg publishes to it, rtmpdump plays from it.
#[test]
fn listener_relays_an_ffmpeg_publish_to_rtmpdump() {
    let gw = Gateway::start(&["--no-demo"]);
    let port = gw.rtmp;
    let _ffmpeg = ffmpeg_publish(&gw.rtmp_url("relay"), &[]);
    // The channel exists once ffmpeg publishes; playing before that is StreamNotFound.
    gw.wait_live("relay");
    let dir = TempDir::new("relay");
    let out = dir.path("rtmpdump.flv");
    // rtmpdump has no duration limit for live streams; stop it after a few seconds.
    let rtmpdump = Guard::spawn(
        Command::new("rtmpdump")
            .args([
                "-q",
                "-v",
                "-r",
                &format!("rtmp://127.0.0.1:{port}/live/relay"),
                "-o",
            ])
            .arg(&out)
            .stdin(Stdio::null()),
        "rtmpdump",
    );
    // And our own client against our own server, at the same time: both players are
    // sent the very same chunks of each tag, cut once for the channel.
    let url = format!("rtmp://127.0.0.1:{port}/live/relay");
    std::thread::scope(|s| {
        let ours = s.spawn(|| dump_and_check(&url, &dir));
        std::thread::sleep(Duration::from_secs_f64(PULL_SECS + 1.0));
        rtmpdump.signal("TERM", Duration::from_secs(5));
        if let Err(panic) = ours.join() {
            std::panic::resume_unwind(panic);
        }
    });
    let probe = ffprobe(&out);
    assert_h264_aac(&probe);
    assert!(
        probe.duration >= PULL_SECS - 1.5,
        "only {} s relayed",
        probe.duration
    );
}

#[test]
fn playing_an_unknown_channel_is_stream_not_found() {
    let gw = Gateway::start(&["--no-demo"]);
    fails_saying(
        &["probe", &gw.rtmp_url("nothing")],
        &["NetStream.Play.StreamNotFound", "nothing"],
    );
}

/// A pulled channel whose upstream is retrying and never delivered media has nothing
/// to play: RTMP players are refused as HTTP viewers are, not left waiting.
#[test]
fn playing_a_retrying_channel_that_never_had_media_is_refused() {
    // Nothing listens there: every pull fails at once and the channel keeps retrying.
    let origin = format!("rtmp://127.0.0.1:{}/live/gone", free_port());
    let gw = Gateway::start(&["--no-demo", "--channel", &format!("gone={origin}")]);
    let start = std::time::Instant::now();
    while gw.channel("gone").is_none_or(|c| c["state"] != "retrying") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the pull never retried: {:?}",
            gw.channel("gone")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    fails_saying(
        &["probe", &gw.rtmp_url("gone")],
        &["NetStream.Play.Failed", "\"gone\" is unavailable"],
    );
    let (status, body) = gw.get("/live/gone.flv");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("is unavailable"), "{body}");
}

#[test]
fn second_publisher_on_a_channel_is_refused() {
    let gw = Gateway::start(&["--no-demo"]);
    let port = gw.rtmp;
    let url = format!("rtmp://127.0.0.1:{port}/live/one");
    let _first = ffmpeg_publish(&url, &[]);
    std::thread::sleep(Duration::from_secs(2));
    let second = ffmpeg_publish(&url, &["-t", "3"]);
    let status = second.wait(Duration::from_secs(20));
    assert!(!status.success(), "a second publisher was accepted");
}

/// A publisher connected but sending nothing yet is `connecting` (a page would say the
/// publisher is away if it were `idle`), stays so through its headers, is `live` from
/// its first coded frame and `idle` again (or gone, once deserted) after it leaves.
#[test]
fn a_publishers_channel_is_connecting_until_its_first_frame() {
    use flashless_core::flv::{FlvReader, Item, TagType};
    use flashless_lab::mangle::publish::Publisher;

    let gw = Gateway::start(&["--no-demo"]);
    let dir = TempDir::new("connecting");
    let clip = test_clip(&dir, "clip.flv", 2.0, true, &[]);
    let mut reader = FlvReader::new();
    reader.feed(&std::fs::read(&clip).expect("the clip"));
    let mut tags = vec![];
    while let Some(item) = reader.poll_item().expect("the clip's tags") {
        if let Item::Tag(tag) = item {
            tags.push(tag);
        }
    }
    // The metadata and the two sequence headers: no coded frame among them.
    let media = tags.split_off(3);
    assert!(
        tags.iter()
            .all(|t| t.data.get(1) == Some(&0) || t.tag_type == TagType::Script),
        "the clip opens with its metadata and sequence headers"
    );
    let state = |gw: &Gateway| {
        gw.channel("cam")
            .map(|c| (c["state"].clone(), c["source"].clone()))
    };
    let until = |what: &str, check: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !check() {
            assert!(start.elapsed() < Duration::from_secs(10), "never {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let mut publisher = Publisher::connect(&gw.rtmp_url("cam")).expect("publishing");
    until("connecting", &|| {
        state(&gw) == Some(("connecting".into(), "publish".into()))
    });
    for tag in &tags {
        publisher.send(tag).expect("sending a header");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        state(&gw),
        Some(("connecting".into(), "publish".into())),
        "headers alone are not media"
    );
    publisher.send(&media[0]).expect("sending a frame");
    until("live", &|| state(&gw).is_some_and(|(s, _)| s == "live"));
    publisher.close();
    until("idle or gone", &|| {
        state(&gw).is_none_or(|(s, _)| s == "idle")
    });
}
