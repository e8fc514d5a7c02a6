//! The initialization segment: `ftyp` and `moov` (ISO/IEC 14496-12 §4.3, §8.2–8.8),
//! and the sample-entry skeletons that each codec in `codecs` fills in.

use alloc::vec::Vec;
use bytes::Bytes;

use super::boxes::{BoxWriter, UNITY_MATRIX};
use super::{Track, TrackInfo};
use crate::codec::{SkipPictures, length_prefixed};

/// Movie timescale for `mvhd`; durations there are 0 (fragmented, §8.8.1), so the
/// value only has to be valid.
const MOVIE_TIMESCALE: u32 = 1000;

/// Everything the init segment and the fragments need to know about one track's
/// current codec configuration. Two configurations are "the same" (no new init)
/// when their sample entries and timescales are identical.
#[derive(Debug, Clone)]
pub(crate) struct TrackConfig {
    pub(crate) info: TrackInfo,
    /// `mdhd` timescale: 1000 for video (FLV's milliseconds), the sample rate for audio.
    pub(crate) timescale: u32,
    /// The complete sample entry box (`avc1`, `mp4a`, `Opus`…) for `stsd`.
    pub(crate) sample_entry: Vec<u8>,
    /// How a coded frame's duration is known.
    pub(crate) duration: FrameDuration,
    /// How a coded frame becomes an MP4 sample.
    pub(crate) payload: Payload,
    /// Coded frames of silence that fill holes in an audio track, longest first;
    /// empty when the codec has none (video; see `codec::silence`).
    pub(crate) silence: Vec<SilentFrame>,
    /// Pictures that repeat the last one, for video that stalls (`hold.rs`); `None`
    /// when the codec has none (all but H.264).
    pub(crate) repeat: Option<SkipPictures>,
}

/// A coded frame of silence and its duration in the track's timescale.
#[derive(Debug, Clone)]
pub(crate) struct SilentFrame {
    pub(crate) data: Bytes,
    pub(crate) duration: u32,
}

impl TrackConfig {
    pub(crate) fn with_silence(mut self, silence: Vec<SilentFrame>) -> Self {
        self.silence = silence;
        self
    }
}

impl PartialEq for TrackConfig {
    fn eq(&self, other: &Self) -> bool {
        self.sample_entry == other.sample_entry
            && self.timescale == other.timescale
            && self.info == other.info
    }
}

/// Where a sample's duration comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FrameDuration {
    /// From the FLV timestamps (video; audio without a frame-size rule).
    Timestamps,
    /// A fixed number of samples per frame (AAC: 1024, or 2048 with SBR at the output rate).
    Fixed(u32),
    /// Read from each frame's own header (MP3, Opus, FLAC).
    PerFrame(fn(&[u8]) -> Option<u32>),
}

/// How an FLV coded-frame body is turned into an MP4 sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Payload {
    /// Copied as is.
    Plain,
    /// Length-prefixed NAL units (14496-15 §5.3.2, §8.3.2), the same framing in FLV
    /// and MP4; checked so a bad length is reported instead of passed to the decoder.
    Nal { length_size: u8 },
    /// AV1 low-overhead OBUs; a leading temporal delimiter is sliced off
    /// (AV1-ISOBMFF §2.4: temporal delimiters should not be in samples).
    #[cfg(feature = "av1")]
    Av1,
}

impl Payload {
    /// The MP4 sample for an FLV coded-frame body (a zero-copy slice of it).
    pub(crate) fn sample(self, body: Bytes) -> Result<Bytes, &'static str> {
        match self {
            Payload::Plain => Ok(body),
            Payload::Nal { length_size } => {
                for nal in length_prefixed(&body, usize::from(length_size)) {
                    nal?;
                }
                Ok(body)
            }
            #[cfg(feature = "av1")]
            Payload::Av1 => {
                // A temporal delimiter OBU is header 0x12 and size 0x00 (AV1 §5.3, §5.6).
                if body.starts_with(&[0x12, 0x00]) {
                    Ok(body.slice(2..))
                } else {
                    Ok(body)
                }
            }
        }
    }
}

pub(crate) fn track_id(track: Track) -> u32 {
    match track {
        Track::Video => 1,
        Track::Audio => 2,
    }
}

/// `ftyp` + `moov` for the given tracks, in order.
pub(crate) fn init_segment(tracks: &[(Track, &TrackConfig)]) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(1024);
    // §4.3: iso6 covers tfdt/trun version 1 and signed composition offsets.
    w.open(b"ftyp", |w| {
        w.bytes(b"isom");
        w.u32(1);
        for brand in [b"isom", b"iso6", b"mp41"] {
            w.bytes(brand);
        }
    });
    w.open(b"moov", |w| {
        mvhd(w);
        for (track, config) in tracks {
            trak(w, *track, config);
        }
        w.open(b"mvex", |w| {
            for (track, _) in tracks {
                // §8.8.3 trex: defaults are overridden per sample in every trun.
                w.full(b"trex", 0, 0, |w| {
                    w.u32(track_id(*track));
                    w.u32(1); // default_sample_description_index
                    w.u32(0);
                    w.u32(0);
                    w.u32(0);
                });
            }
        });
    });
    w.into_vec()
}

/// §8.2.2 mvhd, version 0, duration 0 (unknown: the movie is fragmented).
fn mvhd(w: &mut BoxWriter) {
    w.full(b"mvhd", 0, 0, |w| {
        w.u32(0); // creation_time
        w.u32(0); // modification_time
        w.u32(MOVIE_TIMESCALE);
        w.u32(0); // duration
        w.u32(0x0001_0000); // rate 1.0
        w.u16(0x0100); // volume 1.0
        w.zeros(2 + 8);
        for v in UNITY_MATRIX {
            w.u32(v);
        }
        w.zeros(24); // pre_defined
        w.u32(3); // next_track_ID
    });
}

fn trak(w: &mut BoxWriter, track: Track, c: &TrackConfig) {
    w.open(b"trak", |w| {
        // §8.3.2 tkhd: flags 3 = track_enabled | track_in_movie.
        w.full(b"tkhd", 0, 3, |w| {
            w.u32(0);
            w.u32(0);
            w.u32(track_id(track));
            w.u32(0); // reserved
            w.u32(0); // duration
            w.zeros(8);
            w.u16(0); // layer
            w.u16(0); // alternate_group
            w.u16(if track == Track::Audio { 0x0100 } else { 0 });
            w.u16(0);
            for v in UNITY_MATRIX {
                w.u32(v);
            }
            w.u32(c.info.width << 16);
            w.u32(c.info.height << 16);
        });
        w.open(b"mdia", |w| {
            w.full(b"mdhd", 0, 0, |w| {
                w.u32(0);
                w.u32(0);
                w.u32(c.timescale);
                w.u32(0);
                w.u16(0x55c4); // ISO-639-2/T "und", packed 5 bits a letter
                w.u16(0);
            });
            // §8.4.3 hdlr.
            w.full(b"hdlr", 0, 0, |w| {
                w.u32(0);
                w.bytes(match track {
                    Track::Video => b"vide",
                    Track::Audio => b"soun",
                });
                w.zeros(12);
                w.bytes(match track {
                    Track::Video => b"VideoHandler\0",
                    Track::Audio => b"SoundHandler\0",
                });
            });
            w.open(b"minf", |w| {
                match track {
                    // §12.1.2 vmhd: flags 1 is required.
                    Track::Video => w.full(b"vmhd", 0, 1, |w| w.zeros(8)),
                    Track::Audio => w.full(b"smhd", 0, 0, |w| w.zeros(4)),
                }
                // §8.7.1 dinf/dref with one self-contained url entry (flags 1).
                w.open(b"dinf", |w| {
                    w.full(b"dref", 0, 0, |w| {
                        w.u32(1);
                        w.full(b"url ", 0, 1, |_| {});
                    })
                });
                stbl(w, c);
            });
        });
    });
}

/// §8.5 stbl with the one sample entry and empty sample tables: the samples are
/// in the fragments.
fn stbl(w: &mut BoxWriter, c: &TrackConfig) {
    w.open(b"stbl", |w| {
        w.full(b"stsd", 0, 0, |w| {
            w.u32(1);
            w.bytes(&c.sample_entry);
        });
        w.full(b"stts", 0, 0, |w| w.u32(0));
        w.full(b"stsc", 0, 0, |w| w.u32(0));
        w.full(b"stsz", 0, 0, |w| {
            w.u32(0);
            w.u32(0);
        });
        w.full(b"stco", 0, 0, |w| w.u32(0));
    });
}

/// §12.1.3 VisualSampleEntry: the fixed fields, then `config` (avcC, hvcC…).
pub(crate) fn visual_entry(
    fourcc: &[u8; 4],
    width: u32,
    height: u32,
    config: impl FnOnce(&mut BoxWriter),
) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(256);
    w.open(fourcc, |w| {
        w.zeros(6);
        w.u16(1); // data_reference_index
        w.zeros(16); // pre_defined, reserved
        w.u16(u16::try_from(width).unwrap_or(u16::MAX));
        w.u16(u16::try_from(height).unwrap_or(u16::MAX));
        w.u32(0x0048_0000); // 72 dpi
        w.u32(0x0048_0000);
        w.u32(0);
        w.u16(1); // frame_count
        w.zeros(32); // compressorname
        w.u16(0x0018); // depth
        w.u16(0xffff); // pre_defined = -1
        config(w);
    });
    w.into_vec()
}

/// §12.2.3 AudioSampleEntry (version 0): the fixed fields, then `config` (esds, dOps…).
/// The 16.16 samplerate field cannot hold rates above 65535 Hz; 0 is written then,
/// and decoders take the rate from the codec configuration (as they do anyway).
pub(crate) fn audio_entry(
    fourcc: &[u8; 4],
    channels: u8,
    sample_rate: u32,
    config: impl FnOnce(&mut BoxWriter),
) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(128);
    w.open(fourcc, |w| {
        w.zeros(6);
        w.u16(1); // data_reference_index
        w.zeros(8);
        w.u16(u16::from(channels));
        w.u16(16); // samplesize
        w.zeros(4); // pre_defined, reserved
        w.u32(if sample_rate <= 0xffff {
            sample_rate << 16
        } else {
            0
        });
        config(w);
    });
    w.into_vec()
}

/// 14496-1 §7.2.6.5 ES_Descriptor inside an `esds` FullBox (14496-14 §5.6):
/// DecoderConfigDescriptor with `object_type` (0x40 MPEG-4 audio, 0x6B MPEG-1
/// audio), the DecoderSpecificInfo when there is one, and SLConfigDescriptor 2.
pub(crate) fn esds(w: &mut BoxWriter, object_type: u8, specific: &[u8]) {
    // Descriptor lengths use the 4-byte expandable form so they are fixed-size.
    fn descriptor(w: &mut BoxWriter, tag: u8, len: usize) {
        let len = u32::try_from(len).unwrap_or(0x0fff_ffff).min(0x0fff_ffff);
        w.u8(tag);
        w.u8(0x80 | (len >> 21) as u8 & 0x7f);
        w.u8(0x80 | (len >> 14) as u8 & 0x7f);
        w.u8(0x80 | (len >> 7) as u8 & 0x7f);
        w.u8(len as u8 & 0x7f);
    }
    let dsi_len = if specific.is_empty() {
        0
    } else {
        5 + specific.len()
    };
    let dcd_len = 13 + dsi_len;
    w.full(b"esds", 0, 0, |w| {
        descriptor(w, 0x03, 3 + 5 + dcd_len + 5 + 1);
        w.u16(0); // ES_ID
        w.u8(0); // no dependsOn, URL or OCR stream
        descriptor(w, 0x04, dcd_len);
        w.u8(object_type);
        w.u8(0x15); // streamType 5 (audio) << 2 | upStream 0 | reserved 1
        w.zeros(3); // bufferSizeDB
        w.u32(0); // maxBitrate
        w.u32(0); // avgBitrate
        if !specific.is_empty() {
            descriptor(w, 0x05, specific.len());
            w.bytes(specific);
        }
        descriptor(w, 0x06, 1);
        w.u8(2); // predefined: MP4
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esds_for_aac_lc_matches_reference_bytes() {
        let mut w = BoxWriter::default();
        esds(&mut w, 0x40, &[0x12, 0x10]);
        let v = w.into_vec();
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 0x33, b'e', b's', b'd', b's', 0, 0, 0, 0,
            0x03, 0x80, 0x80, 0x80, 0x22, 0, 0, 0,
            0x04, 0x80, 0x80, 0x80, 0x14, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0x05, 0x80, 0x80, 0x80, 0x02, 0x12, 0x10,
            0x06, 0x80, 0x80, 0x80, 0x01, 0x02,
        ];
        assert_eq!(v, expected);
    }

    #[test]
    fn audio_entry_layout() {
        let e = audio_entry(b"mp4a", 1, 8000, |_| {});
        assert_eq!(e.len(), 36);
        assert_eq!(&e[4..8], b"mp4a");
        assert_eq!(&e[24..26], &[0, 1]); // channelcount
        assert_eq!(&e[32..36], &[0x1f, 0x40, 0, 0]); // 8000 << 16
    }

    #[test]
    fn visual_entry_layout() {
        let e = visual_entry(b"avc1", 1280, 720, |w| w.open(b"avcC", |_| {}));
        assert_eq!(e.len(), 86 + 8);
        assert_eq!(&e[32..36], &[0x05, 0x00, 0x02, 0xd0]);
        assert_eq!(&e[90..94], b"avcC");
    }
}
