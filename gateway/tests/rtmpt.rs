//! RTMPT (RTMP over HTTP) on the gateway's RTMP port, as Flash Media Server serves it,
//! against real peers: ffmpeg's `rtmpt` publishes, rtmpdump (librtmp's RTMPT, and RTMPE
//! inside it) plays, and the gateway's own client publishes and plays through it.

mod peers;

use std::process::Stdio;

use peers::*;

#[test]
fn ffmpeg_publishes_and_rtmpdump_plays_over_rtmpt() {
    let gw = Gateway::start(&["--no-demo"]);
    let url = |scheme: &str| format!("{scheme}://127.0.0.1:{}/live/tunnel", gw.rtmp);
    let _ffmpeg = ffmpeg_publish(&url("rtmpt"), &[]);
    gw.wait_live("tunnel");
    let dir = TempDir::new("rtmpt");
    for scheme in ["rtmpt", "rtmpte"] {
        let out = dir.path(&format!("{scheme}.flv"));
        let probe = rtmpdump_for(&url(scheme), &[], 4, &out);
        assert!(
            probe.codecs.contains(&"h264".to_owned()) && probe.codecs.contains(&"aac".to_owned()),
            "{scheme}: {probe:?}"
        );
        assert!(probe.duration >= 2.5, "{scheme}: only {} s", probe.duration);
    }
}

#[test]
fn the_gateways_client_publishes_and_plays_over_rtmpt() {
    let gw = Gateway::start(&["--no-demo"]);
    let dir = TempDir::new("rtmpt-self");
    let input = test_clip(&dir, "in.flv", 4.0, true, &[]);
    let url = |scheme: &str| format!("{scheme}://127.0.0.1:{}/live/self", gw.rtmp);
    let _push = Guard::spawn(
        flashless()
            .args(["push", "-q", "--loop"])
            .arg(&input)
            .arg(url("rtmpt"))
            .stdin(Stdio::null()),
        "flashless push",
    );
    gw.wait_live("self");
    let probe = output_of(
        flashless().args(["probe", &url("rtmpte")]),
        "flashless probe",
    );
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success() && text.contains("audio: mp4a.40.2"),
        "{text} {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let out = dir.path("dump.flv");
    assert!(dump_for(&[&url("rtmpt")], 3, &out).duration >= 2.5);
}

/// A refusal that ends the connection reaches an RTMPT client too: the tunnel answers
/// its next poll with what the connection wrote last before it closes. Found by review:
/// ffmpeg over `rtmp://` said "too many publishers", over `rtmpt://` only "Input/output
/// error".
#[test]
fn a_refusal_reaches_an_rtmpt_client() {
    let gw = Gateway::start(&["--no-demo", "--max-publishers", "0"]);
    let dir = TempDir::new("rtmpt-refused");
    let input = test_clip(&dir, "in.flv", 2.0, true, &[]);
    let out = output_of(
        std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-re", "-i"])
            .arg(&input)
            .args(["-c", "copy", "-f", "flv"])
            .arg(format!("rtmpt://127.0.0.1:{}/live/refused", gw.rtmp)),
        "ffmpeg",
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("too many publishers"), "{said}");
}

/// A `send` that comes after the tunnel's RTMP connection ended (here at the handshake
/// timeout), in the seconds the tunnel still hands over what it wrote last, is answered:
/// its body has nowhere to go and is dropped. Found by review: it ended the tunnel
/// unanswered.
#[test]
fn a_send_after_the_connection_ended_is_answered() {
    use std::io::{BufRead, BufReader, Read, Write};
    let gw = Gateway::start(&["--no-demo", "--handshake-timeout", "1"]);
    let socket = std::net::TcpStream::connect(("127.0.0.1", gw.rtmp)).expect("connecting");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("a read timeout");
    let mut reader = BufReader::new(socket.try_clone().expect("a second handle"));
    let mut writer = socket;
    let mut exchange = |path: &str, body: &[u8]| -> (String, Vec<u8>) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-fcs\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        writer.write_all(head.as_bytes()).expect("a request head");
        writer.write_all(body).expect("a request body");
        let mut status = String::new();
        reader.read_line(&mut status).expect("an answer");
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("an answer's head");
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                len = value.trim().parse().expect("a length");
            }
        }
        let mut answer = vec![0; len];
        reader.read_exact(&mut answer).expect("an answer's body");
        (status.trim().to_owned(), answer)
    };
    let (status, id) = exchange("/open/1", &[0]);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let id = String::from_utf8(id).expect("a session id");
    // The handshake's second is over, and with it the connection; the tunnel answers for
    // 3 s more: this poll comes in their middle.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (status, answer) = exchange(&format!("/send/{}/1", id.trim()), &[3; 1537]);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        answer.len(),
        1,
        "only the poll delay: the connection wrote nothing"
    );
}
