//! Audio that stops or starts late while video goes on: silence keeps it up.

use proptest::prelude::*;

use super::gaps::{all_events, assert_contiguous, samples};
use super::*;

/// Size of a real frame from `aac_frame`; silence is larger.
const REAL: u32 = 3;

/// The end (ms) of the last audio fragment so far.
fn audio_end(events: &[RemuxEvent]) -> Option<f64> {
    events.iter().rev().find_map(|e| match e {
        RemuxEvent::Fragment {
            track: Some(Track::Audio),
            end_ms,
            ..
        } => Some(*end_ms),
        _ => None,
    })
}

/// Video every 40 ms for `video_ms`, and AAC frames (44.1 kHz) interleaved by
/// timestamp, `skew_ms` behind the video, for the frames `audio` says.
fn stream(video_ms: u32, skew_ms: u32, audio: impl Fn(u32) -> bool) -> Vec<Tag> {
    let mut tags = vec![avc_header(0, 20, 15), aac_header(0, &[0x12, 0x10])];
    let frame = |i: u32| i * 1024 * 1000 / 44_100;
    let mut next = 0;
    for v in (0..video_ms).step_by(40) {
        tags.push(avc_frame(v, 0, v % 2000 == 0));
        while frame(next) + skew_ms <= v {
            if audio(frame(next)) {
                tags.push(aac_frame(frame(next)));
            }
            next += 1;
        }
    }
    tags
}

#[test]
fn video_only_after_audio_stops_keeps_audio_up_within_the_threshold() {
    let tags = stream(12_000, 0, |ms| ms < 2000);
    let mut r = per_track();
    let mut events = Vec::new();
    for t in &tags {
        r.feed(t);
        events.extend(std::iter::from_fn(|| r.poll_event()));
        if t.tag_type == TagType::Video && t.timestamp >= 2000 {
            let end = audio_end(&events).unwrap_or(0.0);
            let lag = f64::from(t.timestamp) - end;
            assert!(
                lag <= FILL_AHEAD_MS as f64 + 24.0,
                "{lag} at {}",
                t.timestamp
            );
        }
    }
    let audio = samples(&events, Track::Audio);
    assert_contiguous(&audio);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, RemuxEvent::Discontinuity { .. }))
    );
    let s = r.stats();
    // Ten seconds of video-only, filled half a second at a time.
    assert!(s.gaps_filled >= 15, "{s:?}");
    assert!(s.gap_ms_filled >= 9000 && s.gap_ms_filled < 10_000, "{s:?}");
    assert_eq!(s.dropped, 0);
}

#[test]
fn audio_starting_2_s_late_follows_silence_from_the_video_start() {
    let tags = stream(5000, 0, |ms| ms >= 2000);
    let mut r = per_track();
    let events = all_events(&mut r, &tags);
    let audio = samples(&events, Track::Audio);
    assert_contiguous(&audio);
    assert_eq!(audio[0].0, 0);
    let first_real = audio.iter().position(|s| s.2 == REAL).unwrap();
    assert!(audio[..first_real].iter().all(|s| s.2 != REAL));
    // The first real frame within half a frame of its time: 2020 ms (frame 87).
    let at = audio[first_real].0 as f64 / 44.1;
    assert!((at - 2020.0).abs() <= 12.0, "{at}");
    // Every real frame is there.
    let real = audio.iter().filter(|s| s.2 == REAL).count();
    assert_eq!(
        real,
        tags.iter()
            .filter(|t| t.timestamp >= 2000 && t.tag_type == TagType::Audio)
            .count()
    );
    assert_eq!(r.stats().dropped, 0);
}

/// Audio resumes after 5 s of video only, `skew_ms` behind the video: the real
/// frames lost, in ms.
fn lost_on_resume(skew_ms: u32) -> u32 {
    let pause = |ms: u32| !(2000..7000).contains(&ms);
    let tags = stream(10_000, skew_ms, pause);
    let mut r = per_track();
    let events = all_events(&mut r, &tags);
    let audio = samples(&events, Track::Audio);
    assert_contiguous(&audio);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, RemuxEvent::Discontinuity { .. }))
    );
    let sent = tags
        .iter()
        .filter(|t| t.tag_type == TagType::Audio && t.data.len() == 5)
        .count();
    let real = audio.iter().filter(|s| s.2 == REAL).count();
    assert_eq!(r.stats().dropped as usize, sent - real);
    // The audio ends where the last frame sent does.
    let end = audio.last().map_or(0, |s| s.0 + u64::from(s.1)) as f64 / 44.1;
    assert!(end > f64::from(9960 - skew_ms), "{end}");
    ((sent - real) as u32 * 1024 * 1000).div_ceil(44_100)
}

#[test]
fn audio_resuming_after_5_s_of_video_only_loses_at_most_the_margin() {
    // In step with the video, or behind it by less than the margin: nothing lost.
    assert_eq!(lost_on_resume(0), 0);
    assert_eq!(lost_on_resume(300), 0);
    // Further behind: what the silence covered, at most the skew less the margin.
    let lost = lost_on_resume(800);
    assert!(lost <= 800 - FILL_AHEAD_MARGIN_MS as u32 + 24, "{lost}");
}

#[test]
fn audio_behind_by_more_than_the_threshold_loses_once_then_the_margin_grows() {
    // Audio 1.2 s behind the video all along: silence overtakes it at the start,
    // once; a pause of 1 s later costs nothing more.
    let run_with = |audio: fn(u32) -> bool| {
        let mut r = per_track();
        let events = all_events(&mut r, &stream(20_000, 1200, audio));
        assert_contiguous(&samples(&events, Track::Audio));
        r.stats().dropped
    };
    let steady = run_with(|_| true);
    assert!(
        steady > 0 && steady * 1024 * 1000 / 44_100 <= 1200,
        "{steady}"
    );
    assert_eq!(run_with(|ms| !(8000..9000).contains(&ms)), steady);
}

#[test]
fn audio_without_silence_or_configuration_is_not_filled() {
    // AAC whose channels are in a program_config_element: no silence.
    let mut tags = vec![avc_header(0, 20, 15), aac_header(0, &[0x12, 0x00])];
    tags.extend((0..100).map(|i| avc_frame(i * 40, 0, i == 0)));
    let events = all_events(&mut per_track(), &tags);
    assert_eq!(inits(&events).len(), 1);
    // Declared in the metadata, its header never comes: no audio init either.
    let mut tags = vec![avc_header(0, 20, 15)];
    tags.extend((0..100).map(|i| avc_frame(i * 40, 0, i == 0)));
    let events = all_events(&mut per_track(), &tags);
    assert_eq!(inits(&events).len(), 1);
    assert!(samples(&events, Track::Audio).is_empty());
}

/// A remuxer for a player that holds `latency_ms` behind the live edge.
fn for_latency(latency_ms: u32) -> Remuxer {
    Remuxer::new(RemuxerOptions {
        fill_ahead: FillAhead::for_latency(latency_ms),
        ..RemuxerOptions::default()
    })
}

#[test]
fn fill_ahead_for_a_latency_stays_under_it_within_the_bounds() {
    assert_eq!(FillAhead::for_latency(150).after_ms, MIN_FILL_AHEAD_MS);
    assert_eq!(FillAhead::for_latency(0).after_ms, MIN_FILL_AHEAD_MS);
    let half = FillAhead::for_latency(600);
    assert!(
        half.after_ms < 500 && half.margin_ms < half.after_ms,
        "{half:?}"
    );
    assert_eq!(FillAhead::for_latency(30_000), FillAhead::default());
}

#[test]
fn a_low_latency_player_gets_silence_before_its_playhead_reaches_the_audio_end() {
    // A 400 ms hole: the playhead 150 ms behind the video must find audio there.
    let tags = stream(8000, 0, |ms| !(3000..3400).contains(&ms));
    let mut r = for_latency(150);
    let mut events = Vec::new();
    for t in &tags {
        r.feed(t);
        events.extend(std::iter::from_fn(|| r.poll_event()));
        if t.tag_type == TagType::Video && t.timestamp >= 1000 {
            let lag = f64::from(t.timestamp) - audio_end(&events).unwrap_or(0.0);
            // The threshold, and a video frame until the next check.
            assert!(lag <= 90.0, "{lag} at {}", t.timestamp);
        }
    }
    assert_contiguous(&samples(&events, Track::Audio));
    // In step with the video, no real frame is lost to the silence.
    assert_eq!(r.stats().dropped, 0);
}

#[test]
fn a_low_latency_player_fills_nothing_in_an_interleaved_stream() {
    // `stream` sends each video frame before the audio up to its time: the
    // audio is up to a video frame behind at each check already.
    let mut r = for_latency(150);
    let events = all_events(&mut r, &stream(10_000, 0, |_| true));
    assert_contiguous(&samples(&events, Track::Audio));
    let s = r.stats();
    assert_eq!((s.gaps_filled, s.dropped), (0, 0), "{s:?}");
}

#[test]
fn muxed_file_of_late_audio_has_one_init_and_audio_from_the_start() {
    let tags = stream(5000, 0, |ms| ms >= 2000);
    let mut r = Remuxer::new(RemuxerOptions {
        layout: Layout::Muxed,
        fragment: Fragmenting::Duration(500),
        ..RemuxerOptions::default()
    });
    let events = all_events(&mut r, &tags);
    assert_eq!(inits(&events).len(), 1);
    let audio = samples(&events, Track::Audio);
    assert_contiguous(&audio);
    assert_eq!(audio[0].0, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]
    #[test]
    fn audio_that_stops_and_resumes_keeps_up_with_video(
        stops in 0u32..6000,
        pause in 0u32..8000,
        skew in 0u32..400,
        fragmenting in 0..3u8,
        late_start in any::<bool>(),
    ) {
        let mut r = Remuxer::new(RemuxerOptions {
            layout: Layout::PerTrack,
            fragment: match fragmenting {
                0 => Fragmenting::EveryFrame,
                1 => Fragmenting::Duration(200),
                _ => Fragmenting::OnCut,
            },
            ..RemuxerOptions::default()
        });
        let first = if late_start { stops } else { 0 };
        let tags = stream(12_000, skew, |ms| ms >= first && !(stops..stops + pause).contains(&ms));
        let mut events = Vec::new();
        for t in &tags {
            r.feed(t);
            if fragmenting == 2 {
                r.cut();
            }
            events.extend(std::iter::from_fn(|| r.poll_event()));
            // Up to a frame after the threshold, and a fragment's span held back.
            let held = if fragmenting == 1 { 200 + 24 } else { 0 };
            if t.tag_type == TagType::Video && t.timestamp > 1000 {
                let end = audio_end(&events).unwrap_or(0.0);
                let lag = f64::from(t.timestamp) - end;
                prop_assert!(lag <= (FILL_AHEAD_MS + 40 + held) as f64, "{} at {}", lag, t.timestamp);
            }
        }
        r.flush();
        events.extend(std::iter::from_fn(|| r.poll_event()));
        let audio = samples(&events, Track::Audio);
        for w in audio.windows(2) {
            prop_assert_eq!(w[0].0 + u64::from(w[0].1), w[1].0);
        }
        let jumped = events.iter().any(|e| matches!(e, RemuxEvent::Discontinuity { .. }));
        prop_assert!(!jumped);
        // Audio in step with the video loses nothing.
        prop_assert_eq!(r.stats().dropped, 0);
    }
}

#[test]
fn the_samples_layout_leaves_audio_that_stops_unfilled() {
    // WebCodecs' clock runs on without sound: silence half a second behind the
    // video would only come late, and move that clock back if played.
    let tags = stream(6000, 0, |ms| !(2000..5000).contains(&ms));
    let mut r = Remuxer::new(RemuxerOptions {
        layout: Layout::Samples,
        ..RemuxerOptions::default()
    });
    let events = all_events(&mut r, &tags);
    let audio: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            RemuxEvent::Sample {
                track: Track::Audio,
                dts_us,
                ..
            } => Some(dts_us / 1000),
            _ => None,
        })
        .collect();
    let hole: Vec<_> = audio
        .iter()
        .filter(|&&ms| (2050..4950).contains(&ms))
        .collect();
    assert!(hole.is_empty(), "sound in the hole at {hole:?} ms");
    assert!(
        audio.iter().any(|&ms| ms >= 5000),
        "the sound after the hole: {audio:?}"
    );
    assert_eq!(r.stats().gaps_filled, 0);
}

#[test]
fn sound_days_behind_the_first_picture_is_not_filled_up_to_it() {
    // As the segment fuzz target's out-of-memory input (its seed `first_picture_40_days_on`):
    // sound at 0, 26 and 52 ms, the first picture far on. The picture takes the sound's
    // timeline (a late start), and the sound was filled with silence up to it: there 40
    // days of it, here an hour's (an hour fails at once where days run out of memory).
    let far = 3_600_000;
    let tags = [
        avc_header(0, 20, 15),
        aac_header(0, &[0x12, 0x10]),
        aac_frame(0),
        aac_frame(26),
        avc_frame(far, 0, true),
        aac_frame(52),
        avc_frame(far + 40, 0, false),
        aac_frame(78),
    ];
    let mut r = per_track();
    let events = all_events(&mut r, &tags);
    let audio = samples(&events, Track::Audio);
    assert_contiguous(&audio);
    let s = r.stats();
    assert_eq!(s.gap_ms_filled, 0, "{s:?}");
    assert_eq!(audio.len(), 4);
}

#[test]
fn the_longest_fill_at_once_covers_the_longest_step_of_the_video() {
    // Sound that stops, then video whose time steps on by just under a jump: the sound is
    // filled up to it in one go.
    let step = FORWARD_JUMP_MS as u32 - 40;
    let mut tags = stream(2000, 0, |_| true);
    tags.push(avc_frame(1960 + step, 0, false));
    let mut r = per_track();
    let events = all_events(&mut r, &tags);
    assert_contiguous(&samples(&events, Track::Audio));
    let end = audio_end(&events).unwrap_or(0.0);
    let behind = f64::from(1960 + step) - end;
    assert!(
        behind <= FILL_AHEAD_MARGIN_MS as f64 + 24.0,
        "{behind} ms behind"
    );
    const { assert!(MAX_LAG_FILL_MS > FORWARD_JUMP_MS + FILL_AHEAD_MS) };
}
