//! FLV writer (FLV spec E.2, E.3, E.4.1).

use bytes::{BufMut, BytesMut};

use super::{Header, Tag};

/// Largest DataSize the 24-bit field can hold.
const MAX_DATA_SIZE: usize = 0x00ff_ffff;

/// Appends the 9-byte FLV header (version 1, DataOffset 9) and PreviousTagSize0.
pub fn write_header(header: &Header, out: &mut BytesMut) {
    out.reserve(13);
    out.put_slice(b"FLV");
    out.put_u8(1);
    // TypeFlags: bit 2 audio, bit 0 video; the others are reserved, 0.
    out.put_u8(u8::from(header.has_audio) << 2 | u8::from(header.has_video));
    out.put_u32(9);
    out.put_u32(0);
}

/// Appends one tag: the 11-byte tag header (Filter 0, StreamID 0), the data, and
/// the PreviousTagSize (11 + DataSize).
///
/// DataSize is 24 bits. Data longer than 16 MiB - 1 cannot be framed; it is a
/// caller bug (RTMP message lengths are 24 bits too, so tags from RTMP always
/// fit), and rather than emit a header that lies about the size, only the first
/// 16 MiB - 1 bytes are written, keeping the output a readable FLV stream.
pub fn write_tag(tag: &Tag, out: &mut BytesMut) {
    let len = tag.data.len().min(MAX_DATA_SIZE);
    out.reserve(tag_len(tag));
    out.put_u8(tag.tag_type as u8);
    // len <= 0xFFFFFF, so it fits a u32 and its top byte is zero.
    let size = u32::try_from(len).unwrap_or(0x00ff_ffff);
    out.put_slice(&size.to_be_bytes()[1..]);
    // Timestamp: the low 24 bits, then TimestampExtended, the top 8 bits.
    let ts = tag.timestamp.to_be_bytes();
    out.put_slice(&[ts[1], ts[2], ts[3], ts[0]]);
    out.put_slice(&[0, 0, 0]);
    if let Some(data) = tag.data.get(..len) {
        out.put_slice(data);
    }
    out.put_u32(size + 11);
}

/// The number of bytes [`write_tag`] appends for `tag`.
pub fn tag_len(tag: &Tag) -> usize {
    11 + tag.data.len().min(MAX_DATA_SIZE) + 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::TagType;
    use bytes::Bytes;

    #[test]
    fn header_bytes() {
        let mut out = BytesMut::new();
        write_header(
            &Header {
                has_audio: true,
                has_video: true,
            },
            &mut out,
        );
        assert_eq!(&out[..], b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00");
        out.clear();
        write_header(
            &Header {
                has_audio: false,
                has_video: true,
            },
            &mut out,
        );
        assert_eq!(out[4], 0x01);
    }

    #[test]
    fn tag_bytes_and_len() {
        let tag = Tag {
            tag_type: TagType::Video,
            timestamp: 0x0102_0304,
            data: Bytes::from_static(b"\x17\x00"),
        };
        let mut out = BytesMut::new();
        write_tag(&tag, &mut out);
        assert_eq!(
            &out[..],
            b"\x09\x00\x00\x02\x02\x03\x04\x01\x00\x00\x00\x17\x00\x00\x00\x00\x0d"
        );
        assert_eq!(tag_len(&tag), out.len());
    }
}
