//! Legacy FLV audio that Media Source Extensions cannot play, made playable:
//! G.711 A-law and µ-law (sound formats 7, 8), linear PCM (0, 3), Flash ADPCM
//! (1), Nellymoser (4, 5, 6: Flash Player's microphone) and Speex (11, its voice
//! codec) are decoded to PCM
//! here and re-encoded as FLAC frames, lossless, which browsers play in fMP4
//! (`fLaC` + `dfLa`).
//!
//! [`Legacy::to_flac`] turns one tag into a FLAC stream header and frames of at
//! most [`MAX_FRAME_MS`]; the remuxer hands them on as an E-RTMP FLAC sequence
//! start and coded frames,
//! so a change of rate, channels or sample size is a new header and so a new
//! init, and gap filling uses FLAC's silent frames. The whole module is the
//! `legacy-audio` feature.

pub mod adpcm;
pub mod g711;
pub mod nellymoser;
pub mod pcm;
pub mod speex;

use alloc::vec::Vec;
use bytes::Bytes;

use super::CodecError;
use super::flac::encoder::{MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, StreamParams};
use crate::flv::{AudioCodec, AudioTag};

/// The longest FLAC frame made, in ms. A Flash ADPCM tag holds 4096 samples (186 ms
/// at 22 kHz): with its sound in frames that long, Firefox catching up at a
/// `playbackRate` over 1 was seen dropping most pictures, in some runs and not in
/// others (`docs/reliability.md`); with frames as long as AAC's (46 ms at 22 kHz), in
/// none. Shorter frames cost a few bytes a second.
pub const MAX_FRAME_MS: u32 = 40;

/// One legacy tag as FLAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flac {
    /// "fLaC" and STREAMINFO: the same bytes for every tag of one configuration.
    pub header: Bytes,
    /// The tag's samples in frames of equal length (the last may be shorter), at
    /// most [`MAX_FRAME_MS`] each, with where each starts in ms from the tag's start.
    pub frames: Vec<(u32, Bytes)>,
    pub params: StreamParams,
}

/// Whether this codec is one [`Legacy::to_flac`] converts.
pub fn converts(codec: AudioCodec) -> bool {
    matches!(
        codec,
        AudioCodec::LinearPcmPlatform
            | AudioCodec::LinearPcmLe
            | AudioCodec::Adpcm
            | AudioCodec::G711ALaw
            | AudioCodec::G711MuLaw
            | AudioCodec::Nellymoser
            | AudioCodec::Nellymoser8kMono
            | AudioCodec::Nellymoser16kMono
            | AudioCodec::Speex
    )
}

/// The conversion of one track, with what a codec carries from tag to tag
/// (Nellymoser's overlap, Speex's filters and excitation), made at its first tag.
#[derive(Default)]
pub struct Legacy {
    nellymoser: Option<(u32, nellymoser::Decoder)>,
    speex: Option<alloc::boxed::Box<speex::Decoder>>,
}

impl core::fmt::Debug for Legacy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let rate = self.nellymoser.as_ref().map(|(rate, _)| rate);
        f.debug_struct("Legacy")
            .field("nellymoser", &rate)
            .field("speex", &self.speex.is_some())
            .finish()
    }
}

impl Legacy {
    /// The tag's audio as FLAC; `None` when its codec is not one of these.
    ///
    /// The legacy header gives the format: the rate ([`AudioTag::legacy_rate`]),
    /// SoundType mono or stereo (Nellymoser is mono), SoundSize 8 or 16 bits for
    /// PCM (the others decode to 16).
    pub fn to_flac(&mut self, tag: &AudioTag) -> Option<Result<Flac, CodecError>> {
        if !converts(tag.codec) {
            return None;
        }
        Some(self.convert(tag))
    }

    fn convert(&mut self, tag: &AudioTag) -> Result<Flac, CodecError> {
        let rate = tag.legacy_rate();
        let (samples, params) = match tag.codec {
            AudioCodec::Nellymoser
            | AudioCodec::Nellymoser8kMono
            | AudioCodec::Nellymoser16kMono => {
                // A new rate is a new stream: nothing of the last one overlaps it.
                let decoder = match &mut self.nellymoser {
                    Some((r, d)) if *r == rate => d,
                    slot => &mut slot.insert((rate, nellymoser::Decoder::new())).1,
                };
                (
                    decoder.decode(&tag.body)?,
                    StreamParams {
                        sample_rate: rate,
                        channels: 1,
                        bits_per_sample: 16,
                    },
                )
            }
            AudioCodec::Speex => {
                let decoder = self.speex.get_or_insert_default();
                (
                    decoder.decode(&tag.body)?,
                    StreamParams {
                        sample_rate: rate,
                        channels: 1,
                        bits_per_sample: 16,
                    },
                )
            }
            _ => stateless(tag, rate)?,
        };
        flac(&samples, params)
    }
}

/// The codecs with no state from one tag to the next.
fn stateless(tag: &AudioTag, rate: u32) -> Result<(Vec<i32>, StreamParams), CodecError> {
    let channels = if tag.stereo { 2 } else { 1 };
    let body = &tag.body[..];
    let g711 = |decode: fn(u8) -> i16| -> Result<Vec<i32>, CodecError> {
        let whole = body.len() - body.len() % channels;
        if whole == 0 {
            return Err(CodecError::Truncated {
                what: "G.711 audio",
                at: body.len(),
            });
        }
        Ok(body[..whole].iter().map(|&b| decode(b).into()).collect())
    };
    let (samples, sample_rate, bits_per_sample) = match tag.codec {
        AudioCodec::G711ALaw => (g711(g711::alaw)?, rate, 16),
        AudioCodec::G711MuLaw => (g711(g711::mulaw)?, rate, 16),
        AudioCodec::Adpcm => (adpcm::decode(body, channels)?, rate, 16),
        _ => {
            let bits16 = tag.sound_size_16bit;
            let bits = if bits16 { 16 } else { 8 };
            (pcm::decode(body, bits16, channels)?, rate, bits)
        }
    };
    let params = StreamParams {
        sample_rate,
        channels: channels as u8,
        bits_per_sample,
    };
    Ok((samples, params))
}

fn flac(samples: &[i32], params: StreamParams) -> Result<Flac, CodecError> {
    let channels = usize::from(params.channels.max(1));
    let per_channel = samples.len() / channels;
    let invalid = || CodecError::Invalid {
        what: "legacy audio tag",
        // At most `flac::encoder::MAX_BLOCK_SIZE`, what one FLAC frame holds: more
        // than a second of sound in one tag is no stream's.
        field: "samples per channel (at most 65535, a FLAC frame)",
        value: per_channel as u64,
        at: 0,
    };
    if per_channel == 0 || per_channel > MAX_BLOCK_SIZE || samples.len() % channels != 0 {
        return Err(invalid());
    }
    let rate = params.sample_rate.max(1);
    // Under `u16::MAX` at any rate FLAC has (20 bits).
    let most = (rate as usize * MAX_FRAME_MS as usize / 1000).max(usize::from(MIN_BLOCK_SIZE));
    let block = per_channel.div_ceil(per_channel.div_ceil(most));
    let frames = samples
        .chunks(block * channels)
        .enumerate()
        .map(|(i, chunk)| {
            let at = (i * block) as u64 * 1000 / u64::from(rate);
            let frame = params.frame(chunk)?;
            Some((at as u32, Bytes::from(frame)))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(invalid)?;
    Ok(Flac {
        // Said in STREAMINFO, so that silence filling a hole comes in frames as short.
        header: Bytes::from(params.stream_header(most as u16)),
        frames,
        params,
    })
}

#[cfg(test)]
mod tests;
