//! The FLV reader and the audio/video tag header parsers never panic.
#![no_main]

use flashless_core::flv::{AudioTag, FlvReader, Item, TagType, VideoTag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = FlvReader::new();
    reader.feed(data);
    while let Ok(Some(item)) = reader.poll_item() {
        if let Item::Tag(tag) = item {
            match tag.tag_type {
                TagType::Audio => {
                    let _ = AudioTag::parse(&tag.data);
                }
                TagType::Video => {
                    let _ = VideoTag::parse(&tag.data);
                }
                TagType::Script => {}
            }
        }
    }
});
