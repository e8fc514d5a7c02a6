//! A fuzz input as a list of byte strings (pictures, tags' bodies), each a 16-bit
//! length (big endian) and that many bytes; the last one as long as what is left.

pub fn pieces(data: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut rest = data;
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
        let (piece, next) = tail.split_at(len);
        pieces.push(piece);
        rest = next;
    }
    pieces
}
