//! The MP4 reader (`flashless push` of an MP4 file) never panics, whatever the
//! boxes say, and the tags it makes parse as the FLV tags they claim to be.
#![no_main]

use flashless_core::flv::{AudioTag, TagType, VideoTag};
use flashless_core::mp4;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(tags) = mp4::to_flv_tags(data) else {
        return;
    };
    for tag in &tags {
        let parsed = match tag.tag_type {
            TagType::Audio => AudioTag::parse(&tag.data).is_ok(),
            TagType::Video => VideoTag::parse(&tag.data).is_ok(),
            TagType::Script => true,
        };
        assert!(parsed, "the reader made a tag that does not parse: {tag:?}");
    }
});
