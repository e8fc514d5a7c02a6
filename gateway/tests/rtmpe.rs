//! RTMPE (`rtmpe://`, encrypted RTMP) against real peers: rtmpdump (librtmp's RTMPE)
//! plays from the gateway, and the gateway's own client plays from and publishes to it.
//!
//! ffmpeg's `rtmpe` protocol is not tested: it needs an ffmpeg built with gcrypt or
//! gmp, and Debian's is built without (`ffmpeg -protocols` lists no `rtmpe`).

mod peers;

use std::process::Stdio;

use peers::*;

#[test]
fn rtmpdump_plays_rtmpe_from_the_gateway() {
    let gw = Gateway::start(&["--no-demo"]);
    let _ffmpeg = ffmpeg_publish(&gw.rtmp_url("enc"), &[]);
    gw.wait_live("enc");
    let dir = TempDir::new("rtmpe");
    let out = dir.path("rtmpdump.flv");
    let probe = rtmpdump_for(
        &format!("rtmpe://127.0.0.1:{}/live/enc", gw.rtmp),
        &[],
        4,
        &out,
    );
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
    let input = test_clip(&dir, "in.flv", 4.0, true, &[]);
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
    assert!(dump_for(&[&url], 3, &out).duration >= 2.5);
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
        let probe = rtmpdump_for(&url, &[], 3, &out);
        assert!(
            probe.codecs.contains(&"h264".to_owned()) && probe.duration >= 1.5,
            "rtmpdump, type {rtmpe_type}: {probe:?}"
        );
        let out = dir.path("dump.flv");
        assert!(
            dump_for(&[&url], 2, &out).duration >= 1.5,
            "flashless dump, type {rtmpe_type}"
        );
    }
}
