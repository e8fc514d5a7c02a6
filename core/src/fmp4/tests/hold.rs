//! Video that stops while audio goes on: its last picture is held.

use super::gaps::{all_events, samples};
use super::*;

/// The threshold for a player 500 ms behind the live edge.
const LATENCY_MS: u32 = 500;

fn holding() -> Remuxer {
    Remuxer::new(RemuxerOptions {
        fill_ahead: FillAhead::for_latency(LATENCY_MS),
        hold_picture: true,
        ..RemuxerOptions::default()
    })
}

/// Video every 40 ms (a keyframe every `gop_ms`) where `video` says, and AAC frames
/// (44.1 kHz) throughout, for `ms`; each video tag arrives `behind_ms` after the
/// audio of its time (interleaved by arrival).
fn stream(ms: u32, gop_ms: u32, behind_ms: u32, video: impl Fn(u32) -> bool) -> Vec<Tag> {
    let mut timed: Vec<(u32, Tag)> = (0..ms)
        .step_by(40)
        .filter(|&v| video(v))
        .map(|v| (v + behind_ms, avc_frame(v, 0, v % gop_ms == 0)))
        .collect();
    let aac = |i: u32| i * 1024 * 1000 / 44_100;
    timed.extend(
        (0..)
            .map(aac)
            .take_while(|&a| a < ms)
            .map(|a| (a, aac_frame(a))),
    );
    timed.sort_by_key(|(at, _)| *at);
    let mut tags = vec![avc_header(0, 20, 15), aac_header(0, &[0x12, 0x10])];
    tags.extend(timed.into_iter().map(|(_, t)| t));
    tags
}

/// The end (ms) of the last fragment of `track` in `events`, and the furthest.
fn ends(events: &[RemuxEvent], track: Track) -> (f64, f64) {
    let mut last = f64::NAN;
    let mut furthest = f64::NAN;
    for e in events {
        if let RemuxEvent::Fragment {
            track: Some(t),
            end_ms,
            ..
        } = e
        {
            if *t == track {
                last = *end_ms;
                furthest = furthest.max(*end_ms);
            }
        }
    }
    (last, furthest)
}

/// Feeds `tags` to `r`, checking after each audio frame that the video ends no more
/// than the threshold, an audio frame and `slack_ms` before the audio; the events.
fn kept_up(r: &mut Remuxer, tags: &[Tag], slack_ms: f64) -> Vec<RemuxEvent> {
    let threshold = f64::from(FillAhead::for_latency(LATENCY_MS).after_ms);
    let mut events = Vec::new();
    for t in tags {
        r.feed(t);
        events.extend(std::iter::from_fn(|| r.poll_event()));
        if t.tag_type == TagType::Audio && t.timestamp > 100 {
            let (audio, _) = ends(&events, Track::Audio);
            let (_, video) = ends(&events, Track::Video);
            assert!(
                audio - video <= threshold + 24.0 + slack_ms,
                "{audio} − {video} at {}",
                t.timestamp
            );
        }
    }
    events
}

#[test]
fn video_that_stops_while_audio_goes_on_holds_its_last_picture_until_it_comes_back() {
    let hole = |v: u32| !(4000..9000).contains(&v);
    let tags = stream(12_000, 1000, 0, hole);
    let mut r = holding();
    let events = kept_up(&mut r, &tags, 0.0);
    let video = samples(&events, Track::Video);
    // Decode times only grow.
    assert!(video.windows(2).all(|w| w[0].0 < w[1].0), "{video:?}");
    // The first hold: the GOP from the keyframe at 3000 ms (25 pictures) from where
    // the video ended (4000 ms), a tick each, the last to 2 s past the audio's end.
    let first = video
        .iter()
        .position(|s| s.0 == 4000)
        .expect("a hold at 4000 ms");
    let held = &video[first..first + 25];
    assert!(held[..24].iter().all(|s| s.1 == 1), "{held:?}");
    let until = held[24].0 + u64::from(held[24].1);
    assert!(
        (4166 + 2000..=4166 + 2000 + 24).contains(&until),
        "{held:?}"
    );
    // Renewed about every second while the pictures stay away, and every picture sent is there.
    let s = r.stats();
    assert!((4..=6).contains(&s.pictures_held), "{s:?}");
    let sent = tags.iter().filter(|t| t.tag_type == TagType::Video).count() - 1;
    assert_eq!(video.len(), sent + 25 * s.pictures_held as usize);
    assert_eq!(s.dropped, 0);
    // The picture that comes back starts at its own time, under the last hold.
    let back = video
        .iter()
        .rposition(|s| s.1 > 1000)
        .expect("the last hold")
        + 1;
    assert_eq!(video[back].0, 9000, "{:?}", &video[back - 1..]);
}

#[test]
fn without_the_option_nothing_is_held() {
    let tags = stream(12_000, 1000, 0, |v| !(4000..9000).contains(&v));
    let events = all_events(&mut per_track(), &tags);
    assert_eq!(
        samples(&events, Track::Video).len(),
        tags.iter().filter(|t| t.tag_type == TagType::Video).count() - 1
    );
}

#[test]
fn a_new_session_with_sound_only_is_not_held_to_the_last_ones_picture() {
    let mut tags = stream(4000, 1000, 0, |_| true);
    // The publisher back with sound only: timestamps from 0 again.
    tags.extend((0..200).map(|i| aac_frame(i * 1024 * 1000 / 44_100)));
    let mut r = holding();
    all_events(&mut r, &tags);
    assert_eq!(r.stats().pictures_held, 0);
}

#[test]
fn video_that_runs_behind_its_audio_is_held_once_then_no_more() {
    // 400 ms behind the audio all along, and a pause of 1 s later.
    for pause in [false, true] {
        let tags = stream(20_000, 1000, 400, |v| {
            !pause || !(10_000..11_000).contains(&v)
        });
        let mut r = holding();
        let events = all_events(&mut r, &tags);
        let held = r.stats().pictures_held;
        assert_eq!(held, 1 + u64::from(pause), "pause {pause}");
        let video = samples(&events, Track::Video);
        assert!(video.windows(2).all(|w| w[0].0 < w[1].0));
    }
}

#[test]
fn a_gop_too_long_to_keep_is_not_held() {
    let frames = MAX_GOP_SAMPLES as u32 + 10;
    let tags = stream(frames * 40 + 3000, 1 << 30, 0, |v| v < frames * 40);
    let mut r = holding();
    all_events(&mut r, &tags);
    assert_eq!(r.stats().pictures_held, 0);
    // One picture less, and it is.
    let frames = MAX_GOP_SAMPLES as u32;
    let tags = stream(frames * 40 + 3000, 1 << 30, 0, |v| v < frames * 40);
    let mut r = holding();
    all_events(&mut r, &tags);
    assert!(r.stats().pictures_held > 0);
}

/// `onMetaData` with `key` set to true.
fn metadata(ts: u32, key: &str) -> Tag {
    let mut data = Vec::new();
    amf::amf0::encode_all(
        &["onMetaData".into(), Value::object([(key, true.into())])],
        &mut data,
    );
    tag(TagType::Script, ts, data)
}

#[test]
fn a_session_whose_metadata_announces_no_video_is_not_held() {
    // The gateway joins a publisher's sessions without a jump: the new one, with sound
    // only, says so in its metadata when the pictures stop.
    // Metadata that names neither (a camera's, with its duration alone) changes nothing.
    for (key, held) in [("hasAudio", false), ("hasVideo", true), ("duration", true)] {
        let mut tags = stream(12_000, 1000, 0, |v| v < 4000);
        let at = tags
            .iter()
            .position(|t| t.timestamp >= 4000)
            .expect("tags after 4 s");
        tags.insert(at, metadata(4000, key));
        let mut r = holding();
        all_events(&mut r, &tags);
        assert_eq!(r.stats().pictures_held > 0, held, "{key}");
    }
}

#[test]
fn a_picture_is_held_for_at_most_ten_seconds() {
    let tags = stream(30_000, 1000, 0, |v| v < 4000);
    let mut r = holding();
    let events = all_events(&mut r, &tags);
    let (_, furthest) = ends(&events, Track::Video);
    assert!(furthest <= 4000.0 + MAX_HOLD_MS as f64, "{furthest}");
    assert!(
        furthest > 4000.0 + MAX_HOLD_MS as f64 - HOLD_RENEW_MS as f64,
        "{furthest}"
    );
    assert!(
        (8..=11).contains(&r.stats().pictures_held),
        "{:?}",
        r.stats()
    );
}

#[test]
fn a_gop_too_long_to_decode_again_each_second_is_held_once() {
    // A keyframe every 4 s, the pictures gone from 7 s to 13 s: held from 7 s, the
    // GOP then 3 s long, not renewed (each renewal would decode 3 s of pictures).
    let tags = stream(16_000, 4000, 0, |v| !(7000..13_000).contains(&v));
    let mut r = holding();
    all_events(&mut r, &tags);
    assert_eq!(r.stats().pictures_held, 1);
    // A keyframe every 2 s: renewed.
    let tags = stream(16_000, 2000, 0, |v| !(7000..13_000).contains(&v));
    let mut r = holding();
    all_events(&mut r, &tags);
    assert!(r.stats().pictures_held > 3, "{:?}", r.stats());
}

/// The ffmpeg capture (H.264 and AAC) looped to `ms`, its video from 2 s on
/// `stall_ms` later: an encoder that stalls while its sound goes on.
fn stalled_capture(ms: u32, stall_ms: u32) -> Vec<Tag> {
    let mut tags: Vec<Tag> = crate::test_tags::capture_looped(ms / 2000)
        .into_iter()
        .map(|mut t| {
            if t.tag_type == TagType::Video && t.timestamp >= 2000 {
                t.timestamp += stall_ms;
            }
            t
        })
        .filter(|t| t.timestamp < ms)
        .collect();
    tags.sort_by_key(|t| t.timestamp);
    tags
}

/// Both holds on, as the player has them in Chromium: pictures repeated where they
/// can be, the GOP replayed elsewhere.
fn repeating() -> Remuxer {
    Remuxer::new(RemuxerOptions {
        fill_ahead: FillAhead::for_latency(LATENCY_MS),
        repeat_pictures: true,
        hold_picture: true,
        ..RemuxerOptions::default()
    })
}

#[test]
fn h264_that_stalls_goes_on_with_pictures_that_repeat_the_last_one() {
    let tags = stalled_capture(8000, 3000);
    let mut r = repeating();
    // A picture's interval more: the repeated pictures end within one of the audio.
    let events = kept_up(&mut r, &tags, 40.0);
    let video = samples(&events, Track::Video);
    super::gaps::assert_contiguous(&video);
    assert_eq!(r.stats().pictures_held, 1, "{:?}", r.stats());
    // The stall's 3 s in pictures a frame interval (40 ms) each, all alike and
    // small, and every picture sent besides.
    let sent = tags.iter().filter(|t| t.tag_type == TagType::Video).count() - 1;
    let repeated: Vec<_> = video
        .iter()
        .filter(|s| (2000..5000).contains(&s.0))
        .collect();
    assert_eq!(video.len(), sent + repeated.len());
    // What is dropped (the loop's seams) is what a remuxer without repeats drops.
    let mut plain = per_track();
    all_events(&mut plain, &tags);
    assert_eq!(r.stats().dropped, plain.stats().dropped);
    assert!((73..=75).contains(&repeated.len()), "{}", repeated.len());
    assert!(
        repeated
            .iter()
            .all(|s| s.1 == 40 && s.2 == repeated[0].2 && s.2 < 40),
        "{repeated:?}"
    );
    // The picture that comes back is at its own time.
    let back = video
        .iter()
        .position(|s| s.0 >= 5000)
        .expect("the pictures back");
    assert_eq!(video[back].0, 5000, "{:?}", &video[back - 2..back + 2]);
}

#[test]
fn repeated_pictures_stop_where_the_hold_ends() {
    // Video from 2 s on 30 s later, in a stream of 20 s: repeated for 10 s.
    let tags = stalled_capture(20_000, 30_000);
    let mut r = repeating();
    let events = all_events(&mut r, &tags);
    let (_, furthest) = ends(&events, Track::Video);
    assert!((11_900.0..=12_000.0).contains(&furthest), "{furthest}");
    assert_eq!(r.stats().pictures_held, 1);
}

#[test]
fn an_h264_stream_not_followed_is_held_by_the_replay_where_it_is_on() {
    // The hand-made frames have no slice header to follow: with the GOP replay's
    // option off, no hold at all; with it on (Chromium), the GOP is replayed.
    let tags = stream(12_000, 1000, 0, |v| !(4000..9000).contains(&v));
    let mut r = repeating();
    r.options.hold_picture = false;
    let events = all_events(&mut r, &tags);
    assert_eq!(r.stats().pictures_held, 0);
    let sent = tags.iter().filter(|t| t.tag_type == TagType::Video).count() - 1;
    assert_eq!(samples(&events, Track::Video).len(), sent);
    let mut r = repeating();
    let events = all_events(&mut r, &tags);
    let held = r.stats().pictures_held as usize;
    assert!(held >= 4, "{:?}", r.stats());
    assert_eq!(samples(&events, Track::Video).len(), sent + 25 * held);
}

#[test]
fn h264_that_arrives_behind_its_audio_is_repeated_once_then_no_more() {
    // Each picture arrives 400 ms after the sound of its time, all along.
    let mut timed: Vec<(u32, Tag)> = crate::test_tags::capture_looped(10)
        .into_iter()
        .map(|t| {
            let late = t.tag_type == TagType::Video && t.timestamp > 0;
            (t.timestamp + if late { 400 } else { 0 }, t)
        })
        .collect();
    timed.sort_by_key(|(at, _)| *at);
    let tags: Vec<Tag> = timed.into_iter().map(|(_, t)| t).collect();
    let mut r = repeating();
    let events = all_events(&mut r, &tags);
    assert!(r.stats().pictures_held <= 1, "{:?}", r.stats());
    let video = samples(&events, Track::Video);
    super::gaps::assert_contiguous(&video);
    // After the first seconds, every picture at its own time.
    let sent = tags
        .iter()
        .filter(|t| t.tag_type == TagType::Video && t.timestamp > 0);
    let late: Vec<_> = sent
        .filter(|t| t.timestamp > 3000)
        .map(|t| u64::from(t.timestamp))
        .collect();
    let placed: Vec<u64> = video.iter().map(|s| s.0).filter(|&d| d > 3000).collect();
    assert_eq!(placed, late);
}
