//! Configuration changes, metadata, layouts, unsupported codecs, bad tags and
//! arbitrary input.

use proptest::prelude::*;

use super::*;

#[test]
fn new_sequence_header_gives_a_new_init_and_a_repeat_does_not() {
    let mut r = per_track();
    let tags = [
        avc_header(0, 20, 15),
        avc_frame(0, 0, true),
        avc_header(40, 20, 15), // identical
        avc_frame(40, 0, false),
        avc_header(80, 40, 30),  // 640×480
        avc_frame(80, 0, false), // not a keyframe: dropped
        avc_frame(120, 0, true),
    ];
    let events = run(&mut r, &tags);
    let sizes: Vec<(u32, u32)> = events
        .iter()
        .filter_map(|e| match e {
            RemuxEvent::Init { info, .. } => Some((info.width, info.height)),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, [(320, 240), (640, 480)]);
    assert_eq!(fragments(&events).len(), 3);
    assert_eq!(r.stats().dropped, 1);
}

#[test]
fn metadata_announcing_absent_audio_does_not_block_video() {
    let mut meta = Vec::new();
    amf::amf0::encode_all(
        &[
            "onMetaData".into(),
            Value::object([("hasAudio", true.into()), ("audiocodecid", 10.0.into())]),
        ],
        &mut meta,
    );
    let mut tags = vec![tag(TagType::Script, 0, meta), avc_header(0, 20, 15)];
    for i in 0..40u32 {
        tags.push(avc_frame(i * 40, 0, i % 10 == 0));
    }
    // PerTrack: every frame at once.
    let events = run(&mut per_track(), &tags);
    assert_eq!(fragments(&events).len(), 40);
    // Muxed: held at most MUXED_HOLD_MS, then an init with the video alone.
    let mut r = Remuxer::new(RemuxerOptions {
        layout: Layout::Muxed,
        ..Default::default()
    });
    let events = run(&mut r, &tags);
    assert_eq!(
        inits(&events),
        [(None, "video/mp4; codecs=\"avc1.42001e\"".into())]
    );
    let f = fragments(&events);
    assert_eq!(
        f[0].2.len(),
        26,
        "frames 0..=1000 ms held, then one fragment"
    );
    assert_eq!(f.iter().map(|f| f.2.len()).sum::<usize>(), 40);
}

#[test]
fn muxed_init_holds_every_track_known_so_far() {
    let mut r = Remuxer::new(RemuxerOptions {
        layout: Layout::Muxed,
        ..Default::default()
    });
    let tags = [
        avc_header(0, 20, 15),
        aac_header(0, &[0x12, 0x10]),
        avc_frame(0, 0, true),
        aac_frame(0),
    ];
    let events = run(&mut r, &tags);
    assert_eq!(
        inits(&events),
        [(None, "video/mp4; codecs=\"avc1.42001e, mp4a.40.2\"".into())]
    );
    assert_eq!(fragments(&events).len(), 2);
}

#[test]
fn unsupported_audio_is_reported_once_and_video_plays_on() {
    let mut r = per_track();
    let mut tags = vec![avc_header(0, 20, 15)];
    for i in 0..5u32 {
        // Sound format 15, "device-specific": nothing says what it is.
        tags.push(tag(TagType::Audio, i * 20, vec![0xf6, 1, 2, 3]));
        tags.push(avc_frame(i * 40, 0, i == 0));
    }
    let events = run(&mut r, &tags);
    let unsupported: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, RemuxEvent::Unsupported { .. }))
        .collect();
    assert_eq!(
        unsupported,
        [&RemuxEvent::Unsupported {
            track: Track::Audio,
            codec: "device-specific sound".into(),
            pictures: false,
        }]
    );
    assert_eq!(fragments(&events).len(), 5);
}

/// In MP4, Flash's video codecs are unsupported; those whose pictures the `Samples`
/// layout decodes (Sorenson Spark, Screen Video) say so, VP6 does not.
#[test]
fn unsupported_video_says_whether_its_pictures_are_decoded() {
    for (first, pictures) in [(0x12, true), (0x13, true), (0x16, true), (0x14, false)] {
        let mut r = per_track();
        let events = run(&mut r, &[tag(TagType::Video, 0, vec![first, 0, 1, 2, 3])]);
        assert!(
            matches!(&events[..], [RemuxEvent::Unsupported { track: Track::Video, pictures: p, .. }] if *p == pictures),
            "{first:#x}: {events:?}"
        );
    }
}

#[test]
fn bad_tags_are_errors_naming_track_and_time() {
    let mut r = per_track();
    let tags = [
        avc_header(0, 20, 15),
        tag(TagType::Video, 7, vec![0x17, 1, 0, 0, 0, 0, 0, 0, 9, 1]), // NAL longer than the tag
        tag(TagType::Audio, 9, vec![0xaf, 1, 1]),                      // AAC before its header
        tag(TagType::Video, 11, vec![]),
    ];
    let events = run(&mut r, &tags);
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RemuxEvent::Error { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(
        messages[0].starts_with("video tag at 7 ms: NAL unit"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("audio tag at 9 ms:"),
        "{messages:?}"
    );
    assert!(
        messages[2].starts_with("video tag at 11 ms:"),
        "{messages:?}"
    );
}

#[test]
fn interleaving_order_does_not_change_a_tracks_output() {
    let mut video = vec![avc_header(0, 20, 15)];
    let mut audio = vec![aac_header(0, &[0x12, 0x10])];
    for i in 0..20u32 {
        video.push(avc_frame(i * 40, 40, i % 10 == 0));
        audio.push(aac_frame(i * 1024 * 1000 / 44_100));
    }
    let by_track = |tags: Vec<Tag>| {
        let events = run(&mut per_track(), &tags);
        let mut v = Vec::new();
        let mut a = Vec::new();
        for e in events {
            match e {
                RemuxEvent::Fragment {
                    track: Some(Track::Video),
                    data,
                    ..
                } => v.push(data),
                RemuxEvent::Fragment {
                    track: Some(Track::Audio),
                    data,
                    ..
                } => a.push(data),
                _ => {}
            }
        }
        (v, a)
    };
    let sequential = by_track(video.iter().chain(&audio).cloned().collect());
    let reversed = by_track(audio.iter().chain(&video).cloned().collect());
    let mut zipped = Vec::new();
    for (v, a) in video.iter().zip(&audio) {
        zipped.push(a.clone());
        zipped.push(v.clone());
    }
    assert_eq!(sequential, reversed);
    assert_eq!(sequential, by_track(zipped));
}

proptest! {
    #[test]
    fn arbitrary_tags_never_panic(
        tags in proptest::collection::vec(
            (prop_oneof![Just(8u8), Just(9), Just(18)], any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)),
            0..40,
        ),
        layout in prop_oneof![Just(Layout::PerTrack), Just(Layout::Muxed), Just(Layout::Samples)],
        duration in any::<bool>(),
    ) {
        let mut r = Remuxer::new(RemuxerOptions {
            layout,
            fragment: if duration { Fragmenting::Duration(100) } else { Fragmenting::EveryFrame },
            ..RemuxerOptions::default()
        });
        // Seed valid headers so the coded-frame paths are reached too.
        run(&mut r, &[avc_header(0, 20, 15), aac_header(0, &[0x12, 0x10])]);
        for (ty, ts, mut body) in tags {
            // Bias bodies towards AVC/AAC headers.
            if ty == 9 && body.len() > 2 && body[0] & 1 == 0 { body[0] = 0x17 + (body[1] & 0x10); }
            if ty == 8 && body.len() > 2 && body[0] & 1 == 0 { body[0] = 0xaf; }
            let tag_type = TagType::from_u8(ty).unwrap_or(TagType::Script);
            r.feed(&tag(tag_type, ts, body));
            while let Some(e) = r.poll_event() {
                if let RemuxEvent::Fragment { data, .. } = &e {
                    prop_assert_eq!(be32(data, 0) as usize + be32(data, be32(data, 0) as usize) as usize, data.len());
                }
                if let RemuxEvent::Sample { data, duration_us, .. } = e {
                    prop_assert!(!data.is_empty() && duration_us > 0);
                }
            }
        }
        r.flush();
        while r.poll_event().is_some() {}
    }
}
