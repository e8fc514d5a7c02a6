//! Linear PCM, sound formats 0 ("platform endian") and 3 (little endian):
//! 8-bit samples are unsigned, 16-bit ones signed; channels interleaved.
//! Format 0 is read as little endian, as ffmpeg and Flash Player on x86 do.

use crate::codec::CodecError;
use alloc::vec::Vec;

/// The tag's whole sample frames, interleaved, as signed values of
/// `bits` (8 or 16) bits. A partial last frame is left out (as ffmpeg does).
pub fn decode(data: &[u8], bits16: bool, channels: usize) -> Result<Vec<i32>, CodecError> {
    let frame = channels * if bits16 { 2 } else { 1 };
    let whole = data.len() - data.len() % frame.max(1);
    if whole == 0 {
        return Err(CodecError::Truncated {
            what: "PCM audio",
            at: data.len(),
        });
    }
    let data = &data[..whole];
    Ok(if bits16 {
        data.chunks_exact(2)
            .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
            .collect()
    } else {
        data.iter().map(|&b| i32::from(b) - 128).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_is_little_endian_signed() {
        let s = decode(&[0x01, 0x00, 0xff, 0xff, 0x00, 0x80, 0xff, 0x7f], true, 2).unwrap();
        assert_eq!(s, [1, -1, -32768, 32767]);
    }

    #[test]
    fn eight_bit_is_unsigned_around_128() {
        assert_eq!(decode(&[0, 128, 255], false, 1).unwrap(), [-128, 0, 127]);
    }

    #[test]
    fn partial_frames_are_left_out_and_nothing_is_an_error() {
        // Stereo 16-bit: 5 bytes hold one whole frame.
        assert_eq!(decode(&[1, 0, 2, 0, 9], true, 2).unwrap(), [1, 2]);
        assert!(matches!(
            decode(&[1, 0, 2], true, 2),
            Err(CodecError::Truncated { .. })
        ));
        assert!(decode(&[], false, 1).is_err());
    }
}
