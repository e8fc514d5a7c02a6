//! SWF verification against real peers: a gateway that demands it (`--swf-verify`)
//! lets rtmpdump (`--swfhash`/`--swfsize`, librtmp's answer) and `flashless push`
//! (`swfhash=`/`swfsize=` after the URL) in, and keeps out a wrong or missing answer.

mod peers;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use peers::*;

/// Any 32 bytes do: the server compares answers, it never sees the SWF.
const HASH: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const SIZE: &str = "123456";

fn rtmpdump(url: &str, extra: &[&str], out: &Path) -> Guard {
    Guard::spawn(
        Command::new("rtmpdump")
            .args(["-q", "-v", "-r", url])
            .args(extra)
            .arg("-o")
            .arg(out)
            .stdin(Stdio::null()),
        "rtmpdump",
    )
}

#[test]
fn only_the_right_swf_plays_from_a_verifying_gateway() {
    let gw = Gateway::start(&["--no-demo", "--swf-verify", &format!("{HASH}:{SIZE}")]);
    let dir = TempDir::new("swf");
    let input = dir.path("in.flv");
    let made = output_of(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
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
            .args(["-pix_fmt", "yuv420p"])
            .arg(&input),
        "ffmpeg",
    );
    assert!(made.status.success());
    let url = gw.rtmp_url("vfy");
    let _push = Guard::spawn(
        flashless()
            .args(["push", "-q", "--loop"])
            .arg(&input)
            .args([&url, &format!("swfhash={HASH}"), &format!("swfsize={SIZE}")])
            .stdin(Stdio::null()),
        "flashless push",
    );
    gw.wait_live("vfy");

    let good = dir.path("good.flv");
    let wrong = dir.path("wrong.flv");
    let none = dir.path("none.flv");
    let players = [
        rtmpdump(&url, &["--swfhash", HASH, "--swfsize", SIZE], &good),
        rtmpdump(
            &url,
            &["--swfhash", &"00".repeat(32), "--swfsize", SIZE],
            &wrong,
        ),
        rtmpdump(&url, &[], &none),
    ];
    std::thread::sleep(Duration::from_secs(3));
    for p in players {
        p.signal("TERM", Duration::from_secs(5));
    }
    assert!(ffprobe(&good).duration >= 1.5, "the right SWF plays");
    for refused in [&wrong, &none] {
        let len = std::fs::metadata(refused).map_or(0, |m| m.len());
        assert!(len <= 13, "{} got {len} bytes", refused.display());
    }
    gw.log_saying("SWF verification failed");
}
