//! Flash Screen Video against ffmpeg: FLV files ffmpeg's `flashsv` and `flashsv2`
//! encoders made (keyframes and interframes, moving pictures and mostly still ones whose
//! interframes skip blocks, sizes not a whole number of blocks, version 2's hybrid
//! palette format, diff and primed blocks), and streams made here with block sizes
//! ffmpeg's encoders never choose, decode to what ffmpeg's own decoders make of them,
//! picture by picture, byte for byte (the codec is lossless).
//!
//! Needs ffmpeg; `cargo xtask test` installs it.
#![cfg(feature = "screen")]

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::{Bytes, BytesMut};
use flashless_core::codec::screen::{Decoder, Header, Version, header};
use flashless_core::flv::{self, FlvReader, Item, Tag, TagType, VideoCodec, VideoTag};

fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flashless-screen-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// What the blocks of a stream's frames were, counted.
#[derive(Debug, Default)]
struct Seen {
    frames: usize,
    keyframes: usize,
    /// Interframes with at least one unchanged (size 0) block.
    skipping: usize,
    /// Blocks interframes carry.
    updated: usize,
    diff: usize,
    primed: usize,
    hybrid: usize,
}

/// Walks a frame's blocks as the format lays them out, counting what they are.
fn count_blocks(body: &[u8], h: &Header, version: Version, key: bool, seen: &mut Seen) {
    let mut at = if version == Version::V2 { 5 } else { 4 };
    let blocks = h.width.div_ceil(h.block_width) * h.height.div_ceil(h.block_height);
    let mut skipped = false;
    for _ in 0..blocks {
        let size = usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
        if size == 0 {
            skipped = true;
        } else if version == Version::V2 {
            let flags = body[at + 2];
            seen.hybrid += usize::from(flags >> 3 & 3 == 2);
            seen.diff += usize::from(flags & 4 != 0);
            seen.primed += usize::from(flags & 1 != 0);
        }
        seen.updated += usize::from(size > 0 && !key);
        at += 2 + size;
    }
    assert_eq!(at, body.len(), "the blocks fill the frame");
    seen.skipping += usize::from(skipped && !key);
}

/// Decodes every video tag of `flv` with ours and compares each picture with ffmpeg's
/// decoding of the same file; returns what the frames held.
fn compare(flv: &Path, codec: VideoCodec, expect: Option<Header>) -> Seen {
    let raw = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(flv)
        .args([
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgr24",
            "-",
        ])
        .output()
        .expect("ffmpeg is not installed: run `cargo xtask test`, which installs it");
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let version = if codec == VideoCodec::Screen {
        Version::V1
    } else {
        Version::V2
    };
    let name = flv.file_name().unwrap().to_string_lossy().into_owned();

    let mut reader = FlvReader::new();
    reader.feed(&std::fs::read(flv).expect("the FLV"));
    let mut decoder = Decoder::new(version);
    // Told the keyframes by the FLV tag, as ffmpeg is.
    let mut seen = Seen::default();
    let mut theirs = raw.stdout.as_slice();
    while let Some(item) = reader.poll_item().expect("a valid FLV") {
        let Item::Tag(tag) = item else { continue };
        if tag.tag_type != TagType::Video {
            continue;
        }
        let v = VideoTag::parse(&tag.data).expect("a video tag");
        assert_eq!(v.codec, codec);
        let h = header(&v.body).expect("a frame header");
        if let Some(expect) = expect {
            assert_eq!(h, expect, "{name}: header");
        }
        count_blocks(&v.body, &h, version, v.is_keyframe(), &mut seen);
        seen.keyframes += usize::from(v.is_keyframe());
        let frame = seen.frames;
        let picture = decoder
            .decode(&v.body, v.is_keyframe())
            .unwrap_or_else(|e| panic!("{name} frame {frame}: {e}"));
        assert_eq!((picture.width, picture.height), (h.width, h.height));
        let len = (h.width * h.height * 3) as usize;
        assert!(theirs.len() >= len, "{name}: ffmpeg decoded fewer frames");
        let (reference, rest) = theirs.split_at(len);
        theirs = rest;
        assert!(
            picture.data.chunks_exact(4).all(|p| p[3] == 255),
            "{name} frame {frame}: X"
        );
        let ours: Vec<u8> = picture
            .data
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        if let Some(i) = ours.iter().zip(reference).position(|(a, b)| a != b) {
            let px = i / 3;
            panic!(
                "{name} frame {frame}: pixel ({}, {}) differs from ffmpeg's",
                px % h.width as usize,
                px / h.width as usize
            );
        }
        seen.frames += 1;
    }
    assert!(theirs.is_empty(), "{name}: ffmpeg decoded more frames");
    seen
}

fn ffmpeg(dir: &Path, name: &str, input: &str, args: &[&str]) -> PathBuf {
    let flv = dir.join(name);
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", input])
        .args(args)
        .arg(&flv)
        .status()
        .expect("ffmpeg is not installed: run `cargo xtask test`, which installs it");
    assert!(made.success(), "ffmpeg made no {name}");
    flv
}

#[test]
fn ffmpeg_streams_decode_as_ffmpeg_decodes_them() {
    let dir = dir("ffmpeg");
    // A moving picture, and a still one a small box moves over.
    let moving = |size: &str| format!("testsrc2=size={size}:rate=25,format=bgr24");
    let still = |size: &str| {
        format!(
            "testsrc=size={size}:rate=25,trim=end_frame=1,loop=loop=-1:size=1,setpts=N/25/TB[bg];\
             color=red:size=24x12:rate=25[box];[bg][box]overlay=x=8+t*40:y=20,format=bgr24"
        )
    };
    let v1 = |w, h| {
        Some(Header {
            width: w,
            height: h,
            block_width: 64,
            block_height: 64,
        })
    };
    for (name, input, codec, args, header) in [
        (
            "v1-moving-320x240.flv",
            moving("320x240"),
            "flashsv",
            &["-g", "10"][..],
            v1(320, 240),
        ),
        (
            "v1-still-200x150.flv",
            still("200x150"),
            "flashsv",
            &["-g", "25"][..],
            v1(200, 150),
        ),
        (
            "v2-hybrid-moving-176x144.flv",
            moving("176x144"),
            "flashsv2",
            &["-g", "10"][..],
            v1(176, 144),
        ),
        (
            "v2-hybrid-still-200x150.flv",
            still("200x150"),
            "flashsv2",
            &["-g", "25"][..],
            v1(200, 150),
        ),
        // `global_quality` other than 0: ffmpeg's flashsv2 codes BGR, not the hybrid format.
        (
            "v2-bgr-still-130x70.flv",
            still("130x70"),
            "flashsv2",
            &["-g", "20", "-global_quality", "1"][..],
            v1(130, 70),
        ),
        (
            "v2-bgr-moving-96x96.flv",
            moving("96x96"),
            "flashsv2",
            &["-g", "7", "-global_quality", "1"][..],
            v1(96, 96),
        ),
    ] {
        let flv = ffmpeg(
            &dir,
            name,
            &input,
            &[&["-t", "2", "-c:v", codec][..], args].concat(),
        );
        let codec = if codec == "flashsv" {
            VideoCodec::Screen
        } else {
            VideoCodec::Screen2
        };
        let seen = compare(&flv, codec, header);
        eprintln!("{name}: {seen:?}");
        assert_eq!(seen.frames, 50, "{name}: frames");
        assert!(
            seen.keyframes >= 2 && seen.keyframes < 10,
            "{name}: {seen:?}"
        );
        // Interframes carry some blocks and leave others.
        assert!(
            seen.skipping >= 15 && seen.updated >= 40,
            "{name}: {seen:?}"
        );
        if codec == VideoCodec::Screen2 {
            assert!(seen.diff >= 40 && seen.primed >= 40, "{name}: {seen:?}");
            assert_eq!(seen.hybrid > 0, name.contains("hybrid"), "{name}: {seen:?}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A picture made here, BGR24 top-down: a gradient, a white bar and a black square that
/// moves with `t`.
fn picture(width: usize, height: usize, t: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let (sx, sy) = (x.wrapping_sub(3 * t), y.wrapping_sub(2 * t));
            p.extend(if sx < 10 && sy < 10 {
                [0, 0, 0]
            } else if y / 4 == 3 {
                [255, 255, 255]
            } else {
                [(x * 7) as u8, (y * 5) as u8, (x + y) as u8]
            });
        }
    }
    p
}

/// A block's rows `rows` of `picture` (BGR24 top-down), bottom-up as the format keeps
/// them; `hybrid`: in version 2's hybrid format, black and white as palette indices, the
/// rest 15-bit colours.
fn block_bytes(
    picture: &[u8],
    width: usize,
    h: &Header,
    index: usize,
    rows: std::ops::Range<usize>,
    hybrid: bool,
) -> Vec<u8> {
    let (bw, bh) = (h.block_width as usize, h.block_height as usize);
    let cols = width.div_ceil(bw);
    let (x, y) = (index % cols * bw, index / cols * bh);
    let w = bw.min(width - x);
    let height = picture.len() / 3 / width;
    let mut out = Vec::new();
    for k in rows {
        let row = height - 1 - y - k;
        for px in picture[(row * width + x) * 3..(row * width + x + w) * 3].chunks_exact(3) {
            match (hybrid, px) {
                (false, _) => out.extend_from_slice(px),
                (true, [0, 0, 0]) => out.push(0),
                (true, [255, 255, 255]) => out.push(5),
                (true, &[b, g, r]) => {
                    let c = u16::from(r >> 3) << 10 | u16::from(g >> 3) << 5 | u16::from(b >> 3);
                    out.extend((0x8000 | c).to_be_bytes());
                }
                _ => unreachable!(),
            }
        }
    }
    out
}

/// A frame made here of `picture`: the blocks that differ from `last` (all without
/// one); in version 2, every other block in the hybrid format, and in interframes
/// only the rows that differ from `key`'s block (a diff block).
fn encode(
    version: Version,
    h: &Header,
    picture: &[u8],
    last: Option<&[u8]>,
    key: Option<&[u8]>,
) -> Vec<u8> {
    let (width, height) = (h.width as usize, h.height as usize);
    let (bw, bh) = (h.block_width as usize, h.block_height as usize);
    let mut out = Vec::new();
    out.extend((((bw / 16 - 1) << 12 | width) as u16).to_be_bytes());
    out.extend((((bh / 16 - 1) << 12 | height) as u16).to_be_bytes());
    if version == Version::V2 {
        out.push(0);
    }
    let cells = width.div_ceil(bw) * height.div_ceil(bh);
    for index in 0..cells {
        let rows = bh.min(height - index / width.div_ceil(bw) * bh);
        let all = block_bytes(picture, width, h, index, 0..rows, false);
        if last.is_some_and(|l| block_bytes(l, width, h, index, 0..rows, false) == all) {
            out.extend([0, 0]);
            continue;
        }
        let mut block = Vec::new();
        let mut range = 0..rows;
        let hybrid = version == Version::V2 && index % 2 == 0;
        if version == Version::V2 {
            block.push(if hybrid { 0x10 } else { 0 });
            if let Some(key) = key {
                let differs: Vec<usize> = (0..rows)
                    .filter(|&k| {
                        block_bytes(key, width, h, index, k..k + 1, false)
                            != block_bytes(picture, width, h, index, k..k + 1, false)
                    })
                    .collect();
                range = differs.first().map_or(0, |f| *f)..differs.last().map_or(0, |l| l + 1);
                block[0] |= 4;
                block.extend([range.start as u8, range.len() as u8]);
            }
        }
        let pixels = block_bytes(picture, width, h, index, range, hybrid);
        block.extend(miniz_oxide::deflate::compress_to_vec_zlib(&pixels, 6));
        out.extend((block.len() as u16).to_be_bytes());
        out.extend(block);
    }
    out
}

#[test]
fn block_sizes_ffmpeg_never_chooses_decode_as_ffmpeg_decodes_them() {
    let dir = dir("blocks");
    for (version, width, height, block_width, block_height) in [
        (Version::V1, 100, 70, 32, 48),
        (Version::V1, 300, 40, 256, 16),
        (Version::V1, 33, 257, 16, 256),
        (Version::V2, 100, 70, 48, 32),
        (Version::V2, 90, 50, 16, 16),
    ] {
        let h = Header {
            width,
            height,
            block_width,
            block_height,
        };
        let name = format!("{version:?}-{width}x{height}-blocks-{block_width}x{block_height}.flv");
        let (codec, id) = match version {
            Version::V1 => (VideoCodec::Screen, 3),
            Version::V2 => (VideoCodec::Screen2, 6),
        };
        let mut file = BytesMut::new();
        flv::write_header(
            &flv::Header {
                has_audio: false,
                has_video: true,
            },
            &mut file,
        );
        let (mut last, mut key) = (None::<Vec<u8>>, None::<Vec<u8>>);
        for t in 0..12 {
            let p = picture(width as usize, height as usize, t);
            // A keyframe every 5 frames.
            let keyframe = t % 5 == 0;
            let frame = if keyframe {
                encode(version, &h, &p, None, None)
            } else {
                encode(version, &h, &p, last.as_deref(), key.as_deref())
            };
            let mut data = vec![if keyframe { 0x10 } else { 0x20 } | id];
            data.extend(frame);
            let tag = Tag {
                tag_type: TagType::Video,
                timestamp: t as u32 * 40,
                data: Bytes::from(data),
            };
            flv::write_tag(&tag, &mut file);
            if keyframe {
                key = Some(p.clone());
            }
            last = Some(p);
        }
        let flv = dir.join(&name);
        std::fs::write(&flv, &file).expect("the FLV");
        let seen = compare(&flv, codec, Some(h));
        eprintln!("{name}: {seen:?}");
        assert_eq!((seen.frames, seen.keyframes), (12, 3), "{name}");
        assert!(seen.skipping >= 5 && seen.updated >= 9, "{name}: {seen:?}");
        if version == Version::V2 {
            assert!(seen.diff >= 9 && seen.hybrid >= 9, "{name}: {seen:?}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
