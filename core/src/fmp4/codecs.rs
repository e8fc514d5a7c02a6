//! One small function per codec: FLV sequence header (and, where the header is
//! not enough, the first coded frame) → [`TrackConfig`] with its sample entry.
//!
//! Adding a codec: write its function here and name it in [`video_config`] or
//! [`audio_config`].

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use super::init::{
    FrameDuration, Payload, SilentFrame, TrackConfig, audio_entry, esds, visual_entry,
};
use super::{Layout, TrackInfo};
#[cfg(feature = "av1")]
use crate::codec::Av1Config;
#[cfg(feature = "hevc")]
use crate::codec::HevcConfig;
#[cfg(any(feature = "sorenson", feature = "screen"))]
use crate::codec::picture::PictureCodec;
use crate::codec::{AacConfig, AvcConfig, Mp3Header, SkipPictures, Sps, silence};
#[cfg(feature = "flac")]
use crate::codec::{FlacConfig, flac};
#[cfg(feature = "opus")]
use crate::codec::{OpusHead, opus};
#[cfg(feature = "vp9")]
use crate::codec::{Vp9Config, vp9};
use crate::flv::{AudioCodec, VideoCodec};

/// Why no configuration could be made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ConfigError {
    /// The codec has no MP4 mapping here; reported once per track.
    Unsupported(String),
    /// The configuration is malformed; reported with the tag's timestamp.
    Invalid(String),
}

/// Video timescale: FLV timestamps are whole milliseconds, so 1000 represents every
/// input time exactly; a finer one (90 kHz) would only multiply every value by 90.
pub(crate) const VIDEO_TIMESCALE: u32 = 1000;

/// Whether the codec's configuration comes from a sequence header (as opposed to
/// each frame's own header).
pub(crate) fn audio_needs_header(codec: AudioCodec) -> bool {
    matches!(codec, AudioCodec::Aac | AudioCodec::Opus | AudioCodec::Flac)
}

/// Whether the codec's configuration comes from a sequence header: all but Sorenson
/// Spark's and Screen Video's, which each picture's header gives.
pub(crate) fn video_needs_header(codec: VideoCodec) -> bool {
    !matches!(
        codec,
        VideoCodec::SorensonH263 | VideoCodec::Screen | VideoCodec::Screen2
    )
}

/// The codec's name if it has no MP4 mapping here.
#[cfg_attr(
    not(any(feature = "sorenson", feature = "screen")),
    allow(unused_variables)
)]
pub(crate) fn video_unsupported(codec: VideoCodec, layout: Layout) -> Option<String> {
    match codec {
        // Decoded in the wasm for a renderer that draws pictures; no MP4 mapping.
        #[cfg(any(feature = "sorenson", feature = "screen"))]
        _ if layout == Layout::Samples && PictureCodec::of(codec).is_some() => None,
        VideoCodec::Avc => None,
        #[cfg(feature = "hevc")]
        VideoCodec::Hevc => None,
        #[cfg(feature = "av1")]
        VideoCodec::Av1 => None,
        #[cfg(feature = "vp9")]
        VideoCodec::Vp9 => None,
        other => Some(video_name(other)),
    }
}

/// The codec's name if it has no MP4 mapping here.
pub(crate) fn audio_unsupported(codec: AudioCodec) -> Option<String> {
    match codec {
        AudioCodec::Aac | AudioCodec::Mp3 | AudioCodec::Mp3_8k => None,
        #[cfg(feature = "opus")]
        AudioCodec::Opus => None,
        #[cfg(feature = "flac")]
        AudioCodec::Flac => None,
        other => Some(audio_name(other)),
    }
}

#[cfg_attr(not(feature = "vp9"), allow(unused_variables))]
pub(crate) fn video_config(
    codec: VideoCodec,
    header: &Bytes,
    keyframe: &[u8],
) -> Result<TrackConfig, ConfigError> {
    match codec {
        VideoCodec::Avc => avc(header),
        #[cfg(feature = "hevc")]
        VideoCodec::Hevc => hevc(header),
        #[cfg(feature = "av1")]
        VideoCodec::Av1 => av1(header),
        #[cfg(feature = "vp9")]
        VideoCodec::Vp9 => vp9(header, keyframe),
        #[cfg(any(feature = "sorenson", feature = "screen"))]
        _ if let Some(pictures) = PictureCodec::of(codec) => decoded(pictures, keyframe),
        other => Err(ConfigError::Unsupported(video_name(other))),
    }
}

pub(crate) fn audio_config(
    codec: AudioCodec,
    header: &Bytes,
    frame: &[u8],
) -> Result<TrackConfig, ConfigError> {
    match codec {
        AudioCodec::Aac => aac(header),
        AudioCodec::Mp3 | AudioCodec::Mp3_8k => mp3(frame),
        #[cfg(feature = "opus")]
        AudioCodec::Opus => opus(header),
        #[cfg(feature = "flac")]
        AudioCodec::Flac => flac(header),
        other => Err(ConfigError::Unsupported(audio_name(other))),
    }
}

/// H.264: `avc1` + `avcC` (14496-15 §5.4.2); the FLV sequence header is the record as is.
fn avc(record: &Bytes) -> Result<TrackConfig, ConfigError> {
    let config = AvcConfig::parse(record).map_err(invalid)?;
    let (width, height) = match config.sps.first().map(|sps| Sps::parse(sps)) {
        Some(Ok(sps)) => (sps.width, sps.height),
        Some(Err(e)) => return Err(invalid(e)),
        None => (0, 0),
    };
    let entry = visual_entry(b"avc1", width, height, |w| {
        w.open(b"avcC", |w| w.bytes(record))
    });
    let mut track = video(
        config.codecs_string(),
        width,
        height,
        entry,
        Payload::Nal {
            length_size: config.nal_length_size,
        },
    );
    track.repeat = Some(SkipPictures::new(&config));
    Ok(track)
}

#[cfg(feature = "hevc")]
/// HEVC: `hvc1` + `hvcC` (14496-15 §8.4.1); `hvc1` because the parameter sets
/// stay in the record, as FLV sends them. The sequence header is the record as is.
fn hevc(record: &Bytes) -> Result<TrackConfig, ConfigError> {
    let c = HevcConfig::parse(record).map_err(invalid)?;
    let entry = visual_entry(b"hvc1", c.width, c.height, |w| {
        w.open(b"hvcC", |w| w.bytes(record))
    });
    let payload = Payload::Nal {
        length_size: c.nal_length_size,
    };
    Ok(video(c.codecs_string(), c.width, c.height, entry, payload))
}

#[cfg(feature = "av1")]
/// AV1: `av01` + `av1C` (AV1-ISOBMFF §2.2, §2.3); the sequence header is the record as is.
fn av1(record: &Bytes) -> Result<TrackConfig, ConfigError> {
    let c = Av1Config::parse(record).map_err(invalid)?;
    let entry = visual_entry(b"av01", c.width, c.height, |w| {
        w.open(b"av1C", |w| w.bytes(record))
    });
    Ok(video(
        c.codecs_string(),
        c.width,
        c.height,
        entry,
        Payload::Av1,
    ))
}

#[cfg(any(feature = "sorenson", feature = "screen"))]
/// A codec whose pictures the player decodes (`codec::picture`): no sample entry (it
/// never goes into MP4), its size from the keyframe's header; the coded pictures as
/// they come.
fn decoded(codec: PictureCodec, keyframe: &[u8]) -> Result<TrackConfig, ConfigError> {
    let (width, height) = codec.size(keyframe).map_err(invalid)?;
    Ok(video(
        codec.name().into(),
        width,
        height,
        Vec::new(),
        Payload::Plain,
    ))
}

#[cfg(feature = "vp9")]
/// VP9: `vp09` + `vpcC` (VP-ISOBMFF §2.2): a FullBox version 1 around the
/// record, rebuilt from the parsed fields so either form of the FLV body works.
/// The record has no picture size: that comes from the keyframe.
fn vp9(record: &Bytes, keyframe: &[u8]) -> Result<TrackConfig, ConfigError> {
    let c = Vp9Config::parse(record).map_err(invalid)?;
    let (width, height) = vp9::frame_size(keyframe).unwrap_or((0, 0));
    let entry = visual_entry(b"vp09", width, height, |w| {
        w.full(b"vpcC", 1, 0, |w| w.bytes(&c.record()))
    });
    Ok(video(
        c.codecs_string(),
        width,
        height,
        entry,
        Payload::Plain,
    ))
}

#[cfg(feature = "opus")]
/// Opus: `Opus` + `dOps` (Opus-ISOBMFF §4.3). Opus always decodes at 48 kHz, so
/// that is the timescale; durations come from each packet's TOC byte. The
/// pre-skip is signalled in `dOps` only (no edit list), as MSE players expect.
fn opus(head: &Bytes) -> Result<TrackConfig, ConfigError> {
    let h = OpusHead::parse(head).map_err(invalid)?;
    let entry = audio_entry(b"Opus", h.channels, 48_000, |w| {
        w.open(b"dOps", |w| w.bytes(&h.dops()))
    });
    let duration = FrameDuration::PerFrame(opus::packet_samples);
    // Mapping family 0 has no stream counts: one stream, coupled when stereo.
    let (streams, coupled) = if h.mapping_family == 0 {
        (1, u8::from(h.channels > 1))
    } else {
        (h.stream_count, h.coupled_count)
    };
    let silence = [960, 480, 240, 120]
        .into_iter()
        .filter_map(|n| silent(silence::opus(n, streams, coupled), n))
        .collect();
    Ok(audio("opus".into(), 48_000, h.channels, entry, duration).with_silence(silence))
}

#[cfg(feature = "flac")]
/// FLAC: `fLaC` + `dfLa` (FLAC-ISOBMFF §3.3); durations from each frame's block size.
fn flac(header: &Bytes) -> Result<TrackConfig, ConfigError> {
    let c = FlacConfig::parse(header).map_err(invalid)?;
    let entry = audio_entry(b"fLaC", c.channels, c.sample_rate, |w| {
        w.open(b"dfLa", |w| w.bytes(&c.dfla()))
    });
    let duration = FrameDuration::PerFrame(flac::frame_block_size);
    // Blocks of the largest size, then halves of it, down to FLAC's least (16).
    let sizes = core::iter::successors(Some(u32::from(c.max_block_size)), |n| Some(n / 2));
    let silence = sizes
        .take_while(|&n| n >= 16)
        .filter_map(|n| silent(silence::flac(&c, n), n))
        .collect();
    Ok(audio("flac".into(), c.sample_rate, c.channels, entry, duration).with_silence(silence))
}

fn invalid(e: crate::codec::CodecError) -> ConfigError {
    ConfigError::Invalid(crate::message::describe("malformed", &e))
}

/// AAC: `mp4a` + `esds` with the AudioSpecificConfig as is, so HE-AAC's explicit
/// SBR/PS signalling reaches the decoder unchanged (14496-14 §5.6, 14496-3 §1.6).
fn aac(asc: &Bytes) -> Result<TrackConfig, ConfigError> {
    let config = AacConfig::parse(asc).map_err(invalid)?;
    // A raw AAC frame holds 1024 samples of the core codec; with SBR (object type 5
    // or 29 signalled explicitly) the parsed rate is the doubled output rate, so a
    // frame is 2048 samples of it.
    let per_frame = if matches!(config.object_type, 5 | 29) {
        2048
    } else {
        1024
    };
    let channels = config.channels.max(1);
    let entry = audio_entry(b"mp4a", channels, config.sample_rate, |w| {
        esds(w, 0x40, asc)
    });
    let silence = silent(silence::aac(&config), per_frame)
        .into_iter()
        .collect();
    Ok(audio(
        config.codecs_string(),
        config.sample_rate,
        channels,
        entry,
        FrameDuration::Fixed(per_frame),
    )
    .with_silence(silence))
}

/// MP3: `mp4a` + `esds` with objectTypeIndication 0x6B (MPEG-1/2 audio, 14496-1
/// table 5) and no DecoderSpecificInfo; rate and channels from the frame header.
fn mp3(frame: &[u8]) -> Result<TrackConfig, ConfigError> {
    let h = Mp3Header::parse(frame).map_err(invalid)?;
    let entry = audio_entry(b"mp4a", h.channels, h.sample_rate, |w| esds(w, 0x6b, &[]));
    let silence = silent(silence::mp3(frame), h.samples_per_frame)
        .into_iter()
        .collect();
    Ok(audio(
        "mp4a.6B".into(),
        h.sample_rate,
        h.channels,
        entry,
        FrameDuration::PerFrame(mp3_samples),
    )
    .with_silence(silence))
}

fn silent(data: Option<Vec<u8>>, duration: u32) -> Option<SilentFrame> {
    Some(SilentFrame {
        data: Bytes::from(data?),
        duration,
    })
}

/// Samples in a tag: usually one MP3 frame, but a tag may hold several.
fn mp3_samples(data: &[u8]) -> Option<u32> {
    let mut total = 0u32;
    let mut rest = data;
    // Bounded by the tag: every frame is at least its 4-byte header.
    while let Ok(h) = Mp3Header::parse(rest) {
        total = total.saturating_add(h.samples_per_frame);
        match rest.get(h.frame_len.max(4)..) {
            Some(next) if !next.is_empty() => rest = next,
            _ => break,
        }
    }
    (total > 0).then_some(total)
}

fn video(codec: String, width: u32, height: u32, entry: Vec<u8>, payload: Payload) -> TrackConfig {
    TrackConfig {
        info: TrackInfo {
            codec,
            width,
            height,
            sample_rate: 0,
            channels: 0,
            timescale: VIDEO_TIMESCALE,
        },
        timescale: VIDEO_TIMESCALE,
        sample_entry: entry,
        duration: FrameDuration::Timestamps,
        payload,
        silence: Vec::new(),
        repeat: None,
    }
}

fn audio(
    codec: String,
    sample_rate: u32,
    channels: u8,
    entry: Vec<u8>,
    duration: FrameDuration,
) -> TrackConfig {
    // A rate of 0 cannot be a timescale; parsers reject it, this keeps it so.
    let timescale = sample_rate.max(1);
    TrackConfig {
        info: TrackInfo {
            codec,
            width: 0,
            height: 0,
            sample_rate,
            channels,
            timescale,
        },
        timescale,
        sample_entry: entry,
        duration,
        payload: Payload::Plain,
        silence: Vec::new(),
        repeat: None,
    }
}

pub(crate) fn video_name(codec: VideoCodec) -> String {
    match codec {
        VideoCodec::SorensonH263 => "Sorenson H.263".into(),
        VideoCodec::Screen => "Screen video".into(),
        VideoCodec::Vp6 => "VP6".into(),
        VideoCodec::Vp6Alpha => "VP6 with alpha".into(),
        VideoCodec::Screen2 => "Screen video 2".into(),
        VideoCodec::Avc => "H.264".into(),
        VideoCodec::Hevc => "HEVC".into(),
        VideoCodec::Av1 => "AV1".into(),
        VideoCodec::Vp9 => "VP9".into(),
        VideoCodec::Vp8 => "VP8".into(),
        VideoCodec::Other(v) => other_name("codec id", v),
    }
}

pub(crate) fn audio_name(codec: AudioCodec) -> String {
    match codec {
        AudioCodec::LinearPcmPlatform | AudioCodec::LinearPcmLe => "PCM".into(),
        AudioCodec::Adpcm => "ADPCM".into(),
        AudioCodec::Mp3 | AudioCodec::Mp3_8k => "MP3".into(),
        AudioCodec::Nellymoser16kMono | AudioCodec::Nellymoser8kMono | AudioCodec::Nellymoser => {
            "Nellymoser".into()
        }
        AudioCodec::G711ALaw => "G.711 A-law".into(),
        AudioCodec::G711MuLaw => "G.711 mu-law".into(),
        AudioCodec::Aac => "AAC".into(),
        AudioCodec::Speex => "Speex".into(),
        AudioCodec::DeviceSpecific => "device-specific sound".into(),
        AudioCodec::Opus => "Opus".into(),
        AudioCodec::Flac => "FLAC".into(),
        AudioCodec::Ac3 => "AC-3".into(),
        AudioCodec::Eac3 => "E-AC-3".into(),
        AudioCodec::Other(v) => other_name("sound format", v),
    }
}

/// A FourCC when the value is four printable bytes, else the legacy number.
fn other_name(what: &str, v: u32) -> String {
    let b = v.to_be_bytes();
    if v > 0xff && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        b.iter().map(|&c| char::from(c)).collect()
    } else {
        format!("{what} {v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_lc_8k_mono_config() {
        // AAC-LC, index 11 (8000 Hz), channel configuration 1.
        let c = aac(&Bytes::from_static(&[0x15, 0x88])).unwrap();
        assert_eq!(c.info.codec, "mp4a.40.2");
        assert_eq!((c.timescale, c.info.channels), (8000, 1));
        assert!(matches!(c.duration, FrameDuration::Fixed(1024)));
    }

    #[test]
    fn he_aac_frames_are_2048_output_samples() {
        // Object type 5 (SBR), core 22050 (index 7), stereo, extension 44100 (index 4), core type 2.
        let asc = [0x2b, 0x92, 0x08, 0x00];
        let c = aac(&Bytes::copy_from_slice(&asc)).unwrap();
        assert_eq!(c.info.codec, "mp4a.40.5");
        assert_eq!(c.timescale, 44_100);
        assert!(matches!(c.duration, FrameDuration::Fixed(2048)));
    }

    #[test]
    fn unsupported_codecs_are_named() {
        assert!(matches!(
            audio_config(AudioCodec::DeviceSpecific, &Bytes::new(), &[]),
            Err(ConfigError::Unsupported(c)) if c == "device-specific sound"
        ));
        assert!(matches!(
            video_config(VideoCodec::Other(crate::flv::fourcc(b"abcd")), &Bytes::new(), &[]),
            Err(ConfigError::Unsupported(c)) if c == "abcd"
        ));
    }

    /// The lean build reports a codec it left out like one with no mapping at all.
    #[cfg(not(any(feature = "hevc", feature = "opus")))]
    #[test]
    fn codecs_left_out_are_unsupported() {
        assert_eq!(
            video_unsupported(VideoCodec::Hevc, Layout::PerTrack).as_deref(),
            Some("HEVC")
        );
        assert_eq!(audio_unsupported(AudioCodec::Opus).as_deref(), Some("Opus"));
        assert!(matches!(
            video_config(VideoCodec::Hevc, &Bytes::new(), &[]),
            Err(ConfigError::Unsupported(c)) if c == "HEVC"
        ));
    }

    #[cfg(any(feature = "opus", feature = "vp9"))]
    fn child<'a>(entry: &'a [u8], fourcc: &[u8; 4]) -> &'a [u8] {
        let at = entry
            .windows(4)
            .position(|w| w == fourcc)
            .expect("child box");
        let len = u32::from_be_bytes([entry[at - 4], entry[at - 3], entry[at - 2], entry[at - 1]]);
        &entry[at + 4..at - 4 + len as usize]
    }

    #[cfg(feature = "opus")]
    #[test]
    fn opus_entry_carries_dops_at_48k() {
        // OpusHead: version 1, 2 channels, pre-skip 312, 44.1 kHz input, gain 0, family 0.
        let head = b"OpusHead\x01\x02\x38\x01\x44\xac\x00\x00\x00\x00\x00";
        let c = opus(&Bytes::from_static(head)).unwrap();
        assert_eq!((c.info.codec.as_str(), c.timescale), ("opus", 48_000));
        assert_eq!(&c.sample_entry[4..8], b"Opus");
        assert_eq!(
            child(&c.sample_entry, b"dOps"),
            [0, 2, 0x01, 0x38, 0, 0, 0xac, 0x44, 0, 0, 0]
        );
        assert_eq!(&c.sample_entry[32..36], &[0xbb, 0x80, 0, 0]); // 48000 << 16
    }

    #[cfg(feature = "vp9")]
    #[test]
    fn vp9_entry_wraps_the_record_in_a_version_1_vpcc() {
        // Profile 0, level 3.1, 8-bit 4:2:0 colocated, BT.709, codec init size 0.
        let record = [0, 31, 0x82, 1, 1, 1, 0, 0];
        let c = vp9(&Bytes::copy_from_slice(&record), &[]).unwrap();
        assert_eq!(&c.sample_entry[4..8], b"vp09");
        let vpcc = child(&c.sample_entry, b"vpcC");
        assert_eq!(&vpcc[..4], &[1, 0, 0, 0]);
        assert_eq!(&vpcc[4..], &record);
        assert!(
            c.info.codec.starts_with("vp09.00.31.08"),
            "{}",
            c.info.codec
        );
    }

    #[test]
    fn mp3_tag_with_two_frames_counts_both() {
        // MPEG 1 Layer III, 128 kb/s, 44.1 kHz: 417-byte frames.
        let mut tag = vec![0u8; 2 * 417];
        tag[..4].copy_from_slice(&[0xff, 0xfb, 0x90, 0x44]);
        tag[417..421].copy_from_slice(&[0xff, 0xfb, 0x90, 0x44]);
        assert_eq!(mp3_samples(&tag), Some(2 * 1152));
        assert_eq!(mp3_samples(&tag[..417]), Some(1152));
        assert_eq!(mp3_samples(&[0, 1, 2, 3]), None);
    }
}
