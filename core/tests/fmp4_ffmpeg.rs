//! The remuxer against FFmpeg: FLV files made by ffmpeg are remuxed (Muxed layout
//! into one file, PerTrack into one file per track), decoded by ffmpeg without an
//! error, and every packet's DTS/PTS is compared with the source FLV's.
//!
//! The HLS's MPEG-TS (`flashless_core::ts`, for channels whose sound is MP3) is made
//! from the segmenter's parts and read back the same way.
//!
//! Enhanced RTMP codecs (HEVC, AV1, VP9, Opus, FLAC), which FFmpeg 5.1 cannot
//! put in FLV, come as tags from `support::ertmp_clip`; their source timestamps
//! are the tags'.
//!
//! Needs ffmpeg and ffprobe (with libx264, libmp3lame, libx265, libaom, libvpx
//! and libopus); `cargo xtask test` installs them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use flashless_core::flv::{
    AudioPacket, AudioTag, FlvReader, Item, Tag, TagType, VideoPacket, VideoTag,
};
use flashless_core::fmp4::{Layout, RemuxEvent, Remuxer, RemuxerOptions, Track};
use flashless_core::segment::{SegmentEvent, SegmentOptions, Segmenter};
use flashless_core::ts::{self, TsMuxer};
use support::tools::{TempDir, tool};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes an FLV with ffmpeg from lavfi sources: `video`/`audio` are encoder
/// arguments, or empty for no such stream.
fn make_flv(dir: &TempDir, video: &[&str], audio: &[&str]) -> PathBuf {
    make_flv_of(dir, 2, video, audio)
}

/// [`make_flv`] of `seconds` seconds.
fn make_flv_of(dir: &TempDir, seconds: u32, video: &[&str], audio: &[&str]) -> PathBuf {
    let out = dir.path("in.flv");
    let mut cmd = tool("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    if !video.is_empty() {
        cmd.args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"]);
    }
    if !audio.is_empty() {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100"]);
    }
    cmd.args(["-t", &seconds.to_string()]);
    cmd.args(video).args(audio).arg(&out);
    run(&mut cmd);
    out
}

fn read_tags(path: &Path) -> Vec<Tag> {
    let mut reader = FlvReader::new();
    reader.feed(&std::fs::read(path).expect("read flv"));
    let mut tags = Vec::new();
    while let Some(item) = reader.poll_item().expect("valid flv") {
        if let Item::Tag(t) = item {
            tags.push(t);
        }
    }
    tags
}

/// Remuxes `tags` and writes the output: `Muxed` → `out.mp4`; `PerTrack` →
/// `video.mp4` and/or `audio.mp4`. Returns the files written.
fn remux(dir: &TempDir, tags: &[Tag], layout: Layout) -> Vec<(Option<Track>, PathBuf)> {
    let mut r = Remuxer::new(RemuxerOptions {
        layout,
        ..Default::default()
    });
    let mut files: Vec<(Option<Track>, Vec<u8>)> = Vec::new();
    let mut sink = |r: &mut Remuxer| {
        while let Some(e) = r.poll_event() {
            let (track, data) = match e {
                RemuxEvent::Init { track, data, .. } => (track, data),
                RemuxEvent::Fragment { track, data, .. } => {
                    (if layout == Layout::Muxed { None } else { track }, data)
                }
                RemuxEvent::Error { message, .. } => panic!("remux error: {message}"),
                RemuxEvent::Unsupported { codec, .. } => panic!("unsupported: {codec}"),
                _ => continue,
            };
            match files.iter_mut().find(|(t, _)| *t == track) {
                Some((_, buf)) => buf.extend_from_slice(&data),
                None => files.push((track, data.to_vec())),
            }
        }
    };
    for t in tags {
        r.feed(t);
        sink(&mut r);
    }
    r.flush();
    sink(&mut r);
    files
        .into_iter()
        .map(|(track, data)| {
            let name = match track {
                None => "out.mp4",
                Some(Track::Video) => "video.mp4",
                Some(Track::Audio) => "audio.mp4",
            };
            let path = dir.path(name);
            std::fs::write(&path, data).expect("write mp4");
            (track, path)
        })
        .collect()
}

/// `(codec_type, dts_ms, pts_ms)` of every packet, from ffprobe.
fn packets(path: &Path) -> Vec<(String, i64, i64)> {
    let out = run(tool("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type,dts_time,pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path));
    let ms = |s: &str| (s.parse::<f64>().unwrap_or(f64::NAN) * 1000.0).round() as i64;
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_owned(),
                ms(f.get(2).copied().unwrap_or("")),
                ms(f.get(1).copied().unwrap_or("")),
            )
        })
        .collect()
}

fn frame_count(path: &Path, stream: &str) -> u64 {
    let out = run(tool("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            stream,
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path));
    // A TS file lists its stream once more under its program.
    out.lines().next().unwrap_or("").trim().parse().unwrap_or(0)
}

/// Decoded in the file's own time base (`-enc_time_base -1`): in FFmpeg's default, the
/// frame rate's, pictures presented a millisecond apart (the first repeats of a B
/// stream's hole, `segment/hole.rs`) are one instant to its muxer, an error.
fn decodes_cleanly(path: &Path) {
    let out = tool("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-enc_time_base", "-1", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "{}: {err}",
        path.display()
    );
}

/// Remuxes `flv` in both layouts and checks every output against the source.
fn check(dir: &TempDir, flv: &Path, kinds: &[&str]) {
    check_tags(dir, &read_tags(flv), &packets(flv), kinds);
}

/// `(codec_type, dts_ms, pts_ms)` of the coded frames among `tags`.
fn tag_packets(tags: &[Tag]) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    for t in tags {
        let ts = i64::from(t.timestamp);
        match t.tag_type {
            TagType::Video => {
                let v = VideoTag::parse(&t.data).expect("video tag");
                if let VideoPacket::CodedFrames { composition_time } = v.packet {
                    out.push(("video".into(), ts, ts + i64::from(composition_time)));
                }
            }
            TagType::Audio => {
                let a = AudioTag::parse(&t.data).expect("audio tag");
                if a.packet == AudioPacket::CodedFrames {
                    out.push(("audio".into(), ts, ts));
                }
            }
            TagType::Script => {}
        }
    }
    out
}

/// Remuxes `tags` in both layouts: each output decodes without an error, has a
/// frame per source packet, and every packet's PTS is within 1 ms of the
/// source's (its DTS, for video, within half a frame).
fn check_tags(dir: &TempDir, tags: &[Tag], source: &[(String, i64, i64)], kinds: &[&str]) {
    for layout in [Layout::Muxed, Layout::PerTrack] {
        let files = remux(dir, tags, layout);
        let expected_files = if layout == Layout::Muxed {
            1
        } else {
            kinds.len()
        };
        assert_eq!(files.len(), expected_files, "{layout:?}");
        for (track, path) in &files {
            decodes_cleanly(path);
            for kind in kinds {
                let wanted = match track {
                    None => true,
                    Some(Track::Video) => *kind == "video",
                    Some(Track::Audio) => *kind == "audio",
                };
                if !wanted {
                    continue;
                }
                let of = |p: &[(String, i64, i64)]| -> Vec<(i64, i64)> {
                    p.iter()
                        .filter(|x| x.0 == *kind)
                        .map(|x| (x.1, x.2))
                        .collect()
                };
                let stream = if *kind == "video" { "v:0" } else { "a:0" };
                let (want, got) = (of(source), of(&packets(path)));
                assert_eq!(
                    frame_count(path, stream),
                    want.len() as u64,
                    "{layout:?} {kind} frame count"
                );
                assert!(!want.is_empty(), "{kind}: no packets in the source");
                assert_eq!(want.len(), got.len(), "{layout:?} {kind} packets");
                if *kind == "video" && want.iter().any(|(d, p)| d != p) {
                    assert!(got.iter().any(|(d, p)| d != p), "B-frames reorder");
                }
                // Decode times run on without a hole: the frame after one whose
                // duration was estimated (no frame rate known yet) may decode up
                // to half a frame early or late; it is still presented on time.
                let dts_slack = if *kind == "video" { 500 / 25 } else { 1 };
                for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                    assert!(
                        (w.0 - g.0).abs() <= dts_slack && (w.1 - g.1).abs() <= 1,
                        "{layout:?} {kind} packet {i}: source dts/pts {w:?}, remuxed {g:?}"
                    );
                }
            }
        }
    }
}

const H264_BFRAMES: &[&str] = &[
    "-c:v",
    "libx264",
    "-profile:v",
    "high",
    "-bf",
    "2",
    "-g",
    "25",
    "-pix_fmt",
    "yuv420p",
];

#[test]
fn h264_high_with_b_frames_and_aac() {
    let dir = TempDir::new("h264-aac");
    let flv = make_flv(&dir, H264_BFRAMES, &["-c:a", "aac", "-b:a", "64k"]);
    check(&dir, &flv, &["video", "audio"]);
}

#[test]
fn h264_and_mp3() {
    let dir = TempDir::new("h264-mp3");
    let flv = make_flv(&dir, H264_BFRAMES, &["-c:a", "libmp3lame", "-b:a", "64k"]);
    check(&dir, &flv, &["video", "audio"]);
}

#[test]
fn aac_audio_only() {
    let dir = TempDir::new("aac");
    let flv = make_flv(&dir, &[], &["-c:a", "aac", "-b:a", "64k"]);
    check(&dir, &flv, &["audio"]);
}

#[test]
fn h264_video_only() {
    let dir = TempDir::new("h264");
    let flv = make_flv(&dir, H264_BFRAMES, &[]);
    check(&dir, &flv, &["video"]);
}

/// `tags` without the audio frames timed in `from..to` ms: a hole in the audio.
fn cut_audio(tags: &[Tag], from: u32, to: u32) -> Vec<Tag> {
    tags.iter()
        .filter(|t| {
            let coded = t.tag_type == TagType::Audio
                && AudioTag::parse(&t.data).is_ok_and(|a| a.packet == AudioPacket::CodedFrames);
            !(coded && (from..to).contains(&t.timestamp))
        })
        .cloned()
        .collect()
}

/// `(pts_ms, duration_ms)` of every decoded frame of the first audio stream,
/// the duration from its sample count.
fn decoded_audio(path: &Path) -> Vec<(f64, f64)> {
    let probe = |entries: &str| {
        run(tool("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "a:0",
                "-show_entries",
                entries,
            ])
            .args(["-of", "csv=p=0"])
            .arg(path))
    };
    let rate: f64 = probe("stream=sample_rate")
        .trim()
        .parse()
        .unwrap_or(f64::NAN);
    // Side data may add lines and fields of their own: keep the lines that parse.
    let num = |s: Option<&str>| s?.parse::<f64>().ok();
    probe("frame=pts_time,nb_samples")
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            Some((num(f.next())? * 1000.0, num(f.next())? * 1000.0 / rate))
        })
        .collect()
}

/// Remuxes `tags`, whose audio has a hole at `from..to` ms, in both layouts:
/// every output decodes without an error, and its audio runs on without a hole
/// from before the cut to past it, in the decoded audio: the silence decodes.
fn check_audio_hole(dir: &TempDir, tags: &[Tag], from: u32, to: u32) {
    let cut = cut_audio(tags, from, to);
    assert!(cut.len() < tags.len(), "nothing cut");
    let last = tag_packets(&cut)
        .iter()
        .filter(|p| p.0 == "audio")
        .map(|p| p.1)
        .max()
        .expect("audio packets") as f64;
    for layout in [Layout::Muxed, Layout::PerTrack] {
        for (track, path) in remux(dir, &cut, layout) {
            decodes_cleanly(&path);
            if track == Some(Track::Video) {
                continue;
            }
            let packets = decoded_audio(&path);
            assert!(
                !packets.is_empty(),
                "{layout:?}: no audio in {}",
                path.display()
            );
            for w in packets.windows(2) {
                let end = w[0].0 + w[0].1;
                assert!(
                    (end - w[1].0).abs() <= 1.0,
                    "{layout:?}: audio at {:.1} ms ends at {end:.1} ms, the next starts at {:.1} ms",
                    w[0].0,
                    w[1].0
                );
            }
            let (first, end) = (packets[0].0, packets[packets.len() - 1]);
            assert!(
                first < f64::from(from),
                "{layout:?}: audio starts at {first} ms"
            );
            assert!(
                end.0 + end.1 >= last,
                "{layout:?}: audio ends at {end:?}, source at {last} ms"
            );
        }
    }
}

#[test]
fn aac_stereo_hole_is_filled_with_silence_ffmpeg_decodes() {
    let dir = TempDir::new("aac-hole");
    let flv = make_flv(
        &dir,
        H264_BFRAMES,
        &["-c:a", "aac", "-ac", "2", "-b:a", "64k"],
    );
    check_audio_hole(&dir, &read_tags(&flv), 700, 770);
    check_audio_hole(&dir, &read_tags(&flv), 500, 1300);
}

#[test]
fn aac_mono_and_5_1_holes_are_filled_with_silence_ffmpeg_decodes() {
    let dir = TempDir::new("aac-mono-hole");
    let flv = make_flv(&dir, &[], &["-c:a", "aac", "-ac", "1", "-b:a", "64k"]);
    check_audio_hole(&dir, &read_tags(&flv), 600, 900);
    let dir = TempDir::new("aac-51-hole");
    let flv = make_flv(&dir, &[], &["-c:a", "aac", "-ac", "6", "-b:a", "192k"]);
    check_audio_hole(&dir, &read_tags(&flv), 600, 900);
}

#[test]
fn mp3_hole_is_filled_with_silence_ffmpeg_decodes() {
    let dir = TempDir::new("mp3-hole");
    let flv = make_flv(&dir, H264_BFRAMES, &["-c:a", "libmp3lame", "-b:a", "64k"]);
    check_audio_hole(&dir, &read_tags(&flv), 600, 900);
}

#[test]
fn he_aac_hole_is_filled_with_silence_ffmpeg_decodes() {
    use flashless_core::codec::{AacConfig, silence};
    // HE-AAC v1, explicit: AOT 5, core 22.05 kHz stereo, SBR at 44.1 kHz. No
    // encoder here makes it, so the "real" frames are silent core frames too.
    let asc = [0x2b, 0x92, 0x08, 0x00];
    let frame = silence::aac(&AacConfig::parse(&asc).expect("ASC")).expect("silence");
    let audio = |ts: u32, packet: u8, body: &[u8]| {
        let mut data = vec![0xaf, packet];
        data.extend_from_slice(body);
        Tag {
            tag_type: TagType::Audio,
            timestamp: ts,
            data: bytes::Bytes::from(data),
        }
    };
    let mut tags = vec![audio(0, 0, &asc)];
    // 2048 output samples a frame: 46.4 ms.
    tags.extend((0..30u32).map(|i| audio(i * 2048 * 1000 / 44_100, 1, &frame)));
    let dir = TempDir::new("he-aac-hole");
    check_audio_hole(&dir, &tags, 300, 700);
}

#[test]
fn audio_stopping_for_3_s_is_filled_ahead_ffmpeg_decodes() {
    // The testdata clip's recipe, 8 s long; its audio stops from 2 s to 5 s
    // while video runs on: the remuxer keeps the audio up with silence.
    let dir = TempDir::new("audio-stops");
    let flv = make_flv_of(
        &dir,
        8,
        &["-c:v", "libx264", "-g", "25"],
        &["-c:a", "aac", "-b:a", "64k"],
    );
    let tags = read_tags(&flv);
    check_audio_hole(&dir, &tags, 2000, 5000);
    for layout in [Layout::Muxed, Layout::PerTrack] {
        let files = remux(&dir, &cut_audio(&tags, 2000, 5000), layout);
        let mut ends = Vec::new();
        for (_, path) in &files {
            let video: Vec<i64> = packets(path)
                .iter()
                .filter(|p| p.0 == "video")
                .map(|p| p.2)
                .collect();
            if let Some(last) = video.iter().max() {
                ends.push(("video", *last as f64 + 40.0));
            }
            if let Some(&(pts, duration)) = decoded_audio(path).last() {
                ends.push(("audio", pts + duration));
            }
        }
        assert_eq!(ends.len(), 2, "{layout:?}: {ends:?}");
        assert!(
            (ends[0].1 - ends[1].1).abs() <= 100.0,
            "{layout:?}: audio and video end apart: {ends:?}"
        );
    }
}

/// `(pts, md5)` of every decoded video frame of `path`, in presentation order.
fn decoded_pictures(path: &Path) -> Vec<(i64, String)> {
    let out = run(tool("ffmpeg").args(["-v", "error", "-i"]).arg(path).args([
        "-map",
        "0:v",
        "-fps_mode",
        "passthrough",
        "-f",
        "framemd5",
        "-",
    ]));
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            Some((f.get(2)?.parse().ok()?, (*f.get(5)?).to_owned()))
        })
        .collect()
}

/// An encoder that stalls for `stall_ms` from about 2 s into `tags`: its video
/// frames from a point where every frame before is presented before every frame
/// after (a B stream's mini-GOP boundary) come that much later, while the audio
/// goes on. Returns the tags and how many video frames come before the stall.
fn stall_video(tags: &[Tag], stall_ms: u32) -> (Vec<Tag>, usize) {
    let coded: Vec<(usize, u32, i64)> = tags
        .iter()
        .enumerate()
        .filter(|(_, t)| t.tag_type == TagType::Video)
        .filter_map(|(i, t)| match VideoTag::parse(&t.data).ok()?.packet {
            VideoPacket::CodedFrames { composition_time } => Some((
                i,
                t.timestamp,
                i64::from(t.timestamp) + i64::from(composition_time),
            )),
            _ => None,
        })
        .collect();
    let cut = (1..coded.len())
        .find(|&k| {
            let before = coded[..k].iter().map(|c| c.2).max();
            let after = coded[k..].iter().map(|c| c.2).min();
            coded[k].1 >= 2000 && before < after
        })
        .expect("a point to stall at");
    let mut stalled: Vec<Tag> = tags.to_vec();
    for &(i, _, _) in &coded[cut..] {
        stalled[i].timestamp += stall_ms;
    }
    // Sequence headers (at 0) stay first.
    stalled.sort_by_key(|t| t.timestamp);
    (stalled, cut)
}

/// The MSE player's remuxer (PerTrack, `repeat_pictures`) on `tags`: its video track
/// as a file. It holds the last picture once.
fn remuxed_video(name: &str, tags: &[Tag]) -> Vec<u8> {
    use flashless_core::fmp4::FillAhead;
    let mut r = Remuxer::new(RemuxerOptions {
        layout: Layout::PerTrack,
        fill_ahead: FillAhead::for_latency(1000),
        repeat_pictures: true,
        ..Default::default()
    });
    let mut file = Vec::new();
    for t in tags {
        r.feed(t);
        while let Some(e) = r.poll_event() {
            match e {
                RemuxEvent::Init {
                    track: Some(Track::Video),
                    data,
                    ..
                }
                | RemuxEvent::Fragment {
                    track: Some(Track::Video),
                    data,
                    ..
                } => file.extend_from_slice(&data),
                RemuxEvent::Error { message, .. } => panic!("{name}: remux error: {message}"),
                _ => {}
            }
        }
    }
    assert_eq!(r.stats().pictures_held, 1, "{name}: holds");
    file
}

/// The HLS segmenter (LL-HLS sizes, holes cut) on `tags`: its init and parts as a file.
fn segmented(tags: &[Tag]) -> Vec<u8> {
    let mut segmenter = Segmenter::new(SegmentOptions {
        target_ms: 1000,
        part_ms: 250,
        longest_ms: Some(10_000),
        live_playlist: true,
    });
    for t in tags {
        segmenter.feed(t);
    }
    segmenter.flush();
    let mut file = Vec::new();
    while let Some(e) = segmenter.poll_event() {
        if let SegmentEvent::Init { data, .. } | SegmentEvent::Part { data, .. } = e {
            file.extend_from_slice(&data);
        }
    }
    file
}

/// H.264 whose encoder stalls for 2 s while the sound goes on: the remuxer and the
/// segmenter each continue the video with pictures that repeat the last one.
/// FFmpeg decodes them without an error, each to the last picture before the stall;
/// the pictures after it decode exactly as the source's do (the repeated ones left
/// the decoder as they found it; and FFmpeg finds nothing to say of them even at
/// its debug level, where it is lenient), and the video has no hole over 100 ms.
fn check_repeated_pictures(name: &str, video: &[&str]) {
    let dir = TempDir::new(name);
    let flv = make_flv_of(&dir, 6, video, &["-c:a", "aac", "-b:a", "64k"]);
    let source = decoded_pictures(&flv);
    let (tags, before) = stall_video(&read_tags(&flv), 2000);
    check_repeats(
        &dir,
        name,
        "remuxer",
        &remuxed_video(name, &tags),
        &source,
        before,
    );
    check_repeats(&dir, name, "segmenter", &segmented(&tags), &source, before);
}

/// [`check_repeated_pictures`]' checks of one file: `source`'s pictures decoded, the
/// stall after the first `before`.
fn check_repeats(
    dir: &TempDir,
    name: &str,
    by: &str,
    file: &[u8],
    source: &[(i64, String)],
    before: usize,
) {
    let name = format!("{name} ({by})");
    let path = dir.path(&format!("{by}.mp4"));
    std::fs::write(&path, file).expect("write mp4");
    decodes_cleanly(&path);
    // What FFmpeg's decoder only says at the debug level: a frame_num that skips
    // one, or a presentation order it had to make room for.
    let log = tool("ffmpeg")
        .args(["-v", "debug", "-i"])
        .arg(&path)
        .args(["-map", "0:v", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let complaints: Vec<String> = String::from_utf8_lossy(&log.stderr)
        .lines()
        .filter(|l| l.starts_with("[h264 @"))
        .filter(|l| {
            [
                "gap",
                "error",
                "missing",
                "concealing",
                "reorder",
                "invalid",
                "non-existing",
            ]
            .iter()
            .any(|w| l.to_lowercase().contains(w))
        })
        .map(str::to_owned)
        .collect();
    assert!(complaints.is_empty(), "{name}: {complaints:?}");
    let out = decoded_pictures(&path);
    let repeated = out.len().saturating_sub(source.len());
    assert!(
        (40..=50).contains(&repeated),
        "{name}: {repeated} pictures repeated over 2 s ({} decoded, {} in the source)",
        out.len(),
        source.len()
    );
    let hashes = |p: &[(i64, String)]| p.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>();
    let last = &source[before - 1].1;
    let mut expected = hashes(&source[..before]);
    expected.extend(std::iter::repeat_n(last.clone(), repeated));
    expected.extend(hashes(&source[before..]));
    let got = hashes(&out);
    if let Some(i) = (0..got.len()).find(|&i| got.get(i) != expected.get(i)) {
        panic!(
            "{name}: picture {i} (pts {} ms) is not the one expected ({before} before the stall, {repeated} repeated)",
            out[i].0
        );
    }
    let gap = out.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap_or(0);
    assert!(gap <= 100, "{name}: a hole of {gap} ms in the video");
}

#[test]
fn h264_that_stalls_goes_on_with_repeated_pictures_ffmpeg_decodes() {
    // CAVLC, POC type 2 (no B-frames).
    check_repeated_pictures(
        "repeat-baseline",
        &[
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    // CABAC, POC type 0, B-frames with a B reference between (pyramid), weighted P.
    check_repeated_pictures("repeat-high-b", H264_BFRAMES);
    // CABAC over 3,600 macroblocks, whose runs of zero bits need emulation prevention.
    check_repeated_pictures(
        "repeat-720p",
        &[
            "-s",
            "1280x720",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-bf",
            "0",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    // CABAC, POC type 2, four references.
    check_repeated_pictures(
        "repeat-high",
        &[
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-bf",
            "0",
            "-refs",
            "4",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
        ],
    );
}

/// Enhanced RTMP's codecs, in the build that has them (the default; the lean browser
/// build's features leave them out, and these tests with them).
#[cfg(all(
    feature = "hevc",
    feature = "av1",
    feature = "vp9",
    feature = "opus",
    feature = "flac"
))]
mod ertmp {
    use super::*;

    fn check_ertmp(name: &str, video: support::Video, audio: support::Audio) {
        let dir = TempDir::new(name);
        let clip = support::ertmp_clip(video, audio, 1.2);
        let source = tag_packets(&clip.tags);
        assert_eq!(source.len(), clip.video_frames + clip.audio_frames);
        let mut kinds = Vec::new();
        if video != support::Video::None {
            kinds.push("video");
        }
        if audio != support::Audio::None {
            kinds.push("audio");
        }
        check_tags(&dir, &clip.tags, &source, &kinds);
    }

    #[test]
    fn ertmp_hevc_and_opus() {
        check_ertmp("hevc-opus", support::Video::Hevc, support::Audio::Opus);
    }

    #[test]
    fn ertmp_av1_and_flac() {
        check_ertmp("av1-flac", support::Video::Av1, support::Audio::Flac);
    }

    #[test]
    fn ertmp_vp9_and_opus() {
        check_ertmp("vp9-opus", support::Video::Vp9, support::Audio::Opus);
    }

    #[test]
    fn ertmp_hevc_and_flac() {
        check_ertmp("hevc-flac", support::Video::Hevc, support::Audio::Flac);
    }

    #[test]
    fn opus_and_flac_holes_are_filled_ffmpeg_decodes() {
        let dir = TempDir::new("opus-hole");
        let clip = support::ertmp_clip(support::Video::Vp9, support::Audio::Opus, 1.2);
        check_audio_hole(&dir, &clip.tags, 400, 700);
        let dir = TempDir::new("flac-hole");
        let clip = support::ertmp_clip(support::Video::None, support::Audio::Flac, 1.2);
        check_audio_hole(&dir, &clip.tags, 400, 700);
    }
}

/// The segmenter's parts of `tags` (LL-HLS sizes) as the HLS's MPEG-TS, concatenated.
fn hls_ts(tags: &[Tag]) -> Vec<u8> {
    let mut segmenter = Segmenter::new(SegmentOptions {
        target_ms: 2000,
        part_ms: 333,
        longest_ms: Some(20_000),
        live_playlist: false,
    });
    let (mut muxer, mut out, mut parts) = (None, Vec::new(), 0);
    let mut take = |s: &mut Segmenter| {
        while let Some(e) = s.poll_event() {
            match e {
                SegmentEvent::Init { data, mime, .. } => {
                    assert!(ts::carries(&mime), "{mime}");
                    muxer = Some(TsMuxer::new(data).expect("the init as TS"));
                }
                SegmentEvent::Part { data, .. } => {
                    let muxer = muxer.as_mut().expect("an init before the parts");
                    out.extend_from_slice(&muxer.part(&data).expect("a part as TS"));
                    parts += 1;
                }
                _ => {}
            }
        }
    };
    for t in tags {
        segmenter.feed(t);
        take(&mut segmenter);
    }
    segmenter.flush();
    take(&mut segmenter);
    assert!(parts > 10, "{parts} parts");
    out
}

/// H.264 with B-frames and MP3, and MP3 alone, through the segmenter into TS: FFmpeg
/// reads it without an error, with every source frame at its source time.
#[test]
fn hls_ts_of_h264_and_mp3_reads_as_the_source() {
    const MP3: &[&str] = &["-c:a", "libmp3lame", "-b:a", "64k"];
    for (name, video) in [("both", H264_BFRAMES), ("mp3", &[][..])] {
        let dir = TempDir::new(&format!("ts-{name}"));
        let flv = make_flv_of(&dir, 6, video, MP3);
        let tags = read_tags(&flv);
        let path = dir.path("out.ts");
        std::fs::write(&path, hls_ts(&tags)).expect("write ts");
        decodes_cleanly(&path);
        let (source, got) = (tag_packets(&tags), packets(&path));
        // The segmenter leaves out sound from before the first picture is shown.
        let first_picture = source.iter().find(|p| p.0 == "video").map(|p| p.2);
        for kind in ["video", "audio"] {
            let of = |p: &[(String, i64, i64)]| -> Vec<(i64, i64)> {
                p.iter()
                    .filter(|x| x.0 == kind)
                    .filter(|x| kind == "video" || first_picture.is_none_or(|v| x.1 >= v))
                    .map(|x| (x.1, x.2))
                    .collect()
            };
            let (want, got) = (of(&source), of(&got));
            assert_eq!(want.len(), got.len(), "{name} {kind} packets");
            if kind == "video" && !video.is_empty() {
                assert!(want.iter().any(|(d, p)| d != p), "B-frames in the source");
                assert_eq!(
                    frame_count(&path, "v:0"),
                    want.len() as u64,
                    "{name} pictures"
                );
            }
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                assert!(
                    (w.0 - g.0).abs() <= 20 && (w.1 - g.1).abs() <= 1,
                    "{name} {kind} packet {i}: source dts/pts {w:?}, TS {g:?}"
                );
            }
        }
    }
}
