//! The server session behind a completed plain handshake: messages, commands and
//! media in any order must end in events or an error, never a panic.
#![no_main]

use flashless_core::rtmp::session::{ServerEvent, ServerSession};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut session = ServerSession::new(0, &[7u8; 1528]);
    // C0 + C1 + C2: the server takes any C1 and C2, so the fuzzer starts past them.
    let mut handshake = vec![3u8];
    handshake.resize(1 + 2 * 1536, 0);
    if session.feed(&handshake).is_err() {
        return;
    }
    for piece in data.chunks(1000) {
        if session.feed(piece).is_err() {
            return;
        }
        // Accept everything, so the fuzzer reaches publishing and playing.
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::Connect { .. } => session.accept_connect(),
                ServerEvent::Publish { stream_id, .. } => {
                    session.accept_publish(stream_id);
                }
                ServerEvent::Play { stream_id, .. } => {
                    session.accept_play(stream_id);
                }
                ServerEvent::Tag { stream_id, tag } => session.send_tag(stream_id, &tag),
                ServerEvent::StreamClosed { .. } => {}
            }
        }
        while session.poll_transmit().is_some() {}
    }
});
