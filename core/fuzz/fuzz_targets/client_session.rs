//! The client session against what a server sends (an upstream a channel pulls, an
//! origin): past the handshake, any bytes end in events or an error, never a panic.
//! The first byte picks play or publish and plain or RTMPE.
#![no_main]

use flashless_core::flv::{Tag, TagType};
use flashless_core::rtmp::session::{ClientEvent, ClientMode, ClientSession};
use flashless_core::rtmp::url;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let mode = if first & 1 == 0 {
        ClientMode::Play
    } else {
        ClientMode::Publish
    };
    let Ok(url) = url::parse("rtmp://127.0.0.1/live/fuzz") else {
        return;
    };
    let mut session = if first & 2 == 0 {
        // A plain S0 + S1 + S2: the client takes any S1 and S2.
        let mut session = ClientSession::new(url, mode, 0, &[7u8; 1528]);
        let mut handshake = vec![3u8];
        handshake.resize(1 + 2 * 1536, 0);
        if session.feed(&handshake).is_err() {
            return;
        }
        session
    } else {
        // RTMPE: the fuzzer writes the server's handshake itself.
        ClientSession::encrypted(url, mode, 0, &[7u8; 1528], &[9u8; 128])
    };
    let tag = Tag {
        tag_type: TagType::Video,
        timestamp: 0,
        data: bytes::Bytes::from_static(&[0x17, 0, 0, 0, 0]),
    };
    for piece in data.chunks(1000) {
        if session.feed(piece).is_err() {
            return;
        }
        while let Some(event) = session.poll_event() {
            if event == ClientEvent::Publishing && session.send_tag(&tag).is_err() {
                return;
            }
        }
        while session.poll_transmit().is_some() {}
    }
    session.close();
});
