//! The segmenter never panics on any sequence of tags, and what it says holds: an init
//! before any segment and only between segments, segments numbered in order, each
//! made of parts that follow each other and add up to it. The input is an FLV stream
//! (starting with "FLV", as the seeds are) or a list of tags: a type byte, a 32-bit
//! timestamp, a 16-bit length and that many body bytes, repeated; the first byte
//! picks the segment and part lengths. Where the tracks go as MPEG-TS for HLS (MP3
//! sound), every part goes into TS, in whole packets.
#![no_main]

use flashless_core::segment::{SegmentEvent, SegmentOptions, Segmenter};
use flashless_core::ts::{self, TsMuxer};
use libfuzzer_sys::fuzz_target;

#[path = "shared/tags.rs"]
mod shared_tags;
use shared_tags::tags;

/// Where the events are: checks each against the ones before.
#[derive(Default)]
struct Order {
    inits: u32,
    open: Option<(u64, f64)>,
    next_sequence: u64,
    parts_ms: f64,
    next_start: f64,
    ts: Option<TsMuxer>,
}

impl Order {
    fn check(&mut self, e: &SegmentEvent) {
        match e {
            SegmentEvent::Init { data, mime, .. } => {
                assert!(self.open.is_none(), "init inside a segment");
                assert!(data.len() >= 8);
                self.inits += 1;
                self.ts = ts::carries(mime)
                    .then(|| TsMuxer::new(data.clone()).expect("an init with MP3 as TS"));
            }
            SegmentEvent::SegmentStart { sequence, start_ms } => {
                assert!(self.inits > 0 && self.open.is_none());
                assert_eq!(*sequence, self.next_sequence);
                assert!(start_ms.is_finite());
                self.next_sequence += 1;
                self.open = Some((*sequence, *start_ms));
                self.parts_ms = 0.0;
                self.next_start = *start_ms;
            }
            SegmentEvent::Part {
                data,
                start_ms,
                duration_ms,
                ..
            } => {
                assert!(self.open.is_some(), "part outside a segment");
                assert!(data.len() >= 8);
                if let Some(muxer) = &mut self.ts {
                    let packets = muxer.part(data).expect("a part as TS");
                    assert!(!packets.is_empty() && packets.len() % 188 == 0);
                }
                assert!(*duration_ms >= 0.0 && duration_ms.is_finite());
                assert!((start_ms - self.next_start).abs() < 1e-6);
                self.next_start = start_ms + duration_ms;
                self.parts_ms += duration_ms;
            }
            SegmentEvent::SegmentEnd {
                sequence,
                duration_ms,
            } => {
                let (open, _) = self.open.take().expect("end outside a segment");
                assert_eq!(*sequence, open);
                assert!((self.parts_ms - duration_ms).abs() < 1e-3 * (1.0 + duration_ms.abs()));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mode = data.first().copied().unwrap_or(0);
    let target_ms = 1 + u32::from(mode & 0x0f) * 500;
    let mut s = Segmenter::new(SegmentOptions {
        target_ms,
        part_ms: 1 + u32::from(mode >> 4) * 100,
        // Odd modes: segments cut without a keyframe past four targets, as HLS's are.
        longest_ms: (mode & 1 == 1).then_some(target_ms * 4),
        live_playlist: mode & 2 == 2,
    });
    let mut order = Order::default();
    for tag in tags(data) {
        s.feed(&tag);
        while let Some(e) = s.poll_event() {
            order.check(&e);
        }
    }
    s.flush();
    while let Some(e) = s.poll_event() {
        order.check(&e);
    }
    assert!(order.open.is_none(), "flush left a segment open");
});
