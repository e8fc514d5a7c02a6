//! Property tests: encoded sessions decode back identically from any byte
//! split, and arbitrary or corrupted input never panics the decoder.

use std::collections::HashMap;

use bytes::BytesMut;
use proptest::prelude::*;

use super::tests::{drain, msg, pattern, set_chunk_size_msg};
use super::*;

/// One step of a generated session.
#[derive(Debug, Clone)]
enum Op {
    Msg {
        csid: u32,
        ts_mode: u8,
        raw: u32,
        type_id: u8,
        stream_id: u32,
        len: usize,
    },
    ChunkSize(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let csid = prop::sample::select(vec![2u32, 3, 4, 5, 63, 64, 319, 320, 65599]);
    let len = prop_oneof![
        prop::sample::select(vec![0usize, 1, 4, 32, 128, 129, 307]),
        0usize..3000
    ];
    let message = (
        csid,
        0u8..6,
        any::<u32>(),
        prop::sample::select(vec![8u8, 9, 20]),
        0u32..3,
        len,
    )
        .prop_map(|(csid, ts_mode, raw, type_id, stream_id, len)| Op::Msg {
            csid,
            ts_mode,
            raw,
            type_id,
            stream_id,
            len,
        });
    let size = prop_oneof![
        prop::sample::select(vec![1u32, 2, 3, 4, 5, 128, 4096, MAX_CHUNK_SIZE]),
        1u32..5000
    ];
    prop_oneof![8 => message, 1 => size.prop_map(Op::ChunkSize)]
}

/// Builds the message sequence an encoder would see for `ops`.
fn session(ops: &[Op]) -> (Vec<RawMessage>, BytesMut) {
    let mut enc = ChunkEncoder::new();
    let mut last_ts = HashMap::new();
    let mut msgs = Vec::new();
    let mut out = BytesMut::new();
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Msg {
                csid,
                ts_mode,
                raw,
                type_id,
                stream_id,
                len,
            } => {
                let prev: u32 = last_ts.get(&csid).copied().unwrap_or(0);
                let ts = match ts_mode {
                    0 => prev.wrapping_add(20),
                    1 => prev.wrapping_add(raw % 1000),
                    2 => raw,
                    3 => prev.wrapping_add(0xFF_FFFF + raw % 3),
                    4 => 0xFF_FFF0 + raw % 0x20,
                    _ => prev,
                };
                last_ts.insert(csid, ts);
                let m = msg(csid, ts, type_id, stream_id, &pattern(len, i as u8));
                enc.encode(&m, &mut out);
                msgs.push(m);
            }
            Op::ChunkSize(size) => {
                let m = set_chunk_size_msg(size);
                enc.encode(&m, &mut out);
                enc.set_chunk_size(size);
                msgs.push(m);
            }
        }
    }
    (msgs, out)
}

fn small_limits(max_message_len: u32, max_buffered: usize) -> ChunkLimits {
    ChunkLimits {
        max_message_len,
        max_chunk_streams: 4,
        max_buffered,
    }
}

proptest! {
    #[test]
    fn roundtrip_any_split(
        ops in prop::collection::vec(op(), 1..30),
        splits in prop::collection::vec(1usize..400, 1..16),
    ) {
        let (msgs, bytes) = session(&ops);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let mut got = Vec::new();
        let mut rest = &bytes[..];
        for &n in splits.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at(n.min(rest.len()));
            rest = later;
            dec.feed(now);
            let decoded = drain(&mut dec).map_err(|e| TestCaseError::fail(e.to_string()))?;
            got.extend(decoded);
        }
        prop_assert_eq!(got, msgs);
        prop_assert_eq!(dec.bytes_received(), bytes.len() as u64);
    }

    #[test]
    fn random_bytes_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..4096),
        split in 1usize..64,
    ) {
        let mut dec = ChunkDecoder::new(small_limits(2000, 3000));
        for piece in data.chunks(split) {
            dec.feed(piece);
            if drain(&mut dec).is_err() {
                break;
            }
        }
    }

    #[test]
    fn corrupted_streams_never_panic(
        ops in prop::collection::vec(op(), 1..10),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (_, bytes) = session(&ops);
        let mut bytes = bytes.to_vec();
        for (at, value) in flips {
            let i = at.index(bytes.len().max(1));
            if let Some(b) = bytes.get_mut(i) {
                *b = value;
            }
        }
        let mut dec = ChunkDecoder::new(small_limits(4000, 8000));
        dec.feed(&bytes);
        let _ = drain(&mut dec);
    }
}

/// Guards the generator: sessions must exercise every header type, the
/// extended timestamp and every basic header form, or the round trip above
/// proves little.
#[test]
fn generated_sessions_cover_all_header_types() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(op(), 1..30);
    let mut seen_fmt = [false; 4];
    let mut seen_extended = false;
    let mut seen_basic = [false; 4];
    for _ in 0..200 {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (msgs, _) = session(&tree.current());
        // Re-encode message by message to see each first chunk's header.
        let mut enc = ChunkEncoder::new();
        for m in &msgs {
            let mut out = BytesMut::new();
            enc.encode(m, &mut out);
            if m.type_id == TYPE_SET_CHUNK_SIZE {
                if let Some(size) = m.payload.get(..4) {
                    let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]);
                    enc.set_chunk_size(size);
                }
            }
            if let Some(&b0) = out.first() {
                seen_fmt[usize::from(b0 >> 6)] = true;
                let basic = match b0 & 0x3F {
                    0 => 2,
                    1 => 3,
                    _ => 1,
                };
                seen_basic[basic] = true;
                let field = out.get(basic..basic + 3);
                seen_extended |= b0 >> 6 != 3 && field == Some(&[0xFF, 0xFF, 0xFF][..]);
            }
        }
    }
    assert_eq!(seen_fmt, [true; 4]);
    assert!(seen_extended);
    assert_eq!(seen_basic, [false, true, true, true]);
}
