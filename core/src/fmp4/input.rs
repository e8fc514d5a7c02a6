//! Reading: each FLV tag parsed into a sequence header, coded frames or metadata
//! for the track it belongs to; codecs left out of the build, or with no MP4
//! mapping, are reported once.

use alloc::borrow::ToOwned;
#[cfg(feature = "legacy-audio")]
use alloc::string::ToString;

use bytes::Bytes;

use super::{Layout, RemuxEvent, Remuxer, Track, codecs};
use crate::amf::{self, Value};
#[cfg(feature = "vp9")]
use crate::codec::vp9;
use crate::flv::{AudioPacket, AudioTag, FrameType, Tag, VideoPacket, VideoTag};
use crate::message;

impl Remuxer {
    pub(super) fn push_video(&mut self, tag: &Tag) {
        let v = match VideoTag::parse(&tag.data) {
            Ok(v) => v,
            Err(e) => {
                let why = message::describe("bad video tag header", &e);
                return self.error(Some(Track::Video), tag.timestamp, &why);
            }
        };
        if v.frame_type == FrameType::CommandFrame {
            return;
        }
        self.expect[0] = true;
        if self.video.unsupported {
            self.stats.dropped += 1;
            return;
        }
        if let Some(codec) = codecs::video_unsupported(v.codec, self.options.layout) {
            let pictures = codecs::video_unsupported(v.codec, Layout::Samples).is_none();
            return self.unsupported(Track::Video, codec, pictures);
        }
        match v.packet {
            VideoPacket::SequenceStart => self.sequence_header(Track::Video, v.body),
            VideoPacket::CodedFrames { composition_time } => {
                let keyframe = v.is_keyframe();
                // A VP9 keyframe may change the picture size without a new
                // sequence header: that is a new configuration too.
                #[cfg(feature = "vp9")]
                if v.codec == crate::flv::VideoCodec::Vp9 && keyframe {
                    let size = vp9::frame_size(&v.body);
                    if let (Some(c), Some(size)) = (&self.video.config, size) {
                        if (c.info.width, c.info.height) != size {
                            self.video.header_applied = false;
                        }
                    }
                }
                let body = v.body.clone();
                let make = |h: &Bytes| codecs::video_config(v.codec, h, &body);
                self.coded_frame(
                    Track::Video,
                    tag.timestamp,
                    composition_time,
                    v.body,
                    keyframe,
                    codecs::video_needs_header(v.codec),
                    make,
                );
            }
            VideoPacket::SequenceEnd => self.emit_pending(Track::Video, false),
            _ => {}
        }
    }

    pub(super) fn push_audio(&mut self, tag: &Tag) {
        if tag.data.is_empty() {
            return; // E-RTMP "audio silence": nothing to play
        }
        let a = match AudioTag::parse(&tag.data) {
            Ok(a) => a,
            Err(e) => {
                let why = message::describe("bad audio tag header", &e);
                return self.error(Some(Track::Audio), tag.timestamp, &why);
            }
        };
        self.expect[1] = true;
        if self.audio.unsupported {
            self.stats.dropped += 1;
            return;
        }
        // G.711, PCM, ADPCM, Nellymoser, Speex: decoded and re-encoded, they go on as
        // E-RTMP FLAC, its stream header a sequence start (a new one when the format
        // changes), the tag's frames each at its own time.
        #[cfg(feature = "legacy-audio")]
        match self.legacy.to_flac(&a) {
            None => {}
            Some(Ok(flac)) => {
                self.sequence_header(Track::Audio, flac.header);
                for (at, frame) in flac.frames {
                    let ts = tag.timestamp.wrapping_add(at);
                    self.audio_frames(crate::flv::AudioCodec::Flac, ts, frame);
                }
                return;
            }
            Some(Err(e)) => return self.error(Some(Track::Audio), tag.timestamp, &e.to_string()),
        }
        if let Some(codec) = codecs::audio_unsupported(a.codec) {
            return self.unsupported(Track::Audio, codec, false);
        }
        match a.packet {
            AudioPacket::SequenceStart => {
                self.sequence_header(Track::Audio, a.body);
                // The header is the whole configuration: known now, so that
                // silence can stand in for frames that come late or not at all.
                if codecs::audio_needs_header(a.codec) {
                    let make = |h: &Bytes| codecs::audio_config(a.codec, h, &[]);
                    self.configure(Track::Audio, tag.timestamp, true, make);
                }
            }
            AudioPacket::CodedFrames => self.audio_frames(a.codec, tag.timestamp, a.body),
            AudioPacket::SequenceEnd => self.emit_pending(Track::Audio, false),
            _ => {}
        }
    }

    /// Coded audio at `ts`: a tag's frames (as many as the codec packs in one), or one
    /// FLAC frame of a legacy tag.
    fn audio_frames(&mut self, codec: crate::flv::AudioCodec, ts: u32, body: Bytes) {
        let needs_header = codecs::audio_needs_header(codec);
        let frame = body.clone();
        let make = |h: &Bytes| codecs::audio_config(codec, h, &frame);
        self.coded_frame(Track::Audio, ts, 0, body, true, needs_header, make);
    }

    /// Configures the audio track from a coded frame of a codec that has no sequence
    /// header (MP3), without taking the frame: a caller that held the other track's
    /// frames while the first init waited for this one steps them after it, under an
    /// init with both (else they wait in the remuxer, and go out in one fragment).
    /// Any other tag is left alone; the frame itself is pushed in its turn.
    pub fn configure_from(&mut self, tag: &Tag) {
        if tag.tag_type != crate::flv::TagType::Audio || self.audio.unsupported {
            return;
        }
        let Ok(a) = AudioTag::parse(&tag.data) else {
            return;
        };
        let by_frame = a.packet == AudioPacket::CodedFrames
            && !codecs::audio_needs_header(a.codec)
            && codecs::audio_unsupported(a.codec).is_none();
        if !by_frame {
            return;
        }
        self.expect[1] = true;
        let make = |_: &Bytes| codecs::audio_config(a.codec, &Bytes::new(), &a.body);
        self.configure(Track::Audio, tag.timestamp, false, make);
    }

    pub(super) fn push_script(&mut self, tag: &Tag) {
        let values = match amf::amf0::decode_all(&tag.data) {
            Ok(v) => v,
            Err(e) => {
                let why = message::describe("bad AMF0", &e);
                return self.error(None, tag.timestamp, &("script data: ".to_owned() + &why));
            }
        };
        // FLV files carry "onMetaData", obj; an RTMP publish "@setDataFrame", "onMetaData", obj.
        let mut it = values
            .into_iter()
            .skip_while(|v| v.as_str() == Some("@setDataFrame"));
        if it.next().as_ref().and_then(Value::as_str) != Some("onMetaData") {
            return;
        }
        let Some(meta) = it.next() else { return };
        if let Some(fps) = meta.get("framerate").and_then(Value::as_f64) {
            if (1.0..=1000.0).contains(&fps) {
                self.video.frame_hint_ms = Some(libm::round(1000.0 / fps) as u32);
            }
        }
        // Only the Muxed layout looks at these, and then only for a bounded time.
        let says = |has: &str, id: &str| {
            meta.get(has).and_then(Value::as_bool) == Some(true) || meta.get(id).is_some()
        };
        let video = says("hasVideo", "videocodecid");
        let audio = says("hasAudio", "audiocodecid");
        let no_video = meta.get("hasVideo").and_then(Value::as_bool) == Some(false);
        let pictured = video || meta.get("width").is_some() || meta.get("height").is_some();
        if no_video || (audio && !pictured) {
            // A session with sound only: its video is not the last one's picture.
            self.hold.forget();
        }
        self.expect[0] |= video;
        self.expect[1] |= audio;
        self.events.push_back(RemuxEvent::Metadata(meta));
    }
}
