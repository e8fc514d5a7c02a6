//! `Remuxer` for JS: FLV bytes in (any split), remuxer events out as plain
//! objects. Usable wherever wasm runs: a page, a Web Worker, Node.

use alloc::borrow::ToOwned;
use alloc::vec::Vec;
use flashless_core::fmp4::{Fragmenting, Layout, RemuxerOptions};
use flashless_core::message::describe;
use flashless_core::pipeline::{Output, Pipeline};
use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::js::{self, set};

/// FLV → fragmented MP4.
///
/// `new Remuxer({ layout: 'perTrack' | 'muxed' | 'samples', fragmentMs, fragmentPerPush, tagsOnly })`:
/// every option may be left out (per-track output, a fragment per frame, a stream
/// that starts with the FLV file header). `push(bytes)` returns the events it caused.
/// `samples`: no MP4, a `config` per track (`codec`, `description`) and a `sample`
/// per coded frame (`data`, `timestamp`/`dts`/`duration` in µs, `keyframe`), as
/// WebCodecs' decoders take them.
#[wasm_bindgen]
pub struct Remuxer {
    pipeline: Pipeline,
}

#[wasm_bindgen]
impl Remuxer {
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Remuxer {
        let layout = match js::get(&options, "layout").as_string().as_deref() {
            Some("muxed") => Layout::Muxed,
            Some("samples") => Layout::Samples,
            _ => Layout::PerTrack,
        };
        let per_push = js::get(&options, "fragmentPerPush").as_bool() == Some(true);
        let fragment = match js::get(&options, "fragmentMs").as_f64() {
            _ if per_push => Fragmenting::OnCut,
            Some(ms) if ms >= 1.0 => Fragmenting::Duration(ms.min(f64::from(u32::MAX)) as u32),
            _ => Fragmenting::EveryFrame,
        };
        let tags_only = js::get(&options, "tagsOnly").as_bool() == Some(true);
        Remuxer {
            pipeline: Pipeline::new(
                RemuxerOptions {
                    layout,
                    fragment,
                    ..RemuxerOptions::default()
                },
                tags_only,
            ),
        }
    }

    /// Feeds FLV bytes; returns the events (`init`, `fragment`, `metadata`, …) they caused.
    pub fn push(&mut self, bytes: &[u8]) -> Array {
        let mut outputs = Vec::new();
        self.pipeline.feed(bytes, &mut |o| outputs.push(o));
        events(&outputs)
    }

    /// End of stream: what is still held goes out.
    pub fn flush(&mut self) -> Array {
        let mut outputs = Vec::new();
        self.pipeline.flush(&mut |o| outputs.push(o));
        events(&outputs)
    }

    /// `{ tagsIn, bytesIn, fragmentsOut, bytesOut, samplesOut, dropped, gapsFilled, gapMsFilled }`.
    pub fn stats(&self) -> Object {
        let s = self.pipeline.stats();
        let o = Object::new();
        set(&o, "tagsIn", s.tags_in as f64);
        set(&o, "bytesIn", s.bytes_in as f64);
        set(&o, "fragmentsOut", s.fragments_out as f64);
        set(&o, "bytesOut", s.bytes_out as f64);
        set(&o, "samplesOut", s.samples_out as f64);
        set(&o, "dropped", s.dropped as f64);
        set(&o, "gapsFilled", s.gaps_filled as f64);
        set(&o, "gapMsFilled", s.gap_ms_filled as f64);
        o
    }
}

/// The events of one push or flush. Their `data` are views into one buffer: making a
/// JS buffer costs far more than filling it (a push at 64 KiB made about 60 of them,
/// the most of its time), so one is made for all.
pub(crate) fn events(outputs: &[Output]) -> Array {
    fn payload(o: &Output) -> Option<&[u8]> {
        match o {
            Output::Remux(ev) => ev.payload(),
            _ => None,
        }
    }
    let mut all = Vec::with_capacity(outputs.iter().filter_map(payload).map(<[u8]>::len).sum());
    for p in outputs.iter().filter_map(payload) {
        all.extend_from_slice(p);
    }
    let buffer = Uint8Array::from(&all[..]);
    let mut at = 0;
    outputs
        .iter()
        .map(|o| {
            let data = payload(o).map_or(JsValue::UNDEFINED, |p| {
                at += p.len();
                buffer.subarray((at - p.len()) as u32, at as u32).into()
            });
            output(o, &data)
        })
        .collect()
}

fn output(o: &Output, data: &JsValue) -> JsValue {
    match o {
        Output::Remux(ev) => js::event(ev, data).into(),
        Output::Header {
            has_audio,
            has_video,
        } => {
            let obj = Object::new();
            set(&obj, "type", "header");
            set(&obj, "hasAudio", *has_audio);
            set(&obj, "hasVideo", *has_video);
            obj.into()
        }
        Output::Script { timestamp, values } => {
            let obj = Object::new();
            set(&obj, "type", "scriptdata");
            set(&obj, "timestamp", *timestamp);
            set(
                &obj,
                "values",
                values.iter().map(js::amf).collect::<Array>(),
            );
            obj.into()
        }
        Output::Broken(message) => {
            let obj = Object::new();
            set(&obj, "type", "error");
            set(&obj, "track", JsValue::NULL);
            set(
                &obj,
                "message",
                "FLV stream: ".to_owned() + &describe("not FLV", &message),
            );
            set(&obj, "fatal", true);
            obj.into()
        }
    }
}
