//! The corpus: each case names its sources (ffmpeg encodes) and the rewrite of their tags.

use flashless_core::flv::{Tag, TagType};

use super::rules::{
    Bunches, Clean, Duplicates, Holes, Jump, JumpKind, LateStart, MetadataEvery, NegativeCts,
    Offset, Out, Rule, SoundLags, Switch,
};
use super::source::Spec;

/// One nasty stream.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The case's name: the channel it is published on, the argument of `mangle`.
    pub name: &'static str,
    /// What a viewer's player faces, for the reports.
    pub what: &'static str,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Clean(Spec),
    AudioHoles { len_ms: u32, every_ms: u32 },
    VideoHoles { len_ms: u32, every_ms: u32 },
    Bunches { len_ms: u32, every_ms: u32 },
    LateAudio,
    AudioThenVideo,
    SoundLags(u32),
    VideoOnly,
    Restart { reconnect: bool },
    HourForward,
    StepBack,
    Offset(u32),
    Switch(Spec),
    NegativeCts,
    Duplicates,
    Metadata,
}

const fn case(name: &'static str, what: &'static str, kind: Kind) -> Case {
    Case { name, what, kind }
}

const BASE: Spec = Spec::BASE;

/// Every case, in the order the tests and the benchmark play them.
#[rustfmt::skip]
pub const CASES: &[Case] = &[
    case("clean", "the clean stream, for reference", Kind::Clean(BASE)),
    case("audio-hole-50ms", "50 ms of audio missing every 5 s", Kind::AudioHoles { len_ms: 50, every_ms: 5000 }),
    case("audio-hole-400ms", "400 ms of audio missing every 5 s", Kind::AudioHoles { len_ms: 400, every_ms: 5000 }),
    case("audio-hole-3s", "3 s of audio missing every 8 s", Kind::AudioHoles { len_ms: 3000, every_ms: 8000 }),
    case("video-hole-1s", "1 s of video missing every 5 s", Kind::VideoHoles { len_ms: 1000, every_ms: 5000 }),
    case("video-hole-5s", "5 s of video missing every 12 s (the sound goes on)", Kind::VideoHoles { len_ms: 5000, every_ms: 12_000 }),
    case("stall-2s-burst", "the publisher's uplink stalls 2 s every 10 s, then sends what it held at once", Kind::Bunches { len_ms: 2000, every_ms: 10_000 }),
    case("bunched-500ms", "the stream arrives in bunches, every 500 ms (a congested uplink)", Kind::Bunches { len_ms: 500, every_ms: 500 }),
    case("audio-late-2s", "audio starts 2 s after video", Kind::LateAudio),
    case("audio-then-video", "audio alone for 3 s, then video appears", Kind::AudioThenVideo),
    case("audio-lags-300ms", "the sound 300 ms behind its pictures throughout", Kind::SoundLags(300)),
    case("video-only", "no audio track at all", Kind::VideoOnly),
    case("ts-restart", "timestamps back to 0 every 8 s, headers resent (publisher restart)", Kind::Restart { reconnect: false }),
    case("ts-restart-reconnect", "the publisher reconnects every 8 s, timestamps from 0", Kind::Restart { reconnect: true }),
    case("ts-hour-forward", "timestamps jump forward by an hour after 8 s", Kind::HourForward),
    case("ts-step-back", "timestamps step 5 s back every 8 s, no headers resent (a clock set back)", Kind::StepBack),
    case("ts-wrap-32bit", "timestamps start 5 s before 2^32 ms and wrap", Kind::Offset(u32::MAX - 4999)),
    case("ts-extended-24bit", "timestamps cross 0xFFFFFF ms (RTMP's extended timestamp) after 5 s", Kind::Offset(0xFF_FFFF - 5000)),
    case("resolution-change", "320x180 and 480x270 alternate every 8 s (new SPS)", Kind::Switch(Spec { width: 480, height: 270, ..BASE })),
    case("aac-rate-change", "AAC at 44.1 and 48 kHz alternate every 8 s", Kind::Switch(Spec { sample_rate: Some(48_000), ..BASE })),
    case("bframes-negative-cts", "B-frames, composition offsets shifted 120 ms negative", Kind::NegativeCts),
    case("duplicate-timestamps", "every 3rd audio tag and 4th inter frame repeat the previous timestamp", Kind::Duplicates),
    case("gop-10s", "a keyframe every 10 s", Kind::Clean(Spec { gop: 250, ..BASE })),
    case("fps-1", "1 frame per second, a keyframe every 2 s", Kind::Clean(Spec { fps: 1, gop: 2, ..BASE })),
    case("fps-60", "60 frames per second", Kind::Clean(Spec { fps: 60, gop: 60, ..BASE })),
    case("metadata-every-1s", "onMetaData resent every second", Kind::Metadata),
];

impl Case {
    pub fn find(name: &str) -> Option<&'static Case> {
        CASES.iter().find(|c| c.name == name)
    }

    /// The ffmpeg encodes the case reads: one, or two for a switch.
    pub fn sources(&self) -> Vec<Spec> {
        match self.kind {
            Kind::Clean(spec) => vec![spec],
            Kind::VideoOnly => vec![Spec {
                sample_rate: None,
                ..BASE
            }],
            Kind::NegativeCts => vec![Spec {
                bframes: true,
                ..BASE
            }],
            Kind::Switch(other) => vec![BASE, other],
            _ => vec![BASE],
        }
    }

    /// A fresh rewrite of the case's tags.
    pub fn rewrite(&self) -> Rewrite {
        let rule: Box<dyn Rule> = match self.kind {
            Kind::Clean(_) | Kind::VideoOnly => Box::new(Clean),
            Kind::AudioHoles { len_ms, every_ms } => {
                Box::new(Holes::new(TagType::Audio, every_ms, 2000, len_ms))
            }
            Kind::VideoHoles { len_ms, every_ms } => {
                Box::new(Holes::new(TagType::Video, every_ms, 2000, len_ms))
            }
            Kind::Bunches { len_ms, every_ms } => {
                let phase_ms = if len_ms < every_ms { 2000 } else { 0 };
                Box::new(Bunches::new(every_ms, phase_ms, len_ms))
            }
            Kind::LateAudio => Box::new(LateStart::new(TagType::Audio, 2000)),
            Kind::AudioThenVideo => Box::new(LateStart::new(TagType::Video, 3000)),
            Kind::SoundLags(by_ms) => Box::new(SoundLags { by_ms }),
            Kind::Restart { reconnect } => {
                Box::new(Jump::new(8000, false, JumpKind::ToZero { reconnect }))
            }
            Kind::HourForward => Box::new(Jump::new(
                8000,
                true,
                JumpKind::Forward { by_ms: 3_600_000 },
            )),
            Kind::StepBack => Box::new(Jump::new(8000, false, JumpKind::Back { by_ms: 5000 })),
            Kind::Offset(start_ms) => Box::new(Offset { start_ms }),
            Kind::Switch(_) => return Rewrite::Switch(Box::new(Switch::new(8000))),
            Kind::NegativeCts => Box::new(NegativeCts { by_ms: 120 }),
            Kind::Duplicates => Box::new(Duplicates::new(3, 4)),
            Kind::Metadata => Box::new(MetadataEvery::new(1000)),
        };
        Rewrite::Rule(rule)
    }
}

/// A case's rewrite: a rule over one source, or a switch between two.
pub enum Rewrite {
    Rule(Box<dyn Rule>),
    Switch(Box<Switch>),
}

impl Rewrite {
    pub fn apply(&mut self, source: usize, tag: Tag, out: &mut Vec<Out>) {
        match self {
            Rewrite::Rule(rule) => rule.apply(tag, out),
            Rewrite::Switch(switch) => switch.apply(source, tag, out),
        }
    }
}
