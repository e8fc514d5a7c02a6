//! Tests against a real FLV file made by FFmpeg (see testdata/README.md).

use bytes::BytesMut;

use super::*;

const H264_AAC: &[u8] = include_bytes!("../../../testdata/h264_aac.flv");

fn read_file(chunk: usize) -> Vec<Item> {
    let mut reader = FlvReader::new();
    let mut items = Vec::new();
    for piece in H264_AAC.chunks(chunk) {
        reader.feed(piece);
        while let Some(item) = reader.poll_item().unwrap() {
            items.push(item);
        }
    }
    assert_eq!(reader.offset(), H264_AAC.len() as u64);
    assert_eq!(reader.previous_tag_size_mismatches(), 0);
    items
}

fn tags(items: &[Item]) -> Vec<&Tag> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Tag(t) => Some(t),
            Item::Header(_) => None,
        })
        .collect()
}

#[test]
fn ffmpeg_file_reads_to_the_end() {
    let items = read_file(H264_AAC.len());
    assert_eq!(
        items.first(),
        Some(&Item::Header(Header {
            has_audio: true,
            has_video: true
        }))
    );
    let tags = tags(&items);
    let count = |ty| tags.iter().filter(|t| t.tag_type == ty).count();
    // onMetaData; AVC sequence header, 50 frames, end of sequence; AAC sequence
    // header and 88 frames.
    assert_eq!(count(TagType::Script), 1);
    assert_eq!(count(TagType::Video), 52);
    assert_eq!(count(TagType::Audio), 89);
    assert_eq!(tags.first().map(|t| t.tag_type), Some(TagType::Script));
}

#[test]
fn ffmpeg_file_video_headers() {
    let items = read_file(H264_AAC.len());
    let video: Vec<(u32, VideoTag)> = tags(&items)
        .into_iter()
        .filter(|t| t.tag_type == TagType::Video)
        .map(|t| (t.timestamp, VideoTag::parse(&t.data).unwrap()))
        .collect();

    let (ts, first) = video.first().unwrap();
    assert_eq!(*ts, 0);
    assert_eq!(first.codec, VideoCodec::Avc);
    assert_eq!(first.packet, VideoPacket::SequenceStart);
    assert!(first.is_keyframe());
    assert!(!first.enhanced);
    // AVCDecoderConfigurationRecord: configurationVersion 1.
    assert_eq!(first.body.first(), Some(&1));

    let (_, last) = video.last().unwrap();
    assert_eq!(last.packet, VideoPacket::SequenceEnd);

    let frames: Vec<_> = video
        .iter()
        .filter_map(|(ts, v)| match v.packet {
            VideoPacket::CodedFrames { composition_time } => Some((*ts, composition_time, v)),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 50);
    assert!(frames.iter().all(|(_, _, v)| v.codec == VideoCodec::Avc));
    // GOP 25 over 50 frames: two keyframes, at 0 s and 1 s.
    let keyframes: Vec<u32> = frames
        .iter()
        .filter(|(_, _, v)| v.is_keyframe())
        .map(|(ts, _, _)| *ts)
        .collect();
    assert_eq!(keyframes, [0, 1000]);
    // libx264 uses B-frames, so some frames have a positive composition time.
    assert!(frames.iter().any(|(_, cts, _)| *cts > 0));
    assert!(frames.iter().all(|(_, cts, _)| *cts >= 0));
    // DTS never goes backwards.
    assert!(frames.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn ffmpeg_file_audio_headers() {
    let items = read_file(H264_AAC.len());
    let audio: Vec<AudioTag> = tags(&items)
        .into_iter()
        .filter(|t| t.tag_type == TagType::Audio)
        .map(|t| AudioTag::parse(&t.data).unwrap())
        .collect();
    let first = audio.first().unwrap();
    assert_eq!(first.codec, AudioCodec::Aac);
    assert_eq!(first.packet, AudioPacket::SequenceStart);
    // AudioSpecificConfig: AAC LC (2), 44.1 kHz (index 4), mono.
    assert_eq!(first.body.get(..2), Some(&[0x12, 0x08][..]));
    assert!(
        audio
            .iter()
            .all(|a| a.codec == AudioCodec::Aac && !a.enhanced)
    );
    // The FLV spec says AAC always declares 44 kHz, 16-bit, stereo.
    assert!(
        audio
            .iter()
            .all(|a| a.sound_rate == 3 && a.sound_size_16bit && a.stereo)
    );
    assert_eq!(
        audio
            .iter()
            .filter(|a| a.packet == AudioPacket::CodedFrames)
            .count(),
        88
    );
}

#[test]
fn ffmpeg_file_any_chunking_gives_the_same_items() {
    let whole = read_file(H264_AAC.len());
    for chunk in [1, 2, 3, 7, 11, 13, 4096] {
        assert_eq!(read_file(chunk), whole, "chunk size {chunk}");
    }
}

#[test]
fn ffmpeg_file_rewrites_byte_for_byte() {
    let mut out = BytesMut::new();
    for item in read_file(H264_AAC.len()) {
        match item {
            Item::Header(h) => write_header(&h, &mut out),
            Item::Tag(t) => {
                let before = out.len();
                write_tag(&t, &mut out);
                assert_eq!(out.len() - before, tag_len(&t));
            }
        }
    }
    assert_eq!(&out[..], H264_AAC);
}
