//! What a channel carries, as people and `/api/channels` want it: codecs strings,
//! picture size, frame rate and bitrate, read from the tags as they pass.

use flashless_core::amf::{Value, amf0};
use flashless_core::codec::picture::PictureCodec;
use flashless_core::codec::{
    AacConfig, Av1Config, AvcConfig, FlacConfig, HevcConfig, Mp3Header, OpusHead, Sps, Vp9Config,
};
use flashless_core::flv::{AudioCodec, AudioTag, Tag, TagType, VideoCodec, VideoTag};
use serde::Serialize;

/// Media time over which bitrate and frame rate are averaged.
const WINDOW_MS: u32 = 2000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct MediaInfo {
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u8>,
    pub fps: Option<f64>,
    pub bitrate_kbps: Option<f64>,
    #[serde(skip)]
    window: Window,
}

#[derive(Debug, Clone, Default)]
struct Window {
    start_ms: Option<u32>,
    bytes: u64,
    frames: u32,
}

impl MediaInfo {
    pub fn video_header(&mut self, data: &bytes::Bytes) {
        let Ok(v) = VideoTag::parse(data) else { return };
        self.video_codec = Some(match v.codec {
            VideoCodec::Avc => match AvcConfig::parse(&v.body) {
                Ok(cfg) => {
                    if let Some(sps) = cfg.sps.first().and_then(|s| Sps::parse(s).ok()) {
                        self.size(sps.width, sps.height);
                    }
                    cfg.codecs_string()
                }
                Err(_) => "avc1".into(),
            },
            VideoCodec::Hevc => match HevcConfig::parse(&v.body) {
                Ok(cfg) => {
                    self.size(cfg.width, cfg.height);
                    cfg.codecs_string()
                }
                Err(_) => "hvc1".into(),
            },
            VideoCodec::Av1 => match Av1Config::parse(&v.body) {
                Ok(cfg) => {
                    self.size(cfg.width, cfg.height);
                    cfg.codecs_string()
                }
                Err(_) => "av01".into(),
            },
            VideoCodec::Vp9 => {
                Vp9Config::parse(&v.body).map_or_else(|_| "vp09".into(), |c| c.codecs_string())
            }
            other => format!("{other:?}"),
        });
    }

    pub fn audio_header(&mut self, data: &bytes::Bytes) {
        let Ok(a) = AudioTag::parse(data) else { return };
        self.audio(&a);
    }

    fn audio(&mut self, a: &AudioTag) {
        let (codec, rate, channels) = match a.codec {
            AudioCodec::Aac => match AacConfig::parse(&a.body) {
                Ok(c) => (c.codecs_string(), Some(c.sample_rate), Some(c.channels)),
                Err(_) => ("mp4a".into(), None, None),
            },
            AudioCodec::Opus => match OpusHead::parse(&a.body) {
                Ok(h) => ("opus".into(), Some(48_000), Some(h.channels)),
                Err(_) => ("opus".into(), None, None),
            },
            AudioCodec::Flac => match FlacConfig::parse(&a.body) {
                Ok(c) => ("flac".into(), Some(c.sample_rate), Some(c.channels)),
                Err(_) => ("flac".into(), None, None),
            },
            AudioCodec::Mp3 | AudioCodec::Mp3_8k => match Mp3Header::parse(&a.body) {
                Ok(h) => ("mp3".into(), Some(h.sample_rate), Some(h.channels)),
                Err(_) => ("mp3".into(), None, None),
            },
            // Legacy formats carry their rate and layout in the tag header (FLV spec E.4.2.1).
            other => (
                format!("{other:?}"),
                Some(a.legacy_rate()),
                Some(if a.stereo { 2 } else { 1 }),
            ),
        };
        self.audio_codec = Some(codec);
        self.sample_rate = rate.or(self.sample_rate);
        self.channels = channels.or(self.channels);
    }

    fn size(&mut self, width: u32, height: u32) {
        if width > 0 && height > 0 {
            (self.width, self.height) = (Some(width), Some(height));
        }
    }

    /// `onMetaData` fills what the headers have not (legacy codecs have no header).
    pub fn metadata(&mut self, data: &[u8]) {
        let Ok(values) = amf0::decode_all(data) else {
            return;
        };
        let Some(meta) = values
            .iter()
            .find(|v| matches!(v, Value::EcmaArray(_) | Value::Object(_)))
        else {
            return;
        };
        let number = |key| {
            meta.get(key)
                .and_then(Value::as_f64)
                .filter(|n| *n > 0.0 && *n < 1e5)
        };
        self.width = self.width.or(number("width").map(|n| n as u32));
        self.height = self.height.or(number("height").map(|n| n as u32));
    }

    /// Counts a coded frame towards the bitrate and frame rate.
    pub fn frame(&mut self, tag: &Tag) {
        // Legacy codecs have no sequence header: their first frame names them.
        if tag.tag_type == TagType::Audio
            && self.audio_codec.is_none()
            && let Ok(a) = AudioTag::parse(&tag.data)
        {
            self.audio(&a);
        }
        if tag.tag_type == TagType::Video
            && self.video_codec.is_none()
            && let Ok(v) = VideoTag::parse(&tag.data)
        {
            self.video_codec = Some(match PictureCodec::of(v.codec) {
                // As the player's WebCodecs renderer names it; its size in each picture.
                Some(codec) => {
                    if let Ok((width, height)) = codec.size(&v.body) {
                        self.size(width, height);
                    }
                    codec.name().into()
                }
                None => format!("{:?}", v.codec),
            });
        }
        let w = &mut self.window;
        let start = *w.start_ms.get_or_insert(tag.timestamp);
        w.bytes += tag.data.len() as u64;
        if tag.tag_type == TagType::Video {
            w.frames += 1;
        }
        let span = tag.timestamp.wrapping_sub(start);
        if (WINDOW_MS..u32::MAX / 2).contains(&span) {
            let secs = f64::from(span) / 1000.0;
            self.bitrate_kbps = Some((w.bytes as f64 * 8.0 / secs / 1000.0).round());
            self.fps = (w.frames > 0).then(|| (f64::from(w.frames) / secs * 10.0).round() / 10.0);
            self.window = Window {
                start_ms: Some(tag.timestamp),
                bytes: 0,
                frames: 0,
            };
        } else if span >= u32::MAX / 2 {
            // A timestamp jump backwards: start a new window.
            self.window = Window::default();
        }
    }
}
