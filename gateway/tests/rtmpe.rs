//! RTMPE (`rtmpe://`, encrypted RTMP) against real peers: rtmpdump (librtmp's RTMPE)
//! plays from the gateway, and the gateway's own client plays from and publishes to it.
//!
//! ffmpeg's `rtmpe` protocol is not tested: it needs an ffmpeg built with gcrypt or
//! gmp, and Debian's is built without (`ffmpeg -protocols` lists no `rtmpe`).

mod peers;

use std::process::{Command, Stdio};
use std::time::Duration;

use peers::*;

#[test]
fn rtmpdump_plays_rtmpe_from_the_gateway() {
    let gw = Gateway::start(&["--no-demo"]);
    let _ffmpeg = ffmpeg_publish(&gw.rtmp_url("enc"), &[]);
    gw.wait_live("enc");
    let dir = TempDir::new("rtmpe");
    let out = dir.path("rtmpdump.flv");
    let rtmpdump = Guard::spawn(
        Command::new("rtmpdump")
            .args([
                "-q",
                "-v",
                "-r",
                &format!("rtmpe://127.0.0.1:{}/live/enc", gw.rtmp),
                "-o",
            ])
            .arg(&out)
            .stdin(Stdio::null()),
        "rtmpdump",
    );
    std::thread::sleep(Duration::from_secs(4));
    rtmpdump.signal("TERM", Duration::from_secs(5));
    let probe = ffprobe(&out);
    assert!(
        probe.codecs.contains(&"h264".to_owned()) && probe.codecs.contains(&"aac".to_owned()),
        "{probe:?}"
    );
    assert!(
        probe.duration >= 2.5,
        "only {} s over RTMPE",
        probe.duration
    );
}

#[test]
fn the_gateways_client_publishes_and_plays_over_rtmpe() {
    let gw = Gateway::start(&["--no-demo"]);
    let dir = TempDir::new("rtmpe-self");
    let url = format!("rtmpe://127.0.0.1:{}/live/self", gw.rtmp);
    // A published stream for `push` to carry: 4 s of ffmpeg's test pattern.
    let input = dir.path("in.flv");
    let made = output_of(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100"])
            .args([
                "-t",
                "4",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "25",
            ])
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac"])
            .arg(&input),
        "ffmpeg",
    );
    assert!(made.status.success());
    let _push = Guard::spawn(
        flashless()
            .args(["push", "-q", "--loop"])
            .arg(&input)
            .arg(&url)
            .stdin(Stdio::null()),
        "flashless push",
    );
    gw.wait_live("self");
    let probe = output_of(flashless().args(["probe", &url]), "flashless probe");
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert!(text.contains("video: avc1"), "{text}");
    let out = dir.path("dump.flv");
    let dump = output_of(
        flashless()
            .args(["dump", &url, "-q", "--duration", "3", "-o"])
            .arg(&out),
        "flashless dump",
    );
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert!(ffprobe(&out).duration >= 2.5);
}

/// `--rtmpe-type 8` / `9`: the gateway answers RTMPE with the handshake whose
/// C2/S2 signatures are sealed with XTEA / Blowfish. rtmpdump (which asks for 6
/// and follows the server's type, as librtmp does) and the gateway's own client
/// both pass it and play.
#[test]
fn rtmpdump_and_the_gateways_client_play_over_rtmpe_types_8_and_9() {
    for rtmpe_type in ["8", "9"] {
        let gw = Gateway::start(&["--no-demo", "--rtmpe-type", rtmpe_type]);
        let _ffmpeg = ffmpeg_publish(&gw.rtmp_url("enc"), &[]);
        gw.wait_live("enc");
        let url = format!("rtmpe://127.0.0.1:{}/live/enc", gw.rtmp);
        let dir = TempDir::new("rtmpe-types");
        let out = dir.path("rtmpdump.flv");
        let rtmpdump = Guard::spawn(
            Command::new("rtmpdump")
                .args(["-q", "-v", "-r", &url, "-o"])
                .arg(&out)
                .stdin(Stdio::null()),
            "rtmpdump",
        );
        std::thread::sleep(Duration::from_secs(3));
        rtmpdump.signal("TERM", Duration::from_secs(5));
        let probe = ffprobe(&out);
        assert!(
            probe.codecs.contains(&"h264".to_owned()) && probe.duration >= 1.5,
            "rtmpdump, type {rtmpe_type}: {probe:?}"
        );
        let out = dir.path("dump.flv");
        let dump = output_of(
            flashless()
                .args(["dump", &url, "-q", "--duration", "2", "-o"])
                .arg(&out),
            "flashless dump",
        );
        assert!(
            dump.status.success(),
            "flashless dump, type {rtmpe_type}: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        assert!(
            ffprobe(&out).duration >= 1.5,
            "flashless dump, type {rtmpe_type}"
        );
    }
}
