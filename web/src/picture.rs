//! `PictureDecoder` for JS: the pictures of Flash's codecs that no browser decodes
//! (Sorenson Spark, Flash Player's camera; Screen Video 1 and 2, its screen sharing),
//! decoded here for the WebCodecs renderer (`pkg/webcodecs.js`), which draws each as a
//! `VideoFrame` as it draws the ones `VideoDecoder` makes. A module of its own
//! (feature `pictures`), which the renderer loads only for such a stream.

use flashless_core::codec::picture::{Decoder, PictureCodec};
use flashless_core::message::describe;
use js_sys::{Object, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::js::set;

#[wasm_bindgen]
pub struct PictureDecoder {
    decoder: Decoder,
}

#[wasm_bindgen]
impl PictureDecoder {
    /// A decoder of `codec`, the codec string the remuxer's samples name it by
    /// (`flv1`, `flashsv`, `flashsv2`); throws for another.
    #[wasm_bindgen(constructor)]
    pub fn new(codec: &str) -> Result<PictureDecoder, JsError> {
        let codec = PictureCodec::from_name(codec)
            .ok_or_else(|| JsError::new("no picture decoder for this codec"))?;
        Ok(PictureDecoder {
            decoder: Decoder::new(codec),
        })
    }

    /// One coded picture (`keyframe`: its chunk is one): `{ width, height, codedWidth,
    /// codedHeight, format, data }`,
    /// `data` its samples in `format` (`I420`: planes Y, U, V; `BGRX`: four bytes a
    /// pixel) at the coded size, of which the top left `width` × `height` shows; throws
    /// an `Error` naming what was wrong. A picture between keyframes needs the ones
    /// before it; after an error, decoding starts again at a keyframe.
    pub fn decode(&mut self, data: &[u8], keyframe: bool) -> Result<Object, JsError> {
        let picture = self
            .decoder
            .decode(data, keyframe)
            .map_err(|e| JsError::new(&describe("bad picture", &e)))?;
        let o = Object::new();
        set(&o, "width", picture.width);
        set(&o, "height", picture.height);
        set(&o, "codedWidth", picture.coded_width);
        set(&o, "codedHeight", picture.coded_height);
        set(&o, "format", picture.format.name());
        set(&o, "data", Uint8Array::from(picture.data));
        Ok(o)
    }
}
