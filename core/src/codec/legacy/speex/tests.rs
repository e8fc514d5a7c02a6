use super::*;
use proptest::prelude::*;

/// One frame of submode 0 in both bands: a narrowband silence frame (0 + 0000)
/// and no wideband layer, then the terminator (1111 after a 0 bit).
#[test]
fn a_silent_frame_decodes_to_one_frame_of_near_silence() {
    // 0 0000 | 0 1111 (terminator) | padding
    let samples = Decoder::new().decode(&[0b0000_0011, 0b1100_0000]).unwrap();
    assert_eq!(samples.len(), FRAME_SAMPLES);
    assert!(samples.iter().all(|&s| s.abs() <= 1), "{samples:?}");
}

#[test]
fn a_tag_without_a_whole_frame_is_an_error() {
    for body in [&[][..], &[0xf0], &[0b0111_1000]] {
        assert!(Decoder::new().decode(body).is_err(), "{body:?}");
    }
}

/// Silent frames are 5 bits each: a tag of them must not decode to millions of
/// samples. One frame more than a FLAC frame holds is refused.
#[test]
fn a_tag_holds_at_most_a_flac_frames_worth() {
    // `n` frames of "0 0000" (narrowband, submode 0; no layer, as the next bit is
    // the next frame's 0), then the terminator, 0 1111.
    let silent = |n: usize| {
        let mut body = vec![0u8; (5 * n).div_ceil(8) + 1];
        let at = 5 * n;
        for b in 1..5 {
            body[(at + b) / 8] |= 0x80 >> ((at + b) % 8);
        }
        body
    };
    let samples = Decoder::new().decode(&silent(MAX_FRAMES)).unwrap();
    assert_eq!(samples.len(), MAX_FRAMES * FRAME_SAMPLES);
    let err = Decoder::new().decode(&silent(MAX_FRAMES + 1)).unwrap_err();
    assert!(matches!(err, Error::Invalid { value: 205, .. }), "{err:?}");
    let err = Decoder::new().decode(&vec![0u8; 1 << 20]).unwrap_err();
    assert!(matches!(err, Error::Invalid { value: 205, .. }), "{err:?}");
}

#[test]
fn reserved_submodes_are_errors_naming_the_byte() {
    // Narrowband submode 9.
    let err = Decoder::new().decode(&[0b0100_1000, 0]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "narrowband submode",
                value: 9,
                at: 0,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn the_lsp_filter_of_evenly_spread_pairs_is_flat() {
    // LSPs spread evenly over (0, π) are the roots of z^(N+1) ± 1: the predictor
    // A(z) = 1, so every coefficient is zero.
    let lsp: [f32; 10] = core::array::from_fn(|i| core::f32::consts::PI * (i + 1) as f32 / 11.0);
    let mut ak = [0.0f32; 10];
    dsp::lsp_to_lpc(&lsp, &mut ak);
    assert!(ak.iter().all(|a| a.abs() < 1e-4), "{ak:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any bytes decode, or fail, without a panic; samples stay 16-bit.
    #[test]
    fn any_bytes_decode_without_a_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut decoder = Decoder::new();
        for _ in 0..3 {
            if let Ok(samples) = decoder.decode(&body) {
                prop_assert_eq!(samples.len() % FRAME_SAMPLES, 0);
                prop_assert!(samples.iter().all(|s| (-32768..=32767).contains(s)));
            }
        }
    }
}
