use flashless_core::flv::{Tag, TagType};

use super::case::{CASES, Case};
use super::rules::*;

const AAC_CONFIG: &[u8] = &[0xaf, 0, 0x12, 0x10];
const AAC_FRAME: &[u8] = &[0xaf, 1, 0x21];
const AVC_CONFIG: &[u8] = &[0x17, 0, 0, 0, 0, 1];
const KEY: &[u8] = &[0x17, 1, 0, 0, 0, 9];
const INTER: &[u8] = &[0x27, 1, 0, 0, 0, 9];

fn run(rule: &mut dyn Rule, tags: Vec<Tag>) -> Vec<Out> {
    let mut out = Vec::new();
    for t in tags {
        rule.apply(t, &mut out);
    }
    out
}

fn stamps(out: &[Out], kind: TagType) -> Vec<u32> {
    out.iter()
        .filter_map(|o| match o {
            Out::Tag(t) if t.tag_type == kind => Some(t.timestamp),
            _ => None,
        })
        .collect()
}

/// Audio every 20 ms and video every 40 ms (a keyframe each second) for `ms`.
fn stream(ms: u32) -> Vec<Tag> {
    let mut tags = vec![
        tag(TagType::Script, 0, b"meta"),
        tag(TagType::Video, 0, AVC_CONFIG),
        tag(TagType::Audio, 0, AAC_CONFIG),
    ];
    for t in (0..ms).step_by(20) {
        if t % 40 == 0 {
            tags.push(tag(
                TagType::Video,
                t,
                if t % 1000 == 0 { KEY } else { INTER },
            ));
        }
        tags.push(tag(TagType::Audio, t, AAC_FRAME));
    }
    tags
}

#[test]
fn every_case_has_a_unique_name_and_at_least_the_issues_list() {
    let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), CASES.len());
    assert!(CASES.len() >= 20);
    assert!(Case::find("ts-wrap-32bit").is_some());
    assert!(Case::find("nope").is_none());
}

#[test]
fn holes_drop_audio_in_the_window_of_each_period() {
    let out = run(
        &mut Holes::new(TagType::Audio, 5000, 2000, 400),
        stream(11_000),
    );
    let audio = stamps(&out, TagType::Audio);
    assert!(audio.contains(&0), "the config stays");
    assert!(audio.contains(&1980) && audio.contains(&2400));
    assert!(
        !audio
            .iter()
            .any(|t| (2000..2400).contains(t) || (7000..7400).contains(t))
    );
    assert_eq!(
        stamps(&out, TagType::Video).len(),
        stamps(
            &stream(11_000)
                .iter()
                .cloned()
                .map(Out::Tag)
                .collect::<Vec<_>>(),
            TagType::Video
        )
        .len()
    );
}

#[test]
fn a_video_hole_lasts_until_the_next_keyframe() {
    let out = run(
        &mut Holes::new(TagType::Video, 5000, 2000, 500),
        stream(6000),
    );
    let video = stamps(&out, TagType::Video);
    assert!(video.contains(&1960));
    // 2000..2500 dropped, then everything up to the keyframe at 3000.
    assert!(!video.iter().any(|t| (2000..3000).contains(t)));
    assert!(video.contains(&3000) && video.contains(&3040));
}

/// Where each tag went out: after how many tags in (its position in time).
fn sent_after(rule: &mut dyn Rule, tags: Vec<Tag>) -> Vec<(usize, u32)> {
    let mut out = Vec::new();
    let mut sent = Vec::new();
    for (i, t) in tags.into_iter().enumerate() {
        rule.apply(t, &mut out);
        sent.extend(out.drain(..).filter_map(|o| match o {
            Out::Tag(t) => Some((i, t.timestamp)),
            Out::Reconnect => None,
        }));
    }
    sent
}

#[test]
fn a_stall_holds_its_window_and_sends_it_at_once_after() {
    let tags = stream(12_000);
    let count = tags.len();
    let sent = sent_after(&mut Bunches::new(10_000, 2000, 2000), tags);
    // Nothing lost, nothing reordered.
    assert_eq!(sent.len(), count);
    assert!(sent.windows(2).all(|w| w[0].1 <= w[1].1));
    // Held until the first tag at or after 4000 ms (then 14,000) came in; the rest at once.
    let release = sent
        .iter()
        .find(|&&(_, t)| t >= 4000)
        .map(|&(after, _)| after);
    for &(after, ts) in &sent {
        let held = (2000..4000).contains(&(ts % 10_000));
        let with = sent.iter().filter(|&&(a, _)| a == after).count();
        if held {
            assert_eq!(Some(after), release, "{ts} ms");
        } else if Some(after) != release {
            assert_eq!(with, 1, "{ts} ms went out in a bunch");
        }
    }
    assert_eq!(
        sent.iter().filter(|&&(a, _)| Some(a) == release).count(),
        2000 / 20 + 2000 / 40 + 1
    );
}

#[test]
fn bunches_send_each_periods_tags_when_the_next_period_starts() {
    let sent = sent_after(&mut Bunches::new(500, 0, 500), stream(2000));
    let mut bunches: Vec<Vec<u32>> = Vec::new();
    let mut last = None;
    for (after, ts) in sent {
        if last != Some(after) {
            bunches.push(Vec::new());
        }
        last = Some(after);
        bunches.last_mut().unwrap().push(ts);
    }
    // 0–480, 500–980, 1000–1480 ms: each whole, sent when the next began; the last held.
    assert_eq!(bunches.len(), 3, "{bunches:?}");
    for (i, b) in bunches.iter().enumerate() {
        let from = i as u32 * 500;
        assert!(b.iter().all(|&t| (from..from + 500).contains(&t)), "{b:?}");
        assert_eq!(
            b.iter().filter(|&&t| t % 20 == 0 && t >= from).count(),
            b.len()
        );
    }
}

#[test]
fn a_late_track_starts_with_its_config_at_its_first_frame() {
    let out = run(&mut LateStart::new(TagType::Audio, 2000), stream(3000));
    let audio = stamps(&out, TagType::Audio);
    assert_eq!(audio[0], 2000, "the config, restamped");
    assert!(audio.iter().all(|&t| t >= 2000));
    let out = run(&mut LateStart::new(TagType::Video, 1500), stream(3000));
    let video = stamps(&out, TagType::Video);
    assert_eq!(
        &video[..2],
        &[2000, 2000],
        "config then the keyframe at 2 s"
    );
}

#[test]
fn a_restart_goes_back_to_zero_at_a_keyframe_with_headers() {
    let out = run(
        &mut Jump::new(2000, false, JumpKind::ToZero { reconnect: true }),
        stream(4500),
    );
    let at = out.iter().position(|o| *o == Out::Reconnect).unwrap();
    let Out::Tag(meta) = &out[at + 1] else {
        panic!()
    };
    assert_eq!((meta.tag_type, meta.timestamp), (TagType::Script, 0));
    let video = stamps(&out[at..], TagType::Video);
    assert_eq!(&video[..3], &[0, 0, 40], "config, keyframe, next frame");
    // The second restart comes 2 s later, at the keyframe of 4 s.
    assert_eq!(out.iter().filter(|o| **o == Out::Reconnect).count(), 2);
}

#[test]
fn a_forward_jump_happens_once() {
    let out = run(
        &mut Jump::new(2000, true, JumpKind::Forward { by_ms: 3_600_000 }),
        stream(5000),
    );
    let video = stamps(&out, TagType::Video);
    assert!(video.contains(&1960) && video.contains(&3_602_000) && video.contains(&3_604_960));
    assert!(!out.contains(&Out::Reconnect));
}

#[test]
fn a_step_back_comes_at_each_keyframe_of_its_period_with_nothing_resent() {
    let out = run(
        &mut Jump::new(2000, false, JumpKind::Back { by_ms: 1500 }),
        stream(4500),
    );
    let video = stamps(&out, TagType::Video);
    // 1960 → 2000 (now 500) … 3960 (2460) → 4000 (now 1000).
    let at = |ms| video.iter().position(|&t| t == ms).unwrap();
    assert_eq!(video[at(1960) + 1], 500);
    assert_eq!(video[at(2460) + 1], 1000);
    let configs = out
        .iter()
        .filter(|o| matches!(o, Out::Tag(t) if t.data == AVC_CONFIG || t.data == AAC_CONFIG))
        .count();
    assert_eq!(configs, 2, "the headers only at the start");
    assert!(!out.contains(&Out::Reconnect));
}

#[test]
fn an_offset_wraps_at_32_bits() {
    let out = run(
        &mut Offset {
            start_ms: u32::MAX - 99,
        },
        stream(200),
    );
    let audio = stamps(&out, TagType::Audio);
    assert_eq!(audio[1], u32::MAX - 99);
    assert!(!audio.contains(&u32::MAX) && audio.contains(&0) && audio.contains(&80));
}

#[test]
fn sound_lags_by_its_pictures_stamped_later() {
    let out = run(&mut SoundLags { by_ms: 300 }, stream(200));
    assert_eq!(
        stamps(&out, TagType::Audio),
        stamps(&run(&mut Clean, stream(200)), TagType::Audio)
    );
    assert_eq!(stamps(&out, TagType::Video), [300, 300, 340, 380, 420, 460]);
    assert_eq!(stamps(&out, TagType::Script), [300]);
}

#[test]
fn negative_cts_keeps_presentation_times() {
    let mut data = INTER.to_vec();
    data[2..5].copy_from_slice(&[0, 0, 80]);
    let out = run(
        &mut NegativeCts { by_ms: 120 },
        vec![tag(TagType::Video, 1000, &data)],
    );
    let Out::Tag(t) = &out[0] else { panic!() };
    assert_eq!(t.timestamp, 1120);
    let cts = i32::from_be_bytes([0, t.data[2], t.data[3], t.data[4]]) << 8 >> 8;
    assert_eq!(cts, -40);
    assert_eq!(t.timestamp as i32 + cts, 1080, "pts unchanged");
}

#[test]
fn duplicates_repeat_the_previous_timestamp() {
    let out = run(&mut Duplicates::new(3, 4), stream(400));
    let audio = stamps(&out, TagType::Audio);
    // config 0, then frames 0, 20, (40→20), 60, 80, (100→80)…
    assert_eq!(&audio[1..7], &[0, 20, 20, 60, 80, 80]);
    let video = stamps(&out, TagType::Video);
    assert!(video.windows(2).any(|w| w[0] == w[1] && w[0] > 0));
}

#[test]
fn metadata_is_resent_every_period() {
    let out = run(&mut MetadataEvery::new(1000), stream(3100));
    assert_eq!(stamps(&out, TagType::Script), [0, 1000, 2000, 3000]);
}

#[test]
fn a_switch_sends_the_other_sources_headers_and_continues_its_time() {
    let mut switch = Switch::new(1000);
    let mut out = Vec::new();
    let a = stream(3000);
    // Source 1 runs 500 ms ahead of source 0 in its own timestamps.
    let b: Vec<Tag> = stream(3000)
        .into_iter()
        .map(|t| Tag {
            timestamp: t.timestamp + 500,
            ..t
        })
        .collect();
    for (x, y) in a.into_iter().zip(b) {
        switch.apply(0, x, &mut out);
        switch.apply(1, y, &mut out);
    }
    let video = stamps(&out, TagType::Video);
    assert!(video.windows(2).all(|w| w[0] <= w[1]), "{video:?}");
    let configs = out
        .iter()
        .filter(|o| matches!(o, Out::Tag(t) if is_config(t) && t.tag_type == TagType::Video))
        .count();
    assert!(configs >= 2, "headers at the start and at the switch");
    let audio = stamps(&out, TagType::Audio);
    assert!(audio.windows(2).all(|w| w[0] <= w[1]), "{audio:?}");
}
