//! The remuxer never panics on any sequence of tags. The input is either an FLV
//! stream (starting with "FLV", as the seeds are) or a list of tags: a type byte,
//! a 32-bit timestamp, a 16-bit length and that many body bytes, repeated. The
//! first byte picks the layout, the fragmenting and how often to cut.
#![no_main]

use bytes::Bytes;
use flashless_core::flv::{FlvReader, Item, Tag, TagType};
use flashless_core::fmp4::{Fragmenting, Layout, RemuxEvent, Remuxer, RemuxerOptions};
use libfuzzer_sys::fuzz_target;

fn tags(data: &[u8]) -> Vec<Tag> {
    if data.starts_with(b"FLV") {
        let mut reader = FlvReader::new();
        reader.feed(data);
        let mut tags = Vec::new();
        while let Ok(Some(item)) = reader.poll_item() {
            if let Item::Tag(t) = item {
                tags.push(t);
            }
        }
        return tags;
    }
    let mut tags = Vec::new();
    let mut rest = data.get(1..).unwrap_or_default();
    while let [ty, t0, t1, t2, t3, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*l0, *l1])).min(tail.len());
        let (body, next) = tail.split_at(len);
        tags.push(Tag {
            tag_type: match ty % 3 {
                0 => TagType::Audio,
                1 => TagType::Video,
                _ => TagType::Script,
            },
            timestamp: u32::from_be_bytes([*t0, *t1, *t2, *t3]),
            data: Bytes::copy_from_slice(body),
        });
        rest = next;
    }
    tags
}

fuzz_target!(|data: &[u8]| {
    let mode = data.first().copied().unwrap_or(0);
    let mut r = Remuxer::new(RemuxerOptions {
        layout: if mode & 1 == 0 {
            Layout::PerTrack
        } else {
            Layout::Muxed
        },
        fragment: match (mode & 2, mode & 4) {
            (0, 0) => Fragmenting::EveryFrame,
            (0, _) => Fragmenting::OnCut,
            _ => Fragmenting::Duration(u32::from(mode >> 2) * 16),
        },
        ..RemuxerOptions::default()
    });
    // OnCut: a cut every few tags, as after each network read.
    let cut_every = usize::from(mode >> 3) + 1;
    for (i, tag) in tags(data).iter().enumerate() {
        r.feed(tag);
        if i % cut_every == 0 {
            r.cut();
        }
        while let Some(e) = r.poll_event() {
            if let RemuxEvent::Fragment { data, .. } | RemuxEvent::Init { data, .. } = e {
                assert!(data.len() >= 8);
            }
        }
    }
    r.flush();
    while r.poll_event().is_some() {}
});
