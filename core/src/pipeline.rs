//! FLV bytes in, remuxer events out: the [`FlvReader`] and the [`fmp4::Remuxer`]
//! joined, for a caller that receives a byte stream in pieces of any size (the
//! browser player's WebSocket or fetch, the npm package's `Remuxer`).

use crate::amf::{self, Value};
use crate::flv::{FlvError, FlvReader, Item, TagType};
use crate::fmp4::{self, Fragmenting, RemuxEvent, RemuxStats, RemuxerOptions};
use alloc::vec::Vec;

/// What the byte stream produced: the FLV header's track flags, then remuxer events.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Header {
        has_audio: bool,
        has_video: bool,
    },
    Remux(RemuxEvent),
    /// A script-data tag (`onMetaData`, `onCuePoint`, `onTextData`, any AMF data),
    /// its AMF0 values in order, an RTMP publish's leading `@setDataFrame` left
    /// out. One that does not decode is not reported (the remuxer reports it).
    Script {
        timestamp: u32,
        values: Vec<Value>,
    },
    /// The FLV stream itself is malformed; nothing more will come from it.
    Broken(FlvError),
}

/// The FLV reader and the remuxer, fed with bytes split anywhere.
#[derive(Debug)]
pub struct Pipeline {
    reader: FlvReader,
    remuxer: fmp4::Remuxer,
    broken: bool,
    /// `Fragmenting::OnCut`: each push ends with a cut.
    cut_each_push: bool,
}

impl Pipeline {
    /// `tags_only`: the stream starts with a tag, not with the FLV file header.
    pub fn new(options: RemuxerOptions, tags_only: bool) -> Self {
        Pipeline {
            reader: if tags_only {
                FlvReader::tags_only()
            } else {
                FlvReader::new()
            },
            remuxer: fmp4::Remuxer::new(options),
            broken: false,
            cut_each_push: options.fragment == Fragmenting::OnCut,
        }
    }

    /// Feeds the next bytes; `out` receives what they completed. Once the stream
    /// is broken it has reported so once, and further bytes are ignored.
    pub fn feed(&mut self, bytes: &[u8], out: &mut impl FnMut(Output)) {
        if self.broken {
            return;
        }
        self.reader.feed(bytes);
        loop {
            match self.reader.poll_item() {
                Ok(Some(Item::Header(h))) => out(Output::Header {
                    has_audio: h.has_audio,
                    has_video: h.has_video,
                }),
                Ok(Some(Item::Tag(tag))) => {
                    if tag.tag_type == TagType::Script {
                        if let Ok(mut values) = amf::amf0::decode_all(&tag.data) {
                            if values.first().and_then(Value::as_str) == Some("@setDataFrame") {
                                values.remove(0);
                            }
                            out(Output::Script {
                                timestamp: tag.timestamp,
                                values,
                            });
                        }
                    }
                    self.remuxer.feed(&tag);
                    self.drain(out);
                }
                Ok(None) => break,
                Err(e) => {
                    self.broken = true;
                    out(Output::Broken(e));
                    break;
                }
            }
        }
        if self.cut_each_push {
            self.remuxer.cut();
            self.drain(out);
        }
    }

    /// End of stream: what the remuxer still holds goes out.
    pub fn flush(&mut self, out: &mut impl FnMut(Output)) {
        self.remuxer.flush();
        self.drain(out);
    }

    pub fn stats(&self) -> RemuxStats {
        self.remuxer.stats()
    }

    /// See [`fmp4::Remuxer::video_frame_ms`].
    pub fn video_frame_ms(&self) -> Option<f64> {
        self.remuxer.video_frame_ms()
    }

    fn drain(&mut self, out: &mut impl FnMut(Output)) {
        while let Some(ev) = self.remuxer.poll_event() {
            out(Output::Remux(ev));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::{Layout, Track};

    const FLV: &[u8] = include_bytes!("../../testdata/h264_aac.flv");

    fn run(pipeline: &mut Pipeline, pieces: &[&[u8]]) -> Vec<Output> {
        let mut outputs = Vec::new();
        for piece in pieces {
            pipeline.feed(piece, &mut |o| outputs.push(o));
        }
        pipeline.flush(&mut |o| outputs.push(o));
        outputs
    }

    fn whole() -> Vec<Output> {
        run(&mut Pipeline::new(RemuxerOptions::default(), false), &[FLV])
    }

    #[test]
    fn script_tags_come_out_as_their_amf_values() {
        let outputs = whole();
        let scripts: Vec<_> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Script { values, .. } => Some(values),
                _ => None,
            })
            .collect();
        assert_eq!(scripts.len(), 1, "the file's onMetaData");
        assert_eq!(scripts[0][0].as_str(), Some("onMetaData"));
        assert!(scripts[0][1].get("duration").is_some());
    }

    #[test]
    fn a_real_file_gives_the_header_then_init_segments_and_fragments() {
        let outputs = whole();
        assert_eq!(
            outputs.first(),
            Some(&Output::Header {
                has_audio: true,
                has_video: true
            })
        );
        let count = |f: fn(&RemuxEvent) -> bool| {
            outputs
                .iter()
                .filter(|o| matches!(o, Output::Remux(ev) if f(ev)))
                .count()
        };
        assert_eq!(count(|ev| matches!(ev, RemuxEvent::Init { .. })), 2);
        assert!(count(|ev| matches!(ev, RemuxEvent::Fragment { .. })) >= 50);
        assert!(!outputs.iter().any(|o| matches!(o, Output::Broken(_))));
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let expected = whole();
        for size in [1, 2, 3, 7, 11, 64, 1000, 4096] {
            let pieces: Vec<&[u8]> = FLV.chunks(size).collect();
            let got = run(
                &mut Pipeline::new(RemuxerOptions::default(), false),
                &pieces,
            );
            assert!(got == expected, "pieces of {size} bytes");
        }
        // One cut at every offset of the header and the first tags.
        for at in 0..600 {
            let (a, b) = FLV.split_at(at);
            let got = run(
                &mut Pipeline::new(RemuxerOptions::default(), false),
                &[a, b],
            );
            assert!(got == expected, "split at byte {at}");
        }
    }

    #[test]
    fn tags_only_reads_a_stream_without_the_file_header() {
        // FLV header (9 bytes) and PreviousTagSize0 (4 bytes).
        let mut pipeline = Pipeline::new(RemuxerOptions::default(), true);
        let got = run(&mut pipeline, &[&FLV[13..]]);
        assert_eq!(got, whole()[1..]);
    }

    #[test]
    fn fragment_per_push_cuts_at_the_end_of_each_push() {
        let options = RemuxerOptions {
            fragment: Fragmenting::OnCut,
            ..RemuxerOptions::default()
        };
        let fragments = |pieces: &[&[u8]]| {
            run(&mut Pipeline::new(options, false), pieces)
                .iter()
                .filter(|o| matches!(o, Output::Remux(RemuxEvent::Fragment { .. })))
                .count()
        };
        let one = fragments(&[FLV]);
        let halves = fragments(&[&FLV[..FLV.len() / 2], &FLV[FLV.len() / 2..]]);
        assert!(one < halves, "{one} fragments in one push, {halves} in two");
    }

    #[test]
    fn the_samples_layout_gives_configs_and_the_samples_of_the_per_track_layout() {
        let samples = RemuxerOptions {
            layout: Layout::Samples,
            ..RemuxerOptions::default()
        };
        let mut pipeline = Pipeline::new(samples, false);
        let outputs = run(&mut pipeline, &[FLV]);
        let configs: Vec<_> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Remux(RemuxEvent::Config {
                    track,
                    info,
                    description,
                }) => Some((*track, info.codec.clone(), description.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(configs.len(), 2, "{configs:?}");
        let (_, video_codec, avcc) = &configs[configs[0].0 as usize];
        assert!(video_codec.starts_with("avc1."), "{video_codec}");
        let avcc = avcc.as_ref().expect("the avcC record");
        assert_eq!(avcc[0], 1, "configurationVersion");
        assert_eq!(&video_codec[5..], hex(&avcc[1..4]), "profile, flags, level");
        let audio = configs.iter().find(|c| c.0 == Track::Audio).expect("audio");
        assert_eq!(audio.1, "mp4a.40.2");
        let asc = audio.2.as_ref().expect("AudioSpecificConfig");
        assert_eq!(asc[0] >> 3, 2, "audioObjectType AAC-LC: {asc:?}");
        assert!(!outputs.iter().any(|o| matches!(
            o,
            Output::Remux(RemuxEvent::Init { .. } | RemuxEvent::Fragment { .. })
        )));

        // Per track: the same samples as the fMP4 output holds, back to back.
        let per_track = whole_stats();
        assert_eq!(pipeline.stats().samples_out, per_track.samples_out);
        for track in [Track::Video, Track::Audio] {
            let times: Vec<_> = outputs
                .iter()
                .filter_map(|o| match o {
                    Output::Remux(RemuxEvent::Sample {
                        track: t,
                        dts_us,
                        pts_us,
                        duration_us,
                        keyframe,
                        data,
                    }) if *t == track => Some((*dts_us, *pts_us, *duration_us, *keyframe, data)),
                    _ => None,
                })
                .collect();
            assert!(times.len() >= 40, "{track}: {} samples", times.len());
            assert!(times[0].3, "{track} starts with a keyframe");
            for pair in times.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                assert!((a.0 + a.2 - b.0).abs() <= 1, "{track}: {a:?} then {b:?}");
                assert!(a.2 > 0 && b.1 >= b.0 - 1, "{track}: {b:?}");
            }
            if track == Track::Video {
                // Length-prefixed NAL units, as WebCodecs takes them with an avcC.
                let nal = &times[0].4;
                let len = u32::from_be_bytes([nal[0], nal[1], nal[2], nal[3]]) as usize;
                assert!(len + 4 <= nal.len());
            } else {
                // AAC: 1024 samples at the track's rate.
                assert!((21_000..=64_000).contains(&times[1].2), "{:?}", times[1]);
            }
        }
    }

    fn whole_stats() -> RemuxStats {
        let mut pipeline = Pipeline::new(RemuxerOptions::default(), false);
        run(&mut pipeline, &[FLV]);
        pipeline.stats()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_broken_stream_reports_once_and_then_nothing() {
        let mut pipeline = Pipeline::new(RemuxerOptions::default(), false);
        let mut outputs = Vec::new();
        let mut bytes = FLV[..2000].to_vec();
        bytes[0] = b'X';
        pipeline.feed(&bytes, &mut |o| outputs.push(o));
        assert_eq!(
            outputs,
            [Output::Broken(FlvError::BadSignature { offset: 0 })]
        );
        outputs.clear();
        pipeline.feed(&FLV[2000..], &mut |o| outputs.push(o));
        pipeline.feed(FLV, &mut |o| outputs.push(o));
        assert_eq!(outputs, []);
        assert_eq!(pipeline.stats().tags_in, 0);
    }

    #[test]
    fn a_bad_tag_mid_stream_reports_once_after_the_good_ones() {
        // The header, PreviousTagSize0, then a tag whose type byte is not 8/9/18.
        let mut bytes = FLV[..13].to_vec();
        bytes.extend_from_slice(&[0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut pipeline = Pipeline::new(RemuxerOptions::default(), false);
        let mut outputs = Vec::new();
        pipeline.feed(&bytes, &mut |o| outputs.push(o));
        pipeline.feed(&FLV[13..], &mut |o| outputs.push(o));
        assert!(matches!(outputs[0], Output::Header { .. }), "{outputs:?}");
        assert_eq!(
            outputs[1..],
            [Output::Broken(FlvError::UnknownTagType {
                offset: 13,
                tag_type: 0x07
            })]
        );
    }
}
