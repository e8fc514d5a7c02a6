use super::*;
use crate::codec::hevc::tests::hex;
use proptest::prelude::*;

// `ffmpeg -f lavfi -i sine=sample_rate=44100 -t 0.3 -ac 2 -c:a flac -f flac`: the
// marker and metadata blocks (STREAMINFO, VORBIS_COMMENT, 8 KiB of PADDING whose
// body is left out here), the dfLa that `-f mp4` writes, and frame headers.
const HEAD_44K_STEREO: &str = "664c6143000000221200120000046d0005080ac442f0000033ae36567c6137e8d578c431ed191fd85ff50400002e0d0000004c61766635392e32372e3130300100000015000000656e636f6465723d4c61766635392e32372e31303081002000";
const DFLA_44K_STEREO: &str =
    "00000000800000221200120000046d0005080ac442f0000033ae36567c6137e8d578c431ed191fd85ff5";
const FRAME_FIRST: &str = "fff85988008a4e000000";
/// The last, short frame: block size code 7 (16-bit size after the header).
const FRAME_LAST: &str = "fff87988020fad0f4efc";
// The same at 96 kHz, mono, 24 bits.
const HEAD_96K_MONO_24: &str =
    "664c614300000022200020000001d20008941770017000002580a3f8831c6d3d9d99ddb45401adc72b25";
const FRAME_96K: &str = "fff8db0c00b54f0100000076";

fn head_with_padding() -> Vec<u8> {
    let mut h = hex(HEAD_44K_STEREO);
    h.extend(vec![0; 0x2000]);
    h
}

#[test]
fn real_stream_header() {
    let c = FlacConfig::parse(&head_with_padding()).unwrap();
    assert_eq!(
        (c.sample_rate, c.channels, c.bits_per_sample),
        (44_100, 2, 16)
    );
    assert_eq!((c.min_block_size, c.max_block_size), (4608, 4608));
    assert_eq!(c.total_samples, 13_230);
    let types: Vec<u8> = c.blocks.iter().map(|b| b.block_type).collect();
    assert_eq!(types, vec![0, 4, 1]);
    assert_eq!(c.dfla(), expected_dfla(&c));

    let c = FlacConfig::parse(&hex(HEAD_96K_MONO_24)).unwrap();
    assert_eq!(
        (c.sample_rate, c.channels, c.bits_per_sample),
        (96_000, 1, 24)
    );
    assert_eq!(c.min_block_size, 8192);
}

/// ffmpeg's dfLa holds STREAMINFO alone; ours keeps the VORBIS_COMMENT too.
fn expected_dfla(c: &FlacConfig) -> Vec<u8> {
    let mut d = hex(DFLA_44K_STEREO);
    d[4] = 0; // STREAMINFO is no longer last
    d.extend([0x84, 0, 0, 0x2e]);
    d.extend(&c.blocks[1].data[..]);
    d
}

#[test]
fn dfla_of_streaminfo_alone_matches_ffmpeg() {
    let mut c = FlacConfig::parse(&head_with_padding()).unwrap();
    c.blocks.truncate(1);
    assert_eq!(c.dfla(), hex(DFLA_44K_STEREO));
}

#[test]
fn sequence_start_forms() {
    let full = head_with_padding();
    let marked = FlacConfig::parse(&full).unwrap();
    // Without the marker.
    assert_eq!(FlacConfig::parse(&full[4..]).unwrap(), marked);
    // The bare STREAMINFO body.
    let bare = FlacConfig::parse(&full[8..42]).unwrap();
    assert_eq!(bare.blocks.len(), 1);
    assert_eq!((bare.sample_rate, bare.total_samples), (44_100, 13_230));
    assert_eq!(bare.dfla(), hex(DFLA_44K_STEREO));
    // STREAMINFO only, not flagged last, ends the input: accepted.
    let c = FlacConfig::parse(&full[..42]).unwrap();
    assert_eq!(c.blocks.len(), 1);
}

#[test]
fn errors_and_truncation() {
    let full = head_with_padding();
    for n in (0..200).chain(full.len() - 3..full.len()) {
        let r = FlacConfig::parse(&full[..n]);
        // Whole blocks parse; a cut inside one is an error.
        let ok = n == 42 || n == 42 + 4 + 0x2e;
        assert_eq!(r.is_ok(), ok, "cut at {n}: {r:?}");
    }
    // VORBIS_COMMENT first.
    let mut bad = full.clone();
    bad[4] = 4;
    assert_eq!(FlacConfig::parse(&bad), Err(invalid("block type", 4, 4)));
    // A second STREAMINFO.
    let mut bad = full[..42].to_vec();
    bad.extend(&full[4..42]);
    assert_eq!(FlacConfig::parse(&bad), Err(invalid("block type", 0, 42)));
    let mut bad = full.clone();
    bad[7] = 33;
    assert_eq!(
        FlacConfig::parse(&bad),
        Err(invalid("STREAMINFO length", 33, 5))
    );
    let mut bad = full.clone();
    bad[8] = 0;
    bad[9] = 8;
    assert_eq!(
        FlacConfig::parse(&bad),
        Err(invalid("minimum block size", 8, 8))
    );
}

#[test]
fn frame_headers() {
    assert_eq!(frame_block_size(&hex(FRAME_FIRST)), Some(4608));
    assert_eq!(frame_block_size(&hex(FRAME_LAST)), Some(4014));
    assert_eq!(frame_block_size(&hex(FRAME_96K)), Some(8192));
    for f in [FRAME_FIRST, FRAME_LAST, FRAME_96K] {
        let f = hex(f);
        for n in 0..6 {
            assert_eq!(frame_block_size(&f[..n]), None);
        }
        let mut bad = f.clone();
        bad[2] ^= 0x10; // another block size code: the CRC no longer matches
        assert_eq!(frame_block_size(&bad), None);
    }
    let mut bad = hex(FRAME_FIRST);
    bad[1] = 0xfa; // reserved bit
    assert_eq!(frame_block_size(&bad), None);
    assert_eq!(crc8(b"123456789"), 0xf4);
    assert_eq!(super::crc16(b"123456789"), 0xfee8);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = frame_block_size(&b);
        let mut f = vec![0xff, 0xf8];
        f.extend(&b);
        let _ = frame_block_size(&f);
        if let Ok(c) = FlacConfig::parse(&b) {
            let _ = c.dfla();
        }
        let mut h = b"fLaC\x00\x00\x00\x22".to_vec();
        h.extend(&b);
        let _ = FlacConfig::parse(&h);
    }
}
