use super::*;
use flashless_core::flv::TagType;

fn video(ts: u32, key: bool) -> Tag {
    let first = if key { 0x17 } else { 0x27 };
    Tag {
        tag_type: TagType::Video,
        timestamp: ts,
        data: Bytes::from(vec![first, 1, 0, 0, 0, 0xAA]),
    }
}

fn video_header(ts: u32) -> Tag {
    Tag {
        tag_type: TagType::Video,
        timestamp: ts,
        data: Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f]),
    }
}

fn audio(ts: u32) -> Tag {
    Tag {
        tag_type: TagType::Audio,
        timestamp: ts,
        data: Bytes::from_static(&[0xAF, 1, 0x21]),
    }
}

fn hub() -> Hub {
    Hub::new(Limits {
        viewer_queue: 16,
        ..Limits::default()
    })
}

fn timestamps(tags: &[Arc<MediaTag>]) -> Vec<u32> {
    tags.iter().map(|m| m.tag.timestamp).collect()
}

#[test]
fn a_new_viewer_starts_with_headers_and_the_gop_since_the_last_keyframe() {
    let hub = hub();
    let ch = hub.get_or_create("cam", Source::Publish);
    assert!(ch.begin_session());
    ch.publish(video_header(0));
    ch.publish(video(0, true));
    ch.publish(video(40, false));
    ch.publish(video(80, true));
    ch.publish(audio(90));
    ch.publish(video(120, false));
    let (start, _viewer) = ch.subscribe();
    let roles: Vec<Role> = start.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::VideoHeader, Role::Keyframe, Role::Frame, Role::Frame]
    );
    assert_eq!(timestamps(&start), [0, 80, 90, 120]);
    assert_eq!(ch.viewer_count(), 1);
}

#[test]
fn viewer_count_falls_when_a_viewer_leaves() {
    let hub = hub();
    let ch = hub.get_or_create("cam", Source::Publish);
    let (_, a) = ch.subscribe();
    let (_, b) = ch.subscribe();
    assert_eq!(ch.viewer_count(), 2);
    drop(a);
    drop(b);
    assert_eq!(ch.viewer_count(), 0);
}

#[test]
fn a_second_session_continues_the_timeline_forward() {
    let hub = hub();
    let ch = hub.get_or_create("cam", Source::Pull);
    assert!(ch.begin_session());
    assert!(!ch.begin_session(), "one session at a time");
    ch.publish(video_header(0));
    ch.publish(video(5000, true));
    ch.publish(video(5040, false));
    ch.end_session();
    // The upstream comes back with its clock restarted, headers stamped 0.
    assert!(ch.begin_session());
    ch.publish(video_header(0));
    ch.publish(video(100, true));
    ch.publish(audio(90));
    ch.publish(video(140, false));
    let (start, _) = ch.subscribe();
    assert_eq!(
        timestamps(&start),
        [80, 80, 80, 120],
        "header, keyframe, clamped audio, next frame"
    );
}

#[test]
fn the_first_session_starts_at_zero_even_from_a_late_clock() {
    let hub = hub();
    let ch = hub.get_or_create("cam", Source::Pull);
    ch.begin_session();
    ch.publish(video_header(0));
    ch.publish(video(0x0100_0000, true));
    ch.publish(video(0x0100_0000 + 40, false));
    let (start, _) = ch.subscribe();
    assert_eq!(timestamps(&start), [0, 0, 40]);
}

#[tokio::test]
async fn a_lagging_viewer_skips_to_the_next_keyframe() {
    let hub = hub();
    let ch = hub.get_or_create("cam", Source::Publish);
    ch.begin_session();
    ch.publish(video_header(0));
    ch.publish(video(0, true));
    let (_, mut viewer) = ch.subscribe();
    for i in 1..40 {
        ch.publish(video(i * 40, false));
    }
    ch.publish(video(1600, true));
    ch.publish(video(1640, false));
    let Some(Feed::Tag(first)) = viewer.next().await else {
        panic!("expected a tag")
    };
    assert_eq!((first.tag.timestamp, first.role), (1600, Role::Keyframe));
    assert!(ch.counters.dropped.load(Relaxed) > 0);
}

#[test]
fn the_gop_cache_is_bounded_by_duration() {
    let hub = Hub::new(Limits {
        gop_duration: Duration::from_millis(200),
        ..Limits::default()
    });
    let ch = hub.get_or_create("cam", Source::Publish);
    ch.begin_session();
    ch.publish(video_header(0));
    ch.publish(video(0, true));
    for i in 1..10 {
        ch.publish(video(i * 40, false));
    }
    let (start, _) = ch.subscribe();
    assert_eq!(start.len(), 1, "only the header: the GOP outgrew its limit");
}

#[tokio::test]
async fn a_viewer_joining_without_a_gop_waits_for_a_keyframe() {
    let hub = Hub::new(Limits {
        gop_duration: Duration::from_millis(100),
        ..Limits::default()
    });
    let ch = hub.get_or_create("cam", Source::Publish);
    ch.begin_session();
    ch.publish(video_header(0));
    ch.publish(video(0, true));
    for i in 1..5 {
        ch.publish(video(i * 40, false));
    }
    let (_, mut viewer) = ch.subscribe();
    ch.publish(video(200, false));
    ch.publish(video(240, true));
    let Some(Feed::Tag(first)) = viewer.next().await else {
        panic!("expected a tag")
    };
    assert_eq!(first.tag.timestamp, 240);
}

#[test]
fn a_deserted_published_channel_is_removed_and_configured_ones_stay() {
    let hub = Hub::new(Limits {
        abandoned_after: Duration::ZERO,
        ..Limits::default()
    });
    let pulled = hub.get_or_create("pulled", Source::Pull);
    let ch = hub.claim_published("cam").unwrap();
    ch.publish(video_header(0));
    ch.publish(video(0, true));
    ch.publish(video(40, false));
    hub.remove_abandoned();
    assert!(hub.get("cam").is_some(), "removed while publishing");
    let (_, viewer) = ch.subscribe();
    ch.end_session();
    let (start, second) = ch.subscribe();
    let roles: Vec<Role> = start.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::VideoHeader], "the GOP outlived its publisher");
    drop(second);
    hub.remove_abandoned();
    assert!(hub.get("cam").is_some(), "removed with a viewer waiting");
    drop(viewer);
    hub.remove_abandoned();
    assert!(hub.get("cam").is_none());
    assert!(hub.get("pulled").is_some() && pulled.source() == Source::Pull);
}

#[test]
fn publishes_claim_a_channel_once_and_new_ones_stop_at_the_cap() {
    let hub = Hub::new(Limits {
        max_channels: 2,
        ..Limits::default()
    });
    hub.get_or_create("pulled", Source::Pull);
    let cam = hub.claim_published("cam").unwrap();
    assert_eq!(hub.claim_published("cam").err(), Some(Unclaimed::Taken));
    assert_eq!(hub.claim_published("pulled").err(), Some(Unclaimed::Taken));
    assert_eq!(hub.claim_published("other").err(), Some(Unclaimed::Full));
    cam.end_session();
    assert!(
        hub.claim_published("cam").is_ok(),
        "its publisher may come back"
    );
}

/// What a viewer has been sent so far, without waiting.
fn queued(viewer: &mut Viewer) -> Vec<u32> {
    std::iter::from_fn(|| viewer.try_next())
        .filter_map(|feed| match feed {
            Feed::Tag(m) => Some(m.tag.timestamp),
            Feed::Unpublished | Feed::Published => None,
        })
        .collect()
}

#[test]
fn coalesced_tags_reach_viewers_together_and_each_once() {
    let hub = Hub::new(Limits {
        coalesce: Duration::from_millis(80),
        ..Limits::default()
    });
    let ch = hub.get_or_create("cam", Source::Publish);
    ch.begin_session();
    ch.publish(video_header(0));
    ch.publish(video(0, true));
    let (start, mut early) = ch.subscribe();
    assert_eq!(
        timestamps(&start),
        [0, 0],
        "the held keyframe comes in the start"
    );
    ch.publish(audio(20));
    ch.publish(video(40, false));
    assert!(
        queued(&mut early).is_empty(),
        "held until the group spans 80 ms"
    );
    // Joining mid-group sends the group to the others first: this viewer has it in
    // its start, and never again live.
    let (start, mut late) = ch.subscribe();
    assert_eq!(timestamps(&start), [0, 0, 20, 40]);
    assert_eq!(queued(&mut early), [20, 40]);
    ch.publish(video(80, false));
    ch.publish(audio(100));
    ch.publish(video(120, false));
    assert!(queued(&mut late).is_empty());
    ch.publish(video(160, false));
    assert_eq!(queued(&mut late), [80, 100, 120, 160]);
    assert_eq!(queued(&mut early), [80, 100, 120, 160]);
    // A header goes at once, with whatever was held before it; so does the end.
    ch.publish(video(200, false));
    ch.publish(video_header(200));
    assert_eq!(queued(&mut late), [200, 200]);
    ch.publish(video(240, false));
    ch.end_session();
    assert_eq!(queued(&mut late), [240]);
}

#[tokio::test]
async fn closing_a_channel_ends_its_viewers_after_what_was_queued_even_lagging_or_late() {
    let hub = hub();
    let ch = hub.get_or_create("cam", Source::Publish);
    ch.begin_session();
    ch.publish(video_header(0));
    ch.publish(video(0, true));
    let (_, mut viewer) = ch.subscribe();
    let (_, mut lagging) = ch.subscribe();
    // Past the queue of 16 for one viewer, which skips to the next keyframe; the
    // other keeps up, but for the last frame.
    for i in 0..20 {
        ch.publish(video(40 + i * 40, i == 19));
        if i < 19 {
            assert_eq!(queued(&mut viewer).len(), 1);
        }
    }
    ch.close();
    ch.close();
    let mut rest = Vec::new();
    while let Ok(Some(feed)) = tokio::time::timeout(Duration::from_secs(5), viewer.next()).await {
        rest.push(feed);
    }
    assert!(
        matches!(&rest[..], [Feed::Tag(m)] if m.tag.timestamp == 800),
        "what was queued before the close still comes, then the end: {rest:?}"
    );
    let lagged = tokio::time::timeout(Duration::from_secs(5), async {
        let mut keyframes = 0;
        while let Some(feed) = lagging.next().await {
            if let Feed::Tag(m) = feed
                && m.role == Role::Keyframe
            {
                keyframes += 1;
            }
        }
        keyframes
    })
    .await
    .expect("a lagging viewer reaches the end");
    assert_eq!(lagged, 1, "it skipped to the last keyframe, then ended");
    let (_, mut late) = ch.subscribe();
    let ended = tokio::time::timeout(Duration::from_secs(5), late.next())
        .await
        .expect("a viewer that came after the close ends at once");
    assert!(ended.is_none());
    assert!(late.try_next().is_none());
}

/// A tag costs more than its bytes to hold: tiny ones at one timestamp (sound only, so
/// every one is cached) fill the GOP cache's budget at its per-tag cost, not at 3 bytes
/// each. Found by review: 983,040 one-byte tags went into one channel's cache (about
/// 216 bytes each, 212 MB, in a budget of 8 MiB).
#[test]
fn the_gop_cache_counts_what_a_tag_costs_beside_its_bytes() {
    let hub = Hub::new(Limits {
        gop_bytes: 256 << 10,
        ..Limits::default()
    });
    let ch = hub.get_or_create("cam", Source::Publish);
    assert!(ch.begin_session());
    for _ in 0..10_000 {
        ch.publish(audio(0));
    }
    let (start, _viewer) = ch.subscribe();
    assert!(
        start.len() <= (256 << 10) / MEDIA_TAG_OVERHEAD,
        "{} tags cached",
        start.len()
    );
}

#[tokio::test]
async fn an_operator_drops_only_the_session_that_is_on() {
    let channel = hub().get_or_create("cam", Source::Pull);
    let switch = Arc::new(Notify::new());
    // No session: nothing to drop, and a switch handed over then is not kept.
    channel.on_drop(switch.clone());
    assert!(!channel.drop_session());
    assert!(channel.begin_session());
    assert!(!channel.drop_session(), "no switch handed over yet");
    channel.on_drop(switch.clone());
    assert!(channel.drop_session());
    tokio::time::timeout(std::time::Duration::from_secs(1), switch.notified())
        .await
        .expect("the session's switch notified");
    // The session's end takes its switch with it.
    channel.end_session();
    assert!(!channel.drop_session());
}
