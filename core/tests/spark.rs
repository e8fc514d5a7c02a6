//! Sorenson Spark against ffmpeg: FLV files ffmpeg's `flv` encoder made (I, P and
//! the sizes Flash cameras use, one not a whole number of macroblocks) decode to what
//! ffmpeg's own decoder makes of them, picture by picture, within what two inverse
//! DCTs differ by (PSNR over 50 dB; 65 dB at worst when written).
//!
//! Needs ffmpeg; `cargo xtask test` installs it.
#![cfg(feature = "sorenson")]

use std::path::PathBuf;
use std::process::Command;

use flashless_core::codec::spark::{Decoder, Kind, header};
use flashless_core::flv::{FlvReader, Item, TagType, VideoCodec, VideoTag};

fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flashless-spark-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// PSNR (dB) of `ours` against `theirs`.
fn psnr(ours: &[u8], theirs: &[u8]) -> f64 {
    let mse = ours
        .iter()
        .zip(theirs)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum::<f64>()
        / ours.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}

#[test]
fn pictures_decode_as_ffmpeg_decodes_them() {
    let dir = dir("decode");
    for (size, source, gop) in [
        ("320x240", "testsrc2", "12"),
        ("176x144", "testsrc", "25"),
        ("160x120", "testsrc2", "5"),
    ] {
        let flv = dir.join(format!("{size}.flv"));
        let made = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("{source}=size={size}:rate=25"))
            .args(["-t", "2", "-c:v", "flv", "-g", gop, "-b:v", "300k"])
            .arg(&flv)
            .status()
            .expect("ffmpeg is not installed: run `cargo xtask test`, which installs it");
        assert!(made.success(), "ffmpeg made no {size} FLV");
        let raw = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&flv)
            .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
            .output()
            .expect("ffmpeg");
        assert!(
            raw.status.success(),
            "{}",
            String::from_utf8_lossy(&raw.stderr)
        );

        let mut reader = FlvReader::new();
        reader.feed(&std::fs::read(&flv).expect("the FLV"));
        let mut decoder = Decoder::new();
        let (mut pictures, mut inter, mut worst) = (0, 0, f64::INFINITY);
        let mut theirs = raw.stdout.as_slice();
        while let Some(item) = reader.poll_item().expect("a valid FLV") {
            let Item::Tag(tag) = item else { continue };
            if tag.tag_type != TagType::Video {
                continue;
            }
            let v = VideoTag::parse(&tag.data).expect("a video tag");
            assert_eq!(v.codec, VideoCodec::SorensonH263);
            let h = header(&v.body).expect("a picture header");
            if h.kind != Kind::Intra {
                inter += 1;
            }
            assert_eq!(
                v.is_keyframe(),
                h.kind == Kind::Intra,
                "{size}: FLV frame type and picture type"
            );
            let picture = decoder
                .decode(&v.body)
                .unwrap_or_else(|e| panic!("{size} picture {pictures}: {e}"));
            let (w, h) = (picture.width as usize, picture.height as usize);
            let (cw, ch) = (picture.coded_width as usize, picture.coded_height as usize);
            // Ours cropped to the picture, as ffmpeg's planes are.
            let mut cropped = Vec::with_capacity(w * h * 3 / 2);
            let (y, chroma) = picture.data.split_at(cw * ch);
            let (u, v) = chroma.split_at(cw * ch / 4);
            for row in 0..h {
                cropped.extend_from_slice(&y[row * cw..row * cw + w]);
            }
            for plane in [u, v] {
                for row in 0..h.div_ceil(2) {
                    cropped.extend_from_slice(&plane[row * cw / 2..row * cw / 2 + w.div_ceil(2)]);
                }
            }
            let (reference, rest) = theirs.split_at(cropped.len());
            theirs = rest;
            let p = psnr(&cropped, reference);
            worst = worst.min(p);
            assert!(
                p > 50.0,
                "{size} picture {pictures}: PSNR {p:.1} dB against ffmpeg's"
            );
            pictures += 1;
        }
        eprintln!("{size}: {pictures} pictures ({inter} inter), worst PSNR {worst:.1} dB");
        assert_eq!(pictures, 50, "{size}: pictures decoded");
        assert!(inter >= 25, "{size}: {inter} inter pictures");
        assert!(theirs.is_empty(), "{size}: ffmpeg decoded more pictures");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Remuxed in the `Samples` layout (the WebCodecs renderer's), Sorenson Spark is one
/// configuration (`flv1`, the picture's size) and its pictures as they come, keyframes
/// marked; in MP4 layouts it stays unsupported, named.
#[test]
fn the_samples_layout_hands_pictures_on_and_mp4_names_the_codec() {
    use flashless_core::fmp4::{Layout, RemuxEvent, Remuxer, RemuxerOptions};
    let dir = dir("remux");
    let flv = dir.join("remux.flv");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=176x144:rate=25",
        ])
        .args(["-t", "1", "-c:v", "flv", "-g", "10"])
        .arg(&flv)
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    let mut reader = FlvReader::new();
    reader.feed(&std::fs::read(&flv).expect("the FLV"));
    let mut tags = Vec::new();
    while let Some(item) = reader.poll_item().expect("a valid FLV") {
        if let Item::Tag(t) = item {
            tags.push(t);
        }
    }
    for layout in [Layout::Samples, Layout::PerTrack] {
        let mut r = Remuxer::new(RemuxerOptions {
            layout,
            ..Default::default()
        });
        let mut events = Vec::new();
        for t in &tags {
            r.feed(t);
            events.extend(std::iter::from_fn(|| r.poll_event()));
        }
        r.flush();
        events.extend(std::iter::from_fn(|| r.poll_event()));
        if layout == Layout::PerTrack {
            assert!(
                // … with the word that a renderer drawing pictures plays it.
                events.iter().any(|e| matches!(e, RemuxEvent::Unsupported { codec, pictures: true, .. } if codec == "Sorenson H.263")),
                "{events:?}"
            );
            continue;
        }
        let configs: Vec<_> = (events.iter())
            .filter_map(|e| match e {
                RemuxEvent::Config {
                    info, description, ..
                } => Some((
                    info.codec.clone(),
                    info.width,
                    info.height,
                    description.is_none(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(configs, [("flv1".to_owned(), 176, 144, true)]);
        let keyframes: Vec<bool> = (events.iter())
            .filter_map(|e| match e {
                RemuxEvent::Sample { keyframe, data, .. } => {
                    let h = header(data).expect("a whole picture");
                    assert_eq!(*keyframe, h.kind == Kind::Intra);
                    Some(*keyframe)
                }
                _ => None,
            })
            .collect();
        assert_eq!(keyframes.len(), 25, "every picture");
        assert_eq!(
            keyframes.iter().filter(|k| **k).count(),
            3,
            "a keyframe every 10"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
