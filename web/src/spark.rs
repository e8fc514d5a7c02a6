//! `SparkDecoder` for JS: Sorenson Spark pictures (Flash Player's camera), which no
//! browser decodes, decoded here for the WebCodecs renderer (`pkg/webcodecs.js`),
//! which draws each as a `VideoFrame` as it draws the ones `VideoDecoder` makes. The
//! full build only (`full`).

use flashless_core::codec::spark::Decoder;
use flashless_core::message::describe;
use js_sys::{Object, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::js::set;

#[wasm_bindgen]
pub struct SparkDecoder {
    decoder: Decoder,
}

impl Default for SparkDecoder {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl SparkDecoder {
    #[wasm_bindgen(constructor)]
    pub fn new() -> SparkDecoder {
        SparkDecoder {
            decoder: Decoder::new(),
        }
    }

    /// One coded picture: `{ width, height, codedWidth, codedHeight, data }`, `data` its
    /// planes Y, U, V of whole macroblocks (I420 at the coded size, of which the top left
    /// `width` × `height` shows); throws an `Error` naming what was wrong. Inter pictures
    /// need the pictures before them; after an error, decoding starts at an I picture.
    pub fn decode(&mut self, data: &[u8]) -> Result<Object, JsError> {
        let picture = self
            .decoder
            .decode(data)
            .map_err(|e| JsError::new(&describe("bad Sorenson Spark picture", &e)))?;
        let o = Object::new();
        set(&o, "width", picture.width);
        set(&o, "height", picture.height);
        set(&o, "codedWidth", picture.coded_width);
        set(&o, "codedHeight", picture.coded_height);
        set(&o, "data", Uint8Array::from(picture.data));
        Ok(o)
    }
}
