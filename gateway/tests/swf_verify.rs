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
    let input = testdata_flv(&dir);
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

/// Serves `body` to every GET on a free loopback port, from a thread that lives as long
/// as the test.
fn serve_file(body: Vec<u8>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding");
    let port = listener.local_addr().expect("port").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-shockwave-flash\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    port
}

/// `swfVfy=1 swfUrl=…`: the SWF is fetched, inflated and hashed, by `flashless` and by
/// rtmpdump's `--swfVfy` alike, and both pass a gateway that wants that SWF.
#[test]
fn swf_vfy_fetches_and_hashes_the_swf_as_rtmpdump_does() {
    let movie: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut plain = b"FWS\x0a".to_vec();
    plain.extend_from_slice(&(8 + movie.len() as u32).to_le_bytes());
    plain.extend_from_slice(&movie);
    let mut cws = b"CWS".to_vec();
    cws.extend_from_slice(&plain[3..8]);
    cws.extend(miniz_oxide::deflate::compress_to_vec_zlib(&movie, 6));
    let id = flashless_core::rtmp::swf::SwfIdentity::of_uncompressed(&plain);
    let hash: String = id.hash.iter().map(|b| format!("{b:02x}")).collect();
    let swf_url = format!("http://127.0.0.1:{}/player.swf", serve_file(cws));

    let gw = Gateway::start(&["--no-demo", "--swf-verify", &format!("{hash}:{}", id.size)]);
    let dir = TempDir::new("swfvfy");
    let url = gw.rtmp_url("vfy");
    let _push = Guard::spawn(
        flashless()
            .args(["push", "-q", "--loop"])
            .arg(testdata_flv(&dir))
            .args([&url, &format!("swfUrl={swf_url}"), "swfVfy=1"])
            .stdin(Stdio::null()),
        "flashless push",
    );
    gw.wait_live("vfy");
    let out = dir.path("rtmpdump.flv");
    let rtmpdump = Guard::spawn(
        Command::new("rtmpdump")
            .env("HOME", dir.path(""))
            .args(["-q", "-v", "-r", &url, "--swfVfy", &swf_url, "-o"])
            .arg(&out)
            .stdin(Stdio::null()),
        "rtmpdump",
    );
    std::thread::sleep(Duration::from_secs(3));
    rtmpdump.signal("TERM", Duration::from_secs(5));
    assert!(ffprobe(&out).duration >= 1.5, "rtmpdump --swfVfy plays");
}

/// A 4 s H.264 test pattern.
fn testdata_flv(dir: &TempDir) -> std::path::PathBuf {
    test_clip(dir, "in.flv", 4.0, false, &[])
}
