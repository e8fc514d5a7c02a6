//! Segmenter behaviour, checked on the bytes: every init and part is walked box by
//! box (`ftyp`/`moov`, `moof`/`mdat`), and the times in `tfdt`/`trun` must agree
//! with the events' durations.

use std::collections::HashMap;

use super::*;
use crate::test_tags::*;

const SYNC_FLAGS: u32 = 0x0200_0000;

// ---- tags ----

/// AAC-LC AudioSpecificConfigs.
const ASC_44100_MONO: [u8; 2] = [0x12, 0x08];
const ASC_48000_STEREO: [u8; 2] = [0x11, 0x90];

/// AAC frames of 1024 samples at `rate` from `from_ms` for `ms`.
fn aac_frames(from_ms: u32, ms: u32, rate: u32) -> Vec<Tag> {
    (0..)
        .map(|i: u64| from_ms + (i * 1024 * 1000 / u64::from(rate)) as u32)
        .take_while(|&ts| ts < from_ms + ms)
        .map(aac_frame)
        .collect()
}

fn run(options: SegmentOptions, tags: &[Tag]) -> Vec<SegmentEvent> {
    let mut s = Segmenter::new(options);
    let mut out = Vec::new();
    for t in tags {
        s.feed(t);
        while let Some(e) = s.poll_event() {
            out.push(e);
        }
    }
    s.flush();
    while let Some(e) = s.poll_event() {
        out.push(e);
    }
    out
}

// ---- the box walk ----

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// The boxes in `data`, which they must fill exactly.
fn boxes(mut data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let size = u32_at(data, 0) as usize;
        assert!(size >= 8 && size <= data.len(), "box size {size}");
        out.push((data[4..8].try_into().unwrap(), &data[8..size]));
        data = &data[size..];
    }
    out
}

fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> &'a [u8] {
    boxes(body)
        .into_iter()
        .find(|(k, _)| k == kind)
        .unwrap_or_else(|| panic!("no {}", String::from_utf8_lossy(kind)))
        .1
}

#[derive(Debug, Clone, Copy)]
struct InitTrack {
    video: bool,
    timescale: u32,
}

/// `ftyp` + `moov`: each track's id, kind and timescale.
fn walk_init(data: &[u8]) -> HashMap<u32, InitTrack> {
    let top = boxes(data);
    assert_eq!(&top[0].0, b"ftyp");
    assert_eq!(&top[1].0, b"moov");
    let mut tracks = HashMap::new();
    for (kind, trak) in boxes(top[1].1) {
        if &kind != b"trak" {
            continue;
        }
        let tkhd = child(trak, b"tkhd");
        let id = u32_at(tkhd, if tkhd[0] == 1 { 20 } else { 12 });
        let mdia = child(trak, b"mdia");
        let mdhd = child(mdia, b"mdhd");
        let timescale = u32_at(mdhd, if mdhd[0] == 1 { 20 } else { 12 });
        let video = &child(mdia, b"hdlr")[8..12] == b"vide";
        tracks.insert(id, InitTrack { video, timescale });
    }
    tracks
}

/// One `traf` of a part.
#[derive(Debug)]
struct Traf {
    track_id: u32,
    base: u64,
    durations: u64,
    first_flags: u32,
}

/// `moof` + `mdat` pairs: the track fragments, each `mdat` exactly as long as its samples.
fn walk_part(data: &[u8]) -> Vec<Traf> {
    let top = boxes(data);
    assert!(!top.is_empty() && top.len() % 2 == 0);
    let mut out = Vec::new();
    for pair in top.chunks(2) {
        assert_eq!((&pair[0].0, &pair[1].0), (b"moof", b"mdat"));
        let traf = child(pair[0].1, b"traf");
        let track_id = u32_at(child(traf, b"tfhd"), 4);
        let tfdt = child(traf, b"tfdt");
        let base = if tfdt[0] == 1 {
            u64_at(tfdt, 4)
        } else {
            u64::from(u32_at(tfdt, 4))
        };
        let trun = child(traf, b"trun");
        let flags = u32_at(trun, 0) & 0xff_ffff;
        assert_eq!(
            flags & 0x701,
            0x701,
            "trun with offset, durations, sizes, flags"
        );
        let count = u32_at(trun, 4) as usize;
        assert_eq!(u32_at(trun, 8) as usize, pair[0].1.len() + 16);
        let entry = if flags & 0x800 != 0 { 16 } else { 12 };
        let (mut durations, mut size) = (0, 0);
        for i in 0..count {
            let at = 12 + i * entry;
            durations += u64::from(u32_at(trun, at));
            size += u32_at(trun, at + 4) as usize;
        }
        assert_eq!(size, pair[1].1.len(), "mdat holds the samples");
        out.push(Traf {
            track_id,
            base,
            durations,
            first_flags: u32_at(trun, 20),
        });
    }
    out
}

// ---- the checker ----

#[derive(Debug, Default)]
struct Segment {
    parts: Vec<f64>,
    duration_ms: f64,
    /// The init this segment follows, by its index.
    init: usize,
    /// Its first part starts with a keyframe.
    independent: bool,
    /// Parts of it without a video fragment, where its init has video.
    parts_without_video: usize,
}

/// Checks the events' order, the bytes and the times, and returns the inits'
/// infos and the segments. Rules: an init first, and only between segments;
/// consecutive sequence numbers; each part starts where the previous one ended;
/// parts add up to their segment; the main track's `trun` durations add up to
/// the part's duration and its `tfdt`s follow each other; a segment's first part
/// starts with a keyframe and `independent` says whether each part does.
fn check(events: &[SegmentEvent]) -> (Vec<TrackInfo>, Vec<Segment>) {
    let (inits, segments) = check_any(events);
    for (i, s) in segments.iter().enumerate() {
        assert!(s.independent, "segment {i} does not start with a keyframe");
    }
    (inits, segments)
}

/// [`check`], but a segment may start with a picture that is not a keyframe.
fn check_any(events: &[SegmentEvent]) -> (Vec<TrackInfo>, Vec<Segment>) {
    let mut inits = Vec::new();
    let mut tracks = HashMap::new();
    let mut segments: Vec<Segment> = Vec::new();
    let mut open: Option<(u64, f64, Segment)> = None;
    let mut next_start = 0.0;
    let mut next_base: HashMap<u32, u64> = HashMap::new();
    for e in events {
        match e {
            SegmentEvent::Init { data, mime, info } => {
                assert!(open.is_none(), "init inside a segment");
                tracks = walk_init(data);
                assert_eq!(mime.starts_with("video/"), tracks.values().any(|t| t.video));
                next_base.clear();
                inits.push(info.clone());
            }
            SegmentEvent::SegmentStart { sequence, start_ms } => {
                assert!(open.is_none(), "segment inside a segment");
                assert!(!inits.is_empty(), "segment before an init");
                assert_eq!(*sequence, segments.len() as u64);
                let init = inits.len() - 1;
                open = Some((
                    *sequence,
                    *start_ms,
                    Segment {
                        init,
                        ..Default::default()
                    },
                ));
                next_start = *start_ms;
            }
            SegmentEvent::Part {
                data,
                start_ms,
                duration_ms,
                independent,
            } => {
                let (_, _, seg) = open.as_mut().expect("part outside a segment");
                assert!(
                    (start_ms - next_start).abs() < 1e-6,
                    "{start_ms} after {next_start}"
                );
                next_start = start_ms + duration_ms;
                let has_video = tracks.values().any(|t| t.video);
                let mut main_ms = 0.0;
                let mut first_video = None;
                for traf in walk_part(data) {
                    let track = tracks[&traf.track_id];
                    if let Some(base) = next_base.get(&traf.track_id) {
                        assert_eq!(traf.base, *base, "track {} has a hole", traf.track_id);
                    }
                    next_base.insert(traf.track_id, traf.base + traf.durations);
                    if track.video == has_video {
                        main_ms += traf.durations as f64 * 1000.0 / f64::from(track.timescale);
                    }
                    if track.video && first_video.is_none() {
                        first_video = Some(traf.first_flags == SYNC_FLAGS);
                    }
                }
                // (A part without the main track, e.g. the audio that outlasts
                // the video at the end, is measured by its other fragments.)
                if main_ms > 0.0 {
                    assert!(
                        (main_ms - duration_ms).abs() < 1e-6,
                        "{main_ms} vs {duration_ms}"
                    );
                }
                assert_eq!(*independent, !has_video || first_video == Some(true));
                if seg.parts.is_empty() {
                    seg.independent = *independent;
                }
                if has_video && first_video.is_none() {
                    seg.parts_without_video += 1;
                }
                seg.parts.push(*duration_ms);
            }
            SegmentEvent::SegmentEnd {
                sequence,
                duration_ms,
            } => {
                let (open_sequence, _, mut seg) = open.take().expect("end outside a segment");
                assert_eq!(*sequence, open_sequence);
                assert!(!seg.parts.is_empty());
                let sum: f64 = seg.parts.iter().sum();
                assert!((sum - duration_ms).abs() < 1e-6, "{sum} vs {duration_ms}");
                seg.duration_ms = *duration_ms;
                segments.push(seg);
            }
        }
    }
    assert!(open.is_none(), "flush left a segment open");
    (inits, segments)
}

// ---- tests ----

#[test]
fn ffmpeg_capture_is_cut_at_keyframes_into_parts_that_add_up() {
    let tags = capture_looped(4);
    let options = SegmentOptions {
        target_ms: 2000,
        part_ms: 500,
        longest_ms: None,
        live_playlist: false,
    };
    let events = run(options, &tags);
    let (inits, segments) = check(&events);
    assert_eq!(inits.len(), 1);
    assert_eq!(inits[0].codec, "avc1.f4000d, mp4a.40.2");
    // A keyframe each second: a segment every other one.
    let durations: Vec<u32> = segments
        .iter()
        .map(|s| s.duration_ms.round() as u32)
        .collect();
    assert_eq!(durations, [2000; 4]);
    // Parts never overrun 500 ms: 12 frames (480 ms), then what is left before the keyframe.
    for s in &segments {
        let parts: Vec<u32> = s.parts.iter().map(|p| p.round() as u32).collect();
        assert_eq!(parts, [480, 480, 480, 480, 80]);
    }
    // The init and every part, concatenated, read back as a fragmented MP4 file:
    // every video frame is there.
    let mut file = Vec::new();
    for e in &events {
        match e {
            SegmentEvent::Init { data, .. } | SegmentEvent::Part { data, .. } => {
                file.extend_from_slice(data)
            }
            _ => {}
        }
    }
    let back = crate::mp4::to_flv_tags(&file).expect("init + parts are a fragmented MP4");
    let frames = |tags: &[Tag]| {
        tags.iter()
            .filter(|t| t.tag_type == TagType::Video && t.data.get(1) == Some(&1))
            .count()
    };
    assert_eq!(frames(&back), frames(&tags));
    assert_eq!(frames(&back), 200);
}

/// A live playlist's segment is shared out evenly between its parts, the keyframes'
/// distance foreseeing its end: no last part of two frames (which hls.js, on a busy
/// core, took for its whole segment, and stood still for seconds). A recording's
/// parts are as long as they can be.
#[test]
fn a_live_playlists_parts_share_their_segment_evenly() {
    let tags = capture_looped(3);
    let parts_of = |part_ms: u32, live_playlist: bool| -> Vec<Vec<u32>> {
        let options = SegmentOptions {
            target_ms: 2000,
            part_ms,
            longest_ms: None,
            live_playlist,
        };
        let (_, segments) = check(&run(options, &tags));
        assert_part_floor(&segments);
        segments
            .iter()
            .map(|s| s.parts.iter().map(|p| p.round() as u32).collect())
            .collect()
    };
    // The first segment's end is foreseen at the target until its second keyframe.
    let live = parts_of(333, true);
    assert_eq!(live, [[320, 280, 280, 280, 280, 280, 280]; 3]);
    for parts in parts_of(333, false) {
        assert_eq!(parts, [320, 320, 320, 320, 320, 320, 80]);
    }
    // Parts of at most 250 ms: shared, 240 and 200 (5 pictures under 85 % of 6, RFC
    // 8216bis's floor under PART-TARGET); so full parts, and a short last one.
    for parts in parts_of(250, true) {
        assert_eq!(parts, [240, 240, 240, 240, 240, 240, 240, 240, 80]);
    }
}

/// The mangler's `duplicate-timestamps`: every 4th inter picture at the time of the one
/// before it. Its steps (0 then 80 ms) are shared (40 and 40): measured one by one, the
/// step after each pair made the pictures' interval seem 80 ms half the time, and the
/// parts, shared on it, came out 200 and 240 ms long, under 85 % of each other.
#[test]
fn pictures_that_share_a_timestamp_share_the_step_after_it() {
    let mut tags = capture_looped(3);
    let (mut inter, mut last) = (0, 0);
    for t in tags.iter_mut() {
        if t.tag_type == TagType::Video && t.data.get(1) == Some(&1) {
            if t.data[0] >> 4 == 2 {
                inter += 1;
                if inter % 4 == 0 {
                    t.timestamp = last;
                }
            }
            last = t.timestamp;
        }
    }
    let options = SegmentOptions {
        target_ms: 1000,
        part_ms: 250,
        longest_ms: None,
        live_playlist: true,
    };
    let (_, segments) = check_any(&run(options, &tags));
    assert_eq!(segments.len(), 6, "{segments:?}");
    assert_part_floor(&segments);
}

/// RFC 8216bis §4.4.4.9: every part but an independent one and a segment's last lasts
/// 85 % of `PART-TARGET`, the longest part (to the millisecond, as a playlist writes).
fn assert_part_floor(segments: &[Segment]) {
    let longest = segments
        .iter()
        .flat_map(|s| &s.parts)
        .fold(0.0, |a: f64, &p| a.max(p));
    for s in segments {
        let Some((_, before_last)) = s.parts.split_last() else {
            continue;
        };
        let skip = usize::from(s.independent);
        for &p in before_last.iter().skip(skip) {
            assert!(
                p + 1.0 >= 0.85 * longest,
                "{p} ms of {longest}: {segments:?}"
            );
        }
    }
}

#[test]
fn audio_only_segments_end_at_the_first_frame_past_the_target() {
    let mut tags = vec![aac_header(0, &ASC_44100_MONO)];
    tags.extend(aac_frames(0, 5000, 44100));
    let options = SegmentOptions {
        target_ms: 1000,
        part_ms: 250,
        longest_ms: None,
        live_playlist: false,
    };
    let events = run(options, &tags);
    let (inits, segments) = check(&events);
    assert_eq!(inits.len(), 1);
    assert!(inits[0].codec.starts_with("mp4a.40.2"));
    assert_eq!(segments.len(), 5);
    let frame_ms = 1024.0 * 1000.0 / 44100.0;
    for s in &segments[..4] {
        // At or after the target, by less than a frame.
        assert!(s.duration_ms >= 1000.0 - 1.0 && s.duration_ms < 1000.0 + frame_ms);
        // Parts of 10 frames (232 ms), not 11 (255 ms, past 250).
        assert_eq!(s.parts.len(), 5);
        assert!(s.parts.iter().all(|&p| p <= 250.0), "{:?}", s.parts);
    }
    let total: f64 = segments.iter().map(|s| s.duration_ms).sum();
    assert!((total - (tags.len() - 1) as f64 * frame_ms).abs() < 1e-6);
    let independent = events
        .iter()
        .filter(|e| matches!(e, SegmentEvent::Part { .. }))
        .all(|e| {
            matches!(
                e,
                SegmentEvent::Part {
                    independent: true,
                    ..
                }
            )
        });
    assert!(independent);
}

#[test]
fn an_audio_configuration_change_re_inits_and_starts_a_segment() {
    let mut tags = vec![aac_header(0, &ASC_44100_MONO)];
    tags.extend(aac_frames(0, 2500, 44100));
    tags.push(aac_header(2500, &ASC_48000_STEREO));
    tags.extend(aac_frames(2500, 2500, 48000));
    let options = SegmentOptions {
        target_ms: 2000,
        part_ms: 500,
        longest_ms: None,
        live_playlist: false,
    };
    let events = run(options, &tags);
    let (inits, segments) = check(&events);
    assert_eq!(inits.len(), 2);
    assert_eq!((inits[0].sample_rate, inits[0].channels), (44100, 1));
    assert_eq!((inits[1].sample_rate, inits[1].channels), (48000, 2));
    // 0–2 s, 2–2.5 s (ended by the change), 2.5–5 s (at least 2 s, then the rest).
    let inits_of: Vec<usize> = segments.iter().map(|s| s.init).collect();
    assert_eq!(inits_of, [0, 0, 1, 1]);
    assert!((segments[1].duration_ms - 500.0).abs() < 25.0);
    let second = events
        .iter()
        .position(|e| matches!(e, SegmentEvent::Init { .. }) && e != &events[0]);
    assert!(matches!(
        second.map(|i| &events[i - 1]),
        Some(SegmentEvent::SegmentEnd { sequence: 1, .. })
    ));
}

#[test]
fn a_new_picture_size_re_inits_at_a_keyframe_and_segments_follow_keyframes() {
    // 25 fps, a keyframe every 400 ms; 320x240 for 3 s, then 640x480.
    let mut tags = vec![avc_header(0, 20, 15)];
    for i in 0..150u32 {
        if i == 75 {
            tags.push(avc_header(i * 40, 40, 30));
        }
        tags.push(avc_frame(i * 40, 0, i % 10 == 0));
    }
    let options = SegmentOptions {
        target_ms: 1000,
        part_ms: 200,
        longest_ms: None,
        live_playlist: false,
    };
    let events = run(options, &tags);
    let (inits, segments) = check(&events);
    let sizes: Vec<(u32, u32)> = inits.iter().map(|i| (i.width, i.height)).collect();
    assert_eq!(sizes, [(320, 240), (640, 480)]);
    // The change comes at frame 75 (3 s), not a keyframe: the new configuration
    // starts with the keyframe at 3.2 s, which the remuxer places where the old
    // frames ended (3 s: no hole), so the new init's first part is 3.0–3.4.
    // Segments: 0–1.2, 1.2–2.4, 2.4–3.0 | 3.0–4.0, 4.0–5.2, 5.2–6.0.
    let durations: Vec<u32> = segments
        .iter()
        .map(|s| s.duration_ms.round() as u32)
        .collect();
    assert_eq!(durations, [1200, 1200, 600, 1000, 1200, 800]);
    let inits_of: Vec<usize> = segments.iter().map(|s| s.init).collect();
    assert_eq!(inits_of, [0, 0, 0, 1, 1, 1]);
    let parts: Vec<u32> = segments
        .iter()
        .flat_map(|s| s.parts.iter().map(|p| p.round() as u32))
        .collect();
    let mut expected = vec![200; 15];
    expected.push(400);
    expected.extend([200; 13]);
    assert_eq!(parts, expected);
}

/// Each part's (video, audio) spans in ms, from its `tfdt`s and `trun` durations.
type Span = Option<(f64, f64)>;

fn part_spans(events: &[SegmentEvent]) -> Vec<(Span, Span)> {
    let mut tracks = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        match e {
            SegmentEvent::Init { data, .. } => tracks = walk_init(data),
            SegmentEvent::Part { data, .. } => {
                let (mut video, mut audio) = (None, None);
                for traf in walk_part(data) {
                    let t = tracks[&traf.track_id];
                    let ms = |ticks: u64| ticks as f64 * 1000.0 / f64::from(t.timescale);
                    let span = Some((ms(traf.base), ms(traf.base + traf.durations)));
                    *(if t.video { &mut video } else { &mut audio }) = span;
                }
                out.push((video, audio));
            }
            _ => {}
        }
    }
    out
}

/// 25 fps with a keyframe each second and AAC at 44.1 kHz, for `ms`; each audio
/// tag sent as if `audio_late_ms` later than its timestamp (early if negative).
fn interleaved(ms: u32, audio_late_ms: i64) -> Vec<Tag> {
    let mut timed: Vec<(i64, Tag)> = (0..ms / 40)
        .map(|i| (i64::from(i * 40), avc_frame(i * 40, 0, i % 25 == 0)))
        .chain(
            aac_frames(0, ms, 44100)
                .into_iter()
                .map(|t| (i64::from(t.timestamp) + audio_late_ms, t)),
        )
        .collect();
    timed.sort_by_key(|(at, _)| *at);
    let mut tags = vec![avc_header(0, 20, 15), aac_header(0, &ASC_44100_MONO)];
    tags.extend(timed.into_iter().map(|(_, t)| t));
    tags
}

#[test]
fn each_parts_sound_starts_and_ends_with_its_picture_however_the_source_interleaves() {
    let options = SegmentOptions {
        target_ms: 2000,
        part_ms: 333,
        longest_ms: None,
        live_playlist: false,
    };
    for late in [-50, 0, 7, 30, 90] {
        let tags = interleaved(10_000, late);
        let events = run(options, &tags);
        let (_, segments) = check(&events);
        assert_eq!(segments.len(), 5, "audio {late} ms late");
        let spans = part_spans(&events);
        // Every part but the last (flushed) has both tracks, the sound from where
        // the picture starts to at least where it ends (less than a frame more).
        for (i, span) in spans[..spans.len() - 1].iter().enumerate() {
            let (Some((v0, v1)), Some((a0, a1))) = *span else {
                panic!("part {i} lacks a track: {span:?} (audio {late} ms late)");
            };
            let frame = 1024.0 * 1000.0 / 44100.0;
            assert!(
                a0 >= v0 - 1e-6 && a0 < v0 + frame,
                "part {i}: {span:?}, {late} ms"
            );
            assert!(
                a1 >= v1 - 1e-6 && a1 < v1 + frame,
                "part {i}: {span:?}, {late} ms"
            );
        }
        // No sound is lost: the audio spans follow each other from 0 to the end.
        let audio: Vec<(f64, f64)> = spans.iter().filter_map(|s| s.1).collect();
        assert_eq!(audio[0].0, 0.0);
        for pair in audio.windows(2) {
            assert!((pair[1].0 - pair[0].1).abs() < 1e-6, "{pair:?}");
        }
    }
}

/// How long after its end each part comes out, in ms of video fed.
fn part_delays(options: SegmentOptions, tags: &[Tag]) -> Vec<f64> {
    let mut s = Segmenter::new(options);
    let (mut newest_video, mut delays) = (0.0, Vec::new());
    for t in tags {
        if t.tag_type == TagType::Video {
            newest_video = f64::from(t.timestamp);
        }
        s.feed(t);
        while let Some(e) = s.poll_event() {
            if let SegmentEvent::Part {
                start_ms,
                duration_ms,
                ..
            } = e
            {
                delays.push(newest_video - (start_ms + duration_ms));
            }
        }
    }
    delays
}

#[test]
fn a_part_waits_for_late_sound_only_while_it_comes_within_a_part() {
    let options = SegmentOptions {
        target_ms: 2000,
        part_ms: 333,
        longest_ms: None,
        live_playlist: false,
    };
    // Audio 30 ms late comes before the next video frame; 90 ms late, parts wait
    // for it, no longer.
    let delays = part_delays(options, &interleaved(10_000, 30));
    assert!(delays.iter().all(|&d| d == 0.0), "{delays:?}");
    let delays = part_delays(options, &interleaved(10_000, 90));
    assert!(delays.iter().all(|&d| d <= 90.0), "{delays:?}");
    assert!(delays.iter().any(|&d| d > 0.0), "{delays:?}");
    // Audio 500 ms late: the first part goes before any sound came, the second
    // waits a part's worth and gives up; the held ones catch up, and from then on
    // parts go out as their video ends.
    let delays = part_delays(options, &interleaved(10_000, 500));
    assert!(delays[1] > 333.0, "{delays:?}");
    assert!(delays[3..].iter().all(|&d| d == 0.0), "{delays:?}");
}

#[test]
fn sound_before_the_first_picture_is_left_out_and_sound_that_stops_holds_nothing_up() {
    // As a channel's start burst comes: the keyframe at 1 s first, then the sound
    // from 0.9 s on, interleaved; after 4 s, video only: the parts go on, each cut
    // within a part's worth of video after its sound stopped coming.
    let options = SegmentOptions {
        target_ms: 2000,
        part_ms: 333,
        longest_ms: None,
        live_playlist: false,
    };
    let shifted = |mut t: Tag, ms: u32| {
        t.timestamp += ms;
        t
    };
    let mut tags = vec![avc_header(0, 20, 15), aac_header(0, &ASC_44100_MONO)];
    let mut rest: Vec<Tag> = (0..150u32)
        .map(|i| avc_frame(1000 + i * 40, 0, i % 25 == 0))
        .chain(
            aac_frames(0, 3100, 44100)
                .into_iter()
                .map(|t| shifted(t, 900)),
        )
        .collect();
    rest.sort_by_key(|t| (t.timestamp, t.tag_type == TagType::Audio));
    let keyframe = rest
        .iter()
        .position(|t| t.tag_type == TagType::Video)
        .unwrap();
    tags.push(rest.remove(keyframe));
    tags.extend(rest);
    let events = run(options, &tags);
    let (_, segments) = check(&events);
    let spans = part_spans(&events);
    let (Some((v0, _)), Some((a0, _))) = spans[0] else {
        panic!("first part {:?}", spans[0]);
    };
    assert!(a0 >= v0 - 1e-6, "sound before the picture: {:?}", spans[0]);
    let total: f64 = segments.iter().map(|s| s.duration_ms).sum();
    assert!((total - 6000.0).abs() < 1e-6, "{total}");
    assert!(segments.iter().all(|s| s.parts.iter().all(|&p| p <= 333.0)));
}

/// [`capture_looped`] with its pictures from `from_ms` until `to_ms` left out, while
/// its sound goes on (`to_ms` a keyframe's time: the pictures after decode).
fn video_hole(times: u32, from_ms: u32, to_ms: u32) -> Vec<Tag> {
    capture_looped(times)
        .into_iter()
        .filter(|t| {
            let coded = t.tag_type == TagType::Video && t.data.get(1) == Some(&1);
            !(coded && (from_ms..to_ms).contains(&t.timestamp))
        })
        .collect()
}

/// The video frames of a fragmented MP4, read back: their decode and presentation times.
fn video_times(events: &[SegmentEvent]) -> Vec<(u32, i64)> {
    let mut file = Vec::new();
    for e in events {
        if let SegmentEvent::Init { data, .. } | SegmentEvent::Part { data, .. } = e {
            file.extend_from_slice(data);
        }
    }
    crate::mp4::to_flv_tags(&file)
        .expect("init + parts are a fragmented MP4")
        .iter()
        .filter(|t| t.tag_type == TagType::Video && t.data.get(1) == Some(&1))
        .map(|t| {
            let cts = i32::from_be_bytes([0, t.data[2], t.data[3], t.data[4]]) << 8 >> 8;
            (t.timestamp, i64::from(t.timestamp) + i64::from(cts))
        })
        .collect()
}

#[test]
fn a_video_hole_is_filled_with_repeated_pictures_that_parts_and_segments_end_among() {
    // Keyframes each second; the pictures after 2.56 s stop until the keyframe at 5 s.
    let tags = video_hole(4, 2600, 5000);
    let source = tags
        .iter()
        .filter(|t| t.tag_type == TagType::Video && t.data.get(1) == Some(&1))
        .count();
    for live_playlist in [true, false] {
        let options = SegmentOptions {
            target_ms: 1000,
            part_ms: 300,
            longest_ms: Some(10_000),
            live_playlist,
        };
        let events = run(options, &tags);
        let (_, segments) = check_any(&events);
        // Parts of 7 pictures (280 ms) at most through the hole as around it, each
        // with video.
        for (i, s) in segments.iter().enumerate() {
            assert!(s.parts.iter().all(|&p| p <= 300.0), "{i}: {:?}", s.parts);
            assert_eq!(s.parts_without_video, 0, "{i}: {:?}", s.parts);
        }
        // A repeat every 40 ms from 2.6 s to 4.96 s, each presented after every picture
        // before it (a B pyramid's: up to 2.72 s), and before every one after.
        let times = video_times(&events);
        assert_eq!(times.len(), source + 60, "live_playlist {live_playlist}");
        let repeats = |t: &&(u32, i64)| (2600..=4960).contains(&t.0);
        let pts = |f: &dyn Fn(&&(u32, i64)) -> bool| -> Vec<i64> {
            times.iter().filter(f).map(|t| t.1).collect()
        };
        let (before, held) = (pts(&|t| t.0 < 2600), pts(&repeats));
        let after = pts(&|t| t.0 > 4960);
        assert_eq!(held.len(), 60);
        assert!(held.windows(2).all(|w| w[1] > w[0]), "{held:?}");
        let (first, last) = (held[0], held[59]);
        assert!(before.iter().all(|&p| p < first), "{first} {before:?}");
        assert!(after.iter().all(|&p| p > last), "{last} {after:?}");
        let durations: Vec<u32> = segments
            .iter()
            .map(|s| s.duration_ms.round() as u32)
            .collect();
        let independent: Vec<bool> = segments.iter().map(|s| s.independent).collect();
        if live_playlist {
            // No segment longer than the target: the one from 2 s ends at 3 s among the
            // repeats, and the next starts with one, not independent.
            assert_eq!(durations, [1000; 8], "{durations:?}");
            // Each in four parts (25 pictures shared evenly): the first, whose second
            // keyframe has not come yet, and those in and after the hole too. Before,
            // where the keyframes' distance was not known yet, or measured across the
            // hole (3 s for 1 s), the first segment was [280, 280, 280, 160].
            for s in &segments {
                let parts: Vec<u32> = s.parts.iter().map(|p| p.round() as u32).collect();
                assert_eq!(parts, [280, 240, 240, 240], "{segments:?}");
            }
            assert_part_floor(&segments);
            let t = [true, true, true, false, false, true, true, true];
            assert_eq!(independent, t);
        } else {
            // A recording's: the segment waits for the next keyframe.
            assert_eq!(
                durations,
                [1000, 1000, 3000, 1000, 1000, 1000],
                "{durations:?}"
            );
            assert!(independent.iter().all(|&i| i));
        }
    }
    // Nothing is repeated where the pictures come: at 25 fps, at 1 fps (the keyframes
    // alone), nor where they come 300 ms after the sound of their time.
    let pictures = |tags: &[Tag]| video_times(&run(SegmentOptions::default(), tags)).len();
    assert_eq!(pictures(&capture_looped(4)), 200);
    let slow: Vec<Tag> = capture_looped(4)
        .into_iter()
        .filter(|t| t.tag_type != TagType::Video || t.data[0] >> 4 == 1)
        .collect();
    assert_eq!(pictures(&slow), 8);
    let mut late = capture_looped(4);
    late.sort_by_key(|t| t.timestamp + if t.tag_type == TagType::Video { 300 } else { 0 });
    assert_eq!(pictures(&late), 200);
}

#[test]
fn sound_that_starts_seconds_after_the_pictures_is_in_a_live_playlists_first_init() {
    // The capture (whose metadata announces both tracks) with its sound, header and
    // all, from 2 s on; or its pictures from 3 s on.
    let late = |kind: TagType, from: u32| -> Vec<Tag> {
        let mut tags: Vec<Tag> = capture_looped(3)
            .into_iter()
            .filter(|t| t.tag_type != kind || t.timestamp >= from)
            .collect();
        let header = capture_looped(1)
            .into_iter()
            .find(|t| t.tag_type == kind && t.data.get(1) == Some(&0))
            .unwrap();
        let at = tags.iter().position(|t| t.tag_type == kind).unwrap();
        tags.insert(
            at,
            Tag {
                timestamp: from,
                ..header
            },
        );
        tags
    };
    let live = SegmentOptions {
        live_playlist: true,
        part_ms: 333,
        ..SegmentOptions::default()
    };
    for (tags, what) in [
        (late(TagType::Audio, 2000), "sound"),
        (late(TagType::Video, 3000), "pictures"),
    ] {
        let (inits, segments) = check(&run(live, &tags));
        assert!(!segments.is_empty());
        let codecs: Vec<&str> = inits.iter().map(|i| i.codec.as_str()).collect();
        assert_eq!(codecs, ["avc1.f4000d, mp4a.40.2"], "{what} late");
        // What came during the wait is cut into parts as anything after.
        let parts: Vec<f64> = segments.iter().flat_map(|s| s.parts.clone()).collect();
        assert!(
            parts.iter().all(|&p| p <= 333.5),
            "{what} late: parts {parts:?}"
        );
    }
    // Metadata that announces sound that never comes: the pictures wait 5 s, then go
    // out without it, cut into parts all the same.
    let silent: Vec<Tag> = capture_looped(4)
        .into_iter()
        .filter(|t| t.tag_type != TagType::Audio)
        .collect();
    let (inits, segments) = check(&run(live, &silent));
    let codecs: Vec<&str> = inits.iter().map(|i| i.codec.as_str()).collect();
    assert_eq!(codecs, ["avc1.f4000d"]);
    let parts: Vec<f64> = segments.iter().flat_map(|s| s.parts.clone()).collect();
    assert!(parts.iter().all(|&p| p <= 333.5), "parts {parts:?}");
    // MP3 from 2 s on, which no header announces: the first init waits for its first
    // frame, and has it; the pictures before it are cut into parts as any (they were
    // one part of 2 s, held in the remuxer).
    let mp3: Vec<Tag> = capture_looped(3)
        .into_iter()
        .filter(|t| t.tag_type != TagType::Audio)
        .chain(
            h264_and_mp3(3)
                .into_iter()
                .filter(|t| t.tag_type == TagType::Audio && t.timestamp >= 2000),
        )
        .collect::<Vec<_>>();
    let mut mp3 = mp3;
    mp3.sort_by_key(|t| t.timestamp);
    let (inits, segments) = check(&run(live, &mp3));
    let codecs: Vec<&str> = inits.iter().map(|i| i.codec.as_str()).collect();
    assert_eq!(codecs, ["avc1.f4000d, mp4a.6B"]);
    let parts: Vec<f64> = segments.iter().flat_map(|s| s.parts.clone()).collect();
    assert!(
        parts.iter().all(|&p| p <= 333.5),
        "MP3 late: parts {parts:?}"
    );
    // (A recording does not wait: it keeps the sound from before the pictures, which
    // the playlist's first part leaves out; `hls_corpus` checks that it is all there.)
}

#[test]
fn nothing_fed_nothing_out() {
    let mut s = Segmenter::new(SegmentOptions::default());
    s.feed(&aac_header(0, &ASC_44100_MONO));
    s.flush();
    assert_eq!(s.poll_event(), None);
}
