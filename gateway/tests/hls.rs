//! HLS and Low-Latency HLS out, against the real binary with ffmpeg publishing: every
//! playlist checked by core's RFC 8216 checker over 30 s of blocking reloads, blocking
//! requests held until what they ask exists, ffmpeg reading the stream with no decode
//! error, tokens carried into the playlist's URIs, and no producer while nobody watches.

mod peers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use flashless_core::hls::check::{Playlist, Reloads, check};
use peers::*;

/// 1 s segments of 0.25 s parts: the ffmpeg stream has a keyframe each second, and
/// the tests see many segments go by in little time.
const LL: &[&str] = &["--no-demo", "--hls-segment", "1", "--hls-part", "0.25"];

/// A GET on loopback: status, headers (lower-case names) and the body as bytes.
fn get(port: u16, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    get_as(port, path, None)
}

/// [`get`] with a `User-Agent`, which (with the address) tells HLS players apart.
fn get_as(port: u16, path: &str, agent: Option<&str>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(15))).ok();
    let agent = agent.map_or(String::new(), |a| format!("User-Agent: {a}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{agent}\r\n"
    )
    .expect("sending");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("reading the answer");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[end + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn playlist_text(port: u16, path: &str) -> String {
    let (status, headers, body) = get(port, path);
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{path}: {text}");
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    text
}

fn checked(text: &str) -> Playlist {
    check(text).unwrap_or_else(|bad| panic!("{text}\n{bad:#?}"))
}

/// The URI of the last segment a playlist's body lists.
fn last_segment(body: &[u8]) -> String {
    let playlist = checked(&String::from_utf8_lossy(body));
    playlist.segments.last().expect("a segment").uri.clone()
}

/// `part{msn}.{i}.m4s` → (msn, i).
fn part_of(uri: &str) -> (u64, u32) {
    let name = uri
        .split('?')
        .next()
        .and_then(|n| n.strip_prefix("part"))
        .and_then(|n| n.strip_suffix(".m4s"))
        .unwrap_or_else(|| panic!("not a part URI: {uri}"));
    let (msn, i) = name.split_once('.').expect("msn.index");
    (msn.parse().expect("msn"), i.parse().expect("index"))
}

/// ffmpeg reads `secs` seconds of the HLS at `url` with no error or warning.
fn ffmpeg_reads_cleanly(url: &str, secs: u32) {
    let out = output_of(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-v", "error", "-i", url, "-t"])
            .arg(secs.to_string())
            .args(["-f", "null", "-"]),
        "ffmpeg reading HLS",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.trim().is_empty(), "ffmpeg said: {err}");
}

/// A gateway of [`LL`] and `extra` whose `on_play` and `on_stop` go to a hook service
/// (its configuration in `dir`): the events that service receives.
fn with_play_hooks(dir: &TempDir, extra: &[&str]) -> (Gateway, Received) {
    let (port, received) = hook_service(0);
    let url = format!("http://127.0.0.1:{port}/hooks");
    let file = config(
        dir,
        &format!("[hooks]\non_play = \"{url}\"\non_stop = \"{url}\"\n"),
    );
    let mut args = LL.to_vec();
    args.extend(["--config", &file]);
    args.extend(extra);
    (Gateway::start(&args), received)
}

fn publish(gw: &Gateway, channel: &str) -> Guard {
    let ffmpeg = ffmpeg_publish(&gw.rtmp_url(channel), &[]);
    gw.wait_live(channel);
    ffmpeg
}

/// As hls.js reloads in low-latency mode: blocking, and asking for delta updates
/// (`_HLS_skip=YES`), which a 14 s window of 1 s segments offers past a skip
/// boundary of 6 s; each merged with the reload before and checked.
#[test]
fn playlists_pass_the_checker_over_30_s_of_blocking_reloads() {
    let mut args = LL.to_vec();
    args.extend(["--hls-window", "14"]);
    let gw = Gateway::start(&args);
    let _ffmpeg = publish(&gw, "cam");
    let mut reloads = Reloads::default();
    let first = playlist_text(gw.http, "/live/cam/index.m3u8");
    let mut p = reloads
        .reload(&first)
        .unwrap_or_else(|bad| panic!("{first}\n{bad:#?}"));
    let start_msn = p.media_sequence;
    let init = p.segments[0].map.clone().expect("a map");
    let (status, headers, body) = get(gw.http, &format!("/live/cam/{init}"));
    assert_eq!(status, 200);
    assert_eq!(&body[4..8], b"ftyp");
    assert!(header(&headers, "cache-control").is_some_and(|c| c.contains("immutable")));
    assert!(first.contains("CAN-SKIP-UNTIL=6.0"), "{first}");
    let started = Instant::now();
    let mut parts_read = 0;
    let mut deltas = 0;
    while started.elapsed() < Duration::from_secs(30) {
        // As a low-latency player does: ask for the hinted part, blocking.
        let (msn, part) = part_of(p.preload_hint.as_deref().expect("a preload hint"));
        let path = format!("/live/cam/index.m3u8?_HLS_msn={msn}&_HLS_part={part}&_HLS_skip=YES");
        let asked = Instant::now();
        let text = playlist_text(gw.http, &path);
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "a reload held {:?}",
            asked.elapsed()
        );
        deltas += usize::from(text.contains("#EXT-X-SKIP:"));
        p = reloads
            .reload(&text)
            .unwrap_or_else(|bad| panic!("{text}\n{bad:#?}"));
        // The playlist holds the part it was asked for, or has gone past it.
        let listed = p
            .open_parts
            .iter()
            .chain(p.segments.iter().flat_map(|s| &s.parts))
            .any(|x| part_of(&x.uri) == (msn, part));
        assert!(listed || p.next_msn() > msn, "{path} answered\n{text}");
        if let Some(last) = p.open_parts.last() {
            let (status, _, body) = get(gw.http, &format!("/live/cam/{}", last.uri));
            assert_eq!(status, 200, "{}", last.uri);
            assert_eq!(&body[4..8], b"moof", "{}", last.uri);
            parts_read += 1;
        }
    }
    assert!(reloads.count > 60, "{} reloads in 30 s", reloads.count);
    assert!(parts_read > 30, "{parts_read} parts read");
    assert!(deltas > 30, "{deltas} delta updates");
    assert_eq!(p.segments.len(), 14, "the window, merged");
    assert!(
        p.media_sequence >= start_msn + 10,
        "the window slid from {start_msn} to {}",
        p.media_sequence
    );
    // The segment that left the playlist last is still served, for a player that
    // reloaded a moment before (RFC 8216 §6.2.2).
    let left = format!("/live/cam/seg{}.m4s", p.media_sequence - 1);
    let (status, _, body) = get(gw.http, &left);
    assert_eq!(
        (status, body.get(4..8)),
        (200, Some(&b"moof"[..])),
        "{left}"
    );
    // A whole segment is served too, and holds every one of its parts.
    let s = &p.segments[p.segments.len() - 1];
    let (status, _, whole) = get(gw.http, &format!("/live/cam/{}", s.uri));
    assert_eq!(status, 200);
    let mut joined = Vec::new();
    for x in &s.parts {
        joined.extend(get(gw.http, &format!("/live/cam/{}", x.uri)).2);
    }
    assert!(!s.parts.is_empty());
    assert_eq!(whole, joined);
}

/// `[hls] window` sets how much media a playlist lists: 9 s of 1 s segments is nine
/// segments, no more, each still served and dated on the wall clock; a window under
/// three segments is refused.
#[test]
fn a_configured_window_lists_that_much_media() {
    let mut args = LL.to_vec();
    args.extend(["--hls-window", "9"]);
    let gw = Gateway::start(&args);
    let _ffmpeg = publish(&gw, "cam");
    let playlist = || checked(&playlist_text(gw.http, "/live/cam/index.m3u8"));
    let started = Instant::now();
    while playlist().segments.len() < 9 {
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "{:?}",
            playlist()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    for _ in 0..12 {
        let p = playlist();
        assert_eq!(p.segments.len(), 9, "{p:?}");
        // The oldest listed is still served.
        let oldest = &p.segments[0].uri;
        assert_eq!(
            get(gw.http, &format!("/live/cam/{oldest}")).0,
            200,
            "{oldest}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Each segment dated (EXT-X-PROGRAM-DATE-TIME), the dates following the media and
    // the newest at the wall clock.
    let p = playlist();
    for pair in p.segments.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let step = b.program_ms.expect("a date") - a.program_ms.expect("a date");
        assert!(
            (step as f64 - a.duration * 1000.0).abs() < 2.0,
            "segment {} dated {step} ms after the one before, which lasts {} s",
            b.msn,
            a.duration
        );
    }
    let last = p.segments.last().expect("a segment");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    let end = last.program_ms.expect("a date") + (last.duration * 1000.0) as i64;
    assert!(
        (now - end).abs() < 3000,
        "the newest segment ends {} ms from now",
        now - end
    );
    fails_saying(
        &[
            "serve",
            "--no-demo",
            "--hls-segment",
            "2",
            "--hls-window",
            "5",
        ],
        &["[hls] window = 5 s", "three segments (6 s)"],
    );
}

/// A publisher that sends no keyframe after its first: its segments are cut at ten
/// target durations anyway (the window's memory stays bounded), the playlist no longer
/// says they are independent, and a segment is served whole: its parts in order.
#[test]
fn a_publisher_without_keyframes_gets_segments_cut_at_ten_targets() {
    let gw = Gateway::start(LL);
    let ffmpeg = ffmpeg_publish(&gw.rtmp_url("cam"), &["-g", "100000", "-sc_threshold", "0"]);
    gw.wait_live("cam");
    let path = "/live/cam/index.m3u8";
    let started = Instant::now();
    // Asked for from the start: a player that comes once the GOP cache gave up on the
    // first keyframe (10 s) finds nothing to start from, as any viewer would.
    let p = loop {
        let (status, _, body) = get(gw.http, path);
        let text = String::from_utf8_lossy(&body).into_owned();
        assert!(status == 200 || status == 503, "{status}: {text}");
        if status == 200 && checked(&text).segments.len() >= 2 {
            break checked(&text);
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{status}: {text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    drop(ffmpeg);
    assert!(!p.independent_segments, "{p:?}");
    assert_eq!(p.target_duration, Some(10), "{p:?}");
    for s in &p.segments {
        assert!(
            (s.duration - 10.0).abs() < 0.5,
            "segment {}: {} s",
            s.msn,
            s.duration
        );
    }
    // The newest complete segment: whole, its length said, its parts in order.
    let segment = p.segments.last().expect("a segment");
    let (status, headers, whole) = get(gw.http, &format!("/live/cam/{}", segment.uri));
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-length"),
        Some(whole.len().to_string().as_str())
    );
    let mut parts = Vec::new();
    for i in 0.. {
        let (status, _, part) = get(gw.http, &format!("/live/cam/part{}.{i}.m4s", segment.msn));
        if status != 200 {
            break;
        }
        parts.extend_from_slice(&part);
    }
    assert!(whole.len() > 100_000, "{} bytes in 10 s", whole.len());
    assert!(
        whole == parts,
        "the segment is not its parts: {} bytes, parts {}",
        whole.len(),
        parts.len()
    );
}

#[test]
fn blocking_requests_return_once_the_part_exists() {
    let gw = Gateway::start(LL);
    let _ffmpeg = publish(&gw, "cam");
    let p = checked(&playlist_text(gw.http, "/live/cam/index.m3u8"));
    let hint = p.preload_hint.clone().expect("a hint");
    let (msn, part) = part_of(&hint);
    // The hinted part, asked before it exists: held, then served whole.
    let asked = Instant::now();
    let (status, _, body) = get(gw.http, &format!("/live/cam/{hint}"));
    let held = asked.elapsed();
    assert_eq!(status, 200);
    assert_eq!(&body[4..8], b"moof");
    assert!(held < Duration::from_secs(2), "held {held:?}");
    // A reload two parts ahead waits for both.
    let ahead = format!("/live/cam/index.m3u8?_HLS_msn={msn}&_HLS_part={}", part + 2);
    let asked = Instant::now();
    let text = playlist_text(gw.http, &ahead);
    let held = asked.elapsed();
    let q = checked(&text);
    assert!(
        held > Duration::from_millis(150) && held < Duration::from_secs(3),
        "held {held:?}"
    );
    assert!(q.next_msn() > msn || q.open_parts.len() as u32 > part + 2 || q.next_msn() == msn + 1);
    // Too far ahead: refused at once (RFC 8216bis §6.2.5.2).
    let (status, _, _) = get(
        gw.http,
        &format!("/live/cam/index.m3u8?_HLS_msn={}", q.next_msn() + 5),
    );
    assert_eq!(status, 400);
    let (status, _, _) = get(gw.http, "/live/cam/index.m3u8?_HLS_part=1");
    assert_eq!(status, 400);
    // Long gone: 404.
    let (status, _, _) = get(
        gw.http,
        &format!(
            "/live/cam/part{}.0.m4s",
            p.media_sequence.saturating_sub(50)
        ),
    );
    assert_eq!(status, 404);
}

#[test]
fn ffmpeg_reads_the_hls_with_no_decode_error() {
    let gw = Gateway::start(LL);
    let _ffmpeg = publish(&gw, "cam");
    let url = format!("http://127.0.0.1:{}/live/cam/index.m3u8", gw.http);
    ffmpeg_reads_cleanly(&url, 10);
    // Listed once per program and once per stream.
    let streams = ffprobe_streams(&url);
    assert!(streams.contains("h264,320,240\naac"), "{streams}");
}

/// A channel whose sound is MP3 (which Chromium's MediaSource takes in no MP4, so
/// hls.js there cannot play it as fMP4) goes as MPEG-TS, in whole segments (hls.js
/// cannot place an MP3 part's sound): playlists without a map or parts that pass the
/// checker at every blocking reload, segments of TS packets served as `video/mp2t`,
/// none under the fMP4 names, and ffmpeg reading H.264 and MP3 from it with no decode
/// error.
#[test]
fn an_mp3_channel_goes_as_mpeg_ts() {
    let gw = Gateway::start(LL);
    let _ffmpeg = ffmpeg_publish(&gw.rtmp_url("cam"), &["-c:a", "libmp3lame"]);
    gw.wait_live("cam");
    let mut reloads = Reloads::default();
    let text = playlist_text(gw.http, "/live/cam/index.m3u8");
    let mut p = reloads
        .reload(&text)
        .unwrap_or_else(|bad| panic!("{text}\n{bad:#?}"));
    let started = Instant::now();
    let mut segments_read = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let asked = p.next_msn();
        let text = playlist_text(gw.http, &format!("/live/cam/index.m3u8?_HLS_msn={asked}"));
        assert!(
            !text.contains("EXT-X-MAP") && !text.contains(".m4s"),
            "{text}"
        );
        assert!(!text.contains("EXT-X-PART"), "{text}");
        p = reloads
            .reload(&text)
            .unwrap_or_else(|bad| panic!("{text}\n{bad:#?}"));
        assert!(p.next_msn() > asked, "?_HLS_msn={asked} answered\n{text}");
        let s = p.segments.last().expect("a segment");
        let (status, headers, body) = get(gw.http, &format!("/live/cam/{}", s.uri));
        assert_eq!(status, 200, "{}", s.uri);
        assert_eq!(header(&headers, "content-type"), Some("video/mp2t"));
        assert!(body.len() % 188 == 0 && body[0] == 0x47, "{}", s.uri);
        segments_read += 1;
    }
    assert!(segments_read >= 5, "{segments_read} segments read");
    let msn = p.segments.last().expect("a segment").msn;
    let (status, _, _) = get(gw.http, &format!("/live/cam/seg{msn}.m4s"));
    assert_eq!(status, 404, "a TS segment under an fMP4 name");

    let url = format!("http://127.0.0.1:{}/live/cam/index.m3u8", gw.http);
    ffmpeg_reads_cleanly(&url, 6);
    let streams = ffprobe_streams(&url);
    assert!(streams.contains("h264,320,240\nmp3"), "{streams}");
}

/// A publisher back with other tracks, sound only and then both again: the playlist
/// goes on through each change, every reload passing the checker, the new session's
/// segments after a discontinuity and under an init of its own tracks. Before, the
/// segmenter kept the last session's video and waited for its keyframes: the sound
/// alone never made a segment, and the playlist stood still for good.
#[test]
fn a_publisher_back_with_other_tracks_goes_on_after_a_discontinuity() {
    let gw = Gateway::start(LL);
    let mut ffmpeg = publish(&gw, "cam");
    let path = "/live/cam/index.m3u8";
    let mut reloads = Reloads::default();
    // The init the newest complete segment plays under, once one is out.
    let newest_map = |reloads: &mut Reloads| {
        let text = playlist_text(gw.http, path);
        let p = reloads
            .reload(&text)
            .unwrap_or_else(|bad| panic!("{text}\n{bad:#?}"));
        let mut map = None;
        for s in &p.segments {
            map = s.map.clone().or(map);
        }
        (p, map)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let (_, mut map) = newest_map(&mut reloads);
    while map.is_none() {
        assert!(Instant::now() < deadline, "no segment in 20 s");
        std::thread::sleep(Duration::from_millis(200));
        map = newest_map(&mut reloads).1;
    }
    for (video, streams) in [(false, "aac"), (true, "h264,320,240\naac")] {
        drop(ffmpeg);
        ffmpeg = ffmpeg_publish_tracks(&gw.rtmp_url("cam"), video, true);
        let deadline = Instant::now() + Duration::from_secs(20);
        // Two complete segments under a new init: the session goes on, not just starts.
        let (p, new_map) = loop {
            let (p, new_map) = newest_map(&mut reloads);
            let under_new = p
                .segments
                .iter()
                .rev()
                .take_while(|s| !s.discontinuity)
                .count();
            if new_map != map && under_new >= 2 && p.segments.iter().any(|s| s.discontinuity) {
                break (p, new_map);
            }
            assert!(
                Instant::now() < deadline,
                "no two segments of the new session (video: {video}) in 20 s: {p:#?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        let init = new_map.clone().expect("an init");
        let url = format!("http://127.0.0.1:{}/live/cam/{init}", gw.http);
        let got = ffprobe_streams(&url);
        assert_eq!(got.trim(), streams, "{init} of {p:#?}");
        map = new_map;
    }
}

#[test]
fn no_producer_runs_while_nobody_watches() {
    let gw = Gateway::start(LL);
    let _ffmpeg = publish(&gw, "cam");
    assert_eq!(gw.metric("flashless_hls_producers"), 0.0);
    checked(&playlist_text(gw.http, "/live/cam/index.m3u8"));
    assert_eq!(gw.metric("flashless_hls_producers"), 1.0);
    assert_eq!(gw.channel("cam").expect("cam")["viewers"], 1);
    // Five target durations (5 s) with no request, and it stops.
    let since = Instant::now();
    while gw.metric("flashless_hls_producers") > 0.0 {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the producer still runs"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        since.elapsed() >= Duration::from_secs(3),
        "stopped too early"
    );
    assert_eq!(gw.channel("cam").expect("cam")["viewers"], 0);
    assert!(gw.metric("flashless_sent_bytes_total{channel=\"cam\",protocol=\"hls\"}") >= 0.0);
    // Media is not served without a playlist request first.
    let (status, _, _) = get(gw.http, "/live/cam/part1.0.m4s");
    assert_eq!(status, 404);
    // A restarted producer numbers past the one before.
    let again = checked(&playlist_text(gw.http, "/live/cam/index.m3u8"));
    assert!(again.media_sequence > 0);
}

#[test]
fn hls_players_are_viewers_under_the_viewer_cap() {
    let mut args = LL.to_vec();
    args.extend(["--max-viewers", "2", "--connections-per-ip", "3"]);
    let gw = Gateway::start(&args);
    let _ffmpeg = publish(&gw, "cam");
    let viewers = || gw.channel("cam").expect("cam")["viewers"].as_u64();
    let playlist = |agent: &str| get_as(gw.http, "/live/cam/index.m3u8", Some(agent)).0;
    assert_eq!(playlist("a"), 200);
    assert_eq!(viewers(), Some(1));
    // The same player again (a reload without blocking) is the same viewer.
    assert_eq!(playlist("a"), 200);
    assert_eq!(viewers(), Some(1));
    assert_eq!(playlist("b"), 200);
    assert_eq!(viewers(), Some(2));
    // Full: a third player, and a viewer of any other protocol, are turned away;
    // the two counted go on, their media included.
    assert_eq!(playlist("c"), 503);
    assert_eq!(get(gw.http, "/live/cam.flv").0, 503);
    let (_, _, text) = get_as(gw.http, "/live/cam/index.m3u8", Some("b"));
    let segment = last_segment(&text);
    let media = |agent: &str| get_as(gw.http, &format!("/live/cam/{segment}"), Some(agent)).0;
    assert_eq!(media("b"), 200);
    assert_eq!(media("d"), 503);
    assert_eq!(viewers(), Some(2));
    // Players that stop asking leave within three target durations (3 s here), and
    // a new one gets in.
    let since = Instant::now();
    while viewers() != Some(0) {
        assert!(
            since.elapsed() < Duration::from_secs(6),
            "players still counted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        since.elapsed() >= Duration::from_secs(2),
        "forgotten too soon"
    );
    assert_eq!(playlist("c"), 200);
    assert_eq!(viewers(), Some(1));
}

/// The limit is the address's on every channel together. Found by review: it was
/// counted per channel, so one address held that many players on each.
#[test]
fn one_address_runs_at_most_connections_per_ip_hls_players() {
    let mut args = LL.to_vec();
    args.extend(["--connections-per-ip", "3"]);
    let gw = Gateway::start(&args);
    let _cam = publish(&gw, "cam");
    let _lobby = publish(&gw, "lobby");
    let playlist = |channel: &str, agent: &str| {
        get_as(gw.http, &format!("/live/{channel}/index.m3u8"), Some(agent))
    };
    assert_eq!(playlist("cam", "a").0, 200);
    assert_eq!(playlist("cam", "b").0, 200);
    assert_eq!(playlist("lobby", "a").0, 200);
    for (channel, agent) in [("cam", "c"), ("lobby", "b")] {
        let (status, _, body) = playlist(channel, agent);
        assert_eq!(status, 429, "{channel}, player {agent}");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("127.0.0.1"), "{text}");
    }
    // A player counted goes on being served.
    assert_eq!(playlist("lobby", "a").0, 200);
    assert_eq!(gw.channel("cam").expect("cam")["viewers"], 2);
    assert_eq!(gw.channel("lobby").expect("lobby")["viewers"], 1);
}

#[test]
fn unknown_channels_and_files_are_404() {
    let gw = Gateway::start(LL);
    let (status, _, _) = get(gw.http, "/live/nope/index.m3u8");
    assert_eq!(status, 404);
    let (status, _, _) = get(gw.http, "/live/nope/other.txt");
    assert_eq!(status, 404);
}

#[test]
fn the_token_is_needed_and_carried_into_every_uri() {
    const SECRET: &str = "correct horse battery staple";
    let sign = |args: &[&str]| signed_token(SECRET, args);
    let mut args = LL.to_vec();
    args.extend(["--secret", SECRET]);
    let gw = Gateway::start(&args);
    let publish = sign(&["--publish", "cam"]);
    let _ffmpeg = ffmpeg_publish(&format!("{}?token={publish}", gw.rtmp_url("cam")), &[]);
    gw.wait_live("cam");
    let (status, _, _) = get(gw.http, "/live/cam/index.m3u8");
    assert_eq!(status, 401);
    let play = sign(&["cam"]);
    let text = playlist_text(gw.http, &format!("/live/cam/index.m3u8?token={play}"));
    let p = checked(&text);
    let suffix = format!("?token={play}");
    assert!(
        p.segments.iter().all(|s| s.uri.ends_with(&suffix)),
        "{text}"
    );
    assert!(
        p.preload_hint
            .as_deref()
            .is_some_and(|h| h.ends_with(&suffix))
    );
    let part = &p.segments.last().expect("a segment").uri;
    let (status, _, _) = get(gw.http, &format!("/live/cam/{part}"));
    assert_eq!(status, 200);
    let bare = part.split('?').next().unwrap_or_default();
    let (status, _, _) = get(gw.http, &format!("/live/cam/{bare}"));
    assert_eq!(status, 401);
}

/// HLS players are sessions as a connection's viewers are: `on_play` at the first
/// request, listed in `/api/clients` with the media bytes sent to them, `on_stop` once
/// they stop asking. One the operator kicks ends at once (its `on_stop`), and is refused
/// until it has stopped asking for three target durations.
#[test]
fn hls_players_are_clients_with_hooks_and_the_operator_kicks_one() {
    const ADMIN: &str = "an admin token long enough";
    let dir = TempDir::new("hls-clients");
    let (gw, received) = with_play_hooks(&dir, &["--admin-token", ADMIN]);
    let _ffmpeg = publish(&gw, "cam");
    let bearer = format!("Authorization: Bearer {ADMIN}\r\n");
    // The viewers listed (the publisher is listed too).
    let clients = || -> Vec<serde_json::Value> {
        let (status, _, body) = raw_request(gw.http, "GET", "/api/clients", &bearer);
        assert_eq!(status, 200);
        let all: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("JSON");
        all.into_iter().filter(|c| c["role"] == "viewer").collect()
    };
    let events = |action: &str| -> Vec<u64> {
        let received = received.lock().unwrap();
        (received.iter())
            .filter(|e| e["action"] == action && e["protocol"] == "hls")
            .filter_map(|e| e["client_id"].as_str()?.parse().ok())
            .collect()
    };
    let playlist = |agent: &str| get_as(gw.http, "/live/cam/index.m3u8", Some(agent));

    // Player a reads the playlist and a segment, player b the playlist.
    let (status, _, text) = playlist("a");
    assert_eq!(status, 200);
    let segment = last_segment(&text);
    let (status, _, media) = get_as(gw.http, &format!("/live/cam/{segment}"), Some("a"));
    assert_eq!((status, media.is_empty()), (200, false));
    assert_eq!(playlist("b").0, 200);
    let listed = clients();
    assert_eq!(listed.len(), 2, "{listed:?}");
    for c in &listed {
        assert_eq!(
            (&c["protocol"], &c["role"], &c["channel"], &c["ip"]),
            (
                &"hls".into(),
                &"viewer".into(),
                &"cam".into(),
                &"127.0.0.1".into()
            ),
            "{c}"
        );
    }
    let (a, b) = (
        listed[0]["id"].as_u64().unwrap(),
        listed[1]["id"].as_u64().unwrap(),
    );
    assert_eq!(listed[0]["bytes"].as_u64(), Some(media.len() as u64));
    assert_eq!(listed[1]["bytes"].as_u64(), Some(0));
    eventually(Duration::from_secs(10), "on_play of both", || {
        events("on_play") == [a, b]
    });

    // Kicked: a's session ends, and its requests are refused while it goes on asking.
    let (status, _, body) = raw_request(gw.http, "POST", &format!("/api/kick?client={a}"), &bearer);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = playlist("a");
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("kicked"));
    assert_eq!(
        get_as(gw.http, &format!("/live/cam/{segment}"), Some("a")).0,
        403
    );
    let ids: Vec<_> = clients().iter().filter_map(|c| c["id"].as_u64()).collect();
    assert_eq!(ids, [b]);
    eventually(Duration::from_secs(10), "on_stop of a", || {
        events("on_stop") == [a]
    });
    assert_eq!(gw.channel("cam").expect("cam")["viewers"].as_u64(), Some(1));
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(playlist("a").0, 403);
    }
    // b stopped asking 4 s ago, over three target durations: gone.
    eventually(Duration::from_secs(5), "on_stop of b", || {
        events("on_stop") == [a, b]
    });
    assert!(clients().is_empty());
    assert_eq!(gw.channel("cam").expect("cam")["viewers"].as_u64(), Some(0));

    // a, quiet for as long, comes back as a new session.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(playlist("a").0, 200);
    let listed = clients();
    assert_eq!(listed.len(), 1);
    let again = listed[0]["id"].as_u64().unwrap();
    assert!(again > b);
    eventually(Duration::from_secs(10), "on_play again", || {
        events("on_play") == [a, b, again]
    });
}

/// A camera with a long GOP: the first playlist waits for the first complete segment
/// (its second keyframe, 8 s on), longer than a player or a producer stays without a
/// request; the wait is a request, so the player gets its playlist, as one session.
#[test]
fn a_first_playlist_waiting_out_a_long_gop_is_one_session() {
    let dir = TempDir::new("hls-long-gop");
    let (gw, received) = with_play_hooks(&dir, &[]);
    let _ffmpeg = ffmpeg_publish(&gw.rtmp_url("cam"), &["-g", "200", "-sc_threshold", "0"]);
    gw.wait_live("cam");
    let asked = Instant::now();
    let (status, _, body) = get_as(gw.http, "/live/cam/index.m3u8", Some("camera fan"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let waited = asked.elapsed();
    // Over 1 s segments: a player is gone after 3 s without a request, a producer after 5.
    assert!(waited > Duration::from_secs(5), "answered in {waited:?}");
    // It goes on as players do, a reload a target duration.
    for _ in 0..4 {
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            get_as(gw.http, "/live/cam/index.m3u8", Some("camera fan")).0,
            200
        );
    }
    let events: Vec<String> = (received.lock().unwrap().iter())
        .filter(|e| e["protocol"] == "hls")
        .filter_map(|e| Some(e["action"].as_str()?.to_owned()))
        .collect();
    assert_eq!(events, ["on_play"], "after a first wait of {waited:?}");
    assert_eq!(gw.channel("cam").expect("cam")["viewers"].as_u64(), Some(1));
}
