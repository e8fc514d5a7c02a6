//! What a channel carries, as people and `/api/channels` want it: codecs strings,
//! picture size, frame rate and bitrate, read from the tags as they pass.

use flashless_core::amf::{Value, amf0};
use flashless_core::codec::{AacConfig, AvcConfig, Sps};
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
                        (self.width, self.height) = (Some(sps.width), Some(sps.height));
                    }
                    cfg.codecs_string()
                }
                Err(_) => "avc1".into(),
            },
            VideoCodec::Hevc => "hvc1".into(),
            VideoCodec::Av1 => "av01".into(),
            VideoCodec::Vp9 => "vp09".into(),
            other => format!("{other:?}"),
        });
    }

    pub fn audio_header(&mut self, data: &bytes::Bytes) {
        let Ok(a) = AudioTag::parse(data) else { return };
        self.audio_codec = Some(audio_codec_name(&a));
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
        let w = &mut self.window;
        let start = *w.start_ms.get_or_insert(tag.timestamp);
        w.bytes += tag.data.len() as u64;
        if tag.tag_type == TagType::Video {
            w.frames += 1;
        }
        if tag.tag_type == TagType::Audio && self.audio_codec.is_none() {
            if let Ok(a) = AudioTag::parse(&tag.data) {
                self.audio_codec = Some(audio_codec_name(&a));
            }
        }
        if tag.tag_type == TagType::Video && self.video_codec.is_none() {
            if let Ok(v) = VideoTag::parse(&tag.data) {
                self.video_codec = Some(format!("{:?}", v.codec));
            }
        }
        let span = tag.timestamp.wrapping_sub(start);
        if (WINDOW_MS..u32::MAX / 2).contains(&span) {
            let secs = f64::from(span) / 1000.0;
            self.bitrate_kbps = Some((w.bytes as f64 * 8.0 / secs / 1000.0).round());
            self.fps = (w.frames > 0).then(|| (f64::from(w.frames) / secs * 10.0).round() / 10.0);
            *w = Window {
                start_ms: Some(tag.timestamp),
                bytes: 0,
                frames: 0,
            };
        } else if span >= u32::MAX / 2 {
            // A timestamp jump backwards: start a new window.
            *w = Window::default();
        }
    }
}

fn audio_codec_name(a: &AudioTag) -> String {
    match a.codec {
        AudioCodec::Aac => AacConfig::parse(&a.body)
            .map(|c| c.codecs_string())
            .unwrap_or_else(|_| "mp4a".into()),
        AudioCodec::Mp3 | AudioCodec::Mp3_8k => "mp3".into(),
        AudioCodec::Opus => "opus".into(),
        AudioCodec::Flac => "flac".into(),
        other => format!("{other:?}"),
    }
}
