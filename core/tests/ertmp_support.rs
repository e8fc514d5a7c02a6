//! The E-RTMP tags of `support` parse as what they claim to be, and the codec
//! configuration parsers accept their sequence starts.

mod support;

use flashless_core::codec::{
    Av1Config, FlacConfig, HevcConfig, OpusHead, Vp9Config, flac, opus, vp9,
};
use flashless_core::flv::{
    AudioCodec, AudioPacket, AudioTag, TagType, VideoCodec, VideoPacket, VideoTag,
};
use support::{Audio, HEIGHT, Video, WIDTH, ertmp_clip};

const SECONDS: f64 = 1.2;

fn check(video: Video, audio: Audio) {
    let clip = ertmp_clip(video, audio, SECONDS);
    let name = format!("{video:?} + {audio:?}");
    let (mut video_seen, mut audio_seen) = (0, 0);
    let mut last_ts = 0;
    for (i, tag) in clip.tags.iter().enumerate() {
        assert!(
            tag.timestamp >= last_ts,
            "{name}: tag {i} goes back in time"
        );
        last_ts = tag.timestamp;
        match tag.tag_type {
            TagType::Video => {
                let v = VideoTag::parse(&tag.data).unwrap();
                assert!(v.enhanced);
                let codec = match video {
                    Video::Hevc => VideoCodec::Hevc,
                    Video::Av1 => VideoCodec::Av1,
                    Video::Vp9 => VideoCodec::Vp9,
                    Video::None => panic!("{name}: a video tag"),
                };
                assert_eq!(v.codec, codec, "{name}");
                if video_seen == 0 {
                    assert_eq!(v.packet, VideoPacket::SequenceStart, "{name}");
                    assert!(i < 2, "{name}: the sequence starts come first");
                    check_video_config(video, &v.body);
                } else {
                    assert_eq!(
                        v.packet,
                        VideoPacket::CodedFrames {
                            composition_time: 0
                        },
                        "{name}"
                    );
                    assert!(!v.body.is_empty());
                    if video_seen == 1 {
                        assert!(v.is_keyframe(), "{name}: the first frame is a keyframe");
                    }
                    if video == Video::Vp9 && v.is_keyframe() {
                        assert_eq!(vp9::frame_size(&v.body), Some((WIDTH, HEIGHT)));
                    }
                }
                video_seen += 1;
            }
            TagType::Audio => {
                let a = AudioTag::parse(&tag.data).unwrap();
                assert!(a.enhanced);
                let codec = match audio {
                    Audio::Opus => AudioCodec::Opus,
                    Audio::Flac => AudioCodec::Flac,
                    Audio::None => panic!("{name}: an audio tag"),
                };
                assert_eq!(a.codec, codec, "{name}");
                if audio_seen == 0 {
                    assert_eq!(a.packet, AudioPacket::SequenceStart, "{name}");
                    assert!(i < 2, "{name}: the sequence starts come first");
                    check_audio_config(audio, &a.body);
                } else {
                    assert_eq!(a.packet, AudioPacket::CodedFrames, "{name}");
                    let samples = match audio {
                        Audio::Opus => opus::packet_samples(&a.body),
                        _ => flac::frame_block_size(&a.body),
                    };
                    assert!(samples.is_some(), "{name}: audio frame {audio_seen}");
                }
                audio_seen += 1;
            }
            TagType::Script => panic!("{name}: a script tag"),
        }
    }
    assert_eq!(
        video_seen,
        clip.video_frames + usize::from(video != Video::None)
    );
    assert_eq!(
        audio_seen,
        clip.audio_frames + usize::from(audio != Audio::None)
    );
    if video != Video::None {
        // 1.2 s at 25 fps; encoders may drop nothing here.
        assert_eq!(clip.video_frames, 30, "{name}");
        let keyframes = clip
            .tags
            .iter()
            .filter(|t| t.tag_type == TagType::Video)
            .skip(1)
            .filter(|t| VideoTag::parse(&t.data).unwrap().is_keyframe())
            .count();
        assert_eq!(keyframes, 2, "{name}: a keyframe every second");
    }
    if audio == Audio::Opus {
        assert!(
            (59..=62).contains(&clip.audio_frames),
            "{name}: 20 ms packets"
        );
    }
    if audio == Audio::Flac {
        assert!(
            clip.audio_frames >= 12,
            "{name}: {} FLAC frames",
            clip.audio_frames
        );
    }
    let end = clip.tags.last().unwrap().timestamp;
    assert!((1100..=1260).contains(&end), "{name}: last tag at {end} ms");
}

fn check_video_config(video: Video, body: &[u8]) {
    match video {
        Video::Hevc => {
            let c = HevcConfig::parse(body).unwrap();
            assert_eq!((c.width, c.height), (WIDTH, HEIGHT));
            assert_eq!(c.codecs_string(), "hvc1.1.6.L60.90");
            assert_eq!((c.vps.len(), c.sps.len(), c.pps.len()), (1, 1, 1));
        }
        Video::Av1 => {
            let c = Av1Config::parse(body).unwrap();
            assert_eq!((c.width, c.height), (WIDTH, HEIGHT));
            assert_eq!(c.codecs_string(), "av01.0.00M.08");
        }
        Video::Vp9 => {
            let c = Vp9Config::parse(body).unwrap();
            assert_eq!(c.codecs_string(), "vp09.00.20.08");
        }
        Video::None => unreachable!(),
    }
}

fn check_audio_config(audio: Audio, body: &[u8]) {
    match audio {
        Audio::Opus => {
            let h = OpusHead::parse(body).unwrap();
            assert_eq!((h.channels, h.mapping_family), (2, 0));
        }
        Audio::Flac => {
            assert_eq!(&body[..4], b"fLaC");
            let c = FlacConfig::parse(body).unwrap();
            assert_eq!(
                (c.sample_rate, c.channels, c.bits_per_sample),
                (48_000, 2, 16)
            );
            assert!(c.blocks.len() >= 2, "STREAMINFO and VORBIS_COMMENT");
            assert_eq!(c.dfla()[4] & 0x7f, 0);
        }
        Audio::None => unreachable!(),
    }
}

#[test]
fn every_combination_builds_and_parses() {
    for video in [Video::Hevc, Video::Av1, Video::Vp9, Video::None] {
        for audio in [Audio::Opus, Audio::Flac, Audio::None] {
            if (video, audio) != (Video::None, Audio::None) {
                check(video, audio);
            }
        }
    }
}
