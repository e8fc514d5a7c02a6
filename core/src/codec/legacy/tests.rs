//! The conversion's shape: headers, frame sizes, CRCs, format changes. That
//! the frames decode to the same PCM is checked against ffmpeg and flac in
//! `core/tests/legacy_audio.rs`.

use bytes::Bytes;

use super::*;

fn to_flac(tag: &AudioTag) -> Option<Result<Flac, CodecError>> {
    Legacy::default().to_flac(tag)
}
use crate::codec::flac::{FlacConfig, crc16, frame_block_size};

fn tag(first: u8, body: Vec<u8>) -> AudioTag {
    let mut data = vec![first];
    data.extend_from_slice(&body);
    AudioTag::parse(&Bytes::from(data)).unwrap()
}

#[test]
fn g711_is_8k_16_bit_and_one_sample_a_byte() {
    // Sound format 7 (A-law), rate bits 0, 16-bit, mono, as ffmpeg writes it.
    let t = tag(0x72, vec![0xd5; 160]);
    let f = to_flac(&t).unwrap().unwrap();
    let c = FlacConfig::parse(&f.header).unwrap();
    assert_eq!(
        (c.sample_rate, c.channels, c.bits_per_sample),
        (8000, 1, 16)
    );
    // 20 ms: one frame.
    let [(0, frame)] = &f.frames[..] else {
        panic!("{:?}", f.frames)
    };
    assert_eq!(frame_block_size(frame), Some(160));
    assert_eq!(crc16(frame), 0, "a whole frame's CRC-16 checks to 0");
    // All samples equal: one CONSTANT subframe, header + 3 bytes + CRC.
    assert!(frame.len() < 20, "{}", frame.len());
}

#[test]
fn pcm_formats_keep_their_rate_channels_and_size() {
    // Format 3, 44 kHz, 16-bit, stereo: 4 sample frames.
    let t = tag(0x3f, (0..16).collect());
    let f = to_flac(&t).unwrap().unwrap();
    assert_eq!(
        (
            f.params.sample_rate,
            f.params.channels,
            f.params.bits_per_sample
        ),
        (44100, 2, 16)
    );
    assert_eq!(frame_block_size(&f.frames[0].1), Some(4));
    // Format 0, 5.5 kHz, 8-bit, mono.
    let t = tag(0x00, vec![1, 2, 3, 200, 7]);
    let f = to_flac(&t).unwrap().unwrap();
    assert_eq!(
        (
            f.params.sample_rate,
            f.params.channels,
            f.params.bits_per_sample
        ),
        (5512, 1, 8)
    );
    assert_eq!(frame_block_size(&f.frames[0].1), Some(5));
    assert_eq!(crc16(&f.frames[0].1), 0);
}

#[test]
fn other_codecs_are_not_converted_and_bad_tags_are_errors() {
    // MP3 (2), AAC (10).
    for first in [0x2f, 0xaf] {
        assert!(to_flac(&tag(first, vec![1, 2, 3])).is_none(), "{first:#x}");
    }
    assert!(matches!(to_flac(&tag(0x72, vec![])), Some(Err(_))));
    // 16-bit stereo PCM with less than one sample frame.
    assert!(matches!(to_flac(&tag(0x3f, vec![1, 2, 3])), Some(Err(_))));
    // More samples than a FLAC frame holds.
    assert!(matches!(
        to_flac(&tag(0x82, vec![0xff; 70_000])),
        Some(Err(CodecError::Invalid { value: 70_000, .. }))
    ));
}

#[test]
fn a_long_tag_is_cut_into_frames_of_at_most_40_ms() {
    // 186 ms in one tag, as Flash ADPCM's 4096 samples at 22 kHz: 8192 samples of 16-bit
    // mono PCM at 44 kHz (format 3, rate 3) here.
    let samples: Vec<u8> = (0..8192u32)
        .flat_map(|i| ((i % 100) as i16 * 300).to_le_bytes())
        .collect();
    let f = to_flac(&tag(0x3e, samples)).unwrap().unwrap();
    // 8192 samples in frames of at most 1764 (40 ms): 5 of 1639, the last 1636.
    let sizes: Vec<_> = f.frames.iter().map(|(_, f)| frame_block_size(f)).collect();
    assert_eq!(
        sizes,
        [Some(1639), Some(1639), Some(1639), Some(1639), Some(1636)]
    );
    let starts: Vec<_> = f.frames.iter().map(|(at, _)| *at).collect();
    assert_eq!(
        starts,
        [0, 37, 74, 111, 148],
        "each frame's start, in ms from the tag's"
    );
    assert!(f.frames.iter().all(|(_, f)| crc16(f) == 0));
    assert_eq!(FlacConfig::parse(&f.header).unwrap().max_block_size, 1764);
    // Stereo is cut on whole sample frames: 882 sample frames (20 ms), one frame.
    let f = to_flac(&tag(0x3f, vec![0; 882 * 4])).unwrap().unwrap();
    assert_eq!(f.frames.len(), 1);
    assert_eq!(frame_block_size(&f.frames[0].1), Some(882));
}

#[test]
fn a_format_change_is_a_new_header() {
    let a = to_flac(&tag(0x3e, vec![0; 8])).unwrap().unwrap();
    let b = to_flac(&tag(0x3f, vec![0; 8])).unwrap().unwrap();
    let c = to_flac(&tag(0x3e, vec![5; 12])).unwrap().unwrap();
    assert_ne!(a.header, b.header);
    assert_eq!(a.header, c.header);
}

#[test]
fn noise_and_extremes_make_valid_frames() {
    // A frame per size, of a mix that defeats the predictors in places.
    let mut seed = 1u32;
    for n in [1usize, 2, 3, 17, 64, 1000, 4096] {
        let samples: Vec<i32> = (0..n * 2)
            .map(|i| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                match i % 7 {
                    0 => -32768,
                    1 => 32767,
                    _ => (seed >> 16) as i16 as i32,
                }
            })
            .collect();
        let p = super::super::flac::encoder::StreamParams {
            sample_rate: 11025,
            channels: 2,
            bits_per_sample: 16,
        };
        let frame = p.frame(&samples).unwrap();
        assert_eq!(frame_block_size(&frame), Some(n as u32));
        assert_eq!(crc16(&frame), 0);
        // Never much more than the samples themselves (VERBATIM is the bound).
        assert!(frame.len() <= n * 4 + 20, "{n}: {}", frame.len());
    }
}
