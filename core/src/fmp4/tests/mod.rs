//! Remuxer behaviour: timing here; configuration changes, layouts and robustness in `events`.

use super::*;
use crate::amf;
use crate::flv::{FlvReader, Item};
use crate::test_tags::*;

mod events;
mod gaps;
mod hold;
mod lag;

fn run(r: &mut Remuxer, tags: &[Tag]) -> Vec<RemuxEvent> {
    let mut out = Vec::new();
    for t in tags {
        r.feed(t);
        while let Some(e) = r.poll_event() {
            out.push(e);
        }
    }
    out
}

fn inits(events: &[RemuxEvent]) -> Vec<(Option<Track>, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            RemuxEvent::Init { track, mime, .. } => Some((*track, mime.clone())),
            _ => None,
        })
        .collect()
}

/// (track, tfdt, per-sample (duration, cts)) of a fragment.
type Parsed = (Option<Track>, u64, Vec<(u32, i32)>);

fn fragments(events: &[RemuxEvent]) -> Vec<Parsed> {
    events
        .iter()
        .filter_map(|e| match e {
            RemuxEvent::Fragment { track, data, .. } => Some((*track, parse_moof(data))),
            _ => None,
        })
        .map(|(t, (tfdt, s))| (t, tfdt, s))
        .collect()
}

fn find(data: &[u8], fourcc: &[u8; 4]) -> usize {
    data.windows(4)
        .position(|w| w == fourcc)
        .expect("box present")
        + 4
}

fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

fn parse_moof(d: &[u8]) -> (u64, Vec<(u32, i32)>) {
    let t = find(d, b"tfdt");
    let tfdt = u64::from(be32(d, t + 4)) << 32 | u64::from(be32(d, t + 8));
    let r = find(d, b"trun");
    let flags = be32(d, r) & 0xffffff;
    let n = be32(d, r + 4) as usize;
    let stride = if flags & 0x800 != 0 { 16 } else { 12 };
    let samples = (0..n)
        .map(|i| {
            let at = r + 12 + i * stride;
            let cts = if stride == 16 {
                be32(d, at + 12) as i32
            } else {
                0
            };
            (be32(d, at), cts)
        })
        .collect();
    (tfdt, samples)
}

fn per_track() -> Remuxer {
    Remuxer::new(RemuxerOptions::default())
}

#[test]
fn ffmpeg_file_gives_one_init_per_track_and_a_fragment_per_frame() {
    let tags = h264_aac_tags();
    let mut r = per_track();
    let mut events = run(&mut r, &tags);
    r.flush();
    while let Some(e) = r.poll_event() {
        events.push(e);
    }
    let i = inits(&events);
    assert_eq!(i.len(), 2, "{i:?}");
    assert!(
        i.contains(&(
            Some(Track::Video),
            "video/mp4; codecs=\"avc1.f4000d\"".into()
        )),
        "{i:?}"
    );
    assert!(i.contains(&(Some(Track::Audio), "audio/mp4; codecs=\"mp4a.40.2\"".into())));
    let f = fragments(&events);
    assert_eq!(f.iter().filter(|f| f.0 == Some(Track::Video)).count(), 50);
    assert_eq!(f.iter().filter(|f| f.0 == Some(Track::Audio)).count(), 88);
    assert!(events.iter().any(|e| matches!(e, RemuxEvent::Metadata(_))));
    assert!(!events.iter().any(|e| matches!(e, RemuxEvent::Error { .. })));
    let RemuxEvent::Init { info, .. } = events
        .iter()
        .find(|e| {
            matches!(
                e,
                RemuxEvent::Init {
                    track: Some(Track::Video),
                    ..
                }
            )
        })
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!((info.width, info.height), (320, 240));
    let s = r.stats();
    assert_eq!((s.fragments_out, s.samples_out, s.dropped), (138, 138, 0));
}

/// The tags of the ffmpeg capture in `testdata/`.
fn h264_aac_tags() -> Vec<Tag> {
    let mut reader = FlvReader::new();
    reader.feed(include_bytes!("../../../../testdata/h264_aac.flv"));
    let mut tags = Vec::new();
    while let Ok(Some(item)) = reader.poll_item() {
        if let Item::Tag(t) = item {
            tags.push(t);
        }
    }
    tags
}

/// Each sample's (track, decode time, cts offset), from the fragments' `tfdt` and durations.
fn sample_times(events: &[RemuxEvent]) -> Vec<(Option<Track>, u64, i32)> {
    let mut out = Vec::new();
    for (track, tfdt, samples) in fragments(events) {
        let mut dts = tfdt;
        for (duration, cts) in samples {
            out.push((track, dts, cts));
            dts += u64::from(duration);
        }
    }
    out.sort_by_key(|&(t, dts, _)| (t == Some(Track::Audio), dts));
    out
}

#[test]
fn on_cut_makes_a_fragment_per_track_per_cut_with_every_frame_in_place() {
    let tags = h264_aac_tags();
    let mut every = per_track();
    let expected = run(&mut every, &tags);
    let mut r = Remuxer::new(RemuxerOptions {
        layout: Layout::PerTrack,
        fragment: Fragmenting::OnCut,
        ..RemuxerOptions::default()
    });
    let mut events = Vec::new();
    for batch in tags.chunks(10) {
        let got = run(&mut r, batch);
        assert!(fragments(&got).is_empty(), "nothing before the cut");
        events.extend(got);
        r.cut();
        let cut: Vec<RemuxEvent> = std::iter::from_fn(|| r.poll_event()).collect();
        let f = fragments(&cut);
        assert!(
            f.iter().filter(|f| f.0 == Some(Track::Video)).count() <= 1
                && f.iter().filter(|f| f.0 == Some(Track::Audio)).count() <= 1,
            "{f:?}"
        );
        events.extend(cut);
    }
    assert_eq!(inits(&events), inits(&expected));
    assert_eq!(sample_times(&events), sample_times(&expected));
    assert!(fragments(&events).len() < fragments(&expected).len() / 3);
}

/// Two pictures with one timestamp (a publisher's clock that stood still) while both
/// wait for a cut: the second goes a tick later and is presented there, not at the
/// first one's time, which Media Source Extensions would take for a replacement of it
/// (and drop what is predicted from it).
#[test]
fn a_repeated_timestamp_is_never_a_repeated_presentation_time() {
    let mut r = Remuxer::new(RemuxerOptions {
        layout: Layout::Muxed,
        fragment: Fragmenting::OnCut,
        ..RemuxerOptions::default()
    });
    let tags = [
        avc_header(0, 20, 15),
        avc_frame(0, 0, true),
        avc_frame(40, 0, false),
        avc_frame(80, 0, false),
        avc_frame(80, 0, false),
        avc_frame(120, 0, false),
    ];
    let mut events = run(&mut r, &tags);
    r.cut();
    events.extend(std::iter::from_fn(|| r.poll_event()));
    let pts: Vec<i64> = sample_times(&events)
        .iter()
        .map(|&(_, dts, cts)| dts as i64 + i64::from(cts))
        .collect();
    assert_eq!(pts, [0, 40, 80, 81, 120]);
}

#[test]
fn last_sample_is_estimated_and_the_next_fragment_starts_where_it_ends() {
    let mut r = per_track();
    let tags = [
        avc_header(0, 20, 15),
        avc_frame(0, 0, true),
        avc_frame(40, 0, false),
        avc_frame(100, 0, false),
        avc_frame(120, 0, false),
    ];
    let f = fragments(&run(&mut r, &tags));
    // No interval known yet: 1/30 s. Then each sample starts where the last one
    // ended and ends where its successor is expected: its timestamp plus the
    // median of the last three intervals (the shorter of two).
    // Moved by up to half an interval, a picture keeps its presentation time.
    let got: Vec<(u64, u32, i32)> = f.iter().map(|f| (f.1, f.2[0].0, f.2[0].1)).collect();
    assert_eq!(got, [(0, 33, 0), (33, 47, 7), (80, 60, 20), (140, 20, -20)]);
}

#[test]
fn metadata_frame_rate_seeds_the_first_estimate() {
    let mut r = per_track();
    let mut meta = Vec::new();
    amf::amf0::encode_all(
        &[
            "onMetaData".into(),
            Value::object([("framerate", 25.0.into())]),
        ],
        &mut meta,
    );
    let tags = [
        tag(TagType::Script, 0, meta),
        avc_header(0, 20, 15),
        avc_frame(0, 0, true),
    ];
    let f = fragments(&run(&mut r, &tags));
    assert_eq!(f[0].2, [(40, 0)]);
}

#[test]
fn duration_mode_gives_exact_durations_and_b_frame_offsets() {
    let mut r = Remuxer::new(RemuxerOptions {
        fragment: Fragmenting::Duration(200),
        ..Default::default()
    });
    let mut tags = vec![avc_header(0, 20, 15)];
    // I P B B … in decode order: composition offsets 80, 120, 0, 0, …
    for i in 0..10u32 {
        let cts = match i % 3 {
            0 => 40,
            1 => 80,
            _ => -40,
        };
        tags.push(avc_frame(i * 40, cts, i == 0 || i == 5));
    }
    let mut events = run(&mut r, &tags);
    r.flush();
    while let Some(e) = r.poll_event() {
        events.push(e);
    }
    let f = fragments(&events);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].1, 0);
    assert_eq!(f[0].2.len(), 5);
    assert!(f[0].2.iter().all(|s| s.0 == 40));
    assert_eq!(f[0].2[2], (40, -40)); // signed, trun version 1
    assert_eq!(f[1].1, 200);
}

#[test]
fn timestamp_jumps_are_discontinuities_with_a_continuous_timeline() {
    let mut r = per_track();
    let tags = [
        avc_header(0, 20, 15),
        avc_frame(0, 0, true),
        avc_frame(40, 0, false),
        avc_frame(100_000, 0, false),
        avc_frame(100_040, 0, false),
    ];
    let events = run(&mut r, &tags);
    assert!(events.contains(&RemuxEvent::Discontinuity {
        track: Track::Video,
        from_ms: 40,
        to_ms: 100_000
    }));
    let tfdts: Vec<u64> = fragments(&events).iter().map(|f| f.1).collect();
    assert_eq!(tfdts, [0, 33, 80, 120]);

    // The 32-bit wrap of FLV timestamps.
    let mut r = per_track();
    let tags = [
        avc_header(0, 20, 15),
        avc_frame(u32::MAX - 79, 0, true),
        avc_frame(u32::MAX - 39, 0, false),
        avc_frame(0, 0, false),
    ];
    let events = run(&mut r, &tags);
    let tfdts: Vec<u64> = fragments(&events).iter().map(|f| f.1).collect();
    let base = u64::from(u32::MAX - 79);
    assert_eq!(tfdts, [base, base + 33, base + 80]);
}

#[test]
fn late_audio_follows_silence_from_the_video_start_and_a_pause_is_filled() {
    let mut r = per_track();
    let mut tags = vec![avc_header(0, 20, 15), aac_header(0, &[0x12, 0x10])];
    for i in 0..=250u32 {
        tags.push(avc_frame(i * 40, 0, i == 0));
        // Audio starts 4 s in, then pauses for 6 s.
        if i * 40 == 4000 || i * 40 == 10_000 {
            tags.push(aac_frame(i * 40));
        }
    }
    let events = run(&mut r, &tags);
    // The audio init follows the video's, before any audio.
    assert_eq!(
        inits(&events).iter().map(|i| i.0).collect::<Vec<_>>(),
        [Some(Track::Video), Some(Track::Audio)]
    );
    // Neither a jump of the timeline nor a restart: silence keeps the audio up.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, RemuxEvent::Discontinuity { .. }))
    );
    let audio: Vec<u64> = fragments(&events)
        .iter()
        .filter(|f| f.0 == Some(Track::Audio))
        .map(|f| f.1)
        .collect();
    assert_eq!(audio[0], 0);
    // Both real frames near their times (the second within half a frame).
    let frames = audio.iter().filter(|&&t| t % 1024 == 0).count();
    assert!(frames >= 2, "{audio:?}");
}

#[test]
fn audio_runs_on_in_whole_frames_and_a_hole_is_filled_with_silence() {
    let mut r = per_track();
    // 44.1 kHz: a frame is 23.22 ms; FLV rounds timestamps to 23 or 24.
    let mut tags = vec![aac_header(0, &[0x12, 0x10])];
    for i in 0..10u32 {
        tags.push(aac_frame(i * 1024 * 1000 / 44_100));
    }
    tags.push(aac_frame(1000)); // 767 ms later than the next frame: a hole
    let f = fragments(&run(&mut r, &tags));
    let tfdts: Vec<u64> = f.iter().map(|f| f.1).collect();
    let expected: Vec<u64> = (0..11).map(|i| i * 1024).collect();
    assert_eq!(tfdts, expected);
    assert!(f[..10].iter().all(|f| f.2 == [(1024, 0)]));
    // 33 frames of silence, then the frame 68 ticks (1.5 ms) before its time.
    assert_eq!(f[10].2, [(1024, 0); 34]);
    assert_eq!(r.stats().gap_ms_filled, 766);
}

#[test]
fn aac_8k_mono_and_he_aac() {
    let mut r = per_track();
    let events = run(&mut r, &[aac_header(0, &[0x15, 0x88]), aac_frame(0)]);
    let RemuxEvent::Init { info, mime, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(mime, "audio/mp4; codecs=\"mp4a.40.2\"");
    assert_eq!(
        (info.sample_rate, info.channels, info.timescale),
        (8000, 1, 8000)
    );

    let mut r = per_track();
    let events = run(
        &mut r,
        &[
            aac_header(0, &[0x2b, 0x92, 0x08, 0x00]),
            aac_frame(0),
            aac_frame(46),
        ],
    );
    let f = fragments(&events);
    assert_eq!(f[1].1, 2048);
}

#[test]
fn mp3_frames_configure_the_track() {
    let mut r = per_track();
    let frame = |ts| tag(TagType::Audio, ts, vec![0x2f, 0xff, 0xfb, 0x90, 0x44, 0, 0]);
    let events = run(&mut r, &[frame(0), frame(26), frame(52)]);
    assert_eq!(
        inits(&events),
        [(Some(Track::Audio), "audio/mp4; codecs=\"mp4a.6B\"".into())]
    );
    let f = fragments(&events);
    assert_eq!(f.iter().map(|f| f.1).collect::<Vec<_>>(), [0, 1152, 2304]);
    let RemuxEvent::Init { data, .. } = &events[0] else {
        panic!()
    };
    let esds = find(data, b"esds");
    assert_eq!(data[esds + 4 + 5 + 3 + 5], 0x6b);
}
