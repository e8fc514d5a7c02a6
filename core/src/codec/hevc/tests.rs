use super::*;
use crate::codec::bits::BitWriter;
use proptest::prelude::*;

pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// hvcC boxes of `ffmpeg -f lavfi -i testsrc=size=WxH -frames:v 1 -pix_fmt F -c:v libx265
// -x265-params info=0[:high-tier=1:level-idc=5.1] -f mp4`.
const HVCC_320X240_MAIN: &str = "0101600000009000000000003cf000fcfdf8f800000f03200001001840010c01ffff01600000030090000003000003003c959809210001002a42010101600000030090000003000003003ca00a080f165959a4932bc05a02000003000200000300321022000100074401c172b46240";
const HVCC_1920X1080_MAIN: &str = "01016000000090000000000078f000fcfdf8f800000f03200001001840010c01ffff016000000300900000030000030078959809210001002a420101016000000300900000030000030078a003c08010e596566924caf0168080000003008000000c8422000100074401c172b46240";
const HVCC_642X362_REXT_422_10: &str = "0104080000009d08000000003ff000fcfefafa00000f03200001001740010c01ffff0408000003009d0800000300003f959809210001002b4201010408000003009d0800000300003fb005120171c93b65959a4932bc05a0200000030020000003032122000100074401c172b46240";
const HVCC_1280X720_MAIN10_HIGH: &str = "01222000000090000000000099f000fcfdfafa00000f03200001001840010c01ffff222000000300900000030000030099959809210001002b420101222000000300900000030000030099a00280802d1365959a4932bc05a0200000030020000003032122000100074401c172b46240";

pub(crate) const REAL: [(&str, u32, u32, u8, u8, &str); 4] = [
    (HVCC_320X240_MAIN, 320, 240, 1, 8, "hvc1.1.6.L60.90"),
    (HVCC_1920X1080_MAIN, 1920, 1080, 1, 8, "hvc1.1.6.L120.90"),
    (
        HVCC_642X362_REXT_422_10,
        642,
        362,
        2,
        10,
        "hvc1.4.10.L63.9D.8",
    ),
    (
        HVCC_1280X720_MAIN10_HIGH,
        1280,
        720,
        1,
        10,
        "hvc1.2.4.H153.90",
    ),
];

#[test]
fn real_records() {
    for (hvcc, w, h, chroma, depth, codecs) in REAL {
        let c = HevcConfig::parse(&hex(hvcc)).unwrap();
        assert_eq!((c.width, c.height), (w, h), "{codecs}");
        assert_eq!((c.chroma_format_idc, c.bit_depth_luma), (chroma, depth));
        assert_eq!(c.codecs_string(), codecs);
        assert_eq!(c.nal_length_size, 4);
        assert_eq!((c.vps.len(), c.sps.len(), c.pps.len()), (1, 1, 1));
        assert_eq!(c.sps[0][0] >> 1, NAL_SPS);
    }
    let c = HevcConfig::parse(&hex(HVCC_320X240_MAIN)).unwrap();
    assert_eq!((c.profile_space, c.tier, c.profile_idc), (0, false, 1));
    assert_eq!(c.compatibility_flags, 0x6000_0000);
    assert_eq!(c.constraint_flags, [0x90, 0, 0, 0, 0, 0]);
    assert_eq!(c.level_idc, 60);
    assert_eq!(&c.pps[0][..], &hex("4401c172b46240")[..]);
}

#[test]
fn codecs_string_annex_e_examples() {
    let mut c = HevcConfig::parse(&hex(HVCC_320X240_MAIN)).unwrap();
    c.level_idc = 93;
    c.constraint_flags = [0xb0, 0, 0, 0, 0, 0];
    assert_eq!(c.codecs_string(), "hvc1.1.6.L93.B0");
    c.profile_space = 1;
    c.profile_idc = 1;
    c.compatibility_flags = 0x0100_0000; // reversed: 0x80
    c.tier = true;
    c.constraint_flags = [0xb0, 0x23, 0, 0x01, 0, 0];
    assert_eq!(c.codecs_string(), "hvc1.A1.80.H93.B0.23.0.1");
    c.constraint_flags = [0; 6];
    assert_eq!(c.codecs_string(), "hvc1.A1.80.H93");
}

/// A record with no arrays: 0×0, the record's own chroma format and depths.
#[test]
fn record_without_sps() {
    let mut r = hex(HVCC_1280X720_MAIN10_HIGH);
    r.truncate(22);
    r.push(0);
    let c = HevcConfig::parse(&r).unwrap();
    assert_eq!((c.width, c.height), (0, 0));
    assert_eq!(
        (c.chroma_format_idc, c.bit_depth_luma, c.bit_depth_chroma),
        (1, 10, 10)
    );
    assert_eq!(c.codecs_string(), "hvc1.2.4.H153.90");
}

#[test]
fn errors_and_truncation() {
    for (hvcc, ..) in REAL {
        let full = hex(hvcc);
        for n in 0..full.len() {
            assert!(HevcConfig::parse(&full[..n]).is_err(), "cut at {n}");
        }
    }
    let full = hex(HVCC_320X240_MAIN);
    assert_eq!(
        HevcConfig::parse(&full[..5]),
        Err(CodecError::Truncated {
            what: RECORD,
            at: 5
        })
    );
    let mut bad = full.clone();
    bad[0] = 0;
    assert_eq!(
        HevcConfig::parse(&bad),
        Err(invalid("configurationVersion", 0, 0))
    );
    let mut bad = full.clone();
    bad[21] = 0x0e;
    assert_eq!(
        HevcConfig::parse(&bad),
        Err(invalid("lengthSizeMinusOne", 2, 21))
    );
}

fn sps_nal(w: &mut BitWriter) -> Vec<u8> {
    let mut nal = vec![0x42, 0x01];
    let rbsp = w.finish_rbsp();
    // Insert emulation prevention bytes like an encoder would.
    let mut zeros = 0;
    for b in rbsp {
        if zeros >= 2 && b <= 3 {
            nal.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        nal.push(b);
    }
    nal
}

fn ptl(w: &mut BitWriter) {
    w.bits(8, 0x01)
        .bits(32, 0x6000_0000)
        .bits(24, 0)
        .bits(24, 0)
        .bits(8, 93);
}

/// Sub-layers with profile and level info, 4:2:0 cropping, emulation prevention.
#[test]
fn synthetic_sps_with_sub_layers() {
    let mut w = BitWriter::default();
    w.bits(4, 0).bits(3, 2).bits(1, 1); // vps id, max_sub_layers_minus1 = 2
    ptl(&mut w);
    w.bits(2, 0b11).bits(2, 0b01); // sub-layer 0: profile+level, 1: level only
    w.bits(12, 0); // reserved_zero_2bits × 6
    w.bits(44, 0).bits(44, 0).bits(8, 90).bits(8, 60);
    w.ue(0).ue(1).ue(1280).ue(736); // sps id, 4:2:0, coded 1280x736
    w.bits(1, 1).ue(0).ue(0).ue(0).ue(8); // crop 16 rows
    w.ue(0).ue(0);
    let nal = sps_nal(&mut w);
    assert!(nal.windows(3).any(|x| x == [0, 0, 3]));
    let s = SpsInfo::parse(&nal).unwrap();
    assert_eq!((s.width, s.height), (1280, 720));

    // 4:4:4 with separate colour planes: offsets in luma samples.
    let mut w = BitWriter::default();
    w.bits(4, 0).bits(3, 0).bits(1, 1);
    ptl(&mut w);
    w.ue(0).ue(3).bits(1, 1).ue(100).ue(100);
    w.bits(1, 1).ue(1).ue(1).ue(0).ue(0);
    w.ue(4).ue(4);
    let s = SpsInfo::parse(&sps_nal(&mut w)).unwrap();
    assert_eq!((s.width, s.height, s.bit_depth_luma), (98, 100, 12));

    // Cropping everything is refused.
    let mut w = BitWriter::default();
    w.bits(4, 0).bits(3, 0).bits(1, 1);
    ptl(&mut w);
    w.ue(0)
        .ue(1)
        .ue(64)
        .ue(64)
        .bits(1, 1)
        .ue(16)
        .ue(16)
        .ue(0)
        .ue(0)
        .ue(0)
        .ue(0);
    assert!(matches!(
        SpsInfo::parse(&sps_nal(&mut w)),
        Err(CodecError::Invalid {
            field: "conformance window (columns)",
            ..
        })
    ));
    assert!(matches!(
        SpsInfo::parse(&[0x40, 0x01, 0x0c]),
        Err(CodecError::Invalid {
            field: "nal_unit_type",
            value: 32,
            at: 0,
            ..
        })
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = HevcConfig::parse(&b);
        let mut nal = b.clone();
        if nal.len() > 2 { nal[0] = 0x42; nal[1] = 1; }
        let _ = SpsInfo::parse(&nal);
    }

    #[test]
    fn mutated_records_never_panic(i in 0usize..4, at in 0usize..120, v in any::<u8>()) {
        let mut r = hex(REAL[i].0);
        if let Some(b) = r.get_mut(at) { *b = v; }
        let _ = HevcConfig::parse(&r);
    }
}
