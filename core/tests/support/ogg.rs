//! Ogg pages (RFC 3533) put back together into the packets of one logical stream.

/// The packets of a single-stream Ogg file, in order; empty packets (ffmpeg
/// ends Ogg FLAC with one) are left out.
pub fn packets(ogg: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut current = Vec::new();
    let mut at = 0;
    while at < ogg.len() {
        assert_eq!(&ogg[at..at + 4], b"OggS", "no Ogg page at byte {at}");
        let segments = usize::from(ogg[at + 26]);
        let lacing = &ogg[at + 27..at + 27 + segments];
        let mut body = at + 27 + segments;
        for &len in lacing {
            current.extend_from_slice(&ogg[body..body + usize::from(len)]);
            body += usize::from(len);
            // A lacing value under 255 ends a packet.
            if len < 255 && !current.is_empty() {
                packets.push(std::mem::take(&mut current));
            }
        }
        at = body;
    }
    packets
}
