//! Small conversions at the JS boundary: plain objects, AMF values, remuxer events.

use alloc::string::String;
use alloc::vec::Vec;
use flashless_core::amf::Value;
use flashless_core::fmp4::{RemuxEvent, Track};
use js_sys::{Array, JsString, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsThreadLocal, JsValue};

/// Sets `key` on a plain object; setting a property on a fresh object cannot fail.
pub fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// Calls `f` once, with the value `promise` fulfils with or the reason it rejects
/// with (the caller tells them apart: each promise settled here fulfils with a kind
/// of value its rejections never are). One function for both outcomes, so that it is
/// called exactly once, which frees it: promise callbacks instead of `async` code,
/// whose executor (`wasm-bindgen-futures`) was 3 KB of the wasm.
pub fn settle(promise: &Promise, f: impl FnOnce(JsValue) + 'static) {
    let f = Closure::once_into_js(f);
    promise.unchecked_ref::<Thenable>().then(&f, &f);
}

#[wasm_bindgen]
extern "C" {
    /// A promise whose `then` takes plain functions (js-sys' wants closures).
    type Thenable;

    #[wasm_bindgen(method)]
    fn then(this: &Thenable, on_fulfilled: &JsValue, on_rejected: &JsValue) -> JsValue;
}

/// Whether the browser's user agent holds `name` (e.g. `b"Chrome/"`), for what an
/// engine does that no feature test can tell. Bytewise: `str::contains` would link
/// the two-way searcher (kilobytes).
pub fn user_agent_has(name: &[u8]) -> bool {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into());
    navigator
        .and_then(|n| Reflect::get(&n, &"userAgent".into()))
        .ok()
        .and_then(|ua| ua.as_string())
        .is_some_and(|ua| ua.as_bytes().windows(name.len()).any(|w| w == name))
}

/// `TimeRanges` as `(start, end)` pairs, in order.
pub fn ranges(r: &web_sys::TimeRanges) -> Vec<(f64, f64)> {
    (0..r.length())
        .filter_map(|i| Some((r.start(i).ok()?, r.end(i).ok()?)))
        .collect()
}

/// A property of a JS value, `undefined` when missing or not an object.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Sets `key` on a plain object, both already JS values.
fn put(obj: &Object, key: &JsValue, value: &JsValue) {
    let _ = Reflect::set(obj, key, value);
}

// The names of a fragment event, as JS strings made once by the glue: a push makes a
// fragment event per frame, and making each name anew from UTF-8 took about a fifth of
// it. Static strings are fixed slots of the externref table: cloning one is free.
// (rustfmt would drop the values, which are not Rust syntax in an extern block.)
#[rustfmt::skip]
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(thread_local_v2, static_string)]
    static TYPE: JsString = "type";
    #[wasm_bindgen(thread_local_v2, static_string)]
    static FRAGMENT: JsString = "fragment";
    #[wasm_bindgen(thread_local_v2, static_string)]
    static TRACK: JsString = "track";
    #[wasm_bindgen(thread_local_v2, static_string)]
    static DATA: JsString = "data";
    #[wasm_bindgen(thread_local_v2, static_string)]
    static START_MS: JsString = "startMs";
    #[wasm_bindgen(thread_local_v2, static_string)]
    static END_MS: JsString = "endMs";
    #[wasm_bindgen(thread_local_v2, static_string)]
    static KEYFRAME: JsString = "keyframe";
    #[wasm_bindgen(thread_local_v2, static_string)]
    static SAMPLES: JsString = "samples";
    #[wasm_bindgen(thread_local_v2, static_string)]
    static VIDEO: JsString = "video";
    #[wasm_bindgen(thread_local_v2, static_string)]
    static AUDIO: JsString = "audio";
}

/// One of the static strings above as a `JsValue`.
fn name(s: &'static JsThreadLocal<JsString>) -> JsValue {
    s.with(|s| s.clone().into())
}

pub fn track_name(track: Option<Track>) -> JsValue {
    match track {
        Some(Track::Video) => JsValue::from_str("video"),
        Some(Track::Audio) => JsValue::from_str("audio"),
        None => JsValue::NULL,
    }
}

/// An `Error`'s message, a DOMException's name and message, or the value as text.
pub fn describe(err: &JsValue) -> String {
    let name = get(err, "name").as_string();
    let message = get(err, "message").as_string();
    match (name, message) {
        (Some(n), Some(m)) => n + ": " + &m,
        (None, Some(m)) => m,
        _ => err.as_string().unwrap_or_else(|| "unknown error".into()),
    }
}

/// An AMF value as the JS value it stands for. Depth is bounded by the AMF decoder.
pub fn amf(value: &Value) -> JsValue {
    match value {
        Value::Number(n) => JsValue::from_f64(*n),
        Value::Integer(n) => JsValue::from_f64(f64::from(*n)),
        Value::Date(ms) => JsValue::from_f64(*ms),
        Value::Boolean(b) => JsValue::from_bool(*b),
        Value::String(s) | Value::XmlDocument(s) => JsValue::from_str(s),
        Value::Null => JsValue::NULL,
        Value::Undefined => JsValue::UNDEFINED,
        Value::Object(o) => properties(&o.properties),
        Value::EcmaArray(props) => properties(props),
        Value::StrictArray(items) => items.iter().map(amf).collect::<Array>().into(),
        Value::ByteArray(b) => Uint8Array::from(&b[..]).into(),
    }
}

fn properties(props: &[(String, Value)]) -> JsValue {
    let obj = Object::new();
    for (k, v) in props {
        set(&obj, k, amf(v));
    }
    obj.into()
}

/// A remuxer event as `{ type, … }` (the shapes are in `pkg/flashless.d.ts`), with
/// `data` the bytes of an `init` or `fragment` already in JS ([`RemuxEvent::payload`]).
pub fn event(ev: &RemuxEvent, data: &JsValue) -> Object {
    let o = Object::new();
    match ev {
        RemuxEvent::Init {
            track, mime, info, ..
        } => {
            set(&o, "type", "init");
            set(&o, "track", track_name(*track));
            set(&o, "mime", mime.as_str());
            set(&o, "codec", info.codec.as_str());
            set(&o, "data", data);
            set(&o, "width", info.width);
            set(&o, "height", info.height);
            set(&o, "sampleRate", info.sample_rate);
            set(&o, "channels", info.channels);
            set(&o, "timescale", info.timescale);
        }
        RemuxEvent::Fragment {
            track,
            start_ms,
            end_ms,
            keyframe,
            samples,
            ..
        } => {
            let track = match track {
                Some(Track::Video) => name(&VIDEO),
                Some(Track::Audio) => name(&AUDIO),
                None => JsValue::NULL,
            };
            put(&o, &name(&TYPE), &name(&FRAGMENT));
            put(&o, &name(&TRACK), &track);
            put(&o, &name(&DATA), data);
            put(&o, &name(&START_MS), &JsValue::from_f64(*start_ms));
            put(&o, &name(&END_MS), &JsValue::from_f64(*end_ms));
            put(&o, &name(&KEYFRAME), &JsValue::from_bool(*keyframe));
            put(&o, &name(&SAMPLES), &JsValue::from(*samples));
        }
        RemuxEvent::Config { track, info, .. } => {
            set(&o, "type", "config");
            set(&o, "track", track_name(Some(*track)));
            set(&o, "codec", info.codec.as_str());
            set(&o, "description", data);
            set(&o, "width", info.width);
            set(&o, "height", info.height);
            set(&o, "sampleRate", info.sample_rate);
            set(&o, "channels", info.channels);
        }
        RemuxEvent::Sample {
            track,
            dts_us,
            pts_us,
            duration_us,
            keyframe,
            ..
        } => {
            set(&o, "type", "sample");
            set(&o, "track", track_name(Some(*track)));
            set(&o, "data", data);
            set(&o, "dts", *dts_us as f64);
            set(&o, "timestamp", *pts_us as f64);
            set(&o, "duration", *duration_us as f64);
            set(&o, "keyframe", *keyframe);
        }
        RemuxEvent::Discontinuity {
            track,
            from_ms,
            to_ms,
        } => {
            set(&o, "type", "discontinuity");
            set(&o, "track", track_name(Some(*track)));
            set(&o, "fromMs", *from_ms as f64);
            set(&o, "toMs", *to_ms as f64);
        }
        RemuxEvent::Metadata(v) => {
            set(&o, "type", "metadata");
            set(&o, "value", amf(v));
        }
        RemuxEvent::Unsupported { track, codec, .. } => {
            set(&o, "type", "unsupported");
            set(&o, "track", track_name(Some(*track)));
            set(&o, "codec", codec.as_str());
        }
        RemuxEvent::Error { track, message } => {
            set(&o, "type", "error");
            set(&o, "track", track_name(*track));
            set(&o, "message", message.as_str());
        }
    }
    o
}
