//! Against FFmpeg 5.1's `adpcm_swf` decoder: FLV files its encoder made and
//! their decode as raw s16le (testdata/README.md).

use bytes::Bytes;

use super::*;
use crate::flv::{AudioTag, FlvReader, Item, TagType};

fn audio_bodies(flv: &[u8]) -> Vec<(AudioTag, Bytes)> {
    let mut reader = FlvReader::new();
    reader.feed(flv);
    let mut out = Vec::new();
    while let Some(item) = reader.poll_item().unwrap() {
        if let Item::Tag(t) = item
            && t.tag_type == TagType::Audio
        {
            let a = AudioTag::parse(&t.data).unwrap();
            out.push((a.clone(), a.body));
        }
    }
    out
}

fn s16le(raw: &[u8]) -> Vec<i32> {
    raw.chunks_exact(2)
        .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
        .collect()
}

fn decodes_as_ffmpeg(flv: &[u8], raw: &[u8], channels: usize) {
    let tags = audio_bodies(flv);
    assert!(!tags.is_empty());
    let mut ours = Vec::new();
    for (tag, body) in &tags {
        assert_eq!(tag.stereo, channels == 2);
        ours.extend(decode(body, channels).unwrap());
    }
    let theirs = s16le(raw);
    assert_eq!(ours.len(), theirs.len());
    let first_bad = ours.iter().zip(&theirs).position(|(a, b)| a != b);
    assert_eq!(first_bad, None, "first differing sample");
}

#[test]
fn mono_matches_ffmpeg() {
    decodes_as_ffmpeg(
        include_bytes!("../../../../../testdata/adpcm_swf_mono.flv"),
        include_bytes!("../../../../../testdata/adpcm_swf_mono.s16le"),
        1,
    );
}

#[test]
fn stereo_matches_ffmpeg() {
    decodes_as_ffmpeg(
        include_bytes!("../../../../../testdata/adpcm_swf_stereo.flv"),
        include_bytes!("../../../../../testdata/adpcm_swf_stereo.s16le"),
        2,
    );
}

#[test]
fn short_block_and_garbage_do_not_panic() {
    // Code size 4, one mono block header (first sample 0x1234, index 10), two codes: three samples.
    let data = [0b1000_0100, 0b1000_1101, 0b0000_1010, 0b0111_1000];
    let s = decode(&data, 1).unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(s[0], 0x1234);
    assert!(decode(&[0x40], 1).is_err());
    for len in 0..64 {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        let _ = decode(&junk, 2);
    }
}
