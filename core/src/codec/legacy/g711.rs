//! G.711 (ITU-T G.711, 1988): A-law and µ-law, one byte a sample, to 16-bit
//! linear PCM, as the reference decoder (and ffmpeg's `alaw2linear`/`ulaw2linear`)
//! expands them. Sound formats 7 and 8: what IP cameras send.

/// One A-law byte → linear PCM (13 significant bits, scaled to 16).
pub fn alaw(byte: u8) -> i16 {
    // Even bits are inverted on the line (G.711 table 1a).
    let a = byte ^ 0x55;
    let mantissa = i16::from(a & 0x0f);
    let segment = (a & 0x70) >> 4;
    let magnitude = if segment == 0 {
        (mantissa * 2 + 1) << 3
    } else {
        (mantissa * 2 + 1 + 32) << (segment + 2)
    };
    // Bit 7 set is positive.
    if a & 0x80 != 0 { magnitude } else { -magnitude }
}

/// One µ-law byte → linear PCM (14 significant bits, scaled to 16).
pub fn mulaw(byte: u8) -> i16 {
    // Bias of the µ-law segments (G.711 table 2a: 33 in 14-bit units, ×4).
    const BIAS: i32 = 0x84;
    let u = !byte;
    let t = ((i32::from(u & 0x0f) << 3) + BIAS) << ((u & 0x70) >> 4);
    // At most (15·8 + 132) << 7 − 132 = 32124: always an i16.
    let v = if u & 0x80 != 0 { BIAS - t } else { t - BIAS };
    v as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alaw_known_values() {
        // The smallest step either side of zero, and the extremes (G.711 table 1a).
        assert_eq!(alaw(0xd5), 8);
        assert_eq!(alaw(0x55), -8);
        assert_eq!(alaw(0xaa), 32256);
        assert_eq!(alaw(0x2a), -32256);
        // Segment 1 starts at 256 (decision value 256..272 → 264).
        assert_eq!(alaw(0x10 ^ 0xd5), 264);
    }

    #[test]
    fn mulaw_known_values() {
        assert_eq!(mulaw(0xff), 0);
        assert_eq!(mulaw(0x7f), 0);
        assert_eq!(mulaw(0x80), 32124);
        assert_eq!(mulaw(0x00), -32124);
        assert_eq!(mulaw(0xfe), 8);
        assert_eq!(mulaw(0x7e), -8);
    }

    #[test]
    fn every_code_is_symmetric_and_monotonic() {
        // Sign bit flips the value; within a sign, codes order the magnitudes.
        for b in 0..=0x7fu8 {
            assert_eq!(alaw(b), -alaw(b | 0x80), "A-law {b:#x}");
            assert_eq!(mulaw(b), -mulaw(b | 0x80), "µ-law {b:#x}");
        }
        let mut a: Vec<i16> = (0x80..=0xffu8).map(|b| alaw(b ^ 0x55)).collect();
        let sorted = {
            let mut s = a.clone();
            s.sort_unstable();
            s
        };
        assert_eq!(a, sorted);
        a = (0x80..=0xffu8).rev().map(mulaw).collect();
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(a, s);
    }
}
