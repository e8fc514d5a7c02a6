use super::*;
use alloc::vec::Vec;
use miniz_oxide::deflate::compress_to_vec_zlib;
use proptest::prelude::*;

/// A frame of `width` × `height` in 16×16 blocks: the header, version 2's image flags
/// (`v2`), then each block as given (its bytes after the 16-bit size).
fn frame(width: u16, height: u16, v2: Option<u8>, blocks: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(width.to_be_bytes());
    out.extend(height.to_be_bytes());
    out.extend(v2);
    for b in blocks {
        out.extend((b.len() as u16).to_be_bytes());
        out.extend(*b);
    }
    out
}

/// A version 2 block: its flags byte, then `rest`.
fn v2_block(flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = alloc::vec![flags];
    b.extend(rest);
    b
}

/// The error decoding `data` ended in.
fn refusal(d: &mut Decoder, data: &[u8]) -> CodecError {
    match d.decode(data, true) {
        Ok(_) => panic!("decoded {data:02x?}"),
        Err(e) => e,
    }
}

/// What an error says, for assertions on its field and place.
fn field(e: CodecError) -> (&'static str, u64, usize) {
    match e {
        CodecError::Invalid {
            field, value, at, ..
        } => (field, value, at),
        CodecError::Truncated { at, .. } => ("truncated", 0, at),
    }
}

#[test]
fn headers_name_block_and_image_sizes() {
    // Blocks 32 × 48 (codes 1 and 2), image 100 × 4095.
    let h = header(&[0x10, 0x64, 0x2f, 0xff]).unwrap();
    assert_eq!(
        h,
        Header {
            width: 100,
            height: 4095,
            block_width: 32,
            block_height: 48
        }
    );
    // The largest the 12 bits name is within MAX_SIDE.
    let h = header(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    assert_eq!(
        (h.width, h.height, h.block_width, h.block_height),
        (4095, 4095, 256, 256)
    );
    assert!(h.width <= MAX_SIDE);
    assert_eq!(
        field(header(&[0x10, 0x64, 0x2f]).unwrap_err()),
        ("truncated", 0, 3)
    );
}

#[test]
fn zero_dimensions_are_refused() {
    let width = header(&[0, 0, 0, 16]).unwrap_err();
    assert_eq!(field(width), ("image width", 0, 0));
    let height = refusal(&mut Decoder::new(Version::V1), &frame(16, 0, None, &[]));
    assert_eq!(field(height.clone()), ("image height", 0, 2));
    assert!(height.to_string().contains("image height"), "{height}");
}

#[test]
fn truncated_frames_are_refused_at_their_end() {
    let pixels = compress_to_vec_zlib(&[7; 16 * 16 * 3], 6);
    let whole = frame(32, 16, None, &[&pixels, &[]]);
    let mut d = Decoder::new(Version::V1);
    assert!(d.decode(&whole, true).is_ok());
    for len in 0..whole.len() {
        let e = refusal(&mut Decoder::new(Version::V1), &whole[..len]);
        assert!(
            matches!(e, CodecError::Truncated { at, .. } if at >= len),
            "cut at {len}: {e}"
        );
    }
}

#[test]
fn blocks_inflating_to_more_or_less_than_their_pixels_are_refused() {
    for (len, what) in [(16 * 16 * 3 + 1, MORE), (16 * 16 * 3 - 1, LESS), (0, LESS)] {
        let pixels = compress_to_vec_zlib(&alloc::vec![1; len], 6);
        // The second block is the bad one: index 1, its data after two sizes and one block.
        let good = compress_to_vec_zlib(&[2; 16 * 16 * 3], 6);
        let data = frame(32, 16, None, &[&good, &pixels]);
        let e = refusal(&mut Decoder::new(Version::V1), &data);
        assert_eq!(
            field(e.clone()),
            (what, 1, 4 + 2 + good.len() + 2),
            "{len}: {e}"
        );
    }
}

#[test]
fn a_zip_bomb_allocates_no_more_than_its_block() {
    // 16 MB of zeros deflate to some 16 kB; the block holds 768 bytes.
    let bomb = compress_to_vec_zlib(&alloc::vec![0; 16 << 20], 9);
    assert!(bomb.len() < 65535);
    let mut d = Decoder::new(Version::V1);
    let e = refusal(&mut d, &frame(16, 16, None, &[&bomb]));
    assert_eq!(field(e).0, MORE);
    assert!(d.raw.capacity() <= 4096, "{} bytes", d.raw.capacity());
}

#[test]
fn bad_zlib_data_is_refused_naming_its_block() {
    let data = frame(16, 16, None, &[&[0x78, 0x9c, 0xff, 0xff, 0xff]]);
    let e = refusal(&mut Decoder::new(Version::V1), &data);
    assert_eq!(field(e), ("block (zlib data)", 0, 6));
}

#[test]
fn joined_mid_stream_missing_blocks_are_black() {
    // An interframe first: the left block comes, the right one is unchanged.
    let mut left = Vec::new();
    for _ in 0..16 * 16 {
        left.extend([10, 20, 30]);
    }
    let data = frame(20, 16, None, &[&compress_to_vec_zlib(&left, 6), &[]]);
    let mut d = Decoder::new(Version::V1);
    let p = d.decode(&data, true).unwrap();
    assert_eq!((p.width, p.height, p.data.len()), (20, 16, 20 * 16 * 4));
    for (i, px) in p.data.chunks_exact(4).enumerate() {
        let want = if i % 20 < 16 {
            [10, 20, 30, 255]
        } else {
            [0, 0, 0, 255]
        };
        assert_eq!(px, want, "pixel {i}");
    }
}

#[test]
fn rows_go_from_the_bottom_up() {
    // A 16 × 17 image: two rows of blocks, the first (bottom) 16 rows high, each row
    // its own colour from the bottom up.
    let bottom: Vec<u8> = (0..16u8).flat_map(|k| [k; 16 * 3]).collect();
    let top = [99; 16 * 3];
    let data = frame(
        16,
        17,
        None,
        &[
            &compress_to_vec_zlib(&bottom, 6),
            &compress_to_vec_zlib(&top, 6),
        ],
    );
    let mut d = Decoder::new(Version::V1);
    let p = d.decode(&data, true).unwrap();
    let row = |y: usize| p.data[y * 16 * 4];
    assert_eq!(row(0), 99);
    assert_eq!(row(16), 0);
    assert_eq!(row(1), 15);
}

#[test]
fn a_bad_frame_changes_nothing() {
    let first = compress_to_vec_zlib(&[1; 16 * 16 * 3], 6);
    let mut d = Decoder::new(Version::V1);
    d.decode(&frame(32, 16, None, &[&first, &first]), true)
        .unwrap();
    let before = d.picture.clone();
    // A good left block, a bad right one.
    let other = compress_to_vec_zlib(&[2; 16 * 16 * 3], 6);
    assert!(
        d.decode(&frame(32, 16, None, &[&other, &[0x78]]), false)
            .is_err()
    );
    assert_eq!(d.picture, before);
    // Nor does a bad frame of another size.
    assert!(d.decode(&frame(48, 16, None, &[&other]), true).is_err());
    let p = d.decode(&frame(32, 16, None, &[&[], &[]]), false).unwrap();
    assert_eq!(p.data, &before[..]);
}

#[test]
fn hybrid_pixels_are_palette_indices_or_15_bit_colours() {
    // A 3 × 1 image: palette 5 (white), 15-bit pure red, palette 10 (0xFF0000: red).
    let pixels = compress_to_vec_zlib(&[0x05, 0xfc, 0x00, 0x0a], 6);
    let data = frame(3, 1, Some(0), &[&v2_block(0x10, &pixels)]);
    let mut d = Decoder::new(Version::V2);
    let p = d.decode(&data, true).unwrap();
    assert_eq!(p.data, [255, 255, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255]);
    // One pixel short, and one too many.
    for (bytes, what) in [(&[0x05, 0xfc, 0x00][..], LESS), (&[5, 5, 5, 5][..], MORE)] {
        let data = frame(
            3,
            1,
            Some(0),
            &[&v2_block(0x10, &compress_to_vec_zlib(bytes, 6))],
        );
        assert_eq!(
            field(refusal(&mut Decoder::new(Version::V2), &data)).0,
            what
        );
    }
}

#[test]
fn diff_blocks_start_from_the_keyframe() {
    let mut d = Decoder::new(Version::V2);
    let key: Vec<u8> = (0..16u8).flat_map(|k| [k; 3]).collect();
    // A 1 × 16 image; its keyframe, then an interframe that changes rows 3 and 4
    // (from the bottom).
    d.decode(
        &frame(
            1,
            16,
            Some(0),
            &[&v2_block(0, &compress_to_vec_zlib(&key, 6))],
        ),
        true,
    )
    .unwrap();
    let mut diff = alloc::vec![3, 2];
    diff.extend(compress_to_vec_zlib(&[200; 6], 6));
    let p = d
        .decode(&frame(1, 16, Some(0), &[&v2_block(4, &diff)]), false)
        .unwrap();
    let column: Vec<u8> = p.data.chunks_exact(4).map(|px| px[0]).rev().collect();
    let mut want: Vec<u8> = (0..16).collect();
    want[3..5].fill(200);
    assert_eq!(column, want);
    // Rows past the block are refused.
    let past = frame(1, 16, Some(0), &[&v2_block(4, &[15, 2])]);
    assert_eq!(
        field(refusal(&mut d, &past)),
        ("block's diff rows (past the block)", 0, 8)
    );
}

#[test]
fn version_2_refuses_what_ffmpeg_does_not_decode() {
    let pixels = compress_to_vec_zlib(&[0; 16 * 16 * 3], 6);
    let cases: [(Vec<u8>, &str); 6] = [
        (
            frame(16, 16, Some(2), &[]),
            "image flags: an IFrame image (unsupported)",
        ),
        (
            frame(16, 16, Some(1), &[]),
            "image flags: a custom palette (unsupported)",
        ),
        (
            frame(16, 16, Some(0), &[&v2_block(0x08, &pixels)]),
            "block's colour depth (0 or 2)",
        ),
        (
            frame(16, 16, Some(0), &[&v2_block(0x02, &[0, 0])]),
            "block primed from this frame (unsupported)",
        ),
        // Joined mid-stream: no keyframe for a diff or primed block to start from.
        (
            frame(16, 16, Some(0), &[&v2_block(0x04, &[0, 16])]),
            "diff block before any keyframe",
        ),
        (
            frame(16, 16, Some(0), &[&v2_block(0x01, &[1])]),
            "block primed from a keyframe not seen",
        ),
    ];
    for (data, what) in cases {
        let e = refusal(&mut Decoder::new(Version::V2), &data);
        assert_eq!(field(e.clone()).0, what, "{e}");
    }
}

proptest! {
    #[test]
    fn any_bytes_decode_or_fail_without_panic(
        frames in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200)), 1..4),
        v2 in any::<bool>(),
    ) {
        let mut d = Decoder::new(if v2 { Version::V2 } else { Version::V1 });
        for (key, data) in frames {
            if let Ok(p) = d.decode(&data, key) {
                prop_assert_eq!(p.data.len(), p.width as usize * p.height as usize * 4);
            }
        }
    }

    /// Small pictures of blocks of random bytes, some of them zlib data, reach the
    /// block decoding that random headers rarely do.
    #[test]
    fn blocks_of_any_bytes_decode_or_fail_without_panic(
        width in 1u16..40,
        height in 1u16..40,
        flags in any::<u8>(),
        keys in any::<[bool; 2]>(),
        blocks in proptest::collection::vec((any::<bool>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64)), 0..12),
    ) {
        for version in [Version::V1, Version::V2] {
            let mut d = Decoder::new(version);
            let image = (version == Version::V2).then_some(flags & 0xfc);
            let blocks: Vec<Vec<u8>> = blocks
                .iter()
                .map(|(zlib, block_flags, bytes)| {
                    let mut b = if version == Version::V2 { alloc::vec![*block_flags] } else { Vec::new() };
                    if *zlib {
                        b.extend(compress_to_vec_zlib(bytes, 1));
                    } else {
                        b.extend(bytes);
                    }
                    b
                })
                .collect();
            let refs: Vec<&[u8]> = blocks.iter().map(|b| &b[..]).collect();
            for key in keys {
                if let Ok(p) = d.decode(&frame(width, height, image, &refs), key) {
                    prop_assert_eq!(p.data.len(), usize::from(width) * usize::from(height) * 4);
                }
            }
        }
    }
}
