//! The picture the latency benchmark publishes, stamped with the wall-clock time it
//! was made. The page reads the stamp back from the frame on screen;
//! `lab/browser/probe.js` holds that reader, and must follow this layout.
//!
//! The stamp: the picture's top 32 rows, two rows of 40 cells of 16×16 pixels,
//! each cell black or white. Each row starts with a white and a black reference
//! cell (the reader's threshold lies between them), then 38 data cells. The 76
//! data bits, most significant first: the Unix time in milliseconds (48 bits),
//! the frame number modulo 4096 (12 bits), and a CRC-16/CCITT-FALSE (16 bits) of
//! those two as 6 + 2 big-endian bytes, so a misread cell rejects the frame.
//! Cells are aligned on the encoder's 16×16 macroblocks, and survive x264 at
//! 900 kbit/s with margin.

pub const WIDTH: usize = 640;
pub const HEIGHT: usize = 360;
pub const FPS: u64 = 25;
pub const CELL: usize = 16;
pub const COLUMNS: usize = WIDTH / CELL;
pub const ROWS: usize = 2;
const MS_BITS: usize = 48;
const SEQ_BITS: usize = 12;
const CRC_BITS: usize = 16;
const DATA_BITS: usize = MS_BITS + SEQ_BITS + CRC_BITS;
const WHITE: u8 = 235;
const BLACK: u8 = 16;

const _: () = assert!(DATA_BITS == ROWS * (COLUMNS - 2));

/// CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The 76 data bits of a stamp, in cell order.
pub fn bits(ms: u64, seq: u16) -> [bool; DATA_BITS] {
    let ms = ms & ((1 << MS_BITS) - 1);
    let seq = seq & ((1 << SEQ_BITS) - 1);
    let mut bytes = [0u8; 8];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&seq.to_be_bytes());
    let crc = crc16(&bytes);
    let mut out = [false; DATA_BITS];
    let fields = [
        (ms, MS_BITS),
        (u64::from(seq), SEQ_BITS),
        (u64::from(crc), CRC_BITS),
    ];
    let mut at = 0;
    for (value, width) in fields {
        for i in (0..width).rev() {
            out[at] = value >> i & 1 == 1;
            at += 1;
        }
    }
    out
}

/// One YUV 4:2:0 picture: the stamp on top, below it a gradient that scrolls with
/// `n`, so that the encoder has motion to code as in a real channel.
pub fn draw(frame: &mut [u8], n: u64, ms: u64) {
    let (y_plane, chroma) = frame.split_at_mut(WIDTH * HEIGHT);
    // Two periods of the horizontal ramp; each row is a window into it.
    let ramp: Vec<u8> = (0..2 * WIDTH)
        .map(|x| ((x % WIDTH) * 160 / WIDTH) as u8)
        .collect();
    let shift = (n as usize * 4) % WIDTH;
    for (y, row) in y_plane.chunks_exact_mut(WIDTH).enumerate() {
        let lift = 40 + (y * 30 / HEIGHT) as u8;
        for (px, r) in row.iter_mut().zip(&ramp[shift..shift + WIDTH]) {
            *px = lift + r;
        }
    }
    let data = bits(ms, (n % (1 << SEQ_BITS)) as u16);
    for row in 0..ROWS {
        for col in 0..COLUMNS {
            let white = match col {
                0 => true,
                1 => false,
                _ => data[row * (COLUMNS - 2) + col - 2],
            };
            let value = if white { WHITE } else { BLACK };
            for y in row * CELL..(row + 1) * CELL {
                y_plane[y * WIDTH + col * CELL..y * WIDTH + (col + 1) * CELL].fill(value);
            }
        }
    }
    // The chroma does not move: drawn with picture 0 into the buffer the caller keeps.
    if n == 0 {
        let (u, v) = chroma.split_at_mut(WIDTH * HEIGHT / 4);
        for (i, (u, v)) in u.iter_mut().zip(v.iter_mut()).enumerate() {
            let (x, y) = (i % (WIDTH / 2), i / (WIDTH / 2));
            let neutral = y < ROWS * CELL / 2;
            *u = if neutral {
                128
            } else {
                96 + (x * 64 / (WIDTH / 2)) as u8
            };
            *v = if neutral {
                128
            } else {
                160 - (y * 64 / (HEIGHT / 2)) as u8
            };
        }
    }
}

/// Reads the stamp off a luma plane `WIDTH` wide (its top `ROWS * CELL` rows are
/// enough): the mean of each cell's central 8×8 pixels against the midpoint of its
/// row's reference cells. `lab/browser/probe.js` reads the same way from RGBA.
pub fn read(luma: &[u8]) -> Option<(u64, u16)> {
    let mean = |row: usize, col: usize| {
        let mut sum = 0u32;
        for y in row * CELL + 4..row * CELL + 12 {
            for x in col * CELL + 4..col * CELL + 12 {
                sum += u32::from(luma[y * WIDTH + x]);
            }
        }
        sum as f64 / 64.0
    };
    let mut data = Vec::with_capacity(DATA_BITS);
    for row in 0..ROWS {
        let (white, black) = (mean(row, 0), mean(row, 1));
        if white - black < 64.0 {
            return None;
        }
        let threshold = (white + black) / 2.0;
        data.extend((2..COLUMNS).map(|col| mean(row, col) > threshold));
    }
    let take = |from: usize, width: usize| {
        data[from..from + width]
            .iter()
            .fold(0u64, |v, &b| v << 1 | u64::from(b))
    };
    let ms = take(0, MS_BITS);
    let seq = take(MS_BITS, SEQ_BITS) as u16;
    let crc = take(MS_BITS + SEQ_BITS, CRC_BITS) as u16;
    (bits(ms, seq)[MS_BITS + SEQ_BITS..]
        .iter()
        .fold(0u16, |v, &b| v << 1 | u16::from(b))
        == crc)
        .then_some((ms, seq))
}

pub fn frame_len() -> usize {
    WIDTH * HEIGHT * 3 / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_ccitt_false_check_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn a_drawn_stamp_reads_back() {
        let mut frame = vec![0u8; frame_len()];
        let ms = 1_767_225_600_123;
        draw(&mut frame, 4097, ms);
        assert_eq!(read(&frame), Some((ms, 1)));
    }

    #[test]
    fn a_blurred_and_noisy_stamp_still_reads_and_a_flipped_cell_is_rejected() {
        let mut frame = vec![0u8; frame_len()];
        let ms = 1_700_000_000_000;
        draw(&mut frame, 7, ms);
        // Encoder-like damage: contrast squeezed towards grey, and a ripple.
        for (i, px) in frame[..WIDTH * HEIGHT].iter_mut().enumerate() {
            let ripple = (i * 7919 % 41) as i32 - 20;
            *px = (128 + (i32::from(*px) - 128) * 6 / 10 + ripple).clamp(0, 255) as u8;
        }
        assert_eq!(read(&frame), Some((ms, 7)));
        // Invert one data cell: the CRC rejects the frame.
        let (row, col) = (1, 20);
        for y in row * CELL..(row + 1) * CELL {
            for x in col * CELL..(col + 1) * CELL {
                frame[y * WIDTH + x] = 255 - frame[y * WIDTH + x];
            }
        }
        assert_eq!(read(&frame), None);
    }

    #[test]
    fn a_picture_without_a_stamp_is_not_read() {
        let frame = vec![128u8; frame_len()];
        assert_eq!(read(&frame), None);
    }
}
