//! FLV tags built for the core's tests: an H.264 and AAC stream by hand, and the ffmpeg
//! capture in `testdata/` looped.

use bytes::Bytes;

use crate::codec::bits::BitWriter;
use crate::flv::{FlvReader, Item, Tag, TagType};

pub fn tag(tag_type: TagType, timestamp: u32, data: Vec<u8>) -> Tag {
    Tag {
        tag_type,
        timestamp,
        data: Bytes::from(data),
    }
}

/// A baseline SPS for a picture of `w`×`h` macroblocks (H.264 7.3.2.1.1).
pub fn sps(w_mbs: u32, h_mbs: u32) -> Vec<u8> {
    let mut b = BitWriter::default();
    b.bits(8, 0x67).bits(8, 66).bits(8, 0).bits(8, 30);
    b.ue(0).ue(0).ue(2).ue(1).bits(1, 0);
    b.ue(w_mbs - 1).ue(h_mbs - 1);
    b.bits(1, 1).bits(1, 1).bits(1, 0).bits(1, 0);
    b.finish_rbsp()
}

pub fn avc_header(ts: u32, w_mbs: u32, h_mbs: u32) -> Tag {
    let sps = sps(w_mbs, h_mbs);
    let mut d = vec![0x17, 0, 0, 0, 0, 1, 66, 0, 30, 0xff, 0xe1];
    d.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    d.extend_from_slice(&sps);
    d.extend_from_slice(&[1, 0, 2, 0x68, 0xce]);
    tag(TagType::Video, ts, d)
}

pub fn avc_frame(ts: u32, cts: i32, key: bool) -> Tag {
    let c = cts.to_be_bytes();
    let mut d = vec![if key { 0x17 } else { 0x27 }, 1, c[1], c[2], c[3]];
    d.extend_from_slice(&[0, 0, 0, 2, if key { 0x65 } else { 0x41 }, 0x88]);
    tag(TagType::Video, ts, d)
}

pub fn aac_header(ts: u32, asc: &[u8]) -> Tag {
    let mut d = vec![0xaf, 0];
    d.extend_from_slice(asc);
    tag(TagType::Audio, ts, d)
}

pub fn aac_frame(ts: u32) -> Tag {
    tag(TagType::Audio, ts, vec![0xaf, 1, 0x21, 0x10, 0x04])
}

/// The ffmpeg capture in `testdata/` (2 s, 25 fps, a keyframe each second) played
/// `times` times end to end, each 2 s after the previous; its end-of-sequence tags and
/// the repeated headers left out.
pub fn capture_looped(times: u32) -> Vec<Tag> {
    let mut reader = FlvReader::new();
    reader.feed(include_bytes!("../../testdata/h264_aac.flv"));
    let mut once = Vec::new();
    while let Ok(Some(item)) = reader.poll_item() {
        if let Item::Tag(t) = item {
            once.push(t);
        }
    }
    let mut tags = Vec::new();
    for k in 0..times {
        for t in &once {
            let header = t.tag_type == TagType::Script || t.data.get(1) == Some(&0);
            let end = t.tag_type == TagType::Video && t.data.get(1) == Some(&2);
            if end || (k > 0 && header) {
                continue;
            }
            let mut t = t.clone();
            t.timestamp += k * 2000;
            tags.push(t);
        }
    }
    tags
}

/// [`capture_looped`]'s pictures (H.264) with MP3 frames (1,152 samples at 44.1 kHz,
/// a header and no more) for sound.
pub fn h264_and_mp3(times: u32) -> Vec<Tag> {
    let mut tags: Vec<Tag> = capture_looped(times)
        .into_iter()
        .filter(|t| t.tag_type == TagType::Video)
        .collect();
    let end = tags.last().map_or(0, |t| t.timestamp);
    let frame = |k: u32| (u64::from(k) * 1152 * 1000 / 44_100) as u32;
    tags.extend(
        (0..)
            .map(frame)
            .take_while(|&ms| ms <= end)
            .map(|ms| tag(TagType::Audio, ms, vec![0x2f, 0xff, 0xfb, 0x90, 0x44, 0, 0])),
    );
    tags.sort_by_key(|t| t.timestamp);
    tags
}
