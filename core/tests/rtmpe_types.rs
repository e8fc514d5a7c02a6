//! RTMPE handshake types 8 and 9 against a real client: a server made of the
//! core's `Handshake` answers rtmpdump's `rtmpe://` (C0 = 6) with S0 = 8 or 9.
//! librtmp follows the server's type: its C2 must carry the XTEA/Blowfish-
//! sealed signature we expect, our S2 must pass its check (else it sends no
//! C2), and what it sends next, its `connect`, must decrypt with the RC4 streams.
//! (Debian's ffmpeg is built without its own RTMPE, so it cannot be the peer.)
//!
//! Needs rtmpdump; `cargo xtask test` installs it.
#![cfg(feature = "rtmpe")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flashless_core::rtmp::handshake::Handshake;

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Accepts one connection from rtmpdump, answers its RTMPE handshake as
/// `rtmpe_type`; whether its C2 verified, and its next bytes, decrypted.
fn handshake_with_rtmpdump(rtmpe_type: u8) -> (bool, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let url = format!("rtmpe://127.0.0.1:{port}/live/cam");
    let _child = Kill(
        Command::new("rtmpdump")
            .args(["-q", "-r", &url, "-o", "/dev/null"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("rtmpdump is not installed ({e}): run `cargo xtask test`")),
    );
    // Never wait forever for a client that failed before connecting.
    listener.set_nonblocking(true).unwrap();
    let started = std::time::Instant::now();
    let mut sock = loop {
        match listener.accept() {
            Ok((sock, _)) => break sock,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("rtmpdump never connected: {e}"),
        }
    };
    sock.set_nonblocking(false).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut hs = Handshake::server(0, &[0x5a; 1528]);
    hs.accept_rtmpe(&[0x33; 128]);
    hs.answer_rtmpe_type(rtmpe_type);
    let mut buf = vec![0u8; 8192];
    let mut rest = Vec::new();
    while !hs.is_done() {
        let n = sock.read(&mut buf).expect("handshake bytes");
        assert!(
            n > 0,
            "rtmpdump closed during the handshake: our S2 failed its check?"
        );
        let used = hs.feed(&buf[..n]).expect("a valid handshake");
        rest.extend_from_slice(&buf[used..n]);
        let mut out = Vec::new();
        hs.poll_transmit(&mut out);
        sock.write_all(&out).unwrap();
    }
    assert_eq!(hs.rtmpe_type(), Some(rtmpe_type));
    let verified = hs.peer_c2_verified();
    while rest.len() < 200 {
        match sock.read(&mut buf) {
            Ok(n) if n > 0 => rest.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let mut cipher = hs.take_cipher().expect("RC4 streams");
    cipher.decrypt(&mut rest);
    (verified, rest)
}

fn sends_connect(after: &[u8]) -> bool {
    after.windows(7).any(|w| w == b"connect")
}

#[test]
fn rtmpdump_follows_types_8_and_9() {
    for t in [6u8, 8, 9] {
        let (verified, after) = handshake_with_rtmpdump(t);
        assert!(verified, "type {t}: rtmpdump's C2 signature verifies");
        assert!(
            sends_connect(&after),
            "type {t}: rtmpdump's connect decrypts"
        );
    }
}
