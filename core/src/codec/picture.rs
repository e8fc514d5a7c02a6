//! Flash's video codecs that no browser decodes, decoded here to pictures for a
//! renderer that draws them (WebCodecs' `VideoFrame`): Sorenson Spark (feature
//! `sorenson`) and Screen Video 1 and 2 (feature `screen`). One name per codec for the
//! remuxer's samples, the gateway's channel list and the player, and one decoder over
//! them, so each of those places knows "a codec decoded in the wasm" once.

#[cfg(feature = "sorenson")]
use alloc::boxed::Box;

use crate::codec::CodecError;
#[cfg(feature = "screen")]
use crate::codec::screen;
#[cfg(feature = "sorenson")]
use crate::codec::spark;
use crate::flv::VideoCodec;

/// A video codec whose pictures are decoded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureCodec {
    #[cfg(feature = "sorenson")]
    Spark,
    #[cfg(feature = "screen")]
    Screen(screen::Version),
}

/// How a picture's samples are laid out, as WebCodecs' `VideoPixelFormat` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Planes Y, U, V, the chroma a quarter of the luma.
    I420,
    /// Four bytes a pixel: blue, green, red, unused.
    Bgrx,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::I420 => "I420",
            Format::Bgrx => "BGRX",
        }
    }
}

/// A decoded picture: `coded_width` × `coded_height` samples in `format`, of which the
/// top left `width` × `height` shows.
pub struct Picture<'a> {
    pub width: u32,
    pub height: u32,
    pub coded_width: u32,
    pub coded_height: u32,
    pub format: Format,
    pub data: &'a [u8],
}

impl PictureCodec {
    /// The FLV codec's, when this build decodes its pictures.
    pub fn of(codec: VideoCodec) -> Option<PictureCodec> {
        match codec {
            #[cfg(feature = "sorenson")]
            VideoCodec::SorensonH263 => Some(PictureCodec::Spark),
            #[cfg(feature = "screen")]
            VideoCodec::Screen => Some(PictureCodec::Screen(screen::Version::V1)),
            #[cfg(feature = "screen")]
            VideoCodec::Screen2 => Some(PictureCodec::Screen(screen::Version::V2)),
            _ => None,
        }
    }

    /// Its codec string: not an RFC 6381 one (no browser decodes it), ffmpeg's name,
    /// which the player's renderer looks for (`pkg/webcodecs.js`).
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "sorenson")]
            PictureCodec::Spark => "flv1",
            #[cfg(feature = "screen")]
            PictureCodec::Screen(screen::Version::V1) => "flashsv",
            #[cfg(feature = "screen")]
            PictureCodec::Screen(screen::Version::V2) => "flashsv2",
        }
    }

    pub fn from_name(name: &str) -> Option<PictureCodec> {
        match name {
            #[cfg(feature = "sorenson")]
            "flv1" => Some(PictureCodec::Spark),
            #[cfg(feature = "screen")]
            "flashsv" => Some(PictureCodec::Screen(screen::Version::V1)),
            #[cfg(feature = "screen")]
            "flashsv2" => Some(PictureCodec::Screen(screen::Version::V2)),
            _ => None,
        }
    }

    /// The picture size a coded picture's header gives.
    pub fn size(self, data: &[u8]) -> Result<(u32, u32), CodecError> {
        match self {
            #[cfg(feature = "sorenson")]
            PictureCodec::Spark => spark::header(data).map(|h| (h.width, h.height)),
            #[cfg(feature = "screen")]
            PictureCodec::Screen(_) => screen::header(data).map(|h| (h.width, h.height)),
        }
    }
}

/// Decodes one codec's pictures one after the other.
pub enum Decoder {
    #[cfg(feature = "sorenson")]
    Spark(Box<spark::Decoder>),
    #[cfg(feature = "screen")]
    Screen(screen::Decoder),
}

impl Decoder {
    pub fn new(codec: PictureCodec) -> Decoder {
        match codec {
            #[cfg(feature = "sorenson")]
            PictureCodec::Spark => Decoder::Spark(Box::default()),
            #[cfg(feature = "screen")]
            PictureCodec::Screen(version) => Decoder::Screen(screen::Decoder::new(version)),
        }
    }

    /// One coded picture (an FLV tag's body after its video header); `keyframe`: the
    /// tag's frame type says it is one. After an error, decoding starts again at the
    /// next keyframe.
    #[cfg_attr(not(feature = "screen"), allow(unused_variables))]
    pub fn decode(&mut self, data: &[u8], keyframe: bool) -> Result<Picture<'_>, CodecError> {
        match self {
            #[cfg(feature = "sorenson")]
            Decoder::Spark(d) => d.decode(data).map(|p| Picture {
                width: p.width,
                height: p.height,
                coded_width: p.coded_width,
                coded_height: p.coded_height,
                format: Format::I420,
                data: p.data,
            }),
            #[cfg(feature = "screen")]
            Decoder::Screen(d) => d.decode(data, keyframe).map(|p| Picture {
                width: p.width,
                height: p.height,
                coded_width: p.width,
                coded_height: p.height,
                format: Format::Bgrx,
                data: p.data,
            }),
        }
    }
}
