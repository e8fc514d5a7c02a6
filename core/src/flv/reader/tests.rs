//! Unit tests for `reader.rs`.

use super::*;
use crate::flv::{write_header, write_tag};
use bytes::Bytes;

fn tag(tag_type: TagType, timestamp: u32, data: &'static [u8]) -> Tag {
    Tag {
        tag_type,
        timestamp,
        data: Bytes::from_static(data),
    }
}

fn read_all(reader: &mut FlvReader, bytes: &[u8]) -> Result<Vec<Item>, FlvError> {
    reader.feed(bytes);
    let mut items = Vec::new();
    while let Some(item) = reader.poll_item()? {
        items.push(item);
    }
    Ok(items)
}

fn stream(header: Header, tags: &[Tag]) -> BytesMut {
    let mut out = BytesMut::new();
    write_header(&header, &mut out);
    for t in tags {
        write_tag(t, &mut out);
    }
    out
}

#[test]
fn round_trip_header_and_tags() {
    let header = Header {
        has_audio: true,
        has_video: false,
    };
    let tags = [
        tag(TagType::Script, 0, b"\x02\x00\x0aonMetaData"),
        tag(TagType::Audio, 0x0012_3456, b"\xaf\x00\x12\x10"),
        // Extended timestamp byte: the top 8 bits.
        tag(TagType::Video, 0xfedc_ba98, b"\x17\x01\x00\x00\x00abc"),
        // DataSize 0 is allowed.
        tag(TagType::Audio, 7, b""),
    ];
    let bytes = stream(header, &tags);
    let mut r = FlvReader::new();
    let items = read_all(&mut r, &bytes).unwrap();
    let mut expected = vec![Item::Header(header)];
    expected.extend(tags.iter().cloned().map(Item::Tag));
    assert_eq!(items, expected);
    assert_eq!(r.offset(), bytes.len() as u64);
    assert_eq!(r.previous_tag_size_mismatches(), 0);
}

#[test]
fn timestamp_bytes_on_the_wire() {
    let mut out = BytesMut::new();
    write_tag(&tag(TagType::Video, 0x0403_0201, b"x"), &mut out);
    assert_eq!(&out[4..8], &[0x03, 0x02, 0x01, 0x04]);
}

#[test]
fn tags_only_stream() {
    let tags = [
        tag(TagType::Video, 40, b"\x27\x01\x00\x00\x00"),
        tag(TagType::Audio, 41, b"\xaf\x01"),
    ];
    let mut out = BytesMut::new();
    for t in &tags {
        write_tag(t, &mut out);
    }
    let items = read_all(&mut FlvReader::tags_only(), &out).unwrap();
    let expected: Vec<_> = tags.iter().cloned().map(Item::Tag).collect();
    assert_eq!(items, expected);
}

#[test]
fn tag_data_is_split_from_the_buffer_without_copying() {
    let tags = [
        tag(TagType::Audio, 0, b"first"),
        tag(TagType::Audio, 1, b"second"),
    ];
    let bytes = stream(
        Header {
            has_audio: true,
            has_video: false,
        },
        &tags,
    );
    let items = read_all(&mut FlvReader::new(), &bytes).unwrap();
    let [_, Item::Tag(a), Item::Tag(b)] = items.as_slice() else {
        panic!("unexpected items {items:?}");
    };
    // Both came from one buffer: the second tag's data sits exactly one
    // PreviousTagSize and one tag header after the first's.
    let gap = a.data.len() + PREVIOUS_TAG_SIZE_LEN + TAG_HEADER_LEN;
    assert_eq!(b.data.as_ptr() as usize, a.data.as_ptr() as usize + gap);
}

#[test]
fn data_offset_beyond_nine_is_skipped() {
    let mut bytes = vec![b'F', b'L', b'V', 1, 0x05, 0, 0, 0, 12, 0xaa, 0xbb, 0xcc];
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    let mut t = BytesMut::new();
    write_tag(&tag(TagType::Audio, 5, b"\xaf\x01z"), &mut t);
    bytes.extend_from_slice(&t);
    let mut r = FlvReader::new();
    // Feed one byte at a time to exercise the skip state across pushes.
    let mut items = Vec::new();
    for b in &bytes {
        r.feed(std::slice::from_ref(b));
        while let Some(item) = r.poll_item().unwrap() {
            items.push(item);
        }
    }
    assert_eq!(
        items,
        vec![
            Item::Header(Header {
                has_audio: true,
                has_video: true
            }),
            Item::Tag(tag(TagType::Audio, 5, b"\xaf\x01z")),
        ]
    );
}

#[test]
fn bad_signature() {
    let mut r = FlvReader::new();
    // Detected from the first wrong byte, without waiting for 9.
    r.feed(b"FLX");
    assert_eq!(r.poll_item(), Err(FlvError::BadSignature { offset: 0 }));
    // The reader stays failed.
    r.feed(b"more");
    assert_eq!(r.poll_item(), Err(FlvError::BadSignature { offset: 0 }));
}

#[test]
fn unsupported_version_and_bad_data_offset() {
    let err = read_all(&mut FlvReader::new(), b"FLV\x02\x05\x00\x00\x00\x09");
    assert_eq!(
        err,
        Err(FlvError::UnsupportedVersion {
            offset: 3,
            version: 2
        })
    );
    let err = read_all(&mut FlvReader::new(), b"FLV\x01\x05\x00\x00\x00\x08");
    assert_eq!(
        err,
        Err(FlvError::BadDataOffset {
            offset: 5,
            data_offset: 8,
            limit: MAX_DATA_OFFSET
        })
    );
    let err = read_all(&mut FlvReader::new(), b"FLV\x01\x05\xff\x00\x00\x00");
    assert!(matches!(err, Err(FlvError::BadDataOffset { .. })));
}

#[test]
fn oversize_tag_is_rejected_before_buffering() {
    let mut r = FlvReader::new().with_max_tag_size(100);
    // Header, PreviousTagSize0, then only 4 bytes of a tag header saying 101.
    r.feed(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00");
    assert!(matches!(r.poll_item(), Ok(Some(Item::Header(_)))));
    r.feed(&[9, 0, 0, 101]);
    assert_eq!(
        r.poll_item(),
        Err(FlvError::TagTooLarge {
            offset: 14,
            len: 101,
            limit: 100
        })
    );
    assert_eq!(r.offset(), 13);
}

#[test]
fn unknown_tag_type_and_reserved_bits() {
    let prefix = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00";
    for type_byte in [0u8, 7, 10, 19, 0x1f, 0x48, 0x88] {
        let mut bytes = prefix.to_vec();
        bytes.push(type_byte);
        let mut r = FlvReader::new();
        let err = read_all(&mut r, &bytes);
        assert_eq!(
            err,
            Err(FlvError::UnknownTagType {
                offset: 13,
                tag_type: type_byte
            }),
            "type byte {type_byte:#x}"
        );
    }
}

#[test]
fn encrypted_tag() {
    let mut out = BytesMut::new();
    write_tag(&tag(TagType::Video, 0, b"\x17\x01"), &mut out);
    write_tag(&tag(TagType::Video, 0, b"\x17\x01"), &mut out);
    // Set the Filter bit on the second tag.
    let second = TAG_HEADER_LEN + 2 + PREVIOUS_TAG_SIZE_LEN;
    out[second] |= 0x20;
    let mut r = FlvReader::tags_only();
    r.feed(&out);
    assert!(matches!(r.poll_item(), Ok(Some(Item::Tag(_)))));
    assert_eq!(
        r.poll_item(),
        Err(FlvError::EncryptedTag {
            offset: second as u64
        })
    );
}

#[test]
fn wrong_previous_tag_size_is_accepted() {
    let tags = [tag(TagType::Audio, 0, b"ab"), tag(TagType::Audio, 1, b"cd")];
    let mut bytes = stream(
        Header {
            has_audio: true,
            has_video: false,
        },
        &tags,
    );
    // Corrupt PreviousTagSize0 and the first tag's PreviousTagSize.
    bytes[12] = 1;
    let first_pts = 13 + TAG_HEADER_LEN + 2;
    bytes[first_pts..first_pts + 4].copy_from_slice(&[0, 0, 0, 2]);
    let mut r = FlvReader::new();
    let items = read_all(&mut r, &bytes).unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(r.previous_tag_size_mismatches(), 2);
}

#[test]
fn waits_for_more_bytes() {
    let mut r = FlvReader::new();
    r.feed(b"FLV\x01");
    assert_eq!(r.poll_item(), Ok(None));
    r.feed(b"\x01\x00\x00\x00\x09\x00\x00");
    assert!(matches!(r.poll_item(), Ok(Some(Item::Header(_)))));
    assert_eq!(r.poll_item(), Ok(None));
    r.feed(b"\x00\x00\x09\x00\x00\x05");
    assert_eq!(r.poll_item(), Ok(None));
    assert_eq!(r.offset(), 13);
}

mod split_tests {
    use super::*;
    use crate::flv::{write_header, write_tag};
    use bytes::Bytes;
    use proptest::prelude::*;

    fn arb_tag() -> impl Strategy<Value = Tag> {
        (
            prop_oneof![
                Just(TagType::Audio),
                Just(TagType::Video),
                Just(TagType::Script)
            ],
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(tag_type, timestamp, data)| Tag {
                tag_type,
                timestamp,
                data: Bytes::from(data),
            })
    }

    /// Reads `bytes` pushed in pieces of the given sizes (cycled), draining after
    /// every push.
    fn read_split(mut reader: FlvReader, bytes: &[u8], sizes: &[usize]) -> Vec<Item> {
        let mut items = Vec::new();
        let mut rest = bytes;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes
                .get(i % sizes.len().max(1))
                .copied()
                .unwrap_or(1)
                .clamp(1, rest.len());
            let (piece, tail) = rest.split_at(n);
            reader.feed(piece);
            rest = tail;
            i += 1;
            while let Some(item) = reader.poll_item().unwrap() {
                items.push(item);
            }
        }
        items
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_items(
            has_audio in any::<bool>(),
            has_video in any::<bool>(),
            tags in proptest::collection::vec(arb_tag(), 0..8),
            sizes in proptest::collection::vec(1usize..40, 1..16),
        ) {
            let header = Header { has_audio, has_video };
            let mut bytes = BytesMut::new();
            write_header(&header, &mut bytes);
            for t in &tags {
                write_tag(t, &mut bytes);
            }
            let mut expected = vec![Item::Header(header)];
            expected.extend(tags.iter().cloned().map(Item::Tag));

            prop_assert_eq!(read_split(FlvReader::new(), &bytes, &[bytes.len()]), expected.clone());
            prop_assert_eq!(read_split(FlvReader::new(), &bytes, &sizes), expected);

            // The same tags without the file header.
            let tag_bytes = bytes.split_off(13);
            let expected: Vec<_> = tags.iter().cloned().map(Item::Tag).collect();
            prop_assert_eq!(read_split(FlvReader::tags_only(), &tag_bytes, &sizes), expected);
        }
    }
}
