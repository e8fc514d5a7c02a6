//! Chunk stream tests: spec examples, header forms, extended timestamps,
//! control messages, limits, and encode/decode round trips.

use bytes::{Bytes, BytesMut};

use super::*;

pub(super) fn msg(
    csid: u32,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
) -> RawMessage {
    RawMessage {
        csid,
        timestamp,
        type_id,
        stream_id,
        payload: Bytes::copy_from_slice(payload),
    }
}

pub(super) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub(super) fn set_chunk_size_msg(size: u32) -> RawMessage {
    msg(CONTROL_CSID, 0, TYPE_SET_CHUNK_SIZE, 0, &size.to_be_bytes())
}

/// Drains every message the decoder has, stopping at the first error.
pub(super) fn drain(dec: &mut ChunkDecoder) -> Result<Vec<RawMessage>, ChunkError> {
    let mut out = Vec::new();
    while let Some(m) = dec.poll_message()? {
        out.push(m);
    }
    Ok(out)
}

fn decode(bytes: &[u8]) -> Result<Vec<RawMessage>, ChunkError> {
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.feed(bytes);
    drain(&mut dec)
}

fn encode_all(enc: &mut ChunkEncoder, msgs: &[RawMessage]) -> BytesMut {
    let mut out = BytesMut::new();
    for m in msgs {
        enc.encode(m, &mut out);
    }
    out
}

/// §5.3.2.1: four audio messages, same stream, length and type, 20 ms apart.
#[test]
fn spec_example_audio() {
    let payloads: Vec<Vec<u8>> = (0..4).map(|i| pattern(32, i)).collect();
    let msgs: Vec<RawMessage> = (0..4)
        .map(|i| msg(3, 1000 + 20 * i as u32, 8, 12345, &payloads[i]))
        .collect();
    let bytes = encode_all(&mut ChunkEncoder::new(), &msgs);

    let mut expected = vec![
        0x03, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x20, 0x08, 0x39, 0x30, 0, 0,
    ];
    expected.extend(&payloads[0]);
    expected.extend([0x83, 0x00, 0x00, 0x14]);
    expected.extend(&payloads[1]);
    expected.push(0xC3);
    expected.extend(&payloads[2]);
    expected.push(0xC3);
    expected.extend(&payloads[3]);
    assert_eq!(&bytes[..], &expected[..]);
    assert_eq!(decode(&bytes), Ok(msgs));
}

/// §5.3.2.2: one 307-byte video message split into 128 + 128 + 51.
#[test]
fn spec_example_video() {
    let payload = pattern(307, 7);
    let m = msg(4, 1000, 9, 12346, &payload);
    let bytes = encode_all(&mut ChunkEncoder::new(), std::slice::from_ref(&m));

    let mut expected = vec![
        0x04, 0x00, 0x03, 0xE8, 0x00, 0x01, 0x33, 0x09, 0x3A, 0x30, 0, 0,
    ];
    expected.extend(&payload[..128]);
    expected.push(0xC4);
    expected.extend(&payload[128..256]);
    expected.push(0xC4);
    expected.extend(&payload[256..]);
    assert_eq!(&bytes[..], &expected[..]);
    assert_eq!(decode(&bytes), Ok(vec![m]));
}

#[test]
fn basic_header_forms() {
    for (csid, basic) in [
        (2, vec![0x02]),
        (63, vec![0x3F]),
        (64, vec![0x00, 0x00]),
        (319, vec![0x00, 0xFF]),
        (320, vec![0x01, 0x00, 0x01]),
        (65599, vec![0x01, 0xFF, 0xFF]),
    ] {
        let m = msg(csid, 5, 20, 1, &pattern(200, 1));
        let bytes = encode_all(&mut ChunkEncoder::new(), std::slice::from_ref(&m));
        assert_eq!(&bytes[..basic.len()], &basic[..], "csid {csid}");
        // The continuation chunk repeats the basic header with fmt 3.
        let cont = basic.len() + 11 + 128;
        let mut cont_basic = basic.clone();
        cont_basic[0] |= 0xC0;
        assert_eq!(&bytes[cont..cont + basic.len()], &cont_basic[..]);
        assert_eq!(decode(&bytes), Ok(vec![m]), "csid {csid}");
    }
    // The 3-byte form may also carry ids the 2-byte form could.
    let bytes = [0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0xAA];
    assert_eq!(decode(&bytes), Ok(vec![msg(64, 0, 8, 0, &[0xAA])]));
}

#[test]
fn encoder_rejects_unsendable_messages() {
    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    for csid in [0, 1, 65600] {
        let err = enc.try_encode(&msg(csid, 0, 8, 1, b"x"), &mut out);
        assert_eq!(err, Err(ChunkError::InvalidCsid { csid }));
    }
    let big = RawMessage {
        payload: Bytes::from(vec![0; 0x100_0000]),
        ..msg(3, 0, 9, 1, b"")
    };
    let err = enc.try_encode(&big, &mut out);
    assert!(matches!(
        err,
        Err(ChunkError::MessageTooLarge { csid: 3, .. })
    ));
    assert!(out.is_empty());
}

#[test]
fn chunk_sizes() {
    for size in [128, 4096, 1, MAX_CHUNK_SIZE] {
        let mut enc = ChunkEncoder::new();
        let mut msgs = vec![set_chunk_size_msg(size)];
        let mut out = encode_all(&mut enc, &msgs);
        enc.set_chunk_size(size);
        assert_eq!(enc.chunk_size(), size);
        let body = vec![
            msg(6, 0, 9, 1, &pattern(5000, 3)),
            msg(6, 40, 9, 1, &pattern(5000, 4)),
            msg(4, 0, 8, 1, &pattern(1, 5)),
        ];
        out.extend_from_slice(&encode_all(&mut enc, &body));
        msgs.extend(body);

        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        dec.feed(&out);
        assert_eq!(drain(&mut dec), Ok(msgs), "chunk size {size}");
        assert_eq!(dec.chunk_size(), size);
        assert_eq!(dec.bytes_received(), out.len() as u64);
    }
}

#[test]
fn invalid_chunk_sizes_are_errors() {
    for size in [0, 0x8000_0000, u32::MAX] {
        let mut enc = ChunkEncoder::new();
        let first = encode_all(&mut enc, &[msg(3, 0, 20, 0, b"hello")]);
        let bytes = [
            &first[..],
            &encode_all(&mut enc, &[set_chunk_size_msg(size)]),
        ]
        .concat();
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        dec.feed(&bytes);
        assert!(dec.poll_message().is_ok_and(|m| m.is_some()));
        let err = ChunkError::InvalidChunkSize {
            size,
            offset: first.len() as u64,
        };
        assert_eq!(dec.poll_message(), Err(err.clone()));
        // Poisoned: the same error again, even with more bytes.
        dec.feed(&first);
        assert_eq!(dec.poll_message(), Err(err));
    }
    let short = [0x02, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(
        decode(&short),
        Err(ChunkError::ShortControlMessage {
            csid: 2,
            type_id: 1,
            len: 3,
            offset: 0
        })
    );
}

#[test]
fn extended_timestamp_type0_repeated() {
    let m = msg(5, 0x0100_0000, 9, 1, &pattern(300, 9));
    let bytes = encode_all(&mut ChunkEncoder::new(), std::slice::from_ref(&m));
    // 0xFFFFFF marker, then the 4 bytes after the header and after each 0xC5.
    assert_eq!(&bytes[1..4], &[0xFF, 0xFF, 0xFF]);
    assert_eq!(&bytes[12..16], &[1, 0, 0, 0]);
    assert_eq!(&bytes[16 + 128..16 + 128 + 5], &[0xC5, 1, 0, 0, 0]);
    assert_eq!(bytes.len(), 16 + 300 + 2 * 5);
    assert_eq!(decode(&bytes), Ok(vec![m]));
}

#[test]
fn extended_timestamp_not_repeated() {
    // An encoder following the spec to the letter: no extended timestamp in
    // type-3 chunks. The 130-byte message ends in a 2-byte chunk, which must
    // decode without waiting for 4 bytes.
    let payload = pattern(130, 0x40);
    let mut bytes = vec![0x05, 0xFF, 0xFF, 0xFF, 0, 0, 130, 9, 1, 0, 0, 0, 1, 0, 0, 0];
    bytes.extend(&payload[..128]);
    bytes.push(0xC5);
    bytes.extend(&payload[128..]);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.feed(&bytes);
    assert_eq!(
        drain(&mut dec),
        Ok(vec![msg(5, 0x0100_0000, 9, 1, &payload)])
    );

    // Undecidable prefix: wait while the buffered bytes match the timestamp.
    let mut bytes = vec![0x05, 0xFF, 0xFF, 0xFF, 0, 0, 130, 9, 1, 0, 0, 0, 1, 0, 0, 0];
    bytes.extend(&payload[..128]);
    bytes.extend([0xC5, 1, 0]);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.feed(&bytes);
    assert_eq!(dec.poll_message(), Ok(None));
    dec.feed(&[0, 0, 0xAB, 0xCD]);
    let mut expected = payload[..128].to_vec();
    expected.extend([0xAB, 0xCD]);
    assert_eq!(
        drain(&mut dec),
        Ok(vec![msg(5, 0x0100_0000, 9, 1, &expected)])
    );
}

#[test]
fn extended_timestamp_deltas_type1_type2() {
    let msgs = vec![
        msg(7, 10, 9, 1, &pattern(300, 1)),
        // Length changes: type 1 with an extended delta.
        msg(7, 10 + 0x0200_0000, 9, 1, &pattern(200, 2)),
        // Same length and type: type 2 with an extended delta.
        msg(7, 10 + 0x0400_0000, 9, 1, &pattern(200, 3)),
        // The same extended delta again: type 2, not type 3.
        msg(7, 10 + 0x0600_0000, 9, 1, &pattern(200, 4)),
        msg(7, 10 + 0x0600_0021, 9, 1, &pattern(200, 5)),
    ];
    let bytes = encode_all(&mut ChunkEncoder::new(), &msgs);
    let second = 12 + 128 + 1 + 128 + 1 + 44;
    assert_eq!(
        &bytes[second..second + 8],
        &[0x47, 0xFF, 0xFF, 0xFF, 0, 0, 200, 9]
    );
    assert_eq!(&bytes[second + 8..second + 12], &[2, 0, 0, 0]);
    let third = second + 12 + 128 + 5 + 72;
    assert_eq!(
        &bytes[third..third + 8],
        &[0x87, 0xFF, 0xFF, 0xFF, 2, 0, 0, 0]
    );
    assert_eq!(decode(&bytes), Ok(msgs));
}

#[test]
fn timestamps_cross_24_bits_and_wrap() {
    let ts = [
        0xFF_FFF0,
        0xFF_FFFE,
        0xFF_FFFF,
        0x100_0000,
        0x100_0010,
        0xFFFF_FFF0,
        0xFFFF_FFFF,
        5,
        25,
    ];
    let msgs: Vec<RawMessage> = ts.iter().map(|&t| msg(8, t, 8, 1, b"abcd")).collect();
    assert_eq!(
        decode(&encode_all(&mut ChunkEncoder::new(), &msgs)),
        Ok(msgs)
    );

    // A type-2 delta crossing 2^32 wraps.
    let bytes = [
        0x08, 0xFF, 0xFF, 0xFF, 0, 0, 1, 8, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xF0, 0x11, // fmt 0
        0x88, 0, 0, 0x20, 0x22, // fmt 2, delta 0x20
    ];
    assert_eq!(
        decode(&bytes),
        Ok(vec![
            msg(8, 0xFFFF_FFF0, 8, 1, &[0x11]),
            msg(8, 0x10, 8, 1, &[0x22])
        ])
    );
}

/// §5.3.1.2.4: a type-3 chunk starting a message adds the previous delta,
/// which after a type-0 header is that header's timestamp.
#[test]
fn type3_new_message_reapplies_delta() {
    let bytes = [
        0x03, 0, 0x03, 0xE8, 0, 0, 1, 8, 1, 0, 0, 0, 0xA0, // fmt 0, ts 1000
        0xC3, 0xA1, // fmt 3: ts 2000
        0x83, 0, 0, 20, 0xA2, // fmt 2: ts 2020
        0xC3, 0xA3, // fmt 3: ts 2040
    ];
    let got: Vec<u32> = decode(&bytes)
        .unwrap_or_default()
        .iter()
        .map(|m| m.timestamp)
        .collect();
    assert_eq!(got, [1000, 2000, 2020, 2040]);
}

#[test]
fn first_chunk_must_be_type0() {
    for (fmt, header) in [
        (1u8, &[0x45, 0, 0, 0, 0, 0, 1, 8][..]),
        (2, &[0x85, 0, 0, 0]),
        (3, &[0xC5]),
    ] {
        assert_eq!(
            decode(header),
            Err(ChunkError::FirstChunkNotType0 {
                csid: 5,
                fmt,
                offset: 0
            })
        );
    }
    // The offset counts everything before the chunk.
    let mut bytes = encode_all(&mut ChunkEncoder::new(), &[msg(3, 0, 20, 0, b"abc")]).to_vec();
    let at = bytes.len() as u64;
    bytes.extend([0x80, 0x00, 0, 0, 0]); // fmt 2 on csid 64
    assert_eq!(
        decode(&bytes),
        Err(ChunkError::FirstChunkNotType0 {
            csid: 64,
            fmt: 2,
            offset: at
        })
    );
    // librtmp's type-1 first chunk on csid 2 is accepted, as stream 0.
    let ping = [0x42, 0, 0, 0, 0, 0, 6, 4, 0, 6, 0, 0, 0x0D, 0x0F];
    assert_eq!(
        decode(&ping),
        Ok(vec![msg(2, 0, 4, 0, &[0, 6, 0, 0, 0x0D, 0x0F])])
    );
}

#[test]
fn abort_drops_partial_message() {
    let big = pattern(300, 2);
    let mut bytes = vec![0x04, 0, 0, 0, 0, 0x01, 0x2C, 9, 1, 0, 0, 0];
    bytes.extend(&big[..128]);
    // A header mid-message is an error...
    let mut bad = bytes.clone();
    bad.extend([0x44, 0, 0, 0, 0, 0, 1, 9, 0]);
    assert_eq!(
        decode(&bad),
        Err(ChunkError::HeaderMidMessage {
            csid: 4,
            fmt: 1,
            offset: 140
        })
    );
    // ...but after Abort (on csid 2) the chunk stream starts afresh.
    let abort = msg(2, 0, TYPE_ABORT, 0, &4u32.to_be_bytes());
    bytes.extend(encode_all(
        &mut ChunkEncoder::new(),
        std::slice::from_ref(&abort),
    ));
    bytes.extend([0x44, 0, 0, 10, 0, 0, 1, 9, 0x77]);
    assert_eq!(decode(&bytes), Ok(vec![abort, msg(4, 10, 9, 1, &[0x77])]));
}

#[test]
fn interleaved_chunk_streams() {
    let video = pattern(300, 1);
    let audio = pattern(200, 2);
    let mut bytes = vec![0x06, 0, 0, 40, 0, 0x01, 0x2C, 9, 1, 0, 0, 0];
    bytes.extend(&video[..128]);
    bytes.extend([0x04, 0, 0, 42, 0, 0, 200, 8, 1, 0, 0, 0]);
    bytes.extend(&audio[..128]);
    bytes.push(0xC6);
    bytes.extend(&video[128..256]);
    bytes.push(0xC4);
    bytes.extend(&audio[128..]);
    bytes.push(0xC6);
    bytes.extend(&video[256..]);
    assert_eq!(
        decode(&bytes),
        Ok(vec![msg(4, 42, 8, 1, &audio), msg(6, 40, 9, 1, &video)])
    );
}

#[test]
fn message_too_large_before_buffering() {
    let limits = ChunkLimits {
        max_message_len: 1000,
        ..ChunkLimits::default()
    };
    let mut dec = ChunkDecoder::new(limits);
    // Only the header has arrived.
    dec.feed(&[0x05, 0, 0, 0, 0, 0x03, 0xE9, 9, 1, 0, 0, 0]);
    let err = ChunkError::MessageTooLarge {
        csid: 5,
        len: 1001,
        limit: 1000,
    };
    assert_eq!(dec.poll_message(), Err(err.clone()));
    assert_eq!(dec.poll_message(), Err(err));
}

#[test]
fn partial_stream_and_buffer_limits() {
    let header = |csid: u8| [csid, 0, 0, 0, 0, 0x01, 0x00, 9, 1, 0, 0, 0];
    let mut bytes = Vec::new();
    for csid in [3, 4, 5] {
        bytes.extend(header(csid));
        bytes.extend(pattern(128, csid));
    }
    let limits = ChunkLimits {
        max_chunk_streams: 2,
        ..ChunkLimits::default()
    };
    let mut dec = ChunkDecoder::new(limits);
    dec.feed(&bytes);
    assert_eq!(
        drain(&mut dec),
        Err(ChunkError::TooManyChunkStreams {
            csid: 5,
            limit: 2,
            offset: 280
        })
    );

    let limits = ChunkLimits {
        max_buffered: 200,
        ..ChunkLimits::default()
    };
    let mut dec = ChunkDecoder::new(limits);
    dec.feed(&bytes);
    assert_eq!(
        drain(&mut dec),
        Err(ChunkError::BufferLimitExceeded {
            csid: 4,
            limit: 200,
            offset: 140
        })
    );
}

/// Whole messages too: each chunk stream id keeps its header, so a peer walking
/// through ids is stopped at the limit, with the id named.
#[test]
fn chunk_stream_ids_are_limited_even_for_whole_messages() {
    let limits = ChunkLimits {
        max_chunk_streams: 3,
        ..ChunkLimits::default()
    };
    let mut enc = ChunkEncoder::new();
    let msgs: Vec<_> = (64..68).map(|csid| msg(csid, 0, 9, 1, b"abcd")).collect();
    let bytes = encode_all(&mut enc, &msgs);
    let mut dec = ChunkDecoder::new(limits);
    dec.feed(&bytes);
    let mut got = Vec::new();
    let err = loop {
        match dec.poll_message() {
            Ok(Some(m)) => got.push(m),
            Ok(None) => panic!("the fourth chunk stream was accepted"),
            Err(e) => break e,
        }
    };
    assert_eq!(got, msgs[..3]);
    assert_eq!(
        err,
        ChunkError::TooManyChunkStreams {
            csid: 67,
            limit: 3,
            offset: 3 * 17
        }
    );
    assert!(err.to_string().contains("chunk stream 67"), "{err}");
    // Ids already in use stay usable up to the limit.
    let mut dec = ChunkDecoder::new(limits);
    let again: Vec<_> = [64, 65, 66, 64, 65].map(|c| msg(c, 0, 9, 1, b"x")).into();
    dec.feed(&encode_all(&mut ChunkEncoder::new(), &again));
    assert_eq!(drain(&mut dec), Ok(again));
}

#[test]
fn raised_limits_apply_to_the_next_message() {
    let small = ChunkLimits {
        max_message_len: 100,
        ..ChunkLimits::default()
    };
    let mut dec = ChunkDecoder::new(small);
    let big = msg(3, 0, 9, 1, &pattern(300, 1));
    let bytes = encode_all(&mut ChunkEncoder::new(), std::slice::from_ref(&big));
    dec.set_limits(ChunkLimits::default());
    assert_eq!(
        dec.limits().max_message_len,
        ChunkLimits::default().max_message_len
    );
    dec.feed(&bytes);
    assert_eq!(drain(&mut dec), Ok(vec![big.clone()]));
    let mut dec = ChunkDecoder::new(small);
    dec.feed(&bytes);
    assert!(matches!(
        drain(&mut dec),
        Err(ChunkError::MessageTooLarge { len: 300, .. })
    ));
}

#[test]
fn zero_length_messages() {
    let msgs = vec![
        msg(3, 0, 20, 0, b""),
        msg(3, 10, 20, 0, b""),
        msg(3, 20, 20, 0, b""),
    ];
    let bytes = encode_all(&mut ChunkEncoder::new(), &msgs);
    assert_eq!(bytes.len(), 12 + 4 + 1);
    assert_eq!(decode(&bytes), Ok(msgs));
}

#[test]
fn chunked_once_decodes_after_anything_on_its_chunk_stream() {
    use super::Chunked;
    let msg = |ts: u32, len: usize| RawMessage {
        csid: 6,
        timestamp: ts,
        type_id: 9,
        stream_id: 1,
        payload: Bytes::from(vec![7u8; len]),
    };
    let shared = Chunked::new(&msg(1000, 300), 128).unwrap();
    // Two connections with different histories on chunk stream 6 take the same bytes.
    for history in [vec![], vec![msg(900, 300), msg(940, 300)]] {
        let mut enc = ChunkEncoder::new();
        let mut wire = BytesMut::new();
        for m in &history {
            enc.encode(m, &mut wire);
        }
        assert!(enc.note_sent(&shared));
        wire.extend_from_slice(shared.bytes());
        // What follows is compressed against the shared header.
        enc.encode(&msg(1040, 300), &mut wire);
        enc.encode(&msg(1080, 300), &mut wire);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        dec.feed(&wire);
        let mut got = vec![];
        while let Some(m) = dec.poll_message().unwrap() {
            got.push(m.timestamp);
        }
        let mut want: Vec<u32> = history.iter().map(|m| m.timestamp).collect();
        want.extend([1000, 1040, 1080]);
        assert_eq!(got, want);
    }
    // Cut for another chunk size: refused, nothing noted.
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(4096);
    assert!(!enc.note_sent(&shared));
}
