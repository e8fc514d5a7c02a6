use super::*;

fn snap(now_ms: f64, current: f64, ranges: &[(f64, f64)]) -> Snapshot<'_> {
    Snapshot {
        now_ms,
        current,
        ranges,
        tracks: &[],
        paused: false,
        seeking: false,
        waiting: false,
    }
}

fn started() -> LiveEdge {
    started_with(Options::default().target, (100.0, 101.0))
}

/// A policy holding `target`, started on `buffered` at time 0.
fn started_with(target: f64, buffered: (f64, f64)) -> LiveEdge {
    let mut edge = LiveEdge::new(Options {
        target,
        ..Options::default()
    });
    edge.tick(&snap(0.0, 0.0, &[buffered]));
    edge
}

#[test]
fn first_media_starts_at_target_behind_the_edge() {
    let mut edge = LiveEdge::new(Options::default());
    assert_eq!(edge.tick(&snap(0.0, 0.0, &[])), Decision::play(1.0));
    let d = edge.tick(&snap(0.0, 0.0, &[(100.0, 102.0)]));
    assert_eq!(d.seek, Some((101.5, Seek::Start)));
}

#[test]
fn a_slow_source_is_held_a_frame_interval_and_a_margin_behind() {
    // 1 frame a second: the buffered end is the newest frame's end, a second
    // after it came; the next frame comes a second later. Held 0.15 s behind, the
    // playhead would run dry before each frame.
    let mut edge = LiveEdge::new(Options {
        target: 0.15,
        ..Options::default()
    });
    edge.set_frame_interval(1.0);
    assert!((edge.target() - 1.1).abs() < 1e-9);
    let d = edge.tick(&snap(0.0, 0.0, &[(100.0, 103.0)]));
    assert_eq!(d.seek.map(|(to, _)| (to * 1000.0).round()), Some(101_900.0));
    // Not chased back to the option's target meanwhile.
    let d = edge.tick(&snap(100.0, 101.9, &[(100.0, 103.0)]));
    assert_eq!((d.rate, d.seek), (1.0, None));
    // A frame every 5 s: held at half of `jump_behind`, not so far back that the
    // playhead would be seen behind and sent forward again and again.
    edge.set_frame_interval(5.0);
    assert_eq!(edge.target(), 1.5);
    let d = edge.tick(&snap(200.0, 101.5, &[(100.0, 103.0)]));
    assert_eq!(d.seek, None);
    // 25 fps: the option's target stands.
    edge.set_frame_interval(0.04);
    assert_eq!(edge.target(), 0.15);
    edge.set_frame_interval(f64::NAN);
    assert_eq!(edge.target(), 0.15);
}

#[test]
fn start_never_seeks_before_the_buffered_start() {
    let mut edge = LiveEdge::new(Options::default());
    let d = edge.tick(&snap(0.0, 0.0, &[(100.0, 100.2)]));
    assert_eq!(d.seek, Some((100.0, Seek::Start)));
}

#[test]
fn on_target_plays_at_normal_rate() {
    let mut edge = started();
    assert_eq!(edge.tick(&snap(100.0, 100.5, &[(100.0, 101.0)])).rate, 1.0);
}

#[test]
fn behind_target_chases_with_a_bounded_rate_until_close() {
    let mut edge = started();
    let d = edge.tick(&snap(100.0, 100.0, &[(99.0, 101.4)]));
    assert!(d.rate > 1.0 && d.rate <= 1.15, "{d:?}");
    let d = edge.tick(&snap(200.0, 100.1, &[(99.0, 103.0)]));
    assert_eq!(d.rate, 1.15, "capped");
    // Inside the dead band the chase goes on …
    let d = edge.tick(&snap(300.0, 102.3, &[(99.0, 103.0)]));
    assert!(d.rate > 1.0);
    // … and stops close to the target.
    let d = edge.tick(&snap(400.0, 102.5, &[(99.0, 103.0)]));
    assert_eq!(d.rate, 1.0);
}

#[test]
fn a_chase_keeps_one_small_rate_and_changes_it_at_most_every_hold() {
    let mut edge = started();
    // The first frame on target (one far behind would hold a step back).
    edge.tick(&snap(50.0, 100.51, &[(99.0, 101.01)]));
    let mut rates = Vec::new();
    // 1.5 s behind a 0.5 s target, latency closing at the chase rate, ticks of 250 ms.
    let (mut current, mut end) = (100.0, 101.5);
    for i in 0..80 {
        let now = 100.0 + f64::from(i) * 250.0;
        let d = edge.tick(&snap(now, current, &[(99.0, end)]));
        rates.push((now, d.rate));
        current += 0.25 * d.rate;
        end += 0.25;
    }
    let changes: Vec<_> = rates
        .windows(2)
        .filter(|w| w[0].1 != w[1].1)
        .map(|w| w[1])
        .collect();
    assert_eq!(edge.rate_changes() as usize, changes.len() + 1, "{rates:?}");
    assert!(changes.len() <= 2, "{changes:?}");
    assert_eq!(rates.last().map(|r| r.1), Some(1.0), "on target at the end");
    let latency = end - current;
    assert!((0.45..=0.55).contains(&latency), "{latency}");
    // Every chase rate is one of a few steps.
    for &(_, r) in &rates {
        assert!(
            [1.0, 1.05, 1.1, 1.15].iter().any(|s| (s - r).abs() < 1e-9),
            "{r}"
        );
    }
}

#[test]
fn latency_hovering_at_the_band_edge_does_not_flap_the_rate() {
    let mut edge = started();
    // 0.22 s and 0.28 s past the target in turn, every 250 ms for 10 s.
    for i in 0..40 {
        let now = 100.0 + f64::from(i) * 250.0;
        let excess = if i % 2 == 0 { 0.22 } else { 0.28 };
        let current = 100.0 + f64::from(i) * 0.25;
        edge.tick(&snap(now, current, &[(99.0, current + 0.5 + excess)]));
    }
    assert!(edge.rate_changes() <= 2, "{}", edge.rate_changes());
}

#[test]
fn restart_starts_again_at_the_new_edge_and_keeps_the_counters() {
    let mut edge = started();
    edge.tick(&snap(100.0, 100.0, &[(99.0, 101.4)]));
    let changes = edge.rate_changes();
    edge.restart();
    assert!(!edge.started());
    let d = edge.tick(&snap(200.0, 0.0, &[(5.0, 7.0)]));
    assert_eq!(d.seek, Some((6.5, Seek::Start)));
    assert!(edge.rate_changes() >= changes);
}

#[test]
fn the_slip_after_a_start_is_chased_back() {
    // Started at 100.5 (0.5 behind 101); playback began 0.1 s later than media came.
    let mut edge = started();
    let d = edge.tick(&snap(100.0, 100.5, &[(100.0, 101.6)]));
    assert!(d.rate > 1.0, "{d:?}");
    let d = edge.tick(&snap(200.0, 101.1, &[(100.0, 101.6)]));
    assert_eq!(d.rate, 1.0, "on target again");
}

#[test]
fn a_low_target_is_chased_from_half_a_target_past_it() {
    let mut edge = started_with(0.2, (100.0, 101.0));
    assert_eq!(edge.tick(&snap(100.0, 100.8, &[(100.0, 101.0)])).rate, 1.0);
    // 0.08 s past a 0.2 s target: within the band; 0.12 s past it: chased (once
    // the rate has been held long enough since the start's chase ended).
    assert_eq!(
        edge.tick(&snap(2200.0, 100.9, &[(100.0, 101.18)])).rate,
        1.0
    );
    assert!(edge.tick(&snap(2300.0, 101.0, &[(100.0, 101.32)])).rate > 1.0);
    // Past the default 0.5 s target, 0.15 s is within the band.
    let mut edge = started();
    edge.tick(&snap(100.0, 100.5, &[(100.0, 101.0)]));
    assert_eq!(edge.tick(&snap(200.0, 100.55, &[(100.0, 101.2)])).rate, 1.0);
}

#[test]
fn running_dry_raises_the_target_once_per_stall() {
    let mut edge = started_with(0.2, (100.0, 101.0));
    // Standing still right after the start seek is no stall.
    edge.tick(&snap(100.0, 100.8, &[(100.0, 100.82)]));
    edge.tick(&snap(200.0, 100.8, &[(100.0, 100.82)]));
    assert_eq!(edge.target(), 0.2);
    // Playing, then stuck at the end of the buffer for several ticks: one step.
    edge.tick(&snap(300.0, 100.9, &[(100.0, 101.1)]));
    for i in 0..4 {
        edge.tick(&snap(
            400.0 + f64::from(i) * 100.0,
            101.08,
            &[(100.0, 101.1)],
        ));
    }
    assert!((edge.target() - 0.3).abs() < 1e-9, "{}", edge.target());
    // Moving again, then another stall: another step, up to the cap.
    for k in 0..20 {
        let t = 1000.0 + f64::from(k) * 200.0;
        let at = 102.0 + f64::from(k);
        edge.tick(&snap(t, at, &[(100.0, at + 0.02)]));
        edge.tick(&snap(t + 100.0, at + 0.01, &[(100.0, at + 0.02)]));
        edge.tick(&snap(t + 150.0, at + 0.01, &[(100.0, at + 0.02)]));
    }
    assert_eq!(edge.target(), MAX_TARGET);
    // Playing at the new target does not chase below it.
    assert_eq!(edge.tick(&snap(9000.0, 200.0, &[(100.0, 201.0)])).rate, 1.0);
}

#[test]
fn a_chase_goes_all_the_way_to_the_target() {
    let mut edge = started_with(0.15, (100.0, 101.0));
    // The start's chase: 0.03 s past the target is not there yet …
    assert!(edge.tick(&snap(250.0, 100.82, &[(100.0, 101.0)])).rate > 1.0);
    // … within 10 ms of it is.
    assert_eq!(
        edge.tick(&snap(500.0, 100.845, &[(100.0, 101.0)])).rate,
        1.0
    );
}

/// Plays `seconds` from `at` (now, playhead) with media arriving in real time
/// `ahead` past the playhead at first, ticks of 250 ms; returns the last tick's
/// time and latency.
fn play(edge: &mut LiveEdge, at: (f64, f64), ahead: f64, seconds: u32) -> (f64, f64) {
    let (mut now, mut current) = at;
    let (mut end, mut latency) = (current + ahead, ahead);
    for _ in 0..seconds * 4 {
        now += 250.0;
        end += 0.25;
        latency = end - current;
        let d = edge.tick(&snap(now, current, &[(0.0, end)]));
        current += 0.25 * d.rate;
    }
    (now, latency)
}

/// Started at 0.15 s on 10 s of media, then dry at 750 ms (standing at the end of
/// the buffer while media trickles in): the target raised to 0.25 s.
fn raised_once() -> LiveEdge {
    let mut edge = started_with(0.15, (0.0, 10.0));
    edge.tick(&snap(250.0, 9.9, &[(0.0, 10.0)]));
    edge.tick(&snap(500.0, 9.98, &[(0.0, 10.01)]));
    edge.tick(&snap(750.0, 9.98, &[(0.0, 10.02)]));
    assert_target(&edge, 0.25);
    edge
}

fn assert_target(edge: &LiveEdge, want: f64) {
    assert!(
        (edge.target() - want).abs() < 1e-9,
        "target {} for {want}",
        edge.target()
    );
}

#[test]
fn a_raised_target_eases_back_after_a_calm_spell() {
    let mut edge = raised_once();
    // Refilled to the raised target, it holds it for the calm spell …
    let (now, latency) = play(&mut edge, (750.0, 9.98), 0.25, 19);
    assert_target(&edge, 0.25);
    assert!((latency - 0.25).abs() < 0.02, "{latency}");
    // … then comes down by half a step at a time, and the latency with it.
    let (now, latency) = play(&mut edge, (now, 30.0), latency, 10);
    assert_target(&edge, 0.2);
    assert!((latency - 0.2).abs() < 0.02, "{latency}");
    let (now, latency) = play(&mut edge, (now, 40.0), latency, 40);
    // Never below the option.
    assert_target(&edge, 0.15);
    assert!((latency - 0.15).abs() < 0.02, "{latency}");
    // Another dry spell raises it again, and the calm starts over.
    edge.tick(&snap(now + 250.0, 70.05, &[(0.0, 70.06)]));
    edge.tick(&snap(now + 500.0, 70.05, &[(0.0, 70.06)]));
    assert_target(&edge, 0.25);
    play(&mut edge, (now + 500.0, 70.05), 0.25, 19);
    assert_target(&edge, 0.25);
}

/// The source sent nothing for 1.75 s (a publisher's uplink stalled), then all it
/// held: the target covers that gap at once, so the backlog is played, not chased
/// away, and the next such stall is ridden out; calm again, it comes back down a
/// quarter of the raise at a time.
#[test]
fn a_gap_the_buffer_ran_dry_in_is_covered_at_once_and_eased_by_quarters() {
    let mut edge = started_with(0.15, (0.0, 10.0));
    let (stalled, _) = play(&mut edge, (250.0, 9.85), 0.15, 4);
    // Nothing arrives after 14 s: the playhead runs dry just short of the end.
    let before = edge.target();
    let (mut t, mut current) = (stalled, 13.85);
    while t < stalled + 1500.0 {
        t += 250.0;
        let d = edge.tick(&snap(t, current, &[(0.0, 14.0)]));
        current = (current + 0.25 * d.rate).min(13.95);
    }
    assert_target(&edge, before + 0.1);
    // The 1.75 s come at once: the target now covers the gap, and no chase starts.
    let raised = t + 250.0;
    let d = edge.tick(&snap(raised, 13.95, &[(0.0, 15.75)]));
    assert_target(&edge, 1.85);
    assert!(d.rate <= 1.0 && d.seek.is_none(), "{d:?}");
    // Played on at about the backlog's latency (the slow rate of the dry spell held
    // for its 2 s), neither chased down nor jumped over.
    let (now, latency) = play(&mut edge, (raised, 13.95), 1.8, 10);
    assert!(latency > 1.75 && latency < 2.15, "{latency}");
    // Calm for 20 s: a quarter of the raise goes, and again after the next 20 s.
    let (now, _) = play(&mut edge, (now, 30.0), 1.85, 20);
    assert_target(&edge, 1.425);
    play(&mut edge, (now, 60.0), 1.425, 20);
    assert!((edge.target() - 1.106_25).abs() < 1e-9, "{}", edge.target());
    // Capped half a second short of `jump_behind`: a longer gap is jumped over, not held.
    let mut capped = started_with(0.15, (0.0, 10.0));
    capped.tick(&snap(250.0, 9.9, &[(0.0, 10.0)]));
    capped.tick(&snap(500.0, 9.99, &[(0.0, 10.0)]));
    capped.tick(&snap(750.0, 9.99, &[(0.0, 10.0)]));
    let d = capped.tick(&snap(5750.0, 9.99, &[(0.0, 15.0)]));
    assert_target(&capped, Options::default().jump_behind - GAP_MARGIN_TO_JUMP);
    assert_eq!(d.seek.map(|(_, why)| why), Some(Seek::Behind));
}

/// Asked for the live edge, the player goes to the latency asked for, not to a target
/// a stall raised.
#[test]
fn going_live_drops_a_raised_target() {
    let mut edge = started_with(0.15, (0.0, 10.0));
    edge.tick(&snap(250.0, 9.9, &[(0.0, 10.0)]));
    edge.tick(&snap(500.0, 9.99, &[(0.0, 10.0)]));
    edge.tick(&snap(750.0, 9.99, &[(0.0, 10.0)]));
    edge.tick(&snap(2750.0, 9.99, &[(0.0, 12.0)]));
    assert!(edge.target() > 1.0, "{}", edge.target());
    edge.go_live();
    let d = edge.tick(&snap(3000.0, 10.0, &[(0.0, 12.25)]));
    assert_target(&edge, 0.15);
    assert_eq!(
        d.seek.map(|(to, why)| ((to * 100.0).round(), why)),
        Some((1210.0, Seek::Resync))
    );
}

/// A gap under a second is left to the steps.
#[test]
fn a_short_gap_raises_the_target_a_step() {
    let mut edge = started_with(0.15, (0.0, 10.0));
    let (now, _) = play(&mut edge, (250.0, 9.85), 0.15, 4);
    edge.tick(&snap(now + 250.0, 14.0, &[(0.0, 14.0)]));
    edge.tick(&snap(now + 500.0, 14.0, &[(0.0, 14.0)]));
    edge.tick(&snap(now + 750.0, 14.0, &[(0.0, 14.7)]));
    assert_target(&edge, 0.25);
}

#[test]
fn waiting_near_the_end_of_the_buffer_is_running_dry_too() {
    // A stream that arrives in batches (1 fps: a second of audio with each
    // frame): the element waits with a little media left while the playhead
    // still creeps; the target must grow all the same.
    let mut edge = started_with(0.15, (100.0, 101.0));
    edge.tick(&snap(250.0, 100.9, &[(100.0, 101.0)]));
    let waiting = Snapshot {
        waiting: true,
        ..snap(500.0, 100.92, &[(100.0, 101.0)])
    };
    edge.tick(&waiting);
    assert!((edge.target() - 0.25).abs() < 1e-9, "{}", edge.target());
    // Waiting with media ahead is no starving.
    let ahead = Snapshot {
        waiting: true,
        ..snap(750.0, 101.0, &[(100.0, 102.0)])
    };
    edge.tick(&ahead);
    assert!((edge.target() - 0.25).abs() < 1e-9, "{}", edge.target());
}

#[test]
fn far_behind_jumps_to_the_edge() {
    let mut edge = started();
    let d = edge.tick(&snap(100.0, 100.0, &[(99.0, 104.0)]));
    assert_eq!(d.seek, Some((103.5, Seek::Behind)));
}

#[test]
fn almost_dry_plays_slower() {
    let mut edge = started();
    assert_eq!(
        edge.tick(&snap(100.0, 100.95, &[(100.0, 101.0)])).rate,
        SLOW_RATE
    );
}

#[test]
fn playhead_in_a_gap_skips_to_the_next_range() {
    let mut edge = started();
    let d = edge.tick(&snap(100.0, 101.0, &[(100.0, 100.9), (101.3, 102.0)]));
    assert_eq!(d.seek, Some((101.35, Seek::Gap)));
    // Past the end there is nothing to skip to: wait.
    let d = edge.tick(&snap(200.0, 103.0, &[(100.0, 102.0)]));
    assert_eq!(d, Decision::play(1.0));
}

#[test]
fn a_seek_the_element_lost_while_paused_is_made_again() {
    // Chromium, paused while the start seek is pending, ends that seek at 0.
    let mut edge = started();
    let ranges = [(100.0, 101.2)];
    let paused = |now_ms, current, seeking| Snapshot {
        paused: true,
        seeking,
        ..snap(now_ms, current, &ranges)
    };
    assert_eq!(edge.tick(&paused(50.0, 100.5, true)).seek, None);
    let d = edge.tick(&paused(100.0, 0.0, false));
    assert_eq!(d.seek, Some((100.5, Seek::Reaim)));
    // Made again once; lost again, it is a hole like any other.
    let d = edge.tick(&paused(150.0, 0.0, false));
    assert_eq!(d.seek, Some((100.0 + 0.05, Seek::Gap)));
    // Once it played on from there, a hole is crossed forward as ever.
    edge.tick(&snap(200.0, 100.5, &ranges));
    edge.tick(&snap(300.0, 100.6, &ranges));
    let d = edge.tick(&snap(400.0, 100.0 - 1.0, &ranges));
    assert_eq!(d.seek.map(|(_, why)| why), Some(Seek::Gap));
}

#[test]
fn a_stalled_playhead_with_data_ahead_is_nudged_after_half_a_second() {
    let mut edge = started();
    let ranges = [(100.0, 102.0)];
    assert!(edge.tick(&snap(0.0, 100.4, &ranges)).seek.is_none());
    assert!(edge.tick(&snap(250.0, 100.4, &ranges)).seek.is_none());
    // Still since the tick at 250 ms.
    assert!(edge.tick(&snap(500.0, 100.4, &ranges)).seek.is_none());
    let d = edge.tick(&snap(750.0, 100.4, &ranges));
    assert_eq!(d.seek, Some((100.5, Seek::Stall)));
    assert_eq!(edge.recoveries(), 1);
    // A moving playhead is no stall.
    let mut edge = started();
    let ranges = [(100.0, 101.0)];
    for i in 0..10 {
        let t = f64::from(i);
        assert!(
            edge.tick(&snap(t * 500.0, 100.4 + t * 0.01, &ranges))
                .seek
                .is_none()
        );
    }
}

/// A tab shown again while paused: the viewer's picture holds (the viewer goes live, or
/// the chase does once playing); playing, it jumps.
#[test]
fn a_paused_viewer_holds_across_a_tab_shown_again() {
    let mut edge = started();
    let ranges = [(95.0, 105.0)];
    edge.resync();
    let mut s = snap(1000.0, 97.0, &ranges);
    s.paused = true;
    assert_eq!(edge.tick(&s).seek, None);
    // Playing again, far behind: what the policy does then, but no resync.
    let d = edge.tick(&snap(1250.0, 97.0, &ranges));
    assert_ne!(d.seek.map(|(_, why)| why), Some(Seek::Resync));
    edge.resync();
    let d = edge.tick(&snap(1500.0, 97.0, &ranges));
    assert_eq!(d.seek.map(|(_, why)| why), Some(Seek::Resync));
}

#[test]
fn paused_neither_chases_nor_counts_as_stalled() {
    let mut edge = started();
    let ranges = [(99.0, 102.0)];
    for i in 0..5 {
        let mut s = snap(f64::from(i) * 1000.0, 100.0, &ranges);
        s.paused = true;
        assert_eq!(edge.tick(&s), Decision::play(1.0));
    }
}

#[test]
fn resync_jumps_once_to_the_edge() {
    let mut edge = started();
    edge.resync();
    let d = edge.tick(&snap(0.0, 100.5, &[(99.0, 101.0)]));
    assert_eq!(d.seek, Some((100.5, Seek::Resync)));
    assert!(
        edge.tick(&snap(100.0, 100.5, &[(99.0, 101.0)]))
            .seek
            .is_none()
    );
}

#[test]
fn trims_in_steps_behind_the_back_buffer() {
    let edge = started();
    assert_eq!(edge.trim_before(112.0, &[(100.0, 112.5)]), None);
    assert_eq!(edge.trim_before(116.0, &[(100.0, 116.5)]), Some(106.0));
    assert_eq!(edge.trim_before(116.0, &[]), None);
}

/// A tick of a playing element with per-track ranges.
fn tracks<'a>(
    now_ms: f64,
    current: f64,
    ranges: &'a [(f64, f64)],
    tracks: &'a [Vec<(f64, f64)>],
) -> Snapshot<'a> {
    Snapshot {
        tracks,
        ..snap(now_ms, current, ranges)
    }
}

/// Every track has media at `t`.
fn in_every_track(t: f64, tracks: &[Vec<(f64, f64)>]) -> bool {
    tracks
        .iter()
        .all(|r| r.iter().any(|&(a, b)| t >= a && t < b))
}

/// Issue 13's numbers: a 70 ms hole in the audio at the demo's loop seam.
/// Buffered ranges of one track.
type Ranges = Vec<(f64, f64)>;

fn seam() -> (Ranges, Vec<Ranges>) {
    let video = vec![(571.40, 576.51)];
    let audio = vec![(571.33, 574.42), (574.49, 577.0)];
    // What the element reports: where both have media.
    let element = vec![(571.40, 574.42), (574.49, 576.51)];
    (element, vec![video, audio])
}

/// Started, and playing up to `current`.
fn playing_at(current: f64, ranges: &[(f64, f64)], t: &[Vec<(f64, f64)>]) -> LiveEdge {
    let mut edge = LiveEdge::new(Options::default());
    edge.tick(&tracks(0.0, 0.0, ranges, t));
    edge.tick(&tracks(100.0, current - 0.1, ranges, t));
    edge.tick(&tracks(200.0, current, ranges, t));
    edge
}

#[test]
fn stuck_at_the_end_of_an_audio_range_jumps_over_the_hole() {
    let (element, t) = seam();
    let mut edge = playing_at(574.40, &element, &t);
    let d = edge.tick(&tracks(300.0, 574.42, &element, &t));
    let (to, why) = d.seek.expect("a jump over the hole");
    assert_eq!(why, Seek::Gap);
    assert!(in_every_track(to, &t) && to >= 574.49 + 0.04, "{to}");
    assert_eq!(edge.recoveries(), 1);
}

#[test]
fn standing_just_short_of_a_hole_jumps_over_it_at_once() {
    // The element stops where the audio ends, a few ms short of the range's end.
    let (element, t) = seam();
    let mut edge = playing_at(574.40, &element, &t);
    let d = edge.tick(&tracks(450.0, 574.40, &element, &t));
    let (to, why) = d.seek.expect("over the hole, without waiting for a stall");
    assert_eq!(why, Seek::Gap);
    assert!(in_every_track(to, &t) && to > 574.49, "{to}");
}

#[test]
fn a_playhead_short_of_a_hole_of_one_track_never_lands_in_it() {
    // Standing still 70 ms before the hole, where the old `current + 0.1` nudge
    // landed in it and the seek never completed.
    let (element, t) = seam();
    let mut edge = playing_at(574.35, &element, &t);
    let (to, _) = edge
        .tick(&tracks(300.0, 574.35, &element, &t))
        .seek
        .expect("a recovery");
    assert!(in_every_track(to, &t) && to > 574.49, "{to}");
    // Also where the element reports only the video's ranges.
    let video = t[0].clone();
    let mut edge = playing_at(574.35, &video, &t);
    let (to, _) = edge
        .tick(&tracks(300.0, 574.35, &video, &t))
        .seek
        .expect("a recovery");
    assert!(in_every_track(to, &t) && to > 574.49, "{to}");
}

#[test]
fn a_hole_in_one_track_only_is_never_a_seek_target() {
    let video = vec![(100.0, 110.0)];
    let audio = vec![(100.0, 104.0), (104.5, 110.0)];
    let t = [video.clone(), audio];
    // The element reports only one track's ranges: the policy intersects itself.
    let mut edge = playing_at(104.2, &video, &t);
    let d = edge.tick(&tracks(300.0, 104.2, &video, &t));
    let (to, why) = d.seek.expect("out of the hole");
    assert_eq!(why, Seek::Gap);
    assert!(in_every_track(to, &t) && (to - 104.55).abs() < 1e-9, "{to}");
}

#[test]
fn a_seek_that_never_completes_is_reaimed() {
    let (element, t) = seam();
    let mut edge = playing_at(574.0, &element, &t);
    // A seek (the page's, say) into the audio hole: the element stays seeking.
    let mut s = tracks(300.0, 574.45, &element, &t);
    s.seeking = true;
    assert!(edge.tick(&s).seek.is_none());
    s.now_ms = 300.0 + SEEK_MS - 10.0;
    assert!(edge.tick(&s).seek.is_none(), "not yet");
    s.now_ms = 300.0 + SEEK_MS;
    let (to, why) = edge.tick(&s).seek.expect("re-aimed");
    assert_eq!(why, Seek::Reaim);
    assert!(in_every_track(to, &t) && to > 574.49, "{to}");
    // Still pending at the new target, where every track has media: decoding its
    // way there from a keyframe, so left longer, then re-aimed again.
    let mut s = tracks(300.0 + SEEK_MS + 250.0, to, &element, &t);
    s.seeking = true;
    assert!(edge.tick(&s).seek.is_none());
    s.now_ms = 300.0 + SEEK_MS + SEEK_DECODE_MS - 10.0;
    assert!(edge.tick(&s).seek.is_none(), "left to decode");
    s.now_ms += 10.0;
    let (again, _) = edge.tick(&s).seek.expect("re-aimed again");
    assert!(in_every_track(again, &t) && again > to, "{again}");
    assert_eq!(edge.recoveries(), 2);
    // Time spent seeking counts as stuck.
    assert!(edge.stuck_ms() >= SEEK_MS, "{}", edge.stuck_ms());
}

#[test]
fn a_seek_past_all_that_every_track_has_comes_back_to_it() {
    // Video goes on, audio stopped at 105: a seek to 107 would wait forever.
    let t = [vec![(100.0, 110.0)], vec![(100.0, 105.0)]];
    let element = [(100.0, 105.0)];
    let mut edge = playing_at(104.0, &element, &t);
    let mut s = tracks(300.0, 107.0, &element, &t);
    s.seeking = true;
    edge.tick(&s);
    s.now_ms += SEEK_MS;
    let (to, why) = edge.tick(&s).seek.expect("re-aimed back");
    assert_eq!(why, Seek::Reaim);
    assert!(in_every_track(to, &t) && to <= 105.0, "{to}");
}

#[test]
fn waiting_with_data_ahead_is_recovered() {
    // Waiting mid-range with media ahead in every track (a decoder stall), and a
    // hole of one track further on: a nudge after `STALL_MS`, inside what all have.
    let t = [vec![(100.0, 103.0), (103.3, 105.0)], vec![(100.0, 105.0)]];
    let element = [(100.0, 105.0)];
    let mut edge = playing_at(102.5, &element, &t);
    assert!(
        edge.tick(&tracks(300.0, 102.5, &element, &t))
            .seek
            .is_none()
    );
    let d = edge.tick(&tracks(300.0 + STALL_MS, 102.5, &element, &t));
    let (to, why) = d.seek.expect("nudged");
    assert_eq!(why, Seek::Stall);
    assert!((to - 102.6).abs() < 1e-9, "{to}");
    // Stalled again 0.2 s short of the hole: nudged, still short of it (closer
    // than `LOW_WATER`, it would be jumped over at once).
    edge.tick(&tracks(1000.0, 102.8, &element, &t));
    let d = edge.tick(&tracks(1250.0, 102.8, &element, &t));
    assert!(d.seek.is_none(), "{d:?}");
    let (to, _) = edge
        .tick(&tracks(1250.0 + STALL_MS, 102.8, &element, &t))
        .seek
        .expect("nudged again");
    assert!(in_every_track(to, &t) && (to - 102.9).abs() < 1e-9, "{to}");
}

#[test]
fn with_no_track_ahead_it_waits_without_seeking() {
    // Both at their end, or only video ahead (audio stopped): nothing to seek to.
    for t in [
        [vec![(100.0, 104.0)], vec![(100.0, 104.0)]],
        [vec![(100.0, 108.0)], vec![(100.0, 104.0)]],
    ] {
        let element = [(100.0, 104.0)];
        let mut edge = playing_at(103.99, &element, &t);
        for i in 0..20 {
            let d = edge.tick(&tracks(300.0 + f64::from(i) * 250.0, 103.99, &element, &t));
            assert!(d.seek.is_none(), "{d:?}");
        }
        assert_eq!(edge.recoveries(), 0);
        assert!(edge.stuck_ms() >= 4000.0, "{}", edge.stuck_ms());
    }
}

#[test]
fn paused_by_the_viewer_is_not_stuck() {
    let mut edge = started();
    let ranges = [(99.0, 102.0)];
    for i in 0..5 {
        let mut s = snap(f64::from(i) * 1000.0, 100.0, &ranges);
        s.paused = true;
        edge.tick(&s);
    }
    assert_eq!(edge.stuck_ms(), 0.0);
}

#[test]
fn an_element_waiting_with_media_ahead_is_moved_on_sooner() {
    let (element, t) = seam();
    let mut edge = playing_at(574.0, &element, &t);
    let mut s = tracks(300.0, 574.0, &element, &t);
    s.waiting = true;
    assert!(edge.tick(&s).seek.is_none());
    s.now_ms += WAIT_MS;
    let (to, why) = edge.tick(&s).seek.expect("nudged");
    assert_eq!(why, Seek::Stall);
    assert!((to - 574.1).abs() < 1e-9, "{to}");
    // Waiting at the live edge, with nothing ahead, is the feed running dry: no seek.
    let mut edge = playing_at(576.45, &element, &t);
    for i in 0..8 {
        let mut s = tracks(300.0 + f64::from(i) * 250.0, 576.45, &element, &t);
        s.waiting = true;
        assert!(edge.tick(&s).seek.is_none());
    }
}

#[test]
fn stopped_near_the_live_edge_refills_and_raises_the_target_without_a_seek() {
    // The decoder fell behind (a large picture decoded in software on a busy
    // core): the element stops with 0.2 s buffered, as Chromium does, and a seek
    // would only add a decode from the keyframe.
    let mut edge = started_with(0.15, (100.0, 101.0));
    edge.tick(&snap(250.0, 100.8, &[(100.0, 101.0)]));
    edge.tick(&snap(500.0, 100.85, &[(100.0, 101.05)]));
    // Media goes on arriving meanwhile, past the raised target.
    for i in 0..6 {
        let end = [(100.0, 101.05 + f64::from(i) * 0.25)];
        let s = Snapshot {
            waiting: true,
            ..snap(750.0 + f64::from(i) * 250.0, 100.85, &end)
        };
        assert!(edge.tick(&s).seek.is_none(), "tick {i}");
    }
    // Running dry, once: the target grows a step.
    assert_target(&edge, 0.25);
    // Still stopped after `REFILL_MS`: something else holds it, so a nudge.
    let s = Snapshot {
        waiting: true,
        ..snap(750.0 + REFILL_MS, 100.85, &[(100.0, 102.6)])
    };
    assert_eq!(edge.tick(&s).seek.map(|(_, why)| why), Some(Seek::Stall));
}

#[test]
fn running_dry_soon_after_an_ease_makes_the_next_ease_wait_twice_as_long() {
    let mut edge = raised_once();
    // Eased after the calm spell …
    let (now, _) = play(&mut edge, (750.0, 9.98), 0.25, 21);
    assert_target(&edge, 0.2);
    // … and dry again 5 s later: raised, and the next ease waits 40 s, not 20.
    let (now, _) = play(&mut edge, (now, 40.0), 0.2, 5);
    edge.tick(&snap(now + 250.0, 50.0, &[(0.0, 50.01)]));
    edge.tick(&snap(now + 500.0, 50.0, &[(0.0, 50.01)]));
    assert_target(&edge, 0.3);
    let (now, _) = play(&mut edge, (now + 500.0, 50.0), 0.3, 39);
    assert_target(&edge, 0.3);
    play(&mut edge, (now, 100.0), 0.3, 2);
    assert_target(&edge, 0.25);
}

#[test]
fn a_first_frame_far_behind_the_target_holds_a_step_back() {
    // Started 0.15 s behind; the element took 0.65 s to show its first frame, and
    // media went on arriving meanwhile: the chase from 0.8 s ends a step short.
    let mut edge = started_with(0.15, (0.0, 10.0));
    edge.tick(&snap(300.0, 9.85, &[(0.0, 10.3)]));
    edge.tick(&snap(650.0, 9.85, &[(0.0, 10.65)]));
    assert_target(&edge, 0.15);
    edge.tick(&snap(700.0, 9.86, &[(0.0, 10.66)]));
    assert_target(&edge, 0.25);
    // Judged once: later movement far behind is a chase, not another step.
    edge.tick(&snap(900.0, 10.06, &[(0.0, 10.86)]));
    assert_target(&edge, 0.25);
    let (_, latency) = play(&mut edge, (900.0, 10.06), 0.8, 15);
    assert!((latency - 0.25).abs() < 0.02, "{latency}");
    // Eased back to the option after the calm spell, as any raised target.
    play(&mut edge, (16_000.0, 30.0), 0.25, 40);
    assert_target(&edge, 0.15);

    // A first frame near the target keeps it.
    let mut edge = started_with(0.15, (0.0, 10.0));
    edge.tick(&snap(100.0, 9.85, &[(0.0, 10.05)]));
    edge.tick(&snap(150.0, 9.86, &[(0.0, 10.08)]));
    assert_target(&edge, 0.15);

    // Paused at the start (autoplay refused): played later, far behind, is no slow start.
    let mut edge = started_with(0.15, (0.0, 10.0));
    edge.tick(&Snapshot {
        paused: true,
        ..snap(100.0, 9.85, &[(0.0, 10.1)])
    });
    edge.tick(&snap(2000.0, 9.86, &[(0.0, 12.0)]));
    assert_target(&edge, 0.15);
}
