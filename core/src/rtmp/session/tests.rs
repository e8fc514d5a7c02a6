//! Client and server sessions talking to each other in memory.

use bytes::Bytes;

use super::*;
use crate::amf::Value;
use crate::flv::{Tag, TagType};
use crate::rtmp::message::Message;
use crate::rtmp::url::RtmpUrl;

fn url(s: &str) -> RtmpUrl {
    s.parse().expect("test URL parses")
}

/// One server connection that accepts everything except the app `denied` and the
/// stream `missing`, and records what a publisher sends.
struct Relay {
    session: ServerSession,
    publishing: Option<u32>,
    playing: Vec<u32>,
    received: Vec<Tag>,
}

impl Relay {
    fn new() -> Self {
        Relay {
            session: ServerSession::new(0, &[9; 1528]),
            publishing: None,
            playing: vec![],
            received: vec![],
        }
    }

    fn handle_events(&mut self) {
        while let Some(ev) = self.session.poll_event() {
            match ev {
                ServerEvent::Connect { app, .. } => {
                    if app == "denied" {
                        self.session.reject_connect("app denied is closed");
                    } else {
                        self.session.accept_connect();
                    }
                }
                ServerEvent::Publish { stream_id, .. } => {
                    self.publishing = Some(stream_id);
                    self.session.accept_publish(stream_id);
                }
                ServerEvent::Play { stream_id, name } if name == "missing" => self.session.reject(
                    stream_id,
                    "NetStream.Play.StreamNotFound",
                    "no such stream",
                ),
                ServerEvent::Play { stream_id, .. } => {
                    self.playing.push(stream_id);
                    self.session.accept_play(stream_id);
                }
                ServerEvent::Tag { tag, .. } => self.received.push(tag),
                ServerEvent::StreamClosed { stream_id } => {
                    if self.publishing == Some(stream_id) {
                        self.publishing = None;
                    }
                }
            }
        }
    }
}

/// Moves bytes both ways until both sides are quiet, splitting each write into odd pieces.
fn pump(client: &mut ClientSession, relay: &mut Relay) -> Result<Vec<ClientEvent>, SessionError> {
    let mut events = vec![];
    loop {
        let mut moved = false;
        while let Some(b) = client.poll_transmit() {
            for piece in b.chunks(777) {
                relay.session.feed(piece)?;
                relay.handle_events();
            }
            moved = true;
        }
        while let Some(b) = relay.session.poll_transmit() {
            for piece in b.chunks(333) {
                client.feed(piece)?;
            }
            moved = true;
        }
        while let Some(e) = client.poll_event() {
            events.push(e);
        }
        if !moved {
            return Ok(events);
        }
    }
}

fn video(ts: u32, len: usize) -> Tag {
    let mut data = vec![0x17, 1, 0, 0, 0];
    data.resize(len, 0xAB);
    Tag {
        tag_type: TagType::Video,
        timestamp: ts,
        data: Bytes::from(data),
    }
}

#[test]
fn publish_then_play_relays_tags_with_metadata_and_timestamps() {
    let mut relay = Relay::new();
    let mut publisher = ClientSession::new(
        url("rtmp://127.0.0.1/live/cam"),
        ClientMode::Publish,
        0,
        &[1; 1528],
    );
    let events = pump(&mut publisher, &mut relay).unwrap();
    assert!(
        matches!(events.first(), Some(ClientEvent::Connected { .. })),
        "{events:?}"
    );
    assert!(events.contains(&ClientEvent::Publishing), "{events:?}");

    let mut meta = Vec::new();
    crate::amf::amf0::encode_all(
        &[
            "onMetaData".into(),
            Value::EcmaArray(vec![("width".into(), 320.0.into())]),
        ],
        &mut meta,
    );
    let tags = vec![
        Tag {
            tag_type: TagType::Script,
            timestamp: 0,
            data: Bytes::from(meta),
        },
        video(0, 9000),
        Tag {
            tag_type: TagType::Audio,
            timestamp: 21,
            data: Bytes::from_static(&[0xAF, 1, 2, 3]),
        },
        video(40, 100),
        // Past 0xFFFFFF: extended timestamps.
        video(0x0100_0000 + 7, 50),
    ];
    for t in &tags {
        publisher.send_tag(t).unwrap();
    }
    pump(&mut publisher, &mut relay).unwrap();
    assert_eq!(relay.received, tags);

    // A second connection plays what the first published.
    let mut relay = Relay::new();
    let mut player = ClientSession::new(
        url("rtmp://127.0.0.1/live/cam live=1"),
        ClientMode::Play,
        0,
        &[2; 1528],
    );
    let events = pump(&mut player, &mut relay).unwrap();
    assert!(events.contains(&ClientEvent::Playing), "{events:?}");
    let stream_id = relay.playing[0];
    for t in &tags {
        relay.session.send_tag(stream_id, t);
    }
    let got: Vec<Tag> = pump(&mut player, &mut relay)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Tag(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(got, tags);

    relay.session.end_stream(stream_id);
    let events = pump(&mut player, &mut relay).unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::StreamEnd { .. })),
        "{events:?}"
    );

    // The publisher back: the player is told, and the new session's media reaches it.
    relay.session.resume_stream(stream_id);
    relay.session.send_tag(stream_id, &tags[0]);
    let events = pump(&mut player, &mut relay).unwrap();
    assert!(
        matches!(
            &events[..],
            [ClientEvent::Status { code, .. }, ClientEvent::Tag(t)]
                if code == "NetStream.Play.PublishNotify" && *t == tags[0]
        ),
        "{events:?}"
    );
}

#[test]
fn rejected_connect_is_an_error_with_the_servers_description() {
    let mut relay = Relay::new();
    let mut c = ClientSession::new(
        url("rtmp://127.0.0.1/denied/x"),
        ClientMode::Play,
        0,
        &[1; 1528],
    );
    match pump(&mut c, &mut relay) {
        Err(SessionError::Rejected { code, description }) => {
            assert_eq!(code, "NetConnection.Connect.Rejected");
            assert_eq!(description, "app denied is closed");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn missing_stream_is_stream_not_found() {
    let mut relay = Relay::new();
    let mut c = ClientSession::new(
        url("rtmp://127.0.0.1/live/missing"),
        ClientMode::Play,
        0,
        &[1; 1528],
    );
    let err = pump(&mut c, &mut relay).unwrap_err();
    assert!(
        matches!(err, SessionError::StreamNotFound { ref stream, .. } if stream == "missing"),
        "{err}"
    );
}

#[test]
fn sending_before_publish_started_is_refused() {
    let mut c = ClientSession::new(
        url("rtmp://127.0.0.1/live/x"),
        ClientMode::Publish,
        0,
        &[1; 1528],
    );
    assert!(matches!(
        c.send_tag(&video(0, 10)),
        Err(SessionError::WrongState { .. })
    ));
}

#[test]
fn commands_before_connect_close_the_session() {
    let mut server = ServerSession::new(0, &[9; 1528]);
    let mut client = ClientSession::new(
        url("rtmp://127.0.0.1/live/x"),
        ClientMode::Play,
        0,
        &[1; 1528],
    );
    // Complete the handshake by hand, then send createStream without connect.
    let c0c1 = client.poll_transmit().unwrap();
    server.feed(&c0c1).unwrap();
    let s = server.poll_transmit().unwrap();
    client.feed(&s).unwrap();
    let c2_and_connect = client.poll_transmit().unwrap();
    let c2 = &c2_and_connect[..1536];
    server.feed(c2).unwrap();
    let mut enc = crate::rtmp::chunk::ChunkEncoder::new();
    let mut out = bytes::BytesMut::new();
    let cmd = crate::rtmp::message::Message::Command(crate::rtmp::message::Command::new(
        "createStream",
        2.0,
        Value::Null,
        vec![],
    ));
    enc.encode(&cmd.to_raw(3, 0, 0), &mut out);
    assert!(matches!(
        server.feed(&out),
        Err(SessionError::BeforeConnect { .. })
    ));
}

/// A real FFmpeg publish (testdata/README.md), fed in odd-sized reads.
#[test]
fn ffmpeg_publish_capture_yields_connect_publish_and_media() {
    let capture = include_bytes!("../../../../testdata/ffmpeg_publish.rtmp");
    let mut relay = Relay::new();
    for piece in capture.chunks(1000) {
        relay.session.feed(piece).unwrap();
        relay.handle_events();
    }
    // The capture ends with FCUnpublish and deleteStream, which close the stream.
    assert_eq!(relay.publishing, None);
    let first = &relay.received[0];
    assert_eq!(first.tag_type, TagType::Script);
    assert_eq!(
        crate::rtmp::message::data_name(&first.data).as_deref(),
        Some("onMetaData")
    );
    let video = relay
        .received
        .iter()
        .filter(|t| t.tag_type == TagType::Video)
        .count();
    let audio = relay
        .received
        .iter()
        .filter(|t| t.tag_type == TagType::Audio)
        .count();
    assert!(
        video >= 10 && audio >= 10,
        "{video} video and {audio} audio tags"
    );
    let first_video = relay
        .received
        .iter()
        .find(|t| t.tag_type == TagType::Video)
        .unwrap();
    assert_eq!(
        &first_video.data[..2],
        &[0x17, 0x00],
        "an AVC sequence header on a keyframe comes first"
    );
}

/// A server answering RTMPE type 8 or 9: the client follows it, both seal and
/// check the C2/S2 signatures, and the session runs over the RC4 streams.
#[cfg(feature = "rtmpe")]
#[test]
fn rtmpe_types_8_and_9_carry_a_publish() {
    for rtmpe_type in [8u8, 9] {
        let mut relay = Relay {
            session: ServerSession::new(0, &[9; 1528])
                .with_rtmpe(&[5; 128])
                .with_rtmpe_type(rtmpe_type),
            ..Relay::new()
        };
        let mut publisher = ClientSession::encrypted(
            url("rtmpe://127.0.0.1/live/cam"),
            ClientMode::Publish,
            0,
            &[1; 1528],
            &[3; 128],
        );
        let first = publisher.poll_transmit().expect("C0 C1");
        relay.session.feed(&first).unwrap();
        let events = pump(&mut publisher, &mut relay).unwrap();
        assert!(events.contains(&ClientEvent::Publishing), "{events:?}");
        let tags = vec![video(0, 9000), video(40, 100)];
        for t in &tags {
            publisher.send_tag(t).unwrap();
        }
        let wire = publisher.poll_transmit().expect("the tags");
        relay.session.feed(&wire).unwrap();
        relay.handle_events();
        assert_eq!(relay.received, tags, "type {rtmpe_type}");
    }
}

#[cfg(feature = "rtmpe")]
#[test]
fn rtmpe_client_publishes_through_an_encrypted_connection() {
    let mut relay = Relay {
        session: ServerSession::new(0, &[9; 1528]).with_rtmpe(&[5; 128]),
        ..Relay::new()
    };
    let mut publisher = ClientSession::encrypted(
        url("rtmpe://127.0.0.1/live/cam"),
        ClientMode::Publish,
        0,
        &[1; 1528],
        &[3; 128],
    );
    let first = publisher.poll_transmit().expect("C0 C1");
    assert_eq!(first[0], 6, "RTMPE's C0");
    relay.session.feed(&first).unwrap();
    let events = pump(&mut publisher, &mut relay).unwrap();
    assert!(events.contains(&ClientEvent::Publishing), "{events:?}");
    let tags = vec![video(0, 9000), video(40, 100)];
    for t in &tags {
        publisher.send_tag(t).unwrap();
    }
    // On the wire the tag's bytes are not in the clear.
    let wire = publisher.poll_transmit().expect("the tags");
    assert!(!wire.windows(16).any(|w| w == [0xAB; 16]));
    relay.session.feed(&wire).unwrap();
    relay.handle_events();
    assert_eq!(relay.received, tags);
}

#[cfg(feature = "rtmpe")]
#[test]
fn a_plain_client_still_works_on_an_rtmpe_server() {
    let mut relay = Relay {
        session: ServerSession::new(0, &[9; 1528]).with_rtmpe(&[5; 128]),
        ..Relay::new()
    };
    let mut player = ClientSession::new(
        url("rtmp://127.0.0.1/live/cam"),
        ClientMode::Play,
        0,
        &[2; 1528],
    );
    let events = pump(&mut player, &mut relay).unwrap();
    assert!(events.contains(&ClientEvent::Playing), "{events:?}");
}

fn swf() -> crate::rtmp::swf::SwfIdentity {
    crate::rtmp::swf::SwfIdentity {
        hash: [0x5a; 32],
        size: 123_456,
    }
}

#[test]
fn swf_verification_lets_the_right_swf_connect() {
    let mut relay = Relay {
        session: ServerSession::new(0, &[9; 1528]).require_swf(swf()),
        ..Relay::new()
    };
    let hash = "5a".repeat(32);
    let mut player = ClientSession::new(
        url(&format!(
            "rtmp://127.0.0.1/live/cam swfhash={hash} swfsize=123456"
        )),
        ClientMode::Play,
        0,
        &[2; 1528],
    );
    let events = pump(&mut player, &mut relay).unwrap();
    assert!(events.contains(&ClientEvent::Playing), "{events:?}");
}

#[test]
fn swf_verification_refuses_a_client_without_the_swf() {
    for opts in [
        "",
        " swfhash=00000000000000000000000000000000000000000000000000000000000000aa swfsize=123456",
    ] {
        let mut relay = Relay {
            session: ServerSession::new(0, &[9; 1528]).require_swf(swf()),
            ..Relay::new()
        };
        let mut player = ClientSession::new(
            url(&format!("rtmp://127.0.0.1/live/cam{opts}")),
            ClientMode::Play,
            0,
            &[2; 1528],
        );
        match pump(&mut player, &mut relay) {
            // A wrong answer ends the session.
            Err(SessionError::SwfVerificationFailed { .. }) => assert!(!opts.is_empty()),
            // No answer: connect is never reported, so never accepted.
            Ok(events) => {
                assert!(opts.is_empty());
                assert!(
                    !events
                        .iter()
                        .any(|e| matches!(e, ClientEvent::Connected { .. }))
                );
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn secure_token_is_answered_with_the_decrypted_challenge() {
    use crate::rtmp::chunk::{ChunkDecoder, ChunkEncoder};
    let mut relay = Relay::new();
    let mut player = ClientSession::new(
        url("rtmp://127.0.0.1/live/cam token=flashless-secret"),
        ClientMode::Play,
        0,
        &[2; 1528],
    );
    let mut sent = Vec::new();
    // The handshake with a real server session, and the client's connect.
    for _ in 0..2 {
        while let Some(b) = player.poll_transmit() {
            sent.extend_from_slice(&b);
            relay.session.feed(&b).unwrap();
        }
        while let Some(b) = relay.session.poll_transmit() {
            player.feed(&b).unwrap();
        }
    }
    // A connect result as FMS sends it with SecureToken on: the challenge in the info.
    let challenge = crate::rtmp::secure_token::encrypt("flashless-secret", b"c0ffee-challenge");
    let info = Value::object([
        ("code", "NetConnection.Connect.Success".into()),
        ("secureToken", challenge.as_str().into()),
    ]);
    let result = Message::Command(crate::rtmp::message::Command::new(
        "_result",
        1.0,
        Value::Null,
        vec![info],
    ));
    let mut wire = bytes::BytesMut::new();
    ChunkEncoder::new().encode(&result.to_raw(3, 0, 0), &mut wire);
    player.feed(&wire).unwrap();
    while let Some(b) = player.poll_transmit() {
        sent.extend_from_slice(&b);
    }
    // What the client sent after C0 C1 and C2, as messages.
    let mut decoder = ChunkDecoder::new(Default::default());
    decoder.feed(&sent[1 + 2 * 1536..]);
    let mut commands = Vec::new();
    while let Some(raw) = decoder.poll_message().unwrap() {
        if let Ok(Message::Command(c)) = Message::decode(&raw) {
            commands.push(c);
        }
    }
    let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names.get(..2),
        Some(&["connect", "secureTokenResponse"][..]),
        "{names:?}"
    );
    assert_eq!(commands[1].args, vec![Value::from("c0ffee-challenge")]);
}

/// The chunks of one message on chunk stream 10, as a peer that has not announced a
/// chunk size sends them.
fn raw_chunks(msg: &crate::rtmp::message::Message, stream_id: u32) -> bytes::BytesMut {
    let mut out = bytes::BytesMut::new();
    crate::rtmp::chunk::ChunkEncoder::new().encode(&msg.to_raw(10, 0, stream_id), &mut out);
    out
}

/// Until a publish is accepted, nobody has been authorised: a peer may not make the
/// server buffer more than small messages. A publisher then sends keyframes of any size.
#[test]
fn large_messages_wait_for_an_accepted_publish() {
    let mut relay = Relay::new();
    let mut player = ClientSession::new(
        url("rtmp://127.0.0.1/live/cam"),
        ClientMode::Play,
        0,
        &[2; 1528],
    );
    pump(&mut player, &mut relay).unwrap();
    let big = crate::rtmp::message::Message::Video(video(0, 100_000).data);
    let err = relay.session.feed(&raw_chunks(&big, 1)).unwrap_err();
    assert_eq!(
        err,
        SessionError::Chunk(crate::rtmp::chunk::ChunkError::MessageTooLarge {
            csid: 10,
            len: 100_000,
            limit: 64 * 1024
        })
    );

    let mut relay = Relay::new();
    let mut publisher = ClientSession::new(
        url("rtmp://127.0.0.1/live/cam"),
        ClientMode::Publish,
        0,
        &[1; 1528],
    );
    pump(&mut publisher, &mut relay).unwrap();
    let keyframe = video(0, 1_000_000);
    publisher.send_tag(&keyframe).unwrap();
    pump(&mut publisher, &mut relay).unwrap();
    assert_eq!(relay.received, [keyframe]);
}

/// Commands and media show a peer is doing something; acknowledgements do not, so a
/// peer cannot hold a connection open with them alone.
#[test]
fn activity_counts_commands_and_media_only() {
    let mut relay = Relay::new();
    let mut publisher = ClientSession::new(
        url("rtmp://127.0.0.1/live/cam"),
        ClientMode::Publish,
        0,
        &[1; 1528],
    );
    pump(&mut publisher, &mut relay).unwrap();
    let after_publish = relay.session.activity();
    assert!(
        after_publish >= 3,
        "connect, createStream, publish: {after_publish}"
    );
    let ack = crate::rtmp::message::Message::Acknowledgement { sequence: 1 };
    relay.session.feed(&raw_chunks(&ack, 0)).unwrap();
    assert_eq!(relay.session.activity(), after_publish);
    publisher.send_tag(&video(0, 100)).unwrap();
    pump(&mut publisher, &mut relay).unwrap();
    assert_eq!(relay.session.activity(), after_publish + 1);
}

/// Tags a connected player receives, pumped until quiet.
fn received_tags(player: &mut ClientSession, relay: &mut Relay) -> Vec<Tag> {
    pump(player, relay)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Tag(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn playing(seed: u8) -> (ClientSession, Relay) {
    let mut relay = Relay::new();
    let mut player = ClientSession::new(
        url("rtmp://127.0.0.1/live/cam live=1"),
        ClientMode::Play,
        0,
        &[seed; 1528],
    );
    let events = pump(&mut player, &mut relay).unwrap();
    assert!(events.contains(&ClientEvent::Playing), "{events:?}");
    (player, relay)
}

#[test]
fn shared_chunks_play_on_every_connection_mixed_with_its_own() {
    let tags = vec![
        video(0, 9000),
        Tag {
            tag_type: TagType::Audio,
            timestamp: 21,
            data: Bytes::from_static(&[0xAF, 1, 2, 3]),
        },
        video(40, 100),
        video(80, 100),
        video(120, 100),
        // Past 0xFFFFFF: extended timestamps, repeated in the continuation chunks.
        video(0x0100_0000 + 7, 5000),
        video(0x0100_0000 + 47, 5000),
    ];
    let chunked: Vec<_> = tags
        .iter()
        .map(|t| ServerSession::chunk_tag(t, 1).unwrap())
        .collect();
    let mut players = [playing(2), playing(3)];
    for (i, (player, relay)) in players.iter_mut().enumerate() {
        let stream_id = relay.playing[0];
        assert_eq!(stream_id, 1);
        // Player 0 gets one tag in three encoded for it alone, player 1 every tag shared:
        // headers compressed against shared ones, and shared ones after those, decode.
        for (n, (t, c)) in tags.iter().zip(&chunked).enumerate() {
            if i == 0 && n % 3 == 1 {
                relay.session.send_tag(stream_id, t);
            } else {
                relay.session.send_shared(stream_id, t, c);
            }
        }
        assert_eq!(received_tags(player, relay), tags, "player {i}");
    }
    // Each shared message is one buffer, the same for every connection.
    assert!(chunked.iter().all(|c| c.bytes().len() > 11));
}

#[test]
fn shared_chunks_for_another_stream_id_are_encoded_for_the_player() {
    let (mut player, mut relay) = playing(2);
    let stream_id = relay.playing[0];
    let tags = [video(0, 5000), video(40, 100)];
    for t in &tags {
        let other = ServerSession::chunk_tag(t, stream_id + 1).unwrap();
        relay.session.send_shared(stream_id, t, &other);
    }
    assert_eq!(received_tags(&mut player, &mut relay), tags);
}
