use bytes::Bytes;

use super::check::{Reloads, check};
use super::*;

/// The wall clock when the tests' media starts (2026-12-05T18:10:29.123Z).
const WALL_MS: u64 = 1_796_494_229_123;

/// A segmenter's events, as plain steps: 2 s segments of four 0.5 s parts.
struct Feed {
    window: Window,
    sequence: u64,
    clock_ms: f64,
    /// How far the wall clock is behind the media (ahead of it where negative: media
    /// that comes late).
    wall_lag_ms: i64,
}

impl Feed {
    fn new() -> Self {
        Feed::keeping(4)
    }

    /// A window of `segments` segments (of the 2 s each that [`Feed::segment`] makes).
    fn keeping(segments: u32) -> Self {
        Feed {
            window: Window::new(WindowOptions {
                target_ms: 2000,
                part_ms: 500,
                window_ms: segments * 2000,
                first_sequence: 0,
            }),
            sequence: 0,
            clock_ms: 0.0,
            wall_lag_ms: 0,
        }
    }

    /// An event of the segmenter at its media time on a wall clock that runs with it.
    fn feed(&mut self, event: SegmentEvent) {
        let now = WALL_MS as i64 + self.clock_ms as i64 - self.wall_lag_ms;
        self.window.feed(event, now as u64);
    }

    fn init(&mut self, tag: &'static [u8]) {
        self.feed(SegmentEvent::Init {
            data: Bytes::from_static(tag),
            mime: "video/mp4".into(),
            info: crate::fmp4::TrackInfo::default(),
        });
    }

    fn start(&mut self) {
        self.feed(SegmentEvent::SegmentStart {
            sequence: self.sequence,
            start_ms: self.clock_ms,
        });
    }

    fn part(&mut self, independent: bool) {
        let data = Bytes::from(format!("s{}p@{}", self.sequence, self.clock_ms));
        self.feed(SegmentEvent::Part {
            data,
            start_ms: self.clock_ms,
            duration_ms: 500.0,
            independent,
        });
        self.clock_ms += 500.0;
    }

    fn end(&mut self, duration_ms: f64) {
        self.feed(SegmentEvent::SegmentEnd {
            sequence: self.sequence,
            duration_ms,
        });
        self.sequence += 1;
    }

    fn segment(&mut self) {
        self.start();
        for i in 0..4 {
            self.part(i == 0);
        }
        self.end(2000.0);
    }
}

fn passes(window: &Window) -> check::Playlist {
    let text = window.playlist("");
    check(&text).unwrap_or_else(|bad| panic!("{text}\n{bad:#?}"))
}

#[test]
fn a_live_playlist_keeps_its_window_and_passes_the_checker() {
    let mut f = Feed::new();
    f.init(b"init-a");
    let mut reloads = Reloads::default();
    for _ in 0..10 {
        f.segment();
        let text = f.window.playlist("");
        reloads
            .reload(&text)
            .unwrap_or_else(|bad| panic!("{text}\n{bad:#?}"));
    }
    let p = passes(&f.window);
    assert_eq!(p.segments.len(), 4, "the window keeps its segments");
    assert_eq!(p.media_sequence, 6);
    assert_eq!(p.target_duration, Some(2));
    assert_eq!(p.preload_hint.as_deref(), Some("part10.0.m4s"));
    // Parts only for the last three target durations: three segments' worth.
    assert_eq!(p.segments[0].parts.len(), 0);
    assert_eq!(p.segments[1].parts.len(), 4);
    let whole = f.window.segment(9).unwrap().concat();
    assert_eq!(&whole[..], b"s9p@18000s9p@18500s9p@19000s9p@19500");
}

#[test]
fn an_open_segment_lists_its_parts_and_hints_the_next() {
    let mut f = Feed::new();
    f.init(b"init-a");
    f.segment();
    f.start();
    f.part(true);
    f.part(false);
    let p = passes(&f.window);
    assert_eq!(p.open_parts.len(), 2);
    assert_eq!(p.preload_hint.as_deref(), Some("part1.2.m4s"));
    assert_eq!(f.window.part(1, 1), Lookup::Ready(Bytes::from("s1p@2500")));
    assert_eq!(f.window.part(1, 2), Lookup::Pending);
    assert_eq!(f.window.part(2, 0), Lookup::Pending);
    assert_eq!(
        f.window.part(3, 0),
        Lookup::Gone,
        "too far ahead to wait for"
    );
    f.part(false);
    f.part(false);
    f.end(2000.0);
    assert_eq!(
        f.window.part(1, 4),
        Lookup::Gone,
        "the segment ended with four"
    );
}

#[test]
fn blocking_reloads_wait_for_the_part_or_segment_asked() {
    let mut f = Feed::new();
    f.init(b"init-a");
    f.segment();
    f.start();
    f.part(true);
    assert!(f.window.playlist_ready(0, None));
    assert!(f.window.playlist_ready(1, Some(0)));
    assert!(!f.window.playlist_ready(1, Some(1)));
    assert!(!f.window.playlist_ready(1, None));
    f.part(false);
    assert!(f.window.playlist_ready(1, Some(1)));
    assert!(!f.window.too_far(3));
    assert!(f.window.too_far(4));
}

#[test]
fn a_new_init_starts_a_discontinuity_with_its_own_map() {
    let mut f = Feed::new();
    f.init(b"init-a");
    f.segment();
    f.segment();
    f.init(b"init-b");
    f.segment();
    let text = f.window.playlist("?token=t");
    let p = check(&text).unwrap_or_else(|bad| panic!("{text}\n{bad:#?}"));
    assert!(p.segments[2].discontinuity);
    assert_eq!(p.segments[2].map.as_deref(), Some("init1.mp4?token=t"));
    assert_eq!(p.segments[0].map.as_deref(), Some("init0.mp4?token=t"));
    assert_eq!(f.window.init_segment(1).as_deref(), Some(&b"init-b"[..]));
    // The discontinuity is counted once its segments have left the playlist; the old
    // init is served while they are (RFC 8216 §6.2.2), and leaves with them.
    for _ in 0..4 {
        f.segment();
    }
    let p = passes(&f.window);
    assert_eq!(p.discontinuity_sequence, 1);
    assert!(p.segments.iter().all(|s| s.msn >= 3));
    assert_eq!(f.window.init_segment(0).as_deref(), Some(&b"init-a"[..]));
    for _ in 0..5 {
        f.segment();
    }
    assert!(f.window.segment(1).is_none());
    assert!(f.window.init_segment(0).is_none());
}

/// RFC 8216 §6.2.2: a segment that leaves the playlist is served on for its duration and
/// that of the longest playlist that listed it, so that a player that reloaded just
/// before, or reads slowly, finds it; then it is gone.
#[test]
fn a_segment_that_leaves_the_playlist_is_served_for_as_long_as_a_player_may_ask() {
    let mut f = Feed::new();
    f.init(b"init-a");
    for _ in 0..10 {
        f.segment();
    }
    // Listed: 6 to 9. Segment 5 left at the end of segment 9 (20 s), when the playlist
    // that listed it lasted 10 s: served until 20 + 2 + 10 = 32 s, the end of segment 15.
    let p = passes(&f.window);
    assert_eq!(p.media_sequence, 6);
    let whole = f.window.segment(5).expect("segment 5, just left").concat();
    assert_eq!(&whole[..], b"s5p@10000s5p@10500s5p@11000s5p@11500");
    assert_eq!(f.window.part(5, 1), Lookup::Ready("s5p@10500".into()));
    assert!(
        f.window.segment(0).is_some(),
        "left at 10 s, served until 22 s"
    );
    for _ in 0..5 {
        f.segment();
    }
    assert!(f.window.segment(4).is_none(), "left at 18 s, gone at 30 s");
    assert!(f.window.segment(5).is_some(), "at 30 s");
    f.segment();
    assert!(f.window.segment(5).is_none(), "at 32 s");
    assert_eq!(f.window.part(5, 1), Lookup::Gone);
    assert!(f.window.segment(6).is_some());
}

#[test]
fn the_target_duration_covers_a_segment_past_the_target() {
    let mut f = Feed::new();
    f.init(b"init-a");
    f.start();
    for i in 0..7 {
        f.part(i == 0);
    }
    f.end(3500.0);
    let p = passes(&f.window);
    assert_eq!(p.target_duration, Some(4));
}

#[test]
fn served_once_a_segment_is_complete() {
    let mut f = Feed::new();
    assert!(!f.window.ready());
    f.init(b"init-a");
    f.start();
    f.part(true);
    assert!(!f.window.ready(), "served once a segment is complete");
    let text = f.window.playlist("");
    assert!(text.contains("part0.1.m4s"), "{text}");
    f.part(false);
    f.part(false);
    f.part(false);
    f.end(2000.0);
    assert!(f.window.ready());
}

#[test]
fn the_segmenters_output_makes_playlists_that_pass_at_every_reload() {
    let mut window = ll_window(12_000, 1000);
    let mut reloads = Reloads::default();
    let tags = crate::test_tags::capture_looped(15);
    feed_checked(&mut window, &mut reloads, &tags, "?token=1.a.x");
    assert!(reloads.count > 80, "a reload per part: {}", reloads.count);
    let p = passes(&window);
    assert_eq!(p.segments.len(), 6);
    assert_eq!(p.target_duration, Some(2));
    assert!(p.part_target.unwrap() <= 0.334, "{:?}", p.part_target);
    // A segment's bytes are its parts', in order.
    let last = p.segments.last().unwrap().msn;
    let mut parts = Vec::new();
    let mut i = 0;
    while let Lookup::Ready(b) = window.part(last, i) {
        parts.extend_from_slice(&b);
        i += 1;
    }
    assert!(i >= 5, "{i} parts");
    assert_eq!(window.segment(last).unwrap().concat(), parts);
    assert!(window.init_segment(1000).is_some());
}

/// A window as the gateway's defaults make it (2 s segments, 0.333 s parts) listing
/// `window_ms`, its numbers from `first_sequence`.
fn ll_window(window_ms: u32, first_sequence: u64) -> Window {
    Window::new(WindowOptions {
        target_ms: 2000,
        part_ms: 333,
        window_ms,
        first_sequence,
    })
}

/// What the gateway's HLS cuts a segment at without a keyframe: ten target durations.
const LONGEST_MS: u32 = 20_000;

/// A source that sends no keyframe after its first (broken, or hostile) gets segments
/// cut at the longest anyway, so the window's memory stays bounded; the playlist stops
/// saying its segments are independent while one that starts without a keyframe is in
/// the window, and says it again once they have left.
#[test]
fn a_source_without_keyframes_gets_segments_cut_at_the_longest() {
    use crate::test_tags::capture_looped;
    let mut window = ll_window(6_000, 0);
    let mut reloads = Reloads::default();
    // 120 s: a keyframe at the start only.
    let tags = keyframes_every(60, 0);
    feed_checked(&mut window, &mut reloads, &tags, "");
    let text = window.playlist("");
    let p = passes(&window);
    assert_eq!(p.segments.len(), 3, "{text}");
    for s in &p.segments {
        assert!(
            (s.duration - 20.0).abs() < 0.1,
            "segment {}: {} s\n{text}",
            s.msn,
            s.duration
        );
    }
    assert_eq!(p.target_duration, Some(20));
    assert!(!p.independent_segments, "{text}");
    let held: usize = p
        .segments
        .iter()
        .map(|s| {
            window
                .segment(s.msn)
                .map_or(0, |parts| parts.iter().map(|b| b.len()).sum())
        })
        .sum();
    let fed: usize = tags.iter().map(|t| t.data.len()).sum();
    assert!(
        held < fed * 3 / 5,
        "{held} bytes held of {fed} fed: the window is not bounded"
    );

    // Keyframes again: once the cut segments have left (the target duration stays 20 s,
    // so the window lasts three of them: 60 s), the playlist says so again.
    feed_checked(&mut window, &mut reloads, &capture_looped(40)[..], "");
    let p = passes(&window);
    assert!(p.independent_segments, "{}", window.playlist(""));
}

/// The tags of `capture_looped(times)` (a keyframe each second) with only every
/// `every`-th keyframe left one (0: only the first).
fn keyframes_every(times: u32, every: usize) -> Vec<crate::flv::Tag> {
    let mut tags = crate::test_tags::capture_looped(times);
    let mut keyframes = 0;
    for tag in &mut tags {
        let key = tag.data.first() == Some(&0x17) && tag.data.get(1) == Some(&1);
        if tag.tag_type == crate::flv::TagType::Video && key {
            keyframes += 1;
            if keyframes > 1 && (every == 0 || (keyframes - 1) % every != 0) {
                let mut data = tag.data.to_vec();
                data[0] = 0x27;
                tag.data = data.into();
            }
        }
    }
    tags
}

/// The window is media time, not a count of segments: a source with a keyframe every
/// 4 s (4 s segments) gets 12 s listed, three segments, not six segments' 24 s.
#[test]
fn the_window_lists_its_time_whatever_the_segments_last() {
    let mut window = ll_window(12_000, 0);
    let mut reloads = Reloads::default();
    feed_checked(&mut window, &mut reloads, &keyframes_every(30, 4), "");
    let p = passes(&window);
    let durations: Vec<f64> = p.segments.iter().map(|s| s.duration).collect();
    assert_eq!(durations, [4.0, 4.0, 4.0], "{}", window.playlist(""));
}

/// The segmenter's output for `tags` fed to `window`, the playlist (its URIs followed by
/// `query`) checked at every reload.
fn feed_checked(window: &mut Window, reloads: &mut Reloads, tags: &[crate::flv::Tag], query: &str) {
    use crate::segment::{SegmentOptions, Segmenter};
    let mut segmenter = Segmenter::new(SegmentOptions {
        target_ms: 2000,
        part_ms: 333,
        longest_ms: Some(LONGEST_MS),
        live_playlist: true,
    });
    for tag in tags {
        segmenter.feed(tag);
        let mut changed = false;
        while let Some(event) = segmenter.poll_event() {
            window.feed(event, WALL_MS + u64::from(tag.timestamp));
            changed = true;
        }
        if changed && window.ready() {
            let text = window.playlist(query);
            reloads
                .reload(&text)
                .unwrap_or_else(|bad| panic!("{text}\n{bad:#?}"));
        }
    }
}

#[test]
fn an_mp3_channel_goes_as_ts_and_a_change_of_kind_starts_afresh() {
    use crate::test_tags::{capture_looped, h264_and_mp3};
    let mut window = ll_window(12_000, 0);
    let mut reloads = Reloads::default();
    feed_checked(&mut window, &mut reloads, &h264_and_mp3(6), "");
    let text = window.playlist("");
    assert!(
        !text.contains("EXT-X-MAP") && !text.contains(".m4s"),
        "{text}"
    );
    let p = passes(&window);
    assert!(p.segments.len() >= 4, "{text}");
    assert!(p.segments.iter().all(|s| s.uri.ends_with(".ts")), "{text}");
    assert_eq!(
        (window.extension(), window.media_type()),
        ("ts", "video/mp2t")
    );
    let last = p.segments.last().unwrap().msn;
    let Lookup::Ready(part) = window.part(last, 0) else {
        panic!("part 0 of {last}");
    };
    assert_eq!(part[0], 0x47, "TS packets");
    assert_eq!(window.segment(last).unwrap()[0][0], 0x47);

    // The publisher back with AAC: fMP4 again, in a window of its own; the numbers go on.
    let mut aac = capture_looped(4);
    for t in &mut aac {
        t.timestamp += 20_000;
    }
    feed_checked(&mut window, &mut reloads, &aac, "");
    let text = window.playlist("");
    let p = passes(&window);
    assert!(!text.contains(".ts"), "{text}");
    assert!(p.segments.iter().all(|s| s.map.is_some()), "{text}");
    assert!(p.media_sequence > last, "{text}");
    assert!(p.discontinuity_sequence >= 1, "{text}");
    assert_eq!(window.media_type(), "video/mp4");
    // The TS segments are out of the playlist, not yet gone (RFC 8216 §6.2.2).
    assert_eq!(window.segment(last).unwrap()[0][0], 0x47);
}

/// A publisher's uplink stalls 3 s, then sends what it held at once: its segments come
/// late, then in a burst, and their dates follow the media throughout, never going back.
/// A source that stays over a second late for 10 s (its clock slow) is dated from the
/// clock again.
#[test]
fn a_stall_and_its_burst_keep_the_media_s_dates_and_a_slow_source_gets_the_clock() {
    let mut f = Feed::new();
    f.init(b"init-a");
    let mut reloads = Reloads::default();
    // Each segment's events come `late_ms` after its media time: its date.
    let mut segment = |f: &mut Feed, late_ms: i64| {
        f.wall_lag_ms = -late_ms;
        f.segment();
        let p = reloads
            .reload(&f.window.playlist(""))
            .unwrap_or_else(|bad| panic!("{bad:#?}"));
        p.segments.last().and_then(|s| s.program_ms).unwrap() - WALL_MS as i64
    };
    // The stall: the second and third segments' media arrive 3 s and 1 s late, at once.
    let mut dates: Vec<i64> = [0, 3000, 1000, 0].map(|late| segment(&mut f, late)).into();
    assert_eq!(dates, [0, 2000, 4000, 6000]);
    // Late by 1.5 s, each of six segments: 12 s of media, and of the clock.
    dates.extend([1500; 6].map(|late| segment(&mut f, late)));
    assert_eq!(&dates[4..9], [8000, 10_000, 12_000, 14_000, 16_000]);
    assert_eq!(dates[9], 18_000 + 1500, "after 10 s behind: the clock");
}

#[test]
fn segments_are_dated_on_from_the_wall_clock_and_keep_their_dates() {
    let mut f = Feed::new();
    f.init(b"init-a");
    let mut reloads = Reloads::default();
    let mut dates = Vec::new();
    let mut segment = |f: &mut Feed, lag_ms| {
        f.wall_lag_ms = lag_ms;
        f.segment();
        let p = reloads
            .reload(&f.window.playlist(""))
            .unwrap_or_else(|bad| panic!("{bad:#?}"));
        dates.push(p.segments.last().and_then(|s| s.program_ms));
    };
    segment(&mut f, 0);
    segment(&mut f, 0);
    // The clock a little behind the media: the dates follow the media.
    segment(&mut f, 300);
    // Drifted past a second: the clock again.
    segment(&mut f, 1500);
    // After a discontinuity (a new init): the clock.
    f.init(b"init-b");
    segment(&mut f, 400);
    let wall = WALL_MS as i64;
    assert_eq!(
        dates,
        [
            Some(wall),
            Some(wall + 2000),
            Some(wall + 4000),
            Some(wall + 6000 - 1500),
            Some(wall + 8000 - 400),
        ]
    );
    assert!(
        f.window
            .playlist("")
            .contains("#EXT-X-PROGRAM-DATE-TIME:2026-12-05T18:10:31.123Z\n"),
        "{}",
        f.window.playlist("")
    );
}

#[test]
fn dates_are_written_and_read_back_as_iso_8601() {
    for (ms, text) in [
        (0, "1970-01-01T00:00:00.000Z"),
        (951_825_600_007, "2000-02-29T12:00:00.007Z"),
        (1_796_494_229_123, "2026-12-05T18:10:29.123Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
    ] {
        let mut out = String::new();
        playlist::date_time(&mut out, ms);
        assert_eq!(out, text);
        assert_eq!(check::date_time(text), Some(ms as i64), "{text}");
    }
    assert_eq!(
        check::date_time("2026-12-05T19:10:29.1+01:00"),
        Some(1_796_494_229_100)
    );
    assert_eq!(
        check::date_time("2026-12-05T18:10:29Z"),
        Some(1_796_494_229_000)
    );
    for bad in [
        "2026-12-05 18:10:29Z",
        "2026-13-05T18:10:29Z",
        "2026-12-05T18:10:29.Z",
        "2026-12-05T18:10:29",
        "2026-12-05T18:10:29+1",
        "",
    ] {
        assert_eq!(check::date_time(bad), None, "{bad}");
    }
}

#[test]
fn a_long_window_offers_delta_updates_that_merge_into_the_whole() {
    // Six segments (12 s): no room for a skip boundary of six target durations.
    let mut short = Feed::keeping(6);
    short.init(b"init-a");
    for _ in 0..8 {
        short.segment();
    }
    assert!(!short.window.playlist("").contains("CAN-SKIP-UNTIL"));
    assert_eq!(short.window.playlist_delta(""), short.window.playlist(""));

    // Fourteen (28 s): delta updates skip what ends 12 s before the end.
    let mut f = Feed::keeping(14);
    f.init(b"init-a");
    let mut reloads = Reloads::default();
    for i in 0..20 {
        if i == 3 {
            f.init(b"init-b");
        }
        f.segment();
        reloads
            .reload(&f.window.playlist("?token=t"))
            .unwrap_or_else(|bad| panic!("{bad:#?}"));
    }
    f.start();
    f.part(true);
    let whole = f.window.playlist("?token=t");
    let full = reloads
        .reload(&whole)
        .unwrap_or_else(|bad| panic!("{whole}\n{bad:#?}"));
    assert_eq!(full.can_skip_until, Some(12.0));
    assert_eq!(full.segments.len(), 14);
    let delta = f.window.playlist_delta("?token=t");
    assert!(
        delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=8\n"),
        "{delta}"
    );
    assert!(delta.len() < whole.len());
    // The first segment listed after the skip carries its map and date.
    let after_skip: Vec<&str> = delta
        .lines()
        .skip_while(|l| !l.starts_with("#EXT-X-SKIP"))
        .skip(1)
        .take(2)
        .collect();
    assert_eq!(after_skip[0], "#EXT-X-MAP:URI=\"init1.mp4?token=t\"");
    assert!(
        after_skip[1].starts_with("#EXT-X-PROGRAM-DATE-TIME:"),
        "{delta}"
    );
    let merged = reloads
        .reload(&delta)
        .unwrap_or_else(|bad| panic!("{delta}\n{bad:#?}"));
    assert_eq!(merged, full);

    // A delta update with no playlist before it cannot be merged.
    let rules: Vec<String> = Reloads::default()
        .reload(&delta)
        .unwrap_err()
        .into_iter()
        .map(|v| v.rule)
        .collect();
    assert!(
        rules
            .iter()
            .any(|r| r.contains("not all in the last reload")),
        "{rules:?}"
    );
}
