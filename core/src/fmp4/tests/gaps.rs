//! Holes and overlaps: every track's samples follow each other exactly, audio
//! holes are filled with the codec's silence, overlapping audio is dropped.

use proptest::prelude::*;

use super::*;
#[cfg(feature = "flac")]
use crate::codec::hevc::tests::hex;

/// (dts, duration, size) of every sample of `track`, from the fragments' `tfdt`
/// and `trun`s, in order.
pub(super) fn samples(events: &[RemuxEvent], track: Track) -> Vec<(u64, u32, u32)> {
    let mut out = Vec::new();
    for e in events {
        let RemuxEvent::Fragment {
            track: Some(t),
            data,
            ..
        } = e
        else {
            continue;
        };
        if *t != track {
            continue;
        }
        let (mut dts, _) = parse_moof(data);
        let r = find(data, b"trun");
        let stride = if be32(data, r) & 0x800 != 0 { 16 } else { 12 };
        for i in 0..be32(data, r + 4) as usize {
            let at = r + 12 + i * stride;
            let (duration, size) = (be32(data, at), be32(data, at + 4));
            out.push((dts, duration, size));
            dts += u64::from(duration);
        }
    }
    out
}

/// Each sample starts where the previous one ends and lasts at least a tick.
pub(super) fn assert_contiguous(s: &[(u64, u32, u32)]) {
    for w in s.windows(2) {
        assert_eq!(w[0].0 + u64::from(w[0].1), w[1].0, "{s:?}");
    }
    assert!(s.iter().all(|x| x.1 > 0), "{s:?}");
}

pub(super) fn all_events(r: &mut Remuxer, tags: &[Tag]) -> Vec<RemuxEvent> {
    let mut events = run(r, tags);
    r.flush();
    events.extend(std::iter::from_fn(|| r.poll_event()));
    events
}

/// The FLV time of AAC frame `i` at 44.1 kHz.
fn aac_ms(i: u32) -> u32 {
    i * 1024 * 1000 / 44_100
}

#[test]
fn aac_hole_is_filled_with_silent_frames() {
    // The demo's loop seam: three 44.1 kHz stereo frames (70 ms) missing.
    let mut tags = vec![aac_header(0, &[0x12, 0x10])];
    tags.extend((0..10).chain(13..20).map(|i| aac_frame(aac_ms(i))));
    let mut r = per_track();
    let s = samples(&all_events(&mut r, &tags), Track::Audio);
    assert_contiguous(&s);
    assert_eq!(s.len(), 20);
    assert!(s.iter().all(|x| x.1 == 1024));
    let silent = crate::codec::silence::aac(&crate::codec::AacConfig::parse(&[0x12, 0x10]).unwrap())
        .unwrap()
        .len() as u32;
    let sizes: Vec<u32> = s.iter().map(|x| x.2).collect();
    assert_eq!(&sizes[10..13], [silent; 3]);
    assert!(sizes[..10].iter().chain(&sizes[13..]).all(|&n| n == 3));
    let stats = r.stats();
    assert_eq!((stats.gaps_filled, stats.gap_ms_filled), (1, 69));
}

#[test]
fn audio_within_half_a_frame_follows_on_and_an_overlap_is_dropped() {
    let mut r = per_track();
    let tags = [
        aac_header(0, &[0x12, 0x10]),
        aac_frame(0),
        aac_frame(33), // 10 ms late: under half a frame (11.6 ms)
        aac_frame(40), // 6 ms early
        aac_frame(40), // a repeat: a whole frame early, dropped
        aac_frame(aac_ms(3)),
    ];
    let s = samples(&all_events(&mut r, &tags), Track::Audio);
    assert_eq!(
        s.iter().map(|x| x.0).collect::<Vec<_>>(),
        [0, 1024, 2048, 3072]
    );
    let stats = r.stats();
    assert_eq!((stats.dropped, stats.gaps_filled), (1, 0));
}

#[test]
fn a_hole_past_the_bound_restarts_audio_with_a_discontinuity() {
    // An audio-only stream: no video to fill ahead to.
    let mut tags = vec![aac_header(0, &[0x12, 0x10])];
    // Audio stops after 8 frames (185.7 ms) and resumes at frame 108 (2507.7 ms).
    tags.extend((0..8).chain(108..120).map(|i| aac_frame(aac_ms(i))));
    let mut r = per_track();
    let events = all_events(&mut r, &tags);
    let discontinuities: Vec<&RemuxEvent> = events
        .iter()
        .filter(|e| matches!(e, RemuxEvent::Discontinuity { .. }))
        .collect();
    assert_eq!(
        discontinuities,
        [&RemuxEvent::Discontinuity {
            track: Track::Audio,
            from_ms: i64::from(aac_ms(7)),
            to_ms: i64::from(aac_ms(108))
        }]
    );
    let audio = samples(&events, Track::Audio);
    assert_eq!(audio.len(), 20);
    assert_eq!(audio[8].0, (u64::from(aac_ms(108)) * 441 + 5) / 10);
    assert_contiguous(&audio[..8]);
    assert_contiguous(&audio[8..]);
    assert_eq!(r.stats().gaps_filled, 0);
}

#[test]
fn mp3_hole_is_filled_with_silent_frames_of_its_header() {
    let frame = |ts| tag(TagType::Audio, ts, vec![0x2f, 0xff, 0xfb, 0x90, 0x44, 0, 0]);
    let mut r = per_track();
    // 1152-sample frames of 26.1 ms: three missing after the second.
    let events = all_events(&mut r, &[frame(0), frame(26), frame(130), frame(156)]);
    let s = samples(&events, Track::Audio);
    assert_contiguous(&s);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        [
            (1152, 6),
            (1152, 6),
            (1152, 417),
            (1152, 417),
            (1152, 417),
            (1152, 6),
            (1152, 6)
        ]
    );
}

#[cfg(feature = "opus")]
fn opus_tag(ts: u32, coded: bool, payload: &[u8]) -> Tag {
    let mut d = vec![0x90 | u8::from(coded)];
    d.extend_from_slice(b"Opus");
    d.extend_from_slice(payload);
    tag(TagType::Audio, ts, d)
}

#[cfg(feature = "opus")]
#[test]
fn opus_hole_is_filled_to_within_half_a_short_frame() {
    let head = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
    let packet = [0xfc, 0x01, 0x02]; // CELT fullband 20 ms, stereo
    let mut r = per_track();
    let tags = [
        opus_tag(0, false, head),
        opus_tag(0, true, &packet),
        opus_tag(20, true, &packet),
        opus_tag(40, true, &packet),
        opus_tag(107, true, &packet), // 47 ms after the last one ends
    ];
    let s = samples(&all_events(&mut r, &tags), Track::Audio);
    assert_contiguous(&s);
    let durations: Vec<u32> = s.iter().map(|x| x.1).collect();
    assert_eq!(durations, [960, 960, 960, 960, 960, 240, 120, 960]);
    let last = s.last().unwrap().0;
    assert!(last.abs_diff(107 * 48) <= 60, "{last}");
    assert!(s[3..7].iter().all(|x| x.2 == 3));
}

#[cfg(feature = "flac")]
#[test]
fn flac_hole_is_filled_exactly_with_silent_frames() {
    // "fLaC" and the STREAMINFO of ffmpeg's 44.1 kHz stereo stream, flagged last.
    const HEAD: &str =
        "664c6143800000221200120000046d0005080ac442f0000033ae36567c6137e8d578c431ed191fd85ff5";
    let frame = hex("fff85988008a4e000000"); // 4608 samples at 44.1 kHz
    let flac = |ts: u32, coded: bool, payload: &[u8]| {
        let mut d = vec![0x90 | u8::from(coded)];
        d.extend_from_slice(b"fLaC");
        d.extend_from_slice(payload);
        tag(TagType::Audio, ts, d)
    };
    let tags = [
        flac(0, false, &hex(HEAD)),
        flac(0, true, &frame),
        flac(104, true, &frame),
        flac(400, true, &frame),
    ];
    let mut r = per_track();
    let s = samples(&all_events(&mut r, &tags), Track::Audio);
    assert_contiguous(&s);
    // The hole, 8424 samples: blocks of 4608 and its halves.
    let durations: Vec<u32> = s.iter().map(|x| x.1).collect();
    assert_eq!(durations, [4608, 4608, 4608, 2304, 1152, 288, 72, 4608]);
    assert_eq!(s[7].0, 400 * 441 / 10);
    assert_eq!(r.stats().gap_ms_filled, 191);
}

#[cfg(feature = "legacy-audio")]
#[test]
fn a_long_legacy_tag_plays_in_frames_of_40_ms_and_so_does_its_hole() {
    // 16-bit mono PCM at 44.1 kHz in tags of 8192 samples (186 ms, as Flash ADPCM's
    // 4096 at 22 kHz), then one 300 ms late.
    let pcm = |ts: u32| {
        tag(
            TagType::Audio,
            ts,
            [&[0x3e][..], &[0x11; 8192 * 2]].concat(),
        )
    };
    let tags = [pcm(0), pcm(186), pcm(372), pcm(858)];
    let mut r = per_track();
    let s = samples(&all_events(&mut r, &tags), Track::Audio);
    assert_contiguous(&s);
    // Each tag in 5 frames of 1639 samples (the last 1636); the hole in silence no
    // longer, as the stream header's largest block says.
    let durations: Vec<u32> = s.iter().map(|x| x.1).collect();
    assert!(durations.iter().all(|&d| d <= 1764), "{durations:?}");
    assert_eq!(durations[..5], [1639, 1639, 1639, 1639, 1636]);
    assert_eq!(durations[15], 1764, "{durations:?}");
    assert_eq!(r.stats().gaps_filled, 1);
    // The late tag where it belongs, within a millisecond.
    let late = s[s.len() - 5].0;
    assert!(late.abs_diff(858 * 441 / 10) < 44, "{s:?}");
}

#[test]
fn a_codec_without_silence_stretches_a_sample() {
    // AAC whose channels are in a program_config_element: no silence made.
    let mut tags = vec![aac_header(0, &[0x12, 0x00])];
    tags.extend([0, 1, 5].map(|i| aac_frame(aac_ms(i))));
    let at = (u64::from(aac_ms(5)) * 441 + 5) / 10;
    let hole = at as u32 - 2 * 1024;
    // A fragment per frame: the frame after the hole starts where the last ended.
    let mut r = per_track();
    let s = samples(&all_events(&mut r, &tags), Track::Audio);
    assert_contiguous(&s);
    assert_eq!(s[2], (2 * 1024, 1024 + hole, 3));
    assert_eq!(r.stats().gap_ms_filled, 69);
    // Samples still pending: the previous one is stretched.
    let mut r = Remuxer::new(RemuxerOptions {
        fragment: Fragmenting::OnCut,
        ..Default::default()
    });
    let s = samples(&all_events(&mut r, &tags), Track::Audio);
    assert_contiguous(&s);
    assert_eq!(s[1].1, 1024 + hole);
    assert_eq!(s[2].0, at);
}

#[test]
fn video_hole_extends_the_previous_frame() {
    let times = [0, 40, 80, 1080, 1120, 1160];
    let mut tags = vec![avc_header(0, 20, 15)];
    tags.extend(times.iter().map(|&t| avc_frame(t, 0, t == 0)));
    let mut r = Remuxer::new(RemuxerOptions {
        fragment: Fragmenting::OnCut,
        ..Default::default()
    });
    let s = samples(&all_events(&mut r, &tags), Track::Video);
    assert_contiguous(&s);
    assert_eq!(
        s.iter().map(|x| x.1).collect::<Vec<_>>(),
        [40, 40, 1000, 40, 40, 40]
    );
    // A fragment per frame: the frame after the hole covers it; the one-off
    // interval does not become the estimate.
    let events = all_events(&mut per_track(), &tags);
    let s = samples(&events, Track::Video);
    assert_contiguous(&s);
    assert_eq!(
        s.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(),
        [
            (0, 33),
            (33, 47),
            (80, 40),
            (120, 1000),
            (1120, 40),
            (1160, 40)
        ]
    );
    // The frame after the hole is presented where it starts, so the pictures
    // have no hole either; an estimate error moves no picture.
    let cts: Vec<i32> = fragments(&events).iter().map(|f| f.2[0].1).collect();
    assert_eq!(cts, [0, 7, 0, 0, 0, 0]);
}

#[test]
fn sample_rate_change_continues_the_timeline() {
    let mut tags = vec![aac_header(0, &[0x12, 0x10])];
    tags.extend((0..10).map(|i| aac_frame(aac_ms(i))));
    // 48 kHz stereo from the next frame on.
    let mut header = aac_header(0, &[0x11, 0x90]);
    header.timestamp = aac_ms(10);
    tags.push(header);
    tags.extend((0..10).map(|i| aac_frame(aac_ms(10) + i * 1024 * 1000 / 48_000)));
    let events = all_events(&mut per_track(), &tags);
    assert_eq!(inits(&events).len(), 2);
    let s = samples(&events, Track::Audio);
    // 10 frames of 44.1 kHz end at 232.2 ms: 11146 ticks of 48 kHz.
    assert_eq!(s[10].0, 11_146);
    assert_contiguous(&s[10..]);
}

/// What a timestamp does next, relative to the last one.
#[derive(Debug, Clone)]
enum Step {
    Frame,
    Repeat,
    Hole(u32),
    Back(u32),
    Hour,
    Wrap,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Frame),
        1 => Just(Step::Repeat),
        2 => (1u32..3000).prop_map(Step::Hole),
        1 => (1u32..3000).prop_map(Step::Back),
        1 => Just(Step::Hour),
        1 => Just(Step::Wrap),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn any_timestamps_give_contiguous_samples_per_track(
        steps in proptest::collection::vec((any::<bool>(), step(), 0i32..80), 1..120),
        start in any::<u32>(),
        fragmenting in 0..3u8,
        muxed in any::<bool>(),
    ) {
        let mut r = Remuxer::new(RemuxerOptions {
            layout: if muxed { Layout::Muxed } else { Layout::PerTrack },
            fragment: match fragmenting {
                0 => Fragmenting::EveryFrame,
                1 => Fragmenting::Duration(200),
                _ => Fragmenting::OnCut,
            },
            ..RemuxerOptions::default()
        });
        let mut tags = vec![avc_header(0, 20, 15), aac_header(0, &[0x12, 0x10])];
        let mut clock = [start, start];
        for (i, (audio, step, cts)) in steps.iter().enumerate() {
            let c = &mut clock[usize::from(*audio)];
            *c = match step {
                Step::Frame => c.wrapping_add(if *audio { 23 } else { 40 }),
                Step::Repeat => *c,
                Step::Hole(ms) => c.wrapping_add(*ms),
                Step::Back(ms) => c.wrapping_sub(*ms),
                Step::Hour => c.wrapping_add(3_600_000),
                Step::Wrap => c.wrapping_add(u32::MAX - 20),
            };
            tags.push(if *audio { aac_frame(*c) } else { avc_frame(*c, *cts, i % 7 == 0) });
        }
        let mut events = Vec::new();
        for t in &tags {
            r.feed(t);
            if fragmenting == 2 && t.timestamp % 3 == 0 {
                r.cut();
            }
            events.extend(std::iter::from_fn(|| r.poll_event()));
        }
        r.flush();
        events.extend(std::iter::from_fn(|| r.poll_event()));
        for track in [Track::Video, Track::Audio] {
            // Split where audio restarted (a hole past the bound); video never does.
            let mut segment: Vec<(u64, u32, u32)> = Vec::new();
            let mut last_end = 0;
            for e in &events {
                match e {
                    RemuxEvent::Discontinuity { track: Track::Audio, .. } if track == Track::Audio => {
                        segment.clear();
                    }
                    RemuxEvent::Fragment { track: Some(t), .. } if *t == track => {
                        for s in samples(std::slice::from_ref(e), track) {
                            prop_assert!(s.1 > 0, "zero duration");
                            prop_assert!(s.0 >= last_end, "overlap at {}: {:?}", s.0, segment.last());
                            if let Some(prev) = segment.last() {
                                prop_assert_eq!(prev.0 + u64::from(prev.1), s.0, "hole");
                            }
                            last_end = s.0 + u64::from(s.1);
                            segment.push(s);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn a_32_bit_wrap_seen_first_by_audio_keeps_both_tracks_in_step() {
    let start = u32::MAX - 500;
    let mut tags = vec![avc_header(0, 20, 15), aac_header(0, &[0x12, 0x10])];
    // Audio 10 ms ahead of video in the interleaving: it wraps first.
    for i in 0..25u32 {
        tags.push(aac_frame(start.wrapping_add(aac_ms(2 * i) + 10)));
        tags.push(aac_frame(start.wrapping_add(aac_ms(2 * i + 1) + 10)));
        tags.push(avc_frame(start.wrapping_add(i * 40), 0, i == 0));
    }
    let mut r = per_track();
    let events = all_events(&mut r, &tags);
    let jumps = events
        .iter()
        .filter(|e| matches!(e, RemuxEvent::Discontinuity { .. }))
        .count();
    assert_eq!(jumps, 1);
    let video = samples(&events, Track::Video);
    assert_contiguous(&video);
    // The first interval is learnt at the second frame; then exact, over the wrap.
    assert!(video[2..].iter().all(|s| s.1 == 40), "{video:?}");
    let audio = samples(&events, Track::Audio);
    assert_contiguous(&audio);
    assert_eq!(audio.len(), 50);
    let s = r.stats();
    assert_eq!((s.gaps_filled, s.dropped), (0, 0));
}
