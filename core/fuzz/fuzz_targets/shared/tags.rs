//! The tags a fuzz input stands for, shared by the targets that take tags: an FLV
//! stream (starting with "FLV", as the seeds are) or a list of tags: a type byte, a
//! 32-bit timestamp, a 16-bit length and that many body bytes, repeated, after a first
//! byte the target reads for its own options.

use bytes::Bytes;
use flashless_core::flv::{FlvReader, Item, Tag, TagType};

pub fn tags(data: &[u8]) -> Vec<Tag> {
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
