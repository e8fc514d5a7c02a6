use super::*;
use crate::codec::hevc::tests::hex;
use proptest::prelude::*;

// av1C boxes of `ffmpeg -f lavfi -i testsrc=size=WxH -frames:v 1 -pix_fmt F -c:v E -f mp4`.
const AV1C_320X240_AOM: &str = "81000c000a0b000000043cffbcdaf90040";
const AV1C_642X362_AOM_444_10: &str = "812140000a0b2000000cc5036936be5080";
const AV1C_1920X1080_SVT: &str = "81080c000a0b00000042abbfc3700be001";
/// The start of the first IVF frame of the 320x240 libaom stream: a temporal
/// delimiter OBU, then the sequence header OBU.
const IVF_FRAME_320X240: &str = "12000a0b000000043cffbcdaf90040328010";

const REAL: [(&str, u32, u32, &str); 3] = [
    (AV1C_320X240_AOM, 320, 240, "av01.0.00M.08"),
    (AV1C_642X362_AOM_444_10, 642, 362, "av01.1.01M.10"),
    (AV1C_1920X1080_SVT, 1920, 1080, "av01.0.08M.08"),
];

#[test]
fn real_records() {
    for (av1c, w, h, codecs) in REAL {
        let c = Av1Config::parse(&hex(av1c)).unwrap();
        assert_eq!((c.width, c.height), (w, h), "{codecs}");
        assert_eq!(c.codecs_string(), codecs);
        assert_eq!(c.record_head()[..3], hex(av1c)[..3]);
    }
    let c = Av1Config::parse(&hex(AV1C_642X362_AOM_444_10)).unwrap();
    assert_eq!((c.seq_profile, c.bit_depth, c.monochrome), (1, 10, false));
    assert_eq!(
        (c.chroma_subsampling_x, c.chroma_subsampling_y),
        (false, false)
    );
    let c = Av1Config::parse(&hex(AV1C_320X240_AOM)).unwrap();
    assert_eq!(
        (c.chroma_subsampling_x, c.chroma_subsampling_y),
        (true, true)
    );
    // The record alone, without configOBUs.
    let c = Av1Config::parse(&hex(AV1C_320X240_AOM)[..4]).unwrap();
    assert_eq!((c.width, c.height, c.color), (0, 0, None));
    assert_eq!(c.codecs_string(), "av01.0.00M.08");
}

#[test]
fn sequence_header_from_ivf_frame() {
    let frame = hex(IVF_FRAME_320X240);
    let (t, payload, len) = split_obu(&frame, 0).unwrap();
    assert_eq!((t, payload, len), (2, &[][..], 2)); // temporal delimiter
    let (t, payload, len) = split_obu(&frame[2..], 2).unwrap();
    assert_eq!((t, len), (OBU_SEQUENCE_HEADER, 13));
    let seq = parse_sequence_header_obu(payload).unwrap();
    let record = Av1Config::parse(&hex(AV1C_320X240_AOM)).unwrap();
    assert_eq!(seq, record);
}

#[test]
fn long_codecs_string_with_colour() {
    let mut c = Av1Config::parse(&hex(AV1C_320X240_AOM)).unwrap();
    c.color = Some(Av1Color {
        color_primaries: 9,
        transfer_characteristics: 16,
        matrix_coefficients: 9,
        full_range: false,
    });
    c.bit_depth = 10;
    c.seq_level_idx_0 = 13;
    c.chroma_sample_position = 1;
    assert_eq!(c.codecs_string(), "av01.0.13M.10.0.111.09.16.09.0");
}

#[test]
fn errors_and_truncation() {
    for (av1c, ..) in REAL {
        let full = hex(av1c);
        for n in 0..full.len() {
            let r = Av1Config::parse(&full[..n]);
            assert_eq!(r.is_err(), n != 4 && n < full.len(), "cut at {n}: {r:?}");
        }
    }
    assert!(matches!(
        Av1Config::parse(&[0x80, 0, 0, 0]),
        Err(CodecError::Invalid {
            field: "marker/version",
            ..
        })
    ));
    // An OBU size running past the end names the end of the record.
    assert_eq!(
        Av1Config::parse(&hex("81000c000a0c000000043cffbcdaf90040")),
        Err(CodecError::Truncated {
            what: "OBU",
            at: 17
        })
    );
    // Over-long leb128.
    assert!(Av1Config::parse(&hex("81000c000a8080808080808080")).is_err());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_sequence_header_obu(&b);
        let mut r = vec![0x81, 0, 0, 0, 0x0a, b.len() as u8];
        r.extend(&b);
        let _ = Av1Config::parse(&r);
        let _ = Av1Config::parse(&b);
    }
}
