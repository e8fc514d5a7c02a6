//! Enhanced RTMP FLV tags built from ffmpeg's elementary-stream output, for
//! integration tests. ffmpeg 5.1's FLV muxer cannot write E-RTMP, so the tags
//! are put together here exactly as E-RTMP v2 lays them out:
//!
//! - video: ExVideoTagHeader byte (`0x80 | FrameType << 4 | VideoPacketType`),
//!   FourCC, then for SequenceStart the configuration record (hvcC, av1C, or
//!   the VPCodecConfigurationRecord without the vpcC FullBox header), for
//!   CodedFrames (packet type 1) an SI24 composition time for `hvc1` only and
//!   the frame: 4-byte length-prefixed NAL units, one AV1 temporal unit (its
//!   temporal delimiter dropped), or one VP9 frame/superframe;
//! - audio: ExAudioTagHeader byte (`9 << 4 | AudioPacketType`), FourCC, then
//!   for SequenceStart the OpusHead packet, or "fLaC" and the metadata blocks;
//!   for CodedFrames one Opus packet or one FLAC frame.
//!
//! Each elementary stream is encoded once per test binary and reused.
#![allow(dead_code)]

pub mod annexb;
pub mod ivf;
pub mod ogg;
pub mod tools;

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use flashless_core::codec::{FlacConfig, Vp9Config, av1, flac, opus, vp9};
use flashless_core::flv::{Tag, TagType};

/// Runs `ffmpeg -v error <args>` and returns its standard output (pass `-` as
/// the output file). Panics naming the command if ffmpeg is missing or fails.
pub fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let command = format!("ffmpeg -v error {}", args.join(" "));
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("`{command}` could not start ({e}): run `cargo xtask test` to install ffmpeg")
        });
    assert!(
        out.status.success(),
        "`{command}` failed ({}): {}\nrun `cargo xtask test` to install ffmpeg",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// [`ffmpeg`], remembered per argument list for the life of the test binary.
fn ffmpeg_cached(args: &[&str]) -> Vec<u8> {
    static CACHE: OnceLock<Mutex<HashMap<String, Vec<u8>>>> = OnceLock::new();
    let key = args.join(" ");
    let cache = CACHE.get_or_init(Default::default);
    if let Some(out) = cache.lock().unwrap().get(&key) {
        return out.clone();
    }
    let out = ffmpeg(args);
    cache.lock().unwrap().insert(key, out.clone());
    out
}

pub struct Clip {
    /// Sequence starts first, then coded frames interleaved by timestamp.
    pub tags: Vec<Tag>,
    /// Coded video frames (tags), sequence start not counted.
    pub video_frames: usize,
    /// Coded audio frames (tags), sequence start not counted.
    pub audio_frames: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Video {
    Hevc,
    Av1,
    Vp9,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audio {
    Opus,
    Flac,
    None,
}

pub const WIDTH: u32 = 320;
pub const HEIGHT: u32 = 240;
pub const FPS: u32 = 25;

/// A testsrc (320x240, 25 fps, a keyframe every second, no B-frames) and/or
/// sine (stereo) clip of `seconds`, as E-RTMP tags.
pub fn ertmp_clip(video: Video, audio: Audio, seconds: f64) -> Clip {
    let t = format!("{seconds}");
    let mut tags = Vec::new();
    let mut video_frames = 0;
    let mut audio_frames = 0;
    let push = |tags: &mut Vec<Tag>, tag_type, timestamp, body: Vec<u8>| {
        tags.push(Tag {
            tag_type,
            timestamp,
            data: Bytes::from(body),
        });
    };
    let video_tags: Vec<(u32, Vec<u8>)> = match video {
        Video::Hevc => hevc_tags(&t),
        Video::Av1 => av1_tags(&t),
        Video::Vp9 => vp9_tags(&t),
        Video::None => Vec::new(),
    };
    let audio_tags: Vec<(u32, Vec<u8>)> = match audio {
        Audio::Opus => opus_tags(&t),
        Audio::Flac => flac_tags(&t),
        Audio::None => Vec::new(),
    };
    let mut video_iter = video_tags.into_iter();
    let mut audio_iter = audio_tags.into_iter();
    // Sequence starts go first.
    if let Some((ts, body)) = video_iter.next() {
        push(&mut tags, TagType::Video, ts, body);
    }
    if let Some((ts, body)) = audio_iter.next() {
        push(&mut tags, TagType::Audio, ts, body);
    }
    let mut coded: Vec<(u32, TagType, Vec<u8>)> = video_iter
        .map(|(ts, b)| (ts, TagType::Video, b))
        .chain(audio_iter.map(|(ts, b)| (ts, TagType::Audio, b)))
        .collect();
    // Stable: at equal times video comes before audio.
    coded.sort_by_key(|(ts, ty, _)| (*ts, *ty == TagType::Audio));
    for (ts, ty, body) in coded {
        match ty {
            TagType::Video => video_frames += 1,
            _ => audio_frames += 1,
        }
        push(&mut tags, ty, ts, body);
    }
    Clip {
        tags,
        video_frames,
        audio_frames,
    }
}

const KEYFRAME: u8 = 1;
const INTER: u8 = 2;
const SEQUENCE_START: u8 = 0;
const CODED_FRAMES: u8 = 1;

fn video_tag(frame_type: u8, packet_type: u8, fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0x80 | frame_type << 4 | packet_type];
    body.extend_from_slice(fourcc);
    body.extend_from_slice(payload);
    body
}

fn audio_tag(packet_type: u8, fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut body = vec![9 << 4 | packet_type];
    body.extend_from_slice(fourcc);
    body.extend_from_slice(payload);
    body
}

fn frame_ms(i: usize) -> u32 {
    (i as u32 * 1000) / FPS
}

fn lavfi_video(t: &str) -> String {
    format!("testsrc=size={WIDTH}x{HEIGHT}:rate={FPS}:duration={t}")
}

/// HEVC from `-f hevc`: the first access unit's VPS/SPS/PPS make the hvcC;
/// each access unit is one CodedFrames tag (composition time 0: no B-frames)
/// with the parameter sets and AUDs left out.
fn hevc_tags(t: &str) -> Vec<(u32, Vec<u8>)> {
    let src = lavfi_video(t);
    let stream = ffmpeg_cached(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx265",
        "-x265-params",
        "log-level=error:info=0:keyint=25:min-keyint=25:scenecut=0:bframes=0:open-gop=0",
        "-f",
        "hevc",
        "-",
    ]);
    let nals = annexb::nal_units(&stream);
    let find = |ty| {
        *nals
            .iter()
            .find(|n| annexb::nal_type(n) == ty)
            .expect("parameter set")
    };
    let record = annexb::hvcc(find(annexb::VPS), find(annexb::SPS), find(annexb::PPS));
    let mut tags = vec![(0, video_tag(KEYFRAME, SEQUENCE_START, b"hvc1", &record))];
    for (i, au) in annexb::access_units(&nals).iter().enumerate() {
        let frame_type = if annexb::is_irap(au) { KEYFRAME } else { INTER };
        let mut payload = vec![0, 0, 0]; // SI24 composition time
        for nal in au
            .iter()
            .filter(|n| annexb::nal_type(n) < annexb::VPS || annexb::nal_type(n) > 35)
        {
            payload.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            payload.extend_from_slice(nal);
        }
        tags.push((
            frame_ms(i),
            video_tag(frame_type, CODED_FRAMES, b"hvc1", &payload),
        ));
    }
    tags
}

/// AV1 from `-f ivf`: the sequence header OBU makes the av1C; a temporal unit
/// that carries one is a keyframe.
fn av1_tags(t: &str) -> Vec<(u32, Vec<u8>)> {
    let src = lavfi_video(t);
    let ivf = ffmpeg_cached(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libaom-av1",
        "-cpu-used",
        "8",
        "-usage",
        "realtime",
        "-g",
        "25",
        "-f",
        "ivf",
        "-",
    ]);
    let mut tags = Vec::new();
    for (ts, tu) in ivf::frames(&ivf) {
        let mut payload = Vec::new();
        let mut keyframe = false;
        let mut at = 0;
        while at < tu.len() {
            let (obu_type, obu, len) = av1::split_obu(&tu[at..], at).expect("OBU");
            if obu_type == 1 {
                keyframe = true;
                if tags.is_empty() {
                    let seq = av1::parse_sequence_header_obu(obu).expect("sequence header");
                    let mut record = seq.record_head().to_vec();
                    record.extend_from_slice(&tu[at..at + len]);
                    tags.push((0, video_tag(KEYFRAME, SEQUENCE_START, b"av01", &record)));
                }
            }
            if obu_type != 2 {
                payload.extend_from_slice(&tu[at..at + len]); // all but temporal delimiters
            }
            at += len;
        }
        let frame_type = if keyframe { KEYFRAME } else { INTER };
        tags.push((ts, video_tag(frame_type, CODED_FRAMES, b"av01", &payload)));
    }
    tags
}

/// VP9 from `-f ivf`, 8-bit 4:2:0 profile 0; a frame with a size in its
/// uncompressed header is a keyframe.
fn vp9_tags(t: &str) -> Vec<(u32, Vec<u8>)> {
    let src = lavfi_video(t);
    let ivf = ffmpeg_cached(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-g",
        "25",
        "-f",
        "ivf",
        "-",
    ]);
    let config = Vp9Config {
        profile: 0,
        level: 20,
        bit_depth: 8,
        chroma_subsampling: 1,
        full_range: false,
        colour_primaries: 2,
        transfer_characteristics: 2,
        matrix_coefficients: 2,
    };
    let mut tags = vec![(
        0,
        video_tag(KEYFRAME, SEQUENCE_START, b"vp09", &config.record()),
    )];
    for (ts, frame) in ivf::frames(&ivf) {
        let frame_type = if vp9::frame_size(frame).is_some() {
            KEYFRAME
        } else {
            INTER
        };
        tags.push((ts, video_tag(frame_type, CODED_FRAMES, b"vp09", frame)));
    }
    tags
}

fn lavfi_audio(t: &str, rate: u32) -> String {
    format!("sine=frequency=440:sample_rate={rate}:duration={t}")
}

/// Opus from `-f ogg`: packet 0 (OpusHead) is the sequence start, packet 1
/// (OpusTags) is dropped, every other packet is a tag timed by its samples.
fn opus_tags(t: &str) -> Vec<(u32, Vec<u8>)> {
    let src = lavfi_audio(t, 48_000);
    let ogg = ffmpeg_cached(&[
        "-f", "lavfi", "-i", &src, "-ac", "2", "-c:a", "libopus", "-f", "ogg", "-",
    ]);
    let packets = ogg::packets(&ogg);
    let mut tags = vec![(0, audio_tag(SEQUENCE_START, b"Opus", &packets[0]))];
    let mut samples = 0u64;
    for p in &packets[2..] {
        tags.push((
            (samples * 1000 / 48_000) as u32,
            audio_tag(CODED_FRAMES, b"Opus", p),
        ));
        samples += u64::from(opus::packet_samples(p).expect("Opus packet"));
    }
    tags
}

/// FLAC from `-f ogg` (one frame per packet): the first packet's "fLaC" and
/// STREAMINFO, followed by the metadata blocks of the other header packets,
/// make the sequence start.
fn flac_tags(t: &str) -> Vec<(u32, Vec<u8>)> {
    let src = lavfi_audio(t, 48_000);
    let ogg = ffmpeg_cached(&[
        "-f", "lavfi", "-i", &src, "-ac", "2", "-c:a", "flac", "-f", "ogg", "-",
    ]);
    let packets = ogg::packets(&ogg);
    assert_eq!(&packets[0][..5], b"\x7fFLAC", "Ogg FLAC mapping header");
    let headers = 1 + usize::from(u16::from_be_bytes([packets[0][7], packets[0][8]]));
    let mut head = packets[0][9..].to_vec();
    for p in &packets[1..headers] {
        head.extend_from_slice(p);
    }
    // Flag the last metadata block, and only it.
    let mut at = 4;
    while at < head.len() {
        let len = u32::from_be_bytes([0, head[at + 1], head[at + 2], head[at + 3]]) as usize;
        let last = at + 4 + len >= head.len();
        head[at] = head[at] & 0x7f | if last { 0x80 } else { 0 };
        at += 4 + len;
    }
    let rate = u64::from(FlacConfig::parse(&head).expect("FLAC metadata").sample_rate);
    let mut tags = vec![(0, audio_tag(SEQUENCE_START, b"fLaC", &head))];
    let mut samples = 0u64;
    for p in &packets[headers..] {
        tags.push((
            (samples * 1000 / rate) as u32,
            audio_tag(CODED_FRAMES, b"fLaC", p),
        ));
        samples += u64::from(flac::frame_block_size(p).expect("FLAC frame"));
    }
    tags
}
