//! The remuxer never panics on any sequence of tags. The input is either an FLV
//! stream (starting with "FLV", as the seeds are) or a list of tags: a type byte,
//! a 32-bit timestamp, a 16-bit length and that many body bytes, repeated. The
//! first byte picks the layout, the fragmenting and how often to cut.
#![no_main]

use flashless_core::fmp4::{Fragmenting, Layout, RemuxEvent, Remuxer, RemuxerOptions};
use libfuzzer_sys::fuzz_target;

#[path = "shared/tags.rs"]
mod shared_tags;
use shared_tags::tags;

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
