//! IVF (the libvpx test container ffmpeg writes with `-f ivf`): 32-byte file
//! header, then frames of size (LE32), timestamp (LE64) and data.

/// The frames of an IVF file with their timestamps in milliseconds.
pub fn frames(ivf: &[u8]) -> Vec<(u32, &[u8])> {
    assert_eq!(&ivf[..4], b"DKIF", "not an IVF file");
    let header_len = usize::from(u16::from_le_bytes([ivf[6], ivf[7]]));
    let rate = u64::from(u32::from_le_bytes(ivf[16..20].try_into().unwrap()));
    let scale = u64::from(u32::from_le_bytes(ivf[20..24].try_into().unwrap()));
    let mut out = Vec::new();
    let mut at = header_len;
    while at + 12 <= ivf.len() {
        let size = u32::from_le_bytes(ivf[at..at + 4].try_into().unwrap()) as usize;
        let pts = u64::from_le_bytes(ivf[at + 4..at + 12].try_into().unwrap());
        let data = &ivf[at + 12..at + 12 + size];
        out.push(((pts * scale * 1000 / rate) as u32, data));
        at += 12 + size;
    }
    out
}
